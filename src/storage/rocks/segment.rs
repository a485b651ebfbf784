//! The open segments: postings acknowledged but not yet flushed to segment keys.
//!
//! Owns, per partition, the runs of postings of the writes since the last flush (one immutable,
//! sorted run per write and partition, built by the writer outside any lock and appended as one
//! `Arc`), the write-log sequence (which writes are still in flight) and the merge that turns
//! the runs into a trace table and one key per group at flush time (see the layout in
//! keys.rs). The store guards it with one `RwLock`: a write holds it only to take a seq and to
//! push its runs, a search only to copy the postings of its term. Runs being flushed stay searchable here until their flush committed, so a
//! search never misses a posting in between. Must never do I/O and never build keys itself.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::sync::Arc;

use crate::storage::codec::{self, Posting, SegmentWriter};
use crate::storage::keys;
use crate::storage::StorageError;

/// The postings of one write in one partition: terms in byte order, each with the traces it
/// was seen in, as indices into the run's own trace list.
#[derive(Debug, Default)]
pub(super) struct Run {
    /// Distinct terms (the `keys` prefix builders' bytes), back to back.
    terms: Vec<u8>,
    /// Per term: end of its bytes in `terms`, end of its postings in `postings`.
    ends: Vec<(u32, u32)>,
    /// Indices into `traces`.
    postings: Vec<u32>,
    /// The (minute, trace) pairs of the write with the start range of all the trace's spans in
    /// that minute, in any order: the run's part of the flush's trace table.
    traces: Vec<Posting>,
}

impl Run {
    /// A run over these traces; [`Self::push`] refers to them by index.
    pub(super) fn new(traces: Vec<Posting>) -> Run {
        Run {
            traces,
            ..Run::default()
        }
    }

    pub(super) fn len(&self) -> usize {
        self.postings.len()
    }

    fn term(&self, i: usize) -> &[u8] {
        let from = if i == 0 { 0 } else { self.ends[i - 1].0 };
        &self.terms[from as usize..self.ends[i].0 as usize]
    }

    fn postings_at(&self, i: usize) -> &[u32] {
        let from = if i == 0 { 0 } else { self.ends[i - 1].1 };
        &self.postings[from as usize..self.ends[i].1 as usize]
    }

    /// Appends a posting of `term` in trace `trace` (an index into the run's traces). Terms
    /// must come in byte order.
    pub(super) fn push(&mut self, term: &[u8], trace: u32) {
        let n = self.ends.len();
        if n == 0 || self.term(n - 1) != term {
            self.terms.extend_from_slice(term);
            self.ends
                .push((self.terms.len() as u32, self.postings.len() as u32));
        }
        self.postings.push(trace);
        if let Some(last) = self.ends.last_mut() {
            last.1 = self.postings.len() as u32;
        }
    }

    /// The term ranges of the run's groups, in order (a group's terms are contiguous: group
    /// prefixes are prefix-free, see keys.rs).
    fn groups(&self) -> Vec<(usize, usize)> {
        let mut out: Vec<(usize, usize)> = Vec::new();
        let mut name: &[u8] = &[];
        for i in 0..self.ends.len() {
            let term = self.term(i);
            match out.last_mut() {
                Some(last) if term.len() >= name.len() && term[..name.len()] == *name => {
                    last.1 = i + 1
                }
                _ => {
                    name = &term[..keys::term_group_len(term)];
                    out.push((i, i + 1));
                }
            }
        }
        out
    }

    /// The postings of one term (binary search), as indices into the run's traces.
    fn postings_of(&self, term: &[u8]) -> &[u32] {
        let (mut lo, mut hi) = (0, self.ends.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.term(mid).cmp(term) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return self.postings_at(mid),
            }
        }
        &[]
    }
}

#[derive(Debug, Default)]
struct PartitionSegment {
    runs: Vec<Arc<Run>>,
    /// The first `flushing` runs are being written by a flush.
    flushing: usize,
}

