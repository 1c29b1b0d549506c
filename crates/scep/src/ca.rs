//! The certificate authority: its certificate, RSA key and chain, issuance
//! of certificates from verified requests (RFC 5280 §4.1), and PEM helpers
//! (RFC 7468) that work on bytes, not files.

use std::time::{Duration, SystemTime};

use der::Encode as _;
use x509_cert::name::Name;

use crate::cert::{CertView, encode_time, key_id_from_spki};
use crate::crypto::PublicKey;
use crate::csr::CertificationRequest;
use crate::error::{Error, Result};
use crate::oid;
use crate::tlv::{self, tag};

/// Clock skew allowed for: certificates are valid from an hour before `now`.
pub const BACKDATE: Duration = Duration::from_secs(3600);

/// Validity of a CA made by [`CertificateAuthority::generate_self_signed`]:
/// ten years.
pub const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// RSA modulus size of a generated CA key.
pub const CA_KEY_BITS: usize = 2048;

/// How certificates are issued.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct IssueOptions {
    validity_days: u32,
    copy_subject_alt_name: bool,
    min_rsa_bits: usize,
}

impl Default for IssueOptions {
    /// 365 days, no `subjectAltName` copied, RSA keys of 2048 bits or more.
    fn default() -> Self {
        Self {
            validity_days: 365,
            copy_subject_alt_name: false,
            min_rsa_bits: 2048,
        }
    }
}

impl IssueOptions {
    /// Days an issued certificate is valid (capped by the CA's own expiry).
    pub fn validity_days(&mut self, days: u32) -> &mut Self {
        self.validity_days = days.max(1);
        self
    }

    /// Whether to copy a `subjectAltName` requested in the CSR's
    /// `extensionRequest` into the certificate. Off by default: a device
    /// identity certificate needs none, and a requester should not choose
    /// names the CA vouches for unless the deployment wants it.
    pub fn copy_subject_alt_name(&mut self, copy: bool) -> &mut Self {
        self.copy_subject_alt_name = copy;
        self
    }

    /// Smallest RSA key accepted in a request.
    pub fn min_rsa_bits(&mut self, bits: usize) -> &mut Self {
        self.min_rsa_bits = bits;
        self
    }

    pub(crate) fn min_rsa_bits_value(&self) -> usize {
        self.min_rsa_bits
    }
}

/// A CA that issues certificates and answers SCEP with its RSA key.
///
/// The same key decrypts requests (the CA certificate is the SCEP
/// recipient) and signs responses and certificates.
#[derive(Clone)]
pub struct CertificateAuthority {
    cert: Vec<u8>,
    key: rsa::PrivateKey,
    chain: Vec<Vec<u8>>,
}

impl core::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field(
                "cert_sha256",
                &hex_string(&crate::crypto::sha256(&self.cert)),
            )
            .field("chain_len", &self.chain.len())
            .finish_non_exhaustive()
    }
}

