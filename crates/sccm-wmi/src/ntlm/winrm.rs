//! WinRM message encryption over HTTP with NTLM or SPNEGO (MS-WSMV
//! 2.2.9.1.1): the SOAP body is sealed with the connection's [`Session`]
//! and sent as a two-part `multipart/encrypted` body.
//!
//! ```text
//! --Encrypted Boundary\r\n
//! \tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n
//! \tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=<n>\r\n
//! --Encrypted Boundary\r\n
//! \tContent-Type: application/octet-stream\r\n
//! <signature length, u32 LE = 16><signature><sealed SOAP>--Encrypted Boundary--\r\n
//! ```
//!
//! The `multipart/x-multi-encrypted` form (several such pairs, each at most
//! 16 KiB of plaintext, MS-WSMV 2.2.9.1.2) is what WinRM uses with CredSSP;
//! with NTLM neither Windows nor pywinrm sends it. [`decrypt`] reads it
//! anyway; [`encrypt`] writes the single form only.

use super::NtlmError;
use super::session::{SIGNATURE_LEN, Session};

/// The `protocol` parameter for NTLM and SPNEGO.
pub const PROTOCOL: &str = "application/HTTP-SPNEGO-session-encrypted";

/// The boundary Windows and pywinrm use.
pub const BOUNDARY: &str = "Encrypted Boundary";

/// The `Content-Type` header [`encrypt`] produces.
pub const CONTENT_TYPE: &str = "multipart/encrypted;protocol=\"application/HTTP-SPNEGO-session-encrypted\";boundary=\"Encrypted Boundary\"";

/// The most encrypted parts [`decrypt`] reads from one body.
const MAX_PARTS: usize = 4096;

/// Whether a response's `Content-Type` says its body is encrypted with
/// NTLM or SPNEGO.
pub fn is_encrypted(content_type: &str) -> bool {
    ContentType::parse(content_type).is_ok_and(|ct| {
        ct.protocol
            .is_some_and(|p| p.eq_ignore_ascii_case(PROTOCOL))
    })
}

/// Seals a SOAP message (`application/soap+xml;charset=UTF-8`) and returns
/// the `Content-Type` header value ([`CONTENT_TYPE`]) and the body.
pub fn encrypt(session: &mut Session, soap: &[u8]) -> (String, Vec<u8>) {
    let (signature, sealed) = session.seal(soap);
    (
        CONTENT_TYPE.to_owned(),
        frame(&signature, &sealed, soap.len()),
    )
}

/// What seals WinRM messages: an NTLM [`Session`], or another security
/// context (a Kerberos one, through the system's GSS-API) that produces a
/// header and the sealed bytes (MS-WSMV 2.2.9.1).
pub trait MessageSealing {
    /// Seals `data`: the header (NTLM's 16-byte signature, Kerberos' wrap
    /// token header) and the sealed bytes, as long as `data`.
    fn seal_message(&mut self, data: &[u8]) -> Result<(Vec<u8>, Vec<u8>), NtlmError>;
    /// Checks and unseals what [`seal_message`](Self::seal_message) made.
    fn unseal_message(&mut self, header: &[u8], sealed: &[u8]) -> Result<Vec<u8>, NtlmError>;
}

impl MessageSealing for Session {
    fn seal_message(&mut self, data: &[u8]) -> Result<(Vec<u8>, Vec<u8>), NtlmError> {
        let (signature, sealed) = self.seal(data);
        Ok((signature.to_vec(), sealed))
    }

    fn unseal_message(&mut self, header: &[u8], sealed: &[u8]) -> Result<Vec<u8>, NtlmError> {
        if header.len() != SIGNATURE_LEN {
            return Err(enc("the signature length is not 16"));
        }
        self.unseal(sealed, header)
    }
}

/// The largest header [`decrypt_with`] accepts (Kerberos' is 60 bytes with
/// AES, NTLM's 16).
const MAX_HEADER_LEN: usize = 1024;

/// [`encrypt`] with any [`MessageSealing`].
pub fn encrypt_with(
    sealer: &mut dyn MessageSealing,
    soap: &[u8],
) -> Result<(String, Vec<u8>), NtlmError> {
    let (header, sealed) = sealer.seal_message(soap)?;
    Ok((CONTENT_TYPE.to_owned(), frame(&header, &sealed, soap.len())))
}

