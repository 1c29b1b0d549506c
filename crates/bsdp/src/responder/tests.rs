use super::*;
use crate::bsdp::{ImageKind, VERSION_1_1};
use crate::codec::Encode;
use crate::exchange::{Ack, InformRequest};
use crate::image_info::ImageInfo;

const SERVER: Ipv4Addr = Ipv4Addr::new(192, 168, 56, 1);
const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 168, 56, 20);
const MAC: [u8; 6] = [0xa8, 0x20, 0x66, 0x12, 0x34, 0x56];

fn image(index: u16, name: &str) -> CatalogImage {
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
        dir_name: format!("{name}.nbi"),
    }
}

fn responder(images: Vec<CatalogImage>) -> Responder {
    let mut cfg = ResponderConfig::new(SERVER);
    cfg.server_name("netboot.example");
    let (c, skipped) = Catalog::new(images);
    assert!(skipped.is_empty());
    Responder::new(Arc::new(cfg), Arc::new(c))
}

fn client() -> InformRequest {
    let mut r = InformRequest::new(MAC, CLIENT, "i386", "MacBookPro11,2");
    r.xid = 0x5a3c_1f07;
    r
}

fn src() -> SocketAddr {
    SocketAddr::from((CLIENT, 68))
}

fn ask(r: &mut Responder, p: &Packet) -> Outcome {
    r.handle_outcome(&p.to_vec().unwrap(), src(), Instant::now())
}

fn ack(o: Outcome) -> (Reply, Ack) {
    let Outcome::Reply(reply) = o else {
        panic!("expected a reply, got {o:?}")
    };
    let a = Ack::decode(&reply.bytes).unwrap();
    (reply, a)
}

#[test]
fn list_then_select() {
    let mut a = image(1001, "NetInstall");
    a.info.is_install = true;
    let mut b = image(1002, "Runtime");
    b.info.is_default = true;
    let mut r = responder(vec![a, b]);
    let (reply, l) = ack(ask(&mut r, &client().list().unwrap()));
    assert_eq!(reply.kind, BsdpMessageType::List);
    assert_eq!(reply.destination, SocketAddrV4::new(CLIENT, 68));
    assert!(reply.bytes.len() >= BOOTP_MIN_LEN);
    assert_eq!(l.xid, 0x5a3c_1f07);
    assert_eq!(l.server_identifier, Some(SERVER));
    assert_eq!(l.server_priority, Some(0x8000));
    assert_eq!(l.default_image, Some(ImageId(0x0100_03ea)));
    assert_eq!(l.selected_image, None);
    let ids: Vec<u32> = l.images.iter().map(|i| i.id.0).collect();
    assert_eq!(ids, vec![0x8100_03e9, 0x0100_03ea]);
    assert_eq!(l.images[0].name, "NetInstall");

    let (reply, s) = ack(ask(
        &mut r,
        &client().select(SERVER, l.images[0].id).unwrap(),
    ));
    assert_eq!(reply.kind, BsdpMessageType::Select);
    assert_eq!(s.selected_image, Some(ImageId(0x8100_03e9)));
    assert_eq!(s.boot_file.as_deref(), Some("NetInstall.nbi/i386/booter"));
    assert_eq!(s.tftp_server, SERVER);
    assert_eq!(
        s.root_path.as_deref(),
        Some("http://192.168.56.1/NetInstall.nbi/NetInstall.dmg")
    );
    assert_eq!(s.machine_name.as_deref(), Some("NetBoot-A82066123456"));
    let p = Packet::decode(&reply.bytes).unwrap();
    assert_eq!(p.sname_str(), Some("netboot.example"));
    assert_eq!(p.ciaddr, CLIENT);
    assert_eq!(p.yiaddr, Ipv4Addr::UNSPECIFIED);
    assert_eq!(p.vendor_class(), Some(&b"AAPLBSDPC"[..]));

    // The choice comes back as the selected image in the next LIST.
    let (_, l2) = ack(ask(&mut r, &client().list().unwrap()));
    assert_eq!(l2.selected_image, Some(ImageId(0x8100_03e9)));
    let stats = r.counters().snapshot();
    assert_eq!(
        (stats.requests, stats.list_answered, stats.select_answered),
        (3, 2, 1)
    );
}

