//! Tests: MS-NLMP 4.2.4's NTLMv2 example, error paths, the initiator
//! against the acceptor, SPNEGO, HTTP, WinRM encryption, and proptest
//! roundtrips.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use proptest::prelude::*;

use super::crypto::{Direction, compute_v2_response, seal_key, sign_key};
use super::spnego::{NegState, NegTokenInit, NegTokenResp, NegotiationToken, Oid};
use super::*;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn arr16(s: &str) -> [u8; 16] {
    hex(s).try_into().unwrap()
}

// MS-NLMP 4.2.1 common values and 4.2.4 (NTLMv2 authentication).
const USER: &str = "User";
const DOMAIN: &str = "Domain";
const PASSWORD: &str = "Password";
const SERVER_CHALLENGE: [u8; 8] = [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef];
const CLIENT_CHALLENGE: [u8; 8] = [0xaa; 8];
const RANDOM_SESSION_KEY: [u8; 16] = [0x55; 16];

/// 4.2.4.2: the CHALLENGE_MESSAGE.
fn spec_challenge() -> Vec<u8> {
    hex(
        "4e544c4d53535000 02000000 0c000c00 38000000 33828ae2 0123456789abcdef
         0000000000000000 24002400 44000000 06007017 0000000f
         530065007200760065007200
         02000c0044006f006d00610069006e00 01000c005300650072007600650072000000 0000",
    )
}

