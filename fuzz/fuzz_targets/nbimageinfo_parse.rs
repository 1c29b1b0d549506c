//! `NBImageInfo.plist` files (XML or binary). Whatever the bytes, parsing
//! ends in an image description or an error; a description the catalogue
//! accepts is listed to a client it allows and acknowledged when selected.
#![no_main]

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use bsdp::bsdp::IMAGE_NAME_MAX;
use bsdp::{
    Ack, BsdpMessageType, Catalog, CatalogImage, Encode, ImageInfo, InformRequest, Responder,
    ResponderConfig,
};
use libfuzzer_sys::fuzz_target;

const SERVER: Ipv4Addr = Ipv4Addr::new(192, 168, 56, 1);

fuzz_target!(|data: &[u8]| {
    let Ok(info) = ImageInfo::parse(data) else {
        return;
    };
    assert_ne!(info.index, 0);
    assert!(info.name.len() <= IMAGE_NAME_MAX);
    let (catalog, skipped) = Catalog::new(vec![CatalogImage {
        info: info.clone(),
        dir_name: "Fuzz.nbi".into(),
    }]);
    if !skipped.is_empty() {
        return;
    }
    let mut cfg = ResponderConfig::new(SERVER);
    cfg.policy.allow_unprivileged_reply_port = true;
    let mut r = Responder::new(Arc::new(cfg), Arc::new(catalog));
    // A client the image's own filters allow, when there is one.
    let arch = info.architectures.first().map_or("i386", String::as_str);
    let model = info
        .enabled_system_identifiers
        .first()
        .map_or("MacBookPro11,2", String::as_str);
    let mac = info
        .enabled_mac_addresses
        .first()
        .copied()
        .unwrap_or([0xa8, 0x20, 0x66, 0x12, 0x34, 0x56]);
    let client = Ipv4Addr::new(192, 168, 56, 20);
    let mut req = InformRequest::new(mac, client, arch, model);
    req.max_message_size = Some(1500);
    let from = SocketAddr::from((client, 68));
    let (Ok(list), Ok(select)) = (req.list(), req.select(SERVER, info.id())) else {
        return;
    };
    let (Ok(list), Ok(select)) = (list.to_vec(), select.to_vec()) else {
        return;
    };
    if let Some(reply) = r.handle(&list, from, Instant::now()) {
        let ack = Ack::decode(&reply.bytes).expect("our ACK decodes");
        assert_eq!(ack.message_type, BsdpMessageType::List);
        assert!(ack.images.iter().all(|i| i.id.index() == info.index));
    }
    if let Some(reply) = r.handle(&select, from, Instant::now()) {
        let ack = Ack::decode(&reply.bytes).expect("our ACK decodes");
        if ack.message_type == BsdpMessageType::Select {
            let booter = ack.boot_file.expect("a booter");
            assert!(booter.ends_with(&format!("/{arch}/{}", info.boot_file)), "{booter}");
        }
    }
});
