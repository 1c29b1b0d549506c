//! The BER → DER rewrite (X.690 §8 → §10).
//!
//! Two walks over the input. The first checks the structure and the bounds
//! and notes whether anything differs from DER; DER input stops there and is
//! returned borrowed. Otherwise a second walk records what to write (a short
//! list of copy and header operations, with the lengths of constructed
//! elements filled in once their children are measured) and the output is
//! written from that list in one go, with no per-level scratch buffers.

use std::borrow::Cow;

use crate::error::{Error, ErrorKind, Result};
use crate::reader::{Header, length_len, push_length, read_header};

/// Bounds on what [`to_der_with`] accepts.
///
/// `Default` gives [`Limits::DEFAULT_MAX_DEPTH`] and
/// [`Limits::DEFAULT_MAX_ELEMENTS`]; the setters chain:
///
/// ```
/// let mut limits = pippin_ber::Limits::default();
/// limits.max_depth(32).max_elements(20_000);
/// let deep = [0x30, 0x80, 0x30, 0x80, 0, 0, 0, 0];
/// assert!(pippin_ber::to_der_with(&deep, &limits).is_ok());
/// assert!(pippin_ber::to_der_with(&deep, limits.max_depth(0)).is_err());
/// ```
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Limits {
    max_depth: usize,
    max_elements: usize,
}

impl Limits {
    /// Default nesting bound: CMS with certificates needs about 12 levels.
    pub const DEFAULT_MAX_DEPTH: usize = 64;
    /// Default element bound: a CMS `SignedData` with a chain of three
    /// certificates holds a few hundred elements.
    pub const DEFAULT_MAX_ELEMENTS: usize = 100_000;

    /// The deepest nesting accepted: the top-level element is at depth 0,
    /// its children at depth 1, and so on; an element deeper than `depth` is
    /// [`ErrorKind::TooDeep`]. Segments of a constructed string count as a
    /// level. Each level takes a little stack, so keep this in the hundreds.
    pub fn max_depth(&mut self, depth: usize) -> &mut Self {
        self.max_depth = depth;
        self
    }

    /// The most elements (TLVs, including string segments) one input may
    /// hold; one more is [`ErrorKind::TooManyElements`].
    pub fn max_elements(&mut self, count: usize) -> &mut Self {
        self.max_elements = count;
        self
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_depth: Self::DEFAULT_MAX_DEPTH,
            max_elements: Self::DEFAULT_MAX_ELEMENTS,
        }
    }
}

/// Rewrites one BER element spanning all of `input` as DER, within the
/// default [`Limits`]. See [`to_der_with`].
///
/// ```
/// use std::borrow::Cow;
///
/// // SEQUENCE (indefinite) { constructed OCTET STRING (indefinite) { "ab", "c" } }
/// let ber = [0x30, 0x80, 0x24, 0x80, 0x04, 0x02, b'a', b'b', 0x04, 0x01, b'c', 0, 0, 0, 0];
/// assert_eq!(&*pippin_ber::to_der(&ber)?, &[0x30, 0x05, 0x04, 0x03, b'a', b'b', b'c']);
///
/// // DER comes back borrowed.
/// let der = [0x30, 0x03, 0x02, 0x01, 0x05];
/// assert!(matches!(pippin_ber::to_der(&der)?, Cow::Borrowed(_)));
/// # Ok::<(), pippin_ber::Error>(())
/// ```
pub fn to_der(input: &[u8]) -> Result<Cow<'_, [u8]>> {
    to_der_with(input, &Limits::default())
}

