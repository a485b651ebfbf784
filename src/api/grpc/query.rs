//! The query gRPC services (query `:16685`): `jaeger.api_v2.QueryService` (Jaeger model spans,
//! what Grafana's Jaeger data source and older tools use) here, and `jaeger.api_v3.QueryService`
//! (OTLP) in [`v3`]. Both read through the one [`Reader`], so they answer exactly what the HTTP
//! API answers.
//!
//! api_v2 behaviour follows jaeger-wire.md §c: traces stream as `SpansResponseChunk`s of at most
//! 10 spans, every chunk of a trace before the next trace; an all-zero trace ID is
//! `INVALID_ARGUMENT` (`uninitialized TraceID is not allowed`), an unknown one `NOT_FOUND`
//! (`trace not found`). Spans are converted to api_v2 one chunk at a time, as the stream is
//! sent. Nothing here blocks: reads run on the query actors.

use tonic::codec::CompressionEncoding;
use tonic::{Request, Response, Status};

use super::shared::{
    operation_names, span_kind_filter, stream_of, trace_id_from_bytes, GrpcStream, SearchParams,
    SpanChunks, TRACE_NOT_FOUND,
};
use crate::api::reader::Reader;
use crate::proto::api_v2::query_service_server::{QueryService, QueryServiceServer};
use crate::proto::api_v2::{
    ArchiveTraceRequest, ArchiveTraceResponse, FindTracesRequest, GetDependenciesRequest,
    GetDependenciesResponse, GetOperationsRequest, GetOperationsResponse, GetServicesRequest,
    GetServicesResponse, GetTraceRequest, Operation, SpansResponseChunk,
};
use crate::proto::time::timestamp_ns;

mod v3;

#[cfg(test)]
mod tests;

/// Spans per api_v2 `SpansResponseChunk`, as Jaeger's query service sends them.
pub const API_V2_CHUNK_SPANS: usize = 10;

/// Both query services; they share the reader.
#[derive(Clone)]
pub struct QueryGrpc {
    reader: Reader,
}

impl QueryGrpc {
    /// `jaeger.api_v2.QueryService`, with the configured request size limit.
    pub fn api_v2_server(
        reader: Reader,
        max_message_bytes: usize,
    ) -> QueryServiceServer<QueryGrpc> {
        QueryServiceServer::new(QueryGrpc { reader })
            .max_decoding_message_size(max_message_bytes)
            .accept_compressed(CompressionEncoding::Gzip)
            .accept_compressed(CompressionEncoding::Zstd)
            .send_compressed(CompressionEncoding::Gzip)
    }

    /// `jaeger.api_v3.QueryService`, with the configured request size limit.
    pub fn api_v3_server(
        reader: Reader,
        max_message_bytes: usize,
    ) -> crate::proto::api_v3::query_service_server::QueryServiceServer<QueryGrpc> {
        crate::proto::api_v3::query_service_server::QueryServiceServer::new(QueryGrpc { reader })
            .max_decoding_message_size(max_message_bytes)
            .accept_compressed(CompressionEncoding::Gzip)
            .accept_compressed(CompressionEncoding::Zstd)
            .send_compressed(CompressionEncoding::Gzip)
    }
}

/// Dependencies need a window, as in Jaeger; both front ends check it the same way.
fn require_dependency_window(
    start: Option<&prost_types::Timestamp>,
    end: Option<&prost_types::Timestamp>,
) -> Result<(), Status> {
    if timestamp_ns(start).is_none() || timestamp_ns(end).is_none() {
        return Err(Status::invalid_argument(
            "start_time and end_time are required",
        ));
    }
    Ok(())
}

fn chunk_stream(chunks: SpanChunks) -> GrpcStream<SpansResponseChunk> {
    stream_of(chunks.map(|spans| SpansResponseChunk { spans }))
}

#[tonic::async_trait]
impl QueryService for QueryGrpc {
    type GetTraceStream = GrpcStream<SpansResponseChunk>;
    type FindTracesStream = GrpcStream<SpansResponseChunk>;

    async fn get_trace(
        &self,
        request: Request<GetTraceRequest>,
    ) -> Result<Response<Self::GetTraceStream>, Status> {
        let req = request.into_inner();
        let trace_id = trace_id_from_bytes(&req.trace_id)?;
        // The start/end hints are not needed: the store finds a trace by ID alone.
        let trace = self
            .reader
            .trace(trace_id, req.raw_traces)
            .await?
            .ok_or_else(|| Status::not_found(TRACE_NOT_FOUND))?;
        Ok(Response::new(chunk_stream(SpanChunks::new(
            vec![trace],
            API_V2_CHUNK_SPANS,
        ))))
    }

    async fn archive_trace(
        &self,
        request: Request<ArchiveTraceRequest>,
    ) -> Result<Response<ArchiveTraceResponse>, Status> {
        let trace_id = trace_id_from_bytes(&request.into_inner().trace_id)?;
        self.reader.archive(trace_id).await?;
        Ok(Response::new(ArchiveTraceResponse {}))
    }

    async fn find_traces(
        &self,
        request: Request<FindTracesRequest>,
    ) -> Result<Response<Self::FindTracesStream>, Status> {
        let params = request.into_inner().query.unwrap_or_default();
        let raw = params.raw_traces;
        let query = SearchParams::from(params).into_query()?;
        let traces = self.reader.find_traces(query, raw).await?;
        Ok(Response::new(chunk_stream(SpanChunks::new(
            traces,
            API_V2_CHUNK_SPANS,
        ))))
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

    /// Service dependencies are not computed yet: a valid request gets an empty list.
    async fn get_dependencies(
        &self,
        request: Request<GetDependenciesRequest>,
    ) -> Result<Response<GetDependenciesResponse>, Status> {
        let req = request.into_inner();
        require_dependency_window(req.start_time.as_ref(), req.end_time.as_ref())?;
        Ok(Response::new(GetDependenciesResponse {
            dependencies: Vec::new(),
        }))
    }
}
