//! Zipkin ingest end to end: the OpenTelemetry Rust Zipkin exporter, raw v2 JSON, v2 proto, v1
//! JSON and v1 Thrift bodies read back through the Jaeger query API, and bad input (garbage per
//! content type, unknown content type, oversized bodies, a bad span next to a good one).

mod common;

use std::io::Write;

use common::ui::{service_of, span_named, tag, trace};
use common::{eventually, now_ns, TestServer};
use opentelemetry::trace::{Span as _, SpanKind, Status, Tracer, TracerProvider as _};
use opentelemetry::KeyValue;
use prost::Message;
use serde_json::{json, Value as Json};
use thrift::protocol::{
    TBinaryOutputProtocol, TFieldIdentifier, TListIdentifier, TOutputProtocol, TStructIdentifier,
    TType,
};
use tracehound::config::{ByteSize, StorageType};
use tracehound::ingest::zipkin::v2_proto::{ListOfSpans, PbAnnotation, PbEndpoint, PbSpan};
use tracehound::ingest::zipkin::NO_SERVICE_NAME;

async fn post(server: &TestServer, path: &str, ct: &str, body: Vec<u8>) -> (u16, String) {
    let resp = server
        .http
        .post(server.zipkin_url(path))
        .header("content-type", ct)
        .body(body)
        .send()
        .await
        .expect("zipkin request");
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("body"))
}

fn is_error(span: &Json) -> bool {
    span["tags"]
        .as_array()
        .is_some_and(|t| t.iter().any(|t| t["key"] == "error" && t["value"] == true))
}

