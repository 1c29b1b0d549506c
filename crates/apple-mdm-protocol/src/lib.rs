//! The Apple MDM protocol, without I/O.
//!
//! (Crate documentation is completed as the modules land.)
#![warn(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod command;
mod error;
mod fields;
pub mod results;
pub mod signature;

pub use error::{Error, Result};
