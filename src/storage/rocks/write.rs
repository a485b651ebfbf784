//! Write path of the RocksDB store: one `SpanBatch` → one `WriteBatch` (span chunks, their
//! catalog rows and one write-log row per partition) → one WAL-backed write → the batch's
//! `S`/`O`/`D`/`T` postings appended to the open segments.
//!
//! **Hot path**: runs for every ingested span. Spans are grouped by (partition, trace) with one
//! sort per batch; chunk bytes go through one reusable buffer; catalog rows and postings are
//! built into one arena per partition, sorted and deduplicated there (one key per distinct index
//! key per batch, min/max start aggregated), so there is no allocation per span or per key. The
//! postings become one sorted [`Run`] per partition, built before the open-segment lock is taken
//! and appended under it in O(1). Must never write spans and index entries in separate
//! batches, never make postings searchable before their write is durable, and never build keys
//! itself (see `keys.rs`). Also replays the write log at open (`replay_write_log`).

use rocksdb::{AsColumnFamilyRef, ReadOptions, WriteBatch, WriteOptions};

use super::segment::Run;
use super::RocksStore;
use crate::model::query::for_each_indexed_attribute;
use crate::model::span::SERVICE_NAME;
use crate::model::{Span, SpanBatch, TraceId, Value};
use crate::storage::codec::{self, ChunkEncoder, Posting};
use crate::storage::keys;
use crate::storage::StorageError;

pub(super) fn write_batch(store: &RocksStore, batch: &SpanBatch) -> Result<(), StorageError> {
    if batch.is_empty() {
        return Ok(());
    }
    let mut order: Vec<(u64, &Span)> = batch
        .spans
        .iter()
        .map(|s| (store.partition_of(s.start_ns), s))
        .collect();
    // Stable, and on content only: an identical retry groups and encodes identically, so its
    // chunk IDs (content hashes) are equal and it overwrites itself.
    order.sort_by(|(pa, a), (pb, b)| {
        (pa, a.trace_id, a.start_ns, a.span_id).cmp(&(pb, b.trace_id, b.start_ns, b.span_id))
    });
    let mut starts: Vec<u64> = order.iter().map(|(p, _)| *p).collect();
    starts.dedup();
    let open_postings = loop {
        store.ensure_partitions(&starts)?;
        // Held until the postings are appended: retention cannot drop a family this batch
        // writes to, nor the open segment it appends to.
        let parts = store.partitions.read();
        if !starts.iter().all(|s| parts.contains(s)) {
            continue; // dropped between creation and now; create again
        }
        let seq = store.segments.write().begin_write();
        let written = build(store, &order, seq).and_then(|(wb, runs)| {
            let mut wo = WriteOptions::default();
            wo.set_sync(store.opts.sync_writes);
            store.db.write_opt(wb, &wo)?;
            Ok(runs)
        });
        match written {
            Ok(runs) => break store.segments.write().append(seq, runs),
            Err(e) => {
                store.segments.write().abort_write(seq);
                return Err(e);
            }
        }
    };
    if open_postings > store.opts.segment_max_postings {
        // The batch is durable and searchable; a failed flush keeps its runs open (and the
        // write log) and is retried by the next write over the threshold.
        if let Err(e) = store.flush_segments(false) {
            tracing::error!(error = %e, "segment flush failed");
        }
    }
    Ok(())
}

fn missing_cf(start: u64) -> StorageError {
    StorageError::Corrupt {
        what: "partition",
        detail: format!("column family of partition {start} is missing"),
    }
}

