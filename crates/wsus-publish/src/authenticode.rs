//! Authenticode signatures on cabinet files: signing with an RSA key and a
//! certificate (with its chain), and checking a signature against the
//! certificate it carries.
//!
//! A signed cabinet has a 20-byte header reserve (`cbCFHeader` = 20,
//! `cbCFFolder` = `cbCFData` = 0, [MS-CAB] §2.1) laid out as
//!
//! ```text
//! offset 40  u32  0x00100000
//! offset 44  u32  where the signature starts (= cbCabinet)
//! offset 48  u32  size of the signature, padded to a multiple of 8
//! offset 52  u8[8] zero
//! ```
//!
//! and the signature, a DER PKCS #7 `SignedData` (RFC 2315 §9.1), follows
//! the cabinet, padded with zeros to a multiple of 8 bytes. Its content is
//! an `SpcIndirectDataContent` (Authenticode, "Windows Authenticode
//! Portable Executable Signature Format", "SpcIndirectDataContent"):
//!
//! ```text
//! SpcIndirectDataContent ::= SEQUENCE {
//!     data            SpcAttributeTypeAndOptionalValue,
//!     messageDigest   DigestInfo }
//! SpcAttributeTypeAndOptionalValue ::= SEQUENCE {
//!     type            ObjectID,           -- SPC_CAB_DATA_OBJID for cabinets
//!     value           [0] EXPLICIT ANY OPTIONAL }
//! DigestInfo ::= SEQUENCE {
//!     digestAlgorithm AlgorithmIdentifier,
//!     digest          OCTETSTRING }
//! ```
//!
//! The digest covers the cabinet except the fields that signing changes:
//! bytes 0–3 (`signature`), 8–33 (`cbCabinet` through `setID`), and from 56
//! (the last four reserve bytes) up to the signature. `reserved1`,
//! `iCabinet`, the reserve sizes and the first sixteen reserve bytes (which
//! hold the signature's place and size) are left out.
//!
//! No I/O and no clock: the signing time, if one is wanted, is an input.
//!
//! ```
//! use wsus_publish::authenticode::{Signer, sign_cab, verify_cab};
//!
//! fn publish(cab: &[u8], cert_pem: &[u8], key_pem: &[u8]) -> Result<Vec<u8>, wsus_publish::authenticode::SignError> {
//!     let mut signer = Signer::from_pem(cert_pem, key_pem)?;
//!     signer.program_name("Apple updates");
//!     let signed = sign_cab(cab, &signer)?;
//!     // Our own check before publishing: digest and signature, not trust.
//!     verify_cab(&signed)?;
//!     Ok(signed)
//! }
//! ```
//!
//! [MS-CAB]: https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-cab/

use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use const_oid::ObjectIdentifier;
use der::asn1::{Any, OctetString, SetOfVec};
use der::{Decode, Encode, Sequence};
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_cert::attr::Attribute;

use crate::cab::{CabError, Cabinet, FLAG_RESERVE_PRESENT, HEADER_SIZE, u16_at, u32_at};

/// Size of the header reserve an Authenticode signature uses.
pub const CAB_RESERVE_SIZE: u16 = 20;

/// The first reserve word of a cabinet made for signing.
const RESERVE_MARKER: u32 = 0x0010_0000;
/// Offset of the reserve in a cabinet with reserve fields.
const RESERVE_AT: usize = HEADER_SIZE + 4;
/// Offset of the signature's place (a `u32`).
const SIG_OFFSET_AT: usize = RESERVE_AT + 4;
/// Offset of the signature's size (a `u32`).
const SIG_SIZE_AT: usize = RESERVE_AT + 8;
/// End of the header of a cabinet with the signature reserve.
const SIGNED_HEADER_END: usize = RESERVE_AT + CAB_RESERVE_SIZE as usize;
/// Growth of a cabinet that gains the reserve fields and the reserve.
const RESERVE_GROWTH: usize = 4 + CAB_RESERVE_SIZE as usize;

