//! `tracehound bench`: the project's own benchmark tool, run against a live server.
//!
//! `ingest` sends DESIGN.md's reference workload over OTLP, `query` runs the checked query mix
//! against the Jaeger HTTP API, `report` measures bytes on disk per span and peak RSS. Each
//! prints a table, or JSON with `--json`. Timing lives here and in `benches/`, never in tests.

pub mod ingest;
pub mod query;
pub mod report;
pub mod stats;
pub mod workload;

use std::time::Duration;

use crate::cli::BenchCommand;
use crate::model::time::now_ns;

fn print<T: serde::Serialize>(json: bool, report: &T, table: String) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        print!("{table}");
    }
    Ok(())
}

/// Runs one `tracehound bench` subcommand.
pub async fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Ingest(a) => {
            let target = match (a.target.otlp_grpc, a.target.otlp_http) {
                (Some(g), _) => ingest::Target::Grpc(g),
                (None, Some(h)) => ingest::Target::Http(h),
                (None, None) => anyhow::bail!("give --otlp-grpc or --otlp-http"),
            };
            let report = ingest::run(ingest::IngestOptions {
                target,
                workload: workload::Workload {
                    traces: a.traces,
                    seed: a.seed,
                    end_ns: now_ns(),
                },
                concurrency: a.concurrency,
                batch_spans: a.batch_spans,
                rate: a.rate,
                quiet: a.json,
            })
            .await?;
            print(a.json, &report, report.table())
        }
        BenchCommand::Query(a) => {
            let report = query::run(query::QueryOptions {
                base_url: a.query_http,
                traces: a.traces,
                seed: a.seed,
                repeat: a.repeat,
                limit: a.limit,
                quiet: a.json,
            })
            .await?;
            print(a.json, &report, report.table())?;
            if !report.failures.is_empty() {
                anyhow::bail!("{} query checks failed", report.failures.len());
            }
            Ok(())
        }
        BenchCommand::Report(a) => {
            let path = a.rocksdb_path.clone();
            let bytes = tokio::task::spawn_blocking(move || {
                report::settled_size(&path, Duration::from_secs(2), Duration::from_secs(120))
            })
            .await??;
            let spans = match (&a.admin_http, a.spans) {
                (Some(admin), _) => Some(report::stored_spans(admin).await?),
                (None, n) => n,
            };
            let (peak, now) = match a.pid {
                Some(pid) => {
                    let (p, n) = report::rss(pid)?;
                    (Some(p), Some(n))
                }
                None => (None, None),
            };
            let r = report::DiskReport {
                bytes_on_disk: bytes,
                spans,
                bytes_per_span: spans.filter(|&n| n > 0).map(|n| bytes as f64 / n as f64),
                peak_rss_bytes: peak,
                rss_bytes: now,
            };
            print(a.json, &r, r.table())
        }
    }
}
