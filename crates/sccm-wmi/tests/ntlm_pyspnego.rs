//! NTLM, SPNEGO and WinRM message encryption against pyspnego (and
//! pywinrm's framing), an independent implementation, through the JSON-line
//! bridge `tests/pyspnego_peer.py`: pyspnego as the acceptor of our
//! initiator, and as the initiator against our acceptor.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sccm_wmi::ntlm::spnego::{self, NegState, NegTokenResp, NegotiationToken, Oid};
use sccm_wmi::ntlm::{
    Acceptor, AuthScheme, AuthenticateMessage, ChallengeMessage, Credentials, HttpAuth, Initiator,
    NegotiateMessage, Nonces, NtlmError, NtlmV2Response, Session, winrm,
};
use serde_json::{Value, json};

const ACCOUNT: &str = "CONTOSO\\svc_bridge";
const PASSWORD: &str = "Pa55w.rd";
const NOW: u64 = 133_500_000_000_000_000;
const CERT_HASH_BINDING: &[u8] =
    b"tls-server-end-point:\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x20";

/// The bridge process.
struct Peer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    _users: tempfile::TempDir,
}

impl Peer {
    /// Starts the bridge, or returns `None` (after the skip notice) when
    /// pyspnego or pywinrm is missing.
    fn start(test: &str) -> Option<Self> {
        if !test_support::require_python(test, &["spnego", "winrm"]) {
            return None;
        }
        let users = test_support::tempdir();
        let file = users.path().join("ntlm-users");
        std::fs::write(&file, format!("CONTOSO:svc_bridge:{PASSWORD}\n")).unwrap();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/pyspnego_peer.py");
        let mut child = Command::new(test_support::python())
            .arg(script)
            .env("NTLM_USER_FILE", &file)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the pyspnego bridge");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Some(Self {
            child,
            stdin,
            stdout,
            _users: users,
        })
    }

    /// Sends one request and returns the answer (`ok` or `error`).
    fn call(&mut self, request: Value) -> Value {
        writeln!(self.stdin, "{request}").unwrap();
        self.stdin.flush().unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("bridge answered {line:?}: {e}"))
    }

    /// Like [`call`](Self::call), failing the test on an error answer.
    fn ok(&mut self, request: Value) -> Value {
        let answer = self.call(request.clone());
        assert_eq!(answer["ok"], true, "{request} -> {answer}");
        answer
    }

    fn step(&mut self, token: Option<&[u8]>) -> Value {
        self.call(json!({"op": "step", "token": token.map(b64)}))
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "{}", json!({"op": "quit"}));
        let _ = self.stdin.flush();
        let _ = self.child.wait();
    }
}

fn b64(data: &[u8]) -> String {
    STANDARD.encode(data)
}

fn unb64(v: &Value) -> Vec<u8> {
    STANDARD
        .decode(v.as_str().expect("a base64 string"))
        .unwrap()
}

fn nonces() -> Nonces {
    Nonces {
        client_challenge: *b"\x11\x22\x33\x44\x55\x66\x77\x88",
        exported_session_key: *b"0123456789abcdef",
    }
}

fn initiator(password: &str, bindings: Option<&[u8]>) -> Initiator {
    let mut i = Initiator::new(Credentials::parse(ACCOUNT, password).unwrap(), "PIPPIN");
    i.target_spn("HTTP/provider.contoso.com");
    if let Some(b) = bindings {
        i.channel_bindings(b);
    }
    i
}

/// The token of an `Authorization` value.
fn token_of(header: &str, scheme: AuthScheme) -> Vec<u8> {
    let (name, token) = header.split_once(' ').unwrap();
    assert_eq!(name, scheme.name());
    STANDARD.decode(token).unwrap()
}