/// `SPC_INDIRECT_DATA_OBJID`.
pub const SPC_INDIRECT_DATA: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.2.1.4");
/// `SPC_STATEMENT_TYPE_OBJID`.
pub const SPC_STATEMENT_TYPE: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.2.1.11");
/// `SPC_SP_OPUS_INFO_OBJID`.
pub const SPC_SP_OPUS_INFO: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.2.1.12");
/// `SPC_INDIVIDUAL_SP_KEY_PURPOSE_OBJID`: individual code signing.
pub const SPC_INDIVIDUAL_SP_KEY_PURPOSE: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.2.1.21");
/// `SPC_CAB_DATA_OBJID`: the indirect data is a cabinet.
pub const SPC_CAB_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.2.1.25");

const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const ID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const ID_SIGNING_TIME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.5");
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const SHA1_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.5");
const SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const SHA384_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
const SHA512_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");

/// The `SpcLink` that signers put in a cabinet's
/// `SpcAttributeTypeAndOptionalValue.value`: `file [2]` holding the
/// `unicode [0]` string "<<<Obsolete>>>".
const OBSOLETE_LINK: &str = "<<<Obsolete>>>";

/// Digest algorithms for the cabinet digest and the signature.
#[derive(Clone, Copy, Debug, Default, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum DigestAlgorithm {
    /// SHA-1, for old verifiers only.
    Sha1,
    /// SHA-256, the default.
    #[default]
    Sha256,
    /// SHA-384 (verification only).
    Sha384,
    /// SHA-512 (verification only).
    Sha512,
}

impl DigestAlgorithm {
    /// The algorithm's object identifier.
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            Self::Sha1 => ObjectIdentifier::new_unwrap("1.3.14.3.2.26"),
            Self::Sha256 => ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1"),
            Self::Sha384 => ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2"),
            Self::Sha512 => ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3"),
        }
    }

    fn from_oid(oid: &ObjectIdentifier) -> Result<Self, SignError> {
        [Self::Sha1, Self::Sha256, Self::Sha384, Self::Sha512]
            .into_iter()
            .find(|a| a.oid() == *oid)
            .ok_or(SignError::UnsupportedAlgorithm(*oid))
    }

    /// The `AlgorithmIdentifier`, with NULL parameters as signers write it.
    fn identifier(self) -> AlgorithmIdentifierOwned {
        AlgorithmIdentifierOwned {
            oid: self.oid(),
            parameters: Some(Any::null()),
        }
    }

    /// The digest of the concatenation of `parts`.
    fn digest(self, parts: &[&[u8]]) -> Vec<u8> {
        fn run<D: sha2::Digest>(parts: &[&[u8]]) -> Vec<u8> {
            let mut d = D::new();
            for p in parts {
                d.update(p);
            }
            d.finalize().to_vec()
        }
        match self {
            Self::Sha1 => run::<sha1::Sha1>(parts),
            Self::Sha256 => run::<sha2::Sha256>(parts),
            Self::Sha384 => run::<sha2::Sha384>(parts),
            Self::Sha512 => run::<sha2::Sha512>(parts),
        }
    }

    fn sign(self, key: &rsa::PrivateKey, msg: &[u8]) -> Result<Vec<u8>, SignError> {
        let signature = match self {
            Self::Sha1 => key.pkcs1v15_sign::<sha1::Sha1>(msg),
            Self::Sha256 => key.pkcs1v15_sign::<sha2::Sha256>(msg),
            Self::Sha384 => key.pkcs1v15_sign::<sha2::Sha384>(msg),
            Self::Sha512 => key.pkcs1v15_sign::<sha2::Sha512>(msg),
        };
        signature.map_err(SignError::Rsa)
    }

    fn verify(self, key: &rsa::PublicKey, msg: &[u8], signature: &[u8]) -> bool {
        match self {
            Self::Sha1 => key.pkcs1v15_verify::<sha1::Sha1>(msg, signature),
            Self::Sha256 => key.pkcs1v15_verify::<sha2::Sha256>(msg, signature),
            Self::Sha384 => key.pkcs1v15_verify::<sha2::Sha384>(msg, signature),
            Self::Sha512 => key.pkcs1v15_verify::<sha2::Sha512>(msg, signature),
        }
        .is_ok()
    }
}

