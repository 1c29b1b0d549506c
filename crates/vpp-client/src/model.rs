//! The service's JSON objects, one type per object in Apple's "Apps and
//! Books for Organizations" reference (VPP License Management 2.0), with
//! the field names Apple uses.
//!
//! Every response type also reads `errorNumber` and `errorMessage`: an
//! error body that parsed as a (nearly empty) page would otherwise look
//! like "no assets". [`crate::Api::handle_response`] turns them into
//! errors.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `MdmInfo`: who manages the content token. Set with
/// [`ClientConfigRequest`]; echoed on every later response.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct MdmInfo {
    /// A stable identifier of the MDM server (at most 100 characters).
    #[serde(default)]
    pub id: String,
    /// Free text about the server (at most 255 characters).
    #[serde(default)]
    pub metadata: String,
    /// The product's name (at most 100 characters).
    #[serde(default)]
    pub name: String,
}

/// A pricing parameter: `STDQ` (standard) or `PLUS` (high quality, for
/// books). Kept as Apple writes it, so a value this crate does not know is
/// passed back unchanged.
#[derive(Clone, Debug, Default, Deserialize, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize)]
#[serde(transparent)]
pub struct PricingParam(pub String);

impl PricingParam {
    /// `STDQ`.
    pub fn stdq() -> Self {
        Self("STDQ".to_owned())
    }

    /// `PLUS`.
    pub fn plus() -> Self {
        Self("PLUS".to_owned())
    }

    /// As written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for PricingParam {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// `ClientConfigResponse` (`GET`/`POST client/config`).
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientConfig {
    /// The storefront country (`US`).
    #[serde(
        rename = "countryISO2ACode",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub country_iso2a_code: Option<String>,
    /// `volumestore` or `enterprisestore`: the `platform` of metadata lookups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_platform: Option<String>,
    /// The location (library) the token belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location_name: Option<String>,
    /// Who manages the token, once someone has said so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mdm_info: Option<MdmInfo>,
    /// The shared secret Apple sends with notifications.
    #[serde(default, skip_serializing)]
    pub notification_auth_token: Option<String>,
    /// Where Apple posts notifications.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_url: Option<String>,
    /// The notification types subscribed to (the request calls them
    /// `notificationTypes`).
    #[serde(default)]
    pub subscribed_notification_types: Vec<String>,
    /// When the token expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_expiration_date: Option<String>,
    /// The location's identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub u_id: Option<String>,
    /// Apple Business Manager or Apple School Manager.
    #[serde(
        rename = "websiteURL",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub website_url: Option<String>,
    #[serde(default, skip_serializing)]
    pub(crate) error_number: Option<i64>,
    #[serde(default, skip_serializing)]
    pub(crate) error_message: Option<String>,
}

/// The notification types a server may subscribe to.
pub mod notification_types {
    /// License association results.
    pub const ASSET_MANAGEMENT: &str = "ASSET_MANAGEMENT";
    /// License count changes (purchases, transfers, refunds).
    pub const ASSET_COUNT: &str = "ASSET_COUNT";
    /// User registration results.
    pub const USER_MANAGEMENT: &str = "USER_MANAGEMENT";
    /// A user accepted an invitation.
    pub const USER_ASSOCIATED: &str = "USER_ASSOCIATED";
    /// Sent when notifications are configured.
    pub const TEST_NOTIFICATION: &str = "TEST_NOTIFICATION";
}

/// `ClientConfigRequest` (`POST client/config`). The notification URL and
/// secret go together; `notification_types` replaces the whole
/// subscription.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientConfigRequest {
    /// Who manages the token from now on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mdm_info: Option<MdmInfo>,
    /// The secret Apple sends back as `Authorization: Bearer …`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_auth_token: Option<String>,
    /// Where Apple posts notifications (HTTPS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_url: Option<String>,
    /// The complete set of subscriptions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_types: Option<Vec<String>>,
}

