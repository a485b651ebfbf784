use super::*;

/// Shaped like the example in Jaeger's sampling documentation.
pub(crate) const DOCUMENTED_EXAMPLE: &str = r#"{
  "service_strategies": [
    {
      "service": "foo",
      "type": "probabilistic",
      "param": 0.8,
      "operation_strategies": [
        {"operation": "op1", "type": "probabilistic", "param": 0.2},
        {"operation": "op2", "type": "probabilistic", "param": 0.4}
      ]
    },
    {
      "service": "bar",
      "type": "ratelimiting",
      "param": 5
    }
  ],
  "default_strategy": {
    "type": "probabilistic",
    "param": 0.5,
    "operation_strategies": [
      {"operation": "/health", "type": "probabilistic", "param": 0.0},
      {"operation": "/metrics", "type": "probabilistic", "param": 0.0}
    ]
  }
}"#;

fn parse(json: &str) -> Strategies {
    Strategies::parse(json.as_bytes(), 0.001).expect("valid strategies")
}

fn op(name: &str, rate: f64) -> OperationSamplingStrategy {
    OperationSamplingStrategy {
        operation: name.into(),
        probabilistic_sampling: Some(ProbabilisticSamplingStrategy {
            sampling_rate: rate,
        }),
    }
}

fn per_op(default: f64, ops: Vec<OperationSamplingStrategy>) -> PerOperationSamplingStrategies {
    PerOperationSamplingStrategies {
        default_sampling_probability: default,
        default_lower_bound_traces_per_second: 0.0,
        per_operation_strategies: ops,
        default_upper_bound_traces_per_second: 0.0,
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

fn with_ops(
    mut r: SamplingStrategyResponse,
    ops: PerOperationSamplingStrategies,
) -> SamplingStrategyResponse {
    r.operation_sampling = Some(ops);
    r
}

fn invalid_message(json: &str) -> String {
    Strategies::parse(json.as_bytes(), 0.001)
        .expect_err("must be refused")
        .to_string()
}

#[test]
fn documented_example_derives_every_service() {
    let s = parse(DOCUMENTED_EXAMPLE);
    let default_ops = vec![op("/health", 0.0), op("/metrics", 0.0)];
    assert_eq!(
        s.default,
        with_ops(probabilistic(0.5), per_op(0.5, default_ops.clone()))
    );
    // Own operations first, then the default's it doesn't define.
    assert_eq!(
        s.for_service("foo"),
        &with_ops(
            probabilistic(0.8),
            per_op(
                0.8,
                vec![
                    op("op1", 0.2),
                    op("op2", 0.4),
                    op("/health", 0.0),
                    op("/metrics", 0.0)
                ]
            )
        )
    );
    // Not probabilistic, so the inherited default probability stays the default's.
    assert_eq!(
        s.for_service("bar"),
        &with_ops(rate_limiting(5), per_op(0.5, default_ops))
    );
    assert_eq!(s.for_service("unknown"), &s.default);
}

#[test]
fn no_default_strategy_means_probabilistic_with_the_default_probability() {
    let s = parse(r#"{"service_strategies":[{"service":"a","type":"ratelimiting","param":3}]}"#);
    assert_eq!(s.default, probabilistic(0.001));
    assert_eq!(s.for_service("a"), &rate_limiting(3));
}

#[test]
fn null_document_and_null_keys_mean_defaults() {
    assert_eq!(parse("null"), Strategies::defaults(0.001));
    let s = parse(r#"{"default_strategy":null,"service_strategies":null,"extra":1}"#);
    assert_eq!(s, Strategies::defaults(0.001));
}

#[test]
fn unknown_or_missing_type_falls_back_to_default_probabilistic() {
    let s = parse(
        r#"{"default_strategy":{"type":"adaptive","param":0.7},
            "service_strategies":[{"service":"a","param":0.3},
                                  {"service":"b","type":"Probabilistic","param":0.3}]}"#,
    );
    assert_eq!(s.default, probabilistic(0.001));
    assert_eq!(s.for_service("a"), &probabilistic(0.001));
    assert_eq!(s.for_service("b"), &probabilistic(0.001));
}

#[test]
fn rate_limiting_operation_strategies_are_skipped() {
    let s = parse(
        r#"{"service_strategies":[{"service":"a","type":"probabilistic","param":0.6,
            "operation_strategies":[{"operation":"x","type":"ratelimiting","param":-4},
                                    {"operation":"y","type":"probabilistic","param":0.1}]}]}"#,
    );
    assert_eq!(
        s.for_service("a"),
        &with_ops(probabilistic(0.6), per_op(0.6, vec![op("y", 0.1)]))
    );
}

