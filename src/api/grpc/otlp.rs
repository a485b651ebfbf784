//! OTLP/gRPC `opentelemetry.proto.collector.trace.v1.TraceService/Export`.
//!
//! A hand-made tonic service rather than the generated `TraceServiceServer`: the request arrives
//! as raw bytes ([`ExportServerCodec`]) and [`decode_export`] reads them straight into the model,
//! with no protobuf messages in between, and rejects a span with malformed bytes alone. Gzip and
//! zstd request compression are accepted. Replies only after the spans are durable; a saturated
//! engine answers `RESOURCE_EXHAUSTED` with RetryInfo, an undecodable body `INVALID_ARGUMENT`.

use std::convert::Infallible;
use std::task::{Context, Poll};

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use tonic::body::Body;
use tonic::codec::CompressionEncoding;
use tonic::codegen::{http, BoxFuture, Service, StdError};
use tonic::server::{Grpc, NamedService};
use tonic::{Request, Response, Status};

use crate::api::error::{ingest_refusal_status, ApiError};
use crate::api::grpc::raw_codec::ExportServerCodec;
use crate::api::ingest::IngestEdge;
use crate::ingest::otlp::decode_export;
use crate::telemetry::Protocol;

/// The service's one method.
pub const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// The `TraceService` server, to add to a tonic router.
#[derive(Clone)]
pub struct OtlpGrpc {
    ingest: IngestEdge,
    max_message_bytes: usize,
}

impl OtlpGrpc {
    /// The tonic service, with the configured message size limit.
    pub fn server(ingest: IngestEdge, max_message_bytes: usize) -> OtlpGrpc {
        OtlpGrpc {
            ingest,
            max_message_bytes,
        }
    }
}

impl NamedService for OtlpGrpc {
    const NAME: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
}

impl<B> Service<http::Request<B>> for OtlpGrpc
where
    B: tonic::codegen::Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        if req.uri().path() != EXPORT_PATH {
            return Box::pin(async { Ok(Status::unimplemented("").into_http()) });
        }
        let export = Export(self.ingest.clone());
        let mut grpc = Grpc::new(ExportServerCodec::default())
            .max_decoding_message_size(self.max_message_bytes)
            .accept_compressed(CompressionEncoding::Gzip)
            .accept_compressed(CompressionEncoding::Zstd)
            .send_compressed(CompressionEncoding::Gzip);
        Box::pin(async move { Ok(grpc.unary(export, req).await) })
    }
}

/// One export call.
struct Export(IngestEdge);

impl Service<Request<Bytes>> for Export {
    type Response = Response<ExportTraceServiceResponse>;
    type Error = Status;
    type Future = BoxFuture<Self::Response, Status>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Status>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Bytes>) -> Self::Future {
        let ingest = self.0.clone();
        Box::pin(async move {
            let body = request.into_inner();
            ingest.record_bytes(Protocol::otlp_grpc, body.len());
            let decoded = decode_export(&body)
                .map_err(|e| Status::from(ApiError::BadRequest(e.to_string())))?;
            drop(body);
            ingest
                .submit(decoded, Protocol::otlp_grpc)
                .await
                .map(Response::new)
                .map_err(|r| ingest_refusal_status(&r))
        })
    }
}
