//! api_v2 and api_v3 query services over real sockets, with the generated tonic clients.

use std::collections::HashMap;

use tonic::transport::{Channel, Server};
use tonic::Code;

use super::*;
use crate::api::test_engine::{serve_grpc, TestEngine};
use crate::ingest::jaeger::test_spans::{rich_spans, span, str_tag, timestamp, START_NS, TRACE};
use crate::ingest::jaeger::to_model;
use crate::model::TraceId;
use crate::proto::api_v2::query_service_client::QueryServiceClient as V2Client;
use crate::proto::api_v2::{self, Batch, TraceQueryParameters};
use crate::proto::api_v3;
use crate::proto::api_v3::query_service_client::QueryServiceClient as V3Client;
use crate::telemetry::Protocol;

pub(crate) struct Harness {
    pub engine: TestEngine,
    pub v2: V2Client<Channel>,
    pub v3: V3Client<Channel>,
}

/// Engine plus both query services on one port.
pub(crate) async fn start(archive: bool) -> Harness {
    let engine = TestEngine::start(archive);
    let router = Server::builder()
        .add_service(QueryGrpc::api_v2_server(engine.reader.clone(), 4 << 20))
        .add_service(QueryGrpc::api_v3_server(engine.reader.clone(), 4 << 20));
    let addr = serve_grpc(router).await;
    let url = format!("http://{addr}");
    Harness {
        v2: V2Client::connect(url.clone()).await.expect("connect v2"),
        v3: V3Client::connect(url).await.expect("connect v3"),
        engine,
    }
}

/// Stores spans through the ingest edge (durable on return).
pub(crate) async fn write(engine: &TestEngine, spans: Vec<api_v2::Span>) {
    let decoded = to_model(Batch {
        spans,
        process: None,
    });
    assert_eq!(decoded.errors, Vec::<String>::new());
    engine
        .edge
        .submit_decoded(decoded, Protocol::jaeger_grpc)
        .await
        .expect("stored");
}

/// `n` spans of trace `trace`, service `svc`, starting at `START_NS + offset`.
fn trace_spans(trace: u128, n: u64, svc: &str, offset: u64) -> Vec<api_v2::Span> {
    (1..=n)
        .map(|i| span(trace, i, svc, "op", START_NS + offset + i))
        .collect()
}

fn window() -> (
    Option<prost_types::Timestamp>,
    Option<prost_types::Timestamp>,
) {
    (
        Some(timestamp(START_NS - 1_000_000_000)),
        Some(timestamp(START_NS + 1_000_000_000)),
    )
}

fn v2_query(service: &str) -> TraceQueryParameters {
    let (min, max) = window();
    TraceQueryParameters {
        service_name: service.into(),
        start_time_min: min,
        start_time_max: max,
        ..Default::default()
    }
}

fn v3_query(service: &str) -> api_v3::TraceQueryParameters {
    let (min, max) = window();
    api_v3::TraceQueryParameters {
        service_name: service.into(),
        start_time_min: min,
        start_time_max: max,
        ..Default::default()
    }
}

async fn v2_chunks(
    v2: &mut V2Client<Channel>,
    trace: u128,
    raw: bool,
) -> Result<Vec<Vec<api_v2::Span>>, tonic::Status> {
    let mut stream = v2
        .get_trace(api_v2::GetTraceRequest {
            trace_id: trace.to_be_bytes().to_vec(),
            raw_traces: raw,
            ..Default::default()
        })
        .await?
        .into_inner();
    let mut chunks = Vec::new();
    while let Some(chunk) = stream.message().await? {
        chunks.push(chunk.spans);
    }
    Ok(chunks)
}

async fn v2_find(
    v2: &mut V2Client<Channel>,
    query: TraceQueryParameters,
) -> Result<Vec<Vec<api_v2::Span>>, tonic::Status> {
    let mut stream = v2
        .find_traces(api_v2::FindTracesRequest { query: Some(query) })
        .await?
        .into_inner();
    let mut chunks = Vec::new();
    while let Some(chunk) = stream.message().await? {
        chunks.push(chunk.spans);
    }
    Ok(chunks)
}

/// The trace ID of every span of a chunk, checking they are all the same.
fn chunk_trace(chunk: &[api_v2::Span]) -> u128 {
    let id = |s: &api_v2::Span| TraceId::from_slice(&s.trace_id).expect("id").as_u128();
    let first = id(&chunk[0]);
    assert!(chunk.iter().all(|s| id(s) == first), "chunk mixes traces");
    first
}

fn assert_status(r: Result<impl std::fmt::Debug, tonic::Status>, code: Code, message: &str) {
    let status = r.expect_err("expected an error status");
    assert_eq!((status.code(), status.message()), (code, message));
}

// ---------------------------------------------------------------------------------------------
// api_v2
// ---------------------------------------------------------------------------------------------

