//! The SCEP `pkiMessage` (RFC 8894 §3.2): a CMS `SignedData` (RFC 5652 §5)
//! whose signed attributes carry the SCEP attributes and whose
//! encapsulated content is the `pkcsPKIEnvelope`.
//!
//! ```text
//! ContentInfo ::= SEQUENCE { contentType id-signedData, content [0] EXPLICIT SignedData }
//! SignedData ::= SEQUENCE {
//!   version CMSVersion,
//!   digestAlgorithms DigestAlgorithmIdentifiers,
//!   encapContentInfo EncapsulatedContentInfo,   -- id-data, pkcsPKIEnvelope
//!   certificates [0] IMPLICIT CertificateSet OPTIONAL,
//!   crls [1] IMPLICIT RevocationInfoChoices OPTIONAL,
//!   signerInfos SignerInfos }
//! SignerInfo ::= SEQUENCE {
//!   version CMSVersion,
//!   sid SignerIdentifier,
//!   digestAlgorithm DigestAlgorithmIdentifier,
//!   signedAttrs [0] IMPLICIT SignedAttributes OPTIONAL,
//!   signatureAlgorithm SignatureAlgorithmIdentifier,
//!   signature SignatureValue,
//!   unsignedAttrs [1] IMPLICIT UnsignedAttributes OPTIONAL }
//! ```

use crate::attributes::{MessageType, Nonce, ScepAttributes, TransactionId};
use crate::cert::CertView;
use crate::crypto::{AlgorithmId, DigestAlgorithm, ct_eq};
use crate::error::{Error, ParseError, ParseErrorKind, Result, Structure};
use crate::oid;
use crate::tlv::{self, Tlv, tag};

/// The largest `pkiMessage` accepted, in bytes.
pub const MAX_MESSAGE_LEN: usize = 64 * 1024;

/// Most certificates looked at in one message.
pub const MAX_CERTIFICATES: usize = 16;

/// Most `SignerInfo`s looked at in one message.
const MAX_SIGNERS: usize = 4;

/// A `pkiMessage` whose structure has been read and whose signature has
/// been verified with the signer certificate it carries.
///
/// Verification establishes that the holder of the signer certificate's key
/// sent this message; whether that certificate is trusted (a self-signed
/// certificate for a first enrolment, or one issued by this CA for a
/// renewal) is the caller's decision.
#[derive(Clone, Debug)]
pub struct PkiMessage {
    attributes: ScepAttributes,
    digest_algorithm: DigestAlgorithm,
    signer: Vec<u8>,
    certificates: Vec<Vec<u8>>,
    content: Option<Vec<u8>>,
}

impl PkiMessage {
    /// Parses a DER or BER `pkiMessage` and verifies its signature.
    ///
    /// Checks, in order: the size bound, the CMS structure, that the signer
    /// certificate is present, that the `contentType` and `messageDigest`
    /// signed attributes match the content (RFC 5652 §5.4), the signature
    /// over the signed attributes (RFC 5652 §5.5), and the SCEP attributes.
    pub fn parse(input: &[u8]) -> Result<Self> {
        if input.len() > MAX_MESSAGE_LEN {
            return Err(Error::TooLarge {
                len: input.len(),
                limit: MAX_MESSAGE_LEN,
            });
        }
        let m = |e| Error::malformed(Structure::PkiMessage, e);
        let der = tlv::to_der(input).map_err(m)?;
        let parts = Parts::read(&der).map_err(m)?;
        parts.verify()
    }

    /// The SCEP attributes.
    pub fn attributes(&self) -> &ScepAttributes {
        &self.attributes
    }

    /// `messageType`.
    pub fn message_type(&self) -> MessageType {
        self.attributes.message_type
    }

    /// `transactionID`.
    pub fn transaction_id(&self) -> &TransactionId {
        &self.attributes.transaction_id
    }

    /// `senderNonce`, if present.
    pub fn sender_nonce(&self) -> Option<Nonce> {
        self.attributes.sender_nonce
    }

