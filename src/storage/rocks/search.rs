//! Trace search over the RocksDB index: pick one driving index, merge its newest-first entries
//! across services/kinds/buckets, verify candidates on the whole trace.
//!
//! Per partition (newest first) one index drives: an indexable attribute (`T`), else the
//! operation (`O`, the kinds the catalog knows), else the duration buckets (`D`), else the
//! service (`S`); without a service, the same for every service of the partition's catalog. The
//! sources are merged with a heap in (minute, trace) order; within one minute candidates are
//! verified newest `max_start` first with [`trace_matches`] on the whole trace, and the search
//! stops as soon as `limit` traces matched. Every iterator is bounded by the group and the
//! window's minutes; nothing is scanned. Candidates are loaded from the partitions of the window
//! widened by [`RESULT_SLACK_NS`], not from every partition.
//!
//! Every driving term is read from two places, merged into the same (minute, trace) order: the
//! open segment's postings (copied first, so a posting a concurrent flush moves to RocksDB is
//! seen in one place or both, never in neither) and the flushed segments of its group, opened
//! lazily, newest first, only once the merge reaches their newest minute, and skipped by their
//! header when all their postings are newer than the window. A flushed segment's ordinals are
//! resolved through its flush's trace table, one block at a time, only as the merge consumes
//! them. A posting seen twice is verified once. A tag is looked up in both of its forms (its
//! value's string-table ID when the partition's table has the value, and the string), as one
//! source: the postings of a value indexed before and after it got an ID are merged.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::hash_map::Entry;
use std::collections::{BinaryHeap, HashMap, HashSet};
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

/// One term driving a search: the full terms its postings are stored under, all of one group
/// (a tag value's ID form and string form, see `keys`; otherwise just the term).
type DrivingTerm = Vec<Vec<u8>>;

/// The terms that drive the search in partition `start`.
fn driving_terms(
    store: &RocksStore,
    start: u64,
    cf: &Arc<BoundColumnFamily<'_>>,
    q: &TraceQuery,
    driver: &Driver<'_>,
) -> Result<Vec<DrivingTerm>, StorageError> {
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
    let value_id = match driver {
        Driver::Tag(_, v) => store.strings(start)?.and_then(|t| t.value_id(v)),
        _ => None,
    };
    let mut prefixes = Vec::new();
    for (svc, kinds) in &services {
        match driver {
            Driver::Tag(k, v) => {
                let mut p = Vec::new();
                keys::tag_prefix(&mut p, svc, k, v);
                let mut forms = vec![p];
                if let Some(id) = value_id {
                    let mut p = Vec::new();
                    keys::tag_id_prefix(&mut p, svc, k, id);
                    forms.push(p);
                }
                prefixes.push(forms);
            }
            Driver::Operation(op) => {
                for &kind in kinds {
                    let mut p = Vec::new();
                    keys::operation_prefix(&mut p, svc, op, kind);
                    prefixes.push(vec![p]);
                }
            }
            Driver::Duration { lowest, highest } => {
                for bucket in *lowest..=*highest {
                    let mut p = Vec::new();
                    keys::duration_prefix(&mut p, svc, bucket);
                    prefixes.push(vec![p]);
                }
            }
            Driver::Service => {
                let mut p = Vec::new();
                keys::service_prefix(&mut p, svc);
                prefixes.push(vec![p]);
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
        let terms = driving_terms(store, start, &cf, q, &driver)?;
        if search.scan_partition(start, &cf, terms)? {
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

/// The decoded trace-table blocks of one partition, shared by the sources of one scan.
struct TraceTables<'a> {
    store: &'a RocksStore,
    cf: &'a Arc<BoundColumnFamily<'a>>,
    blocks: RefCell<HashMap<(u64, u32), Vec<Posting>>>,
}

impl TraceTables<'_> {
    /// The (minute, trace, start range) of an ordinal of flush `seq`.
    fn get(&self, seq: u64, ordinal: u32) -> Result<Posting, StorageError> {
        let block = ordinal / keys::TRACE_BLOCK;
        let mut blocks = self.blocks.borrow_mut();
        let entries = match blocks.entry((seq, block)) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                let key = keys::trace_table_key(seq, block);
                let Some(bytes) = self.store.db.get_pinned_cf(self.cf, key)? else {
                    return Err(missing_entry(seq, ordinal));
                };
                let mut entries = Vec::new();
                codec::decode_trace_block(&bytes, &mut entries)?;
                e.insert(entries)
            }
        };
        entries
            .get((ordinal % keys::TRACE_BLOCK) as usize)
            .copied()
            .ok_or_else(|| missing_entry(seq, ordinal))
    }
}

fn missing_entry(seq: u64, ordinal: u32) -> StorageError {
    StorageError::Corrupt {
        what: "trace table",
        detail: format!("flush {seq} has no trace-table entry {ordinal}"),
    }
}

/// One newest-first stream of postings: the open segment's, or one flushed segment's.
enum Cursor {
    /// In search order, inside the window already.
    Open { postings: Vec<Posting>, at: usize },
    /// Ordinals into the trace table of flush `seq`, ascending (= search order).
    Flushed {
        seq: u64,
        ordinals: Vec<u32>,
        at: usize,
    },
}

impl Cursor {
    /// The next posting inside `minutes`; `None` when exhausted.
    fn advance(
        &mut self,
        tables: &TraceTables<'_>,
        minutes: &RangeInclusive<u32>,
    ) -> Result<Option<Posting>, StorageError> {
        match self {
            Cursor::Open { postings, at } => {
                let p = postings.get(*at).copied();
                *at += 1;
                Ok(p)
            }
            Cursor::Flushed { seq, ordinals, at } => {
                while let Some(&o) = ordinals.get(*at) {
                    *at += 1;
                    let p = tables.get(*seq, o)?;
                    if p.minute > *minutes.end() {
                        continue;
                    }
                    if p.minute < *minutes.start() {
                        *at = ordinals.len();
                        return Ok(None);
                    }
                    return Ok(Some(p));
                }
                Ok(None)
            }
        }
    }
}

/// The postings of one term in one partition, newest first: the open segment's (collected up
/// front) merged with the flushed segments', which are opened only when the merge reaches their
/// newest minute.
struct TermSource<'a> {
    it: RawIter<'a>,
    /// The term's group (the key prefix) and sub-terms (its forms).
    group: Vec<u8>,
    subterms: Vec<Vec<u8>>,
    minutes: RangeInclusive<u32>,
    tables: &'a TraceTables<'a>,
    cursors: Vec<Cursor>,
    heads: BinaryHeap<Reverse<Head>>,
}

