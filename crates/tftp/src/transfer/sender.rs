//! The side that sends DATA and receives ACKs.

use std::collections::VecDeque;
use std::io;
use std::time::{Duration, Instant};

use super::{Event, Retransmit, Source, Summary, TransferError, io_error_code, wire};
use crate::netascii::Encoder;
use crate::options::{Negotiation, RequestOptions, TransferParams};
use crate::packet::{Decode, ErrorCode, Mode, Packet, encode_error, put_data_header};

/// Sends a file as DATA packets, a window at a time, and follows the
/// peer's ACKs (RFC 1350, with RFC 7440 windows).
///
/// - An ACK for a block in the window moves the window on to the block
///   after it; DATA after that block that was already sent is sent again
///   (the receiver acknowledged the last block it got in order).
/// - A duplicate or stale ACK is ignored: DATA is sent again only after a
///   timeout, never because of a duplicate ACK (no Sorcerer's Apprentice
///   syndrome, RFC 1123 §4.2.3.1).
/// - After a timeout the unacknowledged part of the window is sent again,
///   at most [`Retransmit::max_retries`] times in a row; then the
///   transfer fails. A peer that never answers therefore gets at most
///   `max_retries + 1` windows (or OACKs).
/// - A file whose size is a multiple of the block size ends with an empty
///   DATA packet.
///
/// ```
/// use std::time::Instant;
/// use tftp::packet::{Decode, Packet, Request, Mode, OptionList};
/// use tftp::{Event, Limits, Negotiation, Retransmit, Sender};
///
/// // A server got this RRQ (no options) for a 700-byte file.
/// let rrq = Request { filename: b"booter", mode: Mode::Octet, options: OptionList::EMPTY };
/// let negotiation = Negotiation::for_request(&rrq, false, Some(700), &Limits::default()).unwrap();
/// let file = vec![7u8; 700];
/// let mut sender = Sender::for_read_request(file, Mode::Octet, &negotiation, Retransmit::default());
/// let now = Instant::now();
/// let mut buf = [0u8; 600];
///
/// // DATA 1 (512 bytes) goes out at once; nothing more until it is acknowledged.
/// let n = sender.poll_transmit(now, &mut buf).unwrap();
/// assert_eq!(&buf[..4], &[0, 3, 0, 1]);
/// assert_eq!(n, 516);
/// assert!(sender.poll_transmit(now, &mut buf).is_none());
///
/// sender.handle_datagram(now, &[0, 4, 0, 1]); // ACK 1
/// let n = sender.poll_transmit(now, &mut buf).unwrap();
/// assert_eq!(Packet::decode(&buf[..n]).unwrap(), Packet::Data(tftp::packet::Data { block: 2, data: &[7; 188] }));
///
/// sender.handle_datagram(now, &[0, 4, 0, 1]); // a duplicate ACK 1: ignored, nothing resent
/// assert!(sender.poll_transmit(now, &mut buf).is_none());
///
/// sender.handle_datagram(now, &[0, 4, 0, 2]); // ACK 2: done
/// let last = std::iter::from_fn(|| sender.poll_event()).last();
/// assert!(matches!(last, Some(Event::Finished(s)) if s.bytes == 700));
/// assert!(sender.is_finished());
/// ```
#[derive(Debug)]
pub struct Sender<S> {
    source: S,
    mode: Mode,
    params: TransferParams,
    retransmit: Retransmit,
    phase: Phase,
    /// The OACK (server) or WRQ (client) that opens the transfer.
    control: Vec<u8>,
    control_due: bool,
    /// For a client: the options asked for, to check the OACK.
    asked: Option<RequestOptions>,
    /// The highest block acknowledged.
    acked: u64,
    /// The next block to send.
    next: u64,
    /// The highest block sent so far.
    sent_max: u64,
    /// The last block, once it is known.
    last: Option<u64>,
    retries: u32,
    deadline: Option<Instant>,
    error_out: Option<(ErrorCode, &'static str)>,
    events: VecDeque<Event>,
    summary: Summary,
    oack_accepted: bool,
    netascii: Option<NetasciiSource>,
}

#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum Phase {
    /// Waiting for ACK 0 to the OACK, or for the answer to the WRQ.
    Handshake,
    Data,
    Done,
}

impl<S: Source> Sender<S> {
    /// A server's side of an RRQ: an OACK first when options were
    /// accepted (the data starts after ACK 0), else DATA 1 at once.
    pub fn for_read_request(
        source: S,
        mode: Mode,
        negotiation: &Negotiation,
        retransmit: Retransmit,
    ) -> Self {
        let mut s = Self::new(source, mode, negotiation.params, retransmit);
        if negotiation.has_oack() {
            // An OACK of four options fits in 128 bytes.
            let mut buf = [0u8; 128];
            let n = negotiation.encode_oack(&mut buf).unwrap_or(0);
            s.control = buf[..n].to_vec();
            s.control_due = true;
        } else {
            s.phase = Phase::Data;
            s.events.push_back(Event::Negotiated(s.params));
        }
        s
    }

