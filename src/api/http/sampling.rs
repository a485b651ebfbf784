//! Sampling strategies over HTTP (jaeger-wire.md §f): the collector's `GET /api/sampling` and
//! the agent's `GET /sampling` (proto-JSON) and `GET /` (legacy Thrift-JSON), all `?service=S`.
//!
//! Answers like Jaeger's handler: `service` must appear exactly once (else 400), a failing
//! source is 500 `collector error: …`, errors are plain text as Go's `http.Error` writes them.
//! The strategy itself comes from a [`StrategySource`]: local for the collector, the collector
//! over gRPC for the agent.

use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};

use crate::api::error::ApiError;
use crate::proto::api_v2::SamplingStrategyResponse;
use crate::sampling::{legacy_json, proto_json, SamplingError, StrategySource};

pub const ERR_SERVICE_ONCE: &str = "'service' parameter must be provided once";

pub struct SamplingHttpState {
    pub source: Arc<dyn StrategySource>,
}

/// The collector's HTTP port: `GET /api/sampling?service=`.
pub fn configure_collector(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/sampling", web::get().to(get_proto_json));
}

/// The agent's HTTP port: `GET /sampling?service=` and the legacy `GET /?service=`.
pub fn configure_agent(cfg: &mut web::ServiceConfig) {
    cfg.route("/sampling", web::get().to(get_proto_json))
        .route("/", web::get().to(get_legacy_json));
}

async fn get_proto_json(req: HttpRequest, state: web::Data<SamplingHttpState>) -> HttpResponse {
    match lookup(&req, &state).await {
        Ok(r) => json_ok(proto_json(&r)),
        Err(e) => e.plain_text_response(),
    }
}

async fn get_legacy_json(req: HttpRequest, state: web::Data<SamplingHttpState>) -> HttpResponse {
    let encoded = lookup(&req, &state).await.and_then(|r| {
        legacy_json(&r).map_err(|e| {
            tracing::warn!(error = %e, "sampling strategy has no Thrift-JSON form");
            // Jaeger's agent answers exactly this when the Thrift conversion fails.
            ApiError::Internal("cannot marshall to JSON".into())
        })
    });
    match encoded {
        Ok(body) => json_ok(body),
        Err(e) => e.plain_text_response(),
    }
}

async fn lookup(
    req: &HttpRequest,
    state: &SamplingHttpState,
) -> Result<SamplingStrategyResponse, ApiError> {
    let service = service_param(req.query_string())?;
    state
        .source
        .strategy(service)
        .await
        .map_err(|e: SamplingError| {
            tracing::warn!(error = %e, "sampling strategy lookup failed");
            ApiError::Internal(format!("collector error: {e}"))
        })
}

/// Go's `r.URL.Query()["service"]` must have exactly one value (which may be empty).
fn service_param(query_string: &str) -> Result<String, ApiError> {
    let mut values = form_urlencoded::parse(query_string.as_bytes())
        .filter(|(k, _)| k == "service")
        .map(|(_, v)| v.into_owned());
    match (values.next(), values.next()) {
        (Some(service), None) => Ok(service),
        _ => Err(ApiError::BadRequest(ERR_SERVICE_ONCE.into())),
    }
}

fn json_ok(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(body)
}

#[cfg(test)]
mod tests {
    use actix_web::http::{header, StatusCode};
    use actix_web::{test, App};
    use futures_util::future::{self, BoxFuture, FutureExt};

    use super::*;
    use crate::proto::api_v2::{
        ProbabilisticSamplingStrategy, RateLimitingSamplingStrategy, SamplingStrategyType,
    };

    /// Answers every service with a fixed strategy, or fails like an unreachable collector.
    struct FixedSource(Option<SamplingStrategyResponse>);

