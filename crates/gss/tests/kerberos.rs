//! Kerberos and SPNEGO through the system's MIT GSS-API library against a
//! real MIT KDC on a loopback port: our initiator and acceptor with each
//! other, with pyspnego/python-gssapi as the independent peer both ways,
//! WinRM message encryption both ways, and the error paths (no ticket,
//! wrong keytab, unknown service, bad tokens, no library).
//!
//! Each `kdc_*` test starts a KDC and runs its `scenario_*` tests in child
//! processes (see `kdc/mod.rs`); the scenarios are `#[ignore]`d so that a
//! plain `cargo test` runs them only that way.

mod kdc;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use kdc::{Kdc, REALM, USER};
use pippin_gss::{
    Acceptor, Context, Flags, GssError, Initiator, InitiatorOptions, Library, MAX_TOKEN_LEN, Mech,
    major, tls_server_end_point,
};
use serde_json::{Value, json};

const TARGET: &str = "HTTP@localhost";
/// The header of an encrypted aes256-cts-hmac-sha1-96 message without a
/// separate trailer: token header (16), confounder (16), encrypted copy of
/// the token header (16) and checksum (12).
const AES256_WINRM_HEADER_LEN: usize = 60;
/// The SPNEGO OID in an initial context token (RFC 4178 / RFC 2743 3.1).
const SPNEGO_OID_DER: &[u8] = b"\x06\x06\x2b\x06\x01\x05\x05\x02";
/// The Kerberos OID in an initial context token (RFC 1964 / RFC 4121).
const KRB5_OID_DER: &[u8] = b"\x06\x09\x2a\x86\x48\x86\xf7\x12\x01\x02\x02";

/// The inner token of an initial context token, after its
/// `[APPLICATION 0]` tag and DER length.
fn inner(token: &[u8]) -> &[u8] {
    assert_eq!(token[0], 0x60, "not an initial context token: {token:02x?}");
    match token[1] {
        n if n < 0x80 => &token[2..],
        0x81 => &token[3..],
        0x82 => &token[4..],
        0x83 => &token[5..],
        _ => panic!("unexpected length in {token:02x?}"),
    }
}

fn lib() -> Arc<Library> {
    Library::load().expect("loading the GSS-API library")
}

fn ccache(dir: &Path) -> String {
    format!("FILE:{}", dir.join("ccache").display())
}

fn initiator(dir: &Path, mech: Mech, cb: Option<&[u8]>) -> Initiator {
    let mut options = InitiatorOptions::default();
    options.ccache(ccache(dir));
    if let Some(cb) = cb {
        options.channel_bindings(cb.to_vec());
    }
    Initiator::new(&lib(), TARGET, mech, &options).expect("an initiator with the ticket")
}

/// Runs the exchange to completion; returns both contexts and the number
/// of tokens each side sent.
fn establish(mut ini: Initiator, mut acc: Acceptor) -> (Context, Context, usize, usize) {
    let first = ini.step(None).expect("first initiator step");
    assert!(
        !first.complete,
        "mutual authentication needs the acceptor's answer"
    );
    let mut to_acceptor = first.token;
    let (mut sent_i, mut sent_a) = (1, 0);
    for _ in 0..5 {
        if ini.is_complete() && acc.is_complete() {
            break;
        }
        let token = to_acceptor.take().expect("a token for the acceptor");
        let step = acc.step(&token).expect("acceptor step");
        if let Some(reply) = step.token {
            sent_a += 1;
            let step = ini.step(Some(&reply)).expect("initiator step");
            if let Some(t) = step.token {
                sent_i += 1;
                to_acceptor = Some(t);
            }
        }
    }
    assert!(
        ini.is_complete() && acc.is_complete(),
        "exchange did not finish"
    );
    assert_eq!(acc.client_name(), Some(format!("{USER}@{REALM}").as_str()));
    (
        ini.into_context().unwrap(),
        acc.into_context().unwrap(),
        sent_i,
        sent_a,
    )
}

