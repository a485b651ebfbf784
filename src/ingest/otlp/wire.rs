//! The protobuf wire format, read: field keys, varints, fixed-width and length-delimited
//! values, skipping unknown fields (groups included), and errors that name the path of fields
//! leading to the problem. What the fields mean is [`super::pb_in`]'s business.
//!
//! Hot path: every OTLP protobuf byte is read through [`Reader`]. No allocation except an error's
//! path, built only when an error happens.

use std::fmt;

use thiserror::Error;

use crate::model::Text;

/// How deep messages may nest below the request, prost's limit: a hostile body of nested array
/// values cannot exhaust the stack.
pub(super) const MAX_DEPTH: u32 = 100;

/// Protobuf wire types.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Wire {
    Varint,
    I64,
    Len,
    StartGroup,
    EndGroup,
    I32,
}

impl fmt::Display for Wire {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Wire::Varint => "varint",
            Wire::I64 => "64-bit",
            Wire::Len => "length-delimited",
            Wire::StartGroup => "group start",
            Wire::EndGroup => "group end",
            Wire::I32 => "32-bit",
        })
    }
}

/// What is wrong with the bytes of one field.
#[derive(Debug, Clone, Copy, PartialEq, Error)]
pub(super) enum Problem {
    #[error("the message ends inside a field")]
    Truncated,
    #[error("a varint is longer than 10 bytes")]
    LongVarint,
    #[error("invalid field key {0}")]
    BadKey(u64),
    #[error("expected a {want} field, got a {got} one")]
    WrongWire { want: Wire, got: Wire },
    #[error("the string is not valid UTF-8")]
    NotUtf8,
    #[error("a group end does not match an open group")]
    GroupEnd,
    #[error("messages nest deeper than {MAX_DEPTH} levels")]
    TooDeep,
}

/// One step of the path to a malformed field.
#[derive(Debug)]
enum Step {
    Field(&'static str),
    Item(&'static str, usize),
    Unknown(u32),
}

/// A malformed body: the problem, and the fields leading to it, innermost first (they are added
/// while the error travels out). Displays as `spans[2].attributes[0].key: problem`.
#[derive(Debug)]
pub(super) struct WireError {
    pub(super) problem: Problem,
    path: Vec<Step>,
}

impl From<Problem> for WireError {
    fn from(problem: Problem) -> Self {
        WireError {
            problem,
            path: Vec::new(),
        }
    }
}

impl WireError {
    pub(super) fn path(&self) -> String {
        let mut out = String::new();
        for step in self.path.iter().rev() {
            if !out.is_empty() {
                out.push('.');
            }
            match step {
                Step::Field(name) => out.push_str(name),
                Step::Item(name, i) => out.push_str(&format!("{name}[{i}]")),
                Step::Unknown(n) => out.push_str(&format!("field {n}")),
            }
        }
        out
    }

    fn within(mut self, step: Step) -> Self {
        self.path.push(step);
        self
    }

    pub(super) fn at_item(self, name: &'static str, i: usize) -> Self {
        self.within(Step::Item(name, i))
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.path() {
            p if p.is_empty() => write!(f, "{}", self.problem),
            p => write!(f, "{p}: {}", self.problem),
        }
    }
}

/// Names the field a failed read belongs to.
pub(super) trait At<T> {
    fn at(self, name: &'static str) -> Result<T, WireError>;
    fn at_item(self, name: &'static str, i: usize) -> Result<T, WireError>;
    fn at_unknown(self, field: u32) -> Result<T, WireError>;
}

impl<T, E: Into<WireError>> At<T> for Result<T, E> {
    fn at(self, name: &'static str) -> Result<T, WireError> {
        self.map_err(|e| e.into().within(Step::Field(name)))
    }
    fn at_item(self, name: &'static str, i: usize) -> Result<T, WireError> {
        self.map_err(|e| e.into().within(Step::Item(name, i)))
    }
    fn at_unknown(self, field: u32) -> Result<T, WireError> {
        self.map_err(|e| e.into().within(Step::Unknown(field)))
    }
}

/// Reads one message's fields from its bytes.
pub(super) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(super) fn new(bytes: &'a [u8]) -> Self {
        Reader { rest: bytes }
    }

    /// The next field's number and wire type, or None at the end of the message.
    #[inline]
    pub(super) fn field(&mut self) -> Result<Option<(u32, Wire)>, Problem> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let wire = match key & 7 {
            0 => Wire::Varint,
            1 => Wire::I64,
            2 => Wire::Len,
            3 => Wire::StartGroup,
            4 => Wire::EndGroup,
            5 => Wire::I32,
            _ => return Err(Problem::BadKey(key)),
        };
        match u32::try_from(key >> 3) {
            Ok(field) if field > 0 && key <= u64::from(u32::MAX) => Ok(Some((field, wire))),
            _ => Err(Problem::BadKey(key)),
        }
    }

    #[inline]
    fn varint(&mut self) -> Result<u64, Problem> {
        let bytes = self.rest;
        if let Some(&b) = bytes.first() {
            if b < 0x80 {
                self.rest = &bytes[1..];
                return Ok(u64::from(b));
            }
        }
        let mut value = 0;
        for (i, &b) in bytes.iter().take(10).enumerate() {
            value |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                // The tenth byte holds the 64th bit only.
                if i == 9 && b > 1 {
                    return Err(Problem::LongVarint);
                }
                self.rest = &bytes[i + 1..];
                return Ok(value);
            }
        }
        Err(if bytes.len() < 10 {
            Problem::Truncated
        } else {
            Problem::LongVarint
        })
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8], Problem> {
        match usize::try_from(n) {
            Ok(n) if n <= self.rest.len() => {
                let (head, tail) = self.rest.split_at(n);
                self.rest = tail;
                Ok(head)
            }
            _ => Err(Problem::Truncated),
        }
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], Problem> {
        let (head, tail) = self
            .rest
            .split_first_chunk::<N>()
            .ok_or(Problem::Truncated)?;
        self.rest = tail;
        Ok(*head)
    }

    /// A length-delimited field's bytes (a message, `bytes` or a string before its UTF-8 check).
    pub(super) fn message(&mut self, wire: Wire) -> Result<&'a [u8], Problem> {
        expect(wire, Wire::Len)?;
        let len = self.varint()?;
        self.take(len)
    }

