//! The client against the simulator, end to end over loopback: sign-in,
//! session expiry and restarts, throttling, cursor expiry, fetch and sync
//! of devices, profiles, and the hard errors.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use dep_client::client::{ClientConfig, DepClient};
use dep_client::simulator::{AssignFailure, ErrorStyle, Simulator, SimulatorConfig};
use dep_client::{
    ActivationLockRequest, Config, CursorState, DeviceStatus, Error, ErrorCode, OAuthParams,
    OpType, Phase, Profile, ProfileStatus, Session, SyncConfig, SyncEvent, SyncMachine,
};

async fn sim(config: &SimulatorConfig) -> Simulator {
    Simulator::start(config.clone()).await.unwrap()
}

fn client_for(sim: &Simulator) -> DepClient {
    client_with(sim, |_| {})
}

fn client_with(sim: &Simulator, f: impl FnOnce(&mut ClientConfig)) -> DepClient {
    let mut config = ClientConfig::default();
    config
        .base_url(sim.base_url())
        .request_timeout(Duration::from_secs(10));
    f(&mut config);
    DepClient::new(sim.credentials(), config).unwrap()
}

fn sync_config(limit: u32) -> SyncConfig {
    let mut c = SyncConfig::default();
    c.limit(limit)
        .retry_delays(Duration::from_millis(10), Duration::from_millis(200));
    c
}

/// Runs a pass and returns the devices by phase and the other events.
#[derive(Default)]
struct Pass {
    fetched: Vec<dep_client::Device>,
    synced: Vec<dep_client::Device>,
    cursors: Vec<CursorState>,
    fetch_complete: usize,
    resets: Vec<ErrorCode>,
    retries: usize,
}

async fn pass(client: &DepClient, machine: &mut SyncMachine) -> dep_client::Result<Pass> {
    let mut p = Pass::default();
    client
        .sync_all(machine, |event| match event {
            SyncEvent::Devices {
                phase: Phase::Fetch,
                devices,
            } => p.fetched.extend(devices),
            SyncEvent::Devices { devices, .. } => p.synced.extend(devices),
            SyncEvent::Cursor(c) => p.cursors.push(c),
            SyncEvent::FetchComplete => p.fetch_complete += 1,
            SyncEvent::CursorReset { code } => p.resets.push(code),
            SyncEvent::Retrying { .. } => p.retries += 1,
            _ => {}
        })
        .await?;
    Ok(p)
}

fn serials(devices: &[dep_client::Device]) -> BTreeSet<String> {
    devices.iter().map(|d| d.serial_number.clone()).collect()
}

#[tokio::test]
async fn fetch_then_sync_100_devices() {
    let sim = sim(SimulatorConfig::default().devices(100)).await;
    let client = client_for(&sim);
    let mut machine = SyncMachine::new(sync_config(30), CursorState::default(), Instant::now());
    let first = pass(&client, &mut machine).await.unwrap();
    assert_eq!(first.fetched.len(), 100);
    assert_eq!(
        serials(&first.fetched),
        sim.serials().into_iter().collect::<BTreeSet<_>>()
    );
    assert_eq!(first.fetch_complete, 1);
    // 4 fetch pages and one empty sync page, a cursor after each.
    assert_eq!(first.cursors.len(), 5);
    assert_eq!(machine.cursor().phase, Phase::Sync);
    assert!(first.fetched.iter().all(|d| d.model.is_some()
        && d.profile_status == Some(ProfileStatus::Empty)
        && d.op_type.is_none()));

    let added = sim.add_devices(5);
    assert!(sim.modify_device(&added[0], "TAG-1"));
    assert!(sim.modify_device(&first.fetched[3].serial_number, "TAG-2"));
    assert!(sim.delete_device(&first.fetched[7].serial_number));
    let second = pass(&client, &mut machine).await.unwrap();
    assert!(second.fetched.is_empty());
    let ops: Vec<(String, OpType)> = second
        .synced
        .iter()
        .map(|d| (d.serial_number.clone(), d.op_type.clone().unwrap()))
        .collect();
    assert_eq!(ops.len(), 8, "{ops:?}");
    assert_eq!(ops.iter().filter(|(_, o)| *o == OpType::Added).count(), 5);
    assert_eq!(
        ops[5],
        (added[0].clone(), OpType::Modified),
        "events in order"
    );
    assert_eq!(
        ops[7],
        (first.fetched[7].serial_number.clone(), OpType::Deleted)
    );
    assert!(second.synced.iter().all(|d| d.op_date.is_some()));
    assert_eq!(second.synced[5].asset_tag.as_deref(), Some("TAG-1"));

    // Every request carried the headers Apple requires; one sign-in.
    let log = sim.requests();
    assert!(
        log.iter()
            .all(|r| r.content_type.as_deref() == Some("application/json;charset=UTF8"))
    );
    assert!(
        log.iter()
            .all(|r| r.protocol_version.as_deref() == Some("10"))
    );
    assert!(log.iter().all(|r| {
        r.user_agent
            .as_deref()
            .is_some_and(|u| u.starts_with("pippin-dep/"))
    }));
    assert_eq!(sim.stats().sessions, 1);
    assert!(log.iter().all(|r| r.status == 200));
}

