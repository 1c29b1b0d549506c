//! The server side of the Simple Certificate Enrolment Protocol (SCEP,
//! [RFC 8894]), as Apple devices use it to obtain their MDM identity
//! certificate.
//!
//! What it does:
//!
//! - answers `GetCACaps` (RFC 8894 §3.5.2) and `GetCACert` (§4.2);
//! - reads a `PKIOperation` `pkiMessage` (§3.2): a CMS `SignedData`, DER or
//!   BER, whose signature it verifies with the signer certificate inside;
//!   decrypts its `pkcsPKIEnvelope` (`EnvelopedData` with RSA key transport
//!   and AES-128/192/256-CBC or Triple-DES-CBC); reads the PKCS #10 request
//!   and verifies its self-signature (RSA, or ECDSA P-256);
//! - authorises `PKCSReq` through a [`ChallengeVerifier`] (a static shared
//!   secret, one-time challenges, or the service's own), and `RenewalReq`
//!   through the requester's current certificate from this CA;
//! - issues a client-authentication certificate from a
//!   [`CertificateAuthority`] (which it can also create, self-signed);
//! - answers with a signed `CertRep` (§3.3.2): on success the certificate
//!   in a degenerate `SignedData`, encrypted to the requester; on refusal
//!   `pkiStatus` FAILURE and a `failInfo`;
//! - reports each issuance as an [`IssuedCertificate`] for the service to
//!   bind the device identity.
//!
//! What it does not do: HTTP, files or clocks. It is sans-I/O: the HTTP
//! layer passes each request's `operation` and message to
//! [`ScepServer::handle`] with the current time and a cryptographic RNG,
//! and sends back the returned content type and body. Requests are never
//! left pending (no manual approval), and `GetCert`, `GetCRL` and
//! `GetNextCACert` are not served.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::SystemTime;
//! use scep::{CertificateAuthority, ScepConfig, ScepServer, StaticChallenge};
//!
//! let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
//! let ca = CertificateAuthority::generate_self_signed("CN=Example MDM CA", SystemTime::now(), &mut rng)?;
//! let (cert_pem, key_pem) = (ca.certificate_pem()?, ca.private_key_pem()?); // to store
//! let config = ScepConfig::new(ca, Arc::new(StaticChallenge::new("secret")));
//! let server = ScepServer::new(Arc::new(config));
//!
//! let caps = server.handle("GetCACaps", None, SystemTime::now(), &mut rng)?;
//! assert_eq!(caps.content_type, "text/plain");
//! assert!(String::from_utf8(caps.body)?.lines().any(|c| c == "SCEPStandard"));
//!
//! let ca_cert = server.handle("GetCACert", None, SystemTime::now(), &mut rng)?;
//! assert_eq!(ca_cert.content_type, "application/x-x509-ca-cert");
//!
//! // A PKIOperation body that is not a pkiMessage is an error for the HTTP layer.
//! assert!(server.handle("PKIOperation", Some(b"\x30\x00"), SystemTime::now(), &mut rng).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [RFC 8894]: https://www.rfc-editor.org/rfc/rfc8894

#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod attributes;
mod ca;
mod cert;
mod challenge;
pub mod client;
mod crypto;
mod csr;
mod envelope;
mod error;
mod message;
pub mod oid;
mod response;
mod service;
mod tlv;

pub use attributes::{FailInfo, MessageType, Nonce, PkiStatus, ScepAttributes, TransactionId};
pub use ca::{BACKDATE, CA_KEY_BITS, CA_VALIDITY, CertificateAuthority, IssueOptions};
pub use challenge::{
    ChallengeRejection, ChallengeRequest, ChallengeVerifier, MAX_ONE_TIME_CHALLENGES,
    OneTimeChallenges, StaticChallenge,
};
pub use crypto::{ContentEncryption, DigestAlgorithm};
pub use csr::{CertificationRequest, IssuerAndSubject, MAX_CHALLENGE_LEN};
pub use error::{Error, ParseError, ParseErrorKind, Result, Structure};
pub use message::{MAX_CERTIFICATES, MAX_MESSAGE_LEN, PkiMessage};
pub use response::{certificates_from_degenerate, degenerate_certificates};
pub use service::{
    CONTENT_TYPE_CA_CERT, CONTENT_TYPE_CA_RA_CERT, CONTENT_TYPE_CAPS, CONTENT_TYPE_PKI_MESSAGE,
    IssuedCertificate, MAX_BASE64_LEN, Outcome, Rejection, ScepConfig, ScepResponse, ScepServer,
};

pub use rand_core;
pub use rsa;
pub use x509_cert;

/// Encoding a value as DER.
pub trait Encode {
    /// Appends the DER encoding to `out`.
    fn encode(&self, out: &mut Vec<u8>);

    /// The DER encoding.
    fn to_der(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

/// Decoding a value from DER; decoding an [`Encode`]d value gives it back.
pub trait Decode<'a>: Sized {
    /// Decodes one value spanning all of `input`.
    fn decode(input: &'a [u8]) -> Result<Self>;
}
