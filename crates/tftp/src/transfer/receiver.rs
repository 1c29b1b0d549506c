//! The side that receives DATA and sends ACKs.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::time::{Duration, Instant};

use super::{Event, Retransmit, Summary, TransferError, io_error_code, wire};
use crate::netascii::Decoder;
use crate::options::{Negotiation, RequestOptions, TransferParams};
use crate::packet::{Decode, ErrorCode, Mode, Opcode, Packet, encode_error};

/// Receives DATA packets into a [`Write`] sink and acknowledges them
/// (RFC 1350, with RFC 7440 windows).
///
/// - Blocks are taken only in order. With a window of N, every Nth block
///   and the last one are acknowledged.
/// - A block from the future (one was lost) is dropped and the last block
///   received in order is acknowledged at once, once per gap, so the
///   sender resumes after it (RFC 7440 §4).
/// - A duplicate of a block already taken, when every block taken has
///   been acknowledged, is answered with one ACK of the last block taken
///   (the sender may have lost our ACK), not one per duplicate.
/// - With nothing new for a timeout the last ACK (or the request, or the
///   OACK) is sent again, at most [`Retransmit::max_retries`] times in a
///   row.
/// - After the last block the receiver stays for
///   [`Retransmit::dally`] to acknowledge a repeated last block.
#[derive(Debug)]
pub struct Receiver<W> {
    sink: W,
    mode: Mode,
    params: TransferParams,
    retransmit: Retransmit,
    phase: Phase,
    /// The RRQ (client) or OACK (server) that opens the transfer.
    control: Vec<u8>,
    control_due: bool,
    /// For a client: the options asked for, to check the OACK.
    asked: Option<RequestOptions>,
    /// The next block expected.
    next: u64,
    since_ack: u16,
    ack_due: bool,
    gap_acked: bool,
    dup_acked: bool,
    retries: u32,
    deadline: Option<Instant>,
    error_out: Option<(ErrorCode, &'static str)>,
    events: VecDeque<Event>,
    summary: Summary,
    oack_accepted: bool,
    max_bytes: Option<u64>,
    decoder: Option<(Decoder, Vec<u8>)>,
    completed: bool,
}

#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum Phase {
    /// Waiting for the first DATA (after an OACK or RRQ).
    Handshake,
    Data,
    /// All data taken; answering a repeated last block until the deadline.
    Dally,
    Done,
}

impl<W: Write> Receiver<W> {
    /// A server's side of a WRQ: an OACK first when options were accepted,
    /// else ACK 0. More than `max_bytes` of data fails the transfer with
    /// ERROR 3.
    pub fn for_write_request(
        sink: W,
        mode: Mode,
        negotiation: &Negotiation,
        max_bytes: Option<u64>,
        retransmit: Retransmit,
    ) -> Self {
        let mut r = Self::new(sink, mode, negotiation.params, retransmit);
        r.max_bytes = max_bytes;
        if negotiation.has_oack() {
            let mut buf = [0u8; 128];
            let n = negotiation.encode_oack(&mut buf).unwrap_or(0);
            r.control = buf[..n].to_vec();
            r.control_due = true;
        } else {
            r.phase = Phase::Data;
            r.ack_due = true;
        }
        r.events.push_back(Event::Negotiated(r.params));
        r
    }

    /// A client's side of an RRQ for `filename`, asking for `options`;
    /// `timeout` is the retransmission timeout unless the server
    /// acknowledges a `timeout` option.
    pub fn for_read_request(
        sink: W,
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
        let mut r = Self::new(sink, mode, params, retransmit);
        let mut buf = vec![0u8; filename.len() + 128];
        let n = options
            .encode_request(false, filename, mode, &mut buf)
            .unwrap_or(0);
        buf.truncate(n);
        r.control = buf;
        r.control_due = true;
        r.asked = Some(options);
        r
    }

    fn new(sink: W, mode: Mode, params: TransferParams, retransmit: Retransmit) -> Self {
        let mut r = Self {
            sink,
            mode,
            params,
            retransmit,
            phase: Phase::Handshake,
            control: Vec::new(),
            control_due: false,
            asked: None,
            next: 1,
            since_ack: 0,
            ack_due: false,
            gap_acked: false,
            dup_acked: false,
            retries: 0,
            deadline: None,
            error_out: None,
            events: VecDeque::new(),
            summary: Summary::default(),
            oack_accepted: false,
            max_bytes: None,
            decoder: None,
            completed: false,
        };
        r.set_params(params);
        r
    }

