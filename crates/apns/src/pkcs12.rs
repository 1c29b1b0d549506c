//! PKCS #12 (`.p12`, `.pfx`) files: the form in which admins usually hold the
//! MDM push certificate, exported from macOS Keychain Access, Windows or
//! `openssl pkcs12 -export`.
//!
//! [`Pkcs12::decode`] reads a file in password privacy and password
//! integrity mode (RFC 7292 §3, §4, §5):
//!
//! ```text
//! PFX ::= SEQUENCE {
//!     version     INTEGER {v3(3)}(v3,...),
//!     authSafe    ContentInfo,
//!     macData     MacData OPTIONAL
//! }
//! MacData ::= SEQUENCE {
//!     mac         DigestInfo,
//!     macSalt     OCTET STRING,
//!     iterations  INTEGER DEFAULT 1
//! }
//! AuthenticatedSafe ::= SEQUENCE OF ContentInfo
//!     -- Data if unencrypted, EncryptedData if password-encrypted
//! SafeContents ::= SEQUENCE OF SafeBag
//! SafeBag ::= SEQUENCE {
//!     bagId          BAG-TYPE.&id ({PKCS12BagSet}),
//!     bagValue       [0] EXPLICIT BAG-TYPE.&Type({PKCS12BagSet}{@bagId}),
//!     bagAttributes  SET OF PKCS12Attribute OPTIONAL
//! }
//! ```
//!
//! What is supported:
//!
//! * integrity: the `MacData` HMAC with SHA-1, SHA-224, SHA-256, SHA-384 or
//!   SHA-512, its key made by the PKCS #12 key derivation (RFC 7292
//!   Appendix B.2, ID 3, password as a NUL-terminated BMPString), and
//!   PBMAC1 (RFC 9579: PBKDF2 and HMAC). The tag is compared in constant
//!   time. A file without `MacData` is read, but only stands if it
//!   decrypts and its key matches a certificate;
//! * privacy: PBES2 (RFC 8018 §6.2) with PBKDF2 (HMAC-SHA-1, -224, -256,
//!   -384, -512; the password as its UTF-8 bytes, as OpenSSL does) and
//!   AES-128/192/256-CBC or DES-EDE3-CBC — what OpenSSL 3 and current
//!   macOS write — and the legacy PKCS #12 schemes (RFC 7292 Appendix C)
//!   pbeWithSHAAnd3-KeyTripleDES-CBC, pbeWithSHAAnd2-KeyTripleDES-CBC,
//!   pbeWithSHAAnd128BitRC2-CBC and pbeWithSHAAnd40BitRC2-CBC — what
//!   older Keychain Access, Windows and `openssl pkcs12 -legacy` write;
//! * bags: keyBag, pkcs8ShroudedKeyBag, certBag (x509Certificate) and
//!   safeContentsBag (nested), with their friendlyName and localKeyId
//!   attributes. Other bag types (CRLs, secrets) are skipped;
//! * BER anywhere (indefinite lengths, constructed OCTET STRINGs, as Java
//!   and Windows write), normalised by `pippin-ber`.
//!
//! An empty password is tried both as the empty BMPString (`00 00`) and as
//! no password at all, as OpenSSL does. Work is bounded before it is done
//! ([`Limits`]): file size, bag count, nesting, and iteration counts.
//!
//! Not supported: public-key integrity and privacy modes (a `SignedData` or
//! `EnvelopedData` authSafe), RC4, and PBES1 (PKCS #5 v1.5) schemes; each is
//! reported as [`Error::Pkcs12UnsupportedAlgorithm`] with its OID.

use std::borrow::Cow;

use const_oid::ObjectIdentifier as Oid;
use pippin_ber::{Reader, Tlv};

use crate::error::{Error, Result};

/// Bounds on what [`Pkcs12::decode_with`] accepts, checked before the work
/// they limit is done.
///
/// ```
/// let mut limits = apns::pkcs12::Limits::default();
/// limits.max_iterations(100_000).max_len(64 * 1024);
/// ```
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Limits {
    max_len: usize,
    max_bags: usize,
    max_depth: usize,
    max_iterations: u64,
    max_total_iterations: u64,
}

impl Limits {
    /// Largest file accepted, in bytes: 1 MiB (a push certificate with its
    /// key and chain is 3 to 6 KiB).
    pub const DEFAULT_MAX_LEN: usize = 1024 * 1024;
    /// Most bags and `ContentInfo`s in one file: 256.
    pub const DEFAULT_MAX_BAGS: usize = 256;
    /// Deepest nesting of `safeContentsBag`s: 4.
    pub const DEFAULT_MAX_DEPTH: usize = 4;
    /// Highest iteration count of one key derivation: 1,000,000 (OpenSSL
    /// writes 2048, macOS a few thousand).
    pub const DEFAULT_MAX_ITERATIONS: u64 = 1_000_000;
    /// Highest sum of iteration counts over the whole file: 4,000,000.
    pub const DEFAULT_MAX_TOTAL_ITERATIONS: u64 = 4_000_000;

    /// The largest file accepted, in bytes.
    pub fn max_len(&mut self, bytes: usize) -> &mut Self {
        self.max_len = bytes;
        self
    }

    /// The most `SafeBag`s and `ContentInfo`s, counted over all levels.
    pub fn max_bags(&mut self, count: usize) -> &mut Self {
        self.max_bags = count;
        self
    }

    /// The deepest nesting of `safeContentsBag`s (0: none allowed).
    pub fn max_depth(&mut self, depth: usize) -> &mut Self {
        self.max_depth = depth;
        self
    }

    /// The highest iteration count of any one key derivation (MAC key,
    /// encryption key or IV).
    pub fn max_iterations(&mut self, iterations: u64) -> &mut Self {
        self.max_iterations = iterations;
        self
    }

    /// The highest sum of iteration counts of all key derivations done for
    /// one file (each password tried counts).
    pub fn max_total_iterations(&mut self, iterations: u64) -> &mut Self {
        self.max_total_iterations = iterations;
        self
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_len: Self::DEFAULT_MAX_LEN,
            max_bags: Self::DEFAULT_MAX_BAGS,
            max_depth: Self::DEFAULT_MAX_DEPTH,
            max_iterations: Self::DEFAULT_MAX_ITERATIONS,
            max_total_iterations: Self::DEFAULT_MAX_TOTAL_ITERATIONS,
        }
    }
}

/// The decrypted contents of a PKCS #12 file: its private keys and
/// certificates, in file order.
///
/// ```no_run
/// let p12 = std::fs::read("push.p12")?;
/// let contents = apns::pkcs12::Pkcs12::decode(&p12, "secret")?;
/// for cert in contents.certificates() {
///     println!("{:?}: {} bytes", cert.friendly_name(), cert.der().len());
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct Pkcs12 {
    keys: Vec<Pkcs12Key>,
    certificates: Vec<Pkcs12Certificate>,
}

