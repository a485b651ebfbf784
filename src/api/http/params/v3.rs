//! api_v3 HTTP gateway parameters. Canonical names are proto3-JSON camelCase
//! (`query.startTimeMin`); the snake_case names of older Jaeger versions are accepted as
//! aliases. The canonical name wins when both are sent, and an empty value counts as absent.
//! Errors name the parameter the client actually sent.

use super::{go, parse_json_attributes, trace_id_from_path, ParamError, QueryParams};
use crate::model::ids::TraceId;
use crate::model::query::DEFAULT_SEARCH_LIMIT;
use crate::model::TraceQuery;

const SERVICE: &[&str] = &["query.serviceName", "query.service_name"];
const OPERATION: &[&str] = &["query.operationName", "query.operation_name"];
const ATTRIBUTES: &str = "query.attributes";
const TIME_MIN: &[&str] = &["query.startTimeMin", "query.start_time_min"];
const TIME_MAX: &[&str] = &["query.startTimeMax", "query.start_time_max"];
const SEARCH_DEPTH: &[&str] = &[
    "query.searchDepth",
    "query.search_depth",
    "query.num_traces",
];
const DURATION_MIN: &[&str] = &["query.durationMin", "query.duration_min"];
const DURATION_MAX: &[&str] = &["query.durationMax", "query.duration_max"];
const QUERY_RAW: &[&str] = &["query.rawTraces", "query.raw_traces"];
const START_TIME: &[&str] = &["startTime", "start_time"];
const END_TIME: &[&str] = &["endTime", "end_time"];
const RAW: &[&str] = &["rawTraces", "raw_traces"];

pub(super) fn v3_error(name: &str, cause: impl std::fmt::Display) -> ParamError {
    ParamError(format!("malformed parameter {name}: {cause}"))
}

/// `GET /api/v3/traces` and `/api/v3/trace-summaries`.
#[derive(Debug, Clone, PartialEq)]
pub struct V3Search {
    pub query: TraceQuery,
    pub raw: bool,
}

/// Parses an api_v3 search. The start-time window is required and must not be empty
/// (`min < max`); `query.serviceName` is optional (absent → search every service).
pub fn parse_v3_search(query_string: &str) -> Result<V3Search, ParamError> {
    let q = QueryParams::parse(query_string);
    let service = q.resolve(SERVICE).map(|(v, _)| v.to_string());
    let operation = q.resolve(OPERATION).map(|(v, _)| v.to_string());
    let attributes = match q.non_empty(ATTRIBUTES) {
        None => Vec::new(),
        Some(s) => parse_json_attributes(s).map_err(|e| v3_error(ATTRIBUTES, e))?,
    };

    let (Some((min, min_name)), Some((max, max_name))) = (q.resolve(TIME_MIN), q.resolve(TIME_MAX))
    else {
        return Err(ParamError(format!(
            "{} and {} are required",
            TIME_MIN[0], TIME_MAX[0]
        )));
    };
    let start_min_ns = go::parse_rfc3339_ns(min).map_err(|e| v3_error(min_name, e))?;
    let start_max_ns = go::parse_rfc3339_ns(max).map_err(|e| v3_error(max_name, e))?;
    if start_min_ns >= start_max_ns {
        return Err(v3_error(max_name, format!("must be after {min_name}")));
    }

    let limit = match q.resolve(SEARCH_DEPTH) {
        None => DEFAULT_SEARCH_LIMIT,
        Some((s, name)) => match go::parse_uint(s, 32).map_err(|e| v3_error(name, e))? {
            0 => DEFAULT_SEARCH_LIMIT,
            n => n as usize,
        },
    };
    let duration_min_ns = duration(&q, DURATION_MIN)?;
    let duration_max_ns = duration(&q, DURATION_MAX)?;
    let raw = boolean(&q, QUERY_RAW)?;

    Ok(V3Search {
        query: TraceQuery {
            service,
            operation,
            attributes,
            start_min_ns,
            start_max_ns,
            duration_min_ns,
            duration_max_ns,
            limit,
        },
        raw,
    })
}

/// `GET /api/v3/traces/{trace_id}` query parameters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct V3GetTrace {
    /// Storage hints, ns since the epoch.
    pub start_ns: Option<u64>,
    pub end_ns: Option<u64>,
    pub raw: bool,
}

/// Parses `startTime` / `endTime` (RFC 3339, optional) and `rawTraces`.
pub fn parse_v3_get_trace(query_string: &str) -> Result<V3GetTrace, ParamError> {
    let q = QueryParams::parse(query_string);
    Ok(V3GetTrace {
        start_ns: time(&q, START_TIME)?,
        end_ns: time(&q, END_TIME)?,
        raw: boolean(&q, RAW)?,
    })
}

/// The `{trace_id}` path segment of `/api/v3/traces/{trace_id}`; same forms as
/// [`super::parse_trace_id_path`], errors as `malformed parameter trace_id: …`.
pub fn parse_v3_trace_id_path(s: &str) -> Result<TraceId, ParamError> {
    trace_id_from_path(s).map_err(|e| v3_error("trace_id", e))
}

fn time(q: &QueryParams, names: &[&str]) -> Result<Option<u64>, ParamError> {
    q.resolve(names)
        .map(|(s, name)| go::parse_rfc3339_ns(s).map_err(|e| v3_error(name, e)))
        .transpose()
}

/// A Go duration; 0 or negative means no bound.
fn duration(q: &QueryParams, names: &[&str]) -> Result<Option<u64>, ParamError> {
    let Some((s, name)) = q.resolve(names) else {
        return Ok(None);
    };
    let ns = go::parse_duration(s).map_err(|e| v3_error(name, e))?;
    Ok(u64::try_from(ns).ok().filter(|&ns| ns > 0))
}

fn boolean(q: &QueryParams, names: &[&str]) -> Result<bool, ParamError> {
    q.resolve(names).map_or(Ok(false), |(s, name)| {
        go::parse_bool(s).map_err(|e| v3_error(name, e))
    })
}
