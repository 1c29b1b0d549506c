//! The sans-I/O SCEP responder: one call per HTTP request
//! (RFC 8894 §4: `GET`/`POST` `?operation=...`).

use std::sync::Arc;
use std::time::SystemTime;

use base64::Engine as _;
use x509_cert::name::Name;

use crate::Decode;
use crate::attributes::{FailInfo, MessageType, ScepAttributes, TransactionId};
use crate::ca::{CertificateAuthority, IssueOptions, unix};
use crate::cert::CertView;
use crate::challenge::{ChallengeRequest, ChallengeVerifier};
use crate::crypto::{PublicKey, sha256};
use crate::csr::CertificationRequest;
use crate::envelope::{open, seal};
use crate::error::{Error, Result};
use crate::message::{MAX_MESSAGE_LEN, PkiMessage};
use crate::response::{self, Status, degenerate_certificates};

/// `Content-Type` of a `GetCACaps` answer.
pub const CONTENT_TYPE_CAPS: &str = "text/plain";
/// `Content-Type` of a single CA certificate (RFC 8894 §4.2.1.1).
pub const CONTENT_TYPE_CA_CERT: &str = "application/x-x509-ca-cert";
/// `Content-Type` of a CA certificate with its chain (RFC 8894 §4.2.1.2).
pub const CONTENT_TYPE_CA_RA_CERT: &str = "application/x-x509-ca-ra-cert";
/// `Content-Type` of a `pkiMessage` (RFC 8894 §4.3).
pub const CONTENT_TYPE_PKI_MESSAGE: &str = "application/x-pki-message";

/// Longest base64 `message` parameter accepted in a `GET PKIOperation`.
pub const MAX_BASE64_LEN: usize = MAX_MESSAGE_LEN / 3 * 4 + 1024;

/// The responder's configuration, shared as `Arc<ScepConfig>`.
pub struct ScepConfig {
    ca: CertificateAuthority,
    verifier: Arc<dyn ChallengeVerifier>,
    issue: IssueOptions,
    advertise_aes: bool,
    advertise_des3: bool,
    advertise_sha1: bool,
    advertise_renewal: bool,
}

impl core::fmt::Debug for ScepConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ScepConfig")
            .field("ca", &self.ca)
            .field("issue", &self.issue)
            .field("capabilities", &self.capabilities())
            .finish_non_exhaustive()
    }
}

impl ScepConfig {
    /// A configuration issuing from `ca` to requests whose challenge
    /// `verifier` accepts, with default [`IssueOptions`] and capabilities
    /// `POSTPKIOperation`, `SHA-256`, `SHA-512`, `AES`, `DES3`,
    /// `SCEPStandard` and `Renewal`.
    pub fn new(ca: CertificateAuthority, verifier: Arc<dyn ChallengeVerifier>) -> Self {
        Self {
            ca,
            verifier,
            issue: IssueOptions::default(),
            advertise_aes: true,
            advertise_des3: true,
            advertise_sha1: false,
            advertise_renewal: true,
        }
    }

    /// How certificates are issued.
    pub fn issue_options(&mut self, options: IssueOptions) -> &mut Self {
        self.issue = options;
        self
    }

    /// Whether to advertise `AES` (and with it `SCEPStandard`). On by
    /// default; turning it off makes clients fall back to Triple-DES.
    pub fn advertise_aes(&mut self, on: bool) -> &mut Self {
        self.advertise_aes = on;
        self
    }

    /// Whether to advertise `DES3`. On by default.
    pub fn advertise_des3(&mut self, on: bool) -> &mut Self {
        self.advertise_des3 = on;
        self
    }

    /// Whether to advertise `SHA-1` (for clients that need to see it). Off
    /// by default; SHA-1 requests are accepted either way.
    pub fn advertise_sha1(&mut self, on: bool) -> &mut Self {
        self.advertise_sha1 = on;
        self
    }

