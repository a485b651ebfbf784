//! Jaeger ⇄ model: the one Jaeger converter, for every Jaeger wire format. The way back,
//! [`from_model`] (model → api_v2 for the query and storage APIs), renders from [`view`], the
//! derivation the UI JSON writer shares.
//!
//! The `jaeger.api_v2` [`Batch`] is the single intermediate: the Thrift decoders ([`thrift`]:
//! HTTP `POST /api/traces` bodies and agent UDP datagrams) produce one, the gRPC collector
//! receives one, and [`to_model`] turns it into model spans following Jaeger's own "Jaeger model
//! → OTLP" translation (jaeger-wire.md §g) plus the collector's sanitizers (null process, empty
//! service, empty span name).
//!
//! A span with invalid IDs or no start time is rejected alone, with a message naming its index
//! (`batch.spans[3]: trace_id must be 16 bytes, got 3`); the valid spans of the batch are kept.
//! Nothing here does I/O or logging.
//!
//! Hot path (every Jaeger span passes through [`to_model`]): strings and tag values are moved out
//! of the batch, never cloned per span; one `Arc<Resource>` per distinct process and one
//! `Arc<Scope>` per distinct scope of a request; messages are formatted only for rejected spans.

use std::sync::Arc;

use thiserror::Error;

use super::otlp::{EMPTY_SERVICE_NAME, EMPTY_SPAN_NAME, MISSING_SERVICE_NAME};
use super::{Decoded, ScopeCache};
use crate::model::span::{REF_TYPE_ATTRIBUTE, SERVICE_NAME, WARNINGS_ATTRIBUTE};
use crate::model::{
    Event, KeyValue, Link, Resource, Span, SpanBatch, SpanId, SpanKind, Status, StatusCode,
    TraceId, Value,
};
use crate::proto::api_v2::{self, Batch, Process, SpanRefType, ValueType};

mod from_model;
pub mod thrift;
pub mod view;

pub use from_model::from_model;

#[cfg(test)]
pub(crate) mod test_encoder;
#[cfg(test)]
pub(crate) mod test_spans;
#[cfg(test)]
mod tests;

/// Jaeger collector sanitizer: a span with neither its own nor a batch process.
pub const NULL_PROCESS_SERVICE_NAME: &str = "null-process-and-service-name";
/// The service name pdata's OTLP → Jaeger translation gives a resource without attributes; on the
/// way back it means "no service name".
pub const NO_SERVICE_NAME: &str = "OTLPResourceNoServiceName";
/// Go's unset `time.Time` as a protobuf Timestamp (year 1 UTC): "no start time".
pub const GO_ZERO_TIME_SECONDS: i64 = -62_135_596_800;

/// Process tag translated to `host.name` (when that is absent).
const HOSTNAME_TAG: &str = "hostname";
const HOST_NAME: &str = "host.name";
/// Process tag translated to `opencensus.exporterversion` = `Jaeger-<v>`.
const JAEGER_VERSION_TAG: &str = "jaeger.version";
const EXPORTER_VERSION: &str = "opencensus.exporterversion";

/// Log field carrying the event name.
const EVENT_FIELD: &str = "event";

/// Distinct processes remembered per request for sharing. Beyond this a request
/// still converts correctly, it just stops sharing new ones (keeps lookups linear).
const MAX_SHARED: usize = 32;

/// Why one span was rejected. Formatted only for the first rejections of a request.
#[derive(Debug, Error, PartialEq)]
pub enum SpanProblem {
    #[error("trace_id must be 16 bytes, got {0}")]
    TraceIdLength(usize),
    #[error("trace_id must not be all zeros")]
    TraceIdZero,
    #[error("span_id must be 8 bytes, got {0}")]
    SpanIdLength(usize),
    #[error("span_id must not be all zeros")]
    SpanIdZero,
    #[error("references[{0}].trace_id must be 16 bytes, got {1}")]
    RefTraceIdLength(usize, usize),
    #[error("references[{0}].span_id must be 8 bytes, got {1}")]
    RefSpanIdLength(usize, usize),
    #[error("start_time is missing")]
    StartTimeMissing,
    #[error("start_time is out of range ({0}s)")]
    StartTimeOutOfRange(i64),
}

