//! The `Settings` command: a list of settings, each a dictionary named by its
//! `Item` key.

use pippin_plist::{Dictionary, Value};

use super::RequestType;
use super::apps::ApplicationAttributes;
use super::wire::{dict_list, join, open, opt_nested};
use crate::error::{Error, Result};
use crate::fields::{DictBuilder, Fields};

/// `Settings`: Apple, "This command allows the server to set settings on the
/// device" (`mdm/commands/settings.yaml`).
///
/// The device answers with one result per setting, in order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Settings {
    /// `Settings` (required): the settings to apply.
    pub settings: Vec<Setting>,
    /// Keys this crate does not know, kept so that nothing is lost.
    pub extra: Dictionary,
}

impl Settings {
    /// A command applying `settings`.
    pub fn new(settings: impl IntoIterator<Item = Setting>) -> Self {
        Self {
            settings: settings.into_iter().collect(),
            extra: Dictionary::new(),
        }
    }
}

impl RequestType for Settings {
    const REQUEST_TYPE: &'static str = "Settings";

    fn to_params(&self) -> Dictionary {
        let items = self
            .settings
            .iter()
            .map(|s| Value::Dictionary(s.to_dict()))
            .collect::<Vec<_>>();
        DictBuilder::new()
            .set("Settings", items)
            .extra(&self.extra)
            .build()
    }

    fn from_params(params: Dictionary) -> Result<Self> {
        let mut f = open(params, "", &[])?;
        Ok(Self {
            settings: dict_list(&mut f, "", "Settings", Setting::from_dict)?,
            extra: f.rest(),
        })
    }
}

/// One entry of `Settings.Settings`, by its `Item`.
///
/// The settings a server commonly sends are typed; any other `Item`
/// (`MaximumResidentUsers`, `SharedDeviceConfiguration`,
/// `AccessibilitySettings`, `PasscodeLockGracePeriod`,
/// `SoftwareUpdateSettings`, and whatever Apple adds) is kept as
/// [`Setting::Other`] with its keys untouched. `Other` is not meant to carry
/// one of the typed items: decoding turns such an entry into the typed
/// variant.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Setting {
    /// `DeviceName` (supervised iOS, macOS 10.10): the device's name.
    DeviceName(DeviceNameSetting),
    /// `HostName` (macOS 10.11): the Mac's host name.
    HostName(HostNameSetting),
    /// `TimeZone` (supervised iOS 14, tvOS 14): the time zone.
    TimeZone(TimeZoneSetting),
    /// `OrganizationInfo` (iOS, macOS 10.9): who runs the MDM server.
    OrganizationInfo(OrganizationInfoSetting),
    /// `MDMOptions` (iOS 7, macOS 10.15): MDM protocol options.
    MDMOptions(MDMOptionsSetting),
    /// `Bluetooth` (supervised iOS 11.3, macOS 10.13.4): turn Bluetooth on or
    /// off.
    Bluetooth(EnabledSetting),
    /// `DataRoaming` (iOS): turn data roaming (and voice roaming) on or off.
    DataRoaming(EnabledSetting),
    /// `VoiceRoaming` (iOS): turn voice roaming on or off (off also turns
    /// data roaming off).
    VoiceRoaming(EnabledSetting),
    /// `PersonalHotspot` (iOS): turn Personal Hotspot on or off.
    PersonalHotspot(EnabledSetting),
    /// `DiagnosticSubmission` (Shared iPad, iOS 9.3): diagnostic submission.
    DiagnosticSubmission(EnabledSetting),
    /// `AppAnalytics` (Shared iPad, iOS 9.3.2): sharing app analytics.
    AppAnalytics(EnabledSetting),
    /// `ApplicationConfiguration` (iOS 7, macOS 10.15): a managed app's
    /// configuration.
    ApplicationConfiguration(ApplicationConfigurationSetting),
    /// `ApplicationAttributes` (iOS 7, tvOS 10.2): a managed app's attributes.
    ApplicationAttributes(ApplicationAttributesSetting),
    /// `Wallpaper` (supervised iOS 8): the Lock and/or Home Screen picture.
    Wallpaper(WallpaperSetting),
    /// Any other `Item`, kept as sent.
    Other(OtherSetting),
}

impl Setting {
    /// The `Item` string naming this setting.
    pub fn item(&self) -> &str {
        match self {
            Self::DeviceName(_) => "DeviceName",
            Self::HostName(_) => "HostName",
            Self::TimeZone(_) => "TimeZone",
            Self::OrganizationInfo(_) => "OrganizationInfo",
            Self::MDMOptions(_) => "MDMOptions",
            Self::Bluetooth(_) => "Bluetooth",
            Self::DataRoaming(_) => "DataRoaming",
            Self::VoiceRoaming(_) => "VoiceRoaming",
            Self::PersonalHotspot(_) => "PersonalHotspot",
            Self::DiagnosticSubmission(_) => "DiagnosticSubmission",
            Self::AppAnalytics(_) => "AppAnalytics",
            Self::ApplicationConfiguration(_) => "ApplicationConfiguration",
            Self::ApplicationAttributes(_) => "ApplicationAttributes",
            Self::Wallpaper(_) => "Wallpaper",
            Self::Other(o) => &o.item,
        }
    }

