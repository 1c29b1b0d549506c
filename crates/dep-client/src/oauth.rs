//! OAuth 1.0a request signing (RFC 5849) with HMAC-SHA1, as the DEP
//! `/session` endpoint requires.
//!
//! [Apple: Authenticating with the Automated Device Enrollment program][apple]:
//! a `GET https://mdmenrollment.apple.com/session` carries an
//! `Authorization: OAuth realm="ADM", oauth_consumer_key=…, oauth_token=…,
//! oauth_signature_method="HMAC-SHA1", oauth_timestamp=…, oauth_nonce=…,
//! oauth_version="1.0", oauth_signature=…` header made from the four
//! credentials of the server token.
//!
//! The signature (RFC 5849 §3.4.2) is the base64 HMAC-SHA1, keyed with
//! `encode(consumer_secret) "&" encode(access_secret)`, of the signature
//! base string (§3.4.1): `METHOD "&" encode(base URI) "&" encode(normalized
//! parameters)`, where the normalized parameters are the query and
//! protocol parameters (not `realm`, not `oauth_signature`), each name and
//! value encoded (§3.6), sorted by name then value, joined as
//! `name=value` with `&`.
//!
//! [apple]: https://developer.apple.com/documentation/devicemanagement/authenticating-with-the-automated-device-enrollment-program

use std::fmt;

use base64::Engine;
use hmac::{KeyInit, Mac};

use crate::error::{Error, Result};

/// The `realm` Apple's DEP service expects.
pub const REALM: &str = "ADM";

/// The four OAuth 1.0a credentials of a DEP server token.
///
/// `Debug` shows the keys but not the secrets.
#[derive(Clone, Eq, PartialEq, serde::Deserialize, serde::Serialize)]
pub struct OAuthCredentials {
    /// `consumer_key` (`CK_…`).
    pub consumer_key: String,
    /// `consumer_secret` (`CS_…`).
    pub consumer_secret: String,
    /// `access_token` (`AT_…`), sent as `oauth_token`.
    pub access_token: String,
    /// `access_secret` (`AS_…`), the token secret.
    pub access_secret: String,
}

impl fmt::Debug for OAuthCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthCredentials")
            .field("consumer_key", &self.consumer_key)
            .field("consumer_secret", &"<redacted>")
            .field("access_token", &self.access_token)
            .field("access_secret", &"<redacted>")
            .finish()
    }
}

/// The per-request inputs of a signature: the time stamp (seconds since
/// 1970) and a nonce unique for that time stamp (RFC 5849 §3.3). They are
/// inputs so that signing is deterministic; the client layer makes them
/// from the clock and a random generator.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct OAuthParams {
    /// `oauth_timestamp`.
    pub timestamp: u64,
    /// `oauth_nonce`.
    pub nonce: String,
}

impl OAuthParams {
    /// A time stamp and a nonce made of `random` as lower-case hex.
    pub fn new(timestamp: u64, random: &[u8]) -> Self {
        let mut nonce = String::with_capacity(random.len() * 2);
        for b in random {
            nonce.push(char::from(HEX_LOWER[usize::from(b >> 4)]));
            nonce.push(char::from(HEX_LOWER[usize::from(b & 15)]));
        }
        Self { timestamp, nonce }
    }
}

const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";
const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// Percent-encodes `s` as RFC 5849 §3.6 requires: every byte of its UTF-8
/// form except the unreserved `A-Z a-z 0-9 - . _ ~` becomes `%XX` with
/// upper-case hex.
///
/// ```
/// assert_eq!(dep_client::oauth::percent_encode("a b&c=d~é"), "a%20b%26c%3Dd~%C3%A9");
/// ```
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX_UPPER[usize::from(b >> 4)]));
            out.push(char::from(HEX_UPPER[usize::from(b & 15)]));
        }
    }
    out
}

/// The base string URI of RFC 5849 §3.4.1.2: lower-case scheme and host,
/// the port only when it is not the scheme's default, and the path (`/`
/// when empty); no query, no fragment.
pub fn base_string_uri(uri: &http::Uri) -> Result<String> {
    let scheme = uri
        .scheme_str()
        .ok_or_else(|| Error::InvalidRequest(format!("`{uri}` is not an absolute URL")))?
        .to_ascii_lowercase();
    let authority = uri
        .authority()
        .ok_or_else(|| Error::InvalidRequest(format!("`{uri}` has no host")))?;
    let host = authority.host().to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    };
    let mut out = format!("{scheme}://{host}");
    if let Some(port) = authority.port_u16()
        && Some(port) != default_port
    {
        out.push(':');
        out.push_str(&port.to_string());
    }
    let path = uri.path();
    out.push_str(if path.is_empty() { "/" } else { path });
    Ok(out)
}

