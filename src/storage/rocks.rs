//! The embedded RocksDB trace store (the default backend).
//!
//! Owns the database handle, the set of live time partitions (two column families each, created
//! lazily on first write and dropped whole by retention), the column-family options (shared LRU
//! block cache, one write-buffer manager bounding all memtables, zstd) and the `TraceStore`
//! contract on top of them. The key layout is documented in [`super::keys`], the value encoding
//! in [`super::codec`]; the write path lives in `rocks/write.rs`, search in `rocks/search.rs`,
//! the in-memory open segments in `rocks/segment.rs`. Index postings are searchable from the
//! open segment as soon as their write is durable, flushed as a trace table and one key per
//! group (an SST file per partition, ingested past the memtable and the WAL) when the open
//! segments exceed
//! [`RocksOptions::segment_max_postings`] or at [`TraceStore::flush`], and rebuilt from the
//! write log at `open` after a crash.
//!
//! Every method blocks: callers run it on blocking threads, never on an async executor or an
//! arbiter thread. It must never delete data key by key (retention drops column families), never
//! iterate without a bound, and never acknowledge a write before its `WriteBatch` (spans and index
//! entries together) is in the write-ahead log.

mod search;
mod segment;
mod strings;
mod write;

#[cfg(test)]
mod segment_tests;
#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use rocksdb::{
    BlockBasedOptions, BoundColumnFamily, Cache, ColumnFamilyDescriptor, DBCompressionType,
    FlushOptions, IngestExternalFileOptions, MultiThreaded, Options, ReadOptions, SliceTransform,
    SstFileWriter, WriteBatch, WriteBufferManager, WriteOptions,
};

use segment::{FlushJob, MergeScratch, OpenSegments};
use strings::PartitionStrings;

use super::codec;
use super::keys::{self, PartitionCf};
use super::{CatalogEntry, RetentionReport, StorageError, StoreStats, TraceStore};
use crate::model::{Operation, Span, SpanBatch, Trace, TraceId, TraceQuery};

type Db = rocksdb::DBWithThreadMode<MultiThreaded>;

/// Tuning of the RocksDB store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RocksOptions {
    /// Width of a time partition (seconds of span start time). Retention granularity.
    pub partition_width_secs: u64,
    /// fsync the WAL on every write. Off, a write survives a process kill (the WAL write reached
    /// the OS) but not a power loss.
    pub sync_writes: bool,
    /// Shared LRU block cache for all column families.
    pub block_cache_bytes: usize,
    /// Memtable memory of all column families together.
    pub write_buffer_bytes: usize,
    /// Postings held in the open segments (all partitions together) before the writer that
    /// crosses this number flushes them as segment keys. Bounds their memory (about 50 bytes
    /// a posting, mostly term bytes) and the write-log replay at open.
    pub segment_max_postings: usize,
}

impl Default for RocksOptions {
    fn default() -> Self {
        RocksOptions {
            partition_width_secs: 86_400,
            sync_writes: false,
            block_cache_bytes: 256 << 20,
            write_buffer_bytes: 256 << 20,
            segment_max_postings: 500_000,
        }
    }
}

/// The RocksDB-backed [`TraceStore`]. `Send + Sync`; share it as `Arc<RocksStore>`.
pub struct RocksStore {
    db: Db,
    path: PathBuf,
    opts: RocksOptions,
    cache: Cache,
    /// Start (Unix seconds) of every partition whose two column families both exist.
    partitions: RwLock<BTreeSet<u64>>,
    /// Serialises partition creation so that two writers never create the same CF.
    create_lock: Mutex<()>,
    /// Postings of durable writes not flushed to segment keys yet, and the write-log seqs.
    segments: RwLock<OpenSegments>,
    /// Serialises segment flushes (a flush's range delete must not overtake an earlier flush's
    /// keys) and partition drops (retention takes it before `partitions`, so a flush needs no
    /// long `partitions` lock, which would stall every writer behind a partition creation);
    /// holds the seq of the last flushed segment, persisted as `keys::SEGMENT_SEQ_KEY`, and the
    /// merge's buffers. Lock order: `segment_flush` → `partitions` → `segments`.
    segment_flush: Mutex<SegmentFlush>,
    /// The string table of every partition used since open, loaded on first use.
    strings: RwLock<HashMap<u64, Arc<PartitionStrings>>>,
    /// When the last write finished, if any finished since the last idle flush.
    last_write: Mutex<Option<Instant>>,
}

