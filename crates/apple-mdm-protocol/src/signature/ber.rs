//! A bounded BER → DER normaliser, and the DER element reader the CMS code
//! walks with.
//!
//! CMS (RFC 5652 §5.1, §10) is defined over BER, and some signers emit it:
//! `openssl cms -sign -stream` writes indefinite lengths and cuts the
//! encapsulated content into a *constructed* OCTET STRING. The typed decoders
//! used here (`der`, `x509-cert`) read DER only, so [`to_der`] first rewrites
//! the input (X.690 §8.1.3, §8.7, §10.1, §10.2):
//!
//! * indefinite lengths (`0x80` … `00 00`) become definite lengths;
//! * definite lengths in long or padded form become the shortest form;
//! * a constructed universal OCTET STRING (tag `0x24`) is flattened into one
//!   primitive OCTET STRING holding its segments, concatenated in order.
//!
//! Nothing else changes: tags are copied byte for byte, primitive contents are
//! copied as they are, and the order of elements in a SET is kept (a signature
//! made over a non-canonical SET stays verifiable). Other constructed string
//! types (BIT STRING, character strings) are copied unchanged, and the typed
//! decoders reject them where a string is expected.
//!
//! Input that is already DER comes back borrowed, without a copy.
//!
//! Bounds: nesting depth ([`MAX_DEPTH`]), element count ([`MAX_ELEMENTS`]),
//! length fields of at most four bytes, and exactly one top-level element. No
//! input makes this module panic.

use std::borrow::Cow;

/// How deep elements may nest. CMS with certificates needs about 12 levels.
pub const MAX_DEPTH: usize = 64;

/// How many elements (TLVs) one input may hold. A `SignedData` with a chain
/// of three certificates holds a few hundred.
pub const MAX_ELEMENTS: usize = 100_000;

/// Why BER (or DER) could not be read. `offset` is the byte position in the
/// input where the problem was found.
#[derive(Clone, Copy, Debug, Eq, PartialEq, thiserror::Error)]
#[error("{kind} at byte {offset}")]
pub struct BerError {
    /// What is wrong.
    pub kind: BerErrorKind,
    /// Where, as a byte offset into the input.
    pub offset: usize,
}

/// The kinds of [`BerError`].
#[derive(Clone, Copy, Debug, Eq, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum BerErrorKind {
    /// The input ends inside an element.
    #[error("input ends inside an element")]
    Truncated,
    /// The input is empty.
    #[error("empty input")]
    Empty,
    /// Bytes follow the single top-level element.
    #[error("data after the top-level element")]
    TrailingData,
    /// A multi-byte tag number is longer than this reader allows (4 bytes).
    #[error("tag number too long")]
    TagTooLong,
    /// The reserved length byte `0xFF`, or a length field over 4 bytes.
    #[error("unsupported length encoding")]
    BadLength,
    /// An indefinite length on a primitive element (X.690 §8.1.3.2).
    #[error("indefinite length on a primitive element")]
    IndefinitePrimitive,
    /// An indefinite length where DER is required.
    #[error("indefinite length where DER is required")]
    IndefiniteLength,
    /// An end-of-contents marker (`00 00`) outside an indefinite-length element,
    /// or a malformed one.
    #[error("misplaced end-of-contents marker")]
    UnexpectedEndOfContents,
    /// A segment of a constructed OCTET STRING is not an OCTET STRING.
    #[error("constructed OCTET STRING holds a non-OCTET STRING segment")]
    BadOctetStringSegment,
    /// Elements nest deeper than [`MAX_DEPTH`].
    #[error("elements nest deeper than {MAX_DEPTH}")]
    TooDeep,
    /// More than [`MAX_ELEMENTS`] elements.
    #[error("more than {MAX_ELEMENTS} elements")]
    TooManyElements,
}