#[tokio::test]
async fn expired_session_signs_in_again() {
    let sim = sim(SimulatorConfig::default().session_ttl(Duration::from_secs(1))).await;
    let client = client_for(&sim);
    client.account().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let account = client.account().await.unwrap();
    assert_eq!(account.org_type.as_deref(), Some("org"));
    let stats = sim.stats();
    assert_eq!((stats.sessions, stats.unauthorized), (2, 1));
    // The same through expire_sessions.
    sim.expire_sessions();
    client.fetch_devices(None, 5).await.unwrap();
    assert_eq!(sim.stats().sessions, 3);
}

#[tokio::test]
async fn restart_gives_forbidden_then_recovers() {
    let sim = sim(&SimulatorConfig::default()).await;
    let client = client_for(&sim);
    client.account().await.unwrap();
    sim.restart();
    client.account().await.unwrap();
    let stats = sim.stats();
    assert_eq!((stats.sessions, stats.forbidden), (2, 1));
    let statuses: Vec<u16> = sim.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 200, 403, 200, 200]);
}

#[tokio::test]
async fn terms_not_signed_is_a_hard_error() {
    let sim = sim(&SimulatorConfig::default()).await;
    let client = client_for(&sim);
    client.account().await.unwrap();
    sim.set_terms_signed(false);
    let e = client.account().await.unwrap_err();
    let api = e.api().expect("an API error");
    assert_eq!(
        (api.status, api.code.clone()),
        (403, Some(ErrorCode::TermsNotSigned))
    );
    assert!(e.to_string().contains("T_C_NOT_SIGNED"), "{e}");
    assert!(!e.is_retryable());
    // A fresh client is refused at sign-in, with the same code.
    let fresh = client_for(&sim);
    let e = fresh.account().await.unwrap_err();
    assert_eq!(e.api().unwrap().code, Some(ErrorCode::TermsNotSigned));
    // The sync machine fails the pass at once.
    let mut machine = SyncMachine::new(sync_config(10), CursorState::default(), Instant::now());
    let e = pass(&client, &mut machine).await.err().unwrap();
    assert_eq!(e.api().unwrap().code, Some(ErrorCode::TermsNotSigned));
    assert_eq!(machine.stats().requests, 1);
    sim.set_terms_signed(true);
    assert_eq!(pass(&client, &mut machine).await.unwrap().fetched.len(), 10);
}

#[tokio::test]
async fn wrong_credentials_are_refused() {
    let sim = sim(&SimulatorConfig::default()).await;
    let mut creds = sim.credentials();
    creds.access_secret.push('x');
    let mut config = ClientConfig::default();
    config.base_url(sim.base_url());
    let client = DepClient::new(creds, config).unwrap();
    let e = client.account().await.unwrap_err();
    assert_eq!(e.api().unwrap().status, 401);
    assert_eq!(
        sim.requests().len(),
        1,
        "no retry loop on a refused sign-in"
    );
}

