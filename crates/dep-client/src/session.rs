//! The DEP session: signing in with OAuth (`GET /session`), the
//! `X-ADM-Auth-Session` header on every call, and signing in again when
//! the service asks for it.
//!
//! [Apple: Authenticating with the Automated Device Enrollment program][apple]:
//! every request carries the session token in `X-ADM-Auth-Session`; a
//! response may carry a new one, which replaces it; an expired or dropped
//! session gives `401 Unauthorized` (or `403` with the body `FORBIDDEN`),
//! after which the client signs in again and replays the request once.
//! Other `403` answers (`ACCESS_DENIED`, `T_C_NOT_SIGNED`) are final.
//!
//! [`Session`] holds the credentials and the current token and builds and
//! reads the HTTP messages; [`Call`] drives one API call through sign-in,
//! the call, and at most one sign-in-and-replay. Neither does I/O.
//!
//! [apple]: https://developer.apple.com/documentation/devicemanagement/authenticating-with-the-automated-device-enrollment-program

use std::sync::Arc;

use crate::api::Endpoint;
use crate::error::{Error, Result};
use crate::oauth::{self, OAuthCredentials, OAuthParams};
use crate::response::{ApiError, ErrorCode};

/// Apple's DEP service.
pub const DEFAULT_BASE_URL: &str = "https://mdmenrollment.apple.com";
/// The `X-Server-Protocol-Version` sent by default: 10.
///
/// The version decides what the service may answer. Apple's "Assign a
/// Profile": from version 9 the service may throttle profile assignment
/// per device (the device's result is `THROTTLED` instead of `SUCCESS`),
/// and from version 10 the answer also carries `retry_after_seconds` when
/// a device was throttled. Version 10 is the first that tells a client
/// both that and when to try again, so it is the default; an older one
/// (3 and later have `org_id` and `org_id_hash` in the account) can be
/// configured with [`Config::protocol_version`].
pub const DEFAULT_PROTOCOL_VERSION: u32 = 10;
/// The first protocol version whose profile assignment answers may say
/// `THROTTLED` (Apple: "Assign a Profile").
pub const THROTTLED_SINCE_VERSION: u32 = 9;
/// The first protocol version whose profile assignment answers carry
/// `retry_after_seconds` with a `THROTTLED` device (Apple: "Assign a
/// Profile").
pub const RETRY_AFTER_SINCE_VERSION: u32 = 10;
/// The session header.
pub const AUTH_SESSION_HEADER: &str = "x-adm-auth-session";
/// The protocol version header.
pub const PROTOCOL_VERSION_HEADER: &str = "x-server-protocol-version";
/// The `Content-Type` sent on every request, spelled as Apple's
/// documentation spells it.
pub const CONTENT_TYPE: &str = "application/json;charset=UTF8";
/// The default response body limit: 16 MiB (a page of 1000 devices is
/// well under 1 MiB).
pub const DEFAULT_MAX_BODY_LEN: usize = 16 * 1024 * 1024;
/// The longest session token accepted.
const MAX_TOKEN_LEN: usize = 4096;

/// How requests are made. Share it as `Arc<Config>`.
#[derive(Clone, Debug)]
pub struct Config {
    /// `https://host[:port][/prefix]`, or `http://` with a loopback host
    /// (for test servers); [`DEFAULT_BASE_URL`] by default.
    pub base_url: String,
    /// The `User-Agent`: `pippin-dep/<version>` by default.
    pub user_agent: String,
    /// `X-Server-Protocol-Version`: [`DEFAULT_PROTOCOL_VERSION`] by default.
    pub protocol_version: u32,
    /// The method of profile assignment: `POST` (Apple's documentation)
    /// by default; Apple's simulator takes `PUT`.
    pub assign_method: http::Method,
    /// The longest response body read.
    pub max_body_len: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_owned(),
            user_agent: concat!("pippin-dep/", env!("CARGO_PKG_VERSION")).to_owned(),
            protocol_version: DEFAULT_PROTOCOL_VERSION,
            assign_method: http::Method::POST,
            max_body_len: DEFAULT_MAX_BODY_LEN,
        }
    }
}

impl Config {
    /// Sets [`base_url`](Self::base_url).
    pub fn base_url(&mut self, url: impl Into<String>) -> &mut Self {
        self.base_url = url.into();
        self
    }

