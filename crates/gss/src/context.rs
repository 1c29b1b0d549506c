//! Establishing security contexts ([`Initiator`], [`Acceptor`]) and using
//! them ([`Context`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{GssError, Result};
use crate::ffi::{self, CredUsage, Library, NameType, SecContext};
use crate::{Flags, MAX_MESSAGE_LEN, MAX_TOKEN_LEN, Mech};

/// What one step of context establishment produced.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Step {
    /// A token to send to the peer, if there is one.
    pub token: Option<Vec<u8>>,
    /// Whether the context is established on this side. A token may still
    /// have to be sent (the acceptor's last token, for mutual
    /// authentication).
    pub complete: bool,
}

/// Settings for an [`Initiator`]. The default asks for what WinRM needs
/// ([`Flags::WINRM`]) with the library's default credentials and no
/// channel bindings.
#[derive(Clone, Debug)]
pub struct InitiatorOptions {
    flags: Flags,
    channel_bindings: Option<Vec<u8>>,
    ccache: Option<String>,
    client_keytab: Option<PathBuf>,
}

impl Default for InitiatorOptions {
    fn default() -> Self {
        Self {
            flags: Flags::WINRM,
            channel_bindings: None,
            ccache: None,
            client_keytab: None,
        }
    }
}

impl InitiatorOptions {
    /// The context flags to request (default [`Flags::WINRM`]; no
    /// delegation unless asked for).
    pub fn flags(&mut self, flags: Flags) -> &mut Self {
        self.flags = flags;
        self
    }

    /// The application data of the channel bindings (RFC 5929), for
    /// example [`tls_server_end_point`] of the server's certificate hash.
    /// The addresses of the bindings are left unspecified, as Windows does.
    pub fn channel_bindings(&mut self, application_data: impl Into<Vec<u8>>) -> &mut Self {
        self.channel_bindings = Some(application_data.into());
        self
    }

    /// The credential cache to take tickets from, by MIT name
    /// (`FILE:/path`, `DIR:/path`, `KCM:`, or a plain path), instead of
    /// the library's default (`KRB5CCNAME`).
    pub fn ccache(&mut self, name: impl Into<String>) -> &mut Self {
        self.ccache = Some(name.into());
        self
    }

    /// A client keytab from which the library may get a ticket itself.
    pub fn client_keytab(&mut self, path: impl Into<PathBuf>) -> &mut Self {
        self.client_keytab = Some(path.into());
        self
    }
}

/// The channel bindings application data for TLS (RFC 5929 section 4):
/// `tls-server-end-point:` followed by the hash of the server's
/// certificate (SHA-256 for certificates signed with SHA-1 or SHA-256).
pub fn tls_server_end_point(certificate_hash: &[u8]) -> Vec<u8> {
    let mut data = b"tls-server-end-point:".to_vec();
    data.extend_from_slice(certificate_hash);
    data
}

/// Where an exchange is.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum State {
    InProgress,
    Complete,
    Failed,
}

/// The longest target name accepted.
const MAX_NAME_LEN: usize = 1024;

/// The client side of context establishment (`gss_init_sec_context`).
pub struct Initiator {
    context: SecContext,
    cred: ffi::Cred,
    target: ffi::Name,
    mech: Mech,
    flags: Flags,
    channel_bindings: Option<Vec<u8>>,
    state: State,
    granted: Flags,
    started: bool,
}

