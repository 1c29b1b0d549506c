//! Check-in messages: what a device sends to the check-in URL.
//!
//! The keys and their types are those of Apple's `device-management`
//! repository, `mdm/checkin/*.yaml`. A check-in is a dictionary with a
//! `MessageType`; [`crate::decode_message`] tells it from a command report.
//!
//! Every message keeps the keys this crate does not know in `extra`, so that
//! nothing a device sends is lost.

use pippin_plist::{Dictionary, Value};

use crate::error::{Error, Result};
use crate::fields::{DictBuilder, Fields};
use crate::identity::Identity;

/// A decoded check-in message.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckIn {
    /// Who sent it.
    pub identity: Identity,
    /// `Topic`: the APNs topic the device listens on (present in
    /// Authenticate, TokenUpdate and CheckOut).
    pub topic: Option<String>,
    /// The message proper.
    pub message: CheckInMessage,
    /// Keys not otherwise decoded.
    pub extra: Dictionary,
}

/// The message types of the check-in protocol.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum CheckInMessage {
    /// `Authenticate`: the first message of an enrollment.
    Authenticate(Authenticate),
    /// `TokenUpdate`: the push token and magic, sent after Authenticate and
    /// whenever they change; also each user channel's first message.
    TokenUpdate(TokenUpdate),
    /// `CheckOut`: the device is removing its MDM profile.
    CheckOut,
    /// `UserAuthenticate`: a macOS network or mobile user's channel asking to
    /// be managed (two phases: without, then with `DigestResponse`).
    UserAuthenticate(UserAuthenticate),
    /// `SetBootstrapToken`: a macOS device escrows (or clears) its bootstrap token.
    SetBootstrapToken(BootstrapTokenMessage),
    /// `GetBootstrapToken`: a macOS device asks for its escrowed bootstrap token.
    GetBootstrapToken(BootstrapTokenMessage),
    /// `DeclarativeManagement`: a declarative-management request.
    DeclarativeManagement(DeclarativeManagement),
    /// `GetToken`: the device asks the server for a token of some service.
    GetToken(GetToken),
}

impl CheckInMessage {
    /// The `MessageType` string of this message.
    pub fn message_type(&self) -> &'static str {
        match self {
            Self::Authenticate(_) => "Authenticate",
            Self::TokenUpdate(_) => "TokenUpdate",
            Self::CheckOut => "CheckOut",
            Self::UserAuthenticate(_) => "UserAuthenticate",
            Self::SetBootstrapToken(_) => "SetBootstrapToken",
            Self::GetBootstrapToken(_) => "GetBootstrapToken",
            Self::DeclarativeManagement(_) => "DeclarativeManagement",
            Self::GetToken(_) => "GetToken",
        }
    }
}

/// `Authenticate` (`mdm/checkin/authenticate.yaml`).
///
/// "The device sends this message to the check-in server to authenticate
/// itself." Device-identifying keys other than the UDID are optional, and
/// some appear only on some platforms (`IMEI` and `MEID` on cellular devices).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Authenticate {
    /// `DeviceName`.
    pub device_name: Option<String>,
    /// `Model` (for example `MacBookPro16,1`).
    pub model: Option<String>,
    /// `ModelName` (for example `MacBook Pro`).
    pub model_name: Option<String>,
    /// `OSVersion`.
    pub os_version: Option<String>,
    /// `BuildVersion`.
    pub build_version: Option<String>,
    /// `ProductName` (for example `iPad8,1`).
    pub product_name: Option<String>,
    /// `SerialNumber`.
    pub serial_number: Option<String>,
    /// `IMEI`.
    pub imei: Option<String>,
    /// `MEID`.
    pub meid: Option<String>,
}

/// `TokenUpdate` (`mdm/checkin/tokenupdate.yaml`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TokenUpdate {
    /// `Token`: the APNs device token (32 bytes on every current device).
    pub token: Vec<u8>,
    /// `PushMagic`: the string to send in the push payload's `mdm` key.
    pub push_magic: String,
    /// `UnlockToken`: lets the server clear the passcode (device channel,
    /// iOS and iPadOS).
    pub unlock_token: Option<Vec<u8>>,
    /// `AwaitingConfiguration`: the device waits in Setup Assistant for
    /// `DeviceConfigured` (Automated Device Enrollment).
    pub awaiting_configuration: Option<bool>,
    /// `NotOnConsole`: the macOS user is not logged in at the console.
    pub not_on_console: Option<bool>,
}