    /// The setting's dictionary, `Item` first.
    pub fn to_dict(&self) -> Dictionary {
        let mut b = DictBuilder::new();
        b.set("Item", self.item());
        match self {
            Self::DeviceName(s) => b.set("DeviceName", s.device_name.as_str()).extra(&s.extra),
            Self::HostName(s) => b.set("HostName", s.host_name.as_str()).extra(&s.extra),
            Self::TimeZone(s) => b.set("TimeZone", s.time_zone.as_str()).extra(&s.extra),
            Self::OrganizationInfo(s) => b
                .opt(
                    "OrganizationInfo",
                    s.organization_info.as_ref().map(OrganizationInfo::to_dict),
                )
                .extra(&s.extra),
            Self::MDMOptions(s) => b.set("MDMOptions", s.mdm_options.to_dict()).extra(&s.extra),
            Self::Bluetooth(s)
            | Self::DataRoaming(s)
            | Self::VoiceRoaming(s)
            | Self::PersonalHotspot(s)
            | Self::DiagnosticSubmission(s)
            | Self::AppAnalytics(s) => b.set("Enabled", s.enabled).extra(&s.extra),
            Self::ApplicationConfiguration(s) => b
                .set("Identifier", s.identifier.as_str())
                .opt("Configuration", s.configuration.clone())
                .extra(&s.extra),
            Self::ApplicationAttributes(s) => b
                .set("Identifier", s.identifier.as_str())
                .opt(
                    "Attributes",
                    s.attributes.as_ref().map(ApplicationAttributes::to_dict),
                )
                .extra(&s.extra),
            Self::Wallpaper(s) => b
                .set("Image", Value::Data(s.image.clone()))
                .set("Where", s.r#where.code())
                .extra(&s.extra),
            Self::Other(s) => b.extra(&s.params),
        };
        b.build()
    }

    /// Decodes one setting dictionary; `path` names it in errors
    /// (`Settings[0]`).
    pub(crate) fn from_dict(mut d: Dictionary, path: &str) -> Result<Self> {
        let item = match d.remove("Item") {
            Some(Value::String(s)) => s,
            Some(other) => {
                return Err(Error::WrongType {
                    key: join(path, "Item"),
                    expected: "string",
                    found: other.type_name(),
                });
            }
            None => return Err(Error::missing(join(path, "Item"))),
        };
        let data_keys: &[&str] = if item == "Wallpaper" { &["Image"] } else { &[] };
        let mut f = open(d, path, data_keys)?;
        let setting = match item.as_str() {
            "DeviceName" => Self::DeviceName(DeviceNameSetting {
                device_name: f.string("DeviceName")?,
                extra: f.rest(),
            }),
            "HostName" => Self::HostName(HostNameSetting {
                host_name: f.string("HostName")?,
                extra: f.rest(),
            }),
            "TimeZone" => Self::TimeZone(TimeZoneSetting {
                time_zone: f.string("TimeZone")?,
                extra: f.rest(),
            }),
            "OrganizationInfo" => Self::OrganizationInfo(OrganizationInfoSetting {
                organization_info: opt_nested(
                    &mut f,
                    path,
                    "OrganizationInfo",
                    OrganizationInfo::from_dict,
                )?,
                extra: f.rest(),
            }),
            "MDMOptions" => {
                let options = opt_nested(&mut f, path, "MDMOptions", MDMOptions::from_dict)?;
                Self::MDMOptions(MDMOptionsSetting {
                    mdm_options: f.require("MDMOptions", options)?,
                    extra: f.rest(),
                })
            }
            "Bluetooth" => Self::Bluetooth(EnabledSetting::from_fields(f)?),
            "DataRoaming" => Self::DataRoaming(EnabledSetting::from_fields(f)?),
            "VoiceRoaming" => Self::VoiceRoaming(EnabledSetting::from_fields(f)?),
            "PersonalHotspot" => Self::PersonalHotspot(EnabledSetting::from_fields(f)?),
            "DiagnosticSubmission" => Self::DiagnosticSubmission(EnabledSetting::from_fields(f)?),
            "AppAnalytics" => Self::AppAnalytics(EnabledSetting::from_fields(f)?),
            "ApplicationConfiguration" => {
                Self::ApplicationConfiguration(ApplicationConfigurationSetting {
                    identifier: f.string("Identifier")?,
                    configuration: f.opt_dict("Configuration")?,
                    extra: f.rest(),
                })
            }
            "ApplicationAttributes" => Self::ApplicationAttributes(ApplicationAttributesSetting {
                identifier: f.string("Identifier")?,
                attributes: opt_nested(
                    &mut f,
                    path,
                    "Attributes",
                    ApplicationAttributes::from_dict,
                )?,
                extra: f.rest(),
            }),
            "Wallpaper" => {
                let image = f.data("Image")?;
                let place = f.opt_i64("Where")?;
                Self::Wallpaper(WallpaperSetting {
                    image,
                    r#where: f.require("Where", place)?.into(),
                    extra: f.rest(),
                })
            }
            _ => Self::Other(OtherSetting {
                item,
                params: f.rest(),
            }),
        };
        Ok(setting)
    }
}

/// The `DeviceName` setting.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeviceNameSetting {
    /// `DeviceName` (required): the new name.
    pub device_name: String,
    /// Keys this crate does not know, kept so that nothing is lost.
    pub extra: Dictionary,
}

