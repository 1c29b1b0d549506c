//! The client's side of NTLMv2 (MS-NLMP 3.1.5.1): NEGOTIATE, then
//! AUTHENTICATE in answer to the server's CHALLENGE.

use core::fmt;

use super::NtlmError;
use super::crypto::{
    channel_bindings_hash, compute_v2_response, hmac_md5, nt_hash, ntowf_v2, rc4k,
};
use super::messages::{
    AuthenticateMessage, AvFlags, AvPair, ChallengeMessage, NegotiateFlags, NegotiateMessage,
    Version,
};
use super::session::Session;

/// The longest user, domain, workstation or SPN accepted, in characters.
const MAX_NAME_CHARS: usize = 256;
/// The longest password accepted, in characters.
const MAX_PASSWORD_CHARS: usize = 1024;

/// An account and its password. `Debug` never shows the password.
#[derive(Clone, Eq, PartialEq)]
pub struct Credentials {
    /// The domain (NetBIOS or DNS name); empty for a user principal name.
    pub domain: String,
    /// The user name, or a user principal name (`user@dns.domain`).
    pub user: String,
    /// The password.
    pub password: String,
}

impl Credentials {
    /// Splits an account name the way Windows writes them:
    ///
    /// - `DOMAIN\user` → domain `DOMAIN`, user `user`;
    /// - `user@dns.domain` (a UPN) → no domain, user `user@dns.domain`
    ///   (Windows sends UPNs whole, with an empty domain);
    /// - `user` → no domain.
    ///
    /// An empty user, a second backslash, a control character or a name
    /// longer than 256 characters is refused.
    pub fn parse(account: &str, password: &str) -> Result<Self, NtlmError> {
        let (domain, user) = match account.split_once('\\') {
            Some((d, u)) => {
                if d.is_empty() {
                    return Err(NtlmError::InvalidCredentials("empty domain before `\\`"));
                }
                (d, u)
            }
            None => ("", account),
        };
        if user.is_empty() {
            return Err(NtlmError::InvalidCredentials("empty user name"));
        }
        if user.contains('\\') {
            return Err(NtlmError::InvalidCredentials(
                "more than one `\\` in the account",
            ));
        }
        if account.chars().any(char::is_control) {
            return Err(NtlmError::InvalidCredentials(
                "control character in the account",
            ));
        }
        if account.chars().count() > MAX_NAME_CHARS {
            return Err(NtlmError::InvalidCredentials(
                "account longer than 256 characters",
            ));
        }
        if password.chars().count() > MAX_PASSWORD_CHARS {
            return Err(NtlmError::InvalidCredentials(
                "password longer than 1024 characters",
            ));
        }
        Ok(Self {
            domain: domain.to_owned(),
            user: user.to_owned(),
            password: password.to_owned(),
        })
    }

