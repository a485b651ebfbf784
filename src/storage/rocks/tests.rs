//! Store tests against a real RocksDB in a temporary directory.

use std::sync::Arc;

use super::*;
use crate::model::{Event, KeyValue, Link, Resource, SpanId, SpanKind, StatusCode, Value};

const SEC: u64 = 1_000_000_000;
const MIN: u64 = 60 * SEC;
const DAY: u64 = 86_400 * SEC;
/// A day boundary (2023-11-15T00:00:00Z), in ns.
const T0: u64 = 19_676 * DAY;

fn resource(svc: &str) -> Arc<Resource> {
    Arc::new(Resource {
        attributes: vec![
            KeyValue::string("service.name", svc),
            KeyValue::string("host.name", format!("{svc}-host")),
        ],
        ..Default::default()
    })
}

fn span(trace: u128, id: u64, svc: &str, op: &str, start_ns: u64, dur_ns: u64) -> Span {
    Span {
        trace_id: TraceId::from_u128(trace),
        span_id: SpanId::from_u64(id),
        name: op.into(),
        kind: SpanKind::Server,
        start_ns,
        end_ns: start_ns + dur_ns,
        resource: resource(svc),
        ..Default::default()
    }
}

fn open(dir: &Path) -> RocksStore {
    RocksStore::open(dir, small_options()).expect("opens")
}

fn small_options() -> RocksOptions {
    RocksOptions {
        block_cache_bytes: 8 << 20,
        write_buffer_bytes: 8 << 20,
        ..Default::default()
    }
}

fn write(store: &RocksStore, spans: Vec<Span>) {
    store.write(&SpanBatch { spans }).expect("writes");
}

fn query(service: Option<&str>) -> TraceQuery {
    TraceQuery {
        service: service.map(str::to_string),
        start_min_ns: 0,
        start_max_ns: u64::MAX,
        limit: 100,
        ..Default::default()
    }
}

fn ids(traces: &[Trace]) -> Vec<u128> {
    traces.iter().map(|t| t.trace_id.as_u128()).collect()
}

/// The IDs a search finds, checked to be the same whether its postings are in the open segment
/// or flushed: searches once, flushes the open segment, searches again. (Writes after a call
/// go to a fresh open segment, so later calls also see postings in both places.)
fn found(store: &RocksStore, q: &TraceQuery) -> Vec<u128> {
    let search = || {
        let traces = store.find_traces(q).expect("searches");
        let by_id = store.find_trace_ids(q).expect("searches");
        assert_eq!(
            by_id.iter().map(TraceId::as_u128).collect::<Vec<_>>(),
            ids(&traces)
        );
        ids(&traces)
    };
    let before = search();
    store.flush().expect("flushes");
    assert_eq!(
        search(),
        before,
        "flushed postings answer as the open segment did"
    );
    before
}

#[test]
fn store_is_send_and_sync() {
    fn check<T: Send + Sync + 'static>() {}
    check::<RocksStore>();
}

#[test]
fn write_then_get_trace_returns_every_span_in_start_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let mut child = span(1, 2, "api", "child", T0 + 5 * SEC, SEC);
    child.parent_span_id = SpanId::from_u64(1);
    child.attributes.push(KeyValue::new("n", Value::Int(7)));
    let root = span(1, 1, "web", "root", T0, 10 * SEC);
    write(
        &store,
        vec![child.clone(), root.clone(), span(2, 9, "web", "x", T0, 1)],
    );
    assert_eq!(
        store.get_trace(TraceId::from_u128(1)).expect("reads"),
        vec![root, child]
    );
    assert!(store
        .get_trace(TraceId::from_u128(3))
        .expect("reads")
        .is_empty());
}

