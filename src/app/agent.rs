//! The `tracehound agent` role, Jaeger's agent: the UDP `Agent.emitBatch` servers (compact on
//! 6831, binary on 6832) forward every batch to the collectors over gRPC through the
//! [`Reporter`]; `:5778` serves sampling strategies asked from those collectors; the admin port
//! (`:14271`) serves health and metrics. No store.
//!
//! Start order: listeners bound → reporter → servers. Shutdown: stop receiving datagrams, let the
//! workers forward what is queued, then stop the HTTP servers.

use std::sync::Arc;

use actix::System;

use super::listen::{BoundAddrs, Listeners};
use super::{runtime_system, start_admin_http, start_sampling_http, start_udp_servers, StopSignal};
use crate::api::http::admin::{Health, HealthState};
use crate::config::Config;
use crate::reporter::{parse_agent_tags, Reporter};
use crate::sampling::{RemoteStrategies, StrategySource};
use crate::telemetry::Metrics;

/// Everything opened before the System starts.
pub(super) struct Prepared {
    config: Config,
    tags: Vec<(String, String)>,
    listeners: Listeners,
    pub addrs: BoundAddrs,
}

pub(super) fn prepare(config: Config) -> anyhow::Result<Prepared> {
    config.validate_agent()?;
    let tags = parse_agent_tags(&config.agent.tags, |var| std::env::var(var).ok())
        .map_err(|msg| anyhow::anyhow!("invalid value for agent.tags: {msg}"))?;
    let listeners = Listeners::agent(&config)?;
    let addrs = listeners.addrs();
    Ok(Prepared {
        config,
        tags,
        listeners,
        addrs,
    })
}

/// Runs the agent in the foreground until SIGINT/SIGTERM.
pub fn run_agent(config: Config) -> anyhow::Result<()> {
    let prepared = prepare(config)?;
    prepared.addrs.print();
    serve(prepared, StopSignal::Os, None)
}

pub(super) fn serve(
    prepared: Prepared,
    stop: StopSignal,
    ready: Option<std::sync::mpsc::Sender<()>>,
) -> anyhow::Result<()> {
    runtime_system().block_on(serve_in_system(prepared, stop, ready))
}

async fn serve_in_system(
    p: Prepared,
    stop: StopSignal,
    ready: Option<std::sync::mpsc::Sender<()>>,
) -> anyhow::Result<()> {
    let Prepared {
        config,
        tags,
        listeners,
        addrs: _,
    } = p;
    let metrics = Arc::new(Metrics::new());
    let health = HealthState::default();
    let collectors = config.reporter_endpoints();
    let reporter = Reporter::new(
        &collectors,
        config.reporter.grpc.retry.max,
        tags,
        metrics.clone(),
    )
    .map_err(anyhow::Error::msg)?;
    let strategies: Arc<dyn StrategySource> =
        Arc::new(RemoteStrategies::new(&config.reporter.grpc.host_port)?);

    let udp = start_udp_servers(
        &config,
        listeners.jaeger_compact_udp,
        listeners.jaeger_binary_udp,
        Arc::new(reporter),
        &metrics,
    )?;
    let sampling_http = match listeners.sampling_http {
        Some(l) => Some(start_sampling_http(l, strategies)?),
        None => None,
    };
    let admin_http = match listeners.admin_http {
        Some(l) => Some(start_admin_http(l, &health, &metrics)?),
        None => None,
    };

    health.set(Health::Serving);
    tracing::info!(collectors = ?collectors, "tracehound agent is serving");
    if let Some(ready) = ready {
        let _ = ready.send(());
    }

    stop.wait().await;

    health.set(Health::Draining);
    for server in udp {
        server.stop().await;
    }
    for h in [sampling_http, admin_http].into_iter().flatten() {
        h.stop(true).await;
    }
    System::current().stop();
    tracing::info!("tracehound agent stopped");
    Ok(())
}