/// Who signs: an RSA key, its certificate and the rest of the chain, and
/// the choices that go into the signature.
#[derive(Clone, Debug)]
pub struct Signer {
    key: rsa::PrivateKey,
    certificate: Certificate,
    chain: Vec<Certificate>,
    digest: DigestAlgorithm,
    program_name: Option<String>,
    signing_time: Option<time::OffsetDateTime>,
}

impl Signer {
    /// A signer from PEM: `cert_chain_pem` holds the signer's certificate
    /// and optionally the intermediate (and root) certificates, in any
    /// order; `key_pem` holds the RSA private key as PKCS #8
    /// (`PRIVATE KEY`) or PKCS #1 (`RSA PRIVATE KEY`). The signer's
    /// certificate is the one whose public key matches the key.
    pub fn from_pem(cert_chain_pem: &[u8], key_pem: &[u8]) -> Result<Self, SignError> {
        let (label, der) = der::pem::decode_vec(key_pem).map_err(|_| SignError::Key("not PEM"))?;
        let key = match label {
            "PRIVATE KEY" => {
                use rsa::pkcs8::DecodePrivateKey;
                rsa::PrivateKey::from_pkcs8_der(&der)
                    .map_err(|_| SignError::Key("not a PKCS #8 RSA private key"))?
            }
            "RSA PRIVATE KEY" => {
                use rsa::pkcs1::DecodeRsaPrivateKey;
                rsa::PrivateKey::from_pkcs1_der(&der)
                    .map_err(|_| SignError::Key("not a PKCS #1 RSA private key"))?
            }
            _ => {
                return Err(SignError::Key(
                    "PEM label is neither PRIVATE KEY nor RSA PRIVATE KEY",
                ));
            }
        };
        let certs = Certificate::load_pem_chain(cert_chain_pem).map_err(SignError::Certificates)?;
        if certs.is_empty() {
            return Err(SignError::NoCertificates);
        }
        let public = key.to_public_key();
        let signer_at = certs
            .iter()
            .position(|c| rsa_public_key(c).is_ok_and(|k| k == public))
            .ok_or(SignError::KeyMismatch)?;
        let mut chain = certs;
        let certificate = chain.remove(signer_at);
        Ok(Self {
            key,
            certificate,
            chain,
            digest: DigestAlgorithm::Sha256,
            program_name: None,
            signing_time: None,
        })
    }

    /// The digest algorithm (SHA-256 by default; SHA-1 or SHA-256 here).
    pub fn digest_algorithm(&mut self, digest: DigestAlgorithm) -> &mut Self {
        self.digest = digest;
        self
    }

    /// A program name for the `SpcSpOpusInfo` attribute (shown by Windows
    /// as the signed content's description). Without one the attribute is
    /// an empty `SpcSpOpusInfo`.
    pub fn program_name(&mut self, name: impl Into<String>) -> &mut Self {
        self.program_name = Some(name.into());
        self
    }

    /// Adds a `signingTime` signed attribute (RFC 2985 §5.5.1) with this
    /// time. Without a countersignature it is only the signer's claim.
    pub fn signing_time(&mut self, at: time::OffsetDateTime) -> &mut Self {
        self.signing_time = Some(at);
        self
    }

    /// The signer's certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }
}

/// A signature that [`verify_cab`] found good.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct VerifiedSignature {
    /// The digest algorithm of the cabinet digest and the signature.
    pub digest_algorithm: DigestAlgorithm,
    /// The cabinet digest, as recomputed and as signed.
    pub digest: Vec<u8>,
    /// The certificate whose key made the signature.
    pub signer: Certificate,
    /// Every certificate in the signature, the signer's included.
    pub certificates: Vec<Certificate>,
}

