use std::sync::Arc;

use ::thrift::protocol::TMessageType;
use proptest::prelude::*;
use prost::Message as _;

use super::test_encoder::{
    encode_agent_message, encode_batch, TBatch, TLog, TRef, TSpan, TTag, TValue,
};
use super::thrift::{
    decode_agent_message, decode_batch, duration_from_us, timestamp_from_us, ThriftProtocol,
};
use super::*;
use crate::model::span::find_attr;
use crate::proto::api_v2::{Log, SpanRef};

// ---------------------------------------------------------------------------------------------
// Builders
// ---------------------------------------------------------------------------------------------

const START_NS: u64 = 1_700_000_000_123_456_789;

fn kv(key: &str, v_type: ValueType) -> api_v2::KeyValue {
    api_v2::KeyValue {
        key: key.into(),
        v_type: v_type as i32,
        ..Default::default()
    }
}

fn s(key: &str, v: &str) -> api_v2::KeyValue {
    api_v2::KeyValue {
        v_str: v.into(),
        ..kv(key, ValueType::String)
    }
}

fn bl(key: &str, v: bool) -> api_v2::KeyValue {
    api_v2::KeyValue {
        v_bool: v,
        ..kv(key, ValueType::Bool)
    }
}

fn i(key: &str, v: i64) -> api_v2::KeyValue {
    api_v2::KeyValue {
        v_int64: v,
        ..kv(key, ValueType::Int64)
    }
}

fn ts(ns: u64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: (ns / 1_000_000_000) as i64,
        nanos: (ns % 1_000_000_000) as i32,
    }
}

fn tid(v: u128) -> Vec<u8> {
    v.to_be_bytes().to_vec()
}

fn sid(v: u64) -> Vec<u8> {
    v.to_be_bytes().to_vec()
}

fn span(id: u64) -> api_v2::Span {
    api_v2::Span {
        trace_id: tid(0xabc),
        span_id: sid(id),
        operation_name: "op".into(),
        start_time: Some(ts(START_NS)),
        duration: Some(prost_types::Duration {
            seconds: 0,
            nanos: 1000,
        }),
        ..Default::default()
    }
}

fn process(service: &str, tags: Vec<api_v2::KeyValue>) -> Process {
    Process {
        service_name: service.into(),
        tags,
    }
}

fn batch(spans: Vec<api_v2::Span>) -> Batch {
    Batch {
        spans,
        process: Some(process("svc", vec![])),
    }
}

/// Converts a batch whose spans must all be accepted.
fn convert(b: Batch) -> Vec<Span> {
    let d = to_model(b);
    assert_eq!(d.rejected_spans, 0, "{:?}", d.errors);
    d.batch.spans
}

fn one(sp: api_v2::Span) -> Span {
    convert(batch(vec![sp])).remove(0)
}

fn with_tags(tags: Vec<api_v2::KeyValue>) -> Span {
    one(api_v2::Span { tags, ..span(1) })
}

fn attr<'a>(s: &'a Span, key: &str) -> Option<&'a Value> {
    find_attr(&s.attributes, key)
}

fn sref(trace: u128, span: u64, t: SpanRefType) -> SpanRef {
    SpanRef {
        trace_id: tid(trace),
        span_id: sid(span),
        ref_type: t as i32,
    }
}

