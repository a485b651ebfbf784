//! Builders of the binary golden inputs. Each is a realistic request of its format: a few spans
//! with typed tags, logs or annotations, references, process tags, kinds, errors, and one
//! invalid span where the format allows it.

use std::fs;
use std::path::Path;

use prost::Message as _;
use thrift::protocol::{
    TBinaryOutputProtocol, TFieldIdentifier, TListIdentifier, TMessageType, TOutputProtocol,
    TStructIdentifier, TType,
};

use crate::ingest::jaeger::test_encoder::{
    encode_agent_message, encode_batch, TBatch, TLog, TRef, TSpan, TTag, TValue,
};
use crate::ingest::jaeger::thrift::{duration_from_us, timestamp_from_us, ThriftProtocol};
use crate::ingest::otlp;
use crate::ingest::zipkin::v2_proto::{ListOfSpans, PbAnnotation, PbEndpoint, PbSpan};
use crate::proto::api_v2::{
    Batch, KeyValue, Log, PostSpansRequest, Process, Span, SpanRef, SpanRefType, ValueType,
};

/// 2023-11-14T22:13:20Z in µs.
const T0_US: i64 = 1_700_000_000_000_000;

pub fn write_all(dir: &Path) {
    let write = |rel: &str, bytes: Vec<u8>| {
        let path = dir.join(rel);
        fs::create_dir_all(path.parent().expect("a parent directory")).expect("mkdir");
        fs::write(&path, bytes).expect("writable golden input");
    };
    let hotrod = hotrod_thrift();
    write(
        "jaeger-thrift-binary/hotrod.bin",
        encode_batch(ThriftProtocol::Binary, &hotrod),
    );
    write(
        "jaeger-thrift-compact/hotrod.bin",
        encode_batch(ThriftProtocol::Compact, &hotrod),
    );
    write(
        "jaeger-agent-compact/hotrod.bin",
        encode_agent_message(
            ThriftProtocol::Compact,
            "emitBatch",
            TMessageType::OneWay,
            &hotrod,
        ),
    );
    write(
        "jaeger-proto/redis.bin",
        PostSpansRequest {
            batch: Some(redis_proto()),
        }
        .encode_to_vec(),
    );
    write("zipkin-v1-thrift/checkout.bin", zipkin_v1_thrift());
    write("zipkin-v2-proto/payments.bin", zipkin_v2_proto());
    // The OTLP protobuf case is the OTLP JSON case re-encoded: both must convert alike.
    let json = fs::read(dir.join("otlp-json/shop.json")).expect("otlp-json/shop.json");
    write(
        "otlp-proto/shop.bin",
        otlp::decode_json(&json)
            .expect("valid OTLP JSON")
            .encode_to_vec(),
    );
}

