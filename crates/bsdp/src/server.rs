//! A tokio UDP driver around the [`Responder`] (feature `server`).
//!
//! [`BsdpServer::bind`] opens a UDP socket with `SO_REUSEADDR` and
//! `SO_BROADCAST` on the server address (port 67 in production, a high
//! loopback port in tests); [`BsdpServer::run`] receives datagrams, hands
//! them to the responder and sends each reply from that socket to the
//! client's reply port (or the relay). A [`ServerHandle`] swaps the
//! catalogue after a rescan and reads the counters.

use std::future::Future;
use std::io;
use std::net::{SocketAddr, SocketAddrV4};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::sync::watch;

use crate::catalog::{Catalog, Scan};
use crate::responder::{Counters, Outcome, Responder, ResponderConfig, Stats};

/// The BSDP server: a socket and a responder.
#[derive(Debug)]
pub struct BsdpServer {
    socket: UdpSocket,
    responder: Responder,
    catalog_rx: watch::Receiver<Arc<Catalog>>,
    handle: ServerHandle,
}

/// Controls a running [`BsdpServer`]; cheap to clone.
#[derive(Clone, Debug)]
pub struct ServerHandle {
    catalog_tx: Arc<watch::Sender<Arc<Catalog>>>,
    counters: Arc<Counters>,
    local_addr: SocketAddr,
}

impl BsdpServer {
    /// Binds `addr` (with `SO_REUSEADDR` and `SO_BROADCAST`) and prepares
    /// to answer with `config` from `catalog`. Call inside a tokio runtime.
    pub fn bind(addr: SocketAddrV4, config: ResponderConfig, catalog: Catalog) -> io::Result<Self> {
        let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
        socket.set_reuse_address(true)?;
        socket.set_broadcast(true)?;
        socket.set_nonblocking(true)?;
        socket.bind(&SocketAddr::V4(addr).into())?;
        let socket = UdpSocket::from_std(socket.into())?;
        let local_addr = socket.local_addr()?;
        let catalog = Arc::new(catalog);
        let responder = Responder::new(Arc::new(config), Arc::clone(&catalog));
        let (tx, rx) = watch::channel(catalog);
        let handle = ServerHandle {
            catalog_tx: Arc::new(tx),
            counters: responder.counters(),
            local_addr,
        };
        Ok(Self {
            socket,
            responder,
            catalog_rx: rx,
            handle,
        })
    }

    /// A handle to swap the catalogue and read the counters.
    pub fn handle(&self) -> ServerHandle {
        self.handle.clone()
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.handle.local_addr
    }

    /// Serves until the socket fails for good.
    pub async fn run(self) -> io::Result<()> {
        self.run_until(std::future::pending::<()>()).await
    }

    /// Serves until `shutdown` completes.
    pub async fn run_until<F: Future>(mut self, shutdown: F) -> io::Result<()> {
        let mut buf = vec![0u8; 65_536];
        tokio::pin!(shutdown);
        loop {
            let (n, from) = tokio::select! {
                _ = &mut shutdown => return Ok(()),
                r = self.socket.recv_from(&mut buf) => match r {
                    Ok(x) => x,
                    Err(e) if transient(&e) => {
                        tracing::debug!(error = %e, "bsdp: receive failed");
                        continue;
                    }
                    Err(e) => return Err(e),
                },
            };
            if self.catalog_rx.has_changed().unwrap_or(false) {
                let catalog = Arc::clone(&self.catalog_rx.borrow_and_update());
                self.responder.set_catalog(catalog);
            }
            match self
                .responder
                .handle_outcome(&buf[..n], from, Instant::now())
            {
                Outcome::Reply(reply) => {
                    tracing::info!(
                        client = %from, to = %reply.destination, kind = %reply.kind,
                        bytes = reply.bytes.len(), "bsdp: ACK sent"
                    );
                    if let Err(e) = self.socket.send_to(&reply.bytes, reply.destination).await {
                        tracing::warn!(to = %reply.destination, error = %e, "bsdp: send failed");
                    }
                }
                Outcome::Drop(reason) => {
                    tracing::debug!(client = %from, %reason, "bsdp: dropped");
                }
            }
        }
    }
}

/// Errors after which the socket still works (ICMP feedback, signals).
fn transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

impl ServerHandle {
    /// Offers `catalog` from the next request on.
    pub fn set_catalog(&self, catalog: Catalog) {
        self.catalog_tx.send_replace(Arc::new(catalog));
    }

    /// The counters now.
    pub fn stats(&self) -> Stats {
        self.counters.snapshot()
    }

    /// The live counters.
    pub fn counters(&self) -> Arc<Counters> {
        Arc::clone(&self.counters)
    }

    /// The server's bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }
}

/// [`Catalog::scan`] that logs each skipped image with its reason.
pub fn scan_and_log(dir: &Path) -> io::Result<Scan> {
    let scan = Catalog::scan(dir)?;
    for s in &scan.skipped {
        tracing::warn!(dir = %dir.display(), image = %s.dir_name, reason = %s.reason, "NetBoot image skipped");
    }
    tracing::info!(dir = %dir.display(), images = scan.catalog.len(), skipped = scan.skipped.len(), "NetBoot images scanned");
    Ok(scan)
}
