//! The Jaeger query HTTP API: classic `/api/*` (what Jaeger UI ≤ v2.18 and scripts call) and
//! the `/api/v3/*` gateway (what current UIs use for services, operations and search).
//!
//! Handlers parse parameters (params.rs), ask the IndexActor or the QueryActor pool, and render
//! with jaeger_json.rs or the OTLP converter. Envelopes, status codes and error texts follow
//! Jaeger's (reference/jaeger-wire.md §b). Nothing here blocks: reads run on the query actors.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use serde_json::{json, Value as Json};

use super::jaeger_json::{
    envelope, operations_json, operations_v3_json, summaries_json, trace_not_found_item, UiTrace,
};
use super::params::{
    parse_classic_get_trace, parse_classic_search, parse_operations_params, parse_trace_id_path,
    parse_v3_get_trace, parse_v3_search, parse_v3_trace_id_path, ParamError,
};
use crate::api::error::ApiError;
use crate::api::reader::Reader;
use crate::ingest::otlp::{from_model, traces_data_to_json};
use crate::model::time::now_ns;
use crate::model::{Span, Trace};
use crate::telemetry::{EndpointLabels, Metrics};

pub struct QueryState {
    pub reader: Reader,
    pub metrics: Arc<Metrics>,
}

impl From<ParamError> for ApiError {
    fn from(e: ParamError) -> Self {
        ApiError::BadRequest(e.to_string())
    }
}

/// Registers every API route (the caller wraps them in the base-path scope).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/services", web::get().to(services))
        .route(
            "/api/services/{service}/operations",
            web::get().to(service_operations),
        )
        .route("/api/operations", web::get().to(operations))
        .route("/api/traces", web::get().to(search))
        .route("/api/traces/{id}", web::get().to(trace_by_id))
        .route("/api/archive/{id}", web::post().to(archive))
        .route("/api/v3/services", web::get().to(v3_services))
        .route("/api/v3/operations", web::get().to(v3_operations))
        .route("/api/v3/traces", web::get().to(v3_search))
        .route("/api/v3/traces/{id}", web::get().to(v3_trace_by_id))
        .route("/api/v3/trace-summaries", web::get().to(v3_summaries))
        .route("/api/{tail:.*}", web::route().to(api_not_found));
}

