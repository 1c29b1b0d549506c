//! Sending requests over HTTPS (feature `client`).
//!
//! [`HttpsClient`] is built once per remote service and shared
//! (`Arc<HttpsClient>` or by reference): it keeps a small pool of kept-alive
//! HTTP/1.1 connections.
//!
//! ```no_run
//! # async fn demo() -> pippin_http_client::Result<()> {
//! use pippin_http_client::client::{HttpsClient, HttpsConfig};
//!
//! let client = HttpsClient::new(&HttpsConfig::default())?;
//! let request = http::Request::get("https://vpp.itunes.apple.com/mdm/v2/service/config")
//!     .body(Vec::new())
//!     .unwrap();
//! let response = client.send(request).await?;
//! println!("{} ({} bytes)", response.status(), response.body().len());
//! # Ok(()) }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::error::{Error, Result};
use crate::is_loopback_host;

/// Where trust anchors are looked for when none are configured.
pub const SYSTEM_BUNDLES: [&str; 4] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
    "/etc/ssl/ca-bundle.pem",
];

/// The default limit on a response body: 16 MiB.
pub const DEFAULT_MAX_BODY_LEN: usize = 16 * 1024 * 1024;

/// How the client connects. `Default` plus chainable setters.
#[derive(Clone, Debug)]
pub struct HttpsConfig {
    /// Trust anchors for server certificates, PEM. `None`: the system
    /// bundle (the first of [`SYSTEM_BUNDLES`] that exists).
    pub trust_anchors_pem: Option<String>,
    /// More trust anchors, PEM, added to the others (a test server's CA).
    pub extra_ca_pem: Option<String>,
    /// Time allowed for the TCP connect and the TLS handshake.
    pub connect_timeout: Duration,
    /// Time allowed for one request, from sending it to the end of the
    /// response body.
    pub request_timeout: Duration,
    /// The longest response body read; a longer one is an
    /// [`Error::BodyTooLarge`].
    pub max_body_len: usize,
    /// How long an idle pooled connection is kept.
    pub pool_idle_timeout: Duration,
    /// Idle connections kept per host.
    pub pool_max_idle_per_host: usize,
}

impl Default for HttpsConfig {
    fn default() -> Self {
        Self {
            trust_anchors_pem: None,
            extra_ca_pem: None,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            max_body_len: DEFAULT_MAX_BODY_LEN,
            pool_idle_timeout: Duration::from_secs(60),
            pool_max_idle_per_host: 8,
        }
    }
}

impl HttpsConfig {
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

    /// Sets [`max_body_len`](Self::max_body_len).
    pub fn max_body_len(&mut self, n: usize) -> &mut Self {
        self.max_body_len = n;
        self
    }
}

/// A pooled HTTPS client. Must be used inside a tokio runtime.
pub struct HttpsClient {
    http: Client<Connector, Full<Bytes>>,
    request_timeout: Duration,
    max_body_len: usize,
}

impl std::fmt::Debug for HttpsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpsClient")
            .field("request_timeout", &self.request_timeout)
            .field("max_body_len", &self.max_body_len)
            .finish_non_exhaustive()
    }
}

impl HttpsClient {
    /// A client for `config`: reads the trust anchors and builds the TLS
    /// setup; connects on first use.
    pub fn new(config: &HttpsConfig) -> Result<Self> {
        let tls = TlsConnector::from(Arc::new(tls_config(config)?));
        let connector = Connector {
            tls,
            connect_timeout: config.connect_timeout,
        };
        let http = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(config.pool_idle_timeout)
            .pool_max_idle_per_host(config.pool_max_idle_per_host)
            .build(connector);
        Ok(Self {
            http,
            request_timeout: config.request_timeout,
            max_body_len: config.max_body_len,
        })
    }

    /// Sends `request` and reads the whole response, within the request
    /// timeout and the body limit. Any status is a response; only a failed
    /// exchange is an error.
    pub async fn send(&self, request: http::Request<Vec<u8>>) -> Result<http::Response<Bytes>> {
        check_request_url(request.uri())?;
        let (parts, body) = request.into_parts();
        let request = http::Request::from_parts(parts, Full::new(Bytes::from(body)));
        let limit = self.max_body_len;
        let exchange = async {
            let response = self.http.request(request).await.map_err(|e| {
                let text = error_chain(&e);
                if e.is_connect() {
                    Error::Connect(text)
                } else {
                    Error::Http(text)
                }
            })?;
            let (parts, body) = response.into_parts();
            if let Some(len) = parts
                .headers
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                && len > limit as u64
            {
                return Err(Error::BodyTooLarge { limit });
            }
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
}

fn check_request_url(uri: &http::Uri) -> Result<()> {
    let bad = || Error::InvalidUrl(uri.to_string());
    let host = uri.host().ok_or_else(bad)?;
    match uri.scheme_str() {
        Some("https") => Ok(()),
        Some("http") if is_loopback_host(host) => Ok(()),
        _ => Err(bad()),
    }
}

fn tls_config(config: &HttpsConfig) -> Result<rustls::ClientConfig> {
    let mut anchors = Vec::new();
    let system = || {
        SYSTEM_BUNDLES
            .iter()
            .find_map(|p| std::fs::read_to_string(p).ok())
    };
    match (&config.trust_anchors_pem, &config.extra_ca_pem) {
        (Some(pem), _) => anchors.extend(certificates(pem, "trust anchors")?),
        (None, None) => {
            let bundle =
                system().ok_or_else(|| Error::Tls("no system trust anchors found".to_owned()))?;
            anchors.extend(certificates(&bundle, "the system trust anchors")?);
        }
        (None, Some(_)) => {
            if let Some(bundle) = system() {
                anchors.extend(certificates(&bundle, "the system trust anchors")?);
            }
        }
    }
    if let Some(pem) = &config.extra_ca_pem {
        anchors.extend(certificates(pem, "the extra CA certificates")?);
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

/// The certificates in a PEM text (other blocks are skipped).
fn certificates(pem: &str, what: &str) -> Result<Vec<CertificateDer<'static>>> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::Tls(format!("{what}: {e}")))
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
/// loopback host only.
#[derive(Clone)]
struct Connector {
    tls: TlsConnector,
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
                _ => return Err(invalid("plain http is for loopback hosts only")),
            };
            let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
            let connect = async {
                let tcp = TcpStream::connect((host.as_str(), port)).await?;
                tcp.set_nodelay(true)?;
                if !https {
                    return Ok(Stream::Plain(TokioIo::new(tcp)));
                }
                let name = ServerName::try_from(host.clone())
                    .map_err(|_| invalid("not a valid server name"))?;
                let stream = this.tls.connect(name, tcp).await?;
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

#[cfg(test)]
mod tests;
