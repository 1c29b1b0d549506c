//! Interop with PyScep (PyPI `pyscep`), a SCEP client written elsewhere:
//! it enrols over HTTP against a loopback server that hands each request to
//! `ScepServer::handle`; the issued certificate is then checked with
//! `openssl verify`.
//!
//! Needs Python with `pyscep` and its dependencies (`asn1crypto`,
//! `certbuilder`, `csrbuilder`, `cryptography`, `oscrypto`, `requests`,
//! `six`); set `PIPPIN_PYTHON` to that interpreter.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use common::*;
use scep::{FailInfo, Outcome, ScepServer};
use test_support::{python, require_peer, run_ok, tempdir};

const CLIENT: &str = include_str!("fixtures/pyscep-client.py");

/// Most connections one test run serves.
const MAX_CONNECTIONS: usize = 64;
/// Longest a client run may take.
const CLIENT_DEADLINE: Duration = Duration::from_secs(180);

/// What the loopback server saw for each request.
#[derive(Debug)]
#[allow(dead_code)] // the payloads are read through `Debug` in assertion messages
enum Seen {
    Ok(&'static str),
    Issued { renewal: bool },
    Rejected(FailInfo),
    Error(String),
}

/// A minimal HTTP/1.1 server on 127.0.0.1: one request per connection.
struct LoopbackServer {
    url: String,
    stop: Arc<AtomicBool>,
    addr: std::net::SocketAddr,
    handle: Option<thread::JoinHandle<()>>,
    seen: mpsc::Receiver<Seen>,
}

impl LoopbackServer {
    fn start(scep: ScepServer) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, seen) = mpsc::channel();
        let stop2 = stop.clone();
        let handle = thread::spawn(move || {
            let mut rng = TestRng::new(0x5ce9);
            for _ in 0..MAX_CONNECTIONS {
                let Ok((stream, _)) = listener.accept() else {
                    break;
                };
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                if let Err(e) = serve_one(stream, &scep, &mut rng, &tx) {
                    let _ = tx.send(Seen::Error(format!("connection: {e}")));
                }
            }
        });
        Self {
            url: format!("http://{addr}/scep"),
            stop,
            addr,
            handle: Some(handle),
            seen,
        }
    }

    fn finish(mut self) -> Vec<Seen> {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(2));
        if let Some(h) = self.handle.take() {
            h.join().expect("server thread");
        }
        self.seen.try_iter().collect()
    }
}

fn serve_one(
    stream: TcpStream,
    scep: &ScepServer,
    rng: &mut TestRng,
    tx: &mpsc::Sender<Seen>,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut content_length = 0usize;
    let mut header_bytes = 0;
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line)?;
        header_bytes += n;
        if n == 0 || line == "\r\n" || header_bytes > 16 * 1024 {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            content_length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; content_length.min(256 * 1024)];
    reader.read_exact(&mut body)?;

    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or("");
    let target = parts.next().unwrap_or("");
    let query = target.split_once('?').map_or("", |(_, q)| q);
    let mut operation = String::new();
    let mut message = Vec::new();
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "operation" => operation = String::from_utf8_lossy(&percent_decode(v)).into_owned(),
            "message" => message = percent_decode(v),
            _ => {}
        }
    }
    let input = if method == "POST" { body } else { message };
    let input = (!input.is_empty()).then_some(input.as_slice());

    let mut out = stream;
    match scep.handle(&operation, input, SystemTime::now(), rng) {
        Ok(resp) => {
            let _ = tx.send(match &resp.outcome {
                Outcome::Issued(i) => Seen::Issued {
                    renewal: i.is_renewal(),
                },
                Outcome::Rejected(r) => Seen::Rejected(r.fail_info),
                _ => Seen::Ok(resp.content_type),
            });
            write!(
                out,
                "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                resp.content_type,
                resp.body.len()
            )?;
            out.write_all(&resp.body)?;
        }
        Err(e) => {
            let _ = tx.send(Seen::Error(e.to_string()));
            let msg = e.to_string();
            write!(
                out,
                "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{msg}",
                msg.len()
            )?;
        }
    }
    out.flush()
}

