//! The command line: one subcommand per role, Jaeger's flag names, every flag also read from
//! its environment variable (upper-cased, `.` and `-` → `_`).
//!
//! Layering: [`load_config`] starts from `Config::default()`, overlays the `--config` TOML file,
//! then every flag that was given on the command line or in the environment (clap resolves
//! flag > env). Every role composes the argument groups it uses, so `--help` of a role lists
//! only its own flags.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

mod bench;
mod storage;

pub use bench::{BenchIngestArgs, BenchQueryArgs, BenchReportArgs, BenchTarget};
pub use storage::{ArchiveStorageArgs, GrpcStorageArgs, RemoteStorageServerArgs, StorageArgs};

use crate::config::{ByteSize, Config, ConfigError, GoDuration, HostPort};

#[derive(Debug, Parser)]
#[command(
    name = "tracehound",
    version,
    about = "A Jaeger-compatible tracing backend with an embedded RocksDB trace store"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Collector, query service and UI in one process, on the embedded store.
    #[command(name = "all-in-one")]
    AllInOne(Box<AllInOneArgs>),
    /// Receives spans (OTLP, Jaeger, Zipkin) and writes them to storage; serves sampling.
    Collector(Box<CollectorRoleArgs>),
    /// The query service: Jaeger HTTP API and UI, api_v2/api_v3 query gRPC, over storage.
    Query(Box<QueryRoleArgs>),
    /// A storage server for other processes: remote-storage v1 and v2 gRPC and OTLP Export.
    #[command(name = "remote-storage")]
    RemoteStorage(Box<RemoteStorageArgs>),
    /// Receives spans from Jaeger clients over UDP and forwards them to collectors over gRPC;
    /// serves sampling strategies from the collectors.
    Agent(Box<AgentArgs>),
    /// Benchmark a running server with the reference workload (DESIGN.md).
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Send the reference workload over OTLP and measure durable ingest.
    Ingest(BenchIngestArgs),
    /// Run the checked query mix against the Jaeger HTTP API.
    Query(BenchQueryArgs),
    /// Bytes on disk per stored span and the server's peak RSS.
    Report(BenchReportArgs),
}

#[derive(Debug, Args)]
pub struct AllInOneArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub storage: StorageArgs,
    #[command(flatten)]
    pub collector: CollectorArgs,
    #[command(flatten)]
    pub sampling: SamplingArgs,
    #[command(flatten)]
    pub listeners: AgentListenerArgs,
    #[command(flatten)]
    pub query: QueryArgs,
    #[command(flatten)]
    pub admin: AdminArgs,
}

#[derive(Debug, Args)]
pub struct CollectorRoleArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub storage: StorageArgs,
    #[command(flatten)]
    pub collector: CollectorArgs,
    #[command(flatten)]
    pub sampling: SamplingArgs,
    #[command(flatten)]
    pub admin: AdminArgs,
}

#[derive(Debug, Args)]
pub struct QueryRoleArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub storage: StorageArgs,
    #[command(flatten)]
    pub query: QueryArgs,
    #[command(flatten)]
    pub admin: QueryAdminArgs,
}

#[derive(Debug, Args)]
pub struct RemoteStorageArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub storage: StorageArgs,
    #[command(flatten)]
    pub server: RemoteStorageServerArgs,
    #[command(flatten)]
    pub admin: RemoteStorageAdminArgs,
}

#[derive(Debug, Args)]
pub struct AgentArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub listeners: AgentListenerArgs,
    #[command(flatten)]
    pub reporter: ReporterArgs,
    #[command(flatten)]
    pub admin: AgentAdminArgs,
}

fn bool_parser() -> clap::builder::BoolishValueParser {
    clap::builder::BoolishValueParser::new()
}

