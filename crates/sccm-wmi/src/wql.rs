//! WQL: a builder with escaped values and checked identifiers, and a parser
//! that refuses anything outside the `SELECT` subset ConfigMgr uses.
//!
//! WQL is WMI's SQL dialect ([MS-WMI] 2.2.1, "WQL Query"; the WMI SDK's
//! "WQL (SQL for WMI)"). ConfigMgr's SMS Provider accepts an extended form
//! in queries and collection query rules: joins between classes
//! (`inner join SMS_G_System_X on SMS_G_System_X.ResourceId =
//! SMS_R_System.ResourceId`), `in` with a list or a sub-select
//! (`ResourceId in (select ResourceId from …)`), `distinct`, and a few
//! functions (`DateAdd`, `DateDiff`, `GetDate`, `Upper`, `Lower`). Plain
//! WMI (`root\cimv2`) has none of these; a query using them is only
//! meaningful against the SMS Provider.
//!
//! What this module does:
//!
//! - [`Select`] and [`Condition`] build a [`Query`]; [`Select::build`]
//!   checks every identifier (`[A-Za-z_][A-Za-z0-9_]*`, ASCII only — WQL
//!   also allows non-ASCII letters, which ConfigMgr's classes never use) and
//!   every number, and the query's [`Display`](std::fmt::Display) writes
//!   canonical WQL with string values escaped (`\` and `"` preceded by `\`);
//! - [`parse`] reads a `SELECT` statement typed by someone else (a
//!   collection query rule an admin wrote, say) into the same [`Query`], and
//!   refuses what is outside the subset: a second statement, stray quotes,
//!   comment markers, unknown keywords or functions, unbalanced
//!   parentheses, a comparison between two literals (`1=1`), control
//!   characters, input over [`MAX_QUERY_LEN`] bytes and nesting deeper than
//!   [`MAX_DEPTH`]. `parse(&q.to_string()) == Ok(q)` for every query that
//!   [`Select::build`] accepts or `parse` returns.
//!
//! What it does not do: it does not know the classes or their properties
//! (an unknown class passes here and fails at the provider), does not
//! evaluate queries, and does not parse event queries (`WITHIN`, `GROUP`,
//! `HAVING`) or `ASSOCIATORS OF`/`REFERENCES OF`.
//!
//! ```
//! use sccm_wmi::wql::{self, Condition, Select};
//!
//! let q = Select::new("SMS_R_System")
//!     .properties(["ResourceId", "Name"])
//!     .filter(Condition::eq("Name", "MAC-0001\" or 1=1 --"))
//!     .build()?;
//! assert_eq!(
//!     q.to_string(),
//!     r#"SELECT ResourceId, Name FROM SMS_R_System WHERE Name = "MAC-0001\" or 1=1 --""#
//! );
//! assert_eq!(wql::parse(&q.to_string())?, q);
//! assert!(wql::parse("SELECT * FROM SMS_R_System; DELETE").is_err());
//! # Ok::<(), sccm_wmi::wql::WqlError>(())
//! ```

mod ast;
mod builder;
mod lexer;
mod parser;

#[cfg(test)]
mod tests;

pub use ast::{
    CompareOp, Condition, Function, InSet, Join, JoinKind, Literal, Operand, Projection,
    PropertyRef, Query,
};
pub use builder::{Select, escape_like};
pub use parser::parse;

/// The longest query [`parse`] reads, in bytes (ConfigMgr's own query
/// rules are a few KiB at most).
pub const MAX_QUERY_LEN: usize = 64 * 1024;

/// The deepest nesting [`parse`] and [`Select::build`] accept: parentheses,
/// `NOT`s, function calls and sub-selects together.
pub const MAX_DEPTH: usize = 32;

/// The longest identifier (class, property or function name) accepted.
pub const MAX_IDENTIFIER_LEN: usize = 256;

/// A WQL query or value that was refused: what was wrong, and where.
///
/// `offset` is the byte offset in the text [`parse`] was given; for a query
/// refused by [`Select::build`] it is the offset inside the offending
/// identifier or value (0 when the whole value is at fault).
#[derive(Clone, Copy, Debug, Eq, PartialEq, thiserror::Error)]
#[error("WQL refused at byte {offset}: {kind}")]
pub struct WqlError {
    /// What was wrong.
    pub kind: WqlErrorKind,
    /// Where, in bytes from the start.
    pub offset: usize,
}

