//! CMS signatures (RFC 5652): the `Mdm-Signature` header, signed profiles,
//! and signing.
//!
//! A device whose MDM payload sets `SignMessage` sends each check-in and
//! command report with an `Mdm-Signature` header: the base64 of a detached
//! CMS `SignedData` over the exact HTTP body, made with the device's identity
//! certificate (Apple Device Management documentation, `MDM` payload, key
//! `SignMessage`).
//! A server behind a TLS-terminating proxy uses it in place of the TLS client
//! certificate. Signed configuration profiles (`.mobileconfig`) and the DEP
//! `MachineInfo` a device posts are the same structure with the content
//! attached.
//!
//! # What is verified
//!
//! [`verify_mdm_signature`], [`verify_detached`] and [`verify_attached`]
//! check that:
//!
//! * the input is a `ContentInfo` holding a `SignedData` (BER is accepted and
//!   normalised to DER first by
//!   [`pippin_ber::to_der`]) whose content type is `id-data`;
//! * it has exactly one `SignerInfo` — what Apple devices send. A second
//!   signer would make "who signed this" ambiguous, so it is refused rather
//!   than ignored;
//! * the signer's certificate is in the `certificates` bag, found by
//!   issuer and serial number or by subject key identifier;
//! * with signed attributes (RFC 5652 §5.3, §11): exactly one content-type
//!   attribute equal to `id-data` and exactly one message-digest attribute
//!   equal (compared in constant time) to the digest of the content; the
//!   signature is then checked over the attributes exactly as they were
//!   sent, re-tagged as a SET (RFC 5652 §5.4) — never over a re-encoding,
//!   which could reorder a SET the signer did not sort;
//! * without signed attributes: the signature is checked over the content;
//! * digests SHA-1, SHA-256, SHA-384 and SHA-512; signatures RSA PKCS#1 v1.5
//!   (`rsaEncryption` or `sha*WithRSAEncryption`, 1024 to 8192 bits) and
//!   ECDSA on P-256 (`ecdsa-with-SHA*`). Anything else is an `Unsupported…`
//!   error.
//!
//! # What is not verified
//!
//! Whether the signer should be trusted. The certificate is only the one the
//! signature was made with: nothing here builds a chain, checks validity
//! dates, key usage or revocation, or reads the clock. The caller decides,
//! typically by binding the [`VerifiedSigner::sha256_fingerprint`] to the
//! device enrolled with it, or by checking with [`certificate_issued_by`]
//! that the certificate was issued by the service's own SCEP CA (and then
//! checking its dates against its own clock). The signing-time attribute is
//! reported, not judged.
//!
//! # Bounds
//!
//! Header values over [`MAX_HEADER_LEN`] bytes, CMS over [`MAX_CMS_LEN`]
//! bytes and bags of more than [`MAX_CERTIFICATES`] certificates are refused
//! before any signature work; BER nesting and element counts are bounded
//! (64 levels, 100 000 elements; see [`pippin_ber::Limits`]). No input makes this module panic.
//!
//! # Example
//!
//! ```
//! use apple_mdm_protocol::signature::{SigningIdentity, verify_mdm_signature};
//!
//! // What a device does (here with a test identity) ...
//! let device = SigningIdentity::from_pem(
//!     include_bytes!("../../tests/fixtures/sig-rsa-cert.pem"),
//!     include_bytes!("../../tests/fixtures/sig-rsa-key.pem"),
//! )?;
//! let body = b"<plist version=\"1.0\"><dict><key>MessageType</key><string>Authenticate</string></dict></plist>";
//! let header = device.mdm_signature_header(body)?;
//!
//! // ... and what the server does with the request.
//! let signer = verify_mdm_signature(&header, body)?;
//! assert_eq!(signer.certificate(), device.certificate());
//! let fingerprint: [u8; 32] = signer.sha256_fingerprint();
//! # let _ = fingerprint;
//!
//! // Any change to the body breaks it.
//! assert!(verify_mdm_signature(&header, b"<plist/>").is_err());
//! # Ok::<(), apple_mdm_protocol::signature::SignatureError>(())
//! ```

mod alg;
mod sign;
mod verify;

use base64::Engine as _;
use der::Encode;
use der::asn1::ObjectIdentifier;
use x509_cert::Certificate;

