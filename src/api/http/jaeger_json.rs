//! The JSON bodies of Jaeger's query HTTP API: the UI trace JSON of the classic `/api/traces`
//! endpoints, the `{data,total,limit,offset,errors}` envelope, and the small api_v3 gateway
//! bodies (trace summaries, operations, errors).
//!
//! The trace conversion follows Jaeger's "OTLP → Jaeger model" translation followed by its UI
//! conversion (jaeger-wire.md §b "UI trace JSON" and §g), so tag order, process numbering and
//! value encodings match what the Jaeger UI gets from Jaeger itself. Pure functions: no I/O, no
//! HTTP types — the handlers serialize the returned `serde_json::Value`.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine;
use serde_json::{json, Map, Value as Json};

use crate::model::ids::{SpanId, TraceId};
use crate::model::span::{
    double_string, find_attr, Event, KeyValue, Link, Resource, Span, SpanKind, StatusCode, Trace,
    Value, REF_TYPE_ATTRIBUTE, SERVICE_NAME, WARNINGS_ATTRIBUTE,
};
use crate::model::{Operation, TraceSummary};

pub use crate::model::go_json::go_json_text;

/// Service name Jaeger gives a resource with no attributes at all.
pub const NO_SERVICE_NAME: &str = "OTLPResourceNoServiceName";
/// `errors[].msg` for a trace ID that was not found.
pub const TRACE_NOT_FOUND: &str = "trace not found";

/// Largest integer a JavaScript number holds exactly; larger int64 tags are sent as strings.
const MAX_SAFE_INT: i64 = (1 << 53) - 1;

/// One trace in the Jaeger UI shape: `{traceID, spans, processes, warnings}`. Spans keep the
/// trace's order; processes are de-duplicated by (serviceName, tags) and numbered `p1…` in
/// order of first appearance.
pub fn trace_to_json(trace: &Trace) -> Json {
    let mut processes = Processes::default();
    let spans: Vec<Json> = trace
        .spans
        .iter()
        .map(|span| {
            let pid = processes.id_for(&span.resource);
            span_to_json(span, &pid)
        })
        .collect();
    let trace_id = trace.spans.first().map_or(trace.trace_id, |s| s.trace_id);
    json!({
        "traceID": trace_id.to_jaeger_hex(),
        "spans": spans,
        "processes": processes.into_json(),
        "warnings": null,
    })
}

/// Process table of one trace. Looks each distinct `Arc<Resource>` up once.
#[derive(Default)]
struct Processes {
    by_resource: HashMap<*const Resource, String>,
    by_content: HashMap<String, String>,
    list: Vec<(String, Json)>,
}

impl Processes {
    fn id_for(&mut self, resource: &Arc<Resource>) -> String {
        if let Some(id) = self.by_resource.get(&Arc::as_ptr(resource)) {
            return id.clone();
        }
        let process = process_to_json(resource);
        // serde_json's text of the process is a canonical key for (serviceName, tags).
        let key = process.to_string();
        let id = match self.by_content.get(&key) {
            Some(id) => id.clone(),
            None => {
                let id = format!("p{}", self.list.len() + 1);
                self.by_content.insert(key, id.clone());
                self.list.push((id.clone(), process));
                id
            }
        };
        self.by_resource.insert(Arc::as_ptr(resource), id.clone());
        id
    }

    fn into_json(self) -> Json {
        Json::Object(self.list.into_iter().collect::<Map<String, Json>>())
    }
}

