//! The conformance suite every [`Store`] passes: each `pub async fn` takes
//! an empty store (or one shared with other cases that uses its own ids) and
//! panics on a failure. `tests/sqlite.rs` and `tests/postgres.rs` run it
//! against each backend.
#![allow(dead_code, unreachable_pub)]

mod dep;
mod push;
mod sup;
mod vpp;

pub use dep::*;
pub use push::*;
pub use sup::*;
pub use vpp::*;

use std::collections::HashMap;
use std::sync::Arc;

use apple_mdm_protocol::EnrollmentId;
use apple_mdm_protocol::queue::{CommandQueue, CommandState, Next, QueueError};
use apple_mdm_protocol::report::Status;
use pippin_store::{
    AuditEntry, AuthenticateRecord, EntryState, Error, InventoryKind, ListQuery, NewCommand,
    PushResult, Store, TokenUpdateRecord,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::json;

pub const TOPIC: &str = "com.apple.mgmt.External.2b1a7a1c";

pub fn device(name: &str) -> EnrollmentId {
    EnrollmentId::device(name)
}

pub fn user(device: &str, user: &str) -> EnrollmentId {
    EnrollmentId {
        device: device.to_owned(),
        user: Some(user.to_owned()),
    }
}

pub fn auth_record(device: &str, now: i64) -> AuthenticateRecord {
    AuthenticateRecord {
        device: device.to_owned(),
        serial_number: Some(format!("SN-{device}")),
        model: Some("MacBookPro18,3".into()),
        model_name: Some("MacBook Pro".into()),
        product_name: Some("MacBookPro18,3".into()),
        os_version: Some("14.4.1".into()),
        build_version: Some("23E224".into()),
        device_name: Some(format!("Mac of {device}")),
        imei: None,
        meid: None,
        topic: TOPIC.into(),
        identity: Some([7; 32]),
        now,
    }
}

pub fn token_record(token: &[u8], now: i64) -> TokenUpdateRecord {
    TokenUpdateRecord {
        push_token: token.to_vec(),
        push_magic: format!("magic-{}", token.len()),
        topic: TOPIC.into(),
        unlock_token: None,
        awaiting_configuration: false,
        user_short_name: None,
        user_long_name: None,
        now,
    }
}

/// Authenticates and token-updates `name`.
pub async fn enroll(s: &dyn Store, name: &str, now: i64) -> EnrollmentId {
    s.authenticate(&auth_record(name, now)).await.unwrap();
    let id = device(name);
    s.token_update(&id, &token_record(name.as_bytes(), now + 1))
        .await
        .unwrap();
    id
}

/// Token-updates the user channel `u` of `name`.
pub async fn enroll_user(s: &dyn Store, name: &str, u: &str, now: i64) -> EnrollmentId {
    let id = user(name, u);
    let mut rec = token_record(format!("{name}:{u}").as_bytes(), now);
    rec.user_short_name = Some(u.to_lowercase());
    rec.user_long_name = Some(format!("User {u}"));
    s.token_update(&id, &rec).await.unwrap();
    id
}

pub fn command(uuid: &str, priority: i32, now: i64) -> NewCommand {
    NewCommand {
        uuid: uuid.to_owned(),
        request_type: format!("Type-{uuid}"),
        body: format!("<plist>{uuid}</plist>").into_bytes(),
        priority,
        queued_by: "admin@example.org".into(),
        now,
    }
}

async fn next_uuid(
    s: &dyn Store,
    id: &EnrollmentId,
    status: Status,
    uuid: Option<&str>,
    now: i64,
) -> Option<String> {
    let result = status.is_final().then(|| b"<report/>".to_vec());
    s.handle_report(id, status, uuid, result, now)
        .await
        .unwrap()
        .next
        .map(|n| n.uuid)
}

fn is_unknown_command(r: &Result<impl std::fmt::Debug, Error>, uuid: &str) -> bool {
    matches!(r, Err(Error::Queue(QueueError::UnknownCommand(u))) if u == uuid)
}

// --- Enrollments -------------------------------------------------------------

pub async fn enrollment_lifecycle(s: &dyn Store) {
    let id = device("LIFE-1");
    assert_eq!(s.get_enrollment(&id).await.unwrap(), None);
    // TokenUpdate before Authenticate: unknown.
    assert!(matches!(
        s.token_update(&id, &token_record(b"t", 5)).await,
        Err(Error::UnknownEnrollment(d)) if d == "LIFE-1"
    ));

    s.authenticate(&auth_record("LIFE-1", 1_000)).await.unwrap();
    let e = s.get_enrollment(&id).await.unwrap().unwrap();
    assert_eq!(e.id, id);
    assert!(!e.enrolled);
    assert_eq!(e.serial_number.as_deref(), Some("SN-LIFE-1"));
    assert_eq!(e.model.as_deref(), Some("MacBookPro18,3"));
    assert_eq!(e.os_version.as_deref(), Some("14.4.1"));
    assert_eq!(e.topic.as_deref(), Some(TOPIC));
    assert_eq!(e.identity, Some([7; 32]));
    assert_eq!(e.created_at, 1_000);
    assert_eq!(e.authenticated_at, Some(1_000));
    assert_eq!(e.push_token, None);
    assert_eq!(e.token_updated_at, None);

    let mut tu = token_record(&[0xAB; 32], 2_000);
    tu.unlock_token = Some(vec![1, 2, 3]);
    tu.awaiting_configuration = true;
    s.token_update(&id, &tu).await.unwrap();
    let e = s.get_enrollment(&id).await.unwrap().unwrap();
    assert!(e.enrolled);
    assert_eq!(e.push_token, Some(vec![0xAB; 32]));
    assert_eq!(e.push_magic.as_deref(), Some("magic-32"));
    assert!(e.has_unlock_token);
    assert!(e.awaiting_configuration);
    assert_eq!(e.token_updated_at, Some(2_000));
    assert_eq!(s.get_unlock_token(&id).await.unwrap(), Some(vec![1, 2, 3]));

    // A later TokenUpdate without an unlock token keeps the stored one.
    s.token_update(&id, &token_record(&[0xCD; 32], 2_500))
        .await
        .unwrap();
    let e = s.get_enrollment(&id).await.unwrap().unwrap();
    assert_eq!(e.push_token, Some(vec![0xCD; 32]));
    assert!(!e.awaiting_configuration);
    assert_eq!(s.get_unlock_token(&id).await.unwrap(), Some(vec![1, 2, 3]));

    s.check_out(&id, 3_000).await.unwrap();
    let e = s.get_enrollment(&id).await.unwrap().unwrap();
    assert!(!e.enrolled);
    assert_eq!(e.checked_out_at, Some(3_000));
    // Check-out keeps what was stored.
    assert_eq!(e.serial_number.as_deref(), Some("SN-LIFE-1"));

    // Re-enrollment: a new Authenticate clears the push token and secrets of
    // the old enrollment and waits for the TokenUpdate.
    let mut again = auth_record("LIFE-1", 4_000);
    again.serial_number = None;
    again.os_version = Some("14.5".into());
    again.identity = Some([9; 32]);
    s.authenticate(&again).await.unwrap();
    let e = s.get_enrollment(&id).await.unwrap().unwrap();
    assert!(!e.enrolled);
    assert_eq!(e.push_token, None);
    assert_eq!(e.push_magic, None);
    assert!(!e.has_unlock_token);
    assert_eq!(e.serial_number.as_deref(), Some("SN-LIFE-1"), "None keeps");
    assert_eq!(e.os_version.as_deref(), Some("14.5"));
    assert_eq!(e.identity, Some([9; 32]));
    assert_eq!(e.created_at, 1_000);
    assert_eq!(e.authenticated_at, Some(4_000));
    s.token_update(&id, &token_record(&[0xEF; 32], 5_000))
        .await
        .unwrap();
    assert!(s.get_enrollment(&id).await.unwrap().unwrap().enrolled);

    assert!(matches!(
        s.check_out(&device("NOPE"), 1).await,
        Err(Error::UnknownEnrollment(_))
    ));
}

pub async fn invalid_ids_are_refused(s: &dyn Store) {
    let empty = device("");
    assert!(matches!(
        s.get_enrollment(&empty).await,
        Err(Error::InvalidId(_))
    ));
    assert!(matches!(
        s.authenticate(&auth_record("", 1)).await,
        Err(Error::InvalidId(_))
    ));
    enroll(s, "INV-1", 1).await;
    let empty_user = user("INV-1", "");
    assert!(matches!(
        s.token_update(&empty_user, &token_record(b"x", 2)).await,
        Err(Error::InvalidId(_))
    ));
    assert!(matches!(
        s.enqueue(&[device("INV-1"), empty_user], command("inv-c", 0, 3))
            .await,
        Err(Error::InvalidId(_))
    ));
    assert!(s.get_command("inv-c").await.unwrap().is_none());
}

pub async fn user_channels_are_separate(s: &dyn Store) {
    // A user channel needs its device channel.
    assert!(matches!(
        s.token_update(&user("UC-1", "U1"), &token_record(b"u", 1))
            .await,
        Err(Error::UnknownEnrollment(_))
    ));
    let d = enroll(s, "UC-1", 10).await;
    let u = enroll_user(s, "UC-1", "U1", 20).await;
    let u2 = enroll_user(s, "UC-1", "U2", 21).await;

    let eu = s.get_enrollment(&u).await.unwrap().unwrap();
    assert!(eu.enrolled);
    assert_eq!(eu.id.to_string(), "UC-1:U1");
    assert_eq!(eu.user_short_name.as_deref(), Some("u1"));
    assert_eq!(eu.user_long_name.as_deref(), Some("User U1"));
    assert_eq!(eu.push_token, Some(b"UC-1:U1".to_vec()));
    assert_eq!(eu.serial_number, None);
    assert_eq!(eu.created_at, 20);
    let ed = s.get_enrollment(&d).await.unwrap().unwrap();
    assert_eq!(ed.push_token, Some(b"UC-1".to_vec()));

    // Separate queues.
    s.enqueue(std::slice::from_ref(&d), command("uc-dev", 0, 30))
        .await
        .unwrap();
    s.enqueue(std::slice::from_ref(&u), command("uc-usr", 0, 31))
        .await
        .unwrap();
    assert_eq!(s.queue_depth(&d).await.unwrap(), 1);
    assert_eq!(s.queue_depth(&u).await.unwrap(), 1);
    assert_eq!(s.queue_depth(&u2).await.unwrap(), 0);
    assert_eq!(
        next_uuid(s, &u, Status::Idle, None, 40).await.as_deref(),
        Some("uc-usr")
    );
    assert_eq!(next_uuid(s, &u2, Status::Idle, None, 40).await, None);
    // The device channel cannot answer the user channel's command.
    let r = s
        .handle_report(&d, Status::Acknowledged, Some("uc-usr"), None, 41)
        .await;
    assert!(is_unknown_command(&r, "uc-usr"));
    assert_eq!(
        next_uuid(s, &d, Status::Idle, None, 42).await.as_deref(),
        Some("uc-dev")
    );
    assert_eq!(
        next_uuid(s, &u, Status::Acknowledged, Some("uc-usr"), 43).await,
        None
    );
    assert_eq!(s.queue_depth(&u).await.unwrap(), 0);
    assert_eq!(s.queue_depth(&d).await.unwrap(), 1);

    // Device-wide facts are reached through either channel.
    assert_eq!(s.identity_for(&u).await.unwrap(), Some([7; 32]));

    // Checking out the device channel ends its user channels; checking out a
    // user channel ends only that one.
    s.check_out(&u2, 50).await.unwrap();
    assert!(!s.get_enrollment(&u2).await.unwrap().unwrap().enrolled);
    assert!(s.get_enrollment(&u).await.unwrap().unwrap().enrolled);
    assert!(s.get_enrollment(&d).await.unwrap().unwrap().enrolled);
    s.check_out(&d, 60).await.unwrap();
    for id in [&d, &u, &u2] {
        assert!(!s.get_enrollment(id).await.unwrap().unwrap().enrolled);
    }
}

pub async fn reauthenticate_cancels_open_commands(s: &dyn Store) {
    let d = enroll(s, "REA-1", 10).await;
    let u = enroll_user(s, "REA-1", "U", 11).await;
    let other = enroll(s, "REA-2", 12).await;
    s.enqueue(
        &[d.clone(), u.clone(), other.clone()],
        command("rea-a", 0, 20),
    )
    .await
    .unwrap();
    s.enqueue(std::slice::from_ref(&d), command("rea-b", 0, 21))
        .await
        .unwrap();
    assert_eq!(
        next_uuid(s, &d, Status::Idle, None, 30).await.as_deref(),
        Some("rea-a")
    );
    assert_eq!(
        next_uuid(s, &d, Status::Acknowledged, Some("rea-a"), 31)
            .await
            .as_deref(),
        Some("rea-b")
    );
    s.authenticate(&auth_record("REA-1", 40)).await.unwrap();
    assert_eq!(s.queue_depth(&d).await.unwrap(), 0);
    assert_eq!(s.queue_depth(&u).await.unwrap(), 0);
    assert_eq!(s.queue_depth(&other).await.unwrap(), 1);
    let eu = s.get_enrollment(&u).await.unwrap().unwrap();
    assert!(!eu.enrolled);
    assert_eq!(eu.push_token, None);
    let rec = s.get_command("rea-a").await.unwrap().unwrap();
    let states: Vec<(String, EntryState)> = rec
        .targets
        .iter()
        .map(|t| (t.id.to_string(), t.state))
        .collect();
    assert_eq!(
        states,
        vec![
            ("REA-1".to_owned(), EntryState::Acknowledged),
            ("REA-1:U".to_owned(), EntryState::Cancelled),
            ("REA-2".to_owned(), EntryState::Queued),
        ]
    );
    let b = s.get_command("rea-b").await.unwrap().unwrap();
    assert_eq!(b.targets[0].state, EntryState::Cancelled);
    assert_eq!(b.targets[0].status_at, Some(40));
}

pub async fn identity_binding(s: &dyn Store) {
    let d = device("ID-1");
    assert_eq!(s.identity_for(&d).await.unwrap(), None);
    assert!(matches!(
        s.bind_identity(&d, [1; 32]).await,
        Err(Error::UnknownEnrollment(_))
    ));
    let mut rec = auth_record("ID-1", 1);
    rec.identity = None;
    s.authenticate(&rec).await.unwrap();
    assert_eq!(s.identity_for(&d).await.unwrap(), None);
    s.bind_identity(&d, [1; 32]).await.unwrap();
    assert_eq!(s.identity_for(&d).await.unwrap(), Some([1; 32]));

    // Renewal: only from the bound certificate.
    assert!(matches!(
        s.rebind_identity(&d, [2; 32], [3; 32]).await,
        Err(Error::IdentityMismatch(x)) if x == "ID-1"
    ));
    assert_eq!(s.identity_for(&d).await.unwrap(), Some([1; 32]));
    s.rebind_identity(&d, [1; 32], [3; 32]).await.unwrap();
    assert_eq!(s.identity_for(&d).await.unwrap(), Some([3; 32]));
    assert_eq!(
        s.get_enrollment(&d).await.unwrap().unwrap().identity,
        Some([3; 32])
    );
    assert!(matches!(
        s.rebind_identity(&device("ID-NONE"), [3; 32], [4; 32])
            .await,
        Err(Error::UnknownEnrollment(_))
    ));
    // Through a user channel's id, the device's binding.
    assert_eq!(
        s.identity_for(&user("ID-1", "U")).await.unwrap(),
        Some([3; 32])
    );

    // Renewal records: what a certificate renewed, replaced on repeat.
    assert_eq!(s.renewed_from([9; 32]).await.unwrap(), None);
    s.record_renewal([3; 32], [9; 32], 50).await.unwrap();
    assert_eq!(s.renewed_from([9; 32]).await.unwrap(), Some([3; 32]));
    s.record_renewal([4; 32], [9; 32], 60).await.unwrap();
    assert_eq!(s.renewed_from([9; 32]).await.unwrap(), Some([4; 32]));
    assert_eq!(s.renewed_from([3; 32]).await.unwrap(), None);
}

pub async fn bootstrap_token_escrow(s: &dyn Store) {
    let d = enroll(s, "BT-1", 1).await;
    assert_eq!(s.get_bootstrap_token(&d).await.unwrap(), None);
    assert!(
        !s.get_enrollment(&d)
            .await
            .unwrap()
            .unwrap()
            .has_bootstrap_token
    );
    s.set_bootstrap_token(&d, Some(b"bootstrap".to_vec()))
        .await
        .unwrap();
    assert_eq!(
        s.get_bootstrap_token(&d).await.unwrap(),
        Some(b"bootstrap".to_vec())
    );
    assert!(
        s.get_enrollment(&d)
            .await
            .unwrap()
            .unwrap()
            .has_bootstrap_token
    );
    // Kept across re-enrollment.
    s.authenticate(&auth_record("BT-1", 5)).await.unwrap();
    assert_eq!(
        s.get_bootstrap_token(&d).await.unwrap(),
        Some(b"bootstrap".to_vec())
    );
    s.set_bootstrap_token(&d, None).await.unwrap();
    assert_eq!(s.get_bootstrap_token(&d).await.unwrap(), None);
    assert!(matches!(
        s.set_bootstrap_token(&device("BT-NONE"), Some(vec![1]))
            .await,
        Err(Error::UnknownEnrollment(_))
    ));
    assert_eq!(
        s.get_bootstrap_token(&device("BT-NONE")).await.unwrap(),
        None
    );
}

pub async fn push_results_and_targets(s: &dyn Store) {
    let a = enroll(s, "PT-A", 1).await;
    let b = enroll(s, "PT-B", 1).await;
    let c = enroll(s, "PT-C", 1).await;
    let u = enroll_user(s, "PT-A", "U", 2).await;
    s.authenticate(&auth_record("PT-D", 3)).await.unwrap(); // not enrolled yet
    let d = device("PT-D");
    s.check_out(&c, 4).await.unwrap();

    s.mark_push_result(
        &b,
        b"PT-B",
        &PushResult {
            at: 10,
            status: "410".into(),
            reason: Some("Unregistered".into()),
            token_invalid: true,
            ..PushResult::default()
        },
    )
    .await
    .unwrap();
    s.mark_push_result(
        &a,
        b"PT-A",
        &PushResult {
            at: 11,
            status: "200".into(),
            reason: None,
            token_invalid: false,
            ..PushResult::default()
        },
    )
    .await
    .unwrap();
    let eb = s.get_enrollment(&b).await.unwrap().unwrap();
    assert!(eb.token_invalid);
    assert_eq!(
        eb.last_push,
        Some(PushResult {
            at: 10,
            status: "410".into(),
            reason: Some("Unregistered".into()),
            token_invalid: true,
            ..PushResult::default()
        })
    );
    let ea = s.get_enrollment(&a).await.unwrap().unwrap();
    assert!(!ea.token_invalid);
    assert_eq!(ea.last_push.unwrap().status, "200");

    let ids = [
        u.clone(),
        d.clone(),
        a.clone(),
        b.clone(),
        c.clone(),
        device("PT-NONE"),
        a.clone(),
    ];
    let targets = s.push_targets(&ids).await.unwrap();
    let got: Vec<(String, Vec<u8>, String, String)> = targets
        .into_iter()
        .map(|t| (t.id.to_string(), t.token, t.push_magic, t.topic))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "PT-A:U".to_owned(),
                b"PT-A:U".to_vec(),
                "magic-6".to_owned(),
                TOPIC.to_owned()
            ),
            (
                "PT-A".to_owned(),
                b"PT-A".to_vec(),
                "magic-4".to_owned(),
                TOPIC.to_owned()
            ),
        ]
    );

    // A success does not clear the mark; the next TokenUpdate does.
    s.mark_push_result(
        &b,
        b"PT-B",
        &PushResult {
            at: 12,
            status: "200".into(),
            reason: None,
            token_invalid: false,
            ..PushResult::default()
        },
    )
    .await
    .unwrap();
    assert!(s.get_enrollment(&b).await.unwrap().unwrap().token_invalid);
    s.token_update(&b, &token_record(b"fresh", 13))
        .await
        .unwrap();
    assert!(!s.get_enrollment(&b).await.unwrap().unwrap().token_invalid);
    assert_eq!(
        s.push_targets(std::slice::from_ref(&b))
            .await
            .unwrap()
            .len(),
        1
    );

    assert!(matches!(
        s.mark_push_result(&device("PT-NONE"), b"x", &PushResult::default())
            .await,
        Err(Error::UnknownEnrollment(_))
    ));
    assert!(s.push_targets(&[]).await.unwrap().is_empty());
}

