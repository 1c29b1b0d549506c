//! Reading and verifying a CMS `SignedData` (RFC 5652 §5).
//!
//! The outer structure is walked element by element over the DER form, so
//! that the signed attributes are verified over the bytes the signer sent
//! (RFC 5652 §5.4) rather than over a re-encoding. Leaves (certificates,
//! algorithm identifiers, issuer names) are decoded with the `der`,
//! `x509-cert`, `spki` and `cms` types.

use cms::cert::IssuerAndSerialNumber;
use der::Decode;
use der::asn1::ObjectIdentifier as Oid;
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_cert::ext::pkix::SubjectKeyIdentifier;
use x509_cert::time::Time;

use super::alg::{
    self, DigestAlgorithm, ID_CONTENT_TYPE, ID_DATA, ID_MESSAGE_DIGEST, ID_SIGNED_DATA,
    ID_SIGNING_TIME, PublicKey,
};
use super::{MAX_CERTIFICATES, MAX_CMS_LEN, SignatureError, VerifiedSigner};
use pippin_ber::{Reader as DerReader, Tlv};

// Tags (first identifier octet) used below (X.690 §8.1.2).
const INTEGER: u8 = 0x02;
const OCTET_STRING: u8 = 0x04;
const OID: u8 = 0x06;
const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const CONTEXT_0_PRIMITIVE: u8 = 0x80;
const CONTEXT_0: u8 = 0xA0;
const CONTEXT_1: u8 = 0xA1;

/// Verifies `cms` (BER or DER). With `detached` content the `SignedData` must
/// not carry its own; without, it must. Returns the content that was signed
/// (only when attached) and the signer.
pub(crate) fn verify(
    cms: &[u8],
    detached: Option<&[u8]>,
) -> Result<(Option<Vec<u8>>, VerifiedSigner), SignatureError> {
    if cms.len() > MAX_CMS_LEN {
        return Err(SignatureError::TooLarge {
            len: cms.len(),
            max: MAX_CMS_LEN,
        });
    }
    // BER → DER within the default bounds (depth 64, 100 000 elements):
    // CMS with certificates needs about 12 levels and a few hundred elements.
    let doc = pippin_ber::to_der(cms)?;
    let parsed = parse(&doc)?;

    let content = match (detached, parsed.econtent) {
        (Some(content), None) => content,
        (None, Some(content)) => content,
        (Some(_), Some(_)) => return Err(SignatureError::ContentNotDetached),
        (None, None) => return Err(SignatureError::MissingContent),
    };
    if parsed.econtent_type != ID_DATA {
        return Err(SignatureError::UnsupportedContentType {
            oid: parsed.econtent_type,
        });
    }

    let mut certificates = Vec::with_capacity(parsed.certificates.len());
    for tlv in &parsed.certificates {
        let cert = Certificate::from_der(tlv.raw).map_err(|e| der_error("certificate", tlv, e))?;
        certificates.push(cert);
    }
    let signer = &parsed.signer;
    let index = certificates
        .iter()
        .position(|c| signer.sid.matches(c))
        .ok_or(SignatureError::NoSignerCertificate)?;

    let key = PublicKey::from_spki(
        certificates[index]
            .tbs_certificate()
            .subject_public_key_info(),
    )?;
    let digest = DigestAlgorithm::from_identifier(&signer.digest_algorithm)?;
    let (family, fixed_digest) = alg::signature_algorithm(&signer.signature_algorithm)?;
    if family != key.algorithm() || fixed_digest.is_some_and(|d| d != digest) {
        return Err(SignatureError::AlgorithmMismatch {
            signature: signer.signature_algorithm.oid,
            digest: signer.digest_algorithm.oid,
        });
    }

    let content_digest = digest.digest(&[content]);
    let mut signing_time = None;
    let signed_hash = match &signer.signed_attrs {
        Some((attrs, contents)) => {
            let found = read_signed_attributes(attrs, contents.clone())?;
            if found.content_type != parsed.econtent_type {
                return Err(SignatureError::ContentTypeMismatch);
            }
            if !alg::ct_eq(found.message_digest, &content_digest) {
                return Err(SignatureError::DigestMismatch);
            }
            signing_time = found.signing_time;
            // RFC 5652 §5.4: the signature covers the DER of the attributes
            // with the SET OF tag in place of the [0] IMPLICIT one.
            let rest = attrs.raw.get(1..).unwrap_or_default();
            digest.digest(&[&[SET], rest])
        }
        None => content_digest,
    };
    if !key.verify_prehash(digest, &signed_hash, signer.signature) {
        return Err(SignatureError::BadSignature);
    }

    let econtent = parsed.econtent.map(<[u8]>::to_vec);
    let certificate_der = parsed.certificates[index].raw.to_vec();
    let certificate = certificates.remove(index);
    Ok((
        econtent,
        VerifiedSigner {
            certificate,
            certificate_der,
            other_certificates: certificates,
            digest_algorithm: digest,
            signature_algorithm: family,
            signing_time,
        },
    ))
}

