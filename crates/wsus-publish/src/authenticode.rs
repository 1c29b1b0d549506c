//! Placeholder for the `authenticode` module; replaced by its implementation.

/// Size of the header reserve an Authenticode signature uses.
pub const CAB_RESERVE_SIZE: u16 = 20;

/// Writes the reserve's marker into a zeroed reserve.
pub(crate) fn init_reserve(reserve: &mut [u8]) {
    reserve[..4].copy_from_slice(&0x0010_0000u32.to_le_bytes());
}

/// Errors of the `authenticode` module.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// The input was malformed.
    #[error("malformed input")]
    Malformed,
}
