//! A device's HTTP link: one keep-alive HTTP/1.1 connection (over TLS for
//! `https` URLs), opened on first use and reopened when the server closes
//! it, as a device's URL session does. Requests on one link go one at a
//! time, like a device's MDM client.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Bytes;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Method, Request, StatusCode, Uri, header};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// How long one attempt (connect, send, read the whole answer) may take.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How many times a request is tried again after a connection error.
pub(crate) const MAX_RETRIES: u32 = 3;

/// The largest answer body read.
const MAX_BODY: usize = 8 * 1024 * 1024;

/// The first back-off; it doubles on each retry.
const BACKOFF: Duration = Duration::from_millis(200);

/// A server's answer.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) content_type: Option<String>,
    pub(crate) body: Bytes,
    /// From the (last) attempt's start to the end of the body.
    pub(crate) elapsed: Duration,
}

impl Reply {
    /// The body as text for an error message, shortened.
    pub(crate) fn body_text(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let text = text.trim();
        match text.char_indices().nth(200) {
            Some((i, _)) => format!("{}…", &text[..i]),
            None => text.to_owned(),
        }
    }

    /// Fails unless the status is 200.
    pub(crate) fn ok(self, what: &str) -> anyhow::Result<Self> {
        if self.status == StatusCode::OK {
            Ok(self)
        } else {
            bail!("{what}: HTTP {} {}", self.status, self.body_text())
        }
    }
}

/// One device's connection to the server.
pub(crate) struct Link {
    tls: Option<TlsConnector>,
    user_agent: &'static str,
    conn: Option<Conn>,
    /// Connections opened.
    pub(crate) connections: u64,
    /// Requests sent (each attempt counts).
    pub(crate) requests: u64,
    /// Attempts made again after a connection error.
    pub(crate) retries: u64,
}

struct Conn {
    authority: String,
    sender: SendRequest<Full<Bytes>>,
}

/// Why an attempt failed, and whether trying again may help.
struct AttemptError {
    error: anyhow::Error,
    retry: bool,
}

impl Link {
    /// A link using `tls` for `https` URLs (none: `https` URLs fail).
    pub(crate) fn new(tls: Option<Arc<rustls::ClientConfig>>, user_agent: &'static str) -> Self {
        Self {
            tls: tls.map(TlsConnector::from),
            user_agent,
            conn: None,
            connections: 0,
            requests: 0,
            retries: 0,
        }
    }