/// What the segment flush keeps between flushes.
#[derive(Default)]
struct SegmentFlush {
    /// The seq of the last flushed segment.
    seq: u64,
    scratch: MergeScratch,
}

/// Where segment SST files are written before their ingestion moves them into the database
/// (under the database directory, so on the same file system); emptied at open.
const INGEST_DIR: &str = "ingest";

/// Largest memtable of one column family; the write-buffer manager bounds the sum.
const MAX_CF_WRITE_BUFFER_BYTES: usize = 64 << 20;

impl RocksStore {
    /// Opens (or creates) the store at `path`, discovering its partitions. Fails with
    /// [`StorageError::FormatVersion`] when the data was written by an incompatible build.
    pub fn open(path: &Path, opts: RocksOptions) -> Result<RocksStore, StorageError> {
        let opts = RocksOptions {
            partition_width_secs: opts.partition_width_secs.max(1),
            ..opts
        };
        std::fs::create_dir_all(path).map_err(|source| StorageError::Io {
            path: path.display().to_string(),
            source,
        })?;
        // Segment files of a flush that a crash interrupted; their postings are in the write log.
        match std::fs::remove_dir_all(path.join(INGEST_DIR)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(StorageError::Io {
                    path: path.join(INGEST_DIR).display().to_string(),
                    source: e,
                })
            }
            _ => {}
        }
        let cache = Cache::new_lru_cache(opts.block_cache_bytes);
        let db_opts = db_options(&opts);
        let existing = if path.join("CURRENT").exists() {
            Db::list_cf(&db_opts, path)?
        } else {
            Vec::new()
        };
        let mut descriptors = Vec::new();
        if !existing
            .iter()
            .any(|n| n == rocksdb::DEFAULT_COLUMN_FAMILY_NAME)
        {
            descriptors.push(ColumnFamilyDescriptor::new(
                rocksdb::DEFAULT_COLUMN_FAMILY_NAME,
                default_cf_options(&cache),
            ));
        }
        let mut spans = BTreeSet::new();
        let mut index = BTreeSet::new();
        for name in &existing {
            let cf_opts = match keys::parse_cf_name(name) {
                Some((PartitionCf::Spans, start)) => {
                    spans.insert(start);
                    spans_cf_options(&opts, &cache)
                }
                Some((PartitionCf::Index, start)) => {
                    index.insert(start);
                    index_cf_options(&opts, &cache)
                }
                // `default`, or a family of a newer build: opened with plain options.
                None => default_cf_options(&cache),
            };
            descriptors.push(ColumnFamilyDescriptor::new(name.as_str(), cf_opts));
        }
        let db = Db::open_cf_descriptors(&db_opts, path, descriptors)?;
        let mut store = RocksStore {
            db,
            path: path.to_path_buf(),
            opts,
            cache,
            partitions: RwLock::new(spans.intersection(&index).copied().collect()),
            create_lock: Mutex::new(()),
            segments: RwLock::new(OpenSegments::default()),
            segment_flush: Mutex::new(SegmentFlush::default()),
            strings: RwLock::new(HashMap::new()),
            last_write: Mutex::new(None),
        };
        store.check_format_version()?;
        store.opts.partition_width_secs = store.settle_partition_width()?;
        store.segment_flush.get_mut().seq = store.read_segment_seq()?;
        // A partition with only one of its families was being created or dropped when the
        // process died. Creation writes no data before both exist, and a drop was wanted, so
        // finishing the drop is right in both cases.
        for &start in spans.symmetric_difference(&index) {
            for name in [keys::index_cf_name(start), keys::spans_cf_name(start)] {
                if store.db.cf_handle(&name).is_some() {
                    store.db.drop_cf(&name)?;
                }
            }
        }
        write::replay_write_log(&store)?;
        if store.segments.read().open_postings() > store.opts.segment_max_postings {
            store.flush_segments(true)?;
        }
        Ok(store)
    }

    fn read_segment_seq(&self) -> Result<u64, StorageError> {
        match self.db.get(keys::SEGMENT_SEQ_KEY)? {
            None => Ok(0),
            Some(v) => <[u8; 8]>::try_from(v.as_slice())
                .map(u64::from_be_bytes)
                .map_err(|_| StorageError::Corrupt {
                    what: "segment seq",
                    detail: format!("{} bytes instead of 8", v.len()),
                }),
        }
    }

    /// Writes the open segments as segment keys, one SST file per partition ingested into its
    /// index family (the keys come sorted, so they skip the memtable and the WAL), then deletes
    /// the write-log rows they cover and records the segment seq in one `WriteBatch`. A crash
    /// in between keeps the rows: their replay rewrites the same postings, which search merges.
    /// Unless `force`, only when the segments are over the threshold (another writer may have
    /// flushed meanwhile). Blocks: called by the writer that crossed the threshold and by
    /// `flush`; other writers keep appending to fresh open segments.
    fn flush_segments(&self, force: bool) -> Result<(), StorageError> {
        let mut flush = self.segment_flush.lock();
        if !force && self.segments.read().open_postings() <= self.opts.segment_max_postings {
            return Ok(());
        }
        // Retention waits for `segment_flush`: no partition of this snapshot is dropped before
        // the flush is done.
        let parts = self.partitions.read().clone();
        let Some(job) = self.segments.write().begin_flush() else {
            return Ok(());
        };
        let seq = flush.seq + 1;
        let written = self.write_segments(&parts, &job, seq, &mut flush.scratch);
        self.segments.write().end_flush(&job, written.is_ok());
        written?;
        flush.seq = seq;
        Ok(())
    }

    fn write_segments(
        &self,
        parts: &BTreeSet<u64>,
        job: &FlushJob,
        seq: u64,
        scratch: &mut MergeScratch,
    ) -> Result<(), StorageError> {
        for (start, runs) in &job.runs {
            if !parts.contains(start) {
                continue;
            }
            if let Some(cf) = self.index_cf(*start) {
                self.ingest_segment(&cf, *start, runs, seq, scratch)?;
            }
        }
        let mut wb = WriteBatch::default();
        let (from, to) = keys::write_log_range_below(job.log_below);
        for start in &job.log_partitions {
            if let (true, Some(cf)) = (parts.contains(start), self.index_cf(*start)) {
                wb.delete_range_cf(&cf, from, to);
            }
        }
        wb.put(keys::SEGMENT_SEQ_KEY, seq.to_be_bytes());
        let mut wo = WriteOptions::default();
        wo.set_sync(self.opts.sync_writes);
        self.db.write_opt(wb, &wo)?;
        Ok(())
    }

    /// Merges one partition's runs into an SST file of segment keys and ingests it.
    fn ingest_segment(
        &self,
        cf: &Arc<BoundColumnFamily<'_>>,
        start: u64,
        runs: &[Arc<segment::Run>],
        seq: u64,
        scratch: &mut MergeScratch,
    ) -> Result<(), StorageError> {
        let dir = self.path.join(INGEST_DIR);
        std::fs::create_dir_all(&dir).map_err(|source| StorageError::Io {
            path: dir.display().to_string(),
            source,
        })?;
        let file = dir.join(format!("segment-{seq}-{start}.sst"));
        let cf_opts = index_cf_options(&self.opts, &self.cache);
        let mut writer = SstFileWriter::create(&cf_opts);
        let mut ingested = writer.open(&file);
        let mut keys = 0usize;
        let merged = segment::merge_runs(runs, seq, scratch, |k, v| {
            if ingested.is_ok() {
                ingested = writer.put(k, v);
                keys += 1;
            }
        });
        if merged.is_ok() && keys > 0 {
            ingested = ingested.and_then(|()| writer.finish()).and_then(|()| {
                let mut io = IngestExternalFileOptions::default();
                io.set_move_files(true);
                self.db.ingest_external_file_cf_opts(cf, &io, vec![&file])
            });
        }
        // Moved into the database when ingested; what a failure left is removed here.
        let _ = std::fs::remove_file(&file);
        merged?;
        Ok(ingested?)
    }

    /// The directory of the database.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The options in effect (the partition width is the one recorded in the data).
    pub fn options(&self) -> &RocksOptions {
        &self.opts
    }

    /// Starts (Unix seconds) of the live partitions, oldest first.
    pub fn partition_starts(&self) -> Vec<u64> {
        self.partitions.read().iter().copied().collect()
    }

    fn check_format_version(&self) -> Result<(), StorageError> {
        match self.db.get(keys::FORMAT_VERSION_KEY)? {
            Some(v) => {
                let found = <[u8; 4]>::try_from(v.as_slice())
                    .map(u32::from_be_bytes)
                    .map_err(|_| StorageError::Corrupt {
                        what: "format version",
                        detail: format!("{} bytes instead of 4", v.len()),
                    })?;
                if found == keys::FORMAT_VERSION {
                    return Ok(());
                }
                if !keys::READABLE_FORMAT_VERSIONS.contains(&found) {
                    return Err(StorageError::FormatVersion {
                        path: self.path.display().to_string(),
                        found,
                        expected: keys::FORMAT_VERSION,
                    });
                }
                // Readable as it is; from now on it also holds this build's format, which
                // older builds must refuse.
                self.record_format_version()
            }
            None if self.partitions.read().is_empty() => self.record_format_version(),
            None => Err(StorageError::Corrupt {
                what: "format version",
                detail: "partitions exist but no format version is recorded".into(),
            }),
        }
    }

    fn record_format_version(&self) -> Result<(), StorageError> {
        let mut wo = rocksdb::WriteOptions::default();
        wo.set_sync(true);
        self.db.put_opt(
            keys::FORMAT_VERSION_KEY,
            keys::FORMAT_VERSION.to_be_bytes(),
            &wo,
        )?;
        Ok(())
    }

    /// The partition width is a property of the data: the first open records it, later opens
    /// keep it (a different configured width would misplace the existing partitions).
    fn settle_partition_width(&self) -> Result<u64, StorageError> {
        let wanted = self.opts.partition_width_secs;
        match self.db.get(keys::PARTITION_WIDTH_KEY)? {
            Some(v) => {
                let stored = <[u8; 8]>::try_from(v.as_slice())
                    .map(u64::from_be_bytes)
                    .ok()
                    .filter(|&w| w > 0)
                    .ok_or_else(|| StorageError::Corrupt {
                        what: "partition width",
                        detail: format!("{} bytes", v.len()),
                    })?;
                if stored != wanted {
                    tracing::warn!(
                        path = %self.path.display(),
                        stored,
                        wanted,
                        "keeping the partition width the data was written with"
                    );
                }
                Ok(stored)
            }
            None => {
                let mut wo = rocksdb::WriteOptions::default();
                wo.set_sync(true);
                self.db
                    .put_opt(keys::PARTITION_WIDTH_KEY, wanted.to_be_bytes(), &wo)?;
                Ok(wanted)
            }
        }
    }

    fn partition_of(&self, start_ns: u64) -> u64 {
        keys::partition_start_secs(start_ns, self.opts.partition_width_secs)
    }

    /// Creates the partitions in `starts` that do not exist yet.
    fn ensure_partitions(&self, starts: &[u64]) -> Result<(), StorageError> {
        if starts.iter().all(|s| self.partitions.read().contains(s)) {
            return Ok(());
        }
        let _creating = self.create_lock.lock();
        for &start in starts {
            if self.partitions.read().contains(&start) {
                continue;
            }
            // Index first, then spans: see the recovery rule in `open`.
            let index = keys::index_cf_name(start);
            if self.db.cf_handle(&index).is_none() {
                self.db
                    .create_cf(&index, &index_cf_options(&self.opts, &self.cache))?;
            }
            let spans = keys::spans_cf_name(start);
            if self.db.cf_handle(&spans).is_none() {
                self.db
                    .create_cf(&spans, &spans_cf_options(&self.opts, &self.cache))?;
            }
            self.partitions.write().insert(start);
        }
        Ok(())
    }

    /// The live partitions overlapping [min_ns, max_ns], newest first.
    fn partitions_overlapping(&self, min_ns: u64, max_ns: u64) -> Vec<u64> {
        let width = self.opts.partition_width_secs as u128;
        let (min_ns, max_ns) = (min_ns as u128, max_ns as u128);
        self.partitions
            .read()
            .iter()
            .rev()
            .copied()
            .filter(|&start| {
                let from = start as u128 * 1_000_000_000;
                let to = (start as u128 + width) * 1_000_000_000;
                from <= max_ns && to > min_ns
            })
            .collect()
    }

    fn spans_cf(&self, start: u64) -> Option<Arc<BoundColumnFamily<'_>>> {
        self.db.cf_handle(&keys::spans_cf_name(start))
    }

    fn index_cf(&self, start: u64) -> Option<Arc<BoundColumnFamily<'_>>> {
        self.db.cf_handle(&keys::index_cf_name(start))
    }

    /// The string table of a partition, loaded from its index family on first use; `None`
    /// once the partition is dropped.
    fn strings(&self, start: u64) -> Result<Option<Arc<PartitionStrings>>, StorageError> {
        if let Some(table) = self.strings.read().get(&start) {
            return Ok(Some(table.clone()));
        }
        // A drop removes the partition's table under the partitions write lock: holding the
        // read lock, a table loaded here cannot outlive its partition. Writers call this with
        // the read lock held already, hence the recursive read.
        let parts = self.partitions.read_recursive();
        let Some(index_cf) = self.index_cf(start).filter(|_| parts.contains(&start)) else {
            return Ok(None);
        };
        let mut tables = self.strings.write();
        if let Some(table) = tables.get(&start) {
            return Ok(Some(table.clone()));
        }
        let table = Arc::new(PartitionStrings::load(&self.db, &index_cf)?);
        tables.insert(start, table.clone());
        Ok(Some(table))
    }

    /// Appends the spans of `id` stored in one partition.
    fn read_trace_in(
        &self,
        start: u64,
        cf: &Arc<BoundColumnFamily<'_>>,
        id: TraceId,
        out: &mut Vec<Span>,
    ) -> Result<(), StorageError> {
        let (lower, upper) = keys::trace_bounds(id);
        let mut ro = ReadOptions::default();
        ro.set_prefix_same_as_start(true);
        ro.set_iterate_lower_bound(lower.clone());
        if let Some(upper) = upper {
            ro.set_iterate_upper_bound(upper);
        }
        let mut it = self.db.raw_iterator_cf_opt(cf, ro);
        it.seek(&lower);
        let mut strings = None;
        while let Some((key, value)) = it.item() {
            if !key.starts_with(&id.0) {
                break;
            }
            keys::parse_span_key(key)?;
            let table = match &strings {
                Some(table) => table,
                // Dropped since the caller's snapshot: nothing any more, as for its spans.
                None => match self.strings(start)? {
                    Some(table) => strings.insert(table),
                    None => return Ok(()),
                },
            };
            codec::decode_chunk(id, value, &table.reader(), out)?;
            it.next();
        }
        it.status()?;
        Ok(())
    }

    /// The spans of `id` stored in the given partitions, sorted by (start, span ID).
    fn read_trace(&self, id: TraceId, starts: &[u64]) -> Result<Vec<Span>, StorageError> {
        let mut spans = Vec::new();
        for &start in starts {
            // A partition dropped since the snapshot simply has nothing any more.
            if let Some(cf) = self.spans_cf(start) {
                self.read_trace_in(start, &cf, id, &mut spans)?;
            }
        }
        spans.sort_by_key(|s| (s.start_ns, s.span_id));
        Ok(spans)
    }

    /// Drops one partition (index first, then spans: see `open`). The caller holds
    /// `segment_flush` and the partitions write lock, so no write or flush is using its families.
    fn drop_partition(&self, parts: &mut BTreeSet<u64>, start: u64) -> Result<(), StorageError> {
        parts.remove(&start);
        self.segments.write().drop_partition(start);
        self.strings.write().remove(&start);
        for name in [keys::index_cf_name(start), keys::spans_cf_name(start)] {
            if self.db.cf_handle(&name).is_some() {
                self.db.drop_cf(&name)?;
            }
        }
        Ok(())
    }

    /// Bytes of one partition: SST files plus memtables of both families.
    fn partition_bytes(&self, start: u64) -> u64 {
        let mut total = 0;
        for cf in [self.spans_cf(start), self.index_cf(start)]
            .into_iter()
            .flatten()
        {
            for prop in [
                rocksdb::properties::TOTAL_SST_FILES_SIZE,
                rocksdb::properties::SIZE_ALL_MEM_TABLES,
            ] {
                total += self
                    .db
                    .property_int_value_cf(&cf, prop)
                    .ok()
                    .flatten()
                    .unwrap_or(0);
            }
        }
        total
    }
}

