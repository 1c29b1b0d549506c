//! Algorithms: digests (RFC 5754), signatures (RFC 8017 PKCS #1 v1.5,
//! RFC 5758 ECDSA), content encryption (RFC 3565 AES-CBC, RFC 3370 §5.1
//! Triple-DES CBC) and RSA key transport (RFC 3370 §4.2.1).

use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit, block_padding::Pkcs7};
use const_oid::ObjectIdentifier;
use sha2::Digest;

use crate::error::{Error, ParseErrorKind, Result, Structure};
use crate::oid;
use crate::tlv::{self, Tlv, tag};

/// A message digest algorithm accepted in a `pkiMessage` (RFC 5754 §2, RFC 3370 §2.1).
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum DigestAlgorithm {
    /// SHA-1 (accepted from older clients; never used in responses).
    Sha1,
    /// SHA-224.
    Sha224,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl DigestAlgorithm {
    /// From its object identifier.
    pub fn from_oid(id: &ObjectIdentifier) -> Option<Self> {
        Some(match *id {
            oid::ID_SHA1 => Self::Sha1,
            oid::ID_SHA224 => Self::Sha224,
            oid::ID_SHA256 => Self::Sha256,
            oid::ID_SHA384 => Self::Sha384,
            oid::ID_SHA512 => Self::Sha512,
            _ => return None,
        })
    }

    /// Its object identifier.
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            Self::Sha1 => oid::ID_SHA1,
            Self::Sha224 => oid::ID_SHA224,
            Self::Sha256 => oid::ID_SHA256,
            Self::Sha384 => oid::ID_SHA384,
            Self::Sha512 => oid::ID_SHA512,
        }
    }

    /// The digest of `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha1 => sha1::Sha1::digest(data).to_vec(),
            Self::Sha224 => sha2::Sha224::digest(data).to_vec(),
            Self::Sha256 => sha2::Sha256::digest(data).to_vec(),
            Self::Sha384 => sha2::Sha384::digest(data).to_vec(),
            Self::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }
}

/// SHA-256 of `data`.
pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    sha2::Sha256::digest(data).into()
}

/// SHA-1 of `data` (key identifiers, RFC 5280 §4.2.1.2 method 1).
pub(crate) fn sha1(data: &[u8]) -> [u8; 20] {
    sha1::Sha1::digest(data).into()
}

/// An `AlgorithmIdentifier` as read: its OID and raw parameters.
#[derive(Clone, Debug)]
pub(crate) struct AlgorithmId<'a> {
    pub(crate) oid: ObjectIdentifier,
    pub(crate) params: Option<Tlv<'a>>,
}

impl<'a> AlgorithmId<'a> {
    /// Reads `AlgorithmIdentifier ::= SEQUENCE { algorithm, parameters ANY OPTIONAL }`.
    pub(crate) fn read(tlv: Tlv<'a>) -> Result<Self, crate::error::ParseError> {
        let tlv = tlv.expect(tag::SEQUENCE)?;
        let mut r = tlv.reader();
        let o = r.read_tag(tag::OID)?;
        let id = ObjectIdentifier::from_bytes(o.value)
            .map_err(|_| o.error(ParseErrorKind::InvalidValue))?;
        let params = if r.is_empty() { None } else { Some(r.read()?) };
        r.finish()?;
        Ok(Self { oid: id, params })
    }
}

/// A public key this crate can verify with (and, for RSA, encrypt to).
#[derive(Clone, Debug)]
pub(crate) enum PublicKey {
    Rsa(rsa::PublicKey),
    P256(p256::ecdsa::VerifyingKey),
}

impl PublicKey {
    /// From a DER `SubjectPublicKeyInfo` (RFC 5280 §4.1.2.7).
    pub(crate) fn from_spki(spki: &[u8]) -> Result<Self> {
        let m = |e| Error::malformed(Structure::Certificate, e);
        let t = tlv::read_single(spki)
            .map_err(m)?
            .expect(tag::SEQUENCE)
            .map_err(m)?;
        let mut r = t.reader();
        let alg = AlgorithmId::read(r.read().map_err(m)?).map_err(m)?;
        let bits = r.read_tag(tag::BIT_STRING).map_err(m)?;
        r.finish().map_err(m)?;
        let Some((0, key)) = bits.value.split_first() else {
            return Err(m(bits.error(ParseErrorKind::InvalidValue)));
        };
        match alg.oid {
            oid::RSA_ENCRYPTION => {
                use rsa::pkcs1::DecodeRsaPublicKey;
                let k = rsa::PublicKey::from_pkcs1_der(key).map_err(|_| Error::UnsupportedKey)?;
                Ok(Self::Rsa(k))
            }
            oid::ID_EC_PUBLIC_KEY => {
                let curve = alg
                    .params
                    .filter(|p| p.tag == tag::OID)
                    .and_then(|p| ObjectIdentifier::from_bytes(p.value).ok());
                if curve != Some(oid::SECP256R1) {
                    return Err(Error::UnsupportedKey);
                }
                let k = p256::ecdsa::VerifyingKey::from_sec1_bytes(key)
                    .map_err(|_| Error::UnsupportedKey)?;
                Ok(Self::P256(k))
            }
            other => Err(Error::UnsupportedAlgorithm(other)),
        }
    }

