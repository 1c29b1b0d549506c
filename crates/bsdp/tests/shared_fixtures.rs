//! The shared NetBoot fixtures (BSDP captures, option-43 vectors and
//! NBImageInfo samples made with independent tools), decoded with our
//! codec. They live outside the repository, at
//! `$PIPPIN_NETBOOT_FIXTURES` or `/work/shared/fixtures/netboot`; when they
//! are absent (as in CI) each test says so loudly and passes.

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use bsdp::dhcp::code;
use bsdp::{
    Ack, BsdpMessageType, BsdpOptions, Catalog, CatalogImage, Decode, Encode, ImageId, ImageInfo,
    ImageInfoError, ImageType, MessageType, Packet, Responder, ResponderConfig, VendorClass,
};

fn fixtures(test: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("PIPPIN_NETBOOT_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/work/shared/fixtures/netboot"));
    if dir.join("bsdp").is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "\n*** SKIPPED ({test}): shared fixtures not found at {} ***\n",
            dir.display()
        );
        None
    }
}

fn pcap_payloads(path: PathBuf) -> Vec<Vec<u8>> {
    common::pcap_udp_payloads(&std::fs::read(path).unwrap())
}

#[test]
fn exchange_capture() {
    let Some(dir) = fixtures("exchange_capture") else {
        return;
    };
    let p = pcap_payloads(dir.join("bsdp/bsdp_exchange_synthetic.pcap"));
    assert_eq!(p.len(), 5);

    // INFORM[LIST] from AAPLBSDPC/i386/MacBookPro11,1, v1.1, max size 1500.
    let list = Packet::decode(&p[0]).unwrap();
    assert_eq!(list.message_type(), Some(MessageType::Inform));
    let vc = VendorClass::decode(list.vendor_class().unwrap()).unwrap();
    assert_eq!(
        (vc.arch.as_str(), vc.model.as_str()),
        ("i386", "MacBookPro11,1")
    );
    let o = BsdpOptions::decode(list.options.get(code::VENDOR_SPECIFIC).unwrap()).unwrap();
    assert_eq!(o.message_type, Some(BsdpMessageType::List));
    assert_eq!(o.version, Some(0x0101));
    assert_eq!(o.max_message_size, Some(1500));

    // ACK[LIST]: priority 0x8000, default 0x810003e9, two images.
    let ack = Ack::decode(&p[1]).unwrap();
    assert_eq!(ack.message_type, BsdpMessageType::List);
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
    assert_eq!(ack.server_identifier, Some(Ipv4Addr::new(192, 168, 56, 1)));

    // INFORM[SELECT] of 0x810003e9 at 192.168.56.1.
    let sel = Packet::decode(&p[2]).unwrap();
    let o = BsdpOptions::decode(sel.options.get(code::VENDOR_SPECIFIC).unwrap()).unwrap();
    assert_eq!(o.message_type, Some(BsdpMessageType::Select));
    assert_eq!(o.selected_boot_image, Some(ImageId(0x8100_03e9)));
    assert_eq!(o.server_identifier, Some(Ipv4Addr::new(192, 168, 56, 1)));

    // ACK[SELECT]: booter, root path, machine name.
    let ack = Ack::decode(&p[3]).unwrap();
    assert_eq!(ack.message_type, BsdpMessageType::Select);
    assert_eq!(
        ack.boot_file.as_deref(),
        Some("/nbi/NetInstall.nbi/i386/booter")
    );
    assert_eq!(
        ack.root_path.as_deref(),
        Some("http://192.168.56.1/nbi/NetInstall.nbi/NetInstall.dmg")
    );
    assert_eq!(ack.machine_name.as_deref(), Some("NetBoot001"));

    // ACK[FAILED].
    assert_eq!(
        Ack::decode(&p[4]).unwrap().message_type,
        BsdpMessageType::Failed
    );

    // Every packet re-encodes to something that decodes the same.
    for b in &p {
        let q = Packet::decode(b).unwrap();
        assert_eq!(Packet::decode(&q.to_vec().unwrap()).unwrap(), q);
    }

    // Our responder, with the same images, answers the captured requests
    // with the same content.
    let mut install = common::image(1001, "macOS 10.13 NetInstall", "NetInstall.nbi");
    install.info.is_install = true;
    install.info.is_default = true;
    install.info.architectures = vec!["i386".into()];
    let diag = common::image(1002, "Diagnostics NetBoot", "Diagnostics.nbi");
    // The capture's server serves its `.nbi` folders under `/nbi` over both
    // TFTP and HTTP.
    let mut cfg = ResponderConfig::new(Ipv4Addr::new(192, 168, 56, 1));
    cfg.tftp_prefix("/nbi").http(80, "/nbi");
    let mut r = Responder::new(Arc::new(cfg), Arc::new(Catalog::new(vec![install, diag]).0));
    let from = SocketAddr::from((list.ciaddr, 68));
    let ours = Ack::decode(&r.handle(&p[0], from, Instant::now()).unwrap().bytes).unwrap();
    let theirs = Ack::decode(&p[1]).unwrap();
    assert_eq!(ours.images, theirs.images);
    assert_eq!(ours.default_image, theirs.default_image);
    let ours = Ack::decode(&r.handle(&p[2], from, Instant::now()).unwrap().bytes).unwrap();
    let theirs = Ack::decode(&p[3]).unwrap();
    assert_eq!(ours.boot_file, theirs.boot_file);
    assert_eq!(ours.root_path, theirs.root_path);
    assert_eq!(ours.selected_image, theirs.selected_image);
}

