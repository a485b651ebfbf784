//! Test support: `jaeger.api_v2` span builders, and a set of rich spans that survive
//! api_v2 → model → api_v2 unchanged (special tags already in Jaeger's order, every span with
//! its own process, flags 0). Used by the converter's round-trip test and the gRPC tests.

use crate::proto::api_v2::{self, Log, Process, SpanRef, SpanRefType, ValueType};

/// Start time of the first rich span (2023-11-14T22:13:20.123456789Z).
pub(crate) const START_NS: u64 = 1_700_000_000_123_456_789;
/// Trace ID of the rich spans.
pub(crate) const TRACE: u128 = 0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736;
/// Another trace, only referenced.
pub(crate) const OTHER_TRACE: u128 = 0x1111_2222_3333_4444_5555_6666_7777_8888;

fn tag(key: &str, v_type: ValueType) -> api_v2::KeyValue {
    api_v2::KeyValue {
        key: key.into(),
        v_type: v_type as i32,
        ..Default::default()
    }
}

pub(crate) fn str_tag(key: &str, v: &str) -> api_v2::KeyValue {
    api_v2::KeyValue {
        v_str: v.into(),
        ..tag(key, ValueType::String)
    }
}

pub(crate) fn bool_tag(key: &str, v: bool) -> api_v2::KeyValue {
    api_v2::KeyValue {
        v_bool: v,
        ..tag(key, ValueType::Bool)
    }
}

pub(crate) fn int_tag(key: &str, v: i64) -> api_v2::KeyValue {
    api_v2::KeyValue {
        v_int64: v,
        ..tag(key, ValueType::Int64)
    }
}

pub(crate) fn float_tag(key: &str, v: f64) -> api_v2::KeyValue {
    api_v2::KeyValue {
        v_float64: v,
        ..tag(key, ValueType::Float64)
    }
}

pub(crate) fn binary_tag(key: &str, v: &[u8]) -> api_v2::KeyValue {
    api_v2::KeyValue {
        v_binary: v.to_vec(),
        ..tag(key, ValueType::Binary)
    }
}

pub(crate) fn timestamp(ns: u64) -> prost_types::Timestamp {
    crate::proto::time::timestamp(ns)
}

pub(crate) fn process(service: &str, tags: Vec<api_v2::KeyValue>) -> Process {
    Process {
        service_name: service.into(),
        tags,
    }
}

pub(crate) fn reference(trace: u128, span: u64, ref_type: SpanRefType) -> SpanRef {
    SpanRef {
        trace_id: trace.to_be_bytes().to_vec(),
        span_id: span.to_be_bytes().to_vec(),
        ref_type: ref_type as i32,
    }
}

/// A minimal valid span of service `service` (its own process, no tags).
pub(crate) fn span(trace: u128, id: u64, service: &str, op: &str, start_ns: u64) -> api_v2::Span {
    api_v2::Span {
        trace_id: trace.to_be_bytes().to_vec(),
        span_id: id.to_be_bytes().to_vec(),
        operation_name: op.into(),
        start_time: Some(timestamp(start_ns)),
        duration: Some(crate::proto::time::duration(1_500_000)),
        process: Some(process(service, Vec::new())),
        ..Default::default()
    }
}

/// Four spans of [`TRACE`], in start-time order: a server root with tags of every type, the
/// special tags, logs and a warning; a client child with CHILD_OF/FOLLOWS_FROM references into
/// other traces and another process; a consumer span whose only parent is FOLLOWS_FROM; and a
/// plain internal span with status OK.
pub(crate) fn rich_spans() -> Vec<api_v2::Span> {
    let frontend = process(
        "frontend",
        vec![
            str_tag("ip", "10.0.0.1"),
            int_tag("pid", 4242),
            bool_tag("canary", false),
            float_tag("weight", 0.25),
            binary_tag("blob", &[0xde, 0xad]),
        ],
    );
    let root = api_v2::Span {
        tags: vec![
            str_tag("otel.scope.name", "io.example.http"),
            str_tag("otel.scope.version", "1.2.3"),
            str_tag("http.method", "GET"),
            bool_tag("cache.hit", true),
            int_tag("http.status_code", 503),
            int_tag("big", i64::MAX),
            float_tag("ratio", 72.5),
            binary_tag("payload", &[0, 1, 2, 0xff]),
            str_tag("span.kind", "server"),
            str_tag("otel.status_code", "ERROR"),
            bool_tag("error", true),
            str_tag("otel.status_description", "upstream unavailable"),
            str_tag("w3c.tracestate", "vendor=abc"),
        ],
        logs: vec![
            Log {
                timestamp: Some(timestamp(START_NS + 1_000)),
                fields: vec![
                    str_tag("event", "retry"),
                    int_tag("attempt", 2),
                    float_tag("backoff", 0.5),
                ],
            },
            Log {
                timestamp: Some(timestamp(START_NS + 2_000)),
                fields: vec![str_tag("message", "no event name"), bool_tag("ok", false)],
            },
            // Go's unset time survives as Go's unset time.
            Log {
                timestamp: Some(prost_types::Timestamp {
                    seconds: crate::proto::time::GO_ZERO_TIME_SECS,
                    nanos: 0,
                }),
                fields: vec![str_tag("event", "undated")],
            },
        ],
        warnings: vec!["first warning".into(), "second warning".into()],
        duration: Some(crate::proto::time::duration(25_000_000)),
        process: Some(frontend.clone()),
        ..span(TRACE, 1, "frontend", "GET /cart", START_NS)
    };
    let client = api_v2::Span {
        references: vec![
            reference(TRACE, 1, SpanRefType::ChildOf),
            reference(OTHER_TRACE, 7, SpanRefType::FollowsFrom),
            reference(OTHER_TRACE, 8, SpanRefType::ChildOf),
        ],
        tags: vec![
            str_tag("peer.service", "cart"),
            str_tag("span.kind", "client"),
        ],
        process: Some(process("backend", vec![str_tag("region", "eu-1")])),
        ..span(TRACE, 2, "backend", "call cart", START_NS + 10_000)
    };
    let consumer = api_v2::Span {
        references: vec![reference(TRACE, 2, SpanRefType::FollowsFrom)],
        tags: vec![str_tag("span.kind", "consumer")],
        process: Some(process("backend", vec![str_tag("region", "eu-1")])),
        ..span(TRACE, 3, "backend", "consume", START_NS + 20_000)
    };
    let internal = api_v2::Span {
        references: vec![reference(TRACE, 1, SpanRefType::ChildOf)],
        tags: vec![
            str_tag("span.kind", "internal"),
            str_tag("otel.status_code", "OK"),
        ],
        process: Some(frontend),
        ..span(TRACE, 4, "frontend", "render", START_NS + 30_000)
    };
    vec![root, client, consumer, internal]
}
