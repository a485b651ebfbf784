//! Key encoding of the RocksDB trace store — the only place where its keys and column-family
//! names are built or parsed.
//!
//! Owns: partition arithmetic (which partition a span start falls in), column-family names, the
//! span-chunk key, every index key and index-prefix, and the bounds used to iterate them. Must
//! never do I/O, never allocate per key on the write path (builders append to a caller's buffer)
//! and never concatenate strings without the escape encoding below.
//!
//! # Layout
//!
//! Data is partitioned by **span start time**: partition start = ⌊start_secs / width⌋ · width.
//! Each partition owns two column families; the `default` CF holds metadata only.
//!
//! | CF | key | value |
//! |---|---|---|
//! | `default` | `format_version` | u32 BE ([`FORMAT_VERSION`]) |
//! | `default` | `partition_width_secs` | u64 BE; recorded at creation, wins over the configuration |
//! | `default` | `segment_seq` | u64 BE: the seq of the last flushed segment |
//! | `spans.<start 12 digits>` | trace_id(16) ‖ chunk_id(8 BE) | codec chunk (all spans of one trace in one partition from one write) |
//! | `index.<start 12 digits>` | `A` ‖ write_seq(8 BE) | write log: (trace_id, chunk_id) of the chunks one write put in this partition (`codec::encode_write_log`) |
//! | `index.…` | `B` ‖ string_id(4 BE) | UTF-8 bytes of one entry of the partition's string table (`rocks/strings.rs`) |
//! | `index.…` | `C` ‖ str(service) ‖ str(operation) ‖ kind(1) | empty (catalog row) |
//! | `index.…` | `D` ‖ str(service) ‖ dur_bucket(1) ‖ rev_minute(4) ‖ segment_seq(8 BE) | segment |
//! | `index.…` | `O` ‖ str(service) ‖ str(operation) ‖ kind(1) ‖ rev_minute(4) ‖ segment_seq(8 BE) | segment |
//! | `index.…` | `S` ‖ str(service) ‖ rev_minute(4) ‖ segment_seq(8 BE) | segment |
//! | `index.…` | `T` ‖ str(service) ‖ str(key) ‖ rev_minute(4) ‖ segment_seq(8 BE) | segment: one sub-term per value, its ID form or str(value) |
//! | `index.…` | `X` ‖ segment_seq(8 BE) ‖ block(4 BE) | trace table block of one flush (`codec::encode_trace_block`) |
//!
//! - `str(s)`: order-preserving, prefix-free string encoding: every 0x00 byte becomes 0x00 0xFF
//!   and the string ends with 0x00 0x01. No two different string tuples give the same bytes, byte
//!   order equals string order, and the prefix for service `a` never matches service `ab` or
//!   `a\0b`.
//! - `rev_minute` = `u32::MAX - start_ns / 60e9`, big-endian: forward iteration is newest first.
//! - `kind` = [`SpanKind`] as u8 (the OTLP number); `dur_bucket` = 64 − leading_zeros(duration_ns)
//!   (0 for a zero duration), so bucket *b* ≥ 1 holds durations in [2^(b−1), 2^b − 1].
//! - **Terms and groups.** A term is what a search looks up: a service (`S` ‖ str(service)), an
//!   (operation, kind), a duration bucket, or a tag (`T` ‖ str(service) ‖ str(key) ‖
//!   str(value), or in **ID form** `T` ‖ str(service) ‖ str(key) ‖ 0x00 0x00 ‖ value_id(4 BE)).
//!   A tag term is in ID form when the partition's string table has the value (as a string
//!   value, whatever the attribute's type) with a row that is durable or written by the same
//!   batch; otherwise (table full, value new and refused) it is in string form. A value can so
//!   be indexed both ways in one partition (refused under one key, later taken under another),
//!   and a search looks up both. Its **group** is the key prefix its postings are stored
//!   under: the term itself, except for tags, whose group stops before the value
//!   ([`term_group_len`]); the rest of the term is its sub-term (empty for `S`/`O`/`D`). One group key holds every value of one
//!   attribute key, so the ~11 values a flush sees of each of the workload's million tag terms
//!   do not each pay for a key of their own.
//! - **Segments.** The write path collects the postings (term, minute, trace, start range) of
//!   every write in an in-memory open segment per partition (`rocks/segment.rs`). A flush writes,
//!   per partition, one SST file that is ingested past the memtable: a **trace table** (`X`
//!   rows: the flush's distinct (minute, trace) pairs, newest minute first, then by trace ID, in
//!   blocks of [`TRACE_BLOCK`]; an entry's index is its **ordinal**, and its start range spans
//!   every span of that trace in that minute of the flush) and one key per group whose value
//!   lists each sub-term with the sorted ordinals of its postings (`codec::SegmentWriter`). The
//!   key's `rev_minute` is the group's newest minute and `segment_seq` (unique per flush,
//!   persisted under `segment_seq`) keeps flushes apart. A group's segments therefore sort
//!   newest first by their newest minute; a segment also holds older minutes (its value starts
//!   with its oldest), so a search scans from the group prefix down to the window's oldest
//!   minute, skips segments older than the window by their header, and resolves ordinals to
//!   (minute, trace) through the table.
//! - `A` rows make the open segment crash safe: every write puts one in each partition it
//!   touches, in the same `WriteBatch` as its spans. A flush first ingests its segment file,
//!   then deletes the `A` rows below the lowest write still in flight, so after a crash the `A`
//!   rows name (at least) every write whose postings were only in memory; `open` re-reads their
//!   chunks and rebuilds the open segment. A posting may so be flushed twice; search dedupes.
//!   `A`, `B` and `C` (the only keys that go through the memtable) sort outside `D`…`X`, so an
//!   ingested segment file never overlaps the memtable and never forces it to flush.
//! - `B` rows define the IDs that span chunks use for repeated strings (attribute keys and
//!   values, span names). A write puts the row of every ID it uses that is not yet known to be
//!   durable in the same `WriteBatch` as its chunks, so no durable chunk names an undefined ID.
//! - `T` postings cover every attribute of [`crate::model::query::for_each_indexed_attribute`] plus
//!   `error`=`true` for error spans, in the string form of `Value::write_query_string`; keys or
//!   values longer than [`MAX_INDEXED_LEN`] bytes and the key `service.name` (already the `S`
//!   term) are not indexed and must never drive a search.
//! - chunk_id = FNV-1a 64 of the encoded chunk: an identical retry overwrites itself.

