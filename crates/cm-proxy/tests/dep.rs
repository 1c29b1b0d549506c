//! The DEP service end to end: a server token made by `openssl smime`
//! uploaded through the admin API, devices synced from the DEP simulator
//! (which behaves like Apple's service, quirks included), the enrollment
//! profile defined and assigned, and a device in Setup Assistant fetching
//! the profile with its `openssl cms`-signed MachineInfo.

#[path = "common/mod.rs"]
mod common;

use std::path::Path;
use std::time::Duration;

use common::Server;
use dep_client::simulator::{Simulator, SimulatorConfig};
use serde_json::{Value, json};
use test_support::{require_peer, run_ok, tempdir};

fn openssl(args: &[&str]) {
    let mut cmd = vec!["openssl"];
    cmd.extend_from_slice(args);
    run_ok(&cmd, b"");
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// A server token file as Apple Business Manager makes it: the token JSON
/// in a text/plain MIME part between BEGIN/END MESSAGE markers, S/MIME
/// enveloped to `cert_pem`.
fn token_file(dir: &Path, cert_pem: &str, token_json: &str) -> String {
    std::fs::write(dir.join("dep.pem"), cert_pem).unwrap();
    let message = format!(
        "Content-Type: text/plain;charset=UTF-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n\
         -----BEGIN MESSAGE-----\r\n{token_json}\r\n-----END MESSAGE-----\r\n"
    );
    std::fs::write(dir.join("message.txt"), message).unwrap();
    openssl(&[
        "smime",
        "-encrypt",
        "-aes256",
        "-in",
        &s(&dir.join("message.txt")),
        "-out",
        &s(&dir.join("token.p7m")),
        &s(&dir.join("dep.pem")),
    ]);
    std::fs::read_to_string(dir.join("token.p7m")).unwrap()
}

async fn devices(s: &Server, query: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..100 {
        let mut path = format!("/api/v1/dep/devices?limit=7{query}");
        if let Some(a) = &after {
            path.push_str(&format!("&after={a}"));
        }
        let (st, page) = s.api("GET", &path, None).await;
        assert_eq!(st, 200, "{page}");
        out.extend(page["devices"].as_array().unwrap().iter().cloned());
        match page["next"].as_str() {
            Some(n) => after = Some(n.to_owned()),
            None => return out,
        }
    }
    panic!("paging did not end");
}

async fn wait_for(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

fn assigned(list: &[Value]) -> usize {
    list.iter()
        .filter(|d| d["assign_status"] == "assigned")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_sync_assign_and_dep_enrollment() {
    let test = "tokens_sync_assign_and_dep_enrollment";
    if !require_peer(test, &["openssl", "version"]) {
        return;
    }
    let mut sc = SimulatorConfig::default();
    sc.devices(25);
    let sim = Simulator::start(sc).await.unwrap();
    let base_url = sim.base_url();
    let tweak = |st: &mut cm_proxy::config::Settings| {
        st.dep.base_url = base_url.clone();
        st.dep.sync_interval_secs = 3600;
        st.dep.profile.name = "Example Corp".into();
        st.dep.profile.department = Some("IT".into());
        st.dep.profile.skip_setup_items = vec!["Location".into(), "Siri".into()];
    };
    let srv = Server::start_in(tempdir(), None, tweak).await;

    // The certificate to upload to Apple Business Manager.
    let c = srv.client(None);
    let (st, _) = c
        .request("GET", "/api/v1/dep/certificate", &[], Vec::new())
        .await;
    assert_eq!(st, 401);
    let (st, cert) = c
        .request(
            "GET",
            "/api/v1/dep/certificate",
            &[("authorization", format!("Bearer {}", srv.token))],
            Vec::new(),
        )
        .await;
    assert_eq!(st, 200);
    let cert_pem = String::from_utf8(cert).unwrap();
    assert!(
        cert_pem.starts_with("-----BEGIN CERTIFICATE-----"),
        "{cert_pem}"
    );
    // Its private key is sealed at rest.
    let sealed = std::fs::read_to_string(srv.data_dir().join("dep/dep-key.sealed")).unwrap();
    assert!(sealed.starts_with("pv1.") && !sealed.contains("PRIVATE KEY"));

    let work = tempdir();
    let token_json = serde_json::to_string(&sim.server_token()).unwrap();
    let p7m = token_file(work.path(), &cert_pem, &token_json);

    // Refused: a bad name, a token for another certificate, garbage.
    let (st, e) = srv
        .api(
            "PUT",
            "/api/v1/dep/links/a%2Fb",
            Some(json!({"token": p7m})),
        )
        .await;
    assert_eq!(st, 400, "{e}");
    let other = tempdir();
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=other",
        "-keyout",
        &s(&other.path().join("k.pem")),
        "-out",
        &s(&other.path().join("c.pem")),
    ]);
    let other_cert = std::fs::read_to_string(other.path().join("c.pem")).unwrap();
    let wrong = token_file(other.path(), &other_cert, &token_json);
    let (st, e) = srv
        .api(
            "PUT",
            "/api/v1/dep/links/main",
            Some(json!({"token": wrong})),
        )
        .await;
    assert_eq!(st, 400, "{e}");
    let (st, e) = srv
        .api(
            "PUT",
            "/api/v1/dep/links/main",
            Some(json!({"token": "nope"})),
        )
        .await;
    assert_eq!(st, 400, "{e}");
    let expired_json = token_json.replace("\"access_token_expiry\":\"", "\"x\":\"");
    let mut expired: Value = serde_json::from_str(&expired_json).unwrap();
    expired["access_token_expiry"] = json!("2020-01-01T00:00:00Z");
    let expired = token_file(work.path(), &cert_pem, &expired.to_string());
    let (st, e) = srv
        .api(
            "PUT",
            "/api/v1/dep/links/main",
            Some(json!({"token": expired})),
        )
        .await;
    assert_eq!(st, 400, "{e}");
    assert!(e["error"].as_str().unwrap().contains("expired"), "{e}");

    // Added: synced and assigned in the background.
    let (st, link) = srv
        .api("PUT", "/api/v1/dep/links/main", Some(json!({"token": p7m})))
        .await;
    assert_eq!(st, 201, "{link}");
    assert_eq!(link["name"], "main");
    assert_eq!(link["consumer_key"], sim.credentials().consumer_key);
    wait_for("25 devices assigned", async || {
        assigned(&devices(&srv, "&link=main").await) == 25
    })
    .await;
    let list = devices(&srv, "").await;
    assert_eq!(list.len(), 25);
    let mut serials: Vec<String> = list
        .iter()
        .map(|d| d["serial_number"].as_str().unwrap().to_owned())
        .collect();
    let mut sim_serials = sim.serials();
    serials.sort();
    sim_serials.sort();
    assert_eq!(serials, sim_serials, "keyset paging saw every device once");

    // Apple's side: the profile as configured, assigned to every device.
    let (_, link) = srv.api("GET", "/api/v1/dep/links/main", None).await;
    let uuid = link["profile_uuid"].as_str().unwrap().to_owned();
    let profile = sim.profile(&uuid).expect("the profile was defined");
    assert_eq!(profile["profile_name"], "Example Corp");
    assert_eq!(profile["url"], format!("{}/mdm/dep/enroll", srv.base));
    assert_eq!(profile["department"], "IT");
    assert_eq!(profile["is_supervised"], true);
    assert_eq!(profile["skip_setup_items"], json!(["Location", "Siri"]));
    assert_eq!(profile["anchor_certs"].as_array().unwrap().len(), 1);
    let d = sim.device(&serials[0]).unwrap();
    assert_eq!(d["profile_uuid"], uuid.as_str(), "{d}");
    assert_eq!(link["devices"]["total"], 25, "{link}");
    assert_eq!(
        link["devices"]["by_assign_status"]["assigned"], 25,
        "{link}"
    );
    assert_eq!(link["last_sync_ok"], true, "{link}");
    assert_eq!(link["phase"], "sync", "{link}");
    assert!(link["server_name"].is_string(), "{link}");
    assert!(link["token_expires_in_days"].as_i64().unwrap() > 0);

    // Changes on Apple's side arrive with the next sync.
    let added = sim.add_devices(3);
    assert!(sim.delete_device(&serials[1]));
    let (st, _) = srv.api("POST", "/api/v1/dep/links/main/sync", None).await;
    assert_eq!(st, 202);
    wait_for("the 3 new devices assigned", async || {
        assigned(&devices(&srv, "&link=main").await) == 27
    })
    .await;
    let all = devices(&srv, "&include_deleted=true").await;
    assert_eq!(all.len(), 28);
    let gone = all
        .iter()
        .find(|d| d["serial_number"] == serials[1].as_str())
        .unwrap();
    assert_eq!(gone["deleted"], true, "{gone}");
    assert_eq!(gone["op_type"], "deleted", "{gone}");
    for a in &added {
        let d = all
            .iter()
            .find(|d| d["serial_number"] == a.as_str())
            .unwrap();
        assert_eq!(d["op_type"], "added", "{d}");
    }
    // Only the changes were listed again: a sync, not a second full fetch.
    let fetches = sim
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/server/devices"))
        .count();
    assert_eq!(fetches, 1, "{:?}", sim.requests());

    // Re-assigning by hand.
    let (st, r) = srv
        .api(
            "POST",
            &format!("/api/v1/dep/devices/{}/assign", serials[0]),
            None,
        )
        .await;
    assert_eq!(st, 202, "{r}");
    let (st, _) = srv
        .api("POST", "/api/v1/dep/devices/NOSUCHSERIAL/assign", None)
        .await;
    assert_eq!(st, 404);

    // A device in Setup Assistant posts its signed MachineInfo.
    let mi = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\"><dict>\
         <key>PRODUCT</key><string>MacBookPro18,3</string>\
         <key>SERIAL</key><string>{}</string>\
         <key>UDID</key><string>0000FE00-0A1B2C3D4E5F6071</string>\
         <key>VERSION</key><string>23A344</string></dict></plist>",
        serials[0]
    );
    let sign = |plist: &str, name: &str| -> Vec<u8> {
        let dir = work.path();
        std::fs::write(dir.join(format!("{name}.plist")), plist).unwrap();
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=Device Identity",
            "-keyout",
            &s(&dir.join("dev.key")),
            "-out",
            &s(&dir.join("dev.pem")),
        ]);
        openssl(&[
            "cms",
            "-sign",
            "-binary",
            "-nodetach",
            "-outform",
            "DER",
            "-in",
            &s(&dir.join(format!("{name}.plist"))),
            "-signer",
            &s(&dir.join("dev.pem")),
            "-inkey",
            &s(&dir.join("dev.key")),
            "-out",
            &s(&dir.join(format!("{name}.p7s"))),
        ]);
        std::fs::read(dir.join(format!("{name}.p7s"))).unwrap()
    };
    let ct = [("content-type", "application/pkcs7-signature".to_owned())];
    let (st, profile) = c
        .request("POST", "/mdm/dep/enroll", &ct, sign(&mi, "known"))
        .await;
    assert_eq!(st, 200);
    let (st, served) = c.request("GET", "/mdm/enroll", &[], Vec::new()).await;
    assert_eq!(st, 200);
    assert_eq!(profile, served, "the same enrollment profile");
    // A serial number no link lists is refused; so is an unsigned body.
    let stranger = mi.replace(&serials[0], "C02NOTOURS01");
    let (st, _) = c
        .request("POST", "/mdm/dep/enroll", &ct, sign(&stranger, "stranger"))
        .await;
    assert_eq!(st, 403);
    let (st, _) = c
        .request("POST", "/mdm/dep/enroll", &ct, mi.clone().into_bytes())
        .await;
    assert_eq!(st, 400);
    let mut tampered = sign(&mi, "tampered");
    let at = tampered.windows(6).position(|w| w == b"SERIAL").unwrap();
    tampered[at] = b'X';
    let (st, _) = c.request("POST", "/mdm/dep/enroll", &ct, tampered).await;
    assert_eq!(st, 400);

    // After a restart the link resumes from its stored cursor.
    let data = srv.stop().await;
    let srv = Server::start_in(data, None, tweak).await;
    let more = sim.add_devices(2);
    let (st, _) = srv.api("POST", "/api/v1/dep/links/main/sync", None).await;
    assert_eq!(st, 202);
    wait_for("the 2 newest devices assigned", async || {
        let list = devices(&srv, "&link=main").await;
        more.iter().all(|m| {
            list.iter()
                .any(|d| d["serial_number"] == m.as_str() && d["assign_status"] == "assigned")
        })
    })
    .await;
    let fetches = sim
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/server/devices"))
        .count();
    assert_eq!(fetches, 1, "no new full fetch after the restart");

    // Deleting the link forgets its devices.
    let (st, _) = srv.api("DELETE", "/api/v1/dep/links/main", None).await;
    assert_eq!(st, 204);
    let (st, _) = srv.api("GET", "/api/v1/dep/links/main", None).await;
    assert_eq!(st, 404);
    assert!(devices(&srv, "&include_deleted=true").await.is_empty());
    let (_, audit) = srv.api("GET", "/api/v1/audit", None).await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in ["add_dep_link", "dep_reassign", "delete_dep_link"] {
        assert!(actions.contains(&a), "{actions:?}");
    }
    srv.stop().await;
}
