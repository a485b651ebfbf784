//! The Jaeger view of a model span: the one derivation of a span's Jaeger tags, process,
//! references and logs from the OTLP-shaped model, following Jaeger's "OTLP → Jaeger model"
//! translation (jaeger-wire.md §g).
//!
//! Both outbound Jaeger encodings render from here — the api_v2 protobuf converter
//! ([`super::from_model`]) and the UI JSON writer (`api/http/jaeger_json.rs`) — so tag order,
//! special tags and reference types cannot drift apart between them. Everything is borrowed from
//! the span; nothing is allocated except the short reference list.

use crate::model::span::{find_attr, REF_TYPE_ATTRIBUTE, SERVICE_NAME, WARNINGS_ATTRIBUTE};
use crate::model::{Event, KeyValue, Resource, Span, SpanId, SpanKind, StatusCode, TraceId, Value};

use super::NO_SERVICE_NAME;

/// Log field carrying the event name.
const EVENT_FIELD: &str = "event";

/// The value of one Jaeger tag or log field.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TagValue<'a> {
    /// A string tag synthesized from a span field (scope, kind, status, trace state, event name).
    Str(&'a str),
    /// A bool tag synthesized from a span field (`error`).
    Bool(bool),
    /// A model attribute, whose type decides the Jaeger type.
    Attr(&'a Value),
}

/// A Jaeger tag or log field: key and value.
pub type Tag<'a> = (&'a str, TagValue<'a>);

/// Jaeger's two reference types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefType {
    ChildOf,
    FollowsFrom,
}

impl RefType {
    /// The name Jaeger's JSON uses (`CHILD_OF`, `FOLLOWS_FROM`).
    pub fn as_str(&self) -> &'static str {
        match self {
            RefType::ChildOf => "CHILD_OF",
            RefType::FollowsFrom => "FOLLOWS_FROM",
        }
    }
}

/// One Jaeger span reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reference {
    pub ref_type: RefType,
    pub trace_id: TraceId,
    pub span_id: SpanId,
}

/// The process's service name: `service.name` (a non-string one counts as ""), or Jaeger's
/// `OTLPResourceNoServiceName` for a resource without any attribute.
pub fn process_service(resource: &Resource) -> &str {
    if resource.attributes.is_empty() {
        NO_SERVICE_NAME
    } else {
        resource.service()
    }
}

/// The process tags: every resource attribute except `service.name`, in order.
pub fn process_tags(resource: &Resource) -> impl Iterator<Item = &KeyValue> {
    resource
        .attributes
        .iter()
        .filter(|kv| kv.key != SERVICE_NAME)
}

fn non_empty<'a>(key: &'static str, value: &'a str) -> Option<Tag<'a>> {
    (!value.is_empty()).then_some((key, TagValue::Str(value)))
}

/// The span's tags in Jaeger's order: `otel.scope.name`, `otel.scope.version`, the span
/// attributes (without `@jaeger@warnings`, which become the span's warnings), `span.kind`,
/// `otel.status_code`, `error` (true, for error spans), `otel.status_description`,
/// `w3c.tracestate`. Scope attributes are dropped, as Jaeger does.
pub fn span_tags(span: &Span) -> impl Iterator<Item = Tag<'_>> {
    let status_code = match span.status.code {
        StatusCode::Ok => Some("OK"),
        StatusCode::Error => Some("ERROR"),
        StatusCode::Unset => None,
    };
    let kind = (span.kind != SpanKind::Unspecified).then(|| span.kind.as_jaeger_str());
    non_empty("otel.scope.name", &span.scope.name)
        .into_iter()
        .chain(non_empty("otel.scope.version", &span.scope.version))
        .chain(
            span.attributes
                .iter()
                .filter(|kv| kv.key != WARNINGS_ATTRIBUTE)
                .map(|kv| (kv.key.as_str(), TagValue::Attr(&kv.value))),
        )
        .chain(kind.map(|k| ("span.kind", TagValue::Str(k))))
        .chain(status_code.map(|c| ("otel.status_code", TagValue::Str(c))))
        .chain(span.is_error().then_some(("error", TagValue::Bool(true))))
        .chain(non_empty("otel.status_description", &span.status.message))
        .chain(non_empty("w3c.tracestate", &span.trace_state))
}

fn link_ref_type(attributes: &[KeyValue]) -> RefType {
    match find_attr(attributes, REF_TYPE_ATTRIBUTE).and_then(Value::as_str) {
        Some("child_of") => RefType::ChildOf,
        _ => RefType::FollowsFrom,
    }
}

/// The parent as the first reference (CHILD_OF), then one reference per link, typed by its
/// `opentracing.ref_type` attribute (`child_of`, else FOLLOWS_FROM). A link to the parent itself
/// only sets the first reference's type.
pub fn references(span: &Span) -> Vec<Reference> {
    let has_parent = span.has_parent();
    let mut parent_type = RefType::ChildOf;
    let mut refs = Vec::with_capacity(span.links.len() + usize::from(has_parent));
    for link in &span.links {
        let ref_type = link_ref_type(&link.attributes);
        if has_parent && link.trace_id == span.trace_id && link.span_id == span.parent_span_id {
            parent_type = ref_type;
            continue;
        }
        refs.push(Reference {
            ref_type,
            trace_id: link.trace_id,
            span_id: link.span_id,
        });
    }
    if has_parent {
        refs.insert(
            0,
            Reference {
                ref_type: parent_type,
                trace_id: span.trace_id,
                span_id: span.parent_span_id,
            },
        );
    }
    refs
}

