//! The six TFTP packets and their codec: [`Decode`] from a borrowed slice,
//! [`Encode`] into a caller's buffer.
//!
//! Every packet starts with a 2-byte big-endian opcode (RFC 1350 §5):
//!
//! ```text
//!  opcode  operation
//!    1     Read request (RRQ)          | 01 | filename | 0 | mode | 0 | opt1 | 0 | value1 | 0 | ...
//!    2     Write request (WRQ)         | 02 | filename | 0 | mode | 0 | ...
//!    3     Data (DATA)                 | 03 | block # (2) | data (0..blksize) |
//!    4     Acknowledgment (ACK)        | 04 | block # (2) |
//!    5     Error (ERROR)               | 05 | error code (2) | message | 0 |
//!    6     Option Acknowledgment (OACK, RFC 2347) | 06 | opt1 | 0 | value1 | 0 | ... |
//! ```

use std::fmt;

/// Decodes a value from a borrowed byte slice.
///
/// Decoding never panics: malformed input is a [`DecodeError`].
pub trait Decode<'a>: Sized {
    /// Decodes `bytes`, which must hold exactly one value.
    fn decode(bytes: &'a [u8]) -> Result<Self, DecodeError>;
}

/// Encodes a value into a caller-supplied buffer.
pub trait Encode {
    /// The number of bytes [`Encode::encode`] writes.
    fn encoded_len(&self) -> usize;

    /// Writes the value at the start of `buf` and returns the number of
    /// bytes written, or [`BufferTooSmall`] (and writes nothing useful) if
    /// `buf` is shorter than [`Encode::encoded_len`].
    fn encode(&self, buf: &mut [u8]) -> Result<usize, BufferTooSmall>;
}

/// A buffer passed to [`Encode::encode`] is too short.
#[derive(Clone, Copy, Debug, Eq, PartialEq, thiserror::Error)]
#[error("the buffer holds {available} bytes but the packet needs {needed}")]
pub struct BufferTooSmall {
    /// The bytes the packet needs.
    pub needed: usize,
    /// The bytes the buffer has.
    pub available: usize,
}

/// Why a datagram is not a well-formed TFTP packet, and where.
///
/// Cheap: no allocation. `offset` is the byte offset in the datagram at
/// which the problem was found.
#[derive(Clone, Copy, Debug, Eq, PartialEq, thiserror::Error)]
#[error("malformed TFTP packet at byte {offset}: {kind}")]
pub struct DecodeError {
    /// What is wrong.
    pub kind: DecodeErrorKind,
    /// Where.
    pub offset: usize,
}

/// What is wrong with a malformed packet.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The datagram ends before the packet does (a missing opcode, block
    /// number or error code).
    Truncated,
    /// The opcode is not 1 to 6.
    UnknownOpcode(u16),
    /// A string (filename, mode, option, error message) has no
    /// terminating NUL byte.
    Unterminated,
    /// The transfer mode is not `netascii`, `octet` or `mail`.
    UnknownMode,
    /// The filename is empty.
    EmptyFilename,
    /// An option name is empty, or has no value.
    BadOption,
    /// Bytes follow a packet that has a fixed length (ACK) or follow the
    /// error message's NUL.
    TrailingBytes,
    /// A string is not valid UTF-8 where text is expected (error messages
    /// are decoded lossily instead; this is for option names and values).
    NotText,
}

impl fmt::Display for DecodeErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated => f.write_str("the packet is truncated"),
            Self::UnknownOpcode(op) => write!(f, "unknown opcode {op}"),
            Self::Unterminated => f.write_str("a string has no terminating NUL"),
            Self::UnknownMode => f.write_str("unknown transfer mode"),
            Self::EmptyFilename => f.write_str("the filename is empty"),
            Self::BadOption => f.write_str("an option has an empty name or no value"),
            Self::TrailingBytes => f.write_str("bytes after the end of the packet"),
            Self::NotText => f.write_str("an option is not ASCII text"),
        }
    }
}

impl DecodeError {
    fn at(kind: DecodeErrorKind, offset: usize) -> Self {
        Self { kind, offset }
    }
}

/// The opcode of a packet (RFC 1350 §5, RFC 2347).
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
#[repr(u16)]
pub enum Opcode {
    /// Read request.
    Rrq = 1,
    /// Write request.
    Wrq = 2,
    /// Data.
    Data = 3,
    /// Acknowledgment.
    Ack = 4,
    /// Error.
    Error = 5,
    /// Option acknowledgment.
    Oack = 6,
}

