//! Zipkin v2 proto3 (`POST /api/v2/spans`, `application/x-protobuf`): `zipkin.proto3.ListOfSpans`.
//!
//! The prost messages are written here from the field numbers of zipkin.proto (no codegen).
//! IDs are raw big-endian bytes: trace ID 8 or 16 bytes, span and parent ID 8 bytes; IPs are 4 or
//! 16 raw bytes (any other length is ignored).

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use prost::Message as _;

use super::{
    non_zero_span_id, non_zero_trace_id, Annotation, Endpoint, Entry, Kind, SpanProblem, ZipkinSpan,
};
use crate::ingest::IngestError;
use crate::model::{SpanId, TraceId};

#[derive(Clone, PartialEq, prost::Message)]
pub struct ListOfSpans {
    #[prost(message, repeated, tag = "1")]
    pub spans: Vec<PbSpan>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PbSpan {
    #[prost(bytes = "vec", tag = "1")]
    pub trace_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub parent_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    pub id: Vec<u8>,
    /// UNSPECIFIED 0, CLIENT 1, SERVER 2, PRODUCER 3, CONSUMER 4.
    #[prost(int32, tag = "4")]
    pub kind: i32,
    #[prost(string, tag = "5")]
    pub name: String,
    /// µs since the epoch.
    #[prost(fixed64, tag = "6")]
    pub timestamp: u64,
    /// µs.
    #[prost(uint64, tag = "7")]
    pub duration: u64,
    #[prost(message, optional, tag = "8")]
    pub local_endpoint: Option<PbEndpoint>,
    #[prost(message, optional, tag = "9")]
    pub remote_endpoint: Option<PbEndpoint>,
    #[prost(message, repeated, tag = "10")]
    pub annotations: Vec<PbAnnotation>,
    #[prost(btree_map = "string, string", tag = "11")]
    pub tags: BTreeMap<String, String>,
    #[prost(bool, tag = "12")]
    pub debug: bool,
    #[prost(bool, tag = "13")]
    pub shared: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PbEndpoint {
    #[prost(string, tag = "1")]
    pub service_name: String,
    #[prost(bytes = "vec", tag = "2")]
    pub ipv4: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    pub ipv6: Vec<u8>,
    #[prost(int32, tag = "4")]
    pub port: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PbAnnotation {
    #[prost(fixed64, tag = "1")]
    pub timestamp: u64,
    #[prost(string, tag = "2")]
    pub value: String,
}

/// Decodes a `ListOfSpans` body into one entry per span.
pub fn decode(body: &[u8]) -> Result<Vec<Entry>, IngestError> {
    let list =
        ListOfSpans::decode(body).map_err(|source| IngestError::ZipkinProtobuf { source })?;
    Ok(list
        .spans
        .into_iter()
        .enumerate()
        .map(|(index, s)| Entry {
            index,
            span: span(s),
        })
        .collect())
}

fn span(s: PbSpan) -> Result<ZipkinSpan, SpanProblem> {
    let trace_id = match s.trace_id.len() {
        0 => return Err(SpanProblem::MissingTraceId),
        8 | 16 => non_zero_trace_id(
            TraceId::from_slice(&s.trace_id)
                .map_err(|_| SpanProblem::TraceIdLength(s.trace_id.len()))?,
        )?,
        n => return Err(SpanProblem::TraceIdLength(n)),
    };
    let id = match s.id.len() {
        0 => return Err(SpanProblem::MissingId),
        _ => non_zero_span_id(
            SpanId::from_slice(&s.id).map_err(|_| SpanProblem::IdLength(s.id.len()))?,
        )?,
    };
    let parent_id = match s.parent_id.len() {
        0 => SpanId::ZERO,
        n => SpanId::from_slice(&s.parent_id).map_err(|_| SpanProblem::ParentIdLength(n))?,
    };
    let kind = match s.kind {
        0 => None,
        1 => Some(Kind::Client),
        2 => Some(Kind::Server),
        3 => Some(Kind::Producer),
        4 => Some(Kind::Consumer),
        other => {
            return Err(SpanProblem::field(
                "kind",
                format!("unknown span kind {other}"),
            ))
        }
    };
    Ok(ZipkinSpan {
        trace_id,
        id,
        parent_id,
        kind,
        name: s.name,
        timestamp_us: Some(s.timestamp).filter(|&t| t != 0),
        duration_us: Some(s.duration).filter(|&d| d != 0),
        local_endpoint: s.local_endpoint.map(endpoint),
        remote_endpoint: s.remote_endpoint.map(endpoint),
        annotations: s
            .annotations
            .into_iter()
            .map(|a| Annotation {
                timestamp_us: a.timestamp,
                value: a.value,
            })
            .collect(),
        tags: s.tags.into_iter().collect(),
        debug: s.debug,
        shared: s.shared,
    })
}

fn endpoint(e: PbEndpoint) -> Endpoint {
    Endpoint {
        service_name: e.service_name,
        ipv4: <[u8; 4]>::try_from(e.ipv4.as_slice())
            .ok()
            .map(Ipv4Addr::from),
        ipv6: <[u8; 16]>::try_from(e.ipv6.as_slice())
            .ok()
            .map(Ipv6Addr::from),
        port: u16::try_from(e.port).unwrap_or(0),
    }
}
