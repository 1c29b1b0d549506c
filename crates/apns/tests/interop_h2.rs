//! The client against HTTP/2 servers we did not write, each requiring a
//! client certificate: Python's `h2` package behind Python's `ssl`
//! (`tests/fixtures/h2_apns_server.py`), and nghttp2's `nghttpd`.
#![cfg(feature = "client")]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use apns::client::{ApnsClient, ApnsConfig};
use apns::{PushCertificate, PushRequest, Reason, RetryPolicy, Uuid, Verdict};
use test_support::{require_peer, require_python, tempdir};

const UUID: &str = "18a16429-886b-41f1-9c30-2bd04ae4fc37";

/// Kills the server when the test ends, however it ends.
type Server = test_support::H2ApnsServer;

/// Kills the child process (nghttpd) when dropped.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Pki {
    dir: tempfile::TempDir,
    ca_pem: String,
    push: PushCertificate,
}

use test_support::openssl;

fn path_of(dir: &Path, name: &str) -> String {
    dir.join(name).to_str().unwrap().to_owned()
}

/// A CA and a server certificate for 127.0.0.1, and a self-signed push
/// certificate (the server trusts it as the client CA).
fn pki() -> Pki {
    let dir = tempdir();
    test_support::apns_test_pki(dir.path(), UUID);
    let read = |n: &str| std::fs::read_to_string(dir.path().join(n)).unwrap();
    let push = PushCertificate::from_pem(&read("push.pem"), &read("push.key")).unwrap();
    Pki {
        ca_pem: read("ca.pem"),
        push,
        dir,
    }
}

fn start_server(pki: &Pki) -> Server {
    test_support::H2ApnsServer::start(pki.dir.path())
}

fn peers_ready(test: &str) -> bool {
    require_peer(test, &["openssl", "version"]) && require_python(test, &["h2", "ssl"])
}

fn config(pki: &Pki, server: &Server) -> ApnsConfig {
    let mut config = ApnsConfig::default();
    config
        .endpoint(format!("https://127.0.0.1:{}", server.port))
        .request_timeout(Duration::from_secs(10));
    config.trust_anchors_pem = Some(pki.ca_pem.clone());
    config.reconnect = RetryPolicy {
        base: Duration::from_millis(20),
        max: Duration::from_millis(200),
    };
    config
}

