//! The server's error paths and limits, seen from raw UDP sockets on
//! loopback: refusals and their messages, writes, size probes, a peer
//! that never acknowledges, strangers, repeated requests, many transfers.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use common::{TestServer, put_file, random_bytes, served_dir, sha256};
use tftp::client::{self, ClientConfig};
use tftp::packet::{Decode, ErrorCode, Packet};
use tftp::{Limits, Retransmit};

fn socket() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    s
}

fn request(op: u8, name: &[u8], mode: &str, options: &[(&str, &str)]) -> Vec<u8> {
    let mut r = vec![0, op];
    r.extend_from_slice(name);
    r.push(0);
    r.extend_from_slice(mode.as_bytes());
    r.push(0);
    for (n, v) in options {
        r.extend_from_slice(n.as_bytes());
        r.push(0);
        r.extend_from_slice(v.as_bytes());
        r.push(0);
    }
    r
}

fn rrq(name: &[u8], options: &[(&str, &str)]) -> Vec<u8> {
    request(1, name, "octet", options)
}

/// The next datagram within `wait`, if any.
fn recv_within(s: &UdpSocket, wait: Duration) -> Option<(Vec<u8>, SocketAddr)> {
    let end = Instant::now() + wait;
    let mut buf = vec![0u8; 70000];
    while Instant::now() < end {
        match s.recv_from(&mut buf) {
            Ok((n, from)) => return Some((buf[..n].to_vec(), from)),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("{e}"),
        }
    }
    None
}

fn recv(s: &UdpSocket) -> (Vec<u8>, SocketAddr) {
    recv_within(s, Duration::from_secs(5)).expect("no answer from the server")
}

/// Sends `req` and returns the ERROR it gets (panics on anything else).
fn expect_error(server: &TestServer, req: &[u8]) -> (ErrorCode, String, SocketAddr) {
    let s = socket();
    s.send_to(req, server.addr).unwrap();
    let (bytes, from) = recv(&s);
    match Packet::decode(&bytes) {
        Ok(Packet::Error(e)) => (e.code, e.message_lossy().into_owned(), from),
        other => panic!("expected an ERROR, got {other:?}"),
    }
}

