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
//! `null` for repeated fields, `"NaN"` / `"Infinity"` doubles) and its errors give a line and
//! column but not the field. Syntax errors keep serde_json's line and column; field errors name
//! the JSON path (`resourceSpans[0].scopeSpans[0].spans[2].traceId`).

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
pub use super::{Decoded, MAX_ERROR_MESSAGES};
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

/// OTLP's view of [`Decoded`]: the partial-success answer.
impl Decoded {
    /// The OTLP partial-success answer, or `None` when every span was accepted.
    pub fn partial_success(&self) -> Option<ExportTracePartialSuccess> {
        if self.rejected_spans == 0 {
            return None;
        }
        Some(ExportTracePartialSuccess {
            rejected_spans: i64::try_from(self.rejected_spans).unwrap_or(i64::MAX),
            error_message: self.rejection_summary(),
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
                    Err(problem) => out.reject(|| {
                        format!("resource_spans[{ri}].scope_spans[{si}].spans[{pi}]: {problem}")
                    }),
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

pub mod chunk;
mod json_in;
mod json_out;
#[cfg(test)]
mod tests;
