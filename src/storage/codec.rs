//! Binary value encoding of the RocksDB trace store: span chunks and index values.
//!
//! Owns the chunk format (all spans of one trace that one write put in one partition) and the
//! `min/max start` value of index entries. **Hot path** (every ingested span is encoded here):
//! encoding writes into one caller-owned `Vec<u8>` and reuses the encoder's tables, no per-span
//! allocation. Decoding never panics on arbitrary bytes: anything malformed is
//! [`StorageError::Corrupt`]. Must never build keys (see `keys.rs`) or touch RocksDB.
//!
//! Chunk layout (integers are LEB128 varints unless noted, strings are varint length + UTF-8):
//!
//! ```text
//! version(1 byte = CHUNK_VERSION)
//! n_resources, resources: attributes, dropped_attributes_count, schema_url
//! n_scopes,    scopes:    name, version, attributes, dropped_attributes_count, schema_url
//! n_spans,     spans:     resource_index, scope_index, span_id(8), header(1), parent,
//!                         text(name), zigzag(start − previous span's start (0 for the first),
//!                         wrapping), zigzag(end − start, wrapping), span_attributes, flags,
//!                         [if header.rare: trace_state, dropped_attributes_count,
//!                          n_events { zigzag(time − start), text(name), attributes, dropped },
//!                          dropped_events_count,
//!                          n_links { trace_id(16), span_id(8), trace_state, attributes,
//!                                    dropped, flags }, dropped_links_count, status_message]
//! header:     bits 0–2 kind, 3–4 status code, 5–6 parent (0 none, 1 span_id(8) follows,
//!             2 the index of a span of the chunk follows), 7 rare (the fields in brackets
//!             follow; without it they are empty or zero)
//! attributes: n, { text(key), value }
//! span_attributes: varint(n << 1 | packed); unpacked: n × { text(key), value }; packed (when
//!             every attribute is a string value with an ID under a key with an ID): key_bits(1),
//!             value_bits(1) (1–32 each), then n × { key ID, value ID } in those widths, least
//!             significant bit first, the last byte padded with zeros
//! value:      varint v; odd: the string value (v − 1) / 2 of the partition's string table;
//!             even: tag v / 2 (see `tag`) then its payload, a plain string for a string
//! text:       varint v; even: v / 2 bytes of UTF-8 follow; odd: string (v − 1) / 2 of the
//!             partition's string table ([`StringTable`])
//! ```
//!
//! The trace ID is in the key and is not repeated. Resources and scopes are stored once per
//! chunk (deduplicated by value, which an encoder compares once per distinct pointer it sees)
//! and shared again through `Arc` on decode.
//! Repeated strings (attribute keys and top-level string values, span and event names) are
//! IDs of the string table the encoder is given ([`StringIds`]); the table decides which
//! strings it takes, every other one is inline. A workload's attribute costs about 17 bits packed
//! against 3–4 bytes unpacked. Older chunks still decode. Version 3 wrote span attributes as
//! `attributes`. Version 2 (format 4)
//! had no header: the parent was one varint (0 none, 1 span_id(8) follows, 2 + i span i), and
//! trace_state, kind(1), dropped counts, events, links, status_code(1) and the status message
//! were always written, in the order of the model; a value was a tag byte then its payload, a
//! string value's payload a text. Version 1 (format 3) also had plain strings for every text, a
//! flag byte (0/1) for the parent and absolute start times.
//!
//! Segment (the value of a segment key: the postings of one group from one flush), sub-terms in
//! byte order, each with its ordinals (indices into the flush's trace table) ascending:
//!
//! ```text
//! version(1 byte = SEGMENT_VERSION), oldest_gap (key's newest minute − the group's oldest),
//! n_ids, ids_len (bytes), n_subterms,
//! n_ids × { (id − previous id (the first: id)) << 1 | single,
//!           [unless single: n_ordinals, ordinals_len], ordinals }
//! n_subterms × { shared (bytes in common with the previous sub-term), suffix_len, suffix,
//!                n_ordinals, ordinals_len (bytes), ordinals }
//! ordinals: first ordinal, gaps to the previous (≥ 1)
//! ```
//!
//! The first section holds the tag sub-terms in ID form (`keys::value_id_subterm`), which sort
//! before all others, by their value ID: a workload's tag values cost a byte or two there
//! instead of their text, and a single ordinal carries no count or length. Version-2 segments
//! (format 4) had only the second section (no `n_ids`, `ids_len`).
//!
//! Trace-table block (the value of an `X` key: up to `keys::TRACE_BLOCK` entries of a flush's
//! trace table, newest minute first, then by trace ID):
//!
//! ```text
//! version(1 byte = TRACE_BLOCK_VERSION), first minute, n,
//! n × { minute_gap (previous entry's minute − this minute), trace_id(16), min_us (µs into the
//!       minute), max_us − min_us }
//! ```
//!
//! String-table row (the value of a `B` key): `version(1 byte = STRING_ROW_VERSION),
//! space(1 byte: 0 = attribute keys, 1 = names, 2 = string values), id within the space,
//! UTF-8 bytes to the end`.
//!
//! Write log (the value of an `A` key): `version(1 byte = WRITE_LOG_VERSION), n,
//! n × { trace_id(16), chunk_id(8 BE) }`.

use std::sync::Arc;

use super::keys;
use super::StorageError;
use crate::model::{
    Event, KeyValue, Link, Resource, Scope, Span, SpanId, SpanKind, Status, StatusCode, Text,
    TraceId, Value,
};

/// Version byte leading every chunk this build writes.
pub const CHUNK_VERSION: u8 = 4;
/// The chunk version with span headers but with every span attribute written on its own;
/// still read.
const CHUNK_VERSION_HEADERS: u8 = 3;
/// The chunk version without string IDs, parent indices or start deltas; still read.
const CHUNK_VERSION_PLAIN: u8 = 1;
/// The chunk version with string IDs but without span headers or folded value tags; still read.
const CHUNK_VERSION_TEXTS: u8 = 2;

/// Deepest array/map nesting written and read. Deeper values (only a hostile client sends
/// them) are stored as [`Value::Empty`] at this depth, so that every stored chunk stays readable.
pub const MAX_VALUE_DEPTH: usize = 64;

/// Version byte leading every segment.
pub const SEGMENT_VERSION: u8 = 3;
/// The segment version without the ID section; still read.
const SEGMENT_VERSION_TEXTS: u8 = 2;
/// Version byte leading every trace-table block.
pub const TRACE_BLOCK_VERSION: u8 = 1;
/// Version byte leading every write-log row.
pub const WRITE_LOG_VERSION: u8 = 1;
/// Version byte leading every string-table row.
pub const STRING_ROW_VERSION: u8 = 1;

const CHUNK: &str = "span chunk";
const SEGMENT: &str = "segment";
const TRACE_BLOCK: &str = "trace-table block";
const WRITE_LOG: &str = "write log";
const STRING_ROW: &str = "string-table row";
/// Smallest encoding of one trace-table entry: gap(1) + trace_id(16) + min(1) + span(1).
const MIN_TRACE_ENTRY_BYTES: usize = 19;
/// Smallest encoding of one sub-term: shared, suffix_len, n, ordinals_len (1 each).
const MIN_SUBTERM_BYTES: usize = 4;
/// Smallest encoding of one sub-term in ID form: its ID delta and single bit, one ordinal.
const MIN_ID_SUBTERM_BYTES: usize = 2;
const WRITE_LOG_ENTRY_BYTES: usize = 24;
const MICROS_PER_MINUTE: u64 = 60_000_000;

/// One posting: a trace with a span carrying a term, in one minute, with the earliest and latest
/// start of those spans as microseconds into the minute (earliest rounded down, latest rounded
/// up, so the range only ever widens and a window check on it never rejects a real match). Also
/// an entry of a trace table, where the range covers every span of the trace in that minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Posting {
    pub minute: u32,
    pub trace_id: TraceId,
    pub min_us: u32,
    pub max_us: u32,
}

impl Posting {
    /// The posting of spans of `trace_id` that started in [min_start_ns, max_start_ns], all in
    /// the minute of `min_start_ns`.
    pub fn new(trace_id: TraceId, min_start_ns: u64, max_start_ns: u64) -> Posting {
        let minute = (min_start_ns / 60_000_000_000) as u32;
        let base = minute as u64 * 60_000_000_000;
        let min_us = (min_start_ns.saturating_sub(base) / 1000).min(MICROS_PER_MINUTE);
        let max_us = max_start_ns
            .saturating_sub(base)
            .div_ceil(1000)
            .clamp(min_us, MICROS_PER_MINUTE);
        Posting {
            minute,
            trace_id,
            min_us: min_us as u32,
            max_us: max_us as u32,
        }
    }

    /// Widens the range to a span of the same minute that starts at `start_ns`.
    pub fn include(&mut self, start_ns: u64) {
        let other = Posting::new(self.trace_id, start_ns, start_ns);
        debug_assert_eq!(other.minute, self.minute);
        self.min_us = self.min_us.min(other.min_us);
        self.max_us = self.max_us.max(other.max_us);
    }

    /// `(min_start_ns, max_start_ns)`, widened to whole microseconds.
    pub fn start_range_ns(&self) -> (u64, u64) {
        let base = self.minute as u64 * 60_000_000_000;
        (
            base + self.min_us as u64 * 1000,
            base + self.max_us as u64 * 1000,
        )
    }

    /// Newest minute first, then by trace ID: the order of a segment and of a search.
    pub fn search_order(&self) -> (std::cmp::Reverse<u32>, TraceId) {
        (std::cmp::Reverse(self.minute), self.trace_id)
    }
}

/// What a string of a chunk is, so that a string table can bound each kind on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    /// An attribute key.
    Key,
    /// A span or event name.
    Name,
    /// A string value of the attribute key with this ID.
    Value { key: u32 },
}

/// The ID ranges of a string table: attribute keys, names, and string values. The values of
/// all keys share one range: values often repeat across keys, and one range keeps the table
/// (and so its lookups) small.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Space {
    Keys = 0,
    Names = 1,
    Values = 2,
}

impl Space {
    pub const ALL: [Space; 3] = [Space::Keys, Space::Names, Space::Values];
}

impl TextKind {
    pub fn space(self) -> Space {
        match self {
            TextKind::Key => Space::Keys,
            TextKind::Name => Space::Names,
            TextKind::Value { .. } => Space::Values,
        }
    }
}

/// Replaces `out` with the string-table row of string `id` of `space`.
pub fn encode_string_row(space: Space, id: u32, text: &str, out: &mut Vec<u8>) {
    out.clear();
    out.push(STRING_ROW_VERSION);
    out.push(space as u8);
    put_varint(out, id as u64);
    out.extend_from_slice(text.as_bytes());
}

