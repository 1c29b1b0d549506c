//! Placeholder for the `catalog` module; replaced by its implementation.

/// Errors of the `catalog` module.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    /// The input was malformed.
    #[error("malformed input")]
    Malformed,
}