#[test]
fn failed_for_unknown_disallowed_or_stale_ids() {
    let mut other = image(1003, "PPC only");
    other.info.architectures = vec!["ppc".into()];
    let mut r = responder(vec![image(1001, "A"), other]);
    for id in [
        ImageId(0x0100_0999),
        ImageId(0x0100_03eb),
        ImageId(0x8100_03e9),
    ] {
        let (reply, f) = ack(ask(&mut r, &client().select(SERVER, id).unwrap()));
        assert_eq!(reply.kind, BsdpMessageType::Failed, "{id}");
        assert_eq!(f.message_type, BsdpMessageType::Failed);
        assert_eq!(f.boot_file, None);
        assert_eq!(f.root_path, None);
        assert_eq!(reply.bytes.len(), BOOTP_MIN_LEN);
    }
    assert_eq!(r.counters().snapshot().failed_answered, 3);
}

#[test]
fn select_without_image_takes_the_default() {
    let mut b = image(1002, "B");
    b.info.is_default = true;
    let mut r = responder(vec![image(1001, "A"), b]);
    let mut p = client().select(SERVER, ImageId(0)).unwrap();
    let o = BsdpOptions {
        message_type: Some(BsdpMessageType::Select),
        version: Some(VERSION_1_1),
        server_identifier: Some(SERVER),
        ..BsdpOptions::default()
    };
    p.options.set(code::VENDOR_SPECIFIC, o.to_vec().unwrap());
    let (_, s) = ack(ask(&mut r, &p));
    assert_eq!(s.selected_image, Some(ImageId(0x0100_03ea)));
}

#[test]
fn drops() {
    let mut r = responder(vec![image(1001, "A")]);
    type Edit = Box<dyn Fn(&mut Packet)>;
    let cases: Vec<(Edit, DropReason)> = vec![
        (
            Box::new(|p| p.ciaddr = Ipv4Addr::UNSPECIFIED),
            DropReason::NoClientAddress,
        ),
        (Box::new(|p| p.op = Op::Reply), DropReason::NotInform),
        (
            Box::new(|p| p.options.set(code::MESSAGE_TYPE, [1])),
            DropReason::NotInform,
        ),
        (
            Box::new(|p| p.options.set(code::VENDOR_CLASS, &b"PXEClient"[..])),
            DropReason::NotBsdp,
        ),
        (
            Box::new(|p| p.options.remove(code::VENDOR_SPECIFIC)),
            DropReason::NotBsdp,
        ),
        (
            Box::new(|p| p.options.set(code::VENDOR_SPECIFIC, [1, 2, 1])),
            DropReason::Malformed,
        ),
        (
            Box::new(|p| p.options.set(code::VENDOR_SPECIFIC, [1, 1, 9])),
            DropReason::BadMessageType,
        ),
        (
            Box::new(|p| p.options.set(code::VENDOR_SPECIFIC, [1, 1, 1, 5, 2, 4, 0])),
            DropReason::UnprivilegedReplyPort,
        ),
        (
            Box::new(|p| p.options.set(code::VENDOR_SPECIFIC, [1, 1, 2])),
            DropReason::NoServerIdentifier,
        ),
        (
            Box::new(|p| {
                p.options.set(
                    code::VENDOR_SPECIFIC,
                    [1, 1, 2, 3, 4, 10, 0, 0, 2, 8, 4, 1, 0, 3, 233],
                )
            }),
            DropReason::OtherServer,
        ),
        (
            Box::new(|p| {
                p.options
                    .set(code::VENDOR_CLASS, &b"AAPLBSDPC/ppc/PowerMac3,1"[..])
            }),
            DropReason::NoImages,
        ),
    ];
    for (edit, want) in cases {
        let mut p = client().list().unwrap();
        edit(&mut p);
        assert_eq!(ask(&mut r, &p), Outcome::Drop(want), "{want}");
    }
    for junk in [&[][..], &[1u8; 100][..], &[0xffu8; 600][..]] {
        assert_eq!(
            r.handle_outcome(junk, src(), Instant::now()),
            Outcome::Drop(DropReason::Malformed)
        );
    }
    let stats = r.counters().snapshot();
    assert_eq!(stats.dropped(DropReason::Malformed), 4);
    assert_eq!(stats.dropped(DropReason::NotBsdp), 2);
    assert_eq!(stats.list_answered, 0);
}

