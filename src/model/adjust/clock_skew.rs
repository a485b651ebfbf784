//! CorrectClockSkew, the OTLP (v2) variant (jaeger-query-semantics §2.3).
//!
//! Spans form a forest by parent ID; each span's clock is identified by its resource's host key
//! (`host.id`, else `host.ip`, else `host.name`). Walking down from each root, a child on a
//! different (or unknown) host gets a delta that fits it into its already-adjusted parent, and
//! its same-host descendants inherit that delta. A delta is applied only when `|delta| <=
//! max_delta`; otherwise — and always when `max_delta` is 0, the default — the span only gets a
//! warning. The walk is iterative so deep traces cannot overflow the stack.

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use crate::model::duration::format_go_duration;
use crate::model::ids::SpanId;
use crate::model::span::{find_attr, Resource, Span, Trace, Value};

pub const WARNING_DUPLICATE_SPAN_ID: &str = "duplicate span IDs; skipping clock skew adjustment";

/// Adjusts span (and event) timestamps for clock skew between hosts. `max_delta_ns` 0 disables
/// shifting; the warnings are still added.
pub fn correct_clock_skew(trace: &mut Trace, max_delta_ns: u64) {
    let spans = &mut trace.spans;
    let n = spans.len();

    // 1. Index spans by ID; later duplicates are left out of the forest.
    let mut index: HashMap<SpanId, usize> = HashMap::with_capacity(n);
    let mut in_forest = vec![false; n];
    for (i, span) in spans.iter_mut().enumerate() {
        match index.entry(span.span_id) {
            Entry::Occupied(_) => span.add_warning(WARNING_DUPLICATE_SPAN_ID),
            Entry::Vacant(slot) => {
                slot.insert(i);
                in_forest[i] = true;
            }
        }
    }

    // 2. Host key of every span.
    let hosts: Vec<String> = spans.iter().map(|s| host_key(&s.resource)).collect();

    // 3. Build the forest; a parent outside the trace makes the span a root.
    let mut roots = Vec::new();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); n];
    for i in (0..n).filter(|&i| in_forest[i]) {
        let parent = spans[i].parent_span_id;
        if parent.is_zero() {
            roots.push(i);
        } else if let Some(&p) = index.get(&parent) {
            children[p].push(i);
        } else {
            spans[i].add_warning(format!(
                "parent span ID={parent} is not in the trace; skipping clock skew adjustment"
            ));
            roots.push(i);
        }
    }

    // 4. Depth-first walk carrying (delta, index of the span whose host key is carried).
    let mut stack: Vec<(usize, Option<usize>, i64, usize)> = Vec::new();
    for &root in &roots {
        stack.push((root, None, 0, root));
        while let Some((node, parent, mut delta, mut host_of)) = stack.pop() {
            if let Some(p) = parent {
                let host = &hosts[node];
                if host.is_empty() || *host != hosts[host_of] {
                    delta = calculate_skew(&spans[node], &spans[p]);
                    host_of = node;
                }
            }
            apply_delta(&mut spans[node], delta, max_delta_ns);
            for &child in children[node].iter().rev() {
                stack.push((child, Some(node), delta, host_of));
            }
        }
    }
}

/// The clock identity of a resource: `host.id`, else `host.ip` (a string, or the first element
/// of an array), else `host.name`; "" when none. A present key with an unusable type ends the
/// search for `host.id` and `host.name` (Go's `Str()` of a non-string is "").
pub fn host_key(resource: &Resource) -> String {
    let attrs = &resource.attributes;
    if let Some(v) = find_attr(attrs, "host.id") {
        return v.as_str().unwrap_or_default().to_string();
    }
    match find_attr(attrs, "host.ip") {
        Some(Value::Str(s)) => return s.to_string(),
        Some(Value::Array(ips)) if !ips.is_empty() => return ips[0].to_query_string(),
        _ => {}
    }
    if let Some(v) = find_attr(attrs, "host.name") {
        return v.as_str().unwrap_or_default().to_string();
    }
    String::new()
}

