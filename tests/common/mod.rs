//! Test harness: a real tracehound app on 127.0.0.1:0 listeners with a temporary data dir,
//! and real clients (reqwest for HTTP, the tonic OTLP client for gRPC).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tracehound::app::RunningApp;
use tracehound::config::{Config, GoDuration, HostPort, StorageType};

pub mod jaeger_thrift;
pub mod process;
pub mod ui;

pub const LOOPBACK: &str = "127.0.0.1:0";

/// A config with every listener on an ephemeral loopback port and data under `dir`.
pub fn test_config(kind: StorageType, dir: &Path) -> Config {
    let mut c = Config::default();
    c.span_storage.types = kind.into();
    c.rocksdb.path = dir.join("data");
    c.rocksdb.block_cache_size = tracehound::config::ByteSize(16 << 20);
    c.rocksdb.write_buffer_size = tracehound::config::ByteSize(32 << 20);
    c.rocksdb.retention_interval = GoDuration::from_secs(3600);
    c.collector.otlp.grpc.host_port = HostPort(LOOPBACK.into());
    c.collector.otlp.http.host_port = HostPort(LOOPBACK.into());
    c.collector.zipkin.host_port = HostPort(LOOPBACK.into());
    c.collector.http_server.host_port = HostPort(LOOPBACK.into());
    c.collector.grpc_server.host_port = HostPort(LOOPBACK.into());
    c.processor.jaeger_compact.server_host_port = HostPort(LOOPBACK.into());
    c.processor.jaeger_binary.server_host_port = HostPort(LOOPBACK.into());
    c.http_server.host_port = HostPort(LOOPBACK.into());
    c.query.http_server.host_port = HostPort(LOOPBACK.into());
    c.query.grpc_server.host_port = HostPort(LOOPBACK.into());
    c.grpc.host_port = HostPort(LOOPBACK.into());
    c.admin.http.host_port = HostPort(LOOPBACK.into());
    c
}

/// A running app plus the temp dir that holds its data (kept alive as long as the app).
/// With `StorageType::Grpc` the app is all-in-one on the remote adapter, and its storage is a
/// `tracehound remote-storage` process on RocksDB under the same temp dir.
pub struct TestServer {
    // Fields drop in order: the app, then its storage process, then the data.
    pub app: Option<RunningApp>,
    pub remote: Option<process::Process>,
    pub dir: tempfile::TempDir,
    pub config: Config,
    pub http: reqwest::Client,
}

impl TestServer {
    pub fn start(kind: StorageType) -> TestServer {
        Self::start_with(kind, |_| {})
    }

    pub fn start_with(kind: StorageType, tweak: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = test_config(kind, dir.path());
        let remote = (kind == StorageType::Grpc).then(|| {
            let data = dir.path().join("remote-data");
            let p = process::Process::start(
                "remote-storage",
                &["grpc.host-port"],
                &[
                    format!("--rocksdb.path={}", data.display()),
                    "--rocksdb.block-cache-size=16MiB".into(),
                    "--rocksdb.write-buffer-size=32MiB".into(),
                ],
            );
            config.grpc_storage.server = p.addr("remote-storage-grpc").to_string();
            p
        });
        tweak(&mut config);
        let mut server = Self::start_in(dir, config);
        server.remote = remote;
        server
    }

    pub fn start_in(dir: tempfile::TempDir, config: Config) -> TestServer {
        let app = RunningApp::spawn(config.clone()).expect("app starts");
        TestServer {
            app: Some(app),
            remote: None,
            dir,
            config,
            http: reqwest::Client::new(),
        }
    }

    /// Stops the app cleanly and starts it again on the same data directory (a remote
    /// storage process keeps running).
    pub fn restart(mut self) -> TestServer {
        if let Some(app) = self.app.take() {
            app.shutdown().expect("clean shutdown");
        }
        let remote = self.remote.take();
        let TestServer { dir, config, .. } = self;
        let mut server = Self::start_in(dir, config);
        server.remote = remote;
        server
    }

    pub fn addrs(&self) -> &tracehound::app::BoundAddrs {
        &self.app.as_ref().expect("running").addrs
    }

    pub fn query_url(&self, path_and_query: &str) -> String {
        let a = self.addrs().query_http.expect("query listener");
        format!("http://{a}{path_and_query}")
    }