pub use alg::{DigestAlgorithm, SignatureAlgorithm};
/// Why BER (or DER) could not be read: a kind and a byte offset (from
/// `pippin-ber`, which normalises the CMS input to DER).
pub use pippin_ber::Error as BerError;
/// The kinds of [`BerError`].
pub use pippin_ber::ErrorKind as BerErrorKind;
pub use sign::SigningIdentity;

/// The longest `Mdm-Signature` header value accepted, in bytes (64 KiB). A
/// real one, with the device certificate and its chain, is 3 to 5 KiB.
pub const MAX_HEADER_LEN: usize = 64 * 1024;

/// The largest CMS structure accepted, in bytes (16 MiB): signed profiles
/// can carry large payloads.
pub const MAX_CMS_LEN: usize = 16 * 1024 * 1024;

/// The most certificates a `SignedData` may carry (or a [`SigningIdentity`]
/// chain hold).
pub const MAX_CERTIFICATES: usize = 16;

/// Why a signature could not be verified or made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The `Mdm-Signature` header value is longer than [`MAX_HEADER_LEN`].
    #[error("Mdm-Signature header is {len} bytes, over the limit of {max}")]
    HeaderTooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The `Mdm-Signature` header value is not base64.
    #[error("Mdm-Signature header is not base64: {0}")]
    Base64(#[from] base64::DecodeError),
    /// The CMS structure is larger than [`MAX_CMS_LEN`].
    #[error("CMS structure is {len} bytes, over the limit of {max}")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The bytes are not well-formed BER/DER.
    #[error("CMS is not well-formed BER: {0}")]
    Ber(#[from] BerError),
    /// The structure is not the one RFC 5652 defines: `expected` names what
    /// should have been at `offset` (a byte offset into the DER form, which
    /// is the input itself unless it was BER).
    #[error("malformed CMS at byte {offset}: expected {expected}")]
    Malformed {
        /// Where.
        offset: usize,
        /// What was expected there.
        expected: &'static str,
    },
    /// A field could not be decoded (`source` has the position within the
    /// field, `offset` where the field starts).
    #[error("cannot decode {what} at byte {offset}: {source}")]
    Der {
        /// Which field.
        what: &'static str,
        /// Where the field starts.
        offset: usize,
        /// The decoder's error.
        source: der::Error,
    },
    /// The `ContentInfo` holds something other than `SignedData`.
    #[error("CMS content type {content_type} is not signedData")]
    NotSignedData {
        /// The content type found.
        content_type: ObjectIdentifier,
    },
    /// The signed content is not `id-data`.
    #[error("unsupported encapsulated content type {oid}")]
    UnsupportedContentType {
        /// The content type found.
        oid: ObjectIdentifier,
    },
    /// Detached verification was asked for, but the `SignedData` carries
    /// its content.
    #[error("expected a detached signature, but the content is attached")]
    ContentNotDetached,
    /// Attached verification was asked for, but the `SignedData` carries no
    /// content.
    #[error("the signature is detached: no content attached")]
    MissingContent,
    /// More certificates than [`MAX_CERTIFICATES`].
    #[error("more than {max} certificates")]
    TooManyCertificates {
        /// The limit.
        max: usize,
    },
    /// No `SignerInfo`.
    #[error("no SignerInfo")]
    NoSignerInfo,
    /// More than one `SignerInfo`; exactly one is accepted.
    #[error("{count} SignerInfos; exactly one is accepted")]
    MultipleSignerInfos {
        /// How many.
        count: usize,
    },
    /// No certificate in the bag matches the signer identifier.
    #[error("the signer's certificate is not in the SignedData")]
    NoSignerCertificate,
    /// A digest algorithm this module does not implement.
    #[error("unsupported digest algorithm {oid}")]
    UnsupportedDigestAlgorithm {
        /// Its identifier.
        oid: ObjectIdentifier,
    },
    /// A signature algorithm this module does not implement.
    #[error("unsupported signature algorithm {oid}")]
    UnsupportedSignatureAlgorithm {
        /// Its identifier.
        oid: ObjectIdentifier,
    },
    /// A public key type (or EC curve) this module does not implement.
    #[error("unsupported public key {oid}{}", curve.map(|c| format!(" on curve {c}")).unwrap_or_default())]
    UnsupportedPublicKey {
        /// The key's algorithm identifier.
        oid: ObjectIdentifier,
        /// The named curve, for EC keys.
        curve: Option<ObjectIdentifier>,
    },
    /// A public key that cannot be read (or, for RSA, is outside 1024 to 8192
    /// bits).
    #[error("cannot read the {oid} public key")]
    BadPublicKey {
        /// The key's algorithm identifier.
        oid: ObjectIdentifier,
    },
    /// An algorithm identifier's parameters are neither absent nor NULL.
    #[error("unexpected parameters for algorithm {oid}")]
    BadAlgorithmParameters {
        /// The algorithm.
        oid: ObjectIdentifier,
    },
    /// The signature algorithm does not fit the key, or names a different
    /// digest than `digestAlgorithm`.
    #[error("signature algorithm {signature} does not fit the key or digest {digest}")]
    AlgorithmMismatch {
        /// The signature algorithm.
        signature: ObjectIdentifier,
        /// The digest algorithm.
        digest: ObjectIdentifier,
    },
    /// A required signed attribute is missing.
    #[error("signed attribute {name} is missing")]
    MissingSignedAttribute {
        /// Which.
        name: &'static str,
    },
    /// A signed attribute is malformed or repeated.
    #[error("signed attribute {name}: {reason}")]
    BadSignedAttribute {
        /// Which.
        name: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The content-type attribute differs from the content's type.
    #[error("content-type attribute does not match the content type")]
    ContentTypeMismatch,
    /// The message-digest attribute is not the digest of the content: the
    /// content (the HTTP body, for `Mdm-Signature`) is not what was signed.
    #[error("message digest does not match the content")]
    DigestMismatch,
    /// The signature does not verify with the signer's public key.
    #[error("the signature does not verify")]
    BadSignature,
    /// PEM that cannot be read.
    #[error("bad PEM: {source}")]
    Pem {
        /// The PEM decoder's error.
        source: der::pem::Error,
    },
    /// No certificate was given for a signing identity.
    #[error("no certificate for the signing identity")]
    NoCertificate,
    /// A private key that cannot be read.
    #[error("bad private key: {reason}")]
    BadPrivateKey {
        /// What is wrong.
        reason: &'static str,
    },
    /// A private key of a kind this module cannot sign with.
    #[error("unsupported key: {what}")]
    UnsupportedKey {
        /// What kind.
        what: &'static str,
    },
    /// The private key does not belong to the certificate.
    #[error("the private key does not match the certificate")]
    KeyMismatch,
    /// The private-key operation failed.
    #[error("signing failed")]
    SigningFailed,
    /// Encoding the `SignedData` failed (content too large for DER lengths,
    /// or a signing time past 9999).
    #[error("cannot encode the signature: {0}")]
    Encode(#[from] der::Error),
}

/// A signer whose signature verified: its certificate, the algorithms used,
/// and the other certificates that came with it. Only the signature is
/// vouched for; see the [module documentation](self) for trusting the
/// certificate.
#[derive(Clone, Debug)]
pub struct VerifiedSigner {
    certificate: Certificate,
    certificate_der: Vec<u8>,
    other_certificates: Vec<Certificate>,
    digest_algorithm: DigestAlgorithm,
    signature_algorithm: SignatureAlgorithm,
    signing_time: Option<u64>,
}

impl VerifiedSigner {
    /// The signer's certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }

    /// The signer's certificate, as the bytes that came in the signature.
    pub fn certificate_der(&self) -> &[u8] {
        &self.certificate_der
    }

    /// SHA-256 of [`certificate_der`](Self::certificate_der): the value to
    /// bind a device identity to.
    pub fn sha256_fingerprint(&self) -> [u8; 32] {
        let digest = DigestAlgorithm::Sha256.digest(&[&self.certificate_der]);
        let mut out = [0u8; 32];
        for (o, d) in out.iter_mut().zip(digest) {
            *o = d;
        }
        out
    }

    /// The digest algorithm of the signature.
    pub fn digest_algorithm(&self) -> DigestAlgorithm {
        self.digest_algorithm
    }

    /// The signature algorithm family.
    pub fn signature_algorithm(&self) -> SignatureAlgorithm {
        self.signature_algorithm
    }

    /// The signing-time attribute, in seconds since 1970-01-01T00:00:00Z, if
    /// the signer included one. As the signer claims it: not checked.
    pub fn signing_time(&self) -> Option<u64> {
        self.signing_time
    }

    /// The certificates in the `SignedData` other than the signer's (usually
    /// its chain), in the order they came.
    pub fn other_certificates(&self) -> &[Certificate] {
        &self.other_certificates
    }
}

/// Verifies an `Mdm-Signature` header value against the HTTP body it came
/// with. The value is base64 (padding optional; surrounding whitespace
/// ignored) of a detached CMS `SignedData`; see [`verify_detached`] and the
/// [module documentation](self) for what is checked.
pub fn verify_mdm_signature(
    header_value: &str,
    body: &[u8],
) -> Result<VerifiedSigner, SignatureError> {
    if header_value.len() > MAX_HEADER_LEN {
        return Err(SignatureError::HeaderTooLong {
            len: header_value.len(),
            max: MAX_HEADER_LEN,
        });
    }
    let cms = HEADER_BASE64.decode(header_value.trim_ascii())?;
    verify_detached(&cms, body)
}

/// Base64 as in the header: standard alphabet, padding optional.
const HEADER_BASE64: base64::engine::GeneralPurpose =
    base64::engine::general_purpose::STANDARD_PAD_INDIFFERENT;

/// Verifies a detached CMS signature (`cms_der`, DER or BER) over `content`.
/// Fails with [`SignatureError::ContentNotDetached`] if the `SignedData`
/// carries content of its own.
pub fn verify_detached(cms_der: &[u8], content: &[u8]) -> Result<VerifiedSigner, SignatureError> {
    verify::verify(cms_der, Some(content)).map(|(_, signer)| signer)
}

/// Verifies a CMS signature (DER or BER) that carries its content, as a
/// signed `.mobileconfig` does, and returns the content with the signer.
/// Fails with [`SignatureError::MissingContent`] for a detached signature.
pub fn verify_attached(cms_der: &[u8]) -> Result<(Vec<u8>, VerifiedSigner), SignatureError> {
    let (content, signer) = verify::verify(cms_der, None)?;
    let content = content.ok_or(SignatureError::MissingContent)?;
    Ok((content, signer))
}

/// Whether `issuer` issued `cert`: `cert`'s issuer name equals `issuer`'s
/// subject, and `cert`'s signature verifies with `issuer`'s public key
/// (`sha1`/`sha256`/`sha384`/`sha512WithRSAEncryption`, or
/// `ecdsa-with-SHA1`/`SHA256`/`SHA384`/`SHA512` with a P-256 key). Validity
/// dates, basic constraints and key usage are not checked. Any failure,
/// including an algorithm this module does not implement, is `false`.
///
/// The signature is checked over the DER re-encoding of `cert`'s
/// `tbsCertificate`, which is the signed form for any certificate that is
/// valid DER.
///
/// ```
/// use apple_mdm_protocol::signature::certificate_issued_by;
/// use der::DecodePem;
/// use x509_cert::Certificate;
///
/// let ca = Certificate::from_pem(include_bytes!("../../tests/fixtures/sig-ca-cert.pem"))?;
/// let leaf = Certificate::from_pem(include_bytes!("../../tests/fixtures/sig-leaf-cert.pem"))?;
/// assert!(certificate_issued_by(&leaf, &ca));
/// assert!(!certificate_issued_by(&ca, &leaf));
/// # Ok::<(), der::Error>(())
/// ```
pub fn certificate_issued_by(cert: &Certificate, issuer: &Certificate) -> bool {
    let tbs = cert.tbs_certificate();
    if tbs.issuer() != issuer.tbs_certificate().subject()
        || tbs.signature() != cert.signature_algorithm()
    {
        return false;
    }
    let Ok(key) = alg::PublicKey::from_spki(issuer.tbs_certificate().subject_public_key_info())
    else {
        return false;
    };
    let Ok((family, Some(digest))) = alg::signature_algorithm(cert.signature_algorithm()) else {
        return false;
    };
    let (Ok(tbs_der), Some(signature)) = (tbs.to_der(), cert.signature().as_bytes()) else {
        return false;
    };
    family == key.algorithm() && key.verify_prehash(digest, &digest.digest(&[&tbs_der]), signature)
}