/// A certificate from a `certBag` (x509Certificate), with the bag's
/// attributes.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Pkcs12Certificate {
    der: Vec<u8>,
    friendly_name: Option<String>,
    local_key_id: Option<Vec<u8>>,
}

impl Pkcs12Certificate {
    /// The certificate, DER.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The bag's `friendlyName` attribute (what Keychain Access shows).
    pub fn friendly_name(&self) -> Option<&str> {
        self.friendly_name.as_deref()
    }

    /// The bag's `localKeyId` attribute, which pairs it with its key.
    pub fn local_key_id(&self) -> Option<&[u8]> {
        self.local_key_id.as_deref()
    }
}

/// A private key from a `keyBag` or a decrypted `pkcs8ShroudedKeyBag`, with
/// the bag's attributes. Its `Debug` output leaves the key out.
#[derive(Clone, Eq, PartialEq)]
pub struct Pkcs12Key {
    pkcs8: Vec<u8>,
    friendly_name: Option<String>,
    local_key_id: Option<Vec<u8>>,
}

impl Pkcs12Key {
    /// The key, as a DER PKCS #8 `PrivateKeyInfo`.
    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The bag's `friendlyName` attribute.
    pub fn friendly_name(&self) -> Option<&str> {
        self.friendly_name.as_deref()
    }

    /// The bag's `localKeyId` attribute, which pairs it with its
    /// certificate.
    pub fn local_key_id(&self) -> Option<&[u8]> {
        self.local_key_id.as_deref()
    }
}

impl std::fmt::Debug for Pkcs12Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs12Key")
            .field("pkcs8", &format_args!("({} bytes)", self.pkcs8.len()))
            .field("friendly_name", &self.friendly_name)
            .field("local_key_id", &self.local_key_id)
            .finish()
    }
}

impl Pkcs12 {
    /// Decodes, checks and decrypts a PKCS #12 file (DER or BER) with
    /// `password`, within the default [`Limits`].
    ///
    /// Errors: [`Error::Pkcs12WrongPassword`] when the MAC does not verify
    /// (or, in a file without one, when decryption fails),
    /// [`Error::Pkcs12UnsupportedAlgorithm`], [`Error::Pkcs12Malformed`],
    /// [`Error::Pkcs12Limit`], [`Error::Pkcs12Decryption`].
    pub fn decode(p12: &[u8], password: &str) -> Result<Self> {
        Self::decode_with(p12, password, &Limits::default())
    }

    /// [`Pkcs12::decode`] within `limits`.
    pub fn decode_with(p12: &[u8], password: &str, limits: &Limits) -> Result<Self> {
        if p12.len() > limits.max_len {
            return Err(limit(
                "file size in bytes",
                p12.len() as u64,
                limits.max_len as u64,
            ));
        }
        let der = ber_to_der(p12, "PFX")?;
        let pfx = Pfx::parse(&der)?;
        let mut work = Work {
            limits,
            iterations: 0,
        };

        // The BMPString forms of the password to try (RFC 7292 B.1): for an
        // empty password OpenSSL writes either `00 00` or nothing at all.
        let bmp: Vec<u8> = password
            .encode_utf16()
            .flat_map(u16::to_be_bytes)
            .chain([0, 0])
            .collect();
        let mut candidates = vec![bmp];
        if password.is_empty() {
            candidates.push(Vec::new());
        }

        let mac_verified = match &pfx.mac {
            Some(mac) => {
                let mut found = None;
                for candidate in &candidates {
                    if mac.verify(candidate, password.as_bytes(), pfx.auth_safe, &mut work)? {
                        found = Some(candidate.clone());
                        break;
                    }
                    if matches!(mac.algorithm, MacAlgorithm::Pbmac1 { .. }) {
                        // PBMAC1 uses the UTF-8 password only: one try.
                        break;
                    }
                }
                candidates = vec![found.ok_or(Error::Pkcs12WrongPassword)?];
                true
            }
            None => false,
        };

        let last = candidates.len() - 1;
        for (i, candidate) in candidates.iter().enumerate() {
            let mut decoder = Decoder {
                work: &mut work,
                password_bmp: candidate,
                password_utf8: password.as_bytes(),
                mac_verified,
                bags: 0,
                out: Self::default(),
            };
            match decoder.authenticated_safe(pfx.auth_safe) {
                Ok(()) => return Ok(decoder.out),
                Err(Error::Pkcs12WrongPassword) if i < last => continue,
                Err(e) => return Err(e),
            }
        }
        // `candidates` is never empty, so the loop always returns.
        Err(Error::Pkcs12WrongPassword)
    }

    /// The private keys, in file order.
    pub fn keys(&self) -> &[Pkcs12Key] {
        &self.keys
    }

    /// The certificates, in file order.
    pub fn certificates(&self) -> &[Pkcs12Certificate] {
        &self.certificates
    }
}

// ---------------------------------------------------------------------------
// Object identifiers.

const fn oid(s: &str) -> Oid {
    Oid::new_unwrap(s)
}

/// `id-data` (RFC 5652 §4).
const ID_DATA: Oid = oid("1.2.840.113549.1.7.1");
/// `id-encryptedData` (RFC 5652 §8).
const ID_ENCRYPTED_DATA: Oid = oid("1.2.840.113549.1.7.6");
/// Bag types (RFC 7292 §4.2).
const KEY_BAG: Oid = oid("1.2.840.113549.1.12.10.1.1");
const PKCS8_SHROUDED_KEY_BAG: Oid = oid("1.2.840.113549.1.12.10.1.2");
const CERT_BAG: Oid = oid("1.2.840.113549.1.12.10.1.3");
const SAFE_CONTENTS_BAG: Oid = oid("1.2.840.113549.1.12.10.1.6");
/// `x509Certificate` cert type (RFC 7292 §4.2.3).
const X509_CERTIFICATE: Oid = oid("1.2.840.113549.1.9.22.1");
/// Bag attributes (PKCS #9, RFC 2985 §5.5.1, §5.5.2).
const FRIENDLY_NAME: Oid = oid("1.2.840.113549.1.9.20");
const LOCAL_KEY_ID: Oid = oid("1.2.840.113549.1.9.21");
/// Digests (RFC 3370 §2.1, RFC 5754 §2).
const SHA1: Oid = oid("1.3.14.3.2.26");
const SHA224: Oid = oid("2.16.840.1.101.3.4.2.4");
const SHA256: Oid = oid("2.16.840.1.101.3.4.2.1");
const SHA384: Oid = oid("2.16.840.1.101.3.4.2.2");
const SHA512: Oid = oid("2.16.840.1.101.3.4.2.3");
/// HMACs as PBKDF2 PRFs (RFC 8018 Appendix B.1).
const HMAC_SHA1: Oid = oid("1.2.840.113549.2.7");
const HMAC_SHA224: Oid = oid("1.2.840.113549.2.8");
const HMAC_SHA256: Oid = oid("1.2.840.113549.2.9");
const HMAC_SHA384: Oid = oid("1.2.840.113549.2.10");
const HMAC_SHA512: Oid = oid("1.2.840.113549.2.11");
/// PKCS #5 (RFC 8018 Appendix A.2, A.4; RFC 9579 §3).
const PBKDF2: Oid = oid("1.2.840.113549.1.5.12");
const PBES2: Oid = oid("1.2.840.113549.1.5.13");
const PBMAC1: Oid = oid("1.2.840.113549.1.5.14");
/// PBES2 encryption schemes (RFC 8018 Appendix B.2; NIST CSOR).
const DES_EDE3_CBC: Oid = oid("1.2.840.113549.3.7");
const AES128_CBC: Oid = oid("2.16.840.1.101.3.4.1.2");
const AES192_CBC: Oid = oid("2.16.840.1.101.3.4.1.22");
const AES256_CBC: Oid = oid("2.16.840.1.101.3.4.1.42");
/// PKCS #12 password-based encryption (RFC 7292 Appendix C).
const PBE_SHA1_3DES_3KEY: Oid = oid("1.2.840.113549.1.12.1.3");
const PBE_SHA1_3DES_2KEY: Oid = oid("1.2.840.113549.1.12.1.4");
const PBE_SHA1_RC2_128: Oid = oid("1.2.840.113549.1.12.1.5");
const PBE_SHA1_RC2_40: Oid = oid("1.2.840.113549.1.12.1.6");

