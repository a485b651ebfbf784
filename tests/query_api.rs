//! The Jaeger query API over real HTTP: search semantics, bad parameters (400 naming the
//! parameter, Jaeger's envelope), base path, UI serving with injection, the admin port.

mod common;

use common::build::{request, span, str_kv};
use common::{now_ns, TestServer};
use serde_json::json;
use tracehound::config::StorageType;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_honours_limit_newest_first_and_tag_forms() {
    let server = TestServer::start(StorageType::Rocksdb);
    let now = now_ns();
    for i in 0..5u64 {
        let mut s = span(
            0x100 + i as u128,
            1,
            "search-op",
            now - (5 - i) * 60_000_000_000,
            1_000,
        );
        s.attributes
            .push(str_kv("color", if i % 2 == 0 { "red" } else { "blue" }));
        server.export(request("search-svc", vec![s])).await;
    }
    let (st, body) = server
        .get_json("/api/traces?service=search-svc&limit=2")
        .await;
    assert_eq!(st, 200, "{body}");
    let ids: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["traceID"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["0000000000000104", "0000000000000103"]);

    for q in ["tag=color:red", "tags=%7B%22color%22%3A%22red%22%7D"] {
        let (st, body) = server
            .get_json(&format!("/api/traces?service=search-svc&{q}&limit=10"))
            .await;
        assert_eq!(st, 200);
        assert_eq!(body["data"].as_array().unwrap().len(), 3, "{q}");
    }
    let (_, body) = server
        .get_json("/api/traces?service=search-svc&tag=color:green")
        .await;
    assert_eq!(body["data"], json!([]));
    // Multi-ID lookup reports the missing one.
    let (st, body) = server.get_json("/api/traces?traceID=104&traceID=fff").await;
    assert_eq!(st, 200);
    assert_eq!(body["data"].as_array().unwrap().len(), 1);
    assert_eq!(body["errors"][0]["msg"], "trace not found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_parameters_get_400_naming_the_parameter() {
    let server = TestServer::start(StorageType::Memory);
    let cases = [
        ("/api/traces", "parameter 'service' is required"),
        ("/api/traces?service=a&limit=abc", "limit"),
        ("/api/traces?service=a&start=yesterday", "start"),
        ("/api/traces?service=a&minDuration=10x", "minDuration"),
        (
            "/api/traces?service=a&tag=nocolon",
            "malformed 'tag' parameter",
        ),
        (
            "/api/traces?service=a&minDuration=2ms&maxDuration=1ms",
            "maxDuration",
        ),
        ("/api/traces/not-hex", "trace"),
        ("/api/operations", "parameter 'service' is required"),
    ];
    for (url, needle) in cases {
        let resp = server.http.get(server.query_url(url)).send().await.unwrap();
        assert_eq!(resp.status(), 400, "{url}");
        let body: serde_json::Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
        let msg = body["errors"][0]["msg"].as_str().unwrap_or("");
        assert!(msg.contains(needle), "{url}: {msg}");
        assert_eq!(body["data"], serde_json::Value::Null);
    }
    let v3_cases = [
        ("/api/v3/traces?query.serviceName=a", "query.start"),
        (
            "/api/v3/trace-summaries?query.serviceName=a&query.startTimeMin=x&query.startTimeMax=2026-01-01T00:00:00Z",
            "query.startTimeMin",
        ),
        ("/api/v3/operations", "service"),
    ];
    for (url, needle) in v3_cases {
        let (st, body) = server.get_json(url).await;
        assert_eq!(st, 400, "{url}");
        let msg = body["error"]["message"].as_str().unwrap_or("");
        assert!(
            msg.to_lowercase().contains(&needle.to_lowercase()),
            "{url}: {body}"
        );
        assert_eq!(body["error"]["httpCode"], 400);
    }
    let resp = server
        .http
        .get(server.query_url("/api/no-such-endpoint"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn base_path_ui_files_and_config_injection() {
    let ui = tempfile::tempdir().unwrap();
    std::fs::create_dir(ui.path().join("static")).unwrap();
    std::fs::write(
        ui.path().join("index.html"),
        "<html><head><base href=\"/\" data-inject-target=\"BASE_URL\"/></head><script>\
         const JAEGER_CONFIG = DEFAULT_CONFIG;\
         const JAEGER_BACKEND_CAPABILITIES = DEFAULT_BACKEND_CAPABILITIES;</script></html>",
    )
    .unwrap();
    std::fs::write(ui.path().join("static/app.js"), "console.log('ui')").unwrap();
    let cfg = ui.path().join("ui-config.json");
    std::fs::write(&cfg, r#"{"dependencies":{"menuEnabled":false}}"#).unwrap();
    let (ui_dir, cfg_path) = (ui.path().to_path_buf(), cfg.clone());
    let server = TestServer::start_with(StorageType::Memory, move |c| {
        c.query.base_path = "/jaeger".into();
        c.query.static_files = Some(ui_dir);
        c.query.ui_config = Some(cfg_path);
    });
    let (st, body) = server.get_json("/jaeger/api/services").await;
    assert_eq!(st, 200);
    assert_eq!(body["data"], json!([]));
    let page = server
        .http
        .get(server.query_url("/jaeger/search"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("<base href=\"/jaeger/\""), "{html}");
    assert!(
        html.contains(r#"{"dependencies":{"menuEnabled":false}}"#),
        "{html}"
    );
    assert!(html.contains("searchWithoutServiceName"), "{html}");
    let js = server
        .http
        .get(server.query_url("/jaeger/static/app.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(js.status(), 200);
    assert_eq!(js.text().await.unwrap(), "console.log('ui')");
    let outside = server
        .http
        .get(server.query_url("/api/services"))
        .send()
        .await
        .unwrap();
    assert_eq!(outside.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_health_and_metrics() {
    let server = TestServer::start(StorageType::Rocksdb);
    let health: serde_json::Value = server
        .http
        .get(server.admin_url("/"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "Server available");
    server
        .export(request(
            "metrics-svc",
            vec![span(0x5, 1, "op", now_ns(), 10)],
        ))
        .await;
    server.get_json("/api/traces/5").await;
    let text = server.metrics_text().await;
    for needle in [
        "tracehound_ingest_spans_received_total{protocol=\"otlp_grpc\"} 1",
        "tracehound_ingest_spans_stored_total{protocol=\"otlp_grpc\"} 1",
        "tracehound_writer_batch_seconds_count 1",
        "tracehound_query_seconds_count{endpoint=\"trace\"} 1",
        "tracehound_ingest_queue_spans 0",
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
}

/// `POST /api/archive/{id}` copies a trace into the archive store, and `/api/traces/{id}` finds
/// it there once the primary store no longer has it. The primary here is a memory store that
/// keeps one trace, so writing a second trace evicts the first, as retention would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archived_traces_outlive_the_primary_store() {
    let server = TestServer::start_with(StorageType::Memory, |c| {
        c.memory.max_traces = 1;
        c.archive_storage.kind = "rocksdb".into();
        c.archive_storage.path = c.rocksdb.path.with_file_name("archive");
    });
    let now = now_ns();
    server
        .export(request(
            "archive-svc",
            vec![span(0xa5c, 1, "keep-me", now, 1_000)],
        ))
        .await;
    let archive = |id: &str| {
        let url = server.query_url(&format!("/api/archive/{id}"));
        let http = server.http.clone();
        async move {
            let resp = http.post(url).send().await.expect("archive request");
            let status = resp.status().as_u16();
            (
                status,
                resp.json::<serde_json::Value>().await.unwrap_or_default(),
            )
        }
    };
    let (st, body) = archive("a5c").await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["data"], json!([]));
    let (st, body) = archive("bad-id").await;
    assert_eq!(st, 400, "{body}");
    let (st, body) = archive("123456").await;
    assert_eq!(st, 404, "{body}");
    assert_eq!(body["errors"][0]["msg"], "trace not found");

    // A newer trace pushes the archived one out of the primary store ...
    server
        .export(request(
            "archive-svc",
            vec![span(0xb00, 1, "newer", now, 1_000)],
        ))
        .await;
    let (_, search) = server
        .get_json("/api/traces?service=archive-svc&limit=10")
        .await;
    assert_eq!(search["data"].as_array().unwrap().len(), 1, "{search}");
    // ... but by ID it still comes back, from the archive.
    let (st, body) = server.get_json("/api/traces/a5c").await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["data"][0]["spans"][0]["operationName"], "keep-me");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archiving_without_an_archive_store_is_jaegers_500() {
    let server = TestServer::start(StorageType::Memory);
    let now = now_ns();
    server
        .export(request(
            "archive-svc",
            vec![span(0xa5d, 1, "op", now, 1_000)],
        ))
        .await;
    let resp = server
        .http
        .post(server.query_url("/api/archive/a5d"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 500);
    let body: serde_json::Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    assert_eq!(
        body["errors"][0]["msg"],
        "archive span storage was not configured"
    );
}
