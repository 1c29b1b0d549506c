//! Talking to the SMS Provider over HTTP(S) (feature `client`).
//!
//! [`HttpSession`] owns one connection to one provider endpoint and
//! authenticates it: Windows Negotiate with NTLMv2 (with channel binding on
//! HTTPS) or with Kerberos (a ticket the system holds, through its GSS-API
//! library), raw NTLM, Basic over HTTPS (labs), or a bearer token (the cloud
//! management gateway). Over plain HTTP to a WinRM endpoint, NTLM or
//! Kerberos also seals every message (MS-WSMV 2.2.9.1), so nothing crosses
//! the network in clear; Basic and bearer tokens are refused on
//! plain HTTP except to a loopback address.
//!
//! [`AdminServiceClient`] and
//! [`WsManClient`] build on it: they turn the
//! core's requests into answers.

mod api;
mod conn;
mod tls;

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, WWW_AUTHENTICATE};
use pippin_http_client::is_loopback_host;

pub use api::{AdminServiceClient, Rows, WsManClient, WsRows};
pub use tls::{Trust, fingerprint};

use crate::ntlm;
use crate::{Error, Result};
use conn::Conn;

/// How the client proves who it is.
#[derive(Clone, Default)]
pub enum Auth {
    /// No credentials (a test endpoint).
    #[default]
    Anonymous,
    /// HTTP `Negotiate` (SPNEGO) carrying NTLMv2: what the SMS Provider and
    /// WinRM accept from a machine that is not in the domain.
    Negotiate(ntlm::Credentials),
    /// HTTP `NTLM`, without SPNEGO.
    Ntlm(ntlm::Credentials),
    /// HTTP `Negotiate` carrying Kerberos, with a ticket the system already
    /// holds (`kinit`, or a keytab-fed credential cache): what a
    /// domain-joined machine uses. The system's GSS-API library (MIT krb5)
    /// does the Kerberos work; without it, or without a ticket, the
    /// request fails with [`Error::AuthenticationFailed`] saying so.
    Kerberos {
        /// The credential cache (`FILE:/path`, `KEYRING:…`); `None` for the
        /// default (`KRB5CCNAME`).
        ccache: Option<String>,
    },
    /// HTTP Basic: local accounts on a lab's WinRM over HTTPS.
    Basic {
        /// The account.
        user: String,
        /// Its password.
        password: String,
    },
    /// `Authorization: Bearer`: an Entra ID token for the cloud management
    /// gateway's AdminService.
    Bearer(String),
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Anonymous => f.write_str("Anonymous"),
            Self::Negotiate(c) => f.debug_tuple("Negotiate").field(c).finish(),
            Self::Ntlm(c) => f.debug_tuple("Ntlm").field(c).finish(),
            Self::Kerberos { ccache } => {
                f.debug_struct("Kerberos").field("ccache", ccache).finish()
            }
            Self::Basic { user, .. } => f
                .debug_struct("Basic")
                .field("user", user)
                .finish_non_exhaustive(),
            Self::Bearer(_) => f.write_str("Bearer(..)"),
        }
    }
}

impl Auth {
    /// The account, for messages (never the secret).
    pub fn account(&self) -> String {
        match self {
            Self::Anonymous => "anonymous".to_owned(),
            Self::Negotiate(c) | Self::Ntlm(c) => c.account(),
            Self::Kerberos { .. } => "the Kerberos ticket's principal".to_owned(),
            Self::Basic { user, .. } => user.clone(),
            Self::Bearer(_) => "a bearer token".to_owned(),
        }
    }
}

