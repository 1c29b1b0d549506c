//! The state machines against each other on a simulated clock and a
//! channel that loses, duplicates and reorders, and against scripted peers.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::*;
use crate::options::{Limits, Negotiation, RequestOptions};
use crate::packet::{Decode, ErrorCode, Mode, Packet};

/// A small deterministic random generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p && p > 0.0
    }
}

#[derive(Clone, Copy, Debug)]
struct Channel {
    loss: f64,
    dup: f64,
    reorder: f64,
    seed: u64,
}

impl Channel {
    const CLEAN: Self = Self {
        loss: 0.0,
        dup: 0.0,
        reorder: 0.0,
        seed: 1,
    };
}

/// Datagrams in flight, by delivery time and sequence.
struct Link {
    queue: BTreeMap<(Instant, u64), (bool, Vec<u8>)>,
    seq: u64,
    rng: Rng,
    ch: Channel,
    anomalies: u64,
}

impl Link {
    fn send(&mut self, now: Instant, to_server: bool, bytes: &[u8]) {
        if self.rng.chance(self.ch.loss) {
            self.anomalies += 1;
            return;
        }
        let copies = if self.rng.chance(self.ch.dup) { 2 } else { 1 };
        if copies == 2 {
            self.anomalies += 1;
        }
        for _ in 0..copies {
            let mut delay = Duration::from_millis(1);
            if self.rng.chance(self.ch.reorder) {
                self.anomalies += 1;
                delay += Duration::from_micros(self.rng.next() % 5000);
            }
            self.seq += 1;
            self.queue
                .insert((now + delay, self.seq), (to_server, bytes.to_vec()));
        }
    }
}

struct PairResult {
    received: Vec<u8>,
    client_events: Vec<Event>,
    server_events: Vec<Event>,
    server_data_packets: u64,
    server_oack_packets: u64,
    data_blocks_seen: Vec<u16>,
    anomalies: u64,
    server_summary: Summary,
}

/// A client downloading `data` from a server over `ch`.
fn download(
    data: &[u8],
    mode: Mode,
    options: RequestOptions,
    limits: &Limits,
    ch: Channel,
    max_retries: u32,
) -> PairResult {
    // A long dally: with a quarter of the packets lost, the server may
    // need many tries to get the last ACK through.
    let retransmit = Retransmit {
        max_retries,
        dally: Duration::from_secs(30),
    };
    let mut now = Instant::now();
    let mut link = Link {
        queue: BTreeMap::new(),
        seq: 0,
        rng: Rng(ch.seed | 1),
        ch,
        anomalies: 0,
    };
    let mut client = Receiver::for_read_request(
        Vec::new(),
        b"file",
        mode,
        options,
        Duration::from_secs(1),
        retransmit,
    );
    let mut server: Option<Sender<&[u8]>> = None;
    let mut buf = vec![0u8; transmit_buffer_len(65464)];
    let mut result = PairResult {
        received: Vec::new(),
        client_events: Vec::new(),
        server_events: Vec::new(),
        server_data_packets: 0,
        server_oack_packets: 0,
        data_blocks_seen: Vec::new(),
        anomalies: 0,
        server_summary: Summary::default(),
    };
    for _ in 0..10_000_000 {
        while let Some(n) = client.poll_transmit(now, &mut buf) {
            link.send(now, true, &buf[..n]);
        }
        if let Some(s) = &mut server {
            while let Some(n) = s.poll_transmit(now, &mut buf) {
                match Packet::decode(&buf[..n]) {
                    Ok(Packet::Data(d)) => {
                        result.server_data_packets += 1;
                        result.data_blocks_seen.push(d.block);
                    }
                    Ok(Packet::Oack(_)) => result.server_oack_packets += 1,
                    _ => {}
                }
                link.send(now, false, &buf[..n]);
            }
        }
        result
            .client_events
            .extend(std::iter::from_fn(|| client.poll_event()));
        if let Some(s) = &mut server {
            result
                .server_events
                .extend(std::iter::from_fn(|| s.poll_event()));
        }
        let server_done = server.as_ref().is_none_or(|s| s.is_finished());
        if client.is_finished() && server_done {
            break;
        }
        let next = [
            link.queue.keys().next().map(|k| k.0),
            client.poll_timeout(),
            server.as_ref().and_then(|s| s.poll_timeout()),
        ]
        .into_iter()
        .flatten()
        .min();
        let Some(next) = next else { break };
        now = now.max(next);
        while let Some(entry) = link.queue.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let (to_server, bytes) = entry.remove();
            if to_server {
                match &mut server {
                    Some(s) => s.handle_datagram(now, &bytes),
                    None => {
                        let Ok(Packet::Rrq(r)) = Packet::decode(&bytes) else {
                            panic!("the first packet is not an RRQ")
                        };
                        let n =
                            Negotiation::for_request(&r, false, Some(data.len() as u64), limits)
                                .unwrap();
                        server = Some(Sender::for_read_request(data, r.mode, &n, retransmit));
                    }
                }
            } else {
                client.handle_datagram(now, &bytes);
            }
        }
        client.handle_timeout(now);
        if let Some(s) = &mut server {
            s.handle_timeout(now);
        }
    }
    result.anomalies = link.anomalies;
    result.server_summary = server.as_ref().map(|s| s.summary()).unwrap_or_default();
    result.received = client.into_sink();
    result
}

