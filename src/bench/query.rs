//! `tracehound bench query`: the query mix against the Jaeger HTTP API, every answer checked.
//!
//! Kinds: trace by ID (no time range), search by service, by operation, by duration range, by
//! time range, by one attribute, by all filters. Parameters come from traces regenerated from
//! the same seed; the workload's time anchor is read back from the server (trace 0 through
//! `/api/v3`, which has nanosecond timestamps), so the query run needs only the seed and the
//! trace count of the ingest run.

use std::collections::HashSet;
use std::time::Instant;

use anyhow::{bail, Context as _};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;
use serde_json::Value as Json;

use super::stats::{progress_bar, Latencies, Summary};
use super::workload::{self, GenSpan, GenTrace, Workload, WINDOW_NS};

pub const KINDS: [&str; 7] = [
    "trace_by_id",
    "by_service",
    "by_operation",
    "by_duration",
    "by_time_range",
    "by_attribute",
    "all_filters",
];

#[derive(Debug, Clone)]
pub struct QueryOptions {
    pub base_url: String,
    pub traces: u64,
    pub seed: u64,
    pub repeat: usize,
    pub limit: usize,
    pub quiet: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct KindReport {
    pub kind: &'static str,
    pub latency_ms: Summary,
    pub results_mean: f64,
    pub failures: u64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct QueryReport {
    pub kinds: Vec<KindReport>,
    pub failures: Vec<String>,
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    async fn get(&self, path: &str) -> anyhow::Result<(u16, Json)> {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .with_context(|| format!("GET {path}"))?;
        let status = resp.status().as_u16();
        let text = resp.text().await?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Json::Null)))
    }
}

/// Finds `end_ns` of the ingest run: trace 0's real root start minus its offset in the window.
async fn discover_workload(c: &Client, traces: u64, seed: u64) -> anyhow::Result<Workload> {
    let probe = Workload {
        traces,
        seed,
        end_ns: WINDOW_NS,
    };
    let t0 = probe.trace(0);
    let (status, body) = c
        .get(&format!(
            "/api/v3/traces/{}?rawTraces=true",
            hex(&t0.trace_id)
        ))
        .await?;
    if status != 200 {
        bail!("trace 0 of seed {seed} / {traces} traces is not on the server (HTTP {status}); run `bench ingest` with the same --seed and --traces first");
    }
    let root = hex(&t0.spans[0].span_id);
    let mut start = None;
    for rs in body["result"]["resourceSpans"]
        .as_array()
        .into_iter()
        .flatten()
    {
        for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
            for s in ss["spans"].as_array().into_iter().flatten() {
                if s["spanId"] == root.as_str() {
                    start = s["startTimeUnixNano"]
                        .as_str()
                        .and_then(|v| v.parse::<u64>().ok());
                }
            }
        }
    }
    let start = start.context("root span of trace 0 not found in the server's answer")?;
    Ok(Workload {
        traces,
        seed,
        end_ns: WINDOW_NS + start - t0.spans[0].start_ns,
    })
}

/// One search: the URL, and what every returned trace must contain.
struct Search {
    service: u8,
    operation: Option<u8>,
    attribute: Option<(u8, u16)>,
    duration: Option<(u64, u64)>,
    window: (u64, u64),
    /// A trace known to match; must be returned when fewer than `limit` traces come back.
    known: Option<[u8; 16]>,
}

impl Search {
    fn url(&self, limit: usize) -> String {
        let mut u = format!(
            "/api/traces?service={}&start={}&end={}&limit={limit}",
            workload::service_name(self.service),
            self.window.0 / 1000,
            self.window.1 / 1000
        );
        if let Some(op) = self.operation {
            u += &format!("&operation={}", workload::operation_name(self.service, op));
        }
        if let Some((k, v)) = self.attribute {
            u += &format!(
                "&tag={}:{}",
                workload::attribute_key(k),
                workload::attribute_value(v)
            );
        }
        if let Some((min, max)) = self.duration {
            u += &format!("&minDuration={min}ns&maxDuration={max}ns");
        }
        u
    }

    /// Does one span of this UI-JSON trace satisfy every condition? (µs precision on times.)
    fn matches(&self, trace: &Json) -> bool {
        let svc = workload::service_name(self.service);
        let procs = &trace["processes"];
        trace["spans"].as_array().into_iter().flatten().any(|s| {
            let pid = s["processID"].as_str().unwrap_or("");
            let start_us = s["startTime"].as_u64().unwrap_or(0);
            let dur_us = s["duration"].as_u64().unwrap_or(0);
            procs[pid]["serviceName"] == svc.as_str()
                && self.operation.is_none_or(|op| {
                    s["operationName"] == workload::operation_name(self.service, op).as_str()
                })
                && start_us >= self.window.0 / 1000
                && start_us <= self.window.1.div_ceil(1000)
                && self
                    .duration
                    .is_none_or(|(min, max)| dur_us * 1000 + 999 >= min && dur_us * 1000 <= max)
                && self.attribute.is_none_or(|(k, v)| {
                    s["tags"].as_array().into_iter().flatten().any(|t| {
                        t["key"] == workload::attribute_key(k).as_str()
                            && t["value"] == workload::attribute_value(v).as_str()
                    })
                })
        })
    }
}

fn random_span(rng: &mut Pcg64, w: &Workload) -> (GenTrace, usize) {
    let t = w.trace(rng.random_range(0..w.traces));
    let i = rng.random_range(0..t.spans.len());
    (t, i)
}