    /// The RSA modulus size in bits (`None` for other keys).
    pub(crate) fn rsa_bits(&self) -> Option<usize> {
        match self {
            Self::Rsa(k) => {
                use rsa::traits::PublicKeyParts;
                Some(k.size() * 8)
            }
            Self::P256(_) => None,
        }
    }

    /// Verifies `signature` over `message`.
    ///
    /// `sig_alg` is the signature `AlgorithmIdentifier`; `cms_digest` is the
    /// `SignerInfo`'s `digestAlgorithm`, used when `sig_alg` is plain
    /// `rsaEncryption` (RFC 3370 §3.2). Returns [`Error::BadSignature`] on a
    /// mismatch.
    pub(crate) fn verify(
        &self,
        sig_alg: &ObjectIdentifier,
        cms_digest: Option<DigestAlgorithm>,
        message: &[u8],
        signature: &[u8],
    ) -> Result<()> {
        match self {
            Self::Rsa(key) => {
                let digest = match *sig_alg {
                    oid::RSA_ENCRYPTION => {
                        cms_digest.ok_or(Error::UnsupportedAlgorithm(*sig_alg))?
                    }
                    oid::SHA1_WITH_RSA => DigestAlgorithm::Sha1,
                    oid::SHA224_WITH_RSA => DigestAlgorithm::Sha224,
                    oid::SHA256_WITH_RSA => DigestAlgorithm::Sha256,
                    oid::SHA384_WITH_RSA => DigestAlgorithm::Sha384,
                    oid::SHA512_WITH_RSA => DigestAlgorithm::Sha512,
                    other => return Err(Error::UnsupportedAlgorithm(other)),
                };
                let ok = match digest {
                    DigestAlgorithm::Sha1 => key.pkcs1v15_verify::<sha1::Sha1>(message, signature),
                    DigestAlgorithm::Sha224 => {
                        key.pkcs1v15_verify::<sha2::Sha224>(message, signature)
                    }
                    DigestAlgorithm::Sha256 => {
                        key.pkcs1v15_verify::<sha2::Sha256>(message, signature)
                    }
                    DigestAlgorithm::Sha384 => {
                        key.pkcs1v15_verify::<sha2::Sha384>(message, signature)
                    }
                    DigestAlgorithm::Sha512 => {
                        key.pkcs1v15_verify::<sha2::Sha512>(message, signature)
                    }
                };
                ok.map_err(|_| Error::BadSignature)
            }
            Self::P256(key) => {
                use p256::ecdsa::signature::Verifier;
                let plain_ec_in_cms = *sig_alg == oid::ID_EC_PUBLIC_KEY
                    && cms_digest == Some(DigestAlgorithm::Sha256);
                if *sig_alg != oid::ECDSA_WITH_SHA256 && !plain_ec_in_cms {
                    return Err(Error::UnsupportedAlgorithm(*sig_alg));
                }
                let sig =
                    p256::ecdsa::Signature::from_der(signature).map_err(|_| Error::BadSignature)?;
                key.verify(message, &sig).map_err(|_| Error::BadSignature)
            }
        }
    }

    /// RSA PKCS #1 v1.5 key transport (RFC 3370 §4.2.1) of `key_material`.
    pub(crate) fn encrypt_key<R: rand_core::CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        key_material: &[u8],
    ) -> Result<Vec<u8>> {
        match self {
            Self::Rsa(k) => Ok(k.pkcs1v15_encrypt_with_rng(rng, key_material)?),
            Self::P256(_) => Err(Error::UnsupportedKey),
        }
    }
}

/// A content-encryption algorithm for the `pkcsPKIEnvelope`.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum ContentEncryption {
    /// AES-128 in CBC mode (RFC 3565).
    Aes128Cbc,
    /// AES-192 in CBC mode (RFC 3565).
    Aes192Cbc,
    /// AES-256 in CBC mode (RFC 3565).
    Aes256Cbc,
    /// Triple-DES (EDE, three keys) in CBC mode (RFC 3370 §5.1).
    DesEde3Cbc,
}

impl ContentEncryption {
    /// From its object identifier.
    pub fn from_oid(id: &ObjectIdentifier) -> Option<Self> {
        Some(match *id {
            oid::AES128_CBC => Self::Aes128Cbc,
            oid::AES192_CBC => Self::Aes192Cbc,
            oid::AES256_CBC => Self::Aes256Cbc,
            oid::DES_EDE3_CBC => Self::DesEde3Cbc,
            _ => return None,
        })
    }