fn log_values(span: &Json) -> Vec<String> {
    span["logs"]
        .as_array()
        .map(|logs| {
            logs.iter()
                .map(|l| l["fields"][0]["value"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// `/api/traces?service=` finds the trace too.
async fn assert_searchable(server: &TestServer, service: &str, trace_id: &str) {
    let url = format!("/api/traces?service={service}&limit=20");
    let found = eventually(10, || async {
        let (st, body) = server.get_json(&url).await;
        let ids: Vec<String> = body["data"]
            .as_array()
            .map(|d| {
                d.iter()
                    .map(|t| t["traceID"].as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default();
        (st == 200 && ids.iter().any(|id| id == trace_id)).then_some(())
    })
    .await;
    assert!(found.is_some(), "{trace_id} not found by service {service}");
}

// The Rust Zipkin exporter is deprecated upstream (in favour of OTLP) but still the maintained
// Rust client that speaks Zipkin v2 JSON.
#[allow(deprecated)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opentelemetry_zipkin_exporter_spans_are_stored() {
    let server = TestServer::start(StorageType::Rocksdb);
    let exporter = opentelemetry_zipkin::ZipkinExporter::builder()
        .with_collector_endpoint(server.zipkin_url("/api/v2/spans"))
        .build()
        .expect("zipkin exporter");
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_simple_exporter(exporter)
        .with_resource(
            opentelemetry_sdk::Resource::builder()
                .with_service_name("sdk-zipkin")
                .build(),
        )
        .build();
    let tracer = provider.tracer("tracehound-zipkin-test");
    let mut span = tracer
        .span_builder("zipkin-sdk-operation")
        .with_kind(SpanKind::Server)
        .with_attributes([
            KeyValue::new("http.status_code", 503i64),
            KeyValue::new("retried", true),
        ])
        .start(&tracer);
    span.add_event("upstream timeout", vec![]);
    span.set_status(Status::error("upstream failed"));
    let trace_id = span.span_context().trace_id().to_string();
    span.end();
    provider.force_flush().expect("flush");
    provider.shutdown().expect("shutdown");

    let t = trace(&server, &trace_id).await;
    let s = span_named(&t, "zipkin-sdk-operation");
    assert_eq!(tag(s, "span.kind"), Some(&json!("server")));
    // Zipkin tags are strings.
    assert_eq!(tag(s, "http.status_code"), Some(&json!("503")));
    assert_eq!(tag(s, "retried"), Some(&json!("true")));
    assert_eq!(
        tag(s, "otel.scope.name"),
        Some(&json!("tracehound-zipkin-test"))
    );
    assert!(is_error(s), "{s}");
    assert_eq!(log_values(s), ["upstream timeout"]);
    // opentelemetry-zipkin 0.33 never sends localEndpoint.serviceName (its exporter ignores the
    // provider's resource), so the span lands under Jaeger's name for a missing service.
    let service = service_of(&t, s);
    assert_eq!(
        service, NO_SERVICE_NAME,
        "the exporter now sends a service name?"
    );
    assert_searchable(&server, &service, &trace_id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_json_and_proto_bodies_come_back_whole() {
    let server = TestServer::start(StorageType::Rocksdb);
    let ts = now_ns() / 1000;

    // v2 JSON, gzip-compressed, with a 64-bit trace ID.
    let body = json!([{
        "traceId": "00000000000a1b2c", "id": "0000000000000001", "kind": "SERVER",
        "name": "get /users", "timestamp": ts, "duration": 1500,
        "localEndpoint": {"serviceName": "users-api", "ipv4": "10.1.2.3", "port": 8080},
        "remoteEndpoint": {"serviceName": "web", "ipv4": "10.9.9.9"},
        "annotations": [{"timestamp": ts + 10, "value": "db query"}],
        "tags": {"http.method": "GET", "error": "true"}
    }, {
        "traceId": "00000000000a1b2c", "id": "0000000000000002", "parentId": "0000000000000001",
        "kind": "CLIENT", "name": "select", "timestamp": ts + 20, "duration": 300,
        "localEndpoint": {"serviceName": "users-api"}
    }]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(body.to_string().as_bytes()).unwrap();
    let resp = server
        .http
        .post(server.zipkin_url("/api/v2/spans"))
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(gz.finish().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    assert!(resp.text().await.unwrap().is_empty());
    let t = trace(&server, "00000000000a1b2c").await;
    let root = span_named(&t, "get /users");
    assert_eq!(service_of(&t, root), "users-api");
    assert_eq!(tag(root, "span.kind"), Some(&json!("server")));
    assert_eq!(tag(root, "http.method"), Some(&json!("GET")));
    assert_eq!(tag(root, "net.host.ip"), Some(&json!("10.1.2.3")));
    assert_eq!(tag(root, "net.host.port"), Some(&json!(8080)));
    assert_eq!(tag(root, "peer.service"), Some(&json!("web")));
    assert_eq!(root["duration"], 1500);
    assert_eq!(root["startTime"], ts);
    assert!(is_error(root));
    assert_eq!(log_values(root), ["db query"]);
    let child = span_named(&t, "select");
    assert_eq!(tag(child, "span.kind"), Some(&json!("client")));
    assert_eq!(child["references"][0]["spanID"], "0000000000000001");
    assert!(!is_error(child));
    assert_searchable(&server, "users-api", "00000000000a1b2c").await;

    // v2 proto, 128-bit trace ID.
    let mut tags = std::collections::BTreeMap::new();
    tags.insert("messaging.system".to_string(), "kafka".to_string());
    let list = ListOfSpans {
        spans: vec![PbSpan {
            trace_id: 0xfeedu128
                .wrapping_shl(64)
                .wrapping_add(0x77)
                .to_be_bytes()
                .to_vec(),
            id: 0x5u64.to_be_bytes().to_vec(),
            kind: 3,
            name: "publish".into(),
            timestamp: ts,
            duration: 42,
            local_endpoint: Some(PbEndpoint {
                service_name: "orders".into(),
                ipv4: vec![192, 168, 0, 1],
                ..PbEndpoint::default()
            }),
            annotations: vec![PbAnnotation {
                timestamp: ts + 1,
                value: "enqueued".into(),
            }],
            tags,
            ..PbSpan::default()
        }],
    };
    let (st, msg) = post(
        &server,
        "/api/v2/spans",
        "application/x-protobuf",
        list.encode_to_vec(),
    )
    .await;
    assert_eq!(st, 202, "{msg}");
    let id = "000000000000feed0000000000000077";
    let t = trace(&server, id).await;
    let s = span_named(&t, "publish");
    assert_eq!(service_of(&t, s), "orders");
    assert_eq!(tag(s, "span.kind"), Some(&json!("producer")));
    assert_eq!(tag(s, "messaging.system"), Some(&json!("kafka")));
    assert_eq!(tag(s, "net.host.ip"), Some(&json!("192.168.0.1")));
    assert_eq!(log_values(s), ["enqueued"]);
    assert_searchable(&server, "orders", id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_json_and_thrift_bodies_come_back_whole() {
    let server = TestServer::start(StorageType::Memory);
    let ts = now_ns() / 1000;
    let web = json!({"serviceName": "v1-web", "ipv4": "10.0.0.1"});
    let api = json!({"serviceName": "v1-api", "ipv4": "10.0.0.2", "port": 80});
    // One v1 span shared by client and server.
    let body = json!([{
        "traceId": "0000000000c0ffee", "id": "0000000000000010", "name": "get /v1",
        "annotations": [
            {"timestamp": ts, "value": "cs", "endpoint": web},
            {"timestamp": ts + 100, "value": "sr", "endpoint": api},
            {"timestamp": ts + 150, "value": "cache miss", "endpoint": api},
            {"timestamp": ts + 900, "value": "ss", "endpoint": api},
            {"timestamp": ts + 1000, "value": "cr", "endpoint": web}
        ],
        "binaryAnnotations": [
            {"key": "http.path", "value": "/v1", "endpoint": web},
            {"key": "error", "value": "backend down", "endpoint": api}
        ]
    }]);
    let (st, msg) = post(
        &server,
        "/api/v1/spans",
        "application/json",
        body.to_string().into_bytes(),
    )
    .await;
    assert_eq!(st, 202, "{msg}");
    let t = trace(&server, "0000000000c0ffee").await;
    let spans = t["spans"].as_array().unwrap();
    assert_eq!(spans.len(), 2, "{t}");
    let client = spans
        .iter()
        .find(|s| tag(s, "span.kind") == Some(&json!("client")));
    let server_span = spans
        .iter()
        .find(|s| tag(s, "span.kind") == Some(&json!("server")));
    let (client, server_span) = (client.expect("client"), server_span.expect("server"));
    assert_eq!(service_of(&t, client), "v1-web");
    assert_eq!(service_of(&t, server_span), "v1-api");
    assert_eq!(client["duration"], 1000);
    assert_eq!(server_span["duration"], 800);
    assert_eq!(tag(client, "http.path"), Some(&json!("/v1")));
    assert!(is_error(server_span));
    assert!(!is_error(client));
    assert_eq!(log_values(server_span), ["cache miss"]);
    // The span-ID adjuster gave the shared server half its own ID, child of the client.
    assert_ne!(server_span["spanID"], client["spanID"]);
    assert_eq!(server_span["references"][0]["spanID"], client["spanID"]);
    assert_searchable(&server, "v1-api", "0000000000c0ffee").await;

    // v1 Thrift.
    let (st, msg) = post(
        &server,
        "/api/v1/spans",
        "application/x-thrift",
        thrift_body(ts),
    )
    .await;
    assert_eq!(st, 202, "{msg}");
    let t = trace(&server, "0000000000000abc").await;
    let s = span_named(&t, "thrift-op");
    assert_eq!(service_of(&t, s), "thrift-svc");
    assert_eq!(tag(s, "span.kind"), Some(&json!("client")));
    assert_eq!(tag(s, "retries"), Some(&json!("3")));
    assert_eq!(tag(s, "peer.service"), Some(&json!("thrift-backend")));
    assert_eq!(s["duration"], 250);
    assert_eq!(log_values(s), ["sent"]);
    assert_searchable(&server, "thrift-svc", "0000000000000abc").await;
}

/// TBinaryProtocol `list<zipkincore.Span>` with one client span.
fn thrift_body(ts: u64) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut p = TBinaryOutputProtocol::new(&mut buf, true);
    let field = |p: &mut TBinaryOutputProtocol<&mut Vec<u8>>, ty, id| {
        p.write_field_begin(&TFieldIdentifier::new("f", ty, id))
            .unwrap()
    };
    let endpoint = |p: &mut TBinaryOutputProtocol<&mut Vec<u8>>, id: i16, service: &str| {
        field(p, TType::Struct, id);
        p.write_struct_begin(&TStructIdentifier::new("Endpoint"))
            .unwrap();
        field(p, TType::I32, 1);
        p.write_i32(0x7f000001).unwrap();
        field(p, TType::String, 3);
        p.write_string(service).unwrap();
        p.write_field_stop().unwrap();
        p.write_struct_end().unwrap();
    };
    p.write_list_begin(&TListIdentifier::new(TType::Struct, 1))
        .unwrap();
    p.write_struct_begin(&TStructIdentifier::new("Span"))
        .unwrap();
    field(&mut p, TType::I64, 1);
    p.write_i64(0xabc).unwrap();
    field(&mut p, TType::String, 3);
    p.write_string("thrift-op").unwrap();
    field(&mut p, TType::I64, 4);
    p.write_i64(0x1).unwrap();
    field(&mut p, TType::List, 6);
    p.write_list_begin(&TListIdentifier::new(TType::Struct, 3))
        .unwrap();
    for (offset, value) in [(0, "cs"), (50, "sent"), (250, "cr")] {
        p.write_struct_begin(&TStructIdentifier::new("Annotation"))
            .unwrap();
        field(&mut p, TType::I64, 1);
        p.write_i64((ts + offset) as i64).unwrap();
        field(&mut p, TType::String, 2);
        p.write_string(value).unwrap();
        endpoint(&mut p, 3, "thrift-svc");
        p.write_field_stop().unwrap();
        p.write_struct_end().unwrap();
    }
    p.write_list_end().unwrap();
    field(&mut p, TType::List, 8);
    p.write_list_begin(&TListIdentifier::new(TType::Struct, 2))
        .unwrap();
    for (key, value, kind) in [
        ("retries", 3i64.to_be_bytes().to_vec(), 4),
        ("sa", vec![1], 0),
    ] {
        p.write_struct_begin(&TStructIdentifier::new("BinaryAnnotation"))
            .unwrap();
        field(&mut p, TType::String, 1);
        p.write_string(key).unwrap();
        field(&mut p, TType::String, 2);
        p.write_bytes(&value).unwrap();
        field(&mut p, TType::I32, 3);
        p.write_i32(kind).unwrap();
        if key == "sa" {
            endpoint(&mut p, 4, "thrift-backend");
        }
        p.write_field_stop().unwrap();
        p.write_struct_end().unwrap();
    }
    p.write_list_end().unwrap();
    p.write_field_stop().unwrap();
    p.write_struct_end().unwrap();
    p.write_list_end().unwrap();
    buf
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_and_valid_spans_are_kept() {
    let server = TestServer::start_with(StorageType::Memory, |c| {
        c.collector.zipkin.max_request_body_size = ByteSize(64 * 1024);
    });
    let ts = now_ns() / 1000;
    let good = |trace: &str| {
        json!([{"traceId": trace, "id": "0000000000000001", "name": "ok", "timestamp": ts,
                "localEndpoint": {"serviceName": "bad-input"}}])
        .to_string()
        .into_bytes()
    };

    // Garbage per content type → 400 naming the format; the listener keeps working.
    for (path, ct, body, expect) in [
        (
            "/api/v2/spans",
            "application/json",
            b"{{{".to_vec(),
            "v2 JSON",
        ),
        (
            "/api/v2/spans",
            "application/x-protobuf",
            vec![0x0a, 0xff, 0xff, 0xff],
            "protobuf",
        ),
        (
            "/api/v1/spans",
            "application/json",
            b"nope".to_vec(),
            "v1 JSON",
        ),
        (
            "/api/v1/spans",
            "application/x-thrift",
            vec![1, 2, 3],
            "Thrift",
        ),
    ] {
        let (st, msg) = post(&server, path, ct, body).await;
        assert_eq!(st, 400, "{path} {ct}: {msg}");
        assert!(msg.contains(expect), "{path} {ct}: {msg}");
    }
    let (st, _) = post(
        &server,
        "/api/v2/spans",
        "application/json",
        good("0000000000000b01"),
    )
    .await;
    assert_eq!(st, 202);
    trace(&server, "0000000000000b01").await;

    // Unknown content type → 415.
    let (st, msg) = post(
        &server,
        "/api/v2/spans",
        "text/plain",
        good("0000000000000b02"),
    )
    .await;
    assert_eq!(st, 415);
    assert!(msg.contains("content type"), "{msg}");
    let (st, _) = post(&server, "/api/v1/spans", "application/x-protobuf", vec![]).await;
    assert_eq!(st, 415);

    // Oversized → 413.
    let (st, _) = post(
        &server,
        "/api/v2/spans",
        "application/json",
        vec![b' '; 100 * 1024],
    )
    .await;
    assert_eq!(st, 413);

    // A bad-ID span next to a good one: the good one is stored, the answer names the bad one.
    let body = json!([
        {"traceId": "not-hex!", "id": "0000000000000001", "name": "bad"},
        {"traceId": "0000000000000b03", "id": "0000000000000002", "name": "kept",
         "timestamp": ts, "localEndpoint": {"serviceName": "bad-input"}}
    ]);
    let (st, msg) = post(
        &server,
        "/api/v2/spans",
        "application/json",
        body.to_string().into_bytes(),
    )
    .await;
    assert_eq!(st, 400);
    assert!(msg.contains("spans[0]") && msg.contains("traceId"), "{msg}");
    assert!(!msg.contains("spans[1]"), "{msg}");
    let t = trace(&server, "0000000000000b03").await;
    span_named(&t, "kept");

    // Per-protocol metrics.
    let metrics = server.metrics_text().await;
    for needle in [
        "tracehound_ingest_spans_received_total{protocol=\"zipkin_v2_json\"}",
        "tracehound_ingest_spans_refused_total{protocol=\"zipkin_v2_json\",reason=\"invalid\"} 1",
        "tracehound_ingest_received_bytes_total{protocol=\"zipkin_v1_thrift\"} 3",
    ] {
        assert!(metrics.contains(needle), "{needle} missing from\n{metrics}");
    }
}