    impl StrategySource for FixedSource {
        fn strategy(
            &self,
            service: String,
        ) -> BoxFuture<'static, Result<SamplingStrategyResponse, SamplingError>> {
            let result = match (&self.0, service.as_str()) {
                (Some(r), "svc") => Ok(r.clone()),
                (Some(_), _) => Ok(SamplingStrategyResponse {
                    strategy_type: SamplingStrategyType::Probabilistic as i32,
                    probabilistic_sampling: Some(ProbabilisticSamplingStrategy {
                        sampling_rate: 0.001,
                    }),
                    ..Default::default()
                }),
                (None, _) => Err(SamplingError::Remote {
                    endpoint: "collector:14250".into(),
                    code: tonic::Code::Unavailable,
                    message: "connection refused".into(),
                }),
            };
            future::ready(result).boxed()
        }
    }

    fn rate_limiting(max: i32) -> SamplingStrategyResponse {
        SamplingStrategyResponse {
            strategy_type: SamplingStrategyType::RateLimiting as i32,
            rate_limiting_sampling: Some(RateLimitingSamplingStrategy {
                max_traces_per_second: max,
            }),
            ..Default::default()
        }
    }

    /// GETs `uri` on an app with both the collector and agent routes (as the two ports would).
    async fn get(
        source: Option<SamplingStrategyResponse>,
        agent: bool,
        uri: &str,
    ) -> (StatusCode, String, String) {
        let state = web::Data::new(SamplingHttpState {
            source: Arc::new(FixedSource(source)),
        });
        let app = test::init_service(App::new().app_data(state).configure(if agent {
            configure_agent
        } else {
            configure_collector
        }))
        .await;
        let resp = test::call_service(&app, test::TestRequest::get().uri(uri).to_request()).await;
        let status = resp.status();
        let content_type = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body = test::read_body(resp).await;
        (
            status,
            content_type,
            String::from_utf8_lossy(&body).into_owned(),
        )
    }

    #[actix_web::test]
    async fn collector_and_agent_serve_proto_json() {
        for (agent, uri) in [
            (false, "/api/sampling?service=svc"),
            (true, "/sampling?service=svc"),
        ] {
            let (status, ct, body) = get(Some(rate_limiting(5)), agent, uri).await;
            assert_eq!(status, StatusCode::OK, "{uri}");
            assert_eq!(ct, "application/json");
            assert_eq!(
                body,
                r#"{"strategyType":"RATE_LIMITING","rateLimitingSampling":{"maxTracesPerSecond":5}}"#
            );
        }
        let (_, _, body) = get(Some(rate_limiting(5)), false, "/api/sampling?service=").await;
        assert_eq!(
            body,
            r#"{"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.001}}"#
        );
    }

    #[actix_web::test]
    async fn agent_root_serves_legacy_json() {
        let (status, ct, body) = get(Some(rate_limiting(5)), true, "/?service=svc").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(ct, "application/json");
        assert_eq!(
            body,
            r#"{"strategyType":1,"rateLimitingSampling":{"maxTracesPerSecond":5}}"#
        );
        let (status, _, body) = get(Some(rate_limiting(40_000)), true, "/?service=svc").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body, "cannot marshall to JSON\n");
    }

    #[actix_web::test]
    async fn service_must_be_given_exactly_once() {
        for uri in [
            "/api/sampling",
            "/api/sampling?svc=a",
            "/api/sampling?service=a&service=b",
        ] {
            let (status, ct, body) = get(Some(rate_limiting(5)), false, uri).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
            assert_eq!(ct, "text/plain; charset=utf-8");
            assert_eq!(body, format!("{ERR_SERVICE_ONCE}\n"));
        }
        let (status, _, _) = get(Some(rate_limiting(5)), true, "/?service=a&service=a").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }

    #[actix_web::test]
    async fn a_failing_source_is_a_500_collector_error() {
        for (agent, uri) in [
            (false, "/api/sampling?service=svc"),
            (true, "/sampling?service=svc"),
            (true, "/?service=svc"),
        ] {
            let (status, _, body) = get(None, agent, uri).await;
            assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{uri}");
            assert_eq!(
                body,
                "collector error: GetSamplingStrategy on collector:14250 failed (Unavailable): \
                 connection refused\n"
            );
        }
    }
}
