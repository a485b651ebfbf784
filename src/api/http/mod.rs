//! HTTP front ends.
pub mod admin;
pub mod body;
pub mod jaeger;
pub mod jaeger_json;
pub mod otlp;
pub mod params;
pub mod query;
pub mod sampling;
pub mod ui;
pub mod zipkin;