/// Rewrites one BER element spanning all of `input` as DER, within `limits`.
///
/// What changes (X.690 §8.1.3, §8.6, §8.7, §8.23, §10.1, §10.2):
///
/// * indefinite lengths (`0x80` … `00 00`) become definite lengths;
/// * definite lengths in long or padded form become the shortest form;
/// * a constructed universal string (BIT STRING, OCTET STRING or a character
///   string type) becomes one primitive string holding its segments'
///   contents, concatenated in order (nested constructed segments too).
///
/// Nothing else changes: tags are copied byte for byte, primitive contents
/// are copied as they are, and the elements of a `SET OF` keep their order,
/// so a signature made over a non-canonical part of the input still
/// verifies over the output. The input must be exactly one element. When it
/// is already DER in this sense it is returned borrowed, without a copy.
///
/// Errors carry the byte offset in `input` where the problem was found. No
/// input makes this function panic.
pub fn to_der_with<'a>(input: &'a [u8], limits: &Limits) -> Result<Cow<'a, [u8]>> {
    if input.is_empty() {
        return Err(Error::new(ErrorKind::Empty, 0));
    }
    let mut check = Walk::new(input, limits, None);
    let (end, total) = check.element(0, 0)?;
    if end != input.len() {
        return Err(Error::new(ErrorKind::TrailingData, end));
    }
    if !check.changed {
        return Ok(Cow::Borrowed(input));
    }
    let mut record = Walk::new(input, limits, Some(Vec::new()));
    record.element(0, 0)?;
    let ops = record.ops.unwrap_or_default();
    let mut out = Vec::with_capacity(total);
    for op in ops {
        match op {
            Op::Head {
                tag_start,
                tag_end,
                primitive,
                len,
            } => {
                let tag = input
                    .get(tag_start..tag_end)
                    .ok_or(Error::new(ErrorKind::Truncated, tag_start))?;
                let (&first, rest) = tag
                    .split_first()
                    .ok_or(Error::new(ErrorKind::Truncated, tag_start))?;
                out.push(if primitive { first & !0x20 } else { first });
                out.extend_from_slice(rest);
                push_length(&mut out, len);
            }
            Op::Byte(b) => out.push(b),
            Op::Copy { start, end } => out.extend_from_slice(
                input
                    .get(start..end)
                    .ok_or(Error::new(ErrorKind::Truncated, start))?,
            ),
        }
    }
    Ok(Cow::Owned(out))
}

/// One step of writing the output.
#[derive(Clone, Copy, Debug)]
enum Op {
    /// The tag at `tag_start..tag_end` of the input (made primitive when
    /// `primitive`), then the DER length `len`.
    Head {
        tag_start: usize,
        tag_end: usize,
        primitive: bool,
        len: usize,
    },
    /// One byte (the unused-bits octet of a flattened BIT STRING).
    Byte(u8),
    /// Input bytes `start..end`, unchanged.
    Copy { start: usize, end: usize },
}

/// Whether a first tag byte is a constructed universal string type whose
/// DER form is primitive (X.690 §10.2): BIT STRING, OCTET STRING,
/// UTF8String, NumericString … VisibleString, GraphicString, GeneralString,
/// UniversalString, BMPString. Returns whether it is a BIT STRING.
fn constructed_string(first: u8) -> Option<bool> {
    match first {
        0x23 => Some(true),
        0x24 | 0x2C | 0x32..=0x36 | 0x39..=0x3A | 0x3C | 0x3E => Some(false),
        _ => None,
    }
}

/// Running totals while flattening a constructed string.
#[derive(Default)]
struct Flat {
    /// Contents bytes so far (for a BIT STRING, not counting the unused-bits
    /// octets).
    len: usize,
    /// Unused bits of the last BIT STRING segment seen.
    unused: u8,
}

struct Walk<'a, 'l> {
    input: &'a [u8],
    limits: &'l Limits,
    elements: usize,
    changed: bool,
    ops: Option<Vec<Op>>,
}

impl<'a, 'l> Walk<'a, 'l> {
    fn new(input: &'a [u8], limits: &'l Limits, ops: Option<Vec<Op>>) -> Self {
        Self {
            input,
            limits,
            elements: 0,
            changed: false,
            ops,
        }
    }

    /// Counts one more element at `pos` at `depth`, within the limits.
    fn enter(&mut self, pos: usize, depth: usize) -> Result<()> {
        if depth > self.limits.max_depth {
            return Err(Error::new(ErrorKind::TooDeep, pos));
        }
        self.elements += 1;
        if self.elements > self.limits.max_elements {
            return Err(Error::new(ErrorKind::TooManyElements, pos));
        }
        Ok(())
    }

    /// Records an operation (second walk only); returns its index.
    fn push(&mut self, op: Op) -> usize {
        let Some(ops) = &mut self.ops else {
            return 0;
        };
        // Adjacent copies merge, which keeps the list short for primitive runs.
        if let (Op::Copy { start, end }, Some(Op::Copy { end: last_end, .. })) =
            (op, ops.last_mut())
            && *last_end == start
        {
            *last_end = end;
            return ops.len() - 1;
        }
        ops.push(op);
        ops.len() - 1
    }

    /// Fills in the length of the header recorded at `slot`.
    fn set_len(&mut self, slot: usize, new_len: usize) {
        if let Some(Op::Head { len, .. }) = self.ops.as_mut().and_then(|ops| ops.get_mut(slot)) {
            *len = new_len;
        }
    }

    /// Fills in the byte recorded at `slot`.
    fn set_byte(&mut self, slot: usize, value: u8) {
        if let Some(Op::Byte(b)) = self.ops.as_mut().and_then(|ops| ops.get_mut(slot)) {
            *b = value;
        }
    }

