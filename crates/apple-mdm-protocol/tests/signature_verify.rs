//! Verifying CMS signatures made by OpenSSL: the committed `sig-*` fixtures
//! (see `fixtures/make-sig-fixtures.sh`) and signatures `openssl cms -sign`
//! makes while the tests run.

use apple_mdm_protocol::signature::{
    DigestAlgorithm, SignatureAlgorithm, SignatureError, VerifiedSigner, certificate_issued_by,
    verify_attached, verify_detached, verify_mdm_signature,
};
use der::{DecodePem, Encode};
use x509_cert::Certificate;

const BODY: &[u8] = include_bytes!("fixtures/sig-body.plist");

fn cert(pem: &[u8]) -> Certificate {
    Certificate::from_pem(pem).unwrap()
}

fn rsa_cert() -> Certificate {
    cert(include_bytes!("fixtures/sig-rsa-cert.pem"))
}

fn p256_cert() -> Certificate {
    cert(include_bytes!("fixtures/sig-p256-cert.pem"))
}

fn check(
    signer: &VerifiedSigner,
    expected: &Certificate,
    digest: DigestAlgorithm,
    alg: SignatureAlgorithm,
) {
    assert_eq!(signer.certificate(), expected);
    assert_eq!(signer.certificate_der(), expected.to_der().unwrap());
    assert_eq!(signer.digest_algorithm(), digest);
    assert_eq!(signer.signature_algorithm(), alg);
}

#[test]
fn openssl_detached_signatures_verify() {
    use DigestAlgorithm::{Sha1, Sha256};
    use SignatureAlgorithm::{EcdsaP256, RsaPkcs1v15};
    let cases: &[(&[u8], Certificate, DigestAlgorithm, SignatureAlgorithm)] = &[
        (
            include_bytes!("fixtures/sig-rsa-sha256-detached.der"),
            rsa_cert(),
            Sha256,
            RsaPkcs1v15,
        ),
        (
            include_bytes!("fixtures/sig-rsa-sha1-detached.der"),
            rsa_cert(),
            Sha1,
            RsaPkcs1v15,
        ),
        (
            include_bytes!("fixtures/sig-rsa-sha256-noattr-detached.der"),
            rsa_cert(),
            Sha256,
            RsaPkcs1v15,
        ),
        (
            include_bytes!("fixtures/sig-rsa-keyid-detached.der"),
            rsa_cert(),
            Sha256,
            RsaPkcs1v15,
        ),
        (
            include_bytes!("fixtures/sig-p256-sha256-detached.der"),
            p256_cert(),
            Sha256,
            EcdsaP256,
        ),
        (
            include_bytes!("fixtures/sig-p256-sha1-detached.der"),
            p256_cert(),
            Sha1,
            EcdsaP256,
        ),
        (
            include_bytes!("fixtures/sig-p256-sha256-noattr-detached.der"),
            p256_cert(),
            Sha256,
            EcdsaP256,
        ),
    ];
    for (i, (der, expected, digest, alg)) in cases.iter().enumerate() {
        let signer = verify_detached(der, BODY).unwrap_or_else(|e| panic!("case {i}: {e}"));
        check(&signer, expected, *digest, *alg);
        assert!(signer.other_certificates().is_empty());
    }
}

#[test]
fn openssl_attached_signatures_verify() {
    let cases: &[(&[u8], Certificate, DigestAlgorithm, SignatureAlgorithm)] = &[
        (
            include_bytes!("fixtures/sig-rsa-sha256-attached.der"),
            rsa_cert(),
            DigestAlgorithm::Sha256,
            SignatureAlgorithm::RsaPkcs1v15,
        ),
        (
            include_bytes!("fixtures/sig-rsa-sha1-noattr-attached.der"),
            rsa_cert(),
            DigestAlgorithm::Sha1,
            SignatureAlgorithm::RsaPkcs1v15,
        ),
        (
            include_bytes!("fixtures/sig-p256-sha256-attached.der"),
            p256_cert(),
            DigestAlgorithm::Sha256,
            SignatureAlgorithm::EcdsaP256,
        ),
        // BER: indefinite lengths and a constructed OCTET STRING.
        (
            include_bytes!("fixtures/sig-rsa-ber-attached.der"),
            rsa_cert(),
            DigestAlgorithm::Sha256,
            SignatureAlgorithm::RsaPkcs1v15,
        ),
    ];
    for (i, (der, expected, digest, alg)) in cases.iter().enumerate() {
        let (content, signer) = verify_attached(der).unwrap_or_else(|e| panic!("case {i}: {e}"));
        assert_eq!(content, BODY, "case {i}");
        check(&signer, expected, *digest, *alg);
    }
}

