//! OTLP/HTTP `POST /v1/traces`: protobuf (`application/x-protobuf`) or JSON
//! (`application/json`), optionally gzip/zstd/deflate-compressed.
//!
//! The body is streamed and counted after decompression; past `max-request-body-size` the
//! request is refused with 413 without buffering the rest. Unknown content type → 415,
//! undecodable body → 400 naming the problem; the response mirrors the request's encoding.

use actix_web::dev::Decompress;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;

use crate::api::error::ApiError;
use crate::api::otlp::OtlpIngest;
use crate::ingest::otlp::{decode_json, decode_protobuf};
use crate::telemetry::{Protocol, ProtocolLabels};

pub struct OtlpHttpState {
    pub ingest: OtlpIngest,
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
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        "application/x-protobuf" | "application/protobuf" => Ok(Encoding::Protobuf),
        "application/json" => Ok(Encoding::Json),
        _ => Err(ApiError::UnsupportedMediaType(format!(
            "unsupported content type {ct:?}: use application/x-protobuf or application/json"
        ))),
    }
}

async fn read_body(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<web::BytesMut, ApiError> {
    let too_large =
        || ApiError::PayloadTooLarge(format!("request body exceeds the limit of {limit} bytes"));
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let compressed = req.headers().contains_key(header::CONTENT_ENCODING);
    if declared.is_some_and(|n| n > limit && !compressed) {
        return Err(too_large());
    }
    let mut stream = Decompress::from_headers(payload.into_inner(), req.headers());
    let mut body = web::BytesMut::with_capacity(declared.unwrap_or(0).min(limit));
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::BadRequest(format!("cannot read request body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
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
    state
        .ingest
        .metrics
        .bytes_received
        .get_or_create(&ProtocolLabels {
            protocol: Protocol::otlp_http,
        })
        .inc_by(body.len() as u64);
    let export = match encoding {
        Encoding::Protobuf => decode_protobuf(&body),
        Encoding::Json => decode_json(&body),
    }
    .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let response = state.ingest.submit(export, Protocol::otlp_http).await?;
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
