//! Bearer tokens and secrets: comparison that does not leak where two
//! values differ, token text, and a wrapper that keeps secrets out of logs.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use subtle::ConstantTimeEq;

use crate::error::{Error, Result};

/// Whether `a` and `b` are equal, in time that depends only on their
/// lengths, not on where they differ. Use it for every comparison of a
/// presented token, password or MAC with the expected one.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// The text form of a token made from 32 random bytes: URL-safe base64
/// without padding (43 characters), usable in URLs, headers and file names.
/// The caller supplies the randomness (see [`random_bytes`]).
///
/// ```
/// assert_eq!(
///     pippin_service::generate_token([0xfb; 32]),
///     "-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_v7-_s"
/// );
/// ```
pub fn generate_token(rng_bytes: [u8; 32]) -> String {
    URL_SAFE_NO_PAD.encode(rng_bytes)
}

/// A new random token ([`generate_token`] of 32 bytes from the operating
/// system's generator), wrapped so that it cannot be logged by accident.
pub fn random_token() -> Result<Secret<String>> {
    Ok(Secret::new(generate_token(random_bytes()?)))
}

/// `N` bytes from the operating system's secure random generator (through
/// the *ring* provider).
pub fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut buf = [0u8; N];
    crate::tls::provider()
        .secure_random
        .fill(&mut buf)
        .map_err(|_| Error::Random)?;
    Ok(buf)
}

/// A secret value (token, password, private key) that formats as `***`
/// with both `{}` and `{:?}`, so that logging a struct that holds one never
/// reveals it. Reach the value with [`Secret::expose`].
///
/// It deserializes transparently (config files) and parses with
/// [`FromStr`] (clap arguments and environment variables); it deliberately
/// does not serialize.
///
/// ```
/// use pippin_service::Secret;
///
/// let s: Secret<String> = "hunter2".parse().unwrap();
/// assert_eq!(format!("{s} {s:?}"), "*** ***");
/// assert_eq!(s.expose(), "hunter2");
/// assert!(s.matches(b"hunter2"));
/// ```
#[derive(Clone, Default, serde::Deserialize)]
#[serde(transparent)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps `value`.
    pub const fn new(value: T) -> Self {
        Self(value)
    }

    /// The secret value, for the one place that needs it.
    pub fn expose(&self) -> &T {
        &self.0
    }

    /// Unwraps the secret value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T: AsRef<[u8]>> Secret<T> {
    /// Whether `candidate` equals the secret, compared in constant time.
    pub fn matches(&self, candidate: &[u8]) -> bool {
        constant_time_eq(self.0.as_ref(), candidate)
    }
}

impl<T: AsRef<[u8]>> PartialEq for Secret<T> {
    /// Constant-time comparison.
    fn eq(&self, other: &Self) -> bool {
        self.matches(other.0.as_ref())
    }
}

impl<T: AsRef<[u8]>> Eq for Secret<T> {}

impl<T> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Self(value)
    }
}

impl FromStr for Secret<String> {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"", b"a"));
    }

    #[test]
    fn tokens_are_url_safe_unpadded_base64() {
        let t = generate_token([0; 32]);
        assert_eq!(t, "A".repeat(43));
        let t = generate_token(core::array::from_fn(|i| (i * 37) as u8));
        assert_eq!(t.len(), 43);
        assert!(
            t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(
            URL_SAFE_NO_PAD.decode(&t).unwrap(),
            (0..32).map(|i| (i * 37) as u8).collect::<Vec<_>>()
        );
    }

    #[test]
    fn random_tokens_differ() {
        let a = random_token().unwrap();
        let b = random_token().unwrap();
        assert_eq!(a.expose().len(), 43);
        assert_ne!(a, b);
    }

    #[test]
    fn secrets_do_not_print() {
        #[derive(Debug)]
        #[allow(dead_code)]
        struct Config {
            user: String,
            password: Secret<String>,
            key: Secret<Vec<u8>>,
        }
        let c = Config {
            user: "admin".to_owned(),
            password: Secret::new("hunter2".to_owned()),
            key: Secret::new(vec![1, 2, 3]),
        };
        let debug = format!("{c:?} {c:#?} {}", c.password);
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(!debug.contains("[1, 2, 3]"), "{debug}");
        assert!(debug.contains("password: ***"), "{debug}");
    }

    #[test]
    fn secrets_deserialize_transparently() {
        #[derive(serde::Deserialize)]
        struct Config {
            token: Secret<String>,
        }
        let c: Config = toml::from_str("token = \"abc\"").unwrap();
        assert_eq!(c.token.expose(), "abc");
    }
}