    /// The digest algorithm the sender used.
    pub fn digest_algorithm(&self) -> DigestAlgorithm {
        self.digest_algorithm
    }

    /// The signer's certificate, DER.
    pub fn signer_certificate(&self) -> &[u8] {
        &self.signer
    }

    /// Every certificate in the message, DER, in order.
    pub fn certificates(&self) -> &[Vec<u8>] {
        &self.certificates
    }

    /// The encapsulated content (the `pkcsPKIEnvelope`), if present.
    pub fn content(&self) -> Option<&[u8]> {
        self.content.as_deref()
    }
}

/// The pieces of a `SignedData`, borrowed from the DER.
struct Parts<'a> {
    content_type: Tlv<'a>,
    content: Option<&'a [u8]>,
    certificates: Vec<&'a [u8]>,
    signers: Vec<Tlv<'a>>,
}

impl<'a> Parts<'a> {
    fn read(der: &'a [u8]) -> Result<Self, ParseError> {
        let ci = tlv::read_single(der)?.expect(tag::SEQUENCE)?;
        let mut r = ci.reader();
        let ct = r.read_tag(tag::OID)?;
        if ct.value != oid::ID_SIGNED_DATA.as_bytes() {
            return Err(ct.error(ParseErrorKind::InvalidValue));
        }
        let explicit = r.read_tag(tag::context(0))?;
        r.finish()?;
        let mut er = explicit.reader();
        let sd = er.read_tag(tag::SEQUENCE)?;
        er.finish()?;

        let mut r = sd.reader();
        let version = tlv::small_uint(&r.read()?)?;
        if version > 5 {
            return Err(sd.error(ParseErrorKind::UnsupportedVersion));
        }
        let _digest_algorithms = r.read_tag(tag::SET)?;
        let eci = r.read_tag(tag::SEQUENCE)?;
        let certs = r.read_optional(tag::context(0))?;
        let _crls = r.read_optional(tag::context(1))?;
        let signer_infos = r.read_tag(tag::SET)?;
        r.finish()?;

        let mut er = eci.reader();
        let content_type = er.read_tag(tag::OID)?;
        let content = match er.read_optional(tag::context(0))? {
            Some(e) => {
                let mut cr = e.reader();
                let os = cr.read_tag(tag::OCTET_STRING)?;
                cr.finish()?;
                Some(os.value)
            }
            None => None,
        };
        er.finish()?;

        let mut certificates = Vec::new();
        if let Some(certs) = certs {
            let mut cr = certs.reader();
            while !cr.is_empty() {
                let c = cr.read()?;
                // Only plain certificates; attribute and other certificate
                // formats ([1]..[3]) are skipped.
                if c.tag == tag::SEQUENCE {
                    if certificates.len() == MAX_CERTIFICATES {
                        return Err(c.error(ParseErrorKind::TooManyElements));
                    }
                    certificates.push(c.raw);
                }
            }
        }

        let mut signers = Vec::new();
        let mut sr = signer_infos.reader();
        while !sr.is_empty() {
            if signers.len() == MAX_SIGNERS {
                return Err(ParseError::new(
                    ParseErrorKind::TooManyElements,
                    sr.offset(),
                ));
            }
            signers.push(sr.read_tag(tag::SEQUENCE)?);
        }
        if signers.is_empty() {
            return Err(signer_infos.error(ParseErrorKind::Missing));
        }
        Ok(Self {
            content_type,
            content,
            certificates,
            signers,
        })
    }

