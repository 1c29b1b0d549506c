//! The `pkcsPKIEnvelope` (RFC 8894 §3.2.2): a CMS `EnvelopedData`
//! (RFC 5652 §6) with RSA key transport (RFC 5652 §6.2.1, RFC 3370 §4.2.1).
//!
//! ```text
//! EnvelopedData ::= SEQUENCE {
//!   version CMSVersion,
//!   originatorInfo [0] IMPLICIT OriginatorInfo OPTIONAL,
//!   recipientInfos RecipientInfos,
//!   encryptedContentInfo EncryptedContentInfo,
//!   unprotectedAttrs [1] IMPLICIT UnprotectedAttributes OPTIONAL }
//! EncryptedContentInfo ::= SEQUENCE {
//!   contentType ContentType,
//!   contentEncryptionAlgorithm ContentEncryptionAlgorithmIdentifier,
//!   encryptedContent [0] IMPLICIT EncryptedContent OPTIONAL }
//! KeyTransRecipientInfo ::= SEQUENCE {
//!   version CMSVersion,  -- always set to 0 or 2
//!   rid RecipientIdentifier,
//!   keyEncryptionAlgorithm KeyEncryptionAlgorithmIdentifier,
//!   encryptedKey EncryptedKey }
//! ```

use const_oid::ObjectIdentifier;

use crate::cert::CertView;
use crate::crypto::{AlgorithmId, ContentEncryption};
use crate::error::{Error, ParseError, ParseErrorKind, Result, Structure};
use crate::oid;
use crate::tlv::{self, Tlv, tag};

/// Most `RecipientInfo`s looked at.
const MAX_RECIPIENTS: usize = 16;

/// A parsed envelope, not yet decrypted.
#[derive(Debug)]
pub(crate) struct Envelope<'a> {
    recipients: Vec<KeyTrans<'a>>,
    content_alg: ObjectIdentifier,
    iv: Option<&'a [u8]>,
    ciphertext: Vec<u8>,
}

#[derive(Debug)]
struct KeyTrans<'a> {
    rid: Rid<'a>,
    key_alg: ObjectIdentifier,
    encrypted_key: &'a [u8],
}

#[derive(Debug)]
enum Rid<'a> {
    IssuerSerial { issuer: &'a [u8], serial: &'a [u8] },
    KeyId(&'a [u8]),
}

impl<'a> Envelope<'a> {
    /// Parses a `ContentInfo` holding an `EnvelopedData`, or a bare
    /// `EnvelopedData` (both occur in the wild).
    pub(crate) fn parse(der: &'a [u8]) -> Result<Self> {
        Self::parse_inner(der).map_err(|e| Error::malformed(Structure::Envelope, e))
    }

    fn parse_inner(der: &'a [u8]) -> Result<Self, ParseError> {
        let outer = tlv::read_single(der)?.expect(tag::SEQUENCE)?;
        let mut r = outer.reader();
        let env = if r.peek_tag() == Some(tag::OID) {
            let ct = r.read()?;
            if ct.value != oid::ID_ENVELOPED_DATA.as_bytes() {
                return Err(ct.error(ParseErrorKind::InvalidValue));
            }
            let explicit = r.read_tag(tag::context(0))?;
            r.finish()?;
            let mut er = explicit.reader();
            let env = er.read_tag(tag::SEQUENCE)?;
            er.finish()?;
            env
        } else {
            outer
        };

        let mut r = env.reader();
        let version = tlv::small_uint(&r.read()?)?;
        if version > 4 {
            return Err(env.error(ParseErrorKind::UnsupportedVersion));
        }
        let _originator = r.read_optional(tag::context(0))?;
        let ris = r.read_tag(tag::SET)?;
        let eci = r.read_tag(tag::SEQUENCE)?;
        let _unprotected = r.read_optional(tag::context(1))?;
        r.finish()?;

        let mut recipients = Vec::new();
        let mut rr = ris.reader();
        let mut count = 0;
        while !rr.is_empty() {
            count += 1;
            if count > MAX_RECIPIENTS {
                return Err(ParseError::new(
                    ParseErrorKind::TooManyElements,
                    rr.offset(),
                ));
            }
            let ri = rr.read()?;
            // Other kinds (kari [1], kekri [2], pwri [3], ori [4]) cannot
            // be for an RSA CA and are skipped.
            if ri.tag == tag::SEQUENCE {
                recipients.push(read_ktri(ri)?);
            }
        }

        let mut er = eci.reader();
        let _content_type = er.read_tag(tag::OID)?;
        let alg = AlgorithmId::read(er.read()?)?;
        let content = er.read()?;
        er.finish()?;
        let ciphertext = match content.tag {
            t if t == tag::context_primitive(0) => content.value.to_vec(),
            // A constructed [0] holds OCTET STRING segments.
            t if t == tag::context(0) => {
                let mut out = Vec::with_capacity(content.value.len());
                let mut sr = content.reader();
                while !sr.is_empty() {
                    out.extend_from_slice(sr.read_tag(tag::OCTET_STRING)?.value);
                }
                out
            }
            found => {
                return Err(content.error(ParseErrorKind::UnexpectedTag {
                    expected: tag::context_primitive(0),
                    found,
                }));
            }
        };
        let iv = alg
            .params
            .filter(|p| p.tag == tag::OCTET_STRING)
            .map(|p| p.value);
        Ok(Self {
            recipients,
            content_alg: alg.oid,
            iv,
            ciphertext,
        })
    }