    pub(super) fn string(&mut self, wire: Wire) -> Result<String, Problem> {
        let bytes = self.message(wire)?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| Problem::NotUtf8)
    }

    /// A string kept inline when short (attribute keys and values).
    pub(super) fn text(&mut self, wire: Wire) -> Result<Text, Problem> {
        let bytes = self.message(wire)?;
        std::str::from_utf8(bytes)
            .map(Text::from)
            .map_err(|_| Problem::NotUtf8)
    }

    pub(super) fn varint_field(&mut self, wire: Wire) -> Result<u64, Problem> {
        expect(wire, Wire::Varint)?;
        self.varint()
    }

    /// `uint32`: the varint's low 32 bits, as protobuf truncates.
    pub(super) fn uint32(&mut self, wire: Wire) -> Result<u32, Problem> {
        self.varint_field(wire).map(|v| v as u32)
    }

    /// `int32` and enums: the varint's low 32 bits, as protobuf truncates.
    pub(super) fn int32(&mut self, wire: Wire) -> Result<i32, Problem> {
        self.varint_field(wire).map(|v| v as i32)
    }

    pub(super) fn fixed64(&mut self, wire: Wire) -> Result<u64, Problem> {
        expect(wire, Wire::I64)?;
        self.fixed().map(u64::from_le_bytes)
    }

    pub(super) fn fixed32(&mut self, wire: Wire) -> Result<u32, Problem> {
        expect(wire, Wire::I32)?;
        self.fixed().map(u32::from_le_bytes)
    }

    /// Skips a field this decoder does not read, checking its framing; a group's nested fields
    /// count towards the depth limit.
    pub(super) fn skip(&mut self, field: u32, wire: Wire, depth: u32) -> Result<(), Problem> {
        match wire {
            Wire::Varint => self.varint().map(drop),
            Wire::I64 => self.fixed::<8>().map(drop),
            Wire::I32 => self.fixed::<4>().map(drop),
            Wire::Len => self.message(wire).map(drop),
            Wire::EndGroup => Err(Problem::GroupEnd),
            Wire::StartGroup => {
                if depth >= MAX_DEPTH {
                    return Err(Problem::TooDeep);
                }
                loop {
                    match self.field()? {
                        None => return Err(Problem::Truncated),
                        Some((f, Wire::EndGroup)) if f == field => return Ok(()),
                        Some((_, Wire::EndGroup)) => return Err(Problem::GroupEnd),
                        Some((f, w)) => self.skip(f, w, depth + 1)?,
                    }
                }
            }
        }
    }
}

