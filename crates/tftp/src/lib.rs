//! TFTP, the Trivial File Transfer Protocol, as Macs (and PXE and UEFI
//! firmware) use it to download a booter from the network.
//!
//! What it does:
//!
//! - encodes and decodes the six packets ([`packet`]: RRQ, WRQ, DATA, ACK,
//!   ERROR and OACK; RFC 1350 and RFC 2347) from borrowed slices into
//!   caller buffers, with an error value and never a panic for malformed
//!   input;
//! - negotiates the options `blksize` (RFC 2348), `timeout` and `tsize`
//!   (RFC 2349) and `windowsize` (RFC 7440) ([`Negotiation`] for a
//!   server, [`RequestOptions`] for a client), ignoring unknown ones and
//!   matching names without regard to case;
//! - runs a transfer as a state machine with no I/O: a [`Sender`] of DATA
//!   and a [`Receiver`] that acknowledges it, with windows, block numbers
//!   that roll over past 65535, a final empty block when the size is a
//!   multiple of the block size, netascii conversion both ways
//!   ([`netascii`]), bounded retransmission on timeouts only (a duplicate
//!   ACK never triggers one), and dallying after the last ACK;
//! - checks requested file names ([`RequestPath`]): no `..`, no absolute
//!   paths, no device names (`NUL`, `CON`, ...), no control characters;
//!   backslashes count as separators;
//! - with the `server` feature, serves a folder over UDP with tokio
//!   (`server::Server`): a fresh port per transfer, ERROR 5 to strangers,
//!   read-only unless a separate write folder is configured, symbolic links
//!   out of the folder refused, a cap on bytes in flight per window, larger
//!   socket buffers, per-transfer logs through `tracing`, and counters;
//! - with the `client` feature, downloads (and uploads) a file
//!   (`client::get`).
//!
//! What it does not do: the core (default features) has no sockets, no
//! files and no clock — the caller passes `now` and the datagrams, and the
//! data comes from a [`Source`] and goes to a [`std::io::Write`]. It does
//! not do multicast TFTP (RFC 2090), the `mail` mode, or access control
//! beyond the served folder.
//!
//! A server's side of a download on a simulated clock:
//!
//! ```
//! use std::time::{Duration, Instant};
//! use tftp::packet::{Decode, Packet};
//! use tftp::{Event, Limits, Negotiation, Retransmit, Sender};
//!
//! // An RRQ asking for the size, 1024-byte blocks and a window of 4.
//! let rrq = b"\0\x01booter\0octet\0tsize\x000\0blksize\x001024\0windowsize\x004\0";
//! let Ok(Packet::Rrq(request)) = Packet::decode(rrq) else { unreachable!() };
//! let file = vec![0x5au8; 5000];
//! let negotiation = Negotiation::for_request(&request, false, Some(5000), &Limits::default()).unwrap();
//! let mut sender = Sender::for_read_request(&file[..], request.mode, &negotiation, Retransmit::default());
//!
//! let mut now = Instant::now();
//! let mut buf = vec![0u8; tftp::transmit_buffer_len(1024)];
//! // First the OACK ...
//! let n = sender.poll_transmit(now, &mut buf).unwrap();
//! assert_eq!(&buf[..n], b"\0\x06tsize\x005000\0blksize\x001024\0windowsize\x004\0");
//! // ... lost: after the timeout it is sent again.
//! now += Duration::from_secs(1);
//! sender.handle_timeout(now);
//! assert!(sender.poll_transmit(now, &mut buf).is_some());
//! // ACK 0 starts the data: a window of four blocks.
//! sender.handle_datagram(now, b"\0\x04\0\0");
//! let mut blocks = Vec::new();
//! while let Some(n) = sender.poll_transmit(now, &mut buf) {
//!     let Ok(Packet::Data(d)) = Packet::decode(&buf[..n]) else { unreachable!() };
//!     blocks.push((d.block, d.data.len()));
//! }
//! assert_eq!(blocks, [(1, 1024), (2, 1024), (3, 1024), (4, 1024)]);
//! // The client got blocks 1 and 2 only and says so: the window resumes at 3.
//! sender.handle_datagram(now, b"\0\x04\0\x02");
//! let n = sender.poll_transmit(now, &mut buf).unwrap();
//! assert_eq!(&buf[..4], b"\0\x03\0\x03");
//! while sender.poll_transmit(now, &mut buf).is_some() {}
//! sender.handle_datagram(now, b"\0\x04\0\x05");
//! assert!(sender.is_finished());
//! # let _ = n;
//! let mut events = std::iter::from_fn(|| sender.poll_event());
//! assert!(matches!(events.next(), Some(Event::Negotiated(p)) if p.windowsize == 4));
//! assert!(matches!(events.next(), Some(Event::Finished(s)) if s.bytes == 5000 && s.retransmitted == 3));
//! ```

#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod error;
pub mod netascii;
pub mod options;
pub mod packet;
mod path;
mod transfer;

#[cfg(feature = "client")]
pub mod client;
#[cfg(feature = "server")]
pub mod server;
#[cfg(any(feature = "server", feature = "client"))]
mod socket;

pub use error::{Error, Result};
pub use options::{
    DEFAULT_BLKSIZE, DEFAULT_TIMEOUT, Limits, MAX_BLKSIZE, MIN_BLKSIZE, Negotiation,
    RequestOptions, TransferParams,
};
pub use path::{MAX_NAME_LEN, PathError, RequestPath};
pub use transfer::{
    Event, Receiver, Retransmit, Sender, Source, Summary, TransferError, transmit_buffer_len,
    wrong_tid_error,
};
