//! Server-token decryption against token files made at test time by
//! `openssl smime -encrypt` and `openssl cms -encrypt`: every content
//! cipher, both RSA paddings, S/MIME, PEM, DER and BER (streamed)
//! encodings, and the failures (wrong key, wrong certificate, damaged and
//! truncated files, expired tokens).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use dep_client::{
    ContentEncryption, Error, GeneratedKeyPair, ServerToken, TokenFile, TokenKey,
    generate_key_pair, parse_timestamp,
};
use test_support::{openssl, require_peer, tempdir};

const EXPIRY: &str = "2031-05-06T07:08:09Z";

fn token_json() -> String {
    format!(
        r#"{{"consumer_key":"CK_3f9a1c0d5e7b2a4f6c8e0d1b3a5c7e9f1b3d5f7a9c1e3b5d7f9a1c3e5b7d9f1a3c5e7b9d1f3a5c7e","consumer_secret":"CS_0a1b2c3d4e5f60718293a4b5c6d7e8f901a2b3c4","access_token":"AT_O1234567890Oabcdef0123456789abcdef01234567890abcdefO1767000000000","access_secret":"AS_f0e1d2c3b4a5968778695a4b3c2d1e0f9a8b7c6d","access_token_expiry":"{EXPIRY}"}}"#
    )
}

/// The decrypted part as Apple writes it.
fn apple_message() -> String {
    format!(
        "Content-Type: text/plain;charset=UTF-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n\
         -----BEGIN MESSAGE-----\r\n{}\r\n-----END MESSAGE-----\r\n",
        token_json()
    )
}

fn before_expiry() -> SystemTime {
    parse_timestamp(EXPIRY).unwrap() - Duration::from_secs(86_400)
}

struct Setup {
    dir: tempfile::TempDir,
    pair: GeneratedKeyPair,
    key: TokenKey,
}

impl Setup {
    fn new() -> Self {
        let dir = tempdir();
        let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
        let pair = generate_key_pair("Pippin DEP test", SystemTime::now(), &mut rng).unwrap();
        std::fs::write(dir.path().join("cert.pem"), &pair.cert_pem).unwrap();
        std::fs::write(dir.path().join("key.pem"), &pair.key_pem).unwrap();
        std::fs::write(dir.path().join("message.txt"), apple_message()).unwrap();
        let key = TokenKey::from_pem(&pair.key_pem, Some(&pair.cert_pem)).unwrap();
        Self { dir, pair, key }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_string_lossy().into_owned()
    }

    /// Runs `openssl <args...> -in message.txt -out NAME` and reads NAME.
    fn encrypt(&self, name: &str, args: &[&str]) -> Vec<u8> {
        self.encrypt_file("message.txt", name, args)
    }

    fn encrypt_file(&self, input: &str, name: &str, args: &[&str]) -> Vec<u8> {
        let (input, out) = (self.path(input), self.path(name));
        // Options before the positional certificate of `openssl smime`.
        let mut all: Vec<&str> = vec![args[0], "-in", &input, "-out", &out];
        all.extend_from_slice(&args[1..]);
        openssl(&all);
        std::fs::read(&out).unwrap()
    }

    fn rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
        rand_core::UnwrapErr(getrandom::SysRng)
    }

    fn decrypt(&self, file: &[u8]) -> dep_client::Result<ServerToken> {
        self.key.decrypt(file, before_expiry(), &mut Self::rng())
    }
}

fn ready(test: &str) -> bool {
    require_peer(test, &["openssl", "version"])
}

fn check(token: &ServerToken) {
    let expected = ServerToken::from_json(&token_json()).unwrap();
    assert_eq!(token, &expected);
    assert_eq!(token.access_token_expiry.as_deref(), Some(EXPIRY));
}

