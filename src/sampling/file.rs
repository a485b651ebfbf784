//! The strategies file of Jaeger's file provider (jaeger-wire.md §f): JSON bytes in, one
//! `SamplingStrategyResponse` per service plus the default out.
//!
//! Pure — no I/O, no clock; [`super::SamplingProvider`] reads and reloads. Decoding is as lenient
//! as Go's `encoding/json` on Jaeger's structs (unknown keys ignored, absent or null keys are
//! zero, a `null` document means "no strategies"), and the derivation rules are Jaeger's, in
//! Jaeger's order. Our one addition is validation: a probabilistic `param` outside 0..=1 (or a
//! negative / over-`i32` rate) is an error naming its JSON path, where Jaeger would serve it.

use std::collections::HashMap;

use serde::Deserialize;
use thiserror::Error;

use crate::proto::api_v2::{
    OperationSamplingStrategy, PerOperationSamplingStrategies, ProbabilisticSamplingStrategy,
    RateLimitingSamplingStrategy, SamplingStrategyResponse, SamplingStrategyType,
};

const TYPE_PROBABILISTIC: &str = "probabilistic";
const TYPE_RATE_LIMITING: &str = "ratelimiting";

/// Why a strategies file was refused. The text is what operators read after the file name.
#[derive(Debug, Error)]
pub enum StrategiesError {
    #[error("{0}")]
    Syntax(#[from] serde_json::Error),
    #[error("{path}: {detail}")]
    Invalid { path: String, detail: String },
}

// The file's shape (Jaeger's `strategies` / `serviceStrategy` / `operationStrategy`). Every key
// is optional because Go fills absent and null keys with zero values.

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct FileJson {
    default_strategy: Option<ServiceJson>,
    service_strategies: Option<Vec<ServiceJson>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ServiceJson {
    service: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    param: Option<f64>,
    operation_strategies: Option<Vec<OperationJson>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct OperationJson {
    operation: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    param: Option<f64>,
}

/// The parsed strategies: what each named service gets, and what everyone else gets.
#[derive(Debug, Clone, PartialEq)]
pub struct Strategies {
    pub default: SamplingStrategyResponse,
    pub services: HashMap<String, SamplingStrategyResponse>,
}

impl Strategies {
    /// No file: every service samples with `default_probability`.
    pub fn defaults(default_probability: f64) -> Self {
        Strategies {
            default: probabilistic(default_probability),
            services: HashMap::new(),
        }
    }

    /// A named service's strategy, or the default one.
    pub fn for_service(&self, service: &str) -> &SamplingStrategyResponse {
        self.services.get(service).unwrap_or(&self.default)
    }

    /// Parses a strategies file and applies Jaeger's derivation rules.
    pub fn parse(json: &[u8], default_probability: f64) -> Result<Self, StrategiesError> {
        let file: Option<FileJson> = serde_json::from_slice(json)?;
        let file = file.unwrap_or_default();
        let deriver = Deriver {
            default_probability,
        };
        let mut strategies = Strategies::defaults(default_probability);
        if let Some(default) = &file.default_strategy {
            strategies.default = deriver.service(default, "default_strategy")?;
        }
        let services = file.service_strategies.unwrap_or_default();
        for (i, service) in services.iter().enumerate() {
            let mut resp = deriver.service(service, &format!("service_strategies[{i}]"))?;
            if let Some(default_ops) = &strategies.default.operation_sampling {
                inherit_default_operations(&mut resp, default_ops);
            }
            // A repeated service name: the later entry wins, as in Jaeger's map.
            strategies
                .services
                .insert(service.service.clone().unwrap_or_default(), resp);
        }
        Ok(strategies)
    }
}

/// A service without operation strategies of its own gets a copy of the default's (with its
/// own probability as `defaultSamplingProbability` when it is probabilistic); one with its own
/// gets the default's operations it doesn't define appended.
fn inherit_default_operations(
    resp: &mut SamplingStrategyResponse,
    default_ops: &PerOperationSamplingStrategies,
) {
    match &mut resp.operation_sampling {
        None => {
            let mut inherited = default_ops.clone();
            if let Some(p) = &resp.probabilistic_sampling {
                inherited.default_sampling_probability = p.sampling_rate;
            }
            resp.operation_sampling = Some(inherited);
        }
        Some(own) => {
            // Only the service's own names are checked, so a name repeated in the default
            // list is appended twice — as Jaeger's merge does.
            let own_names: Vec<String> = own
                .per_operation_strategies
                .iter()
                .map(|o| o.operation.clone())
                .collect();
            own.per_operation_strategies.extend(
                default_ops
                    .per_operation_strategies
                    .iter()
                    .filter(|d| !own_names.contains(&d.operation))
                    .cloned(),
            );
        }
    }
}

struct Deriver {
    default_probability: f64,
}

impl Deriver {
    /// `default_strategy` or one `service_strategies[]` entry, with its operation strategies.
    fn service(
        &self,
        s: &ServiceJson,
        path: &str,
    ) -> Result<SamplingStrategyResponse, StrategiesError> {
        let mut resp = self.strategy(s.kind.as_deref(), s.param, path)?;
        let operations = s.operation_strategies.as_deref().unwrap_or_default();
        if operations.is_empty() {
            return Ok(resp);
        }
        let default_sampling_probability = match &resp.probabilistic_sampling {
            Some(p) if resp.strategy_type == SamplingStrategyType::Probabilistic as i32 => {
                p.sampling_rate
            }
            _ => self.default_probability,
        };
        let mut per_operation_strategies = Vec::with_capacity(operations.len());
        for (i, op) in operations.iter().enumerate() {
            let op_path = format!("{path}.operation_strategies[{i}]");
            let operation = op.operation.clone().unwrap_or_default();
            // OperationSamplingStrategy has no rate-limiting field: Jaeger drops these, and the
            // operation falls back to defaultSamplingProbability.
            if op.kind.as_deref() == Some(TYPE_RATE_LIMITING) {
                tracing::warn!(
                    path = %op_path,
                    operation = %operation,
                    default_sampling_probability,
                    "operation strategies support only probabilistic sampling; \
                     skipping a rate-limiting one"
                );
                continue;
            }
            let op_resp = self.strategy(op.kind.as_deref(), op.param, &op_path)?;
            per_operation_strategies.push(OperationSamplingStrategy {
                operation,
                probabilistic_sampling: op_resp.probabilistic_sampling,
            });
        }
        resp.operation_sampling = Some(PerOperationSamplingStrategies {
            default_sampling_probability,
            default_lower_bound_traces_per_second: 0.0,
            per_operation_strategies,
            default_upper_bound_traces_per_second: 0.0,
        });
        Ok(resp)
    }

    /// One `type` + `param` pair. An unknown (or absent) type means the default probabilistic
    /// strategy; a rate is truncated to an integer like Go's `int32(param)`.
    fn strategy(
        &self,
        kind: Option<&str>,
        param: Option<f64>,
        path: &str,
    ) -> Result<SamplingStrategyResponse, StrategiesError> {
        let param = param.unwrap_or(0.0);
        match kind {
            Some(TYPE_PROBABILISTIC) => {
                if !(0.0..=1.0).contains(&param) {
                    return Err(invalid(
                        path,
                        format!("probability {param} is outside 0..=1"),
                    ));
                }
                Ok(probabilistic(param))
            }
            Some(TYPE_RATE_LIMITING) => {
                if !(0.0..=f64::from(i32::MAX)).contains(&param) {
                    return Err(invalid(
                        path,
                        format!("traces per second {param} is outside 0..={}", i32::MAX),
                    ));
                }
                Ok(SamplingStrategyResponse {
                    strategy_type: SamplingStrategyType::RateLimiting as i32,
                    rate_limiting_sampling: Some(RateLimitingSamplingStrategy {
                        max_traces_per_second: param.trunc() as i32,
                    }),
                    ..Default::default()
                })
            }
            other => {
                tracing::warn!(
                    path,
                    r#type = other.unwrap_or(""),
                    default_probability = self.default_probability,
                    "unknown sampling strategy type; using the default probabilistic strategy"
                );
                Ok(probabilistic(self.default_probability))
            }
        }
    }
}

fn invalid(path: &str, detail: String) -> StrategiesError {
    StrategiesError::Invalid {
        path: format!("{path}.param"),
        detail,
    }
}

fn probabilistic(sampling_rate: f64) -> SamplingStrategyResponse {
    SamplingStrategyResponse {
        strategy_type: SamplingStrategyType::Probabilistic as i32,
        probabilistic_sampling: Some(ProbabilisticSamplingStrategy { sampling_rate }),
        ..Default::default()
    }
}

#[cfg(test)]
#[path = "file_tests.rs"]
pub(crate) mod tests;
