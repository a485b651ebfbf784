//! Write path of the RocksDB store: one `SpanBatch` → one `WriteBatch` (span chunks and all
//! their index entries) → one WAL-backed write.
//!
//! **Hot path**: runs for every ingested span. Spans are grouped by (partition, trace) with one
//! sort per batch; chunk bytes go through one reusable buffer; index keys are built into one
//! arena per partition, sorted and deduplicated there (one key per distinct index key per batch,
//! min/max start aggregated), so there is no allocation per span or per key. Must never write
//! spans and index entries in separate batches, and never build keys itself (see `keys.rs`).

use rocksdb::{AsColumnFamilyRef, WriteBatch, WriteOptions};

use super::RocksStore;
use crate::model::query::for_each_indexed_attribute;
use crate::model::span::SERVICE_NAME;
use crate::model::{Span, SpanBatch, Value};
use crate::storage::codec::{self, ChunkEncoder};
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
    loop {
        store.ensure_partitions(&starts)?;
        // Held until the write is done: retention cannot drop a family this batch writes to.
        let parts = store.partitions.read();
        if !starts.iter().all(|s| parts.contains(s)) {
            continue; // dropped between creation and now; create again
        }
        let wb = build(store, &order)?;
        let mut wo = WriteOptions::default();
        wo.set_sync(store.opts.sync_writes);
        store.db.write_opt(wb, &wo)?;
        return Ok(());
    }
}

fn missing_cf(start: u64) -> StorageError {
    StorageError::Corrupt {
        what: "partition",
        detail: format!("column family of partition {start} is missing"),
    }
}

/// Builds the batch for spans sorted by (partition, trace).
fn build<'a>(store: &RocksStore, order: &[(u64, &'a Span)]) -> Result<WriteBatch, StorageError> {
    let mut wb = WriteBatch::default();
    let mut encoder = ChunkEncoder::<'a>::new();
    let mut chunk = Vec::with_capacity(4096);
    let mut index = IndexBuilder::default();
    for part in order.chunk_by(|a, b| a.0 == b.0) {
        let start = part[0].0;
        let spans_cf = store.spans_cf(start).ok_or_else(|| missing_cf(start))?;
        let index_cf = store.index_cf(start).ok_or_else(|| missing_cf(start))?;
        for trace in part.chunk_by(|a, b| a.1.trace_id == b.1.trace_id) {
            encoder.encode(trace.iter().map(|(_, s)| *s), &mut chunk);
            let key = keys::span_key(trace[0].1.trace_id, codec::fnv1a64(&chunk));
            wb.put_cf(&spans_cf, key, &chunk);
            for (_, span) in trace {
                index.add_span(span);
            }
        }
        index.drain_into(&mut wb, &index_cf);
    }
    Ok(wb)
}

/// One index key in the arena, with the start times of the spans that produced it.
struct Entry {
    from: usize,
    to: usize,
    min_start_ns: u64,
    max_start_ns: u64,
}

/// Index keys of one partition of one batch, built into one arena.
#[derive(Default)]
struct IndexBuilder {
    arena: Vec<u8>,
    entries: Vec<Entry>,
    value: Vec<u8>,
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

    fn add_span(&mut self, span: &Span) {
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

    /// Sorts, merges equal keys (min of mins, max of maxes) and puts them; empties the builder.
    fn drain_into(&mut self, wb: &mut WriteBatch, cf: &impl AsColumnFamilyRef) {
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
                let minute_start = keys::minute_start_ns(keys::minute_of(min));
                codec::encode_index_value(minute_start, min, max, &mut self.value);
                wb.put_cf(cf, key, &self.value);
            }
            i = j;
        }
        self.arena.clear();
        self.entries.clear();
    }
}
