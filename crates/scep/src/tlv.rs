//! A small DER reader and writer (X.690 §8 and §10) over borrowed slices.
//!
//! The SCEP structures keep the exact bytes of what they parse: a CMS
//! signature covers the encoding of the signed attributes as received, and a
//! certificate's signature covers its `tbsCertificate` as received. Generic
//! ASN.1 decoders normalise (for example they re-sort a `SET OF`), so the outer
//! layers are walked here, element by element, keeping each element's raw
//! bytes and its offset for error reports. Leaf values are then handed to `der`
//! types where that is convenient.
//!
//! The reader accepts DER only (definite lengths, one-byte tags); BER input is
//! first rewritten by [`to_der`] (`pippin-ber`).

use std::borrow::Cow;

use crate::error::{ParseError, ParseErrorKind};

/// Deepest nesting accepted in a SCEP message's BER.
const MAX_DEPTH: usize = 32;

/// Most elements accepted in one SCEP message's BER.
const MAX_ELEMENTS: usize = 20_000;

/// Rewrites one BER element spanning all of `input` as DER (X.690 §10:
/// definite, minimal lengths and primitive strings; `SET OF` order and
/// contents octets unchanged), within this crate's bounds. DER input comes
/// back borrowed. Errors carry the offset in `input`.
pub(crate) fn to_der(input: &[u8]) -> Result<Cow<'_, [u8]>, ParseError> {
    let mut limits = pippin_ber::Limits::default();
    limits.max_depth(MAX_DEPTH).max_elements(MAX_ELEMENTS);
    pippin_ber::to_der_with(input, &limits).map_err(ParseError::from)
}

/// Universal tags used by SCEP and CMS.
pub(crate) mod tag {
    pub(crate) const BOOLEAN: u8 = 0x01;
    pub(crate) const INTEGER: u8 = 0x02;
    pub(crate) const BIT_STRING: u8 = 0x03;
    pub(crate) const OCTET_STRING: u8 = 0x04;
    pub(crate) const NULL: u8 = 0x05;
    pub(crate) const OID: u8 = 0x06;
    pub(crate) const UTF8_STRING: u8 = 0x0c;
    pub(crate) const PRINTABLE_STRING: u8 = 0x13;
    pub(crate) const T61_STRING: u8 = 0x14;
    pub(crate) const IA5_STRING: u8 = 0x16;
    pub(crate) const UTC_TIME: u8 = 0x17;
    pub(crate) const GENERALIZED_TIME: u8 = 0x18;
    pub(crate) const UNIVERSAL_STRING: u8 = 0x1c;
    pub(crate) const BMP_STRING: u8 = 0x1e;
    pub(crate) const SEQUENCE: u8 = 0x30;
    pub(crate) const SET: u8 = 0x31;

    /// `[n]` constructed, context-specific (EXPLICIT, or IMPLICIT of a constructed type).
    pub(crate) const fn context(n: u8) -> u8 {
        0xa0 | n
    }

    /// `[n]` primitive, context-specific (IMPLICIT of a primitive type).
    pub(crate) const fn context_primitive(n: u8) -> u8 {
        0x80 | n
    }
}

/// One element: its tag, where it starts, its whole encoding and its contents.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tlv<'a> {
    pub(crate) tag: u8,
    /// Offset of the tag octet in the document.
    pub(crate) offset: usize,
    /// Offset of the first contents octet in the document.
    pub(crate) value_offset: usize,
    /// Tag, length and contents.
    pub(crate) raw: &'a [u8],
    /// Contents only.
    pub(crate) value: &'a [u8],
}

impl<'a> Tlv<'a> {
    /// A parse error located at this element.
    pub(crate) fn error(&self, kind: ParseErrorKind) -> ParseError {
        ParseError::new(kind, self.offset)
    }

    /// A reader over this element's contents.
    pub(crate) fn reader(&self) -> Reader<'a> {
        Reader {
            data: self.value,
            base: self.value_offset,
            pos: 0,
        }
    }

    /// Checks the tag.
    pub(crate) fn expect(self, tag: u8) -> Result<Self, ParseError> {
        if self.tag == tag {
            Ok(self)
        } else {
            Err(self.error(ParseErrorKind::UnexpectedTag {
                expected: tag,
                found: self.tag,
            }))
        }
    }
}

