//! The endpoints of the DEP API: one type per request, each knowing its
//! method, path, JSON body and how to read the answer ([`Endpoint`]).
//!
//! Limits follow Apple's documentation: a fetch or sync page holds at most
//! [`MAX_LIMIT`] devices (the `limit` is clamped to `1..=1000`), and a
//! request names at most [`MAX_DEVICES_PER_REQUEST`] serial numbers.

use std::borrow::Cow;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::model::{
    Account, ActivationLockRequest, ActivationLockResponse, AssignProfileResponse,
    DefineProfileResponse, DeviceDetailsResponse, DevicePage, DeviceStatusResponse, Profile,
};
use crate::session::Config;

/// The largest `limit` of a fetch or sync request (Apple's maximum).
pub const MAX_LIMIT: u32 = 1000;
/// The `limit` used when none is given: the maximum, for the fewest
/// round trips.
pub const DEFAULT_LIMIT: u32 = MAX_LIMIT;
/// The most serial numbers in one request (Apple: "limit requests to 1000
/// devices at a time").
pub const MAX_DEVICES_PER_REQUEST: usize = 1000;
/// The longest cursor accepted from the service (Apple documents up to
/// 1,000 characters; this leaves room).
pub const MAX_CURSOR_LEN: usize = 4096;
/// The most devices accepted in one page (ten times the largest `limit`
/// the service documents).
pub const MAX_PAGE_DEVICES: usize = 10_000;

/// A DEP API request and the type of its answer.
///
/// The [`Session`](crate::Session) turns an endpoint into an
/// `http::Request` (adding the session and protocol headers) and hands the
/// body of a successful answer to [`parse`](Self::parse).
pub trait Endpoint {
    /// The answer's type.
    type Output;

    /// A short name for error messages (`"fetch devices"`).
    fn name(&self) -> &'static str;

    /// The HTTP method (some depend on the configuration).
    fn method(&self, config: &Config) -> http::Method;

    /// The path and query, starting with `/`.
    fn path(&self) -> Cow<'_, str>;

    /// The JSON body, if the request has one.
    fn body(&self) -> Result<Option<Vec<u8>>>;

    /// Reads a successful answer's body.
    fn parse(&self, body: &[u8]) -> Result<Self::Output>;
}

fn json_body<T: Serialize>(value: &T) -> Result<Option<Vec<u8>>> {
    serde_json::to_vec(value)
        .map(Some)
        .map_err(|e| Error::InvalidRequest(e.to_string()))
}

fn parse_json<T: serde::de::DeserializeOwned>(what: &'static str, body: &[u8]) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| Error::invalid(what, e))
}

/// Checks a list of serial numbers: 1 to [`MAX_DEVICES_PER_REQUEST`],
/// none empty or over 64 characters.
fn check_serials(devices: &[String]) -> Result<()> {
    if devices.is_empty() {
        return Err(Error::InvalidRequest("no serial numbers given".to_owned()));
    }
    if devices.len() > MAX_DEVICES_PER_REQUEST {
        return Err(Error::InvalidRequest(format!(
            "{} serial numbers in one request; the DEP service takes at most {MAX_DEVICES_PER_REQUEST}",
            devices.len()
        )));
    }
    if let Some(bad) = devices
        .iter()
        .find(|s| s.is_empty() || s.len() > 64 || s.chars().any(char::is_control))
    {
        return Err(Error::InvalidRequest(format!(
            "`{}` is not a serial number",
            bad.escape_debug()
        )));
    }
    Ok(())
}

/// Reads and checks a device page: the cursor's length and the number of
/// devices.
pub(crate) fn parse_page(what: &'static str, body: &[u8]) -> Result<DevicePage> {
    let page: DevicePage = parse_json(what, body)?;
    if page.cursor.len() > MAX_CURSOR_LEN {
        return Err(Error::invalid(
            what,
            format!("a cursor of {} characters", page.cursor.len()),
        ));
    }
    if page.devices.len() > MAX_PAGE_DEVICES {
        return Err(Error::invalid(
            what,
            format!("{} devices in one page", page.devices.len()),
        ));
    }
    Ok(page)
}

/// `GET /account`: the account and MDM server behind the token.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub struct GetAccount;

impl Endpoint for GetAccount {
    type Output = Account;
    fn name(&self) -> &'static str {
        "account"
    }
    fn method(&self, _: &Config) -> http::Method {
        http::Method::GET
    }
    fn path(&self) -> Cow<'_, str> {
        Cow::Borrowed("/account")
    }
    fn body(&self) -> Result<Option<Vec<u8>>> {
        Ok(None)
    }
    fn parse(&self, body: &[u8]) -> Result<Account> {
        parse_json(self.name(), body)
    }
}

