//! IngestActor: admission control between the ingest edges and the writers.
//!
//! Every decoded batch passes through here. The actor admits a batch only while fewer than
//! `collector.queue-size` spans are in flight (accepted, not yet durable); otherwise it refuses
//! at once with [`IngestRefusal::Saturated`], which the edges turn into a retryable error
//! (OTLP `RESOURCE_EXHAUSTED`, HTTP 503 + Retry-After). Nothing is dropped silently and nothing
//! is acknowledged before the writer reports the batch durable. After a durable write the
//! batch's (service, operation, kind) tuples go to the IndexActor.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use actix::prelude::*;
use thiserror::Error;

use super::index::RecordOperations;
use super::writer::WriteSpans;
use crate::model::{Operation, SpanBatch, SpanKind};
use crate::storage::CatalogEntry;
use crate::telemetry::{Metrics, Protocol, ProtocolLabels, RefuseReason};

/// Store these spans; replies once they are durable.
#[derive(Message)]
#[rtype(result = "Result<(), IngestRefusal>")]
pub struct IngestSpans {
    pub batch: SpanBatch,
    pub protocol: Protocol,
}

/// Why a batch was not stored. Every variant is retryable by the client.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum IngestRefusal {
    #[error("ingest queue is full ({queued} spans waiting, capacity {capacity}); retry later")]
    Saturated { queued: usize, capacity: usize },
    #[error("storage write failed; retry later")]
    Storage,
    #[error("server is shutting down; retry later")]
    Stopped,
}

pub struct IngestActor {
    writer: Recipient<WriteSpans>,
    index: Recipient<RecordOperations>,
    in_flight: Arc<AtomicUsize>,
    capacity: usize,
    metrics: Arc<Metrics>,
}

/// Releases admitted spans when the write finishes, whatever its outcome.
struct Permit {
    spans: usize,
    in_flight: Arc<AtomicUsize>,
    metrics: Arc<Metrics>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let now = self.in_flight.fetch_sub(self.spans, Ordering::AcqRel) - self.spans;
        self.metrics.ingest_queue_spans.set(now as i64);
    }
}

impl IngestActor {
    pub fn new(
        writer: Recipient<WriteSpans>,
        index: Recipient<RecordOperations>,
        capacity: usize,
        metrics: Arc<Metrics>,
    ) -> Self {
        IngestActor {
            writer,
            index,
            in_flight: Arc::new(AtomicUsize::new(0)),
            capacity,
            metrics,
        }
    }

    /// Spans admitted and not yet durable; `app.rs` waits for 0 when draining.
    pub fn in_flight(&self) -> Arc<AtomicUsize> {
        self.in_flight.clone()
    }

    /// Admits `spans` if there is room. A batch larger than the whole queue is still admitted
    /// when nothing else is in flight, so that no valid request can be refused forever.
    fn admit(&self, spans: usize) -> Result<Permit, IngestRefusal> {
        let mut queued = self.in_flight.load(Ordering::Acquire);
        loop {
            if queued > 0 && queued + spans > self.capacity {
                return Err(IngestRefusal::Saturated {
                    queued,
                    capacity: self.capacity,
                });
            }
            match self.in_flight.compare_exchange(
                queued,
                queued + spans,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(actual) => queued = actual,
            }
        }
        self.metrics.ingest_queue_spans.set((queued + spans) as i64);
        Ok(Permit {
            spans,
            in_flight: self.in_flight.clone(),
            metrics: self.metrics.clone(),
        })
    }
}

/// The distinct (service, operation, kind) tuples of a batch.
fn catalog_entries(batch: &SpanBatch) -> Vec<CatalogEntry> {
    let mut seen: HashSet<(&str, &str, SpanKind)> = HashSet::new();
    for s in &batch.spans {
        seen.insert((s.service(), s.name.as_str(), s.kind));
    }
    seen.into_iter()
        .map(|(svc, op, kind)| CatalogEntry {
            service: svc.to_string(),
            operation: Operation {
                name: op.to_string(),
                span_kind: kind,
            },
        })
        .collect()
}

impl Actor for IngestActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // Handlers only admit and hand off, so the mailbox drains fast; admission is the bound.
        ctx.set_mailbox_capacity(4096);
    }
}

impl Handler<IngestSpans> for IngestActor {
    type Result = ResponseFuture<Result<(), IngestRefusal>>;

