//! Remote storage v2 calls: OTLP `Export` to write, `jaeger.storage.v2.TraceReader` to read.
//!
//! Stream messages each hold spans of one trace, and consecutive messages of the same trace
//! are merged ([`crate::ingest::otlp::chunk`]). Spans come back through the one OTLP converter.

use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, TracesData};
use tonic::codec::{CompressionEncoding, Streaming};
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

use super::call::{call_error, inner, read, unary_encoded, with_retry, CallError, Encoded, Method};
use super::{spans_of, Remote};
use crate::ingest::otlp::chunk::trace_id_of;
use crate::ingest::otlp::{export_request, to_model};
use crate::model::{Operation, Span, SpanKind, Trace, TraceId, TraceQuery};
use crate::proto::storage::v2::trace_reader_client::TraceReaderClient;
use crate::proto::storage::v2::{
    any_value, AnyValue, FindTraceIDsRequest, FindTracesRequest, GetOperationsRequest,
    GetServicesRequest, GetTraceParams, GetTracesRequest, KeyValue, TraceQueryParameters,
};
use crate::proto::time::{duration, timestamp};
use crate::storage::StorageError;

const API: &str = "v2";
const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

fn method(name: &'static str) -> Method {
    Method { api: API, name }
}

fn reader(channel: &Channel) -> TraceReaderClient<Channel> {
    TraceReaderClient::new(channel.clone())
        .max_decoding_message_size(super::call::MAX_RESPONSE_BYTES)
        .accept_compressed(CompressionEncoding::Gzip)
}

fn request<T>(message: T, timeout: Duration) -> Request<T> {
    let mut r = Request::new(message);
    r.set_timeout(timeout);
    r
}

/// The Export request of a batch, encoded once for every attempt.
pub(super) fn export_body(spans: &[Span]) -> Encoded {
    Encoded::of(&export_request(spans))
}

/// Exports one batch; Ok once the server acknowledged every span.
pub(super) async fn write(
    remote: &Remote,
    body: Encoded,
    deadline: Instant,
) -> Result<(), CallError> {
    let m = method("Export");
    let channel = &remote.channel;
    let response: ExportTraceServiceResponse =
        with_retry(&remote.metrics, m, deadline, None, |timeout| {
            unary_encoded(channel, EXPORT_PATH, body.clone(), timeout)
        })
        .await
        .map_err(|s| call_error(m, s))?;
    match response.partial_success {
        Some(p) if p.rejected_spans > 0 => Err(CallError::Failed(StorageError::Remote(format!(
            "Export: the server rejected {} spans: {}",
            p.rejected_spans, p.error_message
        )))),
        _ => Ok(()),
    }
}

/// Reads a stream of TracesData to its end.
async fn collect(response: Response<Streaming<TracesData>>) -> Result<Vec<TracesData>, Status> {
    let mut stream = response.into_inner();
    let mut out = Vec::new();
    while let Some(message) = stream.message().await? {
        out.push(message);
    }
    Ok(out)
}

fn to_spans(resource_spans: Vec<ResourceSpans>, method: &str) -> Vec<Span> {
    spans_of(
        to_model(ExportTraceServiceRequest { resource_spans }),
        method,
    )
}

/// Every span of one trace; empty when the server does not have it.
pub(super) async fn get_trace(
    remote: &Remote,
    id: TraceId,
    deadline: Instant,
) -> Result<Vec<Span>, CallError> {
    let m = method("GetTraces");
    let message = GetTracesRequest {
        query: vec![GetTraceParams {
            trace_id: id.0.to_vec(),
            start_time: None,
            end_time: None,
        }],
    };
    // The v2 contract for a missing trace is "no message"; NOT_FOUND is read the same way.
    let messages = read(&remote.metrics, m, deadline, |timeout| {
        let mut client = reader(&remote.channel);
        let message = message.clone();
        async move { collect(client.get_traces(request(message, timeout)).await?).await }
    })
    .await?;
    let resource_spans = messages
        .into_iter()
        .filter(|d| trace_id_of(d) == Some(id))
        .flat_map(|d| d.resource_spans)
        .collect();
    Ok(to_spans(resource_spans, m.name))
}