fn assert_routine(e: &GssError, routine: u32) {
    let s = e
        .status()
        .unwrap_or_else(|| panic!("not a library error: {e:?}"));
    assert_eq!(s.routine_error(), routine, "{e}");
    assert!(!s.message.is_empty());
}

// ---------------------------------------------------------------------
// Parent tests: a KDC each, scenarios in child processes.

#[test]
fn kdc_own_initiator_and_acceptor() {
    if !kdc::require_kdc_tools("kdc_own_initiator_and_acceptor") {
        return;
    }
    let kdc = Kdc::start();
    kdc.kinit();
    let before = kdc.klist();
    assert!(
        before.contains(&format!("krbtgt/{REALM}@{REALM}")),
        "{before}"
    );
    assert!(!before.contains("HTTP/localhost"), "{before}");
    kdc.run_scenario("scenario_own_pair_spnego", &[]);
    kdc.run_scenario("scenario_own_pair_kerberos", &[]);
    kdc.run_scenario("scenario_channel_bindings", &[]);
    kdc.run_scenario("scenario_client_keytab", &[]);
    // Our initiator got the service ticket into the cache it was given.
    let after = kdc.klist();
    assert!(
        after.contains(&format!("Default principal: {USER}@{REALM}")),
        "{after}"
    );
    assert!(
        after.contains(&format!("HTTP/localhost@{REALM}")),
        "{after}"
    );
}

#[test]
fn kdc_python_peers() {
    if !kdc::require_kdc_tools("kdc_python_peers")
        || !test_support::require_python("kdc_python_peers", &["gssapi", "krb5", "spnego"])
    {
        return;
    }
    let kdc = Kdc::start();
    kdc.kinit();
    kdc.run_scenario("scenario_python_acceptor", &[]);
    kdc.run_scenario("scenario_python_initiator", &[]);
}

#[test]
fn kdc_credential_and_token_errors() {
    if !kdc::require_kdc_tools("kdc_credential_and_token_errors") {
        return;
    }
    let kdc = Kdc::start();
    kdc.kinit();
    kdc.run_scenario("scenario_credential_errors", &[]);
    kdc.run_scenario("scenario_token_errors", &[]);
}

#[test]
fn library_from_environment_missing_is_unavailable() {
    let dir = test_support::tempdir();
    kdc::run_scenario_in(
        dir.path(),
        "scenario_library_env_missing",
        &[("PIPPIN_GSSAPI_LIBRARY", "/nonexistent/libgssapi_krb5.so.2")],
    );
}

#[test]
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn a_library_without_the_functions_is_unavailable() {
    let e = Library::load_from("libc.so.6").unwrap_err();
    assert!(matches!(e, GssError::Unavailable { .. }), "{e:?}");
    assert!(e.to_string().contains("gss_import_name"), "{e}");
}

#[test]
fn contexts_and_exchanges_are_send() {
    fn send<T: Send>() {}
    send::<Context>();
    send::<Initiator>();
    send::<Acceptor>();
    send::<Arc<Library>>();
}

// ---------------------------------------------------------------------
// Scenarios (child processes).

#[test]
#[ignore = "runs as a child of kdc_own_initiator_and_acceptor"]
fn scenario_own_pair_spnego() {
    let name = "scenario_own_pair_spnego";
    let Some(dir) = kdc::scenario_dir(name) else {
        return;
    };
    let ini = initiator(&dir, Mech::Spnego, None);
    let acc = Acceptor::new(&lib(), Some(&dir.join("http.keytab"))).unwrap();
    let mut ini_for_token = initiator(&dir, Mech::Spnego, None);
    let token = ini_for_token.step(None).unwrap().token.unwrap();
    // An initial context token: [APPLICATION 0] with the SPNEGO OID.
    assert!(inner(&token).starts_with(SPNEGO_OID_DER), "{token:02x?}");
    let (mut c, mut s, sent_i, sent_a) = establish(ini, acc);
    assert_eq!((sent_i, sent_a), (1, 1), "one round trip");
    exercise(&mut c, &mut s);
    kdc::scenario_done(&dir, name);
}

