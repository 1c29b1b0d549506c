//! The whole NetBoot path on loopback: a BSDP LIST and SELECT, the booter
//! over TFTP (our client and `curl`), the disk image over HTTP (`curl`,
//! with ranges and validators), traversal attempts on every route, a
//! rescan of the image folder, `/healthz` and `/metrics`.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use bsdp::client::BsdpClient;
use bsdp::{BsdpMessageType, InformRequest};
use netboot_server::{Netboot, Settings};
use tokio::sync::oneshot;

fn image_info(index: u32, name: &str, dmg: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0"><dict>
  <key>Index</key><integer>{index}</integer>
  <key>Name</key><string>{name}</string>
  <key>Type</key><string>HTTP</string>
  <key>BootFile</key><string>booter</string>
  <key>RootPath</key><string>{dmg}</string>
  <key>IsEnabled</key><true/>
  <key>IsInstall</key><true/>
  <key>IsDefault</key><true/>
  <key>Kind</key><integer>1</integer>
  <key>Architectures</key><array><string>i386</string></array>
</dict></plist>"#
    )
}

/// Bytes that differ at every offset, so a misplaced range shows.
fn pattern(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).max(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

fn make_image(root: &Path, folder: &str, index: u32, name: &str, booter: &[u8], dmg: &[u8]) {
    let dir = root.join(folder);
    std::fs::create_dir_all(dir.join("i386")).unwrap();
    std::fs::write(dir.join("i386/booter"), booter).unwrap();
    std::fs::write(dir.join("NetInstall.dmg"), dmg).unwrap();
    std::fs::write(
        dir.join("NBImageInfo.plist"),
        image_info(index, name, "NetInstall.dmg"),
    )
    .unwrap();
}

struct Site {
    _dir: tempfile::TempDir,
    images: PathBuf,
    outside: PathBuf,
    booter: Vec<u8>,
    dmg: Vec<u8>,
    bsdp: SocketAddr,
    tftp: SocketAddr,
    http: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

async fn start() -> Site {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("images");
    let booter = pattern(300_001, 1);
    let dmg = pattern(3 * 1024 * 1024 + 17, 2);
    make_image(
        &images,
        "NetInstall.nbi",
        1001,
        "NetInstall 10.13.6",
        &booter,
        &dmg,
    );
    // A secret next to the image folder, and links to it from inside.
    let outside = dir.path().join("secret.txt");
    std::fs::write(&outside, b"not for clients").unwrap();
    std::os::unix::fs::symlink(&outside, images.join("NetInstall.nbi/escape")).unwrap();
    std::os::unix::fs::symlink(&outside, images.join("NetInstall.nbi/i386/escape")).unwrap();

    let mut s = Settings::defaults(images.clone());
    s.server_ip = Some(Ipv4Addr::LOCALHOST);
    s.server_name = "nb-test".into();
    s.bsdp_listen = Some(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0));
    s.tftp_listen = Some("127.0.0.1:0".parse().unwrap());
    s.http_listen = Some("127.0.0.1:0".parse().unwrap());
    s.rescan_interval = Duration::from_secs(1);
    s.bsdp_allow_unprivileged_reply_port = true;
    let running = Netboot::bind(s).await.unwrap();
    assert_eq!(running.images(), 1);
    let (bsdp, tftp, http) = (
        running.bsdp_addr().unwrap(),
        running.tftp_addr().unwrap(),
        running.http_addr().unwrap(),
    );
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(running.run(async move {
        let _ = rx.await;
    }));
    Site {
        images,
        outside,
        _dir: dir,
        booter,
        dmg,
        bsdp,
        tftp,
        http,
        stop: Some(tx),
        task,
    }
}

impl Site {
    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(15), self.task)
            .await
            .expect("the service stops")
            .unwrap()
            .unwrap();
    }
}

fn request(mac_last: u8) -> InformRequest {
    let mut r = InformRequest::new(
        [0xa8, 0x20, 0x66, 0x00, 0x00, mac_last],
        Ipv4Addr::LOCALHOST,
        "i386",
        "MacBookPro11,2",
    );
    r.xid = 0x1234_5600 | u32::from(mac_last);
    r
}

