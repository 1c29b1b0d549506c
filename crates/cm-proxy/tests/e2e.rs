//! End to end on loopback: a device enrolls through the profile and SCEP,
//! checks in over mutual TLS, and is managed through the admin API. Every
//! scenario runs on SQLite and on PostgreSQL.

mod common;

use apple_mdm_protocol::results::{
    CommandResult, DeviceInformationResult, InstalledApplication, InstalledApplicationListResult,
    QueryResponses,
};
use apple_mdm_protocol::{Command, CommandReport, Status};
use common::{Device, Server};
use serde_json::json;

async fn server(backend: &str) -> Option<Server> {
    match backend {
        "sqlite" => Some(Server::start(None).await),
        _ => {
            let url = common::postgres_url()?;
            let schema = format!("e2e_{}", uuid::Uuid::new_v4().simple());
            let data = tempfile::tempdir().unwrap();
            Some(
                Server::start_in(data, Some(url), move |s| {
                    s.database_schema = Some(schema);
                })
                .await,
            )
        }
    }
}

async fn queue(s: &Server, udid: &str, body: serde_json::Value) -> String {
    let (status, resp) = s
        .api(
            "POST",
            &format!("/api/v1/devices/{udid}/commands"),
            Some(body),
        )
        .await;
    assert_eq!(status, 201, "{resp}");
    resp["command_uuid"].as_str().unwrap().to_owned()
}

fn info_payload(d: &Device) -> pippin_plist::Dictionary {
    DeviceInformationResult {
        query_responses: QueryResponses {
            udid: Some(d.udid.clone()),
            serial_number: Some(d.serial.clone()),
            model: Some("MacBookPro18,3".into()),
            model_name: Some("MacBook Pro".into()),
            os_version: Some("14.6".into()),
            build_version: Some("23G80".into()),
            device_name: Some("Finance Laptop".into()),
            ..QueryResponses::default()
        },
        extra: Default::default(),
    }
    .to_payload()
}

