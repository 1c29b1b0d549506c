//! Kerberos, and SPNEGO around it, through the system's GSS-API library
//! (MIT krb5's `libgssapi_krb5.so.2`), loaded at run time.
//!
//! Pippin does not implement Kerberos: it asks the platform's library,
//! which already knows the realm, the ticket cache and the keytab. The
//! library is opened with `dlopen` when first needed ([`Library::load`]),
//! so building needs no headers, no bindgen and no C toolchain, and a
//! machine without it reports Kerberos as [`GssError::Unavailable`] (a
//! caller then falls back to NTLM, as it does on
//! [`GssError::NoCredentials`]).
//!
//! What it does:
//! - establishes contexts as the client ([`Initiator`], with channel
//!   bindings, a chosen credential cache or client keytab, and the flags
//!   WinRM needs) and as the server ([`Acceptor`], with a chosen keytab,
//!   reporting the client's principal);
//! - protects messages on an established [`Context`]: `gss_wrap` /
//!   `gss_unwrap`, MICs, and WinRM message encryption (MS-WSMV 2.2.9.1,
//!   `gss_wrap_iov` with a separate header).
//!
//! What it does not do: any I/O of its own (tokens go over whatever
//! transport the caller has), NTLM, or touching the process environment
//! (credential stores name the cache and keytab per call; the library
//! still reads `KRB5_CONFIG` for the realm settings).
//!
//! This is the only crate of the workspace with `unsafe` code, all of it
//! in one private module that declares the C interface (RFC 2744 and MIT's
//! `gssapi_ext.h`) and wraps each call.
//!
//! A client authenticating to an HTTP service with `Negotiate` (the
//! tokens travel base64-encoded in `Authorization` and
//! `WWW-Authenticate` headers):
//!
//! ```no_run
//! use pippin_gss::{Initiator, InitiatorOptions, Library, Mech};
//!
//! # fn send(token: &[u8]) -> Option<Vec<u8>> { None }
//! # fn main() -> Result<(), pippin_gss::GssError> {
//! let lib = Library::load()?;
//! let mut options = InitiatorOptions::default();
//! // The SHA-256 hash of the server's TLS certificate.
//! options.channel_bindings(pippin_gss::tls_server_end_point(&[0u8; 32]));
//! let mut initiator = Initiator::new(&lib, "HTTP@cm01.contoso.com", Mech::Spnego, &options)?;
//! let mut step = initiator.step(None)?;
//! while let Some(token) = step.token.take() {
//!     let Some(reply) = send(&token) else { break };
//!     step = initiator.step(Some(&reply))?;
//! }
//! let mut context = initiator.into_context()?;
//! let (header, sealed) = context.wrap_winrm(b"<s:Envelope/>")?;
//! # let _ = (header, sealed);
//! # Ok(())
//! # }
//! ```
//!
//! Where Kerberos cannot be used, the error says so, and the caller falls
//! back to NTLM:
//!
//! ```
//! use pippin_gss::{GssError, Library};
//!
//! let e = Library::load_from("/nonexistent/libgssapi_krb5.so.2").unwrap_err();
//! assert!(matches!(e, GssError::Unavailable { .. }));
//! assert!(e.is_fallback());
//! ```

#![warn(missing_docs)]

mod context;
mod error;
mod ffi;

use std::sync::Arc;

pub use context::{
    Acceptor, Context, Initiator, InitiatorOptions, Step, Unwrapped, tls_server_end_point,
};
pub use error::{GssError, Result, Status, major};
pub use ffi::Library;

/// The library [`Library::load`] opens unless [`LIBRARY_ENV`] names
/// another: MIT krb5's GSS-API library (Debian package
/// `libgssapi-krb5-2`).
pub const DEFAULT_LIBRARY: &str = "libgssapi_krb5.so.2";

/// The environment variable that names another GSS-API library (a file
/// name or a path) for [`Library::load`].
pub const LIBRARY_ENV: &str = "PIPPIN_GSSAPI_LIBRARY";

/// The largest context token, MIC or WinRM header accepted from a peer:
/// 64 KiB (Windows caps Kerberos tokens at 48 KiB).
pub const MAX_TOKEN_LEN: usize = 64 * 1024;

