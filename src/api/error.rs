//! ApiError: the only place errors become HTTP statuses and gRPC codes.
//!
//! Each front end renders the same error its own way: the classic Jaeger API as its envelope
//! (`{"data":null,…,"errors":[{"code","msg"}]}`, served as text/plain like Go's `http.Error`),
//! api_v3 as `{"error":{"httpCode","message"}}`, OTLP/HTTP as a `google.rpc.Status`, Zipkin as
//! plain text, gRPC as a `tonic::Status`. Internal details are logged where they happen; clients
//! get a safe message.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use thiserror::Error;

use crate::actors::ingest::IngestRefusal;
use crate::api::http::jaeger_json::{error_envelope, v3_error_json};
use crate::storage::StorageError;

/// Seconds a client should wait before retrying a refused write.
pub const RETRY_AFTER_SECS: u64 = 1;

#[derive(Debug, Error, Clone, PartialEq)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Retryable: saturated, storage hiccup, shutting down.
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn base(&self) -> actix_web::HttpResponseBuilder {
        let mut b = HttpResponse::build(self.status());
        if matches!(self, ApiError::Unavailable(_)) {
            b.insert_header((header::RETRY_AFTER, RETRY_AFTER_SECS.to_string()));
        }
        b
    }

    /// The classic `/api/*` error: Jaeger's envelope, written like Go's `http.Error`.
    pub fn classic_response(&self) -> HttpResponse {
        let body = error_envelope(self.status().as_u16(), &self.to_string());
        let text = serde_json::to_string(&body).unwrap_or_default();
        self.text_plain(format!("{text}\n"))
    }

    /// The `/api/v3/*` error shape.
    pub fn v3_response(&self) -> HttpResponse {
        let body = v3_error_json(self.status().as_u16(), &self.to_string());
        self.text_plain(format!("{body}\n"))
    }

    /// A plain-text error (the Zipkin API): the message and a newline.
    pub fn plain_text_response(&self) -> HttpResponse {
        self.text_plain(format!("{self}\n"))
    }

    fn text_plain(&self, body: String) -> HttpResponse {
        self.base()
            .insert_header((
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            ))
            .insert_header((
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ))
            .body(body)
    }

    /// OTLP/HTTP error: a `google.rpc.Status` in the request's encoding.
    pub fn otlp_http_response(&self, json: bool) -> HttpResponse {
        let status = RpcStatus {
            code: self.grpc_code() as i32,
            message: self.to_string(),
        };
        if json {
            let body = serde_json::json!({"code": status.code, "message": status.message});
            self.base()
                .content_type("application/json")
                .body(body.to_string())
        } else {
            use prost::Message;
            self.base()
                .content_type("application/x-protobuf")
                .body(status.encode_to_vec())
        }
    }

    pub fn grpc_code(&self) -> tonic::Code {
        match self {
            ApiError::BadRequest(_) | ApiError::UnsupportedMediaType(_) => {
                tonic::Code::InvalidArgument
            }
            ApiError::NotFound(_) => tonic::Code::NotFound,
            ApiError::PayloadTooLarge(_) => tonic::Code::ResourceExhausted,
            ApiError::Unavailable(_) => tonic::Code::Unavailable,
            ApiError::Internal(_) => tonic::Code::Internal,
        }
    }
}

impl From<ApiError> for tonic::Status {
    fn from(e: ApiError) -> Self {
        tonic::Status::new(e.grpc_code(), e.to_string())
    }
}

/// gRPC status for a refused ingest: saturation is `RESOURCE_EXHAUSTED` with a `RetryInfo`
/// detail (which the OTLP exporters require before they retry it); the rest `UNAVAILABLE`.
pub fn ingest_refusal_status(r: &IngestRefusal) -> tonic::Status {
    use tonic_types::{ErrorDetails, StatusExt};
    match r {
        IngestRefusal::Saturated { .. } => tonic::Status::with_error_details(
            tonic::Code::ResourceExhausted,
            r.to_string(),
            ErrorDetails::with_retry_info(Some(std::time::Duration::from_secs(RETRY_AFTER_SECS))),
        ),
        IngestRefusal::Storage | IngestRefusal::Stopped => {
            tonic::Status::unavailable(r.to_string())
        }
    }
}

impl From<IngestRefusal> for ApiError {
    fn from(r: IngestRefusal) -> Self {
        ApiError::Unavailable(r.to_string())
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::InvalidQuery(msg) => ApiError::BadRequest(msg),
            StorageError::Unavailable(msg) => {
                tracing::warn!(error = %msg, "storage unavailable");
                ApiError::Unavailable("storage unavailable, retry later".into())
            }
            // Jaeger answers a missing archive store with 500 and the store's message.
            StorageError::Unsupported(msg) => ApiError::Internal(msg),
            other => {
                tracing::error!(error = %other, "storage read failed");
                ApiError::Internal("storage read failed".into())
            }
        }
    }
}

impl From<actix::MailboxError> for ApiError {
    fn from(_: actix::MailboxError) -> Self {
        ApiError::Unavailable("server is shutting down".into())
    }
}

/// `google.rpc.Status` without details, for OTLP/HTTP error bodies.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
}
