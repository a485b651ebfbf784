//! The open segments: postings acknowledged but not yet flushed to segment keys.
//!
//! Owns, per partition, the runs of postings of the writes since the last flush (one immutable
//! run per write and partition, its terms interned by hash, built by the writer outside any
//! lock and appended as one `Arc`), the write-log sequence (which writes are still in flight)
//! and the merge that turns the runs into a trace table and one key per group at flush time
//! (see the layout in keys.rs). Terms are sorted once, at the flush: bucketed by group, then
//! sorted within the group on their first 16 bytes as integers. The store guards it with one
//! `RwLock`: a write holds it only to take a seq and to push its runs, a search only to copy
//! the postings of its term. Runs being flushed stay searchable here until their flush
//! committed, so a search never misses a posting in between. Must never do I/O and never build
//! keys itself.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::BuildHasher;
use std::sync::Arc;

use hashbrown::{DefaultHashBuilder, HashTable};

use crate::storage::codec::{self, Posting, SegmentWriter};
use crate::storage::keys;
use crate::storage::StorageError;

/// The postings of one write in one partition: its distinct terms, each with the traces it was
/// seen in (as indices into the run's own trace list), found by hash. Terms are in no order:
/// the flush sorts them once, for all the runs it merges.
#[derive(Debug)]
pub(super) struct Run {
    /// Distinct terms (the `keys` prefix builders' bytes), back to back.
    terms: Vec<u8>,
    /// Per term: end of its bytes in `terms`, end of its postings in `postings`.
    ends: Vec<(u32, u32)>,
    /// Indices into `traces`, ascending and distinct per term.
    postings: Vec<u32>,
    /// The (minute, trace) pairs of the write with the start range of all the trace's spans in
    /// that minute, in any order: the run's part of the flush's trace table.
    traces: Vec<Posting>,
    /// Term indices by the hash of their bytes.
    by_term: HashTable<u32>,
    hasher: DefaultHashBuilder,
}

impl Default for Run {
    fn default() -> Run {
        RunBuilder::default().finish(Vec::new())
    }
}

impl Run {
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

    /// The postings of one term, as indices into the run's traces.
    fn postings_of(&self, term: &[u8]) -> &[u32] {
        let hash = self.hasher.hash_one(term);
        match self.by_term.find(hash, |&i| self.term(i as usize) == term) {
            Some(&i) => self.postings_at(i as usize),
            None => &[],
        }
    }
}

/// Collects the postings of one write in one partition, in any order, into a [`Run`]: each
/// term is interned by hash as it comes, so no posting is compared byte by byte.
#[derive(Debug, Default)]
pub(super) struct RunBuilder {
    terms: Vec<u8>,
    /// End of each term's bytes in `terms`.
    ends: Vec<u32>,
    by_term: HashTable<u32>,
    hasher: DefaultHashBuilder,
    /// (term index, trace index) of every posting pushed, duplicates included.
    pushed: Vec<(u32, u32)>,
}