// DER tags used below.
const INTEGER: u8 = 0x02;
const OCTET_STRING: u8 = 0x04;
const NULL: u8 = 0x05;
const OID: u8 = 0x06;
const BMP_STRING: u8 = 0x1E;
const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const CONTEXT_0_PRIMITIVE: u8 = 0x80;
const CONTEXT_0: u8 = 0xA0;

// ---------------------------------------------------------------------------
// Errors.

fn malformed(what: &'static str, offset: usize) -> Error {
    Error::Pkcs12Malformed {
        what,
        offset,
        source: None,
    }
}

fn malformed_ber(what: &'static str, e: pippin_ber::Error) -> Error {
    Error::Pkcs12Malformed {
        what,
        offset: e.offset,
        source: Some(e),
    }
}

fn limit(what: &'static str, found: u64, limit: u64) -> Error {
    Error::Pkcs12Limit { what, found, limit }
}

fn unsupported(what: &'static str, oid: Oid) -> Error {
    Error::Pkcs12UnsupportedAlgorithm { what, oid }
}

/// A name for `oid`, for error messages: the OID database's, else none.
pub(crate) fn oid_name(oid: &Oid) -> &'static str {
    const_oid::db::DB.by_oid(oid).unwrap_or("unknown")
}

// ---------------------------------------------------------------------------
// DER reading helpers.

fn ber_to_der<'a>(input: &'a [u8], what: &'static str) -> Result<Cow<'a, [u8]>> {
    pippin_ber::to_der(input).map_err(|e| malformed_ber(what, e))
}

/// Reads the next element, which must have tag `tag`.
fn next<'a>(r: &mut Reader<'a>, tag: u8, what: &'static str) -> Result<Tlv<'a>> {
    if r.peek_tag() != Some(tag) {
        return Err(malformed(what, r.offset()));
    }
    r.read().map_err(|e| malformed_ber(what, e))
}

/// Reads the next element if it has tag `tag`.
fn next_if<'a>(r: &mut Reader<'a>, tag: u8, what: &'static str) -> Result<Option<Tlv<'a>>> {
    if r.peek_tag() == Some(tag) {
        next(r, tag, what).map(Some)
    } else {
        Ok(None)
    }
}

/// Reads any next element.
fn next_any<'a>(r: &mut Reader<'a>, what: &'static str) -> Result<Tlv<'a>> {
    r.read().map_err(|e| malformed_ber(what, e))
}

fn end(r: &Reader<'_>, what: &'static str) -> Result<()> {
    if r.is_empty() {
        Ok(())
    } else {
        Err(malformed(what, r.offset()))
    }
}

fn read_oid(r: &mut Reader<'_>, what: &'static str) -> Result<Oid> {
    let t = next(r, OID, what)?;
    Oid::from_bytes(t.value).map_err(|_| malformed(what, t.offset))
}

/// A non-negative INTEGER; values over `u64::MAX` saturate (every caller
/// bounds the value).
fn read_uint(r: &mut Reader<'_>, what: &'static str) -> Result<u64> {
    let t = next(r, INTEGER, what)?;
    match t.value.first() {
        None => Err(malformed(what, t.offset)),
        Some(b) if b & 0x80 != 0 => Err(malformed(what, t.offset)),
        Some(_) => {
            let digits = &t.value[t.value.iter().take_while(|b| **b == 0).count()..];
            if digits.len() > 8 {
                return Ok(u64::MAX);
            }
            Ok(digits
                .iter()
                .fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
        }
    }
}

/// An `AlgorithmIdentifier`: its OID and a reader over its parameters
/// (empty when absent).
fn read_algorithm<'a>(r: &mut Reader<'a>, what: &'static str) -> Result<(Oid, Reader<'a>)> {
    let seq = next(r, SEQUENCE, what)?;
    let mut inner = r.enter(&seq);
    let oid = read_oid(&mut inner, what)?;
    Ok((oid, inner))
}

/// Parameters that must be absent or NULL.
fn no_parameters(params: &mut Reader<'_>, what: &'static str) -> Result<()> {
    next_if(params, NULL, what)?;
    end(params, what)
}

/// `[0] EXPLICIT` around one element; returns that element.
fn explicit<'a>(r: &mut Reader<'a>, what: &'static str) -> Result<(Tlv<'a>, Reader<'a>)> {
    let wrapper = next(r, CONTEXT_0, what)?;
    let mut inner = r.enter(&wrapper);
    let value = next_any(&mut inner, what)?;
    end(&inner, what)?;
    Ok((value, inner))
}

// ---------------------------------------------------------------------------
// The PFX and its MAC.

/// The outer `PFX`, with the bytes its MAC covers.
struct Pfx<'a> {
    /// The contents of the authSafe `Data` OCTET STRING: a DER or BER
    /// `AuthenticatedSafe`.
    auth_safe: &'a [u8],
    mac: Option<MacData<'a>>,
}

