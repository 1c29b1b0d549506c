//! A TFTP server over UDP with tokio: the thin I/O layer around
//! [`Sender`] and [`Receiver`].
//!
//! - Requests arrive on the listening socket; each transfer gets a fresh
//!   socket on an ephemeral port (its transfer ID, RFC 1350 §4). A packet
//!   from anyone but the transfer's peer gets ERROR 5 there and does not
//!   disturb the transfer. A request repeated by a client that has not
//!   heard back yet does not start a second transfer.
//! - Files are served from the root folder only: [`RequestPath`] refuses
//!   `..`, absolute names (unless [`ServerConfig::strip_leading_slash`]),
//!   device names and control characters; the resolved path must still be
//!   inside the root after symbolic links are followed, and be a regular
//!   file. Error messages never show server paths.
//! - Read-only unless [`ServerConfig::write_dir`] is set: uploads go to
//!   that folder only, never replace a file (ERROR 6), are written to a
//!   hidden temporary name and linked into place when complete, and are
//!   limited in size.
//! - `blksize × windowsize` is capped ([`Limits::max_window_bytes`]) and
//!   each transfer socket's send buffer is sized to hold a window, so a
//!   window neither overflows a client's default receive buffer nor ours.
//! - Each transfer is logged when it ends through `tracing` (peer, file,
//!   options, bytes, duration, outcome); [`ServerStats`] counts them.
//!
//! Files are read with positioned reads (`pread`) straight into the
//! packet buffer, one per DATA packet; nothing is allocated per packet.
//! The reads are synchronous on the runtime's threads: cheap for files in
//! the page cache, which is what a boot server serves.
//!
//! ```no_run
//! # async fn f() -> tftp::Result<()> {
//! use tftp::server::{Server, ServerConfig};
//! let mut config = ServerConfig::new("/srv/tftp");
//! config.listen("0.0.0.0:69".parse().unwrap());
//! let server = Server::bind(config).await?;
//! let stats = server.stats();
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! tokio::spawn(async move {
//!     tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
//!     let _ = stop.send(());
//! });
//! server.run(async { let _ = stopped.await; }).await?;
//! println!("{} transfers", stats.snapshot().transfers_finished);
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::fs::File;
use std::future::Future;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use crate::options::{Limits, Negotiation};
use crate::packet::{Decode, ErrorCode, Mode, Packet, Request, encode_error};
use crate::socket::{BusyPoll, Peer, drive, udp_socket, udp_socket_pair};
use crate::transfer::{Event, Receiver, Retransmit, Sender, Source, Summary, TransferError};
use crate::{Error, RequestPath, Result, transmit_buffer_len};

/// The server's configuration: [`ServerConfig::new`] and chainable
/// setters.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    root: PathBuf,
    listen: SocketAddr,
    write_dir: Option<PathBuf>,
    limits: Limits,
    retransmit: Retransmit,
    max_transfers: usize,
    strip_leading_slash: bool,
    socket_buffer: usize,
    busy_poll: Duration,
}

impl ServerConfig {
    /// Serves `root` (read-only) on `0.0.0.0:69`, with the default
    /// [`Limits`] and [`Retransmit`], at most 10,000 transfers at once.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 69),
            write_dir: None,
            limits: Limits::default(),
            retransmit: Retransmit::default(),
            max_transfers: 10_000,
            strip_leading_slash: false,
            socket_buffer: 256 * 1024,
            busy_poll: Duration::from_micros(300),
        }
    }

    /// The address to listen on.
    pub fn listen(&mut self, addr: SocketAddr) -> &mut Self {
        self.listen = addr;
        self
    }

    /// Accepts uploads (WRQ) into `dir`, which should not be the root: a
    /// file there can be written once and never replaced. Without it,
    /// every WRQ gets ERROR 2.
    pub fn write_dir(&mut self, dir: impl Into<PathBuf>) -> &mut Self {
        self.write_dir = Some(dir.into());
        self
    }

    /// Option limits: block size, window, bytes per window, default
    /// timeout, largest upload.
    pub fn limits(&mut self, limits: Limits) -> &mut Self {
        self.limits = limits;
        self
    }

    /// The largest `blksize × windowsize` granted.
    pub fn max_window_bytes(&mut self, bytes: usize) -> &mut Self {
        self.limits.max_window_bytes = bytes.max(1);
        self
    }

    /// Retransmission count and dallying.
    pub fn retransmit(&mut self, retransmit: Retransmit) -> &mut Self {
        self.retransmit = retransmit;
        self
    }

    /// The most transfers at once; requests past it get ERROR 0.
    pub fn max_transfers(&mut self, n: usize) -> &mut Self {
        self.max_transfers = n;
        self
    }

    /// Takes `/name` as `name` in the root (as `in.tftpd --secure` does)
    /// instead of refusing it as an absolute path.
    pub fn strip_leading_slash(&mut self, yes: bool) -> &mut Self {
        self.strip_leading_slash = yes;
        self
    }

    /// The least socket buffer, in bytes, of each transfer socket (it is
    /// raised further to hold a whole window).
    pub fn socket_buffer(&mut self, bytes: usize) -> &mut Self {
        self.socket_buffer = bytes;
        self
    }

    /// How long a transfer polls its socket for the peer's answer before
    /// sleeping, while no more transfers run than the machine has cores
    /// (300 µs; zero: never). In lock-step a block waits a round trip, and
    /// waking a sleeping thread costs about as much again; 300 µs covers
    /// the round trip of a 64 KiB block to a client on the same machine or
    /// the same LAN segment, while a lab booting at once (more transfers
    /// than cores) never spins.
    pub fn busy_poll(&mut self, budget: Duration) -> &mut Self {
        self.busy_poll = budget;
        self
    }
}

