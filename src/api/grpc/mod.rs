//! gRPC front ends (tonic).
pub mod jaeger;
pub mod otlp;
pub mod sampling;
pub mod storage_v2;