impl<'a> Pfx<'a> {
    fn parse(der: &'a [u8]) -> Result<Self> {
        let mut top = Reader::new(der);
        let pfx = next(&mut top, SEQUENCE, "PFX SEQUENCE")?;
        let mut r = top.enter(&pfx);
        let version_at = r.offset();
        if read_uint(&mut r, "PFX version")? != 3 {
            return Err(malformed("PFX version (must be 3)", version_at));
        }
        let ci = next(&mut r, SEQUENCE, "authSafe ContentInfo")?;
        let mut ci_r = r.enter(&ci);
        let content_type = read_oid(&mut ci_r, "authSafe contentType")?;
        if content_type != ID_DATA {
            // id-signedData: public-key integrity mode.
            return Err(unsupported("authSafe content type", content_type));
        }
        let (octets, _) = explicit(&mut ci_r, "authSafe content")?;
        if octets.tag != OCTET_STRING {
            return Err(malformed("authSafe Data OCTET STRING", octets.offset));
        }
        end(&ci_r, "end of authSafe ContentInfo")?;
        let mac = match r.peek_tag() {
            Some(SEQUENCE) => Some(MacData::parse(&mut r)?),
            _ => None,
        };
        end(&r, "end of PFX")?;
        Ok(Self {
            auth_safe: octets.value,
            mac,
        })
    }
}

/// A hash function the MAC and key derivations use.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum Hash {
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    fn from_digest_oid(oid: &Oid) -> Option<Self> {
        Some(match *oid {
            SHA1 => Self::Sha1,
            SHA224 => Self::Sha224,
            SHA256 => Self::Sha256,
            SHA384 => Self::Sha384,
            SHA512 => Self::Sha512,
            _ => return None,
        })
    }

    fn from_hmac_oid(oid: &Oid) -> Option<Self> {
        Some(match *oid {
            HMAC_SHA1 => Self::Sha1,
            HMAC_SHA224 => Self::Sha224,
            HMAC_SHA256 => Self::Sha256,
            HMAC_SHA384 => Self::Sha384,
            HMAC_SHA512 => Self::Sha512,
            _ => return None,
        })
    }

    fn output_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha224 => 28,
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }

    /// The PKCS #12 key derivation (RFC 7292 Appendix B.2) with this hash.
    fn pkcs12_kdf(self, id: u8, password: &[u8], salt: &[u8], iterations: u32, out: &mut [u8]) {
        match self {
            Self::Sha1 => kdf::pkcs12::<sha1::Sha1>(id, password, salt, iterations, out),
            Self::Sha224 => kdf::pkcs12::<sha2::Sha224>(id, password, salt, iterations, out),
            Self::Sha256 => kdf::pkcs12::<sha2::Sha256>(id, password, salt, iterations, out),
            Self::Sha384 => kdf::pkcs12::<sha2::Sha384>(id, password, salt, iterations, out),
            Self::Sha512 => kdf::pkcs12::<sha2::Sha512>(id, password, salt, iterations, out),
        }
    }

    /// PBKDF2 (RFC 8018 §5.2) with HMAC over this hash as PRF.
    fn pbkdf2(self, password: &[u8], salt: &[u8], iterations: u32, out: &mut [u8]) {
        use pbkdf2::pbkdf2_hmac;
        match self {
            Self::Sha1 => pbkdf2_hmac::<sha1::Sha1>(password, salt, iterations, out),
            Self::Sha224 => pbkdf2_hmac::<sha2::Sha224>(password, salt, iterations, out),
            Self::Sha256 => pbkdf2_hmac::<sha2::Sha256>(password, salt, iterations, out),
            Self::Sha384 => pbkdf2_hmac::<sha2::Sha384>(password, salt, iterations, out),
            Self::Sha512 => pbkdf2_hmac::<sha2::Sha512>(password, salt, iterations, out),
        }
    }

    /// Whether `tag` is the HMAC of `data` under `key`, compared in
    /// constant time.
    fn hmac_verify(self, key: &[u8], data: &[u8], tag: &[u8]) -> bool {
        match self {
            Self::Sha1 => kdf::hmac_verify::<sha1::Sha1>(key, data, tag),
            Self::Sha224 => kdf::hmac_verify::<sha2::Sha224>(key, data, tag),
            Self::Sha256 => kdf::hmac_verify::<sha2::Sha256>(key, data, tag),
            Self::Sha384 => kdf::hmac_verify::<sha2::Sha384>(key, data, tag),
            Self::Sha512 => kdf::hmac_verify::<sha2::Sha512>(key, data, tag),
        }
    }
}

/// How the MAC key is made.
#[derive(Debug)]
enum MacAlgorithm<'a> {
    /// RFC 7292 Appendix B: PKCS #12 KDF (ID 3) and HMAC, both with `Hash`.
    Pkcs12(Hash),
    /// RFC 9579: PBKDF2 and HMAC.
    Pbmac1 { kdf: Pbkdf2<'a>, mac: Hash },
}

/// `MacData` (RFC 7292 §4).
struct MacData<'a> {
    algorithm: MacAlgorithm<'a>,
    digest: &'a [u8],
    salt: &'a [u8],
    iterations: Iterations,
}

impl<'a> MacData<'a> {
    fn parse(r: &mut Reader<'a>) -> Result<Self> {
        let seq = next(r, SEQUENCE, "MacData")?;
        let mut m = r.enter(&seq);
        let digest_info = next(&mut m, SEQUENCE, "MacData DigestInfo")?;
        let mut di = m.enter(&digest_info);
        let (alg, mut params) = read_algorithm(&mut di, "MAC algorithm")?;
        let algorithm = if alg == PBMAC1 {
            // PBMAC1-params ::= SEQUENCE { keyDerivationFunc, messageAuthScheme }
            let p = next(&mut params, SEQUENCE, "PBMAC1 parameters")?;
            let mut pr = params.enter(&p);
            let (kdf_oid, mut kdf_params) = read_algorithm(&mut pr, "PBMAC1 key derivation")?;
            if kdf_oid != PBKDF2 {
                return Err(unsupported("PBMAC1 key derivation", kdf_oid));
            }
            let kdf = Pbkdf2::parse(&mut kdf_params)?;
            let (mac_oid, mut mac_params) = read_algorithm(&mut pr, "PBMAC1 MAC")?;
            let mac = Hash::from_hmac_oid(&mac_oid)
                .ok_or_else(|| unsupported("PBMAC1 MAC algorithm", mac_oid))?;
            no_parameters(&mut mac_params, "PBMAC1 MAC parameters")?;
            end(&pr, "end of PBMAC1 parameters")?;
            MacAlgorithm::Pbmac1 { kdf, mac }
        } else {
            let hash = Hash::from_digest_oid(&alg)
                .ok_or_else(|| unsupported("MAC digest algorithm", alg))?;
            no_parameters(&mut params, "MAC digest parameters")?;
            MacAlgorithm::Pkcs12(hash)
        };
        end(&params, "end of MAC algorithm parameters")?;
        let digest = next(&mut di, OCTET_STRING, "MAC value")?.value;
        end(&di, "end of DigestInfo")?;
        let salt = next(&mut m, OCTET_STRING, "MAC salt")?.value;
        let iterations = if m.peek_tag() == Some(INTEGER) {
            read_iterations(&mut m, "MAC iterations")?
        } else {
            Iterations {
                count: 1,
                offset: m.offset(),
            }
        };
        end(&m, "end of MacData")?;
        Ok(Self {
            algorithm,
            digest,
            salt,
            iterations,
        })
    }