/// How a session connects. `Default` plus chainable setters.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// The credentials.
    pub auth: Auth,
    /// How the provider's certificate is trusted.
    pub trust: Trust,
    /// Time allowed for the TCP connect and the TLS handshake (10 s).
    pub connect_timeout: Duration,
    /// Time allowed for one request and its answer (120 s: big
    /// enumerations and method calls on a busy provider are slow).
    pub request_timeout: Duration,
    /// The largest answer body read (64 MiB).
    pub max_body_len: usize,
    /// The workstation name sent in NTLM (`PIPPIN`).
    pub workstation: String,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            auth: Auth::Anonymous,
            trust: Trust::System,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(120),
            max_body_len: 64 << 20,
            workstation: "PIPPIN".to_owned(),
        }
    }
}

impl ClientConfig {
    /// Sets the credentials.
    pub fn auth(&mut self, auth: Auth) -> &mut Self {
        self.auth = auth;
        self
    }

    /// Sets how the certificate is trusted.
    pub fn trust(&mut self, trust: Trust) -> &mut Self {
        self.trust = trust;
        self
    }

    /// Sets the connect timeout.
    pub fn connect_timeout(&mut self, t: Duration) -> &mut Self {
        self.connect_timeout = t;
        self
    }

    /// Sets the per-request timeout.
    pub fn request_timeout(&mut self, t: Duration) -> &mut Self {
        self.request_timeout = t;
        self
    }

    /// Sets the body limit.
    pub fn max_body_len(&mut self, n: usize) -> &mut Self {
        self.max_body_len = n;
        self
    }
}

/// What the session does to each message body.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Sealing {
    /// Bodies go as they are (HTTPS, or AdminService).
    None,
    /// Bodies are sealed with the NTLM session (WinRM over plain HTTP).
    WinRm,
}

/// One authenticated connection to one provider endpoint.
///
/// Requests go one at a time. When the server closes the connection the
/// next request opens a new one and authenticates again.
pub struct HttpSession {
    host: String,
    port: u16,
    authority: String,
    tls: Option<tokio_rustls::TlsConnector>,
    config: ClientConfig,
    sealing: Sealing,
    conn: Option<Live>,
}

struct Live {
    conn: Conn,
    /// The security context (NTLM or Kerberos) the connection was
    /// authenticated with, which seals WinRM messages.
    context: Option<Box<dyn ntlm::winrm::MessageSealing + Send>>,
    /// Whether the connection needs no further authentication.
    ready: bool,
}

impl fmt::Debug for HttpSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpSession")
            .field("authority", &self.authority)
            .field("tls", &self.tls.is_some())
            .field("auth", &self.config.auth)
            .field("sealing", &self.sealing)
            .finish_non_exhaustive()
    }
}

