//! The agent role and remote sampling end to end: an agent forwards UDP datagrams to a
//! collector over gRPC (adding its tags) and serves the collector's sampling strategies; the
//! collector serves its strategies file on `/api/sampling`, `/sampling` and gRPC; an agent whose
//! collector is down counts what it could not deliver instead of blocking.

mod common;

use common::jaeger_thrift::{encode_emit_batch, Batch, Proto, Span, Tag, TagValue};
use common::ui::trace;
use common::{eventually, now_ns, TestServer, LOOPBACK};
use serde_json::{json, Value as Json};
use tracehound::app::RunningApp;
use tracehound::config::{Config, HostPort, StorageType};
use tracehound::proto::api_v2;
use tracehound::proto::api_v2::sampling_manager_client::SamplingManagerClient;

const STRATEGIES: &str = r#"{
  "service_strategies": [
    {"service": "checkout", "type": "probabilistic", "param": 0.5},
    {"service": "payments", "type": "ratelimiting", "param": 7}
  ],
  "default_strategy": {"type": "probabilistic", "param": 0.2}
}"#;

fn collector_with_strategies() -> (TestServer, tempfile::TempDir) {
    let files = tempfile::tempdir().unwrap();
    let path = files.path().join("strategies.json");
    std::fs::write(&path, STRATEGIES).unwrap();
    let server = TestServer::start_with(StorageType::Memory, |c| {
        c.sampling.strategies_file = Some(path.display().to_string());
    });
    (server, files)
}

fn agent_config(collectors: &str, tags: &str) -> Config {
    let mut c = Config::agent_defaults();
    c.processor.jaeger_compact.server_host_port = HostPort(LOOPBACK.into());
    c.processor.jaeger_binary.server_host_port = HostPort(LOOPBACK.into());
    c.http_server.host_port = HostPort(LOOPBACK.into());
    c.admin.http.host_port = HostPort(LOOPBACK.into());
    c.reporter.grpc.host_port = collectors.into();
    c.agent.tags = tags.into();
    c
}

async fn get_json(url: &str) -> (u16, Json) {
    let resp = reqwest::get(url).await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Json::Null))
}

