//! A loopback server that behaves like Apple's Apps and Books for
//! Organizations service (feature `simulator`), for tests, examples and
//! benchmarks.
//!
//! It serves `/mdm/v2/…` and a content metadata lookup over plain HTTP/1.1
//! on 127.0.0.1, and reproduces what clients meet in practice:
//!
//! - tokens: a missing or malformed `Authorization` (9722), an unknown
//!   token (9622), an expired one (9621) and a revoked one (9625), all with
//!   401; [`SimulatorConfig::errors_with_200`] answers errors with HTTP 200
//!   and an error body, as older deployments did;
//! - the per-token rate (15 requests a second by default) answered with
//!   429 and 9646, without `Retry-After`; injected 429s
//!   ([`Simulator::throttle_next`]) and 503 9729 with `Retry-After`
//!   ([`Simulator::unavailable_next`]);
//! - method and content-type checks (9726, 9727), request limits and
//!   duplicates (9700–9705), assets that are not device-assignable (9707),
//!   missing assets or targets (9718, 9719);
//! - paging: a configurable page size, `nextPageIndex` only when there is
//!   a next page, 9650 for a page out of range, a `versionId` that moves
//!   on every write — including writes scheduled to land in the middle of
//!   a walk ([`Simulator::purchase_after_requests`]) — and
//!   `sinceVersionId` for assignments (9721 for one it never issued);
//! - asynchronous jobs: associate, disassociate and revoke answer an
//!   `eventId` at once and are worked on in the background, in batches;
//!   `status` says `PENDING` with progress, then `COMPLETE`, or `FAILED`
//!   with the failures (9709 when licenses run out part way);
//! - notifications: `ASSET_MANAGEMENT` in chunks of at most 100
//!   assignments, `ASSET_COUNT` on purchases and refunds, a
//!   `TEST_NOTIFICATION` when notifications are configured (the
//!   configuration is refused with 9728 if it is not answered 2xx),
//!   `Authorization: Bearer <notificationAuthToken>`, up to three tries,
//!   and duplicates on request;
//! - `mdmInfo` kept and echoed on every answer, so a client can see that
//!   another server took the token over.

mod state;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use pippin_http_client::client::{HttpsClient, HttpsConfig};
use pippin_http_client::{Offset, format_timestamp};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::model::MdmInfo;
use state::{AssetRec, CatalogItem, Holder, Outgoing, Request, State, TokenRec};

pub use state::UNLIMITED;

/// The lookup path the simulator serves.
const LOOKUP_PATH: &str = "/WebObjects/MZStorePlatform.woa/wa/lookup";

/// How the simulator behaves. `Default` plus chainable setters.
#[derive(Clone, Debug)]
pub struct SimulatorConfig {
    /// Records per page (Apple's are several hundred).
    pub page_size: usize,
    /// Requests per second per token before 9646 (0: no limit).
    pub max_requests_per_second: u32,
    /// Answer errors with HTTP 200 and an error body.
    pub errors_with_200: bool,
    /// Deliver every notification twice.
    pub duplicate_notifications: bool,
    /// How long a job waits before work starts on it.
    pub event_latency: Duration,
    /// Tasks of a job done per step (a step every 20 ms).
    pub event_batch: usize,
    /// Accept `http://` notification URLs on loopback (Apple requires
    /// HTTPS).
    pub allow_http_notification_urls: bool,
    /// Trust anchors (PEM) for delivering notifications over HTTPS.
    pub notification_ca_pem: Option<String>,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        let b = state::Behaviour::default();
        Self {
            page_size: b.page_size,
            max_requests_per_second: b.max_requests_per_second,
            errors_with_200: b.errors_with_200,
            duplicate_notifications: b.duplicate_notifications,
            event_latency: b.event_latency,
            event_batch: b.event_batch,
            allow_http_notification_urls: b.allow_http_notification_urls,
            notification_ca_pem: None,
        }
    }
}

