//! [`SamplingProvider`]: the collector's strategies — from a file or URL, or the default for
//! everyone — with an optional reload task.
//!
//! Lookups read an `Arc` behind a short read lock and never wait on I/O. A bad file at start-up
//! is an error; a bad file on reload keeps the strategies in force and warns once per distinct
//! error. A URL answering 503 means "no change" (jaeger-wire.md §f).

use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::future::{self, BoxFuture, FutureExt};
use parking_lot::{Mutex, RwLock};

use crate::proto::api_v2::SamplingStrategyResponse;
use crate::sampling::{SamplingError, SamplingOptions, Strategies, StrategySource};

/// Jaeger's timeout for downloading a strategies URL.
const URL_TIMEOUT: Duration = Duration::from_secs(1);
/// A strategies document larger than this is refused rather than buffered.
const MAX_DOCUMENT_BYTES: usize = 16 << 20;
/// How much of an HTTP error body is quoted in the error.
const MAX_QUOTED_BODY_CHARS: usize = 200;

/// Cheap to clone; every clone serves (and the reload task updates) the same strategies.
#[derive(Clone)]
pub struct SamplingProvider {
    inner: Arc<Inner>,
}

struct Inner {
    source: Option<Source>,
    reload_interval: Duration,
    default_probability: f64,
    current: RwLock<Arc<Strategies>>,
    reload: Mutex<ReloadState>,
}

#[derive(Default)]
struct ReloadState {
    /// The document now in force (`None` before any was read, e.g. after a 503 at start-up).
    applied: Option<Vec<u8>>,
    /// The last reload error logged, so a persistent problem is logged once.
    last_error: Option<String>,
}

enum Source {
    File(String),
    Url {
        url: String,
        client: reqwest::Client,
    },
}

enum Fetched {
    Document(Vec<u8>),
    /// HTTP 503 from a URL: keep what we have.
    Unchanged,
}

impl SamplingProvider {
    /// Reads the strategies (if a file or URL is configured). Fails on an unreadable or
    /// invalid document, naming it and the problem.
    pub async fn load(opts: SamplingOptions) -> Result<Self, SamplingError> {
        let p = opts.default_sampling_probability;
        if !(0.0..=1.0).contains(&p) {
            return Err(SamplingError::InvalidDefaultProbability(p));
        }
        let source = match opts.strategies_file.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(s) => Some(Source::new(s)?),
        };
        let mut strategies = Strategies::defaults(p);
        let mut state = ReloadState::default();
        if let Some(source) = &source {
            match source.fetch().await? {
                Fetched::Document(doc) => {
                    strategies = source.parse(&doc, p)?;
                    state.applied = Some(doc);
                }
                Fetched::Unchanged => tracing::info!(
                    url = source.name(),
                    "sampling strategies URL unavailable (503); serving the default strategy"
                ),
            }
        }
        Ok(SamplingProvider {
            inner: Arc::new(Inner {
                source,
                reload_interval: opts.reload_interval,
                default_probability: p,
                current: RwLock::new(Arc::new(strategies)),
                reload: Mutex::new(state),
            }),
        })
    }

    /// The strategy for `service`, or the default strategy for a service the file doesn't name.
    pub fn strategy(&self, service: &str) -> SamplingStrategyResponse {
        self.inner.current.read().for_service(service).clone()
    }

    /// Starts re-reading the source every `reload_interval`; `None` when there is no source or
    /// the interval is zero. The task also ends once every clone of the provider is dropped.
    pub fn spawn_reload(&self) -> Option<tokio::task::JoinHandle<()>> {
        let interval = self.inner.reload_interval;
        if self.inner.source.is_none() || interval.is_zero() {
            return None;
        }
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        Some(tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await; // the first tick is immediate; load() just read the source
            loop {
                ticks.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                SamplingProvider { inner }.reload_once().await;
            }
        }))
    }

    /// One reload step: fetch, and swap in the strategies if the document changed and parses.
    async fn reload_once(&self) {
        let Some(source) = &self.inner.source else {
            return;
        };
        let outcome = match source.fetch().await {
            Ok(Fetched::Unchanged) => Ok(()),
            Ok(Fetched::Document(doc)) => self.apply_if_changed(source, doc),
            Err(e) => Err(e),
        };
        let mut state = self.inner.reload.lock();
        match outcome {
            Ok(()) => state.last_error = None,
            Err(e) => {
                let text = e.to_string();
                if state.last_error.as_deref() != Some(text.as_str()) {
                    tracing::warn!(
                        error = %text,
                        "sampling strategies not reloaded; keeping the current ones"
                    );
                    state.last_error = Some(text);
                }
            }
        }
    }

    fn apply_if_changed(&self, source: &Source, doc: Vec<u8>) -> Result<(), SamplingError> {
        if self.inner.reload.lock().applied.as_deref() == Some(doc.as_slice()) {
            return Ok(());
        }
        let strategies = source.parse(&doc, self.inner.default_probability)?;
        *self.inner.current.write() = Arc::new(strategies);
        self.inner.reload.lock().applied = Some(doc);
        tracing::info!(source = source.name(), "sampling strategies reloaded");
        Ok(())
    }
}

