//! Secrets encrypted at rest: a site master key and AES-256-GCM sealing of
//! the secrets the services keep (DEP and VPP token secrets, installed push
//! certificate keys).
//!
//! A sealed value is text: `pv1.` followed by URL-safe base64 (no padding)
//! of a 12-byte random nonce and the AES-256-GCM ciphertext with its 16-byte
//! tag. The *context* (what the value is and which record it belongs to, e.g.
//! `dep-token:site-a`) is the associated data: a sealed value copied to
//! another record does not open there.
//!
//! The master key is 32 random bytes kept in a file of its own (owner-only,
//! text `pippin-master-key-v1:` + base64). By default it sits in the data
//! directory; keep it elsewhere (a mounted secret, a systemd credential)
//! with the `master_key_file` setting so that a copy of the database and
//! data directory alone does not reveal the secrets.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

use crate::error::{Error, Result};
use crate::token::Secret;

/// The prefix of sealed values (format version 1).
pub const SEALED_PREFIX: &str = "pv1.";

/// The prefix of the master key file's text.
const KEY_FILE_PREFIX: &str = "pippin-master-key-v1:";

/// Longest sealed text accepted (16 MiB of plaintext is far beyond any
/// secret kept).
pub const MAX_SEALED_LEN: usize = 24 * 1024 * 1024;

/// Why a sealed value does not open.
#[derive(Debug, thiserror::Error, Eq, PartialEq)]
#[non_exhaustive]
pub enum OpenError {
    /// Not a sealed value of a known version.
    #[error("not a sealed value (expected the pv1. prefix)")]
    Format,
    /// The base64 or its length is wrong.
    #[error("the sealed value is damaged")]
    Damaged,
    /// The tag does not verify: another master key, another context, or a
    /// modified value.
    #[error("the sealed value does not open with this master key and context")]
    Authentication,
}

/// Seals and opens secrets with the site master key.
pub struct SecretBox {
    key: LessSafeKey,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(***)")
    }
}

impl SecretBox {
    /// A box with `key` as master key.
    pub fn from_key(key: &[u8; 32]) -> Self {
        // A 32-byte key is always valid for AES-256-GCM.
        let Ok(unbound) = UnboundKey::new(&AES_256_GCM, key) else {
            unreachable!("AES-256-GCM accepts every 32-byte key")
        };
        Self {
            key: LessSafeKey::new(unbound),
        }
    }

    /// Reads the master key from `path`, or creates it (32 random bytes,
    /// owner-only) if the file does not exist. Returns the box and whether
    /// the key was created.
    pub fn load_or_create(path: &Path) -> Result<(Self, bool)> {
        match std::fs::read_to_string(path) {
            Ok(text) => Ok((Self::from_key(&parse_key_file(path, &text)?), false)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key: [u8; 32] = crate::token::random_bytes()?;
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
                        op: "create directory",
                        path: dir.to_path_buf(),
                        source,
                    })?;
                }
                let text = format!("{KEY_FILE_PREFIX}{}\n", STANDARD.encode(key));
                crate::pki::write_file_atomic(path, text.as_bytes(), true, false)?;
                Ok((Self::from_key(&key), true))
            }
            Err(source) => Err(Error::Io {
                op: "read",
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Seals `plaintext` for `context`.
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Result<String> {
        let nonce_bytes: [u8; NONCE_LEN] = crate::token::random_bytes()?;
        self.seal_with_nonce(context, plaintext, nonce_bytes)
    }

    fn seal_with_nonce(
        &self,
        context: &str,
        plaintext: &[u8],
        nonce_bytes: [u8; NONCE_LEN],
    ) -> Result<String> {
        let mut buf = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(context.as_bytes()),
                &mut buf,
            )
            .map_err(|_| Error::Random)?;
        let mut all = Vec::with_capacity(NONCE_LEN + buf.len());
        all.extend_from_slice(&nonce_bytes);
        all.extend_from_slice(&buf);
        Ok(format!("{SEALED_PREFIX}{}", URL_SAFE_NO_PAD.encode(all)))
    }

    /// Opens a value sealed for `context`.
    pub fn open(
        &self,
        context: &str,
        sealed: &str,
    ) -> std::result::Result<Secret<Vec<u8>>, OpenError> {
        let body = sealed
            .trim()
            .strip_prefix(SEALED_PREFIX)
            .ok_or(OpenError::Format)?;
        if body.len() > MAX_SEALED_LEN {
            return Err(OpenError::Damaged);
        }
        let mut all = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| OpenError::Damaged)?;
        if all.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(OpenError::Damaged);
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&all[..NONCE_LEN]);
        let plain_len = self
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut all[NONCE_LEN..],
            )
            .map_err(|_| OpenError::Authentication)?
            .len();
        let plain = all[NONCE_LEN..NONCE_LEN + plain_len].to_vec();
        Ok(Secret::new(plain))
    }

    /// Whether `value` looks sealed (so that plaintext left from before
    /// sealing can be told apart and sealed on the next write).
    pub fn is_sealed(value: &str) -> bool {
        value.trim_start().starts_with(SEALED_PREFIX)
    }
}

