//! The self-generated certificate authority and the certificates it issues.
//!
//! With no configuration a Pippin site runs on its own CA: [`load_or_create_pki`]
//! creates it in the data directory on first start, together with a server
//! certificate for the public host name, and reloads both afterwards. Keys are
//! ECDSA P-256 with SHA-256 signatures, which Apple devices, browsers, curl
//! and OpenSSL accept.
//!
//! Validity: the CA 10 years; server and client certificates 730 days, under
//! the 825 days Apple platforms accept for TLS server certificates. Every
//! certificate starts one hour before `now`, to tolerate clocks that lag.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use der::{Decode, Tag, Tagged};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, DnValue,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, SanType,
    SerialNumber,
};
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use x509_cert::Certificate;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{SubjectAltName, SubjectKeyIdentifier};

use crate::error::{Error, Result};
use crate::tls::{cert_sha256, pem_to_ders, provider};
use crate::token::{Secret, random_bytes};

/// How long a generated CA is valid: 10 years (3650 days).
pub const CA_VALIDITY: Duration = Duration::from_secs(3650 * 86_400);
/// How long an issued server or client certificate is valid: 730 days.
pub const LEAF_VALIDITY: Duration = Duration::from_secs(730 * 86_400);
/// [`load_or_create_pki`] renews the server certificate when less than this
/// remains of it: 30 days.
pub const RENEW_BEFORE: Duration = Duration::from_secs(30 * 86_400);
/// How far before `now` certificates start: 1 hour.
const BACKDATE: Duration = Duration::from_secs(3600);

/// A certificate authority: its certificate and private key.
#[derive(Clone, Debug)]
pub struct CaMaterial {
    /// The CA certificate, PEM.
    pub cert_pem: String,
    /// The CA private key, PKCS#8 PEM.
    pub key_pem: Secret<String>,
    /// The CA certificate, DER.
    pub cert_der: Vec<u8>,
}

/// A certificate issued by a [`CaMaterial`], with its private key.
#[derive(Clone, Debug)]
pub struct IssuedCert {
    /// The certificate, PEM (the leaf only; append the CA for a chain).
    pub cert_pem: String,
    /// The private key, PKCS#8 PEM.
    pub key_pem: Secret<String>,
    /// The certificate, DER.
    pub cert_der: Vec<u8>,
}

impl IssuedCert {
    /// SHA-256 of the certificate's DER: the value to pin it by.
    pub fn sha256(&self) -> [u8; 32] {
        cert_sha256(&self.cert_der)
    }
}

/// Creates a self-signed CA named `common_name` (organisation `Pippin`),
/// valid for [`CA_VALIDITY`] from `now`, allowed to sign end-entity
/// certificates only (path length 0).
pub fn generate_ca(common_name: &str, now: SystemTime) -> Result<CaMaterial> {
    if common_name.trim().is_empty() {
        return Err(Error::InvalidName {
            name: common_name.to_owned(),
            reason: "a CA needs a common name",
        });
    }
    let key = KeyPair::generate().map_err(Error::CertificateGeneration)?;
    let mut params = base_params(now, CA_VALIDITY)?;
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::OrganizationName, "Pippin");
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params
        .self_signed(&key)
        .map_err(Error::CertificateGeneration)?;
    Ok(CaMaterial {
        cert_pem: cert.pem(),
        key_pem: Secret::new(key.serialize_pem()),
        cert_der: cert.der().to_vec(),
    })
}

/// Issues a TLS server certificate (extended key usage `serverAuth`) with a
/// subject alternative name for each of `dns_names` and `ip_addrs`. A DNS
/// name that is an IP literal (`192.0.2.7`, `::1` or `[::1]`) becomes an IP
/// address SAN, since clients match IP addresses only against those. The
/// subject's common name is the first name given.
pub fn issue_server_cert(
    ca: &CaMaterial,
    dns_names: &[String],
    ip_addrs: &[IpAddr],
    now: SystemTime,
) -> Result<IssuedCert> {
    let mut names: Vec<SubjectName> = Vec::new();
    for n in dns_names {
        let name = SubjectName::parse(n)?;
        if !names.contains(&name) {
            names.push(name);
        }
    }
    for ip in ip_addrs {
        let name = SubjectName::Ip(*ip);
        if !names.contains(&name) {
            names.push(name);
        }
    }
    let Some(first) = names.first() else {
        return Err(Error::InvalidName {
            name: String::new(),
            reason: "a server certificate needs at least one name",
        });
    };
    let mut params = base_params(now, LEAF_VALIDITY)?;
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, first.to_string());
    params.subject_alt_names = names
        .iter()
        .map(SubjectName::to_san)
        .collect::<Result<_>>()?;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    issue(ca, params)
}

