//! [`RemoteStrategies`]: the agent's strategy source — it asks a collector's
//! `jaeger.api_v2.SamplingManager` over gRPC.
//!
//! Several collectors (`host:port,host:port`) are used round-robin, one call each; a collector
//! that is unreachable (`UNAVAILABLE`) passes the call on to the next, as gRPC's round-robin
//! balancer skips connections that aren't ready. Channels connect lazily, so an agent starts
//! before its collectors.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::{BoxFuture, FutureExt};
use tonic::transport::{Channel, Endpoint};

use crate::proto::api_v2::sampling_manager_client::SamplingManagerClient;
use crate::proto::api_v2::{SamplingStrategyParameters, SamplingStrategyResponse};
use crate::sampling::{SamplingError, StrategySource};

/// Clone-cheap; clones share the round-robin position.
#[derive(Clone)]
pub struct RemoteStrategies {
    collectors: Arc<[Collector]>,
    next: Arc<AtomicUsize>,
    timeout: Duration,
}

struct Collector {
    address: String,
    client: SamplingManagerClient<Channel>,
}

impl RemoteStrategies {
    /// Per-call deadline (connecting included).
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

    /// `host_ports`: comma-separated `host:port` list. Must be called inside a Tokio runtime
    /// (tonic spawns each channel's worker).
    pub fn new(host_ports: &str) -> Result<Self, SamplingError> {
        Self::with_timeout(host_ports, Self::DEFAULT_TIMEOUT)
    }

    pub fn with_timeout(host_ports: &str, timeout: Duration) -> Result<Self, SamplingError> {
        let collectors = host_ports
            .split(',')
            .map(str::trim)
            .filter(|hp| !hp.is_empty())
            .map(|hp| connect_lazy(hp, timeout))
            .collect::<Result<Vec<_>, _>>()?;
        if collectors.is_empty() {
            return Err(SamplingError::InvalidEndpoint {
                address: host_ports.to_string(),
                reason: "no collector host:port given".into(),
            });
        }
        Ok(RemoteStrategies {
            collectors: collectors.into(),
            next: Arc::new(AtomicUsize::new(0)),
            timeout,
        })
    }

    async fn ask(
        collectors: Arc<[Collector]>,
        first: usize,
        timeout: Duration,
        service: String,
    ) -> Result<SamplingStrategyResponse, SamplingError> {
        let n = collectors.len();
        let mut attempt = 0;
        loop {
            let collector = &collectors[(first + attempt) % n];
            let mut client = collector.client.clone();
            let request = SamplingStrategyParameters {
                service_name: service.clone(),
            };
            let result = tokio::time::timeout(timeout, client.get_sampling_strategy(request)).await;
            attempt += 1;
            match result {
                Ok(Ok(response)) => return Ok(response.into_inner()),
                Ok(Err(status)) if status.code() == tonic::Code::Unavailable && attempt < n => {
                    tracing::debug!(
                        collector = %collector.address,
                        error = %status.message(),
                        "collector unavailable; asking the next one"
                    );
                }
                Ok(Err(status)) => {
                    return Err(SamplingError::Remote {
                        endpoint: collector.address.clone(),
                        code: status.code(),
                        message: status.message().to_string(),
                    })
                }
                Err(_elapsed) => {
                    return Err(SamplingError::Timeout {
                        endpoint: collector.address.clone(),
                        timeout,
                    })
                }
            }
        }
    }
}

fn connect_lazy(host_port: &str, timeout: Duration) -> Result<Collector, SamplingError> {
    let invalid = |reason: String| SamplingError::InvalidEndpoint {
        address: host_port.to_string(),
        reason,
    };
    match host_port.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {}
        _ => return Err(invalid("expected host:port".into())),
    }
    let endpoint = Endpoint::from_shared(format!("http://{host_port}"))
        .map_err(|e| invalid(e.to_string()))?
        .connect_timeout(timeout)
        .timeout(timeout);
    Ok(Collector {
        address: host_port.to_string(),
        client: SamplingManagerClient::new(endpoint.connect_lazy()),
    })
}

impl StrategySource for RemoteStrategies {
    fn strategy(
        &self,
        service: String,
    ) -> BoxFuture<'static, Result<SamplingStrategyResponse, SamplingError>> {
        let first = self.next.fetch_add(1, Ordering::Relaxed) % self.collectors.len();
        Self::ask(self.collectors.clone(), first, self.timeout, service).boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn addresses_must_be_host_port() {
        for bad in ["", " , ", "collector", "collector:http", ":14250"] {
            let err = RemoteStrategies::new(bad).err().expect("refused");
            assert!(
                matches!(err, SamplingError::InvalidEndpoint { .. }),
                "{bad}: {err}"
            );
        }
        let ok = RemoteStrategies::new("a:14250, b:14250,[::1]:14250,").expect("valid");
        assert_eq!(ok.collectors.len(), 3);
    }

    #[tokio::test]
    async fn unreachable_collectors_yield_an_error_not_a_hang() {
        // Bind then drop a listener: a port nobody listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("bind")
            .port();
        let remote = RemoteStrategies::with_timeout(
            &format!("127.0.0.1:{port},127.0.0.1:{port}"),
            Duration::from_secs(5),
        )
        .expect("valid");
        let err = StrategySource::strategy(&remote, "svc".into())
            .await
            .expect_err("nobody answers");
        assert!(
            matches!(
                err,
                SamplingError::Remote {
                    code: tonic::Code::Unavailable,
                    ..
                } | SamplingError::Timeout { .. }
            ),
            "{err}"
        );
    }
}