/// Our HTTP exchange against the pyspnego acceptor, as a server would relay
/// it. Returns our session, or the acceptor's error.
fn authenticate_to_pyspnego(
    peer: &mut Peer,
    scheme: AuthScheme,
    password: &str,
    client_bindings: Option<&[u8]>,
    server_bindings: Option<&[u8]>,
) -> Result<(Session, bool), String> {
    let protocol = match scheme {
        AuthScheme::Negotiate => "negotiate",
        AuthScheme::Ntlm => "ntlm",
    };
    peer.ok(json!({"op": "server", "protocol": protocol,
                   "channel_bindings": server_bindings.map(b64)}));
    let mut auth = HttpAuth::new(scheme, initiator(password, client_bindings));
    let first = auth.first_authorization().unwrap();
    let answer = peer.step(Some(&token_of(&first, scheme)));
    assert_eq!(answer["ok"], true, "{answer}");
    assert_eq!(answer["complete"], false);
    let challenge = format!("{} {}", scheme.name(), answer["token"].as_str().unwrap());
    let second = auth
        .challenge_authorization(
            ["Basic realm=\"WSMAN\"", challenge.as_str()],
            &nonces(),
            NOW,
        )
        .unwrap();
    let answer = peer.step(Some(&token_of(&second, scheme)));
    if let Some(error) = answer["error"].as_str() {
        // What the server would answer: 401 again.
        assert_eq!(
            auth.finish(401, [scheme.name()]).unwrap_err(),
            NtlmError::CredentialsRejected
        );
        return Err(error.to_owned());
    }
    assert_eq!(answer["complete"], true, "{answer}");
    let last = answer["token"]
        .as_str()
        .map(|t| format!("{} {t}", scheme.name()));
    let session = auth.finish(200, last.as_deref()).unwrap();
    Ok((session, auth.server_mic_verified()))
}

/// Sealed messages both ways, several in a row, through every framing.
fn exchange_sealed_messages(peer: &mut Peer, session: &mut Session) {
    for i in 0..4 {
        let msg = format!("<s:Envelope n=\"{i}\">{}</s:Envelope>", "x".repeat(i * 37));
        let msg = msg.as_bytes();

        // Our seal -> pyspnego unwrap (signature || sealed).
        let (sig, sealed) = session.seal(msg);
        let mut wrapped = sig.to_vec();
        wrapped.extend_from_slice(&sealed);
        let answer = peer.ok(json!({"op": "unwrap", "data": b64(&wrapped)}));
        assert_eq!(unb64(&answer["data"]), msg);

        // pyspnego wrap -> our unseal.
        let answer = peer.ok(json!({"op": "wrap", "data": b64(msg)}));
        let data = unb64(&answer["data"]);
        assert_eq!(session.unseal(&data[16..], &data[..16]).unwrap(), msg);

        // WinRM: ours -> pyspnego's unwrap_winrm, after taking our body apart
        // as pywinrm does; and pywinrm's framing.
        let (content_type, body) = winrm::encrypt(session, msg);
        let answer = peer.ok(json!({"op": "winrm_decrypt", "content_type": content_type,
                                    "body": b64(&body)}));
        assert_eq!(unb64(&answer["data"]), msg);
        let answer = peer.ok(json!({"op": "winrm_encrypt", "data": b64(msg)}));
        let content_type = answer["content_type"].as_str().unwrap();
        assert_eq!(content_type, winrm::CONTENT_TYPE);
        let body = unb64(&answer["body"]);
        assert_eq!(winrm::decrypt(session, content_type, &body).unwrap(), msg);

        // wrap_winrm/unwrap_winrm directly.
        let answer = peer.ok(json!({"op": "wrap_winrm", "data": b64(msg)}));
        assert_eq!(answer["padding"], 0);
        let header = unb64(&answer["header"]);
        assert_eq!(header.len(), 16);
        let sealed = unb64(&answer["data"]);
        assert_eq!(session.unseal(&sealed, &header).unwrap(), msg);
        let (sig, sealed) = session.seal(msg);
        let answer = peer.ok(json!({"op": "unwrap_winrm", "header": b64(&sig),
                                    "data": b64(&sealed)}));
        assert_eq!(unb64(&answer["data"]), msg);

        // Signatures without sealing.
        let signature = session.sign(msg);
        peer.ok(json!({"op": "verify", "data": b64(msg), "signature": b64(&signature)}));
        let answer = peer.ok(json!({"op": "sign", "data": b64(msg)}));
        session.verify(msg, &unb64(&answer["signature"])).unwrap();
    }
}

#[test]
fn negotiate_handshake_and_messages_with_pyspnego_acceptor() {
    let Some(mut peer) = Peer::start("negotiate_handshake_and_messages_with_pyspnego_acceptor")
    else {
        return;
    };
    let (mut session, mic_verified) =
        authenticate_to_pyspnego(&mut peer, AuthScheme::Negotiate, PASSWORD, None, None).unwrap();
    assert!(mic_verified, "pyspnego sends a mechListMIC");
    let info = peer.ok(json!({"op": "info"}));
    assert_eq!(info["complete"], true);
    assert_eq!(info["negotiated_protocol"], "ntlm");
    let key = peer.ok(json!({"op": "session_key"}));
    assert_eq!(unb64(&key["session_key"]), nonces().exported_session_key);
    exchange_sealed_messages(&mut peer, &mut session);
}