#[tokio::test]
async fn throttling_is_retried_after_retry_after() {
    let sim = sim(SimulatorConfig::default().devices(20)).await;
    let client = client_for(&sim);
    client.account().await.unwrap();
    sim.throttle(2, Duration::from_secs(1));
    let mut machine = SyncMachine::new(sync_config(50), CursorState::default(), Instant::now());
    let started = Instant::now();
    let p = pass(&client, &mut machine).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "Retry-After honoured"
    );
    assert_eq!(p.retries, 2);
    assert_eq!(p.fetched.len(), 20);
    assert_eq!(sim.stats().throttled, 2);
    // 503 with an HTTP date, measured against the response's Date.
    sim.unavailable(1, Duration::from_secs(1));
    let started = Instant::now();
    let p = pass(&client, &mut machine).await.unwrap();
    assert_eq!(p.retries, 1);
    assert!(started.elapsed() >= Duration::from_millis(900));
    // Too many failures end the pass with the error.
    let mut few = sync_config(50);
    few.max_attempts(2);
    let mut machine = SyncMachine::new(few, CursorState::default(), Instant::now());
    sim.throttle(5, Duration::from_secs(0));
    let e = pass(&client, &mut machine).await.err().unwrap();
    assert_eq!(e.api().unwrap().status, 429);
}

#[tokio::test]
async fn expired_and_invalid_cursors_refetch() {
    let sim = sim(SimulatorConfig::default().devices(25)).await;
    let client = client_for(&sim);
    let mut machine = SyncMachine::new(sync_config(10), CursorState::default(), Instant::now());
    pass(&client, &mut machine).await.unwrap();
    sim.expire_cursors();
    let p = pass(&client, &mut machine).await.unwrap();
    assert_eq!(p.resets, [ErrorCode::ExpiredCursor]);
    assert_eq!(
        p.cursors[0],
        CursorState::default(),
        "the reset is persisted first"
    );
    assert_eq!(p.fetched.len(), 25);
    assert_eq!(p.fetch_complete, 1);

    let mut machine = SyncMachine::new(
        sync_config(10),
        CursorState::synced("00ff00ff"),
        Instant::now(),
    );
    let p = pass(&client, &mut machine).await.unwrap();
    assert_eq!(p.resets, [ErrorCode::InvalidCursor]);
    assert_eq!(p.fetched.len(), 25);

    // Every error body style gives the same code.
    for style in [ErrorStyle::Bare, ErrorStyle::Quoted, ErrorStyle::Json] {
        sim.set_error_style(style);
        let e = client.sync_devices("abcdef", 10).await.unwrap_err();
        assert_eq!(
            e.api().unwrap().code,
            Some(ErrorCode::InvalidCursor),
            "{style:?}"
        );
    }
}

#[tokio::test]
async fn exhausted_fetch_cursor_switches_to_sync() {
    let sim = sim(SimulatorConfig::default().devices(15)).await;
    let client = client_for(&sim);
    let mut cursor = None;
    loop {
        let page = client.fetch_devices(cursor.as_deref(), 10).await.unwrap();
        cursor = Some(page.cursor);
        if !page.more_to_follow {
            break;
        }
    }
    let cursor = cursor.unwrap();
    let e = client.fetch_devices(Some(&cursor), 10).await.unwrap_err();
    assert_eq!(e.api().unwrap().code, Some(ErrorCode::ExhaustedCursor));
    sim.add_devices(2);
    let mut machine = SyncMachine::new(
        sync_config(10),
        CursorState::resume(&cursor),
        Instant::now(),
    );
    let p = pass(&client, &mut machine).await.unwrap();
    assert!(p.fetched.is_empty());
    assert_eq!(p.fetch_complete, 1);
    assert_eq!(p.synced.len(), 2);
    assert_eq!(p.cursors[0], CursorState::synced(&cursor));
}

