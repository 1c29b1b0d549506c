//! Enrollment profiles: the `.mobileconfig` a device installs to enroll.
//!
//! The profile is a `Configuration` payload (`mdm/profiles/TopLevel.yaml`)
//! holding:
//!
//! * a SCEP payload (`com.apple.security.scep`) through which the device
//!   gets its identity certificate,
//! * the MDM payload (`com.apple.mdm`) naming the server, check-in URL, push
//!   topic and that identity,
//! * optionally, root-certificate payloads (`com.apple.security.root`) so the
//!   device trusts a private CA serving the MDM URLs.
//!
//! [`EnrollmentProfile::to_xml`] writes it; [`EnrollmentProfile::sign`] wraps it
//! in CMS SignedData, which the device shows as "Verified" when the signer
//! chains to a trusted root. [`decode_profile`] reads one back (signed or not).
//!
//! No randomness is used: payload UUIDs are derived from a caller-supplied
//! seed, so the same inputs give the same profile.

use pippin_plist::{Dictionary, Value};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::fields::Fields;
use crate::signature::{self, SigningIdentity};

/// All access rights (`AccessRights` = 8191): inspect and change profiles,
/// lock, erase, device information, network information, provisioning
/// profiles, apps, restrictions, security, settings and app management.
pub const ACCESS_RIGHTS_ALL: u32 = 8191;

/// `ServerCapabilities` values Apple defines.
pub mod capability {
    /// The server handles user channels (`UserID` check-ins and commands).
    pub const PER_USER_CONNECTIONS: &str = "com.apple.mdm.per-user-connections";
    /// The server escrows bootstrap tokens (`SetBootstrapToken`/`GetBootstrapToken`).
    pub const BOOTSTRAP_TOKEN: &str = "com.apple.mdm.bootstraptoken";
    /// The server answers `GetToken` check-ins.
    pub const TOKEN: &str = "com.apple.mdm.token";
}

/// The `com.apple.mdm` payload (`mdm/profiles/com.apple.mdm.yaml`).
#[derive(Clone, Debug, PartialEq)]
pub struct MdmPayload {
    /// `ServerURL`: where the device fetches commands.
    pub server_url: String,
    /// `CheckInURL`: where check-ins go (defaults to the server URL).
    pub check_in_url: Option<String>,
    /// `Topic`: the push certificate's topic (`com.apple.mgmt.External.<uuid>`).
    pub topic: String,
    /// `AccessRights`.
    pub access_rights: u32,
    /// `SignMessage`: devices add an `Mdm-Signature` header to every request.
    pub sign_message: bool,
    /// `CheckOutWhenRemoved`: send `CheckOut` when the profile is removed.
    pub check_out_when_removed: bool,
    /// `ServerCapabilities`.
    pub server_capabilities: Vec<String>,
    /// `UseDevelopmentAPNS`: the topic is for the sandbox push environment.
    pub use_development_apns: bool,
}

impl MdmPayload {
    /// The usual payload: all access rights, signed messages, check-out on
    /// removal, per-user connections and bootstrap-token escrow.
    pub fn new(server_url: impl Into<String>, topic: impl Into<String>) -> Self {
        Self {
            server_url: server_url.into(),
            check_in_url: None,
            topic: topic.into(),
            access_rights: ACCESS_RIGHTS_ALL,
            sign_message: true,
            check_out_when_removed: true,
            server_capabilities: vec![
                capability::PER_USER_CONNECTIONS.to_owned(),
                capability::BOOTSTRAP_TOKEN.to_owned(),
            ],
            use_development_apns: false,
        }
    }
}

/// The `com.apple.security.scep` payload (`mdm/profiles/com.apple.security.scep.yaml`).
#[derive(Clone, Debug, PartialEq)]
pub struct ScepPayload {
    /// `URL`: the SCEP server.
    pub url: String,
    /// `Name`: the CA-IDENT sent to the server.
    pub name: Option<String>,
    /// `Challenge`: the challenge password.
    pub challenge: Option<String>,
    /// `Subject`: an X.500 name as OID/value pairs, e.g. `[("CN", "device")]`,
    /// one relative distinguished name each.
    pub subject: Vec<(String, String)>,
    /// `Keysize`: RSA key size in bits (1024, 2048, 4096).
    pub key_size: u32,
    /// `Key Usage`: 1 signing, 4 encryption, 5 both.
    pub key_usage: u32,
    /// `CAFingerprint`: the CA certificate's hash, to pin it.
    pub ca_fingerprint: Option<Vec<u8>>,
    /// `Retries`.
    pub retries: Option<u32>,
    /// `RetryDelay`, seconds.
    pub retry_delay: Option<u32>,
}

