//! Element headers (X.690 §8.1.2, §8.1.3), the DER element reader and the
//! DER length writer.

use crate::error::{Error, ErrorKind, Result};

/// One element's header, as read from BER.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Header {
    /// First tag byte (class, constructed bit, low tag number or `0x1F`).
    pub(crate) first: u8,
    /// Where the tag starts.
    pub(crate) start: usize,
    /// Where the tag ends (and the length field starts).
    pub(crate) tag_end: usize,
    /// Where the contents start.
    pub(crate) content_start: usize,
    /// The contents' length, or `None` for an indefinite length.
    pub(crate) length: Option<usize>,
    /// Whether the length was not in DER's shortest form.
    pub(crate) padded_length: bool,
}

impl Header {
    pub(crate) fn constructed(&self) -> bool {
        self.first & 0x20 != 0
    }

    /// `00 00` (or `00` with any length: the caller checks the length).
    pub(crate) fn is_end_of_contents(&self) -> bool {
        self.first == 0 && self.tag_end == self.start + 1
    }

    /// End of a definite-length element's contents, checked against `limit`.
    pub(crate) fn contents_end(&self, len: usize, limit: usize) -> Result<usize> {
        match self.content_start.checked_add(len) {
            Some(end) if end <= limit => Ok(end),
            _ => Err(Error::new(ErrorKind::Truncated, self.start)),
        }
    }
}

/// Reads an element header at `pos` of `input`. The contents are not checked
/// against the end of the input; callers do that.
pub(crate) fn read_header(input: &[u8], pos: usize) -> Result<Header> {
    let byte = |at: usize| -> Result<u8> {
        input
            .get(at)
            .copied()
            .ok_or(Error::new(ErrorKind::Truncated, at))
    };
    let first = byte(pos)?;
    let mut at = pos + 1;
    if first & 0x1F == 0x1F {
        // High tag number form: base-128 digits, the last one without bit 8.
        loop {
            let b = byte(at)?;
            at += 1;
            if at - pos > 5 {
                return Err(Error::new(ErrorKind::TagTooLong, pos));
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
        0xFF => return Err(Error::new(ErrorKind::BadLength, tag_end)),
        short if short < 0x80 => (Some(usize::from(short)), false),
        long => {
            let count = usize::from(long & 0x7F);
            if count > 4 {
                return Err(Error::new(ErrorKind::BadLength, tag_end));
            }
            let mut value: usize = 0;
            for _ in 0..count {
                value = (value << 8) | usize::from(byte(at)?);
                at += 1;
            }
            // DER: long form only for 128 and up, and no leading zero byte.
            let shortest = length_len(value) - 1;
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

/// How many bytes the DER length field for `len` takes.
pub(crate) fn length_len(len: usize) -> usize {
    if len < 0x80 {
        1
    } else {
        let significant = (u64::BITS - (len as u64).leading_zeros()).div_ceil(8);
        1 + significant as usize
    }
}

/// Appends the DER length field for `len` (X.690 §10.1: the definite form,
/// as short as possible).
///
/// ```
/// let mut out = Vec::new();
/// pippin_ber::push_length(&mut out, 5);
/// pippin_ber::push_length(&mut out, 300);
/// assert_eq!(out, [0x05, 0x82, 0x01, 0x2C]);
/// ```
pub fn push_length(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
        return;
    }
    let bytes = (len as u64).to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    // At most 8 significant bytes, so the count fits the low 7 bits.
    out.push(0x80 | (bytes.len() - skip) as u8);
    out.extend_from_slice(&bytes[skip..]);
}

/// Appends one DER element: `tag` (a one-byte tag), the length of `value`,
/// and `value`.
///
/// ```
/// let mut out = Vec::new();
/// pippin_ber::push_tlv(&mut out, 0x04, b"hi");
/// assert_eq!(out, [0x04, 0x02, b'h', b'i']);
/// ```
pub fn push_tlv(out: &mut Vec<u8>, tag: u8, value: &[u8]) {
    out.push(tag);
    push_length(out, value.len());
    out.extend_from_slice(value);
}

/// One DER element, as returned by [`Reader::read`].
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct Tlv<'a> {
    /// First tag byte (class, constructed bit and tag number, or `0x1F` for
    /// the high tag number form).
    pub tag: u8,
    /// Byte offset of the element in the document being walked.
    pub offset: usize,
    /// Tag, length and contents.
    pub raw: &'a [u8],
    /// Contents only.
    pub value: &'a [u8],
}

impl Tlv<'_> {
    /// Byte offset of the contents in the document being walked.
    pub fn value_offset(&self) -> usize {
        self.offset + (self.raw.len() - self.value.len())
    }
}

/// Walks the elements of a DER document (or of one constructed element's
/// contents) in order, keeping absolute offsets for error messages.
///
/// The reader accepts definite lengths only; run BER through
/// [`to_der`](crate::to_der) first. It checks structure (every element fits
/// in its parent), not DER's other rules.
///
/// ```
/// use pippin_ber::Reader;
///
/// // SEQUENCE { INTEGER 5, OCTET STRING AA }
/// let doc = [0x30, 0x06, 0x02, 0x01, 0x05, 0x04, 0x01, 0xAA];
/// let mut top = Reader::new(&doc);
/// let seq = top.read()?;
/// let mut inner = top.enter(&seq);
/// assert_eq!(inner.read()?.value, [5]);
/// let octets = inner.read()?;
/// assert_eq!((octets.tag, octets.offset, octets.value), (0x04, 5, &[0xAA][..]));
/// assert!(inner.is_empty());
/// # Ok::<(), pippin_ber::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    doc: &'a [u8],
    pos: usize,
    end: usize,
}

impl<'a> Reader<'a> {
    /// A reader over a whole document.
    pub fn new(doc: &'a [u8]) -> Self {
        Self {
            doc,
            pos: 0,
            end: doc.len(),
        }
    }

    /// Whether every element has been read.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.end
    }

    /// Current offset in the document.
    pub fn offset(&self) -> usize {
        self.pos
    }

    /// The first tag byte of the next element, if any.
    pub fn peek_tag(&self) -> Option<u8> {
        if self.is_empty() {
            None
        } else {
            self.doc.get(self.pos).copied()
        }
    }

    /// Reads the next element. Definite lengths only.
    pub fn read(&mut self) -> Result<Tlv<'a>> {
        if self.is_empty() {
            return Err(Error::new(ErrorKind::Truncated, self.pos));
        }
        let h = read_header(self.doc, self.pos)?;
        let len = h
            .length
            .ok_or(Error::new(ErrorKind::IndefiniteLength, self.pos))?;
        let end = h.contents_end(len, self.end)?;
        let truncated = Error::new(ErrorKind::Truncated, self.pos);
        let tlv = Tlv {
            tag: h.first,
            offset: h.start,
            raw: self.doc.get(h.start..end).ok_or(truncated)?,
            value: self.doc.get(h.content_start..end).ok_or(truncated)?,
        };
        self.pos = end;
        Ok(tlv)
    }

    /// A reader over the contents of `tlv`, an element this reader (or one
    /// over the same document) returned.
    pub fn enter(&self, tlv: &Tlv<'a>) -> Self {
        let start = tlv.value_offset();
        Self {
            doc: self.doc,
            pos: start,
            end: start + tlv.value.len(),
        }
    }
}