    /// Its object identifier.
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            Self::Aes128Cbc => oid::AES128_CBC,
            Self::Aes192Cbc => oid::AES192_CBC,
            Self::Aes256Cbc => oid::AES256_CBC,
            Self::DesEde3Cbc => oid::DES_EDE3_CBC,
        }
    }

    /// Key length in bytes.
    pub fn key_len(self) -> usize {
        match self {
            Self::Aes128Cbc => 16,
            Self::Aes192Cbc | Self::DesEde3Cbc => 24,
            Self::Aes256Cbc => 32,
        }
    }

    /// IV (block) length in bytes.
    pub fn iv_len(self) -> usize {
        match self {
            Self::DesEde3Cbc => 8,
            _ => 16,
        }
    }

    /// Whether this is one of the AES variants.
    pub fn is_aes(self) -> bool {
        !matches!(self, Self::DesEde3Cbc)
    }

    /// Decrypts and removes PKCS #7 padding (RFC 5652 §6.3).
    pub(crate) fn decrypt(self, key: &[u8], iv: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>> {
        fn run<C>(key: &[u8], iv: &[u8], ct: &[u8]) -> Result<Vec<u8>>
        where
            cbc::Decryptor<C>: KeyIvInit + BlockModeDecrypt,
            C: cbc::cipher::BlockCipherDecrypt,
        {
            let dec =
                cbc::Decryptor::<C>::new_from_slices(key, iv).map_err(|_| Error::Decryption)?;
            dec.decrypt_padded_vec::<Pkcs7>(ct)
                .map_err(|_| Error::Decryption)
        }
        if key.len() != self.key_len() || iv.len() != self.iv_len() {
            return Err(Error::Decryption);
        }
        match self {
            Self::Aes128Cbc => run::<aes::Aes128>(key, iv, ciphertext),
            Self::Aes192Cbc => run::<aes::Aes192>(key, iv, ciphertext),
            Self::Aes256Cbc => run::<aes::Aes256>(key, iv, ciphertext),
            Self::DesEde3Cbc => run::<des::TdesEde3>(key, iv, ciphertext),
        }
    }

    /// Pads (PKCS #7) and encrypts.
    pub(crate) fn encrypt(self, key: &[u8], iv: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
        fn run<C>(key: &[u8], iv: &[u8], pt: &[u8]) -> Result<Vec<u8>>
        where
            cbc::Encryptor<C>: KeyIvInit + BlockModeEncrypt,
            C: cbc::cipher::BlockCipherEncrypt,
        {
            let enc = cbc::Encryptor::<C>::new_from_slices(key, iv)
                .map_err(|_| Error::Encoding("content-encryption key length".into()))?;
            Ok(enc.encrypt_padded_vec::<Pkcs7>(pt))
        }
        match self {
            Self::Aes128Cbc => run::<aes::Aes128>(key, iv, plaintext),
            Self::Aes192Cbc => run::<aes::Aes192>(key, iv, plaintext),
            Self::Aes256Cbc => run::<aes::Aes256>(key, iv, plaintext),
            Self::DesEde3Cbc => run::<des::TdesEde3>(key, iv, plaintext),
        }
    }
}

/// Constant-time equality of two byte strings (the length is not secret).
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // Keep the comparison from being short-circuited by the optimiser.
    core::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ciphers_roundtrip() {
        for alg in [
            ContentEncryption::Aes128Cbc,
            ContentEncryption::Aes192Cbc,
            ContentEncryption::Aes256Cbc,
            ContentEncryption::DesEde3Cbc,
        ] {
            let key: Vec<u8> = (0..alg.key_len() as u8).collect();
            let iv = vec![9u8; alg.iv_len()];
            for len in [0usize, 1, 7, 8, 15, 16, 17, 100] {
                let pt = vec![0xab; len];
                let ct = alg.encrypt(&key, &iv, &pt).unwrap();
                assert_eq!(ct.len() % alg.iv_len(), 0);
                assert_eq!(alg.decrypt(&key, &iv, &ct).unwrap(), pt);
            }
            assert!(alg.decrypt(&key[1..], &iv, &[0; 16]).is_err());
            assert!(alg.decrypt(&key, &iv, &[0; 5]).is_err());
            assert_eq!(ContentEncryption::from_oid(&alg.oid()), Some(alg));
        }
    }

    #[test]
    fn digests() {
        for d in [
            DigestAlgorithm::Sha1,
            DigestAlgorithm::Sha224,
            DigestAlgorithm::Sha256,
            DigestAlgorithm::Sha384,
            DigestAlgorithm::Sha512,
        ] {
            assert_eq!(DigestAlgorithm::from_oid(&d.oid()), Some(d));
        }
        assert_eq!(
            hex::encode(DigestAlgorithm::Sha256.digest(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    proptest! {
        #[test]
        fn ct_eq_matches_eq(a in proptest::collection::vec(any::<u8>(), 0..8), b in proptest::collection::vec(any::<u8>(), 0..8)) {
            prop_assert_eq!(ct_eq(&a, &b), a == b);
        }
    }
}