/// Rewrites BER as DER (see the module documentation for exactly what
/// changes). The input must be exactly one element. Returns the input itself,
/// borrowed, when it is already DER in the sense used here.
///
/// ```
/// use apple_mdm_protocol::signature::ber::to_der;
///
/// // SEQUENCE (indefinite) { constructed OCTET STRING (indefinite) { "ab", "c" } }
/// let ber = [0x30, 0x80, 0x24, 0x80, 0x04, 0x02, b'a', b'b', 0x04, 0x01, b'c', 0, 0, 0, 0];
/// assert_eq!(&*to_der(&ber)?, &[0x30, 0x05, 0x04, 0x03, b'a', b'b', b'c']);
///
/// let der = [0x30, 0x03, 0x02, 0x01, 0x05];
/// assert!(matches!(to_der(&der)?, std::borrow::Cow::Borrowed(_)));
/// # Ok::<(), apple_mdm_protocol::signature::ber::BerError>(())
/// ```
pub fn to_der(input: &[u8]) -> Result<Cow<'_, [u8]>, BerError> {
    if input.is_empty() {
        return Err(BerError {
            kind: BerErrorKind::Empty,
            offset: 0,
        });
    }
    let mut measure = Measure {
        input,
        lengths: Vec::new(),
        elements: 0,
        changed: false,
    };
    let (end, total) = measure.element(0, 0)?;
    if end != input.len() {
        return Err(BerError {
            kind: BerErrorKind::TrailingData,
            offset: end,
        });
    }
    if !measure.changed {
        return Ok(Cow::Borrowed(input));
    }
    let mut emit = Emit {
        input,
        lengths: &measure.lengths,
        next_length: 0,
        out: Vec::with_capacity(total),
    };
    emit.element(0, 0)?;
    Ok(Cow::Owned(emit.out))
}

/// One element's header, as read from BER.
#[derive(Clone, Copy, Debug)]
struct Header {
    /// First tag byte (class, constructed bit, low tag number or `0x1F`).
    first: u8,
    /// Where the tag starts.
    start: usize,
    /// Where the tag ends (and the length field starts).
    tag_end: usize,
    /// Where the contents start.
    content_start: usize,
    /// The contents' length, or `None` for an indefinite length.
    length: Option<usize>,
    /// Whether the length was not in DER's shortest form.
    padded_length: bool,
}

impl Header {
    fn constructed(&self) -> bool {
        self.first & 0x20 != 0
    }

    fn is_end_of_contents(&self) -> bool {
        self.first == 0 && self.tag_end == self.start + 1
    }
}

fn err(kind: BerErrorKind, offset: usize) -> BerError {
    BerError { kind, offset }
}

/// Reads an element header at `pos` of `input`. The contents are not checked
/// against the end of the input; callers do that.
fn read_header(input: &[u8], pos: usize) -> Result<Header, BerError> {
    let byte = |at: usize| -> Result<u8, BerError> {
        input
            .get(at)
            .copied()
            .ok_or(err(BerErrorKind::Truncated, at))
    };
    let first = byte(pos)?;
    let mut at = pos + 1;
    if first & 0x1F == 0x1F {
        // High tag number form: base-128 digits, last one without bit 8.
        loop {
            let b = byte(at)?;
            at += 1;
            if at - pos > 5 {
                return Err(err(BerErrorKind::TagTooLong, pos));
            }
            if b & 0x80 == 0 {
                break;
            }
        }
    }
    let tag_end = at;
    let len_byte = byte(at)?;
    at += 1;
    let (length, padded_length) = match len_byte {
        0x80 => (None, false),
        0xFF => return Err(err(BerErrorKind::BadLength, tag_end)),
        short if short < 0x80 => (Some(usize::from(short)), false),
        long => {
            let count = usize::from(long & 0x7F);
            if count > 4 {
                return Err(err(BerErrorKind::BadLength, tag_end));
            }
            let mut value: usize = 0;
            for _ in 0..count {
                value = (value << 8) | usize::from(byte(at)?);
                at += 1;
            }
            // DER: long form only for 128 and up, and no leading zero byte.
            let shortest = match value {
                0..=0x7F => 0,
                0x80..=0xFF => 1,
                0x100..=0xFFFF => 2,
                0x1_0000..=0xFF_FFFF => 3,
                _ => 4,
            };
            (Some(value), shortest != count)
        }
    };
    Ok(Header {
        first,
        start: pos,
        tag_end,
        content_start: at,
        length,
        padded_length,
    })
}

/// First pass: checks the structure, counts, and records the DER contents
/// length of every constructed element in pre-order.
struct Measure<'a> {
    input: &'a [u8],
    lengths: Vec<usize>,
    elements: usize,
    changed: bool,
}

