//! Sending MDM pushes to APNs over HTTP/2 (feature `client`).
//!
//! One [`ApnsClient`] holds **one** long-lived HTTP/2 connection, opened on
//! first use, with the push certificate as TLS client identity and ALPN
//! `h2`. Pushes share it as concurrent streams, and at most
//! [`ApnsConfig::max_in_flight`] pushes are outstanding at once, across
//! every caller of the client.
//!
//! # Streams and timeouts
//!
//! The client never opens more streams than the server's
//! `SETTINGS_MAX_CONCURRENT_STREAMS` allows (one until the server's
//! SETTINGS arrive). A push that finds every stream slot taken waits for
//! one; that wait is **not** part of its [`ApnsConfig::request_timeout`],
//! which starts when the push's stream opens and covers sending it and
//! reading the whole answer. A push in the slot queue is not left waiting
//! forever: if no stream of the connection ends within one
//! `request_timeout` (every open stream would have timed out by then), it
//! fails with [`Error::Timeout`]. Time spent connecting is bounded by
//! [`ApnsConfig::connect_timeout`] instead.
//!
//! # Failures and back-off
//!
//! When the connection drops — an I/O error, a failed PING, an idle close,
//! or a GOAWAY — the next push reconnects, and a push whose stream failed
//! before an answer is sent again on the new connection (up to
//! [`ApnsConfig::max_attempts`] sends in all; sending an MDM push twice is
//! harmless: the device just checks in once more). A connection that fails
//! before answering anything counts as a failure, as does a failed connect:
//! the next attempt waits for [`ApnsConfig::reconnect`]'s back-off first, so
//! a server that accepts connections and closes them at once sees one
//! attempt per back-off step, not a storm. The count of failures is reset
//! only once a connection has answered a push.
//!
//! A GOAWAY is read through `h2`'s typed error (its error code, and the
//! debug data, where APNs puts `{"reason": "…"}`). A reason that names a
//! certificate problem ends the push at once with [`Error::GoAway`]:
//! resending cannot help until an administrator replaces the certificate.
//!
//! # Health checks
//!
//! An idle connection is checked with an HTTP/2 PING every
//! [`ApnsConfig::keep_alive_interval`]; one not answered within
//! [`ApnsConfig::keep_alive_timeout`] closes the connection, and the next
//! push opens a new one.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::pki_types::{CertificateDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio::net::TcpStream;
use tokio::sync::{Mutex, Notify, Semaphore};
use tokio::time::{Instant, sleep_until, timeout};
use tokio_rustls::TlsConnector;

use crate::cert::pem_blocks;
use crate::error::{Error, Result};
use crate::response::MAX_BODY_LEN;
use crate::{
    PrivateKeyDer, PushCertificate, PushRequest, PushResponse, Reason, RetryPolicy, Verdict,
};

/// APNs production: `https://api.push.apple.com` (port 443; 2197 also
/// works where 443 is blocked).
pub const PRODUCTION: &str = "https://api.push.apple.com";
/// APNs development (sandbox): `https://api.sandbox.push.apple.com`.
pub const SANDBOX: &str = "https://api.sandbox.push.apple.com";

/// Where trust anchors are looked for when none are configured.
const SYSTEM_BUNDLES: [&str; 4] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
    "/etc/ssl/ca-bundle.pem",
];

/// How the client connects and how hard it tries.
#[derive(Clone, Debug)]
pub struct ApnsConfig {
    /// `https://host[:port]`; [`PRODUCTION`] by default.
    pub endpoint: String,
    /// Trust anchors for the server certificate, PEM. `None`: the system
    /// bundle (`/etc/ssl/certs/ca-certificates.crt` and the like).
    pub trust_anchors_pem: Option<String>,
    /// More trust anchors, PEM, added to the others (for a test server).
    pub extra_ca_pem: Option<String>,
    /// Time allowed for TCP connect plus TLS and HTTP/2 handshakes.
    pub connect_timeout: Duration,
    /// Time allowed for one push once its stream is open: sending it and
    /// reading the whole answer (waiting for a stream slot is not counted;
    /// see the [module documentation](self)).
    pub request_timeout: Duration,
    /// How many pushes may be outstanding at once.
    pub max_in_flight: usize,
    /// How many times one push is sent when its stream fails before a
    /// response (the connection dropped or went away).
    pub max_attempts: u32,
    /// Back-off between connection attempts after a failed connect or a
    /// connection that failed before answering anything.
    pub reconnect: RetryPolicy,
    /// How often to PING an otherwise idle connection, keeping it open and
    /// checking that it still works; `None`: never.
    pub keep_alive_interval: Option<Duration>,
    /// How long to wait for the answer to a PING before the connection is
    /// considered dead and closed.
    pub keep_alive_timeout: Duration,
}

