//! A tiny Jaeger Thrift encoder for the integration tests, written on the `thrift` crate's
//! output protocols with the field ids of jaeger.thrift / agent.thrift (jaeger-wire.md §e): what a
//! Jaeger client library puts on the wire, built independently of the server's decoder.
#![allow(dead_code)]

use thrift::protocol::{
    TBinaryOutputProtocol, TCompactOutputProtocol, TFieldIdentifier, TListIdentifier,
    TMessageIdentifier, TMessageType, TOutputProtocol, TStructIdentifier, TType,
};

pub enum TagValue {
    Str(&'static str),
    Double(f64),
    Bool(bool),
    Long(i64),
    Binary(Vec<u8>),
}

pub struct Tag(pub &'static str, pub TagValue);

pub struct Log {
    pub timestamp_us: i64,
    pub fields: Vec<Tag>,
}

/// (refType: 0 CHILD_OF / 1 FOLLOWS_FROM, traceIdLow, traceIdHigh, spanId)
pub struct SpanRef(pub i32, pub i64, pub i64, pub i64);

pub struct Span {
    pub trace_id_low: i64,
    pub trace_id_high: i64,
    pub span_id: i64,
    pub parent_span_id: i64,
    pub operation_name: &'static str,
    pub references: Vec<SpanRef>,
    pub flags: i32,
    pub start_us: i64,
    pub duration_us: i64,
    pub tags: Vec<Tag>,
    pub logs: Vec<Log>,
}

pub struct Batch {
    pub service: &'static str,
    pub process_tags: Vec<Tag>,
    pub spans: Vec<Span>,
}

#[derive(Clone, Copy)]
pub enum Proto {
    Binary,
    Compact,
}

type R = thrift::Result<()>;

fn field(p: &mut dyn TOutputProtocol, name: &str, ty: TType, id: i16) -> R {
    p.write_field_begin(&TFieldIdentifier::new(name, ty, id))
}

fn list<T>(
    p: &mut dyn TOutputProtocol,
    items: &[T],
    each: impl Fn(&mut dyn TOutputProtocol, &T) -> R,
) -> R {
    p.write_list_begin(&TListIdentifier::new(TType::Struct, items.len() as i32))?;
    for i in items {
        each(p, i)?;
    }
    p.write_list_end()
}

fn tag(p: &mut dyn TOutputProtocol, t: &Tag) -> R {
    p.write_struct_begin(&TStructIdentifier::new("Tag"))?;
    field(p, "key", TType::String, 1)?;
    p.write_string(t.0)?;
    let vtype = match t.1 {
        TagValue::Str(_) => 0,
        TagValue::Double(_) => 1,
        TagValue::Bool(_) => 2,
        TagValue::Long(_) => 3,
        TagValue::Binary(_) => 4,
    };
    field(p, "vType", TType::I32, 2)?;
    p.write_i32(vtype)?;
    match &t.1 {
        TagValue::Str(s) => {
            field(p, "vStr", TType::String, 3)?;
            p.write_string(s)?;
        }
        TagValue::Double(d) => {
            field(p, "vDouble", TType::Double, 4)?;
            p.write_double(*d)?;
        }
        TagValue::Bool(b) => {
            field(p, "vBool", TType::Bool, 5)?;
            p.write_bool(*b)?;
        }
        TagValue::Long(l) => {
            field(p, "vLong", TType::I64, 6)?;
            p.write_i64(*l)?;
        }
        TagValue::Binary(b) => {
            field(p, "vBinary", TType::String, 7)?;
            p.write_bytes(b)?;
        }
    }
    p.write_field_stop()?;
    p.write_struct_end()
}

fn span(p: &mut dyn TOutputProtocol, s: &Span) -> R {
    p.write_struct_begin(&TStructIdentifier::new("Span"))?;
    for (name, id, v) in [
        ("traceIdLow", 1, s.trace_id_low),
        ("traceIdHigh", 2, s.trace_id_high),
        ("spanId", 3, s.span_id),
        ("parentSpanId", 4, s.parent_span_id),
    ] {
        field(p, name, TType::I64, id)?;
        p.write_i64(v)?;
    }
    field(p, "operationName", TType::String, 5)?;
    p.write_string(s.operation_name)?;
    if !s.references.is_empty() {
        field(p, "references", TType::List, 6)?;
        list(p, &s.references, |p, r| {
            p.write_struct_begin(&TStructIdentifier::new("SpanRef"))?;
            field(p, "refType", TType::I32, 1)?;
            p.write_i32(r.0)?;
            for (name, id, v) in [
                ("traceIdLow", 2, r.1),
                ("traceIdHigh", 3, r.2),
                ("spanId", 4, r.3),
            ] {
                field(p, name, TType::I64, id)?;
                p.write_i64(v)?;
            }
            p.write_field_stop()?;
            p.write_struct_end()
        })?;
    }
    field(p, "flags", TType::I32, 7)?;
    p.write_i32(s.flags)?;
    field(p, "startTime", TType::I64, 8)?;
    p.write_i64(s.start_us)?;
    field(p, "duration", TType::I64, 9)?;
    p.write_i64(s.duration_us)?;
    if !s.tags.is_empty() {
        field(p, "tags", TType::List, 10)?;
        list(p, &s.tags, tag)?;
    }
    if !s.logs.is_empty() {
        field(p, "logs", TType::List, 11)?;
        list(p, &s.logs, |p, l| {
            p.write_struct_begin(&TStructIdentifier::new("Log"))?;
            field(p, "timestamp", TType::I64, 1)?;
            p.write_i64(l.timestamp_us)?;
            field(p, "fields", TType::List, 2)?;
            list(p, &l.fields, tag)?;
            p.write_field_stop()?;
            p.write_struct_end()
        })?;
    }
    p.write_field_stop()?;
    p.write_struct_end()
}

fn batch(p: &mut dyn TOutputProtocol, b: &Batch) -> R {
    p.write_struct_begin(&TStructIdentifier::new("Batch"))?;
    field(p, "process", TType::Struct, 1)?;
    p.write_struct_begin(&TStructIdentifier::new("Process"))?;
    field(p, "serviceName", TType::String, 1)?;
    p.write_string(b.service)?;
    if !b.process_tags.is_empty() {
        field(p, "tags", TType::List, 2)?;
        list(p, &b.process_tags, tag)?;
    }
    p.write_field_stop()?;
    p.write_struct_end()?;
    field(p, "spans", TType::List, 2)?;
    list(p, &b.spans, span)?;
    field(p, "seqNo", TType::I64, 3)?;
    p.write_i64(1)?;
    p.write_field_stop()?;
    p.write_struct_end()
}

fn with_protocol(proto: Proto, write: impl FnOnce(&mut dyn TOutputProtocol) -> R) -> Vec<u8> {
    let mut out = Vec::new();
    match proto {
        Proto::Binary => write(&mut TBinaryOutputProtocol::new(&mut out, true)),
        Proto::Compact => write(&mut TCompactOutputProtocol::new(&mut out)),
    }
    .expect("encoding into a Vec cannot fail");
    out
}

/// A bare `Batch` (the HTTP `POST /api/traces` body).
pub fn encode_batch(proto: Proto, b: &Batch) -> Vec<u8> {
    with_protocol(proto, |p| {
        batch(p, b)?;
        p.flush()
    })
}

/// One UDP datagram: the `Agent.emitBatch` oneway message.
pub fn encode_emit_batch(proto: Proto, b: &Batch) -> Vec<u8> {
    with_protocol(proto, |p| {
        p.write_message_begin(&TMessageIdentifier::new(
            "emitBatch",
            TMessageType::OneWay,
            7,
        ))?;
        p.write_struct_begin(&TStructIdentifier::new("emitBatch_args"))?;
        field(p, "batch", TType::Struct, 1)?;
        batch(p, b)?;
        p.write_field_stop()?;
        p.write_struct_end()?;
        p.write_message_end()?;
        p.flush()
    })
}
