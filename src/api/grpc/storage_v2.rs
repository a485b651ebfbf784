//! Remote storage v2 server (`jaeger.storage.v2`, Jaeger's `:17271`): TraceReader,
//! DependencyReader and Capabilities over the one read path ([`Reader`]), with OTLP
//! `TraceService/Export` on the same port as the write path. Another tracehound (its
//! `storage::grpc::GrpcStore`) or Jaeger's gRPC storage client talks to it.
//!
//! Traces are served raw (no adjusters: the client's query service adjusts them). Every stream
//! message holds spans of one trace; a trace larger than the chunk budget is split into
//! consecutive messages ([`crate::ingest::otlp::chunk`]) that the client merges. Missing trace
//! IDs produce no message (the v2 contract). Dependencies are not computed yet: GetDependencies
//! answers an empty list.

mod params;
#[cfg(test)]
pub(crate) mod test_support;
#[cfg(test)]
mod tests;

use std::pin::Pin;

use futures_util::stream::{self, Stream, StreamExt};
use opentelemetry_proto::tonic::trace::v1::TracesData;
use tonic::codec::CompressionEncoding;
use tonic::transport::server::Router;
use tonic::transport::Server;
use tonic::{Request, Response, Status};
use tonic_health::server::HealthReporter;
use tonic_health::ServingStatus;

use crate::api::grpc::otlp::OtlpGrpc;
use crate::api::ingest::IngestEdge;
use crate::api::reader::Reader;
use crate::ingest::otlp::chunk::split_by_size;
use crate::ingest::otlp::from_model;
use crate::model::Trace;
use crate::proto::storage::v2::capabilities_server::{Capabilities, CapabilitiesServer};
use crate::proto::storage::v2::dependency_reader_server::{
    DependencyReader, DependencyReaderServer,
};
use crate::proto::storage::v2::trace_reader_server::{TraceReader, TraceReaderServer};
use crate::proto::storage::v2::{
    FindTraceIDsRequest, FindTraceIDsResponse, FindTraceSummariesRequest,
    FindTraceSummariesResponse, FindTracesRequest, FoundTraceId, GetCapabilitiesRequest,
    GetCapabilitiesResponse, GetDependenciesRequest, GetDependenciesResponse, GetOperationsRequest,
    GetOperationsResponse, GetServicesRequest, GetServicesResponse, GetTracesRequest, Operation,
    SearchCapabilities, ServiceSummary, TraceSummary,
};

/// Health-checked service names of the v2 API (`.TraceWriter` is the OTLP Export beside them).
pub const HEALTH_SERVICES: [&str; 4] = [
    "jaeger.storage.v2.TraceReader",
    "jaeger.storage.v2.DependencyReader",
    "jaeger.storage.v2.TraceWriter",
    "jaeger.storage.v2.Capabilities",
];

/// Trace summaries per `FindTraceSummaries` stream message.
const SUMMARIES_PER_MESSAGE: usize = 100;

/// Message sizes of the remote-storage port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageV2Limits {
    /// Largest request or response message, in bytes (tonic's encode/decode limits).
    pub max_message_bytes: usize,
    /// A trace is split into messages of at most this many bytes; keep it under
    /// `max_message_bytes` with room for a span (a single span over it travels alone).
    pub trace_chunk_bytes: usize,
}

impl StorageV2Limits {
    /// Chunks of half the message limit: room for one more span of any sane size.
    pub fn for_max_message(max_message_bytes: usize) -> Self {
        StorageV2Limits {
            max_message_bytes,
            trace_chunk_bytes: (max_message_bytes / 2).max(1),
        }
    }
}

/// The v2 read services; one value serves TraceReader, DependencyReader and Capabilities.
#[derive(Clone)]
pub struct StorageV2 {
    reader: Reader,
    trace_chunk_bytes: usize,
}

/// The remote-storage port's router: the v2 API — TraceReader, DependencyReader, Capabilities
/// and the OTLP TraceService (the write path, through `ingest`) — plus gRPC health (SERVING for
/// [`HEALTH_SERVICES`]) and server reflection of every compiled proto (v1's and health's too).
///
/// `server` is the builder to start from (`Server::builder()`, with any server-level settings).
/// Add the v1 services to the returned router and their statuses to the returned health
/// reporter (the port has one health service), and set NOT_SERVING through it at shutdown.
pub async fn storage_v2_router(
    mut server: Server,
    reader: Reader,
    ingest: IngestEdge,
    limits: StorageV2Limits,
) -> Result<(Router, HealthReporter), tonic_reflection::server::Error> {
    let (health, health_service) = tonic_health::server::health_reporter();
    for name in HEALTH_SERVICES {
        health
            .set_service_status(name, ServingStatus::Serving)
            .await;
    }
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;
    let v2 = StorageV2 {
        reader,
        trace_chunk_bytes: limits.trace_chunk_bytes,
    };
    let max = limits.max_message_bytes;
    let router = server
        .add_service(health_service)
        .add_service(reflection)
        .add_service(reflection_alpha)
        .add_service(
            TraceReaderServer::new(v2.clone())
                .max_decoding_message_size(max)
                .max_encoding_message_size(max)
                .accept_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Zstd)
                .send_compressed(CompressionEncoding::Gzip),
        )
        .add_service(DependencyReaderServer::new(v2.clone()))
        .add_service(CapabilitiesServer::new(v2))
        .add_service(OtlpGrpc::server(ingest, max));
    Ok((router, health))
}

