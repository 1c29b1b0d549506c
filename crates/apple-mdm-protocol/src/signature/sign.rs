//! Making CMS `SignedData` (RFC 5652 §5) with a certificate and its key.

use std::fmt;
use std::time::Duration;

use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use der::asn1::{ObjectIdentifier as Oid, OctetString, SetOfVec};
use der::{Any, DateTime, Decode, Encode, Tag};
use sha2::Sha256;
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_cert::attr::Attribute;
use x509_cert::time::Time;

use super::alg::{
    DigestAlgorithm, ECDSA_WITH_SHA256, ID_CONTENT_TYPE, ID_DATA, ID_EC_PUBLIC_KEY,
    ID_MESSAGE_DIGEST, ID_SIGNED_DATA, ID_SIGNING_TIME, PublicKey, RSA_ENCRYPTION,
    SignatureAlgorithm,
};
use super::{MAX_CERTIFICATES, SignatureError};

/// A certificate, the chain that goes with it, and its private key: what
/// signs enrollment profiles, and what a simulated device signs its
/// `Mdm-Signature` headers with.
///
/// Signatures use SHA-256 and either RSA PKCS#1 v1.5 (`signatureAlgorithm`
/// `rsaEncryption`, as `openssl cms` writes it) or ECDSA P-256
/// (`ecdsa-with-SHA256`, deterministic nonces per RFC 6979). Both are
/// deterministic: the same content, time and key give the same bytes. For
/// RSA, the private-key operation is blinded with randomness from the
/// operating system, which guards against timing attacks and does not change
/// the signature.
///
/// ```
/// use apple_mdm_protocol::signature::{SigningIdentity, verify_attached};
///
/// let identity = SigningIdentity::from_pem(
///     include_bytes!("../../tests/fixtures/sig-p256-cert.pem"),
///     include_bytes!("../../tests/fixtures/sig-p256-key.pem"),
/// )?;
/// let profile = b"<?xml version=\"1.0\"?><plist version=\"1.0\"><dict/></plist>";
/// let signed = identity.sign_attached_at(profile, 1_700_000_000)?;
///
/// let (content, signer) = verify_attached(&signed)?;
/// assert_eq!(content, profile);
/// assert_eq!(signer.signing_time(), Some(1_700_000_000));
/// assert_eq!(signer.certificate(), identity.certificate());
/// # Ok::<(), apple_mdm_protocol::signature::SignatureError>(())
/// ```
#[derive(Clone)]
pub struct SigningIdentity {
    certificate: Certificate,
    chain: Vec<Certificate>,
    key: PrivateKey,
}

#[derive(Clone)]
enum PrivateKey {
    Rsa(Box<rsa::PrivateKey>),
    P256(p256::ecdsa::SigningKey),
}

impl fmt::Debug for SigningIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningIdentity")
            .field("subject", &self.certificate.tbs_certificate().subject())
            .field("chain", &self.chain.len())
            .field("algorithm", &self.signature_algorithm())
            .finish_non_exhaustive()
    }
}

