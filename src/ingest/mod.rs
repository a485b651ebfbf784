//! Ingest: one decoder per wire format, shared by every transport that carries it.
//!
//! Each format module decodes a request body, validates it span by span and converts it into a
//! [`crate::model::SpanBatch`]. Invalid spans are rejected one by one (counted, with a message);
//! the valid spans of the same request are kept. Nothing here does I/O, logging or blocking, and
//! nothing here knows about actix, tonic or the store.

pub mod jaeger;
pub mod otlp;
mod thrift_read;
pub mod zipkin;

#[cfg(test)]
mod golden_tests;

use thiserror::Error;

use std::sync::Arc;

use crate::model::{Scope, SpanBatch};

/// At most this many rejection messages are kept per request (the count is always exact).
pub const MAX_ERROR_MESSAGES: usize = 10;

/// The accepted spans of one request, and what was rejected. Every converter produces it and
/// every ingest edge submits it.
#[derive(Debug, Default)]
pub struct Decoded {
    pub batch: SpanBatch,
    /// Spans dropped because they failed validation.
    pub rejected_spans: u64,
    /// One message per rejected span, at most [`MAX_ERROR_MESSAGES`], e.g.
    /// `resource_spans[0].scope_spans[1].spans[3]: trace_id must be 16 bytes, got 3`.
    pub errors: Vec<String>,
}

impl Decoded {
    /// Counts one rejected span; `message` is formatted only while fewer than
    /// [`MAX_ERROR_MESSAGES`] are kept (a flood of bad spans costs no formatting).
    pub fn reject(&mut self, message: impl FnOnce() -> String) {
        self.rejected_spans += 1;
        if self.errors.len() < MAX_ERROR_MESSAGES {
            self.errors.push(message());
        }
    }

    /// For protocols without partial success: the error text naming the rejected spans of a
    /// request that had `total` spans, or None when nothing was rejected.
    pub fn rejection_report(&self, total: u64) -> Option<String> {
        (self.rejected_spans > 0).then(|| {
            format!(
                "rejected {} of {total} spans (the others were stored): {}",
                self.rejected_spans,
                self.rejection_summary()
            )
        })
    }

    /// The kept messages joined with `; `, plus how many rejections were not listed.
    pub fn rejection_summary(&self) -> String {
        let mut summary = self.errors.join("; ");
        let unlisted = self.rejected_spans.saturating_sub(self.errors.len() as u64);
        if unlisted > 0 {
            summary.push_str(&format!("; and {unlisted} more rejected spans"));
        }
        summary
    }
}

/// The instrumentation scopes of one request, so that spans with the same (name, version) share
/// one `Arc<Scope>`. At most [`ScopeCache::MAX`] are remembered: beyond that a request still
/// converts correctly, it just stops sharing new ones (lookups stay linear and short).
#[derive(Default)]
pub(crate) struct ScopeCache {
    scopes: Vec<Arc<Scope>>,
}

impl ScopeCache {
    const MAX: usize = 32;

    pub(crate) fn get(&mut self, name: String, version: String) -> Arc<Scope> {
        if let Some(s) = self
            .scopes
            .iter()
            .find(|s| s.name == name && s.version == version)
        {
            return Arc::clone(s);
        }
        let s = Arc::new(Scope {
            name,
            version,
            ..Scope::default()
        });
        if self.scopes.len() < Self::MAX {
            self.scopes.push(Arc::clone(&s));
        }
        s
    }
}

/// A request body that cannot be decoded at all. Problems with single spans are not errors: they
/// are reported as rejected spans next to the accepted ones (see [`Decoded`]).
#[derive(Debug, Error)]
pub enum IngestError {
    /// A protobuf body whose framing is broken outside any span; `path` names the field, e.g.
    /// `resource_spans[1].scope_spans[0].schema_url`, or is `the top level`.
    #[error("invalid OTLP protobuf body at {path}: {message}")]
    ProtobufField { path: String, message: String },
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
    /// A Zipkin JSON body (v1 or v2) that is not well-formed JSON.
    #[error("invalid Zipkin {version} JSON body at line {line} column {column}: {message}")]
    ZipkinJsonSyntax {
        version: &'static str,
        line: usize,
        column: usize,
        message: String,
        #[source]
        source: serde_json::Error,
    },
    /// Well-formed JSON that is not a Zipkin span list; `path` names the field, e.g.
    /// `[2].annotations[0].timestamp`.
    #[error("invalid Zipkin {version} JSON body at {path}: {message}")]
    ZipkinJsonField {
        version: &'static str,
        path: String,
        message: String,
    },
    #[error("invalid Zipkin v2 protobuf body: {source}")]
    ZipkinProtobuf {
        #[source]
        source: prost::DecodeError,
    },
    /// A Zipkin v1 Thrift body (TBinaryProtocol `list<Span>`) that cannot be read.
    #[error("invalid Zipkin v1 Thrift body: {message}")]
    ZipkinThrift {
        message: String,
        #[source]
        source: Option<thrift::Error>,
    },
    /// A Jaeger Thrift body or agent datagram that cannot be read, or an agent message that is
    /// not `emitBatch`.
    #[error("invalid Jaeger Thrift ({protocol}) body: {message}")]
    JaegerThrift {
        protocol: &'static str,
        message: String,
        #[source]
        source: Option<thrift::Error>,
    },
}

/// How a JSON value's type is named in decoder error messages ("a string", "an array", …).
pub(crate) fn json_type_name(v: &serde_json::Value) -> &'static str {
    use serde_json::Value as Json;
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}
