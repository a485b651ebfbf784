//! Start order: store → actors → servers; shutdown in reverse.
//!
//! The store is opened and every listener bound *before* the actix System starts (so bind
//! errors surface at once and tests can use `127.0.0.1:0`). Shutdown (SIGINT/SIGTERM, or
//! [`RunningApp::shutdown`]): health turns 503, the ingest listeners stop accepting and finish
//! their in-flight requests, the ingest queue drains, the store is flushed, the query and admin
//! servers stop, and only when every actor thread has released the store is it closed — RocksDB
//! must be dropped after its users, never at process exit.

use std::net::{SocketAddr, TcpListener};
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
use crate::api::grpc::otlp::OtlpGrpc;
use crate::api::http::admin::{AdminState, Health, HealthState};
use crate::api::http::otlp::OtlpHttpState;
use crate::api::http::query::QueryState;
use crate::api::http::ui::UiState;
use crate::api::http::zipkin::ZipkinHttpState;
use crate::api::ingest::IngestEdge;
use crate::config::{Config, HostPort, StorageType};
use crate::storage::memory::MemoryStore;
use crate::storage::rocks::{RocksOptions, RocksStore};
use crate::storage::{CatalogEntry, TraceStore};
use crate::telemetry::Metrics;

/// Where each listener ended up (after binding `:0` ports).
#[derive(Debug, Clone, Default)]
pub struct BoundAddrs {
    pub otlp_grpc: Option<SocketAddr>,
    pub otlp_http: Option<SocketAddr>,
    pub zipkin_http: Option<SocketAddr>,
    pub query_http: Option<SocketAddr>,
    pub admin_http: Option<SocketAddr>,
}

struct Listeners {
    otlp_grpc: Option<TcpListener>,
    otlp_http: Option<TcpListener>,
    zipkin_http: Option<TcpListener>,
    query_http: Option<TcpListener>,
    admin_http: Option<TcpListener>,
}

/// Everything opened before the System starts.
struct Prepared {
    config: Config,
    store: Arc<dyn TraceStore>,
    catalog: Vec<CatalogEntry>,
    ui: UiState,
    listeners: Listeners,
    addrs: BoundAddrs,
}

fn bind(name: &str, hp: &HostPort) -> anyhow::Result<Option<TcpListener>> {
    let Some(addr) = hp.resolve().map_err(anyhow::Error::msg)? else {
        return Ok(None);
    };
    let l = TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr} ({name})"))?;
    // Accepted sockets inherit TCP_NODELAY on Linux. Without it, a response written in two
    // segments on a keep-alive connection waits for the client's delayed ACK (~40 ms).
    socket2::SockRef::from(&l)
        .set_tcp_nodelay(true)
        .with_context(|| format!("cannot set TCP_NODELAY on {addr} ({name})"))?;
    Ok(Some(l))
}

fn local(l: &Option<TcpListener>) -> Option<SocketAddr> {
    l.as_ref().and_then(|l| l.local_addr().ok())
}

fn open_store(config: &Config) -> anyhow::Result<Arc<dyn TraceStore>> {
    Ok(match config.span_storage.kind {
        StorageType::Rocksdb => {
            let r = &config.rocksdb;
            let opts = RocksOptions {
                sync_writes: r.sync_writes,
                block_cache_bytes: r.block_cache_size.0 as usize,
                write_buffer_bytes: r.write_buffer_size.0 as usize,
                ..RocksOptions::default()
            };
            let store = RocksStore::open(&r.path, opts)
                .with_context(|| format!("cannot open the store at {}", r.path.display()))?;
            Arc::new(store)
        }
        StorageType::Memory => Arc::new(MemoryStore::new(config.memory.max_traces)),
    })
}

