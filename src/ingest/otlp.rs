//! OTLP traces ⇄ model: the one OTLP converter, both directions. The OTLP gRPC service, OTLP/HTTP
//! (protobuf and JSON), the remote-storage writer and the api_v3 / storage v2 readers all call it.
//!
//! Inbound: [`decode_protobuf`] / [`decode_json`] turn a body into an `ExportTraceServiceRequest`;
//! [`to_model`] validates span by span, applies Jaeger v2's storage-exporter sanitizers (service
//! name and span name only) and moves every field into the model — strings are taken out of the
//! request, never cloned; one `Arc<Resource>` per ResourceSpans, one `Arc<Scope>` per ScopeSpans.
//! Outbound: [`from_model`] regroups spans into ResourceSpans/ScopeSpans and
//! [`traces_data_to_json`] prints spec OTLP/JSON (what Jaeger's `/api/v3` returns).
//!
//! Hot path (every ingested span passes through [`to_model`]): no per-span logging, no per-span
//! `format!` except for the few rejected spans that get a message, no clone of span content.
//!
//! OTLP/JSON is decoded by hand from a `serde_json::Value` rather than with the `with-serde`
//! derive of `opentelemetry-proto`: the derive rejects spec-valid documents (`"arrayValue": {}` /
//! `"kvlistValue": {}` with the empty `values` omitted, as protobuf-JSON encoders write them,
//! `null` for repeated fields, `"NaN"` / `"Infinity"` doubles) and its errors do not say where.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest,
};
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, EntityRef, InstrumentationScope, KeyValue as PbKeyValue,
    KeyValueList,
};
use opentelemetry_proto::tonic::resource::v1::Resource as PbResource;
use opentelemetry_proto::tonic::trace::v1::{
    span as pb_span, status as pb_status, ResourceSpans, ScopeSpans, Span as PbSpan,
    Status as PbStatus, TracesData,
};
use prost::Message as _;
use serde_json::{Map, Value as Json};
use thiserror::Error;

use super::IngestError;
use crate::model::span::SERVICE_NAME;
use crate::model::{
    Event, KeyValue, Link, Resource, Scope, Span, SpanBatch, SpanId, SpanKind, Status, StatusCode,
    TraceId, Value,
};

/// Jaeger v2 storage exporter: the resource has no `service.name`.
pub const MISSING_SERVICE_NAME: &str = "missing-service-name";
/// Jaeger v2 storage exporter: `service.name` is not a string.
pub const SERVICE_NAME_WRONG_TYPE: &str = "service-name-wrong-type";
/// Jaeger v2 storage exporter: `service.name` is the empty string.
pub const EMPTY_SERVICE_NAME: &str = "empty-service-name";
/// Jaeger v2 storage exporter: the span name is empty.
pub const EMPTY_SPAN_NAME: &str = "empty-span-name";
/// At most this many rejection messages are kept per request (the count is always exact).
pub const MAX_ERROR_MESSAGES: usize = 10;

// ---------------------------------------------------------------------------------------------
// Inbound
// ---------------------------------------------------------------------------------------------

/// Decodes an OTLP/gRPC or OTLP/HTTP protobuf body.
pub fn decode_protobuf(body: &[u8]) -> Result<ExportTraceServiceRequest, IngestError> {
    ExportTraceServiceRequest::decode(body).map_err(|source| IngestError::Protobuf { source })
}

/// Decodes an OTLP/HTTP JSON body as the OTLP spec defines it: lowerCamelCase keys (the proto
/// field names are accepted too), hex `traceId`/`spanId`, 64-bit integers as strings or numbers,
/// enums as integers (or their names), bytes as base64, unknown keys ignored, `null` = default.
pub fn decode_json(body: &[u8]) -> Result<ExportTraceServiceRequest, IngestError> {
    let doc: Json = serde_json::from_slice(body).map_err(json_syntax_error)?;
    json_in::request(doc)
}

fn json_syntax_error(source: serde_json::Error) -> IngestError {
    let (line, column) = (source.line(), source.column());
    let full = source.to_string();
    let suffix = format!(" at line {line} column {column}");
    let message = full.strip_suffix(&suffix).unwrap_or(&full).to_string();
    IngestError::JsonSyntax {
        line,
        column,
        message,
        source,
    }
}

/// The accepted spans of one request, and what was rejected.
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
    /// The OTLP partial-success answer, or `None` when every span was accepted.
    pub fn partial_success(&self) -> Option<ExportTracePartialSuccess> {
        if self.rejected_spans == 0 {
            return None;
        }
        let mut error_message = self.errors.join("; ");
        let unlisted = self.rejected_spans.saturating_sub(self.errors.len() as u64);
        if unlisted > 0 {
            error_message.push_str(&format!("; and {unlisted} more rejected spans"));
        }
        Some(ExportTracePartialSuccess {
            rejected_spans: i64::try_from(self.rejected_spans).unwrap_or(i64::MAX),
            error_message,
        })
    }
}

/// Why one span was rejected. Formatted only for the first [`MAX_ERROR_MESSAGES`] rejections.
#[derive(Debug, Error, PartialEq)]
enum SpanProblem {
    #[error("trace_id must be 16 bytes, got {0}")]
    TraceIdLength(usize),
    #[error("trace_id must not be all zeros")]
    TraceIdZero,
    #[error("span_id must be 8 bytes, got {0}")]
    SpanIdLength(usize),
    #[error("span_id must not be all zeros")]
    SpanIdZero,
    #[error("parent_span_id must be empty or 8 bytes, got {0}")]
    ParentSpanIdLength(usize),
    #[error("links[{0}].trace_id must be empty or 16 bytes, got {1}")]
    LinkTraceIdLength(usize, usize),
    #[error("links[{0}].span_id must be empty or 8 bytes, got {1}")]
    LinkSpanIdLength(usize, usize),
}

/// Validates and converts a decoded request. Invalid spans are counted and described in
/// [`Decoded`]; the valid spans of the same request are kept, in request order.
pub fn to_model(req: ExportTraceServiceRequest) -> Decoded {
    let total: usize = req
        .resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .map(|ss| ss.spans.len())
        .sum();
    let mut out = Decoded {
        batch: SpanBatch {
            spans: Vec::with_capacity(total),
        },
        ..Decoded::default()
    };
    for (ri, rs) in req.resource_spans.into_iter().enumerate() {
        if rs.scope_spans.iter().all(|ss| ss.spans.is_empty()) {
            continue;
        }
        let resource = Arc::new(resource_to_model(rs.resource, rs.schema_url));
        for (si, ss) in rs.scope_spans.into_iter().enumerate() {
            if ss.spans.is_empty() {
                continue;
            }
            let scope = Arc::new(scope_to_model(ss.scope, ss.schema_url));
            for (pi, span) in ss.spans.into_iter().enumerate() {
                match span_to_model(span, &resource, &scope) {
                    Ok(span) => out.batch.spans.push(span),
                    Err(problem) => {
                        out.rejected_spans += 1;
                        if out.errors.len() < MAX_ERROR_MESSAGES {
                            out.errors.push(format!(
                                "resource_spans[{ri}].scope_spans[{si}].spans[{pi}]: {problem}"
                            ));
                        }
                    }
                }
            }
        }
    }
    out
}

fn resource_to_model(resource: Option<PbResource>, schema_url: String) -> Resource {
    // `entity_refs` (development-status OTLP) has no place in the model and is dropped.
    let (attributes, dropped_attributes_count) = resource
        .map(|r| (r.attributes, r.dropped_attributes_count))
        .unwrap_or_default();
    let mut attributes = attrs_to_model(attributes);
    sanitize_service_name(&mut attributes);
    Resource {
        attributes,
        dropped_attributes_count,
        schema_url,
    }
}

/// Jaeger v2's storage-exporter service-name sanitizer: every stored resource has a non-empty
/// string `service.name`.
fn sanitize_service_name(attributes: &mut Vec<KeyValue>) {
    match attributes.iter_mut().find(|kv| kv.key == SERVICE_NAME) {
        None => attributes.push(KeyValue::string(SERVICE_NAME, MISSING_SERVICE_NAME)),
        Some(kv) => match &mut kv.value {
            Value::Str(s) if s.is_empty() => *s = EMPTY_SERVICE_NAME.to_string(),
            Value::Str(_) => {}
            other => *other = Value::Str(SERVICE_NAME_WRONG_TYPE.to_string()),
        },
    }
}

fn scope_to_model(scope: Option<InstrumentationScope>, schema_url: String) -> Scope {
    let scope = scope.unwrap_or_default();
    Scope {
        name: scope.name,
        version: scope.version,
        attributes: attrs_to_model(scope.attributes),
        dropped_attributes_count: scope.dropped_attributes_count,
        schema_url,
    }
}

fn span_to_model(
    span: PbSpan,
    resource: &Arc<Resource>,
    scope: &Arc<Scope>,
) -> Result<Span, SpanProblem> {
    if span.trace_id.len() != 16 {
        return Err(SpanProblem::TraceIdLength(span.trace_id.len()));
    }
    let trace_id = TraceId::from_slice(&span.trace_id)
        .map_err(|_| SpanProblem::TraceIdLength(span.trace_id.len()))?;
    if trace_id.is_zero() {
        return Err(SpanProblem::TraceIdZero);
    }
    let span_id = SpanId::from_slice(&span.span_id)
        .map_err(|_| SpanProblem::SpanIdLength(span.span_id.len()))?;
    if span_id.is_zero() {
        return Err(SpanProblem::SpanIdZero);
    }
    let parent_span_id = match span.parent_span_id.len() {
        0 => SpanId::ZERO,
        _ => SpanId::from_slice(&span.parent_span_id)
            .map_err(|_| SpanProblem::ParentSpanIdLength(span.parent_span_id.len()))?,
    };
    let links = span
        .links
        .into_iter()
        .enumerate()
        .map(|(i, l)| link_to_model(i, l))
        .collect::<Result<Vec<_>, _>>()?;
    let name = if span.name.is_empty() {
        EMPTY_SPAN_NAME.to_string()
    } else {
        span.name
    };
    let status = span.status.unwrap_or_default();
    Ok(Span {
        trace_id,
        span_id,
        parent_span_id,
        trace_state: span.trace_state,
        name,
        kind: SpanKind::from_i32(span.kind),
        start_ns: span.start_time_unix_nano,
        end_ns: span.end_time_unix_nano,
        attributes: attrs_to_model(span.attributes),
        dropped_attributes_count: span.dropped_attributes_count,
        events: span
            .events
            .into_iter()
            .map(|e| Event {
                time_ns: e.time_unix_nano,
                name: e.name,
                attributes: attrs_to_model(e.attributes),
                dropped_attributes_count: e.dropped_attributes_count,
            })
            .collect(),
        dropped_events_count: span.dropped_events_count,
        links,
        dropped_links_count: span.dropped_links_count,
        status: Status {
            code: StatusCode::from_i32(status.code),
            message: status.message,
        },
        flags: span.flags,
        resource: Arc::clone(resource),
        scope: Arc::clone(scope),
    })
}

