//! Zipkin v2 JSON (`POST /api/v2/spans`, `application/json`): a JSON array of spans.
//!
//! Decoded by hand from a `serde_json::Value` so that a problem in one span rejects that span
//! alone, with the field named (`spans[2]: annotations[0].timestamp: …`); only a body that is not
//! a JSON array is refused whole. The JSON helpers here are shared with the v1 JSON decoder.

use crate::ingest::json_type_name;
use serde_json::{Map, Value as Json};

use super::{
    parent_id_from_hex, span_id_from_hex, trace_id_from_hex, Annotation, Endpoint, Entry, Kind,
    SpanProblem, ZipkinSpan,
};
use crate::ingest::IngestError;

/// Decodes a v2 JSON body into one entry per span.
pub fn decode(body: &[u8]) -> Result<Vec<Entry>, IngestError> {
    let items = json_array(body, "v2")?;
    Ok(items
        .into_iter()
        .enumerate()
        .map(|(index, item)| Entry {
            index,
            span: span(item),
        })
        .collect())
}

/// Parses a body that must be a JSON array (shared with v1).
pub(super) fn json_array(body: &[u8], version: &'static str) -> Result<Vec<Json>, IngestError> {
    let doc: Json = serde_json::from_slice(body).map_err(|source| {
        let (line, column) = (source.line(), source.column());
        let full = source.to_string();
        let suffix = format!(" at line {line} column {column}");
        let message = full.strip_suffix(&suffix).unwrap_or(&full).to_string();
        IngestError::ZipkinJsonSyntax {
            version,
            line,
            column,
            message,
            source,
        }
    })?;
    match doc {
        Json::Array(items) => Ok(items),
        other => Err(IngestError::ZipkinJsonField {
            version,
            path: "$".into(),
            message: format!("expected an array of spans, got {}", json_type_name(&other)),
        }),
    }
}

fn span(item: Json) -> Result<ZipkinSpan, SpanProblem> {
    let mut o = Obj::new(item, "")?;
    let trace_id = trace_id_from_hex(o.string("traceId")?.as_deref())?;
    let id = span_id_from_hex(o.string("id")?.as_deref())?;
    let parent_id = parent_id_from_hex(o.string("parentId")?.as_deref())?;
    let kind = match o.string("kind")?.as_deref() {
        None | Some("") => None,
        Some(k) => Some(kind_from_str(k).ok_or_else(|| {
            SpanProblem::field(
                "kind",
                format!("expected CLIENT, SERVER, PRODUCER or CONSUMER, got {k:?}"),
            )
        })?),
    };
    let annotations = o
        .array("annotations")?
        .into_iter()
        .enumerate()
        .map(|(i, a)| {
            let mut a = Obj::new(a, &format!("annotations[{i}]"))?;
            Ok(Annotation {
                timestamp_us: a.u64("timestamp")?.unwrap_or(0),
                value: a.string("value")?.unwrap_or_default(),
            })
        })
        .collect::<Result<Vec<_>, SpanProblem>>()?;
    Ok(ZipkinSpan {
        trace_id,
        id,
        parent_id,
        kind,
        name: o.string("name")?.unwrap_or_default(),
        timestamp_us: o.u64("timestamp")?,
        duration_us: o.u64("duration")?,
        local_endpoint: o.endpoint("localEndpoint")?,
        remote_endpoint: o.endpoint("remoteEndpoint")?,
        annotations,
        tags: o.tags("tags")?,
        debug: o.bool("debug")?.unwrap_or(false),
        shared: o.bool("shared")?.unwrap_or(false),
    })
}

pub(super) fn kind_from_str(k: &str) -> Option<Kind> {
    Some(match k.to_ascii_uppercase().as_str() {
        "CLIENT" => Kind::Client,
        "SERVER" => Kind::Server,
        "PRODUCER" => Kind::Producer,
        "CONSUMER" => Kind::Consumer,
        _ => return None,
    })
}

/// A JSON object whose fields are taken out one by one; `prefix` is its path inside the span
/// (`""` for the span itself, `annotations[2]` for a nested object), used only in messages.
pub(super) struct Obj {
    map: Map<String, Json>,
    prefix: String,
}

