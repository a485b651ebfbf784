//! OTLP/JSON → protobuf messages, by hand on `serde_json::Value` (the `with-serde` derive
//! rejects valid OTLP/JSON such as empty `arrayValue`s and enum names), with errors naming the
//! JSON path of the bad field.

use crate::ingest::json_type_name;
use std::fmt;

// ---------------------------------------------------------------------------------------------
// OTLP/JSON → protobuf messages
// ---------------------------------------------------------------------------------------------

/// Where in the JSON document a value sits; rendered only when an error is reported.
#[derive(Clone, Copy)]
pub(super) enum JsonPath<'a> {
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

use super::*;

type R<T> = Result<T, IngestError>;

fn bad(path: &JsonPath<'_>, message: impl Into<String>) -> IngestError {
    IngestError::JsonField {
        path: path.to_string(),
        message: message.into(),
    }
}

pub(super) fn request(doc: Json) -> R<ExportTraceServiceRequest> {
    let mut out = ExportTraceServiceRequest::default();
    let path = JsonPath::Root;
    let m = match doc {
        Json::Object(m) => m,
        other => {
            let message = format!("expected an object, got {}", json_type_name(&other));
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
            format!("expected an object, got {}", json_type_name(&other)),
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
            format!("expected an array, got {}", json_type_name(&other)),
        )),
    }
}

fn string(v: Json, path: &JsonPath<'_>) -> R<String> {
    match v {
        Json::String(s) => Ok(s),
        Json::Null => Ok(String::new()),
        other => Err(bad(
            path,
            format!("expected a string, got {}", json_type_name(&other)),
        )),
    }
}

fn boolean(v: Json, path: &JsonPath<'_>) -> R<bool> {
    match v {
        Json::Bool(b) => Ok(b),
        Json::Null => Ok(false),
        other => Err(bad(
            path,
            format!("expected a boolean, got {}", json_type_name(&other)),
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
            format!("expected an integer, got {}", json_type_name(&other)),
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
            format!("expected a number, got {}", json_type_name(&other)),
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
            "descriptionKeys" | "description_keys" => out.description_keys = list(v, &p, string)?,
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
            "endTimeUnixNano" | "end_time_unix_nano" => out.end_time_unix_nano = integer(v, &p)?,
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
