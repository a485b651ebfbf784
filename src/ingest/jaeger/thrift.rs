//! Jaeger Thrift → `jaeger.api_v2` [`Batch`]: collector HTTP bodies (`POST /api/traces`, a bare
//! `jaeger.Batch`) and agent UDP datagrams (one `Agent.emitBatch` message each), in the binary or
//! the compact protocol.
//!
//! Hand-written readers on the `thrift` crate's protocol layer (field numbers from
//! jaeger-wire.md §e), built from [`crate::ingest::thrift_read`]: unknown fields are skipped and a
//! forged length can never make them allocate more than the input. Only unreadable bytes fail the
//! whole input; a span missing a required field comes out with zero IDs or no start time, so
//! that [`super::to_model`] rejects that span alone, with a message.
//!
//! The Thrift → model rules that differ from protobuf live here (§e "Thrift → model"): trace IDs
//! as (high, low), `parentSpanId` as a CHILD_OF reference in front, µs times, and the TagType
//! numbering (which is not protobuf's ValueType order).

use thrift::protocol::{
    TBinaryInputProtocol, TCompactInputProtocol, TInputProtocol, TMessageType, TType,
};

use crate::ingest::thrift_read::{limits, lossy_string, read_list, read_struct};
use crate::ingest::IngestError;
use crate::proto::api_v2::{Batch, KeyValue, Log, Process, Span, SpanRef, SpanRefType, ValueType};

/// The Thrift protocols Jaeger clients speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThriftProtocol {
    /// TBinaryProtocol: collector HTTP (`application/x-thrift`), agent UDP port 6832.
    Binary,
    /// TCompactProtocol: agent UDP port 6831.
    Compact,
}

impl ThriftProtocol {
    fn name(self) -> &'static str {
        match self {
            ThriftProtocol::Binary => "binary",
            ThriftProtocol::Compact => "compact",
        }
    }
}

/// The agent method carrying a Jaeger batch.
pub const EMIT_BATCH: &str = "emitBatch";

/// Decodes a bare `jaeger.Batch` struct (no message envelope), as `POST /api/traces` carries it.
/// Bytes after the struct are an error.
pub fn decode_batch(protocol: ThriftProtocol, body: &[u8]) -> Result<Batch, IngestError> {
    decode_with::<BareBatch>(protocol, body)
}

/// Decodes one agent UDP datagram: an `Agent.emitBatch` message (ONEWAY, or CALL; any seqid)
/// whose argument struct holds the batch as field 1. Any other method is an error naming it.
pub fn decode_agent_message(
    protocol: ThriftProtocol,
    datagram: &[u8],
) -> Result<Batch, IngestError> {
    decode_with::<AgentMessage>(protocol, datagram)
}

/// One kind of input: reads it whole from a protocol. `Ok(Err(message))` is well-formed Thrift
/// that is refused.
trait Input {
    fn read<P: TInputProtocol>(p: &mut P) -> thrift::Result<Result<Batch, String>>;
}

struct BareBatch;

impl Input for BareBatch {
    fn read<P: TInputProtocol>(p: &mut P) -> thrift::Result<Result<Batch, String>> {
        read_batch(p).map(Ok)
    }
}

struct AgentMessage;