/// Issues a TLS client certificate (extended key usage `clientAuth`) named
/// `common_name`: the identity one component presents to another.
pub fn issue_client_cert(
    ca: &CaMaterial,
    common_name: &str,
    now: SystemTime,
) -> Result<IssuedCert> {
    if common_name.trim().is_empty() {
        return Err(Error::InvalidName {
            name: common_name.to_owned(),
            reason: "a client certificate needs a common name",
        });
    }
    let mut params = base_params(now, LEAF_VALIDITY)?;
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    issue(ca, params)
}

/// The certificate material of one installation, as kept in its data
/// directory; see [`load_or_create_pki`].
#[derive(Clone, Debug)]
pub struct Pki {
    /// The directory holding the files.
    pub dir: PathBuf,
    /// The site CA.
    pub ca: CaMaterial,
    /// The server certificate for the public host name and the extra names.
    pub server: IssuedCert,
    /// The names the server certificate carries, in order.
    pub server_names: Vec<String>,
    /// Whether this call created the CA (first start).
    pub ca_created: bool,
    /// Whether this call issued the server certificate (first start, a
    /// changed name list, a certificate near its end, or one that no longer
    /// belongs to the CA).
    pub server_issued: bool,
}

impl Pki {
    /// File name of the CA certificate in the data directory.
    pub const CA_CERT: &'static str = "ca.pem";
    /// File name of the CA private key.
    pub const CA_KEY: &'static str = "ca.key";
    /// File name of the server certificate.
    pub const SERVER_CERT: &'static str = "server.pem";
    /// File name of the server private key.
    pub const SERVER_KEY: &'static str = "server.key";

    /// The server certificate followed by the CA certificate: the chain to
    /// serve.
    pub fn server_chain_pem(&self) -> String {
        format!("{}{}", self.server.cert_pem, self.ca.cert_pem)
    }
}

/// Loads the site's CA and server certificate from `data_dir`, creating what
/// is missing.
///
/// - First start: creates `ca.pem` + `ca.key` (a CA named after
///   `public_host`) and `server.pem` + `server.key`.
/// - Later starts: loads them. The server certificate is issued anew (with
///   the same CA) when the requested names (`public_host` then
///   `extra_names`, IP literals as IP SANs, compared as a set) differ from
///   those it carries, when less than [`RENEW_BEFORE`] of it remains, or when
///   it does not verify against the CA for `public_host`.
/// - A CA certificate without its key, or the reverse, or a key that does
///   not match, is an error: replacing a CA silently would break every
///   device that trusts it.
///
/// Files are replaced atomically (write to a temporary file, then rename).
/// On Unix the keys are created with mode 0600 and the certificates 0644.
/// The keys are stored **unencrypted**; encrypting them at rest is the job of
/// the caller's secret store (see the crate's limitations).
pub fn load_or_create_pki(
    data_dir: &Path,
    public_host: &str,
    extra_names: &[String],
    now: SystemTime,
) -> Result<Pki> {
    let mut wanted: Vec<SubjectName> = Vec::new();
    for n in std::iter::once(public_host).chain(extra_names.iter().map(String::as_str)) {
        let name = SubjectName::parse(n)?;
        if !wanted.contains(&name) {
            wanted.push(name);
        }
    }
    std::fs::create_dir_all(data_dir).map_err(|e| Error::io("create directory", data_dir, e))?;

    let ca_cert_path = data_dir.join(Pki::CA_CERT);
    let ca_key_path = data_dir.join(Pki::CA_KEY);
    let (ca, ca_created) = match (ca_cert_path.exists(), ca_key_path.exists()) {
        (true, true) => (load_ca(&ca_cert_path, &ca_key_path)?, false),
        (false, false) => {
            let ca = generate_ca(&format!("Pippin CA ({})", wanted[0]), now)?;
            write_private(&ca_key_path, ca.key_pem.expose())?;
            write_public(&ca_cert_path, &ca.cert_pem)?;
            (ca, true)
        }
        (true, false) => {
            return Err(Error::BadPki {
                path: ca_key_path,
                reason: "missing, but the CA certificate is present; restore it or remove both"
                    .to_owned(),
            });
        }
        (false, true) => {
            return Err(Error::BadPki {
                path: ca_cert_path,
                reason: "missing, but the CA key is present; restore it or remove both".to_owned(),
            });
        }
    };

    let server_cert_path = data_dir.join(Pki::SERVER_CERT);
    let server_key_path = data_dir.join(Pki::SERVER_KEY);
    let existing = if server_cert_path.exists() && server_key_path.exists() {
        load_leaf(&server_cert_path, &server_key_path)?
            .filter(|leaf| server_is_current(leaf, &ca, &wanted, now))
    } else {
        None
    };
    let (server, server_issued) = match existing {
        Some(server) => (server, false),
        None => {
            let names: Vec<String> = wanted.iter().map(ToString::to_string).collect();
            let server = issue_server_cert(&ca, &names, &[], now)?;
            write_private(&server_key_path, server.key_pem.expose())?;
            write_public(&server_cert_path, &server.cert_pem)?;
            (server, true)
        }
    };
    Ok(Pki {
        dir: data_dir.to_path_buf(),
        ca,
        server,
        server_names: wanted.iter().map(ToString::to_string).collect(),
        ca_created,
        server_issued,
    })
}

