//! The one internal span model.
//!
//! Shaped after OTLP so that it is lossless for OTLP (every attribute type incl. arrays and maps,
//! events, links, status, kind, trace state, flags, dropped counts, resource and scope with their
//! schema URLs). The Jaeger model maps onto it exactly the way Jaeger itself translates
//! (process → resource, logs → events, references → parent + links tagged
//! `opentracing.ref_type`, warnings → `@jaeger@warnings`), so it round-trips too.
//!
//! Resource and scope are shared between the spans of one export through `Arc`, so a batch holds
//! each of them once. Never put protobuf or RocksDB types in here.

use std::sync::Arc;

use super::ids::{SpanId, TraceId};

/// Attribute keys and string values: kept inline up to 24 bytes, which most are, so that
/// decoding and dropping a span's attributes does not allocate per string.
pub type Text = compact_str::CompactString;

/// Attribute key of the resource's service name.
pub const SERVICE_NAME: &str = "service.name";
/// Jaeger's attribute carrying span warnings (string array).
pub const WARNINGS_ATTRIBUTE: &str = "@jaeger@warnings";
/// Link attribute carrying the Jaeger reference type.
pub const REF_TYPE_ATTRIBUTE: &str = "opentracing.ref_type";

/// An attribute value (OTLP `AnyValue`). `Empty` is an `AnyValue` with no value set.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    #[default]
    Empty,
    Str(Text),
    Bool(bool),
    Int(i64),
    Double(f64),
    Bytes(Vec<u8>),
    Array(Vec<Value>),
    Map(Vec<KeyValue>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct KeyValue {
    pub key: Text,
    pub value: Value,
}

impl KeyValue {
    pub fn new(key: impl Into<Text>, value: Value) -> Self {
        KeyValue {
            key: key.into(),
            value,
        }
    }

    pub fn string(key: impl Into<Text>, value: impl Into<Text>) -> Self {
        Self::new(key, Value::Str(value.into()))
    }
}

/// Finds the first attribute with this key.
pub fn find_attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attrs.iter().find(|kv| kv.key == key).map(|kv| &kv.value)
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The string form used to compare query tags with stored values (Jaeger v2 / pdata rules):
    /// strings as is, ints in decimal, doubles in shortest plain decimal (`72.5`), bools
    /// `true`/`false`, bytes base64, arrays and maps as JSON, empty as "".
    pub fn to_query_string(&self) -> String {
        match self {
            Value::Str(s) => s.to_string(),
            other => {
                let mut out = String::new();
                other.write_query_string(&mut out);
                out
            }
        }
    }

    /// Appends the query string form without allocating an intermediate string.
    pub fn write_query_string(&self, out: &mut String) {
        use std::fmt::Write;
        match self {
            Value::Empty => {}
            Value::Str(s) => out.push_str(s),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Double(d) => write_double(out, *d),
            Value::Bytes(b) => {
                use base64::Engine;
                base64::engine::general_purpose::STANDARD.encode_string(b, out);
            }
            // The same text the UI shows for such a tag (Go's encoding/json, as Jaeger does).
            Value::Array(_) | Value::Map(_) => out.push_str(&super::go_json::go_json_text(self)),
        }
    }
}

