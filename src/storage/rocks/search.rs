//! Trace search over the RocksDB index: pick one driving index, merge its newest-first entries
//! across services/kinds/buckets, verify candidates on the whole trace.
//!
//! Per partition (newest first) one index drives: an indexable attribute (`T`), else the
//! operation (`O`, the kinds the catalog knows), else the duration buckets (`D`), else the
//! service (`S`); without a service, the same for every service of the partition's catalog. The
//! sources are merged with a heap in (minute, trace) order; within one minute candidates are
//! verified newest `max_start` first with [`trace_matches`] on the whole trace, and the search
//! stops as soon as `limit` traces matched. Every iterator is bounded by the prefix and the
//! window's minutes; nothing is scanned. Candidates are loaded from the partitions of the window
//! widened by [`RESULT_SLACK_NS`], not from every partition.
//!
//! The tag driver reads a term from two places, merged into the same (minute, trace) order: the
//! open segment's postings (copied first, so a posting a concurrent flush moves to RocksDB is
//! seen in one place or both, never in neither) and the flushed `T` segments, opened lazily,
//! newest first, only once the merge reaches their newest minute. A posting seen twice is
//! verified once.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::ops::RangeInclusive;
use std::sync::Arc;

use rocksdb::{BoundColumnFamily, DBRawIteratorWithThreadMode, ReadOptions};

use super::{Db, RocksStore};
use crate::model::query::trace_matches;
use crate::model::span::SERVICE_NAME;
use crate::model::{SpanKind, Trace, TraceId, TraceQuery};
use crate::storage::codec::{self, Posting};
use crate::storage::keys::{self, IndexKey};
use crate::storage::StorageError;

/// Query keys that `span_matches` answers by special rules, so the tag index cannot drive them.
const SPECIAL_KEYS: [&str; 6] = [
    "span.status",
    "span.kind",
    "scope.name",
    "scope.version",
    "event",
    SERVICE_NAME,
];

/// The index a search is driven by.
enum Driver<'q> {
    Tag(&'q str, &'q str),
    Operation(&'q str),
    Duration { lowest: u8, highest: u8 },
    Service,
}

/// Can the `T` index find every span with this attribute? (See the indexing rules in keys.rs.)
fn indexable(key: &str, value: &str) -> bool {
    if key.len() > keys::MAX_INDEXED_LEN || value.len() > keys::MAX_INDEXED_LEN {
        return false;
    }
    match key {
        "error" => value == "true",
        k if SPECIAL_KEYS.contains(&k) || k.starts_with("resource.") => false,
        _ => true,
    }
}

fn choose_driver(q: &TraceQuery) -> Driver<'_> {
    if let Some((k, v)) = q.attributes.iter().find(|(k, v)| indexable(k, v)) {
        return Driver::Tag(k, v);
    }
    if let Some(op) = &q.operation {
        return Driver::Operation(op);
    }
    if q.duration_min_ns.is_some() || q.duration_max_ns.is_some() {
        return Driver::Duration {
            lowest: keys::duration_bucket(q.duration_min_ns.unwrap_or(0)),
            highest: keys::duration_bucket(q.duration_max_ns.unwrap_or(u64::MAX)),
        };
    }
    Driver::Service
}

/// Catalog rows (service, operation, kind) under the given service / operation.
pub(super) fn catalog_rows(
    store: &RocksStore,
    cf: &Arc<BoundColumnFamily<'_>>,
    service: Option<&str>,
    operation: Option<&str>,
) -> Result<Vec<(String, String, SpanKind)>, StorageError> {
    let mut prefix = Vec::new();
    keys::catalog_prefix(&mut prefix, service, operation);
    let (lower, upper) = keys::prefix_range(&prefix);
    let mut ro = ReadOptions::default();
    ro.set_iterate_lower_bound(lower.clone());
    if let Some(upper) = upper {
        ro.set_iterate_upper_bound(upper);
    }
    let mut it = store.db.raw_iterator_cf_opt(cf, ro);
    it.seek(&lower);
    let mut rows = Vec::new();
    while let Some(key) = it.key() {
        if !key.starts_with(&prefix) {
            break;
        }
        match IndexKey::parse(key)? {
            IndexKey::Catalog {
                service,
                operation,
                kind,
            } => rows.push((service, operation, kind)),
            other => {
                return Err(StorageError::Corrupt {
                    what: "catalog",
                    detail: format!("non-catalog key in the catalog range: {other:?}"),
                })
            }
        }
        it.next();
    }
    it.status()?;
    Ok(rows)
}