fn missing_cf(start: u64) -> StorageError {
    StorageError::Corrupt {
        what: "partition",
        detail: format!("column family of partition {start} is missing"),
    }
}

fn db_options(opts: &RocksOptions) -> Options {
    let mut o = Options::default();
    o.create_if_missing(true);
    o.create_missing_column_families(true);
    o.set_write_buffer_manager(&WriteBufferManager::new_write_buffer_manager(
        opts.write_buffer_bytes,
        false,
    ));
    // With many column families the WAL lives as long as the least recently flushed one; this
    // forces stale partitions to flush so the WAL (and restart replay) stays bounded.
    o.set_max_total_wal_size(opts.write_buffer_bytes as u64);
    o.set_max_background_jobs(2);
    o.set_bytes_per_sync(1 << 20);
    o.set_keep_log_file_num(4);
    o.set_compression_type(DBCompressionType::Zstd);
    o
}

fn cf_write_buffer(opts: &RocksOptions) -> usize {
    (opts.write_buffer_bytes / 4).clamp(1 << 20, MAX_CF_WRITE_BUFFER_BYTES)
}

fn default_cf_options(cache: &Cache) -> Options {
    let mut table = BlockBasedOptions::default();
    table.set_block_cache(cache);
    let mut o = Options::default();
    o.set_block_based_table_factory(&table);
    o.set_write_buffer_size(1 << 20);
    o.set_compression_type(DBCompressionType::Zstd);
    o
}