#[test]
#[ignore = "runs as a child of kdc_own_initiator_and_acceptor"]
fn scenario_own_pair_kerberos() {
    let name = "scenario_own_pair_kerberos";
    let Some(dir) = kdc::scenario_dir(name) else {
        return;
    };
    let mut ini = initiator(&dir, Mech::Kerberos, None);
    let mut acc = Acceptor::new(&lib(), Some(&dir.join("http.keytab"))).unwrap();
    let first = ini.step(None).unwrap();
    let token = first.token.unwrap();
    // [APPLICATION 0], the Kerberos OID, then TOK_ID 01 00 (KRB_AP_REQ).
    let krb = inner(&token);
    assert!(krb.starts_with(KRB5_OID_DER), "{token:02x?}");
    assert_eq!(&krb[KRB5_OID_DER.len()..][..2], b"\x01\x00");
    let reply = acc.step(&token).unwrap();
    assert!(reply.complete);
    let reply = reply.token.expect("an AP-REP for mutual authentication");
    let krb = inner(&reply);
    assert!(krb.starts_with(KRB5_OID_DER));
    assert_eq!(&krb[KRB5_OID_DER.len()..][..2], b"\x02\x00", "KRB_AP_REP");
    let last = ini.step(Some(&reply)).unwrap();
    assert_eq!(
        last,
        pippin_gss::Step {
            token: None,
            complete: true
        }
    );
    // No further steps on either side.
    assert!(matches!(ini.step(Some(&reply)), Err(GssError::State(_))));
    assert!(matches!(acc.step(&token), Err(GssError::State(_))));
    assert_eq!(acc.client_name(), Some("svc_bridge@PIPPIN.TEST"));
    let mut c = ini.into_context().unwrap();
    let mut s = acc.into_context().unwrap();
    assert_eq!(s.client_name(), Some("svc_bridge@PIPPIN.TEST"));
    assert_eq!(c.client_name(), None);
    exercise(&mut c, &mut s);
    // A context moves to another thread and keeps working there.
    let wrapped = std::thread::spawn(move || c.wrap(b"from a thread", true).unwrap())
        .join()
        .unwrap();
    assert_eq!(s.unwrap(&wrapped).unwrap().data, b"from a thread");
    kdc::scenario_done(&dir, name);
}

