//! `sup-service` end to end on loopback: Apple's catalogs served by an
//! independent HTTP server (Python's `http.server`, which answers
//! `If-Modified-Since` with 304 as a CDN does), catalogs and distribution
//! files generated with Python's `plistlib`, the signed cabinet checked
//! with `osslsigncode`, `cabextract` and `xmllint`, and the HTTPS listener
//! read with `curl`.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use test_support::{python, require_peer, require_python, run, run_ok, tempdir};

const BIN: &str = env!("CARGO_BIN_EXE_sup-service");

fn generator() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../wsus-publish/tests/gen_sucatalog.py")
}

/// A child process killed when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Python's `http.server` over `dir` on a free loopback port; its request
/// log goes to `log`.
fn http_server(dir: &Path, log: &Path) -> (Killed, u16) {
    let code = "import http.server, functools, sys\n\
                h = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1])\n\
                s = http.server.ThreadingHTTPServer(('127.0.0.1', 0), h)\n\
                print(s.server_address[1], flush=True)\n\
                s.serve_forever()\n";
    let mut child = Command::new(python())
        .args(["-c", code, dir.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("starting python http.server");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line.trim().parse().expect("port line");
    (Killed(child), port)
}

fn once(data: &Path, catalog_url: &str) -> serde_json::Value {
    let out = run(
        &[
            BIN,
            "--once",
            "--data-dir",
            data.to_str().unwrap(),
            "--catalog",
            &format!("15={catalog_url}"),
            "--public-host",
            "127.0.0.1",
            "--listen",
            "127.0.0.1:0",
            "--log-dir",
            data.join("logs").to_str().unwrap(),
            "--log-quiet",
        ],
        b"",
    );
    assert!(
        out.status.success(),
        "sup-service --once failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

#[test]
fn publishes_a_signed_catalog_and_keeps_the_last_good_one() {
    if !require_python("sup-service e2e", &["plistlib"])
        || !require_peer("sup-service e2e", &["osslsigncode", "--version"])
        || !require_peer("sup-service e2e", &["cabextract", "--version"])
        || !require_peer("sup-service e2e", &["xmllint", "--version"])
        || !require_peer("sup-service e2e", &["curl", "--version"])
    {
        return;
    }
    let tmp = tempdir();
    let www = tmp.path().join("www");
    std::fs::create_dir_all(www.join("dist")).unwrap();
    let (_server, port) = http_server(&www, &tmp.path().join("http.log"));
    let base = format!("http://127.0.0.1:{port}");
    let catalog = www.join("index-15.merged-1.sucatalog.gz");
    let manifest = tmp.path().join("manifest.json");
    run_ok(
        &[
            &python(),
            generator().to_str().unwrap(),
            "--products",
            "400",
            "--seed",
            "7",
            "--gzip",
            "--out",
            catalog.to_str().unwrap(),
            "--dist-dir",
            www.join("dist").to_str().unwrap(),
            "--dist-base-url",
            &format!("{base}/dist"),
            "--manifest",
            manifest.to_str().unwrap(),
        ],
        b"",
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    let products = manifest["products"].as_array().unwrap();
    let readable = products.iter().filter(|p| p["broken"].is_null()).count();
    assert!(readable > 350 && readable < 400, "{readable}");

    let data = tmp.path().join("data");
    let url = format!("{base}/index-15.merged-1.sucatalog.gz");

    // First cycle: everything downloaded, built, signed.
    let first = once(&data, &url);
    assert_eq!(first["changed"], true, "{first}");
    assert_eq!(first["products"], readable, "{first}");
    assert_eq!(first["packages_published"], readable, "{first}");
    assert_eq!(first["failed_sources"], 0, "{first}");
    assert_eq!(first["without_distribution"], 0, "{first}");
    assert!(first["superseding"].as_u64().unwrap() > 0, "{first}");
    let cab_path = data.join("published/pippin-apple.cab");
    let cab = std::fs::read(&cab_path).unwrap();
    assert_eq!(
        first["catalog_sha256"],
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&cab))
    );

    // The signature verifies with osslsigncode against the certificate the
    // service made; the cabinet extracts with cabextract; the XML is
    // well-formed and holds one package per readable product.
    let signing = data.join("signing.pem");
    let verify = run(
        &[
            "osslsigncode",
            "verify",
            "-in",
            cab_path.to_str().unwrap(),
            "-CAfile",
            signing.to_str().unwrap(),
        ],
        b"",
    );
    let text = String::from_utf8_lossy(&verify.stdout).into_owned()
        + &String::from_utf8_lossy(&verify.stderr);
    assert!(verify.status.success(), "osslsigncode verify: {text}");
    assert!(text.contains("Signature verification: ok"), "{text}");
    let out_dir = tmp.path().join("extracted");
    run_ok(
        &[
            "cabextract",
            "-q",
            "-d",
            out_dir.to_str().unwrap(),
            cab_path.to_str().unwrap(),
        ],
        b"",
    );
    let xml_path = out_dir.join("pippin-apple.xml");
    let xml = std::fs::read(&xml_path).unwrap();
    assert_eq!(
        xml,
        std::fs::read(data.join("published/pippin-apple.xml")).unwrap()
    );
    run_ok(&["xmllint", "--noout", xml_path.to_str().unwrap()], b"");
    let count = run_ok(
        &[
            "xmllint",
            "--xpath",
            "count(//*[local-name()='SoftwareDistributionPackage'])",
            xml_path.to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(String::from_utf8_lossy(&count).trim(), readable.to_string());

    // Second cycle: Apple's server says 304, nothing is rebuilt.
    let second = once(&data, &url);
    assert_eq!(second["changed"], false, "{second}");
    assert_eq!(second["failed_sources"], 0, "{second}");
    assert_eq!(std::fs::read(&cab_path).unwrap(), cab);
    let log = std::fs::read_to_string(tmp.path().join("http.log")).unwrap();
    assert!(log.contains("\" 304 "), "no 304 in the server log:\n{log}");

    // A damaged catalog on the server: the cached copy is used, the
    // served catalog stays.
    std::thread::sleep(Duration::from_millis(1100)); // a newer Last-Modified
    std::fs::write(&catalog, b"\x1f\x8b\x08\x00garbage").unwrap();
    let third = once(&data, &url);
    assert_eq!(third["failed_sources"], 1, "{third}");
    assert_eq!(third["changed"], false, "{third}");
    assert_eq!(third["products"], readable, "{third}");
    assert_eq!(std::fs::read(&cab_path).unwrap(), cab);
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data.join("state.json")).unwrap()).unwrap();
    assert!(
        state["sources"][&url]["last_error"]
            .as_str()
            .unwrap()
            .contains("parse"),
        "{state}"
    );

    // Serving: the cabinet over HTTPS, with conditional requests.
    let mut child = Command::new(BIN)
        .args([
            "--data-dir",
            data.to_str().unwrap(),
            "--catalog",
            &url,
            "--public-host",
            "127.0.0.1",
            "--listen",
            "127.0.0.1:0",
            "--log-dir",
            data.join("logs").to_str().unwrap(),
            "--log-quiet",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let _guard = Killed(child);
    let mut addr = None;
    let deadline = Instant::now() + Duration::from_secs(60);
    while addr.is_none() && Instant::now() < deadline {
        let mut line = String::new();
        if stdout.read_line(&mut line).unwrap() == 0 {
            break;
        }
        addr = line
            .strip_prefix("sup-service: HTTPS on ")
            .map(|a| a.trim().to_owned());
    }
    let addr = addr.expect("the banner names the address");
    let port = addr.rsplit(':').next().unwrap();
    let ca = data.join("pki/ca.pem");
    let https = format!("https://127.0.0.1:{port}");
    let fetched = tmp.path().join("fetched.cab");
    let headers = run_ok(
        &[
            "curl",
            "-sS",
            "--fail",
            "--cacert",
            ca.to_str().unwrap(),
            "-D",
            "-",
            "-o",
            fetched.to_str().unwrap(),
            &format!("{https}/catalogs/pippin-apple.cab"),
        ],
        b"",
    );
    assert_eq!(std::fs::read(&fetched).unwrap(), cab);
    let headers = String::from_utf8_lossy(&headers).to_lowercase();
    let etag = headers
        .lines()
        .find_map(|l| l.strip_prefix("etag: "))
        .expect("an ETag")
        .trim()
        .to_owned();
    assert!(
        headers.contains("content-type: application/vnd.ms-cab-compressed"),
        "{headers}"
    );
    let status = run_ok(
        &[
            "curl",
            "-sS",
            "--cacert",
            ca.to_str().unwrap(),
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-H",
            &format!("If-None-Match: {etag}"),
            &format!("{https}/catalogs/pippin-apple.cab"),
        ],
        b"",
    );
    assert_eq!(String::from_utf8_lossy(&status), "304");
    let cer = run_ok(
        &[
            "curl",
            "-sS",
            "--fail",
            "--cacert",
            ca.to_str().unwrap(),
            &format!("{https}/catalogs/pippin-apple.cer"),
        ],
        b"",
    );
    assert_eq!(
        cer,
        pippin_service::pem_to_ders(&std::fs::read_to_string(&signing).unwrap()).unwrap()[0]
    );
    let missing = run_ok(
        &[
            "curl",
            "-sS",
            "--cacert",
            ca.to_str().unwrap(),
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &format!("{https}/catalogs/other.cab"),
        ],
        b"",
    );
    assert_eq!(String::from_utf8_lossy(&missing), "404");
}

/// Publications reach cm-proxy's admin API: a report that cm-proxy refuses
/// (a wrong token) is sent again at the next cycle, and an unchanged
/// catalog is reported once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_publications_to_cm_proxy() {
    if !require_python("sup-service report", &["plistlib"]) {
        return;
    }
    let tmp = tempdir();
    let www = tmp.path().join("www");
    std::fs::create_dir_all(&www).unwrap();
    let (_server, port) = http_server(&www, &tmp.path().join("http.log"));
    let catalog = www.join("index-14.sucatalog");
    run_ok(
        &[
            &python(),
            generator().to_str().unwrap(),
            "--products",
            "120",
            "--seed",
            "11",
            "--out",
            catalog.to_str().unwrap(),
        ],
        b"",
    );
    let url = format!("http://127.0.0.1:{port}/index-14.sucatalog");

    // cm-proxy, in this process, on SQLite.
    let cm_data = tempdir();
    let mut settings = cm_proxy::config::Settings::defaults(cm_data.path().to_path_buf());
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let cm_port = probe.local_addr().unwrap().port();
    drop(probe);
    settings.listen = format!("127.0.0.1:{cm_port}").parse().unwrap();
    settings.public_url = format!("https://127.0.0.1:{cm_port}");
    settings.admin_token = Some("sup-report-token-0123456789".into());
    settings.log_stderr = false;
    let bound = cm_proxy::bind(&settings).await.unwrap();
    let app = bound.app().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(bound.serve(async move {
        let _ = stopped.await;
    }));

    let data = tmp.path().join("data");
    let token = tmp.path().join("token");
    let cycle = |token_text: &'static str| {
        let data = data.clone();
        let token = token.clone();
        let url = url.clone();
        let ca = cm_data.path().join("ca.pem");
        async move {
            std::fs::write(&token, token_text).unwrap();
            tokio::task::spawn_blocking(move || {
                let out = run(
                    &[
                        BIN,
                        "--once",
                        "--no-distributions",
                        "--data-dir",
                        data.to_str().unwrap(),
                        "--catalog",
                        &url,
                        "--public-host",
                        "sup.example.test",
                        "--cm-proxy-url",
                        &format!("https://127.0.0.1:{cm_port}"),
                        "--cm-proxy-token-file",
                        token.to_str().unwrap(),
                        "--cm-proxy-ca-file",
                        ca.to_str().unwrap(),
                        "--log-dir",
                        data.join("logs").to_str().unwrap(),
                        "--log-quiet",
                    ],
                    b"",
                );
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
            })
            .await
            .unwrap()
        }
    };

    let first = cycle("wrong-token").await;
    assert_eq!(first["changed"], true, "{first}");
    assert!(app.store.latest_publication().await.unwrap().is_none());
    let log = std::fs::read_to_string(data.join("logs/sup-service.log")).unwrap();
    assert!(
        log.contains("cannot report the publication to cm-proxy"),
        "{log}"
    );
    assert!(log.contains("401"), "{log}");

    let second = cycle("sup-report-token-0123456789").await;
    assert_eq!(second["changed"], false, "{second}");
    let recorded = app
        .store
        .latest_publication()
        .await
        .unwrap()
        .expect("reported");
    let p = &recorded.publication;
    assert_eq!(
        p.catalog_url,
        "https://sup.example.test:8763/catalogs/pippin-apple.cab"
    );
    assert_eq!(
        Some(p.catalog_sha256.as_str()),
        first["catalog_sha256"].as_str()
    );
    assert_eq!(u64::from(p.products), first["products"].as_u64().unwrap());
    assert_eq!(
        u64::from(p.packages_published),
        first["packages_published"].as_u64().unwrap()
    );
    assert_eq!(p.detail["sources"][0]["url"], url.as_str());
    assert!(
        p.detail["signer"]
            .as_str()
            .unwrap()
            .contains("Pippin software updates"),
        "{}",
        p.detail
    );

    let third = cycle("sup-report-token-0123456789").await;
    assert_eq!(third["changed"], false, "{third}");
    let all = app.store.list_publications(None, 100).await.unwrap();
    assert_eq!(all.len(), 1, "an unchanged catalog is reported once");

    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(5), serving).await;
}