use std::fmt;

use thiserror::Error;

use super::StorageError;
use crate::model::{SpanKind, TraceId};

/// On-disk format of this build. Bump on any incompatible change of keys or values.
pub const FORMAT_VERSION: u32 = 5;
/// Older formats this build reads (and upgrades by writing its own version): format 3 has no
/// string table and only version-1 chunks, format 4 version-2 chunks; this build still reads
/// both.
pub const READABLE_FORMAT_VERSIONS: &[u32] = &[3, 4];
/// `default` CF key holding the format version (u32 big-endian).
pub const FORMAT_VERSION_KEY: &[u8] = b"format_version";
/// `default` CF key holding the partition width the data was written with (u64 BE seconds).
pub const PARTITION_WIDTH_KEY: &[u8] = b"partition_width_secs";
/// `default` CF key holding the seq of the last flushed segment (u64 big-endian).
pub const SEGMENT_SEQ_KEY: &[u8] = b"segment_seq";

const SPANS_CF_PREFIX: &str = "spans.";
const INDEX_CF_PREFIX: &str = "index.";
const CF_START_DIGITS: usize = 12;

pub const TRACE_ID_LEN: usize = 16;
pub const SPAN_KEY_LEN: usize = TRACE_ID_LEN + 8;
/// Longest attribute key or value (bytes, string form) written to the tag index.
pub const MAX_INDEXED_LEN: usize = 256;

pub const TAG_CATALOG: u8 = b'C';
pub const TAG_SERVICE: u8 = b'S';
pub const TAG_OPERATION: u8 = b'O';
pub const TAG_ATTRIBUTE: u8 = b'T';
pub const TAG_DURATION: u8 = b'D';
pub const TAG_WRITE_LOG: u8 = b'A';
pub const TAG_STRING: u8 = b'B';
pub const TAG_TRACE_TABLE: u8 = b'X';
/// Bytes of a write-log key: `A` ‖ seq(8 BE).
pub const WRITE_LOG_KEY_LEN: usize = 9;
/// Bytes of a string-table key: `B` ‖ string_id(4 BE).
pub const STRING_KEY_LEN: usize = 5;
/// Bytes after a group in a segment key: rev_minute(4) ‖ segment_seq(8).
pub const SEGMENT_SUFFIX_LEN: usize = 4 + 8;
/// Bytes of a trace-table key: `X` ‖ segment_seq(8 BE) ‖ block(4 BE).
pub const TRACE_TABLE_KEY_LEN: usize = 13;
/// Entries per trace-table block: ordinal `o` lives in block `o / TRACE_BLOCK`.
pub const TRACE_BLOCK: u32 = 128;

const NANOS_PER_SEC: u64 = 1_000_000_000;
const NANOS_PER_MINUTE: u64 = 60 * NANOS_PER_SEC;

