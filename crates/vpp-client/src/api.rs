//! Requests and responses of the Apps and Books for Organizations API
//! (`https://vpp.itunes.apple.com/mdm/v2/…`), without I/O.
//!
//! [`Api`] holds the content token and the configuration; for each
//! [`Endpoint`] it builds the `http::Request` ([`Api::request`]) and reads
//! the `http::Response` ([`Api::handle_response`]): error bodies become
//! [`Error::Api`] whatever their HTTP status, and a response naming
//! another MDM server in `mdmInfo` becomes [`Error::MdmConflict`].

use std::fmt::Write as _;
use std::sync::Arc;

use pippin_http_client::RetryAfter;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, Error, Result};
use crate::model::{
    AssetsPage, AssignmentsPage, ClientConfig, ClientConfigRequest, Envelope, EventResponse,
    EventStatus, ManageAssetsRequest, MdmInfo, PricingParam, RevokeAssetsRequest, ServiceConfig,
};
use crate::token::ContentToken;

/// Apple's service.
pub const DEFAULT_BASE_URL: &str = "https://vpp.itunes.apple.com/mdm/v2";

/// The default response body limit: 32 MiB (a page of assignments is
/// well under 1 MiB).
pub const DEFAULT_MAX_BODY_LEN: usize = 32 * 1024 * 1024;

/// How requests are made. Share it as `Arc<Config>`.
#[derive(Clone, Debug)]
pub struct Config {
    /// `https://host[:port]/path` of the v2 API, or `http://` with a
    /// loopback host (test servers); [`DEFAULT_BASE_URL`] by default.
    pub base_url: String,
    /// The `User-Agent`: `pippin-vpp/<version>` by default.
    pub user_agent: String,
    /// The longest response body read.
    pub max_body_len: usize,
    /// Our `mdmInfo.id`: when set, a response whose `mdmInfo` names
    /// another id is an [`Error::MdmConflict`] (another MDM server took the
    /// token over). Client configuration answers are not checked, so that
    /// a claim can look first.
    pub mdm_id: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_owned(),
            user_agent: concat!("pippin-vpp/", env!("CARGO_PKG_VERSION")).to_owned(),
            max_body_len: DEFAULT_MAX_BODY_LEN,
            mdm_id: None,
        }
    }
}

impl Config {
    /// Sets [`base_url`](Self::base_url).
    pub fn base_url(&mut self, url: impl Into<String>) -> &mut Self {
        self.base_url = url.into();
        self
    }

    /// Sets [`mdm_id`](Self::mdm_id).
    pub fn mdm_id(&mut self, id: impl Into<String>) -> &mut Self {
        self.mdm_id = Some(id.into());
        self
    }

    /// Sets [`max_body_len`](Self::max_body_len).
    pub fn max_body_len(&mut self, n: usize) -> &mut Self {
        self.max_body_len = n;
        self
    }
}

/// One kind of call: how to ask, and how to read the answer.
pub trait Endpoint {
    /// What a successful answer holds.
    type Output: Envelope;
    /// The method.
    fn method(&self) -> http::Method;
    /// The path and query below the base URL, without a leading `/`
    /// (`assets?pageIndex=2`), or an absolute `https://` URL.
    fn target(&self) -> String;
    /// The JSON body, if the call has one.
    fn body(&self) -> Result<Option<Vec<u8>>> {
        Ok(None)
    }
    /// Whether the call carries the token (all but `service/config`).
    fn authenticated(&self) -> bool {
        true
    }
    /// Whether the call carries the token as the `itvt` cookie (metadata
    /// lookups).
    fn sends_token_cookie(&self) -> bool {
        false
    }
    /// Whether `mdmInfo` in the answer is checked against ours.
    fn checks_mdm_info(&self) -> bool {
        true
    }
    /// Reads a successful answer.
    fn parse(&self, body: &[u8]) -> Result<Self::Output>;
}

/// The client core for one content token. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Api {
    config: Arc<Config>,
    base_url: String,
    token: ContentToken,
}