#[test]
fn duplicate_span_ids_are_kept_and_identical_rewrites_are_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let a = span(1, 1, "web", "first", T0, SEC);
    let b = span(1, 1, "web", "second", T0, SEC);
    write(&store, vec![a.clone()]);
    write(&store, vec![a.clone()]);
    write(&store, vec![b.clone()]);
    write(&store, vec![b.clone()]);
    let spans = store.get_trace(TraceId::from_u128(1)).expect("reads");
    assert_eq!(spans.len(), 2);
    assert!(spans.contains(&a) && spans.contains(&b));
}

#[test]
fn finds_by_service_operation_and_duration() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    write(
        &store,
        vec![
            span(1, 1, "web", "GET /", T0, 5 * SEC),
            span(2, 1, "web", "POST /", T0 + MIN, 10),
            span(3, 1, "db", "query", T0 + 2 * MIN, 300),
        ],
    );
    assert_eq!(found(&store, &query(Some("web"))), vec![2, 1]);
    assert_eq!(found(&store, &query(Some("nope"))), Vec::<u128>::new());
    let mut q = query(Some("web"));
    q.operation = Some("GET /".into());
    assert_eq!(found(&store, &q), vec![1]);
    let mut q = query(Some("web"));
    q.duration_min_ns = Some(5);
    q.duration_max_ns = Some(1000);
    assert_eq!(found(&store, &q), vec![2]);
    let mut q = query(None);
    q.duration_min_ns = Some(100);
    assert_eq!(found(&store, &q), vec![3, 1]);
    assert_eq!(found(&store, &query(None)), vec![3, 2, 1]);
    let mut q = query(None);
    q.operation = Some("query".into());
    assert_eq!(found(&store, &q), vec![3]);
}

#[test]
fn finds_by_span_resource_event_and_link_attributes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let mut s1 = span(1, 1, "web", "op", T0, SEC);
    s1.attributes
        .push(KeyValue::new("http.status", Value::Int(500)));
    let mut s2 = span(2, 1, "web", "op", T0 + SEC, SEC);
    s2.events.push(Event {
        time_ns: T0 + SEC,
        name: "log".into(),
        attributes: vec![KeyValue::new("level", Value::Str("warn\0x".into()))],
        ..Default::default()
    });
    let mut s3 = span(3, 1, "web", "op", T0 + 2 * SEC, SEC);
    s3.links.push(Link {
        trace_id: TraceId::from_u128(1),
        span_id: SpanId::from_u64(1),
        attributes: vec![KeyValue::new("ratio", Value::Double(0.5))],
        ..Default::default()
    });
    s3.status.code = StatusCode::Error;
    write(&store, vec![s1, s2, s3]);
    let by = |svc: Option<&str>, k: &str, v: &str| {
        let mut q = query(svc);
        q.attributes = vec![(k.into(), v.into())];
        found(&store, &q)
    };
    assert_eq!(by(Some("web"), "http.status", "500"), vec![1]);
    assert_eq!(by(Some("web"), "level", "warn\0x"), vec![2]);
    assert_eq!(by(None, "ratio", "0.5"), vec![3]);
    assert_eq!(by(Some("web"), "host.name", "web-host"), vec![3, 2, 1]);
    assert_eq!(by(None, "error", "true"), vec![3]);
    assert_eq!(by(Some("web"), "http.status", "501"), Vec::<u128>::new());
    // Special keys are verified, not index-driven.
    assert_eq!(
        by(Some("web"), "resource.host.name", "web-host"),
        vec![3, 2, 1]
    );
    assert_eq!(by(Some("web"), "event", "log"), vec![2]);
}

#[test]
fn conditions_must_hold_on_one_span() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let mut a = span(1, 1, "web", "op", T0, SEC);
    a.attributes.push(KeyValue::string("k1", "v1"));
    let mut b = span(1, 2, "web", "op", T0, SEC);
    b.attributes.push(KeyValue::string("k2", "v2"));
    write(&store, vec![a, b]);
    let mut q = query(Some("web"));
    q.attributes = vec![("k1".into(), "v1".into()), ("k2".into(), "v2".into())];
    assert_eq!(found(&store, &q), Vec::<u128>::new());
    q.attributes.pop();
    assert_eq!(found(&store, &q), vec![1]);
}

