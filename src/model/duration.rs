//! Go's duration syntax, which Jaeger uses everywhere (flags, `minDuration`, api_v3 params,
//! adjuster warnings): parse `1h30m`, `1.5ms`, `250us`/`250µs`, `-3s`; print as Go does.

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("invalid duration {0:?}: expected a number with a unit (ns, us, µs, ms, s, m, h), e.g. 1.5ms or 1h30m")]
pub struct DurationError(pub String);

/// Parses a Go duration string into signed nanoseconds. A bare `0` is allowed, as in Go.
pub fn parse_go_duration(input: &str) -> Result<i64, DurationError> {
    let err = || DurationError(input.to_string());
    let mut s = input.trim();
    let mut negative = false;
    if let Some(rest) = s.strip_prefix('-') {
        negative = true;
        s = rest;
    } else if let Some(rest) = s.strip_prefix('+') {
        s = rest;
    }
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(err());
    }
    let mut total: f64 = 0.0;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(err)?;
        if num_len == 0 {
            return Err(err());
        }
        let number: f64 = rest[..num_len].parse().map_err(|_| err())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(err()),
        };
        rest = &rest[unit_len..];
        total += number * scale;
    }
    if total > i64::MAX as f64 {
        return Err(err());
    }
    let ns = total.round() as i64;
    Ok(if negative { -ns } else { ns })
}

/// Formats nanoseconds the way Go's `time.Duration.String` does: `1.5ms`, `-3µs`, `2h0m0s`, `0s`.
pub fn format_go_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".to_string();
    }
    let neg = ns < 0;
    let u = ns.unsigned_abs();
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if u < 1_000_000_000 {
        // Below one second: a single unit with a fraction.
        let (unit, div) = if u < 1_000 {
            ("ns", 1)
        } else if u < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        out.push_str(&fraction(u, div));
        out.push_str(unit);
        return out;
    }
    let hours = u / 3_600_000_000_000;
    let rem = u % 3_600_000_000_000;
    let minutes = rem / 60_000_000_000;
    let secs_ns = rem % 60_000_000_000;
    if hours > 0 {
        out.push_str(&format!("{hours}h{minutes}m"));
    } else if minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    out.push_str(&fraction(secs_ns, 1_000_000_000));
    out.push('s');
    out
}

fn fraction(v: u64, div: u64) -> String {
    let whole = v / div;
    let frac = v % div;
    if frac == 0 {
        return whole.to_string();
    }
    let width = div.to_string().len() - 1;
    let digits = format!("{frac:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        assert_eq!(parse_go_duration("1.5ms").unwrap(), 1_500_000);
        assert_eq!(parse_go_duration("1h30m").unwrap(), 5_400_000_000_000);
        assert_eq!(parse_go_duration("250us").unwrap(), 250_000);
        assert_eq!(parse_go_duration("250µs").unwrap(), 250_000);
        assert_eq!(parse_go_duration("72h").unwrap(), 72 * 3_600_000_000_000);
        assert_eq!(parse_go_duration("-3s").unwrap(), -3_000_000_000);
        assert_eq!(parse_go_duration("0").unwrap(), 0);
        for bad in ["", "10", "ms", "1x", "1.2.3s", "--1s"] {
            assert!(parse_go_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn formats_like_go() {
        assert_eq!(format_go_duration(1_500_000), "1.5ms");
        assert_eq!(format_go_duration(-3_000), "-3µs");
        assert_eq!(format_go_duration(7_200_000_000_000), "2h0m0s");
        assert_eq!(format_go_duration(90_500_000_000), "1m30.5s");
        assert_eq!(format_go_duration(0), "0s");
        assert_eq!(format_go_duration(999), "999ns");
    }
}