/// Spans: 16-byte (trace ID) prefix extractor with a prefix bloom filter, so a trace lookup is
/// one filtered probe per partition.
fn spans_cf_options(opts: &RocksOptions, cache: &Cache) -> Options {
    let mut table = BlockBasedOptions::default();
    table.set_block_cache(cache);
    table.set_bloom_filter(10.0, true);
    table.set_whole_key_filtering(false);
    table.set_cache_index_and_filter_blocks(true);
    table.set_pin_l0_filter_and_index_blocks_in_cache(true);
    table.set_block_size(16 << 10);
    let mut o = Options::default();
    o.set_prefix_extractor(SliceTransform::create_fixed_prefix(keys::TRACE_ID_LEN));
    o.set_memtable_prefix_bloom_ratio(0.05);
    o.set_block_based_table_factory(&table);
    o.set_write_buffer_size(cf_write_buffer(opts));
    o.set_compression_type(DBCompressionType::Zstd);
    keep_every_compression_saving(o)
}

/// Random IDs leave a block of chunks only about 10 % compressible, below the saving (12.5 %)
/// under which RocksDB stores a block raw by default: keep every saving. (Index blocks compress
/// by about a quarter and gain nothing from it: measured.)
fn keep_every_compression_saving(mut o: Options) -> Options {
    match o.get_options_from_string("compression_opts={max_compressed_bytes_per_kb=1024}") {
        Ok(tuned) => tuned,
        Err(e) => {
            tracing::warn!(error = %e, "compression options not applied");
            o
        }
    }
}

