//! What must not verify, and input that must not panic: tampering, wrong
//! certificates, odd structures built by hand, truncation, garbage, limits.

use apple_mdm_protocol::signature::{
    MAX_CERTIFICATES, MAX_CMS_LEN, MAX_HEADER_LEN, SignatureError, SigningIdentity,
    verify_attached, verify_detached, verify_mdm_signature,
};
use base64::Engine as _;
use der::{DecodePem, Encode};
use p256::ecdsa::{DerSignature, SigningKey};
use p256::pkcs8::DecodePrivateKey;
use proptest::prelude::*;
use signature::Signer;
use x509_cert::Certificate;

const BODY: &[u8] = include_bytes!("fixtures/sig-body.plist");
const RSA_DETACHED: &[u8] = include_bytes!("fixtures/sig-rsa-sha256-detached.der");
const RSA_NOATTR_DETACHED: &[u8] = include_bytes!("fixtures/sig-rsa-sha256-noattr-detached.der");
const P256_DETACHED: &[u8] = include_bytes!("fixtures/sig-p256-sha256-detached.der");
const BER_ATTACHED: &[u8] = include_bytes!("fixtures/sig-rsa-ber-attached.der");
const CHAIN_DETACHED: &[u8] = include_bytes!("fixtures/sig-leaf-chain-detached.der");

fn b64(der: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(der)
}

#[test]
fn tampered_body_fails() {
    let mut body = BODY.to_vec();
    body[100] ^= 1;
    for sig in [RSA_DETACHED, P256_DETACHED, CHAIN_DETACHED] {
        assert!(matches!(
            verify_detached(sig, &body),
            Err(SignatureError::DigestMismatch)
        ));
    }
    // Without signed attributes the signature itself fails.
    assert!(matches!(
        verify_detached(RSA_NOATTR_DETACHED, &body),
        Err(SignatureError::BadSignature)
    ));
    // Appending or dropping a byte is tampering too.
    let mut longer = BODY.to_vec();
    longer.push(b'\n');
    assert!(verify_detached(RSA_DETACHED, &longer).is_err());
    assert!(verify_detached(RSA_DETACHED, &BODY[..BODY.len() - 1]).is_err());
    assert!(verify_detached(RSA_DETACHED, b"").is_err());
}

#[test]
fn tampered_signed_attributes_fail() {
    let id =
        SigningIdentity::from_pem(fixture("sig-rsa-cert.pem"), fixture("sig-rsa-key.pem")).unwrap();
    let signed = id.sign_detached_at(BODY, 1_700_000_000).unwrap();
    verify_detached(&signed, BODY).unwrap();
    // The signing time, 2023-11-14T22:13:20Z, as UTCTime.
    let at = find(&signed, b"231114221320Z");
    let mut tampered = signed.clone();
    tampered[at + 11] = b'1';
    assert!(matches!(
        verify_detached(&tampered, BODY),
        Err(SignatureError::BadSignature)
    ));
    // The signature value itself.
    let mut tampered = signed.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 0x01;
    assert!(matches!(
        verify_detached(&tampered, BODY),
        Err(SignatureError::BadSignature)
    ));
}

fn fixture(name: &str) -> &'static [u8] {
    match name {
        "sig-rsa-cert.pem" => include_bytes!("fixtures/sig-rsa-cert.pem"),
        "sig-rsa-key.pem" => include_bytes!("fixtures/sig-rsa-key.pem"),
        "sig-p256-cert.pem" => include_bytes!("fixtures/sig-p256-cert.pem"),
        "sig-p256-key.pem" => include_bytes!("fixtures/sig-p256-key.pem"),
        "sig-ec-leaf-key.pem" => include_bytes!("fixtures/sig-ec-leaf-key.pem"),
        "sig-ca-cert.pem" => include_bytes!("fixtures/sig-ca-cert.pem"),
        _ => panic!("no fixture {name}"),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("needle present")
}

#[test]
fn changing_the_signers_key_fails() {
    // The bag's certificate, with one byte of its RSA modulus changed: the
    // certificate still matches the signer identifier, the key does not.
    let cert = Certificate::from_pem(fixture("sig-rsa-cert.pem")).unwrap();
    let spki = cert
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .unwrap();
    let at = find(RSA_DETACHED, &spki) + 100;
    let mut changed = RSA_DETACHED.to_vec();
    changed[at] ^= 0x10;
    assert!(matches!(
        verify_detached(&changed, BODY),
        Err(SignatureError::BadSignature)
    ));
}

fn pem_to_der(pem: &[u8]) -> Vec<u8> {
    Certificate::from_pem(pem).unwrap().to_der().unwrap()
}

