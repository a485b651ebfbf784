//! The v2 server over real sockets, spoken to with the generated clients.

use std::net::SocketAddr;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::trace::v1::TracesData;
use prost::Message;
use tonic::transport::Channel;

use super::test_support::{serve_v2, span, BASE_NS};
use super::*;
use crate::ingest::otlp::chunk::trace_id_of;
use crate::ingest::otlp::export_request;
use crate::model::{Span, SpanKind, TraceId};
use crate::proto::storage::v2::capabilities_client::CapabilitiesClient;
use crate::proto::storage::v2::dependency_reader_client::DependencyReaderClient;
use crate::proto::storage::v2::trace_reader_client::TraceReaderClient;
use crate::proto::storage::v2::{
    any_value, AnyValue, GetTraceParams, KeyValue, TraceQueryParameters,
};
use crate::proto::time::timestamp;

const LIMITS: StorageV2Limits = StorageV2Limits {
    max_message_bytes: 4 << 20,
    trace_chunk_bytes: 2 << 20,
};

async fn channel(addr: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .expect("uri")
        .connect()
        .await
        .expect("connect")
}

async fn export(ch: &Channel, spans: &[Span]) {
    let reply = TraceServiceClient::new(ch.clone())
        .export(export_request(spans))
        .await
        .expect("export")
        .into_inner();
    assert_eq!(reply.partial_success, None);
}

async fn get_traces(ch: &Channel, ids: &[u128]) -> Vec<TracesData> {
    let query = ids
        .iter()
        .map(|&id| GetTraceParams {
            trace_id: TraceId::from_u128(id).0.to_vec(),
            ..Default::default()
        })
        .collect();
    let mut stream = TraceReaderClient::new(ch.clone())
        .get_traces(GetTracesRequest { query })
        .await
        .expect("get traces")
        .into_inner();
    let mut out = Vec::new();
    while let Some(m) = stream.message().await.expect("message") {
        out.push(m);
    }
    out
}

fn span_count(data: &TracesData) -> usize {
    data.resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .map(|ss| ss.spans.len())
        .sum()
}

fn window() -> TraceQueryParameters {
    TraceQueryParameters {
        start_time_min: Some(timestamp(BASE_NS - 1_000_000_000)),
        start_time_max: Some(timestamp(BASE_NS + 3_600_000_000_000)),
        ..Default::default()
    }
}

#[actix_rt::test]
async fn get_traces_streams_each_found_trace_and_skips_missing_ids() {
    let (_engine, addr) = serve_v2(LIMITS).await;
    let ch = channel(addr).await;
    let spans = vec![
        span(1, 1, "front", "GET /", SpanKind::Server),
        span(1, 2, "back", "query", SpanKind::Client),
        span(2, 3, "front", "GET /x", SpanKind::Server),
    ];
    export(&ch, &spans).await;

    let messages = get_traces(&ch, &[1, 99, 2]).await;
    let ids: Vec<_> = messages.iter().map(trace_id_of).collect();
    assert_eq!(
        ids,
        vec![Some(TraceId::from_u128(1)), Some(TraceId::from_u128(2))]
    );
    assert_eq!(span_count(&messages[0]), 2);
    assert_eq!(span_count(&messages[1]), 1);
    assert!(get_traces(&ch, &[42]).await.is_empty());

    let err = TraceReaderClient::new(ch.clone())
        .get_traces(GetTracesRequest {
            query: vec![GetTraceParams {
                trace_id: vec![1, 2, 3],
                ..Default::default()
            }],
        })
        .await
        .expect_err("3-byte trace ID");
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
}

#[actix_rt::test]
async fn a_trace_over_the_chunk_budget_is_split_into_consecutive_messages() {
    let budget = 2048;
    let (_engine, addr) = serve_v2(StorageV2Limits {
        max_message_bytes: 4 << 20,
        trace_chunk_bytes: budget,
    })
    .await;
    let ch = channel(addr).await;
    let spans: Vec<Span> = (1..=100)
        .map(|i| span(5, i, "svc", "op", SpanKind::Internal))
        .collect();
    export(&ch, &spans).await;

    let messages = get_traces(&ch, &[5]).await;
    assert!(messages.len() > 1, "{} messages", messages.len());
    for m in &messages {
        assert_eq!(trace_id_of(m), Some(TraceId::from_u128(5)));
        assert!(m.encoded_len() <= budget, "{} bytes", m.encoded_len());
    }
    assert_eq!(messages.iter().map(span_count).sum::<usize>(), 100);
}

