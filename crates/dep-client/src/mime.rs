//! The text layers of a server token file: the S/MIME wrapper around the
//! CMS envelope (RFC 8551 §3.2: `Content-Type: application/pkcs7-mime;
//! smime-type=enveloped-data`, base64 body), PEM, and the decrypted MIME
//! part (`text/plain`, headers then body) whose body holds the token JSON,
//! usually between `-----BEGIN MESSAGE-----` and `-----END MESSAGE-----`.
//!
//! Parsing is bounded: [`MAX_TOKEN_FILE_LEN`] bytes and [`MAX_HEADERS`]
//! header lines.

use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};

use crate::error::{Error, Result};

/// The largest token file read: 1 MiB (Apple's are about 4 KiB).
pub const MAX_TOKEN_FILE_LEN: usize = 1024 * 1024;
/// The most header lines read in one MIME part.
pub(crate) const MAX_HEADERS: usize = 64;

const BEGIN_MESSAGE: &str = "-----BEGIN MESSAGE-----";
const END_MESSAGE: &str = "-----END MESSAGE-----";

/// Base64 that accepts missing padding.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Decodes base64 text, ignoring white space (line breaks).
pub(crate) fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    LENIENT.decode(compact).ok()
}

/// Encodes as base64 in lines of 64 characters.
#[cfg(test)]
fn base64_lines(data: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(data);
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 1);
    for chunk in b64.as_bytes().chunks(64) {
        // Base64 output is ASCII.
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out
}

/// Writes one PEM block.
#[cfg(test)]
fn pem_encode(label: &str, der: &[u8]) -> String {
    format!(
        "-----BEGIN {label}-----\n{}-----END {label}-----\n",
        base64_lines(der)
    )
}

/// The PEM blocks of `text`: `(label, DER)`. RFC 1421 header lines
/// (`Name: value`) inside a block are skipped.
pub(crate) fn pem_blocks(text: &str) -> Result<Vec<(String, Vec<u8>)>, String> {
    const BEGIN: &str = "-----BEGIN ";
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let block = &rest[start + BEGIN.len()..];
        let label_end = block.find("-----").ok_or("an unterminated BEGIN line")?;
        let label = &block[..label_end];
        let body_start = label_end + 5;
        let end_marker = format!("-----END {label}-----");
        let end = block[body_start..]
            .find(&end_marker)
            .ok_or_else(|| format!("no END line for {label}"))?
            + body_start;
        let body: String = block[body_start..end]
            .lines()
            .filter(|l| !l.contains(':'))
            .collect();
        let der = base64_decode(&body).ok_or_else(|| format!("bad base64 in {label}"))?;
        out.push((label.to_owned(), der));
        rest = &block[end + end_marker.len()..];
        if out.len() > 64 {
            return Err("too many PEM blocks".to_owned());
        }
    }
    Ok(out)
}

/// One MIME part: its headers (names lower-cased, values unfolded) and
/// its body.
#[derive(Debug)]
struct Part<'a> {
    headers: Vec<(String, String)>,
    body: &'a str,
}

impl Part<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The media type of `Content-Type`, lower case, and its parameters.
    fn content_type(&self) -> Option<(String, Vec<(String, String)>)> {
        let value = self.header("content-type")?;
        let mut parts = value.split(';');
        let media = parts.next()?.trim().to_ascii_lowercase();
        let params = parts
            .filter_map(|p| {
                let (k, v) = p.split_once('=')?;
                Some((
                    k.trim().to_ascii_lowercase(),
                    v.trim().trim_matches('"').to_owned(),
                ))
            })
            .collect();
        Some((media, params))
    }

    fn transfer_encoding(&self) -> String {
        self.header("content-transfer-encoding")
            .map(|v| v.trim().to_ascii_lowercase())
            .unwrap_or_default()
    }
}

/// Splits `text` into headers and body if it starts with a header section
/// (`Name: value` lines, then an empty line). `Ok(None)`: it does not.
fn split_part(text: &str) -> Result<Option<Part<'_>>> {
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut pos = 0;
    loop {
        let Some(line_len) = text[pos..].find('\n') else {
            // Headers with no body at all.
            return Ok(None);
        };
        let raw = &text[pos..pos + line_len];
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        pos += line_len + 1;
        if line.is_empty() {
            if headers.is_empty() {
                return Ok(None);
            }
            return Ok(Some(Part {
                headers,
                body: &text[pos..],
            }));
        }
        if line.starts_with([' ', '\t']) {
            // A folded continuation of the previous header.
            let Some(last) = headers.last_mut() else {
                return Ok(None);
            };
            last.1.push(' ');
            last.1.push_str(line.trim());
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Ok(None);
        };
        let name_ok = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !name_ok {
            return Ok(None);
        }
        if headers.len() >= MAX_HEADERS {
            return Err(Error::malformed("too many MIME header lines"));
        }
        headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
    }
}

