//! `pippinctl` against a running service on loopback, with `openssl` and
//! Python's `plistlib` checking the files it makes.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use test_support::{require_peer, require_python, tempdir};

/// Runs openssl, asserting success; returns what it printed.
fn openssl(args: &[&str]) -> String {
    let mut cmd = vec!["openssl"];
    cmd.extend_from_slice(args);
    String::from_utf8_lossy(&test_support::run_ok(&cmd, b"")).into_owned()
}

const UUID: &str = "7d3c1b52-2f4e-4c38-9d0a-5e6f70819203";

struct Service {
    url: String,
    data: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

async fn start() -> Service {
    start_with(|_| {}).await
}

async fn start_with(tweak: impl FnOnce(&mut cm_proxy::config::Settings)) -> Service {
    let data = tempdir();
    let mut s = cm_proxy::config::Settings::defaults(data.path().to_path_buf());
    tweak(&mut s);
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = probe.local_addr().unwrap().port();
    drop(probe);
    s.listen = format!("127.0.0.1:{port}").parse().unwrap();
    s.public_url = format!("https://127.0.0.1:{port}");
    s.log_stderr = false;
    // No admin token configured: it is generated into DATA_DIR/admin-token,
    // where pippinctl finds it.
    let bound = cm_proxy::bind(&s).await.unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(bound.serve(async move {
        let _ = rx.await;
    }));
    Service {
        url: format!("https://127.0.0.1:{port}"),
        data,
        stop: Some(tx),
        task,
    }
}

impl Service {
    async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), self.task).await;
    }
}