impl Api {
    /// The core for `token`. Fails if the base URL is not usable.
    pub fn new(token: ContentToken, config: Arc<Config>) -> Result<Self> {
        let base_url = pippin_http_client::check_base_url(&config.base_url)
            .map_err(|_| Error::InvalidBaseUrl(config.base_url.clone()))?;
        Ok(Self {
            config,
            base_url,
            token,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Arc<Config> {
        &self.config
    }

    /// The content token.
    pub fn token(&self) -> &ContentToken {
        &self.token
    }

    /// The request for `endpoint`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use vpp_client::{Api, AssetFilter, Config, ContentToken, GetAssets};
    /// # use base64::Engine as _;
    /// # let file = base64::engine::general_purpose::STANDARD.encode(r#"{"token":"t","expDate":"2030-01-01T00:00:00+0000","orgName":"O"}"#);
    /// let api = Api::new(ContentToken::parse(file.as_bytes())?, Arc::new(Config::default()))?;
    /// let request = api.request(&GetAssets { filter: AssetFilter::default(), page_index: 3 })?;
    /// assert_eq!(request.uri(), "https://vpp.itunes.apple.com/mdm/v2/assets?pageIndex=3");
    /// assert!(request.headers()["authorization"].to_str().unwrap().starts_with("Bearer "));
    /// # Ok::<(), vpp_client::Error>(())
    /// ```
    pub fn request<E: Endpoint + ?Sized>(&self, endpoint: &E) -> Result<http::Request<Vec<u8>>> {
        let target = endpoint.target();
        let url = if target.starts_with("https://") || target.starts_with("http://") {
            target
        } else {
            format!("{}/{target}", self.base_url)
        };
        let uri: http::Uri = url
            .parse()
            .map_err(|_| Error::InvalidRequest(format!("bad URL `{url}`")))?;
        let body = endpoint.body()?;
        let mut b = http::Request::builder()
            .method(endpoint.method())
            .uri(uri)
            .header(http::header::ACCEPT, "application/json")
            .header(http::header::USER_AGENT, self.config.user_agent.as_str());
        if body.is_some() {
            b = b.header(http::header::CONTENT_TYPE, "application/json");
        }
        if endpoint.authenticated() {
            b = b.header(
                http::header::AUTHORIZATION,
                format!("Bearer {}", self.token.bearer()),
            );
        }
        if endpoint.sends_token_cookie() {
            b = b.header(
                http::header::COOKIE,
                format!("itvt={}", self.token.bearer()),
            );
        }
        b.body(body.unwrap_or_default())
            .map_err(|e| Error::InvalidRequest(e.to_string()))
    }

    /// Reads the answer to `endpoint`'s request: an error status, or an
    /// `errorNumber` in a 200 answer, is an [`Error::Api`]; `mdmInfo`
    /// naming another server is an [`Error::MdmConflict`].
    pub fn handle_response<E: Endpoint + ?Sized>(
        &self,
        endpoint: &E,
        response: &http::Response<&[u8]>,
    ) -> Result<E::Output> {
        let body = *response.body();
        if body.len() > self.config.max_body_len {
            return Err(Error::BodyTooLarge {
                limit: self.config.max_body_len,
            });
        }
        let status = response.status().as_u16();
        let retry_after = || RetryAfter::from_headers(response.headers());
        if !response.status().is_success() {
            let (number, message) = error_body(body);
            return Err(Error::Api(ApiError::new(
                status,
                number,
                message.as_deref(),
                retry_after(),
            )));
        }
        let output = match endpoint.parse(body) {
            Ok(o) => o,
            Err(e) => {
                // An error body answered with 200 fails to parse as the
                // expected object: report it as the error it is.
                if let (Some(n), message) = error_body(body) {
                    return Err(Error::Api(ApiError::new(
                        status,
                        Some(n),
                        message.as_deref(),
                        retry_after(),
                    )));
                }
                return Err(e);
            }
        };
        self.check_envelope(status, endpoint.checks_mdm_info(), &output)?;
        Ok(output)
    }

    /// The checks every parsed answer gets: an `errorNumber` in a 200
    /// answer, and `mdmInfo` naming another server.
    fn check_envelope<T: Envelope>(&self, status: u16, checks_mdm: bool, value: &T) -> Result<()> {
        if let (Some(n), message) = value.error()
            && n != 0
        {
            return Err(Error::Api(ApiError::new(status, Some(n), message, None)));
        }
        if checks_mdm
            && let (Some(ours), Some(theirs)) = (&self.config.mdm_id, value.mdm_info())
            && theirs.id != *ours
        {
            return Err(Error::MdmConflict {
                ours: ours.clone(),
                theirs: describe(theirs),
            });
        }
        Ok(())
    }
}

/// `name (id)` of an `mdmInfo`, for messages.
pub fn describe(info: &MdmInfo) -> String {
    let mut s = String::new();
    let _ = write!(s, "{}", crate::error::cut(&info.name));
    if !info.metadata.is_empty() {
        let _ = write!(s, " at {}", crate::error::cut(&info.metadata));
    }
    let _ = write!(s, " (id {})", crate::error::cut(&info.id));
    s
}

/// `errorNumber` and `errorMessage` of an error body, or a bit of a body
/// that is not JSON as the message.
fn error_body(body: &[u8]) -> (Option<i64>, Option<String>) {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct E {
        error_number: Option<i64>,
        error_message: Option<String>,
    }
    match serde_json::from_slice::<E>(body) {
        Ok(e) => (e.error_number.filter(|n| *n != 0), e.error_message),
        Err(_) => {
            let text = String::from_utf8_lossy(&body[..body.len().min(512)]);
            let text = text.trim();
            (None, (!text.is_empty()).then(|| text.to_owned()))
        }
    }
}

/// Parses `body` as `T`.
fn parse_json<T: DeserializeOwned>(what: &'static str, body: &[u8]) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| Error::invalid(what, e))
}

/// Builds `path?k=v&…`, percent-encoding the values.
#[derive(Debug)]
struct Query {
    text: String,
    first: bool,
}

impl Query {
    fn new(path: &str) -> Self {
        Self {
            text: path.to_owned(),
            first: true,
        }
    }

    fn push(&mut self, key: &str, value: &str) {
        self.text.push(if self.first { '?' } else { '&' });
        self.first = false;
        self.text.push_str(key);
        self.text.push('=');
        for b in value.bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                self.text.push(char::from(b));
            } else {
                let _ = write!(self.text, "%{b:02X}");
            }
        }
    }

    fn opt(&mut self, key: &str, value: Option<impl ToString>) {
        if let Some(v) = value {
            self.push(key, &v.to_string());
        }
    }
}

macro_rules! parse_as {
    ($what:literal, $t:ty) => {
        fn parse(&self, body: &[u8]) -> Result<Self::Output> {
            parse_json::<$t>($what, body)
        }
    };
}

/// `GET client/config`: who manages the token, notification settings.
#[derive(Clone, Debug, Default)]
pub struct GetClientConfig;

impl Endpoint for GetClientConfig {
    type Output = ClientConfig;
    fn method(&self) -> http::Method {
        http::Method::GET
    }
    fn target(&self) -> String {
        "client/config".to_owned()
    }
    fn checks_mdm_info(&self) -> bool {
        false
    }
    parse_as!("client config", ClientConfig);
}

/// `POST client/config`: claim the token (`mdmInfo`) and set up
/// notifications.
#[derive(Clone, Debug, Default)]
pub struct SetClientConfig(pub ClientConfigRequest);

impl Endpoint for SetClientConfig {
    type Output = ClientConfig;
    fn method(&self) -> http::Method {
        http::Method::POST
    }
    fn target(&self) -> String {
        "client/config".to_owned()
    }
    fn body(&self) -> Result<Option<Vec<u8>>> {
        let r = &self.0;
        if r.notification_url.is_some() != r.notification_auth_token.is_some() {
            return Err(Error::InvalidRequest(
                "a notification URL and its secret go together".to_owned(),
            ));
        }
        if let Some(m) = &r.mdm_info
            && (m.id.is_empty() || m.id.len() > 100 || m.name.len() > 100 || m.metadata.len() > 255)
        {
            return Err(Error::InvalidRequest(
                "mdmInfo: id 1 to 100 characters, name up to 100, metadata up to 255".to_owned(),
            ));
        }
        if r.notification_url.as_ref().is_some_and(|u| u.len() > 512)
            || r.notification_auth_token
                .as_ref()
                .is_some_and(|t| t.len() > 512)
        {
            return Err(Error::InvalidRequest(
                "the notification URL and secret are at most 512 characters".to_owned(),
            ));
        }
        json_body(&self.0)
    }
    fn checks_mdm_info(&self) -> bool {
        false
    }
    parse_as!("client config", ClientConfig);
}

/// `GET service/config`: limits and URLs (no token needed).
#[derive(Clone, Debug, Default)]
pub struct GetServiceConfig;

impl Endpoint for GetServiceConfig {
    type Output = ServiceConfig;
    fn method(&self) -> http::Method {
        http::Method::GET
    }
    fn target(&self) -> String {
        "service/config".to_owned()
    }
    fn authenticated(&self) -> bool {
        false
    }
    parse_as!("service config", ServiceConfig);
}

/// Filters of `GET assets`.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct AssetFilter {
    /// One product.
    pub adam_id: Option<String>,
    /// `STDQ` or `PLUS`.
    pub pricing_param: Option<PricingParam>,
    /// `App` or `Book`.
    pub product_type: Option<String>,
    /// Only revocable (or only irrevocable) assets.
    pub revocable: Option<bool>,
    /// Only device-assignable (or only user-only) assets.
    pub device_assignable: Option<bool>,
    /// At most this many available.
    pub max_available_count: Option<i64>,
    /// At least this many available.
    pub min_available_count: Option<i64>,
    /// At most this many assigned.
    pub max_assigned_count: Option<i64>,
    /// At least this many assigned.
    pub min_assigned_count: Option<i64>,
    /// Unlimited assets apart (`true`), left out (`false`), or among the
    /// others (absent).
    pub unlimited: Option<bool>,
}

