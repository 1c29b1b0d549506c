//! The crate's error type.

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Everything that can go wrong in this crate.
///
/// The variants fall into groups a caller treats differently:
///
/// - the provider ran the request and WMI said no: [`Wmi`](Self::Wmi)
///   (AdminService) and [`Fault`](Self::Fault) (WS-Management), both with
///   WMI's error code and description when the provider gave them;
/// - a query this crate refuses to build: [`Wql`](Self::Wql),
///   [`InvalidRequest`](Self::InvalidRequest);
/// - authentication: [`Ntlm`](Self::Ntlm) (a malformed or refused NTLM
///   exchange), [`AuthenticationFailed`](Self::AuthenticationFailed) (the
///   server said 401 to our credentials);
/// - the provider answered something unreadable or too large:
///   [`InvalidResponse`](Self::InvalidResponse),
///   [`TooLarge`](Self::TooLarge), [`Http`](Self::Http);
/// - the transport (feature `client`): [`Transport`](Self::Transport),
///   [`Tls`](Self::Tls).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The provider reported a WMI error through AdminService.
    #[error("{0}")]
    Wmi(crate::odata::WmiError),
    /// The WS-Management service answered with a SOAP fault.
    #[error("{0}")]
    Fault(Box<crate::wsman::WsManFault>),
    /// A WQL query or value was refused.
    #[error("{0}")]
    Wql(#[from] crate::wql::WqlError),
    /// The NTLM exchange failed or a message could not be read.
    #[error("{0}")]
    Ntlm(#[from] crate::ntlm::NtlmError),
    /// The server refused our credentials.
    #[error("the SMS Provider refused the credentials for {user}: {detail}")]
    AuthenticationFailed {
        /// The account, as `DOMAIN\user` (never the password).
        user: String,
        /// What the server said or what was tried.
        detail: String,
    },
    /// A request this crate refuses to build (an invalid class or property
    /// name, a key of the wrong shape, a URL that is not the provider's).
    #[error("invalid request: {what}")]
    InvalidRequest {
        /// What was wrong.
        what: String,
    },
    /// The provider answered something this crate cannot read.
    #[error("the SMS Provider's answer could not be read: {what}")]
    InvalidResponse {
        /// What was wrong.
        what: String,
    },
    /// An answer, or a part of one, passed a size, depth or count limit.
    #[error("the SMS Provider's answer is too large: {what} exceeds {limit}")]
    TooLarge {
        /// What was counted.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
    /// An HTTP status with no WMI error in the body.
    #[error("the SMS Provider answered HTTP {status}: {body}")]
    Http {
        /// The status code.
        status: u16,
        /// The start of the body, as text.
        body: String,
    },
    /// Connecting, sending or receiving failed.
    #[error("transport: {0}")]
    Transport(String),
    /// The TLS handshake failed, or the server's certificate is neither
    /// trusted nor pinned.
    #[error("TLS: {0}")]
    Tls(String),
}

impl From<crate::odata::WmiError> for Error {
    fn from(e: crate::odata::WmiError) -> Self {
        Self::Wmi(e)
    }
}

impl From<crate::wsman::WsManFault> for Error {
    fn from(e: crate::wsman::WsManFault) -> Self {
        Self::Fault(Box::new(e))
    }
}