/// Decodes a row written by [`encode_string_row`].
pub fn decode_string_row(bytes: &[u8]) -> Result<(Space, u32, &str), StorageError> {
    let mut r = Reader::versioned(bytes, STRING_ROW, STRING_ROW_VERSION)?;
    let n = r.u8()?;
    let space = *Space::ALL
        .get(n as usize)
        .ok_or_else(|| r.err(&format!("unknown space {n}")))?;
    let id = r.u32()?;
    let rest = r.take(r.remaining())?;
    let text = std::str::from_utf8(rest).map_err(|_| r.err("string is not utf-8"))?;
    Ok((space, id, text))
}

/// Assigns string-table IDs while encoding ([`ChunkEncoder::encode`]).
pub trait StringIds {
    /// The ID of `s`, or `None` to write it inline.
    fn id(&mut self, s: &str, kind: TextKind) -> Option<u32>;
}

/// Resolves string-table IDs while decoding ([`decode_chunk`]). IDs are numbered per
/// [`Space`] from 0, so that the few keys and names get small IDs.
pub trait StringTable {
    fn text(&self, space: Space, id: u32) -> Option<&str>;
}

/// No string table: every string is written inline, and no ID resolves.
#[derive(Debug, Clone, Copy, Default)]
pub struct Inline;

impl StringIds for Inline {
    fn id(&mut self, _: &str, _: TextKind) -> Option<u32> {
        None
    }
}

impl StringTable for Inline {
    fn text(&self, _: Space, _: u32) -> Option<&str> {
        None
    }
}

/// Value tags. Bools carry their value in the tag.
mod tag {
    pub const EMPTY: u8 = 0;
    pub const STR: u8 = 1;
    pub const FALSE: u8 = 2;
    pub const TRUE: u8 = 3;
    pub const INT: u8 = 4;
    pub const DOUBLE: u8 = 5;
    pub const BYTES: u8 = 6;
    pub const ARRAY: u8 = 7;
    pub const MAP: u8 = 8;
}

/// FNV-1a, 64 bits: the chunk ID (identical chunks get identical IDs, so retries overwrite).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

// ---------------------------------------------------------------------------------------------
// Encoding

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Signed distance `to − from` modulo 2^64, zigzagged: lossless for every pair of u64.
fn put_delta(out: &mut Vec<u8>, from: u64, to: u64) {
    put_varint(out, zigzag(to.wrapping_sub(from) as i64));
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_bytes(out, s.as_bytes());
}

/// A text field: a string-table ID, or the string inline.
fn put_text(out: &mut Vec<u8>, id: Option<u32>, s: &str) {
    match id {
        Some(id) => put_varint(out, (id as u64) << 1 | 1),
        None => {
            put_varint(out, (s.len() as u64) << 1);
            out.extend_from_slice(s.as_bytes());
        }
    }
}

/// A value's tag: even, so that it differs from a string value's ID (odd).
fn put_tag(out: &mut Vec<u8>, t: u8) {
    out.push(t << 1);
}

/// A value; `key` is the string ID of its attribute key when the value itself may get one
/// (top-level attributes only).
fn put_value(
    out: &mut Vec<u8>,
    v: &Value,
    depth: usize,
    ids: &mut dyn StringIds,
    key: Option<u32>,
) {
    if depth >= MAX_VALUE_DEPTH && matches!(v, Value::Array(_) | Value::Map(_)) {
        put_tag(out, tag::EMPTY);
        return;
    }
    match v {
        Value::Empty => put_tag(out, tag::EMPTY),
        Value::Str(s) => match key.and_then(|key| ids.id(s, TextKind::Value { key })) {
            Some(id) => put_varint(out, (id as u64) << 1 | 1),
            None => {
                put_tag(out, tag::STR);
                put_str(out, s);
            }
        },
        Value::Bool(false) => put_tag(out, tag::FALSE),
        Value::Bool(true) => put_tag(out, tag::TRUE),
        Value::Int(i) => {
            put_tag(out, tag::INT);
            put_varint(out, zigzag(*i));
        }
        Value::Double(d) => {
            put_tag(out, tag::DOUBLE);
            out.extend_from_slice(&d.to_bits().to_le_bytes());
        }
        Value::Bytes(b) => {
            put_tag(out, tag::BYTES);
            put_bytes(out, b);
        }
        Value::Array(vs) => {
            put_tag(out, tag::ARRAY);
            put_varint(out, vs.len() as u64);
            for v in vs {
                put_value(out, v, depth + 1, &mut Inline, None);
            }
        }
        Value::Map(kvs) => {
            put_tag(out, tag::MAP);
            put_attributes(out, kvs, depth + 1, &mut Inline);
        }
    }
}

fn put_attributes(out: &mut Vec<u8>, kvs: &[KeyValue], depth: usize, ids: &mut dyn StringIds) {
    put_varint(out, kvs.len() as u64);
    for kv in kvs {
        let key = ids.id(&kv.key, TextKind::Key);
        put_text(out, key, &kv.key);
        put_value(out, &kv.value, depth, ids, key);
    }
}

/// A span's own attributes: packed when every one is a string value with an ID under a key
/// with an ID (see the chunk layout), else as `attributes`.
fn put_span_attributes(
    out: &mut Vec<u8>,
    kvs: &[KeyValue],
    ids: &mut dyn StringIds,
    found: &mut Vec<(Option<u32>, Option<u32>)>,
) {
    found.clear();
    let (mut max_key, mut max_value) = (0u32, 0u32);
    for kv in kvs {
        let key = ids.id(&kv.key, TextKind::Key);
        let value = match (&kv.value, key) {
            (Value::Str(s), Some(key)) => ids.id(s, TextKind::Value { key }),
            _ => None,
        };
        max_key = max_key.max(key.unwrap_or(0));
        max_value = max_value.max(value.unwrap_or(0));
        found.push((key, value));
    }
    let packed = !kvs.is_empty() && found.iter().all(|&(_, v)| v.is_some());
    put_varint(out, (kvs.len() as u64) << 1 | packed as u64);
    if packed {
        let widths = [bit_width(max_key), bit_width(max_value)];
        out.extend_from_slice(&widths);
        let mut bits = BitWriter::default();
        for &(key, value) in found.iter() {
            bits.put(out, key.unwrap_or(0), widths[0]);
            bits.put(out, value.unwrap_or(0), widths[1]);
        }
        bits.finish(out);
        return;
    }
    for (kv, &(key, value)) in kvs.iter().zip(found.iter()) {
        put_text(out, key, &kv.key);
        match value {
            Some(id) => put_varint(out, (id as u64) << 1 | 1),
            None => put_value(out, &kv.value, 0, &mut Inline, None),
        }
    }
}

/// Bits needed for `v`, at least one (so that a packed list's size bounds its count).
fn bit_width(v: u32) -> u8 {
    (u32::BITS - v.leading_zeros()).max(1) as u8
}

/// Appends values of given bit widths, least significant bit first.
#[derive(Default)]
struct BitWriter {
    acc: u64,
    bits: u32,
}

impl BitWriter {
    fn put(&mut self, out: &mut Vec<u8>, v: u32, width: u8) {
        self.acc |= (v as u64) << self.bits;
        self.bits += width as u32;
        while self.bits >= 8 {
            out.push(self.acc as u8);
            self.acc >>= 8;
            self.bits -= 8;
        }
    }

    /// Pads the last byte with zeros.
    fn finish(self, out: &mut Vec<u8>) {
        if self.bits > 0 {
            out.push(self.acc as u8);
        }
    }
}

/// Position of `item` in `table` by pointer, appending it when new.
fn intern<'a, T>(table: &mut Vec<&'a T>, item: &'a T) -> u64 {
    match table.iter().position(|t| std::ptr::eq(*t, item)) {
        Some(i) => i as u64,
        None => {
            table.push(item);
            (table.len() - 1) as u64
        }
    }
}

/// Distinct values an encoder compares new resources (or scopes) against; past this, a new
/// value is its own representative (a chunk may then hold an equal one twice).
const MAX_REPRESENTATIVES: usize = 256;

/// The resources (or scopes) an encoder has seen: each pointer, mapped once to the first equal
/// value seen, so that a chunk's table compares pointers only. Spans of one request share a
/// handful of resources, so this compares values a handful of times per write rather than for
/// every new resource of every chunk.
struct Canonical<'a, T> {
    by_address: hashbrown::HashMap<usize, &'a T>,
    representatives: Vec<&'a T>,
}

impl<T> Default for Canonical<'_, T> {
    fn default() -> Self {
        Canonical {
            by_address: hashbrown::HashMap::new(),
            representatives: Vec::new(),
        }
    }
}

impl<'a, T: PartialEq> Canonical<'a, T> {
    fn of(&mut self, item: &'a T) -> &'a T {
        let reps = &mut self.representatives;
        self.by_address
            .entry(item as *const T as usize)
            .or_insert_with(|| match reps.iter().find(|r| **r == item) {
                Some(r) => r,
                None => {
                    if reps.len() < MAX_REPRESENTATIVES {
                        reps.push(item);
                    }
                    item
                }
            })
    }
}

/// Encodes chunks; keeps its tables between chunks of one write so they are allocated once.
#[derive(Default)]
pub struct ChunkEncoder<'a> {
    canonical_resources: Canonical<'a, Resource>,
    canonical_scopes: Canonical<'a, Scope>,
    resources: Vec<&'a Resource>,
    scopes: Vec<&'a Scope>,
    refs: Vec<(u64, u64)>,
    /// (span ID, index in the chunk), sorted: parents are written as indices.
    span_ids: Vec<(SpanId, u32)>,
    /// The string IDs of the attributes of the span being written (key, string value).
    attribute_ids: Vec<(Option<u32>, Option<u32>)>,
}

