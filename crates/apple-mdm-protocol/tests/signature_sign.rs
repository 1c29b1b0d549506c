//! Signing: loading identities in every key format, and `openssl cms -verify`
//! checking what we sign.

use std::borrow::Cow;

use apple_mdm_protocol::signature::{
    SignatureAlgorithm, SignatureError, SigningIdentity, verify_attached, verify_detached,
    verify_mdm_signature,
};

const BODY: &[u8] = include_bytes!("fixtures/sig-body.plist");
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!("fixtures/", $name)).as_slice()
    };
}

fn rsa() -> SigningIdentity {
    SigningIdentity::from_pem(fixture!("sig-rsa-cert.pem"), fixture!("sig-rsa-key.pem")).unwrap()
}

fn p256() -> SigningIdentity {
    SigningIdentity::from_pem(fixture!("sig-p256-cert.pem"), fixture!("sig-p256-key.pem")).unwrap()
}

/// The device identity, with the CA that issued it as its chain.
fn leaf_with_chain() -> SigningIdentity {
    let mut chain = fixture!("sig-leaf-cert.pem").to_vec();
    chain.extend_from_slice(b"\nsome text between blocks is ignored\n");
    chain.extend_from_slice(fixture!("sig-ca-cert.pem"));
    SigningIdentity::from_pem(&chain, fixture!("sig-leaf-key.pem")).unwrap()
}

#[test]
fn every_key_format_loads() {
    let cases: &[(&[u8], &[u8], SignatureAlgorithm)] = &[
        (
            fixture!("sig-rsa-cert.pem"),
            fixture!("sig-rsa-key.pem"),
            SignatureAlgorithm::RsaPkcs1v15,
        ),
        (
            fixture!("sig-rsa-cert.pem"),
            fixture!("sig-rsa-key-pkcs1.pem"),
            SignatureAlgorithm::RsaPkcs1v15,
        ),
        (
            fixture!("sig-p256-cert.pem"),
            fixture!("sig-p256-key.pem"),
            SignatureAlgorithm::EcdsaP256,
        ),
        (
            fixture!("sig-p256-cert.pem"),
            fixture!("sig-p256-key-sec1.pem"),
            SignatureAlgorithm::EcdsaP256,
        ),
    ];
    for (cert, key, alg) in cases {
        let id = SigningIdentity::from_pem(cert, key).unwrap();
        assert_eq!(id.signature_algorithm(), *alg);
        assert!(id.chain().is_empty());
        // The same in DER.
        let (_, cert_der) = der::pem::decode_vec(cert).unwrap();
        let key_block = pem_block(key, "PRIVATE KEY");
        let (_, key_der) = der::pem::decode_vec(key_block).unwrap();
        let from_der = SigningIdentity::from_der(&[cert_der], &key_der).unwrap();
        assert_eq!(from_der.certificate(), id.certificate());
        assert_eq!(
            from_der.sign_detached(BODY).unwrap(),
            id.sign_detached(BODY).unwrap()
        );
    }
    let id = leaf_with_chain();
    assert_eq!(id.chain().len(), 1);
}

/// The first PEM block whose label ends with `suffix`.
fn pem_block<'a>(pem: &'a [u8], suffix: &str) -> &'a [u8] {
    let text = std::str::from_utf8(pem).unwrap();
    let begin = text.find(&format!("{suffix}-----")).unwrap();
    let start = text[..begin].rfind("-----BEGIN").unwrap();
    let end_marker = text[start..].find("-----END").unwrap() + start;
    let end = text[end_marker + 8..].find("-----").unwrap() + end_marker + 8 + 5;
    &pem[start..end]
}

