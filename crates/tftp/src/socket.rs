//! What the server and the client share: UDP sockets with larger buffers,
//! and the loop that drives a transfer state machine over one.

use std::io::{self, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;

use crate::transfer::{Event, Receiver, Sender, Source};

/// A non-blocking UDP socket bound to `addr`, with (at least, where the
/// system allows) `send_buffer` and `recv_buffer` bytes of socket buffer.
pub(crate) fn udp_socket(
    addr: SocketAddr,
    send_buffer: usize,
    recv_buffer: usize,
) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    // Best effort: the system caps them (net.core.wmem_max/rmem_max).
    if send_buffer > 0 && socket.send_buffer_size().is_ok_and(|s| s < send_buffer) {
        let _ = socket.set_send_buffer_size(send_buffer);
    }
    if recv_buffer > 0 && socket.recv_buffer_size().is_ok_and(|s| s < recv_buffer) {
        let _ = socket.set_recv_buffer_size(recv_buffer);
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

/// Like [`udp_socket`], plus a second handle on the same socket (a
/// duplicated descriptor) that reads without the reactor, for
/// [`BusyPoll`].
pub(crate) fn udp_socket_pair(
    addr: SocketAddr,
    send_buffer: usize,
    recv_buffer: usize,
) -> io::Result<(UdpSocket, std::net::UdpSocket)> {
    let socket = udp_socket(addr, send_buffer, recv_buffer)?.into_std()?;
    let direct = socket.try_clone()?;
    Ok((UdpSocket::from_std(socket)?, direct))
}

/// Waiting for the peer's next packet by polling the socket for a short
/// while before sleeping on the reactor.
///
/// In lock-step (one block per ACK) every block waits a loopback or LAN
/// round trip, a few tens of microseconds; sleeping in `epoll_wait` and
/// being woken costs about as much again. Polling for up to `budget` keeps
/// the task on its thread for that round trip. It is done only while at
/// most `max_active` transfers run (the counter `active`), so a busy server
/// never spends its cores spinning.
pub(crate) struct BusyPoll<'a> {
    /// The same socket, read directly.
    pub(crate) socket: &'a std::net::UdpSocket,
    /// How long to poll before sleeping.
    pub(crate) budget: Duration,
    /// Transfers running now.
    pub(crate) active: &'a std::sync::atomic::AtomicU64,
    /// Poll only while at most this many run.
    pub(crate) max_active: u64,
}

impl BusyPoll<'_> {
    /// A datagram that arrives within the budget, if polling is allowed
    /// now. Errors other than "nothing yet" end the polling quietly: the
    /// reactor path sees them again.
    fn poll(&self, buf: &mut [u8]) -> Option<(usize, SocketAddr)> {
        if self.budget.is_zero()
            || self.active.load(std::sync::atomic::Ordering::Relaxed) > self.max_active
        {
            return None;
        }
        let start = Instant::now();
        loop {
            match self.socket.recv_from(buf) {
                Ok(x) => return Some(x),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if start.elapsed() >= self.budget {
                        return None;
                    }
                    std::hint::spin_loop();
                }
                Err(_) => return None,
            }
        }
    }
}

/// A transfer state machine, as the driver sees it.
pub(crate) trait Machine {
    fn handle_datagram(&mut self, now: Instant, datagram: &[u8]);
    fn handle_timeout(&mut self, now: Instant);
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize>;
    fn poll_timeout(&self) -> Option<Instant>;
    fn poll_event(&mut self) -> Option<Event>;
    fn is_finished(&self) -> bool;
    /// Whether the driver may stop (a receiver need not dally for the
    /// caller to have its data).
    fn may_stop_early(&self) -> bool {
        false
    }
}

impl<S: Source> Machine for Sender<S> {
    fn handle_datagram(&mut self, now: Instant, datagram: &[u8]) {
        Self::handle_datagram(self, now, datagram);
    }
    fn handle_timeout(&mut self, now: Instant) {
        Self::handle_timeout(self, now);
    }
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        Self::poll_transmit(self, now, buf)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Self::poll_timeout(self)
    }
    fn poll_event(&mut self) -> Option<Event> {
        Self::poll_event(self)
    }
    fn is_finished(&self) -> bool {
        Self::is_finished(self)
    }
}

/// A receiver that the driver may leave as soon as it has all the data.
#[cfg_attr(not(feature = "client"), allow(dead_code))]
pub(crate) struct NoDally<'a, W>(pub(crate) &'a mut Receiver<W>);

impl<W: Write> Machine for Receiver<W> {
    fn handle_datagram(&mut self, now: Instant, datagram: &[u8]) {
        Self::handle_datagram(self, now, datagram);
    }
    fn handle_timeout(&mut self, now: Instant) {
        Self::handle_timeout(self, now);
    }
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        Self::poll_transmit(self, now, buf)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Self::poll_timeout(self)
    }
    fn poll_event(&mut self) -> Option<Event> {
        Self::poll_event(self)
    }
    fn is_finished(&self) -> bool {
        Self::is_finished(self)
    }
}

