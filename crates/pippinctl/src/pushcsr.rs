//! The MDM push certificate workflow's files: the private key and
//! certificate signing request (CSR) a site makes, and — for organisations
//! with their own MDM vendor signing certificate — the signed request that
//! the Apple Push Certificates Portal accepts.
//!
//! Apple's portal takes a customer CSR only when an MDM vendor has signed
//! it: a property list with three strings, `PushCertRequestCSR` (the CSR,
//! DER, base64), `PushCertCertificateChain` (the vendor's MDM signing
//! certificate and its issuers up to Apple's root, PEM) and
//! `PushCertSignature` (the vendor key's RSA PKCS #1 v1.5 signature over the
//! CSR's DER, base64), uploaded as the base64 of the plist's XML.

use std::path::Path;

use anyhow::{Context, anyhow, bail};
use base64::Engine as _;
use der::Decode as _;
use pippin_plist::{Dictionary, Value};

/// RSA modulus size of the push certificate key Apple expects.
pub const PUSH_KEY_BITS: usize = 2048;

type Rng = scep::rand_core::UnwrapErr<getrandom::SysRng>;

fn rng() -> Rng {
    scep::rand_core::UnwrapErr(getrandom::SysRng)
}

/// A new push key and its CSR.
pub struct PushRequest {
    /// PKCS #8 private key, PEM.
    pub key_pem: String,
    /// PKCS #10 request, DER.
    pub csr_der: Vec<u8>,
}

impl std::fmt::Debug for PushRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushRequest")
            .field("csr_der", &self.csr_der.len())
            .finish_non_exhaustive()
    }
}

impl PushRequest {
    /// The CSR as PEM.
    pub fn csr_pem(&self) -> anyhow::Result<String> {
        pem("CERTIFICATE REQUEST", &self.csr_der)
    }
}

/// Makes an RSA key of `bits` and a SHA-256 CSR for `subject` (RFC 4514
/// text, e.g. `CN=Pippin push,O=Example,C=US`).
pub fn new_push_request(subject: &str, bits: usize) -> anyhow::Result<PushRequest> {
    if bits < 2048 {
        bail!("the push key must be at least 2048 bits");
    }
    let mut rng = rng();
    let key = rsa::PrivateKey::new(&mut rng, bits).context("generating the RSA key")?;
    let key_der = {
        use rsa::pkcs8::EncodePrivateKey;
        key.to_pkcs8_der()
            .map_err(|e| anyhow!("encoding the key: {e}"))?
            .as_bytes()
            .to_vec()
    };
    // A self-signed holder certificate is how the SCEP requester carries
    // its key; only its CSR is used here.
    let requester =
        scep::client::Requester::self_signed(subject, key, std::time::SystemTime::now(), &mut rng)
            .map_err(|e| anyhow!("subject {subject:?}: {e}"))?;
    let csr_der = requester
        .certification_request(subject, None, &mut rng)
        .map_err(|e| anyhow!("building the CSR: {e}"))?;
    Ok(PushRequest {
        key_pem: pem("PRIVATE KEY", &key_der)?,
        csr_der,
    })
}

/// The digest of the vendor signature.
#[derive(Clone, Copy, Debug, Eq, PartialEq, clap::ValueEnum)]
pub enum VendorHash {
    /// SHA-256 (what Apple documents today).
    Sha256,
    /// SHA-1 (what older vendor tooling used).
    Sha1,
}