#[test]
fn refusals_have_the_right_code_and_reveal_no_path() {
    let outside = served_dir();
    put_file(outside.path(), "secret", b"outside the root");
    let root = served_dir();
    put_file(root.path(), "ok.bin", b"fine");
    std::fs::create_dir(root.path().join("sub")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret"), root.path().join("link-out"))
        .unwrap();
    std::os::unix::fs::symlink(outside.path(), root.path().join("dir-out")).unwrap();
    std::os::unix::fs::symlink("ok.bin", root.path().join("link-in")).unwrap();
    let server = TestServer::start(root.path(), |_| {});
    let root_text = root.path().to_string_lossy().into_owned();
    let cases: &[(&[u8], ErrorCode)] = &[
        (b"missing.bin", ErrorCode::FileNotFound),
        (b"sub/missing.bin", ErrorCode::FileNotFound),
        (b"sub", ErrorCode::FileNotFound),
        (b"../etc/passwd", ErrorCode::AccessViolation),
        (b"sub/../../etc/passwd", ErrorCode::AccessViolation),
        (b"..\\..\\etc\\passwd", ErrorCode::AccessViolation),
        (b"/etc/passwd", ErrorCode::AccessViolation),
        (b"\\etc\\passwd", ErrorCode::AccessViolation),
        (b"C:\\boot.ini", ErrorCode::AccessViolation),
        (b"link-out", ErrorCode::AccessViolation),
        (b"dir-out/secret", ErrorCode::AccessViolation),
        (b"NUL", ErrorCode::AccessViolation),
        (b"con", ErrorCode::AccessViolation),
        (b"sub/aux.txt", ErrorCode::AccessViolation),
        (b"a\x01b", ErrorCode::AccessViolation),
        (b"\xff\xfe", ErrorCode::AccessViolation),
    ];
    for &(name, code) in cases {
        let (got, message, _) = expect_error(&server, &rrq(name, &[]));
        assert_eq!(got, code, "{:?}: {message}", String::from_utf8_lossy(name));
        assert!(!message.contains(&root_text), "{message}");
        assert!(!message.contains('/'), "{message}");
        assert_eq!(message, code.default_message());
    }
    // A link inside the root is fine.
    let s = socket();
    s.send_to(&rrq(b"link-in", &[]), server.addr).unwrap();
    let (bytes, _) = recv(&s);
    assert_eq!(bytes, b"\0\x03\0\x01fine");
    // Mail mode and malformed requests: illegal operation.
    let (code, _, _) = expect_error(&server, &request(1, b"ok.bin", "mail", &[]));
    assert_eq!(code, ErrorCode::IllegalOperation);
    let (code, message, _) = expect_error(&server, b"\0\x01ok.bin\0binary\0");
    assert_eq!(
        (code, message.as_str()),
        (ErrorCode::IllegalOperation, "Malformed request")
    );
    // The log says why, with the path.
    server.wait_for("refusals counted", |s| {
        s.requests_refused == cases.len() as u64 + 2
    });
    let logs = server.logs();
    assert!(logs.contains("leads out of the root"), "{logs}");
    assert!(
        logs.contains("the file name leads to a parent folder"),
        "{logs}"
    );
}

#[test]
fn writes_are_refused_by_default_and_go_to_the_write_dir_only() {
    let root = served_dir();
    let server = TestServer::start(root.path(), |_| {});
    let (code, _, _) = expect_error(&server, &request(2, b"up.bin", "octet", &[]));
    assert_eq!(code, ErrorCode::AccessViolation);
    drop(server);
    assert!(!root.path().join("up.bin").exists());

    let writes = served_dir();
    std::fs::create_dir(writes.path().join("logs")).unwrap();
    put_file(writes.path(), "taken.bin", b"old");
    let server = TestServer::start(root.path(), |c| {
        c.write_dir(writes.path());
        c.limits(Limits {
            max_write_size: 100_000,
            ..Limits::default()
        });
    });
    let data = random_bytes(70_000, 3);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut config = ClientConfig::default();
    config.blksize(1468).windowsize(4);
    let up = rt
        .block_on(client::put(
            server.addr,
            "logs/up.bin",
            &config,
            &data[..],
            Some(data.len() as u64),
        ))
        .unwrap();
    assert_eq!(up.bytes, 70_000);
    assert_eq!(
        std::fs::read(writes.path().join("logs/up.bin")).unwrap(),
        data
    );
    assert!(!root.path().join("logs").exists());
    // Never replaced, never outside, never too large.
    let err = rt
        .block_on(client::put(
            server.addr,
            "taken.bin",
            &config,
            &b"new"[..],
            None,
        ))
        .unwrap_err();
    assert!(err.to_string().contains("File already exists"), "{err}");
    assert_eq!(
        std::fs::read(writes.path().join("taken.bin")).unwrap(),
        b"old"
    );
    let (code, _, _) = expect_error(&server, &request(2, b"../escape.bin", "octet", &[]));
    assert_eq!(code, ErrorCode::AccessViolation);
    let (code, _, _) = expect_error(&server, &request(2, b"nodir/x.bin", "octet", &[]));
    assert_eq!(code, ErrorCode::AccessViolation);
    let (code, _, _) = expect_error(
        &server,
        &request(2, b"big.bin", "octet", &[("tsize", "100001")]),
    );
    assert_eq!(code, ErrorCode::DiskFull);
    // Too large without announcing it: cut off, nothing left behind.
    let big = random_bytes(150_000, 4);
    let err = rt
        .block_on(client::put(server.addr, "big.bin", &config, &big[..], None))
        .unwrap_err();
    assert!(err.to_string().contains("error 3"), "{err}");
    server.wait_for("the cut-off upload to end", |s| {
        s.transfers_failed == 1 && s.active == 0
    });
    let left: Vec<_> = std::fs::read_dir(writes.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !left
            .iter()
            .any(|n| n.contains("big") || n.contains("tftp-part")),
        "{left:?}"
    );
    assert_eq!(
        server.stats.snapshot().bytes_received,
        70_000 + (100_000 / 1468) * 1468
    );
}

#[test]
fn a_tsize_probe_ended_with_error_8_is_normal() {
    let root = served_dir();
    put_file(root.path(), "booter", &random_bytes(20_000, 9));
    let server = TestServer::start(root.path(), |_| {});
    let s = socket();
    s.send_to(
        &rrq(b"booter", &[("tsize", "0"), ("blksize", "1468")]),
        server.addr,
    )
    .unwrap();
    let (bytes, tid) = recv(&s);
    assert_eq!(bytes, b"\0\x06tsize\x0020000\0blksize\x001468\0");
    s.send_to(b"\0\x05\0\x08User aborted the transfer\0", tid)
        .unwrap();
    server.wait_for("the probe to end", |s| {
        s.option_probes == 1 && s.active == 0
    });
    // Then the real download, as UEFI does.
    s.send_to(&rrq(b"booter", &[("blksize", "1468")]), server.addr)
        .unwrap();
    let (bytes, tid) = recv(&s);
    assert_eq!(bytes, b"\0\x06blksize\x001468\0");
    let mut got = Vec::new();
    s.send_to(b"\0\x04\0\0", tid).unwrap();
    loop {
        let (bytes, from) = recv(&s);
        assert_eq!(from, tid);
        let Ok(Packet::Data(d)) = Packet::decode(&bytes) else {
            panic!("{bytes:?}")
        };
        got.extend_from_slice(d.data);
        s.send_to(&[0, 4, (d.block >> 8) as u8, d.block as u8], tid)
            .unwrap();
        if d.data.len() < 1468 {
            break;
        }
    }
    assert_eq!(sha256(&got), sha256(&random_bytes(20_000, 9)));
    server.wait_for("the download to end", |s| s.transfers_finished == 1);
    let snap = server.stats.snapshot();
    assert_eq!(
        (
            snap.transfers_failed,
            snap.option_probes,
            snap.transfers_started
        ),
        (0, 1, 2)
    );
    let logs = server.logs();
    let probe_line = logs
        .lines()
        .find(|l| l.contains("size probe"))
        .expect(&logs);
    assert!(probe_line.contains("INFO"), "{probe_line}");
    assert!(!logs.contains("WARN"), "{logs}");
    let done = logs
        .lines()
        .find(|l| l.contains("transfer finished"))
        .expect(&logs);
    for field in [
        "peer=127.0.0.1:",
        "file=booter",
        "blksize=1468",
        "bytes=20000",
        "duration_ms=",
    ] {
        assert!(done.contains(field), "{field} missing in {done}");
    }
}

/// Counts what a peer that sends `req` and then `after` (if any) but never
/// acknowledges receives, until the server has been quiet for 2.5 s.
fn never_ack(server: &TestServer, req: &[u8], ack0: bool) -> (Vec<u16>, usize, usize) {
    let s = socket();
    s.send_to(req, server.addr).unwrap();
    let mut opcodes = Vec::new();
    let (mut packets, mut bytes) = (0, 0);
    let started = Instant::now();
    while let Some((b, from)) = recv_within(&s, Duration::from_millis(2500)) {
        if ack0 && packets == 0 {
            s.send_to(b"\0\x04\0\0", from).unwrap();
        }
        packets += 1;
        bytes += b.len();
        opcodes.push(u16::from_be_bytes([b[0], b[1]]));
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the server keeps sending"
        );
    }
    (opcodes, packets, bytes)
}

