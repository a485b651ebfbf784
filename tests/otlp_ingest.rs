//! OTLP ingest with real clients: the OpenTelemetry Rust SDK's OTLP exporters (gRPC, HTTP
//! protobuf, HTTP JSON) and raw requests for bad input, partial success and limits.

mod common;

use std::io::Write;

use common::build::{kv, request, span, str_kv};
use common::{eventually, now_ns, TestServer};
use opentelemetry::trace::{Span as _, SpanKind, Tracer, TracerProvider as _};
use opentelemetry::KeyValue;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_proto::tonic::common::v1::any_value;
use prost::Message;
use tracehound::config::{ByteSize, StorageType};

async fn send_with_sdk(exporter: opentelemetry_otlp::SpanExporter, service: &str) {
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(service.to_string())
        .build();
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_simple_exporter(exporter)
        .with_resource(resource)
        .build();
    let tracer = provider.tracer("tracehound-test");
    let mut span = tracer
        .span_builder("sdk-operation")
        .with_kind(SpanKind::Server)
        .with_attributes([
            KeyValue::new("http.status_code", 200i64),
            KeyValue::new("ok", true),
            KeyValue::new("ratio", 0.25),
        ])
        .start(&tracer);
    span.add_event("cache miss", vec![KeyValue::new("key", "user:42")]);
    span.end();
    provider.force_flush().expect("flush");
    provider.shutdown().expect("shutdown");
}

async fn assert_sdk_trace_stored(server: &TestServer, service: &str) {
    let url = format!("/api/traces?service={service}&limit=10");
    let body = eventually(10, || async {
        let (st, body) = server.get_json(&url).await;
        (st == 200 && body["data"].as_array().is_some_and(|d| !d.is_empty())).then_some(body)
    })
    .await
    .unwrap_or_else(|| panic!("no trace for {service}"));
    let span = &body["data"][0]["spans"][0];
    assert_eq!(span["operationName"], "sdk-operation");
    let tags = span["tags"].as_array().unwrap();
    let tag = |k: &str| tags.iter().find(|t| t["key"] == k).cloned();
    assert_eq!(tag("http.status_code").unwrap()["type"], "int64");
    assert_eq!(tag("http.status_code").unwrap()["value"], 200);
    assert_eq!(tag("ok").unwrap()["value"], true);
    assert_eq!(tag("ratio").unwrap()["type"], "float64");
    assert_eq!(tag("span.kind").unwrap()["value"], "server");
    assert_eq!(span["logs"][0]["fields"][0]["value"], "cache miss");
    let process = &body["data"][0]["processes"][span["processID"].as_str().unwrap()];
    assert_eq!(process["serviceName"], service);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opentelemetry_sdk_exporters_over_grpc_and_http_are_stored() {
    let server = TestServer::start(StorageType::Rocksdb);
    let grpc = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(format!("http://{}", server.otlp_grpc_addr()))
        .build()
        .expect("grpc exporter");
    send_with_sdk(grpc, "sdk-grpc").await;
    assert_sdk_trace_stored(&server, "sdk-grpc").await;

    for (protocol, service) in [
        (Protocol::HttpBinary, "sdk-http-proto"),
        (Protocol::HttpJson, "sdk-http-json"),
    ] {
        let http = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(protocol)
            .with_endpoint(server.otlp_http_url())
            .build()
            .expect("http exporter");
        send_with_sdk(http, service).await;
        assert_sdk_trace_stored(&server, service).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_success_keeps_valid_spans_over_grpc_and_http() {
    let server = TestServer::start(StorageType::Memory);
    let now = now_ns();
    let mut bad = span(0x77, 2, "bad", now, 10);
    bad.trace_id = vec![1, 2, 3];
    let req = request("partial", vec![span(0x77, 1, "good", now, 10), bad.clone()]);
    let resp = server.export(req).await;
    let partial = resp.partial_success.expect("partial success");
    assert_eq!(partial.rejected_spans, 1);
    assert!(
        partial.error_message.contains("trace_id"),
        "{}",
        partial.error_message
    );
    let (st, body) = server.get_json("/api/traces/77").await;
    assert_eq!(st, 200);
    assert_eq!(body["data"][0]["spans"].as_array().unwrap().len(), 1);

    let req = request("partial-http", vec![span(0x78, 1, "good", now, 10), bad]);
    let resp = server
        .http
        .post(server.otlp_http_url())
        .header("content-type", "application/x-protobuf")
        .body(req.encode_to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body = resp.bytes().await.unwrap();
    let decoded =
        opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse::decode(body)
            .unwrap();
    assert_eq!(decoded.partial_success.unwrap().rejected_spans, 1);
    assert_eq!(server.get_json("/api/traces/78").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_http_json_gzip_and_bad_bodies() {
    let server = TestServer::start_with(StorageType::Memory, |c| {
        c.collector.otlp.http.max_request_body_size = ByteSize(64 * 1024);
    });
    let now = now_ns();
    let url = server.otlp_http_url();
    let json = serde_json::json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json-svc"}}]},
        "scopeSpans": [{"spans": [{
            "traceId": "000000000000000000000000000000aa", "spanId": "0000000000000001",
            "name": "json-op", "kind": 3,
            "startTimeUnixNano": now.to_string(), "endTimeUnixNano": (now + 1000).to_string(),
            "attributes": [{"key": "n", "value": {"intValue": "7"}}]
        }]}]
    }]});
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(json.to_string().as_bytes()).unwrap();
    let body = gz.finish().unwrap();
    let resp = server
        .http
        .post(&url)
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
    let (st, got) = server.get_json("/api/traces/aa").await;
    assert_eq!(st, 200);
    assert_eq!(got["data"][0]["spans"][0]["operationName"], "json-op");

    let post = |ct: &'static str, body: Vec<u8>| {
        let req = server.http.post(&url).header("content-type", ct).body(body);
        async move {
            let resp = req.send().await.unwrap();
            (resp.status().as_u16(), resp.text().await.unwrap())
        }
    };
    let (st, msg) = post("application/x-protobuf", vec![0xff, 0xff, 0xff]).await;
    assert_eq!(st, 400);
    assert!(!msg.is_empty());
    let (st, msg) = post("application/json", b"{\"resourceSpans\": [".to_vec()).await;
    assert_eq!(st, 400);
    assert!(msg.contains("JSON"), "{msg}");
    let (st, msg) = post("text/plain", b"hello".to_vec()).await;
    assert_eq!(st, 415);
    assert!(msg.contains("content type"), "{msg}");
    let (st, _) = post("application/x-protobuf", vec![0u8; 100 * 1024]).await;
    assert_eq!(st, 413);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_rejects_oversized_messages() {
    let server = TestServer::start_with(StorageType::Memory, |c| {
        c.collector.otlp.grpc.max_message_size = ByteSize(16 * 1024);
    });
    let mut s = span(0x99, 1, "big", now_ns(), 10);
    s.attributes
        .push(kv("blob", any_value::Value::BytesValue(vec![7; 64 * 1024])));
    s.attributes.push(str_kv("x", "y"));
    let err = server
        .grpc_client()
        .await
        .export(request("big", vec![s]))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.code(),
            tonic::Code::ResourceExhausted | tonic::Code::OutOfRange
        ),
        "{err:?}"
    );
    assert_eq!(server.get_json("/api/traces/99").await.0, 404);
}

