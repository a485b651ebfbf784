//! Remote storage v1 over real sockets: written through the v1 writers, read back through the
//! v1 reader and the api_v2 / api_v3 query services.

use actix::prelude::*;
use tonic::transport::{Channel, Server};
use tonic::Code;

use super::*;
use crate::actors::ingest::{IngestRefusal, IngestSpans};
use crate::api::grpc::query::QueryGrpc;
use crate::api::test_engine::{serve_grpc, TestEngine};
use crate::ingest::jaeger::test_spans::{rich_spans, span, str_tag, timestamp, START_NS, TRACE};
use crate::model::TraceId;
use crate::proto::api_v2::query_service_client::QueryServiceClient;
use crate::proto::storage::v1::archive_span_reader_plugin_client::ArchiveSpanReaderPluginClient;
use crate::proto::storage::v1::archive_span_writer_plugin_client::ArchiveSpanWriterPluginClient;
use crate::proto::storage::v1::dependencies_reader_plugin_client::DependenciesReaderPluginClient;
use crate::proto::storage::v1::plugin_capabilities_client::PluginCapabilitiesClient;
use crate::proto::storage::v1::span_reader_plugin_client::SpanReaderPluginClient;
use crate::proto::storage::v1::span_writer_plugin_client::SpanWriterPluginClient;
use crate::proto::storage::v1::streaming_span_writer_plugin_client::StreamingSpanWriterPluginClient;
use crate::proto::storage::v1::TraceQueryParameters;
use crate::proto::{api_v2, api_v3};

struct Harness {
    engine: TestEngine,
    channel: Channel,
}

impl Harness {
    async fn start(archive: bool) -> Harness {
        let engine = TestEngine::start(archive);
        let edge = engine.edge.clone();
        Self::serve(engine, edge).await
    }

    /// Serves the v1 services (with `edge` as the write path) and both query services.
    async fn serve(engine: TestEngine, edge: IngestEdge) -> Harness {
        let archive = engine.archive.is_some();
        let router = Server::builder()
            .add_service(QueryGrpc::api_v2_server(engine.reader.clone(), 4 << 20))
            .add_service(QueryGrpc::api_v3_server(engine.reader.clone(), 4 << 20));
        let router =
            StorageV1Grpc::add_services(router, engine.reader.clone(), edge, archive, 4 << 20);
        let addr = serve_grpc(router).await;
        let channel = Channel::from_shared(format!("http://{addr}"))
            .expect("url")
            .connect()
            .await
            .expect("connect");
        Harness { engine, channel }
    }

    fn writer(&self) -> SpanWriterPluginClient<Channel> {
        SpanWriterPluginClient::new(self.channel.clone())
    }

    fn reader(&self) -> SpanReaderPluginClient<Channel> {
        SpanReaderPluginClient::new(self.channel.clone())
    }

    async fn write_each(&self, spans: Vec<api_v2::Span>) {
        let mut w = self.writer();
        for span in spans {
            w.write_span(WriteSpanRequest { span: Some(span) })
                .await
                .expect("written");
        }
    }

    async fn write_stream(&self, spans: Vec<api_v2::Span>) -> Result<(), tonic::Status> {
        let requests = spans
            .into_iter()
            .map(|s| WriteSpanRequest { span: Some(s) });
        StreamingSpanWriterPluginClient::new(self.channel.clone())
            .write_span_stream(tokio_stream::iter(requests))
            .await
            .map(|_| ())
    }
}

fn get(trace: u128) -> GetTraceRequest {
    GetTraceRequest {
        trace_id: trace.to_be_bytes().to_vec(),
        ..Default::default()
    }
}

async fn collect(
    r: Result<tonic::Response<Streaming<SpansResponseChunk>>, Status>,
) -> Result<Vec<Vec<api_v2::Span>>, Status> {
    let mut stream = r?.into_inner();
    let mut chunks = Vec::new();
    while let Some(c) = stream.message().await? {
        chunks.push(c.spans);
    }
    Ok(chunks)
}