#[derive(Debug, Args)]
#[command(next_help_heading = "General")]
pub struct CommonArgs {
    /// TOML configuration file (same option names as the flags; see config.toml).
    #[arg(long = "config", env = "CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Log filter: error, warn, info, debug, trace, or tracing-subscriber directives.
    #[arg(long = "log-level", env = "LOG_LEVEL", value_name = "FILTER")]
    pub log_level: Option<String>,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Collector")]
pub struct CollectorArgs {
    /// Spans accepted but not yet durable before ingest refuses (retryable) [default: 100000].
    #[arg(
        long = "collector.queue-size",
        env = "COLLECTOR_QUEUE_SIZE",
        value_name = "SPANS"
    )]
    pub queue_size: Option<usize>,
    /// Threads writing to the store [default: 4].
    #[arg(
        long = "collector.num-workers",
        env = "COLLECTOR_NUM_WORKERS",
        value_name = "N"
    )]
    pub collector_num_workers: Option<usize>,
    /// Enable the OTLP receivers [default: true].
    #[arg(long = "collector.otlp.enabled", env = "COLLECTOR_OTLP_ENABLED", value_name = "BOOL",
          num_args = 0..=1, default_missing_value = "true", value_parser = bool_parser())]
    pub otlp_enabled: Option<bool>,
    /// OTLP gRPC listen address, host:port or :port; empty disables [default: :4317].
    #[arg(
        long = "collector.otlp.grpc.host-port",
        env = "COLLECTOR_OTLP_GRPC_HOST_PORT",
        value_name = "HOST:PORT"
    )]
    pub otlp_grpc_host_port: Option<HostPort>,
    /// Largest OTLP gRPC message [default: 4MiB].
    #[arg(
        long = "collector.otlp.grpc.max-message-size",
        env = "COLLECTOR_OTLP_GRPC_MAX_MESSAGE_SIZE",
        value_name = "SIZE"
    )]
    pub otlp_grpc_max_message_size: Option<ByteSize>,
    /// OTLP HTTP listen address; empty disables [default: :4318].
    #[arg(
        long = "collector.otlp.http.host-port",
        env = "COLLECTOR_OTLP_HTTP_HOST_PORT",
        value_name = "HOST:PORT"
    )]
    pub otlp_http_host_port: Option<HostPort>,
    /// Largest OTLP HTTP body after decompression; larger gets 413 [default: 20MiB].
    #[arg(
        long = "collector.otlp.http.max-request-body-size",
        env = "COLLECTOR_OTLP_HTTP_MAX_REQUEST_BODY_SIZE",
        value_name = "SIZE"
    )]
    pub otlp_http_max_request_body_size: Option<ByteSize>,
    /// Zipkin HTTP listen address (/api/v1/spans, /api/v2/spans); empty disables [default: :9411].
    #[arg(
        long = "collector.zipkin.host-port",
        env = "COLLECTOR_ZIPKIN_HOST_PORT",
        value_name = "HOST:PORT"
    )]
    pub zipkin_host_port: Option<HostPort>,
    /// Largest Zipkin body after decompression; larger gets 413 [default: 20MiB].
    #[arg(
        long = "collector.zipkin.max-request-body-size",
        env = "COLLECTOR_ZIPKIN_MAX_REQUEST_BODY_SIZE",
        value_name = "SIZE"
    )]
    pub zipkin_max_request_body_size: Option<ByteSize>,
    /// Jaeger Thrift HTTP (POST /api/traces, GET /api/sampling); empty disables [default: :14268].
    #[arg(
        long = "collector.http-server.host-port",
        env = "COLLECTOR_HTTP_SERVER_HOST_PORT",
        value_name = "HOST:PORT"
    )]
    pub collector_http_host_port: Option<HostPort>,
    /// Largest Jaeger Thrift HTTP body after decompression; larger gets 413 [default: 20MiB].
    #[arg(
        long = "collector.http-server.max-request-body-size",
        env = "COLLECTOR_HTTP_SERVER_MAX_REQUEST_BODY_SIZE",
        value_name = "SIZE"
    )]
    pub http_server_max_request_body_size: Option<ByteSize>,
    /// Jaeger gRPC (CollectorService, SamplingManager); empty disables [default: :14250].
    #[arg(
        long = "collector.grpc-server.host-port",
        env = "COLLECTOR_GRPC_SERVER_HOST_PORT",
        value_name = "HOST:PORT"
    )]
    pub grpc_server_host_port: Option<HostPort>,
    /// Largest Jaeger gRPC message [default: 4MiB].
    #[arg(
        long = "collector.grpc-server.max-message-size",
        env = "COLLECTOR_GRPC_SERVER_MAX_MESSAGE_SIZE",
        value_name = "SIZE"
    )]
    pub grpc_server_max_message_size: Option<ByteSize>,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Sampling")]
