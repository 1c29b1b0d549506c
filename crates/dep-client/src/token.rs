//! The server token exchange with Apple Business Manager (or Apple School
//! Manager): the key pair whose certificate the admin uploads, and the
//! decryption of the token file (`*_Token_*.p7m`) the portal gives back.
//!
//! [Apple: Authenticating with the Automated Device Enrollment program][apple].
//! The file is an S/MIME message (`Content-Type: application/pkcs7-mime;
//! smime-type=enveloped-data`, base64) holding a CMS `EnvelopedData`
//! encrypted to the uploaded certificate. It decrypts to a MIME part
//! (`Content-Type: text/plain;charset=UTF-8`) whose body is the token JSON
//! between `-----BEGIN MESSAGE-----` and `-----END MESSAGE-----`:
//! `consumer_key`, `consumer_secret`, `access_token`, `access_secret` and
//! `access_token_expiry`.
//!
//! [apple]: https://developer.apple.com/documentation/devicemanagement/authenticating-with-the-automated-device-enrollment-program

use std::fmt;
use std::time::{Duration, SystemTime};

use der::{Decode, Encode};
use x509_cert::Certificate;

use crate::envelope::{ContentEncryption, Envelope};
use crate::error::{Error, Result};
use crate::mime;
use crate::oauth::OAuthCredentials;
use crate::timestamp::parse_timestamp;

/// How long a generated certificate is valid: 5 years.
pub const CERT_VALIDITY: Duration = Duration::from_secs(5 * 365 * 86_400);
/// The RSA key size generated.
pub const KEY_BITS: usize = 2048;

/// A decrypted DEP server token: the OAuth credentials and their expiry.
///
/// `Debug` hides the secrets; `Serialize` writes them (it is how a token
/// is stored or printed on purpose).
#[derive(Clone, Eq, PartialEq, serde::Deserialize, serde::Serialize)]
pub struct ServerToken {
    /// The four OAuth credentials.
    #[serde(flatten)]
    pub credentials: OAuthCredentials,
    /// When the token expires, as the token states it
    /// (`2027-11-24T20:50:43Z`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token_expiry: Option<String>,
}

impl fmt::Debug for ServerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerToken")
            .field("credentials", &self.credentials)
            .field("access_token_expiry", &self.access_token_expiry)
            .finish()
    }
}

impl ServerToken {
    /// Reads the token JSON (a decrypted file, or a token stored as JSON):
    /// all four credentials must be present and non-empty, and the expiry,
    /// if present, a valid time stamp.
    pub fn from_json(json: &str) -> Result<Self> {
        let token: Self = serde_json::from_str(json)
            .map_err(|e| Error::malformed(format!("the token JSON: {e}")))?;
        let c = &token.credentials;
        for (name, value) in [
            ("consumer_key", &c.consumer_key),
            ("consumer_secret", &c.consumer_secret),
            ("access_token", &c.access_token),
            ("access_secret", &c.access_secret),
        ] {
            if value.trim().is_empty() || value.len() > 4096 {
                return Err(Error::malformed(format!(
                    "the token's {name} is empty or too long"
                )));
            }
        }
        if let Some(e) = &token.access_token_expiry
            && parse_timestamp(e).is_none()
        {
            return Err(Error::malformed(format!(
                "the token's access_token_expiry `{e}` is not a time stamp"
            )));
        }
        Ok(token)
    }

    /// Reads a decrypted token message: the MIME part (headers, then the
    /// JSON between the `MESSAGE` markers), or the bare JSON, with any line
    /// breaks.
    pub fn from_message(plaintext: &[u8]) -> Result<Self> {
        Self::from_json(&mime::token_json(plaintext)?)
    }

    /// The expiry, if the token states one.
    pub fn expiry(&self) -> Option<SystemTime> {
        self.access_token_expiry
            .as_deref()
            .and_then(parse_timestamp)
    }

    /// Whether the token has expired at `now`.
    pub fn is_expired(&self, now: SystemTime) -> bool {
        self.expiry().is_some_and(|e| e <= now)
    }