/// Needs a store whose touch interval is 60 s (the default).
pub async fn touch_is_throttled(s: &dyn Store) {
    let d = enroll(s, "TOUCH-1", 1).await;
    assert_eq!(
        s.get_enrollment(&d).await.unwrap().unwrap().last_seen_at,
        None
    );
    s.touch(&d, 100_000).await.unwrap();
    assert_eq!(
        s.get_enrollment(&d).await.unwrap().unwrap().last_seen_at,
        Some(100_000)
    );
    s.touch(&d, 130_000).await.unwrap();
    assert_eq!(
        s.get_enrollment(&d).await.unwrap().unwrap().last_seen_at,
        Some(100_000)
    );
    s.touch(&d, 160_000).await.unwrap();
    assert_eq!(
        s.get_enrollment(&d).await.unwrap().unwrap().last_seen_at,
        Some(160_000)
    );
    // Never backwards.
    s.touch(&d, 10_000).await.unwrap();
    assert_eq!(
        s.get_enrollment(&d).await.unwrap().unwrap().last_seen_at,
        Some(160_000)
    );
    // Unknown enrollments are ignored.
    s.touch(&device("TOUCH-NONE"), 1).await.unwrap();
}

// --- Command queue -------------------------------------------------------------

pub async fn queue_order_and_reports(s: &dyn Store) {
    let d = enroll(s, "Q-1", 1).await;
    s.enqueue(std::slice::from_ref(&d), command("q-a", 0, 10))
        .await
        .unwrap();
    s.enqueue(std::slice::from_ref(&d), command("q-b", 5, 20))
        .await
        .unwrap();
    s.enqueue(std::slice::from_ref(&d), command("q-c", 5, 15))
        .await
        .unwrap();
    s.enqueue(std::slice::from_ref(&d), command("q-d", 0, 5))
        .await
        .unwrap();
    s.enqueue(std::slice::from_ref(&d), command("q-e", 0, 5))
        .await
        .unwrap(); // same time as d: queued later
    assert_eq!(s.queue_depth(&d).await.unwrap(), 5);

    let out = s
        .handle_report(&d, Status::Idle, None, None, 100)
        .await
        .unwrap();
    assert_eq!(out.completed, None);
    let next = out.next.unwrap();
    assert_eq!(next.uuid, "q-c");
    assert_eq!(next.request_type, "Type-q-c");
    assert_eq!(next.body, b"<plist>q-c</plist>".to_vec());

    let out = s
        .handle_report(
            &d,
            Status::Acknowledged,
            Some("q-c"),
            Some(b"<ack c/>".to_vec()),
            110,
        )
        .await
        .unwrap();
    let done = out.completed.unwrap();
    assert_eq!(done.uuid, "q-c");
    assert_eq!(done.request_type, "Type-q-c");
    assert_eq!(done.status, Status::Acknowledged);
    assert_eq!(done.deliveries, 1);
    assert_eq!(done.not_now_count, 0);
    assert_eq!(done.queued_at, 15);
    assert_eq!(out.next.unwrap().uuid, "q-b");

    // NotNow sets b aside: d, then e.
    assert_eq!(
        next_uuid(s, &d, Status::NotNow, Some("q-b"), 120)
            .await
            .as_deref(),
        Some("q-d")
    );
    assert_eq!(
        next_uuid(s, &d, Status::Error, Some("q-d"), 130)
            .await
            .as_deref(),
        Some("q-e")
    );
    assert_eq!(
        next_uuid(s, &d, Status::NotNow, Some("q-e"), 140)
            .await
            .as_deref(),
        Some("q-a")
    );
    assert_eq!(
        next_uuid(s, &d, Status::NotNow, Some("q-a"), 150).await,
        None
    );
    assert_eq!(s.queue_depth(&d).await.unwrap(), 3);
    // Idle releases what was set aside.
    assert_eq!(
        next_uuid(s, &d, Status::Idle, None, 160).await.as_deref(),
        Some("q-b")
    );
    // Unanswered, b is handed out again on the next Idle.
    assert_eq!(
        next_uuid(s, &d, Status::Idle, None, 170).await.as_deref(),
        Some("q-b")
    );
    let out = s
        .handle_report(&d, Status::CommandFormatError, Some("q-b"), None, 180)
        .await
        .unwrap();
    let done = out.completed.unwrap();
    assert_eq!(done.status, Status::CommandFormatError);
    assert_eq!(done.deliveries, 3);
    assert_eq!(done.not_now_count, 1);
    assert_eq!(out.next.unwrap().uuid, "q-e");

    // The command records.
    let c = s.get_command("q-c").await.unwrap().unwrap();
    assert_eq!(c.request_type, "Type-q-c");
    assert_eq!(c.priority, 5);
    assert_eq!(c.queued_by, "admin@example.org");
    assert_eq!(c.queued_at, 15);
    assert_eq!(c.targets.len(), 1);
    let t = &c.targets[0];
    assert_eq!(t.id, d);
    assert_eq!(t.state, EntryState::Acknowledged);
    assert_eq!(t.deliveries, 1);
    assert_eq!(t.sent_at, Some(100));
    assert_eq!(t.status_at, Some(110));
    assert_eq!(t.result, Some(b"<ack c/>".to_vec()));

    let e = s.get_command("q-e").await.unwrap().unwrap().targets[0].clone();
    assert_eq!(e.state, EntryState::Sent);
    assert_eq!(e.deliveries, 2);
    assert_eq!(e.not_now_count, 1);
    assert_eq!(e.sent_at, Some(180));
    assert_eq!(e.status_at, Some(140));
    assert_eq!(e.result, None);
    let dd = s.get_command("q-d").await.unwrap().unwrap().targets[0].clone();
    assert_eq!(dd.state, EntryState::Error);
    let a = s.get_command("q-a").await.unwrap().unwrap().targets[0].clone();
    assert_eq!(a.state, EntryState::Queued);
    assert_eq!(a.not_now_count, 1);
    assert!(s.get_command("q-none").await.unwrap().is_none());

    // An enrollment with nothing stored: Idle is an empty answer.
    let out = s
        .handle_report(&device("Q-NONE"), Status::Idle, None, None, 200)
        .await
        .unwrap();
    assert_eq!((out.completed, out.next), (None, None));
    let r = s
        .handle_report(
            &device("Q-NONE"),
            Status::Acknowledged,
            Some("q-a"),
            None,
            200,
        )
        .await;
    assert!(is_unknown_command(&r, "q-a"));
}