pub struct SamplingArgs {
    /// Jaeger sampling strategies JSON, a path or an http(s) URL [default: none].
    #[arg(
        long = "sampling.strategies-file",
        env = "SAMPLING_STRATEGIES_FILE",
        value_name = "FILE|URL"
    )]
    pub strategies_file: Option<String>,
    /// Re-read the strategies file this often; 0s never [default: 0s].
    #[arg(
        long = "sampling.strategies-reload-interval",
        env = "SAMPLING_STRATEGIES_RELOAD_INTERVAL",
        value_name = "DURATION"
    )]
    pub strategies_reload_interval: Option<GoDuration>,
    /// Probability of the default strategy when the file gives none [default: 0.001].
    #[arg(
        long = "sampling.default-sampling-probability",
        env = "SAMPLING_DEFAULT_SAMPLING_PROBABILITY",
        value_name = "P"
    )]
    pub default_sampling_probability: Option<f64>,
}

/// The agent's listeners: Jaeger clients' UDP ports and the sampling HTTP port.
#[derive(Debug, Args)]
#[command(next_help_heading = "Agent")]
pub struct AgentListenerArgs {
    /// UDP, Thrift compact emitBatch; empty disables [default: :6831].
    #[arg(
        long = "processor.jaeger-compact.server-host-port",
        env = "PROCESSOR_JAEGER_COMPACT_SERVER_HOST_PORT",
        value_name = "HOST:PORT"
    )]
    pub compact_host_port: Option<HostPort>,
    /// Largest compact datagram; larger ones are dropped [default: 65000].
    #[arg(
        long = "processor.jaeger-compact.server-max-packet-size",
        env = "PROCESSOR_JAEGER_COMPACT_SERVER_MAX_PACKET_SIZE",
        value_name = "BYTES"
    )]
    pub compact_max_packet_size: Option<usize>,
    /// Compact datagrams queued for the workers; beyond it they are dropped [default: 1000].
    #[arg(
        long = "processor.jaeger-compact.server-queue-size",
        env = "PROCESSOR_JAEGER_COMPACT_SERVER_QUEUE_SIZE",
        value_name = "N"
    )]
    pub compact_queue_size: Option<usize>,
    /// Workers decoding compact datagrams [default: 10].
    #[arg(
        long = "processor.jaeger-compact.workers",
        env = "PROCESSOR_JAEGER_COMPACT_WORKERS",
        value_name = "N"
    )]
    pub compact_workers: Option<usize>,
    /// UDP, Thrift binary emitBatch; empty disables [default: :6832].
    #[arg(
        long = "processor.jaeger-binary.server-host-port",
        env = "PROCESSOR_JAEGER_BINARY_SERVER_HOST_PORT",
        value_name = "HOST:PORT"
    )]
    pub binary_host_port: Option<HostPort>,
    /// Largest binary datagram; larger ones are dropped [default: 65000].
    #[arg(
        long = "processor.jaeger-binary.server-max-packet-size",
        env = "PROCESSOR_JAEGER_BINARY_SERVER_MAX_PACKET_SIZE",
        value_name = "BYTES"
    )]
    pub binary_max_packet_size: Option<usize>,
    /// Binary datagrams queued for the workers; beyond it they are dropped [default: 1000].
    #[arg(
        long = "processor.jaeger-binary.server-queue-size",
        env = "PROCESSOR_JAEGER_BINARY_SERVER_QUEUE_SIZE",
        value_name = "N"
    )]
    pub binary_queue_size: Option<usize>,
    /// Workers decoding binary datagrams [default: 10].
    #[arg(
        long = "processor.jaeger-binary.workers",
        env = "PROCESSOR_JAEGER_BINARY_WORKERS",
        value_name = "N"
    )]
    pub binary_workers: Option<usize>,
    /// Sampling strategies for clients (GET /sampling?service=); empty disables [default: :5778].
    #[arg(
        long = "http-server.host-port",
        env = "HTTP_SERVER_HOST_PORT",
        value_name = "HOST:PORT"
    )]
    pub http_server_host_port: Option<HostPort>,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Reporter")]