/// `GET assets`: one page of the organisation's assets.
#[derive(Clone, Debug, Default)]
pub struct GetAssets {
    /// Filters.
    pub filter: AssetFilter,
    /// The page (from 0).
    pub page_index: u32,
}

impl Endpoint for GetAssets {
    type Output = AssetsPage;
    fn method(&self) -> http::Method {
        http::Method::GET
    }
    fn target(&self) -> String {
        let f = &self.filter;
        let mut q = Query::new("assets");
        q.opt("adamId", f.adam_id.as_deref());
        q.opt("deviceAssignable", f.device_assignable);
        q.opt("maxAssignedCount", f.max_assigned_count);
        q.opt("maxAvailableCount", f.max_available_count);
        q.opt("minAssignedCount", f.min_assigned_count);
        q.opt("minAvailableCount", f.min_available_count);
        q.push("pageIndex", &self.page_index.to_string());
        q.opt("pricingParam", f.pricing_param.as_ref());
        q.opt("productType", f.product_type.as_deref());
        q.opt("revocable", f.revocable);
        q.opt("unlimited", f.unlimited);
        q.text
    }
    parse_as!("assets", AssetsPage);
}

/// Filters of `GET assignments`.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct AssignmentFilter {
    /// One product.
    pub adam_id: Option<String>,
    /// One user.
    pub client_user_id: Option<String>,
    /// One device.
    pub serial_number: Option<String>,
    /// `STDQ` or `PLUS`.
    pub pricing_param: Option<PricingParam>,
    /// Only what changed since this `versionId` (a first page's).
    pub since_version_id: Option<String>,
}

