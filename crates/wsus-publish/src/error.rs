//! The crate's error type.

/// Everything that can go wrong between an Apple catalog and a signed
/// WSUS catalog. Each stage has its own error type next to it; this enum
/// gathers them for callers that run the whole pipeline.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The `.sucatalog` could not be read.
    #[error("software update catalog: {0}")]
    Catalog(#[from] crate::catalog::CatalogError),
    /// A product's distribution file could not be read.
    #[error("distribution file: {0}")]
    Distribution(#[from] crate::distribution::DistributionError),
    /// A download failed.
    #[error("{0}")]
    Fetch(#[from] crate::fetch::FetchError),
    /// The cabinet could not be built.
    #[error("cabinet: {0}")]
    Cab(#[from] crate::cab::CabError),
    /// The cabinet could not be signed.
    #[error("Authenticode signature: {0}")]
    Sign(#[from] crate::authenticode::SignError),
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
