//! Building the server's messages: the `CertRep` `pkiMessage`
//! (RFC 8894 §3.3.2) and the degenerate certificates-only `SignedData`
//! (RFC 8894 §3.4, RFC 5652 §5.2) that carries certificates.

use std::time::Duration;

use crate::attributes::{FailInfo, MessageType, Nonce, PkiStatus, ScepAttributes};
use crate::ca::CertificateAuthority;
use crate::cert::{CertView, encode_time};
use crate::crypto::DigestAlgorithm;
use crate::error::Result;
use crate::oid;
use crate::tlv::{self, tag};

/// A degenerate certificates-only `SignedData` in a `ContentInfo`: no
/// content, no signers, the certificates in the order given (RFC 8894 §3.4:
/// the issued certificate first, then its chain).
///
/// ```
/// let p7 = scep::degenerate_certificates(&[]);
/// assert_eq!(p7[0], 0x30);
/// ```
pub fn degenerate_certificates(certs: &[&[u8]]) -> Vec<u8> {
    let sd = tlv::sequence(&[
        &tlv::small_int(1),
        &tlv::constructed(tag::SET, &[]),
        &tlv::sequence(&[&tlv::oid(&oid::ID_DATA)]),
        &tlv::constructed(tag::context(0), certs),
        &tlv::constructed(tag::SET, &[]),
    ]);
    tlv::sequence(&[
        &tlv::oid(&oid::ID_SIGNED_DATA),
        &tlv::constructed(tag::context(0), &[&sd]),
    ])
}

/// What a `CertRep` reports.
pub(crate) enum Status {
    /// `SUCCESS`, with the `pkcsPKIEnvelope` to carry.
    Success(Vec<u8>),
    /// `FAILURE`, with its reason.
    Failure(FailInfo),
}

/// Builds a `CertRep` answering a request with attributes `request`.
///
/// The response carries the request's `transactionID`, its `senderNonce` as
/// `recipientNonce`, a fresh `senderNonce`, and is signed by the CA with
/// SHA-256 and RSA. A `FAILURE` carries an empty content.
pub(crate) fn cert_rep<R: rand_core::CryptoRng + ?Sized>(
    ca: &CertificateAuthority,
    request: &ScepAttributes,
    status: Status,
    now: Duration,
    rng: &mut R,
) -> Result<Vec<u8>> {
    let (pki_status, fail_info, content) = match status {
        Status::Success(envelope) => (PkiStatus::Success, None, envelope),
        Status::Failure(f) => (PkiStatus::Failure, Some(f), Vec::new()),
    };
    let attrs = ScepAttributes {
        message_type: MessageType::CertRep,
        transaction_id: request.transaction_id.clone(),
        sender_nonce: Some(Nonce::random(rng)),
        recipient_nonce: request.sender_nonce,
        pki_status: Some(pki_status),
        fail_info,
    };
    sign(ca, &content, &attrs, now, rng)
}

/// A `SignedData` over `content` (as `id-data`) signed by the CA, with the
/// SCEP attributes `attrs` among the signed attributes and the CA
/// certificate and chain included.
pub(crate) fn sign<R: rand_core::CryptoRng + ?Sized>(
    ca: &CertificateAuthority,
    content: &[u8],
    attrs: &ScepAttributes,
    now: Duration,
    rng: &mut R,
) -> Result<Vec<u8>> {
    let mut certs: Vec<&[u8]> = vec![ca.certificate_der()];
    certs.extend(ca.chain().iter().map(Vec::as_slice));
    sign_with(
        ca.certificate_der(),
        ca.private_key(),
        &certs,
        DigestAlgorithm::Sha256,
        content,
        attrs,
        now,
        rng,
    )
}