/// `application/x-www-form-urlencoded` decoding.
fn percent_decode(s: &str) -> Vec<u8> {
    fn hex(c: u8) -> Option<u8> {
        (c as char).to_digit(16).map(|d| d as u8)
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    out
}

fn run_client(script: &Path, url: &str, out_dir: &Path, flags: &[&str]) -> String {
    let py = python();
    let mut cmd = Command::new(&py);
    cmd.arg(script)
        .arg(url)
        .arg(CHALLENGE)
        .arg(out_dir)
        .args(flags)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("start python");
    let start = Instant::now();
    loop {
        if let Some(_status) = child.try_wait().expect("wait") {
            break;
        }
        if start.elapsed() > CLIENT_DEADLINE {
            let _ = child.kill();
            panic!("pyscep client timed out");
        }
        thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("output");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "pyscep client failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn probe(test: &str, dir: &Path) -> Option<std::path::PathBuf> {
    let script = dir.join("pyscep-client.py");
    std::fs::write(&script, CLIENT).unwrap();
    let py = python();
    let script_s = script.to_str().unwrap();
    if !require_peer(test, &[py.as_str(), script_s, "--probe"])
        || !require_peer(test, &["openssl", "version"])
    {
        return None;
    }
    Some(script)
}

fn openssl_verify(dir: &Path, cert: &str) {
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, CA_PEM).unwrap();
    let out = run_ok(
        &[
            "openssl",
            "verify",
            "-CAfile",
            ca.to_str().unwrap(),
            dir.join(cert).to_str().unwrap(),
        ],
        b"",
    );
    assert!(String::from_utf8_lossy(&out).contains(": OK"));
}

#[test]
fn pyscep_enrols_renews_and_is_refused_with_bad_request() {
    let dir = tempdir();
    let Some(script) = probe(
        "pyscep_enrols_renews_and_is_refused_with_bad_request",
        dir.path(),
    ) else {
        return;
    };
    let http = LoopbackServer::start(server());
    let stdout = run_client(
        &script,
        &http.url,
        dir.path(),
        &["--renew", "--wrong-challenge"],
    );
    let seen = http.finish();
    assert!(stdout.contains("cipher aes256 digest sha512"), "{stdout}");
    assert!(stdout.contains("enrol SUCCESS"), "{stdout}");
    assert!(stdout.contains("renewal SUCCESS"), "{stdout}");
    assert!(
        stdout.contains("wrong challenge FAILURE failInfo 2"),
        "{stdout}"
    );

    let issued: Vec<bool> = seen
        .iter()
        .filter_map(|s| match s {
            Seen::Issued { renewal } => Some(*renewal),
            _ => None,
        })
        .collect();
    assert_eq!(issued, vec![false, true], "{seen:?}");
    assert!(
        seen.iter()
            .any(|s| matches!(s, Seen::Rejected(FailInfo::BadRequest))),
        "{seen:?}"
    );
    assert!(
        !seen.iter().any(|s| matches!(s, Seen::Error(_))),
        "{seen:?}"
    );

    openssl_verify(dir.path(), "issued.pem");
    openssl_verify(dir.path(), "renewed.pem");
}

#[test]
fn pyscep_enrols_with_triple_des() {
    let dir = tempdir();
    let Some(script) = probe("pyscep_enrols_with_triple_des", dir.path()) else {
        return;
    };
    let http = LoopbackServer::start(server_with(|c| {
        c.advertise_aes(false);
    }));
    let stdout = run_client(&script, &http.url, dir.path(), &[]);
    let seen = http.finish();
    assert!(stdout.contains("cipher 3des"), "{stdout}");
    assert!(stdout.contains("enrol SUCCESS"), "{stdout}");
    assert!(
        seen.iter()
            .any(|s| matches!(s, Seen::Issued { renewal: false })),
        "{seen:?}"
    );
    openssl_verify(dir.path(), "issued.pem");
}
