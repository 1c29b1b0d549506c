//! Device actions: lock, erase, passcode, restart, shut down, Lost Mode,
//! Setup Assistant release, Activation Lock.

use pippin_plist::{Dictionary, Value};

use super::RequestType;
use super::wire::{no_param_command, open, opt_enum, opt_nested, string_array, string_enum};
use crate::error::{Error, Result};
use crate::fields::DictBuilder;

/// `DeviceLock`: Apple, "This command allows the server to immediately lock
/// the device" (`mdm/commands/device.lock.yaml`).
///
/// Needs the Device Lock and Passcode Removal right. On a Mac the `PIN` is
/// what unlocks it afterwards (macOS 11 and later report whether one is
/// required in the `PINRequiredForDeviceLock` query).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeviceLock {
    /// `PIN` (macOS 10.8): the six-character Find My PIN.
    pub pin: Option<String>,
    /// `Message` (iOS 7, macOS 10.14): text shown on the Lock screen.
    pub message: Option<String>,
    /// `PhoneNumber` (iOS 7, macOS 11.5 on Apple silicon): a phone number
    /// shown on the Lock screen.
    pub phone_number: Option<String>,
    /// Keys this crate does not know, kept so that nothing is lost.
    pub extra: Dictionary,
}

impl RequestType for DeviceLock {
    const REQUEST_TYPE: &'static str = "DeviceLock";

    fn to_params(&self) -> Dictionary {
        DictBuilder::new()
            .opt("PIN", self.pin.as_deref())
            .opt("Message", self.message.as_deref())
            .opt("PhoneNumber", self.phone_number.as_deref())
            .extra(&self.extra)
            .build()
    }

    fn from_params(params: Dictionary) -> Result<Self> {
        let mut f = open(params, "", &[])?;
        Ok(Self {
            pin: f.opt_string("PIN")?,
            message: f.opt_string("Message")?,
            phone_number: f.opt_string("PhoneNumber")?,
            extra: f.rest(),
        })
    }
}

/// `EraseDevice`: Apple, "This command allows the server to remotely erase the
/// device" (`mdm/commands/device.erase.yaml`).
///
/// Needs the Device Erase right.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EraseDevice {
    /// `PIN` (macOS 10.8): the six-character Find My PIN that unlocks the Mac
    /// after the erase.
    pub pin: Option<String>,
    /// `PreserveDataPlan` (iOS 11): keep the eSIM data plan. Default `false`.
    pub preserve_data_plan: Option<bool>,
    /// `DisallowProximitySetup` (iOS 11.3): skip Proximity Setup after the
    /// erase. Default `false`.
    pub disallow_proximity_setup: Option<bool>,
    /// `ObliterationBehavior` (macOS 12): what to do when Erase All Content
    /// and Settings cannot run.
    pub obliteration_behavior: Option<ObliterationBehavior>,
    /// `ReturnToService` (iOS 17, tvOS 18): re-enroll on its own after the
    /// erase.
    pub return_to_service: Option<ReturnToService>,
    /// Keys this crate does not know, kept so that nothing is lost.
    pub extra: Dictionary,
}

impl RequestType for EraseDevice {
    const REQUEST_TYPE: &'static str = "EraseDevice";

    fn to_params(&self) -> Dictionary {
        DictBuilder::new()
            .opt("PIN", self.pin.as_deref())
            .opt("PreserveDataPlan", self.preserve_data_plan)
            .opt("DisallowProximitySetup", self.disallow_proximity_setup)
            .opt("ObliterationBehavior", self.obliteration_behavior.clone())
            .opt(
                "ReturnToService",
                self.return_to_service
                    .as_ref()
                    .map(ReturnToService::to_dict),
            )
            .extra(&self.extra)
            .build()
    }

    fn from_params(params: Dictionary) -> Result<Self> {
        let mut f = open(params, "", &[])?;
        Ok(Self {
            pin: f.opt_string("PIN")?,
            preserve_data_plan: f.opt_bool("PreserveDataPlan")?,
            disallow_proximity_setup: f.opt_bool("DisallowProximitySetup")?,
            obliteration_behavior: opt_enum(&mut f, "ObliterationBehavior")?,
            return_to_service: opt_nested(
                &mut f,
                "",
                "ReturnToService",
                ReturnToService::from_dict,
            )?,
            extra: f.rest(),
        })
    }
}

