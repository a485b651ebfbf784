//! Reading the Jaeger UI JSON (`/api/traces/{id}`) back in tests.
#![allow(dead_code)]

use serde_json::Value as Json;

use super::{eventually, TestServer};

/// Waits for the trace and returns its JSON (`data[0]`).
pub async fn trace(server: &TestServer, id: &str) -> Json {
    let url = format!("/api/traces/{id}");
    eventually(10, || async {
        let (st, body) = server.get_json(&url).await;
        (st == 200).then(|| body["data"][0].clone())
    })
    .await
    .unwrap_or_else(|| panic!("trace {id} not found"))
}

pub fn tag<'a>(span: &'a Json, key: &str) -> Option<&'a Json> {
    span["tags"]
        .as_array()?
        .iter()
        .find(|t| t["key"] == key)
        .map(|t| &t["value"])
}

pub fn span_named<'a>(trace: &'a Json, name: &str) -> &'a Json {
    trace["spans"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["operationName"] == name))
        .unwrap_or_else(|| panic!("no span {name} in {trace}"))
}

pub fn service_of(trace: &Json, span: &Json) -> String {
    let pid = span["processID"].as_str().expect("processID");
    trace["processes"][pid]["serviceName"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}