    /// Sets [`user_agent`](Self::user_agent).
    pub fn user_agent(&mut self, ua: impl Into<String>) -> &mut Self {
        self.user_agent = ua.into();
        self
    }

    /// Sets [`protocol_version`](Self::protocol_version).
    pub fn protocol_version(&mut self, v: u32) -> &mut Self {
        self.protocol_version = v;
        self
    }

    /// Sets [`assign_method`](Self::assign_method).
    pub fn assign_method(&mut self, m: http::Method) -> &mut Self {
        self.assign_method = m;
        self
    }

    /// Sets [`max_body_len`](Self::max_body_len).
    pub fn max_body_len(&mut self, n: usize) -> &mut Self {
        self.max_body_len = n;
        self
    }

    /// Checks [`base_url`](Self::base_url) and returns it without a
    /// trailing `/`.
    pub fn checked_base_url(&self) -> Result<String> {
        check_base_url(&self.base_url)
    }
}

pub use pippin_http_client::is_loopback_host;

fn check_base_url(url: &str) -> Result<String> {
    pippin_http_client::check_base_url(url).map_err(|_| Error::InvalidBaseUrl(url.to_owned()))
}

/// What [`Session::handle_response`] found.
#[derive(Debug)]
pub enum Reply<T> {
    /// The call succeeded.
    Done(T),
    /// The session was refused (`401`, or `403 FORBIDDEN`): sign in again
    /// and replay the call. The error is what to report if that was
    /// already done.
    Reauthenticate(ApiError),
}

/// A DEP session for one server token: credentials, configuration, and
/// the current session token.
///
/// ```
/// use std::sync::Arc;
/// use dep_client::{Config, GetAccount, OAuthCredentials, OAuthParams, Reply, Session};
///
/// let creds = OAuthCredentials {
///     consumer_key: "CK_1".into(), consumer_secret: "CS_1".into(),
///     access_token: "AT_1".into(), access_secret: "AS_1".into(),
/// };
/// let mut session = Session::new(creds, Arc::new(Config::default()))?;
/// let login = session.auth_request(&OAuthParams::new(1_700_000_000, b"nonce"))?;
/// assert_eq!(login.uri(), "https://mdmenrollment.apple.com/session");
/// // ... the client sends it and hands back the answer:
/// let answer = http::Response::builder().status(200)
///     .body(&br#"{"auth_session_token":"tok-1"}"#[..]).unwrap();
/// session.handle_auth_response(&answer)?;
/// let request = session.request(&GetAccount)?;
/// assert_eq!(request.headers()["x-adm-auth-session"], "tok-1");
/// let answer = http::Response::builder().status(200)
///     .body(&br#"{"server_name":"MDM"}"#[..]).unwrap();
/// match session.handle_response(&GetAccount, &answer)? {
///     Reply::Done(account) => assert_eq!(account.server_name.as_deref(), Some("MDM")),
///     Reply::Reauthenticate(_) => unreachable!(),
/// }
/// # Ok::<(), dep_client::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Session {
    config: Arc<Config>,
    base_url: String,
    credentials: OAuthCredentials,
    token: Option<String>,
    /// Bumped whenever the token changes, so that a refusal of an older
    /// token does not throw away a newer one.
    generation: u64,
}

