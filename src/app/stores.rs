//! Opening the configured stores before the actix System starts: the span store (one backend,
//! or a fan-out over several) and the optional archive store.

use std::sync::Arc;

use anyhow::Context as _;

use crate::config::{Config, GrpcStorageConfig, StorageType};
use crate::storage::fanout::FanoutStore;
use crate::storage::grpc::{GrpcStore, GrpcStoreOptions, GrpcTlsOptions};
use crate::storage::memory::MemoryStore;
use crate::storage::rocks::{RocksOptions, RocksStore};
use crate::storage::TraceStore;
use crate::telemetry::Metrics;

/// Caches of an embedded archive store: it is written rarely and read one trace at a time.
const ARCHIVE_CACHE_BYTES: usize = 16 << 20;

/// The span store of `span-storage.type`: writes go to every listed backend, reads come from
/// the first.
pub(super) fn open_span_store(
    config: &Config,
    metrics: &Arc<Metrics>,
) -> anyhow::Result<Arc<dyn TraceStore>> {
    let mut stores = Vec::new();
    for &kind in &config.span_storage.types.0 {
        stores.push(open_one(config, kind, metrics)?);
    }
    Ok(if stores.len() == 1 {
        stores.remove(0)
    } else {
        Arc::new(FanoutStore::new(stores))
    })
}

fn open_one(
    config: &Config,
    kind: StorageType,
    metrics: &Arc<Metrics>,
) -> anyhow::Result<Arc<dyn TraceStore>> {
    Ok(match kind {
        StorageType::Rocksdb => {
            let r = &config.rocksdb;
            let opts = RocksOptions {
                sync_writes: r.sync_writes,
                block_cache_bytes: r.block_cache_size.0 as usize,
                write_buffer_bytes: r.write_buffer_size.0 as usize,
                ..RocksOptions::default()
            };
            let store = RocksStore::open(&r.path, opts)
                .with_context(|| format!("cannot open the store at {}", r.path.display()))?;
            Arc::new(store)
        }
        StorageType::Memory => Arc::new(MemoryStore::new(config.memory.max_traces)),
        StorageType::Grpc => open_grpc(&config.grpc_storage, &config.grpc_storage.server, metrics)?,
    })
}

/// The archive store of `archive-storage.type`, if any. Retention never runs on it.
pub(super) fn open_archive_store(
    config: &Config,
    metrics: &Arc<Metrics>,
) -> anyhow::Result<Option<Arc<dyn TraceStore>>> {
    let a = &config.archive_storage;
    let kind = a.storage_type().map_err(anyhow::Error::msg)?;
    Ok(match kind {
        None => None,
        Some(StorageType::Rocksdb) => {
            let opts = RocksOptions {
                sync_writes: config.rocksdb.sync_writes,
                block_cache_bytes: ARCHIVE_CACHE_BYTES,
                write_buffer_bytes: ARCHIVE_CACHE_BYTES,
                ..RocksOptions::default()
            };
            let store = RocksStore::open(&a.path, opts).with_context(|| {
                format!("cannot open the archive store at {}", a.path.display())
            })?;
            Some(Arc::new(store))
        }
        // Archived traces are kept until exit, however many.
        Some(StorageType::Memory) => Some(Arc::new(MemoryStore::new(0))),
        Some(StorageType::Grpc) => Some(open_grpc(&config.grpc_storage, &a.grpc_server, metrics)?),
    })
}

fn open_grpc(
    g: &GrpcStorageConfig,
    server: &str,
    metrics: &Arc<Metrics>,
) -> anyhow::Result<Arc<dyn TraceStore>> {
    let t = &g.tls;
    let opts = GrpcStoreOptions {
        server: server.to_string(),
        tls: t.enabled.then(|| GrpcTlsOptions {
            ca: t.ca.clone(),
            cert: t.cert.clone(),
            key: t.key.clone(),
            server_name: t.server_name.clone(),
            skip_host_verify: t.skip_host_verify,
        }),
        connection_timeout: g.connection_timeout.as_std(),
        write_timeout: g.write_timeout.as_std(),
    };
    let store = GrpcStore::connect(opts, metrics.clone())
        .with_context(|| format!("cannot use the remote storage at {server}"))?;
    Ok(Arc::new(store))
}