/// Validates and converts one Jaeger batch. Invalid spans are counted and described in
/// [`Decoded`]; the valid spans are kept, in batch order.
pub fn to_model(batch: Batch) -> Decoded {
    to_model_offset(batch, 0)
}

/// [`to_model`] for a batch that continues a longer sequence (a client stream of spans):
/// rejection messages number the spans from `first_index`.
pub fn to_model_offset(batch: Batch, first_index: usize) -> Decoded {
    let mut out = Decoded {
        batch: SpanBatch {
            spans: Vec::with_capacity(batch.spans.len()),
        },
        ..Decoded::default()
    };
    let mut shared = Shared::default();
    let batch_process = batch.process;
    for (index, span) in batch.spans.into_iter().enumerate() {
        match span_to_model(span, batch_process.as_ref(), &mut shared) {
            Ok(span) => out.batch.spans.push(span),
            Err(problem) => {
                out.reject(|| format!("batch.spans[{}]: {problem}", first_index + index))
            }
        }
    }
    out
}

/// Resources and scopes of one request, shared by the spans that have equal ones.
#[derive(Default)]
struct Shared {
    /// The process as received (the comparison key) and its resource.
    processes: Vec<(Process, Arc<Resource>)>,
    null_process: Option<Arc<Resource>>,
    scopes: ScopeCache,
}

impl Shared {
    /// The resource of a span: its own process, else the batch's, else the collector's
    /// null-process placeholder. Equal processes (service and tags) share one resource.
    fn resource(&mut self, own: Option<Process>, batch: Option<&Process>) -> Arc<Resource> {
        let Some(process) = own.as_ref().or(batch) else {
            return Arc::clone(self.null_process.get_or_insert_with(|| {
                Arc::new(Resource {
                    attributes: vec![KeyValue::string(SERVICE_NAME, NULL_PROCESS_SERVICE_NAME)],
                    ..Resource::default()
                })
            }));
        };
        if let Some((_, r)) = self.processes.iter().find(|(p, _)| p == process) {
            return Arc::clone(r);
        }
        let resource = Arc::new(process_to_resource(process));
        if self.processes.len() < MAX_SHARED {
            // First sight of this process: the batch's is copied once (it stays the key).
            let key = own.unwrap_or_else(|| batch.cloned().unwrap_or_default());
            self.processes.push((key, Arc::clone(&resource)));
        }
        resource
    }
}

/// Process → resource (once per distinct process of a request): `service.name` first, then the
/// process tags; `hostname` → `host.name` and `jaeger.version` → `opencensus.exporterversion`
/// as Jaeger's translator does. A process tag named `service.name` is dropped: the process's
/// service name is authoritative.
fn process_to_resource(process: &Process) -> Resource {
    let service = match process.service_name.as_str() {
        "" => EMPTY_SERVICE_NAME,
        NO_SERVICE_NAME => MISSING_SERVICE_NAME,
        s => s,
    };
    let mut attributes = Vec::with_capacity(process.tags.len() + 1);
    attributes.push(KeyValue::string(SERVICE_NAME, service));
    attributes.extend(
        process
            .tags
            .iter()
            .filter(|t| t.key != SERVICE_NAME)
            .map(|t| tag_to_model(t.clone())),
    );
    let has = |attrs: &[KeyValue], key: &str| attrs.iter().any(|kv| kv.key == key);
    if !has(&attributes, HOST_NAME) {
        if let Some(kv) = attributes.iter_mut().find(|kv| kv.key == HOSTNAME_TAG) {
            kv.key = HOST_NAME.into();
        }
    }
    if !has(&attributes, EXPORTER_VERSION) {
        if let Some(kv) = attributes
            .iter_mut()
            .find(|kv| kv.key == JAEGER_VERSION_TAG)
        {
            kv.key = EXPORTER_VERSION.into();
            // Jaeger clients send a string; anything else is shown in its query-string form.
            kv.value = Value::Str(compact_str::format_compact!(
                "Jaeger-{}",
                kv.value.to_query_string()
            ));
        }
    }
    Resource {
        attributes,
        ..Resource::default()
    }
}