fn write_double(out: &mut String, d: f64) {
    use std::fmt::Write;
    if d.is_nan() {
        out.push_str("NaN");
    } else if d.is_infinite() {
        out.push_str(if d > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        // Rust's Display prints the shortest round-tripping plain decimal, like Go's 'f', -1.
        let _ = write!(out, "{d}");
    }
}

/// Shortest plain-decimal form of a double (`72.5`, `1`, `0.001`).
pub fn double_string(d: f64) -> String {
    let mut s = String::new();
    write_double(&mut s, d);
    s
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Resource {
    pub attributes: Vec<KeyValue>,
    pub dropped_attributes_count: u32,
    pub schema_url: String,
}

impl Resource {
    /// `service.name` when it is a string attribute.
    pub fn service_name(&self) -> Option<&str> {
        find_attr(&self.attributes, SERVICE_NAME).and_then(Value::as_str)
    }

    /// The service name or "" (Jaeger's empty service).
    pub fn service(&self) -> &str {
        self.service_name().unwrap_or("")
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Scope {
    pub name: String,
    pub version: String,
    pub attributes: Vec<KeyValue>,
    pub dropped_attributes_count: u32,
    pub schema_url: String,
}

/// OTLP span kind. The discriminants are the OTLP enum values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[repr(u8)]
pub enum SpanKind {
    #[default]
    Unspecified = 0,
    Internal = 1,
    Server = 2,
    Client = 3,
    Producer = 4,
    Consumer = 5,
}

impl SpanKind {
    pub const ALL: [SpanKind; 6] = [
        SpanKind::Unspecified,
        SpanKind::Internal,
        SpanKind::Server,
        SpanKind::Client,
        SpanKind::Producer,
        SpanKind::Consumer,
    ];

    /// From the OTLP enum number; unknown numbers are unspecified.
    pub fn from_i32(v: i32) -> Self {
        match v {
            1 => SpanKind::Internal,
            2 => SpanKind::Server,
            3 => SpanKind::Client,
            4 => SpanKind::Producer,
            5 => SpanKind::Consumer,
            _ => SpanKind::Unspecified,
        }
    }

    /// Jaeger's lowercase name (`span.kind` tag, operations API); "" for unspecified.
    pub fn as_jaeger_str(&self) -> &'static str {
        match self {
            SpanKind::Unspecified => "",
            SpanKind::Internal => "internal",
            SpanKind::Server => "server",
            SpanKind::Client => "client",
            SpanKind::Producer => "producer",
            SpanKind::Consumer => "consumer",
        }
    }

    /// Parses Jaeger's lowercase names (case-insensitive); "" and `unspecified` are unspecified.
    pub fn from_jaeger_str(s: &str) -> Option<Self> {
        let lower = s.to_ascii_lowercase();
        Some(match lower.as_str() {
            "" | "unspecified" => SpanKind::Unspecified,
            "internal" => SpanKind::Internal,
            "server" => SpanKind::Server,
            "client" => SpanKind::Client,
            "producer" => SpanKind::Producer,
            "consumer" => SpanKind::Consumer,
            _ => return None,
        })
    }

    /// A span-kind filter as the operations APIs take it: "" means every kind (`None`),
    /// anything else is parsed by [`Self::from_jaeger_str`].
    pub fn filter_from_jaeger_str(s: &str) -> Result<Option<Self>, UnknownSpanKind> {
        if s.is_empty() {
            return Ok(None);
        }
        Self::from_jaeger_str(s)
            .map(Some)
            .ok_or_else(|| UnknownSpanKind(s.to_string()))
    }
}

/// A span kind name that is none of Jaeger's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown span kind {0:?}")]
pub struct UnknownSpanKind(pub String);

/// OTLP status code. The discriminants are the OTLP enum values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum StatusCode {
    #[default]
    Unset = 0,
    Ok = 1,
    Error = 2,
}

impl StatusCode {
    pub fn from_i32(v: i32) -> Self {
        match v {
            1 => StatusCode::Ok,
            2 => StatusCode::Error,
            _ => StatusCode::Unset,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Status {
    pub code: StatusCode,
    pub message: String,
}

/// A span event (a Jaeger log).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Event {
    pub time_ns: u64,
    pub name: String,
    pub attributes: Vec<KeyValue>,
    pub dropped_attributes_count: u32,
}

/// A span link (a Jaeger reference other than the parent).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Link {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub trace_state: String,
    pub attributes: Vec<KeyValue>,
    pub dropped_attributes_count: u32,
    pub flags: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    /// Zero means "no parent" (a root span), as in OTLP.
    pub parent_span_id: SpanId,
    pub trace_state: String,
    pub name: String,
    pub kind: SpanKind,
    pub start_ns: u64,
    pub end_ns: u64,
    pub attributes: Vec<KeyValue>,
    pub dropped_attributes_count: u32,
    pub events: Vec<Event>,
    pub dropped_events_count: u32,
    pub links: Vec<Link>,
    pub dropped_links_count: u32,
    pub status: Status,
    pub flags: u32,
    pub resource: Arc<Resource>,
    pub scope: Arc<Scope>,
}

impl Default for Span {
    fn default() -> Self {
        Span {
            trace_id: TraceId::ZERO,
            span_id: SpanId::ZERO,
            parent_span_id: SpanId::ZERO,
            trace_state: String::new(),
            name: String::new(),
            kind: SpanKind::Unspecified,
            start_ns: 0,
            end_ns: 0,
            attributes: Vec::new(),
            dropped_attributes_count: 0,
            events: Vec::new(),
            dropped_events_count: 0,
            links: Vec::new(),
            dropped_links_count: 0,
            status: Status::default(),
            flags: 0,
            resource: Arc::new(Resource::default()),
            scope: Arc::new(Scope::default()),
        }
    }
}

impl Span {
    pub fn service(&self) -> &str {
        self.resource.service()
    }

    /// Duration in nanoseconds; a span that ends before it starts has duration 0.
    pub fn duration_ns(&self) -> u64 {
        self.end_ns.saturating_sub(self.start_ns)
    }

    pub fn has_parent(&self) -> bool {
        !self.parent_span_id.is_zero()
    }

    pub fn is_error(&self) -> bool {
        self.status.code == StatusCode::Error
    }

    /// Span warnings (Jaeger `@jaeger@warnings`).
    pub fn warnings(&self) -> Vec<String> {
        match find_attr(&self.attributes, WARNINGS_ATTRIBUTE) {
            Some(Value::Array(vs)) => vs
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            Some(Value::Str(s)) => vec![s.to_string()],
            _ => Vec::new(),
        }
    }

    /// Appends a warning to `@jaeger@warnings`.
    pub fn add_warning(&mut self, warning: impl Into<Text>) {
        let w = Value::Str(warning.into());
        if let Some(kv) = self
            .attributes
            .iter_mut()
            .find(|kv| kv.key == WARNINGS_ATTRIBUTE)
        {
            match &mut kv.value {
                Value::Array(vs) => vs.push(w),
                other => {
                    let prev = std::mem::take(other);
                    *other = Value::Array(vec![prev, w]);
                }
            }
        } else {
            self.attributes
                .push(KeyValue::new(WARNINGS_ATTRIBUTE, Value::Array(vec![w])));
        }
    }
}

/// Spans accepted together by one ingest request. Spans may belong to many traces.
#[derive(Debug, Clone, Default)]
pub struct SpanBatch {
    pub spans: Vec<Span>,
}

impl SpanBatch {
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
}

/// All stored spans of one trace, in storage order.
#[derive(Debug, Clone, Default)]
pub struct Trace {
    pub trace_id: TraceId,
    pub spans: Vec<Span>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_string_forms_follow_pdata() {
        assert_eq!(Value::Double(72.5).to_query_string(), "72.5");
        assert_eq!(Value::Double(1.0).to_query_string(), "1");
        assert_eq!(Value::Int(123).to_query_string(), "123");
        assert_eq!(Value::Bool(true).to_query_string(), "true");
        assert_eq!(
            Value::Bytes(vec![0, 0, 0x30, 0x39]).to_query_string(),
            "AAAwOQ=="
        );
        let arr = Value::Array(vec![Value::Int(1), Value::Str("a".into())]);
        assert_eq!(arr.to_query_string(), r#"[1,"a"]"#);
        // Arrays and maps match in the text the UI shows (Go's JSON): floats like Go, keys sorted.
        let map = Value::Map(vec![
            KeyValue::new("b", Value::Double(1.0)),
            KeyValue::new("a", Value::Array(vec![Value::Double(2.5)])),
        ]);
        assert_eq!(map.to_query_string(), r#"{"a":[2.5],"b":1}"#);
    }

    #[test]
    fn span_kind_filter_empty_means_every_kind() {
        assert_eq!(SpanKind::filter_from_jaeger_str(""), Ok(None));
        assert_eq!(
            SpanKind::filter_from_jaeger_str("Server"),
            Ok(Some(SpanKind::Server))
        );
        assert_eq!(
            SpanKind::filter_from_jaeger_str("x").map_err(|e| e.to_string()),
            Err(r#"unknown span kind "x""#.to_string())
        );
    }

    #[test]
    fn warnings_accumulate_in_one_attribute() {
        let mut s = Span::default();
        s.add_warning("a");
        s.add_warning("b");
        assert_eq!(s.warnings(), vec!["a".to_string(), "b".to_string()]);
        assert_eq!(s.attributes.len(), 1);
    }
}