/// Everything an established pair can do, both ways, and its failures.
fn exercise(c: &mut Context, s: &mut Context) {
    for ctx in [&*c, &*s] {
        let f = ctx.flags();
        assert!(
            f.contains(Flags::MUTUAL | Flags::CONF | Flags::INTEG | Flags::SEQUENCE),
            "{f:?}"
        );
        assert!(!f.contains(Flags::DELEGATE), "{f:?}");
    }
    // gss_wrap, encrypted, client to server.
    let msg = b"<s:Envelope>Get-CMDevice</s:Envelope>";
    let token = c.wrap(msg, true).unwrap();
    assert!(
        !token.windows(msg.len()).any(|w| w == msg),
        "plaintext in token"
    );
    let got = s.unwrap(&token).unwrap();
    assert_eq!(got.data, msg);
    assert!(got.encrypted);
    // The same token again is a replay; without GSS_C_REPLAY_FLAG (not
    // in the WinRM flags) MIT reports it as out of sequence.
    let e = s.unwrap(&token).unwrap_err();
    let status = e.status().expect("a library status");
    assert_eq!(status.supplementary(), major::UNSEQ_TOKEN, "{e}");
    assert_eq!(status.routine_error(), 0);
    // Integrity only, server to client: the message stays readable.
    let reply = b"integrity-only reply";
    let token = s.wrap(reply, false).unwrap();
    assert!(token.windows(reply.len()).any(|w| w == reply));
    let got = c.unwrap(&token).unwrap();
    assert_eq!((got.data.as_slice(), got.encrypted), (&reply[..], false));
    // A flipped bit is caught.
    let mut token = c.wrap(b"tamper with me", true).unwrap();
    let last = token.len() - 1;
    token[last] ^= 1;
    assert_routine(&s.unwrap(&token).unwrap_err(), major::BAD_MIC);
    // The rejected message leaves a gap in the sequence; the next token
    // is still accepted. An older one is not.
    let early = c.wrap(b"sent first", true).unwrap();
    let late = c.wrap(b"sent second", true).unwrap();
    assert_eq!(s.unwrap(&late).unwrap().data, b"sent second");
    let e = s.unwrap(&early).unwrap_err();
    assert_eq!(
        e.status().unwrap().supplementary(),
        major::UNSEQ_TOKEN,
        "{e}"
    );
    // MICs both ways, and a MIC over other data.
    let mic = c.get_mic(b"signed by the client").unwrap();
    s.verify_mic(b"signed by the client", &mic).unwrap();
    let mic = s.get_mic(b"signed by the server").unwrap();
    assert_routine(
        &c.verify_mic(b"signed by someone else", &mic).unwrap_err(),
        major::BAD_MIC,
    );
    // WinRM message encryption both ways.
    let body = br#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"/>"#;
    let (header, sealed) = c.wrap_winrm(body).unwrap();
    assert_eq!(header.len(), AES256_WINRM_HEADER_LEN);
    assert_eq!(sealed.len(), body.len(), "no padding with AES");
    assert_ne!(&sealed[..], &body[..]);
    assert_eq!(s.unwrap_winrm(&header, &sealed).unwrap(), body);
    let (header, sealed) = s.wrap_winrm(b"server body").unwrap();
    assert_eq!(c.unwrap_winrm(&header, &sealed).unwrap(), b"server body");
    // An empty body, and one of 1 MiB.
    let (header, sealed) = c.wrap_winrm(b"").unwrap();
    assert!(sealed.is_empty());
    assert_eq!(s.unwrap_winrm(&header, &sealed).unwrap(), b"");
    let big: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
    let (header, sealed) = c.wrap_winrm(&big).unwrap();
    assert_eq!(s.unwrap_winrm(&header, &sealed).unwrap(), big);
    // Tampered sealed data and a truncated header are errors.
    let (header, mut sealed) = c.wrap_winrm(b"tamper").unwrap();
    sealed[0] ^= 0x80;
    assert!(
        s.unwrap_winrm(&header, &sealed)
            .unwrap_err()
            .status()
            .is_some()
    );
    let (header, sealed) = c.wrap_winrm(b"short header").unwrap();
    assert!(s.unwrap_winrm(&header[..20], &sealed).is_err());
    assert!(s.unwrap_winrm(&[], &sealed).is_err());
    // Oversized input is refused before the library sees it.
    let huge = vec![0u8; MAX_TOKEN_LEN + 1];
    assert!(matches!(
        s.unwrap_winrm(&huge, b"x"),
        Err(GssError::TooLarge {
            what: "WinRM header",
            ..
        })
    ));
    assert!(matches!(
        s.verify_mic(b"x", &huge),
        Err(GssError::TooLarge { what: "MIC", .. })
    ));
}

