//! OTLP protobuf → model in one pass over the body: the inbound half of the one OTLP converter.
//!
//! The request is read field by field straight into [`Span`]s: no intermediate protobuf
//! messages, IDs checked on the body's own bytes. Protobuf's decoding rules hold as prost applies
//! them: fields in any order, the last occurrence of a scalar wins, repeated occurrences of a
//! message field merge, unknown fields (groups included) are skipped, strings must be UTF-8, and
//! messages nest at most [`MAX_DEPTH`] deep.
//!
//! A span whose own bytes are malformed is rejected like any invalid span (counted, with a
//! message naming the field) and the other spans of the request are kept. Only damage outside
//! the spans (the framing of the request, a resource or a scope) refuses the whole body.
//!
//! Hot path: every OTLP span (gRPC, HTTP, remote-storage writes) passes through here. It
//! allocates only the model's own strings and lists; an error's path is built only when an error
//! happens.

use std::sync::Arc;

use super::wire::{At, Problem, Reader, Wire, WireError, MAX_DEPTH};
use super::{sanitize_service_name, SpanProblem, EMPTY_SPAN_NAME};
use crate::ingest::{Decoded, IngestError};
use crate::model::{
    Event, KeyValue, Link, Resource, Scope, Span, SpanId, SpanKind, Status, StatusCode, Text,
    TraceId, Value,
};

// Nesting depth of each message kind below the request (depth 0).
const RESOURCE_SPANS_DEPTH: u32 = 1;
const RESOURCE_DEPTH: u32 = 2;
const SCOPE_SPANS_DEPTH: u32 = 2;
const SCOPE_DEPTH: u32 = 3;
const SPAN_DEPTH: u32 = 3;
const SPAN_PART_DEPTH: u32 = 4;

/// Decodes an OTLP `ExportTraceServiceRequest` (equally a `TracesData`: same field) from an
/// OTLP/gRPC or OTLP/HTTP protobuf body, validating span by span.
pub fn decode_export(body: &[u8]) -> Result<Decoded, IngestError> {
    let mut out = Decoded::default();
    request(body, &mut out).map_err(|e| {
        let path = e.path();
        IngestError::ProtobufField {
            path: if path.is_empty() {
                "the top level".to_string()
            } else {
                path
            },
            message: e.problem.to_string(),
        }
    })?;
    Ok(out)
}

fn request(body: &[u8], out: &mut Decoded) -> Result<(), WireError> {
    let mut r = Reader::new(body);
    let mut ri = 0;
    while let Some((field, wire)) = r.field()? {
        if field == 1 {
            let bytes = r.message(wire).at_item("resource_spans", ri)?;
            resource_spans(bytes, ri, out).at_item("resource_spans", ri)?;
            ri += 1;
        } else {
            r.skip(field, wire, 0).at_unknown(field)?;
        }
    }
    Ok(())
}

/// One `ResourceSpans`. Its resource and schema URL are read first: every span shares them, and
/// the schema URL follows the spans in an encoder's field order.
fn resource_spans(bytes: &[u8], ri: usize, out: &mut Decoded) -> Result<(), WireError> {
    let mut attributes = Vec::new();
    let mut dropped_attributes_count = 0;
    let mut schema_url = String::new();
    let mut scopes = 0;
    let mut r = Reader::new(bytes);
    while let Some((field, wire)) = r.field()? {
        match field {
            1 => {
                let b = r.message(wire).at("resource")?;
                resource(b, &mut attributes, &mut dropped_attributes_count).at("resource")?;
            }
            2 => {
                r.message(wire).at_item("scope_spans", scopes)?;
                scopes += 1;
            }
            3 => schema_url = r.string(wire).at("schema_url")?,
            _ => r
                .skip(field, wire, RESOURCE_SPANS_DEPTH)
                .at_unknown(field)?,
        }
    }
    if scopes == 0 {
        return Ok(());
    }
    sanitize_service_name(&mut attributes);
    let resource = Arc::new(Resource {
        attributes,
        dropped_attributes_count,
        schema_url,
    });
    let mut r = Reader::new(bytes);
    let mut si = 0;
    while let Some((field, wire)) = r.field()? {
        if field == 2 {
            let b = r.message(wire)?;
            scope_spans(b, &resource, (ri, si), out).at_item("scope_spans", si)?;
            si += 1;
        } else {
            r.skip(field, wire, RESOURCE_SPANS_DEPTH)?;
        }
    }
    Ok(())
}

