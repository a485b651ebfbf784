//! The string tables: per partition, the IDs that span chunks and tag postings use for
//! repeated strings.
//!
//! Owns each partition's table in memory (loaded from its `B` rows on first use), which
//! strings get an ID (bounded per space and per attribute key, so a high-cardinality attribute
//! stays inline instead of filling the table), and which IDs are known to be durable. A write
//! encodes its chunks of a partition and builds its tag postings (which name a value by its ID,
//! [`ValueIds`]) through an [`Interner`] that records the IDs it used whose `B` row may not be
//! durable yet; the write puts those rows in its own `WriteBatch` and marks them durable once
//! the batch is. So every durable chunk and posting has its strings defined, whatever happens
//! to the write that first took an ID. Must never do I/O except reading a table's rows
//! in [`PartitionStrings::load`].

use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};
use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use rocksdb::ReadOptions;

use super::Db;
use crate::storage::codec::{self, Space, StringIds, StringTable, TextKind};
use crate::storage::keys;
use crate::storage::StorageError;

/// Longest string given an ID (bytes); longer ones are rarely repeated.
const MAX_TEXT_LEN: usize = 128;
/// Distinct attribute keys per partition.
const MAX_KEYS: usize = 16_384;
/// Distinct span and event names per partition.
const MAX_NAMES: usize = 16_384;
/// Values that one attribute key may add to the table per partition: past this, the key's new
/// values are inline.
pub(super) const MAX_VALUES_PER_KEY: u32 = 4_096;
/// Strings per partition, and their bytes: bound the table's memory (about 40 bytes of
/// overhead per string, so at most about 18 MiB a partition) whatever the data. The reference
/// workload needs about 1,200.
const MAX_STRINGS: usize = 1 << 18;
const MAX_BYTES: usize = 8 << 20;
/// An ID that no durable row defines (the write that took it was lost).
const HOLE: u32 = u32::MAX;

/// One partition's string table.
#[derive(Default)]
pub(super) struct PartitionStrings {
    table: RwLock<Table>,
}

/// An entry of the hash table. It locates its text itself, so that a lookup touches only the
/// slot and the text.
#[derive(Clone, Copy)]
struct Slot {
    entry: u32,
    id: u32,
    /// The text: `arena[offset..offset + len]`.
    offset: u32,
    len: u8,
    space: Space,
}

const _: () = assert!(MAX_TEXT_LEN <= u8::MAX as usize && MAX_BYTES <= u32::MAX as usize);

/// Entries are numbered by their `B` row; each has an ID within its [`Space`], which is what
/// chunks carry.
#[derive(Default)]
struct Table {
    arena: String,
    /// Per entry: its space and ID (`None` for rows that were never written).
    entries: Vec<Option<(Space, u32)>>,
    /// Per entry: its row is durable.
    durable: Vec<bool>,
    /// Every string with an ID, hashed by (space, string).
    by_text: HashTable<Slot>,
    hasher: DefaultHashBuilder,
    /// Per space (`Space as usize`), the text of each ID: (offset, len) in `arena`; `len` is
    /// `HOLE` for an ID without a row.
    ids: [Vec<(u32, u32)>; 3],
    /// Per key ID: the values it added.
    values_of_key: Vec<u32>,
}

fn slot_text<'a>(arena: &'a str, slot: &Slot) -> &'a str {
    let from = slot.offset as usize;
    &arena[from..from + slot.len as usize]
}

impl Table {
    fn get(&self, space: Space, id: u32) -> Option<&str> {
        match *self.ids[space as usize].get(id as usize)? {
            (_, HOLE) => None,
            (offset, len) => self.arena.get(offset as usize..(offset + len) as usize),
        }
    }

    fn find(&self, space: Space, s: &str) -> Option<Slot> {
        let hash = self.hasher.hash_one((space, s));
        self.by_text
            .find(hash, |slot| {
                slot.space == space && slot_text(&self.arena, slot) == s
            })
            .copied()
    }

    /// Appends an entry (`id` = `None`: a row that was never written) and returns its slot.
    fn push(&mut self, s: &str, id: Option<(Space, u32)>, durable: bool) -> Option<Slot> {
        let entry = self.entries.len() as u32;
        self.entries.push(id);
        self.durable.push(durable);
        let (space, id) = id?;
        let offset = self.arena.len() as u32;
        self.arena.push_str(s);
        let ids = &mut self.ids[space as usize];
        if ids.len() <= id as usize {
            ids.resize(id as usize + 1, (0, HOLE));
        }
        ids[id as usize] = (offset, s.len() as u32);
        let slot = Slot {
            entry,
            id,
            offset,
            // `admit` and `load` keep texts within MAX_TEXT_LEN.
            len: s.len() as u8,
            space,
        };
        let (arena, hasher) = (&self.arena, &self.hasher);
        let hash_of = |slot: &Slot| hasher.hash_one((slot.space, slot_text(arena, slot)));
        self.by_text.insert_unique(hash_of(&slot), slot, hash_of);
        Some(slot)
    }

