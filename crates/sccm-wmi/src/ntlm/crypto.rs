//! NTLMv2's one-way functions and keys (MS-NLMP 3.3.2, 3.4.5), and the
//! channel-binding hash (MS-NLMP 2.2.2.1, RFC 2743 and RFC 5929).

use hmac::{Hmac, KeyInit, Mac};
use md4::{Digest, Md4};
use md5::Md5;
use rc4::{Rc4, StreamCipher};

use super::NtlmError;
use super::messages::{NegotiateFlags, utf16le};

/// The NT hash: `MD4(UTF-16LE(password))` (MS-NLMP 3.3.1, `NTOWFv1`).
pub fn nt_hash(password: &str) -> [u8; 16] {
    Md4::digest(utf16le(password)).into()
}

/// `NTOWFv2` (MS-NLMP 3.3.2): `HMAC_MD5(NT hash, UTF-16LE(UPPER(user) +
/// domain))`. Upper-casing maps each character on its own, as Windows
/// does: a character whose upper case is more than one character (`ß`)
/// stays as it is.
pub fn ntowf_v2(nt_hash: &[u8; 16], user: &str, domain: &str) -> [u8; 16] {
    let mut text = upper(user);
    text.push_str(domain);
    hmac_md5(nt_hash, &[&utf16le(&text)])
}

/// The MD5 of a `gss_channel_bindings_struct` with no addresses and
/// `application_data` (MS-NLMP 2.2.2.1 `MsvAvChannelBindings`; RFC 2743
/// 3.11): five little-endian 32-bit fields — initiator address type and
/// length, acceptor address type and length, application data length — then
/// the application data. For TLS that data is `tls-server-end-point:` and
/// the certificate's hash ([`tls_server_end_point`]).
pub fn channel_bindings_hash(application_data: &[u8]) -> [u8; 16] {
    let mut s = Vec::with_capacity(20 + application_data.len());
    s.extend_from_slice(&[0; 16]);
    // Channel bindings are a TLS certificate hash with a short prefix.
    s.extend_from_slice(&(application_data.len() as u32).to_le_bytes());
    s.extend_from_slice(application_data);
    md5(&[&s])
}

/// The `tls-server-end-point` channel binding (RFC 5929 4.1) of a server
/// certificate (DER): `tls-server-end-point:` followed by the certificate's
/// hash, with the hash function of its signature algorithm — SHA-256 for
/// MD5, SHA-1, SHA-256 and algorithms this function does not know
/// (including RSASSA-PSS, whose hash is in its parameters), SHA-384 and
/// SHA-512 for the signatures that use them.
///
/// The certificate must be a DER SEQUENCE whose second element is an
/// AlgorithmIdentifier; nothing else of it is checked.
pub fn tls_server_end_point(certificate_der: &[u8]) -> Result<Vec<u8>, NtlmError> {
    use sha2::{Sha256, Sha384, Sha512};
    let bad = |e: pippin_ber::Error| NtlmError::InvalidCertificate(e.offset);
    let mut top = pippin_ber::Reader::new(certificate_der);
    let cert = top.read().map_err(bad)?;
    let mut fields = top.enter(&cert);
    fields.read().map_err(bad)?;
    let alg = fields.read().map_err(bad)?;
    let oid = fields.enter(&alg).read().map_err(bad)?;
    // 1.2.840.113549.1.1.{12,13} (sha384/512WithRSAEncryption),
    // 1.2.840.10045.4.3.{3,4} (ecdsa-with-SHA384/512).
    const SHA384: [&[u8]; 2] = [
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c],
        &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03],
    ];
    const SHA512: [&[u8]; 2] = [
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d],
        &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04],
    ];
    let hash: Vec<u8> = if oid.tag == 0x06 && SHA384.contains(&oid.value) {
        Sha384::digest(cert.raw).to_vec()
    } else if oid.tag == 0x06 && SHA512.contains(&oid.value) {
        Sha512::digest(cert.raw).to_vec()
    } else {
        Sha256::digest(cert.raw).to_vec()
    };
    let mut out = b"tls-server-end-point:".to_vec();
    out.extend_from_slice(&hash);
    Ok(out)
}

/// Upper case, one character for one.
fn upper(s: &str) -> String {
    s.chars()
        .map(|c| {
            let mut up = c.to_uppercase();
            match (up.next(), up.next()) {
                (Some(u), None) => u,
                _ => c,
            }
        })
        .collect()
}