pub struct ReporterArgs {
    /// Collectors to forward to, comma-separated host:port, round-robin (required).
    #[arg(
        long = "reporter.grpc.host-port",
        env = "REPORTER_GRPC_HOST_PORT",
        value_name = "HOST:PORT[,HOST:PORT…]"
    )]
    pub grpc_host_port: Option<String>,
    /// Further attempts after a failed send, with backoff [default: 3].
    #[arg(
        long = "reporter.grpc.retry.max",
        env = "REPORTER_GRPC_RETRY_MAX",
        value_name = "N"
    )]
    pub retry_max: Option<u32>,
    /// Tags added to every process: key=value,key2=${ENV_VAR:default}.
    #[arg(long = "agent.tags", env = "AGENT_TAGS", value_name = "TAGS")]
    pub agent_tags: Option<String>,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Query")]
pub struct QueryArgs {
    /// Query HTTP (API + UI) listen address; empty disables [default: :16686].
    #[arg(
        long = "query.http-server.host-port",
        env = "QUERY_HTTP_SERVER_HOST_PORT",
        value_name = "HOST:PORT"
    )]
    pub query_http_host_port: Option<HostPort>,
    /// Prefix of every query route, e.g. /jaeger [default: /].
    #[arg(long = "query.base-path", env = "QUERY_BASE_PATH", value_name = "PATH")]
    pub base_path: Option<String>,
    /// Largest clock-skew correction; 0s disables the adjuster [default: 0s].
    #[arg(
        long = "query.max-clock-skew-adjustment",
        env = "QUERY_MAX_CLOCK_SKEW_ADJUSTMENT",
        value_name = "DURATION"
    )]
    pub max_clock_skew_adjustment: Option<GoDuration>,
    /// Directory holding a Jaeger UI build to serve.
    #[arg(
        long = "query.static-files",
        env = "QUERY_STATIC_FILES",
        value_name = "DIR"
    )]
    pub static_files: Option<PathBuf>,
    /// UI configuration file (.json or .js).
    #[arg(long = "query.ui-config", env = "QUERY_UI_CONFIG", value_name = "FILE")]
    pub ui_config: Option<PathBuf>,
    /// Threads reading from the store [default: 2].
    #[arg(
        long = "query.num-workers",
        env = "QUERY_NUM_WORKERS",
        value_name = "N"
    )]
    pub query_num_workers: Option<usize>,
    /// Query gRPC (api_v2 and api_v3 QueryService); empty disables [default: :16685].
    #[arg(
        long = "query.grpc-server.host-port",
        env = "QUERY_GRPC_SERVER_HOST_PORT",
        value_name = "HOST:PORT"
    )]
    pub query_grpc_host_port: Option<HostPort>,
    /// Largest query gRPC message [default: 4MiB].
    #[arg(
        long = "query.grpc-server.max-message-size",
        env = "QUERY_GRPC_SERVER_MAX_MESSAGE_SIZE",
        value_name = "SIZE"
    )]
    pub query_grpc_max_message_size: Option<ByteSize>,
}