    /// The slot of a new string, when the table takes it.
    fn admit(&mut self, s: &str, kind: TextKind) -> Option<Slot> {
        let space = kind.space();
        let taken = self.ids[space as usize].len();
        let full = match kind {
            TextKind::Key => taken >= MAX_KEYS,
            TextKind::Name => taken >= MAX_NAMES,
            // Only keys with an ID have values with IDs.
            TextKind::Value { key } => self
                .values_of_key
                .get(key as usize)
                .is_none_or(|&n| n >= MAX_VALUES_PER_KEY),
        };
        if full
            || s.len() > MAX_TEXT_LEN
            || self.entries.len() >= MAX_STRINGS
            || self.arena.len() + s.len() > MAX_BYTES
        {
            return None;
        }
        match kind {
            TextKind::Key => self.values_of_key.push(0),
            TextKind::Value { key } => self.values_of_key[key as usize] += 1,
            TextKind::Name => {}
        }
        self.push(s, Some((space, taken as u32)), false)
    }
}

impl PartitionStrings {
    /// Reads the partition's `B` rows from its index family.
    pub(super) fn load(
        db: &Db,
        cf: &impl rocksdb::AsColumnFamilyRef,
    ) -> Result<PartitionStrings, StorageError> {
        let (lower, upper) = keys::string_range();
        let mut ro = ReadOptions::default();
        ro.set_iterate_lower_bound(lower);
        ro.set_iterate_upper_bound(upper);
        let mut it = db.raw_iterator_cf_opt(cf, ro);
        it.seek(lower);
        let mut table = Table::default();
        while let Some((key, value)) = it.item() {
            let entry = keys::parse_string_key(key)?;
            let (space, id, text) = codec::decode_string_row(value)?;
            let corrupt = |detail: &str| StorageError::Corrupt {
                what: "string table",
                detail: format!("row {entry}: {detail}"),
            };
            if entry as usize >= MAX_STRINGS || id as usize >= MAX_STRINGS {
                return Err(corrupt("beyond the table's bounds"));
            }
            if text.len() > MAX_TEXT_LEN || table.arena.len() + text.len() > MAX_BYTES {
                return Err(corrupt("text longer than the table takes"));
            }
            if table.get(space, id).is_some() || table.find(space, text).is_some() {
                return Err(corrupt("defined twice"));
            }
            // Entries a failed write took and no durable write used have no row.
            while (table.entries.len() as u32) < entry {
                table.push("", None, true);
            }
            table.push(text, Some((space, id)), true);
            it.next();
        }
        it.status()?;
        // Keys count their values from zero again: the rows do not say which key added a value.
        table.values_of_key = vec![0; table.ids[Space::Keys as usize].len()];
        Ok(PartitionStrings {
            table: RwLock::new(table),
        })
    }

    /// The table for decoding chunks of this partition.
    pub(super) fn reader(&self) -> Reader<'_> {
        Reader(self.table.read())
    }

    /// The ID of a string value the table has (see [`ValueIds`]); a search looks up a tag
    /// value's ID form with it.
    pub(super) fn value_id(&self, value: &str) -> Option<u32> {
        self.table
            .read()
            .find(Space::Values, value)
            .map(|slot| slot.id)
    }

    /// The table for encoding one write's chunks of this partition; holds it exclusively.
    pub(super) fn interner(&self) -> Interner<'_> {
        Interner {
            table: self.table.write(),
            undefined: Vec::new(),
        }
    }

    /// The rows of these entries are durable.
    pub(super) fn mark_durable(&self, entries: &[u32]) {
        let mut table = self.table.write();
        for &e in entries {
            if let Some(d) = table.durable.get_mut(e as usize) {
                *d = true;
            }
        }
    }

    /// Number of entries (with rows never written).
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.table.read().entries.len()
    }
}

pub(super) struct Reader<'t>(RwLockReadGuard<'t, Table>);

impl StringTable for Reader<'_> {
    fn text(&self, space: Space, id: u32) -> Option<&str> {
        self.0.get(space, id)
    }
}

/// The ID that a tag term names its value by (its ID form, see `keys`): the ID of the value
/// among the table's string values, if it has one, whatever the attribute's type. Never adds
/// a string.
pub(super) trait ValueIds {
    fn value_id(&mut self, value: &str) -> Option<u32>;
}

/// For rebuilding postings at open: every row loaded is durable.
impl ValueIds for Reader<'_> {
    fn value_id(&mut self, value: &str) -> Option<u32> {
        self.0.find(Space::Values, value).map(|slot| slot.id)
    }
}

/// Gives IDs to one write's strings of one partition.
pub(super) struct Interner<'t> {
    table: RwLockWriteGuard<'t, Table>,
    /// Entries used whose `B` row may not be durable yet (with repeats).
    undefined: Vec<u32>,
}