/// A key that does not parse.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum KeyError {
    #[error("key truncated while reading {what}")]
    Truncated { what: &'static str },
    #[error("unknown index key tag {0:#04x}")]
    UnknownTag(u8),
    #[error("bad string escape while reading {what}")]
    BadEscape { what: &'static str },
    #[error("{what} is not utf-8")]
    NotUtf8 { what: &'static str },
    #[error("unknown span kind {0}")]
    BadKind(u8),
    #[error("{0} trailing bytes after the key")]
    Trailing(usize),
}

impl From<KeyError> for StorageError {
    fn from(e: KeyError) -> Self {
        StorageError::Corrupt {
            what: "key",
            detail: e.to_string(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Partitions and column families

/// Start (Unix seconds) of the partition holding a span that starts at `start_ns`.
pub fn partition_start_secs(start_ns: u64, width_secs: u64) -> u64 {
    let width = width_secs.max(1);
    (start_ns / NANOS_PER_SEC) / width * width
}

/// Which of a partition's two column families a name denotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionCf {
    Spans,
    Index,
}

/// Zero-padded so that name order is time order.
struct CfStart(u64);

impl fmt::Display for CfStart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:0width$}", self.0, width = CF_START_DIGITS)
    }
}

pub fn spans_cf_name(partition_start_secs: u64) -> String {
    format!("{SPANS_CF_PREFIX}{}", CfStart(partition_start_secs))
}

pub fn index_cf_name(partition_start_secs: u64) -> String {
    format!("{INDEX_CF_PREFIX}{}", CfStart(partition_start_secs))
}

/// Parses a partition CF name; `None` for `default` and for names this build does not know.
pub fn parse_cf_name(name: &str) -> Option<(PartitionCf, u64)> {
    let (kind, digits) = if let Some(d) = name.strip_prefix(SPANS_CF_PREFIX) {
        (PartitionCf::Spans, d)
    } else if let Some(d) = name.strip_prefix(INDEX_CF_PREFIX) {
        (PartitionCf::Index, d)
    } else {
        return None;
    };
    if digits.len() != CF_START_DIGITS || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().map(|start| (kind, start))
}

// ---------------------------------------------------------------------------------------------
// Time buckets

/// Minutes since the Unix epoch (fits in u32 for every u64 nanosecond time).
pub fn minute_of(start_ns: u64) -> u32 {
    (start_ns / NANOS_PER_MINUTE) as u32
}

/// The reversed minute used in index keys: newer minutes sort first.
pub fn rev_minute(start_ns: u64) -> u32 {
    u32::MAX - minute_of(start_ns)
}

/// The minute of a reversed minute.
pub fn minute_of_rev(rev_minute: u32) -> u32 {
    u32::MAX - rev_minute
}

/// Start (Unix ns) of a minute.
pub fn minute_start_ns(minute: u32) -> u64 {
    minute as u64 * NANOS_PER_MINUTE
}

/// Power-of-two duration bucket: 64 − leading_zeros (0 for 0).
pub fn duration_bucket(duration_ns: u64) -> u8 {
    (64 - duration_ns.leading_zeros()) as u8
}

// ---------------------------------------------------------------------------------------------
// Spans CF

/// trace_id(16) ‖ chunk_id(8 BE).
pub fn span_key(trace_id: TraceId, chunk_id: u64) -> [u8; SPAN_KEY_LEN] {
    let mut k = [0u8; SPAN_KEY_LEN];
    k[..TRACE_ID_LEN].copy_from_slice(&trace_id.0);
    k[TRACE_ID_LEN..].copy_from_slice(&chunk_id.to_be_bytes());
    k
}

pub fn parse_span_key(key: &[u8]) -> Result<(TraceId, u64), KeyError> {
    if key.len() < SPAN_KEY_LEN {
        return Err(KeyError::Truncated { what: "span key" });
    }
    if key.len() > SPAN_KEY_LEN {
        return Err(KeyError::Trailing(key.len() - SPAN_KEY_LEN));
    }
    let mut id = [0u8; TRACE_ID_LEN];
    id.copy_from_slice(&key[..TRACE_ID_LEN]);
    let mut chunk = [0u8; 8];
    chunk.copy_from_slice(&key[TRACE_ID_LEN..]);
    Ok((TraceId(id), u64::from_be_bytes(chunk)))
}

/// Iteration bounds of one trace's chunks: `[trace_id, trace_id + 1)`; no upper bound for the
/// all-ones ID (the prefix check bounds it then).
pub fn trace_bounds(trace_id: TraceId) -> (Vec<u8>, Option<Vec<u8>>) {
    (trace_id.0.to_vec(), prefix_successor(&trace_id.0))
}

// ---------------------------------------------------------------------------------------------
// Index CF: strings

/// Appends the order-preserving, prefix-free encoding of `s`.
pub fn push_str(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    if !bytes.contains(&0) {
        out.extend_from_slice(bytes);
    } else {
        for &b in bytes {
            out.push(b);
            if b == 0 {
                out.push(0xFF);
            }
        }
    }
    out.extend_from_slice(&[0x00, 0x01]);
}

fn read_str(input: &mut &[u8], what: &'static str) -> Result<String, KeyError> {
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        let Some(&b) = input.get(i) else {
            return Err(KeyError::Truncated { what });
        };
        if b != 0 {
            out.push(b);
            i += 1;
            continue;
        }
        match input.get(i + 1) {
            Some(0xFF) => {
                out.push(0);
                i += 2;
            }
            Some(0x01) => {
                *input = &input[i + 2..];
                return String::from_utf8(out).map_err(|_| KeyError::NotUtf8 { what });
            }
            Some(_) => return Err(KeyError::BadEscape { what }),
            None => return Err(KeyError::Truncated { what }),
        }
    }
}

fn read_u8(input: &mut &[u8], what: &'static str) -> Result<u8, KeyError> {
    let (&b, rest) = input.split_first().ok_or(KeyError::Truncated { what })?;
    *input = rest;
    Ok(b)
}

fn read_kind(input: &mut &[u8]) -> Result<SpanKind, KeyError> {
    let b = read_u8(input, "span kind")?;
    SpanKind::ALL
        .get(b as usize)
        .copied()
        .ok_or(KeyError::BadKind(b))
}

// ---------------------------------------------------------------------------------------------
// Index CF: prefixes and entries

/// `C` ‖ str(service) ‖ str(operation) ‖ kind.
pub fn catalog_key(out: &mut Vec<u8>, service: &str, operation: &str, kind: SpanKind) {
    out.push(TAG_CATALOG);
    push_str(out, service);
    push_str(out, operation);
    out.push(kind as u8);
}

/// Prefix of the catalog rows: all of them, those of one service, or of one (service, operation).
pub fn catalog_prefix(out: &mut Vec<u8>, service: Option<&str>, operation: Option<&str>) {
    out.push(TAG_CATALOG);
    if let Some(s) = service {
        push_str(out, s);
        if let Some(op) = operation {
            push_str(out, op);
        }
    }
}

/// `S` ‖ str(service).
pub fn service_prefix(out: &mut Vec<u8>, service: &str) {
    out.push(TAG_SERVICE);
    push_str(out, service);
}

/// `O` ‖ str(service) ‖ str(operation) ‖ kind.
pub fn operation_prefix(out: &mut Vec<u8>, service: &str, operation: &str, kind: SpanKind) {
    out.push(TAG_OPERATION);
    push_str(out, service);
    push_str(out, operation);
    out.push(kind as u8);
}

/// `T` ‖ str(service) ‖ str(key) ‖ str(value).
pub fn tag_prefix(out: &mut Vec<u8>, service: &str, key: &str, value: &str) {
    out.push(TAG_ATTRIBUTE);
    push_str(out, service);
    push_str(out, key);
    push_str(out, value);
}

/// `T` ‖ str(service) ‖ str(key) ‖ 0x00 0x00 ‖ value_id(4 BE): a tag term naming its value by
/// the partition's string-table ID (see [`value_id_subterm`]).
pub fn tag_id_prefix(out: &mut Vec<u8>, service: &str, key: &str, value_id: u32) {
    tag_group(out, service, key);
    out.extend_from_slice(&value_id_subterm(value_id));
}

/// Bytes of a tag sub-term in ID form.
pub const VALUE_ID_SUBTERM_LEN: usize = 6;

/// The sub-term naming a tag value by its string-table ID: 0x00 0x00 ‖ id(4 BE). No `str()`
/// encoding starts with two zero bytes, so it never equals a value's, and these sort (by ID)
/// before every one of them.
pub fn value_id_subterm(value_id: u32) -> [u8; VALUE_ID_SUBTERM_LEN] {
    let id = value_id.to_be_bytes();
    [0, 0, id[0], id[1], id[2], id[3]]
}

/// The value ID of a tag sub-term in ID form; `None` for any other sub-term.
pub fn parse_value_id_subterm(subterm: &[u8]) -> Option<u32> {
    match subterm {
        [0, 0, id @ ..] => Some(u32::from_be_bytes(id.try_into().ok()?)),
        _ => None,
    }
}

/// `T` ‖ str(service) ‖ str(key): the group of the tag terms of one attribute key.
pub fn tag_group(out: &mut Vec<u8>, service: &str, key: &str) {
    out.push(TAG_ATTRIBUTE);
    push_str(out, service);
    push_str(out, key);
}

/// Length of the group of a term built by the prefix builders: the term without its value for a
/// tag term, the whole term otherwise. The rest of the term is its sub-term.
pub fn term_group_len(term: &[u8]) -> usize {
    if term.first() != Some(&TAG_ATTRIBUTE) {
        return term.len();
    }
    let mut at = 1;
    for _ in 0..2 {
        match encoded_str_len(&term[at..]) {
            Some(n) => at += n,
            None => return term.len(),
        }
    }
    at
}

/// Bytes of the `str()` encoding at the start of `input`; `None` when it does not end.
fn encoded_str_len(input: &[u8]) -> Option<usize> {
    let mut i = 0;
    loop {
        match (input.get(i)?, input.get(i + 1)) {
            (0, Some(0x01)) => return Some(i + 2),
            (0, Some(_)) => i += 2,
            (0, None) => return None,
            _ => i += 1,
        }
    }
}

/// `D` ‖ str(service) ‖ dur_bucket.
pub fn duration_prefix(out: &mut Vec<u8>, service: &str, bucket: u8) {
    out.push(TAG_DURATION);
    push_str(out, service);
    out.push(bucket);
}

/// Appends rev_minute(4 BE) ‖ segment_seq(8 BE) to a group, completing a segment key.
pub fn push_segment_suffix(out: &mut Vec<u8>, rev_minute: u32, segment_seq: u64) {
    out.extend_from_slice(&rev_minute.to_be_bytes());
    out.extend_from_slice(&segment_seq.to_be_bytes());
}

/// The (rev_minute of the newest posting, segment_seq) of a segment key known to start with a
/// group of `prefix_len` bytes.
pub fn parse_segment_suffix(key: &[u8], prefix_len: usize) -> Result<(u32, u64), KeyError> {
    let suffix = key.get(prefix_len..).ok_or(KeyError::Truncated {
        what: "segment key",
    })?;
    if suffix.len() < SEGMENT_SUFFIX_LEN {
        return Err(KeyError::Truncated {
            what: "segment key",
        });
    }
    if suffix.len() > SEGMENT_SUFFIX_LEN {
        return Err(KeyError::Trailing(suffix.len() - SEGMENT_SUFFIX_LEN));
    }
    let mut minute = [0u8; 4];
    minute.copy_from_slice(&suffix[..4]);
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&suffix[4..]);
    Ok((u32::from_be_bytes(minute), u64::from_be_bytes(seq)))
}

