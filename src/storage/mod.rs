//! Storage: the reader/writer contract every backend implements, and the backends.
//!
//! The API here is synchronous and blocking: callers (the writer, query and retention actors)
//! run it on blocking threads, never on an async executor or arbiter thread. No actix or
//! actix-web in this layer, and tonic only as the client inside [`grpc::GrpcStore`], behind the
//! same blocking API. Backends: [`rocks::RocksStore`] (embedded, default),
//! [`memory::MemoryStore`], [`grpc::GrpcStore`] (a remote-storage server), and
//! [`fanout::FanoutStore`] over several of them.

pub mod codec;
pub mod fanout;
pub mod grpc;
pub mod keys;
pub mod memory;
pub mod rocks;

use thiserror::Error;

use crate::model::{Operation, Span, SpanBatch, SpanKind, Trace, TraceId, TraceQuery};

#[derive(Debug, Error)]
pub enum StorageError {
    #[error("rocksdb: {0}")]
    Rocks(#[from] rocksdb::Error),
    #[error("i/o on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("corrupt record in {what}: {detail}")]
    Corrupt { what: &'static str, detail: String },
    #[error(
        "data directory {path} holds format version {found}, this build reads version {expected}"
    )]
    FormatVersion {
        path: String,
        found: u32,
        expected: u32,
    },
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    /// A remote store could not be reached or was saturated; the call may be retried.
    #[error("remote storage unavailable: {0}")]
    Unavailable(String),
    /// A remote store answered with an error that retrying will not fix.
    #[error("remote storage: {0}")]
    Remote(String),
    /// The store's configuration cannot work (e.g. an unreadable TLS certificate).
    #[error("storage configuration: {0}")]
    Config(String),
    /// The store cannot do this (e.g. no archive is configured).
    #[error("{0}")]
    Unsupported(String),
}

impl StorageError {
    /// Worth retrying later: the data is not lost, the store was just not able to take it now.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StorageError::Unavailable(_))
    }
}

/// One (service, operation, kind) the store has seen, for the services/operations catalog.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CatalogEntry {
    pub service: String,
    pub operation: Operation,
}

/// What a retention pass removed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RetentionReport {
    /// Partition start times (Unix seconds) that were dropped.
    pub dropped_partitions: Vec<u64>,
    /// Traces evicted (memory store).
    pub evicted_traces: u64,
}

/// Point-in-time numbers for `/metrics` and the benchmark report.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoreStats {
    pub partitions: u64,
    pub bytes_on_disk: u64,
    pub traces_in_memory: u64,
}

/// The reader/writer contract. All methods block; call them off the async threads.
pub trait TraceStore: Send + Sync + 'static {
    /// Stores every span of the batch atomically (spans and their index entries together).
    /// Returns only once the batch is durable (written to the write-ahead log).
    fn write(&self, batch: &SpanBatch) -> Result<(), StorageError>;

    /// Every stored span of the trace, spans of one trace in a stable order. Empty when unknown.
    /// Needs no time range: cost is O(partitions), never a scan.
    fn get_trace(&self, id: TraceId) -> Result<Vec<Span>, StorageError>;

    /// IDs of the traces with at least one span matching the query
    /// ([`crate::model::query::span_matches`]), newest match first, at most `query.limit`.
    fn find_trace_ids(&self, query: &TraceQuery) -> Result<Vec<TraceId>, StorageError>;

    /// The matching traces, whole (including spans outside the window), in the order of
    /// [`TraceStore::find_trace_ids`]. A time-partitioned store may load them from the
    /// partitions of the window widened by an hour on each side only, as Jaeger's
    /// Elasticsearch store does with its daily indices; conditions are checked on what it loaded.
    fn find_traces(&self, query: &TraceQuery) -> Result<Vec<Trace>, StorageError> {
        let ids = self.find_trace_ids(query)?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let spans = self.get_trace(id)?;
            if !spans.is_empty() {
                out.push(Trace {
                    trace_id: id,
                    spans,
                });
            }
        }
        Ok(out)
    }

    /// Every (service, operation, kind) currently stored, for the index actor to load.
    fn catalog(&self) -> Result<Vec<CatalogEntry>, StorageError>;

    /// Other processes write to this store too (a remote storage server). Then this process's
    /// IndexActor cannot know the catalog, and services/operations are asked of the store
    /// ([`TraceStore::services`], [`TraceStore::operations`]) on every call.
    fn catalog_is_remote(&self) -> bool {
        false
    }

    /// Service names, sorted. Local stores answer from [`TraceStore::catalog`]; the query API
    /// asks their IndexActor instead.
    fn services(&self) -> Result<Vec<String>, StorageError> {
        let mut names: Vec<String> = self.catalog()?.into_iter().map(|e| e.service).collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// Operations of a service, sorted by name then kind, optionally of one kind only.
    fn operations(
        &self,
        service: &str,
        kind: Option<SpanKind>,
    ) -> Result<Vec<Operation>, StorageError> {
        let mut ops: Vec<Operation> = self
            .catalog()?
            .into_iter()
            .filter(|e| e.service == service)
            .map(|e| e.operation)
            .filter(|o| kind.is_none_or(|k| o.span_kind == k))
            .collect();
        ops.sort();
        ops.dedup();
        Ok(ops)
    }

    /// Drops whole partitions that end before `cutoff_ns` (never per-key deletes).
    fn drop_expired(&self, cutoff_ns: u64) -> Result<RetentionReport, StorageError>;

    /// Evicts the oldest partitions while the data on disk exceeds `max_bytes`.
    /// The newest partition is never evicted.
    fn enforce_disk_cap(&self, max_bytes: u64) -> Result<RetentionReport, StorageError>;

    fn stats(&self) -> StoreStats;

    /// Flushes memtables so that a clean shutdown leaves no WAL to replay.
    fn flush(&self) -> Result<(), StorageError>;

    /// Flushes as [`Self::flush`] when something was written since the last such flush and
    /// nothing for `idle`: an idle store then holds no memtable, WAL or in-memory postings, and a
    /// restart replays nothing. `true` when it flushed. Stores with nothing to flush never do.
    fn flush_if_idle(&self, _idle: std::time::Duration) -> Result<bool, StorageError> {
        Ok(false)
    }
}
