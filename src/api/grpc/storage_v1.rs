//! Remote storage v1 server (`jaeger.storage.v1`, remote-storage `:17271`): lets a Jaeger v1
//! query or collector (the `grpc` span storage type) use tracehound as its storage.
//!
//! Writes go through the [`IngestEdge`] like every other ingest path and are answered only once
//! durable; reads go through the one [`Reader`] and are raw (the Jaeger query service runs its own
//! adjusters). Behaviour follows jaeger-wire.md §c: an unknown trace is `NOT_FOUND` with the
//! message exactly `trace not found`; span chunks hold at most 1000 spans and traces stream
//! back-to-back; `Close` is `UNIMPLEMENTED`; the archive plugins answer `UNIMPLEMENTED` unless an
//! archive store exists, which `Capabilities` reports. Dependencies are not computed yet.
//! Mount everything with [`StorageV1Grpc::add_services`].

use std::sync::Arc;

use prost::Message;
use tonic::codec::CompressionEncoding;
use tonic::server::NamedService;
use tonic::transport::server::Router;
use tonic::{Request, Response, Status, Streaming};

use super::shared::{
    operation_names, span_kind_filter, stream_of, trace_id_from_bytes, GrpcStream, SearchParams,
    SpanChunks, TRACE_NOT_FOUND,
};
use crate::api::error::ingest_refusal_status;
use crate::api::ingest::IngestEdge;
use crate::api::reader::Reader;
use crate::ingest::jaeger::to_model_offset;
use crate::ingest::{Decoded, MAX_ERROR_MESSAGES};
use crate::model::Trace;
use crate::proto::api_v2::{self, Batch};
use crate::proto::storage::v1::archive_span_reader_plugin_server::{
    ArchiveSpanReaderPlugin, ArchiveSpanReaderPluginServer,
};
use crate::proto::storage::v1::archive_span_writer_plugin_server::{
    ArchiveSpanWriterPlugin, ArchiveSpanWriterPluginServer,
};
use crate::proto::storage::v1::dependencies_reader_plugin_server::{
    DependenciesReaderPlugin, DependenciesReaderPluginServer,
};
use crate::proto::storage::v1::plugin_capabilities_server::{
    PluginCapabilities, PluginCapabilitiesServer,
};
use crate::proto::storage::v1::span_reader_plugin_server::{
    SpanReaderPlugin, SpanReaderPluginServer,
};
use crate::proto::storage::v1::span_writer_plugin_server::{
    SpanWriterPlugin, SpanWriterPluginServer,
};
use crate::proto::storage::v1::streaming_span_writer_plugin_server::{
    StreamingSpanWriterPlugin, StreamingSpanWriterPluginServer,
};
use crate::proto::storage::v1::{
    CapabilitiesRequest, CapabilitiesResponse, CloseWriterRequest, CloseWriterResponse,
    FindTraceIDsRequest, FindTraceIDsResponse, FindTracesRequest, GetDependenciesRequest,
    GetDependenciesResponse, GetOperationsRequest, GetOperationsResponse, GetServicesRequest,
    GetServicesResponse, GetTraceRequest, Operation, SpansResponseChunk, WriteSpanRequest,
    WriteSpanResponse,
};
use crate::telemetry::Protocol;

#[cfg(test)]
mod tests;

/// Spans per `SpansResponseChunk`, as Jaeger's storage plugin server sends them.
pub const CHUNK_SPANS: usize = 1000;
/// A span stream is stored in batches of at most this many spans…
pub const STREAM_BATCH_SPANS: usize = 1000;
/// …and at most about this many encoded bytes.
pub const STREAM_BATCH_BYTES: usize = 4 << 20;

const PROTOCOL: Protocol = Protocol::storage_v1_grpc;

/// Every v1 plugin service over one reader and ingest edge.
pub struct StorageV1Grpc {
    reader: Reader,
    ingest: IngestEdge,
    /// An archive store exists: the archive plugins work and `Capabilities` says so.
    archive: bool,
}

/// One configured tonic server of the v1 services.
macro_rules! server {
    ($server:ident, $inner:expr, $max:expr) => {
        $server::from_arc(Arc::clone($inner))
            .max_decoding_message_size($max)
            .accept_compressed(CompressionEncoding::Gzip)
            .accept_compressed(CompressionEncoding::Zstd)
            .send_compressed(CompressionEncoding::Gzip)
    };
}

impl StorageV1Grpc {
    /// Adds the seven `jaeger.storage.v1` services to `router` (the remote-storage port, beside
    /// the v2 services). `archive`: whether an archive store is configured. `max_message_bytes`
    /// limits each request (one span, or one message of a span stream).
    pub fn add_services<L>(
        router: Router<L>,
        reader: Reader,
        ingest: IngestEdge,
        archive: bool,
        max_message_bytes: usize,
    ) -> Router<L> {
        let inner = Arc::new(StorageV1Grpc {
            reader,
            ingest,
            archive,
        });
        let max = max_message_bytes;
        router
            .add_service(server!(SpanWriterPluginServer, &inner, max))
            .add_service(server!(StreamingSpanWriterPluginServer, &inner, max))
            .add_service(server!(SpanReaderPluginServer, &inner, max))
            .add_service(server!(ArchiveSpanWriterPluginServer, &inner, max))
            .add_service(server!(ArchiveSpanReaderPluginServer, &inner, max))
            .add_service(server!(DependenciesReaderPluginServer, &inner, max))
            .add_service(server!(PluginCapabilitiesServer, &inner, max))
    }