type TracesStream = Pin<Box<dyn Stream<Item = Result<TracesData, Status>> + Send>>;

impl StorageV2 {
    /// One trace as its stream messages (one, or several under the chunk budget).
    fn messages(trace: &Trace, budget: usize) -> Vec<Result<TracesData, Status>> {
        split_by_size(from_model(&trace.spans), budget)
            .into_iter()
            .map(Ok)
            .collect()
    }
}

#[tonic::async_trait]
impl TraceReader for StorageV2 {
    type GetTracesStream = TracesStream;
    type FindTracesStream = TracesStream;
    type FindTraceSummariesStream =
        stream::Iter<std::vec::IntoIter<Result<FindTraceSummariesResponse, Status>>>;

    async fn get_traces(
        &self,
        request: Request<GetTracesRequest>,
    ) -> Result<Response<TracesStream>, Status> {
        let ids = params::trace_ids(&request.into_inner().query)?;
        let (reader, budget) = (self.reader.clone(), self.trace_chunk_bytes);
        // One lookup at a time, as the client reads: a long ID list never holds every trace.
        let messages = stream::iter(ids)
            .then(move |id| {
                let reader = reader.clone();
                async move { reader.trace(id, true).await }
            })
            .flat_map(move |found| {
                stream::iter(match found {
                    Ok(Some(trace)) => Self::messages(&trace, budget),
                    Ok(None) => Vec::new(),
                    Err(e) => vec![Err(Status::from(e))],
                })
            });
        Ok(Response::new(Box::pin(messages)))
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
        let kind = params::span_kind(&req.span_kind)?;
        let operations = self
            .reader
            .operations(req.service, kind)
            .await?
            .into_iter()
            .map(|op| Operation {
                name: op.name,
                span_kind: op.span_kind.as_jaeger_str().to_string(),
            })
            .collect();
        Ok(Response::new(GetOperationsResponse { operations }))
    }

    async fn find_traces(
        &self,
        request: Request<FindTracesRequest>,
    ) -> Result<Response<TracesStream>, Status> {
        let query = params::trace_query(request.into_inner().query)?;
        let traces = self.reader.find_traces(query, true).await?;
        let budget = self.trace_chunk_bytes;
        let messages =
            stream::iter(traces).flat_map(move |t| stream::iter(Self::messages(&t, budget)));
        Ok(Response::new(Box::pin(messages)))
    }

    async fn find_trace_i_ds(
        &self,
        request: Request<FindTraceIDsRequest>,
    ) -> Result<Response<FindTraceIDsResponse>, Status> {
        let query = params::trace_query(request.into_inner().query)?;
        let trace_ids = self
            .reader
            .find_trace_ids(query)
            .await?
            .into_iter()
            .map(|id| FoundTraceId {
                trace_id: id.0.to_vec(),
                // The index knows matches, not trace bounds; both are optional hints.
                start: None,
                end: None,
            })
            .collect();
        Ok(Response::new(FindTraceIDsResponse { trace_ids }))
    }

    async fn find_trace_summaries(
        &self,
        request: Request<FindTraceSummariesRequest>,
    ) -> Result<Response<Self::FindTraceSummariesStream>, Status> {
        let query = params::trace_query(request.into_inner().query)?;
        let summaries = self.reader.summaries(query).await?;
        let messages: Vec<_> = summaries
            .chunks(SUMMARIES_PER_MESSAGE)
            .map(|chunk| {
                Ok(FindTraceSummariesResponse {
                    summaries: chunk.iter().map(summary_to_pb).collect(),
                })
            })
            .collect();
        Ok(Response::new(stream::iter(messages)))
    }
}

fn summary_to_pb(s: &crate::model::TraceSummary) -> TraceSummary {
    let count = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
    TraceSummary {
        trace_id: s.trace_id.0.to_vec(),
        root_service_name: s.root_service_name.clone(),
        root_operation_name: s.root_operation_name.clone(),
        min_start_time_unix_nano: s.min_start_ns,
        max_end_time_unix_nano: s.max_end_ns,
        span_count: count(s.span_count),
        error_span_count: count(s.error_span_count),
        orphan_span_count: count(s.orphan_span_count),
        services: s
            .services
            .iter()
            .map(|svc| ServiceSummary {
                name: svc.name.clone(),
                span_count: count(svc.span_count),
                error_span_count: count(svc.error_span_count),
            })
            .collect(),
    }
}

#[tonic::async_trait]
impl DependencyReader for StorageV2 {
    /// Always empty: the service dependency graph is not computed yet.
    async fn get_dependencies(
        &self,
        _: Request<GetDependenciesRequest>,
    ) -> Result<Response<GetDependenciesResponse>, Status> {
        Ok(Response::new(GetDependenciesResponse::default()))
    }
}

#[tonic::async_trait]
impl Capabilities for StorageV2 {
    /// Searches may omit the service, and every condition must hold on one span
    /// ([`crate::model::query::span_matches`]); structured filters are not supported.
    async fn get_capabilities(
        &self,
        _: Request<GetCapabilitiesRequest>,
    ) -> Result<Response<GetCapabilitiesResponse>, Status> {
        Ok(Response::new(GetCapabilitiesResponse {
            search: Some(SearchCapabilities {
                without_service_name: true,
                same_span_conjunction: true,
                filter: None,
            }),
        }))
    }
}