#[test]
#[ignore = "runs as a child of kdc_own_initiator_and_acceptor"]
fn scenario_channel_bindings() {
    let name = "scenario_channel_bindings";
    let Some(dir) = kdc::scenario_dir(name) else {
        return;
    };
    let keytab = dir.join("http.keytab");
    let cb = tls_server_end_point(&[0x5a; 32]);
    for mech in [Mech::Spnego, Mech::Kerberos] {
        // Matching bindings on both sides.
        let acc = Acceptor::new(&lib(), Some(&keytab))
            .unwrap()
            .with_channel_bindings(cb.clone());
        let (mut c, mut s, _, _) = establish(initiator(&dir, mech, Some(&cb)), acc);
        let (h, d) = c.wrap_winrm(b"bound").unwrap();
        assert_eq!(s.unwrap_winrm(&h, &d).unwrap(), b"bound");
        // Bindings for another certificate are refused by the acceptor.
        let other = tls_server_end_point(&[0xa5; 32]);
        let mut ini = initiator(&dir, mech, Some(&other));
        let mut acc = Acceptor::new(&lib(), Some(&keytab))
            .unwrap()
            .with_channel_bindings(cb.clone());
        let token = ini.step(None).unwrap().token.unwrap();
        let e = acc.step(&token).unwrap_err();
        assert_routine(&e, major::BAD_BINDINGS);
        assert!(!e.is_fallback());
        // After a failure the exchange is over.
        assert!(matches!(acc.step(&token), Err(GssError::State(_))));
        assert!(matches!(acc.into_context(), Err(GssError::State(_))));
    }
    kdc::scenario_done(&dir, name);
}

#[test]
#[ignore = "runs as a child of kdc_own_initiator_and_acceptor"]
fn scenario_client_keytab() {
    let name = "scenario_client_keytab";
    let Some(dir) = kdc::scenario_dir(name) else {
        return;
    };
    // No ticket yet: the library gets one itself with the client keytab
    // and keeps it in the cache named.
    let cache = dir.join("keytab-ccache");
    assert!(!cache.exists());
    let mut options = InitiatorOptions::default();
    options
        .ccache(format!("FILE:{}", cache.display()))
        .client_keytab(dir.join("client.keytab"));
    let ini = Initiator::new(&lib(), TARGET, Mech::Spnego, &options).unwrap();
    let acc = Acceptor::new(&lib(), Some(&dir.join("http.keytab"))).unwrap();
    let (mut c, mut s, _, _) = establish(ini, acc);
    let (h, d) = s.wrap_winrm(b"via the client keytab").unwrap();
    assert_eq!(c.unwrap_winrm(&h, &d).unwrap(), b"via the client keytab");
    assert!(cache.exists(), "the ticket was not cached");
    // The acceptor's default keytab (KRB5_KTNAME, pointing at nothing
    // here) gives no credentials.
    let e = Acceptor::new(&lib(), None).unwrap_err();
    assert!(matches!(e, GssError::NoCredentials(_)), "{e:?}");
    kdc::scenario_done(&dir, name);
}

/// pyspnego (over python-gssapi) as the other side, on pipes.
struct PyPeer {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
}

const PEER_TIMEOUT: Duration = Duration::from_secs(30);

impl PyPeer {
    fn start(dir: &Path, role: &str, protocol: &str, cb: Option<&[u8]>) -> Self {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/pyspnego_peer.py");
        let mut cmd = Command::new(test_support::python());
        cmd.arg(script).args([role, protocol]);
        if let Some(cb) = cb {
            cmd.arg(cb.iter().map(|b| format!("{b:02x}")).collect::<String>());
        }
        let mut child = cmd
            .env(
                "KRB5_KTNAME",
                format!("FILE:{}", dir.join("http.keytab").display()),
            )
            .env("KRB5CCNAME", ccache(dir))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting the pyspnego peer");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            stdin,
            lines,
        }
    }

    fn call(&mut self, request: Value) -> Value {
        writeln!(self.stdin, "{request}").expect("writing to the peer");
        self.stdin.flush().unwrap();
        let line = self
            .lines
            .recv_timeout(PEER_TIMEOUT)
            .unwrap_or_else(|e| panic!("no answer from the peer to {request}: {e}"));
        let answer: Value = serde_json::from_str(&line).expect("the peer answers JSON");
        answer
    }

    fn ok(&mut self, request: Value) -> Value {
        let answer = self.call(request.clone());
        assert!(answer.get("error").is_none(), "{request} -> {answer}");
        answer
    }
}

impl Drop for PyPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn b64(data: &[u8]) -> String {
    B64.encode(data)
}

fn unb64(v: &Value) -> Vec<u8> {
    B64.decode(v.as_str().expect("a base64 string")).unwrap()
}

