//! Splitting one trace's OTLP into stream messages under a byte budget, and merging them back.
//!
//! The streaming read APIs (remote storage v2 `GetTraces`/`FindTraces`) send one trace per
//! `TracesData` message, but a message must stay under the gRPC message limit; a larger trace is
//! sent as several consecutive messages of the same trace, each repeating the resource and scope
//! of its spans. Receivers concatenate consecutive messages with the same trace ID
//! ([`trace_id_of`]). Span order is kept; nothing is cloned but resource and scope headers.

use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, TracesData};
use prost::encoding::encoded_len_varint;
use prost::Message;

use crate::model::TraceId;

/// Bytes a length-delimited field of `len` bytes takes: tag, length prefix, payload.
fn field_len(len: usize) -> usize {
    1 + encoded_len_varint(len as u64) + len
}

/// Upper bound for the tag and length prefix of an enclosing message whose size is not known yet.
const ENVELOPE_BYTES: usize = 1 + 10;

/// Splits `data` (spans of one trace) into messages of at most `budget_bytes` encoded bytes
/// each. A single span larger than the budget travels alone in its own message (the only case
/// a message exceeds the budget). Empty scopes and resources are dropped.
pub fn split_by_size(data: TracesData, budget_bytes: usize) -> Vec<TracesData> {
    let mut out = Vec::new();
    let mut cur = TracesData::default();
    let mut cur_len = 0usize;
    for rs in data.resource_spans {
        let ResourceSpans {
            resource,
            scope_spans,
            schema_url: rs_schema,
        } = rs;
        let rs_header = ENVELOPE_BYTES
            + resource.as_ref().map_or(0, |r| field_len(r.encoded_len()))
            + field_len(rs_schema.len());
        // Whether `cur`'s last ResourceSpans / ScopeSpans is the one the next span belongs to.
        let mut rs_open = false;
        for ss in scope_spans {
            let ScopeSpans {
                scope,
                spans,
                schema_url: ss_schema,
            } = ss;
            let ss_header = ENVELOPE_BYTES
                + scope.as_ref().map_or(0, |s| field_len(s.encoded_len()))
                + field_len(ss_schema.len());
            let mut ss_open = false;
            for span in spans {
                let span_len = field_len(span.encoded_len());
                let need = span_len
                    + if rs_open { 0 } else { rs_header }
                    + if ss_open { 0 } else { ss_header };
                if cur_len > 0 && cur_len + need > budget_bytes {
                    out.push(std::mem::take(&mut cur));
                    cur_len = 0;
                    (rs_open, ss_open) = (false, false);
                }
                if !rs_open {
                    cur.resource_spans.push(ResourceSpans {
                        resource: resource.clone(),
                        scope_spans: Vec::new(),
                        schema_url: rs_schema.clone(),
                    });
                    cur_len += rs_header;
                    rs_open = true;
                }
                // `rs_open` guarantees the last ResourceSpans exists.
                let Some(rs_out) = cur.resource_spans.last_mut() else {
                    continue;
                };
                if !ss_open {
                    rs_out.scope_spans.push(ScopeSpans {
                        scope: scope.clone(),
                        spans: Vec::new(),
                        schema_url: ss_schema.clone(),
                    });
                    cur_len += ss_header;
                    ss_open = true;
                }
                if let Some(ss_out) = rs_out.scope_spans.last_mut() {
                    ss_out.spans.push(span);
                    cur_len += span_len;
                }
            }
        }
    }
    if !cur.resource_spans.is_empty() {
        out.push(cur);
    }
    out
}

/// The trace ID of a message's first span; `None` for a message without spans or with a
/// malformed ID. Consecutive messages with the same ID are one trace.
pub fn trace_id_of(data: &TracesData) -> Option<TraceId> {
    let span = data
        .resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
        .next()?;
    TraceId::from_slice(&span.trace_id).ok()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

    use crate::ingest::otlp::{from_model, to_model};
    use crate::model::{KeyValue, Resource, Scope, Span, SpanId};

    fn spans(n: u64) -> Vec<Span> {
        let res_a = Arc::new(Resource {
            attributes: vec![KeyValue::string("service.name", "a")],
            ..Default::default()
        });
        let res_b = Arc::new(Resource {
            attributes: vec![KeyValue::string("service.name", "b")],
            ..Default::default()
        });
        let scope = Arc::new(Scope {
            name: "lib".into(),
            ..Default::default()
        });
        (1..=n)
            .map(|i| Span {
                trace_id: TraceId::from_u128(7),
                span_id: SpanId::from_u64(i),
                name: format!("op-{i}"),
                start_ns: i,
                end_ns: i + 10,
                attributes: vec![KeyValue::string("payload", "x".repeat(100))],
                resource: if i % 3 == 0 {
                    res_b.clone()
                } else {
                    res_a.clone()
                },
                scope: scope.clone(),
                ..Default::default()
            })
            .collect()
    }

    fn merged(parts: &[TracesData]) -> Vec<Span> {
        let resource_spans = parts
            .iter()
            .flat_map(|p| p.resource_spans.iter().cloned())
            .collect();
        to_model(ExportTraceServiceRequest { resource_spans })
            .batch
            .spans
    }

    #[test]
    fn split_messages_stay_under_budget_and_merge_back_in_order() {
        let original = spans(50);
        let data = from_model(&original);
        let whole = data.encoded_len();
        let parts = split_by_size(data, 1024);
        assert!(parts.len() > 5, "{} parts for {whole} bytes", parts.len());
        for p in &parts {
            assert!(p.encoded_len() <= 1024, "part of {} bytes", p.encoded_len());
            assert_eq!(trace_id_of(p), Some(TraceId::from_u128(7)));
        }
        assert_eq!(merged(&parts), original);
    }

    #[test]
    fn a_trace_under_the_budget_is_one_message_and_a_huge_span_travels_alone() {
        let original = spans(4);
        let parts = split_by_size(from_model(&original), 1 << 20);
        assert_eq!(parts.len(), 1);
        assert_eq!(merged(&parts), original);

        let parts = split_by_size(from_model(&original), 10);
        assert_eq!(parts.len(), 4);
        assert_eq!(merged(&parts), original);
        assert!(split_by_size(TracesData::default(), 10).is_empty());
    }
}