/// The query as v2 parameters. Attributes travel as strings: the server compares string forms.
pub(super) fn query(q: &TraceQuery) -> TraceQueryParameters {
    TraceQueryParameters {
        service_name: q.service.clone().unwrap_or_default(),
        operation_name: q.operation.clone().unwrap_or_default(),
        attributes: q
            .attributes
            .iter()
            .map(|(k, v)| KeyValue {
                key: k.clone(),
                value: Some(AnyValue {
                    value: Some(any_value::Value::StringValue(v.clone())),
                }),
            })
            .collect(),
        start_time_min: Some(timestamp(q.start_min_ns)),
        start_time_max: Some(timestamp(q.start_max_ns)),
        duration_min: q.duration_min_ns.map(duration),
        duration_max: q.duration_max_ns.map(duration),
        search_depth: i32::try_from(q.limit).unwrap_or(i32::MAX),
    }
}

/// Matching traces, whole, in the server's order; consecutive messages of a trace merged.
pub(super) async fn find_traces(
    remote: &Remote,
    q: TraceQueryParameters,
    deadline: Instant,
) -> Result<Vec<Trace>, CallError> {
    let m = method("FindTraces");
    let message = FindTracesRequest { query: Some(q) };
    let messages = read(&remote.metrics, m, deadline, |timeout| {
        let mut client = reader(&remote.channel);
        let message = message.clone();
        async move { collect(client.find_traces(request(message, timeout)).await?).await }
    })
    .await?;
    let mut groups: Vec<(TraceId, Vec<ResourceSpans>)> = Vec::new();
    for data in messages {
        let Some(id) = trace_id_of(&data) else {
            continue;
        };
        match groups.last_mut() {
            Some((last, parts)) if *last == id => parts.extend(data.resource_spans),
            _ => groups.push((id, data.resource_spans)),
        }
    }
    Ok(groups
        .into_iter()
        .map(|(trace_id, parts)| Trace {
            trace_id,
            spans: to_spans(parts, m.name),
        })
        .filter(|t| !t.spans.is_empty())
        .collect())
}

pub(super) async fn find_trace_ids(
    remote: &Remote,
    q: TraceQueryParameters,
    deadline: Instant,
) -> Result<Vec<TraceId>, CallError> {
    let m = method("FindTraceIDs");
    let message = FindTraceIDsRequest { query: Some(q) };
    let response = read(&remote.metrics, m, deadline, |timeout| {
        let mut client = reader(&remote.channel);
        let message = message.clone();
        async move { inner(client.find_trace_i_ds(request(message, timeout)).await) }
    })
    .await?;
    response
        .trace_ids
        .iter()
        .map(|found| {
            TraceId::from_slice(&found.trace_id).map_err(|e| {
                CallError::Failed(StorageError::Remote(format!(
                    "FindTraceIDs: bad trace ID from the server: {e}"
                )))
            })
        })
        .collect()
}

pub(super) async fn services(remote: &Remote, deadline: Instant) -> Result<Vec<String>, CallError> {
    let m = method("GetServices");
    let response = read(&remote.metrics, m, deadline, |timeout| {
        let mut client = reader(&remote.channel);
        async move {
            inner(
                client
                    .get_services(request(GetServicesRequest {}, timeout))
                    .await,
            )
        }
    })
    .await?;
    Ok(response.services)
}

pub(super) async fn operations(
    remote: &Remote,
    service: String,
    span_kind: &'static str,
    deadline: Instant,
) -> Result<Vec<Operation>, CallError> {
    let m = method("GetOperations");
    let message = GetOperationsRequest {
        service,
        span_kind: span_kind.to_string(),
    };
    let response = read(&remote.metrics, m, deadline, |timeout| {
        let mut client = reader(&remote.channel);
        let message = message.clone();
        async move { inner(client.get_operations(request(message, timeout)).await) }
    })
    .await?;
    Ok(response
        .operations
        .into_iter()
        .map(|op| Operation {
            span_kind: SpanKind::from_jaeger_str(&op.span_kind).unwrap_or_default(),
            name: op.name,
        })
        .collect())
}