    /// The account as `DOMAIN\user`, or the user alone without a domain.
    pub fn account(&self) -> String {
        if self.domain.is_empty() {
            self.user.clone()
        } else {
            format!("{}\\{}", self.domain, self.user)
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("domain", &self.domain)
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// A FILETIME (100-nanosecond ticks since 1601-01-01 UTC, what NTLM
/// timestamps count) from a Unix time; saturates far in the future.
///
/// ```
/// assert_eq!(sccm_wmi::ntlm::filetime(0, 0), 116_444_736_000_000_000);
/// assert_eq!(sccm_wmi::ntlm::filetime(1, 500), 116_444_736_010_000_005);
/// ```
pub const fn filetime(unix_seconds: u64, subsec_nanos: u32) -> u64 {
    const UNIX_EPOCH_AS_FILETIME_SECONDS: u64 = 11_644_473_600;
    unix_seconds
        .saturating_add(UNIX_EPOCH_AS_FILETIME_SECONDS)
        .saturating_mul(10_000_000)
        .saturating_add(subsec_nanos as u64 / 100)
}

/// The random values one authentication needs, supplied by the caller
/// (from a CSPRNG): this module draws no randomness.
#[derive(Clone, Copy, Eq, PartialEq)]
pub struct Nonces {
    /// `ClientChallenge` (MS-NLMP 3.1.5.1.2).
    pub client_challenge: [u8; 8],
    /// The `ExportedSessionKey` sent, RC4-encrypted, when KEY_EXCH is
    /// negotiated.
    pub exported_session_key: [u8; 16],
}

impl fmt::Debug for Nonces {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Nonces { .. }")
    }
}

/// The client's side of one NTLMv2 authentication.
///
/// Call [`negotiate`](Self::negotiate), send the message, then give the
/// server's CHALLENGE to [`authenticate`](Self::authenticate), which
/// returns the AUTHENTICATE message and the [`Session`].
///
/// The AUTHENTICATE message carries:
///
/// - an NTLMv2 response over the server's AV pairs plus `MsvAvFlags` with
///   the MIC bit, `MsvAvChannelBindings` (the MD5 of the channel bindings,
///   16 zero bytes without any) and `MsvAvTargetName` (the SPN, when set);
///   its time is the server's `MsvAvTimestamp` when there is one;
/// - an LMv2 response, zeroed when the server sent a timestamp
///   (MS-NLMP 3.1.5.1.2);
/// - an encrypted random session key (KEY_EXCH) and a MIC over the three
///   messages.
///
/// Servers that lack NTLMv2 target information, extended session
/// security, Unicode, signing, sealing or 128-bit keys are refused.
#[derive(Debug)]
pub struct Initiator {
    credentials: Credentials,
    workstation: String,
    spn: Option<String>,
    channel_bindings: Option<Vec<u8>>,
    negotiate: Option<Vec<u8>>,
}

impl Initiator {
    /// An initiator for `credentials`, naming itself `workstation` (its
    /// NetBIOS name, sent in AUTHENTICATE; may be empty).
    pub fn new(credentials: Credentials, workstation: &str) -> Self {
        Self {
            credentials,
            workstation: workstation.to_owned(),
            spn: None,
            channel_bindings: None,
            negotiate: None,
        }
    }

    /// The service principal name sent as `MsvAvTargetName`, such as
    /// `HTTP/provider.contoso.com`.
    pub fn target_spn(&mut self, spn: &str) -> &mut Self {
        self.spn = Some(spn.to_owned());
        self
    }

    /// The channel bindings' application data, such as
    /// [`tls_server_end_point`](super::tls_server_end_point)'s
    /// `tls-server-end-point:<hash>`.
    pub fn channel_bindings(&mut self, application_data: &[u8]) -> &mut Self {
        self.channel_bindings = Some(application_data.to_vec());
        self
    }

    /// The account, for messages (`DOMAIN\user`).
    pub fn account(&self) -> String {
        self.credentials.account()
    }

    /// The NEGOTIATE message, remembered for the MIC.
    pub fn negotiate(&mut self) -> Result<Vec<u8>, NtlmError> {
        let message = NegotiateMessage::client().encode()?;
        self.negotiate = Some(message.clone());
        Ok(message)
    }

    /// Reads the server's CHALLENGE and returns the AUTHENTICATE message and
    /// the session. `now_filetime` (100 ns ticks since 1601-01-01 UTC) is
    /// used only when the server sent no timestamp.
    pub fn authenticate(
        &mut self,
        challenge: &[u8],
        nonces: &Nonces,
        now_filetime: u64,
    ) -> Result<(Vec<u8>, Session), NtlmError> {
        let negotiate = self
            .negotiate
            .as_deref()
            .ok_or(NtlmError::OutOfOrder("AUTHENTICATE before NEGOTIATE"))?;
        for name in [&self.workstation, self.spn.as_deref().unwrap_or("")] {
            if name.chars().count() > MAX_NAME_CHARS {
                return Err(NtlmError::TooLarge {
                    what: "the workstation or SPN, in characters",
                    limit: MAX_NAME_CHARS,
                });
            }
        }
        let parsed = ChallengeMessage::decode(challenge)?;
        let flags = check_challenge(&parsed)?;
        // Checked by check_challenge.
        let Some(mut av_pairs) = parsed.target_info else {
            return Err(NtlmError::Unsupported("NTLMv2 target information"));
        };
        let server_time = av_pairs.timestamp();
        let time = server_time.unwrap_or(now_filetime);
        let av_flags = av_pairs.flags().unwrap_or(0) | AvFlags::MIC_PRESENT;
        av_pairs.set(AvPair::Flags(av_flags));
        av_pairs.set(AvPair::ChannelBindings(
            self.channel_bindings
                .as_deref()
                .map_or([0; 16], channel_bindings_hash),
        ));
        if let Some(spn) = &self.spn {
            av_pairs.set(AvPair::TargetName(spn.clone()));
        }

        let c = &self.credentials;
        let response_key = ntowf_v2(&nt_hash(&c.password), &c.user, &c.domain);
        let v2 = compute_v2_response(
            &response_key,
            &parsed.server_challenge,
            &nonces.client_challenge,
            time,
            &av_pairs.to_bytes()?,
        );
        let lm_response = if server_time.is_some() {
            vec![0; 24]
        } else {
            v2.lm_response
        };
        let (exported_session_key, encrypted_key) = if flags.contains(NegotiateFlags::KEY_EXCH) {
            let mut encrypted = nonces.exported_session_key;
            rc4k(&v2.session_base_key, &mut encrypted);
            (nonces.exported_session_key, encrypted.to_vec())
        } else {
            (v2.session_base_key, Vec::new())
        };

        let message = AuthenticateMessage {
            flags,
            lm_response,
            nt_response: v2.nt_response,
            domain: c.domain.clone(),
            user: c.user.clone(),
            workstation: self.workstation.clone(),
            encrypted_random_session_key: encrypted_key,
            // The VERSION field only when negotiated; its place stays (zero)
            // for the MIC either way.
            version: flags
                .contains(NegotiateFlags::VERSION)
                .then_some(Version::CLIENT),
            mic: Some([0; 16]),
        };
        let mut authenticate = message.encode()?;
        let mic = hmac_md5(
            &exported_session_key,
            &[negotiate, challenge, &authenticate],
        );
        authenticate[AuthenticateMessage::MIC_RANGE].copy_from_slice(&mic);
        self.negotiate = None;
        Ok((
            authenticate,
            Session::for_initiator(exported_session_key, flags),
        ))
    }
}

/// Checks that the CHALLENGE offers what this client requires and returns
/// the flags for AUTHENTICATE: ours, as far as the server agreed to them.
fn check_challenge(challenge: &ChallengeMessage) -> Result<NegotiateFlags, NtlmError> {
    let f = challenge.flags;
    let required = [
        (
            NegotiateFlags::UNICODE,
            "Unicode strings (NEGOTIATE_UNICODE)",
        ),
        (
            NegotiateFlags::EXTENDED_SESSIONSECURITY,
            "extended session security (NTLMv2)",
        ),
        (NegotiateFlags::TARGET_INFO, "NTLMv2 target information"),
        (NegotiateFlags::SIGN, "message signing"),
        (NegotiateFlags::SEAL, "message sealing"),
        (NegotiateFlags::NEGOTIATE_128, "128-bit session keys"),
    ];
    for (flag, what) in required {
        if !f.contains(flag) {
            return Err(NtlmError::Unsupported(what));
        }
    }
    if challenge
        .target_info
        .as_ref()
        .is_none_or(|t| t.pairs.is_empty())
    {
        return Err(NtlmError::Unsupported("NTLMv2 target information"));
    }
    Ok(f & NegotiateFlags::CLIENT)
}