/// The current posting of a cursor: (rev_minute, trace, min_us, max_us, cursor).
type Head = (u32, TraceId, u32, u32, usize);

impl<'a> TermSource<'a> {
    fn new(
        it: RawIter<'a>,
        term: &[Vec<u8>],
        minutes: RangeInclusive<u32>,
        tables: &'a TraceTables<'a>,
        mut open: Vec<Posting>,
    ) -> Result<TermSource<'a>, StorageError> {
        let split = keys::term_group_len(&term[0]);
        open.sort_unstable_by_key(Posting::search_order);
        let mut source = TermSource {
            it,
            group: term[0][..split].to_vec(),
            subterms: term.iter().map(|t| t[split..].to_vec()).collect(),
            minutes,
            tables,
            cursors: Vec::new(),
            heads: BinaryHeap::new(),
        };
        source.add_cursor(Cursor::Open {
            postings: open,
            at: 0,
        })?;
        Ok(source)
    }

    fn add_cursor(&mut self, cursor: Cursor) -> Result<(), StorageError> {
        self.cursors.push(cursor);
        self.advance(self.cursors.len() - 1)
    }

    /// Moves cursor `i` to its next posting.
    fn advance(&mut self, i: usize) -> Result<(), StorageError> {
        if let Some(p) = self.cursors[i].advance(self.tables, &self.minutes)? {
            let rev = u32::MAX - p.minute;
            self.heads
                .push(Reverse((rev, p.trace_id, p.min_us, p.max_us, i)));
        }
        Ok(())
    }

    /// Opens every flushed segment that may hold a posting at or before the merge's head.
    fn fill(&mut self) -> Result<(), StorageError> {
        loop {
            let (rev_newest, seq, value) = match self.it.item() {
                Some((key, value)) if key.starts_with(&self.group) => {
                    let (rev, seq) = keys::parse_segment_suffix(key, self.group.len())?;
                    (rev, seq, value)
                }
                Some(_) => return Ok(()),
                None => return Ok(self.it.status()?),
            };
            if let Some(Reverse(head)) = self.heads.peek() {
                if rev_newest > head.0 {
                    return Ok(()); // every posting of that segment is older than the head
                }
            }
            let newest = u32::MAX - rev_newest;
            let oldest = newest.saturating_sub(codec::segment_oldest_gap(value)?);
            let mut ordinals = Vec::new();
            if oldest <= *self.minutes.end() {
                for subterm in &self.subterms {
                    codec::find_in_segment(value, subterm, &mut ordinals)?;
                }
                if self.subterms.len() > 1 {
                    ordinals.sort_unstable();
                    ordinals.dedup();
                }
            }
            self.it.next();
            if !ordinals.is_empty() {
                let at = if newest > *self.minutes.end() {
                    self.first_in_window(seq, &ordinals)?
                } else {
                    0
                };
                self.add_cursor(Cursor::Flushed { seq, ordinals, at })?;
            }
        }
    }

    /// The first of `ordinals` whose minute is at or before the window's newest (their minutes
    /// descend): a binary search through the trace table.
    fn first_in_window(&self, seq: u64, ordinals: &[u32]) -> Result<usize, StorageError> {
        let (mut lo, mut hi) = (0, ordinals.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            if self.tables.get(seq, ordinals[mid])?.minute > *self.minutes.end() {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }

    /// The (rev_minute, trace) of the newest posting left; `None` when exhausted.
    fn peek(&mut self) -> Result<Option<(u32, TraceId)>, StorageError> {
        self.fill()?;
        Ok(self.heads.peek().map(|Reverse(h)| (h.0, h.1)))
    }

    /// The start range of the newest posting left; advances past it.
    fn take(&mut self) -> Result<(u64, u64), StorageError> {
        let Some(Reverse((rev, trace_id, min_us, max_us, i))) = self.heads.pop() else {
            return Ok((0, u64::MAX));
        };
        self.advance(i)?;
        Ok(Posting {
            minute: u32::MAX - rev,
            trace_id,
            min_us,
            max_us,
        }
        .start_range_ns())
    }
}

impl Search<'_> {
    /// Merges the postings of the driving terms in one partition newest first. `true` once
    /// `limit` traces matched.
    fn scan_partition(
        &mut self,
        start: u64,
        cf: &Arc<BoundColumnFamily<'_>>,
        terms: Vec<DrivingTerm>,
    ) -> Result<bool, StorageError> {
        let store = self.store;
        let (min_ns, max_ns) = (self.q.start_min_ns, self.q.start_max_ns);
        let minutes = keys::minute_of(min_ns)..=keys::minute_of(max_ns);
        // The open segment first, then the iterators: see the module doc.
        let mut open: Vec<Vec<Posting>> = vec![Vec::new(); terms.len()];
        {
            let segments = store.segments.read();
            for (forms, out) in terms.iter().zip(open.iter_mut()) {
                for term in forms {
                    segments.collect(start, term, *minutes.start(), *minutes.end(), out);
                }
            }
        }
        let tables = TraceTables {
            store,
            cf,
            blocks: RefCell::new(HashMap::new()),
        };
        let mut sources = Vec::with_capacity(terms.len());
        let mut heap = BinaryHeap::with_capacity(terms.len());
        for (i, (term, open)) in terms.iter().zip(open).enumerate() {
            let group = &term[0][..keys::term_group_len(&term[0])];
            let (lower, upper) = keys::segment_range(group, min_ns);
            let mut ro = ReadOptions::default();
            ro.set_iterate_lower_bound(lower.clone());
            ro.set_iterate_upper_bound(upper);
            let mut it = store.db.raw_iterator_cf_opt(cf, ro);
            it.seek(&lower);
            let mut source = TermSource::new(it, term, minutes.clone(), &tables, open)?;
            if let Some((rev_minute, id)) = source.peek()? {
                heap.push(Reverse((rev_minute, id, i)));
            }
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
            let (min_start, max_start) = source.take()?;
            if min_start <= max_ns && max_start >= min_ns {
                bucket.push(Candidate {
                    trace_id,
                    max_start_ns: max_start,
                });
            } else {
                self.deferred.push(trace_id);
            }
            if let Some((rev_minute, id)) = source.peek()? {
                heap.push(Reverse((rev_minute, id, i)));
            }
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
