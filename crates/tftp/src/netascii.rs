//! Netascii conversion (RFC 1350 "netascii", with the line-end rules of
//! the Telnet NVT, RFC 764): a local text file with LF line ends becomes
//! CR LF on the wire, and a bare CR becomes CR NUL; the receiver reverses
//! it. Both directions keep their state across block boundaries, so a
//! CR LF split over two DATA packets converts correctly.

/// Converts local bytes to netascii.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub struct Encoder {
    /// The second byte of a pair that did not fit the last output.
    pending: Option<u8>,
}

impl Encoder {
    /// A fresh encoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether a byte is waiting for room in the next output.
    pub fn has_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Converts as much of `input` as fits into `output`; returns
    /// `(consumed, written)`. The output is full, or all input consumed
    /// (and nothing pending), when it returns.
    pub fn encode(&mut self, input: &[u8], output: &mut [u8]) -> (usize, usize) {
        let mut w = 0;
        if let Some(b) = self.pending {
            if output.is_empty() {
                return (0, 0);
            }
            output[0] = b;
            w = 1;
            self.pending = None;
        }
        let mut r = 0;
        while r < input.len() && w < output.len() {
            let b = input[r];
            r += 1;
            let second = match b {
                b'\n' => Some(b'\n'),
                b'\r' => Some(0),
                _ => None,
            };
            match second {
                None => {
                    output[w] = b;
                    w += 1;
                }
                Some(s) => {
                    output[w] = b'\r';
                    w += 1;
                    if w < output.len() {
                        output[w] = s;
                        w += 1;
                    } else {
                        self.pending = Some(s);
                    }
                }
            }
        }
        (r, w)
    }
}

/// Converts netascii to local bytes: CR LF to LF, CR NUL to CR. A CR
/// followed by anything else is kept as it is (lenient, as most
/// implementations are).
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub struct Decoder {
    /// The last input byte was a CR whose meaning depends on the next.
    cr: bool,
}

impl Decoder {
    /// A fresh decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Converts `input`, appending to `output` (which must have room for
    /// `input.len() + 1` more bytes to never fail; see
    /// [`Decoder::max_output`]); returns the bytes written.
    pub fn decode(&mut self, input: &[u8], output: &mut [u8]) -> usize {
        let mut w = 0;
        for &b in input {
            if self.cr {
                self.cr = false;
                match b {
                    b'\n' => {
                        output[w] = b'\n';
                        w += 1;
                        continue;
                    }
                    0 => {
                        output[w] = b'\r';
                        w += 1;
                        continue;
                    }
                    _ => {
                        output[w] = b'\r';
                        w += 1;
                    }
                }
            }
            if b == b'\r' {
                self.cr = true;
            } else {
                output[w] = b;
                w += 1;
            }
        }
        w
    }

    /// The most bytes [`Decoder::decode`] writes for `input_len` input bytes.
    pub fn max_output(input_len: usize) -> usize {
        input_len + 1
    }

    /// Ends the stream: a trailing CR is kept. Returns the bytes to append.
    pub fn finish(&mut self) -> &'static [u8] {
        if std::mem::take(&mut self.cr) {
            b"\r"
        } else {
            b""
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn encode_all(input: &[u8], chunk: usize) -> Vec<u8> {
        let mut e = Encoder::new();
        let mut out = Vec::new();
        let mut buf = vec![0; chunk];
        let mut rest = input;
        loop {
            let (r, w) = e.encode(rest, &mut buf);
            out.extend_from_slice(&buf[..w]);
            rest = &rest[r..];
            if rest.is_empty() && !e.has_pending() {
                return out;
            }
        }
    }

    fn decode_all(input: &[u8], chunk: usize) -> Vec<u8> {
        let mut d = Decoder::new();
        let mut out = Vec::new();
        let mut buf = vec![0; Decoder::max_output(chunk)];
        for c in input.chunks(chunk) {
            let n = d.decode(c, &mut buf);
            out.extend_from_slice(&buf[..n]);
        }
        out.extend_from_slice(d.finish());
        out
    }

    #[test]
    fn line_ends_and_bare_cr() {
        assert_eq!(encode_all(b"a\nb\rc\r\n", 100), b"a\r\nb\r\0c\r\0\r\n");
        assert_eq!(decode_all(b"a\r\nb\r\0c\r\0\r\n", 100), b"a\nb\rc\r\n");
        // Lenient: CR followed by another byte, and a trailing CR.
        assert_eq!(decode_all(b"x\ry\r", 100), b"x\ry\r");
    }

    #[test]
    fn pairs_split_across_blocks() {
        // Output of 2 bytes: "a\r" then "\n" pending into the next block.
        let mut e = Encoder::new();
        let mut out = [0; 2];
        assert_eq!(e.encode(b"a\nb", &mut out), (2, 2));
        assert_eq!(&out, b"a\r");
        assert!(e.has_pending());
        assert_eq!(e.encode(b"b", &mut out), (1, 2));
        assert_eq!(&out, b"\nb");
        // Decoding CR at the end of one block and LF at the start of the next.
        assert_eq!(decode_all(b"a\r\nb", 2), b"a\nb");
        assert_eq!(decode_all(b"a\r\0b", 2), b"a\rb");
    }

    proptest! {
        #[test]
        fn roundtrip_at_any_block_size(
            input in proptest::collection::vec(prop_oneof![Just(b'\r'), Just(b'\n'), Just(0u8), any::<u8>()], 0..300),
            enc_chunk in 1usize..20,
            dec_chunk in 1usize..20,
        ) {
            let wire = encode_all(&input, enc_chunk);
            prop_assert_eq!(&wire, &encode_all(&input, 1000));
            // No bare LF and no CR without LF or NUL after it on the wire.
            for (i, &b) in wire.iter().enumerate() {
                if b == b'\r' {
                    prop_assert!(matches!(wire.get(i + 1), Some(b'\n') | Some(0)));
                }
                if b == b'\n' {
                    prop_assert!(i > 0 && wire[i - 1] == b'\r');
                }
            }
            prop_assert_eq!(decode_all(&wire, dec_chunk), input);
        }
    }
}