impl SimulatorConfig {
    /// Sets [`page_size`](Self::page_size).
    pub fn page_size(&mut self, n: usize) -> &mut Self {
        self.page_size = n;
        self
    }
    /// Sets [`max_requests_per_second`](Self::max_requests_per_second).
    pub fn max_requests_per_second(&mut self, n: u32) -> &mut Self {
        self.max_requests_per_second = n;
        self
    }
    /// Sets [`errors_with_200`](Self::errors_with_200).
    pub fn errors_with_200(&mut self, on: bool) -> &mut Self {
        self.errors_with_200 = on;
        self
    }
    /// Sets [`duplicate_notifications`](Self::duplicate_notifications).
    pub fn duplicate_notifications(&mut self, on: bool) -> &mut Self {
        self.duplicate_notifications = on;
        self
    }
    /// Sets [`event_latency`](Self::event_latency) and
    /// [`event_batch`](Self::event_batch).
    pub fn events(&mut self, latency: Duration, batch: usize) -> &mut Self {
        self.event_latency = latency;
        self.event_batch = batch;
        self
    }
    /// Sets [`allow_http_notification_urls`](Self::allow_http_notification_urls).
    pub fn allow_http_notification_urls(&mut self, on: bool) -> &mut Self {
        self.allow_http_notification_urls = on;
        self
    }
    /// Sets [`notification_ca_pem`](Self::notification_ca_pem).
    pub fn notification_ca_pem(&mut self, pem: impl Into<String>) -> &mut Self {
        self.notification_ca_pem = Some(pem.into());
        self
    }
}

/// An asset to put in a location.
#[derive(Clone, Debug)]
pub struct AssetSpec {
    /// The Adam ID.
    pub adam_id: String,
    /// `STDQ` or `PLUS`.
    pub pricing_param: String,
    /// `App` or `Book`.
    pub product_type: String,
    /// Licenses owned.
    pub total: i64,
    /// Whether licenses can go to devices.
    pub device_assignable: bool,
    /// Whether licenses can be revoked.
    pub revocable: bool,
    /// A free app with unlimited licenses.
    pub unlimited: bool,
    /// Platforms.
    pub platforms: Vec<String>,
}

impl AssetSpec {
    /// A device-assignable, revocable iOS and macOS app with `total`
    /// licenses.
    pub fn app(adam_id: impl Into<String>, total: i64) -> Self {
        Self {
            adam_id: adam_id.into(),
            pricing_param: "STDQ".to_owned(),
            product_type: "App".to_owned(),
            total,
            device_assignable: true,
            revocable: true,
            unlimited: false,
            platforms: vec!["iOS".to_owned(), "macOS".to_owned()],
        }
    }
}

/// A notification the simulator delivered (or tried to).
#[derive(Clone, Debug)]
pub struct Delivery {
    /// The body.
    pub body: Value,
    /// The HTTP status of the last try, or `None` if it never got one.
    pub status: Option<u16>,
}

/// A location's handle.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct LocationId(usize);

struct Shared {
    state: Mutex<State>,
    deliveries: Mutex<Vec<Delivery>>,
    notifier: Option<HttpsClient>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Every change to the state happens under the lock in one piece;
        // a panicking handler leaves nothing half-done, so take it over.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A running simulator. Dropping it stops the server.
pub struct Simulator {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

impl Simulator {
    /// Starts a simulator on 127.0.0.1 (port 0: any free port).
    pub async fn start(config: SimulatorConfig) -> std::io::Result<Self> {
        Self::start_on(
            "127.0.0.1:0".parse().map_err(std::io::Error::other)?,
            config,
        )
        .await
    }