/// A `SignedData` over `content` (as `id-data`) signed with `key`, the key
/// of `signer` (DER), using `digest` and RSA PKCS #1 v1.5, with `attrs`,
/// `contentType`, `messageDigest` and `signingTime` as signed attributes
/// and `certs` in the certificate set.
#[allow(clippy::too_many_arguments)]
pub(crate) fn sign_with<R: rand_core::CryptoRng + ?Sized>(
    signer: &[u8],
    key: &rsa::PrivateKey,
    certs: &[&[u8]],
    digest: DigestAlgorithm,
    content: &[u8],
    attrs: &ScepAttributes,
    now: Duration,
    rng: &mut R,
) -> Result<Vec<u8>> {
    let signer = CertView::parse(signer)?;
    let digest_alg = tlv::algorithm(&digest.oid(), false);

    let mut signed_attrs = attrs.encode_each();
    signed_attrs.push(crate::attributes::attribute(
        &oid::ID_CONTENT_TYPE,
        &tlv::oid(&oid::ID_DATA),
    ));
    signed_attrs.push(crate::attributes::attribute(
        &oid::ID_MESSAGE_DIGEST,
        &tlv::octet_string(&digest.digest(content)),
    ));
    signed_attrs.push(crate::attributes::attribute(
        &oid::ID_SIGNING_TIME,
        &encode_time(now)?,
    ));
    // DER-sorted SET; signed with the SET tag, sent with [0] IMPLICIT.
    let mut attr_set = tlv::set_of(signed_attrs);
    let signature = match digest {
        DigestAlgorithm::Sha1 => key.pkcs1v15_sign_with_rng::<sha1::Sha1, R>(rng, &attr_set)?,
        DigestAlgorithm::Sha224 => key.pkcs1v15_sign_with_rng::<sha2::Sha224, R>(rng, &attr_set)?,
        DigestAlgorithm::Sha256 => key.pkcs1v15_sign_with_rng::<sha2::Sha256, R>(rng, &attr_set)?,
        DigestAlgorithm::Sha384 => key.pkcs1v15_sign_with_rng::<sha2::Sha384, R>(rng, &attr_set)?,
        DigestAlgorithm::Sha512 => key.pkcs1v15_sign_with_rng::<sha2::Sha512, R>(rng, &attr_set)?,
    };
    attr_set[0] = tag::context(0);

    let signer_info = tlv::sequence(&[
        &tlv::small_int(1),
        &tlv::sequence(&[signer.issuer, &tlv::tlv(tag::INTEGER, signer.serial)]),
        &digest_alg,
        &attr_set,
        &tlv::algorithm(&oid::RSA_ENCRYPTION, true),
        &tlv::octet_string(&signature),
    ]);

    let sd = tlv::sequence(&[
        &tlv::small_int(1),
        &tlv::constructed(tag::SET, &[&digest_alg]),
        &tlv::sequence(&[
            &tlv::oid(&oid::ID_DATA),
            &tlv::constructed(tag::context(0), &[&tlv::octet_string(content)]),
        ]),
        &tlv::constructed(tag::context(0), certs),
        &tlv::constructed(tag::SET, &[&signer_info]),
    ]);
    Ok(tlv::sequence(&[
        &tlv::oid(&oid::ID_SIGNED_DATA),
        &tlv::constructed(tag::context(0), &[&sd]),
    ]))
}

