//! Process metrics, exposed on the admin port at `/metrics` in Prometheus text format.
//!
//! One [`Metrics`] is created by `app.rs` and shared (`Arc`) by the actors and servers; every
//! instrument is an atomic, so recording never blocks and never allocates on the hot path
//! beyond the label lookup. Names follow `tracehound_<subsystem>_<name>_<unit>[_total]`.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Ingest protocol label.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum Protocol {
    otlp_grpc,
    otlp_http,
    zipkin_v1_json,
    zipkin_v1_thrift,
    zipkin_v2_json,
    zipkin_v2_proto,
    /// `POST /api/traces`, Thrift binary (or compact) `Batch`.
    jaeger_thrift_http,
    /// `jaeger.api_v2.CollectorService/PostSpans`.
    jaeger_grpc,
    /// UDP `Agent.emitBatch`, Thrift compact (6831).
    jaeger_udp_compact,
    /// UDP `Agent.emitBatch`, Thrift binary (6832).
    jaeger_udp_binary,
    /// Remote storage v1 `SpanWriterPlugin/WriteSpan` and `StreamingSpanWriterPlugin`.
    storage_v1_grpc,
}

/// Why a UDP datagram was dropped (UDP has no way to refuse).
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum DropReason {
    /// The server's packet queue was full.
    queue_full,
    /// Larger than the configured max packet size.
    too_large,
    /// Not a decodable `Agent.emitBatch` message.
    invalid,
    /// Decoded, but could not be stored or forwarded (after retries).
    not_delivered,
}

/// Why spans were refused.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum RefuseReason {
    /// Invalid span (bad IDs) — not retryable.
    invalid,
    /// Queue full — retryable.
    saturated,
    /// Storage failure — retryable.
    storage,
}