/// Link IDs may be empty (an invalid / unset context, which Go's pdata encodes by omitting the
/// field); any other length than the ID width rejects the span.
fn link_to_model(i: usize, link: pb_span::Link) -> Result<Link, SpanProblem> {
    let trace_id = match link.trace_id.len() {
        0 => TraceId::ZERO,
        16 => TraceId::from_slice(&link.trace_id)
            .map_err(|_| SpanProblem::LinkTraceIdLength(i, 16))?,
        n => return Err(SpanProblem::LinkTraceIdLength(i, n)),
    };
    let span_id = match link.span_id.len() {
        0 => SpanId::ZERO,
        n => SpanId::from_slice(&link.span_id).map_err(|_| SpanProblem::LinkSpanIdLength(i, n))?,
    };
    Ok(Link {
        trace_id,
        span_id,
        trace_state: link.trace_state,
        attributes: attrs_to_model(link.attributes),
        dropped_attributes_count: link.dropped_attributes_count,
        flags: link.flags,
    })
}

fn attrs_to_model(attributes: Vec<PbKeyValue>) -> Vec<KeyValue> {
    attributes
        .into_iter()
        .map(|kv| KeyValue {
            key: kv.key,
            value: kv.value.map_or(Value::Empty, value_to_model),
        })
        .collect()
}

fn value_to_model(v: AnyValue) -> Value {
    use any_value::Value as V;
    match v.value {
        None => Value::Empty,
        Some(V::StringValue(s)) => Value::Str(s),
        Some(V::BoolValue(b)) => Value::Bool(b),
        Some(V::IntValue(i)) => Value::Int(i),
        Some(V::DoubleValue(d)) => Value::Double(d),
        Some(V::BytesValue(b)) => Value::Bytes(b),
        Some(V::ArrayValue(a)) => Value::Array(a.values.into_iter().map(value_to_model).collect()),
        Some(V::KvlistValue(kvs)) => Value::Map(attrs_to_model(kvs.values)),
        // An index into the profiles signal's string table: meaningless in a trace.
        Some(V::StringValueStrindex(_)) => Value::Empty,
    }
}

// ---------------------------------------------------------------------------------------------
// Outbound
// ---------------------------------------------------------------------------------------------

/// Groups consecutive spans sharing a resource into one ResourceSpans and, within it,
/// consecutive spans sharing a scope into one ScopeSpans; span order is kept. The inverse of
/// [`to_model`] (after its sanitizers).
pub fn from_model(spans: &[Span]) -> TracesData {
    let resource_spans = spans
        .chunk_by(|a, b| same(&a.resource, &b.resource))
        .map(|group| {
            let resource = &group[0].resource;
            ResourceSpans {
                resource: Some(PbResource {
                    attributes: attrs_to_pb(&resource.attributes),
                    dropped_attributes_count: resource.dropped_attributes_count,
                    entity_refs: Vec::new(),
                }),
                scope_spans: group
                    .chunk_by(|a, b| same(&a.scope, &b.scope))
                    .map(|group| {
                        let scope = &group[0].scope;
                        ScopeSpans {
                            scope: Some(InstrumentationScope {
                                name: scope.name.clone(),
                                version: scope.version.clone(),
                                attributes: attrs_to_pb(&scope.attributes),
                                dropped_attributes_count: scope.dropped_attributes_count,
                            }),
                            spans: group.iter().map(span_to_pb).collect(),
                            schema_url: scope.schema_url.clone(),
                        }
                    })
                    .collect(),
                schema_url: resource.schema_url.clone(),
            }
        })
        .collect();
    TracesData { resource_spans }
}

/// [`from_model`] as an export request (remote-storage writers, forwarding).
pub fn export_request(spans: &[Span]) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: from_model(spans).resource_spans,
    }
}

fn same<T: PartialEq>(a: &Arc<T>, b: &Arc<T>) -> bool {
    Arc::ptr_eq(a, b) || **a == **b
}

fn span_to_pb(s: &Span) -> PbSpan {
    PbSpan {
        trace_id: s.trace_id.0.to_vec(),
        span_id: s.span_id.0.to_vec(),
        trace_state: s.trace_state.clone(),
        parent_span_id: if s.parent_span_id.is_zero() {
            Vec::new()
        } else {
            s.parent_span_id.0.to_vec()
        },
        flags: s.flags,
        name: s.name.clone(),
        kind: s.kind as i32,
        start_time_unix_nano: s.start_ns,
        end_time_unix_nano: s.end_ns,
        attributes: attrs_to_pb(&s.attributes),
        dropped_attributes_count: s.dropped_attributes_count,
        events: s
            .events
            .iter()
            .map(|e| pb_span::Event {
                time_unix_nano: e.time_ns,
                name: e.name.clone(),
                attributes: attrs_to_pb(&e.attributes),
                dropped_attributes_count: e.dropped_attributes_count,
            })
            .collect(),
        dropped_events_count: s.dropped_events_count,
        links: s
            .links
            .iter()
            .map(|l| pb_span::Link {
                trace_id: l.trace_id.0.to_vec(),
                span_id: l.span_id.0.to_vec(),
                trace_state: l.trace_state.clone(),
                attributes: attrs_to_pb(&l.attributes),
                dropped_attributes_count: l.dropped_attributes_count,
                flags: l.flags,
            })
            .collect(),
        dropped_links_count: s.dropped_links_count,
        status: Some(PbStatus {
            message: s.status.message.clone(),
            code: s.status.code as i32,
        }),
    }
}

fn attrs_to_pb(attributes: &[KeyValue]) -> Vec<PbKeyValue> {
    attributes
        .iter()
        .map(|kv| PbKeyValue {
            key: kv.key.clone(),
            value: Some(value_to_pb(&kv.value)),
            key_strindex: 0,
        })
        .collect()
}

fn value_to_pb(v: &Value) -> AnyValue {
    use any_value::Value as V;
    let value = match v {
        Value::Empty => None,
        Value::Str(s) => Some(V::StringValue(s.clone())),
        Value::Bool(b) => Some(V::BoolValue(*b)),
        Value::Int(i) => Some(V::IntValue(*i)),
        Value::Double(d) => Some(V::DoubleValue(*d)),
        Value::Bytes(b) => Some(V::BytesValue(b.clone())),
        Value::Array(vs) => Some(V::ArrayValue(ArrayValue {
            values: vs.iter().map(value_to_pb).collect(),
        })),
        Value::Map(kvs) => Some(V::KvlistValue(KeyValueList {
            values: attrs_to_pb(kvs),
        })),
    };
    AnyValue { value }
}

/// Spec OTLP/JSON of a TracesData, as Jaeger's `/api/v3` returns it: lowerCamelCase keys, hex
/// IDs, `kind` and status `code` as integers, 64-bit integers and nanosecond times as decimal
/// strings, bytes as base64, non-finite doubles as `"NaN"`/`"Infinity"`/`"-Infinity"`. Default
/// scalars and empty lists are omitted; `resource`, `scope` and `status` are always written
/// (as pdata does), and `arrayValue`/`kvlistValue` always carry their `values` list.
pub fn traces_data_to_json(td: &TracesData) -> Json {
    let mut root = Map::new();
    root.insert(
        "resourceSpans".into(),
        Json::Array(
            td.resource_spans
                .iter()
                .map(json_out::resource_spans)
                .collect(),
        ),
    );
    Json::Object(root)
}

mod json_out {
    use super::*;

    pub(super) fn resource_spans(rs: &ResourceSpans) -> Json {
        let mut m = Map::new();
        let mut res = Map::new();
        if let Some(r) = &rs.resource {
            put_attrs(&mut res, "attributes", &r.attributes);
            put_u32(
                &mut res,
                "droppedAttributesCount",
                r.dropped_attributes_count,
            );
            if !r.entity_refs.is_empty() {
                let refs = r.entity_refs.iter().map(entity_ref).collect();
                res.insert("entityRefs".into(), Json::Array(refs));
            }
        }
        m.insert("resource".into(), Json::Object(res));
        let scope_spans = rs.scope_spans.iter().map(scope_spans).collect();
        m.insert("scopeSpans".into(), Json::Array(scope_spans));
        put_str(&mut m, "schemaUrl", &rs.schema_url);
        Json::Object(m)
    }

