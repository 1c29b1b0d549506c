//! Apple property lists, XML and binary, read and written without panics and
//! within bounds.
//!
//! A property list ("plist") is the tree of dictionaries, arrays, strings,
//! numbers, dates and bytes that Apple software uses for configuration and for
//! protocol messages: MDM check-ins and command results, configuration
//! profiles, NetBoot `NBImageInfo.plist` files, software-update catalogs. This
//! crate reads both encodings Apple defines and writes them back:
//!
//! - **XML**, the `<plist version="1.0">` documents described by Apple's DTD
//!   `http://www.apple.com/DTDs/PropertyList-1.0.dtd` ([`from_xml`],
//!   [`to_xml`]);
//! - **binary**, the `bplist00` format of Core Foundation's
//!   `CFBinaryPList.c` ([`from_binary`], [`to_binary`]).
//!
//! [`from_bytes`] tells the two apart by the `bplist00` magic ([`detect`]).
//!
//! # What it does not do
//!
//! - No I/O: decoders read a borrowed byte slice, encoders append to a
//!   caller's `Vec<u8>`. Reading files or sockets is the caller's business.
//! - No general XML: the XML reader knows only the plist vocabulary. It skips
//!   the XML declaration, the `DOCTYPE` (without ever expanding an entity it
//!   declares), comments and processing instructions; it accepts `CDATA`
//!   sections, the five predefined entities and numeric character references,
//!   and rejects everything else. Input must be UTF-8.
//! - No OpenStep (`{ key = value; }`) text plists and no `bplist15`/`bplist16`
//!   variants; no binary sets (`0xC_`), URLs or UUIDs.
//! - No serde *deserialisation* into your own types: decoding gives a
//!   [`Value`] tree that the caller walks. (With the `serde` feature, a
//!   [`Value`] can be *serialised*, for example to JSON.)
//!
//! # Bounds
//!
//! Input is assumed hostile. Every decoder checks the input length, the
//! nesting depth of arrays and dictionaries and the number of values against
//! [`Limits`] while it parses (nothing is recursive, so deep input cannot
//! overflow the stack), checks every declared length against the bytes that
//! are really there before allocating, and returns an [`Error`] — never a
//! panic — for anything it does not accept. [`ErrorKind::UnexpectedEof`]
//! means the input stopped early; the other kinds mean it can never be read.
//!
//! # Example
//!
//! ```
//! use pippin_plist::{Dictionary, Value};
//!
//! let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
//! <!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
//! <plist version="1.0">
//! <dict>
//!     <key>MessageType</key>
//!     <string>TokenUpdate</string>
//!     <key>Token</key>
//!     <data>q83vASM=</data>
//! </dict>
//! </plist>"#;
//!
//! let value = pippin_plist::from_bytes(xml)?;
//! assert_eq!(value.get("MessageType").and_then(Value::as_str), Some("TokenUpdate"));
//! assert_eq!(value.get("Token").and_then(Value::as_data), Some(&[0xab, 0xcd, 0xef, 0x01, 0x23][..]));
//!
//! // The same value in binary form, and back.
//! let binary = pippin_plist::to_binary_vec(&value)?;
//! assert!(binary.starts_with(b"bplist00"));
//! assert_eq!(pippin_plist::from_bytes(&binary)?, value);
//!
//! // Building a value and writing it as XML.
//! let mut dict = Dictionary::new();
//! dict.insert("Status", "Acknowledged");
//! let out = pippin_plist::to_xml_vec(&Value::Dictionary(dict));
//! assert!(out.ends_with(b"<dict>\n\t<key>Status</key>\n\t<string>Acknowledged</string>\n</dict>\n</plist>\n"));
//! # Ok::<(), pippin_plist::Error>(())
//! ```
//!
//! # Features
//!
//! - `serde`: `serde::Serialize` for [`Value`] and its parts, giving natural
//!   JSON (data as base64, dates as RFC 3339 text).
//! - `arbitrary`: `arbitrary::Arbitrary` for [`Value`], for fuzzing.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod base64;
mod binary;
mod date;
mod error;
mod limits;
mod value;
mod xml;

#[cfg(feature = "arbitrary")]
mod arbitrary;
#[cfg(feature = "serde")]
mod serde;

pub use error::{Error, ErrorKind, Result};
pub use limits::Limits;
pub use value::{Date, Dictionary, Integer, Value};

/// The magic bytes that start a binary property list.
const BINARY_MAGIC: &[u8; 8] = b"bplist00";

/// The two encodings of a property list.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum Format {
    /// An XML document, `<plist version="1.0">`.
    Xml,
    /// A binary property list, starting with `bplist00`.
    Binary,
}

