//! Runs the DEP service simulator on loopback until killed (or, with
//! `--control-stdin`, until its standard input closes), for trying
//! `dep-sync`, for CI and for benchmarks.
//!
//! ```text
//! cargo run --example dep-simulator -- --devices 1000 --token-json sim-token.json
//! ```

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
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
///
/// With --control-stdin it reads commands from standard input, one per
/// line, answers each with one JSON line, and stops when the input ends:
///   add N               assign N new devices (sync: added) -> {"added": [serials]}
///   modify SERIAL TAG   change a device's asset tag (sync: modified) -> {"modified": true}
///   delete SERIAL       unassign a device (sync: deleted) -> {"deleted": true}
///   serials             -> {"serials": [...]}
///   stats               -> {"requests": N, "sessions": N, ...}
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
    /// Take commands on standard input; stop when it closes.
    #[arg(long)]
    control_stdin: bool,
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
    let sim = Arc::new(
        Simulator::start_on(config, args.listen)
            .await
            .context("starting the simulator")?,
    );
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
    if !args.control_stdin {
        std::future::pending::<()>().await;
    }
    let controlled = sim.clone();
    tokio::task::spawn_blocking(move || control(&controlled))
        .await
        .context("the control loop")??;
    Ok(())
}

/// Answers the commands on standard input until it ends.
fn control(sim: &Simulator) -> anyhow::Result<()> {
    for line in std::io::stdin().lock().lines() {
        let line = line.context("reading standard input")?;
        let words: Vec<&str> = line.split_whitespace().collect();
        let answer = match words.as_slice() {
            [] => continue,
            ["add", n] => match n.parse::<usize>() {
                Ok(n) => json!({ "added": sim.add_devices(n.min(100_000)) }),
                Err(e) => json!({ "error": format!("add N: {e}") }),
            },
            ["modify", serial, tag] => json!({ "modified": sim.modify_device(serial, tag) }),
            ["delete", serial] => json!({ "deleted": sim.delete_device(serial) }),
            ["serials"] => json!({ "serials": sim.serials() }),
            ["stats"] => {
                let s = sim.stats();
                json!({
                    "requests": s.requests,
                    "sessions": s.sessions,
                    "unauthorized": s.unauthorized,
                    "forbidden": s.forbidden,
                    "throttled": s.throttled,
                })
            }
            _ => json!({ "error": format!("unknown command {line:?}") }),
        };
        println!("{answer}");
    }
    Ok(())
}
