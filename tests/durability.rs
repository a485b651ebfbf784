//! Nothing acknowledged is lost: across a clean restart, across kill -9 of the real binary,
//! and retention removes only what it should (expired partitions, the disk cap's oldest).

mod common;

use std::time::Duration;

use common::build::{request, span, str_kv};
use common::process::Process;
use common::{eventually, now_ns, TestServer};
use tracehound::config::{ByteSize, GoDuration, StorageType};

const DAY_NS: u64 = 86_400_000_000_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_and_catalog_survive_a_clean_restart() {
    let server = TestServer::start(StorageType::Rocksdb);
    let now = now_ns();
    server
        .export(request(
            "restart-svc",
            vec![span(0xabc, 1, "op-a", now, 5_000)],
        ))
        .await;
    let server = server.restart();
    let (st, body) = server.get_json("/api/traces/abc").await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["data"][0]["spans"][0]["operationName"], "op-a");
    let (_, services) = server.get_json("/api/services").await;
    assert_eq!(services["data"], serde_json::json!(["restart-svc"]));
    let (_, ops) = server.get_json("/api/operations?service=restart-svc").await;
    assert_eq!(ops["data"][0]["name"], "op-a");
}

/// Starts the real binary and returns it with its OTLP gRPC and query addresses.
fn start_binary(data: &std::path::Path) -> (Process, String, String) {
    let p = Process::start(
        "all-in-one",
        &[
            "collector.otlp.grpc.host-port",
            "query.http-server.host-port",
        ],
        &[format!("--rocksdb.path={}", data.display())],
    );
    let (grpc, query) = (
        p.addr("otlp-grpc").to_string(),
        p.addr("query-http").to_string(),
    );
    (p, grpc, query)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_right_after_acknowledgement_loses_nothing() {
    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (child, grpc, _) = start_binary(&data);
    let mut client = TraceServiceClient::connect(format!("http://{grpc}"))
        .await
        .expect("connect");
    let now = now_ns();
    let batches = 40u64;
    for b in 0..batches {
        // A tag unique to the batch: its postings are only in the open segment (in memory)
        // when the process dies, so only the write-log replay can make it searchable again.
        let spans = (0..25u64)
            .map(|i| {
                let mut s = span(0x5000 + b as u128, i + 1, "crash-op", now + i * 1000, 1000);
                s.attributes.push(str_kv("batch", &b.to_string()));
                s
            })
            .collect();
        client
            .export(request("crash-svc", spans))
            .await
            .expect("acknowledged");
    }
    // SIGKILL immediately after the last acknowledgement: no flush, no shutdown.
    child.kill();

    let (child, _, query) = start_binary(&data);
    let http = reqwest::Client::new();
    // Failures are collected and asserted after the kill: a panic must not leave the server up.
    let mut lost = Vec::new();
    for b in 0..batches {
        let url = format!("http://{query}/api/traces/{:x}?raw=true", 0x5000 + b);
        let body: serde_json::Value = http.get(&url).send().await.unwrap().json().await.unwrap();
        let spans = body["data"][0]["spans"]
            .as_array()
            .map(Vec::len)
            .unwrap_or(0);
        if spans != 25 {
            lost.push(format!("trace {b} lost spans after kill -9: {body}"));
        }
    }
    for b in 0..batches {
        let url = format!("http://{query}/api/traces?service=crash-svc&tag=batch:{b}&limit=10");
        let body: serde_json::Value = http.get(&url).send().await.unwrap().json().await.unwrap();
        let ids: Vec<u128> = body["data"]
            .as_array()
            .map(|traces| {
                traces
                    .iter()
                    .filter_map(|t| t["traceID"].as_str())
                    .filter_map(|id| u128::from_str_radix(id, 16).ok())
                    .collect()
            })
            .unwrap_or_default();
        if ids != vec![0x5000 + b as u128] {
            lost.push(format!("tag search lost batch {b} after kill -9: {body}"));
        }
    }
    child.kill();
    assert!(lost.is_empty(), "{}", lost.join("\n"));
}

async fn trace_status(server: &TestServer, id: u128) -> u16 {
    server.get_json(&format!("/api/traces/{id:x}")).await.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_drops_expired_partitions_only() {
    let server = TestServer::start_with(StorageType::Rocksdb, |c| {
        c.rocksdb.span_store_ttl = GoDuration::from_secs(36 * 3600);
        c.rocksdb.retention_interval = GoDuration(200_000_000);
    });
    let now = now_ns();
    server
        .export(request(
            "ret",
            vec![span(0x01, 1, "old", now - 4 * DAY_NS, 1000)],
        ))
        .await;
    server
        .export(request("ret", vec![span(0x02, 1, "new", now, 1000)]))
        .await;
    let gone = eventually(20, || async {
        (trace_status(&server, 0x01).await == 404).then_some(())
    })
    .await;
    assert!(gone.is_some(), "expired trace still served");
    assert_eq!(trace_status(&server, 0x02).await, 200);
    let metrics = server.metrics_text().await;
    assert!(
        metrics.contains("tracehound_retention_dropped_partitions_total 1"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_cap_evicts_the_oldest_partitions_first() {
    let server = TestServer::start_with(StorageType::Rocksdb, |c| {
        c.rocksdb.max_disk_size = Some(ByteSize(1));
        c.rocksdb.retention_interval = GoDuration(200_000_000);
    });
    let now = now_ns();
    for (id, age_days) in [(0x11u128, 2u64), (0x12, 1), (0x13, 0)] {
        server
            .export(request(
                "cap",
                vec![span(id, 1, "op", now - age_days * DAY_NS, 1000)],
            ))
            .await;
    }
    let evicted = eventually(20, || async {
        (trace_status(&server, 0x11).await == 404 && trace_status(&server, 0x12).await == 404)
            .then_some(())
    })
    .await;
    assert!(evicted.is_some(), "older partitions were not evicted");
    // The newest partition is never evicted, even over the cap.
    assert_eq!(trace_status(&server, 0x13).await, 200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(trace_status(&server, 0x13).await, 200);
}
