//! The Apple MDM protocol, without I/O.
//!
//! This crate turns what Apple devices send an MDM server into typed values
//! and builds what the server sends back:
//!
//! * [`checkin`]: check-in messages (`Authenticate`, `TokenUpdate`,
//!   `CheckOut`, `UserAuthenticate`, bootstrap tokens, declarative management,
//!   `GetToken`) for the device channel, user channels and User Enrollment;
//! * [`report`]: command reports (`Idle`, `Acknowledged`, `Error`,
//!   `CommandFormatError`, `NotNow`) and, in [`results`], typed results of
//!   the common commands;
//! * [`command`]: typed builders for commands and the exact plist a device
//!   expects;
//! * [`queue`]: the command-queue rules as a pure state machine;
//! * [`profile`]: enrollment profiles (`.mobileconfig`), signed with CMS;
//! * [`signature`]: `Mdm-Signature` verification and CMS signing;
//! * [`errors`]: the error bodies Apple defines for MDM servers.
//!
//! [`decode_message`] is the entry point for a request body: it tells a
//! check-in from a command report.
//!
//! What it does **not** do: no sockets, files, clocks or randomness. Times,
//! UUIDs and seeds are inputs. Certificate chain trust is the caller's
//! decision (the signature module returns the signer certificate).
//!
//! Every decoder bounds its input ([`pippin_plist::Limits`]) and returns an
//! [`Error`] for bad input; nothing panics on what a device sends.
#![warn(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod checkin;
pub mod command;
mod error;
pub mod errors;
mod fields;
mod identity;
#[cfg(feature = "serde")]
pub mod json;
mod message;
pub mod profile;
pub mod queue;
pub mod report;
pub mod results;
pub mod signature;

pub use checkin::{CheckIn, CheckInMessage};
pub use command::{Command, CommandBody};
pub use error::{Error, Result};
pub use identity::{Channel, EnrollmentId, Identity};
pub use message::{
    Message, MessageKind, classify, decode_message, decode_message_with, decode_request,
    message_from_value,
};
pub use report::{CommandReport, Status};
