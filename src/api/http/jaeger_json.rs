//! The JSON bodies of Jaeger's query HTTP API: the UI trace JSON of the classic `/api/traces`
//! endpoints, the `{data,total,limit,offset,errors}` envelope, and the small api_v3 gateway
//! bodies (trace summaries, operations, errors).
//!
//! The trace conversion follows Jaeger's "OTLP → Jaeger model" translation followed by its UI
//! conversion (jaeger-wire.md §b "UI trace JSON" and §g), so tag order, process numbering and
//! value encodings match what the Jaeger UI gets from Jaeger itself. Tags, process, references
//! and logs come from `ingest::jaeger::view`, which the api_v2 protobuf converter shares. Pure functions: no I/O, no
//! HTTP types — the handlers serialize the returned `serde_json::Value`.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine;
use serde_json::{json, Map, Value as Json};

use crate::ingest::jaeger::view::{self, Reference, Tag, TagValue};
use crate::model::ids::TraceId;
use crate::model::span::{double_string, Event, Resource, Span, SpanKind, Trace, Value};
use crate::model::{Operation, TraceSummary};

pub use crate::ingest::jaeger::NO_SERVICE_NAME;
pub use crate::model::go_json::go_json_text;
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

/// `{serviceName, tags}` (see [`view::process_service`] and [`view::process_tags`]).
fn process_to_json(resource: &Resource) -> Json {
    let tags: Vec<Json> = view::process_tags(resource)
        .map(|kv| tag_json(&kv.key, &kv.value))
        .collect();
    json!({ "serviceName": view::process_service(resource), "tags": tags })
}

fn span_to_json(span: &Span, process_id: &str) -> Json {
    let warnings = span.warnings();
    json!({
        "traceID": span.trace_id.to_jaeger_hex(),
        "spanID": span.span_id.to_hex(),
        "operationName": span.name,
        "references": view::references(span).iter().map(reference_json).collect::<Vec<_>>(),
        "startTime": span.start_ns / 1_000,
        "duration": span.duration_ns() / 1_000,
        "tags": view::span_tags(span).map(jaeger_tag_json).collect::<Vec<_>>(),
        "logs": span.events.iter().map(log_json).collect::<Vec<_>>(),
        "processID": process_id,
        "warnings": if warnings.is_empty() { Json::Null } else { json!(warnings) },
    })
}

/// One tag or log field of the Jaeger view.
fn jaeger_tag_json((key, value): Tag<'_>) -> Json {
    match value {
        TagValue::Str(s) => json!({"key": key, "type": "string", "value": s}),
        TagValue::Bool(b) => json!({"key": key, "type": "bool", "value": b}),
        TagValue::Attr(v) => tag_json(key, v),
    }
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

fn reference_json(r: &Reference) -> Json {
    json!({
        "refType": r.ref_type.as_str(),
        "traceID": r.trace_id.to_jaeger_hex(),
        "spanID": r.span_id.to_hex(),
    })
}

/// `{timestamp, fields}` (see [`view::log_fields`]).
fn log_json(event: &Event) -> Json {
    let fields: Vec<Json> = view::log_fields(event).map(jaeger_tag_json).collect();
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
