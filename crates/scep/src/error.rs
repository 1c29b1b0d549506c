//! The crate's error type.

use const_oid::ObjectIdentifier;

use crate::attributes::{FailInfo, MessageType};
use crate::challenge::ChallengeRejection;

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// What went wrong while reading an ASN.1 structure, and where.
///
/// Cheap to build: no allocation. `offset` counts bytes from the start of
/// the structure named by [`Error::Malformed`]'s `what` (for BER input, from
/// the start of its DER rewriting).
#[derive(Clone, Copy, Debug, Eq, PartialEq, thiserror::Error)]
#[error("{kind} at offset {offset}")]
pub struct ParseError {
    /// The kind of problem.
    pub kind: ParseErrorKind,
    /// Byte offset of the element where it was found.
    pub offset: usize,
}

impl ParseError {
    pub(crate) const fn new(kind: ParseErrorKind, offset: usize) -> Self {
        Self { kind, offset }
    }
}

impl From<pippin_ber::Error> for ParseError {
    fn from(e: pippin_ber::Error) -> Self {
        use pippin_ber::ErrorKind as Ber;
        let kind = match e.kind {
            Ber::Truncated | Ber::Empty => ParseErrorKind::Truncated,
            Ber::TrailingData => ParseErrorKind::TrailingData,
            Ber::TagTooLong => ParseErrorKind::HighTagNumber,
            Ber::BadLength => ParseErrorKind::BadLength,
            Ber::IndefinitePrimitive | Ber::IndefiniteLength => ParseErrorKind::IndefiniteLength,
            Ber::TooDeep => ParseErrorKind::TooDeep,
            Ber::TooManyElements => ParseErrorKind::TooManyElements,
            // A misplaced end-of-contents marker, a bad string segment, and
            // whatever kinds a later version adds.
            _ => ParseErrorKind::InvalidValue,
        };
        Self::new(kind, e.offset)
    }
}

/// The kinds of [`ParseError`].
#[derive(Clone, Copy, Debug, Eq, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// The input ends inside an element.
    #[error("truncated element")]
    Truncated,
    /// A length is malformed, non-minimal or too large.
    #[error("bad length")]
    BadLength,
    /// An indefinite length where DER is required.
    #[error("indefinite length")]
    IndefiniteLength,
    /// A tag number of 31 or more (not used by these structures).
    #[error("high tag number")]
    HighTagNumber,
    /// An element other than the one the structure calls for.
    #[error("unexpected tag {found:#04x} (expected {expected:#04x})")]
    UnexpectedTag {
        /// The tag the structure calls for.
        expected: u8,
        /// The tag found.
        found: u8,
    },
    /// A required element is missing.
    #[error("missing element")]
    Missing,
    /// Bytes after the end of the structure.
    #[error("trailing data")]
    TrailingData,
    /// An element's contents are not valid for its type.
    #[error("invalid value")]
    InvalidValue,
    /// Nesting deeper than the bound.
    #[error("nesting too deep")]
    TooDeep,
    /// More elements than the bound.
    #[error("too many elements")]
    TooManyElements,
    /// An unsupported structure version.
    #[error("unsupported version")]
    UnsupportedVersion,
}

/// The structure a [`ParseError`] was found in.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum Structure {
    /// The outer `pkiMessage` (CMS `ContentInfo` / `SignedData`).
    PkiMessage,
    /// The SCEP signed attributes.
    Attributes,
    /// A certificate.
    Certificate,
    /// The `pkcsPKIEnvelope` (CMS `EnvelopedData`).
    Envelope,
    /// The PKCS #10 certification request.
    CertificationRequest,
    /// A `GetCertInitial` `IssuerAndSubject`.
    IssuerAndSubject,
    /// A private key.
    PrivateKey,
    /// A PEM document.
    Pem,
}

impl core::fmt::Display for Structure {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::PkiMessage => "pkiMessage",
            Self::Attributes => "SCEP attributes",
            Self::Certificate => "certificate",
            Self::Envelope => "pkcsPKIEnvelope",
            Self::CertificationRequest => "certification request",
            Self::IssuerAndSubject => "IssuerAndSubject",
            Self::PrivateKey => "private key",
            Self::Pem => "PEM document",
        })
    }
}

