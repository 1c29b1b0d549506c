//! Property tests: codec roundtrips, decoding arbitrary bytes, and the
//! responder over random catalogues and requests.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use bsdp::dhcp::{DHCP_MIN_MESSAGE_LEN, code};
use bsdp::{
    Ack, BootImage, BsdpMessageType, BsdpOptions, Catalog, CatalogImage, Decode, Encode, ImageId,
    ImageInfo, ImageKind, ImageType, InformRequest, Op, Outcome, Packet, Responder,
    ResponderConfig,
};
use proptest::prelude::*;

fn ip() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>().prop_map(Ipv4Addr::from)
}

fn packet() -> impl Strategy<Value = Packet> {
    let header = (
        prop_oneof![Just(Op::Request), Just(Op::Reply)],
        any::<(u8, u8, u8, u32, u16, u16)>(),
        (ip(), ip(), ip(), ip()),
        any::<[u8; 16]>(),
        proptest::collection::vec(any::<u8>(), 64),
        proptest::collection::vec(any::<u8>(), 128),
    );
    let options = proptest::collection::btree_map(
        (1u8..=254).prop_filter("overload is not an option", |c| *c != 52),
        proptest::collection::vec(any::<u8>(), 0..600),
        0..8,
    );
    (header, options).prop_map(
        |((op, (htype, hlen, hops, xid, secs, flags), (c, y, s, g), chaddr, sname, file), opts)| {
            let mut p = Packet::new(op);
            p.htype = htype;
            p.hlen = hlen;
            p.hops = hops;
            p.xid = xid;
            p.secs = secs;
            p.flags = flags;
            p.ciaddr = c;
            p.yiaddr = y;
            p.siaddr = s;
            p.giaddr = g;
            p.chaddr = chaddr;
            p.sname.copy_from_slice(&sname);
            p.file.copy_from_slice(&file);
            for (code, v) in opts {
                p.options.set(code, v);
            }
            p
        },
    )
}

fn name(max: usize) -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 ._é-]{0,80}".prop_map(move |mut s| {
        while s.len() > max {
            s.pop();
        }
        s
    })
}

fn bsdp_options() -> impl Strategy<Value = BsdpOptions> {
    let known = [1u8, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 128, 129, 130];
    let scalars = (
        proptest::option::of((1u8..=255).prop_map(BsdpMessageType::from)),
        proptest::option::of(any::<u16>()),
        proptest::option::of(ip()),
        proptest::option::of(any::<u16>()),
        proptest::option::of(any::<u16>()),
        proptest::option::of(any::<u32>().prop_map(ImageId)),
        proptest::option::of(any::<u32>().prop_map(ImageId)),
        any::<bool>(),
        proptest::option::of(any::<u16>()),
    );
    let lists = (
        proptest::option::of(proptest::collection::vec(
            (any::<u32>(), name(248)).prop_map(|(id, name)| BootImage {
                id: ImageId(id),
                name,
            }),
            0..30,
        )),
        proptest::option::of(proptest::collection::vec(any::<u16>(), 0..200)),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..254)),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..254)),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..254)),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..254)),
        proptest::collection::vec(
            (
                (13u8..=254).prop_filter("known", move |t| !known.contains(t)),
                proptest::collection::vec(any::<u8>(), 0..100),
            ),
            0..3,
        ),
    );
    (scalars, lists).prop_map(|(s, l)| BsdpOptions {
        message_type: s.0,
        version: s.1,
        server_identifier: s.2,
        server_priority: s.3,
        reply_port: s.4,
        boot_image_list_path: l.2,
        default_boot_image: s.5,
        selected_boot_image: s.6,
        boot_image_list: l.0,
        netboot_1_0_firmware: s.7,
        attributes_filter_list: l.1,
        max_message_size: s.8,
        shadow_mount_path: l.3,
        shadow_file_path: l.4,
        machine_name: l.5,
        unknown: l.6,
    })
}

