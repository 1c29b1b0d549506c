//! PKCS #10 certification requests (RFC 2986 §4) as SCEP carries them
//! (RFC 8894 §3.3.1), and the `IssuerAndSubject` of a `CertPoll`
//! (RFC 8894 §3.3.3).
//!
//! ```text
//! CertificationRequest ::= SEQUENCE {
//!      certificationRequestInfo CertificationRequestInfo,
//!      signatureAlgorithm AlgorithmIdentifier,
//!      signature          BIT STRING }
//! CertificationRequestInfo ::= SEQUENCE {
//!      version       INTEGER { v1(0) },
//!      subject       Name,
//!      subjectPKInfo SubjectPublicKeyInfo,
//!      attributes    [0] Attributes }
//! ```

use der::Decode as _;
use x509_cert::name::Name;

use crate::crypto::{AlgorithmId, PublicKey};
use crate::error::{Error, ParseError, ParseErrorKind, Result, Structure};
use crate::oid;
use crate::tlv::{self, Reader, Tlv, tag};
use crate::{Decode, Encode};

/// Longest challenge password accepted, in bytes.
pub const MAX_CHALLENGE_LEN: usize = 1024;

/// A PKCS #10 request whose self-signature has been verified (proof of
/// possession of the private key, RFC 2986 §3).
#[derive(Clone, Debug)]
pub struct CertificationRequest {
    der: Vec<u8>,
    subject_der: Vec<u8>,
    subject: Name,
    spki_der: Vec<u8>,
    challenge_password: Option<String>,
    subject_alt_name: Option<Vec<u8>>,
}

impl CertificationRequest {
    /// The whole request, DER.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The requested subject.
    pub fn subject(&self) -> &Name {
        &self.subject
    }

    /// The requested subject, DER as sent.
    pub fn subject_der(&self) -> &[u8] {
        &self.subject_der
    }

    /// The `SubjectPublicKeyInfo`, DER.
    pub fn public_key_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The RSA key size in bits, if the key is RSA.
    pub fn rsa_bits(&self) -> Option<usize> {
        PublicKey::from_spki(&self.spki_der)
            .ok()
            .and_then(|k| k.rsa_bits())
    }

    /// The PKCS #9 `challengePassword` attribute (RFC 2985 §5.4.1), if any.
    pub fn challenge_password(&self) -> Option<&str> {
        self.challenge_password.as_deref()
    }

    /// The `extnValue` of a `subjectAltName` in the PKCS #9
    /// `extensionRequest` attribute (RFC 2985 §5.4.2), if any.
    pub fn requested_subject_alt_name(&self) -> Option<&[u8]> {
        self.subject_alt_name.as_deref()
    }
}

impl Decode<'_> for CertificationRequest {
    /// Parses a DER request and verifies its self-signature (RSA PKCS #1
    /// v1.5 with SHA-1/SHA-2, or ECDSA P-256 with SHA-256).
    fn decode(input: &[u8]) -> Result<Self> {
        let m = |e| Error::malformed(Structure::CertificationRequest, e);
        let der = tlv::to_der(input).map_err(m)?;
        let der = &*der;
        let outer = tlv::read_single(der)
            .map_err(m)?
            .expect(tag::SEQUENCE)
            .map_err(m)?;
        let mut r = outer.reader();
        let info = r.read_tag(tag::SEQUENCE).map_err(m)?;
        let sig_alg = AlgorithmId::read(r.read().map_err(m)?).map_err(m)?;
        let sig = r.read_tag(tag::BIT_STRING).map_err(m)?;
        r.finish().map_err(m)?;
        let Some((0, signature)) = sig.value.split_first() else {
            return Err(m(sig.error(ParseErrorKind::InvalidValue)));
        };

        let mut ir = info.reader();
        let version = tlv::small_uint(&ir.read().map_err(m)?).map_err(m)?;
        if version != 0 {
            return Err(m(ParseError::new(
                ParseErrorKind::UnsupportedVersion,
                info.value_offset,
            )));
        }
        let subject = ir.read_tag(tag::SEQUENCE).map_err(m)?;
        let spki = ir.read_tag(tag::SEQUENCE).map_err(m)?;
        // Some encoders leave out an empty attribute set.
        let attrs = ir.read_optional(tag::context(0)).map_err(m)?;
        ir.finish().map_err(m)?;

        let key = PublicKey::from_spki(spki.raw)?;
        key.verify(&sig_alg.oid, None, info.raw, signature)
            .map_err(|e| match e {
                Error::BadSignature => Error::BadCsrSignature,
                other => other,
            })?;

        let subject_name = Name::from_der(subject.raw)
            .map_err(|_| m(subject.error(ParseErrorKind::InvalidValue)))?;

        let mut challenge_password = None;
        let mut subject_alt_name = None;
        if let Some(attrs) = attrs {
            read_attributes(attrs, &mut challenge_password, &mut subject_alt_name).map_err(m)?;
        }

        Ok(Self {
            der: der.to_vec(),
            subject_der: subject.raw.to_vec(),
            subject: subject_name,
            spki_der: spki.raw.to_vec(),
            challenge_password,
            subject_alt_name,
        })
    }
}

