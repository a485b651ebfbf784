//! Query-parameter parsing for Jaeger's query HTTP API: classic `/api/traces` (search and
//! by-ID), `/api/operations`, and the api_v3 gateway (`/api/v3/traces`, `/trace-summaries`,
//! `/traces/{id}`, `/operations`).
//!
//! Raw query strings in, model types out; nothing here touches HTTP types or storage. Errors
//! carry Jaeger's exact client-facing messages (jaeger-wire.md §b): classic ones read
//! `unable to parse param '<name>': <cause>`, api_v3 ones `malformed parameter <name>: <cause>`,
//! and causes imitate Go's `strconv` / `time` texts. Repeated keys follow Go's `url.Values`:
//! single-valued params take the first value; `tag`, `tags` and `traceID` take every value.

mod go;
mod v3;

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use thiserror::Error;

use crate::model::ids::TraceId;
use crate::model::query::DEFAULT_SEARCH_LIMIT;
use crate::model::span::{double_string, SpanKind};
use crate::model::TraceQuery;

pub use v3::{parse_v3_get_trace, parse_v3_search, parse_v3_trace_id_path, V3GetTrace, V3Search};

/// A bad request parameter; the message is what the client sees (HTTP 400).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{0}")]
pub struct ParamError(pub String);

/// Jaeger's default search window when `start` is absent: `now − 48h`.
pub const DEFAULT_LOOKBACK_NS: u64 = 48 * 3_600 * 1_000_000_000;

pub const ERR_SERVICE_REQUIRED: &str = "parameter 'service' is required";
pub const ERR_MAX_BELOW_MIN_DURATION: &str = "'maxDuration' should be greater than 'minDuration'";

/// A decoded query string: `(key, value)` pairs in order. A bare key (`minDuration` with no `=`)
/// has the value "".
pub(crate) struct QueryParams {
    pairs: Vec<(String, String)>,
}

impl QueryParams {
    pub(crate) fn parse(query_string: &str) -> Self {
        let qs = query_string.strip_prefix('?').unwrap_or(query_string);
        QueryParams {
            pairs: form_urlencoded::parse(qs.as_bytes()).into_owned().collect(),
        }
    }

    /// Go's `url.Values.Get`: the first value of `key`, possibly "".
    pub(crate) fn first(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `key` when it is non-empty (empty means absent).
    pub(crate) fn non_empty(&self, key: &str) -> Option<&str> {
        self.first(key).filter(|v| !v.is_empty())
    }

    /// Every value of `key`, in order.
    pub(crate) fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The first of `names` (canonical first, then aliases) with a non-empty value, as
    /// `(value, name)` — the name is the one the client used, for error messages.
    pub(crate) fn resolve<'a>(&'a self, names: &[&'a str]) -> Option<(&'a str, &'a str)> {
        names
            .iter()
            .find_map(|&name| self.non_empty(name).map(|v| (v, name)))
    }
}

fn classic_error(name: &str, cause: impl fmt::Display) -> ParamError {
    ParamError(format!("unable to parse param '{name}': {cause}"))
}

/// A classic `GET /api/traces` request: either a trace-ID lookup (`trace_ids` non-empty; the
/// query's window is then only a hint) or a search.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassicSearch {
    pub trace_ids: Vec<TraceId>,
    pub query: TraceQuery,
    pub raw: bool,
}

