//! The two JSON renderings of a strategy that Jaeger clients read (jaeger-wire.md §f).
//!
//! * [`proto_json`]: Jaeger's `SamplingStrategyResponseToJSON` — gogo jsonpb with defaults
//!   emitted (so `"strategyType":"PROBABILISTIC"` and zero numbers appear), then the three
//!   top-level `null` submessages removed. Keys in proto field order.
//! * [`legacy_json`]: the v1 agent's `GET /?service=` — the Thrift struct through Go's
//!   `encoding/json`: numeric `strategyType`, the same keys and order, and Thrift's limits
//!   (`maxTracesPerSecond` is an i16).
//!
//! Written by hand rather than through `serde_json::Value`, whose maps sort their keys in this
//! build, and because numbers and strings must read as Go prints them (`0`, not `0.0`;
//! `1e-7`; `<` as `\u003c`).

use std::fmt::Write as _;

use crate::model::go_json;
use crate::proto::api_v2::{
    PerOperationSamplingStrategies, ProbabilisticSamplingStrategy, SamplingStrategyResponse,
    SamplingStrategyType,
};
use crate::sampling::SamplingError;

/// `GET /sampling?service=` (agent) and `GET /api/sampling?service=` (collector).
pub fn proto_json(r: &SamplingStrategyResponse) -> String {
    let mut out = String::with_capacity(160);
    out.push_str("{\"strategyType\":");
    match SamplingStrategyType::try_from(r.strategy_type) {
        Ok(t) => go_json::write_string(&mut out, t.as_str_name()),
        // jsonpb prints an enum value it has no name for as its number.
        Err(_) => push_display(&mut out, r.strategy_type),
    }
    if let Some(p) = &r.probabilistic_sampling {
        out.push_str(",\"probabilisticSampling\":");
        push_probabilistic(&mut out, p);
    }
    if let Some(rl) = &r.rate_limiting_sampling {
        out.push_str(",\"rateLimitingSampling\":{\"maxTracesPerSecond\":");
        push_display(&mut out, rl.max_traces_per_second);
        out.push('}');
    }
    push_operation_sampling(&mut out, r.operation_sampling.as_ref());
    out.push('}');
    out
}

/// `GET /?service=` on the agent: the Thrift-JSON form. Fails where Jaeger's conversion to
/// Thrift fails (an unknown strategy type, a rate beyond i16), which the agent answers 500.
pub fn legacy_json(r: &SamplingStrategyResponse) -> Result<String, SamplingError> {
    let kind = SamplingStrategyType::try_from(r.strategy_type).map_err(|_| {
        SamplingError::NotThriftCompatible(format!(
            "unknown sampling strategy type {}",
            r.strategy_type
        ))
    })?;
    let mut out = String::with_capacity(160);
    out.push_str("{\"strategyType\":");
    push_display(&mut out, kind as i32);
    if let Some(p) = &r.probabilistic_sampling {
        out.push_str(",\"probabilisticSampling\":");
        push_probabilistic(&mut out, p);
    }
    if let Some(rl) = &r.rate_limiting_sampling {
        let max = i16::try_from(rl.max_traces_per_second).map_err(|_| {
            SamplingError::NotThriftCompatible(format!(
                "maxTracesPerSecond {} does not fit Thrift's i16",
                rl.max_traces_per_second
            ))
        })?;
        out.push_str(",\"rateLimitingSampling\":{\"maxTracesPerSecond\":");
        push_display(&mut out, max);
        out.push('}');
    }
    push_operation_sampling(&mut out, r.operation_sampling.as_ref());
    out.push('}');
    Ok(out)
}

/// Identical in both encodings: jsonpb emits every field; the Thrift converter sets the
/// optional upper bound and turns an empty list into `[]`. A per-operation entry without
/// `probabilisticSampling` stays `null` in both (Jaeger strips nulls only at the top level).
fn push_operation_sampling(out: &mut String, ops: Option<&PerOperationSamplingStrategies>) {
    let Some(ops) = ops else { return };
    out.push_str(",\"operationSampling\":{\"defaultSamplingProbability\":");
    push_go_float(out, ops.default_sampling_probability);
    out.push_str(",\"defaultLowerBoundTracesPerSecond\":");
    push_go_float(out, ops.default_lower_bound_traces_per_second);
    out.push_str(",\"perOperationStrategies\":[");
    for (i, op) in ops.per_operation_strategies.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"operation\":");
        go_json::write_string(out, &op.operation);
        out.push_str(",\"probabilisticSampling\":");
        match &op.probabilistic_sampling {
            Some(p) => push_probabilistic(out, p),
            None => out.push_str("null"),
        }
        out.push('}');
    }
    out.push_str("],\"defaultUpperBoundTracesPerSecond\":");
    push_go_float(out, ops.default_upper_bound_traces_per_second);
    out.push('}');
}

fn push_probabilistic(out: &mut String, p: &ProbabilisticSamplingStrategy) {
    out.push_str("{\"samplingRate\":");
    push_go_float(out, p.sampling_rate);
    out.push('}');
}

fn push_display(out: &mut String, v: impl std::fmt::Display) {
    // Writing into a String cannot fail.
    let _ = write!(out, "{v}");
}