#[test]
#[ignore = "runs as a child of kdc_python_peers"]
fn scenario_python_acceptor() {
    let name = "scenario_python_acceptor";
    let Some(dir) = kdc::scenario_dir(name) else {
        return;
    };
    let cb = tls_server_end_point(&[0x11; 32]);
    for (mech, protocol) in [(Mech::Spnego, "negotiate"), (Mech::Kerberos, "kerberos")] {
        let mut peer = PyPeer::start(&dir, "accept", protocol, Some(&cb));
        let mut ini = initiator(&dir, mech, Some(&cb));
        let mut token = ini.step(None).unwrap().token;
        for _ in 0..5 {
            let Some(t) = token.take() else { break };
            let answer = peer.ok(json!({"op": "step", "token": b64(&t)}));
            if answer["complete"] == json!(true) {
                assert_eq!(answer["client"], json!("svc_bridge@PIPPIN.TEST"));
            }
            if let Some(reply) = answer["token"].as_str() {
                token = ini.step(Some(&B64.decode(reply).unwrap())).unwrap().token;
            }
        }
        assert!(ini.is_complete(), "{protocol}");
        let mut c = ini.into_context().unwrap();
        // Ours sealed, theirs opened; theirs sealed, ours opened.
        let body = format!("<s:Envelope>{protocol} from pippin</s:Envelope>");
        let (header, sealed) = c.wrap_winrm(body.as_bytes()).unwrap();
        let answer =
            peer.ok(json!({"op": "unwrap_winrm", "header": b64(&header), "data": b64(&sealed)}));
        assert_eq!(unb64(&answer["data"]), body.as_bytes());
        let answer = peer.ok(json!({"op": "wrap_winrm", "data": b64(b"<reply from python/>")}));
        assert_eq!(answer["padding"], json!(0));
        let header = unb64(&answer["header"]);
        assert_eq!(header.len(), AES256_WINRM_HEADER_LEN);
        assert_eq!(
            c.unwrap_winrm(&header, &unb64(&answer["data"])).unwrap(),
            b"<reply from python/>"
        );
        // gss_wrap and MICs with the independent peer.
        let token = c.wrap(b"wrapped by pippin", true).unwrap();
        let answer = peer.ok(json!({"op": "unwrap", "data": b64(&token)}));
        assert_eq!(unb64(&answer["data"]), b"wrapped by pippin");
        assert_eq!(answer["encrypted"], json!(true));
        let answer = peer.ok(json!({"op": "wrap", "data": b64(b"wrapped by python")}));
        let got = c.unwrap(&unb64(&answer["data"])).unwrap();
        assert_eq!(
            (got.data.as_slice(), got.encrypted),
            (&b"wrapped by python"[..], true)
        );
        let mic = c.get_mic(b"signed by pippin").unwrap();
        peer.ok(json!({"op": "verify", "data": b64(b"signed by pippin"), "mic": b64(&mic)}));
        let answer = peer.call(json!({"op": "verify", "data": b64(b"forged"), "mic": b64(&mic)}));
        assert!(answer.get("error").is_some(), "{answer}");
    }
    // Bindings that differ from the acceptor's are refused by pyspnego.
    let mut peer = PyPeer::start(&dir, "accept", "kerberos", Some(&cb));
    let mut ini = initiator(
        &dir,
        Mech::Kerberos,
        Some(&tls_server_end_point(&[0x22; 32])),
    );
    let token = ini.step(None).unwrap().token.unwrap();
    let answer = peer.call(json!({"op": "step", "token": b64(&token)}));
    assert!(answer["error"].as_str().is_some(), "{answer}");
    kdc::scenario_done(&dir, name);
}