impl Obj {
    pub(super) fn new(v: Json, prefix: &str) -> Result<Obj, SpanProblem> {
        match v {
            Json::Object(map) => Ok(Obj {
                map,
                prefix: prefix.to_string(),
            }),
            other => Err(SpanProblem::field(
                if prefix.is_empty() { "span" } else { prefix },
                format!("expected an object, got {}", json_type_name(&other)),
            )),
        }
    }

    fn path(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.prefix)
        }
    }

    fn wrong(&self, key: &str, expected: &str, got: &Json) -> SpanProblem {
        SpanProblem::field(
            self.path(key),
            format!("expected {expected}, got {}", json_type_name(got)),
        )
    }

    /// A present, non-null field.
    pub(super) fn take(&mut self, key: &str) -> Option<Json> {
        self.map.remove(key).filter(|v| !v.is_null())
    }

    pub(super) fn string(&mut self, key: &str) -> Result<Option<String>, SpanProblem> {
        match self.take(key) {
            None => Ok(None),
            Some(Json::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.wrong(key, "a string", &other)),
        }
    }

    pub(super) fn bool(&mut self, key: &str) -> Result<Option<bool>, SpanProblem> {
        match self.take(key) {
            None => Ok(None),
            Some(Json::Bool(b)) => Ok(Some(b)),
            Some(other) => Err(self.wrong(key, "a boolean", &other)),
        }
    }

    /// A non-negative integer; integral floats (`1.5e15`) and decimal strings are accepted too.
    pub(super) fn u64(&mut self, key: &str) -> Result<Option<u64>, SpanProblem> {
        let v = match self.take(key) {
            None => return Ok(None),
            Some(v) => v,
        };
        let n = match &v {
            Json::Number(n) => n.as_u64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.is_finite() && *f >= 0.0 && *f < u64::MAX as f64)
                    .map(|f| f as u64)
            }),
            Json::String(s) => s.trim().parse::<u64>().ok(),
            _ => None,
        };
        n.map(Some)
            .ok_or_else(|| self.wrong(key, "a non-negative integer", &v))
    }

    pub(super) fn array(&mut self, key: &str) -> Result<Vec<Json>, SpanProblem> {
        match self.take(key) {
            None => Ok(Vec::new()),
            Some(Json::Array(items)) => Ok(items),
            Some(other) => Err(self.wrong(key, "an array", &other)),
        }
    }

    /// Tags: an object of strings (numbers and booleans are kept as their JSON text).
    fn tags(&mut self, key: &str) -> Result<Vec<(String, String)>, SpanProblem> {
        let map = match self.take(key) {
            None => return Ok(Vec::new()),
            Some(Json::Object(map)) => map,
            Some(other) => return Err(self.wrong(key, "an object", &other)),
        };
        map.into_iter()
            .map(|(k, v)| match v {
                Json::String(s) => Ok((k, s)),
                Json::Number(_) | Json::Bool(_) => Ok((k, v.to_string())),
                other => Err(self.wrong(&format!("{key}.{k}"), "a string", &other)),
            })
            .collect()
    }

    /// An endpoint object (v1 and v2 share its shape). An unparsable IP address is ignored,
    /// as Zipkin's own parsers do.
    pub(super) fn endpoint(&mut self, key: &str) -> Result<Option<Endpoint>, SpanProblem> {
        let v = match self.take(key) {
            None => return Ok(None),
            Some(v) => v,
        };
        let mut e = Obj::new(v, &self.path(key))?;
        let port = match e.u64("port")? {
            None => 0,
            Some(p) => u16::try_from(p).map_err(|_| {
                SpanProblem::field(e.path("port"), format!("{p} is not a port number"))
            })?,
        };
        Ok(Some(Endpoint {
            service_name: e.string("serviceName")?.unwrap_or_default(),
            ipv4: e.string("ipv4")?.and_then(|s| s.parse().ok()),
            ipv6: e.string("ipv6")?.and_then(|s| s.parse().ok()),
            port,
        }))
    }
}
