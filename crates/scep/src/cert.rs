//! A read-only view of an X.509 certificate (RFC 5280 §4.1) over its DER,
//! keeping the raw bytes that signatures and CMS identifiers refer to.

use std::time::Duration;

use const_oid::ObjectIdentifier;
use der::Decode as _;

use crate::crypto::{AlgorithmId, PublicKey};
use crate::error::{Error, ParseError, ParseErrorKind, Result, Structure};
use crate::oid;
use crate::tlv::{self, Tlv, tag};

/// The parts of a certificate this crate uses.
#[derive(Clone, Debug)]
pub(crate) struct CertView<'a> {
    /// The whole certificate.
    pub(crate) raw: &'a [u8],
    /// `tbsCertificate`, as signed.
    pub(crate) tbs: &'a [u8],
    /// `serialNumber` contents octets.
    pub(crate) serial: &'a [u8],
    /// `issuer` (whole Name encoding).
    pub(crate) issuer: &'a [u8],
    /// `subject` (whole Name encoding).
    pub(crate) subject: &'a [u8],
    /// `subjectPublicKeyInfo` (whole encoding).
    pub(crate) spki: &'a [u8],
    /// `notBefore`, seconds since the Unix epoch.
    pub(crate) not_before: Duration,
    /// `notAfter`, seconds since the Unix epoch.
    pub(crate) not_after: Duration,
    /// `signatureAlgorithm`.
    pub(crate) signature_algorithm: ObjectIdentifier,
    /// `signatureValue` (without the unused-bits octet).
    pub(crate) signature: &'a [u8],
    /// The `extensions` SEQUENCE, if present.
    extensions: Option<Tlv<'a>>,
}

impl<'a> CertView<'a> {
    /// Reads a DER certificate spanning all of `der`.
    pub(crate) fn parse(der: &'a [u8]) -> Result<Self> {
        Self::parse_inner(der).map_err(|e| Error::malformed(Structure::Certificate, e))
    }

    fn parse_inner(der: &'a [u8]) -> Result<Self, ParseError> {
        let cert = tlv::read_single(der)?.expect(tag::SEQUENCE)?;
        let mut r = cert.reader();
        let tbs = r.read_tag(tag::SEQUENCE)?;
        let sig_alg = AlgorithmId::read(r.read()?)?;
        let sig = r.read_tag(tag::BIT_STRING)?;
        r.finish()?;
        let Some((0, signature)) = sig.value.split_first() else {
            return Err(sig.error(ParseErrorKind::InvalidValue));
        };

        let mut t = tbs.reader();
        if let Some(v) = t.read_optional(tag::context(0))? {
            let mut vr = v.reader();
            let version = tlv::small_uint(&vr.read()?)?;
            vr.finish()?;
            if version > 2 {
                return Err(v.error(ParseErrorKind::UnsupportedVersion));
            }
        }
        let serial = t.read_tag(tag::INTEGER)?;
        if serial.value.is_empty() {
            return Err(serial.error(ParseErrorKind::InvalidValue));
        }
        let _tbs_sig = t.read_tag(tag::SEQUENCE)?;
        let issuer = t.read_tag(tag::SEQUENCE)?;
        let validity = t.read_tag(tag::SEQUENCE)?;
        let subject = t.read_tag(tag::SEQUENCE)?;
        let spki = t.read_tag(tag::SEQUENCE)?;
        let mut extensions = None;
        while !t.is_empty() {
            let e = t.read()?;
            match e.tag {
                // issuerUniqueID, subjectUniqueID
                0x81 | 0x82 | 0xa1 | 0xa2 => {}
                0xa3 => {
                    let mut er = e.reader();
                    extensions = Some(er.read_tag(tag::SEQUENCE)?);
                    er.finish()?;
                }
                _ => return Err(e.error(ParseErrorKind::InvalidValue)),
            }
        }
        let mut vr = validity.reader();
        let not_before = read_time(vr.read()?)?;
        let not_after = read_time(vr.read()?)?;
        vr.finish()?;
        Ok(Self {
            raw: der,
            tbs: tbs.raw,
            serial: serial.value,
            issuer: issuer.raw,
            subject: subject.raw,
            spki: spki.raw,
            not_before,
            not_after,
            signature_algorithm: sig_alg.oid,
            signature,
            extensions,
        })
    }

    /// The subject public key.
    pub(crate) fn public_key(&self) -> Result<PublicKey> {
        PublicKey::from_spki(self.spki)
    }

