//! Front ends: the HTTP servers (Jaeger query API + UI, OTLP/HTTP, Zipkin, admin) and the gRPC
//! servers.
pub mod error;
pub mod grpc;
pub mod http;
pub mod ingest;
pub mod otlp;
pub mod reader;
#[cfg(test)]
pub mod test_engine;
pub mod udp;