impl SigningIdentity {
    /// Loads an identity from PEM. `cert_chain_pem` holds one or more
    /// `CERTIFICATE` blocks: the first is the signer's, the others go into
    /// each signature as its chain. `key_pem` holds the signer's private key
    /// as `RSA PRIVATE KEY` (PKCS#1), `PRIVATE KEY` (PKCS#8, RSA or P-256) or
    /// `EC PRIVATE KEY` (SEC1, P-256); other blocks, such as the
    /// `EC PARAMETERS` that `openssl ecparam -genkey` writes, are skipped. Text
    /// between blocks is ignored (RFC 7468 §2).
    pub fn from_pem(cert_chain_pem: &[u8], key_pem: &[u8]) -> Result<Self, SignatureError> {
        let mut certs = Vec::new();
        for block in pem_blocks(cert_chain_pem) {
            let (label, der) = decode_pem(block)?;
            if label == "CERTIFICATE" {
                certs.push(der);
            }
        }
        let mut key = None;
        for block in pem_blocks(key_pem) {
            let (label, der) = decode_pem(block)?;
            let parsed = match label.as_str() {
                "RSA PRIVATE KEY" => rsa_from_pkcs1(&der)?,
                "PRIVATE KEY" => from_pkcs8(&der)?,
                "EC PRIVATE KEY" => p256_from_sec1(&der)?,
                "ENCRYPTED PRIVATE KEY" => {
                    return Err(SignatureError::UnsupportedKey {
                        what: "encrypted private keys",
                    });
                }
                _ => continue,
            };
            key = Some(parsed);
            break;
        }
        let key = key.ok_or(SignatureError::BadPrivateKey {
            reason: "no private key PEM block",
        })?;
        Self::new(&certs, key)
    }

    /// Loads an identity from DER: the signer's certificate first, then its
    /// chain; the key as PKCS#8, PKCS#1 (RSA) or SEC1 (P-256).
    pub fn from_der(
        cert_chain: &[impl AsRef<[u8]>],
        key_der: &[u8],
    ) -> Result<Self, SignatureError> {
        let key = from_pkcs8(key_der)
            .or_else(|_| rsa_from_pkcs1(key_der))
            .or_else(|_| p256_from_sec1(key_der))
            .map_err(|_| SignatureError::BadPrivateKey {
                reason: "not a PKCS#8, PKCS#1 or SEC1 private key",
            })?;
        Self::new(cert_chain, key)
    }

    fn new(cert_chain: &[impl AsRef<[u8]>], key: PrivateKey) -> Result<Self, SignatureError> {
        if cert_chain.len() > MAX_CERTIFICATES {
            return Err(SignatureError::TooManyCertificates {
                max: MAX_CERTIFICATES,
            });
        }
        let mut chain = Vec::with_capacity(cert_chain.len());
        for der in cert_chain {
            let cert =
                Certificate::from_der(der.as_ref()).map_err(|source| SignatureError::Der {
                    what: "certificate",
                    offset: 0,
                    source,
                })?;
            chain.push(cert);
        }
        if chain.is_empty() {
            return Err(SignatureError::NoCertificate);
        }
        let certificate = chain.remove(0);
        let cert_key =
            PublicKey::from_spki(certificate.tbs_certificate().subject_public_key_info())?;
        let matches = match (&key, &cert_key) {
            (PrivateKey::Rsa(private), PublicKey::Rsa(public)) => {
                private.as_public_key() == public.as_ref()
            }
            (PrivateKey::P256(private), PublicKey::P256(public)) => {
                private.verifying_key() == public
            }
            _ => false,
        };
        if !matches {
            return Err(SignatureError::KeyMismatch);
        }
        Ok(Self {
            certificate,
            chain,
            key,
        })
    }

    /// The signer's certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }

    /// The certificates included with the signer's.
    pub fn chain(&self) -> &[Certificate] {
        &self.chain
    }

    /// The signature algorithm this identity's key uses.
    pub fn signature_algorithm(&self) -> SignatureAlgorithm {
        match self.key {
            PrivateKey::Rsa(_) => SignatureAlgorithm::RsaPkcs1v15,
            PrivateKey::P256(_) => SignatureAlgorithm::EcdsaP256,
        }
    }

    /// Signs `content` and returns a DER `ContentInfo` holding a `SignedData`
    /// that carries the content (`id-data`). Signed attributes: content-type
    /// and message-digest, no signing time.
    pub fn sign_attached(&self, content: &[u8]) -> Result<Vec<u8>, SignatureError> {
        self.sign(content, true, None)
    }

