//! A loopback server that behaves like Apple's DEP service (feature
//! `simulator`), for tests, examples and benchmarks.
//!
//! It follows Apple's documentation and the behaviour of Apple's own
//! simulator (`depsim`), quirks included:
//!
//! - `GET /session` verifies the OAuth 1.0a signature (with its own code,
//!   not the client's signer), refuses a sign-in without `Content-Type`
//!   (`400`), unknown credentials, bad signatures and replayed nonces
//!   (`401`), and issues session tokens that expire after
//!   [`SimulatorConfig::session_ttl`] (then `401 UNAUTHORIZED`);
//! - after [`SimServer::restart`] every old session gets `403 FORBIDDEN`;
//! - error bodies are quoted JSON strings (`"EXPIRED_CURSOR"`) by default,
//!   or bare words, or JSON objects ([`ErrorStyle`]);
//! - fetch pages through a snapshot of the devices with signed cursors;
//!   fetching again with a finished cursor is `EXHAUSTED_CURSOR`; sync
//!   returns the add / modify / delete events since a cursor; cursors
//!   expire (`EXPIRED_CURSOR`, also on [`SimServer::expire_cursors`]) and
//!   forged ones are `INVALID_CURSOR`;
//! - profiles are defined, fetched, assigned (with `PUT`, like `depsim`;
//!   `POST` too unless [`SimulatorConfig::assign_put_only`]) and removed,
//!   with state, and assignment and removal show up in sync as
//!   `modified`;
//! - throttling: `429` with `Retry-After` seconds, `503` with an HTTP
//!   date, and `THROTTLED` per device with `retry_after_seconds` — each
//!   only for clients announcing an `X-Server-Protocol-Version` that has it
//!   (9 for `THROTTLED`, 10 for `retry_after_seconds`; older clients get
//!   `FAILED` for those devices);
//! - failed assignments on demand ([`SimServer::fail_assign`]): `500`, or
//!   `FAILED` for every device;
//! - [`SimServer::set_terms_signed`] makes every call `403 T_C_NOT_SIGNED`;
//! - [`SimulatorConfig::rotate_session_every`] sends a new
//!   `X-ADM-Auth-Session` and retires the old token;
//! - several MDM servers at one base URL ([`Simulator::add_server`]), each
//!   with its own server token, devices, cursors and sessions, as Apple's
//!   one service serves them all;
//! - [`SimServer::set_credentials`] replaces the accepted server token, as
//!   renewing it in Apple Business Manager does (the old one then fails
//!   sign-in with `401`).
//!
//! Everything is bounded: devices, events, sessions, nonces, profiles,
//! request bodies, connections and the request log.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> dep_client::Result<()> {
//! use dep_client::client::{ClientConfig, DepClient};
//! use dep_client::simulator::{Simulator, SimulatorConfig};
//!
//! let sim = Simulator::start(SimulatorConfig::default().devices(5).clone()).await.unwrap();
//! let mut config = ClientConfig::default();
//! config.base_url(sim.base_url());
//! let client = DepClient::new(sim.credentials().clone(), config)?;
//! let page = client.fetch_devices(None, 100).await?;
//! assert_eq!(page.devices.len(), 5);
//! # Ok(()) }
//! ```

mod state;
mod verify;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::oauth::OAuthCredentials;
use crate::timestamp::format_timestamp;
use crate::token::ServerToken;
use state::State;

/// Most connections served at once.
const MAX_CONNECTIONS: usize = 256;

/// How error codes are written in bodies.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub enum ErrorStyle {
    /// `EXPIRED_CURSOR`.
    Bare,
    /// `"EXPIRED_CURSOR"`, as Apple's service sends many of them.
    #[default]
    Quoted,
    /// `{"code": "EXPIRED_CURSOR", "message": "..."}`.
    Json,
}

