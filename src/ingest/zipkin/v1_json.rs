//! Zipkin v1 JSON (`POST /api/v1/spans`, `application/json`): a JSON array of v1 spans —
//! hex `traceId`/`id`/`parentId`, `name`, `timestamp`/`duration` in µs, `annotations`
//! `[{timestamp, value, endpoint}]`, `binaryAnnotations` `[{key, value, endpoint}]`, `debug`.
//!
//! Binary annotation values are strings, booleans or numbers in JSON (with an optional `type`);
//! they are kept as their string form. Each span is then mapped to the v2 shape by [`super::v1`].

use serde_json::Value as Json;

use super::v1::{push_entries, V1Annotation, V1BinaryAnnotation, V1Span};
use super::v2_json::{json_array, Obj};
use super::{parent_id_from_hex, span_id_from_hex, trace_id_from_hex, Entry, SpanProblem};
use crate::ingest::IngestError;

/// Decodes a v1 JSON body into entries (two for a span shared by client and server).
pub fn decode(body: &[u8]) -> Result<Vec<Entry>, IngestError> {
    let items = json_array(body, "v1")?;
    let mut out = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        push_entries(index, span(item), &mut out);
    }
    Ok(out)
}

fn span(item: Json) -> Result<V1Span, SpanProblem> {
    let mut o = Obj::new(item, "")?;
    let trace_id = trace_id_from_hex(o.string("traceId")?.as_deref())?;
    let id = span_id_from_hex(o.string("id")?.as_deref())?;
    let parent_id = parent_id_from_hex(o.string("parentId")?.as_deref())?;
    let annotations = o
        .array("annotations")?
        .into_iter()
        .enumerate()
        .map(|(i, a)| {
            let mut a = Obj::new(a, &format!("annotations[{i}]"))?;
            Ok(V1Annotation {
                timestamp_us: a.u64("timestamp")?.unwrap_or(0),
                value: a.string("value")?.unwrap_or_default(),
                endpoint: a.endpoint("endpoint")?,
            })
        })
        .collect::<Result<Vec<_>, SpanProblem>>()?;
    let binary_annotations = o
        .array("binaryAnnotations")?
        .into_iter()
        .enumerate()
        .map(|(i, b)| binary_annotation(i, b))
        .collect::<Result<Vec<_>, SpanProblem>>()?;
    Ok(V1Span {
        trace_id,
        id,
        parent_id,
        name: o.string("name")?.unwrap_or_default(),
        timestamp_us: o.u64("timestamp")?,
        duration_us: o.u64("duration")?,
        annotations,
        binary_annotations,
        debug: o.bool("debug")?.unwrap_or(false),
    })
}

fn binary_annotation(i: usize, b: Json) -> Result<V1BinaryAnnotation, SpanProblem> {
    let prefix = format!("binaryAnnotations[{i}]");
    let mut b = Obj::new(b, &prefix)?;
    let value = match b.take("value") {
        None => String::new(),
        Some(Json::String(s)) => s,
        Some(v @ (Json::Bool(_) | Json::Number(_))) => v.to_string(),
        Some(_) => {
            return Err(SpanProblem::field(
                format!("{prefix}.value"),
                "expected a string, boolean or number",
            ))
        }
    };
    Ok(V1BinaryAnnotation {
        key: b.string("key")?.unwrap_or_default(),
        value,
        endpoint: b.endpoint("endpoint")?,
    })
}