    fn head(&mut self, h: &Header, primitive: bool, len: usize) -> usize {
        self.push(Op::Head {
            tag_start: h.start,
            tag_end: h.tag_end,
            primitive,
            len,
        })
    }

    /// Walks the element at `pos`; returns where it ends in the input and
    /// the length of its DER encoding.
    fn element(&mut self, pos: usize, depth: usize) -> Result<(usize, usize)> {
        self.enter(pos, depth)?;
        let h = read_header(self.input, pos)?;
        if h.is_end_of_contents() {
            return Err(Error::new(ErrorKind::UnexpectedEndOfContents, pos));
        }
        if h.padded_length {
            self.changed = true;
        }
        let tag_len = h.tag_end - h.start;
        if !h.constructed() {
            let Some(len) = h.length else {
                return Err(Error::new(ErrorKind::IndefinitePrimitive, pos));
            };
            let end = h.contents_end(len, self.input.len())?;
            self.head(&h, false, len);
            self.push(Op::Copy {
                start: h.content_start,
                end,
            });
            return Ok((end, tag_len + length_len(len) + len));
        }
        if let Some(bit_string) = constructed_string(h.first) {
            self.changed = true;
            let slot = self.head(&h, true, 0);
            let unused_slot = bit_string.then(|| self.push(Op::Byte(0)));
            let mut flat = Flat::default();
            let end = self.segments(&h, bit_string, depth, &mut flat)?;
            let len = flat.len + usize::from(bit_string);
            self.set_len(slot, len);
            if let Some(unused_slot) = unused_slot {
                self.set_byte(unused_slot, flat.unused);
            }
            return Ok((end, tag_len + length_len(len) + len));
        }
        let slot = self.head(&h, false, 0);
        let (end, len) = self.children(&h, depth)?;
        self.set_len(slot, len);
        Ok((end, tag_len + length_len(len) + len))
    }

    /// Walks the children of a constructed element; returns where it ends and
    /// the DER length of its contents.
    fn children(&mut self, h: &Header, depth: usize) -> Result<(usize, usize)> {
        let mut pos = h.content_start;
        let mut total = 0usize;
        match h.length {
            Some(len) => {
                let end = h.contents_end(len, self.input.len())?;
                while pos < end {
                    let (child_end, child_len) = self.element(pos, depth + 1)?;
                    if child_end > end {
                        return Err(Error::new(ErrorKind::Truncated, pos));
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
                            return Err(Error::new(ErrorKind::UnexpectedEndOfContents, pos));
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

    /// Walks the segments of the constructed string `h` (first tag byte
    /// `h.first`), recording their contents; returns where it ends.
    fn segments(
        &mut self,
        h: &Header,
        bit_string: bool,
        depth: usize,
        flat: &mut Flat,
    ) -> Result<usize> {
        let end = match h.length {
            Some(len) => Some(h.contents_end(len, self.input.len())?),
            None => None,
        };
        let primitive_tag = h.first & !0x20;
        let mut pos = h.content_start;
        loop {
            if let Some(end) = end
                && pos >= end
            {
                return Ok(end);
            }
            let seg = read_header(self.input, pos)?;
            if end.is_none() && seg.is_end_of_contents() {
                if seg.length != Some(0) {
                    return Err(Error::new(ErrorKind::UnexpectedEndOfContents, pos));
                }
                return Ok(seg.content_start);
            }
            self.enter(pos, depth + 1)?;
            let seg_end = if seg.first == h.first {
                self.segments(&seg, bit_string, depth + 1, flat)?
            } else if seg.first == primitive_tag && seg.tag_end == seg.start + 1 {
                let Some(len) = seg.length else {
                    return Err(Error::new(ErrorKind::IndefinitePrimitive, pos));
                };
                let seg_end = seg.contents_end(len, self.input.len())?;
                let mut start = seg.content_start;
                if bit_string {
                    // Only the last segment may leave bits unused.
                    let unused = *self
                        .input
                        .get(start)
                        .filter(|_| len > 0 && flat.unused == 0)
                        .ok_or(Error::new(ErrorKind::BadBitString, pos))?;
                    if unused > 7 || (unused > 0 && len == 1) {
                        return Err(Error::new(ErrorKind::BadBitString, pos));
                    }
                    flat.unused = unused;
                    start += 1;
                }
                flat.len += seg_end - start;
                self.push(Op::Copy {
                    start,
                    end: seg_end,
                });
                seg_end
            } else {
                return Err(Error::new(ErrorKind::BadStringSegment, pos));
            };
            if let Some(end) = end
                && seg_end > end
            {
                return Err(Error::new(ErrorKind::Truncated, pos));
            }
            pos = seg_end;
        }
    }
}