/// 4.2.4.3: the AUTHENTICATE_MESSAGE.
fn spec_authenticate() -> Vec<u8> {
    hex("4e544c4d53535000 03000000 18001800 6c000000 54005400 84000000
         0c000c00 48000000 08000800 54000000 10001000 5c000000 10001000 d8000000
         358288e2 0501280a0000000f
         44006f006d00610069006e00 5500730065007200 43004f004d0050005500540045005200
         86c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa
         68cd0ab851e51c96aabc927bebef6a1c 0101000000000000 0000000000000000 aaaaaaaaaaaaaaaa 00000000
         02000c0044006f006d00610069006e00 01000c005300650072007600650072000000 0000 00000000
         c5dad2544fc9799094ce1ce90bc9d03e")
}

#[test]
fn spec_ntowfv2() {
    let key = ntowf_v2(&nt_hash(PASSWORD), USER, DOMAIN);
    assert_eq!(key, arr16("0c868a403bfd7a93a3001ef22ef02e3f"));
    // NTOWFv2 upper-cases the user, not the domain.
    assert_eq!(ntowf_v2(&nt_hash(PASSWORD), "uSeR", DOMAIN), key);
    assert_ne!(ntowf_v2(&nt_hash(PASSWORD), USER, "DOMAIN"), key);
}

#[test]
fn spec_challenge_decodes_and_reencodes() {
    let bytes = spec_challenge();
    let c = ChallengeMessage::decode(&bytes).unwrap();
    assert_eq!(c.flags, NegotiateFlags(0xe28a_8233));
    assert_eq!(c.target_name, "Server");
    assert_eq!(c.server_challenge, SERVER_CHALLENGE);
    assert_eq!(
        c.version,
        Some(Version {
            major: 6,
            minor: 0,
            build: 6000,
            revision: 15
        })
    );
    assert_eq!(
        c.target_info.as_ref().unwrap().pairs,
        vec![
            AvPair::NbDomainName("Domain".into()),
            AvPair::NbComputerName("Server".into()),
        ]
    );
    assert_eq!(c.encode().unwrap(), bytes);
}

#[test]
fn spec_authenticate_decodes_and_reencodes() {
    let bytes = spec_authenticate();
    let a = AuthenticateMessage::decode(&bytes).unwrap();
    assert_eq!(a.flags, NegotiateFlags(0xe288_8235));
    assert_eq!(a.flags, NegotiateFlags::CLIENT);
    assert_eq!((a.domain.as_str(), a.user.as_str()), (DOMAIN, USER));
    assert_eq!(a.workstation, "COMPUTER");
    assert_eq!(a.mic, None);
    assert_eq!(
        a.version,
        Some(Version {
            major: 5,
            minor: 1,
            build: 2600,
            revision: 15
        })
    );
    assert_eq!(
        a.encrypted_random_session_key,
        hex("c5dad2544fc9799094ce1ce90bc9d03e")
    );
    let v2 = NtlmV2Response::decode(&a.nt_response).unwrap();
    assert_eq!(v2.nt_proof, arr16("68cd0ab851e51c96aabc927bebef6a1c"));
    assert_eq!((v2.timestamp, v2.client_challenge), (0, CLIENT_CHALLENGE));
    assert_eq!(a.encode().unwrap(), bytes);
}

#[test]
fn spec_ntlmv2_response_and_keys() {
    let key = ntowf_v2(&nt_hash(PASSWORD), USER, DOMAIN);
    let info = ChallengeMessage::decode(&spec_challenge())
        .unwrap()
        .target_info
        .unwrap()
        .to_bytes()
        .unwrap();
    let r = compute_v2_response(&key, &SERVER_CHALLENGE, &CLIENT_CHALLENGE, 0, &info);
    let spec = AuthenticateMessage::decode(&spec_authenticate()).unwrap();
    assert_eq!(r.nt_response, spec.nt_response);
    assert_eq!(r.lm_response, spec.lm_response);
    assert_eq!(
        r.session_base_key,
        arr16("8de40ccadbc14a82f15cb0ad0de95ca3")
    );
    let mut encrypted = RANDOM_SESSION_KEY;
    crypto::rc4k(&r.session_base_key, &mut encrypted);
    assert_eq!(encrypted, arr16("c5dad2544fc9799094ce1ce90bc9d03e"));
}

#[test]
fn spec_sealing_example() {
    let flags = NegotiateFlags(0xe288_8235);
    assert_eq!(
        seal_key(&RANDOM_SESSION_KEY, flags, Direction::ClientToServer),
        arr16("59f600973cc4960a25480a7c196e4c58")
    );
    assert_eq!(
        sign_key(&RANDOM_SESSION_KEY, Direction::ClientToServer),
        arr16("4788dc861b4782f35d43fd98fe1a2d39")
    );
    let plaintext = messages::utf16le("Plaintext");
    let mut client = Session::for_initiator(RANDOM_SESSION_KEY, flags);
    let (signature, sealed) = client.seal(&plaintext);
    assert_eq!(sealed, hex("54e50165bf1936dc996020c1811b0f06fb5f"));
    assert_eq!(signature.to_vec(), hex("010000007fb38ec5c55d497600000000"));
    assert_eq!(client.outgoing_sequence(), 1);
    let mut server = Session::for_acceptor(RANDOM_SESSION_KEY, flags);
    assert_eq!(server.unseal(&sealed, &signature).unwrap(), plaintext);
}

#[test]
fn sealing_without_key_exchange_leaves_the_checksum_clear() {
    let flags = NegotiateFlags::CLIENT.without(NegotiateFlags::KEY_EXCH);
    let mut client = Session::for_initiator(RANDOM_SESSION_KEY, flags);
    let signature = client.sign(b"abc");
    let key = sign_key(&RANDOM_SESSION_KEY, Direction::ClientToServer);
    let mac = crypto::hmac_md5(&key, &[&0u32.to_le_bytes(), b"abc"]);
    assert_eq!(&signature[4..12], &mac[..8]);
    let mut server = Session::for_acceptor(RANDOM_SESSION_KEY, flags);
    server.verify(b"abc", &signature).unwrap();
}

#[test]
fn tampering_is_detected() {
    let flags = NegotiateFlags::CLIENT;
    let mut client = Session::for_initiator(RANDOM_SESSION_KEY, flags);
    let mut server = Session::for_acceptor(RANDOM_SESSION_KEY, flags);
    let (sig, mut sealed) = client.seal(b"hello");
    sealed[0] ^= 1;
    assert_eq!(
        server.unseal(&sealed, &sig),
        Err(NtlmError::BadSignature("message signature"))
    );
    // A short signature, a replayed one (wrong sequence number).
    let mut server = Session::for_acceptor(RANDOM_SESSION_KEY, flags);
    let mut client = Session::for_initiator(RANDOM_SESSION_KEY, flags);
    let (sig, sealed) = client.seal(b"hello");
    assert!(server.unseal(&sealed, &sig[..15]).is_err());
    let mut server = Session::for_acceptor(RANDOM_SESSION_KEY, flags);
    let mut c2 = Session::for_initiator(RANDOM_SESSION_KEY, flags);
    let s1 = c2.sign(b"one");
    assert!(server.verify(b"two", &s1).is_err());
    // Messages out of order fail: the server wants seq 0 first.
    let mut server = Session::for_acceptor(RANDOM_SESSION_KEY, flags);
    let mut client = Session::for_initiator(RANDOM_SESSION_KEY, flags);
    let _first = client.sign(b"m");
    let second = client.sign(b"m");
    assert!(server.verify(b"m", &second).is_err());
}

#[test]
fn credentials_parse() {
    let c = Credentials::parse("CONTOSO\\svc", "pw").unwrap();
    assert_eq!((c.domain.as_str(), c.user.as_str()), ("CONTOSO", "svc"));
    let c = Credentials::parse("svc@contoso.com", "pw").unwrap();
    assert_eq!(
        (c.domain.as_str(), c.user.as_str()),
        ("", "svc@contoso.com")
    );
    let c = Credentials::parse("svc", "").unwrap();
    assert_eq!((c.domain.as_str(), c.user.as_str()), ("", "svc"));
    assert_eq!(c.account(), "svc");
    for bad in ["", "\\svc", "CONTOSO\\", "A\\B\\C", "svc\n"] {
        assert!(
            matches!(
                Credentials::parse(bad, "pw"),
                Err(NtlmError::InvalidCredentials(_))
            ),
            "{bad:?}"
        );
    }
    assert!(Credentials::parse(&"a".repeat(257), "pw").is_err());
    let debug = format!("{:?}", Credentials::parse("D\\u", "hunter2").unwrap());
    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(debug.contains("<redacted>"));
}

fn nonces() -> Nonces {
    Nonces {
        client_challenge: CLIENT_CHALLENGE,
        exported_session_key: RANDOM_SESSION_KEY,
    }
}

fn credentials() -> Credentials {
    Credentials::parse("CONTOSO\\svc_bridge", "Pa55w.rd").unwrap()
}

/// Runs a whole exchange against [`Acceptor`].
fn handshake(
    client_creds: Credentials,
    server_creds: &Credentials,
    client_cb: Option<&[u8]>,
    server_cb: Option<&[u8]>,
) -> Result<(Session, Session, Vec<u8>), NtlmError> {
    let mut initiator = Initiator::new(client_creds, "PIPPIN");
    initiator.target_spn("HTTP/provider.contoso.com");
    if let Some(cb) = client_cb {
        initiator.channel_bindings(cb);
    }
    let mut acceptor = Acceptor::new("PROVIDER", "CONTOSO");
    if let Some(cb) = server_cb {
        acceptor.channel_bindings(cb);
    }
    let negotiate = initiator.negotiate()?;
    let challenge = acceptor.challenge(&negotiate, SERVER_CHALLENGE, 133_000_000_000_000_000)?;
    let (authenticate, client) = initiator.authenticate(&challenge, &nonces(), 1)?;
    let server = acceptor.accept(&authenticate, server_creds)?;
    Ok((client, server, authenticate))
}

#[test]
fn initiator_and_acceptor_agree() {
    let (mut client, mut server, authenticate) =
        handshake(credentials(), &credentials(), None, None).unwrap();
    let a = AuthenticateMessage::decode(&authenticate).unwrap();
    assert_eq!(a.lm_response, vec![0; 24], "zeroed: the server sent a time");
    assert!(a.mic.is_some() && a.mic != Some([0; 16]));
    assert_eq!(a.user, "svc_bridge");
    assert_eq!(a.workstation, "PIPPIN");
    let v2 = NtlmV2Response::decode(&a.nt_response).unwrap();
    assert_eq!(v2.timestamp, 133_000_000_000_000_000, "the server's time");
    assert_eq!(v2.av_pairs.flags(), Some(AvFlags::MIC_PRESENT));
    assert_eq!(v2.av_pairs.channel_bindings(), Some([0; 16]));
    assert_eq!(v2.av_pairs.target_name(), Some("HTTP/provider.contoso.com"));
    for i in 0..5u8 {
        let msg = vec![i; 100 * usize::from(i)];
        let (sig, sealed) = client.seal(&msg);
        assert_eq!(server.unseal(&sealed, &sig).unwrap(), msg);
        let (sig, sealed) = server.seal(&msg);
        assert_eq!(client.unseal(&sealed, &sig).unwrap(), msg);
    }
}

#[test]
fn wrong_password_and_user_are_rejected() {
    let wrong = Credentials::parse("CONTOSO\\svc_bridge", "nope").unwrap();
    assert_eq!(
        handshake(wrong, &credentials(), None, None).unwrap_err(),
        NtlmError::CredentialsRejected
    );
    let other = Credentials::parse("CONTOSO\\someone", "Pa55w.rd").unwrap();
    assert_eq!(
        handshake(other, &credentials(), None, None).unwrap_err(),
        NtlmError::CredentialsRejected
    );
    // The domain name's case does not matter for the account match, but it
    // is part of NTOWFv2: the acceptor uses what the client sent.
    let lower = Credentials::parse("contoso\\SVC_BRIDGE", "Pa55w.rd").unwrap();
    assert!(handshake(lower, &credentials(), None, None).is_ok());
}

#[test]
fn channel_bindings_must_match() {
    let cb = b"tls-server-end-point:0123456789abcdef0123456789abcdef";
    assert!(handshake(credentials(), &credentials(), Some(cb), Some(cb)).is_ok());
    assert_eq!(
        handshake(
            credentials(),
            &credentials(),
            Some(b"tls-server-end-point:x"),
            Some(cb)
        )
        .unwrap_err(),
        NtlmError::BadSignature("channel bindings")
    );
    assert_eq!(
        handshake(credentials(), &credentials(), None, Some(cb)).unwrap_err(),
        NtlmError::BadSignature("channel bindings")
    );
}

#[test]
fn a_tampered_authenticate_fails_its_mic() {
    let mut initiator = Initiator::new(credentials(), "PIPPIN");
    let mut acceptor = Acceptor::new("PROVIDER", "CONTOSO");
    let negotiate = initiator.negotiate().unwrap();
    let challenge = acceptor.challenge(&negotiate, SERVER_CHALLENGE, 7).unwrap();
    let (mut authenticate, _) = initiator.authenticate(&challenge, &nonces(), 1).unwrap();
    // Flip a flag bit (SIGN): the NTProofStr still verifies, the MIC not.
    authenticate[60] ^= 0x10;
    assert_eq!(
        acceptor.accept(&authenticate, &credentials()).unwrap_err(),
        NtlmError::BadSignature("MIC")
    );
}

#[test]
fn lmv2_is_sent_without_a_server_timestamp_and_time_is_ours() {
    let mut challenge = ChallengeMessage::decode(&spec_challenge()).unwrap();
    challenge.flags = NegotiateFlags::CLIENT | NegotiateFlags::TARGET_TYPE_SERVER;
    let mut initiator = Initiator::new(Credentials::parse("Domain\\User", PASSWORD).unwrap(), "");
    initiator.negotiate().unwrap();
    let (auth, _) = initiator
        .authenticate(&challenge.encode().unwrap(), &nonces(), 42)
        .unwrap();
    let a = AuthenticateMessage::decode(&auth).unwrap();
    assert_eq!(
        a.lm_response,
        hex("86c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa")
    );
    let v2 = NtlmV2Response::decode(&a.nt_response).unwrap();
    assert_eq!(v2.timestamp, 42);
    assert_eq!(v2.av_pairs.target_name(), None);
}

#[test]
fn challenges_lacking_requirements_are_refused() {
    let base = ChallengeMessage::decode(&spec_challenge()).unwrap();
    let cases = [
        (
            NegotiateFlags::EXTENDED_SESSIONSECURITY,
            "extended session security (NTLMv2)",
        ),
        (NegotiateFlags::NEGOTIATE_128, "128-bit session keys"),
        (NegotiateFlags::SEAL, "message sealing"),
        (NegotiateFlags::TARGET_INFO, "NTLMv2 target information"),
        (
            NegotiateFlags::UNICODE,
            "Unicode strings (NEGOTIATE_UNICODE)",
        ),
    ];
    for (flag, what) in cases {
        let mut c = base.clone();
        c.flags = c.flags.without(flag);
        let mut initiator = Initiator::new(credentials(), "W");
        initiator.negotiate().unwrap();
        assert_eq!(
            initiator
                .authenticate(&c.encode().unwrap(), &nonces(), 0)
                .unwrap_err(),
            NtlmError::Unsupported(what)
        );
    }
    let mut c = base.clone();
    c.target_info = None;
    let mut initiator = Initiator::new(credentials(), "W");
    initiator.negotiate().unwrap();
    assert_eq!(
        initiator
            .authenticate(&c.encode().unwrap(), &nonces(), 0)
            .unwrap_err(),
        NtlmError::Unsupported("NTLMv2 target information")
    );
    let mut fresh = Initiator::new(credentials(), "W");
    assert!(matches!(
        fresh.authenticate(&spec_challenge(), &nonces(), 0),
        Err(NtlmError::OutOfOrder(_))
    ));
}

#[test]
fn malformed_messages_are_errors() {
    let good = spec_challenge();
    assert!(matches!(
        ChallengeMessage::decode(&good[..40]),
        Err(NtlmError::Malformed { .. })
    ));
    // Target info running past the end.
    let mut bad = good.clone();
    bad[40] = 0xff;
    assert!(matches!(
        ChallengeMessage::decode(&bad),
        Err(NtlmError::Malformed { offset: 40, .. })
    ));
    // Offset near u32::MAX.
    let mut bad = good.clone();
    bad[44..48].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(ChallengeMessage::decode(&bad).is_err());
    // Missing EOL.
    let mut bad = good.clone();
    bad.truncate(bad.len() - 4);
    bad[40] -= 4;
    bad[42] -= 4;
    assert!(matches!(
        ChallengeMessage::decode(&bad),
        Err(NtlmError::Malformed {
            reason: "ends without MsvAvEOL",
            ..
        })
    ));
    // Odd-length Unicode name.
    let mut bad = good.clone();
    bad[12] = 11;
    assert!(ChallengeMessage::decode(&bad).is_err());
    // Wrong type, wrong signature.
    assert_eq!(
        ChallengeMessage::decode(&spec_authenticate()).unwrap_err(),
        NtlmError::UnexpectedMessage {
            expected: "CHALLENGE",
            got: 3
        }
    );
    let mut bad = good.clone();
    bad[0] = b'X';
    assert!(ChallengeMessage::decode(&bad).is_err());
    // Fixed-size AV pairs of the wrong size.
    assert!(TargetInfo::decode(&[7, 0, 4, 0, 1, 2, 3, 4, 0, 0, 0, 0]).is_err());
    assert!(TargetInfo::decode(&[6, 0, 2, 0, 1, 2, 0, 0, 0, 0]).is_err());
    assert!(TargetInfo::decode(&[0, 0, 1, 0, 0]).is_err());
    assert!(matches!(
        NtlmV2Response::decode(&[0; 24]),
        Err(NtlmError::Malformed { .. })
    ));
    assert!(matches!(
        AuthenticateMessage::decode(&vec![0; MAX_MESSAGE_LEN + 1]),
        Err(NtlmError::TooLarge { .. })
    ));
}

#[test]
fn negotiate_message_is_what_the_spec_example_client_sends() {
    let mut initiator = Initiator::new(credentials(), "W");
    let n = initiator.negotiate().unwrap();
    assert_eq!(n.len(), 40);
    assert_eq!(&n[12..16], &0xe288_8235u32.to_le_bytes());
    let d = NegotiateMessage::decode(&n).unwrap();
    assert_eq!(d, NegotiateMessage::client());
}

#[test]
fn spnego_tokens() {
    let init = spnego::initial_token(b"NTLMSSP\0abc");
    let expected = {
        let mut v =
            hex("602b 0606 2b0601050502 a021 301f a00e 300c 060a 2b06010401823702020a a20d 040b");
        v.extend_from_slice(b"NTLMSSP\0abc");
        v
    };
    assert_eq!(init, expected);
    assert_eq!(
        NegotiationToken::decode(&init).unwrap(),
        NegotiationToken::Init(NegTokenInit::ntlm(b"NTLMSSP\0abc"))
    );
    let resp = NegTokenResp {
        neg_state: Some(NegState::AcceptIncomplete),
        supported_mech: Some(Oid::ntlmssp()),
        response_token: Some(b"chal".to_vec()),
        mech_list_mic: None,
    };
    let bytes = resp.encode();
    assert_eq!(
        bytes,
        hex("a1 1d 30 1b a0 03 0a 01 01 a1 0c 06 0a 2b06010401823702020a a2 06 04 04 6368616c")
    );
    assert_eq!(NegTokenResp::decode(&bytes).unwrap(), resp);
    assert_eq!(spnego::challenge_from(&bytes).unwrap(), b"chal");
    assert_eq!(Oid::ntlmssp().to_string(), "1.3.6.1.4.1.311.2.2.10");

    let reject = NegTokenResp {
        neg_state: Some(NegState::Reject),
        supported_mech: None,
        response_token: None,
        mech_list_mic: None,
    };
    assert_eq!(
        spnego::challenge_from(&reject.encode()),
        Err(NtlmError::CredentialsRejected)
    );
    let kerberos = NegTokenResp {
        supported_mech: Some(Oid(hex("2a864886f712010202"))),
        ..resp.clone()
    };
    assert_eq!(
        spnego::challenge_from(&kerberos.encode()),
        Err(NtlmError::MechanismNotOffered(
            "1.2.840.113554.1.2.2".into()
        ))
    );
    // Truncated, trailing data, fields out of order.
    assert!(NegTokenResp::decode(&bytes[..bytes.len() - 1]).is_err());
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert!(NegTokenResp::decode(&trailing).is_err());
    assert!(NegTokenResp::decode(&hex("a1 0a 30 08 a2 02 04 00 a0 02 0a 00")).is_err());
    assert!(NegTokenResp::decode(&hex("a1 05 30 03 a0 01 0a")).is_err());
}

#[test]
fn mech_list_mic_both_ways() {
    let (mut client, mut server, _) = handshake(credentials(), &credentials(), None, None).unwrap();
    let token = spnego::authenticate_token(b"auth", &mut client);
    let resp = NegTokenResp::decode(&token).unwrap();
    let mech_types = spnego::mech_type_list(&[Oid::ntlmssp()]);
    server
        .verify_mech_list(&mech_types, resp.mech_list_mic.as_deref().unwrap())
        .unwrap();
    let server_mic = server.sign_mech_list(&mech_types);
    let done = NegTokenResp {
        neg_state: Some(NegState::AcceptCompleted),
        supported_mech: None,
        response_token: None,
        mech_list_mic: Some(server_mic.to_vec()),
    };
    assert!(spnego::finish(&done.encode(), &mut client).unwrap());
    // After the mechListMIC both RC4 handles restarted, sequence numbers
    // did not.
    assert_eq!(
        (client.outgoing_sequence(), client.incoming_sequence()),
        (1, 1)
    );
    let (sig, sealed) = client.seal(b"soap");
    assert_eq!(server.unseal(&sealed, &sig).unwrap(), b"soap");
    assert_eq!(&sig[12..], &1u32.to_le_bytes());
    // A bad mechListMIC.
    let (mut client, _, _) = handshake(credentials(), &credentials(), None, None).unwrap();
    let bad = NegTokenResp {
        mech_list_mic: Some(vec![1; 16]),
        ..done
    };
    assert_eq!(
        spnego::finish(&bad.encode(), &mut client),
        Err(NtlmError::BadSignature("SPNEGO mechListMIC"))
    );
}

#[test]
fn www_authenticate_parsing() {
    let c = parse_www_authenticate([
        "Negotiate, Basic realm=\"WSMAN, with comma\", NTLM",
        "Kerberos",
        "Negotiate oYIBMjCC+/A=",
    ]);
    let got: Vec<_> = c.iter().map(|c| (c.scheme, c.token)).collect();
    assert_eq!(
        got,
        vec![
            ("Negotiate", None),
            ("Basic", None),
            ("NTLM", None),
            ("Kerberos", None),
            ("Negotiate", Some("oYIBMjCC+/A=")),
        ]
    );
}

/// A scripted server around [`Acceptor`]: answers the HTTP exchange.
fn http_exchange(
    scheme: AuthScheme,
    password: &str,
) -> Result<(Session, Session, bool), NtlmError> {
    let mut initiator = Initiator::new(
        Credentials::parse("CONTOSO\\svc_bridge", password)?,
        "PIPPIN",
    );
    initiator.target_spn("HTTP/provider.contoso.com");
    let mut auth = HttpAuth::new(scheme, initiator);
    let first = auth.first_authorization()?;
    let (name, token) = first.split_once(' ').unwrap();
    assert_eq!(name, scheme.name());
    let token = STANDARD.decode(token).unwrap();
    let negotiate = match scheme {
        AuthScheme::Negotiate => match NegotiationToken::decode(&token)? {
            NegotiationToken::Init(i) => i.mech_token.unwrap(),
            NegotiationToken::Resp(_) => panic!("expected NegTokenInit"),
        },
        AuthScheme::Ntlm => token,
    };
    let mut acceptor = Acceptor::new("PROVIDER", "CONTOSO");
    let challenge = acceptor.challenge(&negotiate, SERVER_CHALLENGE, 99)?;
    let challenge = match scheme {
        AuthScheme::Negotiate => NegTokenResp {
            neg_state: Some(NegState::AcceptIncomplete),
            supported_mech: Some(Oid::ntlmssp()),
            response_token: Some(challenge),
            mech_list_mic: None,
        }
        .encode(),
        AuthScheme::Ntlm => challenge,
    };
    let header = format!("{} {}", scheme.name(), STANDARD.encode(challenge));
    let second =
        auth.challenge_authorization(["Basic realm=\"WSMAN\"", header.as_str()], &nonces(), 5)?;
    let token = STANDARD.decode(second.split_once(' ').unwrap().1).unwrap();
    let (authenticate, mic) = match scheme {
        AuthScheme::Negotiate => {
            let r = NegTokenResp::decode(&token)?;
            (r.response_token.unwrap(), r.mech_list_mic)
        }
        AuthScheme::Ntlm => (token, None),
    };
    let mut server = match acceptor.accept(&authenticate, &credentials()) {
        Ok(s) => s,
        Err(NtlmError::CredentialsRejected) => {
            return auth
                .finish(401, ["Negotiate", "NTLM"])
                .map(|_| unreachable!("401 is refusal"));
        }
        Err(e) => return Err(e),
    };
    let mech_types = spnego::mech_type_list(&[Oid::ntlmssp()]);
    let final_header = match mic {
        Some(mic) => {
            server.verify_mech_list(&mech_types, &mic)?;
            let done = NegTokenResp {
                neg_state: Some(NegState::AcceptCompleted),
                supported_mech: None,
                response_token: None,
                mech_list_mic: Some(server.sign_mech_list(&mech_types).to_vec()),
            };
            Some(format!("Negotiate {}", STANDARD.encode(done.encode())))
        }
        None => None,
    };
    let client = auth.finish(200, final_header.as_deref())?;
    Ok((client, server, auth.server_mic_verified()))
}

#[test]
fn http_negotiate_and_ntlm() {
    for scheme in [AuthScheme::Negotiate, AuthScheme::Ntlm] {
        let (mut client, mut server, mic) = http_exchange(scheme, "Pa55w.rd").unwrap();
        assert_eq!(mic, scheme == AuthScheme::Negotiate);
        for _ in 0..3 {
            let soap = b"<s:Envelope/>";
            let (ct, body) = winrm::encrypt(&mut client, soap);
            assert_eq!(winrm::decrypt(&mut server, &ct, &body).unwrap(), soap);
            let (ct, body) = winrm::encrypt(&mut server, b"<answer/>");
            assert_eq!(
                winrm::decrypt(&mut client, &ct, &body).unwrap(),
                b"<answer/>"
            );
        }
        assert_eq!(
            http_exchange(scheme, "wrong").unwrap_err(),
            NtlmError::CredentialsRejected
        );
    }
}

#[test]
fn http_errors() {
    let mut auth = HttpAuth::new(AuthScheme::Negotiate, Initiator::new(credentials(), "W"));
    assert!(matches!(
        auth.challenge_authorization(["NTLM abc="], &nonces(), 0),
        Err(NtlmError::OutOfOrder(_))
    ));
    auth.first_authorization().unwrap();
    assert!(auth.first_authorization().is_err());
    assert_eq!(
        auth.challenge_authorization(["Basic realm=\"x\"", "NTLM"], &nonces(), 0),
        Err(NtlmError::NoChallenge {
            scheme: "Negotiate",
            offered: "Basic, NTLM".into()
        })
    );
    let mut auth = HttpAuth::new(AuthScheme::Ntlm, Initiator::new(credentials(), "W"));
    auth.first_authorization().unwrap();
    assert!(matches!(
        auth.challenge_authorization(["NTLM !!!"], &nonces(), 0),
        Err(NtlmError::NoChallenge { .. })
    ));
    let mut auth = HttpAuth::new(AuthScheme::Ntlm, Initiator::new(credentials(), "W"));
    auth.first_authorization().unwrap();
    assert!(matches!(
        auth.challenge_authorization(["NTLM AAAA"], &nonces(), 0),
        Err(NtlmError::Malformed { .. })
    ));
}

fn session_pair() -> (Session, Session) {
    let k = [9; 16];
    (
        Session::for_initiator(k, NegotiateFlags::CLIENT),
        Session::for_acceptor(k, NegotiateFlags::CLIENT),
    )
}

#[test]
fn winrm_body_layout() {
    let (mut client, mut server) = session_pair();
    let soap = b"<s:Envelope>x</s:Envelope>";
    let (ct, body) = winrm::encrypt(&mut client, soap);
    assert_eq!(ct, winrm::CONTENT_TYPE);
    assert!(winrm::is_encrypted(&ct));
    assert!(!winrm::is_encrypted("application/soap+xml;charset=UTF-8"));
    let head = b"--Encrypted Boundary\r\n\tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=26\r\n--Encrypted Boundary\r\n\tContent-Type: application/octet-stream\r\n\x10\0\0\0";
    assert!(body.starts_with(head));
    assert!(body.ends_with(b"--Encrypted Boundary--\r\n"));
    assert_eq!(body.len(), head.len() + 16 + soap.len() + 24);
    assert_eq!(winrm::decrypt(&mut server, &ct, &body).unwrap(), soap);
}

#[test]
fn winrm_decrypt_errors() {
    let soap = b"<s:Envelope>x</s:Envelope>";
    let check = |ct: &str, edit: &dyn Fn(&mut Vec<u8>)| {
        let (mut client, mut server) = session_pair();
        let (_, mut body) = winrm::encrypt(&mut client, soap);
        edit(&mut body);
        winrm::decrypt(&mut server, ct, &body)
    };
    let ct = winrm::CONTENT_TYPE;
    assert!(check(ct, &|_| {}).is_ok());
    assert!(matches!(
        check("application/soap+xml", &|_| {}),
        Err(NtlmError::Encryption(_))
    ));
    assert!(matches!(
        check(
            "multipart/encrypted;protocol=\"application/HTTP-Kerberos-session-encrypted\";boundary=\"Encrypted Boundary\"",
            &|_| {}
        ),
        Err(NtlmError::Encryption(_))
    ));
    // Declared length larger than what is there.
    let replace = |from: &'static [u8], to: &'static [u8]| {
        move |b: &mut Vec<u8>| {
            let i = b.windows(from.len()).position(|w| w == from).unwrap();
            b.splice(i..i + from.len(), to.iter().copied());
        }
    };
    assert!(check(ct, &replace(b"Length=26", b"Length=99")).is_err());
    assert!(check(ct, &replace(b"Length=26", b"Length=x")).is_err());
    assert!(check(ct, &replace(b"Length=26", b"Length=25")).is_err());
    assert!(check(ct, &replace(b"\x10\0\0\0", b"\x0f\0\0\0")).is_err());
    assert!(check(ct, &replace(b"octet-stream", b"text/plain")).is_err());
    // A flipped ciphertext byte fails the signature.
    assert_eq!(
        check(ct, &|b: &mut Vec<u8>| {
            let n = b.len();
            b[n - 30] ^= 1;
        }),
        Err(NtlmError::BadSignature("message signature"))
    );
    assert!(check(ct, &|b: &mut Vec<u8>| b.truncate(b.len() - 30)).is_err());
}

#[test]
fn winrm_multi_encrypted_parts() {
    let (mut client, mut server) = session_pair();
    let (_, a) = winrm::encrypt(&mut client, b"first ");
    let (_, b) = winrm::encrypt(&mut client, b"second");
    let end = b"--Encrypted Boundary--\r\n";
    let mut body = a[..a.len() - end.len()].to_vec();
    body.extend_from_slice(&b);
    let ct = "multipart/x-multi-encrypted;protocol=\"application/HTTP-SPNEGO-session-encrypted\";boundary=\"Encrypted Boundary\"";
    assert_eq!(
        winrm::decrypt(&mut server, ct, &body).unwrap(),
        b"first second"
    );
    let (mut client, mut server) = session_pair();
    let (ct, a) = winrm::encrypt(&mut client, b"first ");
    let (_, b) = winrm::encrypt(&mut client, b"second");
    let mut body = a[..a.len() - end.len()].to_vec();
    body.extend_from_slice(&b);
    assert!(
        winrm::decrypt(&mut server, &ct, &body).is_err(),
        "single form"
    );
}

#[test]
fn tls_server_end_point_hashes_by_signature_algorithm() {
    use sha2::{Digest, Sha256, Sha384};
    // SEQUENCE { SEQUENCE {}, SEQUENCE { OID sha256WithRSAEncryption } }
    let sha256_rsa = hex("3011 3000 300d 0609 2a864886f70d01010b 0500");
    let got = tls_server_end_point(&sha256_rsa).unwrap();
    let mut want = b"tls-server-end-point:".to_vec();
    want.extend_from_slice(&Sha256::digest(&sha256_rsa));
    assert_eq!(got, want);
    let ecdsa384 = hex("300e 3000 300a 0608 2a8648ce3d040303");
    let got = tls_server_end_point(&ecdsa384).unwrap();
    assert_eq!(&got[21..], Sha384::digest(&ecdsa384).as_slice());
    assert!(matches!(
        tls_server_end_point(&[0x30, 0x05, 0x30]),
        Err(NtlmError::InvalidCertificate(_))
    ));
    // The hash of the gss_channel_bindings_struct: 20 bytes of header.
    let mut s = vec![0u8; 16];
    s.extend_from_slice(&3u32.to_le_bytes());
    s.extend_from_slice(b"abc");
    assert_eq!(channel_bindings_hash(b"abc"), crypto::md5(&[&s]));
}

// --- proptest roundtrips ---

fn arb_string() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[a-zA-Z0-9.\\-/é中]{0,20}").unwrap()
}

