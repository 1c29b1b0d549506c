//! DHCP/BOOTP messages: the fixed header, the magic cookie and the options.
//!
//! The message format is RFC 951 (BOOTP) as extended by RFC 2131 (DHCP):
//!
//! ```text
//! op(1) htype(1) hlen(1) hops(1) xid(4) secs(2) flags(2)
//! ciaddr(4) yiaddr(4) siaddr(4) giaddr(4) chaddr(16) sname(64) file(128)
//! magic cookie 99.130.83.99 (4) options(variable, up to the end option 255)
//! ```
//!
//! Options are RFC 2132 tag-length-value triples. Two extensions are
//! handled when decoding:
//!
//! - option 52, *option overload* (RFC 2132 §9.3): the `file` field (1),
//!   the `sname` field (2) or both (3) hold further options;
//! - RFC 3396, *encoding long options*: several instances of one option
//!   are concatenated, in the order options field, `file`, `sname`, into
//!   one value.
//!
//! A decoded [`Packet`] therefore has one entry per option code, with
//! the joined value, and no option 52 (its `file`/`sname` fields are zero
//! when they held options). When encoding, a value longer than 255 bytes
//! is split into consecutive instances, and entries pushed twice with the
//! same code are written as separate instances; the encoder never
//! overloads `file` or `sname`.

use std::net::Ipv4Addr;

use crate::codec::{Decode, Encode, Writer};
use crate::error::{DecodeError, DecodeErrorKind, EncodeError};

/// Length of the fixed BOOTP header, `op` through `file`.
pub const BOOTP_HEADER_LEN: usize = 236;
/// The DHCP magic cookie, 99.130.83.99 (RFC 2131 §3).
pub const MAGIC_COOKIE: [u8; 4] = [99, 130, 83, 99];
/// The smallest BOOTP message (RFC 951 with its 64-byte vendor area):
/// replies are padded to at least this.
pub const BOOTP_MIN_LEN: usize = 300;
/// The DHCP message size every client must accept (576-byte IP datagram
/// less 20 bytes of IP and 8 of UDP header, RFC 2131 §2).
pub const DHCP_MIN_MESSAGE_LEN: usize = 548;
/// IPv4 and UDP header bytes around a DHCP message.
pub const IP_UDP_HEADER_LEN: usize = 28;
/// The BOOTP server port.
pub const SERVER_PORT: u16 = 67;
/// The BOOTP client port.
pub const CLIENT_PORT: u16 = 68;

const SNAME: core::ops::Range<usize> = 44..108;
const FILE: core::ops::Range<usize> = 108..236;

/// DHCP option codes used here (RFC 2132).
pub mod code {
    /// Pad.
    pub const PAD: u8 = 0;
    /// Root path (17): the client's root disk, for BSDP the image URL.
    pub const ROOT_PATH: u8 = 17;
    /// Vendor-specific information (43): the BSDP options.
    pub const VENDOR_SPECIFIC: u8 = 43;
    /// Option overload (52).
    pub const OVERLOAD: u8 = 52;
    /// DHCP message type (53).
    pub const MESSAGE_TYPE: u8 = 53;
    /// Server identifier (54).
    pub const SERVER_IDENTIFIER: u8 = 54;
    /// Parameter request list (55).
    pub const PARAMETER_REQUEST_LIST: u8 = 55;
    /// Maximum DHCP message size (57).
    pub const MAX_MESSAGE_SIZE: u8 = 57;
    /// Vendor class identifier (60).
    pub const VENDOR_CLASS: u8 = 60;
    /// End.
    pub const END: u8 = 255;
}

/// BOOTP `op`: request (client to server) or reply.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum Op {
    /// BOOTREQUEST (1).
    Request,
    /// BOOTREPLY (2).
    Reply,
}

impl Op {
    /// The wire value.
    pub fn to_u8(self) -> u8 {
        match self {
            Self::Request => 1,
            Self::Reply => 2,
        }
    }
}

/// DHCP message types (option 53, RFC 2132 §9.6).
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum MessageType {
    /// DHCPDISCOVER (1).
    Discover,
    /// DHCPOFFER (2).
    Offer,
    /// DHCPREQUEST (3).
    Request,
    /// DHCPDECLINE (4).
    Decline,
    /// DHCPACK (5).
    Ack,
    /// DHCPNAK (6).
    Nak,
    /// DHCPRELEASE (7).
    Release,
    /// DHCPINFORM (8): what BSDP clients send.
    Inform,
    /// Any other value.
    Other(u8),
}