/// Signs cabinet `cab` and returns the signed cabinet.
///
/// `cab` may be unsigned without a header reserve (one is inserted and the
/// offsets moved), made with
/// [`CabBuilder::authenticode_reserve`](crate::cab::CabBuilder::authenticode_reserve),
/// or already signed (the old signature is replaced). Cabinets with other
/// reserves or in multi-cabinet sets are refused.
pub fn sign_cab(cab: &[u8], signer: &Signer) -> Result<Vec<u8>, SignError> {
    if !matches!(
        signer.digest,
        DigestAlgorithm::Sha1 | DigestAlgorithm::Sha256
    ) {
        return Err(SignError::UnsupportedAlgorithm(signer.digest.oid()));
    }
    let mut out = with_reserve(cab)?;
    let sig_at = out.len();
    let digest = cab_digest(&out, signer.digest);
    let mut signature = signed_data(&digest, signer)?;
    signature.resize(signature.len().next_multiple_of(8), 0);
    let sig_at32 = u32::try_from(sig_at).map_err(|_| SignError::TooLarge)?;
    let sig_len32 = u32::try_from(signature.len()).map_err(|_| SignError::TooLarge)?;
    sig_at32.checked_add(sig_len32).ok_or(SignError::TooLarge)?;
    out[SIG_OFFSET_AT..SIG_OFFSET_AT + 4].copy_from_slice(&sig_at32.to_le_bytes());
    out[SIG_SIZE_AT..SIG_SIZE_AT + 4].copy_from_slice(&sig_len32.to_le_bytes());
    out.extend_from_slice(&signature);
    Ok(out)
}