    fn entity_ref(e: &EntityRef) -> Json {
        let mut m = Map::new();
        put_str(&mut m, "schemaUrl", &e.schema_url);
        put_str(&mut m, "type", &e.r#type);
        for (key, list) in [
            ("idKeys", &e.id_keys),
            ("descriptionKeys", &e.description_keys),
        ] {
            if !list.is_empty() {
                let list = list.iter().map(|s| Json::String(s.clone())).collect();
                m.insert(key.into(), Json::Array(list));
            }
        }
        Json::Object(m)
    }

    fn scope_spans(ss: &ScopeSpans) -> Json {
        let mut m = Map::new();
        let mut scope = Map::new();
        if let Some(s) = &ss.scope {
            put_str(&mut scope, "name", &s.name);
            put_str(&mut scope, "version", &s.version);
            put_attrs(&mut scope, "attributes", &s.attributes);
            put_u32(
                &mut scope,
                "droppedAttributesCount",
                s.dropped_attributes_count,
            );
        }
        m.insert("scope".into(), Json::Object(scope));
        m.insert(
            "spans".into(),
            Json::Array(ss.spans.iter().map(span).collect()),
        );
        put_str(&mut m, "schemaUrl", &ss.schema_url);
        Json::Object(m)
    }

    fn span(s: &PbSpan) -> Json {
        let mut m = Map::new();
        put_hex(&mut m, "traceId", &s.trace_id);
        put_hex(&mut m, "spanId", &s.span_id);
        put_str(&mut m, "traceState", &s.trace_state);
        put_hex(&mut m, "parentSpanId", &s.parent_span_id);
        put_u32(&mut m, "flags", s.flags);
        put_str(&mut m, "name", &s.name);
        if s.kind != 0 {
            m.insert("kind".into(), Json::from(s.kind));
        }
        put_nanos(&mut m, "startTimeUnixNano", s.start_time_unix_nano);
        put_nanos(&mut m, "endTimeUnixNano", s.end_time_unix_nano);
        put_attrs(&mut m, "attributes", &s.attributes);
        put_u32(&mut m, "droppedAttributesCount", s.dropped_attributes_count);
        if !s.events.is_empty() {
            m.insert("events".into(), s.events.iter().map(event).collect());
        }
        put_u32(&mut m, "droppedEventsCount", s.dropped_events_count);
        if !s.links.is_empty() {
            m.insert("links".into(), s.links.iter().map(link).collect());
        }
        put_u32(&mut m, "droppedLinksCount", s.dropped_links_count);
        let mut status = Map::new();
        if let Some(st) = &s.status {
            put_str(&mut status, "message", &st.message);
            if st.code != 0 {
                status.insert("code".into(), Json::from(st.code));
            }
        }
        m.insert("status".into(), Json::Object(status));
        Json::Object(m)
    }

    fn event(e: &pb_span::Event) -> Json {
        let mut m = Map::new();
        put_nanos(&mut m, "timeUnixNano", e.time_unix_nano);
        put_str(&mut m, "name", &e.name);
        put_attrs(&mut m, "attributes", &e.attributes);
        put_u32(&mut m, "droppedAttributesCount", e.dropped_attributes_count);
        Json::Object(m)
    }

    fn link(l: &pb_span::Link) -> Json {
        let mut m = Map::new();
        // Written even when all-zero, so that the link survives a round trip through us.
        put_hex(&mut m, "traceId", &l.trace_id);
        put_hex(&mut m, "spanId", &l.span_id);
        put_str(&mut m, "traceState", &l.trace_state);
        put_attrs(&mut m, "attributes", &l.attributes);
        put_u32(&mut m, "droppedAttributesCount", l.dropped_attributes_count);
        put_u32(&mut m, "flags", l.flags);
        Json::Object(m)
    }

    fn key_value(kv: &PbKeyValue) -> Json {
        let mut m = Map::new();
        m.insert("key".into(), Json::String(kv.key.clone()));
        let value = kv
            .value
            .as_ref()
            .map_or_else(|| Json::Object(Map::new()), any_value);
        m.insert("value".into(), value);
        if kv.key_strindex != 0 {
            m.insert("keyStrindex".into(), Json::from(kv.key_strindex));
        }
        Json::Object(m)
    }

    fn any_value(v: &AnyValue) -> Json {
        use any_value::Value as V;
        let mut m = Map::new();
        match &v.value {
            None => {}
            Some(V::StringValue(s)) => {
                m.insert("stringValue".into(), Json::String(s.clone()));
            }
            Some(V::BoolValue(b)) => {
                m.insert("boolValue".into(), Json::Bool(*b));
            }
            Some(V::IntValue(i)) => {
                m.insert("intValue".into(), Json::String(i.to_string()));
            }
            Some(V::DoubleValue(d)) => {
                m.insert("doubleValue".into(), double(*d));
            }
            Some(V::BytesValue(b)) => {
                let b64 = base64::engine::general_purpose::STANDARD.encode(b);
                m.insert("bytesValue".into(), Json::String(b64));
            }
            Some(V::ArrayValue(a)) => {
                let values = a.values.iter().map(any_value).collect();
                m.insert("arrayValue".into(), values_object(values));
            }
            Some(V::KvlistValue(kvs)) => {
                let values = kvs.values.iter().map(key_value).collect();
                m.insert("kvlistValue".into(), values_object(values));
            }
            Some(V::StringValueStrindex(i)) => {
                m.insert("stringValueStrindex".into(), Json::from(*i));
            }
        }
        Json::Object(m)
    }

    fn values_object(values: Vec<Json>) -> Json {
        let mut m = Map::new();
        m.insert("values".into(), Json::Array(values));
        Json::Object(m)
    }

    /// Proto3 JSON: finite doubles as numbers, the others as the strings the spec names.
    fn double(d: f64) -> Json {
        match serde_json::Number::from_f64(d) {
            Some(n) => Json::Number(n),
            None if d.is_nan() => Json::String("NaN".into()),
            None if d > 0.0 => Json::String("Infinity".into()),
            None => Json::String("-Infinity".into()),
        }
    }

    fn put_str(m: &mut Map<String, Json>, key: &str, v: &str) {
        if !v.is_empty() {
            m.insert(key.into(), Json::String(v.to_string()));
        }
    }

    fn put_u32(m: &mut Map<String, Json>, key: &str, v: u32) {
        if v != 0 {
            m.insert(key.into(), Json::from(v));
        }
    }

    fn put_nanos(m: &mut Map<String, Json>, key: &str, v: u64) {
        if v != 0 {
            m.insert(key.into(), Json::String(v.to_string()));
        }
    }

    fn put_hex(m: &mut Map<String, Json>, key: &str, bytes: &[u8]) {
        if !bytes.is_empty() {
            m.insert(key.into(), Json::String(hex(bytes)));
        }
    }

    fn put_attrs(m: &mut Map<String, Json>, key: &str, attrs: &[PbKeyValue]) {
        if !attrs.is_empty() {
            m.insert(key.into(), attrs.iter().map(key_value).collect());
        }
    }

    fn hex(bytes: &[u8]) -> String {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut s = String::with_capacity(bytes.len() * 2);
        for b in bytes {
            s.push(DIGITS[(b >> 4) as usize] as char);
            s.push(DIGITS[(b & 0xf) as usize] as char);
        }
        s
    }
}

// ---------------------------------------------------------------------------------------------
// OTLP/JSON → protobuf messages
// ---------------------------------------------------------------------------------------------

/// Where in the JSON document a value sits; rendered only when an error is reported.
#[derive(Clone, Copy)]
enum JsonPath<'a> {
    Root,
    Field(&'a JsonPath<'a>, &'a str),
    Index(&'a JsonPath<'a>, usize),
}

impl fmt::Display for JsonPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonPath::Root => f.write_str("the document root"),
            JsonPath::Field(JsonPath::Root, key) => f.write_str(key),
            JsonPath::Field(parent, key) => write!(f, "{parent}.{key}"),
            JsonPath::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

mod json_in {
    use super::*;

    type R<T> = Result<T, IngestError>;

    fn bad(path: &JsonPath<'_>, message: impl Into<String>) -> IngestError {
        IngestError::JsonField {
            path: path.to_string(),
            message: message.into(),
        }
    }

    fn kind_of(v: &Json) -> &'static str {
        match v {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Number(_) => "a number",
            Json::String(_) => "a string",
            Json::Array(_) => "an array",
            Json::Object(_) => "an object",
        }
    }

    pub(super) fn request(doc: Json) -> R<ExportTraceServiceRequest> {
        let mut out = ExportTraceServiceRequest::default();
        let path = JsonPath::Root;
        let m = match doc {
            Json::Object(m) => m,
            other => {
                let message = format!("expected an object, got {}", kind_of(&other));
                return Err(bad(&path, message));
            }
        };
        for (k, v) in m {
            let p = JsonPath::Field(&path, &k);
            if let "resourceSpans" | "resource_spans" = k.as_str() {
                out.resource_spans = list(v, &p, resource_spans)?;
            }
        }
        Ok(out)
    }

    /// The members of an object (`null` = no members).
    fn object(v: Json, path: &JsonPath<'_>) -> R<Map<String, Json>> {
        match v {
            Json::Object(m) => Ok(m),
            Json::Null => Ok(Map::new()),
            other => Err(bad(
                path,
                format!("expected an object, got {}", kind_of(&other)),
            )),
        }
    }