/// Counters for the deployed service's metrics. All only grow, except
/// `active`.
#[derive(Debug, Default)]
pub struct ServerStats {
    transfers_started: AtomicU64,
    transfers_finished: AtomicU64,
    transfers_failed: AtomicU64,
    option_probes: AtomicU64,
    requests_refused: AtomicU64,
    bytes_sent: AtomicU64,
    bytes_received: AtomicU64,
    wrong_tid_packets: AtomicU64,
    active: AtomicU64,
}

/// A copy of the [`ServerStats`] counters at one moment.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub struct StatsSnapshot {
    /// Transfers started (a request accepted and its file opened).
    pub transfers_started: u64,
    /// Transfers that delivered every byte.
    pub transfers_finished: u64,
    /// Transfers that ended early: timeouts, client errors, I/O errors.
    pub transfers_failed: u64,
    /// Transfers ended by the client with ERROR 8 after the OACK (a size
    /// probe; normal, counted neither finished nor failed).
    pub option_probes: u64,
    /// Requests refused before a transfer started (not found, access,
    /// busy, malformed).
    pub requests_refused: u64,
    /// Data bytes sent (first transmissions, not repeats).
    pub bytes_sent: u64,
    /// Data bytes received in uploads.
    pub bytes_received: u64,
    /// Packets from a wrong transfer ID (answered with ERROR 5).
    pub wrong_tid_packets: u64,
    /// Transfers running now.
    pub active: u64,
}

impl ServerStats {
    /// The counters now.
    pub fn snapshot(&self) -> StatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            transfers_started: get(&self.transfers_started),
            transfers_finished: get(&self.transfers_finished),
            transfers_failed: get(&self.transfers_failed),
            option_probes: get(&self.option_probes),
            requests_refused: get(&self.requests_refused),
            bytes_sent: get(&self.bytes_sent),
            bytes_received: get(&self.bytes_received),
            wrong_tid_packets: get(&self.wrong_tid_packets),
            active: get(&self.active),
        }
    }
}

fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

/// A bound TFTP server; [`Server::run`] serves until shut down.
#[derive(Debug)]
pub struct Server {
    socket: UdpSocket,
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    config: ServerConfig,
    root: PathBuf,
    write_dir: Option<PathBuf>,
    local_ip: IpAddr,
    stats: Arc<ServerStats>,
    /// Peers with a transfer running, and the request that started it.
    active: Mutex<HashMap<SocketAddr, Vec<u8>>>,
    /// Transfers poll their sockets while at most this many run (the
    /// machine's cores).
    busy_max_active: u64,
}