/// Builds the batch for spans sorted by (partition, trace), and the posting run of every
/// partition.
fn build<'a>(
    store: &RocksStore,
    order: &[(u64, &'a Span)],
    seq: u64,
) -> Result<(WriteBatch, Vec<(u64, Run)>), StorageError> {
    let mut wb = WriteBatch::default();
    let mut encoder = ChunkEncoder::<'a>::new();
    let mut chunk = Vec::with_capacity(4096);
    let mut index = IndexBuilder::default();
    let mut logged: Vec<(TraceId, u64)> = Vec::new();
    let mut runs = Vec::new();
    for part in order.chunk_by(|a, b| a.0 == b.0) {
        let start = part[0].0;
        let spans_cf = store.spans_cf(start).ok_or_else(|| missing_cf(start))?;
        let index_cf = store.index_cf(start).ok_or_else(|| missing_cf(start))?;
        logged.clear();
        for trace in part.chunk_by(|a, b| a.1.trace_id == b.1.trace_id) {
            encoder.encode(trace.iter().map(|(_, s)| *s), &mut chunk);
            let trace_id = trace[0].1.trace_id;
            let chunk_id = codec::fnv1a64(&chunk);
            wb.put_cf(&spans_cf, keys::span_key(trace_id, chunk_id), &chunk);
            logged.push((trace_id, chunk_id));
            for (_, span) in trace {
                index.add_rows(span);
                index.add_tags(span);
            }
        }
        codec::encode_write_log(&logged, &mut chunk);
        wb.put_cf(&index_cf, keys::write_log_key(seq), &chunk);
        runs.push((start, index.drain_into(&mut wb, &index_cf)));
    }
    Ok((wb, runs))
}

/// Rebuilds the open segments from the write-log rows a crash (or a close without `flush`)
/// left: every write whose postings were not flushed yet. Runs at open, before the store
/// serves; bounded by the open segment size.
pub(super) fn replay_write_log(store: &RocksStore) -> Result<(), StorageError> {
    let (lower, upper) = keys::write_log_range();
    let mut spans = Vec::new();
    let mut index = IndexBuilder::default();
    let mut rows = 0usize;
    for start in store.partition_starts() {
        let spans_cf = store.spans_cf(start).ok_or_else(|| missing_cf(start))?;
        let index_cf = store.index_cf(start).ok_or_else(|| missing_cf(start))?;
        let mut ro = ReadOptions::default();
        ro.set_iterate_lower_bound(lower);
        ro.set_iterate_upper_bound(upper);
        let mut it = store.db.raw_iterator_cf_opt(&index_cf, ro);
        it.seek(lower);
        while let Some((key, value)) = it.item() {
            let seq = keys::parse_write_log_key(key)?;
            for (trace_id, chunk_id) in codec::decode_write_log(value)? {
                let key = keys::span_key(trace_id, chunk_id);
                let Some(bytes) = store.db.get_pinned_cf(&spans_cf, key)? else {
                    return Err(StorageError::Corrupt {
                        what: "write log",
                        detail: format!(
                            "write {seq} names chunk {chunk_id:x} of {trace_id}, which is missing"
                        ),
                    });
                };
                spans.clear();
                codec::decode_chunk(trace_id, &bytes, &mut spans)?;
                for span in &spans {
                    index.add_rows(span);
                    index.add_tags(span);
                }
            }
            let run = index.drain_into(&mut WriteBatch::default(), &index_cf);
            store.segments.write().recover(seq, start, run);
            rows += 1;
            it.next();
        }
        it.status()?;
    }
    if rows > 0 {
        tracing::info!(
            writes = rows,
            postings = store.segments.read().open_postings(),
            "rebuilt the open tag segments from the write log"
        );
    }
    Ok(())
}

/// One index key in the arena, with the start times of the spans that produced it.
struct Entry {
    from: usize,
    to: usize,
    min_start_ns: u64,
    max_start_ns: u64,
}

/// Index keys (catalog rows and posting sort keys) of one partition of one batch, built into
/// one arena.
#[derive(Default)]
struct IndexBuilder {
    arena: Vec<u8>,
    entries: Vec<Entry>,
    scratch: String,
}

impl IndexBuilder {
    fn push(&mut self, start_ns: u64, build: impl FnOnce(&mut Vec<u8>)) {
        let from = self.arena.len();
        build(&mut self.arena);
        self.entries.push(Entry {
            from,
            to: self.arena.len(),
            min_start_ns: start_ns,
            max_start_ns: start_ns,
        });
    }

    /// The catalog row and the `S`, `O` and `D` postings of a span. Every span has an `S`
    /// posting, so those name every (minute, trace) of a run: its trace table.
    fn add_rows(&mut self, span: &Span) {
        let svc = span.service();
        let t = span.start_ns;
        let rm = keys::rev_minute(t);
        let id = span.trace_id;
        self.push(t, |out| keys::catalog_key(out, svc, &span.name, span.kind));
        self.push(t, |out| {
            keys::service_prefix(out, svc);
            keys::push_entry_suffix(out, rm, id);
        });
        self.push(t, |out| {
            keys::operation_prefix(out, svc, &span.name, span.kind);
            keys::push_entry_suffix(out, rm, id);
        });
        self.push(t, |out| {
            keys::duration_prefix(out, svc, keys::duration_bucket(span.duration_ns()));
            keys::push_entry_suffix(out, rm, id);
        });
    }

    /// The `T` postings of a span.
    fn add_tags(&mut self, span: &Span) {
        let svc = span.service();
        let t = span.start_ns;
        let rm = keys::rev_minute(t);
        let id = span.trace_id;
        let mut scratch = std::mem::take(&mut self.scratch);
        for_each_indexed_attribute(span, |key, value| {
            // `service.name` is the `S` row already; over-long keys/values stay searchable
            // through verification only (the search never drives from them).
            if key == SERVICE_NAME || key.len() > keys::MAX_INDEXED_LEN {
                return;
            }
            let v: &str = match value {
                Value::Str(s) => s,
                other => {
                    scratch.clear();
                    other.write_query_string(&mut scratch);
                    &scratch
                }
            };
            if v.len() <= keys::MAX_INDEXED_LEN {
                self.push(t, |out| {
                    keys::tag_prefix(out, svc, key, v);
                    keys::push_entry_suffix(out, rm, id);
                });
            }
        });
        self.scratch = scratch;
        // `error=true` matches every error span, even one carrying an `error` attribute of its
        // own (which suppresses the synthetic one in `for_each_indexed_attribute`).
        if span.is_error() {
            self.push(t, |out| {
                keys::tag_prefix(out, svc, "error", "true");
                keys::push_entry_suffix(out, rm, id);
            });
        }
    }

    /// Sorts, merges equal keys (min of mins, max of maxes), puts the catalog rows and returns
    /// the postings as a run; empties the builder.
    fn drain_into(&mut self, wb: &mut WriteBatch, cf: &impl AsColumnFamilyRef) -> Run {
        let mut run = Run::default();
        let mut traces = Vec::new();
        let arena = &self.arena;
        self.entries
            .sort_unstable_by(|a, b| arena[a.from..a.to].cmp(&arena[b.from..b.to]));
        let mut i = 0;
        while i < self.entries.len() {
            let key = &arena[self.entries[i].from..self.entries[i].to];
            let (mut min, mut max) = (self.entries[i].min_start_ns, self.entries[i].max_start_ns);
            let mut j = i + 1;
            while j < self.entries.len() && arena[self.entries[j].from..self.entries[j].to] == *key
            {
                min = min.min(self.entries[j].min_start_ns);
                max = max.max(self.entries[j].max_start_ns);
                j += 1;
            }
            if key[0] == keys::TAG_CATALOG {
                wb.put_cf(cf, key, b"");
            } else {
                // Sorted by full key = by (term, newest minute, trace): the run's order.
                let term = &key[..key.len() - keys::ENTRY_SUFFIX_LEN];
                let id = keys::parse_entry_suffix(key, term.len()).map_or(TraceId::ZERO, |e| e.1);
                let posting = Posting::new(id, min, max);
                run.push(term, posting);
                if key[0] == keys::TAG_SERVICE {
                    traces.push(posting);
                }
            }
            i = j;
        }
        self.arena.clear();
        self.entries.clear();
        run.set_traces(traces);
        run
    }
}