#[test]
fn limit_returns_the_newest_traces_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    // 50 traces, several per minute, written in shuffled batches.
    let mut spans: Vec<Span> = (0..50u64)
        .map(|i| span(i as u128 + 1, 1, "web", "op", T0 + i * 17 * SEC, SEC))
        .collect();
    spans.reverse();
    spans.swap(3, 40);
    for chunk in spans.chunks(7) {
        write(&store, chunk.to_vec());
    }
    let mut q = query(Some("web"));
    q.limit = 5;
    assert_eq!(found(&store, &q), vec![50, 49, 48, 47, 46]);
    q.start_max_ns = T0 + 10 * 17 * SEC;
    q.start_min_ns = T0 + 7 * 17 * SEC;
    assert_eq!(found(&store, &q), vec![11, 10, 9, 8]);
}

#[test]
fn whole_trace_is_returned_when_one_span_is_in_the_window() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    write(
        &store,
        vec![
            span(1, 1, "web", "op", T0, 10 * MIN),
            span(1, 2, "db", "q", T0 + 5 * MIN, SEC),
        ],
    );
    let mut q = query(Some("db"));
    q.start_min_ns = T0 + 4 * MIN;
    q.start_max_ns = T0 + 6 * MIN;
    let traces = store.find_traces(&q).expect("searches");
    assert_eq!(traces.len(), 1);
    assert_eq!(traces[0].spans.len(), 2);
    q.service = Some("web".into());
    assert_eq!(found(&store, &q), Vec::<u128>::new());
}

#[test]
fn a_trace_across_two_partitions_is_returned_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    write(
        &store,
        vec![
            span(1, 1, "web", "op", T0 - SEC, 3 * SEC),
            span(1, 2, "web", "child", T0 + SEC, SEC),
        ],
    );
    assert_eq!(store.stats().partitions, 2);
    let mut q = query(Some("web"));
    q.start_min_ns = T0 - 2 * SEC;
    q.start_max_ns = T0 - SEC;
    let traces = store.find_traces(&q).expect("searches");
    assert_eq!(traces.len(), 1);
    assert_eq!(traces[0].spans.len(), 2);
    assert_eq!(
        store.get_trace(TraceId::from_u128(1)).expect("reads").len(),
        2
    );
}

#[test]
fn search_answers_hold_the_spans_of_the_window_partitions_widened_by_an_hour() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    // One trace in three daily partitions: the day before T0 (59 minutes before the window),
    // T0's day (the window) and two days later.
    write(
        &store,
        vec![
            span(1, 1, "web", "op", T0 - 59 * MIN, SEC),
            span(1, 2, "web", "op", T0 + 10 * MIN, SEC),
            span(1, 3, "web", "late", T0 + 2 * DAY, SEC),
        ],
    );
    assert_eq!(store.stats().partitions, 3);
    let mut q = query(Some("web"));
    q.start_min_ns = T0 + 5 * MIN;
    q.start_max_ns = T0 + 15 * MIN;
    let traces = store.find_traces(&q).expect("searches");
    assert_eq!(traces.len(), 1);
    let spans: Vec<u64> = traces[0].spans.iter().map(|s| s.span_id.as_u64()).collect();
    assert_eq!(
        spans,
        [1, 2],
        "the span two days later is outside window ± 1 h"
    );
    // Conditions are checked on the loaded spans: `late` is not seen from this window.
    q.operation = Some("late".into());
    assert_eq!(found(&store, &q), Vec::<u128>::new());
    // A window reaching the last day's partition sees all of it, and a trace by ID is whole.
    q.start_max_ns = T0 + 2 * DAY + MIN;
    assert_eq!(found(&store, &q), [1]);
    assert_eq!(
        store.get_trace(TraceId::from_u128(1)).expect("reads").len(),
        3
    );
}

