//! Talking to the DEP service over HTTPS (feature `client`).
//!
//! [`DepClient`] is a thin loop around the core: it asks a
//! [`Call`] for the next request (signing in first, and again
//! when the session is refused), sends it with hyper over rustls (ring,
//! TLS 1.2 and 1.3, HTTP/1.1 with kept-alive, pooled connections), and
//! hands the answer back. The sync helpers drive a
//! [`SyncMachine`] the same way, sleeping for its
//! back-off and schedule.
//!
//! One client serves one server token; a service with several tokens
//! makes one client (and one sync machine, with its own persisted cursor)
//! per token. A client may be shared between tasks (`Arc<DepClient>`).
//!
//! ```no_run
//! # async fn demo() -> dep_client::Result<()> {
//! use dep_client::client::{ClientConfig, DepClient};
//! use dep_client::{CursorState, SyncConfig, SyncEvent, SyncMachine};
//!
//! let token = dep_client::ServerToken::from_json(&std::fs::read_to_string("token.json").unwrap())?;
//! let client = DepClient::new(token.credentials, ClientConfig::default())?;
//! println!("{:?}", client.account().await?.org_name);
//! let mut sync = SyncMachine::new(SyncConfig::default(), CursorState::default(), std::time::Instant::now());
//! let stats = client.sync_all(&mut sync, |event| match event {
//!     SyncEvent::Devices { devices, .. } => println!("{} devices", devices.len()),
//!     SyncEvent::Cursor(state) => { /* persist state */ }
//!     _ => {}
//! }).await?;
//! println!("{} devices in {} pages", stats.devices, stats.pages);
//! # Ok(()) }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::api::{
    ActivationLock, AssignProfile, DefineProfile, DeviceDetails, DisownDevices, Endpoint,
    FetchDevices, GetAccount, GetProfile, RemoveProfile, SyncDevices,
};
use crate::error::{Error, Result};
use crate::model::{
    Account, ActivationLockRequest, ActivationLockResponse, AssignProfileResponse,
    DefineProfileResponse, DeviceDetailsResponse, DevicePage, DeviceStatusResponse, Profile,
};
use crate::oauth::{OAuthCredentials, OAuthParams};
use crate::session::{Call, Config, Session, is_loopback_host};
use crate::sync::{SyncEvent, SyncMachine, SyncStats};

/// Where trust anchors are looked for when none are configured.
const SYSTEM_BUNDLES: [&str; 4] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
    "/etc/ssl/ca-bundle.pem",
];

/// Exchanges per call: sign-in, call, sign-in again, replay.
const MAX_EXCHANGES: usize = 4;

/// How the client connects. `Default` plus chainable setters.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// The request configuration (base URL, user agent, protocol version,
    /// assign method, body limit).
    pub api: Config,
    /// Trust anchors for the server certificate, PEM. `None`: the system
    /// bundle (`/etc/ssl/certs/ca-certificates.crt` and the like).
    pub trust_anchors_pem: Option<String>,
    /// More trust anchors, PEM, added to the others (for a test server).
    pub extra_ca_pem: Option<String>,
    /// Time allowed for the TCP connect and TLS handshake.
    pub connect_timeout: Duration,
    /// Time allowed for one request, from sending to the end of the body.
    pub request_timeout: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            api: Config::default(),
            trust_anchors_pem: None,
            extra_ca_pem: None,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
        }
    }
}

impl ClientConfig {
    /// Sets the [`base URL`](Config::base_url).
    pub fn base_url(&mut self, url: impl Into<String>) -> &mut Self {
        self.api.base_url(url);
        self
    }

    /// Sets the [`X-Server-Protocol-Version`](Config::protocol_version).
    pub fn protocol_version(&mut self, v: u32) -> &mut Self {
        self.api.protocol_version(v);
        self
    }

    /// Sets the [`assign method`](Config::assign_method).
    pub fn assign_method(&mut self, m: http::Method) -> &mut Self {
        self.api.assign_method(m);
        self
    }

    /// Sets [`trust_anchors_pem`](Self::trust_anchors_pem).
    pub fn trust_anchors_pem(&mut self, pem: impl Into<String>) -> &mut Self {
        self.trust_anchors_pem = Some(pem.into());
        self
    }

