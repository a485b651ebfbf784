//! FNV-1a 64 over a deterministic serialization of one span together with its resource
//! attributes and its scope — the identity DeduplicateSpans uses (jaeger-query-semantics §2.1
//! step 3). Jaeger hashes the protobuf bytes of a one-span OTLP document; we hash our own
//! length-prefixed, type-tagged encoding of the same content, streamed straight into the hash so
//! nothing is allocated. Attribute order matters, which is why SortCollections runs first.

use crate::model::span::{Event, KeyValue, Link, Span, Value};

const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Incremental FNV-1a 64.
#[derive(Debug, Clone, Copy)]
pub struct Fnv1a64(u64);

impl Default for Fnv1a64 {
    fn default() -> Self {
        Fnv1a64(FNV_OFFSET_BASIS)
    }
}

impl Fnv1a64 {
    pub fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(FNV_PRIME);
        }
    }

    pub fn finish(&self) -> u64 {
        self.0
    }

    fn u8(&mut self, v: u8) {
        self.write(&[v]);
    }

    fn u32(&mut self, v: u32) {
        self.write(&v.to_le_bytes());
    }

    fn u64(&mut self, v: u64) {
        self.write(&v.to_le_bytes());
    }

    /// Length-prefixed, so ("ab","c") and ("a","bc") differ.
    fn bytes(&mut self, b: &[u8]) {
        self.u64(b.len() as u64);
        self.write(b);
    }

    fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }

    fn value(&mut self, v: &Value) {
        match v {
            Value::Empty => self.u8(0),
            Value::Str(s) => {
                self.u8(1);
                self.str(s);
            }
            Value::Bool(b) => {
                self.u8(2);
                self.u8(u8::from(*b));
            }
            Value::Int(i) => {
                self.u8(3);
                self.write(&i.to_le_bytes());
            }
            Value::Double(d) => {
                self.u8(4);
                self.u64(d.to_bits());
            }
            Value::Bytes(b) => {
                self.u8(5);
                self.bytes(b);
            }
            Value::Array(vs) => {
                self.u8(6);
                self.u64(vs.len() as u64);
                for v in vs {
                    self.value(v);
                }
            }
            Value::Map(kvs) => {
                self.u8(7);
                self.attributes(kvs);
            }
        }
    }

    fn attributes(&mut self, kvs: &[KeyValue]) {
        self.u64(kvs.len() as u64);
        for kv in kvs {
            self.str(&kv.key);
            self.value(&kv.value);
        }
    }

    fn event(&mut self, e: &Event) {
        self.u64(e.time_ns);
        self.str(&e.name);
        self.attributes(&e.attributes);
        self.u32(e.dropped_attributes_count);
    }

    fn link(&mut self, l: &Link) {
        self.write(&l.trace_id.0);
        self.write(&l.span_id.0);
        self.str(&l.trace_state);
        self.attributes(&l.attributes);
        self.u32(l.dropped_attributes_count);
        self.u32(l.flags);
    }
}

/// The dedup hash of a span: its resource (attributes, dropped count), its scope (name,
/// version, attributes, dropped count) and every field of the span itself.
pub fn span_hash(span: &Span) -> u64 {
    let mut h = Fnv1a64::default();
    h.attributes(&span.resource.attributes);
    h.u32(span.resource.dropped_attributes_count);
    h.str(&span.scope.name);
    h.str(&span.scope.version);
    h.attributes(&span.scope.attributes);
    h.u32(span.scope.dropped_attributes_count);
    h.write(&span.trace_id.0);
    h.write(&span.span_id.0);
    h.write(&span.parent_span_id.0);
    h.str(&span.trace_state);
    h.str(&span.name);
    h.u8(span.kind as u8);
    h.u64(span.start_ns);
    h.u64(span.end_ns);
    h.attributes(&span.attributes);
    h.u32(span.dropped_attributes_count);
    h.u64(span.events.len() as u64);
    for e in &span.events {
        h.event(e);
    }
    h.u32(span.dropped_events_count);
    h.u64(span.links.len() as u64);
    for l in &span.links {
        h.link(l);
    }
    h.u32(span.dropped_links_count);
    h.u8(span.status.code as u8);
    h.str(&span.status.message);
    h.u32(span.flags);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::span::Resource;
    use std::sync::Arc;

    fn fnv(s: &str) -> u64 {
        let mut h = Fnv1a64::default();
        h.write(s.as_bytes());
        h.finish()
    }

    #[test]
    fn fnv1a64_matches_published_test_vectors() {
        assert_eq!(fnv(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv("foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn hash_covers_resource_scope_and_span_fields() {
        let base = Span {
            name: "op".into(),
            ..Default::default()
        };
        let h0 = span_hash(&base);
        assert_eq!(h0, span_hash(&base.clone()));

        let mut other_resource = base.clone();
        other_resource.resource = Arc::new(Resource {
            attributes: vec![KeyValue::string("service.name", "x")],
            ..Default::default()
        });
        assert_ne!(h0, span_hash(&other_resource));

        let mut other_scope = base.clone();
        Arc::make_mut(&mut other_scope.scope).version = "1".into();
        assert_ne!(h0, span_hash(&other_scope));

        let mut other_attr = base.clone();
        other_attr
            .attributes
            .push(KeyValue::new("k", Value::Int(1)));
        let mut other_attr_type = base.clone();
        other_attr_type
            .attributes
            .push(KeyValue::new("k", Value::Str("1".into())));
        assert_ne!(span_hash(&other_attr), span_hash(&other_attr_type));

        let mut other_end = base.clone();
        other_end.end_ns = 1;
        assert_ne!(h0, span_hash(&other_end));
    }

    #[test]
    fn length_prefix_separates_adjacent_strings() {
        let mut a = Span::default();
        a.attributes.push(KeyValue::string("ab", "c"));
        let mut b = Span::default();
        b.attributes.push(KeyValue::string("a", "bc"));
        assert_ne!(span_hash(&a), span_hash(&b));
    }
}
