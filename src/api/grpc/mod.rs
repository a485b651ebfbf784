//! gRPC front ends (tonic).
pub mod otlp;
