//! The JSON bodies of Jaeger's query HTTP API: the UI trace JSON of the classic `/api/traces`
//! endpoints, the `{data,total,limit,offset,errors}` envelope, and the small api_v3 gateway
//! bodies (trace summaries, operations, errors).
//!
//! The trace conversion follows Jaeger's "OTLP → Jaeger model" translation followed by its UI
//! conversion (jaeger-wire.md §b "UI trace JSON" and §g), so tag order, process numbering and
//! value encodings match what the Jaeger UI gets from Jaeger itself. Tags, process, references
//! and logs come from `ingest::jaeger::view`, which the api_v2 protobuf converter shares. Pure
//! functions and `Serialize` views: no I/O, no HTTP types — the handlers serialize what is
//! returned. Traces are serialized from the borrowed model without a JSON tree.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine;
use serde::ser::{SerializeMap, SerializeStruct, Serializer};
use serde::Serialize;
use serde_json::{json, Value as Json};

use crate::ingest::jaeger::view::{self, Reference, TagValue};
use crate::model::ids::TraceId;
use crate::model::span::{double_string, Event, Resource, Span, SpanKind, Trace, Value};
use crate::model::{Operation, TraceSummary};

pub use crate::ingest::jaeger::NO_SERVICE_NAME;
pub use crate::model::go_json::go_json_text;
/// `errors[].msg` for a trace ID that was not found.
pub const TRACE_NOT_FOUND: &str = "trace not found";

/// Largest integer a JavaScript number holds exactly; larger int64 tags are sent as strings.
const MAX_SAFE_INT: i64 = (1 << 53) - 1;

/// One trace in the Jaeger UI shape: `{traceID, spans, processes, warnings}`, serialized
/// straight from the borrowed model (no intermediate JSON tree: search answers are hot). Spans
/// keep the trace's order; processes are de-duplicated by (serviceName, tags) and numbered
/// `p1…` in order of first appearance. Fields come in the order Jaeger's Go structs give them.
pub struct UiTrace<'a> {
    trace: &'a Trace,
    /// Per span, the index of its process in `processes`.
    process_of: Vec<usize>,
    /// The distinct processes, in order of first appearance.
    processes: Vec<&'a Resource>,
}

impl<'a> UiTrace<'a> {
    pub fn new(trace: &'a Trace) -> Self {
        // Looks each distinct `Arc<Resource>` up once; equal content (the process's JSON text,
        // a canonical key for (serviceName, tags)) shares one process ID.
        let mut by_ptr: HashMap<*const Resource, usize> = HashMap::new();
        let mut by_content: HashMap<Vec<u8>, usize> = HashMap::new();
        let mut processes = Vec::new();
        let process_of = trace
            .spans
            .iter()
            .map(|span| {
                *by_ptr
                    .entry(Arc::as_ptr(&span.resource))
                    .or_insert_with(|| {
                        let text =
                            serde_json::to_vec(&ProcessJson(&span.resource)).unwrap_or_default();
                        *by_content.entry(text).or_insert_with(|| {
                            processes.push(&*span.resource);
                            processes.len() - 1
                        })
                    })
            })
            .collect();
        UiTrace {
            trace,
            process_of,
            processes,
        }
    }
}

impl Serialize for UiTrace<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let trace_id = self
            .trace
            .spans
            .first()
            .map_or(self.trace.trace_id, |sp| sp.trace_id);
        let mut st = s.serialize_struct("Trace", 4)?;
        st.serialize_field("traceID", &trace_id.to_jaeger_hex())?;
        st.serialize_field("spans", &SpansJson(self))?;
        st.serialize_field("processes", &ProcessesJson(&self.processes))?;
        st.serialize_field("warnings", &())?;
        st.end()
    }
}

struct SpansJson<'t, 'a>(&'t UiTrace<'a>);

impl Serialize for SpansJson<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let ui = self.0;
        s.collect_seq(
            ui.trace
                .spans
                .iter()
                .zip(&ui.process_of)
                .map(|(span, &p)| SpanJson { span, process: p }),
        )
    }
}

struct ProcessesJson<'t, 'a>(&'t [&'a Resource]);

impl Serialize for ProcessesJson<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (i, r) in self.0.iter().enumerate() {
            m.serialize_entry(&ProcessId(i), &ProcessJson(r))?;
        }
        m.end()
    }
}

/// `p1`, `p2`, … for process index 0, 1, …
struct ProcessId(usize);

impl Serialize for ProcessId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("p{}", self.0 + 1))
    }
}

/// `{serviceName, tags}` (see [`view::process_service`] and [`view::process_tags`]).
struct ProcessJson<'a>(&'a Resource);

impl Serialize for ProcessJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Process", 2)?;
        st.serialize_field("serviceName", view::process_service(self.0))?;
        st.serialize_field(
            "tags",
            &SeqJson(|| {
                view::process_tags(self.0).map(|kv| TagJson(&kv.key, TagValue::Attr(&kv.value)))
            }),
        )?;
        st.end()
    }
}

/// A JSON array of whatever the closure's iterator yields, serialized lazily.
struct SeqJson<F>(F);

