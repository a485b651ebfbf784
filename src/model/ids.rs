//! Trace and span identifiers: fixed-size binary IDs with Jaeger's hex forms.
//!
//! Owns parsing (hex of any length up to the ID width, leading zeros optional, as Jaeger accepts)
//! and printing (lowercase, zero-padded). Never allocates to compare or hash.

use std::fmt;

use thiserror::Error;

/// A problem with an identifier given by a client.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum IdError {
    #[error("trace id must be 1 to 32 hex digits, got {0:?}")]
    BadTraceId(String),
    #[error("span id must be 1 to 16 hex digits, got {0:?}")]
    BadSpanId(String),
    #[error("trace id must be 16 bytes, got {0}")]
    TraceIdLength(usize),
    #[error("span id must be 8 bytes, got {0}")]
    SpanIdLength(usize),
}

/// A 128-bit trace ID, big-endian (high 64 bits first), as on every wire format.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TraceId(pub [u8; 16]);

/// A 64-bit span ID, big-endian.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SpanId(pub [u8; 8]);

impl TraceId {
    pub const ZERO: TraceId = TraceId([0; 16]);

    pub fn from_u128(v: u128) -> Self {
        TraceId(v.to_be_bytes())
    }

    pub fn from_high_low(high: u64, low: u64) -> Self {
        Self::from_u128(((high as u128) << 64) | low as u128)
    }

    pub fn as_u128(&self) -> u128 {
        u128::from_be_bytes(self.0)
    }

    pub fn high(&self) -> u64 {
        (self.as_u128() >> 64) as u64
    }

    pub fn low(&self) -> u64 {
        self.as_u128() as u64
    }

    pub fn is_zero(&self) -> bool {
        self.0 == [0; 16]
    }

    /// From raw bytes: exactly 16, or 8 meaning "low 64 bits only" (as Go's Jaeger accepts).
    pub fn from_slice(b: &[u8]) -> Result<Self, IdError> {
        match b.len() {
            16 => {
                let mut a = [0u8; 16];
                a.copy_from_slice(b);
                Ok(TraceId(a))
            }
            8 => {
                let mut a = [0u8; 16];
                a[8..].copy_from_slice(b);
                Ok(TraceId(a))
            }
            n => Err(IdError::TraceIdLength(n)),
        }
    }

    /// Parses 1–32 hex digits (leading zeros optional), the form Jaeger's HTTP API accepts.
    pub fn parse_hex(s: &str) -> Result<Self, IdError> {
        if s.is_empty() || s.len() > 32 {
            return Err(IdError::BadTraceId(s.to_string()));
        }
        u128::from_str_radix(s, 16)
            .ok()
            .filter(|_| s.bytes().all(|c| c.is_ascii_hexdigit()))
            .map(Self::from_u128)
            .ok_or_else(|| IdError::BadTraceId(s.to_string()))
    }

    /// 32 lowercase hex digits (OTLP JSON, api_v3).
    pub fn to_hex32(&self) -> String {
        format!("{:032x}", self.as_u128())
    }

    /// Jaeger model string form: 16 digits when the high 64 bits are zero, else 32.
    pub fn to_jaeger_hex(&self) -> String {
        if self.high() == 0 {
            format!("{:016x}", self.low())
        } else {
            self.to_hex32()
        }
    }
}

impl SpanId {
    pub const ZERO: SpanId = SpanId([0; 8]);

    pub fn from_u64(v: u64) -> Self {
        SpanId(v.to_be_bytes())
    }

    pub fn as_u64(&self) -> u64 {
        u64::from_be_bytes(self.0)
    }

    pub fn is_zero(&self) -> bool {
        self.0 == [0; 8]
    }

    pub fn from_slice(b: &[u8]) -> Result<Self, IdError> {
        <[u8; 8]>::try_from(b)
            .map(SpanId)
            .map_err(|_| IdError::SpanIdLength(b.len()))
    }

    pub fn parse_hex(s: &str) -> Result<Self, IdError> {
        if s.is_empty() || s.len() > 16 || !s.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(IdError::BadSpanId(s.to_string()));
        }
        u64::from_str_radix(s, 16)
            .map(Self::from_u64)
            .map_err(|_| IdError::BadSpanId(s.to_string()))
    }

    pub fn to_hex(&self) -> String {
        format!("{:016x}", self.as_u64())
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({:032x})", self.as_u128())
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.as_u128())
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({:016x})", self.as_u64())
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.as_u64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_id_hex_accepts_short_forms_and_prints_jaeger_width() {
        let id = TraceId::parse_hex("11").unwrap();
        assert_eq!(id.low(), 0x11);
        assert_eq!(id.to_jaeger_hex(), "0000000000000011");
        assert_eq!(id.to_hex32(), "00000000000000000000000000000011");
        let wide = TraceId::parse_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
        assert_eq!(wide.to_jaeger_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
    }

    #[test]
    fn trace_id_hex_rejects_garbage() {
        for bad in ["", "xyz", "+1", "0123456789abcdef0123456789abcdef0"] {
            assert!(TraceId::parse_hex(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn eight_byte_trace_id_means_low_bits() {
        let id = TraceId::from_slice(&[0, 0, 0, 0, 0, 0, 0, 5]).unwrap();
        assert_eq!(id.as_u128(), 5);
        assert!(TraceId::from_slice(&[1, 2, 3]).is_err());
    }
}
