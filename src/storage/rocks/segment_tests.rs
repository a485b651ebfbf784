//! Store tests of the segment-based index (`S`/`O`/`T`/`D`): postings in the open segment, in a
//! sealed job, in flushed segments and in all of them; background flush, hand-off and
//! backpressure; flush and reopen; crash recovery from the write log (also between two batches
//! of a flush); retention.

use std::sync::Arc;

use super::*;
use crate::model::{KeyValue, Resource, SpanId, SpanKind};

const SEC: u64 = 1_000_000_000;
const MIN: u64 = 60 * SEC;
const DAY: u64 = 86_400 * SEC;
/// A day boundary (2023-11-15T00:00:00Z), in ns.
const T0: u64 = 19_676 * DAY;

fn options(segment_max_postings: usize) -> RocksOptions {
    RocksOptions {
        block_cache_bytes: 8 << 20,
        write_buffer_bytes: 8 << 20,
        segment_max_postings,
        ..Default::default()
    }
}

fn open(dir: &Path, segment_max_postings: usize) -> RocksStore {
    RocksStore::open(dir, options(segment_max_postings)).expect("opens")
}

/// A one-span trace `id` of service `web` starting at `start_ns`, with `color`=`value`.
fn tagged(id: u128, start_ns: u64, value: &str) -> Span {
    Span {
        trace_id: TraceId::from_u128(id),
        span_id: SpanId::from_u64(1),
        name: "op".into(),
        kind: SpanKind::Server,
        start_ns,
        end_ns: start_ns + SEC,
        attributes: vec![
            KeyValue::string("color", value),
            KeyValue::string("n", id.to_string()),
        ],
        resource: Arc::new(Resource {
            attributes: vec![KeyValue::string("service.name", "web")],
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn write(store: &RocksStore, spans: Vec<Span>) {
    store.write(&SpanBatch { spans }).expect("writes");
}

fn by_tag(store: &RocksStore, service: Option<&str>, value: &str, limit: usize) -> Vec<u128> {
    let q = TraceQuery {
        service: service.map(str::to_string),
        attributes: vec![("color".into(), value.into())],
        start_min_ns: 0,
        start_max_ns: u64::MAX,
        limit,
        ..Default::default()
    };
    let traces = store.find_traces(&q).expect("searches");
    let ids: Vec<u128> = traces.iter().map(|t| t.trace_id.as_u128()).collect();
    let only_ids: Vec<u128> = store
        .find_trace_ids(&q)
        .expect("searches")
        .iter()
        .map(TraceId::as_u128)
        .collect();
    assert_eq!(ids, only_ids);
    ids
}

/// Rows of the index CF of partition `start` whose key starts with `tag`.
fn rows(store: &RocksStore, start: u64, tag: u8) -> usize {
    let cf = store.index_cf(start).expect("partition");
    let mut it = store.db.raw_iterator_cf(&cf);
    it.seek([tag]);
    let mut n = 0;
    while let Some(key) = it.key() {
        if key[0] != tag {
            break;
        }
        n += 1;
        it.next();
    }
    it.status().expect("iterates");
    n
}

/// Distinct segment seqs of the `color`=`value` term of service `web` in partition `start`.
fn segments_of(store: &RocksStore, start: u64, value: &str) -> Vec<u64> {
    let mut prefix = Vec::new();
    keys::tag_prefix(&mut prefix, "web", "color", value);
    let cf = store.index_cf(start).expect("partition");
    let mut it = store.db.raw_iterator_cf(&cf);
    it.seek(&prefix);
    let mut seqs = Vec::new();
    while let Some(key) = it.key() {
        if !key.starts_with(&prefix) {
            break;
        }
        seqs.push(
            keys::parse_segment_suffix(key, prefix.len())
                .expect("key")
                .1,
        );
        it.next();
    }
    seqs.sort_unstable();
    seqs.dedup();
    seqs
}

const DAY0: u64 = T0 / SEC;

#[test]
fn tag_search_finds_postings_only_in_the_open_segment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path(), 1_000_000);
    write(
        &store,
        vec![tagged(1, T0, "red"), tagged(2, T0 + MIN, "red")],
    );
    write(
        &store,
        vec![tagged(3, T0 + 2 * MIN, "red"), tagged(4, T0, "blue")],
    );
    assert_eq!(
        rows(&store, DAY0, keys::TAG_ATTRIBUTE),
        0,
        "nothing flushed"
    );
    assert!(store.segments.read().open_postings() > 0);
    assert_eq!(by_tag(&store, Some("web"), "red", 10), vec![3, 2, 1]);
    assert_eq!(by_tag(&store, None, "red", 2), vec![3, 2]);
    assert_eq!(by_tag(&store, Some("web"), "blue", 10), vec![4]);
    assert_eq!(by_tag(&store, Some("db"), "red", 10), Vec::<u128>::new());
}

#[test]
fn tag_search_finds_postings_only_in_flushed_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path(), 1_000_000);
    write(
        &store,
        vec![tagged(1, T0, "red"), tagged(2, T0 + MIN, "red")],
    );
    write(&store, vec![tagged(3, T0 + 2 * MIN, "red")]);
    store.flush().expect("flushes");
    assert_eq!(store.segments.read().open_postings(), 0);
    assert_eq!(
        segments_of(&store, DAY0, "red").len(),
        1,
        "one key per term"
    );
    assert_eq!(by_tag(&store, Some("web"), "red", 10), vec![3, 2, 1]);
    assert_eq!(by_tag(&store, None, "red", 1), vec![3]);
}

