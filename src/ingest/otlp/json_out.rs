//! Model-side protobuf messages → OTLP/JSON as the spec writes it (used by `/api/v3`).

use super::*;

pub(super) fn resource_spans(rs: &ResourceSpans) -> Json {
    let mut m = Map::new();
    let mut res = Map::new();
    if let Some(r) = &rs.resource {
        put_attrs(&mut res, "attributes", &r.attributes);
        put_u32(
            &mut res,
            "droppedAttributesCount",
            r.dropped_attributes_count,
        );
        if !r.entity_refs.is_empty() {
            let refs = r.entity_refs.iter().map(entity_ref).collect();
            res.insert("entityRefs".into(), Json::Array(refs));
        }
    }
    m.insert("resource".into(), Json::Object(res));
    let scope_spans = rs.scope_spans.iter().map(scope_spans).collect();
    m.insert("scopeSpans".into(), Json::Array(scope_spans));
    put_str(&mut m, "schemaUrl", &rs.schema_url);
    Json::Object(m)
}

fn entity_ref(e: &EntityRef) -> Json {
    let mut m = Map::new();
    put_str(&mut m, "schemaUrl", &e.schema_url);
    put_str(&mut m, "type", &e.r#type);
    for (key, list) in [
        ("idKeys", &e.id_keys),
        ("descriptionKeys", &e.description_keys),
    ] {
        if !list.is_empty() {
            let list = list.iter().map(|s| Json::String(s.clone())).collect();
            m.insert(key.into(), Json::Array(list));
        }
    }
    Json::Object(m)
}

fn scope_spans(ss: &ScopeSpans) -> Json {
    let mut m = Map::new();
    let mut scope = Map::new();
    if let Some(s) = &ss.scope {
        put_str(&mut scope, "name", &s.name);
        put_str(&mut scope, "version", &s.version);
        put_attrs(&mut scope, "attributes", &s.attributes);
        put_u32(
            &mut scope,
            "droppedAttributesCount",
            s.dropped_attributes_count,
        );
    }
    m.insert("scope".into(), Json::Object(scope));
    m.insert(
        "spans".into(),
        Json::Array(ss.spans.iter().map(span).collect()),
    );
    put_str(&mut m, "schemaUrl", &ss.schema_url);
    Json::Object(m)
}

fn span(s: &PbSpan) -> Json {
    let mut m = Map::new();
    put_hex(&mut m, "traceId", &s.trace_id);
    put_hex(&mut m, "spanId", &s.span_id);
    put_str(&mut m, "traceState", &s.trace_state);
    put_hex(&mut m, "parentSpanId", &s.parent_span_id);
    put_u32(&mut m, "flags", s.flags);
    put_str(&mut m, "name", &s.name);
    if s.kind != 0 {
        m.insert("kind".into(), Json::from(s.kind));
    }
    put_nanos(&mut m, "startTimeUnixNano", s.start_time_unix_nano);
    put_nanos(&mut m, "endTimeUnixNano", s.end_time_unix_nano);
    put_attrs(&mut m, "attributes", &s.attributes);
    put_u32(&mut m, "droppedAttributesCount", s.dropped_attributes_count);
    if !s.events.is_empty() {
        m.insert("events".into(), s.events.iter().map(event).collect());
    }
    put_u32(&mut m, "droppedEventsCount", s.dropped_events_count);
    if !s.links.is_empty() {
        m.insert("links".into(), s.links.iter().map(link).collect());
    }
    put_u32(&mut m, "droppedLinksCount", s.dropped_links_count);
    let mut status = Map::new();
    if let Some(st) = &s.status {
        put_str(&mut status, "message", &st.message);
        if st.code != 0 {
            status.insert("code".into(), Json::from(st.code));
        }
    }
    m.insert("status".into(), Json::Object(status));
    Json::Object(m)
}

fn event(e: &pb_span::Event) -> Json {
    let mut m = Map::new();
    put_nanos(&mut m, "timeUnixNano", e.time_unix_nano);
    put_str(&mut m, "name", &e.name);
    put_attrs(&mut m, "attributes", &e.attributes);
    put_u32(&mut m, "droppedAttributesCount", e.dropped_attributes_count);
    Json::Object(m)
}

fn link(l: &pb_span::Link) -> Json {
    let mut m = Map::new();
    // Written even when all-zero, so that the link survives a round trip through us.
    put_hex(&mut m, "traceId", &l.trace_id);
    put_hex(&mut m, "spanId", &l.span_id);
    put_str(&mut m, "traceState", &l.trace_state);
    put_attrs(&mut m, "attributes", &l.attributes);
    put_u32(&mut m, "droppedAttributesCount", l.dropped_attributes_count);
    put_u32(&mut m, "flags", l.flags);
    Json::Object(m)
}

fn key_value(kv: &PbKeyValue) -> Json {
    let mut m = Map::new();
    m.insert("key".into(), Json::String(kv.key.clone()));
    let value = kv
        .value
        .as_ref()
        .map_or_else(|| Json::Object(Map::new()), any_value);
    m.insert("value".into(), value);
    if kv.key_strindex != 0 {
        m.insert("keyStrindex".into(), Json::from(kv.key_strindex));
    }
    Json::Object(m)
}

fn any_value(v: &AnyValue) -> Json {
    use any_value::Value as V;
    let mut m = Map::new();
    match &v.value {
        None => {}
        Some(V::StringValue(s)) => {
            m.insert("stringValue".into(), Json::String(s.clone()));
        }
        Some(V::BoolValue(b)) => {
            m.insert("boolValue".into(), Json::Bool(*b));
        }
        Some(V::IntValue(i)) => {
            m.insert("intValue".into(), Json::String(i.to_string()));
        }
        Some(V::DoubleValue(d)) => {
            m.insert("doubleValue".into(), double(*d));
        }
        Some(V::BytesValue(b)) => {
            let b64 = base64::engine::general_purpose::STANDARD.encode(b);
            m.insert("bytesValue".into(), Json::String(b64));
        }
        Some(V::ArrayValue(a)) => {
            let values = a.values.iter().map(any_value).collect();
            m.insert("arrayValue".into(), values_object(values));
        }
        Some(V::KvlistValue(kvs)) => {
            let values = kvs.values.iter().map(key_value).collect();
            m.insert("kvlistValue".into(), values_object(values));
        }
        Some(V::StringValueStrindex(i)) => {
            m.insert("stringValueStrindex".into(), Json::from(*i));
        }
    }
    Json::Object(m)
}

fn values_object(values: Vec<Json>) -> Json {
    let mut m = Map::new();
    m.insert("values".into(), Json::Array(values));
    Json::Object(m)
}

/// Proto3 JSON: finite doubles as numbers, the others as the strings the spec names.
fn double(d: f64) -> Json {
    match serde_json::Number::from_f64(d) {
        Some(n) => Json::Number(n),
        None if d.is_nan() => Json::String("NaN".into()),
        None if d > 0.0 => Json::String("Infinity".into()),
        None => Json::String("-Infinity".into()),
    }
}

fn put_str(m: &mut Map<String, Json>, key: &str, v: &str) {
    if !v.is_empty() {
        m.insert(key.into(), Json::String(v.to_string()));
    }
}

fn put_u32(m: &mut Map<String, Json>, key: &str, v: u32) {
    if v != 0 {
        m.insert(key.into(), Json::from(v));
    }
}

fn put_nanos(m: &mut Map<String, Json>, key: &str, v: u64) {
    if v != 0 {
        m.insert(key.into(), Json::String(v.to_string()));
    }
}

fn put_hex(m: &mut Map<String, Json>, key: &str, bytes: &[u8]) {
    if !bytes.is_empty() {
        m.insert(key.into(), Json::String(hex(bytes)));
    }
}

fn put_attrs(m: &mut Map<String, Json>, key: &str, attrs: &[PbKeyValue]) {
    if !attrs.is_empty() {
        m.insert(key.into(), attrs.iter().map(key_value).collect());
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 0xf) as usize] as char);
    }
    s
}
