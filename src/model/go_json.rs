//! The JSON text Jaeger shows for array and map attribute values (tag type `string`).
//!
//! Jaeger gets it from pdata's `AsString`, i.e. Go's `encoding/json` over the raw value, so we
//! reproduce its quirks: map keys sorted (last duplicate wins), `<`, `>`, `&`, U+2028 and U+2029
//! escaped as `\u00XX`/`\u20XX`, floats printed like Go (`1`, `1e+21`, `1e-7`), bytes as base64,
//! empty values as `null`. A NaN or infinity makes Go's marshaller fail and the text is empty.

use std::collections::BTreeMap;
use std::fmt::Write;

use base64::Engine;

use super::span::Value;

/// Go `encoding/json` text of a value; "" when Go would fail (NaN / ±Inf inside).
pub fn go_json_text(v: &Value) -> String {
    let mut out = String::new();
    match write_value(&mut out, v) {
        Ok(()) => out,
        Err(NonFinite) => String::new(),
    }
}

pub(crate) struct NonFinite;

fn write_value(out: &mut String, v: &Value) -> Result<(), NonFinite> {
    match v {
        Value::Empty => out.push_str("null"),
        Value::Str(s) => write_string(out, s),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Double(d) => write_float(out, *d)?,
        Value::Bytes(b) => {
            out.push('"');
            base64::engine::general_purpose::STANDARD.encode_string(b, out);
            out.push('"');
        }
        Value::Array(vs) => {
            out.push('[');
            for (i, v) in vs.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, v)?;
            }
            out.push(']');
        }
        Value::Map(kvs) => {
            let sorted: BTreeMap<&str, &Value> =
                kvs.iter().map(|kv| (kv.key.as_str(), &kv.value)).collect();
            out.push('{');
            for (i, (k, v)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, k);
                out.push(':');
                write_value(out, v)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

/// Go: shortest round-trip digits, plain notation for 1e-6 <= |x| < 1e21, else exponent form
/// with a sign and no leading zero in the exponent (`1e+21`, `1.5e-7`).
pub(crate) fn write_float(out: &mut String, d: f64) -> Result<(), NonFinite> {
    if !d.is_finite() {
        return Err(NonFinite);
    }
    let abs = d.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = format!("{d:e}");
        match s.split_once('e') {
            Some((mantissa, exp)) if !exp.starts_with('-') => {
                let _ = write!(out, "{mantissa}e+{exp}");
            }
            _ => out.push_str(&s),
        }
    } else {
        let _ = write!(out, "{d}");
    }
    Ok(())
}

/// A string as Go's `encoding/json` writes it, HTML-safe escaping included.
pub(crate) fn write_string(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 || c == '<' || c == '>' || c == '&' => {
                let b = c as u8;
                out.push_str("\\u00");
                out.push(HEX[usize::from(b >> 4)] as char);
                out.push(HEX[usize::from(b & 0xf)] as char);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::span::KeyValue;

    #[test]
    fn arrays_and_maps_print_like_go() {
        let v = Value::Array(vec![
            Value::Int(1),
            Value::Str("a".into()),
            Value::Double(1.0),
            Value::Double(0.5),
            Value::Bool(false),
            Value::Empty,
            Value::Bytes(vec![1, 2, 3]),
        ]);
        assert_eq!(go_json_text(&v), r#"[1,"a",1,0.5,false,null,"AQID"]"#);
        let m = Value::Map(vec![
            KeyValue::new("b", Value::Int(1)),
            KeyValue::string("a", "<x>&\"\n\u{1}"),
            KeyValue::new("b", Value::Int(2)),
        ]);
        assert_eq!(
            go_json_text(&m),
            r#"{"a":"\u003cx\u003e\u0026\"\n\u0001","b":2}"#
        );
    }

    #[test]
    fn floats_use_go_exponent_rules() {
        let f = |d| go_json_text(&Value::Array(vec![Value::Double(d)]));
        assert_eq!(f(1e21), "[1e+21]");
        assert_eq!(f(1.5e-7), "[1.5e-7]");
        assert_eq!(f(123456.0), "[123456]");
        assert_eq!(f(0.000001), "[0.000001]");
        assert_eq!(f(-2.5e300), "[-2.5e+300]");
        assert_eq!(f(f64::NAN), "");
    }
}