impl Opcode {
    /// The opcode with this number, if any.
    pub fn from_u16(op: u16) -> Option<Self> {
        Some(match op {
            1 => Self::Rrq,
            2 => Self::Wrq,
            3 => Self::Data,
            4 => Self::Ack,
            5 => Self::Error,
            6 => Self::Oack,
            _ => return None,
        })
    }
}

/// The error codes of RFC 1350 (appendix) and RFC 2347 (8).
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum ErrorCode {
    /// 0: not defined, see the error message.
    NotDefined,
    /// 1: file not found.
    FileNotFound,
    /// 2: access violation.
    AccessViolation,
    /// 3: disk full or allocation exceeded.
    DiskFull,
    /// 4: illegal TFTP operation.
    IllegalOperation,
    /// 5: unknown transfer ID.
    UnknownTransferId,
    /// 6: file already exists.
    FileExists,
    /// 7: no such user.
    NoSuchUser,
    /// 8: the transfer should be terminated due to option negotiation
    /// (RFC 2347).
    OptionNegotiation,
    /// Any other code.
    Other(u16),
}

impl ErrorCode {
    /// The code's number on the wire.
    pub fn as_u16(self) -> u16 {
        match self {
            Self::NotDefined => 0,
            Self::FileNotFound => 1,
            Self::AccessViolation => 2,
            Self::DiskFull => 3,
            Self::IllegalOperation => 4,
            Self::UnknownTransferId => 5,
            Self::FileExists => 6,
            Self::NoSuchUser => 7,
            Self::OptionNegotiation => 8,
            Self::Other(n) => n,
        }
    }

    /// The code with this number.
    pub fn from_u16(code: u16) -> Self {
        match code {
            0 => Self::NotDefined,
            1 => Self::FileNotFound,
            2 => Self::AccessViolation,
            3 => Self::DiskFull,
            4 => Self::IllegalOperation,
            5 => Self::UnknownTransferId,
            6 => Self::FileExists,
            7 => Self::NoSuchUser,
            8 => Self::OptionNegotiation,
            n => Self::Other(n),
        }
    }

    /// The usual message for the code, as RFC 1350 names it.
    pub fn default_message(self) -> &'static str {
        match self {
            Self::NotDefined | Self::Other(_) => "Error",
            Self::FileNotFound => "File not found",
            Self::AccessViolation => "Access violation",
            Self::DiskFull => "Disk full or allocation exceeded",
            Self::IllegalOperation => "Illegal TFTP operation",
            Self::UnknownTransferId => "Unknown transfer ID",
            Self::FileExists => "File already exists",
            Self::NoSuchUser => "No such user",
            Self::OptionNegotiation => "Option negotiation failed",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.as_u16(), self.default_message())
    }
}

/// The transfer mode of a request (RFC 1350 §5), matched without regard
/// to case.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum Mode {
    /// `netascii`: text with CR LF line ends and CR NUL for a bare CR.
    Netascii,
    /// `octet`: raw bytes.
    Octet,
    /// `mail`: obsolete (RFC 1350 says not to use it); decoded so that a
    /// server can refuse it.
    Mail,
}

impl Mode {
    /// The mode's name as encoded.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Netascii => "netascii",
            Self::Octet => "octet",
            Self::Mail => "mail",
        }
    }

    fn parse(s: &[u8]) -> Option<Self> {
        if s.eq_ignore_ascii_case(b"octet") {
            Some(Self::Octet)
        } else if s.eq_ignore_ascii_case(b"netascii") {
            Some(Self::Netascii)
        } else if s.eq_ignore_ascii_case(b"mail") {
            Some(Self::Mail)
        } else {
            None
        }
    }
}

/// An RRQ or WRQ (RFC 1350 §5, with options per RFC 2347 §2).
///
/// ```text
///  2 bytes     string    1 byte     string   1 byte    string  1 byte  string  1 byte
///  ------------------------------------------------------------------------------------
/// | 01/02 |  Filename  |   0  |    Mode    |   0  |  opt1  |   0  | value1 |   0  | ...
///  ------------------------------------------------------------------------------------
/// ```
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct Request<'a> {
    /// The file name, as sent (not necessarily UTF-8; never empty, never
    /// containing NUL).
    pub filename: &'a [u8],
    /// The transfer mode.
    pub mode: Mode,
    /// The options after the mode, unchanged.
    pub options: OptionList<'a>,
}