#[tokio::test]
async fn profiles_define_assign_remove() {
    let sim = sim(SimulatorConfig::default().devices(6).assign_put_only(true)).await;
    let all = sim.serials();
    let client = client_with(&sim, |c| {
        c.assign_method(http::Method::PUT);
    });
    let mut profile = Profile::new("Staff", "https://mdm.example.com/mdm/enroll");
    profile.is_supervised = Some(true);
    profile.is_mdm_removable = Some(false);
    profile.skip_setup_items = vec!["Siri".into(), "Privacy".into()];
    profile.support_email_address = Some("it@example.com".into());
    profile.devices = vec![all[0].clone(), "NOSUCHSERIAL".into()];
    let defined = client.define_profile(&profile).await.unwrap();
    assert_eq!(defined.devices[&all[0]], DeviceStatus::Success);
    assert_eq!(defined.devices["NOSUCHSERIAL"], DeviceStatus::NotAccessible);
    let fetched = client.profile(&defined.profile_uuid).await.unwrap();
    assert_eq!(
        fetched.profile_uuid.as_deref(),
        Some(defined.profile_uuid.as_str())
    );
    assert_eq!(fetched.skip_setup_items, profile.skip_setup_items);
    assert_eq!(fetched.is_mdm_removable, Some(false));

    // depsim assigns with PUT only; POST is refused.
    let post = client_for(&sim);
    let e = post
        .assign_profile(&defined.profile_uuid, &all[1..3])
        .await
        .unwrap_err();
    assert_eq!(e.api().unwrap().status, 405);

    let assigned = client
        .assign_profile(&defined.profile_uuid, &all[1..3])
        .await
        .unwrap();
    assert_eq!(assigned.with_status(&DeviceStatus::Success).len(), 2);
    assert_eq!(assigned.retry_after_seconds, None);
    assert_eq!(sim.device(&all[1]).unwrap()["profile_status"], "assigned");

    sim.throttle_assign(Some(1), 30);
    let throttled = client
        .assign_profile(&defined.profile_uuid, &all[3..5])
        .await
        .unwrap();
    assert_eq!(
        throttled.with_status(&DeviceStatus::Throttled),
        [all[4].as_str()]
    );
    assert_eq!(throttled.retry_after_seconds, Some(30));

    let removed = client.remove_profile(&all[1..2]).await.unwrap();
    assert_eq!(removed.devices[&all[1]], DeviceStatus::Success);
    assert_eq!(sim.device(&all[1]).unwrap()["profile_status"], "removed");

    let e = client.profile("NOPE").await.unwrap_err();
    assert_eq!(e.api().unwrap().code, Some(ErrorCode::ProfileNotFound));
    let mut bad = Profile::new("x", "https://mdm.example.com");
    bad.is_mdm_removable = Some(false);
    let e = client.define_profile(&bad).await.unwrap_err();
    assert_eq!(e.api().unwrap().code, Some(ErrorCode::FlagsInvalid));

    // Assignments and removals show up in sync as modified devices.
    let mut machine = SyncMachine::new(sync_config(100), CursorState::default(), Instant::now());
    pass(&client, &mut machine).await.unwrap();
    client
        .assign_profile(&defined.profile_uuid, &all[5..6])
        .await
        .unwrap();
    let p = pass(&client, &mut machine).await.unwrap();
    assert_eq!(p.synced.len(), 1);
    assert_eq!(p.synced[0].op_type, Some(OpType::Modified));
    assert_eq!(
        p.synced[0].profile_uuid.as_deref(),
        Some(defined.profile_uuid.as_str())
    );
}