pub async fn bad_reports_change_nothing(s: &dyn Store) {
    let d = enroll(s, "BAD-1", 1).await;
    let other = enroll(s, "BAD-2", 1).await;
    s.enqueue(std::slice::from_ref(&d), command("bad-a", 0, 10))
        .await
        .unwrap();
    s.enqueue(std::slice::from_ref(&d), command("bad-b", 0, 11))
        .await
        .unwrap();
    s.enqueue(std::slice::from_ref(&other), command("bad-o", 0, 12))
        .await
        .unwrap();
    assert_eq!(
        next_uuid(s, &d, Status::Idle, None, 20).await.as_deref(),
        Some("bad-a")
    );
    let before_a = s.get_command("bad-a").await.unwrap();
    let before_b = s.get_command("bad-b").await.unwrap();
    let before_o = s.get_command("bad-o").await.unwrap();

    for (status, uuid) in [
        (Status::Acknowledged, "bad-nope"),
        (Status::Error, "bad-o"),
        (Status::NotNow, "bad-nope"),
        (Status::CommandFormatError, "bad-o"),
    ] {
        let r = s
            .handle_report(&d, status, Some(uuid), Some(b"x".to_vec()), 30)
            .await;
        assert!(is_unknown_command(&r, uuid), "{status}: {r:?}");
    }
    for status in [Status::Acknowledged, Status::NotNow, Status::Error] {
        let r = s.handle_report(&d, status, None, None, 30).await;
        assert!(
            matches!(r, Err(Error::Queue(QueueError::MissingCommandUuid(st))) if st == status),
            "{r:?}"
        );
    }
    // Completed commands cannot be answered again.
    assert_eq!(
        next_uuid(s, &d, Status::Acknowledged, Some("bad-a"), 40)
            .await
            .as_deref(),
        Some("bad-b")
    );
    let after_ack = s.get_command("bad-a").await.unwrap();
    let r = s
        .handle_report(&d, Status::Error, Some("bad-a"), None, 50)
        .await;
    assert!(is_unknown_command(&r, "bad-a"));
    assert_eq!(s.get_command("bad-a").await.unwrap(), after_ack);

    assert_ne!(before_a, after_ack);
    let b = s.get_command("bad-b").await.unwrap().unwrap();
    assert_eq!(b.targets[0].state, EntryState::Sent);
    assert_eq!(b.targets[0].deliveries, 1);
    assert_eq!(before_b.unwrap().targets[0].deliveries, 0);
    assert_eq!(s.get_command("bad-o").await.unwrap(), before_o);
    assert_eq!(s.queue_depth(&d).await.unwrap(), 1);
    assert_eq!(s.queue_depth(&other).await.unwrap(), 1);
}

