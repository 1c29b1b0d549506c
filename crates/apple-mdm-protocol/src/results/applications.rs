//! `InstalledApplicationList` and `ManagedApplicationList`: the apps on a device.
//!
//! Sources: Apple, `mdm/commands/application.installed.list.yaml` and
//! `mdm/commands/application.managed.list.yaml` in
//! <https://github.com/apple/device-management> (`responsekeys`), and the
//! `InstalledApplicationListResponse` and `ManagedApplicationListResponse`
//! pages of Apple's Device Management documentation.

use std::collections::BTreeMap;

use pippin_plist::Dictionary;

use super::CommandResult;
use super::codec::Structure;
use crate::error::Result;

structure! {
    /// The response to an `InstalledApplicationList` command:
    /// `InstalledApplicationListResponse`.
    #[derive(Clone, Debug, Default, PartialEq)]
    pub struct InstalledApplicationListResult {
        /// `InstalledApplicationList` (required): one entry per installed app.
        applications: Vec<InstalledApplication> = "InstalledApplicationList",
    }
}

impl CommandResult for InstalledApplicationListResult {
    const REQUEST_TYPE: &'static str = "InstalledApplicationList";

    fn from_payload(payload: Dictionary) -> Result<Self> {
        Self::decode(payload, "")
    }

    fn to_payload(&self) -> Dictionary {
        self.encode()
    }
}

structure! {
    /// `InstalledApplicationListResponse.InstalledApplicationListItem`.
    ///
    /// Every key is optional: macOS omits `Identifier` for bundles without
    /// one, and the download-state and store keys come only from iOS/tvOS.
    #[derive(Clone, Debug, Default, PartialEq)]
    pub struct InstalledApplication {
        /// `Identifier`: the bundle identifier (always present on iOS and tvOS).
        identifier: Option<String> = "Identifier",
        /// `Name`.
        name: Option<String> = "Name",
        /// `ShortVersion`: `CFBundleShortVersionString`.
        short_version: Option<String> = "ShortVersion",
        /// `Version`: `CFBundleVersion`.
        version: Option<String> = "Version",
        /// `BundleSize`: the static bundle size in bytes.
        bundle_size: Option<u64> = "BundleSize",
        /// `DynamicSize`: the size of the app's data in bytes (iOS, tvOS).
        dynamic_size: Option<u64> = "DynamicSize",
        /// `ExternalVersionIdentifier`: the App Store version identifier, to
        /// compare with the store's `externalId`.
        external_version_identifier: Option<u64> = "ExternalVersionIdentifier",
        /// `DistributorIdentifier`: the alternative marketplace's distributor (iOS 17.4+).
        distributor_identifier: Option<String> = "DistributorIdentifier",
        /// `IsValidated`: an enterprise app has been validated and can run.
        is_validated: Option<bool> = "IsValidated",
        /// `Installing`: the app is still downloading.
        installing: Option<bool> = "Installing",
        /// `AppStoreVendable`.
        app_store_vendable: Option<bool> = "AppStoreVendable",
        /// `DeviceBasedVPP`: installed without an Apple Account.
        device_based_vpp: Option<bool> = "DeviceBasedVPP",
        /// `BetaApp`: part of the Apple Beta Software Program.
        beta_app: Option<bool> = "BetaApp",
        /// `AdHocCodeSigned`.
        ad_hoc_code_signed: Option<bool> = "AdHocCodeSigned",
        /// `HasUpdateAvailable`.
        has_update_available: Option<bool> = "HasUpdateAvailable",
        /// `DownloadFailed`.
        download_failed: Option<bool> = "DownloadFailed",
        /// `DownloadWaiting`.
        download_waiting: Option<bool> = "DownloadWaiting",
        /// `DownloadPaused`.
        download_paused: Option<bool> = "DownloadPaused",
        /// `DownloadCancelled`.
        download_cancelled: Option<bool> = "DownloadCancelled",
        /// `IsAppClip` (iOS 16+).
        is_app_clip: Option<bool> = "IsAppClip",
        /// `Source`: `Declarative Device Management` for apps it manages.
        source: Option<String> = "Source",
    }
}