/// A float64 as Go's `encoding/json` writes it (`0`, `5`, `0.001`, `1e-7`, `1e+21`). Non-finite
/// values (impossible from a validated file) are written as jsonpb does, as strings.
fn push_go_float(out: &mut String, f: f64) {
    if go_json::write_float(out, f).is_err() {
        out.push_str(if f.is_nan() {
            "\"NaN\""
        } else if f > 0.0 {
            "\"Infinity\""
        } else {
            "\"-Infinity\""
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::api_v2::{OperationSamplingStrategy, RateLimitingSamplingStrategy};

    fn probabilistic(rate: f64) -> SamplingStrategyResponse {
        SamplingStrategyResponse {
            strategy_type: SamplingStrategyType::Probabilistic as i32,
            probabilistic_sampling: Some(ProbabilisticSamplingStrategy {
                sampling_rate: rate,
            }),
            ..Default::default()
        }
    }

    fn rate_limiting(max: i32) -> SamplingStrategyResponse {
        SamplingStrategyResponse {
            strategy_type: SamplingStrategyType::RateLimiting as i32,
            rate_limiting_sampling: Some(RateLimitingSamplingStrategy {
                max_traces_per_second: max,
            }),
            ..Default::default()
        }
    }

    fn with_operations() -> SamplingStrategyResponse {
        let mut r = probabilistic(0.8);
        r.operation_sampling = Some(PerOperationSamplingStrategies {
            default_sampling_probability: 0.8,
            default_lower_bound_traces_per_second: 0.0,
            per_operation_strategies: vec![OperationSamplingStrategy {
                operation: "/health".into(),
                probabilistic_sampling: Some(ProbabilisticSamplingStrategy { sampling_rate: 0.1 }),
            }],
            default_upper_bound_traces_per_second: 0.0,
        });
        r
    }

    #[test]
    fn proto_json_matches_the_documented_examples() {
        assert_eq!(
            proto_json(&probabilistic(0.001)),
            r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.001}}"#
        );
        assert_eq!(
            proto_json(&rate_limiting(5)),
            r#"{"strategyType":"RATE_LIMITING","rateLimitingSampling":{"maxTracesPerSecond":5}}"#
        );
        assert_eq!(
            proto_json(&with_operations()),
            concat!(
                r#"{"strategyType":"PROBABILISTIC","#,
                r#""probabilisticSampling":{"samplingRate":0.8},"#,
                r#""operationSampling":{"defaultSamplingProbability":0.8,"#,
                r#""defaultLowerBoundTracesPerSecond":0,"#,
                r#""perOperationStrategies":[{"operation":"/health","probabilisticSampling":{"samplingRate":0.1}}],"#,
                r#""defaultUpperBoundTracesPerSecond":0}}"#
            )
        );
    }

    #[test]
    fn legacy_json_has_a_numeric_strategy_type_and_otherwise_the_same_text() {
        for (r, numeric) in [
            (probabilistic(0.001), "0"),
            (rate_limiting(5), "1"),
            (with_operations(), "0"),
        ] {
            let name = SamplingStrategyType::try_from(r.strategy_type)
                .expect("known")
                .as_str_name();
            let expected = proto_json(&r).replacen(&format!("\"{name}\""), numeric, 1);
            assert_eq!(legacy_json(&r).expect("thrift-compatible"), expected);
        }
        assert_eq!(
            legacy_json(&probabilistic(1.0)).expect("ok"),
            r#"{"strategyType":0,"probabilisticSampling":{"samplingRate":1}}"#
        );
    }

    #[test]
    fn legacy_json_refuses_what_thrift_cannot_carry() {
        let msg = legacy_json(&rate_limiting(40_000))
            .expect_err("over i16")
            .to_string();
        assert_eq!(msg, "maxTracesPerSecond 40000 does not fit Thrift's i16");
        let mut unknown = probabilistic(0.5);
        unknown.strategy_type = 7;
        assert!(legacy_json(&unknown).is_err());
        assert!(proto_json(&unknown).starts_with("{\"strategyType\":7,"));
    }

    #[test]
    fn empty_operation_list_and_missing_operation_rate_render_like_jaeger() {
        let mut r = rate_limiting(1);
        r.operation_sampling = Some(PerOperationSamplingStrategies {
            default_sampling_probability: 0.001,
            per_operation_strategies: vec![OperationSamplingStrategy {
                operation: "a<b>&\"c\"\n".into(),
                probabilistic_sampling: None,
            }],
            ..Default::default()
        });
        assert_eq!(
            proto_json(&r),
            concat!(
                r#"{"strategyType":"RATE_LIMITING","rateLimitingSampling":{"maxTracesPerSecond":1},"#,
                r#""operationSampling":{"defaultSamplingProbability":0.001,"defaultLowerBoundTracesPerSecond":0,"#,
                r#""perOperationStrategies":[{"operation":"a\u003cb\u003e\u0026\"c\"\n","probabilisticSampling":null}],"#,
                r#""defaultUpperBoundTracesPerSecond":0}}"#
            )
        );
        r.operation_sampling = Some(PerOperationSamplingStrategies::default());
        assert!(proto_json(&r).contains(r#""perOperationStrategies":[],"#));
    }

    #[test]
    fn floats_print_as_go_prints_them() {
        let cases = [
            (0.0, "0"),
            (1.0, "1"),
            (0.5, "0.5"),
            (0.000001, "0.000001"),
            (0.0000001, "1e-7"),
            (1.5e-10, "1.5e-10"),
            (123456.0, "123456"),
            (1e20, "100000000000000000000"),
            (1e21, "1e+21"),
            (-2.5, "-2.5"),
        ];
        for (f, expected) in cases {
            let mut s = String::new();
            push_go_float(&mut s, f);
            assert_eq!(s, expected, "{f}");
        }
    }
}
