//! [`decode_export`] against prost, the reference decoder: on bodies prost accepts, the model
//! must be what prost's messages convert to ([`to_model`] of them, which goes through their
//! canonical encoding); where a body is damaged inside a span, that span alone is rejected.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};
use proptest::prelude::*;
use prost::encoding::{encode_key, encode_varint, WireType};
use prost::Message;

use super::tests::{arb_request, arb_resource_spans, arb_span, pb_span, request_of, sid};
use super::{decode_export, to_model, Decoded};

/// A length-delimited field: key, length, bytes.
fn field(number: u32, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_key(number, WireType::LengthDelimited, &mut out);
    encode_varint(bytes.len() as u64, &mut out);
    out.extend_from_slice(bytes);
    out
}

/// Fields no OTLP message defines, one of each wire type (a group holding a varint among them).
fn unknown_fields() -> Vec<u8> {
    let mut out = Vec::new();
    encode_key(99, WireType::Varint, &mut out);
    encode_varint(300, &mut out);
    encode_key(98, WireType::ThirtyTwoBit, &mut out);
    out.extend([1, 2, 3, 4]);
    encode_key(97, WireType::SixtyFourBit, &mut out);
    out.extend([1, 2, 3, 4, 5, 6, 7, 8]);
    out.extend(field(96, b"unknown"));
    encode_key(95, WireType::StartGroup, &mut out);
    encode_key(1, WireType::Varint, &mut out);
    encode_varint(7, &mut out);
    encode_key(95, WireType::EndGroup, &mut out);
    out
}

/// One message's bytes as two occurrences with unknown fields between them: protobuf merges them.
fn merged(a: &impl Message, b: &impl Message) -> Vec<u8> {
    let mut out = a.encode_to_vec();
    out.extend(unknown_fields());
    out.extend(b.encode_to_vec());
    out
}

/// The same spans, rejections and messages. Spans are compared by their debug form, in which a
/// NaN (a damaged double can become one) equals itself.
fn assert_same(got: &Decoded, want: &Decoded) -> Result<(), TestCaseError> {
    prop_assert_eq!(
        format!("{:?}", got.batch.spans),
        format!("{:?}", want.batch.spans)
    );
    prop_assert_eq!(got.rejected_spans, want.rejected_spans);
    prop_assert_eq!(&got.errors, &want.errors);
    Ok(())
}

/// `body` must decode with prost; ours must give what prost's messages convert to.
fn decodes_as_prost_does(body: &[u8]) -> Result<(), TestCaseError> {
    let prost = ExportTraceServiceRequest::decode(body).expect("prost accepts the body");
    let ours = decode_export(body).expect("decodes");
    assert_same(&ours, &to_model(prost))
}

proptest! {
    #[test]
    fn repeated_occurrences_and_unknown_fields_decode_as_prost_merges_them(
        rs in (arb_resource_spans(), arb_resource_spans()),
        spans in (arb_span(), arb_span()),
    ) {
        // Two occurrences of one ResourceSpans: resource merged, scope spans appended.
        let body = field(1, &merged(&rs.0, &rs.1));
        decodes_as_prost_does(&body)?;
        // Two occurrences of one span: lists appended, scalars from the later, status merged.
        let span = merged(&spans.0, &spans.1);
        let body = field(1, &field(2, &field(2, &span)));
        decodes_as_prost_does(&body)?;
    }

    #[test]
    fn damaged_bodies_prost_accepts_decode_as_prost_does(
        req in arb_request(),
        at in any::<prop::sample::Index>(),
        mask in 1u8..=255,
        how in 0..3,
    ) {
        let mut body = req.encode_to_vec();
        if body.is_empty() {
            return Ok(());
        }
        let i = at.index(body.len());
        match how {
            0 => body[i] ^= mask,
            1 => {
                body.remove(i);
            }
            _ => body.insert(i, mask),
        }
        match ExportTraceServiceRequest::decode(body.as_slice()) {
            Ok(prost) => {
                let ours = decode_export(&body).expect("prost accepts it, so must we");
                assert_same(&ours, &to_model(prost))?;
            }
            // Refused, or the damaged spans rejected: either way without a panic.
            Err(_) => drop(decode_export(&body)),
        }
    }
}