#[test]
fn smime_and_cms_with_every_cipher() {
    if !ready("smime_and_cms_with_every_cipher") {
        return;
    }
    let s = Setup::new();
    let cert = s.path("cert.pem");
    let cases: Vec<(&str, Vec<&str>, ContentEncryption)> = vec![
        (
            "smime-aes256.p7m",
            vec!["smime", "-encrypt", "-aes256", &cert],
            ContentEncryption::Aes256Cbc,
        ),
        (
            "smime-aes192.p7m",
            vec!["smime", "-encrypt", "-aes192", &cert],
            ContentEncryption::Aes192Cbc,
        ),
        (
            "smime-aes128.p7m",
            vec!["smime", "-encrypt", "-aes128", &cert],
            ContentEncryption::Aes128Cbc,
        ),
        (
            "smime-des3.p7m",
            vec!["smime", "-encrypt", "-des3", &cert],
            ContentEncryption::DesEde3Cbc,
        ),
        (
            "cms-aes128.p7m",
            vec!["cms", "-encrypt", "-aes128", "-recip", &cert],
            ContentEncryption::Aes128Cbc,
        ),
        (
            "cms-aes192.pem",
            vec![
                "cms", "-encrypt", "-aes192", "-outform", "PEM", "-recip", &cert,
            ],
            ContentEncryption::Aes192Cbc,
        ),
        (
            "cms-des3.der",
            vec![
                "cms", "-encrypt", "-des3", "-outform", "DER", "-recip", &cert,
            ],
            ContentEncryption::DesEde3Cbc,
        ),
        (
            "cms-aes256-stream.pem",
            vec![
                "cms", "-encrypt", "-aes256", "-stream", "-outform", "PEM", "-recip", &cert,
            ],
            ContentEncryption::Aes256Cbc,
        ),
        (
            "cms-aes128-stream.der",
            vec![
                "cms", "-encrypt", "-aes128", "-stream", "-binary", "-outform", "DER", "-recip",
                &cert,
            ],
            ContentEncryption::Aes128Cbc,
        ),
        (
            "cms-aes256-stream.p7m",
            vec!["cms", "-encrypt", "-aes256", "-stream", "-recip", &cert],
            ContentEncryption::Aes256Cbc,
        ),
        (
            "cms-keyid.p7m",
            vec!["cms", "-encrypt", "-aes128", "-keyid", "-recip", &cert],
            ContentEncryption::Aes128Cbc,
        ),
    ];
    let mut streamed = 0;
    for (name, args, alg) in cases {
        let file = s.encrypt(name, &args);
        let der = outer_encoding(&file);
        if name.contains("-stream") {
            // What makes these cases worth having: openssl streamed them as
            // BER with indefinite lengths (0x80), in the outer SEQUENCE
            // and inside.
            assert_eq!(&der[..2], &[0x30, 0x80], "{name}: indefinite-length BER");
            assert!(
                der.windows(2)
                    .filter(|w| w[1] == 0x80 && matches!(w[0], 0x30 | 0x31 | 0xa0 | 0x24))
                    .count()
                    > 2,
                "{name}: nested indefinite lengths"
            );
            streamed += 1;
        } else {
            assert_ne!(der[1], 0x80, "{name}: definite lengths");
        }
        let parsed = TokenFile::parse(&file).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(parsed.content_encryption(), alg, "{name}");
        check(&s.decrypt(&file).unwrap_or_else(|e| panic!("{name}: {e}")));
        // Without the certificate, every RSA recipient is tried.
        let key_only = TokenKey::from_pem(&s.pair.key_pem, None).unwrap();
        check(
            &key_only
                .decrypt(&file, before_expiry(), &mut Setup::rng())
                .unwrap(),
        );
    }
    assert_eq!(streamed, 3, "streamed BER in PEM, DER and S/MIME form");
}

/// The CMS bytes of a token file: base64 under a PEM armour or S/MIME
/// headers, or the file itself (DER/BER).
fn outer_encoding(file: &[u8]) -> Vec<u8> {
    use base64::Engine as _;
    let text = String::from_utf8_lossy(file);
    let body: String = if text.starts_with("-----BEGIN") {
        text.lines().filter(|l| !l.starts_with("-----")).collect()
    } else if let Some((_, body)) = text
        .split_once("\n\n")
        .or_else(|| text.split_once("\r\n\r\n"))
    {
        if !text.starts_with("MIME-Version") {
            return file.to_vec();
        }
        body.lines().map(str::trim).collect()
    } else {
        return file.to_vec();
    };
    base64::engine::general_purpose::STANDARD
        .decode(body.trim())
        .expect("base64 CMS")
}

