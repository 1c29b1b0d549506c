//! Pushes to APNs end to end: the service, configured with a push
//! certificate, wakes an enrolled device through an HTTP/2 stand-in for APNs
//! (`crates/apns/tests/fixtures/h2_apns_server.py`, Python's `h2`) that
//! requires the push certificate as client identity.

#[path = "common/mod.rs"]
mod common;

use std::path::Path;

use common::{Device, Server};
use serde_json::{Value, json};
use test_support::{require_peer, require_python, tempdir};

const UUID: &str = "5c0f4d1e-77a2-4b43-9e0a-3f1d2c6b8a90";
const PUSH_MAGIC: &str = "00000000-1111-2222-3333-444444444444";

/// The APNs stand-in; killed when dropped.
type Apns = test_support::H2ApnsServer;

fn make_pki(dir: &Path) {
    test_support::apns_test_pki(dir, UUID);
}

fn start_apns(dir: &Path) -> Apns {
    test_support::H2ApnsServer::start(dir)
}

fn header<'a>(record: &'a Value, name: &str) -> Option<&'a str> {
    record["headers"]
        .as_array()?
        .iter()
        .find(|h| h[0] == name)
        .and_then(|h| h[1].as_str())
}

async fn queue(s: &Server, udid: &str) -> Value {
    let (status, resp) = s
        .api(
            "POST",
            &format!("/api/v1/devices/{udid}/commands"),
            Some(json!({"request_type": "ProfileList"})),
        )
        .await;
    assert_eq!(status, 201, "{resp}");
    resp
}

