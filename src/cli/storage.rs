//! Storage flags: the span stores (`span-storage.type`), RocksDB and memory options, the remote
//! adapter (`grpc-storage.*`), the archive (`archive-storage.*`) and the remote-storage
//! server's own listener (`grpc.*`).

use std::path::PathBuf;

use clap::Args;

use super::{bool_parser, set};
use crate::config::{ByteSize, Config, GoDuration, HostPort, StorageTypes};

#[derive(Debug, Args)]
#[command(next_help_heading = "Storage")]
pub struct StorageArgs {
    /// Span stores, comma-separated: rocksdb (embedded), memory, grpc (a remote-storage
    /// server). Writes go to all, reads come from the first [default: rocksdb].
    #[arg(
        long = "span-storage.type",
        env = "SPAN_STORAGE_TYPE",
        value_name = "TYPE[,TYPE…]"
    )]
    pub span_storage_type: Option<StorageTypes>,
    /// RocksDB data directory [default: ./tracehound-data].
    #[arg(long = "rocksdb.path", env = "ROCKSDB_PATH", value_name = "DIR")]
    pub rocksdb_path: Option<PathBuf>,
    /// Retention, Go duration [default: 72h].
    #[arg(
        long = "rocksdb.span-store-ttl",
        env = "ROCKSDB_SPAN_STORE_TTL",
        value_name = "DURATION"
    )]
    pub rocksdb_span_store_ttl: Option<GoDuration>,
    /// Disk cap: oldest partitions are evicted beyond it (e.g. 50GiB) [default: none].
    #[arg(
        long = "rocksdb.max-disk-size",
        env = "ROCKSDB_MAX_DISK_SIZE",
        value_name = "SIZE"
    )]
    pub rocksdb_max_disk_size: Option<ByteSize>,
    /// fsync the WAL before acknowledging writes [default: false].
    #[arg(long = "rocksdb.sync-writes", env = "ROCKSDB_SYNC_WRITES", value_name = "BOOL",
          num_args = 0..=1, default_missing_value = "true", value_parser = bool_parser())]
    pub rocksdb_sync_writes: Option<bool>,
    /// Block cache size [default: 256MiB].
    #[arg(
        long = "rocksdb.block-cache-size",
        env = "ROCKSDB_BLOCK_CACHE_SIZE",
        value_name = "SIZE"
    )]
    pub rocksdb_block_cache_size: Option<ByteSize>,
    /// Memory for all memtables together [default: 256MiB].
    #[arg(
        long = "rocksdb.write-buffer-size",
        env = "ROCKSDB_WRITE_BUFFER_SIZE",
        value_name = "SIZE"
    )]
    pub rocksdb_write_buffer_size: Option<ByteSize>,
    /// How often retention runs [default: 5m].
    #[arg(
        long = "rocksdb.retention-interval",
        env = "ROCKSDB_RETENTION_INTERVAL",
        value_name = "DURATION"
    )]
    pub rocksdb_retention_interval: Option<GoDuration>,
    /// Memory store: evict the oldest traces beyond this count, 0 = unbounded [default: 100000].
    #[arg(
        long = "memory.max-traces",
        env = "MEMORY_MAX_TRACES",
        value_name = "N"
    )]
    pub memory_max_traces: Option<usize>,
    #[command(flatten)]
    pub grpc: GrpcStorageArgs,
    #[command(flatten)]
    pub archive: ArchiveStorageArgs,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Remote storage (span-storage.type=grpc)")]
pub struct GrpcStorageArgs {
    /// The remote-storage server, host:port.
    #[arg(
        long = "grpc-storage.server",
        env = "GRPC_STORAGE_SERVER",
        value_name = "HOST:PORT"
    )]
    pub server: Option<String>,
    /// How long to wait for a connection [default: 5s].
    #[arg(
        long = "grpc-storage.connection-timeout",
        env = "GRPC_STORAGE_CONNECTION_TIMEOUT",
        value_name = "DURATION"
    )]
    pub connection_timeout: Option<GoDuration>,
    /// How long a write keeps retrying before ingest refuses it (retryable) [default: 10s].
    #[arg(
        long = "grpc-storage.write-timeout",
        env = "GRPC_STORAGE_WRITE_TIMEOUT",
        value_name = "DURATION"
    )]
    pub write_timeout: Option<GoDuration>,
    /// Connect with TLS [default: false].
    #[arg(long = "grpc-storage.tls.enabled", env = "GRPC_STORAGE_TLS_ENABLED", value_name = "BOOL",
          num_args = 0..=1, default_missing_value = "true", value_parser = bool_parser())]
    pub tls_enabled: Option<bool>,
    /// CA bundle (PEM) to verify the server (without it: the system roots).
    #[arg(
        long = "grpc-storage.tls.ca",
        env = "GRPC_STORAGE_TLS_CA",
        value_name = "FILE"
    )]
    pub tls_ca: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS.
    #[arg(
        long = "grpc-storage.tls.cert",
        env = "GRPC_STORAGE_TLS_CERT",
        value_name = "FILE"
    )]
    pub tls_cert: Option<PathBuf>,
    /// Client key (PEM) for mutual TLS.
    #[arg(
        long = "grpc-storage.tls.key",
        env = "GRPC_STORAGE_TLS_KEY",
        value_name = "FILE"
    )]
    pub tls_key: Option<PathBuf>,
    /// Server name to verify (without it: the host of grpc-storage.server).
    #[arg(
        long = "grpc-storage.tls.server-name",
        env = "GRPC_STORAGE_TLS_SERVER_NAME",
        value_name = "NAME"
    )]
    pub tls_server_name: Option<String>,
    /// Accept any server certificate (testing only) [default: false].
    #[arg(long = "grpc-storage.tls.skip-host-verify", env = "GRPC_STORAGE_TLS_SKIP_HOST_VERIFY",
          value_name = "BOOL", num_args = 0..=1, default_missing_value = "true",
          value_parser = bool_parser())]
    pub tls_skip_host_verify: Option<bool>,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Archive storage")]