/// `{serviceName, tags}`: `service.name` becomes the service name (a non-string one counts as
/// ""), every other resource attribute a tag; a resource without attributes is Jaeger's
/// `OTLPResourceNoServiceName`.
fn process_to_json(resource: &Resource) -> Json {
    let service = if resource.attributes.is_empty() {
        NO_SERVICE_NAME
    } else {
        find_attr(&resource.attributes, SERVICE_NAME)
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    let tags: Vec<Json> = resource
        .attributes
        .iter()
        .filter(|kv| kv.key != SERVICE_NAME)
        .map(|kv| tag_json(&kv.key, &kv.value))
        .collect();
    json!({ "serviceName": service, "tags": tags })
}

fn span_to_json(span: &Span, process_id: &str) -> Json {
    let warnings = span.warnings();
    json!({
        "traceID": span.trace_id.to_jaeger_hex(),
        "spanID": span.span_id.to_hex(),
        "operationName": span.name,
        "references": references_json(span),
        "startTime": span.start_ns / 1_000,
        "duration": span.duration_ns() / 1_000,
        "tags": span_tags_json(span),
        "logs": span.events.iter().map(log_json).collect::<Vec<_>>(),
        "processID": process_id,
        "warnings": if warnings.is_empty() { Json::Null } else { json!(warnings) },
    })
}

/// Tag order: scope name/version, span attributes (minus `@jaeger@warnings`), `span.kind`,
/// `otel.status_code`, `error`, `otel.status_description`, `w3c.tracestate`.
fn span_tags_json(span: &Span) -> Vec<Json> {
    let mut tags = Vec::with_capacity(span.attributes.len() + 4);
    let string_tag = |key: &str, value: &str| json!({"key": key, "type": "string", "value": value});
    if !span.scope.name.is_empty() {
        tags.push(string_tag("otel.scope.name", &span.scope.name));
    }
    if !span.scope.version.is_empty() {
        tags.push(string_tag("otel.scope.version", &span.scope.version));
    }
    tags.extend(
        span.attributes
            .iter()
            .filter(|kv| kv.key != WARNINGS_ATTRIBUTE)
            .map(|kv| tag_json(&kv.key, &kv.value)),
    );
    if span.kind != SpanKind::Unspecified {
        tags.push(string_tag("span.kind", span.kind.as_jaeger_str()));
    }
    match span.status.code {
        StatusCode::Ok => tags.push(string_tag("otel.status_code", "OK")),
        StatusCode::Error => {
            tags.push(string_tag("otel.status_code", "ERROR"));
            tags.push(json!({"key": "error", "type": "bool", "value": true}));
        }
        StatusCode::Unset => {}
    }
    if !span.status.message.is_empty() {
        tags.push(string_tag("otel.status_description", &span.status.message));
    }
    if !span.trace_state.is_empty() {
        tags.push(string_tag("w3c.tracestate", &span.trace_state));
    }
    tags
}

/// One `{key, type, value}`. int64 beyond ±(2^53−1) is a decimal string; binary is base64;
/// arrays and maps are `string` tags holding Go-style JSON text; an empty value is "".
pub fn tag_json(key: &str, value: &Value) -> Json {
    let (ty, v) = match value {
        Value::Empty => ("string", json!("")),
        Value::Str(s) => ("string", json!(s)),
        Value::Bool(b) => ("bool", json!(b)),
        Value::Int(i) if (-MAX_SAFE_INT..=MAX_SAFE_INT).contains(i) => ("int64", json!(i)),
        Value::Int(i) => ("int64", json!(i.to_string())),
        // Go would fail the whole response on NaN/Inf; we send the Go text instead.
        Value::Double(d) => (
            "float64",
            serde_json::Number::from_f64(*d).map_or_else(|| json!(double_string(*d)), Json::Number),
        ),
        Value::Bytes(b) => (
            "binary",
            json!(base64::engine::general_purpose::STANDARD.encode(b)),
        ),
        Value::Array(_) | Value::Map(_) => ("string", json!(go_json_text(value))),
    };
    json!({"key": key, "type": ty, "value": v})
}

fn reference_json(ref_type: &str, trace_id: &TraceId, span_id: &SpanId) -> Json {
    json!({"refType": ref_type, "traceID": trace_id.to_jaeger_hex(), "spanID": span_id.to_hex()})
}

fn link_ref_type(link: &Link) -> &'static str {
    match find_attr(&link.attributes, REF_TYPE_ATTRIBUTE).and_then(Value::as_str) {
        Some("child_of") => "CHILD_OF",
        _ => "FOLLOWS_FROM",
    }
}

/// The parent as a first CHILD_OF reference, then one reference per link. A link to the parent
/// itself only sets the first reference's type.
fn references_json(span: &Span) -> Vec<Json> {
    let has_parent = span.has_parent();
    let mut parent_type = "CHILD_OF";
    let mut refs = Vec::with_capacity(span.links.len() + 1);
    if has_parent {
        refs.push(Json::Null); // filled in below, once the parent's type is known
    }
    for link in &span.links {
        let ty = link_ref_type(link);
        if has_parent && link.trace_id == span.trace_id && link.span_id == span.parent_span_id {
            parent_type = ty;
            continue;
        }
        refs.push(reference_json(ty, &link.trace_id, &link.span_id));
    }
    if has_parent {
        refs[0] = reference_json(parent_type, &span.trace_id, &span.parent_span_id);
    }
    refs
}

