use super::*;
use crate::model::{Link, Resource, Scope, SpanId, SpanKind, StatusCode, Text, TraceId};
use proptest::collection::vec;
use proptest::prelude::*;
use serde_json::json;

const FIXTURE_DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/conformance/jaeger-fixtures/traces"
);

/// The Jaeger OTLP fixtures as (file name, body), or `None` (with a loud warning) when the
/// shared conformance folder is not checked out next to the crate.
fn conformance_fixtures() -> Option<Vec<(String, Vec<u8>)>> {
    let Ok(entries) = std::fs::read_dir(FIXTURE_DIR) else {
        // Straight to the stderr handle: libtest captures `eprintln!` of passing tests.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "WARNING: {FIXTURE_DIR} is missing — SKIPPING the Jaeger conformance fixture checks"
        );
        return None;
    };
    let mut out = Vec::new();
    for entry in entries {
        let path = entry.expect("readable fixture dir").path();
        if path.extension().is_some_and(|e| e == "json") {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            out.push((name, std::fs::read(&path).expect("readable fixture")));
        }
    }
    out.sort();
    assert!(!out.is_empty(), "no *.json fixtures in {FIXTURE_DIR}");
    Some(out)
}

/// Makes two OTLP/JSON documents comparable: 64-bit integers as strings, hex in lowercase,
/// defaults (0, "", false, [], {}, null, all-zero parent) dropped — except the oneof members
/// of an AnyValue, whose presence is the value's type.
fn normalise(v: Json) -> Json {
    match v {
        Json::Object(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let v = match (k.as_str(), v) {
                    (
                        "intValue" | "startTimeUnixNano" | "endTimeUnixNano" | "timeUnixNano",
                        Json::Number(n),
                    ) => Json::String(n.to_string()),
                    ("traceId" | "spanId" | "parentSpanId", Json::String(s)) => {
                        Json::String(s.to_ascii_lowercase())
                    }
                    (_, v) => normalise(v),
                };
                let zero_parent =
                    k == "parentSpanId" && v.as_str().is_some_and(|s| s.bytes().all(|c| c == b'0'));
                let oneof = matches!(
                    k.as_str(),
                    "stringValue"
                        | "boolValue"
                        | "intValue"
                        | "doubleValue"
                        | "bytesValue"
                        | "arrayValue"
                        | "kvlistValue"
                );
                if !zero_parent && (oneof || !is_default(&v)) {
                    out.insert(k, v);
                }
            }
            Json::Object(out)
        }
        Json::Array(items) => Json::Array(items.into_iter().map(normalise).collect()),
        other => other,
    }
}

fn is_default(v: &Json) -> bool {
    match v {
        Json::Null => true,
        Json::Bool(b) => !b,
        Json::Number(n) => n.as_f64() == Some(0.0),
        Json::String(s) => s.is_empty() || s == "0",
        Json::Array(a) => a.is_empty(),
        Json::Object(m) => m.is_empty(),
    }
}

fn json_round_trip(body: &[u8]) -> (Decoded, Json) {
    let decoded = to_model(decode_json(body).expect("body decodes"));
    let out = traces_data_to_json(&from_model(&decoded.batch.spans));
    (decoded, out)
}

fn proto_round_trip(spans: &[Span]) -> Vec<Span> {
    let body = export_request(spans).encode_to_vec();
    let decoded = decode_export(&body).expect("own encoding decodes");
    assert_eq!(decoded.rejected_spans, 0, "{:?}", decoded.errors);
    decoded.batch.spans
}

#[test]
fn conformance_fixtures_round_trip_through_the_model() {
    let Some(fixtures) = conformance_fixtures() else {
        return;
    };
    for (name, body) in fixtures {
        let (decoded, out) = json_round_trip(&body);
        assert_eq!(decoded.rejected_spans, 0, "{name}: {:?}", decoded.errors);
        assert!(!decoded.batch.is_empty(), "{name} has no spans");
        let want = normalise(serde_json::from_slice(&body).expect("fixture is JSON"));
        assert_eq!(normalise(out.clone()), want, "{name}");
        // Our own output decodes to the same spans, and so does our protobuf.
        let again = to_model(decode_json(out.to_string().as_bytes()).expect("own JSON"));
        assert_eq!(again.batch.spans, decoded.batch.spans, "{name} via JSON");
        let spans = &decoded.batch.spans;
        assert_eq!(&proto_round_trip(spans), spans, "{name} via protobuf");
    }
}

#[test]
fn serde_derive_agrees_with_the_hand_written_decoder_on_fixtures() {
    let Some(fixtures) = conformance_fixtures() else {
        return;
    };
    for (name, body) in fixtures {
        let derived: ExportTraceServiceRequest = serde_json::from_slice(&body)
            .unwrap_or_else(|e| panic!("with-serde derive rejects {name}: {e}"));
        assert_eq!(decode_json(&body).expect("decodes"), derived, "{name}");
    }
}

