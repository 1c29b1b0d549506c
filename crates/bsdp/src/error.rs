//! The crate's error types.

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A DHCP packet or a BSDP option could not be read.
    #[error("decoding: {0}")]
    Decode(DecodeError),
    /// A value could not be written.
    #[error("encoding: {0}")]
    Encode(EncodeError),
    /// An `NBImageInfo.plist` is not a usable image description.
    #[error("NBImageInfo: {0}")]
    ImageInfo(ImageInfoError),
    /// Reading an images directory or a socket failed.
    #[error("I/O: {0}")]
    Io(std::io::Error),
}

// The variants show their cause in their own message, so they name no
// `source()`: error reports that print the chain would say it twice.
macro_rules! from_cause {
    ($($variant:ident($t:ty)),*) => {
        $(impl From<$t> for Error {
            fn from(e: $t) -> Self {
                Self::$variant(e)
            }
        })*
    };
}
from_cause!(
    Decode(DecodeError),
    Encode(EncodeError),
    ImageInfo(ImageInfoError),
    Io(std::io::Error)
);

/// What was wrong with the bytes being decoded, and where.
///
/// Cheap to build: no allocation. `offset` counts bytes from the start of
/// the input given to the decoder (for a BSDP option, from the start of the
/// joined option-43 payload).
#[derive(Clone, Copy, Debug, Eq, PartialEq, thiserror::Error)]
#[error("{kind} at offset {offset}")]
pub struct DecodeError {
    /// The kind of problem.
    pub kind: DecodeErrorKind,
    /// Byte offset where it was found.
    pub offset: usize,
}

impl DecodeError {
    pub(crate) const fn new(kind: DecodeErrorKind, offset: usize) -> Self {
        Self { kind, offset }
    }
}

/// The kinds of [`DecodeError`].
#[derive(Clone, Copy, Debug, Eq, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The input ends inside the fixed BOOTP header or inside an option.
    #[error("truncated")]
    Truncated,
    /// The four bytes after the BOOTP header are not the DHCP magic cookie
    /// `99.130.83.99`.
    #[error("no DHCP magic cookie")]
    BadMagicCookie,
    /// `op` is neither BOOTREQUEST (1) nor BOOTREPLY (2).
    #[error("bad op")]
    BadOp,
    /// Option 52 (overload) is not one byte of 1, 2 or 3, or appears
    /// outside the options field.
    #[error("bad option overload")]
    BadOverload,
    /// An option's or sub-option's length does not fit its type.
    #[error("bad length")]
    BadLength,
    /// A value is out of its range (a message type, an image name).
    #[error("bad value")]
    BadValue,
    /// Option 60 is not an Apple BSDP class identifier.
    #[error("not a BSDP vendor class")]
    NotBsdp,
}

/// Why a value could not be encoded.
#[derive(Clone, Copy, Debug, Eq, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The caller's buffer is smaller than the encoding; `needed` bytes are.
    #[error("buffer too small: {needed} bytes needed")]
    BufferTooSmall {
        /// Bytes the encoding takes.
        needed: usize,
    },
    /// Options 0 (pad), 52 (overload) and 255 (end) are written by the
    /// encoder itself, never taken from the option list.
    #[error("option code {0} is reserved")]
    ReservedOption(u8),
    /// A field or sub-option is longer than the wire format allows.
    #[error("{0} too long")]
    TooLong(&'static str),
}

/// Why an `NBImageInfo.plist` was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImageInfoError {
    /// Not a property list (XML or binary), or over the limits.
    #[error("not a property list: {0}")]
    Plist(#[from] pippin_plist::Error),
    /// The root is not a dictionary.
    #[error("the root is not a dictionary")]
    NotADictionary,
    /// A required key is missing.
    #[error("missing key {0}")]
    Missing(&'static str),
    /// A key holds a value of the wrong type.
    #[error("key {key} is not {expected}")]
    WrongType {
        /// The key.
        key: &'static str,
        /// What it should be.
        expected: &'static str,
    },
    /// `Index` is outside 1..=65535.
    #[error("Index {0} is outside 1..=65535")]
    IndexOutOfRange(i128),
    /// `Kind` is outside 0..=127.
    #[error("Kind {0} is outside 0..=127")]
    KindOutOfRange(i128),
    /// `Type` is not `NFS`, `HTTP` or `BootFileOnly`.
    #[error("unknown Type {0:?}")]
    UnknownType(String),
    /// A MAC address in a filter list is not six hex octets.
    #[error("bad MAC address {0:?}")]
    BadMacAddress(String),
    /// `LoadBalanceServer` is not an IPv4 address.
    #[error("LoadBalanceServer {0:?} is not an IPv4 address")]
    BadLoadBalanceServer(String),
    /// A path (`BootFile`, `RootPath`) is empty, or `BootFile` climbs out
    /// of its folder.
    #[error("bad {0}")]
    BadPath(&'static str),
}