impl std::fmt::Debug for Initiator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Initiator")
            .field("mech", &self.mech)
            .field("flags", &self.flags)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl Initiator {
    /// Prepares to authenticate to `target` with `mech`.
    ///
    /// `target` is a host-based service name, `service@host` (WinRM and
    /// the AdminService use `HTTP@cm01.contoso.com`), or a Kerberos
    /// principal name if it contains a `/` (`HTTP/cm01.contoso.com@REALM`).
    ///
    /// The credentials are acquired here, so a machine without a ticket
    /// fails now with [`GssError::NoCredentials`], before any token is
    /// sent.
    pub fn new(
        lib: &Arc<Library>,
        target: &str,
        mech: Mech,
        options: &InitiatorOptions,
    ) -> Result<Self> {
        if target.is_empty() || target.len() > MAX_NAME_LEN {
            return Err(GssError::InvalidInput {
                what: "target name",
                reason: "empty or longer than 1024 bytes",
            });
        }
        if target.contains('\0') {
            return Err(GssError::InvalidInput {
                what: "target name",
                reason: "contains a NUL byte",
            });
        }
        let kind = if target.contains('/') {
            NameType::KerberosPrincipal
        } else {
            NameType::HostBasedService
        };
        let target = ffi::import_name(lib, target, kind)?;
        let keytab = options.client_keytab.as_deref().map(ffi::file_name);
        let mut store = Vec::new();
        if let Some(ccache) = &options.ccache {
            store.push(("ccache", ccache.as_str()));
        }
        if let Some(keytab) = &keytab {
            store.push(("client_keytab", keytab.as_str()));
        }
        let cred = ffi::acquire_cred(lib, CredUsage::Initiate, &[mech.oid()], &store)?;
        if let Some(cb) = &options.channel_bindings {
            check_len("channel bindings", cb.len(), MAX_TOKEN_LEN)?;
        }
        Ok(Self {
            context: SecContext::new(lib),
            cred,
            target,
            mech,
            flags: options.flags,
            channel_bindings: options.channel_bindings.clone(),
            state: State::InProgress,
            granted: Flags::empty(),
            started: false,
        })
    }

    /// Runs one step: the first with `None`, then with each token the
    /// acceptor sends back, until [`Step::complete`]. An empty input token
    /// or one over [`MAX_TOKEN_LEN`] is refused. After an error the exchange is over.
    pub fn step(&mut self, input: Option<&[u8]>) -> Result<Step> {
        match self.state {
            State::Complete => {
                return Err(GssError::State(
                    "the security context is already established",
                ));
            }
            State::Failed => return Err(GssError::State("the security context failed earlier")),
            State::InProgress => {}
        }
        if let Some(input) = input {
            check_len("token", input.len(), MAX_TOKEN_LEN)?;
            if input.is_empty() {
                return Err(GssError::InvalidInput {
                    what: "token",
                    reason: "a context token is never empty",
                });
            }
        } else if self.started {
            return Err(GssError::State(
                "a continuation step needs the acceptor's token",
            ));
        }
        self.started = true;
        let out = self.context.init(
            &self.cred,
            &self.target,
            self.mech.oid(),
            self.flags.bits(),
            self.channel_bindings.as_deref(),
            input,
        );
        let out = match out {
            Ok(out) => out,
            Err(e) => {
                self.state = State::Failed;
                return Err(e);
            }
        };
        self.granted = Flags::from_bits(out.flags);
        if out.complete {
            self.state = State::Complete;
        }
        Ok(Step {
            token: (!out.token.is_empty()).then_some(out.token),
            complete: out.complete,
        })
    }

    /// Whether the context is established.
    pub fn is_complete(&self) -> bool {
        self.state == State::Complete
    }

    /// The established context, for wrapping and MICs. Fails unless the
    /// exchange is complete.
    pub fn into_context(self) -> Result<Context> {
        if self.state != State::Complete {
            return Err(GssError::State("the security context is not established"));
        }
        Ok(Context {
            inner: self.context,
            flags: self.granted,
            client_name: None,
        })
    }
}

/// The server side of context establishment (`gss_accept_sec_context`).
///
/// It accepts SPNEGO and raw Kerberos tokens alike, with any principal
/// whose key is in the keytab.
pub struct Acceptor {
    context: SecContext,
    cred: ffi::Cred,
    channel_bindings: Option<Vec<u8>>,
    state: State,
    granted: Flags,
    client_name: Option<String>,
}

impl std::fmt::Debug for Acceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acceptor")
            .field("state", &self.state)
            .field("client_name", &self.client_name)
            .finish_non_exhaustive()
    }
}

impl Acceptor {
    /// Prepares to accept contexts with the keys in `keytab` (through the
    /// MIT credential store, without touching the process environment),
    /// or in the library's default keytab (`KRB5_KTNAME`,
    /// `/etc/krb5.keytab`) when `None`. A missing or empty keytab is
    /// [`GssError::NoCredentials`].
    pub fn new(lib: &Arc<Library>, keytab: Option<&Path>) -> Result<Self> {
        let keytab = keytab.map(ffi::file_name);
        let store: Vec<(&str, &str)> = keytab.iter().map(|k| ("keytab", k.as_str())).collect();
        let cred = ffi::acquire_cred(
            lib,
            CredUsage::Accept,
            &[Mech::Kerberos.oid(), Mech::Spnego.oid()],
            &store,
        )?;
        Ok(Self {
            context: SecContext::new(lib),
            cred,
            channel_bindings: None,
            state: State::InProgress,
            granted: Flags::empty(),
            client_name: None,
        })
    }

