//! Sends an MDM push to one device through APNs and prints the outcome.
//!
//! ```text
//! apns-push --cert PEM --key PEM [--p12 FILE --password P] --endpoint URL [--ca PEM]
//!     --token HEX --push-magic UUID [--topic T] [--count N]
//!
//! cargo run --example apns-push -- --cert push.pem --key push.key \
//!     --endpoint production --token HEX --push-magic UUID [--topic T] [--count N]
//! cargo run --example apns-push -- --p12 push.p12 --password-env P12_PASSWORD \
//!     --endpoint sandbox --token HEX --push-magic UUID
//! ```
//!
//! One JSON object per push on stdout: `status` is the HTTP status APNs
//! answered with, or `null` with an `error` when there was no answer. With
//! `--count`, a last line (`"summary": true`) sums them up with the rate in
//! pushes per second.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use apns::client::{ApnsClient, ApnsConfig, PRODUCTION, PushResult, SANDBOX};
use apns::{PushCertificate, PushRequest, RetryPolicy, Verdict};
use clap::Parser;
use serde_json::{Map, Value, json};

/// Send an MDM push (`{"mdm":"PUSH_MAGIC"}`) to one device through APNs,
/// with the MDM push certificate as TLS client identity, and print APNs's
/// answer as one JSON object: `status` (the numeric HTTP status, or null
/// when there was no answer, with `error` saying why), `apns_id`, `reason`
/// and `timestamp` when APNs gave them, and `verdict` (delivered,
/// retry_later, drop_token, fix_certificate, bad_request).
///
/// The push certificate comes either as two PEM files (--cert and --key;
/// the key unencrypted RSA, PKCS #1 or PKCS #8) or as one PKCS #12 file
/// (--p12, as Keychain Access or `openssl pkcs12 -export` writes it) with
/// its password: --password P, or --password-env VAR naming an environment
/// variable that holds it. A password given with --password is visible to
/// other users in `ps` and stays in shell history; prefer --password-env.
///
/// Exit status: 0 when every push was delivered, 1 when one was not or the
/// push could not be attempted, 2 for bad arguments.
#[derive(Parser)]
#[command(version, about, verbatim_doc_comment)]
struct Args {
    /// The MDM push certificate, PEM (its subject UID is the topic).
    #[arg(
        long,
        value_name = "PEM",
        required_unless_present = "p12",
        requires = "key"
    )]
    cert: Option<PathBuf>,
    /// The push certificate's private key, PEM, unencrypted.
    #[arg(long, value_name = "PEM", requires = "cert")]
    key: Option<PathBuf>,
    /// The push certificate and its key as one PKCS #12 file (.p12, .pfx),
    /// instead of --cert and --key.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["cert", "key"])]
    p12: Option<PathBuf>,
    /// The PKCS #12 file's password [default: empty]. Visible to other
    /// users in `ps` and kept in shell history: prefer --password-env.
    #[arg(
        long,
        value_name = "P",
        requires = "p12",
        conflicts_with = "password_env"
    )]
    password: Option<String>,
    /// The name of an environment variable holding the PKCS #12 file's
    /// password (kept out of `ps` and shell history).
    #[arg(long, value_name = "VAR", requires = "p12")]
    password_env: Option<String>,
    /// Where to send: `production` (api.push.apple.com), `sandbox`
    /// (api.sandbox.push.apple.com) or an `https://HOST:PORT` URL.
    #[arg(
        long,
        value_name = "URL|production|sandbox",
        default_value = "production"
    )]
    endpoint: String,
    /// Extra CA certificates, PEM, trusted for the endpoint's server
    /// certificate besides the system's (a private or test endpoint).
    #[arg(long, value_name = "PEM")]
    ca: Option<PathBuf>,
    /// The device's push token in hex, from its TokenUpdate check-in
    /// (`push_token` in the admin API's device JSON).
    #[arg(long, value_name = "HEX", value_parser = parse_token)]
    token: Token,
    /// The device's PushMagic, from its TokenUpdate check-in.
    #[arg(long, value_name = "UUID")]
    push_magic: String,
    /// The apns-topic header [default: the certificate's topic].
    #[arg(long, value_name = "TOPIC")]
    topic: Option<String>,
    /// Send the push this many times, concurrently over one HTTP/2
    /// connection, and print a summary line with pushes per second.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    count: Option<u32>,
}

