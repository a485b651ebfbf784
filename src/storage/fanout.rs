//! `FanoutStore`: several backends at once (`--span-storage.type=rocksdb,grpc`), as Jaeger
//! does with a comma-separated `SPAN_STORAGE_TYPE`: every write goes to all of them, reads come
//! from the first.
//!
//! A write is acknowledged only when every backend has it durably. When one fails after
//! another succeeded, the client's retry writes the batch again to both; the query path's
//! duplicate-span adjuster hides the repeat, so nothing is lost and nothing shows twice.

use std::sync::Arc;

use super::{CatalogEntry, RetentionReport, StorageError, StoreStats, TraceStore};
use crate::model::{Operation, Span, SpanBatch, SpanKind, Trace, TraceId, TraceQuery};

pub struct FanoutStore {
    /// Reads come from `stores[0]`; never empty.
    stores: Vec<Arc<dyn TraceStore>>,
}

impl FanoutStore {
    /// `stores` in the configured order; panics when empty (the configuration never allows it).
    pub fn new(stores: Vec<Arc<dyn TraceStore>>) -> FanoutStore {
        assert!(
            !stores.is_empty(),
            "a fan-out store needs at least one backend"
        );
        FanoutStore { stores }
    }

    fn primary(&self) -> &dyn TraceStore {
        self.stores[0].as_ref()
    }

    /// Runs `f` on every backend, returning the first error after trying them all.
    fn each<T>(
        &self,
        mut f: impl FnMut(&dyn TraceStore) -> Result<T, StorageError>,
    ) -> Result<Vec<T>, StorageError> {
        let mut out = Vec::with_capacity(self.stores.len());
        let mut first_error = None;
        for s in &self.stores {
            match f(s.as_ref()) {
                Ok(v) => out.push(v),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }
}

impl TraceStore for FanoutStore {
    fn write(&self, batch: &SpanBatch) -> Result<(), StorageError> {
        self.each(|s| s.write(batch)).map(|_| ())
    }

    fn get_trace(&self, id: TraceId) -> Result<Vec<Span>, StorageError> {
        self.primary().get_trace(id)
    }

    fn find_trace_ids(&self, query: &TraceQuery) -> Result<Vec<TraceId>, StorageError> {
        self.primary().find_trace_ids(query)
    }

    fn find_traces(&self, query: &TraceQuery) -> Result<Vec<Trace>, StorageError> {
        self.primary().find_traces(query)
    }

    fn catalog(&self) -> Result<Vec<CatalogEntry>, StorageError> {
        self.primary().catalog()
    }

    fn catalog_is_remote(&self) -> bool {
        self.primary().catalog_is_remote()
    }

    fn services(&self) -> Result<Vec<String>, StorageError> {
        self.primary().services()
    }

    fn operations(
        &self,
        service: &str,
        kind: Option<SpanKind>,
    ) -> Result<Vec<Operation>, StorageError> {
        self.primary().operations(service, kind)
    }

    fn drop_expired(&self, cutoff_ns: u64) -> Result<RetentionReport, StorageError> {
        Ok(merge(self.each(|s| s.drop_expired(cutoff_ns))?))
    }

    fn enforce_disk_cap(&self, max_bytes: u64) -> Result<RetentionReport, StorageError> {
        Ok(merge(self.each(|s| s.enforce_disk_cap(max_bytes))?))
    }

    fn stats(&self) -> StoreStats {
        let mut total = StoreStats::default();
        for s in &self.stores {
            let st = s.stats();
            total.partitions += st.partitions;
            total.bytes_on_disk += st.bytes_on_disk;
            total.traces_in_memory += st.traces_in_memory;
        }
        total
    }

    fn flush(&self) -> Result<(), StorageError> {
        self.each(|s| s.flush()).map(|_| ())
    }

    fn flush_if_idle(&self, idle: std::time::Duration) -> Result<bool, StorageError> {
        Ok(self.each(|s| s.flush_if_idle(idle))?.contains(&true))
    }
}

fn merge(reports: Vec<RetentionReport>) -> RetentionReport {
    let mut out = RetentionReport::default();
    for r in reports {
        out.dropped_partitions.extend(r.dropped_partitions);
        out.evicted_traces += r.evicted_traces;
    }
    out.dropped_partitions.sort_unstable();
    out.dropped_partitions.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{KeyValue, Resource, SpanId};
    use crate::storage::memory::MemoryStore;

    fn span(trace: u128, id: u64, service: &str, op: &str) -> Span {
        Span {
            trace_id: TraceId::from_u128(trace),
            span_id: SpanId::from_u64(id),
            name: op.into(),
            start_ns: 1_000,
            end_ns: 2_000,
            resource: Arc::new(Resource {
                attributes: vec![KeyValue::string("service.name", service)],
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn writes_to_all_and_reads_from_the_first() {
        let a = Arc::new(MemoryStore::new(0));
        let b = Arc::new(MemoryStore::new(0));
        let fan = FanoutStore::new(vec![a.clone(), b.clone()]);
        let s = span(1, 1, "svc", "op");
        fan.write(&SpanBatch {
            spans: vec![s.clone()],
        })
        .unwrap();
        assert_eq!(a.get_trace(s.trace_id).unwrap().len(), 1);
        assert_eq!(b.get_trace(s.trace_id).unwrap().len(), 1);

        // A span only the second backend has is invisible: reads come from the first.
        let only_b = span(2, 1, "other", "op");
        b.write(&SpanBatch {
            spans: vec![only_b.clone()],
        })
        .unwrap();
        assert!(fan.get_trace(only_b.trace_id).unwrap().is_empty());
        assert_eq!(fan.services().unwrap(), vec!["svc".to_string()]);
    }
}
