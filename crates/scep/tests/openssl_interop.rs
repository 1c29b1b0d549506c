//! Interop with OpenSSL: the certification request and the
//! `pkcsPKIEnvelope` come from `openssl req` and `openssl cms -encrypt`;
//! the `CertRep` is checked with `openssl cms -verify`, opened with
//! `openssl cms -decrypt` and `openssl pkcs7`, and the certificate with
//! `openssl verify`. (`openssl cms` cannot add the SCEP signed attributes,
//! so the outer `SignedData` of the request is built here, and checked with
//! `openssl cms -verify` too.)

mod common;

use std::path::Path;
use std::time::SystemTime;

use common::*;
use scep::client::Requester;
use scep::{
    DigestAlgorithm, FailInfo, MessageType, Nonce, Outcome, PkiMessage, PkiStatus, TransactionId,
};
use test_support::{require_peer, run, run_ok, tempdir};

fn path(dir: &Path, name: &str) -> String {
    dir.join(name).to_str().expect("UTF-8 path").to_owned()
}

fn write(dir: &Path, name: &str, data: &[u8]) -> String {
    let p = path(dir, name);
    std::fs::write(&p, data).expect("write");
    p
}

fn pem_to_der(pem: &[u8]) -> Vec<u8> {
    der::pem::decode_vec(pem).expect("PEM").1
}

/// A requester key and self-signed certificate made by openssl.
fn openssl_requester(dir: &Path) -> (Requester, String, String) {
    let key = path(dir, "req.key");
    let cert = path(dir, "req.pem");
    run_ok(
        &[
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &cert,
            "-subj",
            "/CN=device-self-signed",
            "-days",
            "2",
        ],
        b"",
    );
    let requester = Requester::new(
        pem_to_der(&std::fs::read(&cert).unwrap()),
        rsa_key(&std::fs::read(&key).unwrap()),
    )
    .expect("requester from openssl");
    (requester, cert, key)
}

/// A DER CSR made by `openssl req`, with `challenge` as challengePassword.
fn openssl_csr(dir: &Path, key: &str, challenge: &str) -> String {
    let conf = write(
        dir,
        "req.cnf",
        format!(
            "[req]\ndistinguished_name = dn\nattributes = attrs\nprompt = no\n\
             [dn]\nCN = device-openssl\nO = Pippin\n\
             [attrs]\nchallengePassword = {challenge}\n"
        )
        .as_bytes(),
    );
    let csr = path(dir, "req.csr");
    run_ok(
        &[
            "openssl", "req", "-new", "-key", key, "-config", &conf, "-outform", "DER", "-out",
            &csr,
        ],
        b"",
    );
    csr
}

/// `openssl cms -encrypt` of `input` to the test CA, DER (or BER with `-stream`).
fn openssl_envelope(dir: &Path, input: &str, cipher: &str, extra: &[&str]) -> Vec<u8> {
    let ca = write(dir, "ca.pem", CA_PEM);
    let out = path(dir, "env.der");
    let mut cmd = vec![
        "openssl", "cms", "-encrypt", "-binary", cipher, "-in", input, "-outform", "DER", "-out",
        &out,
    ];
    cmd.extend_from_slice(extra);
    cmd.push(&ca);
    run_ok(&cmd, b"");
    std::fs::read(&out).unwrap()
}

/// Checks a CMS SignedData (DER) with `openssl cms -verify -noverify` and
/// returns its content.
fn openssl_verify_signed(dir: &Path, name: &str, der: &[u8]) -> Vec<u8> {
    let input = write(dir, name, der);
    let out = path(dir, &format!("{name}.content"));
    run_ok(
        &[
            "openssl",
            "cms",
            "-verify",
            "-inform",
            "DER",
            "-in",
            &input,
            "-noverify",
            "-binary",
            "-out",
            &out,
        ],
        b"",
    );
    std::fs::read(&out).unwrap()
}