impl<W: Write> Machine for NoDally<'_, W> {
    fn handle_datagram(&mut self, now: Instant, datagram: &[u8]) {
        self.0.handle_datagram(now, datagram);
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.0.handle_timeout(now);
    }
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        self.0.poll_transmit(now, buf)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.0.poll_timeout()
    }
    fn poll_event(&mut self) -> Option<Event> {
        self.0.poll_event()
    }
    fn is_finished(&self) -> bool {
        self.0.is_finished()
    }
    fn may_stop_early(&self) -> bool {
        self.0.is_complete()
    }
}

/// Who the transfer talks to (a server knows its peer; a client learns
/// it from the first answer).
#[cfg_attr(not(all(feature = "client", feature = "server")), allow(dead_code))]
pub(crate) enum Peer {
    /// Known: the peer's transfer ID.
    Known(SocketAddr),
    /// A client's first request goes to the server's well-known port; the
    /// server answers from a new port, which becomes the peer (any port
    /// of this IP address).
    FirstAnswerFrom { request_to: SocketAddr },
}

/// How a driven transfer ended, with the peer it settled on.
pub(crate) struct Driven {
    pub(crate) events: Vec<Event>,
    pub(crate) peer: Option<SocketAddr>,
    pub(crate) wrong_tid_packets: u64,
}

/// The longest wait when a machine has no timer (it always has one while
/// running; this only bounds a bug).
const IDLE_LIMIT: Duration = Duration::from_secs(300);

/// Runs `machine` over `socket` until it is finished, sending ERROR 5 to
/// packets from any other address. Socket errors end the drive with an
/// error (the machine is left as it was).
pub(crate) async fn drive<M: Machine>(
    machine: &mut M,
    socket: &UdpSocket,
    peer: Peer,
    send_buf: &mut [u8],
    recv_buf: &mut [u8],
    busy: Option<BusyPoll<'_>>,
) -> io::Result<Driven> {
    let mut driven = Driven {
        events: Vec::new(),
        peer: match peer {
            Peer::Known(p) => Some(p),
            Peer::FirstAnswerFrom { .. } => None,
        },
        wrong_tid_packets: 0,
    };
    let request_to = match peer {
        Peer::Known(p) => p,
        Peer::FirstAnswerFrom { request_to } => request_to,
    };
    let mut tid_error = [0u8; 32];
    let tid_error_len = crate::transfer::wrong_tid_error(&mut tid_error).unwrap_or(0);
    // One timer for the whole transfer, moved as the deadline moves: a
    // later deadline only updates it (no timer-wheel work per block).
    let sleep = tokio::time::sleep(IDLE_LIMIT);
    tokio::pin!(sleep);
    loop {
        let now = Instant::now();
        while let Some(n) = machine.poll_transmit(now, send_buf) {
            let to = driven.peer.unwrap_or(request_to);
            socket.send_to(&send_buf[..n], to).await?;
        }
        driven
            .events
            .extend(std::iter::from_fn(|| machine.poll_event()));
        if machine.is_finished() || machine.may_stop_early() {
            return Ok(driven);
        }
        let deadline = tokio::time::Instant::from_std(
            machine
                .poll_timeout()
                .unwrap_or_else(|| Instant::now() + IDLE_LIMIT),
        );
        if sleep.deadline() != deadline || sleep.is_elapsed() {
            sleep.as_mut().reset(deadline);
        }
        let polled = busy.as_ref().and_then(|b| b.poll(recv_buf));
        let received = match polled {
            Some(x) => Some(x),
            None => tokio::select! {
                r = socket.recv_from(recv_buf) => match r {
                    Ok(x) => Some(x),
                    // An ICMP error reported on the socket (a peer that went
                    // away): the retransmission timer decides.
                    Err(e) if is_transient(&e) => continue,
                    Err(e) => return Err(e),
                },
                () = &mut sleep => None,
            },
        };
        match received {
            Some((n, from)) => {
                let accepted = match driven.peer {
                    Some(p) => p == from,
                    None if from.ip() == request_to.ip() => {
                        driven.peer = Some(from);
                        true
                    }
                    None => false,
                };
                if accepted {
                    machine.handle_datagram(Instant::now(), &recv_buf[..n]);
                } else {
                    driven.wrong_tid_packets += 1;
                    // One small answer per stray packet; losing it is fine.
                    let _ = socket.try_send_to(&tid_error[..tid_error_len], from);
                }
            }
            None => machine.handle_timeout(Instant::now()),
        }
    }
}

fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    ) || e.raw_os_error() == Some(113) // EHOSTUNREACH
}