#[test]
#[ignore = "runs as a child of kdc_python_peers"]
fn scenario_python_initiator() {
    let name = "scenario_python_initiator";
    let Some(dir) = kdc::scenario_dir(name) else {
        return;
    };
    let cb = tls_server_end_point(&[0x33; 32]);
    for protocol in ["negotiate", "kerberos"] {
        let mut peer = PyPeer::start(&dir, "initiate", protocol, Some(&cb));
        let mut acc = Acceptor::new(&lib(), Some(&dir.join("http.keytab")))
            .unwrap()
            .with_channel_bindings(cb.clone());
        let mut answer = peer.ok(json!({"op": "step", "token": null}));
        for _ in 0..5 {
            let Some(t) = answer["token"].as_str() else {
                break;
            };
            let step = acc.step(&B64.decode(t).unwrap()).unwrap();
            match step.token {
                Some(reply) => answer = peer.ok(json!({"op": "step", "token": b64(&reply)})),
                None => break,
            }
        }
        assert_eq!(answer["complete"], json!(true), "{protocol}: {answer}");
        assert!(acc.is_complete());
        assert_eq!(acc.client_name(), Some("svc_bridge@PIPPIN.TEST"));
        let mut s = acc.into_context().unwrap();
        let answer = peer.ok(json!({"op": "wrap_winrm", "data": b64(b"<request from python/>")}));
        assert_eq!(
            s.unwrap_winrm(&unb64(&answer["header"]), &unb64(&answer["data"]))
                .unwrap(),
            b"<request from python/>"
        );
        let (header, sealed) = s.wrap_winrm(b"<response from pippin/>").unwrap();
        let answer =
            peer.ok(json!({"op": "unwrap_winrm", "header": b64(&header), "data": b64(&sealed)}));
        assert_eq!(unb64(&answer["data"]), b"<response from pippin/>");
        let answer = peer.ok(json!({"op": "sign", "data": b64(b"signed by python")}));
        s.verify_mic(b"signed by python", &unb64(&answer["mic"]))
            .unwrap();
    }
    kdc::scenario_done(&dir, name);
}

#[test]
#[ignore = "runs as a child of kdc_credential_and_token_errors"]
fn scenario_credential_errors() {
    let name = "scenario_credential_errors";
    let Some(dir) = kdc::scenario_dir(name) else {
        return;
    };
    let lib = lib();
    // No ticket cache at all: NoCredentials, for both mechanisms.
    for mech in [Mech::Spnego, Mech::Kerberos] {
        let mut options = InitiatorOptions::default();
        options.ccache(format!("FILE:{}", dir.join("absent-ccache").display()));
        let e = Initiator::new(&lib, TARGET, mech, &options).unwrap_err();
        assert!(matches!(e, GssError::NoCredentials(_)), "{mech:?}: {e:?}");
        assert!(e.is_fallback());
    }
    // The default cache (KRB5CCNAME points at nothing) is no better.
    let e = Initiator::new(&lib, TARGET, Mech::Spnego, &InitiatorOptions::default()).unwrap_err();
    assert!(matches!(e, GssError::NoCredentials(_)), "{e:?}");
    // An acceptor without a keytab.
    let e = Acceptor::new(&lib, Some(&dir.join("absent.keytab"))).unwrap_err();
    assert!(matches!(e, GssError::NoCredentials(_)), "{e:?}");
    // A stale keytab (the key has been changed since): the acceptor's
    // step fails with the library's explanation.
    let mut ini = initiator(&dir, Mech::Kerberos, None);
    let token = ini.step(None).unwrap().token.unwrap();
    let mut acc = Acceptor::new(&lib, Some(&dir.join("stale.keytab"))).unwrap();
    let e = acc.step(&token).unwrap_err();
    let status = e.status().expect("a library error");
    assert!(
        status.message.to_lowercase().contains("key"),
        "{e}: no word about the key"
    );
    // A keytab for another service.
    let mut acc = Acceptor::new(&lib, Some(&dir.join("elsewhere.keytab"))).unwrap();
    let e = acc.step(&token).unwrap_err();
    assert!(e.status().is_some(), "{e:?}");
    // A service the KDC does not know: a plain failure, not a fallback.
    let mut options = InitiatorOptions::default();
    options.ccache(ccache(&dir));
    let mut ini =
        Initiator::new(&lib, "HTTP@unknown.pippin.test", Mech::Kerberos, &options).unwrap();
    let e = ini.step(None).unwrap_err();
    assert!(matches!(e, GssError::Gss(_)), "{e:?}");
    assert!(e.to_string().contains("not found"), "{e}");
    assert!(matches!(ini.step(None), Err(GssError::State(_))));
    // Bad target names.
    for bad in ["", "HTTP@host\0evil"] {
        let e = Initiator::new(&lib, bad, Mech::Kerberos, &options).unwrap_err();
        assert!(matches!(e, GssError::InvalidInput { .. }), "{e:?}");
    }
    kdc::scenario_done(&dir, name);
}

