//! OTLP/HTTP `POST /v1/traces`: protobuf (`application/x-protobuf`) or JSON
//! (`application/json`), optionally gzip/zstd/deflate-compressed.
//!
//! The body is streamed and counted after decompression; past `max-request-body-size` the
//! request is refused with 413 without buffering the rest. Unknown content type → 415,
//! undecodable body → 400 naming the problem; the response mirrors the request's encoding.

use actix_web::{web, HttpRequest, HttpResponse};

use crate::api::error::ApiError;
use crate::api::http::body::{mime_type, read_body, unsupported_content_type};
use crate::api::ingest::IngestEdge;
use crate::ingest::otlp::{decode_export, decode_json, to_model};
use crate::telemetry::Protocol;

pub struct OtlpHttpState {
    pub ingest: IngestEdge,
    pub max_body_bytes: usize,
}

#[derive(Clone, Copy, PartialEq)]
enum Encoding {
    Protobuf,
    Json,
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/traces", web::post().to(export));
}

fn content_encoding(req: &HttpRequest) -> Result<Encoding, ApiError> {
    match mime_type(req).as_str() {
        "application/x-protobuf" | "application/protobuf" => Ok(Encoding::Protobuf),
        "application/json" => Ok(Encoding::Json),
        _ => Err(unsupported_content_type(
            req,
            "application/x-protobuf or application/json",
        )),
    }
}

async fn export(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<OtlpHttpState>,
) -> HttpResponse {
    let encoding = match content_encoding(&req) {
        Ok(e) => e,
        Err(e) => return e.otlp_http_response(false),
    };
    let json = encoding == Encoding::Json;
    match handle(&req, payload, &state, encoding).await {
        Ok(resp) => resp,
        Err(e) => e.otlp_http_response(json),
    }
}

async fn handle(
    req: &HttpRequest,
    payload: web::Payload,
    state: &OtlpHttpState,
    encoding: Encoding,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(req, payload, state.max_body_bytes).await?;
    state.ingest.record_bytes(Protocol::otlp_http, body.len());
    let decoded = match encoding {
        Encoding::Protobuf => decode_export(&body),
        Encoding::Json => decode_json(&body).map(to_model),
    }
    .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let response = state.ingest.submit(decoded, Protocol::otlp_http).await?;
    Ok(match encoding {
        Encoding::Protobuf => {
            use prost::Message;
            HttpResponse::Ok()
                .content_type("application/x-protobuf")
                .body(response.encode_to_vec())
        }
        Encoding::Json => {
            let body = match response.partial_success {
                Some(p) => serde_json::json!({"partialSuccess": {
                    "rejectedSpans": p.rejected_spans.to_string(),
                    "errorMessage": p.error_message,
                }}),
                None => serde_json::json!({}),
            };
            HttpResponse::Ok()
                .content_type("application/json")
                .body(body.to_string())
        }
    })
}
