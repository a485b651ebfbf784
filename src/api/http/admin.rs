//! Admin port: `GET /` health (200 while serving, 503 while starting or draining, Jaeger's
//! JSON shape) and `GET /metrics` (Prometheus/OpenMetrics text).

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use actix_web::{web, HttpResponse};

use crate::model::duration::format_go_duration;
use crate::telemetry::Metrics;

/// Process health as the admin port reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Health {
    Starting = 0,
    Serving = 1,
    Draining = 2,
}

/// Shared, lock-free health flag.
#[derive(Clone)]
pub struct HealthState {
    state: Arc<AtomicU8>,
    up_since: SystemTime,
    started: Instant,
}

impl Default for HealthState {
    fn default() -> Self {
        HealthState {
            state: Arc::new(AtomicU8::new(Health::Starting as u8)),
            up_since: SystemTime::now(),
            started: Instant::now(),
        }
    }
}

impl HealthState {
    pub fn set(&self, h: Health) {
        self.state.store(h as u8, Ordering::Release);
    }

    pub fn get(&self) -> Health {
        match self.state.load(Ordering::Acquire) {
            1 => Health::Serving,
            2 => Health::Draining,
            _ => Health::Starting,
        }
    }
}

pub struct AdminState {
    pub health: HealthState,
    pub metrics: Arc<Metrics>,
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(health))
        .route("/metrics", web::get().to(metrics));
}

async fn health(state: web::Data<AdminState>) -> HttpResponse {
    let h = &state.health;
    let up_since: chrono::DateTime<chrono::Utc> = h.up_since.into();
    let uptime = format_go_duration(h.started.elapsed().as_nanos() as i64);
    let (mut resp, status) = match h.get() {
        Health::Serving => (HttpResponse::Ok(), "Server available"),
        _ => (HttpResponse::ServiceUnavailable(), "Server not available"),
    };
    resp.content_type("application/json").body(
        serde_json::json!({
            "status": status,
            "upSince": up_since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "uptime": uptime,
        })
        .to_string(),
    )
}

async fn metrics(state: web::Data<AdminState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(state.metrics.encode())
}