#[test]
#[ignore = "runs as a child of kdc_credential_and_token_errors"]
fn scenario_token_errors() {
    let name = "scenario_token_errors";
    let Some(dir) = kdc::scenario_dir(name) else {
        return;
    };
    let lib = lib();
    let keytab = dir.join("http.keytab");
    // Garbage and truncated tokens are errors from the library, never a
    // crash.
    let mut ini = initiator(&dir, Mech::Spnego, None);
    let good = ini.step(None).unwrap().token.unwrap();
    let mut acc = Acceptor::new(&lib, Some(&keytab)).unwrap();
    assert!(matches!(
        acc.step(b""),
        Err(GssError::InvalidInput { what: "token", .. })
    ));
    let bad_tokens: Vec<Vec<u8>> = vec![
        b"\x60\x03\x06\x01\x00".to_vec(),
        b"not a token at all".to_vec(),
        good[..good.len() / 2].to_vec(),
        vec![0xff; 4096],
    ];
    for token in &bad_tokens {
        let mut acc = Acceptor::new(&lib, Some(&keytab)).unwrap();
        let e = acc.step(token).unwrap_err();
        assert!(e.status().is_some(), "{token:02x?}: {e:?}");
        assert!(!acc.is_complete());
    }
    // Oversized tokens are refused before the library sees them.
    let mut acc = Acceptor::new(&lib, Some(&keytab)).unwrap();
    let e = acc.step(&vec![0x60; MAX_TOKEN_LEN + 1]).unwrap_err();
    assert!(
        matches!(e, GssError::TooLarge { what: "token", len, max } if len == MAX_TOKEN_LEN + 1 && max == MAX_TOKEN_LEN),
        "{e:?}"
    );
    let e = ini.step(Some(&vec![0xa1; MAX_TOKEN_LEN + 1])).unwrap_err();
    assert!(matches!(e, GssError::TooLarge { .. }), "{e:?}");
    // A garbage reply to the initiator.
    let e = ini.step(Some(b"\xa1\x03\x30\x01\x00")).unwrap_err();
    assert!(e.status().is_some(), "{e:?}");
    // An unfinished exchange has no context; a continuation needs input.
    let mut ini = initiator(&dir, Mech::Kerberos, None);
    ini.step(None).unwrap();
    assert!(matches!(ini.step(None), Err(GssError::State(_))));
    assert!(matches!(ini.into_context(), Err(GssError::State(_))));
    kdc::scenario_done(&dir, name);
}

#[test]
#[ignore = "runs as a child of library_from_environment_missing_is_unavailable"]
fn scenario_library_env_missing() {
    let name = "scenario_library_env_missing";
    let Some(dir) = kdc::scenario_dir(name) else {
        return;
    };
    assert_eq!(
        std::env::var("PIPPIN_GSSAPI_LIBRARY").as_deref(),
        Ok("/nonexistent/libgssapi_krb5.so.2")
    );
    let e = Library::load().unwrap_err();
    assert!(matches!(e, GssError::Unavailable { .. }), "{e:?}");
    assert!(e.is_fallback());
    assert!(
        e.to_string().contains("/nonexistent/libgssapi_krb5.so.2"),
        "{e}"
    );
    kdc::scenario_done(&dir, name);
}