/// A resource's fields, merged into what earlier occurrences gave. `entity_refs` (OTLP
/// development status) has no place in the model and is skipped.
fn resource(
    bytes: &[u8],
    attributes: &mut Vec<KeyValue>,
    dropped: &mut u32,
) -> Result<(), WireError> {
    let mut r = Reader::new(bytes);
    while let Some((field, wire)) = r.field()? {
        match field {
            1 => attributes.push(
                attribute(&mut r, wire, RESOURCE_DEPTH + 1)
                    .at_item("attributes", attributes.len())?,
            ),
            2 => *dropped = r.uint32(wire).at("dropped_attributes_count")?,
            _ => r.skip(field, wire, RESOURCE_DEPTH).at_unknown(field)?,
        }
    }
    Ok(())
}

/// One `ScopeSpans`: its scope and schema URL first, then its spans into `out`. `(ri, si)`
/// places it in the request, for rejection messages.
fn scope_spans(
    bytes: &[u8],
    resource: &Arc<Resource>,
    (ri, si): (usize, usize),
    out: &mut Decoded,
) -> Result<(), WireError> {
    let mut scope = Scope::default();
    let mut spans = 0;
    let mut r = Reader::new(bytes);
    while let Some((field, wire)) = r.field()? {
        match field {
            1 => {
                let b = r.message(wire).at("scope")?;
                instrumentation_scope(b, &mut scope).at("scope")?;
            }
            2 => {
                r.message(wire).at_item("spans", spans)?;
                spans += 1;
            }
            3 => scope.schema_url = r.string(wire).at("schema_url")?,
            _ => r.skip(field, wire, SCOPE_SPANS_DEPTH).at_unknown(field)?,
        }
    }
    if spans == 0 {
        return Ok(());
    }
    let scope = Arc::new(scope);
    out.batch.spans.reserve(spans);
    let mut r = Reader::new(bytes);
    let mut pi = 0;
    while let Some((field, wire)) = r.field()? {
        if field == 2 {
            let b = r.message(wire)?;
            match span(b, resource, &scope) {
                Ok(Ok(span)) => out.batch.spans.push(span),
                Ok(Err(problem)) => out.reject(|| {
                    format!("resource_spans[{ri}].scope_spans[{si}].spans[{pi}]: {problem}")
                }),
                Err(e) => out.reject(|| {
                    let e = e
                        .at_item("spans", pi)
                        .at_item("scope_spans", si)
                        .at_item("resource_spans", ri);
                    e.to_string()
                }),
            }
            pi += 1;
        } else {
            r.skip(field, wire, SCOPE_SPANS_DEPTH)?;
        }
    }
    Ok(())
}

fn instrumentation_scope(bytes: &[u8], scope: &mut Scope) -> Result<(), WireError> {
    let mut r = Reader::new(bytes);
    while let Some((field, wire)) = r.field()? {
        match field {
            1 => scope.name = r.string(wire).at("name")?,
            2 => scope.version = r.string(wire).at("version")?,
            3 => {
                let i = scope.attributes.len();
                scope
                    .attributes
                    .push(attribute(&mut r, wire, SCOPE_DEPTH + 1).at_item("attributes", i)?);
            }
            4 => scope.dropped_attributes_count = r.uint32(wire).at("dropped_attributes_count")?,
            _ => r.skip(field, wire, SCOPE_DEPTH).at_unknown(field)?,
        }
    }
    Ok(())
}