async fn device(s: &Server, udid: &str) -> Value {
    let (status, dev) = s.api("GET", &format!("/api/v1/devices/{udid}"), None).await;
    assert_eq!(status, 200, "{dev}");
    dev
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queuing_pushes_through_apns() {
    let test = "queuing_pushes_through_apns";
    if !require_peer(test, &["openssl", "version"]) || !require_python(test, &["h2", "ssl"]) {
        return;
    }
    let pki = tempdir();
    make_pki(pki.path());
    let apns = start_apns(pki.path());
    let topic = format!("com.apple.mgmt.External.{UUID}");
    let p = |n: &str| pki.path().join(n);
    let endpoint = format!("https://127.0.0.1:{}", apns.port);
    let s = Server::start_in(tempdir(), None, |s| {
        s.apns_cert = Some(p("push.pem"));
        s.apns_key = Some(p("push.key"));
        s.apns_endpoint = endpoint.clone();
        s.apns_ca = Some(p("ca.pem"));
    })
    .await;
    assert_eq!(s.app.push.describe(), format!("apns {endpoint}"));

    // The profile names the certificate's topic, so the device uses it.
    let d = Device::enroll(&s, 1).await;
    assert_eq!(d.topic, topic);

    let resp = queue(&s, &d.udid).await;
    assert_eq!(resp["push"][0]["status"], "delivered", "{resp}");
    let records = apns.records();
    assert_eq!(records.len(), 1, "{records:?}");
    let r = &records[0];
    assert_eq!(r["method"], "POST");
    assert_eq!(r["path"], format!("/3/device/{}", hex::encode([0xAB; 32])));
    assert_eq!(r["body"], format!("{{\"mdm\":\"{PUSH_MAGIC}\"}}"));
    assert_eq!(header(r, "apns-topic"), Some(topic.as_str()));
    assert_eq!(header(r, "apns-push-type"), Some("mdm"));
    let dev = device(&s, &d.udid).await;
    assert_eq!(dev["last_push"]["status"], "delivered", "{dev}");
    assert_eq!(dev["token_invalid"], false);

    // A token APNs answers 410 Unregistered for (the stand-in keys on its
    // last byte): failed, and the token is not pushed again.
    let gone = Device::enroll(&s, 2).await;
    let mut token = [0xAB; 32];
    token[31] = 0x03;
    let (st, _) = gone.checkin(gone.token_update_with(&token)).await;
    assert_eq!(st, 200);
    let resp = queue(&s, &gone.udid).await;
    assert_eq!(resp["push"][0]["status"], "failed", "{resp}");
    let dev = device(&s, &gone.udid).await;
    assert_eq!(dev["last_push"]["status"], "failed", "{dev}");
    assert_eq!(dev["last_push"]["token_invalid"], true, "{dev}");
    assert_eq!(dev["token_invalid"], true, "{dev}");
    assert!(
        dev["last_push"]["reason"]
            .as_str()
            .unwrap()
            .contains("Unregistered"),
        "{dev}"
    );
    let unregistered = format!("/3/device/{}", hex::encode(token));
    let count = |records: &[Value]| records.iter().filter(|r| r["path"] == unregistered).count();
    assert_eq!(count(&apns.records()), 1);

    let resp = queue(&s, &gone.udid).await;
    assert_eq!(resp["push"], json!([]), "{resp}");
    assert_eq!(
        count(&apns.records()),
        1,
        "the invalid token was pushed again"
    );

    // A new TokenUpdate makes the device pushable again.
    let (st, _) = gone.checkin(gone.token_update()).await;
    assert_eq!(st, 200);
    let resp = queue(&s, &gone.udid).await;
    assert_eq!(resp["push"][0]["status"], "delivered", "{resp}");
    assert_eq!(apns.records().len(), 3);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_setting_that_contradicts_the_certificate_is_refused() {
    let test = "a_topic_setting_that_contradicts_the_certificate_is_refused";
    if !require_peer(test, &["openssl", "version"]) {
        return;
    }
    let pki = tempdir();
    make_pki(pki.path());
    let data = tempdir();
    let mut s = cm_proxy::config::Settings::defaults(data.path().to_path_buf());
    s.listen = "127.0.0.1:0".parse().unwrap();
    s.public_url = "https://127.0.0.1:1".into();
    s.log_stderr = false;
    s.apns_cert = Some(pki.path().join("push.pem"));
    s.apns_key = Some(pki.path().join("push.key"));
    // The test CA, so that no system trust bundle is needed.
    s.apns_ca = Some(pki.path().join("ca.pem"));
    s.topic = Some("com.apple.mgmt.External.other".into());
    let e = cm_proxy::bootstrap::build(&s)
        .await
        .err()
        .expect("a contradicting topic must be refused")
        .to_string();
    assert!(
        e.contains("differs from the push certificate's topic"),
        "{e}"
    );

    // Only one of cert and key is a configuration error too.
    s.topic = None;
    s.apns_key = None;
    let e = cm_proxy::bootstrap::build(&s)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("both"), "{e}");

    // With the certificate's own topic it starts, and remembers the topic.
    s.apns_key = Some(pki.path().join("push.key"));
    s.topic = Some(format!("com.apple.mgmt.External.{UUID}"));
    let built = cm_proxy::bootstrap::build(&s).await.unwrap();
    assert!(!built.notes.topic_is_placeholder);
    assert_eq!(built.notes.topic, format!("com.apple.mgmt.External.{UUID}"));
    assert!(built.notes.topic_warning.is_none());
    assert_eq!(
        std::fs::read_to_string(data.path().join("push-topic"))
            .unwrap()
            .trim(),
        built.notes.topic
    );
    drop(built);

    // A certificate with another topic than the one in use is loudly noted.
    std::fs::write(
        data.path().join("push-topic"),
        "com.apple.mgmt.External.previous\n",
    )
    .unwrap();
    s.topic = None;
    let built = cm_proxy::bootstrap::build(&s).await.unwrap();
    let w = built.notes.topic_warning.expect("a topic change warning");
    assert!(w.contains("com.apple.mgmt.External.previous"), "{w}");
    assert!(w.contains("re-enrolled"), "{w}");
}

fn put_body(dir: &Path, allow_topic_change: bool) -> Value {
    json!({
        "certificate": std::fs::read_to_string(dir.join("push.pem")).unwrap(),
        "private_key": std::fs::read_to_string(dir.join("push.key")).unwrap(),
        "allow_topic_change": allow_topic_change,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_push_certificate_is_installed_and_replaced_through_the_api() {
    let test = "the_push_certificate_is_installed_and_replaced_through_the_api";
    if !require_peer(test, &["openssl", "version"]) || !require_python(test, &["h2", "ssl"]) {
        return;
    }
    let pki = tempdir();
    make_pki(pki.path());
    let apns = start_apns(pki.path());
    let topic = format!("com.apple.mgmt.External.{UUID}");
    let endpoint = format!("https://127.0.0.1:{}", apns.port);
    let ca = pki.path().join("ca.pem");
    let tweak = |s: &mut cm_proxy::config::Settings| {
        s.apns_endpoint = endpoint.clone();
        s.apns_ca = Some(ca.clone());
    };
    let s = Server::start_in(tempdir(), None, tweak).await;

    // No certificate yet: a placeholder topic, pushes recorded only.
    let (st, before) = s.api("GET", "/api/v1/pushcert", None).await;
    assert_eq!(st, 200, "{before}");
    assert_eq!(before["source"], "none");
    assert_eq!(before["topic_is_placeholder"], true);
    assert!(before.get("certificate").is_none());

    // Refused: not an admin, not a certificate, not an MDM topic, half a body.
    let c = s.client(None);
    let (st, _) = c
        .request("PUT", "/api/v1/pushcert", &[], b"{}".to_vec())
        .await;
    assert_eq!(st, 401);
    let (st, e) = s
        .api(
            "PUT",
            "/api/v1/pushcert",
            Some(json!({"certificate": "nope", "private_key": "nope"})),
        )
        .await;
    assert_eq!(st, 400, "{e}");
    let (st, e) = s
        .api("PUT", "/api/v1/pushcert", Some(json!({"certificate": "x"})))
        .await;
    assert_eq!(st, 400, "{e}");
    let other = tempdir();
    test_support::openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/UID=com.example.notmdm/CN=other",
        "-keyout",
        &other.path().join("push.key").to_string_lossy(),
        "-out",
        &other.path().join("push.pem").to_string_lossy(),
    ]);
    let (st, e) = s
        .api(
            "PUT",
            "/api/v1/pushcert",
            Some(put_body(other.path(), false)),
        )
        .await;
    assert_eq!(st, 400, "{e}");
    assert!(
        e["error"].as_str().unwrap().contains("com.example.notmdm"),
        "{e}"
    );

    // Installed: the topic, the profile and the sender follow it at once.
    let (st, put) = s
        .api("PUT", "/api/v1/pushcert", Some(put_body(pki.path(), false)))
        .await;
    assert_eq!(st, 200, "{put}");
    assert_eq!(put["topic"], topic.as_str());
    assert_eq!(put["source"], "installed");
    assert_eq!(put["topic_is_placeholder"], false);
    assert!(put.get("warning").is_none(), "{put}");
    assert!(
        put["certificate"]["subject"]
            .as_str()
            .unwrap()
            .contains(&topic),
        "{put}"
    );
    assert_eq!(put["certificate"]["expired"], false);
    assert!(put["certificate"]["days_left"].as_i64().unwrap() <= 2);
    assert_eq!(s.app.push.describe(), format!("apns {endpoint}"));
    // The key is kept sealed with the master key, owner-only.
    let key = s.data_dir().join("apns/push.key.sealed");
    let kept = std::fs::read_to_string(&key).unwrap();
    assert!(kept.starts_with("pv1."), "{kept}");
    assert!(!kept.contains("PRIVATE KEY"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the key must be owner-only: {mode:o}");
    }
    let d = Device::enroll(&s, 1).await;
    assert_eq!(d.topic, topic, "the profile names the new topic");
    let resp = queue(&s, &d.udid).await;
    assert_eq!(resp["push"][0]["status"], "delivered", "{resp}");
    assert_eq!(apns.records().len(), 1);

    // Another topic would cut enrolled devices off: refused unless confirmed.
    let second = tempdir();
    test_support::apns_test_pki(second.path(), "0b8d7e6f-0000-4000-8000-000000000002");
    let (st, e) = s
        .api(
            "PUT",
            "/api/v1/pushcert",
            Some(put_body(second.path(), false)),
        )
        .await;
    assert_eq!(st, 409, "{e}");
    assert!(e["error"].as_str().unwrap().contains("re-enrolled"), "{e}");
    let (_, still) = s.api("GET", "/api/v1/pushcert", None).await;
    assert_eq!(still["topic"], topic.as_str());
    let (st, put) = s
        .api(
            "PUT",
            "/api/v1/pushcert",
            Some(put_body(second.path(), true)),
        )
        .await;
    assert_eq!(st, 200, "{put}");
    assert_eq!(
        put["topic"],
        "com.apple.mgmt.External.0b8d7e6f-0000-4000-8000-000000000002"
    );
    assert_eq!(put["previous_topic"], topic.as_str());
    assert!(
        put["warning"].as_str().unwrap().contains("re-enrolled"),
        "{put}"
    );
    let (_, audit) = s.api("GET", "/api/v1/audit", None).await;
    let installs = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "install_push_certificate")
        .count();
    assert_eq!(installs, 2, "{audit}");

    // After a restart the installed certificate is the one in use.
    let data = s.stop().await;
    let s = Server::start_in(data, None, tweak).await;
    let (_, after) = s.api("GET", "/api/v1/pushcert", None).await;
    assert_eq!(after["source"], "installed");
    assert_eq!(
        after["topic"],
        "com.apple.mgmt.External.0b8d7e6f-0000-4000-8000-000000000002"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_certificate_is_not_replaced_through_the_api() {
    let test = "a_configured_certificate_is_not_replaced_through_the_api";
    if !require_peer(test, &["openssl", "version"]) {
        return;
    }
    let pki = tempdir();
    make_pki(pki.path());
    let p = |n: &str| pki.path().join(n);
    let s = Server::start_in(tempdir(), None, |s| {
        s.apns_cert = Some(p("push.pem"));
        s.apns_key = Some(p("push.key"));
        s.apns_endpoint = "https://127.0.0.1:9".into();
        s.apns_ca = Some(p("ca.pem"));
    })
    .await;
    let (_, now) = s.api("GET", "/api/v1/pushcert", None).await;
    assert_eq!(now["source"], "configuration", "{now}");
    let (st, e) = s
        .api("PUT", "/api/v1/pushcert", Some(put_body(pki.path(), false)))
        .await;
    assert_eq!(st, 409, "{e}");
    assert!(
        e["error"].as_str().unwrap().contains("configuration"),
        "{e}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_apns_asks_to_retry_are_sent_again_with_back_off() {
    let test = "pushes_apns_asks_to_retry_are_sent_again_with_back_off";
    if !require_peer(test, &["openssl", "version"]) || !require_python(test, &["h2", "ssl"]) {
        return;
    }
    let pki = tempdir();
    make_pki(pki.path());
    let apns = start_apns(pki.path());
    let p = |n: &str| pki.path().join(n);
    let endpoint = format!("https://127.0.0.1:{}", apns.port);
    let s = Server::start_in(tempdir(), None, |s| {
        s.apns_cert = Some(p("push.pem"));
        s.apns_key = Some(p("push.key"));
        s.apns_endpoint = endpoint.clone();
        s.apns_ca = Some(p("ca.pem"));
    })
    .await;
    let d = Device::enroll(&s, 1).await;
    // The stand-in answers 429 TooManyRequests for tokens ending in 04.
    let mut busy = [0xAB; 32];
    busy[31] = 0x04;
    let (st, _) = d.checkin(d.token_update_with(&busy)).await;
    assert_eq!(st, 200);
    let resp = queue(&s, &d.udid).await;
    let first = &resp["push"][0];
    assert_eq!(first["status"], "failed", "{resp}");
    assert_eq!(first["attempt"], 1, "{resp}");
    assert!(first["retry_at"].as_i64().is_some(), "{resp}");
    assert_eq!(s.app.push.pending_retries(), 1);

    let busy_path = format!("/3/device/{}", hex::encode(busy));
    let count = |path: &str| apns.records().iter().filter(|r| r["path"] == path).count();
    // Sent again after about a second, without anything new queued.
    let mut waited = 0;
    while count(&busy_path) < 2 && waited < 100 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        waited += 1;
    }
    assert!(count(&busy_path) >= 2, "not retried: {:?}", apns.records());

    // Once the device has a token APNs takes, the retry delivers and stops.
    let (st, _) = d.checkin(d.token_update()).await;
    assert_eq!(st, 200);
    let good_path = format!("/3/device/{}", hex::encode([0xAB; 32]));
    let mut waited = 0;
    while (count(&good_path) < 1 || s.app.push.pending_retries() > 0) && waited < 100 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        waited += 1;
    }
    assert_eq!(count(&good_path), 1, "{:?}", apns.records());
    assert_eq!(s.app.push.pending_retries(), 0);
    let dev = device(&s, &d.udid).await;
    assert_eq!(dev["last_push"]["status"], "delivered", "{dev}");
    let (st, metrics) = s
        .client(None)
        .request("GET", "/metrics", &[], Vec::new())
        .await;
    assert_eq!(st, 200);
    let text = String::from_utf8_lossy(&metrics);
    assert!(
        text.lines()
            .any(|l| l.starts_with("pippin_push_retries_total ") && !l.ends_with(" 0")),
        "{text}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pkcs12_push_certificate_is_installed_through_the_api() {
    let test = "a_pkcs12_push_certificate_is_installed_through_the_api";
    if !require_peer(test, &["openssl", "version"]) {
        return;
    }
    use base64::Engine as _;
    let pki = tempdir();
    make_pki(pki.path());
    let p = |n: &str| pki.path().join(n).to_string_lossy().into_owned();
    // What Keychain Access exports: certificate and key in one file.
    test_support::openssl(&[
        "pkcs12",
        "-export",
        "-in",
        &p("push.pem"),
        "-inkey",
        &p("push.key"),
        "-name",
        "APSP push",
        "-passout",
        "pass:s3cret",
        "-out",
        &p("push.p12"),
    ]);
    let p12 =
        base64::engine::general_purpose::STANDARD.encode(std::fs::read(p("push.p12")).unwrap());
    let s = Server::start_in(tempdir(), None, |s| {
        s.apns_endpoint = "https://127.0.0.1:9".into();
        s.apns_ca = Some(pki.path().join("ca.pem"));
    })
    .await;
    let (st, e) = s
        .api(
            "PUT",
            "/api/v1/pushcert",
            Some(json!({"pkcs12": p12, "password": "wrong"})),
        )
        .await;
    assert_eq!(st, 400, "{e}");
    assert!(e["error"].as_str().unwrap().contains("password"), "{e}");
    let (st, e) = s
        .api(
            "PUT",
            "/api/v1/pushcert",
            Some(json!({"pkcs12": "not base64!", "password": "s3cret"})),
        )
        .await;
    assert_eq!(st, 400, "{e}");
    let (st, put) = s
        .api(
            "PUT",
            "/api/v1/pushcert",
            Some(json!({"pkcs12": p12, "password": "s3cret"})),
        )
        .await;
    assert_eq!(st, 200, "{put}");
    assert_eq!(put["topic"], format!("com.apple.mgmt.External.{UUID}"));
    // Kept as PEM; the service reads it back at the next start.
    let kept = std::fs::read_to_string(s.data_dir().join("apns/push.pem")).unwrap();
    assert!(kept.starts_with("-----BEGIN CERTIFICATE-----"), "{kept}");
    let data = s.stop().await;
    let s = Server::start_in(data, None, |s| {
        s.apns_endpoint = "https://127.0.0.1:9".into();
        s.apns_ca = Some(pki.path().join("ca.pem"));
    })
    .await;
    let (_, now) = s.api("GET", "/api/v1/pushcert", None).await;
    assert_eq!(now["topic"], format!("com.apple.mgmt.External.{UUID}"));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pkcs12_push_certificate_from_the_configuration() {
    let test = "a_pkcs12_push_certificate_from_the_configuration";
    if !require_peer(test, &["openssl", "version"]) {
        return;
    }
    let pki = tempdir();
    make_pki(pki.path());
    let p = |n: &str| pki.path().join(n).to_string_lossy().into_owned();
    test_support::openssl(&[
        "pkcs12",
        "-export",
        "-legacy",
        "-in",
        &p("push.pem"),
        "-inkey",
        &p("push.key"),
        "-passout",
        "pass:pw",
        "-out",
        &p("push.p12"),
    ]);
    let data = tempdir();
    let mut s = cm_proxy::config::Settings::defaults(data.path().to_path_buf());
    s.public_url = "https://127.0.0.1:1".into();
    s.log_stderr = false;
    s.apns_ca = Some(pki.path().join("ca.pem"));
    s.apns_p12 = Some(pki.path().join("push.p12"));
    s.apns_p12_password = Some("wrong".parse().unwrap());
    let e = cm_proxy::bootstrap::build(&s)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("password"), "{e}");
    s.apns_p12_password = Some("pw".parse().unwrap());
    let built = cm_proxy::bootstrap::build(&s).await.unwrap();
    assert_eq!(built.notes.topic, format!("com.apple.mgmt.External.{UUID}"));
    assert!(!built.notes.topic_is_placeholder);
    s.apns_cert = Some(pki.path().join("push.pem"));
    let e = cm_proxy::bootstrap::build(&s)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("not both"), "{e}");
}
