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
