//! Expected JSON here is written by hand from the wire reference, not produced by the code.

use super::*;
use crate::model::span::{KeyValue, Link, Scope, Status, StatusCode};
use crate::model::ServiceSummary;
use crate::model::SpanId;

/// The UI JSON of a trace as a tree, to compare with hand-written expectations.
fn trace_to_json(t: &Trace) -> Json {
    serde_json::to_value(UiTrace::new(t)).expect("serializes")
}

fn tag_json(key: &str, value: &Value) -> Json {
    serde_json::to_value(TagJson(key, TagValue::Attr(value))).expect("serializes")
}

fn to_json(body: impl Serialize) -> Json {
    serde_json::to_value(body).expect("serializes")
}

const TRACE: u128 = 0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736;
const SPAN_A: u64 = 0x00f0_67aa_0ba9_02b7;
const SPAN_B: u64 = 0x5399_5c3f_42cd_8ad8;
const T0: u64 = 1_721_390_000_000_000_000;

fn resource(attrs: Vec<KeyValue>) -> Arc<Resource> {
    Arc::new(Resource {
        attributes: attrs,
        ..Default::default()
    })
}

fn frontend() -> Arc<Resource> {
    resource(vec![
        KeyValue::string("host.name", "web-1"),
        KeyValue::string("service.name", "frontend"),
    ])
}

fn event(time_ns: u64, name: &str, attrs: Vec<KeyValue>) -> Event {
    Event {
        time_ns,
        name: name.into(),
        attributes: attrs,
        ..Default::default()
    }
}

fn link(trace: u128, span: u64, attrs: Vec<KeyValue>) -> Link {
    Link {
        trace_id: TraceId::from_u128(trace),
        span_id: SpanId::from_u64(span),
        attributes: attrs,
        ..Default::default()
    }
}

fn sample_trace() -> Trace {
    let scope = Arc::new(Scope {
        name: "io.opentelemetry.http".into(),
        version: "1.2".into(),
        attributes: vec![KeyValue::string("dropped", "x")],
        ..Default::default()
    });
    let mut a = Span {
        trace_id: TraceId::from_u128(TRACE),
        span_id: SpanId::from_u64(SPAN_A),
        name: "GET /cart".into(),
        kind: SpanKind::Server,
        start_ns: T0 + 123,
        end_ns: T0 + 123 + 2_500_000,
        attributes: vec![
            KeyValue::new("http.status_code", Value::Int(200)),
            KeyValue::new("big", Value::Int(9_007_199_254_740_992)),
            KeyValue::new("small", Value::Int(-9_007_199_254_740_991)),
            KeyValue::new("payload", Value::Bytes(vec![1, 2, 3])),
            KeyValue::new("ratio", Value::Double(0.5)),
            KeyValue::new("cached", Value::Bool(true)),
            KeyValue::new(
                "list",
                Value::Array(vec![Value::Int(1), Value::Str("a".into())]),
            ),
            KeyValue::new(
                "obj",
                Value::Map(vec![
                    KeyValue::new("b", Value::Int(1)),
                    KeyValue::string("a", "<x>"),
                ]),
            ),
        ],
        events: vec![
            event(
                T0 + 400_999,
                "cache.miss",
                vec![KeyValue::string("key", "cart-1")],
            ),
            event(
                T0 + 500_000,
                "ignored",
                vec![
                    KeyValue::string("event", "explicit"),
                    KeyValue::string("level", "info"),
                ],
            ),
            event(T0 + 600_000, "", vec![KeyValue::new("x", Value::Int(1))]),
        ],
        status: Status {
            code: StatusCode::Ok,
            message: String::new(),
        },
        trace_state: "k=v".into(),
        resource: frontend(),
        scope,
        ..Default::default()
    };
    a.add_warning("clock skew adjusted");

    let b = Span {
        trace_id: TraceId::from_u128(TRACE),
        span_id: SpanId::from_u64(SPAN_B),
        parent_span_id: SpanId::from_u64(SPAN_A),
        name: "SELECT cart".into(),
        kind: SpanKind::Client,
        start_ns: T0 + 400_000,
        end_ns: T0 + 1_300_000,
        links: vec![
            link(
                TRACE,
                SPAN_A,
                vec![KeyValue::string("opentracing.ref_type", "follows_from")],
            ),
            link(
                0xabc,
                1,
                vec![
                    KeyValue::string("opentracing.ref_type", "child_of"),
                    KeyValue::string("other", "x"),
                ],
            ),
            link(TRACE, 2, vec![]),
        ],
        status: Status {
            code: StatusCode::Error,
            message: "boom".into(),
        },
        resource: resource(vec![KeyValue::string("service.name", "cartdb")]),
        ..Default::default()
    };

    // A different Arc with the same content as A's resource, and an end before its start.
    let c = Span {
        trace_id: TraceId::from_u128(TRACE),
        span_id: SpanId::from_u64(3),
        name: "bg".into(),
        start_ns: 1_000_000,
        end_ns: 999,
        flags: 1,
        resource: frontend(),
        ..Default::default()
    };
    Trace {
        trace_id: TraceId::from_u128(TRACE),
        spans: vec![a, b, c],
    }
}