/// One span: a malformed body is the outer error, an invalid span the inner one.
fn span(
    bytes: &[u8],
    resource: &Arc<Resource>,
    scope: &Arc<Scope>,
) -> Result<Result<Span, SpanProblem>, WireError> {
    let (mut trace_id, mut span_id, mut parent_span_id): (&[u8], &[u8], &[u8]) = (&[], &[], &[]);
    let mut trace_state = String::new();
    let mut name = String::new();
    let mut kind = 0;
    let (mut start_ns, mut end_ns) = (0, 0);
    let mut attributes = Vec::new();
    let mut dropped_attributes_count = 0;
    let mut events = Vec::new();
    let mut dropped_events_count = 0;
    let mut links = Vec::new();
    let mut link_problem = None;
    let mut dropped_links_count = 0;
    let (mut status_code, mut status_message) = (0, String::new());
    let mut flags = 0;
    let mut r = Reader::new(bytes);
    while let Some((field, wire)) = r.field()? {
        match field {
            1 => trace_id = r.message(wire).at("trace_id")?,
            2 => span_id = r.message(wire).at("span_id")?,
            3 => trace_state = r.string(wire).at("trace_state")?,
            4 => parent_span_id = r.message(wire).at("parent_span_id")?,
            5 => name = r.string(wire).at("name")?,
            6 => kind = r.int32(wire).at("kind")?,
            7 => start_ns = r.fixed64(wire).at("start_time_unix_nano")?,
            8 => end_ns = r.fixed64(wire).at("end_time_unix_nano")?,
            9 => {
                let i = attributes.len();
                attributes.push(attribute(&mut r, wire, SPAN_DEPTH + 1).at_item("attributes", i)?);
            }
            10 => dropped_attributes_count = r.uint32(wire).at("dropped_attributes_count")?,
            11 => {
                let i = events.len();
                let b = r.message(wire).at_item("events", i)?;
                events.push(event(b).at_item("events", i)?);
            }
            12 => dropped_events_count = r.uint32(wire).at("dropped_events_count")?,
            13 => {
                let i = links.len();
                let b = r.message(wire).at_item("links", i)?;
                let (l, problem) = link(b, i).at_item("links", i)?;
                link_problem = link_problem.or(problem);
                links.push(l);
            }
            14 => dropped_links_count = r.uint32(wire).at("dropped_links_count")?,
            15 => {
                let b = r.message(wire).at("status")?;
                status(b, &mut status_code, &mut status_message).at("status")?;
            }
            16 => flags = r.fixed32(wire).at("flags")?,
            _ => r.skip(field, wire, SPAN_DEPTH).at_unknown(field)?,
        }
    }
    let (trace_id, span_id, parent_span_id) = match span_ids(trace_id, span_id, parent_span_id) {
        Ok(ids) => ids,
        Err(problem) => return Ok(Err(problem)),
    };
    if let Some(problem) = link_problem {
        return Ok(Err(problem));
    }
    if name.is_empty() {
        name = EMPTY_SPAN_NAME.to_string();
    }
    Ok(Ok(Span {
        trace_id,
        span_id,
        parent_span_id,
        trace_state,
        name,
        kind: SpanKind::from_i32(kind),
        start_ns,
        end_ns,
        attributes,
        dropped_attributes_count,
        events,
        dropped_events_count,
        links,
        dropped_links_count,
        status: Status {
            code: StatusCode::from_i32(status_code),
            message: status_message,
        },
        flags,
        resource: Arc::clone(resource),
        scope: Arc::clone(scope),
    }))
}