fn ref_type_of(l: &Link) -> &str {
    find_attr(&l.attributes, REF_TYPE_ATTRIBUTE)
        .and_then(Value::as_str)
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// Process → resource
// ---------------------------------------------------------------------------------------------

#[test]
fn batch_process_becomes_one_resource_with_typed_attributes() {
    let mut b = batch(vec![span(1), span(2)]);
    b.process = Some(process("svc", vec![i("pid", 42), bl("up", true)]));
    let spans = convert(b);
    assert!(Arc::ptr_eq(&spans[0].resource, &spans[1].resource));
    assert_eq!(
        spans[0].resource.attributes,
        vec![
            KeyValue::string("service.name", "svc"),
            KeyValue::new("pid", Value::Int(42)),
            KeyValue::new("up", Value::Bool(true)),
        ]
    );
}

#[test]
fn span_process_wins_over_batch_process() {
    let mut sp = span(1);
    sp.process = Some(process("own", vec![]));
    let spans = convert(batch(vec![sp, span(2)]));
    assert_eq!(spans[0].service(), "own");
    assert_eq!(spans[1].service(), "svc");
}

#[test]
fn equal_span_processes_share_one_resource_and_equal_batch_process() {
    let mut spans = vec![span(1), span(2), span(3)];
    spans[0].process = Some(process("svc", vec![]));
    spans[1].process = Some(process("svc", vec![]));
    spans[2].process = Some(process("svc", vec![i("x", 1)]));
    let mut b = batch(spans);
    b.spans.push(span(4));
    let out = convert(b);
    assert!(Arc::ptr_eq(&out[0].resource, &out[1].resource));
    assert!(Arc::ptr_eq(&out[0].resource, &out[3].resource));
    assert!(!Arc::ptr_eq(&out[0].resource, &out[2].resource));
}

#[test]
fn no_process_at_all_gets_null_process_service_name() {
    let out = convert(Batch {
        spans: vec![span(1)],
        process: None,
    });
    assert_eq!(out[0].service(), "null-process-and-service-name");
}

#[test]
fn empty_service_name_becomes_empty_service_name() {
    let mut b = batch(vec![span(1)]);
    b.process = Some(process("", vec![]));
    assert_eq!(convert(b)[0].service(), "empty-service-name");
}

#[test]
fn otlp_no_service_name_becomes_missing_service_name() {
    let mut b = batch(vec![span(1)]);
    b.process = Some(process("OTLPResourceNoServiceName", vec![]));
    assert_eq!(convert(b)[0].service(), "missing-service-name");
}

#[test]
fn hostname_tag_becomes_host_name_unless_host_name_is_present() {
    let mut b = batch(vec![span(1)]);
    b.process = Some(process("svc", vec![s("hostname", "h1")]));
    let r = &convert(b)[0].resource;
    assert_eq!(
        find_attr(&r.attributes, "host.name"),
        Some(&Value::Str("h1".into()))
    );
    assert_eq!(find_attr(&r.attributes, "hostname"), None);

    let mut b = batch(vec![span(1)]);
    b.process = Some(process(
        "svc",
        vec![s("hostname", "h1"), s("host.name", "h2")],
    ));
    let r = &convert(b)[0].resource;
    assert_eq!(
        find_attr(&r.attributes, "host.name"),
        Some(&Value::Str("h2".into()))
    );
    assert_eq!(
        find_attr(&r.attributes, "hostname"),
        Some(&Value::Str("h1".into()))
    );
}

#[test]
fn jaeger_version_tag_becomes_exporter_version() {
    let mut b = batch(vec![span(1)]);
    b.process = Some(process("svc", vec![s("jaeger.version", "Go-2.30.0")]));
    let r = &convert(b)[0].resource;
    assert_eq!(
        find_attr(&r.attributes, "opencensus.exporterversion"),
        Some(&Value::Str("Jaeger-Go-2.30.0".into()))
    );
    assert_eq!(find_attr(&r.attributes, "jaeger.version"), None);
}

// ---------------------------------------------------------------------------------------------
// Tags with a meaning
// ---------------------------------------------------------------------------------------------

#[test]
fn scope_tags_become_a_shared_scope_and_are_removed() {
    let tags = vec![
        s("otel.scope.name", "lib"),
        s("otel.scope.version", "1.2"),
        i("n", 1),
    ];
    let out = convert(batch(vec![
        api_v2::Span {
            tags: tags.clone(),
            ..span(1)
        },
        api_v2::Span { tags, ..span(2) },
    ]));
    assert_eq!(
        (out[0].scope.name.as_str(), out[0].scope.version.as_str()),
        ("lib", "1.2")
    );
    assert!(Arc::ptr_eq(&out[0].scope, &out[1].scope));
    assert_eq!(out[0].attributes, vec![KeyValue::new("n", Value::Int(1))]);
}

#[test]
fn library_tags_are_the_older_spelling_of_scope() {
    let sp = with_tags(vec![
        s("otel.library.name", "old"),
        s("otel.library.version", "0.1"),
    ]);
    assert_eq!(
        (sp.scope.name.as_str(), sp.scope.version.as_str()),
        ("old", "0.1")
    );
    assert!(sp.attributes.is_empty());
}

#[test]
fn span_kind_tag_becomes_kind_and_is_removed() {
    let sp = with_tags(vec![s("span.kind", "server")]);
    assert_eq!(sp.kind, SpanKind::Server);
    assert!(sp.attributes.is_empty());
}

#[test]
fn unknown_span_kind_stays_a_tag() {
    let sp = with_tags(vec![s("span.kind", "sideways")]);
    assert_eq!(sp.kind, SpanKind::Unspecified);
    assert_eq!(attr(&sp, "span.kind"), Some(&Value::Str("sideways".into())));
}

#[test]
fn error_true_sets_error_status_with_the_status_description() {
    let sp = with_tags(vec![
        bl("error", true),
        s("otel.status_description", "boom"),
        s("http.status_message", "Bad Gateway"),
    ]);
    assert_eq!(sp.status.code, StatusCode::Error);
    assert_eq!(sp.status.message, "boom");
    assert_eq!(attr(&sp, "error"), None);
    assert_eq!(attr(&sp, "otel.status_description"), None);
    assert!(attr(&sp, "http.status_message").is_some());
}

#[test]
fn error_true_takes_its_message_from_http_status_message_otherwise() {
    let sp = with_tags(vec![
        bl("error", true),
        s("http.status_message", "Bad Gateway"),
    ]);
    assert_eq!(sp.status.message, "Bad Gateway");
    assert_eq!(
        attr(&sp, "http.status_message"),
        Some(&Value::Str("Bad Gateway".into()))
    );
}

#[test]
fn error_true_wins_over_otel_status_code_which_is_removed() {
    let sp = with_tags(vec![s("otel.status_code", "OK"), bl("error", true)]);
    assert_eq!(sp.status.code, StatusCode::Error);
    assert!(sp.attributes.is_empty());
}

#[test]
fn error_false_or_non_bool_error_stays_a_tag() {
    let sp = with_tags(vec![bl("error", false)]);
    assert_eq!(sp.status.code, StatusCode::Unset);
    assert_eq!(attr(&sp, "error"), Some(&Value::Bool(false)));
    let sp = with_tags(vec![s("error", "true")]);
    assert_eq!(sp.status.code, StatusCode::Unset);
    assert_eq!(attr(&sp, "error"), Some(&Value::Str("true".into())));
}

#[test]
fn otel_status_code_sets_status_and_description_is_its_message() {
    let sp = with_tags(vec![
        s("otel.status_code", "ERROR"),
        s("otel.status_description", "bad"),
    ]);
    assert_eq!(
        sp.status,
        Status {
            code: StatusCode::Error,
            message: "bad".into()
        }
    );
    assert!(sp.attributes.is_empty());
    let sp = with_tags(vec![s("otel.status_code", "ok")]);
    assert_eq!(sp.status.code, StatusCode::Ok);
}

#[test]
fn status_description_without_status_stays_a_tag() {
    let sp = with_tags(vec![s("otel.status_description", "just text")]);
    assert_eq!(sp.status.code, StatusCode::Unset);
    assert!(attr(&sp, "otel.status_description").is_some());
}

#[test]
fn http_status_code_5xx_is_an_error_int_or_string() {
    let sp = with_tags(vec![
        i("http.status_code", 503),
        s("http.status_message", "down"),
    ]);
    assert_eq!(
        sp.status,
        Status {
            code: StatusCode::Error,
            message: "down".into()
        }
    );
    assert_eq!(attr(&sp, "http.status_code"), Some(&Value::Int(503)));
    let sp = with_tags(vec![s("http.status_code", "500")]);
    assert_eq!(sp.status.code, StatusCode::Error);
}

#[test]
fn http_status_code_4xx_is_an_error_only_on_client_spans() {
    let sp = with_tags(vec![i("http.status_code", 404), s("span.kind", "client")]);
    assert_eq!(sp.status.code, StatusCode::Error);
    let sp = with_tags(vec![i("http.status_code", 404), s("span.kind", "server")]);
    assert_eq!(sp.status.code, StatusCode::Unset);
    let sp = with_tags(vec![i("http.status_code", 200), s("span.kind", "client")]);
    assert_eq!(sp.status.code, StatusCode::Unset);
}

#[test]
fn w3c_tracestate_becomes_trace_state() {
    let sp = with_tags(vec![s("w3c.tracestate", "k=v")]);
    assert_eq!(sp.trace_state, "k=v");
    assert!(sp.attributes.is_empty());
}

#[test]
fn warnings_become_the_warnings_attribute() {
    let sp = one(api_v2::Span {
        warnings: vec!["w1".into(), "w2".into()],
        ..span(1)
    });
    assert_eq!(sp.warnings(), vec!["w1".to_string(), "w2".to_string()]);
    assert!(matches!(
        attr(&sp, WARNINGS_ATTRIBUTE),
        Some(Value::Array(_))
    ));
}

#[test]
fn tag_types_map_to_model_values() {
    let sp = with_tags(vec![
        s("s", "x"),
        bl("b", true),
        i("i", -7),
        api_v2::KeyValue {
            v_float64: 2.5,
            ..kv("d", ValueType::Float64)
        },
        api_v2::KeyValue {
            v_binary: vec![1, 2],
            ..kv("y", ValueType::Binary)
        },
    ]);
    let values: Vec<_> = sp.attributes.iter().map(|kv| kv.value.clone()).collect();
    assert_eq!(
        values,
        vec![
            Value::Str("x".into()),
            Value::Bool(true),
            Value::Int(-7),
            Value::Double(2.5),
            Value::Bytes(vec![1, 2]),
        ]
    );
}

#[test]
fn unknown_value_type_keeps_the_key_with_a_string_saying_so() {
    let mut tag = s("odd", "ignored");
    tag.v_type = 9;
    let sp = with_tags(vec![tag]);
    assert_eq!(
        attr(&sp, "odd"),
        Some(&Value::Str("Unknown VType: 9".into()))
    );
}

#[test]
fn logs_become_events_named_by_their_event_field() {
    let sp = one(api_v2::Span {
        logs: vec![
            Log {
                timestamp: Some(ts(START_NS + 5)),
                fields: vec![s("event", "retry"), i("attempt", 2)],
            },
            Log {
                timestamp: Some(ts(START_NS + 6)),
                fields: vec![s("message", "no name")],
            },
        ],
        ..span(1)
    });
    assert_eq!(sp.events[0].name, "retry");
    assert_eq!(sp.events[0].time_ns, START_NS + 5);
    assert_eq!(
        sp.events[0].attributes,
        vec![KeyValue::new("attempt", Value::Int(2))]
    );
    assert_eq!(sp.events[1].name, "");
    assert_eq!(sp.events[1].attributes.len(), 1);
}

// ---------------------------------------------------------------------------------------------
// IDs, times, names
// ---------------------------------------------------------------------------------------------

#[test]
fn eight_byte_trace_id_is_the_low_half() {
    let sp = one(api_v2::Span {
        trace_id: sid(0xabc),
        ..span(1)
    });
    assert_eq!(sp.trace_id, TraceId::from_high_low(0, 0xabc));
}

#[test]
fn invalid_ids_reject_only_their_span_with_a_message() {
    let mut spans = vec![span(1); 7];
    spans[1].trace_id = vec![1, 2, 3];
    spans[2].trace_id = tid(0);
    spans[3].span_id = vec![1];
    spans[4].span_id = sid(0);
    spans[5].references = vec![SpanRef {
        trace_id: vec![1; 3],
        ..sref(0xabc, 9, SpanRefType::ChildOf)
    }];
    spans[6].references = vec![
        sref(0xabc, 9, SpanRefType::ChildOf),
        SpanRef {
            span_id: vec![0; 4],
            ..sref(0xabc, 9, SpanRefType::ChildOf)
        },
    ];
    let d = to_model(batch(spans));
    assert_eq!(d.batch.spans.len(), 1);
    assert_eq!(d.rejected_spans, 6);
    assert_eq!(
        d.errors,
        vec![
            "batch.spans[1]: trace_id must be 16 bytes, got 3",
            "batch.spans[2]: trace_id must not be all zeros",
            "batch.spans[3]: span_id must be 8 bytes, got 1",
            "batch.spans[4]: span_id must not be all zeros",
            "batch.spans[5]: references[0].trace_id must be 16 bytes, got 3",
            "batch.spans[6]: references[1].span_id must be 8 bytes, got 4",
        ]
    );
}

#[test]
fn missing_start_time_rejects_the_span() {
    let mut spans = vec![span(1), span(2)];
    spans[0].start_time = None;
    spans[1].start_time = Some(prost_types::Timestamp {
        seconds: GO_ZERO_TIME_SECONDS,
        nanos: 0,
    });
    let d = to_model(batch(spans));
    assert_eq!(
        d.errors,
        vec![
            "batch.spans[0]: start_time is missing",
            "batch.spans[1]: start_time is missing"
        ]
    );
}

#[test]
fn start_before_1970_is_out_of_range() {
    let d = to_model(batch(vec![api_v2::Span {
        start_time: Some(timestamp_from_us(-5)),
        ..span(1)
    }]));
    assert_eq!(
        d.errors,
        vec!["batch.spans[0]: start_time is out of range (-1s)"]
    );
}

#[test]
fn duration_gives_the_end_time() {
    let sp = one(api_v2::Span {
        duration: Some(prost_types::Duration {
            seconds: 2,
            nanos: 5,
        }),
        ..span(1)
    });
    assert_eq!(
        (sp.start_ns, sp.end_ns),
        (START_NS, START_NS + 2_000_000_005)
    );
    let sp = one(api_v2::Span {
        duration: None,
        ..span(1)
    });
    assert_eq!(sp.end_ns, START_NS);
}

#[test]
fn negative_duration_ends_one_nanosecond_after_start() {
    let sp = one(api_v2::Span {
        duration: Some(duration_from_us(-1500)),
        ..span(1)
    });
    assert_eq!(sp.end_ns, START_NS + 1);
}

#[test]
fn flags_are_dropped_and_empty_names_get_the_placeholder() {
    let sp = one(api_v2::Span {
        flags: 3,
        operation_name: String::new(),
        ..span(1)
    });
    assert_eq!(sp.flags, 0);
    assert_eq!(sp.name, "empty-span-name");
}

// ---------------------------------------------------------------------------------------------
// References
// ---------------------------------------------------------------------------------------------

#[test]
fn first_child_of_in_own_trace_is_the_parent_and_the_rest_are_links() {
    let sp = one(api_v2::Span {
        references: vec![
            sref(0xabc, 7, SpanRefType::ChildOf),
            sref(0xabc, 8, SpanRefType::FollowsFrom),
            sref(0xabc, 9, SpanRefType::ChildOf),
        ],
        ..span(1)
    });
    assert_eq!(sp.parent_span_id, SpanId::from_u64(7));
    let links: Vec<_> = sp
        .links
        .iter()
        .map(|l| (l.span_id.as_u64(), ref_type_of(l)))
        .collect();
    assert_eq!(links, vec![(8, "follows_from"), (9, "child_of")]);
}

#[test]
fn child_of_in_another_trace_is_only_a_link() {
    let sp = one(api_v2::Span {
        references: vec![sref(0xdef, 7, SpanRefType::ChildOf)],
        ..span(1)
    });
    assert!(sp.parent_span_id.is_zero());
    assert_eq!(sp.links.len(), 1);
    assert_eq!(sp.links[0].trace_id, TraceId::from_u128(0xdef));
}

#[test]
fn child_of_wins_over_an_earlier_follows_from() {
    let sp = one(api_v2::Span {
        references: vec![
            sref(0xabc, 8, SpanRefType::FollowsFrom),
            sref(0xabc, 7, SpanRefType::ChildOf),
        ],
        ..span(1)
    });
    assert_eq!(sp.parent_span_id, SpanId::from_u64(7));
    assert_eq!(sp.links.len(), 1);
    assert_eq!(ref_type_of(&sp.links[0]), "follows_from");
}

#[test]
fn follows_from_parent_is_also_kept_as_a_link() {
    let sp = one(api_v2::Span {
        references: vec![sref(0xabc, 8, SpanRefType::FollowsFrom)],
        ..span(1)
    });
    assert_eq!(sp.parent_span_id, SpanId::from_u64(8));
    assert_eq!(sp.links.len(), 1);
    assert_eq!(sp.links[0].span_id, SpanId::from_u64(8));
    assert_eq!(ref_type_of(&sp.links[0]), "follows_from");
}

// ---------------------------------------------------------------------------------------------
// Thrift
// ---------------------------------------------------------------------------------------------

const PROTOCOLS: [ThriftProtocol; 2] = [ThriftProtocol::Binary, ThriftProtocol::Compact];

fn thrift_batch() -> TBatch {
    TBatch {
        process: Some(("svc", vec![TTag("hostname", TValue::Str("h1"))])),
        spans: vec![
            TSpan {
                trace_high: 0x10,
                parent_span_id: 0x3333,
                tags: vec![
                    TTag("s", TValue::Str("x")),
                    TTag("d", TValue::Double(2.5)),
                    TTag("b", TValue::Bool(true)),
                    TTag("l", TValue::Long(-3)),
                    TTag("y", TValue::Binary(vec![0, 255])),
                    TTag("u", TValue::Unknown(7)),
                ],
                logs: vec![TLog {
                    timestamp_us: 1_700_000_000_000_010,
                    fields: vec![TTag("event", TValue::Str("e"))],
                }],
                references: vec![TRef {
                    ref_type: 1,
                    trace_low: 0x1111,
                    trace_high: 0x10,
                    span_id: 0x4444,
                }],
                unknown_field: true,
                ..TSpan::default()
            },
            TSpan {
                span_id: Some(0x5555),
                ..TSpan::default()
            },
        ],
        seq_no: Some(12),
        client_stats: true,
    }
}

#[test]
fn thrift_body_decodes_every_field_in_both_protocols() {
    for protocol in PROTOCOLS {
        let b = decode_batch(protocol, &encode_batch(protocol, &thrift_batch())).unwrap();
        let p = b.process.as_ref().unwrap();
        assert_eq!(p.service_name, "svc");
        assert_eq!(p.tags, vec![s("hostname", "h1")]);
        let sp = &b.spans[0];
        assert_eq!(sp.trace_id, tid((0x10 << 64) | 0x1111));
        assert_eq!(sp.span_id, sid(0x2222));
        assert_eq!(sp.operation_name, "op");
        assert_eq!(sp.flags, 1);
        assert_eq!(sp.start_time, Some(ts(1_700_000_000_000_000_000)));
        assert_eq!(sp.duration, Some(duration_from_us(1500)));
        assert!(sp.process.is_none());
        let types: Vec<_> = sp.tags.iter().map(|t| t.v_type).collect();
        assert_eq!(types, vec![0, 3, 1, 2, 4, 0], "TagType mapped by meaning");
        assert_eq!(sp.tags[1].v_float64, 2.5);
        assert!(sp.tags[2].v_bool);
        assert_eq!(sp.tags[3].v_int64, -3);
        assert_eq!(sp.tags[4].v_binary, vec![0, 255]);
        assert_eq!(sp.tags[5].v_str, "Unknown VType: 7");
        assert_eq!(sp.logs[0].timestamp, Some(ts(1_700_000_000_000_010_000)));
        assert_eq!(sp.logs[0].fields, vec![s("event", "e")]);
        assert_eq!(
            sp.references,
            vec![
                sref((0x10 << 64) | 0x1111, 0x3333, SpanRefType::ChildOf),
                sref((0x10 << 64) | 0x1111, 0x4444, SpanRefType::FollowsFrom),
            ],
            "parentSpanId becomes a CHILD_OF reference in front"
        );
        assert!(b.spans[1].references.is_empty());
    }
}

#[test]
fn thrift_parent_already_referenced_is_not_added_again() {
    let mut t = thrift_batch();
    t.spans[0].references[0].span_id = 0x3333;
    let b = decode_batch(
        ThriftProtocol::Binary,
        &encode_batch(ThriftProtocol::Binary, &t),
    )
    .unwrap();
    assert_eq!(
        b.spans[0].references,
        vec![sref(
            (0x10 << 64) | 0x1111,
            0x3333,
            SpanRefType::FollowsFrom
        )]
    );
}

#[test]
fn thrift_micros_convert_to_normalized_times_also_when_negative() {
    assert_eq!(
        timestamp_from_us(-1),
        prost_types::Timestamp {
            seconds: -1,
            nanos: 999_999_000
        }
    );
    assert_eq!(
        duration_from_us(-1_500_000),
        prost_types::Duration {
            seconds: -1,
            nanos: -500_000_000
        }
    );
    assert_eq!(
        duration_from_us(2_000_001),
        prost_types::Duration {
            seconds: 2,
            nanos: 1000
        }
    );
}

#[test]
fn thrift_agent_message_decodes_in_both_protocols_oneway_or_call() {
    for protocol in PROTOCOLS {
        for ty in [TMessageType::OneWay, TMessageType::Call] {
            let dgram = encode_agent_message(protocol, "emitBatch", ty, &thrift_batch());
            let b = decode_agent_message(protocol, &dgram).unwrap();
            assert_eq!(
                b,
                decode_batch(protocol, &encode_batch(protocol, &thrift_batch())).unwrap()
            );
        }
    }
}

#[test]
fn thrift_agent_message_with_another_method_is_an_error_naming_it() {
    for protocol in PROTOCOLS {
        let dgram = encode_agent_message(
            protocol,
            "emitZipkinBatch",
            TMessageType::OneWay,
            &TBatch::default(),
        );
        let e = decode_agent_message(protocol, &dgram)
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"emitZipkinBatch\""), "{e}");
        assert!(e.starts_with("invalid Jaeger Thrift ("), "{e}");
    }
}

