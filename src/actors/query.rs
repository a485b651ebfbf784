//! QueryActor: a pool of reader threads (`SyncArbiter`) answering trace lookups and searches.
//!
//! Reads block on the store, so they run here and never on the HTTP/gRPC executors. Unless a
//! request asks for raw traces, Jaeger's adjuster chain runs here too (it is CPU work).
//!
//! With an archive store, [`ArchiveTrace`] copies a trace into it and [`GetTrace`] falls back
//! to it when the primary store no longer has the trace; the remote-storage v1 archive plugins
//! write and read it directly ([`WriteArchiveSpans`], [`GetArchivedTrace`]). When the store is
//! remote ([`TraceStore::catalog_is_remote`]), services and operations are asked of it here
//! ([`StoreServices`], [`StoreOperations`]) instead of the IndexActor.

use std::sync::Arc;

use actix::prelude::*;

use crate::model::adjust::adjust_trace;
use crate::model::{Operation, SpanBatch, SpanKind, Trace, TraceId, TraceQuery, TraceSummary};
use crate::storage::{StorageError, TraceStore};

/// One trace by ID; `None` when unknown.
#[derive(Message)]
#[rtype(result = "Result<Option<Trace>, StorageError>")]
pub struct GetTrace {
    pub trace_id: TraceId,
    pub raw: bool,
}

/// Whole traces matching a query, newest first.
#[derive(Message)]
#[rtype(result = "Result<Vec<Trace>, StorageError>")]
pub struct FindTraces {
    pub query: TraceQuery,
    pub raw: bool,
}

/// Summaries of the traces matching a query, newest first.
#[derive(Message)]
#[rtype(result = "Result<Vec<TraceSummary>, StorageError>")]
pub struct FindTraceSummaries {
    pub query: TraceQuery,
}

/// IDs of the traces matching a query, newest first.
#[derive(Message)]
#[rtype(result = "Result<Vec<TraceId>, StorageError>")]
pub struct FindTraceIds {
    pub query: TraceQuery,
}

/// Service names, asked of the store itself (remote stores).
#[derive(Message)]
#[rtype(result = "Result<Vec<String>, StorageError>")]
pub struct StoreServices;

/// Operations of a service, asked of the store itself (remote stores).
#[derive(Message)]
#[rtype(result = "Result<Vec<Operation>, StorageError>")]
pub struct StoreOperations {
    pub service: String,
    pub span_kind: Option<SpanKind>,
}

/// Copy a trace into the archive store. `Ok(false)`: the trace is unknown.
#[derive(Message)]
#[rtype(result = "Result<bool, StorageError>")]
pub struct ArchiveTrace {
    pub trace_id: TraceId,
}

/// Write spans straight into the archive store (remote-storage v1 `WriteArchiveSpan`).
#[derive(Message)]
#[rtype(result = "Result<(), StorageError>")]
pub struct WriteArchiveSpans {
    pub batch: SpanBatch,
}

/// One trace from the archive store only, as stored (remote-storage v1 `GetArchiveTrace`);
/// `None` when unknown.
#[derive(Message)]
#[rtype(result = "Result<Option<Trace>, StorageError>")]
pub struct GetArchivedTrace {
    pub trace_id: TraceId,
}

pub struct QueryActor {
    store: Arc<dyn TraceStore>,
    archive: Option<Arc<dyn TraceStore>>,
    max_clock_skew_adjust_ns: u64,
}

impl QueryActor {
    pub fn new(
        store: Arc<dyn TraceStore>,
        archive: Option<Arc<dyn TraceStore>>,
        max_clock_skew_adjust_ns: u64,
    ) -> Self {
        QueryActor {
            store,
            archive,
            max_clock_skew_adjust_ns,
        }
    }

    fn get_trace(&self, id: TraceId, raw: bool) -> Result<Option<Trace>, StorageError> {
        let mut spans = self.store.get_trace(id)?;
        if spans.is_empty() {
            if let Some(archive) = &self.archive {
                spans = archive.get_trace(id)?;
            }
        }
        if spans.is_empty() {
            return Ok(None);
        }
        let mut trace = Trace {
            trace_id: id,
            spans,
        };
        if !raw {
            adjust_trace(&mut trace, self.max_clock_skew_adjust_ns);
        }
        Ok(Some(trace))
    }