#[tokio::test]
async fn details_disown_and_activation_lock() {
    let sim = sim(SimulatorConfig::default().devices(3)).await;
    let all = sim.serials();
    let client = client_for(&sim);
    let details = client
        .device_details(&[all[0].clone(), "UNKNOWN".into()])
        .await
        .unwrap();
    assert_eq!(
        details.devices[&all[0]].response_status,
        Some(DeviceStatus::Success)
    );
    assert_eq!(
        details.devices["UNKNOWN"].response_status,
        Some(DeviceStatus::NotAccessible)
    );
    let lock = ActivationLockRequest {
        device: all[1].clone(),
        escrow_key: Some("ab".repeat(32)),
        lost_message: Some("Call IT".into()),
    };
    let locked = client.activation_lock(&lock).await.unwrap();
    assert_eq!(
        (
            locked.serial_number.as_str(),
            locked.response_status.as_str()
        ),
        (all[1].as_str(), "SUCCESS")
    );
    let again = client.activation_lock(&lock).await.unwrap();
    assert_eq!(again.response_status, "DEVICE_ALREADY_LOCKED");
    let disowned = client.disown_devices(&all[2..3]).await.unwrap();
    assert_eq!(disowned.devices[&all[2]], DeviceStatus::Success);
    assert_eq!(sim.device_count(), 2);
    // Requests the client refuses to build never reach the service.
    let before = sim.requests().len();
    let too_many: Vec<String> = (0..1001).map(|i| format!("S{i}")).collect();
    assert!(matches!(
        client.device_details(&too_many).await,
        Err(Error::InvalidRequest(_))
    ));
    assert_eq!(sim.requests().len(), before);
}

#[tokio::test]
async fn rotated_session_tokens_are_followed() {
    let sim = sim(SimulatorConfig::default().rotate_session_every(Some(2))).await;
    let client = client_for(&sim);
    for _ in 0..6 {
        client.account().await.unwrap();
    }
    let stats = sim.stats();
    assert_eq!(stats.rotations, 3);
    assert_eq!(stats.sessions, 4);
    assert_eq!(stats.unauthorized, 0, "every rotated token was taken up");
    let last = sim.requests().last().unwrap().session.clone();
    assert_ne!(
        client.auth_token(),
        last,
        "the last answer rotated it again"
    );
}

#[tokio::test]
async fn bounded_bodies_and_loopback_only_http() {
    let sim = sim(SimulatorConfig::default().devices(100)).await;
    let client = client_with(&sim, |c| {
        c.api.max_body_len(2000);
    });
    assert!(matches!(
        client.fetch_devices(None, 100).await,
        Err(Error::BodyTooLarge { limit: 2000 })
    ));
    let mut config = ClientConfig::default();
    config.base_url("http://mdmenrollment.apple.com");
    assert!(matches!(
        DepClient::new(sim.credentials(), config),
        Err(Error::InvalidBaseUrl(_))
    ));
}

/// A sign-in request signed by the client's own code for the simulator's
/// credentials, with `params`' time stamp and nonce.
fn signed_sign_in(sim: &Simulator, params: &OAuthParams) -> http::Request<Vec<u8>> {
    let mut config = Config::default();
    config.base_url(sim.base_url());
    Session::new(sim.credentials(), std::sync::Arc::new(config))
        .unwrap()
        .auth_request(params)
        .unwrap()
}

/// Sends `request` over a fresh connection as HTTP/1.1 text, without the
/// headers named in `drop`, and returns the status and the body.
async fn send_raw(
    sim: &Simulator,
    request: &http::Request<Vec<u8>>,
    drop: &[&str],
) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut text = format!(
        "{} {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
        request.method(),
        request.uri().path_and_query().unwrap(),
        sim.addr()
    );
    for (name, value) in request.headers() {
        if !drop.contains(&name.as_str()) {
            text.push_str(&format!("{name}: {}\r\n", value.to_str().unwrap()));
        }
    }
    text.push_str("\r\n");
    let mut tcp = tokio::net::TcpStream::connect(sim.addr()).await.unwrap();
    tcp.write_all(text.as_bytes()).await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(10), tcp.read_to_string(&mut answer))
        .await
        .expect("an answer in time")
        .unwrap();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn session_without_content_type_is_refused() {
    let sim = sim(&SimulatorConfig::default()).await;
    // A correctly signed sign-in, without Content-Type: Apple's answer.
    let request = signed_sign_in(&sim, &OAuthParams::new(unix_now(), b"nonce-1"));
    assert!(request.headers().contains_key("content-type"));
    let (status, body) = send_raw(&sim, &request, &["content-type"]).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("BAD_REQUEST"), "{body}");
    // The same, signed afresh, with it: a session.
    let request = signed_sign_in(&sim, &OAuthParams::new(unix_now(), b"nonce-2"));
    let (status, body) = send_raw(&sim, &request, &[]).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("auth_session_token"), "{body}");
    assert_eq!(sim.stats().sessions, 1);
}

