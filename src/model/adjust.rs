//! Jaeger's trace adjuster chain, the current OTLP-based one (jaeger-query-semantics §2.1), run
//! on every trace a query returns unless the client asked for raw traces.
//!
//! Pure functions over a [`Trace`]: no I/O, no logging. Each step is a small public function so
//! it can be tested alone; [`adjust_trace`] runs them in Jaeger's order. Warnings go into the
//! span's `@jaeger@warnings` attribute through [`Span::add_warning`].
//!
//! Resources and scopes are shared between spans through `Arc`. A step that changes one never
//! mutates it in place (another trace may hold the same `Arc`); it gives the spans a new `Arc`,
//! and spans that shared the old one share the new one — exactly as spans of one OTLP
//! `ResourceSpans` share its resource in Jaeger.

mod clock_skew;
mod span_hash;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::ids::SpanId;
use super::span::{KeyValue, Resource, Scope, Span, SpanKind, Trace, Value};

pub use clock_skew::{calculate_skew, correct_clock_skew, host_key};
pub use span_hash::{span_hash, Fnv1a64};

pub const WARNING_TOO_MANY_SPANS: &str =
    "cannot assign unique span ID, too many spans in the trace";
pub const WARNING_INVALID_LINK: &str = "Invalid span link removed";

/// Span attributes that describe the SDK, moved to the resource by MoveLibraryAttributes.
pub const LIBRARY_ATTRIBUTES: [&str; 5] = [
    "telemetry.sdk.language",
    "telemetry.sdk.name",
    "telemetry.sdk.version",
    "telemetry.distro.name",
    "telemetry.distro.version",
];

/// Runs the whole chain, in Jaeger's order. `max_clock_skew_adjust_ns` 0 disables shifting.
pub fn adjust_trace(trace: &mut Trace, max_clock_skew_adjust_ns: u64) {
    dedupe_client_server_span_ids(trace);
    sort_collections(trace);
    dedupe_spans(trace);
    correct_clock_skew(trace, max_clock_skew_adjust_ns);
    normalize_ip_attributes(trace);
    move_library_attributes(trace);
    remove_empty_span_links(trace);
}

/// Replaces shared `Arc`s consistently: the first time an `Arc` is seen the rewrite decides its
/// replacement, and every span holding the same `Arc` gets the same replacement. The originals
/// are kept alive for the whole pass so their addresses cannot be reused.
struct SharedRewrite<T> {
    seen: HashMap<*const T, (Arc<T>, Arc<T>)>,
}

impl<T> SharedRewrite<T> {
    fn new() -> Self {
        SharedRewrite {
            seen: HashMap::new(),
        }
    }

    /// `rewrite` returns `None` when the value needs no change.
    fn apply(&mut self, slot: &mut Arc<T>, rewrite: impl FnOnce(&T) -> Option<T>) {
        let (_, replacement) = self.seen.entry(Arc::as_ptr(slot)).or_insert_with(|| {
            let new = rewrite(slot).map(Arc::new).unwrap_or_else(|| slot.clone());
            (slot.clone(), new)
        });
        if !Arc::ptr_eq(slot, replacement) {
            *slot = replacement.clone();
        }
    }
}

/// Step 1 — DeduplicateClientServerSpanIDs (the Zipkin shared-span fix). A SERVER span whose
/// ID is also used by a CLIENT span gets a fresh ID and the shared ID as its parent; spans that
/// had the shared ID as parent are re-parented to the fresh one.
pub fn dedupe_client_server_span_ids(trace: &mut Trace) {
    let client_ids: HashSet<SpanId> = trace
        .spans
        .iter()
        .filter(|s| s.kind == SpanKind::Client)
        .map(|s| s.span_id)
        .collect();
    if client_ids.is_empty() {
        return;
    }
    let used: HashSet<SpanId> = trace.spans.iter().map(|s| s.span_id).collect();
    let mut last_assigned = 0u64;
    let mut old_to_new: HashMap<SpanId, SpanId> = HashMap::new();
    for span in &mut trace.spans {
        if span.kind != SpanKind::Server || !client_ids.contains(&span.span_id) {
            continue;
        }
        match next_unused_span_id(&used, &mut last_assigned) {
            Some(new_id) => {
                old_to_new.insert(span.span_id, new_id);
                span.parent_span_id = span.span_id;
                span.span_id = new_id;
            }
            None => span.add_warning(WARNING_TOO_MANY_SPANS),
        }
    }
    for span in &mut trace.spans {
        if let Some(&new_parent) = old_to_new.get(&span.parent_span_id) {
            if span.span_id != new_parent {
                span.parent_span_id = new_parent;
            }
        }
    }
}

