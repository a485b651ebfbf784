//! Jaeger ingest end to end, with raw encoded requests (no maintained Rust Jaeger client
//! exists): Thrift over HTTP (binary, gzip, chunked), `api_v2.CollectorService/PostSpans` over
//! gRPC, and `Agent.emitBatch` datagrams on the compact and binary UDP ports — every span read
//! back whole through the query API — plus bad input per protocol and per-protocol metrics.

mod common;

use std::io::Write as _;

use common::jaeger_thrift::{
    encode_batch, encode_emit_batch, Batch, Log, Proto, Span, SpanRef, Tag, TagValue,
};
use common::ui::{service_of, span_named, tag, trace};
use common::{eventually, now_ns, TestServer};
use serde_json::Value as Json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracehound::config::{ByteSize, StorageType};
use tracehound::proto::api_v2;
use tracehound::proto::api_v2::collector_service_client::CollectorServiceClient;

fn now_us() -> i64 {
    (now_ns() / 1000) as i64
}

/// Two spans of one trace exercising every field: typed tags, a log, the parent from
/// `parentSpanId`, an extra FOLLOWS_FROM reference, process tags, kinds, an error.
fn rich_batch(service: &'static str, trace_low: i64) -> Batch {
    let start = now_us() - 2_000_000;
    Batch {
        service,
        process_tags: vec![
            Tag("ip", TagValue::Str("10.0.0.7")),
            Tag("client-uuid", TagValue::Str("c0ffee")),
        ],
        spans: vec![
            Span {
                trace_id_low: trace_low,
                trace_id_high: 0x1234,
                span_id: 0xA,
                parent_span_id: 0,
                operation_name: "GET /checkout",
                references: vec![],
                flags: 1,
                start_us: start,
                duration_us: 1500,
                tags: vec![
                    Tag("span.kind", TagValue::Str("server")),
                    Tag("http.status_code", TagValue::Long(200)),
                    Tag("ratio", TagValue::Double(0.25)),
                    Tag("cached", TagValue::Bool(true)),
                    Tag("blob", TagValue::Binary(vec![1, 2, 3])),
                    Tag("component", TagValue::Str("net/http")),
                ],
                logs: vec![Log {
                    timestamp_us: start + 100,
                    fields: vec![
                        Tag("event", TagValue::Str("cache miss")),
                        Tag("key", TagValue::Str("cart-42")),
                    ],
                }],
            },
            Span {
                trace_id_low: trace_low,
                trace_id_high: 0x1234,
                span_id: 0xB,
                parent_span_id: 0xA,
                operation_name: "SELECT carts",
                references: vec![SpanRef(1, trace_low, 0x1234, 0x99)],
                flags: 1,
                start_us: start + 200,
                duration_us: 700,
                tags: vec![
                    Tag("span.kind", TagValue::Str("client")),
                    Tag("error", TagValue::Bool(true)),
                ],
                logs: vec![],
            },
        ],
    }
}

fn trace_hex(trace_low: i64) -> String {
    format!("{:016x}{:016x}", 0x1234, trace_low as u64)
}

fn typed_tag(span: &Json, key: &str) -> (String, Json) {
    let t = span["tags"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["key"] == key))
        .unwrap_or_else(|| panic!("no tag {key} in {span}"));
    (
        t["type"].as_str().unwrap_or("").to_string(),
        t["value"].clone(),
    )
}