/// The parts of a `SignedData` that verification uses.
#[derive(Debug)]
struct Parsed<'a> {
    econtent_type: Oid,
    /// The encapsulated content's octets, if present.
    econtent: Option<&'a [u8]>,
    /// The `certificates` entries that are X.509 certificates.
    certificates: Vec<Tlv<'a>>,
    /// The one signer.
    signer: SignerInfo<'a>,
}

/// A `SignerInfo` (RFC 5652 §5.3), with its signed attributes kept as bytes.
#[derive(Debug)]
struct SignerInfo<'a> {
    sid: SignerId,
    digest_algorithm: AlgorithmIdentifierOwned,
    /// The `[0] IMPLICIT` signed attributes, and a reader over their contents.
    signed_attrs: Option<(Tlv<'a>, DerReader<'a>)>,
    signature_algorithm: AlgorithmIdentifierOwned,
    signature: &'a [u8],
}

/// `SignerIdentifier` (RFC 5652 §5.3).
#[derive(Debug)]
enum SignerId {
    IssuerAndSerialNumber(Box<IssuerAndSerialNumber>),
    SubjectKeyIdentifier(Vec<u8>),
}

impl SignerId {
    fn matches(&self, cert: &Certificate) -> bool {
        let tbs = cert.tbs_certificate();
        match self {
            Self::IssuerAndSerialNumber(id) => {
                tbs.issuer() == &id.issuer && tbs.serial_number() == &id.serial_number
            }
            Self::SubjectKeyIdentifier(ski) => match tbs.get_extension::<SubjectKeyIdentifier>() {
                Ok(Some((_, found))) => found.0.as_bytes() == ski.as_slice(),
                _ => false,
            },
        }
    }
}

/// Reads the next element and checks its tag.
fn expect<'a>(
    r: &mut DerReader<'a>,
    tag: u8,
    what: &'static str,
) -> Result<Tlv<'a>, SignatureError> {
    let offset = r.offset();
    if r.peek_tag() != Some(tag) {
        return Err(SignatureError::Malformed {
            offset,
            expected: what,
        });
    }
    Ok(r.read()?)
}

/// Checks that a reader over a SEQUENCE's contents has nothing left.
fn expect_end(r: &DerReader<'_>, what: &'static str) -> Result<(), SignatureError> {
    if r.is_empty() {
        Ok(())
    } else {
        Err(SignatureError::Malformed {
            offset: r.offset(),
            expected: what,
        })
    }
}

fn der_error(what: &'static str, tlv: &Tlv<'_>, source: der::Error) -> SignatureError {
    SignatureError::Der {
        what,
        offset: tlv.offset,
        source,
    }
}

fn oid(tlv: &Tlv<'_>, what: &'static str) -> Result<Oid, SignatureError> {
    Oid::from_der(tlv.raw).map_err(|e| der_error(what, tlv, e))
}

fn algorithm(
    tlv: &Tlv<'_>,
    what: &'static str,
) -> Result<AlgorithmIdentifierOwned, SignatureError> {
    AlgorithmIdentifierOwned::from_der(tlv.raw).map_err(|e| der_error(what, tlv, e))
}