#[test]
fn operation_sampling_exists_even_when_every_operation_was_skipped() {
    let s = parse(
        r#"{"default_strategy":{"type":"probabilistic","param":0.2,
            "operation_strategies":[{"operation":"x","type":"ratelimiting","param":1}]}}"#,
    );
    assert_eq!(s.default, with_ops(probabilistic(0.2), per_op(0.2, vec![])));
}

#[test]
fn rate_limiting_strategy_with_operations_uses_the_global_default_probability() {
    let s = Strategies::parse(
        br#"{"default_strategy":{"type":"ratelimiting","param":7,
            "operation_strategies":[{"operation":"x","type":"probabilistic","param":0.9}]}}"#,
        0.25,
    )
    .expect("valid");
    assert_eq!(
        s.default,
        with_ops(rate_limiting(7), per_op(0.25, vec![op("x", 0.9)]))
    );
}

#[test]
fn unknown_operation_type_gets_the_default_probability() {
    let s = parse(
        r#"{"default_strategy":{"type":"probabilistic","param":0.2,
            "operation_strategies":[{"operation":"x","type":"weird","param":0.9}]}}"#,
    );
    assert_eq!(
        s.default,
        with_ops(probabilistic(0.2), per_op(0.2, vec![op("x", 0.001)]))
    );
}

#[test]
fn probabilistic_service_inherits_default_operations_with_its_own_probability() {
    let s = parse(
        r#"{"default_strategy":{"type":"ratelimiting","param":2,
              "operation_strategies":[{"operation":"/h","type":"probabilistic","param":0.05}]},
            "service_strategies":[{"service":"a","type":"probabilistic","param":0.3}]}"#,
    );
    assert_eq!(
        s.for_service("a"),
        &with_ops(probabilistic(0.3), per_op(0.3, vec![op("/h", 0.05)]))
    );
    assert_eq!(
        s.default,
        with_ops(rate_limiting(2), per_op(0.001, vec![op("/h", 0.05)]))
    );
}

#[test]
fn service_keeps_its_own_operation_over_the_default_one() {
    let s = parse(
        r#"{"default_strategy":{"type":"probabilistic","param":0.5,
              "operation_strategies":[{"operation":"/h","type":"probabilistic","param":0.0},
                                      {"operation":"/m","type":"probabilistic","param":0.1}]},
            "service_strategies":[{"service":"a","type":"ratelimiting","param":9,
              "operation_strategies":[{"operation":"/h","type":"probabilistic","param":1}]}]}"#,
    );
    assert_eq!(
        s.for_service("a"),
        &with_ops(
            rate_limiting(9),
            per_op(0.001, vec![op("/h", 1.0), op("/m", 0.1)])
        )
    );
}

#[test]
fn without_default_operations_services_get_none() {
    let s = parse(
        DOCUMENTED_EXAMPLE
            .replace("\"default_strategy\"", "\"unused\"")
            .as_str(),
    );
    assert_eq!(s.for_service("bar"), &rate_limiting(5));
    assert_eq!(s.default, probabilistic(0.001));
}

#[test]
fn rate_limiting_param_is_truncated() {
    let s = parse(r#"{"default_strategy":{"type":"ratelimiting","param":5.9}}"#);
    assert_eq!(s.default, rate_limiting(5));
}

#[test]
fn later_duplicate_service_wins() {
    let s = parse(
        r#"{"service_strategies":[{"service":"a","type":"probabilistic","param":0.1},
                                  {"service":"a","type":"probabilistic","param":0.2}]}"#,
    );
    assert_eq!(s.for_service("a"), &probabilistic(0.2));
}

#[test]
fn probability_outside_unit_interval_names_its_json_path() {
    assert_eq!(
        invalid_message(r#"{"default_strategy":{"type":"probabilistic","param":1.5}}"#),
        "default_strategy.param: probability 1.5 is outside 0..=1"
    );
    assert_eq!(
        invalid_message(
            r#"{"service_strategies":[{"service":"a","type":"probabilistic","param":0.1},
                {"service":"b","type":"probabilistic","param":0.1,
                 "operation_strategies":[{"operation":"x","type":"probabilistic","param":-0.5}]}]}"#
        ),
        "service_strategies[1].operation_strategies[0].param: probability -0.5 is outside 0..=1"
    );
}

#[test]
fn negative_rate_is_refused() {
    assert_eq!(
        invalid_message(
            r#"{"service_strategies":[{"service":"a","type":"ratelimiting","param":-1}]}"#
        ),
        "service_strategies[0].param: traces per second -1 is outside 0..=2147483647"
    );
}

#[test]
fn syntax_errors_say_where() {
    let msg = invalid_message("{\n  \"default_strategy\": {\"type\": \"probabilistic\",}\n}");
    assert!(msg.contains("line 2 column"), "{msg}");
    let msg = invalid_message(r#"{"default_strategy":{"param":"high"}}"#);
    assert!(msg.starts_with("invalid type: string \"high\""), "{msg}");
}
