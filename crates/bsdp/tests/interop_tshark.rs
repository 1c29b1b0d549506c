//! Our BSDP messages, written to a pcap file, read by Wireshark's BSDP
//! dissector (`tshark`), an independent decoder.

mod common;

use std::net::{SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::Instant;

use bsdp::{Encode, ImageId, InformRequest, Reply, Responder, ResponderConfig};
use common::{CLIENT, MAC, SERVER};
use test_support::{require_peer, run_ok, tempdir};

const FIELDS: &[&str] = &[
    "dhcp.option.vendor.bsdp.message_type",
    "dhcp.option.vendor.bsdp.version",
    "dhcp.option.vendor.bsdp.server_identifier",
    "dhcp.option.vendor.bsdp.server_priority",
    "dhcp.option.vendor.bsdp.default_boot_image_id",
    "dhcp.option.vendor.bsdp.selected_boot_image_id",
    "dhcp.option.vendor.bsdp.boot_image.index",
    "dhcp.option.vendor.bsdp.boot_image.name",
    "dhcp.option.vendor.bsdp.boot_image.attribute",
    "dhcp.option.vendor.bsdp.reply_port",
    "dhcp.option.vendor.bsdp.message_size",
    "dhcp.file",
    "dhcp.ip.server",
    "dhcp.option.root_path",
    "dhcp.option.dhcp",
    "ip.checksum.status",
    "udp.checksum.status",
];

/// One row per frame: field name to its (`;`-joined) value.
fn tshark_fields(pcap: &std::path::Path) -> Vec<std::collections::HashMap<&'static str, String>> {
    let mut cmd = vec![
        "tshark",
        "-r",
        pcap.to_str().unwrap(),
        "-o",
        "ip.check_checksum:TRUE",
        "-o",
        "udp.check_checksum:TRUE",
        "-T",
        "fields",
        "-E",
        "separator=|",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=;",
    ];
    for f in FIELDS {
        cmd.push("-e");
        cmd.push(f);
    }
    let out = String::from_utf8(run_ok(&cmd, b"")).unwrap();
    out.lines()
        .map(|line| {
            let values: Vec<&str> = line.split('|').collect();
            assert_eq!(values.len(), FIELDS.len(), "{line}");
            FIELDS
                .iter()
                .zip(values)
                .map(|(f, v)| (*f, v.to_owned()))
                .collect()
        })
        .collect()
}

fn reply_frame(r: &Reply) -> Vec<u8> {
    common::udp_frame(SocketAddrV4::new(SERVER, 67), r.destination, &r.bytes)
}

