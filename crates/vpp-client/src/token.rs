//! The content token (`.vpptoken`, Apple's "sToken") an administrator
//! downloads from Apple Business Manager or Apple School Manager.
//!
//! The file is base64 (standard alphabet) of a JSON object with `token`,
//! `expDate` and `orgName`. The whole file, not the inner `token`, is the
//! credential: it goes in `Authorization: Bearer …` on every call and in
//! the `itvt` cookie of metadata lookups.

use std::fmt;
use std::time::SystemTime;

use base64::Engine as _;
use pippin_http_client::parse_timestamp;

use crate::error::{Error, Result};

/// The longest token file read (they are a few hundred bytes).
pub const MAX_TOKEN_FILE_LEN: usize = 64 * 1024;

/// A parsed content token. Its `Debug` form does not show the credential.
#[derive(Clone, Eq, PartialEq)]
pub struct ContentToken {
    bearer: String,
    /// The organisation the token belongs to (`orgName`).
    pub org_name: String,
    /// When it expires, as the file states it (`expDate`,
    /// `2030-11-08T22:33:22+0000`).
    pub exp_date: String,
    /// [`exp_date`](Self::exp_date), read.
    pub expiry: SystemTime,
}

impl fmt::Debug for ContentToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContentToken")
            .field("org_name", &self.org_name)
            .field("exp_date", &self.exp_date)
            .finish_non_exhaustive()
    }
}

#[derive(serde::Deserialize)]
struct Inner {
    token: Option<String>,
    #[serde(rename = "expDate")]
    exp_date: Option<String>,
    #[serde(rename = "orgName")]
    org_name: Option<String>,
}