    /// Like [`sign_attached`](Self::sign_attached), with a signing-time
    /// attribute of `unix_seconds` (seconds since 1970-01-01T00:00:00Z).
    pub fn sign_attached_at(
        &self,
        content: &[u8],
        unix_seconds: u64,
    ) -> Result<Vec<u8>, SignatureError> {
        self.sign(content, true, Some(unix_seconds))
    }

    /// Signs `content` and returns a DER `ContentInfo` holding a detached
    /// `SignedData` (no `eContent`): what an `Mdm-Signature` header carries.
    pub fn sign_detached(&self, content: &[u8]) -> Result<Vec<u8>, SignatureError> {
        self.sign(content, false, None)
    }

    /// Like [`sign_detached`](Self::sign_detached), with a signing-time
    /// attribute of `unix_seconds`.
    pub fn sign_detached_at(
        &self,
        content: &[u8],
        unix_seconds: u64,
    ) -> Result<Vec<u8>, SignatureError> {
        self.sign(content, false, Some(unix_seconds))
    }

    /// The value of an `Mdm-Signature` header for an HTTP `body`: the base64
    /// of [`sign_detached`](Self::sign_detached).
    pub fn mdm_signature_header(&self, body: &[u8]) -> Result<String, SignatureError> {
        use base64::Engine as _;
        let der = self.sign_detached(body)?;
        Ok(base64::engine::general_purpose::STANDARD.encode(der))
    }

    fn sign(
        &self,
        content: &[u8],
        attached: bool,
        signing_time: Option<u64>,
    ) -> Result<Vec<u8>, SignatureError> {
        let digest = DigestAlgorithm::Sha256;
        let content_digest = digest.digest(&[content]);

        let mut attrs = vec![
            attribute(ID_CONTENT_TYPE, Any::encode_from(&ID_DATA)?)?,
            attribute(
                ID_MESSAGE_DIGEST,
                Any::new(Tag::OctetString, content_digest)?,
            )?,
        ];
        if let Some(secs) = signing_time {
            let when = DateTime::from_unix_duration(Duration::from_secs(secs))?;
            // RFC 5652 §11.3: UTCTime through 2049, GeneralizedTime after.
            attrs.push(attribute(
                ID_SIGNING_TIME,
                Any::encode_from(&Time::from(when))?,
            )?);
        }
        // SET OF in DER order; the signature covers exactly this encoding,
        // and the SignerInfo below re-encodes the same set under [0].
        let attrs = SetOfVec::try_from(attrs)?;
        let signed_hash = digest.digest(&[&attrs.to_der()?]);

        let (signature, signature_algorithm) = match &self.key {
            PrivateKey::Rsa(key) => (
                key.pkcs1v15_sign_prehash::<Sha256>(&signed_hash)
                    .map_err(|_| SignatureError::SigningFailed)?,
                AlgorithmIdentifierOwned {
                    oid: RSA_ENCRYPTION,
                    parameters: Some(Any::null()),
                },
            ),
            PrivateKey::P256(key) => {
                use signature::hazmat::PrehashSigner;
                let sig: p256::ecdsa::DerSignature = key
                    .sign_prehash(&signed_hash)
                    .map_err(|_| SignatureError::SigningFailed)?;
                (
                    sig.as_bytes().to_vec(),
                    AlgorithmIdentifierOwned {
                        oid: ECDSA_WITH_SHA256,
                        parameters: None,
                    },
                )
            }
        };

        let digest_algorithm = AlgorithmIdentifierOwned {
            oid: digest.oid(),
            parameters: None,
        };
        let tbs = self.certificate.tbs_certificate();
        let signer_info = SignerInfo {
            version: CmsVersion::V1,
            sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
                issuer: tbs.issuer().clone(),
                serial_number: tbs.serial_number().clone(),
            }),
            digest_alg: digest_algorithm.clone(),
            signed_attrs: Some(attrs),
            signature_algorithm,
            signature: OctetString::new(signature)?,
            unsigned_attrs: None,
        };
        let certificates = std::iter::once(&self.certificate)
            .chain(&self.chain)
            .map(|c| CertificateChoices::Certificate(c.clone()))
            .collect::<Vec<_>>();
        let econtent = if attached {
            Some(Any::new(Tag::OctetString, content)?)
        } else {
            None
        };
        let signed_data = SignedData {
            version: CmsVersion::V1,
            digest_algorithms: SetOfVec::try_from(vec![digest_algorithm])?,
            encap_content_info: EncapsulatedContentInfo {
                econtent_type: ID_DATA,
                econtent,
            },
            certificates: Some(CertificateSet::try_from(certificates)?),
            crls: None,
            signer_infos: SignerInfos::try_from(vec![signer_info])?,
        };
        let content_info = ContentInfo {
            content_type: ID_SIGNED_DATA,
            content: Any::encode_from(&signed_data)?,
        };
        Ok(content_info.to_der()?)
    }
}