    /// A client's side of a WRQ for `filename`, asking for `options`;
    /// `timeout` is the retransmission timeout unless the server
    /// acknowledges a `timeout` option.
    pub fn for_write_request(
        source: S,
        filename: &[u8],
        mode: Mode,
        options: RequestOptions,
        timeout: Duration,
        retransmit: Retransmit,
    ) -> Self {
        let params = TransferParams {
            timeout,
            ..TransferParams::default()
        };
        let mut s = Self::new(source, mode, params, retransmit);
        let mut buf = vec![0u8; filename.len() + 128];
        let n = options
            .encode_request(true, filename, mode, &mut buf)
            .unwrap_or(0);
        buf.truncate(n);
        s.control = buf;
        s.control_due = true;
        s.asked = Some(options);
        s
    }

    fn new(source: S, mode: Mode, params: TransferParams, retransmit: Retransmit) -> Self {
        let mut s = Self {
            source,
            mode,
            params,
            retransmit,
            phase: Phase::Handshake,
            control: Vec::new(),
            control_due: false,
            asked: None,
            acked: 0,
            next: 1,
            sent_max: 0,
            last: None,
            retries: 0,
            deadline: None,
            error_out: None,
            events: VecDeque::new(),
            summary: Summary::default(),
            oack_accepted: false,
            netascii: None,
        };
        s.set_params(params);
        s
    }

    fn set_params(&mut self, params: TransferParams) {
        self.params = params;
        self.netascii = (self.mode == Mode::Netascii).then(|| NetasciiSource {
            checkpoints: VecDeque::new(),
            scratch: vec![0; usize::from(params.blksize)],
            produced: 0,
            next_offset: 0,
            next_encoder: Encoder::new(),
        });
    }

    /// The parameters the transfer runs with (final once negotiated).
    pub fn params(&self) -> TransferParams {
        self.params
    }

    /// The counts so far.
    pub fn summary(&self) -> Summary {
        self.summary
    }

    /// For a client: whether the server answered with an OACK that was
    /// accepted.
    pub fn options_acknowledged(&self) -> bool {
        self.oack_accepted
    }

