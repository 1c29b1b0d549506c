//! PKCS #12 push certificates made by independent implementations —
//! `openssl pkcs12 -export` (modern and legacy algorithms) and Python
//! `cryptography` — read by [`PushCertificate::from_pkcs12`].

use std::path::Path;

use apns::pkcs12::{Limits, Pkcs12};
use apns::{Error, PrivateKeyDer, PushCertificate};
use pippin_ber::Reader;
use test_support::{apns_test_pki, python_ok, require_peer, require_python, run, tempdir};

const UUID: &str = "0f6b7c9e-3c1a-4d5e-8f00-1a2b3c4d5e6f";

fn topic() -> String {
    format!("com.apple.mgmt.External.{UUID}")
}

fn have_openssl(test: &str) -> bool {
    require_peer(test, &["openssl", "version"])
}

fn path(dir: &Path, name: &str) -> String {
    dir.join(name).to_string_lossy().into_owned()
}

/// The test PKI: the push certificate (`push.pem`, `push.key`, RSA) and a
/// CA certificate (`ca.pem`) to ride along as chain.
fn pki() -> tempfile::TempDir {
    let dir = tempdir();
    apns_test_pki(dir.path(), UUID);
    dir
}

/// `openssl pkcs12 -export` of the push certificate and key (plus the CA
/// certificate) with `password` and `extra` arguments; the password goes
/// through a file so that any bytes pass unchanged.
fn export(dir: &Path, password: &str, extra: &[&str]) -> Vec<u8> {
    let pass_file = path(dir, "pass.txt");
    std::fs::write(&pass_file, password).unwrap();
    let out = path(dir, "out.p12");
    let pass_arg = if password.is_empty() {
        "pass:".to_owned()
    } else {
        format!("file:{pass_file}")
    };
    let mut cmd = vec![
        "openssl".to_owned(),
        "pkcs12".to_owned(),
        "-export".to_owned(),
        "-in".to_owned(),
        path(dir, "push.pem"),
        "-inkey".to_owned(),
        path(dir, "push.key"),
        "-certfile".to_owned(),
        path(dir, "ca.pem"),
        "-passout".to_owned(),
        pass_arg,
        "-out".to_owned(),
        out.clone(),
    ];
    cmd.extend(extra.iter().map(|s| (*s).to_owned()));
    let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
    let result = run(&args, b"");
    assert!(
        result.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&result.stderr)
    );
    std::fs::read(out).unwrap()
}

/// What the PEM files hold: the certificate's DER and the key.
fn expected(dir: &Path) -> (Vec<u8>, rsa::PrivateKey) {
    let cert = std::fs::read_to_string(dir.join("push.pem")).unwrap();
    let key = std::fs::read_to_string(dir.join("push.key")).unwrap();
    let pem = PushCertificate::from_pem(&cert, &key).unwrap();
    (pem.chain_der()[0].clone(), rsa_key(pem.private_key_der()))
}

fn rsa_key(der: &PrivateKeyDer) -> rsa::PrivateKey {
    use rsa::pkcs8::DecodePrivateKey;
    match der {
        PrivateKeyDer::Pkcs8(der) => rsa::PrivateKey::from_pkcs8_der(der).unwrap(),
        other => panic!("expected PKCS #8, got {other:?}"),
    }
}

/// Loads `p12` and checks it is the test push certificate with its key and
/// the CA certificate as chain.
fn check(dir: &Path, p12: &[u8], password: &str, label: &str) -> PushCertificate {
    let push = PushCertificate::from_pkcs12(p12, password)
        .unwrap_or_else(|e| panic!("{label}: {e} ({e:?})"));
    let (cert, key) = expected(dir);
    assert_eq!(push.topic(), topic(), "{label}");
    assert_eq!(push.chain_der().len(), 2, "{label}");
    assert_eq!(push.chain_der()[0], cert, "{label}");
    let loaded = rsa_key(push.private_key_der());
    {
        use rsa::traits::PublicKeyParts;
        assert_eq!(loaded.n(), key.n(), "{label}");
        assert_eq!(loaded.e(), key.e(), "{label}");
    }
    assert_eq!(loaded, key, "{label}");
    push
}