    /// The names Jaeger's plugin server reports health for (jaeger-wire.md §c).
    pub fn health_service_names() -> [&'static str; 5] {
        [
            <SpanReaderPluginServer<StorageV1Grpc> as NamedService>::NAME,
            <SpanWriterPluginServer<StorageV1Grpc> as NamedService>::NAME,
            <PluginCapabilitiesServer<StorageV1Grpc> as NamedService>::NAME,
            <DependenciesReaderPluginServer<StorageV1Grpc> as NamedService>::NAME,
            <StreamingSpanWriterPluginServer<StorageV1Grpc> as NamedService>::NAME,
        ]
    }

    fn require_archive(&self) -> Result<(), Status> {
        if self.archive {
            Ok(())
        } else {
            Err(Status::unimplemented(
                "archive span storage was not configured",
            ))
        }
    }

    /// Converts and stores spans (numbered from `first_index` in rejection messages) and
    /// returns once the valid ones are durable; the result keeps the rejections.
    async fn store(&self, spans: Vec<api_v2::Span>, first_index: usize) -> Result<Decoded, Status> {
        let decoded = to_model_offset(
            Batch {
                spans,
                process: None,
            },
            first_index,
        );
        self.ingest
            .submit_decoded(decoded, PROTOCOL)
            .await
            .map_err(|r| ingest_refusal_status(&r))
    }
}

fn chunk_stream(traces: Vec<Trace>) -> GrpcStream<SpansResponseChunk> {
    stream_of(SpanChunks::new(traces, CHUNK_SPANS).map(|spans| SpansResponseChunk { spans }))
}

#[tonic::async_trait]
impl SpanWriterPlugin for StorageV1Grpc {
    /// One span (with its own process). Invalid → `INVALID_ARGUMENT` naming the problem.
    async fn write_span(
        &self,
        request: Request<WriteSpanRequest>,
    ) -> Result<Response<WriteSpanResponse>, Status> {
        let req = request.into_inner();
        self.ingest.record_bytes(PROTOCOL, req.encoded_len());
        // A missing span is rejected by the converter like any span without IDs.
        let decoded = self.store(vec![req.span.unwrap_or_default()], 0).await?;
        match decoded.rejected_spans {
            0 => Ok(Response::new(WriteSpanResponse {})),
            _ => Err(Status::invalid_argument(decoded.rejection_summary())),
        }
    }

    async fn close(
        &self,
        _: Request<CloseWriterRequest>,
    ) -> Result<Response<CloseWriterResponse>, Status> {
        Err(Status::unimplemented(
            "the span writer has nothing to close",
        ))
    }
}

#[tonic::async_trait]
impl StreamingSpanWriterPlugin for StorageV1Grpc {
    /// Stores the streamed spans in batches (≤ [`STREAM_BATCH_SPANS`] spans, about
    /// [`STREAM_BATCH_BYTES`]) and answers once all are durable. Invalid spans are skipped and
    /// reported at the end as `INVALID_ARGUMENT` (the others are stored; spans are numbered by
    /// their position in the stream). A refused batch ends the call at once with the retryable
    /// status; the batches before it stay stored.
    async fn write_span_stream(
        &self,
        request: Request<Streaming<WriteSpanRequest>>,
    ) -> Result<Response<WriteSpanResponse>, Status> {
        let mut stream = request.into_inner();
        let mut pending: Vec<api_v2::Span> = Vec::new();
        let (mut pending_bytes, mut seen) = (0usize, 0usize);
        let mut rejected = Decoded::default();
        loop {
            let next = stream.message().await?;
            let done = next.is_none();
            if let Some(req) = next {
                pending_bytes += req.encoded_len();
                pending.push(req.span.unwrap_or_default());
            }
            let full = pending.len() >= STREAM_BATCH_SPANS || pending_bytes >= STREAM_BATCH_BYTES;
            if (full || done) && !pending.is_empty() {
                self.ingest.record_bytes(PROTOCOL, pending_bytes);
                let count = pending.len();
                let decoded = self.store(std::mem::take(&mut pending), seen).await?;
                rejected.rejected_spans += decoded.rejected_spans;
                let room = MAX_ERROR_MESSAGES.saturating_sub(rejected.errors.len());
                rejected
                    .errors
                    .extend(decoded.errors.into_iter().take(room));
                seen += count;
                pending_bytes = 0;
            }
            if done {
                break;
            }
        }
        match rejected.rejection_report(seen as u64) {
            Some(report) => Err(Status::invalid_argument(report)),
            None => Ok(Response::new(WriteSpanResponse {})),
        }
    }
}