fn arb_version() -> impl Strategy<Value = Option<Version>> {
    proptest::option::of(
        (any::<u8>(), any::<u8>(), any::<u16>(), any::<u8>()).prop_map(
            |(major, minor, build, revision)| Version {
                major,
                minor,
                build,
                revision,
            },
        ),
    )
}

fn arb_pair() -> impl Strategy<Value = AvPair> {
    prop_oneof![
        arb_string().prop_map(AvPair::NbComputerName),
        arb_string().prop_map(AvPair::NbDomainName),
        arb_string().prop_map(AvPair::DnsComputerName),
        arb_string().prop_map(AvPair::DnsDomainName),
        arb_string().prop_map(AvPair::DnsTreeName),
        any::<u32>().prop_map(AvPair::Flags),
        any::<u64>().prop_map(AvPair::Timestamp),
        proptest::collection::vec(any::<u8>(), 0..48).prop_map(AvPair::SingleHost),
        arb_string().prop_map(AvPair::TargetName),
        any::<[u8; 16]>().prop_map(AvPair::ChannelBindings),
        (11u16.., proptest::collection::vec(any::<u8>(), 0..20))
            .prop_map(|(id, value)| AvPair::Other { id, value }),
    ]
}

fn arb_target_info() -> impl Strategy<Value = TargetInfo> {
    proptest::collection::vec(arb_pair(), 0..10).prop_map(|pairs| TargetInfo { pairs })
}

