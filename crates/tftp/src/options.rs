//! Option negotiation (RFC 2347) for the options this crate knows:
//! `blksize` (RFC 2348), `timeout` and `tsize` (RFC 2349) and `windowsize`
//! (RFC 7440). Unknown options are ignored, never echoed; option names
//! match without regard to case.

use std::time::Duration;

use crate::packet::{BufferTooSmall, Mode, Opcode, OptionList, Request, parse_decimal, put_option};

/// The block size without options (RFC 1350).
pub const DEFAULT_BLKSIZE: u16 = 512;
/// The smallest `blksize` (RFC 2348).
pub const MIN_BLKSIZE: u16 = 8;
/// The largest `blksize` (RFC 2348).
pub const MAX_BLKSIZE: u16 = 65464;
/// The largest `windowsize` this crate runs with. RFC 7440 allows up to
/// 65535; half the block-number space keeps every block number in a
/// window unambiguous across rollover.
pub const MAX_WINDOWSIZE: u16 = 32768;
/// The retransmission timeout when none is negotiated.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

/// One of the options this crate negotiates.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum OptionKind {
    /// `blksize`: data bytes per DATA packet, 8–65464 (RFC 2348).
    Blksize,
    /// `timeout`: the retransmission timeout in seconds, 1–255 (RFC 2349).
    Timeout,
    /// `tsize`: the transfer size in bytes (RFC 2349); 0 in an RRQ asks
    /// the server for it.
    Tsize,
    /// `windowsize`: DATA packets per acknowledgment, 1–65535 (RFC 7440).
    Windowsize,
}

impl OptionKind {
    /// The option's name as encoded.
    pub fn name(self) -> &'static str {
        match self {
            Self::Blksize => "blksize",
            Self::Timeout => "timeout",
            Self::Tsize => "tsize",
            Self::Windowsize => "windowsize",
        }
    }

    /// The option called `name` (ASCII case-insensitive), if known.
    pub fn from_name(name: &[u8]) -> Option<Self> {
        [Self::Blksize, Self::Timeout, Self::Tsize, Self::Windowsize]
            .into_iter()
            .find(|k| name.eq_ignore_ascii_case(k.name().as_bytes()))
    }
}

/// The parameters a transfer runs with, once negotiated.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct TransferParams {
    /// Data bytes per DATA packet.
    pub blksize: u16,
    /// DATA packets per acknowledgment.
    pub windowsize: u16,
    /// The retransmission timeout.
    pub timeout: Duration,
    /// The transfer size, when one side announced it.
    pub tsize: Option<u64>,
}

impl Default for TransferParams {
    fn default() -> Self {
        Self {
            blksize: DEFAULT_BLKSIZE,
            windowsize: 1,
            timeout: DEFAULT_TIMEOUT,
            tsize: None,
        }
    }
}

/// What a server grants.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct Limits {
    /// The largest `blksize` granted (a larger request gets this).
    pub max_blksize: u16,
    /// The largest `windowsize` granted.
    pub max_windowsize: u16,
    /// The most bytes in flight in one window, `blksize × windowsize`: the
    /// window is shrunk to fit (never below 1), so that a window does not
    /// overflow the receiver's socket buffer.
    pub max_window_bytes: usize,
    /// The retransmission timeout when the client asks for none.
    pub default_timeout: Duration,
    /// The largest upload accepted (a WRQ's `tsize` above it is refused).
    pub max_write_size: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_blksize: MAX_BLKSIZE,
            max_windowsize: 64,
            max_window_bytes: 64 * 1024,
            default_timeout: DEFAULT_TIMEOUT,
            max_write_size: 64 * 1024 * 1024,
        }
    }
}

/// A server's answer to a request's options: the parameters to run with
/// and the options to acknowledge, in the order the client sent them.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct Negotiation {
    /// The parameters the transfer runs with.
    pub params: TransferParams,
    accepted: [(OptionKind, u64); 4],
    len: usize,
}

/// A WRQ announced (`tsize`) more bytes than the server accepts.
#[derive(Clone, Copy, Debug, Eq, PartialEq, thiserror::Error)]
#[error("the upload of {size} bytes is larger than the {limit} accepted")]
pub struct TooLarge {
    /// The announced size.
    pub size: u64,
    /// The limit.
    pub limit: u64,
}