impl<F, I> Serialize for SeqJson<F>
where
    F: Fn() -> I,
    I: Iterator,
    I::Item: Serialize,
{
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq((self.0)())
    }
}

struct SpanJson<'a> {
    span: &'a Span,
    process: usize,
}

impl Serialize for SpanJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let span = self.span;
        let warnings = span.warnings();
        let mut st = s.serialize_struct("Span", 10)?;
        st.serialize_field("traceID", &span.trace_id.to_jaeger_hex())?;
        st.serialize_field("spanID", &span.span_id.to_hex())?;
        st.serialize_field("operationName", &span.name)?;
        st.serialize_field(
            "references",
            &SeqJson(|| view::references(span).into_iter().map(ReferenceJson)),
        )?;
        st.serialize_field("startTime", &(span.start_ns / 1_000))?;
        st.serialize_field("duration", &(span.duration_ns() / 1_000))?;
        st.serialize_field(
            "tags",
            &SeqJson(|| view::span_tags(span).map(|(k, v)| TagJson(k, v))),
        )?;
        st.serialize_field("logs", &SeqJson(|| span.events.iter().map(LogJson)))?;
        st.serialize_field("processID", &ProcessId(self.process))?;
        st.serialize_field("warnings", &(!warnings.is_empty()).then_some(&warnings))?;
        st.end()
    }
}

/// One `{key, type, value}` tag or log field. int64 beyond ±(2^53−1) is a decimal string;
/// binary is base64; arrays and maps are `string` tags holding Go-style JSON text; an empty
/// value is "".
pub struct TagJson<'a>(pub &'a str, pub TagValue<'a>);

impl Serialize for TagJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("KeyValue", 3)?;
        st.serialize_field("key", self.0)?;
        match self.1 {
            TagValue::Str(v) => {
                st.serialize_field("type", "string")?;
                st.serialize_field("value", v)?;
            }
            TagValue::Bool(b) => {
                st.serialize_field("type", "bool")?;
                st.serialize_field("value", &b)?;
            }
            TagValue::Attr(value) => match value {
                Value::Empty => {
                    st.serialize_field("type", "string")?;
                    st.serialize_field("value", "")?;
                }
                Value::Str(v) => {
                    st.serialize_field("type", "string")?;
                    st.serialize_field("value", v)?;
                }
                Value::Bool(b) => {
                    st.serialize_field("type", "bool")?;
                    st.serialize_field("value", b)?;
                }
                Value::Int(i) => {
                    st.serialize_field("type", "int64")?;
                    if (-MAX_SAFE_INT..=MAX_SAFE_INT).contains(i) {
                        st.serialize_field("value", i)?;
                    } else {
                        st.serialize_field("value", &i.to_string())?;
                    }
                }
                Value::Double(d) => {
                    st.serialize_field("type", "float64")?;
                    // Go would fail the whole response on NaN/Inf; we send the Go text instead.
                    if d.is_finite() {
                        st.serialize_field("value", d)?;
                    } else {
                        st.serialize_field("value", &double_string(*d))?;
                    }
                }
                Value::Bytes(b) => {
                    st.serialize_field("type", "binary")?;
                    st.serialize_field(
                        "value",
                        &base64::engine::general_purpose::STANDARD.encode(b),
                    )?;
                }
                Value::Array(_) | Value::Map(_) => {
                    st.serialize_field("type", "string")?;
                    st.serialize_field("value", &go_json_text(value))?;
                }
            },
        }
        st.end()
    }
}

struct ReferenceJson(Reference);

impl Serialize for ReferenceJson {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = &self.0;
        let mut st = s.serialize_struct("Reference", 3)?;
        st.serialize_field("refType", r.ref_type.as_str())?;
        st.serialize_field("traceID", &r.trace_id.to_jaeger_hex())?;
        st.serialize_field("spanID", &r.span_id.to_hex())?;
        st.end()
    }
}

/// `{timestamp, fields}` (see [`view::log_fields`]).
struct LogJson<'a>(&'a Event);

impl Serialize for LogJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Log", 2)?;
        st.serialize_field("timestamp", &(self.0.time_ns / 1_000))?;
        st.serialize_field(
            "fields",
            &SeqJson(|| view::log_fields(self.0).map(|(k, v)| TagJson(k, v))),
        )?;
        st.end()
    }
}

/// The classic API envelope, `{"data","total","limit":0,"offset":0,"errors"}` in Jaeger's field
/// order, serialized without a JSON tree around its (borrowed) data.
#[derive(Serialize)]
pub struct Envelope<D: Serialize> {
    data: D,
    total: usize,
    limit: usize,
    offset: usize,
    errors: Option<Vec<Json>>,
}

/// The classic API envelope; `errors: null` when `None`.
pub fn envelope<D: Serialize>(data: D, total: usize, errors: Option<Vec<Json>>) -> Envelope<D> {
    Envelope {
        data,
        total,
        limit: 0,
        offset: 0,
        errors,
    }
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
pub fn error_envelope(code: u16, msg: &str) -> Envelope<()> {
    envelope((), 0, Some(vec![error_item(code, msg)]))
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