/// A tag value by its `v_type`. An unknown type keeps the key with a string saying so, as
/// Jaeger's converters do.
fn tag_to_model(kv: api_v2::KeyValue) -> KeyValue {
    let value = match ValueType::try_from(kv.v_type) {
        Ok(ValueType::String) => Value::Str(kv.v_str.into()),
        Ok(ValueType::Bool) => Value::Bool(kv.v_bool),
        Ok(ValueType::Int64) => Value::Int(kv.v_int64),
        Ok(ValueType::Float64) => Value::Double(kv.v_float64),
        Ok(ValueType::Binary) => Value::Bytes(kv.v_binary),
        Err(_) => Value::Str(compact_str::format_compact!("Unknown VType: {}", kv.v_type)),
    };
    KeyValue {
        key: kv.key.into(),
        value,
    }
}

fn is_str(kv: &api_v2::KeyValue) -> bool {
    kv.v_type == ValueType::String as i32
}

/// What a span tag turns into.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Role {
    /// Consumed without a trace (kind, status code, the `error` flag).
    Drop,
    ScopeName,
    ScopeVersion,
    /// Consumed; its string is the status message.
    StatusMessage,
    /// Kept as an attribute; a copy of its string is the status message.
    CopyStatusMessage,
    TraceState,
}

/// At most this many tags of a span have a [`Role`] (one per role plus kind and status code).
const MAX_ROLES: usize = 8;

/// The special tags of a span, found in one pass over borrowed tags, and what they decide.
struct Special {
    roles: [(usize, Role); MAX_ROLES],
    len: usize,
    kind: SpanKind,
    status: StatusCode,
}

impl Special {
    fn add(&mut self, index: usize, role: Role) {
        if self.len < MAX_ROLES {
            self.roles[self.len] = (index, role);
            self.len += 1;
        }
    }

    fn role(&self, index: usize) -> Option<Role> {
        self.roles[..self.len]
            .iter()
            .find(|(i, _)| *i == index)
            .map(|&(_, r)| r)
    }
}

/// Applies Jaeger's tag rules (§g "Jaeger model → OTLP"): `span.kind` → kind; the scope tags;
/// the status from `error` / `otel.status_code` / `http.status_code`; `w3c.tracestate`. The
/// first tag of each key counts.
fn special_tags(tags: &[api_v2::KeyValue]) -> Special {
    let first = |key: &str| tags.iter().position(|t| t.key == key);
    let first_str = |key: &str| first(key).filter(|&i| is_str(&tags[i]));
    let mut sp = Special {
        roles: [(usize::MAX, Role::Drop); MAX_ROLES],
        len: 0,
        kind: SpanKind::Unspecified,
        status: StatusCode::Unset,
    };

    // Kind; an unknown value stays a tag.
    if let Some(i) = first_str("span.kind") {
        // Jaeger's lowercase names, any case (without allocating a lowercase copy).
        let v = tags[i].v_str.as_str();
        if let Some(k) = SpanKind::ALL[1..]
            .iter()
            .find(|k| k.as_jaeger_str().eq_ignore_ascii_case(v))
        {
            sp.kind = *k;
            sp.add(i, Role::Drop);
        }
    }

    // Scope: `otel.scope.*`, else the older `otel.library.*`; a version counts only with a name.
    for (name_key, version_key) in [
        ("otel.scope.name", "otel.scope.version"),
        ("otel.library.name", "otel.library.version"),
    ] {
        if let Some(i) = first_str(name_key) {
            sp.add(i, Role::ScopeName);
            if let Some(v) = first_str(version_key) {
                sp.add(v, Role::ScopeVersion);
            }
            break;
        }
    }

    if let Some(i) = first_str("w3c.tracestate") {
        sp.add(i, Role::TraceState);
    }

    // Status. `error`=true (bool) is the ultimate truth; else `otel.status_code`; else HTTP.
    let description = first("otel.status_description");
    let http_message = first_str("http.status_message");
    let status_code = first_str("otel.status_code").and_then(|i| {
        let v = tags[i].v_str.as_str();
        let code = if v.eq_ignore_ascii_case("OK") {
            StatusCode::Ok
        } else if v.eq_ignore_ascii_case("ERROR") {
            StatusCode::Error
        } else if v.eq_ignore_ascii_case("UNSET") {
            StatusCode::Unset
        } else {
            return None;
        };
        Some((i, code))
    });
    let error_flag =
        first("error").filter(|&i| tags[i].v_type == ValueType::Bool as i32 && tags[i].v_bool);
    if let Some(i) = error_flag {
        sp.status = StatusCode::Error;
        sp.add(i, Role::Drop);
        if let Some((c, _)) = status_code {
            sp.add(c, Role::Drop);
        }
        match (description, http_message) {
            (Some(d), _) => sp.add(d, Role::StatusMessage),
            (None, Some(m)) => sp.add(m, Role::CopyStatusMessage),
            (None, None) => {}
        }
    } else if let Some((c, code)) = status_code {
        sp.status = code;
        sp.add(c, Role::Drop);
        if let Some(d) = description {
            sp.add(d, Role::StatusMessage);
        }
    } else if let Some(code) = first("http.status_code").and_then(|i| http_code(&tags[i])) {
        let failed = code >= 500 || (sp.kind == SpanKind::Client && (400..500).contains(&code));
        if failed {
            sp.status = StatusCode::Error;
            if let Some(m) = http_message {
                sp.add(m, Role::CopyStatusMessage);
            }
        }
    }
    sp
}

