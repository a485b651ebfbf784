//! What both OTLP front ends (gRPC and HTTP) do with a decoded export request: convert it with
//! the one OTLP converter, submit it through the shared [`IngestEdge`] path, and report rejected
//! spans through OTLP partial success.
//!
//! Hot path: no per-span work here beyond the converter's.

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};

use crate::actors::ingest::IngestRefusal;
use crate::api::ingest::IngestEdge;
use crate::ingest::otlp::to_model;
use crate::telemetry::Protocol;

impl IngestEdge {
    /// Stores the valid spans of `req`; replies once they are durable.
    pub async fn submit(
        &self,
        req: ExportTraceServiceRequest,
        protocol: Protocol,
    ) -> Result<ExportTraceServiceResponse, IngestRefusal> {
        let decoded = self.submit_decoded(to_model(req), protocol).await?;
        Ok(ExportTraceServiceResponse {
            partial_success: decoded.partial_success(),
        })
    }
}
