//! The v1 fallback: `GrpcStore` against a server that only serves the `jaeger.storage.v1`
//! services (so v2 calls answer UNIMPLEMENTED), over real sockets.
//!
//! Two servers: tracehound's own v1 server (`api::grpc::storage_v1`) over a test engine, and a
//! minimal v1 plugin over a memory store that can leave out the streaming writer.

use std::sync::Arc;

use futures_util::stream::{self, Stream};
use tonic::transport::Server;
use tonic::{Request, Response, Status, Streaming};

use super::tests::{batch, blocking, connect, options, query};
use crate::api::grpc::storage_v2::test_support::{sorted, span};
use crate::api::test_engine::serve_grpc;
use crate::ingest::jaeger::{from_model, to_model};
use crate::model::{Span, SpanBatch, SpanKind, TraceId, TraceQuery};
use crate::proto::api_v2::Batch;
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
use crate::proto::storage::v1::*;
use crate::proto::time::{duration_ns, timestamp_ns};
use crate::storage::memory::MemoryStore;
use crate::storage::TraceStore;

#[derive(Clone)]
struct V1Only {
    store: Arc<MemoryStore>,
    streaming: bool,
}

fn internal(e: crate::storage::StorageError) -> Status {
    Status::internal(e.to_string())
}

impl V1Only {
    fn write(&self, spans: Vec<crate::proto::api_v2::Span>) -> Result<(), Status> {
        let decoded = to_model(Batch {
            spans,
            process: None,
        });
        self.store.write(&decoded.batch).map_err(internal)
    }
}

type Chunks = std::pin::Pin<Box<dyn Stream<Item = Result<SpansResponseChunk, Status>> + Send>>;

fn chunks(traces: Vec<Vec<Span>>) -> Chunks {
    let chunks: Vec<_> = traces
        .iter()
        .map(|spans| {
            Ok(SpansResponseChunk {
                spans: from_model(spans),
            })
        })
        .collect();
    Box::pin(stream::iter(chunks))
}

fn trace_query(q: Option<TraceQueryParameters>) -> TraceQuery {
    let q = q.unwrap_or_default();
    TraceQuery {
        service: Some(q.service_name).filter(|s| !s.is_empty()),
        operation: Some(q.operation_name).filter(|s| !s.is_empty()),
        attributes: q.tags.into_iter().collect(),
        start_min_ns: timestamp_ns(q.start_time_min.as_ref()).unwrap_or(0),
        start_max_ns: timestamp_ns(q.start_time_max.as_ref()).unwrap_or(u64::MAX),
        duration_min_ns: duration_ns(q.duration_min.as_ref()),
        duration_max_ns: duration_ns(q.duration_max.as_ref()),
        limit: q.num_traces.max(1) as usize,
    }
}

#[tonic::async_trait]
impl StreamingSpanWriterPlugin for V1Only {
    async fn write_span_stream(
        &self,
        request: Request<Streaming<WriteSpanRequest>>,
    ) -> Result<Response<WriteSpanResponse>, Status> {
        let mut stream = request.into_inner();
        let mut spans = Vec::new();
        while let Some(r) = stream.message().await? {
            spans.extend(r.span);
        }
        self.write(spans)?;
        Ok(Response::new(WriteSpanResponse {}))
    }
}

#[tonic::async_trait]
impl SpanWriterPlugin for V1Only {
    async fn write_span(
        &self,
        request: Request<WriteSpanRequest>,
    ) -> Result<Response<WriteSpanResponse>, Status> {
        self.write(request.into_inner().span.into_iter().collect())?;
        Ok(Response::new(WriteSpanResponse {}))
    }

    async fn close(
        &self,
        _: Request<CloseWriterRequest>,
    ) -> Result<Response<CloseWriterResponse>, Status> {
        Err(Status::unimplemented("close"))
    }
}

#[tonic::async_trait]
impl PluginCapabilities for V1Only {
    async fn capabilities(
        &self,
        _: Request<CapabilitiesRequest>,
    ) -> Result<Response<CapabilitiesResponse>, Status> {
        Ok(Response::new(CapabilitiesResponse {
            streaming_span_writer: self.streaming,
            ..Default::default()
        }))
    }
}

