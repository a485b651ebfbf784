//! Building blocks of the hand-written Thrift readers (Zipkin v1, Jaeger), on the `thrift`
//! crate's protocol layer.
//!
//! Owns the one rule every Thrift decoder here must follow: the protocol's size limits are the
//! input's length, so a forged string or container length can never make it allocate more than
//! the body it came in. Readers skip fields of unknown number or unexpected type, as Thrift's own
//! generated readers do, and never preallocate from a length read off the wire.

use thrift::protocol::{TInputProtocol, TType};
use thrift::TConfiguration;

pub(crate) type Result<T> = thrift::Result<T>;

/// Size limits for reading `len` bytes of input: no string, container or message can claim more.
pub(crate) fn limits(len: usize) -> Result<TConfiguration> {
    let limit = len.max(1);
    TConfiguration::builder()
        .max_message_size(Some(limit))
        .max_frame_size(Some(limit))
        .max_string_size(Some(limit))
        .max_container_size(Some(limit))
        .build()
}

/// Reads `list<struct>` with `item`; a list of any other element type is skipped.
pub(crate) fn read_list<P: TInputProtocol, T>(
    p: &mut P,
    mut item: impl FnMut(&mut P) -> Result<T>,
) -> Result<Vec<T>> {
    let list = p.read_list_begin()?;
    let mut out = Vec::new();
    for _ in 0..list.size.max(0) {
        if list.element_type == TType::Struct {
            out.push(item(p)?);
        } else {
            p.skip(list.element_type)?;
        }
    }
    p.read_list_end()?;
    Ok(out)
}

/// Reads the fields of a struct; `field` returns false for a field it did not consume.
pub(crate) fn read_struct<P: TInputProtocol>(
    p: &mut P,
    mut field: impl FnMut(&mut P, i16, TType) -> Result<bool>,
) -> Result<()> {
    p.read_struct_begin()?;
    loop {
        let f = p.read_field_begin()?;
        if f.field_type == TType::Stop {
            break;
        }
        if !field(p, f.id.unwrap_or(0), f.field_type)? {
            p.skip(f.field_type)?;
        }
        p.read_field_end()?;
    }
    p.read_struct_end()
}

/// A Thrift string; invalid UTF-8 is replaced rather than failing the whole body.
pub(crate) fn lossy_string<P: TInputProtocol>(p: &mut P) -> Result<String> {
    let bytes = p.read_bytes()?;
    Ok(String::from_utf8(bytes)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}
