//! Golden tests for the v1 decoders (JSON and Thrift) and the v1 → v2 mapping.

use proptest::prelude::*;
use thrift::protocol::{
    TBinaryOutputProtocol, TFieldIdentifier, TListIdentifier, TOutputProtocol, TStructIdentifier,
    TType,
};

use super::tests::{decode_ok, str_attr};
use super::*;
use crate::model::span::find_attr as attr;

// ---------------------------------------------------------------------------------------------
// v1 JSON
// ---------------------------------------------------------------------------------------------

const V1_SHARED: &str = r#"[{
  "traceId": "000000000000abcd", "id": "0000000000000042", "parentId": "0000000000000041",
  "name": "get", "timestamp": 100, "duration": 50,
  "annotations": [
    {"timestamp": 100, "value": "cs", "endpoint": {"serviceName": "web", "ipv4": "10.0.0.1"}},
    {"timestamp": 110, "value": "sr", "endpoint": {"serviceName": "api", "ipv4": "10.0.0.2", "port": 80}},
    {"timestamp": 120, "value": "cache miss", "endpoint": {"serviceName": "api", "ipv4": "10.0.0.2", "port": 80}},
    {"timestamp": 140, "value": "ss", "endpoint": {"serviceName": "api", "ipv4": "10.0.0.2", "port": 80}},
    {"timestamp": 150, "value": "cr", "endpoint": {"serviceName": "web", "ipv4": "10.0.0.1"}},
    {"timestamp": 145, "value": "retrying"}
  ],
  "binaryAnnotations": [
    {"key": "sa", "value": true, "endpoint": {"serviceName": "api-lb", "port": 8080}},
    {"key": "ca", "value": true, "endpoint": {"serviceName": "web-client"}},
    {"key": "http.path", "value": "/users", "endpoint": {"serviceName": "web", "ipv4": "10.0.0.1"}},
    {"key": "db.rows", "value": 3, "endpoint": {"serviceName": "api", "ipv4": "10.0.0.2", "port": 80}}
  ]
}, {
  "traceId": "000000000000abcd", "id": "0000000000000043", "name": "compute",
  "timestamp": 200, "duration": 5,
  "binaryAnnotations": [{"key": "lc", "value": "worker", "endpoint": {"serviceName": "batch"}}]
}]"#;

#[test]
fn v1_json_shared_span_becomes_client_and_server() {
    let d = decode_ok(Encoding::V1Json, V1_SHARED.as_bytes());
    assert_eq!(d.rejected_spans, 0, "{:?}", d.errors);
    let [client, server, local] = &d.batch.spans[..] else {
        panic!("three spans expected, got {:?}", d.batch.spans)
    };
    // Same span ID for both halves; the query-time adjuster separates them.
    assert_eq!(client.span_id, SpanId::from_u64(0x42));
    assert_eq!(server.span_id, SpanId::from_u64(0x42));
    assert_eq!(client.parent_span_id, SpanId::from_u64(0x41));
    assert_eq!(server.parent_span_id, SpanId::from_u64(0x41));

    assert_eq!(client.kind, SpanKind::Client);
    assert_eq!(client.service(), "web");
    assert_eq!((client.start_ns, client.end_ns), (100_000, 150_000));
    assert_eq!(str_attr(client, PEER_SERVICE), Some("api-lb"));
    assert_eq!(attr(&client.attributes, PEER_PORT), Some(&Value::Int(8080)));
    assert_eq!(str_attr(client, "http.path"), Some("/users"));
    let client_events: Vec<_> = client.events.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(client_events, ["retrying"]);

    assert_eq!(server.kind, SpanKind::Server);
    assert_eq!(server.service(), "api");
    assert_eq!((server.start_ns, server.end_ns), (110_000, 140_000));
    assert_eq!(str_attr(server, PEER_SERVICE), Some("web-client"));
    assert_eq!(str_attr(server, HOST_IP), Some("10.0.0.2"));
    assert_eq!(str_attr(server, "db.rows"), Some("3"));
    assert_eq!(server.events.len(), 1);
    assert_eq!(server.events[0].name, "cache miss");
    assert_eq!(server.events[0].time_ns, 120_000);

    // No core annotations: the `lc` host is the local endpoint, `lc` stays a tag.
    assert_eq!(local.kind, SpanKind::Unspecified);
    assert_eq!(local.service(), "batch");
    assert_eq!(str_attr(local, "lc"), Some("worker"));
    assert_eq!((local.start_ns, local.end_ns), (200_000, 205_000));
}

#[test]
fn v1_messaging_and_single_sided_spans() {
    let body = r#"[
      {"traceId": "1", "id": "1", "name": "publish", "annotations": [
         {"timestamp": 10, "value": "ms", "endpoint": {"serviceName": "pub"}}],
       "binaryAnnotations": [{"key": "ma", "value": true, "endpoint": {"serviceName": "kafka"}}]},
      {"traceId": "1", "id": "2", "name": "serve", "annotations": [
         {"timestamp": 10, "value": "sr", "endpoint": {"serviceName": "srv"}},
         {"timestamp": 30, "value": "ss", "endpoint": {"serviceName": "srv"}}]},
      {"traceId": "1", "id": "0", "name": "bad"}
    ]"#;
    let d = decode_ok(Encoding::V1Json, body.as_bytes());
    assert_eq!(d.errors, ["spans[2]: id must not be all zeros"]);
    let [producer, server] = &d.batch.spans[..] else {
        panic!("two spans expected")
    };
    assert_eq!(producer.kind, SpanKind::Producer);
    assert_eq!(producer.service(), "pub");
    assert_eq!(str_attr(producer, PEER_SERVICE), Some("kafka"));
    assert_eq!(producer.start_ns, 10_000);
    assert_eq!(server.kind, SpanKind::Server);
    assert_eq!((server.start_ns, server.end_ns), (10_000, 30_000));
}