/// Everything that can go wrong in this crate.
///
/// Errors found before the requester's signature is verified are returned to
/// the caller of [`ScepServer::handle`](crate::ScepServer::handle) (the HTTP
/// layer answers them with a 4xx status). Errors found after it are answered
/// on the wire with a signed `CertRep` whose `failInfo` is
/// [`Error::fail_info`], and reported in
/// [`Outcome::Rejected`](crate::Outcome::Rejected).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request is larger than the bound.
    #[error("message of {len} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Its size.
        len: usize,
        /// The bound.
        limit: usize,
    },
    /// `PKIOperation` without a message.
    #[error("PKIOperation without a message")]
    MissingMessage,
    /// An operation this server does not implement.
    #[error("unsupported operation {0:?}")]
    UnsupportedOperation(String),
    /// The `message` parameter of a GET request is not valid base64.
    #[error("message is not valid base64")]
    Base64,
    /// A structure could not be parsed.
    #[error("malformed {what}: {source}")]
    Malformed {
        /// Which structure.
        what: Structure,
        /// What and where.
        #[source]
        source: ParseError,
    },
    /// A required SCEP signed attribute is missing.
    #[error("missing SCEP attribute {0}")]
    MissingAttribute(&'static str),
    /// A SCEP signed attribute has an invalid value.
    #[error("invalid SCEP attribute {0}")]
    InvalidAttribute(&'static str),
    /// An algorithm this implementation does not support.
    #[error("unsupported algorithm {0}")]
    UnsupportedAlgorithm(ObjectIdentifier),
    /// A public key this implementation cannot use.
    #[error("unsupported or invalid public key")]
    UnsupportedKey,
    /// An RSA key below the configured minimum size.
    #[error("RSA key of {bits} bits is below the minimum of {min} bits")]
    WeakKey {
        /// Its size.
        bits: usize,
        /// The minimum.
        min: usize,
    },
    /// No certificate in the message matches the signer.
    #[error("the signer's certificate is not in the message")]
    SignerNotFound,
    /// The `messageDigest` attribute does not match the content.
    #[error("message digest does not match the content")]
    DigestMismatch,
    /// The CMS signature does not verify.
    #[error("signature does not verify")]
    BadSignature,
    /// No `RecipientInfo` is addressed to this CA.
    #[error("the envelope is not addressed to this CA")]
    NotForUs,
    /// The envelope could not be decrypted.
    #[error("the envelope could not be decrypted")]
    Decryption,
    /// The certification request's self-signature does not verify.
    #[error("the certification request's signature does not verify")]
    BadCsrSignature,
    /// The challenge was rejected.
    #[error("challenge rejected: {0}")]
    ChallengeRejected(ChallengeRejection),
    /// A message type this server does not serve.
    #[error("unsupported message type {0:?}")]
    UnsupportedMessageType(MessageType),
    /// No pending transaction matches a `GetCertInitial` poll.
    #[error("no pending transaction matches the poll")]
    UnknownTransaction,
    /// The CA certificate and key do not belong together, or are unusable.
    #[error("CA configuration: {0}")]
    CaConfig(&'static str),
    /// A PEM document could not be read.
    #[error("PEM: {0}")]
    Pem(String),
    /// An RSA operation failed.
    #[error("RSA: {0}")]
    Rsa(#[from] rsa::Error),
    /// An encoding step failed (a bug or an out-of-range value).
    #[error("encoding: {0}")]
    Encoding(String),
}

impl Error {
    pub(crate) fn malformed(what: Structure, source: ParseError) -> Self {
        Self::Malformed { what, source }
    }

    /// The SCEP `failInfo` that reports this error in a `CertRep`
    /// (RFC 8894 §3.2.1.4).
    ///
    /// Decryption failures and malformed envelope contents share
    /// `badMessageCheck`, so that a requester cannot tell bad padding from a
    /// bad request (no padding oracle).
    pub fn fail_info(&self) -> FailInfo {
        match self {
            Self::UnsupportedAlgorithm(_) | Self::UnsupportedKey | Self::WeakKey { .. } => {
                FailInfo::BadAlg
            }
            Self::Malformed { .. }
            | Self::SignerNotFound
            | Self::DigestMismatch
            | Self::BadSignature
            | Self::NotForUs
            | Self::Decryption
            | Self::BadCsrSignature => FailInfo::BadMessageCheck,
            Self::UnknownTransaction => FailInfo::BadCertId,
            _ => FailInfo::BadRequest,
        }
    }
}

impl From<der::Error> for Error {
    fn from(e: der::Error) -> Self {
        Self::Encoding(e.to_string())
    }
}