#[test]
fn rsa_oaep_key_transport() {
    if !ready("rsa_oaep_key_transport") {
        return;
    }
    let s = Setup::new();
    let cert = s.path("cert.pem");
    for (name, extra) in [
        ("oaep-sha1.p7m", vec!["-keyopt", "rsa_padding_mode:oaep"]),
        (
            "oaep-sha256.p7m",
            vec![
                "-keyopt",
                "rsa_padding_mode:oaep",
                "-keyopt",
                "rsa_oaep_md:sha256",
                "-keyopt",
                "rsa_mgf1_md:sha256",
            ],
        ),
    ] {
        let mut args = vec!["cms", "-encrypt", "-aes256", "-recip", &cert];
        args.extend(extra);
        let file = s.encrypt(name, &args);
        check(&s.decrypt(&file).unwrap_or_else(|e| panic!("{name}: {e}")));
    }
}

#[test]
fn message_variants() {
    if !ready("message_variants") {
        return;
    }
    let s = Setup::new();
    let cert = s.path("cert.pem");
    let json = token_json();
    let wrapped: String = json
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join("\r\n");
    let variants = [
        // No markers, no headers: the bare JSON.
        json.clone(),
        // Markers, LF only, no MIME headers.
        format!("-----BEGIN MESSAGE-----\n{json}\n-----END MESSAGE-----\n"),
        // Wrapped lines with CRLF inside the markers.
        format!(
            "Content-Type: text/plain;charset=UTF-8\r\n\r\n-----BEGIN MESSAGE-----\r\n{wrapped}\r\n-----END MESSAGE-----\r\n"
        ),
    ];
    for (i, v) in variants.iter().enumerate() {
        let name = format!("variant-{i}.txt");
        std::fs::write(s.dir.path().join(&name), v).unwrap();
        let file = s.encrypt_file(
            &name,
            &format!("variant-{i}.p7m"),
            &["cms", "-encrypt", "-aes128", "-binary", "-recip", &cert],
        );
        check(
            &s.decrypt(&file)
                .unwrap_or_else(|e| panic!("variant {i}: {e}")),
        );
    }
}

#[test]
fn wrong_key_wrong_certificate_and_damage() {
    if !ready("wrong_key_wrong_certificate_and_damage") {
        return;
    }
    let s = Setup::new();
    let other = Setup::new();
    let file = other.encrypt(
        "for-other.p7m",
        &[
            "cms",
            "-encrypt",
            "-aes256",
            "-recip",
            &other.path("cert.pem"),
        ],
    );
    // Made for another certificate: named as such.
    let e = s.decrypt(&file).unwrap_err();
    assert!(matches!(e, Error::WrongRecipient { .. }), "{e}");
    assert!(e.to_string().contains("Pippin DEP test"), "{e}");
    // Without a certificate to compare, it just does not decrypt.
    let key_only = TokenKey::from_pem(&s.pair.key_pem, None).unwrap();
    let e = key_only
        .decrypt(&file, before_expiry(), &mut Setup::rng())
        .unwrap_err();
    assert!(matches!(e, Error::Decryption), "{e}");
    // A key that does not match the certificate is refused up front.
    assert!(matches!(
        TokenKey::from_pem(&s.pair.key_pem, Some(&other.pair.cert_pem)),
        Err(Error::KeyMismatch)
    ));

    // Truncated: S/MIME text cut in half, DER cut short.
    let smime = s.encrypt(
        "ok.p7m",
        &["smime", "-encrypt", "-aes128", &s.path("cert.pem")],
    );
    let half = &smime[..smime.len() / 2];
    assert!(matches!(s.decrypt(half), Err(Error::MalformedToken { .. })));
    let der = s.encrypt(
        "ok.der",
        &[
            "cms",
            "-encrypt",
            "-aes128",
            "-outform",
            "DER",
            "-recip",
            &s.path("cert.pem"),
        ],
    );
    for cut in [1, 10, 17, der.len() / 2, der.len() - 1] {
        assert!(
            matches!(s.decrypt(&der[..cut]), Err(Error::MalformedToken { .. })),
            "cut at {cut}"
        );
    }
    assert!(matches!(s.decrypt(b""), Err(Error::MalformedToken { .. })));
    assert!(matches!(
        s.decrypt(b"this is not a token"),
        Err(Error::MalformedToken { .. })
    ));

    // Tampered: flipping the top bit of the last byte of the next-to-last
    // ciphertext block breaks the padding of the last one.
    let mut tampered = der.clone();
    let n = tampered.len();
    tampered[n - 17] ^= 0x80;
    assert!(matches!(s.decrypt(&tampered), Err(Error::Decryption)));
    // A damaged key block fails the same way (implicit rejection).
    let mut bad_key = der.clone();
    let block_start = find_rsa_block(&der);
    bad_key[block_start + 100] ^= 0x01;
    assert!(matches!(s.decrypt(&bad_key), Err(Error::Decryption)));
}

