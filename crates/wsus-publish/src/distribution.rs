//! Placeholder for the `distribution` module; replaced by its implementation.

/// Errors of the `distribution` module.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DistributionError {
    /// The input was malformed.
    #[error("malformed input")]
    Malformed,
}
