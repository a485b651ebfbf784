//! Remote storage v2 request parameters → the internal query types, through the checks every
//! gRPC read front end shares ([`crate::api::grpc::shared`]).
//!
//! `TraceQueryParameters` carries typed attributes; they are compared in their string form
//! ([`Value::to_query_string`]), like every other front end, so `int_value: 5` matches a stored
//! `5` of any type whose string form is `5`. Errors name the field the way the proto spells it.

use tonic::Status;

use crate::api::grpc::shared::{span_kind_filter, trace_id_from_bytes, SearchParams};
use crate::model::{KeyValue, SpanKind, TraceId, TraceQuery, Value};
use crate::proto::storage::v2::{any_value, AnyValue, GetTraceParams, TraceQueryParameters};

/// The search a v2 `FindTraces`/`FindTraceIDs`/`FindTraceSummaries` asks for. The start-time
/// window is required; an empty service name searches every service; `search_depth` ≤ 0 means
/// the default depth.
pub fn trace_query(query: Option<TraceQueryParameters>) -> Result<TraceQuery, Status> {
    let q = query.ok_or_else(|| Status::invalid_argument("query is required"))?;
    SearchParams::from(q).into_query()
}

impl From<TraceQueryParameters> for SearchParams {
    fn from(q: TraceQueryParameters) -> Self {
        SearchParams {
            service_name: q.service_name,
            operation_name: q.operation_name,
            attributes: q
                .attributes
                .into_iter()
                .map(|kv| (kv.key, value_to_model(kv.value).to_query_string()))
                .collect(),
            start_time_min: q.start_time_min,
            start_time_max: q.start_time_max,
            duration_min: q.duration_min,
            duration_max: q.duration_max,
            depth: q.search_depth,
        }
    }
}

/// The trace IDs of a `GetTraces` request. The time hints are not needed (a trace lookup costs
/// the same without them) and are ignored.
pub fn trace_ids(params: &[GetTraceParams]) -> Result<Vec<TraceId>, Status> {
    params
        .iter()
        .enumerate()
        .map(|(i, p)| {
            trace_id_from_bytes(&p.trace_id)
                .map_err(|s| Status::invalid_argument(format!("query[{i}].{}", s.message())))
        })
        .collect()
}

/// `GetOperations.span_kind`: empty means every kind.
pub fn span_kind(kind: &str) -> Result<Option<SpanKind>, Status> {
    span_kind_filter(kind)
}

/// A v2 `AnyValue` as the model's value (absent → empty).
fn value_to_model(v: Option<AnyValue>) -> Value {
    use any_value::Value as V;
    match v.and_then(|v| v.value) {
        None => Value::Empty,
        Some(V::StringValue(s)) => Value::Str(s.into()),
        Some(V::BoolValue(b)) => Value::Bool(b),
        Some(V::IntValue(i)) => Value::Int(i),
        Some(V::DoubleValue(d)) => Value::Double(d),
        Some(V::BytesValue(b)) => Value::Bytes(b),
        Some(V::ArrayValue(a)) => Value::Array(
            a.values
                .into_iter()
                .map(|v| value_to_model(Some(v)))
                .collect(),
        ),
        Some(V::KvlistValue(kvs)) => Value::Map(
            kvs.values
                .into_iter()
                .map(|kv| KeyValue::new(kv.key, value_to_model(kv.value)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::query::DEFAULT_SEARCH_LIMIT;
    use crate::proto::storage::v2::{ArrayValue, KeyValue as PbKeyValue};
    use crate::proto::time::{duration, timestamp, GO_ZERO_TIME_SECS};

    fn kv(key: &str, v: any_value::Value) -> PbKeyValue {
        PbKeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(v) }),
        }
    }

    fn window() -> TraceQueryParameters {
        TraceQueryParameters {
            start_time_min: Some(timestamp(1_000)),
            start_time_max: Some(timestamp(2_000)),
            ..Default::default()
        }
    }

    #[test]
    fn typed_attributes_compare_in_their_string_form() {
        use any_value::Value as V;
        let q = trace_query(Some(TraceQueryParameters {
            attributes: vec![
                kv("s", V::StringValue("x".into())),
                kv("i", V::IntValue(5)),
                kv("d", V::DoubleValue(1.0)),
                kv("b", V::BoolValue(true)),
                kv("bytes", V::BytesValue(vec![0, 0, 0x30, 0x39])),
                kv(
                    "a",
                    V::ArrayValue(ArrayValue {
                        values: vec![AnyValue {
                            value: Some(V::IntValue(1)),
                        }],
                    }),
                ),
                PbKeyValue {
                    key: "empty".into(),
                    value: None,
                },
            ],
            ..window()
        }))
        .expect("valid query");
        // Sorted by key, as every gRPC search is.
        let want: Vec<(String, String)> = [
            ("a", "[1]"),
            ("b", "true"),
            ("bytes", "AAAwOQ=="),
            ("d", "1"),
            ("empty", ""),
            ("i", "5"),
            ("s", "x"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(q.attributes, want);
    }

    #[test]
    fn empty_names_search_everything_and_depth_defaults() {
        let q = trace_query(Some(TraceQueryParameters {
            duration_min: Some(duration(5)),
            duration_max: Some(prost_types::Duration::default()),
            search_depth: -3,
            ..window()
        }))
        .expect("valid query");
        assert_eq!(q.service, None);
        assert_eq!(q.operation, None);
        assert_eq!(q.limit, DEFAULT_SEARCH_LIMIT);
        assert_eq!((q.start_min_ns, q.start_max_ns), (1_000, 2_000));
        assert_eq!((q.duration_min_ns, q.duration_max_ns), (Some(5), None));
        let q = trace_query(Some(TraceQueryParameters {
            service_name: "svc".into(),
            search_depth: 7,
            ..window()
        }))
        .expect("valid query");
        assert_eq!((q.service.as_deref(), q.limit), (Some("svc"), 7));
    }

    #[test]
    fn a_missing_time_window_is_an_invalid_argument_naming_the_field() {
        let go_unset = prost_types::Timestamp {
            seconds: GO_ZERO_TIME_SECS,
            nanos: 0,
        };
        let err = trace_query(Some(TraceQueryParameters {
            start_time_min: Some(go_unset),
            ..window()
        }))
        .expect_err("no start_time_min");
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        assert!(err.message().contains("query.start_time_min"), "{err:?}");
        let err = trace_query(Some(TraceQueryParameters {
            start_time_max: None,
            ..window()
        }))
        .expect_err("no start_time_max");
        assert!(err.message().contains("query.start_time_max"), "{err:?}");
        let err = trace_query(None).expect_err("no query");
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
    }

    #[test]
    fn trace_ids_and_span_kinds_are_validated() {
        let ok = GetTraceParams {
            trace_id: vec![1; 16],
            ..Default::default()
        };
        let bad = GetTraceParams {
            trace_id: vec![1; 3],
            ..Default::default()
        };
        assert_eq!(
            trace_ids(std::slice::from_ref(&ok))
                .expect("16 bytes")
                .len(),
            1
        );
        let err = trace_ids(&[ok, bad]).expect_err("3 bytes");
        assert!(err.message().starts_with("query[1].trace_id"), "{err:?}");
        assert_eq!(span_kind("").expect("any"), None);
        assert_eq!(span_kind("server").expect("server"), Some(SpanKind::Server));
        assert_eq!(
            span_kind("sideways").expect_err("unknown").code(),
            tonic::Code::InvalidArgument
        );
    }
}
