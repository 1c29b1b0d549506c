//! BSDP packets built by scapy (an independent DHCP implementation) are
//! decoded and answered; our replies are read back by scapy.

mod common;

use std::net::{SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::Instant;

use bsdp::dhcp::{BOOTP_MIN_LEN, code};
use bsdp::{
    Ack, BsdpMessageType, BsdpOptions, Decode, ImageId, MessageType, Op, Packet, Responder,
    ResponderConfig, VendorClass,
};
use common::{CLIENT, MAC, SERVER};
use test_support::{python_ok, require_python};

/// Builds a BOOTP/DHCP INFORM with scapy; `bsdp_hex` is option 43.
const BUILD: &str = r#"
import sys
from scapy.all import BOOTP, DHCP
xid, ciaddr, mac, vendor, bsdp, extra = sys.stdin.read().split("|")
opts = [("message-type", "inform"), ("param_req_list", [60, 43]), ("max_dhcp_size", 1500),
        ("vendor_class_id", vendor.encode()), ("vendor_specific", bytes.fromhex(bsdp))]
if extra:
    opts.append(("vendor_specific", bytes.fromhex(extra)))
pkt = BOOTP(op=1, htype=1, hlen=6, xid=int(xid), ciaddr=ciaddr, chaddr=bytes.fromhex(mac)) / DHCP(options=opts + ["end"])
sys.stdout.write(bytes(pkt).hex())
"#;

/// Parses a reply with scapy and prints its fields and options as JSON.
const PARSE: &str = r#"
import json, sys
from scapy.all import BOOTP, DHCP
p = BOOTP(bytes.fromhex(sys.stdin.read()))
out = {"op": p.op, "xid": p.xid, "ciaddr": p.ciaddr, "yiaddr": p.yiaddr, "siaddr": p.siaddr,
       "giaddr": p.giaddr, "chaddr": p.chaddr[:6].hex(),
       "sname": p.sname.rstrip(b"\0").decode(), "file": p.file.rstrip(b"\0").decode(), "options": []}
for o in p[DHCP].options:
    if isinstance(o, tuple):
        v = o[1]
        out["options"].append([o[0], v.hex() if isinstance(v, bytes) else v])
    else:
        out["options"].append([o])
print(json.dumps(out))
"#;

fn scapy_inform(xid: u32, bsdp: &str, extra: &str) -> Vec<u8> {
    let input = format!(
        "{xid}|{CLIENT}|{}|AAPLBSDPC/i386/MacBookPro11,2|{bsdp}|{extra}",
        hex::encode(MAC)
    );
    let out = python_ok(BUILD, input.as_bytes());
    hex::decode(String::from_utf8(out).unwrap().trim()).unwrap()
}

fn scapy_parse(bytes: &[u8]) -> serde_json::Value {
    let out = python_ok(PARSE, hex::encode(bytes).as_bytes());
    serde_json::from_slice(&out).unwrap()
}

fn responder() -> Responder {
    let mut cfg = ResponderConfig::new(SERVER);
    cfg.server_name("netboot.example");
    Responder::new(Arc::new(cfg), Arc::new(common::sample_catalog()))
}

fn from() -> SocketAddr {
    SocketAddr::from((CLIENT, 68))
}

/// The option-43 values of a scapy-parsed reply, in order.
fn vendor_specific(parsed: &serde_json::Value) -> Vec<Vec<u8>> {
    parsed["options"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o[0] == "vendor_specific")
        .map(|o| hex::decode(o[1].as_str().unwrap()).unwrap())
        .collect()
}

fn option<'a>(parsed: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    parsed["options"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o[0] == name)
        .map(|o| &o[1])
        .unwrap_or_else(|| panic!("no {name} in {parsed}"))
}

#[test]
fn scapy_inform_list_is_decoded_and_answered() {
    if !require_python("scapy_inform_list_is_decoded_and_answered", &["scapy"]) {
        return;
    }
    // LIST, version 1.1, max message size 1500, reply port 1019.
    let bytes = scapy_inform(0x5a3c_1f07, "010101020201010c0205dc050203fb", "");
    let p = Packet::decode(&bytes).unwrap();
    assert_eq!(p.op, Op::Request);
    assert_eq!(p.xid, 0x5a3c_1f07);
    assert_eq!(p.ciaddr, CLIENT);
    assert_eq!(p.mac_address(), Some(MAC));
    assert_eq!(p.message_type(), Some(MessageType::Inform));
    assert_eq!(p.max_message_size(), Some(1500));
    assert_eq!(
        p.options.get(code::PARAMETER_REQUEST_LIST),
        Some(&[60, 43][..])
    );
    let vc = VendorClass::decode(p.vendor_class().unwrap()).unwrap();
    assert_eq!(
        (vc.arch.as_str(), vc.model.as_str()),
        ("i386", "MacBookPro11,2")
    );
    let o = BsdpOptions::decode(p.options.get(code::VENDOR_SPECIFIC).unwrap()).unwrap();
    assert_eq!(o.message_type, Some(BsdpMessageType::List));
    assert_eq!(o.version, Some(0x0101));
    assert_eq!(o.max_message_size, Some(1500));
    assert_eq!(o.reply_port, Some(1019));

    let mut r = responder();
    let reply = r.handle(&bytes, from(), Instant::now()).unwrap();
    assert_eq!(reply.destination, SocketAddrV4::new(CLIENT, 1019));
    assert!(reply.bytes.len() >= BOOTP_MIN_LEN);
    let ack = Ack::decode(&reply.bytes).unwrap();
    assert_eq!(ack.message_type, BsdpMessageType::List);
    assert_eq!(ack.xid, 0x5a3c_1f07);
    assert_eq!(ack.server_priority, Some(0x8000));
    assert_eq!(ack.default_image, Some(ImageId(0x8100_03e9)));
    let got: Vec<(u32, &str)> = ack
        .images
        .iter()
        .map(|i| (i.id.0, i.name.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (0x8100_03e9, "macOS 10.13 NetInstall"),
            (0x0100_03ea, "Diagnostics NetBoot")
        ]
    );

    // scapy reads our ACK[LIST].
    let parsed = scapy_parse(&reply.bytes);
    assert_eq!(parsed["op"], 2);
    assert_eq!(parsed["xid"], 0x5a3c_1f07);
    assert_eq!(parsed["ciaddr"], CLIENT.to_string());
    assert_eq!(parsed["siaddr"], SERVER.to_string());
    assert_eq!(parsed["chaddr"], hex::encode(MAC));
    assert_eq!(parsed["sname"], "netboot.example");
    assert_eq!(*option(&parsed, "message-type"), 5);
    assert_eq!(*option(&parsed, "server_id"), SERVER.to_string());
    assert_eq!(
        *option(&parsed, "vendor_class_id"),
        hex::encode("AAPLBSDPC")
    );
    let vs = vendor_specific(&parsed);
    assert_eq!(vs.len(), 1);
    let o = BsdpOptions::decode(&vs[0]).unwrap();
    assert_eq!(o.boot_image_list.unwrap().len(), 2);
}

