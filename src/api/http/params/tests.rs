use super::*;
use proptest::prelude::*;

const NOW: u64 = 1_721_390_000_000_000_000;
const MS: u64 = 1_000_000;
/// 2026-11-21T00:52:44Z
const UI_MIN_NS: u64 = 1_795_222_364_000_000_000;
const WINDOW: &str = "query.startTimeMin=2026-11-21T00%3A52%3A44.000Z&query.startTimeMax=2026-11-21T01%3A52%3A44.000Z";

fn classic_err(qs: &str) -> String {
    parse_classic_search(qs, NOW).unwrap_err().0
}

fn v3_err(qs: &str) -> String {
    parse_v3_search(qs).unwrap_err().0
}

fn attrs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn classic_defaults() {
    let s = parse_classic_search("service=frontend", NOW).unwrap();
    assert!(s.trace_ids.is_empty());
    assert!(!s.raw);
    assert_eq!(
        s.query,
        TraceQuery {
            service: Some("frontend".into()),
            operation: None,
            attributes: vec![],
            start_min_ns: NOW - DEFAULT_LOOKBACK_NS,
            start_max_ns: NOW,
            duration_min_ns: None,
            duration_max_ns: None,
            limit: 100,
        }
    );
}

#[test]
fn classic_ui_query_string() {
    // jaeger-ui v2.14.1: sorted keys, bare maxDuration, JSON tags.
    let qs = "end=1721390000000000&limit=20&lookback=1h&maxDuration&minDuration=10ms\
              &operation=HTTP+GET+%2Fdispatch&service=frontend&start=1721386400000000\
              &tags=%7B%22error%22%3A%22true%22%2C%22http.status_code%22%3A%22500%22%7D";
    let s = parse_classic_search(qs, NOW).unwrap();
    let q = s.query;
    assert_eq!(q.service.as_deref(), Some("frontend"));
    assert_eq!(q.operation.as_deref(), Some("HTTP GET /dispatch"));
    assert_eq!(q.start_min_ns, 1_721_386_400_000_000_000);
    assert_eq!(q.start_max_ns, 1_721_390_000_000_000_000);
    assert_eq!(q.limit, 20);
    assert_eq!(q.duration_min_ns, Some(10 * MS));
    assert_eq!(q.duration_max_ns, None);
    assert_eq!(
        q.attributes,
        attrs(&[("error", "true"), ("http.status_code", "500")])
    );
}

#[test]
fn classic_bare_and_empty_keys_are_unset() {
    let s =
        parse_classic_search("?service=a&minDuration&maxDuration=&limit=&start&raw", NOW).unwrap();
    assert_eq!(s.query.duration_min_ns, None);
    assert_eq!(s.query.duration_max_ns, None);
    assert_eq!(s.query.limit, 100);
    assert_eq!(s.query.start_min_ns, NOW - DEFAULT_LOOKBACK_NS);
    assert!(!s.raw);
}

#[test]
fn classic_error_messages() {
    assert_eq!(classic_err(""), "parameter 'service' is required");
    assert_eq!(
        classic_err("service=&operation=x"),
        "parameter 'service' is required"
    );
    assert_eq!(
        classic_err("service=a&limit=abc"),
        r#"unable to parse param 'limit': strconv.ParseInt: parsing "abc": invalid syntax"#
    );
    assert_eq!(
        classic_err("service=a&start=x"),
        r#"unable to parse param 'start': strconv.ParseInt: parsing "x": invalid syntax"#
    );
    assert_eq!(
        classic_err("service=a&end=1.5"),
        r#"unable to parse param 'end': strconv.ParseInt: parsing "1.5": invalid syntax"#
    );
    assert_eq!(
        classic_err("service=a&tag=novalue"),
        "malformed 'tag' parameter, expecting key:value, received: novalue"
    );
    assert!(classic_err("service=a&tags=notjson").starts_with("unable to parse param 'tags': "));
    assert!(classic_err("service=a&tags=%5B1%5D").starts_with("unable to parse param 'tags': "));
    assert_eq!(
        classic_err("service=a&minDuration=10"),
        r#"unable to parse param 'minDuration': time: invalid duration "10""#
    );
    assert_eq!(
        classic_err("service=a&minDuration=2ms&maxDuration=1ms"),
        "'maxDuration' should be greater than 'minDuration'"
    );
    assert!(classic_err("service=a&traceID=xyz").starts_with("unable to parse param 'traceID': "));
    assert_eq!(
        classic_err("service=a&raw=maybe"),
        r#"unable to parse param 'raw': strconv.ParseBool: parsing "maybe": invalid syntax"#
    );
    // Parse errors come before the missing-service check, as in Jaeger.
    assert!(classic_err("limit=abc").starts_with("unable to parse param 'limit'"));
}