/// `POST /server/devices` (Apple: "Get a List of Devices"): every device
/// assigned to the server, a page at a time. Without a cursor it starts
/// from the beginning.
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct FetchDevices {
    /// Where to continue; `None` to start over.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Devices per page, `1..=1000`.
    pub limit: u32,
}

impl FetchDevices {
    /// A fetch from `cursor` with `limit` clamped to `1..=1000`.
    pub fn new(cursor: Option<String>, limit: u32) -> Self {
        Self {
            cursor,
            limit: limit.clamp(1, MAX_LIMIT),
        }
    }
}

impl Endpoint for FetchDevices {
    type Output = DevicePage;
    fn name(&self) -> &'static str {
        "fetch devices"
    }
    fn method(&self, _: &Config) -> http::Method {
        http::Method::POST
    }
    fn path(&self) -> Cow<'_, str> {
        Cow::Borrowed("/server/devices")
    }
    fn body(&self) -> Result<Option<Vec<u8>>> {
        json_body(&Self::new(self.cursor.clone(), self.limit))
    }
    fn parse(&self, body: &[u8]) -> Result<DevicePage> {
        parse_page(self.name(), body)
    }
}

/// `POST /devices/sync` (Apple: "Sync the List of Devices"): what changed
/// since `cursor`, each device with its `op_type` and `op_date`.
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct SyncDevices {
    /// Where to continue (required).
    pub cursor: String,
    /// Devices per page, `1..=1000`.
    pub limit: u32,
}

impl SyncDevices {
    /// A sync from `cursor` with `limit` clamped to `1..=1000`.
    pub fn new(cursor: impl Into<String>, limit: u32) -> Self {
        Self {
            cursor: cursor.into(),
            limit: limit.clamp(1, MAX_LIMIT),
        }
    }
}

impl Endpoint for SyncDevices {
    type Output = DevicePage;
    fn name(&self) -> &'static str {
        "sync devices"
    }
    fn method(&self, _: &Config) -> http::Method {
        http::Method::POST
    }
    fn path(&self) -> Cow<'_, str> {
        Cow::Borrowed("/devices/sync")
    }
    fn body(&self) -> Result<Option<Vec<u8>>> {
        if self.cursor.is_empty() {
            return Err(Error::InvalidRequest("sync needs a cursor".to_owned()));
        }
        json_body(&Self::new(self.cursor.clone(), self.limit))
    }
    fn parse(&self, body: &[u8]) -> Result<DevicePage> {
        parse_page(self.name(), body)
    }
}

/// `POST /devices` (Apple: "Get Device Details").
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct DeviceDetails {
    /// Serial numbers, at most 1000.
    pub devices: Vec<String>,
}

impl Endpoint for DeviceDetails {
    type Output = DeviceDetailsResponse;
    fn name(&self) -> &'static str {
        "device details"
    }
    fn method(&self, _: &Config) -> http::Method {
        http::Method::POST
    }
    fn path(&self) -> Cow<'_, str> {
        Cow::Borrowed("/devices")
    }
    fn body(&self) -> Result<Option<Vec<u8>>> {
        check_serials(&self.devices)?;
        json_body(self)
    }
    fn parse(&self, body: &[u8]) -> Result<DeviceDetailsResponse> {
        parse_json(self.name(), body)
    }
}

/// `POST /devices/disown` (Apple: "Disown Devices"): tells Apple the
/// organisation no longer owns these devices. This cannot be undone.
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct DisownDevices {
    /// Serial numbers, at most 1000.
    pub devices: Vec<String>,
}

impl Endpoint for DisownDevices {
    type Output = DeviceStatusResponse;
    fn name(&self) -> &'static str {
        "disown devices"
    }
    fn method(&self, _: &Config) -> http::Method {
        http::Method::POST
    }
    fn path(&self) -> Cow<'_, str> {
        Cow::Borrowed("/devices/disown")
    }
    fn body(&self) -> Result<Option<Vec<u8>>> {
        check_serials(&self.devices)?;
        json_body(self)
    }
    fn parse(&self, body: &[u8]) -> Result<DeviceStatusResponse> {
        parse_json(self.name(), body)
    }
}

/// `POST /profile` (Apple: "Define a Profile"): creates a profile and
/// assigns it to `profile.devices` (which may be empty).
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct DefineProfile {
    /// The profile.
    pub profile: Profile,
}