    /// Whether the MAC over `data` verifies with this password (its
    /// BMPString and UTF-8 forms).
    fn verify(&self, bmp: &[u8], utf8: &[u8], data: &[u8], work: &mut Work<'_>) -> Result<bool> {
        match &self.algorithm {
            MacAlgorithm::Pkcs12(hash) => {
                let iterations = work.spend(self.iterations)?;
                let mut key = vec![0u8; hash.output_len()];
                hash.pkcs12_kdf(3, bmp, self.salt, iterations, &mut key);
                Ok(hash.hmac_verify(&key, data, self.digest))
            }
            MacAlgorithm::Pbmac1 { kdf, mac } => {
                // RFC 9579 §3: the key length must be given; macSalt and
                // iterations of MacData are not used.
                let len = kdf
                    .key_length
                    .ok_or(malformed("PBMAC1 PBKDF2 keyLength (required)", kdf.offset))?;
                if len == 0 || len > 1024 {
                    return Err(malformed("PBMAC1 PBKDF2 keyLength", kdf.offset));
                }
                let iterations = work.spend(kdf.iterations)?;
                let mut key = vec![0u8; len];
                kdf.prf.pbkdf2(utf8, kdf.salt, iterations, &mut key);
                Ok(mac.hmac_verify(&key, data, self.digest))
            }
        }
    }
}

/// An iteration count as read, with where it was (for errors).
#[derive(Clone, Copy, Debug)]
struct Iterations {
    count: u64,
    offset: usize,
}

/// Reads an iteration count (an INTEGER).
fn read_iterations(r: &mut Reader<'_>, what: &'static str) -> Result<Iterations> {
    let offset = r.offset();
    let count = read_uint(r, what)?;
    Ok(Iterations { count, offset })
}

/// The iteration budget of one decode.
struct Work<'l> {
    limits: &'l Limits,
    iterations: u64,
}

impl Work<'_> {
    /// Checks one derivation's iteration count against the limits before it
    /// runs, and counts it.
    fn spend(&mut self, iterations: Iterations) -> Result<u32> {
        let Iterations {
            count: iterations,
            offset,
        } = iterations;
        if iterations == 0 {
            return Err(malformed("iteration count (zero)", offset));
        }
        if iterations > self.limits.max_iterations {
            return Err(limit(
                "iteration count",
                iterations,
                self.limits.max_iterations,
            ));
        }
        self.iterations = self.iterations.saturating_add(iterations);
        if self.iterations > self.limits.max_total_iterations {
            return Err(limit(
                "total iteration count",
                self.iterations,
                self.limits.max_total_iterations,
            ));
        }
        u32::try_from(iterations)
            .map_err(|_| limit("iteration count", iterations, u64::from(u32::MAX)))
    }
}

// ---------------------------------------------------------------------------
// Password-based encryption.

/// `PBKDF2-params` (RFC 8018 Appendix A.2).
#[derive(Debug)]
struct Pbkdf2<'a> {
    salt: &'a [u8],
    iterations: Iterations,
    key_length: Option<usize>,
    prf: Hash,
    /// Where the parameters start.
    offset: usize,
}

impl<'a> Pbkdf2<'a> {
    /// Reads the parameters from `params`, the rest of the
    /// `AlgorithmIdentifier`.
    fn parse(params: &mut Reader<'a>) -> Result<Self> {
        let seq = next(params, SEQUENCE, "PBKDF2 parameters")?;
        end(params, "end of PBKDF2 parameters")?;
        let mut p = params.enter(&seq);
        if p.peek_tag() == Some(SEQUENCE) {
            // salt: otherSource AlgorithmIdentifier
            let (oid, _) = read_algorithm(&mut p, "PBKDF2 salt source")?;
            return Err(unsupported("PBKDF2 salt source", oid));
        }
        let salt = next(&mut p, OCTET_STRING, "PBKDF2 salt")?.value;
        let iterations = read_iterations(&mut p, "PBKDF2 iteration count")?;
        let key_length = if p.peek_tag() == Some(INTEGER) {
            let at = p.offset();
            let len = read_uint(&mut p, "PBKDF2 keyLength")?;
            Some(usize::try_from(len).map_err(|_| malformed("PBKDF2 keyLength", at))?)
        } else {
            None
        };
        let prf = if p.peek_tag() == Some(SEQUENCE) {
            let (oid, mut prf_params) = read_algorithm(&mut p, "PBKDF2 PRF")?;
            let prf = Hash::from_hmac_oid(&oid).ok_or_else(|| unsupported("PBKDF2 PRF", oid))?;
            no_parameters(&mut prf_params, "PBKDF2 PRF parameters")?;
            prf
        } else {
            Hash::Sha1
        };
        end(&p, "end of PBKDF2 parameters")?;
        Ok(Self {
            salt,
            iterations,
            key_length,
            prf,
            offset: seq.offset,
        })
    }
}

/// A block cipher in CBC mode with PKCS #7 padding.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum Cipher {
    Aes128,
    Aes192,
    Aes256,
    /// Three-key triple DES (a two-key one is expanded to K1 K2 K1).
    DesEde3,
    /// RC2 with this effective key length in bits (RFC 2268).
    Rc2 {
        effective_bits: usize,
    },
}

impl Cipher {
    fn iv_len(self) -> usize {
        match self {
            Self::Aes128 | Self::Aes192 | Self::Aes256 => 16,
            Self::DesEde3 | Self::Rc2 { .. } => 8,
        }
    }

    fn key_len(self) -> usize {
        match self {
            Self::Aes128 => 16,
            Self::Aes192 => 24,
            Self::Aes256 => 32,
            Self::DesEde3 => 24,
            Self::Rc2 { effective_bits } => effective_bits / 8,
        }
    }

    /// Decrypts and removes the padding; `None` when the padding is wrong
    /// (a wrong key) or the ciphertext is not whole blocks.
    fn decrypt(self, key: &[u8], iv: &[u8], ciphertext: &[u8]) -> Option<Vec<u8>> {
        use cbc::cipher::KeyInit;
        match self {
            Self::Aes128 => cbc_decrypt(aes::Aes128::new_from_slice(key).ok()?, iv, ciphertext),
            Self::Aes192 => cbc_decrypt(aes::Aes192::new_from_slice(key).ok()?, iv, ciphertext),
            Self::Aes256 => cbc_decrypt(aes::Aes256::new_from_slice(key).ok()?, iv, ciphertext),
            Self::DesEde3 => cbc_decrypt(des::TdesEde3::new_from_slice(key).ok()?, iv, ciphertext),
            Self::Rc2 { effective_bits } => {
                if key.is_empty() || key.len() > 128 {
                    return None;
                }
                let cipher = rc2::Rc2::new_with_eff_key_len(key, effective_bits);
                cbc_decrypt(cipher, iv, ciphertext)
            }
        }
    }
}

