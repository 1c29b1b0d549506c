//! Reading an enrollment profile as a device does: what to ask the SCEP
//! server for, where to check in, and what the profile looks like once
//! installed (for `ProfileList`).

use anyhow::{Context as _, anyhow, bail};
use apple_mdm_protocol::profile::{DecodedProfile, decode_profile};
use pippin_plist::{Dictionary, Value};
use serde::{Deserialize, Serialize};

/// The SCEP payload type.
pub(crate) const SCEP_PAYLOAD: &str = "com.apple.security.scep";

/// What the SCEP payload asks for.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ScepSettings {
    /// `URL`.
    pub(crate) url: String,
    /// `Challenge`.
    pub(crate) challenge: Option<String>,
    /// `Subject` as an RFC 4514 string (`CN=...,O=...`); empty when the
    /// payload has none.
    pub(crate) subject: String,
    /// `Keysize`, bits.
    pub(crate) key_size: usize,
}

/// What the MDM payload says.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize)]
pub(crate) struct MdmSettings {
    /// `ServerURL`.
    pub(crate) server_url: String,
    /// `CheckInURL`, or `ServerURL` when absent.
    pub(crate) check_in_url: String,
    /// `Topic`.
    pub(crate) topic: String,
    /// `SignMessage`.
    pub(crate) sign_message: bool,
}

/// One payload of an installed profile, as `ProfileList` lists it.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize)]
pub(crate) struct PayloadSummary {
    pub(crate) payload_type: String,
    pub(crate) identifier: String,
    pub(crate) uuid: Option<String>,
    pub(crate) display_name: Option<String>,
}

/// An installed configuration profile.
#[derive(Clone, Debug, Deserialize, PartialEq, Serialize)]
pub(crate) struct InstalledProfile {
    pub(crate) identifier: String,
    pub(crate) uuid: String,
    pub(crate) version: Option<i64>,
    pub(crate) display_name: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) organization: Option<String>,
    pub(crate) removal_disallowed: Option<bool>,
    pub(crate) payloads: Vec<PayloadSummary>,
    /// Installed through MDM (`InstallProfile`) rather than by the user.
    pub(crate) managed: bool,
}

/// An enrollment profile, read.
#[derive(Clone, Debug)]
pub(crate) struct Enrollment {
    pub(crate) profile: InstalledProfile,
    pub(crate) scep: ScepSettings,
    pub(crate) mdm: MdmSettings,
}

/// Reads any configuration profile (signed or not) as installed.
pub(crate) fn read_installed(bytes: &[u8], managed: bool) -> anyhow::Result<InstalledProfile> {
    installed(&decode_profile(bytes)?, managed)
}

