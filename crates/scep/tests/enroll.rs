//! End-to-end enrolment through `ScepServer::handle` with the crate's own
//! requester, plus the negative paths. Interop with independent clients is
//! in `pyscep_interop.rs` and `openssl_interop.rs`.

mod common;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use common::*;
use der::Decode as _;
use scep::client::Requester;
use scep::{
    ChallengeRejection, ContentEncryption, DigestAlgorithm, Error, FailInfo, MessageType, Nonce,
    OneTimeChallenges, Outcome, PkiMessage, PkiStatus, ScepConfig, ScepServer, TransactionId,
};

fn pkcs_req(
    req: &Requester,
    rng: &mut TestRng,
    challenge: Option<&str>,
    alg: ContentEncryption,
) -> (Vec<u8>, Nonce, TransactionId) {
    let csr = req
        .certification_request("CN=device-1,O=Pippin", challenge, rng)
        .unwrap();
    let nonce = Nonce::random(rng);
    let tid = TransactionId::new("4F2D1A0B9C").unwrap();
    let msg = req
        .request(
            MessageType::PkcsReq,
            &csr,
            ca().certificate_der(),
            alg,
            &tid,
            nonce,
            now(),
            rng,
        )
        .unwrap();
    (msg, nonce, tid)
}

#[test]
fn get_ca_caps_and_cert() {
    let mut rng = TestRng::new(1);
    let s = server();
    let caps = s
        .handle("GetCACaps", Some(b"ignored"), now(), &mut rng)
        .unwrap();
    assert_eq!(caps.content_type, "text/plain");
    let text = String::from_utf8(caps.body).unwrap();
    for needed in [
        "POSTPKIOperation",
        "SHA-256",
        "AES",
        "SCEPStandard",
        "Renewal",
    ] {
        assert!(
            text.lines().any(|l| l == needed),
            "{needed} missing in {text:?}"
        );
    }
    assert!(!text.lines().any(|l| l == "SHA-1"));

    let cert = s.handle("GetCACert", None, now(), &mut rng).unwrap();
    assert_eq!(cert.content_type, "application/x-x509-ca-cert");
    assert_eq!(cert.body, ca().certificate_der());

    assert!(matches!(
        s.handle("GetNextCACert", None, now(), &mut rng),
        Err(Error::UnsupportedOperation(_))
    ));
    assert!(matches!(
        s.handle("PKIOperation", None, now(), &mut rng),
        Err(Error::MissingMessage)
    ));
}

#[test]
fn get_ca_cert_with_chain_is_degenerate_pkcs7() {
    let mut rng = TestRng::new(2);
    let base = ca();
    let root = base.certificate_der().to_vec();
    let with_chain = scep::CertificateAuthority::new(
        base.certificate_der().to_vec(),
        rsa_key(CA_KEY),
        vec![root.clone()],
    )
    .unwrap();
    let s = ScepServer::new(Arc::new(ScepConfig::new(
        with_chain,
        Arc::new(scep::StaticChallenge::new("x")),
    )));
    let r = s.handle("GetCACert", None, now(), &mut rng).unwrap();
    assert_eq!(r.content_type, "application/x-x509-ca-ra-cert");
    let certs = scep::certificates_from_degenerate(&r.body).unwrap();
    assert_eq!(certs, vec![root.clone(), root]);
}

