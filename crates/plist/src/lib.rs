//! Apple property lists, XML and binary, read and written without panics and
//! within bounds.
//!
//! (The crate documentation is completed with the codecs.)
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod error;
mod value;

pub use error::{Error, ErrorKind, Result};
pub use value::{Date, Dictionary, Integer, Value};