#[test]
fn reply_port_and_relay() {
    let mut r = responder(vec![image(1001, "A")]);
    let mut c = client();
    c.reply_port = Some(1019);
    let (reply, _) = ack(ask(&mut r, &c.list().unwrap()));
    assert_eq!(reply.destination, SocketAddrV4::new(CLIENT, 1019));

    let mut p = client().list().unwrap();
    p.giaddr = Ipv4Addr::new(10, 1, 0, 1);
    let (reply, _) = ack(ask(&mut r, &p));
    assert_eq!(
        reply.destination,
        SocketAddrV4::new(Ipv4Addr::new(10, 1, 0, 1), 67)
    );
    assert_eq!(
        Packet::decode(&reply.bytes).unwrap().giaddr,
        Ipv4Addr::new(10, 1, 0, 1)
    );

    let mut cfg = ResponderConfig::new(SERVER);
    cfg.policy.answer_relayed = false;
    cfg.policy.allow_unprivileged_reply_port = true;
    let mut strict = Responder::new(
        Arc::new(cfg),
        Arc::new(Catalog::new(vec![image(1001, "A")]).0),
    );
    assert_eq!(ask(&mut strict, &p), Outcome::Drop(DropReason::Relayed));
    c.reply_port = Some(40000);
    let (reply, _) = ack(ask(&mut strict, &c.list().unwrap()));
    assert_eq!(reply.destination.port(), 40000);
}

#[test]
fn filters() {
    let mut models = image(1, "Models");
    models.info.enabled_system_identifiers = vec!["MacBookPro11,2".into()];
    let mut not_this_model = image(2, "NotThisModel");
    not_this_model.info.disabled_system_identifiers = vec!["MacBookPro11,2".into()];
    let mut other_mac = image(3, "OtherMac");
    other_mac.info.enabled_mac_addresses = vec![[0, 1, 2, 3, 4, 5]];
    let mut this_mac = image(4, "ThisMac");
    this_mac.info.enabled_mac_addresses = vec![MAC];
    let mut banned_mac = image(5, "BannedMac");
    banned_mac.info.disabled_mac_addresses = vec![MAC];
    let mut disabled = image(6, "Disabled");
    disabled.info.is_enabled = false;
    let mut filter_only = image(7, "FilterOnly");
    filter_only.info.filter_only = true;
    filter_only.info.kind = ImageKind::DIAGNOSTICS;
    let mut install = image(8, "Install");
    install.info.is_install = true;
    let mut any_arch = image(9, "AnyArch");
    any_arch.info.architectures = vec![];
    let mut r = responder(vec![
        models,
        not_this_model,
        other_mac,
        this_mac,
        banned_mac,
        disabled,
        filter_only,
        install,
        any_arch,
    ]);
    let names = |a: &Ack| a.images.iter().map(|i| i.name.clone()).collect::<Vec<_>>();
    let (_, l) = ack(ask(&mut r, &client().list().unwrap()));
    assert_eq!(names(&l), vec!["Models", "ThisMac", "Install", "AnyArch"]);

    // A filter list: only install images of kind 1, or kind 3 images.
    let mut c = client();
    c.attributes_filter_list = Some(vec![0x8100, 0x0300]);
    let (_, l) = ack(ask(&mut r, &c.list().unwrap()));
    assert_eq!(names(&l), vec!["FilterOnly", "Install"]);
    // SELECT ignores attribute filters but not the others.
    let (_, s) = ack(ask(
        &mut r,
        &client()
            .select(SERVER, ImageId::new(7, ImageKind::DIAGNOSTICS, false))
            .unwrap(),
    ));
    assert_eq!(s.message_type, BsdpMessageType::Select);
    let (_, s) = ack(ask(
        &mut r,
        &client()
            .select(SERVER, ImageId::new(5, ImageKind::MAC_OS_X, false))
            .unwrap(),
    ));
    assert_eq!(s.message_type, BsdpMessageType::Failed);
}

