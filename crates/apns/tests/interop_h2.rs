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
            "results keep the order"
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

/// `nghttpd` (nghttp2) with `--verify-client` and `--echo-upload`: every
/// POST gets a 200. Its verbose log shows the headers it decoded.
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
        .args(["-v", "-V", "--echo-upload", "-a", "127.0.0.1", "-d", &p("")])
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
    let pushes: Vec<_> = (0..50u16)
        .map(|n| PushRequest::new(token(1, n), format!("magic-{n}"), &topic))
        .collect();
    let results = client.push_many(pushes.clone()).await;
    for result in &results {
        assert_eq!(
            result.verdict(0, &RetryPolicy::default()),
            Verdict::Delivered,
            "{result:?}"
        );
    }

    let text = std::fs::read_to_string(&log_path).unwrap();
    // nghttpd numbers its connections `[id=N]` (the readiness probe above
    // was one); every request must have come on the same one.
    let connections: std::collections::BTreeSet<&str> = text
        .lines()
        .filter(|l| l.contains(" :path: "))
        .filter_map(|l| l.split(']').next())
        .collect();
    assert_eq!(
        connections.len(),
        1,
        "one connection for every push:\n{text}"
    );
    for push in &pushes {
        let path = format!(":path: /3/device/{}", hex(&push.token));
        assert!(text.contains(&path), "{path} missing:\n{text}");
    }
    for header in [
        ":method: POST".to_owned(),
        ":scheme: https".to_owned(),
        format!(":authority: 127.0.0.1:{port}"),
        "apns-push-type: mdm".to_owned(),
        format!("apns-topic: {topic}"),
        "apns-priority: 10".to_owned(),
        "content-type: application/json".to_owned(),
    ] {
        assert_eq!(text.matches(&header).count(), 50, "{header}:\n{text}");
    }
}
