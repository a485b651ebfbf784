//! gRPC front ends (tonic): ingest (OTLP, Jaeger collector), sampling, the query services
//! (api_v2 and api_v3, [`query`]) and the remote-storage v1 server ([`storage_v1`]). What the
//! read services share (trace-ID checks, search parameters, span chunks) is in [`shared`].
pub mod jaeger;
pub mod otlp;
pub mod query;
pub mod sampling;
pub mod shared;
pub mod storage_v1;