impl<'a> ChunkEncoder<'a> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces `out` with the encoding of `spans` (all of one trace; their trace IDs are not
    /// written), with the string IDs `ids` gives. The bytes depend only on the spans, their
    /// order and those IDs.
    pub fn encode<I>(&mut self, spans: I, ids: &mut dyn StringIds, out: &mut Vec<u8>)
    where
        I: Iterator<Item = &'a Span> + Clone,
    {
        self.resources.clear();
        self.scopes.clear();
        self.refs.clear();
        self.span_ids.clear();
        for (i, s) in spans.clone().enumerate() {
            let r = intern(
                &mut self.resources,
                self.canonical_resources.of(&s.resource),
            );
            let c = intern(&mut self.scopes, self.canonical_scopes.of(&s.scope));
            self.refs.push((r, c));
            self.span_ids.push((s.span_id, i as u32));
        }
        // The first of equal IDs wins, so the parent index is the same on every encoding.
        self.span_ids.sort_unstable();
        out.clear();
        out.push(CHUNK_VERSION);
        put_varint(out, self.resources.len() as u64);
        for r in &self.resources {
            put_attributes(out, &r.attributes, 0, ids);
            put_varint(out, r.dropped_attributes_count as u64);
            put_str(out, &r.schema_url);
        }
        put_varint(out, self.scopes.len() as u64);
        for c in &self.scopes {
            put_str(out, &c.name);
            put_str(out, &c.version);
            put_attributes(out, &c.attributes, 0, ids);
            put_varint(out, c.dropped_attributes_count as u64);
            put_str(out, &c.schema_url);
        }
        put_varint(out, self.refs.len() as u64);
        let mut previous_start = 0;
        for (s, &(r, c)) in spans.zip(self.refs.iter()) {
            put_varint(out, r);
            put_varint(out, c);
            let parent = self.parent_index(s.parent_span_id);
            put_span(out, s, parent, previous_start, ids, &mut self.attribute_ids);
            previous_start = s.start_ns;
        }
    }

    /// The index in the chunk of the (first) span with ID `parent`.
    fn parent_index(&self, parent: SpanId) -> Option<u32> {
        let i = self.span_ids.partition_point(|(id, _)| *id < parent);
        self.span_ids
            .get(i)
            .filter(|(id, _)| *id == parent)
            .map(|&(_, index)| index)
    }
}

/// The parent field of version-2 chunks: these values, or a span index plus
/// `V2_PARENT_INDEX_BASE`.
const V2_PARENT_NONE: u64 = 0;
const V2_PARENT_ID: u64 = 1;
const V2_PARENT_INDEX_BASE: u64 = 2;

fn put_span(
    out: &mut Vec<u8>,
    s: &Span,
    parent_index: Option<u32>,
    previous_start: u64,
    ids: &mut dyn StringIds,
    attribute_ids: &mut Vec<(Option<u32>, Option<u32>)>,
) {
    out.extend_from_slice(&s.span_id.0);
    let parent = if s.parent_span_id.is_zero() {
        header::PARENT_NONE
    } else if parent_index.is_some() {
        header::PARENT_INDEX
    } else {
        header::PARENT_ID
    };
    let rare = !s.trace_state.is_empty()
        || s.dropped_attributes_count != 0
        || !s.events.is_empty()
        || s.dropped_events_count != 0
        || !s.links.is_empty()
        || s.dropped_links_count != 0
        || !s.status.message.is_empty();
    out.push(
        s.kind as u8
            | (s.status.code as u8) << header::STATUS_SHIFT
            | parent << header::PARENT_SHIFT
            | if rare { header::RARE } else { 0 },
    );
    match parent_index {
        Some(i) if parent == header::PARENT_INDEX => put_varint(out, i as u64),
        _ if parent == header::PARENT_ID => out.extend_from_slice(&s.parent_span_id.0),
        _ => {}
    }
    put_text(out, ids.id(&s.name, TextKind::Name), &s.name);
    put_delta(out, previous_start, s.start_ns);
    put_delta(out, s.start_ns, s.end_ns);
    put_span_attributes(out, &s.attributes, ids, attribute_ids);
    put_varint(out, s.flags as u64);
    if !rare {
        return;
    }
    put_str(out, &s.trace_state);
    put_varint(out, s.dropped_attributes_count as u64);
    put_varint(out, s.events.len() as u64);
    for e in &s.events {
        put_delta(out, s.start_ns, e.time_ns);
        put_text(out, ids.id(&e.name, TextKind::Name), &e.name);
        put_attributes(out, &e.attributes, 0, ids);
        put_varint(out, e.dropped_attributes_count as u64);
    }
    put_varint(out, s.dropped_events_count as u64);
    put_varint(out, s.links.len() as u64);
    for l in &s.links {
        out.extend_from_slice(&l.trace_id.0);
        out.extend_from_slice(&l.span_id.0);
        put_str(out, &l.trace_state);
        put_attributes(out, &l.attributes, 0, ids);
        put_varint(out, l.dropped_attributes_count as u64);
        put_varint(out, l.flags as u64);
    }
    put_varint(out, s.dropped_links_count as u64);
    put_str(out, &s.status.message);
}

/// The span header byte of version-3 chunks.
mod header {
    /// Bits 0–2: the span kind. Bits 3–4: the status code.
    pub const STATUS_SHIFT: u8 = 3;
    /// Bits 5–6: the parent: none, a span ID follows, an index into the chunk follows.
    pub const PARENT_SHIFT: u8 = 5;
    pub const PARENT_NONE: u8 = 0;
    pub const PARENT_ID: u8 = 1;
    pub const PARENT_INDEX: u8 = 2;
    /// Bit 7: the span has a trace state, events, links, dropped counts or a status message.
    pub const RARE: u8 = 0x80;
}

// ---------------------------------------------------------------------------------------------
// Decoding

fn corrupt(what: &'static str, detail: impl Into<String>) -> StorageError {
    StorageError::Corrupt {
        what,
        detail: detail.into(),
    }
}

struct Reader<'b> {
    buf: &'b [u8],
    pos: usize,
    what: &'static str,
    /// The version of the chunk being read; 0 for other values. From 2 on: tagged texts (inline
    /// or string ID), parent indices and start deltas; from 3 on: span headers and value tags
    /// folded with string value IDs; from 4 on: span attributes packed when they can be.
    chunk: u8,
    strings: &'b dyn StringTable,
}

impl<'b> Reader<'b> {
    fn new(bytes: &'b [u8], what: &'static str) -> Self {
        Reader {
            buf: bytes,
            pos: 0,
            what,
            chunk: 0,
            strings: &Inline,
        }
    }

    /// A reader of `bytes` past their leading version byte, which must be `version`.
    fn versioned(bytes: &'b [u8], what: &'static str, version: u8) -> Result<Self, StorageError> {
        let mut r = Reader::new(bytes, what);
        let found = r.u8()?;
        if found != version {
            return Err(r.err(&format!("unknown {what} version {found}")));
        }
        Ok(r)
    }

    fn err(&self, detail: &str) -> StorageError {
        corrupt(self.what, format!("{detail} at byte {}", self.pos))
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<&'b [u8], StorageError> {
        if n > self.remaining() {
            return Err(self.err("truncated"));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, StorageError> {
        Ok(self.take(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], StorageError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn varint(&mut self) -> Result<u64, StorageError> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let b = self.u8()?;
            if i == 9 && b > 1 {
                return Err(self.err("varint overflow"));
            }
            v |= ((b & 0x7F) as u64) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.err("varint too long"))
    }

    fn u32(&mut self) -> Result<u32, StorageError> {
        let v = self.varint()?;
        u32::try_from(v).map_err(|_| self.err("count exceeds u32"))
    }

    fn delta_from(&mut self, base: u64) -> Result<u64, StorageError> {
        Ok(base.wrapping_add(unzigzag(self.varint()?) as u64))
    }

    /// An index into a table read before.
    fn index(&mut self) -> Result<usize, StorageError> {
        usize::try_from(self.varint()?).map_err(|_| self.err("index exceeds usize"))
    }

    /// A count of items, each at least one byte long: bounded by the bytes left, so hostile
    /// counts cannot make us reserve huge vectors.
    fn count(&mut self) -> Result<usize, StorageError> {
        let n = self.varint()?;
        self.checked_count(n)
    }

    /// A count read from the data: each item takes at least a byte of what is left.
    fn checked_count(&self, n: u64) -> Result<usize, StorageError> {
        if n > self.remaining() as u64 {
            return Err(self.err("count exceeds remaining bytes"));
        }
        Ok(n as usize)
    }

    fn bytes(&mut self) -> Result<&'b [u8], StorageError> {
        let n = self.varint()?;
        self.take_len(n)
    }

    /// `n` bytes, `n` read from the data (so checked before any conversion).
    fn take_len(&mut self, n: u64) -> Result<&'b [u8], StorageError> {
        if n > self.remaining() as u64 {
            return Err(self.err("length exceeds remaining bytes"));
        }
        self.take(n as usize)
    }

    /// A length-prefixed string, as a `String` or a [`Text`].
    fn string<T: for<'s> From<&'s str>>(&mut self) -> Result<T, StorageError> {
        let b = self.bytes()?;
        self.utf8(b)
    }

    fn utf8<T: for<'s> From<&'s str>>(&self, b: &[u8]) -> Result<T, StorageError> {
        match std::str::from_utf8(b) {
            Ok(s) => Ok(T::from(s)),
            Err(_) => Err(self.err("string is not utf-8")),
        }
    }

    /// A text field (see the chunk layout; a plain string in version-1 chunks) and its string
    /// ID; `kind` is what an ID in it is (`None`: it cannot be one).
    fn text(&mut self, kind: Option<TextKind>) -> Result<(Text, Option<u32>), StorageError> {
        if self.chunk < CHUNK_VERSION_TEXTS {
            return Ok((self.string()?, None));
        }
        let v = self.varint()?;
        if v & 1 == 0 {
            let b = self.take_len(v >> 1)?;
            return Ok((self.utf8(b)?, None));
        }
        let id = self.string_id(v, kind)?;
        Ok((id.0, Some(id.1)))
    }

    /// The text of the odd varint `v` read from a text or value field: string `v >> 1` of the
    /// table, in the space of `kind` (`None`: no ID can be here), and that ID.
    fn string_id(&self, v: u64, kind: Option<TextKind>) -> Result<(Text, u32), StorageError> {
        let id = u32::try_from(v >> 1).map_err(|_| self.err("string ID exceeds u32"))?;
        let Some(kind) = kind else {
            return Err(self.err("string ID where none can be"));
        };
        match self.strings.text(kind.space(), id) {
            Some(s) => Ok((Text::from(s), id)),
            None => Err(self.err(&format!(
                "{:?} string ID {id} is not in the string table",
                kind.space()
            ))),
        }
    }

    fn name(&mut self) -> Result<String, StorageError> {
        Ok(self.text(Some(TextKind::Name))?.0.into())
    }