/// Runs pippinctl; returns (success, stdout, stderr).
async fn ctl(args: Vec<String>) -> (bool, String, String) {
    tokio::task::spawn_blocking(move || {
        let out = Command::new(env!("CARGO_BIN_EXE_pippinctl"))
            .args(&args)
            .env_remove("PIPPIN_TOKEN")
            .env_remove("PIPPIN_SERVER")
            .env_remove("PIPPIN_CA")
            .output()
            .expect("running pippinctl");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .unwrap()
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

fn remote(svc: &Service, rest: &[&str]) -> Vec<String> {
    let mut v = vec![
        "--server".to_owned(),
        svc.url.clone(),
        "--data-dir".to_owned(),
        s(svc.data.path()),
    ];
    v.extend(rest.iter().map(|x| (*x).to_owned()));
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csr_import_and_show_through_the_admin_api() {
    let test = "csr_import_and_show_through_the_admin_api";
    if !require_peer(test, &["openssl", "version"]) {
        return;
    }
    let work = tempdir();
    let out: PathBuf = work.path().join("push");
    let (ok, stdout, stderr) = ctl(vec![
        "apns".into(),
        "csr".into(),
        "--out-dir".into(),
        s(&out),
        "--org".into(),
        "Example Corp".into(),
        "--country".into(),
        "us".into(),
        "--email".into(),
        "it@example.com".into(),
    ])
    .await;
    assert!(ok, "{stdout}{stderr}");
    let key = out.join("push.key");
    let csr = out.join("push.csr");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
    }
    // openssl checks the request's self-signature and reads its subject.
    let text = openssl(&["req", "-in", &s(&csr), "-verify", "-noout", "-subject"]);
    assert_eq!(
        text.trim(),
        "subject=CN = Pippin MDM push, O = Example Corp, C = US, emailAddress = it@example.com"
    );
    let bits = openssl(&["rsa", "-in", &s(&key), "-noout", "-text"]);
    assert!(bits.contains("2048 bit"), "{bits}");
    // Files are not replaced without --force.
    let (ok, _, stderr) = ctl(vec![
        "apns".into(),
        "csr".into(),
        "--out-dir".into(),
        s(&out),
    ])
    .await;
    assert!(!ok);
    assert!(stderr.contains("--force"), "{stderr}");

    // What Apple returns: a certificate for this key whose UID is the topic.
    let apple = work.path().join("MDM_Certificate.pem");
    openssl(&[
        "req",
        "-new",
        "-x509",
        "-key",
        &s(&key),
        "-days",
        "2",
        "-subj",
        &format!("/UID=com.apple.mgmt.External.{UUID}/CN=APSP:{UUID}/C=US"),
        "-out",
        &s(&apple),
    ]);

    let svc = start().await;
    let (ok, stdout, stderr) = ctl(remote(&svc, &["apns", "show", "--json"])).await;
    assert!(ok, "{stdout}{stderr}");
    let before: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(before["topic_is_placeholder"], true);

    let (ok, stdout, stderr) = ctl(remote(
        &svc,
        &["apns", "import", "--cert", &s(&apple), "--key", &s(&key)],
    ))
    .await;
    assert!(ok, "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("com.apple.mgmt.External.{UUID}")),
        "{stdout}"
    );
    assert!(stdout.contains("expires in"), "{stdout}");

    let (ok, stdout, _) = ctl(remote(&svc, &["apns", "show", "--json"])).await;
    assert!(ok);
    let after: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(after["topic"], format!("com.apple.mgmt.External.{UUID}"));
    assert_eq!(after["source"], "installed");

    // A certificate that does not belong to the key: the service's reason.
    let (ok, _, stderr) = ctl(remote(
        &svc,
        &[
            "apns",
            "import",
            "--cert",
            &s(&apple),
            "--key",
            &s(&svc.data.path().join("scep-ca.key")),
        ],
    ))
    .await;
    assert!(!ok);
    assert!(stderr.contains("400"), "{stderr}");

    let (ok, stdout, stderr) = ctl(remote(&svc, &["devices", "list", "--json"])).await;
    assert!(ok, "{stdout}{stderr}");
    let list: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(list["devices"], serde_json::json!([]), "{list}");

    // A wrong token is refused.
    let (ok, _, stderr) = ctl(remote(&svc, &["--token", "wrong", "apns", "show"])).await;
    assert!(!ok);
    assert!(stderr.contains("401"), "{stderr}");
    // A pin that does not match the server certificate is refused.
    let pin = "00".repeat(32);
    let (ok, _, stderr) = ctl(remote(&svc, &["--pin-sha256", &pin, "apns", "show"])).await;
    assert!(!ok, "{stderr}");
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vendor_signed_request_reads_back_with_plistlib_and_verifies_with_openssl() {
    let test = "vendor_signed_request_reads_back_with_plistlib_and_verifies_with_openssl";
    if !require_peer(test, &["openssl", "version"]) || !require_python(test, &["plistlib"]) {
        return;
    }
    let work = tempdir();
    let p = |n: &str| s(&work.path().join(n));
    let (ok, stdout, stderr) =
        ctl(vec!["apns".into(), "csr".into(), "--out-dir".into(), p("")]).await;
    assert!(ok, "{stdout}{stderr}");
    // A vendor signing certificate under a stand-in for Apple's CA.
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=Test Apple Root",
        "-keyout",
        &p("root.key"),
        "-out",
        &p("root.pem"),
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=MDM Vendor: Example",
        "-keyout",
        &p("vendor.key"),
        "-out",
        &p("vendor.csr"),
    ]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        &p("vendor.csr"),
        "-CA",
        &p("root.pem"),
        "-CAkey",
        &p("root.key"),
        "-set_serial",
        "7",
        "-days",
        "2",
        "-out",
        &p("vendor.pem"),
    ]);
    let chain = format!(
        "{}{}",
        std::fs::read_to_string(p("vendor.pem")).unwrap(),
        std::fs::read_to_string(p("root.pem")).unwrap()
    );
    std::fs::write(p("chain.pem"), chain).unwrap();

    for hash in ["sha256", "sha1"] {
        let out = p(&format!("push-{hash}.req"));
        let (ok, stdout, stderr) = ctl(vec![
            "apns".into(),
            "vendor-sign".into(),
            "--csr".into(),
            p("push.csr"),
            "--vendor-key".into(),
            p("vendor.key"),
            "--vendor-chain".into(),
            p("chain.pem"),
            "--hash".into(),
            hash.into(),
            "--out".into(),
            out.clone(),
        ])
        .await;
        assert!(ok, "{stdout}{stderr}");
        // plistlib reads the request; the parts go to files for openssl.
        let script = r#"
import base64, plistlib, sys
d = plistlib.loads(base64.b64decode(open(sys.argv[1], 'rb').read()))
assert sorted(d) == ['PushCertCertificateChain', 'PushCertRequestCSR', 'PushCertSignature'], sorted(d)
open(sys.argv[2] + '/csr.der', 'wb').write(base64.b64decode(d['PushCertRequestCSR']))
open(sys.argv[2] + '/sig.bin', 'wb').write(base64.b64decode(d['PushCertSignature']))
open(sys.argv[2] + '/chain-out.pem', 'w').write(d['PushCertCertificateChain'])
"#;
        std::fs::write(p("read.py"), script).unwrap();
        let py = test_support::python();
        test_support::run_ok(&[py.as_str(), &p("read.py"), &out, &s(work.path())], b"");
        // The CSR inside is the one made above.
        openssl(&[
            "req",
            "-in",
            &p("push.csr"),
            "-outform",
            "DER",
            "-out",
            &p("orig.der"),
        ]);
        assert_eq!(
            std::fs::read(p("orig.der")).unwrap(),
            std::fs::read(p("csr.der")).unwrap()
        );
        // The chain starts with the vendor certificate.
        let first = openssl(&["x509", "-in", &p("chain-out.pem"), "-noout", "-subject"]);
        assert!(first.contains("MDM Vendor"), "{first}");
        // openssl verifies the signature with the vendor's public key.
        openssl(&[
            "x509",
            "-in",
            &p("vendor.pem"),
            "-pubkey",
            "-noout",
            "-out",
            &p("vendor.pub"),
        ]);
        let verified = openssl(&[
            "dgst",
            &format!("-{hash}"),
            "-verify",
            &p("vendor.pub"),
            "-signature",
            &p("sig.bin"),
            &p("csr.der"),
        ]);
        assert!(verified.contains("Verified OK"), "{verified}");
    }

    // A key that is not the chain's first certificate's is refused.
    let (ok, _, stderr) = ctl(vec![
        "apns".into(),
        "vendor-sign".into(),
        "--csr".into(),
        p("push.csr"),
        "--vendor-key".into(),
        p("root.key"),
        "--vendor-chain".into(),
        p("chain.pem"),
        "--out".into(),
        p("bad.req"),
    ])
    .await;
    assert!(!ok);
    assert!(stderr.contains("does not belong"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dep_certificate_token_and_devices() {
    let test = "dep_certificate_token_and_devices";
    if !require_peer(test, &["openssl", "version"]) {
        return;
    }
    let mut sc = dep_client::simulator::SimulatorConfig::default();
    sc.devices(5);
    let sim = dep_client::simulator::Simulator::start(sc).await.unwrap();
    let base = sim.base_url();
    let svc = start_with(|s| s.dep.base_url = base).await;
    let work = tempdir();
    let p = |n: &str| s(&work.path().join(n));

    let (ok, pem, stderr) = ctl(remote(&svc, &["dep", "certificate"])).await;
    assert!(ok, "{stderr}");
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    std::fs::write(p("dep.pem"), &pem).unwrap();
    // What Apple Business Manager returns, made with openssl.
    let token = serde_json::to_string(&sim.server_token()).unwrap();
    std::fs::write(
        p("msg.txt"),
        format!(
            "Content-Type: text/plain;charset=UTF-8\r\n\r\n-----BEGIN MESSAGE-----\r\n{token}\r\n-----END MESSAGE-----\r\n"
        ),
    )
    .unwrap();
    openssl(&[
        "smime",
        "-encrypt",
        "-aes256",
        "-in",
        &p("msg.txt"),
        "-out",
        &p("token.p7m"),
        &p("dep.pem"),
    ]);

    let (ok, out, stderr) = ctl(remote(
        &svc,
        &["dep", "token", "main", &p("token.p7m"), "--json"],
    ))
    .await;
    assert!(ok, "{out}{stderr}");
    let link: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(link["name"], "main");

    let mut listed = Vec::new();
    for _ in 0..100 {
        let (ok, out, _) = ctl(remote(
            &svc,
            &["dep", "devices", "--assign-status", "assigned", "--json"],
        ))
        .await;
        assert!(ok);
        let v: Value = serde_json::from_str(&out).unwrap();
        listed = v["devices"].as_array().unwrap().clone();
        if listed.len() == 5 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(listed.len(), 5, "{listed:?}");
    let (ok, out, _) = ctl(remote(&svc, &["dep", "links"])).await;
    assert!(ok);
    assert!(out.contains("main") && out.contains("5 devices"), "{out}");
    let (ok, _, stderr) = ctl(remote(&svc, &["dep", "token", "bad/name", &p("token.p7m")])).await;
    assert!(!ok);
    assert!(stderr.contains("400"), "{stderr}");

    // A binary (DER) token file, for a second link: sent as base64.
    openssl(&[
        "cms",
        "-encrypt",
        "-aes128",
        "-binary",
        "-outform",
        "DER",
        "-in",
        &p("msg.txt"),
        "-out",
        &p("token.der"),
        "-recip",
        &p("dep.pem"),
    ]);
    let der = std::fs::read(p("token.der")).unwrap();
    assert!(std::str::from_utf8(&der).is_err(), "not text");
    let (ok, out, stderr) = ctl(remote(
        &svc,
        &["dep", "token", "second", &p("token.der"), "--json"],
    ))
    .await;
    assert!(ok, "{out}{stderr}");
    let link: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(link["name"], "second");
    assert_eq!(link["consumer_key"], sim.credentials().consumer_key);
    // Renewing the first with the same text file: the link is kept.
    let (ok, out, stderr) = ctl(remote(
        &svc,
        &["dep", "token", "main", &p("token.p7m"), "--json"],
    ))
    .await;
    assert!(ok, "{out}{stderr}");
    let link: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(link["phase"], "sync", "{link}");
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sup_publications_are_listed() {
    let svc = start().await;
    // Before any: an empty list, and no latest.
    let (ok, out, stderr) = ctl(remote(&svc, &["sup", "publications", "--json"])).await;
    assert!(ok, "{stderr}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["publications"], serde_json::json!([]));
    let (ok, _, stderr) = ctl(remote(&svc, &["sup", "latest"])).await;
    assert!(!ok);
    assert!(stderr.contains("404"), "{stderr}");

    // Three reports, as sup-service sends them.
    let token = std::fs::read_to_string(svc.data.path().join("admin-token")).unwrap();
    let ca = std::fs::read_to_string(svc.data.path().join("ca.pem")).unwrap();
    let api = pippinctl::api::ApiClient::new(&svc.url, token.trim().to_owned(), &ca, None).unwrap();
    for n in 0..3 {
        let body = serde_json::json!({
            "catalog_url": format!("https://sup.example.org/{n}/catalog.cab"),
            "catalog_sha256": format!("{:064x}", 0xfeed + n),
            "published_at": format!("2024-06-0{}T08:30:00Z", n + 1),
            "products": 400 + n,
            "packages_published": 30 + n,
            "superseded": 4,
            "expired": 1,
        });
        let answer = api
            .call("POST", "/api/v1/software-updates/publications", Some(&body))
            .await
            .unwrap();
        assert_eq!(answer.status, 201, "{}", answer.body);
    }

    // A page of two, then the rest.
    let (ok, out, stderr) = ctl(remote(&svc, &["sup", "publications", "--limit", "2"])).await;
    assert!(ok, "{stderr}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines[0].contains("2024-06-01T08:30:00Z"), "{out}");
    assert!(
        lines[0].contains("400 products, 30 published, 4 superseded, 1 expired"),
        "{out}"
    );
    assert!(lines[0].contains(&format!("{:012x}", 0)), "{out}");
    assert!(
        lines[0].ends_with("https://sup.example.org/0/catalog.cab"),
        "{out}"
    );
    let after = lines[2].strip_prefix("more: --after ").unwrap();
    let (ok, out, stderr) = ctl(remote(
        &svc,
        &["sup", "publications", "--after", after, "--json"],
    ))
    .await;
    assert!(ok, "{stderr}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["publications"].as_array().unwrap().len(), 1);
    assert_eq!(v["publications"][0]["products"], 402);
    assert_eq!(v["next_after"], Value::Null);

    let (ok, out, stderr) = ctl(remote(&svc, &["sup", "latest", "--json"])).await;
    assert!(ok, "{stderr}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["catalog_url"], "https://sup.example.org/2/catalog.cab");
    assert_eq!(v["catalog_sha256"], format!("{:064x}", 0xfeed + 2));
    let (ok, out, _) = ctl(remote(&svc, &["sup", "latest"])).await;
    assert!(ok);
    assert!(
        out.contains("https://sup.example.org/2/catalog.cab"),
        "{out}"
    );
    svc.stop().await;
}
