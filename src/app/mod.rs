//! Start order: store → actors → servers; shutdown in reverse.
//!
//! The store is opened and every listener bound *before* the actix System starts (so bind
//! errors surface at once and tests can use `127.0.0.1:0`). Shutdown (SIGINT/SIGTERM, or
//! [`RunningApp::shutdown`]): health turns 503, the ingest listeners stop accepting and finish
//! their in-flight requests, the ingest queue drains, the store is flushed, the query and admin
//! servers stop, and only when every actor thread has released the store is it closed — RocksDB
//! must be dropped after its users, never at process exit.

use std::net::{TcpListener, UdpSocket};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_web::{web, App, HttpServer};
use anyhow::Context as _;

use crate::actors::index::IndexActor;
use crate::actors::ingest::IngestActor;
use crate::actors::query::QueryActor;
use crate::actors::retention::RetentionActor;
use crate::actors::writer::WriterActor;
use crate::api::grpc::jaeger::JaegerGrpc;
use crate::api::grpc::otlp::OtlpGrpc;
use crate::api::grpc::query::QueryGrpc;
use crate::api::grpc::sampling::SamplingGrpc;
use crate::api::grpc::storage_v1::StorageV1Grpc;
use crate::api::grpc::storage_v2::{storage_v2_router, StorageV2Limits};
use crate::api::http::admin::{AdminState, Health, HealthState};
use crate::api::http::jaeger::JaegerHttpState;
use crate::api::http::otlp::OtlpHttpState;
use crate::api::http::query::QueryState;
use crate::api::http::sampling::SamplingHttpState;
use crate::api::http::ui::UiState;
use crate::api::http::zipkin::ZipkinHttpState;
use crate::api::ingest::IngestEdge;
use crate::api::reader::Reader;
use crate::api::udp::{BatchSink, UdpServer};
use crate::config::Config;
use crate::ingest::jaeger::thrift::ThriftProtocol;
use crate::sampling::{SamplingOptions, SamplingProvider, StrategySource};
use crate::storage::{CatalogEntry, TraceStore};
use crate::telemetry::Metrics;

mod agent;
mod listen;
mod stores;

pub use agent::run_agent;
pub use listen::BoundAddrs;
use listen::Listeners;

/// Which process this is. Every role but the agent runs the same engine (store and actors);
/// they differ in the listeners they open (see [`Listeners::for_role`]) and their defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Collector, query service and UI in one process.
    AllInOne,
    /// Ingest listeners and sampling → storage.
    Collector,
    /// Query HTTP API, UI and query gRPC → storage.
    Query,
    /// The remote-storage gRPC server (storage v1, v2, OTLP Export) for other processes.
    RemoteStorage,
}

/// Everything opened before the System starts.
struct Prepared {
    role: Role,
    config: Config,
    metrics: Arc<Metrics>,
    store: Arc<dyn TraceStore>,
    archive: Option<Arc<dyn TraceStore>>,
    catalog: Vec<CatalogEntry>,
    ui: UiState,
    listeners: Listeners,
    addrs: BoundAddrs,
}

fn prepare(role: Role, config: Config) -> anyhow::Result<Prepared> {
    let metrics = Arc::new(Metrics::new());
    let store = stores::open_span_store(&config, &metrics)?;
    let archive = stores::open_archive_store(&config, &metrics)?;
    // A remote store's catalog is asked of it on every call; only a local one is loaded.
    let catalog = if store.catalog_is_remote() {
        Vec::new()
    } else {
        store.catalog().context("cannot load the service catalog")?
    };
    let ui = UiState::load(
        config.query.static_files.as_deref(),
        config.query.ui_config.as_deref(),
        config.base_prefix(),
        archive.is_some(),
    )?;
    let listeners = Listeners::for_role(role, &config)?;
    let addrs = listeners.addrs();
    Ok(Prepared {
        role,
        config,
        metrics,
        store,
        archive,
        catalog,
        ui,
        listeners,
        addrs,
    })
}

/// How a running app learns that it should stop.
enum StopSignal {
    Os,
    Channel(tokio::sync::oneshot::Receiver<()>),
}

