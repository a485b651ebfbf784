//! Request bodies of the HTTP ingest edges (OTLP/HTTP, Zipkin): the content type, and the body
//! streamed, decompressed (gzip/zstd/deflate per `Content-Encoding`) and counted.
//!
//! Past the limit the request is refused with 413 without buffering the rest: a declared
//! `Content-Length` above it is refused before reading, and a compressed body is counted after
//! decompression, chunk by chunk.

use actix_web::dev::Decompress;
use actix_web::http::header;
use actix_web::{web, HttpRequest};
use futures_util::StreamExt;

use crate::api::error::ApiError;

/// The media type of the request, lowercased, without parameters ("" when absent).
pub fn mime_type(req: &HttpRequest) -> String {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// 415 naming the content type received and the accepted ones.
pub fn unsupported_content_type(req: &HttpRequest, accepted: &str) -> ApiError {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    ApiError::UnsupportedMediaType(format!("unsupported content type {ct:?}: use {accepted}"))
}

/// Reads the whole (decompressed) body, refusing it with 413 beyond `limit` bytes.
pub async fn read_body(
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
