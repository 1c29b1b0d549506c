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

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hyper::body::Bytes;
use pippin_http_client::client::{HttpsClient, HttpsConfig};

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
use crate::session::{Call, Config, Session};
use crate::sync::{SyncEvent, SyncMachine, SyncStats};

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
    http: HttpsClient,
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
        let mut https = HttpsConfig::default();
        https
            .connect_timeout(config.connect_timeout)
            .request_timeout(config.request_timeout)
            .max_body_len(config.api.max_body_len);
        https.trust_anchors_pem = config.trust_anchors_pem.clone();
        https.extra_ca_pem = config.extra_ca_pem.clone();
        let http = HttpsClient::new(&https).map_err(transport)?;
        Ok(Self {
            session: Mutex::new(session),
            http,
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
        self.http.send(request).await.map_err(transport)
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

/// The transport's error as this crate's.
fn transport(e: pippin_http_client::Error) -> Error {
    use pippin_http_client::Error as T;
    match e {
        T::Connect(m) => Error::Connect(std::io::Error::other(m)),
        T::Tls(m) => Error::Tls(m),
        T::Timeout(d) => Error::Timeout(d),
        T::BodyTooLarge { limit } => Error::BodyTooLarge { limit },
        T::InvalidBaseUrl(u) | T::InvalidUrl(u) => Error::InvalidBaseUrl(u),
        other => Error::Http(other.to_string()),
    }
}