/// The index prefixes that drive the search in one partition.
fn driving_prefixes(
    store: &RocksStore,
    cf: &Arc<BoundColumnFamily<'_>>,
    q: &TraceQuery,
    driver: &Driver<'_>,
) -> Result<Vec<Vec<u8>>, StorageError> {
    // (service, kinds of the operation) pairs; kinds only matter for the operation driver.
    let services: Vec<(String, Vec<SpanKind>)> = match (&q.service, driver) {
        (Some(svc), Driver::Operation(op)) => {
            let kinds = catalog_rows(store, cf, Some(svc.as_str()), Some(*op))?
                .into_iter()
                .map(|(_, _, k)| k)
                .collect();
            vec![(svc.clone(), kinds)]
        }
        (Some(svc), _) => vec![(svc.clone(), Vec::new())],
        (None, _) => {
            let mut out: Vec<(String, Vec<SpanKind>)> = Vec::new();
            for (svc, op, kind) in catalog_rows(store, cf, None, None)? {
                let matches_op = match driver {
                    Driver::Operation(want) => op == *want,
                    _ => true,
                };
                if out.last().is_none_or(|(s, _)| *s != svc) {
                    out.push((svc, Vec::new()));
                }
                if let (true, Some((_, kinds))) = (matches_op, out.last_mut()) {
                    if !kinds.contains(&kind) {
                        kinds.push(kind);
                    }
                }
            }
            out
        }
    };
    let mut prefixes = Vec::new();
    for (svc, kinds) in &services {
        match driver {
            Driver::Tag(k, v) => {
                let mut p = Vec::new();
                keys::tag_prefix(&mut p, svc, k, v);
                prefixes.push(p);
            }
            Driver::Operation(op) => {
                for &kind in kinds {
                    let mut p = Vec::new();
                    keys::operation_prefix(&mut p, svc, op, kind);
                    prefixes.push(p);
                }
            }
            Driver::Duration { lowest, highest } => {
                for bucket in *lowest..=*highest {
                    let mut p = Vec::new();
                    keys::duration_prefix(&mut p, svc, bucket);
                    prefixes.push(p);
                }
            }
            Driver::Service => {
                let mut p = Vec::new();
                keys::service_prefix(&mut p, svc);
                prefixes.push(p);
            }
        }
    }
    Ok(prefixes)
}

struct Candidate {
    trace_id: TraceId,
    max_start_ns: u64,
}

/// How far outside the query window a found trace's spans are still loaded: search answers
/// read the partitions of the window widened by this much on each side, as Jaeger's
/// Elasticsearch reader reads the daily indices of the window ± 1 h. (A trace by ID reads every
/// partition.) Probing only these instead of every live partition is most of a search's cost.
const RESULT_SLACK_NS: u64 = 3_600 * 1_000_000_000;

struct Search<'s> {
    store: &'s RocksStore,
    q: &'s TraceQuery,
    /// The partitions found traces are loaded from, newest first.
    result_partitions: Vec<u64>,
    seen: HashSet<TraceId>,
    /// Entries of the window's edge minutes whose recorded start range misses the window. A
    /// later write of the same key (same trace, service, minute) overwrites the range, so they
    /// are verified last instead of being dropped: no false negatives.
    deferred: Vec<TraceId>,
    results: Vec<Trace>,
}

pub(super) fn find_traces(store: &RocksStore, q: &TraceQuery) -> Result<Vec<Trace>, StorageError> {
    let empty_window = q.start_min_ns > q.start_max_ns;
    let empty_durations =
        matches!((q.duration_min_ns, q.duration_max_ns), (Some(a), Some(b)) if a > b);
    if q.limit == 0 || empty_window || empty_durations {
        return Ok(Vec::new());
    }
    let driver = choose_driver(q);
    let mut search = Search {
        store,
        q,
        result_partitions: store.partitions_overlapping(
            q.start_min_ns.saturating_sub(RESULT_SLACK_NS),
            q.start_max_ns.saturating_add(RESULT_SLACK_NS),
        ),
        seen: HashSet::new(),
        deferred: Vec::new(),
        results: Vec::new(),
    };
    for start in store.partitions_overlapping(q.start_min_ns, q.start_max_ns) {
        let Some(cf) = store.index_cf(start) else {
            continue; // dropped since the snapshot
        };
        let prefixes = driving_prefixes(store, &cf, q, &driver)?;
        let tag = matches!(driver, Driver::Tag(..));
        if search.scan_partition(start, &cf, prefixes, tag)? {
            return Ok(search.results);
        }
    }
    for id in std::mem::take(&mut search.deferred) {
        if search.verify(id)? {
            break;
        }
    }
    Ok(search.results)
}