    /// A value of the attribute key with string ID `key` (if it has one).
    fn value(&mut self, depth: usize, key: Option<u32>) -> Result<Value, StorageError> {
        let kind = key.map(|key| TextKind::Value { key });
        let t = if self.chunk < CHUNK_VERSION_HEADERS {
            self.u8()?
        } else {
            let v = self.varint()?;
            if v & 1 == 1 {
                return Ok(Value::Str(self.string_id(v, kind)?.0));
            }
            u8::try_from(v >> 1).map_err(|_| self.err("unknown value tag"))?
        };
        Ok(match t {
            tag::EMPTY => Value::Empty,
            tag::STR if self.chunk < CHUNK_VERSION_HEADERS => Value::Str(self.text(kind)?.0),
            tag::STR => Value::Str(self.string()?),
            tag::FALSE => Value::Bool(false),
            tag::TRUE => Value::Bool(true),
            tag::INT => Value::Int(unzigzag(self.varint()?)),
            tag::DOUBLE => Value::Double(f64::from_bits(u64::from_le_bytes(self.array()?))),
            tag::BYTES => Value::Bytes(self.bytes()?.to_vec()),
            tag::ARRAY | tag::MAP if depth >= MAX_VALUE_DEPTH => {
                return Err(self.err("values nested too deep"))
            }
            tag::ARRAY => {
                let n = self.count()?;
                let mut vs = Vec::with_capacity(n);
                for _ in 0..n {
                    vs.push(self.value(depth + 1, None)?);
                }
                Value::Array(vs)
            }
            tag::MAP => Value::Map(self.attributes(depth + 1)?),
            other => return Err(self.err(&format!("unknown value tag {other}"))),
        })
    }

    fn attributes(&mut self, depth: usize) -> Result<Vec<KeyValue>, StorageError> {
        let n = self.count()?;
        self.attribute_list(n, depth)
    }

    /// `n` attributes, each a text key and a value.
    fn attribute_list(&mut self, n: usize, depth: usize) -> Result<Vec<KeyValue>, StorageError> {
        let mut kvs = Vec::with_capacity(n);
        for _ in 0..n {
            let (key, id) = self.text(Some(TextKind::Key))?;
            let value = self.value(depth, id)?;
            kvs.push(KeyValue { key, value });
        }
        Ok(kvs)
    }

    fn span_id(&mut self) -> Result<SpanId, StorageError> {
        Ok(SpanId(self.array()?))
    }

    /// A span's own attributes (see `put_span_attributes`).
    fn span_attributes(&mut self) -> Result<Vec<KeyValue>, StorageError> {
        if self.chunk < CHUNK_VERSION {
            return self.attributes(0);
        }
        let v = self.varint()?;
        let n = v >> 1;
        if v & 1 == 0 {
            let n = self.checked_count(n)?;
            return self.attribute_list(n, 0);
        }
        let widths = [self.u8()?, self.u8()?];
        if widths.iter().any(|&w| w == 0 || w > 32) {
            return Err(self.err("bad packed attribute width"));
        }
        let bits = n.saturating_mul((widths[0] + widths[1]) as u64);
        let bytes = self.take_len(bits.div_ceil(8))?;
        let mut r = BitReader { bytes, at: 0 };
        let mut kvs = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let key = r.get(widths[0]);
            let value = r.get(widths[1]);
            let (key, _) = self.string_id(u64::from(key) << 1 | 1, Some(TextKind::Key))?;
            let space = Some(TextKind::Value { key: 0 });
            let (value, _) = self.string_id(u64::from(value) << 1 | 1, space)?;
            kvs.push(KeyValue {
                key,
                value: Value::Str(value),
            });
        }
        Ok(kvs)
    }
}

/// Reads what [`BitWriter`] wrote; the caller bounds the reads by the bytes' length.
struct BitReader<'b> {
    bytes: &'b [u8],
    /// Bits read.
    at: u64,
}

impl BitReader<'_> {
    fn get(&mut self, width: u8) -> u32 {
        let from = (self.at / 8) as usize;
        let mut window = 0u64;
        for (i, &b) in self.bytes[from..].iter().take(5).enumerate() {
            window |= u64::from(b) << (8 * i);
        }
        let v = (window >> (self.at % 8)) & ((1u64 << width) - 1);
        self.at += u64::from(width);
        v as u32
    }
}

/// Decodes a chunk written by [`ChunkEncoder::encode`], appending its spans to `out`;
/// `strings` resolves its string IDs (the table of the partition the chunk was read from).
pub fn decode_chunk(
    trace_id: TraceId,
    bytes: &[u8],
    strings: &dyn StringTable,
    out: &mut Vec<Span>,
) -> Result<(), StorageError> {
    let mut r = match bytes.first() {
        Some(&v @ (CHUNK_VERSION_PLAIN | CHUNK_VERSION_TEXTS | CHUNK_VERSION_HEADERS)) => Reader {
            chunk: v,
            strings,
            ..Reader::versioned(bytes, CHUNK, v)?
        },
        _ => Reader {
            chunk: CHUNK_VERSION,
            strings,
            ..Reader::versioned(bytes, CHUNK, CHUNK_VERSION)?
        },
    };
    let n = r.count()?;
    let mut resources = Vec::with_capacity(n);
    for _ in 0..n {
        resources.push(Arc::new(Resource {
            attributes: r.attributes(0)?,
            dropped_attributes_count: r.u32()?,
            schema_url: r.string()?,
        }));
    }
    let n = r.count()?;
    let mut scopes = Vec::with_capacity(n);
    for _ in 0..n {
        scopes.push(Arc::new(Scope {
            name: r.string()?,
            version: r.string()?,
            attributes: r.attributes(0)?,
            dropped_attributes_count: r.u32()?,
            schema_url: r.string()?,
        }));
    }
    let n = r.count()?;
    out.reserve(n);
    let first = out.len();
    // (position in `out`, index in the chunk of its parent), resolved once all are read.
    let mut parents: Vec<(usize, usize)> = Vec::new();
    let mut previous_start = 0;
    for _ in 0..n {
        // Indices, not counts: bounded by the tables, not by the bytes left.
        let resource = resources
            .get(r.index()?)
            .cloned()
            .ok_or_else(|| r.err("resource index out of range"))?;
        let scope = scopes
            .get(r.index()?)
            .cloned()
            .ok_or_else(|| r.err("scope index out of range"))?;
        let (span, parent) = read_span(&mut r, trace_id, resource, scope, previous_start)?;
        if let Some(i) = parent {
            if i >= n {
                return Err(r.err("parent index out of range"));
            }
            parents.push((out.len(), i));
        }
        previous_start = span.start_ns;
        out.push(span);
    }
    for (at, i) in parents {
        out[at].parent_span_id = out[first + i].span_id;
    }
    if r.remaining() != 0 {
        return Err(r.err("trailing bytes"));
    }
    Ok(())
}

/// A span, and the chunk index of its parent when it is written as one (resolved by the
/// caller).
fn read_span(
    r: &mut Reader<'_>,
    trace_id: TraceId,
    resource: Arc<Resource>,
    scope: Arc<Scope>,
    previous_start: u64,
) -> Result<(Span, Option<usize>), StorageError> {
    if r.chunk < CHUNK_VERSION_HEADERS {
        return read_span_v2(r, trace_id, resource, scope, previous_start);
    }
    let span_id = r.span_id()?;
    let h = r.u8()?;
    let kind = span_kind(r, h & 0b111)?;
    let code = status_code(r, (h >> header::STATUS_SHIFT) & 0b11)?;
    let (parent_span_id, parent_index) = match (h >> header::PARENT_SHIFT) & 0b11 {
        header::PARENT_NONE => (SpanId::ZERO, None),
        header::PARENT_ID => (r.span_id()?, None),
        header::PARENT_INDEX => (SpanId::ZERO, Some(r.index()?)),
        _ => return Err(r.err("bad parent kind")),
    };
    let name = r.name()?;
    let start_ns = r.delta_from(previous_start)?;
    let end_ns = r.delta_from(start_ns)?;
    let mut span = Span {
        trace_id,
        span_id,
        parent_span_id,
        name,
        kind,
        start_ns,
        end_ns,
        attributes: r.span_attributes()?,
        status: Status {
            code,
            message: String::new(),
        },
        flags: r.u32()?,
        resource,
        scope,
        ..Span::default()
    };
    if h & header::RARE != 0 {
        span.trace_state = r.string()?;
        span.dropped_attributes_count = r.u32()?;
        span.events = read_events(r, start_ns)?;
        span.dropped_events_count = r.u32()?;
        span.links = read_links(r)?;
        span.dropped_links_count = r.u32()?;
        span.status.message = r.string()?;
    }
    Ok((span, parent_index))
}

/// [`read_span`] of version-1 and version-2 chunks.
fn read_span_v2(
    r: &mut Reader<'_>,
    trace_id: TraceId,
    resource: Arc<Resource>,
    scope: Arc<Scope>,
    previous_start: u64,
) -> Result<(Span, Option<usize>), StorageError> {
    let span_id = r.span_id()?;
    let (parent_span_id, parent_index) = match r.varint()? {
        V2_PARENT_NONE => (SpanId::ZERO, None),
        V2_PARENT_ID => (r.span_id()?, None),
        i if r.chunk >= CHUNK_VERSION_TEXTS => {
            (SpanId::ZERO, Some((i - V2_PARENT_INDEX_BASE) as usize))
        }
        _ => return Err(r.err("bad parent flag")),
    };
    let trace_state = r.string()?;
    let name = r.name()?;
    let kind_byte = r.u8()?;
    let kind = span_kind(r, kind_byte)?;
    let start_ns = if r.chunk >= CHUNK_VERSION_TEXTS {
        r.delta_from(previous_start)?
    } else {
        r.varint()?
    };
    let end_ns = r.delta_from(start_ns)?;
    let attributes = r.attributes(0)?;
    let dropped_attributes_count = r.u32()?;
    let events = read_events(r, start_ns)?;
    let dropped_events_count = r.u32()?;
    let links = read_links(r)?;
    let dropped_links_count = r.u32()?;
    let code_byte = r.u8()?;
    let code = status_code(r, code_byte)?;
    let message = r.string()?;
    let flags = r.u32()?;
    let span = Span {
        trace_id,
        span_id,
        parent_span_id,
        trace_state,
        name,
        kind,
        start_ns,
        end_ns,
        attributes,
        dropped_attributes_count,
        events,
        dropped_events_count,
        links,
        dropped_links_count,
        status: Status { code, message },
        flags,
        resource,
        scope,
    };
    Ok((span, parent_index))
}

fn span_kind(r: &Reader<'_>, b: u8) -> Result<SpanKind, StorageError> {
    SpanKind::ALL
        .get(b as usize)
        .copied()
        .ok_or_else(|| r.err("bad span kind"))
}