#[test]
fn split_option_43_capture() {
    let Some(dir) = fixtures("split_option_43_capture") else {
        return;
    };
    let p = pcap_payloads(dir.join("bsdp/bsdp_ack_list_split_option43_synthetic.pcap"));
    assert_eq!(p.len(), 1);
    let packet = Packet::decode(&p[0]).unwrap();
    // Two instances (237 + 224 bytes) joined into one value.
    assert_eq!(
        packet.options.get(code::VENDOR_SPECIFIC).unwrap().len(),
        237 + 224
    );
    let ack = Ack::from_packet(&packet).unwrap();
    assert_eq!(ack.images.len(), 12);
    for (i, image) in ack.images.iter().enumerate() {
        assert_eq!(image.name, format!("NetInstall image number {i:02} macOS"));
        assert_eq!(image.id.index(), 100 + i as u16);
        assert_eq!(image.id.is_install(), i % 2 == 0);
    }
}

#[test]
fn hex_payloads_match_the_captures() {
    let Some(dir) = fixtures("hex_payloads_match_the_captures") else {
        return;
    };
    let text = std::fs::read_to_string(dir.join("bsdp/bsdp_bootp_payloads.hex.txt")).unwrap();
    let mut sections = Vec::new();
    let mut name = None;
    for line in text.lines() {
        let line = line.trim();
        if let Some(n) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            name = Some(n.to_owned());
        } else if let (Some(n), false) = (&name, line.is_empty() || line.starts_with('#')) {
            sections.push((n.clone(), hex::decode(line).unwrap()));
        }
    }
    let names: Vec<&str> = sections.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "inform_list",
            "ack_list",
            "inform_select",
            "ack_select",
            "ack_failed",
            "bsdp_ack_list_split_option43"
        ]
    );
    let mut captured = pcap_payloads(dir.join("bsdp/bsdp_exchange_synthetic.pcap"));
    captured.extend(pcap_payloads(
        dir.join("bsdp/bsdp_ack_list_split_option43_synthetic.pcap"),
    ));
    for ((n, bytes), cap) in sections.iter().zip(&captured) {
        assert_eq!(
            Packet::decode(bytes).unwrap(),
            Packet::decode(cap).unwrap(),
            "{n}"
        );
    }
}

