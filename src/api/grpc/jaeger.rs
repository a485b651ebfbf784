//! `jaeger.api_v2.CollectorService/PostSpans` (collector `:14250`): what Jaeger agents and the
//! gRPC senders of Jaeger clients use.
//!
//! The batch goes through the one Jaeger converter (a span's own process wins over the batch's).
//! Replies only once the spans are durable. Saturated ingest → `RESOURCE_EXHAUSTED` with
//! RetryInfo; the protocol has no partial success, so a batch with invalid spans stores the
//! valid ones and then answers `INVALID_ARGUMENT` naming the rejected ones.

use prost::Message;
use tonic::codec::CompressionEncoding;
use tonic::{Request, Response, Status};

use crate::api::error::ingest_refusal_status;
use crate::api::ingest::IngestEdge;
use crate::proto::api_v2::collector_service_server::{CollectorService, CollectorServiceServer};
use crate::proto::api_v2::{PostSpansRequest, PostSpansResponse};
use crate::telemetry::Protocol;

pub struct JaegerGrpc {
    ingest: IngestEdge,
}

impl JaegerGrpc {
    /// The tonic service, with the configured message size limit.
    pub fn server(
        ingest: IngestEdge,
        max_message_bytes: usize,
    ) -> CollectorServiceServer<JaegerGrpc> {
        CollectorServiceServer::new(JaegerGrpc { ingest })
            .max_decoding_message_size(max_message_bytes)
            .accept_compressed(CompressionEncoding::Gzip)
            .accept_compressed(CompressionEncoding::Zstd)
    }
}

#[tonic::async_trait]
impl CollectorService for JaegerGrpc {
    async fn post_spans(
        &self,
        request: Request<PostSpansRequest>,
    ) -> Result<Response<PostSpansResponse>, Status> {
        let req = request.into_inner();
        let protocol = Protocol::jaeger_grpc;
        self.ingest.record_bytes(protocol, req.encoded_len());
        let batch = req.batch.unwrap_or_default();
        let decoded = crate::ingest::jaeger::to_model(batch);
        let total = decoded.batch.len() as u64 + decoded.rejected_spans;
        let decoded = self
            .ingest
            .submit_decoded(decoded, protocol)
            .await
            .map_err(|r| ingest_refusal_status(&r))?;
        match decoded.rejection_report(total) {
            Some(report) => Err(Status::invalid_argument(report)),
            None => Ok(Response::new(PostSpansResponse {})),
        }
    }
}
