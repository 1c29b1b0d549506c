//! The simulated WinRM endpoint: WS-Management over the WMI plugin.

use std::collections::HashMap;
use std::sync::Mutex;

use http::StatusCode;

use super::Shared;

/// Open enumerations, by context.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) enumerations: Mutex<HashMap<String, Cursor>>,
}

/// Where an enumeration stands.
#[derive(Debug)]
pub(crate) struct Cursor {
    pub(crate) class: String,
    pub(crate) next: usize,
}

const BOUNDARY: &str = "--Encrypted Boundary";

/// The signature and sealed bytes of a `multipart/encrypted` WinRM body
/// (MS-WSMV 2.2.9.1.1).
pub(super) fn split_encrypted(body: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let marker = b"Content-Type: application/octet-stream\r\n";
    let at = find(body, marker)? + marker.len();
    let rest = &body[at..];
    let len = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
    let signature = rest.get(4..4 + len)?.to_vec();
    let tail = &rest[4 + len..];
    let end = find(tail, format!("{BOUNDARY}--").as_bytes())?;
    Some((signature, tail[..end].to_vec()))
}

/// A `multipart/encrypted` body and its Content-Type.
pub(super) fn join_encrypted(signature: &[u8], sealed: &[u8], plain_len: usize) -> (String, Vec<u8>) {
    let mut body = format!(
        "{BOUNDARY}\r\n\tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length={plain_len}\r\n{BOUNDARY}\r\n\tContent-Type: application/octet-stream\r\n"
    )
    .into_bytes();
    body.extend_from_slice(&(signature.len() as u32).to_le_bytes());
    body.extend_from_slice(signature);
    body.extend_from_slice(sealed);
    body.extend_from_slice(format!("{BOUNDARY}--\r\n").as_bytes());
    (
        "multipart/encrypted;protocol=\"application/HTTP-SPNEGO-session-encrypted\";boundary=\"Encrypted Boundary\"".to_owned(),
        body,
    )
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Answers one WS-Management request envelope.
pub(super) fn handle(_shared: &Shared, _body: &[u8]) -> (StatusCode, Vec<u8>) {
    (StatusCode::INTERNAL_SERVER_ERROR, Vec::new())
}
