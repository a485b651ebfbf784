//! The `tracehound` binary: parse the command line, load the configuration, run the role.

use clap::Parser;
use tracehound::app::Role;
use tracehound::cli::{Cli, Command};

// The query path builds and frees many small JSON values and the ingest path many small spans;
// glibc's allocator spent over a third of the query CPU in malloc/free (perf, reference workload).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    limit_malloc_arenas();
    let cli = Cli::parse();
    match cli.command {
        Command::AllInOne(args) => run(Role::AllInOne, args.load_config()?),
        Command::Collector(args) => run(Role::Collector, args.load_config()?),
        Command::Query(args) => run(Role::Query, args.load_config()?),
        Command::RemoteStorage(args) => run(Role::RemoteStorage, args.load_config()?),
        Command::Agent(args) => {
            let config = args.load_config()?;
            init_logging(&config.log_level.0);
            tracehound::app::run_agent(config)
        }
        Command::Bench(cmd) => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            rt.block_on(tracehound::bench::run(cmd))
        }
    }
}

/// RocksDB's C++ allocates through glibc malloc, which gives every thread that allocates its own
/// arena (up to 8 per core) and keeps freed memtable and block memory in each. Two arenas bound
/// that at the same throughput: peak RSS of a 1M-span reference ingest 818–850 → 663–744 MiB
/// while tag segments went through the memtable, 545 → 525 MiB since they are ingested as
/// files. `MALLOC_ARENA_MAX` in the environment still wins.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: called first thing in `main`, before any other thread exists; mallopt only
        // changes an allocator setting.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

fn run(role: Role, config: tracehound::config::Config) -> anyhow::Result<()> {
    init_logging(&config.log_level.0);
    tracehound::app::run(role, config)
}

fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