async fn client() -> (BsdpClient, u16) {
    let c = BsdpClient::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0))
        .await
        .unwrap();
    let port = c.local_addr().unwrap().port();
    (c, port)
}

/// Runs `curl` with `args`; returns (status line code, headers, body).
async fn curl(args: Vec<String>) -> (u16, String, Vec<u8>) {
    tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        let headers = dir.path().join("h");
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "30", "-D"])
            .arg(&headers)
            .args(&args)
            .output()
            .expect("curl runs");
        assert!(
            out.status.success(),
            "curl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let h = std::fs::read_to_string(&headers).unwrap_or_default();
        let code = h
            .lines()
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        (code, h.to_ascii_lowercase(), out.stdout)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mac_finds_its_image_and_downloads_booter_and_disk_image() {
    let site = start().await;
    let (c, reply_port) = client().await;
    let mut req = request(1);
    req.reply_port = Some(reply_port);

    // LIST: the one image, install, default.
    let ack = c.list(site.bsdp, &req).await.unwrap();
    assert_eq!(ack.message_type, BsdpMessageType::List);
    assert_eq!(ack.server_identifier, Some(Ipv4Addr::LOCALHOST));
    assert_eq!(ack.images.len(), 1);
    let image = ack.images[0].clone();
    assert_eq!(image.name, "NetInstall 10.13.6");
    assert!(image.id.is_install());
    assert_eq!(image.id.index(), 1001);
    assert_eq!(ack.default_image, Some(image.id));

    // SELECT: where the booter and the disk image are.
    let ack = c
        .select(site.bsdp, Ipv4Addr::LOCALHOST, &req, image.id)
        .await
        .unwrap();
    assert_eq!(ack.message_type, BsdpMessageType::Select);
    assert_eq!(ack.selected_image, Some(image.id));
    assert_eq!(ack.tftp_server, Ipv4Addr::LOCALHOST);
    let boot_file = ack.boot_file.clone().unwrap();
    assert_eq!(boot_file, "NetInstall.nbi/i386/booter");
    let root_path = ack.root_path.clone().unwrap();
    assert_eq!(
        root_path,
        format!(
            "http://127.0.0.1:{}/nbi/NetInstall.nbi/NetInstall.dmg",
            site.http.port()
        )
    );

    // The booter over TFTP, exactly as handed out, with our client ...
    let mut cfg = tftp::client::ClientConfig::default();
    cfg.blksize(1468).tsize(true);
    let (got, t) = tftp::client::get(site.tftp, &boot_file, &cfg, Vec::new())
        .await
        .unwrap();
    assert_eq!(got, site.booter);
    assert_eq!(t.bytes, site.booter.len() as u64);

    // ... and with curl (which takes the URL path without its leading slash).
    if test_support::require_peer("netboot curl tftp", &["curl", "--version"]) {
        let url = format!("tftp://127.0.0.1:{}/{boot_file}", site.tftp.port());
        let out = tokio::task::spawn_blocking(move || {
            Command::new("curl")
                .args(["-sS", "--max-time", "30", "--tftp-blksize", "8192", &url])
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.stdout, site.booter);

        // The disk image over HTTP at the root path.
        let (code, headers, body) = curl(vec![root_path.clone()]).await;
        assert_eq!(code, 200);
        assert_eq!(body, site.dmg);
        assert!(headers.contains("accept-ranges: bytes"), "{headers}");
        assert!(headers.contains(&format!("content-length: {}", site.dmg.len())));
        let etag = headers
            .lines()
            .find_map(|l| l.strip_prefix("etag: "))
            .unwrap()
            .trim()
            .to_owned();

        // One range.
        let (code, headers, body) =
            curl(vec!["-r".into(), "1000-1999".into(), root_path.clone()]).await;
        assert_eq!(code, 206);
        assert_eq!(body, &site.dmg[1000..2000]);
        assert!(
            headers.contains(&format!(
                "content-range: bytes 1000-1999/{}",
                site.dmg.len()
            )),
            "{headers}"
        );
        // A suffix.
        let (code, _, body) = curl(vec!["-r".into(), "-100".into(), root_path.clone()]).await;
        assert_eq!(code, 206);
        assert_eq!(body, &site.dmg[site.dmg.len() - 100..]);
        // Several ranges: multipart/byteranges with each part in place.
        let (code, headers, body) =
            curl(vec!["-r".into(), "0-9,5000-5009".into(), root_path.clone()]).await;
        assert_eq!(code, 206);
        assert!(
            headers.contains("content-type: multipart/byteranges; boundary="),
            "{headers}"
        );
        let text = String::from_utf8_lossy(&body).into_owned();
        assert!(
            text.contains(
                &format!("content-range: bytes 0-9/{}", site.dmg.len())
                    .replace("content-range", "Content-Range")
            )
        );
        let find = |needle: &[u8]| body.windows(needle.len()).position(|w| w == needle);
        assert!(find(&site.dmg[0..10]).is_some());
        assert!(find(&site.dmg[5000..5010]).is_some());
        // Past the end.
        let (code, headers, _) =
            curl(vec!["-r".into(), "99999999-".into(), root_path.clone()]).await;
        assert_eq!(code, 416);
        assert!(headers.contains(&format!("content-range: bytes */{}", site.dmg.len())));
        // Validators: a matching tag is 304; If-Range with a stale tag
        // sends everything.
        let (code, _, body) = curl(vec![
            "-H".into(),
            format!("If-None-Match: {etag}"),
            root_path.clone(),
        ])
        .await;
        assert_eq!(code, 304);
        assert!(body.is_empty());
        let (code, _, body) = curl(vec![
            "-r".into(),
            "0-9".into(),
            "-H".into(),
            "If-Range: \"stale\"".into(),
            root_path.clone(),
        ])
        .await;
        assert_eq!(code, 200);
        assert_eq!(body.len(), site.dmg.len());
        let (code, _, body) = curl(vec![
            "-r".into(),
            "0-9".into(),
            "-H".into(),
            format!("If-Range: {etag}"),
            root_path.clone(),
        ])
        .await;
        assert_eq!(code, 206);
        assert_eq!(body, &site.dmg[..10]);
        // HEAD: the headers, no body.
        let (code, headers, body) = curl(vec!["-I".into(), root_path.clone()]).await;
        assert_eq!(code, 200);
        assert!(body.is_empty() || String::from_utf8_lossy(&body).starts_with("HTTP/1.1 200"));
        assert!(headers.contains(&format!("content-length: {}", site.dmg.len())));
        // Other methods are refused.
        let (code, headers, _) = curl(vec!["-X".into(), "DELETE".into(), root_path.clone()]).await;
        assert_eq!(code, 405);
        assert!(headers.contains("allow: get, head"));
    }
    site.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traversal_is_refused_on_every_route() {
    let site = start().await;
    let root_text = site.images.to_string_lossy().into_owned();

    // TFTP, our client: out of the folder, absolute, through a link.
    let cfg = tftp::client::ClientConfig::default();
    let secret = site.outside.to_string_lossy().into_owned();
    for name in [
        "../secret.txt",
        "NetInstall.nbi/../../secret.txt",
        "NetInstall.nbi\\..\\..\\secret.txt",
        "/NetInstall.nbi/escape",
        "NetInstall.nbi/i386/escape",
        secret.as_str(),
    ] {
        let e = tftp::client::get(site.tftp, name, &cfg, Vec::new())
            .await
            .map(|(b, _)| b)
            .expect_err(name);
        let text = e.to_string();
        assert!(!text.contains(&root_text), "{name}: {text}");
        assert!(!text.contains("not for clients"));
    }

    // HTTP, with curl sending the paths as they are.
    if test_support::require_peer("netboot curl http", &["curl", "--version"]) {
        let base = format!("http://127.0.0.1:{}", site.http.port());
        for path in [
            "/nbi/../secret.txt",
            "/nbi/NetInstall.nbi/../../secret.txt",
            "/nbi/NetInstall.nbi/%2e%2e/%2e%2e/secret.txt",
            "/nbi/NetInstall.nbi/..%2f..%2fsecret.txt",
            "/nbi/NetInstall.nbi/escape",
            "/nbi/NetInstall.nbi/i386/escape",
            "/nbi/NetInstall.nbi/i386/booter%00",
            "/nbi/NetInstall.nbi",
            "/nbi/NetInstall.nbi/",
            "/nbi/",
            "/secret.txt",
            "/nbi/NetInstall.nbi/i386",
        ] {
            let (code, _, body) = curl(vec!["--path-as-is".into(), format!("{base}{path}")]).await;
            assert!(code == 404 || code == 400, "{path}: {code}");
            let body = String::from_utf8_lossy(&body);
            assert!(
                !body.contains(&root_text) && !body.contains("not for clients"),
                "{path}: {body}"
            );
        }
        // A file in the folder but outside any .nbi is not served either.
        std::fs::write(site.images.join("notes.txt"), b"x").unwrap();
        let (code, _, _) = curl(vec![format!("{base}/nbi/notes.txt")]).await;
        assert_eq!(code, 404);
    }
    site.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_image_is_offered_after_a_rescan_and_health_and_metrics_report() {
    let site = start().await;
    let (c, reply_port) = client().await;
    let mut req = request(2);
    req.reply_port = Some(reply_port);
    assert_eq!(c.list(site.bsdp, &req).await.unwrap().images.len(), 1);

    // A second image and a broken one appear.
    make_image(
        &site.images,
        "Restore.nbi",
        1002,
        "Restore",
        &pattern(1000, 3),
        &pattern(1000, 4),
    );
    std::fs::create_dir_all(site.images.join("Broken.nbi")).unwrap();
    std::fs::write(
        site.images.join("Broken.nbi/NBImageInfo.plist"),
        b"<plist><dict>",
    )
    .unwrap();
    let mut names = Vec::new();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        req.xid += 1;
        names = c
            .list(site.bsdp, &req)
            .await
            .unwrap()
            .images
            .into_iter()
            .map(|i| i.name)
            .collect::<Vec<_>>();
        if names.len() == 2 {
            break;
        }
    }
    names.sort();
    assert_eq!(names, ["NetInstall 10.13.6", "Restore"]);

    // A SELECT of an unknown image fails.
    let unknown = bsdp::ImageId::new(4000, bsdp::ImageKind::MAC_OS_X, true);
    req.xid += 1;
    let ack = c
        .select(site.bsdp, Ipv4Addr::LOCALHOST, &req, unknown)
        .await
        .unwrap();
    assert_eq!(ack.message_type, BsdpMessageType::Failed);

    if test_support::require_peer("netboot curl health", &["curl", "--version"]) {
        let base = format!("http://127.0.0.1:{}", site.http.port());
        let (code, _, body) = curl(vec![format!("{base}/healthz")]).await;
        // The broken image makes the catalogue degraded, not down.
        assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
        let health: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(health["status"], "degraded", "{health}");
        let text = health.to_string();
        assert!(text.contains("2 images, 1 skipped"), "{text}");

        let mut cfg = tftp::client::ClientConfig::default();
        cfg.blksize(512);
        tftp::client::get(site.tftp, "/Restore.nbi/i386/booter", &cfg, Vec::new())
            .await
            .unwrap();
        let (code, _, body) = curl(vec![format!("{base}/metrics")]).await;
        assert_eq!(code, 200);
        let m = String::from_utf8(body).unwrap();
        for line in [
            "pippin_netboot_images 2",
            "pippin_bsdp_replies_total{kind=\"failed\"} 1",
            "pippin_tftp_transfers_total{outcome=\"finished\"} 1",
            "pippin_tftp_bytes_sent_total 1000",
        ] {
            assert!(m.lines().any(|l| l == line), "{line} missing from\n{m}");
        }
        assert!(m.contains("pippin_bsdp_replies_total{kind=\"list\"}"));
    }
    site.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_port_fails_the_start() {
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut s = Settings::defaults(dir.path().join("images"));
    s.server_ip = Some(Ipv4Addr::LOCALHOST);
    s.bsdp_listen = None;
    s.http_listen = None;
    s.tftp_listen = Some(taken.local_addr().unwrap());
    let e = Netboot::bind(s).await.unwrap_err();
    assert!(format!("{e:#}").contains("cannot listen for TFTP"), "{e:#}");
}