/// Raw request bytes over real gRPC: a span whose own bytes are malformed is rejected alone
/// (partial success names the field), a body broken outside any span is INVALID_ARGUMENT.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_rejects_a_malformed_span_alone_and_a_broken_body_whole() {
    use tracehound::api::grpc::otlp::EXPORT_PATH;
    use tracehound::api::grpc::raw_codec::ExportClientCodec;

    let server = TestServer::start(StorageType::Memory);
    let now = now_ns();
    let req = request(
        "malformed",
        vec![
            span(0x7a, 1, "good", now, 10),
            span(0x7a, 2, "bad", now, 10),
        ],
    );
    let mut body = req.encode_to_vec();
    // Turn the second span's name ("bad") into invalid UTF-8: the framing stays intact.
    let at = body
        .windows(3)
        .position(|w| w == b"bad")
        .expect("span name in the body");
    body[at] = 0xff;

    let channel =
        tonic::transport::Endpoint::from_shared(format!("http://{}", server.otlp_grpc_addr()))
            .unwrap()
            .connect()
            .await
            .unwrap();
    let client = tonic::client::Grpc::new(channel);
    let send = |body: Vec<u8>| {
        let path = http::uri::PathAndQuery::from_static(EXPORT_PATH);
        let request = tonic::Request::new(bytes::Bytes::from(body));
        let mut client = client.clone();
        async move {
            client.ready().await.unwrap();
            client
                .unary(request, path, ExportClientCodec::default())
                .await
                .map(tonic::Response::into_inner)
        }
    };
    let resp = send(body).await.expect("partial success, not an error");
    let partial = resp.partial_success.expect("one span rejected");
    assert_eq!(partial.rejected_spans, 1);
    assert_eq!(
        partial.error_message,
        "resource_spans[0].scope_spans[0].spans[1].name: the string is not valid UTF-8"
    );
    let (st, got) = server.get_json("/api/traces/7a").await;
    assert_eq!(st, 200);
    assert_eq!(got["data"][0]["spans"].as_array().unwrap().len(), 1);
    assert_eq!(got["data"][0]["spans"][0]["operationName"], "good");

    let err = send(vec![0x0a, 0x05, 0x01]).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
    assert_eq!(
        err.message(),
        "invalid OTLP protobuf body at resource_spans[0]: the message ends inside a field"
    );
}