/// The smallest ID above `last_assigned` that no span uses; `None` once the 64-bit space wraps.
fn next_unused_span_id(used: &HashSet<SpanId>, last_assigned: &mut u64) -> Option<SpanId> {
    let mut candidate = *last_assigned;
    loop {
        candidate = candidate.wrapping_add(1);
        if candidate == 0 {
            return None;
        }
        let id = SpanId::from_u64(candidate);
        if !used.contains(&id) {
            *last_assigned = candidate;
            return Some(id);
        }
    }
}

fn is_sorted_by_key(attrs: &[KeyValue]) -> bool {
    attrs.windows(2).all(|w| w[0].key <= w[1].key)
}

fn sort_by_key(attrs: &mut [KeyValue]) {
    if !is_sorted_by_key(attrs) {
        attrs.sort_by(|a, b| a.key.cmp(&b.key));
    }
}

/// Step 2 — SortCollections: resource, scope, span, link and event attributes sorted by key;
/// events sorted by name (stable). Span order and link order are left alone.
pub fn sort_collections(trace: &mut Trace) {
    let mut resources = SharedRewrite::<Resource>::new();
    let mut scopes = SharedRewrite::<Scope>::new();
    for span in &mut trace.spans {
        resources.apply(&mut span.resource, |r| {
            (!is_sorted_by_key(&r.attributes)).then(|| {
                let mut r = r.clone();
                sort_by_key(&mut r.attributes);
                r
            })
        });
        scopes.apply(&mut span.scope, |s| {
            (!is_sorted_by_key(&s.attributes)).then(|| {
                let mut s = s.clone();
                sort_by_key(&mut s.attributes);
                s
            })
        });
        sort_by_key(&mut span.attributes);
        for link in &mut span.links {
            sort_by_key(&mut link.attributes);
        }
        span.events.sort_by(|a, b| a.name.cmp(&b.name));
        for event in &mut span.events {
            sort_by_key(&mut event.attributes);
        }
    }
}

/// Step 3 — DeduplicateSpans: a span whose [`span_hash`] was already seen in the trace is
/// dropped; the order of the others is kept.
pub fn dedupe_spans(trace: &mut Trace) {
    let mut seen = HashSet::with_capacity(trace.spans.len());
    trace.spans.retain(|s| seen.insert(span_hash(s)));
}

/// Attributes NormalizeIPAttributes rewrites.
const IP_ATTRIBUTES: [&str; 2] = ["ip", "peer.ipv4"];

/// The dotted IPv4 form of a numeric `ip`/`peer.ipv4` value (low 32 bits, big-endian).
fn ip_string(v: &Value) -> Option<String> {
    let bits = match v {
        Value::Int(i) => *i as u32,
        // Go converts float64 → uint32 through int64 on amd64.
        Value::Double(d) => (*d as i64) as u32,
        _ => return None,
    };
    let [a, b, c, d] = bits.to_be_bytes();
    Some(format!("{a}.{b}.{c}.{d}"))
}

/// Rewrites numeric IP attributes in place; true if anything changed.
fn normalize_ips(attrs: &mut [KeyValue]) -> bool {
    let mut changed = false;
    for kv in attrs.iter_mut() {
        if IP_ATTRIBUTES.contains(&kv.key.as_str()) {
            if let Some(s) = ip_string(&kv.value) {
                kv.value = Value::Str(s.into());
                changed = true;
            }
        }
    }
    changed
}

fn has_numeric_ip(attrs: &[KeyValue]) -> bool {
    attrs
        .iter()
        .any(|kv| IP_ATTRIBUTES.contains(&kv.key.as_str()) && ip_string(&kv.value).is_some())
}

