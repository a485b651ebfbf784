//! Jaeger's storage-integration scenarios, replayed end to end: fixtures go in over OTLP gRPC,
//! results come back through the Jaeger HTTP API, `/api/v3` and trace summaries — against the
//! RocksDB store and the memory store. Fixtures are read from ../shared (never committed here);
//! when they are absent the suite says so loudly.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{NaiveDate, TimeZone, Utc};
use common::{conformance_dir, TestServer};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};
use serde_json::{json, Value};
use tracehound::config::StorageType;
use tracehound::ingest::otlp::decode_json;

/// Dates the fixtures use, and what they become (README "Time rebasing").
struct Rebase {
    yesterday: NaiveDate,
    two_days_ago: NaiveDate,
}

impl Rebase {
    fn now() -> Self {
        let today = Utc::now().date_naive();
        Rebase {
            yesterday: today.pred_opt().unwrap(),
            two_days_ago: today.pred_opt().unwrap().pred_opt().unwrap(),
        }
    }

    fn ns(&self, ns: u64) -> u64 {
        let t = Utc.timestamp_nanos(ns as i64);
        let day = if t.date_naive() == NaiveDate::from_ymd_opt(2017, 1, 25).unwrap() {
            self.two_days_ago
        } else {
            self.yesterday
        };
        let moved = day.and_time(t.time()).and_utc();
        moved.timestamp_nanos_opt().unwrap() as u64
    }

    fn text(&self, raw: &str) -> String {
        raw.replace("2017-01-26", &self.yesterday.to_string())
            .replace("2017-01-25", &self.two_days_ago.to_string())
    }

    /// Rebases every span and event timestamp of an OTLP JSON document in place.
    fn fixture(&self, doc: &mut Value) {
        for_each_span(doc, |span| {
            for key in ["startTimeUnixNano", "endTimeUnixNano"] {
                if let Some(v) = span.get_mut(key) {
                    *v = json!(self.ns(as_u64(v)).to_string());
                }
            }
            if let Some(Value::Array(events)) = span.get_mut("events") {
                for e in events {
                    if let Some(v) = e.get_mut("timeUnixNano") {
                        *v = json!(self.ns(as_u64(v)).to_string());
                    }
                }
            }
        });
    }
}

fn as_u64(v: &Value) -> u64 {
    match v {
        Value::String(s) => s.parse().expect("numeric string"),
        other => other.as_u64().expect("number"),
    }
}

fn for_each_span(doc: &mut Value, mut f: impl FnMut(&mut Value)) {
    if let Some(Value::Array(rss)) = doc.get_mut("resourceSpans") {
        for rs in rss {
            if let Some(Value::Array(sss)) = rs.get_mut("scopeSpans") {
                for ss in sss {
                    if let Some(Value::Array(spans)) = ss.get_mut("spans") {
                        spans.iter_mut().for_each(&mut f);
                    }
                }
            }
        }
    }
}

struct Fixtures {
    dir: std::path::PathBuf,
    rebase: Rebase,
}

impl Fixtures {
    fn load() -> Option<Fixtures> {
        conformance_dir().map(|dir| Fixtures {
            dir,
            rebase: Rebase::now(),
        })
    }

    /// The rebased OTLP JSON of `traces/<name>.json`.
    fn trace_json(&self, name: &str) -> Value {
        let path = self.dir.join("traces").join(format!("{name}.json"));
        let raw = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        let mut doc: Value = serde_json::from_str(&raw).expect("fixture JSON");
        self.rebase.fixture(&mut doc);
        doc
    }

    fn request(&self, name: &str) -> ExportTraceServiceRequest {
        let doc = self.trace_json(name);
        decode_json(doc.to_string().as_bytes()).expect("fixture decodes as OTLP JSON")
    }

    fn queries(&self) -> Vec<Value> {
        let raw = std::fs::read_to_string(self.dir.join("queries.json")).expect("queries.json");
        serde_json::from_str(&self.rebase.text(&raw)).expect("queries JSON")
    }
}