/// A HotROD-like frontend batch: server root, failing client call, error span with a
/// FOLLOWS_FROM reference, a span with scope and trace state, and one span without an ID.
fn hotrod_thrift() -> TBatch {
    let trace = |s: TSpan| TSpan {
        trace_high: 0x4bf9_2f35_77b3_4da6,
        trace_low: Some(0xa3ce_929d_0e0e_4736u64 as i64),
        ..s
    };
    TBatch {
        process: Some((
            "frontend",
            vec![
                TTag("hostname", TValue::Str("web-1")),
                TTag("ip", TValue::Str("10.0.0.7")),
                TTag("jaeger.version", TValue::Str("Go-2.30.0")),
                TTag("client-uuid", TValue::Str("6c1d2e7f")),
            ],
        )),
        spans: vec![
            trace(TSpan {
                span_id: Some(0x1),
                operation_name: "HTTP GET /dispatch",
                start_us: Some(T0_US),
                duration_us: 245_000,
                tags: vec![
                    TTag("span.kind", TValue::Str("server")),
                    TTag("http.method", TValue::Str("GET")),
                    TTag("http.status_code", TValue::Long(200)),
                    TTag("sampler.type", TValue::Str("const")),
                    TTag("sampler.param", TValue::Bool(true)),
                ],
                logs: vec![TLog {
                    timestamp_us: T0_US + 10,
                    fields: vec![
                        TTag("event", TValue::Str("HTTP request received")),
                        TTag("level", TValue::Str("info")),
                    ],
                }],
                ..TSpan::default()
            }),
            trace(TSpan {
                span_id: Some(0x2),
                parent_span_id: 0x1,
                operation_name: "HTTP GET /customer",
                start_us: Some(T0_US + 1_000),
                duration_us: 30_000,
                tags: vec![
                    TTag("span.kind", TValue::Str("client")),
                    TTag("http.status_code", TValue::Long(404)),
                    TTag("http.status_message", TValue::Str("Not Found")),
                    TTag("peer.service", TValue::Str("customer")),
                ],
                ..TSpan::default()
            }),
            trace(TSpan {
                span_id: Some(0x3),
                parent_span_id: 0x1,
                operation_name: "FindDriverIDs",
                start_us: Some(T0_US + 40_000),
                duration_us: 12_500,
                references: vec![TRef {
                    ref_type: 1,
                    trace_high: 0,
                    trace_low: 0x77,
                    span_id: 0x99,
                }],
                tags: vec![
                    TTag("error", TValue::Bool(true)),
                    TTag("otel.status_description", TValue::Str("redis timeout")),
                    TTag("retry.backoff", TValue::Double(0.25)),
                ],
                logs: vec![TLog {
                    timestamp_us: T0_US + 52_000,
                    fields: vec![
                        TTag("event", TValue::Str("error")),
                        TTag("error.object", TValue::Str("redis timeout")),
                        TTag("attempt", TValue::Long(3)),
                    ],
                }],
                unknown_field: true,
                ..TSpan::default()
            }),
            trace(TSpan {
                span_id: Some(0x4),
                parent_span_id: 0x1,
                operation_name: "render",
                start_us: Some(T0_US + 200_000),
                duration_us: 1_500,
                tags: vec![
                    TTag("otel.scope.name", TValue::Str("frontend/render")),
                    TTag("otel.scope.version", TValue::Str("1.4.0")),
                    TTag("w3c.tracestate", TValue::Str("vendor=abc")),
                    TTag("payload", TValue::Binary(vec![0xde, 0xad, 0xbe, 0xef])),
                    TTag("future", TValue::Unknown(9)),
                ],
                ..TSpan::default()
            }),
            trace(TSpan {
                span_id: None,
                operation_name: "lost-id",
                ..TSpan::default()
            }),
        ],
        seq_no: Some(42),
        client_stats: true,
    }
}

fn tag(key: &str, v_type: ValueType) -> KeyValue {
    KeyValue {
        key: key.into(),
        v_type: v_type as i32,
        ..KeyValue::default()
    }
}

fn str_tag(key: &str, v: &str) -> KeyValue {
    KeyValue {
        v_str: v.into(),
        ..tag(key, ValueType::String)
    }
}

fn int_tag(key: &str, v: i64) -> KeyValue {
    KeyValue {
        v_int64: v,
        ..tag(key, ValueType::Int64)
    }
}