impl From<u8> for MessageType {
    fn from(v: u8) -> Self {
        match v {
            1 => Self::Discover,
            2 => Self::Offer,
            3 => Self::Request,
            4 => Self::Decline,
            5 => Self::Ack,
            6 => Self::Nak,
            7 => Self::Release,
            8 => Self::Inform,
            other => Self::Other(other),
        }
    }
}

impl From<MessageType> for u8 {
    fn from(t: MessageType) -> Self {
        match t {
            MessageType::Discover => 1,
            MessageType::Offer => 2,
            MessageType::Request => 3,
            MessageType::Decline => 4,
            MessageType::Ack => 5,
            MessageType::Nak => 6,
            MessageType::Release => 7,
            MessageType::Inform => 8,
            MessageType::Other(v) => v,
        }
    }
}

/// The options of a message, in order.
///
/// Decoded options have one entry per code holding the joined value
/// (RFC 3396). Each entry is written as one or more instances (values over
/// 255 bytes are split); [`Options::push`] adds a further instance of a
/// code, which a decoder joins to the earlier ones.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct Options {
    entries: Vec<(u8, Vec<u8>)>,
}

impl Options {
    /// No options.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value of the first entry with `code`. For a decoded message that
    /// is the whole, joined value.
    pub fn get(&self, code: u8) -> Option<&[u8]> {
        self.entries
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, v)| v.as_slice())
    }

    /// Sets `code` to `value`: replaces the first entry with that code and
    /// removes any others, or appends a new entry.
    pub fn set(&mut self, code: u8, value: impl Into<Vec<u8>>) {
        let value = value.into();
        match self.entries.iter().position(|(c, _)| *c == code) {
            Some(i) => {
                self.entries[i].1 = value;
                let mut seen = false;
                self.entries.retain(|(c, _)| {
                    if *c != code {
                        return true;
                    }
                    let keep = !seen;
                    seen = true;
                    keep
                });
            }
            None => self.entries.push((code, value)),
        }
    }

    /// Appends an entry, even if `code` is already present: it is written
    /// as a separate instance, which receivers join to the earlier ones
    /// (RFC 3396).
    pub fn push(&mut self, code: u8, value: impl Into<Vec<u8>>) {
        self.entries.push((code, value.into()));
    }

    /// Removes every entry with `code`.
    pub fn remove(&mut self, code: u8) {
        self.entries.retain(|(c, _)| *c != code);
    }

    /// The entries in order.
    pub fn iter(&self) -> impl Iterator<Item = (u8, &[u8])> {
        self.entries.iter().map(|(c, v)| (*c, v.as_slice()))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes these options take on the wire, without the end option.
    pub fn encoded_len(&self) -> usize {
        self.entries
            .iter()
            .map(|(_, v)| instance_bytes(v.len()))
            .sum()
    }

    fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        for (code, value) in &self.entries {
            if matches!(*code, code::PAD | code::OVERLOAD | code::END) {
                return Err(EncodeError::ReservedOption(*code));
            }
            if value.is_empty() {
                w.put(&[*code, 0])?;
                continue;
            }
            for chunk in value.chunks(255) {
                // chunks(255) never yields more than 255 bytes.
                w.put(&[*code, chunk.len() as u8])?;
                w.put(chunk)?;
            }
        }
        Ok(())
    }
}

/// Wire bytes of one option value of `len` bytes, split into instances of
/// at most 255 bytes.
pub(crate) fn instance_bytes(len: usize) -> usize {
    if len == 0 {
        2
    } else {
        len + 2 * len.div_ceil(255)
    }
}

/// A DHCP (or BOOTP) message.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Packet {
    /// Request or reply.
    pub op: Op,
    /// Hardware address type (1: Ethernet).
    pub htype: u8,
    /// Hardware address length (6 for Ethernet).
    pub hlen: u8,
    /// Relay hops.
    pub hops: u8,
    /// Transaction id, echoed in the reply.
    pub xid: u32,
    /// Seconds since the client began.
    pub secs: u16,
    /// Flags (bit 15: broadcast).
    pub flags: u16,
    /// Client address, when the client has one (BSDP clients do).
    pub ciaddr: Ipv4Addr,
    /// "Your" address, offered by a server.
    pub yiaddr: Ipv4Addr,
    /// Next server: for BSDP the TFTP server of the booter.
    pub siaddr: Ipv4Addr,
    /// Relay agent address.
    pub giaddr: Ipv4Addr,
    /// Client hardware address, `hlen` bytes used.
    pub chaddr: [u8; 16],
    /// Server host name, NUL-terminated (zero when it held options).
    pub sname: [u8; 64],
    /// Boot file name, NUL-terminated (zero when it held options).
    pub file: [u8; 128],
    /// The options.
    pub options: Options,
}