#[test]
fn pkcs_req_issues_certificate() {
    let mut rng = TestRng::new(3);
    let s = server();
    let req = requester(&mut rng);
    let (msg, nonce, tid) = pkcs_req(
        &req,
        &mut rng,
        Some(CHALLENGE),
        ContentEncryption::Aes256Cbc,
    );

    let resp = s
        .handle("PKIOperation", Some(&msg), now(), &mut rng)
        .unwrap();
    assert_eq!(resp.content_type, "application/x-pki-message");
    let Outcome::Issued(issued) = resp.outcome else {
        panic!("not issued: {:?}", resp.outcome)
    };
    assert_eq!(issued.transaction_id, tid);
    assert!(!issued.is_renewal());
    assert_eq!(issued.subject.to_string(), "CN=device-1,O=Pippin");
    assert_eq!(issued.sha256, {
        use sha2::Digest;
        <[u8; 32]>::from(sha2::Sha256::digest(&issued.certificate))
    });

    let rep = req.read_cert_rep(&resp.body, &mut rng).unwrap();
    assert_eq!(rep.attributes.message_type, MessageType::CertRep);
    assert_eq!(rep.attributes.pki_status, Some(PkiStatus::Success));
    assert_eq!(rep.attributes.fail_info, None);
    assert_eq!(rep.attributes.recipient_nonce, Some(nonce));
    assert_ne!(rep.attributes.sender_nonce, Some(nonce));
    assert_eq!(rep.attributes.transaction_id, tid);
    assert_eq!(rep.signer, ca().certificate_der());
    assert_eq!(rep.certificates[0], issued.certificate);
    assert_eq!(rep.certificates[1], ca().certificate_der());

    // The certificate: issued by the CA, for the CSR's key, with the profile.
    assert!(ca().has_issued(&issued.certificate, now()));
    let cert = x509_cert::Certificate::from_der(&issued.certificate).unwrap();
    let tbs = cert.tbs_certificate();
    assert_eq!(tbs.subject().to_string(), "CN=device-1,O=Pippin");
    assert_eq!(
        tbs.issuer().to_string(),
        ca().certificate()
            .unwrap()
            .tbs_certificate()
            .subject()
            .to_string()
    );
    let serial = tbs.serial_number().as_bytes();
    assert!(serial.len() <= 20 && serial[0] & 0x80 == 0);
    let nb = tbs.validity().not_before.to_unix_duration();
    let na = tbs.validity().not_after.to_unix_duration();
    let now_unix = now().duration_since(std::time::UNIX_EPOCH).unwrap();
    assert_eq!(nb, now_unix - Duration::from_secs(3600));
    assert_eq!(na, now_unix + Duration::from_secs(365 * 86400));
    let oids: Vec<String> = tbs
        .extensions()
        .unwrap()
        .iter()
        .map(|e| e.extn_id.to_string())
        .collect();
    for oid in [
        "2.5.29.19",
        "2.5.29.15",
        "2.5.29.37",
        "2.5.29.14",
        "2.5.29.35",
    ] {
        assert!(oids.contains(&oid.to_string()), "{oid} missing");
    }
    let want_spki = {
        use der::Encode as _;
        x509_cert::request::CertReq::from_der(
            &req.certification_request("CN=x", None, &mut rng).unwrap(),
        )
        .unwrap()
        .info
        .public_key
        .to_der()
        .unwrap()
    };
    use der::Encode as _;
    assert_eq!(tbs.subject_public_key_info().to_der().unwrap(), want_spki);
}

#[test]
fn every_content_cipher_and_digest() {
    let s = server();
    for (i, alg) in [
        ContentEncryption::Aes128Cbc,
        ContentEncryption::Aes192Cbc,
        ContentEncryption::Aes256Cbc,
        ContentEncryption::DesEde3Cbc,
    ]
    .into_iter()
    .enumerate()
    {
        let mut rng = TestRng::new(10 + i as u64);
        let req = requester(&mut rng);
        let (msg, _, _) = pkcs_req(&req, &mut rng, Some(CHALLENGE), alg);
        let resp = s
            .handle("PKIOperation", Some(&msg), now(), &mut rng)
            .unwrap();
        assert!(matches!(resp.outcome, Outcome::Issued(_)), "{alg:?}");
        let rep = req.read_cert_rep(&resp.body, &mut rng).unwrap();
        assert_eq!(rep.certificates.len(), 2);
    }
    for (i, digest) in [
        DigestAlgorithm::Sha1,
        DigestAlgorithm::Sha224,
        DigestAlgorithm::Sha384,
        DigestAlgorithm::Sha512,
    ]
    .into_iter()
    .enumerate()
    {
        let mut rng = TestRng::new(20 + i as u64);
        let req = requester(&mut rng);
        let csr = req
            .certification_request("CN=d", Some(CHALLENGE), &mut rng)
            .unwrap();
        let env = scep::client::envelope(
            &csr,
            ca().certificate_der(),
            ContentEncryption::Aes128Cbc,
            &mut rng,
        )
        .unwrap();
        let msg = req
            .sign_message(
                MessageType::PkcsReq,
                &TransactionId::new("t").unwrap(),
                Nonce([1; 16]),
                Some(&env),
                digest,
                now(),
                &mut rng,
            )
            .unwrap();
        let parsed = PkiMessage::parse(&msg).unwrap();
        assert_eq!(parsed.digest_algorithm(), digest);
        let resp = s
            .handle("PKIOperation", Some(&msg), now(), &mut rng)
            .unwrap();
        assert!(matches!(resp.outcome, Outcome::Issued(_)), "{digest:?}");
    }
}