impl RunBuilder {
    /// Term `i` of `terms`, whose ends are `ends`.
    fn term_of<'t>(terms: &'t [u8], ends: &[u32], i: u32) -> &'t [u8] {
        let from = if i == 0 { 0 } else { ends[i as usize - 1] };
        &terms[from as usize..ends[i as usize] as usize]
    }

    /// Makes room for `postings` more postings of about as many distinct terms.
    pub(super) fn reserve(&mut self, postings: usize) {
        self.pushed.reserve(postings);
        self.ends.reserve(postings);
        self.terms.reserve(postings * 32);
        let (terms, ends, hasher) = (&self.terms, &self.ends, &self.hasher);
        self.by_term.reserve(postings, |&j| {
            hasher.hash_one(Self::term_of(terms, ends, j))
        });
    }

    /// Adds a posting of `term` in trace `trace` (an index into the traces given to
    /// [`Self::finish`]).
    pub(super) fn push(&mut self, term: &[u8], trace: u32) {
        let hash = self.hasher.hash_one(term);
        let (terms, ends) = (&self.terms, &self.ends);
        let found = self
            .by_term
            .find(hash, |&i| Self::term_of(terms, ends, i) == term)
            .copied();
        let i = match found {
            Some(i) => i,
            None => {
                let i = self.ends.len() as u32;
                self.terms.extend_from_slice(term);
                self.ends.push(self.terms.len() as u32);
                let (terms, ends, hasher) = (&self.terms, &self.ends, &self.hasher);
                self.by_term
                    .insert_unique(hash, i, |&j| hasher.hash_one(Self::term_of(terms, ends, j)));
                i
            }
        };
        self.pushed.push((i, trace));
    }

    /// The run of the postings pushed over these traces; the builder starts empty again.
    pub(super) fn finish(&mut self, traces: Vec<Posting>) -> Run {
        // A counting sort by term keeps each term's traces in push order, which is ascending
        // but for the spans of one trace in several minutes: a short sort per term does the rest.
        let n_terms = self.ends.len();
        let mut starts = vec![0u32; n_terms + 1];
        for &(term, _) in &self.pushed {
            starts[term as usize + 1] += 1;
        }
        for i in 0..n_terms {
            starts[i + 1] += starts[i];
        }
        let mut next = starts.clone();
        let mut placed = vec![0u32; self.pushed.len()];
        for &(term, trace) in &self.pushed {
            let at = &mut next[term as usize];
            placed[*at as usize] = trace;
            *at += 1;
        }
        let mut postings = Vec::with_capacity(placed.len());
        let mut ends = Vec::with_capacity(n_terms);
        for (i, &bytes_end) in self.ends.iter().enumerate() {
            let from = postings.len();
            postings.extend_from_slice(&placed[starts[i] as usize..starts[i + 1] as usize]);
            let own = &mut postings[from..];
            if !own.is_sorted() {
                own.sort_unstable();
            }
            let kept = from + dedup_sorted(&mut postings[from..]);
            postings.truncate(kept);
            ends.push((bytes_end, postings.len() as u32));
        }
        self.pushed.clear();
        self.ends.clear();
        // The next write is likely alike: start at this one's size rather than grow again.
        let terms = Vec::with_capacity(self.terms.len());
        let by_term = HashTable::with_capacity(n_terms);
        Run {
            terms: std::mem::replace(&mut self.terms, terms),
            ends,
            postings,
            traces,
            by_term: std::mem::replace(&mut self.by_term, by_term),
            hasher: self.hasher.clone(),
        }
    }
}

/// Moves the distinct values of a sorted slice to its front; returns how many there are.
fn dedup_sorted(values: &mut [u32]) -> usize {
    let mut kept = 0;
    for i in 0..values.len() {
        if kept == 0 || values[i] != values[kept - 1] {
            values[kept] = values[i];
            kept += 1;
        }
    }
    kept
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
    scratch: &mut MergeScratch,
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
    let Groups { names, starts } = Groups::of(runs, &ordinal_of, scratch)?;
    let MergeScratch {
        members,
        ordinals: of_members,
        ..
    } = scratch;
    let mut in_order: Vec<usize> = (0..names.len()).collect();
    in_order.sort_unstable_by(|&a, &b| names[a].cmp(names[b]));
    let mut group = GroupOut::default();
    let mut ordinals: Vec<u32> = Vec::new();
    let mut long = Vec::new();
    for g in in_order {
        let members = &mut members[starts[g]..starts[g + 1]];
        members.sort_unstable_by(|a, b| a.cmp(b, runs));
        group.name.extend_from_slice(names[g]);
        for same in members.chunk_by(|a, b| a.cmp(b, runs).is_eq()) {
            ordinals.clear();
            for m in same {
                ordinals.extend_from_slice(&of_members[m.ordinals()]);
            }
            ordinals.sort_unstable();
            ordinals.dedup();
            group.push(same[0].subterm(runs, &mut long), &ordinals);
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

/// Sub-terms up to this length are held whole in a [`Member`].
const HEAD_LEN: usize = 16;

/// One term of one run, as a member of its group in [`merge_runs`]. Sorting and comparing
/// members touches the runs only for sub-terms longer than [`HEAD_LEN`].
#[derive(Clone, Copy, Default)]
struct Member {
    /// The first [`HEAD_LEN`] bytes of the sub-term, zero-padded, as big-endian integers: in
    /// the sub-terms' byte order.
    head: [u64; 2],
    len: u32,
    run: u32,
    term: u32,
    /// Where the term's ordinals start in [`Groups::ordinals`], and how many.
    from: u32,
    count: u32,
}

impl Member {
    fn long(&self) -> bool {
        self.len as usize > HEAD_LEN
    }

    /// The whole sub-term: from the run when it is longer than the head.
    fn whole<'r>(&self, runs: &'r [Arc<Run>]) -> &'r [u8] {
        let term = runs[self.run as usize].term(self.term as usize);
        &term[term.len() - self.len as usize..]
    }

    /// Byte order of the sub-terms.
    fn cmp(&self, other: &Member, runs: &[Arc<Run>]) -> std::cmp::Ordering {
        self.head.cmp(&other.head).then_with(|| {
            if self.long() && other.long() {
                self.whole(runs).cmp(other.whole(runs))
            } else {
                // Equal heads, one of them whole: the shorter is a prefix of the other.
                self.len.cmp(&other.len)
            }
        })
    }

    fn subterm<'s>(&self, runs: &'s [Arc<Run>], buf: &'s mut Vec<u8>) -> &'s [u8] {
        if self.long() {
            return self.whole(runs);
        }
        buf.clear();
        buf.extend_from_slice(&self.head[0].to_be_bytes());
        buf.extend_from_slice(&self.head[1].to_be_bytes());
        buf.truncate(self.len as usize);
        buf
    }

    fn ordinals(&self) -> std::ops::Range<usize> {
        self.from as usize..(self.from + self.count) as usize
    }
}

/// The terms of all the runs of a flush, bucketed by group, with their postings as ordinals.
/// Built in two passes over the runs in memory order (a group's terms lie all over a run).
struct Groups<'a> {
    names: Vec<&'a [u8]>,
    /// The members of group `g` are `scratch.members[starts[g]..starts[g + 1]]`.
    starts: Vec<usize>,
}

