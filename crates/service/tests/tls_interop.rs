//! Real TLS handshakes on 127.0.0.1 between a tokio-rustls server using
//! `server_config` and: rustls clients using `client_config`, curl, and
//! `openssl s_client`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use pippin_service::rustls::pki_types::ServerName;
use pippin_service::rustls::{self, ClientConfig, ServerConfig};
use pippin_service::{
    CaMaterial, ClientAuth, IssuedCert, MinTlsVersion, cert_sha256, certs_from_pem, client_config,
    generate_ca, issue_client_cert, issue_server_cert, server_config,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::timeout;
use tokio_rustls::{TlsAcceptor, TlsConnector};

const WAIT: Duration = Duration::from_secs(10);
const BODY: &str = "pippin";

/// What the server saw of one connection.
#[derive(Debug)]
enum Outcome {
    Accepted {
        version: rustls::ProtocolVersion,
        alpn: Option<Vec<u8>>,
        client_cert: bool,
    },
    Refused(String),
}

/// A TLS server on 127.0.0.1 that answers every request with a tiny
/// HTTP/1.1 response and reports each handshake.
struct Server {
    addr: SocketAddr,
    outcomes: mpsc::UnboundedReceiver<Outcome>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    async fn start(config: Arc<ServerConfig>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, outcomes) = mpsc::unbounded_channel();
        let acceptor = TlsAcceptor::from(config);
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    let mut tls = match timeout(WAIT, acceptor.accept(tcp)).await {
                        Ok(Ok(tls)) => tls,
                        Ok(Err(e)) => {
                            let _ = tx.send(Outcome::Refused(e.to_string()));
                            return;
                        }
                        Err(_) => {
                            let _ = tx.send(Outcome::Refused("handshake timed out".into()));
                            return;
                        }
                    };
                    let (_, conn) = tls.get_ref();
                    let _ = tx.send(Outcome::Accepted {
                        version: conn.protocol_version().unwrap(),
                        alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
                        client_cert: conn.peer_certificates().is_some(),
                    });
                    // Read the request head, answer, close.
                    let mut request = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match timeout(WAIT, tls.read(&mut buf)).await {
                            Ok(Ok(n)) if n > 0 => request.extend_from_slice(&buf[..n]),
                            _ => return,
                        }
                    }
                    let response = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{BODY}",
                        BODY.len()
                    );
                    let _ = tls.write_all(response.as_bytes()).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        Self {
            addr,
            outcomes,
            task,
        }
    }

    async fn next_outcome(&mut self) -> Outcome {
        timeout(WAIT, self.outcomes.recv())
            .await
            .expect("the server saw no connection in time")
            .expect("the server stopped")
    }

    fn port(&self) -> String {
        self.addr.port().to_string()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A CA and a server certificate for `localhost` and 127.0.0.1, written to
/// a temporary directory for the command-line peers.
struct Material {
    dir: tempfile::TempDir,
    ca: CaMaterial,
    server: IssuedCert,
}

impl Material {
    fn new() -> Self {
        let now = SystemTime::now();
        let ca = generate_ca("Pippin Interop CA", now).unwrap();
        let server = issue_server_cert(
            &ca,
            &["localhost".to_owned(), "127.0.0.1".to_owned()],
            &[],
            now,
        )
        .unwrap();
        let dir = test_support::tempdir();
        std::fs::write(dir.path().join("ca.pem"), &ca.cert_pem).unwrap();
        Self { dir, ca, server }
    }

    fn server_config(&self, auth: ClientAuth, min: MinTlsVersion) -> Arc<ServerConfig> {
        server_config(
            &self.server.cert_pem,
            self.server.key_pem.expose(),
            auth,
            min,
        )
        .unwrap()
    }

    fn roots(&self) -> Vec<rustls::pki_types::CertificateDer<'static>> {
        certs_from_pem(&self.ca.cert_pem).unwrap()
    }

    fn ca_path(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

/// Connects a rustls client, sends a request and returns the response body,
/// or the error of the first step that failed.
async fn fetch(
    config: Arc<ClientConfig>,
    addr: SocketAddr,
    name: &str,
) -> Result<(String, Option<Vec<u8>>, rustls::ProtocolVersion), String> {
    let tcp = timeout(WAIT, TcpStream::connect(addr))
        .await
        .map_err(|_| "connect timed out".to_owned())?
        .map_err(|e| e.to_string())?;
    let name = ServerName::try_from(name.to_owned()).unwrap();
    let mut tls = timeout(WAIT, TlsConnector::from(config).connect(name, tcp))
        .await
        .map_err(|_| "handshake timed out".to_owned())?
        .map_err(|e| e.to_string())?;
    let (_, conn) = tls.get_ref();
    let alpn = conn.alpn_protocol().map(<[u8]>::to_vec);
    let version = conn.protocol_version().unwrap();
    let io = async {
        tls.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await?;
        let mut response = Vec::new();
        tls.read_to_end(&mut response).await?;
        Ok::<_, std::io::Error>(response)
    };
    let response = timeout(WAIT, io)
        .await
        .map_err(|_| "exchange timed out".to_owned())?
        .map_err(|e| e.to_string())?;
    let response = String::from_utf8(response).map_err(|e| e.to_string())?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .ok_or_else(|| format!("no HTTP response: {response:?}"))?;
    Ok((body, alpn, version))
}

/// Runs a peer tool with its stdin closed, killing it after a bound.
async fn run_peer(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        let mut child = Command::new(&args[0])
            .args(&args[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {args:?}: {e}"));
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if child.try_wait().unwrap().is_some() {
                return child.wait_with_output().unwrap();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let out = child.wait_with_output().unwrap();
                panic!(
                    "{args:?} did not finish in time: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    })
    .await
    .unwrap()
}

fn args(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| (*s).to_owned()).collect()
}

fn path_arg(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[tokio::test]
async fn rustls_client_negotiates_h2_over_tls13() {
    let m = Material::new();
    let mut server = Server::start(m.server_config(ClientAuth::None, MinTlsVersion::Tls12)).await;

    let plain = client_config(&m.ca.cert_pem, None, None).unwrap();
    let (body, alpn, version) = fetch(plain.clone(), server.addr, "localhost")
        .await
        .unwrap();
    assert_eq!(body, BODY);
    assert_eq!(alpn, None, "the client offered no ALPN");
    assert_eq!(version, rustls::ProtocolVersion::TLSv1_3);
    assert!(matches!(
        server.next_outcome().await,
        Outcome::Accepted { .. }
    ));

    let mut h2 = (*plain).clone();
    h2.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let (_, alpn, _) = fetch(Arc::new(h2), server.addr, "localhost").await.unwrap();
    assert_eq!(alpn.as_deref(), Some(&b"h2"[..]));
    let Outcome::Accepted { alpn, .. } = server.next_outcome().await else {
        panic!("refused");
    };
    assert_eq!(alpn.as_deref(), Some(&b"h2"[..]));

    let mut http1 = (*plain).clone();
    http1.alpn_protocols = vec![b"http/1.1".to_vec()];
    let (_, alpn, _) = fetch(Arc::new(http1), server.addr, "127.0.0.1")
        .await
        .unwrap();
    assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));

    // The certificate is not valid for another name.
    let err = fetch(plain, server.addr, "other.example.test")
        .await
        .unwrap_err();
    assert!(err.contains("certificate"), "{err}");
}

#[tokio::test]
async fn tls12_clients_are_served_unless_tls13_is_required() {
    let m = Material::new();
    let tls12_only = ClientConfig::builder_with_provider(pippin_service::provider())
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_root_certificates({
            let mut roots = rustls::RootCertStore::empty();
            roots.add_parsable_certificates(m.roots());
            roots
        })
        .with_no_client_auth();
    let tls12_only = Arc::new(tls12_only);

    let server = Server::start(m.server_config(ClientAuth::None, MinTlsVersion::Tls12)).await;
    let (body, _, version) = fetch(tls12_only.clone(), server.addr, "localhost")
        .await
        .unwrap();
    assert_eq!(body, BODY);
    assert_eq!(version, rustls::ProtocolVersion::TLSv1_2);

    let mut strict = Server::start(m.server_config(ClientAuth::None, MinTlsVersion::Tls13)).await;
    assert!(fetch(tls12_only, strict.addr, "localhost").await.is_err());
    assert!(matches!(strict.next_outcome().await, Outcome::Refused(_)));
    let (_, _, version) = fetch(
        client_config(&m.ca.cert_pem, None, None).unwrap(),
        strict.addr,
        "localhost",
    )
    .await
    .unwrap();
    assert_eq!(version, rustls::ProtocolVersion::TLSv1_3);
}

#[tokio::test]
async fn curl_is_served_and_tls11_is_refused() {
    if !test_support::require_peer(
        "curl_is_served_and_tls11_is_refused",
        &["curl", "--version"],
    ) {
        return;
    }
    let m = Material::new();
    let mut server = Server::start(m.server_config(ClientAuth::None, MinTlsVersion::Tls12)).await;
    let url = format!("https://localhost:{}/", server.port());
    let resolve = format!("localhost:{}:127.0.0.1", server.port());
    let ca = m.ca_path();

    let out = run_peer(args(&[
        "curl",
        "--silent",
        "--show-error",
        "--max-time",
        "10",
        "--resolve",
        &resolve,
        "--http1.1",
        "--cacert",
        path_arg(&ca),
        &url,
    ]))
    .await;
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), BODY);
    assert!(matches!(
        server.next_outcome().await,
        Outcome::Accepted { .. }
    ));

    // TLS 1.2 exactly, as an older client would.
    let out = run_peer(args(&[
        "curl",
        "--silent",
        "--show-error",
        "--max-time",
        "10",
        "--resolve",
        &resolve,
        "--http1.1",
        "--tlsv1.2",
        "--tls-max",
        "1.2",
        "--cacert",
        path_arg(&ca),
        &url,
    ]))
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let Outcome::Accepted { version, .. } = server.next_outcome().await else {
        panic!("refused");
    };
    assert_eq!(version, rustls::ProtocolVersion::TLSv1_2);

    // TLS 1.1, with OpenSSL's own floor lowered so that the refusal is the
    // server's: curl must fail and the server must have seen the attempt.
    let out = run_peer(args(&[
        "curl",
        "--silent",
        "--show-error",
        "--max-time",
        "10",
        "--resolve",
        &resolve,
        "--http1.1",
        "--tlsv1.1",
        "--tls-max",
        "1.1",
        "--ciphers",
        "DEFAULT:@SECLEVEL=0",
        "--cacert",
        path_arg(&ca),
        &url,
    ]))
    .await;
    assert!(!out.status.success(), "curl spoke TLS 1.1 to the server");
    let Outcome::Refused(reason) = server.next_outcome().await else {
        panic!("the server accepted TLS 1.1");
    };
    assert!(
        reason.to_lowercase().contains("incompatible") || reason.contains("version"),
        "{reason}"
    );

    // An untrusting curl refuses the server.
    let out = run_peer(args(&[
        "curl",
        "--silent",
        "--max-time",
        "10",
        "--resolve",
        &resolve,
        &url,
    ]))
    .await;
    assert!(!out.status.success());
}

#[tokio::test]
async fn openssl_s_client_speaks_tls12_and_tls13_but_not_tls11() {
    if !test_support::require_peer(
        "openssl_s_client_speaks_tls12_and_tls13_but_not_tls11",
        &["openssl", "version"],
    ) {
        return;
    }
    let m = Material::new();
    let mut server = Server::start(m.server_config(ClientAuth::None, MinTlsVersion::Tls12)).await;
    let connect = format!("127.0.0.1:{}", server.port());
    let ca = m.ca_path();
    let s_client = |extra: &[&str]| {
        let mut a = args(&[
            "openssl",
            "s_client",
            "-connect",
            &connect,
            "-servername",
            "localhost",
            "-CAfile",
            path_arg(&ca),
            "-verify_return_error",
            "-verify_hostname",
            "localhost",
        ]);
        a.extend(extra.iter().map(|s| (*s).to_owned()));
        a
    };

    for (flag, expected) in [
        ("-tls1_2", rustls::ProtocolVersion::TLSv1_2),
        ("-tls1_3", rustls::ProtocolVersion::TLSv1_3),
    ] {
        let out = run_peer(s_client(&[flag, "-alpn", "h2,http/1.1"])).await;
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "s_client {flag} failed: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("Verify return code: 0 (ok)"), "{stdout}");
        assert!(stdout.contains("ALPN protocol: h2"), "{stdout}");
        let Outcome::Accepted { version, .. } = server.next_outcome().await else {
            panic!("refused {flag}");
        };
        assert_eq!(version, expected);
    }

    let out = run_peer(s_client(&["-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"])).await;
    assert!(!out.status.success(), "s_client connected with TLS 1.1");
    assert!(matches!(server.next_outcome().await, Outcome::Refused(_)));

    // TLS 1.3 only: TLS 1.2 is refused too.
    let mut strict = Server::start(m.server_config(ClientAuth::None, MinTlsVersion::Tls13)).await;
    let connect = format!("127.0.0.1:{}", strict.port());
    let out = run_peer(args(&[
        "openssl",
        "s_client",
        "-connect",
        &connect,
        "-CAfile",
        path_arg(&ca),
        "-tls1_2",
    ]))
    .await;
    assert!(!out.status.success(), "s_client connected with TLS 1.2");
    assert!(matches!(strict.next_outcome().await, Outcome::Refused(_)));
}

#[tokio::test]
async fn required_client_certificates() {
    let m = Material::new();
    let now = SystemTime::now();
    let mut server = Server::start(m.server_config(
        ClientAuth::Required { roots: m.roots() },
        MinTlsVersion::Tls12,
    ))
    .await;

    // No certificate: refused by the server.
    let anonymous = client_config(&m.ca.cert_pem, None, None).unwrap();
    assert!(fetch(anonymous, server.addr, "localhost").await.is_err());
    let Outcome::Refused(reason) = server.next_outcome().await else {
        panic!("accepted a client without a certificate");
    };
    assert!(reason.contains("certificate"), "{reason}");

    // A certificate from the roots: accepted.
    let client = issue_client_cert(&m.ca, "mdm-proxy", now).unwrap();
    let identified = client_config(
        &m.ca.cert_pem,
        Some((&client.cert_pem, client.key_pem.expose())),
        None,
    )
    .unwrap();
    let (body, _, _) = fetch(identified, server.addr, "localhost").await.unwrap();
    assert_eq!(body, BODY);
    let Outcome::Accepted { client_cert, .. } = server.next_outcome().await else {
        panic!("refused a client certificate from the roots");
    };
    assert!(client_cert);

    // A certificate from another CA: refused.
    let stranger_ca = generate_ca("Stranger", now).unwrap();
    let stranger = issue_client_cert(&stranger_ca, "mdm-proxy", now).unwrap();
    let foreign = client_config(
        &m.ca.cert_pem,
        Some((&stranger.cert_pem, stranger.key_pem.expose())),
        None,
    )
    .unwrap();
    assert!(fetch(foreign, server.addr, "localhost").await.is_err());
    assert!(matches!(server.next_outcome().await, Outcome::Refused(_)));

    // And with openssl as the client.
    if test_support::require_peer("required_client_certificates", &["openssl", "version"]) {
        let cert = m.write("client.pem", &client.cert_pem);
        let key = m.write("client.key", client.key_pem.expose());
        let connect = format!("127.0.0.1:{}", server.port());
        let out = run_peer(args(&[
            "openssl",
            "s_client",
            "-connect",
            &connect,
            "-CAfile",
            path_arg(&m.ca_path()),
            "-cert",
            path_arg(&cert),
            "-key",
            path_arg(&key),
            "-tls1_2",
        ]))
        .await;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let Outcome::Accepted { client_cert, .. } = server.next_outcome().await else {
            panic!("refused openssl's client certificate");
        };
        assert!(client_cert);
        let out = run_peer(args(&[
            "openssl",
            "s_client",
            "-connect",
            &connect,
            "-CAfile",
            path_arg(&m.ca_path()),
            "-tls1_2",
        ]))
        .await;
        assert!(!out.status.success());
        assert!(matches!(server.next_outcome().await, Outcome::Refused(_)));
    }
}

#[tokio::test]
async fn optional_client_certificates() {
    let m = Material::new();
    let mut server = Server::start(m.server_config(
        ClientAuth::Optional { roots: m.roots() },
        MinTlsVersion::Tls12,
    ))
    .await;
    let anonymous = client_config(&m.ca.cert_pem, None, None).unwrap();
    fetch(anonymous, server.addr, "localhost").await.unwrap();
    let Outcome::Accepted { client_cert, .. } = server.next_outcome().await else {
        panic!("refused an anonymous client");
    };
    assert!(!client_cert);

    let client = issue_client_cert(&m.ca, "sup-service", SystemTime::now()).unwrap();
    let identified = client_config(
        &m.ca.cert_pem,
        Some((&client.cert_pem, client.key_pem.expose())),
        None,
    )
    .unwrap();
    fetch(identified, server.addr, "localhost").await.unwrap();
    let Outcome::Accepted { client_cert, .. } = server.next_outcome().await else {
        panic!("refused a client certificate");
    };
    assert!(client_cert);
}

#[tokio::test]
async fn a_pinned_link_accepts_only_the_pinned_certificate() {
    let m = Material::new();
    // A second server certificate from the same CA, for the same names.
    let twin = issue_server_cert(
        &m.ca,
        &["localhost".to_owned(), "127.0.0.1".to_owned()],
        &[],
        SystemTime::now(),
    )
    .unwrap();
    let pinned_server =
        Server::start(m.server_config(ClientAuth::None, MinTlsVersion::Tls12)).await;
    let twin_server = Server::start(
        server_config(
            &twin.cert_pem,
            twin.key_pem.expose(),
            ClientAuth::None,
            MinTlsVersion::Tls12,
        )
        .unwrap(),
    )
    .await;

    let pin = cert_sha256(&m.server.cert_der);
    assert_eq!(pin, m.server.sha256());
    let pinned = client_config(&m.ca.cert_pem, None, Some(pin)).unwrap();
    let (body, _, _) = fetch(pinned.clone(), pinned_server.addr, "localhost")
        .await
        .unwrap();
    assert_eq!(body, BODY);

    let err = fetch(pinned.clone(), twin_server.addr, "localhost")
        .await
        .unwrap_err();
    assert!(err.contains("pinned"), "{err}");

    // Without the pin the twin is fine: the CA trusts both.
    let unpinned = client_config(&m.ca.cert_pem, None, None).unwrap();
    fetch(unpinned, twin_server.addr, "localhost")
        .await
        .unwrap();

    // The pin does not replace name checking.
    assert!(
        fetch(pinned.clone(), pinned_server.addr, "other.example.test")
            .await
            .is_err()
    );

    // Over TLS 1.2 too, where the handshake signature takes the TLS 1.2
    // path: servers that speak only TLS 1.2.
    let tls12_server = |issued: &IssuedCert| {
        let config = ServerConfig::builder_with_provider(pippin_service::provider())
            .with_protocol_versions(&[&rustls::version::TLS12])
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                certs_from_pem(&issued.cert_pem).unwrap(),
                rustls::pki_types::pem::PemObject::from_pem_slice(
                    issued.key_pem.expose().as_bytes(),
                )
                .unwrap(),
            )
            .unwrap();
        Server::start(Arc::new(config))
    };
    let old_pinned = tls12_server(&m.server).await;
    let old_twin = tls12_server(&twin).await;
    let (_, _, version) = fetch(pinned.clone(), old_pinned.addr, "localhost")
        .await
        .unwrap();
    assert_eq!(version, rustls::ProtocolVersion::TLSv1_2);
    let err = fetch(pinned, old_twin.addr, "localhost").await.unwrap_err();
    assert!(err.contains("pinned"), "{err}");
}

#[test]
fn bad_material_is_refused() {
    let m = Material::new();
    let other =
        issue_server_cert(&m.ca, &["localhost".to_owned()], &[], SystemTime::now()).unwrap();
    // A key that does not belong to the certificate.
    assert!(
        server_config(
            &m.server.cert_pem,
            other.key_pem.expose(),
            ClientAuth::None,
            MinTlsVersion::Tls12
        )
        .is_err()
    );
    // No certificate, no key.
    assert!(
        server_config(
            "",
            m.server.key_pem.expose(),
            ClientAuth::None,
            MinTlsVersion::Tls12
        )
        .is_err()
    );
    assert!(
        server_config(
            &m.server.cert_pem,
            "",
            ClientAuth::None,
            MinTlsVersion::Tls12
        )
        .is_err()
    );
    assert!(client_config("", None, None).is_err());
    assert!(
        client_config(
            "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
            None,
            None
        )
        .is_err()
    );
    // Empty roots for client authentication.
    assert!(
        server_config(
            &m.server.cert_pem,
            m.server.key_pem.expose(),
            ClientAuth::Required { roots: vec![] },
            MinTlsVersion::Tls12
        )
        .is_err()
    );
}