#[tonic::async_trait]
impl SpanReaderPlugin for StorageV1Grpc {
    type GetTraceStream = GrpcStream<SpansResponseChunk>;
    type FindTracesStream = GrpcStream<SpansResponseChunk>;

    async fn get_trace(
        &self,
        request: Request<GetTraceRequest>,
    ) -> Result<Response<Self::GetTraceStream>, Status> {
        let trace_id = trace_id_from_bytes(&request.into_inner().trace_id)?;
        let trace = self
            .reader
            .trace(trace_id, true)
            .await?
            .ok_or_else(|| Status::not_found(TRACE_NOT_FOUND))?;
        Ok(Response::new(chunk_stream(vec![trace])))
    }

    async fn get_services(
        &self,
        _: Request<GetServicesRequest>,
    ) -> Result<Response<GetServicesResponse>, Status> {
        let services = self.reader.services().await?;
        Ok(Response::new(GetServicesResponse { services }))
    }

    async fn get_operations(
        &self,
        request: Request<GetOperationsRequest>,
    ) -> Result<Response<GetOperationsResponse>, Status> {
        let req = request.into_inner();
        let kind = span_kind_filter(&req.span_kind)?;
        let ops = self.reader.operations(req.service, kind).await?;
        Ok(Response::new(GetOperationsResponse {
            operation_names: operation_names(&ops),
            operations: ops
                .into_iter()
                .map(|op| Operation {
                    span_kind: op.span_kind.as_jaeger_str().to_string(),
                    name: op.name,
                })
                .collect(),
        }))
    }

    async fn find_traces(
        &self,
        request: Request<FindTracesRequest>,
    ) -> Result<Response<Self::FindTracesStream>, Status> {
        let params = request.into_inner().query.unwrap_or_default();
        let query = SearchParams::from(params).into_query()?;
        let traces = self.reader.find_traces(query, true).await?;
        Ok(Response::new(chunk_stream(traces)))
    }

    async fn find_trace_i_ds(
        &self,
        request: Request<FindTraceIDsRequest>,
    ) -> Result<Response<FindTraceIDsResponse>, Status> {
        let params = request.into_inner().query.unwrap_or_default();
        let ids = self
            .reader
            .find_trace_ids(SearchParams::from(params).into_query()?)
            .await?;
        Ok(Response::new(FindTraceIDsResponse {
            trace_ids: ids.iter().map(|id| id.0.to_vec()).collect(),
        }))
    }
}

#[tonic::async_trait]
impl ArchiveSpanWriterPlugin for StorageV1Grpc {
    /// One span straight into the archive store (no ingest pipeline: archiving is a copy).
    async fn write_archive_span(
        &self,
        request: Request<WriteSpanRequest>,
    ) -> Result<Response<WriteSpanResponse>, Status> {
        self.require_archive()?;
        let span = request.into_inner().span.unwrap_or_default();
        let mut decoded = to_model_offset(
            Batch {
                spans: vec![span],
                process: None,
            },
            0,
        );
        if decoded.rejected_spans > 0 {
            return Err(Status::invalid_argument(decoded.rejection_summary()));
        }
        self.reader
            .write_archive(std::mem::take(&mut decoded.batch))
            .await?;
        Ok(Response::new(WriteSpanResponse {}))
    }
}

#[tonic::async_trait]
impl ArchiveSpanReaderPlugin for StorageV1Grpc {
    type GetArchiveTraceStream = GrpcStream<SpansResponseChunk>;

    async fn get_archive_trace(
        &self,
        request: Request<GetTraceRequest>,
    ) -> Result<Response<Self::GetArchiveTraceStream>, Status> {
        self.require_archive()?;
        let trace_id = trace_id_from_bytes(&request.into_inner().trace_id)?;
        let trace = self
            .reader
            .archived_trace(trace_id)
            .await?
            .ok_or_else(|| Status::not_found(TRACE_NOT_FOUND))?;
        Ok(Response::new(chunk_stream(vec![trace])))
    }
}

#[tonic::async_trait]
impl DependenciesReaderPlugin for StorageV1Grpc {
    /// Service dependencies are not computed yet: always an empty list.
    async fn get_dependencies(
        &self,
        _: Request<GetDependenciesRequest>,
    ) -> Result<Response<GetDependenciesResponse>, Status> {
        Ok(Response::new(GetDependenciesResponse {
            dependencies: Vec::new(),
        }))
    }
}

#[tonic::async_trait]
impl PluginCapabilities for StorageV1Grpc {
    async fn capabilities(
        &self,
        _: Request<CapabilitiesRequest>,
    ) -> Result<Response<CapabilitiesResponse>, Status> {
        Ok(Response::new(CapabilitiesResponse {
            archive_span_reader: self.archive,
            archive_span_writer: self.archive,
            streaming_span_writer: true,
        }))
    }
}