#[test]
fn scapy_inform_select_is_answered_with_the_booter() {
    if !require_python(
        "scapy_inform_select_is_answered_with_the_booter",
        &["scapy"],
    ) {
        return;
    }
    // SELECT v1.1 of 0x810003e9 from 192.168.56.1; the server id in a second
    // option-43 instance, which RFC 3396 joins to the first.
    let bytes = scapy_inform(0x5a3c_1f08, "010102020201010804810003e9", "0304c0a83801");
    let p = Packet::decode(&bytes).unwrap();
    let o = BsdpOptions::decode(p.options.get(code::VENDOR_SPECIFIC).unwrap()).unwrap();
    assert_eq!(o.message_type, Some(BsdpMessageType::Select));
    assert_eq!(o.selected_boot_image, Some(ImageId(0x8100_03e9)));
    assert_eq!(o.server_identifier, Some(SERVER));

    let mut r = responder();
    let reply = r.handle(&bytes, from(), Instant::now()).unwrap();
    assert_eq!(reply.destination, SocketAddrV4::new(CLIENT, 68));
    assert_eq!(reply.kind, BsdpMessageType::Select);
    let ack = Ack::decode(&reply.bytes).unwrap();
    assert_eq!(ack.selected_image, Some(ImageId(0x8100_03e9)));
    assert_eq!(ack.boot_file.as_deref(), Some("NetInstall.nbi/i386/booter"));
    assert_eq!(ack.tftp_server, SERVER);
    assert_eq!(
        ack.root_path.as_deref(),
        Some("http://192.168.56.1/NetInstall.nbi/NetInstall.dmg")
    );

    let parsed = scapy_parse(&reply.bytes);
    assert_eq!(parsed["file"], "NetInstall.nbi/i386/booter");
    assert_eq!(parsed["siaddr"], SERVER.to_string());
    assert_eq!(parsed["yiaddr"], "0.0.0.0");
    assert_eq!(
        *option(&parsed, "root_disk_path"),
        hex::encode("http://192.168.56.1/NetInstall.nbi/NetInstall.dmg")
    );
    let o = BsdpOptions::decode(&vendor_specific(&parsed).concat()).unwrap();
    assert_eq!(o.message_type, Some(BsdpMessageType::Select));
    assert_eq!(
        o.machine_name.as_deref(),
        Some(&b"NetBoot-A82066123456"[..])
    );

    // The same SELECT for another server is dropped; for an unknown image,
    // FAILED.
    let other = scapy_inform(0x5a3c_1f09, "010102020201010804810003e9", "03040a000001");
    assert!(r.handle(&other, from(), Instant::now()).is_none());
    let stale = scapy_inform(0x5a3c_1f0a, "0101020202010108048100ffff", "0304c0a83801");
    let reply = r.handle(&stale, from(), Instant::now()).unwrap();
    assert_eq!(reply.kind, BsdpMessageType::Failed);
    let parsed = scapy_parse(&reply.bytes);
    assert_eq!(vendor_specific(&parsed), vec![vec![1, 1, 3]]);
    assert_eq!(parsed["xid"], 0x5a3c_1f0a);
}

#[test]
fn scapy_reads_a_split_image_list() {
    if !require_python("scapy_reads_a_split_image_list", &["scapy"]) {
        return;
    }
    let mut cfg = ResponderConfig::new(SERVER);
    cfg.server_name("netboot.example");
    let mut r = Responder::new(Arc::new(cfg), Arc::new(common::big_catalog(12)));
    let bytes = scapy_inform(0x1234, "010101020201010c0205dc", "");
    let reply = r.handle(&bytes, from(), Instant::now()).unwrap();
    let parsed = scapy_parse(&reply.bytes);
    let vs = vendor_specific(&parsed);
    assert!(vs.len() >= 2, "{} option-43 instances", vs.len());
    let mut names = Vec::new();
    for instance in &vs {
        assert!(instance.len() <= 255);
        // Each instance holds whole sub-options.
        let o = BsdpOptions::decode(instance).unwrap();
        names.extend(
            o.boot_image_list
                .unwrap_or_default()
                .into_iter()
                .map(|i| i.name),
        );
    }
    assert_eq!(names.len(), 12);
    assert_eq!(names[11], "NetInstall image number 11 macOS");
    assert!(vs.iter().map(Vec::len).sum::<usize>() > 255);
}