#[tonic::async_trait]
impl SpanReaderPlugin for V1Only {
    type GetTraceStream = Chunks;
    type FindTracesStream = Chunks;

    async fn get_trace(
        &self,
        request: Request<GetTraceRequest>,
    ) -> Result<Response<Chunks>, Status> {
        let id = TraceId::from_slice(&request.into_inner().trace_id)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let spans = self.store.get_trace(id).map_err(internal)?;
        if spans.is_empty() {
            return Err(Status::not_found("trace not found"));
        }
        Ok(Response::new(chunks(vec![spans])))
    }

    async fn get_services(
        &self,
        _: Request<GetServicesRequest>,
    ) -> Result<Response<GetServicesResponse>, Status> {
        let services = self.store.services().map_err(internal)?;
        Ok(Response::new(GetServicesResponse { services }))
    }

    async fn get_operations(
        &self,
        request: Request<GetOperationsRequest>,
    ) -> Result<Response<GetOperationsResponse>, Status> {
        let r = request.into_inner();
        let kind = SpanKind::from_jaeger_str(&r.span_kind).filter(|_| !r.span_kind.is_empty());
        let ops = self.store.operations(&r.service, kind).map_err(internal)?;
        Ok(Response::new(GetOperationsResponse {
            operation_names: ops.iter().map(|o| o.name.clone()).collect(),
            operations: ops
                .into_iter()
                .map(|o| Operation {
                    name: o.name,
                    span_kind: o.span_kind.as_jaeger_str().into(),
                })
                .collect(),
        }))
    }

    async fn find_traces(
        &self,
        request: Request<FindTracesRequest>,
    ) -> Result<Response<Chunks>, Status> {
        let q = trace_query(request.into_inner().query);
        let traces = self.store.find_traces(&q).map_err(internal)?;
        Ok(Response::new(chunks(
            traces.into_iter().map(|t| t.spans).collect(),
        )))
    }

    async fn find_trace_i_ds(
        &self,
        request: Request<FindTraceIDsRequest>,
    ) -> Result<Response<FindTraceIDsResponse>, Status> {
        let q = trace_query(request.into_inner().query);
        let ids = self.store.find_trace_ids(&q).map_err(internal)?;
        Ok(Response::new(FindTraceIDsResponse {
            trace_ids: ids.iter().map(|id| id.0.to_vec()).collect(),
        }))
    }
}

async fn serve_v1(streaming: bool) -> (Arc<MemoryStore>, std::net::SocketAddr) {
    let store = Arc::new(MemoryStore::new(1000));
    let v1 = V1Only {
        store: store.clone(),
        streaming,
    };
    let router = Server::builder()
        .add_service(SpanReaderPluginServer::new(v1.clone()))
        .add_service(SpanWriterPluginServer::new(v1.clone()))
        .add_service(StreamingSpanWriterPluginServer::new(v1.clone()))
        .add_service(PluginCapabilitiesServer::new(v1));
    (store, serve_grpc(router).await)
}

/// What survives the api_v2 model for these test spans.
fn essence(spans: &[Span]) -> Vec<(u64, String, String, SpanKind)> {
    sorted(spans.to_vec())
        .iter()
        .map(|s| {
            (
                s.span_id.as_u64(),
                s.name.clone(),
                s.service().to_string(),
                s.kind,
            )
        })
        .collect()
}

fn spans() -> Vec<Span> {
    vec![
        span(1, 1, "front", "GET /", SpanKind::Server),
        span(1, 2, "back", "query", SpanKind::Client),
        span(2, 3, "front", "GET /x", SpanKind::Server),
    ]
}