impl Default for ApnsConfig {
    fn default() -> Self {
        Self {
            endpoint: PRODUCTION.to_owned(),
            trust_anchors_pem: None,
            extra_ca_pem: None,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_in_flight: 1000,
            max_attempts: 3,
            reconnect: RetryPolicy {
                base: Duration::from_millis(500),
                max: Duration::from_secs(60),
            },
            keep_alive_interval: Some(Duration::from_secs(60)),
            keep_alive_timeout: Duration::from_secs(20),
        }
    }
}

impl ApnsConfig {
    /// Sets [`endpoint`](Self::endpoint).
    pub fn endpoint(&mut self, endpoint: impl Into<String>) -> &mut Self {
        self.endpoint = endpoint.into();
        self
    }

    /// Sets [`extra_ca_pem`](Self::extra_ca_pem).
    pub fn extra_ca_pem(&mut self, pem: impl Into<String>) -> &mut Self {
        self.extra_ca_pem = Some(pem.into());
        self
    }

    /// Sets [`max_in_flight`](Self::max_in_flight) (at least 1).
    pub fn max_in_flight(&mut self, n: usize) -> &mut Self {
        self.max_in_flight = n.max(1);
        self
    }

    /// Sets [`request_timeout`](Self::request_timeout).
    pub fn request_timeout(&mut self, t: Duration) -> &mut Self {
        self.request_timeout = t;
        self
    }

    /// Sets [`keep_alive_interval`](Self::keep_alive_interval) and
    /// [`keep_alive_timeout`](Self::keep_alive_timeout).
    pub fn keep_alive(&mut self, interval: Option<Duration>, timeout: Duration) -> &mut Self {
        self.keep_alive_interval = interval;
        self.keep_alive_timeout = timeout;
        self
    }
}

/// The outcome of one push from [`ApnsClient::push`],
/// [`ApnsClient::push_many`] or [`ApnsClient::push_stream`].
#[derive(Debug)]
pub struct PushResult {
    /// The push that was sent.
    pub request: PushRequest,
    /// APNs's answer, or why there was none.
    pub outcome: Result<PushResponse>,
}

impl PushResult {
    /// What to do next, for the caller's `attempt`-th try of this push (0
    /// for the first). APNs's answer gives its [`PushResponse::verdict`];
    /// a push that could not be built is a [`Verdict::BadRequest`]; one that
    /// got no answer (connection, TLS or timeout) is retried later.
    pub fn verdict(&self, attempt: u32, policy: &RetryPolicy) -> Verdict {
        match &self.outcome {
            Ok(response) => response.verdict(attempt, policy),
            Err(
                Error::EmptyToken
                | Error::EmptyPushMagic
                | Error::InvalidPriority(_)
                | Error::InvalidHeader { .. },
            ) => Verdict::BadRequest,
            Err(Error::GoAway { reason }) => {
                crate::response::goaway_verdict(reason.as_ref(), attempt, policy)
            }
            Err(_) => Verdict::RetryLater {
                after: policy.delay(attempt),
            },
        }
    }
}

/// An APNs client for MDM pushes over one shared HTTP/2 connection.
///
/// Must be used inside a tokio runtime (it spawns the connection's driver
/// task; pushes themselves run in the caller's task).
pub struct ApnsClient {
    config: ApnsConfig,
    authority: String,
    host: String,
    port: u16,
    server_name: ServerName<'static>,
    tls: TlsConnector,
    topic: String,
    conn: Mutex<ConnState>,
    /// Failed connection attempts so far; read without the lock.
    connect_failures: AtomicU64,
    in_flight: Semaphore,
}

/// The connection in use and the failures that led to it.
#[derive(Default)]
struct ConnState {
    current: Option<Arc<Conn>>,
    generation: u64,
    /// Failed connects and connections that failed before answering, since
    /// the last connection that answered.
    failures: u32,
    /// No connection attempt before this.
    retry_at: Option<Instant>,
    /// The last failed connection attempt's error.
    last_failure: Option<Error>,
}

/// One HTTP/2 connection and its stream slots.
struct Conn {
    generation: u64,
    sender: SendRequest<Full<Bytes>>,
    slots: Arc<Slots>,
    /// A push got an answer on this connection.
    answered: AtomicBool,
}

/// The HTTP/2 connection object (driven by its own task).
type H2Connection = hyper::client::conn::http2::Connection<
    TokioIo<tokio_rustls::client::TlsStream<TcpStream>>,
    Full<Bytes>,
    TokioExecutor,
>;

