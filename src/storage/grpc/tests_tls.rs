//! `GrpcStore` over TLS, against the v2 server with a certificate made in the test.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tonic::transport::{Identity, Server, ServerTlsConfig};

use super::tests::{batch, blocking, connect, options, LIMITS};
use super::{GrpcStoreOptions, GrpcTlsOptions};
use crate::api::grpc::storage_v2::storage_v2_router;
use crate::api::grpc::storage_v2::test_support::span;
use crate::api::test_engine::{serve_grpc, TestEngine};
use crate::model::{SpanKind, TraceId};
use crate::storage::{StorageError, TraceStore};

/// A self-signed certificate for `localhost`, written as `<name>.crt` / `<name>.key`.
fn certificate(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("rcgen");
    let (crt, key) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    std::fs::write(&crt, ck.cert.pem()).expect("write cert");
    std::fs::write(&key, ck.signing_key.serialize_pem()).expect("write key");
    (crt, key)
}

/// The v2 server with TLS on 127.0.0.1.
async fn serve_tls(engine: &TestEngine, crt: &Path, key: &Path) -> std::net::SocketAddr {
    let identity = Identity::from_pem(
        std::fs::read(crt).expect("cert"),
        std::fs::read(key).expect("key"),
    );
    let server = Server::builder()
        .tls_config(ServerTlsConfig::new().identity(identity))
        .expect("server tls");
    let (router, _) = storage_v2_router(server, engine.reader.clone(), engine.edge.clone(), LIMITS)
        .await
        .expect("router");
    serve_grpc(router).await
}

fn tls_options(addr: std::net::SocketAddr, tls: GrpcTlsOptions) -> GrpcStoreOptions {
    GrpcStoreOptions {
        tls: Some(tls),
        write_timeout: Duration::from_millis(500),
        ..options(addr)
    }
}

#[actix_rt::test]
async fn tls_with_the_servers_ca_works_and_an_unknown_certificate_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (crt, key) = certificate(dir.path(), "server");
    let (other_crt, _) = certificate(dir.path(), "other");
    let engine = TestEngine::start(false);
    let addr = serve_tls(&engine, &crt, &key).await;
    let written = vec![span(3, 1, "svc", "op", SpanKind::Server)];

    let store = connect(tls_options(
        addr,
        GrpcTlsOptions {
            ca: Some(crt),
            server_name: Some("localhost".into()),
            ..Default::default()
        },
    ));
    let (s, b) = (store.clone(), batch(&written));
    blocking(move || s.write(&b)).await.expect("write over tls");
    let s = store.clone();
    let trace = blocking(move || s.get_trace(TraceId::from_u128(3))).await;
    assert_eq!(trace.expect("get trace"), written);

    // A server whose certificate the CA did not sign is not talked to.
    let untrusting = connect(tls_options(
        addr,
        GrpcTlsOptions {
            ca: Some(other_crt),
            server_name: Some("localhost".into()),
            ..Default::default()
        },
    ));
    let b = batch(&written);
    let err = blocking(move || untrusting.write(&b))
        .await
        .expect_err("unknown issuer");
    assert!(matches!(err, StorageError::Unavailable(_)), "{err}");
}

#[actix_rt::test]
async fn skip_host_verify_accepts_any_server_certificate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (crt, key) = certificate(dir.path(), "server");
    let engine = TestEngine::start(false);
    let addr = serve_tls(&engine, &crt, &key).await;
    // The certificate names `localhost`, the address is an IP, and no CA is given.
    let store = connect(tls_options(
        addr,
        GrpcTlsOptions {
            skip_host_verify: true,
            ..Default::default()
        },
    ));
    let written = vec![span(4, 1, "svc", "op", SpanKind::Server)];
    let (s, b) = (store.clone(), batch(&written));
    blocking(move || s.write(&b)).await.expect("write");
    assert_eq!(
        engine
            .store
            .get_trace(TraceId::from_u128(4))
            .expect("server store"),
        written
    );
}