const RICH: &str = r#"{
  "resourceSpans": [
    {
      "resource": {
        "attributes": [
          {"key": "service.name", "value": {"stringValue": "checkout"}},
          {"key": "host.name", "value": {"stringValue": "web-1"}}
        ],
        "droppedAttributesCount": 2
      },
      "schemaUrl": "https://opentelemetry.io/schemas/1.26.0",
      "scopeSpans": [
        {
          "scope": {
            "name": "io.opentelemetry.http", "version": "1.2.3",
            "attributes": [{"key": "scope.flag", "value": {"boolValue": true}}],
            "droppedAttributesCount": 1
          },
          "schemaUrl": "https://opentelemetry.io/schemas/1.25.0",
          "spans": [
            {
              "traceId": "5b8efff798038103d269b633813fc60c",
              "spanId": "eee19b7ec3c1b174",
              "parentSpanId": "eee19b7ec3c1b173",
              "traceState": "rojo=00f067aa0ba902b7",
              "flags": 769,
              "name": "GET /cart",
              "kind": 2,
              "startTimeUnixNano": "1544712660000000000",
              "endTimeUnixNano": "1544712661000000000",
              "attributes": [
                {"key": "str", "value": {"stringValue": "s"}},
                {"key": "empty.str", "value": {"stringValue": ""}},
                {"key": "bool", "value": {"boolValue": false}},
                {"key": "int", "value": {"intValue": "-9007199254740993"}},
                {"key": "zero", "value": {"intValue": "0"}},
                {"key": "double", "value": {"doubleValue": 72.5}},
                {"key": "bytes", "value": {"bytesValue": "AAAwOQ=="}},
                {"key": "array", "value": {"arrayValue": {"values": [
                  {"stringValue": "a"}, {"intValue": "1"},
                  {"arrayValue": {"values": [{"boolValue": true}]}}, {}
                ]}}},
                {"key": "empty.array", "value": {"arrayValue": {}}},
                {"key": "map", "value": {"kvlistValue": {"values": [
                  {"key": "inner", "value": {"doubleValue": 1.5}},
                  {"key": "deeper", "value": {"kvlistValue": {"values": [
                    {"key": "x", "value": {"stringValue": "y"}}
                  ]}}}
                ]}}},
                {"key": "nothing", "value": {}}
              ],
              "droppedAttributesCount": 3,
              "events": [
                {
                  "timeUnixNano": "1544712660500000000", "name": "exception",
                  "attributes": [{"key": "exception.type", "value": {"stringValue": "IOError"}}],
                  "droppedAttributesCount": 4
                },
                {"timeUnixNano": "1544712660600000000"}
              ],
              "droppedEventsCount": 5,
              "links": [
                {
                  "traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "b7ad6b7169203331",
                  "traceState": "congo=t61rcWkgMzE",
                  "attributes": [
                    {"key": "opentracing.ref_type", "value": {"stringValue": "follows_from"}}
                  ],
                  "droppedAttributesCount": 6, "flags": 1
                }
              ],
              "droppedLinksCount": 7,
              "status": {"code": 2, "message": "card declined"}
            },
            {
              "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b175",
              "parentSpanId": "eee19b7ec3c1b174", "name": "publish", "kind": 4,
              "startTimeUnixNano": "1544712660100000000",
              "endTimeUnixNano": "1544712660200000000", "status": {"code": 1}
            }
          ]
        },
        {
          "scope": {"name": "db"},
          "spans": [
            {
              "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b176",
              "parentSpanId": "eee19b7ec3c1b174", "name": "SELECT", "kind": 3,
              "startTimeUnixNano": "1544712660300000000",
              "endTimeUnixNano": "1544712660400000000", "status": {}
            }
          ]
        }
      ]
    },
    {
      "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "billing"}}]},
      "scopeSpans": [
        {
          "scope": {},
          "spans": [
            {
              "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "0000000000000001",
              "name": "charge", "kind": 5, "startTimeUnixNano": "1544712660250000000",
              "endTimeUnixNano": "1544712660350000000", "status": {}
            },
            {
              "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "0000000000000002",
              "name": "audit", "kind": 1, "startTimeUnixNano": "1",
              "endTimeUnixNano": "2", "status": {}
            }
          ]
        }
      ]
    }
  ]
}"#;

fn attr<'a>(span: &'a Span, key: &str) -> &'a Value {
    crate::model::span::find_attr(&span.attributes, key)
        .unwrap_or_else(|| panic!("attribute {key} missing"))
}

