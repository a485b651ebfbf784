//! Remote storage v1 calls (`jaeger.storage.v1`), for servers that do not implement v2.
//!
//! Writes go through `StreamingSpanWriterPlugin/WriteSpanStream` (one stream per batch) when
//! the server's `PluginCapabilities` says it has it, else one `SpanWriterPlugin/WriteSpan` per
//! span. v1 has no idempotency or partial success, so a retried batch may store some spans
//! twice (the readers show duplicates the way Jaeger does). Spans travel as `jaeger.api_v2`
//! spans through the one Jaeger converter, each carrying its own process.

use std::time::{Duration, Instant};

use tonic::codec::{CompressionEncoding, Streaming};
use tonic::transport::Channel;
use tonic::{Code, Request, Response, Status};

use super::call::{
    call_error, client_stream_encoded, inner, read, unary_encoded, with_retry, CallError, Encoded,
    Method, MAX_RESPONSE_BYTES, READ_TIMEOUT,
};
use super::{spans_of, Remote};
use crate::ingest::jaeger::{from_model, to_model};
use crate::model::{Operation, Span, SpanKind, Trace, TraceId, TraceQuery};
use crate::proto::api_v2;
use crate::proto::storage::v1::plugin_capabilities_client::PluginCapabilitiesClient;
use crate::proto::storage::v1::span_reader_plugin_client::SpanReaderPluginClient;
use crate::proto::storage::v1::{
    CapabilitiesRequest, FindTraceIDsRequest, FindTracesRequest, GetOperationsRequest,
    GetServicesRequest, GetTraceRequest, SpansResponseChunk, TraceQueryParameters,
    WriteSpanRequest, WriteSpanResponse,
};
use crate::proto::time::{duration, timestamp};
use crate::storage::StorageError;

const API: &str = "v1";
const WRITE_SPAN_PATH: &str = "/jaeger.storage.v1.SpanWriterPlugin/WriteSpan";
const WRITE_SPAN_STREAM_PATH: &str = "/jaeger.storage.v1.StreamingSpanWriterPlugin/WriteSpanStream";

/// Go's reference server ends a GetTrace stream with this message for a missing trace.
const TRACE_NOT_FOUND: &str = "trace not found";

fn method(name: &'static str) -> Method {
    Method { api: API, name }
}

fn reader(channel: &Channel) -> SpanReaderPluginClient<Channel> {
    SpanReaderPluginClient::new(channel.clone())
        .max_decoding_message_size(MAX_RESPONSE_BYTES)
        .accept_compressed(CompressionEncoding::Gzip)
}

fn request<T>(message: T, timeout: Duration) -> Request<T> {
    let mut r = Request::new(message);
    r.set_timeout(timeout);
    r
}

/// One encoded `WriteSpanRequest` per span.
pub(super) fn write_bodies(spans: &[Span]) -> Result<Vec<Encoded>, CallError> {
    Ok(from_model(spans)
        .into_iter()
        .map(|span| Encoded::of(&WriteSpanRequest { span: Some(span) }))
        .collect())
}

/// Does the server have the streaming writer? Asked once, then remembered.
async fn streaming_writer(remote: &Remote, deadline: Instant) -> Result<bool, CallError> {
    use std::sync::atomic::Ordering;
    match remote.v1_streaming.load(Ordering::Relaxed) {
        1 => return Ok(true),
        2 => return Ok(false),
        _ => {}
    }
    let m = method("Capabilities");
    let answer = with_retry(
        &remote.metrics,
        m,
        deadline,
        Some(READ_TIMEOUT),
        |timeout| {
            let mut client = PluginCapabilitiesClient::new(remote.channel.clone());
            async move {
                client
                    .capabilities(request(CapabilitiesRequest {}, timeout))
                    .await
            }
        },
    )
    .await;
    let streaming = match answer {
        Ok(r) => r.into_inner().streaming_span_writer,
        Err(s) if s.code() == Code::Unimplemented => false,
        Err(s) => return Err(call_error(m, s)),
    };
    remote
        .v1_streaming
        .store(if streaming { 1 } else { 2 }, Ordering::Relaxed);
    tracing::info!(server = %remote.server, streaming, "remote storage v1 span writer");
    Ok(streaming)
}