fn finished(events: &[Event]) -> Option<Summary> {
    events.iter().find_map(|e| match e {
        Event::Finished(s) => Some(*s),
        _ => None,
    })
}

fn data_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..6000),
        proptest::collection::vec(prop_oneof![Just(b'\r'), Just(b'\n'), Just(b'a')], 0..3000),
        // Exact multiples of the usual block sizes.
        (0usize..6).prop_map(|k| vec![0x42; k * 512]),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn pair_delivers_exact_bytes_over_a_bad_channel(
        data in data_strategy(),
        netascii in any::<bool>(),
        blksize in prop_oneof![Just(8u16), Just(512), Just(1000), Just(1468)],
        windowsize in 1u16..10,
        loss in 0.0f64..0.25,
        dup in 0.0f64..0.25,
        reorder in 0.0f64..0.25,
        seed in any::<u64>(),
    ) {
        let mode = if netascii { Mode::Netascii } else { Mode::Octet };
        let options = RequestOptions {
            blksize: Some(blksize),
            windowsize: Some(windowsize),
            tsize: Some(0),
            timeout: None,
        };
        let ch = Channel { loss, dup, reorder, seed };
        let r = download(&data, mode, options, &Limits::default(), ch, 100);
        prop_assert_eq!(&r.received, &data);
        let client = finished(&r.client_events);
        let server = finished(&r.server_events);
        prop_assert!(client.is_some(), "client: {:?}", r.client_events);
        prop_assert!(server.is_some(), "server: {:?}", r.server_events);
        // Retransmissions stay in proportion to what the channel did to
        // the packets: a window at most per loss, copy or reordering, and
        // a few more for the timeouts that a loss causes.
        let w = u64::from(windowsize);
        let s = r.server_summary;
        prop_assert!(
            s.retransmitted <= 4 * w * (r.anomalies + 1),
            "{} retransmitted for {} anomalies", s.retransmitted, r.anomalies
        );
        // Every packet is a first DATA, the first OACK, or counted as a repeat.
        prop_assert_eq!(r.server_data_packets + r.server_oack_packets, s.blocks + s.retransmitted + 1);
    }

    #[test]
    fn duplicates_alone_never_cause_a_retransmission(
        data in proptest::collection::vec(any::<u8>(), 0..20_000),
        windowsize in 1u16..8,
        dup in 0.0f64..0.9,
        seed in any::<u64>(),
    ) {
        let options = RequestOptions { windowsize: Some(windowsize), ..RequestOptions::default() };
        let ch = Channel { dup, seed, ..Channel::CLEAN };
        let r = download(&data, Mode::Octet, options, &Limits::default(), ch, 5);
        prop_assert_eq!(&r.received, &data);
        prop_assert_eq!(r.server_summary.retransmitted, 0);
        prop_assert_eq!(r.server_data_packets, data.len() as u64 / 512 + 1);
    }
}

