//! Runs the Apps and Books service simulator on loopback until killed, for
//! trying `vpp-assets` and `vpp-assign` and for benchmarks.
//!
//! ```text
//! cargo run --example vpp-simulator -- --assets 100 --assignments 1000 --token-out sim.vpptoken
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use clap::Parser;
use serde_json::json;
use vpp_client::simulator::{AssetSpec, Simulator, SimulatorConfig};

/// Serve a simulated Apple Apps and Books for Organizations service (the
/// v2 API and a metadata lookup) over plain HTTP on a loopback address,
/// until killed. One location with --assets apps (Adam IDs from
/// 100000000, 1,000,000 licenses each) and --assignments device licenses
/// spread over them. Prints one JSON line: `base_url`, `lookup_url`, and the
/// file the content token was written to.
#[derive(Parser)]
#[command(version, about, verbatim_doc_comment)]
struct Args {
    /// Apps in the location.
    #[arg(long, default_value_t = 10)]
    assets: usize,
    /// Device licenses already assigned, spread over the apps.
    #[arg(long, default_value_t = 0)]
    assignments: usize,
    /// Records per page.
    #[arg(long, default_value_t = 1000)]
    page_size: usize,
    /// Requests per second per token before 9646 (0: no limit).
    #[arg(long, default_value_t = 15)]
    rate: u32,
    /// Where to listen (a loopback address; port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Write the content token (.vpptoken) here.
    #[arg(long, value_name = "FILE")]
    token_out: PathBuf,
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
        .page_size(args.page_size.max(1))
        .max_requests_per_second(args.rate);
    let sim = Simulator::start_on(args.listen, config)
        .await
        .context("starting the simulator")?;
    let loc = sim.add_location("Simulated library");
    let n = args.assets.max(1);
    for i in 0..n {
        sim.add_asset(
            loc,
            AssetSpec::app((100_000_000 + i).to_string(), 1_000_000),
        );
    }
    let per_app = args.assignments.div_ceil(n);
    let mut left = args.assignments;
    for i in 0..n {
        let k = per_app.min(left);
        left -= k;
        let adam = (100_000_000 + i).to_string();
        sim.seed_assignments(loc, &adam, (0..k).map(|j| format!("SIM{i:05}D{j:07}")));
    }
    let token = sim.issue_token(
        loc,
        "Simulated Org",
        SystemTime::now() + Duration::from_secs(365 * 86_400),
    );
    std::fs::write(&args.token_out, &token)
        .with_context(|| format!("writing {}", args.token_out.display()))?;
    println!(
        "{}",
        json!({
            "base_url": sim.base_url(),
            "lookup_url": sim.lookup_url(),
            "token": args.token_out.display().to_string(),
            "assets": n,
            "assignments": args.assignments,
        })
    );
    std::future::pending::<()>().await;
    Ok(())
}
