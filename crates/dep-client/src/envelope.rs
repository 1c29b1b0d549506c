//! The CMS `EnvelopedData` (RFC 5652 §6) around a server token, with RSA
//! key transport (RFC 3370 §4.2.1 PKCS #1 v1.5, RFC 8017 §7.1 RSAES-OAEP)
//! and AES-CBC (RFC 3565) or Triple-DES-CBC (RFC 3370 §5.1) content
//! encryption.
//!
//! ```text
//! EnvelopedData ::= SEQUENCE {
//!   version CMSVersion,
//!   originatorInfo [0] IMPLICIT OriginatorInfo OPTIONAL,
//!   recipientInfos RecipientInfos,
//!   encryptedContentInfo EncryptedContentInfo,
//!   unprotectedAttrs [1] IMPLICIT UnprotectedAttributes OPTIONAL }
//! KeyTransRecipientInfo ::= SEQUENCE {
//!   version CMSVersion,  -- always set to 0 or 2
//!   rid RecipientIdentifier,
//!   keyEncryptionAlgorithm KeyEncryptionAlgorithmIdentifier,
//!   encryptedKey EncryptedKey }
//! ```
//!
//! The ASN.1 is read with the `cms` crate's types after the input has been
//! normalised from BER (Apple's files use indefinite lengths and chunked
//! OCTET STRINGs) to DER by `pippin-ber`; the decryption is done here.
//!
//! Every failure from the RSA step on is [`Error::Decryption`], with no
//! detail: PKCS #1 v1.5 decryption uses implicit rejection (a bad block
//! yields a pseudo-random key, not an error), so a wrong key, a tampered
//! key block and a tampered ciphertext are indistinguishable to a caller.

use cbc::cipher::{BlockModeDecrypt, KeyIvInit, block_padding::Pkcs7};
use cms::content_info::ContentInfo;
use cms::enveloped_data::{EnvelopedData, RecipientIdentifier, RecipientInfo};
use const_oid::ObjectIdentifier;
use der::asn1::OctetString;
use der::{Decode, Encode};
use x509_cert::Certificate;
use x509_cert::ext::pkix::SubjectKeyIdentifier;

use crate::error::{Error, Result};

const ID_ENVELOPED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.3");
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const RSAES_OAEP: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.7");
const AES128_CBC: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.2");
const AES192_CBC: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.22");
const AES256_CBC: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.42");
const DES_EDE3_CBC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.3.7");
const ID_SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const ID_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const ID_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
const ID_MGF1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.8");
const SUBJECT_KEY_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.14");

/// Most recipients looked at.
const MAX_RECIPIENTS: usize = 32;

/// A content-encryption algorithm of the token.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum ContentEncryption {
    /// AES-128-CBC (RFC 3565).
    Aes128Cbc,
    /// AES-192-CBC.
    Aes192Cbc,
    /// AES-256-CBC.
    Aes256Cbc,
    /// Triple-DES (EDE, three keys) CBC (RFC 3370 §5.1).
    DesEde3Cbc,
}

impl ContentEncryption {
    fn from_oid(oid: &ObjectIdentifier) -> Option<Self> {
        Some(match *oid {
            AES128_CBC => Self::Aes128Cbc,
            AES192_CBC => Self::Aes192Cbc,
            AES256_CBC => Self::Aes256Cbc,
            DES_EDE3_CBC => Self::DesEde3Cbc,
            _ => return None,
        })
    }

    fn key_len(self) -> usize {
        match self {
            Self::Aes128Cbc => 16,
            Self::Aes192Cbc | Self::DesEde3Cbc => 24,
            Self::Aes256Cbc => 32,
        }
    }

    fn block_len(self) -> usize {
        match self {
            Self::DesEde3Cbc => 8,
            _ => 16,
        }
    }

    /// Decrypts and removes the PKCS #7 padding (RFC 5652 §6.3).
    fn decrypt(self, key: &[u8], iv: &[u8], ciphertext: &[u8]) -> Option<Vec<u8>> {
        fn run<C>(key: &[u8], iv: &[u8], ct: &[u8]) -> Option<Vec<u8>>
        where
            cbc::Decryptor<C>: KeyIvInit + BlockModeDecrypt,
            C: cbc::cipher::BlockCipherDecrypt,
        {
            cbc::Decryptor::<C>::new_from_slices(key, iv)
                .ok()?
                .decrypt_padded_vec::<Pkcs7>(ct)
                .ok()
        }
        if key.len() != self.key_len() {
            return None;
        }
        match self {
            Self::Aes128Cbc => run::<aes::Aes128>(key, iv, ciphertext),
            Self::Aes192Cbc => run::<aes::Aes192>(key, iv, ciphertext),
            Self::Aes256Cbc => run::<aes::Aes256>(key, iv, ciphertext),
            Self::DesEde3Cbc => run::<des::TdesEde3>(key, iv, ciphertext),
        }
    }
}