#[test]
fn a_peer_that_never_acknowledges_gets_a_bounded_stream() {
    let root = served_dir();
    put_file(root.path(), "big.bin", &random_bytes(5_000_000, 1));
    let server = TestServer::start(root.path(), |c| {
        c.retransmit(Retransmit {
            max_retries: 3,
            ..Retransmit::default()
        });
    });
    // No options: DATA 1, four times.
    let (ops, packets, bytes) = never_ack(&server, &rrq(b"big.bin", &[]), false);
    assert_eq!(ops, [3, 3, 3, 3]);
    assert_eq!((packets, bytes), (4, 4 * 516));
    // The largest options asked for: only the small OACK, four times.
    let (ops, _, bytes) = never_ack(
        &server,
        &rrq(
            b"big.bin",
            &[("blksize", "65464"), ("windowsize", "64"), ("timeout", "1")],
        ),
        false,
    );
    assert_eq!(ops, [6, 6, 6, 6]);
    assert!(bytes < 4 * 64, "{bytes}");
    // ACK 0 then silence: the window (64 KiB at most by default) four times.
    let (ops, packets, bytes) = never_ack(
        &server,
        &rrq(b"big.bin", &[("blksize", "1024"), ("windowsize", "64")]),
        true,
    );
    assert_eq!(ops[0], 6);
    assert_eq!(packets, 1 + 4 * 64);
    assert!(bytes <= 100 + 4 * 64 * 1028, "{bytes}");
    server.wait_for("the transfers to fail", |s| {
        s.transfers_failed == 3 && s.active == 0
    });
    assert!(
        server
            .logs()
            .contains("no answer from the peer after 3 retransmissions")
    );
}