impl StrategySource for SamplingProvider {
    fn strategy(
        &self,
        service: String,
    ) -> BoxFuture<'static, Result<SamplingStrategyResponse, SamplingError>> {
        future::ready(Ok(SamplingProvider::strategy(self, &service))).boxed()
    }
}

impl Source {
    fn new(location: &str) -> Result<Self, SamplingError> {
        let lower = location.to_ascii_lowercase();
        if !(lower.starts_with("http://") || lower.starts_with("https://")) {
            return Ok(Source::File(location.to_string()));
        }
        let client = reqwest::Client::builder()
            .timeout(URL_TIMEOUT)
            .build()
            .map_err(|e| SamplingError::Download {
                url: location.to_string(),
                reason: format!("cannot build an HTTP client: {e}"),
            })?;
        Ok(Source::Url {
            url: location.to_string(),
            client,
        })
    }

    fn name(&self) -> &str {
        match self {
            Source::File(path) => path,
            Source::Url { url, .. } => url,
        }
    }

    fn parse(&self, doc: &[u8], default_probability: f64) -> Result<Strategies, SamplingError> {
        Strategies::parse(doc, default_probability).map_err(|source| SamplingError::Invalid {
            origin: self.name().to_string(),
            source,
        })
    }

    async fn fetch(&self) -> Result<Fetched, SamplingError> {
        match self {
            Source::File(path) => {
                tokio::fs::read(path)
                    .await
                    .map(Fetched::Document)
                    .map_err(|source| SamplingError::ReadFile {
                        path: path.clone(),
                        source,
                    })
            }
            Source::Url { url, client } => {
                download(client, url)
                    .await
                    .map_err(|reason| SamplingError::Download {
                        url: url.clone(),
                        reason,
                    })
            }
        }
    }
}

async fn download(client: &reqwest::Client, url: &str) -> Result<Fetched, String> {
    let mut resp = client.get(url).send().await.map_err(|e| e.to_string())?;
    let status = resp.status();
    if status == reqwest::StatusCode::SERVICE_UNAVAILABLE {
        return Ok(Fetched::Unchanged);
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| e.to_string())? {
        if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
            return Err(format!("document larger than {MAX_DOCUMENT_BYTES} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    if !status.is_success() {
        let text: String = String::from_utf8_lossy(&body)
            .trim()
            .chars()
            .take(MAX_QUOTED_BODY_CHARS)
            .collect();
        return Err(format!("HTTP {status}: {text}"));
    }
    Ok(Fetched::Document(body))
}

#[cfg(test)]
#[path = "provider_tests.rs"]
mod tests;