/// `ResponseErrorCode` in the service configuration.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorCodeEntry {
    /// The number.
    pub error_number: i64,
    /// What it means.
    #[serde(default)]
    pub error_message: String,
}

/// `ServiceConfigResponse` (`GET service/config`): limits and URLs, which
/// Apple asks clients to read again every few minutes.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceConfig {
    /// The error numbers the service uses.
    #[serde(default)]
    pub error_codes: Vec<ErrorCodeEntry>,
    /// Request limits by name (`maxSerialNumbers`, `maxAssets`, ...).
    #[serde(default)]
    pub limits: BTreeMap<String, i64>,
    /// The notification types offered.
    #[serde(default)]
    pub notification_types: Vec<String>,
    /// Endpoint URLs by name (`contentMetadataLookup`, `getAssets`, ...).
    #[serde(default)]
    pub urls: BTreeMap<String, String>,
    #[serde(default, skip_serializing)]
    pub(crate) error_number: Option<i64>,
    #[serde(default, skip_serializing)]
    pub(crate) error_message: Option<String>,
}

/// Request limits, with Apple's published values when the service does not
/// state one.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct Limits {
    /// Assets per associate/disassociate request (25).
    pub max_assets: usize,
    /// Serial numbers per associate/disassociate request (1000).
    pub max_serial_numbers: usize,
    /// Client user ids per associate/disassociate request (1000).
    pub max_client_user_ids: usize,
    /// Requests per second per token (15).
    pub max_requests_per_second: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_assets: 25,
            max_serial_numbers: 1000,
            max_client_user_ids: 1000,
            max_requests_per_second: 15,
        }
    }
}

impl ServiceConfig {
    /// The request limits, each clamped to a sane range (1..=10,000).
    pub fn limits(&self) -> Limits {
        let d = Limits::default();
        let get = |k: &str, dflt: usize| {
            self.limits
                .get(k)
                .and_then(|v| usize::try_from(*v).ok())
                .map_or(dflt, |v| v.clamp(1, 10_000))
        };
        Limits {
            max_assets: get("maxAssets", d.max_assets),
            max_serial_numbers: get("maxSerialNumbers", d.max_serial_numbers),
            max_client_user_ids: get("maxClientUserIds", d.max_client_user_ids),
            max_requests_per_second: u32::try_from(get(
                "maxRequestPerSecond",
                d.max_requests_per_second as usize,
            ))
            .unwrap_or(d.max_requests_per_second),
        }
    }

    /// The content metadata lookup URL, if the service gives one.
    pub fn content_metadata_lookup(&self) -> Option<&str> {
        self.urls.get("contentMetadataLookup").map(String::as_str)
    }
}

/// `ResponseAsset` (and `UnlimitedResponseAsset`, which has no counts):
/// an app or book the organisation owns, with its license counts.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Asset {
    /// The product's App Store identifier (a string).
    pub adam_id: String,
    /// `STDQ` or `PLUS`.
    #[serde(default)]
    pub pricing_param: PricingParam,
    /// `App` or `Book`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_type: Option<String>,
    /// Licenses assigned.
    #[serde(default)]
    pub assigned_count: i64,
    /// Licenses free (absent for unlimited assets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_count: Option<i64>,
    /// Licenses retired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired_count: Option<i64>,
    /// Licenses owned (absent for unlimited assets; free apps without the
    /// `unlimited` filter report 2147483647).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_count: Option<i64>,
    /// Whether licenses can go to devices (by serial number).
    #[serde(default)]
    pub device_assignable: bool,
    /// Whether licenses can be taken back.
    #[serde(default)]
    pub revocable: bool,
    /// `iOS`, `macOS`, `tvOS`, `watchOS`, `visionOS`.
    #[serde(default)]
    pub supported_platforms: Vec<String>,
}