#[test]
fn later_writes_of_the_same_key_do_not_hide_earlier_spans() {
    // Same trace, service and minute in two writes: the second overwrites the index value.
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    write(&store, vec![span(1, 1, "web", "op", T0 + 10 * SEC, SEC)]);
    write(&store, vec![span(1, 2, "web", "op", T0 + 50 * SEC, SEC)]);
    let mut q = query(Some("web"));
    q.start_min_ns = T0;
    q.start_max_ns = T0 + 20 * SEC;
    assert_eq!(found(&store, &q), vec![1]);
}

#[test]
fn reopening_keeps_data_and_catalog() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = open(dir.path());
        let mut s = span(1, 1, "web", "GET", T0, SEC);
        s.kind = SpanKind::Client;
        write(
            &store,
            vec![s, span(2, 1, "db", "query", T0 + 3 * DAY, SEC)],
        );
    }
    let store = open(dir.path());
    assert_eq!(store.stats().partitions, 2);
    assert_eq!(
        store.get_trace(TraceId::from_u128(1)).expect("reads").len(),
        1
    );
    let catalog = store.catalog().expect("catalog");
    let rows: Vec<_> = catalog
        .iter()
        .map(|c| {
            (
                c.service.as_str(),
                c.operation.name.as_str(),
                c.operation.span_kind,
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            ("db", "query", SpanKind::Server),
            ("web", "GET", SpanKind::Client)
        ]
    );
    assert_eq!(found(&store, &query(Some("db"))), vec![2]);
}

#[test]
fn the_recorded_partition_width_wins_over_the_configured_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hourly = RocksOptions {
        partition_width_secs: 3_600,
        ..small_options()
    };
    drop(RocksStore::open(dir.path(), hourly).expect("opens"));
    let store = open(dir.path());
    assert_eq!(store.options().partition_width_secs, 3_600);
    write(
        &store,
        vec![span(1, 1, "web", "op", T0 + 2 * 3_600 * SEC + 5, SEC)],
    );
    assert_eq!(store.partition_starts(), vec![T0 / SEC + 2 * 3_600]);
}

#[test]
fn drop_expired_drops_only_old_partitions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    for d in 0..3 {
        write(
            &store,
            vec![span(d as u128 + 1, 1, "web", "op", T0 + d * DAY + SEC, SEC)],
        );
    }
    // The partition of day 1 ends exactly at the cutoff: expired. Day 2's is not.
    let report = store.drop_expired(T0 + 2 * DAY).expect("retention");
    let day = |d: u64| (T0 + d * DAY) / SEC;
    assert_eq!(report.dropped_partitions, vec![day(0), day(1)]);
    assert_eq!(store.partition_starts(), vec![day(2)]);
    assert!(store
        .get_trace(TraceId::from_u128(1))
        .expect("reads")
        .is_empty());
    assert!(store
        .get_trace(TraceId::from_u128(2))
        .expect("reads")
        .is_empty());
    assert_eq!(
        store.get_trace(TraceId::from_u128(3)).expect("reads").len(),
        1
    );
    assert_eq!(found(&store, &query(Some("web"))), vec![3]);
    assert_eq!(store.catalog().expect("catalog").len(), 1);
    drop(store);
    let store = open(dir.path());
    assert_eq!(store.partition_starts(), vec![day(2)]);
}

#[test]
fn disk_cap_evicts_the_oldest_partitions_but_never_the_newest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    for d in 0..3 {
        let spans = (0..200u64)
            .map(|i| {
                let mut s = span(
                    d as u128 * 1000 + i as u128,
                    i,
                    "web",
                    "op",
                    T0 + d * DAY,
                    SEC,
                );
                s.attributes.push(KeyValue::string(
                    "payload",
                    format!("{d}-{i}-{}", "x".repeat(50)),
                ));
                s
            })
            .collect();
        write(&store, spans);
    }
    store.flush().expect("flushes");
    assert!(store.stats().bytes_on_disk > 0);
    let report = store.enforce_disk_cap(u64::MAX).expect("cap");
    assert!(report.dropped_partitions.is_empty());
    let report = store.enforce_disk_cap(0).expect("cap");
    assert_eq!(report.dropped_partitions, vec![T0 / SEC, (T0 + DAY) / SEC]);
    assert_eq!(store.partition_starts(), vec![(T0 + 2 * DAY) / SEC]);
    assert_eq!(
        store
            .get_trace(TraceId::from_u128(2000))
            .expect("reads")
            .len(),
        1
    );
}