#[test]
fn tag_search_merges_open_and_several_flushed_segments_newest_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path(), 1_000_000);
    // Trace i starts at minute i; every segment mixes new and old minutes.
    let at = |i: u128| tagged(i, T0 + i as u64 * MIN + 7 * SEC, "red");
    write(&store, vec![at(1), at(5), at(9)]);
    store.flush_segments(true).expect("flushes");
    write(&store, vec![at(2), at(6), at(10)]);
    write(&store, vec![tagged(11, T0, "blue")]);
    store.flush_segments(true).expect("flushes");
    write(&store, vec![at(3), at(7)]);
    write(&store, vec![at(4), at(8)]);
    assert_eq!(segments_of(&store, DAY0, "red").len(), 2);
    assert!(store.segments.read().open_postings() > 0);
    assert_eq!(
        by_tag(&store, Some("web"), "red", 100),
        (1..=10).rev().collect::<Vec<_>>()
    );
    assert_eq!(by_tag(&store, Some("web"), "red", 4), vec![10, 9, 8, 7]);
    assert_eq!(by_tag(&store, None, "red", 3), vec![10, 9, 8]);
    // A window inside the minutes of all three sources.
    let q = TraceQuery {
        service: Some("web".into()),
        attributes: vec![("color".into(), "red".into())],
        start_min_ns: T0 + 4 * MIN,
        start_max_ns: T0 + 8 * MIN,
        limit: 100,
        ..Default::default()
    };
    let found: Vec<u128> = store
        .find_trace_ids(&q)
        .expect("searches")
        .iter()
        .map(TraceId::as_u128)
        .collect();
    // Trace 8 starts at 8 min 7 s: its minute is in the window, its span is not.
    assert_eq!(found, vec![7, 6, 5, 4]);
    assert_eq!(by_tag(&store, Some("web"), "blue", 100), vec![11]);
}

#[test]
fn crossing_the_threshold_flushes_and_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path(), 7);
    for i in 1..=40u128 {
        write(&store, vec![tagged(i, T0 + i as u64 * SEC, "red")]);
    }
    // Five postings per write (S, O, D, color and n): sealed every second write.
    assert!(store.segments.read().open_postings() <= 7);
    // The background thread may still be busy: write what waits, after what is in progress.
    store.flush_jobs(None).expect("flushes");
    assert_eq!(store.segments.read().sealed_postings(), 0);
    assert!(segments_of(&store, DAY0, "red").len() >= 8);
    assert!(rows(&store, DAY0, keys::TAG_WRITE_LOG) < 2);
    assert_eq!(
        by_tag(&store, Some("web"), "red", 100),
        (1..=40).rev().collect::<Vec<_>>()
    );
}

#[test]
fn concurrent_writers_over_the_threshold_lose_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(open(dir.path(), 25));
    let handles: Vec<_> = (0..4u128)
        .map(|w| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..50u128 {
                    let id = w * 1000 + i + 1;
                    let s = tagged(id, T0 + (i as u64 % 3) * DAY + w as u64, "red");
                    store.write(&SpanBatch { spans: vec![s] }).expect("writes");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("writer thread");
    }
    assert_eq!(by_tag(&store, Some("web"), "red", 1000).len(), 200);
    store.flush().expect("flushes");
    for start in store.partition_starts() {
        assert_eq!(rows(&store, start, keys::TAG_WRITE_LOG), 0);
    }
    assert_eq!(by_tag(&store, Some("web"), "red", 1000).len(), 200);
}