#[test]
fn a_stranger_gets_error_5_and_the_transfer_goes_on() {
    let root = served_dir();
    let data = random_bytes(3000, 5);
    put_file(root.path(), "f.bin", &data);
    let server = TestServer::start(root.path(), |_| {});
    let s = socket();
    s.send_to(&rrq(b"f.bin", &[]), server.addr).unwrap();
    let (first, tid) = recv(&s);
    assert_eq!(&first[..4], b"\0\x03\0\x01");
    assert_ne!(tid.port(), server.port());
    // Another port on the same host acknowledges: ERROR 5 to it.
    let stranger = socket();
    stranger.send_to(b"\0\x04\0\x01", tid).unwrap();
    let (answer, from) = recv(&stranger);
    assert_eq!(from, tid);
    let Ok(Packet::Error(e)) = Packet::decode(&answer) else {
        panic!("{answer:?}")
    };
    assert_eq!(e.code, ErrorCode::UnknownTransferId);
    // The real peer's transfer was not disturbed: DATA 2 comes only after
    // its own ACK 1.
    assert!(recv_within(&s, Duration::from_millis(300)).is_none());
    let mut got = first[4..].to_vec();
    let mut block = 1u16;
    loop {
        s.send_to(&[0, 4, 0, block as u8], tid).unwrap();
        let (b, from) = recv(&s);
        assert_eq!(from, tid);
        block += 1;
        assert_eq!(u16::from_be_bytes([b[2], b[3]]), block);
        got.extend_from_slice(&b[4..]);
        if b.len() < 516 {
            s.send_to(&[0, 4, 0, block as u8], tid).unwrap();
            break;
        }
    }
    assert_eq!(got, data);
    server.wait_for("the transfer to finish", |s| s.transfers_finished == 1);
    assert_eq!(server.stats.snapshot().wrong_tid_packets, 1);
}

#[test]
fn a_repeated_request_does_not_start_a_second_transfer() {
    let root = served_dir();
    put_file(root.path(), "f.bin", b"x");
    let server = TestServer::start(root.path(), |_| {});
    let s = socket();
    let req = rrq(b"f.bin", &[("tsize", "0")]);
    for _ in 0..3 {
        s.send_to(&req, server.addr).unwrap();
    }
    let (oack, tid) = recv(&s);
    assert_eq!(oack, b"\0\x06tsize\x001\0");
    // Nothing from any other port.
    while let Some((b, from)) = recv_within(&s, Duration::from_millis(300)) {
        assert_eq!(from, tid, "a second transfer answered: {b:?}");
    }
    assert_eq!(server.stats.snapshot().transfers_started, 1);
    s.send_to(b"\0\x04\0\0", tid).unwrap();
    let (data, _) = recv(&s);
    assert_eq!(data, b"\0\x03\0\x01x");
    s.send_to(b"\0\x04\0\x01", tid).unwrap();
    server.wait_for("the transfer to finish", |s| s.transfers_finished == 1);
}

#[test]
fn two_thousand_transfers_at_once() {
    let root = served_dir();
    let files: Vec<(String, String)> = (0..20)
        .map(|i| {
            let name = format!("f{i}.bin");
            let sum = put_file(
                root.path(),
                &name,
                &random_bytes(10_000 + i * 777, i as u64),
            );
            (name, sum)
        })
        .collect();
    let server = TestServer::start(root.path(), |_| {});
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let n = 2000;
    let started = Instant::now();
    let results = rt.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..n {
            let (name, sum) = files[i % files.len()].clone();
            let addr = server.addr;
            tasks.spawn(async move {
                let mut config = ClientConfig::default();
                config
                    .blksize(1024)
                    .tsize(true)
                    .recv_buffer(64 * 1024)
                    .max_retries(10);
                let (got, t) = client::get(addr, &name, &config, Vec::new()).await.unwrap();
                assert_eq!(sha256(&got), sum);
                t.bytes
            });
        }
        let mut total = 0;
        while let Some(r) = tasks.join_next().await {
            total += r.unwrap();
        }
        total
    });
    // A transfer counts its outcome before it leaves the active count, so
    // wait for both.
    server.wait_for("every transfer to finish and leave", |s| {
        s.transfers_finished == n as u64 && s.active == 0
    });
    let snap = server.stats.snapshot();
    assert_eq!(snap.bytes_sent, results);
    assert_eq!((snap.transfers_failed, snap.active), (0, 0));
    eprintln!(
        "{n} concurrent downloads, {results} bytes, in {:?}",
        started.elapsed()
    );
}