impl DefineProfile {
    /// Checks what Apple requires of a profile before sending it: a name,
    /// an `http(s)` URL, at most 1000 devices, a 2–3 letter language and a
    /// 2 letter region.
    pub fn check(&self) -> Result<()> {
        let p = &self.profile;
        let bad = |m: &str| Err(Error::InvalidRequest(format!("profile: {m}")));
        if p.profile_name.trim().is_empty() {
            return bad("profile_name is required");
        }
        if !(p.url.starts_with("https://") || p.url.starts_with("http://")) {
            return bad("url must be the http(s) enrollment URL");
        }
        if !p.devices.is_empty() {
            check_serials(&p.devices)?;
        }
        if let Some(l) = &p.language
            && !(2..=3).contains(&l.len())
        {
            return bad("language must be an ISO 639 code of 2 or 3 letters");
        }
        if let Some(r) = &p.region
            && r.len() != 2
        {
            return bad("region must be an ISO 3166-1 code of 2 letters");
        }
        if p.profile_uuid.is_some() {
            return bad("profile_uuid is assigned by the service, not sent");
        }
        Ok(())
    }
}

impl Endpoint for DefineProfile {
    type Output = DefineProfileResponse;
    fn name(&self) -> &'static str {
        "define profile"
    }
    fn method(&self, _: &Config) -> http::Method {
        http::Method::POST
    }
    fn path(&self) -> Cow<'_, str> {
        Cow::Borrowed("/profile")
    }
    fn body(&self) -> Result<Option<Vec<u8>>> {
        self.check()?;
        json_body(&self.profile)
    }
    fn parse(&self, body: &[u8]) -> Result<DefineProfileResponse> {
        parse_json(self.name(), body)
    }
}

/// `GET /profile?profile_uuid=…` (Apple: "Get a Profile").
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct GetProfile {
    /// The profile's identifier.
    pub profile_uuid: String,
}

impl Endpoint for GetProfile {
    type Output = Profile;
    fn name(&self) -> &'static str {
        "get profile"
    }
    fn method(&self, _: &Config) -> http::Method {
        http::Method::GET
    }
    fn path(&self) -> Cow<'_, str> {
        Cow::Owned(format!(
            "/profile?profile_uuid={}",
            crate::oauth::percent_encode(&self.profile_uuid)
        ))
    }
    fn body(&self) -> Result<Option<Vec<u8>>> {
        if self.profile_uuid.is_empty() {
            return Err(Error::InvalidRequest("no profile_uuid given".to_owned()));
        }
        Ok(None)
    }
    fn parse(&self, body: &[u8]) -> Result<Profile> {
        parse_json(self.name(), body)
    }
}

/// `POST /profile/devices` (Apple: "Assign a Profile"); Apple's simulator
/// takes `PUT`, so the method is [`Config::assign_method`].
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct AssignProfile {
    /// The profile.
    pub profile_uuid: String,
    /// Serial numbers, at most 1000.
    pub devices: Vec<String>,
}

impl Endpoint for AssignProfile {
    type Output = AssignProfileResponse;
    fn name(&self) -> &'static str {
        "assign profile"
    }
    fn method(&self, config: &Config) -> http::Method {
        config.assign_method.clone()
    }
    fn path(&self) -> Cow<'_, str> {
        Cow::Borrowed("/profile/devices")
    }
    fn body(&self) -> Result<Option<Vec<u8>>> {
        if self.profile_uuid.is_empty() {
            return Err(Error::InvalidRequest("no profile_uuid given".to_owned()));
        }
        check_serials(&self.devices)?;
        json_body(self)
    }
    fn parse(&self, body: &[u8]) -> Result<AssignProfileResponse> {
        parse_json(self.name(), body)
    }
}

/// `DELETE /profile/devices` (Apple: "Remove a Profile"): unassigns
/// whatever profile the devices have.
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct RemoveProfile {
    /// Serial numbers, at most 1000.
    pub devices: Vec<String>,
    /// Optional, and ignored by the service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile_uuid: Option<String>,
}

impl Endpoint for RemoveProfile {
    type Output = DeviceStatusResponse;
    fn name(&self) -> &'static str {
        "remove profile"
    }
    fn method(&self, _: &Config) -> http::Method {
        http::Method::DELETE
    }
    fn path(&self) -> Cow<'_, str> {
        Cow::Borrowed("/profile/devices")
    }
    fn body(&self) -> Result<Option<Vec<u8>>> {
        check_serials(&self.devices)?;
        json_body(self)
    }
    fn parse(&self, body: &[u8]) -> Result<DeviceStatusResponse> {
        parse_json(self.name(), body)
    }
}

