//! Storage options: which backends hold spans (`span-storage.type`, a list), the embedded
//! RocksDB and memory stores, the remote adapter (`grpc-storage.*`), the archive store
//! (`archive-storage.*`) and the remote-storage server's own listener (`grpc.*`).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::values::{ByteSize, GoDuration, HostPort};

/// One span backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageType {
    /// The embedded store (`rocksdb.*`).
    Rocksdb,
    /// In memory, lost at exit (`memory.*`).
    Memory,
    /// A remote-storage server reached over gRPC (`grpc-storage.*`).
    Grpc,
}

impl StorageType {
    pub fn as_str(self) -> &'static str {
        match self {
            StorageType::Rocksdb => "rocksdb",
            StorageType::Memory => "memory",
            StorageType::Grpc => "grpc",
        }
    }
}

impl FromStr for StorageType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "rocksdb" => Ok(StorageType::Rocksdb),
            "memory" => Ok(StorageType::Memory),
            "grpc" => Ok(StorageType::Grpc),
            other => Err(format!(
                "unknown storage type {other:?} (expected rocksdb, memory or grpc)"
            )),
        }
    }
}

impl fmt::Display for StorageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `span-storage.type`: a comma-separated list, as Jaeger's `SPAN_STORAGE_TYPE`. Writes go to
/// every listed backend; reads come from the first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageTypes(pub Vec<StorageType>);

impl StorageTypes {
    /// The backend reads come from.
    pub fn primary(&self) -> StorageType {
        self.0.first().copied().unwrap_or(StorageType::Rocksdb)
    }

    pub fn contains(&self, t: StorageType) -> bool {
        self.0.contains(&t)
    }
}

impl From<StorageType> for StorageTypes {
    fn from(t: StorageType) -> Self {
        StorageTypes(vec![t])
    }
}

impl FromStr for StorageTypes {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut out: Vec<StorageType> = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let t: StorageType = part.parse()?;
            if out.contains(&t) {
                return Err(format!("storage type {t} is listed twice"));
            }
            out.push(t);
        }
        if out.is_empty() {
            return Err("at least one storage type is needed (rocksdb, memory or grpc)".into());
        }
        Ok(StorageTypes(out))
    }
}

impl fmt::Display for StorageTypes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.0.iter().map(|t| t.as_str()).collect();
        f.write_str(&names.join(","))
    }
}

impl Serialize for StorageTypes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for StorageTypes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct SpanStorageConfig {
    #[serde(rename = "type")]
    pub types: StorageTypes,
}

impl Default for SpanStorageConfig {
    fn default() -> Self {
        SpanStorageConfig {
            types: StorageType::Rocksdb.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct RocksdbConfig {
    /// Data directory.
    pub path: PathBuf,
    /// Spans older than this are dropped, a whole partition (one day) at a time.
    pub span_store_ttl: GoDuration,
    /// Oldest partitions are evicted while the data directory is larger than this.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_disk_size: Option<ByteSize>,
    /// fsync the write-ahead log before acknowledging (survives power loss, not just kill -9).
    pub sync_writes: bool,
    pub block_cache_size: ByteSize,
    pub write_buffer_size: ByteSize,
    /// How often retention runs (it also runs at start-up).
    pub retention_interval: GoDuration,
}

impl Default for RocksdbConfig {
    fn default() -> Self {
        RocksdbConfig {
            path: PathBuf::from("./tracehound-data"),
            span_store_ttl: GoDuration::from_secs(72 * 3600),
            max_disk_size: None,
            sync_writes: false,
            block_cache_size: ByteSize(256 << 20),
            write_buffer_size: ByteSize(256 << 20),
            retention_interval: GoDuration::from_secs(300),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct MemoryConfig {
    /// Oldest traces are evicted beyond this many (0 = unbounded).
    pub max_traces: usize,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        MemoryConfig {
            max_traces: 100_000,
        }
    }
}

/// The remote adapter: a remote-storage server (tracehound's or any Jaeger remote-storage
/// implementation) that spans are written to and read from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct GrpcStorageConfig {
    /// host:port of the remote-storage server.
    pub server: String,
    /// How long to wait for a connection.
    pub connection_timeout: GoDuration,
    /// How long one write may keep retrying an unreachable or saturated server before ingest
    /// refuses the spans with a retryable error.
    pub write_timeout: GoDuration,
    pub tls: GrpcStorageTlsConfig,
}

impl Default for GrpcStorageConfig {
    fn default() -> Self {
        GrpcStorageConfig {
            server: String::new(),
            connection_timeout: GoDuration::from_secs(5),
            write_timeout: GoDuration::from_secs(10),
            tls: GrpcStorageTlsConfig::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct GrpcStorageTlsConfig {
    pub enabled: bool,
    /// CA bundle (PEM) to verify the server with; the system roots when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert: Option<PathBuf>,
    /// Client key (PEM) for mutual TLS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<PathBuf>,
    /// Name to verify the server certificate against (default: the host of `server`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// Accept any server certificate (testing only).
    pub skip_host_verify: bool,
}

/// Where archived traces go (`POST /api/archive/{id}`, gRPC ArchiveTrace). Retention never
/// touches the archive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct ArchiveStorageConfig {
    /// `rocksdb` (a second embedded store at `path`), `memory`, `grpc` (a remote-storage
    /// server at `grpc-server`, with the `grpc-storage.tls` settings), or empty: no archive.
    #[serde(rename = "type")]
    pub kind: String,
    /// Data directory of a `rocksdb` archive.
    pub path: PathBuf,
    /// host:port of a `grpc` archive's remote-storage server.
    pub grpc_server: String,
}

impl Default for ArchiveStorageConfig {
    fn default() -> Self {
        ArchiveStorageConfig {
            kind: String::new(),
            path: PathBuf::from("./tracehound-archive"),
            grpc_server: String::new(),
        }
    }
}

impl ArchiveStorageConfig {
    /// The archive backend, `None` when archiving is off.
    pub fn storage_type(&self) -> Result<Option<StorageType>, String> {
        if self.kind.trim().is_empty() {
            return Ok(None);
        }
        self.kind.parse().map(Some)
    }
}

/// The remote-storage role's gRPC server (storage v1 + v2 + OTLP Export).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct RemoteStorageServerConfig {
    pub host_port: HostPort,
    pub max_message_size: ByteSize,
}

impl Default for RemoteStorageServerConfig {
    fn default() -> Self {
        RemoteStorageServerConfig {
            host_port: HostPort::port(17271),
            max_message_size: ByteSize(4 << 20),
        }
    }
}
