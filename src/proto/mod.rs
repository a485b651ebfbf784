//! Generated protobuf and gRPC types of the Jaeger APIs (from `proto/`, by `build.rs`).
//! Only wire types live here; conversions are in `ingest` and `api`.

/// `jaeger.api_v2`: the span model, CollectorService and SamplingManager.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod api_v2 {
    tonic::include_proto!("jaeger.api_v2");
}
