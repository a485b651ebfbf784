//! `tracehound bench ingest`: sends the reference workload over OTLP and measures sustained
//! durable-ingest throughput and request latency.
//!
//! Every request is generated and protobuf-encoded before the clock starts, so the timed phase
//! only moves bytes. Requests go out over C concurrent streams (one connection each); refused
//! requests (RESOURCE_EXHAUSTED / UNAVAILABLE, HTTP 429/503) are retried with backoff until
//! stored, so every span ends up acknowledged.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{status, ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;

use super::stats::{progress_bar, Latencies};
use super::workload::{self, GenTrace, Workload};
use crate::api::grpc::otlp::EXPORT_PATH;
use crate::api::grpc::raw_codec::ExportClientCodec;

#[derive(Debug, Clone)]
pub enum Target {
    Grpc(String),
    Http(String),
}

#[derive(Debug, Clone)]
pub struct IngestOptions {
    pub target: Target,
    pub workload: Workload,
    pub concurrency: usize,
    pub batch_spans: usize,
    /// Spans per second; None = as fast as the server takes them.
    pub rate: Option<f64>,
    pub quiet: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct IngestReport {
    pub spans_sent: u64,
    pub spans_acknowledged: u64,
    pub requests: u64,
    pub refusals: u64,
    pub elapsed_secs: f64,
    pub spans_per_sec: f64,
    pub latency_ms: super::stats::Summary,
    pub encoded_bytes: u64,
}

fn str_kv(key: String, value: String) -> KeyValue {
    KeyValue {
        key,
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value)),
        }),
        ..Default::default()
    }
}