/// The signature base string (RFC 5849 §3.4.1.1) of a request to `uri`
/// with `method`, whose protocol and other parameters (decoded, without
/// `realm` and `oauth_signature`) are `params`. The query parameters of
/// `uri` are added to `params`.
pub fn signature_base_string(
    method: &http::Method,
    uri: &http::Uri,
    params: &[(&str, &str)],
) -> Result<String> {
    let mut pairs: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (percent_encode(k), percent_encode(v)))
        .collect();
    if let Some(query) = uri.query() {
        for item in query.split('&').filter(|s| !s.is_empty()) {
            let (k, v) = item.split_once('=').unwrap_or((item, ""));
            pairs.push((
                percent_encode(&form_decode(k)?),
                percent_encode(&form_decode(v)?),
            ));
        }
    }
    pairs.sort();
    let normalized = pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    Ok(format!(
        "{}&{}&{}",
        method.as_str().to_ascii_uppercase(),
        percent_encode(&base_string_uri(uri)?),
        percent_encode(&normalized)
    ))
}

/// The HMAC-SHA1 signature (RFC 5849 §3.4.2) of `base_string`, base64.
pub fn hmac_sha1_signature(base_string: &str, consumer_secret: &str, token_secret: &str) -> String {
    let key = format!(
        "{}&{}",
        percent_encode(consumer_secret),
        percent_encode(token_secret)
    );
    // HMAC accepts keys of any length, so this cannot fail.
    let Ok(mut mac) = hmac::Hmac::<sha1::Sha1>::new_from_slice(key.as_bytes()) else {
        unreachable!("HMAC takes keys of any length")
    };
    mac.update(base_string.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The protocol parameters of a signed request, in the order they are
/// sent, the signature last.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct SignedParams {
    /// `(name, value)`, decoded.
    pub params: Vec<(&'static str, String)>,
    /// The signature base string that was signed.
    pub base_string: String,
}

impl SignedParams {
    /// The value of `oauth_signature`.
    pub fn signature(&self) -> &str {
        self.params
            .iter()
            .find(|(k, _)| *k == "oauth_signature")
            .map_or("", |(_, v)| v.as_str())
    }

    /// The `Authorization` header value: `OAuth realm="ADM", name="value", …`
    /// with the values percent-encoded (RFC 5849 §3.5.1).
    pub fn authorization(&self, realm: &str) -> String {
        let mut out = format!("OAuth realm=\"{}\"", percent_encode(realm));
        for (k, v) in &self.params {
            out.push_str(", ");
            out.push_str(k);
            out.push_str("=\"");
            out.push_str(&percent_encode(v));
            out.push('"');
        }
        out
    }
}

/// Signs a request to `uri` with `method`: the protocol parameters of
/// RFC 5849 §3.1 with `oauth_signature_method="HMAC-SHA1"` and
/// `oauth_version="1.0"`, and their signature.
///
/// ```
/// use dep_client::oauth::{OAuthCredentials, OAuthParams, sign, REALM};
/// let creds = OAuthCredentials {
///     consumer_key: "CK_1".into(),
///     consumer_secret: "CS_1".into(),
///     access_token: "AT_1".into(),
///     access_secret: "AS_1".into(),
/// };
/// let params = OAuthParams { timestamp: 1_700_000_000, nonce: "abc".into() };
/// let uri = "https://mdmenrollment.apple.com/session".parse().unwrap();
/// let signed = sign(&http::Method::GET, &uri, &creds, &params)?;
/// assert!(signed.authorization(REALM).starts_with("OAuth realm=\"ADM\", oauth_consumer_key=\"CK_1\""));
/// # Ok::<(), dep_client::Error>(())
/// ```
pub fn sign(
    method: &http::Method,
    uri: &http::Uri,
    credentials: &OAuthCredentials,
    params: &OAuthParams,
) -> Result<SignedParams> {
    if params.nonce.is_empty() {
        return Err(Error::InvalidRequest("the OAuth nonce is empty".to_owned()));
    }
    let timestamp = params.timestamp.to_string();
    let mut list: Vec<(&'static str, String)> = vec![
        ("oauth_consumer_key", credentials.consumer_key.clone()),
        ("oauth_token", credentials.access_token.clone()),
        ("oauth_signature_method", "HMAC-SHA1".to_owned()),
        ("oauth_timestamp", timestamp),
        ("oauth_nonce", params.nonce.clone()),
        ("oauth_version", "1.0".to_owned()),
    ];
    let borrowed: Vec<(&str, &str)> = list.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let base_string = signature_base_string(method, uri, &borrowed)?;
    let signature = hmac_sha1_signature(
        &base_string,
        &credentials.consumer_secret,
        &credentials.access_secret,
    );
    list.push(("oauth_signature", signature));
    Ok(SignedParams {
        params: list,
        base_string,
    })
}

/// Decodes `application/x-www-form-urlencoded` text: `+` is a space,
/// `%XX` a byte; the result must be UTF-8.
fn form_decode(s: &str) -> Result<String> {
    let bad = || Error::InvalidRequest(format!("bad percent-encoding in `{s}`"));
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = b.get(i + 1).and_then(|c| char::from(*c).to_digit(16));
                let lo = b.get(i + 2).and_then(|c| char::from(*c).to_digit(16));
                let (Some(hi), Some(lo)) = (hi, lo) else {
                    return Err(bad());
                };
                // Two hex digits make at most 255.
                out.push((hi * 16 + lo) as u8);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// RFC 5849 §3.4.1.1's example request, signed with HMAC-SHA1 as in
    /// §3.4.2 (consumer secret `j49sk3j29djd`, token secret `dh893hdasih9`).
    #[test]
    fn rfc5849_example() {
        let uri: http::Uri = "http://example.com/request?b5=%3D%253D&a3=a&c%40=&a2=r%20b"
            .parse()
            .unwrap();
        let params = [
            ("oauth_consumer_key", "9djdj82h48djs9d2"),
            ("oauth_token", "kkk9d7dh3k39sjv7"),
            ("oauth_signature_method", "HMAC-SHA1"),
            ("oauth_timestamp", "137131201"),
            ("oauth_nonce", "7d8f3e4a"),
            ("c2", ""),
            ("a3", "2 q"),
        ];
        let base = signature_base_string(&http::Method::POST, &uri, &params).unwrap();
        assert_eq!(
            base,
            "POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q\
             %26a3%3Da%26b5%3D%253D%25253D%26c%2540%3D%26c2%3D%26oauth_consumer_\
             key%3D9djdj82h48djs9d2%26oauth_nonce%3D7d8f3e4a%26oauth_signature_m\
             ethod%3DHMAC-SHA1%26oauth_timestamp%3D137131201%26oauth_token%3Dkkk\
             9d7dh3k39sjv7"
        );
    }

    #[test]
    fn base_uri() {
        let b = |s: &str| base_string_uri(&s.parse().unwrap()).unwrap();
        assert_eq!(
            b("HTTP://EXAMPLE.com:80/r%20v/X?id=123"),
            "http://example.com/r%20v/X"
        );
        assert_eq!(
            b("https://www.example.net:8080/?q=1"),
            "https://www.example.net:8080/"
        );
        assert_eq!(b("https://h:443"), "https://h/");
        assert!(base_string_uri(&"/session".parse().unwrap()).is_err());
    }

    #[test]
    fn header_shape() {
        let creds = OAuthCredentials {
            consumer_key: "CK_a b".into(),
            consumer_secret: "CS".into(),
            access_token: "AT".into(),
            access_secret: "AS".into(),
        };
        let p = OAuthParams::new(42, &[0xde, 0xad]);
        assert_eq!(p.nonce, "dead");
        let uri = "https://mdmenrollment.apple.com/session".parse().unwrap();
        let s = sign(&http::Method::GET, &uri, &creds, &p).unwrap();
        let h = s.authorization(REALM);
        assert!(h.starts_with(
            "OAuth realm=\"ADM\", oauth_consumer_key=\"CK_a%20b\", oauth_token=\"AT\", \
             oauth_signature_method=\"HMAC-SHA1\", oauth_timestamp=\"42\", oauth_nonce=\"dead\", \
             oauth_version=\"1.0\", oauth_signature=\""
        ));
        assert_eq!(s.signature().len(), 28);
        assert!(format!("{creds:?}").contains("<redacted>"));
        assert!(!format!("{creds:?}").contains("CS"));
        let empty = OAuthParams {
            timestamp: 1,
            nonce: String::new(),
        };
        assert!(sign(&http::Method::GET, &uri, &creds, &empty).is_err());
    }

    proptest! {
        #[test]
        fn encode_decode_roundtrip(s in "\\PC{0,40}") {
            let e = percent_encode(&s);
            prop_assert!(e.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)));
            prop_assert_eq!(form_decode(&e).unwrap(), s);
        }
    }
}