/// The simulated service. `Default` plus chainable setters.
#[derive(Clone, Debug)]
pub struct SimulatorConfig {
    /// Devices assigned at start, generated deterministically from
    /// [`seed`](Self::seed): 10 by default.
    pub devices: usize,
    /// The seed of devices, tokens and identifiers.
    pub seed: u64,
    /// The credentials the service accepts.
    pub credentials: OAuthCredentials,
    /// How long a session token lives: 3 minutes by default.
    pub session_ttl: Duration,
    /// How long a cursor lives: 7 days by default.
    pub cursor_ttl: Duration,
    /// The largest page (`limit` is clamped to it): 1000.
    pub max_limit: u32,
    /// The page size without a `limit`: 100.
    pub default_limit: u32,
    /// How error codes are written.
    pub error_style: ErrorStyle,
    /// Only `PUT` assigns profiles (as in `depsim`); `POST` is `405`.
    pub assign_put_only: bool,
    /// Every this many successful answers carry a new session token.
    pub rotate_session_every: Option<u32>,
    /// How far an `oauth_timestamp` may be from the clock; `None` (the
    /// default) does not check.
    pub timestamp_window: Option<Duration>,
    /// Whether `/session` needs a `Content-Type` (Apple's does): true.
    pub require_content_type: bool,
    /// Most sessions kept: 10,000.
    pub max_sessions: usize,
    /// Most sync events kept (older cursors then expire): 1,000,000.
    pub max_events: usize,
    /// Most devices: 1,000,000.
    pub max_devices: usize,
    /// The largest request body: 1 MiB.
    pub max_body_len: usize,
    /// Serve HTTPS with this certificate chain and key (PEM) instead of
    /// plain HTTP.
    pub tls: Option<(String, String)>,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        Self {
            devices: 10,
            seed: 1,
            credentials: OAuthCredentials {
                consumer_key: "CK_simulator_consumer_key".to_owned(),
                consumer_secret: "CS_simulator_consumer_secret".to_owned(),
                access_token: "AT_simulator_access_token".to_owned(),
                access_secret: "AS_simulator_access_secret".to_owned(),
            },
            session_ttl: Duration::from_secs(180),
            cursor_ttl: Duration::from_secs(7 * 86_400),
            max_limit: crate::api::MAX_LIMIT,
            default_limit: 100,
            error_style: ErrorStyle::Quoted,
            assign_put_only: false,
            rotate_session_every: None,
            timestamp_window: None,
            require_content_type: true,
            max_sessions: 10_000,
            max_events: 1_000_000,
            max_devices: 1_000_000,
            max_body_len: 1024 * 1024,
            tls: None,
        }
    }
}

impl SimulatorConfig {
    /// Sets [`devices`](Self::devices).
    pub fn devices(&mut self, n: usize) -> &mut Self {
        self.devices = n;
        self
    }

    /// Sets [`seed`](Self::seed).
    pub fn seed(&mut self, seed: u64) -> &mut Self {
        self.seed = seed;
        self
    }

    /// Sets [`credentials`](Self::credentials).
    pub fn credentials(&mut self, c: OAuthCredentials) -> &mut Self {
        self.credentials = c;
        self
    }

    /// Sets [`session_ttl`](Self::session_ttl).
    pub fn session_ttl(&mut self, d: Duration) -> &mut Self {
        self.session_ttl = d;
        self
    }

    /// Sets [`cursor_ttl`](Self::cursor_ttl).
    pub fn cursor_ttl(&mut self, d: Duration) -> &mut Self {
        self.cursor_ttl = d;
        self
    }

    /// Sets [`error_style`](Self::error_style).
    pub fn error_style(&mut self, s: ErrorStyle) -> &mut Self {
        self.error_style = s;
        self
    }

    /// Sets [`assign_put_only`](Self::assign_put_only).
    pub fn assign_put_only(&mut self, yes: bool) -> &mut Self {
        self.assign_put_only = yes;
        self
    }

    /// Sets [`rotate_session_every`](Self::rotate_session_every).
    pub fn rotate_session_every(&mut self, n: Option<u32>) -> &mut Self {
        self.rotate_session_every = n;
        self
    }

    /// Sets [`timestamp_window`](Self::timestamp_window).
    pub fn timestamp_window(&mut self, d: Option<Duration>) -> &mut Self {
        self.timestamp_window = d;
        self
    }

