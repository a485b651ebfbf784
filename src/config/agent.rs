//! Options of the agent side: the UDP `emitBatch` servers, the sampling HTTP port, the
//! strategies file, and (agent role only) the reporter and its tags.

use serde::{Deserialize, Serialize};

use super::{invalid, ConfigError, GoDuration, HostPort};

/// The agent's UDP servers (`Agent.emitBatch`), as Jaeger names them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct ProcessorConfig {
    /// Thrift compact protocol (what most Jaeger clients send).
    pub jaeger_compact: UdpServerConfig,
    /// Thrift binary protocol (e.g. the Node.js client).
    pub jaeger_binary: UdpServerConfig,
}

impl Default for ProcessorConfig {
    fn default() -> Self {
        ProcessorConfig {
            jaeger_compact: UdpServerConfig::on_port(6831),
            jaeger_binary: UdpServerConfig::on_port(6832),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct UdpServerConfig {
    /// host:port or :port; empty disables the listener.
    pub server_host_port: HostPort,
    /// Larger datagrams are dropped (counted).
    pub server_max_packet_size: usize,
    /// Datagrams waiting for a worker; when full, new ones are dropped (counted).
    pub server_queue_size: usize,
    /// Tasks decoding and forwarding datagrams.
    pub workers: usize,
}

impl UdpServerConfig {
    fn on_port(port: u16) -> Self {
        UdpServerConfig {
            server_host_port: HostPort::port(port),
            server_max_packet_size: 65_000,
            server_queue_size: 1000,
            workers: 10,
        }
    }
}

impl UdpServerConfig {
    pub(super) fn validate(&self, prefix: &str) -> Result<(), ConfigError> {
        if !(1..=65_535).contains(&self.server_max_packet_size) {
            return Err(invalid(
                format!("{prefix}.server-max-packet-size"),
                "must be between 1 and 65535",
            ));
        }
        if self.server_queue_size == 0 {
            return Err(invalid(
                format!("{prefix}.server-queue-size"),
                "must be at least 1",
            ));
        }
        if self.workers == 0 {
            return Err(invalid(format!("{prefix}.workers"), "must be at least 1"));
        }
        Ok(())
    }
}

impl Default for UdpServerConfig {
    fn default() -> Self {
        Self::on_port(0)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct AgentHttpConfig {
    pub host_port: HostPort,
}

impl Default for AgentHttpConfig {
    fn default() -> Self {
        AgentHttpConfig {
            host_port: HostPort::port(5778),
        }
    }
}

/// Remote sampling strategies (collector).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct SamplingConfig {
    /// Jaeger strategies JSON: a path or an http(s) URL; unset serves the default probability.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strategies_file: Option<String>,
    /// How often the file is re-read; 0s never.
    pub strategies_reload_interval: GoDuration,
    /// Probability of the default strategy when the file sets none.
    pub default_sampling_probability: f64,
}

impl Default for SamplingConfig {
    fn default() -> Self {
        SamplingConfig {
            strategies_file: None,
            strategies_reload_interval: GoDuration(0),
            default_sampling_probability: 0.001,
        }
    }
}

/// Where the agent forwards spans.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct ReporterConfig {
    pub grpc: ReporterGrpcConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct ReporterGrpcConfig {
    /// Comma-separated collector host:port list, used round-robin.
    pub host_port: String,
    pub retry: RetryConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct RetryConfig {
    /// Further attempts after a failed send (with exponential backoff).
    pub max: u32,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig { max: 3 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct AgentConfig {
    /// `key=value,key2=${ENV_VAR:default}` tags added to every process the agent forwards.
    pub tags: String,
}
