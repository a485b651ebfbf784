//! What both OTLP front ends (gRPC and HTTP) do with a decoded export request: convert it with
//! the one OTLP converter, hand the valid spans to the IngestActor, and report rejected spans
//! through OTLP partial success.
//!
//! Hot path: no per-span work here beyond the converter's.

use std::sync::Arc;

use actix::Recipient;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};

use crate::actors::ingest::{IngestRefusal, IngestSpans};
use crate::ingest::otlp::to_model;
use crate::telemetry::{Metrics, Protocol, ProtocolLabels, RefuseReason};

/// Shared state of the OTLP front ends.
#[derive(Clone)]
pub struct OtlpIngest {
    pub ingest: Recipient<IngestSpans>,
    pub metrics: Arc<Metrics>,
}

impl OtlpIngest {
    /// Stores the valid spans of `req`; replies once they are durable.
    pub async fn submit(
        &self,
        req: ExportTraceServiceRequest,
        protocol: Protocol,
    ) -> Result<ExportTraceServiceResponse, IngestRefusal> {
        let mut decoded = to_model(req);
        let labels = ProtocolLabels { protocol };
        let total = decoded.batch.len() as u64 + decoded.rejected_spans;
        self.metrics
            .spans_received
            .get_or_create(&labels)
            .inc_by(total);
        if decoded.rejected_spans > 0 {
            self.metrics
                .refused(protocol, RefuseReason::invalid, decoded.rejected_spans);
        }
        if !decoded.batch.is_empty() {
            self.ingest
                .send(IngestSpans {
                    batch: std::mem::take(&mut decoded.batch),
                    protocol,
                })
                .await
                .map_err(|_| IngestRefusal::Stopped)??;
        }
        Ok(ExportTraceServiceResponse {
            partial_success: decoded.partial_success(),
        })
    }
}
