//! In-memory trace store: Jaeger's memory backend semantics behind the [`TraceStore`] contract.
//!
//! Owns a map of traces in first-write order, bounded by `max_traces` as a ring buffer: when a
//! new trace would exceed the bound, the trace written first is evicted (appending spans to a
//! trace does not move it). It keeps every span it is given, except an exact re-write of a span
//! it already holds, and keeps the services/operations catalog up to date (span counts per
//! (service, operation, kind), decremented on eviction).
//!
//! Spans are held as `Arc<Span>` so that readers copy pointers under the read lock and clone and
//! sort span content after releasing it. Searches are a scan, newest trace first, ended by the
//! query limit; nothing here is durable, so `flush` and the disk cap are no-ops.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use parking_lot::RwLock;

use super::{CatalogEntry, RetentionReport, StorageError, StoreStats, TraceStore};
use crate::model::query::{span_matches, DEFAULT_SEARCH_LIMIT};
use crate::model::{Operation, Span, SpanBatch, SpanId, SpanKind, Trace, TraceId, TraceQuery};

pub struct MemoryStore {
    /// 0 = unbounded.
    max_traces: usize,
    inner: RwLock<Inner>,
}

#[derive(Default)]
struct Inner {
    traces: HashMap<TraceId, StoredTrace>,
    /// First-write sequence number → trace; ascending = oldest first.
    order: BTreeMap<u64, TraceId>,
    next_seq: u64,
    /// service → operation name → number of stored spans per kind (indexed by `SpanKind as u8`).
    catalog: Catalog,
    evicted_by_capacity: u64,
}

struct StoredTrace {
    seq: u64,
    spans: Vec<Arc<Span>>,
    /// Span IDs present, so that the exact-duplicate check only scans on an ID collision.
    span_ids: HashSet<SpanId>,
    oldest_start_ns: u64,
    newest_start_ns: u64,
}

impl MemoryStore {
    /// A store holding at most `max_traces` traces (0 = unbounded).
    pub fn new(max_traces: usize) -> Self {
        MemoryStore {
            max_traces,
            inner: RwLock::new(Inner::default()),
        }
    }

    /// Traces evicted so far because the store was full.
    pub fn capacity_evictions(&self) -> u64 {
        self.inner.read().evicted_by_capacity
    }

    /// Visits stored traces newest-written first until `visit` returns false. Read lock held.
    fn scan(&self, query: &TraceQuery, mut visit: impl FnMut(TraceId, &StoredTrace) -> bool) {
        let inner = self.inner.read();
        for id in inner.order.values().rev() {
            let Some(trace) = inner.traces.get(id) else {
                continue;
            };
            // Cheap window check before looking at spans.
            if trace.newest_start_ns < query.start_min_ns
                || trace.oldest_start_ns > query.start_max_ns
            {
                continue;
            }
            // `trace_matches` over the Arc'd spans: one span must satisfy every condition.
            if trace.spans.iter().any(|s| span_matches(s, query)) && !visit(*id, trace) {
                break;
            }
        }
    }
}

fn search_limit(query: &TraceQuery) -> usize {
    if query.limit == 0 {
        DEFAULT_SEARCH_LIMIT
    } else {
        query.limit
    }
}

/// Deep copies in storage order: (start, span ID), as the RocksDB store returns them. The sort
/// is stable, so spans equal in both keep their write order.
fn sorted_copies(spans: &[Arc<Span>]) -> Vec<Span> {
    let mut out: Vec<Span> = spans.iter().map(|s| Span::clone(s)).collect();
    out.sort_by_key(|s| (s.start_ns, s.span_id));
    out
}

