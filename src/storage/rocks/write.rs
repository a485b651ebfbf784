//! Write path of the RocksDB store: one `SpanBatch` → one `WriteBatch` (span chunks, their
//! catalog rows, the string-table rows their IDs need and one write-log row per partition) →
//! one WAL-backed write → the batch's `S`/`O`/`D`/`T` postings appended to the open segments.
//!
//! **Hot path**: runs for every ingested span. Spans are grouped by (partition, trace) with one
//! sort per batch; a partition's chunks are encoded and its postings built with its string
//! table held (`strings.rs`; tag postings name values by ID where the table has them), and
//! the rows of the IDs they use that may not be durable yet join the batch; chunk bytes
//! go through one reusable buffer; catalog rows go into one arena per partition, sorted and
//! deduplicated there; postings are interned by term as they come ([`RunBuilder`]), so there
//! is no allocation per span or per key and no posting is sorted here. A posting names its
//! trace by an index into the write's own (minute, trace) list, so the flush maps it to the
//! trace table without a search. The postings become one [`Run`] per partition, built before
//! the open-segment lock is taken and appended under it in O(1). Must never write spans and
//! index entries in separate batches, never make postings searchable before their write is
//! durable, and never build keys itself (see `keys.rs`). Also replays the write log at open
//! (`replay_write_log`).

use std::sync::Arc;

use rocksdb::{AsColumnFamilyRef, ReadOptions, WriteBatch, WriteOptions};