    /// Sets [`max_events`](Self::max_events).
    pub fn max_events(&mut self, n: usize) -> &mut Self {
        self.max_events = n;
        self
    }

    /// Sets [`tls`](Self::tls).
    pub fn tls(
        &mut self,
        cert_chain_pem: impl Into<String>,
        key_pem: impl Into<String>,
    ) -> &mut Self {
        self.tls = Some((cert_chain_pem.into(), key_pem.into()));
        self
    }
}

/// Counters of the simulated service.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub struct SimStats {
    /// Requests answered.
    pub requests: u64,
    /// Session tokens issued (sign-ins and rotations).
    pub sessions: u64,
    /// Session tokens sent in a response header.
    pub rotations: u64,
    /// `401` answers.
    pub unauthorized: u64,
    /// `403` answers.
    pub forbidden: u64,
    /// `429` answers.
    pub throttled: u64,
}

/// How [`SimServer::fail_assign`] makes profile assignments fail.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub enum AssignFailure {
    /// `500 INTERNAL_SERVER_ERROR` for the whole request.
    #[default]
    ServerError,
    /// `200`, with `FAILED` for every device the server has.
    DevicesFailed,
}

/// One profile assignment request as the simulator saw it.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct AssignRecord {
    /// `PUT` or `POST`.
    pub method: String,
    /// The profile assigned.
    pub profile_uuid: String,
    /// The serial numbers, as sent.
    pub serials: Vec<String>,
    /// The `X-Server-Protocol-Version` the client announced.
    pub protocol_version: u32,
    /// The HTTP status answered.
    pub status: u16,
}

/// One request as the simulator saw it.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct RequestRecord {
    /// The method.
    pub method: String,
    /// The path and query.
    pub path: String,
    /// The status answered.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// `X-Server-Protocol-Version`.
    pub protocol_version: Option<String>,
    /// `User-Agent`.
    pub user_agent: Option<String>,
    /// `X-ADM-Auth-Session`.
    pub session: Option<String>,
}

/// A running simulator; stops when dropped.
///
/// Like Apple's service, it serves any number of MDM servers (each an MDM
/// server in Apple Business Manager, with its own server token, devices,
/// cursors and sessions) at one base URL: the one it starts with, which
/// the simulator's own methods control (through [`Deref`] to its
/// [`SimServer`]), and more with [`add_server`](Self::add_server).
/// Sign-in finds the MDM server by the token's credentials, and every other
/// call by its session token.
///
/// [`Deref`]: std::ops::Deref
pub struct Simulator {
    addr: SocketAddr,
    https: bool,
    primary: SimServer,
    task: tokio::task::JoinHandle<()>,
}

/// The controls of one simulated MDM server.
#[derive(Clone)]
pub struct SimServer {
    shared: Arc<Shared>,
    index: usize,
}

/// Most MDM servers one simulator serves.
const MAX_SERVERS: usize = 64;