/// How the content-encryption key was wrapped.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum KeyTransport {
    Pkcs1v15,
    Oaep(OaepHash),
}

#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum OaepHash {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl OaepHash {
    fn from_oid(oid: &ObjectIdentifier) -> Option<Self> {
        Some(match *oid {
            ID_SHA1 => Self::Sha1,
            ID_SHA256 => Self::Sha256,
            ID_SHA384 => Self::Sha384,
            ID_SHA512 => Self::Sha512,
            _ => return None,
        })
    }
}

/// One key-transport recipient.
struct Recipient {
    rid: RecipientIdentifier,
    transport: std::result::Result<KeyTransport, String>,
    encrypted_key: Vec<u8>,
}

/// A parsed envelope, not yet decrypted.
pub(crate) struct Envelope {
    recipients: Vec<Recipient>,
    other_recipients: usize,
    content: ContentEncryption,
    iv: Vec<u8>,
    ciphertext: Vec<u8>,
}

impl Envelope {
    /// Parses a (BER or DER) `ContentInfo` holding an `EnvelopedData`.
    pub(crate) fn parse(ber: &[u8]) -> Result<Self> {
        let der = pippin_ber::to_der(ber).map_err(|e| {
            Error::malformed(format!("the CMS structure is not valid BER/DER: {e}"))
        })?;
        let der = primitive_content(&der).map_err(|e| {
            Error::malformed(format!("the CMS structure is not an EnvelopedData: {e}"))
        })?;
        let ci = ContentInfo::from_der(&der)
            .map_err(|e| Error::malformed(format!("not a CMS ContentInfo: {e}")))?;
        if ci.content_type != ID_ENVELOPED_DATA {
            return Err(Error::malformed(format!(
                "the CMS content is {}, not enveloped data",
                ci.content_type
            )));
        }
        let env: EnvelopedData = ci
            .content
            .decode_as()
            .map_err(|e| Error::malformed(format!("not a CMS EnvelopedData: {e}")))?;
        let mut recipients = Vec::new();
        let mut other_recipients = 0;
        for ri in env.recip_infos.0.iter().take(MAX_RECIPIENTS) {
            match ri {
                RecipientInfo::Ktri(k) => recipients.push(Recipient {
                    rid: k.rid.clone(),
                    transport: key_transport(&k.key_enc_alg),
                    encrypted_key: k.enc_key.as_bytes().to_vec(),
                }),
                _ => other_recipients += 1,
            }
        }
        let eci = &env.encrypted_content;
        let alg = &eci.content_enc_alg;
        let content = ContentEncryption::from_oid(&alg.oid).ok_or_else(|| {
            Error::UnsupportedAlgorithm(format!("content encryption {}", alg.oid))
        })?;
        let iv = alg
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as::<OctetString>().ok())
            .map(|o| o.as_bytes().to_vec())
            .filter(|iv| iv.len() == content.block_len())
            .ok_or_else(|| Error::malformed("the content-encryption IV is missing or malformed"))?;
        let ciphertext = eci
            .encrypted_content
            .as_ref()
            .map(|o| o.as_bytes().to_vec())
            .ok_or_else(|| Error::malformed("the encrypted content is missing"))?;
        if ciphertext.is_empty() || !ciphertext.len().is_multiple_of(content.block_len()) {
            return Err(Error::malformed(
                "the encrypted content is not a whole number of cipher blocks (truncated?)",
            ));
        }
        Ok(Self {
            recipients,
            other_recipients,
            content,
            iv,
            ciphertext,
        })
    }

    /// The content-encryption algorithm.
    pub(crate) fn content_encryption(&self) -> ContentEncryption {
        self.content
    }

    /// Decrypts with `key`; `cert`, when given, picks the recipient (by
    /// issuer and serial number or subject key identifier), and a file
    /// with no recipient for it is [`Error::WrongRecipient`]. Without a
    /// certificate every RSA recipient is tried.
    pub(crate) fn decrypt<R: rand_core::CryptoRng + ?Sized>(
        &self,
        key: &rsa::PrivateKey,
        cert: Option<&Certificate>,
        rng: &mut R,
    ) -> Result<Vec<u8>> {
        if self.recipients.is_empty() {
            return Err(Error::UnsupportedAlgorithm(format!(
                "key management: the token has {} recipient(s), none with RSA key transport",
                self.other_recipients
            )));
        }
        let candidates: Vec<&Recipient> = match cert {
            Some(cert) => {
                let ski = subject_key_id(cert);
                let tbs = &cert.tbs_certificate();
                let matching: Vec<&Recipient> = self
                    .recipients
                    .iter()
                    .filter(|r| match &r.rid {
                        RecipientIdentifier::IssuerAndSerialNumber(ias) => {
                            ias.issuer == *tbs.issuer() && ias.serial_number == *tbs.serial_number()
                        }
                        RecipientIdentifier::SubjectKeyIdentifier(id) => {
                            ski.as_deref() == Some(id.0.as_bytes())
                        }
                    })
                    .collect();
                if matching.is_empty() {
                    return Err(Error::WrongRecipient {
                        recipient: describe(&self.recipients[0].rid),
                        ours_issuer: tbs.issuer().to_string(),
                        ours_serial: hex_upper(tbs.serial_number().as_bytes()),
                    });
                }
                matching
            }
            None => self.recipients.iter().collect(),
        };
        let mut unsupported = None;
        for r in candidates {
            let transport = match &r.transport {
                Ok(t) => *t,
                Err(e) => {
                    unsupported = Some(e.clone());
                    continue;
                }
            };
            let cek = match transport {
                KeyTransport::Pkcs1v15 => key.pkcs1v15_decrypt_with_rng(rng, &r.encrypted_key),
                KeyTransport::Oaep(h) => oaep_decrypt(key, h, rng, &r.encrypted_key),
            };
            let plain = cek
                .ok()
                .and_then(|cek| self.content.decrypt(&cek, &self.iv, &self.ciphertext));
            if let Some(plain) = plain {
                return Ok(plain);
            }
        }
        match unsupported {
            Some(e) => Err(Error::UnsupportedAlgorithm(e)),
            None => Err(Error::Decryption),
        }
    }
}