#[test]
fn raw_ntlm_handshake_and_messages_with_pyspnego_acceptor() {
    let Some(mut peer) = Peer::start("raw_ntlm_handshake_and_messages_with_pyspnego_acceptor")
    else {
        return;
    };
    let (mut session, mic_verified) =
        authenticate_to_pyspnego(&mut peer, AuthScheme::Ntlm, PASSWORD, None, None).unwrap();
    assert!(!mic_verified);
    assert_eq!(
        session.outgoing_sequence(),
        0,
        "no mechListMIC with raw NTLM"
    );
    exchange_sealed_messages(&mut peer, &mut session);
}

#[test]
fn wrong_password_is_refused_by_pyspnego() {
    let Some(mut peer) = Peer::start("wrong_password_is_refused_by_pyspnego") else {
        return;
    };
    for scheme in [AuthScheme::Negotiate, AuthScheme::Ntlm] {
        let error = authenticate_to_pyspnego(&mut peer, scheme, "not-the-password", None, None)
            .map(|_| ())
            .unwrap_err();
        assert!(error.contains("Invalid NTLM response"), "{error}");
    }
}

#[test]
fn channel_bindings_with_pyspnego_acceptor() {
    let Some(mut peer) = Peer::start("channel_bindings_with_pyspnego_acceptor") else {
        return;
    };
    let binding = Some(CERT_HASH_BINDING);
    let (mut session, _) =
        authenticate_to_pyspnego(&mut peer, AuthScheme::Negotiate, PASSWORD, binding, binding)
            .unwrap();
    exchange_sealed_messages(&mut peer, &mut session);
    let other: &[u8] = b"tls-server-end-point:another certificate's hash.....";
    let error = authenticate_to_pyspnego(
        &mut peer,
        AuthScheme::Negotiate,
        PASSWORD,
        Some(other),
        binding,
    )
    .map(|_| ())
    .unwrap_err();
    assert!(error.contains("bindings"), "{error}");
}

#[test]
fn tampered_signatures_are_rejected_both_ways() {
    let Some(mut peer) = Peer::start("tampered_signatures_are_rejected_both_ways") else {
        return;
    };
    let (mut session, _) =
        authenticate_to_pyspnego(&mut peer, AuthScheme::Negotiate, PASSWORD, None, None).unwrap();
    let (mut sig, sealed) = session.seal(b"<s:Envelope/>");
    sig[5] ^= 0x40;
    let answer = peer.call(json!({"op": "unwrap_winrm", "header": b64(&sig),
                                  "data": b64(&sealed)}));
    assert_eq!(answer["error_type"], "BadMICError", "{answer}");

    let answer = peer.ok(json!({"op": "wrap_winrm", "data": b64(b"<answer/>")}));
    let mut header = unb64(&answer["header"]);
    header[12] ^= 1; // the sequence number
    assert_eq!(
        session.unseal(&unb64(&answer["data"]), &header),
        Err(NtlmError::BadSignature("message signature"))
    );
}