#[test]
fn thrift_agent_reply_message_is_refused() {
    let dgram = encode_agent_message(
        ThriftProtocol::Compact,
        "emitBatch",
        TMessageType::Reply,
        &thrift_batch(),
    );
    assert!(decode_agent_message(ThriftProtocol::Compact, &dgram).is_err());
}

#[test]
fn thrift_compact_agent_header_bytes_are_as_documented() {
    // 0x82 protocol id, 0x81 = (ONEWAY << 5) | version 1, varint seqid 7, varint name length.
    let mut dgram = vec![0x82, 0x81, 0x07, 0x09];
    dgram.extend_from_slice(b"emitBatch");
    dgram.extend_from_slice(&[
        0x1c, // args field 1 (delta 1), STRUCT: the Batch
        0x1c, // Batch.process (field 1), STRUCT
        0x18, 0x03, b's', b'v', b'c', // Process.serviceName (field 1), BINARY, len 3
        0x00, // end Process
        0x19, 0x0c, // Batch.spans (field 2), LIST: 0 elements of STRUCT
        0x00, // end Batch
        0x00, // end args
    ]);
    let b = decode_agent_message(ThriftProtocol::Compact, &dgram).unwrap();
    assert_eq!(b.process.unwrap().service_name, "svc");
    assert!(b.spans.is_empty());
    let ours = encode_agent_message(
        ThriftProtocol::Compact,
        "emitBatch",
        TMessageType::OneWay,
        &TBatch::default(),
    );
    assert_eq!(ours[..2], [0x82, 0x81]);
}