/// Splits a request into requests of at most `n` spans, keeping resource/scope grouping
/// (Jaeger's end-to-end harness sends 5 spans per export).
fn chunks(req: ExportTraceServiceRequest, n: usize) -> Vec<ExportTraceServiceRequest> {
    let mut out = Vec::new();
    for rs in req.resource_spans {
        for ss in &rs.scope_spans {
            for part in ss.spans.chunks(n) {
                out.push(ExportTraceServiceRequest {
                    resource_spans: vec![ResourceSpans {
                        resource: rs.resource.clone(),
                        scope_spans: vec![ScopeSpans {
                            scope: ss.scope.clone(),
                            spans: part.to_vec(),
                            schema_url: ss.schema_url.clone(),
                        }],
                        schema_url: rs.schema_url.clone(),
                    }],
                });
            }
        }
    }
    out
}

async fn write_fixture(server: &TestServer, fx: &Fixtures, name: &str) {
    for req in chunks(fx.request(name), 5) {
        let resp = server.export(req).await;
        assert!(resp.partial_success.is_none(), "{name}: {resp:?}");
    }
}

fn trace_ids_of(doc: &Value) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    let mut d = doc.clone();
    for_each_span(&mut d, |s| {
        ids.insert(s["traceId"].as_str().unwrap().to_string());
    });
    ids
}

fn span_count(doc: &Value) -> usize {
    let mut n = 0;
    let mut d = doc.clone();
    for_each_span(&mut d, |_| n += 1);
    n
}

/// 32-hex trace ID → the 16-hex form Jaeger's classic API prints when the high half is zero.
fn jaeger_hex(id32: &str) -> String {
    id32.strip_prefix("0000000000000000")
        .unwrap_or(id32)
        .to_string()
}

// ---------------------------------------------------------------------------------------------
// Normalisation for exact comparison (Jaeger's CompareTraces after normalising both sides).

const DEFAULTABLE: &[&str] = &[
    "droppedAttributesCount",
    "droppedEventsCount",
    "droppedLinksCount",
    "flags",
    "kind",
    "traceState",
    "parentSpanId",
    "schemaUrl",
    "name",
    "version",
    "code",
    "message",
];