/// `http.status_code` as an int tag or a decimal string tag.
fn http_code(kv: &api_v2::KeyValue) -> Option<i64> {
    match ValueType::try_from(kv.v_type) {
        Ok(ValueType::Int64) => Some(kv.v_int64),
        Ok(ValueType::String) => kv.v_str.trim().parse().ok(),
        _ => None,
    }
}

fn span_to_model(
    span: api_v2::Span,
    batch_process: Option<&Process>,
    shared: &mut Shared,
) -> Result<Span, SpanProblem> {
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
    let start_ns = match span.start_time {
        None => return Err(SpanProblem::StartTimeMissing),
        Some(t) if t.seconds == GO_ZERO_TIME_SECONDS && t.nanos == 0 => {
            return Err(SpanProblem::StartTimeMissing)
        }
        Some(t) => timestamp_ns(&t).ok_or(SpanProblem::StartTimeOutOfRange(t.seconds))?,
    };
    let (parent_span_id, links) = references_to_model(span.references, trace_id)?;

    // A negative duration cannot be stored (the OTLP path keeps end < start as sent, and the
    // model reads such a span as 0 long); Jaeger's sanitizers make it 1 ns, and so do we.
    let duration_ns = span.duration.map_or(0, |d| {
        i128::from(d.seconds) * 1_000_000_000 + i128::from(d.nanos)
    });
    let end_ns = if duration_ns < 0 {
        start_ns.saturating_add(1)
    } else {
        start_ns.saturating_add(u64::try_from(duration_ns).unwrap_or(u64::MAX))
    };

    let special = special_tags(&span.tags);
    let mut attributes =
        Vec::with_capacity(span.tags.len() + usize::from(!span.warnings.is_empty()));
    let (mut scope_name, mut scope_version) = (String::new(), String::new());
    let (mut status_message, mut trace_state) = (String::new(), String::new());
    for (i, tag) in span.tags.into_iter().enumerate() {
        match special.role(i) {
            None => attributes.push(tag_to_model(tag)),
            Some(Role::Drop) => {}
            Some(Role::ScopeName) => scope_name = tag.v_str,
            Some(Role::ScopeVersion) => scope_version = tag.v_str,
            Some(Role::StatusMessage) if is_str(&tag) => status_message = tag.v_str,
            Some(Role::StatusMessage) => status_message = tag_to_model(tag).value.to_query_string(),
            Some(Role::CopyStatusMessage) => {
                status_message = tag.v_str.clone();
                attributes.push(tag_to_model(tag));
            }
            Some(Role::TraceState) => trace_state = tag.v_str,
        }
    }
    if !span.warnings.is_empty() {
        attributes.push(KeyValue::new(
            WARNINGS_ATTRIBUTE,
            Value::Array(
                span.warnings
                    .into_iter()
                    .map(|w| Value::Str(w.into()))
                    .collect(),
            ),
        ));
    }

    let name = if span.operation_name.is_empty() {
        EMPTY_SPAN_NAME.to_string()
    } else {
        span.operation_name
    };
    Ok(Span {
        trace_id,
        span_id,
        parent_span_id,
        trace_state,
        name,
        kind: special.kind,
        start_ns,
        end_ns,
        attributes,
        dropped_attributes_count: 0,
        events: span.logs.into_iter().map(log_to_event).collect(),
        dropped_events_count: 0,
        links,
        dropped_links_count: 0,
        status: Status {
            code: special.status,
            message: status_message,
        },
        // Jaeger's translator drops the flags (sampled/debug/firehose have no OTLP meaning).
        flags: 0,
        resource: shared.resource(span.process, batch_process),
        scope: shared.scopes.get(scope_name, scope_version),
    })
}

