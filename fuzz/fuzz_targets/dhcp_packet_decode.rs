//! DHCP/BOOTP messages as a BSDP server receives them. Whatever the bytes:
//! decoding ends in a packet or an error; a decoded packet encodes to bytes
//! that decode to the same packet; its BSDP options do the same; and the
//! responder answers with a well-formed ACK within the client's size limit,
//! or drops it with a reason.
#![no_main]

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use bsdp::dhcp::{BOOTP_MIN_LEN, DHCP_MIN_MESSAGE_LEN, IP_UDP_HEADER_LEN, code};
use bsdp::{
    Ack, BsdpMessageType, BsdpOptions, Catalog, CatalogImage, Decode, Encode, ImageInfo,
    ImageKind, ImageType, Outcome, Packet, Responder, ResponderConfig, VendorClass,
};
use libfuzzer_sys::fuzz_target;

const SERVER: Ipv4Addr = Ipv4Addr::new(192, 168, 56, 1);

fn image(index: u16, name: &str) -> CatalogImage {
    CatalogImage {
        info: ImageInfo {
            index,
            name: name.into(),
            image_type: ImageType::Http,
            boot_file: "booter".into(),
            root_path: Some("NetInstall.dmg".into()),
            is_enabled: true,
            is_install: index % 2 == 1,
            is_default: index == 1001,
            kind: ImageKind::MAC_OS_X,
            architectures: vec![],
            enabled_system_identifiers: vec![],
            disabled_system_identifiers: vec!["iMac4,1".into()],
            enabled_mac_addresses: vec![],
            disabled_mac_addresses: vec![],
            filter_only: index == 1003,
            load_balance_server: None,
            supports_diskless: false,
            description: None,
        },
        dir_name: format!("{name}.nbi"),
    }
}

/// Enough images, with long names, that lists need splitting and trimming.
fn shared() -> &'static (Arc<ResponderConfig>, Arc<Catalog>) {
    static SHARED: OnceLock<(Arc<ResponderConfig>, Arc<Catalog>)> = OnceLock::new();
    SHARED.get_or_init(|| {
        let mut cfg = ResponderConfig::new(SERVER);
        cfg.server_name("netboot.fuzz");
        cfg.policy.allow_unprivileged_reply_port = true;
        let images = (0..40)
            .map(|i| image(1001 + i, &format!("NetBoot image number {i:02} for fuzzing")))
            .collect();
        (Arc::new(cfg), Arc::new(Catalog::new(images).0))
    })
}

fn check_packet(data: &[u8]) -> Option<Packet> {
    let p = Packet::decode(data).ok()?;
    let bytes = p.to_vec().expect("a decoded packet encodes");
    assert_eq!(bytes.len(), p.encoded_len());
    assert_eq!(Packet::decode(&bytes).expect("our encoding decodes"), p);
    if let Some(vs) = p.options.get(code::VENDOR_SPECIFIC)
        && let Ok(o) = BsdpOptions::decode(vs)
        && let Ok(instances) = o.encode_instances()
    {
        let joined: Vec<u8> = instances.concat();
        assert!(instances.iter().all(|i| i.len() <= 255));
        assert_eq!(BsdpOptions::decode(&joined).expect("our options decode"), o);
    }
    if let Some(vc) = p.vendor_class()
        && let Ok(v) = VendorClass::decode(vc)
    {
        assert_eq!(v.to_bytes(), vc);
    }
    Some(p)
}

fn limit(p: &Packet) -> usize {
    let sub = p
        .options
        .get(code::VENDOR_SPECIFIC)
        .and_then(|vs| BsdpOptions::decode(vs).ok())
        .and_then(|o| o.max_message_size);
    match [sub, p.max_message_size()].into_iter().flatten().min() {
        Some(m) => usize::from(m)
            .saturating_sub(IP_UDP_HEADER_LEN)
            .max(DHCP_MIN_MESSAGE_LEN),
        None => DHCP_MIN_MESSAGE_LEN,
    }
}

fuzz_target!(|data: &[u8]| {
    let request = check_packet(data);
    let (cfg, catalog) = shared();
    let mut r = Responder::new(Arc::clone(cfg), Arc::clone(catalog));
    let from = SocketAddr::from((Ipv4Addr::new(192, 168, 56, 20), 68));
    match r.handle_outcome(data, from, Instant::now()) {
        Outcome::Drop(_) => {}
        Outcome::Reply(reply) => {
            // Only well-formed requests are answered.
            let request = request.expect("answered a malformed request");
            assert!(reply.bytes.len() >= BOOTP_MIN_LEN);
            let ack = Ack::decode(&reply.bytes).expect("our ACK decodes");
            assert_eq!(ack.xid, request.xid);
            assert_eq!(ack.message_type, reply.kind);
            if reply.kind == BsdpMessageType::List {
                assert!(reply.bytes.len() <= limit(&request));
            }
            if reply.kind == BsdpMessageType::Select {
                assert!(ack.boot_file.is_some());
            }
        }
    }
});
