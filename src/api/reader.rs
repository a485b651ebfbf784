//! `Reader`: the one read path every query front end uses — the Jaeger HTTP API, the api_v2 and
//! api_v3 query gRPC services and the remote-storage server. It hides which actor answers:
//! traces and searches go to the QueryActor pool; services and operations to the IndexActor,
//! or to the store itself when the store is remote and other processes write to it.

use actix::Addr;

use crate::actors::index::{GetOperations, GetServices, IndexActor};
use crate::actors::query::{
    ArchiveTrace, FindTraceIds, FindTraceSummaries, FindTraces, GetArchivedTrace, GetTrace,
    QueryActor, StoreOperations, StoreServices, WriteArchiveSpans,
};
use crate::api::error::ApiError;
use crate::model::{Operation, SpanBatch, SpanKind, Trace, TraceId, TraceQuery, TraceSummary};

#[derive(Clone)]
pub struct Reader {
    pub index: Addr<IndexActor>,
    pub query: Addr<QueryActor>,
    /// Ask the store (through the QueryActor) for services and operations, not the IndexActor.
    pub catalog_from_store: bool,
}

impl Reader {
    /// One trace by ID (with the archive as fallback); `None` when unknown.
    pub async fn trace(&self, trace_id: TraceId, raw: bool) -> Result<Option<Trace>, ApiError> {
        Ok(self.query.send(GetTrace { trace_id, raw }).await??)
    }

    /// Whole traces matching the query, newest first.
    pub async fn find_traces(&self, query: TraceQuery, raw: bool) -> Result<Vec<Trace>, ApiError> {
        Ok(self.query.send(FindTraces { query, raw }).await??)
    }

    /// IDs of the traces matching the query, newest first.
    pub async fn find_trace_ids(&self, query: TraceQuery) -> Result<Vec<TraceId>, ApiError> {
        Ok(self.query.send(FindTraceIds { query }).await??)
    }

    pub async fn summaries(&self, query: TraceQuery) -> Result<Vec<TraceSummary>, ApiError> {
        Ok(self.query.send(FindTraceSummaries { query }).await??)
    }

    /// Service names, sorted.
    pub async fn services(&self) -> Result<Vec<String>, ApiError> {
        if self.catalog_from_store {
            Ok(self.query.send(StoreServices).await??)
        } else {
            Ok(self.index.send(GetServices).await?)
        }
    }

    /// Operations of a service, sorted by name then kind, optionally of one kind only.
    pub async fn operations(
        &self,
        service: String,
        span_kind: Option<SpanKind>,
    ) -> Result<Vec<Operation>, ApiError> {
        if self.catalog_from_store {
            Ok(self
                .query
                .send(StoreOperations { service, span_kind })
                .await??)
        } else {
            Ok(self
                .index
                .send(GetOperations { service, span_kind })
                .await?)
        }
    }

    /// Copies the trace into the archive store. `NotFound` when the trace is unknown,
    /// `Internal` ("archive span storage was not configured", as Jaeger) without an archive.
    pub async fn archive(&self, trace_id: TraceId) -> Result<(), ApiError> {
        if self.query.send(ArchiveTrace { trace_id }).await?? {
            Ok(())
        } else {
            Err(ApiError::NotFound("trace not found".into()))
        }
    }

    /// Writes spans straight into the archive store (remote-storage v1 archive writer);
    /// `Internal` without an archive, as [`Self::archive`].
    pub async fn write_archive(&self, batch: SpanBatch) -> Result<(), ApiError> {
        Ok(self.query.send(WriteArchiveSpans { batch }).await??)
    }

    /// One trace from the archive store only, raw; `None` when unknown.
    pub async fn archived_trace(&self, trace_id: TraceId) -> Result<Option<Trace>, ApiError> {
        Ok(self.query.send(GetArchivedTrace { trace_id }).await??)
    }
}