    /// Starts a simulator on `addr` (a loopback address).
    pub async fn start_on(addr: SocketAddr, config: SimulatorConfig) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let mut state = State::default();
        state.origin = format!("http://{addr}");
        state.behaviour = state::Behaviour {
            page_size: config.page_size,
            max_requests_per_second: config.max_requests_per_second,
            errors_with_200: config.errors_with_200,
            duplicate_notifications: config.duplicate_notifications,
            event_latency: config.event_latency,
            event_batch: config.event_batch,
            allow_http_notification_urls: config.allow_http_notification_urls,
        };
        let notifier = {
            let mut https = HttpsConfig::default();
            https.request_timeout(Duration::from_secs(5));
            https.connect_timeout(Duration::from_secs(2));
            if let Some(pem) = &config.notification_ca_pem {
                https.extra_ca_pem(pem.clone());
            }
            HttpsClient::new(&https).ok()
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            deliveries: Mutex::new(Vec::new()),
            notifier,
        });
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(accept_loop(listener, shared.clone(), stopped.clone()));
        tokio::spawn(work_loop(shared.clone(), stopped));
        Ok(Self { addr, shared, stop })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The v2 API's base URL (`http://127.0.0.1:PORT/mdm/v2`).
    pub fn base_url(&self) -> String {
        format!("http://{}/mdm/v2", self.addr)
    }

    /// The content metadata lookup URL.
    pub fn lookup_url(&self) -> String {
        format!("http://{}{LOOKUP_PATH}", self.addr)
    }

    /// Adds a location (library).
    pub fn add_location(&self, name: &str) -> LocationId {
        LocationId(self.shared.lock().add_location(name))
    }

    /// Issues a content token for `location`, expiring at `expiry`;
    /// returns the `.vpptoken` file's content.
    pub fn issue_token(&self, location: LocationId, org_name: &str, expiry: SystemTime) -> String {
        let mut s = self.shared.lock();
        let n = s.new_id();
        let inner = serde_json::json!({
            "token": base64::engine::general_purpose::STANDARD.encode(format!("sim-token-{n}-{}", location.0)),
            "expDate": format_timestamp(expiry, Offset::Numeric),
            "orgName": org_name,
        });
        let file = base64::engine::general_purpose::STANDARD.encode(inner.to_string());
        s.tokens.insert(
            file.clone(),
            TokenRec {
                location: location.0,
                expiry,
                revoked: false,
            },
        );
        file
    }

    /// Revokes a token (its calls answer 9625 from now on).
    pub fn revoke_token(&self, file: &str) {
        if let Some(t) = self.shared.lock().tokens.get_mut(file.trim()) {
            t.revoked = true;
        }
    }

    /// Adds (or replaces) an asset.
    pub fn add_asset(&self, location: LocationId, spec: AssetSpec) {
        let mut s = self.shared.lock();
        let Some(l) = s.locations.get_mut(location.0) else {
            return;
        };
        l.assets.insert(
            (spec.adam_id, spec.pricing_param),
            AssetRec {
                product_type: spec.product_type,
                total: spec.total,
                retired: 0,
                device_assignable: spec.device_assignable,
                revocable: spec.revocable,
                unlimited: spec.unlimited,
                platforms: spec.platforms,
            },
        );
        l.version += 1;
        l.cache_reset();
    }

    /// Adds an app to the metadata catalogue.
    pub fn add_catalog_app(
        &self,
        adam_id: &str,
        name: &str,
        bundle_id: &str,
        version: &str,
        custom: bool,
    ) {
        self.shared.lock().catalog.insert(
            adam_id.to_owned(),
            CatalogItem {
                name: name.to_owned(),
                bundle_id: bundle_id.to_owned(),
                version: version.to_owned(),
                families: vec!["iphone".to_owned(), "ipad".to_owned(), "mac".to_owned()],
                custom,
            },
        );
    }

    /// Licenses bought (`delta > 0`) or refunded: counts change, the
    /// version moves, and an `ASSET_COUNT` notification goes out.
    pub fn purchase(&self, location: LocationId, adam_id: &str, delta: i64) {
        let out = self.shared.lock().purchase(location.0, adam_id, delta);
        deliver(self.shared.clone(), out.into_iter().collect());
    }