/// Step 5 — NormalizeIPAttributes: `ip` / `peer.ipv4` ints (or doubles) on resources and spans
/// become dotted-quad strings (134744072 → `8.8.8.8`).
pub fn normalize_ip_attributes(trace: &mut Trace) {
    let mut resources = SharedRewrite::<Resource>::new();
    for span in &mut trace.spans {
        resources.apply(&mut span.resource, |r| {
            has_numeric_ip(&r.attributes).then(|| {
                let mut r = r.clone();
                normalize_ips(&mut r.attributes);
                r
            })
        });
        normalize_ips(&mut span.attributes);
    }
}

/// Step 6 — MoveLibraryAttributes: the SDK attributes ([`LIBRARY_ATTRIBUTES`]) move from spans
/// to their resource. When the resource already has the key with another value, the attribute
/// stays on the span, which gets a warning. Spans sharing a resource see each other's moves
/// (the resource is updated as spans are visited, then handed to all of them).
pub fn move_library_attributes(trace: &mut Trace) {
    let has_library_attr = |s: &Span| {
        s.attributes
            .iter()
            .any(|kv| LIBRARY_ATTRIBUTES.contains(&kv.key.as_str()))
    };
    if !trace.spans.iter().any(has_library_attr) {
        return;
    }
    // Original resource → (original kept alive, resource being updated).
    let mut updated: HashMap<*const Resource, (Arc<Resource>, Arc<Resource>)> = HashMap::new();
    for span in &mut trace.spans {
        let (_, resource) = updated
            .entry(Arc::as_ptr(&span.resource))
            .or_insert_with(|| (span.resource.clone(), span.resource.clone()));
        let mut conflicts = Vec::new();
        let mut i = 0;
        while i < span.attributes.len() {
            let key = span.attributes[i].key.as_str();
            if !LIBRARY_ATTRIBUTES.contains(&key) {
                i += 1;
                continue;
            }
            match resource.attributes.iter().find(|kv| kv.key == key) {
                Some(existing) if existing.value != span.attributes[i].value => {
                    conflicts.push(format!(
                        "conflicting values between Span and Resource for attribute {key}"
                    ));
                    i += 1;
                }
                Some(_) => {
                    span.attributes.remove(i);
                }
                None => {
                    let kv = span.attributes.remove(i);
                    Arc::make_mut(resource).attributes.push(kv);
                }
            }
        }
        for warning in conflicts {
            span.add_warning(warning);
        }
    }
    for span in &mut trace.spans {
        if let Some((_, resource)) = updated.get(&Arc::as_ptr(&span.resource)) {
            span.resource = resource.clone();
        }
    }
}