fn cbc_decrypt<C>(cipher: C, iv: &[u8], ciphertext: &[u8]) -> Option<Vec<u8>>
where
    C: cbc::cipher::BlockCipherDecrypt,
{
    use cbc::cipher::{BlockModeDecrypt, InnerIvInit, block_padding::Pkcs7};
    let mode = cbc::Decryptor::<C>::inner_iv_slice_init(cipher, iv).ok()?;
    mode.decrypt_padded_vec::<Pkcs7>(ciphertext).ok()
}

/// A password-based encryption scheme with its parameters.
#[derive(Debug)]
enum Encryption<'a> {
    /// PBES2 (RFC 8018 §6.2): PBKDF2 over the UTF-8 password, then a CBC
    /// cipher with an explicit IV.
    Pbes2 {
        kdf: Pbkdf2<'a>,
        cipher: Cipher,
        iv: &'a [u8],
    },
    /// RFC 7292 Appendix C: key (ID 1) and IV (ID 2) from the PKCS #12 KDF
    /// with SHA-1 over the BMPString password.
    Pkcs12 {
        cipher: Cipher,
        /// Key bytes to derive (16 for two-key triple DES, expanded after).
        derived_key_len: usize,
        salt: &'a [u8],
        iterations: Iterations,
    },
}

