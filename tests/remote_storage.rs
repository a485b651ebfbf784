//! The remote-storage server over real sockets, with tonic clients generated from our own
//! protos: what a storage v1 client wrote, a v2 client reads, and the other way round; bad
//! requests get INVALID_ARGUMENT with a message; health and reflection answer.

mod common;

use common::build::{request, span, str_kv};
use common::{now_ns, test_config};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use tonic::transport::Channel;
use tracehound::app::{Role, RunningApp};
use tracehound::config::StorageType;
use tracehound::proto::api_v2;
use tracehound::proto::storage::{v1, v2};

struct Server {
    _dir: tempfile::TempDir,
    app: RunningApp,
}

impl Server {
    fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let config = test_config(StorageType::Rocksdb, dir.path());
        let app =
            RunningApp::spawn_role(Role::RemoteStorage, config).expect("remote-storage starts");
        Server { _dir: dir, app }
    }

    async fn channel(&self) -> Channel {
        let addr = self
            .app
            .addrs
            .storage_grpc
            .expect("remote-storage listener");
        Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .expect("connect")
    }
}

fn window() -> (prost_types::Timestamp, prost_types::Timestamp) {
    let now = now_ns();
    (
        tracehound::proto::time::timestamp(now - 3_600_000_000_000),
        tracehound::proto::time::timestamp(now + 3_600_000_000_000),
    )
}