/// The `multipart/encrypted` body around one sealed message.
fn frame(header: &[u8], sealed: &[u8], plain_len: usize) -> Vec<u8> {
    let mut body = Vec::with_capacity(sealed.len() + header.len() + 256);
    body.extend_from_slice(b"--Encrypted Boundary\r\n");
    body.extend_from_slice(b"\tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n");
    body.extend_from_slice(
        format!(
            "\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length={plain_len}\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(b"--Encrypted Boundary\r\n");
    body.extend_from_slice(b"\tContent-Type: application/octet-stream\r\n");
    body.extend_from_slice(&(header.len() as u32).to_le_bytes());
    body.extend_from_slice(header);
    body.extend_from_slice(sealed);
    body.extend_from_slice(b"--Encrypted Boundary--\r\n");
    body
}

/// Reads an encrypted body: checks the `Content-Type` (`multipart/encrypted`
/// or `multipart/x-multi-encrypted` with our `protocol` and a `boundary`),
/// each part's headers, signature length and declared `Length`, unseals
/// each part in order and verifies its signature. Returns the plaintext.
pub fn decrypt(
    session: &mut Session,
    content_type: &str,
    body: &[u8],
) -> Result<Vec<u8>, NtlmError> {
    decrypt_with(session, content_type, body)
}

/// [`decrypt`] with any [`MessageSealing`].
pub fn decrypt_with(
    sealer: &mut dyn MessageSealing,
    content_type: &str,
    body: &[u8],
) -> Result<Vec<u8>, NtlmError> {
    let ct = ContentType::parse(content_type)?;
    let multi = if ct.media.eq_ignore_ascii_case("multipart/encrypted") {
        false
    } else if ct.media.eq_ignore_ascii_case("multipart/x-multi-encrypted") {
        true
    } else {
        return Err(enc("Content-Type is not multipart/encrypted"));
    };
    if !ct
        .protocol
        .is_some_and(|p| p.eq_ignore_ascii_case(PROTOCOL))
    {
        return Err(enc(
            "Content-Type's protocol is not HTTP-SPNEGO-session-encrypted",
        ));
    }
    let boundary = ct.boundary.ok_or(enc("Content-Type has no boundary"))?;
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();

    let mut rest = body;
    let mut out = Vec::new();
    for _ in 0..MAX_PARTS {
        rest = strip(rest, delimiter).ok_or(enc("body does not start with the boundary"))?;
        rest = strip(rest, b"\r\n").ok_or(enc("no line break after the boundary"))?;
        let end = find(rest, delimiter).ok_or(enc("no second part"))?;
        let length = original_length(&rest[..end])?;
        rest = strip(&rest[end + delimiter.len()..], b"\r\n")
            .ok_or(enc("no line break after the boundary"))?;
        let line_end = find(rest, b"\r\n").ok_or(enc("no header in the second part"))?;
        let header = trim(&rest[..line_end]);
        if !header_is(header, "Content-Type", "application/octet-stream") {
            return Err(enc("the second part is not application/octet-stream"));
        }
        rest = &rest[line_end + 2..];
        let Some((len, after)) = rest.split_first_chunk::<4>() else {
            return Err(enc("the second part ends before the signature length"));
        };
        let header_len = u32::from_le_bytes(*len) as usize;
        if header_len == 0 || header_len > MAX_HEADER_LEN {
            return Err(enc("the signature length is out of range"));
        }
        if after.len() < header_len {
            return Err(enc("the second part ends inside the signature"));
        }
        let (signature, after) = after.split_at(header_len);
        if after.len() < length {
            return Err(enc("the sealed data is shorter than the declared Length"));
        }
        let (sealed, after) = after.split_at(length);
        out.extend_from_slice(&sealer.unseal_message(signature, sealed)?);
        rest = strip(after, b"\r\n").unwrap_or(after);
        let next = strip(rest, delimiter).ok_or(enc("no boundary after the sealed data"))?;
        if next.starts_with(b"--") {
            return Ok(out);
        }
        if !multi {
            return Err(enc("more than one encrypted part in multipart/encrypted"));
        }
    }
    Err(NtlmError::TooLarge {
        what: "the number of encrypted parts",
        limit: MAX_PARTS,
    })
}

/// The `Length` of the first part's headers, which must include
/// `Content-Type: application/HTTP-SPNEGO-session-encrypted`.
fn original_length(headers: &[u8]) -> Result<usize, NtlmError> {
    let mut protocol = false;
    let mut length = None;
    for line in headers.split(|&b| b == b'\n') {
        let line = trim(line);
        if line.is_empty() {
            continue;
        }
        if header_is(line, "Content-Type", PROTOCOL) {
            protocol = true;
            continue;
        }
        let Ok(line) = core::str::from_utf8(line) else {
            return Err(enc("a header is not UTF-8"));
        };
        if let Some((name, value)) = line.split_once(':')
            && name.trim().eq_ignore_ascii_case("OriginalContent")
        {
            for param in value.split(';') {
                if let Some((k, v)) = param.split_once('=')
                    && k.trim().eq_ignore_ascii_case("Length")
                {
                    length = Some(
                        v.trim()
                            .parse::<usize>()
                            .map_err(|_| enc("OriginalContent's Length is not a number"))?,
                    );
                }
            }
        }
    }
    if !protocol {
        return Err(enc(
            "the first part is not application/HTTP-SPNEGO-session-encrypted",
        ));
    }
    length.ok_or(enc("no OriginalContent Length"))
}

/// Whether `line` is the header `name: value` (case-insensitive).
fn header_is(line: &[u8], name: &str, value: &str) -> bool {
    let Ok(line) = core::str::from_utf8(line) else {
        return false;
    };
    line.split_once(':').is_some_and(|(n, v)| {
        n.trim().eq_ignore_ascii_case(name) && v.trim().eq_ignore_ascii_case(value)
    })
}

/// A parsed `Content-Type`.
struct ContentType<'a> {
    media: &'a str,
    protocol: Option<&'a str>,
    boundary: Option<&'a str>,
}

impl<'a> ContentType<'a> {
    fn parse(value: &'a str) -> Result<Self, NtlmError> {
        let mut parts = value.split(';');
        let media = parts.next().unwrap_or("").trim();
        let mut ct = Self {
            media,
            protocol: None,
            boundary: None,
        };
        for p in parts {
            let Some((k, v)) = p.split_once('=') else {
                continue;
            };
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v);
            match k.trim() {
                k if k.eq_ignore_ascii_case("protocol") => ct.protocol = Some(v),
                k if k.eq_ignore_ascii_case("boundary") => {
                    if v.is_empty() || v.len() > 70 {
                        return Err(enc("the boundary is empty or longer than 70 characters"));
                    }
                    ct.boundary = Some(v);
                }
                _ => {}
            }
        }
        Ok(ct)
    }
}

fn strip<'a>(s: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    s.strip_prefix(prefix)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn trim(s: &[u8]) -> &[u8] {
    s.trim_ascii()
}

fn enc(what: &'static str) -> NtlmError {
    NtlmError::Encryption(what)
}