/// A span's IDs, checked in this order: trace ID, span ID, parent span ID (empty = root).
fn span_ids(
    trace: &[u8],
    span: &[u8],
    parent: &[u8],
) -> Result<(TraceId, SpanId, SpanId), SpanProblem> {
    if trace.len() != 16 {
        return Err(SpanProblem::TraceIdLength(trace.len()));
    }
    let trace_id =
        TraceId::from_slice(trace).map_err(|_| SpanProblem::TraceIdLength(trace.len()))?;
    if trace_id.is_zero() {
        return Err(SpanProblem::TraceIdZero);
    }
    let span_id = SpanId::from_slice(span).map_err(|_| SpanProblem::SpanIdLength(span.len()))?;
    if span_id.is_zero() {
        return Err(SpanProblem::SpanIdZero);
    }
    let parent_span_id = match parent.len() {
        0 => SpanId::ZERO,
        n => SpanId::from_slice(parent).map_err(|_| SpanProblem::ParentSpanIdLength(n))?,
    };
    Ok((trace_id, span_id, parent_span_id))
}

fn event(bytes: &[u8]) -> Result<Event, WireError> {
    let mut e = Event {
        time_ns: 0,
        name: String::new(),
        attributes: Vec::new(),
        dropped_attributes_count: 0,
    };
    let mut r = Reader::new(bytes);
    while let Some((field, wire)) = r.field()? {
        match field {
            1 => e.time_ns = r.fixed64(wire).at("time_unix_nano")?,
            2 => e.name = r.string(wire).at("name")?,
            3 => {
                let i = e.attributes.len();
                e.attributes
                    .push(attribute(&mut r, wire, SPAN_PART_DEPTH + 1).at_item("attributes", i)?);
            }
            4 => e.dropped_attributes_count = r.uint32(wire).at("dropped_attributes_count")?,
            _ => r.skip(field, wire, SPAN_PART_DEPTH).at_unknown(field)?,
        }
    }
    Ok(e)
}

/// Link `i` of a span, and what makes the span invalid if its IDs do. Link IDs may be empty (an
/// invalid / unset context, which Go's pdata encodes by omitting the field); any other length
/// than the ID width rejects the span.
fn link(bytes: &[u8], i: usize) -> Result<(Link, Option<SpanProblem>), WireError> {
    let (mut trace_id, mut span_id): (&[u8], &[u8]) = (&[], &[]);
    let mut l = Link {
        trace_id: TraceId::ZERO,
        span_id: SpanId::ZERO,
        trace_state: String::new(),
        attributes: Vec::new(),
        dropped_attributes_count: 0,
        flags: 0,
    };
    let mut r = Reader::new(bytes);
    while let Some((field, wire)) = r.field()? {
        match field {
            1 => trace_id = r.message(wire).at("trace_id")?,
            2 => span_id = r.message(wire).at("span_id")?,
            3 => l.trace_state = r.string(wire).at("trace_state")?,
            4 => {
                let i = l.attributes.len();
                l.attributes
                    .push(attribute(&mut r, wire, SPAN_PART_DEPTH + 1).at_item("attributes", i)?);
            }
            5 => l.dropped_attributes_count = r.uint32(wire).at("dropped_attributes_count")?,
            6 => l.flags = r.fixed32(wire).at("flags")?,
            _ => r.skip(field, wire, SPAN_PART_DEPTH).at_unknown(field)?,
        }
    }
    let mut problem = None;
    match trace_id.len() {
        0 => {}
        16 => match TraceId::from_slice(trace_id) {
            Ok(id) => l.trace_id = id,
            Err(_) => problem = Some(SpanProblem::LinkTraceIdLength(i, 16)),
        },
        n => problem = Some(SpanProblem::LinkTraceIdLength(i, n)),
    }
    if problem.is_none() && !span_id.is_empty() {
        match SpanId::from_slice(span_id) {
            Ok(id) => l.span_id = id,
            Err(_) => problem = Some(SpanProblem::LinkSpanIdLength(i, span_id.len())),
        }
    }
    Ok((l, problem))
}

fn status(bytes: &[u8], code: &mut i32, message: &mut String) -> Result<(), WireError> {
    let mut r = Reader::new(bytes);
    while let Some((field, wire)) = r.field()? {
        match field {
            2 => *message = r.string(wire).at("message")?,
            3 => *code = r.int32(wire).at("code")?,
            _ => r.skip(field, wire, SPAN_PART_DEPTH).at_unknown(field)?,
        }
    }
    Ok(())
}

