//! gRPC front ends (tonic).
pub mod otlp;
pub mod sampling;