fn window_around(rng: &mut Pcg64, w: &Workload, s: &GenSpan, width: u64) -> (u64, u64) {
    let before = rng.random_range(0..width);
    let lo = s.start_ns.saturating_sub(before).max(w.start_ns());
    (lo, lo + width)
}

const HOUR: u64 = 3_600_000_000_000;

fn make_search(kind: &str, rng: &mut Pcg64, w: &Workload) -> Search {
    let (t, i) = random_span(rng, w);
    let s = &t.spans[i];
    let base = Search {
        service: s.service,
        operation: None,
        attribute: None,
        duration: None,
        window: window_around(rng, w, s, HOUR),
        known: Some(t.trace_id),
    };
    let dur = s.end_ns - s.start_ns;
    match kind {
        "by_service" => base,
        "by_operation" => Search {
            operation: Some(s.operation),
            ..base
        },
        "by_duration" => Search {
            duration: Some((dur / 2, dur * 2)),
            ..base
        },
        "by_time_range" => Search {
            window: window_around(rng, w, s, HOUR / 6),
            ..base
        },
        "by_attribute" => Search {
            attribute: Some(s.attributes[rng.random_range(0..s.attributes.len())]),
            window: (w.start_ns(), w.end_ns),
            ..base
        },
        _ => Search {
            operation: Some(s.operation),
            attribute: Some(s.attributes[rng.random_range(0..s.attributes.len())]),
            duration: Some((dur / 2, dur * 2)),
            window: window_around(rng, w, s, 24 * HOUR),
            ..base
        },
    }
}

pub async fn run(opts: QueryOptions) -> anyhow::Result<QueryReport> {
    let base = if opts.base_url.contains("://") {
        opts.base_url.clone()
    } else {
        format!("http://{}", opts.base_url)
    };
    let c = Client {
        http: reqwest::Client::new(),
        base: base.trim_end_matches('/').to_string(),
    };
    let w = discover_workload(&c, opts.traces, opts.seed).await?;
    let mut rng = Pcg64::seed_from_u64(opts.seed.wrapping_add(0x51));
    let bar = progress_bar(opts.quiet, (KINDS.len() * opts.repeat) as u64, "querying");
    let mut kinds = Vec::new();
    let mut failures = Vec::new();
    for kind in KINDS {
        let mut lat = Latencies::default();
        let (mut results, mut failed) = (0u64, 0u64);
        for _ in 0..opts.repeat {
            let problem = if kind == "trace_by_id" {
                let t = w.trace(rng.random_range(0..w.traces));
                let started = Instant::now();
                let (status, body) = c.get(&format!("/api/traces/{}", hex(&t.trace_id))).await?;
                lat.record(started.elapsed());
                results += 1;
                let got: HashSet<String> = body["data"][0]["spans"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|s| s["spanID"].as_str().map(str::to_string))
                    .collect();
                let want: HashSet<String> = t.spans.iter().map(|s| hex(&s.span_id)).collect();
                (status != 200 || got != want).then(|| {
                    format!(
                        "trace {} came back with {} of 10 spans (HTTP {status})",
                        hex(&t.trace_id),
                        got.len()
                    )
                })
            } else {
                let search = make_search(kind, &mut rng, &w);
                let url = search.url(opts.limit);
                let started = Instant::now();
                let (status, body) = c.get(&url).await?;
                lat.record(started.elapsed());
                let traces = body["data"].as_array().cloned().unwrap_or_default();
                results += traces.len() as u64;
                if status != 200 {
                    Some(format!("{url}: HTTP {status}"))
                } else if let Some(bad) = traces.iter().find(|t| !search.matches(t)) {
                    Some(format!(
                        "{url}: returned non-matching trace {}",
                        bad["traceID"]
                    ))
                } else if traces.len() < opts.limit
                    && search.known.is_some_and(|id| {
                        let want = hex(&id);
                        !traces
                            .iter()
                            .any(|t| t["traceID"].as_str() == Some(want.as_str()))
                    })
                {
                    Some(format!("{url}: a known matching trace is missing"))
                } else {
                    None
                }
            };
            if let Some(p) = problem {
                failed += 1;
                if failures.len() < 20 {
                    failures.push(format!("{kind}: {p}"));
                }
            }
            bar.inc(1);
        }
        kinds.push(KindReport {
            kind,
            latency_ms: lat.summary(),
            results_mean: results as f64 / opts.repeat.max(1) as f64,
            failures: failed,
        });
    }
    bar.finish_and_clear();
    Ok(QueryReport { kinds, failures })
}

impl QueryReport {
    pub fn table(&self) -> String {
        let mut out = format!(
            "{:<15} {:>8} {:>10} {:>10} {:>10} {:>9} {:>9}\n",
            "query", "count", "p50 ms", "p99 ms", "max ms", "results", "failures"
        );
        for k in &self.kinds {
            out += &format!(
                "{:<15} {:>8} {:>10.2} {:>10.2} {:>10.2} {:>9.1} {:>9}\n",
                k.kind,
                k.latency_ms.count,
                k.latency_ms.p50,
                k.latency_ms.p99,
                k.latency_ms.max,
                k.results_mean,
                k.failures
            );
        }
        for f in &self.failures {
            out += &format!("FAILED {f}\n");
        }
        out
    }
}