/// The fields of the log an event becomes: the event name as a leading `event` field (unless
/// the event is unnamed or has an `event` attribute of its own), then the attributes.
pub fn log_fields(event: &Event) -> impl Iterator<Item = Tag<'_>> {
    let name = (!event.name.is_empty() && find_attr(&event.attributes, EVENT_FIELD).is_none())
        .then_some((EVENT_FIELD, TagValue::Str(&event.name)));
    name.into_iter().chain(
        event
            .attributes
            .iter()
            .map(|kv| (kv.key.as_str(), TagValue::Attr(&kv.value))),
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::model::{Link, Scope, Status};

    #[test]
    fn tags_come_in_jaeger_order_with_the_special_ones_last() {
        let span = Span {
            kind: SpanKind::Client,
            status: Status {
                code: StatusCode::Error,
                message: "boom".into(),
            },
            trace_state: "k=v".into(),
            attributes: vec![
                KeyValue::string("a", "1"),
                KeyValue::new(WARNINGS_ATTRIBUTE, Value::Array(vec![])),
                KeyValue::new("b", Value::Int(2)),
            ],
            scope: Arc::new(Scope {
                name: "lib".into(),
                version: "1.0".into(),
                attributes: vec![KeyValue::string("dropped", "x")],
                ..Scope::default()
            }),
            ..Span::default()
        };
        let keys: Vec<&str> = span_tags(&span).map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            [
                "otel.scope.name",
                "otel.scope.version",
                "a",
                "b",
                "span.kind",
                "otel.status_code",
                "error",
                "otel.status_description",
                "w3c.tracestate"
            ]
        );
        let tags: Vec<Tag> = span_tags(&span).collect();
        assert_eq!(tags[4].1, TagValue::Str("client"));
        assert_eq!(tags[5].1, TagValue::Str("ERROR"));
        assert_eq!(tags[6].1, TagValue::Bool(true));
    }

    #[test]
    fn a_plain_span_has_only_its_attributes() {
        let span = Span {
            attributes: vec![KeyValue::string("a", "1")],
            ..Span::default()
        };
        assert_eq!(
            span_tags(&span).collect::<Vec<_>>(),
            [("a", TagValue::Attr(&Value::Str("1".into())))]
        );
    }

    #[test]
    fn a_link_to_the_parent_only_sets_the_parent_reference_type() {
        let trace = TraceId::from_u128(7);
        let other = TraceId::from_u128(8);
        let link = |t, s, ty: &str| Link {
            trace_id: t,
            span_id: SpanId::from_u64(s),
            attributes: vec![KeyValue::string(REF_TYPE_ATTRIBUTE, ty)],
            ..Link::default()
        };
        let span = Span {
            trace_id: trace,
            parent_span_id: SpanId::from_u64(1),
            links: vec![
                link(other, 2, "child_of"),
                link(trace, 1, "follows_from"),
                link(trace, 3, "other"),
            ],
            ..Span::default()
        };
        let refs: Vec<(RefType, TraceId, u64)> = references(&span)
            .iter()
            .map(|r| (r.ref_type, r.trace_id, r.span_id.as_u64()))
            .collect();
        assert_eq!(
            refs,
            [
                (RefType::FollowsFrom, trace, 1),
                (RefType::ChildOf, other, 2),
                (RefType::FollowsFrom, trace, 3),
            ]
        );
    }

    #[test]
    fn event_name_leads_unless_an_event_attribute_exists() {
        let named = Event {
            name: "retry".into(),
            attributes: vec![KeyValue::new("n", Value::Int(1))],
            ..Event::default()
        };
        let keys: Vec<&str> = log_fields(&named).map(|(k, _)| k).collect();
        assert_eq!(keys, ["event", "n"]);
        let shadowed = Event {
            name: "retry".into(),
            attributes: vec![KeyValue::string("event", "own")],
            ..Event::default()
        };
        let fields: Vec<Tag> = log_fields(&shadowed).collect();
        assert_eq!(
            fields,
            [("event", TagValue::Attr(&Value::Str("own".into())))]
        );
    }

    #[test]
    fn process_without_attributes_has_jaegers_placeholder_service() {
        assert_eq!(process_service(&Resource::default()), NO_SERVICE_NAME);
        let r = Resource {
            attributes: vec![
                KeyValue::string("host.name", "h"),
                KeyValue::new(SERVICE_NAME, Value::Int(1)),
            ],
            ..Resource::default()
        };
        assert_eq!(process_service(&r), "");
        let tags: Vec<&str> = process_tags(&r).map(|kv| kv.key.as_str()).collect();
        assert_eq!(tags, ["host.name"]);
    }
}