impl<'a> Encryption<'a> {
    /// Reads an `AlgorithmIdentifier` naming a password-based scheme.
    fn parse(r: &mut Reader<'a>, what: &'static str) -> Result<Self> {
        let (alg, mut params) = read_algorithm(r, what)?;
        let pkcs12 = |cipher: Cipher, derived_key_len: usize, params: &mut Reader<'a>| {
            // pkcs-12PbeParams ::= SEQUENCE { salt OCTET STRING, iterations INTEGER }
            let seq = next(params, SEQUENCE, "PKCS #12 PBE parameters")?;
            end(params, "end of PKCS #12 PBE parameters")?;
            let mut p = params.enter(&seq);
            let salt = next(&mut p, OCTET_STRING, "PKCS #12 PBE salt")?.value;
            let iterations = read_iterations(&mut p, "PKCS #12 PBE iterations")?;
            end(&p, "end of PKCS #12 PBE parameters")?;
            Ok::<_, Error>(Self::Pkcs12 {
                cipher,
                derived_key_len,
                salt,
                iterations,
            })
        };
        match alg {
            PBE_SHA1_3DES_3KEY => pkcs12(Cipher::DesEde3, 24, &mut params),
            PBE_SHA1_3DES_2KEY => pkcs12(Cipher::DesEde3, 16, &mut params),
            PBE_SHA1_RC2_128 => pkcs12(
                Cipher::Rc2 {
                    effective_bits: 128,
                },
                16,
                &mut params,
            ),
            PBE_SHA1_RC2_40 => pkcs12(Cipher::Rc2 { effective_bits: 40 }, 5, &mut params),
            PBES2 => {
                // PBES2-params ::= SEQUENCE { keyDerivationFunc, encryptionScheme }
                let seq = next(&mut params, SEQUENCE, "PBES2 parameters")?;
                end(&params, "end of PBES2 parameters")?;
                let mut p = params.enter(&seq);
                let (kdf_oid, mut kdf_params) = read_algorithm(&mut p, "PBES2 key derivation")?;
                if kdf_oid != PBKDF2 {
                    return Err(unsupported("PBES2 key derivation", kdf_oid));
                }
                let kdf = Pbkdf2::parse(&mut kdf_params)?;
                let (enc_oid, mut enc_params) = read_algorithm(&mut p, "PBES2 encryption")?;
                end(&p, "end of PBES2 parameters")?;
                let cipher = match enc_oid {
                    AES128_CBC => Cipher::Aes128,
                    AES192_CBC => Cipher::Aes192,
                    AES256_CBC => Cipher::Aes256,
                    DES_EDE3_CBC => Cipher::DesEde3,
                    other => return Err(unsupported("PBES2 encryption scheme", other)),
                };
                let iv = next(&mut enc_params, OCTET_STRING, "PBES2 IV")?;
                end(&enc_params, "end of PBES2 encryption parameters")?;
                if iv.value.len() != cipher.iv_len() {
                    return Err(malformed("PBES2 IV length", iv.offset));
                }
                if kdf.key_length.is_some_and(|l| l != cipher.key_len()) {
                    return Err(malformed("PBKDF2 keyLength (not the cipher's)", iv.offset));
                }
                Ok(Self::Pbes2 {
                    kdf,
                    cipher,
                    iv: iv.value,
                })
            }
            other => Err(unsupported("encryption algorithm", other)),
        }
    }

    /// Derives the key and IV and decrypts. `None` when the padding is wrong.
    fn decrypt(
        &self,
        bmp: &[u8],
        utf8: &[u8],
        ciphertext: &[u8],
        work: &mut Work<'_>,
    ) -> Result<Option<Vec<u8>>> {
        match self {
            Self::Pbes2 { kdf, cipher, iv } => {
                let iterations = work.spend(kdf.iterations)?;
                let mut key = vec![0u8; cipher.key_len()];
                kdf.prf.pbkdf2(utf8, kdf.salt, iterations, &mut key);
                Ok(cipher.decrypt(&key, iv, ciphertext))
            }
            Self::Pkcs12 {
                cipher,
                derived_key_len,
                salt,
                iterations: iterations_read,
            } => {
                let iterations = work.spend(*iterations_read)?;
                // The IV derivation repeats the same iterations.
                work.spend(*iterations_read)?;
                let mut key = vec![0u8; *derived_key_len];
                Hash::Sha1.pkcs12_kdf(1, bmp, salt, iterations, &mut key);
                if *derived_key_len == 16 && *cipher == Cipher::DesEde3 {
                    // Two-key triple DES: K1 K2 K1.
                    let k1 = key[..8].to_vec();
                    key.extend_from_slice(&k1);
                }
                let mut iv = vec![0u8; cipher.iv_len()];
                Hash::Sha1.pkcs12_kdf(2, bmp, salt, iterations, &mut iv);
                Ok(cipher.decrypt(&key, &iv, ciphertext))
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The contents.

struct Decoder<'w, 'l, 'p> {
    work: &'w mut Work<'l>,
    password_bmp: &'p [u8],
    password_utf8: &'p [u8],
    mac_verified: bool,
    bags: usize,
    out: Pkcs12,
}

impl Decoder<'_, '_, '_> {
    fn count_bag(&mut self) -> Result<()> {
        self.bags += 1;
        if self.bags > self.work.limits.max_bags {
            return Err(limit(
                "number of bags",
                self.bags as u64,
                self.work.limits.max_bags as u64,
            ));
        }
        Ok(())
    }

    /// `AuthenticatedSafe ::= SEQUENCE OF ContentInfo` (RFC 7292 §5.1).
    fn authenticated_safe(&mut self, input: &[u8]) -> Result<()> {
        let der = ber_to_der(input, "AuthenticatedSafe")?;
        let mut top = Reader::new(&der);
        let seq = next(&mut top, SEQUENCE, "AuthenticatedSafe SEQUENCE")?;
        end(&top, "end of AuthenticatedSafe")?;
        let mut r = top.enter(&seq);
        while !r.is_empty() {
            self.count_bag()?;
            let ci = next(&mut r, SEQUENCE, "AuthenticatedSafe ContentInfo")?;
            let mut c = r.enter(&ci);
            let content_type = read_oid(&mut c, "ContentInfo contentType")?;
            let (content, _) = explicit(&mut c, "ContentInfo content")?;
            end(&c, "end of ContentInfo")?;
            match content_type {
                ID_DATA => {
                    if content.tag != OCTET_STRING {
                        return Err(malformed("Data OCTET STRING", content.offset));
                    }
                    self.safe_contents(content.value, 0)?;
                }
                ID_ENCRYPTED_DATA => {
                    let plain = self.encrypted_data(&c, &content)?;
                    self.decrypted(|d| d.safe_contents(&plain, 0))?;
                }
                // id-envelopedData: public-key privacy mode, which needs the
                // recipient's private key, not a password.
                other => return Err(unsupported("AuthenticatedSafe content type", other)),
            }
        }
        Ok(())
    }

    /// Runs `f` over decrypted data. Without a verified MAC, a structure
    /// that does not parse after decryption means a wrong password far more
    /// often than a damaged file (the padding check passes for one wrong key
    /// in 256), so it is reported as one.
    fn decrypted(&mut self, f: impl FnOnce(&mut Self) -> Result<()>) -> Result<()> {
        let mac_verified = self.mac_verified;
        f(self).map_err(|e| match e {
            Error::Pkcs12Malformed { .. } | Error::PrivateKey(_) if !mac_verified => {
                Error::Pkcs12WrongPassword
            }
            e => e,
        })
    }

    /// Decrypts with `encryption`; a padding failure is a wrong password
    /// (no MAC) or a damaged file (MAC verified).
    fn decrypt(
        &mut self,
        encryption: &Encryption<'_>,
        ciphertext: &[u8],
        what: &'static str,
    ) -> Result<Vec<u8>> {
        encryption
            .decrypt(self.password_bmp, self.password_utf8, ciphertext, self.work)?
            .ok_or(if self.mac_verified {
                Error::Pkcs12Decryption { what }
            } else {
                Error::Pkcs12WrongPassword
            })
    }

    /// `EncryptedData` (RFC 5652 §8) in `content`, read through `parent`;
    /// returns the plaintext.
    fn encrypted_data(&mut self, parent: &Reader<'_>, content: &Tlv<'_>) -> Result<Vec<u8>> {
        if content.tag != SEQUENCE {
            return Err(malformed("EncryptedData SEQUENCE", content.offset));
        }
        let mut ed = parent.enter(content);
        read_uint(&mut ed, "EncryptedData version")?;
        let eci = next(&mut ed, SEQUENCE, "EncryptedContentInfo")?;
        // unprotectedAttrs [1] may follow; they are not used.
        let mut e = ed.enter(&eci);
        let content_type = read_oid(&mut e, "EncryptedContentInfo contentType")?;
        if content_type != ID_DATA {
            return Err(unsupported("encrypted content type", content_type));
        }
        let encryption = Encryption::parse(&mut e, "content encryption algorithm")?;
        // encryptedContent [0] IMPLICIT OCTET STRING: primitive, or in BER
        // constructed with OCTET STRING segments.
        let ciphertext: Cow<'_, [u8]> = match e.peek_tag() {
            Some(CONTEXT_0_PRIMITIVE) => {
                Cow::Borrowed(next(&mut e, CONTEXT_0_PRIMITIVE, "encryptedContent")?.value)
            }
            Some(CONTEXT_0) => {
                let t = next(&mut e, CONTEXT_0, "encryptedContent")?;
                let mut segments = e.enter(&t);
                let mut joined = Vec::with_capacity(t.value.len());
                while !segments.is_empty() {
                    joined.extend_from_slice(
                        next(&mut segments, OCTET_STRING, "encryptedContent segment")?.value,
                    );
                }
                Cow::Owned(joined)
            }
            _ => return Err(malformed("encryptedContent", e.offset())),
        };
        end(&e, "end of EncryptedContentInfo")?;
        self.decrypt(&encryption, &ciphertext, "encrypted SafeContents")
    }

    /// `SafeContents ::= SEQUENCE OF SafeBag` (RFC 7292 §4), DER or BER.
    fn safe_contents(&mut self, input: &[u8], depth: usize) -> Result<()> {
        let der = ber_to_der(input, "SafeContents")?;
        let mut top = Reader::new(&der);
        let seq = next(&mut top, SEQUENCE, "SafeContents SEQUENCE")?;
        end(&top, "end of SafeContents")?;
        self.bags_in(&top, &seq, depth)
    }

    /// The `SafeBag`s in `seq`, a `SafeContents` SEQUENCE read by `parent`.
    fn bags_in(&mut self, parent: &Reader<'_>, seq: &Tlv<'_>, depth: usize) -> Result<()> {
        let mut r = parent.enter(seq);
        while !r.is_empty() {
            self.count_bag()?;
            let bag = next(&mut r, SEQUENCE, "SafeBag")?;
            let mut b = r.enter(&bag);
            let bag_id = read_oid(&mut b, "SafeBag bagId")?;
            let (value, value_reader) = explicit(&mut b, "SafeBag bagValue")?;
            let attributes = match b.peek_tag() {
                Some(SET) => Attributes::parse(&mut b)?,
                _ => Attributes::default(),
            };
            end(&b, "end of SafeBag")?;
            match bag_id {
                KEY_BAG => {
                    let pkcs8 = ber_to_der(value.raw, "keyBag PrivateKeyInfo")?.into_owned();
                    self.out.keys.push(attributes.key(pkcs8));
                }
                PKCS8_SHROUDED_KEY_BAG => {
                    let plain = self.shrouded_key(&value_reader, &value)?;
                    let mut pkcs8 = None;
                    self.decrypted(|_| {
                        let der = ber_to_der(&plain, "decrypted PrivateKeyInfo")?;
                        // A wrong key that slipped past the padding check
                        // gives bytes that are not a SEQUENCE.
                        let mut check = Reader::new(&der);
                        next(&mut check, SEQUENCE, "decrypted PrivateKeyInfo")?;
                        pkcs8 = Some(der.into_owned());
                        Ok(())
                    })?;
                    if let Some(pkcs8) = pkcs8 {
                        self.out.keys.push(attributes.key(pkcs8));
                    }
                }
                CERT_BAG => {
                    if let Some(der) = cert_bag(&value_reader, &value)? {
                        self.out.certificates.push(Pkcs12Certificate {
                            der,
                            friendly_name: attributes.friendly_name,
                            local_key_id: attributes.local_key_id,
                        });
                    }
                }
                SAFE_CONTENTS_BAG => {
                    if depth + 1 > self.work.limits.max_depth {
                        return Err(limit(
                            "safeContentsBag nesting",
                            (depth + 1) as u64,
                            self.work.limits.max_depth as u64,
                        ));
                    }
                    if value.tag != SEQUENCE {
                        return Err(malformed("safeContentsBag SafeContents", value.offset));
                    }
                    self.bags_in(&value_reader, &value, depth + 1)?;
                }
                // crlBag, secretBag and anything newer: not needed here.
                _ => {}
            }
        }
        Ok(())
    }

    /// `EncryptedPrivateKeyInfo` (RFC 5958 §3) in `value`; returns the
    /// decrypted `PrivateKeyInfo` bytes.
    fn shrouded_key(&mut self, parent: &Reader<'_>, value: &Tlv<'_>) -> Result<Vec<u8>> {
        if value.tag != SEQUENCE {
            return Err(malformed("EncryptedPrivateKeyInfo", value.offset));
        }
        let mut r = parent.enter(value);
        let encryption = Encryption::parse(&mut r, "key encryption algorithm")?;
        let ciphertext = next(&mut r, OCTET_STRING, "encrypted private key")?.value;
        end(&r, "end of EncryptedPrivateKeyInfo")?;
        self.decrypt(&encryption, ciphertext, "private key")
    }
}

