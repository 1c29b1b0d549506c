//! Helpers shared by the integration tests: a sample catalogue and a
//! libpcap writer (Ethernet, IPv4 and UDP headers with real checksums).

#![allow(dead_code, unreachable_pub)]

use std::net::{Ipv4Addr, SocketAddrV4};

use bsdp::{Catalog, CatalogImage, ImageInfo, ImageKind, ImageType};

pub const SERVER: Ipv4Addr = Ipv4Addr::new(192, 168, 56, 1);
pub const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 168, 56, 20);
pub const MAC: [u8; 6] = [0xa8, 0x20, 0x66, 0x12, 0x34, 0x56];

pub fn image(index: u16, name: &str, dir: &str) -> CatalogImage {
    CatalogImage {
        info: ImageInfo {
            index,
            name: name.into(),
            image_type: ImageType::Http,
            boot_file: "booter".into(),
            root_path: Some("NetInstall.dmg".into()),
            is_enabled: true,
            is_install: false,
            is_default: false,
            kind: ImageKind::MAC_OS_X,
            architectures: vec!["i386".into()],
            enabled_system_identifiers: vec![],
            disabled_system_identifiers: vec![],
            enabled_mac_addresses: vec![],
            disabled_mac_addresses: vec![],
            filter_only: false,
            load_balance_server: None,
            supports_diskless: false,
            description: None,
        },
        dir_name: dir.into(),
    }
}

/// The images of the synthetic exchange: a default install image 1001 and
/// a diagnostics NetBoot 1002.
pub fn sample_catalog() -> Catalog {
    let mut install = image(1001, "macOS 10.13 NetInstall", "NetInstall.nbi");
    install.info.is_install = true;
    install.info.is_default = true;
    let diag = image(1002, "Diagnostics NetBoot", "Diagnostics.nbi");
    Catalog::new(vec![install, diag]).0
}

/// `n` images with long names, enough for a list over 255 bytes.
pub fn big_catalog(n: u16) -> Catalog {
    let images = (0..n)
        .map(|i| {
            let mut im = image(
                100 + i,
                &format!("NetInstall image number {i:02} macOS"),
                &format!("img{i}.nbi"),
            );
            im.info.is_install = i % 2 == 0;
            im.info.is_default = i == 0;
            im
        })
        .collect();
    Catalog::new(images).0
}

fn checksum(chunks: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    let mut odd: Option<u8> = None;
    for chunk in chunks {
        for &b in *chunk {
            match odd.take() {
                Some(hi) => sum += u32::from(u16::from_be_bytes([hi, b])),
                None => odd = Some(b),
            }
        }
    }
    if let Some(hi) = odd {
        sum += u32::from(u16::from_be_bytes([hi, 0]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An Ethernet frame carrying `payload` in UDP from `src` to `dst`.
pub fn udp_frame(src: SocketAddrV4, dst: SocketAddrV4, payload: &[u8]) -> Vec<u8> {
    let udp_len = 8 + payload.len();
    let mut udp = Vec::with_capacity(udp_len);
    udp.extend_from_slice(&src.port().to_be_bytes());
    udp.extend_from_slice(&dst.port().to_be_bytes());
    udp.extend_from_slice(&(udp_len as u16).to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(payload);
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&src.ip().octets());
    pseudo.extend_from_slice(&dst.ip().octets());
    pseudo.extend_from_slice(&[0, 17]);
    pseudo.extend_from_slice(&(udp_len as u16).to_be_bytes());
    let mut c = checksum(&[&pseudo, &udp]);
    if c == 0 {
        c = 0xffff;
    }
    udp[6..8].copy_from_slice(&c.to_be_bytes());

    let total = 20 + udp_len;
    let mut ip = vec![0x45, 0, 0, 0, 0, 1, 0, 0, 64, 17, 0, 0];
    ip[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    ip.extend_from_slice(&src.ip().octets());
    ip.extend_from_slice(&dst.ip().octets());
    let c = checksum(&[&ip]);
    ip[10..12].copy_from_slice(&c.to_be_bytes());

    let mut frame = Vec::with_capacity(14 + total);
    frame.extend_from_slice(&MAC); // to the client
    frame.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x01]);
    frame.extend_from_slice(&[0x08, 0x00]);
    frame.extend_from_slice(&ip);
    frame.extend_from_slice(&udp);
    frame
}

/// A libpcap file (microsecond time stamps, Ethernet link type).
pub fn pcap(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&65_535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    for (i, f) in frames.iter().enumerate() {
        out.extend_from_slice(&(1_700_000_000u32 + i as u32).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(f);
    }
    out
}

/// Reads the frames of a little- or big-endian microsecond libpcap file
/// with Ethernet frames, returning each frame's UDP payload.
pub fn pcap_udp_payloads(bytes: &[u8]) -> Vec<Vec<u8>> {
    let le = match &bytes[..4] {
        [0xd4, 0xc3, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] => false,
        other => panic!("not a libpcap file: {other:?}"),
    };
    let u32_at = |i: usize| {
        let a = [bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]];
        if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    };
    assert_eq!(u32_at(20), 1, "Ethernet link type");
    let mut out = Vec::new();
    let mut i = 24;
    while i + 16 <= bytes.len() {
        let caplen = u32_at(i + 8) as usize;
        let frame = &bytes[i + 16..i + 16 + caplen];
        assert_eq!(&frame[12..14], &[0x08, 0x00], "IPv4");
        let ihl = usize::from(frame[14] & 0x0f) * 4;
        let udp = &frame[14 + ihl..];
        let udp_len = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
        out.push(udp[8..udp_len].to_vec());
        i += 16 + caplen;
    }
    out
}
