use std::path::Path;
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::proto::api_v2::SamplingStrategyType;
use crate::sampling::file::tests::DOCUMENTED_EXAMPLE;

fn options(file: Option<String>, reload_interval: Duration) -> SamplingOptions {
    SamplingOptions {
        strategies_file: file,
        reload_interval,
        default_sampling_probability: 0.001,
    }
}

fn rate_of(r: &SamplingStrategyResponse) -> Option<f64> {
    r.probabilistic_sampling.map(|p| p.sampling_rate)
}

fn single_service(service: &str, rate: f64) -> String {
    format!(
        r#"{{"service_strategies":[{{"service":"{service}","type":"probabilistic","param":{rate}}}]}}"#
    )
}

fn path_string(p: &Path) -> String {
    p.to_str().expect("utf-8 temp path").to_string()
}

async fn load_error(file: &Path) -> String {
    match SamplingProvider::load(options(Some(path_string(file)), Duration::ZERO)).await {
        Ok(_) => panic!("{} must be refused", file.display()),
        Err(e) => e.to_string(),
    }
}

/// Polls until `service` samples at `rate`; fails after 10 s (a bound, not a timing claim).
async fn wait_for_rate(provider: &SamplingProvider, service: &str, rate: f64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while rate_of(&provider.strategy(service)) != Some(rate) {
        assert!(
            Instant::now() < deadline,
            "{service} never reached {rate}: {:?}",
            provider.strategy(service)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn without_a_file_every_service_gets_the_default_probability() {
    let mut opts = options(Some("  ".into()), Duration::from_secs(1));
    opts.default_sampling_probability = 0.25;
    let provider = SamplingProvider::load(opts).await.expect("loads");
    let r = provider.strategy("anything");
    assert_eq!(r.strategy_type, SamplingStrategyType::Probabilistic as i32);
    assert_eq!(rate_of(&r), Some(0.25));
    assert!(r.operation_sampling.is_none());
    assert!(provider.spawn_reload().is_none(), "nothing to reload");
}

#[tokio::test]
async fn serves_the_file_and_the_default_for_unknown_services() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("strategies.json");
    std::fs::write(&file, DOCUMENTED_EXAMPLE).expect("write");
    let provider = SamplingProvider::load(options(Some(path_string(&file)), Duration::ZERO))
        .await
        .expect("loads");
    assert_eq!(rate_of(&provider.strategy("foo")), Some(0.8));
    let bar = provider.strategy("bar");
    assert_eq!(bar.strategy_type, SamplingStrategyType::RateLimiting as i32);
    assert_eq!(rate_of(&provider.strategy("nobody")), Some(0.5));
    assert!(provider.spawn_reload().is_none(), "interval zero = never");

    let via_trait = StrategySource::strategy(&provider, "foo".into())
        .await
        .expect("local lookups never fail");
    assert_eq!(via_trait, provider.strategy("foo"));
}

#[tokio::test]
async fn a_bad_file_at_start_up_is_an_error_naming_file_and_problem() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("s.json");
    let name = path_string(&file);

    std::fs::write(&file, "{\"default_strategy\": {").expect("write");
    let msg = load_error(&file).await;
    assert!(
        msg.starts_with(&format!(
            "invalid sampling strategies in {name}: EOF while parsing"
        )),
        "{msg}"
    );

    std::fs::write(
        &file,
        r#"{"default_strategy":{"type":"probabilistic","param":1.5}}"#,
    )
    .expect("write");
    assert_eq!(
        load_error(&file).await,
        format!(
            "invalid sampling strategies in {name}: \
             default_strategy.param: probability 1.5 is outside 0..=1"
        )
    );

    let missing = dir.path().join("missing.json");
    let msg = load_error(&missing).await;
    assert!(
        msg.starts_with(&format!(
            "cannot read sampling strategies file {}: ",
            missing.display()
        )),
        "{msg}"
    );
}

#[tokio::test]
async fn default_probability_outside_unit_interval_is_refused() {
    let mut opts = options(None, Duration::ZERO);
    opts.default_sampling_probability = 1.01;
    let err = SamplingProvider::load(opts).await.err().expect("refused");
    assert_eq!(
        err.to_string(),
        "default sampling probability 1.01 is outside 0..=1"
    );
}

#[tokio::test]
async fn reload_swaps_in_changed_strategies_and_keeps_them_through_bad_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("s.json");
    std::fs::write(&file, single_service("svc", 0.1)).expect("write");
    let provider =
        SamplingProvider::load(options(Some(path_string(&file)), Duration::from_millis(20)))
            .await
            .expect("loads");
    let task = provider.spawn_reload().expect("reload task");
    assert_eq!(rate_of(&provider.strategy("svc")), Some(0.1));

    std::fs::write(&file, single_service("svc", 0.2)).expect("write");
    wait_for_rate(&provider, "svc", 0.2).await;

    // Broken and invalid documents, and a vanished file, keep what is in force.
    std::fs::write(&file, "{not json").expect("write");
    provider.reload_once().await;
    std::fs::write(&file, single_service("svc", 7.0)).expect("write");
    provider.reload_once().await;
    std::fs::remove_file(&file).expect("remove");
    provider.reload_once().await;
    assert_eq!(rate_of(&provider.strategy("svc")), Some(0.2));
    assert!(provider.inner.reload.lock().last_error.is_some());

    std::fs::write(&file, single_service("svc", 0.3)).expect("write");
    wait_for_rate(&provider, "svc", 0.3).await;
    task.abort();
}