pub async fn enqueue_is_all_or_nothing(s: &dyn Store) {
    let a = enroll(s, "ENQ-A", 1).await;
    let b = enroll(s, "ENQ-B", 1).await;
    assert!(matches!(
        s.enqueue(&[], command("enq-0", 0, 1)).await,
        Err(Error::NoTargets)
    ));
    let r = s
        .enqueue(
            &[a.clone(), device("ENQ-NONE"), b.clone()],
            command("enq-1", 0, 2),
        )
        .await;
    assert!(matches!(r, Err(Error::UnknownEnrollment(d)) if d == "ENQ-NONE"));
    assert!(s.get_command("enq-1").await.unwrap().is_none());
    assert_eq!(s.queue_depth(&a).await.unwrap(), 0);

    // The same UUID, now to known enrollments (repeats count once).
    s.enqueue(&[b.clone(), a.clone(), b.clone()], command("enq-1", 3, 3))
        .await
        .unwrap();
    let rec = s.get_command("enq-1").await.unwrap().unwrap();
    assert_eq!(rec.priority, 3);
    let ids: Vec<String> = rec.targets.iter().map(|t| t.id.to_string()).collect();
    assert_eq!(ids, ["ENQ-A", "ENQ-B"]);
    assert!(
        rec.targets
            .iter()
            .all(|t| t.state == EntryState::Queued && t.deliveries == 0 && t.sent_at.is_none())
    );

    // A UUID is never reused, even after the command completed.
    let r = s
        .enqueue(std::slice::from_ref(&a), command("enq-1", 0, 4))
        .await;
    assert!(matches!(r, Err(Error::Queue(QueueError::Duplicate(u))) if u == "enq-1"));
    assert_eq!(
        next_uuid(s, &a, Status::Idle, None, 5).await.as_deref(),
        Some("enq-1")
    );
    assert_eq!(
        next_uuid(s, &a, Status::Acknowledged, Some("enq-1"), 6).await,
        None
    );
    let r = s
        .enqueue(std::slice::from_ref(&a), command("enq-1", 0, 7))
        .await;
    assert!(matches!(r, Err(Error::Queue(QueueError::Duplicate(_)))));
    // Each enrollment answers for itself.
    assert_eq!(
        next_uuid(s, &b, Status::Idle, None, 8).await.as_deref(),
        Some("enq-1")
    );
}

