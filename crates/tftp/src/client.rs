//! A TFTP client over UDP with tokio: downloads (RRQ) and uploads (WRQ)
//! with options, retransmissions, and the transfer-ID rule (the server's
//! first answer fixes its port; packets from elsewhere get ERROR 5).
//!
//! ```no_run
//! # async fn f() -> tftp::Result<()> {
//! use tftp::client::{ClientConfig, get_to_file};
//! let mut config = ClientConfig::default();
//! config.blksize(1468).windowsize(16).tsize(true);
//! let got = get_to_file("192.0.2.1:69".parse().unwrap(), "boot/booter", "booter".as_ref(), &config).await?;
//! println!("{} bytes in {:?}", got.bytes, got.elapsed);
//! # Ok(()) }
//! ```

use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;

use crate::options::{RequestOptions, TransferParams};
use crate::packet::{ErrorCode, Mode};
use crate::socket::{Driven, NoDally, Peer, drive, udp_socket};
use crate::transfer::{Event, Receiver, Retransmit, Sender, Source, Summary, TransferError};
use crate::{Error, Result, transmit_buffer_len};

/// The client's settings: [`Default`] and chainable setters.
#[derive(Clone, Copy, Debug)]
pub struct ClientConfig {
    options: RequestOptions,
    mode: Mode,
    timeout: Duration,
    retransmit: Retransmit,
    recv_buffer: usize,
    fallback: bool,
}

impl Default for ClientConfig {
    /// Octet mode, no options, 1 s timeout, 5 retries, a 4 MiB receive
    /// buffer, one retry without options if the server refuses them.
    fn default() -> Self {
        Self {
            options: RequestOptions::default(),
            mode: Mode::Octet,
            timeout: Duration::from_secs(1),
            retransmit: Retransmit {
                max_retries: 5,
                dally: Duration::ZERO,
            },
            recv_buffer: 4 << 20,
            fallback: true,
        }
    }
}

impl ClientConfig {
    /// Asks for `blksize` (8–65464).
    pub fn blksize(&mut self, n: u16) -> &mut Self {
        self.options.blksize = Some(n);
        self
    }

    /// Asks for `windowsize` (1–65535).
    pub fn windowsize(&mut self, n: u16) -> &mut Self {
        self.options.windowsize = Some(n);
        self
    }

    /// Asks for the transfer size (`tsize`).
    pub fn tsize(&mut self, yes: bool) -> &mut Self {
        self.options.tsize = yes.then_some(0);
        self
    }

    /// Asks the server to use a retransmission timeout of `secs` (1–255),
    /// and uses it too.
    pub fn timeout_option(&mut self, secs: u8) -> &mut Self {
        self.options.timeout = Some(secs);
        self.timeout = Duration::from_secs(u64::from(secs.max(1)));
        self
    }

    /// The retransmission timeout when no `timeout` option is agreed.
    pub fn timeout(&mut self, timeout: Duration) -> &mut Self {
        self.timeout = timeout;
        self
    }

    /// Retransmissions in a row before giving up.
    pub fn max_retries(&mut self, n: u32) -> &mut Self {
        self.retransmit.max_retries = n;
        self
    }

    /// `netascii` (text, converted to local line ends) or `octet`.
    pub fn mode(&mut self, mode: Mode) -> &mut Self {
        self.mode = mode;
        self
    }

    /// The receive buffer to ask for (the system caps it).
    pub fn recv_buffer(&mut self, bytes: usize) -> &mut Self {
        self.recv_buffer = bytes;
        self
    }

    /// Whether to ask once more without options when the server answers
    /// ERROR 8 to the request (default yes).
    pub fn fallback_without_options(&mut self, yes: bool) -> &mut Self {
        self.fallback = yes;
        self
    }

    /// The options asked for.
    pub fn options(&self) -> RequestOptions {
        self.options
    }
}

/// A finished transfer.
#[derive(Clone, Copy, Debug)]
pub struct Transferred {
    /// Data bytes (as on the wire; for netascii, before conversion).
    pub bytes: u64,
    /// From the first request to the last ACK.
    pub elapsed: Duration,
    /// What was agreed (all defaults when the server took no options).
    pub params: TransferParams,
    /// Whether the server acknowledged options (an OACK).
    pub options_acknowledged: bool,
    /// Counts of blocks, repeats and duplicates.
    pub summary: Summary,
    /// The server's transfer ID.
    pub server_tid: Option<SocketAddr>,
}

