//! RetentionActor: drops expired partitions and enforces the disk cap, at start-up and then
//! every `rocksdb.retention-interval`; refreshes the storage gauges every few seconds, and then
//! flushes the store once nothing was written to it for [`IDLE_FLUSH_AFTER`] (an idle store
//! keeps no WAL or memtable around, and a restart after it replays nothing).
//!
//! Retention is whole partitions only (the store never deletes key by key). The blocking work
//! runs on tokio's blocking pool; one pass at a time. After a pass that dropped anything the
//! IndexActor gets a fresh catalog from the store.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use super::index::ReloadCatalog;
use crate::storage::{CatalogEntry, RetentionReport, StorageError, StoreStats, TraceStore};
use crate::telemetry::Metrics;

pub struct RetentionActor {
    store: Arc<dyn TraceStore>,
    ttl: Duration,
    max_disk_bytes: Option<u64>,
    interval: Duration,
    index: Recipient<ReloadCatalog>,
    metrics: Arc<Metrics>,
    running: bool,
}

const STATS_INTERVAL: Duration = Duration::from_secs(5);
/// How long the store must go without writes before it is flushed.
pub const IDLE_FLUSH_AFTER: Duration = Duration::from_secs(30);

struct PassResult {
    report: RetentionReport,
    catalog: Option<Vec<CatalogEntry>>,
    stats: StoreStats,
}

impl RetentionActor {
    pub fn new(
        store: Arc<dyn TraceStore>,
        ttl: Duration,
        max_disk_bytes: Option<u64>,
        interval: Duration,
        index: Recipient<ReloadCatalog>,
        metrics: Arc<Metrics>,
    ) -> Self {
        RetentionActor {
            store,
            ttl,
            max_disk_bytes,
            interval,
            index,
            metrics,
            running: false,
        }
    }

    /// One pass: TTL, then the disk cap. Blocking.
    fn pass(
        store: &dyn TraceStore,
        ttl: Duration,
        max_disk_bytes: Option<u64>,
    ) -> Result<PassResult, StorageError> {
        let now_ns = crate::model::time::now_ns();
        let cutoff = now_ns.saturating_sub(ttl.as_nanos() as u64);
        let mut report = store.drop_expired(cutoff)?;
        if let Some(max) = max_disk_bytes {
            let cap = store.enforce_disk_cap(max)?;
            report.dropped_partitions.extend(cap.dropped_partitions);
            report.evicted_traces += cap.evicted_traces;
        }
        let changed = !report.dropped_partitions.is_empty() || report.evicted_traces > 0;
        let catalog = if changed {
            Some(store.catalog()?)
        } else {
            None
        };
        Ok(PassResult {
            report,
            catalog,
            stats: store.stats(),
        })
    }

    fn run_pass(&mut self, ctx: &mut Context<Self>) {
        if self.running {
            return;
        }
        self.running = true;
        let store = self.store.clone();
        let (ttl, max) = (self.ttl, self.max_disk_bytes);
        let task = tokio::task::spawn_blocking(move || Self::pass(store.as_ref(), ttl, max));
        ctx.spawn(
            actix::fut::wrap_future(task).map(|res, act: &mut RetentionActor, _| {
                act.running = false;
                match res {
                    Ok(Ok(pass)) => act.apply(pass),
                    Ok(Err(e)) => tracing::error!(error = %e, "retention pass failed"),
                    Err(e) => tracing::error!(error = %e, "retention task panicked"),
                }
            }),
        );
    }

    fn apply(&mut self, pass: PassResult) {
        let dropped = pass.report.dropped_partitions.len() as u64;
        if dropped > 0 || pass.report.evicted_traces > 0 {
            tracing::info!(
                partitions = ?pass.report.dropped_partitions,
                evicted_traces = pass.report.evicted_traces,
                "retention dropped expired data"
            );
        }
        self.metrics.retention_dropped_partitions.inc_by(dropped);
        self.metrics.update_store_stats(&pass.stats);
        if let Some(catalog) = pass.catalog {
            // Timer-driven path: a full mailbox only delays the catalog until the next pass.
            self.index.do_send(ReloadCatalog(catalog));
        }
    }

    fn refresh_stats(&mut self, ctx: &mut Context<Self>) {
        let store = self.store.clone();
        let task = tokio::task::spawn_blocking(move || {
            match store.flush_if_idle(IDLE_FLUSH_AFTER) {
                Ok(true) => tracing::debug!("flushed the idle store"),
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "flushing the idle store failed; retried"),
            }
            store.stats()
        });
        ctx.spawn(
            actix::fut::wrap_future(task).map(|res, act: &mut RetentionActor, _| {
                if let Ok(stats) = res {
                    act.metrics.update_store_stats(&stats);
                }
            }),
        );
    }
}

impl Actor for RetentionActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.run_pass(ctx);
        ctx.run_interval(self.interval, |act, ctx| act.run_pass(ctx));
        ctx.run_interval(STATS_INTERVAL, |act, ctx| act.refresh_stats(ctx));
    }
}
