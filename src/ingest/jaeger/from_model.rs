//! Model → `jaeger.api_v2` spans, for the api_v2 query service and the remote-storage v1
//! reader. Tags, process, references and logs come from [`super::view`], the derivation the UI
//! JSON writer uses too (jaeger-wire.md §g "OTLP → Jaeger model"); this module only encodes them
//! as protobuf.
//!
//! Every span carries its own `process` (service name and resource attributes), as Jaeger's
//! query and storage APIs send it. Times that are 0 ("unset" in the model) go out as Go's zero
//! time, never as the Unix epoch (jaeger-wire.md §d).

use std::sync::Arc;

use super::view::{self, RefType, TagValue};
use super::GO_ZERO_TIME_SECONDS;
use crate::model::go_json::go_json_text;
use crate::model::{Resource, Span, Value};
use crate::proto::api_v2::{self, Process, SpanRefType, ValueType};
use crate::proto::time::{duration, timestamp};

/// Distinct resources whose process is converted once per call; beyond that a process is simply
/// converted again (keeps the lookup linear and short).
const MAX_SHARED_PROCESSES: usize = 32;

/// Converts model spans to api_v2 spans, in order, each with its own process.
pub fn from_model(spans: &[Span]) -> Vec<api_v2::Span> {
    let mut processes = ProcessCache::default();
    spans
        .iter()
        .map(|span| span_to_proto(span, processes.get(&span.resource)))
        .collect()
}

/// Processes converted so far, by resource (the same `Arc`, or an equal resource).
#[derive(Default)]
struct ProcessCache {
    entries: Vec<(Arc<Resource>, Process)>,
}

impl ProcessCache {
    fn get(&mut self, resource: &Arc<Resource>) -> Process {
        if let Some((_, p)) = self
            .entries
            .iter()
            .find(|(r, _)| Arc::ptr_eq(r, resource) || **r == **resource)
        {
            return p.clone();
        }
        let process = process_to_proto(resource);
        if self.entries.len() < MAX_SHARED_PROCESSES {
            self.entries.push((Arc::clone(resource), process.clone()));
        }
        process
    }
}

fn process_to_proto(resource: &Resource) -> Process {
    Process {
        service_name: view::process_service(resource).to_string(),
        tags: view::process_tags(resource)
            .map(|kv| tag_to_proto(&kv.key, TagValue::Attr(&kv.value)))
            .collect(),
    }
}

fn span_to_proto(span: &Span, process: Process) -> api_v2::Span {
    api_v2::Span {
        trace_id: span.trace_id.0.to_vec(),
        span_id: span.span_id.0.to_vec(),
        operation_name: span.name.clone(),
        references: view::references(span)
            .into_iter()
            .map(|r| api_v2::SpanRef {
                trace_id: r.trace_id.0.to_vec(),
                span_id: r.span_id.0.to_vec(),
                ref_type: match r.ref_type {
                    RefType::ChildOf => SpanRefType::ChildOf as i32,
                    RefType::FollowsFrom => SpanRefType::FollowsFrom as i32,
                },
            })
            .collect(),
        // Jaeger's translator has no Jaeger flags to give (OTLP flags mean something else).
        flags: 0,
        start_time: Some(go_timestamp(span.start_ns)),
        duration: Some(duration(span.duration_ns())),
        tags: view::span_tags(span)
            .map(|(k, v)| tag_to_proto(k, v))
            .collect(),
        logs: span
            .events
            .iter()
            .map(|e| api_v2::Log {
                timestamp: Some(go_timestamp(e.time_ns)),
                fields: view::log_fields(e)
                    .map(|(k, v)| tag_to_proto(k, v))
                    .collect(),
            })
            .collect(),
        process: Some(process),
        process_id: String::new(),
        warnings: span.warnings(),
    }
}

/// A model time as a protobuf Timestamp; 0 ("unset") as Go's zero time.
fn go_timestamp(ns: u64) -> prost_types::Timestamp {
    if ns == 0 {
        prost_types::Timestamp {
            seconds: GO_ZERO_TIME_SECONDS,
            nanos: 0,
        }
    } else {
        timestamp(ns)
    }
}

/// One api_v2 `KeyValue`. Arrays and maps become STRING tags holding the JSON text the UI shows;
/// an empty value is the empty string.
fn tag_to_proto(key: &str, value: TagValue<'_>) -> api_v2::KeyValue {
    let mut kv = api_v2::KeyValue {
        key: key.to_string(),
        ..api_v2::KeyValue::default()
    };
    let string = |kv: &mut api_v2::KeyValue, s: String| {
        kv.v_type = ValueType::String as i32;
        kv.v_str = s;
    };
    match value {
        TagValue::Str(s) => string(&mut kv, s.to_string()),
        TagValue::Bool(b) => {
            kv.v_type = ValueType::Bool as i32;
            kv.v_bool = b;
        }
        TagValue::Attr(v) => match v {
            Value::Empty => string(&mut kv, String::new()),
            Value::Str(s) => string(&mut kv, s.to_string()),
            Value::Bool(b) => {
                kv.v_type = ValueType::Bool as i32;
                kv.v_bool = *b;
            }
            Value::Int(i) => {
                kv.v_type = ValueType::Int64 as i32;
                kv.v_int64 = *i;
            }
            Value::Double(d) => {
                kv.v_type = ValueType::Float64 as i32;
                kv.v_float64 = *d;
            }
            Value::Bytes(b) => {
                kv.v_type = ValueType::Binary as i32;
                kv.v_binary = b.clone();
            }
            Value::Array(_) | Value::Map(_) => string(&mut kv, go_json_text(v)),
        },
    }
    kv
}

#[cfg(test)]
mod tests;