/// The `HostName` setting (macOS 10.11).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HostNameSetting {
    /// `HostName` (required): the new host name.
    pub host_name: String,
    /// Keys this crate does not know, kept so that nothing is lost.
    pub extra: Dictionary,
}

/// The `TimeZone` setting (supervised iOS 14, tvOS 14).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TimeZoneSetting {
    /// `TimeZone` (required): an IANA time zone name (`Europe/Paris`).
    pub time_zone: String,
    /// Keys this crate does not know, kept so that nothing is lost.
    pub extra: Dictionary,
}

/// The `OrganizationInfo` setting.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OrganizationInfoSetting {
    /// `OrganizationInfo`: the organization; absent to remove what was set.
    pub organization_info: Option<OrganizationInfo>,
    /// Keys this crate does not know, kept so that nothing is lost.
    pub extra: Dictionary,
}

/// `Settings.OrganizationInfo.OrganizationInfo`: Apple, "information about the
/// organization operating the MDM server" (`mdm/commands/settings.yaml`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OrganizationInfo {
    /// `OrganizationName` (required): shown to the user, for example when
    /// installing apps.
    pub organization_name: String,
    /// `OrganizationShortName` (iOS 13, macOS 10.15): a one-word form.
    pub organization_short_name: Option<String>,
    /// `OrganizationAddress`: postal address, lines separated by LF.
    pub organization_address: Option<String>,
    /// `OrganizationPhone`: support phone number.
    pub organization_phone: Option<String>,
    /// `OrganizationEmail`: support email address.
    pub organization_email: Option<String>,
    /// `OrganizationMagic`: an identifier shared by the services one
    /// organization runs.
    pub organization_magic: Option<String>,
    /// Keys this crate does not know, kept so that nothing is lost.
    pub extra: Dictionary,
}

impl OrganizationInfo {
    fn to_dict(&self) -> Dictionary {
        DictBuilder::new()
            .set("OrganizationName", self.organization_name.as_str())
            .opt(
                "OrganizationShortName",
                self.organization_short_name.as_deref(),
            )
            .opt("OrganizationAddress", self.organization_address.as_deref())
            .opt("OrganizationPhone", self.organization_phone.as_deref())
            .opt("OrganizationEmail", self.organization_email.as_deref())
            .opt("OrganizationMagic", self.organization_magic.as_deref())
            .extra(&self.extra)
            .build()
    }

    fn from_dict(d: Dictionary, path: &str) -> Result<Self> {
        let mut f = open(d, path, &[])?;
        Ok(Self {
            organization_name: f.string("OrganizationName")?,
            organization_short_name: f.opt_string("OrganizationShortName")?,
            organization_address: f.opt_string("OrganizationAddress")?,
            organization_phone: f.opt_string("OrganizationPhone")?,
            organization_email: f.opt_string("OrganizationEmail")?,
            organization_magic: f.opt_string("OrganizationMagic")?,
            extra: f.rest(),
        })
    }
}

/// The `MDMOptions` setting.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MDMOptionsSetting {
    /// `MDMOptions` (required).
    pub mdm_options: MDMOptions,
    /// Keys this crate does not know, kept so that nothing is lost.
    pub extra: Dictionary,
}

