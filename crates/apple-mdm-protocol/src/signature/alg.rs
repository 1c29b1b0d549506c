//! Object identifiers, digest algorithms and the signature primitives the CMS
//! code uses: RSA PKCS#1 v1.5 (RFC 8017 §8.2) and ECDSA over P-256
//! (RFC 5480, RFC 5758).

use der::asn1::ObjectIdentifier as Oid;
use der::{Tag, Tagged};
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

use super::SignatureError;

/// `id-data` (RFC 5652 §4).
pub(crate) const ID_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.1");
/// `id-signedData` (RFC 5652 §5.1).
pub(crate) const ID_SIGNED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.2");
/// `id-contentType` (RFC 5652 §11.1).
pub(crate) const ID_CONTENT_TYPE: Oid = Oid::new_unwrap("1.2.840.113549.1.9.3");
/// `id-messageDigest` (RFC 5652 §11.2).
pub(crate) const ID_MESSAGE_DIGEST: Oid = Oid::new_unwrap("1.2.840.113549.1.9.4");
/// `id-signingTime` (RFC 5652 §11.3).
pub(crate) const ID_SIGNING_TIME: Oid = Oid::new_unwrap("1.2.840.113549.1.9.5");

const ID_SHA1: Oid = Oid::new_unwrap("1.3.14.3.2.26");
const ID_SHA256: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.1");
const ID_SHA384: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.2");
const ID_SHA512: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.3");

/// `rsaEncryption` (RFC 8017 Appendix C).
pub(crate) const RSA_ENCRYPTION: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
const SHA1_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.5");
const SHA256_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.11");
const SHA384_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.12");
const SHA512_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.13");

/// `id-ecPublicKey` (RFC 5480 §2.1.1).
pub(crate) const ID_EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
/// `secp256r1` (RFC 5480 §2.1.1.1).
const SECP256R1: Oid = Oid::new_unwrap("1.2.840.10045.3.1.7");
const ECDSA_WITH_SHA1: Oid = Oid::new_unwrap("1.2.840.10045.4.1");
/// `ecdsa-with-SHA256` (RFC 5758 §3.2).
pub(crate) const ECDSA_WITH_SHA256: Oid = Oid::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_WITH_SHA384: Oid = Oid::new_unwrap("1.2.840.10045.4.3.3");
const ECDSA_WITH_SHA512: Oid = Oid::new_unwrap("1.2.840.10045.4.3.4");

/// A message digest algorithm a signature may use.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum DigestAlgorithm {
    /// SHA-1 (RFC 3370 §2.1). Still sent by older devices; weak.
    Sha1,
    /// SHA-256 (RFC 5754 §2.2).
    Sha256,
    /// SHA-384 (RFC 5754 §2.3).
    Sha384,
    /// SHA-512 (RFC 5754 §2.4).
    Sha512,
}

impl DigestAlgorithm {
    /// The algorithm's object identifier.
    pub fn oid(self) -> Oid {
        match self {
            Self::Sha1 => ID_SHA1,
            Self::Sha256 => ID_SHA256,
            Self::Sha384 => ID_SHA384,
            Self::Sha512 => ID_SHA512,
        }
    }

    /// The algorithm named by `oid`, if supported.
    pub fn from_oid(oid: &Oid) -> Option<Self> {
        [Self::Sha1, Self::Sha256, Self::Sha384, Self::Sha512]
            .into_iter()
            .find(|d| d.oid() == *oid)
    }

    /// Reads a `DigestAlgorithmIdentifier`. Parameters must be absent or
    /// NULL (RFC 5754 §2: senders should omit them, receivers accept both).
    pub(crate) fn from_identifier(id: &AlgorithmIdentifierOwned) -> Result<Self, SignatureError> {
        let digest = Self::from_oid(&id.oid)
            .ok_or(SignatureError::UnsupportedDigestAlgorithm { oid: id.oid })?;
        if !params_absent_or_null(id) {
            return Err(SignatureError::BadAlgorithmParameters { oid: id.oid });
        }
        Ok(digest)
    }

