//! Decodes an MDM check-in or command report and prints one JSON object.
//!
//! ```text
//! cargo run --example mdm-decode -- [--mdm-signature BASE64] FILE
//! ```
//!
//! The file is the body a device sent (XML or binary plist). Output fields:
//! `kind` (`checkin` or `report`), and where present `message_type`, `status`,
//! `udid`, `user_id`, `enrollment_id`, `topic`, `command_uuid`,
//! `request_type`; with `--mdm-signature`, `signer_sha256`.
//! Undecodable input or a bad signature: one line on stderr, exit code 1.

use std::path::PathBuf;
use std::process::ExitCode;

use apple_mdm_protocol::{Message, decode_message, signature};
use clap::Parser;
use serde_json::{Map, Value as Json};

/// Decode an MDM check-in or command report (XML or binary plist) and print
/// one JSON object describing it.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Args {
    /// The `Mdm-Signature` header value (base64 CMS SignedData) that came with
    /// the body. When given, the signature over the file's exact bytes is
    /// verified and `signer_sha256` (hex SHA-256 of the signer certificate's
    /// DER) is printed; a bad signature is an error.
    #[arg(long, value_name = "BASE64")]
    mdm_signature: Option<String>,

    /// The request body to decode; `-` reads standard input.
    #[arg(value_name = "FILE")]
    file: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("mdm-decode: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> anyhow::Result<Json> {
    let body = if args.file.as_os_str() == "-" {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut v)?;
        v
    } else {
        std::fs::read(&args.file)
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", args.file.display()))?
    };
    let signer = match &args.mdm_signature {
        Some(sig) => Some(signature::verify_mdm_signature(sig, &body)?),
        None => None,
    };
    let msg = decode_message(&body)?;
    let mut out = Map::new();
    out.insert("kind".into(), msg.kind().as_str().into());
    let mut put = |k: &str, v: Option<&str>| {
        if let Some(v) = v {
            out.insert(k.into(), v.into());
        }
    };
    let id = msg.identity();
    match &msg {
        Message::CheckIn(c) => {
            put("message_type", Some(c.message.message_type()));
            put("topic", c.topic.as_deref());
        }
        Message::Report(r) => {
            put("status", Some(r.status.as_str()));
            put("command_uuid", r.command_uuid.as_deref());
            put("request_type", r.request_type.as_deref());
        }
    }
    put("udid", id.udid.as_deref());
    put("user_id", id.user_id.as_deref());
    put("enrollment_id", id.enrollment_id.as_deref());
    put("enrollment_user_id", id.enrollment_user_id.as_deref());
    if let Some(s) = signer {
        out.insert(
            "signer_sha256".into(),
            hex::encode(s.sha256_fingerprint()).into(),
        );
    }
    Ok(Json::Object(out))
}
