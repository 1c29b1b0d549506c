//! A bounded BER → DER rewriter (X.690 §8 → §10).
//!
//! SCEP clients build their `pkiMessage` with whatever CMS library they have,
//! and several emit BER: indefinite lengths, constructed (chunked) OCTET
//! STRINGs for the encapsulated content, non-minimal lengths. This module
//! rewrites such input into definite-length, minimal-length form with
//! primitive strings, so the rest of the crate reads DER only.
//!
//! It does **not** re-sort `SET OF` elements or change any contents octets,
//! so signatures over DER parts of the input (signed attributes, which
//! RFC 5652 §5.3 requires to be DER) still verify after the rewrite.
//!
//! Input that is already DER is returned borrowed and unchanged.

use std::borrow::Cow;

use crate::error::{ParseError, ParseErrorKind};

/// Deepest nesting accepted.
pub const MAX_DEPTH: usize = 32;

/// Most elements accepted in one document.
pub const MAX_ELEMENTS: usize = 20_000;

/// Rewrites one BER element spanning all of `input` as DER.
///
/// Errors carry the offset in `input` where the problem was found.
///
/// ```
/// // SEQUENCE (indefinite) { OCTET STRING (constructed) { "ab", "c" } }
/// let ber = [0x30, 0x80, 0x24, 0x80, 0x04, 0x02, b'a', b'b', 0x04, 0x01, b'c', 0, 0, 0, 0];
/// let der = scep::ber::to_der(&ber).unwrap();
/// assert_eq!(&*der, &[0x30, 0x05, 0x04, 0x03, b'a', b'b', b'c']);
/// ```
pub fn to_der(input: &[u8]) -> Result<Cow<'_, [u8]>, ParseError> {
    let mut state = State {
        input,
        elements: 0,
        changed: false,
    };
    let mut out = Vec::with_capacity(input.len());
    let end = state.element(0, 0, &mut out)?;
    if end != input.len() {
        return Err(ParseError::new(ParseErrorKind::TrailingData, end));
    }
    if state.changed {
        Ok(Cow::Owned(out))
    } else {
        Ok(Cow::Borrowed(input))
    }
}

struct State<'a> {
    input: &'a [u8],
    elements: usize,
    changed: bool,
}

/// A decoded length: definite, or indefinite (ends at an end-of-contents).
enum Len {
    Definite(usize),
    Indefinite,
}

/// Whether a universal tag number is a string type whose constructed form
/// must become primitive in DER (X.690 §10.2).
fn is_string_type(number: u8) -> bool {
    matches!(
        number,
        0x03 | 0x04 | 0x0c | 0x12..=0x16 | 0x19..=0x1a | 0x1c | 0x1e
    )
}