#[test]
fn classic_tag_params_repeat_and_split_at_first_colon() {
    let s = parse_classic_search(
        "service=a&tag=http.url:http://x:80/a&tag=k:1&tag=k:2&tag=empty:",
        NOW,
    )
    .unwrap();
    assert_eq!(
        s.query.attributes,
        attrs(&[("http.url", "http://x:80/a"), ("k", "2"), ("empty", "")])
    );
}

#[test]
fn classic_tags_json_later_wins_and_values_are_stringified() {
    let qs = form_urlencoded::Serializer::new(String::new())
        .append_pair("service", "a")
        .append_pair("tags", r#"{"a":"1","n":5}"#)
        .append_pair(
            "tags",
            r#"{"a":"2","f":1.0,"g":2.5,"b":true,"z":null,"arr":[1,"x"]}"#,
        )
        .append_pair("tags", "")
        .finish();
    let s = parse_classic_search(&qs, NOW).unwrap();
    assert_eq!(
        s.query.attributes,
        attrs(&[
            ("a", "2"),
            ("n", "5"),
            ("f", "1"),
            ("g", "2.5"),
            ("b", "true"),
            ("z", ""),
            ("arr", r#"[1,"x"]"#)
        ])
    );
    // `tags` is applied after `tag`, whatever the order in the URL.
    let s = parse_classic_search(
        "service=a&tags=%7B%22k%22%3A%22json%22%7D&tag=k:simple",
        NOW,
    )
    .unwrap();
    assert_eq!(s.query.attributes, attrs(&[("k", "json")]));
}

#[test]
fn classic_trace_id_lookup_needs_no_service() {
    let s = parse_classic_search(
        "traceID=abc&traceID=4bf92f3577b34da6a3ce929d0e0e4736&raw=true",
        NOW,
    )
    .unwrap();
    assert_eq!(
        s.trace_ids,
        vec![
            TraceId::from_u128(0xabc),
            TraceId::from_u128(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736)
        ]
    );
    assert!(s.raw);
    assert_eq!(s.query.service, None);
}

#[test]
fn classic_first_value_wins_and_limits_clamp() {
    let s = parse_classic_search("service=a&service=b&limit=0&limit=7", NOW).unwrap();
    assert_eq!(s.query.service.as_deref(), Some("a"));
    assert_eq!(s.query.limit, 100);
    let s = parse_classic_search("service=a&limit=-5&start=-10", NOW).unwrap();
    assert_eq!(s.query.limit, 100);
    assert_eq!(s.query.start_min_ns, 0);
    let s = parse_classic_search("service=a&limit=1500&end=1721390000000001", NOW).unwrap();
    assert_eq!(s.query.limit, 1500);
    assert_eq!(s.query.start_max_ns, NOW + 1_000);
}

#[test]
fn classic_get_trace() {
    assert_eq!(
        parse_classic_get_trace("").unwrap(),
        ClassicGetTrace::default()
    );
    assert_eq!(
        parse_classic_get_trace("start=1&end=2&raw=true&prettyPrint=true").unwrap(),
        ClassicGetTrace {
            start_ns: Some(1_000),
            end_ns: Some(2_000),
            raw: true
        }
    );
    assert_eq!(
        parse_classic_get_trace("end=soon").unwrap_err().0,
        r#"unable to parse param 'end': strconv.ParseInt: parsing "soon": invalid syntax"#
    );
}

#[test]
fn trace_id_path_accepts_hex_then_base64() {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    use base64::Engine;
    let wide = 0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736u128;
    assert_eq!(
        parse_trace_id_path("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
        TraceId::from_u128(wide)
    );
    assert_eq!(
        parse_trace_id_path("abc").unwrap(),
        TraceId::from_u128(0xabc)
    );
    // 22 hex digits is also valid unpadded base64 of 16 bytes: hex wins.
    assert_eq!(
        parse_trace_id_path("0123456789abcdef012345").unwrap(),
        TraceId::from_u128(0x0001_2345_6789_abcd_ef01_2345)
    );
    // Bytes chosen so the encodings contain '+' / '/' (std) and '-' / '_' (URL).
    let bytes: [u8; 16] = [
        0xfb, 0xff, 0xbf, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0xfe, 0xff,
    ];
    let id = TraceId(bytes);
    for encoded in [
        STANDARD.encode(bytes),
        STANDARD_NO_PAD.encode(bytes),
        URL_SAFE_NO_PAD.encode(bytes),
        format!("{}==", URL_SAFE_NO_PAD.encode(bytes)),
    ] {
        assert_eq!(parse_trace_id_path(&encoded).unwrap(), id, "{encoded}");
    }
    assert_eq!(
        parse_trace_id_path(&STANDARD.encode([0, 0, 0, 0, 0, 0, 1, 0xff])).unwrap(),
        TraceId::from_u128(0x1ff)
    );
}

#[test]
fn trace_id_path_rejects_zero_and_garbage() {
    for bad in [
        "",
        "0",
        "00000000000000000000000000000000",
        "AAAAAAAAAAAAAAAAAAAAAA==",
        "!!",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        &"0".repeat(33),
    ] {
        let e = parse_trace_id_path(bad).unwrap_err().0;
        assert!(
            e.starts_with("unable to parse param 'traceID': "),
            "{bad}: {e}"
        );
    }
    assert_eq!(
        parse_trace_id_path("0").unwrap_err().0,
        "unable to parse param 'traceID': trace id must not be zero"
    );
    assert_eq!(
        parse_v3_trace_id_path("0").unwrap_err().0,
        "malformed parameter trace_id: trace id must not be zero"
    );
}

#[test]
fn operations_params() {
    assert_eq!(
        parse_operations_params("service=a&spanKind=server", false).unwrap(),
        ("a".to_string(), Some(SpanKind::Server))
    );
    assert_eq!(
        parse_operations_params("service=a&spanKind=", false)
            .unwrap()
            .1,
        None
    );
    // The snake_case alias is a v3 thing.
    assert_eq!(
        parse_operations_params("service=a&span_kind=client", false)
            .unwrap()
            .1,
        None
    );
    assert_eq!(
        parse_operations_params("service=a&span_kind=client", true)
            .unwrap()
            .1,
        Some(SpanKind::Client)
    );
    assert_eq!(
        parse_operations_params("service=a&spanKind=server&span_kind=client", true)
            .unwrap()
            .1,
        Some(SpanKind::Server)
    );
    assert_eq!(
        parse_operations_params("spanKind=server", false)
            .unwrap_err()
            .0,
        "parameter 'service' is required"
    );
    assert_eq!(
        parse_operations_params("service=", true).unwrap_err().0,
        "parameter 'service' is required"
    );
    assert_eq!(
        parse_operations_params("service=a&spanKind=bogus", false)
            .unwrap_err()
            .0,
        r#"unable to parse param 'spanKind': unknown span kind "bogus""#
    );
    assert_eq!(
        parse_operations_params("service=a&span_kind=bogus", true)
            .unwrap_err()
            .0,
        r#"malformed parameter span_kind: unknown span kind "bogus""#
    );
}

#[test]
fn v3_ui_observed_query_string() {
    let qs = "query.serviceName=frontend&query.operationName=HTTP+GET+%2Fdispatch\
              &query.startTimeMin=2026-11-21T00%3A52%3A44.000Z&query.startTimeMax=2026-11-21T01%3A52%3A44.000Z\
              &query.searchDepth=20&query.durationMin=10ms\
              &query.attributes=%7B%22http.status_code%22%3A%22200%22%7D";
    let s = parse_v3_search(qs).unwrap();
    assert!(!s.raw);
    assert_eq!(
        s.query,
        TraceQuery {
            service: Some("frontend".into()),
            operation: Some("HTTP GET /dispatch".into()),
            attributes: attrs(&[("http.status_code", "200")]),
            start_min_ns: UI_MIN_NS,
            start_max_ns: UI_MIN_NS + 3_600_000_000_000,
            duration_min_ns: Some(10 * MS),
            duration_max_ns: None,
            limit: 20,
        }
    );
}

#[test]
fn v3_defaults_and_empty_values() {
    let s = parse_v3_search(&format!(
        "{WINDOW}&query.serviceName=&query.operationName=&query.attributes=&query.durationMin=&query.searchDepth=0"
    ))
    .unwrap();
    assert_eq!(s.query.service, None);
    assert_eq!(s.query.operation, None);
    assert!(s.query.attributes.is_empty());
    assert_eq!(s.query.duration_min_ns, None);
    assert_eq!(s.query.limit, 100);
    assert!(!s.raw);
}

#[test]
fn v3_snake_case_aliases() {
    let qs = "query.service_name=a&query.operation_name=op\
              &query.start_time_min=2026-11-21T00:52:44Z&query.start_time_max=2026-11-21T01:52:44.5%2B01:00\
              &query.num_traces=5&query.duration_min=1ms&query.duration_max=1s&query.raw_traces=true";
    let s = parse_v3_search(qs).unwrap();
    assert_eq!(s.query.service.as_deref(), Some("a"));
    assert_eq!(s.query.operation.as_deref(), Some("op"));
    assert_eq!(s.query.start_min_ns, UI_MIN_NS);
    // 01:52:44.5+01:00 is 00:52:44.5Z
    assert_eq!(s.query.start_max_ns, UI_MIN_NS + 500 * MS);
    assert_eq!(s.query.limit, 5);
    assert_eq!(s.query.duration_min_ns, Some(MS));
    assert_eq!(s.query.duration_max_ns, Some(1_000 * MS));
    assert!(s.raw);
    // search_depth beats num_traces; the canonical name beats both.
    let s = parse_v3_search(&format!("{WINDOW}&query.num_traces=5&query.search_depth=6")).unwrap();
    assert_eq!(s.query.limit, 6);
    let s = parse_v3_search(&format!(
        "{WINDOW}&query.search_depth=6&query.searchDepth=7&query.service_name=b&query.serviceName=a"
    ))
    .unwrap();
    assert_eq!(s.query.limit, 7);
    assert_eq!(s.query.service.as_deref(), Some("a"));
}

#[test]
fn v3_error_messages() {
    let required = "query.startTimeMin and query.startTimeMax are required";
    assert_eq!(v3_err(""), required);
    assert_eq!(v3_err("query.startTimeMin=2026-11-21T00:52:44Z"), required);
    assert_eq!(
        v3_err("query.startTimeMin=&query.startTimeMax=2026-11-21T00:52:44Z"),
        required
    );
    assert!(
        v3_err("query.startTimeMin=yesterday&query.startTimeMax=2026-11-21T00:52:44Z")
            .starts_with(r#"malformed parameter query.startTimeMin: parsing time "yesterday""#)
    );
    assert!(
        v3_err("query.startTimeMin=2026-11-21T00:52:44Z&query.start_time_max=bad")
            .starts_with("malformed parameter query.start_time_max: ")
    );
    assert_eq!(
        v3_err("query.startTimeMin=2026-11-21T00:52:44Z&query.startTimeMax=2026-11-21T00:52:44Z"),
        "malformed parameter query.startTimeMax: must be after query.startTimeMin"
    );
    assert_eq!(
        v3_err(&format!("{WINDOW}&query.searchDepth=abc")),
        r#"malformed parameter query.searchDepth: strconv.ParseUint: parsing "abc": invalid syntax"#
    );
    assert_eq!(
        v3_err(&format!("{WINDOW}&query.num_traces=-1")),
        r#"malformed parameter query.num_traces: strconv.ParseUint: parsing "-1": invalid syntax"#
    );
    assert_eq!(
        v3_err(&format!("{WINDOW}&query.durationMin=fast")),
        r#"malformed parameter query.durationMin: time: invalid duration "fast""#
    );
    assert_eq!(
        v3_err(&format!("{WINDOW}&query.duration_max=1")),
        r#"malformed parameter query.duration_max: time: invalid duration "1""#
    );
    assert!(v3_err(&format!("{WINDOW}&query.attributes=%7Bnope"))
        .starts_with("malformed parameter query.attributes: "));
    assert_eq!(
        v3_err(&format!("{WINDOW}&query.rawTraces=yes")),
        r#"malformed parameter query.rawTraces: strconv.ParseBool: parsing "yes": invalid syntax"#
    );
}

#[test]
fn v3_get_trace() {
    assert_eq!(parse_v3_get_trace("").unwrap(), V3GetTrace::default());
    assert_eq!(
        parse_v3_get_trace(
            "startTime=2026-11-21T00:52:44Z&end_time=2026-11-21T00:52:44.000000001Z&raw_traces=1"
        )
        .unwrap(),
        V3GetTrace {
            start_ns: Some(UI_MIN_NS),
            end_ns: Some(UI_MIN_NS + 1),
            raw: true
        }
    );
    assert!(parse_v3_get_trace("start_time=noon")
        .unwrap_err()
        .0
        .starts_with(r#"malformed parameter start_time: parsing time "noon""#));
    assert_eq!(
        parse_v3_get_trace("rawTraces=nah").unwrap_err().0,
        r#"malformed parameter rawTraces: strconv.ParseBool: parsing "nah": invalid syntax"#
    );
}

const KEYS: &[&str] = &[
    "service",
    "operation",
    "tags",
    "tag",
    "start",
    "end",
    "limit",
    "minDuration",
    "maxDuration",
    "traceID",
    "raw",
    "spanKind",
    "span_kind",
    "query.serviceName",
    "query.attributes",
    "query.startTimeMin",
    "query.startTimeMax",
    "query.searchDepth",
    "query.num_traces",
    "query.durationMin",
    "query.durationMax",
    "query.rawTraces",
    "startTime",
    "end_time",
];

fn run_every_parser(qs: &str) {
    let _ = parse_classic_search(qs, NOW);
    let _ = parse_classic_search(qs, 0);
    let _ = parse_classic_get_trace(qs);
    let _ = parse_trace_id_path(qs);
    let _ = parse_v3_trace_id_path(qs);
    let _ = parse_v3_search(qs);
    let _ = parse_v3_get_trace(qs);
    let _ = parse_operations_params(qs, false);
    let _ = parse_operations_params(qs, true);
}

proptest! {
    #[test]
    fn parsers_never_panic_on_arbitrary_strings(s in ".*") {
        run_every_parser(&s);
    }

    #[test]
    fn parsers_never_panic_on_known_keys_with_arbitrary_values(
        pairs in prop::collection::vec((prop::sample::select(KEYS), ".*"), 0..8)
    ) {
        let mut ser = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &pairs {
            ser.append_pair(k, v);
        }
        run_every_parser(&ser.finish());
    }

    #[test]
    fn parsers_never_panic_on_number_like_values(
        pairs in prop::collection::vec(
            (prop::sample::select(KEYS), "[-+0-9.eE:TZµsmhnu]{0,40}"),
            0..8,
        )
    ) {
        let mut ser = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &pairs {
            ser.append_pair(k, v);
        }
        run_every_parser(&ser.finish());
    }
}
