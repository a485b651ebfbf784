//! gRPC front ends (tonic): ingest (OTLP, Jaeger collector), sampling, the query services
//! (api_v2 and api_v3, [`query`]) and the remote-storage servers, v1 ([`storage_v1`]) and v2
//! ([`storage_v2`]). What the read services share (trace-ID checks, search parameters, span
//! chunks) is in [`shared`].
pub mod jaeger;
pub mod otlp;
pub mod query;
pub mod raw_codec;
pub mod sampling;
pub mod shared;
pub mod storage_v1;
pub mod storage_v2;