use super::segment::{Run, RunBuilder};
use super::strings::{PartitionStrings, ValueIds};
use super::{missing_cf, RocksStore};
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
        let written = build(store, &order, seq).and_then(|built| {
            let mut wo = WriteOptions::default();
            wo.set_sync(store.opts.sync_writes);
            store.db.write_opt(built.batch, &wo)?;
            for (strings, ids) in &built.defined {
                strings.mark_durable(ids);
            }
            Ok(built.runs)
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

/// What one write puts: its batch, the posting run of every partition, and the string IDs
/// the batch defines (durable once the batch is).
struct Built {
    batch: WriteBatch,
    runs: Vec<(u64, Run)>,
    defined: Vec<(Arc<PartitionStrings>, Vec<u32>)>,
}

/// Builds the batch for spans sorted by (partition, trace).
fn build<'a>(
    store: &RocksStore,
    order: &[(u64, &'a Span)],
    seq: u64,
) -> Result<Built, StorageError> {
    let mut built = Built {
        batch: WriteBatch::default(),
        runs: Vec::new(),
        defined: Vec::new(),
    };
    let wb = &mut built.batch;
    let mut encoder = ChunkEncoder::<'a>::new();
    let mut chunk = Vec::with_capacity(4096);
    let mut index = IndexBuilder::default();
    let mut logged: Vec<(TraceId, u64)> = Vec::new();
    for part in order.chunk_by(|a, b| a.0 == b.0) {
        let start = part[0].0;
        let spans_cf = store.spans_cf(start).ok_or_else(|| missing_cf(start))?;
        let index_cf = store.index_cf(start).ok_or_else(|| missing_cf(start))?;
        let strings = store.strings(start)?.ok_or_else(|| missing_cf(start))?;
        logged.clear();
        // The partition's string table is held while encoding the chunks and building the
        // postings (which name tag values by the same IDs).
        let mut ids = strings.interner();
        for trace in part.chunk_by(|a, b| a.1.trace_id == b.1.trace_id) {
            encoder.encode(trace.iter().map(|(_, s)| *s), &mut ids, &mut chunk);
            let trace_id = trace[0].1.trace_id;
            let chunk_id = codec::fnv1a64(&chunk);
            wb.put_cf(&spans_cf, keys::span_key(trace_id, chunk_id), &chunk);
            logged.push((trace_id, chunk_id));
        }
        index.reserve(part.len());
        for (_, span) in part {
            index.add(span, &mut ids);
        }
        let defined = ids.define(wb, &index_cf);
        built.defined.push((strings, defined));
        codec::encode_write_log(&logged, &mut chunk);
        wb.put_cf(&index_cf, keys::write_log_key(seq), &chunk);
        built.runs.push((start, index.drain_into(wb, &index_cf)));
    }
    Ok(built)
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
        let strings = store.strings(start)?.ok_or_else(|| missing_cf(start))?;
        let mut strings = strings.reader();
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
                codec::decode_chunk(trace_id, &bytes, &strings, &mut spans)?;
                for span in &spans {
                    index.add(span, &mut strings);
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
            "rebuilt the open segments from the write log"
        );
    }
    Ok(())
}

/// About how many postings a span has: `S`, `O`, `D`, and a dozen attributes.
const POSTINGS_PER_SPAN: usize = 16;

/// Catalog rows and postings of one partition of one batch.
#[derive(Default)]
struct IndexBuilder {
    /// Catalog rows, back to back, with the end of each.
    catalog: Vec<u8>,
    catalog_ends: Vec<usize>,
    /// The postings, interned by term.
    run: RunBuilder,
    /// The term being built.
    term: Vec<u8>,
    scratch: String,
    /// The (minute, trace) pairs of the spans added so far, with their start range: the
    /// postings refer to them by index.
    traces: Vec<Posting>,
    /// The trace of the span added last, and its (minute, index in `traces`) pairs. Spans come
    /// trace by trace, so this finds a span's entry without a map.
    current: Option<TraceId>,
    current_minutes: Vec<(u32, u32)>,
}

impl IndexBuilder {
    /// The index of the span's (minute, trace) in `traces`, widened to its start.
    fn trace_index(&mut self, span: &Span) -> u32 {
        if self.current != Some(span.trace_id) {
            self.current = Some(span.trace_id);
            self.current_minutes.clear();
        }
        let minute = keys::minute_of(span.start_ns);
        if let Some(&(_, i)) = self.current_minutes.iter().find(|(m, _)| *m == minute) {
            self.traces[i as usize].include(span.start_ns);
            return i;
        }
        let i = self.traces.len() as u32;
        self.traces
            .push(Posting::new(span.trace_id, span.start_ns, span.start_ns));
        self.current_minutes.push((minute, i));
        i
    }

    /// Makes room for the postings of `spans` more spans.
    fn reserve(&mut self, spans: usize) {
        self.run.reserve(spans * POSTINGS_PER_SPAN);
    }

    fn push_posting(&mut self, trace: u32, build: impl FnOnce(&mut Vec<u8>)) {
        self.term.clear();
        build(&mut self.term);
        self.run.push(&self.term, trace);
    }

    /// A tag posting, in ID form when the value has an ID.
    fn push_tag(&mut self, trace: u32, svc: &str, key: &str, value: &str, ids: &mut dyn ValueIds) {
        match ids.value_id(value) {
            Some(id) => self.push_posting(trace, |out| keys::tag_id_prefix(out, svc, key, id)),
            None => self.push_posting(trace, |out| keys::tag_prefix(out, svc, key, value)),
        }
    }

    /// The catalog row and the `S`, `O`, `D` and `T` postings of a span; `ids` names tag
    /// values.
    fn add(&mut self, span: &Span, ids: &mut dyn ValueIds) {
        let svc = span.service();
        let trace = self.trace_index(span);
        keys::catalog_key(&mut self.catalog, svc, &span.name, span.kind);
        self.catalog_ends.push(self.catalog.len());
        self.push_posting(trace, |out| keys::service_prefix(out, svc));
        self.push_posting(trace, |out| {
            keys::operation_prefix(out, svc, &span.name, span.kind)
        });
        self.push_posting(trace, |out| {
            keys::duration_prefix(out, svc, keys::duration_bucket(span.duration_ns()))
        });
        let mut scratch = std::mem::take(&mut self.scratch);
        for_each_indexed_attribute(span, |key, value| {
            // `service.name` is the `S` term already; over-long keys/values stay searchable
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
                self.push_tag(trace, svc, key, v, ids);
            }
        });
        self.scratch = scratch;
        // `error=true` matches every error span, even one carrying an `error` attribute of its
        // own (which suppresses the synthetic one in `for_each_indexed_attribute`).
        if span.is_error() {
            self.push_tag(trace, svc, "error", "true", ids);
        }
    }

    /// Puts the distinct catalog rows and returns the postings as a run; empties the builder.
    fn drain_into(&mut self, wb: &mut WriteBatch, cf: &impl AsColumnFamilyRef) -> Run {
        let catalog = &self.catalog;
        let mut rows: Vec<&[u8]> = Vec::with_capacity(self.catalog_ends.len());
        let mut from = 0;
        for &to in &self.catalog_ends {
            rows.push(&catalog[from..to]);
            from = to;
        }
        rows.sort_unstable();
        rows.dedup();
        for row in rows {
            wb.put_cf(cf, row, b"");
        }
        self.catalog.clear();
        self.catalog_ends.clear();
        self.current = None;
        self.run.finish(std::mem::take(&mut self.traces))
    }
}
