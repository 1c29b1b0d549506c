//! Typed results of commands, decoded from a command report's payload.
//!
//! When a device answers a command with `Status` `Acknowledged`, the rest of
//! its report — everything but the identity keys (`UDID`, `UserID`,
//! `EnrollmentID`, `EnrollmentUserID`), `Status`, `CommandUUID`, `ErrorChain`
//! and `RequestType` — is the command's result. Each type here decodes one
//! command's result as Apple's schema describes it (the `responsekeys` of the
//! command's file under `mdm/commands/` in
//! <https://github.com/apple/device-management>), and encodes it back the way
//! a device would send it.
//!
//! Decoding is lenient where devices are: keys Apple documents as required
//! but which real devices omit are optional, numbers documented as `<real>`
//! are accepted as `<integer>`, and every dictionary keeps the keys it does
//! not type in an `extra` field, so nothing a device sends is lost and
//! `to_payload` gives it all back. It is strict about types: a key holding
//! the wrong type is an [`Error::WrongType`](crate::Error::WrongType) naming
//! the key's path, e.g. `QueryResponses.OSVersion` or
//! `ProfileList[2].PayloadContent[0].PayloadType`.
//!
//! ```
//! use apple_mdm_protocol::results::{decode_result, AnyResult, CommandResult, SecurityInfoResult};
//! use pippin_plist::{Dictionary, Value};
//!
//! let mut info = Dictionary::new();
//! info.insert("FDE_Enabled", true);
//! info.insert("FDE_PersonalRecoveryKeyCMS", Value::Data(vec![0x30, 0x80]));
//! let mut payload = Dictionary::new();
//! payload.insert("SecurityInfo", info);
//!
//! let result = SecurityInfoResult::from_payload(payload.clone())?;
//! assert_eq!(result.security_info.fde_enabled, Some(true));
//! assert_eq!(result.to_payload(), payload);
//!
//! // Or dispatch on the request type of the queued command:
//! match decode_result("SecurityInfo", payload)? {
//!     Some(AnyResult::SecurityInfo(r)) => {
//!         assert!(r.security_info.fde_personal_recovery_key_cms.is_some())
//!     }
//!     _ => unreachable!(),
//! }
//! assert!(decode_result("RestartDevice", Dictionary::new())?.is_none());
//! # Ok::<(), apple_mdm_protocol::Error>(())
//! ```

use pippin_plist::Dictionary;

use crate::error::Result;

#[macro_use]
mod macros;

mod applications;
mod certificates;
pub(crate) mod codec;
mod device_information;
mod location;
mod os_updates;
mod profiles;
mod security_info;

pub use applications::{
    InstalledApplication, InstalledApplicationListResult, ManagedApplication,
    ManagedApplicationListResult, ManagedApplicationStatus,
};
pub use certificates::{CertificateInfo, CertificateListResult};
pub use device_information::{
    DeviceInformationResult, OSUpdateSettings, QueryResponses, ServiceSubscription,
};
pub use location::DeviceLocationResult;
pub use os_updates::{
    AvailableOSUpdate, AvailableOSUpdatesResult, OSUpdateStatus, OSUpdateStatusItem,
    OSUpdateStatusResult,
};
pub use profiles::{PayloadContentInfo, ProfileInfo, ProfileListResult};
pub use security_info::{
    BootstrapTokenAllowed, ExternalBootLevel, FirewallApplication, FirewallSettings,
    FirmwarePasswordStatus, ManagementStatus, SecureBoot, SecureBootLevel, SecurityInfo,
    SecurityInfoResult,
};

/// The typed result of one command.
pub trait CommandResult: Sized {
    /// The `RequestType` of the command this answers.
    const REQUEST_TYPE: &'static str;

    /// Decodes the result from a report's payload (the report dictionary
    /// without its identity, status, command UUID, error chain and request
    /// type keys).
    fn from_payload(payload: Dictionary) -> Result<Self>;

    /// The payload a device would send for this result, `extra` keys
    /// included; [`from_payload`](Self::from_payload) gives the same value back.
    fn to_payload(&self) -> Dictionary;
}