/// `POST /device/activationlock` (Apple: "Activation Lock a Device").
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct ActivationLock {
    /// The request.
    pub request: ActivationLockRequest,
}

impl Endpoint for ActivationLock {
    type Output = ActivationLockResponse;
    fn name(&self) -> &'static str {
        "activation lock"
    }
    fn method(&self, _: &Config) -> http::Method {
        http::Method::POST
    }
    fn path(&self) -> Cow<'_, str> {
        Cow::Borrowed("/device/activationlock")
    }
    fn body(&self) -> Result<Option<Vec<u8>>> {
        check_serials(std::slice::from_ref(&self.request.device))?;
        if let Some(k) = &self.request.escrow_key
            && (k.len() != 64 || !k.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err(Error::InvalidRequest(
                "escrow_key must be 64 hex characters (the hashed bypass code)".to_owned(),
            ));
        }
        json_body(&self.request)
    }
    fn parse(&self, body: &[u8]) -> Result<ActivationLockResponse> {
        parse_json(self.name(), body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_json<E: Endpoint>(e: &E) -> serde_json::Value {
        serde_json::from_slice(&e.body().unwrap().unwrap()).unwrap()
    }

    #[test]
    fn limits_clamped() {
        assert_eq!(FetchDevices::new(None, 0).limit, 1);
        assert_eq!(FetchDevices::new(None, 5000).limit, 1000);
        let raw = FetchDevices {
            cursor: None,
            limit: 99_999,
        };
        assert_eq!(body_json(&raw), serde_json::json!({"limit": 1000}));
        assert_eq!(
            body_json(&SyncDevices::new("abc", 7)),
            serde_json::json!({"cursor": "abc", "limit": 7})
        );
        assert!(SyncDevices::new("", 7).body().is_err());
    }

    #[test]
    fn serial_lists() {
        let many: Vec<String> = (0..1001).map(|i| format!("S{i}")).collect();
        assert!(
            DeviceDetails {
                devices: many.clone()
            }
            .body()
            .is_err()
        );
        assert!(
            DeviceDetails {
                devices: many[..1000].to_vec()
            }
            .body()
            .is_ok()
        );
        assert!(DisownDevices { devices: vec![] }.body().is_err());
        assert!(
            RemoveProfile {
                devices: vec!["a\nb".into()],
                profile_uuid: None
            }
            .body()
            .is_err()
        );
    }

    #[test]
    fn methods_and_paths() {
        let mut config = Config::default();
        let a = AssignProfile {
            profile_uuid: "P".into(),
            devices: vec!["S".into()],
        };
        assert_eq!(a.method(&config), http::Method::POST);
        config.assign_method(http::Method::PUT);
        assert_eq!(a.method(&config), http::Method::PUT);
        assert_eq!(
            GetProfile {
                profile_uuid: "a b".into()
            }
            .path(),
            "/profile?profile_uuid=a%20b"
        );
        assert_eq!(
            body_json(&a),
            serde_json::json!({"profile_uuid": "P", "devices": ["S"]})
        );
    }

    #[test]
    fn profile_checks() {
        let ok = DefineProfile {
            profile: Profile::new("n", "https://mdm.example.com/enroll"),
        };
        assert!(ok.body().is_ok());
        let mut p = ok.clone();
        p.profile.url = "mdm.example.com".into();
        assert!(p.body().is_err());
        let mut p = ok.clone();
        p.profile.region = Some("USA".into());
        assert!(p.body().is_err());
        let mut p = ok;
        p.profile.profile_name = " ".into();
        assert!(p.body().is_err());
    }

    #[test]
    fn activation_lock_checks() {
        let mut a = ActivationLock {
            request: ActivationLockRequest {
                device: "C02".into(),
                escrow_key: Some("ab".into()),
                lost_message: None,
            },
        };
        assert!(a.body().is_err());
        a.request.escrow_key = Some("a".repeat(64));
        assert_eq!(
            body_json(&a),
            serde_json::json!({"device": "C02", "escrow_key": "a".repeat(64)})
        );
    }

    #[test]
    fn page_bounds() {
        let long = format!(
            r#"{{"cursor":"{}","more_to_follow":false}}"#,
            "a".repeat(5000)
        );
        assert!(parse_page("x", long.as_bytes()).is_err());
        assert!(parse_page("x", br#"{"more_to_follow":false}"#).is_err());
        let p = parse_page("x", br#"{"cursor":"c","devices":[{"serial_number":"S"}]}"#).unwrap();
        assert_eq!(p.devices[0].serial_number, "S");
        assert!(!p.more_to_follow);
    }
}
