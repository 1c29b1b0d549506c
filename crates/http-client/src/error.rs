//! The crate's error type.

use std::time::Duration;

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// What can go wrong sending a request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The base URL is not usable (`https://host[:port][/prefix]`, or
    /// `http://` for a loopback host only).
    #[error("invalid base URL `{0}`: use https://host[:port][/path], or http:// on loopback only")]
    InvalidBaseUrl(String),
    /// A request's URL cannot be sent (no host, a scheme other than
    /// `https`, or plain `http` off loopback).
    #[error("refusing to send a request to `{0}`: only https://, or http:// on loopback")]
    InvalidUrl(String),
    /// TLS configuration failed (no usable trust anchors, ...).
    #[error("TLS: {0}")]
    Tls(String),
    /// Connecting (TCP or the TLS handshake) failed.
    #[error("connecting: {0}")]
    Connect(String),
    /// The HTTP exchange failed before a complete response arrived.
    #[error("HTTP: {0}")]
    Http(String),
    /// No complete response arrived within the request timeout.
    #[error("no response within {0:?}")]
    Timeout(Duration),
    /// The response body is longer than the configured limit.
    #[error("the response body is longer than {limit} bytes")]
    BodyTooLarge {
        /// The limit.
        limit: usize,
    },
}

impl Error {
    /// Whether sending the same request again later may succeed (transport
    /// failures and timeouts; not configuration errors or oversized
    /// bodies).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Connect(_) | Self::Http(_) | Self::Timeout(_))
    }
}
