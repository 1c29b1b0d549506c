//! The catalog signing identity: the certificate and key that sign the
//! cabinet ConfigMgr subscribes to.
//!
//! An admin may give a certificate issued by the organisation's PKI
//! (`[sup.signing]`). Otherwise a self-signed code-signing certificate is
//! made on first start (RSA 3072, SHA-256, valid for three years); the
//! admin approves it in ConfigMgr when subscribing to the catalog, and can
//! download it from `/catalogs/<name>.cer`. The generated private key is
//! kept sealed with the data directory's master key, never in clear on
//! disk.

use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use pippin_service::{SecretBox, write_file_atomic};
use rsa::pkcs8::{EncodePrivateKey as _, LineEnding};
use wsus_publish::authenticode::Signer;

/// File name of the generated certificate in the data directory.
pub const CERT_FILE: &str = "signing.pem";
/// File name of the generated, sealed private key.
pub const KEY_FILE: &str = "signing.key.sealed";
/// File name of the master key that seals it.
pub const MASTER_KEY_FILE: &str = "master.key";
/// Sealing context of the key.
const CONTEXT: &str = "sup-service signing key";
/// Validity of a generated certificate.
const VALIDITY: Duration = Duration::from_secs(3 * 365 * 86_400);
/// Generate a new certificate when less than this remains.
const RENEW_BEFORE: Duration = Duration::from_secs(30 * 86_400);

/// The signer and what to show of it.
pub struct SigningIdentity {
    /// Signs cabinets.
    pub signer: Signer,
    /// The signing certificate, DER.
    pub cert_der: Vec<u8>,
    /// Its subject, for logs and reports.
    pub subject: String,
    /// Whether this start made it.
    pub created: bool,
}

impl std::fmt::Debug for SigningIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningIdentity")
            .field("subject", &self.subject)
            .field("created", &self.created)
            .finish_non_exhaustive()
    }
}