structure! {
    /// The response to a `ManagedApplicationList` command:
    /// `ManagedApplicationListResponse`.
    #[derive(Clone, Debug, Default, PartialEq)]
    pub struct ManagedApplicationListResult {
        /// `ManagedApplicationList` (required): bundle identifier → status,
        /// sorted by bundle identifier.
        applications: BTreeMap<String, ManagedApplication> = "ManagedApplicationList",
    }
}

impl CommandResult for ManagedApplicationListResult {
    const REQUEST_TYPE: &'static str = "ManagedApplicationList";

    fn from_payload(payload: Dictionary) -> Result<Self> {
        Self::decode(payload, "")
    }

    fn to_payload(&self) -> Dictionary {
        self.encode()
    }
}

structure! {
    /// `ManagedApplicationListResponse.ManagedApplicationListItem`: the
    /// management state of one app.
    ///
    /// Apple's schema marks every key required, but devices omit some (iOS 12
    /// sends no `UnusedRedemptionCode` unless there is one); only `Status` is
    /// required here.
    #[derive(Clone, Debug, PartialEq)]
    pub struct ManagedApplication {
        /// `Status` (required).
        status: ManagedApplicationStatus = "Status",
        /// `ManagementFlags`: `1` remove the app with the MDM profile, `4`
        /// prevent backup of its data.
        management_flags: Option<i64> = "ManagementFlags",
        /// `UnusedRedemptionCode`: reported once, when a paid app was already
        /// bought by the user.
        unused_redemption_code: Option<String> = "UnusedRedemptionCode",
        /// `HasConfiguration`.
        has_configuration: Option<bool> = "HasConfiguration",
        /// `HasFeedback`: the app has managed feedback for the server.
        has_feedback: Option<bool> = "HasFeedback",
        /// `IsValidated`.
        is_validated: Option<bool> = "IsValidated",
        /// `ExternalVersionIdentifier`: the App Store version identifier.
        external_version_identifier: Option<u64> = "ExternalVersionIdentifier",
    }
}

string_enum! {
    /// `ManagedApplicationListItem.Status`. `UserInstalledApp`, `UserRejected`,
    /// `UpdateRejected`, `ManagementRejected` and `Failed` are reported once.
    pub enum ManagedApplicationStatus {
        /// `Queued`: scheduled for installation.
        Queued = "Queued",
        /// `NeedsRedemption`: needs a redemption code.
        NeedsRedemption = "NeedsRedemption",
        /// `Redeeming`: redeeming the code.
        Redeeming = "Redeeming",
        /// `Prompting`: asking the user to install.
        Prompting = "Prompting",
        /// `PromptingForLogin`: asking for App Store credentials.
        PromptingForLogin = "PromptingForLogin",
        /// `ValidatingPurchase`.
        ValidatingPurchase = "ValidatingPurchase",
        /// `PromptingForUpdate`.
        PromptingForUpdate = "PromptingForUpdate",
        /// `PromptingForUpdateLogin`.
        PromptingForUpdateLogin = "PromptingForUpdateLogin",
        /// `PromptingForManagement`: asking the user to let an installed app
        /// become managed.
        PromptingForManagement = "PromptingForManagement",
        /// `ValidatingUpdate`.
        ValidatingUpdate = "ValidatingUpdate",
        /// `Updating`.
        Updating = "Updating",
        /// `Installing`.
        Installing = "Installing",
        /// `Managed`: installed and managed.
        Managed = "Managed",
        /// `ManagedButUninstalled`: managed, removed by the user.
        ManagedButUninstalled = "ManagedButUninstalled",
        /// `Unknown`.
        Unknown = "Unknown",
        /// `UserInstalledApp`: the user installed it first.
        UserInstalledApp = "UserInstalledApp",
        /// `UserRejected`: the user declined the installation.
        UserRejected = "UserRejected",
        /// `UpdateRejected`: the user declined the update.
        UpdateRejected = "UpdateRejected",
        /// `ManagementRejected`: the user declined management.
        ManagementRejected = "ManagementRejected",
        /// `Failed`: the installation failed.
        Failed = "Failed",
    }
}
