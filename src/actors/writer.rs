//! WriterActor: performs durable batch writes on its own OS threads (a `SyncArbiter` pool).
//!
//! Owns nothing but a handle to the store. Replies only once the store reports the batch
//! durable. Never runs on an async executor thread.

use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;

use crate::model::SpanBatch;
use crate::storage::{StorageError, TraceStore};
use crate::telemetry::Metrics;

/// Store this batch durably.
#[derive(Message)]
#[rtype(result = "Result<(), StorageError>")]
pub struct WriteSpans(pub Arc<SpanBatch>);

pub struct WriterActor {
    store: Arc<dyn TraceStore>,
    metrics: Arc<Metrics>,
}

impl WriterActor {
    pub fn new(store: Arc<dyn TraceStore>, metrics: Arc<Metrics>) -> Self {
        WriterActor { store, metrics }
    }

    fn write(&self, batch: &SpanBatch) -> Result<(), StorageError> {
        let started = Instant::now();
        let result = self.store.write(batch);
        self.metrics
            .write_batch_seconds
            .observe(started.elapsed().as_secs_f64());
        result
    }
}

impl Actor for WriterActor {
    type Context = SyncContext<Self>;
}

impl Handler<WriteSpans> for WriterActor {
    type Result = Result<(), StorageError>;

    fn handle(&mut self, WriteSpans(batch): WriteSpans, _: &mut Self::Context) -> Self::Result {
        self.write(&batch)
    }
}