/// `GetAssetsResponse`: one page of assets.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AssetsPage {
    /// The assets on this page.
    #[serde(default)]
    pub assets: Vec<Asset>,
    /// Assets with unlimited licenses, when asked for separately.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unlimited_assets: Vec<Asset>,
    /// This page's index (from 0).
    pub current_page_index: i64,
    /// The next page's index; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page_index: Option<i64>,
    /// Records on this page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,
    /// Pages in all (may change during a walk).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_pages: Option<i64>,
    /// Changes whenever the data changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// Who manages the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mdm_info: Option<MdmInfo>,
    /// When the token expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_expiration_date: Option<String>,
    /// The location's identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub u_id: Option<String>,
    #[serde(default, skip_serializing)]
    pub(crate) error_number: Option<i64>,
    #[serde(default, skip_serializing)]
    pub(crate) error_message: Option<String>,
}

/// `Assignment`: a license of an asset given to a device (serial number)
/// or a user (client user id).
#[derive(Clone, Debug, Default, Deserialize, Eq, Hash, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Assignment {
    /// The product.
    pub adam_id: String,
    /// `STDQ` or `PLUS`.
    #[serde(default)]
    pub pricing_param: PricingParam,
    /// The user, for a user license.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_user_id: Option<String>,
    /// The device, for a device license.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<String>,
}

/// `GetAssignmentsResponse`: one page of assignments.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AssignmentsPage {
    /// The assignments on this page.
    #[serde(default)]
    pub assignments: Vec<Assignment>,
    /// This page's index (from 0).
    pub current_page_index: i64,
    /// The next page's index; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page_index: Option<i64>,
    /// Records on this page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,
    /// Pages in all (may change during a walk).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_pages: Option<i64>,
    /// Changes whenever the data changes; the first page's is the
    /// `sinceVersionId` of the next incremental walk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// Who manages the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mdm_info: Option<MdmInfo>,
    /// When the token expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_expiration_date: Option<String>,
    /// The location's identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub u_id: Option<String>,
    #[serde(default, skip_serializing)]
    pub(crate) error_number: Option<i64>,
    #[serde(default, skip_serializing)]
    pub(crate) error_message: Option<String>,
}

/// `Asset` in requests: which product, at which pricing.
#[derive(Clone, Debug, Default, Deserialize, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AssetRef {
    /// The product.
    pub adam_id: String,
    /// `STDQ` or `PLUS`.
    pub pricing_param: PricingParam,
}

/// `ManageAssetsRequest` (`assets/associate`, `assets/disassociate`).
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ManageAssetsRequest {
    /// The products (at most `maxAssets`).
    pub assets: Vec<AssetRef>,
    /// Users (at most `maxClientUserIds`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub client_user_ids: Vec<String>,
    /// Devices (at most `maxSerialNumbers`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub serial_numbers: Vec<String>,
}

/// `RevokeAssetsRequest` (`assets/revoke`): every revocable license of
/// these users or devices.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RevokeAssetsRequest {
    /// Users.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub client_user_ids: Vec<String>,
    /// Devices.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub serial_numbers: Vec<String>,
}

/// `EventResponse`: the identifier of the asynchronous job a management
/// request started.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventResponse {
    /// Ask `status?eventId=` about it.
    #[serde(default)]
    pub event_id: String,
    /// Who manages the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mdm_info: Option<MdmInfo>,
    /// When the token expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_expiration_date: Option<String>,
    /// The location's identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub u_id: Option<String>,
    #[serde(default, skip_serializing)]
    pub(crate) error_number: Option<i64>,
    #[serde(default, skip_serializing)]
    pub(crate) error_message: Option<String>,
}

/// `eventStatus`.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub enum EventState {
    /// Still running.
    #[serde(rename = "PENDING")]
    Pending,
    /// Every task succeeded.
    #[serde(rename = "COMPLETE")]
    Complete,
    /// Some or all tasks failed (`failures` says which).
    #[serde(rename = "FAILED")]
    Failed,
    /// A value this crate does not know.
    #[serde(other, rename = "UNKNOWN")]
    Unknown,
}

/// `ErrorResponse.errorInfo`: what a failure concerns.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorInfo {
    /// Products.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assets: Vec<AssetRef>,
    /// Users.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub client_user_ids: Vec<String>,
    /// Devices.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub serial_numbers: Vec<String>,
}