impl Packet {
    /// An empty message of kind `op`: Ethernet addresses, everything else zero.
    pub fn new(op: Op) -> Self {
        Self {
            op,
            htype: 1,
            hlen: 6,
            hops: 0,
            xid: 0,
            secs: 0,
            flags: 0,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            yiaddr: Ipv4Addr::UNSPECIFIED,
            siaddr: Ipv4Addr::UNSPECIFIED,
            giaddr: Ipv4Addr::UNSPECIFIED,
            chaddr: [0; 16],
            sname: [0; 64],
            file: [0; 128],
            options: Options::new(),
        }
    }

    /// The DHCP message type (option 53), if present and one byte long.
    pub fn message_type(&self) -> Option<MessageType> {
        match self.options.get(code::MESSAGE_TYPE)? {
            [t] => Some(MessageType::from(*t)),
            _ => None,
        }
    }

    /// The client's maximum DHCP message size (option 57), if present and
    /// two bytes long.
    pub fn max_message_size(&self) -> Option<u16> {
        match self.options.get(code::MAX_MESSAGE_SIZE)? {
            [a, b] => Some(u16::from_be_bytes([*a, *b])),
            _ => None,
        }
    }

    /// The server identifier (option 54), if present and four bytes long.
    pub fn server_identifier(&self) -> Option<Ipv4Addr> {
        let v: [u8; 4] = self.options.get(code::SERVER_IDENTIFIER)?.try_into().ok()?;
        Some(Ipv4Addr::from(v))
    }

    /// The vendor class identifier (option 60).
    pub fn vendor_class(&self) -> Option<&[u8]> {
        self.options.get(code::VENDOR_CLASS)
    }

    /// The Ethernet MAC address, when `htype` is 1 and `hlen` 6.
    pub fn mac_address(&self) -> Option<[u8; 6]> {
        if self.htype != 1 || self.hlen != 6 {
            return None;
        }
        let mut mac = [0; 6];
        mac.copy_from_slice(&self.chaddr[..6]);
        Some(mac)
    }

    /// The `file` field up to its first NUL, if that is UTF-8.
    pub fn file_str(&self) -> Option<&str> {
        c_str(&self.file)
    }

    /// The `sname` field up to its first NUL, if that is UTF-8.
    pub fn sname_str(&self) -> Option<&str> {
        c_str(&self.sname)
    }

    /// Sets the `file` field (at most 127 bytes, leaving room for the NUL).
    pub fn set_file(&mut self, name: &str) -> Result<(), EncodeError> {
        set_c_str(&mut self.file, name, "file")
    }

    /// Sets the `sname` field (at most 63 bytes).
    pub fn set_sname(&mut self, name: &str) -> Result<(), EncodeError> {
        set_c_str(&mut self.sname, name, "sname")
    }

    /// The encoding padded with zeros to at least `min_len` bytes (BOOTP
    /// replies are at least [`BOOTP_MIN_LEN`]).
    pub fn to_vec_padded(&self, min_len: usize) -> Result<Vec<u8>, EncodeError> {
        let mut out = self.to_vec()?;
        if out.len() < min_len {
            out.resize(min_len, 0);
        }
        Ok(out)
    }
}

fn c_str(field: &[u8]) -> Option<&str> {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    core::str::from_utf8(&field[..end]).ok()
}

fn set_c_str(field: &mut [u8], s: &str, what: &'static str) -> Result<(), EncodeError> {
    if s.len() >= field.len() || s.as_bytes().contains(&0) {
        return Err(EncodeError::TooLong(what));
    }
    field.fill(0);
    field[..s.len()].copy_from_slice(s.as_bytes());
    Ok(())
}