    fn handle(&mut self, msg: IngestSpans, _: &mut Context<Self>) -> Self::Result {
        let IngestSpans { batch, protocol } = msg;
        let spans = batch.len();
        let labels = ProtocolLabels { protocol };
        if spans == 0 {
            return Box::pin(async { Ok(()) });
        }
        let permit = match self.admit(spans) {
            Ok(p) => p,
            Err(refusal) => {
                self.metrics
                    .refused(protocol, RefuseReason::saturated, spans as u64);
                return Box::pin(async move { Err(refusal) });
            }
        };
        let writer = self.writer.clone();
        let index = self.index.clone();
        let metrics = self.metrics.clone();
        Box::pin(async move {
            let entries = catalog_entries(&batch);
            let outcome = writer.send(WriteSpans(Arc::new(batch))).await;
            drop(permit);
            match outcome {
                Ok(Ok(())) => {
                    metrics
                        .spans_stored
                        .get_or_create(&labels)
                        .inc_by(spans as u64);
                    // The write is durable; the catalog update is best effort (the store keeps
                    // the catalog too and the index reloads it after retention).
                    if index.send(RecordOperations(entries)).await.is_err() {
                        tracing::warn!("index actor is gone; catalog update skipped");
                    }
                    Ok(())
                }
                Ok(Err(e)) => {
                    tracing::error!(error = %e, spans, "storage write failed");
                    metrics.refused(protocol, RefuseReason::storage, spans as u64);
                    Err(IngestRefusal::Storage)
                }
                Err(_) => {
                    metrics.refused(protocol, RefuseReason::storage, spans as u64);
                    Err(IngestRefusal::Stopped)
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Span;
    use parking_lot::Mutex;
    use std::time::Duration;

    /// A writer that holds every batch until released, recording what it got.
    struct GatedWriter {
        gate: Arc<tokio::sync::Semaphore>,
        seen: Arc<Mutex<usize>>,
    }
    impl Actor for GatedWriter {
        type Context = Context<Self>;
    }
    impl Handler<WriteSpans> for GatedWriter {
        type Result = ResponseFuture<Result<(), crate::storage::StorageError>>;
        fn handle(&mut self, m: WriteSpans, _: &mut Context<Self>) -> Self::Result {
            let gate = self.gate.clone();
            let seen = self.seen.clone();
            Box::pin(async move {
                let _p = gate.acquire().await.expect("gate open");
                *seen.lock() += m.0.len();
                Ok(())
            })
        }
    }
    struct NullIndex;
    impl Actor for NullIndex {
        type Context = Context<Self>;
    }
    impl Handler<RecordOperations> for NullIndex {
        type Result = ();
        fn handle(&mut self, _: RecordOperations, _: &mut Context<Self>) {}
    }

    fn batch(n: usize) -> SpanBatch {
        SpanBatch {
            spans: vec![Span::default(); n],
        }
    }

    #[actix::test]
    async fn refuses_when_saturated_and_admits_again_after_drain() {
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let seen = Arc::new(Mutex::new(0));
        let writer = GatedWriter {
            gate: gate.clone(),
            seen: seen.clone(),
        }
        .start();
        let metrics = Arc::new(Metrics::new());
        let actor = IngestActor::new(
            writer.recipient(),
            NullIndex.start().recipient(),
            10,
            metrics.clone(),
        );
        let in_flight = actor.in_flight();
        let ingest = actor.start();
        let first = ingest.send(IngestSpans {
            batch: batch(8),
            protocol: Protocol::otlp_grpc,
        });
        let first = tokio::spawn(first);
        // Wait until the first batch is admitted.
        while in_flight.load(Ordering::Acquire) == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let refused = ingest
            .send(IngestSpans {
                batch: batch(3),
                protocol: Protocol::otlp_grpc,
            })
            .await
            .unwrap();
        assert!(matches!(
            refused,
            Err(IngestRefusal::Saturated {
                queued: 8,
                capacity: 10
            })
        ));
        gate.add_permits(10);
        first.await.unwrap().unwrap().unwrap();
        assert_eq!(in_flight.load(Ordering::Acquire), 0);
        ingest
            .send(IngestSpans {
                batch: batch(3),
                protocol: Protocol::otlp_grpc,
            })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(*seen.lock(), 11);
        assert!(metrics.encode().contains("reason=\"saturated\""));
    }

    #[actix::test]
    async fn oversized_batch_is_admitted_when_queue_is_empty() {
        let gate = Arc::new(tokio::sync::Semaphore::new(100));
        let writer = GatedWriter {
            gate,
            seen: Arc::new(Mutex::new(0)),
        }
        .start();
        let ingest = IngestActor::new(
            writer.recipient(),
            NullIndex.start().recipient(),
            10,
            Arc::new(Metrics::new()),
        )
        .start();
        let r = ingest
            .send(IngestSpans {
                batch: batch(25),
                protocol: Protocol::otlp_http,
            })
            .await
            .unwrap();
        assert_eq!(r, Ok(()));
    }
}