#[test]
fn size_multiple_of_blksize_ends_with_an_empty_block() {
    let data = vec![1u8; 1024];
    let r = download(
        &data,
        Mode::Octet,
        RequestOptions::default(),
        &Limits::default(),
        Channel::CLEAN,
        5,
    );
    assert_eq!(r.received, data);
    assert_eq!(r.data_blocks_seen, [1, 2, 3]);
    assert_eq!(r.server_summary.blocks, 3);
    let r = download(
        &[],
        Mode::Octet,
        RequestOptions::default(),
        &Limits::default(),
        Channel::CLEAN,
        5,
    );
    assert_eq!(r.data_blocks_seen, [1]);
    assert!(finished(&r.client_events).is_some());
}

#[test]
fn block_numbers_roll_over_to_zero() {
    // 70,000 blocks of 8 bytes: past block 65535 on to 0, 1, ...
    let data: Vec<u8> = (0..70_000u32 * 8 + 3).map(|i| (i % 251) as u8).collect();
    let options = RequestOptions {
        blksize: Some(8),
        windowsize: Some(16),
        ..RequestOptions::default()
    };
    let ch = Channel {
        loss: 0.001,
        seed: 7,
        ..Channel::CLEAN
    };
    let r = download(&data, Mode::Octet, options, &Limits::default(), ch, 20);
    assert_eq!(r.received.len(), data.len());
    assert!(r.received == data);
    let first_zero = r.data_blocks_seen.iter().position(|&b| b == 0).unwrap();
    assert_eq!(r.data_blocks_seen[first_zero - 1], 65535);
    assert_eq!(
        *r.data_blocks_seen.last().unwrap(),
        (70_001 % 65_536) as u16
    );
    assert_eq!(finished(&r.server_events).unwrap().blocks, 70_001);
}

/// Drives a lone sender whose peer never answers; returns the packets
/// and bytes it sent and how it ended.
fn unanswered(mut s: Sender<&[u8]>, ack0: bool) -> (usize, usize, Vec<Event>) {
    let mut now = Instant::now();
    let mut buf = vec![0u8; transmit_buffer_len(65464)];
    let (mut packets, mut bytes) = (0, 0);
    if ack0 {
        while s.poll_transmit(now, &mut buf).is_some() {}
        s.handle_datagram(now, &[0, 4, 0, 0]);
    }
    for _ in 0..1000 {
        while let Some(n) = s.poll_transmit(now, &mut buf) {
            packets += 1;
            bytes += n;
        }
        match s.poll_timeout() {
            Some(t) => {
                now = t;
                s.handle_timeout(now);
            }
            None => break,
        }
    }
    assert!(s.is_finished());
    (
        packets,
        bytes,
        std::iter::from_fn(|| s.poll_event()).collect(),
    )
}

fn negotiate(rrq: &[u8], size: u64, limits: &Limits) -> (Mode, Negotiation) {
    let Ok(Packet::Rrq(r)) = Packet::decode(rrq) else {
        panic!()
    };
    (
        r.mode,
        Negotiation::for_request(&r, false, Some(size), limits).unwrap(),
    )
}