fn parse_key_file(path: &Path, text: &str) -> Result<[u8; 32]> {
    let bad = |reason: &str| Error::BadPki {
        path: path.to_path_buf(),
        reason: reason.to_owned(),
    };
    let b64 = text
        .trim()
        .strip_prefix(KEY_FILE_PREFIX)
        .ok_or_else(|| bad("not a Pippin master key file (pippin-master-key-v1:)"))?;
    let bytes = STANDARD
        .decode(b64.trim())
        .map_err(|_| bad("the master key is not base64"))?;
    bytes
        .try_into()
        .map_err(|_| bad("the master key is not 32 bytes"))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn seals_and_opens_bound_to_context_and_key() {
        let b = SecretBox::from_key(&[7; 32]);
        let s = b.seal("dep-token:a", b"consumer secret").unwrap();
        assert!(s.starts_with("pv1."));
        assert!(SecretBox::is_sealed(&s));
        assert!(!SecretBox::is_sealed("plain"));
        assert_eq!(
            b.open("dep-token:a", &s).unwrap().expose(),
            b"consumer secret"
        );
        // Two seals of the same value differ (random nonce).
        assert_ne!(s, b.seal("dep-token:a", b"consumer secret").unwrap());
        assert_eq!(
            b.open("dep-token:b", &s).unwrap_err(),
            OpenError::Authentication
        );
        let other = SecretBox::from_key(&[8; 32]);
        assert_eq!(
            other.open("dep-token:a", &s).unwrap_err(),
            OpenError::Authentication
        );
        assert_eq!(b.open("x", "plain").unwrap_err(), OpenError::Format);
        assert_eq!(b.open("x", "pv1.!!").unwrap_err(), OpenError::Damaged);
        assert_eq!(b.open("x", "pv1.AAAA").unwrap_err(), OpenError::Damaged);
        // A flipped bit anywhere fails authentication.
        let mut raw = URL_SAFE_NO_PAD.decode(&s[4..]).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        let flipped = format!("pv1.{}", URL_SAFE_NO_PAD.encode(raw));
        assert_eq!(
            b.open("dep-token:a", &flipped).unwrap_err(),
            OpenError::Authentication
        );
        // Empty secrets work too.
        let e = b.seal("c", b"").unwrap();
        assert_eq!(b.open("c", &e).unwrap().expose(), b"");
    }

    #[test]
    fn known_answer() {
        // AES-256-GCM with key 00..1f, nonce 000102..0b, AAD "ctx",
        // plaintext "hello": the same bytes Python's `cryptography` AESGCM
        // produces (checked in tests/sealed.rs against the real thing).
        let key: [u8; 32] = core::array::from_fn(|i| u8::try_from(i).unwrap());
        let b = SecretBox::from_key(&key);
        let nonce: [u8; 12] = core::array::from_fn(|i| u8::try_from(i).unwrap());
        let s = b.seal_with_nonce("ctx", b"hello", nonce).unwrap();
        assert_eq!(b.open("ctx", &s).unwrap().expose(), b"hello");
        let raw = URL_SAFE_NO_PAD.decode(&s[4..]).unwrap();
        assert_eq!(raw.len(), 12 + 5 + 16);
        assert_eq!(&raw[..12], &nonce);
    }

    #[test]
    fn key_file_is_created_once_and_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/master.key");
        let (a, created) = SecretBox::load_or_create(&path).unwrap();
        assert!(created);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "{mode:o}");
        }
        let sealed = a.seal("c", b"v").unwrap();
        let (b, created) = SecretBox::load_or_create(&path).unwrap();
        assert!(!created);
        assert_eq!(b.open("c", &sealed).unwrap().expose(), b"v");
        std::fs::write(&path, "garbage").unwrap();
        assert!(SecretBox::load_or_create(&path).is_err());
    }

    proptest! {
        #[test]
        fn roundtrip(plain in proptest::collection::vec(any::<u8>(), 0..512), ctx in ".{0,40}") {
            let b = SecretBox::from_key(&[3; 32]);
            let s = b.seal(&ctx, &plain).unwrap();
            let opened = b.open(&ctx, &s).unwrap();
            prop_assert_eq!(opened.expose(), &plain);
        }

        #[test]
        fn garbage_never_panics(text in ".{0,200}") {
            let b = SecretBox::from_key(&[3; 32]);
            let _ = b.open("c", &text);
            let _ = b.open("c", &format!("pv1.{text}"));
        }
    }
}
