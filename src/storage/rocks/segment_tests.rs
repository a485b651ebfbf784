//! Store tests of the segment-based tag index: postings in the open segment, in flushed
//! segments and in both; flush and reopen; crash recovery from the write log; retention.

use std::sync::Arc;

use super::*;
use crate::model::{KeyValue, Resource, SpanId, SpanKind, Value};

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

/// Distinct segment seqs holding the `color`=`value` term of service `web` in partition `start`
/// (in either form).
fn segments_of(store: &RocksStore, start: u64, value: &str) -> Vec<u64> {
    let mut group = Vec::new();
    keys::tag_group(&mut group, "web", "color");
    let mut term = Vec::new();
    keys::tag_prefix(&mut term, "web", "color", value);
    let mut forms = vec![term[group.len()..].to_vec()];
    let table = store.strings(start).expect("loads").expect("partition");
    forms.extend(
        table
            .value_id(value)
            .map(|id| keys::value_id_subterm(id).to_vec()),
    );
    let cf = store.index_cf(start).expect("partition");
    let mut it = store.db.raw_iterator_cf(&cf);
    it.seek(&group);
    let mut seqs = Vec::new();
    while let Some((key, bytes)) = it.item() {
        if !key.starts_with(&group) {
            break;
        }
        let mut ordinals = Vec::new();
        let mut found = false;
        for form in &forms {
            found |= codec::find_in_segment(bytes, form, &mut ordinals).expect("segment");
        }
        if found {
            seqs.push(keys::parse_segment_suffix(key, group.len()).expect("key").1);
        }
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
    // Five postings per write (service, operation, duration, color and n): a flush every second
    // write.
    assert!(store.segments.read().open_postings() <= 8);
    assert!(segments_of(&store, DAY0, "red").len() >= 8);
    assert!(rows(&store, DAY0, keys::TAG_WRITE_LOG) < 5);
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
fn a_crash_between_ingesting_a_segment_and_deleting_its_write_log_finds_each_trace_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = open(dir.path(), 1_000_000);
        write(
            &store,
            vec![tagged(1, T0, "red"), tagged(2, T0 + MIN, "red")],
        );
        // The first half of a flush: the segment file is ingested, the write log is not
        // deleted and the segment seq not recorded (the process dies here).
        let job = store.segments.write().begin_flush().expect("work");
        let (start, runs) = &job.runs[0];
        let cf = store.index_cf(*start).expect("partition");
        store
            .ingest_segment(&cf, *start, runs, 1, &mut MergeScratch::default())
            .expect("ingests");
        assert_eq!(segments_of(&store, DAY0, "red"), vec![1]);
        // A leftover of an interrupted segment file is removed at open.
        std::fs::write(
            dir.path().join(INGEST_DIR).join("segment-9-9.sst"),
            b"partial",
        )
        .expect("writes");
    }
    let store = open(dir.path(), 1_000_000);
    assert!(!dir.path().join(INGEST_DIR).exists());
    assert!(store.segments.read().open_postings() > 0, "replayed");
    assert_eq!(by_tag(&store, Some("web"), "red", 10), vec![2, 1]);
    store.flush().expect("flushes");
    assert_eq!(rows(&store, DAY0, keys::TAG_WRITE_LOG), 0);
    assert_eq!(by_tag(&store, Some("web"), "red", 10), vec![2, 1]);
    write(&store, vec![tagged(3, T0 + 2 * MIN, "red")]);
    store.flush().expect("flushes");
    assert_eq!(by_tag(&store, Some("web"), "red", 10), vec![3, 2, 1]);
    assert_eq!(
        std::fs::read_dir(dir.path().join(INGEST_DIR))
            .expect("ingest dir")
            .count(),
        0,
        "ingested files are moved into the database"
    );
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

/// Traces of service `web` with `key`=`value`, newest first.
fn by_attribute(store: &RocksStore, key: &str, value: &str) -> Vec<u128> {
    let q = TraceQuery {
        service: Some("web".into()),
        attributes: vec![(key.into(), value.into())],
        start_min_ns: 0,
        start_max_ns: u64::MAX,
        limit: 10,
        ..Default::default()
    };
    let traces = store.find_traces(&q).expect("searches");
    traces.iter().map(|t| t.trace_id.as_u128()).collect()
}

#[test]
fn a_value_indexed_before_and_after_it_had_an_id_is_found_in_both_forms() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path(), 1_000_000);
    let span = |id: u128, minute: u64, attributes: Vec<KeyValue>| Span {
        attributes,
        ..tagged(id, T0 + minute * MIN, "")
    };
    // Key `hot` takes its whole share of the string table, so its new values stay inline.
    let filler = (0..strings::MAX_VALUES_PER_KEY)
        .map(|i| KeyValue::string("hot", format!("fill-{i}")))
        .collect();
    write(&store, vec![span(1, 0, filler)]);
    write(
        &store,
        vec![span(2, 1, vec![KeyValue::string("hot", "shared")])],
    );
    let table = store.strings(DAY0).expect("loads").expect("partition");
    assert_eq!(table.value_id("shared"), None, "indexed in string form");
    // Another key brings the value (and "7") into the table: from now on it is in ID form.
    let cold = vec![
        KeyValue::string("cold", "shared"),
        KeyValue::string("cold", "7"),
    ];
    write(&store, vec![span(3, 2, cold)]);
    assert!(table.value_id("shared").is_some());
    let hot = vec![
        KeyValue::string("hot", "shared"),
        KeyValue::new("num", Value::Int(7)),
    ];
    write(&store, vec![span(4, 3, hot)]);
    let check = |store: &RocksStore| {
        assert_eq!(by_attribute(store, "hot", "shared"), vec![4, 2]);
        assert_eq!(by_attribute(store, "cold", "shared"), vec![3]);
        // An integer is indexed by its query string, which has an ID here.
        assert_eq!(by_attribute(store, "num", "7"), vec![4]);
        assert_eq!(by_attribute(store, "cold", "7"), vec![3]);
    };
    check(&store);
    store.flush().expect("flushes");
    check(&store);
    drop(store);
    check(&open(dir.path(), 1_000_000));
}

#[test]
fn an_idle_store_flushes_once_after_its_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path(), 1_000_000);
    let idle = |store: &RocksStore, after: Duration| store.flush_if_idle(after).expect("flushes");
    assert!(!idle(&store, Duration::ZERO), "nothing written");
    write(&store, vec![tagged(1, T0, "red")]);
    assert!(!idle(&store, Duration::from_secs(3_600)), "not idle yet");
    assert!(store.segments.read().open_postings() > 0);
    assert!(idle(&store, Duration::ZERO));
    assert_eq!(store.segments.read().open_postings(), 0);
    assert_eq!(rows(&store, DAY0, keys::TAG_WRITE_LOG), 0);
    assert!(!idle(&store, Duration::ZERO), "flushed already");
    assert_eq!(by_tag(&store, Some("web"), "red", 10), vec![1]);
    write(&store, vec![tagged(2, T0 + MIN, "red")]);
    assert!(idle(&store, Duration::ZERO), "written again");
    drop(store);
    assert_eq!(
        by_tag(&open(dir.path(), 1_000_000), None, "red", 10),
        vec![2, 1]
    );
}