fn status_code(r: &Reader<'_>, b: u8) -> Result<StatusCode, StorageError> {
    match b {
        0 => Ok(StatusCode::Unset),
        1 => Ok(StatusCode::Ok),
        2 => Ok(StatusCode::Error),
        _ => Err(r.err("bad status code")),
    }
}

fn read_events(r: &mut Reader<'_>, start_ns: u64) -> Result<Vec<Event>, StorageError> {
    let n = r.count()?;
    let mut events = Vec::with_capacity(n);
    for _ in 0..n {
        events.push(Event {
            time_ns: r.delta_from(start_ns)?,
            name: r.name()?,
            attributes: r.attributes(0)?,
            dropped_attributes_count: r.u32()?,
        });
    }
    Ok(events)
}

fn read_links(r: &mut Reader<'_>) -> Result<Vec<Link>, StorageError> {
    let n = r.count()?;
    let mut links = Vec::with_capacity(n);
    for _ in 0..n {
        links.push(Link {
            trace_id: TraceId(r.array()?),
            span_id: r.span_id()?,
            trace_state: r.string()?,
            attributes: r.attributes(0)?,
            dropped_attributes_count: r.u32()?,
            flags: r.u32()?,
        });
    }
    Ok(links)
}

/// Builds segment values: sub-terms in byte order, each with its ordinals.
#[derive(Debug, Default)]
pub struct SegmentWriter {
    /// The ID section so far, its entries and the last ID in it.
    ids: Vec<u8>,
    n_ids: usize,
    last_id: Option<u32>,
    /// The other sub-terms so far, their number and the last one.
    body: Vec<u8>,
    n: usize,
    previous: Vec<u8>,
    ordinals: Vec<u8>,
}

impl SegmentWriter {
    /// Adds a sub-term (greater than the previous one) and its ordinals (ascending, distinct,
    /// at least one).
    pub fn push(&mut self, subterm: &[u8], ordinals: &[u32]) {
        self.ordinals.clear();
        let mut prev = None;
        for &o in ordinals {
            put_varint(&mut self.ordinals, prev.map_or(o, |p| o - p) as u64);
            prev = Some(o);
        }
        if let Some(id) = keys::parse_value_id_subterm(subterm) {
            let delta = id - self.last_id.unwrap_or(0);
            self.last_id = Some(id);
            let single = ordinals.len() == 1;
            put_varint(&mut self.ids, (delta as u64) << 1 | single as u64);
            if !single {
                put_varint(&mut self.ids, ordinals.len() as u64);
                put_varint(&mut self.ids, self.ordinals.len() as u64);
            }
            self.ids.extend_from_slice(&self.ordinals);
            self.n_ids += 1;
            return;
        }
        let shared = self
            .previous
            .iter()
            .zip(subterm)
            .take_while(|(a, b)| a == b)
            .count();
        put_varint(&mut self.body, shared as u64);
        put_varint(&mut self.body, (subterm.len() - shared) as u64);
        self.body.extend_from_slice(&subterm[shared..]);
        self.previous.clear();
        self.previous.extend_from_slice(subterm);
        put_varint(&mut self.body, ordinals.len() as u64);
        put_varint(&mut self.body, self.ordinals.len() as u64);
        self.body.extend_from_slice(&self.ordinals);
        self.n += 1;
    }

    /// Whether no sub-term was pushed since the last [`Self::finish`].
    pub fn is_empty(&self) -> bool {
        self.n == 0 && self.n_ids == 0
    }

    /// Replaces `out` with the segment of the pushed sub-terms, whose oldest posting is
    /// `oldest_gap` minutes before the key's newest minute, and starts a new one.
    pub fn finish(&mut self, oldest_gap: u32, out: &mut Vec<u8>) {
        out.clear();
        out.push(SEGMENT_VERSION);
        put_varint(out, oldest_gap as u64);
        put_varint(out, self.n_ids as u64);
        put_varint(out, self.ids.len() as u64);
        put_varint(out, self.n as u64);
        out.extend_from_slice(&self.ids);
        out.extend_from_slice(&self.body);
        self.ids.clear();
        self.n_ids = 0;
        self.last_id = None;
        self.body.clear();
        self.previous.clear();
        self.n = 0;
    }
}

/// A segment's header read.
struct SegmentHeader<'b> {
    oldest_gap: u32,
    n_ids: u64,
    /// Stands at the ID section.
    ids: Reader<'b>,
    n: u64,
    /// Stands at the other sub-terms.
    rest: Reader<'b>,
}

fn segment_header(bytes: &[u8]) -> Result<SegmentHeader<'_>, StorageError> {
    let mut r = Reader::new(bytes, SEGMENT);
    let version = r.u8()?;
    if version != SEGMENT_VERSION && version != SEGMENT_VERSION_TEXTS {
        return Err(r.err(&format!("unknown {SEGMENT} version {version}")));
    }
    let oldest_gap =
        u32::try_from(r.varint()?).map_err(|_| r.err("oldest minute gap too large"))?;
    let (n_ids, ids_len) = if version == SEGMENT_VERSION {
        (r.varint()?, r.varint()?)
    } else {
        (0, 0)
    };
    let n = r.varint()?;
    if ids_len > r.remaining() as u64 {
        return Err(r.err("ID section exceeds remaining bytes"));
    }
    let ids = Reader::new(r.take(ids_len as usize)?, SEGMENT);
    if n_ids > (ids_len as usize / MIN_ID_SUBTERM_BYTES) as u64
        || n > (r.remaining() / MIN_SUBTERM_BYTES) as u64
    {
        return Err(r.err("count exceeds remaining bytes"));
    }
    Ok(SegmentHeader {
        oldest_gap,
        n_ids,
        ids,
        n,
        rest: r,
    })
}

/// How many minutes the oldest posting of a segment lies before its key's newest minute.
pub fn segment_oldest_gap(bytes: &[u8]) -> Result<u32, StorageError> {
    Ok(segment_header(bytes)?.oldest_gap)
}

/// Walks a segment's sub-terms in order, handing each (sub-term, ordinal count, ordinal bytes)
/// to `visit` until it returns `false`; skips the ID section when `ids` is `false`. Checks
/// that each section ends with its last sub-term.
fn walk_segment(
    bytes: &[u8],
    ids: bool,
    mut visit: impl FnMut(&[u8], u64, &[u8]) -> Result<bool, StorageError>,
) -> Result<(), StorageError> {
    let SegmentHeader {
        n_ids,
        ids: mut r,
        n,
        rest,
        ..
    } = segment_header(bytes)?;
    let mut last: Option<u32> = None;
    for _ in 0..if ids { n_ids } else { 0 } {
        let v = r.varint()?;
        let delta = u32::try_from(v >> 1).map_err(|_| r.err("value ID exceeds u32"))?;
        let id = match last {
            None => Some(delta),
            Some(l) if delta > 0 => l.checked_add(delta),
            Some(_) => None,
        }
        .ok_or_else(|| r.err("value IDs not ascending"))?;
        last = Some(id);
        let (count, ordinals) = if v & 1 == 1 {
            let from = r.pos;
            r.varint()?;
            (1, &r.buf[from..r.pos])
        } else {
            ordinal_list(&mut r)?
        };
        if !visit(&keys::value_id_subterm(id), count, ordinals)? {
            return Ok(());
        }
    }
    if ids && r.remaining() != 0 {
        return Err(r.err("trailing bytes after the ID section"));
    }
    let mut r = rest;
    let mut subterm: Vec<u8> = Vec::new();
    for _ in 0..n {
        let shared = r.varint()?;
        if shared > subterm.len() as u64 {
            return Err(r.err("shared prefix longer than the previous sub-term"));
        }
        subterm.truncate(shared as usize);
        let suffix = r.varint()?;
        if suffix > r.remaining() as u64 {
            return Err(r.err("sub-term exceeds remaining bytes"));
        }
        subterm.extend_from_slice(r.take(suffix as usize)?);
        let (count, ordinals) = ordinal_list(&mut r)?;
        if !visit(&subterm, count, ordinals)? {
            return Ok(());
        }
    }
    if r.remaining() != 0 {
        return Err(r.err("trailing bytes"));
    }
    Ok(())
}

/// A sub-term's ordinal count and ordinal bytes.
fn ordinal_list<'b>(r: &mut Reader<'b>) -> Result<(u64, &'b [u8]), StorageError> {
    let count = r.varint()?;
    let len = r.varint()?;
    if len > r.remaining() as u64 || count > len {
        return Err(r.err("ordinals exceed remaining bytes"));
    }
    Ok((count, r.take(len as usize)?))
}

/// Appends `count` delta-coded ordinals to `out`.
fn decode_ordinals(count: u64, bytes: &[u8], out: &mut Vec<u32>) -> Result<(), StorageError> {
    let mut r = Reader::new(bytes, SEGMENT);
    out.reserve(count as usize);
    let mut prev: Option<u32> = None;
    for _ in 0..count {
        let gap = r.varint()?;
        let o = match prev {
            None => u32::try_from(gap).ok(),
            Some(p) if gap > 0 => u32::try_from(gap).ok().and_then(|g| p.checked_add(g)),
            Some(_) => None,
        }
        .ok_or_else(|| r.err("ordinals not ascending"))?;
        out.push(o);
        prev = Some(o);
    }
    if r.remaining() != 0 {
        return Err(r.err("trailing ordinal bytes"));
    }
    Ok(())
}

/// Appends the ordinals of `subterm` in a segment to `out`; `false` when it has none.
pub fn find_in_segment(
    bytes: &[u8],
    subterm: &[u8],
    out: &mut Vec<u32>,
) -> Result<bool, StorageError> {
    let mut found = Ok(false);
    let ids = keys::parse_value_id_subterm(subterm).is_some();
    walk_segment(bytes, ids, |s, count, ordinals| match s.cmp(subterm) {
        std::cmp::Ordering::Less => Ok(true),
        std::cmp::Ordering::Greater => Ok(false),
        std::cmp::Ordering::Equal => {
            found = decode_ordinals(count, ordinals, out).map(|()| true);
            Ok(false)
        }
    })?;
    found
}

/// A sub-term of a segment and its ordinals.
pub type SubtermOrdinals = (Vec<u8>, Vec<u32>);

/// Every (sub-term, ordinals) of a segment, in order (tests and tools).
pub fn decode_segment(bytes: &[u8]) -> Result<Vec<SubtermOrdinals>, StorageError> {
    let mut out = Vec::new();
    walk_segment(bytes, true, |s, count, ordinals| {
        let mut ords = Vec::new();
        decode_ordinals(count, ordinals, &mut ords)?;
        out.push((s.to_vec(), ords));
        Ok(true)
    })?;
    Ok(out)
}

