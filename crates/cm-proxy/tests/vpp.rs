//! The Apps and Books service end to end: content tokens uploaded through
//! the admin API and claimed at the Apps and Books simulator (which posts
//! its notifications back over HTTPS to the service), assets and license
//! counts synced, licenses assigned to enrolled devices (refused up front
//! when they cannot be covered), `InstallApplication` delivered and
//! acknowledged, apps removed and licenses given back, another MDM
//! server's token refused until taken over.

#[path = "common/mod.rs"]
mod common;

use std::time::{Duration, SystemTime};

use apple_mdm_protocol::report::Status;
use apple_mdm_protocol::{Command, CommandReport};
use common::{Device, Server};
use serde_json::{Value, json};
use vpp_client::MdmInfo;
use vpp_client::simulator::{AssetSpec, Simulator, SimulatorConfig};

const PAGES: &str = "361309726";

fn year() -> SystemTime {
    SystemTime::now() + Duration::from_secs(365 * 86_400)
}

async fn wait_for(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..300 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn asset(s: &Server, adam: &str) -> Option<Value> {
    let (st, page) = s.api("GET", "/api/v1/vpp/assets?token=main", None).await;
    assert_eq!(st, 200, "{page}");
    page["assets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["adam_id"] == adam)
        .cloned()
}

async fn assignments(s: &Server, query: &str) -> Vec<Value> {
    let (st, page) = s
        .api(
            "GET",
            &format!("/api/v1/vpp/assignments?token=main{query}"),
            None,
        )
        .await;
    assert_eq!(st, 200, "{page}");
    page["assignments"].as_array().unwrap().clone()
}

/// The state of `serial`'s assignment of `adam`.
async fn state_of(s: &Server, adam: &str, serial: &str) -> Option<String> {
    assignments(s, &format!("&adam_id={adam}&serial_number={serial}"))
        .await
        .first()
        .and_then(|a| a["state"].as_str().map(str::to_owned))
}

/// Lets the device poll; returns the command it gets, if any.
async fn next_command(d: &Device) -> Option<(Command, Vec<u8>)> {
    let (st, body) = d.idle().await;
    assert_eq!(st, 200);
    if body.is_empty() {
        return None;
    }
    Some((Command::decode(&body).expect("a command"), body))
}

async fn ack(d: &Device, uuid: &str) {
    let report = CommandReport::answer(
        d.identity.clone(),
        uuid.to_owned(),
        Status::Acknowledged,
        Default::default(),
    );
    let (st, _) = d.connect(report.to_xml()).await;
    assert_eq!(st, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn licenses_from_token_to_installed_app_and_back_sqlite() {
    licenses_from_token_to_installed_app_and_back(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn licenses_from_token_to_installed_app_and_back_postgres() {
    if let Some(url) = common::postgres_url() {
        licenses_from_token_to_installed_app_and_back(Some(url)).await;
    }
}

async fn licenses_from_token_to_installed_app_and_back(database_url: Option<String>) {
    // The service first (the simulator must trust its CA to post
    // notifications to it), pointed at a simulator bound in advance.
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let sim_addr = probe.local_addr().unwrap();
    drop(probe);
    let data = tempfile::tempdir().unwrap();
    let schema = format!("vpp_{}", uuid::Uuid::new_v4().simple());
    let postgres = database_url.is_some();
    let server = Server::start_in(data, database_url, |s| {
        if postgres {
            s.database_schema = Some(schema);
        }
        s.vpp.base_url = format!("http://{sim_addr}/mdm/v2");
        s.vpp.work_interval_secs = 1;
        s.vpp.event_poll_secs = 1;
        s.vpp.retry_secs = 1;
        s.vpp.max_requests_per_second = 0;
    })
    .await;
    let mut c = SimulatorConfig::default();
    c.max_requests_per_second(0)
        .events(Duration::from_millis(50), 100)
        .duplicate_notifications(true)
        .notification_ca_pem(server.ca_pem.clone());
    let sim = Simulator::start_on(sim_addr, c).await.unwrap();
    let loc = sim.add_location("HQ library");
    sim.add_asset(loc, AssetSpec::app(PAGES, 3));
    sim.add_asset(
        loc,
        AssetSpec {
            device_assignable: false,
            ..AssetSpec::app("408709785", 50)
        },
    );
    sim.add_catalog_app(PAGES, "Pages", "com.apple.Pages", "14.1", false);
    let token = sim.issue_token(loc, "Example Corp", year());

    // Bad uploads.
    let (st, body) = server
        .api(
            "PUT",
            "/api/v1/vpp/tokens/main",
            Some(json!({ "token": "not a token" })),
        )
        .await;
    assert_eq!(st, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("content token"),
        "{body}"
    );
    let (st, _) = server
        .api(
            "PUT",
            "/api/v1/vpp/tokens/a%2Fb",
            Some(json!({ "token": token })),
        )
        .await;
    assert!(st == 400 || st == 404);

    // The token: stored, claimed (mdmInfo set at Apple, notifications on).
    let (st, t) = server
        .api(
            "PUT",
            "/api/v1/vpp/tokens/main",
            Some(json!({ "token": token, "description": "Head office", "organization_type": "business" })),
        )
        .await;
    assert_eq!(st, 201, "{t}");
    assert_eq!(t["org_name"], "Example Corp");
    assert_eq!(t["claimed"], true, "{t}");
    assert_eq!(t["notifications"], true, "{t}");
    assert_eq!(t["location_name"], "HQ library");
    assert_eq!(t["token_expiring_soon"], false);
    let info = sim.mdm_info(loc).expect("claimed at Apple");
    assert_eq!(info.name, "Pippin");
    assert_eq!(info.metadata, server.base.trim_start_matches("https://"));
    // Apple's test notification reached the service with the right secret.
    let tests: Vec<_> = sim
        .deliveries()
        .into_iter()
        .filter(|d| d.body["notificationType"] == "TEST_NOTIFICATION")
        .collect();
    assert_eq!(tests.len(), 1);
    assert_eq!(tests[0].status, Some(200));

    // Assets and counts, with metadata.
    wait_for("assets", async || {
        asset(&server, PAGES)
            .await
            .is_some_and(|a| a["name"] == "Pages")
    })
    .await;
    let a = asset(&server, PAGES).await.unwrap();
    assert_eq!(a["total_count"], 3);
    assert_eq!(a["available_count"], 3);
    assert_eq!(a["free_count"], 3);
    assert_eq!(a["bundle_id"], "com.apple.Pages");
    assert_eq!(a["device_assignable"], true);

    // Five Macs; only three licenses.
    let mut devices = Vec::new();
    for n in 0..5 {
        devices.push(Device::enroll(&server, 700 + n).await);
    }
    let udids = |ds: &[Device]| ds.iter().map(|d| d.udid.clone()).collect::<Vec<_>>();
    let (st, body) = server
        .api(
            "POST",
            "/api/v1/vpp/assignments",
            Some(json!({ "token": "main", "adam_id": PAGES, "devices": udids(&devices) })),
        )
        .await;
    assert_eq!(st, 409, "{body}");
    let msg = body["error"].as_str().unwrap();
    assert!(
        msg.contains("3 free") && msg.contains("5") && msg.contains("Pages"),
        "{msg}"
    );
    assert!(
        assignments(&server, "").await.is_empty(),
        "nothing was requested"
    );
    // Not device-assignable, unknown asset, unknown device.
    let (st, body) = server
        .api(
            "POST",
            "/api/v1/vpp/assignments",
            Some(json!({ "token": "main", "adam_id": "408709785", "devices": [devices[0].udid] })),
        )
        .await;
    assert_eq!(st, 400, "{body}");
    let (st, _) = server
        .api(
            "POST",
            "/api/v1/vpp/assignments",
            Some(json!({ "token": "main", "adam_id": "1", "devices": [devices[0].udid] })),
        )
        .await;
    assert_eq!(st, 404);
    let (st, _) = server
        .api(
            "POST",
            "/api/v1/vpp/assignments",
            Some(json!({ "token": "main", "adam_id": PAGES, "devices": ["no-such-udid"] })),
        )
        .await;
    assert_eq!(st, 404);

    // Two devices: associated at Apple, then the install goes out.
    let (st, body) = server
        .api(
            "POST",
            "/api/v1/vpp/assignments",
            Some(json!({ "token": "main", "adam_id": PAGES, "devices": udids(&devices[..2]), "management_flags": 5 })),
        )
        .await;
    assert_eq!(st, 202, "{body}");
    assert_eq!(body["requested"], 2);
    // Asked-for licenses count against the free ones at once.
    assert_eq!(asset(&server, PAGES).await.unwrap()["free_count"], 1);
    let (st, _) = server
        .api(
            "POST",
            "/api/v1/vpp/assignments",
            Some(json!({ "token": "main", "adam_id": PAGES, "devices": udids(&devices[2..4]) })),
        )
        .await;
    assert_eq!(st, 409);
    for d in &devices[..2] {
        let serial = d.serial.clone();
        wait_for("the install", async || {
            state_of(&server, PAGES, &serial).await.as_deref() == Some("installing")
        })
        .await;
    }
    let mut at_apple = sim.device_assignments(loc, PAGES);
    at_apple.sort();
    assert_eq!(
        at_apple,
        vec![devices[0].serial.clone(), devices[1].serial.clone()]
    );
    for d in &devices[..2] {
        let (cmd, body) = next_command(d).await.expect("the install command");
        assert_eq!(cmd.request_type(), "InstallApplication");
        // The command as Apple's devices read it, checked with plistlib.
        let out = test_support::python_ok(
            "import plistlib, sys\nc = plistlib.loads(sys.stdin.buffer.read())['Command']\n\
             print(c['RequestType'], c['iTunesStoreID'], c['Options']['PurchaseMethod'], c['ManagementFlags'], type(c['iTunesStoreID']).__name__)",
            &body,
        );
        assert_eq!(
            String::from_utf8_lossy(&out).trim(),
            "InstallApplication 361309726 1 5 int"
        );
        ack(d, &cmd.command_uuid).await;
        assert_eq!(
            state_of(&server, PAGES, &d.serial).await.as_deref(),
            Some("installed")
        );
    }
    // Asking again for a device that has the license changes nothing.
    let (st, body) = server
        .api(
            "POST",
            "/api/v1/vpp/assignments",
            Some(json!({ "token": "main", "adam_id": PAGES, "devices": [devices[0].udid] })),
        )
        .await;
    assert_eq!(st, 202);
    assert_eq!(
        (body["requested"].as_u64(), body["unchanged"].as_u64()),
        (Some(0), Some(1))
    );

    // Ten more licenses bought: ASSET_COUNT (sent twice by the simulator)
    // raises the count once.
    sim.purchase(loc, PAGES, 10);
    wait_for("the new count", async || {
        asset(&server, PAGES).await.unwrap()["total_count"] == 13
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(asset(&server, PAGES).await.unwrap()["total_count"], 13);

    // Removing: RemoveApplication with the bundle id, then the license goes back.
    let (st, body) = server
        .api(
            "POST",
            "/api/v1/vpp/assignments/remove",
            Some(json!({ "token": "main", "adam_id": PAGES, "devices": [devices[1].udid] })),
        )
        .await;
    assert_eq!(st, 202, "{body}");
    assert_eq!(body["changed"], 1);
    let d = &devices[1];
    let mut removal = None;
    for _ in 0..50 {
        if let Some(c) = next_command(d).await {
            removal = Some(c);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (cmd, body) = removal.expect("the removal command");
    assert_eq!(cmd.request_type(), "RemoveApplication");
    assert!(String::from_utf8_lossy(&body).contains("<string>com.apple.Pages</string>"));
    ack(d, &cmd.command_uuid).await;
    let serial = d.serial.clone();
    wait_for("the license back", async || {
        state_of(&server, PAGES, &serial).await.as_deref() == Some("removed")
    })
    .await;
    assert_eq!(
        sim.device_assignments(loc, PAGES),
        vec![devices[0].serial.clone()]
    );

    // Notifications without the secret are refused.
    let c = server.client(None);
    let (st, _) = c
        .request(
            "POST",
            "/mdm/vpp/notify/main",
            &[("authorization", "Bearer wrong".to_owned())],
            br#"{"notification":{},"notificationId":"x","notificationType":"TEST_NOTIFICATION"}"#
                .to_vec(),
        )
        .await;
    assert_eq!(st, 401);

    // The token listing.
    let (st, list) = server.api("GET", "/api/v1/vpp/tokens", None).await;
    assert_eq!(st, 200);
    let t = &list["tokens"][0];
    assert_eq!(t["name"], "main");
    assert_eq!(t["description"], "Head office");
    assert_eq!(t["assignments"]["installed"], 1, "{t}");
    assert_eq!(t["assignments"]["removed"], 1, "{t}");
    assert_eq!(t["last_sync_ok"], true);

    // A token another MDM server manages: refused until taken over.
    let other = sim.add_location("Branch library");
    sim.set_mdm_info(
        other,
        Some(MdmInfo {
            id: "other-server".into(),
            metadata: "mdm.other.example".into(),
            name: "Other MDM".into(),
        }),
    );
    let branch = sim.issue_token(other, "Example Corp", year());
    let (st, body) = server
        .api(
            "PUT",
            "/api/v1/vpp/tokens/branch",
            Some(json!({ "token": branch })),
        )
        .await;
    assert_eq!(st, 409, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("Other MDM"),
        "{body}"
    );
    assert_eq!(sim.mdm_info(other).unwrap().id, "other-server");
    let (st, body) = server
        .api(
            "PUT",
            "/api/v1/vpp/tokens/branch",
            Some(json!({ "token": branch, "take_over": true })),
        )
        .await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(sim.mdm_info(other).unwrap().name, "Pippin");

    // Forgetting a token.
    let (st, _) = server
        .api("DELETE", "/api/v1/vpp/tokens/branch", None)
        .await;
    assert_eq!(st, 204);
    let (st, _) = server.api("GET", "/api/v1/vpp/tokens/branch", None).await;
    assert_eq!(st, 404);
    server.stop().await;
}

#[tokio::test]
async fn notifications_are_not_required() {
    // Apple cannot reach this service: the claim goes through without
    // notifications, and polling alone carries a job to its end.
    let mut c = SimulatorConfig::default();
    c.max_requests_per_second(0)
        .events(Duration::from_millis(20), 100);
    let sim = Simulator::start(c).await.unwrap();
    let loc = sim.add_location("Lab");
    sim.add_asset(loc, AssetSpec::app(PAGES, 10));
    let token = sim.issue_token(loc, "Lab Org", year());
    let base = sim.base_url();
    let server = Server::start_in(tempfile::tempdir().unwrap(), None, |s| {
        s.vpp.base_url = base;
        s.vpp.work_interval_secs = 1;
        s.vpp.event_poll_secs = 1;
        s.vpp.max_requests_per_second = 0;
    })
    .await;
    let (st, t) = server
        .api(
            "PUT",
            "/api/v1/vpp/tokens/main",
            Some(json!({ "token": token })),
        )
        .await;
    assert_eq!(st, 201, "{t}");
    assert_eq!(t["claimed"], true, "{t}");
    assert_eq!(t["notifications"], false, "{t}");
    wait_for("assets", async || asset(&server, PAGES).await.is_some()).await;
    let d = Device::enroll(&server, 901).await;
    let (st, body) = server
        .api(
            "POST",
            "/api/v1/vpp/assignments",
            Some(json!({ "token": "main", "adam_id": PAGES, "devices": [d.udid] })),
        )
        .await;
    assert_eq!(st, 202, "{body}");
    let serial = d.serial.clone();
    wait_for("the install", async || {
        state_of(&server, PAGES, &serial).await.as_deref() == Some("installing")
    })
    .await;
    let (cmd, _) = next_command(&d).await.unwrap();
    let report = CommandReport::answer(
        d.identity.clone(),
        cmd.command_uuid.clone(),
        Status::Error,
        Default::default(),
    );
    let (st, _) = d.connect(report.to_xml()).await;
    assert_eq!(st, 200);
    assert_eq!(
        state_of(&server, PAGES, &serial).await.as_deref(),
        Some("failed")
    );
    let a = &assignments(&server, "").await[0];
    assert!(a["detail"].as_str().unwrap().contains("Error"), "{a}");
    server.stop().await;
}