    /// Whether the transfer is over (finished or failed).
    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Done && self.error_out.is_none()
    }

    /// When [`Sender::handle_timeout`] should be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.phase == Phase::Done {
            None
        } else {
            self.deadline
        }
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Gives the source back (for example, to close a file).
    pub fn into_source(self) -> S {
        self.source
    }

    /// Ends the transfer now, sending ERROR `code` with `message`.
    pub fn abort(&mut self, code: ErrorCode, message: &'static str) {
        if self.phase != Phase::Done {
            self.fail(
                Some((code, message)),
                TransferError::Aborted(message.to_owned()),
            );
        }
    }

    /// Handles a datagram from the peer.
    pub fn handle_datagram(&mut self, _now: Instant, datagram: &[u8]) {
        if self.phase == Phase::Done {
            return;
        }
        let Ok(packet) = Packet::decode(datagram) else {
            // Garbage from the right address: ignored, as a lost packet
            // would be.
            self.summary.duplicates += 1;
            return;
        };
        match (self.phase, packet) {
            (_, Packet::Error(e)) => {
                let err = TransferError::Peer {
                    code: e.code,
                    message: e.message_lossy().into_owned(),
                    during_negotiation: self.phase == Phase::Handshake,
                };
                self.fail(None, err);
            }
            (Phase::Handshake, Packet::Ack(0)) => {
                if self.asked.is_some() {
                    // The server ignored our options: RFC 1350 defaults.
                    let timeout = self.params.timeout;
                    self.set_params(TransferParams {
                        timeout,
                        ..TransferParams::default()
                    });
                }
                self.start_data();
            }
            (Phase::Handshake, Packet::Oack(oack)) if self.asked.is_some() => {
                let asked = self.asked.unwrap_or_default();
                match asked.accept_oack(&oack, self.params.timeout) {
                    Ok(params) => {
                        self.oack_accepted = true;
                        self.set_params(params);
                        self.start_data();
                    }
                    Err(e) => self.fail(
                        Some((ErrorCode::OptionNegotiation, "Unacceptable option")),
                        e.into(),
                    ),
                }
            }
            (Phase::Data, Packet::Ack(block)) => self.handle_ack(block),
            _ => self.summary.duplicates += 1,
        }
    }

    fn start_data(&mut self) {
        self.phase = Phase::Data;
        self.retries = 0;
        self.deadline = None;
        self.control_due = false;
        self.events.push_back(Event::Negotiated(self.params));
    }

    fn handle_ack(&mut self, block: u16) {
        let outstanding = self.sent_max - self.acked;
        let delta = u64::from(block.wrapping_sub(wire(self.acked)));
        if delta == 0 || delta > outstanding {
            self.summary.duplicates += 1;
            return;
        }
        self.acked += delta;
        self.retries = 0;
        self.deadline = None;
        if self.last == Some(self.acked) {
            self.phase = Phase::Done;
            self.events.push_back(Event::Finished(self.summary));
            return;
        }
        // Resume after the acknowledged block (RFC 7440 §4).
        self.next = self.acked + 1;
        if let Some(n) = &mut self.netascii {
            while n.checkpoints.front().is_some_and(|c| c.0 <= self.acked) {
                n.checkpoints.pop_front();
            }
        }
    }

    /// Handles the passing of time: retransmits, or fails after the
    /// last retry.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.phase == Phase::Done || self.deadline.is_none_or(|d| d > now) {
            return;
        }
        self.deadline = None;
        if self.retries >= self.retransmit.max_retries {
            let retries = self.retries;
            self.fail(None, TransferError::TimedOut { retries });
            return;
        }
        self.retries += 1;
        match self.phase {
            Phase::Handshake => self.control_due = true,
            Phase::Data => self.next = self.acked + 1,
            Phase::Done => {}
        }
    }

    /// The next datagram to send, written into `buf` (which needs
    /// [`transmit_buffer_len`](super::transmit_buffer_len) bytes for the
    /// block size); `None` when there is nothing to send now.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        if let Some((code, message)) = self.error_out.take() {
            return encode_error(code, message, buf).ok();
        }
        match self.phase {
            Phase::Done => None,
            Phase::Handshake => {
                if !self.control_due || buf.len() < self.control.len() {
                    return None;
                }
                self.control_due = false;
                if self.retries > 0 {
                    self.summary.retransmitted += 1;
                }
                buf[..self.control.len()].copy_from_slice(&self.control);
                self.deadline = Some(now + self.params.timeout);
                Some(self.control.len())
            }
            Phase::Data => {
                let i = self.next;
                let window_end = self.acked + u64::from(self.params.windowsize);
                if i > window_end || self.last.is_some_and(|l| i > l) {
                    return None;
                }
                let blksize = usize::from(self.params.blksize);
                if buf.len() < blksize + 4 {
                    self.fail(
                        None,
                        TransferError::Aborted("transmit buffer too small".into()),
                    );
                    return None;
                }
                put_data_header(buf, wire(i));
                let read = match &mut self.netascii {
                    Some(n) => n.fill(&mut self.source, i, &mut buf[4..4 + blksize]),
                    None => self
                        .source
                        .read_at((i - 1) * blksize as u64, &mut buf[4..4 + blksize]),
                };
                let n = match read {
                    Ok(n) => n,
                    Err(e) => {
                        let code = io_error_code(&e);
                        self.fail(Some((code, "Read error")), TransferError::Source(e));
                        return self.poll_transmit(now, buf);
                    }
                };
                if n < blksize {
                    self.last = Some(i);
                }
                if i > self.sent_max {
                    self.sent_max = i;
                    self.summary.bytes += n as u64;
                    self.summary.blocks += 1;
                } else {
                    self.summary.retransmitted += 1;
                }
                self.next = i + 1;
                self.deadline = Some(now + self.params.timeout);
                Some(4 + n)
            }
        }
    }

    fn fail(&mut self, error_out: Option<(ErrorCode, &'static str)>, err: TransferError) {
        self.phase = Phase::Done;
        self.error_out = error_out;
        self.deadline = None;
        self.events.push_back(Event::Failed(err));
    }
}

/// Netascii conversion on the way out: where each block of the current
/// window starts in the source, so a block can be produced again.
#[derive(Debug)]
struct NetasciiSource {
    /// `(block, source offset, encoder state)` at the start of each block
    /// sent and not yet acknowledged.
    checkpoints: VecDeque<(u64, u64, Encoder)>,
    scratch: Vec<u8>,
    /// The highest block produced.
    produced: u64,
    next_offset: u64,
    next_encoder: Encoder,
}

impl NetasciiSource {
    fn fill<S: Source>(&mut self, source: &mut S, block: u64, out: &mut [u8]) -> io::Result<usize> {
        let fresh = block == self.produced + 1;
        let (mut offset, mut encoder) = if fresh {
            self.checkpoints
                .push_back((block, self.next_offset, self.next_encoder));
            (self.next_offset, self.next_encoder)
        } else {
            let &(_, o, e) = self
                .checkpoints
                .iter()
                .find(|c| c.0 == block)
                .ok_or_else(|| io::Error::other("netascii block out of the window"))?;
            (o, e)
        };
        let mut written = 0;
        while written < out.len() {
            let want = (out.len() - written).min(self.scratch.len());
            let n = source.read_at(offset, &mut self.scratch[..want])?;
            if n == 0 && !encoder.has_pending() {
                break;
            }
            let (r, w) = encoder.encode(&self.scratch[..n], &mut out[written..]);
            offset += r as u64;
            written += w;
        }
        if fresh {
            self.produced = block;
            self.next_offset = offset;
            self.next_encoder = encoder;
        }
        Ok(written)
    }
}
