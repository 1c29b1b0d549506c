//! The DEP server-token exchange: makes the key pair whose certificate is
//! uploaded to Apple Business Manager, and decrypts the token file the
//! portal gives back.
//!
//! ```text
//! cargo run --example dep-token -- --new-keypair ./dep-keys
//! cargo run --example dep-token -- --key dep-keys/dep-key.pem --cert dep-keys/dep-cert.pem Token.p7m
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::Context;
use clap::Parser;
use dep_client::{TokenKey, generate_key_pair};
use serde_json::json;

/// Decrypt an Automated Device Enrollment (DEP) server token, or make the
/// key pair to ask Apple for one.
///
/// With --key and --cert and a token file (the `.p7m` that Apple Business
/// Manager or Apple School Manager downloads for an MDM server), prints
/// the decrypted token as one JSON object: consumer_key, consumer_secret,
/// access_token, access_secret and access_token_expiry. THE OUTPUT HOLDS
/// THE TOKEN'S SECRETS: that is what this tool is for; keep it out of logs
/// and shared terminals.
///
/// With --new-keypair DIR, writes DIR/dep-key.pem (an RSA-2048 private key,
/// PKCS #8, mode 0600) and DIR/dep-cert.pem (the self-signed certificate to
/// upload as the MDM server's public key), and prints their paths as JSON.
/// Existing files are not overwritten.
///
/// Exit status: 0 on success; 1 when the token cannot be read (damaged
/// file, made for another key, expired) or the files cannot be written; 2
/// for bad arguments.
#[derive(Parser)]
#[command(version, about, verbatim_doc_comment)]
struct Args {
    /// The private key, PEM (PKCS #1 or PKCS #8, unencrypted).
    #[arg(
        long,
        value_name = "PEM",
        requires = "token",
        conflicts_with = "new_keypair"
    )]
    key: Option<PathBuf>,
    /// The certificate that was uploaded, PEM. With it a token made for
    /// another certificate is named as such.
    #[arg(long, value_name = "PEM", requires = "key")]
    cert: Option<PathBuf>,
    /// Print the token even if it has expired (the exit status is still 1).
    #[arg(long, requires = "key")]
    allow_expired: bool,
    /// Write a new key pair into this directory instead.
    #[arg(long, value_name = "DIR", required_unless_present = "key")]
    new_keypair: Option<PathBuf>,
    /// The certificate's common name, with --new-keypair.
    #[arg(
        long,
        value_name = "NAME",
        default_value = "Pippin DEP",
        requires = "new_keypair"
    )]
    name: String,
    /// The token file (`*_Token_*.p7m`): S/MIME as Apple sends it, or PEM or DER CMS.
    #[arg(value_name = "TOKEN.p7m")]
    token: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dep-token: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> anyhow::Result<()> {
    if let Some(dir) = &args.new_keypair {
        return new_keypair(dir, &args.name);
    }
    let (Some(key), Some(token)) = (&args.key, &args.token) else {
        anyhow::bail!("give --key and a token file, or --new-keypair DIR");
    };
    let read = |p: &PathBuf| std::fs::read(p).with_context(|| format!("reading {}", p.display()));
    let key_pem = String::from_utf8(read(key)?).context("the key file is not text")?;
    let cert_pem = match &args.cert {
        Some(c) => Some(String::from_utf8(read(c)?).context("the certificate is not text")?),
        None => None,
    };
    let key = TokenKey::from_pem(&key_pem, cert_pem.as_deref()).context("loading the key")?;
    let file = read(token)?;
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    let decrypted = key
        .decrypt_unchecked(&file, &mut rng)
        .with_context(|| format!("decrypting {}", token.display()))?;
    let now = SystemTime::now();
    let expired = decrypted.is_expired(now);
    if expired && !args.allow_expired {
        decrypted.check_not_expired(now)?;
    }
    println!("{}", serde_json::to_string(&decrypted)?);
    if expired {
        decrypted.check_not_expired(now)?;
    }
    Ok(())
}

fn new_keypair(dir: &Path, name: &str) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    let pair = generate_key_pair(name, SystemTime::now(), &mut rng)?;
    let key_path = dir.join("dep-key.pem");
    let cert_path = dir.join("dep-cert.pem");
    write_new(&key_path, pair.key_pem.as_bytes(), true)?;
    write_new(&cert_path, pair.cert_pem.as_bytes(), false)?;
    println!(
        "{}",
        json!({"key": key_path.display().to_string(), "certificate": cert_path.display().to_string()})
    );
    Ok(())
}

/// Writes a file that must not exist yet; `secret` makes it mode 0600.
fn write_new(path: &Path, data: &[u8], secret: bool) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if secret { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut f = options
        .open(path)
        .with_context(|| format!("creating {} (it must not exist yet)", path.display()))?;
    f.write_all(data)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