/// Index: plain ordered keys, read by bounded range iteration only.
fn index_cf_options(opts: &RocksOptions, cache: &Cache) -> Options {
    let mut table = BlockBasedOptions::default();
    table.set_block_cache(cache);
    table.set_cache_index_and_filter_blocks(true);
    table.set_pin_l0_filter_and_index_blocks_in_cache(true);
    let mut o = Options::default();
    o.set_block_based_table_factory(&table);
    o.set_write_buffer_size(cf_write_buffer(opts));
    o.set_compression_type(DBCompressionType::Zstd);
    o
}

/// Sum of the file sizes under `dir` (the whole database: SSTs, WAL, manifest, logs).
fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

impl TraceStore for RocksStore {
    fn write(&self, batch: &SpanBatch) -> Result<(), StorageError> {
        write::write_batch(self, batch)?;
        *self.last_write.lock() = Some(Instant::now());
        Ok(())
    }

    fn get_trace(&self, id: TraceId) -> Result<Vec<Span>, StorageError> {
        let starts: Vec<u64> = self.partitions.read().iter().rev().copied().collect();
        self.read_trace(id, &starts)
    }

    fn find_trace_ids(&self, query: &TraceQuery) -> Result<Vec<TraceId>, StorageError> {
        Ok(search::find_traces(self, query)?
            .into_iter()
            .map(|t| t.trace_id)
            .collect())
    }