    /// Whether to advertise and serve `RenewalReq`. On by default.
    pub fn renewal(&mut self, on: bool) -> &mut Self {
        self.advertise_renewal = on;
        self
    }

    /// The CA.
    pub fn ca(&self) -> &CertificateAuthority {
        &self.ca
    }

    /// The capability keywords advertised by `GetCACaps` (RFC 8894 §3.5.2).
    pub fn capabilities(&self) -> Vec<&'static str> {
        let mut caps = vec!["POSTPKIOperation"];
        if self.advertise_renewal {
            caps.push("Renewal");
        }
        caps.extend(["SHA-256", "SHA-512"]);
        if self.advertise_sha1 {
            caps.push("SHA-1");
        }
        if self.advertise_aes {
            caps.push("AES");
        }
        if self.advertise_des3 {
            caps.push("DES3");
        }
        // SCEPStandard implies AES, POSTPKIOperation and SHA-256.
        if self.advertise_aes {
            caps.push("SCEPStandard");
        }
        caps
    }
}

/// What the HTTP layer sends back: a 200 response with this type and body.
#[derive(Debug)]
pub struct ScepResponse {
    /// The `Content-Type` header.
    pub content_type: &'static str,
    /// The body.
    pub body: Vec<u8>,
    /// What happened, for the service (identity binding, logs, metrics).
    pub outcome: Outcome,
}

/// What a handled request amounted to.
#[derive(Debug)]
#[non_exhaustive]
pub enum Outcome {
    /// `GetCACaps` answered.
    Capabilities,
    /// `GetCACert` answered.
    CaCertificates,
    /// A certificate was issued.
    Issued(IssuedCertificate),
    /// A verified request was refused with a `FAILURE` `CertRep`.
    Rejected(Rejection),
}

/// A certificate issued in answer to `PKCSReq` or `RenewalReq`: what the
/// service needs to bind the device's identity.
#[derive(Clone, Debug)]
pub struct IssuedCertificate {
    /// The certificate, DER.
    pub certificate: Vec<u8>,
    /// SHA-256 of `certificate`.
    pub sha256: [u8; 32],
    /// The SCEP transaction.
    pub transaction_id: TransactionId,
    /// The subject issued to.
    pub subject: Name,
    /// For a renewal: the certificate (DER, issued by this CA) that signed
    /// the request and is being replaced.
    pub renewal_of: Option<Vec<u8>>,
}

impl IssuedCertificate {
    /// Whether this was a renewal.
    pub fn is_renewal(&self) -> bool {
        self.renewal_of.is_some()
    }
}

/// A verified request refused on the wire with `pkiStatus` FAILURE.
#[derive(Debug)]
pub struct Rejection {
    /// The SCEP transaction.
    pub transaction_id: TransactionId,
    /// The `failInfo` sent.
    pub fail_info: FailInfo,
    /// Why, in detail (not sent).
    pub reason: Error,
}

/// The SCEP responder. Cheap to clone; holds its configuration in an `Arc`.
///
/// It reads neither the clock nor OS randomness: `now` and `rng` come with
/// each call.
#[derive(Clone, Debug)]
pub struct ScepServer {
    config: Arc<ScepConfig>,
}

impl ScepServer {
    /// A responder with `config`.
    pub fn new(config: Arc<ScepConfig>) -> Self {
        Self { config }
    }

    /// The configuration.
    pub fn config(&self) -> &ScepConfig {
        &self.config
    }