/// Reads consecutive DER elements from a slice.
#[derive(Clone, Debug)]
pub(crate) struct Reader<'a> {
    data: &'a [u8],
    /// Offset of `data[0]` in the whole document.
    base: usize,
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader over a whole document.
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self {
            data,
            base: 0,
            pos: 0,
        }
    }

    /// Whether every element has been read.
    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }

    /// The document offset of the next element.
    pub(crate) fn offset(&self) -> usize {
        self.base + self.pos
    }

    /// The tag of the next element, if any.
    pub(crate) fn peek_tag(&self) -> Option<u8> {
        self.data.get(self.pos).copied()
    }

    /// Reads the next element.
    pub(crate) fn read(&mut self) -> Result<Tlv<'a>, ParseError> {
        let start = self.pos;
        let offset = self.base + start;
        let err = |kind| ParseError::new(kind, offset);
        let tag = *self.data.get(start).ok_or(err(ParseErrorKind::Truncated))?;
        if tag & 0x1f == 0x1f {
            return Err(err(ParseErrorKind::HighTagNumber));
        }
        let first = *self
            .data
            .get(start + 1)
            .ok_or(err(ParseErrorKind::Truncated))?;
        let (len, header) = if first < 0x80 {
            (usize::from(first), 2)
        } else if first == 0x80 {
            return Err(err(ParseErrorKind::IndefiniteLength));
        } else {
            let n = usize::from(first & 0x7f);
            if n > 4 {
                return Err(err(ParseErrorKind::BadLength));
            }
            let bytes = self
                .data
                .get(start + 2..start + 2 + n)
                .ok_or(err(ParseErrorKind::Truncated))?;
            if bytes[0] == 0 {
                return Err(err(ParseErrorKind::BadLength));
            }
            let len = bytes
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
            if len < 0x80 {
                return Err(err(ParseErrorKind::BadLength));
            }
            (len, 2 + n)
        };
        let end = start
            .checked_add(header)
            .and_then(|h| h.checked_add(len))
            .ok_or(err(ParseErrorKind::BadLength))?;
        if end > self.data.len() {
            return Err(err(ParseErrorKind::Truncated));
        }
        self.pos = end;
        Ok(Tlv {
            tag,
            offset,
            value_offset: offset + header,
            raw: &self.data[start..end],
            value: &self.data[start + header..end],
        })
    }

    /// Reads the next element and checks its tag.
    pub(crate) fn read_tag(&mut self, tag: u8) -> Result<Tlv<'a>, ParseError> {
        self.read()?.expect(tag)
    }

    /// Reads the next element if it has tag `tag`.
    pub(crate) fn read_optional(&mut self, tag: u8) -> Result<Option<Tlv<'a>>, ParseError> {
        if self.peek_tag() == Some(tag) {
            self.read().map(Some)
        } else {
            Ok(None)
        }
    }

    /// Fails if anything is left.
    pub(crate) fn finish(&self) -> Result<(), ParseError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(ParseError::new(ParseErrorKind::TrailingData, self.offset()))
        }
    }
}

/// Reads exactly one element spanning all of `data`.
pub(crate) fn read_single(data: &[u8]) -> Result<Tlv<'_>, ParseError> {
    let mut r = Reader::new(data);
    let tlv = r.read()?;
    r.finish()?;
    Ok(tlv)
}

/// The unsigned magnitude of a DER INTEGER's contents, for positive values
/// (leading zero octets removed). `None` for an empty or negative integer.
pub(crate) fn unsigned_integer(value: &[u8]) -> Option<&[u8]> {
    let first = *value.first()?;
    if first & 0x80 != 0 {
        return None;
    }
    let skip = value.iter().take_while(|b| **b == 0).count();
    Some(&value[skip.min(value.len())..])
}