#[actix_rt::test]
async fn searches_match_typed_attributes_and_require_the_time_window() {
    let (_engine, addr) = serve_v2(LIMITS).await;
    let ch = channel(addr).await;
    // Span IDs double as the int attribute `n`.
    export(
        &ch,
        &[
            span(1, 1, "front", "GET /", SpanKind::Server),
            span(2, 2, "front", "GET /", SpanKind::Server),
            span(2, 3, "back", "query", SpanKind::Client),
        ],
    )
    .await;
    let mut client = TraceReaderClient::new(ch.clone());
    let by_n = |n: i64| TraceQueryParameters {
        attributes: vec![KeyValue {
            key: "n".into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::IntValue(n)),
            }),
        }],
        ..window()
    };

    let mut stream = client
        .find_traces(FindTracesRequest {
            query: Some(by_n(3)),
        })
        .await
        .expect("find traces")
        .into_inner();
    let mut found = Vec::new();
    while let Some(m) = stream.message().await.expect("message") {
        found.push((trace_id_of(&m), span_count(&m)));
    }
    // The whole trace comes back, not only the matching span.
    assert_eq!(found, vec![(Some(TraceId::from_u128(2)), 2)]);

    let ids = client
        .find_trace_i_ds(FindTraceIDsRequest {
            query: Some(TraceQueryParameters {
                service_name: "front".into(),
                ..window()
            }),
        })
        .await
        .expect("find ids")
        .into_inner()
        .trace_ids;
    let mut ids: Vec<_> = ids.iter().map(|f| f.trace_id.clone()).collect();
    ids.sort();
    let want: Vec<_> = [1u128, 2]
        .iter()
        .map(|&i| TraceId::from_u128(i).0.to_vec())
        .collect();
    assert_eq!(ids, want);

    let mut stream = client
        .find_trace_summaries(FindTraceSummariesRequest {
            query: Some(by_n(1)),
        })
        .await
        .expect("summaries")
        .into_inner();
    let mut summaries = Vec::new();
    while let Some(m) = stream.message().await.expect("message") {
        summaries.extend(m.summaries);
    }
    assert_eq!(summaries.len(), 1);
    assert_eq!(summaries[0].root_service_name, "front");
    assert_eq!(summaries[0].span_count, 1);

    let err = client
        .find_trace_i_ds(FindTraceIDsRequest {
            query: Some(TraceQueryParameters {
                start_time_min: None,
                ..window()
            }),
        })
        .await
        .expect_err("no window");
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.message().contains("start_time_min"), "{err:?}");
}

#[actix_rt::test]
async fn catalog_capabilities_dependencies_and_health() {
    let (_engine, addr) = serve_v2(LIMITS).await;
    let ch = channel(addr).await;
    export(
        &ch,
        &[
            span(1, 1, "front", "GET /", SpanKind::Server),
            span(1, 2, "front", "call back", SpanKind::Client),
            span(1, 3, "back", "query", SpanKind::Server),
        ],
    )
    .await;
    let mut client = TraceReaderClient::new(ch.clone());
    let services = client
        .get_services(GetServicesRequest {})
        .await
        .expect("services")
        .into_inner()
        .services;
    assert_eq!(services, vec!["back".to_string(), "front".to_string()]);
    let ops = |kind: &str| GetOperationsRequest {
        service: "front".into(),
        span_kind: kind.into(),
    };
    let all = client
        .get_operations(ops(""))
        .await
        .expect("operations")
        .into_inner()
        .operations;
    assert_eq!(all.len(), 2);
    let server = client
        .get_operations(ops("server"))
        .await
        .expect("server operations")
        .into_inner()
        .operations;
    assert_eq!(
        server,
        vec![Operation {
            name: "GET /".into(),
            span_kind: "server".into()
        }]
    );
    let err = client
        .get_operations(ops("sideways"))
        .await
        .expect_err("unknown kind");
    assert_eq!(err.code(), tonic::Code::InvalidArgument);

    let caps = CapabilitiesClient::new(ch.clone())
        .get_capabilities(GetCapabilitiesRequest {})
        .await
        .expect("capabilities")
        .into_inner()
        .search
        .expect("search capabilities");
    assert!(caps.without_service_name && caps.same_span_conjunction);
    assert_eq!(caps.filter, None);

    let deps = DependencyReaderClient::new(ch.clone())
        .get_dependencies(GetDependenciesRequest::default())
        .await
        .expect("dependencies")
        .into_inner();
    assert!(deps.dependencies.is_empty());

    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::HealthCheckRequest;
    let mut health = HealthClient::new(ch.clone());
    for service in HEALTH_SERVICES {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .expect("health check")
            .into_inner()
            .status;
        assert_eq!(
            status,
            tonic_health::pb::health_check_response::ServingStatus::Serving as i32,
            "{service}"
        );
    }
}