/// Parses the `/api/traces` query string. `now_ns` supplies the default window
/// (`end` = now, `start` = now − 48h). `lookback` and `prettyPrint` are ignored.
pub fn parse_classic_search(query_string: &str, now_ns: u64) -> Result<ClassicSearch, ParamError> {
    let q = QueryParams::parse(query_string);
    let service = q.first("service").unwrap_or("");
    let operation = q.first("operation").unwrap_or("");

    // Checked in Jaeger's order, so the same request fails with the same message.
    let start_ns =
        micros_param(&q, "start")?.unwrap_or_else(|| now_ns.saturating_sub(DEFAULT_LOOKBACK_NS));
    let end_ns = micros_param(&q, "end")?.unwrap_or(now_ns);

    let mut attributes = Vec::new();
    for tag in q.all("tag") {
        let (key, value) = tag.split_once(':').ok_or_else(|| {
            ParamError(format!(
                "malformed 'tag' parameter, expecting key:value, received: {tag}"
            ))
        })?;
        upsert(&mut attributes, key.to_string(), value.to_string());
    }
    // Jaeger applies `tags` after `tag`, so a key in both takes the `tags` value. An empty
    // `tags=` is skipped (Go would fail it as "unexpected end of JSON input").
    for tags in q.all("tags").filter(|t| !t.is_empty()) {
        for (key, value) in parse_json_attributes(tags).map_err(|e| classic_error("tags", e))? {
            upsert(&mut attributes, key, value);
        }
    }

    let limit = match q.non_empty("limit") {
        None => DEFAULT_SEARCH_LIMIT,
        Some(s) => {
            let n = go::parse_int(s, 32).map_err(|e| classic_error("limit", e))?;
            if n <= 0 {
                DEFAULT_SEARCH_LIMIT
            } else {
                n as usize
            }
        }
    };

    let min_duration = duration_param(&q, "minDuration")?;
    let max_duration = duration_param(&q, "maxDuration")?;

    let trace_ids = q
        .all("traceID")
        .map(|id| TraceId::parse_hex(id).map_err(|e| classic_error("traceID", e)))
        .collect::<Result<Vec<_>, _>>()?;

    let raw = bool_param(&q, "raw")?;

    if trace_ids.is_empty() && service.is_empty() {
        return Err(ParamError(ERR_SERVICE_REQUIRED.into()));
    }
    if min_duration != 0 && max_duration != 0 && max_duration < min_duration {
        return Err(ParamError(ERR_MAX_BELOW_MIN_DURATION.into()));
    }

    Ok(ClassicSearch {
        trace_ids,
        query: TraceQuery {
            service: non_empty_string(service),
            operation: non_empty_string(operation),
            attributes,
            start_min_ns: start_ns,
            start_max_ns: end_ns,
            duration_min_ns: duration_bound(min_duration),
            duration_max_ns: duration_bound(max_duration),
            limit,
        },
        raw,
    })
}

/// A classic `GET /api/traces/{id}` (or `POST /api/archive/{id}`) request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClassicGetTrace {
    /// Storage hints from `start` / `end` (µs in the request), in ns.
    pub start_ns: Option<u64>,
    pub end_ns: Option<u64>,
    pub raw: bool,
}

/// Parses `start`, `end` (µs since epoch, optional) and `raw`.
pub fn parse_classic_get_trace(query_string: &str) -> Result<ClassicGetTrace, ParamError> {
    let q = QueryParams::parse(query_string);
    Ok(ClassicGetTrace {
        start_ns: micros_param(&q, "start")?,
        end_ns: micros_param(&q, "end")?,
        raw: bool_param(&q, "raw")?,
    })
}

/// A trace ID from a classic URL path: 1–32 hex digits, or (as Jaeger ≥ 2.20 accepts) base64 in
/// the standard or URL alphabet, padded or not, of exactly 8 or 16 bytes. A string that is valid
/// hex is always read as hex. The all-zero ID is rejected.
pub fn parse_trace_id_path(s: &str) -> Result<TraceId, ParamError> {
    trace_id_from_path(s).map_err(|e| classic_error("traceID", e))
}

pub(crate) fn trace_id_from_path(s: &str) -> Result<TraceId, String> {
    use base64::engine::general_purpose::{STANDARD_PAD_INDIFFERENT, URL_SAFE_PAD_INDIFFERENT};
    use base64::Engine;

    let id = if !s.is_empty() && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        TraceId::parse_hex(s).map_err(|e| e.to_string())?
    } else {
        let bytes = STANDARD_PAD_INDIFFERENT
            .decode(s)
            .or_else(|_| URL_SAFE_PAD_INDIFFERENT.decode(s))
            .ok()
            .filter(|b| b.len() == 8 || b.len() == 16)
            .ok_or_else(|| {
                format!("trace id must be 1 to 32 hex digits or base64 of 8 or 16 bytes, got {s:?}")
            })?;
        TraceId::from_slice(&bytes).map_err(|e| e.to_string())?
    };
    if id.is_zero() {
        return Err("trace id must not be zero".into());
    }
    Ok(id)
}