#[test]
fn a_flush_range_deletes_the_write_log_it_covers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path(), 1_000_000);
    for i in 1..=5u128 {
        // Each write touches two partitions: one L row in each.
        write(
            &store,
            vec![
                tagged(i, T0 + i as u64 * SEC, "red"),
                tagged(100 + i, T0 + DAY + i as u64 * SEC, "red"),
            ],
        );
    }
    let day1 = DAY0 + DAY / SEC;
    assert_eq!(rows(&store, DAY0, keys::TAG_WRITE_LOG), 5);
    assert_eq!(rows(&store, day1, keys::TAG_WRITE_LOG), 5);
    store.flush().expect("flushes");
    assert_eq!(rows(&store, DAY0, keys::TAG_WRITE_LOG), 0);
    assert_eq!(rows(&store, day1, keys::TAG_WRITE_LOG), 0);
    write(&store, vec![tagged(9, T0 + 9 * SEC, "red")]);
    assert_eq!(rows(&store, DAY0, keys::TAG_WRITE_LOG), 1);
    assert_eq!(by_tag(&store, Some("web"), "red", 100).len(), 11);
}

#[test]
fn reopening_after_a_clean_flush_serves_tag_search() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = open(dir.path(), 1_000_000);
        write(
            &store,
            vec![tagged(1, T0, "red"), tagged(2, T0 + MIN, "red")],
        );
        store.flush().expect("flushes");
    }
    let store = open(dir.path(), 1_000_000);
    assert_eq!(
        store.segments.read().open_postings(),
        0,
        "nothing to replay"
    );
    assert_eq!(by_tag(&store, Some("web"), "red", 10), vec![2, 1]);
    // Segment seqs keep increasing across restarts: a new flush never overwrites a segment.
    write(&store, vec![tagged(3, T0 + MIN + SEC, "red")]);
    store.flush().expect("flushes");
    assert_eq!(segments_of(&store, DAY0, "red").len(), 2);
    assert_eq!(by_tag(&store, Some("web"), "red", 10), vec![3, 2, 1]);
}

#[test]
fn a_crash_before_the_flush_loses_no_searchability() {
    let dir = tempfile::tempdir().expect("tempdir");
    let crashed = dir.path().join("crashed");
    {
        let store = open(&dir.path().join("live"), 1_000_000);
        write(
            &store,
            vec![tagged(1, T0, "red"), tagged(2, T0 + MIN, "blue")],
        );
        store.flush_segments(true).expect("flushes");
        write(&store, vec![tagged(3, T0 + 2 * MIN, "red")]);
        write(&store, vec![tagged(4, T0 + DAY, "red")]);
        assert_eq!(rows(&store, DAY0, keys::TAG_WRITE_LOG), 1);
        // The on-disk state of a process killed now: RocksDB's files, no open segment.
        rocksdb::checkpoint::Checkpoint::new(&store.db)
            .expect("checkpoint")
            .create_checkpoint(&crashed)
            .expect("checkpoint");
    }
    let store = open(&crashed, 1_000_000);
    assert!(store.segments.read().open_postings() > 0, "replayed");
    assert_eq!(by_tag(&store, Some("web"), "red", 10), vec![4, 3, 1]);
    assert_eq!(by_tag(&store, None, "blue", 10), vec![2]);
    // The replayed segment flushes like any other, and a later crash replays nothing twice.
    store.flush().expect("flushes");
    assert_eq!(rows(&store, DAY0, keys::TAG_WRITE_LOG), 0);
    drop(store);
    let store = open(&crashed, 1_000_000);
    assert_eq!(store.segments.read().open_postings(), 0);
    assert_eq!(by_tag(&store, Some("web"), "red", 10), vec![4, 3, 1]);
}

#[test]
fn closing_without_flush_replays_the_write_log_at_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = open(dir.path(), 1_000_000);
        write(
            &store,
            vec![tagged(1, T0, "red"), tagged(2, T0 + MIN, "red")],
        );
    }
    let store = open(dir.path(), 1_000_000);
    assert_eq!(by_tag(&store, Some("web"), "red", 10), vec![2, 1]);
    // New writes take seqs above the replayed ones.
    write(&store, vec![tagged(3, T0 + 2 * MIN, "red")]);
    assert_eq!(rows(&store, DAY0, keys::TAG_WRITE_LOG), 2);
    drop(store);
    let store = open(dir.path(), 1_000_000);
    assert_eq!(by_tag(&store, Some("web"), "red", 10), vec![3, 2, 1]);
}