    /// [`Error::TokenExpired`] if the token has expired at `now`.
    pub fn check_not_expired(&self, now: SystemTime) -> Result<()> {
        if self.is_expired(now) {
            return Err(Error::TokenExpired {
                expiry: self.access_token_expiry.clone().unwrap_or_default(),
            });
        }
        Ok(())
    }
}

/// A token file, read but not decrypted.
pub struct TokenFile {
    envelope: Envelope,
}

impl fmt::Debug for TokenFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenFile")
            .field("content_encryption", &self.envelope.content_encryption())
            .finish_non_exhaustive()
    }
}

impl TokenFile {
    /// Reads a token file: S/MIME as Apple sends it, or PEM, DER or bare
    /// base64 CMS; BER (indefinite lengths) is accepted. A file that is not
    /// one is [`Error::MalformedToken`].
    pub fn parse(file: &[u8]) -> Result<Self> {
        let bytes = mime::envelope_bytes(file)?;
        Ok(Self {
            envelope: Envelope::parse(&bytes)?,
        })
    }

    /// The content-encryption algorithm.
    pub fn content_encryption(&self) -> ContentEncryption {
        self.envelope.content_encryption()
    }
}

/// The private key (and certificate) a token is decrypted with.
pub struct TokenKey {
    key: rsa::PrivateKey,
    cert: Option<Certificate>,
}

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenKey")
            .field(
                "certificate_subject",
                &self
                    .cert
                    .as_ref()
                    .map(|c| c.tbs_certificate().subject().to_string()),
            )
            .finish_non_exhaustive()
    }
}

impl TokenKey {
    /// The RSA private key (PEM: PKCS #1 `RSA PRIVATE KEY` or PKCS #8
    /// `PRIVATE KEY`) and, optionally, its certificate (PEM). With the
    /// certificate, a token made for another certificate is reported as
    /// [`Error::WrongRecipient`]; the key must match it
    /// ([`Error::KeyMismatch`]).
    pub fn from_pem(key_pem: &str, cert_pem: Option<&str>) -> Result<Self> {
        let key = private_key_from_pem(key_pem)?;
        let cert = cert_pem.map(certificate_from_pem).transpose()?;
        Self::new(key, cert)
    }

    /// From a key and optional certificate already decoded.
    pub fn new(key: rsa::PrivateKey, cert: Option<Certificate>) -> Result<Self> {
        if let Some(c) = &cert {
            use rsa::pkcs8::DecodePublicKey;
            let spki = c
                .tbs_certificate()
                .subject_public_key_info()
                .to_der()
                .map_err(|e| key_error("the certificate", e))?;
            let public =
                rsa::PublicKey::from_public_key_der(&spki).map_err(|_| Error::KeyMismatch)?;
            if &public != key.as_public_key() {
                return Err(Error::KeyMismatch);
            }
        }
        Ok(Self { key, cert })
    }

    /// The certificate, if one was given.
    pub fn certificate(&self) -> Option<&Certificate> {
        self.cert.as_ref()
    }

    /// Decrypts a token file and checks that the token has not expired at
    /// `now`. `rng` blinds the RSA operation.
    ///
    /// Errors: [`Error::MalformedToken`] (not a token file, or truncated),
    /// [`Error::WrongRecipient`] (made for another certificate),
    /// [`Error::Decryption`] (not for this key, tampered with, or not a
    /// token inside), [`Error::UnsupportedAlgorithm`],
    /// [`Error::TokenExpired`].
    pub fn decrypt<R: rand_core::CryptoRng + ?Sized>(
        &self,
        file: &[u8],
        now: SystemTime,
        rng: &mut R,
    ) -> Result<ServerToken> {
        let token = self.decrypt_unchecked(file, rng)?;
        token.check_not_expired(now)?;
        Ok(token)
    }

