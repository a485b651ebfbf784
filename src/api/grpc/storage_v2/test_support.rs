//! Test support for the remote-storage tests (this server's and `storage::grpc`'s): a v2 server
//! over a fresh engine on a real socket, and spans to write.

use std::net::SocketAddr;
use std::sync::Arc;

use tonic::transport::Server;

use super::{storage_v2_router, StorageV2Limits};
use crate::api::test_engine::{serve_grpc, TestEngine};
use crate::model::{KeyValue, Resource, Span, SpanId, SpanKind, TraceId, Value};

/// Start times of test spans are offsets from here (Unix ns).
pub(crate) const BASE_NS: u64 = 1_700_000_000_000_000_000;

/// The engine (memory store) behind a v2 remote-storage server on 127.0.0.1. Call inside an
/// actix System.
pub(crate) async fn serve_v2(limits: StorageV2Limits) -> (TestEngine, SocketAddr) {
    let engine = TestEngine::start(false);
    let (router, _health) = storage_v2_router(
        Server::builder(),
        engine.reader.clone(),
        engine.edge.clone(),
        limits,
    )
    .await
    .expect("storage v2 router");
    let addr = serve_grpc(router).await;
    (engine, addr)
}

/// A span of `service`, starting `offset_ms` after [`BASE_NS`] and lasting 5 ms, with one
/// int attribute `n` = its span ID.
pub(crate) fn span(trace: u128, id: u64, service: &str, name: &str, kind: SpanKind) -> Span {
    let start_ns = BASE_NS + id * 1_000_000;
    Span {
        trace_id: TraceId::from_u128(trace),
        span_id: SpanId::from_u64(id),
        name: name.into(),
        kind,
        start_ns,
        end_ns: start_ns + 5_000_000,
        attributes: vec![KeyValue::new("n", Value::Int(id as i64))],
        resource: Arc::new(Resource {
            attributes: vec![KeyValue::string("service.name", service)],
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Spans sorted by span ID, for comparing traces whatever order a store keeps.
pub(crate) fn sorted(mut spans: Vec<Span>) -> Vec<Span> {
    spans.sort_by_key(|s| s.span_id.as_u64());
    spans
}
