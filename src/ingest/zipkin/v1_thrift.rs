//! Zipkin v1 Thrift (`POST /api/v1/spans`, `application/x-thrift`): a TBinaryProtocol
//! `list<zipkincore.Span>`, no message envelope.
//!
//! A hand-written reader on the `thrift` crate's protocol layer (field numbers from
//! jaeger-wire.md §e) built from [`crate::ingest::thrift_read`]: unknown fields are skipped and a
//! forged length can never make it allocate more than the body. Bad IDs reject one span; a body
//! that cannot be read (truncated, garbage, trailing bytes) is an error.

use std::net::{Ipv4Addr, Ipv6Addr};

use thrift::protocol::{TBinaryInputProtocol, TInputProtocol, TType};

use super::v1::{push_entries, V1Annotation, V1BinaryAnnotation, V1Span};
use super::{non_zero_span_id, non_zero_trace_id, Endpoint, Entry, SpanProblem};
use crate::ingest::thrift_read::{limits, lossy_string, read_list, read_struct, Result};
use crate::ingest::IngestError;
use crate::model::span::double_string;
use crate::model::{SpanId, TraceId};

fn thrift_error(e: thrift::Error) -> IngestError {
    IngestError::ZipkinThrift {
        message: e.to_string(),
        source: Some(e),
    }
}

/// Decodes a v1 Thrift body into entries (two for a span shared by client and server).
pub fn decode(body: &[u8]) -> std::result::Result<Vec<Entry>, IngestError> {
    let config = limits(body.len()).map_err(thrift_error)?;
    let mut rest = body;
    let mut out = Vec::new();
    {
        let mut p = TBinaryInputProtocol::with_config(&mut rest, true, config);
        let list = p.read_list_begin().map_err(thrift_error)?;
        if list.element_type != TType::Struct {
            return Err(IngestError::ZipkinThrift {
                message: format!(
                    "expected a list of Span structs, got a list of {:?}",
                    list.element_type
                ),
                source: None,
            });
        }
        for index in 0..list.size.max(0) as usize {
            let span = read_span(&mut p).map_err(thrift_error)?;
            push_entries(index, span, &mut out);
        }
        p.read_list_end().map_err(thrift_error)?;
    }
    if !rest.is_empty() {
        return Err(IngestError::ZipkinThrift {
            message: format!("{} trailing bytes after the span list", rest.len()),
            source: None,
        });
    }
    Ok(out)
}

fn read_span<P: TInputProtocol>(p: &mut P) -> Result<std::result::Result<V1Span, SpanProblem>> {
    let (mut trace_low, mut trace_high, mut id, mut parent) = (None, 0i64, None, 0i64);
    let mut s = V1Span::default();
    read_struct(p, |p, id_, ty| {
        match (id_, ty) {
            (1, TType::I64) => trace_low = Some(p.read_i64()?),
            (3, TType::String) => s.name = lossy_string(p)?,
            (4, TType::I64) => id = Some(p.read_i64()?),
            (5, TType::I64) => parent = p.read_i64()?,
            (6, TType::List) => s.annotations = read_list(p, read_annotation)?,
            (8, TType::List) => s.binary_annotations = read_list(p, read_binary_annotation)?,
            (9, TType::Bool) => s.debug = p.read_bool()?,
            (10, TType::I64) => s.timestamp_us = positive(p.read_i64()?),
            (11, TType::I64) => s.duration_us = positive(p.read_i64()?),
            (12, TType::I64) => trace_high = p.read_i64()?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    let ids = (|| {
        let low = trace_low.ok_or(SpanProblem::MissingTraceId)?;
        s.trace_id = non_zero_trace_id(TraceId::from_high_low(trace_high as u64, low as u64))?;
        s.id = non_zero_span_id(SpanId::from_u64(id.ok_or(SpanProblem::MissingId)? as u64))?;
        s.parent_id = SpanId::from_u64(parent as u64);
        Ok(())
    })();
    Ok(ids.map(|()| s))
}

fn positive(v: i64) -> Option<u64> {
    u64::try_from(v).ok().filter(|&v| v != 0)
}

fn read_annotation<P: TInputProtocol>(p: &mut P) -> Result<V1Annotation> {
    let mut a = V1Annotation::default();
    read_struct(p, |p, id, ty| {
        match (id, ty) {
            (1, TType::I64) => a.timestamp_us = positive(p.read_i64()?).unwrap_or(0),
            (2, TType::String) => a.value = lossy_string(p)?,
            (3, TType::Struct) => a.endpoint = Some(read_endpoint(p)?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(a)
}

/// AnnotationType: BOOL=0, BYTES=1, I16=2, I32=3, I64=4, DOUBLE=5, STRING=6 (the default);
/// numbers are big-endian in `value`.
fn render_value(kind: i32, v: Vec<u8>) -> String {
    use base64::Engine as _;
    let b64 = |v: &[u8]| base64::engine::general_purpose::STANDARD.encode(v);
    match kind {
        0 => (v.first().copied().unwrap_or(0) != 0).to_string(),
        1 => b64(&v),
        2 => <[u8; 2]>::try_from(v.as_slice())
            .map(|b| i16::from_be_bytes(b).to_string())
            .unwrap_or_else(|_| b64(&v)),
        3 => <[u8; 4]>::try_from(v.as_slice())
            .map(|b| i32::from_be_bytes(b).to_string())
            .unwrap_or_else(|_| b64(&v)),
        4 => <[u8; 8]>::try_from(v.as_slice())
            .map(|b| i64::from_be_bytes(b).to_string())
            .unwrap_or_else(|_| b64(&v)),
        5 => <[u8; 8]>::try_from(v.as_slice())
            .map(|b| double_string(f64::from_be_bytes(b)))
            .unwrap_or_else(|_| b64(&v)),
        _ => String::from_utf8(v)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

fn read_binary_annotation<P: TInputProtocol>(p: &mut P) -> Result<V1BinaryAnnotation> {
    let mut b = V1BinaryAnnotation::default();
    let (mut raw, mut kind) = (Vec::new(), 6);
    read_struct(p, |p, id, ty| {
        match (id, ty) {
            (1, TType::String) => b.key = lossy_string(p)?,
            (2, TType::String) => raw = p.read_bytes()?,
            (3, TType::I32) => kind = p.read_i32()?,
            (4, TType::Struct) => b.endpoint = Some(read_endpoint(p)?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    b.value = render_value(kind, raw);
    Ok(b)
}

fn read_endpoint<P: TInputProtocol>(p: &mut P) -> Result<Endpoint> {
    let mut e = Endpoint::default();
    read_struct(p, |p, id, ty| {
        match (id, ty) {
            (1, TType::I32) => {
                e.ipv4 =
                    Some(Ipv4Addr::from(p.read_i32()? as u32)).filter(|ip| !ip.is_unspecified())
            }
            // Zipkin's i16 port: values above 32767 arrive negative.
            (2, TType::I16) => e.port = p.read_i16()? as u16,
            (3, TType::String) => e.service_name = lossy_string(p)?,
            (4, TType::String) => {
                e.ipv6 = <[u8; 16]>::try_from(p.read_bytes()?.as_slice())
                    .ok()
                    .map(Ipv6Addr::from)
            }
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(e)
}