impl StopSignal {
    async fn wait(self) {
        match self {
            StopSignal::Channel(rx) => {
                let _ = rx.await;
            }
            StopSignal::Os => {
                use tokio::signal::unix::{signal, SignalKind};
                let term = signal(SignalKind::terminate());
                let int = signal(SignalKind::interrupt());
                match (term, int) {
                    (Ok(mut t), Ok(mut i)) => {
                        tokio::select! {
                            _ = t.recv() => {},
                            _ = i.recv() => {},
                        }
                    }
                    _ => {
                        let _ = tokio::signal::ctrl_c().await;
                    }
                }
                tracing::info!("signal received, shutting down");
            }
        }
    }
}

/// Runs a role in the foreground until SIGINT/SIGTERM (`tracehound all-in-one`, `collector`,
/// `query`, `remote-storage`).
pub fn run(role: Role, config: Config) -> anyhow::Result<()> {
    let prepared = prepare(role, config)?;
    prepared.addrs.print();
    serve(prepared, StopSignal::Os, None)
}

/// An app running on a background thread (tests, embedding).
pub struct RunningApp {
    pub addrs: BoundAddrs,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
}

impl RunningApp {
    /// Starts all-in-one and returns once every listener serves.
    pub fn spawn(config: Config) -> anyhow::Result<RunningApp> {
        Self::spawn_role(Role::AllInOne, config)
    }

    /// Starts a role and returns once every listener serves.
    pub fn spawn_role(role: Role, config: Config) -> anyhow::Result<RunningApp> {
        let prepared = prepare(role, config)?;
        let addrs = prepared.addrs.clone();
        Self::spawn_serving(addrs, move |stop, ready| serve(prepared, stop, Some(ready)))
    }

    /// Starts the agent role and returns once every listener serves.
    pub fn spawn_agent(config: Config) -> anyhow::Result<RunningApp> {
        let prepared = agent::prepare(config)?;
        let addrs = prepared.addrs.clone();
        Self::spawn_serving(addrs, move |stop, ready| {
            agent::serve(prepared, stop, Some(ready))
        })
    }

    fn spawn_serving(
        addrs: BoundAddrs,
        serve: impl FnOnce(StopSignal, std::sync::mpsc::Sender<()>) -> anyhow::Result<()>
            + Send
            + 'static,
    ) -> anyhow::Result<RunningApp> {
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("tracehound-app".into())
            .spawn(move || serve(StopSignal::Channel(stop_rx), ready_tx))?;
        match ready_rx.recv() {
            Ok(()) => Ok(RunningApp {
                addrs,
                stop: Some(stop_tx),
                thread: Some(thread),
            }),
            Err(_) => match thread.join() {
                Ok(Err(e)) => Err(e),
                _ => Err(anyhow::anyhow!("the app stopped before it was ready")),
            },
        }
    }

    /// Orderly shutdown; returns when the store is closed.
    pub fn shutdown(mut self) -> anyhow::Result<()> {
        self.stop_and_join()
    }

    fn stop_and_join(&mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take() {
            Some(t) => t
                .join()
                .map_err(|_| anyhow::anyhow!("the app thread panicked"))?,
            None => Ok(()),
        }
    }
}

impl Drop for RunningApp {
    fn drop(&mut self) {
        let _ = self.stop_and_join();
    }
}

fn runtime_system() -> actix_rt::SystemRunner {
    actix_rt::System::with_tokio_rt(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("tracehound-rt")
            .enable_all()
            .build()
            .expect("tokio runtime")
    })
}

fn serve(
    prepared: Prepared,
    stop: StopSignal,
    ready: Option<std::sync::mpsc::Sender<()>>,
) -> anyhow::Result<()> {
    let store = prepared.store.clone();
    let archive = prepared.archive.clone();
    let result = runtime_system().block_on(serve_in_system(prepared, stop, ready));
    close_store(store);
    if let Some(archive) = archive {
        close_store(archive);
    }
    result
}

/// Waits until the actor threads have dropped their handles, then drops the store last.
fn close_store(store: Arc<dyn TraceStore>) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Arc::strong_count(&store) > 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    if Arc::strong_count(&store) > 1 {
        tracing::warn!("store still referenced at shutdown; closing anyway");
    }
    drop(store);
}