impl TokenUpdate {
    /// The push token as lowercase hex, as APNs URLs take it.
    pub fn token_hex(&self) -> String {
        hex::encode(&self.token)
    }
}

/// `UserAuthenticate` (`mdm/checkin/userauthenticate.yaml`).
///
/// The first message has no `DigestResponse`; the server answers it with a
/// [`UserAuthenticateResponse`]: a `DigestChallenge`, or HTTP 410 to decline
/// managing the user. The second message carries the `DigestResponse`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UserAuthenticate {
    /// `DigestResponse`: present in the second phase only.
    pub digest_response: Option<String>,
}

impl UserAuthenticate {
    /// Which phase of the exchange this message is.
    pub fn phase(&self) -> UserAuthenticatePhase {
        if self.digest_response.is_some() {
            UserAuthenticatePhase::Response
        } else {
            UserAuthenticatePhase::Initial
        }
    }
}

/// The two phases of `UserAuthenticate`.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum UserAuthenticatePhase {
    /// First message, no `DigestResponse`: the server sends a challenge or declines.
    Initial,
    /// Second message, with `DigestResponse`.
    Response,
}

/// `SetBootstrapToken` and `GetBootstrapToken`
/// (`mdm/checkin/setbootstraptoken.yaml`, `getbootstraptoken.yaml`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BootstrapTokenMessage {
    /// `BootstrapToken`: in SetBootstrapToken, the token to escrow; absent to
    /// clear it. Absent in GetBootstrapToken.
    pub bootstrap_token: Option<Vec<u8>>,
    /// `AwaitingConfiguration`.
    pub awaiting_configuration: Option<bool>,
}

/// `DeclarativeManagement` (`mdm/checkin/declarativemanagement.yaml`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeclarativeManagement {
    /// `Endpoint`: `tokens`, `declaration-items`, `status`,
    /// `declaration/<type>/<identifier>`, ...
    pub endpoint: String,
    /// `Data`: the request body (JSON), for example a status report.
    pub data: Option<Vec<u8>>,
}

/// `GetToken` (`mdm/checkin/gettoken.yaml`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GetToken {
    /// `TokenServiceType`: which service's token, for example
    /// `com.apple.maid` or `com.apple.watch.pairing`.
    pub token_service_type: String,
    /// `TokenParameters`: service-specific parameters.
    pub token_parameters: Option<Dictionary>,
}

impl CheckIn {
    /// Decodes a check-in from its top-level dictionary.
    pub fn from_dictionary(dict: Dictionary) -> Result<Self> {
        let mut f = Fields::new(dict);
        let message_type = f.string("MessageType")?;
        let identity = Identity::take(&mut f)?;
        let topic = f.opt_string("Topic")?;
        let message = match message_type.as_str() {
            "Authenticate" => CheckInMessage::Authenticate(Authenticate {
                device_name: f.opt_string("DeviceName")?,
                model: f.opt_string("Model")?,
                model_name: f.opt_string("ModelName")?,
                os_version: f.opt_string("OSVersion")?,
                build_version: f.opt_string("BuildVersion")?,
                product_name: f.opt_string("ProductName")?,
                serial_number: f.opt_string("SerialNumber")?,
                imei: f.opt_string("IMEI")?,
                meid: f.opt_string("MEID")?,
            }),
            "TokenUpdate" => {
                let token = f.data("Token")?;
                if token.is_empty() {
                    return Err(Error::invalid("Token", "empty push token"));
                }
                CheckInMessage::TokenUpdate(TokenUpdate {
                    token,
                    push_magic: f.string("PushMagic")?,
                    unlock_token: f.opt_data("UnlockToken")?,
                    awaiting_configuration: f.opt_bool("AwaitingConfiguration")?,
                    not_on_console: f.opt_bool("NotOnConsole")?,
                })
            }
            "CheckOut" => CheckInMessage::CheckOut,
            "UserAuthenticate" => CheckInMessage::UserAuthenticate(UserAuthenticate {
                digest_response: f.opt_string("DigestResponse")?,
            }),
            "SetBootstrapToken" => CheckInMessage::SetBootstrapToken(BootstrapTokenMessage {
                bootstrap_token: f.opt_data("BootstrapToken")?,
                awaiting_configuration: f.opt_bool("AwaitingConfiguration")?,
            }),
            "GetBootstrapToken" => CheckInMessage::GetBootstrapToken(BootstrapTokenMessage {
                bootstrap_token: f.opt_data("BootstrapToken")?,
                awaiting_configuration: f.opt_bool("AwaitingConfiguration")?,
            }),
            "DeclarativeManagement" => {
                CheckInMessage::DeclarativeManagement(DeclarativeManagement {
                    endpoint: f.string("Endpoint")?,
                    data: f.opt_data("Data")?,
                })
            }
            "GetToken" => CheckInMessage::GetToken(GetToken {
                token_service_type: f.string("TokenServiceType")?,
                token_parameters: f.opt_dict("TokenParameters")?,
            }),
            _ => return Err(Error::UnknownMessageType(message_type)),
        };
        Ok(Self {
            identity,
            topic,
            message,
            extra: f.rest(),
        })
    }

