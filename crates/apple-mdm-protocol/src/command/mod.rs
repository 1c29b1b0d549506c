//! MDM commands: what the server sends a device.
//!
//! A command is the body of the server's answer to a device that polls it
//! (Apple, "Sending MDM Commands to a Device"): a property-list dictionary
//! with two keys,
//!
//! - `Command`: a dictionary holding `RequestType`, the command's name, and
//!   the command's own keys beside it;
//! - `CommandUUID`: a string the server chooses, which the device repeats in
//!   its report so the two can be matched.
//!
//! Every command Apple defines is described in Apple's `device-management`
//! repository, one file per command under `mdm/commands/`; each typed command
//! here names its file. Commands this crate does not type travel as
//! [`RawCommand`], and typed ones keep keys they do not know in an `extra`
//! dictionary, so that decoding and encoding again loses nothing.
//!
//! Keys of type data also take a base64 string when decoded, which is how a
//! JSON client (the admin API) passes bytes; they are always encoded as data.
//!
//! ```
//! use apple_mdm_protocol::command::{Command, DeviceLock};
//!
//! let lock = DeviceLock {
//!     pin: Some("123456".into()),
//!     message: Some("Return to IT".into()),
//!     ..DeviceLock::default()
//! };
//! let cmd = Command::new("8c2a6f2e-4f70-4c0e-9a53-0d5e1b9f1a77", lock);
//! assert_eq!(cmd.request_type(), "DeviceLock");
//!
//! let value = cmd.to_value();
//! let inner = value.get("Command").unwrap();
//! assert_eq!(inner.get("RequestType").and_then(|v| v.as_str()), Some("DeviceLock"));
//! assert_eq!(inner.get("PIN").and_then(|v| v.as_str()), Some("123456"));
//! assert_eq!(Command::from_value(value).unwrap(), cmd);
//! ```

use pippin_plist::{Dictionary, Value};

use crate::error::{Error, Result};
use crate::fields::Fields;

mod apps;
mod device;
mod inventory;
mod profiles;
mod settings;
mod updates;
mod wire;

pub use apps::{
    ApplicationAttributes, ChangeManagementState, InstallApplication, InstallApplicationOptions,
    ManagementFlags, PurchaseMethod, RemoveApplication,
};
pub use device::{
    ActivationLockBypassCode, ClearPasscode, ClearRestrictionsPassword, DeviceConfigured,
    DeviceLocation, DeviceLock, DisableLostMode, EnableLostMode, EraseDevice, ObliterationBehavior,
    PlayLostModeSound, RestartDevice, ReturnToService, ShutDownDevice,
};
pub use inventory::{
    CertificateList, DeviceInformation, InstalledApplicationList, ManagedApplicationList,
    ProfileList, SecurityInfo,
};
pub use profiles::{InstallProfile, RemoveProfile};
pub use settings::{
    ApplicationAttributesSetting, ApplicationConfigurationSetting, DeviceNameSetting,
    EnabledSetting, HostNameSetting, MDMOptions, MDMOptionsSetting, OrganizationInfo,
    OrganizationInfoSetting, OtherSetting, Setting, Settings, TimeZoneSetting, WallpaperSetting,
    WallpaperWhere,
};
pub use updates::{
    AvailableOSUpdates, InstallAction, OSUpdateStatus, ScheduleOSUpdate, ScheduleOSUpdateItem,
    ScheduleOSUpdateScan, UpdatePriority,
};

/// A typed command: its `RequestType` and how its keys map to and from the
/// `Command` dictionary.
pub trait RequestType: Sized + Into<CommandBody> {
    /// The `RequestType` string.
    const REQUEST_TYPE: &'static str;

    /// The `Command` dictionary without `RequestType`.
    fn to_params(&self) -> Dictionary;

    /// Reads the `Command` dictionary without `RequestType`, checking the
    /// type of every key it knows; errors name the key. Keys it does not know
    /// are kept.
    fn from_params(params: Dictionary) -> Result<Self>;
}

/// One command, as queued for a device and as the device receives it.
#[derive(Clone, Debug, PartialEq)]
pub struct Command {
    /// `CommandUUID`: chosen by the server (usually a UUID, though any string
    /// will do, the empty one included); the device's report repeats it.
    pub command_uuid: String,
    /// What the command asks for.
    pub body: CommandBody,
}

impl Command {
    /// A command with the given `CommandUUID`.
    pub fn new(command_uuid: impl Into<String>, body: impl Into<CommandBody>) -> Self {
        Self {
            command_uuid: command_uuid.into(),
            body: body.into(),
        }
    }