/// A store whose recorded format version is `version`.
fn store_of_format(version: u32) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(open(dir.path()));
    let db = Db::open_default(dir.path()).expect("raw open");
    db.put(keys::FORMAT_VERSION_KEY, version.to_be_bytes())
        .expect("put");
    dir
}

#[test]
fn a_foreign_format_version_refuses_to_open() {
    let dir = store_of_format(99);
    match RocksStore::open(dir.path(), small_options()) {
        Err(StorageError::FormatVersion {
            found, expected, ..
        }) => assert_eq!((found, expected), (99, keys::FORMAT_VERSION)),
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("opened a foreign format"),
    }
}

#[test]
fn concurrent_writers_creating_partitions_lose_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(open(dir.path()));
    let handles: Vec<_> = (0..4u64)
        .map(|w| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..20u64 {
                    let id = (w * 100 + i) as u128 + 1;
                    let s = span(id, 1, "web", "op", T0 + (i % 5) * DAY + w, SEC);
                    store.write(&SpanBatch { spans: vec![s] }).expect("writes");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("writer thread");
    }
    assert_eq!(store.stats().partitions, 5);
    let mut q = query(Some("web"));
    q.limit = 1000;
    assert_eq!(found(&store, &q).len(), 80);
}

#[test]
fn stores_of_older_readable_formats_open_and_are_marked_with_this_format() {
    for &version in keys::READABLE_FORMAT_VERSIONS {
        let dir = store_of_format(version);
        drop(open(dir.path()));
        let db = Db::open_default(dir.path()).expect("raw open");
        let recorded = db.get(keys::FORMAT_VERSION_KEY).expect("get");
        assert_eq!(
            recorded,
            Some(keys::FORMAT_VERSION.to_be_bytes().to_vec()),
            "format {version}"
        );
    }
}

/// A span whose name and attributes are all strings the table gives IDs to.
fn span_with_strings(trace: u128, start_ns: u64, name: &str, value: &str) -> Span {
    Span {
        attributes: vec![
            KeyValue::string("http.route", value),
            KeyValue::new("count", Value::Int(3)),
        ],
        ..span(trace, 1, "web", name, start_ns, SEC)
    }
}

#[test]
fn string_ids_a_lost_write_took_are_defined_by_the_next_write_that_uses_them() {
    use crate::storage::codec::{StringIds, TextKind};
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = open(dir.path());
        write(&store, vec![span_with_strings(1, T0 + SEC, "first", "/a")]);
        let start = store.partition_starts()[0];
        let table = store.strings(start).expect("loads").expect("table");
        let before = table.len();
        // A write that took IDs for new strings, then failed before its batch was written.
        {
            let mut ids = table.interner();
            assert!(ids.id("never-stored", TextKind::Name).is_some());
            assert!(ids.id("shared", TextKind::Name).is_some());
        }
        assert_eq!(table.len(), before + 2);
        write(
            &store,
            vec![span_with_strings(2, T0 + 2 * SEC, "shared", "/b")],
        );
    }
    // Reopened, the table is read back from its rows: "never-stored" left a hole, "shared" was
    // defined by the second write, and new strings are numbered past both.
    let store = open(dir.path());
    write(
        &store,
        vec![span_with_strings(3, T0 + 3 * SEC, "third", "/c")],
    );
    drop(store);
    let store = open(dir.path());
    for (trace, name, value) in [(1, "first", "/a"), (2, "shared", "/b"), (3, "third", "/c")] {
        let spans = store.get_trace(TraceId::from_u128(trace)).expect("reads");
        assert_eq!(
            spans,
            vec![span_with_strings(trace, spans[0].start_ns, name, value)]
        );
    }
    let mut q = query(Some("web"));
    q.attributes = vec![("http.route".into(), "/b".into())];
    assert_eq!(found(&store, &q), vec![2]);
}