impl Session {
    /// A session, not yet signed in. Fails if the base URL is not usable.
    pub fn new(credentials: OAuthCredentials, config: Arc<Config>) -> Result<Self> {
        let base_url = config.checked_base_url()?;
        Ok(Self {
            config,
            base_url,
            credentials,
            token: None,
            generation: 0,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    /// The credentials.
    pub fn credentials(&self) -> &OAuthCredentials {
        &self.credentials
    }

    /// The current session token.
    pub fn auth_token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// Changes every time the session token does.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Forgets the session token if it is still the one of `generation`.
    pub fn invalidate(&mut self, generation: u64) {
        if self.generation == generation && self.token.is_some() {
            self.token = None;
            self.generation += 1;
        }
    }

    /// The absolute URL of `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> Result<http::Uri> {
        format!("{}{path}", self.base_url)
            .parse()
            .map_err(|_| Error::InvalidRequest(format!("bad path `{path}`")))
    }

    fn builder(&self, method: http::Method, uri: http::Uri) -> http::request::Builder {
        http::Request::builder()
            .method(method)
            .uri(uri)
            .header(http::header::CONTENT_TYPE, CONTENT_TYPE)
            .header(http::header::ACCEPT, "application/json")
            .header(PROTOCOL_VERSION_HEADER, self.config.protocol_version)
            .header(http::header::USER_AGENT, self.config.user_agent.as_str())
    }

    /// The sign-in request: `GET /session` with the OAuth `Authorization`
    /// header, signed with `params`' time stamp and nonce.
    pub fn auth_request(&self, params: &OAuthParams) -> Result<http::Request<Vec<u8>>> {
        let uri = self.url("/session")?;
        let signed = oauth::sign(&http::Method::GET, &uri, &self.credentials, params)?;
        self.builder(http::Method::GET, uri)
            .header(
                http::header::AUTHORIZATION,
                signed.authorization(oauth::REALM),
            )
            .body(Vec::new())
            .map_err(|e| Error::InvalidRequest(e.to_string()))
    }

    /// Reads the sign-in answer `{"auth_session_token": "…"}` and keeps the
    /// token. An error answer is an [`Error::Api`].
    pub fn handle_auth_response(&mut self, response: &http::Response<&[u8]>) -> Result<()> {
        if !response.status().is_success() {
            return Err(Error::Api(ApiError::from_response(response)));
        }
        self.check_len(response.body())?;
        #[derive(serde::Deserialize)]
        struct Answer {
            auth_session_token: String,
        }
        let answer: Answer =
            serde_json::from_slice(response.body()).map_err(|e| Error::invalid("session", e))?;
        if !valid_token(&answer.auth_session_token) {
            return Err(Error::invalid(
                "session",
                "the auth_session_token is empty, too long or not a header value",
            ));
        }
        self.set_token(answer.auth_session_token);
        Ok(())
    }

    fn set_token(&mut self, token: String) {
        if self.token.as_deref() != Some(token.as_str()) {
            self.token = Some(token);
            self.generation += 1;
        }
    }

    /// The request for `endpoint`, with the session token. Fails with
    /// [`Error::InvalidRequest`] before sign-in.
    pub fn request<E: Endpoint + ?Sized>(&self, endpoint: &E) -> Result<http::Request<Vec<u8>>> {
        let token = self
            .token
            .as_deref()
            .ok_or_else(|| Error::InvalidRequest("not signed in".to_owned()))?;
        let body = endpoint.body()?.unwrap_or_default();
        self.builder(endpoint.method(&self.config), self.url(&endpoint.path())?)
            .header(AUTH_SESSION_HEADER, token)
            .body(body)
            .map_err(|e| Error::InvalidRequest(e.to_string()))
    }

    /// Reads the answer to `endpoint`'s request: keeps a new session token
    /// if the answer carries one, parses a success, asks for sign-in on
    /// `401` and `403 FORBIDDEN`, and returns other errors as
    /// [`Error::Api`].
    ///
    /// It does not forget the refused token: [`Call`] does that with
    /// [`invalidate`](Self::invalidate), which is safe when calls overlap.
    pub fn handle_response<E: Endpoint + ?Sized>(
        &mut self,
        endpoint: &E,
        response: &http::Response<&[u8]>,
    ) -> Result<Reply<E::Output>> {
        if let Some(new) = response
            .headers()
            .get(AUTH_SESSION_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|t| valid_token(t))
        {
            self.set_token(new.to_owned());
        }
        let status = response.status().as_u16();
        if response.status().is_success() {
            self.check_len(response.body())?;
            return endpoint.parse(response.body()).map(Reply::Done);
        }
        let error = ApiError::from_response(response);
        if status == 401 || (status == 403 && error.is(&ErrorCode::Forbidden)) {
            return Ok(Reply::Reauthenticate(error));
        }
        Err(Error::Api(error))
    }

    fn check_len(&self, body: &[u8]) -> Result<()> {
        if body.len() > self.config.max_body_len {
            return Err(Error::BodyTooLarge {
                limit: self.config.max_body_len,
            });
        }
        Ok(())
    }
}

fn valid_token(t: &str) -> bool {
    !t.is_empty() && t.len() <= MAX_TOKEN_LEN && t.bytes().all(|b| (0x21..0x7f).contains(&b))
}

/// One API call through sign-in and at most one sign-in-and-replay.
///
/// Loop: [`poll_request`](Self::poll_request), send it, hand the answer to
/// [`handle_response`](Self::handle_response), until that returns the
/// result.
///
/// ```
/// use std::sync::Arc;
/// use dep_client::{Call, Config, GetAccount, OAuthCredentials, OAuthParams, Session};
///
/// # let creds = OAuthCredentials { consumer_key: "a".into(), consumer_secret: "b".into(), access_token: "c".into(), access_secret: "d".into() };
/// let mut session = Session::new(creds, Arc::new(Config::default()))?;
/// let mut call = Call::new(GetAccount);
/// let answers: [(u16, &[u8]); 4] = [
///     (200, br#"{"auth_session_token":"t1"}"#), // sign-in
///     (401, b"UNAUTHORIZED"),                     // the session expired
///     (200, br#"{"auth_session_token":"t2"}"#), // sign-in again
///     (200, br#"{"org_name":"Example"}"#),      // the replay
/// ];
/// let mut result = None;
/// for (status, body) in answers {
///     let request = call.poll_request(&session, || OAuthParams::new(1_700_000_000, b"n"))?;
///     let response = http::Response::builder().status(status).body(body).unwrap();
///     if let Some(account) = call.handle_response(&mut session, &response)? {
///         result = Some(account);
///     }
/// }
/// assert_eq!(result.unwrap().org_name.as_deref(), Some("Example"));
/// # Ok::<(), dep_client::Error>(())
/// ```
#[derive(Debug)]
pub struct Call<E> {
    endpoint: E,
    state: CallState,
    replayed: bool,
}

#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum CallState {
    Ready,
    SigningIn,
    Calling { generation: u64 },
    Finished,
}

impl<E: Endpoint> Call<E> {
    /// A call of `endpoint`.
    pub fn new(endpoint: E) -> Self {
        Self {
            endpoint,
            state: CallState::Ready,
            replayed: false,
        }
    }