    fn set_params(&mut self, params: TransferParams) {
        self.params = params;
        self.decoder = (self.mode == Mode::Netascii).then(|| {
            (
                Decoder::new(),
                vec![0; Decoder::max_output(usize::from(params.blksize))],
            )
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

    /// Whether all data has been received (the receiver may still be
    /// dallying to answer a repeated last block).
    pub fn is_complete(&self) -> bool {
        self.completed
    }

    /// Whether the transfer is over (finished and done dallying, or
    /// failed) and nothing is left to send.
    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Done && self.error_out.is_none() && !self.ack_due
    }

    /// When [`Receiver::handle_timeout`] should be called next.
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

    /// The sink, for example to check or close a file.
    pub fn sink_mut(&mut self) -> &mut W {
        &mut self.sink
    }

    /// Gives the sink back.
    pub fn into_sink(self) -> W {
        self.sink
    }

    /// Ends the transfer now, sending ERROR `code` with `message`.
    pub fn abort(&mut self, code: ErrorCode, message: &'static str) {
        if !matches!(self.phase, Phase::Done | Phase::Dally) {
            self.fail(
                Some((code, message)),
                TransferError::Aborted(message.to_owned()),
            );
        }
    }

    /// Handles a datagram from the peer.
    pub fn handle_datagram(&mut self, now: Instant, datagram: &[u8]) {
        if self.phase == Phase::Done {
            return;
        }
        let Ok(packet) = Packet::decode(datagram) else {
            self.summary.duplicates += 1;
            return;
        };
        match (self.phase, packet) {
            (Phase::Dally, Packet::Data(d)) => {
                if d.block == wire(self.next - 1) {
                    // The sender lost the last ACK: again, and stay on.
                    self.ack_due = true;
                    self.deadline = Some(now + self.retransmit.dally);
                } else {
                    self.summary.duplicates += 1;
                }
            }
            (Phase::Dally, _) => self.summary.duplicates += 1,
            (_, Packet::Error(e)) => {
                let err = TransferError::Peer {
                    code: e.code,
                    message: e.message_lossy().into_owned(),
                    during_negotiation: self.phase == Phase::Handshake,
                };
                self.fail(None, err);
            }
            (Phase::Handshake, Packet::Oack(oack)) if self.asked.is_some() => {
                let asked = self.asked.unwrap_or_default();
                match asked.accept_oack(&oack, self.params.timeout) {
                    Ok(params) => {
                        self.oack_accepted = true;
                        self.set_params(params);
                        self.start_data();
                        self.ack_due = true;
                    }
                    Err(e) => self.fail(
                        Some((ErrorCode::OptionNegotiation, "Unacceptable option")),
                        e.into(),
                    ),
                }
            }
            (Phase::Handshake, Packet::Data(d)) if d.block == 1 => {
                if self.asked.is_some() {
                    // No OACK: the server ignored our options.
                    let timeout = self.params.timeout;
                    self.set_params(TransferParams {
                        timeout,
                        ..TransferParams::default()
                    });
                }
                self.start_data();
                self.handle_data(now, d.block, d.data);
            }
            (Phase::Data, Packet::Data(d)) => self.handle_data(now, d.block, d.data),
            (Phase::Data, Packet::Oack(_)) if self.next == 1 && self.asked.is_some() => {
                // The OACK again: our ACK 0 was lost.
                self.summary.duplicates += 1;
                self.ack_due = true;
            }
            _ => self.summary.duplicates += 1,
        }
    }

    fn start_data(&mut self) {
        self.phase = Phase::Data;
        self.retries = 0;
        self.control_due = false;
        if self.asked.is_some() {
            self.events.push_back(Event::Negotiated(self.params));
        }
    }

    fn handle_data(&mut self, now: Instant, block: u16, data: &[u8]) {
        let delta = block.wrapping_sub(wire(self.next));
        if delta != 0 {
            self.summary.duplicates += 1;
            if delta > u16::MAX / 2 {
                // From the past. When everything taken is acknowledged
                // already, the sender may have lost that ACK: say it
                // again, once. In the middle of a window the sender has
                // evidently seen our last ACK, so this is a copy.
                if self.since_ack == 0 && !self.dup_acked {
                    self.dup_acked = true;
                    self.ack_due = true;
                }
            } else if !self.gap_acked {
                // From the future: one was lost; resume after the last
                // block taken.
                self.gap_acked = true;
                self.ack_due = true;
            }
            return;
        }
        if data.len() > usize::from(self.params.blksize) {
            self.fail(
                Some((
                    ErrorCode::IllegalOperation,
                    "DATA larger than the block size",
                )),
                TransferError::Protocol("a DATA packet is larger than the block size"),
            );
            return;
        }
        let total = self.summary.bytes + data.len() as u64;
        if self.max_bytes.is_some_and(|max| total > max) {
            self.fail(
                Some((ErrorCode::DiskFull, "File too large")),
                TransferError::Sink(io::Error::new(
                    io::ErrorKind::FileTooLarge,
                    "the upload is larger than allowed",
                )),
            );
            return;
        }
        if let Err(e) = self.write(data) {
            let code = io_error_code(&e);
            self.fail(Some((code, "Write error")), TransferError::Sink(e));
            return;
        }
        self.summary.bytes = total;
        self.summary.blocks += 1;
        self.next += 1;
        self.since_ack += 1;
        self.gap_acked = false;
        self.dup_acked = false;
        self.retries = 0;
        self.deadline = Some(now + self.params.timeout);
        if data.len() < usize::from(self.params.blksize) {
            if let Err(e) = self.finish_sink() {
                let code = io_error_code(&e);
                self.fail(Some((code, "Write error")), TransferError::Sink(e));
                return;
            }
            self.ack_due = true;
            self.phase = Phase::Dally;
            self.deadline = Some(now + self.retransmit.dally);
            self.completed = true;
            self.events.push_back(Event::Finished(self.summary));
        } else if self.since_ack >= self.params.windowsize {
            self.ack_due = true;
        }
    }

    fn write(&mut self, data: &[u8]) -> io::Result<()> {
        match &mut self.decoder {
            Some((decoder, out)) => {
                let n = decoder.decode(data, out);
                self.sink.write_all(&out[..n])
            }
            None => self.sink.write_all(data),
        }
    }

    fn finish_sink(&mut self) -> io::Result<()> {
        if let Some((decoder, _)) = &mut self.decoder {
            let tail = decoder.finish();
            self.sink.write_all(tail)?;
        }
        self.sink.flush()
    }

    /// Handles the passing of time: acknowledges again, or fails after
    /// the last retry; ends dallying.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.phase == Phase::Done || self.deadline.is_none_or(|d| d > now) {
            return;
        }
        self.deadline = None;
        if self.phase == Phase::Dally {
            self.phase = Phase::Done;
            self.ack_due = false;
            return;
        }
        if self.retries >= self.retransmit.max_retries {
            let retries = self.retries;
            self.fail(None, TransferError::TimedOut { retries });
            return;
        }
        self.retries += 1;
        self.summary.retransmitted += 1;
        match self.phase {
            Phase::Handshake => self.control_due = true,
            Phase::Data => {
                self.ack_due = true;
                self.dup_acked = false;
                self.gap_acked = false;
            }
            Phase::Dally | Phase::Done => {}
        }
    }

    /// The next datagram to send, written into `buf` (at least 600 bytes,
    /// or the request's length for a client); `None` when there is
    /// nothing to send now.
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
                buf[..self.control.len()].copy_from_slice(&self.control);
                self.deadline = Some(now + self.params.timeout);
                Some(self.control.len())
            }
            Phase::Data | Phase::Dally => {
                if !self.ack_due || buf.len() < 4 {
                    return None;
                }
                self.ack_due = false;
                self.since_ack = 0;
                buf[..2].copy_from_slice(&(Opcode::Ack as u16).to_be_bytes());
                buf[2..4].copy_from_slice(&wire(self.next - 1).to_be_bytes());
                if self.phase == Phase::Data {
                    self.deadline = Some(now + self.params.timeout);
                }
                Some(4)
            }
        }
    }

    fn fail(&mut self, error_out: Option<(ErrorCode, &'static str)>, err: TransferError) {
        self.phase = Phase::Done;
        self.error_out = error_out;
        self.ack_due = false;
        self.deadline = None;
        self.events.push_back(Event::Failed(err));
    }
}