#[test]
fn option_43_vectors() {
    let Some(dir) = fixtures("option_43_vectors") else {
        return;
    };
    let text = std::fs::read_to_string(dir.join("bsdp/option43_vectors.txt")).unwrap();
    let mut checked = 0;
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let parts: Vec<&str> = line.split('|').collect();
        let label = parts[0].trim();
        // Hex with spaces or colons; a note in parentheses may follow.
        let hex_text: String = parts[1]
            .split('(')
            .next()
            .unwrap()
            .chars()
            .filter(char::is_ascii_hexdigit)
            .collect();
        let mut bytes = hex::decode(&hex_text).unwrap();
        if label == "NetSUS ACK[SELECT]" {
            // As transcribed from NetSUS's dhcpd.conf, sub-option 128 says
            // 0x24 (36) bytes but its text is 37 long, so the next tag lands
            // inside the string: a decoder must refuse it, not misread it.
            let err = BsdpOptions::decode(&bytes).unwrap_err();
            assert_eq!(
                (err.kind, err.offset),
                (bsdp::DecodeErrorKind::Truncated, 47)
            );
            assert_eq!(bytes[10], 0x24);
            bytes[10] = 37;
        }
        let o = BsdpOptions::decode(&bytes).unwrap_or_else(|e| panic!("{label}: {e}"));
        let s = |v: &Option<Vec<u8>>| {
            v.as_deref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
        };
        match label {
            "client INFORM[LIST] v1.1 + max msg size 1500" => {
                assert_eq!(o.message_type, Some(BsdpMessageType::List));
                assert_eq!(o.version, Some(0x0101));
                assert_eq!(o.max_message_size, Some(1500));
            }
            "server ACK[LIST]" => {
                assert_eq!(o.server_priority, Some(32768));
                assert_eq!(o.default_boot_image, Some(ImageId(0x8100_03e9)));
                let l = o.boot_image_list.clone().unwrap();
                assert_eq!(l[1].id, ImageId(0x0100_03ea));
                assert_eq!(l[1].name, "Diagnostics NetBoot");
            }
            "client INFORM[SELECT]" => {
                assert_eq!(o.selected_boot_image, Some(ImageId(0x8100_03e9)));
                assert_eq!(o.server_identifier, Some(Ipv4Addr::new(192, 168, 56, 1)));
            }
            "server ACK[SELECT]" => {
                assert_eq!(s(&o.machine_name).as_deref(), Some("NetBoot001"));
            }
            "server ACK[FAILED]" => assert_eq!(o.message_type, Some(BsdpMessageType::Failed)),
            "netboot-1.0 firmware flag (client)" => assert!(o.netboot_1_0_firmware),
            "attribute filter list (client)" => {
                assert_eq!(o.attributes_filter_list, Some(vec![0x8100, 0x0100]));
            }
            "reply port (client, Startup Disk)" => assert_eq!(o.reply_port, Some(1019)),
            "NetSUS ACK[LIST]" => {
                assert_eq!(o.server_priority, Some(0xffff));
                assert_eq!(o.default_boot_image, Some(ImageId(0x0100_020e)));
                assert_eq!(o.selected_boot_image, Some(ImageId(0x0100_020e)));
                let l = o.boot_image_list.clone().unwrap();
                assert_eq!(l.len(), 1);
                assert_eq!(l[0].name, "Faux NetBoot");
            }
            "NetSUS-matched client INFORM[SELECT]" => {
                assert_eq!(o.version, Some(0x0101));
                assert_eq!(o.server_identifier, Some(Ipv4Addr::new(10, 1, 24, 64)));
            }
            "NetSUS ACK[SELECT]" => {
                assert_eq!(
                    s(&o.shadow_mount_path).as_deref(),
                    Some("afpuser:afpuser1@10.10.12.131/NetBoot")
                );
                assert_eq!(s(&o.shadow_file_path).as_deref(), Some("NetBoot001/Shadow"));
            }
            "wikipedia SELECT example" => {
                assert_eq!(o.selected_boot_image, Some(ImageId(0x8100_07e5)));
                assert_eq!(s(&o.machine_name).as_deref(), Some("NetBoot001"));
            }
            other => panic!("unexpected vector {other:?}"),
        }
        // Re-encoded, the same values.
        assert_eq!(
            BsdpOptions::decode(&o.to_vec().unwrap()).unwrap(),
            o,
            "{label}"
        );
        checked += 1;
    }
    assert_eq!(checked, 12);
}