#[test]
fn truncation_at_every_offset_fails_cleanly() {
    for sig in [RSA_DETACHED, P256_DETACHED, CHAIN_DETACHED] {
        for len in 0..sig.len() {
            assert!(
                verify_detached(&sig[..len], BODY).is_err(),
                "prefix of {len} bytes verified"
            );
        }
    }
    for len in 0..BER_ATTACHED.len() {
        assert!(verify_attached(&BER_ATTACHED[..len]).is_err());
    }
}

#[test]
fn flipping_any_byte_never_panics() {
    for (sig, masks) in [
        (P256_DETACHED, &[0x01, 0x80, 0xFF][..]),
        (CHAIN_DETACHED, &[0x80]),
    ] {
        for i in 0..sig.len() {
            for &mask in masks {
                let mut m = sig.to_vec();
                m[i] ^= mask;
                let _ = verify_detached(&m, BODY);
            }
        }
    }
    for i in 0..BER_ATTACHED.len() {
        let mut m = BER_ATTACHED.to_vec();
        m[i] ^= 0x80;
        let _ = verify_attached(&m);
    }
}

#[test]
fn header_garbage_and_limits() {
    assert!(matches!(
        verify_mdm_signature("not base64!", BODY),
        Err(SignatureError::Base64(_))
    ));
    assert!(matches!(
        verify_mdm_signature("", BODY),
        Err(SignatureError::Ber(_))
    ));
    assert!(matches!(
        verify_mdm_signature(&b64(b"\x30\x03\x02\x01\x01"), BODY),
        Err(SignatureError::Malformed { .. })
    ));
    let huge = "A".repeat(MAX_HEADER_LEN + 1);
    assert!(matches!(
        verify_mdm_signature(&huge, BODY),
        Err(SignatureError::HeaderTooLong { .. })
    ));
    let big = vec![0u8; MAX_CMS_LEN + 1];
    assert!(matches!(
        verify_attached(&big),
        Err(SignatureError::TooLarge { .. })
    ));
    // Trailing bytes after the ContentInfo.
    let mut trailing = RSA_DETACHED.to_vec();
    trailing.push(0);
    assert!(matches!(
        verify_detached(&trailing, BODY),
        Err(SignatureError::Ber(_))
    ));
}

// ---------------------------------------------------------------------------
// SignedData built by hand, to reach structures neither OpenSSL nor our
// signer produce.

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend_from_slice(&[0x81, len as u8]);
    } else {
        out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
    }
    out.extend_from_slice(content);
    out
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn oid(dotted: &str) -> Vec<u8> {
    der::asn1::ObjectIdentifier::new(dotted)
        .unwrap()
        .to_der()
        .unwrap()
}

fn digest(data: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(data).to_vec()
}

const SHA256: &str = "2.16.840.1.101.3.4.2.1";
const DATA: &str = "1.2.840.113549.1.7.1";
const ECDSA_SHA256: &str = "1.2.840.10045.4.3.2";

fn attr(kind: &str, value: &[u8]) -> Vec<u8> {
    tlv(0x30, &cat(&[&oid(kind), &tlv(0x31, value)]))
}

fn content_type_attr() -> Vec<u8> {
    attr("1.2.840.113549.1.9.3", &oid(DATA))
}

fn digest_attr(content: &[u8]) -> Vec<u8> {
    attr("1.2.840.113549.1.9.4", &tlv(0x04, &digest(content)))
}

/// The parts of a hand-built `SignedData`, signed with a P-256 key.
struct Build {
    certs: Vec<Vec<u8>>,
    signer_cert: Certificate,
    key: SigningKey,
    /// The signed attributes, in the order given (`None`: no signed
    /// attributes).
    attrs: Option<Vec<Vec<u8>>>,
    digest_alg: Vec<u8>,
    sig_alg: Vec<u8>,
    signer_infos: usize,
    content_type: Vec<u8>,
    use_ski: bool,
}

impl Build {
    fn new() -> Self {
        let cert = Certificate::from_pem(fixture("sig-p256-cert.pem")).unwrap();
        let key_pem = std::str::from_utf8(fixture("sig-p256-key.pem")).unwrap();
        Self {
            certs: vec![cert.to_der().unwrap()],
            signer_cert: cert,
            key: SigningKey::from_pkcs8_pem(key_pem).unwrap(),
            attrs: Some(vec![content_type_attr(), digest_attr(BODY)]),
            digest_alg: tlv(0x30, &oid(SHA256)),
            sig_alg: tlv(0x30, &oid(ECDSA_SHA256)),
            signer_infos: 1,
            content_type: oid(DATA),
            use_ski: false,
        }
    }