/// What one flush writes: the runs it took and the write-log rows it may delete.
#[derive(Debug)]
pub(super) struct FlushJob {
    /// (partition start, its runs).
    pub(super) runs: Vec<(u64, Vec<Arc<Run>>)>,
    /// Every write with a seq below this one has its postings in `runs` or in an earlier flush.
    pub(super) log_below: u64,
    /// Partitions that may hold write-log rows below `log_below`.
    pub(super) log_partitions: Vec<u64>,
}

/// The open segments of every partition and the write-log sequence.
#[derive(Debug, Default)]
pub(super) struct OpenSegments {
    parts: BTreeMap<u64, PartitionSegment>,
    /// Postings in runs not being flushed: what the flush threshold counts.
    open_postings: usize,
    next_write_seq: u64,
    /// Seqs taken by writes that have not appended (or failed) yet.
    in_flight: BTreeSet<u64>,
    /// Partitions that may hold write-log rows, with the highest seq logged there.
    logged: BTreeMap<u64, u64>,
}

impl OpenSegments {
    /// Postings not yet being flushed.
    pub(super) fn open_postings(&self) -> usize {
        self.open_postings
    }

    /// Takes the seq of a write's `A` rows; [`Self::append`] or [`Self::abort_write`] must follow.
    pub(super) fn begin_write(&mut self) -> u64 {
        let seq = self.next_write_seq;
        self.next_write_seq += 1;
        self.in_flight.insert(seq);
        seq
    }

    /// The write of `seq` failed: it logged nothing.
    pub(super) fn abort_write(&mut self, seq: u64) {
        self.in_flight.remove(&seq);
    }

    /// Adds the runs of the durable write `seq` (one per partition it logged in). Returns the
    /// postings now open.
    pub(super) fn append(&mut self, seq: u64, runs: impl IntoIterator<Item = (u64, Run)>) -> usize {
        self.in_flight.remove(&seq);
        for (start, run) in runs {
            self.add(seq, start, run);
        }
        self.open_postings
    }

    /// Adds a run rebuilt from the write log at open.
    pub(super) fn recover(&mut self, seq: u64, start: u64, run: Run) {
        self.next_write_seq = self.next_write_seq.max(seq.saturating_add(1));
        self.add(seq, start, run);
    }

    fn add(&mut self, seq: u64, start: u64, run: Run) {
        let logged = self.logged.entry(start).or_insert(seq);
        *logged = (*logged).max(seq);
        if run.len() > 0 {
            self.open_postings += run.len();
            self.parts
                .entry(start)
                .or_default()
                .runs
                .push(Arc::new(run));
        }
    }

    /// Marks every open run as being flushed and returns them; `None` when there is nothing
    /// to write.
    pub(super) fn begin_flush(&mut self) -> Option<FlushJob> {
        let log_below = self
            .in_flight
            .first()
            .copied()
            .unwrap_or(self.next_write_seq);
        let mut runs = Vec::new();
        for (&start, seg) in &mut self.parts {
            seg.flushing = seg.runs.len();
            runs.push((start, seg.runs.clone()));
        }
        let log_partitions: Vec<u64> = self.logged.keys().copied().collect();
        if runs.is_empty() && log_partitions.is_empty() {
            return None;
        }
        self.open_postings = 0;
        Some(FlushJob {
            runs,
            log_below,
            log_partitions,
        })
    }

    /// Ends a flush: its runs leave memory once `committed`, else they are open again.
    pub(super) fn end_flush(&mut self, job: &FlushJob, committed: bool) {
        for seg in self.parts.values_mut() {
            let n = std::mem::take(&mut seg.flushing);
            if committed {
                seg.runs.drain(..n);
            } else {
                self.open_postings += seg.runs[..n].iter().map(|r| r.len()).sum::<usize>();
            }
        }
        self.parts.retain(|_, seg| !seg.runs.is_empty());
        if committed {
            self.logged.retain(|_, max| *max >= job.log_below);
        }
    }