impl Negotiation {
    /// Negotiates a request's options as a server.
    ///
    /// `file_size` is the size of the file an RRQ reads (the `tsize`
    /// answer); it is not answered in netascii mode, whose size on the wire
    /// differs. Option values out of range, unparsable or repeated are
    /// ignored (not acknowledged); `blksize` above the limit is lowered to
    /// it; the window is shrunk to fit `max_window_bytes`.
    pub fn for_request(
        request: &Request<'_>,
        is_write: bool,
        file_size: Option<u64>,
        limits: &Limits,
    ) -> Result<Self, TooLarge> {
        let mut n = Self {
            params: TransferParams {
                timeout: limits.default_timeout,
                ..TransferParams::default()
            },
            accepted: [(OptionKind::Blksize, 0); 4],
            len: 0,
        };
        let mut windowsize_at = None;
        for (name, value) in request.options.iter() {
            let Some(kind) = OptionKind::from_name(name) else {
                continue;
            };
            if n.accepted[..n.len].iter().any(|(k, _)| *k == kind) {
                continue;
            }
            let Some(v) = parse_decimal(value) else {
                continue;
            };
            let granted = match kind {
                OptionKind::Blksize if v >= u64::from(MIN_BLKSIZE) => {
                    let b = v.min(u64::from(
                        limits.max_blksize.clamp(MIN_BLKSIZE, MAX_BLKSIZE),
                    ));
                    n.params.blksize = b as u16;
                    b
                }
                OptionKind::Timeout if (1..=255).contains(&v) => {
                    n.params.timeout = Duration::from_secs(v);
                    v
                }
                OptionKind::Tsize if is_write => {
                    if v > limits.max_write_size {
                        return Err(TooLarge {
                            size: v,
                            limit: limits.max_write_size,
                        });
                    }
                    n.params.tsize = Some(v);
                    v
                }
                OptionKind::Tsize if request.mode == Mode::Octet => match file_size {
                    Some(size) => {
                        n.params.tsize = Some(size);
                        size
                    }
                    None => continue,
                },
                OptionKind::Windowsize if (1..=65535).contains(&v) => {
                    let w = v.min(u64::from(limits.max_windowsize.clamp(1, MAX_WINDOWSIZE)));
                    n.params.windowsize = w as u16;
                    windowsize_at = Some(n.len);
                    w
                }
                _ => continue,
            };
            n.accepted[n.len] = (kind, granted);
            n.len += 1;
        }
        // Fit the window into the byte budget, whatever order the options
        // came in.
        if let Some(at) = windowsize_at {
            let fit = (limits.max_window_bytes / usize::from(n.params.blksize)).max(1);
            let w = usize::from(n.params.windowsize).min(fit) as u16;
            n.params.windowsize = w;
            n.accepted[at].1 = u64::from(w);
        }
        Ok(n)
    }

    /// Whether any option was accepted, so that the server answers with
    /// an OACK (otherwise it starts the transfer as RFC 1350 does).
    pub fn has_oack(&self) -> bool {
        self.len > 0
    }

    /// The accepted options and their values, in the client's order.
    pub fn accepted(&self) -> &[(OptionKind, u64)] {
        &self.accepted[..self.len]
    }

    /// Writes the OACK packet into `buf` and returns its length.
    pub fn encode_oack(&self, buf: &mut [u8]) -> Result<usize, BufferTooSmall> {
        if buf.len() < 2 {
            return Err(BufferTooSmall {
                needed: 2,
                available: buf.len(),
            });
        }
        buf[..2].copy_from_slice(&(Opcode::Oack as u16).to_be_bytes());
        let mut at = 2;
        for &(kind, value) in self.accepted() {
            put_option(buf, &mut at, kind.name(), value)?;
        }
        Ok(at)
    }
}

/// The options a client asks for.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub struct RequestOptions {
    /// `blksize` to ask for.
    pub blksize: Option<u16>,
    /// `windowsize` to ask for.
    pub windowsize: Option<u16>,
    /// `timeout` in seconds to ask for.
    pub timeout: Option<u8>,
    /// `tsize`: 0 in an RRQ asks for the size; in a WRQ, the size sent.
    pub tsize: Option<u64>,
}