impl Server {
    /// Checks the folders and binds the listening socket. Must be called
    /// within a tokio runtime.
    pub async fn bind(config: ServerConfig) -> Result<Self> {
        let root = canonical_dir(&config.root, "the root folder")?;
        let write_dir = match &config.write_dir {
            Some(d) => Some(canonical_dir(d, "the write folder")?),
            None => None,
        };
        let socket = udp_socket(config.listen, 0, 1 << 20)
            .map_err(Error::io("binding the TFTP listening socket"))?;
        let local_ip = socket
            .local_addr()
            .map_err(Error::io("reading the listening address"))?
            .ip();
        Ok(Self {
            socket,
            shared: Arc::new(Shared {
                config,
                root,
                write_dir,
                local_ip,
                stats: Arc::new(ServerStats::default()),
                active: Mutex::new(HashMap::new()),
                busy_max_active: std::thread::available_parallelism().map_or(1, |n| n.get() as u64),
            }),
        })
    }

    /// The address the server listens on (with the real port when the
    /// configuration said port 0).
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.socket
            .local_addr()
            .map_err(Error::io("reading the listening address"))
    }

    /// The counters, shared: they stay readable while the server runs.
    pub fn stats(&self) -> Arc<ServerStats> {
        self.shared.stats.clone()
    }

    /// Serves until `shutdown` completes; then stops taking requests and
    /// ends the transfers still running.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<()> {
        let mut buf = vec![0u8; 65536];
        let mut reply = [0u8; 600];
        let mut tasks = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                r = self.socket.recv_from(&mut buf) => {
                    let (n, peer) = match r {
                        Ok(x) => x,
                        Err(e) => {
                            debug!(error = %e, "receive error on the listening socket");
                            continue;
                        }
                    };
                    if let Some((code, message)) = self.accept(&buf[..n], peer, &mut tasks) {
                        add(&self.shared.stats.requests_refused, 1);
                        if let Ok(len) = encode_error(code, message, &mut reply) {
                            let _ = self.socket.try_send_to(&reply[..len], peer);
                        }
                    }
                }
            }
        }
        tasks.shutdown().await;
        Ok(())
    }

    /// Starts a transfer for a request, or says what to answer.
    fn accept(
        &self,
        datagram: &[u8],
        peer: SocketAddr,
        tasks: &mut JoinSet<()>,
    ) -> Option<(ErrorCode, &'static str)> {
        match Packet::decode(datagram) {
            Ok(Packet::Rrq(_) | Packet::Wrq(_)) => {}
            Ok(_) => return None,
            Err(e) => {
                debug!(%peer, error = %e, "malformed packet on the listening socket");
                return match datagram.get(..2) {
                    Some([0, 1 | 2]) => Some((ErrorCode::IllegalOperation, "Malformed request")),
                    _ => None,
                };
            }
        }
        let shared = &self.shared;
        {
            let mut active = shared.active.lock().unwrap_or_else(|e| e.into_inner());
            if active.get(&peer).is_some_and(|r| r == datagram) {
                // The client repeated its request before hearing from the
                // transfer: the transfer answers it by its own timer.
                return None;
            }
            if active.len() >= shared.config.max_transfers {
                warn!(%peer, "too many transfers; request refused");
                return Some((ErrorCode::NotDefined, "Server busy, try again later"));
            }
            active.insert(peer, datagram.to_vec());
        }
        let shared = shared.clone();
        let request = datagram.to_vec();
        add(&shared.stats.active, 1);
        tasks.spawn(async move {
            transfer(&shared, peer, &request).await;
            shared.stats.active.fetch_sub(1, Ordering::Relaxed);
            let mut active = shared.active.lock().unwrap_or_else(|e| e.into_inner());
            if active.get(&peer).is_some_and(|r| *r == request) {
                active.remove(&peer);
            }
        });
        None
    }
}

fn canonical_dir(dir: &Path, what: &str) -> Result<PathBuf> {
    let c = dir
        .canonicalize()
        .map_err(|e| Error::Config(format!("{what} {}: {e}", dir.display())))?;
    if !c.is_dir() {
        return Err(Error::Config(format!(
            "{what} {} is not a folder",
            dir.display()
        )));
    }
    Ok(c)
}

/// A refusal: the ERROR to send, and the reason for the log (which may
/// name paths; the ERROR never does).
struct Refusal {
    code: ErrorCode,
    message: &'static str,
    reason: String,
}