proptest! {
    #[test]
    fn packet_roundtrip(p in packet()) {
        let bytes = p.to_vec().unwrap();
        prop_assert_eq!(bytes.len(), p.encoded_len());
        prop_assert_eq!(Packet::decode(&bytes).unwrap(), p);
    }

    #[test]
    fn packet_decode_never_panics_and_reencodes(
        header in proptest::collection::vec(any::<u8>(), 236),
        tail in proptest::collection::vec(any::<u8>(), 0..400),
    ) {
        let mut bytes = header;
        bytes.extend_from_slice(&[99, 130, 83, 99]);
        bytes.extend_from_slice(&tail);
        bytes[0] = 1 + bytes[0] % 2;
        if let Ok(p) = Packet::decode(&bytes) {
            let again = Packet::decode(&p.to_vec().unwrap()).unwrap();
            prop_assert_eq!(again, p);
        }
    }

    #[test]
    fn bsdp_options_roundtrip(o in bsdp_options()) {
        let flat = o.to_vec().unwrap();
        prop_assert_eq!(BsdpOptions::decode(&flat).unwrap(), o.clone());
        let instances = o.encode_instances().unwrap();
        for i in &instances {
            prop_assert!(i.len() <= 255);
        }
        prop_assert_eq!(BsdpOptions::decode(&instances.concat()).unwrap(), o);
    }

    #[test]
    fn bsdp_decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(o) = BsdpOptions::decode(&bytes) {
            // Whatever decodes can be written again, and reads back the same.
            let again = o.to_vec().unwrap();
            prop_assert_eq!(BsdpOptions::decode(&again).unwrap(), o);
        }
    }
}

const ARCHS: [&str; 2] = ["i386", "ppc"];
const MODELS: [&str; 3] = ["MacBookPro11,2", "iMac14,2", "Macmini7,1"];
const MACS: [[u8; 6]; 3] = [
    [0xa8, 0x20, 0x66, 0x12, 0x34, 0x56],
    [0, 0x1b, 0x63, 1, 2, 3],
    [2, 0, 0, 0, 0, 9],
];
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

#[derive(Clone, Debug)]
struct Spec {
    name: String,
    kind: u8,
    install: bool,
    default: bool,
    enabled: bool,
    filter_only: bool,
    archs: Vec<usize>,
    enabled_models: Vec<usize>,
    disabled_models: Vec<usize>,
    enabled_macs: Vec<usize>,
    disabled_macs: Vec<usize>,
}

fn spec() -> impl Strategy<Value = Spec> {
    let idx = |n: usize| proptest::collection::vec(0..n, 0..2);
    (
        "[A-Za-z0-9 ]{1,60}",
        0u8..4,
        any::<bool>(),
        proptest::bool::weighted(0.2),
        proptest::bool::weighted(0.9),
        proptest::bool::weighted(0.2),
        proptest::collection::vec(0..2usize, 0..3),
        (idx(3), idx(3), idx(3), idx(3)),
    )
        .prop_map(
            |(name, kind, install, default, enabled, filter_only, archs, (em, dm, ema, dma))| {
                Spec {
                    name,
                    kind,
                    install,
                    default,
                    enabled,
                    filter_only,
                    archs,
                    enabled_models: em,
                    disabled_models: dm,
                    enabled_macs: ema,
                    disabled_macs: dma,
                }
            },
        )
}

fn catalog(specs: &BTreeMap<u16, Spec>) -> Catalog {
    let images = specs
        .iter()
        .map(|(index, s)| CatalogImage {
            info: ImageInfo {
                index: *index,
                name: s.name.clone(),
                image_type: ImageType::Http,
                boot_file: "booter".into(),
                root_path: Some("Image.dmg".into()),
                is_enabled: s.enabled,
                is_install: s.install,
                is_default: s.default,
                kind: ImageKind::new(s.kind).unwrap(),
                architectures: s.archs.iter().map(|a| ARCHS[*a].to_owned()).collect(),
                enabled_system_identifiers: s
                    .enabled_models
                    .iter()
                    .map(|m| MODELS[*m].to_owned())
                    .collect(),
                disabled_system_identifiers: s
                    .disabled_models
                    .iter()
                    .map(|m| MODELS[*m].to_owned())
                    .collect(),
                enabled_mac_addresses: s.enabled_macs.iter().map(|m| MACS[*m]).collect(),
                disabled_mac_addresses: s.disabled_macs.iter().map(|m| MACS[*m]).collect(),
                filter_only: s.filter_only,
                load_balance_server: None,
                supports_diskless: false,
                description: None,
            },
            dir_name: format!("image-{index}.nbi"),
        })
        .collect();
    Catalog::new(images).0
}

