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
    /// Input larger than the configured maximum.
    #[error("input too large")]
    TooLarge,
    /// Arrays and dictionaries nested deeper than the configured maximum.
    #[error("nesting too deep")]
    TooDeep,
    /// More values than the configured maximum.
    #[error("too many values")]
    TooManyValues,
}