/// The delta that fits `child` into `parent` (§2.3 step 5). Signed nanoseconds.
pub fn calculate_skew(child: &Span, parent: &Span) -> i64 {
    let (ps, pe) = (i128::from(parent.start_ns), i128::from(parent.end_ns));
    let (cs, ce) = (i128::from(child.start_ns), i128::from(child.end_ns));
    let (pd, cd) = (pe - ps, ce - cs);
    let delta = if cd > pd {
        // Cannot fit: at least do not start before the parent.
        if cs < ps {
            ps - cs
        } else {
            0
        }
    } else if cs >= ps && ce <= pe {
        0
    } else {
        // Assume the network latency is split evenly between request and response.
        let latency = (pd - cd) / 2;
        ps + latency - cs
    };
    delta.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

fn apply_delta(span: &mut Span, delta: i64, max_delta_ns: u64) {
    if delta == 0 {
        return;
    }
    if delta.unsigned_abs() > max_delta_ns {
        let warning = if max_delta_ns == 0 {
            format!(
                "clock skew adjustment disabled; not applying calculated delta of {}",
                format_go_duration(delta)
            )
        } else {
            format!(
                "max clock skew adjustment delta of {} exceeded; not applying calculated delta of {}",
                format_go_duration(i64::try_from(max_delta_ns).unwrap_or(i64::MAX)),
                format_go_duration(delta)
            )
        };
        span.add_warning(warning);
        return;
    }
    span.start_ns = shift(span.start_ns, delta);
    span.end_ns = shift(span.end_ns, delta);
    for event in &mut span.events {
        event.time_ns = shift(event.time_ns, delta);
    }
    span.add_warning(format!(
        "This span's timestamps were adjusted by {}",
        format_go_duration(delta)
    ));
}

fn shift(t: u64, delta: i64) -> u64 {
    (i128::from(t) + i128::from(delta)).clamp(0, i128::from(u64::MAX)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::span::{Event, KeyValue};
    use std::sync::Arc;

    const US: u64 = 1_000;

    fn host(key: &str, value: Value) -> Arc<Resource> {
        Arc::new(Resource {
            attributes: vec![KeyValue::new(key, value)],
            ..Default::default()
        })
    }

    fn span(id: u64, parent: u64, start_us: u64, dur_us: u64, res: &Arc<Resource>) -> Span {
        Span {
            span_id: SpanId::from_u64(id),
            parent_span_id: SpanId::from_u64(parent),
            start_ns: start_us * US,
            end_ns: (start_us + dur_us) * US,
            resource: res.clone(),
            ..Default::default()
        }
    }

    /// Parent on host A [0,100µs]; child on host B [150,170µs] — outside its parent.
    fn cross_host_trace() -> Trace {
        let a = host("host.name", Value::Str("a".into()));
        let b = host("host.name", Value::Str("b".into()));
        let mut child = span(2, 1, 150, 20, &b);
        child.events.push(Event {
            time_ns: 160 * US,
            name: "e".into(),
            ..Default::default()
        });
        Trace {
            spans: vec![span(1, 0, 0, 100, &a), child],
            ..Default::default()
        }
    }

    #[test]
    fn disabled_adjustment_only_warns() {
        let mut t = cross_host_trace();
        correct_clock_skew(&mut t, 0);
        // latency = (100-20)/2 = 40µs; delta = 0 + 40 - 150 = -110µs
        assert_eq!(
            t.spans[1].warnings(),
            vec!["clock skew adjustment disabled; not applying calculated delta of -110µs"]
        );
        assert_eq!(t.spans[1].start_ns, 150 * US);
        assert!(t.spans[0].warnings().is_empty());
    }

    #[test]
    fn applies_delta_to_start_end_and_events() {
        let mut t = cross_host_trace();
        correct_clock_skew(&mut t, 1_000_000_000);
        let c = &t.spans[1];
        assert_eq!((c.start_ns, c.end_ns), (40 * US, 60 * US));
        assert_eq!(c.events[0].time_ns, 50 * US);
        assert_eq!(
            c.warnings(),
            vec!["This span's timestamps were adjusted by -110µs"]
        );
    }

    #[test]
    fn delta_above_max_is_not_applied() {
        let mut t = cross_host_trace();
        correct_clock_skew(&mut t, 100 * US);
        assert_eq!(t.spans[1].start_ns, 150 * US);
        assert_eq!(
            t.spans[1].warnings(),
            vec!["max clock skew adjustment delta of 100µs exceeded; not applying calculated delta of -110µs"]
        );
    }

    #[test]
    fn same_host_descendants_inherit_the_delta() {
        let mut t = cross_host_trace();
        let b = t.spans[1].resource.clone();
        // Grandchild on host B, inside its (unadjusted) parent: moves with it anyway.
        t.spans.push(span(3, 2, 155, 5, &b));
        correct_clock_skew(&mut t, 1_000_000_000);
        assert_eq!(t.spans[2].start_ns, 45 * US);
        assert_eq!(
            t.spans[2].warnings(),
            vec!["This span's timestamps were adjusted by -110µs"]
        );
    }

    #[test]
    fn same_host_child_is_never_recomputed() {
        let a = host("host.id", Value::Str("h".into()));
        let mut t = Trace {
            spans: vec![span(1, 0, 0, 100, &a), span(2, 1, 500, 10, &a)],
            ..Default::default()
        };
        correct_clock_skew(&mut t, 0);
        assert!(t.spans[1].warnings().is_empty());
    }

    #[test]
    fn hostless_child_is_compared_with_its_parent() {
        let none = Arc::new(Resource::default());
        let mut t = Trace {
            spans: vec![span(1, 0, 0, 100, &none), span(2, 1, 500, 10, &none)],
            ..Default::default()
        };
        correct_clock_skew(&mut t, 0);
        // latency 45µs → delta = 45 - 500 = -455µs
        assert_eq!(
            t.spans[1].warnings(),
            vec!["clock skew adjustment disabled; not applying calculated delta of -455µs"]
        );
    }

    #[test]
    fn skew_rules() {
        let r = Arc::new(Resource::default());
        let parent = span(1, 0, 100, 100, &r);
        // Longer child starting early: pulled to the parent's start.
        assert_eq!(calculate_skew(&span(2, 1, 40, 300, &r), &parent), 60_000);
        // Longer child starting later: nothing to do.
        assert_eq!(calculate_skew(&span(2, 1, 150, 300, &r), &parent), 0);
        // Inside: nothing to do.
        assert_eq!(calculate_skew(&span(2, 1, 100, 100, &r), &parent), 0);
        // Sticking out to the left: centred.
        assert_eq!(calculate_skew(&span(2, 1, 90, 20, &r), &parent), 50_000);
    }

    #[test]
    fn duplicate_ids_and_missing_parents_are_warned() {
        let r = Arc::new(Resource::default());
        let mut t = Trace {
            spans: vec![
                span(1, 0, 0, 10, &r),
                span(1, 0, 0, 10, &r),
                span(3, 0xab, 0, 10, &r),
            ],
            ..Default::default()
        };
        correct_clock_skew(&mut t, 0);
        assert!(t.spans[0].warnings().is_empty());
        assert_eq!(t.spans[1].warnings(), vec![WARNING_DUPLICATE_SPAN_ID]);
        assert_eq!(
            t.spans[2].warnings(),
            vec!["parent span ID=00000000000000ab is not in the trace; skipping clock skew adjustment"]
        );
    }

    #[test]
    fn host_key_precedence() {
        let res = |attrs: Vec<KeyValue>| Resource {
            attributes: attrs,
            ..Default::default()
        };
        let name = KeyValue::string("host.name", "n");
        let ip = KeyValue::new(
            "host.ip",
            Value::Array(vec![Value::Str("10.0.0.1".into()), Value::Str("x".into())]),
        );
        let id = KeyValue::string("host.id", "i");
        assert_eq!(host_key(&res(vec![name.clone()])), "n");
        assert_eq!(host_key(&res(vec![name.clone(), ip.clone()])), "10.0.0.1");
        assert_eq!(host_key(&res(vec![name.clone(), ip.clone(), id])), "i");
        // host.ip of an unusable type falls through to host.name.
        let bad_ip = KeyValue::new("host.ip", Value::Int(5));
        assert_eq!(host_key(&res(vec![bad_ip, name])), "n");
        assert_eq!(host_key(&res(vec![])), "");
    }

    #[test]
    fn cycles_do_not_hang() {
        let r = Arc::new(Resource::default());
        let mut t = Trace {
            spans: vec![span(1, 2, 0, 10, &r), span(2, 1, 0, 10, &r)],
            ..Default::default()
        };
        correct_clock_skew(&mut t, 0);
        assert!(t.spans.iter().all(|s| s.warnings().is_empty()));
    }
}