impl Measure<'_> {
    /// Measures the element at `pos`; returns where it ends in the input and
    /// its DER encoded length.
    fn element(&mut self, pos: usize, depth: usize) -> Result<(usize, usize), BerError> {
        if depth > MAX_DEPTH {
            return Err(err(BerErrorKind::TooDeep, pos));
        }
        self.elements += 1;
        if self.elements > MAX_ELEMENTS {
            return Err(err(BerErrorKind::TooManyElements, pos));
        }
        let h = read_header(self.input, pos)?;
        if h.is_end_of_contents() {
            return Err(err(BerErrorKind::UnexpectedEndOfContents, pos));
        }
        if h.padded_length {
            self.changed = true;
        }
        let tag_len = h.tag_end - h.start;
        if !h.constructed() {
            let Some(len) = h.length else {
                return Err(err(BerErrorKind::IndefinitePrimitive, pos));
            };
            let end = self.contents_end(&h, len)?;
            return Ok((end, tag_len + der_length_len(len) + len));
        }
        if h.first == 0x24 {
            self.changed = true;
        }
        let slot = self.lengths.len();
        self.lengths.push(0);
        let (end, content_len) = if h.first == 0x24 {
            self.octet_segments(&h, depth)?
        } else {
            self.children(&h, depth)?
        };
        if let Some(l) = self.lengths.get_mut(slot) {
            *l = content_len;
        }
        Ok((end, tag_len + der_length_len(content_len) + content_len))
    }

    /// End of a definite-length element's contents, checked against the input.
    fn contents_end(&self, h: &Header, len: usize) -> Result<usize, BerError> {
        match h.content_start.checked_add(len) {
            Some(end) if end <= self.input.len() => Ok(end),
            _ => Err(err(BerErrorKind::Truncated, h.start)),
        }
    }

    /// Walks the children of a constructed element; returns where it ends and
    /// the DER length of its contents.
    fn children(&mut self, h: &Header, depth: usize) -> Result<(usize, usize), BerError> {
        let mut pos = h.content_start;
        let mut total = 0usize;
        match h.length {
            Some(len) => {
                let end = self.contents_end(h, len)?;
                while pos < end {
                    let (child_end, child_len) = self.element(pos, depth + 1)?;
                    if child_end > end {
                        return Err(err(BerErrorKind::Truncated, pos));
                    }
                    pos = child_end;
                    total += child_len;
                }
                Ok((end, total))
            }
            None => {
                self.changed = true;
                loop {
                    let child = read_header(self.input, pos)?;
                    if child.is_end_of_contents() {
                        if child.length != Some(0) {
                            return Err(err(BerErrorKind::UnexpectedEndOfContents, pos));
                        }
                        return Ok((child.content_start, total));
                    }
                    let (child_end, child_len) = self.element(pos, depth + 1)?;
                    pos = child_end;
                    total += child_len;
                }
            }
        }
    }

    /// Walks the segments of a constructed OCTET STRING; returns where it ends
    /// and the total length of the primitive segments.
    fn octet_segments(&mut self, h: &Header, depth: usize) -> Result<(usize, usize), BerError> {
        let mut pos = h.content_start;
        let mut total = 0usize;
        let end = match h.length {
            Some(len) => Some(self.contents_end(h, len)?),
            None => None,
        };
        loop {
            if let Some(end) = end
                && pos >= end
            {
                return Ok((end, total));
            }
            if depth + 1 > MAX_DEPTH {
                return Err(err(BerErrorKind::TooDeep, pos));
            }
            let seg = read_header(self.input, pos)?;
            if end.is_none() && seg.is_end_of_contents() {
                if seg.length != Some(0) {
                    return Err(err(BerErrorKind::UnexpectedEndOfContents, pos));
                }
                return Ok((seg.content_start, total));
            }
            self.elements += 1;
            if self.elements > MAX_ELEMENTS {
                return Err(err(BerErrorKind::TooManyElements, pos));
            }
            let seg_end = match (seg.first, seg.length) {
                (0x04, Some(len)) => {
                    total += len;
                    self.contents_end(&seg, len)?
                }
                (0x04, None) => return Err(err(BerErrorKind::IndefinitePrimitive, pos)),
                (0x24, _) => {
                    let (seg_end, seg_total) = self.octet_segments(&seg, depth + 1)?;
                    total += seg_total;
                    seg_end
                }
                _ => return Err(err(BerErrorKind::BadOctetStringSegment, pos)),
            };
            if let Some(end) = end
                && seg_end > end
            {
                return Err(err(BerErrorKind::Truncated, pos));
            }
            pos = seg_end;
        }
    }
}