#[test]
fn ber_fixture_really_is_ber() {
    let der = include_bytes!("fixtures/sig-rsa-ber-attached.der");
    // SEQUENCE with an indefinite length.
    assert_eq!(&der[..2], &[0x30, 0x80]);
}

#[test]
fn mdm_signature_header_from_a_device_identity() {
    let header = std::str::from_utf8(include_bytes!("fixtures/sig-mdm-signature.txt")).unwrap();
    let signer = verify_mdm_signature(header, BODY).unwrap();
    let leaf = cert(include_bytes!("fixtures/sig-leaf-cert.pem"));
    let ca = cert(include_bytes!("fixtures/sig-ca-cert.pem"));
    assert_eq!(signer.certificate(), &leaf);
    assert_eq!(signer.other_certificates(), std::slice::from_ref(&ca));
    assert!(certificate_issued_by(signer.certificate(), &ca));

    // The fingerprint is SHA-256 of the certificate's DER, as openssl has it.
    let pem = include_bytes!("fixtures/sig-leaf-cert.pem");
    let expected = openssl_fingerprint(pem);
    if let Some(expected) = expected {
        assert_eq!(hex::encode(signer.sha256_fingerprint()), expected);
    }

    // The header may come without padding or with surrounding whitespace.
    let trimmed = header.trim().trim_end_matches('=');
    verify_mdm_signature(trimmed, BODY).unwrap();
    verify_mdm_signature(&format!("  {trimmed}\r\n"), BODY).unwrap();
}

fn openssl_fingerprint(pem: &[u8]) -> Option<String> {
    if !test_support::require_peer("openssl_fingerprint", &["openssl", "version"]) {
        return None;
    }
    let out = test_support::run_ok(
        &["openssl", "x509", "-noout", "-fingerprint", "-sha256"],
        pem,
    );
    let text = String::from_utf8(out).unwrap();
    let hex = text.trim().rsplit('=').next().unwrap().replace(':', "");
    Some(hex.to_ascii_lowercase())
}

#[test]
fn issuer_checks() {
    let ca = cert(include_bytes!("fixtures/sig-ca-cert.pem"));
    let leaf = cert(include_bytes!("fixtures/sig-leaf-cert.pem"));
    let leaf_sha1 = cert(include_bytes!("fixtures/sig-leaf-sha1-cert.pem"));
    let ec_ca = cert(include_bytes!("fixtures/sig-ec-ca-cert.pem"));
    let ec_leaf = cert(include_bytes!("fixtures/sig-ec-leaf-cert.pem"));
    let rsa = rsa_cert();

    assert!(certificate_issued_by(&leaf, &ca));
    assert!(certificate_issued_by(&leaf_sha1, &ca));
    assert!(certificate_issued_by(&ec_leaf, &ec_ca));
    // Self-signed certificates issue themselves.
    assert!(certificate_issued_by(&ca, &ca));
    assert!(certificate_issued_by(&rsa, &rsa));
    assert!(certificate_issued_by(&p256_cert(), &p256_cert()));

    assert!(!certificate_issued_by(&ca, &leaf));
    assert!(!certificate_issued_by(&leaf, &ec_ca));
    assert!(!certificate_issued_by(&ec_leaf, &ca));
    assert!(!certificate_issued_by(&leaf, &rsa));
}