/// The buffers of [`merge_runs`], kept from one flush to the next: they are large (tens of
/// bytes per posting), and fresh memory costs a page fault per page.
#[derive(Default)]
pub(super) struct MergeScratch {
    /// Every term of every run, a group's together.
    members: Vec<Member>,
    /// The ordinals of every member, a group's together.
    ordinals: Vec<u32>,
    /// The group of every term of every run, in run order.
    group_of: Vec<u32>,
}

impl<'a> Groups<'a> {
    fn of(
        runs: &'a [Arc<Run>],
        ordinal_of: &[Vec<u32>],
        scratch: &mut MergeScratch,
    ) -> Result<Groups<'a>, StorageError> {
        let hasher = DefaultHashBuilder::default();
        let mut by_name: HashTable<u32> = HashTable::new();
        let mut names: Vec<&'a [u8]> = Vec::new();
        // The group of every term of every run, in run order, and per group its terms and
        // postings.
        let MergeScratch {
            members,
            ordinals,
            group_of,
        } = scratch;
        group_of.clear();
        let mut sizes: Vec<(usize, usize)> = Vec::new();
        for run in runs {
            for t in 0..run.ends.len() {
                let term = run.term(t);
                let name = &term[..keys::term_group_len(term)];
                let hash = hasher.hash_one(name);
                let g = match by_name.find(hash, |&g| names[g as usize] == name) {
                    Some(&g) => g,
                    None => {
                        let g = names.len() as u32;
                        names.push(name);
                        sizes.push((0, 0));
                        by_name.insert_unique(hash, g, |&g| hasher.hash_one(names[g as usize]));
                        g
                    }
                };
                sizes[g as usize].0 += 1;
                sizes[g as usize].1 += run.postings_at(t).len();
                group_of.push(g);
            }
        }
        // Counting sorts of the terms and their postings by group.
        let mut starts = Vec::with_capacity(names.len() + 1);
        let mut next: Vec<(usize, usize)> = Vec::with_capacity(names.len());
        let (mut members_at, mut ordinals_at) = (0, 0);
        for &(terms, postings) in &sizes {
            starts.push(members_at);
            next.push((members_at, ordinals_at));
            members_at += terms;
            ordinals_at += postings;
        }
        starts.push(members_at);
        members.clear();
        members.resize(members_at, Member::default());
        ordinals.clear();
        ordinals.resize(ordinals_at, 0);
        let mut group_of = group_of.iter().copied();
        for (r, run) in runs.iter().enumerate() {
            for (t, g) in (0..run.ends.len()).zip(&mut group_of) {
                let term = run.term(t);
                let sub = &term[names[g as usize].len()..];
                let mut head = [0u8; HEAD_LEN];
                let n = sub.len().min(HEAD_LEN);
                head[..n].copy_from_slice(&sub[..n]);
                let (hi, lo) = head.split_at(8);
                let (member_at, ordinal_at) = &mut next[g as usize];
                let postings = run.postings_at(t);
                for (slot, &trace) in ordinals[*ordinal_at..].iter_mut().zip(postings) {
                    let Some(&o) = ordinal_of[r].get(trace as usize) else {
                        return Err(StorageError::Corrupt {
                            what: "segment",
                            detail: format!("posting of trace index {trace} beyond its run"),
                        });
                    };
                    *slot = o;
                }
                members[*member_at] = Member {
                    head: [be_u64(hi), be_u64(lo)],
                    len: sub.len() as u32,
                    run: r as u32,
                    term: t as u32,
                    from: *ordinal_at as u32,
                    count: postings.len() as u32,
                };
                *member_at += 1;
                *ordinal_at += postings.len();
            }
        }
        Ok(Groups { names, starts })
    }
}

