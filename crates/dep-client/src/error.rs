//! The crate's error type.

use std::time::Duration;

use crate::response::ApiError;

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Everything that can go wrong in this crate.
///
/// The variants fall into groups a caller treats differently:
///
/// - the server token: [`MalformedToken`](Self::MalformedToken),
///   [`WrongRecipient`](Self::WrongRecipient),
///   [`Decryption`](Self::Decryption), [`TokenExpired`](Self::TokenExpired),
///   [`UnsupportedAlgorithm`](Self::UnsupportedAlgorithm) and the key
///   variants;
/// - the DEP service said no: [`Api`](Self::Api), carrying the HTTP status
///   and Apple's error code;
/// - the service answered something unreadable:
///   [`InvalidResponse`](Self::InvalidResponse),
///   [`BodyTooLarge`](Self::BodyTooLarge);
/// - a request this crate refuses to build:
///   [`InvalidRequest`](Self::InvalidRequest);
/// - the transport (feature `client`): [`Connect`](Self::Connect),
///   [`Tls`](Self::Tls), [`Http`](Self::Http), [`Timeout`](Self::Timeout),
///   [`InvalidBaseUrl`](Self::InvalidBaseUrl).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The token file is not an S/MIME (or PEM, or DER) CMS
    /// `EnvelopedData`, or what it decrypts to is not a DEP server token.
    #[error("the server token file is damaged or not a DEP token: {what}")]
    MalformedToken {
        /// What was wrong, and where.
        what: String,
    },
    /// The token was encrypted for a different certificate: none of its
    /// recipients names ours (issuer and serial number, or subject key
    /// identifier). The token was downloaded for another key pair, or for
    /// another MDM server in Apple Business Manager.
    #[error(
        "the server token was encrypted for a different certificate (recipient {recipient}), \
         not for ours (issuer {ours_issuer}, serial {ours_serial}): download it again for this \
         server's public key"
    )]
    WrongRecipient {
        /// The recipient the file names, as text.
        recipient: String,
        /// Our certificate's issuer, as text.
        ours_issuer: String,
        /// Our certificate's serial number, hex.
        ours_serial: String,
    },
    /// The token could not be decrypted with our private key. Every failure
    /// of the key transport, of the content decryption and of reading what
    /// it decrypted to gives this one error, with no detail, so that it
    /// cannot serve as a padding oracle.
    #[error(
        "the server token cannot be decrypted with this private key (or it does not hold a DEP \
         server token)"
    )]
    Decryption,
    /// An algorithm the token uses is not supported.
    #[error("unsupported algorithm {0} in the server token")]
    UnsupportedAlgorithm(String),
    /// The token's `access_token_expiry` is not after the `now` given.
    #[error(
        "the server token expired at {expiry}: renew it in Apple Business Manager (or Apple \
         School Manager) and upload the new one"
    )]
    TokenExpired {
        /// The expiry, as the token states it.
        expiry: String,
    },
    /// A private key or certificate could not be read.
    #[error("{what}: {message}")]
    Key {
        /// What the document should have held.
        what: &'static str,
        /// What was wrong with it.
        message: String,
    },
    /// The private key does not belong to the certificate.
    #[error("the private key does not match the certificate's public key")]
    KeyMismatch,
    /// Generating a key pair or certificate failed.
    #[error("generating the key pair or certificate: {0}")]
    KeyGeneration(String),
    /// The DEP service answered with an error.
    #[error("{0}")]
    Api(ApiError),
    /// A response could not be understood.
    #[error("invalid {what} response: {detail}")]
    InvalidResponse {
        /// Which response.
        what: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// A response body is longer than the configured limit.
    #[error("the response body is longer than {limit} bytes")]
    BodyTooLarge {
        /// The limit.
        limit: usize,
    },
    /// A request cannot be built from these values.
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The base URL is not usable (`https://host[:port][/prefix]`, or
    /// `http://` for a loopback address only).
    #[error("invalid DEP base URL `{0}`: use https://host[:port], or http:// on loopback only")]
    InvalidBaseUrl(String),
    /// TLS configuration or handshake failed.
    #[error("TLS: {0}")]
    Tls(String),
    /// Connecting to the DEP service failed.
    #[error("connecting to the DEP service: {0}")]
    Connect(#[source] std::io::Error),
    /// The HTTP exchange failed before a complete response arrived.
    #[error("HTTP: {0}")]
    Http(String),
    /// No complete response arrived within the request timeout.
    #[error("no response from the DEP service within {0:?}")]
    Timeout(Duration),
}

impl Error {
    /// Whether trying the same request again later may succeed: throttling
    /// (`429`), a server error (`5xx`), an unreadable response, or a
    /// transport failure. Refusals (`4xx`), token and request errors are
    /// not retryable.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Api(e) => e.status == 429 || (500..600).contains(&e.status),
            Self::InvalidResponse { .. }
            | Self::BodyTooLarge { .. }
            | Self::Connect(_)
            | Self::Http(_)
            | Self::Timeout(_) => true,
            _ => false,
        }
    }

    /// The service's error, if this is one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Self::Api(e) => Some(e),
            _ => None,
        }
    }

    pub(crate) fn malformed(what: impl Into<String>) -> Self {
        Self::MalformedToken { what: what.into() }
    }

    pub(crate) fn invalid(what: &'static str, detail: impl std::fmt::Display) -> Self {
        Self::InvalidResponse {
            what,
            detail: detail.to_string(),
        }
    }
}