#[test]
fn tshark_decodes_our_bsdp_messages() {
    if !require_peer("tshark_decodes_our_bsdp_messages", &["tshark", "--version"]) {
        return;
    }
    let from = SocketAddr::from((CLIENT, 68));
    let now = Instant::now();
    let mut cfg = ResponderConfig::new(SERVER);
    cfg.server_name("netboot.example");
    let mut small = Responder::new(Arc::new(cfg.clone()), Arc::new(common::sample_catalog()));
    let mut big = Responder::new(Arc::new(cfg), Arc::new(common::big_catalog(12)));

    let mut client = InformRequest::new(MAC, CLIENT, "i386", "MacBookPro11,2");
    client.xid = 0x5a3c_1f07;
    client.max_message_size = Some(1500);
    let list = client.list().unwrap().to_vec().unwrap();
    let select = client
        .select(SERVER, ImageId(0x8100_03e9))
        .unwrap()
        .to_vec()
        .unwrap();
    let stale = client
        .select(SERVER, ImageId(0x8100_0fff))
        .unwrap()
        .to_vec()
        .unwrap();
    let mut with_port = client.clone();
    with_port.reply_port = Some(1019);
    let list_port = with_port.list().unwrap().to_vec().unwrap();

    let ack_list = small.handle(&list, from, now).unwrap();
    let ack_split = big.handle(&list, from, now).unwrap();
    let ack_select = small.handle(&select, from, now).unwrap();
    let ack_failed = small.handle(&stale, from, now).unwrap();
    let to_server = |b: &[u8]| {
        common::udp_frame(
            SocketAddrV4::new(CLIENT, 68),
            SocketAddrV4::new(SERVER, 67),
            b,
        )
    };
    let frames = vec![
        to_server(&list),
        reply_frame(&ack_list),
        reply_frame(&ack_split),
        to_server(&select),
        reply_frame(&ack_select),
        reply_frame(&ack_failed),
        to_server(&list_port),
    ];
    let dir = tempdir();
    let path = dir.path().join("bsdp.pcap");
    std::fs::write(&path, common::pcap(&frames)).unwrap();
    let rows = tshark_fields(&path);
    assert_eq!(rows.len(), frames.len());
    for (i, row) in rows.iter().enumerate() {
        // 1 = good: our IPv4 and UDP checksums are right.
        assert_eq!(row["ip.checksum.status"], "1", "frame {i}");
        assert_eq!(row["udp.checksum.status"], "1", "frame {i}");
    }

    // INFORM[LIST]: DHCP type 8, BSDP LIST, version 1.1, max size 1500.
    let r = &rows[0];
    assert_eq!(r["dhcp.option.dhcp"], "8");
    assert_eq!(r["dhcp.option.vendor.bsdp.message_type"], "1");
    assert_eq!(r["dhcp.option.vendor.bsdp.version"], "0x0101");
    assert_eq!(r["dhcp.option.vendor.bsdp.message_size"], "1500");

    // ACK[LIST]: priority, default image, both images with names and attributes.
    let r = &rows[1];
    assert_eq!(r["dhcp.option.dhcp"], "5");
    assert_eq!(r["dhcp.option.vendor.bsdp.message_type"], "1");
    assert_eq!(r["dhcp.option.vendor.bsdp.server_priority"], "32768");
    assert_eq!(
        r["dhcp.option.vendor.bsdp.default_boot_image_id"],
        "0x810003e9"
    );
    // The dissector lists the default image's index first, then the list's.
    assert_eq!(
        r["dhcp.option.vendor.bsdp.boot_image.index"],
        "0x03e9;0x03e9;0x03ea"
    );
    assert_eq!(
        r["dhcp.option.vendor.bsdp.boot_image.name"],
        "macOS 10.13 NetInstall;Diagnostics NetBoot"
    );
    assert_eq!(
        r["dhcp.option.vendor.bsdp.boot_image.attribute"],
        "0x8100;0x8100;0x0100"
    );
    assert_eq!(r["dhcp.ip.server"], SERVER.to_string());

    // ACK[LIST] split over several option-43 instances: all 12 images.
    let r = &rows[2];
    let names: Vec<&str> = r["dhcp.option.vendor.bsdp.boot_image.name"]
        .split(';')
        .collect();
    assert_eq!(names.len(), 12, "{names:?}");
    assert_eq!(names[0], "NetInstall image number 00 macOS");
    assert_eq!(names[11], "NetInstall image number 11 macOS");
    let indexes: Vec<&str> = r["dhcp.option.vendor.bsdp.boot_image.index"]
        .split(';')
        .collect();
    assert_eq!(indexes.len(), 13);
    assert_eq!(indexes[12], "0x006f");

    // INFORM[SELECT]: server identifier and selected image.
    let r = &rows[3];
    assert_eq!(r["dhcp.option.vendor.bsdp.message_type"], "2");
    assert_eq!(
        r["dhcp.option.vendor.bsdp.server_identifier"],
        SERVER.to_string()
    );
    assert_eq!(
        r["dhcp.option.vendor.bsdp.selected_boot_image_id"],
        "0x810003e9"
    );

    // ACK[SELECT]: selected image, booter, TFTP server, root path.
    let r = &rows[4];
    assert_eq!(r["dhcp.option.vendor.bsdp.message_type"], "2");
    assert_eq!(
        r["dhcp.option.vendor.bsdp.selected_boot_image_id"],
        "0x810003e9"
    );
    assert_eq!(r["dhcp.file"], "NetInstall.nbi/i386/booter");
    assert_eq!(r["dhcp.ip.server"], SERVER.to_string());
    assert_eq!(
        r["dhcp.option.root_path"],
        "http://192.168.56.1/NetInstall.nbi/NetInstall.dmg"
    );

    // ACK[FAILED].
    let r = &rows[5];
    assert_eq!(r["dhcp.option.dhcp"], "5");
    assert_eq!(r["dhcp.option.vendor.bsdp.message_type"], "3");
    assert_eq!(r["dhcp.option.vendor.bsdp.selected_boot_image_id"], "");

    // Reply port.
    assert_eq!(rows[6]["dhcp.option.vendor.bsdp.reply_port"], "1019");
}