/// Parses a small non-negative INTEGER's contents.
pub(crate) fn small_uint(tlv: &Tlv<'_>) -> Result<u64, ParseError> {
    let tlv = tlv.expect(tag::INTEGER)?;
    let mag = unsigned_integer(tlv.value).ok_or(tlv.error(ParseErrorKind::InvalidValue))?;
    if mag.len() > 8 {
        return Err(tlv.error(ParseErrorKind::InvalidValue));
    }
    Ok(mag.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
}

// ---------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------

/// Appends a DER length.
pub(crate) fn push_length(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        // Short form: fits in seven bits.
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        let n = bytes.len() - skip;
        out.push(0x80 | n as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

/// Appends one element.
pub(crate) fn push_tlv(out: &mut Vec<u8>, tag: u8, value: &[u8]) {
    out.push(tag);
    push_length(out, value.len());
    out.extend_from_slice(value);
}

/// One element.
pub(crate) fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 6);
    push_tlv(&mut out, tag, value);
    out
}

/// A constructed element from already-encoded parts.
pub(crate) fn constructed(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    let len = parts.iter().map(|p| p.len()).sum();
    let mut out = Vec::with_capacity(len + 6);
    out.push(tag);
    push_length(&mut out, len);
    for p in parts {
        out.extend_from_slice(p);
    }
    out
}

/// `SEQUENCE { parts }`.
pub(crate) fn sequence(parts: &[&[u8]]) -> Vec<u8> {
    constructed(tag::SEQUENCE, parts)
}

/// `SET OF` in DER order (X.690 §11.6: encodings compared as octet strings).
pub(crate) fn set_of(mut items: Vec<Vec<u8>>) -> Vec<u8> {
    items.sort();
    let parts: Vec<&[u8]> = items.iter().map(Vec::as_slice).collect();
    constructed(tag::SET, &parts)
}

/// An INTEGER holding the unsigned big-endian magnitude `magnitude`.
pub(crate) fn unsigned_int(magnitude: &[u8]) -> Vec<u8> {
    let skip = magnitude.iter().take_while(|b| **b == 0).count();
    let mag = &magnitude[skip..];
    let mut value = Vec::with_capacity(mag.len() + 1);
    if mag.first().is_none_or(|b| b & 0x80 != 0) {
        value.push(0);
    }
    value.extend_from_slice(mag);
    tlv(tag::INTEGER, &value)
}

/// A small non-negative INTEGER.
pub(crate) fn small_int(v: u64) -> Vec<u8> {
    unsigned_int(&v.to_be_bytes())
}

/// An OBJECT IDENTIFIER.
pub(crate) fn oid(oid: &const_oid::ObjectIdentifier) -> Vec<u8> {
    tlv(tag::OID, oid.as_bytes())
}

/// An OCTET STRING.
pub(crate) fn octet_string(value: &[u8]) -> Vec<u8> {
    tlv(tag::OCTET_STRING, value)
}

/// NULL.
pub(crate) fn null() -> Vec<u8> {
    vec![tag::NULL, 0]
}

/// A BIT STRING with no unused bits.
pub(crate) fn bit_string(value: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(value.len() + 1);
    v.push(0);
    v.extend_from_slice(value);
    tlv(tag::BIT_STRING, &v)
}

/// `AlgorithmIdentifier { algorithm, parameters NULL }` or without parameters.
pub(crate) fn algorithm(id: &const_oid::ObjectIdentifier, null_params: bool) -> Vec<u8> {
    if null_params {
        sequence(&[&oid(id), &null()])
    } else {
        sequence(&[&oid(id)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn lengths() {
        for len in [0usize, 1, 127, 128, 255, 256, 65535, 65536, 1 << 20] {
            let value = vec![0x5a; len];
            let enc = tlv(tag::OCTET_STRING, &value);
            let t = read_single(&enc).unwrap();
            assert_eq!(t.tag, tag::OCTET_STRING);
            assert_eq!(t.value.len(), len);
            assert_eq!(t.raw, &enc[..]);
        }
    }

    #[test]
    fn rejects_non_minimal_and_indefinite() {
        assert_eq!(
            read_single(&[0x04, 0x81, 0x05, 1, 2, 3, 4, 5])
                .unwrap_err()
                .kind,
            ParseErrorKind::BadLength
        );
        assert_eq!(
            read_single(&[0x30, 0x80, 0, 0]).unwrap_err().kind,
            ParseErrorKind::IndefiniteLength
        );
        assert_eq!(
            read_single(&[0x04, 0x05, 1]).unwrap_err().kind,
            ParseErrorKind::Truncated
        );
        assert_eq!(
            read_single(&[0x1f, 0x01, 0]).unwrap_err().kind,
            ParseErrorKind::HighTagNumber
        );
        assert_eq!(
            read_single(&[0x05, 0x00, 0x00]).unwrap_err(),
            ParseError::new(ParseErrorKind::TrailingData, 2)
        );
    }

    #[test]
    fn integers() {
        assert_eq!(unsigned_int(&[]), vec![2, 1, 0]);
        assert_eq!(unsigned_int(&[0, 0, 5]), vec![2, 1, 5]);
        assert_eq!(unsigned_int(&[0x80]), vec![2, 2, 0, 0x80]);
        let enc = small_int(300);
        let t = read_single(&enc).unwrap();
        assert_eq!(small_uint(&t).unwrap(), 300);
    }

    proptest! {
        #[test]
        fn tlv_roundtrip(tagv in 0u8..0x1f, value in proptest::collection::vec(any::<u8>(), 0..600)) {
            let enc = tlv(tagv, &value);
            let t = read_single(&enc).unwrap();
            prop_assert_eq!(t.tag, tagv);
            prop_assert_eq!(t.value, &value[..]);
        }

        #[test]
        fn uint_roundtrip(v in any::<u64>()) {
            let enc = small_int(v);
            let t = read_single(&enc).unwrap();
            prop_assert_eq!(small_uint(&t).unwrap(), v);
        }

        #[test]
        fn reader_never_panics(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut r = Reader::new(&data);
            while !r.is_empty() {
                if r.read().is_err() { break; }
            }
        }
    }
}
