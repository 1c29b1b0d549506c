//! The crate's error type.

use std::io;

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Everything that can go wrong in this crate.
///
/// The codec and the state machines have their own cheap error types
/// ([`DecodeError`](crate::packet::DecodeError),
/// [`TransferError`](crate::TransferError), [`PathError`](crate::PathError));
/// this one gathers them for the server and client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A datagram is not a well-formed TFTP packet.
    #[error(transparent)]
    Decode(#[from] crate::packet::DecodeError),
    /// A packet does not fit the buffer given to encode it.
    #[error(transparent)]
    BufferTooSmall(#[from] crate::packet::BufferTooSmall),
    /// A transfer failed.
    #[error(transparent)]
    Transfer(#[from] crate::TransferError),
    /// A requested file name is refused.
    #[error(transparent)]
    Path(#[from] crate::PathError),
    /// A socket or file operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// The failure.
        #[source]
        source: io::Error,
    },
    /// The configuration cannot work.
    #[error("invalid configuration: {0}")]
    Config(String),
}

impl Error {
    #[cfg(any(feature = "server", feature = "client"))]
    pub(crate) fn io(context: &'static str) -> impl FnOnce(io::Error) -> Self {
        move |source| Self::Io { context, source }
    }
}