/// The CMS bytes (BER or DER) of a token file, which may be S/MIME (as
/// Apple sends it), PEM (`PKCS7` or `CMS`), DER, or bare base64.
pub(crate) fn envelope_bytes(file: &[u8]) -> Result<Vec<u8>> {
    if file.len() > MAX_TOKEN_FILE_LEN {
        return Err(Error::malformed(format!(
            "the file is larger than {MAX_TOKEN_FILE_LEN} bytes"
        )));
    }
    if file.first() == Some(&0x30) {
        return Ok(file.to_vec());
    }
    let text = std::str::from_utf8(file)
        .map_err(|_| Error::malformed("neither DER nor text (S/MIME, PEM or base64)"))?;
    let text = text.trim_start_matches('\u{feff}');
    if text.trim().is_empty() {
        return Err(Error::malformed("the file is empty"));
    }
    if text.contains("-----BEGIN ") {
        let blocks = pem_blocks(text).map_err(Error::malformed)?;
        return blocks
            .into_iter()
            .find(|(label, _)| matches!(label.as_str(), "PKCS7" | "CMS" | "PKCS #7" | "PKCS#7"))
            .map(|(_, der)| der)
            .ok_or_else(|| Error::malformed("no PKCS7 or CMS block in the PEM file"));
    }
    let body = match split_part(text)? {
        Some(part) => {
            if let Some((media, params)) = part.content_type() {
                if !matches!(
                    media.as_str(),
                    "application/pkcs7-mime" | "application/x-pkcs7-mime"
                ) {
                    return Err(Error::malformed(format!(
                        "the S/MIME part is {media}, not application/pkcs7-mime"
                    )));
                }
                if let Some((_, t)) = params.iter().find(|(k, _)| k == "smime-type")
                    && !t.eq_ignore_ascii_case("enveloped-data")
                {
                    return Err(Error::malformed(format!(
                        "the S/MIME part is {t}, not enveloped-data"
                    )));
                }
            }
            match part.transfer_encoding().as_str() {
                "" | "base64" => part.body,
                "binary" | "8bit" | "7bit" => return Ok(part.body.as_bytes().to_vec()),
                other => {
                    return Err(Error::malformed(format!(
                        "unsupported Content-Transfer-Encoding {other}"
                    )));
                }
            }
        }
        None => text,
    };
    base64_decode(body).ok_or_else(|| Error::malformed("the S/MIME body is not valid base64"))
}

/// The token JSON in a decrypted MIME part: the text between the message
/// markers (or the whole body without them), its line breaks removed.
pub(crate) fn token_json(plaintext: &[u8]) -> Result<String> {
    let text = std::str::from_utf8(plaintext)
        .map_err(|_| Error::malformed("the decrypted token is not UTF-8 text"))?;
    let text = text.trim_start_matches('\u{feff}');
    let starts_bare = {
        let t = text.trim_start();
        t.starts_with(BEGIN_MESSAGE) || t.starts_with('{')
    };
    let decoded;
    let body: &str = match (starts_bare, split_part(text)?) {
        (false, Some(part)) => {
            if let Some((media, _)) = part.content_type()
                && !media.starts_with("text/")
            {
                return Err(Error::malformed(format!(
                    "the decrypted part is {media}, not text/plain"
                )));
            }
            match part.transfer_encoding().as_str() {
                "" | "7bit" | "8bit" | "binary" => part.body,
                "base64" => {
                    let bytes = base64_decode(part.body)
                        .ok_or_else(|| Error::malformed("the token part is not valid base64"))?;
                    decoded = String::from_utf8(bytes)
                        .map_err(|_| Error::malformed("the token part is not UTF-8"))?;
                    &decoded
                }
                "quoted-printable" => {
                    decoded = quoted_printable(part.body)?;
                    &decoded
                }
                other => {
                    return Err(Error::malformed(format!(
                        "unsupported Content-Transfer-Encoding {other} in the token"
                    )));
                }
            }
        }
        _ => text,
    };
    let inner = match body.find(BEGIN_MESSAGE) {
        Some(start) => {
            let after = &body[start + BEGIN_MESSAGE.len()..];
            let end = after
                .find(END_MESSAGE)
                .ok_or_else(|| Error::malformed("-----BEGIN MESSAGE----- without its END line"))?;
            &after[..end]
        }
        None => body,
    };
    let json: String = inner.chars().filter(|c| *c != '\r' && *c != '\n').collect();
    let json = json.trim();
    if !json.starts_with('{') {
        return Err(Error::malformed("the decrypted token holds no JSON object"));
    }
    Ok(json.to_owned())
}