pub struct ArchiveStorageArgs {
    /// Archive store: rocksdb, memory or grpc; empty disables archiving [default: none].
    #[arg(
        long = "archive-storage.type",
        env = "ARCHIVE_STORAGE_TYPE",
        value_name = "TYPE"
    )]
    pub kind: Option<String>,
    /// Data directory of a rocksdb archive [default: ./tracehound-archive].
    #[arg(
        long = "archive-storage.path",
        env = "ARCHIVE_STORAGE_PATH",
        value_name = "DIR"
    )]
    pub path: Option<PathBuf>,
    /// Remote-storage server of a grpc archive, host:port (TLS as grpc-storage.tls.*).
    #[arg(
        long = "archive-storage.grpc-server",
        env = "ARCHIVE_STORAGE_GRPC_SERVER",
        value_name = "HOST:PORT"
    )]
    pub grpc_server: Option<String>,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Remote-storage server")]
pub struct RemoteStorageServerArgs {
    /// gRPC listen address (storage v1, v2, OTLP Export) [default: :17271].
    #[arg(
        long = "grpc.host-port",
        env = "GRPC_HOST_PORT",
        value_name = "HOST:PORT"
    )]
    pub host_port: Option<HostPort>,
    /// Largest gRPC message [default: 4MiB].
    #[arg(
        long = "grpc.max-message-size",
        env = "GRPC_MAX_MESSAGE_SIZE",
        value_name = "SIZE"
    )]
    pub max_message_size: Option<ByteSize>,
}

impl StorageArgs {
    pub(super) fn apply(&self, cfg: &mut Config) {
        set(&mut cfg.span_storage.types, &self.span_storage_type);
        let r = &mut cfg.rocksdb;
        set(&mut r.path, &self.rocksdb_path);
        set(&mut r.span_store_ttl, &self.rocksdb_span_store_ttl);
        if self.rocksdb_max_disk_size.is_some() {
            r.max_disk_size = self.rocksdb_max_disk_size;
        }
        set(&mut r.sync_writes, &self.rocksdb_sync_writes);
        set(&mut r.block_cache_size, &self.rocksdb_block_cache_size);
        set(&mut r.write_buffer_size, &self.rocksdb_write_buffer_size);
        set(&mut r.retention_interval, &self.rocksdb_retention_interval);
        set(&mut cfg.memory.max_traces, &self.memory_max_traces);
        self.grpc.apply(cfg);
        let a = &mut cfg.archive_storage;
        set(&mut a.kind, &self.archive.kind);
        set(&mut a.path, &self.archive.path);
        set(&mut a.grpc_server, &self.archive.grpc_server);
    }
}

impl GrpcStorageArgs {
    fn apply(&self, cfg: &mut Config) {
        let g = &mut cfg.grpc_storage;
        set(&mut g.server, &self.server);
        set(&mut g.connection_timeout, &self.connection_timeout);
        set(&mut g.write_timeout, &self.write_timeout);
        let t = &mut g.tls;
        set(&mut t.enabled, &self.tls_enabled);
        for (slot, value) in [
            (&mut t.ca, &self.tls_ca),
            (&mut t.cert, &self.tls_cert),
            (&mut t.key, &self.tls_key),
        ] {
            if value.is_some() {
                *slot = value.clone();
            }
        }
        if self.tls_server_name.is_some() {
            t.server_name = self.tls_server_name.clone();
        }
        set(&mut t.skip_host_verify, &self.tls_skip_host_verify);
    }
}
