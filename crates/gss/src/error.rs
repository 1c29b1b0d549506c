//! The crate's error type.

use std::fmt;

/// A `Result` with [`GssError`].
pub type Result<T> = std::result::Result<T, GssError>;

/// What went wrong.
///
/// A caller that can fall back to another mechanism (the ConfigMgr client
/// falls back to its own NTLM) does so on [`GssError::Unavailable`] and
/// [`GssError::NoCredentials`]; see [`GssError::is_fallback`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GssError {
    /// The GSS-API library could not be loaded, or lacks a function this
    /// crate needs: Kerberos is not available on this machine.
    #[error("Kerberos is unavailable: {reason}")]
    Unavailable {
        /// Why, as the dynamic loader or the symbol lookup said.
        reason: String,
    },
    /// There are no usable Kerberos credentials: no ticket cache, no
    /// ticket-granting ticket, an expired one, or no keytab.
    #[error("no Kerberos credentials: {0}")]
    NoCredentials(Status),
    /// The library reported an error (a bad or tampered token, a wrong
    /// key, mismatched channel bindings, an unknown server principal, ...).
    #[error("{0}")]
    Gss(Status),
    /// An input is larger than this crate accepts.
    #[error("{what} of {len} bytes is larger than the limit of {max} bytes")]
    TooLarge {
        /// Which input.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// An input is not acceptable (for example a name with a NUL byte).
    #[error("invalid {what}: {reason}")]
    InvalidInput {
        /// Which input.
        what: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The call does not fit the state of the exchange (a step after the
    /// context is complete or failed), or the library behaved in a way
    /// this crate does not accept.
    #[error("{0}")]
    State(&'static str),
}

impl GssError {
    /// Classifies a failed library call: credential problems become
    /// [`GssError::NoCredentials`], everything else [`GssError::Gss`].
    pub(crate) fn from_status(status: Status) -> Self {
        if status.is_no_credentials() {
            Self::NoCredentials(status)
        } else {
            Self::Gss(status)
        }
    }

    /// Whether a caller should fall back to another mechanism (NTLM):
    /// Kerberos is unavailable or there are no credentials for it.
    pub fn is_fallback(&self) -> bool {
        matches!(self, Self::Unavailable { .. } | Self::NoCredentials(_))
    }

    /// The library's status, when the library reported the error.
    pub fn status(&self) -> Option<&Status> {
        match self {
            Self::NoCredentials(s) | Self::Gss(s) => Some(s),
            _ => None,
        }
    }
}

/// Major status codes (RFC 2744 section 3.9.1), for comparing with
/// [`Status::routine_error`] and [`Status::supplementary`].
pub mod major {
    /// A routine error's field, shifted into place.
    const fn routine(n: u32) -> u32 {
        n << 16
    }
    /// An unsupported mechanism was requested.
    pub const BAD_MECH: u32 = routine(1);
    /// An invalid name was supplied.
    pub const BAD_NAME: u32 = routine(2);
    /// A supplied name was of an unsupported type.
    pub const BAD_NAMETYPE: u32 = routine(3);
    /// Incorrect channel bindings were supplied.
    pub const BAD_BINDINGS: u32 = routine(4);
    /// A token had an invalid MIC (`GSS_S_BAD_SIG`, `GSS_S_BAD_MIC`).
    pub const BAD_MIC: u32 = routine(6);
    /// No credentials were supplied, or they were unavailable.
    pub const NO_CRED: u32 = routine(7);
    /// No context has been established.
    pub const NO_CONTEXT: u32 = routine(8);
    /// A token was invalid.
    pub const DEFECTIVE_TOKEN: u32 = routine(9);
    /// A credential was invalid.
    pub const DEFECTIVE_CREDENTIAL: u32 = routine(10);
    /// The referenced credentials have expired.
    pub const CREDENTIALS_EXPIRED: u32 = routine(11);
    /// The context has expired.
    pub const CONTEXT_EXPIRED: u32 = routine(12);
    /// Miscellaneous failure: see the minor code.
    pub const FAILURE: u32 = routine(13);
    /// The operation is not available.
    pub const UNAVAILABLE: u32 = routine(16);
    /// Supplementary: the token was a duplicate of an earlier one.
    pub const DUPLICATE_TOKEN: u32 = 1 << 1;
    /// Supplementary: the token's validity period has expired.
    pub const OLD_TOKEN: u32 = 1 << 2;
    /// Supplementary: a later token has already been processed.
    pub const UNSEQ_TOKEN: u32 = 1 << 3;
    /// Supplementary: an expected per-message token was not received.
    pub const GAP_TOKEN: u32 = 1 << 4;
}

/// Minor codes (MIT krb5 com_err codes) that mean "no usable credentials".
const NO_CREDENTIALS_MINOR: &[i32] = &[
    -1_765_328_189, // KRB5_FCC_NOFILE: No credentials cache found
    -1_765_328_243, // KRB5_CC_NOTFOUND: Matching credential not found
    -1_765_328_242, // KRB5_CC_END: End of credential cache reached
    -1_765_328_203, // KRB5_KT_NOTFOUND: Key table entry not found
    -1_765_328_202, // KRB5_KT_END: End of key table reached
    -1_765_328_352, // KRB5KRB_AP_ERR_TKT_EXPIRED: Ticket expired
];

/// A status the library returned: the function, its major and minor
/// codes, and the library's own description of both (from
/// `gss_display_status`).
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Status {
    /// What this crate was doing.
    pub operation: &'static str,
    /// The major status (routine error, calling error and supplementary
    /// bits).
    pub major: u32,
    /// The mechanism's minor status (for MIT krb5, a com_err code).
    pub minor: u32,
    /// The library's description.
    pub message: String,
}

impl Status {
    /// The routine error field, in place (compare with [`major`]'s
    /// constants); 0 if none.
    pub fn routine_error(&self) -> u32 {
        self.major & 0x00ff_0000
    }

    /// The supplementary bits (compare with [`major::DUPLICATE_TOKEN`] and
    /// the others).
    pub fn supplementary(&self) -> u32 {
        self.major & 0xffff
    }

    /// The minor code as the signed com_err value MIT krb5 documents.
    pub fn minor_signed(&self) -> i32 {
        self.minor as i32
    }

    fn is_no_credentials(&self) -> bool {
        matches!(
            self.routine_error(),
            major::NO_CRED | major::CREDENTIALS_EXPIRED
        ) || NO_CREDENTIALS_MINOR.contains(&self.minor_signed())
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} (major {:#010x}, minor {})",
            self.operation,
            self.message,
            self.major,
            self.minor_signed()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(major: u32, minor: i32) -> Status {
        Status {
            operation: "testing",
            major,
            minor: minor as u32,
            message: "text".to_owned(),
        }
    }

    #[test]
    fn credential_problems_are_classified_for_fallback() {
        let e = GssError::from_status(status(major::NO_CRED, 0));
        assert!(matches!(e, GssError::NoCredentials(_)));
        assert!(e.is_fallback());
        let e = GssError::from_status(status(major::FAILURE, -1_765_328_189));
        assert!(matches!(e, GssError::NoCredentials(_)));
        let e = GssError::from_status(status(major::CREDENTIALS_EXPIRED, 0));
        assert!(matches!(e, GssError::NoCredentials(_)));
        let e = GssError::from_status(status(major::BAD_MIC, 0));
        assert!(matches!(e, GssError::Gss(_)));
        assert!(!e.is_fallback());
        assert!(
            GssError::Unavailable {
                reason: String::new()
            }
            .is_fallback()
        );
    }

    #[test]
    fn status_fields_split_and_display() {
        let s = status(major::BAD_BINDINGS | major::DUPLICATE_TOKEN, -1_765_328_189);
        assert_eq!(s.routine_error(), major::BAD_BINDINGS);
        assert_eq!(s.supplementary(), major::DUPLICATE_TOKEN);
        assert_eq!(
            s.to_string(),
            "testing: text (major 0x00040002, minor -1765328189)"
        );
        let e = GssError::TooLarge {
            what: "token",
            len: 70_000,
            max: 65_536,
        };
        assert_eq!(
            e.to_string(),
            "token of 70000 bytes is larger than the limit of 65536 bytes"
        );
        assert!(e.status().is_none());
    }
}