#[test]
fn openssl_request_enrols_and_response_opens_with_openssl() {
    if !require_peer(
        "openssl_request_enrols_and_response_opens_with_openssl",
        &["openssl", "version"],
    ) {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    let now = SystemTime::now();
    let mut rng = TestRng::new(100);
    let server = server();
    let (requester, req_cert, req_key) = openssl_requester(d);
    let csr = openssl_csr(d, &req_key, CHALLENGE);
    let ca_pem = write(d, "ca.pem", CA_PEM);

    for (i, (cipher, extra, expect_alg)) in [
        ("-aes256", &[][..], "aes-256-cbc"),
        ("-aes128", &[][..], "aes-128-cbc"),
        ("-des3", &[][..], "des-ede3-cbc"),
        // Recipient by subjectKeyIdentifier, and BER with indefinite lengths.
        ("-aes256", &["-keyid", "-stream"][..], "aes-256-cbc"),
    ]
    .into_iter()
    .enumerate()
    {
        let envelope = openssl_envelope(d, &csr, cipher, extra);
        let tid = TransactionId::new(format!("openssl-{i}")).unwrap();
        let nonce = Nonce::random(&mut rng);
        let msg = requester
            .sign_message(
                MessageType::PkcsReq,
                &tid,
                nonce,
                Some(&envelope),
                DigestAlgorithm::Sha256,
                now,
                &mut rng,
            )
            .unwrap();
        // Our request's SignedData is valid CMS to openssl.
        assert_eq!(openssl_verify_signed(d, "request.der", &msg), envelope);

        let resp = server
            .handle("PKIOperation", Some(&msg), now, &mut rng)
            .unwrap();
        let Outcome::Issued(issued) = resp.outcome else {
            panic!("{cipher} {extra:?}: {:?}", resp.outcome)
        };

        // openssl checks the CertRep's signature and gives its content back.
        let enveloped = openssl_verify_signed(d, "certrep.der", &resp.body);
        let env_path = write(d, "certrep-env.der", &enveloped);
        let printed = run_ok(
            &[
                "openssl", "cms", "-cmsout", "-print", "-inform", "DER", "-in", &env_path,
            ],
            b"",
        );
        let printed = String::from_utf8_lossy(&printed);
        assert!(
            printed.contains(expect_alg),
            "reply not encrypted with {expect_alg}: {printed}"
        );

        // openssl decrypts it with the requester's key...
        let p7 = path(d, "certs.p7");
        run_ok(
            &[
                "openssl", "cms", "-decrypt", "-inform", "DER", "-in", &env_path, "-recip",
                &req_cert, "-inkey", &req_key, "-binary", "-out", &p7,
            ],
            b"",
        );
        // ...reads the degenerate PKCS #7...
        let certs_pem = run_ok(
            &[
                "openssl",
                "pkcs7",
                "-inform",
                "DER",
                "-in",
                &p7,
                "-print_certs",
            ],
            b"",
        );
        let first_pem = String::from_utf8_lossy(&certs_pem);
        let end = first_pem.find("-----END CERTIFICATE-----").unwrap() + 25;
        let start = first_pem.find("-----BEGIN CERTIFICATE-----").unwrap();
        let issued_pem = write(d, "issued.pem", first_pem[start..end].as_bytes());
        assert_eq!(
            pem_to_der(first_pem[start..end].as_bytes()),
            issued.certificate
        );

        // ...and the certificate verifies against the CA.
        let verified = run_ok(&["openssl", "verify", "-CAfile", &ca_pem, &issued_pem], b"");
        assert!(String::from_utf8_lossy(&verified).contains("OK"));
        let purpose = run_ok(
            &[
                "openssl",
                "verify",
                "-purpose",
                "sslclient",
                "-CAfile",
                &ca_pem,
                &issued_pem,
            ],
            b"",
        );
        assert!(String::from_utf8_lossy(&purpose).contains("OK"));
        let text = run_ok(
            &["openssl", "x509", "-noout", "-text", "-in", &issued_pem],
            b"",
        );
        let text = String::from_utf8_lossy(&text);
        assert!(text.contains("CA:FALSE"), "{text}");
        assert!(text.contains("TLS Web Client Authentication"), "{text}");
        assert!(
            text.contains("Digital Signature, Key Encipherment"),
            "{text}"
        );
        assert!(
            text.contains("Subject: CN = device-openssl, O = Pippin"),
            "{text}"
        );
    }
}

#[test]
fn openssl_wrong_challenge_gets_failure_with_bad_request() {
    if !require_peer(
        "openssl_wrong_challenge_gets_failure_with_bad_request",
        &["openssl", "version"],
    ) {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    let now = SystemTime::now();
    let mut rng = TestRng::new(101);
    let (requester, _, req_key) = openssl_requester(d);
    let csr = openssl_csr(d, &req_key, "not-the-challenge");
    let envelope = openssl_envelope(d, &csr, "-aes256", &[]);
    let nonce = Nonce([0x42; 16]);
    let tid = TransactionId::new("wrong-challenge").unwrap();
    let msg = requester
        .sign_message(
            MessageType::PkcsReq,
            &tid,
            nonce,
            Some(&envelope),
            DigestAlgorithm::Sha256,
            now,
            &mut rng,
        )
        .unwrap();
    let resp = server()
        .handle("PKIOperation", Some(&msg), now, &mut rng)
        .unwrap();
    assert!(matches!(resp.outcome, Outcome::Rejected(_)));

    // openssl accepts the signature; the content is empty.
    assert!(openssl_verify_signed(d, "failure.der", &resp.body).is_empty());
    // openssl shows the SCEP attributes: pkiStatus 2 and failInfo 2.
    let input = write(d, "failure.der", &resp.body);
    let printed = run_ok(
        &[
            "openssl", "cms", "-cmsout", "-print", "-inform", "DER", "-in", &input,
        ],
        b"",
    );
    let printed = String::from_utf8_lossy(&printed).to_string();
    for oid in ["2.16.840.1.113733.1.9.3", "2.16.840.1.113733.1.9.4"] {
        let at = printed
            .find(oid)
            .unwrap_or_else(|| panic!("{oid} missing: {printed}"));
        let value = &printed[at..printed.len().min(at + 200)];
        assert!(value.contains("PRINTABLESTRING:2"), "{oid}: {value}");
    }
    // Decoded attributes.
    let rep = PkiMessage::parse(&resp.body).unwrap();
    let a = rep.attributes();
    assert_eq!(a.message_type, MessageType::CertRep);
    assert_eq!(a.pki_status, Some(PkiStatus::Failure));
    assert_eq!(a.fail_info, Some(FailInfo::BadRequest));
    assert_eq!(a.recipient_nonce, Some(nonce));
    assert_eq!(a.transaction_id, tid);
    assert!(a.sender_nonce.is_some());
}

#[test]
fn openssl_ecdsa_csr_is_issued() {
    if !require_peer("openssl_ecdsa_csr_is_issued", &["openssl", "version"]) {
        return;
    }
    let dir = tempdir();
    let d = dir.path();
    let now = SystemTime::now();
    let mut rng = TestRng::new(102);
    let (requester, _, _) = openssl_requester(d);
    let ec_key = path(d, "ec.key");
    run_ok(
        &[
            "openssl",
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            &ec_key,
        ],
        b"",
    );
    let csr = openssl_csr(d, &ec_key, CHALLENGE);
    let envelope = openssl_envelope(d, &csr, "-aes128", &[]);
    let msg = requester
        .sign_message(
            MessageType::PkcsReq,
            &TransactionId::new("ec").unwrap(),
            Nonce([1; 16]),
            Some(&envelope),
            DigestAlgorithm::Sha256,
            now,
            &mut rng,
        )
        .unwrap();
    let resp = server()
        .handle("PKIOperation", Some(&msg), now, &mut rng)
        .unwrap();
    let Outcome::Issued(issued) = resp.outcome else {
        panic!("{:?}", resp.outcome)
    };
    let pem = der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, &issued.certificate)
        .unwrap();
    let issued_pem = write(d, "issued-ec.pem", pem.as_bytes());
    let ca_pem = write(d, "ca.pem", CA_PEM);
    let out = run(&["openssl", "verify", "-CAfile", &ca_pem, &issued_pem], b"");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = run_ok(
        &["openssl", "x509", "-noout", "-text", "-in", &issued_pem],
        b"",
    );
    let text = String::from_utf8_lossy(&text);
    assert!(text.contains("id-ecPublicKey"), "{text}");
    assert!(!text.contains("Key Encipherment"), "{text}");

    // A tampered ECDSA CSR signature is refused (badMessageCheck).
    let mut csr_der = std::fs::read(&csr).unwrap();
    let n = csr_der.len();
    csr_der[n - 3] ^= 1;
    let bad = write(d, "bad.csr", &csr_der);
    let envelope = openssl_envelope(d, &bad, "-aes128", &[]);
    let msg = requester
        .sign_message(
            MessageType::PkcsReq,
            &TransactionId::new("ec-bad").unwrap(),
            Nonce([1; 16]),
            Some(&envelope),
            DigestAlgorithm::Sha256,
            now,
            &mut rng,
        )
        .unwrap();
    let resp = server()
        .handle("PKIOperation", Some(&msg), now, &mut rng)
        .unwrap();
    let Outcome::Rejected(r) = resp.outcome else {
        panic!()
    };
    assert_eq!(r.fail_info, FailInfo::BadMessageCheck);
}