    /// The raw `extnValue` contents of extension `id`, if present.
    pub(crate) fn extension(&self, id: &ObjectIdentifier) -> Option<&'a [u8]> {
        let exts = self.extensions?;
        let mut r = exts.reader();
        while !r.is_empty() {
            let ext = r.read().ok()?;
            let mut er = ext.reader();
            let o = er.read_tag(tag::OID).ok()?;
            if o.value != id.as_bytes() {
                continue;
            }
            let _critical = er.read_optional(tag::BOOLEAN).ok()?;
            return er.read_tag(tag::OCTET_STRING).ok().map(|v| v.value);
        }
        None
    }

    /// The `subjectKeyIdentifier` (RFC 5280 §4.2.1.2), if present.
    pub(crate) fn subject_key_identifier(&self) -> Option<&'a [u8]> {
        let v = self.extension(&oid::SUBJECT_KEY_IDENTIFIER)?;
        tlv::read_single(v)
            .ok()
            .filter(|t| t.tag == tag::OCTET_STRING)
            .map(|t| t.value)
    }

    /// The key identifier this certificate's key is known by: its
    /// `subjectKeyIdentifier`, else the SHA-1 of its public key bits.
    pub(crate) fn key_identifier(&self) -> Vec<u8> {
        if let Some(ski) = self.subject_key_identifier() {
            return ski.to_vec();
        }
        key_id_from_spki(self.spki)
    }

    /// Whether `serial` (INTEGER contents) and `issuer` (Name encoding)
    /// identify this certificate (RFC 5652 §10.2.4 `IssuerAndSerialNumber`).
    pub(crate) fn matches_issuer_serial(&self, issuer: &[u8], serial: &[u8]) -> bool {
        self.issuer == issuer && strip_sign(self.serial) == strip_sign(serial)
    }

    /// Whether this certificate is valid at `now` (seconds since the epoch).
    pub(crate) fn valid_at(&self, now: Duration) -> bool {
        self.not_before <= now && now <= self.not_after
    }

    /// Whether `issuer` signed this certificate: names chain and the
    /// signature verifies with `issuer`'s key.
    pub(crate) fn is_signed_by(&self, issuer: &CertView<'_>) -> bool {
        if self.issuer != issuer.subject {
            return false;
        }
        let Ok(key) = issuer.public_key() else {
            return false;
        };
        key.verify(&self.signature_algorithm, None, self.tbs, self.signature)
            .is_ok()
    }
}

/// Leading zero octets of an INTEGER's contents, dropped for comparison.
fn strip_sign(v: &[u8]) -> &[u8] {
    let skip = v.iter().take_while(|b| **b == 0).count();
    &v[skip.min(v.len().saturating_sub(1))..]
}

/// SHA-1 over the `subjectPublicKey` bits of a SPKI (RFC 5280 §4.2.1.2 (1)).
pub(crate) fn key_id_from_spki(spki: &[u8]) -> Vec<u8> {
    let bits = tlv::read_single(spki).ok().and_then(|t| {
        let mut r = t.reader();
        r.read().ok()?;
        let b = r.read_tag(tag::BIT_STRING).ok()?;
        b.value.get(1..)
    });
    crate::crypto::sha1(bits.unwrap_or(spki)).to_vec()
}

/// Reads a `Time ::= CHOICE { utcTime, generalTime }`.
pub(crate) fn read_time(t: Tlv<'_>) -> Result<Duration, ParseError> {
    match t.tag {
        tag::UTC_TIME => der::asn1::UtcTime::from_der(t.raw)
            .map(|u| u.to_unix_duration())
            .map_err(|_| t.error(ParseErrorKind::InvalidValue)),
        tag::GENERALIZED_TIME => der::asn1::GeneralizedTime::from_der(t.raw)
            .map(|g| g.to_unix_duration())
            .map_err(|_| t.error(ParseErrorKind::InvalidValue)),
        found => Err(t.error(ParseErrorKind::UnexpectedTag {
            expected: tag::UTC_TIME,
            found,
        })),
    }
}

/// Encodes a `Time` as RFC 5280 §4.1.2.5 requires: `UTCTime` through 2049,
/// `GeneralizedTime` from 2050.
pub(crate) fn encode_time(t: Duration) -> Result<Vec<u8>> {
    use der::Encode as _;
    // 2050-01-01T00:00:00Z
    const Y2050: u64 = 2_524_608_000;
    let secs = Duration::from_secs(t.as_secs());
    if secs.as_secs() < Y2050 {
        Ok(der::asn1::UtcTime::from_unix_duration(secs)?.to_der()?)
    } else {
        Ok(der::asn1::GeneralizedTime::from_unix_duration(secs)?.to_der()?)
    }
}

/// A certificate's DER decoded as an `x509_cert::Certificate`.
pub(crate) fn decode_x509(der: &[u8]) -> Result<x509_cert::Certificate> {
    x509_cert::Certificate::from_der(der).map_err(|e| {
        Error::malformed(
            Structure::Certificate,
            ParseError::new(
                ParseErrorKind::InvalidValue,
                e.position()
                    .and_then(|p| usize::try_from(p).ok())
                    .unwrap_or(0),
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_encoding_switches_at_2050() {
        let t = encode_time(Duration::from_secs(0)).unwrap();
        assert_eq!(t[0], tag::UTC_TIME);
        assert_eq!(&t[2..], b"700101000000Z");
        let t = encode_time(Duration::from_secs(2_524_608_000)).unwrap();
        assert_eq!(t[0], tag::GENERALIZED_TIME);
        assert_eq!(&t[2..], b"20500101000000Z");
        let back = read_time(tlv::read_single(&t).unwrap()).unwrap();
        assert_eq!(back.as_secs(), 2_524_608_000);
    }

    #[test]
    fn strip_sign_keeps_zero() {
        assert_eq!(strip_sign(&[0]), &[0]);
        assert_eq!(strip_sign(&[0, 0x80]), &[0x80]);
        assert_eq!(strip_sign(&[5]), &[5]);
    }
}
