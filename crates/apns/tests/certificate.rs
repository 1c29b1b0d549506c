//! Push certificates made by `openssl req -x509`, read by this crate.

use std::path::Path;
use std::time::{Duration, SystemTime};

use apns::{Error, PrivateKeyDer, PushCertificate, PushCertificateInfo};
use test_support::{require_peer, run_ok, tempdir};

const UUID: &str = "18a16429-886b-41f1-9c30-2bd04ae4fc37";

/// Makes a self-signed RSA certificate with `subject`; returns the
/// certificate and its PKCS #8 key, as PEM.
fn make_cert(dir: &Path, name: &str, subject: &str) -> (String, String) {
    let key = dir.join(format!("{name}.key"));
    let cert = dir.join(format!("{name}.pem"));
    run_ok(
        &[
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "30",
            "-subj",
            subject,
            "-keyout",
            key.to_str().unwrap(),
            "-out",
            cert.to_str().unwrap(),
        ],
        b"",
    );
    (
        std::fs::read_to_string(cert).unwrap(),
        std::fs::read_to_string(key).unwrap(),
    )
}

fn pkcs1(key_pem: &str) -> String {
    String::from_utf8(run_ok(
        &["openssl", "rsa", "-traditional"],
        key_pem.as_bytes(),
    ))
    .unwrap()
}

#[test]
fn reads_openssl_push_certificates() {
    if !require_peer("reads_openssl_push_certificates", &["openssl", "version"]) {
        return;
    }
    let dir = tempdir();
    let topic = format!("com.apple.mgmt.External.{UUID}");
    let (cert, key) = make_cert(
        dir.path(),
        "good",
        &format!("/UID={topic}/CN=APSP:{UUID}/C=US"),
    );
    assert!(key.contains("-----BEGIN PRIVATE KEY-----"));

    // PKCS #8 key.
    let pc = PushCertificate::from_pem(&cert, &key).unwrap();
    assert_eq!(pc.topic(), topic);
    assert_eq!(
        pc.info().subject_cn.as_deref(),
        Some(format!("APSP:{UUID}").as_str())
    );
    assert!(matches!(pc.private_key_der(), PrivateKeyDer::Pkcs8(_)));
    assert_eq!(pc.chain_der().len(), 1);
    let now = SystemTime::now();
    let left = pc.info().not_after.duration_since(now).unwrap();
    assert!(left > Duration::from_secs(29 * 86400) && left <= Duration::from_secs(30 * 86400));
    assert!(!pc.info().is_expired_at(now));
    assert!(
        pc.info()
            .is_expired_at(now + Duration::from_secs(31 * 86400))
    );

    // The same key as PKCS #1, and certificate and key in one file.
    let key1 = pkcs1(&key);
    assert!(key1.contains("-----BEGIN RSA PRIVATE KEY-----"));
    let pc1 = PushCertificate::from_pem(&cert, &key1).unwrap();
    assert!(matches!(pc1.private_key_der(), PrivateKeyDer::Pkcs1(_)));
    let both = format!("{key1}{cert}");
    assert_eq!(
        PushCertificate::from_pem(&both, &both).unwrap().topic(),
        topic
    );

    // A key that is not the certificate's.
    let (_, other_key) = make_cert(dir.path(), "other", "/UID=com.apple.mgmt.x/CN=x");
    assert!(matches!(
        PushCertificate::from_pem(&cert, &other_key),
        Err(Error::KeyMismatch)
    ));
    // No key at all.
    assert!(matches!(
        PushCertificate::from_pem(&cert, &cert),
        Err(Error::Pem {
            what: "private key",
            ..
        })
    ));
}

#[test]
fn rejects_certificates_that_are_not_for_mdm() {
    if !require_peer(
        "rejects_certificates_that_are_not_for_mdm",
        &["openssl", "version"],
    ) {
        return;
    }
    let dir = tempdir();
    let (wrong, wrong_key) = make_cert(
        dir.path(),
        "wrong",
        &format!("/UID=com.example.app.{UUID}/CN=APSP:{UUID}"),
    );
    match PushCertificate::from_pem(&wrong, &wrong_key) {
        Err(e @ Error::WrongTopic { .. }) => {
            let text = e.to_string();
            assert!(text.contains(&format!("com.example.app.{UUID}")), "{text}");
            assert!(text.contains("com.apple.mgmt."), "{text}");
        }
        other => panic!("{other:?}"),
    }

    let (none, _) = make_cert(dir.path(), "none", &format!("/CN=APSP:{UUID}/O=Example"));
    match PushCertificateInfo::from_pem(&none) {
        Err(e @ Error::NoTopic { .. }) => {
            let text = e.to_string();
            assert!(text.contains("no UID"), "{text}");
            assert!(text.contains(&format!("CN=APSP:{UUID}")), "{text}");
        }
        other => panic!("{other:?}"),
    }

    let (bare, _) = make_cert(dir.path(), "bare", "/UID=com.apple.mgmt./CN=x");
    assert!(matches!(
        PushCertificateInfo::from_pem(&bare),
        Err(Error::WrongTopic { .. })
    ));
}
