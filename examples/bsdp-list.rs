//! Asks a NetBoot (BSDP) server which images it offers, as a Mac's firmware
//! does, and optionally selects one.
//!
//! ```text
//! sudo cargo run --example bsdp-list -- --server 192.168.56.1:67
//! cargo run --example bsdp-list -- --server 127.0.0.1:10067 --reply-port 10068 --select 0x810003e9
//! ```

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket as StdUdpSocket};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use bsdp::client::BsdpClient;
use bsdp::{Ack, BsdpMessageType, ImageId, InformRequest};
use clap::Parser;
use serde_json::{Value, json};

/// Send BSDP INFORM[LIST] (and, with --select, INFORM[SELECT]) to a NetBoot
/// server and print what it answers, one JSON object per line.
///
/// The INFORM goes from a UDP socket bound to CLIENT-IP:REPLY-PORT; the
/// server answers to that address (BSDP servers send to the client's own
/// address, `ciaddr`, on its reply port).
///
/// Output, one line each:
///   {"type":"list", "server", "server_identifier", "priority",
///    "default_image", "selected_image", "images"}
///   {"type":"image", "id", "index", "name", "install", "kind", "default"}
///     for every image offered (ids as 0x-prefixed hex, kind as a number:
///     0 Mac OS 9, 1 Mac OS X, 2 Mac OS X Server, 3 diagnostics)
///   {"type":"select", "id", "result":"ack"|"failed", "boot_file",
///    "tftp_server", "root_path", "machine_name"}  with --select
///
/// Exit status: 0 when the server answered (even with ACK[FAILED]); 1 when
/// it did not answer in time or the socket failed; 2 for bad arguments.
#[derive(Parser)]
#[command(version, about, verbatim_doc_comment)]
struct Args {
    /// The BSDP server, IPv4 address and port (67 for a real server).
    #[arg(long, value_name = "IP:PORT")]
    server: SocketAddrV4,
    /// The port replies come back to, bound locally. 68 (the default) needs
    /// root; servers refuse ports of 1024 and up unless configured to allow
    /// them (test servers on loopback).
    #[arg(long, value_name = "P", default_value_t = 68)]
    reply_port: u16,
    /// This machine's address, sent as ciaddr and bound; by default the
    /// address the system would use to reach --server.
    #[arg(long, value_name = "IP")]
    client_ip: Option<Ipv4Addr>,
    /// The model (system identifier) to claim, for servers that filter by
    /// model.
    #[arg(long, value_name = "MODEL", default_value = "MacBookPro11,2")]
    model: String,
    /// The architecture to claim: i386, ppc, arm64...
    #[arg(long, value_name = "ARCH", default_value = "i386")]
    arch: String,
    /// The Ethernet address to claim (aa:bb:cc:dd:ee:ff), for servers that
    /// filter by MAC address.
    #[arg(long, value_name = "MAC", default_value = "02:00:00:00:00:01", value_parser = parse_mac)]
    mac: [u8; 6],
    /// After the list, select this image: its 32-bit id as printed in the
    /// list (0x810003e9) or in decimal.
    #[arg(long, value_name = "ID", value_parser = parse_id)]
    select: Option<ImageId>,
    /// Largest reply accepted, in bytes (sent as option 57 and sub-option 12).
    #[arg(long, value_name = "BYTES", default_value_t = 1500)]
    max_size: u16,
    /// Seconds to wait for each reply.
    #[arg(long, value_name = "SECONDS", default_value_t = 5)]
    timeout: u64,
}

fn parse_mac(s: &str) -> Result<[u8; 6], String> {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    let mut mac = [0u8; 6];
    if parts.len() != 6 {
        return Err(format!(
            "`{s}`: expected six hex bytes like aa:bb:cc:dd:ee:ff"
        ));
    }
    for (b, p) in mac.iter_mut().zip(parts) {
        *b = u8::from_str_radix(p, 16).map_err(|_| format!("`{s}`: `{p}` is not a hex byte"))?;
    }
    Ok(mac)
}

fn parse_id(s: &str) -> Result<ImageId, String> {
    let n = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => s.parse(),
    };
    n.map(ImageId)
        .map_err(|_| format!("`{s}`: expected an image id such as 0x810003e9 or 16778217"))
}

/// The local address the system would use to reach `server`.
fn route_to(server: SocketAddrV4) -> anyhow::Result<Ipv4Addr> {
    let probe = StdUdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
    probe
        .connect(server)
        .with_context(|| format!("no route to {server}"))?;
    match probe.local_addr()? {
        SocketAddr::V4(a) if !a.ip().is_unspecified() => Ok(*a.ip()),
        other => bail!("no IPv4 address to reach {server} (got {other}); give --client-ip"),
    }
}

fn hex_id(id: ImageId) -> String {
    format!("{:#010x}", id.0)
}

fn list_lines(server: SocketAddrV4, ack: &Ack) -> Vec<Value> {
    let mut lines = vec![json!({
        "type": "list",
        "server": server.to_string(),
        "server_identifier": ack.server_identifier.map(|ip| ip.to_string()),
        "priority": ack.server_priority,
        "default_image": ack.default_image.map(hex_id),
        "selected_image": ack.selected_image.map(hex_id),
        "images": ack.images.len(),
    })];
    lines.extend(ack.images.iter().map(|i| {
        json!({
            "type": "image",
            "id": hex_id(i.id),
            "index": i.id.index(),
            "name": i.name,
            "install": i.id.is_install(),
            "kind": i.id.kind().get(),
            "default": ack.default_image == Some(i.id),
        })
    }));
    lines
}