/// The identity from `files` (certificate chain PEM, key PEM), or the one
/// in `data_dir`, made if missing or near its end.
pub fn load_or_create(
    files: Option<&(std::path::PathBuf, std::path::PathBuf)>,
    data_dir: &Path,
    common_name: &str,
    now: SystemTime,
) -> anyhow::Result<SigningIdentity> {
    if let Some((cert, key)) = files {
        let cert_pem = std::fs::read_to_string(cert)
            .with_context(|| format!("reading the signing certificate {}", cert.display()))?;
        let key_pem = std::fs::read_to_string(key)
            .with_context(|| format!("reading the signing key {}", key.display()))?;
        return identity(&cert_pem, &key_pem, false);
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let (sealer, _) = SecretBox::load_or_create(&data_dir.join(MASTER_KEY_FILE))?;
    let cert_path = data_dir.join(CERT_FILE);
    let key_path = data_dir.join(KEY_FILE);
    if cert_path.exists() && key_path.exists() {
        let cert_pem = std::fs::read_to_string(&cert_path)?;
        let sealed = std::fs::read_to_string(&key_path)?;
        let key_pem = sealer
            .open(CONTEXT, sealed.trim())
            .with_context(|| format!("opening {} with {}", key_path.display(), MASTER_KEY_FILE))?;
        let key_pem = String::from_utf8(key_pem.expose().clone())
            .context("the sealed signing key is not PEM")?;
        let id = identity(&cert_pem, &key_pem, false)?;
        if !near_end(&id.cert_der, now) {
            return Ok(id);
        }
        tracing::warn!(subject = %id.subject, "the signing certificate is near its end: making a new one; approve it in ConfigMgr");
    }
    let (cert_pem, key_pem) = generate(common_name, now)?;
    let sealed = sealer.seal(CONTEXT, key_pem.as_bytes())?;
    write_file_atomic(&key_path, sealed.as_bytes(), true, true)?;
    write_file_atomic(&cert_path, cert_pem.as_bytes(), false, true)?;
    let mut id = identity(&cert_pem, &key_pem, true)?;
    id.created = true;
    Ok(id)
}

fn identity(cert_pem: &str, key_pem: &str, created: bool) -> anyhow::Result<SigningIdentity> {
    let signer = Signer::from_pem(cert_pem.as_bytes(), key_pem.as_bytes())
        .context("loading the signing identity")?;
    let ders = pippin_service::pem_to_ders(cert_pem)?;
    let cert_der = ders
        .into_iter()
        .next()
        .context("no certificate in the signing PEM")?;
    let subject = subject_of(&cert_der);
    Ok(SigningIdentity {
        signer,
        cert_der,
        subject,
        created,
    })
}

/// The subject of a DER certificate, as text.
pub fn subject_of(der: &[u8]) -> String {
    use der::Decode as _;
    x509_cert::Certificate::from_der(der)
        .map(|c| c.tbs_certificate().subject().to_string())
        .unwrap_or_else(|_| "(unreadable certificate)".to_owned())
}

fn near_end(der: &[u8], now: SystemTime) -> bool {
    use der::Decode as _;
    let Ok(cert) = x509_cert::Certificate::from_der(der) else {
        return true;
    };
    let end = cert.tbs_certificate().validity().not_after.to_system_time();
    end.duration_since(now)
        .map_or(true, |left| left < RENEW_BEFORE)
}

/// A self-signed code-signing certificate and its key, PEM.
fn generate(common_name: &str, now: SystemTime) -> anyhow::Result<(String, String)> {
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    let key = rsa::PrivateKey::new(&mut rng, 3072).context("generating the signing key")?;
    let key_pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .context("encoding the signing key")?;
    let key_pair = rcgen::KeyPair::from_pem(&key_pem).context("loading the signing key")?;
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, common_name);
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "Pippin");
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::CodeSigning];
    let start = time::OffsetDateTime::from(now) - time::Duration::hours(1);
    params.not_before = start;
    params.not_after = start + VALIDITY;
    let mut serial = [0u8; 16];
    getrandom::fill(&mut serial).context("random serial number")?;
    serial[0] &= 0x7f;
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
    let cert = params
        .self_signed(&key_pair)
        .context("signing the certificate")?;
    Ok((cert.pem(), key_pem.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_once_sealed_at_rest_and_signing() {
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let first =
            load_or_create(None, dir.path(), "Pippin software updates (test)", now).unwrap();
        assert!(first.created);
        assert!(
            first.subject.contains("CN=Pippin software updates (test)"),
            "{}",
            first.subject
        );
        let sealed = std::fs::read_to_string(dir.path().join(KEY_FILE)).unwrap();
        assert!(!sealed.contains("PRIVATE KEY"), "the key is sealed at rest");
        assert!(SecretBox::is_sealed(sealed.trim()));

        let again = load_or_create(None, dir.path(), "ignored", now).unwrap();
        assert!(!again.created);
        assert_eq!(again.cert_der, first.cert_der);

        // A certificate near its end is replaced.
        let later = now + VALIDITY - Duration::from_secs(86_400);
        let renewed =
            load_or_create(None, dir.path(), "Pippin software updates (test)", later).unwrap();
        assert!(renewed.created);
        assert_ne!(renewed.cert_der, first.cert_der);

        // It signs cabinets that verify.
        let mut builder = wsus_publish::cab::CabBuilder::new();
        builder.authenticode_reserve();
        let t = time::macros::datetime!(2024-06-01 12:00);
        builder.add_file("a.xml", &b"<a/>"[..], t).unwrap();
        let signed =
            wsus_publish::authenticode::sign_cab(&builder.build().unwrap(), &renewed.signer)
                .unwrap();
        wsus_publish::authenticode::verify_cab(&signed).unwrap();

        // A damaged sealed key is an error, not a new identity.
        std::fs::write(dir.path().join(KEY_FILE), "pv1.AAAA").unwrap();
        assert!(load_or_create(None, dir.path(), "x", later).is_err());
    }
}
