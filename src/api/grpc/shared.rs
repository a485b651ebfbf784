//! What the gRPC read front ends share (the api_v2 and api_v3 query services and the
//! remote-storage v1 reader): trace-ID checks, search parameters → [`TraceQuery`], span-kind
//! filters, operation names, and cutting traces into api_v2 span chunks.
//!
//! Errors are `tonic::Status` with the texts Jaeger uses where Jaeger has one
//! (jaeger-wire.md §c); the rest name the offending request field.

use std::collections::HashMap;
use std::pin::Pin;

use futures_util::Stream;
use prost_types::{Duration, Timestamp};
use tonic::Status;

use crate::model::query::DEFAULT_SEARCH_LIMIT;
use crate::model::{Operation, SpanKind, Trace, TraceId, TraceQuery};
use crate::proto::time::{duration_ns, timestamp_ns};
use crate::proto::{api_v2, api_v3, storage};

/// Jaeger's message for an all-zero trace ID.
pub const ZERO_TRACE_ID: &str = "uninitialized TraceID is not allowed";
/// Jaeger's message for an unknown trace (storage v1 clients match on it exactly).
pub const TRACE_NOT_FOUND: &str = "trace not found";

/// A server stream of `T` messages.
pub type GrpcStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// A stream over messages that are produced lazily by `iter` (nothing fails once started).
pub fn stream_of<T, I>(iter: I) -> GrpcStream<T>
where
    T: Send + 'static,
    I: Iterator<Item = T> + Send + 'static,
{
    Box::pin(futures_util::stream::iter(iter.map(Ok)))
}

/// A trace ID in api_v2 / storage v1 byte form: 16 bytes (or 8, the low half, as Go accepts),
/// never all zeros.
pub fn trace_id_from_bytes(bytes: &[u8]) -> Result<TraceId, Status> {
    let id = TraceId::from_slice(bytes).map_err(|_| {
        Status::invalid_argument(format!("trace_id must be 16 bytes, got {}", bytes.len()))
    })?;
    if id.is_zero() {
        return Err(Status::invalid_argument(ZERO_TRACE_ID));
    }
    Ok(id)
}

/// `span_kind` of an operations request: "" means every kind.
pub fn span_kind_filter(span_kind: &str) -> Result<Option<SpanKind>, Status> {
    SpanKind::filter_from_jaeger_str(span_kind)
        .map_err(|e| Status::invalid_argument(format!("span_kind: {e}")))
}

/// The deprecated `operationNames` of api_v2 and storage v1: each name once. The reader lists
/// operations sorted by name, so equal names are adjacent.
pub fn operation_names(ops: &[Operation]) -> Vec<String> {
    let mut names: Vec<String> = ops.iter().map(|op| op.name.clone()).collect();
    names.dedup();
    names
}

/// The search fields every gRPC search request has, whatever its message type.
#[derive(Debug, Default)]
pub struct SearchParams {
    pub service_name: String,
    pub operation_name: String,
    pub attributes: HashMap<String, String>,
    pub start_time_min: Option<Timestamp>,
    pub start_time_max: Option<Timestamp>,
    pub duration_min: Option<Duration>,
    pub duration_max: Option<Duration>,
    /// Traces to return; ≤ 0 means Jaeger's default of 100.
    pub depth: i32,
}

impl SearchParams {
    /// Validates the parameters into a [`TraceQuery`]. The start-time window is required
    /// (Go's zero time counts as missing) and must not be reversed; an empty service or
    /// operation means any; a zero duration means no bound. Attributes are sorted by key so the
    /// same request always searches the same way.
    pub fn into_query(self) -> Result<TraceQuery, Status> {
        let required = |t: Option<&Timestamp>, name: &str| {
            timestamp_ns(t)
                .ok_or_else(|| Status::invalid_argument(format!("query.{name} is required")))
        };
        let start_min_ns = required(self.start_time_min.as_ref(), "start_time_min")?;
        let start_max_ns = required(self.start_time_max.as_ref(), "start_time_max")?;
        if start_max_ns < start_min_ns {
            return Err(Status::invalid_argument(
                "query.start_time_max must not be before query.start_time_min",
            ));
        }
        let duration_min_ns = duration_ns(self.duration_min.as_ref());
        let duration_max_ns = duration_ns(self.duration_max.as_ref());
        if let (Some(min), Some(max)) = (duration_min_ns, duration_max_ns) {
            if max < min {
                return Err(Status::invalid_argument(
                    "query.duration_max must not be less than query.duration_min",
                ));
            }
        }
        let mut attributes: Vec<(String, String)> = self.attributes.into_iter().collect();
        attributes.sort();
        let non_empty = |s: String| (!s.is_empty()).then_some(s);
        Ok(TraceQuery {
            service: non_empty(self.service_name),
            operation: non_empty(self.operation_name),
            attributes,
            start_min_ns,
            start_max_ns,
            duration_min_ns,
            duration_max_ns,
            limit: usize::try_from(self.depth)
                .ok()
                .filter(|&n| n > 0)
                .unwrap_or(DEFAULT_SEARCH_LIMIT),
        })
    }
}

