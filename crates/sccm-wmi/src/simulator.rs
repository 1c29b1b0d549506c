//! A loopback server that answers like a ConfigMgr SMS Provider (feature
//! `simulator`): the AdminService under `/AdminService/` and the WinRM
//! endpoint at `/wsman`, over one port, plain or with TLS.
//!
//! It behaves the way the real provider does, quirks included:
//!
//! - OData envelopes with `@odata.context`, `@odata.etag`, WMI's system
//!   properties (`__CLASS`, `__RELPATH`, `__PATH`, `__NAMESPACE`) and
//!   `__LAZYPROPERTIES`; a lookup by key answers with a one-element `value`
//!   array, not a bare entity; pages end with `@odata.nextLink`;
//! - WS-Management enumeration contexts that expire when released or
//!   finished, faults with `WSManFault` and `MSFT_WmiError` detail;
//! - authentication bound to the connection: `Negotiate`/`NTLM` through an
//!   [`Acceptor`] (the tests plug in an independent NTLM implementation),
//!   Basic, or a bearer token; WinRM over plain HTTP only takes sealed
//!   messages once authenticated;
//! - with TLS, a certificate issued by "SMS Issuing" that no client trusts
//!   unless it pins it ([`Simulator::certificate_der`]).
//!
//! `SMS_R_System` holds any number of synthetic Macs, made on demand, so a
//! 100,000-device site can be enumerated without the simulator holding it.

mod adminservice;
mod data;
mod filter;
mod kerberos;
mod methods;
mod ntlm;
mod winrm;
mod wql_eval;

pub use kerberos::{KerberosKeytab, NegotiateAcceptors};
pub use ntlm::NtlmAccounts;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::{Error, Result};

/// The largest request body the simulator reads (the provider's own
/// MaxEnvelopeSize is far smaller; AdminService bodies are small).
const MAX_REQUEST: usize = 4 << 20;

/// One side of an authentication context, for the simulator: it checks the
/// client's tokens and seals and unseals WinRM messages with the session it
/// established. The tests implement it with an NTLM implementation we did
/// not write.
pub trait Acceptor: Send {
    /// Feeds a token from `Authorization: <scheme> <token>`; returns the
    /// token to send back (if any) and whether the client is now
    /// authenticated. An error means the client is refused.
    fn step(&mut self, token: &[u8]) -> std::result::Result<(Option<Vec<u8>>, bool), String>;
    /// Unseals a WinRM message: `header` is the signature, `data` the sealed
    /// bytes (MS-WSMV 2.2.9.1).
    fn unwrap_winrm(&mut self, header: &[u8], data: &[u8]) -> std::result::Result<Vec<u8>, String>;
    /// Seals a WinRM message; returns the signature and the sealed bytes.
    fn wrap_winrm(&mut self, data: &[u8]) -> std::result::Result<(Vec<u8>, Vec<u8>), String>;
}

/// Makes an [`Acceptor`] for each connection that authenticates.
pub trait AcceptorFactory: Send + Sync {
    /// A new context for `scheme` (`Negotiate` or `NTLM`).
    fn accept(&self, scheme: &str) -> std::result::Result<Box<dyn Acceptor>, String>;
}

/// How the simulator authenticates clients.
#[derive(Clone, Default)]
pub enum SimAuth {
    /// Everyone is welcome.
    #[default]
    Anonymous,
    /// `Negotiate` and `NTLM`, checked by the factory's acceptors.
    Negotiate(Arc<dyn AcceptorFactory>),
    /// HTTP Basic with this account.
    Basic {
        /// The user name.
        user: String,
        /// The password.
        password: String,
    },
    /// `Authorization: Bearer` with this token.
    Bearer(String),
}

impl std::fmt::Debug for SimAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Anonymous => "Anonymous",
            Self::Negotiate(_) => "Negotiate",
            Self::Basic { .. } => "Basic",
            Self::Bearer(_) => "Bearer",
        })
    }
}

/// The simulated site. `Default` plus chainable setters.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// The site code (`PS1`).
    pub site_code: String,
    /// The provider's host name (`cm01.contoso.com`).
    pub server_name: String,
    /// How many synthetic Macs `SMS_R_System` holds (10).
    pub synthetic_systems: usize,
    /// AdminService rows per page before `@odata.nextLink` (1,000).
    pub page_size: usize,
    /// Whether to serve TLS with an "SMS Issuing" certificate.
    pub tls: bool,
    /// Authentication.
    pub auth: SimAuth,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            site_code: "PS1".to_owned(),
            server_name: "cm01.contoso.com".to_owned(),
            synthetic_systems: 10,
            page_size: 1000,
            tls: false,
            auth: SimAuth::Anonymous,
        }
    }
}