    pub fn otlp_http_url(&self) -> String {
        let a = self.addrs().otlp_http.expect("otlp http listener");
        format!("http://{a}/v1/traces")
    }

    /// The Zipkin listener's URL for `path` (`/api/v2/spans`, `/api/v1/spans`).
    pub fn zipkin_url(&self, path: &str) -> String {
        let a = self.addrs().zipkin_http.expect("zipkin http listener");
        format!("http://{a}{path}")
    }

    /// The Jaeger collector HTTP port (`/api/traces`, `/api/sampling`).
    pub fn jaeger_http_url(&self, path_and_query: &str) -> String {
        let a = self.addrs().jaeger_http.expect("jaeger http listener");
        format!("http://{a}{path_and_query}")
    }

    /// The Jaeger collector gRPC port (CollectorService, SamplingManager).
    pub fn jaeger_grpc_addr(&self) -> SocketAddr {
        self.addrs().jaeger_grpc.expect("jaeger grpc listener")
    }

    /// The agent-style sampling HTTP port (`/sampling`).
    pub fn sampling_url(&self, path_and_query: &str) -> String {
        let a = self.addrs().sampling_http.expect("sampling http listener");
        format!("http://{a}{path_and_query}")
    }

    pub fn admin_url(&self, path: &str) -> String {
        let a = self.addrs().admin_http.expect("admin listener");
        format!("http://{a}{path}")
    }

    pub fn otlp_grpc_addr(&self) -> SocketAddr {
        self.addrs().otlp_grpc.expect("otlp grpc listener")
    }

    pub async fn grpc_client(&self) -> TraceServiceClient<tonic::transport::Channel> {
        TraceServiceClient::connect(format!("http://{}", self.otlp_grpc_addr()))
            .await
            .expect("grpc connect")
    }

    pub async fn export(&self, req: ExportTraceServiceRequest) -> ExportTraceServiceResponse {
        self.grpc_client()
            .await
            .export(req)
            .await
            .expect("export accepted")
            .into_inner()
    }

    /// The admin port's `/metrics` text.
    pub async fn metrics_text(&self) -> String {
        self.http
            .get(self.admin_url("/metrics"))
            .send()
            .await
            .expect("metrics request")
            .text()
            .await
            .expect("metrics body")
    }

    /// GET a query URL; returns (status, parsed JSON body or Null).
    pub async fn get_json(&self, path_and_query: &str) -> (u16, serde_json::Value) {
        let resp = self
            .http
            .get(self.query_url(path_and_query))
            .send()
            .await
            .expect("http request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        )
    }
}

/// Polls `f` until it returns Some, for at most `secs` seconds.
pub async fn eventually<T, F, Fut>(secs: u64, mut f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return Some(v);
        }
        if std::time::Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The shared conformance fixtures (Jaeger's), next to the project clone.
pub fn conformance_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance/jaeger-fixtures");
    if dir.join("queries.json").is_file() {
        Some(dir)
    } else {
        // Straight to the stderr handle: libtest captures `eprintln!` of passing tests.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
             !! Jaeger conformance fixtures NOT FOUND at {}\n\
             !! The conformance suite did NOT run. Put shared/ beside the clone to run it.\n\
             !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n",
            dir.display()
        );
        None
    }
}

/// Current time in Unix nanoseconds.
pub fn now_ns() -> u64 {
    tracehound::model::time::now_ns()
}

/// A small OTLP request built by hand: one resource with `service`, one span per (trace, span).
pub mod build {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

    pub fn kv(key: &str, v: any_value::Value) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(v) }),
            ..Default::default()
        }
    }

    pub fn str_kv(key: &str, v: &str) -> KeyValue {
        kv(key, any_value::Value::StringValue(v.into()))
    }

    pub fn span(trace: u128, span: u64, name: &str, start_ns: u64, dur_ns: u64) -> Span {
        Span {
            trace_id: trace.to_be_bytes().to_vec(),
            span_id: span.to_be_bytes().to_vec(),
            name: name.into(),
            kind: 2,
            start_time_unix_nano: start_ns,
            end_time_unix_nano: start_ns + dur_ns,
            ..Default::default()
        }
    }

    pub fn request(service: &str, spans: Vec<Span>) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![str_kv("service.name", service)],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }
}