/// Replaces `out` with the trace-table block of `entries`, which must be in
/// [`Posting::search_order`].
pub fn encode_trace_block(entries: &[Posting], out: &mut Vec<u8>) {
    out.clear();
    out.push(TRACE_BLOCK_VERSION);
    let mut prev = entries.first().map_or(0, |p| p.minute);
    put_varint(out, prev as u64);
    put_varint(out, entries.len() as u64);
    for p in entries {
        put_varint(out, prev.saturating_sub(p.minute) as u64);
        prev = p.minute;
        out.extend_from_slice(&p.trace_id.0);
        put_varint(out, p.min_us as u64);
        put_varint(out, p.max_us.saturating_sub(p.min_us) as u64);
    }
}

/// Replaces `out` with the entries of a block written by [`encode_trace_block`].
pub fn decode_trace_block(bytes: &[u8], out: &mut Vec<Posting>) -> Result<(), StorageError> {
    out.clear();
    let mut r = Reader::versioned(bytes, TRACE_BLOCK, TRACE_BLOCK_VERSION)?;
    let mut minute = u32::try_from(r.varint()?).map_err(|_| r.err("first minute beyond u32"))?;
    let n = r.varint()?;
    if n > (r.remaining() / MIN_TRACE_ENTRY_BYTES) as u64 {
        return Err(r.err("count exceeds remaining bytes"));
    }
    out.reserve(n as usize);
    for _ in 0..n {
        let gap = r.varint()?;
        minute = u32::try_from(gap)
            .ok()
            .and_then(|g| minute.checked_sub(g))
            .ok_or_else(|| r.err("minute gap below zero"))?;
        let trace_id = TraceId(r.array()?);
        let min_us = r.varint()?;
        let max_us = min_us.saturating_add(r.varint()?);
        if max_us > MICROS_PER_MINUTE {
            return Err(r.err("start range beyond its minute"));
        }
        out.push(Posting {
            minute,
            trace_id,
            min_us: min_us as u32,
            max_us: max_us as u32,
        });
    }
    if r.remaining() != 0 {
        return Err(r.err("trailing bytes"));
    }
    Ok(())
}

/// Replaces `out` with the write-log row of the chunks `(trace_id, chunk_id)`.
pub fn encode_write_log(chunks: &[(TraceId, u64)], out: &mut Vec<u8>) {
    out.clear();
    out.push(WRITE_LOG_VERSION);
    put_varint(out, chunks.len() as u64);
    for (id, chunk) in chunks {
        out.extend_from_slice(&id.0);
        out.extend_from_slice(&chunk.to_be_bytes());
    }
}