/// The `KeyValue` message of a length-delimited field at `depth`.
fn attribute(r: &mut Reader<'_>, wire: Wire, depth: u32) -> Result<KeyValue, WireError> {
    let bytes = r.message(wire)?;
    key_value(bytes, depth)
}

/// A `KeyValue` message at `depth`. `key_strindex` (profiles only) is skipped.
fn key_value(bytes: &[u8], depth: u32) -> Result<KeyValue, WireError> {
    if depth > MAX_DEPTH {
        return Err(Problem::TooDeep.into());
    }
    let mut kv = KeyValue {
        key: Text::default(),
        value: Value::Empty,
    };
    let mut r = Reader::new(bytes);
    while let Some((field, wire)) = r.field()? {
        match field {
            1 => kv.key = r.text(wire).at("key")?,
            2 => {
                let b = r.message(wire).at("value")?;
                any_value(b, &mut kv.value, depth + 1).at("value")?;
            }
            _ => r.skip(field, wire, depth).at_unknown(field)?,
        }
    }
    Ok(kv)
}

/// Merges an `AnyValue` message at `depth` into `value`: a scalar replaces it, an array or
/// key-value list extends one of the same kind (prost's rule for a oneof's message variant).
fn any_value(bytes: &[u8], value: &mut Value, depth: u32) -> Result<(), WireError> {
    if depth > MAX_DEPTH {
        return Err(Problem::TooDeep.into());
    }
    let mut r = Reader::new(bytes);
    while let Some((field, wire)) = r.field()? {
        match field {
            1 => *value = Value::Str(r.text(wire).at("string_value")?),
            2 => *value = Value::Bool(r.varint_field(wire).at("bool_value")? != 0),
            3 => *value = Value::Int(r.varint_field(wire).at("int_value")? as i64),
            4 => *value = Value::Double(f64::from_bits(r.fixed64(wire).at("double_value")?)),
            5 => {
                let b = r.message(wire).at("array_value")?;
                let mut items = match std::mem::take(value) {
                    Value::Array(items) => items,
                    _ => Vec::new(),
                };
                let item = |b: &[u8]| {
                    let mut v = Value::Empty;
                    any_value(b, &mut v, depth + 2).map(|()| v)
                };
                values(b, depth + 1, &mut items, item).at("array_value")?;
                *value = Value::Array(items);
            }
            6 => {
                let b = r.message(wire).at("kvlist_value")?;
                let mut kvs = match std::mem::take(value) {
                    Value::Map(kvs) => kvs,
                    _ => Vec::new(),
                };
                values(b, depth + 1, &mut kvs, |b| key_value(b, depth + 2)).at("kvlist_value")?;
                *value = Value::Map(kvs);
            }
            7 => *value = Value::Bytes(r.message(wire).at("bytes_value")?.to_vec()),
            // An index into the profiles signal's string table: meaningless in a trace.
            8 => {
                r.int32(wire).at("string_value_strindex")?;
                *value = Value::Empty;
            }
            _ => r.skip(field, wire, depth).at_unknown(field)?,
        }
    }
    Ok(())
}

/// The `values` (field 1) of an `ArrayValue` or a `KeyValueList` at `depth`, each read by `item`
/// from its bytes and appended to `out`.
fn values<T>(
    bytes: &[u8],
    depth: u32,
    out: &mut Vec<T>,
    mut item: impl FnMut(&[u8]) -> Result<T, WireError>,
) -> Result<(), WireError> {
    if depth > MAX_DEPTH {
        return Err(Problem::TooDeep.into());
    }
    let mut r = Reader::new(bytes);
    while let Some((field, wire)) = r.field()? {
        if field == 1 {
            let i = out.len();
            let b = r.message(wire).at_item("values", i)?;
            out.push(item(b).at_item("values", i)?);
        } else {
            r.skip(field, wire, depth).at_unknown(field)?;
        }
    }
    Ok(())
}