#[test]
fn rich_document_keeps_every_field() {
    let (decoded, out) = json_round_trip(RICH.as_bytes());
    assert_eq!((decoded.rejected_spans, decoded.batch.len()), (0, 5));
    let spans = &decoded.batch.spans;
    let s = &spans[0];
    assert_eq!(s.trace_id.to_hex32(), "5b8efff798038103d269b633813fc60c");
    assert_eq!(s.span_id.to_hex(), "eee19b7ec3c1b174");
    assert_eq!(s.parent_span_id.to_hex(), "eee19b7ec3c1b173");
    assert_eq!(
        (s.trace_state.as_str(), s.flags),
        ("rojo=00f067aa0ba902b7", 769)
    );
    assert_eq!((s.name.as_str(), s.kind), ("GET /cart", SpanKind::Server));
    assert_eq!(
        (s.start_ns, s.end_ns),
        (1544712660000000000, 1544712661000000000)
    );
    assert_eq!(attr(s, "str"), &Value::Str("s".into()));
    assert_eq!(attr(s, "empty.str"), &Value::Str(Text::default()));
    assert_eq!(attr(s, "bool"), &Value::Bool(false));
    assert_eq!(attr(s, "int"), &Value::Int(-9007199254740993));
    assert_eq!(attr(s, "zero"), &Value::Int(0));
    assert_eq!(attr(s, "double"), &Value::Double(72.5));
    assert_eq!(attr(s, "bytes"), &Value::Bytes(vec![0, 0, 0x30, 0x39]));
    let array = Value::Array(vec![
        Value::Str("a".into()),
        Value::Int(1),
        Value::Array(vec![Value::Bool(true)]),
        Value::Empty,
    ]);
    assert_eq!(attr(s, "array"), &array);
    assert_eq!(attr(s, "empty.array"), &Value::Array(vec![]));
    let map = Value::Map(vec![
        KeyValue::new("inner", Value::Double(1.5)),
        KeyValue::new("deeper", Value::Map(vec![KeyValue::string("x", "y")])),
    ]);
    assert_eq!(attr(s, "map"), &map);
    assert_eq!(attr(s, "nothing"), &Value::Empty);
    assert_eq!(s.dropped_attributes_count, 3);
    assert_eq!(s.events.len(), 2);
    let e = &s.events[0];
    assert_eq!(
        (e.time_ns, e.name.as_str()),
        (1544712660500000000, "exception")
    );
    assert_eq!((e.attributes.len(), e.dropped_attributes_count), (1, 4));
    assert_eq!((s.events[1].name.as_str(), s.dropped_events_count), ("", 5));
    let l = &s.links[0];
    assert_eq!(l.trace_id.to_hex32(), "0af7651916cd43dd8448eb211c80319c");
    assert_eq!(l.span_id.to_hex(), "b7ad6b7169203331");
    assert_eq!((l.trace_state.as_str(), l.flags), ("congo=t61rcWkgMzE", 1));
    assert_eq!(
        l.attributes,
        vec![KeyValue::string("opentracing.ref_type", "follows_from")]
    );
    assert_eq!((l.dropped_attributes_count, s.dropped_links_count), (6, 7));
    assert_eq!(s.status.code, StatusCode::Error);
    assert_eq!(s.status.message, "card declined");
    assert_eq!(spans[1].status.code, StatusCode::Ok);
    assert_eq!(spans[1].kind, SpanKind::Producer);
    assert_eq!(spans[2].kind, SpanKind::Client);
    assert_eq!(spans[3].kind, SpanKind::Consumer);
    assert_eq!(spans[4].kind, SpanKind::Internal);
    assert!(!spans[3].has_parent());

    let r = &s.resource;
    assert_eq!((r.service(), r.dropped_attributes_count), ("checkout", 2));
    assert_eq!(r.schema_url, "https://opentelemetry.io/schemas/1.26.0");
    assert_eq!(
        (s.scope.name.as_str(), s.scope.version.as_str()),
        ("io.opentelemetry.http", "1.2.3")
    );
    assert_eq!(
        s.scope.schema_url,
        "https://opentelemetry.io/schemas/1.25.0"
    );
    assert_eq!(
        s.scope.attributes,
        vec![KeyValue::new("scope.flag", Value::Bool(true))]
    );
    assert_eq!(s.scope.dropped_attributes_count, 1);
    // One Arc per ResourceSpans and per ScopeSpans.
    assert!(Arc::ptr_eq(&spans[0].resource, &spans[2].resource));
    assert!(Arc::ptr_eq(&spans[0].scope, &spans[1].scope));
    assert!(!Arc::ptr_eq(&spans[1].scope, &spans[2].scope));
    assert!(Arc::ptr_eq(&spans[3].resource, &spans[4].resource));
    assert_eq!(spans[3].service(), "billing");

    let want = normalise(serde_json::from_str(RICH).unwrap());
    assert_eq!(normalise(out), want);
    assert_eq!(&proto_round_trip(spans), spans);
}

