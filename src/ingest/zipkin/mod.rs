//! Zipkin → model: the one Zipkin converter, for every Zipkin encoding the collector accepts.
//!
//! Four decoders — v2 JSON ([`v2_json`]), v2 proto3 ([`v2_proto`]), v1 JSON ([`v1_json`]) and
//! v1 Thrift ([`v1_thrift`]) — produce the same intermediate: a list of v2-shaped
//! [`ZipkinSpan`]s, each tagged with its index in the request. v1 spans are first mapped to the
//! v2 shape the way Zipkin does it ([`v1`]: `cs`/`cr` → CLIENT, `sr`/`ss` → SERVER, a span with
//! both is split into a client span and a shared server span). [`to_model`] is then the single
//! Zipkin v2 → model translation, following Jaeger's (the OpenTelemetry Zipkin receiver's) table
//! in jaeger-wire.md §g.
//!
//! A span whose IDs or fields are invalid is rejected alone, with a message naming its index
//! (`spans[3]: traceId must be …`); only a body that cannot be read at all is an
//! [`IngestError`]. Nothing here does I/O or logging.
//!
//! Hot path: one `Arc<Resource>` per service and one `Arc<Scope>` per library in a request;
//! strings are moved out of the decoded request, never cloned.

use std::net::IpAddr;
use std::sync::Arc;

use thiserror::Error;

use super::{Decoded, IngestError, ScopeCache};
use crate::model::span::SERVICE_NAME;
use crate::model::{
    Event, KeyValue, Resource, Span, SpanBatch, SpanId, SpanKind, Status, StatusCode, TraceId,
    Value,
};

pub mod v1;
pub mod v1_json;
pub mod v1_thrift;
pub mod v2_json;
pub mod v2_proto;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod v1_tests;

/// `service.name` of a span without a local endpoint service (Jaeger's / pdata's name for it).
pub const NO_SERVICE_NAME: &str = "OTLPResourceNoServiceName";
/// Bool attribute set on a span that arrived without a timestamp (its start is then epoch 0).
pub const ABSENT_START_TIME: &str = "otel.zipkin.absentField.startTime";
/// Span attributes carrying the local endpoint.
pub const HOST_IP: &str = "net.host.ip";
pub const HOST_PORT: &str = "net.host.port";
/// Span attributes carrying the remote endpoint.
pub const PEER_SERVICE: &str = "peer.service";
pub const PEER_IP: &str = "net.peer.ip";
pub const PEER_PORT: &str = "net.peer.port";

/// The encodings of the Zipkin HTTP API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `POST /api/v1/spans`, `application/json`.
    V1Json,
    /// `POST /api/v1/spans`, `application/x-thrift`: TBinaryProtocol `list<Span>`.
    V1Thrift,
    /// `POST /api/v2/spans`, `application/json`.
    V2Json,
    /// `POST /api/v2/spans`, `application/x-protobuf`: `zipkin.proto3.ListOfSpans`.
    V2Proto,
}

/// Decodes a body of `encoding` and converts it: the valid spans, and what was rejected.
pub fn decode(encoding: Encoding, body: &[u8]) -> Result<Decoded, IngestError> {
    let entries = match encoding {
        Encoding::V1Json => v1_json::decode(body)?,
        Encoding::V1Thrift => v1_thrift::decode(body)?,
        Encoding::V2Json => v2_json::decode(body)?,
        Encoding::V2Proto => v2_proto::decode(body)?,
    };
    Ok(to_model(entries))
}

/// One span of the request: where it was (its index in the request's list) and what it became.
/// A v1 span shared by client and server becomes two entries with the same index.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub index: usize,
    pub span: Result<ZipkinSpan, SpanProblem>,
}

/// Zipkin v2 span kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Client,
    Server,
    Producer,
    Consumer,
}

impl Kind {
    fn to_model(self) -> SpanKind {
        match self {
            Kind::Client => SpanKind::Client,
            Kind::Server => SpanKind::Server,
            Kind::Producer => SpanKind::Producer,
            Kind::Consumer => SpanKind::Consumer,
        }
    }
}

/// A Zipkin endpoint. Empty service name and port 0 mean "not set", as in Zipkin.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Endpoint {
    pub service_name: String,
    pub ipv4: Option<std::net::Ipv4Addr>,
    pub ipv6: Option<std::net::Ipv6Addr>,
    pub port: u16,
}

