//! `AvailableOSUpdates` and `OSUpdateStatus`: software updates a device
//! offers, and how their download and installation are going.
//!
//! Sources: Apple, `mdm/commands/system.update.available.yaml` and
//! `mdm/commands/system.update.status.yaml` in
//! <https://github.com/apple/device-management> (`responsekeys`), and the
//! `AvailableOSUpdatesResponse` and `OSUpdateStatusResponse` pages of Apple's
//! Device Management documentation.

use pippin_plist::{Date, Dictionary};

use super::CommandResult;
use super::codec::Structure;
use crate::error::Result;

structure! {
    /// The response to an `AvailableOSUpdates` command:
    /// `AvailableOSUpdatesResponse`.
    #[derive(Clone, Debug, Default, PartialEq)]
    pub struct AvailableOSUpdatesResult {
        /// `AvailableOSUpdates` (required): the updates the device can install.
        updates: Vec<AvailableOSUpdate> = "AvailableOSUpdates",
    }
}

impl CommandResult for AvailableOSUpdatesResult {
    const REQUEST_TYPE: &'static str = "AvailableOSUpdates";

    fn from_payload(payload: Dictionary) -> Result<Self> {
        Self::decode(payload, "")
    }

    fn to_payload(&self) -> Dictionary {
        self.encode()
    }
}

structure! {
    /// `AvailableOSUpdatesResponse.AvailableOSUpdatesItem`: one update.
    ///
    /// Apple's schema marks most keys required, but several are macOS-only
    /// (`HumanReadableNameLocale`, `MetadataURL`, `AppIdentifiersToClose`) and
    /// iOS 11 sends neither those nor `IsSecurityResponse`; only `ProductKey`
    /// is required here.
    #[derive(Clone, Debug, Default, PartialEq)]
    pub struct AvailableOSUpdate {
        /// `ProductKey` (required): the key that names the update in
        /// `ScheduleOSUpdate` and `OSUpdateStatus`.
        product_key: String = "ProductKey",
        /// `HumanReadableName`, in the user's locale.
        human_readable_name: Option<String> = "HumanReadableName",
        /// `HumanReadableNameLocale`: the locale of `HumanReadableName` (macOS).
        human_readable_name_locale: Option<String> = "HumanReadableNameLocale",
        /// `MetadataURL`: where to fetch more localized names (macOS).
        metadata_url: Option<String> = "MetadataURL",
        /// `ProductName`, e.g. `iOS`.
        product_name: Option<String> = "ProductName",
        /// `Version`.
        version: Option<String> = "Version",
        /// `Build`.
        build: Option<String> = "Build",
        /// `DownloadSize`, in bytes.
        download_size: Option<u64> = "DownloadSize",
        /// `InstallSize`, in bytes.
        install_size: Option<u64> = "InstallSize",
        /// `AppIdentifiersToClose`: apps to quit before installing (macOS).
        app_identifiers_to_close: Option<Vec<String>> = "AppIdentifiersToClose",
        /// `IsCritical`.
        is_critical: Option<bool> = "IsCritical",
        /// `IsConfigDataUpdate`: an update of configuration data (macOS).
        is_config_data_update: Option<bool> = "IsConfigDataUpdate",
        /// `IsFirmwareUpdate` (macOS).
        is_firmware_update: Option<bool> = "IsFirmwareUpdate",
        /// `IsMajorOSUpdate`: e.g. 10.15.x to 11 (macOS).
        is_major_os_update: Option<bool> = "IsMajorOSUpdate",
        /// `IsSecurityResponse`: a Rapid Security Response.
        is_security_response: Option<bool> = "IsSecurityResponse",
        /// `RestartRequired`.
        restart_required: Option<bool> = "RestartRequired",
        /// `AllowsInstallLater`.
        allows_install_later: Option<bool> = "AllowsInstallLater",
        /// `RequiresBootstrapToken` (Apple silicon, macOS 11+).
        requires_bootstrap_token: Option<bool> = "RequiresBootstrapToken",
        /// `DeferredUntil`: when the deferred update will install (macOS 10.12.4+).
        deferred_until: Option<Date> = "DeferredUntil",
        /// `SupplementalBuildVersion`: the Rapid Security Response build.
        supplemental_build_version: Option<String> = "SupplementalBuildVersion",
        /// `SupplementalOSVersionExtra`: the Rapid Security Response suffix, e.g. `(a)`.
        supplemental_os_version_extra: Option<String> = "SupplementalOSVersionExtra",
    }
}

structure! {
    /// The response to an `OSUpdateStatus` command: `OSUpdateStatusResponse`.
    #[derive(Clone, Debug, Default, PartialEq)]
    pub struct OSUpdateStatusResult {
        /// `OSUpdateStatus` (required): one entry per update in progress.
        statuses: Vec<OSUpdateStatusItem> = "OSUpdateStatus",
    }
}

impl CommandResult for OSUpdateStatusResult {
    const REQUEST_TYPE: &'static str = "OSUpdateStatus";

    fn from_payload(payload: Dictionary) -> Result<Self> {
        Self::decode(payload, "")
    }

    fn to_payload(&self) -> Dictionary {
        self.encode()
    }
}

structure! {
    /// `OSUpdateStatusResponse.OSUpdateStatusItem`: the state of one update.
    #[derive(Clone, Debug, PartialEq)]
    pub struct OSUpdateStatusItem {
        /// `ProductKey` (required).
        product_key: String = "ProductKey",
        /// `IsDownloaded` (required).
        is_downloaded: bool = "IsDownloaded",
        /// `DownloadPercentComplete` (required): progress from `0.0` to `1.0`
        /// (accepted as an integer too).
        download_percent_complete: f64 = "DownloadPercentComplete",
        /// `Status` (required).
        status: OSUpdateStatus = "Status",
        /// `MaxDeferrals`: how often the user may defer (macOS 12.3+).
        max_deferrals: Option<i64> = "MaxDeferrals",
        /// `DeferralsRemaining` (macOS 12.3+).
        deferrals_remaining: Option<i64> = "DeferralsRemaining",
        /// `NextScheduledInstall`: the next installation attempt (macOS 12.3+).
        next_scheduled_install: Option<Date> = "NextScheduledInstall",
        /// `PastNotifications`: when the user was told about the update (macOS 12.3+).
        past_notifications: Option<Vec<Date>> = "PastNotifications",
    }
}

string_enum! {
    /// `OSUpdateStatusItem.Status`.
    pub enum OSUpdateStatus {
        /// `Idle`.
        Idle = "Idle",
        /// `Downloading`: downloading, then preparing.
        Downloading = "Downloading",
        /// `Installing`.
        Installing = "Installing",
    }
}