#[test]
fn retention_drops_a_partition_with_an_open_segment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path(), 1_000_000);
    write(
        &store,
        vec![tagged(1, T0, "red"), tagged(2, T0 + 2 * DAY, "red")],
    );
    let before = store.segments.read().open_postings();
    let report = store.drop_expired(T0 + DAY).expect("retention");
    assert_eq!(report.dropped_partitions, vec![DAY0]);
    assert_eq!(store.segments.read().open_postings(), before / 2);
    assert_eq!(by_tag(&store, Some("web"), "red", 10), vec![2]);
    store.flush().expect("flushes");
    drop(store);
    let store = open(dir.path(), 1_000_000);
    assert_eq!(store.partition_starts(), vec![DAY0 + 2 * DAY / SEC]);
    assert_eq!(by_tag(&store, Some("web"), "red", 10), vec![2]);
}

/// A one-span trace `id` of service `svc`, operation `op` (server), lasting `dur_ns`.
fn plain(id: u128, svc: &str, op: &str, start_ns: u64, dur_ns: u64) -> Span {
    Span {
        trace_id: TraceId::from_u128(id),
        span_id: SpanId::from_u64(1),
        name: op.into(),
        kind: SpanKind::Server,
        start_ns,
        end_ns: start_ns + dur_ns,
        resource: Arc::new(Resource {
            attributes: vec![KeyValue::string("service.name", svc)],
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Found by the service, operation and duration drivers, with and without a service.
fn by_each_driver(store: &RocksStore, limit: usize) -> Vec<(&'static str, Vec<u128>)> {
    let base = TraceQuery {
        start_min_ns: 0,
        start_max_ns: u64::MAX,
        limit,
        ..Default::default()
    };
    let queries = [
        (
            "service",
            TraceQuery {
                service: Some("api".into()),
                ..base.clone()
            },
        ),
        ("any service", base.clone()),
        (
            "operation",
            TraceQuery {
                service: Some("api".into()),
                operation: Some("get".into()),
                ..base.clone()
            },
        ),
        (
            "operation, any service",
            TraceQuery {
                operation: Some("get".into()),
                ..base.clone()
            },
        ),
        (
            "duration",
            TraceQuery {
                service: Some("api".into()),
                duration_min_ns: Some(500 * 1_000_000),
                ..base.clone()
            },
        ),
        (
            "duration, any service",
            TraceQuery {
                duration_min_ns: Some(500 * 1_000_000),
                duration_max_ns: Some(10 * SEC),
                ..base.clone()
            },
        ),
    ];
    queries
        .into_iter()
        .map(|(name, q)| {
            let traces = store.find_traces(&q).expect("searches");
            let ids: Vec<u128> = traces.iter().map(|t| t.trace_id.as_u128()).collect();
            let only: Vec<u128> = store
                .find_trace_ids(&q)
                .expect("searches")
                .iter()
                .map(TraceId::as_u128)
                .collect();
            assert_eq!(ids, only, "{name}");
            (name, ids)
        })
        .collect()
}

/// Writes traces `first..=last` of `api`/`get` lasting 1 s, one minute apart, each with a
/// distractor of `db`/`get` lasting 1 ms.
fn write_api(store: &RocksStore, first: u128, last: u128) {
    for id in first..=last {
        let at = T0 + id as u64 * MIN;
        write(
            store,
            vec![
                plain(id, "api", "get", at, SEC),
                plain(1000 + id, "db", "get", at + SEC, 1_000_000),
            ],
        );
    }
}

/// What each driver must find after `write_api(.., 1, n)`, newest first.
fn expected(n: u128, limit: usize) -> Vec<(&'static str, Vec<u128>)> {
    let api: Vec<u128> = (1..=n).rev().take(limit).collect();
    let both: Vec<u128> = (1..=n)
        .rev()
        .flat_map(|i| [1000 + i, i])
        .take(limit)
        .collect();
    vec![
        ("service", api.clone()),
        ("any service", both.clone()),
        ("operation", api.clone()),
        ("operation, any service", both),
        ("duration", api.clone()),
        ("duration, any service", api),
    ]
}

#[test]
fn every_driver_merges_open_sealed_and_flushed_postings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path(), 1_000_000);
    write_api(&store, 1, 2);
    store.flush_segments(true).expect("flushes");
    assert_eq!(rows(&store, DAY0, keys::TAG_WRITE_LOG), 0);
    assert!(rows(&store, DAY0, keys::TAG_SERVICE) > 0);
    assert!(rows(&store, DAY0, keys::TAG_OPERATION) > 0);
    assert!(rows(&store, DAY0, keys::TAG_DURATION) > 0);
    write_api(&store, 3, 4);
    // Sealed as the waiting job, the background thread not woken: it stays in memory.
    assert_eq!(store.segments.write().hand_off(0), segment::HandOff::Queued);
    assert!(store.segments.read().sealed_postings() > 0);
    write_api(&store, 5, 6);
    assert!(store.segments.read().open_postings() > 0);
    assert_eq!(by_each_driver(&store, 100), expected(6, 100));
    assert_eq!(by_each_driver(&store, 3), expected(6, 3));
    // `flush` writes the waiting job first, then the open segments.
    store.flush().expect("flushes");
    assert_eq!(store.segments.read().sealed_postings(), 0);
    assert_eq!(store.segments.read().open_postings(), 0);
    assert_eq!(rows(&store, DAY0, keys::TAG_WRITE_LOG), 0);
    assert_eq!(by_each_driver(&store, 100), expected(6, 100));
    assert_eq!(by_each_driver(&store, 3), expected(6, 3));
    // Every S/O/D row is a segment key of three flushes.
    let cf = store.index_cf(DAY0).expect("partition");
    let mut it = store.db.raw_iterator_cf(&cf);
    it.seek_to_first();
    let mut seqs = std::collections::BTreeSet::new();
    while let Some(key) = it.key() {
        match keys::IndexKey::parse(key).expect("parses") {
            keys::IndexKey::Service { segment_seq, .. }
            | keys::IndexKey::Operation { segment_seq, .. }
            | keys::IndexKey::Duration { segment_seq, .. } => {
                seqs.insert(segment_seq);
            }
            _ => {}
        }
        it.next();
    }
    assert_eq!(seqs.into_iter().collect::<Vec<_>>(), vec![1, 2, 3]);
}

#[test]
fn a_crash_recovers_service_operation_and_duration_postings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let crashed = dir.path().join("crashed");
    {
        let store = open(&dir.path().join("live"), 1_000_000);
        write_api(&store, 1, 2);
        store.flush_segments(true).expect("flushes");
        write_api(&store, 3, 5);
        rocksdb::checkpoint::Checkpoint::new(&store.db)
            .expect("checkpoint")
            .create_checkpoint(&crashed)
            .expect("checkpoint");
    }
    let store = open(&crashed, 1_000_000);
    assert!(store.segments.read().open_postings() > 0, "replayed");
    assert_eq!(by_each_driver(&store, 100), expected(5, 100));
    store.flush().expect("flushes");
    drop(store);
    let store = open(&crashed, 1_000_000);
    assert_eq!(store.segments.read().open_postings(), 0);
    assert_eq!(by_each_driver(&store, 100), expected(5, 100));
}

#[test]
fn a_crash_between_two_batches_of_a_flush_only_duplicates_postings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let crashed = dir.path().join("crashed");
    {
        let store = open(&dir.path().join("live"), 1_000_000);
        write_api(&store, 1, 4);
        // The first batches of a flush committed, the last (range delete, seq) did not.
        let seq = *store.segment_flush.lock() + 1;
        let job = store.segments.write().begin_flush().expect("work");
        let cf = store.index_cf(DAY0).expect("partition");
        let mut wb = WriteBatch::default();
        for (_, runs) in &job.runs {
            segment::merge_runs(runs, seq, |k, v| wb.put_cf(&cf, k, v));
        }
        store.db.write(wb).expect("writes");
        rocksdb::checkpoint::Checkpoint::new(&store.db)
            .expect("checkpoint")
            .create_checkpoint(&crashed)
            .expect("checkpoint");
    }
    let store = open(&crashed, 1_000_000);
    assert!(store.segments.read().open_postings() > 0, "replayed");
    assert_eq!(by_each_driver(&store, 100), expected(4, 100));
    write_api(&store, 5, 5);
    store.flush().expect("flushes");
    assert_eq!(rows(&store, DAY0, keys::TAG_WRITE_LOG), 0);
    assert_eq!(by_each_driver(&store, 100), expected(5, 100));
    assert_eq!(by_each_driver(&store, 2), expected(5, 2));
}