/// Checks the Authenticode signature of `signed`: the cabinet digest is
/// recomputed and compared with the signed one, the `messageDigest`
/// attribute with the signed content, and the RSA signature is checked
/// with the signer's certificate from the signature itself.
///
/// Whether that certificate is trusted (its chain, validity, revocation,
/// key usage) is not checked here.
pub fn verify_cab(signed: &[u8]) -> Result<VerifiedSignature, SignError> {
    let (sig_at, sig_len) = signature_place(signed)?;
    Cabinet::parse(&signed[..sig_at])?;
    let blob = &signed[sig_at..sig_at + sig_len];

    // The DER SignedData, then zero padding.
    let total = {
        let mut r = der::SliceReader::new(blob).map_err(SignError::Asn1)?;
        let h = der::Header::decode(&mut r).map_err(SignError::Asn1)?;
        let len =
            (h.encoded_len().map_err(SignError::Asn1)? + h.length()).map_err(SignError::Asn1)?;
        usize::try_from(len).map_err(|_| SignError::Malformed("signature length"))?
    };
    let (der_blob, padding) = blob
        .split_at_checked(total)
        .ok_or(SignError::Malformed("signature length"))?;
    if padding.iter().any(|&b| b != 0) {
        return Err(SignError::Malformed("bytes after the signature"));
    }
    let ci = ContentInfo::from_der(der_blob).map_err(SignError::Asn1)?;
    if ci.content_type != ID_SIGNED_DATA {
        return Err(SignError::Malformed("not a SignedData"));
    }
    let sd: SignedData = ci.content.decode_as().map_err(SignError::Asn1)?;
    if sd.encap_content_info.econtent_type != SPC_INDIRECT_DATA {
        return Err(SignError::Malformed(
            "content is not SpcIndirectDataContent",
        ));
    }
    let econtent = sd
        .encap_content_info
        .econtent
        .as_ref()
        .ok_or(SignError::Malformed("no content"))?;
    let idc: SpcIndirectDataContent = econtent.decode_as().map_err(SignError::Asn1)?;
    if idc.data.value_type != SPC_CAB_DATA {
        return Err(SignError::Malformed(
            "indirect data is not SPC_CAB_DATA_OBJID",
        ));
    }

    // The cabinet digest.
    let digest_algorithm = DigestAlgorithm::from_oid(&idc.message_digest.digest_algorithm.oid)?;
    let digest = cab_digest(&signed[..sig_at], digest_algorithm);
    if digest != idc.message_digest.digest.as_bytes() {
        return Err(SignError::DigestMismatch);
    }

    // The signer.
    let certificates: Vec<Certificate> = sd
        .certificates
        .iter()
        .flat_map(|set| set.0.iter())
        .filter_map(|c| match c {
            CertificateChoices::Certificate(c) => Some(c.clone()),
            _ => None,
        })
        .collect();
    let [si] = sd.signer_infos.0.as_slice() else {
        return Err(SignError::Malformed("not exactly one SignerInfo"));
    };
    let SignerIdentifier::IssuerAndSerialNumber(ias) = &si.sid else {
        return Err(SignError::Malformed(
            "signer not named by issuer and serial number",
        ));
    };
    let signer = certificates
        .iter()
        .find(|c| {
            c.tbs_certificate().issuer() == &ias.issuer
                && c.tbs_certificate().serial_number() == &ias.serial_number
        })
        .ok_or(SignError::SignerNotFound)?
        .clone();

    // The signed attributes.
    let signer_digest = DigestAlgorithm::from_oid(&si.digest_alg.oid)?;
    let attrs = si
        .signed_attrs
        .as_ref()
        .ok_or(SignError::Malformed("no signed attributes"))?;
    let single = |oid: ObjectIdentifier| -> Result<&Any, SignError> {
        let mut found = attrs.iter().filter(|a| a.oid == oid);
        match (found.next(), found.next()) {
            (Some(a), None) if a.values.len() == 1 => Ok(&a.values.as_slice()[0]),
            _ => Err(SignError::Malformed(
                "contentType or messageDigest attribute",
            )),
        }
    };
    let content_type: ObjectIdentifier = single(ID_CONTENT_TYPE)?
        .decode_as()
        .map_err(SignError::Asn1)?;
    if content_type != SPC_INDIRECT_DATA {
        return Err(SignError::Malformed("contentType attribute"));
    }
    let message_digest: OctetString = single(ID_MESSAGE_DIGEST)?
        .decode_as()
        .map_err(SignError::Asn1)?;
    // PKCS #7 digests the content octets of the content, without its tag
    // and length (RFC 2315 §9.3).
    if message_digest.as_bytes() != signer_digest.digest(&[econtent.value()]) {
        return Err(SignError::ContentDigestMismatch);
    }

    // The signature.
    if !matches!(
        si.signature_algorithm.oid,
        RSA_ENCRYPTION | SHA1_WITH_RSA | SHA256_WITH_RSA | SHA384_WITH_RSA | SHA512_WITH_RSA
    ) {
        return Err(SignError::UnsupportedAlgorithm(si.signature_algorithm.oid));
    }
    let key = rsa_public_key(&signer)?;
    let signed_attrs = attrs.to_der().map_err(SignError::Asn1)?;
    if !signer_digest.verify(&key, &signed_attrs, si.signature.as_bytes()) {
        return Err(SignError::BadSignature);
    }
    Ok(VerifiedSignature {
        digest_algorithm,
        digest,
        signer,
        certificates,
    })
}