fn v1_span(trace: u128, id: u64, service: &str, op: &str) -> api_v2::Span {
    let now = now_ns();
    api_v2::Span {
        trace_id: trace.to_be_bytes().to_vec(),
        span_id: id.to_be_bytes().to_vec(),
        operation_name: op.into(),
        start_time: Some(tracehound::proto::time::timestamp(now)),
        duration: Some(tracehound::proto::time::duration(2_000_000)),
        tags: vec![api_v2::KeyValue {
            key: "written.by".into(),
            v_str: "v1".into(),
            ..Default::default()
        }],
        process: Some(api_v2::Process {
            service_name: service.into(),
            tags: vec![],
        }),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_reads_what_v1_wrote_and_v1_reads_what_v2_wrote() {
    let server = Server::start();
    let ch = server.channel().await;
    let mut v1_writer = v1::span_writer_plugin_client::SpanWriterPluginClient::new(ch.clone());
    let mut v1_reader = v1::span_reader_plugin_client::SpanReaderPluginClient::new(ch.clone());
    let mut v2_reader = v2::trace_reader_client::TraceReaderClient::new(ch.clone());
    let mut otlp = TraceServiceClient::new(ch.clone());

    // v1 writes ...
    v1_writer
        .write_span(v1::WriteSpanRequest {
            span: Some(v1_span(0x71, 1, "v1-writer", "v1-op")),
        })
        .await
        .expect("v1 WriteSpan");
    // ... v2 reads: one TracesData message for the trace, in OTLP.
    let mut stream = v2_reader
        .get_traces(v2::GetTracesRequest {
            query: vec![v2::GetTraceParams {
                trace_id: 0x71u128.to_be_bytes().to_vec(),
                ..Default::default()
            }],
        })
        .await
        .expect("v2 GetTraces")
        .into_inner();
    let td = stream.message().await.unwrap().expect("one trace");
    let rs = &td.resource_spans[0];
    let service = rs
        .resource
        .as_ref()
        .unwrap()
        .attributes
        .iter()
        .find(|kv| kv.key == "service.name");
    assert!(format!("{service:?}").contains("v1-writer"), "{td:?}");
    let got = &rs.scope_spans[0].spans[0];
    assert_eq!(got.name, "v1-op");
    assert!(
        got.attributes.iter().any(|kv| kv.key == "written.by"),
        "{got:?}"
    );

    // v2 writes (OTLP Export on the same port) ...
    let now = now_ns();
    let mut s = span(0x72, 1, "v2-op", now, 3_000_000);
    s.attributes.push(str_kv("written.by", "v2"));
    otlp.export(request("v2-writer", vec![s]))
        .await
        .expect("OTLP Export");
    // ... v1 reads it as api_v2 spans with their process.
    let mut chunks = v1_reader
        .get_trace(v1::GetTraceRequest {
            trace_id: 0x72u128.to_be_bytes().to_vec(),
            ..Default::default()
        })
        .await
        .expect("v1 GetTrace")
        .into_inner();
    let chunk = chunks.message().await.unwrap().expect("a chunk");
    assert_eq!(chunk.spans.len(), 1);
    assert_eq!(chunk.spans[0].operation_name, "v2-op");
    assert_eq!(
        chunk.spans[0].process.as_ref().unwrap().service_name,
        "v2-writer"
    );

    // Both generations list both services and find both traces.
    let v1_services = v1_reader
        .get_services(v1::GetServicesRequest {})
        .await
        .unwrap()
        .into_inner()
        .services;
    let v2_services = v2_reader
        .get_services(v2::GetServicesRequest {})
        .await
        .unwrap()
        .into_inner()
        .services;
    for list in [&v1_services, &v2_services] {
        assert!(list.contains(&"v1-writer".to_string()), "{list:?}");
        assert!(list.contains(&"v2-writer".to_string()), "{list:?}");
    }
    let (min, max) = window();
    let ids = v1_reader
        .find_trace_i_ds(v1::FindTraceIDsRequest {
            query: Some(v1::TraceQueryParameters {
                service_name: "v2-writer".into(),
                start_time_min: Some(min),
                start_time_max: Some(max),
                num_traces: 10,
                ..Default::default()
            }),
        })
        .await
        .expect("v1 FindTraceIDs")
        .into_inner()
        .trace_ids;
    assert_eq!(ids, vec![0x72u128.to_be_bytes().to_vec()]);
    let found = v2_reader
        .find_trace_i_ds(v2::FindTraceIDsRequest {
            query: Some(v2::TraceQueryParameters {
                service_name: "v1-writer".into(),
                start_time_min: Some(min),
                start_time_max: Some(max),
                search_depth: 10,
                ..Default::default()
            }),
        })
        .await
        .expect("v2 FindTraceIDs")
        .into_inner()
        .trace_ids;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].trace_id, 0x71u128.to_be_bytes().to_vec());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_invalid_argument_with_a_message() {
    let server = Server::start();
    let ch = server.channel().await;
    let mut v1_writer = v1::span_writer_plugin_client::SpanWriterPluginClient::new(ch.clone());
    let mut bad = v1_span(0x73, 1, "bad", "op");
    bad.trace_id = vec![1, 2, 3];
    let err = v1_writer
        .write_span(v1::WriteSpanRequest { span: Some(bad) })
        .await
        .expect_err("a 3-byte trace ID is refused");
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
    assert!(err.message().contains("trace_id"), "{err:?}");

    let mut v2_reader = v2::trace_reader_client::TraceReaderClient::new(ch.clone());
    let err = v2_reader
        .find_trace_i_ds(v2::FindTraceIDsRequest {
            query: Some(v2::TraceQueryParameters {
                service_name: "x".into(),
                ..Default::default()
            }),
        })
        .await
        .expect_err("a search without a time window is refused");
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
    assert!(err.message().contains("start_time"), "{err:?}");

    let mut v1_reader = v1::span_reader_plugin_client::SpanReaderPluginClient::new(ch);
    let err = match v1_reader
        .get_trace(v1::GetTraceRequest {
            trace_id: 0x9999u128.to_be_bytes().to_vec(),
            ..Default::default()
        })
        .await
    {
        Err(e) => e,
        Ok(resp) => resp
            .into_inner()
            .message()
            .await
            .expect_err("no chunk for an unknown trace"),
    };
    assert_eq!(err.code(), tonic::Code::NotFound);
    assert_eq!(err.message(), "trace not found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_the_storage_services_serving() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::HealthCheckRequest;
    let server = Server::start();
    let mut health = HealthClient::new(server.channel().await);
    for service in [
        "jaeger.storage.v2.TraceReader",
        "jaeger.storage.v2.DependencyReader",
        "jaeger.storage.v1.SpanReaderPlugin",
        "jaeger.storage.v1.SpanWriterPlugin",
    ] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap_or_else(|e| panic!("{service}: {e:?}"))
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{service}");
    }
}

/// `--span-storage.type=memory,grpc`: an all-in-one writes every span to its memory store and
/// to the remote-storage server, and reads from the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_storage_types_write_to_all_and_read_from_the_first() {
    let remote = Server::start();
    let addr = remote.app.addrs.storage_grpc.unwrap();
    let server = common::TestServer::start_with(StorageType::Memory, |c| {
        c.span_storage.types =
            tracehound::config::StorageTypes(vec![StorageType::Memory, StorageType::Grpc]);
        c.grpc_storage.server = addr.to_string();
    });
    let now = now_ns();
    server
        .export(request(
            "fanout-svc",
            vec![span(0xfa, 1, "fan-op", now, 1_000)],
        ))
        .await;
    // The remote server has it ...
    let mut v2_reader = v2::trace_reader_client::TraceReaderClient::new(remote.channel().await);
    let mut stream = v2_reader
        .get_traces(v2::GetTracesRequest {
            query: vec![v2::GetTraceParams {
                trace_id: 0xfau128.to_be_bytes().to_vec(),
                ..Default::default()
            }],
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        stream.message().await.unwrap().is_some(),
        "not written to grpc"
    );
    // ... and so does the first store, which answers the reads: a span written to the remote
    // server alone is not visible through the all-in-one.
    let (st, _) = server.get_json("/api/traces/fa").await;
    assert_eq!(st, 200);
    let mut otlp = TraceServiceClient::new(remote.channel().await);
    otlp.export(request(
        "remote-only",
        vec![span(0xfb, 1, "op", now, 1_000)],
    ))
    .await
    .unwrap();
    let (st, _) = server.get_json("/api/traces/fb").await;
    assert_eq!(st, 404);
}
