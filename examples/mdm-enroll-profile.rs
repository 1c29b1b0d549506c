//! Writes an MDM enrollment profile (`.mobileconfig`).
//!
//! ```text
//! cargo run --example mdm-enroll-profile -- \
//!     --server-url https://mdm.example.com:8760/mdm/connect \
//!     --topic com.apple.mgmt.External.00000000-0000-0000-0000-000000000000 \
//!     --scep-url https://mdm.example.com:8760/scep --scep-challenge secret \
//!     [--root-cert ca.pem] [--sign-cert signer.pem --sign-key signer-key.pem] \
//!     --out enroll.mobileconfig
//! ```

use std::path::PathBuf;

use anyhow::{Context, bail};
use apple_mdm_protocol::profile::{EnrollmentProfile, MdmPayload, RootCertificate, ScepPayload};
use apple_mdm_protocol::signature::SigningIdentity;
use clap::Parser;

/// Write an MDM enrollment profile: a SCEP payload for the device identity,
/// the MDM payload, and optional root certificates; signed with CMS when a
/// signing certificate and key are given.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Args {
    /// The MDM server URL devices fetch commands from (`ServerURL`).
    #[arg(long, value_name = "URL")]
    server_url: String,

    /// The check-in URL (`CheckInURL`); defaults to the server URL.
    #[arg(long, value_name = "URL")]
    checkin_url: Option<String>,

    /// The push topic: the UID of the APNs MDM push certificate,
    /// `com.apple.mgmt.External.<uuid>`.
    #[arg(long, value_name = "TOPIC")]
    topic: String,

    /// The SCEP URL the device gets its identity certificate from.
    #[arg(long, value_name = "URL")]
    scep_url: String,

    /// The SCEP challenge password.
    #[arg(long, value_name = "SECRET")]
    scep_challenge: String,

    /// Subject common name of the device identity certificate.
    #[arg(long, value_name = "CN", default_value = "Pippin Device Identity")]
    scep_subject_cn: String,

    /// A PEM file of CA certificates to install as trusted roots (each
    /// certificate in the file becomes one payload). Repeatable.
    #[arg(long, value_name = "PEM")]
    root_cert: Vec<PathBuf>,

    /// PEM certificate (then its chain) to sign the profile with.
    #[arg(long, value_name = "PEM", requires = "sign_key")]
    sign_cert: Option<PathBuf>,

    /// PEM private key (PKCS#1, PKCS#8 or SEC1 P-256) of the signing certificate.
    #[arg(long, value_name = "PEM", requires = "sign_cert")]
    sign_key: Option<PathBuf>,

    /// Profile identifier (`PayloadIdentifier`), reverse-DNS.
    #[arg(long, default_value = "com.github.pippin.enroll")]
    identifier: String,

    /// Organisation name shown on the device.
    #[arg(long)]
    organization: Option<String>,

    /// Set `UseDevelopmentAPNS` (sandbox push environment).
    #[arg(long)]
    development_apns: bool,

    /// Where to write the profile.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if !args.topic.starts_with("com.apple.mgmt.") {
        bail!(
            "--topic must be an MDM push topic (com.apple.mgmt.…), got {:?}",
            args.topic
        );
    }
    let mut mdm = MdmPayload::new(&args.server_url, &args.topic);
    mdm.check_in_url = args.checkin_url.clone();
    mdm.use_development_apns = args.development_apns;
    let scep = ScepPayload::new(
        &args.scep_url,
        Some(args.scep_challenge.clone()),
        &args.scep_subject_cn,
    );
    let mut profile = EnrollmentProfile::new(mdm, Some(scep));
    profile.identifier = args.identifier.clone();
    profile.organization = args.organization.clone();
    for path in &args.root_cert {
        let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let ders = pippin_examples::pem_certificates(&pem)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        for (i, der) in ders.into_iter().enumerate() {
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("root");
            profile.roots.push(RootCertificate {
                der,
                file_name: format!("{stem}-{i}.cer"),
                display_name: format!("Root certificate {stem}"),
            });
        }
    }
    let bytes = match (&args.sign_cert, &args.sign_key) {
        (Some(c), Some(k)) => {
            let cert = std::fs::read(c).with_context(|| format!("reading {}", c.display()))?;
            let key = std::fs::read(k).with_context(|| format!("reading {}", k.display()))?;
            let id =
                SigningIdentity::from_pem(&cert, &key).context("loading the signing identity")?;
            profile.sign(&id)?
        }
        _ => profile.to_xml(),
    };
    std::fs::write(&args.out, &bytes).with_context(|| format!("writing {}", args.out.display()))?;
    eprintln!(
        "wrote {} ({} bytes, {})",
        args.out.display(),
        bytes.len(),
        if args.sign_cert.is_some() {
            "signed"
        } else {
            "unsigned"
        }
    );
    Ok(())
}