impl ContentToken {
    /// Reads a token file. Whitespace anywhere (line breaks in the base64,
    /// a trailing newline) is ignored; anything else that is wrong is a
    /// [`Error::MalformedToken`] saying what.
    ///
    /// ```
    /// use base64::Engine as _;
    /// let json = r#"{"token":"VFdwQmVVMVRRWFJKUldS","expDate":"2030-11-08T22:33:22+0000","orgName":"Example Corp"}"#;
    /// let file = base64::engine::general_purpose::STANDARD.encode(json) + "\n";
    /// let token = vpp_client::ContentToken::parse(file.as_bytes())?;
    /// assert_eq!(token.org_name, "Example Corp");
    /// assert_eq!(token.bearer(), file.trim());
    /// # Ok::<(), vpp_client::Error>(())
    /// ```
    pub fn parse(file: &[u8]) -> Result<Self> {
        let bad = |what: &str| Error::MalformedToken {
            what: what.to_owned(),
        };
        if file.len() > MAX_TOKEN_FILE_LEN {
            return Err(bad("the file is larger than 64 KiB"));
        }
        let compact: Vec<u8> = file
            .iter()
            .copied()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        if compact.is_empty() {
            return Err(bad("the file is empty"));
        }
        if !compact
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
        {
            return Err(bad("the file is not base64 text"));
        }
        let json = base64::engine::general_purpose::STANDARD
            .decode(&compact)
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(&compact))
            .map_err(|_| bad("the base64 does not decode"))?;
        let inner: Inner = serde_json::from_slice(&json)
            .map_err(|_| bad("the decoded content is not the expected JSON object"))?;
        let token = inner.token.unwrap_or_default();
        if token.is_empty() {
            return Err(bad("no `token`"));
        }
        let exp_date = inner.exp_date.ok_or_else(|| bad("no `expDate`"))?;
        let expiry = parse_timestamp(&exp_date).ok_or_else(|| {
            bad(&format!(
                "`expDate` {:?} is not a date",
                crate::error::cut(&exp_date)
            ))
        })?;
        let org_name = inner.org_name.unwrap_or_default();
        // Only base64 characters remain: a valid header value.
        let bearer = String::from_utf8(compact).map_err(|_| bad("not text"))?;
        Ok(Self {
            bearer,
            org_name,
            exp_date,
            expiry,
        })
    }

    /// The credential: the whole file, whitespace removed.
    pub fn bearer(&self) -> &str {
        &self.bearer
    }

    /// Fails with [`Error::TokenExpired`] if the token has expired at
    /// `now`.
    pub fn check_expiry(&self, now: SystemTime) -> Result<()> {
        if self.expiry <= now {
            return Err(Error::TokenExpired {
                expiry: self.exp_date.clone(),
            });
        }
        Ok(())
    }

    /// Whole days from `now` to the expiry (negative once expired).
    pub fn days_left(&self, now: SystemTime) -> i64 {
        match self.expiry.duration_since(now) {
            Ok(d) => i64::try_from(d.as_secs() / 86_400).unwrap_or(i64::MAX),
            Err(e) => -i64::try_from(e.duration().as_secs().div_ceil(86_400)).unwrap_or(i64::MAX),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    fn file(json: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(json)
    }

    const GOOD: &str = r#"{"token":"VFdwQmVVMVRRWFJKUldSUFQwPT0=","expDate":"2030-11-08T22:33:22+0000","orgName":"ORG12345"}"#;

    #[test]
    fn reads_apple_shaped_tokens() {
        let f = file(GOOD);
        let t = ContentToken::parse(f.as_bytes()).unwrap();
        assert_eq!(t.org_name, "ORG12345");
        assert_eq!(t.exp_date, "2030-11-08T22:33:22+0000");
        assert_eq!(t.expiry, UNIX_EPOCH + Duration::from_secs(1_920_407_602));
        assert_eq!(t.bearer(), f);
        // Wrapped lines and CRLF.
        let wrapped: String = f
            .as_bytes()
            .chunks(20)
            .map(|c| format!("{}\r\n", std::str::from_utf8(c).unwrap()))
            .collect();
        let w = ContentToken::parse(wrapped.as_bytes()).unwrap();
        assert_eq!(w.bearer(), f);
        // Pretty-printed JSON inside, unknown keys kept out of the way.
        let pretty = "{\n    \"token\": \"abc\",\n    \"expDate\": \"2030-01-01T00:00:00+0000\",\n    \"orgName\": \"X\",\n    \"extra\": 1\n}";
        assert_eq!(
            ContentToken::parse(file(pretty).as_bytes())
                .unwrap()
                .org_name,
            "X"
        );
        assert!(!format!("{t:?}").contains(&f));
    }

    #[test]
    fn damaged_files_say_why() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"".to_vec(), "empty"),
            (b"   \n".to_vec(), "empty"),
            (b"not base64!".to_vec(), "base64"),
            (b"QUJD=A".to_vec(), "decode"),
            (file("[1,2]").into_bytes(), "JSON"),
            (
                file(r#"{"expDate":"2030-01-01T00:00:00+0000"}"#).into_bytes(),
                "token",
            ),
            (file(r#"{"token":"","expDate":"x"}"#).into_bytes(), "token"),
            (file(r#"{"token":"a"}"#).into_bytes(), "expDate"),
            (
                file(r#"{"token":"a","expDate":"tomorrow"}"#).into_bytes(),
                "not a date",
            ),
            (vec![b'A'; MAX_TOKEN_FILE_LEN + 1], "64 KiB"),
        ];
        for (input, want) in cases {
            let e = ContentToken::parse(&input).unwrap_err();
            assert!(matches!(e, Error::MalformedToken { .. }), "{e}");
            assert!(e.to_string().contains(want), "{e} should mention {want}");
        }
    }

    #[test]
    fn expiry() {
        let t = ContentToken::parse(file(GOOD).as_bytes()).unwrap();
        let before = t.expiry - Duration::from_secs(3 * 86_400 + 5);
        assert!(t.check_expiry(before).is_ok());
        assert_eq!(t.days_left(before), 3);
        let e = t.check_expiry(t.expiry).unwrap_err();
        assert!(e.to_string().contains("2030-11-08T22:33:22+0000"), "{e}");
        assert_eq!(t.days_left(t.expiry + Duration::from_secs(86_400 + 1)), -2);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let _ = ContentToken::parse(&bytes);
        }
    }
}
