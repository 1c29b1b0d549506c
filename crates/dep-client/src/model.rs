//! The JSON objects of the DEP API, one type per object, named as in
//! Apple's [Device Assignment] documentation.
//!
//! Every object keeps the keys it does not know in an `extra` map, so that
//! a newer service version loses nothing on the way through; enumerated
//! values keep unknown strings in an `Other` variant.
//!
//! [Device Assignment]: https://developer.apple.com/documentation/devicemanagement/device-assignment

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Defines an enumeration of the string values a DEP field takes, with an
/// `Other` variant for values this crate does not know. Parsing maps every
/// known string to its variant, so `Other` never holds a known one.
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )*
            /// A value this crate does not know, as sent.
            Other(String),
        }

        impl $name {
            /// The value as it appears on the wire.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $text, )*
                    Self::Other(s) => s,
                }
            }

            /// The variant for `s` (`Other` if unknown).
            pub fn parse(s: &str) -> Self {
                match s {
                    $( $text => Self::$variant, )*
                    other => Self::Other(other.to_owned()),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self::parse(s)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl serde::de::Visitor<'_> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str("a string")
                    }
                    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<$name, E> {
                        Ok($name::parse(v))
                    }
                }
                d.deserialize_str(V)
            }
        }
    };
}

pub(crate) use string_enum;

string_enum! {
    /// A device record's `op_type` in a sync response: what happened to the
    /// device since the cursor.
    pub enum OpType {
        /// Assigned to this MDM server.
        Added = "added",
        /// Its record changed (profile, assignment, ...).
        Modified = "modified",
        /// Unassigned from this MDM server (or released by the organisation).
        Deleted = "deleted",
    }
}

string_enum! {
    /// A device's `profile_status`.
    pub enum ProfileStatus {
        /// No profile assigned.
        Empty = "empty",
        /// A profile is assigned, not yet fetched by the device.
        Assigned = "assigned",
        /// The device fetched its profile.
        Pushed = "pushed",
        /// The profile was removed.
        Removed = "removed",
    }
}

string_enum! {
    /// A per-device result of profile assignment, removal, disowning and
    /// device details.
    pub enum DeviceStatus {
        /// Done.
        Success = "SUCCESS",
        /// The device is not assigned to this server (or does not exist).
        NotAccessible = "NOT_ACCESSIBLE",
        /// It failed; try again later.
        Failed = "FAILED",
        /// The service is throttling this device: try again later, after
        /// the answer's `retry_after_seconds` when it has one. Apple's
        /// "Assign a Profile": sent from `X-Server-Protocol-Version` 9 on
        /// ([`THROTTLED_SINCE_VERSION`](crate::THROTTLED_SINCE_VERSION)).
        Throttled = "THROTTLED",
    }
}

/// A device (Apple: `Device`), as the fetch, sync and details endpoints
/// return it.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct Device {
    /// The serial number.
    pub serial_number: String,
    /// The model name (`MacBook Pro`, `iPad Air`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// A description of the device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The asset tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset_tag: Option<String>,
    /// Its colour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
    /// `iPad`, `iPhone`, `iPod`, `Mac`, `AppleTV`, `Vision`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_family: Option<String>,
    /// `iOS`, `iPadOS`, `OSX`, `tvOS`, `visionOS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    /// The profile status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_status: Option<ProfileStatus>,
    /// The assigned profile's UUID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_uuid: Option<String>,
    /// When a profile was assigned (ISO 8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_assign_time: Option<String>,
    /// When the profile was pushed to the device (ISO 8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_push_time: Option<String>,
    /// When the device was assigned to this server (ISO 8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_assigned_date: Option<String>,
    /// Who assigned it (an email address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_assigned_by: Option<String>,
    /// The MDM migration deadline (ISO 8601; protocol version 8 and later).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mdm_migration_deadline: Option<String>,
    /// Sync only: what happened to the device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op_type: Option<OpType>,
    /// Sync only: when it happened (ISO 8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op_date: Option<String>,
    /// Device details only: `SUCCESS` or `NOT_ACCESSIBLE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_status: Option<DeviceStatus>,
    /// Keys this crate does not know, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A page of the device list from fetch (`POST /server/devices`) or sync
/// (`POST /devices/sync`); Apple: `FetchDeviceResponse`.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct DevicePage {
    /// The devices, oldest operation first.
    #[serde(default)]
    pub devices: Vec<Device>,
    /// Where the next request continues from.
    pub cursor: String,
    /// Whether more devices are waiting (ask again at once with `cursor`).
    #[serde(default)]
    pub more_to_follow: bool,
    /// How far the listing has got (ISO 8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetched_until: Option<String>,
    /// Keys this crate does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A URL the account may use (Apple: `Url`).
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct AccountUrl {
    /// The path, such as `/server/devices`.
    #[serde(default)]
    pub uri: String,
    /// The methods allowed on it.
    #[serde(default)]
    pub http_method: Vec<String>,
    /// The `limit` range it accepts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<Limit>,
    /// Keys this crate does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A ranged limit (Apple: `Limit`).
#[derive(Clone, Copy, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct Limit {
    /// The default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<i64>,
    /// The maximum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum: Option<i64>,
}