#[test]
fn json_output_follows_the_otlp_json_encoding() {
    let span = Span {
        trace_id: TraceId::from_u128(0x11),
        span_id: SpanId::from_u64(3),
        name: "op".into(),
        kind: SpanKind::Client,
        start_ns: 1_000,
        end_ns: 2_000,
        attributes: vec![
            KeyValue::new("i", Value::Int(i64::MIN)),
            KeyValue::new("b", Value::Bytes(vec![0, 0, 0x30, 0x39])),
            KeyValue::new("nan", Value::Double(f64::NAN)),
            KeyValue::new("inf", Value::Double(f64::NEG_INFINITY)),
            KeyValue::new("e", Value::Empty),
            KeyValue::new("a", Value::Array(vec![])),
        ],
        links: vec![Link::default()],
        resource: Arc::new(Resource {
            attributes: vec![KeyValue::string("service.name", "svc")],
            ..Default::default()
        }),
        ..Default::default()
    };
    let got = traces_data_to_json(&from_model(std::slice::from_ref(&span)));
    let want = json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]},
        "scopeSpans": [{"scope": {}, "spans": [{
            "traceId": "00000000000000000000000000000011",
            "spanId": "0000000000000003",
            "name": "op",
            "kind": 3,
            "startTimeUnixNano": "1000",
            "endTimeUnixNano": "2000",
            "attributes": [
                {"key": "i", "value": {"intValue": "-9223372036854775808"}},
                {"key": "b", "value": {"bytesValue": "AAAwOQ=="}},
                {"key": "nan", "value": {"doubleValue": "NaN"}},
                {"key": "inf", "value": {"doubleValue": "-Infinity"}},
                {"key": "e", "value": {}},
                {"key": "a", "value": {"arrayValue": {"values": []}}}
            ],
            "links": [{"traceId": "00000000000000000000000000000000", "spanId": "0000000000000000"}],
            "status": {}
        }]}]
    }]});
    assert_eq!(got, want);
    let back = to_model(decode_json(got.to_string().as_bytes()).unwrap());
    let s = &back.batch.spans[0];
    assert!(matches!(attr(s, "nan"), Value::Double(d) if d.is_nan()));
    assert_eq!(attr(s, "inf"), &Value::Double(f64::NEG_INFINITY));
    assert_eq!(s.links, span.links);
}

#[test]
fn json_decoder_is_lenient_where_the_spec_allows() {
    let body = r#"{"resource_spans": [{"scopeSpans": [{"scope": null, "spans": [{
        "traceId": "5B8EFFF798038103D269B633813FC60C", "spanId": "EEE19B7EC3C1B174",
        "kind": "SPAN_KIND_CLIENT", "startTimeUnixNano": 1544712660000000000,
        "endTimeUnixNano": "1544712661000000000", "droppedEventsCount": "2",
        "attributes": [
            {"key": "i", "value": {"intValue": 42}},
            {"key": "nan", "value": {"doubleValue": "NaN"}},
            {"key": "inf", "value": {"doubleValue": "Infinity"}},
            {"key": "url", "value": {"bytesValue": "_-8"}},
            {"key": "kv", "value": {"kvlistValue": {}}},
            {"key": "n", "value": null}
        ],
        "events": null, "status": {"code": "STATUS_CODE_ERROR"},
        "someFutureField": {"x": [1, 2]}
    }]}]}], "anotherUnknown": true}"#;
    let decoded = to_model(decode_json(body.as_bytes()).expect("lenient body decodes"));
    assert_eq!(decoded.rejected_spans, 0, "{:?}", decoded.errors);
    let s = &decoded.batch.spans[0];
    assert_eq!(s.trace_id.to_hex32(), "5b8efff798038103d269b633813fc60c");
    assert_eq!(
        (s.kind, s.start_ns),
        (SpanKind::Client, 1544712660000000000)
    );
    assert_eq!(
        (s.status.code, s.dropped_events_count),
        (StatusCode::Error, 2)
    );
    assert_eq!(attr(s, "i"), &Value::Int(42));
    assert!(matches!(attr(s, "nan"), Value::Double(d) if d.is_nan()));
    assert_eq!(attr(s, "inf"), &Value::Double(f64::INFINITY));
    assert_eq!(attr(s, "url"), &Value::Bytes(vec![0xff, 0xef]));
    assert_eq!(attr(s, "kv"), &Value::Map(vec![]));
    assert_eq!(attr(s, "n"), &Value::Empty);
    assert_eq!(s.service(), MISSING_SERVICE_NAME);
    assert_eq!(s.name, EMPTY_SPAN_NAME);
    assert_eq!(
        decode_json(b"{}").unwrap(),
        ExportTraceServiceRequest::default()
    );
}