/// Rewrites a constructed `encryptedContent [0]` (BER's chunked form,
/// which `openssl cms -stream` and Apple's files use, and which a BER to
/// DER rewrite cannot make primitive because the tag is implicit) as one
/// primitive `[0]`, rebuilding the lengths around it. Anything else comes
/// back unchanged.
///
/// ```text
/// ContentInfo ::= SEQUENCE { contentType, content [0] EXPLICIT ANY }
/// EnvelopedData ::= SEQUENCE { version, originatorInfo [0] OPTIONAL,
///   recipientInfos SET, encryptedContentInfo SEQUENCE, unprotectedAttrs [1] OPTIONAL }
/// EncryptedContentInfo ::= SEQUENCE { contentType, contentEncryptionAlgorithm,
///   encryptedContent [0] IMPLICIT OCTET STRING OPTIONAL }
/// ```
fn primitive_content(der: &[u8]) -> pippin_ber::Result<std::borrow::Cow<'_, [u8]>> {
    use pippin_ber::{Reader, push_tlv};
    use std::borrow::Cow;
    const SEQUENCE: u8 = 0x30;
    const SET: u8 = 0x31;
    const EXPLICIT_0: u8 = 0xa0;
    const PRIMITIVE_0: u8 = 0x80;
    const OCTET_STRING: u8 = 0x04;

    let mut top = Reader::new(der);
    let ci = top.read()?;
    if ci.tag != SEQUENCE {
        return Ok(Cow::Borrowed(der));
    }
    let mut ci_r = top.enter(&ci);
    let content_type = ci_r.read()?;
    if ci_r.peek_tag() != Some(EXPLICIT_0) {
        return Ok(Cow::Borrowed(der));
    }
    let explicit = ci_r.read()?;
    let mut ex_r = ci_r.enter(&explicit);
    let env = ex_r.read()?;
    if env.tag != SEQUENCE {
        return Ok(Cow::Borrowed(der));
    }
    let mut env_r = ex_r.enter(&env);
    let mut before: Vec<u8> = Vec::new();
    let mut eci = None;
    let mut seen_set = false;
    while !env_r.is_empty() {
        let item = env_r.read()?;
        if seen_set && item.tag == SEQUENCE {
            eci = Some(item);
            break;
        }
        seen_set |= item.tag == SET;
        before.extend_from_slice(item.raw);
    }
    let Some(eci) = eci else {
        return Ok(Cow::Borrowed(der));
    };
    let after = &env.value[eci.value_offset() + eci.value.len() - env.value_offset()..];
    let mut eci_r = env_r.enter(&eci);
    let mut eci_body: Vec<u8> = Vec::new();
    let mut changed = false;
    while !eci_r.is_empty() {
        let item = eci_r.read()?;
        if item.tag != EXPLICIT_0 {
            eci_body.extend_from_slice(item.raw);
            continue;
        }
        let mut segments = eci_r.enter(&item);
        let mut content = Vec::with_capacity(item.value.len());
        while !segments.is_empty() {
            let seg = segments.read()?;
            if seg.tag != OCTET_STRING {
                return Err(pippin_ber::Error::new(
                    pippin_ber::ErrorKind::BadStringSegment,
                    seg.offset,
                ));
            }
            content.extend_from_slice(seg.value);
        }
        push_tlv(&mut eci_body, PRIMITIVE_0, &content);
        changed = true;
    }
    if !changed {
        return Ok(Cow::Borrowed(der));
    }
    let mut env_body = before;
    push_tlv(&mut env_body, SEQUENCE, &eci_body);
    env_body.extend_from_slice(after);
    let mut explicit_body = Vec::with_capacity(env_body.len() + 8);
    push_tlv(&mut explicit_body, SEQUENCE, &env_body);
    let mut ci_body = content_type.raw.to_vec();
    push_tlv(&mut ci_body, EXPLICIT_0, &explicit_body);
    let mut out = Vec::with_capacity(ci_body.len() + 8);
    push_tlv(&mut out, SEQUENCE, &ci_body);
    Ok(Cow::Owned(out))
}