#[test]
fn bad_identities_are_refused() {
    let rsa_cert = fixture!("sig-rsa-cert.pem");
    let p256_cert = fixture!("sig-p256-cert.pem");
    let rsa_key = fixture!("sig-rsa-key.pem");
    let p256_key = fixture!("sig-p256-key.pem");
    let leaf_key = fixture!("sig-leaf-key.pem");

    for (cert, key) in [
        (rsa_cert, p256_key),
        (p256_cert, rsa_key),
        (rsa_cert, leaf_key),
    ] {
        assert!(matches!(
            SigningIdentity::from_pem(cert, key),
            Err(SignatureError::KeyMismatch)
        ));
    }
    assert!(matches!(
        SigningIdentity::from_pem(b"", rsa_key),
        Err(SignatureError::NoCertificate)
    ));
    assert!(matches!(
        SigningIdentity::from_pem(rsa_cert, rsa_cert),
        Err(SignatureError::BadPrivateKey { .. })
    ));
    let encrypted =
        b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nMAA=\n-----END ENCRYPTED PRIVATE KEY-----\n";
    assert!(matches!(
        SigningIdentity::from_pem(rsa_cert, encrypted),
        Err(SignatureError::UnsupportedKey { .. })
    ));
    let garbled = b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
    assert!(matches!(
        SigningIdentity::from_pem(garbled, rsa_key),
        Err(SignatureError::Pem { .. })
    ));
    assert!(matches!(
        SigningIdentity::from_der(&[b"not a certificate"], b"not a key"),
        Err(SignatureError::BadPrivateKey { .. })
    ));
}

#[test]
fn identity_debug_does_not_show_the_key() {
    let text = format!("{:?}", rsa());
    assert!(text.contains("SigningIdentity"));
    assert!(!text.to_lowercase().contains("prime"));
}

#[test]
fn signatures_round_trip_and_are_der() {
    for id in [rsa(), p256(), leaf_with_chain()] {
        for time in [None, Some(1_700_000_000), Some(2_600_000_000)] {
            let (attached, detached) = match time {
                Some(t) => (
                    id.sign_attached_at(BODY, t).unwrap(),
                    id.sign_detached_at(BODY, t).unwrap(),
                ),
                None => (
                    id.sign_attached(BODY).unwrap(),
                    id.sign_detached(BODY).unwrap(),
                ),
            };
            for der in [&attached, &detached] {
                assert!(matches!(pippin_ber::to_der(der), Ok(Cow::Borrowed(_))));
            }
            let (content, signer) = verify_attached(&attached).unwrap();
            assert_eq!(content, BODY);
            assert_eq!(signer.certificate(), id.certificate());
            assert_eq!(signer.signing_time(), time);
            assert_eq!(signer.other_certificates(), id.chain());
            let signer = verify_detached(&detached, BODY).unwrap();
            assert_eq!(signer.signing_time(), time);
            assert_eq!(signer.signature_algorithm(), id.signature_algorithm());
        }
    }
}

#[test]
fn signing_is_deterministic() {
    for id in [rsa(), p256()] {
        assert_eq!(
            id.sign_attached_at(BODY, 1_700_000_000).unwrap(),
            id.sign_attached_at(BODY, 1_700_000_000).unwrap()
        );
        assert_ne!(
            id.sign_attached_at(BODY, 1_700_000_000).unwrap(),
            id.sign_attached_at(BODY, 1_700_000_001).unwrap()
        );
    }
}

#[test]
fn impossible_signing_times_are_errors() {
    assert!(matches!(
        rsa().sign_attached_at(BODY, u64::MAX),
        Err(SignatureError::Encode(_))
    ));
}

#[test]
fn mdm_signature_header_round_trips() {
    let id = leaf_with_chain();
    let header = id.mdm_signature_header(BODY).unwrap();
    let signer = verify_mdm_signature(&header, BODY).unwrap();
    assert_eq!(signer.certificate(), id.certificate());
    assert!(matches!(
        verify_mdm_signature(&header, &BODY[1..]),
        Err(SignatureError::DigestMismatch)
    ));
}

