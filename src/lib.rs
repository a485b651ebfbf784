//! tracehound — a Jaeger-compatible distributed-tracing backend.
//!
//! Architecture (see DESIGN.md): decoders in [`ingest`] turn every wire format into the one
//! span model of [`model`]; the [`actors`] admit, write, index, query and expire data in a
//! [`storage`] backend (embedded RocksDB by default); [`api`] serves the Jaeger HTTP API, the
//! UI, OTLP, Zipkin and the admin port. [`app`] starts and stops it all; [`config`] and [`cli`] hold
//! the one configuration tree and its flags.
//!
//! Dependencies point one way: `api` → `actors` → `storage` → `model`.

pub mod actors;
pub mod api;
pub mod app;
pub mod bench;
pub mod cli;
pub mod config;
pub mod ingest;
pub mod model;
pub mod proto;
pub mod reporter;
pub mod sampling;
pub mod storage;
pub mod telemetry;