/// pyspnego as the client, our [`Acceptor`] as the server.
fn pyspnego_client_against_our_acceptor(peer: &mut Peer, protocol: &str) {
    peer.ok(
        json!({"op": "client", "protocol": protocol, "username": ACCOUNT,
                   "password": PASSWORD, "hostname": "provider.contoso.com",
                   "service": "http", "channel_bindings": b64(CERT_HASH_BINDING)}),
    );
    let mut acceptor = Acceptor::new("PROVIDER", "CONTOSO");
    acceptor.channel_bindings(CERT_HASH_BINDING);
    let credentials = Credentials::parse(ACCOUNT, PASSWORD).unwrap();
    let negotiate_spnego = protocol == "negotiate";

    let first = unb64(&peer.ok(json!({"op": "step", "token": null}))["token"]);
    let (negotiate, mech_types) = if negotiate_spnego {
        let NegotiationToken::Init(init) = NegotiationToken::decode(&first).unwrap() else {
            panic!("pyspnego's first token is not a NegTokenInit");
        };
        assert_eq!(init.mech_types, vec![Oid::ntlmssp()]);
        (init.mech_token.unwrap(), init.mech_types)
    } else {
        (first, Vec::new())
    };
    let n = NegotiateMessage::decode(&negotiate).unwrap();
    assert!(
        n.flags
            .contains(sccm_wmi::ntlm::NegotiateFlags::EXTENDED_SESSIONSECURITY)
    );

    let challenge = acceptor
        .challenge(&negotiate, *b"\x01\x23\x45\x67\x89\xab\xcd\xef", NOW)
        .unwrap();
    let to_client = if negotiate_spnego {
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
    let answer = peer.ok(json!({"op": "step", "token": b64(&to_client)}));
    let second = unb64(&answer["token"]);
    let (authenticate, mic) = if negotiate_spnego {
        let resp = NegTokenResp::decode(&second).unwrap();
        (resp.response_token.unwrap(), resp.mech_list_mic)
    } else {
        (second, None)
    };
    let a = AuthenticateMessage::decode(&authenticate).unwrap();
    assert_eq!(
        (a.domain.as_str(), a.user.as_str()),
        ("CONTOSO", "svc_bridge")
    );
    assert!(a.mic.is_some());
    let v2 = NtlmV2Response::decode(&a.nt_response).unwrap();
    assert_eq!(v2.timestamp, NOW, "pyspnego uses the server's time");
    let mut session = acceptor.accept(&authenticate, &credentials).unwrap();

    if negotiate_spnego {
        let mech_types = spnego::mech_type_list(&mech_types);
        session
            .verify_mech_list(&mech_types, &mic.expect("pyspnego sends a mechListMIC"))
            .unwrap();
        let done = NegTokenResp {
            neg_state: Some(NegState::AcceptCompleted),
            supported_mech: None,
            response_token: None,
            mech_list_mic: Some(session.sign_mech_list(&mech_types).to_vec()),
        };
        let answer = peer.ok(json!({"op": "step", "token": b64(&done.encode())}));
        assert!(answer["token"].is_null());
    }
    assert_eq!(peer.ok(json!({"op": "info"}))["complete"], true);
    exchange_sealed_messages(peer, &mut session);
}

#[test]
fn pyspnego_initiator_against_our_acceptor() {
    let Some(mut peer) = Peer::start("pyspnego_initiator_against_our_acceptor") else {
        return;
    };
    pyspnego_client_against_our_acceptor(&mut peer, "ntlm");
    pyspnego_client_against_our_acceptor(&mut peer, "negotiate");
}

/// Messages pyspnego produced (see `fixtures/ntlm/README.md`), read without
/// Python.
#[test]
fn pyspnego_fixtures_decode() {
    let challenge = include_bytes!("fixtures/ntlm/pyspnego-challenge.bin");
    let c = ChallengeMessage::decode(challenge).unwrap();
    assert_eq!(c.target_name, "PEER");
    let info = c.target_info.clone().unwrap();
    assert!(info.timestamp().is_some());
    assert_eq!(c.encode().unwrap(), challenge);

    let negotiate = include_bytes!("fixtures/ntlm/pyspnego-negotiate.bin");
    let n = NegotiateMessage::decode(negotiate).unwrap();
    assert!(n.flags.contains(sccm_wmi::ntlm::NegotiateFlags::KEY_EXCH));

    let authenticate = include_bytes!("fixtures/ntlm/pyspnego-authenticate.bin");
    let a = AuthenticateMessage::decode(authenticate).unwrap();
    assert_eq!(
        (a.domain.as_str(), a.user.as_str()),
        ("CONTOSO", "svc_bridge")
    );
    assert!(a.mic.is_some());
    let v2 = NtlmV2Response::decode(&a.nt_response).unwrap();
    assert_eq!(v2.timestamp, info.timestamp().unwrap());
    assert_eq!(v2.av_pairs.target_name(), Some("http/provider.contoso.com"));
    // pyspnego lays the payload out in another order; the fields survive.
    assert_eq!(
        AuthenticateMessage::decode(&a.encode().unwrap()).unwrap(),
        a
    );

    let resp = include_bytes!("fixtures/ntlm/pyspnego-negtokenresp-challenge.bin");
    assert_eq!(spnego::challenge_from(resp).unwrap(), challenge);
    let init = include_bytes!("fixtures/ntlm/pyspnego-negtokeninit.bin");
    let NegotiationToken::Init(init) = NegotiationToken::decode(init).unwrap() else {
        panic!("not a NegTokenInit");
    };
    assert_eq!(init.mech_token.as_deref(), Some(&negotiate[..]));

    let second = include_bytes!("fixtures/ntlm/pyspnego-negtokenresp-authenticate.bin");
    let second = NegTokenResp::decode(second).unwrap();
    assert_eq!(second.response_token.as_deref(), Some(&authenticate[..]));
    assert_eq!(second.mech_list_mic.map(|m| m.len()), Some(16));
    let last = include_bytes!("fixtures/ntlm/pyspnego-negtokenresp-final.bin");
    let last = NegTokenResp::decode(last).unwrap();
    assert_eq!(last.neg_state, Some(NegState::AcceptCompleted));
    assert_eq!(last.response_token, None);
    assert_eq!(last.mech_list_mic.map(|m| m.len()), Some(16));
}