/// Starts an actix-web server on an already bound listener (signals are handled by us) and
/// returns its handle. A macro because `HttpServer`'s factory bounds are long to spell out.
macro_rules! start_http {
    ($listener:expr, $workers:expr, $factory:expr) => {{
        let server = HttpServer::new($factory)
            .workers($workers)
            .disable_signals()
            .listen($listener)?
            .run();
        let handle = server.handle();
        actix_rt::spawn(server);
        handle
    }};
}

async fn serve_in_system(
    p: Prepared,
    stop: StopSignal,
    ready: Option<std::sync::mpsc::Sender<()>>,
) -> anyhow::Result<()> {
    let Prepared {
        role,
        config,
        metrics,
        store,
        archive,
        catalog,
        ui,
        listeners,
        addrs: _,
    } = p;
    // First, so that a bad strategies file stops the start before anything runs.
    let sampling = load_sampling(&config).await?;
    let health = HealthState::default();

    // Actors.
    let index = IndexActor::new(catalog).start();
    let writers = {
        let (store, metrics) = (store.clone(), metrics.clone());
        SyncArbiter::start(config.collector.num_workers, move || {
            WriterActor::new(store.clone(), metrics.clone())
        })
    };
    let ingest_actor = IngestActor::new(
        writers.recipient(),
        index.clone().recipient(),
        config.collector.queue_size,
        metrics.clone(),
    );
    let in_flight = ingest_actor.in_flight();
    let ingest = ingest_actor.start();
    let query = {
        let (store, archive) = (store.clone(), archive.clone());
        let skew = config.query.max_clock_skew_adjustment.0.max(0) as u64;
        SyncArbiter::start(config.query.num_workers, move || {
            QueryActor::new(store.clone(), archive.clone(), skew)
        })
    };
    let reader = Reader {
        index: index.clone(),
        query: query.clone(),
        catalog_from_store: store.catalog_is_remote(),
    };
    let _retention = RetentionActor::new(
        store.clone(),
        config.rocksdb.span_store_ttl.as_std(),
        config.rocksdb.max_disk_size.map(|b| b.0),
        config.rocksdb.retention_interval.as_std(),
        index.clone().recipient(),
        metrics.clone(),
    )
    .start();

    // Servers.
    let edge = IngestEdge {
        ingest: ingest.recipient(),
        metrics: metrics.clone(),
    };
    let sampling_source: Arc<dyn StrategySource> = Arc::new(sampling.clone());
    let _sampling_reload = sampling.spawn_reload();
    let c = &config.collector;
    let otlp_grpc = match listeners.otlp_grpc {
        Some(l) => {
            let svc = OtlpGrpc::server(edge.clone(), c.otlp.grpc.max_message_size.0 as usize);
            Some(GrpcServer::start(
                "OTLP gRPC",
                l,
                tonic::transport::Server::builder().add_service(svc),
            )?)
        }
        None => None,
    };
    let jaeger_grpc = match listeners.jaeger_grpc {
        Some(l) => {
            let svc = JaegerGrpc::server(edge.clone(), c.grpc_server.max_message_size.0 as usize);
            let router = tonic::transport::Server::builder()
                .add_service(svc)
                .add_service(SamplingGrpc::server(sampling_source.clone()));
            Some(GrpcServer::start("Jaeger gRPC", l, router)?)
        }
        None => None,
    };
    let query_grpc = match listeners.query_grpc {
        Some(l) => {
            let max = config.query.grpc_server.max_message_size.0 as usize;
            let (health, health_svc) = tonic_health::server::health_reporter();
            for name in ["jaeger.api_v2.QueryService", "jaeger.api_v3.QueryService"] {
                health
                    .set_service_status(name, tonic_health::ServingStatus::Serving)
                    .await;
            }
            let router = tonic::transport::Server::builder()
                .add_service(QueryGrpc::api_v2_server(reader.clone(), max))
                .add_service(QueryGrpc::api_v3_server(reader.clone(), max))
                .add_service(health_svc)
                .add_service(reflection()?);
            Some(GrpcServer::start("query gRPC", l, router)?)
        }
        None => None,
    };
    // Remote storage: v2 (with OTLP Export as its writer), v1, one health service.
    let storage_grpc = match listeners.storage_grpc {
        Some(l) => {
            let max = config.grpc.max_message_size.0 as usize;
            let (router, storage_health) = storage_v2_router(
                tonic::transport::Server::builder(),
                reader.clone(),
                edge.clone(),
                StorageV2Limits::for_max_message(max),
            )
            .await?;
            for name in StorageV1Grpc::health_service_names() {
                storage_health
                    .set_service_status(name, tonic_health::ServingStatus::Serving)
                    .await;
            }
            let router = StorageV1Grpc::add_services(
                router,
                reader.clone(),
                edge.clone(),
                archive.is_some(),
                max,
            );
            Some(GrpcServer::start("remote-storage gRPC", l, router)?)
        }
        None => None,
    };
    let otlp_http = match listeners.otlp_http {
        Some(l) => {
            let state = web::Data::new(OtlpHttpState {
                ingest: edge.clone(),
                max_body_bytes: c.otlp.http.max_request_body_size.0 as usize,
            });
            Some(start_http!(l, 2, move || {
                App::new()
                    .app_data(state.clone())
                    .configure(crate::api::http::otlp::configure)
            }))
        }
        None => None,
    };
    let zipkin_http = match listeners.zipkin_http {
        Some(l) => {
            let state = web::Data::new(ZipkinHttpState {
                ingest: edge.clone(),
                max_body_bytes: c.zipkin.max_request_body_size.0 as usize,
            });
            Some(start_http!(l, 2, move || {
                App::new()
                    .app_data(state.clone())
                    .configure(crate::api::http::zipkin::configure)
            }))
        }
        None => None,
    };
    let jaeger_http = match listeners.jaeger_http {
        Some(l) => {
            let state = web::Data::new(JaegerHttpState {
                ingest: edge.clone(),
                max_body_bytes: c.http_server.max_request_body_size.0 as usize,
            });
            let sampling = web::Data::new(SamplingHttpState {
                source: sampling_source.clone(),
            });
            Some(start_http!(l, 2, move || {
                App::new()
                    .app_data(state.clone())
                    .app_data(sampling.clone())
                    .configure(crate::api::http::jaeger::configure)
                    .configure(crate::api::http::sampling::configure_collector)
            }))
        }
        None => None,
    };
    let sampling_http = match listeners.sampling_http {
        Some(l) => Some(start_sampling_http(l, sampling_source.clone())?),
        None => None,
    };
    let udp = start_udp_servers(
        &config,
        listeners.jaeger_compact_udp,
        listeners.jaeger_binary_udp,
        Arc::new(edge.clone()),
        &metrics,
    )?;
    let query_http = match listeners.query_http {
        Some(l) => {
            let state = web::Data::new(QueryState {
                reader: reader.clone(),
                metrics: metrics.clone(),
            });
            let ui = web::Data::new(ui);
            let prefix = config.base_prefix().to_string();
            Some(start_http!(l, 2, move || {
                let ui_cfg = ui.clone();
                App::new()
                    .app_data(state.clone())
                    .app_data(ui.clone())
                    .wrap(actix_web::middleware::Compress::default())
                    .service(
                        web::scope(&prefix)
                            .configure(crate::api::http::query::configure)
                            .configure(move |c| crate::api::http::ui::configure(c, &ui_cfg)),
                    )
            }))
        }
        None => None,
    };
    let admin_http = match listeners.admin_http {
        Some(l) => Some(start_admin_http(l, &health, &metrics)?),
        None => None,
    };

    health.set(Health::Serving);
    tracing::info!(
        role = ?role,
        storage = %config.span_storage.types,
        archive = archive.is_some(),
        "tracehound is serving"
    );
    if let Some(ready) = ready {
        let _ = ready.send(());
    }

    stop.wait().await;

    // Drain: stop accepting spans, let in-flight requests finish (they reply only once durable).
    health.set(Health::Draining);
    for server in [otlp_grpc, jaeger_grpc, storage_grpc].into_iter().flatten() {
        server.stop().await;
    }
    for h in [otlp_http, zipkin_http, jaeger_http].into_iter().flatten() {
        h.stop(true).await;
    }
    for server in udp {
        server.stop().await;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while in_flight.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let flush_store = store.clone();
    match tokio::task::spawn_blocking(move || flush_store.flush()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::error!(error = %e, "flush at shutdown failed (the WAL still holds the data)")
        }
        Err(e) => tracing::error!(error = %e, "flush task failed"),
    }
    for h in [sampling_http, query_http, admin_http]
        .into_iter()
        .flatten()
    {
        h.stop(true).await;
    }
    if let Some(server) = query_grpc {
        server.stop().await;
    }
    System::current().stop();
    tracing::info!("tracehound stopped");
    Ok(())
}