fn prepare(config: Config) -> anyhow::Result<Prepared> {
    let store = open_store(&config)?;
    let catalog = store.catalog().context("cannot load the service catalog")?;
    let ui = UiState::load(
        config.query.static_files.as_deref(),
        config.query.ui_config.as_deref(),
        config.base_prefix(),
    )?;
    let otlp = &config.collector.otlp;
    let listeners = Listeners {
        otlp_grpc: if otlp.enabled {
            bind("OTLP gRPC", &otlp.grpc.host_port)?
        } else {
            None
        },
        otlp_http: if otlp.enabled {
            bind("OTLP HTTP", &otlp.http.host_port)?
        } else {
            None
        },
        zipkin_http: bind("Zipkin HTTP", &config.collector.zipkin.host_port)?,
        query_http: bind("query HTTP", &config.query.http_server.host_port)?,
        admin_http: bind("admin HTTP", &config.admin.http.host_port)?,
    };
    let addrs = BoundAddrs {
        otlp_grpc: local(&listeners.otlp_grpc),
        otlp_http: local(&listeners.otlp_http),
        zipkin_http: local(&listeners.zipkin_http),
        query_http: local(&listeners.query_http),
        admin_http: local(&listeners.admin_http),
    };
    Ok(Prepared {
        config,
        store,
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

/// Runs in the foreground until SIGINT/SIGTERM (the `tracehound all-in-one` entry point).
pub fn run(config: Config) -> anyhow::Result<()> {
    let prepared = prepare(config)?;
    print_addrs(&prepared.addrs);
    serve(prepared, StopSignal::Os, None)
}

fn print_addrs(a: &BoundAddrs) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    for (name, addr) in [
        ("otlp-grpc", a.otlp_grpc),
        ("otlp-http", a.otlp_http),
        ("zipkin-http", a.zipkin_http),
        ("query-http", a.query_http),
        ("admin-http", a.admin_http),
    ] {
        if let Some(addr) = addr {
            let _ = writeln!(out, "tracehound: {name} listening on {addr}");
        }
    }
    let _ = out.flush();
}

/// An app running on a background thread (tests, embedding).
pub struct RunningApp {
    pub addrs: BoundAddrs,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
}

impl RunningApp {
    /// Starts the app and returns once every listener serves.
    pub fn spawn(config: Config) -> anyhow::Result<RunningApp> {
        let prepared = prepare(config)?;
        let addrs = prepared.addrs.clone();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("tracehound-app".into())
            .spawn(move || serve(prepared, StopSignal::Channel(stop_rx), Some(ready_tx)))?;
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
    let result = runtime_system().block_on(serve_in_system(prepared, stop, ready));
    close_store(store);
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
        config,
        store,
        catalog,
        ui,
        listeners,
        addrs: _,
    } = p;
    let metrics = Arc::new(Metrics::new());
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
        let store = store.clone();
        let skew = config.query.max_clock_skew_adjustment.0.max(0) as u64;
        SyncArbiter::start(config.query.num_workers, move || {
            QueryActor::new(store.clone(), skew)
        })
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
    let grpc = match listeners.otlp_grpc {
        Some(l) => {
            l.set_nonblocking(true)?;
            let incoming = tokio_stream::wrappers::TcpListenerStream::new(
                tokio::net::TcpListener::from_std(l)?,
            );
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            let svc = OtlpGrpc::server(
                edge.clone(),
                config.collector.otlp.grpc.max_message_size.0 as usize,
            );
            let task = tokio::spawn(
                tonic::transport::Server::builder()
                    .add_service(svc)
                    .serve_with_incoming_shutdown(incoming, async {
                        let _ = rx.await;
                    }),
            );
            Some((tx, task))
        }
        None => None,
    };
    let otlp_http = match listeners.otlp_http {
        Some(l) => {
            let state = web::Data::new(OtlpHttpState {
                ingest: edge.clone(),
                max_body_bytes: config.collector.otlp.http.max_request_body_size.0 as usize,
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
                max_body_bytes: config.collector.zipkin.max_request_body_size.0 as usize,
            });
            Some(start_http!(l, 2, move || {
                App::new()
                    .app_data(state.clone())
                    .configure(crate::api::http::zipkin::configure)
            }))
        }
        None => None,
    };
    let query_http = match listeners.query_http {
        Some(l) => {
            let state = web::Data::new(QueryState {
                index: index.clone(),
                query: query.clone(),
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
        Some(l) => {
            let state = web::Data::new(AdminState {
                health: health.clone(),
                metrics: metrics.clone(),
            });
            Some(start_http!(l, 1, move || {
                App::new()
                    .app_data(state.clone())
                    .configure(crate::api::http::admin::configure)
            }))
        }
        None => None,
    };

    health.set(Health::Serving);
    tracing::info!(storage = ?config.span_storage.kind, "tracehound is serving");
    if let Some(ready) = ready {
        let _ = ready.send(());
    }

    stop.wait().await;

    // Drain: stop accepting spans, let in-flight requests finish (they reply only once durable).
    health.set(Health::Draining);
    if let Some((tx, task)) = grpc {
        let _ = tx.send(());
        match task.await {
            Ok(Err(e)) => tracing::warn!(error = %e, "OTLP gRPC server stopped with an error"),
            Err(e) => tracing::warn!(error = %e, "OTLP gRPC server task failed"),
            Ok(Ok(())) => {}
        }
    }
    for h in [otlp_http, zipkin_http].into_iter().flatten() {
        h.stop(true).await;
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
    if let Some(h) = query_http {
        h.stop(true).await;
    }
    if let Some(h) = admin_http {
        h.stop(true).await;
    }
    System::current().stop();
    tracing::info!("tracehound stopped");
    Ok(())
}