impl Inner {
    fn insert(&mut self, span: Arc<Span>, max_traces: usize) {
        let id = span.trace_id;
        if !self.traces.contains_key(&id) {
            if max_traces > 0 {
                while self.traces.len() >= max_traces && self.evict_oldest() {
                    self.evicted_by_capacity += 1;
                }
            }
            let seq = self.next_seq;
            self.next_seq += 1;
            self.order.insert(seq, id);
            self.traces.insert(
                id,
                StoredTrace {
                    seq,
                    spans: Vec::new(),
                    span_ids: HashSet::new(),
                    oldest_start_ns: u64::MAX,
                    newest_start_ns: 0,
                },
            );
        }
        let Some(trace) = self.traces.get_mut(&id) else {
            return;
        };
        if !trace.span_ids.insert(span.span_id) && trace.spans.iter().any(|s| **s == *span) {
            return; // an exact re-write (client retry): keep one copy
        }
        trace.oldest_start_ns = trace.oldest_start_ns.min(span.start_ns);
        trace.newest_start_ns = trace.newest_start_ns.max(span.start_ns);
        catalog_add(&mut self.catalog, &span);
        trace.spans.push(span);
    }

    /// Removes the trace written first; false when the store is empty.
    fn evict_oldest(&mut self) -> bool {
        match self.order.pop_first() {
            Some((_, id)) => {
                if let Some(trace) = self.traces.remove(&id) {
                    self.uncatalog(&trace);
                }
                true
            }
            None => false,
        }
    }

    fn remove(&mut self, id: &TraceId) {
        if let Some(trace) = self.traces.remove(id) {
            self.order.remove(&trace.seq);
            self.uncatalog(&trace);
        }
    }

    fn uncatalog(&mut self, trace: &StoredTrace) {
        for span in &trace.spans {
            catalog_remove(&mut self.catalog, span);
        }
    }
}

type Catalog = HashMap<String, HashMap<String, [u64; SpanKind::ALL.len()]>>;

fn catalog_add(catalog: &mut Catalog, span: &Span) {
    // Look up by &str first so that only a new service or operation allocates.
    let service = span.service();
    if !catalog.contains_key(service) {
        catalog.insert(service.to_string(), HashMap::new());
    }
    let Some(ops) = catalog.get_mut(service) else {
        return;
    };
    if !ops.contains_key(&span.name) {
        ops.insert(span.name.clone(), [0; SpanKind::ALL.len()]);
    }
    if let Some(kinds) = ops.get_mut(&span.name) {
        kinds[span.kind as usize] += 1;
    }
}

fn catalog_remove(catalog: &mut Catalog, span: &Span) {
    let service = span.service();
    let Some(ops) = catalog.get_mut(service) else {
        return;
    };
    if let Some(kinds) = ops.get_mut(&span.name) {
        let count = &mut kinds[span.kind as usize];
        *count = count.saturating_sub(1);
        if kinds.iter().all(|&c| c == 0) {
            ops.remove(&span.name);
        }
    }
    if ops.is_empty() {
        catalog.remove(service);
    }
}

impl TraceStore for MemoryStore {
    fn write(&self, batch: &SpanBatch) -> Result<(), StorageError> {
        if batch.is_empty() {
            return Ok(());
        }
        // Copy outside the lock; under it only pointers move.
        let spans: Vec<Arc<Span>> = batch.spans.iter().cloned().map(Arc::new).collect();
        let mut inner = self.inner.write();
        for span in spans {
            inner.insert(span, self.max_traces);
        }
        Ok(())
    }

    fn get_trace(&self, id: TraceId) -> Result<Vec<Span>, StorageError> {
        let spans = {
            let inner = self.inner.read();
            match inner.traces.get(&id) {
                Some(trace) => trace.spans.clone(),
                None => return Ok(Vec::new()),
            }
        };
        Ok(sorted_copies(&spans))
    }

    fn find_trace_ids(&self, query: &TraceQuery) -> Result<Vec<TraceId>, StorageError> {
        let limit = search_limit(query);
        let mut ids = Vec::new();
        self.scan(query, |id, _| {
            ids.push(id);
            ids.len() < limit
        });
        Ok(ids)
    }