impl ScepPayload {
    /// A 2048-bit RSA signing-and-encryption identity with the given subject CN.
    pub fn new(url: impl Into<String>, challenge: Option<String>, common_name: &str) -> Self {
        Self {
            url: url.into(),
            name: None,
            challenge,
            subject: vec![("CN".to_owned(), common_name.to_owned())],
            key_size: 2048,
            key_usage: 5,
            ca_fingerprint: None,
            retries: Some(3),
            retry_delay: Some(10),
        }
    }
}

/// A root certificate to install (`com.apple.security.root`).
#[derive(Clone, Debug, PartialEq)]
pub struct RootCertificate {
    /// DER bytes.
    pub der: Vec<u8>,
    /// `PayloadCertificateFileName`.
    pub file_name: String,
    /// `PayloadDisplayName`.
    pub display_name: String,
}

/// An enrollment profile.
#[derive(Clone, Debug, PartialEq)]
pub struct EnrollmentProfile {
    /// `PayloadIdentifier` of the profile (reverse-DNS). Sub-payloads get
    /// `<identifier>.mdm`, `.scep`, `.root.<n>`.
    pub identifier: String,
    /// `PayloadDisplayName`.
    pub display_name: String,
    /// `PayloadOrganization`.
    pub organization: Option<String>,
    /// `PayloadDescription`.
    pub description: Option<String>,
    /// The MDM payload.
    pub mdm: MdmPayload,
    /// The SCEP payload that provides the identity; when absent the identity
    /// must come another way (`IdentityCertificateUUID` then names nothing).
    pub scep: Option<ScepPayload>,
    /// Root certificates to install first.
    pub roots: Vec<RootCertificate>,
    /// Seed for the payload UUIDs (any bytes; a site-specific secret-free value
    /// such as the server URL plus a generation counter works).
    pub uuid_seed: Vec<u8>,
}

impl EnrollmentProfile {
    /// A profile with the default identifier and names.
    pub fn new(mdm: MdmPayload, scep: Option<ScepPayload>) -> Self {
        let seed = format!("{}|{}", mdm.server_url, mdm.topic).into_bytes();
        Self {
            identifier: "com.github.pippin.enroll".to_owned(),
            display_name: "Device Management".to_owned(),
            organization: None,
            description: Some(
                "Enrolls this device in your organisation's device management.".to_owned(),
            ),
            mdm,
            scep,
            roots: Vec::new(),
            uuid_seed: seed,
        }
    }

    /// The UUID of payload `label`, derived from the seed.
    pub fn payload_uuid(&self, label: &str) -> String {
        derive_uuid(&self.uuid_seed, label)
    }

    /// The profile as a plist dictionary.
    pub fn to_dictionary(&self) -> Dictionary {
        let mut content = Vec::new();
        for (i, root) in self.roots.iter().enumerate() {
            let label = format!("root.{i}");
            let mut p = self.payload_header("com.apple.security.root", &label, &root.display_name);
            p.insert("PayloadCertificateFileName", root.file_name.as_str());
            p.insert("PayloadContent", Value::Data(root.der.clone()));
            content.push(Value::Dictionary(p));
        }
        let scep_uuid = self.payload_uuid("scep");
        if let Some(s) = &self.scep {
            let mut inner = Dictionary::new();
            inner.insert("URL", s.url.as_str());
            if let Some(n) = &s.name {
                inner.insert("Name", n.as_str());
            }
            if let Some(c) = &s.challenge {
                inner.insert("Challenge", c.as_str());
            }
            let subject: Vec<Value> = s
                .subject
                .iter()
                .map(|(k, v)| {
                    Value::Array(vec![Value::Array(vec![
                        Value::from(k.as_str()),
                        Value::from(v.as_str()),
                    ])])
                })
                .collect();
            inner.insert("Subject", Value::Array(subject));
            inner.insert("Keysize", s.key_size);
            inner.insert("Key Type", "RSA");
            inner.insert("Key Usage", s.key_usage);
            if let Some(f) = &s.ca_fingerprint {
                inner.insert("CAFingerprint", Value::Data(f.clone()));
            }
            if let Some(r) = s.retries {
                inner.insert("Retries", r);
            }
            if let Some(r) = s.retry_delay {
                inner.insert("RetryDelay", r);
            }
            let mut p = self.payload_header("com.apple.security.scep", "scep", "Device Identity");
            p.insert("PayloadContent", inner);
            content.push(Value::Dictionary(p));
        }
        let m = &self.mdm;
        let mut p = self.payload_header("com.apple.mdm", "mdm", "Device Management");
        p.insert("ServerURL", m.server_url.as_str());
        if let Some(c) = &m.check_in_url {
            p.insert("CheckInURL", c.as_str());
        }
        p.insert("Topic", m.topic.as_str());
        p.insert("IdentityCertificateUUID", scep_uuid.as_str());
        p.insert("AccessRights", m.access_rights);
        p.insert("SignMessage", m.sign_message);
        p.insert("CheckOutWhenRemoved", m.check_out_when_removed);
        if m.use_development_apns {
            p.insert("UseDevelopmentAPNS", true);
        }
        p.insert(
            "ServerCapabilities",
            Value::Array(
                m.server_capabilities
                    .iter()
                    .map(|c| Value::from(c.as_str()))
                    .collect(),
            ),
        );
        content.push(Value::Dictionary(p));

        let mut top = Dictionary::new();
        top.insert("PayloadType", "Configuration");
        top.insert("PayloadVersion", 1i64);
        top.insert("PayloadIdentifier", self.identifier.as_str());
        top.insert("PayloadUUID", self.payload_uuid("profile").as_str());
        top.insert("PayloadDisplayName", self.display_name.as_str());
        if let Some(o) = &self.organization {
            top.insert("PayloadOrganization", o.as_str());
        }
        if let Some(d) = &self.description {
            top.insert("PayloadDescription", d.as_str());
        }
        top.insert("PayloadScope", "System");
        top.insert("PayloadContent", Value::Array(content));
        top
    }