fn read_attributes(
    attrs: Tlv<'_>,
    challenge: &mut Option<String>,
    san: &mut Option<Vec<u8>>,
) -> Result<(), ParseError> {
    let mut r = attrs.reader();
    let mut count = 0;
    while !r.is_empty() {
        count += 1;
        if count > 64 {
            return Err(ParseError::new(ParseErrorKind::TooManyElements, r.offset()));
        }
        let attr = r.read_tag(tag::SEQUENCE)?;
        let mut ar = attr.reader();
        let o = ar.read_tag(tag::OID)?;
        let values = ar.read_tag(tag::SET)?;
        ar.finish()?;
        let mut vr = values.reader();
        if o.value == oid::ID_CHALLENGE_PASSWORD.as_bytes() {
            let v = vr.read()?;
            vr.finish()?;
            if challenge.is_some() {
                return Err(attr.error(ParseErrorKind::InvalidValue));
            }
            *challenge = Some(directory_string(&v)?);
        } else if o.value == oid::ID_EXTENSION_REQUEST.as_bytes() {
            let exts = vr.read_tag(tag::SEQUENCE)?;
            vr.finish()?;
            *san = find_extension(exts, &oid::SUBJECT_ALT_NAME)?;
        }
    }
    Ok(())
}

/// The `extnValue` of extension `id` in an `Extensions` SEQUENCE.
fn find_extension(
    exts: Tlv<'_>,
    id: &const_oid::ObjectIdentifier,
) -> Result<Option<Vec<u8>>, ParseError> {
    let mut r = exts.reader();
    while !r.is_empty() {
        let ext = r.read_tag(tag::SEQUENCE)?;
        let mut er = ext.reader();
        let o = er.read_tag(tag::OID)?;
        let _critical = er.read_optional(tag::BOOLEAN)?;
        let value = er.read_tag(tag::OCTET_STRING)?;
        er.finish()?;
        if o.value == id.as_bytes() {
            // The value must itself be one DER element.
            tlv::read_single(value.value)?;
            return Ok(Some(value.value.to_vec()));
        }
    }
    Ok(None)
}

/// Reads a `DirectoryString` (RFC 5280 §4.1.2.4) or `IA5String` as text.
fn directory_string(v: &Tlv<'_>) -> Result<String, ParseError> {
    let bad = || v.error(ParseErrorKind::InvalidValue);
    if v.value.len() > MAX_CHALLENGE_LEN {
        return Err(bad());
    }
    match v.tag {
        tag::PRINTABLE_STRING | tag::UTF8_STRING | tag::IA5_STRING => {
            String::from_utf8(v.value.to_vec()).map_err(|_| bad())
        }
        // TeletexString: in practice Latin-1.
        tag::T61_STRING => Ok(v.value.iter().map(|b| char::from(*b)).collect()),
        tag::BMP_STRING => {
            if !v.value.len().is_multiple_of(2) {
                return Err(bad());
            }
            let units = v
                .value
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]));
            char::decode_utf16(units)
                .collect::<Result<String, _>>()
                .map_err(|_| bad())
        }
        tag::UNIVERSAL_STRING => {
            if !v.value.len().is_multiple_of(4) {
                return Err(bad());
            }
            v.value
                .chunks_exact(4)
                .map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
                .collect::<Option<String>>()
                .ok_or_else(bad)
        }
        found => Err(v.error(ParseErrorKind::UnexpectedTag {
            expected: tag::PRINTABLE_STRING,
            found,
        })),
    }
}

/// `IssuerAndSubject` (RFC 8894 §3.3.3), the content of a `CertPoll`
/// (`GetCertInitial`) message.
///
/// ```text
/// IssuerAndSubject ::= SEQUENCE {
///     issuer     Name,
///     subject    Name }
/// ```
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct IssuerAndSubject {
    /// The issuing CA's name, DER.
    pub issuer: Vec<u8>,
    /// The requested subject, DER.
    pub subject: Vec<u8>,
}

impl Decode<'_> for IssuerAndSubject {
    fn decode(der: &[u8]) -> Result<Self> {
        let m = |e| Error::malformed(Structure::IssuerAndSubject, e);
        let t = tlv::read_single(der)
            .map_err(m)?
            .expect(tag::SEQUENCE)
            .map_err(m)?;
        let mut r: Reader<'_> = t.reader();
        let issuer = r.read_tag(tag::SEQUENCE).map_err(m)?;
        let subject = r.read_tag(tag::SEQUENCE).map_err(m)?;
        r.finish().map_err(m)?;
        Ok(Self {
            issuer: issuer.raw.to_vec(),
            subject: subject.raw.to_vec(),
        })
    }
}

impl Encode for IssuerAndSubject {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&tlv::sequence(&[&self.issuer, &self.subject]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn issuer_and_subject_roundtrip(a in proptest::collection::vec(any::<u8>(), 0..40), b in proptest::collection::vec(any::<u8>(), 0..40)) {
            let v = IssuerAndSubject {
                issuer: tlv::sequence(&[&tlv::octet_string(&a)]),
                subject: tlv::sequence(&[&tlv::octet_string(&b)]),
            };
            prop_assert_eq!(IssuerAndSubject::decode(&v.to_der()).unwrap(), v);
        }

        #[test]
        fn csr_decode_never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = CertificationRequest::decode(&data);
        }
    }

    #[test]
    fn directory_strings() {
        let bmp = tlv::tlv(tag::BMP_STRING, &[0, b'h', 0, b'i']);
        let t = tlv::read_single(&bmp).unwrap();
        assert_eq!(directory_string(&t).unwrap(), "hi");
        let t61 = tlv::tlv(tag::T61_STRING, &[0xe9]);
        let t = tlv::read_single(&t61).unwrap();
        assert_eq!(directory_string(&t).unwrap(), "é");
        let bad = tlv::tlv(tag::OCTET_STRING, b"x");
        let t = tlv::read_single(&bad).unwrap();
        assert!(directory_string(&t).is_err());
    }
}