/// The account behind a server token, from `GET /account` (Apple:
/// `AccountDetail`).
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct Account {
    /// The MDM server's name in Apple Business Manager.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// The MDM server's identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_uuid: Option<String>,
    /// The Apple Account that generated the token in use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_id: Option<String>,
    /// The legacy name of `admin_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facilitator_id: Option<String>,
    /// The organisation's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_name: Option<String>,
    /// The organisation's email address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_email: Option<String>,
    /// The organisation's phone number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_phone: Option<String>,
    /// The organisation's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_address: Option<String>,
    /// The customer ID (protocol version 3 and later).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
    /// A hash of the organisation ID (protocol version 3 and later).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id_hash: Option<String>,
    /// `edu`, `org` or `tvprovider`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_type: Option<String>,
    /// `v1` or `v2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_version: Option<String>,
    /// The endpoints available to this account.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<AccountUrl>,
    /// Keys this crate does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An enrollment profile (Apple: `Profile`): what `POST /profile` defines
/// and `GET /profile` returns.
///
/// ```
/// let mut p = dep_client::Profile::new("Staff Macs", "https://mdm.example.com/mdm/enroll");
/// p.is_supervised = Some(true);
/// p.is_mdm_removable = Some(false);
/// p.skip_setup_items = vec!["Siri".into(), "Privacy".into()];
/// p.devices = vec!["C02XXXXXXXX1".into()];
/// let json = serde_json::to_value(&p).unwrap();
/// assert_eq!(json["profile_name"], "Staff Macs");
/// assert_eq!(json["is_mdm_removable"], false);
/// ```
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct Profile {
    /// A human-readable name (required when defining).
    #[serde(default)]
    pub profile_name: String,
    /// The MDM server's enrollment URL (required when defining).
    #[serde(default)]
    pub url: String,
    /// Only in `GET /profile` answers: the profile's identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_uuid: Option<String>,
    /// Whether the device may pair with a computer (deprecated in iOS 13).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_pairing: Option<bool>,
    /// Whether the device is supervised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_supervised: Option<bool>,
    /// Shared iPad.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_multi_user: Option<bool>,
    /// Whether the user may skip enrollment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_mandatory: Option<bool>,
    /// Whether Setup Assistant waits for a `DeviceConfigured` command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub await_device_configured: Option<bool>,
    /// Whether the user may remove the MDM profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_mdm_removable: Option<bool>,
    /// Whether Setup Assistant advances on its own (tvOS, macOS 11+).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_advance_setup: Option<bool>,
    /// The support phone number shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support_phone_number: Option<String>,
    /// The support email address shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support_email_address: Option<String>,
    /// A string that identifies the organisation's services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_magic: Option<String>,
    /// Trust anchors for the MDM server URL: base64 DER certificates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub anchor_certs: Vec<String>,
    /// Hosts a supervised device may pair with: base64 DER certificates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub supervising_host_certs: Vec<String>,
    /// Setup Assistant panes to skip.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skip_setup_items: Vec<String>,
    /// Department or location name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    /// Serial numbers to assign the profile to when defining it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<String>,
    /// ISO 639 language code (2 or 3 letters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// ISO 3166-1 region code (2 letters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// A web page for authentication before enrollment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration_web_url: Option<String>,
    /// Keys this crate does not know (or newer ones, such as
    /// `is_return_to_service`), sent and received as they are.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Profile {
    /// A profile with a name and enrollment URL and nothing else set.
    pub fn new(name: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            profile_name: name.into(),
            url: url.into(),
            ..Self::default()
        }
    }
}