fn canonical(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = serde_json::Map::new();
            for (k, v) in m {
                let mut c = canonical(v);
                if k == "intValue" || k.ends_with("UnixNano") {
                    if let Value::Number(n) = &c {
                        c = json!(n.to_string());
                    }
                }
                let empty = match &c {
                    Value::Null => true,
                    Value::Object(o) => o.is_empty(),
                    Value::Array(a) => a.is_empty(),
                    Value::String(s) => s.is_empty() && DEFAULTABLE.contains(&k.as_str()),
                    Value::Number(n) => {
                        n.as_f64() == Some(0.0) && DEFAULTABLE.contains(&k.as_str())
                    }
                    _ => false,
                };
                if !empty {
                    out.insert(k.clone(), c);
                }
            }
            if let Some(Value::Array(attrs)) = out.get_mut("attributes") {
                attrs.sort_by(|a, b| a["key"].as_str().cmp(&b["key"].as_str()));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// One entry per span: its resource, scope and canonical body; duplicates (same trace and
/// span ID) dropped, first wins; sorted.
fn normalized_spans(doc: &Value) -> Vec<Value> {
    let mut out: BTreeMap<(String, String, String), Value> = BTreeMap::new();
    for rs in doc["resourceSpans"].as_array().into_iter().flatten() {
        let resource = canonical(&rs["resource"]);
        for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
            let scope = canonical(&ss["scope"]);
            for s in ss["spans"].as_array().into_iter().flatten() {
                let mut span = canonical(s);
                for list in ["events", "links"] {
                    if let Some(Value::Array(items)) = span.get_mut(list) {
                        items.sort_by_key(|i| i.to_string());
                    }
                }
                let key = (
                    span["traceId"].as_str().unwrap_or("").to_string(),
                    span["spanId"].as_str().unwrap_or("").to_string(),
                    span["startTimeUnixNano"].to_string(),
                );
                out.entry(key)
                    .or_insert_with(|| json!({"resource": resource, "scope": scope, "span": span}));
            }
        }
    }
    out.into_values().collect()
}

// ---------------------------------------------------------------------------------------------

async fn get_services_operations_and_trace(kind: StorageType, fx: &Fixtures) {
    let server = TestServer::start(kind);
    write_fixture(&server, fx, "example_trace").await;

    // GetServices: exactly the three services, on both API generations.
    let (st, body) = server.get_json("/api/services").await;
    assert_eq!(st, 200);
    let mut services: Vec<String> = serde_json::from_value(body["data"].clone()).unwrap();
    services.sort();
    assert_eq!(
        services,
        [
            "example-service-1",
            "example-service-2",
            "example-service-3"
        ]
    );
    assert_eq!(body["total"], 3);
    let (_, v3) = server.get_json("/api/v3/services").await;
    let mut v3s: Vec<String> = serde_json::from_value(v3["services"].clone()).unwrap();
    v3s.sort();
    assert_eq!(v3s, services);

    // GetOperations without and with span kind.
    let (st, body) = server
        .get_json("/api/operations?service=example-service-1")
        .await;
    assert_eq!(st, 200);
    let mut ops: Vec<(String, String)> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["name"].as_str().unwrap().into(),
                o["spanKind"].as_str().unwrap().into(),
            )
        })
        .collect();
    ops.sort();
    assert_eq!(
        ops,
        [
            ("example-operation-1".to_string(), "".to_string()),
            ("example-operation-3".into(), "server".into()),
            ("example-operation-4".into(), "client".into()),
        ]
    );
    let (_, body) = server
        .get_json("/api/operations?service=example-service-1&spanKind=server")
        .await;
    assert_eq!(
        body["data"],
        json!([{"name": "example-operation-3", "spanKind": "server"}])
    );
    let (_, body) = server
        .get_json("/api/v3/operations?service=example-service-1&spanKind=client")
        .await;
    assert_eq!(
        body["operations"],
        json!([{"name": "example-operation-4", "spanKind": "client"}])
    );
    let (_, body) = server
        .get_json("/api/services/example-service-1/operations")
        .await;
    let mut names: Vec<String> = serde_json::from_value(body["data"].clone()).unwrap();
    names.sort();
    assert_eq!(
        names,
        [
            "example-operation-1",
            "example-operation-3",
            "example-operation-4"
        ]
    );

    // GetTrace by 16- and 32-hex IDs, classic and v3.
    let expected = fx.trace_json("example_trace");
    for id in ["0000000000000011", "00000000000000000000000000000011", "11"] {
        let (st, body) = server.get_json(&format!("/api/traces/{id}")).await;
        assert_eq!(st, 200, "{id}: {body}");
        let trace = &body["data"][0];
        assert_eq!(trace["traceID"], "0000000000000011");
        assert_eq!(trace["spans"].as_array().unwrap().len(), 5);
    }
    let (st, body) = server
        .get_json("/api/v3/traces/00000000000000000000000000000011?rawTraces=true")
        .await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(
        normalized_spans(&body["result"]),
        normalized_spans(&expected)
    );

    // NotFound.
    let (st, body) = server.get_json("/api/traces/0000000000000001").await;
    assert_eq!(st, 404);
    assert_eq!(body["errors"][0]["msg"], "trace not found");
    let (st, _) = server
        .get_json("/api/v3/traces/00000000000000000000000000000001")
        .await;
    assert_eq!(st, 404);
}

/// The first span of example_trace copied `n` times; `id_of(i)` picks each copy's span ID.
fn cloned_trace(fx: &Fixtures, n: u64, id_of: impl Fn(u64) -> u64) -> ExportTraceServiceRequest {
    let mut req = fx.request("example_trace");
    let mut rs = req.resource_spans.swap_remove(0);
    let mut ss = rs.scope_spans.swap_remove(0);
    let first = ss.spans.swap_remove(0);
    ss.spans = (0..n)
        .map(|i| {
            let mut s = first.clone();
            s.span_id = id_of(i).to_be_bytes().to_vec();
            s.start_time_unix_nano += (i + 1) * 1_000_000_000;
            s.end_time_unix_nano += (i + 1) * 1_000_000_000;
            s
        })
        .collect();
    rs.scope_spans = vec![ss];
    ExportTraceServiceRequest {
        resource_spans: vec![rs],
    }
}

async fn large_trace(kind: StorageType, fx: &Fixtures) {
    let server = TestServer::start(kind);
    server.export(cloned_trace(fx, 10_008, |i| i + 1)).await;
    let (st, body) = server.get_json("/api/traces/11").await;
    assert_eq!(st, 200);
    assert_eq!(body["data"][0]["spans"].as_array().unwrap().len(), 10_008);
    let (_, body) = server
        .get_json("/api/v3/traces/00000000000000000000000000000011")
        .await;
    assert_eq!(span_count(&body["result"]), 10_008);
}