#[test]
fn get_with_base64_and_ber_input() {
    let mut rng = TestRng::new(4);
    let s = server();
    let req = requester(&mut rng);
    let (msg, _, _) = pkcs_req(
        &req,
        &mut rng,
        Some(CHALLENGE),
        ContentEncryption::Aes128Cbc,
    );
    let b64 = base64::engine::general_purpose::STANDARD.encode(&msg);
    let resp = s
        .handle("PKIOperation", Some(b64.as_bytes()), now(), &mut rng)
        .unwrap();
    assert!(matches!(resp.outcome, Outcome::Issued(_)));

    let (msg, _, _) = pkcs_req(
        &req,
        &mut rng,
        Some(CHALLENGE),
        ContentEncryption::Aes128Cbc,
    );
    let ber = berify(&msg, 100);
    assert_ne!(ber, msg);
    assert_eq!(&*pippin_ber::to_der(&ber).unwrap(), &msg[..]);
    let resp = s
        .handle("PKIOperation", Some(&ber), now(), &mut rng)
        .unwrap();
    assert!(matches!(resp.outcome, Outcome::Issued(_)));
}

fn expect_rejected(resp: &scep::ScepResponse, fail: FailInfo) {
    match &resp.outcome {
        Outcome::Rejected(r) => assert_eq!(r.fail_info, fail, "reason: {}", r.reason),
        other => panic!("expected rejection, got {other:?}"),
    }
}

#[test]
fn wrong_or_missing_challenge_is_a_failure_cert_rep() {
    let mut rng = TestRng::new(5);
    let s = server();
    let req = requester(&mut rng);
    for challenge in [Some("wrong"), None] {
        let (msg, nonce, tid) = pkcs_req(&req, &mut rng, challenge, ContentEncryption::Aes256Cbc);
        let resp = s
            .handle("PKIOperation", Some(&msg), now(), &mut rng)
            .unwrap();
        expect_rejected(&resp, FailInfo::BadRequest);
        let Outcome::Rejected(r) = &resp.outcome else {
            unreachable!()
        };
        assert!(matches!(r.reason, Error::ChallengeRejected(_)));
        // The wire form: signed CertRep, FAILURE, badRequest, no content.
        let rep = req.read_cert_rep(&resp.body, &mut rng).unwrap();
        assert_eq!(rep.attributes.pki_status, Some(PkiStatus::Failure));
        assert_eq!(rep.attributes.fail_info, Some(FailInfo::BadRequest));
        assert_eq!(rep.attributes.recipient_nonce, Some(nonce));
        assert_eq!(rep.attributes.transaction_id, tid);
        assert!(rep.certificates.is_empty());
        let parsed = PkiMessage::parse(&resp.body).unwrap();
        assert_eq!(parsed.content(), Some(&[][..]));
    }
}

#[test]
fn one_time_challenge_is_used_once() {
    let mut rng = TestRng::new(6);
    let otc = Arc::new(OneTimeChallenges::new());
    let challenge = otc
        .generate(&mut rng, Some(now() + Duration::from_secs(60)))
        .unwrap();
    let s = ScepServer::new(Arc::new(ScepConfig::new(ca(), otc.clone())));
    let req = requester(&mut rng);
    let (msg, _, _) = pkcs_req(
        &req,
        &mut rng,
        Some(&challenge),
        ContentEncryption::Aes256Cbc,
    );
    let resp = s
        .handle("PKIOperation", Some(&msg), now(), &mut rng)
        .unwrap();
    assert!(matches!(resp.outcome, Outcome::Issued(_)));
    let (msg, _, _) = pkcs_req(
        &req,
        &mut rng,
        Some(&challenge),
        ContentEncryption::Aes256Cbc,
    );
    let resp = s
        .handle("PKIOperation", Some(&msg), now(), &mut rng)
        .unwrap();
    expect_rejected(&resp, FailInfo::BadRequest);
    assert!(otc.is_empty());

    // Expired.
    let challenge = otc.generate(&mut rng, Some(now())).unwrap();
    let (msg, _, _) = pkcs_req(
        &req,
        &mut rng,
        Some(&challenge),
        ContentEncryption::Aes256Cbc,
    );
    let resp = s
        .handle(
            "PKIOperation",
            Some(&msg),
            now() + Duration::from_secs(1),
            &mut rng,
        )
        .unwrap();
    let Outcome::Rejected(r) = resp.outcome else {
        panic!()
    };
    assert!(matches!(
        r.reason,
        Error::ChallengeRejected(ChallengeRejection::Expired)
    ));
}