#[tokio::test]
async fn replayed_nonces_and_stale_timestamps_are_refused() {
    let mut config = SimulatorConfig::default();
    config.timestamp_window(Some(Duration::from_secs(300)));
    let sim = sim(&config).await;
    let params = OAuthParams::new(unix_now(), b"once");
    let request = signed_sign_in(&sim, &params);
    assert_eq!(send_raw(&sim, &request, &[]).await.0, 200);
    // The very same signed request again: the nonce was used.
    let (status, body) = send_raw(&sim, &request, &[]).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("UNAUTHORIZED"), "{body}");
    // The same nonce with another time stamp is a new pair.
    let request = signed_sign_in(&sim, &OAuthParams::new(unix_now() + 1, b"once"));
    assert_eq!(send_raw(&sim, &request, &[]).await.0, 200);
    // An hour old, or an hour ahead: outside the window.
    for ts in [unix_now() - 3600, unix_now() + 3600] {
        let request = signed_sign_in(&sim, &OAuthParams::new(ts, b"stale"));
        assert_eq!(send_raw(&sim, &request, &[]).await.0, 401, "{ts}");
    }
    // Within it.
    let request = signed_sign_in(&sim, &OAuthParams::new(unix_now() - 60, b"fresh"));
    assert_eq!(send_raw(&sim, &request, &[]).await.0, 200);
    // The client itself signs with the current time and fresh nonces.
    let client = client_for(&sim);
    for _ in 0..3 {
        client.account().await.unwrap();
        sim.expire_sessions();
    }
    assert_eq!(sim.stats().sessions, 6);
}

#[tokio::test]
async fn cursors_expire_with_age() {
    let sim = sim(SimulatorConfig::default()
        .devices(12)
        .cursor_ttl(Duration::from_millis(800)))
    .await;
    let client = client_for(&sim);
    let mut machine = SyncMachine::new(sync_config(5), CursorState::default(), Instant::now());
    let first = pass(&client, &mut machine).await.unwrap();
    assert_eq!(first.fetched.len(), 12);
    // A young cursor syncs.
    sim.add_devices(1);
    let p = pass(&client, &mut machine).await.unwrap();
    assert!(p.resets.is_empty());
    assert_eq!(p.synced.len(), 1);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let cursor = machine.cursor().cursor.clone().unwrap();
    let e = client.sync_devices(&cursor, 5).await.unwrap_err();
    assert_eq!(e.api().unwrap().code, Some(ErrorCode::ExpiredCursor));
    // The machine drops it and fetches everything again.
    let p = pass(&client, &mut machine).await.unwrap();
    assert_eq!(p.resets, [ErrorCode::ExpiredCursor]);
    assert_eq!(p.cursors[0], CursorState::default());
    assert_eq!(p.fetched.len(), 13);
    assert_eq!(p.fetch_complete, 1);
}

#[tokio::test]
async fn trimmed_event_log_expires_older_cursors() {
    let sim = sim(SimulatorConfig::default().devices(4).max_events(3)).await;
    let client = client_for(&sim);
    let mut machine = SyncMachine::new(sync_config(10), CursorState::default(), Instant::now());
    pass(&client, &mut machine).await.unwrap();
    // Two events fit: the cursor still syncs.
    let two = sim.add_devices(2);
    let p = pass(&client, &mut machine).await.unwrap();
    assert_eq!(serials(&p.synced), two.iter().cloned().collect());
    // Five more: the log keeps three, the events after the cursor are gone.
    sim.add_devices(5);
    let p = pass(&client, &mut machine).await.unwrap();
    assert_eq!(p.resets, [ErrorCode::ExpiredCursor]);
    assert_eq!(p.fetched.len(), 11);
    assert!(p.synced.is_empty());
    // From the new cursor, syncing works again.
    let one = sim.add_devices(1);
    let p = pass(&client, &mut machine).await.unwrap();
    assert!(p.resets.is_empty());
    assert_eq!(serials(&p.synced), one.into_iter().collect());
}