/// `--admin.http.host-port`, one struct per role because the default (in the help) differs.
macro_rules! admin_args {
    ($name:ident, $default:literal) => {
        #[derive(Debug, Args)]
        #[command(next_help_heading = "Admin")]
        pub struct $name {
            #[doc = concat!(
                        "Admin HTTP (health, /metrics) listen address; empty disables [default: ",
                        $default,
                        "]."
                    )]
            #[arg(
                long = "admin.http.host-port",
                env = "ADMIN_HTTP_HOST_PORT",
                value_name = "HOST:PORT"
            )]
            pub admin_http_host_port: Option<HostPort>,
        }
    };
}

admin_args!(AdminArgs, ":14269");
admin_args!(AgentAdminArgs, ":14271");
admin_args!(QueryAdminArgs, ":16687");
admin_args!(RemoteStorageAdminArgs, ":17270");

fn set<T>(slot: &mut T, value: &Option<T>)
where
    T: Clone,
{
    if let Some(v) = value {
        *slot = v.clone();
    }
}

impl CommonArgs {
    /// The role's defaults overlaid with the config file, then the common flags.
    fn base_config(&self, defaults: Config) -> Result<Config, ConfigError> {
        let mut cfg = match &self.config {
            Some(path) => Config::from_file_over(path, defaults)?,
            None => defaults,
        };
        if let Some(l) = &self.log_level {
            cfg.log_level.0 = l.clone();
        }
        Ok(cfg)
    }
}

impl CommonArgs {
    /// A role's configuration: its defaults, the config file and the common flags, then the
    /// role's own flags (`apply`) and `--admin.http.host-port`; validated.
    fn load(
        &self,
        defaults: Config,
        admin: &Option<HostPort>,
        apply: impl FnOnce(&mut Config),
    ) -> Result<Config, ConfigError> {
        let mut cfg = self.base_config(defaults)?;
        apply(&mut cfg);
        set(&mut cfg.admin.http.host_port, admin);
        cfg.validate()?;
        Ok(cfg)
    }
}

impl AllInOneArgs {
    /// Defaults, then the config file, then flags/environment; validated.
    pub fn load_config(&self) -> Result<Config, ConfigError> {
        let admin = &self.admin.admin_http_host_port;
        self.common.load(Config::default(), admin, |cfg| {
            self.storage.apply(cfg);
            self.collector.apply(cfg);
            self.sampling.apply(cfg);
            self.listeners.apply(cfg);
            self.query.apply(cfg);
        })
    }
}

impl CollectorRoleArgs {
    /// The defaults (admin :14269, as Jaeger's collector), then the config file, then
    /// flags/environment; validated.
    pub fn load_config(&self) -> Result<Config, ConfigError> {
        let admin = &self.admin.admin_http_host_port;
        self.common.load(Config::default(), admin, |cfg| {
            self.storage.apply(cfg);
            self.collector.apply(cfg);
            self.sampling.apply(cfg);
        })
    }
}

impl QueryRoleArgs {
    /// The query service's defaults (admin :16687), then the config file, then flags.
    pub fn load_config(&self) -> Result<Config, ConfigError> {
        let admin = &self.admin.admin_http_host_port;
        self.common.load(Config::query_defaults(), admin, |cfg| {
            self.storage.apply(cfg);
            self.query.apply(cfg);
        })
    }
}

impl RemoteStorageArgs {
    /// The remote-storage defaults (admin :17270), then the config file, then flags.
    pub fn load_config(&self) -> Result<Config, ConfigError> {
        let admin = &self.admin.admin_http_host_port;
        self.common
            .load(Config::remote_storage_defaults(), admin, |cfg| {
                self.storage.apply(cfg);
                set(&mut cfg.grpc.host_port, &self.server.host_port);
                set(
                    &mut cfg.grpc.max_message_size,
                    &self.server.max_message_size,
                );
            })
    }
}

