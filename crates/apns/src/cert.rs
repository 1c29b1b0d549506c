//! The MDM push certificate: the TLS client identity for APNs, whose
//! subject's UID attribute is the push topic.
//!
//! Apple issues MDM push certificates (through the Apple Push Certificates
//! Portal) with a subject like
//! `UID=com.apple.mgmt.External.<uuid>, CN=APSP:<uuid>, C=US`. The UID is
//! the `apns-topic` of every push, and devices enrolled under one topic
//! only answer pushes for that topic.

use std::time::SystemTime;

use const_oid::ObjectIdentifier;
use der::{Decode, Encode, Tag, Tagged};
use rsa::traits::PublicKeyParts;
use x509_cert::Certificate;

use crate::error::{Error, Result};
use crate::pkcs12::Pkcs12;

/// The prefix every MDM push topic has.
pub const MDM_TOPIC_PREFIX: &str = "com.apple.mgmt.";

/// `userId` (UID), RFC 4519 §2.39: 0.9.2342.19200300.100.1.1.
const UID: ObjectIdentifier = ObjectIdentifier::new_unwrap("0.9.2342.19200300.100.1.1");
/// `commonName` (CN), RFC 4519 §2.3: 2.5.4.3.
const CN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");

/// What a push certificate says about itself: its topic, names and
/// validity. Read from the certificate alone (no key needed).
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct PushCertificateInfo {
    /// The push topic: the subject's UID, `com.apple.mgmt.…`.
    pub topic: String,
    /// The subject's common name (`APSP:<uuid>` for Apple's certificates),
    /// if it has one.
    pub subject_cn: Option<String>,
    /// The whole subject, RFC 4514 text.
    pub subject: String,
    /// Start of validity.
    pub not_before: SystemTime,
    /// End of validity: pushes fail with `BadCertificate` after this.
    pub not_after: SystemTime,
}

impl PushCertificateInfo {
    /// Reads the first certificate of a PEM document.
    pub fn from_pem(cert_pem: &str) -> Result<Self> {
        let der = pem_blocks(cert_pem, "push certificate")?
            .into_iter()
            .find(|(label, _)| label == "CERTIFICATE")
            .map(|(_, der)| der)
            .ok_or_else(|| Error::Pem {
                what: "push certificate",
                message: "no CERTIFICATE section".to_owned(),
            })?;
        Self::from_der(&der)
    }

    /// Reads a DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Self> {
        let cert = Certificate::from_der(der).map_err(|e| Error::Certificate(e.to_string()))?;
        Self::from_certificate(&cert)
    }

    fn from_certificate(cert: &Certificate) -> Result<Self> {
        let tbs = cert.tbs_certificate();
        let subject = tbs.subject().to_string();
        let mut uid = None;
        let mut cn = None;
        for atv in tbs.subject().iter() {
            if atv.oid == UID && uid.is_none() {
                uid = Some(directory_string(&atv.value));
            } else if atv.oid == CN && cn.is_none() {
                cn = directory_string(&atv.value);
            }
        }
        let topic = match uid {
            None => return Err(Error::NoTopic { subject }),
            Some(None) => {
                return Err(Error::WrongTopic {
                    found: "(a UID that is not a text string)".to_owned(),
                });
            }
            Some(Some(t)) => t,
        };
        if !topic.starts_with(MDM_TOPIC_PREFIX) || topic.len() == MDM_TOPIC_PREFIX.len() {
            return Err(Error::WrongTopic { found: topic });
        }
        let validity = tbs.validity();
        Ok(Self {
            topic,
            subject_cn: cn,
            subject,
            not_before: validity.not_before.to_system_time(),
            not_after: validity.not_after.to_system_time(),
        })
    }

    /// Whether the certificate has expired at `now`.
    pub fn is_expired_at(&self, now: SystemTime) -> bool {
        now > self.not_after
    }
}

/// A private key as it was stored, for handing to a TLS library.
#[derive(Clone, Eq, PartialEq)]
pub enum PrivateKeyDer {
    /// PKCS #1 `RSAPrivateKey` (PEM label `RSA PRIVATE KEY`).
    Pkcs1(Vec<u8>),
    /// PKCS #8 `PrivateKeyInfo` (PEM label `PRIVATE KEY`).
    Pkcs8(Vec<u8>),
}