fn expect(got: Wire, want: Wire) -> Result<(), Problem> {
    if got == want {
        Ok(())
    } else {
        Err(Problem::WrongWire { want, got })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint(bytes: &[u8]) -> Result<(u64, usize), Problem> {
        let mut r = Reader::new(bytes);
        let v = r.varint()?;
        Ok((v, bytes.len() - r.rest.len()))
    }

    #[test]
    fn varints_stop_at_ten_bytes_and_sixty_four_bits() {
        assert_eq!(varint(&[0x05, 0x99]), Ok((5, 1)));
        assert_eq!(varint(&[0xac, 0x02]), Ok((300, 2)));
        let mut max = vec![0xff; 9];
        max.push(0x01);
        assert_eq!(varint(&max), Ok((u64::MAX, 10)));
        // A tenth byte above 1 would carry bits past the 64th.
        let mut over = vec![0xff; 9];
        over.push(0x02);
        assert_eq!(varint(&over), Err(Problem::LongVarint));
        assert_eq!(varint(&[0x80; 11]), Err(Problem::LongVarint));
        assert_eq!(varint(&[0x80, 0x80]), Err(Problem::Truncated));
        assert_eq!(varint(&[]), Err(Problem::Truncated));
    }

    #[test]
    fn keys_name_a_field_and_a_known_wire_type() {
        let key = |bytes: &[u8]| Reader::new(bytes).field();
        assert_eq!(key(&[]), Ok(None));
        assert_eq!(key(&[0x0a]), Ok(Some((1, Wire::Len))));
        assert_eq!(key(&[0x85, 0x01]), Ok(Some((16, Wire::I32))));
        assert_eq!(key(&[0x02]), Err(Problem::BadKey(2)), "field 0");
        assert_eq!(key(&[0x0e]), Err(Problem::BadKey(14)), "wire type 6");
        assert_eq!(key(&[0x0f]), Err(Problem::BadKey(15)), "wire type 7");
        let too_big = [0x80, 0x80, 0x80, 0x80, 0x10];
        assert_eq!(key(&too_big), Err(Problem::BadKey(1 << 32)));
    }

    #[test]
    fn skipping_checks_framing_and_matches_groups() {
        let skip_all = |bytes: &[u8]| -> Result<(), Problem> {
            let mut r = Reader::new(bytes);
            while let Some((f, w)) = r.field()? {
                r.skip(f, w, 0)?;
            }
            Ok(())
        };
        // Field 5 varint, field 6 fixed64, field 7 "ab", field 8 fixed32.
        let mut all = vec![0x28, 0x96, 0x01, 0x31];
        all.extend([1, 2, 3, 4, 5, 6, 7, 8]);
        all.extend([0x3a, 0x02, b'a', b'b', 0x45, 1, 2, 3, 4]);
        assert_eq!(skip_all(&all), Ok(()));
        assert_eq!(skip_all(&all[..all.len() - 1]), Err(Problem::Truncated));
        assert_eq!(skip_all(&[0x3a, 0x05, b'a']), Err(Problem::Truncated));
        // Group 9 holding field 1 = 1 and an inner group 2, then its end.
        let group = [0x4b, 0x08, 0x01, 0x13, 0x14, 0x4c];
        assert_eq!(skip_all(&group), Ok(()));
        assert_eq!(skip_all(&group[..5]), Err(Problem::Truncated));
        assert_eq!(
            skip_all(&[0x4b, 0x54]),
            Err(Problem::GroupEnd),
            "ends group 10"
        );
        assert_eq!(
            skip_all(&[0x4c]),
            Err(Problem::GroupEnd),
            "end without start"
        );
        let deep: Vec<u8> = std::iter::repeat_n(0x4b, 200).collect();
        assert_eq!(skip_all(&deep), Err(Problem::TooDeep));
    }

    #[test]
    fn typed_reads_check_the_wire_type_and_utf8() {
        let mut r = Reader::new(&[0x96, 0x01]);
        assert_eq!(
            r.string(Wire::Varint),
            Err(Problem::WrongWire {
                want: Wire::Len,
                got: Wire::Varint
            })
        );
        assert_eq!(r.uint32(Wire::Varint), Ok(150));
        assert_eq!(
            Reader::new(&[0x02, 0xc3, 0x28]).string(Wire::Len),
            Err(Problem::NotUtf8)
        );
        assert_eq!(
            Reader::new(&[0x02, 0xc3, 0xa9]).string(Wire::Len),
            Ok("é".to_string())
        );
        // int32 and uint32 keep the varint's low 32 bits, as protobuf does.
        let minus_one = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(Reader::new(&minus_one).int32(Wire::Varint), Ok(-1));
        assert_eq!(Reader::new(&minus_one).uint32(Wire::Varint), Ok(u32::MAX));
        assert_eq!(
            Reader::new(&[1, 0, 0, 0, 0, 0, 0, 0x80]).fixed64(Wire::I64),
            Ok(0x8000_0000_0000_0001)
        );
        assert_eq!(
            Reader::new(&[1, 0, 0]).fixed32(Wire::I32),
            Err(Problem::Truncated)
        );
    }

    #[test]
    fn an_error_path_reads_outermost_first() {
        let e = Err::<(), _>(Problem::NotUtf8)
            .at("key")
            .at_item("attributes", 2)
            .at_unknown(77)
            .unwrap_err()
            .at_item("spans", 0);
        assert_eq!(
            e.to_string(),
            "spans[0].field 77.attributes[2].key: the string is not valid UTF-8"
        );
        assert_eq!(WireError::from(Problem::Truncated).path(), "");
    }
}
