//! The simulator's own check of an OAuth 1.0a `Authorization` header
//! (RFC 5849 §3.2), written apart from the signing code in
//! [`crate::oauth`] so that the two check each other: header parsing,
//! percent-decoding, the base string and the encoding are all done again
//! here, by different code.

use std::fmt::Write as _;

use base64::Engine;
use hmac::{KeyInit, Mac};

/// Why a sign-in was refused, with the HTTP status Apple uses for it
/// ("Interpreting Automated Device Enrollment error codes": `400` for
/// protocol errors, `401` for bad credentials, signatures and nonces).
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum Refusal {
    /// `400`: a missing, duplicated or unsupported parameter.
    BadRequest(&'static str),
    /// `401`: the credentials or the signature are wrong.
    Unauthorized(&'static str),
}

/// The protocol parameters of an `Authorization: OAuth ...` header,
/// decoded; `realm` is dropped.
pub(crate) fn parse_header(value: &str) -> Result<Vec<(String, String)>, Refusal> {
    let bad = Refusal::BadRequest;
    let (scheme, rest) = value
        .trim()
        .split_once(' ')
        .ok_or(bad("not an OAuth authorization"))?;
    if !scheme.eq_ignore_ascii_case("oauth") {
        return Err(bad("not an OAuth authorization"));
    }
    let mut out: Vec<(String, String)> = Vec::new();
    for item in rest.split(',') {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let (name, quoted) = item
            .split_once('=')
            .ok_or(bad("a parameter without a value"))?;
        let inner = quoted
            .trim()
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .ok_or(bad("a parameter value is not quoted"))?;
        let name = unescape(name.trim()).ok_or(bad("bad percent-encoding"))?;
        let inner = unescape(inner).ok_or(bad("bad percent-encoding"))?;
        if name == "realm" {
            continue;
        }
        if out.iter().any(|(n, _)| *n == name) {
            return Err(bad("duplicated OAuth protocol parameter"));
        }
        if out.len() >= 32 {
            return Err(bad("too many parameters"));
        }
        out.push((name, inner));
    }
    Ok(out)
}

/// Checks the signature of a request with `method` to `scheme://host` +
/// `path_and_query`, whose OAuth parameters are `params`.
pub(crate) fn check_signature(
    method: &str,
    scheme: &str,
    host: &str,
    path_and_query: &str,
    params: &[(String, String)],
    consumer_secret: &str,
    token_secret: &str,
) -> Result<(), Refusal> {
    let given = params
        .iter()
        .find(|(n, _)| n == "oauth_signature")
        .map(|(_, v)| v.as_str())
        .ok_or(Refusal::BadRequest("missing oauth_signature"))?;
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let mut pairs: Vec<(String, String)> = params
        .iter()
        .filter(|(n, _)| n != "oauth_signature")
        .map(|(n, v)| (escape(n), escape(v)))
        .collect();
    for kv in query.split('&').filter(|s| !s.is_empty()) {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        let k = unescape(&k.replace('+', " ")).ok_or(Refusal::BadRequest("bad query"))?;
        let v = unescape(&v.replace('+', " ")).ok_or(Refusal::BadRequest("bad query"))?;
        pairs.push((escape(&k), escape(&v)));
    }
    pairs.sort_unstable();
    let mut normalized = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            normalized.push('&');
        }
        normalized.push_str(k);
        normalized.push('=');
        normalized.push_str(v);
    }
    let host = host.to_ascii_lowercase();
    let host = match (scheme, host.rsplit_once(':')) {
        ("http", Some((h, "80"))) | ("https", Some((h, "443"))) => h.to_owned(),
        _ => host,
    };
    let base_uri = format!(
        "{scheme}://{host}{}",
        if path.is_empty() { "/" } else { path }
    );
    let base = [
        method.to_ascii_uppercase(),
        escape(&base_uri),
        escape(&normalized),
    ]
    .join("&");
    let key = [escape(consumer_secret), escape(token_secret)].join("&");
    let mut mac = <hmac::Hmac<sha1::Sha1> as KeyInit>::new_from_slice(key.as_bytes())
        .map_err(|_| Refusal::Unauthorized("bad key"))?;
    mac.update(base.as_bytes());
    let Ok(given) = base64::engine::general_purpose::STANDARD.decode(given) else {
        return Err(Refusal::Unauthorized("invalid signature"));
    };
    // `verify_slice` compares in constant time.
    mac.verify_slice(&given)
        .map_err(|_| Refusal::Unauthorized("invalid signature"))
}

/// RFC 3986 unreserved characters, which are never escaped.
const UNRESERVED: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = matches!(b, b'0'..=b'9' | b'A'..=b'Z' | b'a'..=b'z' | b'-' | b'.' | b'_' | b'~');
        c += 1;
    }
    t
};

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if UNRESERVED[usize::from(b)] {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn unescape(s: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(s.len());
    let mut it = s.bytes();
    while let Some(b) = it.next() {
        if b == b'%' {
            let hex = [it.next()?, it.next()?];
            let hex = std::str::from_utf8(&hex).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
        } else {
            bytes.push(b);
        }
    }
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::{OAuthCredentials, OAuthParams, REALM, sign};

    #[test]
    fn agrees_with_the_signer() {
        let creds = OAuthCredentials {
            consumer_key: "CK_é x".into(),
            consumer_secret: "CS&=".into(),
            access_token: "AT_1".into(),
            access_secret: "AS +/".into(),
        };
        for url in [
            "http://127.0.0.1:8080/session",
            "https://mdmenrollment.apple.com/session?a=b+c&z=%2F",
        ] {
            let uri: http::Uri = url.parse().unwrap();
            let signed = sign(
                &http::Method::GET,
                &uri,
                &creds,
                &OAuthParams::new(1_700_000_000, b"\x01\x02"),
            )
            .unwrap();
            let params = parse_header(&signed.authorization(REALM)).unwrap();
            assert_eq!(params.len(), 7);
            let host = uri.authority().unwrap().as_str();
            let pq = uri.path_and_query().unwrap().as_str();
            let scheme = uri.scheme_str().unwrap();
            check_signature("GET", scheme, host, pq, &params, "CS&=", "AS +/").unwrap();
            assert_eq!(
                check_signature("GET", scheme, host, pq, &params, "CS&=", "wrong"),
                Err(Refusal::Unauthorized("invalid signature"))
            );
            assert!(check_signature("POST", scheme, host, pq, &params, "CS&=", "AS +/").is_err());
        }
    }

    #[test]
    fn header_errors() {
        assert!(parse_header("Bearer x").is_err());
        assert!(parse_header("OAuth a=\"1\", a=\"2\"").is_err());
        assert!(parse_header("OAuth a=1").is_err());
        assert!(parse_header("OAuth a=\"%zz\"").is_err());
        let p = parse_header("OAuth realm=\"ADM\", b=\"x%20y\"").unwrap();
        assert_eq!(p, vec![("b".to_owned(), "x y".to_owned())]);
    }
}