#[actix::test]
async fn v2_get_trace_streams_chunks_of_at_most_ten_spans() {
    let mut h = start(false).await;
    write(&h.engine, trace_spans(7, 23, "svc", 0)).await;
    let chunks = v2_chunks(&mut h.v2, 7, true).await.expect("trace");
    let sizes: Vec<usize> = chunks.iter().map(Vec::len).collect();
    assert_eq!(sizes, [10, 10, 3]);
    let mut ids: Vec<Vec<u8>> = chunks.concat().into_iter().map(|s| s.span_id).collect();
    ids.dedup();
    assert_eq!(ids.len(), 23);
}

#[actix::test]
async fn v2_get_trace_raw_is_as_stored_and_adjusted_sorts_process_tags() {
    let mut h = start(false).await;
    write(&h.engine, rich_spans()).await;
    let raw = v2_chunks(&mut h.v2, TRACE, true)
        .await
        .expect("raw")
        .concat();
    assert_eq!(raw, rich_spans());
    let adjusted = v2_chunks(&mut h.v2, TRACE, false).await.expect("adjusted");
    let process = adjusted[0][0].process.as_ref().expect("process");
    let keys: Vec<&str> = process.tags.iter().map(|t| t.key.as_str()).collect();
    // Jaeger's adjusters sort resource attributes; raw traces keep them as written.
    assert_eq!(keys, ["blob", "canary", "ip", "pid", "weight"]);
}

#[actix::test]
async fn v2_get_trace_errors_follow_jaeger() {
    let mut h = start(false).await;
    assert_status(
        v2_chunks(&mut h.v2, 0, false).await,
        Code::InvalidArgument,
        "uninitialized TraceID is not allowed",
    );
    assert_status(
        v2_chunks(&mut h.v2, 42, false).await,
        Code::NotFound,
        "trace not found",
    );
    let bad_length =
        h.v2.get_trace(api_v2::GetTraceRequest {
            trace_id: vec![1, 2, 3],
            ..Default::default()
        })
        .await;
    assert_eq!(
        bad_length.expect_err("bad length").code(),
        Code::InvalidArgument
    );
}

#[actix::test]
async fn v2_find_traces_sends_each_trace_whole_before_the_next() {
    let mut h = start(false).await;
    let mut spans = trace_spans(1, 12, "svc", 0);
    spans.extend(trace_spans(2, 5, "svc", 100));
    spans.extend(trace_spans(3, 1, "svc", 200));
    spans.extend(trace_spans(4, 2, "other", 300));
    write(&h.engine, spans).await;
    let chunks = v2_find(&mut h.v2, v2_query("svc")).await.expect("found");
    assert!(chunks.iter().all(|c| !c.is_empty() && c.len() <= 10));
    let mut per_trace: Vec<(u128, usize)> = Vec::new();
    for chunk in &chunks {
        let id = chunk_trace(chunk);
        match per_trace.last_mut() {
            Some((last, n)) if *last == id => *n += chunk.len(),
            _ => {
                assert!(
                    per_trace.iter().all(|(t, _)| *t != id),
                    "trace {id} comes back after another trace"
                );
                per_trace.push((id, chunk.len()));
            }
        }
    }
    per_trace.sort();
    assert_eq!(per_trace, [(1, 12), (2, 5), (3, 1)]);
}

#[actix::test]
async fn v2_find_traces_honours_tags_and_search_depth() {
    let mut h = start(false).await;
    let mut spans = trace_spans(1, 1, "svc", 0);
    spans.extend(trace_spans(2, 1, "svc", 100));
    spans[1].tags.push(str_tag("color", "red"));
    spans.extend(trace_spans(3, 1, "svc", 200));
    write(&h.engine, spans).await;

    let tagged = TraceQueryParameters {
        tags: HashMap::from([("color".to_string(), "red".to_string())]),
        ..v2_query("svc")
    };
    let found = v2_find(&mut h.v2, tagged).await.expect("found");
    assert_eq!(
        found.iter().map(|c| chunk_trace(c)).collect::<Vec<_>>(),
        [2]
    );

    let limited = TraceQueryParameters {
        search_depth: 2,
        ..v2_query("svc")
    };
    assert_eq!(v2_find(&mut h.v2, limited).await.expect("found").len(), 2);
    let default_depth = TraceQueryParameters {
        search_depth: 0,
        ..v2_query("svc")
    };
    assert_eq!(
        v2_find(&mut h.v2, default_depth)
            .await
            .expect("found")
            .len(),
        3
    );
}