#[test]
fn the_background_thread_flushes_a_handed_off_job() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Six postings (S, O, D of two spans) per write_api step: the fifth crosses the threshold.
    let store = open(dir.path(), 25);
    write_api(&store, 1, 4);
    assert_eq!(store.segments.read().open_postings(), 24);
    write_api(&store, 5, 5);
    assert_eq!(store.segments.read().open_postings(), 0, "sealed");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while rows(&store, DAY0, keys::TAG_WRITE_LOG) > 0 {
        assert!(std::time::Instant::now() < deadline, "no background flush");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(*store.segment_flush.lock(), 1);
    assert_eq!(store.segments.read().sealed_postings(), 0);
    assert_eq!(by_each_driver(&store, 100), expected(5, 100));
}

#[test]
fn a_writer_meeting_a_waiting_job_flushes_both_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path(), 25);
    write_api(&store, 1, 2);
    // A waiting job the background thread was not told about.
    assert_eq!(store.segments.write().hand_off(0), segment::HandOff::Queued);
    write_api(&store, 3, 6);
    assert_eq!(store.segments.read().open_postings(), 24);
    // Crossing the threshold with a job waiting: the writer flushes the waiting job, then its own.
    write_api(&store, 7, 7);
    assert_eq!(*store.segment_flush.lock(), 2);
    assert_eq!(store.segments.read().sealed_postings(), 0);
    assert_eq!(store.segments.read().open_postings(), 0);
    assert_eq!(rows(&store, DAY0, keys::TAG_WRITE_LOG), 0);
    assert_eq!(by_each_driver(&store, 100), expected(7, 100));
}