#[test]
fn our_client_and_server_with_windows_netascii_and_rollover() {
    let root = served_dir();
    let big = random_bytes(34 * 1024 * 1024 + 100, 11);
    let big_sum = put_file(root.path(), "big.bin", &big);
    let text = b"one\ntwo\r\nthree\rfour\n".repeat(5000);
    put_file(root.path(), "text.txt", &text);
    let server = TestServer::start(root.path(), |c| {
        c.max_window_bytes(4 << 20);
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for (blksize, windowsize) in [(65464, 64), (1468, 16), (512, 64)] {
        let mut config = ClientConfig::default();
        config.blksize(blksize).windowsize(windowsize).tsize(true);
        let (got, t) = rt
            .block_on(client::get(server.addr, "big.bin", &config, Vec::new()))
            .unwrap();
        assert_eq!(sha256(&got), big_sum);
        assert_eq!(
            (t.params.blksize, t.params.windowsize),
            (blksize, windowsize)
        );
        assert_eq!(t.params.tsize, Some(big.len() as u64));
        assert!(t.options_acknowledged);
        eprintln!("blksize {blksize} window {windowsize}: {:?}", t.elapsed);
    }
    let mut config = ClientConfig::default();
    config.mode(tftp::packet::Mode::Netascii).blksize(100);
    let (got, t) = rt
        .block_on(client::get(server.addr, "text.txt", &config, Vec::new()))
        .unwrap();
    assert_eq!(got, text);
    // On the wire each LF became CR LF and each CR became CR NUL.
    assert_eq!(t.bytes, text.len() as u64 + 5 * 5000);
}

#[test]
fn a_leading_slash_is_relative_to_the_root_when_configured() {
    let root = served_dir();
    let dir = root.path().join("nbi/NetBoot Mac.nbi/i386");
    std::fs::create_dir_all(&dir).unwrap();
    let booter = random_bytes(300_000, 21);
    let sum = put_file(&dir, "booter", &booter);
    let name = "/nbi/NetBoot Mac.nbi/i386/booter";
    // Off by default: an absolute name is refused.
    let server = TestServer::start(root.path(), |_| {});
    let (code, _, _) = expect_error(&server, &rrq(name.as_bytes(), &[]));
    assert_eq!(code, ErrorCode::AccessViolation);
    drop(server);

    let server = TestServer::start(root.path(), |c| {
        c.strip_leading_slash(true);
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut config = ClientConfig::default();
    config.blksize(1468).tsize(true);
    for n in [
        name,
        "nbi/NetBoot Mac.nbi/i386/booter",
        "\\nbi\\NetBoot Mac.nbi\\i386\\booter",
    ] {
        let (got, t) = rt
            .block_on(client::get(server.addr, n, &config, Vec::new()))
            .unwrap();
        assert_eq!(sha256(&got), sum, "{n}");
        assert_eq!(t.params.tsize, Some(booter.len() as u64));
    }
    // Still confined: no parent folders, no network paths, no escape.
    for bad in [
        &b"/../etc/passwd"[..],
        b"/nbi/../../etc/passwd",
        b"//server/share/booter",
        b"/etc/passwd",
    ] {
        let (code, message, _) = expect_error(&server, &rrq(bad, &[]));
        assert!(
            matches!(code, ErrorCode::AccessViolation | ErrorCode::FileNotFound),
            "{:?}: {code:?} {message}",
            String::from_utf8_lossy(bad)
        );
        assert!(!message.contains('/'), "{message}");
    }
    let (code, _, _) = expect_error(&server, &rrq(b"/../etc/passwd", &[]));
    assert_eq!(code, ErrorCode::AccessViolation);
    let (code, _, _) = expect_error(&server, &rrq(b"/etc/passwd", &[]));
    assert_eq!(code, ErrorCode::FileNotFound);
    server.wait_for("the downloads", |s| s.transfers_finished == 3);
}
