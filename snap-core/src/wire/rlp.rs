//! RLP primitives of the codec: header walking over borrowed bytes with typed errors, and exact
//! length arithmetic for the encoder.

use alloy_primitives::{B256, U256};
use alloy_rlp::{EMPTY_STRING_CODE, Header};

use super::error::DecodeError;

/// Reads one RLP header, mapping `alloy_rlp`'s errors. The header guarantees that its payload
/// fits in what remains of `buf`.
#[inline]
fn header(buf: &mut &[u8]) -> Result<Header, DecodeError> {
    Header::decode(buf).map_err(|e| DecodeError::from_rlp(&e))
}

/// Splits `len` bytes off the front of `buf`.
#[inline]
fn take<'a>(buf: &mut &'a [u8], len: usize) -> Result<&'a [u8], DecodeError> {
    let Some((head, rest)) = buf.split_at_checked(len) else {
        return Err(DecodeError::Truncated);
    };
    *buf = rest;
    Ok(head)
}

/// Reads an RLP list and returns its payload.
#[inline]
pub(crate) fn list<'a>(buf: &mut &'a [u8], what: &'static str) -> Result<&'a [u8], DecodeError> {
    if buf.is_empty() {
        return Err(DecodeError::MissingField { what });
    }
    let h = header(buf)?;
    if !h.list {
        return Err(DecodeError::ExpectedList { what });
    }
    take(buf, h.payload_length)
}

/// Reads an RLP string and returns its content.
#[inline]
pub(crate) fn string<'a>(buf: &mut &'a [u8], what: &'static str) -> Result<&'a [u8], DecodeError> {
    if buf.is_empty() {
        return Err(DecodeError::MissingField { what });
    }
    let h = header(buf)?;
    if h.list {
        return Err(DecodeError::ExpectedString { what });
    }
    take(buf, h.payload_length)
}

/// Reads one whole RLP item (header and payload) and returns it raw, with whether it is a list.
#[inline]
pub(crate) fn raw_item<'a>(
    buf: &mut &'a [u8],
    what: &'static str,
) -> Result<(&'a [u8], bool), DecodeError> {
    if buf.is_empty() {
        return Err(DecodeError::MissingField { what });
    }
    let start = *buf;
    let h = header(buf)?;
    take(buf, h.payload_length)?;
    let consumed = start.len() - buf.len();
    Ok((take(&mut &start[..], consumed)?, h.list))
}

/// Checks that a structure's list payload has been fully consumed.
#[inline]
pub(crate) const fn finish(payload: &[u8], what: &'static str) -> Result<(), DecodeError> {
    if payload.is_empty() { Ok(()) } else { Err(DecodeError::ExtraField { what }) }
}

/// Reads a canonical RLP integer into a `u64`.
#[inline]
pub(crate) fn u64(buf: &mut &[u8], what: &'static str) -> Result<u64, DecodeError> {
    let bytes = string(buf, what)?;
    if bytes.len() > 8 {
        return Err(DecodeError::IntegerOverflow { what });
    }
    if bytes.first() == Some(&0) {
        return Err(DecodeError::NonCanonicalInteger { what });
    }
    Ok(bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
}

/// Reads a canonical RLP integer into a `U256`.
#[inline]
pub(crate) fn u256(buf: &mut &[u8], what: &'static str) -> Result<U256, DecodeError> {
    let bytes = string(buf, what)?;
    if bytes.len() > 32 {
        return Err(DecodeError::IntegerOverflow { what });
    }
    if bytes.first() == Some(&0) {
        return Err(DecodeError::NonCanonicalInteger { what });
    }
    U256::try_from_be_slice(bytes).ok_or(DecodeError::IntegerOverflow { what })
}

/// Reads a 32-byte string.
#[inline]
pub(crate) fn b256(buf: &mut &[u8], what: &'static str) -> Result<B256, DecodeError> {
    let bytes = string(buf, what)?;
    B256::try_from(bytes).map_err(|_| DecodeError::BadHashLength { what, len: bytes.len() })
}

/// Counts the items of a list payload by walking their headers, failing as soon as the count
/// passes `max` (so a huge list costs at most `max` header reads).
#[inline]
pub(crate) fn count_items(
    mut payload: &[u8],
    max: usize,
    too_many: impl Fn() -> DecodeError,
) -> Result<usize, DecodeError> {
    let mut count = 0usize;
    while !payload.is_empty() {
        if count >= max {
            return Err(too_many());
        }
        let h = header(&mut payload)?;
        take(&mut payload, h.payload_length)?;
        count += 1;
    }
    Ok(count)
}

/// A capacity for `count` items of a list whose payload is `payload_len` bytes and whose items
/// each take at least `min_item_len` bytes on the wire: never more than the payload can hold,
/// so a list of tiny malformed items cannot make the decoder reserve memory for large structs.
#[inline]
pub(crate) const fn capacity(count: usize, payload_len: usize, min_item_len: usize) -> usize {
    let fit = payload_len / if min_item_len == 0 { 1 } else { min_item_len };
    if count < fit { count } else { fit }
}

/// Encoded length of an RLP item (string or list) whose payload is `payload_len` bytes.
#[inline]
pub(crate) const fn item_len(payload_len: usize) -> usize {
    alloy_rlp::length_of_length(payload_len) + payload_len
}

/// Encoded length of a byte string.
#[inline]
pub(crate) const fn bytes_len(bytes: &[u8]) -> usize {
    if bytes.len() == 1 && bytes[0] < EMPTY_STRING_CODE { 1 } else { item_len(bytes.len()) }
}

/// Encoded length of a `u64` integer.
#[inline]
pub(crate) const fn u64_len(value: u64) -> usize {
    if value < EMPTY_STRING_CODE as u64 { 1 } else { 1 + (8 - value.leading_zeros() as usize / 8) }
}

/// Encoded length of a 32-byte string.
pub(crate) const B256_LEN: usize = 33;

/// Writes a list header.
#[inline]
pub(crate) fn put_list_header(payload_len: usize, out: &mut Vec<u8>) {
    Header { list: true, payload_length: payload_len }.encode(out);
}

/// Writes a byte string.
#[inline]
pub(crate) fn put_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    if bytes.len() == 1 && bytes[0] < EMPTY_STRING_CODE {
        out.push(bytes[0]);
    } else {
        Header { list: false, payload_length: bytes.len() }.encode(out);
        out.extend_from_slice(bytes);
    }
}

/// Writes a 32-byte string.
#[inline]
pub(crate) fn put_b256(hash: &B256, out: &mut Vec<u8>) {
    out.push(EMPTY_STRING_CODE + 32);
    out.extend_from_slice(hash.as_slice());
}

/// Writes a `u64` integer.
#[inline]
pub(crate) fn put_u64(value: u64, out: &mut Vec<u8>) {
    if value == 0 {
        out.push(EMPTY_STRING_CODE);
    } else if value < u64::from(EMPTY_STRING_CODE) {
        out.push(value as u8);
    } else {
        let bytes = value.to_be_bytes();
        let skip = value.leading_zeros() as usize / 8;
        out.push(EMPTY_STRING_CODE + (8 - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}