/// Iteration bounds of the segments of a group that can hold a posting of minute ≥
/// minute(start_min_ns): from the group (the newest segment) down to the last segment whose
/// newest minute is still inside the window. Older segments only hold older postings.
pub fn segment_range(group: &[u8], start_min_ns: u64) -> (Vec<u8>, Vec<u8>) {
    let (_, upper) = entry_range(group, start_min_ns, start_min_ns);
    (group.to_vec(), upper)
}

/// `X` ‖ segment_seq(8 BE) ‖ block(4 BE): one block of the trace table of a flush.
pub fn trace_table_key(segment_seq: u64, block: u32) -> [u8; TRACE_TABLE_KEY_LEN] {
    let mut k = [0u8; TRACE_TABLE_KEY_LEN];
    k[0] = TAG_TRACE_TABLE;
    k[1..9].copy_from_slice(&segment_seq.to_be_bytes());
    k[9..].copy_from_slice(&block.to_be_bytes());
    k
}

/// The (segment_seq, block) of a trace-table key.
pub fn parse_trace_table_key(key: &[u8]) -> Result<(u64, u32), KeyError> {
    let what = "trace-table key";
    match key {
        [TAG_TRACE_TABLE, rest @ ..] if rest.len() == TRACE_TABLE_KEY_LEN - 1 => {
            let mut seq = [0u8; 8];
            seq.copy_from_slice(&rest[..8]);
            let mut block = [0u8; 4];
            block.copy_from_slice(&rest[8..]);
            Ok((u64::from_be_bytes(seq), u32::from_be_bytes(block)))
        }
        [TAG_TRACE_TABLE, rest @ ..] if rest.len() > TRACE_TABLE_KEY_LEN - 1 => {
            Err(KeyError::Trailing(rest.len() - (TRACE_TABLE_KEY_LEN - 1)))
        }
        [TAG_TRACE_TABLE, ..] | [] => Err(KeyError::Truncated { what }),
        [other, ..] => Err(KeyError::UnknownTag(*other)),
    }
}