pub async fn cancel_commands(s: &dyn Store) {
    let a = enroll(s, "CAN-A", 1).await;
    let b = enroll(s, "CAN-B", 1).await;
    let c = enroll(s, "CAN-C", 1).await;
    s.enqueue(&[a.clone(), b.clone(), c.clone()], command("can-1", 0, 10))
        .await
        .unwrap();
    s.enqueue(std::slice::from_ref(&a), command("can-2", 0, 11))
        .await
        .unwrap();
    // a completes can-1; b has it sent; c has it queued.
    assert_eq!(
        next_uuid(s, &a, Status::Idle, None, 20).await.as_deref(),
        Some("can-1")
    );
    assert_eq!(
        next_uuid(s, &a, Status::Acknowledged, Some("can-1"), 21)
            .await
            .as_deref(),
        Some("can-2")
    );
    assert_eq!(
        next_uuid(s, &b, Status::Idle, None, 22).await.as_deref(),
        Some("can-1")
    );

    assert_eq!(s.cancel_command("can-1", Some(&c), 30).await.unwrap(), 1);
    assert_eq!(s.cancel_command("can-1", Some(&c), 31).await.unwrap(), 0);
    assert_eq!(s.cancel_command("can-1", Some(&a), 31).await.unwrap(), 0);
    assert_eq!(s.cancel_command("can-1", None, 32).await.unwrap(), 1); // b
    assert_eq!(s.cancel_command("can-none", None, 33).await.unwrap(), 0);
    assert_eq!(
        s.cancel_command("can-2", Some(&device("CAN-NONE")), 33)
            .await
            .unwrap(),
        0
    );

    let rec = s.get_command("can-1").await.unwrap().unwrap();
    let states: Vec<(EntryState, Option<i64>)> =
        rec.targets.iter().map(|t| (t.state, t.status_at)).collect();
    assert_eq!(
        states,
        [
            (EntryState::Acknowledged, Some(21)),
            (EntryState::Cancelled, Some(32)),
            (EntryState::Cancelled, Some(30)),
        ]
    );
    // A cancelled command is neither handed out nor answerable.
    assert_eq!(next_uuid(s, &b, Status::Idle, None, 40).await, None);
    let r = s
        .handle_report(&b, Status::Acknowledged, Some("can-1"), None, 41)
        .await;
    assert!(is_unknown_command(&r, "can-1"));
    assert_eq!(next_uuid(s, &c, Status::Idle, None, 42).await, None);
    // A sent command can be cancelled too.
    assert_eq!(s.cancel_command("can-2", None, 43).await.unwrap(), 1);
    assert_eq!(next_uuid(s, &a, Status::Idle, None, 44).await, None);
}