#[test]
fn big_lists_split_and_respect_the_size_limit() {
    let images: Vec<CatalogImage> = (1..=40u16)
        .map(|i| image(i, &format!("NetInstall image number {i:02} for testing")))
        .collect();
    let mut r = responder(images);
    // No size named: 548 bytes.
    let (reply, l) = ack(ask(&mut r, &client().list().unwrap()));
    assert!(
        reply.bytes.len() <= DHCP_MIN_MESSAGE_LEN,
        "{}",
        reply.bytes.len()
    );
    assert!(!l.images.is_empty() && l.images.len() < 40);
    let fitted = l.images.len();
    // 1500 named: more images, still within 1500 - 28.
    let mut c = client();
    c.max_message_size = Some(1500);
    let (reply, l) = ack(ask(&mut r, &c.list().unwrap()));
    assert!(reply.bytes.len() <= 1472);
    assert!(l.images.len() > fitted);
    // Option 43 is split into whole-sub-option instances of at most 255.
    let raw = &reply.bytes;
    let mut i = 240;
    let mut instances = 0;
    while i < raw.len() && raw[i] != 255 {
        if raw[i] == 0 {
            i += 1;
            continue;
        }
        if raw[i] == 43 {
            instances += 1;
            BsdpOptions::decode(&raw[i + 2..i + 2 + usize::from(raw[i + 1])]).unwrap();
        }
        i += 2 + usize::from(raw[i + 1]);
    }
    assert!(instances >= 2, "{instances}");
    // 65535 named: all 40.
    c.max_message_size = Some(65535);
    let (_, l) = ack(ask(&mut r, &c.list().unwrap()));
    assert_eq!(l.images.len(), 40);
}

#[test]
fn default_image_is_kept_when_the_list_is_cut() {
    let mut images: Vec<CatalogImage> = (1..=40u16)
        .map(|i| image(i, &format!("NetInstall image number {i:02} for testing")))
        .collect();
    images[39].info.is_default = true;
    let mut r = responder(images);
    let (_, l) = ack(ask(&mut r, &client().list().unwrap()));
    assert_eq!(l.default_image, Some(ImageId(0x0100_0028)));
    assert!(l.images.iter().any(|i| i.id == ImageId(0x0100_0028)));
    assert!(l.images.len() < 40);
}

#[test]
fn bsdp_1_0_clients_get_no_list() {
    let mut r = responder(vec![image(1, "A"), image(2, "B")]);
    let mut c = client();
    c.version = VERSION_1_0;
    let (_, l) = ack(ask(&mut r, &c.list().unwrap()));
    assert!(l.images.is_empty());
    assert_eq!(l.default_image, Some(ImageId(0x0100_0001)));
}