/// Tells which encoding `data` is in: [`Format::Binary`] if it starts with
/// `bplist00` (or is a non-empty beginning of it, so that truncated binary
/// input is reported as such), [`Format::Xml`] otherwise.
///
/// ```
/// use pippin_plist::{detect, Format};
///
/// assert_eq!(detect(b"bplist00\x08..."), Format::Binary);
/// assert_eq!(detect(b"<?xml version=\"1.0\"?><plist/>"), Format::Xml);
/// ```
pub fn detect(data: &[u8]) -> Format {
    let is_binary = if data.len() >= BINARY_MAGIC.len() {
        data.starts_with(BINARY_MAGIC)
    } else {
        !data.is_empty() && BINARY_MAGIC.starts_with(data)
    };
    if is_binary {
        Format::Binary
    } else {
        Format::Xml
    }
}

/// Decodes a property list in either encoding (see [`detect`]) with the
/// default [`Limits`].
///
/// A leading UTF-8 byte-order mark and whitespace before an XML document are
/// accepted.
pub fn from_bytes(data: &[u8]) -> Result<Value> {
    from_bytes_with(data, &Limits::default())
}

/// Decodes a property list in either encoding (see [`detect`]) within `limits`.
///
/// ```
/// use pippin_plist::{ErrorKind, Limits};
///
/// let mut limits = Limits::default();
/// limits.max_depth(2);
/// let deep = b"<plist><array><array><array/></array></array></plist>";
/// let err = pippin_plist::from_bytes_with(deep, &limits).unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::TooDeep);
/// ```
pub fn from_bytes_with(data: &[u8], limits: &Limits) -> Result<Value> {
    match detect(data) {
        Format::Xml => from_xml(data, limits),
        Format::Binary => from_binary(data, limits),
    }
}

/// Decodes an XML property list within `limits`.
///
/// The root may be wrapped in `<plist>` (as every writer does) or stand
/// alone. A dictionary holding only the key `CF$UID` with a non-negative
/// integer is read as a [`Value::Uid`], as Core Foundation does.
pub fn from_xml(data: &[u8], limits: &Limits) -> Result<Value> {
    xml::read::decode(data, limits)
}

/// Decodes a binary (`bplist00`) property list within `limits`.
///
/// Objects shared between several parents are decoded once per use; the
/// [`Limits::max_values`] bound counts every use, so a small file cannot
/// expand into an exponentially large tree. A reference cycle is an
/// [`ErrorKind::Cycle`].
pub fn from_binary(data: &[u8], limits: &Limits) -> Result<Value> {
    binary::read::decode(data, limits)
}

/// Appends `value` to `out` as a complete XML property-list document: the
/// XML declaration, Apple's `DOCTYPE`, `<plist version="1.0">`, then the
/// value indented with tabs, as Apple's and Python's writers lay it out.
///
/// Strings are escaped (`&`, `<`, `>`, and `\r` as `&#13;` so that it
/// survives XML line-end normalisation). Reals are written so that they read
/// back to the same `f64` (`nan`, `inf`, `-inf` when not finite). Dates are
/// written with whole seconds (the XML form has no fraction): the fraction is
/// dropped, rounding toward the past. A [`Value::Uid`] is written as
/// `<dict><key>CF$UID</key><integer>N</integer></dict>`, as Apple does.
///
/// XML 1.0 cannot hold control characters other than tab, line feed and
/// carriage return, in any form; strings holding them are written as they
/// are. This crate reads them back, but strict XML readers (Python's
/// `plistlib`, for one) reject such documents: use [`to_binary`] for them.
pub fn to_xml(value: &Value, out: &mut Vec<u8>) {
    xml::write::encode(value, out);
}

/// [`to_xml`] into a new buffer.
pub fn to_xml_vec(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    to_xml(value, &mut out);
    out
}

/// Appends `value` to `out` as a binary (`bplist00`) property list.
///
/// Equal strings, numbers, dates and data are stored once and shared; sizes
/// of integers, object references and offsets are the smallest that fit.
/// Strings that are all ASCII are stored as ASCII, others as UTF-16BE;
/// integers above `i64::MAX` as 16-byte integers, as Core Foundation and
/// Python's `plistlib` expect.
///
/// Every [`Value`] can be encoded; the `Result` is there for limits a future
/// version may add.
pub fn to_binary(value: &Value, out: &mut Vec<u8>) -> Result<()> {
    binary::write::encode(value, out)
}

/// [`to_binary`] into a new buffer.
pub fn to_binary_vec(value: &Value) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    to_binary(value, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detect_formats() {
        assert_eq!(detect(b""), Format::Xml);
        assert_eq!(detect(b"b"), Format::Binary);
        assert_eq!(detect(b"bplist"), Format::Binary);
        assert_eq!(detect(b"bplist00"), Format::Binary);
        assert_eq!(detect(b"bplist01xxxx"), Format::Xml);
        assert_eq!(detect(b"\xef\xbb\xbf<plist/>"), Format::Xml);
        assert_eq!(detect(b"  <plist>"), Format::Xml);
    }

    #[test]
    fn truncated_magic_is_eof() {
        let err = from_bytes(b"bpli").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UnexpectedEof);
    }
}