fn refuse(code: ErrorCode, reason: impl Into<String>) -> Refusal {
    Refusal {
        code,
        message: code.default_message(),
        reason: reason.into(),
    }
}

/// Runs one transfer to its end.
async fn transfer(shared: &Shared, peer: SocketAddr, request: &[u8]) {
    let (is_write, req) = match Packet::decode(request) {
        Ok(Packet::Rrq(r)) => (false, r),
        Ok(Packet::Wrq(r)) => (true, r),
        _ => return,
    };
    let name = String::from_utf8_lossy(req.filename).into_owned();
    let started = Instant::now();
    let limits = &shared.config.limits;
    let socket_for = |window: usize| {
        let local = SocketAddr::new(shared.local_ip, 0);
        let buffer = shared.config.socket_buffer.max(window * 2);
        udp_socket_pair(local, buffer, buffer.min(1 << 20))
    };
    let outcome = if is_write {
        upload(shared, &req, peer, socket_for).await
    } else {
        download(shared, &req, peer, socket_for, limits).await
    };
    let stats = &shared.stats;
    let elapsed = started.elapsed();
    let op = if is_write { "WRQ" } else { "RRQ" };
    let options = format!("{:?}", req.options);
    match outcome {
        Outcome::Refused(r) => {
            add(&stats.requests_refused, 1);
            info!(%peer, op, file = %name, options, code = r.code.as_u16(), reason = %r.reason, "request refused");
            let mut buf = [0u8; 600];
            // From a port of its own, as a transfer would answer.
            if let (Ok(len), Ok((s, _))) =
                (encode_error(r.code, r.message, &mut buf), socket_for(0))
            {
                let _ = s.send_to(&buf[..len], peer).await;
            }
        }
        Outcome::Ran {
            params,
            result,
            summary,
            wrong_tid,
        } => {
            add(&stats.wrong_tid_packets, wrong_tid);
            if is_write {
                add(&stats.bytes_received, summary.bytes);
            } else {
                add(&stats.bytes_sent, summary.bytes);
            }
            let (blksize, windowsize, tsize) = params
                .map(|p| (p.blksize, p.windowsize, p.tsize))
                .unwrap_or_default();
            let ms = elapsed.as_millis() as u64;
            match result {
                Ok(()) => {
                    add(&stats.transfers_finished, 1);
                    info!(%peer, op, file = %name, options, blksize, windowsize, tsize, bytes = summary.bytes,
                        retransmitted = summary.retransmitted, duration_ms = ms, outcome = "finished", "transfer finished");
                }
                Err(e) if e.is_option_probe() => {
                    add(&stats.option_probes, 1);
                    info!(%peer, op, file = %name, options, tsize, duration_ms = ms, outcome = "size probe",
                        "client ended the transfer after the option acknowledgment (size probe)");
                }
                Err(e) => {
                    add(&stats.transfers_failed, 1);
                    warn!(%peer, op, file = %name, options, blksize, windowsize, bytes = summary.bytes,
                        retransmitted = summary.retransmitted, duration_ms = ms, outcome = "failed", error = %e,
                        "transfer failed");
                }
            }
        }
    }
}

enum Outcome {
    Refused(Refusal),
    Ran {
        params: Option<crate::TransferParams>,
        result: std::result::Result<(), TransferError>,
        summary: Summary,
        wrong_tid: u64,
    },
}

/// A file read with positioned reads.
struct FileSource(File);

