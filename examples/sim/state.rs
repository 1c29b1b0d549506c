//! `--state-dir`: each device saved as one JSON file, so that a later run
//! picks it up instead of starting from nothing.
//!
//! The file always holds the device's hardware (UDID, serial number, ...),
//! which survives an erase as it does on a real device; while the device
//! is enrolled it also holds the enrollment: push credentials, server URLs,
//! installed profiles, identity key and certificate. An erased device
//! keeps only its hardware, and enrolls again as the same device.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};

use crate::device::{Device, Hardware, Push};
use crate::enroll::{Enrolled, pem};
use crate::profile::{InstalledProfile, MdmSettings};

const VERSION: u32 = 1;

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Saved {
    version: u32,
    hardware: Hardware,
    enrollment: Option<SavedEnrollment>,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct SavedEnrollment {
    push: Push,
    mdm: MdmSettings,
    profiles: Vec<InstalledProfile>,
    /// The identity key, PKCS #8 PEM.
    key: String,
    /// The identity certificate, PEM.
    certificate: String,
    /// The SCEP CA's certificates, PEM.
    ca_certificates: String,
}

/// A device read back: its hardware, and its enrollment unless it was
/// erased.
pub(crate) enum Loaded {
    Enrolled(Box<Enrolled>),
    Erased(Box<Hardware>),
}

/// The file of device `index` in `dir`.
pub(crate) fn path(dir: &Path, index: usize) -> PathBuf {
    dir.join(format!("device-{index:05}.json"))
}

/// Loads device `index`, or `None` when it was never saved.
pub(crate) fn load(dir: &Path, index: usize) -> anyhow::Result<Option<Loaded>> {
    let p = path(dir, index);
    let text = match fs::read_to_string(&p) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", p.display())),
    };
    let s: Saved =
        serde_json::from_str(&text).with_context(|| format!("reading {}", p.display()))?;
    if s.version != VERSION {
        bail!("{}: unknown version {}", p.display(), s.version);
    }
    let Some(e) = s.enrollment else {
        return Ok(Some(Loaded::Erased(Box::new(s.hardware))));
    };
    let one = |pem: &str, what: &str| -> anyhow::Result<Vec<u8>> {
        let (_, der) = der::pem::decode_vec(pem.as_bytes())
            .map_err(|err| anyhow::anyhow!("{}: {what}: {err}", p.display()))?;
        Ok(der)
    };
    let ca_certs = pippin_service::pem_to_ders(&e.ca_certificates)
        .with_context(|| format!("{}: CA certificates", p.display()))?;
    Ok(Some(Loaded::Enrolled(Box::new(Enrolled {
        key_der: one(&e.key, "key")?,
        device: Device {
            hw: s.hardware,
            identity_cert: one(&e.certificate, "certificate")?,
            ca_certs,
            profiles: e.profiles,
        },
        push: e.push,
        mdm: e.mdm,
    }))))
}

/// Saves device `index` enrolled (owner-only permissions: the file holds
/// a private key).
pub(crate) fn save(dir: &Path, index: usize, e: &Enrolled) -> anyhow::Result<()> {
    let mut ca = String::new();
    for c in &e.device.ca_certs {
        ca.push_str(&pem("CERTIFICATE", c)?);
    }
    write(
        dir,
        index,
        &Saved {
            version: VERSION,
            hardware: e.device.hw.clone(),
            enrollment: Some(SavedEnrollment {
                push: e.push.clone(),
                mdm: e.mdm.clone(),
                profiles: e.device.profiles.clone(),
                key: pem("PRIVATE KEY", &e.key_der)?,
                certificate: pem("CERTIFICATE", &e.device.identity_cert)?,
                ca_certificates: ca,
            }),
        },
    )
}

/// Saves device `index` erased: its hardware only.
pub(crate) fn save_erased(dir: &Path, index: usize, hw: &Hardware) -> anyhow::Result<()> {
    write(
        dir,
        index,
        &Saved {
            version: VERSION,
            hardware: hw.clone(),
            enrollment: None,
        },
    )
}

fn write(dir: &Path, index: usize, saved: &Saved) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(saved)?;
    let p = path(dir, index);
    let tmp = p.with_extension("json.tmp");
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, &p).with_context(|| format!("renaming to {}", p.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::{Platform, Rand};

    #[test]
    fn save_and_load_round_trip() {
        let dir = std::env::temp_dir().join(format!("pippin-sim-state-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let mut rng = Rand::new();
        let hw = Hardware::generate(Platform::Ios, 4, &mut rng);
        let e = Enrolled {
            device: Device {
                hw: hw.clone(),
                identity_cert: vec![0x30, 0x03, 0x02, 0x01, 0x01],
                ca_certs: vec![vec![0x30, 0x00], vec![0x30, 0x01, 0x05]],
                profiles: Vec::new(),
            },
            push: Push::generate(Platform::Ios, &mut rng),
            mdm: MdmSettings {
                server_url: "https://h/mdm/connect".into(),
                check_in_url: "https://h/mdm/checkin".into(),
                topic: "t".into(),
                sign_message: true,
            },
            key_der: vec![1, 2, 3],
        };
        assert!(load(&dir, 4).unwrap().is_none());
        save(&dir, 4, &e).unwrap();
        let Some(Loaded::Enrolled(back)) = load(&dir, 4).unwrap() else {
            panic!("not loaded as enrolled");
        };
        assert_eq!(back.device.hw, e.device.hw);
        assert_eq!(back.device.identity_cert, e.device.identity_cert);
        assert_eq!(back.device.ca_certs, e.device.ca_certs);
        assert_eq!(back.push, e.push);
        assert_eq!(back.mdm, e.mdm);
        assert_eq!(back.key_der, e.key_der);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(path(&dir, 4)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        save_erased(&dir, 4, &hw).unwrap();
        let Some(Loaded::Erased(back)) = load(&dir, 4).unwrap() else {
            panic!("not loaded as erased");
        };
        assert_eq!(*back, hw);
        fs::write(path(&dir, 4), "{\"version\": 9}").unwrap();
        assert!(load(&dir, 4).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }
}
