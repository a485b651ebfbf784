//! Ingest: one decoder per wire format, shared by every transport that carries it.
//!
//! Each format module decodes a request body, validates it span by span and converts it into a
//! [`crate::model::SpanBatch`]. Invalid spans are rejected one by one (counted, with a message);
//! the valid spans of the same request are kept. Nothing here does I/O, logging or blocking, and
//! nothing here knows about actix, tonic or the store.

pub mod otlp;

use thiserror::Error;

/// A request body that cannot be decoded at all. Problems with single spans are not errors: they
/// are reported as rejected spans next to the accepted ones (see [`otlp::Decoded`]).
#[derive(Debug, Error)]
pub enum IngestError {
    #[error("invalid OTLP protobuf body: {source}")]
    Protobuf {
        #[source]
        source: prost::DecodeError,
    },
    /// The body is not well-formed JSON (syntax, nesting depth, truncation).
    #[error("invalid OTLP JSON body at line {line} column {column}: {message}")]
    JsonSyntax {
        line: usize,
        column: usize,
        message: String,
        #[source]
        source: serde_json::Error,
    },
    /// Well-formed JSON that is not an OTLP export request; `path` names the offending field,
    /// e.g. `resourceSpans[0].scopeSpans[0].spans[2].traceId`.
    #[error("invalid OTLP JSON body at {path}: {message}")]
    JsonField { path: String, message: String },
}