/// `A` ‖ seq(8 BE): the write-log row of one write in one partition.
pub fn write_log_key(seq: u64) -> [u8; WRITE_LOG_KEY_LEN] {
    tagged_key(TAG_WRITE_LOG, &seq.to_be_bytes())
}

/// `tag` ‖ `number` (big-endian bytes) as a key of exactly `N` = 1 + their length bytes.
fn tagged_key<const N: usize>(tag: u8, number: &[u8]) -> [u8; N] {
    let mut k = [0u8; N];
    k[0] = tag;
    k[1..].copy_from_slice(number);
    k
}

pub fn parse_write_log_key(key: &[u8]) -> Result<u64, KeyError> {
    parse_tagged(key, TAG_WRITE_LOG, "write-log key").map(u64::from_be_bytes)
}

/// The big-endian number after `tag` in a key of exactly `1 + N` bytes.
fn parse_tagged<const N: usize>(
    key: &[u8],
    tag: u8,
    what: &'static str,
) -> Result<[u8; N], KeyError> {
    match key {
        [t, rest @ ..] if *t == tag && rest.len() > N => Err(KeyError::Trailing(rest.len() - N)),
        [t, rest @ ..] if *t == tag => {
            <[u8; N]>::try_from(rest).map_err(|_| KeyError::Truncated { what })
        }
        [other, ..] => Err(KeyError::UnknownTag(*other)),
        [] => Err(KeyError::Truncated { what }),
    }
}

/// Bounds of every write-log row: `[A, B)`.
pub fn write_log_range() -> ([u8; 1], [u8; 1]) {
    ([TAG_WRITE_LOG], [TAG_WRITE_LOG + 1])
}

/// `B` ‖ id(4 BE): the row defining string `id` of a partition's string table.
pub fn string_key(id: u32) -> [u8; STRING_KEY_LEN] {
    tagged_key(TAG_STRING, &id.to_be_bytes())
}

pub fn parse_string_key(key: &[u8]) -> Result<u32, KeyError> {
    parse_tagged(key, TAG_STRING, "string key").map(u32::from_be_bytes)
}

/// Bounds of every string-table row: `[B, C)`, in ID order.
pub fn string_range() -> ([u8; 1], [u8; 1]) {
    ([TAG_STRING], [TAG_STRING + 1])
}

/// Range-delete bounds of the write-log rows with seq < `below`: `[A ‖ 0, A ‖ below)`.
pub fn write_log_range_below(below: u64) -> ([u8; WRITE_LOG_KEY_LEN], [u8; WRITE_LOG_KEY_LEN]) {
    (write_log_key(0), write_log_key(below))
}

/// Iteration bounds for the keys prefix ‖ rev_minute ‖ … whose minute lies in
/// [minute(start_min_ns), minute(start_max_ns)]: `(lower inclusive, upper exclusive)`.
/// Forward iteration from `lower` yields the newest minute first.
fn entry_range(prefix: &[u8], start_min_ns: u64, start_max_ns: u64) -> (Vec<u8>, Vec<u8>) {
    let mut lower = Vec::with_capacity(prefix.len() + 4);
    lower.extend_from_slice(prefix);
    lower.extend_from_slice(&rev_minute(start_max_ns).to_be_bytes());
    let mut oldest = Vec::with_capacity(prefix.len() + 4);
    oldest.extend_from_slice(prefix);
    oldest.extend_from_slice(&rev_minute(start_min_ns).to_be_bytes());
    // Every prefix starts with an ASCII tag byte, so a successor always exists.
    let upper = prefix_successor(&oldest).unwrap_or_else(|| vec![0xFF; oldest.len() + 1]);
    (lower, upper)
}

/// Iteration bounds of every key starting with `prefix`: `(prefix, successor)`.
pub fn prefix_range(prefix: &[u8]) -> (Vec<u8>, Option<Vec<u8>>) {
    (prefix.to_vec(), prefix_successor(prefix))
}

/// The smallest byte string greater than every string starting with `prefix`; `None` when
/// `prefix` is all 0xFF (or empty).
pub fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let last = prefix.iter().rposition(|&b| b != 0xFF)?;
    let mut out = prefix[..=last].to_vec();
    out[last] += 1;
    Some(out)
}

