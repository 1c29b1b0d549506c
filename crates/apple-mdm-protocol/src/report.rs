//! Command reports: what a device sends to the server URL.
//!
//! A report is a dictionary with a `Status`: `Idle` when the device asks for
//! work, otherwise the outcome of the command named by `CommandUUID`, with the
//! command's result keys beside it (Apple `device-management`,
//! `mdm/commands/*.yaml`, `responsekeys`).

use pippin_plist::{Dictionary, Value};

use crate::error::{Error, Result};
use crate::fields::{DictBuilder, Fields};
use crate::identity::Identity;
use crate::results::CommandResult;

/// A decoded command report.
#[derive(Clone, Debug, PartialEq)]
pub struct CommandReport {
    /// Who sent it.
    pub identity: Identity,
    /// `Status`.
    pub status: Status,
    /// `CommandUUID`: the command this reports on (absent for `Idle`).
    pub command_uuid: Option<String>,
    /// `ErrorChain`: why an `Error` happened, outermost first.
    pub error_chain: Vec<ErrorChainItem>,
    /// `RequestType`, which some responses repeat.
    pub request_type: Option<String>,
    /// Every other key: the command's result (`QueryResponses`,
    /// `SecurityInfo`, `InstalledApplicationList`, ...). Decode it with
    /// [`CommandReport::result`].
    pub payload: Dictionary,
}

/// `Status` of a command report.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum Status {
    /// The device is ready for the next command.
    Idle,
    /// The command succeeded; its result is in the payload.
    Acknowledged,
    /// The command failed; see the error chain.
    Error,
    /// The command was not a well-formed command.
    CommandFormatError,
    /// The device cannot run the command now (locked, busy in Setup
    /// Assistant, ...) and will ask again later.
    NotNow,
}

impl Status {
    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "Idle",
            Self::Acknowledged => "Acknowledged",
            Self::Error => "Error",
            Self::CommandFormatError => "CommandFormatError",
            Self::NotNow => "NotNow",
        }
    }

    /// Parses the wire string.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "Idle" => Self::Idle,
            "Acknowledged" => Self::Acknowledged,
            "Error" => Self::Error,
            "CommandFormatError" => Self::CommandFormatError,
            "NotNow" => Self::NotNow,
            _ => return None,
        })
    }

    /// Whether this status completes the command (it will not be sent again).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Acknowledged | Self::Error | Self::CommandFormatError
        )
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of `ErrorChain`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ErrorChainItem {
    /// `ErrorCode`.
    pub error_code: Option<i64>,
    /// `ErrorDomain`.
    pub error_domain: Option<String>,
    /// `LocalizedDescription`.
    pub localized_description: Option<String>,
    /// `USEnglishDescription`.
    pub us_english_description: Option<String>,
    /// Keys not otherwise decoded.
    pub extra: Dictionary,
}

impl ErrorChainItem {
    fn from_fields(mut f: Fields) -> Result<Self> {
        Ok(Self {
            error_code: f.opt_i64("ErrorCode")?,
            error_domain: f.opt_string("ErrorDomain")?,
            localized_description: f.opt_string("LocalizedDescription")?,
            us_english_description: f.opt_string("USEnglishDescription")?,
            extra: f.rest(),
        })
    }

    fn to_value(&self) -> Value {
        let mut b = DictBuilder::new();
        b.opt("ErrorCode", self.error_code)
            .opt("ErrorDomain", self.error_domain.clone())
            .opt("LocalizedDescription", self.localized_description.clone())
            .opt("USEnglishDescription", self.us_english_description.clone())
            .extra(&self.extra);
        Value::Dictionary(b.build())
    }
}

impl CommandReport {
    /// An `Idle` report from `identity`.
    pub fn idle(identity: Identity) -> Self {
        Self {
            identity,
            status: Status::Idle,
            command_uuid: None,
            error_chain: Vec::new(),
            request_type: None,
            payload: Dictionary::new(),
        }
    }

    /// A report on command `uuid` with `status` and result `payload`.
    pub fn answer(
        identity: Identity,
        uuid: impl Into<String>,
        status: Status,
        payload: Dictionary,
    ) -> Self {
        Self {
            identity,
            status,
            command_uuid: Some(uuid.into()),
            error_chain: Vec::new(),
            request_type: None,
            payload,
        }
    }

    /// Decodes a report from its top-level dictionary.
    ///
    /// Every status but `Idle` must name its command.
    pub fn from_dictionary(dict: Dictionary) -> Result<Self> {
        let mut f = Fields::new(dict);
        let status_str = f.string("Status")?;
        let status = Status::parse(&status_str).ok_or(Error::UnknownStatus(status_str))?;
        let identity = Identity::take(&mut f)?;
        let command_uuid = f.opt_string("CommandUUID")?;
        if status != Status::Idle && command_uuid.is_none() {
            return Err(Error::missing("CommandUUID"));
        }
        let error_chain = f
            .opt_dicts("ErrorChain", ErrorChainItem::from_fields)?
            .unwrap_or_default();
        let request_type = f.opt_string("RequestType")?;
        Ok(Self {
            identity,
            status,
            command_uuid,
            error_chain,
            request_type,
            payload: f.rest(),
        })
    }

    /// The report as the device sends it.
    pub fn to_dictionary(&self) -> Dictionary {
        let mut b = DictBuilder::new();
        self.identity.put(&mut b);
        b.set("Status", self.status.as_str())
            .opt("CommandUUID", self.command_uuid.clone())
            .opt("RequestType", self.request_type.clone());
        if !self.error_chain.is_empty() {
            b.set(
                "ErrorChain",
                Value::Array(
                    self.error_chain
                        .iter()
                        .map(ErrorChainItem::to_value)
                        .collect(),
                ),
            );
        }
        b.extra(&self.payload);
        b.build()
    }

    /// The report as an XML plist.
    pub fn to_xml(&self) -> Vec<u8> {
        pippin_plist::to_xml_vec(&Value::Dictionary(self.to_dictionary()))
    }

    /// Decodes the payload as the typed result `T`.
    pub fn result<T: CommandResult>(&self) -> Result<T> {
        T::from_payload(self.payload.clone())
    }

    /// One line summarising the error chain, for logs and the admin API
    /// (`domain code: description; ...`), or `None` when there is none.
    pub fn error_summary(&self) -> Option<String> {
        if self.error_chain.is_empty() {
            return None;
        }
        let parts: Vec<String> = self
            .error_chain
            .iter()
            .map(|e| {
                let desc = e
                    .us_english_description
                    .as_deref()
                    .or(e.localized_description.as_deref())
                    .unwrap_or("");
                format!(
                    "{} {}: {desc}",
                    e.error_domain.as_deref().unwrap_or("?"),
                    e.error_code
                        .map_or_else(|| "?".to_owned(), |c| c.to_string())
                )
            })
            .collect();
        Some(parts.join("; "))
    }
}