string_enum! {
    /// `EraseDevice.ObliterationBehavior`: Apple, "This key defines the
    /// fallback behavior for erasing a device" — what a Mac with Apple silicon
    /// or a T2 chip does when Erase All Content and Settings (EACS) is not
    /// possible. Earlier Macs ignore it.
    pub enum ObliterationBehavior {
        /// `Default`: if the EACS preflight fails, answer `Error` and then
        /// obliterate anyway; if EACS itself fails, obliterate.
        Default = "Default",
        /// `DoNotObliterate`: never fall back to obliteration; a failed
        /// preflight answers `Error`.
        DoNotObliterate = "DoNotObliterate",
        /// `ObliterateWithWarning`: if the preflight fails, answer
        /// `Acknowledged` and obliterate; if EACS fails, obliterate.
        ObliterateWithWarning = "ObliterateWithWarning",
        /// `Always`: skip EACS and obliterate.
        Always = "Always",
    }
}

/// `EraseDeviceCommand.Command.ReturnToService`: Apple, "The configuration
/// settings for Return to Service" (`mdm/commands/device.erase.yaml`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReturnToService {
    /// `Enabled` (required): try to re-enroll automatically after the erase
    /// (Activation Lock must be off).
    pub enabled: bool,
    /// `WiFiProfileData` (data): a Wi-Fi profile to install after the erase;
    /// needed when there is no Ethernet.
    pub wifi_profile_data: Option<Vec<u8>>,
    /// `MDMProfileData` (data): the MDM enrollment profile to install after
    /// the erase; needed for devices not enrolled through Automated Device
    /// Enrollment.
    pub mdm_profile_data: Option<Vec<u8>>,
    /// Keys this crate does not know, kept so that nothing is lost.
    pub extra: Dictionary,
}

impl ReturnToService {
    fn to_dict(&self) -> Dictionary {
        DictBuilder::new()
            .set("Enabled", self.enabled)
            .opt_data("WiFiProfileData", self.wifi_profile_data.as_ref())
            .opt_data("MDMProfileData", self.mdm_profile_data.as_ref())
            .extra(&self.extra)
            .build()
    }

    fn from_dict(d: Dictionary, path: &str) -> Result<Self> {
        let mut f = open(d, path, &["WiFiProfileData", "MDMProfileData"])?;
        let enabled = f.opt_bool("Enabled")?;
        Ok(Self {
            enabled: f.require("Enabled", enabled)?,
            wifi_profile_data: f.opt_data("WiFiProfileData")?,
            mdm_profile_data: f.opt_data("MDMProfileData")?,
            extra: f.rest(),
        })
    }
}

/// `ClearPasscode`: Apple, "This command allows the server to clear the
/// passcode on the device" (`mdm/commands/passcode.clear.yaml`).
///
/// iOS, iPadOS, visionOS and watchOS; needs the Device Lock and Passcode
/// Removal right.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClearPasscode {
    /// `UnlockToken` (required, data): the token the device sent in its
    /// `TokenUpdate` check-in.
    pub unlock_token: Vec<u8>,
    /// Keys this crate does not know, kept so that nothing is lost.
    pub extra: Dictionary,
}

impl ClearPasscode {
    /// A command clearing the passcode with `unlock_token`.
    pub fn new(unlock_token: impl Into<Vec<u8>>) -> Self {
        Self {
            unlock_token: unlock_token.into(),
            extra: Dictionary::new(),
        }
    }
}

impl RequestType for ClearPasscode {
    const REQUEST_TYPE: &'static str = "ClearPasscode";

    fn to_params(&self) -> Dictionary {
        DictBuilder::new()
            .set("UnlockToken", Value::Data(self.unlock_token.clone()))
            .extra(&self.extra)
            .build()
    }

    fn from_params(params: Dictionary) -> Result<Self> {
        let mut f = open(params, "", &["UnlockToken"])?;
        Ok(Self {
            unlock_token: f.data("UnlockToken")?,
            extra: f.rest(),
        })
    }
}

/// `RestartDevice`: Apple, "The device will restart immediately"
/// (`mdm/commands/device.restart.yaml`).
///
/// Supervised iOS 10.3 and later, macOS 10.13 and later.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RestartDevice {
    /// `NotifyUser` (macOS 11.3): ask the user to restart when convenient
    /// instead of restarting (unless nobody is logged in). Default `false`.
    pub notify_user: Option<bool>,
    /// `RebuildKernelCache` (macOS 11): rebuild the kernel cache while
    /// restarting. Default `false`.
    pub rebuild_kernel_cache: Option<bool>,
    /// `KextPaths` (macOS 11): kexts to add to the auxiliary kernel cache
    /// when `RebuildKernelCache` is set.
    pub kext_paths: Option<Vec<String>>,
    /// Keys this crate does not know, kept so that nothing is lost.
    pub extra: Dictionary,
}

impl RequestType for RestartDevice {
    const REQUEST_TYPE: &'static str = "RestartDevice";

