//! Authenticode signatures on cabinets checked against osslsigncode: what
//! we sign verifies with `osslsigncode verify`, what osslsigncode signs
//! verifies with our `verify_cab`, and a changed byte fails both.

use std::path::Path;

use time::macros::datetime;
use wsus_publish::authenticode::{DigestAlgorithm, SignError, Signer, sign_cab, verify_cab};
use wsus_publish::cab::{CabBuilder, Cabinet};

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A self-signed code-signing certificate and its key, in `dir`:
/// `cert.pem`, `key.pem` (PKCS #8) and `key-pkcs1.pem`.
fn test_pki(dir: &Path) {
    let p = |n: &str| dir.join(n).to_string_lossy().into_owned();
    test_support::openssl(&[
        "req",
        "-x509",
        "-nodes",
        "-newkey",
        "rsa:2048",
        "-days",
        "2",
        "-subj",
        "/CN=Pippin test publisher",
        "-addext",
        "extendedKeyUsage=codeSigning",
        "-addext",
        "keyUsage=digitalSignature",
        "-keyout",
        &p("key.pem"),
        "-out",
        &p("cert.pem"),
    ]);
    test_support::openssl(&[
        "rsa",
        "-in",
        &p("key.pem"),
        "-traditional",
        "-out",
        &p("key-pkcs1.pem"),
    ]);
}

fn sample_cab(reserve: bool) -> Vec<u8> {
    let mut b = CabBuilder::new();
    if reserve {
        b.authenticode_reserve();
    }
    let xml: Vec<u8> = (0..60_000)
        .flat_map(|i| format!("<sdp:Update Id=\"{i}\"/>\n").into_bytes())
        .collect();
    b.add_file(
        "SystemsManagementCatalog.xml",
        xml,
        datetime!(2025-05-06 07:08:10),
    )
    .unwrap();
    b.add_file(
        "readme.txt",
        b"signed catalog".to_vec(),
        datetime!(2025-05-06 07:08:10),
    )
    .unwrap();
    b.build().unwrap()
}