    /// Requires the initiator's channel bindings to carry exactly this
    /// application data (see [`tls_server_end_point`]); a mismatch fails
    /// the exchange with `GSS_S_BAD_BINDINGS`.
    pub fn with_channel_bindings(mut self, application_data: impl Into<Vec<u8>>) -> Self {
        self.channel_bindings = Some(application_data.into());
        self
    }

    /// Runs one step with a token from the initiator. An empty token or
    /// one over [`MAX_TOKEN_LEN`] is refused. After an error the exchange is over.
    pub fn step(&mut self, input: &[u8]) -> Result<Step> {
        match self.state {
            State::Complete => {
                return Err(GssError::State(
                    "the security context is already established",
                ));
            }
            State::Failed => return Err(GssError::State("the security context failed earlier")),
            State::InProgress => {}
        }
        check_len("token", input.len(), MAX_TOKEN_LEN)?;
        if input.is_empty() {
            return Err(GssError::InvalidInput {
                what: "token",
                reason: "a context token is never empty",
            });
        }
        if let Some(cb) = &self.channel_bindings {
            check_len("channel bindings", cb.len(), MAX_TOKEN_LEN)?;
        }
        let out = match self
            .context
            .accept(&self.cred, self.channel_bindings.as_deref(), input)
        {
            Ok(out) => out,
            Err(e) => {
                self.state = State::Failed;
                return Err(e);
            }
        };
        self.granted = Flags::from_bits(out.flags);
        if out.complete {
            self.state = State::Complete;
            self.client_name = out.source_name;
        }
        Ok(Step {
            token: (!out.token.is_empty()).then_some(out.token),
            complete: out.complete,
        })
    }

    /// Whether the context is established.
    pub fn is_complete(&self) -> bool {
        self.state == State::Complete
    }

    /// The authenticated client's principal (`user@REALM`), once complete.
    pub fn client_name(&self) -> Option<&str> {
        self.client_name.as_deref()
    }

    /// The established context. Fails unless the exchange is complete.
    pub fn into_context(self) -> Result<Context> {
        if self.state != State::Complete {
            return Err(GssError::State("the security context is not established"));
        }
        Ok(Context {
            inner: self.context,
            flags: self.granted,
            client_name: self.client_name,
        })
    }
}

/// A message [`Context::unwrap`] recovered.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Unwrapped {
    /// The message.
    pub data: Vec<u8>,
    /// Whether it had been encrypted (not only integrity-protected).
    pub encrypted: bool,
}

/// An established security context, on either side. Released on drop.
///
/// Per-message tokens are checked for order: a replayed, old or
/// out-of-sequence token is an error ([`major::DUPLICATE_TOKEN`],
/// [`major::OLD_TOKEN`] or [`major::UNSEQ_TOKEN`] in
/// [`Status::supplementary`]), never silently accepted. A token after a
/// gap (an earlier one lost or rejected) is accepted.
///
/// [`major::DUPLICATE_TOKEN`]: crate::major::DUPLICATE_TOKEN
/// [`major::OLD_TOKEN`]: crate::major::OLD_TOKEN
/// [`major::UNSEQ_TOKEN`]: crate::major::UNSEQ_TOKEN
/// [`Status::supplementary`]: crate::Status::supplementary
pub struct Context {
    inner: SecContext,
    flags: Flags,
    client_name: Option<String>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("flags", &self.flags)
            .field("client_name", &self.client_name)
            .finish_non_exhaustive()
    }
}

impl Context {
    /// The flags the library granted (compare with what was requested).
    pub fn flags(&self) -> Flags {
        self.flags
    }

    /// On the acceptor side, the authenticated client's principal.
    pub fn client_name(&self) -> Option<&str> {
        self.client_name.as_deref()
    }