/// `GET assignments`: one page of license assignments.
#[derive(Clone, Debug, Default)]
pub struct GetAssignments {
    /// Filters.
    pub filter: AssignmentFilter,
    /// The page (from 0).
    pub page_index: u32,
}

impl Endpoint for GetAssignments {
    type Output = AssignmentsPage;
    fn method(&self) -> http::Method {
        http::Method::GET
    }
    fn target(&self) -> String {
        let f = &self.filter;
        let mut q = Query::new("assignments");
        q.opt("adamId", f.adam_id.as_deref());
        q.opt("clientUserId", f.client_user_id.as_deref());
        q.push("pageIndex", &self.page_index.to_string());
        q.opt("pricingParam", f.pricing_param.as_ref());
        q.opt("serialNumber", f.serial_number.as_deref());
        q.opt("sinceVersionId", f.since_version_id.as_deref());
        q.text
    }
    parse_as!("assignments", AssignmentsPage);
}

fn check_manage(r: &ManageAssetsRequest) -> Result<()> {
    if r.assets.is_empty() {
        return Err(Error::InvalidRequest("no assets".to_owned()));
    }
    if r.serial_numbers.is_empty() && r.client_user_ids.is_empty() {
        return Err(Error::InvalidRequest(
            "neither serial numbers nor client user ids".to_owned(),
        ));
    }
    Ok(())
}