impl SimConfig {
    /// Sets the site code.
    pub fn site_code(&mut self, code: &str) -> &mut Self {
        self.site_code = code.to_owned();
        self
    }

    /// Sets the number of synthetic systems.
    pub fn synthetic_systems(&mut self, n: usize) -> &mut Self {
        self.synthetic_systems = n;
        self
    }

    /// Sets the AdminService page size.
    pub fn page_size(&mut self, n: usize) -> &mut Self {
        self.page_size = n.max(1);
        self
    }

    /// Serves TLS.
    pub fn tls(&mut self, on: bool) -> &mut Self {
        self.tls = on;
        self
    }

    /// Sets the authentication.
    pub fn auth(&mut self, auth: SimAuth) -> &mut Self {
        self.auth = auth;
        self
    }
}

/// What the simulator saw, for tests.
#[derive(Debug, Default)]
pub struct SimStats {
    /// Requests answered (every leg of a handshake counts).
    pub requests: AtomicU64,
    /// Connections accepted.
    pub connections: AtomicU64,
    /// Authentications completed.
    pub authenticated: AtomicU64,
    /// Requests refused with 401.
    pub refused: AtomicU64,
    /// WinRM messages that arrived sealed.
    pub sealed_messages: AtomicU64,
    /// Enumeration contexts open now.
    pub open_enumerations: AtomicU64,
}

/// A running simulator; stops when dropped.
pub struct Simulator {
    addr: SocketAddr,
    tls: bool,
    cert_der: Option<Vec<u8>>,
    cert_pem: Option<String>,
    stats: Arc<SimStats>,
    task: JoinHandle<()>,
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("addr", &self.addr)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Shared {
    pub(crate) config: SimConfig,
    pub(crate) repo: Mutex<data::Repository>,
    pub(crate) stats: Arc<SimStats>,
    pub(crate) winrm: winrm::State,
}

#[derive(Default)]
struct ConnState {
    acceptor: Option<Box<dyn Acceptor>>,
    authenticated: bool,
}

impl Simulator {
    /// Starts a simulator on `127.0.0.1`, on a free port.
    pub async fn start(config: SimConfig) -> Result<Self> {
        Self::start_on("127.0.0.1:0".parse().expect("a literal address"), config).await
    }