/// A name a server certificate is for.
#[derive(Clone, Debug, Eq, PartialEq)]
enum SubjectName {
    Dns(String),
    Ip(IpAddr),
}

impl SubjectName {
    fn parse(s: &str) -> Result<Self> {
        let s = s.trim();
        let unbracketed = s
            .strip_prefix('[')
            .and_then(|r| r.strip_suffix(']'))
            .unwrap_or(s);
        if let Ok(ip) = unbracketed.parse::<IpAddr>() {
            return Ok(Self::Ip(ip));
        }
        let name = s.strip_suffix('.').unwrap_or(s);
        let label_ok = |(i, label): (usize, &str)| {
            (i == 0 && label == "*")
                || (!label.is_empty()
                    && label.len() <= 63
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        };
        let reason = if name.is_empty() {
            Some("empty host name")
        } else if name.len() > 253 {
            Some("a host name is at most 253 characters")
        } else if !name.split('.').enumerate().all(label_ok) || name == "*" {
            Some(
                "a host name is dot-separated labels of letters, digits, '-' and '_', \
                 the first of which may be '*'",
            )
        } else {
            None
        };
        match reason {
            Some(reason) => Err(Error::InvalidName {
                name: s.to_owned(),
                reason,
            }),
            None => Ok(Self::Dns(name.to_ascii_lowercase())),
        }
    }

    fn to_san(&self) -> Result<SanType> {
        Ok(match self {
            Self::Ip(ip) => SanType::IpAddress(*ip),
            Self::Dns(name) => SanType::DnsName(
                name.clone()
                    .try_into()
                    .map_err(Error::CertificateGeneration)?,
            ),
        })
    }
}

impl std::fmt::Display for SubjectName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Dns(name) => f.write_str(name),
            Self::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

fn base_params(now: SystemTime, validity: Duration) -> Result<CertificateParams> {
    let mut params = CertificateParams::default();
    params.not_before = now.checked_sub(BACKDATE).unwrap_or(now).into();
    params.not_after = (now + validity).into();
    let mut serial = random_bytes::<16>()?;
    // Positive, and 16 bytes long in DER without a leading zero.
    serial[0] = (serial[0] & 0x7f) | 0x40;
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    Ok(params)
}

/// Signs `params` (a leaf) with a fresh key by `ca`.
fn issue(ca: &CaMaterial, mut params: CertificateParams) -> Result<IssuedCert> {
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.use_authority_key_identifier_extension = true;
    let issuer = issuer(ca)?;
    let key = KeyPair::generate().map_err(Error::CertificateGeneration)?;
    let cert = params
        .signed_by(&key, &issuer)
        .map_err(Error::CertificateGeneration)?;
    Ok(IssuedCert {
        cert_pem: cert.pem(),
        key_pem: Secret::new(key.serialize_pem()),
        cert_der: cert.der().to_vec(),
    })
}

/// An rcgen issuer reproducing `ca`'s subject name byte for byte (clients
/// chain a certificate to its issuer by comparing the encoded names) and its
/// subject key identifier (for the authority key identifier).
fn issuer(ca: &CaMaterial) -> Result<Issuer<'static, KeyPair>> {
    let bad = |reason: String| Error::BadPki {
        path: PathBuf::from(Pki::CA_CERT),
        reason,
    };
    let cert = Certificate::from_der(&ca.cert_der).map_err(|e| bad(e.to_string()))?;
    let tbs = cert.tbs_certificate();
    let mut dn = DistinguishedName::new();
    for rdn in tbs.subject().iter_rdn() {
        if rdn.len() != 1 {
            return Err(bad(
                "multi-valued RDNs in the CA name are not supported".to_owned()
            ));
        }
        for atv in rdn.iter() {
            let arcs: Vec<u64> = atv.oid.arcs().map(u64::from).collect();
            let value = atv.value.value();
            let text = || {
                std::str::from_utf8(value)
                    .map(str::to_owned)
                    .map_err(|_| bad("a CA name attribute is not valid text".to_owned()))
            };
            let value = match atv.value.tag() {
                Tag::Utf8String => DnValue::Utf8String(text()?),
                Tag::PrintableString => DnValue::PrintableString(
                    text()?.try_into().map_err(Error::CertificateGeneration)?,
                ),
                Tag::Ia5String => {
                    DnValue::Ia5String(text()?.try_into().map_err(Error::CertificateGeneration)?)
                }
                other => {
                    return Err(bad(format!(
                        "CA name attribute encoded as {other}, which is not supported"
                    )));
                }
            };
            dn.push(DnType::from_oid(&arcs), value);
        }
    }
    let ski = tbs
        .get_extension::<SubjectKeyIdentifier>()
        .map_err(|e| bad(e.to_string()))?;
    let mut params = CertificateParams::default();
    params.distinguished_name = dn;
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    if let Some((_, ski)) = ski {
        params.key_identifier_method = KeyIdMethod::PreSpecified(ski.0.as_bytes().to_vec());
    }
    let key = KeyPair::from_pem(ca.key_pem.expose()).map_err(Error::CertificateGeneration)?;
    Ok(Issuer::new(params, key))
}

fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::io("read", path, e))
}

fn load_ca(cert_path: &Path, key_path: &Path) -> Result<CaMaterial> {
    let (cert_pem, cert_der) = load_cert(cert_path)?;
    let key_pem = Secret::new(read_text(key_path)?);
    if !keys_match(&cert_der, key_pem.expose()) {
        return Err(Error::BadPki {
            path: key_path.to_path_buf(),
            reason: format!("this key does not belong to {}", cert_path.display()),
        });
    }
    Ok(CaMaterial {
        cert_pem,
        key_pem,
        cert_der,
    })
}

/// Loads a leaf certificate and key; `None` when they are unusable (so the
/// caller issues new ones) rather than an error.
fn load_leaf(cert_path: &Path, key_path: &Path) -> Result<Option<IssuedCert>> {
    let Ok((cert_pem, cert_der)) = load_cert(cert_path) else {
        return Ok(None);
    };
    let key_pem = Secret::new(read_text(key_path)?);
    if !keys_match(&cert_der, key_pem.expose()) {
        return Ok(None);
    }
    Ok(Some(IssuedCert {
        cert_pem,
        key_pem,
        cert_der,
    }))
}

fn load_cert(path: &Path) -> Result<(String, Vec<u8>)> {
    let pem = read_text(path)?;
    let der = pem_to_ders(&pem)?
        .into_iter()
        .next()
        .ok_or_else(|| Error::BadPki {
            path: path.to_path_buf(),
            reason: "no certificate in the file".to_owned(),
        })?;
    Ok((pem, der))
}

fn keys_match(cert_der: &[u8], key_pem: &str) -> bool {
    use rustls::pki_types::PrivateKeyDer;
    use rustls::pki_types::pem::PemObject;
    let Ok(key) = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()) else {
        return false;
    };
    rustls::sign::CertifiedKey::from_der(
        vec![CertificateDer::from(cert_der.to_vec())],
        key,
        &provider(),
    )
    .is_ok()
}