    /// Forgets a dropped partition.
    pub(super) fn drop_partition(&mut self, start: u64) {
        if let Some(seg) = self.parts.remove(&start) {
            let open: usize = seg.runs[seg.flushing..].iter().map(|r| r.len()).sum();
            self.open_postings -= open;
        }
        self.logged.remove(&start);
    }

    /// Appends the postings of `term` in partition `start` whose minute is in
    /// [min_minute, max_minute], flushing runs included, each with the start range of its
    /// trace's spans in that minute and write.
    pub(super) fn collect(
        &self,
        start: u64,
        term: &[u8],
        min_minute: u32,
        max_minute: u32,
        out: &mut Vec<Posting>,
    ) {
        let Some(seg) = self.parts.get(&start) else {
            return;
        };
        for run in &seg.runs {
            out.extend(
                run.postings_of(term)
                    .iter()
                    .map(|&t| run.traces[t as usize])
                    .filter(|p| p.minute >= min_minute && p.minute <= max_minute),
            );
        }
    }
}

/// Sorts postings into search order and merges those of the same (minute, trace) into one with
/// the widest range.
fn sort_merging_ranges(postings: &mut Vec<Posting>) {
    postings.sort_unstable_by_key(Posting::search_order);
    postings.dedup_by(|later, kept| {
        let same = later.minute == kept.minute && later.trace_id == kept.trace_id;
        if same {
            kept.min_us = kept.min_us.min(later.min_us);
            kept.max_us = kept.max_us.max(later.max_us);
        }
        same
    });
}

/// Merges one partition's runs into the keys of its segment file and hands each `(key, value)`
/// to `put` in byte order: one segment per group, then the trace-table blocks.
pub(super) fn merge_runs(
    runs: &[Arc<Run>],
    segment_seq: u64,
    mut put: impl FnMut(&[u8], &[u8]),
) -> Result<(), StorageError> {
    let mut table: Vec<Posting> = runs.iter().flat_map(|r| r.traces.iter().copied()).collect();
    sort_merging_ranges(&mut table);
    // Per run: its trace indices → ordinals of the table.
    let ordinal_of: Vec<Vec<u32>> = runs
        .iter()
        .map(|r| {
            r.traces
                .iter()
                .map(|t| table.partition_point(|e| e.search_order() < t.search_order()) as u32)
                .collect()
        })
        .collect();
    // Terms are merged group by group: a heap orders the runs' groups (about five terms each),
    // and the sub-terms of one group, from every run, are sorted together. Comparing whole
    // terms in a heap, which share long group prefixes, cost most of the merge.
    let groups_of: Vec<Vec<(usize, usize)>> = runs.iter().map(|r| r.groups()).collect();
    let group_name = |i: usize, g: usize| {
        let term = runs[i].term(groups_of[i][g].0);
        &term[..keys::term_group_len(term)]
    };
    let mut heap: BinaryHeap<Reverse<(&[u8], usize, usize)>> = (0..runs.len())
        .filter(|&i| !groups_of[i].is_empty())
        .map(|i| Reverse((group_name(i, 0), i, 0)))
        .collect();
    let mut group = GroupOut::default();
    // (sub-term, run, term index) of the group being merged.
    let mut members: Vec<(&[u8], usize, usize)> = Vec::new();
    let mut ordinals: Vec<u32> = Vec::new();
    while let Some(Reverse((name, _, _))) = heap.peek().copied() {
        members.clear();
        while let Some(&Reverse((n, i, g))) = heap.peek() {
            if n != name {
                break;
            }
            heap.pop();
            let (from, to) = groups_of[i][g];
            members.extend((from..to).map(|at| (&runs[i].term(at)[name.len()..], i, at)));
            if g + 1 < groups_of[i].len() {
                heap.push(Reverse((group_name(i, g + 1), i, g + 1)));
            }
        }
        members.sort_unstable_by(|a, b| a.0.cmp(b.0));
        group.name.extend_from_slice(name);
        for same in members.chunk_by(|a, b| a.0 == b.0) {
            ordinals.clear();
            for &(_, i, at) in same {
                for &trace in runs[i].postings_at(at) {
                    let Some(&o) = ordinal_of[i].get(trace as usize) else {
                        return Err(StorageError::Corrupt {
                            what: "segment",
                            detail: format!("posting of trace index {trace} beyond its run"),
                        });
                    };
                    ordinals.push(o);
                }
            }
            ordinals.sort_unstable();
            ordinals.dedup();
            group.push(same[0].0, &ordinals);
        }
        group.emit(&table, segment_seq, &mut put);
    }
    let mut value = Vec::new();
    for (block, entries) in table.chunks(keys::TRACE_BLOCK as usize).enumerate() {
        codec::encode_trace_block(entries, &mut value);
        put(&keys::trace_table_key(segment_seq, block as u32), &value);
    }
    Ok(())
}