#[test]
fn a_partition_dropped_and_written_again_starts_a_new_string_table() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    write(&store, vec![span_with_strings(1, T0 + SEC, "old", "/old")]);
    store.drop_expired(T0 + DAY).expect("retention");
    assert!(store.partition_starts().is_empty());
    // Same partition again, other strings: IDs from the dropped table must not be reused.
    write(&store, vec![span_with_strings(2, T0 + SEC, "new", "/new")]);
    drop(store);
    let store = open(dir.path());
    let spans = store.get_trace(TraceId::from_u128(2)).expect("reads");
    assert_eq!(spans, vec![span_with_strings(2, T0 + SEC, "new", "/new")]);
}

#[test]
fn concurrent_writers_sharing_new_strings_read_back_exactly_after_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let written: Vec<Span> = {
        let store = Arc::new(open(dir.path()));
        let handles: Vec<_> = (0..4u64)
            .map(|w| {
                let store = store.clone();
                std::thread::spawn(move || {
                    let mut mine = Vec::new();
                    for i in 0..30u64 {
                        let id = (w * 1000 + i) as u128 + 1;
                        // Strings shared by the writers (taken by whichever writes first) and
                        // strings of one writer only, over two partitions.
                        let s = span_with_strings(
                            id,
                            T0 + (i % 2) * DAY + w * SEC + i,
                            &format!("op-{}", i % 7),
                            &format!("/route/{w}/{}", i % 5),
                        );
                        store
                            .write(&SpanBatch {
                                spans: vec![s.clone()],
                            })
                            .expect("writes");
                        mine.push(s);
                    }
                    mine
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("writer thread"))
            .collect()
    };
    let store = open(dir.path());
    for s in &written {
        assert_eq!(store.get_trace(s.trace_id).expect("reads"), vec![s.clone()]);
    }
}

/// The `compression_opts` line of each column family in the newest OPTIONS file RocksDB wrote.
fn compression_opts_by_cf(dir: &Path) -> Vec<(String, String)> {
    let newest = std::fs::read_dir(dir)
        .expect("lists")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("OPTIONS-"))
        .max_by_key(|n| n["OPTIONS-".len()..].parse::<u64>().unwrap_or(0))
        .expect("an OPTIONS file");
    let text = std::fs::read_to_string(dir.join(newest)).expect("reads");
    let mut out = Vec::new();
    let mut cf = None;
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix("[CFOptions \"") {
            cf = Some(name.trim_end_matches("\"]").to_string());
        } else if let (Some(name), Some(opts)) = (&cf, line.strip_prefix("compression_opts=")) {
            out.push((name.clone(), opts.to_string()));
        }
    }
    out
}

#[test]
fn spans_families_keep_every_compression_saving() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    write(&store, vec![span(1, 1, "svc", "op", T0, SEC)]);
    drop(store);
    let opts = compression_opts_by_cf(dir.path());
    let spans: Vec<_> = opts
        .iter()
        .filter(|(cf, _)| cf.starts_with("spans."))
        .collect();
    assert_eq!(spans.len(), 1, "{opts:?}");
    assert!(
        spans[0].1.contains("max_compressed_bytes_per_kb=1024"),
        "{opts:?}"
    );
    let index = opts
        .iter()
        .find(|(cf, _)| cf.starts_with("index."))
        .expect("index family");
    assert!(
        index.1.contains("max_compressed_bytes_per_kb=896"),
        "{opts:?}"
    );
}
