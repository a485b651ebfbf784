//! `GrpcStore` against the real v2 server (`api::grpc::storage_v2`) over sockets.
//!
//! The store blocks, and the server runs on the test's actix runtime, so every store call runs
//! on a blocking thread (`spawn_blocking`), as the actor threads do in the app.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use prost::Message as _;

use super::{GrpcStore, GrpcStoreOptions, GrpcTlsOptions};
use crate::api::grpc::storage_v2::test_support::{serve_v2, sorted, span, BASE_NS};
use crate::api::grpc::storage_v2::{storage_v2_router, StorageV2Limits};
use crate::api::test_engine::TestEngine;
use crate::model::{Operation, Span, SpanBatch, SpanKind, TraceId, TraceQuery};
use crate::storage::{StorageError, TraceStore};
use crate::telemetry::Metrics;

pub(super) const LIMITS: StorageV2Limits = StorageV2Limits {
    max_message_bytes: 4 << 20,
    trace_chunk_bytes: 2 << 20,
};

pub(super) fn options(addr: SocketAddr) -> GrpcStoreOptions {
    GrpcStoreOptions {
        server: addr.to_string(),
        tls: None,
        connection_timeout: Duration::from_secs(5),
        write_timeout: Duration::from_secs(10),
    }
}

pub(super) fn connect(opts: GrpcStoreOptions) -> Arc<GrpcStore> {
    Arc::new(GrpcStore::connect(opts, Arc::new(Metrics::new())).expect("connect"))
}

/// Runs a blocking store call off the runtime that serves the server.
pub(super) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("store call")
}

pub(super) fn batch(spans: &[Span]) -> SpanBatch {
    SpanBatch {
        spans: spans.to_vec(),
    }
}

pub(super) fn query() -> TraceQuery {
    TraceQuery {
        start_min_ns: BASE_NS - 1_000_000_000,
        start_max_ns: BASE_NS + 3_600_000_000_000,
        limit: 20,
        ..Default::default()
    }
}

fn spans() -> Vec<Span> {
    vec![
        span(1, 1, "front", "GET /", SpanKind::Server),
        span(1, 2, "front", "call back", SpanKind::Client),
        span(1, 3, "back", "query", SpanKind::Server),
        span(2, 4, "front", "GET /", SpanKind::Server),
    ]
}

#[actix_rt::test]
async fn writes_are_read_back_through_the_v2_server() {
    let (engine, addr) = serve_v2(LIMITS).await;
    let store = connect(options(addr));
    let written = spans();
    let (s, b) = (store.clone(), batch(&written));
    blocking(move || s.write(&b)).await.expect("write");
    // Acknowledged means stored on the server.
    assert_eq!(
        sorted(
            engine
                .store
                .get_trace(TraceId::from_u128(1))
                .expect("server store")
        ),
        written[..3].to_vec()
    );

    let s = store.clone();
    let (one, missing) = blocking(move || {
        (
            s.get_trace(TraceId::from_u128(1)),
            s.get_trace(TraceId::from_u128(77)),
        )
    })
    .await;
    assert_eq!(sorted(one.expect("get trace")), written[..3].to_vec());
    assert!(missing.expect("missing trace").is_empty());
    assert!(store.catalog_is_remote());
    assert!(store.catalog().expect("catalog").is_empty());

    let text = store.remote.metrics.encode();
    assert!(
        text.contains(
            r#"tracehound_remote_storage_requests_total{api="v2",method="Export",outcome="ok"} 1"#
        ),
        "{text}"
    );
    assert!(text.contains("tracehound_remote_storage_request_seconds_bucket"));
}