#[test]
fn a_peer_that_never_answers_gets_a_bounded_number_of_packets() {
    let file = vec![0u8; 10_000_000];
    let rt = Retransmit {
        max_retries: 4,
        ..Retransmit::default()
    };
    // No options: DATA 1, five times.
    let (mode, n) = negotiate(b"\0\x01f\0octet\0", 1, &Limits::default());
    let (packets, bytes, events) = unanswered(Sender::for_read_request(&file, mode, &n, rt), false);
    assert_eq!((packets, bytes), (5, 5 * 516));
    assert!(matches!(
        events.last(),
        Some(Event::Failed(TransferError::TimedOut { retries: 4 }))
    ));
    // Options: the OACK, five times, and no data at all.
    let (mode, n) = negotiate(
        b"\0\x01f\0octet\0blksize\x0065464\0windowsize\x0064\0",
        1,
        &Limits::default(),
    );
    let (packets, bytes, _) = unanswered(Sender::for_read_request(&file, mode, &n, rt), false);
    assert_eq!(packets, 5);
    assert!(bytes < 5 * 40, "{bytes}");
    // After ACK 0: a window (capped at 64 KiB) five times.
    let (mode, n) = negotiate(
        b"\0\x01f\0octet\0blksize\x001024\0windowsize\x0064\0",
        1,
        &Limits::default(),
    );
    assert_eq!(n.params.windowsize, 64);
    let (packets, bytes, _) = unanswered(Sender::for_read_request(&file, mode, &n, rt), true);
    assert_eq!(packets, 5 * 64);
    assert!(bytes <= 5 * 64 * 1028, "{bytes}");
}

#[test]
fn a_duplicate_ack_does_not_resend() {
    let file = vec![9u8; 3000];
    let (mode, n) = negotiate(b"\0\x01f\0octet\0", 3000, &Limits::default());
    let mut s = Sender::for_read_request(&file[..], mode, &n, Retransmit::default());
    let now = Instant::now();
    let mut buf = [0u8; 600];
    assert_eq!(s.poll_transmit(now, &mut buf), Some(516));
    s.handle_datagram(now, &[0, 4, 0, 1]);
    assert_eq!(s.poll_transmit(now, &mut buf), Some(516));
    assert_eq!(&buf[..4], &[0, 3, 0, 2]);
    // The ACK 1 again, many times: nothing goes out.
    for _ in 0..10 {
        s.handle_datagram(now, &[0, 4, 0, 1]);
        assert_eq!(s.poll_transmit(now, &mut buf), None);
    }
    // An ACK for a block never sent, and garbage: ignored too.
    s.handle_datagram(now, &[0, 4, 0, 9]);
    s.handle_datagram(now, &[0, 4]);
    assert_eq!(s.poll_transmit(now, &mut buf), None);
    assert_eq!(s.summary().duplicates, 12);
    // Only the timeout resends DATA 2.
    s.handle_timeout(now + Duration::from_secs(1));
    assert_eq!(s.poll_transmit(now, &mut buf), Some(516));
    assert_eq!(&buf[..4], &[0, 3, 0, 2]);
}

#[test]
fn tsize_probe_aborted_with_error_8() {
    let file = vec![0u8; 20_000_000];
    let (mode, n) = negotiate(
        b"\0\x01f\0octet\0tsize\x000\0blksize\x001468\0",
        20_000_000,
        &Limits::default(),
    );
    let mut s = Sender::for_read_request(&file[..], mode, &n, Retransmit::default());
    let now = Instant::now();
    let mut buf = [0u8; 2000];
    let len = s.poll_transmit(now, &mut buf).unwrap();
    assert_eq!(&buf[..len], b"\0\x06tsize\x0020000000\0blksize\x001468\0");
    s.handle_datagram(now, b"\0\x05\0\x08User aborted the transfer\0");
    assert!(s.is_finished());
    assert_eq!(s.poll_transmit(now, &mut buf), None);
    let Some(Event::Failed(e)) = s.poll_event() else {
        panic!()
    };
    assert!(e.is_option_probe(), "{e}");
}

#[test]
fn client_refuses_an_oack_it_did_not_ask_for() {
    let opts = RequestOptions {
        blksize: Some(1024),
        ..RequestOptions::default()
    };
    let mut c = Receiver::for_read_request(
        Vec::new(),
        b"f",
        Mode::Octet,
        opts,
        Duration::from_secs(1),
        Retransmit::default(),
    );
    let now = Instant::now();
    let mut buf = [0u8; 600];
    let n = c.poll_transmit(now, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"\0\x01f\0octet\0blksize\x001024\0");
    c.handle_datagram(now, b"\0\x06blksize\x002048\0");
    let n = c.poll_transmit(now, &mut buf).unwrap();
    assert_eq!(&buf[..4], &[0, 5, 0, 8]);
    assert!(n > 5);
    assert!(c.is_finished());
    assert!(matches!(
        c.poll_event(),
        Some(Event::Failed(TransferError::BadOack(_)))
    ));
}