/// `POST assets/associate`: give licenses to devices or users
/// (asynchronous: answers an event id).
#[derive(Clone, Debug, Default)]
pub struct Associate(pub ManageAssetsRequest);

impl Endpoint for Associate {
    type Output = EventResponse;
    fn method(&self) -> http::Method {
        http::Method::POST
    }
    fn target(&self) -> String {
        "assets/associate".to_owned()
    }
    fn body(&self) -> Result<Option<Vec<u8>>> {
        check_manage(&self.0)?;
        json_body(&self.0)
    }
    parse_as!("associate", EventResponse);
}

/// `POST assets/disassociate`: take licenses back from devices or users
/// (asynchronous).
#[derive(Clone, Debug, Default)]
pub struct Disassociate(pub ManageAssetsRequest);

impl Endpoint for Disassociate {
    type Output = EventResponse;
    fn method(&self) -> http::Method {
        http::Method::POST
    }
    fn target(&self) -> String {
        "assets/disassociate".to_owned()
    }
    fn body(&self) -> Result<Option<Vec<u8>>> {
        check_manage(&self.0)?;
        json_body(&self.0)
    }
    parse_as!("disassociate", EventResponse);
}

/// `POST assets/revoke`: every revocable license of these devices or
/// users (asynchronous).
#[derive(Clone, Debug, Default)]
pub struct Revoke(pub RevokeAssetsRequest);

impl Endpoint for Revoke {
    type Output = EventResponse;
    fn method(&self) -> http::Method {
        http::Method::POST
    }
    fn target(&self) -> String {
        "assets/revoke".to_owned()
    }
    fn body(&self) -> Result<Option<Vec<u8>>> {
        if self.0.serial_numbers.is_empty() && self.0.client_user_ids.is_empty() {
            return Err(Error::InvalidRequest(
                "neither serial numbers nor client user ids".to_owned(),
            ));
        }
        json_body(&self.0)
    }
    parse_as!("revoke", EventResponse);
}

/// `GET status?eventId=`: how an asynchronous job is doing.
#[derive(Clone, Debug, Default)]
pub struct GetEventStatus {
    /// The job.
    pub event_id: String,
}

impl Endpoint for GetEventStatus {
    type Output = EventStatus;
    fn method(&self) -> http::Method {
        http::Method::GET
    }
    fn target(&self) -> String {
        let mut q = Query::new("status");
        q.push("eventId", &self.event_id);
        q.text
    }
    parse_as!("event status", EventStatus);
}

fn json_body<T: serde::Serialize>(v: &T) -> Result<Option<Vec<u8>>> {
    serde_json::to_vec(v)
        .map(Some)
        .map_err(|e| Error::InvalidRequest(e.to_string()))
}

#[cfg(test)]
mod tests;