#[test]
fn bad_bodies_are_refused_with_a_message_naming_the_problem() {
    let err = decode_json(b"{\n  \"resourceSpans\": [\n    {,\n").unwrap_err();
    assert!(
        matches!(err, IngestError::JsonSyntax { line: 3, .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.starts_with("invalid OTLP JSON body at line 3 column 6: "),
        "{msg}"
    );
    assert!(!msg.ends_with("column 6"), "position printed twice: {msg}");

    let err = decode_json(
        br#"{"resourceSpans": [{"scopeSpans": [{"spans": [
        {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "zz00000000000000"}]}]}]}"#,
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with(
            "invalid OTLP JSON body at resourceSpans[0].scopeSpans[0].spans[0].spanId: \
             invalid hex digit 'z'"
        ),
        "{msg}"
    );
    let err = decode_json(br#"{"resourceSpans": {}}"#).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid OTLP JSON body at resourceSpans: expected an array, got an object"
    );
    let err = decode_json(
        br#"{"resourceSpans": [{"scopeSpans": [{"spans": [
        {"attributes": [{"key": "k", "value": {"intValue": "12x"}}]}]}]}]}"#,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid OTLP JSON body at resourceSpans[0].scopeSpans[0].spans[0].attributes[0]\
         .value.intValue: expected an integer, got \"12x\""
    );
    let err = decode_json(b"[]").unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid OTLP JSON body at the document root: expected an object, got an array"
    );
    let err = decode_export(&[0x0a, 0x05, 0x01]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid OTLP protobuf body at resource_spans[0]: the message ends inside a field"
    );
    let err = decode_export(&[0xff, 0xff, 0xff]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid OTLP protobuf body at the top level: the message ends inside a field"
    );
}

pub(super) fn pb_span(trace_id: &[u8], span_id: &[u8]) -> PbSpan {
    PbSpan {
        trace_id: trace_id.to_vec(),
        span_id: span_id.to_vec(),
        name: "op".into(),
        ..Default::default()
    }
}

pub(super) fn request_of(
    resources: Vec<(Option<PbResource>, Vec<Vec<PbSpan>>)>,
) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: resources
            .into_iter()
            .map(|(resource, scopes)| ResourceSpans {
                resource,
                scope_spans: scopes
                    .into_iter()
                    .map(|spans| ScopeSpans {
                        spans,
                        ..Default::default()
                    })
                    .collect(),
                schema_url: String::new(),
            })
            .collect(),
    }
}

const T: [u8; 16] = [7; 16];

pub(super) fn sid(n: u8) -> [u8; 8] {
    [0, 0, 0, 0, 0, 0, 0, n]
}

#[test]
fn invalid_spans_are_rejected_and_valid_ones_kept() {
    let with_parent = |parent: &[u8], id: u8| PbSpan {
        parent_span_id: parent.to_vec(),
        ..pb_span(&T, &sid(id))
    };
    let with_link = |trace_id: &[u8], span_id: &[u8], id: u8| PbSpan {
        links: vec![
            pb_span::Link {
                trace_id: T.to_vec(),
                span_id: sid(1).to_vec(),
                ..Default::default()
            },
            pb_span::Link {
                trace_id: trace_id.to_vec(),
                span_id: span_id.to_vec(),
                ..Default::default()
            },
        ],
        ..pb_span(&T, &sid(id))
    };
    let first = vec![
        pb_span(&T, &sid(1)),
        pb_span(&[1, 2, 3], &sid(2)),
        pb_span(&[0; 16], &sid(3)),
        pb_span(&T, &[1; 7]),
        pb_span(&T, &[0; 8]),
        with_parent(&[1; 4], 6),
        with_parent(&[0; 8], 7),
        with_link(&[1; 5], &sid(1), 8),
        with_link(&[], &[], 9),
        pb_span(&[9; 8], &sid(10)),
        with_link(&T, &[1; 9], 11),
    ];
    let req = request_of(vec![(None, vec![first, vec![pb_span(&T, &sid(12))]])]);
    let decoded = to_model(req);
    let kept: Vec<u64> = decoded
        .batch
        .spans
        .iter()
        .map(|s| s.span_id.as_u64())
        .collect();
    assert_eq!(kept, vec![1, 7, 9, 12]);
    assert_eq!(decoded.rejected_spans, 8);
    let p = "resource_spans[0].scope_spans[0]";
    assert_eq!(
        decoded.errors,
        vec![
            format!("{p}.spans[1]: trace_id must be 16 bytes, got 3"),
            format!("{p}.spans[2]: trace_id must not be all zeros"),
            format!("{p}.spans[3]: span_id must be 8 bytes, got 7"),
            format!("{p}.spans[4]: span_id must not be all zeros"),
            format!("{p}.spans[5]: parent_span_id must be empty or 8 bytes, got 4"),
            format!("{p}.spans[7]: links[1].trace_id must be empty or 16 bytes, got 5"),
            format!("{p}.spans[9]: trace_id must be 16 bytes, got 8"),
            format!("{p}.spans[10]: links[1].span_id must be empty or 8 bytes, got 9"),
        ]
    );
    let spans = &decoded.batch.spans;
    assert!(!spans[1].has_parent(), "all-zero parent means root");
    assert_eq!(spans[2].links[1].trace_id, TraceId::ZERO);
    assert_eq!(spans[2].links[1].span_id, SpanId::ZERO);
    let partial = decoded.partial_success().expect("some spans were rejected");
    assert_eq!(partial.rejected_spans, 8);
    assert!(partial.error_message.starts_with(&decoded.errors[0]));
}