#[test]
fn renewal_with_current_certificate_needs_no_challenge() {
    let mut rng = TestRng::new(7);
    let s = server();
    let req = requester(&mut rng);
    let (msg, _, _) = pkcs_req(
        &req,
        &mut rng,
        Some(CHALLENGE),
        ContentEncryption::Aes256Cbc,
    );
    let resp = s
        .handle("PKIOperation", Some(&msg), now(), &mut rng)
        .unwrap();
    let Outcome::Issued(first) = resp.outcome else {
        panic!()
    };

    // The device signs with the certificate it got, for a new request
    // without a challenge.
    let current = Requester::new(first.certificate.clone(), rsa_key(REQUESTER_KEY)).unwrap();
    let renew = |at, rng: &mut TestRng| {
        let csr = current
            .certification_request("CN=device-1", None, rng)
            .unwrap();
        current
            .request(
                MessageType::RenewalReq,
                &csr,
                ca().certificate_der(),
                ContentEncryption::Aes256Cbc,
                &TransactionId::new("renew-1").unwrap(),
                Nonce::random(rng),
                at,
                rng,
            )
            .unwrap()
    };
    let later = now() + Duration::from_secs(200 * 86400);
    let msg = renew(later, &mut rng);
    let resp = s
        .handle("PKIOperation", Some(&msg), later, &mut rng)
        .unwrap();
    let Outcome::Issued(second) = &resp.outcome else {
        panic!("{:?}", resp.outcome)
    };
    assert_eq!(second.renewal_of.as_deref(), Some(&first.certificate[..]));
    // The reply is encrypted to the old certificate's key.
    let rep = current.read_cert_rep(&resp.body, &mut rng).unwrap();
    assert_eq!(rep.certificates[0], second.certificate);

    // After the old certificate expired, a renewal needs a challenge.
    let expired = now() + Duration::from_secs(400 * 86400);
    let msg = renew(expired, &mut rng);
    let resp = s
        .handle("PKIOperation", Some(&msg), expired, &mut rng)
        .unwrap();
    let Outcome::Rejected(r) = resp.outcome else {
        panic!()
    };
    assert!(matches!(
        r.reason,
        Error::ChallengeRejected(ChallengeRejection::Missing)
    ));

    // A RenewalReq signed by a self-signed certificate needs a challenge too.
    let csr = req
        .certification_request("CN=device-1", None, &mut rng)
        .unwrap();
    let msg = req
        .request(
            MessageType::RenewalReq,
            &csr,
            ca().certificate_der(),
            ContentEncryption::Aes256Cbc,
            &TransactionId::new("renew-2").unwrap(),
            Nonce::random(&mut rng),
            now(),
            &mut rng,
        )
        .unwrap();
    let resp = s
        .handle("PKIOperation", Some(&msg), now(), &mut rng)
        .unwrap();
    expect_rejected(&resp, FailInfo::BadRequest);

    // With renewal turned off, RenewalReq is refused.
    let off = server_with(|c| {
        c.renewal(false);
    });
    let msg = renew(later, &mut rng);
    let resp = off
        .handle("PKIOperation", Some(&msg), later, &mut rng)
        .unwrap();
    expect_rejected(&resp, FailInfo::BadRequest);
}

#[test]
fn other_message_types_are_refused() {
    let mut rng = TestRng::new(8);
    let s = server();
    let req = requester(&mut rng);
    let tid = TransactionId::new("t-1").unwrap();
    for (mt, fail) in [
        (MessageType::Other(99), FailInfo::BadRequest),
        (MessageType::GetCert, FailInfo::BadRequest),
        (MessageType::GetCrl, FailInfo::BadRequest),
        (MessageType::UpdateReq, FailInfo::BadRequest),
        (MessageType::CertRep, FailInfo::BadRequest),
        (MessageType::CertPoll, FailInfo::BadCertId),
    ] {
        let env = scep::client::envelope(
            b"\x30\x00",
            ca().certificate_der(),
            ContentEncryption::Aes128Cbc,
            &mut rng,
        )
        .unwrap();
        let msg = req
            .sign_message(
                mt,
                &tid,
                Nonce([2; 16]),
                Some(&env),
                DigestAlgorithm::Sha256,
                now(),
                &mut rng,
            )
            .unwrap();
        let resp = s
            .handle("PKIOperation", Some(&msg), now(), &mut rng)
            .unwrap();
        expect_rejected(&resp, fail);
    }
}