/// A connection's stream slots, shared with its driver task.
struct Slots {
    /// The connection, for the server's current
    /// `SETTINGS_MAX_CONCURRENT_STREAMS` (`None` once it has ended).
    connection: std::sync::Mutex<Option<std::pin::Pin<Box<H2Connection>>>>,
    /// Streams opened and not yet ended.
    open: AtomicUsize,
    /// Streams ended so far: the connection's progress.
    ended: AtomicU64,
    /// Signalled when a stream ends (a slot may be free), and when the
    /// connection ends or is found closed.
    freed: Notify,
    /// The GOAWAY that ended the connection, with its reason, if one did;
    /// written by the driver while it holds `connection`.
    goaway: std::sync::Mutex<Option<Option<Reason>>>,
}

impl Slots {
    /// What a push on this closed connection failed with: the server's
    /// GOAWAY when it sent one, else `closed`.
    fn closed_error(&self, closed: impl FnOnce() -> Error) -> Error {
        // The driver records the GOAWAY while it holds the connection
        // lock: taking it waits for a poll that is ending the connection.
        drop(match self.connection.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        });
        let goaway = match self.goaway.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        };
        match goaway {
            Some(reason) => Error::GoAway { reason },
            None => closed(),
        }
    }

    /// How many streams the server allows at once now: 1 until its
    /// SETTINGS arrive, 0 once the connection has ended.
    fn limit(&self) -> usize {
        // A poisoned lock still holds the connection (polling it panicked):
        // read it anyway.
        let guard = match self.connection.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        guard
            .as_ref()
            .map_or(0, |c| c.as_ref().get_ref().current_max_send_streams())
    }

    /// Takes a stream slot if one is free under the server's limit.
    fn try_open(self: &Arc<Self>) -> Option<StreamSlot> {
        let limit = self.limit();
        let mut open = self.open.load(Ordering::Acquire);
        while open < limit {
            match self.open.compare_exchange_weak(
                open,
                open + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    if open + 1 < limit {
                        // Room for more: pass the wake-up on.
                        self.freed.notify_one();
                    }
                    return Some(StreamSlot(self.clone()));
                }
                Err(now) => open = now,
            }
        }
        None
    }
}

/// A stream slot, given back when dropped.
struct StreamSlot(Arc<Slots>);

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
        self.0.ended.fetch_add(1, Ordering::AcqRel);
        self.0.freed.notify_one();
    }
}

