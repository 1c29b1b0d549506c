//! The server's side of NTLMv2 (MS-NLMP 3.2.5.1), for tests and simulated
//! servers.

use subtle::ConstantTimeEq;

use super::NtlmError;
use super::crypto::{channel_bindings_hash, hmac_md5, nt_hash, ntowf_v2, rc4k};
use super::initiator::Credentials;
use super::messages::{
    AuthenticateMessage, AvFlags, AvPair, ChallengeMessage, NegotiateFlags, NegotiateMessage,
    NtlmV2Response, TargetInfo, Version,
};
use super::session::Session;

/// The server's side of one NTLMv2 authentication against one known
/// account: answers NEGOTIATE with a CHALLENGE, then checks AUTHENTICATE
/// (NTProofStr, channel bindings, MIC) and derives the [`Session`].
///
/// Meant for tests and simulated servers. It accepts NTLMv2 with extended
/// session security only, checks no clock skew, and keeps no replay cache.
#[derive(Debug)]
pub struct Acceptor {
    computer: String,
    domain: String,
    channel_bindings: Option<Vec<u8>>,
    negotiate: Option<Vec<u8>>,
    challenge: Option<(Vec<u8>, [u8; 8])>,
}

impl Acceptor {
    /// An acceptor for the server `computer` (NetBIOS name) in `domain`
    /// (NetBIOS domain name).
    pub fn new(computer: &str, domain: &str) -> Self {
        Self {
            computer: computer.to_owned(),
            domain: domain.to_owned(),
            channel_bindings: None,
            negotiate: None,
            challenge: None,
        }
    }

    /// Requires these channel bindings (application data) in the client's
    /// `MsvAvChannelBindings`; without this call the AV pair is not checked.
    pub fn channel_bindings(&mut self, application_data: &[u8]) -> &mut Self {
        self.channel_bindings = Some(application_data.to_vec());
        self
    }

    /// Reads the client's NEGOTIATE and returns the CHALLENGE, with the
    /// server's NetBIOS and DNS names and `now_filetime` as
    /// `MsvAvTimestamp`. The flags are the client's, as far as this acceptor
    /// supports them, plus NTLM, TARGET_INFO and TARGET_TYPE_SERVER.
    pub fn challenge(
        &mut self,
        negotiate: &[u8],
        server_challenge: [u8; 8],
        now_filetime: u64,
    ) -> Result<Vec<u8>, NtlmError> {
        let n = NegotiateMessage::decode(negotiate)?;
        for (flag, what) in [
            (
                NegotiateFlags::UNICODE,
                "Unicode strings (NEGOTIATE_UNICODE)",
            ),
            (
                NegotiateFlags::EXTENDED_SESSIONSECURITY,
                "extended session security (NTLMv2)",
            ),
        ] {
            if !n.flags.contains(flag) {
                return Err(NtlmError::Unsupported(what));
            }
        }
        let flags = n.flags & NegotiateFlags::CLIENT
            | NegotiateFlags::NTLM
            | NegotiateFlags::TARGET_INFO
            | NegotiateFlags::TARGET_TYPE_SERVER;
        let message = ChallengeMessage {
            flags,
            target_name: self.computer.clone(),
            server_challenge,
            target_info: Some(TargetInfo {
                pairs: vec![
                    AvPair::NbDomainName(self.domain.clone()),
                    AvPair::NbComputerName(self.computer.clone()),
                    AvPair::DnsComputerName(self.computer.to_lowercase()),
                    AvPair::Timestamp(now_filetime),
                ],
            }),
            version: Some(Version::CLIENT),
        }
        .encode()?;
        self.negotiate = Some(negotiate.to_vec());
        self.challenge = Some((message.clone(), server_challenge));
        Ok(message)
    }

    /// Checks the client's AUTHENTICATE against `credentials` and returns
    /// the server's session.
    ///
    /// The account must match (user and domain, case-insensitively) and the
    /// NTProofStr verify, otherwise [`NtlmError::CredentialsRejected`]; a
    /// MIC announced in `MsvAvFlags` must verify, and so must the channel
    /// bindings when [`channel_bindings`](Self::channel_bindings) was set
    /// (otherwise [`NtlmError::BadSignature`]).
    pub fn accept(
        &mut self,
        authenticate: &[u8],
        credentials: &Credentials,
    ) -> Result<Session, NtlmError> {
        let (Some(negotiate), Some((challenge, server_challenge))) =
            (self.negotiate.take(), self.challenge.take())
        else {
            return Err(NtlmError::OutOfOrder("AUTHENTICATE before CHALLENGE"));
        };
        let auth = AuthenticateMessage::decode(authenticate)?;
        if !auth
            .flags
            .contains(NegotiateFlags::EXTENDED_SESSIONSECURITY)
        {
            return Err(NtlmError::Unsupported("extended session security (NTLMv2)"));
        }
        if auth.user.to_uppercase() != credentials.user.to_uppercase()
            || auth.domain.to_uppercase() != credentials.domain.to_uppercase()
        {
            return Err(NtlmError::CredentialsRejected);
        }
        let response = NtlmV2Response::decode(&auth.nt_response)?;
        let key = ntowf_v2(&nt_hash(&credentials.password), &auth.user, &auth.domain);
        let proof = hmac_md5(&key, &[&server_challenge, &auth.nt_response[16..]]);
        if !bool::from(proof.ct_eq(&response.nt_proof)) {
            return Err(NtlmError::CredentialsRejected);
        }
        if let Some(expected) = &self.channel_bindings {
            let got = response.av_pairs.channel_bindings().unwrap_or([0; 16]);
            if !bool::from(got.ct_eq(&channel_bindings_hash(expected))) {
                return Err(NtlmError::BadSignature("channel bindings"));
            }
        }
        let session_base_key = hmac_md5(&key, &[&proof]);
        let exported = if auth.flags.contains(NegotiateFlags::KEY_EXCH) {
            let mut k: [u8; 16] = auth
                .encrypted_random_session_key
                .as_slice()
                .try_into()
                .map_err(|_| NtlmError::Malformed {
                    message: "AUTHENTICATE",
                    offset: 52,
                    reason: "EncryptedRandomSessionKey is not 16 bytes",
                })?;
            rc4k(&session_base_key, &mut k);
            k
        } else {
            session_base_key
        };
        if response.av_pairs.flags().unwrap_or(0) & AvFlags::MIC_PRESENT != 0 {
            let Some(mic) = auth.mic else {
                return Err(NtlmError::BadSignature("MIC"));
            };
            let mut zeroed = authenticate.to_vec();
            zeroed[AuthenticateMessage::MIC_RANGE].fill(0);
            let expected = hmac_md5(&exported, &[&negotiate, &challenge, &zeroed]);
            if !bool::from(expected.ct_eq(&mic)) {
                return Err(NtlmError::BadSignature("MIC"));
            }
        }
        Ok(Session::for_acceptor(exported, auth.flags))
    }
}