    fn payload_header(&self, payload_type: &str, label: &str, display: &str) -> Dictionary {
        let mut p = Dictionary::new();
        p.insert("PayloadType", payload_type);
        p.insert("PayloadVersion", 1i64);
        p.insert("PayloadIdentifier", format!("{}.{label}", self.identifier));
        p.insert("PayloadUUID", self.payload_uuid(label));
        p.insert("PayloadDisplayName", display);
        p
    }

    /// The unsigned profile as an XML plist.
    pub fn to_xml(&self) -> Vec<u8> {
        pippin_plist::to_xml_vec(&Value::Dictionary(self.to_dictionary()))
    }

    /// The profile signed as CMS SignedData (DER, content attached), ready to
    /// serve as `application/x-apple-aspen-config`.
    pub fn sign(&self, identity: &SigningIdentity) -> Result<Vec<u8>> {
        Ok(identity.sign_attached(&self.to_xml())?)
    }
}

/// A profile read back by [`decode_profile`].
#[derive(Clone, Debug, PartialEq)]
pub struct DecodedProfile {
    /// The top-level dictionary.
    pub dictionary: Dictionary,
    /// `PayloadIdentifier`.
    pub identifier: String,
    /// `PayloadUUID`.
    pub uuid: String,
    /// `PayloadType` of each payload in `PayloadContent`, in order.
    pub payload_types: Vec<String>,
    /// The `com.apple.mdm` payload, when there is one.
    pub mdm: Option<Dictionary>,
    /// SHA-256 of the signer certificate when the profile was signed.
    pub signer_sha256: Option<[u8; 32]>,
}

/// Reads a configuration profile: a plain plist, or CMS SignedData (DER, or
/// PEM-less base64 is not accepted) whose signature is verified and whose
/// content is the plist.
pub fn decode_profile(bytes: &[u8]) -> Result<DecodedProfile> {
    let (plist_bytes, signer) = if bytes.first() == Some(&0x30) {
        let (content, signer) = signature::verify_attached(bytes)?;
        (content, Some(signer.sha256_fingerprint()))
    } else {
        (bytes.to_vec(), None)
    };
    let dict = pippin_plist::from_bytes(&plist_bytes)?
        .into_dictionary()
        .map_err(|v| Error::NotADictionary {
            found: v.type_name(),
        })?;
    let mut f = Fields::new(dict.clone());
    let payload_type = f.string("PayloadType")?;
    if payload_type != "Configuration" {
        return Err(Error::invalid(
            "PayloadType",
            format!("{payload_type:?} is not Configuration"),
        ));
    }
    let identifier = f.string("PayloadIdentifier")?;
    let uuid = f.string("PayloadUUID")?;
    let mut payload_types = Vec::new();
    let mut mdm = None;
    let content = f.opt_dicts("PayloadContent", |mut p| {
        let t = p.string("PayloadType")?;
        Ok((t, p.rest()))
    })?;
    for (t, rest) in content.unwrap_or_default() {
        if t == "com.apple.mdm" && mdm.is_none() {
            let mut d = rest;
            d.insert("PayloadType", t.as_str());
            mdm = Some(d);
        }
        payload_types.push(t);
    }
    Ok(DecodedProfile {
        dictionary: dict,
        identifier,
        uuid,
        payload_types,
        mdm,
        signer_sha256: signer,
    })
}

/// A version-4-shaped UUID from SHA-256 of `seed` and `label`, upper-case as
/// Apple writes them.
fn derive_uuid(seed: &[u8], label: &str) -> String {
    let mut h = Sha256::new();
    h.update((seed.len() as u64).to_be_bytes());
    h.update(seed);
    h.update(label.as_bytes());
    let d = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    uuid::Uuid::from_bytes(b)
        .hyphenated()
        .to_string()
        .to_uppercase()
}