    fn to_params(&self) -> Dictionary {
        DictBuilder::new()
            .opt("NotifyUser", self.notify_user)
            .opt("RebuildKernelCache", self.rebuild_kernel_cache)
            .opt("KextPaths", self.kext_paths.as_deref().map(string_array))
            .extra(&self.extra)
            .build()
    }

    fn from_params(params: Dictionary) -> Result<Self> {
        let mut f = open(params, "", &[])?;
        Ok(Self {
            notify_user: f.opt_bool("NotifyUser")?,
            rebuild_kernel_cache: f.opt_bool("RebuildKernelCache")?,
            kext_paths: f.opt_strings("KextPaths")?,
            extra: f.rest(),
        })
    }
}

no_param_command! {
    /// `ShutDownDevice`: Apple, "The device will shut down immediately"
    /// (`mdm/commands/device.shutdown.yaml`).
    ///
    /// Supervised iOS 10.3 and later, macOS 10.13 and later.
    pub struct ShutDownDevice = "ShutDownDevice";
}

/// `EnableLostMode`: Apple, "This command allows the server to put the device
/// in MDM lost mode, with a message, phone number, and footnote text"
/// (`mdm/commands/device.lostmode.enable.yaml`).
///
/// Supervised iOS 9.3 and later. Apple requires a message or a phone number;
/// decoding fails without both.
#[derive(Clone, Debug, PartialEq)]
pub struct EnableLostMode {
    /// `Message`: text shown on the Lock screen.
    pub message: Option<String>,
    /// `PhoneNumber`: a phone number shown on the Lock screen.
    pub phone_number: Option<String>,
    /// `Footnote`: text shown in place of "Slide to Unlock".
    pub footnote: Option<String>,
    /// Keys this crate does not know, kept so that nothing is lost.
    pub extra: Dictionary,
}

impl EnableLostMode {
    /// Lost Mode showing `message`.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: Some(message.into()),
            phone_number: None,
            footnote: None,
            extra: Dictionary::new(),
        }
    }
}

impl RequestType for EnableLostMode {
    const REQUEST_TYPE: &'static str = "EnableLostMode";

    fn to_params(&self) -> Dictionary {
        DictBuilder::new()
            .opt("Message", self.message.as_deref())
            .opt("PhoneNumber", self.phone_number.as_deref())
            .opt("Footnote", self.footnote.as_deref())
            .extra(&self.extra)
            .build()
    }

    fn from_params(params: Dictionary) -> Result<Self> {
        let mut f = open(params, "", &[])?;
        let cmd = Self {
            message: f.opt_string("Message")?,
            phone_number: f.opt_string("PhoneNumber")?,
            footnote: f.opt_string("Footnote")?,
            extra: f.rest(),
        };
        if cmd.message.is_none() && cmd.phone_number.is_none() {
            return Err(Error::missing("Message or PhoneNumber"));
        }
        Ok(cmd)
    }
}

no_param_command! {
    /// `DisableLostMode`: Apple, "This command allows the server to take the
    /// device out of MDM lost mode"
    /// (`mdm/commands/device.lostmode.disable.yaml`).
    pub struct DisableLostMode = "DisableLostMode";
}

no_param_command! {
    /// `PlayLostModeSound`: Apple, "This command allows the server to tell the
    /// device to play a sound if it is in MDM Lost Mode"
    /// (`mdm/commands/device.lostmode.playsound.yaml`).
    ///
    /// The sound plays until Lost Mode ends or the user stops it. iOS 10.3.
    pub struct PlayLostModeSound = "PlayLostModeSound";
}

no_param_command! {
    /// `DeviceLocation`: Apple, "This command allows the server to ask for the
    /// device's location if it is in MDM lost mode"
    /// (`mdm/commands/device.lostmode.location.yaml`).
    pub struct DeviceLocation = "DeviceLocation";
}

no_param_command! {
    /// `DeviceConfigured`: Apple, "Informs the device that it can continue
    /// past DEP enrollment" (`mdm/commands/device.configured.yaml`).
    ///
    /// Only for a device whose Automated Device Enrollment profile has
    /// `await_device_configured` set, while it waits in Setup Assistant.
    pub struct DeviceConfigured = "DeviceConfigured";
}

no_param_command! {
    /// `ActivationLockBypassCode`: Apple, "Retrieves the Activation Lock bypass
    /// code from the device" (`mdm/commands/device.activationlock.bypasscode.yaml`).
    pub struct ActivationLockBypassCode = "ActivationLockBypassCode";
}

no_param_command! {
    /// `ClearRestrictionsPassword`: Apple, "This command clears the
    /// restrictions passcode" (`mdm/commands/device.restrictions.clearpassword.yaml`).
    ///
    /// Supervised iOS 8 and later.
    pub struct ClearRestrictionsPassword = "ClearRestrictionsPassword";
}