    /// Verifies the first `SignerInfo` and builds the message.
    fn verify(self) -> Result<PkiMessage> {
        let m = |e| Error::malformed(Structure::PkiMessage, e);
        let si = self.signers[0];
        let mut r = si.reader();
        let _version = tlv::small_uint(&r.read().map_err(m)?).map_err(m)?;
        let sid = r.read().map_err(m)?;
        let digest_alg = AlgorithmId::read(r.read().map_err(m)?).map_err(m)?;
        let signed_attrs = r.read_optional(tag::context(0)).map_err(m)?;
        let sig_alg = AlgorithmId::read(r.read().map_err(m)?).map_err(m)?;
        let signature = r.read_tag(tag::OCTET_STRING).map_err(m)?;
        let _unsigned = r.read_optional(tag::context(1)).map_err(m)?;
        r.finish().map_err(m)?;

        // SCEP requires signed attributes: they carry the SCEP attributes.
        let signed_attrs = signed_attrs.ok_or(Error::MissingAttribute("signedAttrs"))?;
        let digest_algorithm = DigestAlgorithm::from_oid(&digest_alg.oid)
            .ok_or(Error::UnsupportedAlgorithm(digest_alg.oid))?;

        // Find the signer's certificate.
        let mut signer = None;
        for raw in &self.certificates {
            let Ok(cert) = CertView::parse(raw) else {
                continue;
            };
            let found = match sid.tag {
                tag::SEQUENCE => {
                    let mut ir = sid.reader();
                    let issuer = ir.read_tag(tag::SEQUENCE).map_err(m)?;
                    let serial = ir.read_tag(tag::INTEGER).map_err(m)?;
                    cert.matches_issuer_serial(issuer.raw, serial.value)
                }
                t if t == tag::context_primitive(0) => cert.key_identifier() == sid.value,
                found => {
                    return Err(m(sid.error(ParseErrorKind::UnexpectedTag {
                        expected: tag::SEQUENCE,
                        found,
                    })));
                }
            };
            if found {
                signer = Some(cert);
                break;
            }
        }
        let signer = signer.ok_or(Error::SignerNotFound)?;

        // contentType and messageDigest (RFC 5652 §5.3, §11.1, §11.2).
        let (content_type, message_digest) = cms_attributes(signed_attrs).map_err(m)?;
        if content_type != self.content_type.value {
            return Err(Error::InvalidAttribute("contentType"));
        }
        let expected = digest_algorithm.digest(self.content.unwrap_or_default());
        if !ct_eq(message_digest, &expected) {
            return Err(Error::DigestMismatch);
        }

        // The signature covers the DER of the attributes with a SET tag
        // (RFC 5652 §5.4).
        let mut signed = signed_attrs.raw.to_vec();
        signed[0] = tag::SET;
        signer.public_key()?.verify(
            &sig_alg.oid,
            Some(digest_algorithm),
            &signed,
            signature.value,
        )?;

        let attributes = ScepAttributes::decode_list(signed_attrs)?;
        Ok(PkiMessage {
            attributes,
            digest_algorithm,
            signer: signer.raw.to_vec(),
            certificates: self.certificates.iter().map(|c| c.to_vec()).collect(),
            content: self.content.map(<[u8]>::to_vec),
        })
    }
}

/// The `contentType` OID contents and the `messageDigest` value.
fn cms_attributes<'a>(attrs: Tlv<'a>) -> Result<(&'a [u8], &'a [u8]), ParseError> {
    let mut content_type = None;
    let mut digest = None;
    let mut r = attrs.reader();
    while !r.is_empty() {
        let a = r.read_tag(tag::SEQUENCE)?;
        let mut ar = a.reader();
        let o = ar.read_tag(tag::OID)?;
        let values = ar.read_tag(tag::SET)?;
        ar.finish()?;
        let slot = if o.value == oid::ID_CONTENT_TYPE.as_bytes() {
            &mut content_type
        } else if o.value == oid::ID_MESSAGE_DIGEST.as_bytes() {
            &mut digest
        } else {
            continue;
        };
        let mut vr = values.reader();
        let v = vr.read()?;
        vr.finish()?;
        if slot.is_some() {
            return Err(a.error(ParseErrorKind::InvalidValue));
        }
        *slot = Some(v);
    }
    let ct = content_type
        .ok_or(attrs.error(ParseErrorKind::Missing))?
        .expect(tag::OID)?;
    let md = digest
        .ok_or(attrs.error(ParseErrorKind::Missing))?
        .expect(tag::OCTET_STRING)?;
    Ok((ct.value, md.value))
}
