//! A split deployment on loopback, every part a real `tracehound` process: a collector and a
//! query service on `--span-storage.type=grpc`, both pointed at one `remote-storage` server on
//! RocksDB. OTLP goes in at the collector; the Jaeger HTTP API and the query gRPC APIs come out
//! at the query service. Also: a storage outage is a retryable error for clients, and the
//! collector recovers once the storage server is back.

mod common;

use common::build::{request, span, str_kv};
use common::process::Process;
use common::{eventually, now_ns};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use tracehound::proto::api_v2::query_service_client::QueryServiceClient as V2QueryClient;
use tracehound::proto::api_v3::query_service_client::QueryServiceClient as V3QueryClient;

fn remote_storage(data: &std::path::Path, listen: &str) -> Process {
    Process::start(
        "remote-storage",
        &[listen],
        &[
            format!("--rocksdb.path={}", data.display()),
            "--rocksdb.block-cache-size=16MiB".into(),
            "--rocksdb.write-buffer-size=32MiB".into(),
        ],
    )
}

fn on_remote(storage: &Process) -> Vec<String> {
    vec![
        "--span-storage.type=grpc".into(),
        format!(
            "--grpc-storage.server={}",
            storage.addr("remote-storage-grpc")
        ),
        "--grpc-storage.write-timeout=1s".into(),
        "--grpc-storage.connection-timeout=1s".into(),
    ]
}

async fn export(collector: &Process, req: ExportTraceServiceRequest) -> Result<(), tonic::Status> {
    let mut client = TraceServiceClient::connect(format!("http://{}", collector.addr("otlp-grpc")))
        .await
        .expect("connect to the collector");
    client.export(req).await.map(|_| ())
}

async fn get_json(url: String) -> (u16, serde_json::Value) {
    let resp = reqwest::get(url).await.expect("query request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(serde_json::Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collector_remote_storage_and_query_work_together() {
    let dir = tempfile::tempdir().unwrap();
    let storage = remote_storage(&dir.path().join("data"), "grpc.host-port");
    let collector = Process::start(
        "collector",
        &["collector.otlp.grpc.host-port"],
        &on_remote(&storage),
    );
    let query = Process::start(
        "query",
        &["query.http-server.host-port", "query.grpc-server.host-port"],
        &on_remote(&storage),
    );

    let now = now_ns();
    let mut frontend = span(0x5e1, 1, "GET /checkout", now, 9_000_000);
    frontend.attributes.push(str_kv("http.method", "GET"));
    let mut backend = span(0x5e1, 2, "charge", now + 1_000_000, 5_000_000);
    backend.parent_span_id = 1u64.to_be_bytes().to_vec();
    export(&collector, request("split-frontend", vec![frontend]))
        .await
        .expect("frontend span acknowledged");
    export(&collector, request("split-payments", vec![backend]))
        .await
        .expect("payments span acknowledged");

    // Acknowledged means stored on the remote server: the query service sees it at once.
    let http = query.addr("query-http");
    let (st, body) = get_json(format!("http://{http}/api/traces/5e1")).await;
    assert_eq!(st, 200, "{body}");
    let spans = body["data"][0]["spans"].as_array().expect("spans");
    assert_eq!(spans.len(), 2, "{body}");
    let processes = &body["data"][0]["processes"];
    let mut services: Vec<&str> = processes
        .as_object()
        .unwrap()
        .values()
        .filter_map(|p| p["serviceName"].as_str())
        .collect();
    services.sort();
    assert_eq!(services, ["split-frontend", "split-payments"]);

    // The catalog comes from the remote store (this process ingested nothing itself).
    let (_, services) = get_json(format!("http://{http}/api/services")).await;
    let mut names: Vec<String> = serde_json::from_value(services["data"].clone()).unwrap();
    names.sort();
    assert_eq!(names, ["split-frontend", "split-payments"]);
    let (_, ops) = get_json(format!(
        "http://{http}/api/operations?service=split-payments"
    ))
    .await;
    assert_eq!(ops["data"][0]["name"], "charge", "{ops}");

    // Search by tag through the remote store.
    let (st, found) = get_json(format!(
        "http://{http}/api/traces?service=split-frontend&tags=%7B%22http.method%22%3A%22GET%22%7D&lookback=1h&limit=5"
    ))
    .await;
    assert_eq!(st, 200, "{found}");
    assert_eq!(found["data"][0]["traceID"], "00000000000005e1", "{found}");

    // The query gRPC APIs share the same reader.
    let grpc = format!("http://{}", query.addr("query-grpc"));
    let mut v2 = V2QueryClient::connect(grpc.clone()).await.unwrap();
    let mut stream = v2
        .get_trace(tracehound::proto::api_v2::GetTraceRequest {
            trace_id: 0x5e1u128.to_be_bytes().to_vec(),
            ..Default::default()
        })
        .await
        .expect("api_v2 GetTrace")
        .into_inner();
    let mut n = 0;
    while let Some(chunk) = stream.message().await.unwrap() {
        n += chunk.spans.len();
    }
    assert_eq!(n, 2);
    let mut v3 = V3QueryClient::connect(grpc).await.unwrap();
    let services = v3
        .get_services(tracehound::proto::api_v3::GetServicesRequest {})
        .await
        .unwrap()
        .into_inner()
        .services;
    assert!(
        services.contains(&"split-payments".to_string()),
        "{services:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storage_outage_is_retryable_and_the_collector_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let storage = remote_storage(&data, "grpc.host-port");
    let storage_addr = storage.addr("remote-storage-grpc").to_string();
    let flags = on_remote(&storage);
    let collector = Process::start("collector", &["collector.otlp.grpc.host-port"], &flags);
    let now = now_ns();
    export(
        &collector,
        request("outage-svc", vec![span(0x0a1, 1, "before", now, 1_000)]),
    )
    .await
    .expect("stored while the server is up");

    storage.kill();
    let refused = export(
        &collector,
        request("outage-svc", vec![span(0x0a2, 1, "during", now, 1_000)]),
    )
    .await
    .expect_err("nothing can be stored while the server is down");
    assert!(
        matches!(
            refused.code(),
            tonic::Code::Unavailable | tonic::Code::ResourceExhausted
        ),
        "a storage outage must be a retryable error, got {refused:?}"
    );

    // Back on the same address and data: the collector reconnects on its own.
    let storage = remote_storage(&data, &format!("grpc.host-port={storage_addr}"));
    let stored = eventually(20, || async {
        export(
            &collector,
            request("outage-svc", vec![span(0x0a3, 1, "after", now, 1_000)]),
        )
        .await
        .ok()
    })
    .await;
    assert!(stored.is_some(), "the collector did not recover");

    // What was acknowledged before and after the outage is there.
    let query = Process::start(
        "query",
        &["query.http-server.host-port"],
        &on_remote(&storage),
    );
    for id in ["a1", "a3"] {
        let (st, body) = get_json(format!(
            "http://{}/api/traces/{id}",
            query.addr("query-http")
        ))
        .await;
        assert_eq!(st, 200, "trace {id} lost: {body}");
    }
}
