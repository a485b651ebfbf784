//! Golden tests, one directory per converter: `testdata/golden/<format>/<case>.<ext>` is decoded
//! with the real decoder, converted to the model and rendered as
//! `{"spans": <OTLP JSON>, "rejected_spans": n, "errors": [...]}`, which must equal
//! `<case>.expected.json`. The expected files are the spec: review them by hand.
//!
//! `TRACEHOUND_BLESS=1` regenerates the binary inputs from the Rust-built messages in [`inputs`]
//! and rewrites every expected file instead of comparing.

use std::fs;
use std::path::{Path, PathBuf};

use prost::Message as _;
use serde_json::{json, Value as Json};

use super::jaeger::thrift::{decode_agent_message, decode_batch, ThriftProtocol};
use super::{jaeger, otlp, zipkin, Decoded};
use crate::proto::api_v2::PostSpansRequest;

type Decoder = fn(&[u8]) -> Result<Decoded, String>;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Every converter, with the extension of its inputs and its decoder.
const FORMATS: &[(&str, &str, Decoder)] = &[
    ("jaeger-thrift-binary", "bin", |b| {
        decode_batch(ThriftProtocol::Binary, b)
            .map(jaeger::to_model)
            .map_err(err)
    }),
    ("jaeger-thrift-compact", "bin", |b| {
        decode_batch(ThriftProtocol::Compact, b)
            .map(jaeger::to_model)
            .map_err(err)
    }),
    ("jaeger-agent-compact", "bin", |b| {
        decode_agent_message(ThriftProtocol::Compact, b)
            .map(jaeger::to_model)
            .map_err(err)
    }),
    ("jaeger-proto", "bin", |b| {
        PostSpansRequest::decode(b)
            .map(|r| jaeger::to_model(r.batch.unwrap_or_default()))
            .map_err(err)
    }),
    ("zipkin-v1-json", "json", |b| {
        zipkin::decode(zipkin::Encoding::V1Json, b).map_err(err)
    }),
    ("zipkin-v1-thrift", "bin", |b| {
        zipkin::decode(zipkin::Encoding::V1Thrift, b).map_err(err)
    }),
    ("zipkin-v2-json", "json", |b| {
        zipkin::decode(zipkin::Encoding::V2Json, b).map_err(err)
    }),
    ("zipkin-v2-proto", "bin", |b| {
        zipkin::decode(zipkin::Encoding::V2Proto, b).map_err(err)
    }),
    ("otlp-json", "json", |b| {
        otlp::decode_json(b).map(otlp::to_model).map_err(err)
    }),
    ("otlp-proto", "bin", |b| otlp::decode_export(b).map_err(err)),
];

const EXPECTED_SUFFIX: &str = ".expected.json";

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/golden")
}

fn bless() -> bool {
    std::env::var("TRACEHOUND_BLESS").is_ok_and(|v| v == "1")
}

/// What a case renders to: the accepted spans as OTLP JSON and what was rejected; or the error
/// of a body that cannot be decoded at all.
fn render(decoder: Decoder, input: &[u8]) -> String {
    let doc = match decoder(input) {
        Ok(d) => json!({
            "spans": otlp::traces_data_to_json(&otlp::from_model(&d.batch.spans)),
            "rejected_spans": d.rejected_spans,
            "errors": d.errors,
        }),
        Err(e) => {
            json!({ "spans": Json::Null, "rejected_spans": 0, "errors": [], "body_error": e })
        }
    };
    let mut text = serde_json::to_string_pretty(&doc).expect("a JSON value always serializes");
    text.push('\n');
    text
}

/// A short report of the first differing line.
fn diff(path: &Path, expected: &str, actual: &str) -> String {
    let (e, a): (Vec<_>, Vec<_>) = (expected.lines().collect(), actual.lines().collect());
    let line = (0..e.len().max(a.len()))
        .find(|&i| e.get(i) != a.get(i))
        .unwrap_or(0);
    let context = |lines: &[&str]| {
        lines[line.saturating_sub(3).min(lines.len())..(line + 4).min(lines.len())].join("\n")
    };
    format!(
        "{}: differs at line {} (rerun with TRACEHOUND_BLESS=1 to accept)\n--- expected\n{}\n+++ actual\n{}",
        path.display(),
        line + 1,
        context(&e),
        context(&a),
    )
}

#[test]
fn every_converter_matches_its_golden_files() {
    if bless() {
        inputs::write_all(&golden_dir());
    }
    let mut failures = Vec::new();
    for &(format, ext, decoder) in FORMATS {
        let dir = golden_dir().join(format);
        let mut cases: Vec<PathBuf> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.expect("readable directory entry").path())
            .filter(|p| {
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                !name.ends_with(EXPECTED_SUFFIX) && name.ends_with(&format!(".{ext}"))
            })
            .collect();
        cases.sort();
        if cases.is_empty() {
            failures.push(format!("{}: no .{ext} cases", dir.display()));
        }
        for input in cases {
            let stem = input
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default();
            let expected_path = dir.join(format!("{stem}{EXPECTED_SUFFIX}"));
            let actual = render(decoder, &fs::read(&input).expect("readable input"));
            if bless() {
                fs::write(&expected_path, &actual).expect("writable expected file");
                continue;
            }
            match fs::read_to_string(&expected_path) {
                Ok(expected) if expected == actual => {}
                Ok(expected) => failures.push(diff(&expected_path, &expected, &actual)),
                Err(e) => failures.push(format!("{}: {e}", expected_path.display())),
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}

/// The binary inputs, built from Rust values (run with `TRACEHOUND_BLESS=1` to rewrite them).
mod inputs;