/// Second pass: writes DER, taking constructed lengths from the first pass.
struct Emit<'a, 'l> {
    input: &'a [u8],
    lengths: &'l [usize],
    next_length: usize,
    out: Vec<u8>,
}

impl Emit<'_, '_> {
    /// Writes the element at `pos`; returns where it ends in the input. The
    /// first pass has already checked everything this relies on, but errors
    /// are still returned rather than assumed away.
    fn element(&mut self, pos: usize, depth: usize) -> Result<usize, BerError> {
        if depth > MAX_DEPTH {
            return Err(err(BerErrorKind::TooDeep, pos));
        }
        let h = read_header(self.input, pos)?;
        let input = self.input;
        let tag = input
            .get(h.start..h.tag_end)
            .ok_or(err(BerErrorKind::Truncated, pos))?;
        if !h.constructed() {
            let len = h
                .length
                .ok_or(err(BerErrorKind::IndefinitePrimitive, pos))?;
            let end = h
                .content_start
                .checked_add(len)
                .ok_or(err(BerErrorKind::Truncated, pos))?;
            let contents = input
                .get(h.content_start..end)
                .ok_or(err(BerErrorKind::Truncated, pos))?;
            self.out.extend_from_slice(tag);
            push_der_length(&mut self.out, len);
            self.out.extend_from_slice(contents);
            return Ok(end);
        }
        let len = *self
            .lengths
            .get(self.next_length)
            .ok_or(err(BerErrorKind::Truncated, pos))?;
        self.next_length += 1;
        if h.first == 0x24 {
            self.out.push(0x04);
            push_der_length(&mut self.out, len);
            return self.octet_segments(&h, depth);
        }
        self.out.extend_from_slice(tag);
        push_der_length(&mut self.out, len);
        let mut pos = h.content_start;
        match h.length {
            Some(len) => {
                let end = h
                    .content_start
                    .checked_add(len)
                    .ok_or(err(BerErrorKind::Truncated, pos))?;
                while pos < end {
                    pos = self.element(pos, depth + 1)?;
                }
                Ok(end)
            }
            None => loop {
                let child = read_header(input, pos)?;
                if child.is_end_of_contents() {
                    return Ok(child.content_start);
                }
                pos = self.element(pos, depth + 1)?;
            },
        }
    }

    fn octet_segments(&mut self, h: &Header, depth: usize) -> Result<usize, BerError> {
        let input = self.input;
        let mut pos = h.content_start;
        let end = match h.length {
            Some(len) => Some(
                h.content_start
                    .checked_add(len)
                    .ok_or(err(BerErrorKind::Truncated, pos))?,
            ),
            None => None,
        };
        loop {
            if let Some(end) = end
                && pos >= end
            {
                return Ok(end);
            }
            let seg = read_header(input, pos)?;
            if end.is_none() && seg.is_end_of_contents() {
                return Ok(seg.content_start);
            }
            pos = match (seg.first, seg.length) {
                (0x04, Some(len)) => {
                    let seg_end = seg
                        .content_start
                        .checked_add(len)
                        .ok_or(err(BerErrorKind::Truncated, pos))?;
                    let contents = input
                        .get(seg.content_start..seg_end)
                        .ok_or(err(BerErrorKind::Truncated, pos))?;
                    self.out.extend_from_slice(contents);
                    seg_end
                }
                (0x24, _) if depth < MAX_DEPTH => self.octet_segments(&seg, depth + 1)?,
                _ => return Err(err(BerErrorKind::BadOctetStringSegment, pos)),
            };
        }
    }
}

/// How many bytes the DER length field for `len` takes.
fn der_length_len(len: usize) -> usize {
    match len {
        0..=0x7F => 1,
        0x80..=0xFF => 2,
        0x100..=0xFFFF => 3,
        0x1_0000..=0xFF_FFFF => 4,
        _ => 5,
    }
}

/// Appends the DER length field for `len` (X.690 §10.1).
pub(crate) fn push_der_length(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
        return;
    }
    let bytes = (len as u64).to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    out.push(0x80 | (bytes.len() - skip) as u8);
    out.extend_from_slice(&bytes[skip..]);
}