#[tokio::test]
async fn throttled_answers_follow_the_protocol_version() {
    let sim = sim(SimulatorConfig::default().devices(6)).await;
    let all = sim.serials();
    let profile = client_for(&sim)
        .define_profile(&Profile::new("P", "https://mdm.example.com/e"))
        .await
        .unwrap()
        .profile_uuid;
    sim.throttle_assign(Some(1), 30);
    for (version, second, retry_after) in [
        (3, DeviceStatus::Failed, None),
        (8, DeviceStatus::Failed, None),
        (9, DeviceStatus::Throttled, None),
        (10, DeviceStatus::Throttled, Some(30)),
        (11, DeviceStatus::Throttled, Some(30)),
    ] {
        let client = client_with(&sim, |c| {
            c.protocol_version(version);
        });
        let answer = client.assign_profile(&profile, &all[0..2]).await.unwrap();
        assert_eq!(answer.devices[&all[0]], DeviceStatus::Success, "{version}");
        assert_eq!(answer.devices[&all[1]], second, "{version}");
        assert_eq!(answer.retry_after_seconds, retry_after, "{version}");
    }
    let versions: Vec<u32> = sim
        .assignments()
        .iter()
        .map(|a| a.protocol_version)
        .collect();
    assert_eq!(versions, [3, 8, 9, 10, 11]);
    // The default is the version with both.
    let answer = client_for(&sim)
        .assign_profile(&profile, &all[2..4])
        .await
        .unwrap();
    assert_eq!(
        answer.with_status(&DeviceStatus::Throttled),
        [all[3].as_str()]
    );
    assert_eq!(answer.retry_after_seconds, Some(30));
}

#[tokio::test]
async fn assignments_fail_on_demand() {
    let sim = sim(SimulatorConfig::default().devices(3)).await;
    let all = sim.serials();
    let client = client_for(&sim);
    let profile = client
        .define_profile(&Profile::new("P", "https://mdm.example.com/e"))
        .await
        .unwrap()
        .profile_uuid;
    sim.fail_assign(1, AssignFailure::ServerError);
    let e = client.assign_profile(&profile, &all).await.unwrap_err();
    assert_eq!(e.api().unwrap().status, 500);
    assert!(e.is_retryable());
    sim.fail_assign(1, AssignFailure::DevicesFailed);
    let answer = client.assign_profile(&profile, &all).await.unwrap();
    assert_eq!(answer.with_status(&DeviceStatus::Failed).len(), 3);
    assert_eq!(sim.device(&all[0]).unwrap()["profile_status"], "empty");
    let answer = client.assign_profile(&profile, &all).await.unwrap();
    assert_eq!(answer.with_status(&DeviceStatus::Success).len(), 3);
    let statuses: Vec<u16> = sim.assignments().iter().map(|a| a.status).collect();
    assert_eq!(statuses, [500, 200, 200]);
    assert!(
        sim.assignments()
            .iter()
            .all(|a| a.serials == all && a.method == "POST")
    );
}

#[tokio::test]
async fn renewed_credentials_replace_the_old_ones() {
    let sim = sim(&SimulatorConfig::default()).await;
    let old = client_for(&sim);
    old.account().await.unwrap();
    let mut renewed = sim.credentials();
    renewed.access_token = "AT_renewed".into();
    renewed.access_secret = "AS_renewed".into();
    sim.set_credentials(renewed.clone());
    assert_eq!(sim.server_token().credentials, renewed);
    sim.expire_sessions();
    let e = old.account().await.unwrap_err();
    assert_eq!(e.api().unwrap().status, 401);
    client_for(&sim).account().await.unwrap();
}