#[test]
fn client_falls_back_when_the_server_ignores_options() {
    let opts = RequestOptions {
        blksize: Some(1024),
        tsize: Some(0),
        ..RequestOptions::default()
    };
    let mut c = Receiver::for_read_request(
        Vec::new(),
        b"f",
        Mode::Octet,
        opts,
        Duration::from_secs(1),
        Retransmit::default(),
    );
    let now = Instant::now();
    let mut buf = [0u8; 600];
    c.poll_transmit(now, &mut buf).unwrap();
    let mut data = vec![0, 3, 0, 1];
    data.extend_from_slice(&[5; 512]);
    c.handle_datagram(now, &data);
    assert_eq!(c.poll_transmit(now, &mut buf), Some(4));
    assert_eq!(&buf[..4], &[0, 4, 0, 1]);
    c.handle_datagram(now, &[0, 3, 0, 2, 6]);
    assert_eq!(c.poll_transmit(now, &mut buf), Some(4));
    assert!(c.is_complete());
    assert_eq!(c.params().blksize, 512);
    let mut got = c.into_sink();
    assert_eq!(got.pop(), Some(6));
    assert_eq!(got, vec![5; 512]);
}

#[test]
fn receiver_acks_a_gap_once_and_a_window_at_its_end() {
    let opts = RequestOptions {
        windowsize: Some(4),
        ..RequestOptions::default()
    };
    let mut c = Receiver::for_read_request(
        Vec::new(),
        b"f",
        Mode::Octet,
        opts,
        Duration::from_secs(1),
        Retransmit::default(),
    );
    let now = Instant::now();
    let mut buf = [0u8; 600];
    c.poll_transmit(now, &mut buf).unwrap();
    c.handle_datagram(now, b"\0\x06windowsize\x004\0");
    assert_eq!(c.poll_transmit(now, &mut buf), Some(4));
    assert_eq!(&buf[..4], &[0, 4, 0, 0]);
    let block = |n: u8| {
        let mut d = vec![0, 3, 0, n];
        d.extend_from_slice(&[n; 512]);
        d
    };
    c.handle_datagram(now, &block(1));
    assert_eq!(c.poll_transmit(now, &mut buf), None);
    // 2 lost: 3 and 4 get one ACK 1 between them.
    c.handle_datagram(now, &block(3));
    assert_eq!(c.poll_transmit(now, &mut buf), Some(4));
    assert_eq!(&buf[..4], &[0, 4, 0, 1]);
    c.handle_datagram(now, &block(4));
    assert_eq!(c.poll_transmit(now, &mut buf), None);
    // The sender resumes at 2: a window of 2, 3, 4, 5 is acknowledged at 5.
    for n in 2..=4 {
        c.handle_datagram(now, &block(n));
        assert_eq!(c.poll_transmit(now, &mut buf), None);
    }
    c.handle_datagram(now, &block(5));
    assert_eq!(c.poll_transmit(now, &mut buf), Some(4));
    assert_eq!(&buf[..4], &[0, 4, 0, 5]);
    // A copy of 5 after that ACK: the ACK once more (it may have been lost).
    c.handle_datagram(now, &block(5));
    assert_eq!(c.poll_transmit(now, &mut buf), Some(4));
    c.handle_datagram(now, &block(5));
    assert_eq!(c.poll_transmit(now, &mut buf), None);
}