impl Endpoint {
    fn ip(&self) -> Option<IpAddr> {
        self.ipv4
            .map(IpAddr::V4)
            .or_else(|| self.ipv6.map(IpAddr::V6))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Annotation {
    pub timestamp_us: u64,
    pub value: String,
}

/// The common intermediate: a Zipkin v2 span with validated IDs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ZipkinSpan {
    pub trace_id: TraceId,
    pub id: SpanId,
    /// Zero when the span has no parent.
    pub parent_id: SpanId,
    pub kind: Option<Kind>,
    pub name: String,
    /// µs since the epoch; `None` when absent (or 0, which Zipkin treats as absent).
    pub timestamp_us: Option<u64>,
    pub duration_us: Option<u64>,
    pub local_endpoint: Option<Endpoint>,
    pub remote_endpoint: Option<Endpoint>,
    pub annotations: Vec<Annotation>,
    /// In request order.
    pub tags: Vec<(String, String)>,
    pub debug: bool,
    pub shared: bool,
}

/// Why one span was rejected.
#[derive(Debug, Clone, Error, PartialEq)]
pub enum SpanProblem {
    #[error("traceId is missing")]
    MissingTraceId,
    #[error("traceId must be 16 or 32 hex characters, got {0:?}")]
    TraceIdHex(String),
    #[error("traceId must be 8 or 16 bytes, got {0}")]
    TraceIdLength(usize),
    #[error("traceId must not be all zeros")]
    TraceIdZero,
    #[error("id is missing")]
    MissingId,
    #[error("id must be 16 hex characters, got {0:?}")]
    IdHex(String),
    #[error("id must be 8 bytes, got {0}")]
    IdLength(usize),
    #[error("id must not be all zeros")]
    IdZero,
    #[error("parentId must be 16 hex characters, got {0:?}")]
    ParentIdHex(String),
    #[error("parentId must be empty or 8 bytes, got {0}")]
    ParentIdLength(usize),
    /// Any other field of the wrong type or value, e.g. `annotations[0].timestamp`.
    #[error("{field}: {message}")]
    Field { field: String, message: String },
}

impl SpanProblem {
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        SpanProblem::Field {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// At most this many characters of a bad value are echoed in a message.
const SHOWN_CHARS: usize = 40;

fn shown(s: &str) -> String {
    match s.char_indices().nth(SHOWN_CHARS) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_string(),
    }
}

fn is_hex(s: &str) -> bool {
    s.bytes().all(|c| c.is_ascii_hexdigit())
}

/// A hex trace ID: 16 hex characters (64-bit) or 32 (128-bit). Shorter forms are left-padded
/// with zeros, as Zipkin itself accepts them.
pub fn trace_id_from_hex(s: Option<&str>) -> Result<TraceId, SpanProblem> {
    let s = s.ok_or(SpanProblem::MissingTraceId)?;
    if s.is_empty() || s.len() > 32 || !is_hex(s) {
        return Err(SpanProblem::TraceIdHex(shown(s)));
    }
    let id = u128::from_str_radix(s, 16)
        .map(TraceId::from_u128)
        .map_err(|_| SpanProblem::TraceIdHex(shown(s)))?;
    non_zero_trace_id(id)
}

pub fn span_id_from_hex(s: Option<&str>) -> Result<SpanId, SpanProblem> {
    let s = s.ok_or(SpanProblem::MissingId)?;
    if s.is_empty() || s.len() > 16 || !is_hex(s) {
        return Err(SpanProblem::IdHex(shown(s)));
    }
    let id = u64::from_str_radix(s, 16)
        .map(SpanId::from_u64)
        .map_err(|_| SpanProblem::IdHex(shown(s)))?;
    non_zero_span_id(id)
}

/// An absent, empty or all-zero parent ID means "root span" (the OpenTelemetry Zipkin exporter
/// writes `0000000000000000` for roots).
pub fn parent_id_from_hex(s: Option<&str>) -> Result<SpanId, SpanProblem> {
    match s {
        None | Some("") => Ok(SpanId::ZERO),
        Some(s) if s.len() > 16 || !is_hex(s) => Err(SpanProblem::ParentIdHex(shown(s))),
        Some(s) => u64::from_str_radix(s, 16)
            .map(SpanId::from_u64)
            .map_err(|_| SpanProblem::ParentIdHex(shown(s))),
    }
}

pub fn non_zero_trace_id(id: TraceId) -> Result<TraceId, SpanProblem> {
    if id.is_zero() {
        Err(SpanProblem::TraceIdZero)
    } else {
        Ok(id)
    }
}

pub fn non_zero_span_id(id: SpanId) -> Result<SpanId, SpanProblem> {
    if id.is_zero() {
        Err(SpanProblem::IdZero)
    } else {
        Ok(id)
    }
}

/// Validates and converts decoded entries. Rejected entries are counted and described in
/// [`Decoded`]; the valid spans are kept, in request order.
pub fn to_model(entries: Vec<Entry>) -> Decoded {
    let mut out = Decoded {
        batch: SpanBatch {
            spans: Vec::with_capacity(entries.len()),
        },
        ..Decoded::default()
    };
    let mut shared = Shared::default();
    for Entry { index, span } in entries {
        match span {
            Ok(span) => out.batch.spans.push(span_to_model(span, &mut shared)),
            Err(problem) => out.reject(|| format!("spans[{index}]: {problem}")),
        }
    }
    out
}

/// Resources and scopes of one request, shared by the spans that have the same ones.
#[derive(Default)]
struct Shared {
    resources: Vec<Arc<Resource>>,
    scopes: ScopeCache,
}

impl Shared {
    fn resource(&mut self, service: &str) -> Arc<Resource> {
        if let Some(r) = self.resources.iter().find(|r| r.service() == service) {
            return Arc::clone(r);
        }
        let r = Arc::new(Resource {
            attributes: vec![KeyValue::string(SERVICE_NAME, service)],
            ..Resource::default()
        });
        self.resources.push(Arc::clone(&r));
        r
    }
}

fn status_code_from_tag(v: &str) -> Option<StatusCode> {
    match v.to_ascii_uppercase().as_str() {
        "OK" => Some(StatusCode::Ok),
        "ERROR" => Some(StatusCode::Error),
        "UNSET" => Some(StatusCode::Unset),
        _ => None,
    }
}

fn endpoint_attrs(
    attributes: &mut Vec<KeyValue>,
    endpoint: Endpoint,
    service_key: Option<&'static str>,
    ip_key: &'static str,
    port_key: &'static str,
) {
    if let Some(ip) = endpoint.ip() {
        attributes.push(KeyValue::string(ip_key, ip.to_string()));
    }
    if endpoint.port != 0 {
        attributes.push(KeyValue::new(port_key, Value::Int(endpoint.port.into())));
    }
    if let Some(key) = service_key {
        if !endpoint.service_name.is_empty() {
            attributes.push(KeyValue::string(key, endpoint.service_name));
        }
    }
}

/// The Zipkin v2 → model table (jaeger-wire.md §g). `shared` and `debug` have no place in the
/// model: a shared server span keeps the client's span ID, and the query-time span-ID
/// de-duplication adjuster gives it a new one.
fn span_to_model(z: ZipkinSpan, shared: &mut Shared) -> Span {
    let mut attributes = Vec::with_capacity(z.tags.len() + 5);
    let mut kind = z.kind.map(Kind::to_model);
    let mut status_from_code_tag = None;
    let mut error_tag = false;
    let mut status_message = String::new();
    let mut trace_state = String::new();
    let (mut scope_name, mut scope_version) = (String::new(), String::new());
    for (key, value) in z.tags {
        match key.as_str() {
            "otel.status_code" => match status_code_from_tag(&value) {
                Some(code) => status_from_code_tag = Some(code),
                None => attributes.push(KeyValue::string(key, value)),
            },
            "otel.status_description" => status_message = value,
            // Any `error` tag marks the span as failed; only the plain `true` flag is consumed
            // (a message such as `error=timeout` stays visible as a tag).
            "error" => {
                error_tag = true;
                if value != "true" {
                    attributes.push(KeyValue::string(key, value));
                }
            }
            "w3c.tracestate" => trace_state = value,
            "otel.library.name" | "otel.scope.name" => scope_name = value,
            "otel.library.version" | "otel.scope.version" => scope_version = value,
            // Without a Zipkin kind, a `span.kind` tag gives the kind (and is then consumed,
            // since the query API derives the `span.kind` tag from the kind).
            "span.kind" if kind.is_none() => match SpanKind::from_jaeger_str(&value) {
                Some(k) if k != SpanKind::Unspecified => kind = Some(k),
                _ => attributes.push(KeyValue::string(key, value)),
            },
            _ => attributes.push(KeyValue::string(key, value)),
        }
    }
    let status_code = status_from_code_tag.unwrap_or(if error_tag {
        StatusCode::Error
    } else {
        StatusCode::Unset
    });

    let (service, local) = match z.local_endpoint {
        Some(mut ep) if !ep.service_name.is_empty() => {
            let service = std::mem::take(&mut ep.service_name);
            (Some(service), Some(ep))
        }
        other => (None, other),
    };
    let resource = shared.resource(service.as_deref().unwrap_or(NO_SERVICE_NAME));
    if let Some(ep) = local {
        endpoint_attrs(&mut attributes, ep, None, HOST_IP, HOST_PORT);
    }
    if let Some(ep) = z.remote_endpoint {
        endpoint_attrs(&mut attributes, ep, Some(PEER_SERVICE), PEER_IP, PEER_PORT);
    }

    let start_ns = match z.timestamp_us.filter(|&ts| ts != 0) {
        Some(ts) => ts.saturating_mul(1000),
        None => {
            attributes.push(KeyValue::new(ABSENT_START_TIME, Value::Bool(true)));
            0
        }
    };
    let end_ns = start_ns.saturating_add(z.duration_us.unwrap_or(0).saturating_mul(1000));
    let parent_span_id = if z.parent_id == z.id {
        SpanId::ZERO
    } else {
        z.parent_id
    };
    Span {
        trace_id: z.trace_id,
        span_id: z.id,
        parent_span_id,
        trace_state,
        name: z.name,
        kind: kind.unwrap_or(SpanKind::Unspecified),
        start_ns,
        end_ns,
        attributes,
        dropped_attributes_count: 0,
        events: z
            .annotations
            .into_iter()
            .map(|a| Event {
                time_ns: a.timestamp_us.saturating_mul(1000),
                name: a.value,
                ..Event::default()
            })
            .collect(),
        dropped_events_count: 0,
        links: Vec::new(),
        dropped_links_count: 0,
        status: Status {
            code: status_code,
            message: status_message,
        },
        flags: 0,
        resource,
        scope: shared.scopes.get(scope_name, scope_version),
    }
}
