//! TFTP packets: decoding any datagram never panics; a decoded packet
//! encodes back to the same bytes (the mode in lower case, a missing NUL
//! after an ERROR message added), to exactly `encoded_len` of them, and
//! those decode to the same packet. A request's options go through the
//! server's negotiation and the answer's OACK through the client's check;
//! its file name through the path rules; DATA through netascii decoding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tftp::packet::{Decode, Encode, Packet};
use tftp::{Limits, RequestOptions, RequestPath};

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = Packet::decode(data) else {
        return;
    };
    let mut buf = vec![0u8; packet.encoded_len()];
    let n = packet.encode(&mut buf).expect("encoded_len is enough");
    assert_eq!(n, buf.len());
    // The mode is matched in any case and written in lower case; every
    // other byte comes back as it was.
    // An ERROR message without its NUL is accepted and the NUL added.
    let mut expected = data.to_vec();
    match &packet {
        Packet::Rrq(req) | Packet::Wrq(req) => {
            let start = 2 + req.filename.len() + 1;
            let end = start + expected[start..].iter().position(|&b| b == 0).unwrap_or(0);
            expected[start..end].make_ascii_lowercase();
        }
        Packet::Error(_) if data.last() != Some(&0) || data.len() == 4 => expected.push(0),
        _ => {}
    }
    assert_eq!(buf, expected, "re-encoding changed the bytes: {packet:?}");
    assert_eq!(Packet::decode(&buf).as_ref(), Ok(&packet));
    if n > 0 {
        assert!(packet.encode(&mut buf[..n - 1]).is_err());
    }
    match packet {
        Packet::Rrq(req) | Packet::Wrq(req) => {
            let is_write = matches!(packet, Packet::Wrq(_));
            for strip in [false, true] {
                if let Ok(p) = RequestPath::parse(req.filename, strip) {
                    assert!(!p.components().is_empty());
                    assert!(
                        p.components()
                            .iter()
                            .all(|c| c != ".." && !c.contains(['/', '\\']))
                    );
                }
            }
            let limits = Limits::default();
            if let Ok(n) = tftp::Negotiation::for_request(&req, is_write, Some(123_456), &limits) {
                let p = n.params;
                assert!((8..=65464).contains(&p.blksize));
                assert!(p.windowsize >= 1);
                assert!(
                    p.windowsize == 1
                        || usize::from(p.blksize) * usize::from(p.windowsize)
                            <= limits.max_window_bytes
                );
                let mut oack = vec![0u8; 200];
                let len = n.encode_oack(&mut oack).expect("an OACK fits in 200 bytes");
                // What the server acknowledges, a client asking for the
                // largest values accepts.
                if let Ok(Packet::Oack(list)) = Packet::decode(&oack[..len]) {
                    let asked = RequestOptions {
                        blksize: Some(65464),
                        windowsize: Some(65535),
                        timeout: n
                            .accepted()
                            .iter()
                            .find(|(k, _)| *k == tftp::options::OptionKind::Timeout)
                            .map(|&(_, v)| v as u8),
                        tsize: Some(0),
                    };
                    let got = asked.accept_oack(&list, p.timeout).expect("our own OACK");
                    assert_eq!((got.blksize, got.windowsize), (p.blksize, p.windowsize));
                }
            }
        }
        Packet::Data(d) => {
            let mut out = vec![0u8; tftp::netascii::Decoder::max_output(d.data.len())];
            let mut decoder = tftp::netascii::Decoder::new();
            let written = decoder.decode(d.data, &mut out);
            assert!(written <= d.data.len() + 1);
            let _ = decoder.finish();
        }
        Packet::Oack(list) => {
            let _ = RequestOptions::default().accept_oack(&list, std::time::Duration::from_secs(1));
        }
        Packet::Ack(_) | Packet::Error(_) => {}
    }
});