/// `CertBag` (RFC 7292 §4.2.3) in `value`: the certificate's DER for an
/// x509Certificate, `None` for other certificate types.
fn cert_bag(parent: &Reader<'_>, value: &Tlv<'_>) -> Result<Option<Vec<u8>>> {
    if value.tag != SEQUENCE {
        return Err(malformed("CertBag", value.offset));
    }
    let mut r = parent.enter(value);
    let cert_id = read_oid(&mut r, "CertBag certId")?;
    let (octets, _) = explicit(&mut r, "CertBag certValue")?;
    end(&r, "end of CertBag")?;
    if cert_id != X509_CERTIFICATE {
        return Ok(None);
    }
    if octets.tag != OCTET_STRING {
        return Err(malformed("x509Certificate OCTET STRING", octets.offset));
    }
    Ok(Some(
        ber_to_der(octets.value, "x509Certificate")?.into_owned(),
    ))
}

/// The bag attributes this module reads.
#[derive(Default)]
struct Attributes {
    friendly_name: Option<String>,
    local_key_id: Option<Vec<u8>>,
}

impl Attributes {
    /// `bagAttributes SET OF PKCS12Attribute`, where
    /// `PKCS12Attribute ::= SEQUENCE { attrId, attrValues SET OF ANY }`.
    fn parse(r: &mut Reader<'_>) -> Result<Self> {
        let set = next(r, SET, "bagAttributes")?;
        let mut s = r.enter(&set);
        let mut out = Self::default();
        while !s.is_empty() {
            let attr = next(&mut s, SEQUENCE, "bag attribute")?;
            let mut a = s.enter(&attr);
            let id = read_oid(&mut a, "bag attribute type")?;
            let values = next(&mut a, SET, "bag attribute values")?;
            end(&a, "end of bag attribute")?;
            let mut v = a.enter(&values);
            match id {
                FRIENDLY_NAME if out.friendly_name.is_none() => {
                    let name = next(&mut v, BMP_STRING, "friendlyName BMPString")?;
                    out.friendly_name = bmp_string(name.value);
                }
                LOCAL_KEY_ID if out.local_key_id.is_none() => {
                    let id = next(&mut v, OCTET_STRING, "localKeyId OCTET STRING")?;
                    out.local_key_id = Some(id.value.to_vec());
                }
                _ => {}
            }
        }
        Ok(out)
    }

    fn key(self, pkcs8: Vec<u8>) -> Pkcs12Key {
        Pkcs12Key {
            pkcs8,
            friendly_name: self.friendly_name,
            local_key_id: self.local_key_id,
        }
    }
}

/// A BMPString's text (UTF-16BE), or `None` if it is not valid UTF-16.
fn bmp_string(bytes: &[u8]) -> Option<String> {
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    let units = bytes
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]));
    char::decode_utf16(units)
        .collect::<Result<String, _>>()
        .ok()
}

/// The key derivations and HMAC check, generic over the hash.
mod kdf {
    use hmac::digest::block_api::BlockSizeUser;
    use hmac::digest::{Digest, KeyInit, Mac};
    use hmac::{EagerHash, Hmac};

    /// RFC 7292 Appendix B.2: derives `out.len()` bytes for purpose `id`
    /// (1 key, 2 IV, 3 MAC key) from `password` (a BMPString with its two
    /// NUL bytes, or empty), `salt` and `iterations` (at least 1).
    pub(super) fn pkcs12<D: Digest + BlockSizeUser>(
        id: u8,
        password: &[u8],
        salt: &[u8],
        iterations: u32,
        out: &mut [u8],
    ) {
        let v = D::block_size();
        let u = <D as Digest>::output_size();
        // Steps 1 to 4: D = v copies of ID; I = S || P, each the input
        // repeated to a whole number of v-byte blocks.
        let diversifier = vec![id; v];
        let repeat = |input: &[u8]| -> Vec<u8> {
            let len = input.len().div_ceil(v) * v;
            input.iter().copied().cycle().take(len).collect()
        };
        let mut i = repeat(salt);
        i.extend(repeat(password));

        let blocks = out.len().div_ceil(u);
        for (n, chunk) in out.chunks_mut(u).enumerate() {
            // Step 6a: A = H^r(D || I).
            let mut a = D::new()
                .chain_update(&diversifier)
                .chain_update(&i)
                .finalize();
            for _ in 1..iterations {
                a = D::digest(&a);
            }
            chunk.copy_from_slice(&a[..chunk.len()]);
            if n + 1 == blocks {
                break;
            }
            // Steps 6b, 6c: B = A repeated to v bytes; each v-byte block
            // I_j of I becomes (I_j + B + 1) mod 2^(8v).
            let b: Vec<u8> = a.iter().copied().cycle().take(v).collect();
            for block in i.chunks_mut(v) {
                let mut carry = 1u16;
                for (x, y) in block.iter_mut().zip(&b).rev() {
                    let sum = u16::from(*x) + u16::from(*y) + carry;
                    *x = sum as u8;
                    carry = sum >> 8;
                }
            }
        }
    }

    /// Whether `tag` is HMAC(`key`, `data`), compared in constant time.
    pub(super) fn hmac_verify<D: EagerHash>(key: &[u8], data: &[u8], tag: &[u8]) -> bool
    where
        Hmac<D>: KeyInit + Mac,
    {
        let Ok(mut mac) = <Hmac<D> as KeyInit>::new_from_slice(key) else {
            return false;
        };
        mac.update(data);
        mac.verify_slice(tag).is_ok()
    }
}

#[cfg(test)]
mod tests;