struct Shared {
    servers: Mutex<Vec<State>>,
    max_body_len: usize,
    https: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Vec<State>> {
        // Every handler leaves the state consistent before it could panic,
        // so a poisoned lock is taken over.
        self.servers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for SimServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimServer")
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

impl std::ops::Deref for Simulator {
    type Target = SimServer;

    fn deref(&self) -> &SimServer {
        &self.primary
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Simulator {
    /// Starts the simulator on `127.0.0.1` at a free port. Must be called
    /// inside a tokio runtime.
    pub async fn start(config: SimulatorConfig) -> std::io::Result<Self> {
        Self::start_on(config, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Starts the simulator on `addr`.
    pub async fn start_on(config: SimulatorConfig, addr: SocketAddr) -> std::io::Result<Self> {
        let tls = match &config.tls {
            Some((cert, key)) => Some(tls_acceptor(cert, key)?),
            None => None,
        };
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let https = tls.is_some();
        let shared = Arc::new(Shared {
            max_body_len: config.max_body_len,
            servers: Mutex::new(vec![State::new(config, 0)]),
            https,
        });
        let task = tokio::spawn(serve(listener, shared.clone(), tls));
        Ok(Self {
            addr,
            https,
            primary: SimServer { shared, index: 0 },
            task,
        })
    }

    /// Adds an MDM server, with its own credentials (give each server
    /// different ones), devices and state, served at the same base URL.
    /// `config`'s listener settings (`tls`, `max_body_len`) are the first
    /// server's. At most 64 servers; `None` past that.
    pub fn add_server(&self, config: SimulatorConfig) -> Option<SimServer> {
        let mut servers = self.primary.shared.lock();
        if servers.len() >= MAX_SERVERS {
            return None;
        }
        let index = servers.len();
        servers.push(State::new(config, index));
        Some(SimServer {
            shared: self.primary.shared.clone(),
            index,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its base URL: `http://127.0.0.1:PORT` (or `https://`).
    pub fn base_url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }
}

impl SimServer {
    /// Runs `f` on this server's state, under the simulator's lock.
    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let mut servers = self.shared.lock();
        // Servers are only ever added: the index stays valid.
        f(&mut servers[self.index])
    }

    /// The credentials it accepts.
    pub fn credentials(&self) -> OAuthCredentials {
        self.with(|s| s.config.credentials.clone())
    }

    /// A server token for it, expiring in a year.
    pub fn server_token(&self) -> ServerToken {
        ServerToken {
            credentials: self.credentials(),
            access_token_expiry: Some(format_timestamp(
                SystemTime::now() + Duration::from_secs(365 * 86_400),
            )),
        }
    }

    /// Drops every session, as a restart of Apple's service does: their
    /// tokens get `403 FORBIDDEN`.
    pub fn restart(&self) {
        self.with(|s| s.restart());
    }

    /// Expires every current session: their tokens get `401`.
    pub fn expire_sessions(&self) {
        self.with(|s| s.expire_sessions());
    }

    /// Expires every cursor issued so far: `EXPIRED_CURSOR`.
    pub fn expire_cursors(&self) {
        self.with(|s| s.expire_cursors());
    }

    /// Whether the organisation has accepted the terms; if not, every call
    /// is `403 T_C_NOT_SIGNED`.
    pub fn set_terms_signed(&self, signed: bool) {
        self.with(|s| s.terms_signed = signed);
    }

    /// The next `count` API calls get `429` with `Retry-After:
    /// <retry_after>` (seconds).
    pub fn throttle(&self, count: u32, retry_after: Duration) {
        self.with(|s| {
            s.throttle.too_many = count;
            s.throttle.too_many_after = retry_after.as_secs();
        });
    }

    /// The next `count` API calls get `503` with a `Retry-After` HTTP date
    /// `retry_after` ahead (and a `Date` header).
    pub fn unavailable(&self, count: u32, retry_after: Duration) {
        self.with(|s| {
            s.throttle.unavailable = count;
            s.throttle.unavailable_after = retry_after.as_secs();
        });
    }

    /// Profile assignment handles at most `max` devices per request and
    /// answers `THROTTLED` (with `retry_after_seconds` from protocol
    /// version 10) for the rest; `None` lifts the limit.
    pub fn throttle_assign(&self, max: Option<usize>, retry_after_seconds: u64) {
        self.with(|s| {
            s.throttle.assign_max = max;
            s.throttle.assign_after = retry_after_seconds;
        });
    }

    /// The next `count` profile assignment requests fail as `how` says.
    pub fn fail_assign(&self, count: u32, how: AssignFailure) {
        self.with(|s| {
            s.throttle.assign_failures = count;
            s.throttle.assign_failure = how;
        });
    }

    /// Accepts `credentials` from now on instead of the current ones (a
    /// token renewed in Apple Business Manager); sessions already open
    /// stay valid until they expire.
    pub fn set_credentials(&self, credentials: OAuthCredentials) {
        self.with(|s| s.config.credentials = credentials);
    }

    /// How error codes are written from now on.
    pub fn set_error_style(&self, style: ErrorStyle) {
        self.with(|s| s.error_style = style);
    }

    /// Rotates the session token every `n` successful answers (`None`:
    /// never).
    pub fn set_rotation(&self, n: Option<u32>) {
        self.with(|s| s.rotate_every = n);
    }

    /// Assigns `n` new devices to the server (sync: `added`); returns their
    /// serial numbers.
    pub fn add_devices(&self, n: usize) -> Vec<String> {
        self.with(|s| s.add_devices(n, SystemTime::now()))
    }

    /// Changes a device's asset tag (sync: `modified`). False if unknown.
    pub fn modify_device(&self, serial: &str, asset_tag: &str) -> bool {
        self.with(|s| s.modify_device(serial, asset_tag, SystemTime::now()))
    }

    /// Unassigns a device (sync: `deleted`). False if unknown.
    pub fn delete_device(&self, serial: &str) -> bool {
        self.with(|s| s.delete_device(serial, SystemTime::now()))
    }

    /// A device's record as the service would send it.
    pub fn device(&self, serial: &str) -> Option<serde_json::Value> {
        self.with(|s| s.device_json(serial))
    }

    /// Every assigned device's serial number, in assignment order.
    pub fn serials(&self) -> Vec<String> {
        self.with(|s| s.serials())
    }

    /// How many devices are assigned.
    pub fn device_count(&self) -> usize {
        self.with(|s| s.device_count())
    }

    /// A defined profile, as `GET /profile` returns it.
    pub fn profile(&self, uuid: &str) -> Option<serde_json::Value> {
        self.with(|s| s.profile(uuid))
    }

    /// The counters.
    pub fn stats(&self) -> SimStats {
        self.with(|s| s.stats)
    }

    /// The last requests (at most 10,000), oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.with(|s| s.requests())
    }

    /// The last profile assignment requests (at most 1,000), oldest first.
    pub fn assignments(&self) -> Vec<AssignRecord> {
        self.with(|s| s.assignments())
    }
}

fn tls_acceptor(cert_pem: &str, key_pem: &str) -> std::io::Result<tokio_rustls_shim::Acceptor> {
    tokio_rustls_shim::Acceptor::new(cert_pem, key_pem)
}

async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    tls: Option<tokio_rustls_shim::Acceptor>,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            // Out of file descriptors or similar: wait and go on.
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            continue;
        };
        let shared = shared.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let _ = tcp.set_nodelay(true);
            let service = service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(handle(shared, req).await) }
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(30));
            match tls {
                None => {
                    let _ = builder.serve_connection(TokioIo::new(tcp), service).await;
                }
                Some(acceptor) => {
                    if let Ok(stream) = acceptor.accept(tcp).await {
                        let _ = builder
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    }
                }
            }
        });
    }
}

