//! Placeholder for the `authenticode` module; replaced by its implementation.

/// Errors of the `authenticode` module.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// The input was malformed.
    #[error("malformed input")]
    Malformed,
}
