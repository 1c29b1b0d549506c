//! Downloads one file over TFTP and prints a JSON summary.
//!
//! ```text
//! cargo run --release --example tftp-get -- tftp://127.0.0.1:6969/boot/booter --blksize 1468 --windowsize 16 --tsize -o booter
//! ```

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use serde_json::json;
use tftp::client::{ClientConfig, get_to_file};
use tftp::packet::Mode;

/// Download one file from a TFTP server (RFC 1350 with the option
/// extensions of RFC 2347, 2348, 2349 and 7440) and print one JSON line:
/// `bytes`, `seconds`, `mb_per_s` (10^6 bytes per second), the options the
/// server agreed to (`blksize`, `windowsize`, `tsize`, `timeout_s`,
/// `options_acknowledged`), and the counts of blocks, retransmissions and
/// duplicates. Exits with status 1 and a message on standard error if the
/// transfer fails (the partial file is removed).
#[derive(Parser)]
#[command(version, verbatim_doc_comment)]
struct Args {
    /// What to fetch: tftp://HOST[:PORT]/PATH. HOST is a name, an IPv4
    /// address or an [IPv6] address; PORT defaults to 69; PATH is sent as
    /// is, without the leading slash (%XX escapes are decoded; a `//` after
    /// the host sends an absolute name).
    url: String,
    /// The file to write (created or truncated).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: PathBuf,
    /// Ask for this block size, 8–65464 bytes (RFC 2348). Without it:
    /// 512-byte blocks, or what the server grants if other options are asked.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(8..=65464))]
    blksize: Option<u16>,
    /// Ask for this window, 1–65535 blocks per acknowledgment (RFC 7440).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    windowsize: Option<u16>,
    /// Ask for the transfer size (RFC 2349); the server announces it.
    #[arg(long)]
    tsize: bool,
    /// Ask the server to retransmit after this many seconds, 1–255
    /// (RFC 2349), and use the same timeout here.
    #[arg(long, value_name = "S", value_parser = clap::value_parser!(u8).range(1..))]
    timeout: Option<u8>,
    /// Retransmissions before giving up.
    #[arg(long, value_name = "N", default_value_t = 5)]
    retries: u32,
    /// Transfer in netascii mode (line endings converted) instead of octet.
    #[arg(long)]
    netascii: bool,
    /// Fail instead of retrying once without options when the server
    /// refuses them (ERROR 8).
    #[arg(long)]
    no_fallback: bool,
}

/// Splits `tftp://HOST[:PORT]/PATH` into a socket address and the name to
/// request.
fn parse_url(url: &str) -> anyhow::Result<(SocketAddr, String)> {
    let rest = url
        .strip_prefix("tftp://")
        .context("the URL must start with tftp://")?;
    let (authority, path) = rest
        .split_once('/')
        .context("the URL has no path: tftp://HOST[:PORT]/PATH")?;
    let with_port = if authority.ends_with(']') || !authority.contains(':') {
        format!("{authority}:69")
    } else {
        authority.to_owned()
    };
    let addr = with_port
        .to_socket_addrs()
        .with_context(|| format!("resolving {authority}"))?
        .next()
        .with_context(|| format!("{authority} has no address"))?;
    let name = percent_decode(path)?;
    anyhow::ensure!(!name.is_empty(), "the URL names no file");
    Ok((addr, name))
}

fn percent_decode(s: &str) -> anyhow::Result<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3).context("a truncated %XX escape")?;
            out.push(u8::from_str_radix(hex, 16).context("a bad %XX escape")?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).context("the path is not UTF-8")
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (server, name) = parse_url(&args.url)?;
    let mut config = ClientConfig::default();
    if let Some(n) = args.blksize {
        config.blksize(n);
    }
    if let Some(n) = args.windowsize {
        config.windowsize(n);
    }
    if let Some(s) = args.timeout {
        config.timeout_option(s);
    }
    config
        .tsize(args.tsize)
        .max_retries(args.retries)
        .fallback_without_options(!args.no_fallback);
    if args.netascii {
        config.mode(Mode::Netascii);
    }
    let t = get_to_file(server, &name, &args.output, &config)
        .await
        .with_context(|| format!("downloading {name} from {server}"))?;
    let seconds = t
        .elapsed
        .as_secs_f64()
        .max(Duration::from_micros(1).as_secs_f64());
    println!(
        "{}",
        json!({
            "server": server.to_string(),
            "file": name,
            "output": args.output.display().to_string(),
            "bytes": t.bytes,
            "seconds": seconds,
            "mb_per_s": t.bytes as f64 / seconds / 1e6,
            "options_acknowledged": t.options_acknowledged,
            "blksize": t.params.blksize,
            "windowsize": t.params.windowsize,
            "tsize": t.params.tsize,
            "timeout_s": t.params.timeout.as_secs_f64(),
            "blocks": t.summary.blocks,
            "retransmitted": t.summary.retransmitted,
            "duplicates": t.summary.duplicates,
        })
    );
    Ok(())
}