    /// The message as the device sends it.
    pub fn to_dictionary(&self) -> Dictionary {
        let mut b = DictBuilder::new();
        b.set("MessageType", self.message.message_type());
        self.identity.put(&mut b);
        b.opt("Topic", self.topic.clone());
        match &self.message {
            CheckInMessage::Authenticate(a) => {
                b.opt("DeviceName", a.device_name.clone())
                    .opt("Model", a.model.clone())
                    .opt("ModelName", a.model_name.clone())
                    .opt("OSVersion", a.os_version.clone())
                    .opt("BuildVersion", a.build_version.clone())
                    .opt("ProductName", a.product_name.clone())
                    .opt("SerialNumber", a.serial_number.clone())
                    .opt("IMEI", a.imei.clone())
                    .opt("MEID", a.meid.clone());
            }
            CheckInMessage::TokenUpdate(t) => {
                b.set("Token", Value::Data(t.token.clone()))
                    .set("PushMagic", t.push_magic.clone())
                    .opt_data("UnlockToken", t.unlock_token.as_ref())
                    .opt("AwaitingConfiguration", t.awaiting_configuration)
                    .opt("NotOnConsole", t.not_on_console);
            }
            CheckInMessage::CheckOut => {}
            CheckInMessage::UserAuthenticate(u) => {
                b.opt("DigestResponse", u.digest_response.clone());
            }
            CheckInMessage::SetBootstrapToken(m) | CheckInMessage::GetBootstrapToken(m) => {
                b.opt_data("BootstrapToken", m.bootstrap_token.as_ref())
                    .opt("AwaitingConfiguration", m.awaiting_configuration);
            }
            CheckInMessage::DeclarativeManagement(d) => {
                b.set("Endpoint", d.endpoint.clone())
                    .opt_data("Data", d.data.as_ref());
            }
            CheckInMessage::GetToken(g) => {
                b.set("TokenServiceType", g.token_service_type.clone())
                    .opt("TokenParameters", g.token_parameters.clone());
            }
        }
        b.extra(&self.extra);
        b.build()
    }

    /// The message as an XML plist, as a device sends it.
    pub fn to_xml(&self) -> Vec<u8> {
        pippin_plist::to_xml_vec(&Value::Dictionary(self.to_dictionary()))
    }
}

/// The server's answer to the first `UserAuthenticate` message.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum UserAuthenticateResponse {
    /// Ask the user to authenticate: a plist with `DigestChallenge`
    /// (an HTTP Digest `WWW-Authenticate` value), HTTP 200.
    DigestChallenge(String),
    /// Decline to manage this user: HTTP 410 with an empty body. The device
    /// does not create the user channel.
    Decline,
}

impl UserAuthenticateResponse {
    /// HTTP status and body to send.
    pub fn to_http(&self) -> (u16, Vec<u8>) {
        match self {
            Self::DigestChallenge(c) => {
                let mut d = Dictionary::new();
                d.insert("DigestChallenge", c.as_str());
                (200, pippin_plist::to_xml_vec(&Value::Dictionary(d)))
            }
            Self::Decline => (410, Vec::new()),
        }
    }
}

/// The body answering `GetBootstrapToken`: `{BootstrapToken: <data>}`, or an
/// empty dictionary when none is escrowed.
pub fn bootstrap_token_response(token: Option<&[u8]>) -> Vec<u8> {
    let mut d = Dictionary::new();
    if let Some(t) = token {
        d.insert("BootstrapToken", Value::Data(t.to_vec()));
    }
    pippin_plist::to_xml_vec(&Value::Dictionary(d))
}

/// The body answering `GetToken`: `{TokenData: <data>}`.
pub fn get_token_response(token_data: &[u8]) -> Vec<u8> {
    let mut d = Dictionary::new();
    d.insert("TokenData", Value::Data(token_data.to_vec()));
    pippin_plist::to_xml_vec(&Value::Dictionary(d))
}
