//! The actors of the engine and the messages between them.
//!
//! ```text
//! edges ──IngestSpans──► IngestActor ──WriteSpans──► WriterActor pool ──► TraceStore
//!                           │ (admission bound)           (SyncArbiter threads)
//!                           └─RecordOperations──► IndexActor ◄──ReloadCatalog── RetentionActor
//! api ──GetTrace/FindTraces/…──► QueryActor pool ──► TraceStore
//! api ──GetServices/GetOperations──► IndexActor
//! ```
//! Blocking store calls only happen on SyncArbiter threads or `spawn_blocking`.

pub mod index;
pub mod ingest;
pub mod query;
pub mod retention;
pub mod writer;
