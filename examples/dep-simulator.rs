//! Runs the DEP service simulator on loopback until killed, for trying
//! `dep-sync` and for benchmarks.
//!
//! ```text
//! cargo run --example dep-simulator -- --devices 1000 --token-json sim-token.json
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use dep_client::simulator::{Simulator, SimulatorConfig};
use serde_json::json;

/// Serve a simulated Apple DEP service (Automated Device Enrollment API)
/// over plain HTTP on a loopback address, with generated devices, until
/// killed. Prints one JSON line: `base_url` and, with --token-json, the
/// file it wrote the matching server token to (as `dep-sync --token-json`
/// reads it).
#[derive(Parser)]
#[command(version, about, verbatim_doc_comment)]
struct Args {
    /// Devices assigned to the simulated MDM server.
    #[arg(long, default_value_t = 100)]
    devices: usize,
    /// Where to listen (a loopback address; port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// The seed of the generated devices.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Session token lifetime, seconds.
    #[arg(long, default_value_t = 180)]
    session_ttl: u64,
    /// Write the server token for the simulator to this file (JSON).
    #[arg(long, value_name = "FILE")]
    token_json: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.listen.ip().is_loopback(),
        "listen on a loopback address"
    );
    let mut config = SimulatorConfig::default();
    config
        .devices(args.devices)
        .seed(args.seed)
        .session_ttl(Duration::from_secs(args.session_ttl));
    let sim = Simulator::start_on(config, args.listen)
        .await
        .context("starting the simulator")?;
    if let Some(path) = &args.token_json {
        std::fs::write(path, serde_json::to_string_pretty(&sim.server_token())?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    println!(
        "{}",
        json!({
            "base_url": sim.base_url(),
            "devices": sim.device_count(),
            "token_json": args.token_json.as_ref().map(|p| p.display().to_string()),
        })
    );
    std::future::pending::<()>().await;
    Ok(())
}