/// Whether `leaf` can go on serving: it verifies against the CA for the
/// first name at `now`, it carries exactly the wanted names, and it has more
/// than [`RENEW_BEFORE`] left.
fn server_is_current(
    leaf: &IssuedCert,
    ca: &CaMaterial,
    wanted: &[SubjectName],
    now: SystemTime,
) -> bool {
    let Ok(cert) = Certificate::from_der(&leaf.cert_der) else {
        return false;
    };
    let tbs = cert.tbs_certificate();
    let not_after = tbs.validity().not_after.to_system_time();
    if not_after < now + RENEW_BEFORE {
        return false;
    }
    let Ok(Some((_, san))) = tbs.get_extension::<SubjectAltName>() else {
        return false;
    };
    let mut have: Vec<SubjectName> = Vec::new();
    for name in san.0 {
        let name = match name {
            GeneralName::DnsName(n) => SubjectName::Dns(n.to_string().to_ascii_lowercase()),
            GeneralName::IpAddress(octets) => match octets.as_bytes().len() {
                4 => {
                    let mut a = [0u8; 4];
                    a.copy_from_slice(octets.as_bytes());
                    SubjectName::Ip(IpAddr::from(a))
                }
                16 => {
                    let mut a = [0u8; 16];
                    a.copy_from_slice(octets.as_bytes());
                    SubjectName::Ip(IpAddr::from(a))
                }
                _ => return false,
            },
            _ => continue,
        };
        have.push(name);
    }
    if have.len() != wanted.len() || !wanted.iter().all(|w| have.contains(w)) {
        return false;
    }
    verifies_against(leaf, ca, &wanted[0], now)
}

fn verifies_against(
    leaf: &IssuedCert,
    ca: &CaMaterial,
    name: &SubjectName,
    now: SystemTime,
) -> bool {
    let mut roots = rustls::RootCertStore::empty();
    if roots
        .add(CertificateDer::from(ca.cert_der.clone()))
        .is_err()
    {
        return false;
    }
    let Ok(verifier) =
        rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
    else {
        return false;
    };
    let server_name = match name {
        SubjectName::Ip(ip) => ServerName::IpAddress((*ip).into()),
        SubjectName::Dns(n) => match ServerName::try_from(n.clone()) {
            Ok(n) => n,
            Err(_) => return false,
        },
    };
    let Ok(since_epoch) = now.duration_since(SystemTime::UNIX_EPOCH) else {
        return false;
    };
    verifier
        .verify_server_cert(
            &CertificateDer::from(leaf.cert_der.as_slice()),
            &[],
            &server_name,
            &[],
            UnixTime::since_unix_epoch(since_epoch),
        )
        .is_ok()
}

/// Writes a private key: created with mode 0600 on Unix, then renamed into
/// place.
fn write_private(path: &Path, contents: &str) -> Result<()> {
    write_file_atomic(path, contents.as_bytes(), true, true)
}

/// Writes a certificate: mode 0644 on Unix.
fn write_public(path: &Path, contents: &str) -> Result<()> {
    write_file_atomic(path, contents.as_bytes(), false, true)
}

/// Writes `path` atomically: a temporary file in the same directory
/// (created owner-only), synced, given mode 0600 when `private` (else
/// 0644) on Unix, then moved into place. With `replace` false an existing
/// file is left alone and the call fails.
pub fn write_file_atomic(path: &Path, contents: &[u8], private: bool, replace: bool) -> Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    // The temporary file is created readable by its owner only (0600 on Unix).
    let mut tmp =
        tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::io("create a file in", dir, e))?;
    tmp.write_all(contents)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| Error::io("write", tmp.path().to_path_buf(), e))?;
    #[cfg(unix)]
    if !private {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644))
            .map_err(|e| Error::io("set permissions of", tmp.path().to_path_buf(), e))?;
    }
    #[cfg(not(unix))]
    let _ = private;
    if replace {
        tmp.persist(path)
            .map_err(|e| Error::io("write", path, e.error))?;
    } else {
        tmp.persist_noclobber(path)
            .map_err(|e| Error::io("create", path, e.error))?;
    }
    Ok(())
}

/// The DER of a certificate's subject name, for tests that check issuance.
#[cfg(test)]
fn subject_der(cert_der: &[u8]) -> Vec<u8> {
    use der::Encode;
    Certificate::from_der(cert_der)
        .and_then(|c| c.tbs_certificate().subject().to_der())
        .unwrap()
}

#[cfg(test)]
mod tests;