fn attribute(oid: Oid, value: Any) -> Result<Attribute, SignatureError> {
    Ok(Attribute {
        oid,
        values: SetOfVec::try_from(vec![value])?,
    })
}

fn rsa_from_pkcs1(der: &[u8]) -> Result<PrivateKey, SignatureError> {
    use rsa::pkcs1::DecodeRsaPrivateKey;
    rsa::PrivateKey::from_pkcs1_der(der)
        .map(|k| PrivateKey::Rsa(Box::new(k)))
        .map_err(|_| SignatureError::BadPrivateKey {
            reason: "not a PKCS#1 RSA private key",
        })
}

fn p256_from_sec1(der: &[u8]) -> Result<PrivateKey, SignatureError> {
    p256::SecretKey::from_sec1_der(der)
        .map(|k| PrivateKey::P256(k.into()))
        .map_err(|_| SignatureError::BadPrivateKey {
            reason: "not a SEC1 P-256 private key",
        })
}

fn from_pkcs8(der: &[u8]) -> Result<PrivateKey, SignatureError> {
    let info = rsa::pkcs8::PrivateKeyInfoRef::from_der(der).map_err(|_| {
        SignatureError::BadPrivateKey {
            reason: "not a PKCS#8 private key",
        }
    })?;
    match info.algorithm.oid {
        RSA_ENCRYPTION => rsa::PrivateKey::try_from(info)
            .map(|k| PrivateKey::Rsa(Box::new(k)))
            .map_err(|_| SignatureError::BadPrivateKey {
                reason: "bad PKCS#8 RSA private key",
            }),
        ID_EC_PUBLIC_KEY => p256::SecretKey::try_from(info)
            .map(|k| PrivateKey::P256(k.into()))
            .map_err(|_| SignatureError::UnsupportedKey {
                what: "EC keys on curves other than P-256",
            }),
        _ => Err(SignatureError::UnsupportedKey {
            what: "private keys other than RSA and P-256",
        }),
    }
}

/// The `-----BEGIN …-----` … `-----END …-----` blocks in `pem`, in order.
fn pem_blocks(pem: &[u8]) -> impl Iterator<Item = &[u8]> {
    const BEGIN: &[u8] = b"-----BEGIN ";
    const END: &[u8] = b"-----END ";
    let mut rest = pem;
    std::iter::from_fn(move || {
        let start = find(rest, BEGIN)?;
        let after_begin = &rest[start..];
        let end = find(after_begin, END)?;
        // The END line runs to the next "-----".
        let tail = &after_begin[end + END.len()..];
        let close = find(tail, b"-----")? + 5;
        let len = end + END.len() + close;
        let block = &after_begin[..len];
        rest = &after_begin[len..];
        Some(block)
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn decode_pem(block: &[u8]) -> Result<(String, Vec<u8>), SignatureError> {
    der::pem::decode_vec(block)
        .map(|(label, der)| (label.to_owned(), der))
        .map_err(|source| SignatureError::Pem { source })
}