impl std::fmt::Debug for PrivateKeyDer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Pkcs1(_) => f.write_str("PrivateKeyDer::Pkcs1(..)"),
            Self::Pkcs8(_) => f.write_str("PrivateKeyDer::Pkcs8(..)"),
        }
    }
}

/// An MDM push certificate with its private key, checked: the key is RSA
/// and belongs to the certificate, and the subject's UID is an MDM topic.
#[derive(Clone, Debug)]
pub struct PushCertificate {
    info: PushCertificateInfo,
    chain: Vec<Vec<u8>>,
    key: PrivateKeyDer,
    friendly_name: Option<String>,
}

impl PushCertificate {
    /// Loads a certificate (optionally followed by its issuers) and its
    /// RSA private key, PKCS #1 or PKCS #8, from PEM. Both may be the same
    /// document.
    ///
    /// Encrypted private keys are not read: decrypt them first
    /// (`openssl rsa` or `openssl pkcs8 -nocrypt`).
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self> {
        let chain: Vec<Vec<u8>> = pem_blocks(cert_pem, "push certificate")?
            .into_iter()
            .filter(|(label, _)| label == "CERTIFICATE")
            .map(|(_, der)| der)
            .collect();
        let leaf_der = chain.first().ok_or_else(|| Error::Pem {
            what: "push certificate",
            message: "no CERTIFICATE section".to_owned(),
        })?;
        let leaf =
            Certificate::from_der(leaf_der).map_err(|e| Error::Certificate(e.to_string()))?;
        let info = PushCertificateInfo::from_certificate(&leaf)?;

        let blocks = pem_blocks(key_pem, "private key")?;
        let (key, private) = blocks
            .into_iter()
            .find_map(|(label, der)| match label.as_str() {
                "RSA PRIVATE KEY" => {
                    use rsa::pkcs1::DecodeRsaPrivateKey;
                    Some(
                        rsa::PrivateKey::from_pkcs1_der(&der)
                            .map_err(|e| Error::PrivateKey(e.to_string()))
                            .map(|k| (PrivateKeyDer::Pkcs1(der), k)),
                    )
                }
                "PRIVATE KEY" => {
                    use rsa::pkcs8::DecodePrivateKey;
                    Some(
                        rsa::PrivateKey::from_pkcs8_der(&der)
                            .map_err(|e| Error::PrivateKey(e.to_string()))
                            .map(|k| (PrivateKeyDer::Pkcs8(der), k)),
                    )
                }
                "ENCRYPTED PRIVATE KEY" => Some(Err(Error::PrivateKey(
                    "the key is encrypted; decrypt it first".to_owned(),
                ))),
                _ => None,
            })
            .ok_or_else(|| Error::Pem {
                what: "private key",
                message: "no RSA PRIVATE KEY or PRIVATE KEY section".to_owned(),
            })??;

        if !key_matches(&leaf, &private)? {
            return Err(Error::KeyMismatch);
        }
        Ok(Self {
            info,
            chain,
            key,
            friendly_name: None,
        })
    }

