//! Remote sampling (jaeger-wire.md §f): the strategies a Jaeger client fetches from the agent
//! (`:5778`) or the collector (`:14268` HTTP, `:14250` gRPC `SamplingManager`).
//!
//! Owns the strategies file (parse + Jaeger's derivation rules, [`file`]), the provider that
//! loads and reloads it ([`SamplingProvider`]), the gRPC client an agent asks a collector with
//! ([`RemoteStrategies`]), and the two JSON renderings clients read ([`proto_json`],
//! [`legacy_json`]). Both behind one [`StrategySource`] so the HTTP and gRPC servers don't care
//! which they serve. No HTTP or gRPC *server* code here; that is `api`.

pub mod file;
mod json;
mod provider;
mod remote;

use std::time::Duration;

use futures_util::future::BoxFuture;
use thiserror::Error;

use crate::proto::api_v2::SamplingStrategyResponse;

pub use file::{Strategies, StrategiesError};
pub use json::{legacy_json, proto_json};
pub use provider::SamplingProvider;
pub use remote::RemoteStrategies;

/// Jaeger's `--sampling.default-sampling-probability` default.
pub const DEFAULT_SAMPLING_PROBABILITY: f64 = 0.001;

/// Where the strategies come from and how often they are re-read.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingOptions {
    /// A local path or an `http(s)://` URL; `None` (or blank) serves the default strategy to all.
    pub strategies_file: Option<String>,
    /// How often the file is re-read; `Duration::ZERO` = never.
    pub reload_interval: Duration,
    /// The probability of the default strategy when the file doesn't set one (and of unknown
    /// strategy types, and of operation defaults under a rate-limiting strategy).
    pub default_sampling_probability: f64,
}

impl Default for SamplingOptions {
    fn default() -> Self {
        SamplingOptions {
            strategies_file: None,
            reload_interval: Duration::ZERO,
            default_sampling_probability: DEFAULT_SAMPLING_PROBABILITY,
        }
    }
}

#[derive(Debug, Error)]
pub enum SamplingError {
    #[error("default sampling probability {0} is outside 0..=1")]
    InvalidDefaultProbability(f64),
    #[error("cannot read sampling strategies file {path}: {source}")]
    ReadFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot download sampling strategies from {url}: {reason}")]
    Download { url: String, reason: String },
    #[error("invalid sampling strategies in {origin}: {source}")]
    Invalid {
        origin: String,
        #[source]
        source: StrategiesError,
    },
    #[error("invalid sampling collector address {address:?}: {reason}")]
    InvalidEndpoint { address: String, reason: String },
    #[error("GetSamplingStrategy on {endpoint} failed ({code:?}): {message}")]
    Remote {
        endpoint: String,
        code: tonic::Code,
        message: String,
    },
    #[error("GetSamplingStrategy on {endpoint} timed out after {timeout:?}")]
    Timeout { endpoint: String, timeout: Duration },
    /// The legacy (Thrift) encoding cannot carry the strategy.
    #[error("{0}")]
    NotThriftCompatible(String),
}

/// Answers "which strategy for this service?" — locally ([`SamplingProvider`], the collector)
/// or by asking a collector ([`RemoteStrategies`], the agent).
pub trait StrategySource: Send + Sync + 'static {
    fn strategy(
        &self,
        service: String,
    ) -> BoxFuture<'static, Result<SamplingStrategyResponse, SamplingError>>;
}