#[actix_rt::test]
async fn catalog_and_searches_come_from_the_server() {
    let (_engine, addr) = serve_v2(LIMITS).await;
    let store = connect(options(addr));
    let (s, b) = (store.clone(), batch(&spans()));
    blocking(move || s.write(&b)).await.expect("write");

    let s = store.clone();
    let (services, all_ops, server_ops) = blocking(move || {
        (
            s.services(),
            s.operations("front", None),
            s.operations("front", Some(SpanKind::Server)),
        )
    })
    .await;
    assert_eq!(services.expect("services"), vec!["back", "front"]);
    let op = |name: &str, span_kind| Operation {
        name: name.into(),
        span_kind,
    };
    assert_eq!(
        all_ops.expect("operations"),
        vec![
            op("GET /", SpanKind::Server),
            op("call back", SpanKind::Client)
        ]
    );
    assert_eq!(
        server_ops.expect("server operations"),
        vec![op("GET /", SpanKind::Server)]
    );

    let s = store.clone();
    let (by_attr, front_ids, limited) = blocking(move || {
        let by_attr = TraceQuery {
            attributes: vec![("n".into(), "3".into())],
            ..query()
        };
        let front = TraceQuery {
            service: Some("front".into()),
            ..query()
        };
        let limited = TraceQuery {
            limit: 1,
            ..front.clone()
        };
        (
            s.find_traces(&by_attr),
            s.find_trace_ids(&front),
            s.find_trace_ids(&limited),
        )
    })
    .await;
    let by_attr = by_attr.expect("find traces");
    assert_eq!(by_attr.len(), 1);
    assert_eq!(by_attr[0].trace_id, TraceId::from_u128(1));
    assert_eq!(sorted(by_attr[0].spans.clone()), spans()[..3].to_vec());
    let mut front_ids = front_ids.expect("find ids");
    front_ids.sort_by_key(|id| id.as_u128());
    assert_eq!(
        front_ids,
        vec![TraceId::from_u128(1), TraceId::from_u128(2)]
    );
    assert_eq!(limited.expect("limited").len(), 1);
}

#[actix_rt::test]
async fn a_large_trace_split_by_the_server_is_merged_by_the_store() {
    let budget = 1024;
    let (_engine, addr) = serve_v2(StorageV2Limits {
        max_message_bytes: 4 << 20,
        trace_chunk_bytes: budget,
    })
    .await;
    let written: Vec<Span> = (1..=300)
        .map(|i| span(9, i, "svc", "op", SpanKind::Internal))
        .collect();
    // Several chunks' worth: the server must split it.
    let size = crate::ingest::otlp::from_model(&written).encoded_len();
    assert!(size > 5 * budget, "{size} bytes");
    let store = connect(options(addr));
    let (s, b) = (store.clone(), batch(&written));
    blocking(move || s.write(&b)).await.expect("write");

    let s = store.clone();
    let (trace, found) = blocking(move || {
        let q = TraceQuery {
            service: Some("svc".into()),
            ..query()
        };
        (s.get_trace(TraceId::from_u128(9)), s.find_traces(&q))
    })
    .await;
    assert_eq!(sorted(trace.expect("get trace")), written);
    let found = found.expect("find traces");
    assert_eq!(found.len(), 1, "one trace, not one per message");
    assert_eq!(sorted(found[0].spans.clone()), written);
}

#[actix_rt::test]
async fn spans_the_server_rejects_fail_the_write_without_retrying() {
    let (_engine, addr) = serve_v2(LIMITS).await;
    let store = connect(options(addr));
    // An all-zero trace ID is invalid: the server answers with a partial success.
    let invalid = Span {
        trace_id: TraceId::ZERO,
        ..span(1, 1, "svc", "op", SpanKind::Server)
    };
    let (s, b) = (store.clone(), batch(&[invalid]));
    let err = blocking(move || s.write(&b)).await.expect_err("rejected");
    assert!(matches!(err, StorageError::Remote(_)), "{err}");
    assert!(!err.is_retryable());
    let text = store.remote.metrics.encode();
    assert!(
        text.contains(
            r#"tracehound_remote_storage_requests_total{api="v2",method="Export",outcome="ok"} 1"#
        ),
        "{text}"
    );
}

/// A free port on 127.0.0.1, with nothing listening on it.
fn unused_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

/// The v2 server over `engine`, on `addr`.
async fn serve_v2_at(engine: &TestEngine, addr: SocketAddr) {
    let (router, _) = storage_v2_router(
        tonic::transport::Server::builder(),
        engine.reader.clone(),
        engine.edge.clone(),
        LIMITS,
    )
    .await
    .expect("router");
    let listener = tokio::net::TcpListener::bind(addr).await.expect("rebind");
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    tokio::spawn(router.serve_with_incoming(incoming));
}