/// Writes every span; Ok once the server acknowledged them all.
pub(super) async fn write(
    remote: &Remote,
    bodies: Vec<Encoded>,
    deadline: Instant,
) -> Result<(), CallError> {
    let channel = &remote.channel;
    if streaming_writer(remote, deadline).await? {
        let m = method("WriteSpanStream");
        with_retry(&remote.metrics, m, deadline, None, |timeout| {
            client_stream_encoded::<WriteSpanResponse>(
                channel,
                WRITE_SPAN_STREAM_PATH,
                bodies.clone(),
                timeout,
            )
        })
        .await
        .map_err(|s| call_error(m, s))?;
        return Ok(());
    }
    let m = method("WriteSpan");
    for body in bodies {
        with_retry(&remote.metrics, m, deadline, None, |timeout| {
            unary_encoded::<WriteSpanResponse>(channel, WRITE_SPAN_PATH, body.clone(), timeout)
        })
        .await
        .map_err(|s| call_error(m, s))?;
    }
    Ok(())
}

/// Reads a chunk stream to its end.
async fn collect(
    response: Response<Streaming<SpansResponseChunk>>,
) -> Result<Vec<api_v2::Span>, Status> {
    let mut stream = response.into_inner();
    let mut out = Vec::new();
    while let Some(chunk) = stream.message().await? {
        out.extend(chunk.spans);
    }
    Ok(out)
}

fn to_spans(spans: Vec<api_v2::Span>, method: &str) -> Vec<Span> {
    let batch = api_v2::Batch {
        spans,
        process: None,
    };
    spans_of(to_model(batch), method)
}

/// Every span of one trace; empty when the server does not have it.
pub(super) async fn get_trace(
    remote: &Remote,
    id: TraceId,
    deadline: Instant,
) -> Result<Vec<Span>, CallError> {
    let m = method("GetTrace");
    let message = GetTraceRequest {
        trace_id: id.0.to_vec(),
        start_time: None,
        end_time: None,
    };
    let spans = read(&remote.metrics, m, deadline, |timeout| {
        let mut client = reader(&remote.channel);
        let message = message.clone();
        async move {
            match collect(client.get_trace(request(message, timeout)).await?).await {
                // The reference server ends the stream of a missing trace with this message
                // (its client matches the code on the call, the message on the stream).
                Err(s) if s.message() == TRACE_NOT_FOUND => Ok(Vec::new()),
                other => other,
            }
        }
    })
    .await?;
    Ok(to_spans(spans, m.name))
}

pub(super) fn query(q: &TraceQuery) -> TraceQueryParameters {
    TraceQueryParameters {
        service_name: q.service.clone().unwrap_or_default(),
        operation_name: q.operation.clone().unwrap_or_default(),
        tags: q.attributes.iter().cloned().collect(),
        start_time_min: Some(timestamp(q.start_min_ns)),
        start_time_max: Some(timestamp(q.start_max_ns)),
        duration_min: q.duration_min_ns.map(duration),
        duration_max: q.duration_max_ns.map(duration),
        num_traces: i32::try_from(q.limit).unwrap_or(i32::MAX),
    }
}

/// Matching traces in the server's order; a new trace starts where the trace ID changes.
pub(super) async fn find_traces(
    remote: &Remote,
    q: TraceQueryParameters,
    deadline: Instant,
) -> Result<Vec<Trace>, CallError> {
    let m = method("FindTraces");
    let message = FindTracesRequest { query: Some(q) };
    let spans = read(&remote.metrics, m, deadline, |timeout| {
        let mut client = reader(&remote.channel);
        let message = message.clone();
        async move { collect(client.find_traces(request(message, timeout)).await?).await }
    })
    .await?;
    let spans = to_spans(spans, m.name);
    Ok(spans
        .chunk_by(|a, b| a.trace_id == b.trace_id)
        .map(|group| Trace {
            trace_id: group[0].trace_id,
            spans: group.to_vec(),
        })
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
        .map(|id| {
            TraceId::from_slice(id).map_err(|e| {
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
    // Old servers fill only the deprecated name list.
    if response.operations.is_empty() {
        return Ok(response
            .operation_names
            .into_iter()
            .map(|name| Operation {
                name,
                span_kind: SpanKind::Unspecified,
            })
            .collect());
    }
    Ok(response
        .operations
        .into_iter()
        .map(|op| Operation {
            span_kind: SpanKind::from_jaeger_str(&op.span_kind).unwrap_or_default(),
            name: op.name,
        })
        .collect())
}
