//! api_v3 over a real socket.

use super::*;
use opentelemetry_proto::tonic::trace::v1::TracesData;

async fn v3_trace(
    v3: &mut V3Client<Channel>,
    trace_id: &str,
) -> Result<Vec<TracesData>, tonic::Status> {
    let mut stream = v3
        .get_trace(api_v3::GetTraceRequest {
            trace_id: trace_id.into(),
            raw_traces: true,
            ..Default::default()
        })
        .await?
        .into_inner();
    let mut out = Vec::new();
    while let Some(m) = stream.message().await? {
        out.push(m);
    }
    Ok(out)
}

async fn v3_find(
    v3: &mut V3Client<Channel>,
    query: api_v3::TraceQueryParameters,
) -> Result<Vec<TracesData>, tonic::Status> {
    let mut stream = v3
        .find_traces(api_v3::FindTracesRequest { query: Some(query) })
        .await?
        .into_inner();
    let mut out = Vec::new();
    while let Some(m) = stream.message().await? {
        out.push(m);
    }
    Ok(out)
}

fn spans_of(td: &TracesData) -> Vec<&opentelemetry_proto::tonic::trace::v1::Span> {
    td.resource_spans
        .iter()
        .flat_map(|rs| rs.scope_spans.iter())
        .flat_map(|ss| ss.spans.iter())
        .collect()
}

#[actix::test]
async fn v3_get_trace_is_one_otlp_message() {
    let mut h = start(false).await;
    write(&h.engine, rich_spans()).await;
    let hex = format!("{TRACE:032x}");
    let got = v3_trace(&mut h.v3, &hex).await.expect("trace");
    assert_eq!(got.len(), 1);
    let spans = spans_of(&got[0]);
    assert_eq!(spans.len(), 4);
    assert!(spans.iter().all(|s| s.trace_id == TRACE.to_be_bytes()));
    assert_eq!(spans[0].name, "GET /cart");
}

#[actix::test]
async fn v3_get_trace_errors() {
    let mut h = start(false).await;
    assert_eq!(
        v3_trace(&mut h.v3, "not-hex")
            .await
            .expect_err("bad id")
            .code(),
        Code::InvalidArgument
    );
    assert_status(
        v3_trace(&mut h.v3, "0").await,
        Code::InvalidArgument,
        "uninitialized TraceID is not allowed",
    );
    assert_status(
        v3_trace(&mut h.v3, "abc").await,
        Code::NotFound,
        "trace not found",
    );
}

#[actix::test]
async fn v3_find_traces_needs_the_window_and_sends_one_message_per_trace() {
    let mut h = start(false).await;
    let mut spans = trace_spans(1, 12, "svc", 0);
    spans.extend(trace_spans(2, 3, "svc", 100));
    write(&h.engine, spans).await;
    let found = v3_find(&mut h.v3, v3_query("svc")).await.expect("found");
    let mut counts: Vec<usize> = found.iter().map(|td| spans_of(td).len()).collect();
    counts.sort();
    assert_eq!(counts, [3, 12]);
    for td in &found {
        let ids: Vec<&Vec<u8>> = spans_of(td).iter().map(|s| &s.trace_id).collect();
        assert!(
            ids.windows(2).all(|w| w[0] == w[1]),
            "one trace per message"
        );
    }
    for query in [
        api_v3::TraceQueryParameters {
            start_time_min: None,
            ..v3_query("svc")
        },
        api_v3::TraceQueryParameters {
            start_time_max: None,
            ..v3_query("svc")
        },
    ] {
        assert_status(
            v3_find(&mut h.v3, query).await,
            Code::InvalidArgument,
            "start time min and max are required parameters",
        );
    }
    let no_query =
        h.v3.find_traces(api_v3::FindTracesRequest { query: None })
            .await;
    assert_status(
        no_query,
        Code::InvalidArgument,
        "start time min and max are required parameters",
    );
}

#[actix::test]
async fn v3_search_depth_zero_or_negative_means_one_hundred() {
    let mut h = start(false).await;
    let spans: Vec<api_v2::Span> = (1..=101u64)
        .map(|t| span(u128::from(t), 1, "svc", "op", START_NS + t))
        .collect();
    write(&h.engine, spans).await;
    for depth in [0, -5] {
        let q = api_v3::TraceQueryParameters {
            search_depth: depth,
            ..v3_query("svc")
        };
        assert_eq!(v3_find(&mut h.v3, q).await.expect("found").len(), 100);
    }
    let q = api_v3::TraceQueryParameters {
        search_depth: 101,
        ..v3_query("")
    };
    // An empty service searches every service.
    assert_eq!(v3_find(&mut h.v3, q).await.expect("found").len(), 101);
}

#[actix::test]
async fn v3_trace_summaries_come_in_one_message() {
    let mut h = start(false).await;
    write(&h.engine, rich_spans()).await;
    write(&h.engine, trace_spans(2, 2, "frontend", 100)).await;
    let mut stream =
        h.v3.find_trace_summaries(api_v3::FindTraceSummariesRequest {
            query: Some(v3_query("frontend")),
        })
        .await
        .expect("summaries")
        .into_inner();
    let first = stream.message().await.expect("message").expect("one");
    assert!(stream.message().await.expect("end").is_none());
    assert_eq!(first.summaries.len(), 2);
    let rich = first
        .summaries
        .iter()
        .find(|s| s.trace_id == format!("{TRACE:032x}"))
        .expect("rich trace");
    assert_eq!(
        (
            rich.span_count,
            rich.error_span_count,
            rich.root_service_name.as_str()
        ),
        (4, 1, "frontend")
    );
    assert_eq!(rich.min_start_time_unix_nano, START_NS);
}

#[actix::test]
async fn v3_operations_filter_by_kind_and_keep_an_empty_kind_empty() {
    let mut h = start(false).await;
    write(&h.engine, operation_spans()).await;
    let ops = |kind: &str| api_v3::GetOperationsRequest {
        service: "svc".into(),
        span_kind: kind.into(),
    };
    let all =
        h.v3.get_operations(ops(""))
            .await
            .expect("ops")
            .into_inner();
    let pairs: Vec<(&str, &str)> = all
        .operations
        .iter()
        .map(|o| (o.name.as_str(), o.span_kind.as_str()))
        .collect();
    assert_eq!(pairs, [("a", "server"), ("a", "client"), ("b", "")]);
    let client =
        h.v3.get_operations(ops("CLIENT"))
            .await
            .expect("ops")
            .into_inner();
    assert_eq!(client.operations.len(), 1);
    assert_eq!(client.operations[0].span_kind, "client");
    assert_eq!(
        h.v3.get_operations(ops("sideways"))
            .await
            .expect_err("bad kind")
            .code(),
        Code::InvalidArgument
    );
    let services = h.v3.get_services(api_v3::GetServicesRequest {}).await;
    assert_eq!(services.expect("services").into_inner().services, ["svc"]);
}
