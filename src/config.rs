//! The one configuration tree.
//!
//! Defaults live only in the `impl Default`s below. The TOML file uses the same dotted names as
//! the command-line flags (`--rocksdb.span-store-ttl` ↔ `[rocksdb] span-store-ttl`), and the root
//! `config.toml` is the commented template; a test keeps it equal to these defaults.
//! Precedence (applied by `cli.rs`): flags > environment > file > defaults.

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

use crate::model::duration::{format_go_duration, parse_go_duration};

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {source}")]
    Parse {
        path: String,
        #[source]
        source: toml::de::Error,
    },
    #[error("invalid value for {key}: {msg}")]
    Invalid { key: &'static str, msg: String },
}

fn invalid(key: &'static str, msg: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        msg: msg.into(),
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Config {
    pub log_level: LogLevel,
    pub span_storage: SpanStorageConfig,
    pub rocksdb: RocksdbConfig,
    pub memory: MemoryConfig,
    pub collector: CollectorConfig,
    pub query: QueryConfig,
    pub admin: AdminConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LogLevel(pub String);

impl Default for LogLevel {
    fn default() -> Self {
        LogLevel("info".into())
    }
}

/// Which backend stores spans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageType {
    Rocksdb,
    Memory,
}

impl FromStr for StorageType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "rocksdb" => Ok(StorageType::Rocksdb),
            "memory" => Ok(StorageType::Memory),
            other => Err(format!(
                "unknown storage type {other:?} (expected rocksdb or memory)"
            )),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct SpanStorageConfig {
    #[serde(rename = "type")]
    pub kind: StorageType,
}

impl Default for SpanStorageConfig {
    fn default() -> Self {
        SpanStorageConfig {
            kind: StorageType::Rocksdb,
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct CollectorConfig {
    /// Spans admitted but not yet durable; beyond it ingest refuses with a retryable error.
    pub queue_size: usize,
    /// Writer threads (blocking RocksDB writes).
    pub num_workers: usize,
    pub otlp: OtlpConfig,
    pub zipkin: ZipkinConfig,
}

impl Default for CollectorConfig {
    fn default() -> Self {
        CollectorConfig {
            queue_size: 100_000,
            num_workers: 4,
            otlp: OtlpConfig::default(),
            zipkin: ZipkinConfig::default(),
        }
    }
}

/// The Zipkin HTTP collector API (`/api/v1/spans`, `/api/v2/spans`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct ZipkinConfig {
    /// Empty disables the listener (Jaeger's default outside all-in-one).
    pub host_port: HostPort,
    /// Larger request bodies (after decompression) are refused with 413.
    pub max_request_body_size: ByteSize,
}

impl Default for ZipkinConfig {
    fn default() -> Self {
        ZipkinConfig {
            host_port: HostPort::port(9411),
            max_request_body_size: ByteSize(20 << 20),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct OtlpConfig {
    pub enabled: bool,
    pub grpc: OtlpGrpcConfig,
    pub http: OtlpHttpConfig,
}

impl Default for OtlpConfig {
    fn default() -> Self {
        OtlpConfig {
            enabled: true,
            grpc: OtlpGrpcConfig::default(),
            http: OtlpHttpConfig::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct OtlpGrpcConfig {
    pub host_port: HostPort,
    pub max_message_size: ByteSize,
}

impl Default for OtlpGrpcConfig {
    fn default() -> Self {
        OtlpGrpcConfig {
            host_port: HostPort::port(4317),
            max_message_size: ByteSize(4 << 20),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct OtlpHttpConfig {
    pub host_port: HostPort,
    /// Larger request bodies (after decompression) are refused with 413.
    pub max_request_body_size: ByteSize,
}

impl Default for OtlpHttpConfig {
    fn default() -> Self {
        OtlpHttpConfig {
            host_port: HostPort::port(4318),
            max_request_body_size: ByteSize(20 << 20),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct QueryConfig {
    pub http_server: HttpServerConfig,
    /// Prefix of every query route, e.g. `/jaeger`.
    pub base_path: String,
    /// Upper bound of the clock-skew adjuster (0s = off, as in Jaeger).
    pub max_clock_skew_adjustment: GoDuration,
    /// A Jaeger UI build to serve.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub static_files: Option<PathBuf>,
    /// UI config (`.json` object or `.js` defining `UIConfig()`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ui_config: Option<PathBuf>,
    /// Reader threads (blocking store reads).
    pub num_workers: usize,
}

impl Default for QueryConfig {
    fn default() -> Self {
        QueryConfig {
            http_server: HttpServerConfig {
                host_port: HostPort::port(16686),
            },
            base_path: "/".into(),
            max_clock_skew_adjustment: GoDuration(0),
            static_files: None,
            ui_config: None,
            num_workers: 2,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct HttpServerConfig {
    pub host_port: HostPort,
}

impl Default for HttpServerConfig {
    fn default() -> Self {
        HttpServerConfig {
            host_port: HostPort(String::new()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct AdminConfig {
    pub http: HttpServerConfig,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            http: HttpServerConfig {
                host_port: HostPort::port(14269),
            },
        }
    }
}

impl Config {
    /// Reads a TOML file; keys it omits keep their defaults.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.display().to_string(),
            source,
        })
    }

    /// Checks cross-field rules; errors name the dotted option.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.rocksdb.span_store_ttl.0 <= 0 {
            return Err(invalid("rocksdb.span-store-ttl", "must be positive"));
        }
        if self.rocksdb.retention_interval.0 <= 0 {
            return Err(invalid("rocksdb.retention-interval", "must be positive"));
        }
        if self.rocksdb.path.as_os_str().is_empty() {
            return Err(invalid("rocksdb.path", "must not be empty"));
        }
        if self.collector.queue_size == 0 {
            return Err(invalid("collector.queue-size", "must be at least 1"));
        }
        if self.collector.num_workers == 0 {
            return Err(invalid("collector.num-workers", "must be at least 1"));
        }
        if self.query.num_workers == 0 {
            return Err(invalid("query.num-workers", "must be at least 1"));
        }
        if self.query.max_clock_skew_adjustment.0 < 0 {
            return Err(invalid(
                "query.max-clock-skew-adjustment",
                "must not be negative",
            ));
        }
        let bp = &self.query.base_path;
        if !bp.starts_with('/') || bp.contains("..") || bp.contains("//") {
            return Err(invalid(
                "query.base-path",
                format!("{bp:?} must start with '/' and contain neither '..' nor '//'"),
            ));
        }
        for (key, hp) in [
            (
                "collector.otlp.grpc.host-port",
                &self.collector.otlp.grpc.host_port,
            ),
            (
                "collector.otlp.http.host-port",
                &self.collector.otlp.http.host_port,
            ),
            (
                "collector.zipkin.host-port",
                &self.collector.zipkin.host_port,
            ),
            (
                "query.http-server.host-port",
                &self.query.http_server.host_port,
            ),
            ("admin.http.host-port", &self.admin.http.host_port),
        ] {
            hp.resolve().map_err(|msg| invalid(key, msg))?;
        }
        Ok(())
    }

    /// The base path without a trailing slash ("" for the root).
    pub fn base_prefix(&self) -> &str {
        self.query.base_path.trim_end_matches('/')
    }
}

/// A Go-syntax duration (`72h`, `1.5s`), stored in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GoDuration(pub i64);

impl GoDuration {
    pub const fn from_secs(s: i64) -> Self {
        GoDuration(s * 1_000_000_000)
    }

    pub fn as_std(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.0.max(0) as u64)
    }
}

impl FromStr for GoDuration {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_go_duration(s)
            .map(GoDuration)
            .map_err(|e| e.to_string())
    }
}

impl fmt::Display for GoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_go_duration(self.0))
    }
}

impl Serialize for GoDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A size in bytes: `1048576`, `512KiB`, `256MiB`, `10GiB`, `1GB`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl FromStr for ByteSize {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: u64 = num
            .parse()
            .map_err(|_| format!("invalid size {s:?}: expected e.g. 1048576, 512MiB or 10GiB"))?;
        let mult: u64 = match unit.trim() {
            "" | "B" => 1,
            "KB" | "kB" => 1_000,
            "KiB" => 1 << 10,
            "MB" => 1_000_000,
            "MiB" => 1 << 20,
            "GB" => 1_000_000_000,
            "GiB" => 1 << 30,
            "TB" => 1_000_000_000_000,
            "TiB" => 1 << 40,
            other => return Err(format!("invalid size unit {other:?} in {s:?}")),
        };
        n.checked_mul(mult)
            .map(ByteSize)
            .ok_or_else(|| format!("size {s:?} is too large"))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (unit, m) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
            if self.0 >= m && self.0 % m == 0 {
                return write!(f, "{}{unit}", self.0 / m);
            }
        }
        write!(f, "{}", self.0)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(u64),
            Str(String),
        }
        match Raw::deserialize(d)? {
            Raw::Int(n) => Ok(ByteSize(n)),
            Raw::Str(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// A listen address as Jaeger writes it: `host:port`, `:port` (all interfaces), or empty
/// (listener disabled).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HostPort(pub String);

impl HostPort {
    pub fn port(p: u16) -> Self {
        HostPort(format!(":{p}"))
    }

    pub fn is_disabled(&self) -> bool {
        self.0.trim().is_empty()
    }

    /// The socket address to bind, or None when disabled.
    pub fn resolve(&self) -> Result<Option<SocketAddr>, String> {
        let s = self.0.trim();
        if s.is_empty() {
            return Ok(None);
        }
        let full = if s.starts_with(':') {
            format!("0.0.0.0{s}")
        } else {
            s.to_string()
        };
        full.to_socket_addrs()
            .map_err(|e| format!("{s:?} is not a host:port or :port address ({e})"))?
            .next()
            .map(Some)
            .ok_or_else(|| format!("{s:?} resolves to no address"))
    }
}

impl FromStr for HostPort {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let hp = HostPort(s.to_string());
        hp.resolve()?;
        Ok(hp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_config_template_equals_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml");
        let text = std::fs::read_to_string(&path).expect("config.toml at the crate root");
        let template: toml::Value = toml::from_str(&text).expect("config.toml parses");
        let defaults = toml::Value::try_from(Config::default()).expect("defaults serialize");
        // Same set of keys (the template documents every option that has a default) ...
        assert_eq!(
            key_paths(&template, ""),
            key_paths(&defaults, ""),
            "config.toml and Config::default() list different options; update the template"
        );
        // ... and the same values.
        assert_eq!(Config::from_file(&path).unwrap(), Config::default());
    }

    fn key_paths(v: &toml::Value, prefix: &str) -> Vec<String> {
        let mut out = Vec::new();
        if let toml::Value::Table(t) = v {
            for (k, v) in t {
                let path = format!("{prefix}{k}");
                match v {
                    toml::Value::Table(_) => out.extend(key_paths(v, &format!("{path}."))),
                    _ => out.push(path),
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn defaults_validate() {
        Config::default().validate().unwrap();
    }

    #[test]
    fn host_port_forms() {
        assert_eq!(
            HostPort(":4317".into()).resolve().unwrap(),
            Some("0.0.0.0:4317".parse().unwrap())
        );
        assert_eq!(
            HostPort("127.0.0.1:0".into()).resolve().unwrap(),
            Some("127.0.0.1:0".parse().unwrap())
        );
        assert_eq!(HostPort(String::new()).resolve().unwrap(), None);
        assert!(HostPort("nonsense".into()).resolve().is_err());
    }

    #[test]
    fn byte_sizes() {
        assert_eq!("256MiB".parse::<ByteSize>().unwrap().0, 256 << 20);
        assert_eq!("1GB".parse::<ByteSize>().unwrap().0, 1_000_000_000);
        assert_eq!("42".parse::<ByteSize>().unwrap().0, 42);
        assert!("12XB".parse::<ByteSize>().is_err());
        assert_eq!(ByteSize(256 << 20).to_string(), "256MiB");
    }

    #[test]
    fn validation_names_the_option() {
        let mut c = Config::default();
        c.query.base_path = "jaeger".into();
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("query.base-path"), "{e}");
        let mut c = Config::default();
        c.admin.http.host_port = HostPort("bad".into());
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("admin.http.host-port"));
    }

    #[test]
    fn unknown_file_keys_are_rejected() {
        let e = toml::from_str::<Config>("[rocksdb]\npaht = \"x\"\n").unwrap_err();
        assert!(e.to_string().contains("paht"), "{e}");
    }
}
