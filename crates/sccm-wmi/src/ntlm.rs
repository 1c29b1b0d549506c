//! NTLMv2 authentication, signing and sealing.

/// An NTLM message could not be read, or the exchange failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("NTLM failed")]
pub struct NtlmError;
