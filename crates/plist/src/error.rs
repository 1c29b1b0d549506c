//! The crate's error type.

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A property list could not be read or written.
///
/// Cheap to make (no allocation): the kind of failure plus the byte offset in
/// the input where it was found.
#[derive(Clone, Copy, Debug, Eq, PartialEq, thiserror::Error)]
#[error("{kind} at byte {offset}")]
pub struct Error {
    kind: ErrorKind,
    offset: usize,
}

impl Error {
    /// Makes an error of `kind` found at `offset`.
    pub fn new(kind: ErrorKind, offset: usize) -> Self {
        Self { kind, offset }
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Where in the input (bytes from the start).
    pub fn offset(&self) -> usize {
        self.offset
    }
}

/// What went wrong.
#[derive(Clone, Copy, Debug, Eq, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input ended before the value did.
    #[error("unexpected end of input")]
    UnexpectedEof,
    /// The input is not well-formed XML or not a valid plist.
    #[error("malformed property list")]
    Malformed,
    /// Input larger than [`Limits::max_input_len`](crate::Limits::max_input_len),
    /// or a binary plist whose shared strings and data would decode to more
    /// bytes than four times that.
    #[error("input too large")]
    TooLarge,
    /// Arrays and dictionaries nested deeper than
    /// [`Limits::max_depth`](crate::Limits::max_depth).
    #[error("nesting too deep")]
    TooDeep,
    /// More values than [`Limits::max_values`](crate::Limits::max_values).
    #[error("too many values")]
    TooManyValues,
    /// A binary plist whose array or dictionary contains itself.
    #[error("object reference cycle")]
    Cycle,
    /// An XML entity reference other than the five predefined ones (`&lt;`,
    /// `&gt;`, `&amp;`, `&apos;`, `&quot;`) and numeric character references.
    /// Entities declared in a `DOCTYPE` are never expanded.
    #[error("undefined entity reference")]
    UndefinedEntity,
}
