//! Fetches and syncs the devices of a DEP server token, printing one JSON
//! line per device and a summary.
//!
//! ```text
//! cargo run --example dep-sync -- --base-url https://mdmenrollment.apple.com --token-json token.json
//! cargo run --example dep-sync -- --simulate 1000
//! ```

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use dep_client::client::{ClientConfig, DepClient};
use dep_client::simulator::{Simulator, SimulatorConfig};
use dep_client::{CursorState, Phase, ServerToken, SyncConfig, SyncEvent, SyncMachine};
use serde_json::{Value, json};

/// Sign in to Apple's Automated Device Enrollment (DEP) service with a
/// server token, fetch every device assigned to the MDM server (or, from
/// --cursor, what changed since), then sync until caught up.
///
/// Prints one JSON object per device, in the service's order: its record
/// (serial_number, model, description, color, device_family, os,
/// profile_status, profile_uuid, ...; op_type and op_date for synced
/// changes) plus `phase` (fetch or sync). The last line is a summary:
/// `summary: true`, `cursor` and `cursor_phase` (keep them for the next
/// run), `devices`, `fetched`, `added`, `modified`, `deleted`, `pages`,
/// `requests`, `retries`, `resets`, `seconds`, `devices_per_second` and
/// `peak_rss_kb` (this process's peak memory, where /proc tells it).
///
/// Exit status: 0 when caught up; 1 when the pass failed (the error on
/// stderr); 2 for bad arguments.
#[derive(Parser)]
#[command(version, about, verbatim_doc_comment)]
struct Args {
    /// The DEP service: https://mdmenrollment.apple.com, or a test server
    /// (http:// only on loopback).
    #[arg(long, value_name = "URL", default_value = dep_client::DEFAULT_BASE_URL)]
    base_url: String,
    /// The decrypted server token, JSON (as `dep-token` prints it).
    #[arg(long, value_name = "FILE", required_unless_present = "simulate")]
    token_json: Option<PathBuf>,
    /// Continue from this cursor (from an earlier summary line).
    #[arg(long, value_name = "C")]
    cursor: Option<String>,
    /// With --cursor: the fetch had finished (`cursor_phase` sync).
    #[arg(long, requires = "cursor")]
    synced: bool,
    /// Extra CA certificates, PEM, trusted besides the system's.
    #[arg(long, value_name = "PEM")]
    ca: Option<PathBuf>,
    /// Devices per page (1 to 1000).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=1000))]
    limit: u32,
    /// Start a simulated DEP service with N devices in this process and
    /// sync from it (ignores --base-url and --token-json).
    #[arg(long, value_name = "N")]
    simulate: Option<usize>,
    /// Print only the summary line.
    #[arg(long)]
    quiet: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("dep-sync: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dep-sync: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let mut config = ClientConfig::default();
    let _simulator;
    let token = match args.simulate {
        Some(n) => {
            let sim = Simulator::start(SimulatorConfig::default().devices(n).clone())
                .await
                .context("starting the simulator")?;
            config.base_url(sim.base_url());
            let token = sim.server_token();
            _simulator = sim;
            token
        }
        None => {
            let path = args
                .token_json
                .as_ref()
                .context("--token-json is required")?;
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            config.base_url(&args.base_url);
            ServerToken::from_json(&text).context("reading the token")?
        }
    };
    if let Some(ca) = &args.ca {
        config.extra_ca_pem(
            std::fs::read_to_string(ca).with_context(|| format!("reading {}", ca.display()))?,
        );
    }
    let client = DepClient::new(token.credentials, config)?;
    let state = match (args.cursor, args.synced) {
        (Some(c), true) => CursorState::synced(c),
        (Some(c), false) => CursorState::resume(c),
        (None, _) => CursorState::default(),
    };
    let mut sync_config = SyncConfig::default();
    sync_config.limit(args.limit);
    let mut machine = SyncMachine::new(sync_config, state, Instant::now());
    let started = Instant::now();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut fetched = 0u64;
    let mut write_error = None;
    let result = client
        .sync_all(&mut machine, |event| match event {
            SyncEvent::Devices { phase, devices } => {
                if phase == Phase::Fetch {
                    fetched += devices.len() as u64;
                }
                if args.quiet || write_error.is_some() {
                    return;
                }
                for d in devices {
                    let mut v = serde_json::to_value(&d).unwrap_or(Value::Null);
                    v["phase"] = json!(phase);
                    if let Err(e) = writeln!(out, "{v}") {
                        write_error = Some(e);
                        return;
                    }
                }
            }
            SyncEvent::CursorReset { code } => {
                eprintln!("dep-sync: cursor reset ({code}); fetching again")
            }
            SyncEvent::Retrying {
                attempt,
                delay,
                error,
            } => {
                eprintln!("dep-sync: retry {attempt} in {delay:?}: {error}")
            }
            _ => {}
        })
        .await;
    if let Some(e) = write_error {
        return Err(e).context("writing the output");
    }
    let stats = result?;
    let seconds = started.elapsed().as_secs_f64();
    let cursor = machine.cursor();
    writeln!(
        out,
        "{}",
        json!({
            "summary": true,
            "cursor": cursor.cursor,
            "cursor_phase": cursor.phase,
            "devices": stats.devices,
            "fetched": fetched,
            "added": stats.added,
            "modified": stats.modified,
            "deleted": stats.deleted,
            "pages": stats.pages,
            "requests": stats.requests,
            "retries": stats.retries,
            "resets": stats.resets,
            "seconds": (seconds * 1000.0).round() / 1000.0,
            "devices_per_second": if seconds > 0.0 { (stats.devices as f64 / seconds).round() } else { 0.0 },
            "peak_rss_kb": peak_rss_kb(),
        })
    )?;
    out.flush()?;
    // Give the connection pool a moment to close cleanly.
    tokio::time::sleep(Duration::from_millis(1)).await;
    Ok(())
}

/// `VmHWM` of /proc/self/status, in KiB.
fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
