//! The DEP service end to end: a server token made by `openssl smime`
//! uploaded through the admin API, devices synced from the DEP simulator
//! (which behaves like Apple's service, quirks included), the enrollment
//! profile defined and assigned, and a device in Setup Assistant fetching
//! the profile with its `openssl cms`-signed MachineInfo.

#[path = "common/mod.rs"]
mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::Server;
use dep_client::simulator::{AssignFailure, Simulator, SimulatorConfig};
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

/// The device `serial` of `link`, as the admin API lists it.
async fn device(s: &Server, link: &str, serial: &str) -> Value {
    devices(s, &format!("&link={link}&include_deleted=true"))
        .await
        .into_iter()
        .find(|d| d["serial_number"] == serial)
        .unwrap_or_else(|| panic!("no device {serial} on {link}"))
}

/// The certificate to upload to Apple Business Manager, from the admin API.
async fn dep_certificate(s: &Server) -> String {
    let (st, cert) = s
        .client(None)
        .request(
            "GET",
            "/api/v1/dep/certificate",
            &[("authorization", format!("Bearer {}", s.token))],
            Vec::new(),
        )
        .await;
    assert_eq!(st, 200);
    String::from_utf8(cert).unwrap()
}

/// Adds the link `name` with a token for `sim`'s credentials that expires
/// at `expiry` (a year from now if `None`), made by `openssl smime`.
async fn add_link(s: &Server, sim: &Simulator, name: &str, expiry: Option<&str>) -> Value {
    let work = tempdir();
    let mut token = serde_json::to_value(sim.server_token()).unwrap();
    if let Some(e) = expiry {
        token["access_token_expiry"] = json!(e);
    }
    let p7m = token_file(work.path(), &dep_certificate(s).await, &token.to_string());
    let (st, link) = s
        .api(
            "PUT",
            &format!("/api/v1/dep/links/{name}"),
            Some(json!({"token": p7m})),
        )
        .await;
    assert!(st == 201 || st == 200, "{st} {link}");
    link
}

fn by_status<'a>(list: &'a [Value], status: &str) -> Vec<&'a str> {
    list.iter()
        .filter(|d| d["assign_status"] == status)
        .map(|d| d["serial_number"].as_str().unwrap())
        .collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
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

    // Re-assigning by hand: Apple gets the device once more.
    let before = sim.assignments().len();
    let (st, r) = srv
        .api(
            "POST",
            &format!("/api/v1/dep/devices/{}/assign", serials[0]),
            None,
        )
        .await;
    assert_eq!(st, 202, "{r}");
    assert_eq!(r["assign_status"], "pending", "{r}");
    wait_for("the re-assignment sent to Apple", async || {
        sim.assignments()[before..]
            .iter()
            .any(|a| a.serials == [serials[0].clone()] && a.profile_uuid == uuid && a.status == 200)
    })
    .await;
    wait_for("the device assigned again", async || {
        let d = device(&srv, "main", &serials[0]).await;
        d["assign_status"] == "assigned" && d["assign_detail"] == "SUCCESS"
    })
    .await;
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

/// Settings for a server syncing from `base_url`, with fast retries.
fn dep_settings(base_url: &str) -> impl FnOnce(&mut cm_proxy::config::Settings) + Clone + use<> {
    let base_url = base_url.to_owned();
    move |st: &mut cm_proxy::config::Settings| {
        st.dep.base_url = base_url;
        st.dep.sync_interval_secs = 3600;
        st.dep.assign_retry_secs = 1;
        st.dep.assign_retry_max_secs = 2;
    }
}