/// Where the 256-byte RSA key block starts: after `04 82 01 00`.
fn find_rsa_block(der: &[u8]) -> usize {
    der.windows(4)
        .position(|w| w == [0x04, 0x82, 0x01, 0x00])
        .expect("an RSA-2048 encrypted key")
        + 4
}

#[test]
fn expired_token() {
    if !ready("expired_token") {
        return;
    }
    let s = Setup::new();
    let file = s.encrypt(
        "tok.p7m",
        &["smime", "-encrypt", "-aes256", &s.path("cert.pem")],
    );
    let after = parse_timestamp(EXPIRY).unwrap() + Duration::from_secs(1);
    let e = s.key.decrypt(&file, after, &mut Setup::rng()).unwrap_err();
    assert!(
        matches!(&e, Error::TokenExpired { expiry } if expiry == EXPIRY),
        "{e}"
    );
    assert!(e.to_string().contains("renew"), "{e}");
    check(&s.key.decrypt_unchecked(&file, &mut Setup::rng()).unwrap());
}

#[test]
fn openssl_made_keys_pkcs1_and_pkcs8() {
    if !ready("openssl_made_keys_pkcs1_and_pkcs8") {
        return;
    }
    let s = Setup::new();
    let (key, cert) = (s.path("o.key"), s.path("o.pem"));
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=openssl DEP key",
        "-keyout",
        &key,
        "-out",
        &cert,
    ]);
    let pkcs1 = s.path("o.rsa");
    openssl(&["rsa", "-in", &key, "-traditional", "-out", &pkcs1]);
    let file = s.encrypt("o.p7m", &["smime", "-encrypt", "-aes128", &cert]);
    let cert_pem = std::fs::read_to_string(&cert).unwrap();
    for k in [&key, &pkcs1] {
        let pem = std::fs::read_to_string(k).unwrap();
        let tk = TokenKey::from_pem(&pem, Some(&cert_pem)).unwrap();
        check(
            &tk.decrypt(&file, before_expiry(), &mut Setup::rng())
                .unwrap(),
        );
    }
    // Our generated certificate is one openssl reads, with our key.
    let ours = s.path("cert.pem");
    let text = test_support::run_ok(
        &["openssl", "x509", "-in", &ours, "-noout", "-subject"],
        b"",
    );
    assert!(String::from_utf8_lossy(&text).contains("Pippin DEP test"));
    let check_key = test_support::run_ok(
        &[
            "openssl",
            "rsa",
            "-in",
            &s.path("key.pem"),
            "-check",
            "-noout",
        ],
        b"",
    );
    assert!(String::from_utf8_lossy(&check_key).contains("RSA key ok"));
}

/// The real-format token from `../shared/fixtures`, when that folder is
/// there (CI has it beside the checkout; the project's tests do not need it).
#[test]
fn shared_fixture_token() {
    let dir: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/apple-services/dep/token");
    if !dir.is_dir() {
        eprintln!(
            "\n*** SKIPPED (shared_fixture_token): the shared fixtures are not at {} ***\n",
            dir.display()
        );
        return;
    }
    let read = |n: &str| std::fs::read(dir.join(n)).unwrap();
    let key_pem = String::from_utf8(read("apple-mdm-client-tests-1.pem")).unwrap();
    let cert_pem = String::from_utf8(read("apple-mdm-client-tests-1.crt")).unwrap();
    let key = TokenKey::from_pem(&key_pem, Some(&cert_pem)).unwrap();
    let file = read("apple-mdm-client-tests-1-server-token.p7m");
    let expected: serde_json::Value =
        serde_json::from_slice(&read("expected-oauth-tokens.json")).unwrap();
    let token = key.decrypt_unchecked(&file, &mut Setup::rng()).unwrap();
    assert_eq!(serde_json::to_value(&token).unwrap(), expected);
    let expiry = token.expiry().unwrap();
    assert!(
        key.decrypt(&file, expiry - Duration::from_secs(1), &mut Setup::rng())
            .is_ok()
    );
    assert!(matches!(
        key.decrypt(&file, expiry, &mut Setup::rng()),
        Err(Error::TokenExpired { .. })
    ));
    let mime = read("expected-decrypted-mime.txt");
    assert_eq!(ServerToken::from_message(&mime).unwrap(), token);
}