/// Walks `ContentInfo` → `SignedData` (RFC 5652 §3, §5.1).
fn parse(doc: &[u8]) -> Result<Parsed<'_>, SignatureError> {
    let mut top = DerReader::new(doc);
    let content_info = expect(&mut top, SEQUENCE, "ContentInfo SEQUENCE")?;
    let mut ci = top.enter(&content_info);
    let content_type = oid(&expect(&mut ci, OID, "contentType")?, "contentType")?;
    if content_type != ID_SIGNED_DATA {
        return Err(SignatureError::NotSignedData { content_type });
    }
    let explicit = expect(&mut ci, CONTEXT_0, "[0] content")?;
    expect_end(&ci, "end of ContentInfo")?;
    let mut wrapper = ci.enter(&explicit);
    let signed_data = expect(&mut wrapper, SEQUENCE, "SignedData SEQUENCE")?;
    expect_end(&wrapper, "end of [0] content")?;

    let mut sd = wrapper.enter(&signed_data);
    expect(&mut sd, INTEGER, "SignedData version")?;
    expect(&mut sd, SET, "digestAlgorithms SET")?;

    let encap = expect(&mut sd, SEQUENCE, "EncapsulatedContentInfo SEQUENCE")?;
    let mut eci = sd.enter(&encap);
    let econtent_type = oid(&expect(&mut eci, OID, "eContentType")?, "eContentType")?;
    let econtent = if eci.peek_tag() == Some(CONTEXT_0) {
        let explicit = eci.read()?;
        let mut inner = eci.enter(&explicit);
        let octets = expect(&mut inner, OCTET_STRING, "eContent OCTET STRING")?;
        expect_end(&inner, "end of [0] eContent")?;
        Some(octets.value)
    } else {
        None
    };
    expect_end(&eci, "end of EncapsulatedContentInfo")?;

    let mut certificates = Vec::new();
    if sd.peek_tag() == Some(CONTEXT_0) {
        let set = sd.read()?;
        let mut certs = sd.enter(&set);
        let mut count = 0;
        while !certs.is_empty() {
            let choice = certs.read()?;
            count += 1;
            if count > MAX_CERTIFICATES {
                return Err(SignatureError::TooManyCertificates {
                    max: MAX_CERTIFICATES,
                });
            }
            // Other CertificateChoices (attribute certificates, [3] other)
            // cannot sign and are skipped.
            if choice.tag == SEQUENCE {
                certificates.push(choice);
            }
        }
    }
    if sd.peek_tag() == Some(CONTEXT_1) {
        // CRLs: revocation is the caller's business.
        sd.read()?;
    }
    let signer_infos = expect(&mut sd, SET, "signerInfos SET")?;
    expect_end(&sd, "end of SignedData")?;

    let mut infos = sd.enter(&signer_infos);
    if infos.is_empty() {
        return Err(SignatureError::NoSignerInfo);
    }
    let first = expect(&mut infos, SEQUENCE, "SignerInfo SEQUENCE")?;
    let mut count = 1;
    while !infos.is_empty() {
        infos.read()?;
        count += 1;
    }
    if count > 1 {
        return Err(SignatureError::MultipleSignerInfos { count });
    }
    let signer = parse_signer_info(&infos, &first)?;

    Ok(Parsed {
        econtent_type,
        econtent,
        certificates,
        signer,
    })
}