/// Flags with the VERSION bit matching `version`, UNICODE set.
fn flags_for(bits: u32, version: bool) -> NegotiateFlags {
    let f = NegotiateFlags(bits) | NegotiateFlags::UNICODE;
    if version {
        f | NegotiateFlags::VERSION
    } else {
        f.without(NegotiateFlags::VERSION)
    }
}

proptest! {
    #[test]
    fn target_info_roundtrip(info in arb_target_info()) {
        let bytes = info.to_bytes().unwrap();
        prop_assert_eq!(TargetInfo::decode(&bytes).unwrap(), info);
    }

    #[test]
    fn negotiate_roundtrip(
        bits in any::<u32>(),
        domain in proptest::collection::vec(any::<u8>(), 0..20),
        workstation in proptest::collection::vec(any::<u8>(), 0..20),
        version in arb_version(),
    ) {
        let m = NegotiateMessage { flags: flags_for(bits, version.is_some()), domain, workstation, version };
        let bytes = m.encode().unwrap();
        prop_assert_eq!(NegotiateMessage::decode(&bytes).unwrap(), m);
    }

    #[test]
    fn challenge_roundtrip(
        bits in any::<u32>(),
        unicode in any::<bool>(),
        target_name in arb_string(),
        server_challenge in any::<[u8; 8]>(),
        target_info in proptest::option::of(arb_target_info()),
        version in arb_version(),
    ) {
        let mut flags = flags_for(bits, version.is_some());
        let target_name = if unicode {
            target_name
        } else {
            flags = flags.without(NegotiateFlags::UNICODE);
            target_name.chars().filter(|c| u32::from(*c) < 256).collect()
        };
        let m = ChallengeMessage { flags, target_name, server_challenge, target_info, version };
        let bytes = m.encode().unwrap();
        prop_assert_eq!(ChallengeMessage::decode(&bytes).unwrap(), m);
    }

    #[test]
    fn authenticate_roundtrip(
        bits in any::<u32>(),
        lm_response in proptest::collection::vec(any::<u8>(), 0..30),
        nt_response in proptest::collection::vec(any::<u8>(), 0..100),
        domain in arb_string(),
        user in arb_string(),
        workstation in arb_string(),
        encrypted_random_session_key in proptest::collection::vec(any::<u8>(), 0..17),
        version in arb_version(),
        mic in proptest::option::of(any::<[u8; 16]>()),
    ) {
        let m = AuthenticateMessage {
            flags: flags_for(bits, version.is_some()),
            lm_response, nt_response, domain, user, workstation,
            encrypted_random_session_key, version, mic,
        };
        let bytes = m.encode().unwrap();
        prop_assert_eq!(AuthenticateMessage::decode(&bytes).unwrap(), m);
    }

    #[test]
    fn neg_token_roundtrip(
        state in proptest::option::of(0u8..4),
        mech in proptest::option::of(proptest::collection::vec(1u8..0x7f, 1..12)),
        token in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300)),
        mic in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..20)),
        types in proptest::collection::vec(proptest::collection::vec(1u8..0x7f, 1..12), 1..5),
    ) {
        let resp = NegTokenResp {
            neg_state: state.map(|s| [NegState::AcceptCompleted, NegState::AcceptIncomplete, NegState::Reject, NegState::RequestMic][usize::from(s)]),
            supported_mech: mech.map(Oid),
            response_token: token.clone(),
            mech_list_mic: mic.clone(),
        };
        prop_assert_eq!(NegTokenResp::decode(&resp.encode()).unwrap(), resp);
        let init = NegTokenInit { mech_types: types.into_iter().map(Oid).collect(), mech_token: token, mech_list_mic: mic };
        prop_assert_eq!(NegotiationToken::decode(&init.encode()).unwrap(), NegotiationToken::Init(init));
    }

    #[test]
    fn seal_unseal_roundtrip(
        key in any::<[u8; 16]>(),
        key_exch in any::<bool>(),
        messages in proptest::collection::vec((any::<bool>(), proptest::collection::vec(any::<u8>(), 0..200)), 1..8),
    ) {
        let mut flags = NegotiateFlags::CLIENT;
        if !key_exch {
            flags = flags.without(NegotiateFlags::KEY_EXCH);
        }
        let mut client = Session::for_initiator(key, flags);
        let mut server = Session::for_acceptor(key, flags);
        for (to_server, msg) in messages {
            let (from, to) = if to_server { (&mut client, &mut server) } else { (&mut server, &mut client) };
            let (sig, sealed) = from.seal(&msg);
            prop_assert_eq!(sealed.len(), msg.len());
            prop_assert_eq!(to.unseal(&sealed, &sig).unwrap(), msg);
        }
    }

    #[test]
    fn decoders_never_panic(data in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = NegotiateMessage::decode(&data);
        let _ = ChallengeMessage::decode(&data);
        let _ = AuthenticateMessage::decode(&data);
        let _ = NegotiationToken::decode(&data);
        let mut framed = b"NTLMSSP\0\x02\0\0\0".to_vec();
        framed.extend_from_slice(&data);
        let _ = ChallengeMessage::decode(&framed);
    }
}