    /// The endpoint.
    pub fn endpoint(&self) -> &E {
        &self.endpoint
    }

    /// The endpoint, back.
    pub fn into_endpoint(self) -> E {
        self.endpoint
    }

    /// The next request to send: the sign-in (signed with `oauth()`) if
    /// the session has no token, else the call itself.
    pub fn poll_request(
        &mut self,
        session: &Session,
        oauth: impl FnOnce() -> OAuthParams,
    ) -> Result<http::Request<Vec<u8>>> {
        if self.state == CallState::Finished {
            return Err(Error::InvalidRequest("the call has finished".to_owned()));
        }
        if session.auth_token().is_none() {
            self.state = CallState::SigningIn;
            return session.auth_request(&oauth());
        }
        let request = session.request(&self.endpoint);
        self.state = match request {
            Ok(_) => CallState::Calling {
                generation: session.generation(),
            },
            Err(_) => CallState::Finished,
        };
        request
    }

    /// Reads the answer to the last request. `Ok(None)`: poll again;
    /// `Ok(Some(_))`: the call's result.
    pub fn handle_response(
        &mut self,
        session: &mut Session,
        response: &http::Response<&[u8]>,
    ) -> Result<Option<E::Output>> {
        match self.state {
            CallState::SigningIn => {
                self.state = CallState::Ready;
                if let Err(e) = session.handle_auth_response(response) {
                    self.state = CallState::Finished;
                    return Err(e);
                }
                Ok(None)
            }
            CallState::Calling { generation } => {
                match session.handle_response(&self.endpoint, response) {
                    Ok(Reply::Done(v)) => {
                        self.state = CallState::Finished;
                        Ok(Some(v))
                    }
                    Ok(Reply::Reauthenticate(error)) => {
                        session.invalidate(generation);
                        if self.replayed {
                            self.state = CallState::Finished;
                            return Err(Error::Api(error));
                        }
                        self.replayed = true;
                        self.state = CallState::Ready;
                        Ok(None)
                    }
                    Err(e) => {
                        self.state = CallState::Finished;
                        Err(e)
                    }
                }
            }
            CallState::Ready | CallState::Finished => Err(Error::InvalidRequest(
                "a response without a request".to_owned(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{FetchDevices, GetAccount};

    fn creds() -> OAuthCredentials {
        OAuthCredentials {
            consumer_key: "CK".into(),
            consumer_secret: "CS".into(),
            access_token: "AT".into(),
            access_secret: "AS".into(),
        }
    }

    fn session() -> Session {
        Session::new(creds(), Arc::new(Config::default())).unwrap()
    }

    fn resp(status: u16, body: &'static [u8]) -> http::Response<&'static [u8]> {
        http::Response::builder().status(status).body(body).unwrap()
    }

    fn params() -> OAuthParams {
        OAuthParams::new(1, b"x")
    }

    #[test]
    fn base_urls() {
        let ok = |u: &str| check_base_url(u).unwrap();
        assert_eq!(ok("https://mdmenrollment.apple.com/"), DEFAULT_BASE_URL);
        assert_eq!(ok("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
        assert_eq!(ok("http://[::1]:8080/dep/"), "http://[::1]:8080/dep");
        assert_eq!(ok("http://localhost:1"), "http://localhost:1");
        for bad in [
            "http://mdmenrollment.apple.com",
            "http://10.0.0.1",
            "ftp://x",
            "https://u@h",
            "https://h/?q",
            "/session",
        ] {
            assert!(check_base_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn headers_on_every_request() {
        let mut s = session();
        let login = s.auth_request(&params()).unwrap();
        assert_eq!(login.method(), http::Method::GET);
        assert_eq!(login.headers()["content-type"], CONTENT_TYPE);
        assert!(
            login.headers()["authorization"]
                .to_str()
                .unwrap()
                .starts_with("OAuth realm=\"ADM\"")
        );
        assert!(s.request(&GetAccount).is_err());
        s.handle_auth_response(&resp(200, br#"{"auth_session_token":"T1"}"#))
            .unwrap();
        let r = s.request(&FetchDevices::new(None, 10)).unwrap();
        assert_eq!(r.uri(), "https://mdmenrollment.apple.com/server/devices");
        assert_eq!(r.headers()[AUTH_SESSION_HEADER], "T1");
        assert_eq!(r.headers()[PROTOCOL_VERSION_HEADER], "10");
        assert!(
            r.headers()["user-agent"]
                .to_str()
                .unwrap()
                .starts_with("pippin-dep/")
        );
        assert_eq!(r.body(), br#"{"limit":10}"#);
    }

    #[test]
    fn token_rotation_and_refusals() {
        let mut s = session();
        s.handle_auth_response(&resp(200, br#"{"auth_session_token":"T1"}"#))
            .unwrap();
        let g = s.generation();
        let rotated = http::Response::builder()
            .status(200)
            .header("X-ADM-Auth-Session", "T2")
            .body(&b"{}"[..])
            .unwrap();
        assert!(matches!(
            s.handle_response(&GetAccount, &rotated).unwrap(),
            Reply::Done(_)
        ));
        assert_eq!(s.auth_token(), Some("T2"));
        // A refusal of the older token does not drop the newer one.
        s.invalidate(g);
        assert_eq!(s.auth_token(), Some("T2"));
        assert!(matches!(
            s.handle_response(&GetAccount, &resp(403, b"\"FORBIDDEN\""))
                .unwrap(),
            Reply::Reauthenticate(_)
        ));
        let e = s
            .handle_response(&GetAccount, &resp(403, b"T_C_NOT_SIGNED"))
            .unwrap_err();
        assert!(e.to_string().contains("T_C_NOT_SIGNED"), "{e}");
        assert!(matches!(
            s.handle_auth_response(&resp(200, br#"{"auth_session_token":""}"#)),
            Err(Error::InvalidResponse { .. })
        ));
        assert!(matches!(
            s.handle_auth_response(&resp(403, b"ACCESS_DENIED")),
            Err(Error::Api(_))
        ));
    }

    #[test]
    fn call_replays_once() {
        let mut s = session();
        let mut call = Call::new(GetAccount);
        let run = |call: &mut Call<GetAccount>, s: &mut Session, st, body| {
            let _ = call.poll_request(s, params).unwrap();
            call.handle_response(s, &resp(st, body))
        };
        assert!(
            run(&mut call, &mut s, 200, br#"{"auth_session_token":"A"}"#)
                .unwrap()
                .is_none()
        );
        assert!(run(&mut call, &mut s, 401, b"").unwrap().is_none());
        assert_eq!(s.auth_token(), None);
        assert!(
            run(&mut call, &mut s, 200, br#"{"auth_session_token":"B"}"#)
                .unwrap()
                .is_none()
        );
        let e = run(&mut call, &mut s, 401, b"UNAUTHORIZED").unwrap_err();
        assert_eq!(e.api().unwrap().status, 401);
        assert!(call.poll_request(&s, params).is_err());
    }
}
