//! A built-in NTLM acceptor for the simulator, so that it can demand
//! `Negotiate` without an outside implementation (the examples use it; the
//! tests use an independent one).

use std::time::{SystemTime, UNIX_EPOCH};

use crate::ntlm::spnego::{self, NegState, NegTokenResp, NegotiationToken, Oid};
use crate::ntlm::{self, AuthenticateMessage, Credentials, Session};

use super::{Acceptor, AcceptorFactory};

/// Local accounts the simulator accepts over `Negotiate` (SPNEGO) and
/// `NTLM`, checked with this crate's NTLMv2 acceptor.
#[derive(Clone, Debug)]
pub struct NtlmAccounts {
    computer: String,
    domain: String,
    accounts: Vec<Credentials>,
    channel_bindings: Option<Vec<u8>>,
}

impl NtlmAccounts {
    /// No accounts yet, for the server `computer` in `domain` (NetBIOS
    /// names, as the CHALLENGE announces them).
    pub fn new(computer: &str, domain: &str) -> Self {
        Self {
            computer: computer.to_owned(),
            domain: domain.to_owned(),
            accounts: Vec::new(),
            channel_bindings: None,
        }
    }

    /// Adds an account.
    pub fn with(mut self, credentials: Credentials) -> Self {
        self.accounts.push(credentials);
        self
    }

    /// Requires these channel bindings (`tls-server-end-point:` and the
    /// certificate's hash) in every AUTHENTICATE.
    pub fn with_channel_bindings(mut self, application_data: &[u8]) -> Self {
        self.channel_bindings = Some(application_data.to_vec());
        self
    }
}

impl AcceptorFactory for NtlmAccounts {
    fn accept(&self, scheme: &str) -> Result<Box<dyn Acceptor>, String> {
        let spnego = if scheme.eq_ignore_ascii_case("Negotiate") {
            true
        } else if scheme.eq_ignore_ascii_case("NTLM") {
            false
        } else {
            return Err(format!("no scheme {scheme}"));
        };
        let mut acceptor = ntlm::Acceptor::new(&self.computer, &self.domain);
        if let Some(cb) = &self.channel_bindings {
            acceptor.channel_bindings(cb);
        }
        Ok(Box::new(Context {
            accounts: self.accounts.clone(),
            acceptor,
            spnego,
            mech_types: None,
            challenged: false,
            session: None,
        }))
    }
}

struct Context {
    accounts: Vec<Credentials>,
    acceptor: ntlm::Acceptor,
    spnego: bool,
    /// The client's `mechTypes` (DER), which both `mechListMIC`s cover.
    mech_types: Option<Vec<u8>>,
    /// Whether the CHALLENGE has gone out.
    challenged: bool,
    session: Option<Session>,
}

impl Context {
    fn first(&mut self, token: &[u8]) -> Result<(Option<Vec<u8>>, bool), String> {
        let negotiate = if self.spnego {
            let NegotiationToken::Init(init) =
                NegotiationToken::decode(token).map_err(|e| e.to_string())?
            else {
                return Err("expected a NegTokenInit".into());
            };
            if !init.mech_types.contains(&Oid::ntlmssp()) {
                return Err("the client does not offer NTLM".into());
            }
            self.mech_types = Some(spnego::mech_type_list(&init.mech_types));
            init.mech_token.ok_or("no mechToken")?
        } else {
            token.to_vec()
        };
        let mut server_challenge = [0u8; 8];
        getrandom::fill(&mut server_challenge).map_err(|e| e.to_string())?;
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let challenge = self
            .acceptor
            .challenge(
                &negotiate,
                server_challenge,
                ntlm::filetime(since.as_secs(), since.subsec_nanos()),
            )
            .map_err(|e| e.to_string())?;
        let reply = if self.spnego {
            NegTokenResp {
                neg_state: Some(NegState::AcceptIncomplete),
                supported_mech: Some(Oid::ntlmssp()),
                response_token: Some(challenge),
                mech_list_mic: None,
            }
            .encode()
        } else {
            challenge
        };
        Ok((Some(reply), false))
    }

    fn second(&mut self, token: &[u8]) -> Result<(Option<Vec<u8>>, bool), String> {
        let (authenticate, mic) = if self.spnego {
            let resp = NegTokenResp::decode(token).map_err(|e| e.to_string())?;
            (
                resp.response_token.ok_or("no responseToken")?,
                resp.mech_list_mic,
            )
        } else {
            (token.to_vec(), None)
        };
        let message = AuthenticateMessage::decode(&authenticate).map_err(|e| e.to_string())?;
        let account = self
            .accounts
            .iter()
            .find(|c| {
                c.user.eq_ignore_ascii_case(&message.user)
                    && c.domain.eq_ignore_ascii_case(&message.domain)
            })
            .ok_or("unknown account")?;
        let mut session = self
            .acceptor
            .accept(&authenticate, account)
            .map_err(|e| e.to_string())?;
        let reply = match (&self.mech_types, mic) {
            (Some(mech_types), Some(mic)) => {
                session
                    .verify_mech_list(mech_types, &mic)
                    .map_err(|e| e.to_string())?;
                Some(
                    NegTokenResp {
                        neg_state: Some(NegState::AcceptCompleted),
                        supported_mech: None,
                        response_token: None,
                        mech_list_mic: Some(session.sign_mech_list(mech_types).to_vec()),
                    }
                    .encode(),
                )
            }
            (Some(_), None) => Some(
                NegTokenResp {
                    neg_state: Some(NegState::AcceptCompleted),
                    supported_mech: None,
                    response_token: None,
                    mech_list_mic: None,
                }
                .encode(),
            ),
            (None, _) => None,
        };
        self.session = Some(session);
        Ok((reply, true))
    }
}

impl Acceptor for Context {
    fn step(&mut self, token: &[u8]) -> Result<(Option<Vec<u8>>, bool), String> {
        if self.session.is_some() {
            return Err("the context is complete".into());
        }
        if self.challenged {
            self.second(token)
        } else {
            self.challenged = true;
            self.first(token)
        }
    }

    fn unwrap_winrm(&mut self, header: &[u8], data: &[u8]) -> Result<Vec<u8>, String> {
        let session = self.session.as_mut().ok_or("not authenticated")?;
        session.unseal(data, header).map_err(|e| e.to_string())
    }

    fn wrap_winrm(&mut self, data: &[u8]) -> Result<(Vec<u8>, Vec<u8>), String> {
        let session = self.session.as_mut().ok_or("not authenticated")?;
        let (signature, sealed) = session.seal(data);
        Ok((signature.to_vec(), sealed))
    }
}