/// Needs a store of its own (counts every queue).
pub async fn queue_depths(s: &dyn Store) {
    assert_eq!(s.queue_depth_total().await.unwrap(), 0);
    let a = enroll(s, "QD-A", 1).await;
    let b = enroll(s, "QD-B", 1).await;
    s.enqueue(&[a.clone(), b.clone()], command("qd-1", 0, 1))
        .await
        .unwrap();
    s.enqueue(std::slice::from_ref(&a), command("qd-2", 0, 2))
        .await
        .unwrap();
    s.enqueue(std::slice::from_ref(&a), command("qd-3", 0, 3))
        .await
        .unwrap();
    assert_eq!(s.queue_depth_total().await.unwrap(), 4);
    assert_eq!(s.queue_depth(&a).await.unwrap(), 3);
    assert_eq!(s.queue_depth(&b).await.unwrap(), 1);
    assert_eq!(s.queue_depth(&device("QD-NONE")).await.unwrap(), 0);
    // Sent and NotNow entries still count; completed and cancelled do not.
    next_uuid(s, &a, Status::Idle, None, 10).await;
    next_uuid(s, &a, Status::NotNow, Some("qd-1"), 11).await;
    assert_eq!(s.queue_depth(&a).await.unwrap(), 3);
    next_uuid(s, &a, Status::Acknowledged, Some("qd-2"), 12).await;
    s.cancel_command("qd-3", None, 13).await.unwrap();
    assert_eq!(s.queue_depth(&a).await.unwrap(), 1);
    assert_eq!(s.queue_depth_total().await.unwrap(), 2);
}

// --- Inventory and audit ---------------------------------------------------------

pub async fn inventory_replaces_per_kind(s: &dyn Store) {
    let d = enroll(s, "INVT-1", 1).await;
    let u = enroll_user(s, "INVT-1", "U", 2).await;
    assert!(s.get_inventory(&d).await.unwrap().kinds.is_empty());
    assert!(matches!(
        s.get_inventory(&device("INVT-NONE")).await,
        Err(Error::UnknownEnrollment(_))
    ));
    assert!(matches!(
        s.put_inventory(&device("INVT-NONE"), InventoryKind::Profiles, &json!([]), 1)
            .await,
        Err(Error::UnknownEnrollment(_))
    ));

    let info = json!({
        "QueryResponses": {
            "SerialNumber": "C02NEW",
            "OSVersion": "15.0",
            "DeviceName": "Renamed Mac",
            "BatteryLevel": 0.5,
            "IsSupervised": true,
            "Name": "ünïcødé \u{0}"
        }
    });
    s.put_inventory(&d, InventoryKind::DeviceInformation, &info, 100)
        .await
        .unwrap();
    let apps = json!([{"Identifier": "com.example.a", "Version": "1.0"}]);
    s.put_inventory(&d, InventoryKind::InstalledApplications, &apps, 110)
        .await
        .unwrap();
    let apps2 =
        json!([{"Identifier": "com.example.b", "Version": "2.0", "BundleSize": 12345678901_i64}]);
    s.put_inventory(&d, InventoryKind::InstalledApplications, &apps2, 120)
        .await
        .unwrap();
    s.put_inventory(
        &u,
        InventoryKind::Profiles,
        &json!([{"PayloadIdentifier": "p"}]),
        130,
    )
    .await
    .unwrap();

    let inv = s.get_inventory(&d).await.unwrap();
    assert_eq!(inv.kinds.len(), 2);
    let di = &inv.kinds[&InventoryKind::DeviceInformation];
    assert_eq!(di.data, info);
    assert_eq!(di.updated_at, 100);
    let ia = &inv.kinds[&InventoryKind::InstalledApplications];
    assert_eq!(ia.data, apps2);
    assert_eq!(ia.updated_at, 120);
    let inv_u = s.get_inventory(&u).await.unwrap();
    assert_eq!(
        inv_u.kinds.keys().copied().collect::<Vec<_>>(),
        [InventoryKind::Profiles]
    );

    // The summary columns follow DeviceInformation; keys it lacks keep
    // their values.
    let e = s.get_enrollment(&d).await.unwrap().unwrap();
    assert_eq!(e.serial_number.as_deref(), Some("C02NEW"));
    assert_eq!(e.os_version.as_deref(), Some("15.0"));
    assert_eq!(e.device_name.as_deref(), Some("Renamed Mac"));
    assert_eq!(e.model.as_deref(), Some("MacBookPro18,3"));
    s.put_inventory(
        &d,
        InventoryKind::DeviceInformation,
        &json!({"OSVersion": "15.1"}),
        140,
    )
    .await
    .unwrap();
    let e = s.get_enrollment(&d).await.unwrap().unwrap();
    assert_eq!(e.os_version.as_deref(), Some("15.1"));
    assert_eq!(e.serial_number.as_deref(), Some("C02NEW"));
    // Other kinds leave the summary alone.
    s.put_inventory(
        &d,
        InventoryKind::SecurityInfo,
        &json!({"OSVersion": "99"}),
        150,
    )
    .await
    .unwrap();
    assert_eq!(
        s.get_enrollment(&d)
            .await
            .unwrap()
            .unwrap()
            .os_version
            .as_deref(),
        Some("15.1")
    );
    assert_eq!(s.get_inventory(&d).await.unwrap().kinds.len(), 3);
    // Check-out keeps the inventory.
    s.check_out(&d, 200).await.unwrap();
    assert_eq!(s.get_inventory(&d).await.unwrap().kinds.len(), 3);
}

