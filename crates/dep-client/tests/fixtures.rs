//! Parsing the DEP API's answers from fixtures written after Apple's
//! documented schemas (`tests/fixtures/`), through the same path a client
//! takes: `Session::handle_response` with the endpoint. Unknown keys are
//! kept, and writing a parsed value back gives the same JSON.

use std::sync::Arc;

use dep_client::{
    ActivationLock, ActivationLockRequest, AssignProfile, Config, DefineProfile, DeviceDetails,
    DeviceStatus, DisownDevices, Endpoint, Error, ErrorCode, FetchDevices, GetAccount, GetProfile,
    OAuthCredentials, OpType, Profile, ProfileStatus, RemoveProfile, Reply, Session, SyncDevices,
};

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!("fixtures/", $name))
    };
}

fn session() -> Session {
    let creds = OAuthCredentials {
        consumer_key: "CK".into(),
        consumer_secret: "CS".into(),
        access_token: "AT".into(),
        access_secret: "AS".into(),
    };
    let mut s = Session::new(creds, Arc::new(Config::default())).unwrap();
    let login = http::Response::builder()
        .status(200)
        .body(&fixture!("dep-session-200.json")[..])
        .unwrap();
    s.handle_auth_response(&login).unwrap();
    assert_eq!(s.auth_token(), Some("1a2b3c4d-0001-4e5f-8a9b-0c1d2e3f4a5b"));
    s
}

fn answer<E: Endpoint>(endpoint: &E, status: u16, body: &[u8]) -> dep_client::Result<E::Output> {
    let response = http::Response::builder().status(status).body(body).unwrap();
    match session().handle_response(endpoint, &response)? {
        Reply::Done(v) => Ok(v),
        Reply::Reauthenticate(e) => Err(Error::Api(e)),
    }
}

/// Writing `value` back gives the fixture's JSON.
fn same_json<T: serde::Serialize>(value: &T, fixture: &[u8]) {
    let ours = serde_json::to_value(value).unwrap();
    let theirs: serde_json::Value = serde_json::from_slice(fixture).unwrap();
    assert_eq!(ours, theirs);
}

#[test]
fn account() {
    let body = fixture!("dep-account-200.json");
    let a = answer(&GetAccount, 200, body).unwrap();
    assert_eq!(a.org_name.as_deref(), Some("Example School District"));
    assert_eq!(a.org_type.as_deref(), Some("edu"));
    assert_eq!(a.urls.len(), 4);
    assert_eq!(a.urls[1].limit.unwrap().maximum, Some(1000));
    assert!(a.extra.contains_key("org_new_feature"), "unknown keys kept");
    same_json(&a, body);
}

#[test]
fn fetch_page() {
    let body = fixture!("dep-fetch-devices-200.json");
    let page = answer(&FetchDevices::new(None, 100), 200, body).unwrap();
    assert!(page.more_to_follow);
    assert_eq!(page.devices.len(), 3);
    assert_eq!(page.fetched_until.as_deref(), Some("2025-03-06T12:00:00Z"));
    let d = &page.devices[1];
    assert_eq!(d.serial_number, "DMPZX0BBQ1GC");
    assert_eq!(d.profile_status, Some(ProfileStatus::Assigned));
    assert_eq!(d.asset_tag.as_deref(), Some("SCH-00042"));
    assert_eq!(page.devices[2].profile_status, Some(ProfileStatus::Pushed));
    assert_eq!(
        page.devices[2].extra["purchase_channel"],
        serde_json::json!("reseller")
    );
    assert!(page.devices.iter().all(|d| d.op_type.is_none()));
    same_json(&page, body);
}

#[test]
fn sync_page() {
    let body = fixture!("dep-sync-devices-200.json");
    let page = answer(&SyncDevices::new("c", 100), 200, body).unwrap();
    assert!(!page.more_to_follow);
    let ops: Vec<_> = page.devices.iter().map(|d| d.op_type.clone()).collect();
    assert_eq!(
        ops,
        [
            Some(OpType::Added),
            Some(OpType::Modified),
            Some(OpType::Deleted)
        ]
    );
    assert_eq!(page.devices[1].profile_status, Some(ProfileStatus::Removed));
    assert_eq!(
        page.devices[2].op_date.as_deref(),
        Some("2025-03-07T16:45:00Z")
    );
    same_json(&page, body);
}

#[test]
fn device_details() {
    let body = fixture!("dep-device-details-200.json");
    let req = DeviceDetails {
        devices: vec!["F4KZX0CCN72J".into(), "XXXXXXXXXXXX".into()],
    };
    let d = answer(&req, 200, body).unwrap();
    assert_eq!(
        d.devices["F4KZX0CCN72J"].response_status,
        Some(DeviceStatus::Success)
    );
    assert_eq!(
        d.devices["XXXXXXXXXXXX"].response_status,
        Some(DeviceStatus::NotAccessible)
    );
    same_json(&d, body);
}