type RawIter<'d> = DBRawIteratorWithThreadMode<'d, Db>;

/// One newest-first stream of (rev_minute, trace, start range) entries.
enum Source<'d> {
    /// `S`/`O`/`D` keys under a prefix.
    Keys { it: RawIter<'d>, prefix: Vec<u8> },
    /// The postings of one tag term.
    Tag(TagSource<'d>),
}

impl Source<'_> {
    /// The (rev_minute, trace) of the current entry; `None` when exhausted.
    fn peek(&mut self) -> Result<Option<(u32, TraceId)>, StorageError> {
        match self {
            Source::Keys { it, prefix } => match it.key() {
                Some(key) if key.starts_with(prefix) => {
                    Ok(Some(keys::parse_entry_suffix(key, prefix.len())?))
                }
                Some(_) => Ok(None),
                None => {
                    it.status()?;
                    Ok(None)
                }
            },
            Source::Tag(t) => t.peek(),
        }
    }

    /// The start range of the current entry (of minute `rev_minute`); advances.
    fn take(&mut self, rev_minute: u32) -> Result<(u64, u64), StorageError> {
        match self {
            Source::Keys { it, .. } => {
                let minute_start = keys::minute_start_ns(keys::minute_of_rev(rev_minute));
                let range = codec::decode_index_value(minute_start, it.value().unwrap_or(&[]))?;
                it.next();
                Ok(range)
            }
            Source::Tag(t) => Ok(t.take()),
        }
    }
}

/// The postings of one term in one partition: the open segment's (collected up front) merged
/// with the flushed segments', which are decoded only when the merge reaches their newest minute.
struct TagSource<'d> {
    it: RawIter<'d>,
    prefix: Vec<u8>,
    minutes: RangeInclusive<u32>,
    heap: BinaryHeap<Reverse<(u32, TraceId, u32, u32)>>,
    decoded: Vec<Posting>,
}

impl<'d> TagSource<'d> {
    fn push(&mut self, p: &Posting) {
        if self.minutes.contains(&p.minute) {
            self.heap.push(Reverse((
                u32::MAX - p.minute,
                p.trace_id,
                p.min_us,
                p.max_us,
            )));
        }
    }

    /// Decodes every flushed segment that may hold a posting at or before the heap's head.
    fn fill(&mut self) -> Result<(), StorageError> {
        loop {
            let (rev_newest, value) = match self.it.item() {
                Some((key, value)) if key.starts_with(&self.prefix) => {
                    (keys::parse_segment_suffix(key, self.prefix.len())?.0, value)
                }
                Some(_) => return Ok(()),
                None => return Ok(self.it.status()?),
            };
            if let Some(Reverse(head)) = self.heap.peek() {
                if rev_newest > head.0 {
                    return Ok(()); // every posting of that segment is older than the head
                }
            }
            let mut decoded = std::mem::take(&mut self.decoded);
            decoded.clear();
            codec::decode_segment(u32::MAX - rev_newest, value, &mut decoded)?;
            for p in &decoded {
                self.push(p);
            }
            self.decoded = decoded;
            self.it.next();
        }
    }

    fn peek(&mut self) -> Result<Option<(u32, TraceId)>, StorageError> {
        self.fill()?;
        Ok(self.heap.peek().map(|Reverse(h)| (h.0, h.1)))
    }

    fn take(&mut self) -> (u64, u64) {
        match self.heap.pop() {
            Some(Reverse((rev, trace_id, min_us, max_us))) => Posting {
                minute: u32::MAX - rev,
                trace_id,
                min_us,
                max_us,
            }
            .start_range_ns(),
            None => (0, u64::MAX),
        }
    }
}

