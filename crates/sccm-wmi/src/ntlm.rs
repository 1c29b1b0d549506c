//! NTLMv2 authentication for the SMS Provider's HTTP endpoints: the NTLM
//! messages and their crypto (MS-NLMP), session security (signing and
//! sealing), the SPNEGO wrapping Windows' `Negotiate` scheme uses (MS-SPNG,
//! RFC 4178), the HTTP `Authorization`/`WWW-Authenticate` exchange, and
//! WinRM's encrypted message bodies (MS-WSMV 2.2.9.1).
//!
//! The layers, bottom up:
//!
//! - [`NegotiateMessage`], [`ChallengeMessage`], [`AuthenticateMessage`] and
//!   [`TargetInfo`]: the three NTLM messages, encoded and decoded; every
//!   offset and length from the network is checked;
//! - [`Initiator`]: the client's side — builds NEGOTIATE, reads the server's
//!   CHALLENGE, answers with an NTLMv2 AUTHENTICATE (with its MIC, channel
//!   bindings and target name) and hands back a [`Session`];
//! - [`Session`]: connection-oriented signing and sealing with extended
//!   session security (RC4 state and sequence numbers per direction);
//! - [`spnego`]: `NegTokenInit`/`NegTokenResp`, the `mechListMIC`;
//! - [`HttpAuth`]: the `Negotiate` or `NTLM` HTTP exchange as a small state
//!   machine;
//! - [`winrm`]: `multipart/encrypted` bodies for WinRM over plain HTTP.
//!
//! [`Acceptor`] is the server's side, for tests and simulators.
//!
//! What it does not do: no I/O, no clock, no randomness — the client
//! challenge, the session key and the time are inputs ([`Nonces`], a
//! FILETIME). It speaks NTLMv2 with extended session security and Unicode
//! only: a server that offers only NTLMv1, LM, OEM strings or 40/56-bit
//! keys is refused with an [`NtlmError`], not accommodated. It does not
//! speak Kerberos or CredSSP.
//!
//! ```
//! use sccm_wmi::ntlm::{Credentials, Initiator, Nonces};
//!
//! let credentials = Credentials::parse("CONTOSO\\svc_bridge", "secret")?;
//! let mut initiator = Initiator::new(credentials, "PIPPIN");
//! initiator.target_spn("HTTP/provider.contoso.com");
//! let negotiate = initiator.negotiate()?;
//! assert_eq!(&negotiate[..8], b"NTLMSSP\0");
//! // Send it, read the server's CHALLENGE, then:
//! // let (authenticate, session) = initiator.authenticate(&challenge, &nonces, now)?;
//! # Ok::<(), sccm_wmi::ntlm::NtlmError>(())
//! ```

mod acceptor;
mod crypto;
mod http;
mod initiator;
mod messages;
mod session;
pub mod spnego;
pub mod winrm;

#[cfg(test)]
mod tests;

pub use acceptor::Acceptor;
pub use crypto::{channel_bindings_hash, nt_hash, ntowf_v2, tls_server_end_point};
pub use http::{AuthScheme, HttpAuth, WwwAuthenticate, parse_www_authenticate};
pub use initiator::{Credentials, Initiator, Nonces, filetime};
pub use messages::{
    AuthenticateMessage, AvFlags, AvPair, ChallengeMessage, MAX_MESSAGE_LEN, NegotiateFlags,
    NegotiateMessage, NtlmV2Response, TargetInfo, Version, message_type,
};
pub use session::{SIGNATURE_LEN, Session};

/// An NTLM, SPNEGO or WinRM-encryption step failed.
///
/// Variants a caller acts on differently are separate: a server that
/// refused the credentials ([`CredentialsRejected`](Self::CredentialsRejected))
/// is not a malformed message, and neither is a server that lacks what we
/// require ([`Unsupported`](Self::Unsupported)).
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum NtlmError {
    /// An NTLM message could not be read.
    #[error("malformed NTLM {message} message at byte {offset}: {reason}")]
    Malformed {
        /// Which message (`NEGOTIATE`, `CHALLENGE`, `AUTHENTICATE`,
        /// `TargetInfo`, `NTLMv2 response`).
        message: &'static str,
        /// Byte offset in the message.
        offset: usize,
        /// What was wrong.
        reason: &'static str,
    },
    /// The message is an NTLM message of another type than expected.
    #[error("expected an NTLM {expected} message, got message type {got}")]
    UnexpectedMessage {
        /// The message we wanted.
        expected: &'static str,
        /// The `MessageType` field we read.
        got: u32,
    },
    /// A SPNEGO token could not be read.
    #[error("malformed SPNEGO token at byte {offset}: {reason}")]
    Spnego {
        /// Byte offset in the token.
        offset: usize,
        /// What was wrong.
        reason: &'static str,
    },
    /// The server's CHALLENGE lacks something this implementation requires
    /// (NTLMv2 target information, extended session security, 128-bit keys,
    /// signing, sealing, Unicode).
    #[error("the server does not offer {0}, which this client requires")]
    Unsupported(&'static str),
    /// The server chose a SPNEGO mechanism other than NTLM.
    #[error("the server chose the SPNEGO mechanism {0}, not NTLM")]
    MechanismNotOffered(String),
    /// The server refused the credentials: SPNEGO `reject`, or HTTP 401 in
    /// answer to our AUTHENTICATE message.
    #[error("the server refused the credentials")]
    CredentialsRejected,
    /// The server's HTTP answer did not carry the challenge we need.
    #[error("the server's WWW-Authenticate offers no {scheme} challenge (offered: {offered})")]
    NoChallenge {
        /// Our scheme (`Negotiate` or `NTLM`).
        scheme: &'static str,
        /// The schemes the server offered, comma-separated.
        offered: String,
    },
    /// A signature, MIC or `mechListMIC` did not verify.
    #[error("the {0} does not verify")]
    BadSignature(&'static str),
    /// An account name or password cannot be used.
    #[error("invalid credentials: {0}")]
    InvalidCredentials(&'static str),
    /// A method was called in the wrong state (for example
    /// [`Initiator::authenticate`] before [`Initiator::negotiate`]).
    #[error("NTLM exchange out of order: {0}")]
    OutOfOrder(&'static str),
    /// A server certificate given for channel bindings could not be read.
    #[error("the server certificate cannot be read at byte {0}")]
    InvalidCertificate(usize),
    /// An encrypted WinRM body could not be read.
    #[error("encrypted WinRM message: {0}")]
    Encryption(&'static str),
    /// A value exceeds a size or count limit.
    #[error("{what} exceeds {limit}")]
    TooLarge {
        /// What was measured.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
}
