//! A service on loopback and a device that enrolls in it the way a Mac or
//! iPhone does: profile, SCEP, then check-ins and command reports over
//! mutual TLS.
#![allow(dead_code, unreachable_pub)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use apple_mdm_protocol::checkin::{Authenticate, CheckInMessage, TokenUpdate};
use apple_mdm_protocol::profile::decode_profile;
use apple_mdm_protocol::{CheckIn, CommandReport, Identity};
use cm_proxy::config::Settings;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use pippin_plist::Value;
use scep::client::Requester;
use scep::{ContentEncryption, MessageType, Nonce, TransactionId};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

pub type Rng = scep::rand_core::UnwrapErr<getrandom::SysRng>;

pub fn rng() -> Rng {
    scep::rand_core::UnwrapErr(getrandom::SysRng)
}

/// A running service on 127.0.0.1 with its own data directory.
pub struct Server {
    pub base: String,
    pub addr: std::net::SocketAddr,
    pub data: tempfile::TempDir,
    pub token: String,
    pub ca_pem: String,
    pub app: Arc<cm_proxy::state::App>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Server {
    pub async fn start(database_url: Option<String>) -> Self {
        let data = tempfile::tempdir().unwrap();
        Self::start_in(data, database_url, |_| {}).await
    }

    pub async fn start_in(
        data: tempfile::TempDir,
        database_url: Option<String>,
        tweak: impl FnOnce(&mut Settings),
    ) -> Self {
        let mut s = Settings::defaults(data.path().to_path_buf());
        s.listen = "127.0.0.1:0".parse().unwrap();
        s.database_url = database_url;
        s.admin_token = Some("test-admin-token-0123456789".into());
        s.log_stderr = false;
        tweak(&mut s);
        // The public URL needs the port, which is known once bound: bind
        // first on port 0, then build with the real URL.
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = probe.local_addr().unwrap().port();
        drop(probe);
        s.listen = format!("127.0.0.1:{port}").parse().unwrap();
        s.public_url = format!("https://127.0.0.1:{port}");
        let bound = cm_proxy::bind(&s).await.unwrap();
        let addr = bound.local_addr().unwrap();
        let app = bound.app().clone();
        let ca_pem = std::fs::read_to_string(data.path().join("ca.pem")).unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(bound.serve(async move {
            let _ = rx.await;
        }));
        Self {
            base: format!("https://127.0.0.1:{}", addr.port()),
            addr,
            data,
            token: "test-admin-token-0123456789".into(),
            ca_pem,
            app,
            stop: Some(tx),
            task: Some(task),
        }
    }

    pub fn data_dir(&self) -> &Path {
        self.data.path()
    }

    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
        // Let in-flight connections finish with the store.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let dir = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.data, dir)
    }

    /// An HTTP client trusting the server CA, optionally with a client identity.
    pub fn client(&self, identity: Option<(&str, &str)>) -> Client {
        let cfg = pippin_service::client_config(&self.ca_pem, identity, None).unwrap();
        Client {
            addr: self.addr,
            connector: TlsConnector::from(cfg),
        }
    }

    pub async fn api(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let c = self.client(None);
        let mut headers = vec![("authorization", format!("Bearer {}", self.token))];
        let bytes = body.map(|b| {
            headers.push(("content-type", "application/json".to_owned()));
            serde_json::to_vec(&b).unwrap()
        });
        let (status, body) = c
            .request(method, path, &headers, bytes.unwrap_or_default())
            .await;
        let json = if body.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_slice(&body).unwrap_or_else(|e| {
                panic!(
                    "{method} {path}: not JSON ({e}): {}",
                    String::from_utf8_lossy(&body)
                )
            })
        };
        (status, json)
    }
}

/// A minimal HTTPS client: one connection per request, bounded by a timeout.
#[derive(Clone)]
pub struct Client {
    addr: std::net::SocketAddr,
    connector: TlsConnector,
}

impl Client {
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> (u16, Vec<u8>) {
        tokio::time::timeout(
            Duration::from_secs(20),
            self.request_inner(method, path, headers, body),
        )
        .await
        .unwrap_or_else(|_| panic!("{method} {path} timed out"))
    }

