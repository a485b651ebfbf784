//! What both OTLP front ends (gRPC and HTTP) do with a decoded export request: submit it through
//! the shared [`IngestEdge`] path and report rejected spans through OTLP partial success.
//!
//! Hot path: no per-span work here.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;

use crate::actors::ingest::IngestRefusal;
use crate::api::ingest::IngestEdge;
use crate::ingest::otlp::Decoded;
use crate::telemetry::Protocol;

impl IngestEdge {
    /// Stores the valid spans of `decoded`; replies once they are durable.
    pub async fn submit(
        &self,
        decoded: Decoded,
        protocol: Protocol,
    ) -> Result<ExportTraceServiceResponse, IngestRefusal> {
        let decoded = self.submit_decoded(decoded, protocol).await?;
        Ok(ExportTraceServiceResponse {
            partial_success: decoded.partial_success(),
        })
    }
}