    /// Answers one SCEP HTTP request.
    ///
    /// `operation` is the `operation` query parameter (matched without
    /// regard to ASCII case, as some clients vary it). `message` is the
    /// body of a `POST`, or the (URL-decoded) `message` parameter of a
    /// `GET`: for `PKIOperation`, input starting with a DER `SEQUENCE` octet
    /// is taken as binary, anything else as base64.
    ///
    /// An `Err` means the request could not be authenticated or was
    /// malformed (answer with HTTP 400, or 404 for
    /// [`Error::UnsupportedOperation`]). A verified request that is refused
    /// is answered `Ok`, with a `FAILURE` `CertRep` and
    /// [`Outcome::Rejected`].
    pub fn handle<R: rand_core::CryptoRng + ?Sized>(
        &self,
        operation: &str,
        message: Option<&[u8]>,
        now: SystemTime,
        rng: &mut R,
    ) -> Result<ScepResponse> {
        let is = |name: &str| operation.eq_ignore_ascii_case(name);
        if is("GetCACaps") {
            Ok(ScepResponse {
                content_type: CONTENT_TYPE_CAPS,
                body: self.config.capabilities().join("\n").into_bytes(),
                outcome: Outcome::Capabilities,
            })
        } else if is("GetCACert") {
            Ok(self.ca_certificates())
        } else if is("PKIOperation") {
            let message = message
                .filter(|m| !m.is_empty())
                .ok_or(Error::MissingMessage)?;
            let decoded;
            let der = if message[0] == 0x30 {
                message
            } else {
                decoded = decode_base64(message)?;
                &decoded
            };
            self.pki_operation(der, now, rng)
        } else {
            Err(Error::UnsupportedOperation(
                operation.chars().take(64).collect(),
            ))
        }
    }

    /// `GetCACert`: the CA certificate alone, or with its chain as a
    /// degenerate `SignedData`.
    fn ca_certificates(&self) -> ScepResponse {
        let ca = &self.config.ca;
        if ca.chain().is_empty() {
            ScepResponse {
                content_type: CONTENT_TYPE_CA_CERT,
                body: ca.certificate_der().to_vec(),
                outcome: Outcome::CaCertificates,
            }
        } else {
            let mut certs: Vec<&[u8]> = vec![ca.certificate_der()];
            certs.extend(ca.chain().iter().map(Vec::as_slice));
            ScepResponse {
                content_type: CONTENT_TYPE_CA_RA_CERT,
                body: degenerate_certificates(&certs),
                outcome: Outcome::CaCertificates,
            }
        }
    }

    /// `PKIOperation` with a binary (DER or BER) `pkiMessage`.
    pub fn pki_operation<R: rand_core::CryptoRng + ?Sized>(
        &self,
        der: &[u8],
        now: SystemTime,
        rng: &mut R,
    ) -> Result<ScepResponse> {
        let msg = PkiMessage::parse(der)?;
        let now_unix = unix(now)?;
        let attrs = msg.attributes().clone();
        let (status, outcome) = match self.serve(&msg, now, rng) {
            Ok((envelope, issued)) => (Status::Success(envelope), Outcome::Issued(issued)),
            Err(reason) => {
                let fail_info = reason.fail_info();
                (
                    Status::Failure(fail_info),
                    Outcome::Rejected(Rejection {
                        transaction_id: attrs.transaction_id.clone(),
                        fail_info,
                        reason,
                    }),
                )
            }
        };
        let body = response::cert_rep(&self.config.ca, &attrs, status, now_unix, rng)?;
        Ok(ScepResponse {
            content_type: CONTENT_TYPE_PKI_MESSAGE,
            body,
            outcome,
        })
    }

