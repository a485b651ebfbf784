//! Golden tests for the v2 decoders (a hand-written body → the expected model fields), the
//! conversion rules, validation, and "arbitrary bytes never panic" per decoder. The v1 golden
//! tests are in `v1_tests.rs`.

use std::sync::Arc;

use proptest::prelude::*;
use prost::Message as _;

use super::v2_proto::{ListOfSpans, PbAnnotation, PbEndpoint, PbSpan};
use super::*;
use crate::model::span::find_attr as attr;
use crate::model::Span;

pub(super) fn decode_ok(encoding: Encoding, body: &[u8]) -> Decoded {
    decode(encoding, body).unwrap_or_else(|e| panic!("{encoding:?} body refused: {e}"))
}

pub(super) fn str_attr<'a>(s: &'a Span, key: &str) -> Option<&'a str> {
    attr(&s.attributes, key).and_then(Value::as_str)
}

// ---------------------------------------------------------------------------------------------
// v2 JSON
// ---------------------------------------------------------------------------------------------

const V2_JSON: &str = r#"[
  {
    "traceId": "5af7183fb1d4cf5f5af7183fb1d4cf5f",
    "parentId": "6b221d5bc9e6496c",
    "id": "352bff9a74ca9ad2",
    "kind": "CLIENT",
    "name": "get /api",
    "timestamp": 1556604172355737,
    "duration": 1431,
    "localEndpoint": {"serviceName": "frontend", "ipv4": "192.168.99.1", "port": 3306},
    "remoteEndpoint": {"serviceName": "backend", "ipv6": "::1", "port": 9000},
    "annotations": [{"timestamp": 1556604172355800, "value": "wire send"}],
    "tags": {"http.method": "GET", "error": "true", "otel.library.name": "lib",
             "otel.library.version": "1.2", "w3c.tracestate": "k=v"}
  },
  {
    "traceId": "00000000000000ab",
    "id": "0000000000000001",
    "name": "no-timestamp",
    "tags": {"error": "connection refused"}
  }
]"#;

#[test]
fn v2_json_golden() {
    let d = decode_ok(Encoding::V2Json, V2_JSON.as_bytes());
    assert_eq!(d.rejected_spans, 0, "{:?}", d.errors);
    let [a, b] = &d.batch.spans[..] else {
        panic!("two spans expected")
    };
    assert_eq!(
        a.trace_id,
        TraceId::from_u128(0x5af7183fb1d4cf5f5af7183fb1d4cf5f)
    );
    assert_eq!(a.span_id, SpanId::from_u64(0x352bff9a74ca9ad2));
    assert_eq!(a.parent_span_id, SpanId::from_u64(0x6b221d5bc9e6496c));
    assert_eq!(a.kind, SpanKind::Client);
    assert_eq!(a.name, "get /api");
    assert_eq!(a.start_ns, 1_556_604_172_355_737_000);
    assert_eq!(a.end_ns, a.start_ns + 1_431_000);
    assert_eq!(a.service(), "frontend");
    assert_eq!(str_attr(a, HOST_IP), Some("192.168.99.1"));
    assert_eq!(attr(&a.attributes, HOST_PORT), Some(&Value::Int(3306)));
    assert_eq!(str_attr(a, PEER_SERVICE), Some("backend"));
    assert_eq!(str_attr(a, PEER_IP), Some("::1"));
    assert_eq!(attr(&a.attributes, PEER_PORT), Some(&Value::Int(9000)));
    assert_eq!(str_attr(a, "http.method"), Some("GET"));
    // Consumed tags do not stay attributes.
    for consumed in ["error", "otel.library.name", "w3c.tracestate"] {
        assert_eq!(attr(&a.attributes, consumed), None, "{consumed}");
    }
    assert_eq!(a.status.code, StatusCode::Error);
    assert_eq!(a.trace_state, "k=v");
    assert_eq!(
        (a.scope.name.as_str(), a.scope.version.as_str()),
        ("lib", "1.2")
    );
    assert_eq!(a.events.len(), 1);
    assert_eq!(a.events[0].name, "wire send");
    assert_eq!(a.events[0].time_ns, 1_556_604_172_355_800_000);

    // 64-bit trace ID, no timestamp, no local endpoint, an error message tag.
    assert_eq!(b.trace_id, TraceId::from_u128(0xab));
    assert_eq!(b.start_ns, 0);
    assert_eq!(
        attr(&b.attributes, ABSENT_START_TIME),
        Some(&Value::Bool(true))
    );
    assert_eq!(b.service(), NO_SERVICE_NAME);
    assert_eq!(b.kind, SpanKind::Unspecified);
    assert_eq!(b.status.code, StatusCode::Error);
    assert_eq!(str_attr(b, "error"), Some("connection refused"));
    assert!(!b.has_parent());
}