impl std::fmt::Debug for ApnsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApnsClient")
            .field("endpoint", &self.config.endpoint)
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl ApnsClient {
    /// A client for `certificate`. Checks the configuration and builds the
    /// TLS setup; connects on first use.
    pub fn new(certificate: &PushCertificate, config: ApnsConfig) -> Result<Self> {
        let (host, port) = parse_endpoint(&config.endpoint)?;
        let server_name = ServerName::try_from(host.clone())
            .map_err(|_| Error::InvalidEndpoint(config.endpoint.clone()))?;
        let authority = if port == 443 {
            bracket(&host)
        } else {
            format!("{}:{port}", bracket(&host))
        };
        let tls = TlsConnector::from(Arc::new(tls_config(certificate, &config)?));
        Ok(Self {
            in_flight: Semaphore::new(config.max_in_flight.max(1)),
            topic: certificate.topic().to_owned(),
            config,
            authority,
            host,
            port,
            server_name,
            tls,
            conn: Mutex::new(ConnState::default()),
            connect_failures: AtomicU64::new(0),
        })
    }

    /// The push certificate's topic, for [`PushRequest::topic`].
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The configuration the client was made with.
    pub fn config(&self) -> &ApnsConfig {
        &self.config
    }

    /// Sends many pushes, at most [`ApnsConfig::max_in_flight`] at a time,
    /// all from the calling task (no task per push), and yields each result
    /// as soon as it is known — in completion order, not the order given —
    /// with the key it was given with. A slow push (one waiting out its
    /// timeout) holds one place in the window, not the whole window.
    ///
    /// Requests are taken from `requests` only as places free up, so an
    /// iterator over 100,000 pushes is never held in memory at once by the
    /// client.
    pub fn push_stream<'a, K, I>(&'a self, requests: I) -> impl Stream<Item = (K, PushResult)> + 'a
    where
        I: IntoIterator<Item = (K, PushRequest)>,
        I::IntoIter: 'a,
        K: 'a,
    {
        futures_util::stream::iter(requests)
            .map(move |(key, request)| async move { (key, self.push(request).await) })
            .buffer_unordered(self.config.max_in_flight.max(1))
    }

    /// Sends many pushes like [`push_stream`](Self::push_stream) and
    /// returns their results in the order given.
    pub async fn push_many(
        &self,
        requests: impl IntoIterator<Item = PushRequest>,
    ) -> Vec<PushResult> {
        let mut slots: Vec<Option<PushResult>> = Vec::new();
        let mut results = std::pin::pin!(self.push_stream(requests.into_iter().enumerate()));
        while let Some((i, result)) = results.next().await {
            if slots.len() <= i {
                slots.resize_with(i + 1, || None);
            }
            slots[i] = Some(result);
        }
        // Every index from 0 to the last was pushed exactly once.
        slots.into_iter().flatten().collect()
    }

    /// Sends one push.
    pub async fn push(&self, request: PushRequest) -> PushResult {
        let outcome = self.send(&request).await;
        PushResult { request, outcome }
    }

    async fn send(&self, request: &PushRequest) -> Result<PushResponse> {
        // The semaphore is never closed, so acquiring only fails if it
        // were; treat that like a dropped connection.
        let _permit = self
            .in_flight
            .acquire()
            .await
            .map_err(|_| Error::Http("client shut down".to_owned()))?;
        // Built up front, so that a bad request fails without a
        // connection; rebuilt (cheaply) for a resend.
        let mut next_request = Some(self.hyper_request(request)?);
        let mut last = Error::Http("no attempt made".to_owned());
        for _ in 0..self.config.max_attempts.max(1) {
            let conn = match self.connection().await {
                Ok(c) => c,
                Err(e) => {
                    last = e;
                    continue;
                }
            };
            let slot = match self.stream_slot(&conn).await {
                Ok(slot) => slot,
                Err(e @ Error::Timeout(_)) => return Err(e),
                Err(e) => {
                    self.drop_connection(&conn).await;
                    // A GOAWAY seen on an earlier attempt says more than a
                    // later connection that closed before a stream opened.
                    if !(matches!(last, Error::GoAway { .. }) && matches!(e, Error::Http(_))) {
                        last = e;
                    }
                    continue;
                }
            };
            let http_request = match next_request.take() {
                Some(r) => r,
                None => self.hyper_request(request)?,
            };
            let mut sender = conn.sender.clone();
            let exchange = async {
                let response = sender.send_request(http_request).await?;
                let (parts, body) = response.into_parts();
                // An over-long body is not APNs's; read none of it.
                let body = match Limited::new(body, MAX_BODY_LEN).collect().await {
                    Ok(collected) => collected.to_bytes(),
                    Err(_) => Bytes::new(),
                };
                Ok::<_, hyper::Error>(http::Response::from_parts(parts, body))
            };
            let answer = timeout(self.config.request_timeout, exchange).await;
            drop(slot);
            match answer {
                Err(_) => return Err(Error::Timeout(self.config.request_timeout)),
                Ok(Ok(response)) => {
                    conn.answered.store(true, Ordering::Release);
                    let (parts, body) = response.into_parts();
                    let borrowed = http::Response::from_parts(parts, &body[..]);
                    return Ok(PushResponse::from_http(&borrowed));
                }
                Ok(Err(e)) => {
                    let goaway = received_goaway(&e);
                    // A stream the server reset (REFUSED_STREAM, say) on a
                    // connection that still works is sent again on it.
                    if goaway.is_some() || !is_stream_reset(&e) || conn.sender.is_closed() {
                        self.drop_connection(&conn).await;
                    }
                    match goaway {
                        Some(frame) => {
                            let reason = frame.reason();
                            tracing::warn!(
                                endpoint = %self.config.endpoint,
                                code = %frame.code,
                                reason = reason.as_ref().map_or("", Reason::as_str),
                                "APNs closed the connection (GOAWAY) before answering a push"
                            );
                            let fatal = matches!(
                                crate::response::goaway_verdict(
                                    reason.as_ref(),
                                    0,
                                    &RetryPolicy::default()
                                ),
                                Verdict::FixCertificate
                            );
                            last = Error::GoAway { reason };
                            if fatal {
                                // Resending cannot help until the
                                // certificate is fixed.
                                return Err(last);
                            }
                        }
                        None if conn.sender.is_closed() => {
                            last = conn.slots.closed_error(|| Error::Http(error_chain(&e)));
                        }
                        None => last = Error::Http(error_chain(&e)),
                    }
                }
            }
        }
        Err(last)
    }

    fn hyper_request(&self, request: &PushRequest) -> Result<http::Request<Full<Bytes>>> {
        let (mut parts, body) = request.to_http()?.into_parts();
        parts.uri = http::Uri::builder()
            .scheme("https")
            .authority(self.authority.as_str())
            .path_and_query(request.path())
            .build()
            .map_err(|_| Error::InvalidEndpoint(self.config.endpoint.clone()))?;
        Ok(http::Request::from_parts(
            parts,
            Full::new(Bytes::from(body)),
        ))
    }

    /// A stream slot on `conn`, waiting for one while the server's
    /// `SETTINGS_MAX_CONCURRENT_STREAMS` are all in use. Fails with
    /// [`Error::Timeout`] when no stream ends for a whole request timeout,
    /// and with [`Error::Http`] when the connection closes meanwhile.
    async fn stream_slot(&self, conn: &Arc<Conn>) -> Result<StreamSlot> {
        // The server's limit can grow without a stream ending (its SETTINGS
        // arrive), and nothing signals that: look again every so often.
        const RECHECK: Duration = Duration::from_millis(20);
        let mut give_up = Instant::now() + self.config.request_timeout;
        let mut progress = conn.slots.ended.load(Ordering::Acquire);
        loop {
            let freed = conn.slots.freed.notified();
            let mut freed = std::pin::pin!(freed);
            // Registered before looking, so that a slot freed in between
            // is not missed.
            freed.as_mut().enable();
            if let Some(slot) = conn.slots.try_open() {
                return Ok(slot);
            }
            if conn.sender.is_closed() {
                // Wake the others waiting on this connection too.
                conn.slots.freed.notify_waiters();
                return Err(conn.slots.closed_error(|| {
                    Error::Http("the connection closed while waiting for a stream".to_owned())
                }));
            }
            let now = Instant::now();
            let ended = conn.slots.ended.load(Ordering::Acquire);
            if ended != progress {
                // Streams end: the queue moves, however slowly.
                progress = ended;
                give_up = now + self.config.request_timeout;
            } else if now >= give_up {
                return Err(Error::Timeout(self.config.request_timeout));
            }
            let _ = timeout(RECHECK.min(give_up - now), freed).await;
        }
    }

    /// The live connection, opening one if there is none (after the
    /// back-off that earlier failures call for).
    ///
    /// A push that waited for the lock while another push's connection
    /// attempt failed gets that failure instead of trying again itself, so
    /// an outage costs one attempt per back-off step, not one per push.
    async fn connection(&self) -> Result<Arc<Conn>> {
        let seen = self.connect_failures.load(Ordering::Acquire);
        let mut state = self.conn.lock().await;
        if let Some(conn) = state.current.clone() {
            if !conn.sender.is_closed() {
                return Ok(conn);
            }
            self.retire(&mut state, &conn);
        }
        if self.connect_failures.load(Ordering::Acquire) != seen
            && let Some(e) = &state.last_failure
        {
            return Err(duplicate(e));
        }
        if let Some(at) = state.retry_at {
            sleep_until(at).await;
        }
        let connected = match timeout(self.config.connect_timeout, self.connect()).await {
            Ok(result) => result,
            Err(_) => Err(Error::Connect(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "connect timed out",
            ))),
        };
        match connected {
            Ok((sender, slots)) => {
                state.generation += 1;
                // The failure count stays until this connection answers a
                // push (see `retire`): a server that accepts and then
                // closes at once still meets the back-off.
                state.retry_at = None;
                state.last_failure = None;
                let conn = Arc::new(Conn {
                    generation: state.generation,
                    sender,
                    slots,
                    answered: AtomicBool::new(false),
                });
                state.current = Some(conn.clone());
                Ok(conn)
            }
            Err(e) => {
                self.note_failure(&mut state);
                state.last_failure = Some(duplicate(&e));
                self.connect_failures.fetch_add(1, Ordering::AcqRel);
                Err(e)
            }
        }
    }

    /// Stops using `conn` after a stream on it failed, unless a newer
    /// connection has replaced it already.
    async fn drop_connection(&self, conn: &Arc<Conn>) {
        let mut state = self.conn.lock().await;
        if state
            .current
            .as_ref()
            .is_some_and(|c| c.generation == conn.generation)
        {
            self.retire(&mut state, conn);
        }
    }

    /// Forgets the current connection `conn`: a connection that answered
    /// pushes ends the run of failures; one that never answered adds to it.
    fn retire(&self, state: &mut ConnState, conn: &Conn) {
        state.current = None;
        conn.slots.freed.notify_waiters();
        if conn.answered.load(Ordering::Acquire) {
            state.failures = 0;
            state.retry_at = None;
        } else {
            self.note_failure(state);
        }
    }

    /// One more failure: the next connection attempt waits for the
    /// back-off.
    fn note_failure(&self, state: &mut ConnState) {
        state.retry_at = Some(Instant::now() + self.config.reconnect.delay(state.failures));
        state.failures = state.failures.saturating_add(1);
    }

    async fn connect(&self) -> Result<(SendRequest<Full<Bytes>>, Arc<Slots>)> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(Error::Connect)?;
        tcp.set_nodelay(true).map_err(Error::Connect)?;
        let tls = self
            .tls
            .connect(self.server_name.clone(), tcp)
            .await
            .map_err(|e| Error::Tls(error_chain(&e)))?;
        if tls.get_ref().1.alpn_protocol() != Some(b"h2") {
            return Err(Error::Tls(
                "the server did not agree to HTTP/2 (ALPN h2)".to_owned(),
            ));
        }
        let mut builder = hyper::client::conn::http2::Builder::new(TokioExecutor::new());
        builder.timer(TokioTimer::new());
        // One stream until the server's SETTINGS say how many it takes
        // (APNs itself starts low and raises the limit).
        builder.initial_max_send_streams(1);
        if let Some(interval) = self.config.keep_alive_interval {
            builder
                .keep_alive_interval(interval)
                .keep_alive_timeout(self.config.keep_alive_timeout)
                .keep_alive_while_idle(true);
        }
        let (sender, connection) = builder
            .handshake(TokioIo::new(tls))
            .await
            .map_err(|e| Error::Http(error_chain(&e)))?;
        let slots = Arc::new(Slots {
            connection: std::sync::Mutex::new(Some(Box::pin(connection))),
            open: AtomicUsize::new(0),
            ended: AtomicU64::new(0),
            freed: Notify::new(),
            goaway: std::sync::Mutex::new(None),
        });
        // The driver ends when the connection does; the sender then
        // reports itself closed and the next push reconnects.
        let endpoint = self.config.endpoint.clone();
        let shared = slots.clone();
        tokio::spawn(async move {
            let ended = std::future::poll_fn(|cx| {
                let mut guard = match shared.connection.lock() {
                    Ok(g) => g,
                    Err(p) => p.into_inner(),
                };
                match guard.as_mut() {
                    Some(connection) => {
                        let polled = connection.as_mut().poll(cx);
                        if let std::task::Poll::Ready(result) = &polled {
                            if let Err(e) = result
                                && let Some(frame) = received_goaway(e)
                            {
                                let mut g = match shared.goaway.lock() {
                                    Ok(g) => g,
                                    Err(p) => p.into_inner(),
                                };
                                *g = Some(frame.reason());
                            }
                            *guard = None;
                        }
                        polled
                    }
                    None => std::task::Poll::Ready(Ok(())),
                }
            })
            .await;
            shared.freed.notify_waiters();
            match ended {
                Ok(()) => tracing::debug!(%endpoint, "APNs connection closed"),
                Err(e) => match received_goaway(&e) {
                    Some(frame) => {
                        let reason = frame.reason();
                        tracing::warn!(
                            %endpoint,
                            code = %frame.code,
                            reason = reason.as_ref().map_or("", Reason::as_str),
                            "APNs closed the connection (GOAWAY)"
                        );
                    }
                    None => tracing::info!(
                        %endpoint,
                        error = %error_chain(&e),
                        "APNs connection ended"
                    ),
                },
            }
        });
        Ok((sender, slots))
    }
}