impl From<api_v2::TraceQueryParameters> for SearchParams {
    fn from(q: api_v2::TraceQueryParameters) -> Self {
        SearchParams {
            service_name: q.service_name,
            operation_name: q.operation_name,
            attributes: q.tags,
            start_time_min: q.start_time_min,
            start_time_max: q.start_time_max,
            duration_min: q.duration_min,
            duration_max: q.duration_max,
            depth: q.search_depth,
        }
    }
}

impl From<api_v3::TraceQueryParameters> for SearchParams {
    fn from(q: api_v3::TraceQueryParameters) -> Self {
        SearchParams {
            service_name: q.service_name,
            operation_name: q.operation_name,
            attributes: q.attributes,
            start_time_min: q.start_time_min,
            start_time_max: q.start_time_max,
            duration_min: q.duration_min,
            duration_max: q.duration_max,
            depth: q.search_depth,
        }
    }
}

impl From<storage::v1::TraceQueryParameters> for SearchParams {
    fn from(q: storage::v1::TraceQueryParameters) -> Self {
        SearchParams {
            service_name: q.service_name,
            operation_name: q.operation_name,
            attributes: q.tags,
            start_time_min: q.start_time_min,
            start_time_max: q.start_time_max,
            duration_min: q.duration_min,
            duration_max: q.duration_max,
            depth: q.num_traces,
        }
    }
}

/// Cuts traces into chunks of at most `max_spans` api_v2 spans, converting each chunk only when
/// it is taken. A chunk never mixes traces, and every chunk of a trace comes before the next
/// trace's: clients start a new trace where the trace ID changes.
pub struct SpanChunks {
    traces: std::vec::IntoIter<Trace>,
    current: Option<Trace>,
    next_span: usize,
    max_spans: usize,
}

impl SpanChunks {
    pub fn new(traces: Vec<Trace>, max_spans: usize) -> Self {
        SpanChunks {
            traces: traces.into_iter(),
            current: None,
            next_span: 0,
            max_spans: max_spans.max(1),
        }
    }
}

impl Iterator for SpanChunks {
    type Item = Vec<api_v2::Span>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(trace) = &self.current {
                if self.next_span < trace.spans.len() {
                    let end = (self.next_span + self.max_spans).min(trace.spans.len());
                    let chunk =
                        crate::ingest::jaeger::from_model(&trace.spans[self.next_span..end]);
                    self.next_span = end;
                    return Some(chunk);
                }
            }
            self.current = Some(self.traces.next()?);
            self.next_span = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Span, SpanId};

    fn trace(id: u128, spans: u64) -> Trace {
        Trace {
            trace_id: TraceId::from_u128(id),
            spans: (1..=spans)
                .map(|s| Span {
                    trace_id: TraceId::from_u128(id),
                    span_id: SpanId::from_u64(s),
                    ..Span::default()
                })
                .collect(),
        }
    }

    #[test]
    fn chunks_hold_at_most_max_spans_and_never_mix_traces() {
        let chunks: Vec<(u8, usize)> = SpanChunks::new(vec![trace(1, 23), trace(2, 3)], 10)
            .map(|c| (c[0].trace_id[15], c.len()))
            .collect();
        assert_eq!(chunks, [(1, 10), (1, 10), (1, 3), (2, 3)]);
    }

    #[test]
    fn search_depth_defaults_and_window_is_required() {
        let params = || SearchParams {
            start_time_min: Some(crate::proto::time::timestamp(10)),
            start_time_max: Some(crate::proto::time::timestamp(20)),
            ..SearchParams::default()
        };
        let q = params().into_query().expect("valid");
        assert_eq!(q.limit, DEFAULT_SEARCH_LIMIT);
        assert_eq!((q.service, q.start_min_ns, q.start_max_ns), (None, 10, 20));
        let err = SearchParams {
            start_time_max: None,
            ..params()
        }
        .into_query()
        .expect_err("no max");
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        assert!(
            err.message().contains("start_time_max"),
            "{}",
            err.message()
        );
        let reversed = SearchParams {
            start_time_min: Some(crate::proto::time::timestamp(30)),
            ..params()
        };
        assert_eq!(
            reversed.into_query().expect_err("reversed").code(),
            tonic::Code::InvalidArgument
        );
    }

    #[test]
    fn operation_names_are_unique_in_order() {
        let op = |n: &str, k| Operation {
            name: n.into(),
            span_kind: k,
        };
        let ops = [
            op("a", SpanKind::Client),
            op("a", SpanKind::Server),
            op("b", SpanKind::Unspecified),
        ];
        assert_eq!(operation_names(&ops), ["a", "b"]);
    }
}