/// `ErrorResponse`, as an element of an event's `failures` or a
/// notification's `error`.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorResponse {
    /// The error number (9709: not enough licenses, ...).
    #[serde(default)]
    pub error_number: i64,
    /// What went wrong.
    #[serde(default)]
    pub error_message: String,
    /// What it concerns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_info: Option<ErrorInfo>,
}

/// `StatusResponse` (`GET status?eventId=`).
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventStatus {
    /// `PENDING`, `COMPLETE` or `FAILED`.
    pub event_status: EventState,
    /// `ASSOCIATE`, `DISASSOCIATE`, `REVOKE`, ...
    #[serde(default)]
    pub event_type: String,
    /// The failed tasks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<ErrorResponse>,
    /// Tasks done.
    #[serde(default)]
    pub num_completed: i64,
    /// Tasks in all.
    #[serde(default)]
    pub num_requested: i64,
    /// Who manages the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mdm_info: Option<MdmInfo>,
    /// When the token expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_expiration_date: Option<String>,
    /// The location's identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub u_id: Option<String>,
    #[serde(default, skip_serializing)]
    pub(crate) error_number: Option<i64>,
    #[serde(default, skip_serializing)]
    pub(crate) error_message: Option<String>,
}

impl EventStatus {
    /// The serial numbers named by its failures.
    pub fn failed_serial_numbers(&self) -> impl Iterator<Item = (&str, &ErrorResponse)> {
        self.failures.iter().flat_map(|f| {
            f.error_info
                .iter()
                .flat_map(|i| i.serial_numbers.iter())
                .map(move |s| (s.as_str(), f))
        })
    }
}

/// What every response carries besides its content, for the checks that
/// apply to all of them.
pub trait Envelope {
    /// `mdmInfo`.
    fn mdm_info(&self) -> Option<&MdmInfo>;
    /// `tokenExpirationDate`.
    fn token_expiration_date(&self) -> Option<&str>;
    /// `errorNumber` and `errorMessage`, when an error body was read as
    /// this type.
    fn error(&self) -> (Option<i64>, Option<&str>);
}

macro_rules! envelope {
    ($($t:ty),*) => {$(
        impl Envelope for $t {
            fn mdm_info(&self) -> Option<&MdmInfo> {
                self.mdm_info.as_ref()
            }
            fn token_expiration_date(&self) -> Option<&str> {
                self.token_expiration_date.as_deref()
            }
            fn error(&self) -> (Option<i64>, Option<&str>) {
                (self.error_number, self.error_message.as_deref())
            }
        }
    )*};
}

envelope!(
    ClientConfig,
    AssetsPage,
    AssignmentsPage,
    EventResponse,
    EventStatus
);

impl Envelope for ServiceConfig {
    fn mdm_info(&self) -> Option<&MdmInfo> {
        None
    }
    fn token_expiration_date(&self) -> Option<&str> {
        None
    }
    fn error(&self) -> (Option<i64>, Option<&str>) {
        (self.error_number, self.error_message.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_from_service_config() {
        let c: ServiceConfig = serde_json::from_str(
            r#"{"limits":{"maxAssets":10,"maxSerialNumbers":0,"maxRequestPerSecond":15,"maxClientUserIds":99999999}}"#,
        )
        .unwrap();
        let l = c.limits();
        assert_eq!(l.max_assets, 10);
        assert_eq!(l.max_serial_numbers, 1);
        assert_eq!(l.max_client_user_ids, 10_000);
        assert_eq!(l.max_requests_per_second, 15);
        assert_eq!(ServiceConfig::default().limits(), Limits::default());
    }

    #[test]
    fn unknown_event_states_are_kept_apart() {
        let s: EventStatus =
            serde_json::from_str(r#"{"eventStatus":"PAUSED","eventType":"ASSOCIATE"}"#).unwrap();
        assert_eq!(s.event_status, EventState::Unknown);
    }
}