fn osslsigncode_verify(cab: &Path, ca: &Path) -> (bool, String) {
    let out = test_support::run(
        &[
            "osslsigncode",
            "verify",
            "-in",
            path(cab),
            "-CAfile",
            path(ca),
        ],
        b"",
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The "Current message digest" and "Calculated message digest" lines of
/// `osslsigncode verify`, which must be equal.
fn digests_match(report: &str) -> bool {
    let value = |label: &str| {
        report
            .lines()
            .find(|l| l.starts_with(label))
            .and_then(|l| l.split(':').nth(1))
            .map(|v| v.split_whitespace().collect::<String>())
    };
    match (
        value("Current message digest"),
        value("Calculated message digest"),
    ) {
        (Some(a), Some(b)) => a == b && !report.contains("MISMATCH"),
        _ => false,
    }
}

#[test]
fn osslsigncode_verifies_our_signatures() {
    if !test_support::require_peer(
        "osslsigncode_verifies_our_signatures",
        &["osslsigncode", "--version"],
    ) || !test_support::require_peer(
        "osslsigncode_verifies_our_signatures",
        &["openssl", "version"],
    ) {
        return;
    }
    let dir = test_support::tempdir();
    test_pki(dir.path());
    let cert = std::fs::read(dir.path().join("cert.pem")).unwrap();
    let ca = dir.path().join("cert.pem");
    for (reserve, key, digest) in [
        (false, "key.pem", DigestAlgorithm::Sha256),
        (true, "key-pkcs1.pem", DigestAlgorithm::Sha256),
        (false, "key.pem", DigestAlgorithm::Sha1),
    ] {
        let key_pem = std::fs::read(dir.path().join(key)).unwrap();
        let mut signer = Signer::from_pem(&cert, &key_pem).unwrap();
        signer
            .digest_algorithm(digest)
            .program_name("Pippin Apple updates")
            .signing_time(datetime!(2025-05-06 07:08:10 UTC));
        let unsigned = sample_cab(reserve);
        let signed = sign_cab(&unsigned, &signer).unwrap();
        let file = dir.path().join("signed.cab");
        std::fs::write(&file, &signed).unwrap();

        let (ok, report) = osslsigncode_verify(&file, &ca);
        assert!(
            ok,
            "osslsigncode verify failed ({digest:?}, reserve {reserve}):\n{report}"
        );
        assert!(digests_match(&report), "digests differ:\n{report}");
        assert!(report.contains("Signature verification: ok"), "{report}");

        // The signed cabinet still extracts, with good checksums.
        if test_support::require_peer(
            "osslsigncode_verifies_our_signatures",
            &["cabextract", "--version"],
        ) {
            let out = test_support::run_ok(&["cabextract", "-t", path(&file)], b"");
            assert!(String::from_utf8_lossy(&out).contains("All done, no errors."));
            let x = dir.path().join("x");
            test_support::run_ok(&["cabextract", "-q", "-d", path(&x), path(&file)], b"");
            let ours = Cabinet::parse(&unsigned).unwrap();
            for (entry, data) in ours.extract_all().unwrap() {
                assert!(
                    std::fs::read(x.join(entry.name())).unwrap() == data,
                    "{}",
                    entry.name()
                );
            }
        }

        // One changed byte in the data: both checks fail.
        let mut tampered = signed.clone();
        let in_data = u32::from_le_bytes(signed[44..48].try_into().unwrap()) as usize - 200;
        tampered[in_data] ^= 0x01;
        assert!(matches!(
            verify_cab(&tampered).unwrap_err(),
            SignError::DigestMismatch
        ));
        std::fs::write(&file, &tampered).unwrap();
        let (ok, report) = osslsigncode_verify(&file, &ca);
        assert!(!ok, "osslsigncode accepted a changed cabinet:\n{report}");
    }
}

#[test]
fn we_verify_osslsigncode_signatures() {
    if !test_support::require_peer(
        "we_verify_osslsigncode_signatures",
        &["osslsigncode", "--version"],
    ) || !test_support::require_peer(
        "we_verify_osslsigncode_signatures",
        &["openssl", "version"],
    ) {
        return;
    }
    let dir = test_support::tempdir();
    test_pki(dir.path());
    let p = |n: &str| dir.path().join(n).to_string_lossy().into_owned();
    std::fs::write(p("plain.cab"), sample_cab(false)).unwrap();
    let cert = std::fs::read(p("cert.pem")).unwrap();
    let signer = Signer::from_pem(&cert, &std::fs::read(p("key.pem")).unwrap()).unwrap();
    for (hash, want) in [
        ("sha256", DigestAlgorithm::Sha256),
        ("sha1", DigestAlgorithm::Sha1),
    ] {
        let out = format!("theirs-{hash}.cab");
        test_support::run_ok(
            &[
                "osslsigncode",
                "sign",
                "-certs",
                &p("cert.pem"),
                "-key",
                &p("key.pem"),
                "-h",
                hash,
                "-n",
                "Pippin",
                "-in",
                &p("plain.cab"),
                "-out",
                &p(&out),
            ],
            b"",
        );
        let theirs = std::fs::read(p(&out)).unwrap();
        let v = verify_cab(&theirs).unwrap_or_else(|e| panic!("{hash}: {e}"));
        assert_eq!(v.digest_algorithm, want);
        assert_eq!(v.signer, *signer.certificate());

        // The same digest as ours: re-signing their cabinet with our code
        // keeps the signed bytes and osslsigncode accepts the result.
        let ours = sign_cab(&theirs, &signer).unwrap();
        let sig_at = u32::from_le_bytes(theirs[44..48].try_into().unwrap()) as usize;
        assert_eq!(theirs[..44], ours[..44]);
        assert_eq!(theirs[52..sig_at], ours[52..sig_at]);
        std::fs::write(p("resigned.cab"), &ours).unwrap();
        let (ok, report) = osslsigncode_verify(
            &dir.path().join("resigned.cab"),
            &dir.path().join("cert.pem"),
        );
        assert!(ok && digests_match(&report), "{report}");

        let mut tampered = theirs.clone();
        tampered[sig_at - 1] ^= 0x80;
        assert!(matches!(
            verify_cab(&tampered).unwrap_err(),
            SignError::DigestMismatch
        ));
    }
}