/// Walks one `SignerInfo` (RFC 5652 §5.3).
fn parse_signer_info<'a>(
    parent: &DerReader<'a>,
    tlv: &Tlv<'a>,
) -> Result<SignerInfo<'a>, SignatureError> {
    let mut si = parent.enter(tlv);
    expect(&mut si, INTEGER, "SignerInfo version")?;
    let sid = match si.peek_tag() {
        Some(SEQUENCE) => {
            let t = si.read()?;
            let id = IssuerAndSerialNumber::from_der(t.raw)
                .map_err(|e| der_error("IssuerAndSerialNumber", &t, e))?;
            SignerId::IssuerAndSerialNumber(Box::new(id))
        }
        Some(CONTEXT_0_PRIMITIVE) => SignerId::SubjectKeyIdentifier(si.read()?.value.to_vec()),
        _ => {
            return Err(SignatureError::Malformed {
                offset: si.offset(),
                expected: "SignerIdentifier",
            });
        }
    };
    let digest_algorithm = algorithm(
        &expect(&mut si, SEQUENCE, "digestAlgorithm")?,
        "digestAlgorithm",
    )?;
    let signed_attrs = if si.peek_tag() == Some(CONTEXT_0) {
        let t = si.read()?;
        Some((t, si.enter(&t)))
    } else {
        None
    };
    let signature_algorithm = algorithm(
        &expect(&mut si, SEQUENCE, "signatureAlgorithm")?,
        "signatureAlgorithm",
    )?;
    let signature = expect(&mut si, OCTET_STRING, "signature OCTET STRING")?.value;
    if si.peek_tag() == Some(CONTEXT_1) {
        // Unsigned attributes (countersignatures, timestamps) are not used.
        si.read()?;
    }
    expect_end(&si, "end of SignerInfo")?;
    Ok(SignerInfo {
        sid,
        digest_algorithm,
        signed_attrs,
        signature_algorithm,
        signature,
    })
}

/// The signed attributes verification reads.
struct SignedAttributes<'a> {
    content_type: Oid,
    message_digest: &'a [u8],
    signing_time: Option<u64>,
}

/// Reads the content-type, message-digest and signing-time attributes
/// (RFC 5652 §11.1–11.3): each at most once, with exactly one value; the first
/// two required. Other attributes are allowed and not interpreted.
fn read_signed_attributes<'a>(
    attrs: &Tlv<'a>,
    mut r: DerReader<'a>,
) -> Result<SignedAttributes<'a>, SignatureError> {
    if r.is_empty() {
        return Err(SignatureError::Malformed {
            offset: attrs.offset,
            expected: "at least one signed attribute",
        });
    }
    let mut content_type = None;
    let mut message_digest = None;
    let mut signing_time = None;
    while !r.is_empty() {
        let attr = expect(&mut r, SEQUENCE, "Attribute SEQUENCE")?;
        let mut a = r.enter(&attr);
        let kind = oid(&expect(&mut a, OID, "attrType")?, "attrType")?;
        let values = expect(&mut a, SET, "attrValues SET")?;
        expect_end(&a, "end of Attribute")?;
        let name = match kind {
            ID_CONTENT_TYPE => "content-type",
            ID_MESSAGE_DIGEST => "message-digest",
            ID_SIGNING_TIME => "signing-time",
            _ => continue,
        };
        let mut v = a.enter(&values);
        let value = v.read().map_err(|_| SignatureError::BadSignedAttribute {
            name,
            reason: "no value",
        })?;
        if !v.is_empty() {
            return Err(SignatureError::BadSignedAttribute {
                name,
                reason: "more than one value",
            });
        }
        let duplicate = SignatureError::BadSignedAttribute {
            name,
            reason: "present more than once",
        };
        match kind {
            ID_CONTENT_TYPE => {
                if content_type.is_some() {
                    return Err(duplicate);
                }
                let found =
                    Oid::from_der(value.raw).map_err(|_| SignatureError::BadSignedAttribute {
                        name,
                        reason: "not an OBJECT IDENTIFIER",
                    })?;
                content_type = Some(found);
            }
            ID_MESSAGE_DIGEST => {
                if message_digest.is_some() {
                    return Err(duplicate);
                }
                if value.tag != OCTET_STRING {
                    return Err(SignatureError::BadSignedAttribute {
                        name,
                        reason: "not an OCTET STRING",
                    });
                }
                message_digest = Some(value.value);
            }
            _ => {
                if signing_time.is_some() {
                    return Err(duplicate);
                }
                let time =
                    Time::from_der(value.raw).map_err(|_| SignatureError::BadSignedAttribute {
                        name,
                        reason: "not a UTCTime or GeneralizedTime after 1970",
                    })?;
                signing_time = Some(time.to_unix_duration().as_secs());
            }
        }
    }
    Ok(SignedAttributes {
        content_type: content_type.ok_or(SignatureError::MissingSignedAttribute {
            name: "content-type",
        })?,
        message_digest: message_digest.ok_or(SignatureError::MissingSignedAttribute {
            name: "message-digest",
        })?,
        signing_time,
    })
}