/// `Settings.MDMOptions.MDMOptions`: Apple, "A dictionary of MDM options"
/// (`mdm/commands/settings.yaml`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MDMOptions {
    /// `ActivationLockAllowedWhileSupervised`: a supervised device registers
    /// with Activation Lock when the user turns on Find My. Default `false`.
    pub activation_lock_allowed_while_supervised: Option<bool>,
    /// `BootstrapTokenAllowed` (macOS 10.15): the server supports the
    /// Bootstrap Token check-ins. Default `false`.
    pub bootstrap_token_allowed: Option<bool>,
    /// `PromptUserToAllowBootstrapTokenForAuthentication` (macOS 11): warn the
    /// user that they must allow the Bootstrap Token for authentication in
    /// recoveryOS. Default `false`.
    pub prompt_user_to_allow_bootstrap_token_for_authentication: Option<bool>,
    /// Keys this crate does not know, kept so that nothing is lost.
    pub extra: Dictionary,
}

impl MDMOptions {
    fn to_dict(&self) -> Dictionary {
        DictBuilder::new()
            .opt(
                "ActivationLockAllowedWhileSupervised",
                self.activation_lock_allowed_while_supervised,
            )
            .opt("BootstrapTokenAllowed", self.bootstrap_token_allowed)
            .opt(
                "PromptUserToAllowBootstrapTokenForAuthentication",
                self.prompt_user_to_allow_bootstrap_token_for_authentication,
            )
            .extra(&self.extra)
            .build()
    }

    fn from_dict(d: Dictionary, path: &str) -> Result<Self> {
        let mut f = open(d, path, &[])?;
        Ok(Self {
            activation_lock_allowed_while_supervised: f
                .opt_bool("ActivationLockAllowedWhileSupervised")?,
            bootstrap_token_allowed: f.opt_bool("BootstrapTokenAllowed")?,
            prompt_user_to_allow_bootstrap_token_for_authentication: f
                .opt_bool("PromptUserToAllowBootstrapTokenForAuthentication")?,
            extra: f.rest(),
        })
    }
}

/// A setting that is only switched on or off (`Bluetooth`, `DataRoaming`,
/// `VoiceRoaming`, `PersonalHotspot`, `DiagnosticSubmission`,
/// `AppAnalytics`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EnabledSetting {
    /// `Enabled` (required).
    pub enabled: bool,
    /// Keys this crate does not know, kept so that nothing is lost.
    pub extra: Dictionary,
}

impl EnabledSetting {
    /// On (`true`) or off.
    pub fn new(enabled: bool) -> Self {
        Self {
            enabled,
            extra: Dictionary::new(),
        }
    }

    fn from_fields(mut f: Fields) -> Result<Self> {
        let enabled = f.opt_bool("Enabled")?;
        Ok(Self {
            enabled: f.require("Enabled", enabled)?,
            extra: f.rest(),
        })
    }
}

/// The `ApplicationConfiguration` setting: replaces a managed app's
/// configuration.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ApplicationConfigurationSetting {
    /// `Identifier` (required): the managed app's bundle identifier.
    pub identifier: String,
    /// `Configuration`: the app's configuration keys; absent to remove the
    /// configuration.
    pub configuration: Option<Dictionary>,
    /// Keys this crate does not know, kept so that nothing is lost.
    pub extra: Dictionary,
}

/// The `ApplicationAttributes` setting: replaces a managed app's attributes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ApplicationAttributesSetting {
    /// `Identifier` (required): the app's bundle identifier.
    pub identifier: String,
    /// `Attributes`: absent to remove the attributes.
    pub attributes: Option<ApplicationAttributes>,
    /// Keys this crate does not know, kept so that nothing is lost.
    pub extra: Dictionary,
}

/// The `Wallpaper` setting (supervised iOS 8).
#[derive(Clone, Debug, PartialEq)]
pub struct WallpaperSetting {
    /// `Image` (required, data): a PNG or JPEG image.
    pub image: Vec<u8>,
    /// `Where` (required, integer): which screens.
    pub r#where: WallpaperWhere,
    /// Keys this crate does not know, kept so that nothing is lost.
    pub extra: Dictionary,
}

/// `Wallpaper.Where`: which screens get the picture.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum WallpaperWhere {
    /// `1`: the Lock Screen.
    LockScreen,
    /// `2`: the Home Screen.
    HomeScreen,
    /// `3`: both.
    Both,
    /// A value this crate does not know, kept as sent.
    Other(i64),
}

impl WallpaperWhere {
    /// The integer sent in the property list.
    pub fn code(self) -> i64 {
        match self {
            Self::LockScreen => 1,
            Self::HomeScreen => 2,
            Self::Both => 3,
            Self::Other(n) => n,
        }
    }
}

impl From<i64> for WallpaperWhere {
    fn from(n: i64) -> Self {
        match n {
            1 => Self::LockScreen,
            2 => Self::HomeScreen,
            3 => Self::Both,
            other => Self::Other(other),
        }
    }
}

/// A setting this crate does not type: its `Item` and its other keys.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OtherSetting {
    /// `Item`: the setting's name.
    pub item: String,
    /// Every key but `Item`.
    pub params: Dictionary,
}