/// A parsed index key (tests, tools and the catalog; the hot path uses the builders above).
/// Segment keys carry the `rev_minute` of their newest posting and the flush that wrote them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexKey {
    Catalog {
        service: String,
        operation: String,
        kind: SpanKind,
    },
    Service {
        service: String,
        rev_minute: u32,
        segment_seq: u64,
    },
    Operation {
        service: String,
        operation: String,
        kind: SpanKind,
        rev_minute: u32,
        segment_seq: u64,
    },
    /// The segment of every value of one attribute key.
    Tag {
        service: String,
        key: String,
        rev_minute: u32,
        segment_seq: u64,
    },
    Duration {
        service: String,
        bucket: u8,
        rev_minute: u32,
        segment_seq: u64,
    },
    WriteLog {
        seq: u64,
    },
    String {
        id: u32,
    },
    TraceTable {
        segment_seq: u64,
        block: u32,
    },
}

impl IndexKey {
    /// Appends the key bytes.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let (rev_minute, segment_seq) = match self {
            IndexKey::Catalog {
                service,
                operation,
                kind,
            } => return catalog_key(out, service, operation, *kind),
            IndexKey::WriteLog { seq } => return out.extend_from_slice(&write_log_key(*seq)),
            IndexKey::String { id } => return out.extend_from_slice(&string_key(*id)),
            IndexKey::TraceTable { segment_seq, block } => {
                return out.extend_from_slice(&trace_table_key(*segment_seq, *block))
            }
            IndexKey::Service {
                service,
                rev_minute,
                segment_seq,
            } => {
                service_prefix(out, service);
                (rev_minute, segment_seq)
            }
            IndexKey::Operation {
                service,
                operation,
                kind,
                rev_minute,
                segment_seq,
            } => {
                operation_prefix(out, service, operation, *kind);
                (rev_minute, segment_seq)
            }
            IndexKey::Tag {
                service,
                key,
                rev_minute,
                segment_seq,
            } => {
                tag_group(out, service, key);
                (rev_minute, segment_seq)
            }
            IndexKey::Duration {
                service,
                bucket,
                rev_minute,
                segment_seq,
            } => {
                duration_prefix(out, service, *bucket);
                (rev_minute, segment_seq)
            }
        };
        push_segment_suffix(out, *rev_minute, *segment_seq);
    }

    pub fn parse(key: &[u8]) -> Result<IndexKey, KeyError> {
        let mut input = key;
        let tag = read_u8(&mut input, "index tag")?;
        let parsed = match tag {
            TAG_CATALOG => {
                let service = read_str(&mut input, "service")?;
                let operation = read_str(&mut input, "operation")?;
                let kind = read_kind(&mut input)?;
                if !input.is_empty() {
                    return Err(KeyError::Trailing(input.len()));
                }
                IndexKey::Catalog {
                    service,
                    operation,
                    kind,
                }
            }
            TAG_SERVICE => {
                let service = read_str(&mut input, "service")?;
                let (rev_minute, segment_seq) = parse_segment_suffix(input, 0)?;
                IndexKey::Service {
                    service,
                    rev_minute,
                    segment_seq,
                }
            }
            TAG_OPERATION => {
                let service = read_str(&mut input, "service")?;
                let operation = read_str(&mut input, "operation")?;
                let kind = read_kind(&mut input)?;
                let (rev_minute, segment_seq) = parse_segment_suffix(input, 0)?;
                IndexKey::Operation {
                    service,
                    operation,
                    kind,
                    rev_minute,
                    segment_seq,
                }
            }
            TAG_ATTRIBUTE => {
                let service = read_str(&mut input, "service")?;
                let key = read_str(&mut input, "attribute key")?;
                let (rev_minute, segment_seq) = parse_segment_suffix(input, 0)?;
                IndexKey::Tag {
                    service,
                    key,
                    rev_minute,
                    segment_seq,
                }
            }
            TAG_DURATION => {
                let service = read_str(&mut input, "service")?;
                let bucket = read_u8(&mut input, "duration bucket")?;
                let (rev_minute, segment_seq) = parse_segment_suffix(input, 0)?;
                IndexKey::Duration {
                    service,
                    bucket,
                    rev_minute,
                    segment_seq,
                }
            }
            TAG_WRITE_LOG => IndexKey::WriteLog {
                seq: parse_write_log_key(key)?,
            },
            TAG_STRING => IndexKey::String {
                id: parse_string_key(key)?,
            },
            TAG_TRACE_TABLE => {
                let (segment_seq, block) = parse_trace_table_key(key)?;
                IndexKey::TraceTable { segment_seq, block }
            }
            other => return Err(KeyError::UnknownTag(other)),
        };
        Ok(parsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Strings with plenty of 0x00, 0x01 and 0xFF-adjacent characters.
    fn tricky_string() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop_oneof![
                Just('\u{0}'),
                Just('\u{1}'),
                Just('a'),
                Just('b'),
                Just('\u{ff}'),
                any::<char>(),
            ],
            0..8,
        )
        .prop_map(|cs| cs.into_iter().collect())
    }

    fn kind() -> impl Strategy<Value = SpanKind> {
        prop::sample::select(SpanKind::ALL.to_vec())
    }

    fn trace_id() -> impl Strategy<Value = TraceId> {
        any::<[u8; 16]>().prop_map(TraceId)
    }

    fn index_key() -> impl Strategy<Value = IndexKey> {
        prop_oneof![
            (tricky_string(), tricky_string(), kind()).prop_map(|(service, operation, kind)| {
                IndexKey::Catalog {
                    service,
                    operation,
                    kind,
                }
            }),
            (tricky_string(), any::<u32>(), any::<u64>()).prop_map(
                |(service, rev_minute, segment_seq)| IndexKey::Service {
                    service,
                    rev_minute,
                    segment_seq,
                }
            ),
            (
                tricky_string(),
                tricky_string(),
                kind(),
                any::<u32>(),
                any::<u64>()
            )
                .prop_map(|(service, operation, kind, rev_minute, segment_seq)| {
                    IndexKey::Operation {
                        service,
                        operation,
                        kind,
                        rev_minute,
                        segment_seq,
                    }
                }),
            (tricky_string(), tricky_string(), any::<u32>(), any::<u64>()).prop_map(
                |(service, key, rev_minute, segment_seq)| IndexKey::Tag {
                    service,
                    key,
                    rev_minute,
                    segment_seq,
                }
            ),
            any::<u64>().prop_map(|seq| IndexKey::WriteLog { seq }),
            any::<u32>().prop_map(|id| IndexKey::String { id }),
            (any::<u64>(), any::<u32>())
                .prop_map(|(segment_seq, block)| IndexKey::TraceTable { segment_seq, block }),
            (tricky_string(), 0u8..=64, any::<u32>(), any::<u64>()).prop_map(
                |(service, bucket, rev_minute, segment_seq)| IndexKey::Duration {
                    service,
                    bucket,
                    rev_minute,
                    segment_seq,
                }
            ),
        ]
    }

    fn encoded(k: &IndexKey) -> Vec<u8> {
        let mut out = Vec::new();
        k.encode(&mut out);
        out
    }

    fn enc_str(s: &str) -> Vec<u8> {
        let mut out = Vec::new();
        push_str(&mut out, s);
        out
    }

    proptest! {
        #[test]
        fn index_keys_round_trip(k in index_key()) {
            prop_assert_eq!(IndexKey::parse(&encoded(&k)), Ok(k));
        }

        #[test]
        fn span_keys_round_trip(id in trace_id(), chunk in any::<u64>()) {
            prop_assert_eq!(parse_span_key(&span_key(id, chunk)), Ok((id, chunk)));
        }

        #[test]
        fn string_encoding_preserves_order(a in tricky_string(), b in tricky_string()) {
            prop_assert_eq!(a.as_bytes().cmp(b.as_bytes()), enc_str(&a).cmp(&enc_str(&b)));
        }

        #[test]
        fn string_pairs_never_collide(
            a in tricky_string(), b in tricky_string(),
            c in tricky_string(), d in tricky_string(),
        ) {
            let mut ab = enc_str(&a);
            ab.extend(enc_str(&b));
            let mut cd = enc_str(&c);
            cd.extend(enc_str(&d));
            prop_assert_eq!(ab == cd, (a, b) == (c, d));
        }

        #[test]
        fn newer_minutes_sort_first(
            svc in tricky_string(),
            t1 in any::<u64>(), t2 in any::<u64>(),
            seq1 in any::<u64>(), seq2 in any::<u64>(),
        ) {
            prop_assume!(minute_of(t1) != minute_of(t2));
            let k = |t: u64, seq: u64| {
                let mut out = Vec::new();
                service_prefix(&mut out, &svc);
                push_segment_suffix(&mut out, rev_minute(t), seq);
                out
            };
            let newer_first = k(t1, seq1) < k(t2, seq2);
            prop_assert_eq!(newer_first, minute_of(t1) > minute_of(t2));
        }

        #[test]
        fn prefixes_contain_exactly_their_keys(
            svc in tricky_string(), other in tricky_string(),
            key in tricky_string(), value in tricky_string(), op in tricky_string(),
            kind in kind(), minute in any::<u32>(), id in trace_id(), t in any::<u64>(),
        ) {
            // Keys of `svc` start with the groups of `svc` ...
            let k = IndexKey::Tag { service: svc.clone(), key: key.clone(), rev_minute: minute, segment_seq: t };
            let mut p = Vec::new();
            tag_group(&mut p, &svc, &key);
            prop_assert!(encoded(&k).starts_with(&p));
            let mut term = Vec::new();
            tag_prefix(&mut term, &svc, &key, &value);
            prop_assert_eq!(&term[..term_group_len(&term)], p.as_slice());
            let k = IndexKey::Operation { service: svc.clone(), operation: op.clone(), kind, rev_minute: minute, segment_seq: t };
            let mut p = Vec::new();
            operation_prefix(&mut p, &svc, &op, kind);
            prop_assert_eq!(term_group_len(&p), p.len());
            prop_assert!(encoded(&k).starts_with(&p));
            let mut p = Vec::new();
            catalog_prefix(&mut p, Some(&svc), Some(&op));
            let mut c = Vec::new();
            catalog_key(&mut c, &svc, &op, kind);
            prop_assert!(c.starts_with(&p));
            // ... and never with the prefixes of another service.
            let k = IndexKey::Service { service: other.clone(), rev_minute: rev_minute(t), segment_seq: id.as_u128() as u64 };
            let mut p = Vec::new();
            service_prefix(&mut p, &svc);
            prop_assert_eq!(encoded(&k).starts_with(&p), svc == other);
            let (lower, upper) = entry_range(&p, 0, u64::MAX);
            let ek = encoded(&k);
            prop_assert_eq!(ek >= lower && ek < upper, svc == other);
        }

        #[test]
        fn entry_range_holds_exactly_the_window(
            svc in tricky_string(), a in any::<u64>(), b in any::<u64>(), t in any::<u64>(),
            seq in any::<u64>(),
        ) {
            let (lo, hi) = (a.min(b), a.max(b));
            let mut p = Vec::new();
            duration_prefix(&mut p, &svc, 7);
            let (lower, upper) = entry_range(&p, lo, hi);
            let mut k = p.clone();
            push_segment_suffix(&mut k, rev_minute(t), seq);
            let inside = minute_of(t) >= minute_of(lo) && minute_of(t) <= minute_of(hi);
            prop_assert_eq!(k >= lower && k < upper, inside);
        }

        #[test]
        fn segment_range_holds_the_segments_that_reach_into_the_window(
            svc in tricky_string(), newest in any::<u64>(), from in any::<u64>(), seq in any::<u64>(),
            other in tricky_string(),
        ) {
            let mut p = Vec::new();
            tag_prefix(&mut p, &svc, "k", "v");
            let (lower, upper) = segment_range(&p, from);
            let mut k = p.clone();
            push_segment_suffix(&mut k, rev_minute(newest), seq);
            prop_assert_eq!(k >= lower && k < upper, minute_of(newest) >= minute_of(from));
            prop_assert_eq!(parse_segment_suffix(&k, p.len()), Ok((rev_minute(newest), seq)));
            let mut o = Vec::new();
            tag_prefix(&mut o, &other, "k", "v");
            push_segment_suffix(&mut o, rev_minute(newest), seq);
            prop_assert_eq!(o.starts_with(&p), other == svc);
        }

        #[test]
        fn write_log_keys_round_trip_and_sort_by_seq(a in any::<u64>(), b in any::<u64>()) {
            prop_assert_eq!(parse_write_log_key(&write_log_key(a)), Ok(a));
            prop_assert_eq!(write_log_key(a) < write_log_key(b), a < b);
            let (lo, hi) = write_log_range_below(b);
            let k = write_log_key(a);
            prop_assert_eq!(k >= lo && k < hi, a < b);
            let (all_lo, all_hi) = write_log_range();
            prop_assert!(k.as_slice() >= all_lo.as_slice() && k.as_slice() < all_hi.as_slice());
        }

        #[test]
        fn parse_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = IndexKey::parse(&bytes);
            let _ = parse_span_key(&bytes);
            let _ = parse_write_log_key(&bytes);
            let _ = parse_segment_suffix(&bytes, 3);
            let _ = parse_trace_table_key(&bytes);
            let _ = term_group_len(&bytes);
        }
    }

    #[test]
    fn service_prefix_excludes_longer_and_escaped_names() {
        let mut a = Vec::new();
        service_prefix(&mut a, "a");
        for other in ["ab", "a\0b", "a\0", "\0a"] {
            let mut k = Vec::new();
            service_prefix(&mut k, other);
            push_segment_suffix(&mut k, 1, 0);
            assert!(!k.starts_with(&a), "{other:?}");
        }
    }

    #[test]
    fn memtable_keys_sort_outside_the_segment_file_range() {
        // An ingested segment file spans D… to X…; the write log, the string table and the
        // catalog go through the memtable, and a memtable key inside that range would make
        // every ingestion flush it.
        let file = [
            TAG_DURATION,
            TAG_OPERATION,
            TAG_SERVICE,
            TAG_ATTRIBUTE,
            TAG_TRACE_TABLE,
        ];
        let (lo, hi) = (file.iter().min().unwrap(), file.iter().max().unwrap());
        for tag in [TAG_WRITE_LOG, TAG_STRING, TAG_CATALOG] {
            assert!(tag < *lo || tag > *hi, "{}", tag as char);
        }
    }

    #[test]
    fn cf_names_round_trip_and_sort_by_time() {
        assert_eq!(spans_cf_name(86_400), "spans.000000086400");
        assert_eq!(
            parse_cf_name(&index_cf_name(42)),
            Some((PartitionCf::Index, 42))
        );
        assert_eq!(
            parse_cf_name(&spans_cf_name(7)),
            Some((PartitionCf::Spans, 7))
        );
        assert_eq!(parse_cf_name("default"), None);
        assert_eq!(parse_cf_name("spans.12"), None);
        assert!(spans_cf_name(99_999) < spans_cf_name(100_000));
    }

    #[test]
    fn buckets_and_partitions() {
        assert_eq!(duration_bucket(0), 0);
        assert_eq!(duration_bucket(1), 1);
        assert_eq!(duration_bucket(1023), 10);
        assert_eq!(duration_bucket(1024), 11);
        assert_eq!(duration_bucket(u64::MAX), 64);
        assert_eq!(partition_start_secs(86_399_999_999_999, 86_400), 0);
        assert_eq!(partition_start_secs(86_400_000_000_000, 86_400), 86_400);
        assert_eq!(prefix_successor(&[1, 0xFF]), Some(vec![2]));
        assert_eq!(prefix_successor(&[0xFF]), None);
    }

    #[test]
    fn bad_escapes_are_errors() {
        assert_eq!(
            IndexKey::parse(&[b'S', b'a', 0, 7]),
            Err(KeyError::BadEscape { what: "service" })
        );
        assert_eq!(IndexKey::parse(b"Z"), Err(KeyError::UnknownTag(b'Z')));
        assert_eq!(
            IndexKey::parse(b"X"),
            Err(KeyError::Truncated {
                what: "trace-table key"
            })
        );
        assert_eq!(
            IndexKey::parse(&[b'C', 0, 1, 0, 1, 9]),
            Err(KeyError::BadKind(9))
        );
    }
}