/// An OACK that the client cannot accept: an option it did not ask for,
/// or a value it did not allow (RFC 2347: the client then sends ERROR 8).
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
#[error(
    "the server acknowledged option `{option}` with `{value}`, which was not asked for or is out of range"
)]
pub struct BadOack {
    /// The option's name as received.
    pub option: String,
    /// Its value as received.
    pub value: String,
}

impl RequestOptions {
    /// Whether no option is asked for.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Writes an RRQ (or, with `write`, a WRQ) for `filename` with these
    /// options into `buf` and returns its length.
    pub fn encode_request(
        &self,
        write: bool,
        filename: &[u8],
        mode: Mode,
        buf: &mut [u8],
    ) -> Result<usize, BufferTooSmall> {
        let head = 2 + filename.len() + 1 + mode.as_str().len() + 1;
        if buf.len() < head {
            return Err(BufferTooSmall {
                needed: head,
                available: buf.len(),
            });
        }
        let op = if write { Opcode::Wrq } else { Opcode::Rrq };
        buf[..2].copy_from_slice(&(op as u16).to_be_bytes());
        let mut at = 2;
        for part in [filename, mode.as_str().as_bytes()] {
            buf[at..at + part.len()].copy_from_slice(part);
            at += part.len();
            buf[at] = 0;
            at += 1;
        }
        if let Some(v) = self.blksize {
            put_option(buf, &mut at, "blksize", u64::from(v))?;
        }
        if let Some(v) = self.windowsize {
            put_option(buf, &mut at, "windowsize", u64::from(v))?;
        }
        if let Some(v) = self.timeout {
            put_option(buf, &mut at, "timeout", u64::from(v))?;
        }
        if let Some(v) = self.tsize {
            put_option(buf, &mut at, "tsize", v)?;
        }
        Ok(at)
    }