    /// The digest of the concatenation of `parts`.
    pub(crate) fn digest(self, parts: &[&[u8]]) -> Vec<u8> {
        fn run<D: Digest>(parts: &[&[u8]]) -> Vec<u8> {
            let mut d = D::new();
            for p in parts {
                d.update(p);
            }
            d.finalize().to_vec()
        }
        match self {
            Self::Sha1 => run::<Sha1>(parts),
            Self::Sha256 => run::<Sha256>(parts),
            Self::Sha384 => run::<Sha384>(parts),
            Self::Sha512 => run::<Sha512>(parts),
        }
    }
}

/// A signature algorithm family.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum SignatureAlgorithm {
    /// RSASSA-PKCS1-v1_5 (RFC 8017 §8.2).
    RsaPkcs1v15,
    /// ECDSA on the NIST P-256 curve, DER-encoded `Ecdsa-Sig-Value`
    /// (RFC 5480, RFC 5758 §3.2).
    EcdsaP256,
}

/// What a `signatureAlgorithm` identifier names: a family, and the digest it
/// fixes if it names one (`sha256WithRSAEncryption` does, `rsaEncryption`
/// does not).
pub(crate) fn signature_algorithm(
    id: &AlgorithmIdentifierOwned,
) -> Result<(SignatureAlgorithm, Option<DigestAlgorithm>), SignatureError> {
    use DigestAlgorithm as D;
    use SignatureAlgorithm as S;
    let found = match id.oid {
        RSA_ENCRYPTION => (S::RsaPkcs1v15, None),
        SHA1_WITH_RSA => (S::RsaPkcs1v15, Some(D::Sha1)),
        SHA256_WITH_RSA => (S::RsaPkcs1v15, Some(D::Sha256)),
        SHA384_WITH_RSA => (S::RsaPkcs1v15, Some(D::Sha384)),
        SHA512_WITH_RSA => (S::RsaPkcs1v15, Some(D::Sha512)),
        // Some old signers name the key type instead of the algorithm.
        ID_EC_PUBLIC_KEY => (S::EcdsaP256, None),
        ECDSA_WITH_SHA1 => (S::EcdsaP256, Some(D::Sha1)),
        ECDSA_WITH_SHA256 => (S::EcdsaP256, Some(D::Sha256)),
        ECDSA_WITH_SHA384 => (S::EcdsaP256, Some(D::Sha384)),
        ECDSA_WITH_SHA512 => (S::EcdsaP256, Some(D::Sha512)),
        oid => return Err(SignatureError::UnsupportedSignatureAlgorithm { oid }),
    };
    // RSA identifiers carry NULL parameters (RFC 8017 Appendix A.2.4), ECDSA
    // ones none (RFC 5758 §3.2); accept either spelling for both.
    if !params_absent_or_null(id) {
        return Err(SignatureError::BadAlgorithmParameters { oid: id.oid });
    }
    Ok(found)
}

fn params_absent_or_null(id: &AlgorithmIdentifierOwned) -> bool {
    match &id.parameters {
        None => true,
        Some(any) => any.tag() == Tag::Null && any.value().is_empty(),
    }
}

/// A public key this module can verify with.
#[derive(Clone, Debug)]
pub(crate) enum PublicKey {
    Rsa(Box<rsa::PublicKey>),
    P256(p256::ecdsa::VerifyingKey),
}