/// One DER element: its first tag byte, where it starts, the whole encoding
/// and the contents.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tlv<'a> {
    /// First tag byte.
    pub(crate) tag: u8,
    /// Byte offset of the element in the document being walked.
    pub(crate) offset: usize,
    /// Tag, length and contents.
    pub(crate) raw: &'a [u8],
    /// Contents only.
    pub(crate) value: &'a [u8],
}

/// Walks the elements of a DER document (or of one constructed element's
/// contents) in order, keeping absolute offsets for error messages.
#[derive(Clone, Debug)]
pub(crate) struct DerReader<'a> {
    doc: &'a [u8],
    pos: usize,
    end: usize,
}

impl<'a> DerReader<'a> {
    /// A reader over a whole document.
    pub(crate) fn new(doc: &'a [u8]) -> Self {
        Self {
            doc,
            pos: 0,
            end: doc.len(),
        }
    }

    /// Whether every element has been read.
    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.end
    }

    /// Current offset in the document.
    pub(crate) fn offset(&self) -> usize {
        self.pos
    }

    /// The first tag byte of the next element, if any.
    pub(crate) fn peek_tag(&self) -> Option<u8> {
        if self.is_empty() {
            None
        } else {
            self.doc.get(self.pos).copied()
        }
    }

    /// Reads the next element. Definite lengths only.
    pub(crate) fn read(&mut self) -> Result<Tlv<'a>, BerError> {
        if self.is_empty() {
            return Err(err(BerErrorKind::Truncated, self.pos));
        }
        let h = read_header(self.doc, self.pos)?;
        let len = h
            .length
            .ok_or(err(BerErrorKind::IndefiniteLength, self.pos))?;
        let end = h
            .content_start
            .checked_add(len)
            .filter(|end| *end <= self.end)
            .ok_or(err(BerErrorKind::Truncated, self.pos))?;
        let tlv = Tlv {
            tag: h.first,
            offset: h.start,
            raw: self
                .doc
                .get(h.start..end)
                .ok_or(err(BerErrorKind::Truncated, self.pos))?,
            value: self
                .doc
                .get(h.content_start..end)
                .ok_or(err(BerErrorKind::Truncated, self.pos))?,
        };
        self.pos = end;
        Ok(tlv)
    }

    /// A reader over the contents of `tlv`, an element this reader returned.
    pub(crate) fn enter(&self, tlv: &Tlv<'a>) -> Self {
        let start = tlv.offset + (tlv.raw.len() - tlv.value.len());
        Self {
            doc: self.doc,
            pos: start,
            end: start + tlv.value.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn der(input: &[u8]) -> Vec<u8> {
        to_der(input).unwrap().into_owned()
    }

    #[test]
    fn der_input_is_borrowed() {
        let input = [0x30, 0x06, 0x02, 0x01, 0x01, 0x04, 0x01, 0xAA];
        assert!(matches!(to_der(&input), Ok(Cow::Borrowed(_))));
    }

    #[test]
    fn indefinite_lengths_become_definite() {
        let input = [
            0x30, 0x80, 0x02, 0x01, 0x01, 0xA0, 0x80, 0x05, 0x00, 0, 0, 0, 0,
        ];
        assert_eq!(
            der(&input),
            [0x30, 0x07, 0x02, 0x01, 0x01, 0xA0, 0x02, 0x05, 0x00]
        );
    }

    #[test]
    fn padded_lengths_become_shortest() {
        let input = [0x30, 0x82, 0x00, 0x04, 0x04, 0x81, 0x01, 0xAA];
        assert_eq!(der(&input), [0x30, 0x03, 0x04, 0x01, 0xAA]);
    }

    #[test]
    fn nested_constructed_octet_strings_flatten() {
        let input = [
            0x24, 0x80, 0x04, 0x01, 1, 0x24, 0x06, 0x04, 0x01, 2, 0x04, 0x01, 3, 0x04, 0x00, 0, 0,
        ];
        assert_eq!(der(&input), [0x04, 0x03, 1, 2, 3]);
    }

    #[test]
    fn long_contents_get_long_lengths() {
        let mut input = vec![0x24, 0x80];
        for _ in 0..3 {
            input.extend_from_slice(&[0x04, 0x64]);
            input.extend_from_slice(&[7u8; 100]);
        }
        input.extend_from_slice(&[0, 0]);
        let out = der(&input);
        assert_eq!(&out[..4], &[0x04, 0x82, 0x01, 0x2C]);
        assert_eq!(out.len(), 4 + 300);
    }

    #[test]
    fn high_tag_numbers_are_copied() {
        let input = [0xBF, 0x81, 0x00, 0x80, 0x05, 0x00, 0, 0];
        assert_eq!(der(&input), [0xBF, 0x81, 0x00, 0x02, 0x05, 0x00]);
    }

    #[test]
    fn errors_carry_kind_and_offset() {
        let cases: &[(&[u8], BerErrorKind, usize)] = &[
            (&[], BerErrorKind::Empty, 0),
            (&[0x30], BerErrorKind::Truncated, 1),
            (&[0x30, 0x03, 0x02, 0x01], BerErrorKind::Truncated, 0),
            (&[0x02, 0x01, 0x00, 0x00], BerErrorKind::TrailingData, 3),
            (&[0x04, 0x80, 0, 0], BerErrorKind::IndefinitePrimitive, 0),
            (&[0x30, 0x80, 0x05, 0x00], BerErrorKind::Truncated, 4),
            (
                &[0x30, 0x02, 0x00, 0x00],
                BerErrorKind::UnexpectedEndOfContents,
                2,
            ),
            (
                &[0x30, 0x80, 0x00, 0x01, 0x00],
                BerErrorKind::UnexpectedEndOfContents,
                2,
            ),
            (
                &[0x24, 0x03, 0x02, 0x01, 0x00],
                BerErrorKind::BadOctetStringSegment,
                2,
            ),
            (&[0x04, 0xFF], BerErrorKind::BadLength, 1),
            (&[0x04, 0x85, 1, 1, 1, 1, 1], BerErrorKind::BadLength, 1),
            (
                &[0x1F, 0x81, 0x81, 0x81, 0x81, 0x01, 0x00],
                BerErrorKind::TagTooLong,
                0,
            ),
        ];
        for (input, kind, offset) in cases {
            let e = to_der(input).unwrap_err();
            assert_eq!((e.kind, e.offset), (*kind, *offset), "input {input:02x?}");
        }
    }

    #[test]
    fn depth_is_bounded() {
        let mut input = Vec::new();
        for _ in 0..=MAX_DEPTH + 1 {
            input.extend_from_slice(&[0x30, 0x80]);
        }
        let e = to_der(&input).unwrap_err();
        assert_eq!(e.kind, BerErrorKind::TooDeep);

        let mut octets = Vec::new();
        for _ in 0..=MAX_DEPTH + 1 {
            octets.extend_from_slice(&[0x24, 0x80]);
        }
        let e = to_der(&octets).unwrap_err();
        assert_eq!(e.kind, BerErrorKind::TooDeep);
    }

    #[test]
    fn element_count_is_bounded() {
        let mut input = vec![0x30, 0x80];
        for _ in 0..MAX_ELEMENTS {
            input.extend_from_slice(&[0x05, 0x00]);
        }
        input.extend_from_slice(&[0, 0]);
        assert_eq!(
            to_der(&input).unwrap_err().kind,
            BerErrorKind::TooManyElements
        );
    }

    #[test]
    fn reader_walks_with_offsets() {
        let doc = [0x30, 0x06, 0x02, 0x01, 0x05, 0x04, 0x01, 0xAA];
        let mut top = DerReader::new(&doc);
        let seq = top.read().unwrap();
        assert!(top.is_empty());
        let mut inner = top.enter(&seq);
        assert_eq!(inner.peek_tag(), Some(0x02));
        let int = inner.read().unwrap();
        assert_eq!((int.offset, int.value), (2, &[5u8][..]));
        let oct = inner.read().unwrap();
        assert_eq!((oct.offset, oct.raw), (5, &[0x04, 0x01, 0xAA][..]));
        assert!(inner.is_empty());
        assert_eq!(inner.read().unwrap_err().kind, BerErrorKind::Truncated);
    }

    #[test]
    fn arbitrary_input_never_panics() {
        // A cheap deterministic sweep; the fuzz target does the real work.
        let mut state = 0x1234_5678u32;
        for len in 0..200 {
            let input: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    [0x30, 0x80, 0x24, 0x04, 0x00, 0x01, 0x02, state as u8]
                        [(state >> 8) as usize % 8]
                })
                .collect();
            if let Ok(out) = to_der(&input) {
                // What comes out is DER: normalising it again changes nothing.
                assert!(matches!(to_der(&out), Ok(Cow::Borrowed(_))));
            }
        }
    }
}