/// How one call to a remote storage server ended.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum RemoteOutcome {
    ok,
    /// The server does not have the trace (reads only; not an error).
    not_found,
    /// Unreachable, saturated or timed out — retried (writes) or reported as unavailable.
    unavailable,
    /// The server does not implement the method (the store then falls back to API v1).
    unimplemented,
    /// Refused as invalid — never retried.
    rejected,
    /// Any other error.
    error,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RemoteCallLabels {
    /// `v1` or `v2` (the remote-storage API).
    pub api: &'static str,
    /// The gRPC method, e.g. `Export`, `GetTraces`, `WriteSpanStream`.
    pub method: &'static str,
    pub outcome: RemoteOutcome,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RemoteMethodLabels {
    pub api: &'static str,
    pub method: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProtocolLabels {
    pub protocol: Protocol,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefusedLabels {
    pub protocol: Protocol,
    pub reason: RefuseReason,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DroppedLabels {
    pub protocol: Protocol,
    pub reason: DropReason,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabels {
    pub endpoint: &'static str,
}

pub struct Metrics {
    registry: Registry,
    pub spans_received: Family<ProtocolLabels, Counter>,
    pub spans_stored: Family<ProtocolLabels, Counter>,
    pub spans_refused: Family<RefusedLabels, Counter>,
    pub bytes_received: Family<ProtocolLabels, Counter>,
    pub packets_received: Family<ProtocolLabels, Counter>,
    pub packets_dropped: Family<DroppedLabels, Counter>,
    pub spans_forwarded: Counter,
    pub forward_failures: Counter,
    pub write_batch_seconds: Histogram,
    pub ingest_queue_spans: Gauge,
    pub query_seconds: Family<EndpointLabels, Histogram>,
    pub storage_partitions: Gauge,
    pub storage_bytes_on_disk: Gauge,
    pub storage_traces_in_memory: Gauge,
    pub retention_dropped_partitions: Counter,
    pub remote_storage_requests: Family<RemoteCallLabels, Counter>,
    pub remote_storage_request_seconds: Family<RemoteMethodLabels, Histogram>,
}

fn latency_buckets() -> impl Iterator<Item = f64> {
    // 50 µs … ~13 s
    exponential_buckets(0.000_05, 2.0, 19)
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("tracehound");
        let spans_received = Family::<ProtocolLabels, Counter>::default();
        let spans_stored = Family::<ProtocolLabels, Counter>::default();
        let spans_refused = Family::<RefusedLabels, Counter>::default();
        let bytes_received = Family::<ProtocolLabels, Counter>::default();
        let packets_received = Family::<ProtocolLabels, Counter>::default();
        let packets_dropped = Family::<DroppedLabels, Counter>::default();
        let spans_forwarded = Counter::default();
        let forward_failures = Counter::default();
        let write_batch_seconds = Histogram::new(latency_buckets());
        let ingest_queue_spans = Gauge::default();
        let query_seconds = Family::<EndpointLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(latency_buckets())
        });
        let storage_partitions = Gauge::default();
        let storage_bytes_on_disk = Gauge::default();
        let storage_traces_in_memory = Gauge::default();
        let retention_dropped_partitions = Counter::default();
        let remote_storage_requests = Family::<RemoteCallLabels, Counter>::default();
        let remote_storage_request_seconds =
            Family::<RemoteMethodLabels, Histogram>::new_with_constructor(|| {
                Histogram::new(latency_buckets())
            });
        registry.register(
            "ingest_spans_received",
            "Spans received, per protocol",
            spans_received.clone(),
        );
        registry.register(
            "ingest_spans_stored",
            "Spans durably stored, per protocol",
            spans_stored.clone(),
        );
        registry.register(
            "ingest_spans_refused",
            "Spans refused, per protocol and reason (invalid, saturated, storage)",
            spans_refused.clone(),
        );
        registry.register(
            "ingest_received_bytes",
            "Request body bytes received, per protocol",
            bytes_received.clone(),
        );
        registry.register(
            "udp_packets_received",
            "UDP datagrams received, per protocol",
            packets_received.clone(),
        );
        registry.register(
            "udp_packets_dropped",
            "UDP datagrams dropped, per protocol and reason (queue_full, too_large, invalid, \
             not_delivered)",
            packets_dropped.clone(),
        );
        registry.register(
            "agent_spans_forwarded",
            "Spans the agent delivered to a collector",
            spans_forwarded.clone(),
        );
        registry.register(
            "agent_forward_failures",
            "Failed attempts to send a batch to a collector (each is retried or dropped)",
            forward_failures.clone(),
        );
        registry.register(
            "writer_batch_seconds",
            "Latency of one durable batch write",
            write_batch_seconds.clone(),
        );
        registry.register(
            "ingest_queue_spans",
            "Spans admitted and not yet durable",
            ingest_queue_spans.clone(),
        );
        registry.register(
            "query_seconds",
            "Query latency per endpoint",
            query_seconds.clone(),
        );
        registry.register(
            "storage_partitions",
            "Live time partitions",
            storage_partitions.clone(),
        );
        registry.register(
            "storage_disk_bytes",
            "Bytes in the data directory",
            storage_bytes_on_disk.clone(),
        );
        registry.register(
            "storage_memory_traces",
            "Traces held by the memory store",
            storage_traces_in_memory.clone(),
        );
        registry.register(
            "retention_dropped_partitions",
            "Partitions dropped by retention or the disk cap",
            retention_dropped_partitions.clone(),
        );
        registry.register(
            "remote_storage_requests",
            "Calls to the remote storage server (each retry counts), per API, method and outcome",
            remote_storage_requests.clone(),
        );
        registry.register(
            "remote_storage_request_seconds",
            "Latency of one call to the remote storage server, per API and method",
            remote_storage_request_seconds.clone(),
        );
        Metrics {
            registry,
            spans_received,
            spans_stored,
            spans_refused,
            bytes_received,
            packets_received,
            packets_dropped,
            spans_forwarded,
            forward_failures,
            write_batch_seconds,
            ingest_queue_spans,
            query_seconds,
            storage_partitions,
            storage_bytes_on_disk,
            storage_traces_in_memory,
            retention_dropped_partitions,
            remote_storage_requests,
            remote_storage_request_seconds,
        }
    }

    /// Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Encoding into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    pub fn refused(&self, protocol: Protocol, reason: RefuseReason, spans: u64) {
        self.spans_refused
            .get_or_create(&RefusedLabels { protocol, reason })
            .inc_by(spans);
    }

    pub fn dropped(&self, protocol: Protocol, reason: DropReason) {
        self.packets_dropped
            .get_or_create(&DroppedLabels { protocol, reason })
            .inc();
    }

    /// One finished call to the remote storage server.
    pub fn remote_call(
        &self,
        api: &'static str,
        method: &'static str,
        outcome: RemoteOutcome,
        seconds: f64,
    ) {
        self.remote_storage_requests
            .get_or_create(&RemoteCallLabels {
                api,
                method,
                outcome,
            })
            .inc();
        self.remote_storage_request_seconds
            .get_or_create(&RemoteMethodLabels { api, method })
            .observe(seconds);
    }

    pub fn update_store_stats(&self, s: &crate::storage::StoreStats) {
        self.storage_partitions.set(s.partitions as i64);
        self.storage_bytes_on_disk.set(s.bytes_on_disk as i64);
        self.storage_traces_in_memory.set(s.traces_in_memory as i64);
    }
}