async fn duplicate_spans(kind: StorageType, fx: &Fixtures) {
    let server = TestServer::start(kind);
    let original = 4; // span 0x4 of example_trace
    server
        .export(cloned_trace(fx, 200, |i| {
            if i > 0 && i % 20 == 0 {
                original
            } else {
                i + 1
            }
        }))
        .await;
    for raw in ["true", "false"] {
        let (st, body) = server.get_json(&format!("/api/traces/11?raw={raw}")).await;
        assert_eq!(st, 200);
        let spans = body["data"][0]["spans"].as_array().unwrap();
        assert!(spans.len() >= 200, "raw={raw}: {} spans", spans.len());
        let mut seen = BTreeMap::new();
        for s in spans {
            *seen
                .entry(s["spanID"].as_str().unwrap().to_string())
                .or_insert(0) += 1;
        }
        assert_eq!(seen["0000000000000004"], 10, "raw={raw}");
    }
}

fn tag_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn rfc3339_to_us(s: &str) -> u64 {
    let t = chrono::DateTime::parse_from_rfc3339(s).expect("RFC 3339");
    (t.timestamp_nanos_opt().unwrap() / 1000) as u64
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn find_traces(kind: StorageType, fx: &Fixtures) {
    let server = TestServer::start(kind);
    let queries = fx.queries();
    let mut written = BTreeSet::new();
    for q in &queries {
        for name in q["ExpectedFixtures"].as_array().unwrap() {
            let name = name.as_str().unwrap();
            if written.insert(name.to_string()) {
                write_fixture(&server, fx, name).await;
            }
        }
    }
    let mut failures = Vec::new();
    for q in &queries {
        let caption = q["Caption"].as_str().unwrap();
        let query = &q["Query"];
        let expected_docs: Vec<Value> = q["ExpectedFixtures"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| fx.trace_json(n.as_str().unwrap()))
            .collect();
        let expected_ids: BTreeSet<String> = expected_docs.iter().flat_map(trace_ids_of).collect();
        let expected_spans: usize = expected_docs.iter().map(span_count).sum();
        let mut expected_norm: Vec<Value> =
            expected_docs.iter().flat_map(normalized_spans).collect();
        expected_norm.sort_by_key(|v| v.to_string());

        let tags: BTreeMap<String, String> = query["Tags"]
            .as_object()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), tag_string(v))).collect())
            .unwrap_or_default();
        let tags_json = serde_json::to_string(&tags).unwrap();
        let (dmin, dmax) = (
            query["DurationMin"].as_u64().unwrap(),
            query["DurationMax"].as_u64().unwrap(),
        );
        let (tmin, tmax) = (
            query["StartTimeMin"].as_str().unwrap(),
            query["StartTimeMax"].as_str().unwrap(),
        );
        let op = query["OperationName"].as_str().unwrap();
        let svc = query["ServiceName"].as_str().unwrap();
        let limit = query["NumTraces"].as_u64().unwrap();

        // Classic API, as the Jaeger UI ≤ v2.18 calls it.
        let mut url = format!(
            "/api/traces?service={}&start={}&end={}&limit={limit}&lookback=custom",
            enc(svc),
            rfc3339_to_us(tmin),
            rfc3339_to_us(tmax)
        );
        if !op.is_empty() {
            url += &format!("&operation={}", enc(op));
        }
        if !tags.is_empty() {
            url += &format!("&tags={}", enc(&tags_json));
        }
        url += &if dmin > 0 {
            format!("&minDuration={dmin}ns")
        } else {
            "&minDuration".into()
        };
        url += &if dmax > 0 {
            format!("&maxDuration={dmax}ns")
        } else {
            "&maxDuration".into()
        };
        let (st, body) = server.get_json(&url).await;
        let got_ids: BTreeSet<String> = body["data"]
            .as_array()
            .map(|ts| {
                ts.iter()
                    .map(|t| t["traceID"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default();
        let want_ids: BTreeSet<String> = expected_ids.iter().map(|i| jaeger_hex(i)).collect();
        let got_spans: usize = body["data"]
            .as_array()
            .map(|ts| {
                ts.iter()
                    .map(|t| t["spans"].as_array().unwrap().len())
                    .sum()
            })
            .unwrap_or(0);
        if st != 200 || got_ids != want_ids || got_spans != expected_spans {
            failures.push(format!(
                "{caption} (classic): status {st}, traces {got_ids:?} ({got_spans} spans), want {want_ids:?} ({expected_spans} spans)"
            ));
        }

        // api_v3 search with raw traces: exact content after normalisation.
        let mut v3 = format!(
            "/api/v3/traces?query.serviceName={}&query.startTimeMin={}&query.startTimeMax={}&query.searchDepth={limit}&query.rawTraces=true",
            enc(svc),
            enc(tmin),
            enc(tmax)
        );
        if !op.is_empty() {
            v3 += &format!("&query.operationName={}", enc(op));
        }
        if !tags.is_empty() {
            v3 += &format!("&query.attributes={}", enc(&tags_json));
        }
        if dmin > 0 {
            v3 += &format!("&query.durationMin={dmin}ns");
        }
        if dmax > 0 {
            v3 += &format!("&query.durationMax={dmax}ns");
        }
        let (st, body) = server.get_json(&v3).await;
        let mut got_norm = normalized_spans(&body["result"]);
        got_norm.sort_by_key(|v| v.to_string());
        if st != 200 || got_norm != expected_norm {
            failures.push(format!(
                "{caption} (v3): status {st}\n  got      {}\n  expected {}",
                serde_json::to_string(&got_norm).unwrap(),
                serde_json::to_string(&expected_norm).unwrap()
            ));
        }

        // Trace summaries (what current Jaeger UIs search with).
        let summaries_url = v3.replacen("/api/v3/traces?", "/api/v3/trace-summaries?", 1);
        let (st, body) = server.get_json(&summaries_url).await;
        let got: BTreeSet<String> = body["summaries"]
            .as_array()
            .map(|ss| {
                ss.iter()
                    .map(|s| s["traceId"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default();
        if st != 200 || got != expected_ids {
            failures.push(format!(
                "{caption} (summaries): status {st}, got {got:?}, want {expected_ids:?}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failing cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

async fn search_without_service_name(kind: StorageType) {
    use common::build::{request, span, str_kv};
    let server = TestServer::start(kind);
    let now = common::now_ns();
    for (svc, tid) in [
        ("cross-service-a", 0x0102u128),
        ("cross-service-b", 0x0202u128),
    ] {
        let mut s = span(
            tid << 112,
            0x0102030405060708,
            "cross-service-op",
            now,
            1_000_000,
        );
        s.attributes.push(str_kv("rfc0013.cross.service", "yes"));
        server.export(request(svc, vec![s])).await;
    }
    let min = chrono::DateTime::from_timestamp_nanos((now - 3_600_000_000_000) as i64).to_rfc3339();
    let max = chrono::DateTime::from_timestamp_nanos((now + 3_600_000_000_000) as i64).to_rfc3339();
    let url = format!(
        "/api/v3/traces?query.startTimeMin={}&query.startTimeMax={}&query.searchDepth=10&query.attributes={}",
        enc(&min),
        enc(&max),
        enc(r#"{"rfc0013.cross.service":"yes"}"#)
    );
    let (st, body) = server.get_json(&url).await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(trace_ids_of(&body["result"]).len(), 2);
}

async fn suite(kind: StorageType) {
    search_without_service_name(kind).await;
    let Some(fx) = Fixtures::load() else { return };
    get_services_operations_and_trace(kind, &fx).await;
    large_trace(kind, &fx).await;
    duplicate_spans(kind, &fx).await;
    find_traces(kind, &fx).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_rocksdb() {
    suite(StorageType::Rocksdb).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_memory() {
    suite(StorageType::Memory).await;
}

/// The whole suite through the remote adapter: all-in-one on `--span-storage.type=grpc`
/// against a `tracehound remote-storage` process on RocksDB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_through_the_remote_adapter() {
    suite(StorageType::Grpc).await;
}

#[test]
fn rebasing_keeps_time_of_day_and_moves_the_date() {
    let r = Rebase::now();
    let ns = r.ns(1_485_449_191_639_875_000); // 2017-01-26T16:46:31.639875Z
    let t = Utc.timestamp_nanos(ns as i64);
    assert_eq!(t.date_naive(), r.yesterday);
    assert_eq!(t.format("%H:%M:%S%.6f").to_string(), "16:46:31.639875");
}