fn token(last: u8, n: u16) -> Vec<u8> {
    let mut t = vec![0xc2; 32];
    t[28..30].copy_from_slice(&n.to_be_bytes());
    t[31] = last;
    t
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_and_verdicts_against_python_h2() {
    if !peers_ready("pushes_and_verdicts_against_python_h2") {
        return;
    }
    let pki = pki();
    let server = start_server(&pki);
    let client = ApnsClient::new(&pki.push, config(&pki, &server)).unwrap();
    let topic = client.topic().to_owned();
    assert_eq!(topic, format!("com.apple.mgmt.External.{UUID}"));

    let mut first = PushRequest::new(token(1, 0), "47250C9C-1B37-4381-98A9-0B8315A441C7", &topic);
    first.id = Some(Uuid::from_u128(0x922d9f1f_b82e_b337_edc9_db4fc8527676));
    first.expiration = Some(1_900_000_000);
    let mut pushes = vec![first];
    for last in 2..=6 {
        pushes.push(PushRequest::new(
            token(last, 0),
            format!("magic-\"{last}\""),
            &topic,
        ));
    }
    let results = client.push_many(pushes.clone()).await;
    assert_eq!(results.len(), 6);

    let policy = RetryPolicy::default();
    let one = Duration::from_secs(1);
    let expect = [
        (200, None, Verdict::Delivered),
        (
            400,
            Some(Reason::BadDeviceToken),
            Verdict::DropToken {
                unregistered_at: None,
            },
        ),
        (
            410,
            Some(Reason::Unregistered),
            Verdict::DropToken {
                unregistered_at: Some(1458114061260),
            },
        ),
        (
            429,
            Some(Reason::TooManyRequests),
            Verdict::RetryLater { after: one },
        ),
        (
            500,
            Some(Reason::InternalServerError),
            Verdict::RetryLater { after: one },
        ),
        (403, Some(Reason::BadCertificate), Verdict::FixCertificate),
    ];
    for ((result, push), (status, reason, verdict)) in results.iter().zip(&pushes).zip(expect) {
        assert_eq!(&result.request, push);
        let response = result.outcome.as_ref().unwrap();
        assert_eq!(response.status, status);
        assert_eq!(response.reason, reason);
        assert!(response.apns_id.is_some());
        assert_eq!(result.verdict(0, &policy), verdict);
    }
    assert_eq!(
        results[0].outcome.as_ref().unwrap().apns_id.as_deref(),
        Some("922d9f1f-b82e-b337-edc9-db4fc8527676")
    );

    // What the server received, exactly.
    let mut records = server.records();
    records.sort_by(|a, b| a["path"].as_str().cmp(&b["path"].as_str()));
    assert_eq!(records.len(), 6);
    for (record, push) in records.iter().zip(&pushes) {
        assert_eq!(record["connection"], 1, "one connection for every push");
        assert_eq!(record["method"], "POST");
        assert_eq!(record["scheme"], "https");
        assert_eq!(record["authority"], format!("127.0.0.1:{}", server.port));
        assert_eq!(record["path"], format!("/3/device/{}", hex(&push.token)));
        let body = record["body"].as_str().unwrap();
        let expected_body = format!(
            "{{\"mdm\":{}}}",
            serde_json::to_string(&push.push_magic).unwrap()
        );
        assert_eq!(body, expected_body);
        let mut headers: Vec<(String, String)> = record["headers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                (
                    h[0].as_str().unwrap().to_owned(),
                    h[1].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        headers.sort();
        let mut want = vec![
            ("apns-priority".to_owned(), "10".to_owned()),
            ("apns-push-type".to_owned(), "mdm".to_owned()),
            ("apns-topic".to_owned(), topic.clone()),
            ("content-length".to_owned(), body.len().to_string()),
            ("content-type".to_owned(), "application/json".to_owned()),
        ];
        if push.id.is_some() {
            want.push(("apns-expiration".to_owned(), "1900000000".to_owned()));
            want.push((
                "apns-id".to_owned(),
                "922d9f1f-b82e-b337-edc9-db4fc8527676".to_owned(),
            ));
        }
        want.sort();
        assert_eq!(headers, want);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_pushes_share_one_connection() {
    if !peers_ready("many_pushes_share_one_connection") {
        return;
    }
    let pki = pki();
    let server = start_server(&pki);
    let mut config = config(&pki, &server);
    config.max_in_flight(64);
    let client = ApnsClient::new(&pki.push, config).unwrap();
    let topic = client.topic().to_owned();
    let pushes: Vec<_> = (0..500u16)
        .map(|n| PushRequest::new(token(1, n), format!("magic-{n}"), &topic))
        .collect();
    let results = client.push_many(pushes).await;
    assert_eq!(results.len(), 500);
    for (n, result) in results.iter().enumerate() {
        assert_eq!(
            result.request.push_magic,
            format!("magic-{n}"),
            "push_many gives results in the order given"
        );
        assert_eq!(
            result.verdict(0, &RetryPolicy::default()),
            Verdict::Delivered
        );
    }
    let records = server.records();
    assert_eq!(records.len(), 500);
    assert!(records.iter().all(|r| r["connection"] == 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn goaway_reconnects_and_retries() {
    if !peers_ready("goaway_reconnects_and_retries") {
        return;
    }
    let pki = pki();
    let server = start_server(&pki);
    let client = ApnsClient::new(&pki.push, config(&pki, &server)).unwrap();
    let topic = client.topic().to_owned();
    let before = client
        .push(PushRequest::new(token(1, 1), "m1", &topic))
        .await;
    assert_eq!(
        before.verdict(0, &RetryPolicy::default()),
        Verdict::Delivered
    );
    // The server answers this one with GOAWAY (not processed) and closes.
    let goaway = client
        .push(PushRequest::new(token(7, 2), "m2", &topic))
        .await;
    assert_eq!(
        goaway.verdict(0, &RetryPolicy::default()),
        Verdict::Delivered,
        "{goaway:?}"
    );
    let after = client
        .push(PushRequest::new(token(1, 3), "m3", &topic))
        .await;
    assert_eq!(
        after.verdict(0, &RetryPolicy::default()),
        Verdict::Delivered
    );

    let records = server.records();
    let summary: Vec<_> = records
        .iter()
        .map(|r| {
            (
                r["connection"].as_u64().unwrap(),
                r["goaway"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(summary, [(1, false), (1, true), (2, false), (2, false)]);
    assert_eq!(records[1]["path"], records[2]["path"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_goaway_naming_a_certificate_problem_is_reported_not_retried() {
    if !peers_ready("a_goaway_naming_a_certificate_problem_is_reported_not_retried") {
        return;
    }
    let pki = pki();
    let server = start_server(&pki);
    let client = ApnsClient::new(&pki.push, config(&pki, &server)).unwrap();
    let topic = client.topic().to_owned();
    // The server closes with GOAWAY {"reason":"BadCertificateEnvironment"}.
    let result = client
        .push(PushRequest::new(token(8, 1), "m1", &topic))
        .await;
    match &result.outcome {
        Err(apns::Error::GoAway { reason }) => {
            assert_eq!(reason, &Some(Reason::BadCertificateEnvironment));
        }
        other => panic!("expected the GOAWAY's reason, got {other:?}"),
    }
    assert_eq!(
        result.verdict(0, &RetryPolicy::default()),
        Verdict::FixCertificate
    );
    assert!(
        result
            .outcome
            .as_ref()
            .unwrap_err()
            .to_string()
            .contains("BadCertificateEnvironment")
    );
    // Sent once: resending cannot help until the certificate is replaced.
    assert_eq!(server.records().len(), 1);
    // The client reconnects for the next push.
    let next = client
        .push(PushRequest::new(token(1, 2), "m2", &topic))
        .await;
    assert_eq!(next.verdict(0, &RetryPolicy::default()), Verdict::Delivered);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_the_server_does_not_trust_is_refused() {
    if !peers_ready("a_certificate_the_server_does_not_trust_is_refused") {
        return;
    }
    let pki = pki();
    let server = start_server(&pki);
    let other = tempdir();
    let p = |n: &str| path_of(other.path(), n);
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/UID=com.apple.mgmt.External.other/CN=APSP:other",
        "-keyout",
        &p("k.pem"),
        "-out",
        &p("c.pem"),
    ]);
    let read = |n: &str| std::fs::read_to_string(other.path().join(n)).unwrap();
    let stranger = PushCertificate::from_pem(&read("c.pem"), &read("k.pem")).unwrap();
    let mut config = config(&pki, &server);
    config.max_attempts = 2;
    let client = ApnsClient::new(&stranger, config).unwrap();
    let result = client
        .push(PushRequest::new(token(1, 0), "m", client.topic()))
        .await;
    assert!(result.outcome.is_err(), "{result:?}");
    assert!(matches!(
        result.verdict(0, &RetryPolicy::default()),
        Verdict::RetryLater { .. }
    ));
    assert!(server.records().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_costs_few_connection_attempts() {
    if !require_peer(
        "an_outage_costs_few_connection_attempts",
        &["openssl", "version"],
    ) {
        return;
    }
    // A listener that accepts and hangs up at once, counting connections.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = accepted.clone();
    let acceptor = tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(socket);
        }
    });
    let pki = pki();
    let mut config = ApnsConfig::default();
    config.endpoint(format!("https://127.0.0.1:{port}"));
    config.trust_anchors_pem = Some(pki.ca_pem.clone());
    config.reconnect = RetryPolicy {
        base: Duration::from_millis(20),
        max: Duration::from_millis(100),
    };
    let client = ApnsClient::new(&pki.push, config).unwrap();
    let topic = client.topic().to_owned();
    let pushes = (0..300u16).map(|n| PushRequest::new(token(1, n), "m", &topic));
    let results = client.push_many(pushes).await;
    assert_eq!(results.len(), 300);
    assert!(results.iter().all(|r| r.outcome.is_err()));
    let attempts = accepted.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        (1..=6).contains(&attempts),
        "{attempts} connection attempts"
    );
    acceptor.abort();
}

/// What `nghttpd --verbose --hexdump` logged a client sent: the
/// decoded header lines of each stream, and the bytes it read (the raw
/// HTTP/2 frames after TLS), from which each stream's DATA is taken.
struct NghttpdLog {
    /// `(connection, stream) -> [(name, value)]`, in the order received.
    headers: std::collections::BTreeMap<(u32, u32), Vec<(String, String)>>,
    /// Stream → the bytes of its DATA frames (one connection only).
    bodies: std::collections::BTreeMap<u32, Vec<u8>>,
}

impl NghttpdLog {
    fn parse(text: &str) -> Self {
        let mut headers: std::collections::BTreeMap<(u32, u32), Vec<(String, String)>> =
            Default::default();
        let mut incoming = Vec::new();
        let mut last_line: Vec<u8> = Vec::new();
        let mut repeat = false;
        let mut dump_start = 0;
        for line in text.lines() {
            // `[id=1] [  0.631] recv (stream_id=1) :path: /3/device/ab`
            if let Some(rest) = line.strip_prefix("[id=")
                && let Some((conn, rest)) = rest.split_once(']')
                && let Some((_, rest)) = rest.split_once("recv (stream_id=")
                && let Some((stream, header)) = rest.split_once(") ")
            {
                // `:path: /3/…` splits at its first ": " like `name: value`.
                let (name, value) = header.split_once(": ").unwrap();
                headers
                    .entry((conn.parse().unwrap(), stream.parse().unwrap()))
                    .or_default()
                    .push((name.to_owned(), value.to_owned()));
                continue;
            }
            // Canonical hex+ASCII: `00000010  0d 0a 53 4d ...  |..SM|`; a
            // `*` stands for repeats of the line before, up to the next
            // offset; a bare offset ends a dump.
            if line == "*" {
                repeat = true;
                continue;
            }
            let is_offset = line.len() >= 8 && line[..8].bytes().all(|b| b.is_ascii_hexdigit());
            if !is_offset || (line.len() > 8 && !line[8..].starts_with("  ")) {
                continue;
            }
            let offset = usize::from_str_radix(&line[..8], 16).unwrap();
            if offset == 0 {
                dump_start = incoming.len();
            }
            if repeat {
                while incoming.len() - dump_start < offset {
                    incoming.extend_from_slice(&last_line);
                }
                repeat = false;
            }
            let hex_part = line[8..].split('|').next().unwrap();
            let bytes: Vec<u8> = hex_part
                .split_whitespace()
                .map(|h| u8::from_str_radix(h, 16).unwrap())
                .collect();
            incoming.extend_from_slice(&bytes);
            if !bytes.is_empty() {
                last_line = bytes;
            }
        }
        // The frames after the client preface.
        let mut bodies: std::collections::BTreeMap<u32, Vec<u8>> = Default::default();
        assert!(incoming.starts_with(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
        let mut at = 24;
        while at + 9 <= incoming.len() {
            let len = usize::from(incoming[at]) << 16
                | usize::from(incoming[at + 1]) << 8
                | usize::from(incoming[at + 2]);
            let (kind, flags) = (incoming[at + 3], incoming[at + 4]);
            let stream =
                u32::from_be_bytes(incoming[at + 5..at + 9].try_into().unwrap()) & 0x7fff_ffff;
            let payload = &incoming[at + 9..(at + 9 + len).min(incoming.len())];
            if kind == 0 {
                let data = if flags & 0x8 != 0 {
                    let pad = usize::from(payload[0]);
                    &payload[1..payload.len() - pad]
                } else {
                    payload
                };
                bodies.entry(stream).or_default().extend_from_slice(data);
            }
            at += 9 + len;
        }
        Self { headers, bodies }
    }
}

/// `nghttpd` (nghttp2) with `--verify-client` and `--echo-upload`: every
/// POST gets a 200. Its verbose log shows the headers it decoded per
/// stream, and its hexdump the bytes it read, so each push's path, headers
/// and body are checked exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_against_nghttpd() {
    let test = "pushes_against_nghttpd";
    if !require_peer(test, &["openssl", "version"])
        || !require_peer(test, &["nghttpd", "--version"])
    {
        return;
    }
    let pki = pki();
    let p = |n: &str| path_of(pki.dir.path(), n);
    let port = {
        // A free port for nghttpd, which cannot pick one itself.
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let log_path = pki.dir.path().join("nghttpd.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let child = Command::new("nghttpd")
        .args(["-v", "--hexdump", "-V", "--echo-upload", "-a", "127.0.0.1"])
        .args(["-d", &p("")])
        .args([port.to_string(), p("server.key"), p("server.pem")])
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting nghttpd");
    let _server = KillOnDrop(child);
    let mut up = false;
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "nghttpd did not start listening on {port}");

    let mut config = ApnsConfig::default();
    config.endpoint(format!("https://127.0.0.1:{port}"));
    config.trust_anchors_pem = Some(pki.ca_pem.clone());
    let client = ApnsClient::new(&pki.push, config).unwrap();
    let topic = client.topic().to_owned();
    // The first push sets every header; the push magic needs escaping.
    let mut every = PushRequest::new(token(1, 999), "47250C9C-\"1B37\"\\4381", &topic);
    every.id = Some(Uuid::from_u128(0x922d9f1f_b82e_b337_edc9_db4fc8527676));
    every.expiration = Some(1_900_000_000);
    every.priority = Some(5);
    let mut pushes = vec![every];
    pushes.extend((0..49u16).map(|n| PushRequest::new(token(1, n), format!("magic-{n}"), &topic)));
    let results = client.push_many(pushes.clone()).await;
    for result in &results {
        assert_eq!(
            result.verdict(0, &RetryPolicy::default()),
            Verdict::Delivered,
            "{result:?}"
        );
    }
    // nghttpd logs after it has answered; give it a moment to flush.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let text = std::fs::read_to_string(&log_path).unwrap();
    let log = NghttpdLog::parse(&text);
    // nghttpd numbers its connections `[id=N]` (the readiness probe above
    // made none: it never finished TLS); every push came on the same one.
    let connections: std::collections::BTreeSet<u32> = log.headers.keys().map(|k| k.0).collect();
    assert_eq!(
        connections.len(),
        1,
        "one connection for every push:\n{text}"
    );
    assert_eq!(log.headers.len(), 50, "{text}");
    let mut seen = std::collections::BTreeSet::new();
    for ((_, stream), got) in &log.headers {
        let path = &got.iter().find(|(n, _)| n == ":path").unwrap().1;
        let push = pushes
            .iter()
            .find(|p| format!("/3/device/{}", hex(&p.token)) == *path)
            .unwrap_or_else(|| panic!("a push to {path} was not sent"));
        assert!(seen.insert(path.clone()), "{path} sent twice");
        let body = format!(
            "{{\"mdm\":{}}}",
            serde_json::to_string(&push.push_magic).unwrap()
        );
        let mut want = vec![
            (":method".to_owned(), "POST".to_owned()),
            (":scheme".to_owned(), "https".to_owned()),
            (":authority".to_owned(), format!("127.0.0.1:{port}")),
            (":path".to_owned(), path.clone()),
            ("apns-push-type".to_owned(), "mdm".to_owned()),
            ("apns-topic".to_owned(), topic.clone()),
            (
                "apns-priority".to_owned(),
                push.priority.unwrap_or(10).to_string(),
            ),
            ("content-type".to_owned(), "application/json".to_owned()),
            ("content-length".to_owned(), body.len().to_string()),
        ];
        if push.id.is_some() {
            want.push(("apns-expiration".to_owned(), "1900000000".to_owned()));
            want.push((
                "apns-id".to_owned(),
                "922d9f1f-b82e-b337-edc9-db4fc8527676".to_owned(),
            ));
        }
        let mut got = got.clone();
        got.sort();
        want.sort();
        assert_eq!(got, want, "stream {stream}");
        assert_eq!(
            log.bodies.get(stream).map(Vec::as_slice),
            Some(body.as_bytes()),
            "the body of stream {stream} ({path})"
        );
    }
    assert_eq!(seen.len(), 50);
}

fn events_of(server: &Server, kind: &str) -> Vec<serde_json::Value> {
    server
        .events()
        .into_iter()
        .filter(|e| e["event"] == kind)
        .collect()
}

/// One slow push (never answered, waiting out its timeout) holds one place
/// in the window, not the window: the others are sent and reported while
/// it waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_push_does_not_stall_the_others() {
    if !peers_ready("a_slow_push_does_not_stall_the_others") {
        return;
    }
    let pki = pki();
    let server = start_server(&pki);
    let mut config = config(&pki, &server);
    config
        .max_in_flight(4)
        .request_timeout(Duration::from_millis(1500));
    let client = ApnsClient::new(&pki.push, config).unwrap();
    let topic = client.topic().to_owned();
    // The first push is never answered (..0a); 40 more are.
    let mut pushes = vec![PushRequest::new(token(0x0a, 0), "slow", &topic)];
    pushes.extend((1..=40u16).map(|n| PushRequest::new(token(1, n), format!("m{n}"), &topic)));
    let started = std::time::Instant::now();
    let mut order = Vec::new();
    let mut stream = std::pin::pin!(client.push_stream(pushes.into_iter().enumerate()));
    while let Some((i, result)) = futures_util::StreamExt::next(&mut stream).await {
        order.push((i, result, started.elapsed()));
    }
    assert_eq!(order.len(), 41);
    // Every fast push was reported before the slow one timed out.
    let (last, slow, at) = order.last().unwrap();
    assert_eq!(*last, 0, "the slow push comes last");
    assert!(
        matches!(slow.outcome, Err(apns::Error::Timeout(t)) if t == Duration::from_millis(1500)),
        "{slow:?}"
    );
    assert!(matches!(
        slow.verdict(0, &RetryPolicy::default()),
        Verdict::RetryLater { .. }
    ));
    assert!(
        *at >= Duration::from_millis(1400),
        "timed out early: {at:?}"
    );
    for (i, result, when) in &order[..40] {
        assert_eq!(
            result.verdict(0, &RetryPolicy::default()),
            Verdict::Delivered,
            "{i}: {result:?}"
        );
        assert!(
            *when < Duration::from_millis(1400),
            "push {i} waited for the slow one: {when:?}"
        );
    }
    // push_many gives the same pushes back in the order given.
    let again = client
        .push_many((1..=5u16).map(|n| PushRequest::new(token(1, n), format!("again{n}"), &topic)))
        .await;
    let magics: Vec<_> = again.iter().map(|r| r.request.push_magic.clone()).collect();
    assert_eq!(magics, ["again1", "again2", "again3", "again4", "again5"]);
}

/// The server advertises SETTINGS_MAX_CONCURRENT_STREAMS 5 and answers
/// each push 30 ms late: however many pushes may be in flight, no more
/// than 5 streams are ever open at once, and waiting for a stream does not
/// count against a push's timeout (200 pushes take over a second; each
/// has 400 ms).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_servers_stream_limit_is_respected() {
    if !peers_ready("the_servers_stream_limit_is_respected") {
        return;
    }
    let pki = pki();
    let server = Server::start_with(
        pki.dir.path(),
        &["--max-concurrent-streams", "5", "--answer-delay-ms", "30"],
    );
    let mut config = config(&pki, &server);
    config
        .max_in_flight(1000)
        .request_timeout(Duration::from_millis(400));
    let client = ApnsClient::new(&pki.push, config).unwrap();
    let topic = client.topic().to_owned();
    let started = std::time::Instant::now();
    let results = client
        .push_many((0..200u16).map(|n| PushRequest::new(token(1, n), format!("m{n}"), &topic)))
        .await;
    let elapsed = started.elapsed();
    for r in &results {
        assert_eq!(
            r.verdict(0, &RetryPolicy::default()),
            Verdict::Delivered,
            "{r:?}"
        );
    }
    let records = server.records();
    assert_eq!(records.len(), 200);
    assert!(records.iter().all(|r| r["connection"] == 1));
    let peak = records
        .iter()
        .map(|r| r["open_streams"].as_u64().unwrap())
        .max()
        .unwrap();
    assert!(peak <= 5, "{peak} streams open at once");
    assert!(peak >= 2, "the streams were not used concurrently ({peak})");
    assert!(
        elapsed > Duration::from_millis(400),
        "too fast for 40 rounds of 30 ms: {elapsed:?}"
    );
}

/// An idle connection is checked with PINGs at the configured interval.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_is_pinged() {
    if !peers_ready("an_idle_connection_is_pinged") {
        return;
    }
    let pki = pki();
    let server = start_server(&pki);
    let mut config = config(&pki, &server);
    config.keep_alive(Some(Duration::from_millis(300)), Duration::from_secs(5));
    let client = ApnsClient::new(&pki.push, config).unwrap();
    let topic = client.topic().to_owned();
    let r = client
        .push(PushRequest::new(token(1, 1), "m", &topic))
        .await;
    assert_eq!(r.verdict(0, &RetryPolicy::default()), Verdict::Delivered);
    let answered = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let pings = events_of(&server, "ping");
    assert!(pings.len() >= 2, "{pings:?}");
    assert!(pings.iter().all(|p| p["connection"] == 1));
    let first = pings[0]["at"].as_f64().unwrap();
    assert!(
        first - answered < 0.3 + 0.4,
        "the first PING came {:.3} s after the answer",
        first - answered
    );
    // Still the same connection for the next push.
    let r = client
        .push(PushRequest::new(token(1, 2), "m", &topic))
        .await;
    assert_eq!(r.verdict(0, &RetryPolicy::default()), Verdict::Delivered);
    assert!(server.records().iter().all(|r| r["connection"] == 1));
    assert_eq!(events_of(&server, "connection").len(), 1);
}

/// A connection whose PING goes unanswered is considered dead: the next
/// push opens a new one instead of waiting on the silent one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_ping_means_a_new_connection() {
    if !peers_ready("an_unanswered_ping_means_a_new_connection") {
        return;
    }
    let pki = pki();
    let server = start_server(&pki);
    let mut config = config(&pki, &server);
    config
        .keep_alive(Some(Duration::from_millis(200)), Duration::from_millis(300))
        .request_timeout(Duration::from_secs(3));
    let client = ApnsClient::new(&pki.push, config).unwrap();
    let topic = client.topic().to_owned();
    // Answered, then the server goes silent on that connection (..09).
    let r = client
        .push(PushRequest::new(token(9, 1), "m", &topic))
        .await;
    assert_eq!(r.verdict(0, &RetryPolicy::default()), Verdict::Delivered);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let started = std::time::Instant::now();
    let r = client
        .push(PushRequest::new(token(1, 2), "m", &topic))
        .await;
    assert_eq!(
        r.verdict(0, &RetryPolicy::default()),
        Verdict::Delivered,
        "{r:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the push waited on the dead connection"
    );
    let records = server.records();
    assert_eq!(records.len(), 2);
    assert_eq!(records[1]["connection"], 2, "{records:?}");
    let unanswered = events_of(&server, "ping")
        .into_iter()
        .filter(|p| p["connection"] == 1 && p["silent"] == true)
        .count();
    assert!(unanswered >= 1, "{:?}", server.events());
}

/// A push the server never answers fails with a timeout after the
/// configured time, and the connection stays in use.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_never_answered_times_out() {
    if !peers_ready("a_push_never_answered_times_out") {
        return;
    }
    let pki = pki();
    let server = start_server(&pki);
    let mut config = config(&pki, &server);
    config.request_timeout(Duration::from_millis(500));
    let client = ApnsClient::new(&pki.push, config).unwrap();
    let topic = client.topic().to_owned();
    let started = std::time::Instant::now();
    let r = client
        .push(PushRequest::new(token(0x0a, 1), "m", &topic))
        .await;
    let took = started.elapsed();
    match &r.outcome {
        Err(apns::Error::Timeout(t)) => assert_eq!(*t, Duration::from_millis(500)),
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert_eq!(
        r.verdict(2, &RetryPolicy::default()),
        Verdict::RetryLater {
            after: Duration::from_secs(4)
        }
    );
    let r = client
        .push(PushRequest::new(token(1, 2), "m", &topic))
        .await;
    assert_eq!(r.verdict(0, &RetryPolicy::default()), Verdict::Delivered);
    assert!(server.records().iter().all(|r| r["connection"] == 1));
}

/// A server that completes the handshake and then sends GOAWAY at once
/// sees one connection per back-off step (100, 200, 400 ms), not a storm,
/// and every push ends with a clear error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_goes_away_at_once_meets_the_back_off() {
    if !peers_ready("a_server_that_goes_away_at_once_meets_the_back_off") {
        return;
    }
    let pki = pki();
    let server = Server::start_with(pki.dir.path(), &["--goaway-on-connect"]);
    let mut config = config(&pki, &server);
    config.reconnect = RetryPolicy {
        base: Duration::from_millis(100),
        max: Duration::from_millis(400),
    };
    config.max_attempts = 4;
    let client = ApnsClient::new(&pki.push, config).unwrap();
    let topic = client.topic().to_owned();
    let started = std::time::Instant::now();
    let results = client
        .push_many((0..20u16).map(|n| PushRequest::new(token(1, n), "m", &topic)))
        .await;
    let elapsed = started.elapsed();
    let connections = events_of(&server, "connection").len();
    for r in &results {
        let e = r.outcome.as_ref().expect_err("no push can succeed");
        assert!(
            matches!(e, apns::Error::GoAway { .. } | apns::Error::Http(_)),
            "{e:?}"
        );
        assert!(!e.to_string().is_empty());
        assert!(matches!(
            r.verdict(0, &RetryPolicy::default()),
            Verdict::RetryLater { .. }
        ));
    }
    assert!(
        results.iter().any(|r| matches!(
            &r.outcome,
            Err(apns::Error::GoAway {
                reason: Some(Reason::Shutdown)
            })
        )),
        "the GOAWAY's reason is reported: {results:?}"
    );
    // However the pushes' attempts interleave, every connection after the
    // first waited for the next back-off step: in `elapsed`, at most one
    // connection more than the steps (100, 200, 400, 400, ... ms) that fit.
    let policy = RetryPolicy {
        base: Duration::from_millis(100),
        max: Duration::from_millis(400),
    };
    let waited = |steps: u32| (0..steps).map(|i| policy.delay(i)).sum::<Duration>();
    let fit = (0..).take_while(|&k| waited(k + 1) <= elapsed).count();
    assert!(
        connections >= 2 && connections <= fit + 1,
        "{connections} connections in {elapsed:?}"
    );
    let needed = waited(u32::try_from(connections).unwrap() - 1);
    assert!(
        elapsed >= needed.mul_f64(0.9),
        "{connections} connections in {elapsed:?}: the back-off ({needed:?}) was not waited"
    );
    // The run of failures is remembered: one more push waits the capped
    // back-off (400 ms) before its first connection attempt.
    let before = events_of(&server, "connection").len();
    let started = std::time::Instant::now();
    let mut one = std::pin::pin!(client.push(PushRequest::new(token(1, 99), "m", &topic)));
    let early = tokio::time::timeout(Duration::from_millis(300), &mut one).await;
    assert!(early.is_err(), "the push gave up without waiting");
    assert_eq!(
        events_of(&server, "connection").len(),
        before,
        "reconnected within the back-off"
    );
    let r = one.await;
    assert!(r.outcome.is_err());
    assert!(started.elapsed() >= Duration::from_millis(380));
}