    /// The same, once `after` more requests have arrived (data changing
    /// under a walk).
    pub fn purchase_after_requests(
        &self,
        after: u64,
        location: LocationId,
        adam_id: &str,
        delta: i64,
    ) {
        let mut s = self.shared.lock();
        let at = s.requests + after;
        s.scheduled.push((
            at,
            state::Scheduled::Purchase {
                location: location.0,
                adam_id: adam_id.to_owned(),
                delta,
            },
        ));
    }

    /// Gives licenses directly (seeding a large location quickly).
    pub fn seed_assignments(
        &self,
        location: LocationId,
        adam_id: &str,
        serials: impl IntoIterator<Item = String>,
    ) {
        let mut s = self.shared.lock();
        let Some(l) = s.locations.get_mut(location.0) else {
            return;
        };
        let key = (adam_id.to_owned(), "STDQ".to_owned());
        let version = l.version;
        let mut n = 0;
        for serial in serials {
            if l.assignments
                .insert((key.clone(), Holder::Serial(serial)), version)
                .is_none()
            {
                n += 1;
            }
        }
        *l.assigned.entry(key).or_default() += n;
        l.version += 1;
        l.cache_reset();
    }

    /// The next `n` authenticated requests answer 429 / 9646.
    pub fn throttle_next(&self, n: u32) {
        self.shared.lock().throttle_next = n;
    }

    /// The next authenticated request answers 503 / 9729 with
    /// `Retry-After: secs`.
    pub fn unavailable_next(&self, secs: u64) {
        self.shared.lock().unavailable_next.push(secs);
    }

    /// The requests seen so far: method and path with query.
    pub fn requests(&self) -> Vec<(String, String)> {
        self.shared.lock().log.clone()
    }

    /// Licenses of `adam_id` (STDQ) held by each serial number.
    pub fn device_assignments(&self, location: LocationId, adam_id: &str) -> Vec<String> {
        let s = self.shared.lock();
        let Some(l) = s.locations.get(location.0) else {
            return Vec::new();
        };
        l.assignments
            .keys()
            .filter(|((id, pp), _)| id == adam_id && pp == "STDQ")
            .filter_map(|(_, h)| match h {
                Holder::Serial(s) => Some(s.clone()),
                Holder::User(_) => None,
            })
            .collect()
    }

    /// Free licenses of `adam_id` (STDQ).
    pub fn available(&self, location: LocationId, adam_id: &str) -> i64 {
        let s = self.shared.lock();
        let Some(l) = s.locations.get(location.0) else {
            return 0;
        };
        let key = (adam_id.to_owned(), "STDQ".to_owned());
        l.assets
            .get(&key)
            .map_or(0, |a| a.total - l.assigned.get(&key).copied().unwrap_or(0))
    }

    /// Who manages the location's tokens, as set through client config.
    pub fn mdm_info(&self, location: LocationId) -> Option<MdmInfo> {
        self.shared
            .lock()
            .locations
            .get(location.0)
            .and_then(|l| l.mdm_info.clone())
    }

    /// Sets `mdmInfo` directly (another MDM server took the token).
    pub fn set_mdm_info(&self, location: LocationId, info: Option<MdmInfo>) {
        if let Some(l) = self.shared.lock().locations.get_mut(location.0) {
            l.mdm_info = info;
        }
    }

    /// Notifications delivered so far.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.shared
            .deliveries
            .lock()
            .map(|d| d.clone())
            .unwrap_or_default()
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    loop {
        let (stream, _) = tokio::select! {
            r = listener.accept() => match r {
                Ok(v) => v,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let shared = shared.clone();
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(shared.clone(), req));
            let conn = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = conn => {}
                _ = stop.changed() => {}
            }
        });
    }
}

async fn work_loop(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let out = shared.lock().process_events(Instant::now());
        if !out.is_empty() {
            deliver(shared.clone(), out);
        }
    }
}

