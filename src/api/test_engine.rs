//! Test support: the engine's actors over a memory store, started inside the current actix
//! System, so the gRPC and HTTP front ends can be tested over real sockets without the app.

use std::net::SocketAddr;
use std::sync::Arc;

use actix::prelude::*;

use crate::actors::index::IndexActor;
use crate::actors::ingest::IngestActor;
use crate::actors::query::QueryActor;
use crate::actors::writer::WriterActor;
use crate::api::ingest::IngestEdge;
use crate::api::reader::Reader;
use crate::storage::memory::MemoryStore;
use crate::storage::TraceStore;
use crate::telemetry::Metrics;

pub struct TestEngine {
    pub edge: IngestEdge,
    pub reader: Reader,
    pub store: Arc<dyn TraceStore>,
    pub archive: Option<Arc<dyn TraceStore>>,
    pub metrics: Arc<Metrics>,
}

impl TestEngine {
    /// Writer, ingest, index and query actors over a fresh memory store (and, with `archive`,
    /// a second memory store as the archive). Call inside an actix System.
    pub fn start(archive: bool) -> TestEngine {
        let store: Arc<dyn TraceStore> = Arc::new(MemoryStore::new(100_000));
        let archive: Option<Arc<dyn TraceStore>> =
            archive.then(|| Arc::new(MemoryStore::new(100_000)) as Arc<dyn TraceStore>);
        let metrics = Arc::new(Metrics::new());
        let index = IndexActor::new(Vec::new()).start();
        let writers = {
            let (store, metrics) = (store.clone(), metrics.clone());
            SyncArbiter::start(1, move || WriterActor::new(store.clone(), metrics.clone()))
        };
        let ingest = IngestActor::new(
            writers.recipient(),
            index.clone().recipient(),
            10_000,
            metrics.clone(),
        )
        .start();
        let query = {
            let (store, archive) = (store.clone(), archive.clone());
            SyncArbiter::start(1, move || {
                QueryActor::new(store.clone(), archive.clone(), 0)
            })
        };
        TestEngine {
            edge: IngestEdge {
                ingest: ingest.recipient(),
                metrics: metrics.clone(),
            },
            reader: Reader {
                index,
                query,
                catalog_from_store: false,
            },
            store,
            archive,
            metrics,
        }
    }
}

/// Serves a tonic router on 127.0.0.1 on a free port, in the background; returns the address.
pub async fn serve_grpc(router: tonic::transport::server::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    tokio::spawn(router.serve_with_incoming(incoming));
    addr
}