/// Errors of signing a cabinet and of checking its signature.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// The private key could not be read.
    #[error("private key: {0}")]
    Key(&'static str),
    /// The certificates could not be read.
    #[error("certificates: {0}")]
    Certificates(#[source] der::Error),
    /// The certificate PEM held no certificate.
    #[error("no certificate given")]
    NoCertificates,
    /// No certificate holds the private key's public key.
    #[error("no certificate matches the private key")]
    KeyMismatch,
    /// A certificate's key is not RSA.
    #[error("the signer's key is not an RSA key")]
    UnsupportedKey,
    /// The cabinet is malformed.
    #[error("cabinet: {0}")]
    Cab(#[from] CabError),
    /// The cabinet cannot be signed: it has a header reserve of another
    /// size, or folder or data reserves, or belongs to a multi-cabinet set.
    #[error("this cabinet cannot carry an Authenticode signature: {0}")]
    UnsupportedCab(&'static str),
    /// The signed cabinet would be larger than 4 GiB.
    #[error("signed cabinet too large")]
    TooLarge,
    /// The cabinet has no signature.
    #[error("the cabinet is not signed")]
    NotSigned,
    /// The signature's structure is not what Authenticode prescribes.
    #[error("malformed signature: {0}")]
    Malformed(&'static str),
    /// The signature is not valid DER of the expected types.
    #[error("malformed signature: {0}")]
    Asn1(#[source] der::Error),
    /// An algorithm other than SHA-1/SHA-2 digests with RSA.
    #[error("unsupported algorithm {0}")]
    UnsupportedAlgorithm(ObjectIdentifier),
    /// The cabinet's digest differs from the signed one: the cabinet was
    /// changed after signing.
    #[error("the cabinet's digest does not match the signed digest")]
    DigestMismatch,
    /// The `messageDigest` attribute does not match the signed content.
    #[error("the messageDigest attribute does not match the signed content")]
    ContentDigestMismatch,
    /// No certificate in the signature names the signer.
    #[error("the signer's certificate is not in the signature")]
    SignerNotFound,
    /// The RSA signature does not verify with the signer's certificate.
    #[error("the RSA signature does not verify")]
    BadSignature,
    /// Encoding the signature failed.
    #[error("encoding the signature: {0}")]
    Encode(#[source] der::Error),
    /// The RSA operation failed.
    #[error("RSA: {0}")]
    Rsa(#[source] rsa::Error),
}

/// Writes the reserve's marker into a zeroed 20-byte reserve.
pub(crate) fn init_reserve(reserve: &mut [u8]) {
    reserve[..4].copy_from_slice(&RESERVE_MARKER.to_le_bytes());
}

/// `SpcIndirectDataContent`, see the module documentation.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct SpcIndirectDataContent {
    data: SpcAttributeTypeAndOptionalValue,
    message_digest: DigestInfo,
}

/// `SpcAttributeTypeAndOptionalValue`, see the module documentation.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct SpcAttributeTypeAndOptionalValue {
    value_type: ObjectIdentifier,
    #[asn1(optional = "true")]
    value: Option<Any>,
}

/// `DigestInfo` (RFC 8017 §9.2).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct DigestInfo {
    digest_algorithm: AlgorithmIdentifierOwned,
    digest: OctetString,
}

/// Where the signature of `signed` starts and how long it is, from the
/// header reserve.
fn signature_place(signed: &[u8]) -> Result<(usize, usize), SignError> {
    if signed.len() < SIGNED_HEADER_END || &signed[..4] != b"MSCF" {
        return Err(CabError::Malformed {
            kind: crate::cab::MalformedKind::Signature,
            offset: 0,
        }
        .into());
    }
    if u16_at(signed, 30) & FLAG_RESERVE_PRESENT == 0
        || u16_at(signed, HEADER_SIZE) != CAB_RESERVE_SIZE
        || signed[HEADER_SIZE + 2..HEADER_SIZE + 4] != [0, 0]
    {
        return Err(SignError::NotSigned);
    }
    if u32_at(signed, RESERVE_AT) != RESERVE_MARKER {
        return Err(SignError::Malformed(
            "header reserve without the signature marker",
        ));
    }
    let at = u32_at(signed, SIG_OFFSET_AT) as usize;
    let len = u32_at(signed, SIG_SIZE_AT) as usize;
    if at == 0 && len == 0 {
        return Err(SignError::NotSigned);
    }
    if at < SIGNED_HEADER_END || len == 0 || at.checked_add(len) != Some(signed.len()) {
        return Err(SignError::Malformed(
            "signature place and size do not match the file",
        ));
    }
    Ok((at, len))
}

/// The cabinet of `cab` (its signature removed) with the 20-byte reserve
/// in place, the signature's place set to the end and its size to 0.
fn with_reserve(cab: &[u8]) -> Result<Vec<u8>, SignError> {
    let parsed = Cabinet::parse(cab)?;
    let body = &cab[..parsed.size()];
    let flags = u16_at(body, 30);
    if flags & 0x0003 != 0 {
        return Err(SignError::UnsupportedCab("part of a multi-cabinet set"));
    }
    let mut out;
    if flags & FLAG_RESERVE_PRESENT != 0 {
        if u16_at(body, HEADER_SIZE) != CAB_RESERVE_SIZE
            || body[HEADER_SIZE + 2..HEADER_SIZE + 4] != [0, 0]
        {
            return Err(SignError::UnsupportedCab(
                "a header reserve other than the signature's",
            ));
        }
        let marker = u32_at(body, RESERVE_AT);
        if marker != RESERVE_MARKER && marker != 0 {
            return Err(SignError::UnsupportedCab(
                "a header reserve other than the signature's",
            ));
        }
        out = body.to_vec();
    } else {
        let grown = body.len() + RESERVE_GROWTH;
        let grown32 = u32::try_from(grown).map_err(|_| SignError::TooLarge)?;
        out = Vec::with_capacity(grown + 8192);
        out.extend_from_slice(&body[..HEADER_SIZE]);
        out.extend_from_slice(&CAB_RESERVE_SIZE.to_le_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&[0; CAB_RESERVE_SIZE as usize]);
        out.extend_from_slice(&body[HEADER_SIZE..]);
        out[8..12].copy_from_slice(&grown32.to_le_bytes());
        let shift = |v: u32| {
            v.checked_add(RESERVE_GROWTH as u32)
                .ok_or(SignError::TooLarge)
        };
        let coff_files = shift(u32_at(&out, 16))?;
        out[16..20].copy_from_slice(&coff_files.to_le_bytes());
        out[30..32].copy_from_slice(&(flags | FLAG_RESERVE_PRESENT).to_le_bytes());
        for i in 0..parsed.folder_count() {
            // No reserve before: every CFFOLDER is 8 bytes, right after
            // the header (parse checked that they are all there).
            let at = SIGNED_HEADER_END + 8 * i;
            let start = shift(u32_at(&out, at))?;
            out[at..at + 4].copy_from_slice(&start.to_le_bytes());
        }
    }
    init_reserve(&mut out[RESERVE_AT..SIGNED_HEADER_END]);
    out[SIG_OFFSET_AT..SIGNED_HEADER_END].fill(0);
    let end = u32::try_from(out.len()).map_err(|_| SignError::TooLarge)?;
    out[SIG_OFFSET_AT..SIG_OFFSET_AT + 4].copy_from_slice(&end.to_le_bytes());
    Ok(out)
}

/// The Authenticode digest of `cab` (a cabinet with the 20-byte reserve,
/// without its signature): see the module documentation.
fn cab_digest(cab: &[u8], alg: DigestAlgorithm) -> Vec<u8> {
    alg.digest(&[&cab[..4], &cab[8..34], &cab[56..]])
}

/// The DER `ContentInfo` holding the `SignedData` over `digest`.
fn signed_data(digest: &[u8], signer: &Signer) -> Result<Vec<u8>, SignError> {
    let enc = SignError::Encode;
    let link = obsolete_link();
    let idc = SpcIndirectDataContent {
        data: SpcAttributeTypeAndOptionalValue {
            value_type: SPC_CAB_DATA,
            value: Some(Any::from_der(&link).map_err(enc)?),
        },
        message_digest: DigestInfo {
            digest_algorithm: signer.digest.identifier(),
            digest: OctetString::new(digest).map_err(enc)?,
        },
    };
    let econtent = Any::encode_from(&idc).map_err(enc)?;

    let mut attrs = vec![
        attribute(
            ID_CONTENT_TYPE,
            Any::encode_from(&SPC_INDIRECT_DATA).map_err(enc)?,
        )?,
        attribute(
            ID_MESSAGE_DIGEST,
            Any::encode_from(
                &OctetString::new(signer.digest.digest(&[econtent.value()])).map_err(enc)?,
            )
            .map_err(enc)?,
        )?,
        attribute(
            SPC_SP_OPUS_INFO,
            Any::from_der(&opus_info(signer.program_name.as_deref())).map_err(enc)?,
        )?,
        attribute(
            SPC_STATEMENT_TYPE,
            Any::from_der(&tlv(
                0x30,
                &SPC_INDIVIDUAL_SP_KEY_PURPOSE.to_der().map_err(enc)?,
            ))
            .map_err(enc)?,
        )?,
    ];
    if let Some(at) = signer.signing_time {
        let since_epoch = u64::try_from(at.unix_timestamp())
            .map_err(|_| SignError::Malformed("signing time before 1970"))?;
        let t = der::DateTime::from_unix_duration(std::time::Duration::from_secs(since_epoch))
            .map_err(enc)?;
        attrs.push(attribute(
            ID_SIGNING_TIME,
            Any::encode_from(&x509_cert::time::Time::from(t)).map_err(enc)?,
        )?);
    }
    let attrs = SetOfVec::try_from(attrs).map_err(enc)?;
    let signature = signer
        .digest
        .sign(&signer.key, &attrs.to_der().map_err(enc)?)?;

    let tbs = signer.certificate.tbs_certificate();
    let signer_info = SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: tbs.issuer().clone(),
            serial_number: tbs.serial_number().clone(),
        }),
        digest_alg: signer.digest.identifier(),
        signed_attrs: Some(attrs),
        signature_algorithm: AlgorithmIdentifierOwned {
            oid: RSA_ENCRYPTION,
            parameters: Some(Any::null()),
        },
        signature: OctetString::new(signature).map_err(enc)?,
        unsigned_attrs: None,
    };

    let mut certs: Vec<CertificateChoices> = Vec::with_capacity(1 + signer.chain.len());
    for c in std::iter::once(&signer.certificate).chain(&signer.chain) {
        let c = CertificateChoices::Certificate(c.clone());
        if !certs.contains(&c) {
            certs.push(c);
        }
    }
    let sd = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: SetOfVec::try_from(vec![signer.digest.identifier()]).map_err(enc)?,
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: SPC_INDIRECT_DATA,
            econtent: Some(econtent),
        },
        certificates: Some(CertificateSet(SetOfVec::try_from(certs).map_err(enc)?)),
        crls: None,
        signer_infos: SignerInfos(SetOfVec::try_from(vec![signer_info]).map_err(enc)?),
    };
    ContentInfo {
        content_type: ID_SIGNED_DATA,
        content: Any::encode_from(&sd).map_err(enc)?,
    }
    .to_der()
    .map_err(enc)
}