/// Nanoseconds since the epoch; `None` before 1970 or past what a u64 holds.
fn timestamp_ns(t: &prost_types::Timestamp) -> Option<u64> {
    let ns = i128::from(t.seconds) * 1_000_000_000 + i128::from(t.nanos);
    u64::try_from(ns).ok()
}

/// A log's time: 0 when unset (absent, Go's zero time) or not representable.
fn log_to_event(log: api_v2::Log) -> Event {
    let mut name = String::new();
    let mut attributes = Vec::with_capacity(log.fields.len());
    for field in log.fields {
        if name.is_empty() && field.key == EVENT_FIELD && is_str(&field) {
            name = field.v_str;
        } else {
            attributes.push(tag_to_model(field));
        }
    }
    Event {
        time_ns: log.timestamp.as_ref().and_then(timestamp_ns).unwrap_or(0),
        name,
        attributes,
        dropped_attributes_count: 0,
    }
}

fn is_child_of(ref_type: i32) -> bool {
    ref_type == SpanRefType::ChildOf as i32
}

/// The parent is the first CHILD_OF reference in the span's own trace, else the first such
/// reference of any other type (an unknown type counts as FOLLOWS_FROM, as in Jaeger). Every
/// other reference becomes a link tagged `opentracing.ref_type`. A FOLLOWS_FROM parent is also
/// kept as a link, so that the query side (which gives a link equal to the parent its type)
/// gives it back as FOLLOWS_FROM.
fn references_to_model(
    refs: Vec<api_v2::SpanRef>,
    trace_id: TraceId,
) -> Result<(SpanId, Vec<Link>), SpanProblem> {
    if refs.is_empty() {
        return Ok((SpanId::ZERO, Vec::new()));
    }
    let mut ids = Vec::with_capacity(refs.len());
    for (i, r) in refs.iter().enumerate() {
        let t = TraceId::from_slice(&r.trace_id)
            .map_err(|_| SpanProblem::RefTraceIdLength(i, r.trace_id.len()))?;
        let s = SpanId::from_slice(&r.span_id)
            .map_err(|_| SpanProblem::RefSpanIdLength(i, r.span_id.len()))?;
        ids.push((t, s));
    }
    let own = |i: &usize| ids[*i].0 == trace_id;
    let parent = (0..refs.len())
        .filter(own)
        .find(|&i| is_child_of(refs[i].ref_type))
        .map(|i| (i, true))
        .or_else(|| (0..refs.len()).find(own).map(|i| (i, false)));
    let mut links = Vec::with_capacity(refs.len());
    for (i, r) in refs.iter().enumerate() {
        if matches!(parent, Some((p, true)) if p == i) {
            continue;
        }
        let ref_type = if is_child_of(r.ref_type) {
            "child_of"
        } else {
            "follows_from"
        };
        links.push(Link {
            trace_id: ids[i].0,
            span_id: ids[i].1,
            attributes: vec![KeyValue::string(REF_TYPE_ATTRIBUTE, ref_type)],
            ..Link::default()
        });
    }
    Ok((parent.map_or(SpanId::ZERO, |(i, _)| ids[i].1), links))
}
