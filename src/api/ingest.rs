//! What every ingest edge (OTLP gRPC and HTTP, Zipkin HTTP) does with converted spans: count
//! them per protocol, hand the valid ones to the IngestActor, and wait until they are durable.
//!
//! Hot path: no per-span work here.

use std::sync::Arc;

use actix::Recipient;

use crate::actors::ingest::{IngestRefusal, IngestSpans};
use crate::ingest::Decoded;
use crate::telemetry::{Metrics, Protocol, ProtocolLabels, RefuseReason};

/// Shared state of the ingest front ends.
#[derive(Clone)]
pub struct IngestEdge {
    pub ingest: Recipient<IngestSpans>,
    pub metrics: Arc<Metrics>,
}

impl IngestEdge {
    /// Counts request body bytes of `protocol`.
    pub fn record_bytes(&self, protocol: Protocol, bytes: usize) {
        self.metrics
            .bytes_received
            .get_or_create(&ProtocolLabels { protocol })
            .inc_by(bytes as u64);
    }

    /// Stores the valid spans of `decoded` and returns once they are durable. The returned
    /// `Decoded` has an empty batch and keeps the rejection count and messages for the answer.
    pub async fn submit_decoded(
        &self,
        mut decoded: Decoded,
        protocol: Protocol,
    ) -> Result<Decoded, IngestRefusal> {
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
        Ok(decoded)
    }
}
