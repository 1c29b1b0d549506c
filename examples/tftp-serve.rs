//! Serves a folder over TFTP until killed, logging each transfer.
//!
//! ```text
//! cargo run --release --example tftp-serve -- --root /srv/tftp --listen 127.0.0.1:6969
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use serde_json::json;
use tftp::server::{Server, ServerConfig};
use tftp::{Limits, Retransmit};

/// Serve the files under a folder over TFTP (RFC 1350, with the blksize,
/// timeout, tsize and windowsize options) until killed. Read-only unless
/// --write-dir is given. Prints one JSON line with the bound address when
/// ready; each transfer is logged on standard error when it ends (peer,
/// file, options, bytes, duration, outcome). RUST_LOG sets the log level
/// (default: info). On SIGINT (Ctrl-C) it stops and prints the counters
/// as one JSON line.
#[derive(Parser)]
#[command(version, verbatim_doc_comment)]
struct Args {
    /// The folder to serve. Requests are confined to it: `..`, absolute
    /// names, device names (NUL, CON, ...) and symbolic links leading out
    /// are refused with ERROR 2.
    #[arg(long, value_name = "DIR")]
    root: PathBuf,
    /// The UDP address to listen on (port 69 needs root; port 0 picks a
    /// free one).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:69")]
    listen: SocketAddr,
    /// Accept uploads (WRQ) into this folder (not the root). A file is
    /// written once and never replaced; without this flag every upload is
    /// refused with ERROR 2.
    #[arg(long, value_name = "DIR")]
    write_dir: Option<PathBuf>,
    /// The most bytes in one window (blksize × windowsize): a larger
    /// request gets a smaller window, so a window fits in the client's
    /// receive buffer. The default, 65536, suits default Linux and macOS
    /// buffers; raise it for fast clients with large buffers.
    #[arg(long, value_name = "N", default_value_t = 64 * 1024)]
    max_window_bytes: usize,
    /// The largest block size granted (8–65464).
    #[arg(long, value_name = "N", default_value_t = 65464, value_parser = clap::value_parser!(u16).range(8..=65464))]
    max_blksize: u16,
    /// The largest window granted, in blocks.
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..))]
    max_windowsize: u16,
    /// Retransmissions to a silent peer before the transfer is given up.
    #[arg(long, value_name = "N", default_value_t = Retransmit::default().max_retries)]
    retries: u32,
    /// The most transfers at once (more get ERROR 0).
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    max_transfers: usize,
    /// Take `/name` as `name` under the root (as `in.tftpd --secure` does;
    /// boot firmware often asks for absolute-looking names) instead of
    /// refusing it.
    #[arg(long)]
    strip_leading_slash: bool,
    /// The largest upload accepted, in bytes (with --write-dir).
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_write_size)]
    max_write_size: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(serve(args))
}

async fn serve(args: Args) -> anyhow::Result<()> {
    let mut config = ServerConfig::new(&args.root);
    config
        .listen(args.listen)
        .limits(Limits {
            max_blksize: args.max_blksize,
            max_windowsize: args.max_windowsize,
            max_write_size: args.max_write_size,
            ..Limits::default()
        })
        .max_window_bytes(args.max_window_bytes)
        .retransmit(Retransmit {
            max_retries: args.retries,
            ..Retransmit::default()
        })
        .max_transfers(args.max_transfers)
        .strip_leading_slash(args.strip_leading_slash);
    if let Some(dir) = &args.write_dir {
        config.write_dir(dir);
    }
    let server = Server::bind(config)
        .await
        .with_context(|| format!("serving {} on {}", args.root.display(), args.listen))?;
    let stats = server.stats();
    println!(
        "{}",
        json!({
            "listening": server.local_addr()?.to_string(),
            "root": args.root.display().to_string(),
            "writable": args.write_dir.as_ref().map(|d| d.display().to_string()),
        })
    );
    server
        .run(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    let s = stats.snapshot();
    println!(
        "{}",
        json!({
            "transfers_started": s.transfers_started,
            "transfers_finished": s.transfers_finished,
            "transfers_failed": s.transfers_failed,
            "option_probes": s.option_probes,
            "requests_refused": s.requests_refused,
            "bytes_sent": s.bytes_sent,
            "bytes_received": s.bytes_received,
        })
    );
    Ok(())
}