    fn der(&self) -> Vec<u8> {
        let tbs = self.signer_cert.tbs_certificate();
        let sid = if self.use_ski {
            use x509_cert::ext::pkix::SubjectKeyIdentifier;
            let (_, ski) = tbs
                .get_extension::<SubjectKeyIdentifier>()
                .unwrap()
                .unwrap();
            tlv(0x80, ski.0.as_bytes())
        } else {
            tlv(
                0x30,
                &cat(&[
                    &tbs.issuer().to_der().unwrap(),
                    &tbs.serial_number().to_der().unwrap(),
                ]),
            )
        };
        let (signed_attrs, signature) = match &self.attrs {
            Some(attrs) => {
                let set = tlv(0x31, &attrs.concat());
                let sig: DerSignature = self.key.sign(&set);
                let mut implicit = set.clone();
                implicit[0] = 0xA0;
                (implicit, sig.as_bytes().to_vec())
            }
            None => {
                let sig: DerSignature = self.key.sign(BODY);
                (Vec::new(), sig.as_bytes().to_vec())
            }
        };
        let signer_info = tlv(
            0x30,
            &cat(&[
                &[0x02, 0x01, 0x01],
                &sid,
                &self.digest_alg,
                &signed_attrs,
                &self.sig_alg,
                &tlv(0x04, &signature),
            ]),
        );
        let signer_infos = signer_info.repeat(self.signer_infos);
        let signed_data = tlv(
            0x30,
            &cat(&[
                &[0x02, 0x01, 0x01],
                &tlv(0x31, &self.digest_alg),
                &tlv(0x30, &self.content_type),
                &tlv(0xA0, &self.certs.concat()),
                &tlv(0x31, &signer_infos),
            ]),
        );
        tlv(
            0x30,
            &cat(&[&oid("1.2.840.113549.1.7.2"), &tlv(0xA0, &signed_data)]),
        )
    }

    fn verify(&self) -> Result<(), SignatureError> {
        verify_detached(&self.der(), BODY).map(|_| ())
    }
}

#[test]
fn hand_built_baseline_verifies() {
    Build::new().verify().unwrap();
    let mut b = Build::new();
    b.use_ski = true;
    b.verify().unwrap();
    let mut b = Build::new();
    b.attrs = None;
    b.verify().unwrap();
}

#[test]
fn signed_attributes_are_verified_as_sent_not_re_sorted() {
    // DER would sort the SET OF by encoding: message-digest (longer) after
    // content-type. A signer that did not sort signed this order, and
    // RFC 5652 has the verifier use the bytes as sent.
    let mut b = Build::new();
    b.attrs = Some(vec![digest_attr(BODY), content_type_attr()]);
    b.verify().unwrap();
    // Extra attributes we do not interpret are allowed, in any order.
    let mut b = Build::new();
    b.attrs = Some(vec![
        attr("1.2.840.113549.1.9.52", &tlv(0x30, &oid(SHA256))),
        digest_attr(BODY),
        content_type_attr(),
    ]);
    b.verify().unwrap();
}

#[test]
fn bad_signed_attributes_fail() {
    let cases: Vec<(Vec<Vec<u8>>, &str)> = vec![
        (vec![digest_attr(BODY)], "missing content-type"),
        (vec![content_type_attr()], "missing message-digest"),
        (
            vec![content_type_attr(), digest_attr(BODY), digest_attr(BODY)],
            "two message-digests",
        ),
        (
            vec![
                content_type_attr(),
                attr(
                    "1.2.840.113549.1.9.4",
                    &cat(&[&tlv(0x04, &digest(BODY)), &tlv(0x04, &digest(BODY))]),
                ),
            ],
            "two message-digest values",
        ),
        (
            vec![
                content_type_attr(),
                attr("1.2.840.113549.1.9.4", &tlv(0x0C, &digest(BODY))),
            ],
            "message-digest not an OCTET STRING",
        ),
        (
            vec![content_type_attr(), attr("1.2.840.113549.1.9.4", &[])],
            "no value",
        ),
        (
            vec![
                attr("1.2.840.113549.1.9.3", &oid("1.2.840.113549.1.7.2")),
                digest_attr(BODY),
            ],
            "content-type not id-data",
        ),
        (
            vec![content_type_attr(), digest_attr(b"another body")],
            "digest of something else",
        ),
        (vec![], "empty set"),
    ];
    for (attrs, what) in cases {
        let mut b = Build::new();
        b.attrs = Some(attrs);
        let e = b.verify().unwrap_err();
        let expected = match what {
            "missing content-type" | "missing message-digest" => {
                matches!(e, SignatureError::MissingSignedAttribute { .. })
            }
            "content-type not id-data" => matches!(e, SignatureError::ContentTypeMismatch),
            "digest of something else" => matches!(e, SignatureError::DigestMismatch),
            "empty set" => matches!(e, SignatureError::Malformed { .. }),
            _ => matches!(e, SignatureError::BadSignedAttribute { .. }),
        };
        assert!(expected, "{what}: {e:?}");
    }
}