async fn timed<F, T>(state: &QueryState, endpoint: &'static str, f: F) -> T
where
    F: Future<Output = T>,
{
    let started = Instant::now();
    let out = f.await;
    state
        .metrics
        .query_seconds
        .get_or_create(&EndpointLabels { endpoint })
        .observe(started.elapsed().as_secs_f64());
    out
}

fn pretty(req: &HttpRequest) -> bool {
    form_urlencoded::parse(req.query_string().as_bytes())
        .any(|(k, v)| k == "prettyPrint" && v != "false")
}

/// Serializes `body` straight into the response buffer (indented by four spaces when `pretty`).
fn json_response(body: &impl Serialize, pretty: bool) -> HttpResponse {
    let mut buf = Vec::with_capacity(4096);
    let written = if pretty {
        let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
        body.serialize(&mut serde_json::Serializer::with_formatter(&mut buf, fmt))
    } else {
        body.serialize(&mut serde_json::Serializer::new(&mut buf))
    };
    match written {
        Ok(()) => HttpResponse::Ok()
            .content_type("application/json")
            .body(buf),
        // Only a serializer bug gets here: our bodies have no map with non-string keys.
        Err(e) => ApiError::Internal(format!("encoding the response: {e}")).classic_response(),
    }
}

fn classic(result: Result<HttpResponse, ApiError>) -> HttpResponse {
    result.unwrap_or_else(|e| e.classic_response())
}

fn v3(result: Result<HttpResponse, ApiError>) -> HttpResponse {
    result.unwrap_or_else(|e| e.v3_response())
}

async fn services(state: web::Data<QueryState>) -> HttpResponse {
    classic(
        timed(&state, "services", async {
            let list = state.reader.services().await?;
            let n = list.len();
            Ok(json_response(&envelope(json!(list), n, None), false))
        })
        .await,
    )
}

async fn service_operations(state: web::Data<QueryState>, path: web::Path<String>) -> HttpResponse {
    classic(
        timed(&state, "service_operations", async {
            let ops = state.reader.operations(path.into_inner(), None).await?;
            let mut names: Vec<&str> = ops.iter().map(|o| o.name.as_str()).collect();
            names.dedup();
            let n = names.len();
            // Jaeger answers `null` when the service has no operations.
            let data = if names.is_empty() {
                Json::Null
            } else {
                json!(names)
            };
            Ok(json_response(&envelope(data, n, None), false))
        })
        .await,
    )
}

async fn operations(state: web::Data<QueryState>, req: HttpRequest) -> HttpResponse {
    classic(
        timed(&state, "operations", async {
            let (service, span_kind) = parse_operations_params(req.query_string(), false)?;
            let ops = state.reader.operations(service, span_kind).await?;
            let n = ops.len();
            Ok(json_response(
                &envelope(operations_json(&ops), n, None),
                false,
            ))
        })
        .await,
    )
}

async fn search(state: web::Data<QueryState>, req: HttpRequest) -> HttpResponse {
    classic(
        timed(&state, "search", async {
            let search = parse_classic_search(req.query_string(), now_ns())?;
            let raw = search.raw;
            if !search.trace_ids.is_empty() {
                // Multi-ID lookup (the UI's compare view): missing IDs are reported in errors.
                let mut data = Vec::new();
                let mut errors = Vec::new();
                for id in search.trace_ids {
                    match state.reader.trace(id, raw).await? {
                        Some(t) => data.push(t),
                        None => errors.push(trace_not_found_item(&id)),
                    }
                }
                let errors = (!errors.is_empty()).then_some(errors);
                let data: Vec<UiTrace> = data.iter().map(UiTrace::new).collect();
                return Ok(json_response(&envelope(data, 0, errors), pretty(&req)));
            }
            let traces = state.reader.find_traces(search.query, raw).await?;
            let data: Vec<UiTrace> = traces.iter().map(UiTrace::new).collect();
            Ok(json_response(&envelope(data, 0, None), pretty(&req)))
        })
        .await,
    )
}

async fn trace_by_id(
    state: web::Data<QueryState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    classic(
        timed(&state, "trace", async {
            let trace_id = parse_trace_id_path(&path)?;
            let params = parse_classic_get_trace(req.query_string())?;
            let trace = state
                .reader
                .trace(trace_id, params.raw)
                .await?
                .ok_or_else(|| ApiError::NotFound("trace not found".into()))?;
            Ok(json_response(
                &envelope([UiTrace::new(&trace)], 0, None),
                pretty(&req),
            ))
        })
        .await,
    )
}

/// `POST /api/archive/{traceID}`: copies the trace into the archive store. Jaeger answers
/// `{"data":[],…}` on success.
async fn archive(state: web::Data<QueryState>, path: web::Path<String>) -> HttpResponse {
    classic(
        timed(&state, "archive", async {
            let trace_id = parse_trace_id_path(&path)?;
            state.reader.archive(trace_id).await?;
            Ok(json_response(&envelope(json!([]), 0, None), false))
        })
        .await,
    )
}

async fn v3_services(state: web::Data<QueryState>) -> HttpResponse {
    v3(timed(&state, "v3_services", async {
        let list = state.reader.services().await?;
        Ok(json_response(&json!({ "services": list }), false))
    })
    .await)
}

async fn v3_operations(state: web::Data<QueryState>, req: HttpRequest) -> HttpResponse {
    v3(timed(&state, "v3_operations", async {
        let (service, span_kind) = parse_operations_params(req.query_string(), true)?;
        let ops = state.reader.operations(service, span_kind).await?;
        Ok(json_response(&operations_v3_json(&ops), false))
    })
    .await)
}

/// All spans of the traces, in order, as one OTLP `TracesData` JSON document.
fn otlp_result(traces: &[Trace]) -> Json {
    let spans: Vec<Span> = traces
        .iter()
        .flat_map(|t| t.spans.iter().cloned())
        .collect();
    json!({ "result": traces_data_to_json(&from_model(&spans)) })
}

async fn v3_search(state: web::Data<QueryState>, req: HttpRequest) -> HttpResponse {
    v3(timed(&state, "v3_search", async {
        let search = parse_v3_search(req.query_string())?;
        let traces = state.reader.find_traces(search.query, search.raw).await?;
        if traces.is_empty() {
            return Err(ApiError::NotFound("No traces found".into()));
        }
        Ok(json_response(&otlp_result(&traces), false))
    })
    .await)
}

async fn v3_trace_by_id(
    state: web::Data<QueryState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    v3(timed(&state, "v3_trace", async {
        let trace_id = parse_v3_trace_id_path(&path)?;
        let params = parse_v3_get_trace(req.query_string())?;
        let trace = state
            .reader
            .trace(trace_id, params.raw)
            .await?
            .ok_or_else(|| ApiError::NotFound("No traces found".into()))?;
        Ok(json_response(
            &otlp_result(std::slice::from_ref(&trace)),
            false,
        ))
    })
    .await)
}

async fn v3_summaries(state: web::Data<QueryState>, req: HttpRequest) -> HttpResponse {
    v3(timed(&state, "v3_trace_summaries", async {
        let search = parse_v3_search(req.query_string())?;
        let summaries = state.reader.summaries(search.query).await?;
        Ok(json_response(&summaries_json(&summaries), false))
    })
    .await)
}

async fn api_not_found() -> HttpResponse {
    HttpResponse::NotFound()
        .content_type("text/plain; charset=utf-8")
        .body("404 page not found\n")
}
