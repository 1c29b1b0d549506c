//! Helpers shared by Pippin's tests: finding the independent peer tools that
//! interop tests run (Python, openssl, ...), and running them.
//!
//! The rule for a missing peer: under CI (`CI=true`) it is a test failure;
//! elsewhere the test prints a loud `SKIPPED` line on stderr and returns.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Whether the tests run under CI (`CI` set to `true` or `1`).
pub fn in_ci() -> bool {
    matches!(
        std::env::var("CI").as_deref(),
        Ok("true") | Ok("1") | Ok("TRUE") | Ok("True")
    )
}

/// Checks that a peer tool is usable by running `probe` (for example
/// `["openssl", "version"]`). Returns `true` if it is. If it is not: panics
/// under CI; otherwise prints a loud skip notice naming `test` and returns
/// `false`, and the caller returns early.
pub fn require_peer(test: &str, probe: &[&str]) -> bool {
    let ok = Command::new(probe[0])
        .args(&probe[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if ok {
        return true;
    }
    let msg = format!(
        "peer tool not available: `{}` failed; test `{test}` needs it",
        probe.join(" ")
    );
    if in_ci() {
        panic!("{msg} (CI=true: a missing peer is a failure)");
    }
    eprintln!("\n*** SKIPPED: {msg} ***\n");
    false
}

/// The Python interpreter the interop tests use: `$PIPPIN_PYTHON`, else `python3`.
pub fn python() -> String {
    std::env::var("PIPPIN_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

/// Checks that Python 3 can import every module in `modules`; see [`require_peer`].
pub fn require_python(test: &str, modules: &[&str]) -> bool {
    let py = python();
    let code = modules
        .iter()
        .map(|m| format!("import {m}"))
        .collect::<Vec<_>>()
        .join("; ");
    require_peer(test, &[py.as_str(), "-c", &code])
}

/// Runs a command with `stdin` as input and returns its output; panics with
/// the command's stderr if it cannot start.
pub fn run(cmd: &[&str], stdin: &[u8]) -> Output {
    run_in(cmd, stdin, None)
}

/// Like [`run`], in directory `dir`.
pub fn run_in(cmd: &[&str], stdin: &[u8], dir: Option<&Path>) -> Output {
    let mut c = Command::new(cmd[0]);
    c.args(&cmd[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(d) = dir {
        c.current_dir(d);
    }
    let mut child = c
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    {
        let mut input = child.stdin.take().expect("stdin is piped");
        // A tool that exits without reading its input is not an error here.
        let _ = input.write_all(stdin);
    }
    child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("waiting for {cmd:?}: {e}"))
}

/// Runs a command and returns its stdout; panics with its stderr if it fails.
pub fn run_ok(cmd: &[&str], stdin: &[u8]) -> Vec<u8> {
    let out = run(cmd, stdin);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Runs a Python 3 program given as source text, with `stdin` as input, and
/// returns its stdout; panics with its stderr if it fails.
pub fn python_ok(code: &str, stdin: &[u8]) -> Vec<u8> {
    let py = python();
    run_ok(&[py.as_str(), "-c", code], stdin)
}

/// A fresh temporary directory, removed when dropped.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("creating a temporary directory")
}

/// Runs `openssl` with `args`; panics with its stderr if it fails.
pub fn openssl(args: &[&str]) {
    let mut cmd = vec!["openssl"];
    cmd.extend_from_slice(args);
    run_ok(&cmd, b"");
}

fn path_of(dir: &Path, name: &str) -> String {
    dir.join(name).to_string_lossy().into_owned()
}

/// In `dir`: a CA (`ca.pem`), a server certificate for 127.0.0.1 it
/// signed (`server.pem`, `server.key`), and a self-signed push certificate
/// (`push.pem`, `push.key`) whose UID is the topic.
pub fn apns_test_pki(dir: &Path, push_uuid: &str) {
    let p = |n: &str| path_of(dir, n);
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=Test APNs CA",
        "-keyout",
        &p("ca.key"),
        "-out",
        &p("ca.pem"),
    ]);
    openssl(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        &p("server.key"),
        "-out",
        &p("server.csr"),
    ]);
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        &p("server.csr"),
        "-CA",
        &p("ca.pem"),
        "-CAkey",
        &p("ca.key"),
        "-set_serial",
        "2",
        "-days",
        "2",
        "-extfile",
        &p("server.ext"),
        "-out",
        &p("server.pem"),
    ]);
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        &format!("/UID=com.apple.mgmt.External.{push_uuid}/CN=APSP:{push_uuid}/C=US"),
        "-keyout",
        &p("push.key"),
        "-out",
        &p("push.pem"),
    ]);
}

/// The APNs stand-in used by the push tests: Python `h2`
/// (`crates/apns/tests/fixtures/h2_apns_server.py`) on 127.0.0.1 with the
/// certificates [`apns_test_pki`] made in `dir`, requiring the push
/// certificate as client identity and logging every request it receives
/// (and, separately, its connections, the PINGs it receives and the
/// GOAWAYs it sends). Killed when dropped.
pub struct H2ApnsServer {
    child: std::process::Child,
    /// The port it listens on.
    pub port: u16,
    /// Its JSON-lines request log.
    pub log: std::path::PathBuf,
    /// Its JSON-lines event log (connections, PINGs, GOAWAYs).
    pub events: std::path::PathBuf,
}

impl H2ApnsServer {
    /// Starts the server; panics if it does not come up.
    pub fn start(dir: &Path) -> Self {
        Self::start_with(dir, &[])
    }

    /// Starts the server with extra options (`--max-concurrent-streams N`,
    /// `--answer-delay-ms D`, `--goaway-on-connect`; see the script).
    pub fn start_with(dir: &Path, options: &[&str]) -> Self {
        use std::io::BufRead;
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../apns/tests/fixtures/h2_apns_server.py"
        );
        let p = |n: &str| path_of(dir, n);
        let log = dir.join("requests.jsonl");
        let events = dir.join("events.jsonl");
        let mut child = Command::new(python())
            .args([
                script,
                "--cert",
                &p("server.pem"),
                "--key",
                &p("server.key"),
            ])
            .args([
                "--client-ca",
                &p("push.pem"),
                "--log",
                &log.to_string_lossy(),
                "--events",
                &events.to_string_lossy(),
            ])
            .args(options)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting the h2 server");
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            let _ = std::io::BufReader::new(out).read_line(&mut line);
        }
        let Ok(port) = line.trim().parse() else {
            let _ = child.kill();
            panic!("the h2 server did not print its port: {line:?}")
        };
        Self {
            child,
            port,
            log,
            events,
        }
    }

    /// Every request received so far, one JSON object each.
    pub fn records(&self) -> Vec<serde_json::Value> {
        read_json_lines(&self.log)
    }

    /// Every event so far (`{"event": "connection" | "ping" | "goaway",
    /// "connection": N, "at": SECONDS, ...}`), oldest first.
    pub fn events(&self) -> Vec<serde_json::Value> {
        read_json_lines(&self.events)
    }
}

fn read_json_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("the server logs JSON lines"))
        .collect()
}

impl Drop for H2ApnsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
