//! NTLM and SPNEGO decoding: any input is refused or read, never a panic.
//! An NTLM message (NEGOTIATE, CHALLENGE, AUTHENTICATE) that decodes
//! encodes to bytes that decode to the same message (the VERSION flag
//! following the VERSION field); so does a SPNEGO token. The bytes also go
//! through the initiator as a server's CHALLENGE (raw and inside a
//! NegTokenResp), the NTLMv2 response and AV-pair readers, the
//! WWW-Authenticate parser and WinRM decryption.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sccm_wmi::ntlm::spnego::{self, NegotiationToken};
use sccm_wmi::ntlm::{
    AuthScheme, AuthenticateMessage, ChallengeMessage, Credentials, HttpAuth, Initiator,
    NegotiateFlags, NegotiateMessage, Nonces, NtlmV2Response, Session, TargetInfo, message_type,
    parse_www_authenticate, winrm,
};

fn normalized(flags: NegotiateFlags, version: bool) -> NegotiateFlags {
    if version {
        flags | NegotiateFlags::VERSION
    } else {
        flags.without(NegotiateFlags::VERSION)
    }
}

const NONCES: Nonces = Nonces {
    client_challenge: [7; 8],
    exported_session_key: [9; 16],
};

fuzz_target!(|data: &[u8]| {
    match message_type::of(data) {
        Some(message_type::NEGOTIATE) => {
            if let Ok(mut m) = NegotiateMessage::decode(data) {
                let bytes = m.encode().expect("a decoded message encodes");
                m.flags = normalized(m.flags, m.version.is_some());
                assert_eq!(NegotiateMessage::decode(&bytes).as_ref(), Ok(&m));
            }
        }
        Some(message_type::CHALLENGE) => {
            if let Ok(mut m) = ChallengeMessage::decode(data) {
                let bytes = m.encode().expect("a decoded message encodes");
                m.flags = normalized(m.flags, m.version.is_some());
                assert_eq!(ChallengeMessage::decode(&bytes).as_ref(), Ok(&m));
            }
            let credentials = Credentials::parse("CONTOSO\\svc", "pw").expect("valid account");
            let mut initiator = Initiator::new(credentials, "PIPPIN");
            initiator
                .target_spn("HTTP/provider.contoso.com")
                .channel_bindings(b"tls-server-end-point:0123");
            initiator.negotiate().expect("NEGOTIATE encodes");
            if let Ok((authenticate, _)) = initiator.authenticate(data, &NONCES, 1) {
                let a = AuthenticateMessage::decode(&authenticate).expect("our own message");
                assert!(a.mic.is_some());
                NtlmV2Response::decode(&a.nt_response).expect("our own NTLMv2 response");
            }
        }
        Some(message_type::AUTHENTICATE) => {
            if let Ok(mut m) = AuthenticateMessage::decode(data) {
                let bytes = m.encode().expect("a decoded message encodes");
                m.flags = normalized(m.flags, m.version.is_some());
                assert_eq!(AuthenticateMessage::decode(&bytes).as_ref(), Ok(&m));
                let _ = NtlmV2Response::decode(&m.nt_response);
            }
        }
        _ => {}
    }

    if let Ok(info) = TargetInfo::decode(data) {
        let bytes = info.to_bytes().expect("decoded pairs encode");
        assert_eq!(TargetInfo::decode(&bytes).as_ref(), Ok(&info));
    }

    if let Ok(token) = NegotiationToken::decode(data) {
        let bytes = match &token {
            NegotiationToken::Init(i) => i.encode(),
            NegotiationToken::Resp(r) => r.encode(),
        };
        assert_eq!(NegotiationToken::decode(&bytes).as_ref(), Ok(&token));
        let _ = spnego::challenge_from(data);
        let mut session = Session::for_initiator([1; 16], NegotiateFlags::CLIENT);
        let _ = spnego::finish(data, &mut session);
    }

    let text = String::from_utf8_lossy(data);
    let challenges = parse_www_authenticate(text.split('\n'));
    for c in &challenges {
        assert!(!c.scheme.is_empty());
    }
    let credentials = Credentials::parse("svc", "pw").expect("valid account");
    let mut auth = HttpAuth::new(AuthScheme::Negotiate, Initiator::new(credentials, ""));
    auth.first_authorization().expect("the first header");
    let _ = auth.challenge_authorization(text.split('\n'), &NONCES, 1);

    let mut session = Session::for_acceptor([1; 16], NegotiateFlags::CLIENT);
    let _ = winrm::decrypt(&mut session, winrm::CONTENT_TYPE, data);
});