/// The algorithms in a file, as `openssl pkcs12 -info` names them: a check
/// that each case really exercises what it says.
fn openssl_info(dir: &Path, p12: &[u8], password: &str) -> String {
    let file = path(dir, "info.p12");
    std::fs::write(&file, p12).unwrap();
    let pass_file = path(dir, "info-pass.txt");
    std::fs::write(&pass_file, password).unwrap();
    let pass_arg = if password.is_empty() {
        "pass:".to_owned()
    } else {
        format!("file:{pass_file}")
    };
    let out = run(
        &[
            "openssl", "pkcs12", "-info", "-noout", "-legacy", "-in", &file, "-passin", &pass_arg,
        ],
        b"",
    );
    assert!(
        out.status.success(),
        "openssl pkcs12 -info: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout)
}

#[test]
fn reads_openssl_exports() {
    if !have_openssl("reads_openssl_exports") {
        return;
    }
    let dir = pki();
    let d = dir.path();
    let pw = "correct horse";
    // (label, extra arguments, what `openssl pkcs12 -info` must mention)
    let cases: &[(&str, &[&str], &[&str])] = &[
        (
            "default: PBES2 AES-256-CBC, PBKDF2 HMAC-SHA-256, MAC SHA-256",
            &[],
            &["AES-256-CBC", "hmacWithSHA256", "MAC: sha256"],
        ),
        (
            "-legacy: RC2-40 certificates, 3DES key, MAC SHA-1",
            &["-legacy"],
            &[
                "pbeWithSHA1And40BitRC2-CBC",
                "pbeWithSHA1And3-KeyTripleDES-CBC",
                "MAC: sha1",
            ],
        ),
        (
            "AES-128-CBC",
            &["-certpbe", "AES-128-CBC", "-keypbe", "AES-128-CBC"],
            &["AES-128-CBC"],
        ),
        (
            "AES-192-CBC, MAC SHA-384",
            &[
                "-certpbe",
                "AES-192-CBC",
                "-keypbe",
                "AES-192-CBC",
                "-macalg",
                "sha384",
            ],
            &["AES-192-CBC", "MAC: sha384"],
        ),
        (
            "PBES2 DES-EDE3-CBC",
            &["-certpbe", "DES-EDE3-CBC", "-keypbe", "DES-EDE3-CBC"],
            &["DES-EDE3-CBC"],
        ),
        (
            "PBE-SHA1-3DES, MAC SHA-1",
            &[
                "-certpbe",
                "PBE-SHA1-3DES",
                "-keypbe",
                "PBE-SHA1-3DES",
                "-macalg",
                "sha1",
            ],
            &["pbeWithSHA1And3-KeyTripleDES-CBC", "MAC: sha1"],
        ),
        (
            "PBE-SHA1-2DES",
            &[
                "-legacy",
                "-certpbe",
                "PBE-SHA1-2DES",
                "-keypbe",
                "PBE-SHA1-2DES",
            ],
            &["pbeWithSHA1And2-KeyTripleDES-CBC"],
        ),
        (
            "PBE-SHA1-RC2-128",
            &[
                "-legacy",
                "-certpbe",
                "PBE-SHA1-RC2-128",
                "-keypbe",
                "PBE-SHA1-RC2-128",
            ],
            &["pbeWithSHA1And128BitRC2-CBC"],
        ),
        ("MAC SHA-512", &["-macalg", "sha512"], &["MAC: sha512"]),
        (
            "MAC SHA-224, more iterations",
            &["-macalg", "sha224", "-iter", "10000", "-maciter"],
            &["MAC: sha224"],
        ),
    ];
    for (label, extra, mentions) in cases {
        let p12 = export(d, pw, extra);
        let info = openssl_info(d, &p12, pw);
        for m in *mentions {
            assert!(
                info.contains(m),
                "{label}: openssl -info lacks {m}:\n{info}"
            );
        }
        check(d, &p12, pw, label);
        // The wrong password is reported as such.
        match PushCertificate::from_pkcs12(&p12, "wrong horse") {
            Err(Error::Pkcs12WrongPassword) => {}
            other => panic!("{label}: wrong password gave {other:?}"),
        }
    }
}

#[test]
fn passwords_empty_and_non_ascii() {
    if !have_openssl("passwords_empty_and_non_ascii") {
        return;
    }
    let dir = pki();
    let d = dir.path();
    for extra in [&[][..], &["-legacy"][..]] {
        let p12 = export(d, "", extra);
        check(d, &p12, "", &format!("empty password {extra:?}"));
        assert!(matches!(
            PushCertificate::from_pkcs12(&p12, "x"),
            Err(Error::Pkcs12WrongPassword)
        ));
        // Without a MAC, the empty password is still found.
        let mut nomac = extra.to_vec();
        nomac.push("-nomac");
        let p12 = export(d, "", &nomac);
        check(d, &p12, "", &format!("empty password, no MAC {extra:?}"));
    }
    let pw = "Pässwörd-日本-\u{1F511}";
    for extra in [&[][..], &["-legacy"][..]] {
        let p12 = export(d, pw, extra);
        check(d, &p12, pw, &format!("non-ASCII password {extra:?}"));
        assert!(matches!(
            PushCertificate::from_pkcs12(&p12, "Passwort"),
            Err(Error::Pkcs12WrongPassword)
        ));
    }
}

#[test]
fn files_without_mac_or_encryption() {
    if !have_openssl("files_without_mac_or_encryption") {
        return;
    }
    let dir = pki();
    let d = dir.path();
    let pw = "secret";
    for (label, extra) in [
        ("no MAC", &["-nomac"][..]),
        ("no MAC, legacy", &["-nomac", "-legacy"][..]),
        (
            "no MAC, no encryption (keyBag, plain data)",
            &["-nomac", "-certpbe", "NONE", "-keypbe", "NONE"][..],
        ),
        (
            "MAC, no encryption",
            &["-certpbe", "NONE", "-keypbe", "NONE"][..],
        ),
    ] {
        let p12 = export(d, pw, extra);
        check(d, &p12, pw, label);
    }
    // Without a MAC a wrong password shows when decryption fails.
    for extra in [&["-nomac"][..], &["-nomac", "-legacy"][..]] {
        let p12 = export(d, pw, extra);
        for wrong in ["wrong", "", "secret2", "Secret"] {
            match PushCertificate::from_pkcs12(&p12, wrong) {
                Err(Error::Pkcs12WrongPassword) => {}
                other => panic!("{extra:?}/{wrong}: {other:?}"),
            }
        }
    }
}

#[test]
fn friendly_names_and_missing_parts() {
    if !have_openssl("friendly_names_and_missing_parts") {
        return;
    }
    let dir = pki();
    let d = dir.path();
    let name = format!("Apple Push Services: {}", topic());
    let p12 = export(d, "pw", &["-name", &name]);
    let push = check(d, &p12, "pw", "with -name");
    assert_eq!(push.friendly_name(), Some(name.as_str()));
    let contents = Pkcs12::decode(&p12, "pw").unwrap();
    assert_eq!(contents.keys().len(), 1);
    assert_eq!(contents.certificates().len(), 2);
    assert_eq!(contents.keys()[0].friendly_name(), Some(name.as_str()));
    let key_id = contents.keys()[0]
        .local_key_id()
        .expect("openssl sets localKeyID");
    assert_eq!(contents.certificates()[0].local_key_id(), Some(key_id));
    assert_eq!(contents.certificates()[1].local_key_id(), None);
    assert!(!format!("{:?}", contents.keys()[0]).contains("pkcs8: ["));

    // Certificates only.
    let p12 = export(d, "pw", &["-nokeys"]);
    assert!(matches!(
        PushCertificate::from_pkcs12(&p12, "pw"),
        Err(Error::Pkcs12NoPrivateKey)
    ));
    // A key with only someone else's certificate.
    let only_ca = path(d, "only-ca.p12");
    let other_key = path(d, "other.key");
    test_support::openssl(&["genpkey", "-algorithm", "RSA", "-out", &other_key]);
    test_support::openssl(&[
        "pkcs12",
        "-export",
        "-nocerts",
        "-inkey",
        &other_key,
        "-certfile",
        &path(d, "push.pem"),
        "-passout",
        "pass:pw",
        "-out",
        &only_ca,
    ]);
    let p12 = std::fs::read(&only_ca).unwrap();
    assert!(matches!(
        PushCertificate::from_pkcs12(&p12, "pw"),
        Err(Error::Pkcs12NoMatchingCertificate)
    ));
    // A P-256 key (the test CA's): not an RSA push certificate.
    let ca_p12 = path(d, "ca.p12");
    test_support::openssl(&[
        "pkcs12",
        "-export",
        "-in",
        &path(d, "ca.pem"),
        "-inkey",
        &path(d, "ca.key"),
        "-passout",
        "pass:pw",
        "-out",
        &ca_p12,
    ]);
    let p12 = std::fs::read(&ca_p12).unwrap();
    assert!(matches!(
        PushCertificate::from_pkcs12(&p12, "pw"),
        Err(Error::PrivateKey(_))
    ));
}

#[test]
fn rejects_certificates_that_are_not_for_mdm() {
    if !have_openssl("rejects_certificates_that_are_not_for_mdm (p12)") {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    test_support::openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        &format!("/UID=com.example.app.{UUID}/CN=APSP:{UUID}"),
        "-keyout",
        &path(d, "wrong.key"),
        "-out",
        &path(d, "wrong.pem"),
    ]);
    let out = path(d, "wrong.p12");
    test_support::openssl(&[
        "pkcs12",
        "-export",
        "-in",
        &path(d, "wrong.pem"),
        "-inkey",
        &path(d, "wrong.key"),
        "-passout",
        "pass:pw",
        "-out",
        &out,
    ]);
    match PushCertificate::from_pkcs12(&std::fs::read(out).unwrap(), "pw") {
        Err(Error::WrongTopic { found }) => assert_eq!(found, format!("com.example.app.{UUID}")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn damaged_files_are_errors_not_panics() {
    if !have_openssl("damaged_files_are_errors_not_panics") {
        return;
    }
    let dir = pki();
    let d = dir.path();
    for extra in [&[][..], &["-legacy"][..], &["-nomac"][..]] {
        let p12 = export(d, "pw", extra);
        // Every truncation, in steps.
        for len in (0..p12.len()).step_by(37) {
            assert!(
                PushCertificate::from_pkcs12(&p12[..len], "pw").is_err(),
                "{extra:?} truncated to {len}"
            );
        }
        // Bit flips across the file: an error (or, where a flip lands in
        // something unchecked, such as an unused attribute, success) but
        // never a panic.
        for pos in (0..p12.len()).step_by(23) {
            let mut bad = p12.clone();
            bad[pos] ^= 1 << (pos % 8);
            let _ = PushCertificate::from_pkcs12(&bad, "pw");
        }
        // A flip inside the MAC'd contents is caught by the MAC.
        if extra.is_empty() {
            let mut bad = p12.clone();
            let mid = p12.len() / 2;
            bad[mid] ^= 0x40;
            assert!(PushCertificate::from_pkcs12(&bad, "pw").is_err());
        }
    }
}

#[test]
fn bounds() {
    if !have_openssl("bounds (p12)") {
        return;
    }
    let dir = pki();
    let d = dir.path();
    let p12 = export(d, "pw", &["-iter", "5000", "-maciter"]);
    let mut limits = Limits::default();
    limits.max_iterations(4096);
    match Pkcs12::decode_with(&p12, "pw", &limits) {
        Err(e @ Error::Pkcs12Limit { .. }) => {
            assert!(e.to_string().contains("5000"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    let mut limits = Limits::default();
    limits.max_bags(2);
    assert!(matches!(
        Pkcs12::decode_with(&p12, "pw", &limits),
        Err(Error::Pkcs12Limit { .. })
    ));
    let mut limits = Limits::default();
    limits.max_len(p12.len() - 1);
    assert!(matches!(
        Pkcs12::decode_with(&p12, "pw", &limits),
        Err(Error::Pkcs12Limit { .. })
    ));
    assert!(Pkcs12::decode_with(&p12, "pw", &Limits::default()).is_ok());
}

/// Rewrites DER as BER the way Java and Windows write it: indefinite
/// lengths for constructed elements, OCTET STRINGs cut into constructed
/// segments of `chunk` bytes. With `deep`, the PKCS #12 structures inside
/// OCTET STRINGs (AuthenticatedSafe, SafeContents) are rewritten too, and
/// `encryptedContent` becomes constructed — only valid where no MAC covers
/// them. Certificates and keys stay DER inside.
fn berify(der: &[u8], chunk: usize, deep: bool) -> Vec<u8> {
    berify_at(der, chunk, deep, 0)
}

/// `nesting`: how many OCTET STRINGs deep `der` is (0 for the file).
fn berify_at(der: &[u8], chunk: usize, deep: bool, nesting: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut r = Reader::new(der);
    while !r.is_empty() {
        let t = r.read().unwrap();
        if t.tag & 0x20 != 0 {
            out.extend_from_slice(&[t.tag, 0x80]);
            out.extend(berify_at(t.value, chunk, deep, nesting));
            out.extend_from_slice(&[0, 0]);
        } else if t.tag == 0x04 {
            let nested = deep
                && nesting < 2
                && t.value.first() == Some(&0x30)
                && Reader::new(t.value)
                    .read()
                    .is_ok_and(|x| x.raw.len() == t.value.len());
            let value = if nested {
                berify_at(t.value, chunk, deep, nesting + 1)
            } else {
                t.value.to_vec()
            };
            out.extend_from_slice(&[0x24, 0x80]);
            for c in value.chunks(chunk) {
                pippin_ber::push_tlv(&mut out, 0x04, c);
            }
            out.extend_from_slice(&[0, 0]);
        } else if t.tag == 0x80 && deep && nesting == 1 {
            // [0] IMPLICIT OCTET STRING (encryptedContent), constructed.
            out.extend_from_slice(&[0xA0, 0x80]);
            for c in t.value.chunks(chunk) {
                pippin_ber::push_tlv(&mut out, 0x04, c);
            }
            out.extend_from_slice(&[0, 0]);
        } else {
            out.extend_from_slice(t.raw);
        }
    }
    out
}

#[test]
fn reads_ber_encodings() {
    if !have_openssl("reads_ber_encodings") {
        return;
    }
    let dir = pki();
    let d = dir.path();
    // With a MAC: only the outside of the MAC'd bytes can change.
    for extra in [&[][..], &["-legacy"][..]] {
        let p12 = export(d, "pw", extra);
        let ber = berify(&p12, 100, false);
        assert_ne!(ber, p12);
        assert!(ber.starts_with(&[0x30, 0x80]));
        check(d, &ber, "pw", &format!("BER outside {extra:?}"));
    }
    // Without a MAC: BER all the way down, including the encryptedContent.
    for extra in [
        &["-nomac"][..],
        &["-nomac", "-legacy"][..],
        &["-nomac", "-certpbe", "NONE", "-keypbe", "NONE"][..],
    ] {
        let p12 = export(d, "pw", extra);
        let ber = berify(&p12, 50, true);
        check(d, &ber, "pw", &format!("BER throughout {extra:?}"));
    }
}

/// Python `cryptography` (an independent writer: its PKCS #12 code is
/// OpenSSL's today, with its own choices of algorithms and iteration
/// counts).
const PY_EXPORT: &str = r#"
import json, sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12, PrivateFormat

a = json.load(sys.stdin)
key = serialization.load_pem_private_key(open(a["key"], "rb").read(), None)
cert = x509.load_pem_x509_certificate(open(a["cert"], "rb").read())
ca = x509.load_pem_x509_certificate(open(a["ca"], "rb").read())
pw = a["password"].encode()
mode = a["mode"]
if mode == "best":
    enc = serialization.BestAvailableEncryption(pw)
elif mode == "legacy":
    enc = (PrivateFormat.PKCS12.encryption_builder().kdf_rounds(50000)
           .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
           .hmac_hash(hashes.SHA1()).build(pw))
elif mode == "modern":
    enc = (PrivateFormat.PKCS12.encryption_builder().kdf_rounds(20000)
           .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
           .hmac_hash(hashes.SHA256()).build(pw))
elif mode == "none":
    enc = serialization.NoEncryption()
if a.get("unpaired"):
    # No localKeyId: the leaf is found by its key, after the CA.
    out = pkcs12.serialize_key_and_certificates(None, key, None, [ca, cert], enc)
else:
    out = pkcs12.serialize_key_and_certificates(b"push", key, cert, [ca], enc)
sys.stdout.buffer.write(out)
"#;

#[test]
fn reads_python_cryptography_exports() {
    if !require_python("reads_python_cryptography_exports", &["cryptography"]) {
        return;
    }
    if !have_openssl("reads_python_cryptography_exports") {
        return;
    }
    let dir = pki();
    let d = dir.path();
    for (mode, unpaired, pw) in [
        ("best", false, "py-secret"),
        ("legacy", false, "py-secret"),
        ("modern", false, "py-secret"),
        ("modern", true, "py-secret"),
        ("none", false, ""),
        ("best", false, "ünïcode"),
    ] {
        let args = serde_json::json!({
            "key": path(d, "push.key"),
            "cert": path(d, "push.pem"),
            "ca": path(d, "ca.pem"),
            "password": pw,
            "mode": mode,
            "unpaired": unpaired,
        });
        let p12 = python_ok(PY_EXPORT, args.to_string().as_bytes());
        let label = format!("cryptography {mode} unpaired={unpaired} password={pw:?}");
        let push = check(d, &p12, pw, &label);
        if !unpaired {
            assert_eq!(push.friendly_name(), Some("push"), "{label}");
        }
        if !pw.is_empty() {
            assert!(
                matches!(
                    PushCertificate::from_pkcs12(&p12, "nope"),
                    Err(Error::Pkcs12WrongPassword)
                ),
                "{label}"
            );
        }
    }
}

/// PBMAC1 (RFC 9579): OpenSSL 3.0 cannot write it, so the MAC of an
/// OpenSSL export is replaced by one computed with Python's `hashlib` and
/// `hmac` (PBKDF2-HMAC-SHA-256, HMAC-SHA-256 / -SHA-512).
const PY_PBMAC1: &str = r#"
import hashlib, hmac, sys

def tlv(tag, body):
    n = len(body)
    if n < 0x80:
        head = bytes([n])
    else:
        b = n.to_bytes((n.bit_length() + 7) // 8, "big")
        head = bytes([0x80 | len(b)]) + b
    return bytes([tag]) + head + body

def read(buf, pos):
    tag = buf[pos]; n = buf[pos + 1]; pos += 2
    if n & 0x80:
        k = n & 0x7f
        n = int.from_bytes(buf[pos:pos + k], "big"); pos += k
    return tag, buf[pos:pos + n], pos + n

def oid(dotted):
    parts = [int(x) for x in dotted.split(".")]
    body = bytes([parts[0] * 40 + parts[1]])
    for p in parts[2:]:
        enc = [p & 0x7f]
        p >>= 7
        while p:
            enc.append(0x80 | (p & 0x7f)); p >>= 7
        body += bytes(reversed(enc))
    return tlv(0x06, body)

def integer(v):
    return tlv(0x02, v.to_bytes((v.bit_length() + 8) // 8, "big"))

pw, mac_hash = sys.argv[1].encode(), sys.argv[2]
pfx = sys.stdin.buffer.read()
_, body, _ = read(pfx, 0)
_, version, p = read(body, 0)
version_tlv = body[:p]
t, ci, p2 = read(body, p)
auth_safe_tlv = body[p:p2]
# ContentInfo { OID data, [0] { OCTET STRING } }
_, _, q = read(ci, 0)
_, explicit, _ = read(ci, q)
_, data, _ = read(explicit, 0)

salt, iters, key_len = b"0123456789abcdef", 2048, 32
key = hashlib.pbkdf2_hmac("sha256", pw, salt, iters, key_len)
mac_oid = {"sha256": "1.2.840.113549.2.9", "sha512": "1.2.840.113549.2.11"}[mac_hash]
tag = hmac.new(key, data, mac_hash).digest()
kdf = tlv(0x30, oid("1.2.840.113549.1.5.12") + tlv(0x30,
    tlv(0x04, salt) + integer(iters) + integer(key_len)
    + tlv(0x30, oid("1.2.840.113549.2.9") + tlv(0x05, b""))))
params = tlv(0x30, kdf + tlv(0x30, oid(mac_oid) + tlv(0x05, b"")))
alg = tlv(0x30, oid("1.2.840.113549.1.5.14") + params)
mac_data = tlv(0x30, tlv(0x30, alg + tlv(0x04, tag)) + tlv(0x04, b"NOT USED") + integer(1))
sys.stdout.buffer.write(tlv(0x30, version_tlv + auth_safe_tlv + mac_data))
"#;

#[test]
fn reads_pbmac1() {
    if !require_python("reads_pbmac1", &["hashlib", "hmac"]) || !have_openssl("reads_pbmac1") {
        return;
    }
    let dir = pki();
    let d = dir.path();
    let p12 = export(d, "pbmac-pw", &[]);
    for mac in ["sha256", "sha512"] {
        let py = test_support::python();
        let out = run(&[py.as_str(), "-c", PY_PBMAC1, "pbmac-pw", mac], &p12);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        check(d, &out.stdout, "pbmac-pw", &format!("PBMAC1 HMAC-{mac}"));
        assert!(matches!(
            PushCertificate::from_pkcs12(&out.stdout, "pbmac-pX"),
            Err(Error::Pkcs12WrongPassword)
        ));
    }
}

fn oid(dotted: &str) -> Vec<u8> {
    let oid = const_oid::ObjectIdentifier::new(dotted).unwrap();
    let mut out = Vec::new();
    pippin_ber::push_tlv(&mut out, 0x06, oid.as_bytes());
    out
}

fn tlv(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    pippin_ber::push_tlv(&mut out, tag, &parts.concat());
    out
}

/// A PFX without MAC whose key is an `EncryptedPrivateKeyInfo` that
/// `openssl pkcs8 -topk8` made, nested one level in a safeContentsBag.
fn pfx_around(epki: &[u8], certs: &[Vec<u8>]) -> Vec<u8> {
    let data = oid("1.2.840.113549.1.7.1");
    let mut bags = vec![tlv(
        0x30,
        &[&oid("1.2.840.113549.1.12.10.1.2"), &tlv(0xA0, &[epki])],
    )];
    for cert in certs {
        let cert_bag = tlv(
            0x30,
            &[
                &oid("1.2.840.113549.1.9.22.1"),
                &tlv(0xA0, &[&tlv(0x04, &[cert])]),
            ],
        );
        bags.push(tlv(
            0x30,
            &[&oid("1.2.840.113549.1.12.10.1.3"), &tlv(0xA0, &[&cert_bag])],
        ));
    }
    let bag_refs: Vec<&[u8]> = bags.iter().map(Vec::as_slice).collect();
    let inner = tlv(0x30, &bag_refs);
    let nested = tlv(
        0x30,
        &[&oid("1.2.840.113549.1.12.10.1.6"), &tlv(0xA0, &[&inner])],
    );
    let safe_contents = tlv(0x30, &[&nested]);
    let ci = tlv(0x30, &[&data, &tlv(0xA0, &[&tlv(0x04, &[&safe_contents])])]);
    let auth_safe = tlv(0x30, &[&ci]);
    tlv(
        0x30,
        &[
            &[0x02, 0x01, 0x03],
            &tlv(0x30, &[&data, &tlv(0xA0, &[&tlv(0x04, &[&auth_safe])])]),
        ],
    )
}

#[test]
fn reads_keys_that_openssl_pkcs8_encrypted() {
    if !have_openssl("reads_keys_that_openssl_pkcs8_encrypted") {
        return;
    }
    let dir = pki();
    let d = dir.path();
    let pem_der = |name: &str| {
        let text = std::fs::read_to_string(d.join(name)).unwrap();
        der::pem::decode_vec(text.as_bytes()).unwrap().1
    };
    let certs = vec![pem_der("ca.pem"), pem_der("push.pem")];
    let pw = "pkcs8-pw";
    let cases: &[&[&str]] = &[
        &["-v2", "aes-128-cbc", "-v2prf", "hmacWithSHA1"],
        &["-v2", "aes-192-cbc", "-v2prf", "hmacWithSHA224"],
        &[
            "-v2",
            "aes-256-cbc",
            "-v2prf",
            "hmacWithSHA384",
            "-iter",
            "3000",
        ],
        &["-v2", "aes-256-cbc", "-v2prf", "hmacWithSHA512"],
        &["-v2", "des3", "-v2prf", "hmacWithSHA256"],
        &["-v1", "PBE-SHA1-3DES"],
        &[
            "-v1",
            "PBE-SHA1-2DES",
            "-provider",
            "legacy",
            "-provider",
            "default",
        ],
        &[
            "-v1",
            "PBE-SHA1-RC2-40",
            "-provider",
            "legacy",
            "-provider",
            "default",
        ],
        &[
            "-v1",
            "PBE-SHA1-RC2-128",
            "-provider",
            "legacy",
            "-provider",
            "default",
        ],
    ];
    for extra in cases {
        let out = path(d, "key.p8");
        let mut args = vec![
            "pkcs8",
            "-topk8",
            "-outform",
            "DER",
            "-passout",
            "pass:pkcs8-pw",
        ];
        args.extend_from_slice(extra);
        let inkey = path(d, "push.key");
        args.extend_from_slice(&["-in", &inkey, "-out", &out]);
        test_support::openssl(&args);
        let p12 = pfx_around(&std::fs::read(&out).unwrap(), &certs);
        // The CA comes first and no localKeyId pairs them: found by key.
        check(d, &p12, pw, &format!("pkcs8 {extra:?}"));
        match PushCertificate::from_pkcs12(&p12, "other") {
            Err(Error::Pkcs12WrongPassword) => {}
            other => panic!("{extra:?}: {other:?}"),
        }
    }
    // Nesting is bounded.
    let mut limits = Limits::default();
    limits.max_depth(0);
    let p12 = pfx_around(&std::fs::read(path(d, "key.p8")).unwrap(), &certs);
    assert!(matches!(
        Pkcs12::decode_with(&p12, pw, &limits),
        Err(Error::Pkcs12Limit { .. })
    ));
}
