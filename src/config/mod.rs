//! The one configuration tree.
//!
//! Defaults live only in the `impl Default`s below. The TOML file uses the same dotted names as
//! the command-line flags (`--rocksdb.span-store-ttl` ↔ `[rocksdb] span-store-ttl`), and the root
//! `config.toml` is the commented template; a test keeps it equal to these defaults.
//! Precedence (applied by `cli.rs`): flags > environment > file > defaults.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use thiserror::Error;

mod agent;
mod storage;
mod values;

pub use agent::{
    AgentConfig, AgentHttpConfig, ProcessorConfig, ReporterConfig, ReporterGrpcConfig, RetryConfig,
    SamplingConfig, UdpServerConfig,
};
pub use storage::{
    ArchiveStorageConfig, GrpcStorageConfig, GrpcStorageTlsConfig, MemoryConfig,
    RemoteStorageServerConfig, RocksdbConfig, SpanStorageConfig, StorageType, StorageTypes,
};
pub use values::{ByteSize, GoDuration, HostPort};

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
    Invalid { key: String, msg: String },
}

fn invalid(key: impl Into<String>, msg: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
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
    pub grpc_storage: GrpcStorageConfig,
    pub archive_storage: ArchiveStorageConfig,
    /// The remote-storage role's gRPC listener.
    pub grpc: RemoteStorageServerConfig,
    pub collector: CollectorConfig,
    pub processor: ProcessorConfig,
    /// The agent's HTTP server: sampling strategies for clients (`GET /sampling?service=`).
    pub http_server: AgentHttpConfig,
    pub sampling: SamplingConfig,
    pub reporter: ReporterConfig,
    pub agent: AgentConfig,
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct CollectorConfig {
    /// Spans admitted but not yet durable; beyond it ingest refuses with a retryable error.
    pub queue_size: usize,
    /// Writer threads (blocking RocksDB writes).
    pub num_workers: usize,
    pub otlp: OtlpConfig,
    pub zipkin: ZipkinConfig,
    /// Jaeger Thrift over HTTP (`POST /api/traces`) and `GET /api/sampling`.
    pub http_server: CollectorHttpConfig,
    /// `jaeger.api_v2.CollectorService` and `SamplingManager`.
    pub grpc_server: GrpcServerConfig,
}

impl Default for CollectorConfig {
    fn default() -> Self {
        CollectorConfig {
            queue_size: 100_000,
            num_workers: 4,
            otlp: OtlpConfig::default(),
            zipkin: ZipkinConfig::default(),
            http_server: CollectorHttpConfig::default(),
            grpc_server: GrpcServerConfig::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct CollectorHttpConfig {
    pub host_port: HostPort,
    /// Larger request bodies (after decompression) are refused with 413.
    pub max_request_body_size: ByteSize,
}

impl Default for CollectorHttpConfig {
    fn default() -> Self {
        CollectorHttpConfig {
            host_port: HostPort::port(14268),
            max_request_body_size: ByteSize(20 << 20),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct GrpcServerConfig {
    pub host_port: HostPort,
    pub max_message_size: ByteSize,
}

impl Default for GrpcServerConfig {
    fn default() -> Self {
        GrpcServerConfig {
            host_port: HostPort::port(14250),
            max_message_size: ByteSize(4 << 20),
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
    /// `jaeger.api_v2.QueryService` and `jaeger.api_v3.QueryService`.
    pub grpc_server: GrpcServerConfig,
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
            grpc_server: GrpcServerConfig {
                host_port: HostPort::port(16685),
                max_message_size: ByteSize(4 << 20),
            },
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
        Self::from_file_over(path, Config::default())
    }

    /// Reads a TOML file over `base` (a role's defaults): keys the file omits keep `base`'s value.
    pub fn from_file_over(path: &Path, base: Config) -> Result<Config, ConfigError> {
        let shown = || path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: shown(),
            source,
        })?;
        let file: toml::Table = toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: shown(),
            source,
        })?;
        let mut merged = toml::Table::try_from(base).map_err(|e| ConfigError::Invalid {
            key: "config".into(),
            msg: e.to_string(),
        })?;
        merge_tables(&mut merged, file);
        merged.try_into().map_err(|source| ConfigError::Parse {
            path: shown(),
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
            (
                "collector.http-server.host-port",
                &self.collector.http_server.host_port,
            ),
            (
                "collector.grpc-server.host-port",
                &self.collector.grpc_server.host_port,
            ),
            (
                "processor.jaeger-compact.server-host-port",
                &self.processor.jaeger_compact.server_host_port,
            ),
            (
                "processor.jaeger-binary.server-host-port",
                &self.processor.jaeger_binary.server_host_port,
            ),
            ("http-server.host-port", &self.http_server.host_port),
            ("admin.http.host-port", &self.admin.http.host_port),
            (
                "query.grpc-server.host-port",
                &self.query.grpc_server.host_port,
            ),
            ("grpc.host-port", &self.grpc.host_port),
        ] {
            hp.resolve().map_err(|msg| invalid(key, msg))?;
        }
        for (prefix, udp) in [
            ("processor.jaeger-compact", &self.processor.jaeger_compact),
            ("processor.jaeger-binary", &self.processor.jaeger_binary),
        ] {
            udp.validate(prefix)?;
        }
        let p = self.sampling.default_sampling_probability;
        if !(0.0..=1.0).contains(&p) {
            return Err(invalid(
                "sampling.default-sampling-probability",
                format!("{p} is not between 0 and 1"),
            ));
        }
        if self.sampling.strategies_reload_interval.0 < 0 {
            return Err(invalid(
                "sampling.strategies-reload-interval",
                "must not be negative",
            ));
        }
        self.validate_storage()
    }

    fn validate_storage(&self) -> Result<(), ConfigError> {
        let archive = self
            .archive_storage
            .storage_type()
            .map_err(|msg| invalid("archive-storage.type", msg))?;
        let g = &self.grpc_storage;
        if self.span_storage.types.contains(StorageType::Grpc) {
            check_host_port("grpc-storage.server", &g.server)?;
        }
        if archive == Some(StorageType::Grpc) {
            check_host_port(
                "archive-storage.grpc-server",
                &self.archive_storage.grpc_server,
            )?;
        }
        if archive == Some(StorageType::Rocksdb) {
            let (a, p) = (&self.archive_storage.path, &self.rocksdb.path);
            if a.as_os_str().is_empty() {
                return Err(invalid("archive-storage.path", "must not be empty"));
            }
            if self.span_storage.types.contains(StorageType::Rocksdb)
                && (a == p || a.starts_with(p))
            {
                return Err(invalid(
                    "archive-storage.path",
                    format!("{} must be outside rocksdb.path", a.display()),
                ));
            }
        }
        if g.connection_timeout.0 <= 0 {
            return Err(invalid(
                "grpc-storage.connection-timeout",
                "must be positive",
            ));
        }
        if g.write_timeout.0 <= 0 {
            return Err(invalid("grpc-storage.write-timeout", "must be positive"));
        }
        if (g.tls.cert.is_some()) != (g.tls.key.is_some()) {
            return Err(invalid(
                "grpc-storage.tls.cert",
                "a client certificate needs its key (grpc-storage.tls.key) and vice versa",
            ));
        }
        Ok(())
    }

    /// The query role's defaults: admin on :16687, as Jaeger's query service.
    pub fn query_defaults() -> Config {
        let mut cfg = Config::default();
        cfg.admin.http.host_port = HostPort::port(16687);
        cfg
    }

    /// The remote-storage role's defaults: admin on :17270, as Jaeger's remote-storage.
    pub fn remote_storage_defaults() -> Config {
        let mut cfg = Config::default();
        cfg.admin.http.host_port = HostPort::port(17270);
        cfg
    }

    /// The agent role's defaults: Jaeger's agent serves its admin port on :14271.
    pub fn agent_defaults() -> Config {
        let mut cfg = Config::default();
        cfg.admin.http.host_port = HostPort::port(14271);
        cfg
    }

    /// What only the agent role needs: at least one well-formed collector address, and tags
    /// that parse.
    pub fn validate_agent(&self) -> Result<(), ConfigError> {
        let endpoints = self.reporter_endpoints();
        if endpoints.is_empty() {
            return Err(invalid(
                "reporter.grpc.host-port",
                "the agent needs at least one collector host:port",
            ));
        }
        for e in &endpoints {
            check_host_port("reporter.grpc.host-port", e)?;
        }
        Ok(())
    }

    /// The collectors of `reporter.grpc.host-port`, in order.
    pub fn reporter_endpoints(&self) -> Vec<String> {
        self.reporter
            .grpc
            .host_port
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    }

    /// The base path without a trailing slash ("" for the root).
    pub fn base_prefix(&self) -> &str {
        self.query.base_path.trim_end_matches('/')
    }
}

/// A `host:port` a client dials (not a listen address: the host is required).
fn check_host_port(key: &str, value: &str) -> Result<(), ConfigError> {
    match value.trim().rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => Ok(()),
        _ if value.trim().is_empty() => Err(invalid(key, "is required (host:port)")),
        _ => Err(invalid(
            key,
            format!("{value:?} is not a host:port address"),
        )),
    }
}

/// Overlays `over` onto `base`, table by table.
fn merge_tables(base: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge_tables(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
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