    /// Decrypts a token file without looking at its expiry.
    pub fn decrypt_unchecked<R: rand_core::CryptoRng + ?Sized>(
        &self,
        file: &[u8],
        rng: &mut R,
    ) -> Result<ServerToken> {
        let parsed = TokenFile::parse(file)?;
        let plain = parsed
            .envelope
            .decrypt(&self.key, self.cert.as_ref(), rng)?;
        // Content that decrypted (valid padding) but is not a token fails
        // like content that did not decrypt: telling the two apart would
        // be a CBC padding oracle on the token's secrets.
        ServerToken::from_message(&plain).map_err(|_| Error::Decryption)
    }
}

/// A generated key pair, PEM: what the admin uploads (`cert_pem`) and
/// what decrypts the token (`key_pem`, keep it secret).
#[derive(Clone)]
pub struct GeneratedKeyPair {
    /// The RSA private key, PKCS #8 PEM.
    pub key_pem: String,
    /// The self-signed certificate, PEM.
    pub cert_pem: String,
}

impl fmt::Debug for GeneratedKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedKeyPair")
            .field("cert_pem", &self.cert_pem)
            .finish_non_exhaustive()
    }
}

/// Generates an RSA-2048 key and a self-signed certificate (subject
/// `CN=<common_name>`, SHA-256 with RSA, valid from an hour before `now`
/// for [`CERT_VALIDITY`]) for uploading to Apple Business Manager as the
/// MDM server's public key.
///
/// ```no_run
/// let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
/// let pair = dep_client::generate_key_pair("Pippin DEP", std::time::SystemTime::now(), &mut rng)?;
/// std::fs::write("dep-public.pem", &pair.cert_pem)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn generate_key_pair<R: rand_core::CryptoRng + ?Sized>(
    common_name: &str,
    now: SystemTime,
    rng: &mut R,
) -> Result<GeneratedKeyPair> {
    use rsa::pkcs8::EncodePrivateKey;
    if common_name.trim().is_empty() {
        return Err(Error::KeyGeneration("the common name is empty".to_owned()));
    }
    let key =
        rsa::PrivateKey::new(rng, KEY_BITS).map_err(|e| Error::KeyGeneration(e.to_string()))?;
    let key_pem = key
        .to_pkcs8_pem(rsa::pkcs8::LineEnding::LF)
        .map_err(|e| Error::KeyGeneration(e.to_string()))?
        .to_string();
    let signer = rcgen::KeyPair::from_pkcs8_pem_and_sign_algo(&key_pem, &rcgen::PKCS_RSA_SHA256)
        .map_err(|e| Error::KeyGeneration(e.to_string()))?;
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, common_name);
    let start = now.checked_sub(Duration::from_secs(3600)).unwrap_or(now);
    params.not_before = time::OffsetDateTime::from(start);
    params.not_after = time::OffsetDateTime::from(start + CERT_VALIDITY);
    let mut serial = [0u8; 16];
    rng.fill_bytes(&mut serial);
    serial[0] = (serial[0] & 0x7f) | 0x40;
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
    // An end-entity certificate (basicConstraints CA:FALSE), which also
    // gives it a subject key identifier for `keyid` recipients.
    params.is_ca = rcgen::IsCa::ExplicitNoCa;
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::DigitalSignature,
        rcgen::KeyUsagePurpose::KeyEncipherment,
    ];
    let cert = params
        .self_signed(&signer)
        .map_err(|e| Error::KeyGeneration(e.to_string()))?;
    Ok(GeneratedKeyPair {
        key_pem,
        cert_pem: cert.pem(),
    })
}

fn key_error(what: &'static str, e: impl fmt::Display) -> Error {
    Error::Key {
        what,
        message: e.to_string(),
    }
}