#[test]
fn nfs_boot_file_only_and_load_balanced_paths() {
    let mut nfs = image(1, "NFS Image");
    nfs.info.image_type = ImageType::Nfs;
    let mut diag = image(2, "Diag");
    diag.info.image_type = ImageType::BootFileOnly;
    diag.info.root_path = None;
    let mut lb = image(4097, "LB");
    lb.info.load_balance_server = Some(Ipv4Addr::new(192, 168, 56, 2));
    let mut preformatted = image(5, "Pre");
    preformatted.info.root_path = Some("http://10.0.0.5:8080/x/y.dmg".into());
    let mut r = responder(vec![nfs, diag, lb, preformatted]);
    let sel =
        |r: &mut Responder, id: u32| ack(ask(r, &client().select(SERVER, ImageId(id)).unwrap())).1;
    let s = sel(&mut r, 0x0100_0001);
    assert_eq!(
        s.root_path.as_deref(),
        Some("nfs:192.168.56.1:/nbi:NFS Image.nbi/NetInstall.dmg")
    );
    let s = sel(&mut r, 0x0100_0002);
    assert_eq!(s.root_path, None);
    assert_eq!(s.boot_file.as_deref(), Some("Diag.nbi/i386/booter"));
    let s = sel(&mut r, 0x0100_1001);
    assert_eq!(s.tftp_server, Ipv4Addr::new(192, 168, 56, 2));
    assert_eq!(
        s.root_path.as_deref(),
        Some("http://192.168.56.2/LB.nbi/NetInstall.dmg")
    );
    let s = sel(&mut r, 0x0100_0005);
    assert_eq!(s.root_path.as_deref(), Some("http://10.0.0.5:8080/x/y.dmg"));
    // Spaces in folder names are escaped in URLs.
    let mut spaced = image(6, "With Space");
    spaced.dir_name = "With Space.nbi".into();
    let mut cfg = ResponderConfig::new(SERVER);
    cfg.http(8080, "/images/")
        .tftp_prefix("netboot/")
        .tftp_server(Ipv4Addr::new(192, 168, 56, 9));
    let mut r = Responder::new(Arc::new(cfg), Arc::new(Catalog::new(vec![spaced]).0));
    let s = sel(&mut r, 0x0100_0006);
    assert_eq!(
        s.root_path.as_deref(),
        Some("http://192.168.56.1:8080/images/With%20Space.nbi/NetInstall.dmg")
    );
    assert_eq!(
        s.boot_file.as_deref(),
        Some("netboot/With Space.nbi/i386/booter")
    );
    assert_eq!(s.tftp_server, Ipv4Addr::new(192, 168, 56, 9));
}

#[test]
fn priority_by_load_and_binding_expiry() {
    let mut cfg = ResponderConfig::new(SERVER);
    cfg.policy.priority_by_load = true;
    cfg.policy.binding_ttl = Duration::from_secs(60);
    let mut r = Responder::new(Arc::new(cfg), Arc::new(Catalog::new(vec![image(1, "A")]).0));
    let t0 = Instant::now();
    let go = |r: &mut Responder, p: &Packet, t: Instant| {
        ack(Outcome::Reply(
            r.handle(&p.to_vec().unwrap(), src(), t).unwrap(),
        ))
        .1
    };
    assert_eq!(
        go(&mut r, &client().list().unwrap(), t0).server_priority,
        Some(0x8000)
    );
    go(
        &mut r,
        &client().select(SERVER, ImageId(0x0100_0001)).unwrap(),
        t0,
    );
    let l = go(
        &mut r,
        &client().list().unwrap(),
        t0 + Duration::from_secs(1),
    );
    assert_eq!(l.server_priority, Some(0x7fff));
    assert_eq!(l.selected_image, Some(ImageId(0x0100_0001)));
    let l = go(
        &mut r,
        &client().list().unwrap(),
        t0 + Duration::from_secs(61),
    );
    assert_eq!(l.server_priority, Some(0x8000));
    assert_eq!(l.selected_image, None);
}

#[test]
fn catalog_swap_takes_effect() {
    let mut r = responder(vec![image(1, "A")]);
    r.set_catalog(Arc::new(Catalog::new(vec![image(2, "B")]).0));
    let (_, l) = ack(ask(&mut r, &client().list().unwrap()));
    assert_eq!(l.images[0].name, "B");
    assert_eq!(r.catalog().len(), 1);
}