/// Posts notifications in the background, up to three tries each.
fn deliver(shared: Arc<Shared>, out: Vec<Outgoing>) {
    if out.is_empty() {
        return;
    }
    tokio::spawn(async move {
        for n in out {
            let status = post_notification(&shared, &n).await;
            if let Ok(mut d) = shared.deliveries.lock() {
                d.push(Delivery {
                    body: n.body,
                    status,
                });
            }
        }
    });
}

async fn post_notification(shared: &Shared, n: &Outgoing) -> Option<u16> {
    let client = shared.notifier.as_ref()?;
    let mut last = None;
    for attempt in 0..3 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let Ok(request) = http::Request::post(&n.url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::AUTHORIZATION, format!("Bearer {}", n.secret))
            .body(n.body.to_string().into_bytes())
        else {
            return None;
        };
        if let Ok(r) = client.send(request).await {
            last = Some(r.status().as_u16());
            if r.status().is_success() {
                break;
            }
        }
    }
    last
}

async fn handle(
    shared: Arc<Shared>,
    req: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, 4 * 1024 * 1024).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return Ok(respond(
                400,
                &serde_json::json!({"errorNumber": 9602, "errorMessage": "Request too large."}),
                None,
            ));
        }
    };
    let header = |n: http::header::HeaderName| parts.headers.get(n).and_then(|v| v.to_str().ok());
    let query = parts.uri.query().map(parse_query).unwrap_or_default();
    let request = Request {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query,
        authorization: header(http::header::AUTHORIZATION),
        cookie: header(http::header::COOKIE),
        content_type: header(http::header::CONTENT_TYPE),
        body: &body,
    };
    let handled = shared
        .lock()
        .handle(&request, Instant::now(), SystemTime::now(), LOOKUP_PATH);
    let mut reply = handled.reply;
    if let Some((loc, pending)) = handled.pending_config {
        // The configuration takes effect only if its test notification is
        // answered 2xx.
        let mut delivered = false;
        for n in handled.notifications {
            let status = post_notification(&shared, &n).await;
            delivered = status.is_some_and(|s| (200..300).contains(&s));
            if let Ok(mut d) = shared.deliveries.lock() {
                d.push(Delivery {
                    body: n.body,
                    status,
                });
            }
        }
        let token = request
            .authorization
            .and_then(|a| a.strip_prefix("Bearer "))
            .unwrap_or("")
            .trim()
            .to_owned();
        let mut s = shared.lock();
        if delivered {
            s.apply_config(loc, &pending);
            reply.body = s.finish_config(&token, loc);
        } else {
            reply.status = if s.behaviour.errors_with_200 {
                200
            } else {
                400
            };
            reply.body = serde_json::json!({"errorNumber": 9728, "errorMessage": "The notification URL could not be reached."});
        }
    } else {
        deliver(shared.clone(), handled.notifications);
    }
    Ok(respond(reply.status, &reply.body, reply.retry_after))
}

fn respond(status: u16, body: &Value, retry_after: Option<u64>) -> hyper::Response<Full<Bytes>> {
    let mut b = hyper::Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json;charset=UTF-8");
    if let Some(s) = retry_after {
        b = b.header(http::header::RETRY_AFTER, s.to_string());
    }
    b.body(Full::new(Bytes::from(body.to_string())))
        .unwrap_or_else(|_| hyper::Response::new(Full::new(Bytes::new())))
}

/// `k=v&k2=v2`, percent-decoded (`+` as a space).
fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decoding() {
        assert_eq!(
            parse_query("a=1&serialNumber=C02%20X%26Y&b=&c+d=e+f&bad=%zz&end=%2"),
            vec![
                ("a".into(), "1".into()),
                ("serialNumber".into(), "C02 X&Y".into()),
                ("b".into(), String::new()),
                ("c d".into(), "e f".into()),
                ("bad".into(), "%zz".into()),
                ("end".into(), "%2".into()),
            ]
        );
    }
}