#[actix::test]
async fn v2_find_traces_without_a_window_names_the_missing_field() {
    let mut h = start(false).await;
    let no_min = TraceQueryParameters {
        start_time_min: None,
        ..v2_query("svc")
    };
    assert_status(
        v2_find(&mut h.v2, no_min).await,
        Code::InvalidArgument,
        "query.start_time_min is required",
    );
    let go_zero_max = TraceQueryParameters {
        start_time_max: Some(prost_types::Timestamp {
            seconds: crate::proto::time::GO_ZERO_TIME_SECS,
            nanos: 0,
        }),
        ..v2_query("svc")
    };
    assert_status(
        v2_find(&mut h.v2, go_zero_max).await,
        Code::InvalidArgument,
        "query.start_time_max is required",
    );
}

/// Operations "a" (server), "a" (client) and "b" (no kind) of service "svc".
pub(crate) fn operation_spans() -> Vec<api_v2::Span> {
    let with_kind = |id: u64, op: &str, kind: Option<&str>| api_v2::Span {
        tags: kind.map(|k| str_tag("span.kind", k)).into_iter().collect(),
        ..span(9, id, "svc", op, START_NS + id)
    };
    vec![
        with_kind(1, "a", Some("server")),
        with_kind(2, "a", Some("client")),
        with_kind(3, "b", None),
    ]
}

#[actix::test]
async fn v2_services_and_operations_fill_both_operation_fields() {
    let mut h = start(false).await;
    write(&h.engine, operation_spans()).await;
    let services = h.v2.get_services(api_v2::GetServicesRequest {}).await;
    assert_eq!(services.expect("services").into_inner().services, ["svc"]);

    let ops = |kind: &str| api_v2::GetOperationsRequest {
        service: "svc".into(),
        span_kind: kind.into(),
    };
    let all =
        h.v2.get_operations(ops(""))
            .await
            .expect("ops")
            .into_inner();
    assert_eq!(all.operation_names, ["a", "b"]);
    let pairs: Vec<(&str, &str)> = all
        .operations
        .iter()
        .map(|o| (o.name.as_str(), o.span_kind.as_str()))
        .collect();
    assert_eq!(pairs, [("a", "server"), ("a", "client"), ("b", "")]);

    let server =
        h.v2.get_operations(ops("server"))
            .await
            .expect("ops")
            .into_inner();
    assert_eq!(server.operation_names, ["a"]);
    assert_eq!(server.operations.len(), 1);
    assert_status(
        h.v2.get_operations(ops("bogus")).await,
        Code::InvalidArgument,
        r#"span_kind: unknown span kind "bogus""#,
    );
}

#[actix::test]
async fn v2_archive_trace_copies_into_the_archive_store() {
    let mut h = start(true).await;
    write(&h.engine, trace_spans(5, 3, "svc", 0)).await;
    let archive = |id: u128| api_v2::ArchiveTraceRequest {
        trace_id: id.to_be_bytes().to_vec(),
        ..Default::default()
    };
    h.v2.archive_trace(archive(5)).await.expect("archived");
    let archived = h.engine.archive.as_ref().expect("archive store");
    assert_eq!(
        archived
            .get_trace(TraceId::from_u128(5))
            .expect("read")
            .len(),
        3
    );
    assert_status(
        h.v2.archive_trace(archive(6)).await,
        Code::NotFound,
        "trace not found",
    );
    assert_status(
        h.v2.archive_trace(archive(0)).await,
        Code::InvalidArgument,
        "uninitialized TraceID is not allowed",
    );
}

#[actix::test]
async fn v2_archive_trace_without_an_archive_store_is_internal() {
    let mut h = start(false).await;
    write(&h.engine, trace_spans(5, 1, "svc", 0)).await;
    let r =
        h.v2.archive_trace(api_v2::ArchiveTraceRequest {
            trace_id: 5u128.to_be_bytes().to_vec(),
            ..Default::default()
        })
        .await;
    assert_status(r, Code::Internal, "archive span storage was not configured");
}

#[actix::test]
async fn dependencies_need_both_times_and_are_empty() {
    let mut h = start(false).await;
    let (min, max) = window();
    let v2 =
        h.v2.get_dependencies(api_v2::GetDependenciesRequest {
            start_time: min,
            end_time: max,
        })
        .await;
    assert!(v2.expect("deps").into_inner().dependencies.is_empty());
    let missing =
        h.v2.get_dependencies(api_v2::GetDependenciesRequest {
            start_time: min,
            end_time: None,
        })
        .await;
    assert_eq!(missing.expect_err("no end").code(), Code::InvalidArgument);
    let v3 =
        h.v3.get_dependencies(api_v3::GetDependenciesRequest {
            start_time: min,
            end_time: max,
        })
        .await;
    assert!(v3.expect("deps").into_inner().dependencies.is_empty());
    let v3_missing =
        h.v3.get_dependencies(api_v3::GetDependenciesRequest::default())
            .await;
    assert_eq!(
        v3_missing.expect_err("no times").code(),
        Code::InvalidArgument
    );
}

mod v3;