async fn enroll_and_inventory(backend: &str) {
    let Some(s) = server(backend).await else {
        return;
    };
    let d = Device::enroll(&s, 1).await;

    // Listed, enrolled, with the facts from Authenticate.
    let (st, list) = s.api("GET", "/api/v1/devices", None).await;
    assert_eq!(st, 200);
    assert_eq!(list["devices"].as_array().unwrap().len(), 1);
    assert_eq!(list["devices"][0]["udid"], d.udid.as_str());
    assert_eq!(list["devices"][0]["enrolled"], true);
    assert_eq!(list["devices"][0]["serial_number"], d.serial.as_str());

    // Queue DeviceInformation; the device gets it on Idle.
    let uuid = queue(&s, &d.udid, json!({"request_type": "DeviceInformation", "Queries": ["UDID", "SerialNumber", "OSVersion"]})).await;
    let (st, cmd) = s
        .api("GET", &format!("/api/v1/commands/{uuid}"), None)
        .await;
    assert_eq!(st, 200);
    assert_eq!(cmd["status"], "queued");
    assert_eq!(cmd["request_type"], "DeviceInformation");

    let (st, body) = d.idle().await;
    assert_eq!(st, 200);
    let c = Command::decode(&body).expect("the answer to Idle is a command");
    assert_eq!(c.command_uuid, uuid);
    assert_eq!(c.request_type(), "DeviceInformation");

    // Acknowledge with inventory; the queue is then empty.
    let report = CommandReport::answer(
        d.identity.clone(),
        uuid.clone(),
        Status::Acknowledged,
        info_payload(&d),
    );
    let (st, body) = d.connect(report.to_xml()).await;
    assert_eq!(st, 200);
    assert!(body.is_empty(), "nothing else queued");

    let (_, cmd) = s
        .api("GET", &format!("/api/v1/commands/{uuid}"), None)
        .await;
    assert_eq!(cmd["status"], "acknowledged");
    assert_eq!(cmd["result"]["QueryResponses"]["OSVersion"], "14.6");
    assert_eq!(cmd["targets"][0]["deliveries"], 1);

    // Installed apps too.
    let apps_uuid = queue(
        &s,
        &d.udid,
        json!({"request_type": "InstalledApplicationList"}),
    )
    .await;
    let (_, body) = d.idle().await;
    assert_eq!(Command::decode(&body).unwrap().command_uuid, apps_uuid);
    let apps = InstalledApplicationListResult {
        applications: vec![InstalledApplication {
            identifier: Some("com.microsoft.Word".into()),
            name: Some("Microsoft Word".into()),
            short_version: Some("16.86".into()),
            ..InstalledApplication::default()
        }],
        extra: Default::default(),
    };
    let (st, _) = d
        .connect(
            CommandReport::answer(
                d.identity.clone(),
                apps_uuid,
                Status::Acknowledged,
                apps.to_payload(),
            )
            .to_xml(),
        )
        .await;
    assert_eq!(st, 200);

    let (st, dev) = s
        .api("GET", &format!("/api/v1/devices/{}", d.udid), None)
        .await;
    assert_eq!(st, 200, "{dev}");
    assert_eq!(dev["os_version"], "14.6");
    assert_eq!(dev["device_name"], "Finance Laptop");
    assert!(dev["last_seen_at"].as_i64().unwrap() > 0);
    assert_eq!(
        dev["installed_applications"][0]["Identifier"],
        "com.microsoft.Word"
    );
    assert_eq!(dev["installed_applications"][0]["ShortVersion"], "16.86");
    assert_eq!(
        dev["inventory"]["DeviceInformation"]["data"]["SerialNumber"],
        d.serial.as_str()
    );
    // Queuing pushed the device (recorded: no APNs certificate in tests).
    assert_eq!(dev["last_push"]["status"], "recorded");
    assert_eq!(dev["queue_depth"], 0);

    // The audit log names who queued what.
    let (_, audit) = s.api("GET", "/api/v1/audit", None).await;
    let entries = audit["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["actor"], "administrator");
    assert_eq!(entries[0]["action"], "queue_command");
    assert_eq!(entries[0]["target"], d.udid.as_str());
    s.stop().await;
}

async fn not_now_then_idle(backend: &str) {
    let Some(s) = server(backend).await else {
        return;
    };
    let d = Device::enroll(&s, 2).await;
    let a = queue(&s, &d.udid, json!({"request_type": "SecurityInfo"})).await;
    let b = queue(&s, &d.udid, json!({"request_type": "ProfileList"})).await;

    let (_, body) = d.idle().await;
    assert_eq!(Command::decode(&body).unwrap().command_uuid, a);
    // NotNow: a is set aside, b comes next.
    let nn = CommandReport::answer(
        d.identity.clone(),
        a.clone(),
        Status::NotNow,
        Default::default(),
    );
    let (_, body) = d.connect(nn.to_xml()).await;
    assert_eq!(Command::decode(&body).unwrap().command_uuid, b);
    let nn = CommandReport::answer(
        d.identity.clone(),
        b.clone(),
        Status::NotNow,
        Default::default(),
    );
    let (st, body) = d.connect(nn.to_xml()).await;
    assert_eq!(st, 200);
    assert!(body.is_empty(), "both set aside until the next Idle");

    // The next Idle redelivers, oldest first.
    let (_, body) = d.idle().await;
    assert_eq!(Command::decode(&body).unwrap().command_uuid, a);
    let (_, cmd) = s.api("GET", &format!("/api/v1/commands/{a}"), None).await;
    assert_eq!(cmd["targets"][0]["deliveries"], 2);
    assert_eq!(cmd["targets"][0]["not_now_count"], 1);

    // An Error completes it, with the chain stored.
    let mut err = CommandReport::answer(
        d.identity.clone(),
        a.clone(),
        Status::Error,
        Default::default(),
    );
    err.error_chain
        .push(apple_mdm_protocol::report::ErrorChainItem {
            error_code: Some(12021),
            error_domain: Some("MCMDMErrorDomain".into()),
            us_english_description: Some("Busy".into()),
            ..Default::default()
        });
    let (_, body) = d.connect(err.to_xml()).await;
    assert_eq!(Command::decode(&body).unwrap().command_uuid, b);
    let (_, cmd) = s.api("GET", &format!("/api/v1/commands/{a}"), None).await;
    assert_eq!(cmd["status"], "error");
    assert_eq!(cmd["result"]["ErrorChain"][0]["ErrorCode"], 12021);

    // Cancel b while it is out: the late answer changes nothing.
    let (st, c) = s
        .api("DELETE", &format!("/api/v1/commands/{b}"), None)
        .await;
    assert_eq!(st, 200, "{c}");
    assert_eq!(c["cancelled"], 1);
    let (st, _) = s
        .api("DELETE", &format!("/api/v1/commands/{b}"), None)
        .await;
    assert_eq!(st, 409);
    let late = CommandReport::answer(
        d.identity.clone(),
        b.clone(),
        Status::Acknowledged,
        Default::default(),
    );
    let (st, body) = d.connect(late.to_xml()).await;
    assert_eq!(st, 200);
    assert!(body.is_empty());
    let (_, cmd) = s.api("GET", &format!("/api/v1/commands/{b}"), None).await;
    assert_eq!(cmd["status"], "cancelled");
    s.stop().await;
}

async fn identities_are_checked(backend: &str) {
    let Some(s) = server(backend).await else {
        return;
    };
    let d1 = Device::enroll(&s, 3).await;
    let d2 = Device::enroll(&s, 4).await;

    // d2's certificate presenting itself as d1: refused, 401.
    let forged = CommandReport::idle(d1.identity.clone()).to_xml();
    let (st, _) = d2.connect(forged).await;
    assert_eq!(st, 401);

    // A valid SCEP identity that never sent Authenticate: unknown device.
    let (cert, key, _, _) = common::scep_identity(&s, "stranger").await;
    let stranger = s.client(Some((&cert, &key)));
    let body = CommandReport::idle(apple_mdm_protocol::Identity::device("NEVER-SEEN")).to_xml();
    let (st, _) = stranger.request("PUT", "/mdm/connect", &[], body).await;
    assert_eq!(st, 401);

    // No client certificate at all.
    let anon = s.client(None);
    let (st, _) = anon
        .request(
            "PUT",
            "/mdm/connect",
            &[],
            CommandReport::idle(d1.identity.clone()).to_xml(),
        )
        .await;
    assert_eq!(st, 401);

    // A certificate from another CA does not get through the handshake.
    let other = pippin_service::generate_ca("Other CA", std::time::SystemTime::now()).unwrap();
    let leaf = pippin_service::issue_client_cert(&other, "intruder", std::time::SystemTime::now())
        .unwrap();
    let intruder = s.client(Some((&leaf.cert_pem, leaf.key_pem.expose())));
    let idle1 = CommandReport::idle(d1.identity.clone()).to_xml();
    let r = tokio::spawn(async move { intruder.request("PUT", "/mdm/connect", &[], idle1).await })
        .await;
    assert!(
        r.is_err() || r.as_ref().is_ok_and(|(st, _)| *st == 401),
        "intruder got {r:?}"
    );

    // A second Authenticate from an enrolled device with another certificate is refused.
    let (cert, key, _, _) = common::scep_identity(&s, "d2-again").await;
    let again = s.client(Some((&cert, &key)));
    let (st, _) = again
        .request("PUT", "/mdm/checkin", &[], d2.authenticate())
        .await;
    assert_eq!(st, 401);

    // After CheckOut the device is refused, and may enroll anew.
    let checkout = apple_mdm_protocol::CheckIn {
        identity: d2.identity.clone(),
        topic: Some(d2.topic.clone()),
        message: apple_mdm_protocol::CheckInMessage::CheckOut,
        extra: Default::default(),
    };
    let (st, _) = d2.checkin(checkout.to_xml()).await;
    assert_eq!(st, 200);
    let (st, _) = d2.idle().await;
    assert_eq!(st, 401);
    let (st, _) = again
        .request("PUT", "/mdm/checkin", &[], d2.authenticate())
        .await;
    assert_eq!(st, 200, "re-enrollment after check-out");
    let (st, _) = again
        .request("PUT", "/mdm/checkin", &[], d2.token_update())
        .await;
    assert_eq!(st, 200);

    // An erased device comes back with a new identity.
    let erase = queue(&s, &d1.udid, json!({"request_type": "EraseDevice"})).await;
    let (_, body) = d1.idle().await;
    assert_eq!(Command::decode(&body).unwrap().command_uuid, erase);
    let ack = CommandReport::answer(
        d1.identity.clone(),
        erase,
        Status::Acknowledged,
        Default::default(),
    );
    let (st, _) = d1.connect(ack.to_xml()).await;
    assert_eq!(st, 200);
    let (cert, key, _, _) = common::scep_identity(&s, "d1-after-erase").await;
    let reborn = s.client(Some((&cert, &key)));
    let (st, _) = reborn
        .request("PUT", "/mdm/checkin", &[], d1.authenticate())
        .await;
    assert_eq!(st, 200, "re-enrollment after erase");

    // An administrator can release a device that went away without either.
    let (cert, key, _, _) = common::scep_identity(&s, "d2-third").await;
    let third = s.client(Some((&cert, &key)));
    let (st, _) = third
        .request("PUT", "/mdm/checkin", &[], d2.authenticate())
        .await;
    assert_eq!(st, 401, "still bound to the second identity");
    let (st, r) = s
        .api(
            "POST",
            &format!("/api/v1/devices/{}/unenroll", d2.udid),
            None,
        )
        .await;
    assert_eq!(st, 200, "{r}");
    let (st, _) = third
        .request("PUT", "/mdm/checkin", &[], d2.authenticate())
        .await;
    assert_eq!(st, 200, "re-enrollment after unenroll");
    s.stop().await;
}

async fn bad_input_is_refused_and_nothing_lost(backend: &str) {
    let Some(s) = server(backend).await else {
        return;
    };
    let d = Device::enroll(&s, 5).await;
    let uuid = queue(&s, &d.udid, json!({"request_type": "CertificateList"})).await;

    for body in [
        b"not a plist".to_vec(),
        b"<?xml version=\"1.0\"?><plist><dict><key>Status</key>".to_vec(),
        b"bplist00\x00\x01".to_vec(),
        b"<plist><dict><key>Status</key><string>Idle</string></dict></plist>".to_vec(),
        "<plist><array>".repeat(200).into_bytes(),
    ] {
        let (st, _) = d.connect(body).await;
        assert_eq!(st, 400);
    }
    // The queued command and the enrollment are intact.
    let (_, body) = d.idle().await;
    assert_eq!(Command::decode(&body).unwrap().command_uuid, uuid);
    let (_, dev) = s
        .api("GET", &format!("/api/v1/devices/{}", d.udid), None)
        .await;
    assert_eq!(dev["enrolled"], true);

    // Admin API: authentication and input checks.
    let c = s.client(None);
    let (st, _) = c.request("GET", "/api/v1/devices", &[], Vec::new()).await;
    assert_eq!(st, 401);
    let (st, _) = c
        .request(
            "GET",
            "/api/v1/devices",
            &[("authorization", "Bearer wrong-token".into())],
            Vec::new(),
        )
        .await;
    assert_eq!(st, 401);
    let (st, e) = s
        .api(
            "POST",
            &format!("/api/v1/devices/{}/commands", d.udid),
            Some(json!({"request_type": "DeviceLock", "PIN": 123456})),
        )
        .await;
    assert_eq!(st, 400, "{e}");
    assert!(e["error"].as_str().unwrap().contains("PIN"), "{e}");
    let (st, e) = s
        .api(
            "POST",
            "/api/v1/devices/NO-SUCH-DEVICE/commands",
            Some(json!({"request_type": "DeviceInformation"})),
        )
        .await;
    assert_eq!(st, 404, "{e}");
    let (st, _) = s.api("GET", "/api/v1/commands/no-such-command", None).await;
    assert_eq!(st, 404);
    s.stop().await;
}

macro_rules! both {
    ($scenario:ident, $sqlite:ident, $pg:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $sqlite() {
            $scenario("sqlite").await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $pg() {
            $scenario("postgres").await;
        }
    };
}

both!(
    enroll_and_inventory,
    enroll_and_inventory_sqlite,
    enroll_and_inventory_postgres
);
both!(
    not_now_then_idle,
    not_now_then_idle_sqlite,
    not_now_then_idle_postgres
);
both!(
    identities_are_checked,
    identities_are_checked_sqlite,
    identities_are_checked_postgres
);
both!(
    bad_input_is_refused_and_nothing_lost,
    bad_input_sqlite,
    bad_input_postgres
);

/// Behind a TLS-terminating proxy no client certificate arrives; with
/// `trust_mdm_signature` the verified `Mdm-Signature` header identifies the
/// device instead, and a bad or missing one is refused.
async fn mdm_signature_identity(backend: &str) {
    let Some(s) = server_with(backend, |st| st.trust_mdm_signature = true).await else {
        return;
    };
    let d = Device::enroll(&s, 6).await;
    let uuid = queue(&s, &d.udid, json!({"request_type": "ProfileList"})).await;
    let signer = apple_mdm_protocol::signature::SigningIdentity::from_pem(
        d.cert_pem.as_bytes(),
        d.key_pem.as_bytes(),
    )
    .unwrap();
    let anon = s.client(None);
    let body = CommandReport::idle(d.identity.clone()).to_xml();
    let header = signer.mdm_signature_header(&body).unwrap();
    let (st, resp) = anon
        .request(
            "PUT",
            "/mdm/connect",
            &[("mdm-signature", header.clone())],
            body.clone(),
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(Command::decode(&resp).unwrap().command_uuid, uuid);

    // The signature covers the exact body: another body with it is refused.
    let other = CommandReport::answer(
        d.identity.clone(),
        uuid,
        Status::Acknowledged,
        Default::default(),
    )
    .to_xml();
    let (st, _) = anon
        .request("PUT", "/mdm/connect", &[("mdm-signature", header)], other)
        .await;
    assert_eq!(st, 401);
    let (st, _) = anon
        .request(
            "PUT",
            "/mdm/connect",
            &[("mdm-signature", "bm90IGNtcw==".into())],
            body,
        )
        .await;
    assert_eq!(st, 401);
    s.stop().await;
}

async fn server_with(
    backend: &str,
    tweak: impl FnOnce(&mut cm_proxy::config::Settings) + Send + 'static,
) -> Option<Server> {
    let data = tempfile::tempdir().unwrap();
    match backend {
        "sqlite" => Some(Server::start_in(data, None, tweak).await),
        _ => {
            let url = common::postgres_url()?;
            let schema = format!("e2e_{}", uuid::Uuid::new_v4().simple());
            Some(
                Server::start_in(data, Some(url), move |s| {
                    s.database_schema = Some(schema);
                    tweak(s);
                })
                .await,
            )
        }
    }
}

both!(
    mdm_signature_identity,
    mdm_signature_sqlite,
    mdm_signature_postgres
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_describes_the_routes() {
    let s = Server::start(None).await;
    let c = s.client(None);
    let (st, body) = c
        .request("GET", "/api/v1/openapi.json", &[], Vec::new())
        .await;
    assert_eq!(st, 200);
    let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(doc["openapi"], "3.0.3");
    let paths: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for p in [
        "/devices",
        "/devices/{udid}",
        "/devices/{udid}/commands",
        "/devices/{udid}/push",
        "/devices/{udid}/unenroll",
        "/commands/{uuid}",
        "/pushcert",
        "/dep/links",
        "/dep/devices",
        "/vpp/tokens",
        "/vpp/tokens/{name}",
        "/vpp/assets",
        "/vpp/assignments",
        "/vpp/assignments/remove",
        "/audit",
        "/software-updates/publications",
        "/software-updates/publications/latest",
        "/openapi.json",
    ] {
        assert!(paths.contains(&p), "{p} missing from the OpenAPI document");
    }
    // Every documented path answers (401 without a token, not 404).
    for p in &paths {
        let concrete = p
            .replace("{udid}", "X")
            .replace("{uuid}", "Y")
            .replace("{name}", "main")
            .replace("{serial}", "S");
        let method = if p.ends_with("/commands")
            || p.ends_with("/push")
            || p.ends_with("/unenroll")
            || p.ends_with("/sync")
            || p.ends_with("/assign")
            || p.ends_with("/remove")
        {
            "POST"
        } else {
            "GET"
        };
        let (st, _) = c
            .request(method, &format!("/api/v1{concrete}"), &[], Vec::new())
            .await;
        assert!(
            st == 401 || (*p == "/openapi.json" && st == 200),
            "{method} {p}: {st}"
        );
    }
    s.stop().await;
}

/// SCEP renewal: the device asks for a new certificate with a `RenewalReq`
/// signed by its current one (no challenge); the first request with the new
/// certificate re-binds the enrollment, and the old certificate is refused
/// from then on.
async fn renewal_rebinds(backend: &str) {
    use scep::client::Requester;
    use scep::rsa::pkcs8::DecodePrivateKey;
    use scep::{ContentEncryption, MessageType, Nonce, TransactionId};

    let Some(s) = server(backend).await else {
        return;
    };
    let d = Device::enroll(&s, 7).await;
    let anon = s.client(None);
    let (_, ca) = anon
        .request("GET", "/scep?operation=GetCACert", &[], Vec::new())
        .await;
    let mut rng = common::rng();
    let key = scep::rsa::PrivateKey::from_pkcs8_pem(&d.key_pem).unwrap();
    let req = Requester::new(d.cert_der.clone(), key).unwrap();
    let subject = format!("CN={}", d.udid);
    let csr = req.certification_request(&subject, None, &mut rng).unwrap();
    let msg = req
        .request(
            MessageType::RenewalReq,
            &csr,
            &ca,
            ContentEncryption::Aes256Cbc,
            &TransactionId::new("renewal-7").unwrap(),
            Nonce::random(&mut rng),
            std::time::SystemTime::now(),
            &mut rng,
        )
        .unwrap();
    let (st, rep) = anon
        .request("POST", "/scep?operation=PKIOperation", &[], msg)
        .await;
    assert_eq!(st, 200);
    let rep = req.read_cert_rep(&rep, &mut rng).unwrap();
    assert!(
        !rep.certificates.is_empty(),
        "renewal refused: {:?}",
        rep.attributes
    );
    let new_pem = der::pem::encode_string(
        "CERTIFICATE",
        der::pem::LineEnding::LF,
        &rep.certificates[0],
    )
    .unwrap();
    let renewed = s.client(Some((&new_pem, &d.key_pem)));

    let (st, _) = renewed
        .request(
            "PUT",
            "/mdm/connect",
            &[],
            CommandReport::idle(d.identity.clone()).to_xml(),
        )
        .await;
    assert_eq!(st, 200, "the renewed certificate is accepted and re-bound");
    let (_, dev) = s
        .api("GET", &format!("/api/v1/devices/{}", d.udid), None)
        .await;
    assert_eq!(
        dev["identity_sha256"],
        hex::encode(pippin_service::cert_sha256(&rep.certificates[0]))
    );
    let (st, _) = d.idle().await;
    assert_eq!(st, 401, "the replaced certificate no longer works");
    s.stop().await;
}

both!(
    renewal_rebinds,
    renewal_rebinds_sqlite,
    renewal_rebinds_postgres
);