    /// The parameters to run with after the server's OACK, or why the
    /// OACK is unacceptable. `default_timeout` applies when no `timeout`
    /// was acknowledged.
    pub fn accept_oack(
        &self,
        oack: &OptionList<'_>,
        default_timeout: Duration,
    ) -> Result<TransferParams, BadOack> {
        let mut p = TransferParams {
            timeout: default_timeout,
            ..TransferParams::default()
        };
        for (name, value) in oack.iter() {
            let bad = || BadOack {
                option: String::from_utf8_lossy(name).into_owned(),
                value: String::from_utf8_lossy(value).into_owned(),
            };
            let v = parse_decimal(value).ok_or_else(bad)?;
            match OptionKind::from_name(name).ok_or_else(bad)? {
                OptionKind::Blksize => match self.blksize {
                    Some(asked) if v >= u64::from(MIN_BLKSIZE) && v <= u64::from(asked) => {
                        p.blksize = v as u16;
                    }
                    _ => return Err(bad()),
                },
                OptionKind::Windowsize => match self.windowsize {
                    Some(asked) if v >= 1 && v <= u64::from(asked) => p.windowsize = v as u16,
                    _ => return Err(bad()),
                },
                OptionKind::Timeout => match self.timeout {
                    Some(asked) if v == u64::from(asked) => p.timeout = Duration::from_secs(v),
                    _ => return Err(bad()),
                },
                OptionKind::Tsize if self.tsize.is_some() => p.tsize = Some(v),
                OptionKind::Tsize => return Err(bad()),
            }
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{Decode, Packet};

    fn negotiate(req: &[u8], is_write: bool, size: Option<u64>, limits: &Limits) -> Negotiation {
        let (Packet::Rrq(r) | Packet::Wrq(r)) = Packet::decode(req).unwrap() else {
            panic!("not a request")
        };
        Negotiation::for_request(&r, is_write, size, limits).unwrap()
    }

    fn oack(n: &Negotiation) -> Vec<u8> {
        let mut buf = [0; 128];
        let len = n.encode_oack(&mut buf).unwrap();
        buf[..len].to_vec()
    }

    #[test]
    fn curl_style_request_is_echoed_in_order_with_the_real_size() {
        let n = negotiate(
            b"\x00\x01f\x00octet\x00tsize\x000\x00blksize\x001468\x00timeout\x006\x00",
            false,
            Some(4000),
            &Limits::default(),
        );
        assert_eq!(
            oack(&n),
            b"\x00\x06tsize\x004000\x00blksize\x001468\x00timeout\x006\x00"
        );
        assert_eq!(n.params.blksize, 1468);
        assert_eq!(n.params.timeout, Duration::from_secs(6));
        assert_eq!(n.params.tsize, Some(4000));
    }

    #[test]
    fn unknown_invalid_and_repeated_options_are_not_echoed() {
        let n = negotiate(
            b"\x00\x01f\x00octet\x00multicast\x00\x00BlkSize\x00100\x00blksize\x00200\x00\
              timeout\x000\x00windowsize\x000\x00tsize\x00-1\x00",
            false,
            Some(5),
            &Limits::default(),
        );
        assert_eq!(oack(&n), b"\x00\x06blksize\x00100\x00");
        assert_eq!(n.params.windowsize, 1);
        assert_eq!(n.params.timeout, DEFAULT_TIMEOUT);
        let n = negotiate(
            b"\x00\x01f\x00octet\x00blksize\x007\x00timeout\x00256\x00",
            false,
            None,
            &Limits::default(),
        );
        assert!(!n.has_oack());
        assert_eq!(n.params, TransferParams::default());
    }

    #[test]
    fn blksize_is_lowered_and_window_fits_the_byte_budget() {
        let limits = Limits {
            max_blksize: 1468,
            max_window_bytes: 10_000,
            ..Limits::default()
        };
        let n = negotiate(
            b"\x00\x01f\x00octet\x00windowsize\x0064\x00blksize\x0065464\x00",
            false,
            None,
            &limits,
        );
        assert_eq!(n.params.blksize, 1468);
        assert_eq!(n.params.windowsize, 6);
        assert_eq!(oack(&n), b"\x00\x06windowsize\x006\x00blksize\x001468\x00");
        // A block larger than the budget still gets a window of one.
        let n = negotiate(
            b"\x00\x01f\x00octet\x00blksize\x0065464\x00windowsize\x004\x00",
            false,
            None,
            &Limits::default(),
        );
        assert_eq!((n.params.blksize, n.params.windowsize), (65464, 1));
    }

    #[test]
    fn tsize_rules() {
        // Netascii: the size on the wire is unknown, so no answer.
        let n = negotiate(
            b"\x00\x01f\x00netascii\x00tsize\x000\x00",
            false,
            Some(9),
            &Limits::default(),
        );
        assert!(!n.has_oack());
        // WRQ: echoed, unless too large.
        let n = negotiate(
            b"\x00\x02f\x00octet\x00tsize\x00700\x00",
            true,
            None,
            &Limits::default(),
        );
        assert_eq!(n.params.tsize, Some(700));
        let Packet::Wrq(r) =
            Packet::decode(b"\x00\x02f\x00octet\x00tsize\x0099999999999\x00").unwrap()
        else {
            panic!()
        };
        assert_eq!(
            Negotiation::for_request(&r, true, None, &Limits::default()),
            Err(TooLarge {
                size: 99_999_999_999,
                limit: 64 * 1024 * 1024
            })
        );
    }

    #[test]
    fn client_accepts_only_what_it_asked() {
        let asked = RequestOptions {
            blksize: Some(1468),
            windowsize: Some(8),
            timeout: None,
            tsize: Some(0),
        };
        let mut buf = [0; 100];
        let n = asked
            .encode_request(false, b"boot/booter", Mode::Octet, &mut buf)
            .unwrap();
        assert_eq!(
            &buf[..n],
            b"\x00\x01boot/booter\x00octet\x00blksize\x001468\x00windowsize\x008\x00tsize\x000\x00"
        );
        let ok = OptionList::from_encoded(b"blksize\x001024\x00TSIZE\x0012\x00").unwrap();
        let p = asked.accept_oack(&ok, DEFAULT_TIMEOUT).unwrap();
        assert_eq!((p.blksize, p.windowsize, p.tsize), (1024, 1, Some(12)));
        for bad in [
            &b"blksize\x002000\x00"[..],
            b"windowsize\x0016\x00",
            b"timeout\x005\x00",
            b"color\x00red\x00",
            b"blksize\x00abc\x00",
        ] {
            let o = OptionList::from_encoded(bad).unwrap();
            assert!(asked.accept_oack(&o, DEFAULT_TIMEOUT).is_err(), "{bad:?}");
        }
    }
}