fn count(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[actix_rt::test]
async fn a_v1_only_server_is_detected_once_and_used_for_writes_and_reads() {
    let (server_store, addr) = serve_v1(true).await;
    let store = connect(options(addr));
    let written = spans();
    for part in [&written[..2], &written[2..]] {
        let (s, b) = (store.clone(), batch(part));
        blocking(move || s.write(&b)).await.expect("write");
    }
    assert_eq!(
        essence(
            &server_store
                .get_trace(TraceId::from_u128(1))
                .expect("server")
        ),
        essence(&written[..2])
    );

    let s = store.clone();
    let (one, missing, found, ids, services, ops) = blocking(move || {
        let front = TraceQuery {
            service: Some("front".into()),
            ..query()
        };
        (
            s.get_trace(TraceId::from_u128(1)),
            s.get_trace(TraceId::from_u128(99)),
            s.find_traces(&query()),
            s.find_trace_ids(&front),
            s.services(),
            s.operations("front", Some(SpanKind::Server)),
        )
    })
    .await;
    assert_eq!(essence(&one.expect("get trace")), essence(&written[..2]));
    assert!(missing.expect("missing trace").is_empty());
    let mut found = found.expect("find traces");
    found.sort_by_key(|t| t.trace_id.as_u128());
    assert_eq!(found.len(), 2, "one trace per trace ID");
    assert_eq!(essence(&found[0].spans), essence(&written[..2]));
    let mut ids = ids.expect("find ids");
    ids.sort_by_key(|id| id.as_u128());
    assert_eq!(ids, vec![TraceId::from_u128(1), TraceId::from_u128(2)]);
    assert_eq!(services.expect("services"), vec!["back", "front"]);
    let ops: Vec<_> = ops.expect("ops").into_iter().map(|o| o.name).collect();
    assert_eq!(ops, vec!["GET /", "GET /x"]);

    // v2 was tried once; everything after went to v1 directly.
    let text = store.remote.metrics.encode();
    let series = |api: &str, method: &str, outcome: &str| {
        format!(
            r#"tracehound_remote_storage_requests_total{{api="{api}",method="{method}",outcome="{outcome}"}}"#
        )
    };
    assert_eq!(
        count(&text, &series("v2", "Export", "unimplemented")),
        1,
        "{text}"
    );
    assert_eq!(
        count(&text, &series("v2", "GetTraces", "unimplemented")),
        0,
        "{text}"
    );
    assert_eq!(
        count(&text, &series("v1", "WriteSpanStream", "ok")),
        2,
        "{text}"
    );
}

#[actix_rt::test]
async fn without_the_streaming_writer_spans_are_written_one_by_one() {
    let (server_store, addr) = serve_v1(false).await;
    let store = connect(options(addr));
    let written = spans();
    let (s, b): (_, SpanBatch) = (store.clone(), batch(&written));
    blocking(move || s.write(&b)).await.expect("write");
    let stored = server_store
        .get_trace(TraceId::from_u128(1))
        .expect("server");
    assert_eq!(essence(&stored), essence(&written[..2]));
    let text = store.remote.metrics.encode();
    assert_eq!(
        count(
            &text,
            r#"tracehound_remote_storage_requests_total{api="v1",method="WriteSpan",outcome="ok"}"#
        ),
        3,
        "{text}"
    );
}

#[actix_rt::test]
async fn the_fallback_works_against_tracehounds_own_v1_server() {
    use crate::api::grpc::storage_v1::StorageV1Grpc;
    use crate::api::test_engine::TestEngine;
    let engine = TestEngine::start(false);
    let (_, health) = tonic_health::server::health_reporter();
    let router = StorageV1Grpc::add_services(
        Server::builder().add_service(health),
        engine.reader.clone(),
        engine.edge.clone(),
        false,
        4 << 20,
    );
    let store = connect(options(serve_grpc(router).await));
    let written = spans();
    let (s, b) = (store.clone(), batch(&written));
    blocking(move || s.write(&b)).await.expect("write");

    let s = store.clone();
    let (one, missing, found, services) = blocking(move || {
        (
            s.get_trace(TraceId::from_u128(1)),
            s.get_trace(TraceId::from_u128(99)),
            s.find_traces(&TraceQuery {
                service: Some("back".into()),
                ..query()
            }),
            s.services(),
        )
    })
    .await;
    assert_eq!(essence(&one.expect("get trace")), essence(&written[..2]));
    assert!(missing.expect("missing trace").is_empty());
    let found = found.expect("find traces");
    assert_eq!(found.len(), 1);
    assert_eq!(essence(&found[0].spans), essence(&written[..2]));
    assert_eq!(services.expect("services"), vec!["back", "front"]);
    let text = store.remote.metrics.encode();
    assert_eq!(
        count(
            &text,
            r#"tracehound_remote_storage_requests_total{api="v1",method="WriteSpanStream",outcome="ok"}"#
        ),
        1,
        "{text}"
    );
}