impl Decode for Packet {
    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let min = BOOTP_HEADER_LEN + MAGIC_COOKIE.len();
        if bytes.len() < min {
            return Err(DecodeError::new(DecodeErrorKind::Truncated, bytes.len()));
        }
        let op = match bytes[0] {
            1 => Op::Request,
            2 => Op::Reply,
            _ => return Err(DecodeError::new(DecodeErrorKind::BadOp, 0)),
        };
        if bytes[BOOTP_HEADER_LEN..min] != MAGIC_COOKIE {
            return Err(DecodeError::new(
                DecodeErrorKind::BadMagicCookie,
                BOOTP_HEADER_LEN,
            ));
        }
        let u16_at = |i: usize| u16::from_be_bytes([bytes[i], bytes[i + 1]]);
        let ip_at = |i: usize| Ipv4Addr::new(bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]);
        let mut chaddr = [0; 16];
        chaddr.copy_from_slice(&bytes[28..44]);
        let mut sname = [0; 64];
        sname.copy_from_slice(&bytes[SNAME]);
        let mut file = [0; 128];
        file.copy_from_slice(&bytes[FILE]);

        let mut joined = Joiner::default();
        let overload = read_options(bytes, min, bytes.len(), &mut joined, true)?;
        if let Some(o) = overload {
            // RFC 3396 §6: the options field, then `file`, then `sname`.
            if o & 1 != 0 {
                read_options(bytes, FILE.start, FILE.end, &mut joined, false)?;
                file = [0; 128];
            }
            if o & 2 != 0 {
                read_options(bytes, SNAME.start, SNAME.end, &mut joined, false)?;
                sname = [0; 64];
            }
        }
        Ok(Self {
            op,
            htype: bytes[1],
            hlen: bytes[2],
            hops: bytes[3],
            xid: u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
            secs: u16_at(8),
            flags: u16_at(10),
            ciaddr: ip_at(12),
            yiaddr: ip_at(16),
            siaddr: ip_at(20),
            giaddr: ip_at(24),
            chaddr,
            sname,
            file,
            options: Options {
                entries: joined.entries,
            },
        })
    }
}

/// Collects option instances, joining repeated codes (RFC 3396).
struct Joiner {
    entries: Vec<(u8, Vec<u8>)>,
    /// Index + 1 of each code's entry, 0 when absent.
    slot: [u16; 256],
}

impl Default for Joiner {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
            slot: [0; 256],
        }
    }
}

impl Joiner {
    fn add(&mut self, code: u8, data: &[u8]) {
        match self.slot[usize::from(code)] {
            0 => {
                self.entries.push((code, data.to_vec()));
                // At most 255 distinct codes, so the index fits.
                self.slot[usize::from(code)] = self.entries.len() as u16;
            }
            i => self.entries[usize::from(i) - 1].1.extend_from_slice(data),
        }
    }
}

/// Reads options from `buf[start..end]` up to an end option or the end of
/// the area. Returns the overload value when `main` and option 52 is there.
fn read_options(
    buf: &[u8],
    start: usize,
    end: usize,
    out: &mut Joiner,
    main: bool,
) -> Result<Option<u8>, DecodeError> {
    let mut overload = None;
    let mut i = start;
    while i < end {
        let code = buf[i];
        if code == code::PAD {
            i += 1;
            continue;
        }
        if code == code::END {
            break;
        }
        if i + 1 >= end {
            return Err(DecodeError::new(DecodeErrorKind::Truncated, i));
        }
        let len = usize::from(buf[i + 1]);
        let data_end = i + 2 + len;
        if data_end > end {
            return Err(DecodeError::new(DecodeErrorKind::Truncated, i));
        }
        let data = &buf[i + 2..data_end];
        if code == code::OVERLOAD {
            match (main, overload, data) {
                (true, None, [v @ 1..=3]) => overload = Some(*v),
                _ => return Err(DecodeError::new(DecodeErrorKind::BadOverload, i)),
            }
        } else {
            out.add(code, data);
        }
        i = data_end;
    }
    Ok(overload)
}

impl Encode for Packet {
    fn encoded_len(&self) -> usize {
        BOOTP_HEADER_LEN + MAGIC_COOKIE.len() + self.options.encoded_len() + 1
    }

