//! The requester's side of SCEP: building a `PKCSReq` or `RenewalReq`
//! (RFC 8894 §3.3.1) and reading the `CertRep` (§3.3.2).
//!
//! For tests, simulated devices and tools; a server needs none of it.

use std::time::{Duration, SystemTime};

use der::Encode as _;
use x509_cert::name::Name;

use crate::attributes::{MessageType, Nonce, PkiStatus, ScepAttributes, TransactionId};
use crate::ca::{extension, random_serial, rsa_spki, sign_certificate, tbs_certificate, unix};
use crate::cert::{CertView, key_id_from_spki};
use crate::crypto::{ContentEncryption, DigestAlgorithm, PublicKey};
use crate::envelope::{open, seal};
use crate::error::{Error, Result};
use crate::message::PkiMessage;
use crate::oid;
use crate::response::{certificates_from_degenerate, sign_with};
use crate::tlv::{self, tag};

/// A SCEP requester: the certificate it signs its messages with (self-signed
/// for a first enrolment, the current one for a renewal) and its RSA key.
#[derive(Clone)]
pub struct Requester {
    certificate: Vec<u8>,
    key: rsa::PrivateKey,
}

impl core::fmt::Debug for Requester {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Requester").finish_non_exhaustive()
    }
}

/// A `CertRep` whose signature has been verified and, on success, whose
/// envelope has been opened.
#[derive(Clone, Debug)]
pub struct CertRep {
    /// The SCEP attributes (status, failInfo, nonces, transaction).
    pub attributes: ScepAttributes,
    /// The certificates returned (issued certificate first); empty unless
    /// the status is `SUCCESS`.
    pub certificates: Vec<Vec<u8>>,
    /// The certificate that signed the response, DER.
    pub signer: Vec<u8>,
}

impl Requester {
    /// A requester with `certificate` (DER) and its `key`.
    pub fn new(certificate: Vec<u8>, key: rsa::PrivateKey) -> Result<Self> {
        let view = CertView::parse(&certificate)?;
        match view.public_key()? {
            PublicKey::Rsa(public) if &public == key.as_public_key() => {}
            _ => return Err(Error::CaConfig("the key does not match the certificate")),
        }
        Ok(Self { certificate, key })
    }

    /// A requester with a self-signed certificate for `key`, valid for a
    /// day from an hour before `now`, as a device makes for its first
    /// request (RFC 8894 §2.3).
    pub fn self_signed<R: rand_core::CryptoRng + ?Sized>(
        subject: &str,
        key: rsa::PrivateKey,
        now: SystemTime,
        rng: &mut R,
    ) -> Result<Self> {
        let name: Name = subject
            .parse()
            .map_err(|_| Error::CaConfig("invalid subject name"))?;
        let name = name.to_der()?;
        let spki = rsa_spki(key.as_public_key())?;
        let now = unix(now)?;
        let exts = [extension(
            &oid::SUBJECT_KEY_IDENTIFIER,
            false,
            &tlv::octet_string(&key_id_from_spki(&spki)),
        )];
        let tbs = tbs_certificate(
            &random_serial(rng),
            &name,
            now.saturating_sub(Duration::from_secs(3600)),
            now + Duration::from_secs(86_400),
            &name,
            &spki,
            &exts,
        )?;
        let cert = sign_certificate(&key, &tbs, rng)?;
        Self::new(cert, key)
    }

    /// The signer certificate, DER.
    pub fn certificate_der(&self) -> &[u8] {
        &self.certificate
    }

    /// The key.
    pub fn key(&self) -> &rsa::PrivateKey {
        &self.key
    }