/// A DATA packet (RFC 1350 §5).
///
/// ```text
///  2 bytes     2 bytes      n bytes
///  ----------------------------------
/// | Opcode |   Block #  |   Data     |
///  ----------------------------------
/// ```
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct Data<'a> {
    /// The block number (wraps from 65535 to 0 in long transfers).
    pub block: u16,
    /// The data, `0..=blksize` bytes; fewer than blksize ends the transfer.
    pub data: &'a [u8],
}

/// An ERROR packet (RFC 1350 §5).
///
/// ```text
///  2 bytes     2 bytes      string    1 byte
///  -----------------------------------------
/// | Opcode |  ErrorCode |   ErrMsg   |   0  |
///  -----------------------------------------
/// ```
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct ErrorPacket<'a> {
    /// The error code.
    pub code: ErrorCode,
    /// The message, as sent (meant for humans; usually ASCII). Some
    /// implementations omit the terminating NUL; the decoder accepts that.
    pub message: &'a [u8],
}

impl ErrorPacket<'_> {
    /// The message as text (invalid UTF-8 replaced).
    pub fn message_lossy(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(self.message)
    }
}

/// A TFTP packet, borrowing from the datagram it was decoded from.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Packet<'a> {
    /// Read request.
    Rrq(Request<'a>),
    /// Write request.
    Wrq(Request<'a>),
    /// Data.
    Data(Data<'a>),
    /// Acknowledgment of a block (0 acknowledges a WRQ or an OACK).
    Ack(u16),
    /// Error.
    Error(ErrorPacket<'a>),
    /// Option acknowledgment (RFC 2347).
    Oack(OptionList<'a>),
}

impl Packet<'_> {
    /// The packet's opcode.
    pub fn opcode(&self) -> Opcode {
        match self {
            Self::Rrq(_) => Opcode::Rrq,
            Self::Wrq(_) => Opcode::Wrq,
            Self::Data(_) => Opcode::Data,
            Self::Ack(_) => Opcode::Ack,
            Self::Error(_) => Opcode::Error,
            Self::Oack(_) => Opcode::Oack,
        }
    }
}

/// The options of a request or an OACK: NUL-terminated name and value
/// pairs, kept as the encoded bytes (checked well-formed when decoded).
///
/// Iterate with [`OptionList::iter`]; look one up with
/// [`OptionList::get`] (names match without regard to case, RFC 2347).
#[derive(Clone, Copy, Default, Eq, PartialEq)]
pub struct OptionList<'a> {
    raw: &'a [u8],
}

impl fmt::Debug for OptionList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(
                self.iter()
                    .map(|(n, v)| (String::from_utf8_lossy(n), String::from_utf8_lossy(v))),
            )
            .finish()
    }
}

impl<'a> OptionList<'a> {
    /// No options.
    pub const EMPTY: OptionList<'static> = OptionList { raw: b"" };

    /// Checks that `raw` is a sequence of `name NUL value NUL` pairs with
    /// non-empty names, and wraps it. `base` is the offset of `raw` in the
    /// datagram, for errors.
    fn parse(raw: &'a [u8], base: usize) -> Result<Self, DecodeError> {
        let mut pos = 0;
        while pos < raw.len() {
            let name_end = find_nul(raw, pos).ok_or(DecodeError::at(
                DecodeErrorKind::Unterminated,
                base + raw.len(),
            ))?;
            if name_end == pos {
                return Err(DecodeError::at(DecodeErrorKind::BadOption, base + pos));
            }
            let value_start = name_end + 1;
            let value_end = find_nul(raw, value_start).ok_or(DecodeError::at(
                if value_start >= raw.len() {
                    DecodeErrorKind::BadOption
                } else {
                    DecodeErrorKind::Unterminated
                },
                base + raw.len(),
            ))?;
            pos = value_end + 1;
        }
        Ok(Self { raw })
    }

    /// Wraps already-encoded options, checking them as the decoder does.
    pub fn from_encoded(raw: &'a [u8]) -> Result<Self, DecodeError> {
        Self::parse(raw, 0)
    }