/// The largest message [`Context`] wraps or unwraps: 16 MiB.
pub const MAX_MESSAGE_LEN: usize = 16 * 1024 * 1024;

impl Library {
    /// Opens the GSS-API library: the one [`LIBRARY_ENV`] names, else
    /// [`DEFAULT_LIBRARY`]. Fails with [`GssError::Unavailable`] if it
    /// cannot be opened or lacks a function this crate needs (it needs
    /// MIT krb5 1.11 or later, for credential stores).
    pub fn load() -> Result<Arc<Self>> {
        match std::env::var(LIBRARY_ENV) {
            Ok(path) if !path.is_empty() => Self::load_from(&path),
            _ => Self::load_from(DEFAULT_LIBRARY),
        }
    }

    /// Opens the GSS-API library at `path` (a file name, searched for the
    /// way the dynamic loader does, or a path).
    pub fn load_from(path: &str) -> Result<Arc<Self>> {
        Self::open(path).map(Arc::new)
    }
}

/// The mechanism an [`Initiator`] uses.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum Mech {
    /// SPNEGO (1.3.6.1.5.5.2), as HTTP `Negotiate` sends it, with
    /// Kerberos inside.
    Spnego,
    /// Kerberos V5 (1.2.840.113554.1.2.2) without SPNEGO around it.
    Kerberos,
}

impl Mech {
    /// The DER contents octets of the mechanism's OID.
    pub fn oid(self) -> &'static [u8] {
        match self {
            Self::Spnego => &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x02],
            Self::Kerberos => &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02],
        }
    }
}

/// Context flags (`req_flags` / `ret_flags`, RFC 2744 section 5.19).
#[derive(Clone, Copy, Debug, Default, Eq, Hash, PartialEq)]
pub struct Flags(u32);

impl Flags {
    /// `GSS_C_DELEG_FLAG`: delegate the client's credentials.
    pub const DELEGATE: Self = Self(1);
    /// `GSS_C_MUTUAL_FLAG`: the server authenticates itself too.
    pub const MUTUAL: Self = Self(2);
    /// `GSS_C_REPLAY_FLAG`: detect replayed messages.
    pub const REPLAY: Self = Self(4);
    /// `GSS_C_SEQUENCE_FLAG`: detect out-of-sequence messages.
    pub const SEQUENCE: Self = Self(8);
    /// `GSS_C_CONF_FLAG`: confidentiality (encryption) is available.
    pub const CONF: Self = Self(16);
    /// `GSS_C_INTEG_FLAG`: integrity is available.
    pub const INTEG: Self = Self(32);
    /// What WinRM message encryption needs: mutual authentication,
    /// sequencing, confidentiality and integrity.
    pub const WINRM: Self = Self(2 | 8 | 16 | 32);

    /// No flags.
    pub const fn empty() -> Self {
        Self(0)
    }

    /// The flags from their C bits (unknown bits are kept).
    pub const fn from_bits(bits: u32) -> Self {
        Self(bits)
    }

    /// The C bits.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Whether every flag of `other` is set.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for Flags {
    type Output = Self;

    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mechanism_oids_are_the_registered_ones() {
        assert_eq!(Mech::Spnego.oid(), b"\x2b\x06\x01\x05\x05\x02");
        assert_eq!(
            Mech::Kerberos.oid(),
            b"\x2a\x86\x48\x86\xf7\x12\x01\x02\x02"
        );
    }

    #[test]
    fn flags_combine() {
        let f = Flags::MUTUAL | Flags::SEQUENCE | Flags::CONF | Flags::INTEG;
        assert_eq!(f, Flags::WINRM);
        assert_eq!(f.bits(), 0x3a);
        assert!(f.contains(Flags::CONF));
        assert!(!f.contains(Flags::DELEGATE | Flags::CONF));
        assert_eq!(Flags::from_bits(0x3a), Flags::WINRM);
        assert!(Flags::empty().contains(Flags::empty()));
    }

    #[test]
    fn a_missing_library_is_unavailable() {
        let e = Library::load_from("/nonexistent/libgssapi_krb5.so.2").unwrap_err();
        assert!(matches!(e, GssError::Unavailable { .. }), "{e:?}");
        assert!(e.is_fallback());
        assert!(
            e.to_string().contains("/nonexistent/libgssapi_krb5.so.2"),
            "{e}"
        );
    }
}