/// An api_v2 batch as the gRPC collector receives it: a batch process and a span with its own,
/// an 8-byte trace ID, warnings, a FOLLOWS_FROM-only parent, a link into another trace, an
/// explicit OTel status, an unknown value type, a negative duration, an empty operation name,
/// and two invalid spans (3-byte trace ID, Go's zero start time).
fn redis_proto() -> Batch {
    let trace = 0x00c0_ffee_0000_0001u64.to_be_bytes().to_vec();
    let span = |id: u64| Span {
        trace_id: trace.clone(),
        span_id: id.to_be_bytes().to_vec(),
        start_time: Some(timestamp_from_us(T0_US)),
        duration: Some(duration_from_us(800)),
        flags: 1,
        ..Span::default()
    };
    let sref = |trace_id: Vec<u8>, id: u64, t: SpanRefType| SpanRef {
        trace_id,
        span_id: id.to_be_bytes().to_vec(),
        ref_type: t as i32,
    };
    let mut future = str_tag("future", "?");
    future.v_type = 7;
    Batch {
        process: Some(Process {
            service_name: "redis".into(),
            tags: vec![str_tag("hostname", "cache-2"), int_tag("shard", 4)],
        }),
        spans: vec![
            Span {
                operation_name: "GET".into(),
                tags: vec![
                    str_tag("span.kind", "client"),
                    str_tag("db.system", "redis"),
                    str_tag("otel.status_code", "ERROR"),
                    str_tag("otel.status_description", "connection reset"),
                    KeyValue {
                        v_float64: 1.5,
                        ..tag("latency.ms", ValueType::Float64)
                    },
                    future,
                ],
                warnings: vec!["clock skew adjusted".into()],
                logs: vec![Log {
                    timestamp: Some(timestamp_from_us(T0_US + 100)),
                    fields: vec![str_tag("event", "reconnect"), int_tag("attempt", 2)],
                }],
                ..span(0x10)
            },
            Span {
                operation_name: "enqueue".into(),
                references: vec![
                    sref(trace.clone(), 0x10, SpanRefType::FollowsFrom),
                    sref(
                        vec![0; 15].into_iter().chain([9]).collect(),
                        0x5,
                        SpanRefType::ChildOf,
                    ),
                ],
                process: Some(Process {
                    service_name: "worker".into(),
                    tags: vec![str_tag("jaeger.version", "Java-1.8.1")],
                }),
                tags: vec![str_tag("span.kind", "producer")],
                ..span(0x11)
            },
            Span {
                operation_name: String::new(),
                duration: Some(duration_from_us(-3)),
                ..span(0x12)
            },
            Span {
                trace_id: vec![1, 2, 3],
                operation_name: "bad-trace-id".into(),
                ..span(0x13)
            },
            Span {
                operation_name: "no-start".into(),
                start_time: Some(prost_types::Timestamp {
                    seconds: crate::ingest::jaeger::GO_ZERO_TIME_SECONDS,
                    nanos: 0,
                }),
                ..span(0x14)
            },
        ],
    }
}