#[test]
fn a_span_with_malformed_bytes_is_rejected_and_the_others_kept() {
    let mut spans = vec![pb_span(&[7; 16], &sid(1)), pb_span(&[7; 16], &sid(2))];
    spans[1].name = "zz".into();
    spans.push(pb_span(&[7; 16], &sid(3)));
    let mut body = request_of(vec![(None, vec![spans])]).encode_to_vec();
    let at = body
        .windows(2)
        .position(|w| w == b"zz")
        .expect("name bytes");
    body[at] = 0xc3; // starts a two-byte sequence that 'z' does not continue
    let decoded = decode_export(&body).expect("framing intact");
    assert_eq!(decoded.rejected_spans, 1);
    assert_eq!(
        decoded.errors,
        ["resource_spans[0].scope_spans[0].spans[1].name: the string is not valid UTF-8"]
    );
    let ids: Vec<_> = decoded
        .batch
        .spans
        .iter()
        .map(|s| s.span_id.as_u64())
        .collect();
    assert_eq!(ids, [1, 3]);

    // A span field with the wrong wire type names the field and both types.
    let mut span = pb_span(&[7; 16], &sid(4)).encode_to_vec();
    encode_key(5, WireType::Varint, &mut span);
    encode_varint(1, &mut span);
    let body = field(1, &field(2, &field(2, &span)));
    let decoded = decode_export(&body).expect("framing intact");
    assert_eq!(
        decoded.errors,
        [
            "resource_spans[0].scope_spans[0].spans[0].name: expected a length-delimited field, \
          got a varint one"
        ]
    );
}

#[test]
fn damage_outside_the_spans_refuses_the_body_naming_the_field() {
    let scope = field(1, &field(1, &[b'a', 0xff]));
    let body = field(1, &field(2, &scope));
    let err = decode_export(&body).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid OTLP protobuf body at resource_spans[0].scope_spans[0].scope.name: \
         the string is not valid UTF-8"
    );
    let mut rs = field(2, &field(2, &pb_span(&[7; 16], &sid(1)).encode_to_vec()));
    rs.extend([0x1a, 0x09, b's']); // schema_url claims 9 bytes, has 1
    let err = decode_export(&field(1, &rs)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid OTLP protobuf body at resource_spans[0].schema_url: \
         the message ends inside a field"
    );
}

/// A span whose one attribute holds `levels` arrays nested in one another.
fn nested_arrays(levels: usize) -> Vec<u8> {
    // From the inside out: the innermost value, then each array value around it.
    let mut value = AnyValue {
        value: Some(any_value::Value::IntValue(1)),
    }
    .encode_to_vec();
    for _ in 0..levels {
        value = field(5, &field(1, &value));
    }
    let kv = [field(1, b"deep"), field(2, &value)].concat();
    let mut span = pb_span(&[7; 16], &sid(1)).encode_to_vec();
    span.extend(field(9, &kv));
    field(1, &field(2, &field(2, &span)))
}

#[test]
fn nesting_stops_where_prost_stops_and_never_overflows_the_stack() {
    // Request 0, resource spans 1, scope spans 2, span 3, key-value 4, its value 5: each array
    // adds two levels, and the limit is 100.
    let deepest = nested_arrays(47);
    decodes_as_prost_does(&deepest).expect("47 levels are within the limit");
    let decoded = decode_export(&deepest).unwrap();
    assert_eq!(decoded.batch.spans.len(), 1);
    let mut v = &decoded.batch.spans[0].attributes[0].value;
    for _ in 0..47 {
        match v {
            crate::model::Value::Array(items) => v = &items[0],
            other => panic!("expected an array, got {other:?}"),
        }
    }
    assert_eq!(v, &crate::model::Value::Int(1));

    for levels in [48, 5_000] {
        let body = nested_arrays(levels);
        assert!(ExportTraceServiceRequest::decode(body.as_slice()).is_err());
        let decoded = decode_export(&body).expect("framing intact");
        assert_eq!(decoded.rejected_spans, 1);
        let message = &decoded.errors[0];
        assert!(
            message.starts_with(
                "resource_spans[0].scope_spans[0].spans[0].attributes[0].value.array_value\
                 .values[0].array_value"
            ) && message.ends_with(": messages nest deeper than 100 levels"),
            "{message}"
        );
    }
}

#[test]
fn one_scope_and_one_resource_are_shared_by_their_spans() {
    let spans = vec![pb_span(&[7; 16], &sid(1)), pb_span(&[7; 16], &sid(2))];
    let req = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let decoded = decode_export(&req.encode_to_vec()).unwrap();
    let [a, b] = &decoded.batch.spans[..] else {
        panic!("two spans expected");
    };
    assert!(std::sync::Arc::ptr_eq(&a.resource, &b.resource));
    assert!(std::sync::Arc::ptr_eq(&a.scope, &b.scope));
    // The resource has no service.name: the sanitizer named it, as for any OTLP input.
    assert_eq!(a.resource.service_name(), Some(super::MISSING_SERVICE_NAME));
}
