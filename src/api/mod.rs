//! Front ends: the HTTP servers (Jaeger query API + UI, OTLP/HTTP, admin) and the gRPC servers.
pub mod error;
pub mod grpc;
pub mod http;
pub mod otlp;
