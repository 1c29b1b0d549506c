//! Decoding a BSDP INFORM[LIST] and answering it with an ACK[LIST] of 50
//! images.

use std::hint::black_box;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use bsdp::{
    Catalog, CatalogImage, Decode, Encode, ImageInfo, ImageKind, ImageType, InformRequest, Packet,
    Responder, ResponderConfig,
};
use criterion::{Criterion, criterion_group, criterion_main};

fn catalog(n: u16) -> Catalog {
    let images = (1..=n)
        .map(|i| CatalogImage {
            info: ImageInfo {
                index: i,
                name: format!("macOS 10.13.6 NetInstall image {i:02}"),
                image_type: ImageType::Http,
                boot_file: "booter".into(),
                root_path: Some("NetInstall.dmg".into()),
                is_enabled: true,
                is_install: i % 2 == 0,
                is_default: i == 1,
                kind: ImageKind::MAC_OS_X,
                architectures: vec!["i386".into()],
                enabled_system_identifiers: vec![],
                disabled_system_identifiers: vec!["MacBookAir7,2".into()],
                enabled_mac_addresses: vec![],
                disabled_mac_addresses: vec![],
                filter_only: false,
                load_balance_server: None,
                supports_diskless: false,
                description: None,
            },
            dir_name: format!("image{i}.nbi"),
        })
        .collect();
    Catalog::new(images).0
}

fn benches(c: &mut Criterion) {
    let server = Ipv4Addr::new(192, 168, 56, 1);
    let client_ip = Ipv4Addr::new(192, 168, 56, 20);
    let mut req = InformRequest::new(
        [0xa8, 0x20, 0x66, 0x12, 0x34, 0x56],
        client_ip,
        "i386",
        "MacBookPro11,2",
    );
    req.xid = 0x5a3c_1f07;
    req.max_message_size = Some(8192);
    let inform = req.list().unwrap().to_vec().unwrap();
    let from = SocketAddr::from((client_ip, 68));

    c.bench_function("decode INFORM[LIST]", |b| {
        b.iter(|| Packet::decode(black_box(&inform)).unwrap())
    });

    let mut responder = Responder::new(
        Arc::new(ResponderConfig::new(server)),
        Arc::new(catalog(50)),
    );
    let reply = responder.handle(&inform, from, Instant::now()).unwrap();
    assert_eq!(bsdp::Ack::decode(&reply.bytes).unwrap().images.len(), 50);
    let now = Instant::now();
    c.bench_function("INFORM[LIST] -> ACK[LIST] of 50 images", |b| {
        b.iter(|| responder.handle(black_box(&inform), from, now).unwrap())
    });

    // The same with the default 548-byte limit: the list is cut to fit.
    let mut small = req.clone();
    small.max_message_size = None;
    let inform_small = small.list().unwrap().to_vec().unwrap();
    c.bench_function("INFORM[LIST] -> ACK[LIST] cut to 548 bytes", |b| {
        b.iter(|| {
            responder
                .handle(black_box(&inform_small), from, now)
                .unwrap()
        })
    });
}

criterion_group!(bsdp_benches, benches);
criterion_main!(bsdp_benches);
