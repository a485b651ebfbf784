//! OTLP/gRPC `opentelemetry.proto.collector.trace.v1.TraceService/Export`.
//!
//! Decoding is tonic's (prost); gzip and zstd request compression are accepted. Replies only
//! after the spans are durable; a saturated engine answers `RESOURCE_EXHAUSTED` with RetryInfo.

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use tonic::codec::CompressionEncoding;
use tonic::{Request, Response, Status};

use crate::api::error::ingest_refusal_status;
use crate::api::ingest::IngestEdge;
use crate::telemetry::Protocol;

pub struct OtlpGrpc {
    ingest: IngestEdge,
}

impl OtlpGrpc {
    /// The tonic service, with the configured message size limit.
    pub fn server(ingest: IngestEdge, max_message_bytes: usize) -> TraceServiceServer<OtlpGrpc> {
        TraceServiceServer::new(OtlpGrpc { ingest })
            .max_decoding_message_size(max_message_bytes)
            .accept_compressed(CompressionEncoding::Gzip)
            .accept_compressed(CompressionEncoding::Zstd)
            .send_compressed(CompressionEncoding::Gzip)
    }
}

#[tonic::async_trait]
impl TraceService for OtlpGrpc {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let req = request.into_inner();
        self.ingest
            .record_bytes(Protocol::otlp_grpc, req.encoded_len());
        self.ingest
            .submit(req, Protocol::otlp_grpc)
            .await
            .map(Response::new)
            .map_err(|r| ingest_refusal_status(&r))
    }
}