/// What was wrong with a WQL query.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum WqlErrorKind {
    /// The input is longer than [`MAX_QUERY_LEN`].
    TooLong,
    /// Nesting deeper than [`MAX_DEPTH`].
    TooDeep,
    /// A character that is not part of WQL here (`;`, `/`, `#`, `-` not
    /// before a digit, …).
    UnexpectedChar,
    /// A control character (NUL included), outside or inside a string.
    ControlChar,
    /// A string literal without its closing quote.
    UnterminatedString,
    /// A backslash in a string followed by something other than `\`, `"`
    /// or `'`.
    InvalidEscape,
    /// A number that does not fit (`i64`, or a finite `f64`).
    InvalidNumber,
    /// A token where another was expected (an unknown keyword, a missing
    /// operand, an unbalanced parenthesis).
    UnexpectedToken,
    /// The text ended in the middle of the query.
    UnexpectedEnd,
    /// Text after the end of the statement (a second statement, say).
    TrailingInput,
    /// A class, property or function name that is not a WQL identifier,
    /// or is a reserved word.
    InvalidIdentifier,
    /// A function WQL (as ConfigMgr extends it) does not have, or a call
    /// with the wrong number of arguments.
    UnknownFunction,
    /// A comparison with no property or function on either side (`1 = 1`).
    NoProperty,
    /// A list that must not be empty (`IN ()`, a `SELECT` with no
    /// properties).
    EmptyList,
}

impl core::fmt::Display for WqlErrorKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::TooLong => "query too long",
            Self::TooDeep => "nesting too deep",
            Self::UnexpectedChar => "unexpected character",
            Self::ControlChar => "control character",
            Self::UnterminatedString => "unterminated string",
            Self::InvalidEscape => "invalid escape in string",
            Self::InvalidNumber => "invalid number",
            Self::UnexpectedToken => "unexpected token",
            Self::UnexpectedEnd => "unexpected end of query",
            Self::TrailingInput => "text after the end of the query",
            Self::InvalidIdentifier => "invalid identifier",
            Self::UnknownFunction => "unknown function or wrong argument count",
            Self::NoProperty => "comparison without a property",
            Self::EmptyList => "empty list",
        })
    }
}

impl WqlError {
    pub(crate) const fn new(kind: WqlErrorKind, offset: usize) -> Self {
        Self { kind, offset }
    }
}

/// The words WQL (with ConfigMgr's extensions) reserves; none of them is
/// accepted as a class or property name.
pub(crate) const KEYWORDS: &[&str] = &[
    "AND",
    "ASSOCIATORS",
    "BY",
    "DELETE",
    "DISTINCT",
    "FALSE",
    "FROM",
    "FULL",
    "GROUP",
    "HAVING",
    "IN",
    "INNER",
    "INSERT",
    "IS",
    "ISA",
    "JOIN",
    "KEYSONLY",
    "LEFT",
    "LIKE",
    "NOT",
    "NULL",
    "OF",
    "ON",
    "OR",
    "OUTER",
    "REFERENCES",
    "RIGHT",
    "SELECT",
    "TRUE",
    "UPDATE",
    "WHERE",
    "WITHIN",
];

/// Whether `word` is one of WQL's reserved words (any case).
pub(crate) fn is_keyword(word: &str) -> bool {
    KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(word))
}

/// Checks a WMI class or property name: an ASCII letter or `_`, then
/// letters, digits and `_`, at most [`MAX_IDENTIFIER_LEN`] bytes, and not a
/// WQL reserved word. On failure the error's offset is that of the first
/// offending byte.
///
/// ```
/// use sccm_wmi::wql::check_identifier;
/// assert!(check_identifier("SMS_G_System_COMPUTER_SYSTEM").is_ok());
/// assert!(check_identifier("__RELPATH").is_ok());
/// assert!(check_identifier("Name eq 'x'").is_err());
/// assert!(check_identifier("Select").is_err());
/// ```
pub fn check_identifier(name: &str) -> Result<(), WqlError> {
    let bad = |at| Err(WqlError::new(WqlErrorKind::InvalidIdentifier, at));
    let bytes = name.as_bytes();
    match bytes.first() {
        None => return bad(0),
        Some(b) if !(b.is_ascii_alphabetic() || *b == b'_') => return bad(0),
        _ => {}
    }
    if let Some(i) = bytes
        .iter()
        .position(|b| !(b.is_ascii_alphanumeric() || *b == b'_'))
    {
        return bad(i);
    }
    if bytes.len() > MAX_IDENTIFIER_LEN {
        return bad(MAX_IDENTIFIER_LEN);
    }
    if is_keyword(name) {
        return bad(0);
    }
    Ok(())
}
