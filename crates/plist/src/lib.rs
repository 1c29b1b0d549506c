//! Apple property lists, XML and binary, read and written without panics and
//! within bounds.
//!
//! (The crate documentation is completed with the codecs.)
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod value;

pub use value::{Date, Dictionary, Integer, Value};