async fn handle(shared: Arc<Shared>, req: http::Request<Incoming>) -> http::Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, shared.max_body_len).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            let mut r =
                http::Response::new(Full::new(Bytes::from_static(b"\"MALFORMED_REQUEST_BODY\"")));
            *r.status_mut() = http::StatusCode::PAYLOAD_TOO_LARGE;
            return r;
        }
    };
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let host = header("host")
        .map(str::to_owned)
        .or_else(|| parts.uri.authority().map(|a| a.to_string()))
        .unwrap_or_default();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let incoming = state::Incoming {
        method: parts.method.as_str(),
        path_and_query: &path_and_query,
        scheme: if shared.https { "https" } else { "http" },
        host: &host,
        authorization: header("authorization"),
        content_type: header("content-type"),
        session: header(crate::session::AUTH_SESSION_HEADER),
        protocol_version: header(crate::session::PROTOCOL_VERSION_HEADER),
        user_agent: header("user-agent"),
        body: &body,
    };
    let answer = {
        let mut servers = shared.lock();
        let index = server_of(&servers, &path_and_query, &incoming);
        servers[index].dispatch(&incoming, Instant::now(), SystemTime::now())
    };
    let mut builder = http::Response::builder().status(answer.status);
    for (name, value) in &answer.headers {
        builder = builder.header(*name, value.as_str());
    }
    builder
        .body(Full::new(Bytes::from(answer.body)))
        .unwrap_or_else(|_| http::Response::new(Full::new(Bytes::new())))
}

