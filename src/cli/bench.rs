//! Arguments of `tracehound bench ingest|query|report` (see `crate::bench`).

use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Args)]
#[group(required = true, multiple = false, id = "target")]
pub struct BenchTarget {
    /// OTLP gRPC endpoint, host:port.
    #[arg(long = "otlp-grpc", value_name = "HOST:PORT")]
    pub otlp_grpc: Option<String>,
    /// OTLP HTTP endpoint, host:port (posts to /v1/traces) or a full URL.
    #[arg(long = "otlp-http", value_name = "HOST:PORT")]
    pub otlp_http: Option<String>,
}

#[derive(Debug, Args)]
pub struct BenchIngestArgs {
    #[command(flatten)]
    pub target: BenchTarget,
    /// Traces to send (10 spans each).
    #[arg(long, default_value_t = 1_000_000)]
    pub traces: u64,
    /// Workload seed (the query benchmark needs the same one).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Concurrent streams.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Spans per request.
    #[arg(long = "batch-spans", default_value_t = 500)]
    pub batch_spans: usize,
    /// Target rate in spans/s (default: as fast as the server acknowledges).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BenchQueryArgs {
    /// Jaeger query HTTP endpoint, host:port or URL (with the base path, if any).
    #[arg(long = "query-http", value_name = "HOST:PORT")]
    pub query_http: String,
    /// Traces the ingest run sent.
    #[arg(long, default_value_t = 1_000_000)]
    pub traces: u64,
    /// Seed of the ingest run.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Queries per kind.
    #[arg(long, default_value_t = 200)]
    pub repeat: usize,
    /// Search limit (the UI's default page is 20).
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BenchReportArgs {
    /// The server's data directory.
    #[arg(long = "rocksdb.path", value_name = "DIR")]
    pub rocksdb_path: PathBuf,
    /// The server's process ID (for peak RSS).
    #[arg(long)]
    pub pid: Option<u32>,
    /// The server's admin endpoint, to read the stored span count.
    #[arg(long = "admin-http", value_name = "HOST:PORT")]
    pub admin_http: Option<String>,
    /// Stored spans, when no admin endpoint is given.
    #[arg(long)]
    pub spans: Option<u64>,
    #[arg(long)]
    pub json: bool,
}