/// The answer to defining a profile (Apple: `DefineProfileResponse`).
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct DefineProfileResponse {
    /// The new profile's identifier.
    pub profile_uuid: String,
    /// The result for each device the definition assigned.
    #[serde(default)]
    pub devices: BTreeMap<String, DeviceStatus>,
    /// Keys this crate does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The answer to assigning a profile (Apple: `AssignProfileResponse`).
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct AssignProfileResponse {
    /// The profile assigned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_uuid: Option<String>,
    /// The result for each device.
    #[serde(default)]
    pub devices: BTreeMap<String, DeviceStatus>,
    /// How long to wait, at least, before assigning the `THROTTLED` devices
    /// again. Apple's "Assign a Profile": present when a device was
    /// throttled, from `X-Server-Protocol-Version` 10 on
    /// ([`RETRY_AFTER_SINCE_VERSION`](crate::RETRY_AFTER_SINCE_VERSION));
    /// a client announcing 9 gets `THROTTLED` without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u64>,
    /// Keys this crate does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl AssignProfileResponse {
    /// The serial numbers whose result is `status`.
    pub fn with_status(&self, status: &DeviceStatus) -> Vec<&str> {
        self.devices
            .iter()
            .filter(|(_, s)| *s == status)
            .map(|(k, _)| k.as_str())
            .collect()
    }
}

/// Per-device results (Apple: `DeviceStatusResponse`, `ClearProfileResponse`):
/// the answer to removing a profile and to disowning devices.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct DeviceStatusResponse {
    /// The result for each device.
    #[serde(default)]
    pub devices: BTreeMap<String, DeviceStatus>,
    /// Keys this crate does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The answer to `POST /devices` (Apple: `DeviceListResponse`): each
/// serial number asked for, with its record and `response_status`.
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct DeviceDetailsResponse {
    /// The records, by serial number.
    #[serde(default)]
    pub devices: BTreeMap<String, Device>,
    /// Keys this crate does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The request to enable Activation Lock (Apple: `ActivationLockRequest`).
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct ActivationLockRequest {
    /// The device's serial number.
    pub device: String,
    /// The bypass code's escrow key: 64 hex characters (the PBKDF2 hash of
    /// the bypass code). Without it the device is locked to the person who
    /// created the MDM server in the portal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escrow_key: Option<String>,
    /// A message shown on the device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost_message: Option<String>,
}

/// The answer to enabling Activation Lock (Apple:
/// `ActivationLockStatusResponse`).
#[derive(Clone, Debug, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct ActivationLockResponse {
    /// The device's serial number.
    pub serial_number: String,
    /// `SUCCESS`, `NOT_ACCESSIBLE`, `ORG_NOT_SUPPORTED`,
    /// `DEVICE_NOT_SUPPORTED`, `DEVICE_ALREADY_LOCKED` or `FAILED`.
    pub response_status: String,
    /// Keys this crate does not know.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn opt_text() -> impl Strategy<Value = Option<String>> {
        proptest::option::of("\\PC{0,12}")
    }

    fn extra() -> impl Strategy<Value = Map<String, Value>> {
        proptest::collection::btree_map("x_[a-z]{1,6}", "\\PC{0,8}", 0..3)
            .prop_map(|m| m.into_iter().map(|(k, v)| (k, Value::String(v))).collect())
    }

    fn device() -> impl Strategy<Value = Device> {
        (
            ("[A-Z0-9]{1,12}", opt_text(), opt_text(), opt_text()),
            (
                proptest::option::of(prop_oneof![
                    Just(OpType::Added),
                    Just(OpType::Modified),
                    Just(OpType::Deleted),
                    "[a-z]{1,5}".prop_map(|s| OpType::parse(&s)),
                ]),
                proptest::option::of("[a-z]{1,8}".prop_map(|s| ProfileStatus::parse(&s))),
                opt_text(),
            ),
            extra(),
        )
            .prop_map(
                |((serial, model, color, os), (op, status, op_date), extra)| Device {
                    serial_number: serial,
                    model,
                    color,
                    os,
                    op_type: op,
                    profile_status: status,
                    op_date,
                    extra,
                    ..Device::default()
                },
            )
    }

    proptest! {
        #[test]
        fn device_page_roundtrip(
            devices in proptest::collection::vec(device(), 0..5),
            cursor in "[0-9a-f]{0,40}",
            more in any::<bool>(),
            extra in extra(),
        ) {
            let page = DevicePage { devices, cursor, more_to_follow: more, fetched_until: None, extra };
            let json = serde_json::to_vec(&page).unwrap();
            let back: DevicePage = serde_json::from_slice(&json).unwrap();
            prop_assert_eq!(back, page);
        }

        #[test]
        fn profile_roundtrip(
            name in "\\PC{0,12}",
            url in "\\PC{0,20}",
            sup in proptest::option::of(any::<bool>()),
            skip in proptest::collection::vec("[A-Za-z]{1,8}", 0..4),
            devices in proptest::collection::vec("[A-Z0-9]{12}", 0..4),
            dept in opt_text(),
            extra in extra(),
        ) {
            let p = Profile {
                profile_name: name,
                url,
                is_supervised: sup,
                skip_setup_items: skip,
                devices,
                department: dept,
                extra,
                ..Profile::default()
            };
            let json = serde_json::to_vec(&p).unwrap();
            let back: Profile = serde_json::from_slice(&json).unwrap();
            prop_assert_eq!(back, p);
        }

        #[test]
        fn status_roundtrip(s in "[A-Z_]{0,16}") {
            let st = DeviceStatus::parse(&s);
            prop_assert_eq!(st.as_str(), s.as_str());
            let json = serde_json::to_string(&st).unwrap();
            prop_assert_eq!(serde_json::from_str::<DeviceStatus>(&json).unwrap(), st);
        }
    }

    #[test]
    fn known_strings_never_other() {
        assert_eq!(OpType::parse("added"), OpType::Added);
        assert_eq!(DeviceStatus::parse("THROTTLED"), DeviceStatus::Throttled);
        assert_eq!(
            ProfileStatus::parse("weird"),
            ProfileStatus::Other("weird".into())
        );
        assert!(serde_json::from_str::<OpType>("3").is_err());
    }
}