    /// Starts a simulator on `addr`.
    pub async fn start_on(addr: SocketAddr, config: SimConfig) -> Result<Self> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| Error::Transport(format!("binding {addr}: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::Transport(e.to_string()))?;
        let (acceptor, cert_der, cert_pem) = if config.tls {
            let (a, der, pem) = tls_acceptor(&config.server_name)?;
            (Some(a), Some(der), Some(pem))
        } else {
            (None, None, None)
        };
        let stats = Arc::new(SimStats::default());
        let shared = Arc::new(Shared {
            repo: Mutex::new(data::Repository::new(
                &config.site_code,
                &config.server_name,
                config.synthetic_systems,
            )),
            config,
            stats: stats.clone(),
            winrm: winrm::State::default(),
        });
        let tls = acceptor.is_some();
        // The connections live in a set owned by the accept loop, so that
        // aborting the loop (dropping the simulator) ends them too.
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let accepted = tokio::select! {
                    a = listener.accept() => a,
                    Some(_) = connections.join_next(), if !connections.is_empty() => continue,
                };
                let Ok((tcp, _)) = accepted else {
                    // Out of descriptors or the like: wait rather than spin.
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                };
                let shared = shared.clone();
                let acceptor = acceptor.clone();
                connections.spawn(async move {
                    shared.stats.connections.fetch_add(1, Ordering::Relaxed);
                    match acceptor {
                        Some(a) => {
                            if let Ok(stream) = a.accept(tcp).await {
                                serve(shared, stream).await;
                            }
                        }
                        None => serve(shared, tcp).await,
                    }
                });
            }
        });
        Ok(Self {
            addr,
            tls,
            cert_der,
            cert_pem,
            stats,
            task,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http(s)://127.0.0.1:PORT/AdminService`.
    pub fn adminservice_url(&self) -> String {
        format!("{}/AdminService", self.origin())
    }

    /// `http(s)://127.0.0.1:PORT/wsman`.
    pub fn wsman_url(&self) -> String {
        format!("{}/wsman", self.origin())
    }

    fn origin(&self) -> String {
        format!(
            "{}://{}",
            if self.tls { "https" } else { "http" },
            self.addr
        )
    }

    /// The server certificate (DER), with TLS.
    pub fn certificate_der(&self) -> Option<&[u8]> {
        self.cert_der.as_deref()
    }

    /// The server certificate (PEM), with TLS.
    pub fn certificate_pem(&self) -> Option<&str> {
        self.cert_pem.as_deref()
    }

    /// What it saw.
    pub fn stats(&self) -> &SimStats {
        &self.stats
    }
}

/// A TLS acceptor with a leaf for `name` (and 127.0.0.1) issued by an
/// "SMS Issuing" CA, as a ConfigMgr site server's provider presents.
fn tls_acceptor(name: &str) -> Result<(tokio_rustls::TlsAcceptor, Vec<u8>, String)> {
    use rcgen::{CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair, SanType};
    let err = |e: rcgen::Error| Error::Tls(format!("making the simulator's certificate: {e}"));
    let ca_key = KeyPair::generate().map_err(err)?;
    let mut ca = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "SMS Issuing");
    ca.distinguished_name = dn;
    ca.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().map_err(err)?;
    let mut leaf = CertificateParams::new(vec![name.to_owned()]).map_err(err)?;
    leaf.subject_alt_names
        .push(SanType::IpAddress(std::net::IpAddr::from([127, 0, 0, 1])));
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    leaf.distinguished_name = dn;
    let cert = leaf.signed_by(&key, &issuer).map_err(err)?;
    let der = cert.der().to_vec();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key_der = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der())
        .map_err(|e| Error::Tls(e.to_string()))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(vec![der.clone().into()], key_der)
        .map_err(|e| Error::Tls(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((
        tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        der,
        cert.pem(),
    ))
}

async fn serve<S>(shared: Arc<Shared>, stream: S)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let conn = Arc::new(Mutex::new(ConnState::default()));
    let service = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
        let shared = shared.clone();
        let conn = conn.clone();
        async move {
            let (parts, body) = req.into_parts();
            let body = match Limited::new(body, MAX_REQUEST).collect().await {
                Ok(b) => b.to_bytes(),
                Err(_) => {
                    return Ok::<_, std::convert::Infallible>(plain(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "",
                    ));
                }
            };
            shared.stats.requests.fetch_add(1, Ordering::Relaxed);
            Ok(handle(
                &shared,
                &conn,
                http::Request::from_parts(parts, body),
            ))
        }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

fn plain(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(text.to_owned())));
    *r.status_mut() = status;
    r
}

fn unauthorized(shared: &Shared, offers: &[String]) -> Response<Full<Bytes>> {
    shared.stats.refused.fetch_add(1, Ordering::Relaxed);
    let mut r = plain(StatusCode::UNAUTHORIZED, "");
    for o in offers {
        if let Ok(v) = HeaderValue::from_str(o) {
            r.headers_mut().append(WWW_AUTHENTICATE, v);
        }
    }
    r
}