    fn find_traces(&self, query: &TraceQuery) -> Result<Vec<Trace>, StorageError> {
        search::find_traces(self, query)
    }

    fn catalog(&self) -> Result<Vec<CatalogEntry>, StorageError> {
        let starts = self.partition_starts();
        let mut all = BTreeSet::new();
        for start in starts {
            if let Some(cf) = self.index_cf(start) {
                for (service, name, span_kind) in search::catalog_rows(self, &cf, None, None)? {
                    all.insert(CatalogEntry {
                        service,
                        operation: Operation { name, span_kind },
                    });
                }
            }
        }
        Ok(all.into_iter().collect())
    }

    fn drop_expired(&self, cutoff_ns: u64) -> Result<RetentionReport, StorageError> {
        let width = self.opts.partition_width_secs as u128;
        let _no_flush = self.segment_flush.lock();
        let mut parts = self.partitions.write();
        let expired: Vec<u64> = parts
            .iter()
            .copied()
            .filter(|&s| (s as u128 + width) * 1_000_000_000 <= cutoff_ns as u128)
            .collect();
        let mut report = RetentionReport::default();
        for start in expired {
            self.drop_partition(&mut parts, start)?;
            report.dropped_partitions.push(start);
        }
        Ok(report)
    }

    fn enforce_disk_cap(&self, max_bytes: u64) -> Result<RetentionReport, StorageError> {
        let _no_flush = self.segment_flush.lock();
        let mut parts = self.partitions.write();
        let mut total = dir_bytes(&self.path);
        let mut report = RetentionReport::default();
        while total > max_bytes && parts.len() > 1 {
            let Some(&oldest) = parts.iter().next() else {
                break;
            };
            // Measured before the drop: the files go once the last handle is released.
            let bytes = self.partition_bytes(oldest);
            self.drop_partition(&mut parts, oldest)?;
            report.dropped_partitions.push(oldest);
            total = total.saturating_sub(bytes);
        }
        Ok(report)
    }

    fn stats(&self) -> StoreStats {
        StoreStats {
            partitions: self.partitions.read().len() as u64,
            bytes_on_disk: dir_bytes(&self.path),
            traces_in_memory: 0,
        }
    }

    fn flush(&self) -> Result<(), StorageError> {
        self.flush_segments(true)?;
        self.db.flush_wal(true)?;
        let mut fo = FlushOptions::default();
        fo.set_wait(true);
        self.db.flush_opt(&fo)?;
        for start in self.partition_starts() {
            for cf in [self.spans_cf(start), self.index_cf(start)]
                .into_iter()
                .flatten()
            {
                self.db.flush_cf_opt(&cf, &fo)?;
            }
        }
        Ok(())
    }

    fn flush_if_idle(&self, idle: Duration) -> Result<bool, StorageError> {
        {
            // Cleared before flushing: a write that finishes meanwhile marks the store again.
            let mut last = self.last_write.lock();
            match *last {
                Some(at) if at.elapsed() >= idle => *last = None,
                _ => return Ok(false),
            }
        }
        if let Err(e) = self.flush() {
            self.last_write.lock().get_or_insert_with(Instant::now);
            return Err(e);
        }
        Ok(true)
    }
}