#[test]
fn issuer_check_needs_the_issuers_key_not_just_its_name() {
    // A CA with the same name as the real one, and another key.
    let ca = cert(include_bytes!("fixtures/sig-ca-cert.pem"));
    let impostor = cert(include_bytes!("fixtures/sig-ca-impostor-cert.pem"));
    let leaf = cert(include_bytes!("fixtures/sig-leaf-cert.pem"));
    assert_eq!(
        impostor.tbs_certificate().subject(),
        ca.tbs_certificate().subject()
    );
    assert!(!certificate_issued_by(&leaf, &impostor));
}

#[test]
fn detached_and_attached_are_not_interchangeable() {
    let detached = include_bytes!("fixtures/sig-rsa-sha256-detached.der");
    let attached = include_bytes!("fixtures/sig-rsa-sha256-attached.der");
    assert!(matches!(
        verify_attached(detached),
        Err(SignatureError::MissingContent)
    ));
    assert!(matches!(
        verify_detached(attached, BODY),
        Err(SignatureError::ContentNotDetached)
    ));
}

/// Signs `body` with `openssl cms -sign` now, with the given signer and
/// options, and returns the DER.
fn openssl_sign(signer: &str, body: &[u8], extra: &[&str]) -> Vec<u8> {
    let dir = test_support::tempdir();
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let body_path = dir.path().join("body");
    std::fs::write(&body_path, body).unwrap();
    let cert = format!("{fixtures}/sig-{signer}-cert.pem");
    let key = format!("{fixtures}/sig-{signer}-key.pem");
    let mut cmd = vec![
        "openssl",
        "cms",
        "-sign",
        "-binary",
        "-in",
        body_path.to_str().unwrap(),
        "-signer",
        &cert,
        "-inkey",
        &key,
        "-outform",
        "DER",
    ];
    cmd.extend_from_slice(extra);
    test_support::run_ok(&cmd, b"")
}

#[test]
fn openssl_signs_now_and_we_verify() {
    if !test_support::require_peer("openssl_signs_now_and_we_verify", &["openssl", "version"]) {
        return;
    }
    // A binary body with every byte value and CR/LF, which -binary must keep.
    let body: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
    for signer in ["rsa", "p256", "leaf"] {
        for md in ["sha1", "sha256", "sha384", "sha512"] {
            for noattr in [false, true] {
                let mut extra = vec!["-md", md];
                if noattr {
                    extra.push("-noattr");
                }
                let der = openssl_sign(signer, &body, &extra);
                let what = format!("{signer} {md} noattr={noattr}");
                let verified =
                    verify_detached(&der, &body).unwrap_or_else(|e| panic!("{what}: {e}"));
                assert_eq!(
                    verified.digest_algorithm().oid().to_string(),
                    match md {
                        "sha1" => "1.3.14.3.2.26",
                        "sha256" => "2.16.840.1.101.3.4.2.1",
                        "sha384" => "2.16.840.1.101.3.4.2.2",
                        _ => "2.16.840.1.101.3.4.2.3",
                    },
                    "{what}"
                );
                let mut tampered = body.clone();
                tampered[1234] ^= 1;
                assert!(
                    verify_detached(&der, &tampered).is_err(),
                    "{what}: tampered body verified"
                );

                extra.push("-nodetach");
                let der = openssl_sign(signer, &body, &extra);
                let (content, _) = verify_attached(&der).unwrap_or_else(|e| panic!("{what}: {e}"));
                assert_eq!(content, body, "{what}");

                extra.push("-stream");
                let ber = openssl_sign(signer, &body, &extra);
                let (content, _) =
                    verify_attached(&ber).unwrap_or_else(|e| panic!("{what} BER: {e}"));
                assert_eq!(content, body, "{what} BER");
            }
        }
    }
}

#[test]
fn large_streamed_content_verifies() {
    if !test_support::require_peer("large_streamed_content_verifies", &["openssl", "version"]) {
        return;
    }
    // Streaming cuts content into many segments of a constructed OCTET STRING.
    let body: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let ber = openssl_sign("rsa", &body, &["-md", "sha256", "-nodetach", "-stream"]);
    let (content, _) = verify_attached(&ber).unwrap();
    assert_eq!(content, body);
}
