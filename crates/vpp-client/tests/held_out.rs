//! Real Apps and Books data from other projects (a published test token,
//! notifications and client configuration answers Apple sent to another
//! MDM server, fake-server bodies of another client's tests), read from
//! the shared reference folder beside the checkout when it is there. The
//! project's own tests do not need it; without it these print SKIPPED.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use vpp_client::{
    Api, Associate, Config, ContentToken, GetAssets, GetClientConfig, Notification,
    NotificationBody, codes,
};

fn folder() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/apple-services/vpp");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "\n*** SKIPPED: shared Apps and Books fixtures not found at {} ***\n",
            dir.display()
        );
        None
    }
}

fn read(dir: &std::path::Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn api() -> Api {
    let file =
        "eyJ0b2tlbiI6InQiLCJleHBEYXRlIjoiMjA5OS0wMS0wMVQwMDowMDowMCswMDAwIiwib3JnTmFtZSI6IkYifQ==";
    let mut c = Config::default();
    c.mdm_id("29dd58b6-93fe-4791-a660-96d7339c9f54");
    Api::new(ContentToken::parse(file.as_bytes()).unwrap(), Arc::new(c)).unwrap()
}

fn resp(status: u16, body: &[u8]) -> http::Response<&[u8]> {
    http::Response::builder().status(status).body(body).unwrap()
}

#[test]
fn published_test_token() {
    let Some(dir) = folder() else { return };
    let t = ContentToken::parse(&read(
        &dir,
        "token/apple-mdm-client-tests-stoken-1.vpptoken",
    ))
    .unwrap();
    let expected: serde_json::Value =
        serde_json::from_slice(&read(&dir, "token/expected-decoded.json")).unwrap();
    assert_eq!(t.org_name, expected["orgName"]);
    assert_eq!(t.exp_date, expected["expDate"]);
    // 2020-12-31T13:57:19+02:00
    assert_eq!(t.expiry, UNIX_EPOCH + Duration::from_secs(1_609_415_839));
    assert!(
        t.check_expiry(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
            .is_err()
    );
}

#[test]
fn notifications_apple_sent() {
    let Some(dir) = folder() else { return };
    let n = Notification::parse(&read(
        &dir,
        "zentral/server_token_asset_count_notification.json",
    ))
    .unwrap();
    assert_eq!(n.notification_id, "526276ce-965a-4d94-b278-b3401ba86f6a");
    assert!(
        matches!(n.body, NotificationBody::AssetCount(ref c) if c.adam_id == "361304891" && c.count_delta == 1)
    );
    for (file, kind, event) in [
        (
            "zentral/server_token_associate_success_notification.json",
            "ASSOCIATE",
            "1451d195-7818-44cc-844e-efd2557084c4",
        ),
        (
            "zentral/server_token_disassociate_success_notification.json",
            "DISASSOCIATE",
            "ee9eaa43-e6d1-4bcd-9452-b77cb664f60f",
        ),
    ] {
        let n = Notification::parse(&read(&dir, file)).unwrap();
        let NotificationBody::AssetManagement(m) = n.body else {
            panic!("{file}")
        };
        assert!(m.succeeded());
        assert_eq!(m.kind, kind);
        assert_eq!(m.event_id.as_deref(), Some(event));
        assert_eq!(
            m.assignments[0].serial_number.as_deref(),
            Some("C02000000000")
        );
        assert_eq!(m.assignments[0].adam_id, "409203825");
    }
    let n =
        Notification::parse(&read(&dir, "zentral/server_token_test_notification.json")).unwrap();
    assert_eq!(n.body, NotificationBody::Test);
    assert_eq!(n.u_id.as_deref(), Some("981060278089131045"));
}

#[test]
fn answers_apple_and_fake_servers_gave() {
    let Some(dir) = folder() else { return };
    let a = api();
    let c = a
        .handle_response(
            &GetClientConfig,
            &resp(
                200,
                &read(&dir, "zentral/server_token_client_config_response.json"),
            ),
        )
        .unwrap();
    assert_eq!(c.country_iso2a_code.as_deref(), Some("DE"));
    assert_eq!(c.mdm_info.unwrap().name, "Zentral");
    assert_eq!(
        c.subscribed_notification_types,
        vec!["ASSET_COUNT", "ASSET_MANAGEMENT"]
    );
    assert_eq!(
        c.token_expiration_date.as_deref(),
        Some("2023-09-26T08:30:39+0000")
    );
    let c = a
        .handle_response(
            &GetClientConfig,
            &resp(200, &read(&dir, "fleet/client_config_ok.json")),
        )
        .unwrap();
    assert_eq!(c.location_name.as_deref(), Some("Test Location"));
    let e = a
        .handle_response(
            &Associate::default(),
            &resp(200, &read(&dir, "fleet/associate_event_response.json")),
        )
        .unwrap();
    assert_eq!(e.event_id, "123");
    for status in [200, 401] {
        let err = a
            .handle_response(
                &GetAssets::default(),
                &resp(status, &read(&dir, "fleet/error_invalid_token_9622.json")),
            )
            .unwrap_err();
        assert!(err.api().unwrap().is(codes::INVALID_TOKEN), "{err}");
    }
    let err = a
        .handle_response(
            &GetAssets::default(),
            &resp(400, &read(&dir, "fleet/error_bad_request_400.json")),
        )
        .unwrap_err();
    assert_eq!(err.api().unwrap().message.as_deref(), Some("Bad Request"));
}