/// The rich batch came back whole.
fn assert_rich_trace(t: &Json, service: &str, trace_low: i64) {
    let root = span_named(t, "GET /checkout");
    let child = span_named(t, "SELECT carts");
    assert_eq!(service_of(t, root), service);
    assert_eq!(root["traceID"], trace_hex(trace_low));
    assert_eq!(root["spanID"], "000000000000000a");
    assert_eq!(root["duration"], 1500);
    assert_eq!(
        typed_tag(root, "http.status_code"),
        ("int64".into(), 200.into())
    );
    assert_eq!(typed_tag(root, "ratio"), ("float64".into(), 0.25.into()));
    assert_eq!(typed_tag(root, "cached"), ("bool".into(), true.into()));
    assert_eq!(typed_tag(root, "component").1, "net/http");
    assert_eq!(typed_tag(root, "blob").0, "binary");
    assert_eq!(tag(root, "span.kind"), Some(&Json::from("server")));
    let log = &root["logs"][0];
    assert_eq!(log["timestamp"], root["startTime"].as_i64().unwrap() + 100);
    let fields: Vec<(String, String)> = log["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["key"].as_str().unwrap().into(),
                f["value"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    assert!(
        fields.contains(&("event".into(), "cache miss".into())),
        "{fields:?}"
    );
    assert!(
        fields.contains(&("key".into(), "cart-42".into())),
        "{fields:?}"
    );

    let refs = child["references"].as_array().unwrap();
    assert_eq!(refs.len(), 2, "{refs:?}");
    assert_eq!(refs[0]["refType"], "CHILD_OF");
    assert_eq!(refs[0]["spanID"], "000000000000000a");
    assert_eq!(refs[1]["refType"], "FOLLOWS_FROM");
    assert_eq!(refs[1]["spanID"], "0000000000000099");
    assert_eq!(tag(child, "span.kind"), Some(&Json::from("client")));
    assert_eq!(typed_tag(child, "error"), ("bool".into(), true.into()));

    let pid = root["processID"].as_str().unwrap();
    let ptags = t["processes"][pid]["tags"].as_array().unwrap();
    for (k, v) in [("ip", "10.0.0.7"), ("client-uuid", "c0ffee")] {
        assert!(
            ptags.iter().any(|t| t["key"] == k && t["value"] == v),
            "process tag {k} missing in {ptags:?}"
        );
    }
}

fn gzip(body: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(body).unwrap();
    enc.finish().unwrap()
}

async fn post_thrift(server: &TestServer, ct: &str, body: Vec<u8>, gz: bool) -> (u16, String) {
    let mut req = server
        .http
        .post(server.jaeger_http_url("/api/traces"))
        .header("content-type", ct);
    let body = if gz {
        req = req.header("content-encoding", "gzip");
        gzip(&body)
    } else {
        body
    };
    let resp = req.body(body).send().await.expect("thrift http request");
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

/// A raw HTTP/1.1 request with a chunked body and no Content-Length (as some Jaeger HTTP
/// senders stream it).
async fn post_chunked(server: &TestServer, body: &[u8]) -> String {
    let addr = server.addrs().jaeger_http.unwrap();
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = format!(
        "POST /api/traces HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-thrift\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    for chunk in body.chunks(100) {
        req.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        req.extend_from_slice(chunk);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    s.write_all(&req).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thrift_over_http_comes_back_whole() {
    let server = TestServer::start(StorageType::Rocksdb);
    let body = encode_batch(Proto::Binary, &rich_batch("thrift-http", 1));
    let (st, text) = post_thrift(&server, "application/x-thrift", body, false).await;
    assert_eq!((st, text.as_str()), (202, ""));
    assert_rich_trace(&trace(&server, &trace_hex(1)).await, "thrift-http", 1);

    // The other content type, gzip-encoded.
    let body = encode_batch(Proto::Binary, &rich_batch("thrift-http", 2));
    let ct = "application/vnd.apache.thrift.binary; charset=utf-8";
    assert_eq!(post_thrift(&server, ct, body, true).await.0, 202);
    assert_rich_trace(&trace(&server, &trace_hex(2)).await, "thrift-http", 2);

    // Chunked, without Content-Length.
    let answer = post_chunked(
        &server,
        &encode_batch(Proto::Binary, &rich_batch("thrift-http", 3)),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 202"), "{answer}");
    assert_rich_trace(&trace(&server, &trace_hex(3)).await, "thrift-http", 3);

    // TCompactProtocol, with its own content type.
    let body = encode_batch(Proto::Compact, &rich_batch("thrift-http", 4));
    let (st, _) = post_thrift(
        &server,
        "application/vnd.apache.thrift.compact",
        body,
        false,
    )
    .await;
    assert_eq!(st, 202);
    assert_rich_trace(&trace(&server, &trace_hex(4)).await, "thrift-http", 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thrift_over_http_refuses_bad_input_and_keeps_valid_spans() {
    let server = TestServer::start_with(StorageType::Memory, |c| {
        c.collector.http_server.max_request_body_size = ByteSize(4096);
    });
    let good = encode_batch(Proto::Binary, &rich_batch("bad-input", 5));

    let (st, text) = post_thrift(&server, "application/json", good.clone(), false).await;
    assert_eq!(st, 400);
    assert!(
        text.starts_with("Unsupported content type: application/json"),
        "{text}"
    );

    let (st, text) = post_thrift(&server, "", good.clone(), false).await;
    assert_eq!(st, 400);
    assert!(text.starts_with("Cannot parse content type"), "{text}");

    for garbage in [
        b"not thrift at all".to_vec(),
        good[..good.len() / 2].to_vec(),
    ] {
        let (st, text) = post_thrift(&server, "application/x-thrift", garbage, false).await;
        assert_eq!(st, 400);
        assert!(text.starts_with("Unable to process request body"), "{text}");
    }

    let (st, _) = post_thrift(&server, "application/x-thrift", vec![0; 5000], false).await;
    assert_eq!(st, 413);

    // A span with a zero trace ID next to valid ones: the valid ones are stored.
    let mut batch = rich_batch("bad-input", 6);
    batch.spans[1].trace_id_low = 0;
    batch.spans[1].trace_id_high = 0;
    let body = encode_batch(Proto::Binary, &batch);
    let (st, text) = post_thrift(&server, "application/x-thrift", body, false).await;
    assert_eq!(st, 400, "{text}");
    assert!(text.contains("rejected 1 of 2 spans"), "{text}");
    let t = trace(&server, &trace_hex(6)).await;
    assert_eq!(t["spans"].as_array().unwrap().len(), 1);
}

fn pb_span(trace: u128, span: u64, name: &str, process: Option<api_v2::Process>) -> api_v2::Span {
    let start = now_ns() - 1_000_000_000;
    api_v2::Span {
        trace_id: trace.to_be_bytes().to_vec(),
        span_id: span.to_be_bytes().to_vec(),
        operation_name: name.into(),
        start_time: Some(prost_types::Timestamp {
            seconds: (start / 1_000_000_000) as i64,
            nanos: (start % 1_000_000_000) as i32,
        }),
        duration: Some(prost_types::Duration {
            seconds: 0,
            nanos: 2_000_000,
        }),
        tags: vec![api_v2::KeyValue {
            key: "attempt".into(),
            v_type: api_v2::ValueType::Int64 as i32,
            v_int64: 3,
            ..Default::default()
        }],
        process,
        ..Default::default()
    }
}

fn pb_process(service: &str) -> api_v2::Process {
    api_v2::Process {
        service_name: service.into(),
        tags: vec![api_v2::KeyValue {
            key: "pod".into(),
            v_str: "pod-7".into(),
            ..Default::default()
        }],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_post_spans_uses_the_span_process_over_the_batch_process() {
    let server = TestServer::start(StorageType::Rocksdb);
    let mut client =
        CollectorServiceClient::connect(format!("http://{}", server.jaeger_grpc_addr()))
            .await
            .unwrap();
    let trace_id = 0xfeed_u128 << 64 | 0x42;
    let batch = api_v2::Batch {
        process: Some(pb_process("grpc-batch-process")),
        spans: vec![
            pb_span(trace_id, 1, "inherits", None),
            pb_span(trace_id, 2, "own", Some(pb_process("grpc-own-process"))),
        ],
    };
    client
        .post_spans(api_v2::PostSpansRequest { batch: Some(batch) })
        .await
        .expect("PostSpans accepted");
    let t = trace(&server, &format!("{trace_id:032x}")).await;
    let inherits = span_named(&t, "inherits");
    let own = span_named(&t, "own");
    assert_eq!(service_of(&t, inherits), "grpc-batch-process");
    assert_eq!(service_of(&t, own), "grpc-own-process");
    assert_eq!(own["duration"], 2000);
    assert_eq!(typed_tag(own, "attempt"), ("int64".into(), 3.into()));

    // A span with a 3-byte trace ID is refused by name; its valid neighbour is stored.
    let mut bad = pb_span(trace_id, 3, "bad", None);
    bad.trace_id = vec![1, 2, 3];
    let batch = api_v2::Batch {
        process: Some(pb_process("grpc-batch-process")),
        spans: vec![bad, pb_span(trace_id, 4, "good-neighbour", None)],
    };
    let status = client
        .post_spans(api_v2::PostSpansRequest { batch: Some(batch) })
        .await
        .expect_err("the bad span is reported");
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(
        status.message().contains("trace_id"),
        "{}",
        status.message()
    );
    let found = eventually(10, || async {
        let (_, body) = server
            .get_json(&format!("/api/traces/{trace_id:032x}"))
            .await;
        let n = body["data"][0]["spans"].as_array().map_or(0, Vec::len);
        (n == 3).then_some(())
    })
    .await;
    assert!(found.is_some(), "the valid neighbour was not stored");
}

fn udp_addr(server: &TestServer, proto: Proto) -> std::net::SocketAddr {
    match proto {
        Proto::Compact => server.addrs().jaeger_compact_udp,
        Proto::Binary => server.addrs().jaeger_binary_udp,
    }
    .expect("udp listener")
}

async fn send_udp(to: std::net::SocketAddr, datagram: &[u8]) {
    let s = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    s.send_to(datagram, to).await.unwrap();
}

/// The value of a metrics line starting with `prefix` (0 when absent).
fn metric(text: &str, prefix: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_emit_batch_compact_and_binary_come_back_whole() {
    let server = TestServer::start(StorageType::Rocksdb);
    for (proto, low) in [(Proto::Compact, 7), (Proto::Binary, 8)] {
        let datagram = encode_emit_batch(proto, &rich_batch("udp-agent", low));
        send_udp(udp_addr(&server, proto), &datagram).await;
        assert_rich_trace(&trace(&server, &trace_hex(low)).await, "udp-agent", low);
    }

    // Garbage and oversized datagrams are counted and dropped; the listener keeps serving.
    let compact = udp_addr(&server, Proto::Compact);
    send_udp(compact, b"\x82\x81garbage").await;
    send_udp(compact, &vec![0u8; 65_001]).await;
    let datagram = encode_emit_batch(Proto::Compact, &rich_batch("udp-agent", 9));
    send_udp(compact, &datagram).await;
    assert_rich_trace(&trace(&server, &trace_hex(9)).await, "udp-agent", 9);
    let text = eventually(10, || async {
        let text = server.metrics_text().await;
        let invalid = metric(
            &text,
            r#"tracehound_udp_packets_dropped_total{protocol="jaeger_udp_compact",reason="invalid"}"#,
        );
        let too_large = metric(
            &text,
            r#"tracehound_udp_packets_dropped_total{protocol="jaeger_udp_compact",reason="too_large"}"#,
        );
        (invalid == 1.0 && too_large == 1.0).then_some(text)
    })
    .await
    .expect("the dropped datagrams are counted");
    for protocol in ["jaeger_udp_compact", "jaeger_udp_binary"] {
        let stored = format!(r#"tracehound_ingest_spans_stored_total{{protocol="{protocol}"}}"#);
        assert!(metric(&text, &stored) >= 2.0, "{stored} in\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_protocol_metrics_count_received_spans_and_bytes() {
    let server = TestServer::start(StorageType::Memory);
    let body = encode_batch(Proto::Binary, &rich_batch("metrics", 10));
    let len = body.len();
    assert_eq!(
        post_thrift(&server, "application/x-thrift", body, false)
            .await
            .0,
        202
    );
    let mut client =
        CollectorServiceClient::connect(format!("http://{}", server.jaeger_grpc_addr()))
            .await
            .unwrap();
    let batch = api_v2::Batch {
        process: Some(pb_process("metrics")),
        spans: vec![pb_span(11, 1, "one", None)],
    };
    client
        .post_spans(api_v2::PostSpansRequest { batch: Some(batch) })
        .await
        .unwrap();
    let text = server.metrics_text().await;
    let http = r#"{protocol="jaeger_thrift_http"}"#;
    let grpc = r#"{protocol="jaeger_grpc"}"#;
    assert_eq!(
        metric(
            &text,
            &format!("tracehound_ingest_spans_received_total{http}")
        ),
        2.0
    );
    assert_eq!(
        metric(
            &text,
            &format!("tracehound_ingest_spans_stored_total{http}")
        ),
        2.0
    );
    assert_eq!(
        metric(
            &text,
            &format!("tracehound_ingest_received_bytes_total{http}")
        ),
        len as f64
    );
    assert_eq!(
        metric(
            &text,
            &format!("tracehound_ingest_spans_stored_total{grpc}")
        ),
        1.0
    );
}
