//! TLS for the SMS Provider: trust anchors, or a pinned certificate.
//!
//! ConfigMgr's provider usually presents the self-signed "SMS Issuing"
//! certificate, which no trust anchor vouches for. It is accepted only when
//! its SHA-256 fingerprint is pinned; nothing else (no hostname check, no
//! chain) is needed then, because the pin names exactly one certificate.

use std::fmt;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, OtherError, SignatureScheme};
use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// Where trust anchors are looked for when none are configured.
const SYSTEM_BUNDLES: [&str; 4] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
    "/etc/ssl/ca-bundle.pem",
];

/// How the provider's certificate is trusted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Trust {
    /// The system's trust anchors (a certificate from the organisation's
    /// PKI, or a public CA for the cloud management gateway).
    #[default]
    System,
    /// These trust anchors, PEM (instead of the system's).
    Anchors(String),
    /// Exactly the certificate with this SHA-256 fingerprint, whoever
    /// issued it (the provider's self-signed "SMS Issuing" certificate).
    Pinned([u8; 32]),
}

impl Trust {
    /// A pin from its text form: 64 hex digits, with or without `:` or
    /// spaces between bytes, or `sha256/` followed by base64.
    pub fn parse_pin(text: &str) -> Result<Self> {
        let bad = || Error::InvalidRequest {
            what: format!(
                "the pin {text:?} is not a SHA-256 fingerprint (64 hex digits, or sha256/BASE64)"
            ),
        };
        let mut pin = [0u8; 32];
        if let Some(b64) = text.strip_prefix("sha256/") {
            use base64::Engine as _;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|_| bad())?;
            if bytes.len() != 32 {
                return Err(bad());
            }
            pin.copy_from_slice(&bytes);
            return Ok(Self::Pinned(pin));
        }
        let digits: String = text
            .chars()
            .filter(|c| !matches!(c, ':' | ' ' | '-'))
            .collect();
        if digits.len() != 64 || !digits.is_ascii() {
            return Err(bad());
        }
        for (i, byte) in pin.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&digits[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        Ok(Self::Pinned(pin))
    }
}

/// The SHA-256 fingerprint of a DER certificate, as pinned.
pub fn fingerprint(cert_der: &[u8]) -> [u8; 32] {
    Sha256::digest(cert_der).into()
}

pub(crate) fn client_config(trust: &Trust) -> Result<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| Error::Tls(e.to_string()))?;
    let mut config = match trust {
        Trust::Pinned(pin) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinnedOnly {
                pin: *pin,
                provider,
            }))
            .with_no_client_auth(),
        Trust::System | Trust::Anchors(_) => {
            let pem = match trust {
                Trust::Anchors(pem) => pem.clone(),
                _ => SYSTEM_BUNDLES
                    .iter()
                    .find_map(|p| std::fs::read_to_string(p).ok())
                    .ok_or_else(|| Error::Tls("no system trust anchors found".to_owned()))?,
            };
            let anchors = CertificateDer::pem_slice_iter(pem.as_bytes())
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| Error::Tls(format!("trust anchors: {e}")))?;
            let mut roots = rustls::RootCertStore::empty();
            let (added, _) = roots.add_parsable_certificates(anchors);
            if added == 0 {
                return Err(Error::Tls("no usable trust anchors".to_owned()));
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Accepts the one certificate whose SHA-256 is pinned, and checks the
/// handshake signatures made with its key.
#[derive(Debug)]
struct PinnedOnly {
    pin: [u8; 32],
    provider: Arc<CryptoProvider>,
}

/// Why a pinned connection refused the server's certificate.
struct PinMismatch([u8; 32]);

impl fmt::Display for PinMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the server certificate is not the pinned one (its SHA-256 is "
        )?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}

/// rustls shows the reason with `{:?}`, so Debug says it in words too.
impl fmt::Debug for PinMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for PinMismatch {}

impl ServerCertVerifier for PinnedOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        use subtle::ConstantTimeEq as _;
        let seen = fingerprint(end_entity);
        if bool::from(seen.ct_eq(&self.pin)) {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                OtherError(Arc::new(PinMismatch(seen))),
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_parse_in_the_usual_forms() {
        let hex = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";
        let Trust::Pinned(pin) = Trust::parse_pin(hex).unwrap() else {
            panic!()
        };
        assert_eq!(pin[0], 0x00);
        assert_eq!(pin[15], 0xff);
        assert_eq!(pin[31], 0xff);
        let colons = hex
            .as_bytes()
            .chunks(2)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join(":");
        assert_eq!(Trust::parse_pin(&colons).unwrap(), Trust::Pinned(pin));
        use base64::Engine as _;
        let b64 = format!(
            "sha256/{}",
            base64::engine::general_purpose::STANDARD.encode(pin)
        );
        assert_eq!(Trust::parse_pin(&b64).unwrap(), Trust::Pinned(pin));
        for bad in [
            "",
            "00",
            &hex[1..],
            "sha256/AAAA",
            &format!("{hex}00"),
            "zz",
        ] {
            assert!(Trust::parse_pin(bad).is_err(), "{bad}");
        }
        // A SHA-1 thumbprint (40 digits, what Windows shows) is refused.
        assert!(Trust::parse_pin(&hex[..40]).is_err());
    }
}