/// The filter rules, restated independently of the responder.
fn may_list(
    s: &Spec,
    arch: usize,
    model: usize,
    mac: usize,
    filter: Option<&[u16]>,
    attrs: u16,
) -> bool {
    let model_ok = (s.enabled_models.is_empty() || s.enabled_models.contains(&model))
        && !s.disabled_models.contains(&model);
    let mac_ok = (s.enabled_macs.is_empty() || s.enabled_macs.contains(&mac))
        && !s.disabled_macs.contains(&mac);
    let arch_ok = s.archs.is_empty() || s.archs.contains(&arch);
    let filter_ok = match filter {
        Some(f) => f.contains(&attrs),
        None => !s.filter_only,
    };
    s.enabled && model_ok && mac_ok && arch_ok && filter_ok
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn responder_respects_size_and_filters(
        specs in proptest::collection::btree_map(1u16..5000, spec(), 1..60),
        arch in 0..2usize,
        model in 0..3usize,
        mac in 0..3usize,
        max in proptest::option::of(prop_oneof![Just(300u16), Just(576), Just(1000), Just(1500), any::<u16>()]),
        sub12 in proptest::option::of(prop_oneof![Just(576u16), Just(1500), any::<u16>()]),
        filter in proptest::option::of(proptest::collection::vec(prop_oneof![Just(0x0100u16), Just(0x8100), Just(0x0300), Just(0x8000), Just(0x0200)], 0..4)),
    ) {
        let mut responder = Responder::new(Arc::new(ResponderConfig::new(SERVER)), Arc::new(catalog(&specs)));
        let mut req = InformRequest::new(MACS[mac], Ipv4Addr::new(10, 0, 0, 50), ARCHS[arch], MODELS[model]);
        req.max_message_size = max;
        req.attributes_filter_list = filter.clone();
        let mut list = req.list().unwrap();
        if let Some(s) = sub12 {
            // Sub-option 12 in addition to (or instead of) option 57.
            let mut o = BsdpOptions::decode(list.options.get(code::VENDOR_SPECIFIC).unwrap()).unwrap();
            o.max_message_size = Some(s);
            list.options.set(code::VENDOR_SPECIFIC, o.to_vec().unwrap());
        }
        let from = SocketAddr::from((Ipv4Addr::new(10, 0, 0, 50), 68));
        let limit = [max, sub12]
            .iter()
            .flatten()
            .min()
            .map_or(DHCP_MIN_MESSAGE_LEN, |m| (usize::from(*m).saturating_sub(28)).max(DHCP_MIN_MESSAGE_LEN));
        let eligible: Vec<u16> = specs
            .iter()
            .filter(|(i, s)| {
                let attrs = ImageId::new(**i, ImageKind::new(s.kind).unwrap(), s.install).attributes();
                may_list(s, arch, model, mac, filter.as_deref(), attrs)
            })
            .map(|(i, _)| *i)
            .collect();
        match responder.handle_outcome(&list.to_vec().unwrap(), from, Instant::now()) {
            Outcome::Drop(reason) => {
                prop_assert!(eligible.is_empty(), "dropped ({reason}) with {} eligible", eligible.len());
            }
            Outcome::Reply(reply) => {
                prop_assert!(reply.bytes.len() <= limit, "{} > {limit}", reply.bytes.len());
                prop_assert!(reply.bytes.len() >= 300);
                let ack = Ack::decode(&reply.bytes).unwrap();
                prop_assert_eq!(ack.message_type, BsdpMessageType::List);
                prop_assert!(!ack.images.is_empty());
                let default = ack.default_image.unwrap();
                prop_assert!(ack.images.iter().any(|i| i.id == default));
                for image in &ack.images {
                    prop_assert!(eligible.contains(&image.id.index()), "{} listed", image.id);
                    let s = &specs[&image.id.index()];
                    prop_assert_eq!(&image.name, &s.name);
                    prop_assert_eq!(image.id.is_install(), s.install);
                }
                // Without a size squeeze every eligible image is there.
                if limit >= 65_000 {
                    prop_assert_eq!(ack.images.len(), eligible.len());
                }
                // A SELECT of any listed image is acknowledged with its booter.
                for image in ack.images.iter().take(5) {
                    let sel = req.select(SERVER, image.id).unwrap();
                    let r = responder.handle(&sel.to_vec().unwrap(), from, Instant::now()).unwrap();
                    let s = Ack::decode(&r.bytes).unwrap();
                    prop_assert_eq!(s.message_type, BsdpMessageType::Select);
                    prop_assert_eq!(s.selected_image, Some(image.id));
                    let want = format!("image-{}.nbi/{}/booter", image.id.index(), ARCHS[arch]);
                    prop_assert_eq!(s.boot_file.as_deref(), Some(want.as_str()));
                    prop_assert_eq!(s.tftp_server, SERVER);
                }
            }
        }
    }
}