#[tokio::test]
async fn https_end_to_end() {
    if !test_support::require_peer("https_end_to_end", &["openssl", "version"]) {
        return;
    }
    let dir = test_support::tempdir();
    test_support::apns_test_pki(dir.path(), "00000000-0000-0000-0000-000000000000");
    let read = |n: &str| std::fs::read_to_string(dir.path().join(n)).unwrap();
    let sim = sim(SimulatorConfig::default().tls(read("server.pem"), read("server.key"))).await;
    assert!(sim.base_url().starts_with("https://127.0.0.1:"));
    let client = client_with(&sim, |c| {
        c.trust_anchors_pem(read("ca.pem"));
    });
    let mut machine = SyncMachine::new(sync_config(4), CursorState::default(), Instant::now());
    assert_eq!(pass(&client, &mut machine).await.unwrap().fetched.len(), 10);
    // A client that does not trust the CA does not get through.
    let untrusting = client_with(&sim, |c| {
        c.trust_anchors_pem(read("push.pem"));
    });
    let e = untrusting.account().await.unwrap_err();
    assert!(matches!(e, Error::Connect(_)), "{e}");
}

/// A service spawns these on a multi-threaded runtime: the client must be
/// shareable and its futures `Send`.
#[tokio::test]
async fn client_futures_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<DepClient>();
    assert_send_sync::<Simulator>();
    let sim = sim(SimulatorConfig::default().devices(3)).await;
    let client = std::sync::Arc::new(client_for(&sim));
    let mut machine = SyncMachine::new(sync_config(10), CursorState::default(), Instant::now());
    {
        let f = client.account();
        assert_send(&f);
        let f = client.sync_all(&mut machine, |_| {});
        assert_send(&f);
    }
    let shared = client.clone();
    let task = tokio::spawn(async move {
        let mut machine = SyncMachine::new(sync_config(10), CursorState::default(), Instant::now());
        let event = shared.next_sync_event(&mut machine).await;
        matches!(event, SyncEvent::Devices { .. })
    });
    assert!(task.await.unwrap());
}

#[tokio::test]
async fn several_mdm_servers_at_one_url() {
    let sim = sim(SimulatorConfig::default().devices(3).seed(1)).await;
    let mut second = SimulatorConfig::default();
    second
        .devices(5)
        .seed(2)
        .credentials(dep_client::OAuthCredentials {
            consumer_key: "CK_second".into(),
            consumer_secret: "CS_second".into(),
            access_token: "AT_second".into(),
            access_secret: "AS_second".into(),
        });
    let other = sim.add_server(second).unwrap();
    assert_ne!(sim.credentials(), other.credentials());
    let one = client_for(&sim);
    let two = DepClient::new(other.credentials(), {
        let mut c = ClientConfig::default();
        c.base_url(sim.base_url());
        c
    })
    .unwrap();
    let mut m1 = SyncMachine::new(sync_config(2), CursorState::default(), Instant::now());
    let mut m2 = SyncMachine::new(sync_config(2), CursorState::default(), Instant::now());
    let p1 = pass(&one, &mut m1).await.unwrap();
    let p2 = pass(&two, &mut m2).await.unwrap();
    assert_eq!(serials(&p1.fetched), sim.serials().into_iter().collect());
    assert_eq!(serials(&p2.fetched), other.serials().into_iter().collect());
    assert!(serials(&p1.fetched).is_disjoint(&serials(&p2.fetched)));
    // Each server saw its own requests and signs in its own sessions.
    assert_eq!((sim.stats().sessions, other.stats().sessions), (1, 1));
    assert!(other.requests().iter().all(|r| r.status == 200));
    // A cursor of one is not the other's.
    let cursor = m1.cursor().cursor.clone().unwrap();
    let e = two.sync_devices(&cursor, 5).await.unwrap_err();
    assert_eq!(e.api().unwrap().code, Some(ErrorCode::InvalidCursor));
    // Changes on one show on its sync only.
    let added = other.add_devices(2);
    assert!(pass(&one, &mut m1).await.unwrap().synced.is_empty());
    assert_eq!(
        serials(&pass(&two, &mut m2).await.unwrap().synced),
        added.into_iter().collect()
    );
}