#[test]
fn nbimageinfo_samples() {
    let Some(dir) = fixtures("nbimageinfo_samples") else {
        return;
    };
    let read = |name: &str| {
        let bytes = std::fs::read(
            dir.join("nbi/synthetic")
                .join(format!("{name}.NBImageInfo.plist")),
        )
        .unwrap();
        ImageInfo::parse(&bytes)
    };
    let i = read("http_netinstall_default").unwrap();
    assert_eq!(
        (i.index, i.name.as_str(), i.image_type),
        (1001, "NetInstall 10.13.6", ImageType::Http)
    );
    assert!(i.is_default && i.is_install && i.is_enabled);
    assert_eq!(i.id(), ImageId(0x8100_03e9));
    assert_eq!(
        i.description.as_deref(),
        Some("NetInstall of macOS 10.13.6 (17G65)")
    );

    let i = read("nfs_netboot_sysid_filter").unwrap();
    assert_eq!(i.image_type, ImageType::Nfs);
    assert_eq!(
        i.enabled_system_identifiers,
        vec!["MacBookPro11,1", "iMac14,2"]
    );
    assert_eq!(i.disabled_system_identifiers, vec!["MacBookAir7,2"]);
    assert!(i.supports_diskless && !i.is_install);

    let i = read("http_loadbalanced_index4097_macfilter").unwrap();
    assert_eq!(i.index, 4097);
    assert!(!i.id().is_local());
    assert_eq!(i.load_balance_server, Some(Ipv4Addr::new(192, 168, 56, 2)));
    assert_eq!(
        i.enabled_mac_addresses,
        vec![[0xa8, 0x20, 0x66, 0x12, 0x34, 0x56]]
    );

    let i = read("diagnostics_bootfileonly_kind3").unwrap();
    assert_eq!(
        (i.image_type, i.kind.get(), i.root_path.clone()),
        (ImageType::BootFileOnly, 3, None)
    );

    assert!(!read("disabled_image").unwrap().is_enabled);
    let b = read("binary_format_http").unwrap();
    assert_eq!((b.index, b.name.as_str()), (1005, "Binary plist variant"));

    assert!(matches!(
        read("invalid_index_zero"),
        Err(ImageInfoError::IndexOutOfRange(0))
    ));
    assert!(matches!(
        read("invalid_index_too_large"),
        Err(ImageInfoError::IndexOutOfRange(70000))
    ));
    assert!(matches!(
        read("invalid_index_string"),
        Err(ImageInfoError::WrongType { key: "Index", .. })
    ));

    // The valid ones make a catalogue; a MacBookPro11,1 with that MAC sees
    // the NetInstall (default), the NFS runtime (model filter), the
    // load-balanced image (MAC filter), the diagnostics and the binary one.
    let names = [
        "http_netinstall_default",
        "nfs_netboot_sysid_filter",
        "http_loadbalanced_index4097_macfilter",
        "diagnostics_bootfileonly_kind3",
        "disabled_image",
        "binary_format_http",
    ];
    let images: Vec<CatalogImage> = names
        .iter()
        .map(|n| CatalogImage {
            info: read(n).unwrap(),
            dir_name: format!("{n}.nbi"),
        })
        .collect();
    let mut r = Responder::new(
        Arc::new(ResponderConfig::new(Ipv4Addr::new(192, 168, 56, 1))),
        Arc::new(Catalog::new(images).0),
    );
    let mut req = bsdp::InformRequest::new(
        [0xa8, 0x20, 0x66, 0x12, 0x34, 0x56],
        Ipv4Addr::new(192, 168, 56, 20),
        "i386",
        "MacBookPro11,1",
    );
    req.max_message_size = Some(1500);
    let from = SocketAddr::from((Ipv4Addr::new(192, 168, 56, 20), 68));
    let reply = r
        .handle(&req.list().unwrap().to_vec().unwrap(), from, Instant::now())
        .unwrap();
    let ack = Ack::decode(&reply.bytes).unwrap();
    let indexes: Vec<u16> = ack.images.iter().map(|i| i.id.index()).collect();
    assert_eq!(indexes, vec![1001, 1002, 1005, 3000, 4097]);
    assert_eq!(ack.default_image, Some(ImageId(0x8100_03e9)));
    let sel = req
        .select(Ipv4Addr::new(192, 168, 56, 1), ImageId(0x8100_1001))
        .unwrap();
    let ack = Ack::decode(
        &r.handle(&sel.to_vec().unwrap(), from, Instant::now())
            .unwrap()
            .bytes,
    )
    .unwrap();
    assert_eq!(ack.tftp_server, Ipv4Addr::new(192, 168, 56, 2));
    assert_eq!(
        ack.root_path.as_deref(),
        Some("http://192.168.56.2:8080/nbi/LB.nbi/NetInstall.dmg")
    );
    let sel = req
        .select(Ipv4Addr::new(192, 168, 56, 1), ImageId(0x0100_03ea))
        .unwrap();
    let ack = Ack::decode(
        &r.handle(&sel.to_vec().unwrap(), from, Instant::now())
            .unwrap()
            .bytes,
    )
    .unwrap();
    assert_eq!(
        ack.root_path.as_deref(),
        Some("nfs:192.168.56.1:/nbi:nfs_netboot_sysid_filter.nbi/NetInstall.dmg")
    );
}