#[test]
fn wrong_key_wrong_cert_and_structure_fail() {
    // Signed by another P-256 key than the certificate's.
    let mut b = Build::new();
    let key_pem = std::str::from_utf8(fixture("sig-ec-leaf-key.pem")).unwrap();
    b.key = SigningKey::from_pkcs8_pem(key_pem).unwrap();
    assert!(matches!(b.verify(), Err(SignatureError::BadSignature)));

    // The bag holds only an unrelated certificate.
    let mut b = Build::new();
    b.certs = vec![pem_to_der(fixture("sig-rsa-cert.pem"))];
    assert!(matches!(
        b.verify(),
        Err(SignatureError::NoSignerCertificate)
    ));

    // Two signers.
    let mut b = Build::new();
    b.signer_infos = 2;
    assert!(matches!(
        b.verify(),
        Err(SignatureError::MultipleSignerInfos { count: 2 })
    ));
    let mut b = Build::new();
    b.signer_infos = 0;
    assert!(matches!(b.verify(), Err(SignatureError::NoSignerInfo)));

    // Too many certificates.
    let mut b = Build::new();
    b.certs = vec![b.certs[0].clone(); MAX_CERTIFICATES + 1];
    assert!(matches!(
        b.verify(),
        Err(SignatureError::TooManyCertificates { .. })
    ));
    // At the limit is fine.
    let mut b = Build::new();
    b.certs = vec![b.certs[0].clone(); MAX_CERTIFICATES];
    b.verify().unwrap();

    // Content that is not id-data.
    let mut b = Build::new();
    b.content_type = oid("1.2.840.113549.1.9.16.1.4");
    assert!(matches!(
        b.verify(),
        Err(SignatureError::UnsupportedContentType { .. })
    ));
}

#[test]
fn unsupported_algorithms_are_named() {
    // MD5.
    let mut b = Build::new();
    b.digest_alg = tlv(0x30, &oid("1.2.840.113549.2.5"));
    assert!(matches!(
        b.verify(),
        Err(SignatureError::UnsupportedDigestAlgorithm { .. })
    ));
    // RSASSA-PSS.
    let mut b = Build::new();
    b.sig_alg = tlv(0x30, &oid("1.2.840.113549.1.1.10"));
    assert!(matches!(
        b.verify(),
        Err(SignatureError::UnsupportedSignatureAlgorithm { .. })
    ));
    // An RSA algorithm with an EC key.
    let mut b = Build::new();
    b.sig_alg = tlv(0x30, &cat(&[&oid("1.2.840.113549.1.1.11"), &[0x05, 0x00]]));
    assert!(matches!(
        b.verify(),
        Err(SignatureError::AlgorithmMismatch { .. })
    ));
    // ecdsa-with-SHA384 while the digest algorithm says SHA-256.
    let mut b = Build::new();
    b.sig_alg = tlv(0x30, &oid("1.2.840.10045.4.3.3"));
    assert!(matches!(
        b.verify(),
        Err(SignatureError::AlgorithmMismatch { .. })
    ));
    // Parameters that are neither absent nor NULL.
    let mut b = Build::new();
    b.digest_alg = tlv(0x30, &cat(&[&oid(SHA256), &[0x02, 0x01, 0x00]]));
    assert!(matches!(
        b.verify(),
        Err(SignatureError::BadAlgorithmParameters { .. })
    ));
}

#[test]
fn not_signed_data_is_named() {
    let enveloped = tlv(
        0x30,
        &cat(&[&oid("1.2.840.113549.1.7.3"), &tlv(0xA0, &[0x30, 0x00])]),
    );
    assert!(matches!(
        verify_attached(&enveloped),
        Err(SignatureError::NotSignedData { .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = verify_detached(&bytes, BODY);
        let _ = verify_attached(&bytes);
    }

    #[test]
    fn mutated_signatures_never_panic(
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        cut in any::<usize>(),
    ) {
        let mut m = CHAIN_DETACHED.to_vec();
        for (at, byte) in edits {
            let i = at % m.len();
            m[i] = byte;
        }
        let cut = cut % (m.len() + 1);
        let _ = verify_detached(&m[..cut], BODY);
        let _ = verify_detached(&m, BODY);
    }

    #[test]
    fn mutated_ber_never_panics(
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
    ) {
        let mut m = BER_ATTACHED.to_vec();
        for (at, byte) in edits {
            let i = at % m.len();
            m[i] = byte;
        }
        let _ = verify_attached(&m);
    }
}
