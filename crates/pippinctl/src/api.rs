//! A small client of the admin API: JSON over HTTPS with a bearer token,
//! trusting only the CA (or pinned certificate) it is given.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Largest answer read from the service.
const MAX_RESPONSE: usize = 64 * 1024 * 1024;

/// How long one request may take, connecting included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Where the service is and how to talk to it.
pub struct ApiClient {
    host: String,
    port: u16,
    token: String,
    tls: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiClient")
            .field("host", &self.host)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

/// An answer: status and JSON body (`null` when empty).
#[derive(Debug)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// The JSON body.
    pub body: Value,
}

impl Answer {
    /// The body when the status is 2xx, else an error naming the service's
    /// own message.
    pub fn ok(self) -> anyhow::Result<Value> {
        if (200..300).contains(&self.status) {
            return Ok(self.body);
        }
        let message = self
            .body
            .get("error")
            .and_then(Value::as_str)
            .map_or_else(|| self.body.to_string(), str::to_owned);
        bail!("the service answered {}: {message}", self.status)
    }
}

impl ApiClient {
    /// A client for `server` (`https://host[:port]`), trusting `ca_pem`
    /// (and, with `pin`, only the server certificate with that SHA-256).
    pub fn new(
        server: &str,
        token: String,
        ca_pem: &str,
        pin: Option<[u8; 32]>,
    ) -> anyhow::Result<Self> {
        let (host, port) = parse_server(server)?;
        let tls = pippin_service::client_config(ca_pem, None, pin)
            .map_err(|e| anyhow!("TLS trust anchors: {e}"))?;
        Ok(Self {
            host,
            port,
            token,
            tls,
        })
    }

    /// Sends one request; `body` is sent as JSON.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Answer> {
        tokio::time::timeout(REQUEST_TIMEOUT, self.call_inner(method, path, body))
            .await
            .map_err(|_| anyhow!("{method} {path}: no answer within {REQUEST_TIMEOUT:?}"))?
    }

    async fn call_inner(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Answer> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .with_context(|| format!("connecting to {}:{}", self.host, self.port))?;
        let name = rustls::pki_types::ServerName::try_from(self.host.clone())
            .map_err(|_| anyhow!("{:?} is not a valid server name", self.host))?;
        let tls = TlsConnector::from(self.tls.clone())
            .connect(name, tcp)
            .await
            .with_context(|| format!("TLS with {}:{}", self.host, self.port))?;
        let (mut send, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls)).await?;
        let driver = tokio::spawn(conn);
        let bytes = match body {
            Some(v) => serde_json::to_vec(v)?,
            None => Vec::new(),
        };
        let authority = if self.port == 443 {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        };
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, authority)
            .header(
                hyper::header::AUTHORIZATION,
                format!("Bearer {}", self.token),
            )
            .header(hyper::header::ACCEPT, "application/json")
            .header(
                hyper::header::USER_AGENT,
                concat!("pippinctl/", env!("CARGO_PKG_VERSION")),
            );
        if body.is_some() {
            req = req.header(hyper::header::CONTENT_TYPE, "application/json");
        }
        let resp = send
            .send_request(req.body(Full::new(Bytes::from(bytes)))?)
            .await?;
        let status = resp.status().as_u16();
        let collected = Limited::new(resp.into_body(), MAX_RESPONSE)
            .collect()
            .await
            .map_err(|e| anyhow!("reading the answer: {e}"))?
            .to_bytes();
        driver.abort();
        let body = if collected.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&collected)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&collected).into_owned()))
        };
        Ok(Answer { status, body })
    }
}

/// `https://host[:port]` → host and port (443 by default).
fn parse_server(server: &str) -> anyhow::Result<(String, u16)> {
    let rest = server
        .strip_prefix("https://")
        .ok_or_else(|| anyhow!("the server URL must start with https:// (got {server:?})"))?;
    let rest = rest.trim_end_matches('/');
    if rest.contains('/') || rest.is_empty() {
        bail!("the server URL is https://HOST[:PORT] without a path (got {server:?})");
    }
    if let Some(v6) = rest.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .ok_or_else(|| anyhow!("unclosed [ in {server:?}"))?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().with_context(|| format!("port in {server:?}"))?,
            None if after.is_empty() => 443,
            None => bail!("unexpected {after:?} in {server:?}"),
        };
        return Ok((host.to_owned(), port));
    }
    match rest.rsplit_once(':') {
        Some((host, port)) => Ok((
            host.to_owned(),
            port.parse()
                .with_context(|| format!("port in {server:?}"))?,
        )),
        None => Ok((rest.to_owned(), 443)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls() {
        assert_eq!(
            parse_server("https://127.0.0.1:8760").unwrap(),
            ("127.0.0.1".to_owned(), 8760)
        );
        assert_eq!(
            parse_server("https://mdm.example.com/").unwrap(),
            ("mdm.example.com".to_owned(), 443)
        );
        assert_eq!(
            parse_server("https://[::1]:8760").unwrap(),
            ("::1".to_owned(), 8760)
        );
        assert!(parse_server("http://127.0.0.1:8760").is_err());
        assert!(parse_server("https://h:99999").is_err());
        assert!(parse_server("https://h/path").is_err());
        assert!(parse_server("https://").is_err());
    }
}