#[test]
fn upload_limit_and_oversized_data() {
    let Ok(Packet::Wrq(r)) = Packet::decode(b"\0\x02up\0octet\0") else {
        panic!()
    };
    let n = Negotiation::for_request(&r, true, None, &Limits::default()).unwrap();
    let mut s = Receiver::for_write_request(
        Vec::new(),
        Mode::Octet,
        &n,
        Some(1000),
        Retransmit::default(),
    );
    let now = Instant::now();
    let mut buf = [0u8; 600];
    assert_eq!(s.poll_transmit(now, &mut buf), Some(4));
    assert_eq!(&buf[..4], &[0, 4, 0, 0]);
    let mut d = vec![0, 3, 0, 1];
    d.extend_from_slice(&[1; 512]);
    s.handle_datagram(now, &d);
    assert_eq!(s.poll_transmit(now, &mut buf), Some(4));
    d[3] = 2;
    s.handle_datagram(now, &d);
    let len = s.poll_transmit(now, &mut buf).unwrap();
    let Ok(Packet::Error(e)) = Packet::decode(&buf[..len]) else {
        panic!()
    };
    assert_eq!(e.code, ErrorCode::DiskFull);
    assert!(s.is_finished());

    let mut s =
        Receiver::for_write_request(Vec::new(), Mode::Octet, &n, None, Retransmit::default());
    s.poll_transmit(now, &mut buf);
    let mut d = vec![0, 3, 0, 1];
    d.extend_from_slice(&[1; 513]);
    s.handle_datagram(now, &d);
    let len = s.poll_transmit(now, &mut buf).unwrap();
    assert_eq!(&buf[..4], &[0, 5, 0, 4]);
    assert!(len > 5);
    assert!(matches!(
        std::iter::from_fn(|| s.poll_event()).last(),
        Some(Event::Failed(TransferError::Protocol(_)))
    ));
}

#[test]
fn upload_pair_with_options_and_netascii() {
    // A client Sender (WRQ) against a server Receiver, on a clean channel
    // driven by hand.
    let text = b"line one\nline two\r\nbare\rcr\n".repeat(100);
    let opts = RequestOptions {
        blksize: Some(100),
        windowsize: Some(3),
        tsize: Some(text.len() as u64),
        timeout: Some(2),
    };
    let mut c = Sender::for_write_request(
        &text[..],
        b"up.txt",
        Mode::Netascii,
        opts,
        Duration::from_secs(1),
        Retransmit::default(),
    );
    let now = Instant::now();
    let mut buf = vec![0u8; 1000];
    let n = c.poll_transmit(now, &mut buf).unwrap();
    let Ok(Packet::Wrq(r)) = Packet::decode(&buf[..n]) else {
        panic!()
    };
    let neg = Negotiation::for_request(&r, true, None, &Limits::default()).unwrap();
    assert_eq!(neg.params.timeout, Duration::from_secs(2));
    let mut s = Receiver::for_write_request(Vec::new(), r.mode, &neg, None, Retransmit::default());
    let mut out = vec![0u8; 1000];
    for _ in 0..10_000 {
        while let Some(n) = s.poll_transmit(now, &mut out) {
            c.handle_datagram(now, &out[..n]);
        }
        while let Some(n) = c.poll_transmit(now, &mut buf) {
            s.handle_datagram(now, &buf[..n]);
        }
        if c.is_finished() {
            break;
        }
    }
    assert!(c.is_finished());
    assert!(s.is_complete());
    assert_eq!(c.params().windowsize, 3);
    assert_eq!(s.into_sink(), text);
    assert!(matches!(
        std::iter::from_fn(|| c.poll_event()).last(),
        Some(Event::Finished(_))
    ));
}

#[test]
fn receiver_gives_up_after_its_retries() {
    let mut c = Receiver::for_read_request(
        Vec::new(),
        b"f",
        Mode::Octet,
        RequestOptions::default(),
        Duration::from_secs(1),
        Retransmit {
            max_retries: 2,
            ..Retransmit::default()
        },
    );
    let mut now = Instant::now();
    let mut buf = [0u8; 600];
    let mut sent = 0;
    while !c.is_finished() {
        while c.poll_transmit(now, &mut buf).is_some() {
            sent += 1;
        }
        let Some(t) = c.poll_timeout() else { break };
        now = t;
        c.handle_timeout(now);
    }
    assert_eq!(sent, 3);
    assert!(matches!(
        c.poll_event(),
        Some(Event::Failed(TransferError::TimedOut { retries: 2 }))
    ));
}