/// The certificates of a degenerate `SignedData` (in a `ContentInfo`), DER,
/// in order.
pub fn certificates_from_degenerate(der: &[u8]) -> Result<Vec<Vec<u8>>> {
    use crate::error::{Error, ParseErrorKind, Structure};
    let m = |e| Error::malformed(Structure::PkiMessage, e);
    let der = tlv::to_der(der).map_err(m)?;
    let ci = tlv::read_single(&der)
        .map_err(m)?
        .expect(tag::SEQUENCE)
        .map_err(m)?;
    let mut r = ci.reader();
    let ct = r.read_tag(tag::OID).map_err(m)?;
    if ct.value != oid::ID_SIGNED_DATA.as_bytes() {
        return Err(m(ct.error(ParseErrorKind::InvalidValue)));
    }
    let explicit = r.read_tag(tag::context(0)).map_err(m)?;
    let sd = explicit.reader().read_tag(tag::SEQUENCE).map_err(m)?;
    let mut sr = sd.reader();
    let _version = sr.read_tag(tag::INTEGER).map_err(m)?;
    let _digests = sr.read_tag(tag::SET).map_err(m)?;
    let _eci = sr.read_tag(tag::SEQUENCE).map_err(m)?;
    let mut out = Vec::new();
    if let Some(certs) = sr.read_optional(tag::context(0)).map_err(m)? {
        let mut cr = certs.reader();
        while !cr.is_empty() {
            let c = cr.read().map_err(m)?;
            if c.tag == tag::SEQUENCE {
                if out.len() == crate::message::MAX_CERTIFICATES {
                    return Err(m(c.error(ParseErrorKind::TooManyElements)));
                }
                out.push(c.raw.to_vec());
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attributes::TransactionId;
    use crate::message::PkiMessage;
    use proptest::prelude::*;

    /// A counter-mode generator over SHA-256, for tests only.
    struct TestRng(u64);

    impl rand_core::TryRng for TestRng {
        type Error = core::convert::Infallible;
        fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
            Ok(self.try_next_u64()? as u32)
        }
        fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
            self.0 += 1;
            let d = crate::crypto::sha256(&self.0.to_le_bytes());
            Ok(u64::from_le_bytes([
                d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7],
            ]))
        }
        fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
            for c in dst.chunks_mut(8) {
                let v = self.try_next_u64()?.to_le_bytes();
                c.copy_from_slice(&v[..c.len()]);
            }
            Ok(())
        }
    }

    impl rand_core::TryCryptoRng for TestRng {}

    fn ca() -> CertificateAuthority {
        CertificateAuthority::from_pem(
            include_bytes!("../tests/fixtures/test-ca.pem"),
            include_bytes!("../tests/fixtures/test-ca.key"),
        )
        .unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(12))]

        /// A FAILURE CertRep carries the request's transaction ID, echoes its
        /// nonce, brings a fresh nonce of its own and verifies.
        #[test]
        fn cert_rep_echoes_transaction_and_nonce(
            id in "[ -~]{1,40}",
            nonce in proptest::option::of(any::<[u8; 16]>()),
            fail in 0u32..5,
            seed in any::<u64>(),
        ) {
            let mut rng = TestRng(seed);
            let request = ScepAttributes {
                message_type: MessageType::PkcsReq,
                transaction_id: TransactionId::new(id).unwrap(),
                sender_nonce: nonce.map(Nonce),
                recipient_nonce: None,
                pki_status: None,
                fail_info: None,
            };
            let fail = FailInfo::from_code(fail).unwrap();
            let der = cert_rep(&ca(), &request, Status::Failure(fail), Duration::from_secs(1_767_225_600), &mut rng).unwrap();
            let msg = PkiMessage::parse(&der).unwrap();
            let a = msg.attributes();
            prop_assert_eq!(a.message_type, MessageType::CertRep);
            prop_assert_eq!(&a.transaction_id, &request.transaction_id);
            prop_assert_eq!(a.recipient_nonce, request.sender_nonce);
            prop_assert!(a.sender_nonce.is_some());
            prop_assert_ne!(a.sender_nonce, request.sender_nonce);
            prop_assert_eq!(a.pki_status, Some(PkiStatus::Failure));
            prop_assert_eq!(a.fail_info, Some(fail));
            prop_assert_eq!(msg.content(), Some(&[][..]));
            let ca = ca();
            prop_assert_eq!(msg.signer_certificate(), ca.certificate_der());
        }

        #[test]
        fn degenerate_roundtrip(certs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..30), 0..5)) {
            let encoded: Vec<Vec<u8>> = certs.iter().map(|c| tlv::sequence(&[&tlv::octet_string(c)])).collect();
            let refs: Vec<&[u8]> = encoded.iter().map(Vec::as_slice).collect();
            let p7 = degenerate_certificates(&refs);
            prop_assert_eq!(certificates_from_degenerate(&p7).unwrap(), encoded);
        }
    }
}