fn be_u64(bytes: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(bytes);
    u64::from_be_bytes(b)
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
        let mut b = RunBuilder::default();
        for (i, (v, _)) in entries.iter().enumerate() {
            b.push(&term(v), i as u32);
        }
        b.finish(entries.iter().map(|(_, p)| *p).collect())
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
        let mut a = RunBuilder::default();
        a.push(&term("b"), 1);
        a.push(&service, 0);
        a.push(&term("a"), 0);
        let a = a.finish(vec![posting(5, 1, 10, 20), posting(3, 2, 0, 1)]);
        let runs = vec![
            Arc::new(a),
            Arc::new(run(&[
                ("a", posting(7, 3, 0, 1)),
                ("a", posting(5, 1, 5, 15)),
            ])),
        ];
        let mut out = Vec::new();
        merge_runs(&runs, 42, &mut MergeScratch::default(), |k, v| {
            out.push((k.to_vec(), v.to_vec()))
        })
        .expect("merges");
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
        let mut b = RunBuilder::default();
        b.push(&term("a"), 0);
        b.push(&term("b"), 1);
        let r = b.finish(vec![posting(5, 1, 0, 1)]);
        let err = merge_runs(&[Arc::new(r)], 1, &mut MergeScratch::default(), |_, _| {})
            .expect_err("refused");
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
        (0u8..4, 0u8..2, 0u8..3, 0u8..7).prop_map(|(kind, svc, key, value)| {
            let svc = ["a", "ab"][svc as usize];
            let mut t = Vec::new();
            match kind {
                0 => keys::service_prefix(&mut t, svc),
                1 => keys::duration_prefix(&mut t, svc, key),
                _ => keys::tag_prefix(
                    &mut t,
                    svc,
                    ["k", "k\0", "kk"][key as usize],
                    // The last three share their first 16 bytes.
                    [
                        "",
                        "v",
                        "v\0w",
                        "vv",
                        "0123456789abcdef",
                        "0123456789abcdefB",
                        "0123456789abcdefA",
                    ][value as usize],
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
            // Postings are pushed as drawn: in any order, duplicates included.
            let mut runs = Vec::new();
            let mut pushed = Vec::new();
            for (traces, postings) in raw {
                let traces: Vec<Posting> = traces
                    .into_iter()
                    .map(|(minute, id, us)| posting(minute, id, us, us + 1))
                    .collect();
                let mut b = RunBuilder::default();
                for (term, t) in postings {
                    let t = (t % traces.len()) as u32;
                    b.push(&term, t);
                    pushed.push((term, traces[t as usize]));
                }
                runs.push(Arc::new(b.finish(traces)));
            }
            let mut table: Vec<Posting> =
                runs.iter().flat_map(|r| r.traces.iter().copied()).collect();
            sort_merging_ranges(&mut table);
            let mut expected: BTreeMap<Vec<u8>, BTreeMap<Vec<u8>, BTreeSet<u32>>> = BTreeMap::new();
            for (term, p) in pushed {
                let split = keys::term_group_len(&term);
                let o = table.iter().position(|e| e.search_order() == p.search_order());
                expected
                    .entry(term[..split].to_vec())
                    .or_default()
                    .entry(term[split..].to_vec())
                    .or_default()
                    .insert(o.expect("in the table") as u32);
            }
            let mut found: BTreeMap<Vec<u8>, BTreeMap<Vec<u8>, BTreeSet<u32>>> = BTreeMap::new();
            let mut last: Option<Vec<u8>> = None;
            merge_runs(&runs, 9, &mut MergeScratch::default(), |k, v| {
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

        /// A run finds each term's traces, sorted and distinct, whatever the push order.
        #[test]
        fn runs_find_every_term_pushed_in_any_order(
            postings in proptest::collection::vec((any_term(), 0u32..6), 0..30),
        ) {
            let mut b = RunBuilder::default();
            let mut expected: BTreeMap<Vec<u8>, BTreeSet<u32>> = BTreeMap::new();
            for (term, t) in &postings {
                b.push(term, *t);
                expected.entry(term.clone()).or_default().insert(*t);
            }
            let run = b.finish((0..6).map(|i| posting(1, i, 0, 1)).collect());
            proptest::prop_assert_eq!(run.len(), expected.values().map(BTreeSet::len).sum::<usize>());
            for (term, ts) in &expected {
                proptest::prop_assert_eq!(run.postings_of(term), ts.iter().copied().collect::<Vec<_>>());
            }
            let mut other = Vec::new();
            keys::service_prefix(&mut other, "none");
            proptest::prop_assert!(run.postings_of(&other).is_empty());
        }
    }
}