    /// The encoded bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.raw
    }

    /// Whether there are no options.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// The `(name, value)` pairs in order, as sent.
    pub fn iter(&self) -> OptionIter<'a> {
        OptionIter { rest: self.raw }
    }

    /// The value of the first option named `name` (ASCII case-insensitive).
    pub fn get(&self, name: &str) -> Option<&'a [u8]> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }
}

/// The iterator of [`OptionList::iter`].
#[derive(Clone, Debug)]
pub struct OptionIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for OptionIter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        // The list was checked when it was made, so every name and value
        // has its NUL; stop quietly if not.
        let name_end = find_nul(self.rest, 0)?;
        let value_end = find_nul(self.rest, name_end + 1)?;
        let name = &self.rest[..name_end];
        let value = &self.rest[name_end + 1..value_end];
        self.rest = &self.rest[value_end + 1..];
        Some((name, value))
    }
}

fn find_nul(buf: &[u8], from: usize) -> Option<usize> {
    buf.get(from..)?
        .iter()
        .position(|&b| b == 0)
        .map(|i| from + i)
}

fn read_u16(bytes: &[u8], at: usize) -> Result<u16, DecodeError> {
    match bytes.get(at..at + 2) {
        Some(&[a, b]) => Ok(u16::from_be_bytes([a, b])),
        _ => Err(DecodeError::at(DecodeErrorKind::Truncated, bytes.len())),
    }
}

impl<'a> Decode<'a> for Packet<'a> {
    fn decode(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let op = read_u16(bytes, 0)?;
        let op =
            Opcode::from_u16(op).ok_or(DecodeError::at(DecodeErrorKind::UnknownOpcode(op), 0))?;
        let body = &bytes[2..];
        match op {
            Opcode::Rrq | Opcode::Wrq => {
                let name_end = find_nul(body, 0)
                    .ok_or(DecodeError::at(DecodeErrorKind::Unterminated, bytes.len()))?;
                if name_end == 0 {
                    return Err(DecodeError::at(DecodeErrorKind::EmptyFilename, 2));
                }
                let mode_start = name_end + 1;
                let mode_end = find_nul(body, mode_start)
                    .ok_or(DecodeError::at(DecodeErrorKind::Unterminated, bytes.len()))?;
                let mode = Mode::parse(&body[mode_start..mode_end]).ok_or(DecodeError::at(
                    DecodeErrorKind::UnknownMode,
                    2 + mode_start,
                ))?;
                let options = OptionList::parse(&body[mode_end + 1..], 2 + mode_end + 1)?;
                let request = Request {
                    filename: &body[..name_end],
                    mode,
                    options,
                };
                Ok(if op == Opcode::Rrq {
                    Self::Rrq(request)
                } else {
                    Self::Wrq(request)
                })
            }
            Opcode::Data => {
                let block = read_u16(bytes, 2)?;
                Ok(Self::Data(Data {
                    block,
                    data: &bytes[4..],
                }))
            }
            Opcode::Ack => {
                let block = read_u16(bytes, 2)?;
                if bytes.len() > 4 {
                    return Err(DecodeError::at(DecodeErrorKind::TrailingBytes, 4));
                }
                Ok(Self::Ack(block))
            }
            Opcode::Error => {
                let code = ErrorCode::from_u16(read_u16(bytes, 2)?);
                let rest = &bytes[4..];
                let message = match find_nul(rest, 0) {
                    Some(end) if end + 1 == rest.len() => &rest[..end],
                    Some(end) => {
                        return Err(DecodeError::at(DecodeErrorKind::TrailingBytes, 4 + end + 1));
                    }
                    // Some peers omit the NUL; the message is still
                    // worth having. Encoding adds it back.
                    None => rest,
                };
                Ok(Self::Error(ErrorPacket { code, message }))
            }
            Opcode::Oack => Ok(Self::Oack(OptionList::parse(body, 2)?)),
        }
    }
}

fn put(buf: &mut [u8], at: &mut usize, bytes: &[u8]) {
    buf[*at..*at + bytes.len()].copy_from_slice(bytes);
    *at += bytes.len();
}

