//! The internal data model: IDs, spans, batches, traces and query types.
//!
//! Everything above the storage layer speaks these types. No protobuf, no RocksDB, no actix.

pub mod adjust;
pub mod duration;
pub mod go_json;
pub mod ids;
pub mod query;
pub mod span;
pub mod time;

pub use ids::{IdError, SpanId, TraceId};
pub use query::{Operation, ServiceSummary, TraceQuery, TraceSummary};
pub use span::{
    Event, KeyValue, Link, Resource, Scope, Span, SpanBatch, SpanKind, Status, StatusCode, Text,
    Trace, Value,
};
