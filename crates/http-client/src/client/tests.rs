use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

/// A loopback server that answers each connection's first request with
/// `answer` and hands back what it received.
async fn one_shot(answer: &'static [u8]) -> (SocketAddr, tokio::task::JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = s.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        s.write_all(answer).await.unwrap();
        s.flush().await.unwrap();
        got
    });
    (addr, task)
}

fn get(url: &str) -> http::Request<Vec<u8>> {
    http::Request::get(url)
        .header("user-agent", "pippin-test")
        .body(Vec::new())
        .unwrap()
}

fn plain_client(config: &mut HttpsConfig) -> HttpsClient {
    // Any anchor will do for plain-HTTP tests; the system bundle may be absent.
    let ca = rcgen::generate_simple_self_signed(vec!["unused.test".into()]).unwrap();
    config.trust_anchors_pem(ca.cert.pem());
    HttpsClient::new(config).unwrap()
}

#[tokio::test]
async fn plain_http_on_loopback() {
    let (addr, server) =
        one_shot(b"HTTP/1.1 201 Created\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello").await;
    let client = plain_client(&mut HttpsConfig::default());
    let r = client
        .send(get(&format!("http://{addr}/x/y?z=1")))
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["x-a"], "b");
    assert_eq!(&r.body()[..], b"hello");
    let seen = String::from_utf8(server.await.unwrap()).unwrap();
    assert!(seen.starts_with("GET /x/y?z=1 HTTP/1.1\r\n"), "{seen}");
    assert!(seen.contains("user-agent: pippin-test\r\n"), "{seen}");
}

#[tokio::test]
async fn plain_http_off_loopback_is_refused_without_connecting() {
    let client = plain_client(&mut HttpsConfig::default());
    for url in [
        "http://192.0.2.1/",
        "http://example.com/",
        "ftp://127.0.0.1/",
    ] {
        let e = client.send(get(url)).await.unwrap_err();
        assert!(matches!(e, Error::InvalidUrl(_)), "{url}: {e}");
        assert!(!e.is_transient());
    }
}

#[tokio::test]
async fn bodies_are_bounded() {
    let mut config = HttpsConfig::default();
    config.max_body_len(8);
    let client = plain_client(&mut config);
    // Announced too long.
    let (addr, _s) = one_shot(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n123456789").await;
    let e = client
        .send(get(&format!("http://{addr}/")))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::BodyTooLarge { limit: 8 }), "{e}");
    // Chunked, found too long while reading.
    let (addr, _s) = one_shot(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n12345\r\n5\r\n67890\r\n0\r\n\r\n",
    )
    .await;
    let e = client
        .send(get(&format!("http://{addr}/")))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::BodyTooLarge { limit: 8 }), "{e}");
    // Exactly at the limit is fine.
    let (addr, _s) = one_shot(b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n12345678").await;
    let r = client.send(get(&format!("http://{addr}/"))).await.unwrap();
    assert_eq!(&r.body()[..], b"12345678");
}

#[tokio::test]
async fn silent_servers_time_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let _hold = tokio::spawn(async move {
        let (s, _) = listener.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(s);
    });
    let mut config = HttpsConfig::default();
    config.request_timeout(Duration::from_millis(300));
    let client = plain_client(&mut config);
    let started = std::time::Instant::now();
    let e = client
        .send(get(&format!("http://{addr}/")))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Timeout(_)), "{e}");
    assert!(e.is_transient());
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn refused_connections_are_connect_errors() {
    // Bind and drop to find a port nobody listens on.
    let addr = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let client = plain_client(&mut HttpsConfig::default());
    let e = client
        .send(get(&format!("http://{addr}/")))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Connect(_)), "{e}");
}

#[test]
fn trust_anchor_errors() {
    let mut config = HttpsConfig::default();
    config.trust_anchors_pem("not a certificate");
    assert!(matches!(HttpsClient::new(&config), Err(Error::Tls(_))));
    config.trust_anchors_pem("-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n");
    assert!(matches!(HttpsClient::new(&config), Err(Error::Tls(_))));
}

/// `openssl s_server -www` on loopback: an HTTPS server we did not write.
struct OpensslServer {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
    ca_pem: String,
}

impl Drop for OpensslServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `None` when openssl is missing (outside CI); `Some(Err(status))` when
/// the server did not come up.
fn openssl_server(test: &str, extra: &[&str]) -> Option<Result<OpensslServer, String>> {
    if !test_support::require_peer(test, &["openssl", "version"]) {
        return None;
    }
    let dir = test_support::tempdir();
    let ca = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&cert, ca.cert.pem()).unwrap();
    std::fs::write(&key, ca.signing_key.serialize_pem()).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut args = vec![
        "s_server".to_owned(),
        "-accept".to_owned(),
        format!("127.0.0.1:{port}"),
        "-cert".to_owned(),
        cert.display().to_string(),
        "-key".to_owned(),
        key.display().to_string(),
        "-www".to_owned(),
        "-quiet".to_owned(),
    ];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let child = Command::new("openssl")
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut server = OpensslServer {
        child,
        port,
        _dir: dir,
        ca_pem: ca.cert.pem(),
    };
    // Bounded wait for the listener.
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(Ok(server));
        }
        if let Ok(Some(status)) = server.child.try_wait() {
            return Some(Err(format!("openssl s_server exited: {status}")));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(Err("openssl s_server did not listen within 5 s".to_owned()))
}

#[tokio::test]
async fn https_against_openssl_s_server() {
    let Some(server) = openssl_server("https_against_openssl_s_server", &[]) else {
        return;
    };
    let server = server.unwrap();
    // Trusted through the configured anchor.
    let mut config = HttpsConfig::default();
    config.trust_anchors_pem(server.ca_pem.clone());
    let client = HttpsClient::new(&config).unwrap();
    let r = client
        .send(get(&format!("https://localhost:{}/", server.port)))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body = String::from_utf8_lossy(r.body());
    // s_server -www describes the session it negotiated.
    assert!(
        body.contains("TLSv1.3") || body.contains("TLSv1.2"),
        "{body}"
    );

    // Not trusted: another anchor.
    let other = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let mut config = HttpsConfig::default();
    config.trust_anchors_pem(other.cert.pem());
    let client = HttpsClient::new(&config).unwrap();
    let e = client
        .send(get(&format!("https://localhost:{}/", server.port)))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Connect(_)), "{e}");
}

#[tokio::test]
async fn tls_below_1_2_is_refused() {
    // A server that only speaks TLS 1.1 (if this openssl still can).
    let Some(server) = openssl_server(
        "tls_below_1_2_is_refused",
        &["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"],
    ) else {
        return;
    };
    let server = match server {
        Ok(s) => s,
        Err(e) => {
            eprintln!("SKIPPED tls_below_1_2_is_refused: this openssl cannot serve TLS 1.1 ({e})");
            return;
        }
    };
    let mut config = HttpsConfig::default();
    config.trust_anchors_pem(server.ca_pem.clone());
    let client = HttpsClient::new(&config).unwrap();
    let e = client
        .send(get(&format!("https://localhost:{}/", server.port)))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Connect(_)), "{e}");
}