    /// Serves a verified message; an `Err` becomes a `FAILURE` `CertRep`.
    fn serve<R: rand_core::CryptoRng + ?Sized>(
        &self,
        msg: &PkiMessage,
        now: SystemTime,
        rng: &mut R,
    ) -> Result<(Vec<u8>, IssuedCertificate)> {
        let attrs: &ScepAttributes = msg.attributes();
        match attrs.message_type {
            MessageType::PkcsReq => {}
            MessageType::RenewalReq if self.config.advertise_renewal => {}
            // Nothing is ever left pending, so no poll can match.
            MessageType::CertPoll => return Err(Error::UnknownTransaction),
            other => return Err(Error::UnsupportedMessageType(other)),
        }
        if attrs.sender_nonce.is_none() {
            return Err(Error::MissingAttribute("senderNonce"));
        }
        let ca = &self.config.ca;
        let ca_view = CertView::parse(ca.certificate_der())?;
        let signer = CertView::parse(msg.signer_certificate())?;

        // The reply is encrypted to the signer: it needs an RSA key.
        if !matches!(signer.public_key()?, PublicKey::Rsa(_)) {
            return Err(Error::UnsupportedKey);
        }

        let content = msg
            .content()
            .ok_or(Error::MissingAttribute("pkcsPKIEnvelope"))?;
        // The reply uses the requester's own content-encryption algorithm:
        // the one it has shown it supports.
        let (plaintext, alg) = open(content, &ca_view, ca.private_key(), rng)?;
        let csr = CertificationRequest::decode(&plaintext)?;

        // Key policy, before any one-time challenge is consumed.
        let key = PublicKey::from_spki(csr.public_key_der())?;
        let min = self.config.issue_min_rsa_bits();
        if let Some(bits) = key.rsa_bits()
            && bits < min
        {
            return Err(Error::WeakKey { bits, min });
        }

        let renewal = attrs.message_type == MessageType::RenewalReq
            && ca.has_issued(msg.signer_certificate(), now);
        if !renewal {
            self.config
                .verifier
                .verify(&ChallengeRequest {
                    challenge: csr.challenge_password(),
                    subject: csr.subject(),
                    transaction_id: &attrs.transaction_id,
                    now,
                })
                .map_err(Error::ChallengeRejected)?;
        }

        let cert = ca.issue(&csr, &self.config.issue, now, rng)?;
        let mut certs: Vec<&[u8]> = vec![&cert, ca.certificate_der()];
        certs.extend(ca.chain().iter().map(Vec::as_slice));
        let envelope = seal(&degenerate_certificates(&certs), &signer, alg, rng)?;
        let issued = IssuedCertificate {
            sha256: sha256(&cert),
            transaction_id: attrs.transaction_id.clone(),
            subject: csr.subject().clone(),
            renewal_of: renewal.then(|| msg.signer_certificate().to_vec()),
            certificate: cert,
        };
        Ok((envelope, issued))
    }
}

impl ScepConfig {
    fn issue_min_rsa_bits(&self) -> usize {
        self.issue.min_rsa_bits_value()
    }
}

/// Decodes a base64 `message` parameter, tolerating line breaks, missing
/// padding, `+` turned into a space by form decoding, and the URL-safe
/// alphabet.
fn decode_base64(input: &[u8]) -> Result<Vec<u8>> {
    if input.len() > MAX_BASE64_LEN {
        return Err(Error::TooLarge {
            len: input.len(),
            limit: MAX_BASE64_LEN,
        });
    }
    let cleaned: Vec<u8> = input
        .iter()
        .filter(|b| !matches!(b, b'\r' | b'\n' | b'\t'))
        .map(|b| match b {
            b' ' | b'-' => b'+',
            b'_' => b'/',
            other => *other,
        })
        .collect();
    const ENGINE: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );
    ENGINE.decode(cleaned).map_err(|_| Error::Base64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_variants() {
        let data = [0x30u8, 0x82, 0xfb, 0xff, 0x01];
        let std = base64::engine::general_purpose::STANDARD.encode(data);
        assert!(std.contains('+') || std.contains('/'));
        assert_eq!(decode_base64(std.as_bytes()).unwrap(), data);
        let spaced = std.replace('+', " ");
        assert_eq!(decode_base64(spaced.as_bytes()).unwrap(), data);
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data);
        assert_eq!(decode_base64(url.as_bytes()).unwrap(), data);
        let wrapped = format!("{}\r\n{}", &std[..4], &std[4..]);
        assert_eq!(decode_base64(wrapped.as_bytes()).unwrap(), data);
        assert!(matches!(decode_base64(b"!!!!"), Err(Error::Base64)));
        let huge = vec![b'A'; MAX_BASE64_LEN + 1];
        assert!(matches!(decode_base64(&huge), Err(Error::TooLarge { .. })));
    }
}