    async fn request_inner(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> (u16, Vec<u8>) {
        let tcp = TcpStream::connect(self.addr).await.unwrap();
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
        let tls = self.connector.connect(name, tcp).await.unwrap();
        let (mut send, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                .await
                .unwrap();
        tokio::spawn(conn);
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", "127.0.0.1");
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let req = req.body(Full::new(Bytes::from(body))).unwrap();
        let resp = send.send_request(req).await.unwrap();
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        (status, body)
    }
}

/// A device's enrolled identity.
pub struct Device {
    pub udid: String,
    pub serial: String,
    pub identity: Identity,
    pub cert_pem: String,
    pub key_pem: String,
    pub cert_der: Vec<u8>,
    pub client: Client,
    pub topic: String,
}

fn pem(label: &str, der: &[u8]) -> String {
    der::pem::encode_string(label, der::pem::LineEnding::LF, der).unwrap()
}

/// Fetches the profile and gets an identity through SCEP (no check-in yet).
pub async fn scep_identity(server: &Server, cn: &str) -> (String, String, Vec<u8>, String) {
    let anon = server.client(None);
    let (status, profile) = anon.request("GET", "/mdm/enroll", &[], Vec::new()).await;
    assert_eq!(status, 200);
    let p = decode_profile(&profile).expect("profile decodes and its signature verifies");
    let scep_payload = p
        .dictionary
        .get("PayloadContent")
        .and_then(Value::as_array)
        .unwrap()
        .iter()
        .find(|x| x.get("PayloadType").and_then(Value::as_str) == Some("com.apple.security.scep"))
        .unwrap()
        .get("PayloadContent")
        .unwrap()
        .clone();
    let challenge = scep_payload
        .get("Challenge")
        .and_then(Value::as_str)
        .unwrap()
        .to_owned();
    let topic = p
        .mdm
        .as_ref()
        .unwrap()
        .get("Topic")
        .and_then(Value::as_str)
        .unwrap()
        .to_owned();

    let (status, ca) = anon
        .request("GET", "/scep?operation=GetCACert", &[], Vec::new())
        .await;
    assert_eq!(status, 200);
    let mut rng = rng();
    let key = tokio::task::spawn_blocking(|| {
        scep::rsa::PrivateKey::new(&mut scep::rand_core::UnwrapErr(getrandom::SysRng), 2048)
            .unwrap()
    })
    .await
    .unwrap();
    let subject = format!("CN={cn}");
    let req = Requester::self_signed(&subject, key, SystemTime::now(), &mut rng).unwrap();
    let csr = req
        .certification_request(&subject, Some(&challenge), &mut rng)
        .unwrap();
    let msg = req
        .request(
            MessageType::PkcsReq,
            &csr,
            &ca,
            ContentEncryption::Aes256Cbc,
            &TransactionId::new(format!("t-{cn}")).unwrap(),
            Nonce::random(&mut rng),
            SystemTime::now(),
            &mut rng,
        )
        .unwrap();
    let (status, rep) = anon
        .request(
            "POST",
            "/scep?operation=PKIOperation",
            &[("content-type", "application/x-pki-message".to_owned())],
            msg,
        )
        .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&rep));
    let rep = req.read_cert_rep(&rep, &mut rng).unwrap();
    assert!(
        !rep.certificates.is_empty(),
        "SCEP refused: {:?}",
        rep.attributes
    );
    let cert_der = rep.certificates[0].clone();
    use scep::rsa::pkcs8::EncodePrivateKey;
    let key_pem = req
        .key()
        .to_pkcs8_pem(scep::rsa::pkcs8::LineEnding::LF)
        .unwrap()
        .to_string();
    (pem("CERTIFICATE", &cert_der), key_pem, cert_der, topic)
}

impl Device {
    /// Enrolls: profile, SCEP, Authenticate, TokenUpdate.
    pub async fn enroll(server: &Server, n: usize) -> Self {
        let udid = format!("0000{n:04}-SIM0-4000-8000-{n:012}");
        let serial = format!("C02SIM{n:06}");
        let (cert_pem, key_pem, cert_der, topic) = scep_identity(server, &udid).await;
        let client = server.client(Some((&cert_pem, &key_pem)));
        let d = Self {
            identity: Identity::device(udid.clone()),
            udid,
            serial,
            cert_pem,
            key_pem,
            cert_der,
            client,
            topic,
        };
        let (s, _) = d.checkin(d.authenticate()).await;
        assert_eq!(s, 200, "Authenticate");
        let (s, _) = d.checkin(d.token_update()).await;
        assert_eq!(s, 200, "TokenUpdate");
        d
    }

    pub fn authenticate(&self) -> Vec<u8> {
        CheckIn {
            identity: self.identity.clone(),
            topic: Some(self.topic.clone()),
            message: CheckInMessage::Authenticate(Authenticate {
                serial_number: Some(self.serial.clone()),
                model: Some("MacBookPro18,3".into()),
                model_name: Some("MacBook Pro".into()),
                os_version: Some("14.5".into()),
                build_version: Some("23F79".into()),
                product_name: Some("MacBookPro18,3".into()),
                device_name: Some(format!("Mac {}", self.serial)),
                ..Authenticate::default()
            }),
            extra: Default::default(),
        }
        .to_xml()
    }

    pub fn token_update(&self) -> Vec<u8> {
        self.token_update_with(&[0xAB; 32])
    }

    /// A `TokenUpdate` carrying `token`.
    pub fn token_update_with(&self, token: &[u8]) -> Vec<u8> {
        CheckIn {
            identity: self.identity.clone(),
            topic: Some(self.topic.clone()),
            message: CheckInMessage::TokenUpdate(TokenUpdate {
                token: token.to_vec(),
                push_magic: "00000000-1111-2222-3333-444444444444".into(),
                ..TokenUpdate::default()
            }),
            extra: Default::default(),
        }
        .to_xml()
    }

    pub async fn checkin(&self, body: Vec<u8>) -> (u16, Vec<u8>) {
        self.client
            .request(
                "PUT",
                "/mdm/checkin",
                &[(
                    "content-type",
                    "application/x-apple-aspen-mdm-checkin".into(),
                )],
                body,
            )
            .await
    }

    pub async fn connect(&self, body: Vec<u8>) -> (u16, Vec<u8>) {
        self.client.request("PUT", "/mdm/connect", &[], body).await
    }

    pub async fn idle(&self) -> (u16, Vec<u8>) {
        self.connect(CommandReport::idle(self.identity.clone()).to_xml())
            .await
    }
}

pub fn postgres_url() -> Option<String> {
    match std::env::var("PIPPIN_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            if test_support::in_ci() {
                panic!("PIPPIN_TEST_POSTGRES_URL must be set under CI");
            }
            eprintln!(
                "\n*** SKIPPED: PostgreSQL end-to-end tests (set PIPPIN_TEST_POSTGRES_URL) ***\n"
            );
            None
        }
    }
}