#[test]
fn v2_json_bad_spans_are_rejected_by_index_and_the_rest_kept() {
    let body = r#"[
      {"traceId": "zz", "id": "0000000000000001"},
      {"traceId": "00000000000000ab", "id": "0000000000000002", "name": "good"},
      {"traceId": "00000000000000ab", "id": "0000000000000000"},
      {"traceId": "00000000000000ab", "id": "0000000000000003", "timestamp": "soon"},
      {"traceId": "000000000000000000000000000000000ab", "id": "0000000000000004"},
      "not a span"
    ]"#;
    let d = decode_ok(Encoding::V2Json, body.as_bytes());
    assert_eq!(d.batch.spans.len(), 1);
    assert_eq!(d.batch.spans[0].name, "good");
    assert_eq!(d.rejected_spans, 5);
    assert!(
        d.errors[0].starts_with("spans[0]: traceId"),
        "{}",
        d.errors[0]
    );
    assert!(d.errors[1].starts_with("spans[2]: id must not be all zeros"));
    assert!(
        d.errors[2].starts_with("spans[3]: timestamp:"),
        "{}",
        d.errors[2]
    );
    assert!(
        d.errors[3].starts_with("spans[4]: traceId"),
        "{}",
        d.errors[3]
    );
    assert!(d.errors[4].starts_with("spans[5]: span: expected an object"));
}

