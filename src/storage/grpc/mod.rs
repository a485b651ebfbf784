//! `GrpcStore`: the [`TraceStore`] of a remote-storage server — another tracehound
//! (`api::grpc::storage_v2`) or anything speaking Jaeger's remote storage API.
//!
//! Speaks v2 first: writes are OTLP `TraceService/Export` (one request per batch; `write`
//! returns once the server acknowledged it, which for tracehound means durable), reads are
//! `jaeger.storage.v2.TraceReader`. When the server answers UNIMPLEMENTED to v2, the store falls
//! back to v1 (`StreamingSpanWriterPlugin`/`SpanWriterPlugin`, `SpanReaderPlugin`), remembers it
//! and logs which API it uses. The server owns the catalog and retention: `catalog_is_remote()`
//! is true, `catalog()` is empty and the retention methods do nothing.
//!
//! The API is blocking like every store: it owns a small tokio runtime and blocks the calling
//! (actor) thread on it. It must not be called on an async executor thread; if it is anyway,
//! the call runs on the store's own runtime and the calling thread waits (never a panic).

mod call;
mod channel;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_tls;
#[cfg(test)]
mod tests_v1;
mod v1;
mod v2;

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;
use tonic::transport::Channel;

use self::call::CallError;
use super::{CatalogEntry, RetentionReport, StorageError, StoreStats, TraceStore};
use crate::model::{Operation, Span, SpanBatch, SpanKind, Trace, TraceId, TraceQuery};
use crate::telemetry::Metrics;

/// Where the remote storage server is and how to reach it.
#[derive(Debug, Clone)]
pub struct GrpcStoreOptions {
    /// `host:port` of the server.
    pub server: String,
    /// TLS; `None` is plaintext HTTP/2.
    pub tls: Option<GrpcTlsOptions>,
    /// Limit for establishing a connection (TCP and TLS handshake).
    pub connection_timeout: Duration,
    /// Total time a write may spend retrying transient failures before it fails as
    /// unavailable. Reads retry within the same budget.
    pub write_timeout: Duration,
}

#[derive(Debug, Clone, Default)]
pub struct GrpcTlsOptions {
    /// CA bundle (PEM) that signs the server's certificate; the system roots when `None`.
    pub ca: Option<PathBuf>,
    /// Client certificate (PEM), with `key`, for servers that require mutual TLS.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// Name to verify the server's certificate against (and to send as SNI); the host of
    /// `server` when `None`.
    pub server_name: Option<String>,
    /// Accept any server certificate: encrypted but not authenticated. For tests only.
    pub skip_host_verify: bool,
}

/// Which remote-storage API the server speaks, once known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Api {
    Unknown = 0,
    V1 = 1,
    V2 = 2,
}

/// What the async calls share; cheap to hand to a future.
struct Remote {
    channel: Channel,
    metrics: Arc<Metrics>,
    server: String,
    write_timeout: Duration,
    api: AtomicU8,
    /// v1 only: 0 unknown, 1 the server has the streaming writer, 2 it does not.
    v1_streaming: AtomicU8,
}

impl Remote {
    fn api(&self) -> Api {
        match self.api.load(Ordering::Relaxed) {
            1 => Api::V1,
            2 => Api::V2,
            _ => Api::Unknown,
        }
    }

    /// Remembers the API the server speaks; logs it the first time.
    fn detected(&self, api: Api) {
        if self.api.swap(api as u8, Ordering::Relaxed) != api as u8 {
            match api {
                Api::V2 => tracing::info!(server = %self.server, "remote storage speaks API v2"),
                Api::V1 => tracing::info!(
                    server = %self.server,
                    "remote storage does not implement API v2, using API v1"
                ),
                Api::Unknown => {}
            }
        }
    }

    /// Retries end here: writes fail as unavailable once this budget is spent.
    fn retry_deadline(&self) -> Instant {
        Instant::now() + self.write_timeout
    }
}

pub struct GrpcStore {
    /// `None` only while dropping.
    runtime: Option<Runtime>,
    remote: Arc<Remote>,
}

impl GrpcStore {
    /// Prepares a store for `opts.server`. The connection is made lazily (a server that is
    /// down now is not an error); bad options and unreadable or invalid TLS files are.
    pub fn connect(
        opts: GrpcStoreOptions,
        metrics: Arc<Metrics>,
    ) -> Result<GrpcStore, StorageError> {
        let endpoint = channel::endpoint(&opts)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("remote-storage")
            .enable_all()
            .build()
            .map_err(|source| StorageError::Io {
                path: "remote storage client runtime".into(),
                source,
            })?;
        // The channel's connection task runs on the store's runtime.
        let channel = {
            let _entered = runtime.enter();
            endpoint.connect_lazy()
        };
        Ok(GrpcStore {
            runtime: Some(runtime),
            remote: Arc::new(Remote {
                channel,
                metrics,
                server: opts.server,
                write_timeout: opts.write_timeout,
                api: AtomicU8::new(Api::Unknown as u8),
                v1_streaming: AtomicU8::new(0),
            }),
        })
    }

    /// Runs one async call to completion on the store's runtime.
    fn run<T, F>(&self, make: impl FnOnce(Arc<Remote>) -> F) -> Result<T, CallError>
    where
        F: Future<Output = Result<T, CallError>> + Send + 'static,
        T: Send + 'static,
    {
        let Some(runtime) = &self.runtime else {
            return Err(StorageError::Unavailable("remote storage store is closed".into()).into());
        };
        let fut = make(self.remote.clone());
        if tokio::runtime::Handle::try_current().is_err() {
            return runtime.block_on(fut);
        }
        // Called on an async thread (not the intended use): blocking in place would panic, so
        // the call runs on the store's runtime while this thread waits for its answer.
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        runtime.spawn(async move {
            let _ = tx.send(fut.await);
        });
        rx.recv().unwrap_or_else(|_| {
            Err(StorageError::Unavailable("remote storage call was cancelled".into()).into())
        })
    }