#[test]
fn profiles() {
    let request = fixture!("dep-define-profile-request.json");
    let profile: Profile = serde_json::from_slice(request).unwrap();
    assert_eq!(profile.skip_setup_items.len(), 4);
    assert_eq!(profile.extra["is_return_to_service"], false);
    let define = DefineProfile { profile };
    // The body sent is the profile as written.
    let sent: serde_json::Value = serde_json::from_slice(&define.body().unwrap().unwrap()).unwrap();
    assert_eq!(
        sent,
        serde_json::from_slice::<serde_json::Value>(request).unwrap()
    );
    let defined = answer(&define, 200, fixture!("dep-define-profile-200.json")).unwrap();
    assert_eq!(defined.profile_uuid, "3F2504E04F8911D39A0C0305E82C3301");
    assert_eq!(defined.devices["DMPZX0BBQ1GC"], DeviceStatus::NotAccessible);

    let body = fixture!("dep-get-profile-200.json");
    let get = GetProfile {
        profile_uuid: defined.profile_uuid.clone(),
    };
    let p = answer(&get, 200, body).unwrap();
    assert_eq!(
        p.profile_uuid.as_deref(),
        Some(defined.profile_uuid.as_str())
    );
    assert_eq!(p.is_mdm_removable, Some(false));
    same_json(&p, body);

    let assign = AssignProfile {
        profile_uuid: defined.profile_uuid,
        devices: vec!["C02ZX0AAMD6T".into()],
    };
    let a = answer(
        &assign,
        200,
        fixture!("dep-assign-profile-200-throttled.json"),
    )
    .unwrap();
    assert_eq!(a.with_status(&DeviceStatus::Throttled), ["DMPZX0BBQ1GC"]);
    assert_eq!(a.with_status(&DeviceStatus::Failed), ["F4KZX0CCN72J"]);
    assert_eq!(a.retry_after_seconds, Some(120));

    let remove = RemoveProfile {
        devices: vec!["C02ZX0AAMD6T".into()],
        profile_uuid: None,
    };
    let r = answer(&remove, 200, fixture!("dep-remove-profile-200.json")).unwrap();
    assert_eq!(r.devices["C02ZX0AAMD6T"], DeviceStatus::Success);
}

#[test]
fn disown_and_activation_lock() {
    let disown = DisownDevices {
        devices: vec!["G6TZX0DDHG7F".into()],
    };
    let d = answer(&disown, 200, fixture!("dep-disown-devices-200.json")).unwrap();
    assert_eq!(d.devices["G6TZX0DDHG7F"], DeviceStatus::Success);
    let lock = ActivationLock {
        request: ActivationLockRequest {
            device: "F4KZX0CCN72J".into(),
            escrow_key: None,
            lost_message: Some("Please call +1 555 0100".into()),
        },
    };
    let l = answer(&lock, 200, fixture!("dep-activation-lock-200.json")).unwrap();
    assert_eq!(l.response_status, "DEVICE_ALREADY_LOCKED");
}

#[test]
fn error_bodies() {
    let e = answer(
        &SyncDevices::new("c", 1),
        400,
        fixture!("dep-sync-devices-400-expired-cursor.txt"),
    )
    .unwrap_err();
    assert_eq!(e.api().unwrap().code, Some(ErrorCode::ExpiredCursor));
    let e = answer(
        &FetchDevices::new(Some("c".into()), 1),
        400,
        fixture!("dep-fetch-devices-400-invalid-cursor.json"),
    )
    .unwrap_err();
    assert_eq!(e.api().unwrap().code, Some(ErrorCode::InvalidCursor));
    assert_eq!(
        e.api().unwrap().message.as_deref(),
        Some("Cursor is not valid")
    );
    let mut s = session();
    let refused = http::Response::builder()
        .status(403)
        .body(&fixture!("dep-session-403-t-c-not-signed.txt")[..])
        .unwrap();
    let e = s.handle_auth_response(&refused).unwrap_err();
    assert_eq!(e.api().unwrap().code, Some(ErrorCode::TermsNotSigned));
    // A success body that is not the endpoint's JSON is an error, not a panic.
    assert!(matches!(
        answer(&GetAccount, 200, b"<html>"),
        Err(Error::InvalidResponse { .. })
    ));
}

/// Apple's and other projects' samples in `../shared/fixtures`, when that
/// folder is there.
#[test]
fn shared_fixtures() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/apple-services/dep");
    if !dir.is_dir() {
        eprintln!("shared fixtures not present at {}; skipping", dir.display());
        return;
    }
    let read = |n: &str| std::fs::read(dir.join(n)).unwrap();
    let a = answer(&GetAccount, 200, &read("micromdm/account_response.json")).unwrap();
    assert!(a.urls.iter().any(|u| u.uri == "/server/devices"));
    let page = answer(
        &FetchDevices::new(None, 100),
        200,
        &read("micromdm/device_response.json"),
    )
    .unwrap();
    assert_eq!(page.devices.len(), 1);
    let empty = answer(
        &SyncDevices::new("c", 100),
        200,
        &read("micromdm/empty_sync_response.json"),
    )
    .unwrap();
    assert!(empty.devices.is_empty());
    let details = answer(
        &DeviceDetails {
            devices: vec!["x".into()],
        },
        200,
        &read("micromdm/device_details_response.json"),
    )
    .unwrap();
    assert_eq!(details.devices.len(), 1);
    let get = GetProfile {
        profile_uuid: "x".into(),
    };
    let p = answer(&get, 200, &read("micromdm/fetch_profile_response.json")).unwrap();
    assert!(p.profile_uuid.is_some());
    let example: Profile =
        serde_json::from_slice(&read("nanodep/dep-profile.example.json")).unwrap();
    assert_eq!(example.devices.len(), 2);
}