/// Writes the seed corpus of the `ntlm_message_decode` fuzz target into the
/// directory named by `PIPPIN_NTLM_FUZZ_CORPUS`; does nothing without it.
#[test]
fn write_fuzz_corpus() {
    let Some(dir) = std::env::var_os("PIPPIN_NTLM_FUZZ_CORPUS") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    let mut seeds: Vec<(&str, Vec<u8>)> = vec![
        ("ms-nlmp-4.2.4-challenge", spec_challenge()),
        ("ms-nlmp-4.2.4-authenticate", spec_authenticate()),
        (
            "ms-nlmp-4.2.4-target-info",
            ChallengeMessage::decode(&spec_challenge())
                .unwrap()
                .target_info
                .unwrap()
                .to_bytes()
                .unwrap(),
        ),
        (
            "pyspnego-negtokeninit",
            include_bytes!("../../tests/fixtures/ntlm/pyspnego-negtokeninit.bin").to_vec(),
        ),
        (
            "pyspnego-negtokenresp-challenge",
            include_bytes!("../../tests/fixtures/ntlm/pyspnego-negtokenresp-challenge.bin")
                .to_vec(),
        ),
        (
            "pyspnego-negtokenresp-authenticate",
            include_bytes!("../../tests/fixtures/ntlm/pyspnego-negtokenresp-authenticate.bin")
                .to_vec(),
        ),
        (
            "pyspnego-negtokenresp-final",
            include_bytes!("../../tests/fixtures/ntlm/pyspnego-negtokenresp-final.bin").to_vec(),
        ),
        (
            "pyspnego-authenticate",
            include_bytes!("../../tests/fixtures/ntlm/pyspnego-authenticate.bin").to_vec(),
        ),
        (
            "www-authenticate",
            b"Negotiate oRswGaADCgEBoQwGCisGAQQBgjcCAgqiBAQCTlQ=, Basic realm=\"WSMAN\"\nNTLM"
                .to_vec(),
        ),
    ];
    let mut initiator = Initiator::new(credentials(), "PIPPIN");
    initiator.target_spn("HTTP/provider.contoso.com");
    let negotiate = initiator.negotiate().unwrap();
    let mut acceptor = Acceptor::new("PROVIDER", "CONTOSO");
    let challenge = acceptor.challenge(&negotiate, SERVER_CHALLENGE, 7).unwrap();
    let (authenticate, mut session) = initiator.authenticate(&challenge, &nonces(), 1).unwrap();
    seeds.push(("pippin-negotiate", negotiate.clone()));
    seeds.push(("pippin-challenge", challenge.clone()));
    seeds.push(("pippin-authenticate", authenticate.clone()));
    seeds.push(("pippin-negtokeninit", spnego::initial_token(&negotiate)));
    seeds.push((
        "pippin-negtokenresp-authenticate",
        spnego::authenticate_token(&authenticate, &mut session),
    ));
    seeds.push((
        "pippin-winrm-body",
        winrm::encrypt(&mut session, b"<s:Envelope/>").1,
    ));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, bytes) in seeds {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}