#[test]
fn thrift_binary_agent_header_bytes_are_as_documented() {
    let mut dgram = vec![0x80, 0x01, 0x00, 0x04, 0, 0, 0, 9];
    dgram.extend_from_slice(b"emitBatch");
    dgram.extend_from_slice(&[0, 0, 0, 42]); // seqid
    dgram.extend_from_slice(&[0x0c, 0, 1]); // args field 1 STRUCT
    dgram.extend_from_slice(&[0x0c, 0, 1]); // Batch.process STRUCT
    dgram.extend_from_slice(&[0x0b, 0, 1, 0, 0, 0, 3, b's', b'v', b'c', 0x00]);
    dgram.extend_from_slice(&[0x0f, 0, 2, 0x0c, 0, 0, 0, 0]); // Batch.spans: list<STRUCT>[0]
    dgram.extend_from_slice(&[0x00, 0x00]); // end Batch, end args
    let b = decode_agent_message(ThriftProtocol::Binary, &dgram).unwrap();
    assert_eq!(b.process.unwrap().service_name, "svc");
    let ours = encode_agent_message(
        ThriftProtocol::Binary,
        "emitBatch",
        TMessageType::OneWay,
        &TBatch::default(),
    );
    assert_eq!(ours[..4], [0x80, 0x01, 0x00, 0x04]);
}