/// gRPC server reflection over every service of our protos.
fn reflection() -> anyhow::Result<
    tonic_reflection::server::v1::ServerReflectionServer<
        impl tonic_reflection::server::v1::ServerReflection,
    >,
> {
    Ok(tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?)
}

/// A tonic server on an already bound listener.
struct GrpcServer {
    name: &'static str,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
}

impl GrpcServer {
    fn start(
        name: &'static str,
        listener: TcpListener,
        router: tonic::transport::server::Router,
    ) -> anyhow::Result<GrpcServer> {
        listener.set_nonblocking(true)?;
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(
            tokio::net::TcpListener::from_std(listener)?,
        );
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(router.serve_with_incoming_shutdown(incoming, async {
            let _ = stopped.await;
        }));
        Ok(GrpcServer { name, stop, task })
    }

    /// Stops accepting calls and returns once the calls in flight have finished.
    async fn stop(self) {
        let _ = self.stop.send(());
        match self.task.await {
            Ok(Err(e)) => {
                tracing::warn!(error = %e, server = self.name, "gRPC server stopped with an error")
            }
            Err(e) => tracing::warn!(error = %e, server = self.name, "gRPC server task failed"),
            Ok(Ok(())) => {}
        }
    }
}

/// `GET /sampling?service=` (and the legacy `GET /?service=`) for Jaeger clients.
fn start_sampling_http(
    l: TcpListener,
    source: Arc<dyn StrategySource>,
) -> anyhow::Result<actix_web::dev::ServerHandle> {
    let state = web::Data::new(SamplingHttpState { source });
    Ok(start_http!(l, 1, move || {
        App::new()
            .app_data(state.clone())
            .configure(crate::api::http::sampling::configure_agent)
    }))
}

