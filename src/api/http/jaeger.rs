//! Jaeger Thrift over HTTP (collector `:14268`): `POST /api/traces` with one `jaeger.Batch`
//! serialized with TBinaryProtocol and no message envelope (what Jaeger clients' HTTP senders
//! post). `application/x-thrift` and `application/vnd.apache.thrift.binary` are Jaeger's content
//! types; `application/vnd.apache.thrift.compact` (TCompactProtocol) is accepted as well.
//! Bodies may be gzip/zstd/deflate encoded and chunked.
//!
//! Answers like Jaeger's collector: **202 Accepted** with an empty body once the spans are
//! durable; 400 `Unsupported content type: …` / `Cannot parse content type: …` / `Unable to
//! process request body: …` as plain text. Jaeger has no partial success here, so a batch with
//! invalid spans stores the valid ones and then answers 400 naming the rejected ones. Saturated
//! ingest → 503 with Retry-After; a body over the limit → 413.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};

use crate::api::error::ApiError;
use crate::api::http::body::{mime_type, read_body};
use crate::api::ingest::IngestEdge;
use crate::ingest::jaeger::thrift::{decode_batch, ThriftProtocol};
use crate::telemetry::Protocol;

pub struct JaegerHttpState {
    pub ingest: IngestEdge,
    pub max_body_bytes: usize,
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/traces", web::post().to(post_traces));
}

/// The Thrift protocol of the body, from its content type (Jaeger's messages).
fn thrift_protocol(req: &HttpRequest) -> Result<ThriftProtocol, ApiError> {
    let raw = req
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    match mime_type(req).as_str() {
        "application/x-thrift" | "application/vnd.apache.thrift.binary" => {
            Ok(ThriftProtocol::Binary)
        }
        "application/vnd.apache.thrift.compact" => Ok(ThriftProtocol::Compact),
        "" => Err(ApiError::BadRequest(format!(
            "Cannot parse content type: no media type in {raw:?}"
        ))),
        _ => Err(ApiError::BadRequest(format!(
            "Unsupported content type: {raw}"
        ))),
    }
}

async fn post_traces(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<JaegerHttpState>,
) -> HttpResponse {
    match handle(&req, payload, &state).await {
        Ok(()) => HttpResponse::build(StatusCode::ACCEPTED).finish(),
        Err(e) => e.plain_text_response(),
    }
}

async fn handle(
    req: &HttpRequest,
    payload: web::Payload,
    state: &JaegerHttpState,
) -> Result<(), ApiError> {
    let protocol = thrift_protocol(req)?;
    let body = read_body(req, payload, state.max_body_bytes).await?;
    state
        .ingest
        .record_bytes(Protocol::jaeger_thrift_http, body.len());
    let batch = decode_batch(protocol, &body)
        .map_err(|e| ApiError::BadRequest(format!("Unable to process request body: {e}")))?;
    state
        .ingest
        .submit_or_report_rejects(
            crate::ingest::jaeger::to_model(batch),
            Protocol::jaeger_thrift_http,
        )
        .await
}