impl Source for FileSource {
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let mut done = 0;
        while done < buf.len() {
            match self.0.read_at(&mut buf[done..], offset + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }
}

fn check_mode(req: &Request<'_>) -> std::result::Result<(), Refusal> {
    if req.mode == Mode::Mail {
        return Err(refuse(
            ErrorCode::IllegalOperation,
            "mail mode is not supported",
        ));
    }
    Ok(())
}

fn open_for_read(shared: &Shared, req: &Request<'_>) -> std::result::Result<(File, u64), Refusal> {
    check_mode(req)?;
    let rel = RequestPath::parse(req.filename, shared.config.strip_leading_slash)
        .map_err(|e| refuse(ErrorCode::AccessViolation, e.to_string()))?;
    let candidate = shared.root.join(rel.to_relative_path());
    let resolved = candidate.canonicalize().map_err(|e| match e.kind() {
        io::ErrorKind::PermissionDenied => refuse(
            ErrorCode::AccessViolation,
            format!("{}: {e}", candidate.display()),
        ),
        _ => refuse(
            ErrorCode::FileNotFound,
            format!("{}: {e}", candidate.display()),
        ),
    })?;
    if !resolved.starts_with(&shared.root) {
        return Err(refuse(
            ErrorCode::AccessViolation,
            format!(
                "{} leads out of the root to {}",
                candidate.display(),
                resolved.display()
            ),
        ));
    }
    let file = File::open(&resolved).map_err(|e| match e.kind() {
        io::ErrorKind::PermissionDenied => refuse(
            ErrorCode::AccessViolation,
            format!("{}: {e}", resolved.display()),
        ),
        _ => refuse(
            ErrorCode::FileNotFound,
            format!("{}: {e}", resolved.display()),
        ),
    })?;
    let meta = file.metadata().map_err(|e| {
        refuse(
            ErrorCode::FileNotFound,
            format!("{}: {e}", resolved.display()),
        )
    })?;
    if meta.is_dir() {
        return Err(refuse(
            ErrorCode::FileNotFound,
            format!("{} is a folder", resolved.display()),
        ));
    }
    if !meta.is_file() {
        return Err(refuse(
            ErrorCode::AccessViolation,
            format!("{} is not a regular file", resolved.display()),
        ));
    }
    Ok((file, meta.len()))
}

async fn download(
    shared: &Shared,
    req: &Request<'_>,
    peer: SocketAddr,
    socket_for: impl Fn(usize) -> io::Result<(UdpSocket, std::net::UdpSocket)>,
    limits: &Limits,
) -> Outcome {
    let (file, size) = match open_for_read(shared, req) {
        Ok(x) => x,
        Err(r) => return Outcome::Refused(r),
    };
    let negotiation = match Negotiation::for_request(req, false, Some(size), limits) {
        Ok(n) => n,
        Err(e) => return Outcome::Refused(refuse(ErrorCode::OptionNegotiation, e.to_string())),
    };
    let p = negotiation.params;
    let (socket, direct) = match socket_for(usize::from(p.blksize + 4) * usize::from(p.windowsize))
    {
        Ok(s) => s,
        Err(e) => {
            return Outcome::Refused(refuse(
                ErrorCode::NotDefined,
                format!("transfer socket: {e}"),
            ));
        }
    };
    add(&shared.stats.transfers_started, 1);
    let mut sender = Sender::for_read_request(
        FileSource(file),
        req.mode,
        &negotiation,
        shared.config.retransmit,
    );
    let mut send_buf = vec![0u8; transmit_buffer_len(p.blksize)];
    let mut recv_buf = vec![0u8; 2048];
    let driven = drive(
        &mut sender,
        &socket,
        Peer::Known(peer),
        &mut send_buf,
        &mut recv_buf,
        Some(busy_poll(shared, &direct)),
    )
    .await;
    finish(driven, sender.summary())
}

fn busy_poll<'a>(shared: &'a Shared, direct: &'a std::net::UdpSocket) -> BusyPoll<'a> {
    BusyPoll {
        socket: direct,
        budget: shared.config.busy_poll,
        active: &shared.stats.active,
        max_active: shared.busy_max_active,
    }
}

fn finish(driven: io::Result<crate::socket::Driven>, summary: Summary) -> Outcome {
    let mut params = None;
    let mut result = Err(TransferError::Aborted("the transfer did not end".into()));
    let mut wrong_tid = 0;
    match driven {
        Ok(d) => {
            wrong_tid = d.wrong_tid_packets;
            for e in d.events {
                match e {
                    Event::Negotiated(p) => params = Some(p),
                    Event::Finished(_) => result = Ok(()),
                    Event::Failed(e) => result = Err(e),
                }
            }
        }
        Err(e) => result = Err(TransferError::Aborted(format!("socket error: {e}"))),
    }
    Outcome::Ran {
        params,
        result,
        summary,
        wrong_tid,
    }
}

/// An upload's file: a hidden temporary name beside the final one, linked
/// into place when complete (the temporary name is removed either way).
struct Upload {
    file: io::BufWriter<File>,
    temp: PathBuf,
    target: PathBuf,
    linked: bool,
}

impl Write for Upload {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }

    /// The receiver flushes once, when the last block is in and before
    /// acknowledging it: the file is put in place then, so the client's
    /// last ACK means the file is there. Linking fails if the name was
    /// taken meanwhile (the client then gets ERROR 6): never replaced.
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()?;
        if !self.linked {
            std::fs::hard_link(&self.temp, &self.target)?;
            self.linked = true;
        }
        Ok(())
    }
}

fn open_for_write(shared: &Shared, req: &Request<'_>) -> std::result::Result<Upload, Refusal> {
    let Some(dir) = &shared.write_dir else {
        return Err(refuse(ErrorCode::AccessViolation, "writes are not enabled"));
    };
    check_mode(req)?;
    let rel = RequestPath::parse(req.filename, shared.config.strip_leading_slash)
        .map_err(|e| refuse(ErrorCode::AccessViolation, e.to_string()))?;
    let (last, parents) = rel
        .components()
        .split_last()
        .ok_or_else(|| refuse(ErrorCode::AccessViolation, "empty name"))?;
    let parent = dir.join(parents.iter().collect::<PathBuf>());
    let parent = parent.canonicalize().map_err(|e| {
        refuse(
            ErrorCode::AccessViolation,
            format!("{}: {e}", parent.display()),
        )
    })?;
    if !parent.starts_with(dir) || !parent.is_dir() {
        return Err(refuse(
            ErrorCode::AccessViolation,
            format!(
                "{} is not a folder inside the write folder",
                parent.display()
            ),
        ));
    }
    let target = parent.join(last);
    if target.symlink_metadata().is_ok() {
        return Err(refuse(
            ErrorCode::FileExists,
            format!("{} exists", target.display()),
        ));
    }
    for n in 0u32..100 {
        let temp = parent.join(format!(".{last}.{}-{n}.tftp-part", std::process::id()));
        match File::options().write(true).create_new(true).open(&temp) {
            Ok(f) => {
                return Ok(Upload {
                    file: io::BufWriter::with_capacity(256 * 1024, f),
                    temp,
                    target,
                    linked: false,
                });
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(refuse(
                    ErrorCode::AccessViolation,
                    format!("{}: {e}", temp.display()),
                ));
            }
        }
    }
    Err(refuse(ErrorCode::NotDefined, "no temporary name free"))
}

async fn upload(
    shared: &Shared,
    req: &Request<'_>,
    peer: SocketAddr,
    socket_for: impl Fn(usize) -> io::Result<(UdpSocket, std::net::UdpSocket)>,
) -> Outcome {
    let limits = &shared.config.limits;
    let negotiation = match Negotiation::for_request(req, true, None, limits) {
        Ok(n) => n,
        Err(e) => return Outcome::Refused(refuse(ErrorCode::DiskFull, e.to_string())),
    };
    let file = match open_for_write(shared, req) {
        Ok(f) => f,
        Err(r) => return Outcome::Refused(r),
    };
    let (socket, direct) = match socket_for(0) {
        Ok(s) => s,
        Err(e) => {
            let _ = std::fs::remove_file(&file.temp);
            return Outcome::Refused(refuse(
                ErrorCode::NotDefined,
                format!("transfer socket: {e}"),
            ));
        }
    };
    add(&shared.stats.transfers_started, 1);
    let p = negotiation.params;
    let mut receiver = Receiver::for_write_request(
        file,
        req.mode,
        &negotiation,
        Some(limits.max_write_size),
        shared.config.retransmit,
    );
    let mut send_buf = vec![0u8; 600];
    let mut recv_buf = vec![0u8; usize::from(p.blksize) + 4 + 1];
    let driven = drive(
        &mut receiver,
        &socket,
        Peer::Known(peer),
        &mut send_buf,
        &mut recv_buf,
        Some(busy_poll(shared, &direct)),
    )
    .await;
    let outcome = finish(driven, receiver.summary());
    let temp = receiver.into_sink().temp;
    let _ = std::fs::remove_file(&temp);
    outcome
}