fn tls_config(certificate: &PushCertificate, config: &ApnsConfig) -> Result<rustls::ClientConfig> {
    let mut anchors = Vec::new();
    match &config.trust_anchors_pem {
        Some(pem) => anchors.extend(certificates(pem, "trust anchors")?),
        None if config.extra_ca_pem.is_none() => {
            let bundle = SYSTEM_BUNDLES
                .iter()
                .find_map(|p| std::fs::read_to_string(p).ok())
                .ok_or_else(|| Error::Tls("no system trust anchors found".to_owned()))?;
            anchors.extend(certificates(&bundle, "system trust anchors")?);
        }
        None => {
            if let Some(bundle) = SYSTEM_BUNDLES
                .iter()
                .find_map(|p| std::fs::read_to_string(p).ok())
            {
                anchors.extend(certificates(&bundle, "system trust anchors")?);
            }
        }
    }
    if let Some(pem) = &config.extra_ca_pem {
        anchors.extend(certificates(pem, "extra CA")?);
    }
    let mut roots = rustls::RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(anchors);
    if added == 0 {
        return Err(Error::Tls("no usable trust anchors".to_owned()));
    }
    let chain = certificate
        .chain_der()
        .iter()
        .map(|d| CertificateDer::from(d.clone()))
        .collect();
    let key = match certificate.private_key_der() {
        PrivateKeyDer::Pkcs1(d) => PrivatePkcs1KeyDer::from(d.clone()).into(),
        PrivateKeyDer::Pkcs8(d) => PrivatePkcs8KeyDer::from(d.clone()).into(),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|e| Error::Tls(e.to_string()))?;
    tls.alpn_protocols = vec![b"h2".to_vec()];
    Ok(tls)
}