    /// Sets [`extra_ca_pem`](Self::extra_ca_pem).
    pub fn extra_ca_pem(&mut self, pem: impl Into<String>) -> &mut Self {
        self.extra_ca_pem = Some(pem.into());
        self
    }

    /// Sets [`connect_timeout`](Self::connect_timeout).
    pub fn connect_timeout(&mut self, t: Duration) -> &mut Self {
        self.connect_timeout = t;
        self
    }

    /// Sets [`request_timeout`](Self::request_timeout).
    pub fn request_timeout(&mut self, t: Duration) -> &mut Self {
        self.request_timeout = t;
        self
    }
}

/// A DEP client for one server token. Must be used inside a tokio runtime.
pub struct DepClient {
    session: Mutex<Session>,
    http: Client<Connector, Full<Bytes>>,
    request_timeout: Duration,
    max_body_len: usize,
}

impl std::fmt::Debug for DepClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DepClient")
            .field("base_url", &self.lock().config().base_url)
            .finish_non_exhaustive()
    }
}

impl DepClient {
    /// A client for `credentials`. Checks the base URL and builds the TLS
    /// setup; connects on first use.
    pub fn new(credentials: OAuthCredentials, config: ClientConfig) -> Result<Self> {
        let session = Session::new(credentials, Arc::new(config.api.clone()))?;
        let base = config.api.checked_base_url()?;
        let tls = if base.starts_with("https://") {
            Some(TlsConnector::from(Arc::new(tls_config(&config)?)))
        } else {
            None
        };
        let connector = Connector {
            tls,
            connect_timeout: config.connect_timeout,
        };
        let http = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build(connector);
        Ok(Self {
            session: Mutex::new(session),
            http,
            request_timeout: config.request_timeout,
            max_body_len: config.api.max_body_len,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Session> {
        // A panic while holding the lock leaves a session that is still
        // consistent (every update is a single assignment), so a poisoned
        // lock is taken over.
        self.session
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The current session token (for tests and diagnostics).
    pub fn auth_token(&self) -> Option<String> {
        self.lock().auth_token().map(str::to_owned)
    }

    /// Runs one API call: signs in if needed, sends the request, and signs
    /// in again and replays it once if the session is refused.
    pub async fn call<E: Endpoint>(&self, endpoint: E) -> Result<E::Output> {
        let mut call = Call::new(endpoint);
        for _ in 0..MAX_EXCHANGES {
            let params = oauth_params()?;
            let request = call.poll_request(&self.lock(), || params)?;
            let response = self.send(request).await?;
            let (parts, body) = response.into_parts();
            let borrowed = http::Response::from_parts(parts, &body[..]);
            if let Some(output) = call.handle_response(&mut self.lock(), &borrowed)? {
                return Ok(output);
            }
        }
        Err(Error::Http(
            "the service kept refusing the session".to_owned(),
        ))
    }

    async fn send(&self, request: http::Request<Vec<u8>>) -> Result<http::Response<Bytes>> {
        let (parts, body) = request.into_parts();
        let request = http::Request::from_parts(parts, Full::new(Bytes::from(body)));
        let limit = self.max_body_len;
        let exchange = async {
            let response = self.http.request(request).await.map_err(|e| {
                let text = error_chain(&e);
                if e.is_connect() {
                    Error::Connect(std::io::Error::other(text))
                } else {
                    Error::Http(text)
                }
            })?;
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, limit)
                .collect()
                .await
                .map_err(|e| {
                    if e.downcast_ref::<http_body_util::LengthLimitError>()
                        .is_some()
                    {
                        Error::BodyTooLarge { limit }
                    } else {
                        Error::Http(error_chain(&*e))
                    }
                })?
                .to_bytes();
            Ok(http::Response::from_parts(parts, body))
        };
        tokio::time::timeout(self.request_timeout, exchange)
            .await
            .map_err(|_| Error::Timeout(self.request_timeout))?
    }

    /// `GET /account`.
    pub async fn account(&self) -> Result<Account> {
        self.call(GetAccount).await
    }

    /// `POST /server/devices`: one page of the full device list.
    pub async fn fetch_devices(&self, cursor: Option<&str>, limit: u32) -> Result<DevicePage> {
        self.call(FetchDevices::new(cursor.map(str::to_owned), limit))
            .await
    }

    /// `POST /devices/sync`: one page of changes since `cursor`.
    pub async fn sync_devices(&self, cursor: &str, limit: u32) -> Result<DevicePage> {
        self.call(SyncDevices::new(cursor, limit)).await
    }

    /// `POST /devices`: details of up to 1000 devices.
    pub async fn device_details(&self, serials: &[String]) -> Result<DeviceDetailsResponse> {
        self.call(DeviceDetails {
            devices: serials.to_vec(),
        })
        .await
    }

    /// `POST /devices/disown` (cannot be undone).
    pub async fn disown_devices(&self, serials: &[String]) -> Result<DeviceStatusResponse> {
        self.call(DisownDevices {
            devices: serials.to_vec(),
        })
        .await
    }

    /// `POST /profile`: defines a profile (and assigns it to
    /// `profile.devices`).
    pub async fn define_profile(&self, profile: &Profile) -> Result<DefineProfileResponse> {
        self.call(DefineProfile {
            profile: profile.clone(),
        })
        .await
    }

    /// `GET /profile?profile_uuid=…`.
    pub async fn profile(&self, profile_uuid: &str) -> Result<Profile> {
        self.call(GetProfile {
            profile_uuid: profile_uuid.to_owned(),
        })
        .await
    }

    /// Assigns a profile to up to 1000 devices (`POST`, or the configured
    /// method, `/profile/devices`). Devices the service throttles come back
    /// `THROTTLED`, with `retry_after_seconds`.
    pub async fn assign_profile(
        &self,
        profile_uuid: &str,
        serials: &[String],
    ) -> Result<AssignProfileResponse> {
        self.call(AssignProfile {
            profile_uuid: profile_uuid.to_owned(),
            devices: serials.to_vec(),
        })
        .await
    }

    /// `DELETE /profile/devices`: removes the profile of up to 1000 devices.
    pub async fn remove_profile(&self, serials: &[String]) -> Result<DeviceStatusResponse> {
        self.call(RemoveProfile {
            devices: serials.to_vec(),
            profile_uuid: None,
        })
        .await
    }

    /// `POST /device/activationlock`.
    pub async fn activation_lock(
        &self,
        request: &ActivationLockRequest,
    ) -> Result<ActivationLockResponse> {
        self.call(ActivationLock {
            request: request.clone(),
        })
        .await
    }

    /// Drives `machine` until it has an event: sends its requests, waits
    /// for its back-off and schedule. Persist the cursor of every
    /// [`SyncEvent::Cursor`] before calling again.
    ///
    /// Cancelling this future while a request is out is safe: the next
    /// call treats that request as failed and retries it.
    pub async fn next_sync_event(&self, machine: &mut SyncMachine) -> SyncEvent {
        if machine.in_flight() {
            machine.handle_response(
                Instant::now(),
                SystemTime::now(),
                Err(Error::Http("the previous request was abandoned".to_owned())),
            );
        }
        loop {
            if let Some(event) = machine.poll_event() {
                return event;
            }
            if let Some(request) = machine.poll_request(Instant::now()) {
                let result = self.call(request).await;
                machine.handle_response(Instant::now(), SystemTime::now(), result);
                continue;
            }
            match machine.poll_timeout() {
                Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
                // Only reachable with a request in flight, which this loop
                // never leaves behind.
                None => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    }

    /// Runs one sync pass: pages through the fetch (if not done) and the
    /// syncs until caught up, handing every event but the last to `sink`
    /// (devices, then the cursor to persist, page by page — never the whole
    /// list at once). Returns the machine's counters when caught up, or
    /// the error of a failed pass.
    pub async fn sync_all(
        &self,
        machine: &mut SyncMachine,
        mut sink: impl FnMut(SyncEvent),
    ) -> Result<SyncStats> {
        machine.sync_now(Instant::now());
        loop {
            match self.next_sync_event(machine).await {
                SyncEvent::Failed { error, .. } => return Err(error),
                event @ SyncEvent::CaughtUp { .. } => {
                    sink(event);
                    return Ok(*machine.stats());
                }
                event => sink(event),
            }
        }
    }
}

fn oauth_params() -> Result<OAuthParams> {
    let mut nonce = [0u8; 16];
    getrandom::fill(&mut nonce).map_err(|e| Error::Http(format!("no randomness: {e}")))?;
    let timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    Ok(OAuthParams::new(timestamp, &nonce))
}

fn tls_config(config: &ClientConfig) -> Result<rustls::ClientConfig> {
    let mut anchors = Vec::new();
    let system = || {
        SYSTEM_BUNDLES
            .iter()
            .find_map(|p| std::fs::read_to_string(p).ok())
    };
    match (&config.trust_anchors_pem, &config.extra_ca_pem) {
        (Some(pem), _) => anchors.extend(certificates(pem)?),
        (None, None) => {
            let bundle =
                system().ok_or_else(|| Error::Tls("no system trust anchors found".to_owned()))?;
            anchors.extend(certificates(&bundle)?);
        }
        (None, Some(_)) => {
            if let Some(bundle) = system() {
                anchors.extend(certificates(&bundle)?);
            }
        }
    }
    if let Some(pem) = &config.extra_ca_pem {
        anchors.extend(certificates(pem)?);
    }
    let mut roots = rustls::RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(anchors);
    if added == 0 {
        return Err(Error::Tls("no usable trust anchors".to_owned()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tls)
}

fn certificates(pem: &str) -> Result<Vec<CertificateDer<'static>>> {
    Ok(crate::mime::pem_blocks(pem)
        .map_err(|e| Error::Tls(format!("trust anchors: {e}")))?
        .into_iter()
        .filter(|(label, _)| label == "CERTIFICATE" || label == "TRUSTED CERTIFICATE")
        .map(|(_, der)| CertificateDer::from(der))
        .collect())
}

/// An error and its sources, `: `-separated.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Opens TCP connections, with TLS for `https` and plain for `http` to a
/// loopback address only.
#[derive(Clone)]
struct Connector {
    tls: Option<TlsConnector>,
    connect_timeout: Duration,
}

type ConnectFuture = Pin<Box<dyn Future<Output = std::io::Result<Stream>> + Send>>;

impl tower_service::Service<http::Uri> for Connector {
    type Response = Stream;
    type Error = std::io::Error;
    type Future = ConnectFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let invalid = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidInput, m);
            let host = uri
                .host()
                .ok_or_else(|| invalid("no host"))?
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned();
            let https = match uri.scheme_str() {
                Some("https") => true,
                Some("http") if is_loopback_host(&host) => false,
                _ => return Err(invalid("plain http is for loopback test servers only")),
            };
            let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
            let connect = async {
                let tcp = TcpStream::connect((host.as_str(), port)).await?;
                tcp.set_nodelay(true)?;
                if !https {
                    return Ok(Stream::Plain(TokioIo::new(tcp)));
                }
                let tls = this
                    .tls
                    .as_ref()
                    .ok_or_else(|| invalid("no TLS configuration"))?;
                let name = ServerName::try_from(host.clone())
                    .map_err(|_| invalid("not a valid server name"))?;
                let stream = tls.connect(name, tcp).await?;
                Ok(Stream::Tls(Box::new(TokioIo::new(stream))))
            };
            tokio::time::timeout(this.connect_timeout, connect)
                .await
                .map_err(|_| {
                    std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out")
                })?
        })
    }
}

/// A connection: plain TCP (loopback) or TLS.
enum Stream {
    Plain(TokioIo<TcpStream>),
    Tls(Box<TokioIo<TlsStream<TcpStream>>>),
}

impl Connection for Stream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl hyper::rt::Read for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(&mut **s).poll_read(cx, buf),
        }
    }
}

impl hyper::rt::Write for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(&mut **s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(&mut **s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(&mut **s).poll_shutdown(cx),
        }
    }
}
