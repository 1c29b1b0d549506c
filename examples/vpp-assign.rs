//! Gives (or takes back) licenses of an app to devices by serial number
//! and waits for Apple to finish the job, printing its outcome.
//!
//! ```text
//! cargo run --example vpp-assign -- --token site.vpptoken --adam-id 361309726 --serial C02XK0AAJGH5 --serial C02XK0AAJGH6
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use serde_json::json;
use vpp_client::client::{VppClient, VppClientConfig};
use vpp_client::{
    AssetRef, ContentToken, EventOutcome, EventState, ManageAssetsRequest, PricingParam,
};

/// Associate licenses of one app with devices (POST assets/associate), or
/// disassociate them, then follow the job (status?eventId=) until Apple
/// reports it COMPLETE or FAILED.
///
/// Prints one JSON object: event_id, event_status (COMPLETE, FAILED, or
/// GAVE_UP), event_type, num_completed, num_requested, seconds, and
/// `devices`: each serial number with `ok` true or false and, when it
/// failed, error_number and error_message (9709: not enough licenses).
/// More than the service's per-request limit of serial numbers (1000) are
/// sent as several jobs, each followed in turn; the output then has one
/// object per job.
///
/// Exit status: 0 when every device succeeded; 3 when some failed; 1 when
/// the request was refused or the job could not be followed (the error on
/// stderr); 2 for bad arguments.
#[derive(Parser)]
#[command(version, about, verbatim_doc_comment)]
struct Args {
    /// The content token file (.vpptoken) from Apple Business Manager.
    #[arg(long, value_name = "FILE")]
    token: PathBuf,
    /// The service: Apple's by default, or a test server (http:// only on
    /// loopback).
    #[arg(long, value_name = "URL", default_value = vpp_client::DEFAULT_BASE_URL)]
    base_url: String,
    /// Extra CA certificates, PEM, trusted besides the system's.
    #[arg(long, value_name = "PEM")]
    ca: Option<PathBuf>,
    /// The app (its App Store id).
    #[arg(long, value_name = "ID")]
    adam_id: String,
    /// Its pricing parameter.
    #[arg(long, value_name = "P", default_value = "STDQ")]
    pricing: String,
    /// A device's serial number (repeat for several).
    #[arg(long = "serial", value_name = "S", required = true)]
    serials: Vec<String>,
    /// Take the licenses back instead.
    #[arg(long)]
    disassociate: bool,
    /// Seconds between status queries while the job is pending (Apple
    /// asks for at least 30; a simulator may allow less).
    #[arg(long, default_value_t = 30)]
    poll_seconds: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("vpp-assign: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(3),
        Err(e) => {
            eprintln!("vpp-assign: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<bool> {
    let file =
        std::fs::read(&args.token).with_context(|| format!("reading {}", args.token.display()))?;
    let token = ContentToken::parse(&file)?;
    token.check_expiry(std::time::SystemTime::now())?;
    let mut config = VppClientConfig::default();
    config.base_url(&args.base_url);
    let poll = Duration::from_secs(args.poll_seconds.max(1));
    config.event.polling(poll.min(Duration::from_secs(5)), poll);
    if let Some(ca) = &args.ca {
        config.extra_ca_pem(
            std::fs::read_to_string(ca).with_context(|| format!("reading {}", ca.display()))?,
        );
    }
    let client = VppClient::new(token, config)?;
    let limit = client
        .service_config()
        .await
        .map(|c| c.limits().max_serial_numbers)
        .unwrap_or(1000);
    let mut all_ok = true;
    for chunk in args.serials.chunks(limit) {
        let request = ManageAssetsRequest {
            assets: vec![AssetRef {
                adam_id: args.adam_id.clone(),
                pricing_param: PricingParam(args.pricing.clone()),
            }],
            serial_numbers: chunk.to_vec(),
            client_user_ids: Vec::new(),
        };
        let started = Instant::now();
        let send = || async {
            if args.disassociate {
                client.disassociate(request.clone()).await
            } else {
                client.associate(request.clone()).await
            }
        };
        let event = send().await?;
        let outcome = client.wait_event(&event.event_id, send).await;
        let seconds = (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;
        let status = match outcome {
            EventOutcome::Finished(s) => s,
            EventOutcome::GaveUp(e) => {
                println!(
                    "{}",
                    json!({
                        "event_id": event.event_id, "event_status": "GAVE_UP", "error": e.to_string(), "seconds": seconds,
                    })
                );
                return Err(e).context("following the job");
            }
        };
        let failed: std::collections::HashMap<&str, &vpp_client::ErrorResponse> =
            status.failed_serial_numbers().collect();
        let devices: Vec<_> = chunk
            .iter()
            .map(|s| match failed.get(s.as_str()) {
                Some(f) => json!({ "serial_number": s, "ok": false, "error_number": f.error_number, "error_message": f.error_message }),
                None => json!({ "serial_number": s, "ok": true }),
            })
            .collect();
        all_ok &= status.event_status == EventState::Complete && failed.is_empty();
        println!(
            "{}",
            json!({
                "event_id": event.event_id,
                "event_status": status.event_status,
                "event_type": status.event_type,
                "num_completed": status.num_completed,
                "num_requested": status.num_requested,
                "seconds": seconds,
                "devices": devices,
            })
        );
    }
    Ok(all_ok)
}
