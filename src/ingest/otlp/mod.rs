//! OTLP traces ⇄ model: the one OTLP converter, both directions. The OTLP gRPC service, OTLP/HTTP
//! (protobuf and JSON), the remote-storage writer and the api_v3 / storage v2 readers all call it.
//!
//! Inbound: [`decode_export`] (in `pb_in`) reads a protobuf body straight into the model,
//! validating span by span and applying Jaeger v2's storage-exporter sanitizers (service name and
//! span name only); one `Arc<Resource>` per ResourceSpans, one `Arc<Scope>` per ScopeSpans. What
//! arrives as protobuf messages instead (OTLP/JSON through [`decode_json`], remote-storage reads)
//! goes through [`to_model`], which encodes it and calls the same decoder.
//! Outbound: [`from_model`] regroups spans into ResourceSpans/ScopeSpans and
//! [`traces_data_to_json`] prints spec OTLP/JSON (what Jaeger's `/api/v3` returns).
//!
//! Hot path (every ingested span passes through [`decode_export`]): no per-span logging, no
//! per-span `format!` except for the few rejected spans that get a message.
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
use crate::model::{KeyValue, Span, Value};
pub use pb_in::decode_export;

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

/// Validates and converts an export request already decoded by prost (remote-storage reads,
/// tests): through its encoding, so that [`decode_export`] stays the one conversion. Invalid
/// spans are counted and described in [`Decoded`]; the valid spans are kept, in request order.
pub fn to_model(req: ExportTraceServiceRequest) -> Decoded {
    decode_export(&req.encode_to_vec()).unwrap_or_else(|e| {
        // Only values nested past the decoder's depth limit make a request built in memory
        // undecodable: its spans are rejected together.
        let total: usize = req
            .resource_spans
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .map(|ss| ss.spans.len())
            .sum();
        let mut out = Decoded::default();
        out.reject(|| e.to_string());
        out.rejected_spans = total as u64;
        out
    })
}

/// Jaeger v2's storage-exporter service-name sanitizer: every stored resource has a non-empty
/// string `service.name`.
fn sanitize_service_name(attributes: &mut Vec<KeyValue>) {
    match attributes.iter_mut().find(|kv| kv.key == SERVICE_NAME) {
        None => attributes.push(KeyValue::string(SERVICE_NAME, MISSING_SERVICE_NAME)),
        Some(kv) => match &mut kv.value {
            Value::Str(s) if s.is_empty() => *s = EMPTY_SERVICE_NAME.into(),
            Value::Str(_) => {}
            other => *other = Value::Str(SERVICE_NAME_WRONG_TYPE.into()),
        },
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
            key: kv.key.to_string(),
            value: Some(value_to_pb(&kv.value)),
            key_strindex: 0,
        })
        .collect()
}

fn value_to_pb(v: &Value) -> AnyValue {
    use any_value::Value as V;
    let value = match v {
        Value::Empty => None,
        Value::Str(s) => Some(V::StringValue(s.to_string())),
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
mod pb_in;
mod wire;

#[cfg(test)]
mod pb_in_tests;
#[cfg(test)]
mod tests;