/// Decodes a write-log row written by [`encode_write_log`].
pub fn decode_write_log(bytes: &[u8]) -> Result<Vec<(TraceId, u64)>, StorageError> {
    let mut r = Reader::versioned(bytes, WRITE_LOG, WRITE_LOG_VERSION)?;
    let n = r.varint()?;
    if n.saturating_mul(WRITE_LOG_ENTRY_BYTES as u64) != r.remaining() as u64 {
        return Err(r.err("count does not match the remaining bytes"));
    }
    let mut out = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let id = TraceId(r.array()?);
        out.push((id, u64::from_be_bytes(r.array()?)));
    }
    Ok(out)
}
#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn string() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(String::new()),
            Just("\0".to_string()),
            "[a-z\\x00]{0,6}",
            any::<String>(),
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Empty),
            string().prop_map(|s| Value::Str(s.into())),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::Int),
            any::<f64>()
                .prop_filter("NaN never equals itself", |d| !d.is_nan())
                .prop_map(Value::Double),
            prop::collection::vec(any::<u8>(), 0..8).prop_map(Value::Bytes),
        ];
        leaf.prop_recursive(4, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec((string(), inner), 0..4).prop_map(|kvs| Value::Map(
                    kvs.into_iter()
                        .map(|(key, value)| KeyValue::new(key, value))
                        .collect()
                )),
            ]
        })
    }

    fn attrs() -> impl Strategy<Value = Vec<KeyValue>> {
        prop::collection::vec(
            (string(), value()).prop_map(|(key, value)| KeyValue::new(key, value)),
            0..4,
        )
    }

    fn resource() -> impl Strategy<Value = Resource> {
        (attrs(), any::<u32>(), string()).prop_map(|(attributes, d, schema_url)| Resource {
            attributes,
            dropped_attributes_count: d,
            schema_url,
        })
    }

    fn scope() -> impl Strategy<Value = Scope> {
        (string(), string(), attrs(), any::<u32>(), string()).prop_map(
            |(name, version, attributes, d, schema_url)| Scope {
                name,
                version,
                attributes,
                dropped_attributes_count: d,
                schema_url,
            },
        )
    }

    fn event() -> impl Strategy<Value = Event> {
        (any::<u64>(), string(), attrs(), any::<u32>()).prop_map(|(time_ns, name, a, d)| Event {
            time_ns,
            name,
            attributes: a,
            dropped_attributes_count: d,
        })
    }

    fn link() -> impl Strategy<Value = Link> {
        (
            any::<[u8; 16]>(),
            any::<[u8; 8]>(),
            string(),
            attrs(),
            any::<u32>(),
            any::<u32>(),
        )
            .prop_map(|(t, s, trace_state, a, d, flags)| Link {
                trace_id: TraceId(t),
                span_id: SpanId(s),
                trace_state,
                attributes: a,
                dropped_attributes_count: d,
                flags,
            })
    }

    /// A span without resource/scope (assigned from the chunk's tables by the caller).
    fn span() -> impl Strategy<Value = Span> {
        let ids = (
            any::<[u8; 8]>(),
            any::<[u8; 8]>(),
            string(),
            string(),
            0usize..6,
        );
        let times = (any::<u64>(), any::<u64>(), any::<u32>(), any::<u32>());
        let bodies = (
            attrs(),
            prop::collection::vec(event(), 0..3),
            prop::collection::vec(link(), 0..3),
            0u8..3,
            string(),
            any::<u32>(),
            any::<u32>(),
        );
        // Which of the seven rarely set fields to keep: none, one or all, so that every one
        // of them is often the only one set.
        let keep = prop_oneof![Just(0u8), (0..7u8).prop_map(|i| 1 << i), Just(0x7f)];
        (ids, times, bodies, keep).prop_map(|(ids, times, bodies, keep)| {
            let (sid, pid, trace_state, name, kind) = ids;
            let (start_ns, end_ns, da, de) = times;
            let (attributes, events, links, code, message, dl, flags) = bodies;
            let kept = |bit: u8| keep & 1 << bit != 0;
            let trace_state = if kept(0) { trace_state } else { String::new() };
            let da = if kept(1) { da } else { 0 };
            let events = if kept(2) { events } else { Vec::new() };
            let de = if kept(3) { de } else { 0 };
            let links = if kept(4) { links } else { Vec::new() };
            let dl = if kept(5) { dl } else { 0 };
            let message = if kept(6) { message } else { String::new() };
            Span {
                trace_id: TraceId::from_u128(7),
                span_id: SpanId(sid),
                parent_span_id: SpanId(pid),
                trace_state,
                name,
                kind: SpanKind::ALL[kind],
                start_ns,
                end_ns,
                attributes,
                dropped_attributes_count: da,
                events,
                dropped_events_count: de,
                links,
                dropped_links_count: dl,
                status: Status {
                    code: StatusCode::from_i32(code as i32),
                    message,
                },
                flags,
                resource: Arc::default(),
                scope: Arc::default(),
            }
        })
    }

    /// Spans sharing resources and scopes; some have a parent (or a span ID) of another span
    /// of the chunk, as real traces do.
    fn chunk() -> impl Strategy<Value = Vec<Span>> {
        let picks = (
            any::<usize>(),
            any::<usize>(),
            any::<Option<usize>>(),
            any::<Option<usize>>(),
        );
        (
            prop::collection::vec(resource(), 1..3),
            prop::collection::vec(scope(), 1..3),
            prop::collection::vec((span(), picks), 0..5),
        )
            .prop_map(|(rs, cs, spans)| {
                let rs: Vec<_> = rs.into_iter().map(Arc::new).collect();
                let cs: Vec<_> = cs.into_iter().map(Arc::new).collect();
                let ids: Vec<SpanId> = spans.iter().map(|(s, _)| s.span_id).collect();
                spans
                    .into_iter()
                    .map(|(mut s, (ri, ci, parent, same_id))| {
                        s.resource = rs[ri % rs.len()].clone();
                        s.scope = cs[ci % cs.len()].clone();
                        if let Some(p) = parent {
                            s.parent_span_id = ids[p % ids.len()];
                        }
                        if let Some(d) = same_id {
                            s.span_id = ids[d % ids.len()];
                        }
                        s
                    })
                    .collect()
            })
    }

    /// A string table that takes the strings `admit` accepts, numbered per space.
    struct TestTable {
        strings: Vec<(Space, String)>,
        admit: fn(&str, TextKind) -> bool,
    }

    impl TestTable {
        fn new(admit: fn(&str, TextKind) -> bool) -> Self {
            TestTable {
                strings: Vec::new(),
                admit,
            }
        }
    }

    impl StringIds for TestTable {
        fn id(&mut self, s: &str, kind: TextKind) -> Option<u32> {
            let space = kind.space();
            let mut of_space = self.strings.iter().filter(|(k, _)| *k == space);
            if let Some(i) = of_space.position(|(_, t)| t == s) {
                return Some(i as u32);
            }
            (self.admit)(s, kind).then(|| {
                let id = self.strings.iter().filter(|(k, _)| *k == space).count();
                self.strings.push((space, s.to_owned()));
                id as u32
            })
        }
    }

    impl StringTable for TestTable {
        fn text(&self, space: Space, id: u32) -> Option<&str> {
            let mut of_space = self.strings.iter().filter(|(k, _)| *k == space);
            of_space.nth(id as usize).map(|(_, t)| t.as_str())
        }
    }

    /// Takes about half of the strings, and none of the values of key 0 (a capped key).
    fn some_strings(s: &str, kind: TextKind) -> bool {
        kind != (TextKind::Value { key: 0 }) && fnv1a64(s.as_bytes()) % 2 == 0
    }

    fn round_trip(spans: &[Span]) -> Vec<Span> {
        let mut table = TestTable::new(some_strings);
        let mut buf = Vec::new();
        ChunkEncoder::new().encode(spans.iter(), &mut table, &mut buf);
        let mut out = Vec::new();
        decode_chunk(TraceId::from_u128(7), &buf, &table, &mut out).expect("decodes");
        out
    }

    proptest! {
        #[test]
        fn chunks_round_trip_exactly(spans in chunk()) {
            prop_assert_eq!(round_trip(&spans), spans);
        }

        #[test]
        fn spans_of_string_attributes_with_ids_round_trip_packed(
            spans in prop::collection::vec(
                prop::collection::vec((0u32..40, 0u32..700), 0..14), 1..6),
        ) {
            // IDs up to 10 bits wide, in every combination of widths a chunk can see.
            let spans: Vec<Span> = spans
                .into_iter()
                .enumerate()
                .map(|(i, attrs)| Span {
                    trace_id: TraceId::from_u128(7),
                    span_id: SpanId::from_u64(i as u64 + 1),
                    attributes: attrs
                        .into_iter()
                        .map(|(k, v)| KeyValue::string(format!("k{k}"), format!("v{v}")))
                        .collect(),
                    ..Span::default()
                })
                .collect();
            let mut table = TestTable::new(|_, _| true);
            let mut buf = Vec::new();
            ChunkEncoder::new().encode(spans.iter(), &mut table, &mut buf);
            let mut out = Vec::new();
            decode_chunk(TraceId::from_u128(7), &buf, &table, &mut out).expect("decodes");
            prop_assert_eq!(out, spans);
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(
            bytes in prop::collection::vec(any::<u8>(), 0..256),
        ) {
            let mut out = Vec::new();
            let _ = decode_chunk(TraceId::ZERO, &bytes, &Inline, &mut out);
            let mut postings = Vec::new();
            let _ = decode_trace_block(&bytes, &mut postings);
            let _ = decode_segment(&bytes);
            let _ = find_in_segment(&bytes, b"v", &mut Vec::new());
            let _ = segment_oldest_gap(&bytes);
            let _ = decode_write_log(&bytes);
            let _ = decode_string_row(&bytes);
        }

        #[test]
        fn string_rows_round_trip(space in 0usize..3, id in any::<u32>(), text in string()) {
            let space = Space::ALL[space];
            let mut buf = Vec::new();
            encode_string_row(space, id, &text, &mut buf);
            prop_assert_eq!(decode_string_row(&buf).expect("decodes"), (space, id, text.as_str()));
            prop_assert!(decode_string_row(&buf[..2]).is_err());
        }

        #[test]
        fn trace_blocks_round_trip(
            raw in prop::collection::vec(
                (any::<u32>(), any::<[u8; 16]>(), 0u32..=60_000_000, 0u32..=60_000_000), 0..40),
        ) {
            let mut entries: Vec<Posting> = raw
                .into_iter()
                .map(|(minute, id, a, b)| Posting {
                    minute,
                    trace_id: TraceId(id),
                    min_us: a.min(b),
                    max_us: a.max(b),
                })
                .collect();
            entries.sort_by_key(Posting::search_order);
            let mut buf = Vec::new();
            encode_trace_block(&entries, &mut buf);
            let mut out = Vec::new();
            decode_trace_block(&buf, &mut out).expect("decodes");
            prop_assert_eq!(&out, &entries);
            // Every truncation is an error, never a panic.
            for cut in 0..buf.len() {
                prop_assert!(decode_trace_block(&buf[..cut], &mut Vec::new()).is_err());
            }
        }

        #[test]
        fn segments_round_trip_and_find_their_subterms(
            ids in prop::collection::btree_map(
                0u32..2_000,
                prop::collection::btree_set(any::<u32>(), 1..8),
                0..12,
            ),
            big_id in any::<u32>(),
            // Sub-terms other than IDs never start with a zero byte followed by another (see
            // `keys::value_id_subterm`); the empty one (S/O/D groups) is in groups without IDs.
            raw in prop::collection::btree_map(
                prop::collection::vec(any::<u8>(), 0..6)
                    .prop_filter("not an ID form", |s| s.first() != Some(&0) || s.get(1) == Some(&1)),
                prop::collection::btree_set(any::<u32>(), 1..8),
                0..12,
            ),
            gap in any::<u32>(),
            probe in prop::collection::vec(any::<u8>(), 0..6),
            probe_id in 0u32..2_000,
        ) {
            let mut ids = ids;
            // An ID far from the others: deltas of every width.
            ids.entry(big_id).or_insert_with(|| [7].into());
            let mut raw = raw;
            if !ids.is_empty() {
                raw.remove(&Vec::new());
            }
            let entries: Vec<(Vec<u8>, Vec<u32>)> = ids
                .into_iter()
                .map(|(id, ords)| (keys::value_id_subterm(id).to_vec(), ords))
                .chain(raw)
                .map(|(s, ords)| (s, ords.into_iter().collect()))
                .collect();
            let mut w = SegmentWriter::default();
            for (s, ords) in &entries {
                w.push(s, ords);
            }
            let mut buf = Vec::new();
            w.finish(gap, &mut buf);
            prop_assert!(w.is_empty());
            prop_assert_eq!(segment_oldest_gap(&buf).expect("header"), gap);
            prop_assert_eq!(&decode_segment(&buf).expect("decodes"), &entries);
            for (s, ords) in &entries {
                let mut found = Vec::new();
                prop_assert!(find_in_segment(&buf, s, &mut found).expect("finds"));
                prop_assert_eq!(&found, ords);
            }
            for probe in [probe, keys::value_id_subterm(probe_id).to_vec()] {
                let mut found = Vec::new();
                let present = entries.iter().any(|(s, _)| *s == probe);
                prop_assert_eq!(find_in_segment(&buf, &probe, &mut found).expect("probes"), present);
            }
            for cut in 0..buf.len() {
                prop_assert!(decode_segment(&buf[..cut]).is_err());
            }
        }

        #[test]
        fn postings_widen_to_whole_microseconds_of_their_minute(
            minute in 0u64..300_000_000, a in 0u64..60_000_000_000, b in 0u64..60_000_000_000,
        ) {
            let base = minute * 60_000_000_000;
            let (min, max) = (base + a.min(b), base + a.max(b));
            let p = Posting::new(TraceId::from_u128(1), min, max);
            prop_assert_eq!(p.minute as u64, minute);
            let (dmin, dmax) = p.start_range_ns();
            prop_assert!(dmin <= min && min - dmin < 1000);
            prop_assert!(dmax >= max && dmax - max < 1000);
        }

        #[test]
        fn write_logs_round_trip(raw in prop::collection::vec((any::<u128>(), any::<u64>()), 0..20)) {
            let chunks: Vec<(TraceId, u64)> =
                raw.into_iter().map(|(t, c)| (TraceId::from_u128(t), c)).collect();
            let mut buf = Vec::new();
            encode_write_log(&chunks, &mut buf);
            prop_assert_eq!(decode_write_log(&buf).expect("decodes"), chunks);
            if !buf.is_empty() {
                prop_assert!(decode_write_log(&buf[..buf.len() - 1]).is_err());
            }
        }

        #[test]
        fn decoding_mutated_chunks_never_panics(
            spans in chunk(), pos in any::<usize>(), b in any::<u8>(), cut in any::<usize>(),
        ) {
            let mut table = TestTable::new(some_strings);
            let mut buf = Vec::new();
            ChunkEncoder::new().encode(spans.iter(), &mut table, &mut buf);
            let i = pos % buf.len();
            buf[i] = b;
            buf.truncate(cut % (buf.len() + 1));
            let mut out = Vec::new();
            let _ = decode_chunk(TraceId::ZERO, &buf, &table, &mut out);
        }
    }

    #[test]
    fn shared_resources_are_stored_once_and_shared_again() {
        let res = Arc::new(Resource {
            attributes: vec![KeyValue::string("service.name", "svc")],
            ..Default::default()
        });
        let equal_copy = Arc::new((*res).clone());
        let spans: Vec<Span> = (0..3u64)
            .map(|i| Span {
                span_id: SpanId::from_u64(i),
                resource: if i == 2 {
                    equal_copy.clone()
                } else {
                    res.clone()
                },
                ..Default::default()
            })
            .collect();
        let mut buf = Vec::new();
        ChunkEncoder::new().encode(spans.iter(), &mut Inline, &mut buf);
        assert_eq!(buf[1], 1, "one resource in the table");
        let mut out = Vec::new();
        decode_chunk(TraceId::ZERO, &buf, &Inline, &mut out).expect("decodes");
        assert_eq!(out.len(), 3);
        assert!(Arc::ptr_eq(&out[0].resource, &out[2].resource));
        assert_eq!(*out[2].resource, *equal_copy);
    }

    #[test]
    fn too_deep_values_are_cut_and_stay_readable() {
        let mut v = Value::Int(1);
        for _ in 0..(MAX_VALUE_DEPTH + 5) {
            v = Value::Array(vec![v]);
        }
        let span = Span {
            attributes: vec![KeyValue::new("deep", v)],
            ..Default::default()
        };
        let out = round_trip(std::slice::from_ref(&span));
        assert_eq!(out.len(), 1);
        assert_ne!(out[0].attributes, span.attributes);
    }

    #[test]
    fn end_before_start_and_extreme_times_survive() {
        let span = Span {
            trace_id: TraceId::from_u128(7),
            start_ns: u64::MAX,
            end_ns: 3,
            events: vec![Event {
                time_ns: 0,
                ..Default::default()
            }],
            ..Default::default()
        };
        assert_eq!(round_trip(std::slice::from_ref(&span)), vec![span]);
    }

    fn workload_like_span(i: u64, parent: Option<u64>) -> Span {
        Span {
            trace_id: TraceId::from_u128(7),
            span_id: SpanId::from_u64(100 + i),
            parent_span_id: parent.map_or(SpanId::ZERO, |p| SpanId::from_u64(100 + p)),
            name: "service-3-op-1".into(),
            start_ns: 1_900_000_000_000_000_000 + i * 1_000_000,
            end_ns: 1_900_000_000_000_000_000 + i * 1_000_000 + 500_000,
            attributes: (0..11)
                .map(|k| KeyValue::string(format!("attr.key_{k:02}"), format!("value-{i:03}")))
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn string_ids_parent_indices_and_start_deltas_shrink_a_chunk() {
        let spans: Vec<Span> = (0..10)
            .map(|i| workload_like_span(i, i.checked_sub(1)))
            .collect();
        let mut inline = Vec::new();
        ChunkEncoder::new().encode(spans.iter(), &mut Inline, &mut inline);
        let mut table = TestTable::new(|_, _| true);
        let mut coded = Vec::new();
        ChunkEncoder::new().encode(spans.iter(), &mut table, &mut coded);
        // Per span: 11 × (key + value) IDs, a name ID, a parent index and a small start delta.
        assert!(
            coded.len() < inline.len() / 4,
            "{} vs {}",
            coded.len(),
            inline.len()
        );
        for (buf, strings) in [(&inline, &TestTable::new(|_, _| false)), (&coded, &table)] {
            let mut out = Vec::new();
            decode_chunk(TraceId::from_u128(7), buf, strings, &mut out).expect("decodes");
            assert_eq!(out, spans);
        }
    }

    #[test]
    fn an_unknown_string_id_is_a_corrupt_chunk() {
        let spans = [workload_like_span(0, None)];
        let mut table = TestTable::new(|_, _| true);
        let mut buf = Vec::new();
        ChunkEncoder::new().encode(spans.iter(), &mut table, &mut buf);
        let err = decode_chunk(TraceId::ZERO, &buf, &Inline, &mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("Names string ID 0"), "{err}");
    }

    /// The head of a hand-assembled chunk of `version`: one resource (service.name = "svc",
    /// inline strings whose length field `text_len` gives; no dropped attributes, no schema
    /// URL) and one empty scope.
    fn hand_made_chunk_head(version: u8, text_len: fn(u8) -> u8) -> Vec<u8> {
        let mut b = vec![version, 1, 1, text_len(12)];
        b.extend(b"service.name");
        b.extend([tag::STR, text_len(3)]);
        b.extend(b"svc");
        b.extend([0, 0]);
        b.extend([1, 0, 0, 0, 0, 0]);
        b
    }

    /// A version-1 chunk (format 3), assembled by hand: plain strings, a parent flag byte and
    /// absolute start times.
    #[test]
    fn version_1_chunks_still_decode() {
        let mut b = hand_made_chunk_head(1, |len| len);
        // Two spans: the root and a child naming it by ID.
        b.push(2);
        for (id, parent, start) in [(1u8, None, 5u8), (2, Some(1u8), 7)] {
            b.extend([0, 0]); // resource, scope
            b.extend([0, 0, 0, 0, 0, 0, 0, id]);
            match parent {
                None => b.push(0),
                Some(p) => b.extend([1, 0, 0, 0, 0, 0, 0, 0, p]),
            }
            b.extend([0, 2]); // trace_state, name
            b.extend(b"op");
            b.push(SpanKind::Server as u8);
            b.extend([start, 4]); // start, zigzag(end − start) = +2
            b.extend([1, 1]); // one attribute: k = "v"
            b.extend(b"k");
            b.extend([tag::STR, 1]);
            b.extend(b"v");
            b.extend([0, 0, 0, 0, 0]); // dropped attrs, events, dropped, links, dropped
            b.extend([StatusCode::Error as u8, 0, 1]); // status, message, flags
        }
        let mut out = Vec::new();
        decode_chunk(TraceId::from_u128(9), &b, &Inline, &mut out).expect("decodes");
        assert_eq!(out.len(), 2);
        assert_eq!(
            out[0].resource.attributes,
            vec![KeyValue::string("service.name", "svc")]
        );
        assert_eq!(out[1].parent_span_id, SpanId::from_u64(1));
        assert_eq!((out[1].start_ns, out[1].end_ns), (7, 9));
        assert_eq!(out[1].name, "op");
        assert_eq!(out[1].attributes, vec![KeyValue::string("k", "v")]);
        assert_eq!(out[1].status.code, StatusCode::Error);
        assert_eq!(out[1].flags, 1);
    }

    #[test]
    fn version_2_chunks_still_decode() {
        let strings = TestTable {
            strings: [
                (Space::Keys, "k"),
                (Space::Names, "op"),
                (Space::Values, "v"),
            ]
            .map(|(space, s)| (space, s.to_owned()))
            .to_vec(),
            admit: |_, _| false,
        };
        let mut b = hand_made_chunk_head(2, |len| len << 1);
        // Two spans: the root, and a child naming it by index with a link and an event.
        b.push(2);
        b.extend([0, 0, 0, 0, 0, 0, 0, 0, 0, 1]); // resource, scope, span ID 1
        b.extend([0, 0, 1]); // no parent, trace_state, name = string 0
        b.push(SpanKind::Server as u8);
        b.extend([10, 4]); // start = 5, end − start = +2
        b.extend([1, 1, tag::STR, 1]); // k = string value 0
        b.extend([0, 0, 0, 0, 0]); // dropped attrs, events, dropped, links, dropped
        b.extend([StatusCode::Error as u8, 0, 1]); // status, message, flags
        b.extend([0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2]); // resource, scope, span ID 2, parent 0
        b.extend([0, 4]); // trace_state, name inline
        b.extend(b"op");
        b.push(SpanKind::Client as u8);
        b.extend([4, 2, 1, 1, tag::INT, 6]); // start = 7, end = 8, k = 3
        b.extend([3, 1, 2, 1, 0, 0]); // 3 dropped attrs; an event at 8 named string 0
        b.extend([0, 1]); // no dropped events; one link
        b.extend([7; 16]);
        b.extend([0, 0, 0, 0, 0, 0, 0, 8]);
        b.extend([0, 0, 0, 0, 1]); // trace_state, attrs, dropped, flags; 1 dropped link
        b.extend([StatusCode::Ok as u8, 2]);
        b.extend(b"ok");
        b.push(0);
        let mut out = Vec::new();
        decode_chunk(TraceId::from_u128(9), &b, &strings, &mut out).expect("decodes");
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].name, "op");
        assert_eq!((out[0].start_ns, out[0].end_ns), (5, 7));
        assert_eq!(out[0].attributes, vec![KeyValue::string("k", "v")]);
        assert_eq!((out[0].status.code, out[0].flags), (StatusCode::Error, 1));
        let child = &out[1];
        assert_eq!(child.parent_span_id, SpanId::from_u64(1));
        assert_eq!(
            (child.kind, child.start_ns, child.end_ns),
            (SpanKind::Client, 7, 8)
        );
        assert_eq!(child.attributes, vec![KeyValue::new("k", Value::Int(3))]);
        assert_eq!(child.dropped_attributes_count, 3);
        assert_eq!(
            (child.events[0].time_ns, child.events[0].name.as_str()),
            (8, "op")
        );
        assert_eq!(child.links[0].trace_id, TraceId([7; 16]));
        assert_eq!(child.links[0].span_id, SpanId::from_u64(8));
        assert_eq!(child.dropped_links_count, 1);
        assert_eq!(
            child.status,
            Status {
                code: StatusCode::Ok,
                message: "ok".into()
            }
        );
    }

    #[test]
    fn span_attributes_are_packed_when_every_one_has_ids() {
        let mut table = TestTable::new(|_, _| true);
        let kvs = [("a", "x"), ("b", "z"), ("a", "y")].map(|(k, v)| KeyValue::string(k, v));
        // Keys a, b = 0, 1; values x, z, y = 0, 1, 2 (in order of first use).
        let (mut out, mut found) = (Vec::new(), Vec::new());
        put_span_attributes(&mut out, &kvs, &mut table, &mut found);
        // 3 packed; 1-bit keys, 2-bit values (0, 0), (1, 1), (0, 2), least significant bit
        // first: bit 3 (key 1), bit 4 (value 1) and bit 8 (value 2) are set.
        assert_eq!(out, [3 << 1 | 1, 1, 2, 0b0001_1000, 0b0000_0001]);
        // One value without an ID (an integer) and the list is written unpacked.
        let kvs = [
            KeyValue::string("a", "x"),
            KeyValue::new("b", Value::Int(3)),
        ];
        out.clear();
        put_span_attributes(&mut out, &kvs, &mut table, &mut found);
        assert_eq!(out, [2 << 1, 1, 1, 3, tag::INT << 1, 6]);
        // A packed list with a zero width is refused.
        let mut b = vec![CHUNK_VERSION, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0]; // an empty resource, scope
        b.extend([1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]); // one span: resource, scope, span ID 1
        b.extend([SpanKind::Server as u8, 0, 0, 0]); // header, name "", start, duration
        b.extend([1 << 1 | 1, 0, 1, 0, 0]); // one packed attribute, widths 0 and 1; flags
        let err =
            decode_chunk(TraceId::from_u128(1), &b, &table, &mut Vec::new()).expect_err("rejects");
        assert!(
            err.to_string().contains("bad packed attribute width"),
            "{err}"
        );
    }

    #[test]
    fn version_2_segments_still_decode() {
        // Gap 3; two sub-terms: "ab" with ordinals 1, 4; "ac" (one shared byte) with 7.
        let b = [
            SEGMENT_VERSION_TEXTS,
            3,
            2,
            0,
            2,
            b'a',
            b'b',
            2,
            2,
            1,
            3,
            1,
            1,
            b'c',
            1,
            1,
            7,
        ];
        assert_eq!(segment_oldest_gap(&b).expect("header"), 3);
        assert_eq!(
            decode_segment(&b).expect("decodes"),
            vec![(b"ab".to_vec(), vec![1, 4]), (b"ac".to_vec(), vec![7])]
        );
        let mut found = Vec::new();
        assert!(find_in_segment(&b, b"ac", &mut found).expect("finds"));
        assert_eq!(found, vec![7]);
    }

    #[test]
    fn value_ids_of_a_segment_must_ascend() {
        let mut w = SegmentWriter::default();
        w.push(&keys::value_id_subterm(5), &[1]);
        w.push(&keys::value_id_subterm(9), &[2, 3]);
        let mut b = Vec::new();
        w.finish(0, &mut b);
        // version, gap, n_ids, ids_len, n, then 5 << 1 | single, ordinal 1, (9 − 5) << 1, ...
        assert_eq!(b[..7], [SEGMENT_VERSION, 0, 2, 7, 0, 11, 1]);
        assert_eq!(b[7], 8);
        b[7] = 0; // a zero delta: the same ID twice
        let err = decode_segment(&b).expect_err("rejects");
        assert!(err.to_string().contains("value IDs not ascending"), "{err}");
    }

    #[test]
    fn a_chunk_with_more_resources_than_bytes_left_after_them_decodes() {
        let spans: Vec<Span> = (0..300u64)
            .map(|i| Span {
                span_id: SpanId::from_u64(i + 1),
                resource: Arc::new(Resource {
                    attributes: vec![KeyValue::string("service.name", format!("svc-{}", i % 300))],
                    ..Default::default()
                }),
                ..Default::default()
            })
            .collect();
        let mut buf = Vec::new();
        ChunkEncoder::new().encode(spans.iter(), &mut Inline, &mut buf);
        let mut out = Vec::new();
        decode_chunk(TraceId::ZERO, &buf, &Inline, &mut out).expect("decodes");
        assert_eq!(out, spans);
    }
}