fn certificates(pem: &str, what: &'static str) -> Result<Vec<CertificateDer<'static>>> {
    Ok(pem_blocks(pem, what)?
        .into_iter()
        .filter(|(label, _)| label == "CERTIFICATE" || label == "TRUSTED CERTIFICATE")
        .map(|(_, der)| CertificateDer::from(der))
        .collect())
}

/// `https://host[:port]` (an optional trailing `/` allowed) → host, port.
fn parse_endpoint(endpoint: &str) -> Result<(String, u16)> {
    let bad = || Error::InvalidEndpoint(endpoint.to_owned());
    let uri: http::Uri = endpoint.parse().map_err(|_| bad())?;
    if uri.scheme_str() != Some("https") || !matches!(uri.path(), "" | "/") || uri.query().is_some()
    {
        return Err(bad());
    }
    let authority = uri.authority().ok_or_else(bad)?;
    if authority.as_str().contains('@') {
        return Err(bad());
    }
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    if host.is_empty() {
        return Err(bad());
    }
    Ok((host.to_owned(), authority.port_u16().unwrap_or(443)))
}

fn bracket(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

/// A copy of a connection error, for the pushes that share it.
fn duplicate(e: &Error) -> Error {
    match e {
        Error::Connect(io) => Error::Connect(std::io::Error::new(io.kind(), io.to_string())),
        Error::Tls(s) => Error::Tls(s.clone()),
        Error::Timeout(t) => Error::Timeout(*t),
        other => Error::Http(other.to_string()),
    }
}

/// A GOAWAY frame the server sent, as `h2` reported it.
#[derive(Debug, Eq, PartialEq)]
struct GoAwayFrame {
    /// Its error code (`NO_ERROR` for a graceful close).
    code: h2::Reason,
    /// Its debug data, where APNs puts `{"reason": "…"}`.
    debug_data: Vec<u8>,
}

impl GoAwayFrame {
    /// The APNs reason in the debug data, if it holds one.
    fn reason(&self) -> Option<Reason> {
        crate::response::goaway_reason(&self.debug_data)
    }
}

/// The GOAWAY the server sent, if `e` (or one of its sources) is `h2`'s
/// error for one.
fn received_goaway(e: &(dyn std::error::Error + 'static)) -> Option<GoAwayFrame> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = current {
        if let Some(h2) = err.downcast_ref::<h2::Error>() {
            if !(h2.is_go_away() && h2.is_remote()) {
                return None;
            }
            let code = h2.reason()?;
            return Some(GoAwayFrame {
                code,
                debug_data: goaway_debug_data(h2, code),
            });
        }
        current = err.source();
    }
    None
}

/// Whether `e` is a stream reset (RST_STREAM), which leaves the
/// connection usable.
fn is_stream_reset(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = current {
        if let Some(h2) = err.downcast_ref::<h2::Error>() {
            return h2.is_reset();
        }
        current = err.source();
    }
    false
}

/// The debug data of a received GOAWAY. `h2` keeps it private and shows it
/// only in the error's text: `connection error received: <code>`, then,
/// when there is data, ` (b"<data>")` with the bytes escaped the way
/// `bytes::Bytes` prints them. The code is known, so the prefix is exact.
fn goaway_debug_data(e: &h2::Error, code: h2::Reason) -> Vec<u8> {
    let text = e.to_string();
    let prefix = format!("connection error received: {code}");
    text.strip_prefix(prefix.as_str())
        .and_then(|rest| rest.strip_prefix(" (b\""))
        .and_then(|rest| rest.strip_suffix("\")"))
        .map(unescape_byte_string)
        .unwrap_or_default()
}

/// Undoes Rust's byte-string escaping (`\"`, `\\`, `\n`, `\r`, `\t`,
/// `\0`, `\xNN`); anything else is taken as it is.
fn unescape_byte_string(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' || i + 1 == b.len() {
            out.push(b[i]);
            i += 1;
            continue;
        }
        match b[i + 1] {
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'0' => out.push(0),
            b'x' if i + 3 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 2..i + 4]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(v) => {
                        out.push(v);
                        i += 4;
                        continue;
                    }
                    None => out.push(b'x'),
                }
            }
            other => out.push(other),
        }
        i += 2;
    }
    out
}