impl Input for AgentMessage {
    fn read<P: TInputProtocol>(p: &mut P) -> thrift::Result<Result<Batch, String>> {
        let msg = p.read_message_begin()?;
        if msg.name != EMIT_BATCH {
            return Ok(Err(format!(
                "unsupported agent method {:?}, expected {EMIT_BATCH:?}",
                shown(&msg.name)
            )));
        }
        if !matches!(msg.message_type, TMessageType::OneWay | TMessageType::Call) {
            return Ok(Err(format!(
                "unexpected message type {:?} for {EMIT_BATCH}",
                msg.message_type
            )));
        }
        let mut batch = None;
        read_struct(p, |p, id, ty| {
            match (id, ty) {
                (1, TType::Struct) => batch = Some(read_batch(p)?),
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        p.read_message_end()?;
        Ok(batch.ok_or_else(|| format!("{EMIT_BATCH} arguments carry no batch (field 1)")))
    }
}

/// At most this many characters of a method name are echoed in an error.
const SHOWN_CHARS: usize = 40;

fn shown(s: &str) -> &str {
    s.char_indices()
        .nth(SHOWN_CHARS)
        .map_or(s, |(cut, _)| &s[..cut])
}

/// Reads one `I` from a protocol limited to `input`'s length and checks that it consumed
/// everything.
fn decode_with<I: Input>(protocol: ThriftProtocol, input: &[u8]) -> Result<Batch, IngestError> {
    let error = |e: thrift::Error| IngestError::JaegerThrift {
        protocol: protocol.name(),
        message: e.to_string(),
        source: Some(e),
    };
    let refused = |message: String| IngestError::JaegerThrift {
        protocol: protocol.name(),
        message,
        source: None,
    };
    let config = limits(input.len()).map_err(error)?;
    let mut rest = input;
    let batch = match protocol {
        ThriftProtocol::Binary => I::read(&mut TBinaryInputProtocol::with_config(
            &mut rest, true, config,
        )),
        ThriftProtocol::Compact => {
            I::read(&mut TCompactInputProtocol::with_config(&mut rest, config))
        }
    }
    .map_err(error)?
    .map_err(refused)?;
    if !rest.is_empty() {
        return Err(refused(format!("{} trailing bytes", rest.len())));
    }
    Ok(batch)
}

fn read_batch<P: TInputProtocol>(p: &mut P) -> thrift::Result<Batch> {
    let mut batch = Batch::default();
    read_struct(p, |p, id, ty| {
        match (id, ty) {
            (1, TType::Struct) => batch.process = Some(read_process(p)?),
            (2, TType::List) => batch.spans = read_list(p, read_span)?,
            // 3: seqNo, 4: ClientStats — agent bookkeeping, skipped.
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(batch)
}

fn read_process<P: TInputProtocol>(p: &mut P) -> thrift::Result<Process> {
    let mut process = Process::default();
    read_struct(p, |p, id, ty| {
        match (id, ty) {
            (1, TType::String) => process.service_name = lossy_string(p)?,
            (2, TType::List) => process.tags = read_list(p, read_tag)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(process)
}

/// 128-bit trace ID from the two signed halves: high then low, big-endian.
fn trace_id_bytes(high: i64, low: i64) -> Vec<u8> {
    let mut id = Vec::with_capacity(16);
    id.extend_from_slice(&high.to_be_bytes());
    id.extend_from_slice(&low.to_be_bytes());
    id
}

fn read_span<P: TInputProtocol>(p: &mut P) -> thrift::Result<Span> {
    let (mut trace_low, mut trace_high, mut span_id, mut parent) = (0i64, 0i64, 0i64, 0i64);
    let (mut start_us, mut duration_us) = (None, None);
    let mut span = Span::default();
    read_struct(p, |p, id, ty| {
        match (id, ty) {
            (1, TType::I64) => trace_low = p.read_i64()?,
            (2, TType::I64) => trace_high = p.read_i64()?,
            (3, TType::I64) => span_id = p.read_i64()?,
            (4, TType::I64) => parent = p.read_i64()?,
            (5, TType::String) => span.operation_name = lossy_string(p)?,
            (6, TType::List) => span.references = read_list(p, read_span_ref)?,
            (7, TType::I32) => span.flags = p.read_i32()? as u32,
            (8, TType::I64) => start_us = Some(p.read_i64()?),
            (9, TType::I64) => duration_us = Some(p.read_i64()?),
            (10, TType::List) => span.tags = read_list(p, read_tag)?,
            (11, TType::List) => span.logs = read_list(p, read_log)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    // Missing IDs stay zero and missing start stays unset: `to_model` rejects the span.
    span.trace_id = trace_id_bytes(trace_high, trace_low);
    span.span_id = span_id.to_be_bytes().to_vec();
    if parent != 0 {
        let parent_id = parent.to_be_bytes();
        let exists = span
            .references
            .iter()
            .any(|r| r.trace_id == span.trace_id && r.span_id == parent_id);
        if !exists {
            span.references.insert(
                0,
                SpanRef {
                    trace_id: span.trace_id.clone(),
                    span_id: parent_id.to_vec(),
                    ref_type: SpanRefType::ChildOf as i32,
                },
            );
        }
    }
    span.start_time = start_us.map(timestamp_from_us);
    span.duration = duration_us.map(duration_from_us);
    Ok(span)
}

/// µs since the epoch → Timestamp (normalized: nanos in 0..1e9, also before 1970).
pub fn timestamp_from_us(us: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: us.div_euclid(1_000_000),
        nanos: (us.rem_euclid(1_000_000) * 1000) as i32,
    }
}

/// µs → Duration (normalized: seconds and nanos share the sign).
pub fn duration_from_us(us: i64) -> prost_types::Duration {
    prost_types::Duration {
        seconds: us / 1_000_000,
        nanos: ((us % 1_000_000) * 1000) as i32,
    }
}

fn read_span_ref<P: TInputProtocol>(p: &mut P) -> thrift::Result<SpanRef> {
    let (mut ref_type, mut low, mut high, mut span_id) = (0i32, 0i64, 0i64, 0i64);
    read_struct(p, |p, id, ty| {
        match (id, ty) {
            (1, TType::I32) => ref_type = p.read_i32()?,
            (2, TType::I64) => low = p.read_i64()?,
            (3, TType::I64) => high = p.read_i64()?,
            (4, TType::I64) => span_id = p.read_i64()?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    // SpanRefType has the same numbers in Thrift and protobuf (CHILD_OF=0, FOLLOWS_FROM=1).
    Ok(SpanRef {
        trace_id: trace_id_bytes(high, low),
        span_id: span_id.to_be_bytes().to_vec(),
        ref_type,
    })
}

fn read_log<P: TInputProtocol>(p: &mut P) -> thrift::Result<Log> {
    let mut log = Log::default();
    read_struct(p, |p, id, ty| {
        match (id, ty) {
            (1, TType::I64) => log.timestamp = Some(timestamp_from_us(p.read_i64()?)),
            (2, TType::List) => log.fields = read_list(p, read_tag)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(log)
}

/// Thrift TagType (STRING=0, DOUBLE=1, BOOL=2, LONG=3, BINARY=4) → protobuf ValueType, by
/// meaning; an unknown type becomes a string saying so.
fn read_tag<P: TInputProtocol>(p: &mut P) -> thrift::Result<KeyValue> {
    let mut kv = KeyValue::default();
    let mut tag_type = 0i32;
    read_struct(p, |p, id, ty| {
        match (id, ty) {
            (1, TType::String) => kv.key = lossy_string(p)?,
            (2, TType::I32) => tag_type = p.read_i32()?,
            (3, TType::String) => kv.v_str = lossy_string(p)?,
            (4, TType::Double) => kv.v_float64 = p.read_double()?,
            (5, TType::Bool) => kv.v_bool = p.read_bool()?,
            (6, TType::I64) => kv.v_int64 = p.read_i64()?,
            (7, TType::String) => kv.v_binary = p.read_bytes()?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    kv.v_type = match tag_type {
        0 => ValueType::String,
        1 => ValueType::Float64,
        2 => ValueType::Bool,
        3 => ValueType::Int64,
        4 => ValueType::Binary,
        other => {
            kv.v_str = format!("Unknown VType: {other}");
            ValueType::String
        }
    } as i32;
    Ok(kv)
}