/// The result of any command this crate has a typed result for.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum AnyResult {
    /// `DeviceInformation` (boxed: it is by far the largest).
    DeviceInformation(Box<DeviceInformationResult>),
    /// `SecurityInfo` (boxed).
    SecurityInfo(Box<SecurityInfoResult>),
    /// `InstalledApplicationList`.
    InstalledApplicationList(InstalledApplicationListResult),
    /// `ManagedApplicationList`.
    ManagedApplicationList(ManagedApplicationListResult),
    /// `ProfileList`.
    ProfileList(ProfileListResult),
    /// `CertificateList`.
    CertificateList(CertificateListResult),
    /// `AvailableOSUpdates`.
    AvailableOSUpdates(AvailableOSUpdatesResult),
    /// `OSUpdateStatus`.
    OSUpdateStatus(OSUpdateStatusResult),
    /// `DeviceLocation`.
    DeviceLocation(DeviceLocationResult),
}

/// Decodes the payload of a report answering a command of `request_type`.
///
/// `Ok(None)` if this crate has no typed result for that request type (the
/// caller keeps the payload as it is); an error if it has one and the
/// payload does not fit it.
pub fn decode_result(request_type: &str, payload: Dictionary) -> Result<Option<AnyResult>> {
    fn typed<T: CommandResult>(
        payload: Dictionary,
        wrap: fn(T) -> AnyResult,
    ) -> Result<Option<AnyResult>> {
        T::from_payload(payload).map(|r| Some(wrap(r)))
    }
    match request_type {
        DeviceInformationResult::REQUEST_TYPE => {
            typed(payload, |r| AnyResult::DeviceInformation(Box::new(r)))
        }
        SecurityInfoResult::REQUEST_TYPE => {
            typed(payload, |r| AnyResult::SecurityInfo(Box::new(r)))
        }
        InstalledApplicationListResult::REQUEST_TYPE => {
            typed(payload, AnyResult::InstalledApplicationList)
        }
        ManagedApplicationListResult::REQUEST_TYPE => {
            typed(payload, AnyResult::ManagedApplicationList)
        }
        ProfileListResult::REQUEST_TYPE => typed(payload, AnyResult::ProfileList),
        CertificateListResult::REQUEST_TYPE => typed(payload, AnyResult::CertificateList),
        AvailableOSUpdatesResult::REQUEST_TYPE => typed(payload, AnyResult::AvailableOSUpdates),
        OSUpdateStatusResult::REQUEST_TYPE => typed(payload, AnyResult::OSUpdateStatus),
        DeviceLocationResult::REQUEST_TYPE => typed(payload, AnyResult::DeviceLocation),
        _ => Ok(None),
    }
}

impl AnyResult {
    /// The `RequestType` of the command this answers.
    pub fn request_type(&self) -> &'static str {
        match self {
            Self::DeviceInformation(_) => DeviceInformationResult::REQUEST_TYPE,
            Self::SecurityInfo(_) => SecurityInfoResult::REQUEST_TYPE,
            Self::InstalledApplicationList(_) => InstalledApplicationListResult::REQUEST_TYPE,
            Self::ManagedApplicationList(_) => ManagedApplicationListResult::REQUEST_TYPE,
            Self::ProfileList(_) => ProfileListResult::REQUEST_TYPE,
            Self::CertificateList(_) => CertificateListResult::REQUEST_TYPE,
            Self::AvailableOSUpdates(_) => AvailableOSUpdatesResult::REQUEST_TYPE,
            Self::OSUpdateStatus(_) => OSUpdateStatusResult::REQUEST_TYPE,
            Self::DeviceLocation(_) => DeviceLocationResult::REQUEST_TYPE,
        }
    }

    /// The payload a device would send for this result.
    pub fn to_payload(&self) -> Dictionary {
        match self {
            Self::DeviceInformation(r) => r.to_payload(),
            Self::SecurityInfo(r) => r.to_payload(),
            Self::InstalledApplicationList(r) => r.to_payload(),
            Self::ManagedApplicationList(r) => r.to_payload(),
            Self::ProfileList(r) => r.to_payload(),
            Self::CertificateList(r) => r.to_payload(),
            Self::AvailableOSUpdates(r) => r.to_payload(),
            Self::OSUpdateStatus(r) => r.to_payload(),
            Self::DeviceLocation(r) => r.to_payload(),
        }
    }
}
