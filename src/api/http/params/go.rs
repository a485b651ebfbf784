//! Scalar parsers that accept what Go's `strconv` / `time` accept and fail with their error
//! texts, since Jaeger puts those texts into its 400 responses.

use std::num::IntErrorKind;

use crate::model::duration::parse_go_duration;

/// `strconv.ParseInt(s, 10, bits)`.
pub(super) fn parse_int(s: &str, bits: u32) -> Result<i64, String> {
    let err = |what: &str| format!("strconv.ParseInt: parsing {s:?}: {what}");
    match s.parse::<i64>() {
        Ok(v) => {
            let limit = 1i128 << (bits - 1);
            if (-limit..limit).contains(&i128::from(v)) {
                Ok(v)
            } else {
                Err(err("value out of range"))
            }
        }
        Err(e)
            if matches!(
                e.kind(),
                IntErrorKind::PosOverflow | IntErrorKind::NegOverflow
            ) =>
        {
            Err(err("value out of range"))
        }
        Err(_) => Err(err("invalid syntax")),
    }
}

/// `strconv.ParseUint(s, 10, bits)` (no sign allowed).
pub(super) fn parse_uint(s: &str, bits: u32) -> Result<u64, String> {
    let err = |what: &str| format!("strconv.ParseUint: parsing {s:?}: {what}");
    if !s.bytes().next().is_some_and(|b| b.is_ascii_digit()) {
        return Err(err("invalid syntax"));
    }
    match s.parse::<u64>() {
        Ok(v) if bits >= 64 || v < (1u64 << bits) => Ok(v),
        Ok(_) => Err(err("value out of range")),
        Err(e) if matches!(e.kind(), IntErrorKind::PosOverflow) => Err(err("value out of range")),
        Err(_) => Err(err("invalid syntax")),
    }
}

/// `strconv.ParseBool`.
pub(super) fn parse_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(format!("strconv.ParseBool: parsing {s:?}: invalid syntax")),
    }
}

/// `time.ParseDuration`, in signed ns.
pub(super) fn parse_duration(s: &str) -> Result<i64, String> {
    parse_go_duration(s).map_err(|_| format!("time: invalid duration {s:?}"))
}

/// `time.Parse(time.RFC3339Nano, s)` → ns since the epoch (0 for instants before 1970).
pub(super) fn parse_rfc3339_ns(s: &str) -> Result<u64, String> {
    let t =
        chrono::DateTime::parse_from_rfc3339(s).map_err(|e| format!("parsing time {s:?}: {e}"))?;
    let ns = t
        .timestamp_nanos_opt()
        .ok_or_else(|| format!("parsing time {s:?}: out of range"))?;
    Ok(u64::try_from(ns).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ints_follow_strconv() {
        assert_eq!(parse_int("-5", 64), Ok(-5));
        assert_eq!(parse_int("+5", 32), Ok(5));
        assert_eq!(
            parse_int("abc", 32),
            Err(r#"strconv.ParseInt: parsing "abc": invalid syntax"#.into())
        );
        assert_eq!(
            parse_int("2147483648", 32),
            Err(r#"strconv.ParseInt: parsing "2147483648": value out of range"#.into())
        );
        assert_eq!(parse_int("-2147483648", 32), Ok(-2_147_483_648));
        assert!(parse_int("99999999999999999999", 64)
            .unwrap_err()
            .ends_with("value out of range"));
        assert_eq!(parse_uint("20", 32), Ok(20));
        assert!(parse_uint("+20", 32)
            .unwrap_err()
            .ends_with("invalid syntax"));
        assert!(parse_uint("-1", 32)
            .unwrap_err()
            .ends_with("invalid syntax"));
        assert!(parse_uint("4294967296", 32)
            .unwrap_err()
            .ends_with("value out of range"));
    }

    #[test]
    fn bools_durations_and_times() {
        assert_eq!(parse_bool("True"), Ok(true));
        assert_eq!(parse_bool("0"), Ok(false));
        assert_eq!(
            parse_bool("yes"),
            Err(r#"strconv.ParseBool: parsing "yes": invalid syntax"#.into())
        );
        assert_eq!(parse_duration("1.5ms"), Ok(1_500_000));
        assert_eq!(
            parse_duration("x"),
            Err(r#"time: invalid duration "x""#.into())
        );
        assert_eq!(
            parse_rfc3339_ns("2026-11-21T00:52:44.000Z"),
            Ok(1_795_222_364_000_000_000)
        );
        assert_eq!(
            parse_rfc3339_ns("2026-11-21T02:52:44.5+02:00"),
            Ok(1_795_222_364_500_000_000)
        );
        assert_eq!(parse_rfc3339_ns("1969-12-31T23:59:59Z"), Ok(0));
        assert!(parse_rfc3339_ns("2026-11-21")
            .unwrap_err()
            .starts_with(r#"parsing time "2026-11-21": "#));
    }
}