fn hex_string(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl CertificateAuthority {
    /// A CA from its certificate (DER), RSA key and chain (DER, issuer of
    /// `cert` first, root last; empty for a self-signed CA).
    ///
    /// Fails if the key does not belong to the certificate.
    pub fn new(cert: Vec<u8>, key: rsa::PrivateKey, chain: Vec<Vec<u8>>) -> Result<Self> {
        let view = CertView::parse(&cert)?;
        match view.public_key()? {
            PublicKey::Rsa(public) if &public == key.as_public_key() => {}
            _ => return Err(Error::CaConfig("the key does not match the certificate")),
        }
        for c in &chain {
            CertView::parse(c)?;
        }
        Ok(Self { cert, key, chain })
    }

    /// Makes a new self-signed CA with an RSA-2048 key, valid from an hour
    /// before `now` for [`CA_VALIDITY`].
    ///
    /// `subject` is an RFC 4514 string such as `"CN=Pippin CA,O=Example"`.
    pub fn generate_self_signed<R: rand_core::CryptoRng + ?Sized>(
        subject: &str,
        now: SystemTime,
        rng: &mut R,
    ) -> Result<Self> {
        let name: Name = subject
            .parse()
            .map_err(|_| Error::CaConfig("invalid subject name"))?;
        let name_der = name.to_der()?;
        let key = rsa::PrivateKey::new(rng, CA_KEY_BITS)?;
        let spki = rsa_spki(key.as_public_key())?;
        let ski = key_id_from_spki(&spki);
        let now = unix(now)?;

        let extensions = [
            extension(
                &oid::BASIC_CONSTRAINTS,
                true,
                &tlv::sequence(&[&[tag::BOOLEAN, 1, 0xff]]),
            ),
            // digitalSignature(0), keyEncipherment(2), keyCertSign(5), cRLSign(6)
            extension(&oid::KEY_USAGE, true, &[tag::BIT_STRING, 2, 1, 0xa6]),
            extension(
                &oid::SUBJECT_KEY_IDENTIFIER,
                false,
                &tlv::octet_string(&ski),
            ),
        ];
        let tbs = tbs_certificate(
            &random_serial(rng),
            &name_der,
            now.saturating_sub(BACKDATE),
            now + CA_VALIDITY,
            &name_der,
            &spki,
            &extensions,
        )?;
        let cert = sign_certificate(&key, &tbs, rng)?;
        Self::new(cert, key, Vec::new())
    }

    /// Reads a CA from PEM: `cert_pem` holds the CA certificate followed by
    /// its chain (`CERTIFICATE` blocks); `key_pem` holds its key as
    /// `PRIVATE KEY` (PKCS #8) or `RSA PRIVATE KEY` (PKCS #1), unencrypted.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Self> {
        let mut certs = pem_blocks(cert_pem, "CERTIFICATE")?.into_iter();
        let cert = certs
            .next()
            .ok_or_else(|| Error::Pem("no CERTIFICATE block".into()))?;
        let (label, key_der) =
            der::pem::decode_vec(trim_to_pem(key_pem)).map_err(|e| Error::Pem(e.to_string()))?;
        let key = match label {
            "PRIVATE KEY" => {
                use rsa::pkcs8::DecodePrivateKey;
                rsa::PrivateKey::from_pkcs8_der(&key_der)
                    .map_err(|_| Error::CaConfig("unreadable PKCS #8 RSA key"))?
            }
            "RSA PRIVATE KEY" => {
                use rsa::pkcs1::DecodeRsaPrivateKey;
                rsa::PrivateKey::from_pkcs1_der(&key_der)
                    .map_err(|_| Error::CaConfig("unreadable PKCS #1 RSA key"))?
            }
            other => return Err(Error::Pem(format!("unexpected key label {other:?}"))),
        };
        Self::new(cert, key, certs.collect())
    }

    /// The CA certificate followed by its chain, as PEM.
    pub fn certificate_pem(&self) -> Result<String> {
        let mut out = String::new();
        for der in std::iter::once(&self.cert).chain(&self.chain) {
            out.push_str(
                &der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, der)
                    .map_err(|e| Error::Pem(e.to_string()))?,
            );
        }
        Ok(out)
    }

    /// The private key as unencrypted PKCS #8 PEM (`PRIVATE KEY`). Store it
    /// encrypted at rest.
    pub fn private_key_pem(&self) -> Result<String> {
        use rsa::pkcs8::EncodePrivateKey;
        let doc = self
            .key
            .to_pkcs8_der()
            .map_err(|_| Error::CaConfig("cannot encode the key"))?;
        der::pem::encode_string("PRIVATE KEY", der::pem::LineEnding::LF, doc.as_bytes())
            .map_err(|e| Error::Pem(e.to_string()))
    }

    /// The CA certificate, DER.
    pub fn certificate_der(&self) -> &[u8] {
        &self.cert
    }

    /// The chain above the CA certificate, DER.
    pub fn chain(&self) -> &[Vec<u8>] {
        &self.chain
    }

    /// The CA certificate as an `x509_cert::Certificate`.
    pub fn certificate(&self) -> Result<x509_cert::Certificate> {
        crate::cert::decode_x509(&self.cert)
    }

    pub(crate) fn private_key(&self) -> &rsa::PrivateKey {
        &self.key
    }

    /// Whether `cert` (DER) was issued by this CA and is valid at `now`:
    /// its issuer is this CA's subject, its signature verifies with this
    /// CA's key, and `now` is within its validity.
    pub fn has_issued(&self, cert: &[u8], now: SystemTime) -> bool {
        let (Ok(view), Ok(ca), Ok(now)) = (
            CertView::parse(cert),
            CertView::parse(&self.cert),
            unix(now),
        ) else {
            return false;
        };
        view.valid_at(now) && view.is_signed_by(&ca)
    }

    /// Issues a certificate (DER) for a verified request.
    ///
    /// Subject and public key come from the request; the serial number is
    /// 16 random bytes from `rng` (positive); validity runs from
    /// [`BACKDATE`] before `now` for the configured days, capped at the CA's
    /// own expiry; extensions: `basicConstraints` cA=FALSE (critical),
    /// `keyUsage` digitalSignature (+ keyEncipherment for RSA keys)
    /// (critical), `extKeyUsage` clientAuth, `subjectKeyIdentifier`,
    /// `authorityKeyIdentifier`, and `subjectAltName` if configured.
    pub fn issue<R: rand_core::CryptoRng + ?Sized>(
        &self,
        csr: &CertificationRequest,
        options: &IssueOptions,
        now: SystemTime,
        rng: &mut R,
    ) -> Result<Vec<u8>> {
        let ca = CertView::parse(&self.cert)?;
        let key = PublicKey::from_spki(csr.public_key_der())?;
        let rsa_key = if let Some(bits) = key.rsa_bits() {
            if bits < options.min_rsa_bits {
                return Err(Error::WeakKey {
                    bits,
                    min: options.min_rsa_bits,
                });
            }
            true
        } else {
            false
        };
        let now = unix(now)?;
        let not_before = now.saturating_sub(BACKDATE);
        let lifetime = Duration::from_secs(u64::from(options.validity_days) * 86_400);
        let not_after = (now + lifetime).min(ca.not_after);
        if not_after <= now {
            return Err(Error::CaConfig("the CA certificate has expired"));
        }

        // digitalSignature(0) [+ keyEncipherment(2)]
        let key_usage: &[u8] = if rsa_key {
            &[tag::BIT_STRING, 2, 5, 0xa0]
        } else {
            &[tag::BIT_STRING, 2, 7, 0x80]
        };
        let mut extensions = vec![
            extension(&oid::BASIC_CONSTRAINTS, true, &tlv::sequence(&[])),
            extension(&oid::KEY_USAGE, true, key_usage),
            extension(
                &oid::EXT_KEY_USAGE,
                false,
                &tlv::sequence(&[&tlv::oid(&oid::KP_CLIENT_AUTH)]),
            ),
            extension(
                &oid::SUBJECT_KEY_IDENTIFIER,
                false,
                &tlv::octet_string(&key_id_from_spki(csr.public_key_der())),
            ),
            extension(
                &oid::AUTHORITY_KEY_IDENTIFIER,
                false,
                &tlv::sequence(&[&tlv::tlv(tag::context_primitive(0), &ca.key_identifier())]),
            ),
        ];
        if options.copy_subject_alt_name
            && let Some(san) = csr.requested_subject_alt_name()
        {
            extensions.push(extension(&oid::SUBJECT_ALT_NAME, false, san));
        }
        let tbs = tbs_certificate(
            &random_serial(rng),
            ca.subject,
            not_before,
            not_after,
            csr.subject_der(),
            csr.public_key_der(),
            &extensions,
        )?;
        sign_certificate(&self.key, &tbs, rng)
    }
}