#[test]
fn trace_converts_to_the_ui_shape() {
    let expected = json!({
        "traceID": "4bf92f3577b34da6a3ce929d0e0e4736",
        "spans": [
            {
                "traceID": "4bf92f3577b34da6a3ce929d0e0e4736",
                "spanID": "00f067aa0ba902b7",
                "operationName": "GET /cart",
                "references": [],
                "startTime": 1_721_390_000_000_000u64,
                "duration": 2500,
                "tags": [
                    {"key": "otel.scope.name", "type": "string", "value": "io.opentelemetry.http"},
                    {"key": "otel.scope.version", "type": "string", "value": "1.2"},
                    {"key": "http.status_code", "type": "int64", "value": 200},
                    {"key": "big", "type": "int64", "value": "9007199254740992"},
                    {"key": "small", "type": "int64", "value": -9_007_199_254_740_991i64},
                    {"key": "payload", "type": "binary", "value": "AQID"},
                    {"key": "ratio", "type": "float64", "value": 0.5},
                    {"key": "cached", "type": "bool", "value": true},
                    {"key": "list", "type": "string", "value": "[1,\"a\"]"},
                    {"key": "obj", "type": "string", "value": r#"{"a":"\u003cx\u003e","b":1}"#},
                    {"key": "span.kind", "type": "string", "value": "server"},
                    {"key": "otel.status_code", "type": "string", "value": "OK"},
                    {"key": "w3c.tracestate", "type": "string", "value": "k=v"}
                ],
                "logs": [
                    {"timestamp": 1_721_390_000_000_400u64, "fields": [
                        {"key": "event", "type": "string", "value": "cache.miss"},
                        {"key": "key", "type": "string", "value": "cart-1"}
                    ]},
                    {"timestamp": 1_721_390_000_000_500u64, "fields": [
                        {"key": "event", "type": "string", "value": "explicit"},
                        {"key": "level", "type": "string", "value": "info"}
                    ]},
                    {"timestamp": 1_721_390_000_000_600u64, "fields": [
                        {"key": "x", "type": "int64", "value": 1}
                    ]}
                ],
                "processID": "p1",
                "warnings": ["clock skew adjusted"]
            },
            {
                "traceID": "4bf92f3577b34da6a3ce929d0e0e4736",
                "spanID": "53995c3f42cd8ad8",
                "operationName": "SELECT cart",
                "references": [
                    {"refType": "FOLLOWS_FROM", "traceID": "4bf92f3577b34da6a3ce929d0e0e4736", "spanID": "00f067aa0ba902b7"},
                    {"refType": "CHILD_OF", "traceID": "0000000000000abc", "spanID": "0000000000000001"},
                    {"refType": "FOLLOWS_FROM", "traceID": "4bf92f3577b34da6a3ce929d0e0e4736", "spanID": "0000000000000002"}
                ],
                "startTime": 1_721_390_000_000_400u64,
                "duration": 900,
                "tags": [
                    {"key": "span.kind", "type": "string", "value": "client"},
                    {"key": "otel.status_code", "type": "string", "value": "ERROR"},
                    {"key": "error", "type": "bool", "value": true},
                    {"key": "otel.status_description", "type": "string", "value": "boom"}
                ],
                "logs": [],
                "processID": "p2",
                "warnings": null
            },
            {
                "traceID": "4bf92f3577b34da6a3ce929d0e0e4736",
                "spanID": "0000000000000003",
                "operationName": "bg",
                "references": [],
                "startTime": 1000,
                "duration": 0,
                "tags": [],
                "logs": [],
                "processID": "p1",
                "warnings": null
            }
        ],
        "processes": {
            "p1": {"serviceName": "frontend", "tags": [{"key": "host.name", "type": "string", "value": "web-1"}]},
            "p2": {"serviceName": "cartdb", "tags": []}
        },
        "warnings": null
    });
    assert_eq!(trace_to_json(&sample_trace()), expected);
}

#[test]
fn fields_come_in_the_order_of_jaegers_structs() {
    let text = serde_json::to_string(&envelope([UiTrace::new(&sample_trace())], 0, None))
        .expect("serializes");
    let position = |needle: &str| text.find(needle).unwrap_or(usize::MAX);
    let in_order = |fields: &[&str]| {
        let at: Vec<usize> = fields.iter().map(|f| position(f)).collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{fields:?} in {text}");
    };
    in_order(&[
        "{\"data\":[{\"traceID\":",
        "\"total\":0,\"limit\":0,\"offset\":0,\"errors\":null}",
    ]);
    in_order(&[
        "\"spans\":[{\"traceID\":",
        "\"spanID\":",
        "\"operationName\":",
        "\"references\":",
        "\"startTime\":",
        "\"duration\":",
        "\"tags\":[{\"key\":",
        "\"logs\":",
        "\"processID\":\"p1\",\"warnings\":",
        "\"processes\":{\"p1\":{\"serviceName\":\"frontend\",\"tags\":",
        "\"p2\":{\"serviceName\":\"cartdb\",\"tags\":[]}},\"warnings\":null}]",
    ]);
    assert!(text.contains(r#"{"key":"host.name","type":"string","value":"web-1"}"#));
}

#[test]
fn parent_reference_comes_first_even_without_links() {
    let mut t = sample_trace();
    t.spans[1].links.clear();
    let refs = &trace_to_json(&t)["spans"][1]["references"];
    assert_eq!(
        refs,
        &json!([{"refType": "CHILD_OF", "traceID": "4bf92f3577b34da6a3ce929d0e0e4736", "spanID": "00f067aa0ba902b7"}])
    );
}

#[test]
fn short_trace_ids_and_service_name_edge_cases() {
    let span = |id: u64, res: Arc<Resource>| Span {
        trace_id: TraceId::from_u128(0xabc),
        span_id: SpanId::from_u64(id),
        resource: res,
        ..Default::default()
    };
    let t = Trace {
        trace_id: TraceId::from_u128(0xabc),
        spans: vec![
            span(1, resource(vec![])),
            span(2, resource(vec![KeyValue::string("k", "v")])),
            span(
                3,
                resource(vec![
                    KeyValue::new("service.name", Value::Int(7)),
                    KeyValue::string("k", "v"),
                ]),
            ),
            span(4, resource(vec![KeyValue::string("k", "other")])),
        ],
    };
    let j = trace_to_json(&t);
    assert_eq!(j["traceID"], "0000000000000abc");
    assert_eq!(j["spans"][0]["traceID"], "0000000000000abc");
    let pids: Vec<&str> = (0..4)
        .map(|i| j["spans"][i]["processID"].as_str().unwrap())
        .collect();
    // Spans 2 and 3 have the same (serviceName "", tags) process.
    assert_eq!(pids, vec!["p1", "p2", "p2", "p3"]);
    assert_eq!(
        j["processes"],
        json!({
            "p1": {"serviceName": "OTLPResourceNoServiceName", "tags": []},
            "p2": {"serviceName": "", "tags": [{"key": "k", "type": "string", "value": "v"}]},
            "p3": {"serviceName": "", "tags": [{"key": "k", "type": "string", "value": "other"}]}
        })
    );
}

#[test]
fn odd_values_still_produce_valid_tags() {
    assert_eq!(
        tag_json("e", &Value::Empty),
        json!({"key": "e", "type": "string", "value": ""})
    );
    assert_eq!(
        tag_json("n", &Value::Double(f64::NAN)),
        json!({"key": "n", "type": "float64", "value": "NaN"})
    );
    assert_eq!(
        tag_json("m", &Value::Int(i64::MIN)),
        json!({"key": "m", "type": "int64", "value": "-9223372036854775808"})
    );
    assert_eq!(
        tag_json("s", &Value::Int(9_007_199_254_740_991)),
        json!({"key": "s", "type": "int64", "value": 9_007_199_254_740_991i64})
    );
}

#[test]
fn envelopes() {
    assert_eq!(
        to_json(envelope(["a", "b"], 2, None)),
        json!({"data": ["a", "b"], "total": 2, "limit": 0, "offset": 0, "errors": null})
    );
    assert_eq!(
        to_json(error_envelope(400, "parameter 'service' is required")),
        json!({"data": null, "total": 0, "limit": 0, "offset": 0,
               "errors": [{"code": 400, "msg": "parameter 'service' is required"}]})
    );
    assert_eq!(
        trace_not_found_item(&TraceId::from_u128(0x11)),
        json!({"msg": "trace not found", "traceID": "0000000000000011"})
    );
    assert_eq!(error_item(0, "x"), json!({"msg": "x"}));
    assert_eq!(
        v3_error_json(404, "No traces found"),
        json!({"error": {"httpCode": 404, "message": "No traces found"}})
    );
}

#[test]
fn summary_uses_32_hex_and_string_nanos() {
    let s = TraceSummary {
        trace_id: TraceId::from_u128(0x11),
        root_service_name: "frontend".into(),
        root_operation_name: "GET /".into(),
        min_start_ns: T0,
        max_end_ns: T0 + 5,
        span_count: 3,
        error_span_count: 1,
        orphan_span_count: 0,
        services: vec![ServiceSummary {
            name: "frontend".into(),
            span_count: 3,
            error_span_count: 1,
        }],
    };
    assert_eq!(
        summaries_json(&[s]),
        json!({"summaries": [{
            "traceId": "00000000000000000000000000000011",
            "rootServiceName": "frontend",
            "rootOperationName": "GET /",
            "minStartTimeUnixNano": "1721390000000000000",
            "maxEndTimeUnixNano": "1721390000000000005",
            "spanCount": 3,
            "errorSpanCount": 1,
            "orphanSpanCount": 0,
            "services": [{"name": "frontend", "spanCount": 3, "errorSpanCount": 1}]
        }]})
    );
}

#[test]
fn operations_in_both_generations() {
    let ops = [
        Operation {
            name: "GET /".into(),
            span_kind: SpanKind::Server,
        },
        Operation {
            name: "work".into(),
            span_kind: SpanKind::Unspecified,
        },
    ];
    assert_eq!(
        operations_v3_json(&ops),
        json!({"operations": [
            {"name": "GET /", "spanKind": "server"},
            {"name": "work", "spanKind": "internal"}
        ]})
    );
    assert_eq!(
        operations_json(&ops),
        json!([{"name": "GET /", "spanKind": "server"}, {"name": "work", "spanKind": ""}])
    );
}