fn start_admin_http(
    l: TcpListener,
    health: &HealthState,
    metrics: &Arc<Metrics>,
) -> anyhow::Result<actix_web::dev::ServerHandle> {
    let state = web::Data::new(AdminState {
        health: health.clone(),
        metrics: metrics.clone(),
    });
    Ok(start_http!(l, 1, move || {
        App::new()
            .app_data(state.clone())
            .configure(crate::api::http::admin::configure)
    }))
}

/// The compact and binary `Agent.emitBatch` UDP servers that are enabled, delivering to `sink`.
fn start_udp_servers(
    config: &Config,
    compact: Option<UdpSocket>,
    binary: Option<UdpSocket>,
    sink: Arc<dyn BatchSink>,
    metrics: &Arc<Metrics>,
) -> anyhow::Result<Vec<UdpServer>> {
    let p = &config.processor;
    let mut out = Vec::new();
    for (socket, protocol, cfg) in [
        (compact, ThriftProtocol::Compact, &p.jaeger_compact),
        (binary, ThriftProtocol::Binary, &p.jaeger_binary),
    ] {
        if let Some(socket) = socket {
            out.push(UdpServer::start(
                socket,
                protocol,
                cfg,
                sink.clone(),
                metrics.clone(),
            )?);
        }
    }
    Ok(out)
}

/// The sampling strategies of the configuration (a bad strategies file stops the start).
async fn load_sampling(config: &Config) -> anyhow::Result<SamplingProvider> {
    let s = &config.sampling;
    SamplingProvider::load(SamplingOptions {
        strategies_file: s.strategies_file.clone(),
        reload_interval: s.strategies_reload_interval.as_std(),
        default_sampling_probability: s.default_sampling_probability,
    })
    .await
    .context("cannot load the sampling strategies")
}