    /// `gss_wrap`: integrity-protects `data`, and encrypts it if
    /// `encrypt`. Fails if encryption was asked for and not done.
    pub fn wrap(&mut self, data: &[u8], encrypt: bool) -> Result<Vec<u8>> {
        check_len("message", data.len(), MAX_MESSAGE_LEN)?;
        let (token, encrypted) = self.inner.wrap(data, encrypt)?;
        if encrypt && !encrypted {
            return Err(GssError::State("the message was not encrypted"));
        }
        Ok(token)
    }

    /// `gss_unwrap`: checks and decrypts a token from [`Context::wrap`]
    /// on the other side.
    pub fn unwrap(&mut self, token: &[u8]) -> Result<Unwrapped> {
        check_len("wrapped message", token.len(), MAX_MESSAGE_LEN)?;
        let (data, encrypted) = self.inner.unwrap(token)?;
        Ok(Unwrapped { data, encrypted })
    }

    /// `gss_get_mic`: a MIC token over `data`.
    pub fn get_mic(&mut self, data: &[u8]) -> Result<Vec<u8>> {
        check_len("message", data.len(), MAX_MESSAGE_LEN)?;
        self.inner.get_mic(data)
    }

    /// `gss_verify_mic`: checks a MIC token from the other side.
    pub fn verify_mic(&mut self, data: &[u8], mic: &[u8]) -> Result<()> {
        check_len("message", data.len(), MAX_MESSAGE_LEN)?;
        check_len("MIC", mic.len(), MAX_TOKEN_LEN)?;
        self.inner.verify_mic(data, mic)
    }

    /// Encrypts a WinRM message body (MS-WSMV 2.2.9.1): `gss_wrap_iov`
    /// with HEADER, DATA and PADDING buffers. Returns the header (the
    /// signature, whose length the `multipart/encrypted` part carries as a
    /// 4-byte little-endian prefix) and the sealed data, followed by any
    /// padding (none for the AES enctypes).
    ///
    /// Checked against pyspnego with aes256-cts-hmac-sha1-96 session keys
    /// (the Windows default); sessions with the legacy RC4-HMAC enctype
    /// are not covered by the tests.
    pub fn wrap_winrm(&mut self, data: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
        check_len("message", data.len(), MAX_MESSAGE_LEN)?;
        self.inner.wrap_iov_header_data(data)
    }

    /// Decrypts a WinRM message body (MS-WSMV 2.2.9.1): `gss_unwrap_iov`
    /// with the HEADER and DATA buffers. Fails unless it was encrypted.
    pub fn unwrap_winrm(&mut self, header: &[u8], sealed: &[u8]) -> Result<Vec<u8>> {
        check_len("WinRM header", header.len(), MAX_TOKEN_LEN)?;
        check_len("WinRM message", sealed.len(), MAX_MESSAGE_LEN)?;
        let (data, encrypted) = self.inner.unwrap_iov_header_data(header, sealed)?;
        if !encrypted {
            return Err(GssError::State("the WinRM message was not encrypted"));
        }
        Ok(data)
    }
}

fn check_len(what: &'static str, len: usize, max: usize) -> Result<()> {
    if len > max {
        return Err(GssError::TooLarge { what, len, max });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_server_end_point_prefixes_the_hash() {
        assert_eq!(
            tls_server_end_point(&[0xab, 0xcd]),
            b"tls-server-end-point:\xab\xcd".to_vec()
        );
    }

    #[test]
    fn default_options_ask_for_winrm_flags_without_delegation() {
        let o = InitiatorOptions::default();
        assert_eq!(o.flags, Flags::WINRM);
        assert!(!o.flags.contains(Flags::DELEGATE));
        assert!(o.channel_bindings.is_none() && o.ccache.is_none());
        let mut o = InitiatorOptions::default();
        o.ccache("FILE:/tmp/cc").channel_bindings(b"x".to_vec());
        assert_eq!(o.ccache.as_deref(), Some("FILE:/tmp/cc"));
        assert_eq!(o.channel_bindings.as_deref(), Some(&b"x"[..]));
    }

    #[test]
    fn lengths_are_bounded() {
        assert!(check_len("token", MAX_TOKEN_LEN, MAX_TOKEN_LEN).is_ok());
        assert!(matches!(
            check_len("token", MAX_TOKEN_LEN + 1, MAX_TOKEN_LEN),
            Err(GssError::TooLarge { len, .. }) if len == MAX_TOKEN_LEN + 1
        ));
    }
}