    fn find_traces(&self, query: &TraceQuery) -> Result<Vec<Trace>, StorageError> {
        let limit = search_limit(query);
        let mut found = Vec::new();
        self.scan(query, |id, trace| {
            found.push((id, trace.spans.clone()));
            found.len() < limit
        });
        Ok(found
            .into_iter()
            .map(|(trace_id, spans)| Trace {
                trace_id,
                spans: sorted_copies(&spans),
            })
            .collect())
    }

    fn catalog(&self) -> Result<Vec<CatalogEntry>, StorageError> {
        let mut out = Vec::new();
        {
            let inner = self.inner.read();
            for (service, ops) in &inner.catalog {
                for (name, kinds) in ops {
                    for kind in SpanKind::ALL {
                        if kinds[kind as usize] > 0 {
                            out.push(CatalogEntry {
                                service: service.clone(),
                                operation: Operation {
                                    name: name.clone(),
                                    span_kind: kind,
                                },
                            });
                        }
                    }
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Evicts every trace whose newest span starts before `cutoff_ns`.
    fn drop_expired(&self, cutoff_ns: u64) -> Result<RetentionReport, StorageError> {
        let mut inner = self.inner.write();
        let expired: Vec<TraceId> = inner
            .traces
            .iter()
            .filter(|(_, t)| t.newest_start_ns < cutoff_ns)
            .map(|(id, _)| *id)
            .collect();
        for id in &expired {
            inner.remove(id);
        }
        Ok(RetentionReport {
            dropped_partitions: Vec::new(),
            evicted_traces: expired.len() as u64,
        })
    }

    /// Nothing is on disk.
    fn enforce_disk_cap(&self, _max_bytes: u64) -> Result<RetentionReport, StorageError> {
        Ok(RetentionReport::default())
    }

    fn stats(&self) -> StoreStats {
        StoreStats {
            traces_in_memory: self.inner.read().traces.len() as u64,
            ..StoreStats::default()
        }
    }

    fn flush(&self) -> Result<(), StorageError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{KeyValue, Resource, Value};

    fn span(trace: u128, span_id: u64, service: &str, op: &str, start_ns: u64) -> Span {
        Span {
            trace_id: TraceId::from_u128(trace),
            span_id: SpanId::from_u64(span_id),
            name: op.into(),
            start_ns,
            end_ns: start_ns + 10,
            resource: Arc::new(Resource {
                attributes: vec![KeyValue::string("service.name", service)],
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn write(store: &MemoryStore, spans: Vec<Span>) {
        store.write(&SpanBatch { spans }).expect("memory write");
    }

    fn query(service: &str, limit: usize) -> TraceQuery {
        TraceQuery {
            service: Some(service.into()),
            start_min_ns: 0,
            start_max_ns: u64::MAX,
            limit,
            ..Default::default()
        }
    }

    fn ids(traces: &[Trace]) -> Vec<u128> {
        traces.iter().map(|t| t.trace_id.as_u128()).collect()
    }

    #[test]
    fn eviction_drops_the_first_written_traces_beyond_max_traces() {
        let store = MemoryStore::new(3);
        for t in 1..=5 {
            write(&store, vec![span(t, 1, "svc", "op", 100)]);
        }
        let present: Vec<u128> = (1..=5)
            .filter(|t| !store.get_trace(TraceId::from_u128(*t)).unwrap().is_empty())
            .collect();
        assert_eq!(present, vec![3, 4, 5]);
        assert_eq!(store.stats().traces_in_memory, 3);
        assert_eq!(store.capacity_evictions(), 2);
        // Appending to trace 3 does not make it newer: it is still the next to go.
        write(&store, vec![span(3, 2, "svc", "op", 200)]);
        write(&store, vec![span(6, 1, "svc", "op", 100)]);
        assert!(store.get_trace(TraceId::from_u128(3)).unwrap().is_empty());
        assert_eq!(
            ids(&store.find_traces(&query("svc", 10)).unwrap()),
            vec![6, 5, 4]
        );
        // One batch with more traces than fit keeps its last ones.
        write(
            &store,
            (10..15).map(|t| span(t, 1, "svc", "op", 100)).collect(),
        );
        assert_eq!(
            ids(&store.find_traces(&query("svc", 10)).unwrap()),
            vec![14, 13, 12]
        );
        assert_eq!(store.capacity_evictions(), 8);
    }

    #[test]
    fn unbounded_store_keeps_everything() {
        let store = MemoryStore::new(0);
        write(
            &store,
            (1..=50).map(|t| span(t, 1, "svc", "op", 100)).collect(),
        );
        assert_eq!(store.stats().traces_in_memory, 50);
        assert_eq!(store.capacity_evictions(), 0);
    }

    #[test]
    fn duplicate_span_ids_are_kept_but_exact_rewrites_are_not() {
        let store = MemoryStore::new(0);
        let a = span(1, 7, "svc", "op", 100);
        write(&store, vec![a.clone(), a.clone()]);
        write(&store, vec![a.clone()]);
        assert_eq!(store.get_trace(a.trace_id).unwrap().len(), 1);
        let mut later = a.clone();
        later.start_ns = 50;
        let mut tagged = a.clone();
        tagged
            .attributes
            .push(KeyValue::new("retry", Value::Bool(true)));
        write(
            &store,
            vec![later.clone(), tagged.clone(), span(1, 8, "svc", "op", 100)],
        );
        let spans = store.get_trace(a.trace_id).unwrap();
        assert_eq!(spans.len(), 4);
        assert_eq!(spans.iter().filter(|s| s.span_id == a.span_id).count(), 3);
        // Sorted by (start, span ID); equal keys keep write order.
        assert_eq!(spans[0], later);
        assert_eq!(spans[1], a);
        assert_eq!(spans[2], tagged);
        assert_eq!(spans[3].span_id, SpanId::from_u64(8));
    }

    #[test]
    fn find_traces_honours_limit_newest_first_and_returns_whole_traces() {
        let store = MemoryStore::new(0);
        for t in 1..=5 {
            write(&store, vec![span(t, 1, "svc", "op", 1_000 + t as u64)]);
        }
        write(&store, vec![span(9, 1, "other", "op", 1_000)]);
        // A span of trace 4 outside the search window still comes back with its trace.
        write(&store, vec![span(4, 2, "svc", "late", 9_000)]);
        let mut q = query("svc", 2);
        q.start_max_ns = 5_000;
        let found = store.find_traces(&q).unwrap();
        assert_eq!(ids(&found), vec![5, 4]);
        assert_eq!(found[1].spans.len(), 2);
        let trace_ids: Vec<u128> = store
            .find_trace_ids(&q)
            .unwrap()
            .iter()
            .map(TraceId::as_u128)
            .collect();
        assert_eq!(trace_ids, vec![5, 4]);
        q.limit = 10;
        q.start_min_ns = 1_003;
        assert_eq!(ids(&store.find_traces(&q).unwrap()), vec![5, 4, 3]);
        q.service = None;
        q.start_min_ns = 0;
        assert_eq!(ids(&store.find_traces(&q).unwrap()), vec![9, 5, 4, 3, 2, 1]);
    }

    #[test]
    fn conditions_split_across_two_spans_do_not_match() {
        let store = MemoryStore::new(0);
        let mut a = span(1, 1, "svc", "op", 100);
        a.attributes.push(KeyValue::new("k1", Value::Int(123)));
        let mut b = span(1, 2, "svc", "op", 100);
        b.attributes.push(KeyValue::new("k2", Value::Bool(true)));
        write(&store, vec![a, b]);
        let mut q = query("svc", 10);
        q.attributes = vec![("k1".into(), "123".into()), ("k2".into(), "true".into())];
        assert!(store.find_traces(&q).unwrap().is_empty());
        let mut both = span(1, 3, "svc", "op", 100);
        both.attributes.push(KeyValue::new("k1", Value::Int(123)));
        both.attributes.push(KeyValue::new("k2", Value::Bool(true)));
        write(&store, vec![both]);
        let found = store.find_traces(&q).unwrap();
        assert_eq!(ids(&found), vec![1]);
        assert_eq!(found[0].spans.len(), 3);
    }

    fn entry(service: &str, name: &str, kind: SpanKind) -> CatalogEntry {
        CatalogEntry {
            service: service.into(),
            operation: Operation {
                name: name.into(),
                span_kind: kind,
            },
        }
    }

    #[test]
    fn catalog_follows_writes_and_evictions() {
        let store = MemoryStore::new(2);
        let mut server = span(1, 1, "a", "x", 100);
        server.kind = SpanKind::Server;
        write(&store, vec![server, span(1, 2, "a", "shared", 100)]);
        write(
            &store,
            vec![span(2, 1, "a", "shared", 100), span(2, 2, "a", "y", 100)],
        );
        assert_eq!(
            store.catalog().unwrap(),
            vec![
                entry("a", "shared", SpanKind::Unspecified),
                entry("a", "x", SpanKind::Server),
                entry("a", "y", SpanKind::Unspecified),
            ]
        );
        write(&store, vec![span(3, 1, "b", "z", 100)]); // evicts trace 1
        assert_eq!(
            store.catalog().unwrap(),
            vec![
                entry("a", "shared", SpanKind::Unspecified),
                entry("a", "y", SpanKind::Unspecified),
                entry("b", "z", SpanKind::Unspecified),
            ]
        );
        write(&store, vec![span(4, 1, "b", "z", 100)]); // evicts trace 2: service a is gone
        assert_eq!(
            store.catalog().unwrap(),
            vec![entry("b", "z", SpanKind::Unspecified)]
        );
    }

    #[test]
    fn drop_expired_evicts_traces_whose_newest_span_is_older_than_the_cutoff() {
        let store = MemoryStore::new(0);
        write(&store, vec![span(1, 1, "old", "op", 100)]);
        write(
            &store,
            vec![
                span(2, 1, "mixed", "op", 100),
                span(2, 2, "mixed", "op", 900),
            ],
        );
        write(&store, vec![span(3, 1, "new", "op", 1_000)]);
        let report = store.drop_expired(500).unwrap();
        assert_eq!(report.evicted_traces, 1);
        assert!(report.dropped_partitions.is_empty());
        assert!(store.get_trace(TraceId::from_u128(1)).unwrap().is_empty());
        assert_eq!(store.get_trace(TraceId::from_u128(2)).unwrap().len(), 2);
        let services: Vec<String> = store
            .catalog()
            .unwrap()
            .into_iter()
            .map(|e| e.service)
            .collect();
        assert_eq!(services, vec!["mixed", "new"]);
        assert_eq!(store.stats().traces_in_memory, 2);
        assert_eq!(
            store.enforce_disk_cap(0).unwrap(),
            RetentionReport::default()
        );
        store.flush().unwrap();
        // Order bookkeeping stays consistent: trace 2 is now the oldest and goes first.
        let bounded = MemoryStore::new(2);
        write(&bounded, vec![span(1, 1, "s", "op", 100)]);
        write(&bounded, vec![span(2, 1, "s", "op", 900)]);
        bounded.drop_expired(500).unwrap();
        write(&bounded, vec![span(3, 1, "s", "op", 900)]);
        write(&bounded, vec![span(4, 1, "s", "op", 900)]);
        assert_eq!(
            ids(&bounded.find_traces(&query("s", 10)).unwrap()),
            vec![4, 3]
        );
    }
}