/// Decodes quoted-printable text (RFC 2045 §6.7): `=XX` bytes and `=`
/// soft line breaks.
fn quoted_printable(s: &str) -> Result<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'=' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        match (b.get(i + 1), b.get(i + 2)) {
            (Some(b'\r'), Some(b'\n')) => i += 3,
            (Some(b'\n'), _) => i += 2,
            (Some(h), Some(l)) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => {
                let v = |c: u8| char::from(c).to_digit(16).unwrap_or(0) as u8;
                out.push(v(*h) * 16 + v(*l));
                i += 3;
            }
            _ => return Err(Error::malformed("bad quoted-printable text in the token")),
        }
    }
    String::from_utf8(out).map_err(|_| Error::malformed("the token part is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn smime_wrapper() {
        let der = [0x30u8, 0x03, 0x02, 0x01, 0x00];
        let smime = format!(
            "Content-Type: application/pkcs7-mime; name=\"smime.p7m\";\r\n\
             \tsmime-type=enveloped-data\r\n\
             Content-Transfer-Encoding: base64\r\n\
             Content-Disposition: attachment; filename=\"smime.p7m\"\r\n\r\n{}",
            base64_lines(&der).replace('\n', "\r\n")
        );
        assert_eq!(envelope_bytes(smime.as_bytes()).unwrap(), der);
        assert_eq!(envelope_bytes(&der).unwrap(), der);
        let pem = pem_encode("PKCS7", &der);
        assert_eq!(envelope_bytes(pem.as_bytes()).unwrap(), der);
        assert_eq!(envelope_bytes(base64_lines(&der).as_bytes()).unwrap(), der);
        let signed = smime.replace("enveloped-data", "signed-data");
        assert!(envelope_bytes(signed.as_bytes()).is_err());
        let text = smime.replace("application/pkcs7-mime", "text/plain");
        assert!(envelope_bytes(text.as_bytes()).is_err());
        assert!(envelope_bytes(b"").is_err());
        assert!(envelope_bytes(b"Content-Type: application/pkcs7-mime\n\n!!!").is_err());
        assert!(envelope_bytes(&[0xff, 0xfe]).is_err());
    }

    #[test]
    fn inner_forms() {
        let json = r#"{"consumer_key":"CK_1","access_token_expiry":"2030-01-01T00:00:00Z"}"#;
        let forms = [
            format!(
                "Content-Type: text/plain;charset=UTF-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n\
                 {BEGIN_MESSAGE}\r\n{json}\r\n{END_MESSAGE}\r\n"
            ),
            format!("{BEGIN_MESSAGE}\n{json}\n{END_MESSAGE}\n"),
            json.to_owned(),
            format!(
                "Content-Type: text/plain\n\n{BEGIN_MESSAGE}\n{}\n{}\n{END_MESSAGE}\n",
                &json[..20],
                &json[20..]
            ),
            format!(
                "Content-Type: text/plain\nContent-Transfer-Encoding: base64\n\n{}",
                base64_lines(format!("{BEGIN_MESSAGE}\n{json}\n{END_MESSAGE}\n").as_bytes())
            ),
            format!(
                "Content-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\n\
                 {BEGIN_MESSAGE}\n{}=\n{}\n{END_MESSAGE}\n",
                &json[..20].replace('=', "=3D"),
                &json[20..].replace('=', "=3D")
            ),
        ];
        for f in &forms {
            assert_eq!(token_json(f.as_bytes()).unwrap(), json, "{f}");
        }
        assert!(token_json(format!("{BEGIN_MESSAGE}\n{json}").as_bytes()).is_err());
        assert!(token_json(b"Content-Type: image/png\n\n{}").is_err());
        assert!(token_json(b"hello").is_err());
        assert!(token_json(&[0xc3]).is_err());
    }

    #[test]
    fn header_bound() {
        let many = "X-A: b\n".repeat(MAX_HEADERS + 1) + "\nAAAA";
        assert!(envelope_bytes(many.as_bytes()).is_err());
    }

    proptest! {
        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = envelope_bytes(&data);
            let _ = token_json(&data);
        }

        #[test]
        fn text_never_panics(s in "(\\PC|\r|\n|:|=|-----BEGIN MESSAGE-----){0,60}") {
            let _ = envelope_bytes(s.as_bytes());
            let _ = token_json(s.as_bytes());
        }

        #[test]
        fn base64_roundtrip(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            prop_assert_eq!(base64_decode(&base64_lines(&data)).unwrap(), data);
        }
    }
}