#[test]
fn thrift_trailing_bytes_are_an_error() {
    for protocol in PROTOCOLS {
        let mut body = encode_batch(protocol, &thrift_batch());
        body.push(0);
        let e = decode_batch(protocol, &body).unwrap_err().to_string();
        assert!(e.ends_with("1 trailing bytes"), "{e}");
        let mut dgram =
            encode_agent_message(protocol, "emitBatch", TMessageType::OneWay, &thrift_batch());
        dgram.push(0);
        assert!(decode_agent_message(protocol, &dgram).is_err());
    }
}

#[test]
fn thrift_every_truncation_is_an_error_never_a_panic() {
    for protocol in PROTOCOLS {
        let body = encode_batch(protocol, &thrift_batch());
        let dgram =
            encode_agent_message(protocol, "emitBatch", TMessageType::OneWay, &thrift_batch());
        for n in 0..body.len() {
            assert!(
                decode_batch(protocol, &body[..n]).is_err(),
                "{protocol:?} prefix {n}"
            );
        }
        for n in 0..dgram.len() {
            assert!(
                decode_agent_message(protocol, &dgram[..n]).is_err(),
                "{protocol:?} {n}"
            );
        }
    }
}

#[test]
fn thrift_garbage_is_an_error() {
    for protocol in PROTOCOLS {
        assert!(decode_batch(protocol, b"{\"not\": \"thrift\"}").is_err());
        assert!(decode_agent_message(protocol, &[0xff; 64]).is_err());
    }
}

