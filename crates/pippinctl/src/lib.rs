//! `pippinctl`: Pippin's admin command line.
//!
//! A client of the admin API of `cm-proxy` (`/api/v1`, bearer token, HTTPS
//! trusting the service's CA), plus the local half of the APNs certificate
//! workflow: making the push key and its certificate signing request, and
//! signing a request with an MDM vendor certificate.
//!
//! On the server itself it needs no flags: the service's default data
//! directory (`./pippin-data`, or `PIPPIN_DATA_DIR`) holds the CA
//! certificate and the generated admin token it reads.

#![forbid(unsafe_code)]

pub mod api;
pub mod pushcsr;

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use base64::Engine as _;
use serde_json::{Value, json};

use crate::api::ApiClient;
use crate::pushcsr::VendorHash;

/// Pippin's admin command line: push certificates, devices and commands,
/// through the service's admin API.
///
/// Every connection option can also be set with a PIPPIN_* environment
/// variable. On the server itself the defaults find the service's CA
/// certificate and admin token in its data directory.
#[derive(Debug, clap::Parser)]
#[command(name = "pippinctl", version, max_term_width = 100)]
pub struct Cli {
    /// The service's base URL.
    #[arg(
        long,
        global = true,
        env = "PIPPIN_SERVER",
        value_name = "URL",
        default_value = "https://127.0.0.1:8760"
    )]
    server: String,
    /// The service's data directory, where the defaults for --ca and
    /// --token-file are found.
    #[arg(
        long,
        global = true,
        env = "PIPPIN_DATA_DIR",
        value_name = "DIR",
        default_value = "./pippin-data"
    )]
    data_dir: PathBuf,
    /// CA certificate (PEM) that signed the service's certificate [default:
    /// DATA_DIR/ca.pem].
    #[arg(long, global = true, env = "PIPPIN_CA", value_name = "FILE")]
    ca: Option<PathBuf>,
    /// Accept only the server certificate with this SHA-256 fingerprint
    /// (hex), on top of the CA check.
    #[arg(long, global = true, env = "PIPPIN_PIN_SHA256", value_name = "HEX")]
    pin_sha256: Option<String>,
    /// Admin API bearer token.
    #[arg(
        long,
        global = true,
        env = "PIPPIN_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    token: Option<String>,
    /// File holding the admin API token [default: DATA_DIR/admin-token].
    #[arg(long, global = true, env = "PIPPIN_TOKEN_FILE", value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Print the service's JSON answers instead of a summary.
    #[arg(long, global = true)]
    json: bool,
    /// What to do.
    #[command(subcommand)]
    command: Command,
}

/// The commands.
#[derive(Debug, clap::Subcommand)]
enum Command {
    /// The APNs push certificate: request, import, show.
    #[command(subcommand)]
    Apns(ApnsCommand),
    /// Enrolled devices.
    #[command(subcommand)]
    Devices(DevicesCommand),
    /// Automated Device Enrollment: server tokens and DEP devices.
    #[command(subcommand)]
    Dep(DepCommand),
    /// Apps and Books: content tokens, app licenses, assignments.
    #[command(subcommand)]
    Vpp(VppCommand),
    /// Software updates: the catalogs published into WSUS.
    #[command(subcommand)]
    Sup(SupCommand),
}

/// `pippinctl sup …`
#[derive(Debug, clap::Subcommand)]
enum SupCommand {
    /// List the software-update catalogs sup-service published, oldest
    /// first (the service keeps the latest 10,000).
    Publications {
        /// Start after this id (from the previous page).
        #[arg(long, value_name = "ID")]
        after: Option<i64>,
        /// Page size.
        #[arg(long, value_name = "N", default_value_t = 100)]
        limit: u32,
    },
    /// The catalog published last.
    Latest,
}

