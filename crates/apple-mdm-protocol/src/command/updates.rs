//! Software updates: list, scan, schedule, status.

use pippin_plist::{Dictionary, Value};

use super::RequestType;
use super::wire::{dict_list, no_param_command, open, opt_enum, string_enum};
use crate::error::Result;
use crate::fields::DictBuilder;

no_param_command! {
    /// `AvailableOSUpdates`: Apple, "Queries the device for a list of available
    /// OS updates" (`mdm/commands/system.update.available.yaml`).
    ///
    /// On macOS the list is only as fresh as the last scan; send
    /// [`ScheduleOSUpdateScan`] first.
    pub struct AvailableOSUpdates = "AvailableOSUpdates";
}

no_param_command! {
    /// `OSUpdateStatus`: Apple, "Queries the device for the status of software
    /// updates" (`mdm/commands/system.update.status.yaml`).
    pub struct OSUpdateStatus = "OSUpdateStatus";
}

/// `ScheduleOSUpdateScan`: Apple, "Requests that the device perform a
/// background scan for OS updates" (`mdm/commands/system.update.scan.yaml`).
///
/// macOS only.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScheduleOSUpdateScan {
    /// `Force`: start the scan now rather than when the system chooses.
    /// Default `false`.
    pub force: Option<bool>,
    /// Keys this crate does not know, kept so that nothing is lost.
    pub extra: Dictionary,
}

impl RequestType for ScheduleOSUpdateScan {
    const REQUEST_TYPE: &'static str = "ScheduleOSUpdateScan";

    fn to_params(&self) -> Dictionary {
        DictBuilder::new()
            .opt("Force", self.force)
            .extra(&self.extra)
            .build()
    }

    fn from_params(params: Dictionary) -> Result<Self> {
        let mut f = open(params, "", &[])?;
        Ok(Self {
            force: f.opt_bool("Force")?,
            extra: f.rest(),
        })
    }
}

/// `ScheduleOSUpdate`: Apple, "This command allows the server to schedule an
/// OS update" (`mdm/commands/system.update.schedule.yaml`).
///
/// A device whose software updates are enforced by a declarative
/// configuration ignores it and answers with an informational error.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScheduleOSUpdate {
    /// `Updates` (required): the updates to download or install.
    pub updates: Vec<ScheduleOSUpdateItem>,
    /// Keys this crate does not know, kept so that nothing is lost.
    pub extra: Dictionary,
}

impl RequestType for ScheduleOSUpdate {
    const REQUEST_TYPE: &'static str = "ScheduleOSUpdate";

    fn to_params(&self) -> Dictionary {
        let updates = self
            .updates
            .iter()
            .map(|u| Value::Dictionary(u.to_dict()))
            .collect::<Vec<_>>();
        DictBuilder::new()
            .set("Updates", updates)
            .extra(&self.extra)
            .build()
    }

    fn from_params(params: Dictionary) -> Result<Self> {
        let mut f = open(params, "", &[])?;
        Ok(Self {
            updates: dict_list(&mut f, "", "Updates", ScheduleOSUpdateItem::from_dict)?,
            extra: f.rest(),
        })
    }
}

/// One entry of `ScheduleOSUpdate.Updates` (`UpdatesItem` in
/// `mdm/commands/system.update.schedule.yaml`): which update, and what to do
/// with it.
#[derive(Clone, Debug, PartialEq)]
pub struct ScheduleOSUpdateItem {
    /// `ProductKey`: the update's product key, as `AvailableOSUpdates`
    /// reports it.
    pub product_key: Option<String>,
    /// `ProductVersion` (iOS 11.3, macOS 12, tvOS 12.2): the version to
    /// install; required when `ProductKey` is absent. Not for Rapid Security
    /// Responses.
    pub product_version: Option<String>,
    /// `InstallAction` (required).
    pub install_action: InstallAction,
    /// `MaxUserDeferrals` (macOS 12): how many times the user may postpone,
    /// with [`InstallAction::InstallLater`] and minor updates only.
    pub max_user_deferrals: Option<u64>,
    /// `Priority` (macOS 12.3): download and preparation priority, minor
    /// updates only. Default `Low`.
    pub priority: Option<UpdatePriority>,
    /// Keys this crate does not know, kept so that nothing is lost.
    pub extra: Dictionary,
}

impl ScheduleOSUpdateItem {
    /// The update `product_key`, with `install_action`.
    pub fn product_key(product_key: impl Into<String>, install_action: InstallAction) -> Self {
        Self {
            product_key: Some(product_key.into()),
            product_version: None,
            install_action,
            max_user_deferrals: None,
            priority: None,
            extra: Dictionary::new(),
        }
    }

    /// The update to `product_version`, with `install_action`.
    pub fn product_version(
        product_version: impl Into<String>,
        install_action: InstallAction,
    ) -> Self {
        Self {
            product_key: None,
            product_version: Some(product_version.into()),
            install_action,
            max_user_deferrals: None,
            priority: None,
            extra: Dictionary::new(),
        }
    }

    fn to_dict(&self) -> Dictionary {
        DictBuilder::new()
            .opt("ProductKey", self.product_key.as_deref())
            .opt("ProductVersion", self.product_version.as_deref())
            .set("InstallAction", self.install_action.clone())
            .opt("MaxUserDeferrals", self.max_user_deferrals)
            .opt("Priority", self.priority.clone())
            .extra(&self.extra)
            .build()
    }

    fn from_dict(d: Dictionary, path: &str) -> Result<Self> {
        let mut f = open(d, path, &[])?;
        let product_key = f.opt_string("ProductKey")?;
        let product_version = f.opt_string("ProductVersion")?;
        let install_action = f.string("InstallAction")?;
        Ok(Self {
            product_key,
            product_version,
            install_action: install_action.into(),
            max_user_deferrals: f.opt_u64("MaxUserDeferrals")?,
            priority: opt_enum(&mut f, "Priority")?,
            extra: f.rest(),
        })
    }
}

string_enum! {
    /// `ScheduleOSUpdate.Updates[].InstallAction`.
    pub enum InstallAction {
        /// `Default`: download or install, depending on the update's state.
        Default = "Default",
        /// `DownloadOnly`: download without installing (macOS 11 and later on
        /// a Mac).
        DownloadOnly = "DownloadOnly",
        /// `InstallASAP`: on iOS and tvOS install an update already
        /// downloaded; on macOS download it and start the restart countdown.
        InstallASAP = "InstallASAP",
        /// `NotifyOnly` (macOS): download and tell the user through the App
        /// Store.
        NotifyOnly = "NotifyOnly",
        /// `InstallLater` (macOS): download and install later.
        InstallLater = "InstallLater",
        /// `InstallForceRestart` (macOS 11): `Default`, then force a restart
        /// if the update needs one; unsaved work may be lost.
        InstallForceRestart = "InstallForceRestart",
    }
}

string_enum! {
    /// `ScheduleOSUpdate.Updates[].Priority`.
    pub enum UpdatePriority {
        /// `Low`: the default, and what macOS before 12.3 always used.
        Low = "Low",
        /// `High`.
        High = "High",
    }
}
