//! The crate's error type.

use crate::signature::SignatureError;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong reading or building an MDM message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bytes are not a property list we can read (bad syntax, over a
    /// limit, truncated).
    #[error("not a readable property list: {0}")]
    Plist(#[from] pippin_plist::Error),
    /// The top-level value is not a dictionary.
    #[error("the message is a {found}, not a dictionary")]
    NotADictionary {
        /// The type found instead.
        found: &'static str,
    },
    /// A dictionary has neither `MessageType` nor `Status`: it is neither a
    /// check-in nor a command report.
    #[error("neither a check-in (MessageType) nor a command report (Status)")]
    UnknownMessage,
    /// A required key is missing.
    #[error("missing required key {key}")]
    MissingKey {
        /// The key, with its path if nested (`QueryResponses.UDID`).
        key: String,
    },
    /// A key holds a value of the wrong type.
    #[error("key {key} should be {expected}, found {found}")]
    WrongType {
        /// The key, with its path if nested.
        key: String,
        /// The plist type expected.
        expected: &'static str,
        /// The plist type found.
        found: &'static str,
    },
    /// A key holds a value of the right type that is not allowed.
    #[error("key {key} has an invalid value: {reason}")]
    InvalidValue {
        /// The key, with its path if nested.
        key: String,
        /// Why it is invalid.
        reason: String,
    },
    /// A check-in's `MessageType` is not one this crate knows.
    #[error("unknown check-in MessageType {0:?}")]
    UnknownMessageType(String),
    /// A command report's `Status` is not one Apple defines.
    #[error("unknown command report Status {0:?}")]
    UnknownStatus(String),
    /// A command's `RequestType` is not the one being decoded, or unknown.
    #[error("unexpected RequestType {found:?} (expected {expected})")]
    UnexpectedRequestType {
        /// The request type expected.
        expected: &'static str,
        /// The request type found.
        found: String,
    },
    /// The `Mdm-Signature` or another CMS signature failed.
    #[error(transparent)]
    Signature(#[from] SignatureError),
}

impl Error {
    pub(crate) fn missing(key: impl Into<String>) -> Self {
        Self::MissingKey { key: key.into() }
    }

    pub(crate) fn invalid(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidValue {
            key: key.into(),
            reason: reason.into(),
        }
    }
}