impl Encode for Packet<'_> {
    fn encoded_len(&self) -> usize {
        2 + match self {
            Self::Rrq(r) | Self::Wrq(r) => {
                r.filename.len() + 1 + r.mode.as_str().len() + 1 + r.options.raw.len()
            }
            Self::Data(d) => 2 + d.data.len(),
            Self::Ack(_) => 2,
            Self::Error(e) => 2 + e.message.len() + 1,
            Self::Oack(o) => o.raw.len(),
        }
    }

    fn encode(&self, buf: &mut [u8]) -> Result<usize, BufferTooSmall> {
        let needed = self.encoded_len();
        if buf.len() < needed {
            return Err(BufferTooSmall {
                needed,
                available: buf.len(),
            });
        }
        let mut at = 0;
        put(buf, &mut at, &(self.opcode() as u16).to_be_bytes());
        match self {
            Self::Rrq(r) | Self::Wrq(r) => {
                put(buf, &mut at, r.filename);
                put(buf, &mut at, b"\0");
                put(buf, &mut at, r.mode.as_str().as_bytes());
                put(buf, &mut at, b"\0");
                put(buf, &mut at, r.options.raw);
            }
            Self::Data(d) => {
                put(buf, &mut at, &d.block.to_be_bytes());
                put(buf, &mut at, d.data);
            }
            Self::Ack(block) => put(buf, &mut at, &block.to_be_bytes()),
            Self::Error(e) => {
                put(buf, &mut at, &e.code.as_u16().to_be_bytes());
                put(buf, &mut at, e.message);
                put(buf, &mut at, b"\0");
            }
            Self::Oack(o) => put(buf, &mut at, o.raw),
        }
        debug_assert_eq!(at, needed);
        Ok(at)
    }
}

/// Writes an ERROR packet with `code` and `message` into `buf` (the
/// message is cut at its first NUL, if any, and to fit 512 bytes), and
/// returns its length.
pub fn encode_error(
    code: ErrorCode,
    message: &str,
    buf: &mut [u8],
) -> Result<usize, BufferTooSmall> {
    let mut msg = message.as_bytes();
    if let Some(nul) = msg.iter().position(|&b| b == 0) {
        msg = &msg[..nul];
    }
    msg = &msg[..msg.len().min(507)];
    Packet::Error(ErrorPacket { code, message: msg }).encode(buf)
}

/// Writes the 4-byte header of a DATA packet for `block` at the start of
/// `buf` (whose payload the caller fills after it).
pub(crate) fn put_data_header(buf: &mut [u8], block: u16) {
    buf[..2].copy_from_slice(&(Opcode::Data as u16).to_be_bytes());
    buf[2..4].copy_from_slice(&block.to_be_bytes());
}

/// Appends an option pair to an encoded option list in `buf` at `*at`.
pub(crate) fn put_option(
    buf: &mut [u8],
    at: &mut usize,
    name: &str,
    value: u64,
) -> Result<(), BufferTooSmall> {
    let mut digits = [0u8; 20];
    let value = format_u64(value, &mut digits);
    let needed = *at + name.len() + 1 + value.len() + 1;
    if buf.len() < needed {
        return Err(BufferTooSmall {
            needed,
            available: buf.len(),
        });
    }
    put(buf, at, name.as_bytes());
    put(buf, at, b"\0");
    put(buf, at, value);
    put(buf, at, b"\0");
    Ok(())
}

fn format_u64(mut v: u64, digits: &mut [u8; 20]) -> &[u8] {
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    &digits[i..]
}