    /// Loads the push certificate and its RSA private key from a PKCS #12
    /// (`.p12`) file, as Keychain Access, Windows or `openssl pkcs12
    /// -export` write it; see [`pkcs12`](crate::pkcs12) for the algorithms
    /// read and the bounds.
    ///
    /// The certificate is the one whose public key matches the private key
    /// (the one with the key's `localKeyId` when the file pairs them,
    /// otherwise the first that matches); the file's other certificates
    /// follow it in [`chain_der`](Self::chain_der). Then the same topic
    /// checks as [`from_pem`](Self::from_pem) apply.
    ///
    /// Errors an admin can act on: [`Error::Pkcs12WrongPassword`],
    /// [`Error::Pkcs12UnsupportedAlgorithm`] (names the OID),
    /// [`Error::Pkcs12NoPrivateKey`], [`Error::Pkcs12NoMatchingCertificate`],
    /// [`Error::Pkcs12Malformed`] (what and where), [`Error::Pkcs12Limit`],
    /// [`Error::PrivateKey`] (the key is not RSA), [`Error::NoTopic`] and
    /// [`Error::WrongTopic`].
    ///
    /// ```no_run
    /// let p12 = std::fs::read("MDM_ Example Inc_Certificate.p12")?;
    /// let push = apns::PushCertificate::from_pkcs12(&p12, "secret")?;
    /// println!("topic {}", push.topic());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_pkcs12(p12: &[u8], password: &str) -> Result<Self> {
        Self::from_pkcs12_contents(&Pkcs12::decode(p12, password)?)
    }

    /// Picks the push certificate and key out of a decoded PKCS #12 file,
    /// as [`from_pkcs12`](Self::from_pkcs12) does.
    pub fn from_pkcs12_contents(p12: &Pkcs12) -> Result<Self> {
        if p12.keys().is_empty() {
            return Err(Error::Pkcs12NoPrivateKey);
        }
        let certs: Vec<Certificate> = p12
            .certificates()
            .iter()
            .map(|c| Certificate::from_der(c.der()).map_err(|e| Error::Certificate(e.to_string())))
            .collect::<Result<_>>()?;
        let mut key_error = None;
        for key in p12.keys() {
            use rsa::pkcs8::DecodePrivateKey;
            let private = match rsa::PrivateKey::from_pkcs8_der(key.pkcs8_der()) {
                Ok(k) => k,
                Err(e) => {
                    key_error.get_or_insert(Error::PrivateKey(format!(
                        "the key in the PKCS #12 file is malformed or not RSA: {e}"
                    )));
                    continue;
                }
            };
            // Certificates paired with the key by localKeyId first, then the rest.
            let paired = |i: &usize| {
                key.local_key_id().is_some()
                    && p12.certificates()[*i].local_key_id() == key.local_key_id()
            };
            let order = (0..certs.len())
                .filter(paired)
                .chain((0..certs.len()).filter(|i| !paired(i)));
            for i in order {
                if !key_matches(&certs[i], &private)? {
                    continue;
                }
                let info = PushCertificateInfo::from_certificate(&certs[i])?;
                let leaf = &p12.certificates()[i];
                let chain = std::iter::once(leaf.der().to_vec())
                    .chain(
                        p12.certificates()
                            .iter()
                            .enumerate()
                            .filter(|(j, _)| *j != i)
                            .map(|(_, c)| c.der().to_vec()),
                    )
                    .collect();
                let friendly_name = leaf
                    .friendly_name()
                    .or(key.friendly_name())
                    .map(str::to_owned);
                return Ok(Self {
                    info,
                    chain,
                    key: PrivateKeyDer::Pkcs8(key.pkcs8_der().to_vec()),
                    friendly_name,
                });
            }
        }
        Err(key_error.unwrap_or(Error::Pkcs12NoMatchingCertificate))
    }

    /// The topic, names and validity.
    pub fn info(&self) -> &PushCertificateInfo {
        &self.info
    }

    /// The push topic (the subject's UID).
    pub fn topic(&self) -> &str {
        &self.info.topic
    }

    /// The certificate (first) and any issuers that came with it, DER.
    pub fn chain_der(&self) -> &[Vec<u8>] {
        &self.chain
    }

    /// The private key, DER, in the form it was loaded (PKCS #8 when it
    /// came from a PKCS #12 file).
    pub fn private_key_der(&self) -> &PrivateKeyDer {
        &self.key
    }

    /// The `friendlyName` the PKCS #12 file gave the certificate (or its
    /// key): the name Keychain Access shows. `None` for PEM.
    pub fn friendly_name(&self) -> Option<&str> {
        self.friendly_name.as_deref()
    }
}

/// The warning to show, loudly, when a replacement push certificate has a
/// different topic from the one in use; `None` when the topics match.
///
/// Devices enrolled under the old topic ignore pushes for the new one: they
/// must all re-enroll. Apple's portal keeps the topic only when the
/// existing certificate is *renewed*, not when a new one is created.
pub fn topic_change_warning(old_topic: &str, new_topic: &str) -> Option<String> {
    (old_topic != new_topic).then(|| {
        format!(
            "WARNING: the new push certificate's topic `{new_topic}` differs from the current \
             topic `{old_topic}`. Every device enrolled under the current topic will stop \
             receiving pushes and must be re-enrolled. To keep the topic, renew the existing \
             certificate in the Apple Push Certificates Portal instead of creating a new one."
        )
    })
}

/// Whether `cert`'s public key is the public half of `private`. A
/// certificate whose key is not RSA does not match.
fn key_matches(cert: &Certificate, private: &rsa::PrivateKey) -> Result<bool> {
    use rsa::pkcs8::DecodePublicKey;
    let spki = cert
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(|e| Error::Certificate(e.to_string()))?;
    Ok(match rsa::PublicKey::from_public_key_der(&spki) {
        Ok(public) => public.n() == private.n() && public.e() == private.e(),
        Err(_) => false,
    })
}