/// The segment of one group being built by [`merge_runs`].
#[derive(Default)]
struct GroupOut {
    name: Vec<u8>,
    writer: SegmentWriter,
    /// Lowest and highest ordinal pushed: the newest and the oldest posting.
    ordinals: Option<(u32, u32)>,
    key: Vec<u8>,
    value: Vec<u8>,
}

impl GroupOut {
    fn push(&mut self, subterm: &[u8], ordinals: &[u32]) {
        if let (Some(&first), Some(&last)) = (ordinals.first(), ordinals.last()) {
            let (lo, hi) = self.ordinals.get_or_insert((first, last));
            *lo = (*lo).min(first);
            *hi = (*hi).max(last);
            self.writer.push(subterm, ordinals);
        }
    }

    /// Puts the group's key (if it has postings) and starts the next group.
    fn emit(&mut self, table: &[Posting], segment_seq: u64, put: &mut impl FnMut(&[u8], &[u8])) {
        if let Some((lo, hi)) = self.ordinals.take() {
            let (newest, oldest) = (table[lo as usize].minute, table[hi as usize].minute);
            self.writer.finish(newest - oldest, &mut self.value);
            self.key.clear();
            self.key.extend_from_slice(&self.name);
            keys::push_segment_suffix(&mut self.key, u32::MAX - newest, segment_seq);
            put(&self.key, &self.value);
        }
        self.name.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TraceId;
    use std::collections::BTreeSet;

    fn term(v: &str) -> Vec<u8> {
        let mut t = Vec::new();
        keys::tag_prefix(&mut t, "svc", "k", v);
        t
    }

    fn posting(minute: u32, id: u128, min_us: u32, max_us: u32) -> Posting {
        Posting {
            minute,
            trace_id: TraceId::from_u128(id),
            min_us,
            max_us,
        }
    }

    /// A run of (value, posting) entries in term order, each posting its own trace entry.
    fn run(entries: &[(&str, Posting)]) -> Run {
        let mut r = Run::new(entries.iter().map(|(_, p)| *p).collect());
        for (i, (v, _)) in entries.iter().enumerate() {
            r.push(&term(v), i as u32);
        }
        r
    }

    #[test]
    fn runs_find_their_terms() {
        let r = run(&[
            ("a", posting(9, 1, 0, 1)),
            ("a", posting(8, 2, 0, 1)),
            ("b", posting(7, 3, 0, 1)),
            ("d", posting(7, 4, 0, 1)),
        ]);
        assert_eq!(r.postings_of(&term("a")).len(), 2);
        assert_eq!(r.postings_of(&term("b")), &[2]);
        assert!(r.postings_of(&term("c")).is_empty());
        assert_eq!(r.postings_of(&term("d")).len(), 1);
        assert!(Run::default().postings_of(&term("a")).is_empty());
    }

    #[test]
    fn merge_writes_one_key_per_group_and_a_trace_table_newest_first() {
        let mut service = Vec::new();
        keys::service_prefix(&mut service, "svc");
        let mut a = Run::new(vec![posting(5, 1, 10, 20), posting(3, 2, 0, 1)]);
        a.push(&service, 0);
        a.push(&term("a"), 0);
        a.push(&term("b"), 1);
        let runs = vec![
            Arc::new(a),
            Arc::new(run(&[
                ("a", posting(7, 3, 0, 1)),
                ("a", posting(5, 1, 5, 15)),
            ])),
        ];
        let mut out = Vec::new();
        merge_runs(&runs, 42, |k, v| out.push((k.to_vec(), v.to_vec()))).expect("merges");
        assert!(
            out.windows(2).all(|w| w[0].0 < w[1].0),
            "keys in byte order"
        );
        assert_eq!(out.len(), 3, "service, tag group, one table block");
        // The trace table: (7, 3), (5, 1) with the widest range, (3, 2).
        let (k, v) = &out[2];
        assert_eq!(keys::parse_trace_table_key(k), Ok((42, 0)));
        let mut table = Vec::new();
        codec::decode_trace_block(v, &mut table).expect("decodes");
        assert_eq!(
            table,
            vec![
                posting(7, 3, 0, 1),
                posting(5, 1, 5, 20),
                posting(3, 2, 0, 1)
            ]
        );
        // The service group: ordinal 1, newest = oldest = minute 5.
        let (k, v) = &out[0];
        assert_eq!(
            keys::parse_segment_suffix(k, service.len()),
            Ok((u32::MAX - 5, 42))
        );
        assert_eq!(
            codec::decode_segment(v).expect("decodes"),
            vec![(vec![], vec![1])]
        );
        // The tag group: both values of key `k`, newest minute 7, oldest 3.
        let (k, v) = &out[1];
        let mut group = Vec::new();
        keys::tag_group(&mut group, "svc", "k");
        assert_eq!(
            keys::parse_segment_suffix(k, group.len()),
            Ok((u32::MAX - 7, 42))
        );
        assert_eq!(codec::segment_oldest_gap(v).expect("header"), 4);
        let value = |v: &str| term(v)[group.len()..].to_vec();
        assert_eq!(
            codec::decode_segment(v).expect("decodes"),
            vec![(value("a"), vec![0, 1]), (value("b"), vec![2])]
        );
    }

    #[test]
    fn a_posting_beyond_its_runs_traces_is_an_error_not_a_wrong_ordinal() {
        let mut r = run(&[("a", posting(5, 1, 0, 1))]);
        r.push(&term("b"), 1);
        let err = merge_runs(&[Arc::new(r)], 1, |_, _| {}).expect_err("refused");
        assert!(err.to_string().contains("beyond its run"), "{err}");
    }

    #[test]
    fn write_log_rows_below_an_in_flight_write_are_kept() {
        let mut segs = OpenSegments::default();
        let a = segs.begin_write();
        let b = segs.begin_write();
        segs.append(b, [(100, run(&[("a", posting(1, 1, 0, 1))]))]);
        let job = segs.begin_flush().expect("work");
        assert_eq!(job.log_below, a, "write {a} is still in flight");
        segs.append(a, [(100, run(&[("a", posting(1, 2, 0, 1))]))]);
        assert_eq!(segs.open_postings(), 1);
        let mut found = Vec::new();
        segs.collect(100, &term("a"), 0, 10, &mut found);
        assert_eq!(found.len(), 2, "flushing runs stay searchable");
        segs.end_flush(&job, true);
        found.clear();
        segs.collect(100, &term("a"), 0, 10, &mut found);
        assert_eq!(found, vec![posting(1, 2, 0, 1)]);
        let job = segs.begin_flush().expect("work");
        assert_eq!(job.log_below, b + 1);
        segs.end_flush(&job, false);
        assert_eq!(segs.open_postings(), 1, "a failed flush reopens its runs");
        segs.drop_partition(100);
        assert_eq!(segs.open_postings(), 0);
        assert!(segs.begin_flush().is_none());
    }

    /// Every kind of term, over few services, keys and values, so that runs share terms.
    fn any_term() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        (0u8..4, 0u8..2, 0u8..3, 0u8..4).prop_map(|(kind, svc, key, value)| {
            let svc = ["a", "ab"][svc as usize];
            let mut t = Vec::new();
            match kind {
                0 => keys::service_prefix(&mut t, svc),
                1 => keys::duration_prefix(&mut t, svc, key),
                _ => keys::tag_prefix(
                    &mut t,
                    svc,
                    ["k", "k\0", "kk"][key as usize],
                    ["", "v", "v\0w", "vv"][value as usize],
                ),
            }
            t
        })
    }

