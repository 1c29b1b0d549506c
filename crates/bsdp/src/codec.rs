//! The crate's codec trait pair.

use crate::error::{DecodeError, EncodeError};

/// A wire structure read from a borrowed byte slice.
///
/// Decoding does work linear in the input's length, allocates at most a
/// small multiple of it, and never panics: malformed input is a
/// [`DecodeError`] carrying the byte offset of the problem.
pub trait Decode: Sized {
    /// Reads a value from exactly `bytes`.
    fn decode(bytes: &[u8]) -> Result<Self, DecodeError>;
}

/// A wire structure written into a caller-supplied buffer.
///
/// Decoding what [`Encode::encode`] wrote gives the value back.
pub trait Encode {
    /// The number of bytes [`Encode::encode`] writes.
    fn encoded_len(&self) -> usize;

    /// Writes the value at the start of `out` and returns the number of
    /// bytes written; [`EncodeError::BufferTooSmall`] if `out` is shorter
    /// than [`Encode::encoded_len`].
    fn encode(&self, out: &mut [u8]) -> Result<usize, EncodeError>;

    /// The encoding in a new vector.
    fn to_vec(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = vec![0; self.encoded_len()];
        let n = self.encode(&mut out)?;
        out.truncate(n);
        Ok(out)
    }
}

/// A cursor over a caller's output buffer that checks every write.
pub(crate) struct Writer<'a> {
    out: &'a mut [u8],
    pos: usize,
    needed: usize,
}

impl<'a> Writer<'a> {
    pub(crate) fn new(out: &'a mut [u8], needed: usize) -> Result<Self, EncodeError> {
        if out.len() < needed {
            return Err(EncodeError::BufferTooSmall { needed });
        }
        Ok(Self {
            out,
            pos: 0,
            needed,
        })
    }

    pub(crate) fn put(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
        let end = self.pos + bytes.len();
        let dst = self
            .out
            .get_mut(self.pos..end)
            .ok_or(EncodeError::BufferTooSmall {
                needed: self.needed.max(end),
            })?;
        dst.copy_from_slice(bytes);
        self.pos = end;
        Ok(())
    }

    pub(crate) fn put_u8(&mut self, v: u8) -> Result<(), EncodeError> {
        self.put(&[v])
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }
}