#[actix_rt::test]
async fn a_down_server_makes_writes_unavailable_until_it_is_back() {
    let addr = unused_addr();
    let store = connect(GrpcStoreOptions {
        write_timeout: Duration::from_millis(300),
        ..options(addr)
    });
    let (s, b) = (store.clone(), batch(&spans()));
    let err = blocking(move || s.write(&b))
        .await
        .expect_err("server down");
    assert!(matches!(err, StorageError::Unavailable(_)), "{err}");
    assert!(err.is_retryable());
    let text = store.remote.metrics.encode();
    assert!(
        text.contains(r#"method="Export",outcome="unavailable"}"#),
        "{text}"
    );

    let engine = TestEngine::start(false);
    serve_v2_at(&engine, addr).await;
    let (s, b) = (store.clone(), batch(&spans()));
    blocking(move || s.write(&b)).await.expect("server back");
    let s = store.clone();
    let trace = blocking(move || s.get_trace(TraceId::from_u128(2))).await;
    assert_eq!(trace.expect("get trace"), vec![spans()[3].clone()]);
}

#[actix_rt::test]
async fn a_write_keeps_retrying_while_the_server_is_down_and_lands_when_it_is_back() {
    let addr = unused_addr();
    let store = connect(GrpcStoreOptions {
        write_timeout: Duration::from_secs(60),
        ..options(addr)
    });
    let (s, b) = (store.clone(), batch(&spans()));
    let write = tokio::task::spawn_blocking(move || s.write(&b));
    // Wait for a failed attempt (not for a time), then bring the server up.
    let failed = r#"method="Export",outcome="unavailable"}"#;
    while !store.remote.metrics.encode().contains(failed) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let engine = TestEngine::start(false);
    serve_v2_at(&engine, addr).await;
    write.await.expect("join").expect("write lands");
    assert_eq!(
        engine
            .store
            .get_trace(TraceId::from_u128(2))
            .expect("server store"),
        vec![spans()[3].clone()]
    );
}

#[actix_rt::test]
async fn a_store_used_and_dropped_on_an_async_thread_does_not_panic() {
    let store = connect(GrpcStoreOptions {
        write_timeout: Duration::from_millis(100),
        ..options(unused_addr())
    });
    // Not the intended use (callers are blocking threads), but it must answer, not panic.
    let err = store.write(&batch(&spans())).expect_err("server down");
    assert!(err.is_retryable(), "{err}");
    drop(store);
}

#[test]
fn bad_options_fail_at_connect_with_a_clear_message() {
    let metrics = Arc::new(Metrics::new());
    let connect = |opts| GrpcStore::connect(opts, metrics.clone()).err();
    let base = options("127.0.0.1:1".parse().expect("addr"));
    for server in ["localhost", "http://localhost:17271", ":17271"] {
        let err = connect(GrpcStoreOptions {
            server: server.into(),
            ..base.clone()
        });
        assert!(
            matches!(&err, Some(StorageError::Config(m)) if m.contains("host:port")),
            "{server}: {err:?}"
        );
    }

    let dir = tempfile::tempdir().expect("tempdir");
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate").expect("write");
    let with_tls = |tls| GrpcStoreOptions {
        tls: Some(tls),
        ..base.clone()
    };
    let err = connect(with_tls(GrpcTlsOptions {
        ca: Some(garbage.clone()),
        ..Default::default()
    }));
    assert!(
        matches!(&err, Some(StorageError::Config(m)) if m.contains("garbage.pem")),
        "{err:?}"
    );
    let missing = dir.path().join("missing.pem");
    let err = connect(with_tls(GrpcTlsOptions {
        ca: Some(missing),
        ..Default::default()
    }));
    assert!(
        matches!(&err, Some(StorageError::Io { path, .. }) if path.contains("missing.pem")),
        "{err:?}"
    );
    let err = connect(with_tls(GrpcTlsOptions {
        cert: Some(garbage),
        ..Default::default()
    }));
    assert!(matches!(err, Some(StorageError::Config(_))), "{err:?}");
}