    fn encode(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        let mut w = Writer::new(out, self.encoded_len())?;
        w.put(&[self.op.to_u8(), self.htype, self.hlen, self.hops])?;
        w.put(&self.xid.to_be_bytes())?;
        w.put(&self.secs.to_be_bytes())?;
        w.put(&self.flags.to_be_bytes())?;
        for a in [self.ciaddr, self.yiaddr, self.siaddr, self.giaddr] {
            w.put(&a.octets())?;
        }
        w.put(&self.chaddr)?;
        w.put(&self.sname)?;
        w.put(&self.file)?;
        w.put(&MAGIC_COOKIE)?;
        self.options.write(&mut w)?;
        w.put_u8(code::END)?;
        Ok(w.pos())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Packet {
        let mut p = Packet::new(Op::Request);
        p.xid = 0x5a3c_1f07;
        p.ciaddr = Ipv4Addr::new(192, 168, 56, 20);
        p.chaddr[..6].copy_from_slice(&[0xa8, 0x20, 0x66, 0x12, 0x34, 0x56]);
        p.options.set(code::MESSAGE_TYPE, [8]);
        p.options.set(code::MAX_MESSAGE_SIZE, 1500u16.to_be_bytes());
        p.options
            .set(code::VENDOR_CLASS, &b"AAPLBSDPC/i386/MacBookPro11,2"[..]);
        p
    }

    #[test]
    fn roundtrip_and_accessors() {
        let p = sample();
        let bytes = p.to_vec().unwrap();
        assert_eq!(bytes.len(), p.encoded_len());
        assert_eq!(&bytes[236..240], &MAGIC_COOKIE);
        assert_eq!(*bytes.last().unwrap(), 255);
        let q = Packet::decode(&bytes).unwrap();
        assert_eq!(q, p);
        assert_eq!(q.message_type(), Some(MessageType::Inform));
        assert_eq!(q.max_message_size(), Some(1500));
        assert_eq!(q.mac_address(), Some([0xa8, 0x20, 0x66, 0x12, 0x34, 0x56]));
        assert_eq!(
            q.vendor_class(),
            Some(&b"AAPLBSDPC/i386/MacBookPro11,2"[..])
        );
    }

    #[test]
    fn long_option_is_split_and_joined() {
        let mut p = sample();
        let long: Vec<u8> = (0..600u32).map(|i| i as u8).collect();
        p.options.set(code::VENDOR_SPECIFIC, long.clone());
        let bytes = p.to_vec().unwrap();
        // Three instances: 255 + 255 + 90.
        let count = bytes
            .windows(2)
            .filter(|w| w == &[code::VENDOR_SPECIFIC, 255])
            .count();
        assert!(count >= 2, "split into 255-byte instances");
        let q = Packet::decode(&bytes).unwrap();
        assert_eq!(q.options.get(code::VENDOR_SPECIFIC), Some(&long[..]));
        assert_eq!(q.options.len(), p.options.len());
    }

    #[test]
    fn pushed_instances_join_on_decode() {
        let mut p = sample();
        p.options.push(code::VENDOR_SPECIFIC, vec![1, 2]);
        p.options.push(code::ROOT_PATH, &b"x"[..]);
        p.options.push(code::VENDOR_SPECIFIC, vec![3]);
        let q = Packet::decode(&p.to_vec().unwrap()).unwrap();
        assert_eq!(q.options.get(code::VENDOR_SPECIFIC), Some(&[1, 2, 3][..]));
        // Joined at the position of the first instance.
        let codes: Vec<u8> = q.options.iter().map(|(c, _)| c).collect();
        assert_eq!(codes, vec![53, 57, 60, 43, 17]);
    }

    #[test]
    fn overload_reads_file_then_sname() {
        let p = sample();
        let mut bytes = p.to_vec().unwrap();
        // Replace the end option with overload=3 and an end.
        let end = bytes.len() - 1;
        bytes.truncate(end);
        bytes.extend_from_slice(&[code::OVERLOAD, 1, 3, code::VENDOR_SPECIFIC, 1, 0xaa, 255]);
        // In `file`: a root path and more of option 43; in `sname`: 43 again.
        bytes[FILE.start..FILE.start + 7].copy_from_slice(&[17, 2, b'/', b'a', 43, 1, 0xbb]);
        bytes[FILE.start + 7] = 255;
        bytes[SNAME.start..SNAME.start + 4].copy_from_slice(&[43, 1, 0xcc, 255]);
        let q = Packet::decode(&bytes).unwrap();
        assert_eq!(
            q.options.get(code::VENDOR_SPECIFIC),
            Some(&[0xaa, 0xbb, 0xcc][..])
        );
        assert_eq!(q.options.get(code::ROOT_PATH), Some(&b"/a"[..]));
        assert_eq!(q.options.get(code::OVERLOAD), None);
        assert_eq!(q.file, [0; 128]);
        assert_eq!(q.sname, [0; 64]);
        // Re-encoded without overload, it decodes to the same message.
        assert_eq!(Packet::decode(&q.to_vec().unwrap()).unwrap(), q);
    }

    #[test]
    fn overload_only_sname_keeps_file() {
        let mut p = sample();
        p.set_file("x.nbi/i386/booter").unwrap();
        let mut bytes = p.to_vec().unwrap();
        bytes.pop();
        bytes.extend_from_slice(&[code::OVERLOAD, 1, 2, 255]);
        bytes[SNAME.start..SNAME.start + 3].copy_from_slice(&[17, 1, b'r']);
        let q = Packet::decode(&bytes).unwrap();
        assert_eq!(q.file_str(), Some("x.nbi/i386/booter"));
        assert_eq!(q.options.get(code::ROOT_PATH), Some(&b"r"[..]));
    }

    #[test]
    fn malformed_inputs_are_errors_with_offsets() {
        let good = sample().to_vec().unwrap();
        let err = Packet::decode(&good[..100]).unwrap_err();
        assert_eq!(err, DecodeError::new(DecodeErrorKind::Truncated, 100));

        let mut bad_op = good.clone();
        bad_op[0] = 3;
        assert_eq!(
            Packet::decode(&bad_op).unwrap_err().kind,
            DecodeErrorKind::BadOp
        );

        let mut bad_cookie = good.clone();
        bad_cookie[239] = 0;
        assert_eq!(
            Packet::decode(&bad_cookie).unwrap_err(),
            DecodeError::new(DecodeErrorKind::BadMagicCookie, 236)
        );

        // An option whose length runs past the end.
        let mut overrun = good[..240].to_vec();
        overrun.extend_from_slice(&[53, 1, 8, 60, 9, b'A']);
        assert_eq!(
            Packet::decode(&overrun).unwrap_err(),
            DecodeError::new(DecodeErrorKind::Truncated, 243)
        );
        // A code with no length byte.
        let mut no_len = good[..240].to_vec();
        no_len.push(53);
        assert_eq!(
            Packet::decode(&no_len).unwrap_err(),
            DecodeError::new(DecodeErrorKind::Truncated, 240)
        );
        // Overload with a bad value, twice, or inside `file`.
        for tail in [&[52u8, 1, 4][..], &[52, 2, 1, 1], &[52, 1, 1, 52, 1, 1]] {
            let mut b = good[..240].to_vec();
            b.extend_from_slice(tail);
            assert_eq!(
                Packet::decode(&b).unwrap_err().kind,
                DecodeErrorKind::BadOverload,
                "{tail:?}"
            );
        }
        let mut in_file = good[..240].to_vec();
        in_file.extend_from_slice(&[52, 1, 1, 255]);
        in_file[FILE.start..FILE.start + 3].copy_from_slice(&[52, 1, 2]);
        assert_eq!(
            Packet::decode(&in_file).unwrap_err(),
            DecodeError::new(DecodeErrorKind::BadOverload, FILE.start)
        );
    }

    #[test]
    fn missing_end_and_trailing_padding_are_accepted() {
        let good = sample().to_vec().unwrap();
        let q = Packet::decode(&good[..good.len() - 1]).unwrap();
        assert_eq!(q, sample());
        let padded = sample().to_vec_padded(BOOTP_MIN_LEN).unwrap();
        assert_eq!(padded.len(), BOOTP_MIN_LEN);
        assert_eq!(Packet::decode(&padded).unwrap(), sample());
    }

    #[test]
    fn encoder_refuses_reserved_codes_and_small_buffers() {
        for c in [0u8, 52, 255] {
            let mut p = sample();
            p.options.set(c, [1]);
            assert_eq!(p.to_vec().unwrap_err(), EncodeError::ReservedOption(c));
        }
        let p = sample();
        let mut small = [0u8; 250];
        assert_eq!(
            p.encode(&mut small).unwrap_err(),
            EncodeError::BufferTooSmall {
                needed: p.encoded_len()
            }
        );
        let mut q = sample();
        assert!(q.set_file(&"x".repeat(128)).is_err());
        assert!(q.set_sname(&"x".repeat(63)).is_ok());
        assert_eq!(q.sname_str().unwrap().len(), 63);
    }

    #[test]
    fn options_set_replaces_every_instance() {
        let mut o = Options::new();
        o.push(43, vec![1]);
        o.push(17, vec![2]);
        o.push(43, vec![3]);
        o.set(43, vec![9]);
        assert_eq!(
            o.iter().collect::<Vec<_>>(),
            vec![(43, &[9][..]), (17, &[2][..])]
        );
        o.remove(43);
        assert_eq!(o.len(), 1);
        assert_eq!(instance_bytes(0), 2);
        assert_eq!(instance_bytes(255), 257);
        assert_eq!(instance_bytes(256), 260);
    }
}