impl State<'_> {
    fn err(&self, kind: ParseErrorKind, at: usize) -> ParseError {
        ParseError::new(kind, at)
    }

    /// Reads the header at `pos`: (tag, length, contents start).
    fn header(&self, pos: usize) -> Result<(u8, Len, usize), ParseError> {
        let tag = *self
            .input
            .get(pos)
            .ok_or(self.err(ParseErrorKind::Truncated, pos))?;
        if tag & 0x1f == 0x1f {
            return Err(self.err(ParseErrorKind::HighTagNumber, pos));
        }
        let first = *self
            .input
            .get(pos + 1)
            .ok_or(self.err(ParseErrorKind::Truncated, pos))?;
        if first < 0x80 {
            return Ok((tag, Len::Definite(usize::from(first)), pos + 2));
        }
        if first == 0x80 {
            if tag & 0x20 == 0 {
                // Indefinite length is only for constructed encodings.
                return Err(self.err(ParseErrorKind::IndefiniteLength, pos));
            }
            return Ok((tag, Len::Indefinite, pos + 2));
        }
        let n = usize::from(first & 0x7f);
        if n > 4 {
            return Err(self.err(ParseErrorKind::BadLength, pos));
        }
        let bytes = self
            .input
            .get(pos + 2..pos + 2 + n)
            .ok_or(self.err(ParseErrorKind::Truncated, pos))?;
        let len = bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        Ok((tag, Len::Definite(len), pos + 2 + n))
    }

    /// Rewrites the element at `pos` into `out`; returns the offset after it.
    fn element(
        &mut self,
        pos: usize,
        depth: usize,
        out: &mut Vec<u8>,
    ) -> Result<usize, ParseError> {
        if depth > MAX_DEPTH {
            return Err(self.err(ParseErrorKind::TooDeep, pos));
        }
        self.elements += 1;
        if self.elements > MAX_ELEMENTS {
            return Err(self.err(ParseErrorKind::TooManyElements, pos));
        }
        let (tag, len, start) = self.header(pos)?;
        let header_len = start - pos;
        let constructed = tag & 0x20 != 0;

        if !constructed {
            let Len::Definite(len) = len else {
                return Err(self.err(ParseErrorKind::IndefiniteLength, pos));
            };
            let end = start
                .checked_add(len)
                .filter(|e| *e <= self.input.len())
                .ok_or(self.err(ParseErrorKind::Truncated, pos))?;
            let before = out.len();
            crate::tlv::push_tlv(out, tag, &self.input[start..end]);
            if out.len() - before != header_len + len {
                self.changed = true;
            }
            return Ok(end);
        }

        // Constructed: rewrite the children into a scratch buffer.
        let mut children = Vec::new();
        let end = match len {
            Len::Definite(len) => {
                let end = start
                    .checked_add(len)
                    .filter(|e| *e <= self.input.len())
                    .ok_or(self.err(ParseErrorKind::Truncated, pos))?;
                let mut p = start;
                while p < end {
                    p = self.element(p, depth + 1, &mut children)?;
                    if p > end {
                        return Err(self.err(ParseErrorKind::BadLength, pos));
                    }
                }
                end
            }
            Len::Indefinite => {
                self.changed = true;
                let mut p = start;
                loop {
                    match self.input.get(p..p + 2) {
                        Some([0, 0]) => break p + 2,
                        Some(_) => p = self.element(p, depth + 1, &mut children)?,
                        None => return Err(self.err(ParseErrorKind::Truncated, p)),
                    }
                }
            }
        };

        let class_universal = tag & 0xc0 == 0;
        let number = tag & 0x1f;
        if class_universal && is_string_type(number) {
            // A constructed string: concatenate the (already primitive) segments.
            self.changed = true;
            let value = self.concat_segments(&children, number == 0x03, pos)?;
            crate::tlv::push_tlv(out, tag & !0x20, &value);
        } else {
            let before = out.len();
            crate::tlv::push_tlv(out, tag, &children);
            if out.len() - before != end - pos {
                self.changed = true;
            }
        }
        Ok(end)
    }

    /// Joins the contents of primitive segments (already rewritten as DER).
    fn concat_segments(
        &self,
        children: &[u8],
        bit_string: bool,
        pos: usize,
    ) -> Result<Vec<u8>, ParseError> {
        let mut reader = crate::tlv::Reader::new(children);
        let mut value = Vec::with_capacity(children.len());
        let mut unused = 0u8;
        if bit_string {
            value.push(0);
        }
        while !reader.is_empty() {
            let seg = reader.read().map_err(|e| self.err(e.kind, pos))?;
            if seg.tag & 0x20 != 0 {
                return Err(self.err(ParseErrorKind::InvalidValue, pos));
            }
            if bit_string {
                // Only the last segment may have unused bits.
                if unused != 0 {
                    return Err(self.err(ParseErrorKind::InvalidValue, pos));
                }
                let (&u, bits) = seg
                    .value
                    .split_first()
                    .ok_or(self.err(ParseErrorKind::InvalidValue, pos))?;
                unused = u;
                value.extend_from_slice(bits);
            } else {
                value.extend_from_slice(seg.value);
            }
        }
        if bit_string {
            value[0] = unused;
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn der_is_borrowed() {
        let der = [0x30, 0x03, 0x02, 0x01, 0x05];
        assert!(matches!(to_der(&der).unwrap(), Cow::Borrowed(_)));
    }

    #[test]
    fn non_minimal_length_is_rewritten() {
        let ber = [0x30, 0x81, 0x03, 0x02, 0x01, 0x05];
        assert_eq!(&*to_der(&ber).unwrap(), &[0x30, 0x03, 0x02, 0x01, 0x05]);
    }

    #[test]
    fn nested_indefinite() {
        let ber = [
            0x30, 0x80, 0xa0, 0x80, 0x24, 0x80, 0x04, 0x01, 1, 0x04, 0x01, 2, 0, 0, 0, 0, 0, 0,
        ];
        assert_eq!(
            &*to_der(&ber).unwrap(),
            &[0x30, 0x06, 0xa0, 0x04, 0x04, 0x02, 1, 2]
        );
    }

    #[test]
    fn bit_string_segments() {
        let ber = [
            0x23, 0x80, 0x03, 0x02, 0x00, 0xaa, 0x03, 0x02, 0x04, 0xb0, 0, 0,
        ];
        assert_eq!(&*to_der(&ber).unwrap(), &[0x03, 0x03, 0x04, 0xaa, 0xb0]);
    }

    #[test]
    fn bounds() {
        let mut deep = Vec::new();
        for _ in 0..(MAX_DEPTH + 2) {
            deep.extend_from_slice(&[0x30, 0x80]);
        }
        for _ in 0..(MAX_DEPTH + 2) {
            deep.extend_from_slice(&[0, 0]);
        }
        assert_eq!(to_der(&deep).unwrap_err().kind, ParseErrorKind::TooDeep);
        assert_eq!(
            to_der(&[0x30, 0x80, 0x05, 0x00]).unwrap_err().kind,
            ParseErrorKind::Truncated
        );
        assert_eq!(
            to_der(&[0x04, 0x80, 0, 0]).unwrap_err().kind,
            ParseErrorKind::IndefiniteLength
        );
        assert_eq!(
            to_der(&[0x05, 0x00, 0x05]).unwrap_err().kind,
            ParseErrorKind::TrailingData
        );
    }

    /// Produces a BER rewriting of a DER element: indefinite lengths for
    /// constructed elements and chunked OCTET STRINGs.
    fn berify(der: &[u8], chunk: usize) -> Vec<u8> {
        let t = crate::tlv::read_single(der).unwrap();
        let mut out = Vec::new();
        if t.tag & 0x20 != 0 {
            out.extend_from_slice(&[t.tag, 0x80]);
            let mut r = t.reader();
            while !r.is_empty() {
                out.extend(berify(r.read().unwrap().raw, chunk));
            }
            out.extend_from_slice(&[0, 0]);
        } else if t.tag == 0x04 && t.value.len() > chunk {
            out.extend_from_slice(&[0x24, 0x80]);
            for c in t.value.chunks(chunk) {
                crate::tlv::push_tlv(&mut out, 0x04, c);
            }
            out.extend_from_slice(&[0, 0]);
        } else {
            out.extend_from_slice(t.raw);
        }
        out
    }

    fn arb_der() -> impl Strategy<Value = Vec<u8>> {
        let leaf = prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..40)
                .prop_map(|v| crate::tlv::octet_string(&v)),
            any::<u64>().prop_map(crate::tlv::small_int),
            Just(crate::tlv::null()),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            proptest::collection::vec(inner, 0..6).prop_map(|items| {
                let parts: Vec<&[u8]> = items.iter().map(Vec::as_slice).collect();
                crate::tlv::sequence(&parts)
            })
        })
    }

    proptest! {
        #[test]
        fn ber_rewrites_back_to_der(der in arb_der(), chunk in 1usize..8) {
            let ber = berify(&der, chunk);
            let back = to_der(&ber).unwrap();
            prop_assert_eq!(&*back, &der[..]);
            // And DER is a fixed point.
            prop_assert!(matches!(to_der(&der).unwrap(), Cow::Borrowed(_)));
        }

        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..128)) {
            let _ = to_der(&data);
        }
    }
}