// ---------------------------------------------------------------------------------------------
// v1 Thrift
// ---------------------------------------------------------------------------------------------

/// Builds TBinaryProtocol `list<zipkincore.Span>` bodies with the thrift crate's writer.
struct ThriftBody<'a> {
    p: TBinaryOutputProtocol<&'a mut Vec<u8>>,
}

impl<'a> ThriftBody<'a> {
    fn list(buf: &'a mut Vec<u8>, len: i32) -> Self {
        let mut p = TBinaryOutputProtocol::new(buf, true);
        p.write_list_begin(&TListIdentifier::new(TType::Struct, len))
            .unwrap();
        ThriftBody { p }
    }
    fn field(&mut self, ty: TType, id: i16) {
        self.p
            .write_field_begin(&TFieldIdentifier::new("f", ty, id))
            .unwrap();
    }
    fn i64(&mut self, id: i16, v: i64) {
        self.field(TType::I64, id);
        self.p.write_i64(v).unwrap();
    }
    fn str(&mut self, id: i16, v: &str) {
        self.field(TType::String, id);
        self.p.write_string(v).unwrap();
    }
    fn begin(&mut self) {
        self.p
            .write_struct_begin(&TStructIdentifier::new("s"))
            .unwrap();
    }
    fn end(&mut self) {
        self.p.write_field_stop().unwrap();
        self.p.write_struct_end().unwrap();
    }
    fn endpoint(&mut self, id: i16, service: &str, ipv4: u32) {
        self.field(TType::Struct, id);
        self.begin();
        self.field(TType::I32, 1);
        self.p.write_i32(ipv4 as i32).unwrap();
        self.field(TType::I16, 2);
        self.p.write_i16(8080).unwrap();
        self.str(3, service);
        self.end();
    }
    fn list_field(&mut self, id: i16, len: i32) {
        self.field(TType::List, id);
        self.p
            .write_list_begin(&TListIdentifier::new(TType::Struct, len))
            .unwrap();
    }
}

fn v1_thrift_body() -> Vec<u8> {
    let mut buf = Vec::new();
    let mut t = ThriftBody::list(&mut buf, 2);
    // Span 0: a 128-bit server span with typed binary annotations.
    t.begin();
    t.i64(1, 0x5555);
    t.i64(12, 0x1);
    t.str(3, "handle");
    t.i64(4, 0x10);
    t.i64(5, 0x0f);
    t.list_field(6, 2);
    for (ts, v) in [(1_000, "sr"), (1_300, "ss")] {
        t.begin();
        t.i64(1, ts);
        t.str(2, v);
        t.endpoint(3, "thrift-svc", 0x0a000005);
        t.end();
    }
    t.list_field(8, 2);
    for (key, value, kind) in [
        ("http.status_code", 200i32.to_be_bytes().to_vec(), 3),
        ("cached", vec![1u8], 0),
    ] {
        t.begin();
        t.str(1, key);
        t.field(TType::String, 2);
        t.p.write_bytes(&value).unwrap();
        t.field(TType::I32, 3);
        t.p.write_i32(kind).unwrap();
        t.end();
    }
    t.field(TType::Double, 99); // unknown field: skipped
    t.p.write_double(1.5).unwrap();
    t.end();
    // Span 1: no trace ID.
    t.begin();
    t.i64(4, 0x11);
    t.end();
    t.p.write_list_end().unwrap();
    buf
}

#[test]
fn v1_thrift_golden() {
    let d = decode_ok(Encoding::V1Thrift, &v1_thrift_body());
    assert_eq!(d.errors, ["spans[1]: traceId is missing"]);
    let [s] = &d.batch.spans[..] else {
        panic!("one span expected")
    };
    assert_eq!(s.trace_id, TraceId::from_high_low(1, 0x5555));
    assert_eq!(s.span_id, SpanId::from_u64(0x10));
    assert_eq!(s.parent_span_id, SpanId::from_u64(0x0f));
    assert_eq!(s.name, "handle");
    assert_eq!(s.kind, SpanKind::Server);
    assert_eq!((s.start_ns, s.end_ns), (1_000_000, 1_300_000));
    assert_eq!(s.service(), "thrift-svc");
    assert_eq!(str_attr(s, HOST_IP), Some("10.0.0.5"));
    assert_eq!(attr(&s.attributes, HOST_PORT), Some(&Value::Int(8080)));
    assert_eq!(str_attr(s, "http.status_code"), Some("200"));
    assert_eq!(str_attr(s, "cached"), Some("true"));
}

#[test]
fn v1_thrift_truncated_and_trailing_bytes_are_errors() {
    let body = v1_thrift_body();
    let e = decode(Encoding::V1Thrift, &body[..body.len() - 3]).unwrap_err();
    assert!(e.to_string().contains("Zipkin v1 Thrift"), "{e}");
    let mut longer = body.clone();
    longer.push(0);
    let e = decode(Encoding::V1Thrift, &longer).unwrap_err();
    assert!(e.to_string().contains("trailing"), "{e}");
    // A huge declared string length must not allocate it.
    let e = decode(
        Encoding::V1Thrift,
        &[0x0c, 0, 0, 0, 1, 0x0b, 0, 3, 0x7f, 0xff, 0xff, 0xff],
    )
    .unwrap_err();
    assert!(e.to_string().contains("Thrift"), "{e}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn v1_thrift_mutated_valid_body_never_panics(at in 0usize..400, byte in any::<u8>()) {
        let mut body = v1_thrift_body();
        let i = at % body.len();
        body[i] = byte;
        let _ = decode(Encoding::V1Thrift, &body);
    }
}