fn select_line(id: ImageId, ack: &Ack) -> Value {
    let ok = ack.message_type == BsdpMessageType::Select;
    json!({
        "type": "select",
        "id": hex_id(id),
        "result": if ok { "ack" } else { "failed" },
        "boot_file": ack.boot_file,
        "tftp_server": ok.then(|| ack.tftp_server.to_string()),
        "root_path": ack.root_path,
        "machine_name": ack.machine_name,
    })
}

/// The exchange, printing to `out`.
async fn run(args: &Args, out: &mut dyn Write) -> anyhow::Result<()> {
    let ip = match args.client_ip {
        Some(ip) => ip,
        None => route_to(args.server)?,
    };
    let mut client = BsdpClient::bind(SocketAddrV4::new(ip, args.reply_port))
        .await
        .with_context(|| format!("binding {ip}:{}", args.reply_port))?;
    client.set_timeout(Duration::from_secs(args.timeout));
    let mut req = InformRequest::new(args.mac, ip, &args.arch, &args.model);
    req.xid = std::process::id().rotate_left(16) ^ u32::from(args.reply_port);
    req.reply_port = (args.reply_port != 68).then_some(args.reply_port);
    req.max_message_size = Some(args.max_size);
    let server = SocketAddr::V4(args.server);

    let list = client
        .list(server, &req)
        .await
        .with_context(|| format!("INFORM[LIST] to {server}"))?;
    for line in list_lines(args.server, &list) {
        writeln!(out, "{line}")?;
    }
    if let Some(id) = args.select {
        // The SELECT names the server by the identifier it gave in its list.
        let server_id = list.server_identifier.unwrap_or(*args.server.ip());
        req.xid = req.xid.wrapping_add(1);
        let ack = client
            .select(server, server_id, &req, id)
            .await
            .with_context(|| format!("INFORM[SELECT] of {} to {server}", hex_id(id)))?;
        writeln!(out, "{}", select_line(id, &ack))?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bsdp-list: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut stdout = std::io::stdout().lock();
    match rt.block_on(run(&args, &mut stdout)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bsdp-list: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bsdp::server::BsdpServer;
    use bsdp::{Catalog, CatalogImage, ImageInfo, ResponderConfig};

    const INFO: &[u8] = br#"<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict>
  <key>Index</key><integer>1001</integer>
  <key>Name</key><string>NetInstall 10.13.6</string>
  <key>Type</key><string>HTTP</string>
  <key>BootFile</key><string>booter</string>
  <key>RootPath</key><string>NetInstall.dmg</string>
  <key>IsInstall</key><true/>
  <key>IsDefault</key><true/>
</dict></plist>"#;

    #[test]
    fn arguments() {
        assert_eq!(
            parse_mac("a8:20:66:12:34:5F").unwrap(),
            [0xa8, 0x20, 0x66, 0x12, 0x34, 0x5f]
        );
        assert!(parse_mac("a8:20:66:12:34").is_err());
        assert!(parse_mac("a8:20:66:12:34:zz").is_err());
        assert_eq!(parse_id("0x810003e9").unwrap(), ImageId(0x8100_03e9));
        assert_eq!(parse_id("1001").unwrap(), ImageId(1001));
        assert!(parse_id("0xfffffffff").is_err());
        let args = Args::try_parse_from(["bsdp-list", "--server", "127.0.0.1:67"]).unwrap();
        assert_eq!(args.reply_port, 68);
        assert_eq!(args.arch, "i386");
        assert!(Args::try_parse_from(["bsdp-list"]).is_err());
    }

    #[tokio::test]
    async fn lists_and_selects_over_loopback() {
        let lo = Ipv4Addr::LOCALHOST;
        let mut cfg = ResponderConfig::new(lo);
        cfg.policy.allow_unprivileged_reply_port = true;
        let image = CatalogImage {
            info: ImageInfo::parse(INFO).unwrap(),
            dir_name: "NetInstall.nbi".into(),
        };
        let server =
            BsdpServer::bind(SocketAddrV4::new(lo, 0), cfg, Catalog::new(vec![image]).0).unwrap();
        let SocketAddr::V4(addr) = server.local_addr() else {
            panic!("IPv4 server");
        };
        let task = tokio::spawn(server.run());
        // A free reply port: bind, note it, release it.
        let reply_port = StdUdpSocket::bind((lo, 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let args = Args::try_parse_from([
            "bsdp-list",
            "--server",
            &addr.to_string(),
            "--reply-port",
            &reply_port.to_string(),
            "--select",
            "0x810003e9",
            "--timeout",
            "5",
        ])
        .unwrap();
        let mut out = Vec::new();
        run(&args, &mut out).await.unwrap();
        task.abort();
        let lines: Vec<Value> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["type"], "list");
        assert_eq!(lines[0]["server_identifier"], "127.0.0.1");
        assert_eq!(lines[0]["default_image"], "0x810003e9");
        assert_eq!(lines[1]["type"], "image");
        assert_eq!(lines[1]["id"], "0x810003e9");
        assert_eq!(lines[1]["index"], 1001);
        assert_eq!(lines[1]["name"], "NetInstall 10.13.6");
        assert_eq!(lines[1]["install"], true);
        assert_eq!(lines[1]["kind"], 1);
        assert_eq!(lines[1]["default"], true);
        assert_eq!(lines[2]["type"], "select");
        assert_eq!(lines[2]["result"], "ack");
        assert_eq!(lines[2]["boot_file"], "NetInstall.nbi/i386/booter");
        assert_eq!(lines[2]["tftp_server"], "127.0.0.1");
        assert_eq!(
            lines[2]["root_path"],
            "http://127.0.0.1/NetInstall.nbi/NetInstall.dmg"
        );
    }
}
