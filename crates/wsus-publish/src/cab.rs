//! Placeholder for the `cab` module; replaced by its implementation.

/// Errors of the `cab` module.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CabError {
    /// The input was malformed.
    #[error("malformed input")]
    Malformed,
}