impl HttpSession {
    /// A session to the endpoint of `url` (`https://provider/AdminService`,
    /// `http://provider:5985/wsman`). Connects on first use.
    ///
    /// Refuses combinations that would expose a secret: Basic or bearer
    /// credentials, or NTLM without sealing, on plain HTTP to anything but
    /// a loopback address.
    pub fn new(url: &str, config: ClientConfig, sealing: Sealing) -> Result<Self> {
        let uri: http::Uri = url.parse().map_err(|_| Error::InvalidRequest {
            what: format!("{url:?} is not a URL"),
        })?;
        let host = uri
            .host()
            .ok_or_else(|| Error::InvalidRequest {
                what: format!("{url:?} has no host"),
            })?
            .to_owned();
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => {
                return Err(Error::InvalidRequest {
                    what: format!("{url:?}: the scheme must be http or https"),
                });
            }
        };
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let loopback = is_loopback_host(&host);
        if !https && !loopback {
            let exposed = match &config.auth {
                Auth::Basic { .. } | Auth::Bearer(_) => true,
                Auth::Negotiate(_) | Auth::Ntlm(_) | Auth::Kerberos { .. } => {
                    sealing == Sealing::None
                }
                Auth::Anonymous => true,
            };
            if exposed {
                return Err(Error::InvalidRequest {
                    what: format!(
                        "{url}: plain HTTP would carry the credentials or the data in clear; \
                         use https, or NTLM to a WinRM endpoint (which seals every message)"
                    ),
                });
            }
        }
        let tls = if https {
            Some(conn::connector(&config.trust)?)
        } else {
            None
        };
        let authority = uri
            .authority()
            .map(|a| a.as_str().to_owned())
            .unwrap_or_else(|| host.clone());
        Ok(Self {
            host,
            port,
            authority,
            tls,
            // Sealing only makes sense with NTLM on plain HTTP.
            sealing: if https
                || !matches!(
                    config.auth,
                    Auth::Negotiate(_) | Auth::Ntlm(_) | Auth::Kerberos { .. }
                ) {
                Sealing::None
            } else {
                sealing
            },
            config,
            conn: None,
        })
    }

    /// Whether message bodies are sealed on this session.
    pub fn sealing(&self) -> Sealing {
        self.sealing
    }

    /// Sends `request` (its URL's path and query are used; scheme and host
    /// must be this session's) and returns the answer, unsealed. A 401
    /// after authentication is [`Error::AuthenticationFailed`]; other
    /// statuses are answers for the caller to read.
    pub async fn send(&mut self, request: http::Request<Vec<u8>>) -> Result<http::Response<Bytes>> {
        if let Some(a) = request.uri().authority()
            && !a.as_str().eq_ignore_ascii_case(&self.authority)
        {
            return Err(Error::InvalidRequest {
                what: format!(
                    "a request for {a} on a session to {}: credentials go only to the configured provider",
                    self.authority
                ),
            });
        }
        // A connection the server closed (or that never authenticated) is
        // replaced; one retry covers a keep-alive connection that the server
        // closed while idle.
        for attempt in 0..2 {
            if !self.conn.as_ref().is_some_and(|l| l.conn.is_open()) {
                self.conn = None;
                let conn = Conn::open(
                    &self.host,
                    self.port,
                    self.tls.as_ref(),
                    self.config.connect_timeout,
                )
                .await?;
                self.conn = Some(Live {
                    conn,
                    context: None,
                    ready: false,
                });
            }
            let reused = self.conn.as_ref().is_some_and(|l| l.ready);
            match self.exchange(clone_request(&request)).await {
                // A keep-alive connection the server closed while idle: the
                // request never left, so it goes again on a new connection.
                // A request that may have reached the server (a timeout, an
                // answer cut short) is not repeated: a Create or a method
                // call must not run twice.
                Err(Error::Transport(_)) if attempt == 0 && reused && self.failed_unsent() => {
                    self.conn = None;
                }
                Err(e @ (Error::Transport(_) | Error::TooLarge { .. })) => {
                    // The connection's state is unknown (an answer may
                    // still be on its way): never reuse it.
                    self.conn = None;
                    return Err(e);
                }
                other => return other,
            }
        }
        Err(Error::Transport("the connection kept closing".to_owned()))
    }

    fn failed_unsent(&self) -> bool {
        self.conn.as_ref().is_some_and(|l| l.conn.failed_unsent)
    }

    async fn exchange(&mut self, request: http::Request<Vec<u8>>) -> Result<http::Response<Bytes>> {
        let limit = self.config.max_body_len;
        let timeout = self.config.request_timeout;
        let live = self
            .conn
            .as_mut()
            .ok_or_else(|| Error::Transport("no connection".to_owned()))?;
        if !live.ready {
            match self.config.auth.clone() {
                Auth::Negotiate(c) => {
                    return self
                        .ntlm_handshake(c, ntlm::AuthScheme::Negotiate, request)
                        .await;
                }
                Auth::Ntlm(c) => {
                    return self
                        .ntlm_handshake(c, ntlm::AuthScheme::Ntlm, request)
                        .await;
                }
                Auth::Kerberos { ccache } => return self.kerberos_handshake(ccache, request).await,
                _ => live.ready = true,
            }
        }
        let live = self
            .conn
            .as_mut()
            .ok_or_else(|| Error::Transport("no connection".to_owned()))?;
        let mut request = request;
        match &self.config.auth {
            Auth::Basic { user, password } => {
                let token =
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
                set_header(&mut request, AUTHORIZATION, &format!("Basic {token}"))?;
            }
            Auth::Bearer(token) => {
                set_header(&mut request, AUTHORIZATION, &format!("Bearer {token}"))?
            }
            _ => {}
        }
        let sealed = self.sealing == Sealing::WinRm;
        if sealed {
            let context = live
                .context
                .as_deref_mut()
                .ok_or_else(|| Error::Transport("no security context to seal with".to_owned()))?;
            seal_request(context, &mut request)?;
        }
        let response = live.conn.send(request, limit, timeout).await?;
        if response.status() == http::StatusCode::UNAUTHORIZED {
            self.conn = None;
            return Err(Error::AuthenticationFailed {
                user: self.config.auth.account(),
                detail: "the server answered 401 Unauthorized".to_owned(),
            });
        }
        if sealed {
            let live = self
                .conn
                .as_mut()
                .ok_or_else(|| Error::Transport("no connection".to_owned()))?;
            let context = live
                .context
                .as_deref_mut()
                .ok_or_else(|| Error::Transport("no security context to unseal with".to_owned()))?;
            return unseal_response(context, response);
        }
        Ok(response)
    }

    /// Authenticates the connection with NTLM, sending `request` on each
    /// leg; with sealing, the legs carry no body and the request follows,
    /// sealed, once the connection is authenticated.
    async fn ntlm_handshake(
        &mut self,
        credentials: ntlm::Credentials,
        scheme: ntlm::AuthScheme,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Bytes>> {
        let limit = self.config.max_body_len;
        let timeout = self.config.request_timeout;
        let sealed = self.sealing == Sealing::WinRm;
        let account = credentials.account();
        let spn = format!("HTTP/{}", self.host.trim_matches(['[', ']']));
        let live = self
            .conn
            .as_mut()
            .ok_or_else(|| Error::Transport("no connection".to_owned()))?;
        let mut initiator = ntlm::Initiator::new(credentials, &self.config.workstation);
        initiator.target_spn(&spn);
        if let Some(cb) = &live.conn.channel_binding {
            initiator.channel_bindings(cb);
        }
        let mut auth = ntlm::HttpAuth::new(scheme, initiator);
        let leg = |header: &str| -> Result<http::Request<Vec<u8>>> {
            let mut r = if sealed {
                let mut r = clone_request(&request);
                r.body_mut().clear();
                r.headers_mut().remove(CONTENT_TYPE);
                r
            } else {
                clone_request(&request)
            };
            set_header(&mut r, AUTHORIZATION, header)?;
            Ok(r)
        };
        let first = leg(&auth.first_authorization()?)?;
        let response = live.conn.send(first, limit, timeout).await?;
        if response.status() != http::StatusCode::UNAUTHORIZED {
            // The server did not ask for authentication.
            live.ready = true;
            return Ok(response);
        }
        let offers: Vec<&str> = response
            .headers()
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let nonces = random_nonces()?;
        let second = auth.challenge_authorization(offers, &nonces, filetime_now())?;
        let response = live.conn.send(leg(&second)?, limit, timeout).await?;
        let status = response.status().as_u16();
        let finals: Vec<&str> = response
            .headers()
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let session = match auth.finish(status, finals) {
            Ok(s) => s,
            Err(ntlm::NtlmError::CredentialsRejected) => {
                self.conn = None;
                return Err(Error::AuthenticationFailed {
                    user: account,
                    detail: "the server refused the NTLM response (wrong password, locked \
                             account, or the channel binding did not match)"
                        .to_owned(),
                });
            }
            Err(e) => {
                self.conn = None;
                return Err(e.into());
            }
        };
        let live = self
            .conn
            .as_mut()
            .ok_or_else(|| Error::Transport("no connection".to_owned()))?;
        live.context = Some(Box::new(session));
        live.ready = true;
        if sealed {
            // The legs carried no body: now send the request itself.
            return Box::pin(self.exchange(request)).await;
        }
        Ok(response)
    }
}