#[test]
fn rejection_messages_are_capped_but_counted() {
    let spans = (0..25).map(|_| pb_span(&[], &sid(1))).collect();
    let decoded = to_model(request_of(vec![(
        None,
        vec![vec![pb_span(&T, &sid(1))], spans],
    )]));
    assert_eq!((decoded.batch.len(), decoded.rejected_spans), (1, 25));
    assert_eq!(decoded.errors.len(), MAX_ERROR_MESSAGES);
    assert_eq!(
        decoded.errors[9],
        "resource_spans[0].scope_spans[1].spans[9]: trace_id must be 16 bytes, got 0"
    );
    let partial = decoded.partial_success().unwrap();
    assert!(partial
        .error_message
        .ends_with("; and 15 more rejected spans"));
    let clean = to_model(request_of(vec![(None, vec![vec![pb_span(&T, &sid(1))]])]));
    assert_eq!(clean.partial_success(), None);
}

#[test]
fn service_and_span_names_are_sanitized_like_jaeger_v2() {
    let resource = |kvs: Vec<PbKeyValue>| {
        Some(PbResource {
            attributes: kvs,
            ..Default::default()
        })
    };
    let kv = |key: &str, v: Option<any_value::Value>| PbKeyValue {
        key: key.into(),
        value: Some(AnyValue { value: v }),
        key_strindex: 0,
    };
    let str_value = |s: &str| Some(any_value::Value::StringValue(s.into()));
    let one = || vec![vec![pb_span(&T, &sid(1))]];
    let req = request_of(vec![
        (None, one()),
        (resource(vec![kv("host.name", str_value("h"))]), one()),
        (
            resource(vec![kv(
                "service.name",
                Some(any_value::Value::IntValue(5)),
            )]),
            one(),
        ),
        (resource(vec![kv("service.name", None)]), one()),
        (resource(vec![kv("service.name", str_value(""))]), one()),
        (
            resource(vec![kv("service.name", str_value("ok"))]),
            vec![vec![PbSpan {
                name: String::new(),
                ..pb_span(&T, &sid(1))
            }]],
        ),
    ]);
    let decoded = to_model(req);
    let services: Vec<&str> = decoded.batch.spans.iter().map(|s| s.service()).collect();
    assert_eq!(
        services,
        vec![
            MISSING_SERVICE_NAME,
            MISSING_SERVICE_NAME,
            SERVICE_NAME_WRONG_TYPE,
            SERVICE_NAME_WRONG_TYPE,
            EMPTY_SERVICE_NAME,
            "ok"
        ]
    );
    let r = &decoded.batch.spans[1].resource;
    assert_eq!(
        r.attributes[0],
        KeyValue::string("host.name", "h"),
        "others kept"
    );
    assert_eq!(decoded.batch.spans[4].name, "op");
    assert_eq!(decoded.batch.spans[5].name, EMPTY_SPAN_NAME);
}

