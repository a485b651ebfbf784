//! Query types shared by every store and front end, and the one definition of what "a span
//! matches a query" means.
//!
//! Semantics (Jaeger v2's OTLP-native memory store, which is also what its api_v3 promises):
//! a trace matches when **one span** satisfies every condition — service, operation, start time
//! inside the window, duration bounds and every attribute. Attribute values are compared in
//! their string form ([`Value::to_query_string`]). Attributes are looked up on the span, its
//! scope, its resource, its events and its links; the special keys `error`, `span.status`,
//! `span.kind`, `scope.name`, `scope.version`, `event` (event name) and `resource.<key>` are
//! understood as Jaeger does. Stores use indexes only to find candidates; the final word is
//! always [`span_matches`], so every store answers the same.

use super::ids::TraceId;
use super::span::{find_attr, KeyValue, Span, SpanKind, StatusCode, Value};

/// Search depth used when a client sends none (Jaeger's default).
pub const DEFAULT_SEARCH_LIMIT: usize = 100;

/// A trace search. Times are Unix nanoseconds; bounds are inclusive.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TraceQuery {
    /// `None` searches every service (api_v3 / RFC 0013 "search without service name").
    pub service: Option<String>,
    pub operation: Option<String>,
    /// Conjunction of key = value (string form).
    pub attributes: Vec<(String, String)>,
    pub start_min_ns: u64,
    pub start_max_ns: u64,
    pub duration_min_ns: Option<u64>,
    pub duration_max_ns: Option<u64>,
    /// Maximum number of traces; always ≥ 1 once validated.
    pub limit: usize,
}

/// An operation as listed by `/api/operations`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Operation {
    pub name: String,
    pub span_kind: SpanKind,
}

/// Does this span satisfy every condition of the query?
pub fn span_matches(span: &Span, q: &TraceQuery) -> bool {
    if let Some(svc) = &q.service {
        if span.service() != svc {
            return false;
        }
    }
    if let Some(op) = &q.operation {
        if &span.name != op {
            return false;
        }
    }
    if span.start_ns < q.start_min_ns || span.start_ns > q.start_max_ns {
        return false;
    }
    let d = span.duration_ns();
    if q.duration_min_ns.is_some_and(|min| d < min) || q.duration_max_ns.is_some_and(|max| d > max)
    {
        return false;
    }
    q.attributes
        .iter()
        .all(|(k, v)| span_has_attribute(span, k, v))
}

/// Does any span of the trace match?
pub fn trace_matches(spans: &[Span], q: &TraceQuery) -> bool {
    spans.iter().any(|s| span_matches(s, q))
}

/// Attribute lookup with Jaeger's special keys (see the module doc).
pub fn span_has_attribute(span: &Span, key: &str, want: &str) -> bool {
    let special = match key {
        "error" => match want {
            "true" => span.status.code == StatusCode::Error,
            "false" => span.status.code != StatusCode::Error,
            _ => false,
        },
        "span.status" => {
            let code = match span.status.code {
                StatusCode::Ok => "OK",
                StatusCode::Error => "ERROR",
                StatusCode::Unset => "UNSET",
            };
            code.eq_ignore_ascii_case(want)
        }
        "span.kind" => span.kind.as_jaeger_str() == want.to_ascii_lowercase(),
        "scope.name" => span.scope.name == want,
        "scope.version" => span.scope.version == want,
        "event" => span.events.iter().any(|e| e.name == want),
        _ => {
            if let Some(rk) = key.strip_prefix("resource.") {
                if attr_equals(&span.resource.attributes, rk, want) {
                    return true;
                }
            }
            false
        }
    };
    special
        || attr_equals(&span.attributes, key, want)
        || attr_equals(&span.scope.attributes, key, want)
        || attr_equals(&span.resource.attributes, key, want)
        || span
            .events
            .iter()
            .any(|e| attr_equals(&e.attributes, key, want))
        || span
            .links
            .iter()
            .any(|l| attr_equals(&l.attributes, key, want))
}

fn attr_equals(attrs: &[KeyValue], key: &str, want: &str) -> bool {
    attrs
        .iter()
        .any(|kv| kv.key == key && value_equals(&kv.value, want))
}

fn value_equals(v: &Value, want: &str) -> bool {
    match v {
        Value::Str(s) => s == want,
        other => other.to_query_string() == want,
    }
}

/// Every (key, string value) a span can be found by through the tag index: its own, its
/// scope's, its resource's, its events' and its links' attributes, plus `error`=`true` for
/// error spans. Values that are arrays or maps are included in their JSON form.
pub fn for_each_indexed_attribute(span: &Span, mut f: impl FnMut(&str, &Value)) {
    for kv in &span.attributes {
        f(&kv.key, &kv.value);
    }
    for kv in &span.scope.attributes {
        f(&kv.key, &kv.value);
    }
    for kv in &span.resource.attributes {
        f(&kv.key, &kv.value);
    }
    for e in &span.events {
        for kv in &e.attributes {
            f(&kv.key, &kv.value);
        }
    }
    for l in &span.links {
        for kv in &l.attributes {
            f(&kv.key, &kv.value);
        }
    }
    if span.status.code == StatusCode::Error && find_attr(&span.attributes, "error").is_none() {
        f("error", &Value::Str("true".into()));
    }
}

/// Summary of one trace, as api_v3 `FindTraceSummaries` reports it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TraceSummary {
    pub trace_id: TraceId,
    pub root_service_name: String,
    pub root_operation_name: String,
    pub min_start_ns: u64,
    pub max_end_ns: u64,
    pub span_count: u32,
    pub error_span_count: u32,
    pub orphan_span_count: u32,
    /// Per service, in order of first appearance.
    pub services: Vec<ServiceSummary>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ServiceSummary {
    pub name: String,
    pub span_count: u32,
    pub error_span_count: u32,
}

