//! `ProfileList`: the configuration profiles installed on a device.
//!
//! Source: Apple, `mdm/commands/profile.list.yaml` in
//! <https://github.com/apple/device-management> (`responsekeys`), and the
//! `ProfileListResponse` page of Apple's Device Management documentation
//! (<https://developer.apple.com/documentation/devicemanagement/profilelistresponse>).

use pippin_plist::Dictionary;

use super::CommandResult;
use super::codec::Structure;
use crate::error::Result;

structure! {
    /// The response to a `ProfileList` command: `ProfileListResponse`.
    #[derive(Clone, Debug, Default, PartialEq)]
    pub struct ProfileListResult {
        /// `ProfileList` (required): one entry per installed profile.
        profiles: Vec<ProfileInfo> = "ProfileList",
    }
}

impl CommandResult for ProfileListResult {
    const REQUEST_TYPE: &'static str = "ProfileList";

    fn from_payload(payload: Dictionary) -> Result<Self> {
        Self::decode(payload, "")
    }

    fn to_payload(&self) -> Dictionary {
        self.encode()
    }
}

structure! {
    /// `ProfileListResponse.ProfileListItem`: one installed profile.
    #[derive(Clone, Debug, Default, PartialEq)]
    pub struct ProfileInfo {
        /// `PayloadIdentifier` (required): the profile's reverse-DNS identifier.
        payload_identifier: String = "PayloadIdentifier",
        /// `PayloadUUID` (required).
        payload_uuid: String = "PayloadUUID",
        /// `PayloadVersion`: the profile format version, `1`.
        payload_version: Option<i64> = "PayloadVersion",
        /// `PayloadDisplayName`.
        payload_display_name: Option<String> = "PayloadDisplayName",
        /// `PayloadDescription`.
        payload_description: Option<String> = "PayloadDescription",
        /// `PayloadOrganization`.
        payload_organization: Option<String> = "PayloadOrganization",
        /// `PayloadRemovalDisallowed`: only removable with the removal
        /// passcode (honoured on supervised devices).
        payload_removal_disallowed: Option<bool> = "PayloadRemovalDisallowed",
        /// `HasRemovalPasscode`.
        has_removal_passcode: Option<bool> = "HasRemovalPasscode",
        /// `IsEncrypted`: the profile was encrypted; `PayloadContent` is then absent.
        is_encrypted: Option<bool> = "IsEncrypted",
        /// `IsManaged`: installed by this MDM server (not sent for supervised devices).
        is_managed: Option<bool> = "IsManaged",
        /// `Source`: `Declarative Device Management` for profiles it manages.
        source: Option<String> = "Source",
        /// `PayloadContent`: summaries of the profile's payloads.
        payload_content: Option<Vec<PayloadContentInfo>> = "PayloadContent",
        /// `SignerCertificates`: the signing certificate then intermediates,
        /// DER-encoded X.509.
        signer_certificates: Option<Vec<Vec<u8>>> = "SignerCertificates",
    }
}

structure! {
    /// `ProfileListResponse.ProfileListItem.PayloadContentItem`: one payload
    /// of an installed profile.
    ///
    /// Apple's schema makes `PayloadUUID` and `PayloadVersion` required, but
    /// iOS 11 omits `PayloadUUID`; only `PayloadType` and
    /// `PayloadIdentifier` are required here.
    #[derive(Clone, Debug, Default, PartialEq)]
    pub struct PayloadContentInfo {
        /// `PayloadType` (required), e.g. `com.apple.wifi.managed`.
        payload_type: String = "PayloadType",
        /// `PayloadIdentifier` (required).
        payload_identifier: String = "PayloadIdentifier",
        /// `PayloadUUID`.
        payload_uuid: Option<String> = "PayloadUUID",
        /// `PayloadVersion`.
        payload_version: Option<i64> = "PayloadVersion",
        /// `PayloadDisplayName`.
        payload_display_name: Option<String> = "PayloadDisplayName",
        /// `PayloadDescription`.
        payload_description: Option<String> = "PayloadDescription",
        /// `PayloadOrganization`.
        payload_organization: Option<String> = "PayloadOrganization",
    }
}