/// Pushes the source's current entry on the heap; nothing when exhausted.
fn push_head(
    heap: &mut BinaryHeap<Reverse<(u32, TraceId, usize)>>,
    source: &mut Source<'_>,
    i: usize,
) -> Result<(), StorageError> {
    if let Some((rev_minute, id)) = source.peek()? {
        heap.push(Reverse((rev_minute, id, i)));
    }
    Ok(())
}

impl Search<'_> {
    /// Merges the sources of one partition newest first. `true` once `limit` traces matched.
    fn scan_partition(
        &mut self,
        start: u64,
        cf: &Arc<BoundColumnFamily<'_>>,
        prefixes: Vec<Vec<u8>>,
        tag: bool,
    ) -> Result<bool, StorageError> {
        let (min_ns, max_ns) = (self.q.start_min_ns, self.q.start_max_ns);
        let minutes = keys::minute_of(min_ns)..=keys::minute_of(max_ns);
        // The open segment first, then the iterators: see the module doc.
        let mut open: Vec<Vec<Posting>> = vec![Vec::new(); if tag { prefixes.len() } else { 0 }];
        if tag {
            let segments = self.store.segments.read();
            for (prefix, out) in prefixes.iter().zip(open.iter_mut()) {
                segments.collect(start, prefix, *minutes.start(), *minutes.end(), out);
            }
        }
        let mut sources = Vec::with_capacity(prefixes.len());
        let mut heap = BinaryHeap::with_capacity(prefixes.len());
        for (i, prefix) in prefixes.into_iter().enumerate() {
            let (lower, upper) = if tag {
                keys::segment_range(&prefix, min_ns)
            } else {
                keys::entry_range(&prefix, min_ns, max_ns)
            };
            let mut ro = ReadOptions::default();
            ro.set_iterate_lower_bound(lower.clone());
            ro.set_iterate_upper_bound(upper);
            let mut it = self.store.db.raw_iterator_cf_opt(cf, ro);
            it.seek(&lower);
            let mut source = if tag {
                let mut t = TagSource {
                    it,
                    prefix,
                    minutes: minutes.clone(),
                    heap: BinaryHeap::new(),
                    decoded: Vec::new(),
                };
                for p in &open[i] {
                    t.push(p);
                }
                Source::Tag(t)
            } else {
                Source::Keys { it, prefix }
            };
            push_head(&mut heap, &mut source, i)?;
            sources.push(source);
        }
        let mut bucket: Vec<Candidate> = Vec::new();
        let mut minute = None;
        while let Some(Reverse((rev_minute, trace_id, i))) = heap.pop() {
            if minute != Some(rev_minute) {
                if self.verify_bucket(&mut bucket)? {
                    return Ok(true);
                }
                minute = Some(rev_minute);
            }
            let source = &mut sources[i];
            let (min_start, max_start) = source.take(rev_minute)?;
            if min_start <= max_ns && max_start >= min_ns {
                bucket.push(Candidate {
                    trace_id,
                    max_start_ns: max_start,
                });
            } else {
                self.deferred.push(trace_id);
            }
            push_head(&mut heap, source, i)?;
        }
        self.verify_bucket(&mut bucket)
    }

    /// Verifies one minute's candidates, newest first. `true` once `limit` traces matched.
    fn verify_bucket(&mut self, bucket: &mut Vec<Candidate>) -> Result<bool, StorageError> {
        bucket.sort_unstable_by(|a, b| {
            (b.max_start_ns, a.trace_id).cmp(&(a.max_start_ns, b.trace_id))
        });
        for c in bucket.drain(..) {
            if self.verify(c.trace_id)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Loads and checks one candidate (once). `true` once `limit` traces matched.
    fn verify(&mut self, id: TraceId) -> Result<bool, StorageError> {
        if self.results.len() >= self.q.limit {
            return Ok(true);
        }
        if !self.seen.insert(id) {
            return Ok(false);
        }
        let spans = match self.store.read_trace(id, &self.result_partitions) {
            Ok(spans) => spans,
            Err(StorageError::Corrupt { what, detail }) => {
                // One unreadable trace must not fail every search that meets it.
                tracing::warn!(trace_id = %id, what, detail, "skipping unreadable trace");
                return Ok(false);
            }
            Err(e) => return Err(e),
        };
        if !spans.is_empty() && trace_matches(&spans, self.q) {
            self.results.push(Trace {
                trace_id: id,
                spans,
            });
        }
        Ok(self.results.len() >= self.q.limit)
    }
}