fn oaep_decrypt<R: rand_core::CryptoRng + ?Sized>(
    key: &rsa::PrivateKey,
    hash: OaepHash,
    rng: &mut R,
    block: &[u8],
) -> rsa::Result<Vec<u8>> {
    match hash {
        OaepHash::Sha1 => key.oaep_decrypt_with_rng::<sha1::Sha1, _>(rng, block),
        OaepHash::Sha256 => key.oaep_decrypt_with_rng::<sha2::Sha256, _>(rng, block),
        OaepHash::Sha384 => key.oaep_decrypt_with_rng::<sha2::Sha384, _>(rng, block),
        OaepHash::Sha512 => key.oaep_decrypt_with_rng::<sha2::Sha512, _>(rng, block),
    }
}

/// The key-transport algorithm: `rsaEncryption`, or `id-RSAES-OAEP` with a
/// SHA-1/SHA-2 hash, MGF1 with the same hash, and the empty label
/// (RFC 8017 §A.2.1; RFC 4055 §4.1).
fn key_transport(
    alg: &spki::AlgorithmIdentifierOwned,
) -> std::result::Result<KeyTransport, String> {
    match alg.oid {
        RSA_ENCRYPTION => Ok(KeyTransport::Pkcs1v15),
        RSAES_OAEP => {
            let Some(params) = &alg.parameters else {
                return Ok(KeyTransport::Oaep(OaepHash::Sha1));
            };
            let der = params
                .to_der()
                .map_err(|e| format!("RSAES-OAEP parameters: {e}"))?;
            let p = rsa::pkcs1::RsaOaepParams::<der::Any>::from_der(&der)
                .map_err(|e| format!("RSAES-OAEP parameters: {e}"))?;
            let hash = OaepHash::from_oid(&p.hash.oid)
                .ok_or_else(|| format!("RSAES-OAEP with hash {}", p.hash.oid))?;
            if p.mask_gen.oid != ID_MGF1
                || p.mask_gen.parameters.as_ref().map(|a| a.oid) != Some(p.hash.oid)
            {
                return Err("RSAES-OAEP with a mask generation other than MGF1(hash)".to_owned());
            }
            let label_empty = p
                .p_source
                .parameters
                .as_ref()
                .and_then(|a| a.decode_as::<OctetString>().ok())
                .is_none_or(|o| o.as_bytes().is_empty());
            if !label_empty {
                return Err("RSAES-OAEP with a label".to_owned());
            }
            Ok(KeyTransport::Oaep(hash))
        }
        other => Err(format!("key transport {other}")),
    }
}

fn subject_key_id(cert: &Certificate) -> Option<Vec<u8>> {
    cert.tbs_certificate()
        .extensions()?
        .iter()
        .find(|e| e.extn_id == SUBJECT_KEY_ID)
        .and_then(|e| SubjectKeyIdentifier::from_der(e.extn_value.as_bytes()).ok())
        .map(|s| s.0.as_bytes().to_vec())
}

fn describe(rid: &RecipientIdentifier) -> String {
    match rid {
        RecipientIdentifier::IssuerAndSerialNumber(ias) => format!(
            "issuer {}, serial {}",
            ias.issuer,
            hex_upper(ias.serial_number.as_bytes())
        ),
        RecipientIdentifier::SubjectKeyIdentifier(id) => {
            format!("subject key identifier {}", hex_upper(id.0.as_bytes()))
        }
    }
}

fn hex_upper(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}
