//! Interop on loopback with TFTP implementations nobody here wrote: curl,
//! tftp-hpa's client, atftp and Python's tftpy download from our server;
//! our client downloads from tftpd-hpa (`in.tftpd`). Every file is
//! compared by SHA-256.
//!
//! With `CI=true` a missing peer fails the test; elsewhere it prints a
//! loud SKIPPED line and returns.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{TestServer, put_file, random_bytes, served_dir, sha256, sha256_file};
use tftp::client::{self, ClientConfig};

/// The served files: name, SHA-256, length.
struct Files {
    dir: tempfile::TempDir,
    files: Vec<(String, String, usize)>,
}

impl Files {
    /// Sizes that matter: empty, one short block, exact multiples of 512,
    /// 1468 and 8192 (a zero-length last block), odd sizes.
    fn new() -> Self {
        let dir = served_dir();
        let sizes: &[(&str, usize)] = &[
            ("empty.bin", 0),
            ("tiny.bin", 1),
            ("k512x8.bin", 512 * 8),
            ("k1468x3.bin", 1468 * 3),
            ("k8192x4.bin", 8192 * 4),
            ("odd.bin", 100_003),
            ("large.bin", 3 * 65464 + 17),
        ];
        let files = sizes
            .iter()
            .enumerate()
            .map(|(i, &(name, n))| {
                let sum = put_file(dir.path(), name, &random_bytes(n, 100 + i as u64));
                (name.to_owned(), sum, n)
            })
            .collect();
        Self { dir, files }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// A file above 32 MiB, so that 512-byte blocks pass block 65535.
fn rollover_file(dir: &Path) -> (&'static str, String) {
    let n = 65536 * 512 + 1000 * 512 + 77;
    (
        "rollover.bin",
        put_file(dir, "rollover.bin", &random_bytes(n, 7)),
    )
}

fn run_bounded(cmd: &mut Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {cmd:?}: {e}"));
    let end = Instant::now() + limit;
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if Instant::now() > end {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "{cmd:?} still running after {limit:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn check_download(what: &str, out: &Output, local: &Path, sum: &str) {
    assert!(
        out.status.success(),
        "{what}: {}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(sha256_file(local), sum, "{what}");
}

fn curl_get(
    server: SocketAddr,
    name: &str,
    local: &Path,
    blksize: Option<u16>,
    extra: &[&str],
) -> Output {
    let mut cmd = Command::new("curl");
    cmd.args(extra)
        .args(["-sS", "--max-time", "120", "-o"])
        .arg(local)
        .arg(format!("tftp://{server}/{name}"));
    if let Some(b) = blksize {
        cmd.args(["--tftp-blksize", &b.to_string()]);
    }
    run_bounded(&mut cmd, Duration::from_secs(150))
}

#[test]
fn curl_downloads_every_size_at_every_block_size() {
    if !test_support::require_peer(
        "curl_downloads_every_size_at_every_block_size",
        &["curl", "--version"],
    ) {
        return;
    }
    let files = Files::new();
    let (big, big_sum) = rollover_file(files.path());
    let server = TestServer::start(files.path(), |_| {});
    let out_dir = test_support::tempdir();
    let local = out_dir.path().join("out");
    let mut count = 0;
    for blksize in [
        None,
        Some(512),
        Some(1024),
        Some(1468),
        Some(8192),
        Some(65464),
    ] {
        for (name, sum, len) in &files.files {
            if *len == 0 {
                continue;
            }
            let out = curl_get(server.addr, name, &local, blksize, &[]);
            check_download(
                &format!("curl {name} blksize {blksize:?}"),
                &out,
                &local,
                sum,
            );
            count += 1;
        }
    }
    // A 0-byte file: without options curl gets one empty DATA block.
    let _ = std::fs::remove_file(&local);
    let out = curl_get(
        server.addr,
        "empty.bin",
        &local,
        None,
        &["--tftp-no-options"],
    );
    check_download("curl empty.bin", &out, &local, &sha256(b""));
    count += 1;
    // With options it reads tsize=0 in the OACK and leaves without an ACK
    // (curl 7.88 says "getpeername() failed", exit 71; the same against
    // tftpd-hpa). The server retransmits the OACK a bounded number of
    // times and gives up: nothing to wait for here.
    let out = curl_get(server.addr, "empty.bin", &local, Some(1468), &[]);
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("getpeername"), "{stderr}");
    }
    // Past block 65535 at 512 bytes a block.
    let out = curl_get(server.addr, big, &local, Some(512), &[]);
    check_download("curl rollover", &out, &local, &big_sum);
    // A missing file: curl reports TFTP error 1 as its exit code 68.
    let out = curl_get(server.addr, "missing.bin", &local, None, &[]);
    assert_eq!(
        out.status.code(),
        Some(68),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    server.wait_for("the downloads", |s| s.transfers_finished == count + 1);
    let snap = server.stats.snapshot();
    // At most the abandoned 0-byte download, if its retries ran out.
    assert!(snap.transfers_failed <= 1, "{snap:?}");
}

fn hpa_get(server: SocketAddr, name: &str, local: &Path, verbose: bool) -> Output {
    let mut cmd = Command::new("tftp");
    if verbose {
        cmd.arg("-v");
    }
    cmd.args([
        "-m",
        "binary",
        "127.0.0.1",
        &server.port().to_string(),
        "-c",
        "get",
        name,
    ])
    .arg(local);
    run_bounded(&mut cmd, Duration::from_secs(300))
}

#[test]
fn tftp_hpa_client_downloads_including_rollover() {
    if !test_support::require_peer(
        "tftp_hpa_client_downloads_including_rollover",
        &["tftp", "-V"],
    ) {
        return;
    }
    let files = Files::new();
    let (big, big_sum) = rollover_file(files.path());
    let server = TestServer::start(files.path(), |_| {});
    let out_dir = test_support::tempdir();
    for (i, (name, sum, _)) in files.files.iter().enumerate() {
        let local = out_dir.path().join(name);
        let out = hpa_get(server.addr, name, &local, i % 2 == 0);
        check_download(&format!("tftp-hpa {name}"), &out, &local, sum);
    }
    let local = out_dir.path().join(big);
    let out = hpa_get(server.addr, big, &local, true);
    check_download("tftp-hpa rollover", &out, &local, &big_sum);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Received"), "{stdout}");
    // A missing file: tftp-hpa prints the server's error.
    let local = out_dir.path().join("missing");
    let out = hpa_get(server.addr, "missing.bin", &local, false);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("Error code 1: File not found"), "{text}");
    server.wait_for("the downloads", |s| {
        s.transfers_finished == files.files.len() as u64 + 1
    });
}

fn atftp_get(server: SocketAddr, name: &str, local: &Path, options: &[String]) -> Output {
    let mut cmd = Command::new("atftp");
    for o in options {
        cmd.args(["--option", o]);
    }
    cmd.args(["--tftp-timeout", "1", "-g", "-r", name, "-l"])
        .arg(local)
        .args(["127.0.0.1", &server.port().to_string()]);
    run_bounded(&mut cmd, Duration::from_secs(150))
}

#[test]
fn atftp_downloads_with_blksize_windowsize_and_tsize() {
    if !test_support::require_peer(
        "atftp_downloads_with_blksize_windowsize_and_tsize",
        &["atftp", "--version"],
    ) {
        return;
    }
    let files = Files::new();
    let (big, big_sum) = rollover_file(files.path());
    let server = TestServer::start(files.path(), |c| {
        c.max_window_bytes(1 << 20);
    });
    let out_dir = test_support::tempdir();
    let local = out_dir.path().join("out");
    let mut count = 0;
    for (blksize, windowsize) in [(512, 1), (1468, 16), (8192, 16), (65464, 4), (1024, 64)] {
        for (name, sum, _) in &files.files {
            let options = [
                format!("blksize {blksize}"),
                format!("windowsize {windowsize}"),
                "tsize 0".to_owned(),
            ];
            let out = atftp_get(server.addr, name, &local, &options);
            check_download(
                &format!("atftp {name} blksize {blksize} windowsize {windowsize}"),
                &out,
                &local,
                sum,
            );
            count += 1;
        }
    }
    let out = atftp_get(
        server.addr,
        big,
        &local,
        &["blksize 512".to_owned(), "windowsize 32".to_owned()],
    );
    check_download("atftp rollover", &out, &local, &big_sum);
    server.wait_for("the downloads", |s| s.transfers_finished == count + 1);
    assert_eq!(server.stats.snapshot().transfers_failed, 0);
    // The log has the options each transfer ran with.
    let logs = server.logs();
    let line = logs
        .lines()
        .find(|l| {
            l.contains("transfer finished")
                && l.contains("windowsize=16")
                && l.contains("blksize=8192")
        })
        .unwrap_or_else(|| panic!("{logs}"));
    assert!(line.contains("peer=127.0.0.1:"), "{line}");
}

#[test]
fn tftpy_downloads_with_options() {
    if !test_support::require_python("tftpy_downloads_with_options", &["tftpy"]) {
        return;
    }
    let files = Files::new();
    let server = TestServer::start(files.path(), |_| {});
    let out_dir = test_support::tempdir();
    let script = r#"
import logging, sys, tftpy
logging.getLogger("tftpy").setLevel(logging.WARNING)
port, name, local, blksize = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
options = {"tsize": 0}
if blksize:
    options["blksize"] = blksize
tftpy.TftpClient("127.0.0.1", port, options).download(name, local, timeout=2, retries=3)
"#;
    let python = test_support::python();
    let mut count = 0;
    for blksize in [0u16, 512, 1468, 8192, 65464] {
        for (name, sum, _) in &files.files {
            let local: PathBuf = out_dir.path().join(format!("{blksize}-{name}"));
            let mut cmd = Command::new(&python);
            cmd.args(["-c", script, &server.port().to_string(), name])
                .arg(&local)
                .arg(blksize.to_string());
            let out = run_bounded(&mut cmd, Duration::from_secs(120));
            check_download(
                &format!("tftpy {name} blksize {blksize}"),
                &out,
                &local,
                sum,
            );
            count += 1;
        }
    }
    server.wait_for("the downloads", |s| s.transfers_finished == count);
}

/// `in.tftpd` in the foreground on a free loopback port, serving `dir`.
struct TftpdHpa {
    child: Child,
    addr: SocketAddr,
}

impl TftpdHpa {
    fn start(dir: &Path) -> Self {
        let port = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let child = Command::new("in.tftpd")
            .args(["-L", "-v", "-a", &addr.to_string(), "-s"])
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = Self { child, addr };
        // Ready when it answers (a missing file gets ERROR 1).
        let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
        probe
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut buf = [0u8; 600];
        for _ in 0..100 {
            probe.send_to(b"\0\x01no-such-file\0octet\0", addr).unwrap();
            if let Ok((n, _)) = probe.recv_from(&mut buf) {
                assert_eq!(&buf[..4], b"\0\x05\0\x01", "{:?}", &buf[..n]);
                return server;
            }
        }
        panic!("in.tftpd did not answer on {addr}");
    }
}

impl Drop for TftpdHpa {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.trim_ascii() == b"0")
        .unwrap_or(false)
}

#[test]
fn our_client_downloads_from_tftpd_hpa() {
    let test = "our_client_downloads_from_tftpd_hpa";
    if !test_support::require_peer(test, &["in.tftpd", "-V"]) {
        return;
    }
    if !is_root() {
        // in.tftpd -s chroots, which needs root (CI runs as root).
        assert!(!test_support::in_ci(), "{test} needs root under CI");
        eprintln!("\n*** SKIPPED: {test} needs root to run in.tftpd ***\n");
        return;
    }
    let files = Files::new();
    let (big, big_sum) = rollover_file(files.path());
    let tftpd = TftpdHpa::start(files.path());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for blksize in [512u16, 1468, 8192, 65464] {
        for (name, sum, len) in &files.files {
            let mut config = ClientConfig::default();
            config.blksize(blksize).tsize(true);
            let (got, t) = rt
                .block_on(client::get(tftpd.addr, name, &config, Vec::new()))
                .unwrap_or_else(|e| panic!("{name} blksize {blksize}: {e}"));
            assert_eq!(sha256(&got), *sum, "{name} blksize {blksize}");
            assert!(t.options_acknowledged);
            assert_eq!(t.params.blksize, blksize);
            assert_eq!(t.params.tsize, Some(*len as u64));
            assert_ne!(t.server_tid.map(|a| a.port()), Some(tftpd.addr.port()));
        }
    }
    // tftpd-hpa 5.2 does not know windowsize: it leaves it out of its
    // OACK and the transfer runs one block at a time.
    let mut config = ClientConfig::default();
    config.blksize(1468).windowsize(16).tsize(true);
    let (name, sum, _) = &files.files[5];
    let (got, t) = rt
        .block_on(client::get(tftpd.addr, name, &config, Vec::new()))
        .unwrap();
    assert_eq!(sha256(&got), *sum);
    assert_eq!((t.params.blksize, t.params.windowsize), (1468, 1));
    // No options at all, past the rollover.
    let (got, t) = rt
        .block_on(client::get(
            tftpd.addr,
            big,
            &ClientConfig::default(),
            Vec::new(),
        ))
        .unwrap();
    assert_eq!(sha256(&got), big_sum);
    assert!(t.summary.blocks > 65536, "{:?}", t.summary);
    // Its refusals reach us as errors with its code.
    let err = rt
        .block_on(client::get(
            tftpd.addr,
            "missing.bin",
            &ClientConfig::default(),
            Vec::new(),
        ))
        .unwrap_err();
    assert!(err.to_string().contains("error 1"), "{err}");
}