/// `{timestamp, fields}`; the event name becomes a leading `event` field unless the event is
/// unnamed or already has an `event` attribute.
fn log_json(event: &Event) -> Json {
    let mut fields = Vec::with_capacity(event.attributes.len() + 1);
    if !event.name.is_empty() && find_attr(&event.attributes, "event").is_none() {
        fields.push(json!({"key": "event", "type": "string", "value": event.name}));
    }
    fields.extend(
        event
            .attributes
            .iter()
            .map(|kv: &KeyValue| tag_json(&kv.key, &kv.value)),
    );
    json!({"timestamp": event.time_ns / 1_000, "fields": fields})
}

/// The classic API envelope: `{"data","total","limit":0,"offset":0,"errors"}`; `errors: null`
/// when `None`.
pub fn envelope(data: Json, total: usize, errors: Option<Vec<Json>>) -> Json {
    json!({
        "data": data,
        "total": total,
        "limit": 0,
        "offset": 0,
        "errors": errors,
    })
}

/// One `errors[]` item `{code, msg}`; `code` is omitted when 0, as Jaeger does.
pub fn error_item(code: u16, msg: &str) -> Json {
    if code == 0 {
        json!({ "msg": msg })
    } else {
        json!({ "code": code, "msg": msg })
    }
}

/// The body of a classic API error: `data: null` and one error.
pub fn error_envelope(code: u16, msg: &str) -> Json {
    envelope(Json::Null, 0, Some(vec![error_item(code, msg)]))
}

/// The `errors[]` item for a trace ID that `/api/traces?traceID=…` could not find:
/// `{"msg":"trace not found","traceID":"…"}` (no code, as in Jaeger).
pub fn trace_not_found_item(trace_id: &TraceId) -> Json {
    json!({ "msg": TRACE_NOT_FOUND, "traceID": trace_id.to_jaeger_hex() })
}

/// An api_v3 gateway error body: `{"error":{"httpCode":…,"message":…}}`.
pub fn v3_error_json(http_code: u16, message: &str) -> Json {
    json!({ "error": { "httpCode": http_code, "message": message } })
}

/// One api_v3 `TraceSummary` in proto-JSON: 32-hex `traceId`, nanosecond times as decimal
/// strings (fixed64), counts as numbers.
pub fn summary_to_json(s: &TraceSummary) -> Json {
    let services: Vec<Json> = s
        .services
        .iter()
        .map(|svc| {
            json!({
                "name": svc.name,
                "spanCount": svc.span_count,
                "errorSpanCount": svc.error_span_count,
            })
        })
        .collect();
    json!({
        "traceId": s.trace_id.to_hex32(),
        "rootServiceName": s.root_service_name,
        "rootOperationName": s.root_operation_name,
        "minStartTimeUnixNano": s.min_start_ns.to_string(),
        "maxEndTimeUnixNano": s.max_end_ns.to_string(),
        "spanCount": s.span_count,
        "errorSpanCount": s.error_span_count,
        "orphanSpanCount": s.orphan_span_count,
        "services": services,
    })
}

/// The `/api/v3/trace-summaries` body: `{"summaries":[…]}`.
pub fn summaries_json(summaries: &[TraceSummary]) -> Json {
    json!({ "summaries": summaries.iter().map(summary_to_json).collect::<Vec<_>>() })
}

/// `/api/v3/operations`: `{"operations":[{"name","spanKind"}]}`. Jaeger's HTTP gateway reports
/// an unspecified kind as `internal`.
pub fn operations_v3_json(ops: &[Operation]) -> Json {
    let ops: Vec<Json> = ops
        .iter()
        .map(|op| {
            let kind = match op.span_kind {
                SpanKind::Unspecified => SpanKind::Internal.as_jaeger_str(),
                k => k.as_jaeger_str(),
            };
            json!({ "name": op.name, "spanKind": kind })
        })
        .collect();
    json!({ "operations": ops })
}

/// Classic `/api/operations` data: `[{"name","spanKind"}]`, unspecified kind as "".
pub fn operations_json(ops: &[Operation]) -> Json {
    Json::Array(
        ops.iter()
            .map(|op| json!({ "name": op.name, "spanKind": op.span_kind.as_jaeger_str() }))
            .collect(),
    )
}

#[cfg(test)]
mod tests;
