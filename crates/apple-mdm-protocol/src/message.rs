//! Telling a check-in from a command report.

use pippin_plist::{Dictionary, Limits, Value};

use crate::checkin::CheckIn;
use crate::error::{Error, Result};
use crate::identity::{EnrollmentId, Identity};
use crate::report::CommandReport;

/// Anything a device sends: a check-in or a command report.
#[derive(Clone, Debug, PartialEq)]
pub enum Message {
    /// A dictionary with `MessageType`.
    CheckIn(CheckIn),
    /// A dictionary with `Status`.
    Report(CommandReport),
}

/// Which kind of message a dictionary is, by its keys alone.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum MessageKind {
    /// Has `MessageType`.
    CheckIn,
    /// Has `Status` (and no `MessageType`).
    Report,
}

impl MessageKind {
    /// `checkin` or `report`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CheckIn => "checkin",
            Self::Report => "report",
        }
    }
}

/// Classifies a top-level dictionary: `MessageType` makes it a check-in,
/// otherwise `Status` makes it a command report. Apple's servers accept
/// either on either URL, and so does this crate.
pub fn classify(dict: &Dictionary) -> Option<MessageKind> {
    if dict.contains_key("MessageType") {
        Some(MessageKind::CheckIn)
    } else if dict.contains_key("Status") {
        Some(MessageKind::Report)
    } else {
        None
    }
}

/// Decodes a request body (XML or binary plist) into a check-in or a command
/// report, with the default [`Limits`].
///
/// ```
/// use apple_mdm_protocol::{decode_message, Message, Status};
///
/// let body = br#"<?xml version="1.0" encoding="UTF-8"?>
/// <plist version="1.0"><dict>
///   <key>Status</key><string>Idle</string>
///   <key>UDID</key><string>0000-1111</string>
/// </dict></plist>"#;
/// let Message::Report(r) = decode_message(body)? else { panic!() };
/// assert_eq!(r.status, Status::Idle);
/// assert_eq!(r.identity.udid.as_deref(), Some("0000-1111"));
/// # Ok::<(), apple_mdm_protocol::Error>(())
/// ```
pub fn decode_message(body: &[u8]) -> Result<Message> {
    decode_message_with(body, &Limits::default())
}

/// [`decode_message`] with explicit limits.
pub fn decode_message_with(body: &[u8], limits: &Limits) -> Result<Message> {
    let value = pippin_plist::from_bytes_with(body, limits)?;
    message_from_value(value)
}

/// What an MDM server's request handler does first with a body: decode it
/// within `limits` and name the enrollment it belongs to (an error when the
/// message identifies none).
pub fn decode_request(body: &[u8], limits: &Limits) -> Result<(Message, EnrollmentId)> {
    let message = decode_message_with(body, limits)?;
    let id = message.identity().enrollment_id()?;
    Ok((message, id))
}

/// Classifies and decodes an already-parsed plist value.
pub fn message_from_value(value: Value) -> Result<Message> {
    let dict = value.into_dictionary().map_err(|v| Error::NotADictionary {
        found: v.type_name(),
    })?;
    match classify(&dict) {
        Some(MessageKind::CheckIn) => CheckIn::from_dictionary(dict).map(Message::CheckIn),
        Some(MessageKind::Report) => CommandReport::from_dictionary(dict).map(Message::Report),
        None => Err(Error::UnknownMessage),
    }
}

impl Message {
    /// Which kind of message this is.
    pub fn kind(&self) -> MessageKind {
        match self {
            Self::CheckIn(_) => MessageKind::CheckIn,
            Self::Report(_) => MessageKind::Report,
        }
    }

    /// Who sent it.
    pub fn identity(&self) -> &Identity {
        match self {
            Self::CheckIn(c) => &c.identity,
            Self::Report(r) => &r.identity,
        }
    }
}