#[test]
fn flush_waits_for_the_background_flush_and_drop_joins_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = Arc::new(open(dir.path(), 50));
        let handles: Vec<_> = (0..4u128)
            .map(|w| {
                let store = store.clone();
                std::thread::spawn(move || write_api(&store, w * 100 + 1, w * 100 + 30))
            })
            .collect();
        for h in handles {
            h.join().expect("writer thread");
        }
        store.flush().expect("flushes");
        let segs = store.segments.read();
        assert_eq!((segs.open_postings(), segs.sealed_postings()), (0, 0));
        drop(segs);
        for start in store.partition_starts() {
            assert_eq!(rows(&store, start, keys::TAG_WRITE_LOG), 0);
        }
        let q = TraceQuery {
            service: Some("api".into()),
            start_min_ns: 0,
            start_max_ns: u64::MAX,
            limit: 1000,
            ..Default::default()
        };
        assert_eq!(store.find_traces(&q).expect("searches").len(), 120);
        // A job left waiting at drop is written by the stopping thread.
        write_api(&store, 1000, 1003);
        assert_eq!(store.segments.write().hand_off(0), segment::HandOff::Queued);
        store.flusher.lock().pending = true;
    }
    let store = open(dir.path(), 50);
    assert_eq!(
        store.segments.read().open_postings(),
        0,
        "nothing to replay"
    );
    let q = TraceQuery {
        service: Some("api".into()),
        start_min_ns: 0,
        start_max_ns: u64::MAX,
        limit: 1000,
        ..Default::default()
    };
    assert_eq!(store.find_traces(&q).expect("searches").len(), 124);
}

#[test]
fn a_flush_of_many_terms_is_written_in_several_batches() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path(), 10_000_000);
    // Every trace has its own `n` term: more terms than one batch holds.
    let n = (FLUSH_BATCH_KEYS + 500) as u128;
    for chunk in (1..=n).collect::<Vec<_>>().chunks(2000) {
        let spans = chunk
            .iter()
            .map(|&i| tagged(i, T0 + (i as u64 % 600) * SEC, "red"))
            .collect();
        write(&store, spans);
    }
    store.flush().expect("flushes");
    assert_eq!(rows(&store, DAY0, keys::TAG_WRITE_LOG), 0);
    assert!(rows(&store, DAY0, keys::TAG_ATTRIBUTE) > FLUSH_BATCH_KEYS);
    let q = TraceQuery {
        service: Some("web".into()),
        attributes: vec![("n".into(), n.to_string())],
        start_min_ns: 0,
        start_max_ns: u64::MAX,
        limit: 10,
        ..Default::default()
    };
    let found: Vec<u128> = store
        .find_traces(&q)
        .expect("searches")
        .iter()
        .map(|t| t.trace_id.as_u128())
        .collect();
    assert_eq!(found, vec![n]);
    assert_eq!(by_tag(&store, Some("web"), "red", 3).len(), 3);
}
