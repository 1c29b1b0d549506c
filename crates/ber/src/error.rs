//! The crate's error type.

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Why BER (or DER) could not be read.
///
/// Cheap to build and copy: no allocation. `offset` is the byte position in
/// the input where the problem was found.
#[derive(Clone, Copy, Debug, Eq, PartialEq, thiserror::Error)]
#[error("{kind} at byte {offset}")]
pub struct Error {
    /// What is wrong.
    pub kind: ErrorKind,
    /// Where, as a byte offset into the input.
    pub offset: usize,
}

impl Error {
    /// An error of `kind` at `offset`.
    pub const fn new(kind: ErrorKind, offset: usize) -> Self {
        Self { kind, offset }
    }
}

/// The kinds of [`Error`].
#[derive(Clone, Copy, Debug, Eq, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input ends inside an element.
    #[error("input ends inside an element")]
    Truncated,
    /// The input is empty.
    #[error("empty input")]
    Empty,
    /// Bytes follow the single top-level element.
    #[error("data after the top-level element")]
    TrailingData,
    /// A multi-byte tag number is longer than this reader allows (4 bytes
    /// after the first tag byte).
    #[error("tag number too long")]
    TagTooLong,
    /// The reserved length byte `0xFF`, or a length field over 4 bytes.
    #[error("unsupported length encoding")]
    BadLength,
    /// An indefinite length on a primitive element (X.690 §8.1.3.2).
    #[error("indefinite length on a primitive element")]
    IndefinitePrimitive,
    /// An indefinite length where DER is required ([`Reader`](crate::Reader)).
    #[error("indefinite length where DER is required")]
    IndefiniteLength,
    /// An end-of-contents marker (`00 00`) outside an indefinite-length
    /// element, or a malformed one.
    #[error("misplaced end-of-contents marker")]
    UnexpectedEndOfContents,
    /// A segment of a constructed string is not a string of the same type
    /// (X.690 §8.6.4, §8.7.3, §8.23.6).
    #[error("constructed string holds a segment of another type")]
    BadStringSegment,
    /// A BIT STRING segment without its unused-bits octet, with more than 7
    /// unused bits, or with unused bits before the last segment (X.690 §8.6).
    #[error("malformed BIT STRING segment")]
    BadBitString,
    /// Elements nest deeper than [`Limits::max_depth`](crate::Limits::max_depth).
    #[error("elements nest too deep")]
    TooDeep,
    /// More elements than [`Limits::max_elements`](crate::Limits::max_elements).
    #[error("too many elements")]
    TooManyElements,
}