/// Parses an option value: ASCII decimal digits only (no sign, no
/// spaces), at most 20 of them, fitting a `u64`.
pub fn parse_decimal(value: &[u8]) -> Option<u64> {
    if value.is_empty() || value.len() > 20 {
        return None;
    }
    let mut n: u64 = 0;
    for &b in value {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn roundtrip(bytes: &[u8]) -> Packet<'_> {
        let p = Packet::decode(bytes).unwrap();
        let mut buf = vec![0; p.encoded_len()];
        assert_eq!(p.encode(&mut buf).unwrap(), bytes.len());
        assert_eq!(buf, bytes);
        p
    }

    #[test]
    fn rfc1350_rrq() {
        let p = roundtrip(b"\x00\x01rfc1350.txt\x00octet\x00");
        let Packet::Rrq(r) = p else { panic!("{p:?}") };
        assert_eq!(r.filename, b"rfc1350.txt");
        assert_eq!(r.mode, Mode::Octet);
        assert!(r.options.is_empty());
    }

    #[test]
    fn rfc2347_options_example() {
        // RFC 2347 §5: a WRQ with blksize and tsize, then the OACK.
        let p = roundtrip(b"\x00\x02foobar\x00octet\x00blksize\x001432\x00tsize\x00673312\x00");
        let Packet::Wrq(r) = p else { panic!("{p:?}") };
        let opts: Vec<_> = r.options.iter().collect();
        assert_eq!(
            opts,
            vec![
                (&b"blksize"[..], &b"1432"[..]),
                (&b"tsize"[..], &b"673312"[..])
            ]
        );
        assert_eq!(r.options.get("BLKSIZE"), Some(&b"1432"[..]));
        let p = roundtrip(b"\x00\x06blksize\x001432\x00");
        assert_eq!(p.opcode(), Opcode::Oack);
    }

    #[test]
    fn mode_is_case_insensitive_and_encoded_lowercase() {
        let p = Packet::decode(b"\x00\x01f\x00NetASCII\x00").unwrap();
        let Packet::Rrq(r) = p else { panic!() };
        assert_eq!(r.mode, Mode::Netascii);
        let mut buf = [0; 64];
        let n = p.encode(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"\x00\x01f\x00netascii\x00");
    }

    #[test]
    fn data_ack_error() {
        let p = roundtrip(b"\x00\x03\x00\x01hello");
        assert_eq!(
            p,
            Packet::Data(Data {
                block: 1,
                data: b"hello"
            })
        );
        assert_eq!(
            roundtrip(b"\x00\x03\xff\xff"),
            Packet::Data(Data {
                block: 65535,
                data: b""
            })
        );
        assert_eq!(roundtrip(b"\x00\x04\x00\x00"), Packet::Ack(0));
        let p = roundtrip(b"\x00\x05\x00\x01File not found\x00");
        let Packet::Error(e) = p else { panic!() };
        assert_eq!(e.code, ErrorCode::FileNotFound);
        assert_eq!(e.message_lossy(), "File not found");
        // No NUL: accepted, and encoding adds it.
        let p = Packet::decode(b"\x00\x05\x00\x08abort").unwrap();
        assert_eq!(
            p,
            Packet::Error(ErrorPacket {
                code: ErrorCode::OptionNegotiation,
                message: b"abort"
            })
        );
    }

    #[test]
    fn malformed_packets_are_errors_with_offsets() {
        let cases: &[(&[u8], DecodeErrorKind, usize)] = &[
            (b"", DecodeErrorKind::Truncated, 0),
            (b"\x00", DecodeErrorKind::Truncated, 1),
            (b"\x00\x07", DecodeErrorKind::UnknownOpcode(7), 0),
            (b"\x00\x00", DecodeErrorKind::UnknownOpcode(0), 0),
            (b"\x00\x01file", DecodeErrorKind::Unterminated, 6),
            (b"\x00\x01\x00octet\x00", DecodeErrorKind::EmptyFilename, 2),
            (b"\x00\x01f\x00octet", DecodeErrorKind::Unterminated, 9),
            (b"\x00\x01f\x00binary\x00", DecodeErrorKind::UnknownMode, 4),
            (
                b"\x00\x01f\x00octet\x00blksize\x00",
                DecodeErrorKind::BadOption,
                18,
            ),
            (
                b"\x00\x01f\x00octet\x00blksize\x00512",
                DecodeErrorKind::Unterminated,
                21,
            ),
            (
                b"\x00\x01f\x00octet\x00\x00512\x00",
                DecodeErrorKind::BadOption,
                10,
            ),
            (b"\x00\x03\x00", DecodeErrorKind::Truncated, 3),
            (b"\x00\x04\x00\x01\x00", DecodeErrorKind::TrailingBytes, 4),
            (b"\x00\x05\x00", DecodeErrorKind::Truncated, 3),
            (b"\x00\x05\x00\x01a\x00b", DecodeErrorKind::TrailingBytes, 6),
            (b"\x00\x06x", DecodeErrorKind::Unterminated, 3),
        ];
        for &(bytes, kind, offset) in cases {
            assert_eq!(
                Packet::decode(bytes),
                Err(DecodeError { kind, offset }),
                "{bytes:?}"
            );
        }
    }

    #[test]
    fn encode_refuses_a_short_buffer() {
        let p = Packet::Ack(3);
        let mut buf = [0; 3];
        assert_eq!(
            p.encode(&mut buf),
            Err(BufferTooSmall {
                needed: 4,
                available: 3
            })
        );
    }

    #[test]
    fn decimal_values() {
        assert_eq!(parse_decimal(b"0"), Some(0));
        assert_eq!(parse_decimal(b"65464"), Some(65464));
        assert_eq!(parse_decimal(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_decimal(b"18446744073709551616"), None);
        for bad in [
            &b""[..],
            b"-1",
            b" 1",
            b"1a",
            b"+5",
            b"000000000000000000001",
        ] {
            assert_eq!(parse_decimal(bad), None, "{bad:?}");
        }
        let mut d = [0; 20];
        assert_eq!(format_u64(0, &mut d), b"0");
        assert_eq!(format_u64(u64::MAX, &mut d), b"18446744073709551615");
    }

    #[test]
    fn error_helper_cuts_long_and_nul_messages() {
        let mut buf = [0; 600];
        let n = encode_error(ErrorCode::AccessViolation, "no\0secret", &mut buf).unwrap();
        assert_eq!(&buf[..n], b"\x00\x05\x00\x02no\x00");
        let n = encode_error(ErrorCode::NotDefined, &"x".repeat(1000), &mut buf).unwrap();
        assert_eq!(n, 512);
    }

    fn nonul(max: usize) -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(1u8..=255, 1..max)
    }

    fn options() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            (nonul(12), proptest::collection::vec(1u8..=255, 0..12)),
            0..5,
        )
        .prop_map(|pairs| {
            let mut raw = Vec::new();
            for (n, v) in pairs {
                raw.extend_from_slice(&n);
                raw.push(0);
                raw.extend_from_slice(&v);
                raw.push(0);
            }
            raw
        })
    }

    /// An encoded packet of any kind, made from its parts.
    fn any_packet() -> impl Strategy<Value = Vec<u8>> {
        let mode = prop_oneof![Just(Mode::Octet), Just(Mode::Netascii), Just(Mode::Mail)];
        prop_oneof![
            (any::<bool>(), nonul(64), mode, options()).prop_map(|(rrq, f, m, o)| {
                let r = Request {
                    filename: &f,
                    mode: m,
                    options: OptionList::from_encoded(&o).unwrap(),
                };
                let p = if rrq { Packet::Rrq(r) } else { Packet::Wrq(r) };
                let mut buf = vec![0; p.encoded_len()];
                p.encode(&mut buf).unwrap();
                buf
            }),
            (any::<u16>(), proptest::collection::vec(any::<u8>(), 0..600)).prop_map(|(b, d)| {
                let p = Packet::Data(Data { block: b, data: &d });
                let mut buf = vec![0; p.encoded_len()];
                p.encode(&mut buf).unwrap();
                buf
            }),
            any::<u16>().prop_map(|b| {
                let mut buf = vec![0; 4];
                Packet::Ack(b).encode(&mut buf).unwrap();
                buf
            }),
            (any::<u16>(), proptest::collection::vec(1u8..=255, 0..100)).prop_map(|(c, m)| {
                let p = Packet::Error(ErrorPacket {
                    code: ErrorCode::from_u16(c),
                    message: &m,
                });
                let mut buf = vec![0; p.encoded_len()];
                p.encode(&mut buf).unwrap();
                buf
            }),
            options().prop_map(|o| {
                let p = Packet::Oack(OptionList::from_encoded(&o).unwrap());
                let mut buf = vec![0; p.encoded_len()];
                p.encode(&mut buf).unwrap();
                buf
            }),
        ]
    }

    proptest! {
        #[test]
        fn encoded_packets_decode_and_reencode_identically(bytes in any_packet()) {
            let p = Packet::decode(&bytes).unwrap();
            let mut buf = vec![0; p.encoded_len()];
            prop_assert_eq!(p.encode(&mut buf).unwrap(), bytes.len());
            prop_assert_eq!(&buf, &bytes);
            prop_assert_eq!(Packet::decode(&buf).unwrap(), p);
        }

        #[test]
        fn arbitrary_bytes_never_panic_and_roundtrip_when_valid(
            bytes in proptest::collection::vec(any::<u8>(), 0..80)
        ) {
            if let Ok(p) = Packet::decode(&bytes) {
                let mut buf = vec![0; p.encoded_len()];
                p.encode(&mut buf).unwrap();
                prop_assert_eq!(Packet::decode(&buf).unwrap(), p);
            }
        }

        #[test]
        fn codes_roundtrip(code in any::<u16>()) {
            prop_assert_eq!(ErrorCode::from_u16(code).as_u16(), code);
        }
    }
}