fn query(service: &str) -> TraceQueryParameters {
    TraceQueryParameters {
        service_name: service.into(),
        start_time_min: Some(timestamp(START_NS - 1_000_000_000)),
        start_time_max: Some(timestamp(START_NS + 1_000_000_000)),
        ..Default::default()
    }
}

/// `n` spans of trace `trace` (service "svc"), start times after `START_NS + offset`.
fn many(trace: u128, n: u64, offset: u64) -> Vec<api_v2::Span> {
    (1..=n)
        .map(|i| span(trace, i, "svc", "op", START_NS + offset + i))
        .collect()
}

fn trace_of(chunk: &[api_v2::Span]) -> u128 {
    let id = TraceId::from_slice(&chunk[0].trace_id).expect("id");
    assert!(chunk.iter().all(|s| s.trace_id == chunk[0].trace_id));
    id.as_u128()
}

fn assert_status<T: std::fmt::Debug>(r: Result<T, Status>, code: Code, message: &str) {
    let status = r.expect_err("expected an error status");
    assert_eq!((status.code(), status.message()), (code, message));
}

#[actix::test]
async fn written_spans_read_back_unchanged_through_v1_and_both_query_apis() {
    let h = Harness::start(false).await;
    h.write_each(rich_spans()).await;

    let v1 = collect(h.reader().get_trace(get(TRACE)).await).await;
    assert_eq!(v1.expect("v1 trace").concat(), rich_spans());

    let mut v2 = QueryServiceClient::new(h.channel.clone());
    let raw = v2
        .get_trace(api_v2::GetTraceRequest {
            trace_id: TRACE.to_be_bytes().to_vec(),
            raw_traces: true,
            ..Default::default()
        })
        .await;
    let mut stream = raw.expect("v2 trace").into_inner();
    let mut v2_spans = Vec::new();
    while let Some(c) = stream.message().await.expect("chunk") {
        v2_spans.extend(c.spans);
    }
    assert_eq!(v2_spans, rich_spans());

    let mut v3 = api_v3::query_service_client::QueryServiceClient::new(h.channel.clone());
    let mut stream = v3
        .get_trace(api_v3::GetTraceRequest {
            trace_id: format!("{TRACE:x}"),
            ..Default::default()
        })
        .await
        .expect("v3 trace")
        .into_inner();
    let td = stream.message().await.expect("message").expect("one");
    let services: Vec<String> = td
        .resource_spans
        .iter()
        .map(|rs| {
            let attrs = &rs.resource.as_ref().expect("resource").attributes;
            let svc = attrs
                .iter()
                .find(|kv| kv.key == "service.name")
                .expect("svc");
            format!("{:?}", svc.value)
        })
        .collect();
    assert!(
        services.iter().any(|s| s.contains("frontend")),
        "{services:?}"
    );
    assert!(
        services.iter().any(|s| s.contains("backend")),
        "{services:?}"
    );
}

#[actix::test]
async fn span_stream_is_durable_when_answered_and_reads_come_in_chunks_of_1000() {
    let h = Harness::start(false).await;
    let mut spans = many(1, 1500, 0);
    spans.extend(many(2, 700, 10_000));
    spans.extend(many(3, 300, 20_000));
    h.write_stream(spans).await.expect("stream stored");

    let sizes: Vec<usize> = collect(h.reader().get_trace(get(1)).await)
        .await
        .expect("trace")
        .iter()
        .map(Vec::len)
        .collect();
    assert_eq!(sizes, [1000, 500]);

    let found = collect(
        h.reader()
            .find_traces(FindTracesRequest {
                query: Some(query("svc")),
            })
            .await,
    )
    .await
    .expect("found");
    let runs: Vec<(u128, usize)> = found.iter().map(|c| (trace_of(c), c.len())).collect();
    assert!(runs.iter().all(|&(_, n)| n <= CHUNK_SPANS));
    // Back-to-back: once a trace's chunks end it does not come back.
    let mut order: Vec<u128> = runs.iter().map(|&(t, _)| t).collect();
    order.dedup();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(sorted, [1, 2, 3]);
    let total: usize = runs.iter().map(|&(_, n)| n).sum();
    assert_eq!(total, 2500);

    let ids = h
        .reader()
        .find_trace_i_ds(FindTraceIDsRequest {
            query: Some(TraceQueryParameters {
                num_traces: 2,
                ..query("svc")
            }),
        })
        .await
        .expect("ids")
        .into_inner()
        .trace_ids;
    assert_eq!(ids.len(), 2);
    assert!(ids.iter().all(|id| id.len() == 16));
}

