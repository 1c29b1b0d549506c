//! The crate's error type.

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Everything that can go wrong in this crate.
///
/// An APNs *rejection* of a push is not an error: it is a
/// [`PushResponse`](crate::PushResponse) with a [`Verdict`](crate::Verdict).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A [`PushRequest`](crate::PushRequest) has an empty device token.
    #[error("the device token is empty")]
    EmptyToken,
    /// A [`PushRequest`](crate::PushRequest) has an empty push magic.
    #[error("the push magic is empty")]
    EmptyPushMagic,
    /// `apns-priority` must be 1, 5 or 10.
    #[error("apns-priority {0} is not one of 1, 5 or 10")]
    InvalidPriority(u8),
    /// A value cannot be sent in an HTTP header (control characters, or
    /// empty where a value is required).
    #[error("{name} cannot be sent as an HTTP header value")]
    InvalidHeader {
        /// The header's name.
        name: &'static str,
    },
    /// A PEM document could not be read.
    #[error("{what}: {message}")]
    Pem {
        /// What the document should have held.
        what: &'static str,
        /// What was wrong with it.
        message: String,
    },
    /// The push certificate is not a well-formed X.509 certificate.
    #[error("the push certificate is malformed: {0}")]
    Certificate(String),
    /// The private key is not a well-formed RSA key (PKCS #1 or PKCS #8).
    #[error("the private key is malformed or not RSA: {0}")]
    PrivateKey(String),
    /// The private key does not belong to the push certificate.
    #[error("the private key does not match the push certificate's public key")]
    KeyMismatch,
    /// The certificate's subject has no UID attribute, so it names no
    /// push topic: it is not an MDM push certificate.
    #[error(
        "the certificate subject `{subject}` has no UID attribute, so it is not an MDM push \
         certificate (its UID must be a com.apple.mgmt. topic)"
    )]
    NoTopic {
        /// The subject, as text.
        subject: String,
    },
    /// The certificate's UID is not a `com.apple.mgmt.` topic: it is a
    /// push certificate for something other than MDM.
    #[error(
        "the certificate's UID is `{found}`, which is not an MDM push topic (expected \
         com.apple.mgmt.…)"
    )]
    WrongTopic {
        /// The UID found.
        found: String,
    },
    /// The endpoint URL is not an `https://host[:port]` URL.
    #[error("invalid APNs endpoint `{0}`")]
    InvalidEndpoint(String),
    /// TLS configuration or handshake failed.
    #[error("TLS: {0}")]
    Tls(String),
    /// Connecting to APNs failed.
    #[error("connecting to APNs: {0}")]
    Connect(#[source] std::io::Error),
    /// The HTTP/2 connection or stream failed before a response arrived.
    #[error("HTTP/2: {0}")]
    Http(String),
    /// No response arrived within the request timeout.
    #[error("no response from APNs within {0:?}")]
    Timeout(std::time::Duration),
}
