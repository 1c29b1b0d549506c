//! Base64 (RFC 4648 section 4, the standard alphabet), as the XML `<data>`
//! element holds it.
//!
//! Decoding accepts whitespace anywhere (writers wrap lines and indent them)
//! and missing padding; padding that is present must be complete, and any
//! other character is an error.

/// The standard alphabet (RFC 4648, table 1).
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Table entry for XML whitespace.
const WS: u8 = 0x40;
/// Table entry for `=`.
const PAD: u8 = 0x41;
/// Table entry for `<`, where decoding stops (see [`decode_prefix`]).
const STOP: u8 = 0x42;
/// Table entry for anything else.
const BAD: u8 = 0xFF;

/// Byte to 6-bit value, or one of [`WS`], [`PAD`], [`BAD`].
const DECODE: [u8; 256] = {
    let mut t = [BAD; 256];
    let mut i = 0;
    while i < 64 {
        t[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    t[b' ' as usize] = WS;
    t[b'\t' as usize] = WS;
    t[b'\n' as usize] = WS;
    t[b'\r' as usize] = WS;
    t[b'=' as usize] = PAD;
    t[b'<' as usize] = STOP;
    t
};

/// Byte to its 6-bit value shifted left by `shift`, or `u32::MAX` for a
/// byte outside the alphabet: OR-ing four lookups gives a 24-bit group, with
/// the top byte set if any character was not in the alphabet.
const fn shifted(shift: u32) -> [u32; 256] {
    let mut t = [u32::MAX; 256];
    let mut i = 0;
    while i < 64 {
        t[ALPHABET[i] as usize] = (i as u32) << shift;
        i += 1;
    }
    t
}

static D0: [u32; 256] = shifted(18);
static D1: [u32; 256] = shifted(12);
static D2: [u32; 256] = shifted(6);
static D3: [u32; 256] = shifted(0);

/// Four characters as a 24-bit group; bits above 23 set if any is not in
/// the alphabet.
#[inline(always)]
fn quad(c: &[u8]) -> u32 {
    D0[usize::from(c[0])] | D1[usize::from(c[1])] | D2[usize::from(c[2])] | D3[usize::from(c[3])]
}

/// The length of the padded base64 text for `n` bytes.
pub(crate) fn encoded_len(n: usize) -> usize {
    n.div_ceil(3) * 4
}

/// Appends the padded base64 text of `data` to `out`.
pub(crate) fn encode_into(data: &[u8], out: &mut Vec<u8>) {
    out.reserve(encoded_len(data.len()));
    let mut chunks = data.chunks_exact(3);
    for c in &mut chunks {
        let n = (u32::from(c[0]) << 16) | (u32::from(c[1]) << 8) | u32::from(c[2]);
        out.extend_from_slice(&[
            ALPHABET[(n >> 18) as usize & 63],
            ALPHABET[(n >> 12) as usize & 63],
            ALPHABET[(n >> 6) as usize & 63],
            ALPHABET[n as usize & 63],
        ]);
    }
    match *chunks.remainder() {
        [a] => {
            let n = u32::from(a) << 16;
            out.extend_from_slice(&[
                ALPHABET[(n >> 18) as usize & 63],
                ALPHABET[(n >> 12) as usize & 63],
                b'=',
                b'=',
            ]);
        }
        [a, b] => {
            let n = (u32::from(a) << 16) | (u32::from(b) << 8);
            out.extend_from_slice(&[
                ALPHABET[(n >> 18) as usize & 63],
                ALPHABET[(n >> 12) as usize & 63],
                ALPHABET[(n >> 6) as usize & 63],
                b'=',
            ]);
        }
        _ => {}
    }
}

/// The padded base64 text of `data`.
#[cfg(feature = "serde")]
pub(crate) fn encode_string(data: &[u8]) -> String {
    let mut out = Vec::new();
    encode_into(data, &mut out);
    // The alphabet and `=` are ASCII.
    String::from_utf8(out).unwrap_or_default()
}

/// Decodes base64 text; on failure, the offset in `text` of the first byte
/// that cannot be accepted (or `text.len()` if the text stops mid-quantum).
pub(crate) fn decode(text: &[u8]) -> Result<Vec<u8>, usize> {
    match decode_prefix(text) {
        Ok((out, end)) if end == text.len() => Ok(out),
        Ok((_, end)) => Err(end),
        Err(e) => Err(e),
    }
}

/// Decodes base64 text up to the first `<` (or the end): the bytes and the
/// offset where it stopped. On failure, the offset of the first byte that
/// cannot be accepted, or of the stop if the text stops mid-quantum.
///
/// Stopping at `<` lets the XML reader decode `<data>` contents in the same
/// pass that finds the end tag.
pub(crate) fn decode_prefix(text: &[u8]) -> Result<(Vec<u8>, usize), usize> {
    // Room for every character being data, and slack for the fast path's
    // wide writes; trimmed at the end.
    let mut out = vec![0u8; text.len() / 4 * 3 + 8];
    let mut o = 0;
    let mut acc: u32 = 0;
    let mut nacc = 0u32;
    let mut i = 0;
    let n = text.len();
    while i < n {
        // Fast path: runs of alphabet characters at a quantum boundary,
        // eight characters (six bytes) at a time, then four.
        if nacc == 0 {
            // Writes 8 bytes for every 6 decoded; the buffer has the slack.
            while let (Some(c), Some(dst)) = (text.get(i..i + 8), out.get_mut(o..o + 8)) {
                let (a, b) = (quad(&c[..4]), quad(&c[4..]));
                if (a | b) >> 24 != 0 {
                    break;
                }
                let w = (u64::from(a) << 40) | (u64::from(b) << 16);
                dst.copy_from_slice(&w.to_be_bytes());
                o += 6;
                i += 8;
            }
            if let (Some(c), Some(dst)) = (text.get(i..i + 4), out.get_mut(o..o + 3)) {
                let a = quad(c);
                if a >> 24 == 0 {
                    dst.copy_from_slice(&a.to_be_bytes()[1..]);
                    o += 3;
                    i += 4;
                    continue;
                }
            }
        }
        let Some(&c) = text.get(i) else {
            break;
        };
        let v = DECODE[usize::from(c)];
        match v {
            0..=63 => {
                acc = (acc << 6) | u32::from(v);
                nacc += 1;
                if nacc == 4 {
                    if let Some(dst) = out.get_mut(o..o + 3) {
                        dst.copy_from_slice(&acc.to_be_bytes()[1..]);
                    }
                    o += 3;
                    acc = 0;
                    nacc = 0;
                }
            }
            WS => {}
            PAD => {
                out.truncate(o);
                return finish_padded(text, i, acc, nacc, out);
            }
            STOP => {
                out.truncate(o);
                return finish(acc, nacc, out).map(|out| (out, i)).ok_or(i);
            }
            _ => return Err(i),
        }
        i += 1;
    }
    out.truncate(o);
    finish(acc, nacc, out).map(|out| (out, n)).ok_or(n)
}

/// Completes a quantum of `nacc` characters (`acc`) with no padding.
fn finish(acc: u32, nacc: u32, mut out: Vec<u8>) -> Option<Vec<u8>> {
    match nacc {
        0 => {}
        2 => out.push((acc >> 4) as u8),
        3 => out.extend_from_slice(&[(acc >> 10) as u8, (acc >> 2) as u8]),
        _ => return None,
    }
    Some(out)
}

/// Handles the padding that starts at `text[at]`: exactly the `=` signs the
/// last quantum needs, with only whitespace among and after them, up to the
/// end or a `<`.
fn finish_padded(
    text: &[u8],
    at: usize,
    acc: u32,
    nacc: u32,
    out: Vec<u8>,
) -> Result<(Vec<u8>, usize), usize> {
    let needed = match nacc {
        2 => 2,
        3 => 1,
        _ => return Err(at),
    };
    let mut seen = 0;
    let mut end = text.len();
    for (j, &c) in text.iter().enumerate().skip(at) {
        match DECODE[usize::from(c)] {
            PAD if seen < needed => seen += 1,
            WS => {}
            STOP => {
                end = j;
                break;
            }
            _ => return Err(j),
        }
    }
    if seen != needed {
        return Err(end);
    }
    finish(acc, nacc, out).map(|out| (out, end)).ok_or(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(d: &[u8]) -> String {
        let mut v = Vec::new();
        encode_into(d, &mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn rfc4648_vectors() {
        // RFC 4648 section 10.
        for (plain, coded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(enc(plain.as_bytes()), coded);
            assert_eq!(decode(coded.as_bytes()).unwrap(), plain.as_bytes());
            let unpadded = coded.trim_end_matches('=');
            assert_eq!(decode(unpadded.as_bytes()).unwrap(), plain.as_bytes());
        }
    }

    #[test]
    fn whitespace_anywhere() {
        assert_eq!(decode(b"\n\tZm9v\n\tYmFy\n\t").unwrap(), b"foobar");
        assert_eq!(decode(b" Z m 9 v Y g = = ").unwrap(), b"foob");
        assert_eq!(decode(b"Zm9vYg\r\n==\r\n").unwrap(), b"foob");
    }

    #[test]
    fn stops_at_lt() {
        assert_eq!(decode_prefix(b"Zm9v\n</data>"), Ok((b"foo".to_vec(), 5)));
        assert_eq!(decode_prefix(b"Zm9vYg==\n<"), Ok((b"foob".to_vec(), 9)));
        assert_eq!(decode_prefix(b"Zm9vYg<"), Ok((b"foob".to_vec(), 6)));
        assert_eq!(decode_prefix(b"Zm9vY<"), Err(5));
        assert_eq!(decode_prefix(b"Zm9vYg=<"), Err(7));
        assert_eq!(decode_prefix(b"Zm9vYg"), Ok((b"foob".to_vec(), 6)));
        assert_eq!(decode(b"Zm9v<"), Err(4));
    }

    #[test]
    fn rejects_bad_text() {
        assert_eq!(decode(b"Zm9v!"), Err(4));
        assert_eq!(decode(b"Z"), Err(1));
        assert_eq!(decode(b"Zm9vY"), Err(5));
        // Incomplete padding, as in a well-known placeholder.
        assert_eq!(decode(b"Base64="), Err(7));
        assert_eq!(decode(b"Zg="), Err(3));
        assert_eq!(decode(b"Zg==="), Err(4));
        assert_eq!(decode(b"Zg==Zg=="), Err(4));
        assert_eq!(decode(b"=="), Err(0));
        assert_eq!(decode(b"Zm9v="), Err(4));
        assert_eq!(decode(b"Zm-v"), Err(2));
        assert_eq!(decode(b"Zm_v"), Err(2));
    }

    proptest::proptest! {
        #[test]
        fn roundtrip(data: Vec<u8>, wrap in 1usize..90) {
            let text = enc(&data);
            proptest::prop_assert_eq!(decode(text.as_bytes()).unwrap(), data.clone());
            let wrapped: Vec<u8> = text
                .as_bytes()
                .chunks(wrap)
                .flat_map(|c| c.iter().copied().chain(*b"\n\t"))
                .collect();
            proptest::prop_assert_eq!(decode(&wrapped).unwrap(), data);
        }
    }
}
