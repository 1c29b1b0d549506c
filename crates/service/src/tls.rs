//! rustls configurations for Pippin's servers and for the links between its
//! components, always on the *ring* provider.
//!
//! - [`server_config`]: TLS 1.2 and 1.3 (or 1.3 only), ALPN `h2` and
//!   `http/1.1`, optionally asking for or requiring a client certificate.
//! - [`client_config`]: trusts given roots and can additionally pin the
//!   server's certificate by its SHA-256, as the link from cm-proxy to
//!   mdm-proxy does.
//!
//! The provider is passed explicitly to every builder; nothing here relies on
//! (or installs) a process-wide default provider.

use std::fmt;
use std::sync::{Arc, OnceLock};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, OtherError, RootCertStore, ServerConfig,
    SignatureScheme, SupportedProtocolVersion,
};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::token::constant_time_eq;

/// The ALPN protocols [`server_config`] offers, in order of preference.
pub const ALPN_PROTOCOLS: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// The *ring* crypto provider, built once and shared.
pub fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// Whether and how a server asks for client certificates.
#[derive(Clone, Debug)]
pub enum ClientAuth {
    /// No client certificate is asked for.
    None,
    /// A client certificate is asked for and, if sent, must chain to one of
    /// `roots`; a client may also connect without one (the application then
    /// decides, for example from an `Mdm-Signature` header).
    Optional {
        /// The trust anchors for client certificates.
        roots: Vec<CertificateDer<'static>>,
    },
    /// A client certificate chaining to one of `roots` is required; the
    /// handshake fails without one.
    Required {
        /// The trust anchors for client certificates.
        roots: Vec<CertificateDer<'static>>,
    },
}

/// The lowest TLS version a server accepts.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub enum MinTlsVersion {
    /// TLS 1.2 and TLS 1.3 (the default; Apple devices speak both).
    #[default]
    Tls12,
    /// TLS 1.3 only.
    Tls13,
}

/// A server configuration serving `cert_chain_pem` (leaf first, then any
/// intermediates) with the key in `key_pem` (PKCS#8, PKCS#1 or SEC1 PEM).
///
/// Protocol versions: TLS 1.2 and 1.3, or 1.3 only with
/// [`MinTlsVersion::Tls13`]; never anything older. ALPN: `h2`, then
/// `http/1.1`. Fails if the PEM holds no certificate or key, or if the key
/// does not match the leaf.
pub fn server_config(
    cert_chain_pem: &str,
    key_pem: &str,
    client_auth: ClientAuth,
    min_version: MinTlsVersion,
) -> Result<Arc<ServerConfig>> {
    let chain = certs_from_pem(cert_chain_pem)?;
    if chain.is_empty() {
        return Err(Error::Pem {
            what: "certificate chain",
            message: "no CERTIFICATE section".to_owned(),
        });
    }
    let key = private_key_from_pem(key_pem)?;
    let provider = provider();
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions(min_version))?;
    let builder = match client_auth {
        ClientAuth::None => builder.with_no_client_auth(),
        ClientAuth::Optional { roots } => {
            let verifier =
                WebPkiClientVerifier::builder_with_provider(root_store(roots)?, provider)
                    .allow_unauthenticated()
                    .build()
                    .map_err(|e| Error::Tls(rustls::Error::General(e.to_string())))?;
            builder.with_client_cert_verifier(verifier)
        }
        ClientAuth::Required { roots } => {
            let verifier =
                WebPkiClientVerifier::builder_with_provider(root_store(roots)?, provider)
                    .build()
                    .map_err(|e| Error::Tls(rustls::Error::General(e.to_string())))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_single_cert(chain, key)?;
    config.alpn_protocols = ALPN_PROTOCOLS.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// A client configuration for a link between components.
///
/// - `roots_pem`: the CA certificates the server's chain must lead to (at
///   least one); the server name is checked as usual.
/// - `client_identity`: `(certificate chain PEM, key PEM)` to present when
///   the server asks for a client certificate.
/// - `pin_sha256`: if given, the server's leaf certificate must also be
///   exactly the one whose DER has this SHA-256 ([`cert_sha256`]); any other
///   certificate is refused, even one issued by the same CA. Handshake
///   signatures are verified with the *ring* provider's algorithms either way.
///
/// TLS 1.2 and 1.3; no ALPN is offered (set `alpn_protocols` on a clone if the
/// link needs it).
pub fn client_config(
    roots_pem: &str,
    client_identity: Option<(&str, &str)>,
    pin_sha256: Option<[u8; 32]>,
) -> Result<Arc<ClientConfig>> {
    let roots = certs_from_pem(roots_pem)?;
    if roots.is_empty() {
        return Err(Error::Pem {
            what: "trust anchors",
            message: "no CERTIFICATE section".to_owned(),
        });
    }
    let provider = provider();
    let webpki = WebPkiServerVerifier::builder_with_provider(root_store(roots)?, provider.clone())
        .build()
        .map_err(|e| Error::Tls(rustls::Error::General(e.to_string())))?;
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions(MinTlsVersion::Tls12))?;
    let builder = match pin_sha256 {
        None => builder.with_webpki_verifier(webpki),
        Some(pin) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinnedServerVerifier {
                pin,
                inner: webpki,
                provider,
            })),
    };
    let config = match client_identity {
        None => builder.with_no_client_auth(),
        Some((chain_pem, key_pem)) => {
            let chain = certs_from_pem(chain_pem)?;
            if chain.is_empty() {
                return Err(Error::Pem {
                    what: "client certificate chain",
                    message: "no CERTIFICATE section".to_owned(),
                });
            }
            builder.with_client_auth_cert(chain, private_key_from_pem(key_pem)?)?
        }
    };
    Ok(Arc::new(config))
}