/// The vendor-signed request for the portal: base64 of the plist's XML.
pub fn vendor_sign(
    csr: &[u8],
    vendor_key_pem: &str,
    vendor_chain_pem: &str,
    hash: VendorHash,
) -> anyhow::Result<String> {
    let csr_der = read_csr(csr)?;
    let key = rsa_key(vendor_key_pem)?;
    let chain = pippin_service::pem_to_ders(vendor_chain_pem)
        .map_err(|e| anyhow!("vendor certificate chain: {e}"))?;
    let Some(vendor_cert) = chain.first() else {
        bail!("the vendor certificate chain has no CERTIFICATE");
    };
    let cert = x509_cert::Certificate::from_der(vendor_cert)
        .map_err(|e| anyhow!("vendor certificate: {e}"))?;
    let public = {
        use der::Encode as _;
        use rsa::pkcs8::DecodePublicKey;
        let spki = cert
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .map_err(|e| anyhow!("vendor certificate key: {e}"))?;
        rsa::PublicKey::from_public_key_der(&spki)
            .map_err(|e| anyhow!("the vendor certificate's key is not RSA: {e}"))?
    };
    if &public != key.as_public_key() {
        bail!("the vendor private key does not belong to the first certificate of the chain");
    }
    let mut rng = rng();
    let signature = match hash {
        VendorHash::Sha256 => key.pkcs1v15_sign_with_rng::<sha2::Sha256, _>(&mut rng, &csr_der),
        VendorHash::Sha1 => key.pkcs1v15_sign_with_rng::<sha1::Sha1, _>(&mut rng, &csr_der),
    }
    .map_err(|e| anyhow!("signing: {e}"))?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let chain_pem = chain
        .iter()
        .map(|d| pem("CERTIFICATE", d))
        .collect::<anyhow::Result<String>>()?;
    let mut dict = Dictionary::new();
    dict.insert("PushCertRequestCSR", Value::String(b64.encode(&csr_der)));
    dict.insert("PushCertCertificateChain", Value::String(chain_pem));
    dict.insert("PushCertSignature", Value::String(b64.encode(&signature)));
    let xml = pippin_plist::to_xml_vec(&Value::Dictionary(dict));
    Ok(b64.encode(xml))
}

/// A CSR from PEM or DER.
fn read_csr(bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    let der = if bytes.starts_with(b"-----") {
        let text = std::str::from_utf8(bytes).context("the CSR is not text")?;
        pem_block(text, "CERTIFICATE REQUEST")
            .or_else(|| pem_block(text, "NEW CERTIFICATE REQUEST"))
            .ok_or_else(|| anyhow!("no CERTIFICATE REQUEST in the CSR file"))?
    } else {
        bytes.to_vec()
    };
    <scep::CertificationRequest as scep::Decode<'_>>::decode(&der)
        .map_err(|e| anyhow!("CSR: {e}"))?;
    Ok(der)
}

/// The PEM block labelled `label` in `text`, decoded.
fn pem_block(text: &str, label: &str) -> Option<Vec<u8>> {
    match der::pem::decode_vec(text.trim().as_bytes()) {
        Ok((l, der)) if l == label => Some(der),
        _ => None,
    }
}

/// An RSA private key from PEM (PKCS #1 or PKCS #8).
fn rsa_key(pem_text: &str) -> anyhow::Result<rsa::PrivateKey> {
    use rsa::pkcs1::DecodeRsaPrivateKey;
    use rsa::pkcs8::DecodePrivateKey;
    if let Ok(k) = rsa::PrivateKey::from_pkcs8_pem(pem_text) {
        return Ok(k);
    }
    rsa::PrivateKey::from_pkcs1_pem(pem_text)
        .map_err(|_| anyhow!("the vendor key is not an unencrypted RSA private key (PEM)"))
}

/// One PEM block (RFC 7468).
pub fn pem(label: &str, der: &[u8]) -> anyhow::Result<String> {
    der::pem::encode_string(label, der::pem::LineEnding::LF, der)
        .map_err(|e| anyhow!("PEM encoding: {e}"))
}

/// Writes `data` to a new file (refusing to overwrite unless `force`),
/// owner-only when `secret`.
pub fn write_new(path: &Path, data: &[u8], secret: bool, force: bool) -> anyhow::Result<()> {
    pippin_service::write_file_atomic(path, data, secret, force).map_err(|e| {
        if !force && path.exists() {
            anyhow!("{} exists (use --force to replace it)", path.display())
        } else {
            anyhow!("{e}")
        }
    })
}