impl Interner<'_> {
    /// Puts the `B` row of every entry used so far that may not be durable yet; returns those
    /// entries (to [`PartitionStrings::mark_durable`] once the batch is durable).
    pub(super) fn define(
        mut self,
        wb: &mut rocksdb::WriteBatch,
        cf: &impl rocksdb::AsColumnFamilyRef,
    ) -> Vec<u32> {
        let entries = self.undefined();
        let mut row = Vec::new();
        for &e in &entries {
            if let Some((space, id)) = self.table.entries[e as usize] {
                let text = self.table.get(space, id).unwrap_or_default();
                codec::encode_string_row(space, id, text, &mut row);
                wb.put_cf(cf, keys::string_key(e), &row);
            }
        }
        entries
    }

    /// The entries used so far whose `B` row may not be durable yet, each once.
    fn undefined(&mut self) -> Vec<u32> {
        let mut entries = std::mem::take(&mut self.undefined);
        entries.sort_unstable();
        entries.dedup();
        entries
    }
}

/// A write's postings use the ID like its chunks do: when the row may not be durable yet, the
/// write defines it, so no durable posting names an undefined ID.
impl ValueIds for Interner<'_> {
    fn value_id(&mut self, value: &str) -> Option<u32> {
        let slot = self.table.find(Space::Values, value)?;
        if !self.table.durable[slot.entry as usize] {
            self.undefined.push(slot.entry);
        }
        Some(slot.id)
    }
}

impl StringIds for Interner<'_> {
    fn id(&mut self, s: &str, kind: TextKind) -> Option<u32> {
        let slot = match self.table.find(kind.space(), s) {
            Some(slot) => slot,
            None => self.table.admit(s, kind)?,
        };
        if !self.table.durable[slot.entry as usize] {
            self.undefined.push(slot.entry);
        }
        Some(slot.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_id_a_write_indexes_by_is_defined_by_it_until_durable() {
        let strings = PartitionStrings::default();
        let mut first = strings.interner();
        let key = first.id("k", TextKind::Key).expect("key");
        let id = first.id("v", TextKind::Value { key }).expect("value");
        drop(first); // its write never became durable
        let mut second = strings.interner();
        assert_eq!(second.value_id("v"), Some(id));
        assert_eq!(second.value_id("k"), None, "keys are not values");
        assert_eq!(second.value_id("w"), None);
        assert_eq!(second.undefined(), vec![1], "the value's row, entry 1");
        drop(second);
        strings.mark_durable(&[0, 1]);
        let mut third = strings.interner();
        assert_eq!(third.value_id("v"), Some(id));
        assert_eq!(third.undefined(), Vec::<u32>::new());
        drop(third);
        assert_eq!(strings.value_id("v"), Some(id));
        assert_eq!(strings.reader().value_id("v"), Some(id));
    }

    #[test]
    fn a_key_past_its_value_cap_keeps_new_values_inline() {
        let strings = PartitionStrings::default();
        let mut ids = strings.interner();
        let key = ids.id("request.id", TextKind::Key).expect("key");
        let other = ids.id("http.method", TextKind::Key).expect("key");
        for i in 0..MAX_VALUES_PER_KEY {
            let value = format!("v{i}");
            assert!(ids.id(&value, TextKind::Value { key }).is_some(), "{value}");
        }
        assert_eq!(ids.id("one-more", TextKind::Value { key }), None);
        // Values already in the table keep their ID, also for other keys; other keys still
        // add values.
        let v7 = ids.id("v7", TextKind::Value { key });
        assert!(v7.is_some());
        assert_eq!(ids.id("v7", TextKind::Value { key: other }), v7);
        assert!(ids.id("GET", TextKind::Value { key: other }).is_some());
        assert_eq!(ids.id(&"x".repeat(MAX_TEXT_LEN + 1), TextKind::Name), None);
        // A key without an ID has no value IDs.
        assert_eq!(ids.id("x", TextKind::Value { key: other + 1 }), None);
    }

    #[test]
    fn an_id_is_defined_by_every_write_until_one_is_durable() {
        let strings = PartitionStrings::default();
        let undefined = |mut ids: Interner<'_>| ids.undefined();
        // IDs are per space; entries (rows) are numbered across spaces: "k" is entry 0.
        let mut ids = strings.interner();
        assert_eq!(ids.id("k", TextKind::Key), Some(0));
        assert_eq!(ids.id("a", TextKind::Name), Some(0));
        assert_eq!(ids.id("b", TextKind::Name), Some(1));
        let (k, a, b) = (0, 1, 2);
        assert_eq!(ids.id("a", TextKind::Name), Some(0));
        assert_eq!(undefined(ids), vec![k, a, b]);
        // That write failed: the next one that uses "a" defines it again.
        let mut ids = strings.interner();
        ids.id("a", TextKind::Name);
        assert_eq!(undefined(ids), vec![a]);
        strings.mark_durable(&[a]);
        let mut ids = strings.interner();
        ids.id("a", TextKind::Name);
        ids.id("b", TextKind::Name);
        assert_eq!(undefined(ids), vec![b]);
        let table = strings.reader();
        assert_eq!(table.text(Space::Names, 1), Some("b"));
        assert_eq!(table.text(Space::Names, 2), None);
        assert_eq!(table.text(Space::Keys, 1), None);
    }
}