#[actix::test]
async fn invalid_spans_are_invalid_argument_with_the_converter_message() {
    let h = Harness::start(false).await;
    let mut bad = span(5, 1, "svc", "op", START_NS);
    bad.trace_id = vec![1, 2, 3];
    let r = h
        .writer()
        .write_span(WriteSpanRequest {
            span: Some(bad.clone()),
        })
        .await;
    assert_status(
        r,
        Code::InvalidArgument,
        "batch.spans[0]: trace_id must be 16 bytes, got 3",
    );

    let mut spans = many(6, 1200, 0);
    spans[1100] = bad;
    let status = h.write_stream(spans).await.expect_err("one bad span");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        status.message(),
        "rejected 1 of 1200 spans (the others were stored): \
         batch.spans[1100]: trace_id must be 16 bytes, got 3"
    );
    let stored = collect(h.reader().get_trace(get(6)).await)
        .await
        .expect("rest");
    assert_eq!(stored.concat().len(), 1199);
}

/// An ingest actor that is always full.
struct Saturated;

impl Actor for Saturated {
    type Context = Context<Self>;
}

impl Handler<IngestSpans> for Saturated {
    type Result = Result<(), IngestRefusal>;
    fn handle(&mut self, _: IngestSpans, _: &mut Context<Self>) -> Self::Result {
        Err(IngestRefusal::Saturated {
            queued: 10,
            capacity: 10,
        })
    }
}

#[actix::test]
async fn saturated_ingest_answers_the_retryable_status() {
    let engine = TestEngine::start(false);
    let edge = IngestEdge {
        ingest: Saturated.start().recipient(),
        metrics: engine.metrics.clone(),
    };
    let h = Harness::serve(engine, edge).await;
    let one = span(5, 1, "svc", "op", START_NS);
    let status = h
        .writer()
        .write_span(WriteSpanRequest {
            span: Some(one.clone()),
        })
        .await
        .expect_err("refused");
    assert_eq!(status.code(), Code::ResourceExhausted);
    let stream = h.write_stream(vec![one]).await.expect_err("refused");
    assert_eq!(stream.code(), Code::ResourceExhausted);
}

#[actix::test]
async fn reader_errors_and_close_follow_jaeger() {
    let h = Harness::start(false).await;
    assert_status(
        collect(h.reader().get_trace(get(77)).await).await,
        Code::NotFound,
        "trace not found",
    );
    let close = h.writer().close(CloseWriterRequest {}).await;
    assert_eq!(close.expect_err("close").code(), Code::Unimplemented);
    let no_window = h
        .reader()
        .find_traces(FindTracesRequest {
            query: Some(TraceQueryParameters {
                start_time_max: None,
                ..query("svc")
            }),
        })
        .await;
    assert_status(
        collect(no_window).await,
        Code::InvalidArgument,
        "query.start_time_max is required",
    );
}