    /// Decrypts with `key`, the private key of `recipient`.
    ///
    /// RSA decryption uses implicit rejection: a bad key-transport block
    /// yields a pseudo-random key, so every failure after this point shows
    /// up the same way, as [`Error::Decryption`].
    pub(crate) fn decrypt<R: rand_core::CryptoRng + ?Sized>(
        &self,
        recipient: &CertView<'_>,
        key: &rsa::PrivateKey,
        rng: &mut R,
    ) -> Result<Vec<u8>> {
        let our_key_id = recipient.key_identifier();
        let matching = self.recipients.iter().find(|k| match k.rid {
            Rid::IssuerSerial { issuer, serial } => recipient.matches_issuer_serial(issuer, serial),
            Rid::KeyId(id) => id == our_key_id.as_slice(),
        });
        // A lone key-transport recipient is taken to be us even if its
        // identifier is unusual (some clients compute it oddly).
        let ktri = match matching {
            Some(k) => k,
            None if self.recipients.len() == 1 => &self.recipients[0],
            None => return Err(Error::NotForUs),
        };
        if ktri.key_alg != oid::RSA_ENCRYPTION {
            return Err(Error::UnsupportedAlgorithm(ktri.key_alg));
        }
        let alg = ContentEncryption::from_oid(&self.content_alg)
            .ok_or(Error::UnsupportedAlgorithm(self.content_alg))?;
        let iv = self
            .iv
            .filter(|iv| iv.len() == alg.iv_len())
            .ok_or(Error::Decryption)?;
        let cek = key
            .pkcs1v15_decrypt_with_rng(rng, ktri.encrypted_key)
            .map_err(|_| Error::Decryption)?;
        alg.decrypt(&cek, iv, &self.ciphertext)
    }

    /// The content-encryption algorithm, if supported.
    pub(crate) fn content_encryption(&self) -> Option<ContentEncryption> {
        ContentEncryption::from_oid(&self.content_alg)
    }
}

/// Rewrites a (possibly BER) `pkcsPKIEnvelope` as DER, parses it and
/// decrypts it with `key`, the key of `recipient`. Returns the plaintext and
/// the content-encryption algorithm used.
pub(crate) fn open<R: rand_core::CryptoRng + ?Sized>(
    content: &[u8],
    recipient: &CertView<'_>,
    key: &rsa::PrivateKey,
    rng: &mut R,
) -> Result<(Vec<u8>, ContentEncryption)> {
    let der = tlv::to_der(content).map_err(|e| Error::malformed(Structure::Envelope, e))?;
    let env = Envelope::parse(&der)?;
    let plain = env.decrypt(recipient, key, rng)?;
    let alg = env
        .content_encryption()
        .ok_or(Error::UnsupportedAlgorithm(env.content_alg))?;
    Ok((plain, alg))
}

fn read_ktri(ri: Tlv<'_>) -> Result<KeyTrans<'_>, ParseError> {
    let mut r = ri.reader();
    let _version = tlv::small_uint(&r.read()?)?;
    let rid_tlv = r.read()?;
    let rid = match rid_tlv.tag {
        tag::SEQUENCE => {
            let mut ir = rid_tlv.reader();
            let issuer = ir.read_tag(tag::SEQUENCE)?;
            let serial = ir.read_tag(tag::INTEGER)?;
            ir.finish()?;
            Rid::IssuerSerial {
                issuer: issuer.raw,
                serial: serial.value,
            }
        }
        t if t == tag::context_primitive(0) => Rid::KeyId(rid_tlv.value),
        found => {
            return Err(rid_tlv.error(ParseErrorKind::UnexpectedTag {
                expected: tag::SEQUENCE,
                found,
            }));
        }
    };
    let key_alg = AlgorithmId::read(r.read()?)?;
    let encrypted_key = r.read_tag(tag::OCTET_STRING)?;
    r.finish()?;
    Ok(KeyTrans {
        rid,
        key_alg: key_alg.oid,
        encrypted_key: encrypted_key.value,
    })
}

/// Builds `ContentInfo { envelopedData, EnvelopedData }` encrypting
/// `content` for the holder of `recipient` (whose key must be RSA).
pub(crate) fn seal<R: rand_core::CryptoRng + ?Sized>(
    content: &[u8],
    recipient: &CertView<'_>,
    alg: ContentEncryption,
    rng: &mut R,
) -> Result<Vec<u8>> {
    let key = recipient.public_key()?;
    let mut cek = vec![0u8; alg.key_len()];
    rng.fill_bytes(&mut cek);
    let mut iv = vec![0u8; alg.iv_len()];
    rng.fill_bytes(&mut iv);
    let ciphertext = alg.encrypt(&cek, &iv, content)?;
    let encrypted_key = key.encrypt_key(rng, &cek)?;
    cek.iter_mut().for_each(|b| *b = 0);

    let rid = tlv::sequence(&[recipient.issuer, &tlv::tlv(tag::INTEGER, recipient.serial)]);
    let ktri = tlv::sequence(&[
        &tlv::small_int(0),
        &rid,
        &tlv::algorithm(&oid::RSA_ENCRYPTION, true),
        &tlv::octet_string(&encrypted_key),
    ]);
    let eci = tlv::sequence(&[
        &tlv::oid(&oid::ID_DATA),
        &tlv::sequence(&[&tlv::oid(&alg.oid()), &tlv::octet_string(&iv)]),
        &tlv::tlv(tag::context_primitive(0), &ciphertext),
    ]);
    let env = tlv::sequence(&[
        &tlv::small_int(0),
        &tlv::constructed(tag::SET, &[&ktri]),
        &eci,
    ]);
    Ok(tlv::sequence(&[
        &tlv::oid(&oid::ID_ENVELOPED_DATA),
        &tlv::constructed(tag::context(0), &[&env]),
    ]))
}