impl PublicKey {
    /// Reads a certificate's `SubjectPublicKeyInfo`: RSA (1024 to 8192 bits)
    /// or EC on P-256.
    pub(crate) fn from_spki(spki: &SubjectPublicKeyInfoOwned) -> Result<Self, SignatureError> {
        let oid = spki.algorithm.oid;
        let bits = spki
            .subject_public_key
            .as_bytes()
            .ok_or(SignatureError::BadPublicKey { oid })?;
        match oid {
            RSA_ENCRYPTION => {
                use rsa::pkcs1::DecodeRsaPublicKey;
                rsa::PublicKey::from_pkcs1_der(bits)
                    .map(|k| Self::Rsa(Box::new(k)))
                    .map_err(|_| SignatureError::BadPublicKey { oid })
            }
            ID_EC_PUBLIC_KEY => {
                let curve = spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| p.decode_as::<Oid>().ok());
                if curve != Some(SECP256R1) {
                    return Err(SignatureError::UnsupportedPublicKey { oid, curve });
                }
                p256::ecdsa::VerifyingKey::from_sec1_bytes(bits)
                    .map(Self::P256)
                    .map_err(|_| SignatureError::BadPublicKey { oid })
            }
            _ => Err(SignatureError::UnsupportedPublicKey { oid, curve: None }),
        }
    }

    /// The algorithm family this key signs with.
    pub(crate) fn algorithm(&self) -> SignatureAlgorithm {
        match self {
            Self::Rsa(_) => SignatureAlgorithm::RsaPkcs1v15,
            Self::P256(_) => SignatureAlgorithm::EcdsaP256,
        }
    }

    /// Verifies `signature` over a message whose `digest`-hash is `hash`.
    /// Returns `false` for any signature that does not verify, including one
    /// that is not even well-formed.
    pub(crate) fn verify_prehash(
        &self,
        digest: DigestAlgorithm,
        hash: &[u8],
        signature: &[u8],
    ) -> bool {
        match self {
            Self::Rsa(key) => {
                let r = match digest {
                    DigestAlgorithm::Sha1 => key.pkcs1v15_verify_prehash::<Sha1>(hash, signature),
                    DigestAlgorithm::Sha256 => {
                        key.pkcs1v15_verify_prehash::<Sha256>(hash, signature)
                    }
                    DigestAlgorithm::Sha384 => {
                        key.pkcs1v15_verify_prehash::<Sha384>(hash, signature)
                    }
                    DigestAlgorithm::Sha512 => {
                        key.pkcs1v15_verify_prehash::<Sha512>(hash, signature)
                    }
                };
                r.is_ok()
            }
            Self::P256(key) => {
                use signature::hazmat::PrehashVerifier;
                let Ok(sig) = p256::ecdsa::Signature::from_der(signature) else {
                    return false;
                };
                key.verify_prehash(hash, &sig).is_ok()
            }
        }
    }
}

/// Compares two byte strings in time that depends only on their lengths.
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_match_known_answers() {
        // FIPS 180-4 examples for "abc".
        assert_eq!(
            hex::encode(DigestAlgorithm::Sha1.digest(&[b"a", b"bc"])),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            hex::encode(DigestAlgorithm::Sha256.digest(&[b"abc"])),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(DigestAlgorithm::Sha384.digest(&[b"abc"]).len(), 48);
        assert_eq!(DigestAlgorithm::Sha512.digest(&[b"abc"]).len(), 64);
    }

    #[test]
    fn digest_oids_round_trip() {
        for d in [
            DigestAlgorithm::Sha1,
            DigestAlgorithm::Sha256,
            DigestAlgorithm::Sha384,
            DigestAlgorithm::Sha512,
        ] {
            assert_eq!(DigestAlgorithm::from_oid(&d.oid()), Some(d));
        }
        assert_eq!(DigestAlgorithm::from_oid(&ID_DATA), None);
    }

    #[test]
    fn digest_parameters_may_be_absent_or_null() {
        let mut id = AlgorithmIdentifierOwned {
            oid: ID_SHA256,
            parameters: None,
        };
        assert!(DigestAlgorithm::from_identifier(&id).is_ok());
        id.parameters = Some(der::Any::null());
        assert!(DigestAlgorithm::from_identifier(&id).is_ok());
        id.parameters = Some(der::Any::new(Tag::Integer, [1u8]).unwrap());
        assert!(matches!(
            DigestAlgorithm::from_identifier(&id),
            Err(SignatureError::BadAlgorithmParameters { .. })
        ));
    }

    #[test]
    fn ct_eq_compares() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
        assert!(ct_eq(b"", b""));
    }
}