/// The text of a `DirectoryString`-like value, or `None` if it is not a
/// text string.
fn directory_string(value: &der::Any) -> Option<String> {
    match value.tag() {
        Tag::Utf8String | Tag::PrintableString | Tag::Ia5String | Tag::TeletexString => {
            std::str::from_utf8(value.value()).ok().map(str::to_owned)
        }
        _ => None,
    }
}

/// Every `-----BEGIN x-----` … `-----END x-----` block in `text`, decoded.
pub(crate) fn pem_blocks(text: &str, what: &'static str) -> Result<Vec<(String, Vec<u8>)>> {
    const BEGIN: &str = "-----BEGIN ";
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let block = &rest[start..];
        let label_end = block[BEGIN.len()..]
            .find("-----")
            .map(|i| i + BEGIN.len())
            .ok_or_else(|| pem_error(what, "unterminated BEGIN line"))?;
        let label = &block[BEGIN.len()..label_end];
        let end_marker = format!("-----END {label}-----");
        let end = block
            .find(&end_marker)
            .ok_or_else(|| pem_error(what, &format!("no END line for {label}")))?
            + end_marker.len();
        let (_, der) = der::pem::decode_vec(&block.as_bytes()[..end])
            .map_err(|e| pem_error(what, &format!("{label}: {e}")))?;
        out.push((label.to_owned(), der));
        rest = &block[end..];
    }
    Ok(out)
}

fn pem_error(what: &'static str, message: &str) -> Error {
    Error::Pem {
        what,
        message: message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_warning() {
        assert_eq!(
            topic_change_warning("com.apple.mgmt.a", "com.apple.mgmt.a"),
            None
        );
        let w = topic_change_warning("com.apple.mgmt.a", "com.apple.mgmt.b").unwrap();
        assert!(w.contains("com.apple.mgmt.a") && w.contains("com.apple.mgmt.b"));
        assert!(w.contains("re-enrolled"));
    }

    #[test]
    fn pem_errors() {
        assert!(matches!(
            PushCertificateInfo::from_pem(""),
            Err(Error::Pem { .. })
        ));
        assert!(matches!(
            PushCertificateInfo::from_pem("-----BEGIN CERTIFICATE-----\nAAAA\n"),
            Err(Error::Pem { .. })
        ));
        assert!(matches!(
            PushCertificateInfo::from_pem(
                "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
            ),
            Err(Error::Certificate(_))
        ));
    }

    fn fixtures() -> Option<String> {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/fixtures/apple-services/apns/micromdm"
        );
        std::path::Path::new(dir).is_dir().then(|| dir.to_owned())
    }

    #[test]
    fn micromdm_samples() {
        // Certificates from micromdm's tests (see SOURCES.md in the shared
        // fixtures folder); skipped when the folder is absent.
        let Some(dir) = fixtures() else {
            eprintln!(
                "\n*** SKIPPED (micromdm_samples): the shared fixtures folder \
                 apple-services/apns/micromdm is absent ***\n"
            );
            return;
        };
        let read = |n: &str| std::fs::read_to_string(format!("{dir}/{n}")).unwrap();
        let info = PushCertificateInfo::from_pem(&read("mock_push_cert.pem")).unwrap();
        assert_eq!(
            info.topic,
            "com.apple.mgmt.External.18a16429-886b-41f1-9c30-2bd04ae4fc37"
        );
        assert_eq!(
            info.subject_cn.as_deref(),
            Some("APSP:17a16429-886b-41f1-8c90-3bd02ae9fc57")
        );
        let secs = info
            .not_after
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert_eq!(secs, 3_094_706_005); // 2068-01-25 08:33:25 UTC
        match PushCertificateInfo::from_pem(&read("mock_push_cert_no_uid.pem")) {
            Err(Error::NoTopic { subject }) => assert!(subject.contains("CN=no.uid"), "{subject}"),
            other => panic!("{other:?}"),
        }
        match PushCertificateInfo::from_pem(&read("mock_push_cert_wrong_uid_prefix.pem")) {
            Err(Error::WrongTopic { found }) => {
                assert_eq!(found, "wrong.prefix.18a16429-886b-41f1-9c30-2bd04ae4fc37")
            }
            other => panic!("{other:?}"),
        }
    }
}