    fn find_traces(&self, query: &TraceQuery, raw: bool) -> Result<Vec<Trace>, StorageError> {
        let mut traces = self.store.find_traces(query)?;
        if !raw {
            for t in &mut traces {
                adjust_trace(t, self.max_clock_skew_adjust_ns);
            }
        }
        Ok(traces)
    }

    fn archive_trace(&self, id: TraceId) -> Result<bool, StorageError> {
        let archive = self.archive_store()?;
        let spans = self.store.get_trace(id)?;
        if spans.is_empty() {
            // Already archived (and expired from the primary store) counts as archived.
            return Ok(!archive.get_trace(id)?.is_empty());
        }
        archive.write(&SpanBatch { spans })?;
        Ok(true)
    }

    fn archived_trace(&self, id: TraceId) -> Result<Option<Trace>, StorageError> {
        let spans = self.archive_store()?.get_trace(id)?;
        Ok((!spans.is_empty()).then_some(Trace {
            trace_id: id,
            spans,
        }))
    }

    fn archive_store(&self) -> Result<&Arc<dyn TraceStore>, StorageError> {
        self.archive.as_ref().ok_or_else(|| {
            StorageError::Unsupported("archive span storage was not configured".into())
        })
    }
}

impl Actor for QueryActor {
    type Context = SyncContext<Self>;
}

impl Handler<GetTrace> for QueryActor {
    type Result = Result<Option<Trace>, StorageError>;
    fn handle(&mut self, m: GetTrace, _: &mut Self::Context) -> Self::Result {
        self.get_trace(m.trace_id, m.raw)
    }
}

impl Handler<FindTraces> for QueryActor {
    type Result = Result<Vec<Trace>, StorageError>;
    fn handle(&mut self, m: FindTraces, _: &mut Self::Context) -> Self::Result {
        self.find_traces(&m.query, m.raw)
    }
}

impl Handler<FindTraceSummaries> for QueryActor {
    type Result = Result<Vec<TraceSummary>, StorageError>;
    fn handle(&mut self, m: FindTraceSummaries, _: &mut Self::Context) -> Self::Result {
        let traces = self.store.find_traces(&m.query)?;
        Ok(traces
            .iter()
            .map(|t| TraceSummary::of(t.trace_id, &t.spans))
            .collect())
    }
}

impl Handler<FindTraceIds> for QueryActor {
    type Result = Result<Vec<TraceId>, StorageError>;
    fn handle(&mut self, m: FindTraceIds, _: &mut Self::Context) -> Self::Result {
        self.store.find_trace_ids(&m.query)
    }
}

impl Handler<StoreServices> for QueryActor {
    type Result = Result<Vec<String>, StorageError>;
    fn handle(&mut self, _: StoreServices, _: &mut Self::Context) -> Self::Result {
        self.store.services()
    }
}

impl Handler<StoreOperations> for QueryActor {
    type Result = Result<Vec<Operation>, StorageError>;
    fn handle(&mut self, m: StoreOperations, _: &mut Self::Context) -> Self::Result {
        self.store.operations(&m.service, m.span_kind)
    }
}

impl Handler<ArchiveTrace> for QueryActor {
    type Result = Result<bool, StorageError>;
    fn handle(&mut self, m: ArchiveTrace, _: &mut Self::Context) -> Self::Result {
        self.archive_trace(m.trace_id)
    }
}

impl Handler<WriteArchiveSpans> for QueryActor {
    type Result = Result<(), StorageError>;
    fn handle(&mut self, m: WriteArchiveSpans, _: &mut Self::Context) -> Self::Result {
        self.archive_store()?.write(&m.batch)
    }
}

impl Handler<GetArchivedTrace> for QueryActor {
    type Result = Result<Option<Trace>, StorageError>;
    fn handle(&mut self, m: GetArchivedTrace, _: &mut Self::Context) -> Self::Result {
        self.archived_trace(m.trace_id)
    }
}