#[test]
fn from_model_groups_consecutive_spans_by_resource_then_scope() {
    let res = |svc: &str| {
        Arc::new(Resource {
            attributes: vec![KeyValue::string(SERVICE_NAME, svc)],
            ..Default::default()
        })
    };
    let scope = |name: &str| {
        Arc::new(Scope {
            name: name.into(),
            ..Default::default()
        })
    };
    let (a, a_copy, b) = (res("a"), res("a"), res("b"));
    let (s1, s2) = (scope("s1"), scope("s2"));
    let span = |r: &Arc<Resource>, s: &Arc<Scope>, id: u64| Span {
        trace_id: TraceId::from_u128(1),
        span_id: SpanId::from_u64(id),
        name: format!("op{id}"),
        resource: r.clone(),
        scope: s.clone(),
        ..Default::default()
    };
    let spans = vec![
        span(&a, &s1, 1),
        span(&a_copy, &s1, 2),
        span(&a, &s2, 3),
        span(&b, &s1, 4),
        span(&a, &s1, 5),
    ];
    let td = from_model(&spans);
    let shape: Vec<Vec<usize>> = td
        .resource_spans
        .iter()
        .map(|rs| rs.scope_spans.iter().map(|ss| ss.spans.len()).collect())
        .collect();
    assert_eq!(shape, vec![vec![2, 1], vec![1], vec![1]]);
    let order: Vec<String> = td
        .resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
        .map(|s| s.name.clone())
        .collect();
    assert_eq!(order, ["op1", "op2", "op3", "op4", "op5"]);
    assert_eq!(proto_round_trip(&spans), spans);
    assert_eq!(export_request(&spans).resource_spans, td.resource_spans);
}

// ---- property tests ---------------------------------------------------------------------

/// Mostly IDs of the right width (so that many spans are accepted), sometimes any length,
/// empty or all zeros.
fn arb_id(width: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => vec(any::<u8>(), width),
        1 => vec(any::<u8>(), 0..20),
        1 => Just(vec![0; width]),
        1 => Just(Vec::new()),
    ]
}

fn arb_any_value() -> impl Strategy<Value = AnyValue> {
    use any_value::Value as V;
    let leaf = prop_oneof![
        Just(None),
        ".{0,6}".prop_map(|s| Some(V::StringValue(s))),
        any::<bool>().prop_map(|b| Some(V::BoolValue(b))),
        any::<i64>().prop_map(|i| Some(V::IntValue(i))),
        // Dyadic fractions and infinities survive a JSON round trip exactly.
        (-1_000_000i32..1_000_000).prop_map(|i| Some(V::DoubleValue(i as f64 / 8.0))),
        Just(Some(V::DoubleValue(f64::INFINITY))),
        vec(any::<u8>(), 0..6).prop_map(|b| Some(V::BytesValue(b))),
        any::<i32>().prop_map(|i| Some(V::StringValueStrindex(i))),
    ]
    .prop_map(|value| AnyValue { value });
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(|values| AnyValue {
                value: Some(V::ArrayValue(ArrayValue { values }))
            }),
            vec(("[a-z.]{0,4}", proptest::option::of(inner)), 0..4).prop_map(|kvs| {
                let values = kvs
                    .into_iter()
                    .map(|(key, value)| PbKeyValue {
                        key,
                        value,
                        key_strindex: 0,
                    })
                    .collect();
                AnyValue {
                    value: Some(V::KvlistValue(KeyValueList { values })),
                }
            }),
        ]
    })
}

fn arb_attrs() -> impl Strategy<Value = Vec<PbKeyValue>> {
    vec(("[a-z.]{0,6}", proptest::option::of(arb_any_value())), 0..3).prop_map(|kvs| {
        kvs.into_iter()
            .map(|(key, value)| PbKeyValue {
                key,
                value,
                key_strindex: 0,
            })
            .collect()
    })
}

pub(super) fn arb_span() -> impl Strategy<Value = PbSpan> {
    let ids = (arb_id(16), arb_id(8), arb_id(8), ".{0,4}", ".{0,4}");
    let numbers = (
        any::<i32>(),
        any::<u64>(),
        any::<u64>(),
        any::<u32>(),
        any::<u32>(),
    );
    let event = (any::<u64>(), ".{0,4}", arb_attrs(), any::<u32>()).prop_map(
        |(time_unix_nano, name, attributes, dropped_attributes_count)| pb_span::Event {
            time_unix_nano,
            name,
            attributes,
            dropped_attributes_count,
        },
    );
    let link = (arb_id(16), arb_id(8), ".{0,4}", arb_attrs(), any::<u32>()).prop_map(
        |(trace_id, span_id, trace_state, attributes, flags)| pb_span::Link {
            trace_id,
            span_id,
            trace_state,
            attributes,
            dropped_attributes_count: flags / 2,
            flags,
        },
    );
    let status = proptest::option::of((".{0,4}", any::<i32>()))
        .prop_map(|s| s.map(|(message, code)| PbStatus { message, code }));
    let parts = (arb_attrs(), vec(event, 0..2), vec(link, 0..2), status);
    (ids, numbers, parts).prop_map(
        |(
            (trace_id, span_id, parent_span_id, name, trace_state),
            (kind, start, end, flags, dropped),
            (attributes, events, links, status),
        )| PbSpan {
            trace_id,
            span_id,
            trace_state,
            parent_span_id,
            flags,
            name,
            kind,
            start_time_unix_nano: start,
            end_time_unix_nano: end,
            attributes,
            dropped_attributes_count: dropped,
            events,
            dropped_events_count: dropped / 3,
            links,
            dropped_links_count: dropped / 5,
            status,
        },
    )
}

