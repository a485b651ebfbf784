use super::*;
use crate::ingest::jaeger::test_spans::{self, rich_spans, str_tag, START_NS, TRACE};
use crate::ingest::jaeger::to_model;
use crate::model::{KeyValue, SpanKind, TraceId};
use crate::proto::api_v2::Batch;

fn round_trip(batch: Batch) -> Vec<api_v2::Span> {
    let decoded = to_model(batch);
    assert_eq!(decoded.errors, Vec::<String>::new());
    from_model(&decoded.batch.spans)
}

#[test]
fn rich_spans_survive_api_v2_to_model_and_back() {
    let spans = rich_spans();
    let back = round_trip(Batch {
        spans: spans.clone(),
        process: None,
    });
    assert_eq!(back.len(), spans.len());
    for (i, (got, want)) in back.iter().zip(&spans).enumerate() {
        assert_eq!(got, want, "span {i}");
    }
}

#[test]
fn spans_without_a_process_of_their_own_get_the_batch_process() {
    let mut spans = rich_spans();
    let batch_process = spans[0].process.take();
    let back = round_trip(Batch {
        spans: spans.clone(),
        process: batch_process.clone(),
    });
    assert_eq!(back[0].process, batch_process);
    assert_eq!(back[1].process, spans[1].process);
}

#[test]
fn model_spans_from_otlp_get_jaegers_special_tags() {
    let span = Span {
        trace_id: TraceId::from_u128(TRACE),
        span_id: crate::model::SpanId::from_u64(9),
        name: "op".into(),
        kind: SpanKind::Producer,
        start_ns: START_NS,
        end_ns: START_NS + 5,
        attributes: vec![
            KeyValue::new(
                "list",
                Value::Array(vec![Value::Int(1), Value::Str("a".into())]),
            ),
            KeyValue::new("nothing", Value::Empty),
        ],
        ..Span::default()
    };
    let out = from_model(std::slice::from_ref(&span));
    let process = out[0].process.as_ref().expect("process");
    // A resource without attributes is Jaeger's placeholder service.
    assert_eq!(process.service_name, "OTLPResourceNoServiceName");
    assert_eq!(
        out[0].tags,
        vec![
            str_tag("list", r#"[1,"a"]"#),
            str_tag("nothing", ""),
            str_tag("span.kind", "producer"),
        ]
    );
    assert_eq!(out[0].duration, Some(crate::proto::time::duration(5)));
    assert_eq!(out[0].start_time, Some(test_spans::timestamp(START_NS)));
    assert!(out[0].references.is_empty());
}

#[test]
fn equal_resources_share_one_conversion_but_each_span_has_a_process() {
    let spans = round_trip(Batch {
        spans: rich_spans(),
        process: None,
    });
    assert!(spans.iter().all(|s| s.process.is_some()));
    assert_eq!(spans[1].process, spans[2].process);
    assert_ne!(spans[0].process, spans[1].process);
}