fn installed(decoded: &DecodedProfile, managed: bool) -> anyhow::Result<InstalledProfile> {
    let top = &decoded.dictionary;
    let payloads = content(top)?
        .iter()
        .map(|p| {
            Ok(PayloadSummary {
                payload_type: string(p, "PayloadType")?
                    .ok_or_else(|| anyhow!("payload without PayloadType"))?,
                identifier: string(p, "PayloadIdentifier")?.unwrap_or_default(),
                uuid: string(p, "PayloadUUID")?,
                display_name: string(p, "PayloadDisplayName")?,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(InstalledProfile {
        identifier: decoded.identifier.clone(),
        uuid: decoded.uuid.clone(),
        version: top.get("PayloadVersion").and_then(Value::as_i64),
        display_name: string(top, "PayloadDisplayName")?,
        description: string(top, "PayloadDescription")?,
        organization: string(top, "PayloadOrganization")?,
        removal_disallowed: top.get("PayloadRemovalDisallowed").and_then(Value::as_bool),
        payloads,
        managed,
    })
}

/// Reads an enrollment profile: it must hold one SCEP and one MDM payload.
pub(crate) fn read_enrollment(bytes: &[u8]) -> anyhow::Result<Enrollment> {
    let decoded = decode_profile(bytes)?;
    let profile = installed(&decoded, false)?;
    let mdm = decoded
        .mdm
        .as_ref()
        .ok_or_else(|| anyhow!("the profile has no com.apple.mdm payload"))?;
    let server_url =
        string(mdm, "ServerURL")?.ok_or_else(|| anyhow!("the MDM payload has no ServerURL"))?;
    let mdm = MdmSettings {
        check_in_url: string(mdm, "CheckInURL")?.unwrap_or_else(|| server_url.clone()),
        topic: string(mdm, "Topic")?.ok_or_else(|| anyhow!("the MDM payload has no Topic"))?,
        sign_message: mdm
            .get("SignMessage")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        server_url,
    };
    let scep = content(&decoded.dictionary)?
        .into_iter()
        .find(|p| p.get("PayloadType").and_then(Value::as_str) == Some(SCEP_PAYLOAD))
        .ok_or_else(|| anyhow!("the profile has no {SCEP_PAYLOAD} payload"))?;
    let scep = scep
        .get("PayloadContent")
        .and_then(Value::as_dictionary)
        .ok_or_else(|| anyhow!("the SCEP payload has no PayloadContent dictionary"))?;
    let key_size = match scep.get("Keysize").map(|v| v.as_u64()) {
        None => 2048,
        Some(Some(bits @ 1024..=4096)) => usize::try_from(bits)?,
        Some(_) => bail!("the SCEP payload's Keysize is not 1024 to 4096"),
    };
    let scep = ScepSettings {
        url: string(scep, "URL")?.ok_or_else(|| anyhow!("the SCEP payload has no URL"))?,
        challenge: string(scep, "Challenge")?,
        subject: match scep.get("Subject") {
            Some(s) => subject_to_rfc4514(s).context("the SCEP payload's Subject")?,
            None => String::new(),
        },
        key_size,
    };
    Ok(Enrollment { profile, scep, mdm })
}

/// The payload dictionaries of `PayloadContent` (none when absent).
fn content(top: &Dictionary) -> anyhow::Result<Vec<&Dictionary>> {
    match top.get("PayloadContent") {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|p| {
                p.as_dictionary()
                    .ok_or_else(|| anyhow!("a PayloadContent item is not a dictionary"))
            })
            .collect(),
        Some(_) => bail!("PayloadContent is not an array"),
    }
}

fn string(d: &Dictionary, key: &str) -> anyhow::Result<Option<String>> {
    match d.get(key) {
        None => Ok(None),
        Some(v) => v
            .as_str()
            .map(|s| Some(s.to_owned()))
            .ok_or_else(|| anyhow!("{key} is not a string")),
    }
}

/// A SCEP payload `Subject` — an array of relative distinguished names,
/// each an array of `[type, value]` pairs, in X.500 order (most general
/// first), e.g. `[[["O", "Example"]], [["CN", "device"]]]` — as an RFC 4514
/// string, which lists the names the other way round:
/// `CN=device,O=Example`.
pub(crate) fn subject_to_rfc4514(subject: &Value) -> anyhow::Result<String> {
    let rdns = subject.as_array().ok_or_else(|| anyhow!("not an array"))?;
    let mut out = Vec::with_capacity(rdns.len());
    for rdn in rdns.iter().rev() {
        let pairs = rdn
            .as_array()
            .ok_or_else(|| anyhow!("a name is not an array"))?;
        let mut atvs = Vec::with_capacity(pairs.len());
        for pair in pairs {
            match pair.as_array() {
                Some([t, v]) => {
                    let (Some(t), Some(v)) = (t.as_str(), v.as_str()) else {
                        bail!("a [type, value] pair holds a non-string");
                    };
                    if t.is_empty()
                        || !t
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
                    {
                        bail!("bad attribute type {t:?}");
                    }
                    atvs.push(format!("{t}={}", escape_rfc4514(v)));
                }
                _ => bail!("a name part is not a [type, value] pair"),
            }
        }
        if atvs.is_empty() {
            bail!("an empty relative distinguished name");
        }
        out.push(atvs.join("+"));
    }
    Ok(out.join(","))
}

/// Escapes an attribute value for an RFC 4514 string (§2.4).
pub(crate) fn escape_rfc4514(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let last = v.chars().count().saturating_sub(1);
    for (i, c) in v.chars().enumerate() {
        let special = matches!(c, '"' | '+' | ',' | ';' | '<' | '>' | '\\')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use apple_mdm_protocol::profile::{EnrollmentProfile, MdmPayload, ScepPayload};

    use super::*;

    fn sample() -> EnrollmentProfile {
        let mut scep = ScepPayload::new(
            "https://mdm.example.com:8760/scep",
            Some("s3cret".into()),
            "Pippin Device",
        );
        scep.subject.insert(0, ("O".into(), "Example, Inc.".into()));
        let mut mdm = MdmPayload::new(
            "https://mdm.example.com:8760/mdm/connect",
            "com.apple.mgmt.External.0000",
        );
        mdm.check_in_url = Some("https://mdm.example.com:8760/mdm/checkin".into());
        EnrollmentProfile::new(mdm, Some(scep))
    }

    #[test]
    fn reads_an_unsigned_enrollment_profile() {
        let p = sample();
        let e = read_enrollment(&p.to_xml()).unwrap();
        assert_eq!(e.scep.url, "https://mdm.example.com:8760/scep");
        assert_eq!(e.scep.challenge.as_deref(), Some("s3cret"));
        assert_eq!(e.scep.subject, "CN=Pippin Device,O=Example\\, Inc.");
        assert_eq!(e.scep.key_size, 2048);
        assert_eq!(e.mdm.server_url, "https://mdm.example.com:8760/mdm/connect");
        assert_eq!(
            e.mdm.check_in_url,
            "https://mdm.example.com:8760/mdm/checkin"
        );
        assert_eq!(e.mdm.topic, "com.apple.mgmt.External.0000");
        assert!(e.mdm.sign_message);
        assert_eq!(e.profile.identifier, "com.github.pippin.enroll");
        assert_eq!(e.profile.uuid, p.payload_uuid("profile"));
        assert!(!e.profile.managed);
        let types: Vec<_> = e
            .profile
            .payloads
            .iter()
            .map(|p| p.payload_type.as_str())
            .collect();
        assert_eq!(types, ["com.apple.security.scep", "com.apple.mdm"]);
        assert_eq!(
            e.profile.payloads[1].identifier,
            "com.github.pippin.enroll.mdm"
        );
    }

    #[test]
    fn check_in_url_defaults_to_server_url() {
        let mut p = sample();
        p.mdm.check_in_url = None;
        p.mdm.sign_message = false;
        let e = read_enrollment(&p.to_xml()).unwrap();
        assert_eq!(e.mdm.check_in_url, e.mdm.server_url);
        assert!(!e.mdm.sign_message);
    }

    #[test]
    fn the_subject_parses_as_an_x509_name() {
        let e = read_enrollment(&sample().to_xml()).unwrap();
        let parsed: scep::x509_cert::name::Name = e.scep.subject.parse().unwrap();
        assert_eq!(
            parsed.common_name().unwrap().map(String::from).as_deref(),
            Some("Pippin Device")
        );
        assert_eq!(
            parsed.organization().unwrap().map(String::from).as_deref(),
            Some("Example, Inc.")
        );
    }

    #[test]
    fn profile_without_scep_or_mdm_is_refused() {
        let mut p = sample();
        p.scep = None;
        assert!(read_enrollment(&p.to_xml()).is_err());
        assert!(read_enrollment(b"not a profile").is_err());
    }

    #[test]
    fn subjects_with_several_names_and_multi_valued_names() {
        let v = Value::Array(vec![
            Value::Array(vec![Value::Array(vec!["C".into(), "GB".into()])]),
            Value::Array(vec![
                Value::Array(vec!["OU".into(), "IT".into()]),
                Value::Array(vec!["0.9.2342.19200300.100.1.1".into(), "x".into()]),
            ]),
            Value::Array(vec![Value::Array(vec!["CN".into(), " #a+b ".into()])]),
        ]);
        assert_eq!(
            subject_to_rfc4514(&v).unwrap(),
            "CN=\\ #a\\+b\\ ,OU=IT+0.9.2342.19200300.100.1.1=x,C=GB"
        );
        let name: scep::x509_cert::name::Name = subject_to_rfc4514(&v).unwrap().parse().unwrap();
        assert_eq!(
            name.common_name().unwrap().map(String::from).as_deref(),
            Some(" #a+b ")
        );
        let bad = Value::Array(vec![Value::Array(vec![Value::Array(vec!["CN".into()])])]);
        assert!(subject_to_rfc4514(&bad).is_err());
        let bad = Value::Array(vec![Value::Array(vec![Value::Array(vec![
            "C N".into(),
            "x".into(),
        ])])]);
        assert!(subject_to_rfc4514(&bad).is_err());
        assert!(subject_to_rfc4514(&Value::from("CN=x")).is_err());
    }

    #[test]
    fn escaping() {
        assert_eq!(escape_rfc4514("plain"), "plain");
        assert_eq!(escape_rfc4514("a,b;c"), "a\\,b\\;c");
        assert_eq!(escape_rfc4514("#x"), "\\#x");
        assert_eq!(escape_rfc4514("x#"), "x#");
        assert_eq!(escape_rfc4514("\"q\""), "\\\"q\\\"");
        assert_eq!(escape_rfc4514(""), "");
    }

    #[test]
    fn installed_profile_lists_payloads() {
        let p = read_installed(&sample().to_xml(), true).unwrap();
        assert!(p.managed);
        assert_eq!(p.version, Some(1));
        assert_eq!(p.display_name.as_deref(), Some("Device Management"));
        assert_eq!(p.payloads.len(), 2);
    }
}
