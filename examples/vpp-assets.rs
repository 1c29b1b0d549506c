//! Lists the assets (apps and books) of an Apps and Books content token
//! with their license counts — or, with --assignments, every license
//! assignment — one JSON line each, then a summary.
//!
//! ```text
//! cargo run --example vpp-assets -- --token site.vpptoken
//! cargo run --example vpp-assets -- --token sim.vpptoken --base-url http://127.0.0.1:8780/mdm/v2 --assignments
//! ```

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use pippin_examples::{peak_rss_kb, per_second};
use serde_json::json;
use vpp_client::client::{VppClient, VppClientConfig};
use vpp_client::{AssetFilter, AssignmentFilter, ContentToken, PricingParam, WalkEvent};

/// Walk an Apps and Books (VPP) location's assets, following every page to
/// the end (and starting again if the data changes during the walk).
///
/// Prints one JSON object per asset: adam_id, pricing_param, product_type,
/// total_count, assigned_count, available_count, retired_count,
/// device_assignable, revocable, supported_platforms. With --assignments,
/// one per license assignment: adam_id, pricing_param, and serial_number or
/// client_user_id. Records of a walk that had to start again are printed
/// only for the walk that finished.
///
/// The last line is a summary: `summary: true`, `records`, `pages`,
/// `restarts`, `version_id` (for --since next time), `org_name`,
/// `token_expires`, `seconds`, `records_per_second` and `peak_rss_kb`.
///
/// Exit status: 0 when the walk finished; 1 when it failed (the error on
/// stderr, with Apple's error number); 2 for bad arguments.
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
    /// List license assignments instead of assets.
    #[arg(long)]
    assignments: bool,
    /// Only this product (Adam ID).
    #[arg(long, value_name = "ID")]
    adam_id: Option<String>,
    /// Only this pricing: STDQ or PLUS.
    #[arg(long, value_name = "P")]
    pricing: Option<String>,
    /// With --assignments: only this device.
    #[arg(long, value_name = "SERIAL", requires = "assignments")]
    serial: Option<String>,
    /// With --assignments: only what changed since this version id (a
    /// summary's `version_id`).
    #[arg(long, value_name = "VERSION", requires = "assignments")]
    since: Option<String>,
    /// Requests per second at most (Apple allows 15 per token; 0: no
    /// pacing).
    #[arg(long, default_value_t = 15)]
    rate: u32,
    /// Print only the summary line.
    #[arg(long)]
    quiet: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("vpp-assets: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vpp-assets: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let file =
        std::fs::read(&args.token).with_context(|| format!("reading {}", args.token.display()))?;
    let token = ContentToken::parse(&file)?;
    token.check_expiry(std::time::SystemTime::now())?;
    let (org, expires) = (token.org_name.clone(), token.exp_date.clone());
    let mut config = VppClientConfig::default();
    config
        .base_url(&args.base_url)
        .max_requests_per_second(args.rate);
    if let Some(ca) = &args.ca {
        config.extra_ca_pem(
            std::fs::read_to_string(ca).with_context(|| format!("reading {}", ca.display()))?,
        );
    }
    let client = VppClient::new(token, config)?;
    let started = Instant::now();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    // Lines of the generation under way go to a temporary file and are
    // printed when that generation finishes (a restart throws them away),
    // so memory stays flat however long the listing.
    let mut spool = std::io::BufWriter::new(tempfile::tempfile().context("a temporary file")?);
    let mut current = 0u32;
    let mut write_error: Option<std::io::Error> = None;
    let quiet = args.quiet;
    let mut page_sink = |generation: u32, lines: Vec<String>| {
        if quiet || write_error.is_some() {
            return;
        }
        let result = (|| -> std::io::Result<()> {
            if generation != current {
                use std::io::Seek as _;
                spool.flush()?;
                let file = spool.get_mut();
                file.set_len(0)?;
                file.rewind()?;
                current = generation;
            }
            for line in lines {
                writeln!(spool, "{line}")?;
            }
            Ok(())
        })();
        if let Err(e) = result {
            write_error = Some(e);
        }
    };
    let summary = if args.assignments {
        let filter = AssignmentFilter {
            adam_id: args.adam_id.clone(),
            serial_number: args.serial.clone(),
            pricing_param: args.pricing.clone().map(PricingParam),
            since_version_id: args.since.clone(),
            ..AssignmentFilter::default()
        };
        client
            .walk_assignments(filter, |e| match e {
                WalkEvent::Page { generation, items, .. } => page_sink(
                    generation,
                    items
                        .into_iter()
                        .map(|a| {
                            json!({
                                "adam_id": a.adam_id, "pricing_param": a.pricing_param,
                                "serial_number": a.serial_number, "client_user_id": a.client_user_id,
                            })
                            .to_string()
                        })
                        .collect(),
                ),
                other => report(&other),
            })
            .await
    } else {
        let filter = AssetFilter {
            adam_id: args.adam_id.clone(),
            pricing_param: args.pricing.clone().map(PricingParam),
            ..AssetFilter::default()
        };
        client
            .walk_assets(filter, |e| match e {
                WalkEvent::Page { generation, items, .. } => page_sink(
                    generation,
                    items
                        .into_iter()
                        .map(|a| {
                            json!({
                                "adam_id": a.adam_id, "pricing_param": a.pricing_param,
                                "product_type": a.product_type, "total_count": a.total_count,
                                "assigned_count": a.assigned_count, "available_count": a.available_count,
                                "retired_count": a.retired_count, "device_assignable": a.device_assignable,
                                "revocable": a.revocable, "supported_platforms": a.supported_platforms,
                            })
                            .to_string()
                        })
                        .collect(),
                ),
                other => report(&other),
            })
            .await
    }?;
    if let Some(e) = write_error {
        return Err(e).context("spooling the output");
    }
    {
        use std::io::Seek as _;
        let mut file = spool
            .into_inner()
            .map_err(|e| e.into_error())
            .context("spooling the output")?;
        file.rewind()?;
        std::io::copy(&mut file, &mut out).context("writing the output")?;
    }
    let seconds = started.elapsed().as_secs_f64();
    writeln!(
        out,
        "{}",
        json!({
            "summary": true,
            "records": summary.items,
            "pages": summary.pages,
            "restarts": summary.restarts,
            "version_id": summary.version_id,
            "org_name": org,
            "token_expires": expires,
            "seconds": (seconds * 1000.0).round() / 1000.0,
            "records_per_second": per_second(summary.items, seconds),
            "peak_rss_kb": peak_rss_kb(),
        })
    )?;
    out.flush()?;
    Ok(())
}

fn report<T>(event: &WalkEvent<T>) {
    match event {
        WalkEvent::Restarted { reason, .. } => {
            eprintln!("vpp-assets: the data changed during the walk ({reason:?}); starting again")
        }
        WalkEvent::Retrying {
            page_index,
            attempt,
            delay,
            error,
        } => {
            eprintln!(
                "vpp-assets: page {page_index}, try {attempt} failed ({error}); again in {delay:?}"
            )
        }
        _ => {}
    }
}