    /// A PKCS #10 request (DER) for this requester's key, signed with
    /// SHA-256, with an optional `challengePassword`.
    pub fn certification_request<R: rand_core::CryptoRng + ?Sized>(
        &self,
        subject: &str,
        challenge: Option<&str>,
        rng: &mut R,
    ) -> Result<Vec<u8>> {
        let name: Name = subject
            .parse()
            .map_err(|_| Error::CaConfig("invalid subject name"))?;
        let name = name.to_der()?;
        let spki = rsa_spki(self.key.as_public_key())?;
        let attrs = match challenge {
            Some(c) => vec![crate::attributes::attribute(
                &oid::ID_CHALLENGE_PASSWORD,
                &tlv::tlv(tag::UTF8_STRING, c.as_bytes()),
            )],
            None => Vec::new(),
        };
        let attr_parts: Vec<&[u8]> = attrs.iter().map(Vec::as_slice).collect();
        let info = tlv::sequence(&[
            &tlv::small_int(0),
            &name,
            &spki,
            &tlv::constructed(tag::context(0), &attr_parts),
        ]);
        let sig = self
            .key
            .pkcs1v15_sign_with_rng::<sha2::Sha256, R>(rng, &info)?;
        Ok(tlv::sequence(&[
            &info,
            &tlv::algorithm(&oid::SHA256_WITH_RSA, true),
            &tlv::bit_string(&sig),
        ]))
    }

    /// A signed `pkiMessage` carrying `envelope` (an already-built
    /// `pkcsPKIEnvelope`, DER, or none) with the given SCEP attributes.
    #[allow(clippy::too_many_arguments)]
    pub fn sign_message<R: rand_core::CryptoRng + ?Sized>(
        &self,
        message_type: MessageType,
        transaction_id: &TransactionId,
        sender_nonce: Nonce,
        envelope: Option<&[u8]>,
        digest: DigestAlgorithm,
        now: SystemTime,
        rng: &mut R,
    ) -> Result<Vec<u8>> {
        let attrs = ScepAttributes {
            message_type,
            transaction_id: transaction_id.clone(),
            sender_nonce: Some(sender_nonce),
            recipient_nonce: None,
            pki_status: None,
            fail_info: None,
        };
        sign_with(
            &self.certificate,
            &self.key,
            &[&self.certificate],
            digest,
            envelope.unwrap_or_default(),
            &attrs,
            unix(now)?,
            rng,
        )
    }

    /// A complete request: `csr` (DER) enveloped for `ca_certificate` with
    /// `alg`, signed with SHA-256.
    #[allow(clippy::too_many_arguments)]
    pub fn request<R: rand_core::CryptoRng + ?Sized>(
        &self,
        message_type: MessageType,
        csr: &[u8],
        ca_certificate: &[u8],
        alg: ContentEncryption,
        transaction_id: &TransactionId,
        sender_nonce: Nonce,
        now: SystemTime,
        rng: &mut R,
    ) -> Result<Vec<u8>> {
        let envelope = envelope(csr, ca_certificate, alg, rng)?;
        self.sign_message(
            message_type,
            transaction_id,
            sender_nonce,
            Some(&envelope),
            DigestAlgorithm::Sha256,
            now,
            rng,
        )
    }

    /// Verifies a `CertRep` and, on `SUCCESS`, decrypts the certificates.
    ///
    /// The signature is checked with the signer certificate in the
    /// response; checking that this is the expected CA is up to the caller
    /// (compare [`CertRep::signer`]).
    pub fn read_cert_rep<R: rand_core::CryptoRng + ?Sized>(
        &self,
        body: &[u8],
        rng: &mut R,
    ) -> Result<CertRep> {
        let msg = PkiMessage::parse(body)?;
        if msg.message_type() != MessageType::CertRep {
            return Err(Error::UnsupportedMessageType(msg.message_type()));
        }
        let mut certificates = Vec::new();
        if msg.attributes().pki_status == Some(PkiStatus::Success) {
            let content = msg
                .content()
                .ok_or(Error::MissingAttribute("pkcsPKIEnvelope"))?;
            let me = CertView::parse(&self.certificate)?;
            let (plain, _) = open(content, &me, &self.key, rng)?;
            certificates = certificates_from_degenerate(&plain)?;
        }
        Ok(CertRep {
            attributes: msg.attributes().clone(),
            certificates,
            signer: msg.signer_certificate().to_vec(),
        })
    }
}

/// A `pkcsPKIEnvelope` (`ContentInfo` with `EnvelopedData`, DER) holding
/// `content` for the holder of `recipient` (a DER certificate with an RSA
/// key).
pub fn envelope<R: rand_core::CryptoRng + ?Sized>(
    content: &[u8],
    recipient: &[u8],
    alg: ContentEncryption,
    rng: &mut R,
) -> Result<Vec<u8>> {
    seal(content, &CertView::parse(recipient)?, alg, rng)
}