#[tokio::test]
async fn reload_task_ends_when_the_provider_is_dropped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("s.json");
    std::fs::write(&file, single_service("svc", 0.1)).expect("write");
    let provider =
        SamplingProvider::load(options(Some(path_string(&file)), Duration::from_millis(10)))
            .await
            .expect("loads");
    let task = provider.spawn_reload().expect("reload task");
    drop(provider);
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("task ends")
        .expect("task did not panic");
}

/// A one-request-at-a-time HTTP server answering every request with `status` and `body`.
async fn http_server(reply: Arc<Mutex<(u16, String)>>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match conn.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let (status, body) = reply.lock().clone();
            let response = format!(
                "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = conn.write_all(response.as_bytes()).await;
        }
    });
    format!("http://{addr}/strategies.json")
}

#[tokio::test]
async fn url_source_loads_treats_503_as_no_change_and_reports_http_errors() {
    let reply = Arc::new(Mutex::new((200, single_service("svc", 0.4))));
    let url = http_server(reply.clone()).await;
    let provider = SamplingProvider::load(options(Some(url.clone()), Duration::ZERO))
        .await
        .expect("loads from URL");
    assert_eq!(rate_of(&provider.strategy("svc")), Some(0.4));

    *reply.lock() = (503, String::new());
    provider.reload_once().await;
    assert_eq!(rate_of(&provider.strategy("svc")), Some(0.4));
    assert!(provider.inner.reload.lock().last_error.is_none());

    *reply.lock() = (200, single_service("svc", 0.6));
    provider.reload_once().await;
    assert_eq!(rate_of(&provider.strategy("svc")), Some(0.6));

    // 503 at start-up: nothing to keep, so the default strategy.
    *reply.lock() = (503, String::new());
    let fresh = SamplingProvider::load(options(Some(url.clone()), Duration::ZERO))
        .await
        .expect("503 is not an error");
    assert_eq!(rate_of(&fresh.strategy("svc")), Some(0.001));

    *reply.lock() = (404, "no such file".into());
    let err = SamplingProvider::load(options(Some(url.clone()), Duration::ZERO))
        .await
        .err()
        .expect("404 is an error");
    assert_eq!(
        err.to_string(),
        format!("cannot download sampling strategies from {url}: HTTP 404 Not Found: no such file")
    );
}