/// `pippinctl vpp …`
#[derive(Debug, clap::Subcommand)]
enum VppCommand {
    /// Add a content token (the .vpptoken file from Apple Business Manager,
    /// Settings > Apps and Books), or replace its file; the service claims
    /// it for itself at Apple.
    Token {
        /// The token's name (letters, digits, '.', '_', '-').
        name: String,
        /// The .vpptoken file.
        file: PathBuf,
        /// Free text shown with the token.
        #[arg(long)]
        description: Option<String>,
        /// business (Apple Business Manager) or education (Apple School
        /// Manager).
        #[arg(long, default_value = "business", value_parser = ["business", "education"])]
        organization_type: String,
        /// Claim the token even if another MDM server manages it (that
        /// server stops managing its licenses).
        #[arg(long)]
        take_over: bool,
    },
    /// List the content tokens: organisation, expiry, claim and sync state.
    Tokens,
    /// Walk a token's assets again now.
    Sync {
        /// The token's name.
        name: String,
    },
    /// Forget a token, its assets and assignments.
    Remove {
        /// The token's name.
        name: String,
    },
    /// List apps and books with their license counts.
    Assets {
        /// Only this token's.
        #[arg(long)]
        token: Option<String>,
        /// Start after this cursor (from the previous page).
        #[arg(long)]
        after: Option<String>,
        /// Page size.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Give an app's licenses to enrolled devices and install it on them.
    Assign {
        /// The token the licenses belong to.
        #[arg(long)]
        token: String,
        /// The app's Adam ID (App Store id).
        #[arg(long)]
        adam_id: String,
        /// Its pricing parameter.
        #[arg(long, default_value = "STDQ")]
        pricing: String,
        /// ManagementFlags: 1 removes the app with the MDM profile, 4
        /// prevents backup of its data, 5 both [default: the service's].
        #[arg(long, value_parser = ["0", "1", "4", "5"])]
        management_flags: Option<String>,
        /// Device UDIDs.
        #[arg(required = true)]
        udids: Vec<String>,
    },
    /// Remove an app from devices and give the licenses back.
    Unassign {
        /// The token the licenses belong to.
        #[arg(long)]
        token: String,
        /// The app's Adam ID.
        #[arg(long)]
        adam_id: String,
        /// Its pricing parameter.
        #[arg(long, default_value = "STDQ")]
        pricing: String,
        /// Device UDIDs.
        #[arg(required = true)]
        udids: Vec<String>,
    },
    /// List license assignments and where each stands.
    Assignments {
        /// Only this token's.
        #[arg(long)]
        token: Option<String>,
        /// Only this app's.
        #[arg(long)]
        adam_id: Option<String>,
        /// Only this device's.
        #[arg(long)]
        serial: Option<String>,
        /// Only those in this state (pending_associate, associating,
        /// installing, installed, failed, removing, removed, ...).
        #[arg(long)]
        state: Option<String>,
        /// Start after this cursor (from the previous page).
        #[arg(long)]
        after: Option<String>,
        /// Page size.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
}

/// `pippinctl dep …`
#[derive(Debug, clap::Subcommand)]
enum DepCommand {
    /// Print the certificate to upload to Apple Business Manager as this
    /// MDM server's public key (PEM).
    Certificate,
    /// Add a DEP link from the server token Apple Business Manager gave
    /// (the .p7m file), or renew the token of an existing link (its cursor
    /// and devices are kept).
    Token {
        /// The link's name (letters, digits, '.', '_', '-').
        name: String,
        /// The server token file: S/MIME or PEM text, or DER (sent as
        /// base64).
        file: PathBuf,
    },
    /// List the DEP links: account, token expiry, sync state, device counts.
    Links,
    /// Sync a link (and assign the enrollment profile) now.
    Sync {
        /// The link's name.
        name: String,
    },
    /// Forget a link and its devices.
    Remove {
        /// The link's name.
        name: String,
    },
    /// List DEP devices.
    Devices {
        /// Only this link's.
        #[arg(long)]
        link: Option<String>,
        /// Only those in this assignment state (pending, assigned, failed,
        /// not_accessible, throttled).
        #[arg(long)]
        assign_status: Option<String>,
        /// Start after this cursor (from the previous page).
        #[arg(long)]
        after: Option<String>,
        /// Page size.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Assign the enrollment profile to a device again.
    Assign {
        /// The device's serial number.
        serial: String,
    },
}

/// `pippinctl apns …`
#[derive(Debug, clap::Subcommand)]
enum ApnsCommand {
    /// Make the push certificate's private key and a certificate signing
    /// request (CSR). Have the CSR signed by your MDM vendor (or sign it
    /// yourself with `apns vendor-sign` if you hold an MDM vendor
    /// certificate), upload the signed request to the Apple Push
    /// Certificates Portal (`https://identity.apple.com/pushcert`), then
    /// `apns import` the .pem Apple returns together with this key. Renew
    /// with the same Apple ID and the same topic, or every device must enroll
    /// again.
    Csr {
        /// Directory to write push.key (owner-only) and push.csr into.
        #[arg(long, value_name = "DIR", default_value = ".")]
        out_dir: PathBuf,
        /// Subject common name.
        #[arg(long, value_name = "NAME", default_value = "Pippin MDM push")]
        cn: String,
        /// Subject organisation.
        #[arg(long, value_name = "ORG")]
        org: Option<String>,
        /// Subject country (two letters).
        #[arg(long, value_name = "CC")]
        country: Option<String>,
        /// Subject email address (the Apple ID contact is usual).
        #[arg(long, value_name = "EMAIL")]
        email: Option<String>,
        /// RSA key size.
        #[arg(long, value_name = "BITS", default_value_t = pushcsr::PUSH_KEY_BITS)]
        key_bits: usize,
        /// Replace existing files.
        #[arg(long)]
        force: bool,
    },
    /// Sign a CSR with an MDM vendor signing certificate, producing the
    /// request file the Apple Push Certificates Portal accepts (base64 of a
    /// plist with PushCertRequestCSR, PushCertCertificateChain and
    /// PushCertSignature).
    VendorSign {
        /// The CSR (PEM or DER), e.g. from `apns csr`.
        #[arg(long, value_name = "FILE")]
        csr: PathBuf,
        /// The vendor's RSA private key, PEM, unencrypted.
        #[arg(long, value_name = "FILE")]
        vendor_key: PathBuf,
        /// The vendor's MDM signing certificate followed by Apple's
        /// intermediate and root certificates, PEM.
        #[arg(long, value_name = "FILE")]
        vendor_chain: PathBuf,
        /// Digest of the signature.
        #[arg(long, value_enum, default_value = "sha256")]
        hash: VendorHash,
        /// Where to write the request for the portal.
        #[arg(long, value_name = "FILE", default_value = "push.req")]
        out: PathBuf,
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Install or replace the push certificate in the running service
    /// (`PUT /api/v1/pushcert`). The topic must be the one devices enrolled
    /// with, unless --allow-topic-change.
    Import {
        /// The certificate Apple issued (.pem).
        #[arg(long, value_name = "FILE", requires = "key", conflicts_with = "p12")]
        cert: Option<PathBuf>,
        /// Its private key (from `apns csr`), PEM.
        #[arg(long, value_name = "FILE", requires = "cert")]
        key: Option<PathBuf>,
        /// Or a PKCS #12 file holding both (as exported from Keychain Access).
        #[arg(long, value_name = "FILE")]
        p12: Option<PathBuf>,
        /// Environment variable holding the PKCS #12 password [default: no
        /// password].
        #[arg(long, value_name = "VAR", requires = "p12")]
        password_env: Option<String>,
        /// Install even though the topic differs from the one devices
        /// enrolled with: every enrolled device must then enroll again.
        #[arg(long)]
        allow_topic_change: bool,
    },
    /// Show the push certificate in use: topic, subject, expiry.
    Show,
}

/// `pippinctl devices …`
#[derive(Debug, clap::Subcommand)]
enum DevicesCommand {
    /// List enrollments, a page at a time.
    List {
        /// Start after this cursor (from the previous page).
        #[arg(long, value_name = "CURSOR")]
        after: Option<String>,
        /// Page size.
        #[arg(long, value_name = "N", default_value_t = 100)]
        limit: u32,
    },
    /// One device: enrollment state, last push, inventory.
    Show {
        /// The device's UDID.
        udid: String,
    },
    /// Wake a device with a push now.
    Push {
        /// The device's UDID.
        udid: String,
    },
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match &cli.command {
        Command::Apns(ApnsCommand::Csr {
            out_dir,
            cn,
            org,
            country,
            email,
            key_bits,
            force,
        }) => {
            let subject = subject(cn, org.as_deref(), country.as_deref(), email.as_deref())?;
            apns_csr(out_dir, &subject, *key_bits, *force, cli.json)
        }
        Command::Apns(ApnsCommand::VendorSign {
            csr,
            vendor_key,
            vendor_chain,
            hash,
            out,
            force,
        }) => {
            let csr_bytes = read(csr)?;
            let key = read_text(vendor_key)?;
            let chain = read_text(vendor_chain)?;
            let req = pushcsr::vendor_sign(&csr_bytes, &key, &chain, *hash)?;
            pushcsr::write_new(out, req.as_bytes(), false, *force)?;
            if cli.json {
                println!("{}", json!({ "request": out }));
            } else {
                println!(
                    "wrote {}: upload it at https://identity.apple.com/pushcert",
                    out.display()
                );
            }
            Ok(())
        }
        _ => block_on(remote(&cli)),
    }
}

/// Commands that talk to the service.
async fn remote(cli: &Cli) -> anyhow::Result<()> {
    let client = connect(cli)?;
    match &cli.command {
        Command::Apns(ApnsCommand::Import {
            cert,
            key,
            p12,
            password_env,
            allow_topic_change,
        }) => {
            let mut body = match (cert, key, p12) {
                (Some(c), Some(k), None) => json!({
                    "certificate": read_text(c)?,
                    "private_key": read_text(k)?,
                }),
                (None, None, Some(p)) => {
                    let password = match password_env {
                        Some(var) => std::env::var(var)
                            .with_context(|| format!("reading the password from ${var}"))?,
                        None => String::new(),
                    };
                    json!({
                        "pkcs12": base64::engine::general_purpose::STANDARD.encode(read(p)?),
                        "password": password,
                    })
                }
                _ => bail!("give --cert and --key, or --p12"),
            };
            body["allow_topic_change"] = json!(allow_topic_change);
            let out = client
                .call("PUT", "/api/v1/pushcert", Some(&body))
                .await?
                .ok()?;
            if cli.json {
                println!("{out:#}");
            } else {
                if let Some(w) = out.get("warning").and_then(Value::as_str) {
                    eprintln!("warning: {w}");
                }
                println!("installed:");
                print_pushcert(&out);
            }
        }
        Command::Apns(ApnsCommand::Show) => {
            let out = client.call("GET", "/api/v1/pushcert", None).await?.ok()?;
            if cli.json {
                println!("{out:#}");
            } else {
                print_pushcert(&out);
            }
        }
        Command::Devices(DevicesCommand::List { after, limit }) => {
            let mut path = format!("/api/v1/devices?limit={limit}");
            if let Some(a) = after {
                path.push_str("&after=");
                path.push_str(&percent_encode(a));
            }
            let out = client.call("GET", &path, None).await?.ok()?;
            if cli.json {
                println!("{out:#}");
            } else {
                let devices = out
                    .get("devices")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                for d in &devices {
                    println!(
                        "{:<40} {:<14} {:<10} {}",
                        text(d, "id"),
                        text(d, "serial_number"),
                        if d.get("enrolled").and_then(Value::as_bool) == Some(true) {
                            "enrolled"
                        } else {
                            "not enrolled"
                        },
                        text(d, "model_name"),
                    );
                }
                if let Some(next) = out.get("next").and_then(Value::as_str) {
                    println!("more: --after {next}");
                }
            }
        }
        Command::Devices(DevicesCommand::Show { udid }) => {
            let path = format!("/api/v1/devices/{}", percent_encode(udid));
            let out = client.call("GET", &path, None).await?.ok()?;
            println!("{out:#}");
        }
        Command::Devices(DevicesCommand::Push { udid }) => {
            let path = format!("/api/v1/devices/{}/push", percent_encode(udid));
            let out = client.call("POST", &path, None).await?.ok()?;
            if cli.json {
                println!("{out:#}");
            } else {
                for p in out
                    .get("push")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
                {
                    println!(
                        "{} {} {}",
                        text(&p, "id"),
                        text(&p, "status"),
                        text(&p, "reason")
                    );
                }
            }
        }
        Command::Dep(cmd) => dep(&client, cmd, cli.json).await?,
        Command::Vpp(cmd) => vpp(&client, cmd, cli.json).await?,
        Command::Sup(cmd) => sup(&client, cmd, cli.json).await?,
        Command::Apns(ApnsCommand::Csr { .. } | ApnsCommand::VendorSign { .. }) => {
            unreachable!("local commands are handled before connecting")
        }
    }
    Ok(())
}

async fn dep(client: &ApiClient, cmd: &DepCommand, json_out: bool) -> anyhow::Result<()> {
    let out = match cmd {
        DepCommand::Certificate => {
            let pem = client
                .call("GET", "/api/v1/dep/certificate", None)
                .await?
                .ok()?;
            print!("{}", pem.as_str().unwrap_or_default());
            return Ok(());
        }
        DepCommand::Token { name, file } => {
            let body = token_upload(read(file)?);
            let path = format!("/api/v1/dep/links/{}", percent_encode(name));
            client.call("PUT", &path, Some(&body)).await?.ok()?
        }
        DepCommand::Links => client.call("GET", "/api/v1/dep/links", None).await?.ok()?,
        DepCommand::Sync { name } => {
            let path = format!("/api/v1/dep/links/{}/sync", percent_encode(name));
            client.call("POST", &path, None).await?.ok()?
        }
        DepCommand::Remove { name } => {
            let path = format!("/api/v1/dep/links/{}", percent_encode(name));
            client.call("DELETE", &path, None).await?.ok()?;
            json!({ "removed": name })
        }
        DepCommand::Devices {
            link,
            assign_status,
            after,
            limit,
        } => {
            let mut path = format!("/api/v1/dep/devices?limit={limit}");
            for (k, v) in [
                ("link", link),
                ("assign_status", assign_status),
                ("after", after),
            ] {
                if let Some(v) = v {
                    path.push_str(&format!("&{k}={}", percent_encode(v)));
                }
            }
            let out = client.call("GET", &path, None).await?.ok()?;
            if !json_out {
                for d in out
                    .get("devices")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
                {
                    println!(
                        "{:<16} {:<14} {:<16} {:<10} {}",
                        text(&d, "serial_number"),
                        text(&d, "link"),
                        text(&d, "model"),
                        text(&d, "assign_status"),
                        if d.get("deleted").and_then(Value::as_bool) == Some(true) {
                            "deleted"
                        } else {
                            text(&d, "profile_status")
                        },
                    );
                }
                if let Some(next) = out.get("next").and_then(Value::as_str) {
                    println!("more: --after {next}");
                }
                return Ok(());
            }
            out
        }
        DepCommand::Assign { serial } => {
            let path = format!("/api/v1/dep/devices/{}/assign", percent_encode(serial));
            client.call("POST", &path, None).await?.ok()?
        }
    };
    if json_out {
        println!("{out:#}");
    } else if let Some(links) = out.get("links").and_then(Value::as_array) {
        for l in links {
            println!(
                "{:<16} {:<24} token expires in {} days, {} devices, last sync {}",
                text(l, "name"),
                text(l, "server_name"),
                l.get("token_expires_in_days")
                    .and_then(Value::as_i64)
                    .unwrap_or(0),
                l["devices"]["total"].as_u64().unwrap_or(0),
                match l.get("last_sync_ok").and_then(Value::as_bool) {
                    Some(true) => "ok".to_owned(),
                    Some(false) => format!("failed: {}", text(l, "last_error")),
                    None => "not yet".to_owned(),
                },
            );
        }
    } else {
        println!("{out:#}");
    }
    Ok(())
}

fn query(base: &str, params: &[(&str, &Option<String>)]) -> String {
    let mut path = base.to_owned();
    for (k, v) in params {
        if let Some(v) = v {
            path.push(if path.contains('?') { '&' } else { '?' });
            path.push_str(&format!("{k}={}", percent_encode(v)));
        }
    }
    path
}

async fn vpp(client: &ApiClient, cmd: &VppCommand, json_out: bool) -> anyhow::Result<()> {
    let out = match cmd {
        VppCommand::Token {
            name,
            file,
            description,
            organization_type,
            take_over,
        } => {
            let text = String::from_utf8(read(file)?).map_err(|_| {
                anyhow::anyhow!("{} is not a .vpptoken (text) file", file.display())
            })?;
            let body = json!({
                "token": text.trim(),
                "description": description,
                "organization_type": organization_type,
                "take_over": take_over,
            });
            let path = format!("/api/v1/vpp/tokens/{}", percent_encode(name));
            client.call("PUT", &path, Some(&body)).await?.ok()?
        }
        VppCommand::Tokens => client.call("GET", "/api/v1/vpp/tokens", None).await?.ok()?,
        VppCommand::Sync { name } => {
            let path = format!("/api/v1/vpp/tokens/{}/sync", percent_encode(name));
            client.call("POST", &path, None).await?.ok()?
        }
        VppCommand::Remove { name } => {
            let path = format!("/api/v1/vpp/tokens/{}", percent_encode(name));
            client.call("DELETE", &path, None).await?.ok()?;
            json!({ "removed": name })
        }
        VppCommand::Assets {
            token,
            after,
            limit,
        } => {
            let limit = Some(limit.to_string());
            let path = query(
                "/api/v1/vpp/assets",
                &[("token", token), ("after", after), ("limit", &limit)],
            );
            let out = client.call("GET", &path, None).await?.ok()?;
            if !json_out {
                for a in out
                    .get("assets")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
                {
                    let count = |k: &str| {
                        a.get(k)
                            .and_then(Value::as_i64)
                            .map_or("unlimited".to_owned(), |n| n.to_string())
                    };
                    println!(
                        "{:<12} {:<5} {:<32} total {:>8}  assigned {:>8}  free {:>8}",
                        text(&a, "adam_id"),
                        text(&a, "pricing_param"),
                        a.get("name").and_then(Value::as_str).unwrap_or("?"),
                        count("total_count"),
                        a.get("assigned_count").and_then(Value::as_i64).unwrap_or(0),
                        count("free_count"),
                    );
                }
                if let Some(next) = out.get("next").and_then(Value::as_str) {
                    println!("more: --after {next}");
                }
                return Ok(());
            }
            out
        }
        VppCommand::Assign {
            token,
            adam_id,
            pricing,
            management_flags,
            udids,
        } => {
            let mut body = json!({ "token": token, "adam_id": adam_id, "pricing_param": pricing, "devices": udids });
            if let Some(f) = management_flags
                .as_deref()
                .and_then(|f| f.parse::<u64>().ok())
            {
                body["management_flags"] = json!(f);
            }
            client
                .call("POST", "/api/v1/vpp/assignments", Some(&body))
                .await?
                .ok()?
        }
        VppCommand::Unassign {
            token,
            adam_id,
            pricing,
            udids,
        } => {
            let body = json!({ "token": token, "adam_id": adam_id, "pricing_param": pricing, "devices": udids });
            client
                .call("POST", "/api/v1/vpp/assignments/remove", Some(&body))
                .await?
                .ok()?
        }
        VppCommand::Assignments {
            token,
            adam_id,
            serial,
            state,
            after,
            limit,
        } => {
            let limit = Some(limit.to_string());
            let path = query(
                "/api/v1/vpp/assignments",
                &[
                    ("token", token),
                    ("adam_id", adam_id),
                    ("serial_number", serial),
                    ("state", state),
                    ("after", after),
                    ("limit", &limit),
                ],
            );
            let out = client.call("GET", &path, None).await?.ok()?;
            if !json_out {
                for a in out
                    .get("assignments")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
                {
                    println!(
                        "{:<12} {:<16} {:<20} {}",
                        text(&a, "adam_id"),
                        text(&a, "serial_number"),
                        text(&a, "state"),
                        text(&a, "detail"),
                    );
                }
                if let Some(next) = out.get("next").and_then(Value::as_str) {
                    println!("more: --after {next}");
                }
                return Ok(());
            }
            out
        }
    };
    if json_out {
        println!("{out:#}");
    } else if let Some(tokens) = out.get("tokens").and_then(Value::as_array) {
        for t in tokens {
            println!(
                "{:<16} {:<24} expires in {} days, {}, last sync {}",
                text(t, "name"),
                text(t, "org_name"),
                t.get("token_expires_in_days")
                    .and_then(Value::as_i64)
                    .unwrap_or(0),
                if t.get("claimed").and_then(Value::as_bool) == Some(true) {
                    "claimed".to_owned()
                } else {
                    format!("not claimed: {}", text(t, "claim_error"))
                },
                match t.get("last_sync_ok").and_then(Value::as_bool) {
                    Some(true) => "ok".to_owned(),
                    Some(false) => format!("failed: {}", text(t, "last_error")),
                    None => "not yet".to_owned(),
                },
            );
        }
    } else {
        println!("{out:#}");
    }
    Ok(())
}

async fn sup(client: &ApiClient, cmd: &SupCommand, json_out: bool) -> anyhow::Result<()> {
    let (out, items) = match cmd {
        SupCommand::Publications { after, limit } => {
            let mut path = format!("/api/v1/software-updates/publications?limit={limit}");
            if let Some(a) = after {
                path.push_str(&format!("&after={a}"));
            }
            let out = client.call("GET", &path, None).await?.ok()?;
            let items = out
                .get("publications")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            (out, items)
        }
        SupCommand::Latest => {
            let out = client
                .call("GET", "/api/v1/software-updates/publications/latest", None)
                .await?
                .ok()?;
            (out.clone(), vec![out])
        }
    };
    if json_out {
        println!("{out:#}");
        return Ok(());
    }
    for p in &items {
        let n = |k: &str| p.get(k).and_then(Value::as_u64).unwrap_or(0);
        let sha = text(p, "catalog_sha256");
        println!(
            "{:<6} {:<24} {} products, {} published, {} superseded, {} expired  sha256 {}…  {}",
            p.get("id").and_then(Value::as_i64).unwrap_or(0),
            text(p, "published_at"),
            n("products"),
            n("packages_published"),
            n("superseded"),
            n("expired"),
            sha.get(..12).unwrap_or(sha),
            text(p, "catalog_url"),
        );
    }
    if let Some(next) = out.get("next_after").and_then(Value::as_i64) {
        println!("more: --after {next}");
    }
    Ok(())
}

/// Builds the API client from the flags and the data directory's defaults.
fn connect(cli: &Cli) -> anyhow::Result<ApiClient> {
    let ca_path = cli
        .ca
        .clone()
        .unwrap_or_else(|| cli.data_dir.join("ca.pem"));
    let ca_pem = std::fs::read_to_string(&ca_path).with_context(|| {
        format!(
            "reading the service's CA certificate {} (give --ca or PIPPIN_CA)",
            ca_path.display()
        )
    })?;
    let token = match &cli.token {
        Some(t) => t.clone(),
        None => {
            let path = cli
                .token_file
                .clone()
                .unwrap_or_else(|| cli.data_dir.join("admin-token"));
            std::fs::read_to_string(&path)
                .with_context(|| {
                    format!(
                        "reading the admin token from {} (give --token, PIPPIN_TOKEN or --token-file)",
                        path.display()
                    )
                })?
                .trim()
                .to_owned()
        }
    };
    if token.is_empty() {
        bail!("the admin token is empty");
    }
    let pin = match &cli.pin_sha256 {
        Some(hex) => Some(parse_pin(hex)?),
        None => None,
    };
    ApiClient::new(&cli.server, token, &ca_pem, pin)
}

fn apns_csr(
    out_dir: &Path,
    subject: &str,
    bits: usize,
    force: bool,
    json_out: bool,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let key_path = out_dir.join("push.key");
    let csr_path = out_dir.join("push.csr");
    if !force {
        for p in [&key_path, &csr_path] {
            if p.exists() {
                bail!("{} exists (use --force to replace it)", p.display());
            }
        }
    }
    eprintln!("generating a {bits}-bit RSA key…");
    let req = pushcsr::new_push_request(subject, bits)?;
    pushcsr::write_new(&key_path, req.key_pem.as_bytes(), true, force)?;
    pushcsr::write_new(&csr_path, req.csr_pem()?.as_bytes(), false, force)?;
    if json_out {
        println!(
            "{}",
            json!({ "key": key_path, "csr": csr_path, "subject": subject })
        );
    } else {
        println!(
            "wrote {} (keep it secret) and {}",
            key_path.display(),
            csr_path.display()
        );
        println!(
            "next: have {} signed by your MDM vendor (or `pippinctl apns vendor-sign`),",
            csr_path.display()
        );
        println!("      upload the signed request at https://identity.apple.com/pushcert,");
        println!(
            "      then `pippinctl apns import --cert MDM_Push.pem --key {}`",
            key_path.display()
        );
    }
    Ok(())
}

/// RFC 4514 subject text from the parts (values escaped).
fn subject(
    cn: &str,
    org: Option<&str>,
    country: Option<&str>,
    email: Option<&str>,
) -> anyhow::Result<String> {
    if let Some(c) = country
        && (c.len() != 2 || !c.chars().all(|ch| ch.is_ascii_alphabetic()))
    {
        bail!("--country must be two letters (got {c:?})");
    }
    let mut parts = vec![format!("CN={}", escape_dn(cn))];
    if let Some(o) = org {
        parts.push(format!("O={}", escape_dn(o)));
    }
    if let Some(c) = country {
        parts.push(format!("C={}", c.to_ascii_uppercase()));
    }
    if let Some(e) = email {
        if !e.is_ascii() || !e.contains('@') {
            bail!("--email must be an ASCII address (got {e:?})");
        }
        // emailAddress (PKCS #9), as an IA5String.
        parts.push(format!("1.2.840.113549.1.9.1={}", escape_dn(e)));
    }
    // RFC 4514 text lists the most specific part first.
    parts.reverse();
    Ok(parts.join(","))
}

/// Escapes an RFC 4514 attribute value.
fn escape_dn(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for (i, c) in v.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=')
            || (i == 0 && (c == '#' || c == ' '))
            || (i + 1 == v.chars().count() && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn parse_pin(hex_text: &str) -> anyhow::Result<[u8; 32]> {
    let clean: String = hex_text.chars().filter(|c| *c != ':').collect();
    if clean.len() != 64 {
        bail!("--pin-sha256 must be 32 bytes of hex");
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&clean[2 * i..2 * i + 2], 16)
            .map_err(|_| anyhow!("--pin-sha256 is not hex"))?;
    }
    Ok(out)
}

fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn print_pushcert(v: &Value) {
    println!("  topic:   {}", text(v, "topic"));
    if v.get("topic_is_placeholder").and_then(Value::as_bool) == Some(true) {
        println!(
            "           (placeholder: no push certificate installed; devices cannot be woken)"
        );
    }
    println!("  source:  {}", text(v, "source"));
    println!("  sender:  {}", text(v, "sender"));
    if let Some(c) = v.get("certificate") {
        println!("  subject: {}", text(c, "subject"));
        println!(
            "  valid:   {} .. {}",
            text(c, "not_before"),
            text(c, "not_after")
        );
        if c.get("expired").and_then(Value::as_bool) == Some(true) {
            println!(
                "  EXPIRED: APNs refuses every push; renew it at https://identity.apple.com/pushcert"
            );
        } else if let Some(days) = c.get("days_left").and_then(Value::as_i64) {
            let note = if days < 30 { " — renew it soon" } else { "" };
            println!("  expires in {days} days{note}");
        }
    }
}

/// The body of `PUT /api/v1/dep/links/{name}` for a token file: as text
/// when it is UTF-8 (S/MIME, PEM), else its bytes in base64 (DER).
fn token_upload(file: Vec<u8>) -> Value {
    match String::from_utf8(file) {
        Ok(text) => json!({ "token": text }),
        Err(e) => json!({
            "token_base64": base64::engine::general_purpose::STANDARD.encode(e.into_bytes()),
        }),
    }
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

fn read_text(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

fn block_on(f: impl Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?
        .block_on(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_files_go_as_text_or_base64() {
        let smime =
            b"MIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime\r\n\r\nMIAGCSqG\r\n";
        assert_eq!(
            token_upload(smime.to_vec()),
            json!({ "token": String::from_utf8(smime.to_vec()).unwrap() })
        );
        let der = vec![0x30, 0x82, 0x01, 0xff, 0xa0, 0x80];
        assert_eq!(token_upload(der), json!({ "token_base64": "MIIB/6CA" }));
    }

    #[test]
    fn subjects_are_escaped_and_ordered() {
        assert_eq!(
            subject(
                "Pippin, push",
                Some("Example"),
                Some("us"),
                Some("it@example.com")
            )
            .unwrap(),
            "1.2.840.113549.1.9.1=it@example.com,C=US,O=Example,CN=Pippin\\, push"
        );
        assert!(subject("x", None, Some("USA"), None).is_err());
        assert!(subject("x", None, None, Some("nobody")).is_err());
        assert_eq!(escape_dn(" #a "), "\\ #a\\ ");
    }

    #[test]
    fn pins() {
        let hex = "AB".repeat(32);
        assert_eq!(parse_pin(&hex).unwrap(), [0xAB; 32]);
        assert!(parse_pin("abcd").is_err());
        assert!(parse_pin(&"zz".repeat(32)).is_err());
    }

    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory as _;
        Cli::command().debug_assert();
    }
}