    /// The `RequestType`.
    pub fn request_type(&self) -> &str {
        self.body.request_type()
    }

    /// The command as a property list:
    /// `{"Command": {"RequestType": ..., keys...}, "CommandUUID": ...}`.
    ///
    /// A `RequestType` key among the body's parameters is ignored; the body's
    /// own request type is written.
    pub fn to_value(&self) -> Value {
        let params = self.body.to_params();
        let mut command = Dictionary::with_capacity(params.len() + 1);
        command.insert("RequestType", self.request_type());
        for (k, v) in params {
            if k != "RequestType" {
                command.insert(k, v);
            }
        }
        let mut top = Dictionary::with_capacity(2);
        top.insert("Command", command);
        top.insert("CommandUUID", self.command_uuid.as_str());
        Value::Dictionary(top)
    }

    /// The XML property list a device receives.
    pub fn to_xml(&self) -> Vec<u8> {
        pippin_plist::to_xml_vec(&self.to_value())
    }

    /// The command as a binary property list (`bplist00`), which devices
    /// also accept.
    pub fn to_binary(&self) -> Result<Vec<u8>> {
        Ok(pippin_plist::to_binary_vec(&self.to_value())?)
    }

    /// Reads a command as a device does: `Command.RequestType` picks the type;
    /// a known one is decoded strictly ([`CommandBody::from_params`]), an
    /// unknown one becomes [`CommandBody::Raw`]. Errors name the key with its
    /// path (`Command.Queries`). Top-level keys other than `Command` and
    /// `CommandUUID` are ignored.
    pub fn from_value(v: Value) -> Result<Self> {
        let dict = v.into_dictionary().map_err(|other| Error::NotADictionary {
            found: other.type_name(),
        })?;
        let mut f = Fields::new(dict);
        let command = f.opt_dict("Command")?;
        let command = f.require("Command", command)?;
        let command_uuid = f.string("CommandUUID")?;
        let mut cf = Fields::nested(command, "Command");
        let request_type = cf.string("RequestType")?;
        let body = CommandBody::from_params(&request_type, cf.rest())
            .map_err(|e| wire::within("Command", e))?;
        Ok(Self { command_uuid, body })
    }

    /// Reads a command from XML or binary property-list bytes, within the
    /// default [`Limits`](pippin_plist::Limits).
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        Self::from_value(pippin_plist::from_bytes(bytes)?)
    }

    /// [`Command::decode`] within `limits`.
    pub fn decode_with(bytes: &[u8], limits: &pippin_plist::Limits) -> Result<Self> {
        Self::from_value(pippin_plist::from_bytes_with(bytes, limits)?)
    }
}

/// A command whose `RequestType` this crate does not type (or that a caller
/// chooses to build by hand).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RawCommand {
    /// `RequestType`.
    pub request_type: String,
    /// The other keys of the `Command` dictionary.
    pub params: Dictionary,
}

impl RawCommand {
    /// A command `request_type` with keys `params`.
    pub fn new(request_type: impl Into<String>, params: Dictionary) -> Self {
        Self {
            request_type: request_type.into(),
            params,
        }
    }
}

impl From<RawCommand> for CommandBody {
    fn from(c: RawCommand) -> Self {
        Self::Raw(c)
    }
}

/// Declares [`CommandBody`] with one variant per typed command, named as its
/// `RequestType`, and the conversions to and from it.
macro_rules! command_bodies {
    ($($name:ident),+ $(,)?) => {
        /// What a command asks for: a typed command, or a raw one.
        // A command is built once, then encoded or queued; a few hundred
        // bytes on the stack cost less than boxing every variant would.
        #[allow(clippy::large_enum_variant)]
        #[derive(Clone, Debug, PartialEq)]
        #[non_exhaustive]
        pub enum CommandBody {
            $(
                #[doc = concat!("`", stringify!($name), "`: see [`", stringify!($name), "`].")]
                $name($name),
            )+
            /// A command this crate does not type, kept as sent.
            Raw(RawCommand),
        }

        impl CommandBody {
            /// The `RequestType` strings of every typed command.
            pub const KNOWN_REQUEST_TYPES: &'static [&'static str] =
                &[$(<$name as RequestType>::REQUEST_TYPE),+];

            /// The `RequestType`.
            pub fn request_type(&self) -> &str {
                match self {
                    $(Self::$name(_) => <$name as RequestType>::REQUEST_TYPE,)+
                    Self::Raw(c) => &c.request_type,
                }
            }

            /// The `Command` dictionary without `RequestType`.
            pub fn to_params(&self) -> Dictionary {
                match self {
                    $(Self::$name(c) => RequestType::to_params(c),)+
                    Self::Raw(c) => c.params.clone(),
                }
            }

            /// The typed body, or `params` back if `request_type` is not typed.
            fn typed(
                request_type: &str,
                params: Dictionary,
            ) -> std::result::Result<Result<Self>, Dictionary> {
                $(
                    if request_type == <$name as RequestType>::REQUEST_TYPE {
                        return Ok(<$name as RequestType>::from_params(params).map(Self::$name));
                    }
                )+
                Err(params)
            }
        }

        $(
            impl From<$name> for CommandBody {
                fn from(c: $name) -> Self {
                    Self::$name(c)
                }
            }

            impl TryFrom<CommandBody> for $name {
                type Error = CommandBody;

                /// The typed command, or the body back if it is another one.
                fn try_from(body: CommandBody) -> std::result::Result<Self, CommandBody> {
                    match body {
                        CommandBody::$name(c) => Ok(c),
                        other => Err(other),
                    }
                }
            }
        )+
    };
}

