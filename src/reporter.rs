//! The agent's reporter: forwards the batches its UDP servers decode to collectors over gRPC
//! (`jaeger.api_v2.CollectorService/PostSpans`), as Jaeger's agent does.
//!
//! Collectors from `--reporter.grpc.host-port` are used round-robin, one lazily connected
//! channel each; a failed send is retried on the next collector with exponential backoff up to
//! `--reporter.grpc.retry.max` times. The bound on what waits is the UDP servers' packet queue:
//! while the workers are busy retrying it fills, and new datagrams are dropped and counted.
//! `--agent.tags` are added to every process before forwarding.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use tonic::transport::{Channel, Endpoint};

use crate::api::udp::BatchSink;
use crate::proto::api_v2;
use crate::proto::api_v2::collector_service_client::CollectorServiceClient;
use crate::telemetry::{Metrics, Protocol};

/// Time allowed for one PostSpans call (connection included).
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Cheap to clone; clones share the round-robin position.
#[derive(Clone)]
pub struct Reporter {
    inner: Arc<Inner>,
}

struct Inner {
    collectors: Vec<(String, CollectorServiceClient<Channel>)>,
    next: AtomicUsize,
    retry_max: u32,
    tags: Vec<api_v2::KeyValue>,
    metrics: Arc<Metrics>,
}

impl Reporter {
    /// `endpoints` are `host:port` (plain-text gRPC); connections are made on first use.
    pub fn new(
        endpoints: &[String],
        retry_max: u32,
        tags: Vec<(String, String)>,
        metrics: Arc<Metrics>,
    ) -> Result<Reporter, String> {
        if endpoints.is_empty() {
            return Err("no collector to report to".into());
        }
        let collectors = endpoints
            .iter()
            .map(|e| {
                let channel = Endpoint::from_shared(format!("http://{e}"))
                    .map_err(|err| format!("invalid collector address {e:?}: {err}"))?
                    .connect_timeout(CALL_TIMEOUT)
                    .timeout(CALL_TIMEOUT)
                    .connect_lazy();
                Ok((e.clone(), CollectorServiceClient::new(channel)))
            })
            .collect::<Result<Vec<_>, String>>()?;
        let tags = tags
            .into_iter()
            .map(|(key, value)| api_v2::KeyValue {
                key,
                v_type: api_v2::ValueType::String as i32,
                v_str: value,
                ..Default::default()
            })
            .collect();
        Ok(Reporter {
            inner: Arc::new(Inner {
                collectors,
                next: AtomicUsize::new(0),
                retry_max,
                tags,
                metrics,
            }),
        })
    }

    /// Sends one batch, retrying on the next collectors; Err once every attempt failed.
    pub async fn forward(&self, mut batch: api_v2::Batch) -> Result<(), String> {
        let inner = &self.inner;
        add_tags(&mut batch, &inner.tags);
        let spans = batch.spans.len() as u64;
        let request = api_v2::PostSpansRequest { batch: Some(batch) };
        let mut backoff = FIRST_BACKOFF;
        let mut last_error = String::new();
        for attempt in 0..=inner.retry_max {
            if attempt > 0 {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            let i = inner.next.fetch_add(1, Ordering::Relaxed) % inner.collectors.len();
            let (name, client) = &inner.collectors[i];
            match client.clone().post_spans(request.clone()).await {
                Ok(_) => {
                    inner.metrics.spans_forwarded.inc_by(spans);
                    return Ok(());
                }
                // The collector stored the valid spans and refused the others: retrying would
                // not change its mind.
                Err(status) if status.code() == tonic::Code::InvalidArgument => {
                    tracing::warn!(collector = %name, error = %status.message(), "collector rejected spans");
                    return Ok(());
                }
                Err(status) => {
                    inner.metrics.forward_failures.inc();
                    last_error = format!("{name}: {} {}", status.code(), status.message());
                }
            }
        }
        Err(format!(
            "batch of {spans} spans not delivered after {} attempts; last error from {last_error}",
            inner.retry_max + 1
        ))
    }
}

impl BatchSink for Reporter {
    fn deliver(
        &self,
        batch: api_v2::Batch,
        _protocol: Protocol,
    ) -> BoxFuture<'static, Result<(), String>> {
        let reporter = self.clone();
        Box::pin(async move { reporter.forward(batch).await })
    }
}

/// Appends the agent's tags to the batch's process and to every span's own process.
fn add_tags(batch: &mut api_v2::Batch, tags: &[api_v2::KeyValue]) {
    if tags.is_empty() {
        return;
    }
    let processes = batch
        .process
        .iter_mut()
        .chain(batch.spans.iter_mut().filter_map(|s| s.process.as_mut()));
    for p in processes {
        p.tags.extend_from_slice(tags);
    }
}

/// Parses `--agent.tags`: `key=value,key2=${ENV_VAR:default}`. A value written `${VAR}` or
/// `${VAR:default}` is read from the environment, falling back to the default (or "").
pub fn parse_agent_tags(
    spec: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (key, value) = item
            .split_once('=')
            .ok_or_else(|| format!("agent tag {item:?} is not key=value"))?;
        let key = key.trim();
        if key.is_empty() {
            return Err(format!("agent tag {item:?} has an empty key"));
        }
        let value = value.trim();
        let value = match value.strip_prefix("${").and_then(|v| v.strip_suffix('}')) {
            Some(reference) => {
                let (var, default) = reference.split_once(':').unwrap_or((reference, ""));
                env(var).unwrap_or_else(|| default.to_string())
            }
            None => value.to_string(),
        };
        out.push((key.to_string(), value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(var: &str) -> Option<String> {
        (var == "ZONE").then(|| "eu-west".to_string())
    }

    #[test]
    fn agent_tags_expand_environment_references() {
        let tags =
            parse_agent_tags("a=1, zone=${ZONE:none},rack=${RACK:r7},empty=${NOPE}", env).unwrap();
        let want = [
            ("a", "1"),
            ("zone", "eu-west"),
            ("rack", "r7"),
            ("empty", ""),
        ];
        assert_eq!(
            tags,
            want.map(|(k, v)| (k.to_string(), v.to_string())).to_vec()
        );
    }

    #[test]
    fn agent_tags_without_equals_are_refused() {
        let err = parse_agent_tags("a=1,broken", env).unwrap_err();
        assert!(err.contains("broken"), "{err}");
        assert!(parse_agent_tags("=v", env).is_err());
        assert_eq!(parse_agent_tags("", env).unwrap(), vec![]);
    }

    #[test]
    fn tags_go_to_the_batch_process_and_to_span_processes() {
        let process = |name: &str| api_v2::Process {
            service_name: name.into(),
            tags: vec![],
        };
        let mut batch = api_v2::Batch {
            process: Some(process("batch")),
            spans: vec![
                api_v2::Span {
                    process: Some(process("own")),
                    ..Default::default()
                },
                api_v2::Span::default(),
            ],
        };
        let tag = api_v2::KeyValue {
            key: "zone".into(),
            v_str: "eu".into(),
            ..Default::default()
        };
        add_tags(&mut batch, std::slice::from_ref(&tag));
        assert_eq!(batch.process.unwrap().tags, vec![tag.clone()]);
        assert_eq!(batch.spans[0].process.as_ref().unwrap().tags, vec![tag]);
        assert!(batch.spans[1].process.is_none());
    }
}
