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
    /// The PKCS #12 file's MAC does not verify with the password given (or,
    /// in a file without a MAC, its contents do not decrypt): the password
    /// is wrong, or the file is damaged.
    #[error(
        "wrong password for the PKCS #12 file (its integrity check failed; a damaged file \
         fails it too)"
    )]
    Pkcs12WrongPassword,
    /// Part of a PKCS #12 file does not decrypt although its MAC verified:
    /// the file is damaged, or that part was encrypted with another
    /// password.
    #[error(
        "the {what} in the PKCS #12 file does not decrypt although the password passed the \
         integrity check: the file is damaged or mixes passwords"
    )]
    Pkcs12Decryption {
        /// The part that did not decrypt.
        what: &'static str,
    },
    /// The PKCS #12 file uses an algorithm or mode this crate does not
    /// read. Re-export it, for example with `openssl pkcs12 -export`
    /// (AES-256-CBC, PBKDF2, HMAC-SHA-256).
    #[error(
        "the PKCS #12 file uses an unsupported {what}: {oid} ({name}); re-export it with \
         `openssl pkcs12 -export` (AES-256, PBKDF2, SHA-256)",
        name = crate::pkcs12::oid_name(oid)
    )]
    Pkcs12UnsupportedAlgorithm {
        /// Where in the file.
        what: &'static str,
        /// The algorithm's object identifier.
        oid: const_oid::ObjectIdentifier,
    },
    /// The PKCS #12 file is not well-formed. `offset` is a byte offset
    /// into the innermost structure being read (the file itself, or a
    /// decrypted or embedded part of it).
    #[error("malformed PKCS #12 file: bad {what} at byte {offset}")]
    Pkcs12Malformed {
        /// What was expected.
        what: &'static str,
        /// Where.
        offset: usize,
        /// The BER/DER problem, when that is what it was.
        #[source]
        source: Option<pippin_ber::Error>,
    },
    /// The PKCS #12 file exceeds a bound of
    /// [`pkcs12::Limits`](crate::pkcs12::Limits).
    #[error("the PKCS #12 file's {what} is {found}, over the limit of {limit}")]
    Pkcs12Limit {
        /// Which bound.
        what: &'static str,
        /// The value found.
        found: u64,
        /// The bound.
        limit: u64,
    },
    /// The PKCS #12 file holds no private key.
    #[error(
        "the PKCS #12 file holds no private key; export the push certificate together with its \
         private key (in Keychain Access, select both, or export from My Certificates)"
    )]
    Pkcs12NoPrivateKey,
    /// No certificate in the PKCS #12 file belongs to its private key.
    #[error("no certificate in the PKCS #12 file matches its private key")]
    Pkcs12NoMatchingCertificate,
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
    /// APNs closed the connection with GOAWAY before answering, giving
    /// `reason` in the frame's debug data (`{"reason":"…"}`), if it gave
    /// one. The client reconnects and resends before reporting this.
    #[error("APNs closed the connection (GOAWAY){}", match reason {
        Some(r) => format!(": {}", r.as_str()),
        None => String::new(),
    })]
    GoAway {
        /// The reason APNs gave.
        reason: Option<crate::Reason>,
    },
    /// No response arrived within the request timeout.
    #[error("no response from APNs within {0:?}")]
    Timeout(std::time::Duration),
}