#[test]
fn undecryptable_or_garbled_envelope_is_bad_message_check() {
    let mut rng = TestRng::new(9);
    let s = server();
    let req = requester(&mut rng);
    let tid = TransactionId::new("t-2").unwrap();
    // Encrypted to the requester, not to the CA.
    let wrong_recipient = scep::client::envelope(
        b"\x30\x00",
        req.certificate_der(),
        ContentEncryption::Aes128Cbc,
        &mut rng,
    )
    .unwrap();
    // Encrypted to the CA, but the plaintext is not a CSR.
    let not_a_csr = scep::client::envelope(
        b"hello",
        ca().certificate_der(),
        ContentEncryption::Aes128Cbc,
        &mut rng,
    )
    .unwrap();
    for env in [wrong_recipient, not_a_csr, b"\x30\x00".to_vec()] {
        let msg = req
            .sign_message(
                MessageType::PkcsReq,
                &tid,
                Nonce([3; 16]),
                Some(&env),
                DigestAlgorithm::Sha256,
                now(),
                &mut rng,
            )
            .unwrap();
        let resp = s
            .handle("PKIOperation", Some(&msg), now(), &mut rng)
            .unwrap();
        expect_rejected(&resp, FailInfo::BadMessageCheck);
    }
}

#[test]
fn weak_key_is_bad_alg() {
    let mut rng = TestRng::new(11);
    let s = server();
    let weak = Requester::self_signed("CN=weak", rsa_key(WEAK_KEY), now(), &mut rng).unwrap();
    let (msg, _, _) = pkcs_req(
        &weak,
        &mut rng,
        Some(CHALLENGE),
        ContentEncryption::Aes256Cbc,
    );
    let resp = s
        .handle("PKIOperation", Some(&msg), now(), &mut rng)
        .unwrap();
    expect_rejected(&resp, FailInfo::BadAlg);
    let Outcome::Rejected(r) = resp.outcome else {
        panic!()
    };
    assert!(matches!(
        r.reason,
        Error::WeakKey {
            bits: 1024,
            min: 2048
        }
    ));

    // Accepted when the policy allows it.
    let lax = server_with(|c| {
        let mut o = scep::IssueOptions::default();
        o.min_rsa_bits(1024).validity_days(30);
        c.issue_options(o);
    });
    let (msg, _, _) = pkcs_req(
        &weak,
        &mut rng,
        Some(CHALLENGE),
        ContentEncryption::Aes256Cbc,
    );
    let resp = lax
        .handle("PKIOperation", Some(&msg), now(), &mut rng)
        .unwrap();
    assert!(matches!(resp.outcome, Outcome::Issued(_)));
}

#[test]
fn tampering_is_an_error() {
    let mut rng = TestRng::new(12);
    let s = server();
    let req = requester(&mut rng);
    let (msg, _, _) = pkcs_req(
        &req,
        &mut rng,
        Some(CHALLENGE),
        ContentEncryption::Aes256Cbc,
    );

    // Flip a bit in the signature (the last octets of the message).
    let mut bad_sig = msg.clone();
    let n = bad_sig.len();
    bad_sig[n - 5] ^= 0x01;
    assert!(matches!(
        s.handle("PKIOperation", Some(&bad_sig), now(), &mut rng),
        Err(Error::BadSignature)
    ));

    // Flip a bit in the encapsulated content: the digest no longer matches.
    let parsed = PkiMessage::parse(&msg).unwrap();
    let content = parsed.content().unwrap();
    let at = msg
        .windows(content.len())
        .position(|w| w == content)
        .unwrap();
    let mut bad_content = msg.clone();
    bad_content[at + content.len() - 3] ^= 0x80;
    assert!(matches!(
        s.handle("PKIOperation", Some(&bad_content), now(), &mut rng),
        Err(Error::DigestMismatch)
    ));
}

#[test]
fn truncated_and_garbage_input_never_panics() {
    let mut rng = TestRng::new(13);
    let s = server();
    let req = requester(&mut rng);
    let (msg, _, _) = pkcs_req(
        &req,
        &mut rng,
        Some(CHALLENGE),
        ContentEncryption::Aes256Cbc,
    );
    for len in 0..msg.len() {
        let r = s.handle("PKIOperation", Some(&msg[..len]), now(), &mut rng);
        assert!(r.is_err(), "truncated to {len} accepted");
    }
    // Single-byte corruption at many offsets: an error or a FAILURE, never a panic.
    for at in (0..msg.len()).step_by(7) {
        let mut m = msg.clone();
        m[at] = m[at].wrapping_add(0x5b);
        match s.handle("PKIOperation", Some(&m), now(), &mut rng) {
            Err(_) => {}
            Ok(r) => assert!(!matches!(r.outcome, Outcome::Capabilities)),
        }
    }
    for garbage in [
        &b""[..],
        b"\x30",
        b"\x30\x80",
        b"\x30\x84\xff\xff\xff\xff",
        b"MIIB",
        b"\xff\xfe",
    ] {
        let _ = s.handle("PKIOperation", Some(garbage), now(), &mut rng);
    }
}

