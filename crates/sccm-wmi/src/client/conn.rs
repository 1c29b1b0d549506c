//! One HTTP/1.1 connection to the provider, plain or TLS.
//!
//! NTLM authenticates a connection, not a request, so the client keeps its
//! own connection rather than a pool: every request of a session goes over
//! the connection that was authenticated, one at a time.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;

use crate::{Error, Result};

/// A live connection.
pub(crate) struct Conn {
    sender: SendRequest<Full<Bytes>>,
    task: JoinHandle<()>,
    /// RFC 5929 `tls-server-end-point` application data for channel
    /// binding (`None` on plain HTTP).
    pub(crate) channel_binding: Option<Vec<u8>>,
    /// Whether the last failed [`send`](Self::send) failed before the
    /// request left: only then may it be sent again elsewhere (a request
    /// the server may have run, such as a Create, must not run twice).
    pub(crate) failed_unsent: bool,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Conn {
    /// Connects to `host:port`, with TLS when `tls` is given.
    pub(crate) async fn open(
        host: &str,
        port: u16,
        tls: Option<&TlsConnector>,
        timeout: Duration,
    ) -> Result<Self> {
        let connect = async {
            let tcp = TcpStream::connect((host.trim_matches(['[', ']']), port))
                .await
                .map_err(|e| Error::Transport(format!("connecting to {host}:{port}: {e}")))?;
            let _ = tcp.set_nodelay(true);
            match tls {
                None => {
                    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
                        .await
                        .map_err(|e| Error::Transport(format!("HTTP handshake: {e}")))?;
                    let task = tokio::spawn(async move {
                        let _ = conn.await;
                    });
                    Ok(Self {
                        sender,
                        task,
                        channel_binding: None,
                        failed_unsent: false,
                    })
                }
                Some(tls) => {
                    let name = ServerName::try_from(host.trim_matches(['[', ']']).to_owned())
                        .map_err(|e| Error::Tls(format!("server name {host:?}: {e}")))?;
                    let stream = tls
                        .connect(name, tcp)
                        .await
                        .map_err(|e| Error::Tls(format!("handshake with {host}:{port}: {e}")))?;
                    let channel_binding = stream
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|c| c.first())
                        .and_then(|c| crate::ntlm::tls_server_end_point(c).ok());
                    let (sender, conn) =
                        hyper::client::conn::http1::handshake(TokioIo::new(stream))
                            .await
                            .map_err(|e| Error::Transport(format!("HTTP handshake: {e}")))?;
                    let task = tokio::spawn(async move {
                        let _ = conn.await;
                    });
                    Ok(Self {
                        sender,
                        task,
                        channel_binding,
                        failed_unsent: false,
                    })
                }
            }
        };
        tokio::time::timeout(timeout, connect)
            .await
            .map_err(|_| Error::Transport(format!("connecting to {host}:{port} timed out")))?
    }

    /// Whether the connection can take another request.
    pub(crate) fn is_open(&self) -> bool {
        !self.sender.is_closed() && !self.task.is_finished()
    }

    /// Sends one request and reads the whole answer, up to `limit` bytes.
    pub(crate) async fn send(
        &mut self,
        request: http::Request<Vec<u8>>,
        limit: usize,
        timeout: Duration,
    ) -> Result<http::Response<Bytes>> {
        let (mut parts, body) = request.into_parts();
        // Origin-form request target and a Host header, as servers expect
        // from a client that is not talking to a proxy.
        if let Some(authority) = parts.uri.authority().cloned() {
            if !parts.headers.contains_key(http::header::HOST) {
                let host = http::HeaderValue::from_str(authority.as_str()).map_err(|_| {
                    Error::InvalidRequest {
                        what: format!("host {authority}"),
                    }
                })?;
                parts.headers.insert(http::header::HOST, host);
            }
            let target = parts
                .uri
                .path_and_query()
                .map_or("/", http::uri::PathAndQuery::as_str)
                .to_owned();
            parts.uri = target.parse().map_err(|_| Error::InvalidRequest {
                what: format!("request target {target}"),
            })?;
        }
        let request = http::Request::from_parts(parts, Full::new(Bytes::from(body)));
        self.failed_unsent = false;
        let exchange = async {
            if let Err(e) = self.sender.ready().await {
                self.failed_unsent = true;
                return Err(Error::Transport(format!("connection closed: {e}")));
            }
            let response = match self.sender.try_send_request(request).await {
                Ok(r) => r,
                Err(mut e) => {
                    // The request comes back when it was never written.
                    self.failed_unsent = e.take_message().is_some();
                    return Err(Error::Transport(format!(
                        "request failed: {}",
                        e.into_error()
                    )));
                }
            };
            let (parts, body) = response.into_parts();
            if let Some(len) = parts
                .headers
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                && len > limit as u64
            {
                return Err(Error::TooLarge {
                    what: "the response body",
                    limit,
                });
            }
            let body = Limited::new(body, limit)
                .collect()
                .await
                .map_err(|e| {
                    if e.downcast_ref::<http_body_util::LengthLimitError>()
                        .is_some()
                    {
                        Error::TooLarge {
                            what: "the response body",
                            limit,
                        }
                    } else {
                        Error::Transport(format!("reading the response: {e}"))
                    }
                })?
                .to_bytes();
            Ok(http::Response::from_parts(parts, body))
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| Error::Transport(format!("no answer within {timeout:?}")))?
    }
}

/// A TLS connector for `trust`.
pub(crate) fn connector(trust: &super::Trust) -> Result<TlsConnector> {
    Ok(TlsConnector::from(Arc::new(super::tls::client_config(
        trust,
    )?)))
}