    proptest::proptest! {
        /// The merge equals a plain computation: every term's ordinals are the table positions
        /// of its postings' (minute, trace), grouped by term group.
        #[test]
        fn merge_equals_grouping_every_posting_by_term(
            raw in proptest::collection::vec(
                (
                    proptest::collection::vec((0u32..4, 0u128..6, 0u32..50), 1..6),
                    proptest::collection::vec((any_term(), 0usize..6), 0..12),
                ),
                1..5,
            ),
        ) {
            use std::collections::BTreeMap;
            let mut runs = Vec::new();
            for (traces, postings) in raw {
                let traces: Vec<Posting> = traces
                    .into_iter()
                    .map(|(minute, id, us)| posting(minute, id, us, us + 1))
                    .collect();
                let mut by_term: BTreeMap<Vec<u8>, BTreeSet<u32>> = BTreeMap::new();
                for (term, t) in postings {
                    by_term.entry(term).or_default().insert((t % traces.len()) as u32);
                }
                let mut run = Run::new(traces);
                for (term, ts) in &by_term {
                    for &t in ts {
                        run.push(term, t);
                    }
                }
                runs.push(Arc::new(run));
            }
            let mut table: Vec<Posting> =
                runs.iter().flat_map(|r| r.traces.iter().copied()).collect();
            sort_merging_ranges(&mut table);
            let mut expected: BTreeMap<Vec<u8>, BTreeMap<Vec<u8>, BTreeSet<u32>>> = BTreeMap::new();
            for run in &runs {
                for i in 0..run.ends.len() {
                    let term = run.term(i);
                    let split = keys::term_group_len(term);
                    let ordinals = expected
                        .entry(term[..split].to_vec())
                        .or_default()
                        .entry(term[split..].to_vec())
                        .or_default();
                    for &t in run.postings_at(i) {
                        let p = run.traces[t as usize];
                        let o = table.iter().position(|e| e.search_order() == p.search_order());
                        ordinals.insert(o.expect("in the table") as u32);
                    }
                }
            }
            let mut found: BTreeMap<Vec<u8>, BTreeMap<Vec<u8>, BTreeSet<u32>>> = BTreeMap::new();
            let mut last: Option<Vec<u8>> = None;
            merge_runs(&runs, 9, |k, v| {
                assert!(last.as_deref().is_none_or(|l| l < k), "keys in byte order");
                last = Some(k.to_vec());
                if k[0] != keys::TAG_TRACE_TABLE {
                    let group = k[..k.len() - keys::SEGMENT_SUFFIX_LEN].to_vec();
                    let subterms = codec::decode_segment(v).expect("a segment");
                    let entry = found.entry(group).or_default();
                    for (s, ords) in subterms {
                        entry.insert(s, ords.into_iter().collect());
                    }
                }
            })
            .expect("merges");
            proptest::prop_assert_eq!(found, expected);
        }
    }
}
