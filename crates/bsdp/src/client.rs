//! A tokio UDP client for probing a BSDP server (feature `client`): sends
//! `INFORM[LIST]` or `INFORM[SELECT]` and waits, within a time limit, for
//! the `ACK` with the same transaction id.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use tokio::net::UdpSocket;

use crate::bsdp::ImageId;
use crate::codec::Encode;
use crate::dhcp::Packet;
use crate::error::{Error, Result};
use crate::exchange::{Ack, InformRequest};

/// A client socket bound to the reply port.
#[derive(Debug)]
pub struct BsdpClient {
    socket: UdpSocket,
    timeout: Duration,
}

impl BsdpClient {
    /// Binds `local` (the port replies come to). Waits at most 5 s for a
    /// reply unless [`BsdpClient::set_timeout`] says otherwise.
    pub async fn bind(local: SocketAddrV4) -> io::Result<Self> {
        let socket = UdpSocket::bind(local).await?;
        Ok(Self {
            socket,
            timeout: Duration::from_secs(5),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// How long to wait for each reply.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Sends `INFORM[LIST]` to `server` and returns its `ACK[LIST]`.
    pub async fn list(&self, server: SocketAddr, request: &InformRequest) -> Result<Ack> {
        self.exchange(server, &request.list()?, request.xid).await
    }

    /// Sends `INFORM[SELECT]` of `image` to `server` (whose BSDP server
    /// identifier is `server_id`) and returns its `ACK[SELECT]` or
    /// `ACK[FAILED]`.
    pub async fn select(
        &self,
        server: SocketAddr,
        server_id: Ipv4Addr,
        request: &InformRequest,
        image: ImageId,
    ) -> Result<Ack> {
        self.exchange(server, &request.select(server_id, image)?, request.xid)
            .await
    }

    /// Sends `packet` and waits for a BSDP ACK with transaction id `xid`;
    /// other datagrams are ignored. A timeout is an
    /// [`io::ErrorKind::TimedOut`] error.
    pub async fn exchange(&self, server: SocketAddr, packet: &Packet, xid: u32) -> Result<Ack> {
        self.socket.send_to(&packet.to_vec()?, server).await?;
        let mut buf = vec![0u8; 65_536];
        let wait = async {
            loop {
                let (n, _) = self.socket.recv_from(&mut buf).await?;
                if let Ok(ack) = Ack::decode(&buf[..n])
                    && ack.xid == xid
                {
                    return Ok::<_, Error>(ack);
                }
            }
        };
        match tokio::time::timeout(self.timeout, wait).await {
            Ok(r) => r,
            Err(_) => Err(Error::Io(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no BSDP reply from {server} within {:?}", self.timeout),
            ))),
        }
    }
}