/// An RSA private key from PEM (`RSA PRIVATE KEY` or `PRIVATE KEY`).
pub fn private_key_from_pem(pem: &str) -> Result<rsa::PrivateKey> {
    const WHAT: &str = "the private key";
    let blocks = mime::pem_blocks(pem).map_err(|e| key_error(WHAT, e))?;
    for (label, der) in blocks {
        match label.as_str() {
            "RSA PRIVATE KEY" => {
                use rsa::pkcs1::DecodeRsaPrivateKey;
                return rsa::PrivateKey::from_pkcs1_der(&der).map_err(|e| key_error(WHAT, e));
            }
            "PRIVATE KEY" => {
                use rsa::pkcs8::DecodePrivateKey;
                return rsa::PrivateKey::from_pkcs8_der(&der)
                    .map_err(|e| key_error(WHAT, format!("not an RSA key ({e})")));
            }
            "ENCRYPTED PRIVATE KEY" => {
                return Err(key_error(WHAT, "encrypted keys are not supported"));
            }
            _ => {}
        }
    }
    Err(key_error(WHAT, "no RSA PRIVATE KEY or PRIVATE KEY block"))
}

/// The first certificate in a PEM document.
pub fn certificate_from_pem(pem: &str) -> Result<Certificate> {
    const WHAT: &str = "the certificate";
    let blocks = mime::pem_blocks(pem).map_err(|e| key_error(WHAT, e))?;
    let (_, der) = blocks
        .into_iter()
        .find(|(l, _)| l == "CERTIFICATE")
        .ok_or_else(|| key_error(WHAT, "no CERTIFICATE block"))?;
    Certificate::from_der(&der).map_err(|e| key_error(WHAT, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    const JSON: &str = r#"{"consumer_key":"CK_1","consumer_secret":"CS_1","access_token":"AT_1","access_secret":"AS_1","access_token_expiry":"2030-01-02T03:04:05Z"}"#;

    #[test]
    fn token_json() {
        let t = ServerToken::from_json(JSON).unwrap();
        assert_eq!(t.credentials.access_token, "AT_1");
        let expiry = parse_timestamp("2030-01-02T03:04:05Z").unwrap();
        assert!(!t.is_expired(expiry - Duration::from_secs(1)));
        assert!(t.is_expired(expiry));
        assert!(matches!(
            t.check_not_expired(expiry),
            Err(Error::TokenExpired { .. })
        ));
        let shown = format!("{t:?}");
        assert!(
            !shown.contains("CS_1") && !shown.contains("AS_1"),
            "{shown}"
        );
        assert_eq!(
            serde_json::to_value(&t).unwrap(),
            serde_json::from_str::<serde_json::Value>(JSON).unwrap()
        );
        for bad in [
            JSON.replace("\"CS_1\"", "\"\""),
            JSON.replace("2030-01-02T03:04:05Z", "next year"),
            JSON.replace("\"access_secret\":\"AS_1\",", ""),
            "[]".to_owned(),
        ] {
            assert!(
                matches!(
                    ServerToken::from_json(&bad),
                    Err(Error::MalformedToken { .. })
                ),
                "{bad}"
            );
        }
        let no_expiry = ServerToken::from_json(
            r#"{"consumer_key":"a","consumer_secret":"b","access_token":"c","access_secret":"d"}"#,
        )
        .unwrap();
        assert!(!no_expiry.is_expired(SystemTime::now()));
    }

    #[test]
    fn key_pair_generation_and_loading() {
        let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
        let pair = generate_key_pair("Pippin test", SystemTime::now(), &mut rng).unwrap();
        assert!(pair.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let key = TokenKey::from_pem(&pair.key_pem, Some(&pair.cert_pem)).unwrap();
        let cert = key.certificate().unwrap();
        assert_eq!(
            cert.tbs_certificate().subject().to_string(),
            "CN=Pippin test"
        );
        assert!(!format!("{pair:?}").contains("PRIVATE"));
        let other = generate_key_pair("other", SystemTime::now(), &mut rng).unwrap();
        assert!(matches!(
            TokenKey::from_pem(&pair.key_pem, Some(&other.cert_pem)),
            Err(Error::KeyMismatch)
        ));
        assert!(matches!(
            TokenKey::from_pem(&pair.cert_pem, None),
            Err(Error::Key { .. })
        ));
        assert!(generate_key_pair(" ", SystemTime::now(), &mut rng).is_err());
    }
}