pub(super) fn arb_resource_spans() -> impl Strategy<Value = ResourceSpans> {
    let scope = (
        proptest::option::of((".{0,4}", ".{0,4}", arb_attrs(), any::<u32>())),
        vec(arb_span(), 0..4),
        ".{0,4}",
    )
        .prop_map(|(scope, spans, schema_url)| ScopeSpans {
            scope: scope.map(|(name, version, attributes, dropped_attributes_count)| {
                InstrumentationScope {
                    name,
                    version,
                    attributes,
                    dropped_attributes_count,
                }
            }),
            spans,
            schema_url,
        });
    (
        proptest::option::of((arb_attrs(), any::<u32>())),
        vec(scope, 0..3),
        ".{0,4}",
    )
        .prop_map(|(resource, scope_spans, schema_url)| ResourceSpans {
            resource: resource.map(|(attributes, dropped_attributes_count)| PbResource {
                attributes,
                dropped_attributes_count,
                entity_refs: Vec::new(),
            }),
            scope_spans,
            schema_url,
        })
}

pub(super) fn arb_request() -> impl Strategy<Value = ExportTraceServiceRequest> {
    vec(arb_resource_spans(), 0..3)
        .prop_map(|resource_spans| ExportTraceServiceRequest { resource_spans })
}

/// JSON shaped like OTLP (its keys, hex-ish and numeric strings) nested at random, to get
/// the decoder past the top level.
fn arb_otlp_json() -> impl Strategy<Value = Json> {
    let keys = prop::sample::select(vec![
        "resourceSpans",
        "resource",
        "attributes",
        "scopeSpans",
        "scope",
        "spans",
        "traceId",
        "spanId",
        "parentSpanId",
        "name",
        "kind",
        "startTimeUnixNano",
        "events",
        "links",
        "status",
        "code",
        "key",
        "value",
        "stringValue",
        "intValue",
        "doubleValue",
        "boolValue",
        "bytesValue",
        "arrayValue",
        "kvlistValue",
        "values",
        "flags",
        "droppedAttributesCount",
        "timeUnixNano",
        "entityRefs",
        "idKeys",
    ]);
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        any::<i64>().prop_map(Json::from),
        any::<u64>().prop_map(Json::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Json::Null, Json::Number)),
        "[0-9a-fA-F]{0,34}".prop_map(Json::String),
        "[A-Za-z0-9+/=_-]{0,8}".prop_map(Json::String),
        ".{0,6}".prop_map(Json::String),
    ];
    leaf.prop_recursive(8, 96, 6, move |inner| {
        prop_oneof![
            vec(inner.clone(), 0..5).prop_map(Json::Array),
            vec((keys.clone(), inner), 0..5).prop_map(|kvs| {
                Json::Object(kvs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            }),
        ]
    })
}

pub(super) fn span_count(req: &ExportTraceServiceRequest) -> u64 {
    req.resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .map(|ss| ss.spans.len() as u64)
        .sum()
}

proptest! {
    #[test]
    fn decode_export_never_panics(body in vec(any::<u8>(), 0..1024)) {
        let _ = decode_export(&body);
    }

    #[test]
    fn decode_json_never_panics_on_arbitrary_bytes(body in vec(any::<u8>(), 0..512)) {
        let _ = decode_json(&body);
    }

    #[test]
    fn decode_json_never_panics_on_otlp_shaped_json(doc in arb_otlp_json()) {
        let body = doc.to_string();
        if let Ok(req) = decode_json(body.as_bytes()) {
            let _ = to_model(req);
        }
    }

    #[test]
    fn to_model_accounts_for_every_span_and_round_trips(req in arb_request()) {
        let total = span_count(&req);
        let decoded = to_model(req);
        prop_assert_eq!(decoded.batch.len() as u64 + decoded.rejected_spans, total);
        prop_assert!(decoded.errors.len() as u64 == decoded.rejected_spans.min(10));
        for s in &decoded.batch.spans {
            prop_assert!(!s.trace_id.is_zero() && !s.span_id.is_zero());
            prop_assert!(!s.name.is_empty());
            prop_assert!(s.resource.service_name().is_some_and(|n| !n.is_empty()));
        }
        let spans = decoded.batch.spans;
        let via_proto = to_model(export_request(&spans));
        prop_assert_eq!(&via_proto.batch.spans, &spans);
        let json = traces_data_to_json(&from_model(&spans)).to_string();
        let via_json = to_model(decode_json(json.as_bytes()).expect("own JSON decodes"));
        prop_assert_eq!(&via_json.batch.spans, &spans);
    }
}