impl AgentArgs {
    /// The agent's defaults (admin on :14271, as Jaeger's agent), then the config file, then
    /// flags/environment; validated. The agent needs at least one collector.
    pub fn load_config(&self) -> Result<Config, ConfigError> {
        let admin = &self.admin.admin_http_host_port;
        let cfg = self.common.load(Config::agent_defaults(), admin, |cfg| {
            self.listeners.apply(cfg);
            let r = &mut cfg.reporter.grpc;
            set(&mut r.host_port, &self.reporter.grpc_host_port);
            set(&mut r.retry.max, &self.reporter.retry_max);
            set(&mut cfg.agent.tags, &self.reporter.agent_tags);
        })?;
        cfg.validate_agent()?;
        Ok(cfg)
    }
}

impl SamplingArgs {
    fn apply(&self, cfg: &mut Config) {
        let s = &mut cfg.sampling;
        if self.strategies_file.is_some() {
            s.strategies_file = self.strategies_file.clone();
        }
        set(
            &mut s.strategies_reload_interval,
            &self.strategies_reload_interval,
        );
        set(
            &mut s.default_sampling_probability,
            &self.default_sampling_probability,
        );
    }
}

impl AgentListenerArgs {
    fn apply(&self, cfg: &mut Config) {
        let c = &mut cfg.processor.jaeger_compact;
        set(&mut c.server_host_port, &self.compact_host_port);
        set(&mut c.server_max_packet_size, &self.compact_max_packet_size);
        set(&mut c.server_queue_size, &self.compact_queue_size);
        set(&mut c.workers, &self.compact_workers);
        let b = &mut cfg.processor.jaeger_binary;
        set(&mut b.server_host_port, &self.binary_host_port);
        set(&mut b.server_max_packet_size, &self.binary_max_packet_size);
        set(&mut b.server_queue_size, &self.binary_queue_size);
        set(&mut b.workers, &self.binary_workers);
        set(&mut cfg.http_server.host_port, &self.http_server_host_port);
    }
}

impl CollectorArgs {
    fn apply(&self, cfg: &mut Config) {
        let c = &mut cfg.collector;
        set(&mut c.queue_size, &self.queue_size);
        set(&mut c.num_workers, &self.collector_num_workers);
        set(&mut c.otlp.enabled, &self.otlp_enabled);
        set(&mut c.otlp.grpc.host_port, &self.otlp_grpc_host_port);
        set(
            &mut c.otlp.grpc.max_message_size,
            &self.otlp_grpc_max_message_size,
        );
        set(&mut c.otlp.http.host_port, &self.otlp_http_host_port);
        set(
            &mut c.otlp.http.max_request_body_size,
            &self.otlp_http_max_request_body_size,
        );
        set(&mut c.zipkin.host_port, &self.zipkin_host_port);
        set(
            &mut c.zipkin.max_request_body_size,
            &self.zipkin_max_request_body_size,
        );
        set(&mut c.http_server.host_port, &self.collector_http_host_port);
        set(
            &mut c.http_server.max_request_body_size,
            &self.http_server_max_request_body_size,
        );
        set(&mut c.grpc_server.host_port, &self.grpc_server_host_port);
        set(
            &mut c.grpc_server.max_message_size,
            &self.grpc_server_max_message_size,
        );
    }
}

impl QueryArgs {
    fn apply(&self, cfg: &mut Config) {
        let q = &mut cfg.query;
        set(&mut q.http_server.host_port, &self.query_http_host_port);
        set(&mut q.base_path, &self.base_path);
        set(
            &mut q.max_clock_skew_adjustment,
            &self.max_clock_skew_adjustment,
        );
        if self.static_files.is_some() {
            q.static_files = self.static_files.clone();
        }
        if self.ui_config.is_some() {
            q.ui_config = self.ui_config.clone();
        }
        set(&mut q.num_workers, &self.query_num_workers);
        set(&mut q.grpc_server.host_port, &self.query_grpc_host_port);
        set(
            &mut q.grpc_server.max_message_size,
            &self.query_grpc_max_message_size,
        );
    }
}

#[cfg(test)]
mod tests;