/// An error and its sources, `: `-separated.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drives a real HTTP/2 exchange in memory: the "server" reads the
    /// client's preface and request HEADERS, then answers with its
    /// SETTINGS and a GOAWAY (`code`, `debug`) that leaves the request
    /// unprocessed. Returns the error the request failed with.
    async fn goaway_error(code: u32, debug: &[u8]) -> hyper::Error {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (client_io, mut server_io) = tokio::io::duplex(64 * 1024);
        let mut builder = hyper::client::conn::http2::Builder::new(TokioExecutor::new());
        builder.timer(TokioTimer::new());
        let (mut sender, connection) = builder
            .handshake::<_, Full<Bytes>>(TokioIo::new(client_io))
            .await
            .unwrap();
        let driver = tokio::spawn(connection);
        let debug = debug.to_vec();
        let server = tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            // Frames after the 24-byte preface: wait for the HEADERS (type 1).
            'read: loop {
                let n = server_io.read(&mut buf).await.unwrap();
                assert!(n > 0, "the client hung up");
                seen.extend_from_slice(&buf[..n]);
                let mut at = 24;
                while seen.len() >= at + 9 {
                    let len = usize::from(seen[at]) << 16
                        | usize::from(seen[at + 1]) << 8
                        | usize::from(seen[at + 2]);
                    if seen[at + 3] == 1 {
                        break 'read;
                    }
                    at += 9 + len;
                }
            }
            let mut out = vec![0, 0, 0, 4, 0, 0, 0, 0, 0]; // SETTINGS
            out.extend_from_slice(&[0, 0, 0, 4, 1, 0, 0, 0, 0]); // SETTINGS ACK
            let len = u32::try_from(8 + debug.len()).unwrap().to_be_bytes();
            out.extend_from_slice(&[len[1], len[2], len[3], 7, 0, 0, 0, 0, 0]); // GOAWAY
            out.extend_from_slice(&0u32.to_be_bytes()); // last stream: none processed
            out.extend_from_slice(&code.to_be_bytes());
            out.extend_from_slice(&debug);
            server_io.write_all(&out).await.unwrap();
            server_io
        });
        let request = http::Request::post("https://apns.test/3/device/ab")
            .body(Full::new(Bytes::from_static(b"{}")))
            .unwrap();
        let error = sender.send_request(request).await.unwrap_err();
        drop(server.await.unwrap());
        driver.abort();
        error
    }

    #[tokio::test]
    async fn goaways_are_read_from_h2s_typed_error() {
        let shutdown = goaway_error(0, br#"{"reason":"Shutdown"}"#).await;
        let frame = received_goaway(&shutdown).expect("a GOAWAY");
        assert_eq!(frame.code, h2::Reason::NO_ERROR);
        assert_eq!(frame.debug_data, br#"{"reason":"Shutdown"}"#);
        assert_eq!(frame.reason(), Some(Reason::Shutdown));
        assert!(!is_stream_reset(&shutdown));

        // Bytes that need escaping come back as sent, whatever the code.
        let odd = b"a\"b\\c\n\r\t\x00\x7f\xff\xc3\xa9 (b\"x\")".to_vec();
        let e = goaway_error(0xb, &odd).await;
        let frame = received_goaway(&e).expect("a GOAWAY");
        assert_eq!(frame.code, h2::Reason::ENHANCE_YOUR_CALM);
        assert_eq!(frame.debug_data, odd);
        assert_eq!(frame.reason(), None);

        let bare = goaway_error(2, b"").await;
        let frame = received_goaway(&bare).expect("a GOAWAY");
        assert_eq!(frame.code, h2::Reason::INTERNAL_ERROR);
        assert!(frame.debug_data.is_empty());

        let io = std::io::Error::other("connection error received: not a result of an error");
        assert_eq!(received_goaway(&io), None, "text alone is not a GOAWAY");
    }

    #[test]
    fn byte_string_unescaping() {
        assert_eq!(
            unescape_byte_string(r"a\x41\n\\\0\xZZ\"),
            b"aA\n\\\0xZZ\\".to_vec()
        );
    }

    #[test]
    fn endpoints() {
        assert_eq!(
            parse_endpoint(PRODUCTION).unwrap(),
            ("api.push.apple.com".to_owned(), 443)
        );
        assert_eq!(
            parse_endpoint("https://api.sandbox.push.apple.com:2197/").unwrap(),
            ("api.sandbox.push.apple.com".to_owned(), 2197)
        );
        assert_eq!(
            parse_endpoint("https://127.0.0.1:8443").unwrap(),
            ("127.0.0.1".to_owned(), 8443)
        );
        assert_eq!(
            parse_endpoint("https://[::1]:8443").unwrap(),
            ("::1".to_owned(), 8443)
        );
        for bad in [
            "http://api.push.apple.com",
            "api.push.apple.com",
            "https://h/3/device",
            "https://u@h",
            "",
        ] {
            assert!(parse_endpoint(bad).is_err(), "{bad}");
        }
        assert_eq!(bracket("::1"), "[::1]");
    }
}
