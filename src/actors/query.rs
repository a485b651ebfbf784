//! QueryActor: a pool of reader threads (`SyncArbiter`) answering trace lookups and searches.
//!
//! Reads block on the store, so they run here and never on the HTTP/gRPC executors. Unless a
//! request asks for raw traces, Jaeger's adjuster chain runs here too (it is CPU work).

use std::sync::Arc;

use actix::prelude::*;

use crate::model::adjust::adjust_trace;
use crate::model::{Trace, TraceId, TraceQuery, TraceSummary};
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

pub struct QueryActor {
    store: Arc<dyn TraceStore>,
    max_clock_skew_adjust_ns: u64,
}

impl QueryActor {
    pub fn new(store: Arc<dyn TraceStore>, max_clock_skew_adjust_ns: u64) -> Self {
        QueryActor {
            store,
            max_clock_skew_adjust_ns,
        }
    }

    fn get_trace(&self, id: TraceId, raw: bool) -> Result<Option<Trace>, StorageError> {
        let spans = self.store.get_trace(id)?;
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