impl HttpSession {
    /// Authenticates the connection with Kerberos inside SPNEGO through the
    /// system's GSS-API library, for the service `HTTP@<host>`, with mutual
    /// authentication (the server's last token must verify) and, over
    /// TLS, channel binding. Legs carry no body when sealing, like NTLM's.
    async fn kerberos_handshake(
        &mut self,
        ccache: Option<String>,
        request: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Bytes>> {
        use pippin_gss::{Flags, Initiator, InitiatorOptions, Library, Mech};
        const MAX_LEGS: usize = 4;
        let limit = self.config.max_body_len;
        let timeout = self.config.request_timeout;
        let sealed = self.sealing == Sealing::WinRm;
        let target = format!("HTTP@{}", self.host.trim_matches(['[', ']']));
        let refused = |detail: String| Error::AuthenticationFailed {
            user: "the Kerberos ticket's principal".to_owned(),
            detail,
        };
        let gss = |e: pippin_gss::GssError| {
            refused(if e.is_fallback() {
                format!("{e} (run kinit, or use NTLM with --user)")
            } else {
                e.to_string()
            })
        };
        let live = self
            .conn
            .as_mut()
            .ok_or_else(|| Error::Transport("no connection".to_owned()))?;
        let library = Library::load().map_err(gss)?;
        let mut options = InitiatorOptions::default();
        options.flags(Flags::WINRM);
        if let Some(cb) = &live.conn.channel_binding {
            options.channel_bindings(cb.clone());
        }
        if let Some(c) = ccache {
            options.ccache(c);
        }
        let mut initiator =
            Initiator::new(&library, &target, Mech::Spnego, &options).map_err(gss)?;
        let mut token = initiator.step(None).map_err(gss)?.token;
        for _ in 0..MAX_LEGS {
            let Some(t) = token.take() else {
                return Err(refused(
                    "the exchange stopped before the server accepted it".to_owned(),
                ));
            };
            let mut leg = clone_request(&request);
            if sealed {
                leg.body_mut().clear();
                leg.headers_mut().remove(CONTENT_TYPE);
            }
            let header = format!(
                "Negotiate {}",
                base64::engine::general_purpose::STANDARD.encode(&t)
            );
            set_header(&mut leg, AUTHORIZATION, &header)?;
            let response = live.conn.send(leg, limit, timeout).await?;
            let server_token = response
                .headers()
                .get_all(WWW_AUTHENTICATE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find_map(|v| {
                    let (scheme, rest) = v.split_once(' ')?;
                    scheme
                        .eq_ignore_ascii_case("Negotiate")
                        .then(|| {
                            base64::engine::general_purpose::STANDARD
                                .decode(rest.trim())
                                .ok()
                        })
                        .flatten()
                });
            let accepted = response.status() != http::StatusCode::UNAUTHORIZED;
            if !accepted && server_token.is_none() {
                self.conn = None;
                return Err(refused("the server refused the Kerberos ticket".to_owned()));
            }
            if let Some(st) = server_token
                && !initiator.is_complete()
            {
                token = initiator.step(Some(&st)).map_err(gss)?.token;
            }
            if !accepted {
                continue;
            }
            if !initiator.is_complete() {
                self.conn = None;
                return Err(refused(
                    "the server did not prove its identity (no mutual authentication)".to_owned(),
                ));
            }
            let context = initiator.into_context().map_err(gss)?;
            live.context = Some(Box::new(KerberosSealing(context)));
            live.ready = true;
            if sealed {
                return Box::pin(self.exchange(request)).await;
            }
            return Ok(response);
        }
        self.conn = None;
        Err(refused(format!("no agreement after {MAX_LEGS} legs")))
    }
}

/// A Kerberos context sealing WinRM messages (GSS wrap with IOV, MS-WSMV
/// 2.2.9.1.2).
struct KerberosSealing(pippin_gss::Context);

impl ntlm::winrm::MessageSealing for KerberosSealing {
    fn seal_message(
        &mut self,
        data: &[u8],
    ) -> std::result::Result<(Vec<u8>, Vec<u8>), ntlm::NtlmError> {
        self.0
            .wrap_winrm(data)
            .map_err(|_| ntlm::NtlmError::Encryption("Kerberos could not seal the message"))
    }

    fn unseal_message(
        &mut self,
        header: &[u8],
        sealed: &[u8],
    ) -> std::result::Result<Vec<u8>, ntlm::NtlmError> {
        self.0
            .unwrap_winrm(header, sealed)
            .map_err(|_| ntlm::NtlmError::BadSignature("Kerberos-sealed message"))
    }
}

fn clone_request(r: &http::Request<Vec<u8>>) -> http::Request<Vec<u8>> {
    let mut c = http::Request::new(r.body().clone());
    *c.method_mut() = r.method().clone();
    *c.uri_mut() = r.uri().clone();
    *c.headers_mut() = r.headers().clone();
    c
}

fn set_header(r: &mut http::Request<Vec<u8>>, name: http::HeaderName, value: &str) -> Result<()> {
    let v = http::HeaderValue::from_str(value).map_err(|_| Error::InvalidRequest {
        what: format!("a {name} header value is not valid"),
    })?;
    r.headers_mut().insert(name, v);
    Ok(())
}

fn seal_request(
    context: &mut (dyn ntlm::winrm::MessageSealing + Send),
    r: &mut http::Request<Vec<u8>>,
) -> Result<()> {
    let body = std::mem::take(r.body_mut());
    let (content_type, sealed) = ntlm::winrm::encrypt_with(context, &body)?;
    *r.body_mut() = sealed;
    set_header(r, CONTENT_TYPE, &content_type)?;
    r.headers_mut().remove(CONTENT_LENGTH);
    Ok(())
}

fn unseal_response(
    context: &mut (dyn ntlm::winrm::MessageSealing + Send),
    response: http::Response<Bytes>,
) -> Result<http::Response<Bytes>> {
    let (mut parts, body) = response.into_parts();
    let content_type = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    if !content_type
        .to_ascii_lowercase()
        .starts_with("multipart/encrypted")
    {
        if body.is_empty() {
            return Ok(http::Response::from_parts(parts, body));
        }
        return Err(Error::InvalidResponse {
            what: format!(
                "a sealed session got an answer in clear (Content-Type {content_type:?})"
            ),
        });
    }
    let plain = ntlm::winrm::decrypt_with(context, &content_type, &body)?;
    parts.headers.insert(
        CONTENT_TYPE,
        http::HeaderValue::from_static("application/soap+xml;charset=UTF-8"),
    );
    parts.headers.remove(CONTENT_LENGTH);
    Ok(http::Response::from_parts(parts, Bytes::from(plain)))
}

/// Now as a Windows FILETIME (100 ns ticks since 1601-01-01).
fn filetime_now() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    ntlm::filetime(since.as_secs(), since.subsec_nanos())
}

/// A client challenge and session key from the operating system's CSPRNG.
fn random_nonces() -> Result<ntlm::Nonces> {
    let mut client_challenge = [0u8; 8];
    let mut exported_session_key = [0u8; 16];
    getrandom::fill(&mut client_challenge)
        .and_then(|()| getrandom::fill(&mut exported_session_key))
        .map_err(|e| Error::Transport(format!("no randomness for NTLM: {e}")))?;
    Ok(ntlm::Nonces {
        client_challenge,
        exported_session_key,
    })
}