fn handle(
    shared: &Shared,
    conn: &Mutex<ConnState>,
    req: http::Request<Bytes>,
) -> Response<Full<Bytes>> {
    let mut conn = conn.lock().unwrap_or_else(|e| e.into_inner());
    let header = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let (scheme, token) = header.split_once(' ').unwrap_or((&header, ""));
    let mut final_token = None;
    match &shared.config.auth {
        SimAuth::Anonymous => {}
        SimAuth::Basic { user, password } => {
            let expected =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            if !(scheme.eq_ignore_ascii_case("Basic") && ct_eq(token.trim(), &expected)) {
                return unauthorized(shared, &["Basic realm=\"WSMAN\"".to_owned()]);
            }
        }
        SimAuth::Bearer(expected) => {
            if !(scheme.eq_ignore_ascii_case("Bearer") && ct_eq(token.trim(), expected)) {
                return unauthorized(shared, &["Bearer".to_owned()]);
            }
        }
        SimAuth::Negotiate(factory) => {
            let offers = ["Negotiate".to_owned(), "NTLM".to_owned()];
            if !conn.authenticated || !header.is_empty() {
                if header.is_empty() {
                    return unauthorized(shared, &offers);
                }
                if !(scheme.eq_ignore_ascii_case("Negotiate")
                    || scheme.eq_ignore_ascii_case("NTLM"))
                {
                    return unauthorized(shared, &offers);
                }
                let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(token.trim())
                else {
                    return plain(StatusCode::BAD_REQUEST, "");
                };
                if conn.authenticated || conn.acceptor.is_none() {
                    // A new handshake on this connection starts afresh.
                    conn.authenticated = false;
                    match factory.accept(scheme) {
                        Ok(a) => conn.acceptor = Some(a),
                        Err(_) => return unauthorized(shared, &offers),
                    }
                }
                let Some(acceptor) = conn.acceptor.as_mut() else {
                    return unauthorized(shared, &offers);
                };
                match acceptor.step(&bytes) {
                    Err(_) => {
                        conn.acceptor = None;
                        return unauthorized(shared, &offers);
                    }
                    Ok((reply, false)) => {
                        let value = match reply {
                            Some(t) => format!(
                                "{scheme} {}",
                                base64::engine::general_purpose::STANDARD.encode(t)
                            ),
                            None => scheme.to_owned(),
                        };
                        let mut r = plain(StatusCode::UNAUTHORIZED, "");
                        if let Ok(v) = HeaderValue::from_str(&value) {
                            r.headers_mut().insert(WWW_AUTHENTICATE, v);
                        }
                        return r;
                    }
                    Ok((reply, true)) => {
                        conn.authenticated = true;
                        shared.stats.authenticated.fetch_add(1, Ordering::Relaxed);
                        final_token = reply.map(|t| {
                            format!(
                                "{scheme} {}",
                                base64::engine::general_purpose::STANDARD.encode(t)
                            )
                        });
                    }
                }
            }
        }
    }
    let path = req.uri().path().to_owned();
    let mut response = if path.len() >= 14 && path[..14].eq_ignore_ascii_case("/AdminService/") {
        adminservice::handle(shared, &req)
    } else if path.eq_ignore_ascii_case("/wsman") {
        let needs_sealing =
            matches!(shared.config.auth, SimAuth::Negotiate(_)) && !shared.config.tls;
        winrm_exchange(shared, &mut conn, &req, needs_sealing)
    } else {
        plain(StatusCode::NOT_FOUND, "")
    };
    if let Some(t) = final_token
        && let Ok(v) = HeaderValue::from_str(&t)
    {
        response.headers_mut().insert(WWW_AUTHENTICATE, v);
    }
    response
}

/// A WinRM request: unsealed first when the connection seals.
fn winrm_exchange(
    shared: &Shared,
    conn: &mut ConnState,
    req: &http::Request<Bytes>,
    needs_sealing: bool,
) -> Response<Full<Bytes>> {
    if req.method() != http::Method::POST {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "");
    }
    if req.body().is_empty() {
        // What a client sends to authenticate before it seals: nothing to do.
        return plain(StatusCode::OK, "");
    }
    let content_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let sealed_in = content_type.starts_with("multipart/encrypted");
    if needs_sealing && !sealed_in {
        // WinRM's AllowUnencrypted=false.
        return plain(StatusCode::BAD_REQUEST, "");
    }
    let body = if sealed_in {
        let Some(acceptor) = conn.acceptor.as_mut() else {
            return plain(StatusCode::BAD_REQUEST, "");
        };
        let Some((signature, sealed)) = winrm::split_encrypted(req.body()) else {
            return plain(StatusCode::BAD_REQUEST, "");
        };
        match acceptor.unwrap_winrm(&signature, &sealed) {
            Ok(b) => b,
            Err(_) => return plain(StatusCode::BAD_REQUEST, ""),
        }
    } else {
        req.body().to_vec()
    };
    if sealed_in {
        shared.stats.sealed_messages.fetch_add(1, Ordering::Relaxed);
    }
    let (status, xml) = winrm::handle(shared, &body);
    if !sealed_in {
        let mut r = plain(status, "");
        *r.body_mut() = Full::new(Bytes::from(xml));
        r.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/soap+xml;charset=UTF-8"),
        );
        return r;
    }
    let Some(acceptor) = conn.acceptor.as_mut() else {
        return plain(StatusCode::INTERNAL_SERVER_ERROR, "");
    };
    match acceptor.wrap_winrm(&xml) {
        Ok((signature, sealed)) => {
            let (content_type, body) = winrm::join_encrypted(&signature, &sealed, xml.len());
            let mut r = plain(status, "");
            *r.body_mut() = Full::new(Bytes::from(body));
            if let Ok(v) = HeaderValue::from_str(&content_type) {
                r.headers_mut().insert(CONTENT_TYPE, v);
            }
            r
        }
        Err(_) => plain(StatusCode::INTERNAL_SERVER_ERROR, ""),
    }
}

fn ct_eq(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq as _;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}