#[test]
fn thrift_forged_list_length_fails_without_allocating_it() {
    // Batch.spans claiming i32::MAX elements in a 12-byte body.
    let body = [0x0f, 0, 2, 0x0c, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0];
    assert!(decode_batch(ThriftProtocol::Binary, &body).is_err());
}

#[test]
fn thrift_span_missing_required_fields_is_rejected_alone() {
    let mut t = thrift_batch();
    t.spans.push(TSpan {
        trace_low: None,
        ..TSpan::default()
    });
    t.spans.push(TSpan {
        span_id: None,
        ..TSpan::default()
    });
    t.spans.push(TSpan {
        start_us: None,
        ..TSpan::default()
    });
    for protocol in PROTOCOLS {
        let d = to_model(decode_batch(protocol, &encode_batch(protocol, &t)).unwrap());
        assert_eq!(d.batch.spans.len(), 2);
        assert_eq!(
            d.errors,
            vec![
                "batch.spans[2]: trace_id must not be all zeros",
                "batch.spans[3]: span_id must not be all zeros",
                "batch.spans[4]: start_time is missing",
            ]
        );
    }
}

#[test]
fn thrift_batch_without_process_gets_the_null_process() {
    let t = TBatch {
        spans: vec![TSpan::default()],
        ..TBatch::default()
    };
    let b = decode_batch(
        ThriftProtocol::Binary,
        &encode_batch(ThriftProtocol::Binary, &t),
    )
    .unwrap();
    assert_eq!(convert(b)[0].service(), NULL_PROCESS_SERVICE_NAME);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn thrift_batch_never_panics(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        for protocol in PROTOCOLS {
            if let Ok(b) = decode_batch(protocol, &body) {
                let _ = to_model(b);
            }
        }
    }

    #[test]
    fn thrift_agent_message_never_panics(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        for protocol in PROTOCOLS {
            if let Ok(b) = decode_agent_message(protocol, &body) {
                let _ = to_model(b);
            }
        }
    }

    #[test]
    fn agent_message_with_mutated_byte_never_panics(pos in any::<prop::sample::Index>(), byte in any::<u8>()) {
        for protocol in PROTOCOLS {
            let mut dgram =
                encode_agent_message(protocol, "emitBatch", TMessageType::OneWay, &thrift_batch());
            let i = pos.index(dgram.len());
            dgram[i] = byte;
            if let Ok(b) = decode_agent_message(protocol, &dgram) {
                let _ = to_model(b);
            }
        }
    }

    #[test]
    fn to_model_of_any_protobuf_batch_never_panics(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(b) = Batch::decode(body.as_slice()) {
            let d = to_model(b);
            prop_assert!(d.errors.len() <= crate::ingest::MAX_ERROR_MESSAGES);
        }
    }
}
