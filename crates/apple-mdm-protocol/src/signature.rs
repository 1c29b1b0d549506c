//! CMS signatures: `Mdm-Signature` verification and profile signing.

/// Why a signature could not be verified or made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// Placeholder until the module lands.
    #[error("signature support is not built yet")]
    Unavailable,
}