pub(crate) fn hmac_md5(key: &[u8], parts: &[&[u8]]) -> [u8; 16] {
    // HMAC takes keys of any length.
    let mut mac = <Hmac<Md5> as KeyInit>::new_from_slice(key).expect("HMAC accepts any key");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

pub(crate) fn md5(parts: &[&[u8]]) -> [u8; 16] {
    let mut h = Md5::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// RC4 with a 16-byte key over `data`, in place (`RC4K`).
pub(crate) fn rc4k(key: &[u8; 16], data: &mut [u8]) {
    rc4_handle(key).apply_keystream(data);
}

/// A fresh RC4 handle for a 16-byte key.
pub(crate) fn rc4_handle(key: &[u8; 16]) -> Rc4 {
    // RC4 accepts keys of 1 to 256 bytes.
    <Rc4 as KeyInit>::new_from_slice(key).expect("16 bytes is a valid RC4 key")
}

/// What `ComputeResponse` (MS-NLMP 3.3.2) yields for NTLMv2.
pub(crate) struct V2Response {
    /// `NtChallengeResponse`: NTProofStr, then `temp`.
    pub(crate) nt_response: Vec<u8>,
    /// `LmChallengeResponse` (LMv2).
    pub(crate) lm_response: Vec<u8>,
    /// `SessionBaseKey`, which is also the KeyExchangeKey for NTLMv2.
    pub(crate) session_base_key: [u8; 16],
}

/// NTLMv2 `ComputeResponse` (MS-NLMP 3.3.2) from `ResponseKeyNT` (which is
/// also `ResponseKeyLM`), the challenges, the time and the encoded AV pairs
/// (with their EOL).
pub(crate) fn compute_v2_response(
    response_key: &[u8; 16],
    server_challenge: &[u8; 8],
    client_challenge: &[u8; 8],
    time: u64,
    av_pairs: &[u8],
) -> V2Response {
    let mut temp = Vec::with_capacity(28 + av_pairs.len() + 4);
    temp.extend_from_slice(&[1, 1, 0, 0, 0, 0, 0, 0]);
    temp.extend_from_slice(&time.to_le_bytes());
    temp.extend_from_slice(client_challenge);
    temp.extend_from_slice(&[0; 4]);
    temp.extend_from_slice(av_pairs);
    temp.extend_from_slice(&[0; 4]);
    let nt_proof = hmac_md5(response_key, &[server_challenge, &temp]);
    let mut nt_response = nt_proof.to_vec();
    nt_response.extend_from_slice(&temp);
    let mut lm_response = hmac_md5(response_key, &[server_challenge, client_challenge]).to_vec();
    lm_response.extend_from_slice(client_challenge);
    V2Response {
        nt_response,
        lm_response,
        session_base_key: hmac_md5(response_key, &[&nt_proof]),
    }
}

/// Which side of the connection a key is for.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum Direction {
    ClientToServer,
    ServerToClient,
}

/// `SIGNKEY` with extended session security (MS-NLMP 3.4.5.2).
pub(crate) fn sign_key(exported_session_key: &[u8; 16], direction: Direction) -> [u8; 16] {
    let magic: &[u8] = match direction {
        Direction::ClientToServer => {
            b"session key to client-to-server signing key magic constant\0"
        }
        Direction::ServerToClient => {
            b"session key to server-to-client signing key magic constant\0"
        }
    };
    md5(&[exported_session_key, magic])
}

/// `SEALKEY` with extended session security (MS-NLMP 3.4.5.3): the whole
/// key with NEGOTIATE_128, its first 7 bytes with NEGOTIATE_56, otherwise
/// its first 5, hashed with the direction's magic constant.
pub(crate) fn seal_key(
    exported_session_key: &[u8; 16],
    flags: NegotiateFlags,
    direction: Direction,
) -> [u8; 16] {
    let len = if flags.contains(NegotiateFlags::NEGOTIATE_128) {
        16
    } else if flags.contains(NegotiateFlags::NEGOTIATE_56) {
        7
    } else {
        5
    };
    let magic: &[u8] = match direction {
        Direction::ClientToServer => {
            b"session key to client-to-server sealing key magic constant\0"
        }
        Direction::ServerToClient => {
            b"session key to server-to-client sealing key magic constant\0"
        }
    };
    md5(&[&exported_session_key[..len], magic])
}