/// Writes `files` into a fresh directory and runs `openssl cms -verify` there.
fn openssl_verify(signed: &[u8], content: Option<&[u8]>, trust: &str, extra: &[&str]) -> Vec<u8> {
    let dir = test_support::tempdir();
    let sig_path = dir.path().join("sig.der");
    std::fs::write(&sig_path, signed).unwrap();
    let content_path = dir.path().join("content");
    let ca = format!("{FIXTURES}/{trust}");
    let mut cmd = vec![
        "openssl",
        "cms",
        "-verify",
        "-binary",
        "-inform",
        "DER",
        "-in",
        sig_path.to_str().unwrap(),
        "-CAfile",
        &ca,
        "-purpose",
        "any",
    ];
    if let Some(content) = content {
        std::fs::write(&content_path, content).unwrap();
        cmd.extend_from_slice(&["-content", content_path.to_str().unwrap()]);
    }
    cmd.extend_from_slice(extra);
    test_support::run_ok(&cmd, b"")
}

#[test]
fn openssl_verifies_what_we_sign() {
    if !test_support::require_peer("openssl_verifies_what_we_sign", &["openssl", "version"]) {
        return;
    }
    // Binary content with CR, LF and NUL, which -binary must keep intact.
    let mut content = BODY.to_vec();
    content.extend((0..=255u8).cycle().take(700));
    let cases = [
        (rsa(), "sig-rsa-cert.pem"),
        (p256(), "sig-p256-cert.pem"),
        // A real chain: trust only the CA, the leaf comes in the bag.
        (leaf_with_chain(), "sig-ca-cert.pem"),
    ];
    for (id, trust) in &cases {
        let attached = id.sign_attached_at(&content, 1_700_000_000).unwrap();
        assert_eq!(openssl_verify(&attached, None, trust, &[]), content);
        let attached = id.sign_attached(&content).unwrap();
        assert_eq!(openssl_verify(&attached, None, trust, &[]), content);

        let detached = id.sign_detached_at(&content, 1_700_000_000).unwrap();
        assert_eq!(
            openssl_verify(&detached, Some(&content), trust, &[]),
            content
        );
        let detached = id.sign_detached(&content).unwrap();
        assert_eq!(
            openssl_verify(&detached, Some(&content), trust, &[]),
            content
        );

        // OpenSSL refuses tampered content.
        let mut tampered = content.clone();
        tampered[10] ^= 0x20;
        let dir = test_support::tempdir();
        let sig_path = dir.path().join("sig.der");
        let content_path = dir.path().join("content");
        std::fs::write(&sig_path, &detached).unwrap();
        std::fs::write(&content_path, &tampered).unwrap();
        let out = test_support::run(
            &[
                "openssl",
                "cms",
                "-verify",
                "-binary",
                "-inform",
                "DER",
                "-in",
                sig_path.to_str().unwrap(),
                "-content",
                content_path.to_str().unwrap(),
                "-noverify",
            ],
            b"",
        );
        assert!(!out.status.success(), "openssl accepted tampered content");
    }
}

#[test]
fn openssl_reads_our_signed_attributes() {
    if !test_support::require_peer(
        "openssl_reads_our_signed_attributes",
        &["openssl", "version"],
    ) {
        return;
    }
    let signed = rsa().sign_attached_at(BODY, 1_700_000_000).unwrap();
    let printed = test_support::run_ok(
        &["openssl", "cms", "-cmsout", "-print", "-inform", "DER"],
        &signed,
    );
    let printed = String::from_utf8_lossy(&printed);
    for needle in [
        "contentType",
        "messageDigest",
        "signingTime",
        "UTCTIME:Nov 14 22:13:20 2023 GMT", // 1_700_000_000
        "sha256",
        "rsaEncryption",
    ] {
        assert!(printed.contains(needle), "missing {needle} in:\n{printed}");
    }
    let signed = p256().sign_detached(BODY).unwrap();
    let printed = test_support::run_ok(
        &["openssl", "cms", "-cmsout", "-print", "-inform", "DER"],
        &signed,
    );
    let printed = String::from_utf8_lossy(&printed);
    assert!(printed.contains("ecdsa-with-SHA256"), "{printed}");
    assert!(!printed.contains("signingTime"), "{printed}");
}