/// Which MDM server a request is for: a sign-in by the access token in its
/// `Authorization`, any other call by its session token (which names its
/// server); the first server when neither tells (it then refuses the
/// request as Apple would).
fn server_of(servers: &[State], path_and_query: &str, req: &state::Incoming<'_>) -> usize {
    let path = path_and_query
        .split_once('?')
        .map_or(path_and_query, |(p, _)| p);
    let found = if path == "/session" {
        req.authorization
            .and_then(|a| verify::parse_header(a).ok())
            .and_then(|params| {
                let token = params
                    .iter()
                    .find(|(k, _)| k == "oauth_token")
                    .map(|(_, v)| v.clone())?;
                servers
                    .iter()
                    .position(|s| s.config.credentials.access_token == token)
            })
    } else {
        req.session.and_then(state::server_of_token)
    };
    found.filter(|i| *i < servers.len()).unwrap_or(0)
}

/// TLS for the simulator, when it is built with the `client` feature's
/// rustls; otherwise HTTPS is refused at start.
mod tokio_rustls_shim {
    #[cfg(feature = "client")]
    pub(super) use with_tls::Acceptor;
    #[cfg(not(feature = "client"))]
    pub(super) use without_tls::Acceptor;

    #[cfg(feature = "client")]
    mod with_tls {
        use std::sync::Arc;

        use rustls::pki_types::{
            CertificateDer, PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer,
            PrivateSec1KeyDer,
        };
        use tokio::net::TcpStream;

        #[derive(Clone)]
        pub(crate) struct Acceptor(tokio_rustls::TlsAcceptor);

        impl Acceptor {
            pub(crate) fn new(cert_pem: &str, key_pem: &str) -> std::io::Result<Self> {
                let bad = |m: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, m);
                let certs: Vec<CertificateDer<'static>> = crate::mime::pem_blocks(cert_pem)
                    .map_err(bad)?
                    .into_iter()
                    .filter(|(l, _)| l == "CERTIFICATE")
                    .map(|(_, d)| CertificateDer::from(d))
                    .collect();
                let key: PrivateKeyDer<'static> = crate::mime::pem_blocks(key_pem)
                    .map_err(bad)?
                    .into_iter()
                    .find_map(|(l, d)| match l.as_str() {
                        "PRIVATE KEY" => Some(PrivatePkcs8KeyDer::from(d).into()),
                        "RSA PRIVATE KEY" => Some(PrivatePkcs1KeyDer::from(d).into()),
                        "EC PRIVATE KEY" => Some(PrivateSec1KeyDer::from(d).into()),
                        _ => None,
                    })
                    .ok_or_else(|| bad("no private key".to_owned()))?;
                let provider = Arc::new(rustls::crypto::ring::default_provider());
                let mut config = rustls::ServerConfig::builder_with_provider(provider)
                    .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
                    .map_err(|e| bad(e.to_string()))?
                    .with_no_client_auth()
                    .with_single_cert(certs, key)
                    .map_err(|e| bad(e.to_string()))?;
                config.alpn_protocols = vec![b"http/1.1".to_vec()];
                Ok(Self(tokio_rustls::TlsAcceptor::from(Arc::new(config))))
            }

            pub(crate) async fn accept(
                &self,
                tcp: TcpStream,
            ) -> std::io::Result<tokio_rustls::server::TlsStream<TcpStream>> {
                self.0.accept(tcp).await
            }
        }
    }

    #[cfg(not(feature = "client"))]
    mod without_tls {
        use tokio::net::TcpStream;

        #[derive(Clone)]
        pub(crate) struct Acceptor;

        impl Acceptor {
            pub(crate) fn new(_: &str, _: &str) -> std::io::Result<Self> {
                Err(std::io::Error::new(
                    std::io::ErrorKind::Unsupported,
                    "HTTPS in the simulator needs the `client` feature (rustls)",
                ))
            }

            pub(crate) async fn accept(&self, tcp: TcpStream) -> std::io::Result<TcpStream> {
                Ok(tcp)
            }
        }
    }
}
