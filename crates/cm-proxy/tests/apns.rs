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
    assert_eq!(dev["last_push"]["http_status"], 200, "{dev}");
    let apns_id = dev["last_push"]["apns_id"].as_str().unwrap();
    assert_eq!(apns_id.len(), 36, "{dev}");
    assert_eq!(resp["push"][0]["apns_id"], apns_id);
    assert_eq!(dev["token_invalid"], false);

    // A token APNs answers 410 Unregistered for, as of now (the stand-in
    // keys on its last byte): failed, and the token is not pushed again.
    let gone = Device::enroll(&s, 2).await;
    let mut token = [0xAB; 32];
    token[31] = 0x0b;
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
    assert_eq!(dev["last_push"]["http_status"], 410, "{dev}");
    let when = dev["last_push"]["unregistered_at"].as_i64().unwrap();
    assert!(
        when >= dev["token_updated_at"].as_i64().unwrap(),
        "APNs's time is kept: {dev}"
    );
    let unregistered = format!("/3/device/{}", hex::encode(token));
    let count = |records: &[Value]| records.iter().filter(|r| r["path"] == unregistered).count();
    assert_eq!(count(&apns.records()), 1);

    let resp = queue(&s, &gone.udid).await;
    assert_eq!(
        resp["push"],
        json!([{"id": gone.udid, "status": "skipped", "reason": "token_invalid"}]),
        "{resp}"
    );
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

    // Devices enrolled under another topic than the certificate's are
    // noted loudly at start, with how many there are (the push-topic file
    // no longer matters: the store says what devices enrolled with).
    std::fs::write(
        data.path().join("push-topic"),
        "com.apple.mgmt.External.previous\n",
    )
    .unwrap();
    s.topic = None;
    let built = cm_proxy::bootstrap::build(&s).await.unwrap();
    assert!(built.notes.topic_warning.is_none(), "no device is enrolled");
    drop(built);
    {
        let store = pippin_store::SqliteStore::open(&data.path().join("pippin.db")).unwrap();
        use pippin_store::Store as _;
        for (n, topic) in [
            (1, "com.apple.mgmt.External.previous"),
            (2, "com.apple.mgmt.External.previous"),
            (3, format!("com.apple.mgmt.External.{UUID}").as_str()),
        ] {
            let device = format!("SEEDED-{n}");
            store
                .authenticate(&pippin_store::AuthenticateRecord {
                    device: device.clone(),
                    topic: topic.to_owned(),
                    now: 1,
                    ..Default::default()
                })
                .await
                .unwrap();
            store
                .token_update(
                    &apple_mdm_protocol::EnrollmentId::device(device),
                    &pippin_store::TokenUpdateRecord {
                        push_token: vec![n; 32],
                        push_magic: "m".into(),
                        topic: topic.to_owned(),
                        now: 2,
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
        }
    }
    let built = cm_proxy::bootstrap::build(&s).await.unwrap();
    let w = built.notes.topic_warning.expect("a topic warning");
    assert!(
        w.contains("com.apple.mgmt.External.previous (2 enrolled)"),
        "{w}"
    );
    assert!(w.starts_with("2 enrolled device(s)"), "{w}");
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

/// A service pushing through the APNs stand-in with the test push
/// certificate, and the stand-in.
async fn with_apns(pki: &Path) -> (Server, Apns) {
    let apns = start_apns(pki);
    let endpoint = format!("https://127.0.0.1:{}", apns.port);
    let s = Server::start_in(tempdir(), None, |s| {
        s.apns_cert = Some(pki.join("push.pem"));
        s.apns_key = Some(pki.join("push.key"));
        s.apns_endpoint = endpoint.clone();
        s.apns_ca = Some(pki.join("ca.pem"));
    })
    .await;
    (s, apns)
}

/// Stores an enrolled device directly, as Authenticate and TokenUpdate
/// would (for tests with many devices).
async fn seed(s: &Server, udid: &str, token: &[u8], topic: &str) {
    s.app
        .store
        .authenticate(&pippin_store::AuthenticateRecord {
            device: udid.to_owned(),
            topic: topic.to_owned(),
            now: 1,
            ..Default::default()
        })
        .await
        .unwrap();
    s.app
        .store
        .token_update(
            &apple_mdm_protocol::EnrollmentId::device(udid),
            &pippin_store::TokenUpdateRecord {
                push_token: token.to_vec(),
                push_magic: PUSH_MAGIC.into(),
                topic: topic.to_owned(),
                now: unix_now(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
}

fn unix_now() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

fn token_ending(n: u16, last: u8) -> [u8; 32] {
    let mut t = [0xAB; 32];
    t[28..30].copy_from_slice(&n.to_be_bytes());
    t[31] = last;
    t
}

async fn push(s: &Server, udid: &str) -> (u16, Value) {
    s.api("POST", &format!("/api/v1/devices/{udid}/push"), None)
        .await
}

/// `POST /api/v1/devices/{udid}/push`: one entry per enrollment with the
/// outcome (HTTP status, apns-id), or `skipped` and why; the device JSON
/// keeps the last outcome in full.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_push_endpoint_reports_each_outcome() {
    let test = "the_push_endpoint_reports_each_outcome";
    if !require_peer(test, &["openssl", "version"]) || !require_python(test, &["h2", "ssl"]) {
        return;
    }
    let pki = tempdir();
    make_pki(pki.path());
    let (s, apns) = with_apns(pki.path()).await;
    let topic = format!("com.apple.mgmt.External.{UUID}");
    let sent_to = |token: &[u8]| {
        let path = format!("/3/device/{}", hex::encode(token));
        apns.records().iter().filter(|r| r["path"] == path).count()
    };

    let d = Device::enroll(&s, 1).await;
    let (st, out) = push(&s, &d.udid).await;
    assert_eq!(st, 200, "{out}");
    let entry = &out["push"][0];
    assert_eq!(entry["id"], d.udid.as_str());
    assert_eq!(entry["status"], "delivered", "{out}");
    assert_eq!(entry["http_status"], 200, "{out}");
    assert_eq!(entry["apns_id"].as_str().unwrap().len(), 36, "{out}");
    let dev = device(&s, &d.udid).await;
    assert_eq!(dev["last_push"]["apns_id"], entry["apns_id"], "{dev}");
    assert_eq!(dev["last_push"]["http_status"], 200);

    // 400 BadDeviceToken: failed, the token is marked and not pushed again.
    let bad = token_ending(2, 0x02);
    seed(&s, "BAD-TOKEN", &bad, &topic).await;
    let (st, out) = push(&s, "BAD-TOKEN").await;
    assert_eq!(st, 200, "{out}");
    let entry = &out["push"][0];
    assert_eq!(entry["status"], "failed", "{out}");
    assert_eq!(entry["http_status"], 400, "{out}");
    assert!(
        entry["reason"].as_str().unwrap().contains("BadDeviceToken"),
        "{out}"
    );
    let dev = device(&s, "BAD-TOKEN").await;
    assert_eq!(dev["token_invalid"], true, "{dev}");
    assert_eq!(dev["last_push"]["http_status"], 400, "{dev}");
    assert_eq!(dev["last_push"]["token_invalid"], true, "{dev}");
    assert_eq!(sent_to(&bad), 1);
    let (st, out) = push(&s, "BAD-TOKEN").await;
    assert_eq!(st, 200, "{out}");
    assert_eq!(
        out["push"],
        json!([{"id": "BAD-TOKEN", "status": "skipped", "reason": "token_invalid"}])
    );
    assert_eq!(sent_to(&bad), 1, "an invalid token was pushed again");

    // 410 with APNs's time from 2016: the token was updated since, so it
    // stays valid (and is pushed again).
    let old = token_ending(3, 0x03);
    seed(&s, "OLD-410", &old, &topic).await;
    let (_, out) = push(&s, "OLD-410").await;
    assert_eq!(out["push"][0]["status"], "failed", "{out}");
    assert_eq!(out["push"][0]["http_status"], 410, "{out}");
    let dev = device(&s, "OLD-410").await;
    assert_eq!(dev["last_push"]["unregistered_at"], 1_458_114_061_260_i64);
    assert_eq!(dev["token_invalid"], false, "{dev}");
    let (_, out) = push(&s, "OLD-410").await;
    assert_eq!(out["push"][0]["status"], "failed", "{out}");
    assert_eq!(sent_to(&old), 2);

    // Not enrolled any more: skipped, and said so.
    let (st, _) = s
        .api(
            "POST",
            &format!("/api/v1/devices/{}/unenroll", d.udid),
            None,
        )
        .await;
    assert_eq!(st, 200);
    let (_, out) = push(&s, &d.udid).await;
    assert_eq!(
        out["push"],
        json!([{"id": d.udid, "status": "skipped", "reason": "not_enrolled"}])
    );
    let (st, _) = push(&s, "NO-SUCH-DEVICE").await;
    assert_eq!(st, 404);
    let (_, audit) = s.api("GET", "/api/v1/audit", None).await;
    let pushes = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "push")
        .count();
    assert_eq!(pushes, 6, "{audit}");
    s.stop().await;
}

/// What enrolled devices use decides: a certificate whose topic is not
/// theirs is refused unless confirmed (even over a placeholder topic), and
/// once it is installed, devices enrolled under the old topic are not
/// pushed (APNs would refuse their tokens for the new topic) but reported
/// as skipped; devices that enroll again are pushed with the
/// certificate's topic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_change_is_checked_against_enrolled_devices() {
    let test = "a_topic_change_is_checked_against_enrolled_devices";
    if !require_peer(test, &["openssl", "version"]) || !require_python(test, &["h2", "ssl"]) {
        return;
    }
    let pki = tempdir();
    make_pki(pki.path());
    let apns = start_apns(pki.path());
    let endpoint = format!("https://127.0.0.1:{}", apns.port);
    let ca = pki.path().join("ca.pem");
    let s = Server::start_in(tempdir(), None, |s| {
        s.apns_endpoint = endpoint.clone();
        s.apns_ca = Some(ca.clone());
    })
    .await;
    let (_, before) = s.api("GET", "/api/v1/pushcert", None).await;
    let placeholder = before["topic"].as_str().unwrap().to_owned();
    assert_eq!(before["topic_is_placeholder"], true);
    // A device enrolls under the placeholder topic.
    let early = Device::enroll(&s, 1).await;
    assert_eq!(early.topic, placeholder);

    let (st, e) = s
        .api("PUT", "/api/v1/pushcert", Some(put_body(pki.path(), false)))
        .await;
    assert_eq!(st, 409, "{e}");
    let msg = e["error"].as_str().unwrap();
    assert!(msg.contains("1 enrolled device(s)"), "{msg}");
    assert!(
        msg.contains(&format!("{placeholder} (1 enrolled)")),
        "{msg}"
    );
    assert!(msg.contains("allow_topic_change"), "{msg}");
    let (st, put) = s
        .api("PUT", "/api/v1/pushcert", Some(put_body(pki.path(), true)))
        .await;
    assert_eq!(st, 200, "{put}");
    assert!(
        put["warning"].as_str().unwrap().contains("1 enrolled"),
        "{put}"
    );
    let topic = format!("com.apple.mgmt.External.{UUID}");
    assert_eq!(put["topic"], topic.as_str());

    // The early device is not pushed: its token is for the old topic.
    let (_, out) = push(&s, &early.udid).await;
    let entry = &out["push"][0];
    assert_eq!(entry["status"], "skipped", "{out}");
    assert_eq!(entry["reason"], "topic_mismatch", "{out}");
    assert!(
        entry["detail"].as_str().unwrap().contains(&placeholder),
        "{out}"
    );
    assert!(apns.records().is_empty(), "{:?}", apns.records());
    let dev = device(&s, &early.udid).await;
    assert_eq!(dev["last_push"]["status"], "skipped", "{dev}");
    assert_eq!(dev["token_invalid"], false, "{dev}");

    // A device enrolled under the certificate's topic is pushed with it:
    // the apns-topic is the certificate's, not the enrollment row's.
    let late = Device::enroll(&s, 2).await;
    assert_eq!(late.topic, topic);
    let resp = queue(&s, &late.udid).await;
    assert_eq!(resp["push"][0]["status"], "delivered", "{resp}");
    let records = apns.records();
    assert_eq!(records.len(), 1);
    assert_eq!(header(&records[0], "apns-topic"), Some(topic.as_str()));

    // Installing the same certificate again is no topic change for the
    // device enrolled under it, but still is for the early one.
    let (st, e) = s
        .api("PUT", "/api/v1/pushcert", Some(put_body(pki.path(), false)))
        .await;
    assert_eq!(st, 409, "{e}");
    let (st, _) = s
        .api(
            "POST",
            &format!("/api/v1/devices/{}/unenroll", early.udid),
            None,
        )
        .await;
    assert_eq!(st, 200);
    let (st, put) = s
        .api("PUT", "/api/v1/pushcert", Some(put_body(pki.path(), false)))
        .await;
    assert_eq!(st, 200, "{put}");
    assert!(put.get("warning").is_none(), "{put}");
    s.stop().await;
}

async fn wait_for_bulk(s: &Server, uuid: &str) -> Value {
    for _ in 0..600 {
        let (st, cmd) = s
            .api("GET", &format!("/api/v1/commands/{uuid}"), None)
            .await;
        assert_eq!(st, 200, "{cmd}");
        if cmd["push"]["done"] == true {
            return cmd;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the pushes of {uuid} did not finish within a minute");
}

/// `POST /api/v1/commands`: one command for thousands of devices, queued
/// in store batches (all or nothing), answered at once, pushed in the
/// background through the one APNs client, outcomes stored, progress shown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_for_many_devices_is_queued_and_pushed_in_the_background() {
    let test = "a_command_for_many_devices_is_queued_and_pushed_in_the_background";
    if !require_peer(test, &["openssl", "version"]) || !require_python(test, &["h2", "ssl"]) {
        return;
    }
    let pki = tempdir();
    make_pki(pki.path());
    let (s, apns) = with_apns(pki.path()).await;
    let topic = format!("com.apple.mgmt.External.{UUID}");
    // 5,200 devices (more than one store batch), with UDIDs long enough for
    // the request to pass 1 MiB. Every 1,000th has a token APNs rejects.
    let long = "x".repeat(115);
    let udid = |n: u16| format!("BULK-{n:05}-{long}");
    const N: u16 = 5_200;
    for n in 0..N {
        let last = if n % 1000 == 7 { 0x02 } else { 0x01 };
        seed(&s, &udid(n), &token_ending(n, last), &topic).await;
    }
    seed(
        &s,
        "BULK-OTHER-TOPIC",
        &token_ending(9_001, 1),
        "com.apple.mgmt.External.old",
    )
    .await;
    seed(&s, "BULK-INVALID", &token_ending(9_002, 1), &topic).await;
    let invalid = apple_mdm_protocol::EnrollmentId::device("BULK-INVALID");
    s.app
        .store
        .mark_push_result(
            &invalid,
            &token_ending(9_002, 1),
            &pippin_store::PushResult {
                status: "failed".into(),
                token_invalid: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();

    // Refused: neither or both target forms, ClearPasscode, not a list, too many.
    for (body, why) in [
        (json!({"request_type": "ProfileList"}), "no targets"),
        (
            json!({"request_type": "ProfileList", "all_enrolled": true, "devices": [{"udid": "A"}]}),
            "both",
        ),
        (
            json!({"request_type": "ClearPasscode", "all_enrolled": true}),
            "ClearPasscode",
        ),
        (
            json!({"request_type": "ProfileList", "devices": "A"}),
            "not a list",
        ),
        (
            json!({"request_type": "ProfileList", "devices": [{"user": "u"}]}),
            "no udid",
        ),
        (json!({"all_enrolled": true}), "no request_type"),
    ] {
        let (st, e) = s.api("POST", "/api/v1/commands", Some(body)).await;
        assert_eq!(st, 400, "{why}: {e}");
    }
    let many: Vec<Value> = (0..100_001)
        .map(|n| json!({"udid": format!("D{n}")}))
        .collect();
    let (st, e) = s
        .api(
            "POST",
            "/api/v1/commands",
            Some(json!({"request_type": "ProfileList", "devices": many})),
        )
        .await;
    assert_eq!(st, 413, "{e}");

    // Unknown devices after the first batch: nothing stays queued.
    let mut devices: Vec<Value> = (0..N).map(|n| json!({"udid": udid(n)})).collect();
    devices.extend((0..3_000).map(|n| json!({"udid": format!("NO-SUCH-{n:05}-{}", &long[..110])})));
    let body = json!({"request_type": "ProfileList", "devices": devices});
    assert!(serde_json::to_vec(&body).unwrap().len() > 1024 * 1024);
    let (st, e) = s.api("POST", "/api/v1/commands", Some(body)).await;
    assert_eq!(st, 404, "{e}");
    assert_eq!(device(&s, &udid(0)).await["queue_depth"], 0);
    assert_eq!(device(&s, &udid(N - 1)).await["queue_depth"], 0);
    assert!(apns.records().is_empty());

    // The real thing: every seeded device, twice listed, plus the two that
    // are not pushed.
    let mut devices: Vec<Value> = (0..N).map(|n| json!({"udid": udid(n)})).collect();
    devices.extend((0..10).map(|n| json!({"udid": udid(n), "user": null})));
    devices.push(json!({"udid": "BULK-OTHER-TOPIC"}));
    devices.push(json!({"udid": "BULK-INVALID"}));
    let started = std::time::Instant::now();
    let (st, out) = s
        .api(
            "POST",
            "/api/v1/commands",
            Some(json!({"request_type": "ProfileList", "priority": 3, "devices": devices})),
        )
        .await;
    assert_eq!(st, 202, "{out}");
    assert_eq!(out["targets"], u64::from(N) + 2, "{out}");
    let uuid = out["command_uuid"].as_str().unwrap().to_owned();
    let cmd = wait_for_bulk(&s, &uuid).await;
    let took = started.elapsed();
    let progress = &cmd["push"];
    assert_eq!(progress["targets"], u64::from(N) + 2, "{cmd}");
    assert_eq!(progress["pushed"], u64::from(N), "{progress}");
    assert_eq!(progress["failed"], 6, "{progress}");
    assert_eq!(progress["delivered"], u64::from(N) - 6, "{progress}");
    assert_eq!(progress["skipped"], 2, "{progress}");
    assert_eq!(progress["topic_mismatch"], 1, "{progress}");
    assert_eq!(cmd["target_count"], u64::from(N) + 2);
    assert_eq!(
        cmd["counts"]["queued"],
        u64::from(N) + 2,
        "{}",
        cmd["counts"]
    );
    assert_eq!(cmd["targets"].as_array().unwrap().len(), 1000);
    assert_eq!(cmd["targets_truncated"], true);
    assert_eq!(cmd["priority"], 3);
    // APNs saw each pushable device once, on one connection.
    let records = apns.records();
    assert_eq!(records.len(), usize::from(N));
    let paths: std::collections::HashSet<&str> = records
        .iter()
        .map(|r| r["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths.len(), usize::from(N));
    assert!(records.iter().all(|r| r["connection"] == 1));
    // Outcomes are stored.
    let dev = device(&s, &udid(4_321)).await;
    assert_eq!(dev["last_push"]["status"], "delivered", "{dev}");
    assert_eq!(dev["last_push"]["http_status"], 200, "{dev}");
    assert_eq!(dev["queue_depth"], 1);
    let dev = device(&s, &udid(1_007)).await;
    assert_eq!(dev["token_invalid"], true, "{dev}");
    let dev = device(&s, "BULK-OTHER-TOPIC").await;
    assert_eq!(dev["last_push"]["status"], "skipped", "{dev}");
    eprintln!("bulk command for {} devices: {took:?}", N + 2);

    // Every enrolled device: the seeded ones and no other.
    let (st, out) = s
        .api(
            "POST",
            "/api/v1/commands",
            Some(json!({"request_type": "DeviceInformation", "all_enrolled": true})),
        )
        .await;
    assert_eq!(st, 202, "{out}");
    assert_eq!(out["targets"], u64::from(N) + 2, "{out}");
    let cmd = wait_for_bulk(&s, out["command_uuid"].as_str().unwrap()).await;
    // Six tokens are now marked invalid (and the one seeded so).
    assert_eq!(cmd["push"]["pushed"], u64::from(N) - 6, "{}", cmd["push"]);
    assert_eq!(cmd["push"]["skipped"], 8, "{}", cmd["push"]);
    assert_eq!(apns.records().len(), usize::from(N) * 2 - 6);
    let (_, audit) = s.api("GET", "/api/v1/audit", None).await;
    let bulk = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "queue_bulk_command")
        .count();
    assert_eq!(bulk, 2, "{audit}");
    s.stop().await;
}