async fn simulator(devices: usize, seed: u64) -> Simulator {
    Simulator::start(
        SimulatorConfig::default()
            .devices(devices)
            .seed(seed)
            .clone(),
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_assignments_are_retried_with_back_off() {
    if !require_peer(
        "failed_assignments_are_retried_with_back_off",
        &["openssl", "version"],
    ) {
        return;
    }
    let sim = simulator(6, 11).await;
    let settings = dep_settings(&sim.base_url());
    let srv = Server::start_in(tempdir(), None, |st| {
        settings(st);
        st.dep.assign_retry_secs = 2;
        st.dep.assign_retry_max_secs = 4;
        st.dep.assign_max_attempts = 3;
    })
    .await;
    // The first assignment request gets a 500.
    sim.fail_assign(1, AssignFailure::ServerError);
    let started = Instant::now();
    add_link(&srv, &sim, "main", None).await;
    wait_for("the devices failed, to be retried", async || {
        by_status(&devices(&srv, "&link=main").await, "failed").len() == 6
    })
    .await;
    let d = device(&srv, "main", &sim.serials()[0]).await;
    assert_eq!(d["assign_attempts"], 1, "{d}");
    assert!(
        d["retry_after"].as_i64().unwrap() > d["assign_at"].as_i64().unwrap(),
        "{d}"
    );
    assert!(d["assign_detail"].as_str().unwrap().contains("500"), "{d}");
    // After the back-off, tried again: assigned.
    wait_for("every device assigned on the retry", async || {
        assigned(&devices(&srv, "&link=main").await) == 6
    })
    .await;
    assert!(started.elapsed() >= Duration::from_secs(2));
    let log = sim.assignments();
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!((log[0].status, log[1].status), (500, 200));
    assert_eq!(sorted(log[1].serials.clone()), sorted(sim.serials()));
    for d in devices(&srv, "&link=main").await {
        assert_eq!(
            (d["assign_attempts"].as_u64(), d["retry_after"].as_i64()),
            (Some(0), None),
            "{d}"
        );
    }

    // Apple answers FAILED for two new devices, three times: after the
    // third try (the limit) they stay failed, with Apple's answer.
    let new = sim.add_devices(2);
    sim.fail_assign(3, AssignFailure::DevicesFailed);
    let (st, _) = srv.api("POST", "/api/v1/dep/links/main/sync", None).await;
    assert_eq!(st, 202);
    wait_for("the new devices given up on", async || {
        let list = devices(&srv, "&link=main").await;
        new.iter().all(|n| {
            list.iter().any(|d| {
                d["serial_number"] == n.as_str()
                    && d["assign_attempts"] == 3
                    && d["retry_after"].is_null()
            })
        })
    })
    .await;
    for n in &new {
        let d = device(&srv, "main", n).await;
        assert_eq!(d["assign_status"], "failed", "{d}");
        assert_eq!(d["assign_detail"], "FAILED", "{d}");
    }
    let tries = |serial: &str| {
        sim.assignments()
            .iter()
            .filter(|a| a.serials.iter().any(|s| s == serial))
            .count()
    };
    assert_eq!(tries(&new[0]), 3);
    // No fourth try, even after the longest wait.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(tries(&new[0]), 3);
    // An administrator's request starts over.
    let (st, _) = srv
        .api(
            "POST",
            &format!("/api/v1/dep/devices/{}/assign", new[0]),
            None,
        )
        .await;
    assert_eq!(st, 202);
    wait_for("the device assigned by hand", async || {
        device(&srv, "main", &new[0]).await["assign_status"] == "assigned"
    })
    .await;
    assert_eq!(
        device(&srv, "main", &new[1]).await["assign_status"],
        "failed"
    );

    // NOT_ACCESSIBLE is final: a device Apple does not know for this server.
    let ghost = pippin_store::DepDeviceRecord {
        serial_number: "C02GHOST0001".into(),
        op_type: Some("added".into()),
        raw_json: "{}".into(),
        ..Default::default()
    };
    srv.app
        .store
        .upsert_dep_devices("main", &[ghost], 1)
        .await
        .unwrap();
    let (st, _) = srv.api("POST", "/api/v1/dep/links/main/sync", None).await;
    assert_eq!(st, 202);
    wait_for("the unknown device not accessible", async || {
        device(&srv, "main", "C02GHOST0001").await["assign_status"] == "not_accessible"
    })
    .await;
    let (st, _) = srv.api("POST", "/api/v1/dep/links/main/sync", None).await;
    assert_eq!(st, 202);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(tries("C02GHOST0001"), 1, "never tried again");
    let (_, metrics) = srv
        .client(None)
        .request("GET", "/metrics", &[], Vec::new())
        .await;
    let metrics = String::from_utf8(metrics).unwrap();
    assert!(
        metrics.contains("pippin_dep_assignment_failures_total 12"),
        "{metrics}"
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_devices_are_assigned_after_retry_after() {
    if !require_peer(
        "throttled_devices_are_assigned_after_retry_after",
        &["openssl", "version"],
    ) {
        return;
    }
    let sim = simulator(25, 12).await;
    sim.throttle_assign(Some(10), 1);
    let srv = Server::start_in(tempdir(), None, dep_settings(&sim.base_url())).await;
    let started = Instant::now();
    add_link(&srv, &sim, "main", None).await;
    wait_for("every device assigned", async || {
        assigned(&devices(&srv, "&link=main").await) == 25
    })
    .await;
    // Ten at a time, a second apart (Apple's retry_after_seconds).
    assert!(started.elapsed() >= Duration::from_secs(2));
    let log = sim.assignments();
    let sizes: Vec<usize> = log.iter().map(|a| a.serials.len()).collect();
    assert_eq!(sizes, [25, 15, 5]);
    assert!(
        log.iter()
            .all(|a| a.status == 200 && a.protocol_version == 10),
        "{log:?}"
    );
    // Each retry sent exactly the devices throttled before.
    assert!(
        log[1]
            .serials
            .iter()
            .all(|s| log[0].serials[10..].contains(s))
    );
    for d in devices(&srv, "&link=main").await {
        assert_eq!(d["assign_detail"], "SUCCESS", "{d}");
        assert_eq!(
            d["assign_attempts"], 0,
            "throttling is not a failed try: {d}"
        );
    }
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assign_with_put_and_protocol_version_9() {
    if !require_peer(
        "assign_with_put_and_protocol_version_9",
        &["openssl", "version"],
    ) {
        return;
    }
    // Apple's own simulator takes PUT only.
    let sim = Simulator::start(
        SimulatorConfig::default()
            .devices(7)
            .seed(13)
            .assign_put_only(true)
            .clone(),
    )
    .await
    .unwrap();
    sim.throttle_assign(Some(4), 30);
    let settings = dep_settings(&sim.base_url());
    let srv = Server::start_in(tempdir(), None, |st| {
        settings(st);
        st.dep.assign_method = "put".into();
        st.dep.protocol_version = 9;
    })
    .await;
    add_link(&srv, &sim, "main", None).await;
    wait_for("every device assigned", async || {
        assigned(&devices(&srv, "&link=main").await) == 7
    })
    .await;
    let log = sim.assignments();
    assert!(
        log.iter()
            .all(|a| a.method == "PUT" && a.protocol_version == 9 && a.status == 200),
        "{log:?}"
    );
    // Version 9 has THROTTLED without retry_after_seconds: our own wait
    // (1 s), not Apple's 30 s, before the second request.
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(
        sim.requests()
            .iter()
            .all(|r| r.protocol_version.as_deref() == Some("9"))
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_profile_is_assigned_to_devices_that_had_the_old_one() {
    if !require_peer(
        "a_new_profile_is_assigned_to_devices_that_had_the_old_one",
        &["openssl", "version"],
    ) {
        return;
    }
    let sim = simulator(5, 14).await;
    let settings = dep_settings(&sim.base_url());
    let first = settings.clone();
    let srv = Server::start_in(tempdir(), None, |st| {
        first(st);
        st.dep.profile.name = "First".into();
    })
    .await;
    add_link(&srv, &sim, "main", None).await;
    wait_for("every device assigned", async || {
        assigned(&devices(&srv, "&link=main").await) == 5
    })
    .await;
    let (_, link) = srv.api("GET", "/api/v1/dep/links/main", None).await;
    let old = link["profile_uuid"].as_str().unwrap().to_owned();
    // Restarted with another [dep.profile].
    let data = srv.stop().await;
    let srv = Server::start_in(data, None, |st| {
        settings(st);
        st.dep.profile.name = "Second".into();
        st.dep.profile.department = Some("Ops".into());
    })
    .await;
    let mut new = String::new();
    wait_for("the new profile assigned to every device", async || {
        let (_, link) = srv.api("GET", "/api/v1/dep/links/main", None).await;
        new = link["profile_uuid"].as_str().unwrap_or_default().to_owned();
        let list = devices(&srv, "&link=main").await;
        new != old
            && assigned(&list) == 5
            && list
                .iter()
                .all(|d| d["assign_profile_uuid"] == new.as_str())
    })
    .await;
    assert_eq!(sim.profile(&new).unwrap()["profile_name"], "Second");
    assert_eq!(sim.profile(&new).unwrap()["department"], "Ops");
    for serial in sim.serials() {
        assert_eq!(sim.device(&serial).unwrap()["profile_uuid"], new.as_str());
    }
    let last = sim.assignments().last().unwrap().clone();
    assert_eq!(
        (last.profile_uuid.as_str(), last.serials.len()),
        (new.as_str(), 5)
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explicit_assignments_with_auto_assign_off() {
    if !require_peer(
        "explicit_assignments_with_auto_assign_off",
        &["openssl", "version"],
    ) {
        return;
    }
    let sim = simulator(4, 15).await;
    let settings = dep_settings(&sim.base_url());
    let srv = Server::start_in(tempdir(), None, |st| {
        settings(st);
        st.dep.auto_assign = false;
    })
    .await;
    add_link(&srv, &sim, "main", None).await;
    wait_for("the devices synced, not assigned", async || {
        by_status(&devices(&srv, "&link=main").await, "skipped").len() == 4
    })
    .await;
    let d = device(&srv, "main", &sim.serials()[0]).await;
    assert!(
        d["assign_detail"].as_str().unwrap().contains("auto_assign"),
        "{d}"
    );
    assert!(sim.assignments().is_empty());
    // An administrator asks for one: it is assigned, the others are not.
    let pick = sim.serials()[2].clone();
    let (st, _) = srv
        .api("POST", &format!("/api/v1/dep/devices/{pick}/assign"), None)
        .await;
    assert_eq!(st, 202);
    wait_for("the device asked for assigned", async || {
        device(&srv, "main", &pick).await["assign_status"] == "assigned"
    })
    .await;
    let log = sim.assignments();
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0].serials, std::slice::from_ref(&pick));
    assert!(sim.device(&pick).unwrap()["profile_uuid"].is_string());
    let list = devices(&srv, "&link=main").await;
    assert_eq!(by_status(&list, "skipped").len(), 3);
    // New devices are not assigned either.
    let added = sim.add_devices(1);
    let (st, _) = srv.api("POST", "/api/v1/dep/links/main/sync", None).await;
    assert_eq!(st, 202);
    wait_for("the new device synced, not assigned", async || {
        by_status(&devices(&srv, "&link=main").await, "skipped").contains(&added[0].as_str())
    })
    .await;
    assert_eq!(sim.assignments().len(), 1);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_links_keep_their_own_cursors_and_devices() {
    if !require_peer(
        "two_links_keep_their_own_cursors_and_devices",
        &["openssl", "version"],
    ) {
        return;
    }
    // Two MDM servers in Apple Business Manager, one token each, at one URL.
    let sim = simulator(6, 21).await;
    let mut west_config = SimulatorConfig::default();
    west_config
        .devices(9)
        .seed(22)
        .credentials(dep_client::OAuthCredentials {
            consumer_key: "CK_west".into(),
            consumer_secret: "CS_west".into(),
            access_token: "AT_west".into(),
            access_secret: "AS_west".into(),
        });
    let west = sim.add_server(west_config).unwrap();
    let east: &dep_client::simulator::SimServer = &sim;
    let srv = Server::start_in(tempdir(), None, dep_settings(&sim.base_url())).await;
    add_link(&srv, &sim, "east", None).await;
    // The west token, made the same way.
    let work = tempdir();
    let p7m = token_file(
        work.path(),
        &dep_certificate(&srv).await,
        &serde_json::to_string(&west.server_token()).unwrap(),
    );
    let (st, link) = srv
        .api("PUT", "/api/v1/dep/links/west", Some(json!({"token": p7m})))
        .await;
    assert_eq!(st, 201, "{link}");
    wait_for("both links synced and assigned", async || {
        assigned(&devices(&srv, "&link=east").await) == 6
            && assigned(&devices(&srv, "&link=west").await) == 9
    })
    .await;
    let serials_of = async |link: &str| {
        sorted(
            devices(&srv, &format!("&link={link}"))
                .await
                .iter()
                .map(|d| d["serial_number"].as_str().unwrap().to_owned())
                .collect(),
        )
    };
    assert_eq!(serials_of("east").await, sorted(east.serials()));
    assert_eq!(serials_of("west").await, sorted(west.serials()));
    // Each link has its own cursor, from its own server.
    let cursor = async |link: &str| {
        let l = srv.app.store.get_dep_link(link).await.unwrap().unwrap();
        (l.cursor.unwrap(), l.phase)
    };
    let (east_cursor, east_phase) = cursor("east").await;
    let (west_cursor, west_phase) = cursor("west").await;
    assert_ne!(east_cursor, west_cursor);
    assert_eq!(
        (east_phase, west_phase),
        (pippin_store::DepPhase::Sync, pippin_store::DepPhase::Sync)
    );
    let (_, links) = srv.api("GET", "/api/v1/dep/links", None).await;
    let names: Vec<&str> = links["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["east", "west"]);
    assert_eq!(links["links"][1]["devices"]["total"], 9);
    // A change on one server reaches only its link.
    let added = west.add_devices(2);
    let (st, _) = srv.api("POST", "/api/v1/dep/links/west/sync", None).await;
    assert_eq!(st, 202);
    wait_for("the west devices added", async || {
        assigned(&devices(&srv, "&link=west").await) == 11
    })
    .await;
    assert_eq!(devices(&srv, "&link=east").await.len(), 6);
    assert_eq!(
        cursor("east").await.0,
        east_cursor,
        "east's cursor untouched"
    );
    assert!(added.iter().all(|a| !east.serials().contains(a)));

    // Deleting one leaves the other syncing from its cursor.
    let (st, _) = srv.api("DELETE", "/api/v1/dep/links/east", None).await;
    assert_eq!(st, 204);
    let east_requests = east.requests().len();
    let more = west.add_devices(1);
    let (st, _) = srv.api("POST", "/api/v1/dep/links/west/sync", None).await;
    assert_eq!(st, 202);
    wait_for("the west device added after east was deleted", async || {
        devices(&srv, "&link=west")
            .await
            .iter()
            .any(|d| d["serial_number"] == more[0].as_str() && d["assign_status"] == "assigned")
    })
    .await;
    let gone = srv
        .app
        .store
        .find_dep_device(&east.serials()[0])
        .await
        .unwrap();
    assert!(gone.is_empty(), "the deleted link's devices are forgotten");
    let (st, _) = srv.api("GET", "/api/v1/dep/links/east", None).await;
    assert_eq!(st, 404);
    let fetches = west
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/server/devices"))
        .count();
    assert_eq!(fetches, 1, "west never fetched everything again");
    assert_eq!(
        east.requests().len(),
        east_requests,
        "the deleted link's sync stopped"
    );
    srv.stop().await;
}

fn expiry_in(days: u64) -> String {
    dep_client::format_timestamp(std::time::SystemTime::now() + Duration::from_secs(days * 86_400))
}

async fn metrics(s: &Server) -> String {
    let (st, body) = s
        .client(None)
        .request("GET", "/metrics", &[], Vec::new())
        .await;
    assert_eq!(st, 200);
    String::from_utf8(body).unwrap()
}

fn gauge(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {name} in {metrics}"))
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_expiry_is_reported_ahead() {
    if !require_peer("token_expiry_is_reported_ahead", &["openssl", "version"]) {
        return;
    }
    let sim = simulator(2, 31).await;
    let mut second = SimulatorConfig::default();
    second
        .devices(1)
        .seed(32)
        .credentials(dep_client::OAuthCredentials {
            consumer_key: "CK_two".into(),
            consumer_secret: "CS_two".into(),
            access_token: "AT_two".into(),
            access_secret: "AS_two".into(),
        });
    let two = sim.add_server(second).unwrap();
    let srv = Server::start_in(tempdir(), None, dep_settings(&sim.base_url())).await;
    // No token yet: no earliest expiry.
    let m = metrics(&srv).await;
    assert!(gauge(&m, "pippin_dep_token_expiry_days").is_nan(), "{m}");
    assert_eq!(gauge(&m, "pippin_dep_tokens_expiring_soon"), 0.0);
    // A token made by openssl that expires in three days (the warning
    // window is 30).
    let link = add_link(&srv, &sim, "soon", Some(&expiry_in(3))).await;
    assert_eq!(link["token_expiring_soon"], true, "{link}");
    assert_eq!(link["token_expired"], false, "{link}");
    assert_eq!(link["token_expires_in_days"], 2, "{link}");
    let m = metrics(&srv).await;
    let days = gauge(&m, "pippin_dep_token_expiry_days");
    assert!((2.99..=3.0).contains(&days), "{days}");
    assert_eq!(gauge(&m, "pippin_dep_tokens_expiring_soon"), 1.0);
    // One with a year left: not flagged; the gauge keeps the earliest.
    let work = tempdir();
    let mut token = serde_json::to_value(two.server_token()).unwrap();
    token["access_token_expiry"] = json!(expiry_in(365));
    let p7m = token_file(
        work.path(),
        &dep_certificate(&srv).await,
        &token.to_string(),
    );
    let (st, later) = srv
        .api(
            "PUT",
            "/api/v1/dep/links/later",
            Some(json!({"token": p7m})),
        )
        .await;
    assert_eq!(st, 201, "{later}");
    assert_eq!(later["token_expiring_soon"], false, "{later}");
    assert!(later["token_expires_in_days"].as_i64().unwrap() >= 364);
    let m = metrics(&srv).await;
    assert!((2.99..=3.0).contains(&gauge(&m, "pippin_dep_token_expiry_days")));
    assert_eq!(gauge(&m, "pippin_dep_tokens_expiring_soon"), 1.0);
    let (_, links) = srv.api("GET", "/api/v1/dep/links", None).await;
    let flags: Vec<bool> = links["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["token_expiring_soon"].as_bool().unwrap())
        .collect();
    assert_eq!(flags, [false, true], "later, soon");
    // Forgetting the soon one moves the gauge to the other.
    let (st, _) = srv.api("DELETE", "/api/v1/dep/links/soon", None).await;
    assert_eq!(st, 204);
    let m = metrics(&srv).await;
    assert!(gauge(&m, "pippin_dep_token_expiry_days") > 364.0);
    assert_eq!(gauge(&m, "pippin_dep_tokens_expiring_soon"), 0.0);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewed_token_keeps_the_cursor_and_devices() {
    if !require_peer(
        "a_renewed_token_keeps_the_cursor_and_devices",
        &["openssl", "version"],
    ) {
        return;
    }
    let sim = simulator(8, 41).await;
    let srv = Server::start_in(tempdir(), None, dep_settings(&sim.base_url())).await;
    add_link(&srv, &sim, "main", None).await;
    wait_for("every device assigned", async || {
        assigned(&devices(&srv, "&link=main").await) == 8
    })
    .await;
    let before = srv.app.store.get_dep_link("main").await.unwrap().unwrap();
    let cursor = before.cursor.clone().unwrap();
    // Renewed in Apple Business Manager: new credentials, the old ones stop
    // working.
    let mut renewed = sim.credentials();
    renewed.access_token = "AT_renewed_0001".into();
    renewed.access_secret = "AS_renewed_0001".into();
    sim.set_credentials(renewed);
    sim.expire_sessions();
    let work = tempdir();
    let p7m = token_file(
        work.path(),
        &dep_certificate(&srv).await,
        &serde_json::to_string(&sim.server_token()).unwrap(),
    );
    let (st, link) = srv
        .api(
            "PUT",
            "/api/v1/dep/links/main",
            Some(json!({ "token": p7m })),
        )
        .await;
    assert_eq!(st, 200, "renewal, not a new link: {link}");
    assert_eq!(link["phase"], "sync", "{link}");
    assert_eq!(link["has_cursor"], true, "{link}");
    assert_eq!(link["devices"]["total"], 8, "{link}");
    assert_eq!(link["devices"]["by_assign_status"]["assigned"], 8, "{link}");
    // The next sync signs in with the new token and continues from the
    // stored cursor: only the change comes, no full fetch.
    let added = sim.add_devices(1);
    let (st, _) = srv.api("POST", "/api/v1/dep/links/main/sync", None).await;
    assert_eq!(st, 202);
    wait_for("the new device assigned", async || {
        devices(&srv, "&link=main")
            .await
            .iter()
            .any(|d| d["serial_number"] == added[0].as_str() && d["assign_status"] == "assigned")
    })
    .await;
    let syncs: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/server/devices"))
        .collect();
    assert_eq!(syncs.len(), 1, "no second full fetch: {syncs:?}");
    let after = srv.app.store.get_dep_link("main").await.unwrap().unwrap();
    assert_ne!(
        after.cursor.unwrap(),
        cursor,
        "moved on from the kept cursor"
    );
    assert_eq!(after.created_at, before.created_at);
    assert_eq!(after.consumer_key, before.consumer_key);
    let (_, audit) = srv.api("GET", "/api/v1/audit", None).await;
    assert!(audit.to_string().contains("renew_dep_token"), "{audit}");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn der_tokens_upload_as_base64() {
    if !require_peer("der_tokens_upload_as_base64", &["openssl", "version"]) {
        return;
    }
    use base64::Engine as _;
    let sim = simulator(3, 51).await;
    let srv = Server::start_in(tempdir(), None, dep_settings(&sim.base_url())).await;
    let work = tempdir();
    let dir = work.path();
    std::fs::write(dir.join("dep.pem"), dep_certificate(&srv).await).unwrap();
    let message = format!(
        "Content-Type: text/plain;charset=UTF-8\r\n\r\n-----BEGIN MESSAGE-----\r\n{}\r\n-----END MESSAGE-----\r\n",
        serde_json::to_string(&sim.server_token()).unwrap()
    );
    std::fs::write(dir.join("m.txt"), message).unwrap();
    openssl(&[
        "cms",
        "-encrypt",
        "-aes256",
        "-binary",
        "-outform",
        "DER",
        "-in",
        &s(&dir.join("m.txt")),
        "-out",
        &s(&dir.join("token.der")),
        "-recip",
        &s(&dir.join("dep.pem")),
    ]);
    let der = std::fs::read(dir.join("token.der")).unwrap();
    assert_eq!(der[0], 0x30);
    assert!(std::str::from_utf8(&der).is_err(), "a binary file");
    let b64 = base64::engine::general_purpose::STANDARD.encode(&der);
    // Refused: both forms, neither, not base64.
    for bad in [
        json!({"token": "x", "token_base64": b64}),
        json!({}),
        json!({"token_base64": "%%%"}),
    ] {
        let (st, e) = srv.api("PUT", "/api/v1/dep/links/main", Some(bad)).await;
        assert_eq!(st, 400, "{e}");
    }
    // Wrapped at 76 columns, as base64 tools write it.
    let wrapped: String = b64
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    let (st, link) = srv
        .api(
            "PUT",
            "/api/v1/dep/links/main",
            Some(json!({"token_base64": wrapped})),
        )
        .await;
    assert_eq!(st, 201, "{link}");
    assert_eq!(link["consumer_key"], sim.credentials().consumer_key);
    wait_for("the devices synced", async || {
        devices(&srv, "&link=main").await.len() == 3
    })
    .await;
    // The text form of an S/MIME file works as base64 too.
    let smime = token_file(
        dir,
        &std::fs::read_to_string(dir.join("dep.pem")).unwrap(),
        &serde_json::to_string(&sim.server_token()).unwrap(),
    );
    let (st, _) = srv
        .api(
            "PUT",
            "/api/v1/dep/links/main",
            Some(json!({"token_base64": base64::engine::general_purpose::STANDARD.encode(smime)})),
        )
        .await;
    assert_eq!(st, 200);
    srv.stop().await;
}

/// A certificate signed by `ca` (or self-signed), in `dir`: `NAME.pem`,
/// `NAME.key`. `days` may be negative (already expired).
fn make_cert(dir: &Path, name: &str, ca: Option<&str>, days: i32, is_ca: bool) {
    let p = |n: &str| s(&dir.join(n));
    let key = p(&format!("{name}.key"));
    let pem = p(&format!("{name}.pem"));
    let subj = format!("/CN={name}");
    match ca {
        None => openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            &days.to_string(),
            "-subj",
            &subj,
            "-keyout",
            &key,
            "-out",
            &pem,
        ]),
        Some(ca) => {
            let csr = p(&format!("{name}.csr"));
            openssl(&[
                "req", "-newkey", "rsa:2048", "-nodes", "-subj", &subj, "-keyout", &key, "-out",
                &csr,
            ]);
            let ext = p(&format!("{name}.ext"));
            std::fs::write(
                &ext,
                if is_ca {
                    "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n"
                } else {
                    "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                },
            )
            .unwrap();
            openssl(&[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                &p(&format!("{ca}.pem")),
                "-CAkey",
                &p(&format!("{ca}.key")),
                "-CAcreateserial",
                "-days",
                &days.to_string(),
                "-extfile",
                &ext,
                "-out",
                &pem,
            ]);
        }
    }
}

/// MachineInfo for `serial`, CMS-signed by `signer` (with `extra`
/// certificates in the signature).
fn signed_machine_info(dir: &Path, serial: &str, signer: &str, extra: Option<&str>) -> Vec<u8> {
    let p = |n: &str| s(&dir.join(n));
    std::fs::write(
        dir.join("mi.plist"),
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\"><dict>\
             <key>PRODUCT</key><string>iPhone14,2</string>\
             <key>SERIAL</key><string>{serial}</string>\
             <key>UDID</key><string>00008110-000A1B2C3D4E5F60</string>\
             <key>VERSION</key><string>21A329</string></dict></plist>"
        ),
    )
    .unwrap();
    let out = p(&format!("mi-{signer}.p7s"));
    let mut args = vec![
        "cms".to_owned(),
        "-sign".into(),
        "-binary".into(),
        "-nodetach".into(),
        "-outform".into(),
        "DER".into(),
        "-in".into(),
        p("mi.plist"),
        "-signer".into(),
        p(&format!("{signer}.pem")),
        "-inkey".into(),
        p(&format!("{signer}.key")),
        "-out".into(),
        out.clone(),
    ];
    if let Some(e) = extra {
        args.push("-certfile".into());
        args.push(p(&format!("{e}.pem")));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    openssl(&args);
    std::fs::read(out).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn machine_info_signers_chain_to_the_configured_ca() {
    if !require_peer(
        "machine_info_signers_chain_to_the_configured_ca",
        &["openssl", "version"],
    ) {
        return;
    }
    let pki = tempdir();
    let dir = pki.path();
    // A stand-in for Apple's device CA chain: root, then the device CA,
    // then device identities; and a stranger's self-signed identity.
    make_cert(dir, "root", None, 30, true);
    make_cert(dir, "device-ca", Some("root"), 30, true);
    make_cert(dir, "device", Some("device-ca"), 30, false);
    make_cert(dir, "expired", Some("device-ca"), -1, false);
    make_cert(dir, "direct", Some("root"), 30, false);
    make_cert(dir, "stranger", None, 30, true);
    let sim = simulator(2, 61).await;
    let settings = dep_settings(&sim.base_url());
    let anchor = dir.join("root.pem");
    let srv = Server::start_in(tempdir(), None, |st| {
        settings(st);
        st.dep.machine_info_ca = Some(anchor);
    })
    .await;
    add_link(&srv, &sim, "main", None).await;
    wait_for("the devices synced", async || {
        devices(&srv, "&link=main").await.len() == 2
    })
    .await;
    let serial = sim.serials()[0].clone();
    let c = srv.client(None);
    let ct = [("content-type", "application/pkcs7-signature".to_owned())];
    let post = async |body: Vec<u8>| c.request("POST", "/mdm/dep/enroll", &ct, body).await.0;
    let rejected_before = srv.app.metrics.rejected.get();
    // Anchored through the intermediate that came with the signature, or
    // issued by the anchor itself: served.
    assert_eq!(
        post(signed_machine_info(
            dir,
            &serial,
            "device",
            Some("device-ca")
        ))
        .await,
        200
    );
    assert_eq!(
        post(signed_machine_info(dir, &serial, "direct", None)).await,
        200
    );
    // Not anchored: refused with 403, even with a good signature and a
    // known serial number.
    assert_eq!(
        post(signed_machine_info(dir, &serial, "stranger", None)).await,
        403
    );
    // The intermediate missing from the signature: no chain.
    assert_eq!(
        post(signed_machine_info(dir, &serial, "device", None)).await,
        403
    );
    // Expired.
    assert_eq!(
        post(signed_machine_info(
            dir,
            &serial,
            "expired",
            Some("device-ca")
        ))
        .await,
        403
    );
    assert_eq!(srv.app.metrics.rejected.get() - rejected_before, 3);
    srv.stop().await;

    // Without machine_info_ca a verifying signature is enough (the default).
    let srv = Server::start_in(tempdir(), None, dep_settings(&sim.base_url())).await;
    add_link(&srv, &sim, "main", None).await;
    wait_for("the devices synced", async || {
        devices(&srv, "&link=main").await.len() == 2
    })
    .await;
    let c = srv.client(None);
    let (st, _) = c
        .request(
            "POST",
            "/mdm/dep/enroll",
            &ct,
            signed_machine_info(dir, &serial, "stranger", None),
        )
        .await;
    assert_eq!(st, 200);
    srv.stop().await;

    // A file that is not PEM certificates stops the start.
    let bad = dir.join("bad.pem");
    std::fs::write(&bad, "not a certificate").unwrap();
    let mut st = cm_proxy::config::Settings::defaults(tempdir().path().to_path_buf());
    st.dep.machine_info_ca = Some(bad);
    st.listen = "127.0.0.1:0".parse().unwrap();
    st.log_stderr = false;
    let e = cm_proxy::bind(&st).await.err().expect("refused");
    assert!(e.to_string().contains("machine_info_ca"), "{e}");
}
