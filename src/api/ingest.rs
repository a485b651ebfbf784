//! What every ingest edge (OTLP gRPC and HTTP, Zipkin HTTP, Jaeger HTTP/gRPC/UDP) does with converted spans: count
//! them per protocol, hand the valid ones to the IngestActor, and wait until they are durable.
//!
//! Hot path: no per-span work here.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::Recipient;
use futures_util::future::BoxFuture;

use crate::actors::ingest::{IngestRefusal, IngestSpans};
use crate::api::error::ApiError;
use crate::api::udp::BatchSink;
use crate::ingest::Decoded;
use crate::model::SpanBatch;
use crate::proto::api_v2;
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
        self.count_received(&decoded, protocol);
        if !decoded.batch.is_empty() {
            self.store(std::mem::take(&mut decoded.batch), protocol)
                .await?;
        }
        Ok(decoded)
    }

    /// Counts the spans of a request, and those rejected as invalid.
    fn count_received(&self, decoded: &Decoded, protocol: Protocol) {
        let total = decoded.batch.len() as u64 + decoded.rejected_spans;
        self.metrics
            .spans_received
            .get_or_create(&ProtocolLabels { protocol })
            .inc_by(total);
        if decoded.rejected_spans > 0 {
            self.metrics
                .refused(protocol, RefuseReason::invalid, decoded.rejected_spans);
        }
    }

    /// For protocols without partial success (Zipkin, Jaeger Thrift HTTP): stores the valid
    /// spans, then reports the rejected ones, if any, as a bad request naming them.
    pub async fn submit_or_report_rejects(
        &self,
        decoded: Decoded,
        protocol: Protocol,
    ) -> Result<(), ApiError> {
        let total = decoded.batch.len() as u64 + decoded.rejected_spans;
        let decoded = self.submit_decoded(decoded, protocol).await?;
        match decoded.rejection_report(total) {
            Some(report) => Err(ApiError::BadRequest(report)),
            None => Ok(()),
        }
    }

    /// Hands valid spans to the IngestActor and waits until they are durable (no counting of
    /// received/rejected spans: callers that retry count once).
    pub async fn store(&self, batch: SpanBatch, protocol: Protocol) -> Result<(), IngestRefusal> {
        self.ingest
            .send(IngestSpans { batch, protocol })
            .await
            .map_err(|_| IngestRefusal::Stopped)?
    }

    /// Stores `decoded` like [`Self::submit_decoded`], but keeps retrying with backoff while the
    /// engine is saturated or the store fails, for up to `patience`. For transports that cannot
    /// refuse (UDP): the caller's own queue absorbs the wait.
    pub async fn submit_patiently(
        &self,
        decoded: Decoded,
        protocol: Protocol,
        patience: Duration,
    ) -> Result<(), IngestRefusal> {
        self.count_received(&decoded, protocol);
        if decoded.batch.is_empty() {
            return Ok(());
        }
        let deadline = Instant::now() + patience;
        let mut backoff = Duration::from_millis(10);
        loop {
            match self.store(decoded.batch.clone(), protocol).await {
                Ok(()) => return Ok(()),
                Err(IngestRefusal::Stopped) => return Err(IngestRefusal::Stopped),
                Err(refusal) if Instant::now() + backoff > deadline => return Err(refusal),
                Err(_) => {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
            }
        }
    }
}

/// All-in-one and collector: a UDP batch is converted by the one Jaeger converter and stored;
/// a saturated engine is waited for up to 10 s while the packet queue absorbs new datagrams.
impl BatchSink for IngestEdge {
    fn deliver(
        &self,
        batch: api_v2::Batch,
        protocol: Protocol,
    ) -> BoxFuture<'static, Result<(), String>> {
        let edge = self.clone();
        Box::pin(async move {
            let decoded = crate::ingest::jaeger::to_model(batch);
            edge.submit_patiently(decoded, protocol, Duration::from_secs(10))
                .await
                .map_err(|r| r.to_string())
        })
    }
}