fn local_for(server: SocketAddr) -> SocketAddr {
    let ip = match server.ip() {
        ip if ip.is_loopback() => ip,
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    SocketAddr::new(ip, 0)
}

fn outcome(driven: Driven, summary: Summary, elapsed: Duration) -> Result<Transferred> {
    let mut params = None;
    let mut result = Err(Error::Transfer(TransferError::Aborted(
        "the transfer did not end".into(),
    )));
    for e in driven.events {
        match e {
            Event::Negotiated(p) => params = Some(p),
            Event::Finished(_) => result = Ok(()),
            Event::Failed(e) => result = Err(Error::Transfer(e)),
        }
    }
    result.map(|()| Transferred {
        bytes: summary.bytes,
        elapsed,
        params: params.unwrap_or_default(),
        options_acknowledged: false,
        summary,
        server_tid: driven.peer,
    })
}

fn refused_options(e: &Error) -> bool {
    matches!(
        e,
        Error::Transfer(TransferError::Peer {
            code: ErrorCode::OptionNegotiation,
            during_negotiation: true,
            ..
        })
    )
}

/// Downloads `filename` from `server` into `sink`; returns the sink and
/// what happened. A partial download leaves partial data in the sink.
pub async fn get<W: Write>(
    server: SocketAddr,
    filename: &str,
    config: &ClientConfig,
    sink: W,
) -> Result<(W, Transferred)> {
    let socket = udp_socket(local_for(server), 0, config.recv_buffer)
        .map_err(Error::io("binding the client socket"))?;
    let (sink, r) = get_once(&socket, server, filename, config, config.options, sink).await;
    match r {
        Err(e) if config.fallback && !config.options.is_empty() && refused_options(&e) => {
            let (sink, r) = get_once(
                &socket,
                server,
                filename,
                config,
                RequestOptions::default(),
                sink,
            )
            .await;
            r.map(|t| (sink, t))
        }
        r => r.map(|t| (sink, t)),
    }
}

async fn get_once<W: Write>(
    socket: &UdpSocket,
    server: SocketAddr,
    filename: &str,
    config: &ClientConfig,
    options: RequestOptions,
    sink: W,
) -> (W, Result<Transferred>) {
    let started = Instant::now();
    let mut receiver = Receiver::for_read_request(
        sink,
        filename.as_bytes(),
        config.mode,
        options,
        config.timeout,
        config.retransmit,
    );
    let mut send_buf = vec![0u8; filename.len() + 600];
    let mut recv_buf = vec![0u8; 65536];
    let driven = drive(
        &mut NoDally(&mut receiver),
        socket,
        Peer::FirstAnswerFrom { request_to: server },
        &mut send_buf,
        &mut recv_buf,
        None,
    )
    .await;
    let elapsed = started.elapsed();
    let summary = receiver.summary();
    let params = receiver.params();
    let acknowledged = receiver.options_acknowledged();
    let sink = receiver.into_sink();
    let result = driven
        .map_err(Error::io("TFTP client socket"))
        .and_then(|d| outcome(d, summary, elapsed))
        .map(|mut t| {
            t.params = params;
            t.options_acknowledged = acknowledged;
            t
        });
    (sink, result)
}

/// Downloads `filename` into the file `path` (created or truncated); on
/// failure the partial file is removed.
pub async fn get_to_file(
    server: SocketAddr,
    filename: &str,
    path: &Path,
    config: &ClientConfig,
) -> Result<Transferred> {
    let file = File::create(path).map_err(Error::io("creating the output file"))?;
    let sink = BufWriter::with_capacity(1 << 20, file);
    match get(server, filename, config, sink).await {
        Ok((mut sink, t)) => {
            sink.flush().map_err(Error::io("writing the output file"))?;
            Ok(t)
        }
        Err(e) => {
            let _ = std::fs::remove_file(path);
            Err(e)
        }
    }
}

/// Uploads `source` as `filename` to `server` (a WRQ); `tsize` is sent
/// when `size` is given.
pub async fn put<S: Source>(
    server: SocketAddr,
    filename: &str,
    config: &ClientConfig,
    source: S,
    size: Option<u64>,
) -> Result<Transferred> {
    let socket = udp_socket(local_for(server), 1 << 20, 1 << 20)
        .map_err(Error::io("binding the client socket"))?;
    let mut options = config.options;
    options.tsize = size;
    let started = Instant::now();
    let mut sender = Sender::for_write_request(
        source,
        filename.as_bytes(),
        config.mode,
        options,
        config.timeout,
        config.retransmit,
    );
    let blksize = options.blksize.unwrap_or(512).max(512);
    let mut send_buf = vec![0u8; transmit_buffer_len(blksize).max(filename.len() + 600)];
    let mut recv_buf = vec![0u8; 2048];
    let driven = drive(
        &mut sender,
        &socket,
        Peer::FirstAnswerFrom { request_to: server },
        &mut send_buf,
        &mut recv_buf,
        None,
    )
    .await
    .map_err(Error::io("TFTP client socket"))?;
    let params = sender.params();
    let acknowledged = sender.options_acknowledged();
    outcome(driven, sender.summary(), started.elapsed()).map(|mut t| {
        t.params = params;
        t.options_acknowledged = acknowledged;
        t
    })
}
