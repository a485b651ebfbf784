//! Test-only Jaeger Thrift encoder, independent of the decoder: field ids and types written by
//! hand from jaeger-wire.md §e with the `thrift` crate's output protocols. Used by the unit tests
//! and to generate the golden inputs.

use thrift::protocol::{
    TBinaryOutputProtocol, TCompactOutputProtocol, TFieldIdentifier, TListIdentifier,
    TMessageIdentifier, TMessageType, TOutputProtocol, TStructIdentifier, TType,
};

use super::thrift::ThriftProtocol;

/// A Thrift tag value, by TagType (STRING=0, DOUBLE=1, BOOL=2, LONG=3, BINARY=4).
#[derive(Debug, Clone)]
pub enum TValue {
    Str(&'static str),
    Double(f64),
    Bool(bool),
    Long(i64),
    Binary(Vec<u8>),
    /// A TagType number this side does not know, with a string value.
    Unknown(i32),
}

#[derive(Debug, Clone)]
pub struct TTag(pub &'static str, pub TValue);

#[derive(Debug, Clone)]
pub struct TLog {
    pub timestamp_us: i64,
    pub fields: Vec<TTag>,
}

#[derive(Debug, Clone)]
pub struct TRef {
    pub ref_type: i32,
    pub trace_low: i64,
    pub trace_high: i64,
    pub span_id: i64,
}

#[derive(Debug, Clone)]
pub struct TSpan {
    /// `None` leaves the required field out.
    pub trace_low: Option<i64>,
    pub trace_high: i64,
    pub span_id: Option<i64>,
    pub parent_span_id: i64,
    pub operation_name: &'static str,
    pub references: Vec<TRef>,
    pub flags: i32,
    pub start_us: Option<i64>,
    pub duration_us: i64,
    pub tags: Vec<TTag>,
    pub logs: Vec<TLog>,
    /// Writes an extra field 99 (a string) that readers must skip.
    pub unknown_field: bool,
}

impl Default for TSpan {
    fn default() -> Self {
        TSpan {
            trace_low: Some(0x1111),
            trace_high: 0,
            span_id: Some(0x2222),
            parent_span_id: 0,
            operation_name: "op",
            references: Vec::new(),
            flags: 1,
            start_us: Some(1_700_000_000_000_000),
            duration_us: 1500,
            tags: Vec::new(),
            logs: Vec::new(),
            unknown_field: false,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct TBatch {
    /// `None` leaves the required process out.
    pub process: Option<(&'static str, Vec<TTag>)>,
    pub spans: Vec<TSpan>,
    pub seq_no: Option<i64>,
    pub client_stats: bool,
}

type P<'a> = dyn TOutputProtocol + 'a;

fn field(p: &mut P, ty: TType, id: i16) {
    p.write_field_begin(&TFieldIdentifier::new("f", ty, id))
        .unwrap();
}

fn begin(p: &mut P) {
    p.write_struct_begin(&TStructIdentifier::new("s")).unwrap();
}

fn end(p: &mut P) {
    p.write_field_stop().unwrap();
    p.write_struct_end().unwrap();
}

fn i64_field(p: &mut P, id: i16, v: i64) {
    field(p, TType::I64, id);
    p.write_i64(v).unwrap();
}

fn list_field(p: &mut P, id: i16, len: usize) {
    field(p, TType::List, id);
    p.write_list_begin(&TListIdentifier::new(TType::Struct, len as i32))
        .unwrap();
}

fn write_tag(p: &mut P, tag: &TTag) {
    begin(p);
    field(p, TType::String, 1);
    p.write_string(tag.0).unwrap();
    let tag_type = match &tag.1 {
        TValue::Str(_) => 0,
        TValue::Double(_) => 1,
        TValue::Bool(_) => 2,
        TValue::Long(_) => 3,
        TValue::Binary(_) => 4,
        TValue::Unknown(n) => *n,
    };
    field(p, TType::I32, 2);
    p.write_i32(tag_type).unwrap();
    match &tag.1 {
        TValue::Str(s) => {
            field(p, TType::String, 3);
            p.write_string(s).unwrap();
        }
        TValue::Unknown(_) => {
            field(p, TType::String, 3);
            p.write_string("mystery").unwrap();
        }
        TValue::Double(d) => {
            field(p, TType::Double, 4);
            p.write_double(*d).unwrap();
        }
        TValue::Bool(b) => {
            field(p, TType::Bool, 5);
            p.write_bool(*b).unwrap();
        }
        TValue::Long(l) => i64_field(p, 6, *l),
        TValue::Binary(b) => {
            field(p, TType::String, 7);
            p.write_bytes(b).unwrap();
        }
    }
    end(p);
}

fn write_tags(p: &mut P, id: i16, tags: &[TTag]) {
    list_field(p, id, tags.len());
    for t in tags {
        write_tag(p, t);
    }
    p.write_list_end().unwrap();
}

fn write_span(p: &mut P, s: &TSpan) {
    begin(p);
    if let Some(low) = s.trace_low {
        i64_field(p, 1, low);
    }
    i64_field(p, 2, s.trace_high);
    if let Some(id) = s.span_id {
        i64_field(p, 3, id);
    }
    i64_field(p, 4, s.parent_span_id);
    field(p, TType::String, 5);
    p.write_string(s.operation_name).unwrap();
    if !s.references.is_empty() {
        list_field(p, 6, s.references.len());
        for r in &s.references {
            begin(p);
            field(p, TType::I32, 1);
            p.write_i32(r.ref_type).unwrap();
            i64_field(p, 2, r.trace_low);
            i64_field(p, 3, r.trace_high);
            i64_field(p, 4, r.span_id);
            end(p);
        }
        p.write_list_end().unwrap();
    }
    field(p, TType::I32, 7);
    p.write_i32(s.flags).unwrap();
    if let Some(start) = s.start_us {
        i64_field(p, 8, start);
    }
    i64_field(p, 9, s.duration_us);
    if !s.tags.is_empty() {
        write_tags(p, 10, &s.tags);
    }
    if !s.logs.is_empty() {
        list_field(p, 11, s.logs.len());
        for l in &s.logs {
            begin(p);
            i64_field(p, 1, l.timestamp_us);
            write_tags(p, 2, &l.fields);
            end(p);
        }
        p.write_list_end().unwrap();
    }
    if s.unknown_field {
        field(p, TType::String, 99);
        p.write_string("skip me").unwrap();
    }
    end(p);
}

fn write_batch(p: &mut P, b: &TBatch) {
    begin(p);
    if let Some((service, tags)) = &b.process {
        field(p, TType::Struct, 1);
        begin(p);
        field(p, TType::String, 1);
        p.write_string(service).unwrap();
        if !tags.is_empty() {
            write_tags(p, 2, tags);
        }
        end(p);
    }
    list_field(p, 2, b.spans.len());
    for s in &b.spans {
        write_span(p, s);
    }
    p.write_list_end().unwrap();
    if let Some(seq) = b.seq_no {
        i64_field(p, 3, seq);
    }
    if b.client_stats {
        field(p, TType::Struct, 4);
        begin(p);
        i64_field(p, 1, 1);
        i64_field(p, 2, 2);
        i64_field(p, 3, 3);
        end(p);
    }
    end(p);
}

fn with_protocol(protocol: ThriftProtocol, write: impl FnOnce(&mut P)) -> Vec<u8> {
    let mut buf = Vec::new();
    match protocol {
        ThriftProtocol::Binary => write(&mut TBinaryOutputProtocol::new(&mut buf, true)),
        ThriftProtocol::Compact => write(&mut TCompactOutputProtocol::new(&mut buf)),
    }
    buf
}

/// A bare `jaeger.Batch` (HTTP body).
pub fn encode_batch(protocol: ThriftProtocol, b: &TBatch) -> Vec<u8> {
    with_protocol(protocol, |p| {
        write_batch(p, b);
        p.flush().unwrap();
    })
}

/// An `Agent.<method>` message whose args struct holds `b` as field 1 (a UDP datagram).
pub fn encode_agent_message(
    protocol: ThriftProtocol,
    method: &str,
    message_type: TMessageType,
    b: &TBatch,
) -> Vec<u8> {
    with_protocol(protocol, |p| {
        p.write_message_begin(&TMessageIdentifier::new(method, message_type, 7))
            .unwrap();
        begin(p);
        field(p, TType::Struct, 1);
        write_batch(p, b);
        end(p);
        p.write_message_end().unwrap();
        p.flush().unwrap();
    })
}