/// Zipkin v1 Thrift `list<Span>`: a client span with `cs`/`cr` and typed binary annotations, a
/// server span (`sr`/`ss`) with a non-core annotation, and a span with a zero trace ID.
fn zipkin_v1_thrift() -> Vec<u8> {
    let mut buf = Vec::new();
    let mut p = TBinaryOutputProtocol::new(&mut buf, true);
    let f = |p: &mut TBinaryOutputProtocol<&mut Vec<u8>>, ty: TType, id: i16| {
        p.write_field_begin(&TFieldIdentifier::new("f", ty, id))
            .unwrap();
    };
    let endpoint = |p: &mut TBinaryOutputProtocol<&mut Vec<u8>>, id: i16, service: &str| {
        f(p, TType::Struct, id);
        p.write_struct_begin(&TStructIdentifier::new("Endpoint"))
            .unwrap();
        f(p, TType::I32, 1);
        p.write_i32(0x0a00_0005).unwrap(); // 10.0.0.5
        f(p, TType::I16, 2);
        p.write_i16(8080).unwrap();
        f(p, TType::String, 3);
        p.write_string(service).unwrap();
        p.write_field_stop().unwrap();
        p.write_struct_end().unwrap();
    };
    type Ann = (i64, &'static str);
    type BinAnn = (&'static str, Vec<u8>, i32);
    let span = |p: &mut TBinaryOutputProtocol<&mut Vec<u8>>,
                trace: i64,
                id: i64,
                parent: Option<i64>,
                name: &str,
                service: &str,
                anns: &[Ann],
                bins: &[BinAnn]| {
        p.write_struct_begin(&TStructIdentifier::new("Span"))
            .unwrap();
        f(p, TType::I64, 1);
        p.write_i64(trace).unwrap();
        f(p, TType::String, 3);
        p.write_string(name).unwrap();
        f(p, TType::I64, 4);
        p.write_i64(id).unwrap();
        if let Some(parent) = parent {
            f(p, TType::I64, 5);
            p.write_i64(parent).unwrap();
        }
        f(p, TType::List, 6);
        p.write_list_begin(&TListIdentifier::new(TType::Struct, anns.len() as i32))
            .unwrap();
        for (ts, value) in anns {
            p.write_struct_begin(&TStructIdentifier::new("Annotation"))
                .unwrap();
            f(p, TType::I64, 1);
            p.write_i64(*ts).unwrap();
            f(p, TType::String, 2);
            p.write_string(value).unwrap();
            endpoint(p, 3, service);
            p.write_field_stop().unwrap();
            p.write_struct_end().unwrap();
        }
        p.write_list_end().unwrap();
        f(p, TType::List, 8);
        p.write_list_begin(&TListIdentifier::new(TType::Struct, bins.len() as i32))
            .unwrap();
        for (key, value, kind) in bins {
            p.write_struct_begin(&TStructIdentifier::new("BinaryAnnotation"))
                .unwrap();
            f(p, TType::String, 1);
            p.write_string(key).unwrap();
            f(p, TType::String, 2);
            p.write_bytes(value).unwrap();
            f(p, TType::I32, 3);
            p.write_i32(*kind).unwrap();
            endpoint(p, 4, service);
            p.write_field_stop().unwrap();
            p.write_struct_end().unwrap();
        }
        p.write_list_end().unwrap();
        p.write_field_stop().unwrap();
        p.write_struct_end().unwrap();
    };
    p.write_list_begin(&TListIdentifier::new(TType::Struct, 3))
        .unwrap();
    span(
        &mut p,
        0x5af7_183f_b1d4_cf5f,
        0x100,
        None,
        "post /checkout",
        "checkout",
        &[(T0_US, "cs"), (T0_US + 90_000, "cr")],
        &[
            ("http.path", b"/checkout".to_vec(), 6),
            ("http.status_code", 503i32.to_be_bytes().to_vec(), 3),
            ("cache.hit", vec![0], 0),
        ],
    );
    span(
        &mut p,
        0x5af7_183f_b1d4_cf5f,
        0x101,
        Some(0x100),
        "charge",
        "billing",
        &[
            (T0_US + 5_000, "sr"),
            (T0_US + 6_000, "card validated"),
            (T0_US + 80_000, "ss"),
        ],
        &[("lc", b"billing-core".to_vec(), 6)],
    );
    span(
        &mut p,
        0,
        0x102,
        None,
        "zero-trace",
        "billing",
        &[(T0_US, "sr"), (T0_US + 1, "ss")],
        &[],
    );
    p.write_list_end().unwrap();
    buf
}

/// Zipkin v2 proto3 `ListOfSpans`: a server span with both endpoints, tags and an annotation, a
/// consumer span with an `error` tag, and a span with a 3-byte ID.
fn zipkin_v2_proto() -> Vec<u8> {
    let trace = 0x0af7_6519_16cd_43dd_8448_eb21_1c80_319cu128
        .to_be_bytes()
        .to_vec();
    let endpoint = |service: &str, ip: [u8; 4], port: i32| PbEndpoint {
        service_name: service.into(),
        ipv4: ip.to_vec(),
        port,
        ..PbEndpoint::default()
    };
    let tags = |kvs: &[(&str, &str)]| {
        kvs.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    ListOfSpans {
        spans: vec![
            PbSpan {
                trace_id: trace.clone(),
                id: 0x21u64.to_be_bytes().to_vec(),
                kind: 2, // SERVER
                name: "post /pay".into(),
                timestamp: T0_US as u64,
                duration: 42_000,
                local_endpoint: Some(endpoint("payments", [10, 1, 0, 2], 9000)),
                remote_endpoint: Some(endpoint("checkout", [10, 1, 0, 9], 0)),
                annotations: vec![PbAnnotation {
                    timestamp: T0_US as u64 + 2_000,
                    value: "fraud check passed".into(),
                }],
                tags: tags(&[("http.method", "POST"), ("http.status_code", "201")]),
                ..PbSpan::default()
            },
            PbSpan {
                trace_id: trace.clone(),
                id: 0x22u64.to_be_bytes().to_vec(),
                parent_id: 0x21u64.to_be_bytes().to_vec(),
                kind: 4, // CONSUMER
                name: "receipt".into(),
                timestamp: T0_US as u64 + 50_000,
                duration: 3_000,
                local_endpoint: Some(endpoint("mailer", [10, 1, 0, 3], 0)),
                tags: tags(&[
                    ("error", "smtp down"),
                    ("otel.library.name", "mailer-kafka"),
                ]),
                ..PbSpan::default()
            },
            PbSpan {
                trace_id: trace,
                id: vec![1, 2, 3],
                name: "bad-id".into(),
                timestamp: T0_US as u64,
                ..PbSpan::default()
            },
        ],
    }
    .encode_to_vec()
}