#[test]
fn v2_json_undecodable_bodies_are_errors() {
    let e = decode(Encoding::V2Json, b"[{\"traceId\": ").unwrap_err();
    assert!(e.to_string().contains("Zipkin v2 JSON"), "{e}");
    let e = decode(Encoding::V2Json, b"{\"traceId\": \"1\"}").unwrap_err();
    assert!(e.to_string().contains("expected an array"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// v2 proto
// ---------------------------------------------------------------------------------------------

#[test]
fn v2_proto_golden() {
    let mut tags = std::collections::BTreeMap::new();
    tags.insert("otel.status_code".to_string(), "OK".to_string());
    tags.insert("db.system".to_string(), "mysql".to_string());
    let list = ListOfSpans {
        spans: vec![
            PbSpan {
                trace_id: 0x1234u128.to_be_bytes().to_vec(),
                id: 7u64.to_be_bytes().to_vec(),
                parent_id: 3u64.to_be_bytes().to_vec(),
                kind: 3,
                name: "send".into(),
                timestamp: 1_000_000,
                duration: 25,
                local_endpoint: Some(PbEndpoint {
                    service_name: "queue-writer".into(),
                    ipv4: vec![10, 0, 0, 7],
                    ipv6: vec![],
                    port: 5672,
                }),
                remote_endpoint: Some(PbEndpoint {
                    service_name: "rabbit".into(),
                    ..PbEndpoint::default()
                }),
                annotations: vec![PbAnnotation {
                    timestamp: 1_000_010,
                    value: "flushed".into(),
                }],
                tags,
                debug: true,
                shared: false,
            },
            PbSpan {
                trace_id: vec![1, 2, 3],
                id: 8u64.to_be_bytes().to_vec(),
                ..PbSpan::default()
            },
            PbSpan {
                // 64-bit trace ID as 8 bytes.
                trace_id: 0x99u64.to_be_bytes().to_vec(),
                id: 9u64.to_be_bytes().to_vec(),
                kind: 4,
                ..PbSpan::default()
            },
        ],
    };
    let d = decode_ok(Encoding::V2Proto, &list.encode_to_vec());
    assert_eq!(d.rejected_spans, 1);
    assert_eq!(d.errors, ["spans[1]: traceId must be 8 or 16 bytes, got 3"]);
    let [a, c] = &d.batch.spans[..] else {
        panic!("two spans expected")
    };
    assert_eq!(a.trace_id, TraceId::from_u128(0x1234));
    assert_eq!(a.span_id, SpanId::from_u64(7));
    assert_eq!(a.parent_span_id, SpanId::from_u64(3));
    assert_eq!(a.kind, SpanKind::Producer);
    assert_eq!((a.start_ns, a.end_ns), (1_000_000_000, 1_000_025_000));
    assert_eq!(a.service(), "queue-writer");
    assert_eq!(str_attr(a, HOST_IP), Some("10.0.0.7"));
    assert_eq!(attr(&a.attributes, HOST_PORT), Some(&Value::Int(5672)));
    assert_eq!(str_attr(a, PEER_SERVICE), Some("rabbit"));
    assert_eq!(attr(&a.attributes, PEER_IP), None);
    assert_eq!(str_attr(a, "db.system"), Some("mysql"));
    assert_eq!(a.status.code, StatusCode::Ok);
    assert_eq!(attr(&a.attributes, "otel.status_code"), None);
    assert_eq!(a.events[0].name, "flushed");
    assert_eq!(c.trace_id, TraceId::from_u128(0x99));
    assert_eq!(c.kind, SpanKind::Consumer);
}

#[test]
fn v2_proto_garbage_is_an_error() {
    let e = decode(Encoding::V2Proto, &[0x0a, 0xff, 0xff, 0xff]).unwrap_err();
    assert!(e.to_string().contains("Zipkin v2 protobuf"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// Conversion rules
// ---------------------------------------------------------------------------------------------

fn zspan(id: u64) -> ZipkinSpan {
    ZipkinSpan {
        trace_id: TraceId::from_u128(1),
        id: SpanId::from_u64(id),
        timestamp_us: Some(5),
        local_endpoint: Some(Endpoint {
            service_name: "svc".into(),
            ..Endpoint::default()
        }),
        ..ZipkinSpan::default()
    }
}

fn convert(spans: Vec<ZipkinSpan>) -> Vec<Span> {
    let entries = spans
        .into_iter()
        .enumerate()
        .map(|(index, s)| Entry { index, span: Ok(s) })
        .collect();
    to_model(entries).batch.spans
}

fn with_tags(id: u64, tags: &[(&str, &str)]) -> ZipkinSpan {
    ZipkinSpan {
        tags: tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..zspan(id)
    }
}

#[test]
fn kinds_map_and_span_kind_tag_is_the_fallback() {
    let mut spans = Vec::new();
    for (i, k) in [Kind::Client, Kind::Server, Kind::Producer, Kind::Consumer]
        .into_iter()
        .enumerate()
    {
        spans.push(ZipkinSpan {
            kind: Some(k),
            ..zspan(i as u64 + 1)
        });
    }
    spans.push(with_tags(10, &[("span.kind", "internal")]));
    spans.push(with_tags(11, &[("span.kind", "weird")]));
    spans.push(ZipkinSpan {
        kind: Some(Kind::Client),
        ..with_tags(12, &[("span.kind", "server")])
    });
    let got = convert(spans);
    let kinds: Vec<_> = got.iter().map(|s| s.kind).collect();
    assert_eq!(
        kinds,
        [
            SpanKind::Client,
            SpanKind::Server,
            SpanKind::Producer,
            SpanKind::Consumer,
            SpanKind::Internal,
            SpanKind::Unspecified,
            SpanKind::Client,
        ]
    );
    assert_eq!(attr(&got[4].attributes, "span.kind"), None);
    assert_eq!(str_attr(&got[5], "span.kind"), Some("weird"));
    assert_eq!(str_attr(&got[6], "span.kind"), Some("server"));
}

#[test]
fn shared_server_span_keeps_the_client_span_id() {
    let client = ZipkinSpan {
        kind: Some(Kind::Client),
        parent_id: SpanId::from_u64(1),
        ..zspan(2)
    };
    let server = ZipkinSpan {
        kind: Some(Kind::Server),
        shared: true,
        ..client.clone()
    };
    let got = convert(vec![client, server]);
    assert_eq!(got[0].span_id, got[1].span_id);
    assert_eq!(got[1].parent_span_id, SpanId::from_u64(1));
    assert_eq!(got[1].kind, SpanKind::Server);
}

#[test]
fn status_rules() {
    let got = convert(vec![
        with_tags(1, &[("error", "true")]),
        with_tags(2, &[("error", "false")]),
        with_tags(3, &[("otel.status_code", "OK"), ("error", "boom")]),
        with_tags(
            4,
            &[
                ("otel.status_code", "ERROR"),
                ("otel.status_description", "bad gateway"),
            ],
        ),
        with_tags(5, &[("otel.status_code", "maybe")]),
        with_tags(6, &[]),
    ]);
    let codes: Vec<_> = got.iter().map(|s| s.status.code).collect();
    assert_eq!(
        codes,
        [
            StatusCode::Error,
            StatusCode::Error,
            StatusCode::Ok,
            StatusCode::Error,
            StatusCode::Unset,
            StatusCode::Unset,
        ]
    );
    assert_eq!(attr(&got[0].attributes, "error"), None);
    assert_eq!(str_attr(&got[1], "error"), Some("false"));
    assert_eq!(str_attr(&got[2], "error"), Some("boom"));
    assert_eq!(got[3].status.message, "bad gateway");
    assert_eq!(attr(&got[3].attributes, "otel.status_description"), None);
    assert_eq!(str_attr(&got[4], "otel.status_code"), Some("maybe"));
}

#[test]
fn timing_parents_and_services() {
    let got = convert(vec![
        ZipkinSpan {
            timestamp_us: None,
            duration_us: Some(7),
            local_endpoint: None,
            ..zspan(1)
        },
        ZipkinSpan {
            timestamp_us: Some(0),
            parent_id: SpanId::from_u64(2),
            local_endpoint: Some(Endpoint::default()),
            ..zspan(2)
        },
        ZipkinSpan {
            duration_us: Some(3),
            parent_id: SpanId::from_u64(9),
            ..zspan(3)
        },
        zspan(4),
    ]);
    assert_eq!((got[0].start_ns, got[0].end_ns), (0, 7_000));
    assert_eq!(
        attr(&got[0].attributes, ABSENT_START_TIME),
        Some(&Value::Bool(true))
    );
    assert_eq!(got[0].service(), NO_SERVICE_NAME);
    // Timestamp 0 is absent too; a parent equal to the span's own ID is no parent.
    assert_eq!(
        attr(&got[1].attributes, ABSENT_START_TIME),
        Some(&Value::Bool(true))
    );
    assert!(!got[1].has_parent());
    assert_eq!(got[1].service(), NO_SERVICE_NAME);
    assert_eq!((got[2].start_ns, got[2].end_ns), (5_000, 8_000));
    assert_eq!(got[2].parent_span_id, SpanId::from_u64(9));
    assert_eq!(attr(&got[2].attributes, ABSENT_START_TIME), None);
    // Spans of one service share one resource; spans without a library share one scope.
    assert!(Arc::ptr_eq(&got[2].resource, &got[3].resource));
    assert!(Arc::ptr_eq(&got[0].resource, &got[1].resource));
    assert!(!Arc::ptr_eq(&got[0].resource, &got[2].resource));
    assert!(Arc::ptr_eq(&got[0].scope, &got[3].scope));
}

#[test]
fn hex_ids_accept_64_and_128_bits_and_reject_the_rest() {
    assert_eq!(
        trace_id_from_hex(Some("00000000000000ab")),
        Ok(TraceId::from_u128(0xab))
    );
    assert_eq!(
        trace_id_from_hex(Some("463ac35c9f6413ad48485a3953bb6124")),
        Ok(TraceId::from_u128(0x463ac35c9f6413ad48485a3953bb6124))
    );
    assert!(matches!(
        trace_id_from_hex(Some("463ac35c9f6413ad48485a3953bb61245")),
        Err(SpanProblem::TraceIdHex(_))
    ));
    assert_eq!(trace_id_from_hex(None), Err(SpanProblem::MissingTraceId));
    assert_eq!(
        trace_id_from_hex(Some("00000000000000000000000000000000")),
        Err(SpanProblem::TraceIdZero)
    );
    assert!(matches!(
        span_id_from_hex(Some("xyz")),
        Err(SpanProblem::IdHex(_))
    ));
    assert_eq!(
        parent_id_from_hex(Some("0000000000000000")),
        Ok(SpanId::ZERO)
    );
    assert!(parent_id_from_hex(Some("-1")).is_err());
    // A long bad value is cut in the message.
    let long = "g".repeat(500);
    let msg = trace_id_from_hex(Some(&long)).unwrap_err().to_string();
    assert!(msg.len() < 120, "{msg}");
}

// ---------------------------------------------------------------------------------------------
// Arbitrary bytes never panic
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn v2_json_never_panics(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode(Encoding::V2Json, &body);
    }

    #[test]
    fn v1_json_never_panics(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode(Encoding::V1Json, &body);
    }

    #[test]
    fn v2_proto_never_panics(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode(Encoding::V2Proto, &body);
    }

    #[test]
    fn v1_thrift_never_panics(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode(Encoding::V1Thrift, &body);
        // Behind a valid list header the bytes reach the span reader.
        let mut framed = vec![0x0c, 0, 0, 0, 2];
        framed.extend_from_slice(&body);
        let _ = decode(Encoding::V1Thrift, &framed);
    }

    #[test]
    fn json_span_fields_of_any_type_never_panic(
        key in prop::sample::select(vec!["traceId", "id", "parentId", "kind", "timestamp",
            "duration", "localEndpoint", "annotations", "tags", "binaryAnnotations", "debug"]),
        value in prop_oneof![
            Just(serde_json::json!(null)), Just(serde_json::json!(-1)),
            Just(serde_json::json!(1.5e300)), Just(serde_json::json!("x")),
            Just(serde_json::json!([1, {"a": null}])), Just(serde_json::json!({"port": 70000})),
        ],
    ) {
        let mut span = serde_json::json!({"traceId": "1", "id": "2"});
        span[key] = value;
        let body = serde_json::json!([span]).to_string();
        let _ = decode(Encoding::V2Json, body.as_bytes());
        let _ = decode(Encoding::V1Json, body.as_bytes());
    }
}