    fn list<T>(v: Json, path: &JsonPath<'_>, item: fn(Json, &JsonPath<'_>) -> R<T>) -> R<Vec<T>> {
        match v {
            Json::Array(items) => items
                .into_iter()
                .enumerate()
                .map(|(i, v)| item(v, &JsonPath::Index(path, i)))
                .collect(),
            Json::Null => Ok(Vec::new()),
            other => Err(bad(
                path,
                format!("expected an array, got {}", kind_of(&other)),
            )),
        }
    }

    fn string(v: Json, path: &JsonPath<'_>) -> R<String> {
        match v {
            Json::String(s) => Ok(s),
            Json::Null => Ok(String::new()),
            other => Err(bad(
                path,
                format!("expected a string, got {}", kind_of(&other)),
            )),
        }
    }

    fn boolean(v: Json, path: &JsonPath<'_>) -> R<bool> {
        match v {
            Json::Bool(b) => Ok(b),
            Json::Null => Ok(false),
            other => Err(bad(
                path,
                format!("expected a boolean, got {}", kind_of(&other)),
            )),
        }
    }

    /// An integer written as a JSON number (integral) or as a decimal string.
    fn integer<T: TryFrom<i128> + std::str::FromStr>(v: Json, path: &JsonPath<'_>) -> R<T> {
        let out_of_range = || bad(path, "integer out of range");
        match v {
            Json::Null => T::try_from(0).map_err(|_| out_of_range()),
            Json::Number(n) => {
                let wide = if let Some(u) = n.as_u64() {
                    u as i128
                } else if let Some(i) = n.as_i64() {
                    i as i128
                } else {
                    match n.as_f64() {
                        Some(f) if f.fract() == 0.0 && f.abs() < 1.8e19 => f as i128,
                        _ => return Err(bad(path, format!("expected an integer, got {n}"))),
                    }
                };
                T::try_from(wide).map_err(|_| out_of_range())
            }
            Json::String(s) => s
                .trim()
                .parse::<T>()
                .map_err(|_| bad(path, format!("expected an integer, got {s:?}"))),
            other => Err(bad(
                path,
                format!("expected an integer, got {}", kind_of(&other)),
            )),
        }
    }

    /// An enum as its number, or (leniently) as its proto name.
    fn enumeration(v: Json, path: &JsonPath<'_>, by_name: fn(&str) -> Option<i32>) -> R<i32> {
        if let Json::String(s) = &v {
            if let Some(n) = by_name(s) {
                return Ok(n);
            }
        }
        integer(v, path)
    }

    fn double(v: Json, path: &JsonPath<'_>) -> R<f64> {
        match v {
            Json::Null => Ok(0.0),
            Json::Number(n) => n
                .as_f64()
                .ok_or_else(|| bad(path, format!("expected a number, got {n}"))),
            Json::String(s) => match s.as_str() {
                "NaN" => Ok(f64::NAN),
                "Infinity" => Ok(f64::INFINITY),
                "-Infinity" => Ok(f64::NEG_INFINITY),
                other => other
                    .parse::<f64>()
                    .map_err(|_| bad(path, format!("expected a number, got {s:?}"))),
            },
            other => Err(bad(
                path,
                format!("expected a number, got {}", kind_of(&other)),
            )),
        }
    }

    /// Trace and span IDs: case-insensitive hex (OTLP/JSON's deviation from proto3 JSON).
    fn hex_id(v: Json, path: &JsonPath<'_>) -> R<Vec<u8>> {
        let s = string(v, path)?;
        let digit = |c: u8| -> R<u8> {
            match c {
                b'0'..=b'9' => Ok(c - b'0'),
                b'a'..=b'f' => Ok(c - b'a' + 10),
                b'A'..=b'F' => Ok(c - b'A' + 10),
                _ => Err(bad(
                    path,
                    format!("invalid hex digit {:?} in {s:?}", c as char),
                )),
            }
        };
        if s.len() % 2 != 0 {
            return Err(bad(path, format!("odd number of hex digits in {s:?}")));
        }
        s.as_bytes()
            .chunks_exact(2)
            .map(|pair| Ok(digit(pair[0])? << 4 | digit(pair[1])?))
            .collect()
    }

    /// Bytes: base64, standard or URL-safe alphabet, padded or not (proto3 JSON).
    fn base64_bytes(v: Json, path: &JsonPath<'_>) -> R<Vec<u8>> {
        use base64::engine::general_purpose::{STANDARD_PAD_INDIFFERENT, URL_SAFE_PAD_INDIFFERENT};
        let s = string(v, path)?;
        let engine = if s.contains(['-', '_']) {
            &URL_SAFE_PAD_INDIFFERENT
        } else {
            &STANDARD_PAD_INDIFFERENT
        };
        engine
            .decode(&s)
            .map_err(|e| bad(path, format!("invalid base64: {e}")))
    }

    fn resource_spans(v: Json, path: &JsonPath<'_>) -> R<ResourceSpans> {
        let mut out = ResourceSpans::default();
        for (k, v) in object(v, path)? {
            let p = JsonPath::Field(path, &k);
            match k.as_str() {
                "resource" if !v.is_null() => out.resource = Some(resource(v, &p)?),
                "scopeSpans" | "scope_spans" => out.scope_spans = list(v, &p, scope_spans)?,
                "schemaUrl" | "schema_url" => out.schema_url = string(v, &p)?,
                _ => {}
            }
        }
        Ok(out)
    }

    fn resource(v: Json, path: &JsonPath<'_>) -> R<PbResource> {
        let mut out = PbResource::default();
        for (k, v) in object(v, path)? {
            let p = JsonPath::Field(path, &k);
            match k.as_str() {
                "attributes" => out.attributes = list(v, &p, key_value)?,
                "droppedAttributesCount" | "dropped_attributes_count" => {
                    out.dropped_attributes_count = integer(v, &p)?
                }
                "entityRefs" | "entity_refs" => out.entity_refs = list(v, &p, entity_ref)?,
                _ => {}
            }
        }
        Ok(out)
    }

    fn entity_ref(v: Json, path: &JsonPath<'_>) -> R<EntityRef> {
        let mut out = EntityRef::default();
        for (k, v) in object(v, path)? {
            let p = JsonPath::Field(path, &k);
            match k.as_str() {
                "schemaUrl" | "schema_url" => out.schema_url = string(v, &p)?,
                "type" => out.r#type = string(v, &p)?,
                "idKeys" | "id_keys" => out.id_keys = list(v, &p, string)?,
                "descriptionKeys" | "description_keys" => {
                    out.description_keys = list(v, &p, string)?
                }
                _ => {}
            }
        }
        Ok(out)
    }

    fn scope_spans(v: Json, path: &JsonPath<'_>) -> R<ScopeSpans> {
        let mut out = ScopeSpans::default();
        for (k, v) in object(v, path)? {
            let p = JsonPath::Field(path, &k);
            match k.as_str() {
                "scope" if !v.is_null() => out.scope = Some(scope(v, &p)?),
                "spans" => out.spans = list(v, &p, span)?,
                "schemaUrl" | "schema_url" => out.schema_url = string(v, &p)?,
                _ => {}
            }
        }
        Ok(out)
    }

    fn scope(v: Json, path: &JsonPath<'_>) -> R<InstrumentationScope> {
        let mut out = InstrumentationScope::default();
        for (k, v) in object(v, path)? {
            let p = JsonPath::Field(path, &k);
            match k.as_str() {
                "name" => out.name = string(v, &p)?,
                "version" => out.version = string(v, &p)?,
                "attributes" => out.attributes = list(v, &p, key_value)?,
                "droppedAttributesCount" | "dropped_attributes_count" => {
                    out.dropped_attributes_count = integer(v, &p)?
                }
                _ => {}
            }
        }
        Ok(out)
    }

    fn span(v: Json, path: &JsonPath<'_>) -> R<PbSpan> {
        let mut out = PbSpan::default();
        for (k, v) in object(v, path)? {
            let p = JsonPath::Field(path, &k);
            match k.as_str() {
                "traceId" | "trace_id" => out.trace_id = hex_id(v, &p)?,
                "spanId" | "span_id" => out.span_id = hex_id(v, &p)?,
                "traceState" | "trace_state" => out.trace_state = string(v, &p)?,
                "parentSpanId" | "parent_span_id" => out.parent_span_id = hex_id(v, &p)?,
                "flags" => out.flags = integer(v, &p)?,
                "name" => out.name = string(v, &p)?,
                "kind" => {
                    out.kind = enumeration(v, &p, |s| {
                        pb_span::SpanKind::from_str_name(s).map(|k| k as i32)
                    })?
                }
                "startTimeUnixNano" | "start_time_unix_nano" => {
                    out.start_time_unix_nano = integer(v, &p)?
                }
                "endTimeUnixNano" | "end_time_unix_nano" => {
                    out.end_time_unix_nano = integer(v, &p)?
                }
                "attributes" => out.attributes = list(v, &p, key_value)?,
                "droppedAttributesCount" | "dropped_attributes_count" => {
                    out.dropped_attributes_count = integer(v, &p)?
                }
                "events" => out.events = list(v, &p, event)?,
                "droppedEventsCount" | "dropped_events_count" => {
                    out.dropped_events_count = integer(v, &p)?
                }
                "links" => out.links = list(v, &p, link)?,
                "droppedLinksCount" | "dropped_links_count" => {
                    out.dropped_links_count = integer(v, &p)?
                }
                "status" if !v.is_null() => out.status = Some(status(v, &p)?),
                _ => {}
            }
        }
        Ok(out)
    }

    fn status(v: Json, path: &JsonPath<'_>) -> R<PbStatus> {
        let mut out = PbStatus::default();
        for (k, v) in object(v, path)? {
            let p = JsonPath::Field(path, &k);
            match k.as_str() {
                "message" => out.message = string(v, &p)?,
                "code" => {
                    out.code = enumeration(v, &p, |s| {
                        pb_status::StatusCode::from_str_name(s).map(|c| c as i32)
                    })?
                }
                _ => {}
            }
        }
        Ok(out)
    }

    fn event(v: Json, path: &JsonPath<'_>) -> R<pb_span::Event> {
        let mut out = pb_span::Event::default();
        for (k, v) in object(v, path)? {
            let p = JsonPath::Field(path, &k);
            match k.as_str() {
                "timeUnixNano" | "time_unix_nano" => out.time_unix_nano = integer(v, &p)?,
                "name" => out.name = string(v, &p)?,
                "attributes" => out.attributes = list(v, &p, key_value)?,
                "droppedAttributesCount" | "dropped_attributes_count" => {
                    out.dropped_attributes_count = integer(v, &p)?
                }
                _ => {}
            }
        }
        Ok(out)
    }

    fn link(v: Json, path: &JsonPath<'_>) -> R<pb_span::Link> {
        let mut out = pb_span::Link::default();
        for (k, v) in object(v, path)? {
            let p = JsonPath::Field(path, &k);
            match k.as_str() {
                "traceId" | "trace_id" => out.trace_id = hex_id(v, &p)?,
                "spanId" | "span_id" => out.span_id = hex_id(v, &p)?,
                "traceState" | "trace_state" => out.trace_state = string(v, &p)?,
                "attributes" => out.attributes = list(v, &p, key_value)?,
                "droppedAttributesCount" | "dropped_attributes_count" => {
                    out.dropped_attributes_count = integer(v, &p)?
                }
                "flags" => out.flags = integer(v, &p)?,
                _ => {}
            }
        }
        Ok(out)
    }

    fn key_value(v: Json, path: &JsonPath<'_>) -> R<PbKeyValue> {
        let mut out = PbKeyValue::default();
        for (k, v) in object(v, path)? {
            let p = JsonPath::Field(path, &k);
            match k.as_str() {
                "key" => out.key = string(v, &p)?,
                "value" if !v.is_null() => out.value = Some(any_value(v, &p)?),
                "keyStrindex" | "key_strindex" => out.key_strindex = integer(v, &p)?,
                _ => {}
            }
        }
        Ok(out)
    }

    /// An AnyValue object: at most one of the value keys is meant to be set; if several are,
    /// the last one in key order wins. No key (or only unknown keys) is the empty value.
    fn any_value(v: Json, path: &JsonPath<'_>) -> R<AnyValue> {
        use any_value::Value as V;
        let mut out = AnyValue { value: None };
        for (k, v) in object(v, path)? {
            if v.is_null() {
                continue;
            }
            let p = JsonPath::Field(path, &k);
            out.value = Some(match k.as_str() {
                "stringValue" | "string_value" => V::StringValue(string(v, &p)?),
                "boolValue" | "bool_value" => V::BoolValue(boolean(v, &p)?),
                "intValue" | "int_value" => V::IntValue(integer(v, &p)?),
                "doubleValue" | "double_value" => V::DoubleValue(double(v, &p)?),
                "bytesValue" | "bytes_value" => V::BytesValue(base64_bytes(v, &p)?),
                "arrayValue" | "array_value" => V::ArrayValue(ArrayValue {
                    values: values(v, &p, any_value)?,
                }),
                "kvlistValue" | "kvlist_value" => V::KvlistValue(KeyValueList {
                    values: values(v, &p, key_value)?,
                }),
                "stringValueStrindex" | "string_value_strindex" => {
                    V::StringValueStrindex(integer(v, &p)?)
                }
                _ => continue,
            });
        }
        Ok(out)
    }

    /// `{"values": [...]}` of ArrayValue / KeyValueList; `values` may be omitted when empty.
    fn values<T>(v: Json, path: &JsonPath<'_>, item: fn(Json, &JsonPath<'_>) -> R<T>) -> R<Vec<T>> {
        let mut out = Vec::new();
        for (k, v) in object(v, path)? {
            if k == "values" {
                out = list(v, &JsonPath::Field(path, &k), item)?;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;
    use serde_json::json;

    const FIXTURE_DIR: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/conformance/jaeger-fixtures/traces"
    );

    /// The Jaeger OTLP fixtures as (file name, body), or `None` (with a loud warning) when the
    /// shared conformance folder is not checked out next to the crate.
    fn conformance_fixtures() -> Option<Vec<(String, Vec<u8>)>> {
        let Ok(entries) = std::fs::read_dir(FIXTURE_DIR) else {
            eprintln!(
                "WARNING: {FIXTURE_DIR} is missing — SKIPPING the Jaeger conformance fixture checks"
            );
            return None;
        };
        let mut out = Vec::new();
        for entry in entries {
            let path = entry.expect("readable fixture dir").path();
            if path.extension().is_some_and(|e| e == "json") {
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                out.push((name, std::fs::read(&path).expect("readable fixture")));
            }
        }
        out.sort();
        assert!(!out.is_empty(), "no *.json fixtures in {FIXTURE_DIR}");
        Some(out)
    }

    /// Makes two OTLP/JSON documents comparable: 64-bit integers as strings, hex in lowercase,
    /// defaults (0, "", false, [], {}, null, all-zero parent) dropped — except the oneof members
    /// of an AnyValue, whose presence is the value's type.
    fn normalise(v: Json) -> Json {
        match v {
            Json::Object(m) => {
                let mut out = Map::new();
                for (k, v) in m {
                    let v = match (k.as_str(), v) {
                        (
                            "intValue" | "startTimeUnixNano" | "endTimeUnixNano" | "timeUnixNano",
                            Json::Number(n),
                        ) => Json::String(n.to_string()),
                        ("traceId" | "spanId" | "parentSpanId", Json::String(s)) => {
                            Json::String(s.to_ascii_lowercase())
                        }
                        (_, v) => normalise(v),
                    };
                    let zero_parent = k == "parentSpanId"
                        && v.as_str().is_some_and(|s| s.bytes().all(|c| c == b'0'));
                    let oneof = matches!(
                        k.as_str(),
                        "stringValue"
                            | "boolValue"
                            | "intValue"
                            | "doubleValue"
                            | "bytesValue"
                            | "arrayValue"
                            | "kvlistValue"
                    );
                    if !zero_parent && (oneof || !is_default(&v)) {
                        out.insert(k, v);
                    }
                }
                Json::Object(out)
            }
            Json::Array(items) => Json::Array(items.into_iter().map(normalise).collect()),
            other => other,
        }
    }

    fn is_default(v: &Json) -> bool {
        match v {
            Json::Null => true,
            Json::Bool(b) => !b,
            Json::Number(n) => n.as_f64() == Some(0.0),
            Json::String(s) => s.is_empty() || s == "0",
            Json::Array(a) => a.is_empty(),
            Json::Object(m) => m.is_empty(),
        }
    }

    fn json_round_trip(body: &[u8]) -> (Decoded, Json) {
        let decoded = to_model(decode_json(body).expect("body decodes"));
        let out = traces_data_to_json(&from_model(&decoded.batch.spans));
        (decoded, out)
    }

    fn proto_round_trip(spans: &[Span]) -> Vec<Span> {
        let body = export_request(spans).encode_to_vec();
        let decoded = to_model(decode_protobuf(&body).expect("own encoding decodes"));
        assert_eq!(decoded.rejected_spans, 0, "{:?}", decoded.errors);
        decoded.batch.spans
    }

    #[test]
    fn conformance_fixtures_round_trip_through_the_model() {
        let Some(fixtures) = conformance_fixtures() else {
            return;
        };
        for (name, body) in fixtures {
            let (decoded, out) = json_round_trip(&body);
            assert_eq!(decoded.rejected_spans, 0, "{name}: {:?}", decoded.errors);
            assert!(!decoded.batch.is_empty(), "{name} has no spans");
            let want = normalise(serde_json::from_slice(&body).expect("fixture is JSON"));
            assert_eq!(normalise(out.clone()), want, "{name}");
            // Our own output decodes to the same spans, and so does our protobuf.
            let again = to_model(decode_json(out.to_string().as_bytes()).expect("own JSON"));
            assert_eq!(again.batch.spans, decoded.batch.spans, "{name} via JSON");
            let spans = &decoded.batch.spans;
            assert_eq!(&proto_round_trip(spans), spans, "{name} via protobuf");
        }
    }

    #[test]
    fn serde_derive_agrees_with_the_hand_written_decoder_on_fixtures() {
        let Some(fixtures) = conformance_fixtures() else {
            return;
        };
        for (name, body) in fixtures {
            let derived: ExportTraceServiceRequest = serde_json::from_slice(&body)
                .unwrap_or_else(|e| panic!("with-serde derive rejects {name}: {e}"));
            assert_eq!(decode_json(&body).expect("decodes"), derived, "{name}");
        }
    }

    const RICH: &str = r#"{
      "resourceSpans": [
        {
          "resource": {
            "attributes": [
              {"key": "service.name", "value": {"stringValue": "checkout"}},
              {"key": "host.name", "value": {"stringValue": "web-1"}}
            ],
            "droppedAttributesCount": 2
          },
          "schemaUrl": "https://opentelemetry.io/schemas/1.26.0",
          "scopeSpans": [
            {
              "scope": {
                "name": "io.opentelemetry.http", "version": "1.2.3",
                "attributes": [{"key": "scope.flag", "value": {"boolValue": true}}],
                "droppedAttributesCount": 1
              },
              "schemaUrl": "https://opentelemetry.io/schemas/1.25.0",
              "spans": [
                {
                  "traceId": "5b8efff798038103d269b633813fc60c",
                  "spanId": "eee19b7ec3c1b174",
                  "parentSpanId": "eee19b7ec3c1b173",
                  "traceState": "rojo=00f067aa0ba902b7",
                  "flags": 769,
                  "name": "GET /cart",
                  "kind": 2,
                  "startTimeUnixNano": "1544712660000000000",
                  "endTimeUnixNano": "1544712661000000000",
                  "attributes": [
                    {"key": "str", "value": {"stringValue": "s"}},
                    {"key": "empty.str", "value": {"stringValue": ""}},
                    {"key": "bool", "value": {"boolValue": false}},
                    {"key": "int", "value": {"intValue": "-9007199254740993"}},
                    {"key": "zero", "value": {"intValue": "0"}},
                    {"key": "double", "value": {"doubleValue": 72.5}},
                    {"key": "bytes", "value": {"bytesValue": "AAAwOQ=="}},
                    {"key": "array", "value": {"arrayValue": {"values": [
                      {"stringValue": "a"}, {"intValue": "1"},
                      {"arrayValue": {"values": [{"boolValue": true}]}}, {}
                    ]}}},
                    {"key": "empty.array", "value": {"arrayValue": {}}},
                    {"key": "map", "value": {"kvlistValue": {"values": [
                      {"key": "inner", "value": {"doubleValue": 1.5}},
                      {"key": "deeper", "value": {"kvlistValue": {"values": [
                        {"key": "x", "value": {"stringValue": "y"}}
                      ]}}}
                    ]}}},
                    {"key": "nothing", "value": {}}
                  ],
                  "droppedAttributesCount": 3,
                  "events": [
                    {
                      "timeUnixNano": "1544712660500000000", "name": "exception",
                      "attributes": [{"key": "exception.type", "value": {"stringValue": "IOError"}}],
                      "droppedAttributesCount": 4
                    },
                    {"timeUnixNano": "1544712660600000000"}
                  ],
                  "droppedEventsCount": 5,
                  "links": [
                    {
                      "traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "b7ad6b7169203331",
                      "traceState": "congo=t61rcWkgMzE",
                      "attributes": [
                        {"key": "opentracing.ref_type", "value": {"stringValue": "follows_from"}}
                      ],
                      "droppedAttributesCount": 6, "flags": 1
                    }
                  ],
                  "droppedLinksCount": 7,
                  "status": {"code": 2, "message": "card declined"}
                },
                {
                  "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b175",
                  "parentSpanId": "eee19b7ec3c1b174", "name": "publish", "kind": 4,
                  "startTimeUnixNano": "1544712660100000000",
                  "endTimeUnixNano": "1544712660200000000", "status": {"code": 1}
                }
              ]
            },
            {
              "scope": {"name": "db"},
              "spans": [
                {
                  "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b176",
                  "parentSpanId": "eee19b7ec3c1b174", "name": "SELECT", "kind": 3,
                  "startTimeUnixNano": "1544712660300000000",
                  "endTimeUnixNano": "1544712660400000000", "status": {}
                }
              ]
            }
          ]
        },
        {
          "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "billing"}}]},
          "scopeSpans": [
            {
              "scope": {},
              "spans": [
                {
                  "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "0000000000000001",
                  "name": "charge", "kind": 5, "startTimeUnixNano": "1544712660250000000",
                  "endTimeUnixNano": "1544712660350000000", "status": {}
                },
                {
                  "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "0000000000000002",
                  "name": "audit", "kind": 1, "startTimeUnixNano": "1",
                  "endTimeUnixNano": "2", "status": {}
                }
              ]
            }
          ]
        }
      ]
    }"#;

    fn attr<'a>(span: &'a Span, key: &str) -> &'a Value {
        crate::model::span::find_attr(&span.attributes, key)
            .unwrap_or_else(|| panic!("attribute {key} missing"))
    }

    #[test]
    fn rich_document_keeps_every_field() {
        let (decoded, out) = json_round_trip(RICH.as_bytes());
        assert_eq!((decoded.rejected_spans, decoded.batch.len()), (0, 5));
        let spans = &decoded.batch.spans;
        let s = &spans[0];
        assert_eq!(s.trace_id.to_hex32(), "5b8efff798038103d269b633813fc60c");
        assert_eq!(s.span_id.to_hex(), "eee19b7ec3c1b174");
        assert_eq!(s.parent_span_id.to_hex(), "eee19b7ec3c1b173");
        assert_eq!(
            (s.trace_state.as_str(), s.flags),
            ("rojo=00f067aa0ba902b7", 769)
        );
        assert_eq!((s.name.as_str(), s.kind), ("GET /cart", SpanKind::Server));
        assert_eq!(
            (s.start_ns, s.end_ns),
            (1544712660000000000, 1544712661000000000)
        );
        assert_eq!(attr(s, "str"), &Value::Str("s".into()));
        assert_eq!(attr(s, "empty.str"), &Value::Str(String::new()));
        assert_eq!(attr(s, "bool"), &Value::Bool(false));
        assert_eq!(attr(s, "int"), &Value::Int(-9007199254740993));
        assert_eq!(attr(s, "zero"), &Value::Int(0));
        assert_eq!(attr(s, "double"), &Value::Double(72.5));
        assert_eq!(attr(s, "bytes"), &Value::Bytes(vec![0, 0, 0x30, 0x39]));
        let array = Value::Array(vec![
            Value::Str("a".into()),
            Value::Int(1),
            Value::Array(vec![Value::Bool(true)]),
            Value::Empty,
        ]);
        assert_eq!(attr(s, "array"), &array);
        assert_eq!(attr(s, "empty.array"), &Value::Array(vec![]));
        let map = Value::Map(vec![
            KeyValue::new("inner", Value::Double(1.5)),
            KeyValue::new("deeper", Value::Map(vec![KeyValue::string("x", "y")])),
        ]);
        assert_eq!(attr(s, "map"), &map);
        assert_eq!(attr(s, "nothing"), &Value::Empty);
        assert_eq!(s.dropped_attributes_count, 3);
        assert_eq!(s.events.len(), 2);
        let e = &s.events[0];
        assert_eq!(
            (e.time_ns, e.name.as_str()),
            (1544712660500000000, "exception")
        );
        assert_eq!((e.attributes.len(), e.dropped_attributes_count), (1, 4));
        assert_eq!((s.events[1].name.as_str(), s.dropped_events_count), ("", 5));
        let l = &s.links[0];
        assert_eq!(l.trace_id.to_hex32(), "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(l.span_id.to_hex(), "b7ad6b7169203331");
        assert_eq!((l.trace_state.as_str(), l.flags), ("congo=t61rcWkgMzE", 1));
        assert_eq!(
            l.attributes,
            vec![KeyValue::string("opentracing.ref_type", "follows_from")]
        );
        assert_eq!((l.dropped_attributes_count, s.dropped_links_count), (6, 7));
        assert_eq!(s.status.code, StatusCode::Error);
        assert_eq!(s.status.message, "card declined");
        assert_eq!(spans[1].status.code, StatusCode::Ok);
        assert_eq!(spans[1].kind, SpanKind::Producer);
        assert_eq!(spans[2].kind, SpanKind::Client);
        assert_eq!(spans[3].kind, SpanKind::Consumer);
        assert_eq!(spans[4].kind, SpanKind::Internal);
        assert!(!spans[3].has_parent());

        let r = &s.resource;
        assert_eq!((r.service(), r.dropped_attributes_count), ("checkout", 2));
        assert_eq!(r.schema_url, "https://opentelemetry.io/schemas/1.26.0");
        assert_eq!(
            (s.scope.name.as_str(), s.scope.version.as_str()),
            ("io.opentelemetry.http", "1.2.3")
        );
        assert_eq!(
            s.scope.schema_url,
            "https://opentelemetry.io/schemas/1.25.0"
        );
        assert_eq!(
            s.scope.attributes,
            vec![KeyValue::new("scope.flag", Value::Bool(true))]
        );
        assert_eq!(s.scope.dropped_attributes_count, 1);
        // One Arc per ResourceSpans and per ScopeSpans.
        assert!(Arc::ptr_eq(&spans[0].resource, &spans[2].resource));
        assert!(Arc::ptr_eq(&spans[0].scope, &spans[1].scope));
        assert!(!Arc::ptr_eq(&spans[1].scope, &spans[2].scope));
        assert!(Arc::ptr_eq(&spans[3].resource, &spans[4].resource));
        assert_eq!(spans[3].service(), "billing");

        let want = normalise(serde_json::from_str(RICH).unwrap());
        assert_eq!(normalise(out), want);
        assert_eq!(&proto_round_trip(spans), spans);
    }

    #[test]
    fn json_output_follows_the_otlp_json_encoding() {
        let span = Span {
            trace_id: TraceId::from_u128(0x11),
            span_id: SpanId::from_u64(3),
            name: "op".into(),
            kind: SpanKind::Client,
            start_ns: 1_000,
            end_ns: 2_000,
            attributes: vec![
                KeyValue::new("i", Value::Int(i64::MIN)),
                KeyValue::new("b", Value::Bytes(vec![0, 0, 0x30, 0x39])),
                KeyValue::new("nan", Value::Double(f64::NAN)),
                KeyValue::new("inf", Value::Double(f64::NEG_INFINITY)),
                KeyValue::new("e", Value::Empty),
                KeyValue::new("a", Value::Array(vec![])),
            ],
            links: vec![Link::default()],
            resource: Arc::new(Resource {
                attributes: vec![KeyValue::string("service.name", "svc")],
                ..Default::default()
            }),
            ..Default::default()
        };
        let got = traces_data_to_json(&from_model(std::slice::from_ref(&span)));
        let want = json!({"resourceSpans": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]},
            "scopeSpans": [{"scope": {}, "spans": [{
                "traceId": "00000000000000000000000000000011",
                "spanId": "0000000000000003",
                "name": "op",
                "kind": 3,
                "startTimeUnixNano": "1000",
                "endTimeUnixNano": "2000",
                "attributes": [
                    {"key": "i", "value": {"intValue": "-9223372036854775808"}},
                    {"key": "b", "value": {"bytesValue": "AAAwOQ=="}},
                    {"key": "nan", "value": {"doubleValue": "NaN"}},
                    {"key": "inf", "value": {"doubleValue": "-Infinity"}},
                    {"key": "e", "value": {}},
                    {"key": "a", "value": {"arrayValue": {"values": []}}}
                ],
                "links": [{"traceId": "00000000000000000000000000000000", "spanId": "0000000000000000"}],
                "status": {}
            }]}]
        }]});
        assert_eq!(got, want);
        let back = to_model(decode_json(got.to_string().as_bytes()).unwrap());
        let s = &back.batch.spans[0];
        assert!(matches!(attr(s, "nan"), Value::Double(d) if d.is_nan()));
        assert_eq!(attr(s, "inf"), &Value::Double(f64::NEG_INFINITY));
        assert_eq!(s.links, span.links);
    }

    #[test]
    fn json_decoder_is_lenient_where_the_spec_allows() {
        let body = r#"{"resource_spans": [{"scopeSpans": [{"scope": null, "spans": [{
            "traceId": "5B8EFFF798038103D269B633813FC60C", "spanId": "EEE19B7EC3C1B174",
            "kind": "SPAN_KIND_CLIENT", "startTimeUnixNano": 1544712660000000000,
            "endTimeUnixNano": "1544712661000000000", "droppedEventsCount": "2",
            "attributes": [
                {"key": "i", "value": {"intValue": 42}},
                {"key": "nan", "value": {"doubleValue": "NaN"}},
                {"key": "inf", "value": {"doubleValue": "Infinity"}},
                {"key": "url", "value": {"bytesValue": "_-8"}},
                {"key": "kv", "value": {"kvlistValue": {}}},
                {"key": "n", "value": null}
            ],
            "events": null, "status": {"code": "STATUS_CODE_ERROR"},
            "someFutureField": {"x": [1, 2]}
        }]}]}], "anotherUnknown": true}"#;
        let decoded = to_model(decode_json(body.as_bytes()).expect("lenient body decodes"));
        assert_eq!(decoded.rejected_spans, 0, "{:?}", decoded.errors);
        let s = &decoded.batch.spans[0];
        assert_eq!(s.trace_id.to_hex32(), "5b8efff798038103d269b633813fc60c");
        assert_eq!(
            (s.kind, s.start_ns),
            (SpanKind::Client, 1544712660000000000)
        );
        assert_eq!(
            (s.status.code, s.dropped_events_count),
            (StatusCode::Error, 2)
        );
        assert_eq!(attr(s, "i"), &Value::Int(42));
        assert!(matches!(attr(s, "nan"), Value::Double(d) if d.is_nan()));
        assert_eq!(attr(s, "inf"), &Value::Double(f64::INFINITY));
        assert_eq!(attr(s, "url"), &Value::Bytes(vec![0xff, 0xef]));
        assert_eq!(attr(s, "kv"), &Value::Map(vec![]));
        assert_eq!(attr(s, "n"), &Value::Empty);
        assert_eq!(s.service(), MISSING_SERVICE_NAME);
        assert_eq!(s.name, EMPTY_SPAN_NAME);
        assert_eq!(
            decode_json(b"{}").unwrap(),
            ExportTraceServiceRequest::default()
        );
    }

    #[test]
    fn bad_bodies_are_refused_with_a_message_naming_the_problem() {
        let err = decode_json(b"{\n  \"resourceSpans\": [\n    {,\n").unwrap_err();
        assert!(
            matches!(err, IngestError::JsonSyntax { line: 3, .. }),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(
            msg.starts_with("invalid OTLP JSON body at line 3 column 6: "),
            "{msg}"
        );
        assert!(!msg.ends_with("column 6"), "position printed twice: {msg}");

        let err = decode_json(
            br#"{"resourceSpans": [{"scopeSpans": [{"spans": [
            {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "zz00000000000000"}]}]}]}"#,
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with(
                "invalid OTLP JSON body at resourceSpans[0].scopeSpans[0].spans[0].spanId: \
                 invalid hex digit 'z'"
            ),
            "{msg}"
        );
        let err = decode_json(br#"{"resourceSpans": {}}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid OTLP JSON body at resourceSpans: expected an array, got an object"
        );
        let err = decode_json(
            br#"{"resourceSpans": [{"scopeSpans": [{"spans": [
            {"attributes": [{"key": "k", "value": {"intValue": "12x"}}]}]}]}]}"#,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid OTLP JSON body at resourceSpans[0].scopeSpans[0].spans[0].attributes[0]\
             .value.intValue: expected an integer, got \"12x\""
        );
        let err = decode_json(b"[]").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid OTLP JSON body at the document root: expected an object, got an array"
        );
        let err = decode_protobuf(&[0x0a, 0x05, 0x01]).unwrap_err();
        assert!(matches!(err, IngestError::Protobuf { .. }));
        assert!(
            err.to_string().starts_with("invalid OTLP protobuf body: "),
            "{err}"
        );
        assert!(std::error::Error::source(&err).is_some());
    }

    fn pb_span(trace_id: &[u8], span_id: &[u8]) -> PbSpan {
        PbSpan {
            trace_id: trace_id.to_vec(),
            span_id: span_id.to_vec(),
            name: "op".into(),
            ..Default::default()
        }
    }

    fn request_of(
        resources: Vec<(Option<PbResource>, Vec<Vec<PbSpan>>)>,
    ) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: resources
                .into_iter()
                .map(|(resource, scopes)| ResourceSpans {
                    resource,
                    scope_spans: scopes
                        .into_iter()
                        .map(|spans| ScopeSpans {
                            spans,
                            ..Default::default()
                        })
                        .collect(),
                    schema_url: String::new(),
                })
                .collect(),
        }
    }

    const T: [u8; 16] = [7; 16];

    fn sid(n: u8) -> [u8; 8] {
        [0, 0, 0, 0, 0, 0, 0, n]
    }

    #[test]
    fn invalid_spans_are_rejected_and_valid_ones_kept() {
        let with_parent = |parent: &[u8], id: u8| PbSpan {
            parent_span_id: parent.to_vec(),
            ..pb_span(&T, &sid(id))
        };
        let with_link = |trace_id: &[u8], span_id: &[u8], id: u8| PbSpan {
            links: vec![
                pb_span::Link {
                    trace_id: T.to_vec(),
                    span_id: sid(1).to_vec(),
                    ..Default::default()
                },
                pb_span::Link {
                    trace_id: trace_id.to_vec(),
                    span_id: span_id.to_vec(),
                    ..Default::default()
                },
            ],
            ..pb_span(&T, &sid(id))
        };
        let first = vec![
            pb_span(&T, &sid(1)),
            pb_span(&[1, 2, 3], &sid(2)),
            pb_span(&[0; 16], &sid(3)),
            pb_span(&T, &[1; 7]),
            pb_span(&T, &[0; 8]),
            with_parent(&[1; 4], 6),
            with_parent(&[0; 8], 7),
            with_link(&[1; 5], &sid(1), 8),
            with_link(&[], &[], 9),
            pb_span(&[9; 8], &sid(10)),
            with_link(&T, &[1; 9], 11),
        ];
        let req = request_of(vec![(None, vec![first, vec![pb_span(&T, &sid(12))]])]);
        let decoded = to_model(req);
        let kept: Vec<u64> = decoded
            .batch
            .spans
            .iter()
            .map(|s| s.span_id.as_u64())
            .collect();
        assert_eq!(kept, vec![1, 7, 9, 12]);
        assert_eq!(decoded.rejected_spans, 8);
        let p = "resource_spans[0].scope_spans[0]";
        assert_eq!(
            decoded.errors,
            vec![
                format!("{p}.spans[1]: trace_id must be 16 bytes, got 3"),
                format!("{p}.spans[2]: trace_id must not be all zeros"),
                format!("{p}.spans[3]: span_id must be 8 bytes, got 7"),
                format!("{p}.spans[4]: span_id must not be all zeros"),
                format!("{p}.spans[5]: parent_span_id must be empty or 8 bytes, got 4"),
                format!("{p}.spans[7]: links[1].trace_id must be empty or 16 bytes, got 5"),
                format!("{p}.spans[9]: trace_id must be 16 bytes, got 8"),
                format!("{p}.spans[10]: links[1].span_id must be empty or 8 bytes, got 9"),
            ]
        );
        let spans = &decoded.batch.spans;
        assert!(!spans[1].has_parent(), "all-zero parent means root");
        assert_eq!(spans[2].links[1].trace_id, TraceId::ZERO);
        assert_eq!(spans[2].links[1].span_id, SpanId::ZERO);
        let partial = decoded.partial_success().expect("some spans were rejected");
        assert_eq!(partial.rejected_spans, 8);
        assert!(partial.error_message.starts_with(&decoded.errors[0]));
    }

    #[test]
    fn rejection_messages_are_capped_but_counted() {
        let spans = (0..25).map(|_| pb_span(&[], &sid(1))).collect();
        let decoded = to_model(request_of(vec![(
            None,
            vec![vec![pb_span(&T, &sid(1))], spans],
        )]));
        assert_eq!((decoded.batch.len(), decoded.rejected_spans), (1, 25));
        assert_eq!(decoded.errors.len(), MAX_ERROR_MESSAGES);
        assert_eq!(
            decoded.errors[9],
            "resource_spans[0].scope_spans[1].spans[9]: trace_id must be 16 bytes, got 0"
        );
        let partial = decoded.partial_success().unwrap();
        assert!(partial
            .error_message
            .ends_with("; and 15 more rejected spans"));
        let clean = to_model(request_of(vec![(None, vec![vec![pb_span(&T, &sid(1))]])]));
        assert_eq!(clean.partial_success(), None);
    }

    #[test]
    fn service_and_span_names_are_sanitized_like_jaeger_v2() {
        let resource = |kvs: Vec<PbKeyValue>| {
            Some(PbResource {
                attributes: kvs,
                ..Default::default()
            })
        };
        let kv = |key: &str, v: Option<any_value::Value>| PbKeyValue {
            key: key.into(),
            value: Some(AnyValue { value: v }),
            key_strindex: 0,
        };
        let str_value = |s: &str| Some(any_value::Value::StringValue(s.into()));
        let one = || vec![vec![pb_span(&T, &sid(1))]];
        let req = request_of(vec![
            (None, one()),
            (resource(vec![kv("host.name", str_value("h"))]), one()),
            (
                resource(vec![kv(
                    "service.name",
                    Some(any_value::Value::IntValue(5)),
                )]),
                one(),
            ),
            (resource(vec![kv("service.name", None)]), one()),
            (resource(vec![kv("service.name", str_value(""))]), one()),
            (
                resource(vec![kv("service.name", str_value("ok"))]),
                vec![vec![PbSpan {
                    name: String::new(),
                    ..pb_span(&T, &sid(1))
                }]],
            ),
        ]);
        let decoded = to_model(req);
        let services: Vec<&str> = decoded.batch.spans.iter().map(|s| s.service()).collect();
        assert_eq!(
            services,
            vec![
                MISSING_SERVICE_NAME,
                MISSING_SERVICE_NAME,
                SERVICE_NAME_WRONG_TYPE,
                SERVICE_NAME_WRONG_TYPE,
                EMPTY_SERVICE_NAME,
                "ok"
            ]
        );
        let r = &decoded.batch.spans[1].resource;
        assert_eq!(
            r.attributes[0],
            KeyValue::string("host.name", "h"),
            "others kept"
        );
        assert_eq!(decoded.batch.spans[4].name, "op");
        assert_eq!(decoded.batch.spans[5].name, EMPTY_SPAN_NAME);
    }

    #[test]
    fn from_model_groups_consecutive_spans_by_resource_then_scope() {
        let res = |svc: &str| {
            Arc::new(Resource {
                attributes: vec![KeyValue::string(SERVICE_NAME, svc)],
                ..Default::default()
            })
        };
        let scope = |name: &str| {
            Arc::new(Scope {
                name: name.into(),
                ..Default::default()
            })
        };
        let (a, a_copy, b) = (res("a"), res("a"), res("b"));
        let (s1, s2) = (scope("s1"), scope("s2"));
        let span = |r: &Arc<Resource>, s: &Arc<Scope>, id: u64| Span {
            trace_id: TraceId::from_u128(1),
            span_id: SpanId::from_u64(id),
            name: format!("op{id}"),
            resource: r.clone(),
            scope: s.clone(),
            ..Default::default()
        };
        let spans = vec![
            span(&a, &s1, 1),
            span(&a_copy, &s1, 2),
            span(&a, &s2, 3),
            span(&b, &s1, 4),
            span(&a, &s1, 5),
        ];
        let td = from_model(&spans);
        let shape: Vec<Vec<usize>> = td
            .resource_spans
            .iter()
            .map(|rs| rs.scope_spans.iter().map(|ss| ss.spans.len()).collect())
            .collect();
        assert_eq!(shape, vec![vec![2, 1], vec![1], vec![1]]);
        let order: Vec<String> = td
            .resource_spans
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .flat_map(|ss| &ss.spans)
            .map(|s| s.name.clone())
            .collect();
        assert_eq!(order, ["op1", "op2", "op3", "op4", "op5"]);
        assert_eq!(proto_round_trip(&spans), spans);
        assert_eq!(export_request(&spans).resource_spans, td.resource_spans);
    }

    // ---- property tests ---------------------------------------------------------------------

    fn arb_id() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            vec(any::<u8>(), 0..20),
            vec(any::<u8>(), 16),
            vec(any::<u8>(), 8),
            Just(vec![0; 16]),
            Just(vec![0; 8]),
        ]
    }

    fn arb_any_value() -> impl Strategy<Value = AnyValue> {
        use any_value::Value as V;
        let leaf = prop_oneof![
            Just(None),
            ".{0,6}".prop_map(|s| Some(V::StringValue(s))),
            any::<bool>().prop_map(|b| Some(V::BoolValue(b))),
            any::<i64>().prop_map(|i| Some(V::IntValue(i))),
            // Dyadic fractions and infinities survive a JSON round trip exactly.
            (-1_000_000i32..1_000_000).prop_map(|i| Some(V::DoubleValue(i as f64 / 8.0))),
            Just(Some(V::DoubleValue(f64::INFINITY))),
            vec(any::<u8>(), 0..6).prop_map(|b| Some(V::BytesValue(b))),
            any::<i32>().prop_map(|i| Some(V::StringValueStrindex(i))),
        ]
        .prop_map(|value| AnyValue { value });
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                vec(inner.clone(), 0..4).prop_map(|values| AnyValue {
                    value: Some(V::ArrayValue(ArrayValue { values }))
                }),
                vec(("[a-z.]{0,4}", proptest::option::of(inner)), 0..4).prop_map(|kvs| {
                    let values = kvs
                        .into_iter()
                        .map(|(key, value)| PbKeyValue {
                            key,
                            value,
                            key_strindex: 0,
                        })
                        .collect();
                    AnyValue {
                        value: Some(V::KvlistValue(KeyValueList { values })),
                    }
                }),
            ]
        })
    }

    fn arb_attrs() -> impl Strategy<Value = Vec<PbKeyValue>> {
        vec(("[a-z.]{0,6}", proptest::option::of(arb_any_value())), 0..3).prop_map(|kvs| {
            kvs.into_iter()
                .map(|(key, value)| PbKeyValue {
                    key,
                    value,
                    key_strindex: 0,
                })
                .collect()
        })
    }

    fn arb_span() -> impl Strategy<Value = PbSpan> {
        let ids = (arb_id(), arb_id(), arb_id(), ".{0,4}", ".{0,4}");
        let numbers = (
            any::<i32>(),
            any::<u64>(),
            any::<u64>(),
            any::<u32>(),
            any::<u32>(),
        );
        let event = (any::<u64>(), ".{0,4}", arb_attrs(), any::<u32>()).prop_map(
            |(time_unix_nano, name, attributes, dropped_attributes_count)| pb_span::Event {
                time_unix_nano,
                name,
                attributes,
                dropped_attributes_count,
            },
        );
        let link = (arb_id(), arb_id(), ".{0,4}", arb_attrs(), any::<u32>()).prop_map(
            |(trace_id, span_id, trace_state, attributes, flags)| pb_span::Link {
                trace_id,
                span_id,
                trace_state,
                attributes,
                dropped_attributes_count: flags / 2,
                flags,
            },
        );
        let status = proptest::option::of((".{0,4}", any::<i32>()))
            .prop_map(|s| s.map(|(message, code)| PbStatus { message, code }));
        let parts = (arb_attrs(), vec(event, 0..2), vec(link, 0..2), status);
        (ids, numbers, parts).prop_map(
            |(
                (trace_id, span_id, parent_span_id, name, trace_state),
                (kind, start, end, flags, dropped),
                (attributes, events, links, status),
            )| PbSpan {
                trace_id,
                span_id,
                trace_state,
                parent_span_id,
                flags,
                name,
                kind,
                start_time_unix_nano: start,
                end_time_unix_nano: end,
                attributes,
                dropped_attributes_count: dropped,
                events,
                dropped_events_count: dropped / 3,
                links,
                dropped_links_count: dropped / 5,
                status,
            },
        )
    }

    fn arb_request() -> impl Strategy<Value = ExportTraceServiceRequest> {
        let scope = (
            proptest::option::of((".{0,4}", ".{0,4}", arb_attrs(), any::<u32>())),
            vec(arb_span(), 0..4),
            ".{0,4}",
        )
            .prop_map(|(scope, spans, schema_url)| ScopeSpans {
                scope: scope.map(|(name, version, attributes, dropped_attributes_count)| {
                    InstrumentationScope {
                        name,
                        version,
                        attributes,
                        dropped_attributes_count,
                    }
                }),
                spans,
                schema_url,
            });
        let resource = (
            proptest::option::of((arb_attrs(), any::<u32>())),
            vec(scope, 0..3),
            ".{0,4}",
        )
            .prop_map(|(resource, scope_spans, schema_url)| ResourceSpans {
                resource: resource.map(|(attributes, dropped_attributes_count)| PbResource {
                    attributes,
                    dropped_attributes_count,
                    entity_refs: Vec::new(),
                }),
                scope_spans,
                schema_url,
            });
        vec(resource, 0..3).prop_map(|resource_spans| ExportTraceServiceRequest { resource_spans })
    }

    /// JSON shaped like OTLP (its keys, hex-ish and numeric strings) nested at random, to get
    /// the decoder past the top level.
    fn arb_otlp_json() -> impl Strategy<Value = Json> {
        let keys = prop::sample::select(vec![
            "resourceSpans",
            "resource",
            "attributes",
            "scopeSpans",
            "scope",
            "spans",
            "traceId",
            "spanId",
            "parentSpanId",
            "name",
            "kind",
            "startTimeUnixNano",
            "events",
            "links",
            "status",
            "code",
            "key",
            "value",
            "stringValue",
            "intValue",
            "doubleValue",
            "boolValue",
            "bytesValue",
            "arrayValue",
            "kvlistValue",
            "values",
            "flags",
            "droppedAttributesCount",
            "timeUnixNano",
            "entityRefs",
            "idKeys",
        ]);
        let leaf = prop_oneof![
            Just(Json::Null),
            any::<bool>().prop_map(Json::Bool),
            any::<i64>().prop_map(Json::from),
            any::<u64>().prop_map(Json::from),
            any::<f64>()
                .prop_map(|f| serde_json::Number::from_f64(f).map_or(Json::Null, Json::Number)),
            "[0-9a-fA-F]{0,34}".prop_map(Json::String),
            "[A-Za-z0-9+/=_-]{0,8}".prop_map(Json::String),
            ".{0,6}".prop_map(Json::String),
        ];
        leaf.prop_recursive(8, 96, 6, move |inner| {
            prop_oneof![
                vec(inner.clone(), 0..5).prop_map(Json::Array),
                vec((keys.clone(), inner), 0..5).prop_map(|kvs| {
                    Json::Object(kvs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
                }),
            ]
        })
    }

    fn span_count(req: &ExportTraceServiceRequest) -> u64 {
        req.resource_spans
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .map(|ss| ss.spans.len() as u64)
            .sum()
    }

    proptest! {
        #[test]
        fn decode_protobuf_never_panics(body in vec(any::<u8>(), 0..1024)) {
            if let Ok(req) = decode_protobuf(&body) {
                let _ = to_model(req);
            }
        }

        #[test]
        fn decode_json_never_panics_on_arbitrary_bytes(body in vec(any::<u8>(), 0..512)) {
            let _ = decode_json(&body);
        }

        #[test]
        fn decode_json_never_panics_on_otlp_shaped_json(doc in arb_otlp_json()) {
            let body = doc.to_string();
            if let Ok(req) = decode_json(body.as_bytes()) {
                let _ = to_model(req);
            }
        }

        #[test]
        fn to_model_accounts_for_every_span_and_round_trips(req in arb_request()) {
            let total = span_count(&req);
            let decoded = to_model(req);
            prop_assert_eq!(decoded.batch.len() as u64 + decoded.rejected_spans, total);
            prop_assert!(decoded.errors.len() as u64 == decoded.rejected_spans.min(10));
            for s in &decoded.batch.spans {
                prop_assert!(!s.trace_id.is_zero() && !s.span_id.is_zero());
                prop_assert!(!s.name.is_empty());
                prop_assert!(s.resource.service_name().is_some_and(|n| !n.is_empty()));
            }
            let spans = decoded.batch.spans;
            let via_proto = to_model(export_request(&spans));
            prop_assert_eq!(&via_proto.batch.spans, &spans);
            let json = traces_data_to_json(&from_model(&spans)).to_string();
            let via_json = to_model(decode_json(json.as_bytes()).expect("own JSON decodes"));
            prop_assert_eq!(&via_json.batch.spans, &spans);
        }
    }
}