/// Seconds since the Unix epoch.
pub(crate) fn unix(t: SystemTime) -> Result<Duration> {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_err(|_| Error::Encoding("time before 1970".into()))
}

/// 16 random bytes, positive, first octet non-zero (RFC 5280 §4.1.2.2).
pub(crate) fn random_serial<R: rand_core::CryptoRng + ?Sized>(rng: &mut R) -> [u8; 16] {
    let mut serial = [0u8; 16];
    rng.fill_bytes(&mut serial);
    serial[0] = (serial[0] & 0x7f) | 0x40;
    serial
}

/// `Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }`.
pub(crate) fn extension(id: &const_oid::ObjectIdentifier, critical: bool, value: &[u8]) -> Vec<u8> {
    if critical {
        tlv::sequence(&[
            &tlv::oid(id),
            &[tag::BOOLEAN, 1, 0xff],
            &tlv::octet_string(value),
        ])
    } else {
        tlv::sequence(&[&tlv::oid(id), &tlv::octet_string(value)])
    }
}

/// A v3 `TBSCertificate` signed with sha256WithRSAEncryption.
pub(crate) fn tbs_certificate(
    serial: &[u8],
    issuer: &[u8],
    not_before: Duration,
    not_after: Duration,
    subject: &[u8],
    spki: &[u8],
    extensions: &[Vec<u8>],
) -> Result<Vec<u8>> {
    let exts: Vec<&[u8]> = extensions.iter().map(Vec::as_slice).collect();
    Ok(tlv::sequence(&[
        &tlv::constructed(tag::context(0), &[&tlv::small_int(2)]),
        &tlv::unsigned_int(serial),
        &tlv::algorithm(&oid::SHA256_WITH_RSA, true),
        issuer,
        &tlv::sequence(&[&encode_time(not_before)?, &encode_time(not_after)?]),
        subject,
        spki,
        &tlv::constructed(tag::context(3), &[&tlv::sequence(&exts)]),
    ]))
}