#[actix::test]
async fn catalog_and_dependencies() {
    let h = Harness::start(false).await;
    let kinds = [(1, "a", "server"), (2, "a", "client"), (3, "b", "")];
    let spans = kinds
        .iter()
        .map(|&(id, op, kind)| api_v2::Span {
            tags: (!kind.is_empty())
                .then(|| str_tag("span.kind", kind))
                .into_iter()
                .collect(),
            ..span(9, id, "svc", op, START_NS + id)
        })
        .collect();
    h.write_each(spans).await;
    let services = h.reader().get_services(GetServicesRequest {}).await;
    assert_eq!(services.expect("services").into_inner().services, ["svc"]);
    let ops = |kind: &str| GetOperationsRequest {
        service: "svc".into(),
        span_kind: kind.into(),
    };
    let all = h
        .reader()
        .get_operations(ops(""))
        .await
        .expect("ops")
        .into_inner();
    assert_eq!(all.operation_names, ["a", "b"]);
    assert_eq!(all.operations.len(), 3);
    let client = h
        .reader()
        .get_operations(ops("client"))
        .await
        .expect("ops")
        .into_inner();
    assert_eq!(client.operation_names, ["a"]);
    assert_eq!(client.operations[0].span_kind, "client");

    let deps = DependenciesReaderPluginClient::new(h.channel.clone())
        .get_dependencies(GetDependenciesRequest::default())
        .await;
    assert!(deps.expect("deps").into_inner().dependencies.is_empty());
}

#[actix::test]
async fn archive_plugins_work_with_an_archive_store() {
    let h = Harness::start(true).await;
    let caps = PluginCapabilitiesClient::new(h.channel.clone())
        .capabilities(CapabilitiesRequest {})
        .await
        .expect("caps")
        .into_inner();
    assert_eq!(
        (
            caps.archive_span_reader,
            caps.archive_span_writer,
            caps.streaming_span_writer
        ),
        (true, true, true)
    );
    let mut writer = ArchiveSpanWriterPluginClient::new(h.channel.clone());
    for s in rich_spans() {
        writer
            .write_archive_span(WriteSpanRequest { span: Some(s) })
            .await
            .expect("archived");
    }
    let id = TraceId::from_u128(TRACE);
    assert!(h.engine.store.get_trace(id).expect("primary").is_empty());
    let archived = ArchiveSpanReaderPluginClient::new(h.channel.clone())
        .get_archive_trace(get(TRACE))
        .await;
    assert_eq!(
        collect(archived).await.expect("archived").concat(),
        rich_spans()
    );
    let missing = ArchiveSpanReaderPluginClient::new(h.channel.clone())
        .get_archive_trace(get(99))
        .await;
    assert_status(collect(missing).await, Code::NotFound, "trace not found");
    let mut bad = span(5, 1, "svc", "op", START_NS);
    bad.span_id = vec![0; 8];
    let r = writer
        .write_archive_span(WriteSpanRequest { span: Some(bad) })
        .await;
    assert_status(
        r,
        Code::InvalidArgument,
        "batch.spans[0]: span_id must not be all zeros",
    );
}

#[actix::test]
async fn archive_plugins_are_unimplemented_without_an_archive_store() {
    let h = Harness::start(false).await;
    let caps = PluginCapabilitiesClient::new(h.channel.clone())
        .capabilities(CapabilitiesRequest {})
        .await
        .expect("caps")
        .into_inner();
    assert_eq!(
        (
            caps.archive_span_reader,
            caps.archive_span_writer,
            caps.streaming_span_writer
        ),
        (false, false, true)
    );
    let write = ArchiveSpanWriterPluginClient::new(h.channel.clone())
        .write_archive_span(WriteSpanRequest {
            span: Some(span(5, 1, "svc", "op", START_NS)),
        })
        .await;
    assert_eq!(write.expect_err("no archive").code(), Code::Unimplemented);
    let read = ArchiveSpanReaderPluginClient::new(h.channel.clone())
        .get_archive_trace(get(5))
        .await;
    assert_eq!(
        collect(read).await.expect_err("no archive").code(),
        Code::Unimplemented
    );
}

#[test]
fn health_names_are_the_v1_plugin_services() {
    assert_eq!(
        StorageV1Grpc::health_service_names(),
        [
            "jaeger.storage.v1.SpanReaderPlugin",
            "jaeger.storage.v1.SpanWriterPlugin",
            "jaeger.storage.v1.PluginCapabilities",
            "jaeger.storage.v1.DependenciesReaderPlugin",
            "jaeger.storage.v1.StreamingSpanWriterPlugin",
        ]
    );
}