/// One OTLP request holding `traces`, spans grouped by service (one ResourceSpans each).
pub fn encode_request(traces: &[GenTrace]) -> ExportTraceServiceRequest {
    let mut by_service: Vec<Vec<Span>> = vec![Vec::new(); workload::SERVICES];
    for t in traces {
        for s in &t.spans {
            let status = match s.status {
                0 => None,
                code => Some(Status {
                    code: if code == workload::STATUS_ERROR {
                        status::StatusCode::Error as i32
                    } else {
                        status::StatusCode::Ok as i32
                    },
                    message: String::new(),
                }),
            };
            by_service[s.service as usize].push(Span {
                trace_id: t.trace_id.to_vec(),
                span_id: s.span_id.to_vec(),
                parent_span_id: s
                    .parent
                    .map(|p| t.spans[p].span_id.to_vec())
                    .unwrap_or_default(),
                name: workload::operation_name(s.service, s.operation),
                kind: s.kind as i32,
                start_time_unix_nano: s.start_ns,
                end_time_unix_nano: s.end_ns,
                attributes: s
                    .attributes
                    .iter()
                    .map(|&(k, v)| str_kv(workload::attribute_key(k), workload::attribute_value(v)))
                    .collect(),
                status,
                ..Default::default()
            });
        }
    }
    ExportTraceServiceRequest {
        resource_spans: by_service
            .into_iter()
            .enumerate()
            .filter(|(_, spans)| !spans.is_empty())
            .map(|(svc, spans)| ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![str_kv(
                        "service.name".into(),
                        workload::service_name(svc as u8),
                    )],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect(),
    }
}

struct Prepared {
    /// (body, spans in it, spans in all requests before it)
    requests: Vec<(Bytes, u64, u64)>,
    spans: u64,
    bytes: u64,
}

fn prepare(opts: &IngestOptions) -> Prepared {
    let w = &opts.workload;
    let traces_per_request = (opts.batch_spans / workload::SPANS_PER_TRACE).max(1) as u64;
    let bar = progress_bar(opts.quiet, w.traces, "generating");
    let mut requests = Vec::with_capacity((w.traces / traces_per_request + 1) as usize);
    let (mut spans, mut bytes) = (0u64, 0u64);
    let mut i = 0;
    while i < w.traces {
        let end = (i + traces_per_request).min(w.traces);
        let traces: Vec<GenTrace> = (i..end).map(|t| w.trace(t)).collect();
        let n = (traces.len() * workload::SPANS_PER_TRACE) as u64;
        let body = Bytes::from(encode_request(&traces).encode_to_vec());
        bytes += body.len() as u64;
        requests.push((body, n, spans));
        spans += n;
        bar.inc(end - i);
        i = end;
    }
    bar.finish_and_clear();
    Prepared {
        requests,
        spans,
        bytes,
    }
}

/// Sends one pre-encoded request; Ok(false) means "refused, retry".
enum Sender {
    Grpc(tonic::client::Grpc<tonic::transport::Channel>),
    Http(reqwest::Client, String),
}

impl Sender {
    async fn send(&mut self, body: Bytes) -> anyhow::Result<bool> {
        match self {
            Sender::Grpc(client) => {
                client.ready().await.context("gRPC connection")?;
                let path = http::uri::PathAndQuery::from_static(EXPORT_PATH);
                match client
                    .unary(
                        tonic::Request::new(body),
                        path,
                        ExportClientCodec::default(),
                    )
                    .await
                {
                    Ok(resp) => {
                        let resp: ExportTraceServiceResponse = resp.into_inner();
                        if let Some(p) = resp.partial_success.filter(|p| p.rejected_spans > 0) {
                            anyhow::bail!(
                                "server rejected {} spans: {}",
                                p.rejected_spans,
                                p.error_message
                            );
                        }
                        Ok(true)
                    }
                    Err(s)
                        if matches!(
                            s.code(),
                            tonic::Code::ResourceExhausted | tonic::Code::Unavailable
                        ) =>
                    {
                        Ok(false)
                    }
                    Err(s) => Err(anyhow::anyhow!("export failed: {s}")),
                }
            }
            Sender::Http(client, url) => {
                let resp = client
                    .post(url.as_str())
                    .header("content-type", "application/x-protobuf")
                    .body(body)
                    .send()
                    .await
                    .context("HTTP request")?;
                match resp.status().as_u16() {
                    200 => Ok(true),
                    429 | 502 | 503 | 504 => Ok(false),
                    code => anyhow::bail!(
                        "export failed with HTTP {code}: {}",
                        resp.text().await.unwrap_or_default()
                    ),
                }
            }
        }
    }
}

async fn connect(target: &Target) -> anyhow::Result<Sender> {
    Ok(match target {
        Target::Grpc(addr) => {
            let uri = if addr.contains("://") {
                addr.clone()
            } else {
                format!("http://{addr}")
            };
            let channel = tonic::transport::Endpoint::from_shared(uri)?
                .connect()
                .await
                .with_context(|| format!("cannot connect to OTLP gRPC at {addr}"))?;
            Sender::Grpc(tonic::client::Grpc::new(channel).max_decoding_message_size(64 << 20))
        }
        Target::Http(addr) => {
            let url = if addr.contains("://") {
                addr.clone()
            } else {
                format!("http://{addr}/v1/traces")
            };
            Sender::Http(reqwest::Client::new(), url)
        }
    })
}

pub async fn run(opts: IngestOptions) -> anyhow::Result<IngestReport> {
    let prepared = Arc::new(prepare(&opts));
    let next = Arc::new(AtomicUsize::new(0));
    let acked = Arc::new(AtomicU64::new(0));
    let refusals = Arc::new(AtomicU64::new(0));
    let bar = progress_bar(opts.quiet, prepared.spans, "sending");
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..opts.concurrency.max(1) {
        let mut sender = connect(&opts.target).await?;
        let (prepared, next, acked, refusals, bar) = (
            prepared.clone(),
            next.clone(),
            acked.clone(),
            refusals.clone(),
            bar.clone(),
        );
        let rate = opts.rate;
        tasks.push(tokio::spawn(async move {
            let mut lat = Latencies::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((body, n, before)) = prepared.requests.get(i) else {
                    break;
                };
                if let Some(rate) = rate {
                    // Pace by spans: a request may start once the spans before it are due.
                    let due = started + Duration::from_secs_f64(*before as f64 / rate);
                    tokio::time::sleep_until(due.into()).await;
                }
                let mut backoff = Duration::from_millis(5);
                loop {
                    let t = Instant::now();
                    if sender.send(body.clone()).await? {
                        lat.record(t.elapsed());
                        break;
                    }
                    refusals.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_millis(500));
                }
                acked.fetch_add(*n, Ordering::Relaxed);
                bar.inc(*n);
            }
            anyhow::Ok(lat)
        }));
    }
    let mut all = Latencies::default();
    for t in tasks {
        all.merge(t.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let acked = acked.load(Ordering::Relaxed);
    Ok(IngestReport {
        spans_sent: prepared.spans,
        spans_acknowledged: acked,
        requests: prepared.requests.len() as u64,
        refusals: refusals.load(Ordering::Relaxed),
        elapsed_secs: elapsed,
        spans_per_sec: acked as f64 / elapsed.max(1e-9),
        latency_ms: all.summary(),
        encoded_bytes: prepared.bytes,
    })
}

impl IngestReport {
    pub fn table(&self) -> String {
        let l = &self.latency_ms;
        format!(
            "ingest\n  spans sent          {}\n  spans acknowledged  {}\n  requests            {}\n  refusals (retried)  {}\n  elapsed             {:.2} s\n  sustained           {:.0} spans/s\n  request latency     p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms\n  encoded             {:.1} B/span\n",
            self.spans_sent,
            self.spans_acknowledged,
            self.requests,
            self.refusals,
            self.elapsed_secs,
            self.spans_per_sec,
            l.p50,
            l.p99,
            l.max,
            self.encoded_bytes as f64 / self.spans_sent.max(1) as f64
        )
    }
}
