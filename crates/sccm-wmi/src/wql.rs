//! WQL: a builder with escaped values and checked identifiers, and a parser.

/// A WQL query or value that was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("WQL refused")]
pub struct WqlError;