    /// v2 first; v1 when the server is known to speak only v1, or answers v2 with
    /// UNIMPLEMENTED before anything else was learnt.
    fn dispatch<T>(
        &self,
        method: &str,
        v2: impl FnOnce() -> Result<T, CallError>,
        v1: impl FnOnce() -> Result<T, CallError>,
    ) -> Result<T, StorageError> {
        let remote = &self.remote;
        if remote.api() == Api::V1 {
            return v1().map_err(|e| e.into_storage(method));
        }
        match v2() {
            Ok(v) => {
                remote.detected(Api::V2);
                Ok(v)
            }
            Err(CallError::Unimplemented(_)) if remote.api() == Api::Unknown => {
                remote.detected(Api::V1);
                v1().map_err(|e| e.into_storage(method))
            }
            Err(e) => Err(e.into_storage(method)),
        }
    }
}

impl Drop for GrpcStore {
    fn drop(&mut self) {
        // Dropping a runtime blocks until its tasks end, which panics on an async thread;
        // shutting it down in the background never blocks.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl TraceStore for GrpcStore {
    fn write(&self, batch: &SpanBatch) -> Result<(), StorageError> {
        if batch.is_empty() {
            return Ok(());
        }
        let deadline = self.remote.retry_deadline();
        self.dispatch(
            "write",
            || {
                let body = v2::export_body(&batch.spans);
                self.run(move |r| async move { v2::write(&r, body, deadline).await })
            },
            || {
                let bodies = v1::write_bodies(&batch.spans)?;
                self.run(move |r| async move { v1::write(&r, bodies, deadline).await })
            },
        )
    }

    fn get_trace(&self, id: TraceId) -> Result<Vec<Span>, StorageError> {
        let deadline = self.remote.retry_deadline();
        self.dispatch(
            "get_trace",
            || self.run(move |r| async move { v2::get_trace(&r, id, deadline).await }),
            || self.run(move |r| async move { v1::get_trace(&r, id, deadline).await }),
        )
    }

    fn find_trace_ids(&self, query: &TraceQuery) -> Result<Vec<TraceId>, StorageError> {
        let deadline = self.remote.retry_deadline();
        self.dispatch(
            "find_trace_ids",
            || {
                let q = v2::query(query);
                self.run(move |r| async move { v2::find_trace_ids(&r, q, deadline).await })
            },
            || {
                let q = v1::query(query);
                self.run(move |r| async move { v1::find_trace_ids(&r, q, deadline).await })
            },
        )
    }

    fn find_traces(&self, query: &TraceQuery) -> Result<Vec<Trace>, StorageError> {
        let deadline = self.remote.retry_deadline();
        self.dispatch(
            "find_traces",
            || {
                let q = v2::query(query);
                self.run(move |r| async move { v2::find_traces(&r, q, deadline).await })
            },
            || {
                let q = v1::query(query);
                self.run(move |r| async move { v1::find_traces(&r, q, deadline).await })
            },
        )
    }

    /// Empty: the server owns the catalog ([`TraceStore::catalog_is_remote`]).
    fn catalog(&self) -> Result<Vec<CatalogEntry>, StorageError> {
        Ok(Vec::new())
    }

    fn catalog_is_remote(&self) -> bool {
        true
    }

    fn services(&self) -> Result<Vec<String>, StorageError> {
        let deadline = self.remote.retry_deadline();
        let mut names = self.dispatch(
            "services",
            || self.run(move |r| async move { v2::services(&r, deadline).await }),
            || self.run(move |r| async move { v1::services(&r, deadline).await }),
        )?;
        names.sort();
        names.dedup();
        Ok(names)
    }

    fn operations(
        &self,
        service: &str,
        kind: Option<SpanKind>,
    ) -> Result<Vec<Operation>, StorageError> {
        let deadline = self.remote.retry_deadline();
        // "" asks for every kind, so an unspecified kind is filtered here.
        let wire_kind = kind.map(|k| k.as_jaeger_str()).unwrap_or("");
        let (svc, svc1) = (service.to_string(), service.to_string());
        let mut ops = self.dispatch(
            "operations",
            || self.run(move |r| async move { v2::operations(&r, svc, wire_kind, deadline).await }),
            || {
                self.run(
                    move |r| async move { v1::operations(&r, svc1, wire_kind, deadline).await },
                )
            },
        )?;
        ops.retain(|o| kind.is_none_or(|k| o.span_kind == k));
        ops.sort();
        ops.dedup();
        Ok(ops)
    }

    /// Nothing to do: the server runs its own retention.
    fn drop_expired(&self, _cutoff_ns: u64) -> Result<RetentionReport, StorageError> {
        Ok(RetentionReport::default())
    }

    /// Nothing to do: the server runs its own retention.
    fn enforce_disk_cap(&self, _max_bytes: u64) -> Result<RetentionReport, StorageError> {
        Ok(RetentionReport::default())
    }

    fn stats(&self) -> StoreStats {
        StoreStats::default()
    }

    /// Every acknowledged write is already the server's.
    fn flush(&self) -> Result<(), StorageError> {
        Ok(())
    }
}

/// Converts a reply's spans, logging (once per reply) spans the converter rejected.
fn spans_of(decoded: crate::ingest::Decoded, method: &str) -> Vec<Span> {
    if decoded.rejected_spans > 0 {
        tracing::warn!(
            method,
            rejected = decoded.rejected_spans,
            errors = %decoded.rejection_summary(),
            "remote storage returned invalid spans; they were skipped"
        );
    }
    decoded.batch.spans
}