/// A device token (a named type, so that clap takes one value, not many).
type Token = Vec<u8>;

fn parse_token(s: &str) -> Result<Token, String> {
    match hex::decode(s.trim()) {
        Ok(t) if !t.is_empty() => Ok(t),
        Ok(_) => Err("the token is empty".to_owned()),
        Err(e) => Err(format!("not hex: {e}")),
    }
}

fn verdict_name(v: Verdict) -> &'static str {
    match v {
        Verdict::Delivered => "delivered",
        Verdict::RetryLater { .. } => "retry_later",
        Verdict::DropToken { .. } => "drop_token",
        Verdict::FixCertificate => "fix_certificate",
        Verdict::BadRequest => "bad_request",
    }
}

fn report(result: &PushResult) -> Value {
    let mut o = Map::new();
    match &result.outcome {
        Ok(r) => {
            o.insert("status".into(), json!(r.status));
            o.insert("apns_id".into(), json!(r.apns_id));
            if let Some(reason) = &r.reason {
                o.insert("reason".into(), json!(reason.as_str()));
            }
            if let Some(t) = r.timestamp {
                o.insert("timestamp".into(), json!(t));
            }
        }
        Err(e) => {
            o.insert("status".into(), Value::Null);
            o.insert("apns_id".into(), Value::Null);
            o.insert("error".into(), json!(e.to_string()));
        }
    }
    o.insert(
        "verdict".into(),
        json!(verdict_name(result.verdict(0, &RetryPolicy::default()))),
    );
    Value::Object(o)
}

/// The push certificate from --cert/--key or from --p12 with its password.
fn load_certificate(args: &Args) -> anyhow::Result<PushCertificate> {
    let read = |p: &PathBuf| {
        std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))
    };
    if let Some(p12) = &args.p12 {
        let password = match (&args.password, &args.password_env) {
            (Some(p), _) => p.clone(),
            (None, Some(var)) => {
                std::env::var(var).with_context(|| format!("reading the password from ${var}"))?
            }
            (None, None) => String::new(),
        };
        let bytes = std::fs::read(p12).with_context(|| format!("reading {}", p12.display()))?;
        return PushCertificate::from_pkcs12(&bytes, &password)
            .with_context(|| format!("loading the push certificate from {}", p12.display()));
    }
    match (&args.cert, &args.key) {
        (Some(cert), Some(key)) => PushCertificate::from_pem(&read(cert)?, &read(key)?)
            .context("loading the push certificate"),
        _ => anyhow::bail!("give --cert and --key, or --p12"),
    }
}

async fn run(args: Args) -> anyhow::Result<bool> {
    let read = |p: &PathBuf| {
        std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))
    };
    let certificate = load_certificate(&args)?;
    let endpoint = match args.endpoint.as_str() {
        "production" => PRODUCTION.to_owned(),
        "sandbox" => SANDBOX.to_owned(),
        url => url.to_owned(),
    };
    let mut config = ApnsConfig::default();
    config.endpoint(endpoint);
    if let Some(ca) = &args.ca {
        config.extra_ca_pem(read(ca)?);
    }
    let client = ApnsClient::new(&certificate, config).context("setting up the APNs client")?;
    let topic = args.topic.unwrap_or_else(|| certificate.topic().to_owned());
    let push = PushRequest::new(args.token, args.push_magic, topic);
    let n = args.count.unwrap_or(1);
    let started = Instant::now();
    let results = client.push_many((0..n).map(|_| push.clone())).await;
    let elapsed = started.elapsed();
    let mut delivered = 0u32;
    for r in &results {
        if r.verdict(0, &RetryPolicy::default()) == Verdict::Delivered {
            delivered += 1;
        }
        println!("{}", report(r));
    }
    if args.count.is_some() {
        let seconds = elapsed.as_secs_f64();
        println!(
            "{}",
            json!({
                "summary": true,
                "pushes": n,
                "delivered": delivered,
                "failed": n - delivered,
                "seconds": seconds,
                "pushes_per_second": if seconds > 0.0 { f64::from(n) / seconds } else { 0.0 },
            })
        );
    }
    Ok(delivered == n)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("apns-push: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("apns-push: {e:#}");
            ExitCode::FAILURE
        }
    }
}