command_bodies! {
    DeviceInformation,
    SecurityInfo,
    InstalledApplicationList,
    ManagedApplicationList,
    ProfileList,
    CertificateList,
    InstallProfile,
    RemoveProfile,
    InstallApplication,
    RemoveApplication,
    DeviceLock,
    EraseDevice,
    ClearPasscode,
    RestartDevice,
    ShutDownDevice,
    EnableLostMode,
    DisableLostMode,
    PlayLostModeSound,
    DeviceLocation,
    AvailableOSUpdates,
    ScheduleOSUpdateScan,
    ScheduleOSUpdate,
    OSUpdateStatus,
    DeviceConfigured,
    Settings,
    ActivationLockBypassCode,
    ClearRestrictionsPassword,
}

impl CommandBody {
    /// Builds a body from a `RequestType` and the rest of the `Command`
    /// dictionary: typed when the request type is known (every known key's
    /// type is checked and errors name the key), [`CommandBody::Raw`]
    /// otherwise.
    ///
    /// `params` must not hold `RequestType` itself, and `request_type` must
    /// not be empty.
    pub fn from_params(request_type: &str, params: Dictionary) -> Result<Self> {
        if request_type.is_empty() {
            return Err(Error::invalid("RequestType", "empty"));
        }
        if params.contains_key("RequestType") {
            return Err(Error::invalid(
                "RequestType",
                "given among the parameters as well as on its own",
            ));
        }
        match Self::typed(request_type, params) {
            Ok(result) => result,
            Err(params) => Ok(Self::Raw(RawCommand::new(request_type, params))),
        }
    }

    /// Whether `request_type` is one of the typed commands.
    pub fn is_known(request_type: &str) -> bool {
        Self::KNOWN_REQUEST_TYPES.contains(&request_type)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_value_shape() {
        let cmd = Command::new("u-1", DeviceInformation::new(["UDID", "SerialNumber"]));
        let v = cmd.to_value();
        let top = v.as_dictionary().unwrap();
        assert_eq!(
            top.keys().map(String::as_str).collect::<Vec<_>>(),
            ["Command", "CommandUUID"]
        );
        let inner = top.get("Command").unwrap().as_dictionary().unwrap();
        assert_eq!(
            inner.keys().map(String::as_str).collect::<Vec<_>>(),
            ["RequestType", "Queries"]
        );
        assert_eq!(Command::from_value(v).unwrap(), cmd);
    }

    #[test]
    fn unknown_request_type_is_raw() {
        let mut params = Dictionary::new();
        params.insert("Thing", 3i64);
        let body = CommandBody::from_params("FutureCommand", params.clone()).unwrap();
        assert_eq!(
            body,
            CommandBody::Raw(RawCommand::new("FutureCommand", params))
        );
        assert!(!CommandBody::is_known("FutureCommand"));
        assert!(CommandBody::is_known("DeviceLock"));
    }

    #[test]
    fn errors_carry_the_command_path() {
        let mut inner = Dictionary::new();
        inner.insert("RequestType", "DeviceLock");
        inner.insert("PIN", 123456i64);
        let mut top = Dictionary::new();
        top.insert("Command", inner);
        top.insert("CommandUUID", "x");
        let err = Command::from_value(Value::Dictionary(top)).unwrap_err();
        assert!(
            matches!(&err, Error::WrongType { key, expected: "string", found: "integer" } if key == "Command.PIN"),
            "{err}"
        );
    }

    #[test]
    fn every_known_type_has_a_distinct_name() {
        let mut names = CommandBody::KNOWN_REQUEST_TYPES.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), CommandBody::KNOWN_REQUEST_TYPES.len());
    }
}
