//! A real UDP exchange on loopback: the `server` feature's `BsdpServer`
//! answering the `client` feature's `BsdpClient` (the `bsdp-list`
//! example's code path).

mod common;

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use bsdp::client::BsdpClient;
use bsdp::server::BsdpServer;
use bsdp::{BsdpMessageType, DropReason, ImageId, InformRequest, ResponderConfig};
use common::MAC;

const LO: Ipv4Addr = Ipv4Addr::LOCALHOST;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_select_failed_and_catalog_swap_over_loopback() {
    let mut cfg = ResponderConfig::new(LO);
    cfg.server_name("netboot.test");
    cfg.policy.allow_unprivileged_reply_port = true;
    let server = BsdpServer::bind(SocketAddrV4::new(LO, 0), cfg, common::sample_catalog()).unwrap();
    let handle = server.handle();
    let addr = server.local_addr();
    assert_eq!(addr.ip(), std::net::IpAddr::V4(LO));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.run_until(async move {
        let _ = stop_rx.await;
    }));

    let mut client = BsdpClient::bind(SocketAddrV4::new(LO, 0)).await.unwrap();
    client.set_timeout(Duration::from_secs(5));
    let port = client.local_addr().unwrap().port();
    let mut req = InformRequest::new(MAC, LO, "i386", "MacBookPro11,2");
    req.xid = 0x0bad_cafe;
    req.reply_port = Some(port);
    req.max_message_size = Some(1500);

    let list = client.list(addr, &req).await.unwrap();
    assert_eq!(list.message_type, BsdpMessageType::List);
    assert_eq!(list.xid, 0x0bad_cafe);
    assert_eq!(list.server_identifier, Some(LO));
    assert_eq!(list.default_image, Some(ImageId(0x8100_03e9)));
    let names: Vec<&str> = list.images.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["macOS 10.13 NetInstall", "Diagnostics NetBoot"]);

    let sel = client
        .select(addr, LO, &req, list.images[1].id)
        .await
        .unwrap();
    assert_eq!(sel.message_type, BsdpMessageType::Select);
    assert_eq!(sel.selected_image, Some(ImageId(0x0100_03ea)));
    assert_eq!(
        sel.boot_file.as_deref(),
        Some("Diagnostics.nbi/i386/booter")
    );
    assert_eq!(sel.tftp_server, LO);
    assert_eq!(
        sel.root_path.as_deref(),
        Some("http://127.0.0.1/Diagnostics.nbi/NetInstall.dmg")
    );

    let failed = client
        .select(addr, LO, &req, ImageId(0x0100_0fff))
        .await
        .unwrap();
    assert_eq!(failed.message_type, BsdpMessageType::Failed);

    // A SELECT for another server gets no answer: the client times out.
    client.set_timeout(Duration::from_millis(300));
    let err = client
        .select(addr, Ipv4Addr::new(10, 9, 9, 9), &req, ImageId(0x8100_03e9))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no BSDP reply"), "{err}");

    // Garbage is dropped and counted.
    let raw = tokio::net::UdpSocket::bind(SocketAddrV4::new(LO, 0))
        .await
        .unwrap();
    raw.send_to(b"not a dhcp packet", addr).await.unwrap();

    // A new catalogue is offered from the next request on.
    handle.set_catalog(common::big_catalog(3));
    client.set_timeout(Duration::from_secs(5));
    let list = client.list(addr, &req).await.unwrap();
    assert_eq!(list.images.len(), 3);
    assert_eq!(list.images[0].name, "NetInstall image number 00 macOS");

    let stats = handle.stats();
    assert_eq!(stats.requests, 6);
    assert_eq!(stats.list_answered, 2);
    assert_eq!(stats.select_answered, 1);
    assert_eq!(stats.failed_answered, 1);
    assert_eq!(stats.dropped(DropReason::OtherServer), 1);
    assert_eq!(stats.dropped(DropReason::Malformed), 1);

    stop_tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("server stops")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn no_server_is_a_bounded_timeout() {
    // A bound but silent socket stands in for a server that never answers.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr: SocketAddr = silent.local_addr().unwrap();
    let mut client = BsdpClient::bind(SocketAddrV4::new(LO, 0)).await.unwrap();
    client.set_timeout(Duration::from_millis(200));
    let req = InformRequest::new(MAC, LO, "i386", "MacBookPro11,2");
    let started = std::time::Instant::now();
    let err = client.list(addr, &req).await.unwrap_err();
    assert!(
        matches!(err, bsdp::Error::Io(ref e) if e.kind() == std::io::ErrorKind::TimedOut),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
}
