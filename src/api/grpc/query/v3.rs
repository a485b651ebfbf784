//! `jaeger.api_v3.QueryService`: traces as OTLP `TracesData`, one stream message per trace.
//!
//! Deliberate differences from Jaeger (jaeger-wire.md §c): an unparsable `trace_id` is
//! `INVALID_ARGUMENT` (Go answers `UNKNOWN`), and so is the all-zero ID; an unknown trace is
//! `NOT_FOUND` (as Jaeger's main branch; v2.20 ended the stream empty). Searches need
//! `start_time_min` and `start_time_max`; `search_depth` ≤ 0 means 100.

use tonic::{Request, Response, Status};

use super::{require_dependency_window, QueryGrpc};
use crate::api::grpc::shared::{
    span_kind_filter, stream_of, GrpcStream, SearchParams, TRACE_NOT_FOUND, ZERO_TRACE_ID,
};
use crate::ingest::otlp::from_model;
use crate::model::{TraceId, TraceSummary};
use crate::proto::api_v3::query_service_server::QueryService;
use crate::proto::api_v3::{
    DependenciesResponse, FindTraceSummariesRequest, FindTraceSummariesResponse, FindTracesRequest,
    GetDependenciesRequest, GetOperationsRequest, GetOperationsResponse, GetServicesRequest,
    GetServicesResponse, GetTraceRequest, Operation, ServiceSummary, TraceQueryParameters,
};
use crate::proto::time::timestamp_ns;
use opentelemetry_proto::tonic::trace::v1::TracesData;

/// Jaeger's message when a search has no start-time window.
pub const WINDOW_REQUIRED: &str = "start time min and max are required parameters";

/// An api_v3 search: the window must be there before anything else is looked at.
fn search_params(query: Option<TraceQueryParameters>) -> Result<(SearchParams, bool), Status> {
    let query = query.unwrap_or_default();
    if timestamp_ns(query.start_time_min.as_ref()).is_none()
        || timestamp_ns(query.start_time_max.as_ref()).is_none()
    {
        return Err(Status::invalid_argument(WINDOW_REQUIRED));
    }
    let raw = query.raw_traces;
    Ok((SearchParams::from(query), raw))
}

fn parse_trace_id(hex: &str) -> Result<TraceId, Status> {
    let id = TraceId::parse_hex(hex).map_err(|_| {
        Status::invalid_argument(format!(
            "malformed trace_id {hex:?}: want 1 to 32 hex digits"
        ))
    })?;
    if id.is_zero() {
        return Err(Status::invalid_argument(ZERO_TRACE_ID));
    }
    Ok(id)
}

fn summary_to_proto(s: TraceSummary) -> crate::proto::api_v3::TraceSummary {
    let count = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
    crate::proto::api_v3::TraceSummary {
        trace_id: s.trace_id.to_hex32(),
        root_service_name: s.root_service_name,
        root_operation_name: s.root_operation_name,
        min_start_time_unix_nano: s.min_start_ns,
        max_end_time_unix_nano: s.max_end_ns,
        span_count: count(s.span_count),
        error_span_count: count(s.error_span_count),
        orphan_span_count: count(s.orphan_span_count),
        services: s
            .services
            .into_iter()
            .map(|svc| ServiceSummary {
                name: svc.name,
                span_count: count(svc.span_count),
                error_span_count: count(svc.error_span_count),
            })
            .collect(),
    }
}

#[tonic::async_trait]
impl QueryService for QueryGrpc {
    type GetTraceStream = GrpcStream<TracesData>;
    type FindTracesStream = GrpcStream<TracesData>;
    type FindTraceSummariesStream = GrpcStream<FindTraceSummariesResponse>;

    async fn get_trace(
        &self,
        request: Request<GetTraceRequest>,
    ) -> Result<Response<Self::GetTraceStream>, Status> {
        let req = request.into_inner();
        let trace_id = parse_trace_id(&req.trace_id)?;
        let trace = self
            .reader
            .trace(trace_id, req.raw_traces)
            .await?
            .ok_or_else(|| Status::not_found(TRACE_NOT_FOUND))?;
        Ok(Response::new(stream_of(std::iter::once(from_model(
            &trace.spans,
        )))))
    }

    async fn find_traces(
        &self,
        request: Request<FindTracesRequest>,
    ) -> Result<Response<Self::FindTracesStream>, Status> {
        let (params, raw) = search_params(request.into_inner().query)?;
        let traces = self.reader.find_traces(params.into_query()?, raw).await?;
        // Converted one trace at a time, as the stream is sent.
        Ok(Response::new(stream_of(
            traces.into_iter().map(|t| from_model(&t.spans)),
        )))
    }

    async fn get_services(
        &self,
        _: Request<GetServicesRequest>,
    ) -> Result<Response<GetServicesResponse>, Status> {
        let services = self.reader.services().await?;
        Ok(Response::new(GetServicesResponse { services }))
    }

    /// Operations with Jaeger's kind names; an unspecified kind is "" (the HTTP gateway's
    /// `internal` is a JSON-only convention).
    async fn get_operations(
        &self,
        request: Request<GetOperationsRequest>,
    ) -> Result<Response<GetOperationsResponse>, Status> {
        let req = request.into_inner();
        let kind = span_kind_filter(&req.span_kind)?;
        let ops = self.reader.operations(req.service, kind).await?;
        Ok(Response::new(GetOperationsResponse {
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
    ) -> Result<Response<DependenciesResponse>, Status> {
        let req = request.into_inner();
        require_dependency_window(req.start_time.as_ref(), req.end_time.as_ref())?;
        Ok(Response::new(DependenciesResponse {
            dependencies: Vec::new(),
        }))
    }

    /// All summaries in one message.
    async fn find_trace_summaries(
        &self,
        request: Request<FindTraceSummariesRequest>,
    ) -> Result<Response<Self::FindTraceSummariesStream>, Status> {
        let (params, _) = search_params(request.into_inner().query)?;
        let summaries = self.reader.summaries(params.into_query()?).await?;
        let response = FindTraceSummariesResponse {
            summaries: summaries.into_iter().map(summary_to_proto).collect(),
        };
        Ok(Response::new(stream_of(std::iter::once(response))))
    }
}