#[test]
fn oversized_input_is_rejected() {
    let mut rng = TestRng::new(14);
    let s = server();
    let big = vec![0x30u8; scep::MAX_MESSAGE_LEN + 1];
    assert!(matches!(
        s.handle("PKIOperation", Some(&big), now(), &mut rng),
        Err(Error::TooLarge { .. })
    ));
    let big_b64 = vec![b'M'; scep::MAX_BASE64_LEN + 1];
    assert!(matches!(
        s.handle("PKIOperation", Some(&big_b64), now(), &mut rng),
        Err(Error::TooLarge { .. })
    ));
}

#[test]
fn generated_ca_roundtrips_through_pem() {
    let mut rng = TestRng::new(15);
    let ca = scep::CertificateAuthority::generate_self_signed(
        "CN=Generated CA,O=Pippin",
        now(),
        &mut rng,
    )
    .unwrap();
    let cert = ca.certificate().unwrap();
    assert_eq!(
        cert.tbs_certificate().subject().to_string(),
        "CN=Generated CA,O=Pippin"
    );
    assert!(ca.has_issued(ca.certificate_der(), now()));
    let cert_pem = ca.certificate_pem().unwrap();
    let key_pem = ca.private_key_pem().unwrap();
    assert!(cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    let back =
        scep::CertificateAuthority::from_pem(cert_pem.as_bytes(), key_pem.as_bytes()).unwrap();
    assert_eq!(back.certificate_der(), ca.certificate_der());

    // A mismatched key is refused.
    assert!(matches!(
        scep::CertificateAuthority::from_pem(cert_pem.as_bytes(), CA_KEY),
        Err(Error::CaConfig(_))
    ));
    assert!(scep::CertificateAuthority::from_pem(b"nothing", CA_KEY).is_err());
}

/// Writes real messages as the seed corpus of the `scep_message` fuzz
/// target: `cargo test -p scep --test enroll -- --ignored write_fuzz_seeds`.
#[test]
#[ignore = "writes fuzz/corpus/scep_message"]
fn write_fuzz_seeds() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/scep_message");
    std::fs::create_dir_all(&dir).unwrap();
    let mut rng = TestRng::new(0xf0221);
    let s = server();
    let req = requester(&mut rng);
    let write = |name: &str, data: &[u8]| std::fs::write(dir.join(name), data).unwrap();

    let (aes, _, _) = pkcs_req(
        &req,
        &mut rng,
        Some(CHALLENGE),
        ContentEncryption::Aes256Cbc,
    );
    write("pkcsreq-aes256-sha256", &aes);
    let (des, _, _) = pkcs_req(
        &req,
        &mut rng,
        Some(CHALLENGE),
        ContentEncryption::DesEde3Cbc,
    );
    write("pkcsreq-des3-sha256", &des);
    write("pkcsreq-aes256-ber", &berify(&aes, 64));
    let (wrong, _, _) = pkcs_req(&req, &mut rng, Some("wrong"), ContentEncryption::Aes128Cbc);
    write("pkcsreq-wrong-challenge", &wrong);

    let ok = s
        .handle("PKIOperation", Some(&aes), now(), &mut rng)
        .unwrap();
    write("certrep-success", &ok.body);
    let failed = s
        .handle("PKIOperation", Some(&wrong), now(), &mut rng)
        .unwrap();
    write("certrep-failure", &failed.body);

    let Outcome::Issued(issued) = ok.outcome else {
        panic!()
    };
    let current = Requester::new(issued.certificate, rsa_key(REQUESTER_KEY)).unwrap();
    let csr = current
        .certification_request("CN=device-1", None, &mut rng)
        .unwrap();
    let renewal = current
        .request(
            MessageType::RenewalReq,
            &csr,
            ca().certificate_der(),
            ContentEncryption::Aes256Cbc,
            &TransactionId::new("renewal").unwrap(),
            Nonce::random(&mut rng),
            now(),
            &mut rng,
        )
        .unwrap();
    write("renewalreq-aes256", &renewal);
}
