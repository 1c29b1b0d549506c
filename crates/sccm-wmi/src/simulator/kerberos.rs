//! Kerberos for the simulator, through the system's GSS-API library and a
//! keytab, and the `Negotiate` acceptor that takes either Kerberos or NTLM
//! the way a Windows server does.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use pippin_gss::{Context, Library};

use super::{Acceptor, AcceptorFactory, NtlmAccounts};

/// Accepts Kerberos (inside SPNEGO) for the service keys in a keytab.
#[derive(Clone)]
pub struct KerberosKeytab {
    library: Arc<Library>,
    keytab: PathBuf,
}

impl std::fmt::Debug for KerberosKeytab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KerberosKeytab")
            .field("keytab", &self.keytab)
            .finish_non_exhaustive()
    }
}

impl KerberosKeytab {
    /// An acceptor factory for the keys in `keytab` (`HTTP/<host>@REALM`).
    /// Fails when the GSS-API library cannot be loaded.
    pub fn new(keytab: &Path) -> crate::Result<Self> {
        let library = Library::load().map_err(|e| crate::Error::Transport(e.to_string()))?;
        Ok(Self {
            library,
            keytab: keytab.to_owned(),
        })
    }

    fn context(&self) -> Result<Box<dyn Acceptor>, String> {
        let acceptor = pippin_gss::Acceptor::new(&self.library, Some(&self.keytab))
            .map_err(|e| e.to_string())?;
        Ok(Box::new(GssAcceptor {
            acceptor: Some(acceptor),
            context: None,
        }))
    }
}

impl AcceptorFactory for KerberosKeytab {
    fn accept(&self, scheme: &str) -> Result<Box<dyn Acceptor>, String> {
        if !(scheme.eq_ignore_ascii_case("Negotiate") || scheme.eq_ignore_ascii_case("Kerberos")) {
            return Err(format!("Kerberos does not take the scheme {scheme}"));
        }
        self.context()
    }
}

struct GssAcceptor {
    acceptor: Option<pippin_gss::Acceptor>,
    context: Option<Context>,
}

impl Acceptor for GssAcceptor {
    fn step(&mut self, token: &[u8]) -> Result<(Option<Vec<u8>>, bool), String> {
        let acceptor = self.acceptor.as_mut().ok_or("the context is complete")?;
        let step = acceptor.step(token).map_err(|e| e.to_string())?;
        if step.complete {
            let acceptor = self.acceptor.take().ok_or("the context is complete")?;
            self.context = Some(acceptor.into_context().map_err(|e| e.to_string())?);
        }
        Ok((step.token, step.complete))
    }

    fn unwrap_winrm(&mut self, header: &[u8], data: &[u8]) -> Result<Vec<u8>, String> {
        let context = self.context.as_mut().ok_or("not authenticated")?;
        context
            .unwrap_winrm(header, data)
            .map_err(|e| e.to_string())
    }

    fn wrap_winrm(&mut self, data: &[u8]) -> Result<(Vec<u8>, Vec<u8>), String> {
        let context = self.context.as_mut().ok_or("not authenticated")?;
        context.wrap_winrm(data).map_err(|e| e.to_string())
    }
}

/// `Negotiate` as a Windows server offers it: Kerberos when the client
/// brings a ticket, NTLM otherwise (and for the `NTLM` scheme).
#[derive(Clone, Debug, Default)]
pub struct NegotiateAcceptors {
    ntlm: Option<Arc<NtlmAccounts>>,
    kerberos: Option<Arc<KerberosKeytab>>,
}

impl NegotiateAcceptors {
    /// Neither yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Accepts these NTLM accounts.
    pub fn ntlm(mut self, accounts: NtlmAccounts) -> Self {
        self.ntlm = Some(Arc::new(accounts));
        self
    }

    /// Accepts Kerberos tickets for the keys in this keytab.
    pub fn kerberos(mut self, keytab: KerberosKeytab) -> Self {
        self.kerberos = Some(Arc::new(keytab));
        self
    }
}

impl AcceptorFactory for NegotiateAcceptors {
    fn accept(&self, scheme: &str) -> Result<Box<dyn Acceptor>, String> {
        Ok(Box::new(Deferred {
            scheme: scheme.to_owned(),
            choices: self.clone(),
            chosen: None,
        }))
    }
}

/// Picks the mechanism from the client's first token.
struct Deferred {
    scheme: String,
    choices: NegotiateAcceptors,
    chosen: Option<Box<dyn Acceptor>>,
}

impl Acceptor for Deferred {
    fn step(&mut self, token: &[u8]) -> Result<(Option<Vec<u8>>, bool), String> {
        if self.chosen.is_none() {
            let ntlm = self.scheme.eq_ignore_ascii_case("NTLM")
                || token.windows(8).any(|w| w == b"NTLMSSP\0");
            self.chosen = Some(match (ntlm, &self.choices.ntlm, &self.choices.kerberos) {
                (true, Some(n), _) => n.accept(&self.scheme)?,
                (false, _, Some(k)) => k.accept(&self.scheme)?,
                _ => return Err("the client's mechanism is not accepted here".into()),
            });
        }
        self.chosen.as_mut().ok_or("no mechanism")?.step(token)
    }

    fn unwrap_winrm(&mut self, header: &[u8], data: &[u8]) -> Result<Vec<u8>, String> {
        self.chosen
            .as_mut()
            .ok_or("not authenticated")?
            .unwrap_winrm(header, data)
    }

    fn wrap_winrm(&mut self, data: &[u8]) -> Result<(Vec<u8>, Vec<u8>), String> {
        self.chosen
            .as_mut()
            .ok_or("not authenticated")?
            .wrap_winrm(data)
    }
}