/// An attribute with a single value.
fn attribute(oid: ObjectIdentifier, value: Any) -> Result<Attribute, SignError> {
    Ok(Attribute {
        oid,
        values: SetOfVec::try_from(vec![value]).map_err(SignError::Encode)?,
    })
}

/// `SpcLink ::= file [2] EXPLICIT SpcString`, `SpcString ::= unicode [0]
/// IMPLICIT BMPString` with "<<<Obsolete>>>".
fn obsolete_link() -> Vec<u8> {
    tlv(0xa2, &tlv(0x80, &utf16be(OBSOLETE_LINK)))
}

/// `SpcSpOpusInfo ::= SEQUENCE { programName [0] EXPLICIT SpcString
/// OPTIONAL, moreInfo [1] EXPLICIT SpcLink OPTIONAL }`, the program name
/// as `unicode`.
fn opus_info(program_name: Option<&str>) -> Vec<u8> {
    let inner = program_name
        .map(|name| tlv(0xa0, &tlv(0x80, &utf16be(name))))
        .unwrap_or_default();
    tlv(0x30, &inner)
}

fn utf16be(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_be_bytes).collect()
}

/// A DER element: tag, definite length (X.690 §8.1.3), contents.
fn tlv(tag: u8, contents: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(contents.len() + 6);
    out.push(tag);
    let len = contents.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(contents);
    out
}

/// The RSA public key of `cert`.
fn rsa_public_key(cert: &Certificate) -> Result<rsa::PublicKey, SignError> {
    use rsa::pkcs8::DecodePublicKey;
    let spki = cert
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(SignError::Encode)?;
    rsa::PublicKey::from_public_key_der(&spki).map_err(|_| SignError::UnsupportedKey)
}

#[cfg(test)]
mod tests;
