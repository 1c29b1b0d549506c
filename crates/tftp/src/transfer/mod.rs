//! Transfer state machines, without I/O: a [`Sender`] (the side that sends
//! DATA: a server answering an RRQ, a client writing) and a [`Receiver`]
//! (the side that sends ACKs: a client reading, a server taking a WRQ).
//!
//! Both are driven the same way: feed every datagram from the peer's
//! transfer ID to `handle_datagram(now, bytes)`, call
//! `handle_timeout(now)` when `poll_timeout()` is due, and after either
//! drain `poll_transmit(now, buf)` until it returns `None`, sending each
//! datagram to the peer. `poll_event()` reports the negotiated parameters
//! and the outcome. The caller owns the clock (`now`) and the sockets;
//! checking that a datagram comes from the right transfer ID is the
//! caller's job too (see [`wrong_tid_error`]).
//!
//! Block numbers are 16 bits on the wire and count on from 65535 to 0
//! (as tftp-hpa, curl and atftp do); internally they are 64-bit indexes,
//! so a transfer may be of any length.

mod receiver;
mod sender;

use std::io;
use std::time::Duration;

pub use receiver::Receiver;
pub use sender::Sender;

use crate::options::TransferParams;
use crate::packet::{BufferTooSmall, ErrorCode, encode_error};

/// Where a [`Sender`] reads the bytes it sends: random access, because a
/// window may have to be sent again.
pub trait Source {
    /// Reads into `buf` from `offset`, filling it completely unless the end
    /// is reached first; returns the bytes read (0 at or past the end).
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize>;
}

impl Source for &[u8] {
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(self.len());
        let n = buf.len().min(self.len() - start);
        buf[..n].copy_from_slice(&self[start..start + n]);
        Ok(n)
    }
}

impl Source for Vec<u8> {
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        self.as_slice().read_at(offset, buf)
    }
}

impl<S: Source + ?Sized> Source for &mut S {
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        (**self).read_at(offset, buf)
    }
}

/// Retransmission settings shared by both sides.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct Retransmit {
    /// How many times in a row a packet (or window) is sent again after a
    /// timeout before the transfer fails. Progress resets the count.
    pub max_retries: u32,
    /// How long a receiver stays after the last ACK, to answer a
    /// retransmitted last DATA packet (RFC 1350's "dallying").
    pub dally: Duration,
}

impl Default for Retransmit {
    fn default() -> Self {
        Self {
            max_retries: 5,
            dally: Duration::from_secs(2),
        }
    }
}

/// What a transfer reports through `poll_event`.
#[derive(Debug)]
pub enum Event {
    /// The parameters are settled (after the OACK exchange, or the first
    /// DATA or ACK without options).
    Negotiated(TransferParams),
    /// All data was sent and acknowledged, or received and acknowledged.
    Finished(Summary),
    /// The transfer ended without all data.
    Failed(TransferError),
}

/// Counts for a finished transfer.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub struct Summary {
    /// Data bytes transferred (as on the wire; for netascii, the
    /// converted bytes).
    pub bytes: u64,
    /// DATA blocks transferred (not counting repeats).
    pub blocks: u64,
    /// Packets sent again after a timeout or a gap.
    pub retransmitted: u64,
    /// Duplicate or out-of-order packets received and ignored.
    pub duplicates: u64,
}

/// Why a transfer failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransferError {
    /// The peer sent an ERROR packet.
    #[error("the peer sent error {code}: {message}")]
    Peer {
        /// Its code.
        code: ErrorCode,
        /// Its message (lossily decoded).
        message: String,
        /// Whether it came while the options were being negotiated (an
        /// ERROR 8 then is a client that asked for `tsize` only to learn
        /// the size: normal, not a failure to worry about).
        during_negotiation: bool,
    },
    /// No answer after the last retransmission.
    #[error("no answer from the peer after {retries} retransmissions")]
    TimedOut {
        /// The retransmissions made.
        retries: u32,
    },
    /// The peer's OACK could not be accepted (ERROR 8 was sent).
    #[error(transparent)]
    BadOack(#[from] crate::options::BadOack),
    /// The peer broke the protocol (for example, a DATA packet longer than
    /// the block size); ERROR 4 was sent.
    #[error("protocol violation by the peer: {0}")]
    Protocol(&'static str),
    /// Reading the data to send failed; an ERROR was sent.
    #[error("reading the data failed: {0}")]
    Source(#[source] io::Error),
    /// Writing the received data failed (or it passed the size limit); an
    /// ERROR was sent.
    #[error("writing the data failed: {0}")]
    Sink(#[source] io::Error),
    /// The transfer was aborted locally; an ERROR was sent.
    #[error("aborted: {0}")]
    Aborted(String),
}

impl TransferError {
    /// Whether this is a client ending a transfer on purpose after option
    /// negotiation (ERROR 8 in answer to the OACK), as UEFI firmware and
    /// others do to learn a file's size with `tsize`.
    pub fn is_option_probe(&self) -> bool {
        matches!(
            self,
            Self::Peer {
                code: ErrorCode::OptionNegotiation,
                during_negotiation: true,
                ..
            }
        )
    }
}

/// Writes the ERROR 5 ("Unknown transfer ID") a transfer sends to a packet
/// from any address other than its peer's (RFC 1350 §4); the transfer
/// itself goes on undisturbed.
pub fn wrong_tid_error(buf: &mut [u8]) -> Result<usize, BufferTooSmall> {
    encode_error(ErrorCode::UnknownTransferId, "Unknown transfer ID", buf)
}

/// The size a buffer passed to `poll_transmit` needs for `blksize`.
pub fn transmit_buffer_len(blksize: u16) -> usize {
    // A DATA packet, or an ERROR/OACK/request (at most 512 bytes + slack).
    (usize::from(blksize) + 4).max(600)
}

/// A block index's number on the wire.
fn wire(index: u64) -> u16 {
    index as u16
}

fn io_error_code(e: &io::Error) -> ErrorCode {
    match e.kind() {
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded | io::ErrorKind::FileTooLarge => {
            ErrorCode::DiskFull
        }
        io::ErrorKind::PermissionDenied => ErrorCode::AccessViolation,
        io::ErrorKind::AlreadyExists => ErrorCode::FileExists,
        _ => ErrorCode::NotDefined,
    }
}

#[cfg(test)]
mod tests;