impl TraceSummary {
    /// Summarises a non-empty trace. The root is the earliest span without a parent; when every
    /// span has a parent, the earliest span whose parent is missing; else the earliest span.
    pub fn of(trace_id: TraceId, spans: &[Span]) -> TraceSummary {
        use std::collections::HashSet;
        let ids: HashSet<_> = spans.iter().map(|s| s.span_id).collect();
        let mut summary = TraceSummary {
            trace_id,
            min_start_ns: u64::MAX,
            ..Default::default()
        };
        let mut root: Option<(u8, u64, &Span)> = None;
        for s in spans {
            summary.min_start_ns = summary.min_start_ns.min(s.start_ns);
            summary.max_end_ns = summary.max_end_ns.max(s.end_ns);
            summary.span_count += 1;
            let err = s.is_error() as u32;
            summary.error_span_count += err;
            let orphan = s.has_parent() && !ids.contains(&s.parent_span_id);
            summary.orphan_span_count += orphan as u32;
            let rank = if !s.has_parent() {
                0
            } else if orphan {
                1
            } else {
                2
            };
            if root.is_none_or(|(r, t, _)| (rank, s.start_ns) < (r, t)) {
                root = Some((rank, s.start_ns, s));
            }
            let svc = s.service();
            match summary.services.iter_mut().find(|x| x.name == svc) {
                Some(x) => {
                    x.span_count += 1;
                    x.error_span_count += err;
                }
                None => summary.services.push(ServiceSummary {
                    name: svc.to_string(),
                    span_count: 1,
                    error_span_count: err,
                }),
            }
        }
        if let Some((_, _, r)) = root {
            summary.root_service_name = r.service().to_string();
            summary.root_operation_name = r.name.clone();
        }
        if summary.span_count == 0 {
            summary.min_start_ns = 0;
        }
        summary
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::span::{Event, Resource, Status};
    use std::sync::Arc;

    fn span(svc: &str, op: &str, start: u64, dur: u64) -> Span {
        Span {
            name: op.into(),
            start_ns: start,
            end_ns: start + dur,
            resource: Arc::new(Resource {
                attributes: vec![KeyValue::string("service.name", svc)],
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn q(svc: &str) -> TraceQuery {
        TraceQuery {
            service: Some(svc.into()),
            start_min_ns: 0,
            start_max_ns: u64::MAX,
            limit: 10,
            ..Default::default()
        }
    }

    #[test]
    fn conditions_must_hold_on_one_span() {
        let mut a = span("svc", "op", 100, 10);
        a.attributes.push(KeyValue::new("k1", Value::Int(123)));
        let mut b = span("svc", "op", 100, 10);
        b.attributes.push(KeyValue::new("k2", Value::Bool(true)));
        let mut query = q("svc");
        query.attributes = vec![("k1".into(), "123".into()), ("k2".into(), "true".into())];
        assert!(!trace_matches(&[a.clone(), b], &query));
        a.attributes.push(KeyValue::new("k2", Value::Bool(true)));
        assert!(trace_matches(&[a], &query));
    }

    #[test]
    fn window_and_duration_bounds_are_inclusive() {
        let s = span("svc", "op", 100, 10);
        let mut query = q("svc");
        query.start_min_ns = 100;
        query.start_max_ns = 100;
        query.duration_min_ns = Some(10);
        query.duration_max_ns = Some(10);
        assert!(span_matches(&s, &query));
        query.duration_max_ns = Some(9);
        assert!(!span_matches(&s, &query));
    }

    #[test]
    fn special_keys_and_event_attributes() {
        let mut s = span("svc", "op", 1, 1);
        s.status = Status {
            code: StatusCode::Error,
            message: String::new(),
        };
        s.events.push(Event {
            name: "boom".into(),
            attributes: vec![KeyValue::new("x", Value::Double(72.5))],
            ..Default::default()
        });
        assert!(span_has_attribute(&s, "error", "true"));
        assert!(!span_has_attribute(&s, "error", "false"));
        assert!(span_has_attribute(&s, "x", "72.5"));
        assert!(span_has_attribute(&s, "event", "boom"));
        assert!(span_has_attribute(&s, "resource.service.name", "svc"));
        assert!(!span_has_attribute(&s, "x", "72.50"));
    }

    #[test]
    fn summary_finds_root_orphans_and_errors() {
        use crate::model::ids::SpanId;
        let mut root = span("a", "root", 10, 100);
        root.span_id = SpanId::from_u64(1);
        let mut child = span("b", "child", 20, 5);
        child.span_id = SpanId::from_u64(2);
        child.parent_span_id = SpanId::from_u64(1);
        child.status.code = StatusCode::Error;
        let mut orphan = span("b", "lost", 5, 1);
        orphan.span_id = SpanId::from_u64(3);
        orphan.parent_span_id = SpanId::from_u64(99);
        let sum = TraceSummary::of(TraceId::from_u128(7), &[child, orphan, root]);
        assert_eq!(sum.root_service_name, "a");
        assert_eq!(sum.root_operation_name, "root");
        assert_eq!(
            (sum.span_count, sum.error_span_count, sum.orphan_span_count),
            (3, 1, 1)
        );
        assert_eq!((sum.min_start_ns, sum.max_end_ns), (5, 110));
        // Services in order of first appearance: b (child, orphan), then a (root).
        assert_eq!(sum.services.len(), 2);
        assert_eq!(
            (sum.services[0].name.as_str(), sum.services[0].span_count),
            ("b", 2)
        );
        assert_eq!(sum.services[0].error_span_count, 1);
        assert_eq!(sum.services[1].error_span_count, 0);
    }
}