fn one_span_batch(service: &'static str, trace_low: i64) -> Batch {
    Batch {
        service,
        process_tags: vec![Tag("ip", TagValue::Str("10.1.2.3"))],
        spans: vec![Span {
            trace_id_low: trace_low,
            trace_id_high: 0,
            span_id: 1,
            parent_span_id: 0,
            operation_name: "work",
            references: vec![],
            flags: 1,
            start_us: (now_ns() / 1000) as i64 - 1_000_000,
            duration_us: 10,
            tags: vec![],
            logs: vec![],
        }],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collector_serves_the_strategies_file_over_http_and_grpc() {
    let (server, _files) = collector_with_strategies();
    let checkout =
        json!({"strategyType": "PROBABILISTIC", "probabilisticSampling": {"samplingRate": 0.5}});
    let payments =
        json!({"strategyType": "RATE_LIMITING", "rateLimitingSampling": {"maxTracesPerSecond": 7}});
    let default =
        json!({"strategyType": "PROBABILISTIC", "probabilisticSampling": {"samplingRate": 0.2}});
    for (service, want) in [
        ("checkout", &checkout),
        ("payments", &payments),
        ("other", &default),
    ] {
        let (st, body) =
            get_json(&server.jaeger_http_url(&format!("/api/sampling?service={service}"))).await;
        assert_eq!(
            (st, &body),
            (200, want),
            "collector /api/sampling {service}"
        );
        let (st, body) =
            get_json(&server.sampling_url(&format!("/sampling?service={service}"))).await;
        assert_eq!((st, &body), (200, want), "/sampling {service}");
    }
    let (st, _) = get_json(&server.jaeger_http_url("/api/sampling")).await;
    assert_eq!(st, 400);

    let mut client =
        SamplingManagerClient::connect(format!("http://{}", server.jaeger_grpc_addr()))
            .await
            .unwrap();
    let resp = client
        .get_sampling_strategy(api_v2::SamplingStrategyParameters {
            service_name: "payments".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        resp.strategy_type,
        api_v2::SamplingStrategyType::RateLimiting as i32
    );
    assert_eq!(
        resp.rate_limiting_sampling.unwrap().max_traces_per_second,
        7
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_forwards_to_the_collector_and_serves_its_strategies() {
    let (collector, _files) = collector_with_strategies();
    std::env::set_var("TRACEHOUND_TEST_RACK", "rack-9");
    let agent = RunningApp::spawn_agent(agent_config(
        &collector.jaeger_grpc_addr().to_string(),
        "zone=eu-1,rack=${TRACEHOUND_TEST_RACK:none},dc=${TRACEHOUND_TEST_UNSET:dc-default}",
    ))
    .expect("agent starts");

    for (proto, addr, low) in [
        (Proto::Compact, agent.addrs.jaeger_compact_udp, 21),
        (Proto::Binary, agent.addrs.jaeger_binary_udp, 22),
    ] {
        let datagram = encode_emit_batch(proto, &one_span_batch("via-agent", low));
        let s = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        s.send_to(&datagram, addr.unwrap()).await.unwrap();
        let t = trace(&collector, &format!("{low:032x}")).await;
        let process = t["processes"]
            .as_object()
            .unwrap()
            .values()
            .next()
            .unwrap()
            .clone();
        assert_eq!(process["serviceName"], "via-agent");
        let tags = process["tags"].as_array().unwrap();
        for (k, v) in [
            ("ip", "10.1.2.3"),
            ("zone", "eu-1"),
            ("rack", "rack-9"),
            ("dc", "dc-default"),
        ] {
            assert!(
                tags.iter().any(|t| t["key"] == k && t["value"] == v),
                "process tag {k}={v} missing in {tags:?}"
            );
        }
    }

    let sampling = agent.addrs.sampling_http.unwrap();
    let (st, body) = get_json(&format!("http://{sampling}/sampling?service=checkout")).await;
    assert_eq!(st, 200);
    assert_eq!(body["probabilisticSampling"]["samplingRate"], 0.5);
    // The legacy endpoint: the same strategy with a numeric type.
    let (st, body) = get_json(&format!("http://{sampling}/?service=payments")).await;
    assert_eq!((st, &body["strategyType"]), (200, &json!(1)));

    let admin = agent.addrs.admin_http.unwrap();
    let text = reqwest::get(format!("http://{admin}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("tracehound_agent_spans_forwarded_total 2"),
        "forwarded spans not counted:\n{text}"
    );
    agent.shutdown().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_without_a_collector_drops_and_counts_instead_of_blocking() {
    // A port nothing listens on: bind one and close it.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut config = agent_config(&dead.to_string(), "");
    config.reporter.grpc.retry.max = 2;
    config.processor.jaeger_compact.workers = 1;
    config.processor.jaeger_compact.server_queue_size = 1;
    let agent = RunningApp::spawn_agent(config).expect("agent starts");
    let to = agent.addrs.jaeger_compact_udp.unwrap();
    let s = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for low in 0..6 {
        let datagram = encode_emit_batch(Proto::Compact, &one_span_batch("lost", 100 + low));
        s.send_to(&datagram, to).await.unwrap();
    }
    let admin = agent.addrs.admin_http.unwrap();
    let counted = eventually(20, || async {
        let text = reqwest::get(format!("http://{admin}/metrics"))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        let value = |reason: &str| -> f64 {
            let prefix = format!(
                r#"tracehound_udp_packets_dropped_total{{protocol="jaeger_udp_compact",reason="{reason}"}}"#
            );
            text.lines()
                .find(|l| l.starts_with(&prefix))
                .and_then(|l| l.rsplit(' ').next()?.parse().ok())
                .unwrap_or(0.0)
        };
        let (full, undelivered) = (value("queue_full"), value("not_delivered"));
        // Every datagram is accounted for: refused at the full queue or given up on.
        (full >= 1.0 && full + undelivered == 6.0).then_some(())
    })
    .await;
    assert!(counted.is_some(), "drops were not counted");
    let (st, _) = get_json(&format!("http://{admin}/")).await;
    assert_eq!(st, 200, "the agent stays healthy");
    agent.shutdown().unwrap();
}