pub(crate) fn sign_certificate<R: rand_core::CryptoRng + ?Sized>(
    key: &rsa::PrivateKey,
    tbs: &[u8],
    rng: &mut R,
) -> Result<Vec<u8>> {
    let sig = key.pkcs1v15_sign_with_rng::<sha2::Sha256, R>(rng, tbs)?;
    Ok(tlv::sequence(&[
        tbs,
        &tlv::algorithm(&oid::SHA256_WITH_RSA, true),
        &tlv::bit_string(&sig),
    ]))
}

/// The `SubjectPublicKeyInfo` of an RSA key.
pub(crate) fn rsa_spki(key: &rsa::PublicKey) -> Result<Vec<u8>> {
    use rsa::pkcs1::EncodeRsaPublicKey;
    let pkcs1 = key
        .to_pkcs1_der()
        .map_err(|_| Error::CaConfig("cannot encode the public key"))?;
    Ok(tlv::sequence(&[
        &tlv::algorithm(&oid::RSA_ENCRYPTION, true),
        &tlv::bit_string(pkcs1.as_bytes()),
    ]))
}

/// Skips anything before the first `-----BEGIN` (comments, `openssl`'s
/// "Bag Attributes").
fn trim_to_pem(input: &[u8]) -> &[u8] {
    input
        .windows(10)
        .position(|w| w == b"-----BEGIN")
        .map_or(input, |i| &input[i..])
}

/// Every PEM block labelled `label`, decoded, in order.
pub(crate) fn pem_blocks(input: &[u8], label: &str) -> Result<Vec<Vec<u8>>> {
    const END: &[u8] = b"-----END ";
    let mut out = Vec::new();
    let mut rest = input;
    loop {
        rest = trim_to_pem(rest);
        if !rest.starts_with(b"-----BEGIN") {
            break;
        }
        // The block ends at the end of its "-----END ...-----" line.
        let end = rest
            .windows(END.len())
            .position(|w| w == END)
            .and_then(|i| {
                rest[i + END.len()..]
                    .windows(5)
                    .position(|w| w == b"-----")
                    .map(|j| i + END.len() + j + 5)
            })
            .ok_or_else(|| Error::Pem("unterminated PEM block".into()))?;
        let (found, der) =
            der::pem::decode_vec(&rest[..end]).map_err(|e| Error::Pem(e.to_string()))?;
        if found == label {
            out.push(der);
        }
        rest = &rest[end..];
        if out.len() > 32 {
            return Err(Error::Pem("too many PEM blocks".into()));
        }
    }
    Ok(out)
}