    /// Sends one request, trying again (with back-off) after a connection
    /// error, up to [`MAX_RETRIES`] times. An error status is a reply, not
    /// an error.
    pub(crate) async fn send(
        &mut self,
        method: Method,
        url: &str,
        headers: &[(&'static str, String)],
        body: Vec<u8>,
    ) -> anyhow::Result<Reply> {
        let uri: Uri = url.parse().with_context(|| format!("bad URL {url:?}"))?;
        let body = Bytes::from(body);
        let mut backoff = BACKOFF;
        let mut attempt = 0;
        loop {
            let started = Instant::now();
            let outcome = tokio::time::timeout(
                REQUEST_TIMEOUT,
                self.attempt(&method, &uri, headers, body.clone()),
            )
            .await;
            let failure = match outcome {
                Ok(Ok(mut reply)) => {
                    reply.elapsed = started.elapsed();
                    return Ok(reply);
                }
                Ok(Err(e)) => e,
                Err(_) => {
                    // The request may have been handled: do not send it again.
                    self.conn = None;
                    bail!(
                        "{method} {url}: no answer within {} s",
                        REQUEST_TIMEOUT.as_secs()
                    );
                }
            };
            self.conn = None;
            if !failure.retry || attempt >= MAX_RETRIES {
                let tries = if attempt > 0 {
                    format!(" (after {} attempts)", attempt + 1)
                } else {
                    String::new()
                };
                return Err(failure.error.context(format!("{method} {url}{tries}")));
            }
            attempt += 1;
            self.retries += 1;
            tokio::time::sleep(backoff).await;
            backoff *= 2;
        }
    }

    async fn attempt(
        &mut self,
        method: &Method,
        uri: &Uri,
        headers: &[(&'static str, String)],
        body: Bytes,
    ) -> Result<Reply, AttemptError> {
        let authority = uri.authority().map(|a| a.as_str()).unwrap_or_default();
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let mut req = Request::builder()
            .method(method.clone())
            .uri(path)
            .header(header::HOST, authority)
            .header(header::USER_AGENT, self.user_agent);
        for (name, value) in headers {
            req = req.header(*name, value.as_str());
        }
        let req = req.body(Full::new(body)).map_err(|e| AttemptError {
            error: anyhow!("cannot build the request: {e}"),
            retry: false,
        })?;
        self.requests += 1;
        let sender = self.sender(uri).await?;
        // Any failure before the answer's head arrives is a connection
        // error: a kept-alive connection the server closed, or a refused
        // or reset one. A device tries again on a new connection.
        let resp = sender
            .try_send_request(req)
            .await
            .map_err(|mut e| AttemptError {
                retry: true,
                error: {
                    let unsent = if e.take_message().is_some() {
                        " (not sent)"
                    } else {
                        ""
                    };
                    anyhow!("connection error{unsent}: {}", e.into_error())
                },
            })?;
        let status = resp.status();
        let content_type = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let keep_alive = !resp
            .headers()
            .get(header::CONNECTION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let body = Limited::new(resp.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| AttemptError {
                error: anyhow!("reading the answer: {e}"),
                retry: false,
            })?
            .to_bytes();
        if !keep_alive {
            self.conn = None;
        }
        Ok(Reply {
            status,
            content_type,
            body,
            elapsed: Duration::ZERO,
        })
    }

    /// A sender ready for a request to `uri`'s server, on the kept-alive
    /// connection when it is still open, otherwise on a new one.
    async fn sender(&mut self, uri: &Uri) -> Result<&mut SendRequest<Full<Bytes>>, AttemptError> {
        let authority = uri
            .authority()
            .ok_or_else(|| AttemptError::fatal(anyhow!("URL without a host: {uri}")))?
            .as_str();
        let reuse = match &mut self.conn {
            Some(c) if c.authority == authority && !c.sender.is_closed() => {
                c.sender.ready().await.is_ok()
            }
            _ => false,
        };
        if !reuse {
            self.conn = None;
            let sender = self.connect(uri).await?;
            self.connections += 1;
            self.conn = Some(Conn {
                authority: authority.to_owned(),
                sender,
            });
        }
        self.conn
            .as_mut()
            .map(|c| &mut c.sender)
            .ok_or_else(|| AttemptError::fatal(anyhow!("no connection")))
    }

    /// A new connection. Refused, reset or closed connections may be
    /// tried again; a certificate or protocol failure will not get better.
    async fn connect(&self, uri: &Uri) -> Result<SendRequest<Full<Bytes>>, AttemptError> {
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            other => {
                return Err(AttemptError::fatal(anyhow!(
                    "unsupported URL scheme {other:?} in {uri}"
                )));
            }
        };
        let host = uri
            .host()
            .ok_or_else(|| AttemptError::fatal(anyhow!("URL without a host: {uri}")))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let tcp = TcpStream::connect((host, port))
            .await
            .map_err(|e| AttemptError::io(e, format!("connecting to {host}:{port}")))?;
        tcp.set_nodelay(true).ok();
        if !https {
            return handshake(tcp).await;
        }
        let tls = self.tls.as_ref().ok_or_else(|| {
            AttemptError::fatal(anyhow!("{uri} is HTTPS but no CA was given (--ca)"))
        })?;
        let name = ServerName::try_from(host.to_owned())
            .map_err(|_| AttemptError::fatal(anyhow!("{host:?} is not a valid TLS server name")))?;
        let stream = tls
            .connect(name, tcp)
            .await
            .map_err(|e| AttemptError::io(e, format!("TLS handshake with {host}:{port}")))?;
        handshake(stream).await
    }
}

impl AttemptError {
    fn fatal(error: anyhow::Error) -> Self {
        Self {
            error,
            retry: false,
        }
    }

    /// An I/O error: worth another try unless the peer's data was refused
    /// (rustls reports certificate and protocol errors as `InvalidData`).
    fn io(e: std::io::Error, what: String) -> Self {
        Self {
            retry: e.kind() != std::io::ErrorKind::InvalidData,
            error: anyhow::Error::new(e).context(what),
        }
    }
}

async fn handshake<S>(stream: S) -> Result<SendRequest<Full<Bytes>>, AttemptError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) =
        http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| AttemptError {
                error: anyhow!("HTTP/1.1 handshake: {e}"),
                retry: true,
            })?;
    // The connection task ends when the server closes the connection or
    // the sender is dropped.
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}