/// Needs a store of its own (lists the whole log).
pub async fn audit_log(s: &dyn Store) {
    assert!(s.list_audit(None, 10).await.unwrap().is_empty());
    let mut ids = Vec::new();
    for i in 0..25_i64 {
        let id = s
            .audit(&AuditEntry {
                at: 1_000 + i,
                actor: format!("admin{}", i % 3),
                action: "command.enqueue".into(),
                target: format!("DEV-{i}"),
                detail: json!({"n": i, "uuid": format!("c{i}"), "nested": {"ok": true}}),
            })
            .await
            .unwrap();
        ids.push(id);
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    let first = s.list_audit(None, 10).await.unwrap();
    assert_eq!(first.len(), 10);
    assert_eq!(first[0].id, ids[0]);
    assert_eq!(first[0].entry.at, 1_000);
    assert_eq!(first[0].entry.actor, "admin0");
    assert_eq!(first[0].entry.target, "DEV-0");
    assert_eq!(
        first[0].entry.detail,
        json!({"n": 0, "uuid": "c0", "nested": {"ok": true}})
    );
    let mut all = first.clone();
    let mut after = first.last().map(|r| r.id);
    loop {
        let page = s.list_audit(after, 10).await.unwrap();
        if page.is_empty() {
            break;
        }
        after = page.last().map(|r| r.id);
        all.extend(page);
    }
    assert_eq!(all.iter().map(|r| r.id).collect::<Vec<_>>(), ids);
    assert_eq!(all[24].entry.detail["n"], 24);
    // The limit is clamped to at least one.
    assert_eq!(s.list_audit(None, 0).await.unwrap().len(), 1);
}

/// Needs a store of its own (counts and lists every enrollment).
pub async fn keyset_pagination(s: &dyn Store) {
    let mut expected = Vec::new();
    for i in 0..1_000 {
        let name = format!("DEV-{:04}", (i * 7919) % 1_000); // not in insertion order
        s.authenticate(&auth_record(&name, i64::from(i)))
            .await
            .unwrap();
        let id = device(&name);
        if i % 2 == 0 {
            s.token_update(&id, &token_record(name.as_bytes(), 5_000))
                .await
                .unwrap();
        }
        expected.push((id.clone(), i % 2 == 0));
        if i % 10 == 0 {
            let u = enroll_user(s, &name, "USER", 6_000).await;
            expected.push((u, true));
        }
    }
    expected.sort_by(|a, b| {
        (a.0.device.as_str(), a.0.user.as_deref().unwrap_or(""))
            .cmp(&(b.0.device.as_str(), b.0.user.as_deref().unwrap_or("")))
    });
    assert_eq!(expected.len(), 1_100);
    assert_eq!(s.count_enrollments(false).await.unwrap(), 1_100);
    assert_eq!(s.count_enrollments(true).await.unwrap(), 600);

    for enrolled_only in [false, true] {
        let want: Vec<EnrollmentId> = expected
            .iter()
            .filter(|(_, e)| !enrolled_only || *e)
            .map(|(id, _)| id.clone())
            .collect();
        let mut got = Vec::new();
        let mut query = ListQuery {
            after: None,
            limit: 97,
            enrolled_only,
        };
        let mut pages = 0;
        loop {
            let page = s.list_enrollments(&query).await.unwrap();
            pages += 1;
            assert!(page.items.len() <= 97);
            assert!(page.items.iter().all(|e| !enrolled_only || e.enrolled));
            got.extend(page.items.into_iter().map(|e| e.id));
            match page.next {
                Some(next) => {
                    assert_eq!(Some(&next), got.last());
                    query.after = Some(next);
                }
                None => break,
            }
            assert!(pages < 100, "pagination does not end");
        }
        assert_eq!(got, want, "enrolled_only={enrolled_only}");
        assert_eq!(pages, want.len().div_ceil(97));
    }
    // An exact last page says there is no next one.
    let page = s
        .list_enrollments(&ListQuery {
            after: Some(expected[1_099 - 5].0.clone()),
            limit: 5,
            enrolled_only: false,
        })
        .await
        .unwrap();
    assert_eq!(page.items.len(), 5);
    assert_eq!(page.next, None);
    // A user channel's row comes right after its device channel.
    let first = s
        .list_enrollments(&ListQuery {
            after: None,
            limit: 2,
            enrolled_only: false,
        })
        .await
        .unwrap();
    assert_eq!(first.items[0].id, device("DEV-0000"));
    assert_eq!(first.items[1].id, user("DEV-0000", "USER"));
}

pub async fn health(s: &dyn Store) {
    s.health().await.unwrap();
}

// --- The queue against the reference state machine --------------------------------

/// The enrollments the model drives: a device channel, its user channel, and
/// another device.
const TARGETS: usize = 3;

#[derive(Clone, Debug)]
pub enum Pick {
    /// The command last handed to this enrollment.
    LastSent,
    /// Any command created so far (possibly another enrollment's, completed
    /// or cancelled).
    Any(usize),
    /// A UUID never queued.
    Unknown,
}

#[derive(Clone, Debug)]
pub enum Op {
    Enqueue {
        targets: Vec<usize>,
        priority: i32,
        dt: u8,
    },
    EnqueueDuplicate {
        target: usize,
        pick: usize,
    },
    Idle {
        target: usize,
    },
    Answer {
        target: usize,
        status: Status,
        pick: Pick,
    },
    AnswerWithoutUuid {
        target: usize,
        status: Status,
    },
    Cancel {
        target: Option<usize>,
        pick: usize,
    },
}

fn answer_status() -> impl Strategy<Value = Status> {
    prop_oneof![
        3 => Just(Status::Acknowledged),
        1 => Just(Status::Error),
        1 => Just(Status::CommandFormatError),
        3 => Just(Status::NotNow),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let target = 0..TARGETS;
    prop_oneof![
        4 => (
            proptest::sample::subsequence((0..TARGETS).collect::<Vec<_>>(), 1..=TARGETS),
            -2..=2_i32,
            0..3_u8
        )
            .prop_map(|(targets, priority, dt)| Op::Enqueue { targets, priority, dt }),
        1 => (target.clone(), any::<usize>())
            .prop_map(|(target, pick)| Op::EnqueueDuplicate { target, pick }),
        4 => target.clone().prop_map(|target| Op::Idle { target }),
        8 => (
            target.clone(),
            answer_status(),
            prop_oneof![
                6 => Just(Pick::LastSent),
                2 => any::<usize>().prop_map(Pick::Any),
                1 => Just(Pick::Unknown),
            ]
        )
            .prop_map(|(target, status, pick)| Op::Answer { target, status, pick }),
        1 => (target.clone(), answer_status())
            .prop_map(|(target, status)| Op::AnswerWithoutUuid { target, status }),
        1 => (proptest::option::of(target), any::<usize>())
            .prop_map(|(target, pick)| Op::Cancel { target, pick }),
    ]
}

pub fn ops() -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(op(), 1..60)
}

fn state_of(s: CommandState) -> EntryState {
    match s {
        CommandState::Pending => EntryState::Queued,
        CommandState::Sent => EntryState::Sent,
        CommandState::NotNow => EntryState::NotNow,
    }
}

/// Runs `ops` against `store` and the reference queues and checks that
/// they agree at every step. `tag` keeps the ids of this case apart from
/// other cases sharing the store.
pub async fn queue_matches_reference(s: &dyn Store, tag: &str, ops: &[Op]) {
    let dev_a = format!("{tag}-A");
    let ids = [
        device(&dev_a),
        user(&dev_a, "U"),
        device(&format!("{tag}-B")),
    ];
    enroll(s, &dev_a, 0).await;
    enroll_user(s, &dev_a, "U", 0).await;
    enroll(s, &format!("{tag}-B"), 0).await;

    let mut model: Vec<CommandQueue> = (0..TARGETS).map(|_| CommandQueue::new()).collect();
    let mut last_sent: Vec<Option<String>> = vec![None; TARGETS];
    let mut uuids: Vec<String> = Vec::new();
    let mut clock: u64 = 1_000;

    for (step, op) in ops.iter().enumerate() {
        clock += 1;
        let now = clock as i64;
        let ctx = format!("step {step}: {op:?}");
        match op {
            Op::Enqueue {
                targets,
                priority,
                dt,
            } => {
                clock += u64::from(*dt);
                let uuid = format!("{tag}-c{}", uuids.len());
                for t in targets {
                    model[*t].enqueue(uuid.clone(), *priority, clock).unwrap();
                }
                let to: Vec<EnrollmentId> = targets.iter().map(|t| ids[*t].clone()).collect();
                s.enqueue(&to, command(&uuid, *priority, clock as i64))
                    .await
                    .unwrap_or_else(|e| panic!("{ctx}: {e}"));
                uuids.push(uuid);
            }
            Op::EnqueueDuplicate { target, pick } => {
                if uuids.is_empty() {
                    continue;
                }
                let uuid = &uuids[pick % uuids.len()];
                let r = s
                    .enqueue(&[ids[*target].clone()], command(uuid, 0, now))
                    .await;
                assert!(
                    matches!(&r, Err(Error::Queue(QueueError::Duplicate(u))) if u == uuid),
                    "{ctx}: {r:?}"
                );
            }
            Op::Idle { target }
            | Op::AnswerWithoutUuid { target, .. }
            | Op::Answer { target, .. } => {
                let (status, uuid) = match op {
                    Op::Idle { .. } => (Status::Idle, None),
                    Op::AnswerWithoutUuid { status, .. } => (*status, None),
                    Op::Answer { status, pick, .. } => {
                        let uuid = match pick {
                            Pick::LastSent => last_sent[*target].clone(),
                            Pick::Any(i) if !uuids.is_empty() => {
                                Some(uuids[i % uuids.len()].clone())
                            }
                            _ => None,
                        }
                        .unwrap_or_else(|| format!("{tag}-unknown"));
                        (*status, Some(uuid))
                    }
                    _ => unreachable!(),
                };
                let want = model[*target].handle_report(status, uuid.as_deref());
                let result = status
                    .is_final()
                    .then(|| format!("{status}:{uuid:?}").into_bytes());
                let got = s
                    .handle_report(&ids[*target], status, uuid.as_deref(), result, now)
                    .await;
                match (want, got) {
                    (Ok(want), Ok(got)) => {
                        let want_next = match want.next {
                            Next::Command(u) => Some(u),
                            Next::Empty => None,
                        };
                        let got_next = got.next.as_ref().map(|n| n.uuid.clone());
                        assert_eq!(got_next, want_next, "{ctx}");
                        if let Some(n) = &got.next {
                            assert_eq!(n.body, format!("<plist>{}</plist>", n.uuid).into_bytes());
                            last_sent[*target] = Some(n.uuid.clone());
                        }
                        let want_done = want
                            .completed
                            .map(|(c, st)| (c.uuid, st, c.deliveries, c.not_now_count));
                        let got_done = got
                            .completed
                            .map(|c| (c.uuid, c.status, c.deliveries, c.not_now_count));
                        assert_eq!(got_done, want_done, "{ctx}");
                    }
                    (Err(want), Err(Error::Queue(got))) => assert_eq!(got, want, "{ctx}"),
                    (want, got) => panic!("{ctx}: reference {want:?}, store {got:?}"),
                }
            }
            Op::Cancel { target, pick } => {
                if uuids.is_empty() {
                    continue;
                }
                let uuid = &uuids[pick % uuids.len()];
                let want: usize = match target {
                    Some(t) => usize::from(model[*t].cancel(uuid).is_some()),
                    None => model
                        .iter_mut()
                        .map(|q| usize::from(q.cancel(uuid).is_some()))
                        .sum(),
                };
                let got = s
                    .cancel_command(uuid, target.map(|t| &ids[t]), now)
                    .await
                    .unwrap();
                assert_eq!(got, want, "{ctx}");
            }
        }
        for t in 0..TARGETS {
            let depth = s.queue_depth(&ids[t]).await.unwrap();
            assert_eq!(depth, model[t].len() as u64, "{ctx}: depth of {}", ids[t]);
        }
    }

    // Every entry's state and counters agree.
    for uuid in &uuids {
        let rec = s.get_command(uuid).await.unwrap().unwrap();
        let by_id: HashMap<&EnrollmentId, _> = rec.targets.iter().map(|t| (&t.id, t)).collect();
        for t in 0..TARGETS {
            let entry = by_id.get(&ids[t]);
            match (model[t].get(uuid), entry) {
                (Some(q), Some(e)) => {
                    assert_eq!(e.state, state_of(q.state), "{uuid} for {}", ids[t]);
                    assert_eq!(e.deliveries, q.deliveries, "{uuid} for {}", ids[t]);
                    assert_eq!(e.not_now_count, q.not_now_count, "{uuid} for {}", ids[t]);
                }
                (None, Some(e)) => assert!(!e.state.is_open(), "{uuid} for {}", ids[t]),
                (None, None) => {}
                (Some(_), None) => panic!("{uuid} missing for {}", ids[t]),
            }
        }
    }
}

/// Runs [`queue_matches_reference`] on `cases` random sequences. `store`
/// gives the store for each case (a fresh one, or a shared one: every case
/// uses its own ids).
pub fn run_queue_model(
    rt: &tokio::runtime::Runtime,
    cases: u32,
    store: impl Fn() -> Arc<dyn Store>,
) {
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let n = std::sync::atomic::AtomicU64::new(0);
    let r = runner.run(&ops(), |ops| {
        let case = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let s = store();
        let tag = format!("pm{case}");
        rt.block_on(queue_matches_reference(&*s, &tag, &ops));
        Ok(())
    });
    if let Err(e) = r {
        panic!("the store and the reference queue disagree: {e}");
    }
}

/// The names of the suite's async tests, for the backends' test files.
#[macro_export]
macro_rules! for_each_conformance_test {
    ($m:ident) => {
        $m!(
            enrollment_lifecycle,
            invalid_ids_are_refused,
            user_channels_are_separate,
            reauthenticate_cancels_open_commands,
            identity_binding,
            bootstrap_token_escrow,
            push_results_and_targets,
            push_results_mark_only_the_token_pushed,
            push_results_keep_tokens_updated_after_unregistered,
            push_results_in_batches,
            enrolled_topics_are_counted,
            commands_are_queued_in_batches,
            touch_is_throttled,
            queue_order_and_reports,
            bad_reports_change_nothing,
            enqueue_is_all_or_nothing,
            cancel_commands,
            queue_depths,
            inventory_replaces_per_kind,
            audit_log,
            sup_publications,
            keyset_pagination,
            health,
            dep_links_lifecycle,
            dep_link_errors,
            dep_device_upsert,
            dep_device_batches_are_bounded,
            dep_device_lookup,
            dep_assignment_flow,
            dep_assignment_retries,
            dep_profile_requeue,
            dep_device_listing,
            dep_listing_under_concurrent_inserts,
            dep_events_and_prune,
            dep_delete_cascades,
            vpp_tokens_lifecycle,
            vpp_token_errors,
            vpp_asset_walks,
            vpp_asset_counts_and_metadata,
            vpp_asset_listing,
            vpp_assignment_requests,
            vpp_request_restarts,
            vpp_assignment_transitions,
            vpp_assignment_listing,
            vpp_notifications_are_remembered,
            vpp_delete_cascades,
        );
    };
}
