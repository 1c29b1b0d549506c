//! Sending MDM pushes to APNs over HTTP/2 (feature `client`).
//!
//! One [`ApnsClient`] holds **one** long-lived HTTP/2 connection, opened on
//! first use, with the push certificate as TLS client identity and ALPN
//! `h2`. Pushes share it as concurrent streams (as many as the server's
//! `SETTINGS_MAX_CONCURRENT_STREAMS` allows; hyper queues the rest), and at
//! most [`ApnsConfig::max_in_flight`] pushes are outstanding at once. When
//! the connection drops — an I/O error, an idle close, or a GOAWAY — the
//! next push reconnects, with exponential back-off after failed connects,
//! and a push whose stream failed before a response is sent again on the
//! new connection (up to [`ApnsConfig::max_attempts`] times). Sending an MDM
//! push twice is harmless: the device just checks in once more.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::pki_types::{CertificateDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio::net::TcpStream;
use tokio::sync::{Mutex, Semaphore};
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
    /// Time allowed for one push, from sending to the end of the response.
    pub request_timeout: Duration,
    /// How many pushes may be outstanding at once.
    pub max_in_flight: usize,
    /// How many times one push is sent when its stream fails before a
    /// response (the connection dropped or went away).
    pub max_attempts: u32,
    /// Back-off between failed connection attempts.
    pub reconnect: RetryPolicy,
    /// How often to PING an otherwise idle connection, keeping it open.
    pub keep_alive_interval: Option<Duration>,
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
}

/// The outcome of one push from [`ApnsClient::push`] or
/// [`ApnsClient::push_many`].
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
/// task).
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

#[derive(Default)]
struct ConnState {
    current: Option<(u64, SendRequest<Full<Bytes>>)>,
    generation: u64,
    failures: u32,
    retry_at: Option<Instant>,
    /// The last failed connection attempt's error.
    last_failure: Option<Error>,
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

    /// Sends many pushes, at most [`ApnsConfig::max_in_flight`] at a time,
    /// all from the calling task (no task per push), and returns their
    /// results in the order given.
    pub async fn push_many(
        &self,
        requests: impl IntoIterator<Item = PushRequest>,
    ) -> Vec<PushResult> {
        futures_util::stream::iter(requests)
            .map(|request| self.push(request))
            .buffered(self.config.max_in_flight.max(1))
            .collect()
            .await
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
        // Build once up front so that a bad request fails without a
        // connection.
        request.to_http()?;
        let mut last = Error::Http("no attempt made".to_owned());
        for _ in 0..self.config.max_attempts.max(1) {
            let (generation, mut sender) = match self.sender().await {
                Ok(s) => s,
                Err(e) => {
                    last = e;
                    continue;
                }
            };
            let http_request = self.hyper_request(request)?;
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
            match timeout(self.config.request_timeout, exchange).await {
                Err(_) => return Err(Error::Timeout(self.config.request_timeout)),
                Ok(Ok(response)) => {
                    let (parts, body) = response.into_parts();
                    let borrowed = http::Response::from_parts(parts, &body[..]);
                    return Ok(PushResponse::from_http(&borrowed));
                }
                Ok(Err(e)) => {
                    self.forget(generation).await;
                    match goaway_debug_data(&e) {
                        Some(debug) => {
                            let reason = crate::response::goaway_reason(&debug);
                            let why = reason.as_ref().map_or("", Reason::as_str);
                            tracing::warn!(
                                endpoint = %self.config.endpoint,
                                reason = why,
                                "APNs closed the connection (GOAWAY)"
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

    /// The live connection, opening one if there is none (after the
    /// back-off that earlier failures call for).
    ///
    /// A push that waited for the lock while another push's connection
    /// attempt failed gets that failure instead of trying again itself, so
    /// an outage costs one attempt per back-off step, not one per push.
    async fn sender(&self) -> Result<(u64, SendRequest<Full<Bytes>>)> {
        let seen = self.connect_failures.load(Ordering::Acquire);
        let mut state = self.conn.lock().await;
        if let Some((generation, sender)) = &state.current {
            if !sender.is_closed() {
                return Ok((*generation, sender.clone()));
            }
            state.current = None;
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
            Ok(sender) => {
                state.generation += 1;
                state.failures = 0;
                state.retry_at = None;
                state.last_failure = None;
                state.current = Some((state.generation, sender.clone()));
                Ok((state.generation, sender))
            }
            Err(e) => {
                state.retry_at = Some(Instant::now() + self.config.reconnect.delay(state.failures));
                state.failures = state.failures.saturating_add(1);
                state.last_failure = Some(duplicate(&e));
                self.connect_failures.fetch_add(1, Ordering::AcqRel);
                Err(e)
            }
        }
    }

    /// Drops connection `generation` after a stream on it failed, unless a
    /// newer one has replaced it already.
    async fn forget(&self, generation: u64) {
        let mut state = self.conn.lock().await;
        if matches!(&state.current, Some((g, _)) if *g == generation) {
            state.current = None;
        }
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>> {
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
        if let Some(interval) = self.config.keep_alive_interval {
            builder
                .keep_alive_interval(interval)
                .keep_alive_timeout(Duration::from_secs(20))
                .keep_alive_while_idle(true);
        }
        let (sender, connection) = builder
            .handshake(TokioIo::new(tls))
            .await
            .map_err(|e| Error::Http(error_chain(&e)))?;
        // The driver ends when the connection does; the sender then
        // reports itself closed and the next push reconnects.
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(sender)
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

/// The debug data of a GOAWAY that ended a request, if the error (or one
/// of its sources) is one. The HTTP/2 layer reports it only in its message,
/// as `connection error received: <code> (b"<debug data>")`, with the bytes
/// escaped the way Rust prints byte strings.
fn goaway_debug_data(e: &(dyn std::error::Error + 'static)) -> Option<Vec<u8>> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = current {
        let text = err.to_string();
        if let Some(at) = text.find("connection error received") {
            let rest = &text[at..];
            return Some(match rest.find(" (b\"") {
                Some(start) => {
                    let quoted = &rest[start + 4..];
                    unescape_byte_string(quoted.strip_suffix("\")").unwrap_or(quoted))
                }
                None => Vec::new(),
            });
        }
        current = err.source();
    }
    None
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

    #[test]
    fn goaway_debug_data_from_messages() {
        #[derive(Debug)]
        struct E(String, Option<Box<Self>>);
        impl std::fmt::Display for E {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl std::error::Error for E {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                self.1.as_deref().map(|e| e as _)
            }
        }
        let inner = E(
            r#"connection error received: not a result of an error (b"{\"reason\":\"Shutdown\"}")"#
                .to_owned(),
            None,
        );
        let outer = E("http2 error".to_owned(), Some(Box::new(inner)));
        assert_eq!(
            goaway_debug_data(&outer).unwrap(),
            br#"{"reason":"Shutdown"}"#.to_vec()
        );
        let bare = E("connection error received: protocol error".to_owned(), None);
        assert_eq!(goaway_debug_data(&bare).unwrap(), Vec::<u8>::new());
        assert!(goaway_debug_data(&E("stream reset".to_owned(), None)).is_none());
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