/// SHA-256 of a certificate's DER encoding: its pin.
pub fn cert_sha256(der: &[u8]) -> [u8; 32] {
    Sha256::digest(der).into()
}

/// The DER of every `CERTIFICATE` section in `pem`, in order; other sections
/// (keys, parameters) are skipped. Fails on a malformed section.
pub fn pem_to_ders(pem: &str) -> Result<Vec<Vec<u8>>> {
    Ok(certs_from_pem(pem)?
        .into_iter()
        .map(|c| c.as_ref().to_vec())
        .collect())
}

/// The certificates in `pem` as rustls types, for [`ClientAuth`] roots.
pub fn certs_from_pem(pem: &str) -> Result<Vec<CertificateDer<'static>>> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::Pem {
            what: "certificates",
            message: e.to_string(),
        })
}

fn private_key_from_pem(pem: &str) -> Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| Error::Pem {
        what: "private key",
        message: e.to_string(),
    })
}

fn versions(min: MinTlsVersion) -> &'static [&'static SupportedProtocolVersion] {
    static TLS12_AND_13: [&SupportedProtocolVersion; 2] =
        [&rustls::version::TLS13, &rustls::version::TLS12];
    static TLS13: [&SupportedProtocolVersion; 1] = [&rustls::version::TLS13];
    match min {
        MinTlsVersion::Tls12 => &TLS12_AND_13,
        MinTlsVersion::Tls13 => &TLS13,
    }
}

fn root_store(roots: Vec<CertificateDer<'static>>) -> Result<Arc<RootCertStore>> {
    let mut store = RootCertStore::empty();
    for root in roots {
        store.add(root)?;
    }
    Ok(Arc::new(store))
}

/// Accepts only the server certificate with the pinned SHA-256, and only if
/// it also passes the ordinary WebPKI checks against the configured roots.
#[derive(Debug)]
struct PinnedServerVerifier {
    pin: [u8; 32],
    inner: Arc<WebPkiServerVerifier>,
    provider: Arc<CryptoProvider>,
}

/// The reason a pinned link refuses a server certificate.
struct PinMismatch;

impl fmt::Display for PinMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the server certificate is not the pinned one (SHA-256 differs)")
    }
}

/// rustls shows the reason with `{:?}`, so Debug says it in words too.
impl fmt::Debug for PinMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for PinMismatch {}

impl ServerCertVerifier for PinnedServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        if !constant_time_eq(&cert_sha256(end_entity), &self.pin) {
            return Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                OtherError(Arc::new(PinMismatch)),
            )));
        }
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
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

    fn root_hint_subjects(&self) -> Option<&[rustls::DistinguishedName]> {
        self.inner.root_hint_subjects()
    }
}