/// Step 7 — RemoveEmptySpanLinks: links with an all-zero trace ID are removed, one warning each.
pub fn remove_empty_span_links(trace: &mut Trace) {
    for span in &mut trace.spans {
        let before = span.links.len();
        span.links.retain(|l| !l.trace_id.is_zero());
        for _ in span.links.len()..before {
            span.add_warning(WARNING_INVALID_LINK);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ids::TraceId;
    use crate::model::span::{Event, Link};

    fn span(id: u64, parent: u64, kind: SpanKind) -> Span {
        Span {
            trace_id: TraceId::from_u128(1),
            span_id: SpanId::from_u64(id),
            parent_span_id: SpanId::from_u64(parent),
            kind,
            ..Default::default()
        }
    }

    fn trace(spans: Vec<Span>) -> Trace {
        Trace {
            trace_id: TraceId::from_u128(1),
            spans,
        }
    }

    fn keys(attrs: &[KeyValue]) -> Vec<&str> {
        attrs.iter().map(|kv| kv.key.as_str()).collect()
    }

    #[test]
    fn shared_server_span_gets_fresh_id_and_children_follow() {
        // IDs 1 and 2 are taken, so the fresh ID is 3.
        let mut t = trace(vec![
            span(1, 0, SpanKind::Server),
            span(2, 1, SpanKind::Client),
            span(2, 1, SpanKind::Server),
            span(7, 2, SpanKind::Internal),
        ]);
        dedupe_client_server_span_ids(&mut t);
        let ids: Vec<(u64, u64)> = t
            .spans
            .iter()
            .map(|s| (s.span_id.as_u64(), s.parent_span_id.as_u64()))
            .collect();
        assert_eq!(ids, vec![(1, 0), (2, 1), (3, 2), (7, 3)]);
    }

    #[test]
    fn server_span_without_client_twin_is_untouched() {
        let mut t = trace(vec![
            span(2, 0, SpanKind::Server),
            span(3, 2, SpanKind::Client),
        ]);
        dedupe_client_server_span_ids(&mut t);
        assert_eq!(t.spans[0].span_id.as_u64(), 2);
        assert_eq!(t.spans[1].parent_span_id.as_u64(), 2);
    }

    #[test]
    fn fresh_ids_skip_used_ones_and_report_exhaustion() {
        let used: HashSet<SpanId> = [1, 2, 4].into_iter().map(SpanId::from_u64).collect();
        let mut last = 0;
        assert_eq!(
            next_unused_span_id(&used, &mut last),
            Some(SpanId::from_u64(3))
        );
        assert_eq!(
            next_unused_span_id(&used, &mut last),
            Some(SpanId::from_u64(5))
        );
        let full: HashSet<SpanId> = [SpanId::from_u64(u64::MAX)].into_iter().collect();
        let mut last = u64::MAX - 1;
        assert_eq!(next_unused_span_id(&full, &mut last), None);
    }

    #[test]
    fn sorts_attributes_and_events_and_keeps_sharing() {
        let res = Arc::new(Resource {
            attributes: vec![KeyValue::string("z", "1"), KeyValue::string("a", "2")],
            ..Default::default()
        });
        let mut a = span(1, 0, SpanKind::Internal);
        a.resource = res.clone();
        a.attributes = vec![KeyValue::string("b", "x"), KeyValue::string("a", "y")];
        a.events = vec![
            Event {
                name: "zeta".into(),
                time_ns: 1,
                ..Default::default()
            },
            Event {
                name: "alpha".into(),
                time_ns: 2,
                attributes: vec![KeyValue::string("y", ""), KeyValue::string("x", "")],
                ..Default::default()
            },
        ];
        a.links = vec![Link {
            attributes: vec![KeyValue::string("q", ""), KeyValue::string("p", "")],
            ..Default::default()
        }];
        let mut b = span(2, 1, SpanKind::Internal);
        b.resource = res.clone();
        let mut t = trace(vec![a, b]);
        sort_collections(&mut t);
        let s = &t.spans[0];
        assert_eq!(keys(&s.resource.attributes), vec!["a", "z"]);
        assert_eq!(keys(&s.attributes), vec!["a", "b"]);
        assert_eq!(s.events[0].name, "alpha");
        assert_eq!(keys(&s.events[0].attributes), vec!["x", "y"]);
        assert_eq!(keys(&s.links[0].attributes), vec!["p", "q"]);
        // Both spans hold the same new resource; the original is untouched.
        assert!(Arc::ptr_eq(&t.spans[0].resource, &t.spans[1].resource));
        assert_eq!(keys(&res.attributes), vec!["z", "a"]);
    }

    #[test]
    fn exact_duplicates_are_dropped_keeping_order() {
        let mut dup = span(2, 1, SpanKind::Internal);
        dup.name = "x".into();
        let mut t = trace(vec![
            span(1, 0, SpanKind::Server),
            dup.clone(),
            span(3, 1, SpanKind::Internal),
            dup.clone(),
        ]);
        let mut near = dup;
        near.end_ns = 5;
        t.spans.push(near);
        dedupe_spans(&mut t);
        let ids: Vec<u64> = t.spans.iter().map(|s| s.span_id.as_u64()).collect();
        assert_eq!(ids, vec![1, 2, 3, 2]);
    }

    #[test]
    fn numeric_ips_become_dotted_quads() {
        let mut s = span(1, 0, SpanKind::Client);
        s.resource = Arc::new(Resource {
            attributes: vec![KeyValue::new("ip", Value::Int(134744072))],
            ..Default::default()
        });
        s.attributes = vec![
            KeyValue::new("peer.ipv4", Value::Double(3232235777.0)),
            KeyValue::new("other", Value::Int(134744072)),
            KeyValue::string("ip", "already"),
        ];
        let mut t = trace(vec![s]);
        normalize_ip_attributes(&mut t);
        let s = &t.spans[0];
        assert_eq!(s.resource.attributes[0].value, Value::Str("8.8.8.8".into()));
        assert_eq!(s.attributes[0].value, Value::Str("192.168.1.1".into()));
        assert_eq!(s.attributes[1].value, Value::Int(134744072));
        assert_eq!(s.attributes[2].value, Value::Str("already".into()));
    }

    #[test]
    fn library_attributes_move_to_the_shared_resource() {
        let res = Arc::new(Resource {
            attributes: vec![
                KeyValue::string("service.name", "svc"),
                KeyValue::string("telemetry.sdk.name", "opentelemetry"),
            ],
            ..Default::default()
        });
        let mut a = span(1, 0, SpanKind::Server);
        a.resource = res.clone();
        a.attributes = vec![
            KeyValue::string("telemetry.sdk.language", "rust"),
            KeyValue::string("keep", "me"),
            KeyValue::string("telemetry.sdk.name", "other"),
        ];
        let mut b = span(2, 1, SpanKind::Internal);
        b.resource = res.clone();
        b.attributes = vec![KeyValue::string("telemetry.sdk.language", "rust")];
        let mut c = span(3, 1, SpanKind::Internal);
        c.resource = res.clone();
        c.attributes = vec![KeyValue::string("telemetry.sdk.language", "go")];
        let mut t = trace(vec![a, b, c]);
        move_library_attributes(&mut t);

        let [a, b, c] = &t.spans[..] else {
            panic!("three spans expected")
        };
        assert_eq!(
            keys(&a.resource.attributes),
            vec![
                "service.name",
                "telemetry.sdk.name",
                "telemetry.sdk.language"
            ]
        );
        assert!(Arc::ptr_eq(&a.resource, &b.resource) && Arc::ptr_eq(&a.resource, &c.resource));
        assert_eq!(
            keys(&a.attributes),
            vec!["keep", "telemetry.sdk.name", "@jaeger@warnings"]
        );
        assert_eq!(
            a.warnings(),
            vec!["conflicting values between Span and Resource for attribute telemetry.sdk.name"]
        );
        // Same value already on the (now updated) resource: simply removed.
        assert!(b.attributes.is_empty());
        assert_eq!(
            c.warnings(),
            vec![
                "conflicting values between Span and Resource for attribute telemetry.sdk.language"
            ]
        );
        assert_eq!(res.attributes.len(), 2, "original resource must not change");
    }

    #[test]
    fn links_with_zero_trace_id_are_removed_with_warnings() {
        let mut s = span(1, 0, SpanKind::Server);
        let good = Link {
            trace_id: TraceId::from_u128(9),
            span_id: SpanId::from_u64(9),
            ..Default::default()
        };
        s.links = vec![Link::default(), good.clone(), Link::default()];
        let mut t = trace(vec![s]);
        remove_empty_span_links(&mut t);
        assert_eq!(t.spans[0].links, vec![good]);
        assert_eq!(
            t.spans[0].warnings(),
            vec![WARNING_INVALID_LINK, WARNING_INVALID_LINK]
        );
    }

    #[test]
    fn chain_dedupes_after_sorting() {
        // Same span with attributes in a different order: a duplicate only once sorted.
        let mut a = span(1, 0, SpanKind::Internal);
        a.attributes = vec![KeyValue::string("x", "1"), KeyValue::string("y", "2")];
        let mut b = a.clone();
        b.attributes.reverse();
        let mut t = trace(vec![a, b]);
        adjust_trace(&mut t, 0);
        assert_eq!(t.spans.len(), 1);
    }

    #[test]
    fn chain_fixes_shared_ids_before_dedup_and_skew() {
        // Zipkin-style shared span: client and server halves with one ID on two hosts.
        let host = |h: &str| {
            Arc::new(Resource {
                attributes: vec![KeyValue::string("host.name", h)],
                ..Default::default()
            })
        };
        let mut client = span(5, 0, SpanKind::Client);
        client.resource = host("a");
        (client.start_ns, client.end_ns) = (0, 100);
        let mut server = span(5, 0, SpanKind::Server);
        server.resource = host("b");
        (server.start_ns, server.end_ns) = (1_000, 1_050);
        let mut t = trace(vec![client, server]);
        adjust_trace(&mut t, 1_000_000);
        let s = &t.spans[1];
        assert_eq!((s.span_id.as_u64(), s.parent_span_id.as_u64()), (1, 5));
        // latency (100-50)/2 = 25 → delta = 25 - 1000 = -975ns, applied.
        assert_eq!((s.start_ns, s.end_ns), (25, 75));
        assert_eq!(
            s.warnings(),
            vec!["This span's timestamps were adjusted by -975ns"]
        );
    }
}