/// Parses `/api/operations` (`v3 == false`) or `/api/v3/operations` (`v3 == true`) parameters:
/// the required `service` and the optional `spanKind` (v3 alias `span_kind`; empty = all kinds).
pub fn parse_operations_params(
    query_string: &str,
    v3: bool,
) -> Result<(String, Option<SpanKind>), ParamError> {
    let q = QueryParams::parse(query_string);
    let service = q
        .non_empty("service")
        .ok_or_else(|| ParamError(ERR_SERVICE_REQUIRED.into()))?;
    let kind = if v3 {
        q.resolve(&["spanKind", "span_kind"])
    } else {
        q.non_empty("spanKind").map(|v| (v, "spanKind"))
    };
    let kind = match kind {
        None => None,
        Some((value, name)) => SpanKind::filter_from_jaeger_str(value).map_err(|cause| {
            if v3 {
                v3::v3_error(name, cause)
            } else {
                classic_error(name, cause)
            }
        })?,
    };
    Ok((service.to_string(), kind))
}

fn non_empty_string(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// Replaces the value of an existing key in place (later wins), else appends.
fn upsert(attrs: &mut Vec<(String, String)>, key: String, value: String) {
    match attrs.iter_mut().find(|(k, _)| *k == key) {
        Some(slot) => slot.1 = value,
        None => attrs.push((key, value)),
    }
}

/// Integer microseconds since the epoch → ns; absent or empty → `None`; before 1970 → 0.
fn micros_param(q: &QueryParams, name: &str) -> Result<Option<u64>, ParamError> {
    let Some(s) = q.non_empty(name) else {
        return Ok(None);
    };
    let us = go::parse_int(s, 64).map_err(|e| classic_error(name, e))?;
    Ok(Some(u64::try_from(us).unwrap_or(0).saturating_mul(1_000)))
}

/// A Go duration in ns; absent or empty (`minDuration` sent bare) → 0.
fn duration_param(q: &QueryParams, name: &str) -> Result<i64, ParamError> {
    q.non_empty(name).map_or(Ok(0), |s| {
        go::parse_duration(s).map_err(|e| classic_error(name, e))
    })
}

/// 0 (and, defensively, a negative duration) means "no bound".
fn duration_bound(ns: i64) -> Option<u64> {
    u64::try_from(ns).ok().filter(|&ns| ns > 0)
}

fn bool_param(q: &QueryParams, name: &str) -> Result<bool, ParamError> {
    q.non_empty(name).map_or(Ok(false), |s| {
        go::parse_bool(s).map_err(|e| classic_error(name, e))
    })
}

/// A JSON object of attributes (`tags`, `query.attributes`) in the order given; a repeated key
/// keeps its first position and its last value. Non-string values are stringified the way the
/// model compares attribute values (`1.0` → `1`, `true`, `null` → "", arrays/objects as JSON).
pub(crate) fn parse_json_attributes(s: &str) -> Result<Vec<(String, String)>, String> {
    let OrderedObject(entries) = serde_json::from_str(s).map_err(|e| e.to_string())?;
    let mut attrs = Vec::with_capacity(entries.len());
    for (key, value) in entries {
        let value = match value {
            serde_json::Value::Null => String::new(),
            serde_json::Value::String(s) => s,
            serde_json::Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
                (Some(i), _, _) => i.to_string(),
                (_, Some(u), _) => u.to_string(),
                (_, _, Some(f)) => double_string(f),
                _ => n.to_string(),
            },
            other => other.to_string(),
        };
        upsert(&mut attrs, key, value);
    }
    Ok(attrs)
}

/// A JSON object read with its members in document order (serde_json's map sorts them).
struct OrderedObject(Vec<(String, serde_json::Value)>);

impl<'de> Deserialize<'de> for OrderedObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;
        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = OrderedObject;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OrderedObject, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<String, serde_json::Value>()? {
                    entries.push(entry);
                }
                Ok(OrderedObject(entries))
            }
        }
        deserializer.deserialize_map(ObjectVisitor)
    }
}

#[cfg(test)]
mod tests;
