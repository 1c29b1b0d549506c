//! The conformance cases of Automated Device Enrollment: links, devices,
//! assignment state, history.

use std::collections::HashSet;

use pippin_store::{
    AssignStatus, DepAssignFailure, DepAssignment, DepDeviceQuery, DepDeviceRecord,
    DepFailureOutcome, DepPhase, DepRetryPolicy, Error, MAX_DEP_BATCH, MAX_PAGE, NewDepLink, Store,
    UpsertOutcome,
};
use serde_json::json;

pub fn new_link(name: &str, token: &str, now: i64) -> NewDepLink {
    NewDepLink {
        name: name.to_owned(),
        token_sealed: format!("sealed:{token}"),
        token_expiry: Some(now + 365 * 86_400_000),
        consumer_key: format!("CK_{token}"),
        now,
    }
}

/// A device record as a fetch (`op: None`) or sync page carries it.
pub fn record(serial: &str, op: Option<&str>) -> DepDeviceRecord {
    let raw = json!({
        "serial_number": serial,
        "model": "MacBook Air",
        "description": "MBA 13\" M2 8C CPU 8C GPU 8GB 256GB",
        "color": "MIDNIGHT",
        "asset_tag": format!("TAG-{serial}"),
        "os": "OSX",
        "device_family": "Mac",
        "profile_status": "empty",
        "device_assigned_date": "2024-03-01T10:00:00Z",
        "device_assigned_by": "it@example.org",
        "op_type": op,
        "op_date": op.map(|_| "2024-03-02T11:00:00Z"),
    });
    DepDeviceRecord {
        serial_number: serial.to_owned(),
        model: Some("MacBook Air".into()),
        description: Some("MBA 13\" M2 8C CPU 8C GPU 8GB 256GB".into()),
        color: Some("MIDNIGHT".into()),
        asset_tag: Some(format!("TAG-{serial}")),
        os: Some("OSX".into()),
        device_family: Some("Mac".into()),
        profile_status: Some("empty".into()),
        profile_uuid: None,
        profile_assign_time: None,
        profile_push_time: None,
        device_assigned_date: Some("2024-03-01T10:00:00Z".into()),
        device_assigned_by: Some("it@example.org".into()),
        op_type: op.map(str::to_owned),
        op_date: op.map(|_| "2024-03-02T11:00:00Z".to_owned()),
        raw_json: raw.to_string(),
    }
}

/// A sparse `deleted` sync record, as Apple sends for a removed device.
pub fn deleted(serial: &str) -> DepDeviceRecord {
    DepDeviceRecord {
        serial_number: serial.to_owned(),
        op_type: Some("deleted".into()),
        op_date: Some("2024-04-01T09:00:00Z".into()),
        raw_json: json!({"serial_number": serial, "op_type": "deleted",
                         "op_date": "2024-04-01T09:00:00Z"})
        .to_string(),
        ..Default::default()
    }
}

fn is_unknown_link<T: std::fmt::Debug>(r: &Result<T, Error>, name: &str) -> bool {
    matches!(r, Err(Error::UnknownDepLink(n)) if n == name)
}

fn is_invalid_name<T: std::fmt::Debug>(r: &Result<T, Error>) -> bool {
    matches!(r, Err(Error::InvalidDepLinkName(_)))
}

fn assignment(status: AssignStatus, now: i64) -> DepAssignment {
    DepAssignment {
        status,
        detail: None,
        profile_uuid: Some("PROFILE-1".into()),
        retry_after: None,
        now,
    }
}

fn serials(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i:05}")).collect()
}

async fn put_devices(s: &dyn Store, link: &str, serials: &[String], now: i64) {
    for chunk in serials.chunks(MAX_DEP_BATCH) {
        let recs: Vec<_> = chunk.iter().map(|x| record(x, None)).collect();
        s.upsert_dep_devices(link, &recs, now).await.unwrap();
    }
}

// --- Links ------------------------------------------------------------------------

pub async fn dep_links_lifecycle(s: &dyn Store) {
    assert_eq!(s.get_dep_link("main").await.unwrap(), None);
    assert!(s.list_dep_links().await.unwrap().is_empty());

    assert!(
        s.put_dep_link(&new_link("main", "t1", 1_000))
            .await
            .unwrap()
    );
    let l = s.get_dep_link("main").await.unwrap().unwrap();
    assert_eq!(l.name, "main");
    assert_eq!(l.token_sealed, "sealed:t1");
    assert_eq!(l.token_expiry, Some(1_000 + 365 * 86_400_000));
    assert_eq!(l.consumer_key, "CK_t1");
    assert_eq!(l.phase, DepPhase::Fetch);
    assert_eq!(
        (l.cursor, l.cursor_at, l.last_sync_at, l.last_sync_ok),
        (None, None, None, None)
    );
    assert_eq!((l.account_json, l.server_name), (None, None));
    assert_eq!((l.profile_uuid, l.profile_hash), (None, None));
    assert_eq!((l.created_at, l.updated_at), (1_000, 1_000));

    s.set_dep_cursor("main", Some("cursor-1"), DepPhase::Fetch, 2_000)
        .await
        .unwrap();
    s.set_dep_cursor("main", Some("cursor-2"), DepPhase::Sync, 2_100)
        .await
        .unwrap();
    s.record_dep_sync("main", false, Some("503 from Apple"), 2_200)
        .await
        .unwrap();
    let account = json!({"server_name": "Pippin", "server_uuid": "UUID-1",
                         "org_name": "Example", "admin_id": "it@example.org"})
    .to_string();
    s.set_dep_account(
        "main",
        Some(&account),
        Some("Pippin"),
        Some("UUID-1"),
        Some("Example"),
        2_300,
    )
    .await
    .unwrap();
    s.set_dep_profile("main", Some("PROFILE-1"), Some("sha256:abc"), 2_400)
        .await
        .unwrap();
    let l = s.get_dep_link("main").await.unwrap().unwrap();
    assert_eq!(l.cursor.as_deref(), Some("cursor-2"));
    assert_eq!(l.phase, DepPhase::Sync);
    assert_eq!(l.cursor_at, Some(2_100));
    assert_eq!(l.last_sync_at, Some(2_200));
    assert_eq!(l.last_sync_ok, Some(false));
    assert_eq!(l.last_error.as_deref(), Some("503 from Apple"));
    assert_eq!(l.account_json.as_deref(), Some(account.as_str()));
    assert_eq!(l.server_name.as_deref(), Some("Pippin"));
    assert_eq!(l.server_uuid.as_deref(), Some("UUID-1"));
    assert_eq!(l.org_name.as_deref(), Some("Example"));
    assert_eq!(l.profile_uuid.as_deref(), Some("PROFILE-1"));
    assert_eq!(l.profile_hash.as_deref(), Some("sha256:abc"));
    assert_eq!(l.updated_at, 2_400);

    // A success clears the error; a cursor can be cleared (start over).
    s.record_dep_sync("main", true, None, 3_000).await.unwrap();
    let l = s.get_dep_link("main").await.unwrap().unwrap();
    assert_eq!((l.last_sync_ok, l.last_error), (Some(true), None));

    // A new token keeps everything else, devices included.
    put_devices(s, "main", &serials("LNK", 3), 3_100).await;
    assert!(
        !s.put_dep_link(&new_link("main", "t2", 4_000))
            .await
            .unwrap()
    );
    let l = s.get_dep_link("main").await.unwrap().unwrap();
    assert_eq!(l.token_sealed, "sealed:t2");
    assert_eq!(l.consumer_key, "CK_t2");
    assert_eq!(l.cursor.as_deref(), Some("cursor-2"));
    assert_eq!(l.phase, DepPhase::Sync);
    assert_eq!(l.profile_uuid.as_deref(), Some("PROFILE-1"));
    assert_eq!(l.server_name.as_deref(), Some("Pippin"));
    assert_eq!((l.created_at, l.updated_at), (1_000, 4_000));
    assert_eq!(s.count_dep_devices("main").await.unwrap().total(), 3);

    s.set_dep_cursor("main", None, DepPhase::Fetch, 4_100)
        .await
        .unwrap();
    s.set_dep_account("main", None, None, None, None, 4_200)
        .await
        .unwrap();
    s.set_dep_profile("main", None, None, 4_300).await.unwrap();
    let l = s.get_dep_link("main").await.unwrap().unwrap();
    assert_eq!((l.cursor, l.phase), (None, DepPhase::Fetch));
    assert_eq!((l.account_json, l.server_uuid), (None, None));
    assert_eq!((l.profile_uuid, l.profile_hash), (None, None));

    // Listing in byte order of the names.
    assert!(
        s.put_dep_link(&new_link("b-site", "t3", 5_000))
            .await
            .unwrap()
    );
    assert!(
        s.put_dep_link(&new_link("A.site_2", "t4", 5_000))
            .await
            .unwrap()
    );
    let names: Vec<String> = s
        .list_dep_links()
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.name)
        .collect();
    assert_eq!(names, ["A.site_2", "b-site", "main"]);

    assert!(s.delete_dep_link("b-site").await.unwrap());
    assert!(!s.delete_dep_link("b-site").await.unwrap());
    assert_eq!(s.get_dep_link("b-site").await.unwrap(), None);
    assert_eq!(s.list_dep_links().await.unwrap().len(), 2);
}

pub async fn dep_link_errors(s: &dyn Store) {
    // Unknown links: every change is refused, reads answer "none".
    let r = s.set_dep_cursor("nope", Some("c"), DepPhase::Sync, 1).await;
    assert!(is_unknown_link(&r, "nope"), "{r:?}");
    let r = s.record_dep_sync("nope", true, None, 1).await;
    assert!(is_unknown_link(&r, "nope"), "{r:?}");
    let r = s
        .set_dep_account("nope", Some("{}"), None, None, None, 1)
        .await;
    assert!(is_unknown_link(&r, "nope"), "{r:?}");
    let r = s.set_dep_profile("nope", Some("P"), None, 1).await;
    assert!(is_unknown_link(&r, "nope"), "{r:?}");
    let r = s.upsert_dep_devices("nope", &[record("X1", None)], 1).await;
    assert!(is_unknown_link(&r, "nope"), "{r:?}");
    let r = s.upsert_dep_devices("nope", &[], 1).await;
    assert!(is_unknown_link(&r, "nope"), "{r:?}");
    let r = s
        .set_dep_assignment(
            "nope",
            &["X1".to_owned()],
            &assignment(AssignStatus::Assigned, 1),
        )
        .await;
    assert!(is_unknown_link(&r, "nope"), "{r:?}");
    let r = s.dep_devices_to_assign("nope", 1, 10).await;
    assert!(is_unknown_link(&r, "nope"), "{r:?}");
    let r = s.count_dep_devices("nope").await;
    assert!(is_unknown_link(&r, "nope"), "{r:?}");
    let r = s.dep_device_events("nope", "X1", 10).await;
    assert!(is_unknown_link(&r, "nope"), "{r:?}");
    let r = s
        .list_dep_devices(&DepDeviceQuery {
            link: Some("nope".into()),
            ..Default::default()
        })
        .await;
    assert!(is_unknown_link(&r, "nope"), "{r:?}");
    assert_eq!(s.get_dep_device("nope", "X1").await.unwrap(), None);
    assert!(s.find_dep_device("X1").await.unwrap().is_empty());
    assert!(!s.delete_dep_link("nope").await.unwrap());

    // Names: 1 to 64 of [A-Za-z0-9._-].
    for bad in [
        "",
        "has space",
        "a/b",
        "ümlaut",
        "semi;colon",
        &"x".repeat(65),
    ] {
        let r = s.put_dep_link(&new_link(bad, "t", 1)).await;
        assert!(is_invalid_name(&r), "{bad:?}: {r:?}");
        assert!(is_invalid_name(&s.get_dep_link(bad).await), "{bad:?}");
        assert!(is_invalid_name(&s.delete_dep_link(bad).await), "{bad:?}");
        assert!(is_invalid_name(
            &s.set_dep_cursor(bad, None, DepPhase::Fetch, 1).await
        ));
        assert!(is_invalid_name(&s.upsert_dep_devices(bad, &[], 1).await));
        assert!(is_invalid_name(&s.get_dep_device(bad, "X").await));
        assert!(is_invalid_name(&s.count_dep_devices(bad).await));
        assert!(is_invalid_name(
            &s.list_dep_devices(&DepDeviceQuery {
                link: Some(bad.to_owned()),
                ..Default::default()
            })
            .await
        ));
    }
    let longest = "x".repeat(64);
    assert!(s.put_dep_link(&new_link(&longest, "t", 1)).await.unwrap());
    assert!(s.get_dep_link(&longest).await.unwrap().is_some());
    assert!(s.list_dep_links().await.unwrap().len() == 1);
}

// --- Devices ------------------------------------------------------------------------

pub async fn dep_device_upsert(s: &dyn Store) {
    s.put_dep_link(&new_link("abm", "t", 1)).await.unwrap();
    // A fetch page: every device is new and pending.
    let page: Vec<_> = ["C02A", "C02B", "C02C"]
        .iter()
        .map(|x| record(x, None))
        .collect();
    let o = s.upsert_dep_devices("abm", &page, 100).await.unwrap();
    assert_eq!(
        o,
        UpsertOutcome {
            new: 3,
            updated: 0,
            deleted: 0,
            pending: vec!["C02A".into(), "C02B".into(), "C02C".into()],
        }
    );
    let d = s.get_dep_device("abm", "C02A").await.unwrap().unwrap();
    assert_eq!(d.link, "abm");
    assert_eq!(d.serial_number, "C02A");
    assert_eq!(d.model.as_deref(), Some("MacBook Air"));
    assert_eq!(
        d.description.as_deref(),
        Some("MBA 13\" M2 8C CPU 8C GPU 8GB 256GB")
    );
    assert_eq!(d.color.as_deref(), Some("MIDNIGHT"));
    assert_eq!(d.asset_tag.as_deref(), Some("TAG-C02A"));
    assert_eq!(d.os.as_deref(), Some("OSX"));
    assert_eq!(d.device_family.as_deref(), Some("Mac"));
    assert_eq!(d.profile_status.as_deref(), Some("empty"));
    assert_eq!(d.profile_uuid, None);
    assert_eq!(
        d.device_assigned_date.as_deref(),
        Some("2024-03-01T10:00:00Z")
    );
    assert_eq!(d.device_assigned_by.as_deref(), Some("it@example.org"));
    assert_eq!((d.op_type, d.op_date), (None, None));
    assert!(!d.deleted);
    assert_eq!(d.raw_json, page[0].raw_json);
    let raw: serde_json::Value = serde_json::from_str(&d.raw_json).unwrap();
    assert_eq!(raw["serial_number"], "C02A");
    assert_eq!(d.assign_status, AssignStatus::Pending);
    assert_eq!((d.assign_detail, d.assign_profile_uuid), (None, None));
    assert_eq!((d.assign_at, d.retry_after), (Some(100), None));
    assert_eq!((d.first_seen_at, d.updated_at), (100, 100));
    // Fetch records leave no history.
    assert!(
        s.dep_device_events("abm", "C02A", 10)
            .await
            .unwrap()
            .is_empty()
    );

    s.set_dep_assignment(
        "abm",
        &["C02A".to_owned(), "C02B".to_owned()],
        &DepAssignment {
            status: AssignStatus::Assigned,
            detail: Some("SUCCESS".into()),
            profile_uuid: Some("PROFILE-1".into()),
            retry_after: None,
            now: 150,
        },
    )
    .await
    .unwrap();

    // A sync page: a modification replaces Apple's fields and keeps ours.
    let mut modified = record("C02A", Some("modified"));
    modified.profile_status = Some("assigned".into());
    modified.profile_uuid = Some("PROFILE-1".into());
    modified.profile_assign_time = Some("2024-03-02T11:00:00Z".into());
    modified.asset_tag = None;
    let o = s
        .upsert_dep_devices(
            "abm",
            &[
                modified.clone(),
                deleted("C02B"),
                record("C02D", Some("added")),
            ],
            200,
        )
        .await
        .unwrap();
    assert_eq!(
        o,
        UpsertOutcome {
            new: 1,
            updated: 2,
            deleted: 1,
            pending: vec!["C02D".into()],
        }
    );
    let a = s.get_dep_device("abm", "C02A").await.unwrap().unwrap();
    assert_eq!(a.profile_status.as_deref(), Some("assigned"));
    assert_eq!(a.profile_uuid.as_deref(), Some("PROFILE-1"));
    assert_eq!(a.asset_tag, None, "a full record replaces the fields");
    assert_eq!(a.op_type.as_deref(), Some("modified"));
    assert_eq!(a.op_date.as_deref(), Some("2024-03-02T11:00:00Z"));
    assert_eq!(a.raw_json, modified.raw_json);
    assert_eq!(a.assign_status, AssignStatus::Assigned);
    assert_eq!(a.assign_detail.as_deref(), Some("SUCCESS"));
    assert_eq!(a.assign_profile_uuid.as_deref(), Some("PROFILE-1"));
    assert_eq!(a.assign_at, Some(150));
    assert_eq!((a.first_seen_at, a.updated_at), (100, 200));

    // A deletion marks the device deleted and keeps what Apple left out.
    let b = s.get_dep_device("abm", "C02B").await.unwrap().unwrap();
    assert!(b.deleted);
    assert_eq!(b.op_type.as_deref(), Some("deleted"));
    assert_eq!(b.op_date.as_deref(), Some("2024-04-01T09:00:00Z"));
    assert_eq!(b.model.as_deref(), Some("MacBook Air"));
    assert_eq!(b.asset_tag.as_deref(), Some("TAG-C02B"));
    assert_eq!(b.raw_json, deleted("C02B").raw_json);
    assert_eq!(
        b.assign_status,
        AssignStatus::Assigned,
        "kept while deleted"
    );
    // Deleting again changes no count.
    let o = s
        .upsert_dep_devices("abm", &[deleted("C02B")], 250)
        .await
        .unwrap();
    assert_eq!(
        o,
        UpsertOutcome {
            new: 0,
            updated: 1,
            deleted: 0,
            pending: vec![],
        }
    );

    // Back on the server: not deleted, pending again, our details cleared.
    s.set_dep_assignment(
        "abm",
        &["C02B".to_owned()],
        &DepAssignment {
            status: AssignStatus::Throttled,
            detail: Some("THROTTLED".into()),
            profile_uuid: Some("PROFILE-1".into()),
            retry_after: Some(9_999),
            now: 260,
        },
    )
    .await
    .unwrap();
    let o = s
        .upsert_dep_devices("abm", &[record("C02B", Some("added"))], 300)
        .await
        .unwrap();
    assert_eq!(o.pending, vec!["C02B".to_owned()]);
    assert_eq!((o.new, o.updated, o.deleted), (0, 1, 0));
    let b = s.get_dep_device("abm", "C02B").await.unwrap().unwrap();
    assert!(!b.deleted);
    assert_eq!(b.assign_status, AssignStatus::Pending);
    assert_eq!((b.assign_detail, b.assign_profile_uuid), (None, None));
    assert_eq!((b.assign_at, b.retry_after), (Some(300), None));
    assert_eq!(b.first_seen_at, 100);

    // One page with several records of a device: the last one counts, and
    // a removal and return within the page still makes it pending.
    let o = s
        .upsert_dep_devices(
            "abm",
            &[
                deleted("C02A"),
                record("C02E", Some("added")),
                record("C02A", Some("added")),
                record("C02F", Some("added")),
                deleted("C02F"),
                record("C02E", Some("modified")),
            ],
            400,
        )
        .await
        .unwrap();
    assert_eq!(
        o,
        UpsertOutcome {
            new: 2,
            updated: 1,
            deleted: 1,
            pending: vec!["C02A".into(), "C02E".into()],
        }
    );
    let a = s.get_dep_device("abm", "C02A").await.unwrap().unwrap();
    assert!(!a.deleted);
    assert_eq!(a.assign_status, AssignStatus::Pending);
    assert_eq!((a.assign_at, a.assign_detail), (Some(400), None));
    assert_eq!(a.op_type.as_deref(), Some("added"));
    // A device updated without coming back keeps its state.
    let c = s.get_dep_device("abm", "C02C").await.unwrap().unwrap();
    assert_eq!(
        (c.assign_status, c.assign_at),
        (AssignStatus::Pending, Some(100))
    );
    let f = s.get_dep_device("abm", "C02F").await.unwrap().unwrap();
    assert!(f.deleted);
    assert_eq!(f.first_seen_at, 400);
    let e = s.get_dep_device("abm", "C02E").await.unwrap().unwrap();
    assert_eq!(e.op_type.as_deref(), Some("modified"));

    // Every record with an op_type is history, newest first.
    let ev = s.dep_device_events("abm", "C02A", 10).await.unwrap();
    let ops: Vec<(&str, i64)> = ev.iter().map(|e| (e.op_type.as_str(), e.at)).collect();
    assert_eq!(ops, [("added", 400), ("deleted", 400), ("modified", 200)]);
    assert!(ev.windows(2).all(|w| w[0].id > w[1].id));
    assert_eq!(ev[0].link, "abm");
    assert_eq!(ev[0].serial_number, "C02A");
    assert_eq!(ev[1].op_date.as_deref(), Some("2024-04-01T09:00:00Z"));
    let ev = s.dep_device_events("abm", "C02F", 10).await.unwrap();
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0].op_type, "deleted");
    assert!(
        s.dep_device_events("abm", "NONE", 10)
            .await
            .unwrap()
            .is_empty()
    );

    // An empty page changes nothing.
    assert_eq!(
        s.upsert_dep_devices("abm", &[], 500).await.unwrap(),
        UpsertOutcome::default()
    );
}

pub async fn dep_device_batches_are_bounded(s: &dyn Store) {
    s.put_dep_link(&new_link("big", "t", 1)).await.unwrap();
    let too_many: Vec<_> = serials("BIG", MAX_DEP_BATCH + 1)
        .iter()
        .map(|x| record(x, Some("added")))
        .collect();
    let r = s.upsert_dep_devices("big", &too_many, 10).await;
    assert!(
        matches!(r, Err(Error::BatchTooLarge { len, max }) if len == MAX_DEP_BATCH + 1 && max == MAX_DEP_BATCH),
        "{r:?}"
    );
    assert_eq!(s.count_dep_devices("big").await.unwrap().total(), 0);
    // A record without a serial number spoils the page: nothing is stored.
    let bad = vec![record("OK-1", Some("added")), record("", Some("added"))];
    let r = s.upsert_dep_devices("big", &bad, 10).await;
    assert!(matches!(r, Err(Error::InvalidSerialNumber(_))), "{r:?}");
    assert_eq!(s.get_dep_device("big", "OK-1").await.unwrap(), None);
    assert!(
        s.dep_device_events("big", "OK-1", 5)
            .await
            .unwrap()
            .is_empty()
    );

    // The largest page goes in whole.
    let o = s
        .upsert_dep_devices("big", &too_many[..MAX_DEP_BATCH], 20)
        .await
        .unwrap();
    assert_eq!(o.new as usize, MAX_DEP_BATCH);
    assert_eq!(o.pending.len(), MAX_DEP_BATCH);
    assert_eq!(o.pending[0], "BIG00000");
    let c = s.count_dep_devices("big").await.unwrap();
    assert_eq!(c.get(AssignStatus::Pending), MAX_DEP_BATCH as u64);

    let all: Vec<String> = serials("BIG", MAX_DEP_BATCH + 1);
    let r = s
        .set_dep_assignment("big", &all, &assignment(AssignStatus::Assigned, 30))
        .await;
    assert!(matches!(r, Err(Error::BatchTooLarge { .. })), "{r:?}");
    assert_eq!(
        s.count_dep_devices("big")
            .await
            .unwrap()
            .get(AssignStatus::Assigned),
        0
    );
    let n = s
        .set_dep_assignment(
            "big",
            &all[..MAX_DEP_BATCH],
            &assignment(AssignStatus::Assigned, 30),
        )
        .await
        .unwrap();
    assert_eq!(n, MAX_DEP_BATCH as u64);
    // Limits are clamped.
    assert_eq!(
        s.dep_devices_to_assign("big", 40, 0).await.unwrap(),
        Vec::<String>::new()
    );
    s.upsert_dep_devices("big", &[record("BIG-NEW", None)], 50)
        .await
        .unwrap();
    assert_eq!(
        s.dep_devices_to_assign("big", 60, 0).await.unwrap(),
        ["BIG-NEW"]
    );
}

pub async fn dep_device_lookup(s: &dyn Store) {
    s.put_dep_link(&new_link("east", "t", 1)).await.unwrap();
    s.put_dep_link(&new_link("west", "t", 1)).await.unwrap();
    s.upsert_dep_devices("west", &[record("SHARED", None), record("W-1", None)], 10)
        .await
        .unwrap();
    s.upsert_dep_devices("east", &[record("SHARED", Some("added"))], 20)
        .await
        .unwrap();
    let found = s.find_dep_device("SHARED").await.unwrap();
    let links: Vec<(&str, i64)> = found
        .iter()
        .map(|d| (d.link.as_str(), d.first_seen_at))
        .collect();
    assert_eq!(links, [("east", 20), ("west", 10)]);
    assert_eq!(s.find_dep_device("W-1").await.unwrap().len(), 1);
    assert!(s.find_dep_device("NONE").await.unwrap().is_empty());
    assert!(s.get_dep_device("east", "W-1").await.unwrap().is_none());
    // History is per link.
    assert_eq!(
        s.dep_device_events("east", "SHARED", 5)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        s.dep_device_events("west", "SHARED", 5)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn dep_assignment_flow(s: &dyn Store) {
    s.put_dep_link(&new_link("asg", "t", 1)).await.unwrap();
    s.put_dep_link(&new_link("other", "t", 1)).await.unwrap();
    // A link with no devices has zero counts, not an error.
    let c = s.count_dep_devices("asg").await.unwrap();
    assert_eq!(c.total(), 0);
    assert_eq!(c.by_status.len(), AssignStatus::ALL.len());
    assert!(
        s.dep_devices_to_assign("asg", 0, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // Seen at different times, not in serial order.
    s.upsert_dep_devices("asg", &[record("S-C", None), record("S-A", None)], 100)
        .await
        .unwrap();
    s.upsert_dep_devices("asg", &[record("S-B", None)], 200)
        .await
        .unwrap();
    s.upsert_dep_devices(
        "asg",
        &[
            record("S-E", None),
            record("S-D", None),
            record("S-F", None),
        ],
        300,
    )
    .await
    .unwrap();
    s.upsert_dep_devices("other", &[record("O-1", None)], 50)
        .await
        .unwrap();
    assert_eq!(
        s.dep_devices_to_assign("asg", 1_000, 100).await.unwrap(),
        ["S-A", "S-C", "S-B", "S-D", "S-E", "S-F"]
    );
    assert_eq!(
        s.dep_devices_to_assign("asg", 1_000, 2).await.unwrap(),
        ["S-A", "S-C"]
    );

    let ok = s
        .set_dep_assignment(
            "asg",
            &["S-A".to_owned(), "S-C".to_owned(), "NOT-MINE".to_owned()],
            &DepAssignment {
                status: AssignStatus::Assigned,
                detail: Some("SUCCESS".into()),
                profile_uuid: Some("PROFILE-1".into()),
                retry_after: None,
                now: 1_100,
            },
        )
        .await
        .unwrap();
    assert_eq!(ok, 2, "unknown serial numbers are left out");
    // Another link's device of that serial is not touched.
    assert_eq!(
        s.set_dep_assignment(
            "asg",
            &["O-1".to_owned()],
            &assignment(AssignStatus::Failed, 1_100)
        )
        .await
        .unwrap(),
        0
    );
    assert_eq!(
        s.get_dep_device("other", "O-1")
            .await
            .unwrap()
            .unwrap()
            .assign_status,
        AssignStatus::Pending
    );
    assert_eq!(
        s.set_dep_assignment("asg", &[], &assignment(AssignStatus::Failed, 1))
            .await
            .unwrap(),
        0
    );
    s.set_dep_assignment(
        "asg",
        &["S-B".to_owned()],
        &DepAssignment {
            status: AssignStatus::Throttled,
            detail: Some("THROTTLED".into()),
            profile_uuid: Some("PROFILE-1".into()),
            retry_after: Some(5_000),
            now: 1_200,
        },
    )
    .await
    .unwrap();
    s.set_dep_assignment(
        "asg",
        &["S-D".to_owned()],
        &DepAssignment {
            status: AssignStatus::Throttled,
            detail: None,
            profile_uuid: None,
            retry_after: None,
            now: 1_200,
        },
    )
    .await
    .unwrap();
    s.set_dep_assignment(
        "asg",
        &["S-E".to_owned()],
        &DepAssignment {
            status: AssignStatus::NotAccessible,
            detail: Some("NOT_ACCESSIBLE".into()),
            profile_uuid: Some("PROFILE-1".into()),
            retry_after: None,
            now: 1_200,
        },
    )
    .await
    .unwrap();
    s.upsert_dep_devices("asg", &[deleted("S-F")], 1_300)
        .await
        .unwrap();

    let a = s.get_dep_device("asg", "S-A").await.unwrap().unwrap();
    assert_eq!(a.assign_status, AssignStatus::Assigned);
    assert_eq!(a.assign_detail.as_deref(), Some("SUCCESS"));
    assert_eq!(a.assign_profile_uuid.as_deref(), Some("PROFILE-1"));
    assert_eq!((a.assign_at, a.updated_at), (Some(1_100), 1_100));
    let b = s.get_dep_device("asg", "S-B").await.unwrap().unwrap();
    assert_eq!(b.assign_status, AssignStatus::Throttled);
    assert_eq!(b.retry_after, Some(5_000));

    // Throttled: due once retry_after has passed (or when none was given);
    // deleted and assigned devices never are.
    assert_eq!(
        s.dep_devices_to_assign("asg", 4_999, 10).await.unwrap(),
        ["S-D"]
    );
    assert_eq!(
        s.dep_devices_to_assign("asg", 5_000, 10).await.unwrap(),
        ["S-B", "S-D"]
    );

    let c = s.count_dep_devices("asg").await.unwrap();
    assert_eq!(c.get(AssignStatus::Assigned), 2);
    assert_eq!(c.get(AssignStatus::Throttled), 2);
    assert_eq!(c.get(AssignStatus::NotAccessible), 1);
    assert_eq!(c.get(AssignStatus::Pending), 0);
    assert_eq!(c.get(AssignStatus::Failed), 0);
    assert_eq!(c.get(AssignStatus::Skipped), 0);
    assert_eq!(c.total(), 5);
    assert_eq!(c.deleted, 1);
    let o = s.count_dep_devices("other").await.unwrap();
    assert_eq!((o.total(), o.get(AssignStatus::Pending)), (1, 1));

    // Skipped by an administrator, then pending again by hand.
    s.set_dep_assignment(
        "asg",
        &["S-D".to_owned()],
        &assignment(AssignStatus::Skipped, 6_000),
    )
    .await
    .unwrap();
    assert_eq!(
        s.dep_devices_to_assign("asg", 6_000, 10).await.unwrap(),
        ["S-B"]
    );
    s.set_dep_assignment(
        "asg",
        &["S-E".to_owned()],
        &assignment(AssignStatus::Pending, 6_100),
    )
    .await
    .unwrap();
    assert_eq!(
        s.dep_devices_to_assign("asg", 6_100, 10).await.unwrap(),
        ["S-B", "S-E"]
    );
}

fn failure(detail: &str, now: i64) -> DepAssignFailure {
    DepAssignFailure {
        detail: Some(detail.into()),
        profile_uuid: Some("PROFILE-1".into()),
        retry: DepRetryPolicy {
            first_delay_ms: 1_000,
            max_delay_ms: 5_000,
            max_attempts: 4,
        },
        now,
    }
}

pub async fn dep_assignment_retries(s: &dyn Store) {
    s.put_dep_link(&new_link("rt", "t", 1)).await.unwrap();
    s.put_dep_link(&new_link("rt2", "t", 1)).await.unwrap();
    let all = serials("R-", 4);
    put_devices(s, "rt", &all, 10).await;
    put_devices(s, "rt2", &all[..1], 10).await;
    assert_eq!(s.dep_next_assign_retry("rt").await.unwrap(), None);
    let fresh = s.get_dep_device("rt", &all[0]).await.unwrap().unwrap();
    assert_eq!((fresh.assign_attempts, fresh.retry_after), (0, None));

    // A failed request (500): every device waits the first delay.
    let o = s
        .record_dep_assign_failure("rt", &all[..3], &failure("HTTP 500", 100))
        .await
        .unwrap();
    assert_eq!(
        o,
        DepFailureOutcome {
            retrying: 3,
            gave_up: 0,
            next_retry: Some(1_100)
        }
    );
    let d = s.get_dep_device("rt", &all[0]).await.unwrap().unwrap();
    assert_eq!(d.assign_status, AssignStatus::Failed);
    assert_eq!(d.assign_detail.as_deref(), Some("HTTP 500"));
    assert_eq!(d.assign_profile_uuid.as_deref(), Some("PROFILE-1"));
    assert_eq!(
        (d.assign_attempts, d.retry_after, d.assign_at),
        (1, Some(1_100), Some(100))
    );
    // The other link's device of that serial number is not touched.
    let other = s.get_dep_device("rt2", &all[0]).await.unwrap().unwrap();
    assert_eq!(
        (other.assign_status, other.assign_attempts),
        (AssignStatus::Pending, 0)
    );
    // Not due before the retry time; the pending one always is.
    assert_eq!(
        s.dep_devices_to_assign("rt", 1_099, 10).await.unwrap(),
        [all[3].clone()]
    );
    assert_eq!(s.dep_devices_to_assign("rt", 1_100, 10).await.unwrap(), all);
    assert_eq!(s.dep_next_assign_retry("rt").await.unwrap(), Some(1_100));

    // The first device keeps failing (FAILED for it): the wait doubles,
    // capped at 5 s, until the fourth try gives up.
    let mut at = 1_100;
    for (tries, wait) in [(2, 2_000), (3, 4_000)] {
        let o = s
            .record_dep_assign_failure("rt", &all[..1], &failure("FAILED", at))
            .await
            .unwrap();
        assert_eq!(o.next_retry, Some(at + wait), "try {tries}");
        let d = s.get_dep_device("rt", &all[0]).await.unwrap().unwrap();
        assert_eq!((d.assign_attempts, d.retry_after), (tries, Some(at + wait)));
        at += wait;
    }
    let o = s
        .record_dep_assign_failure("rt", &all[..1], &failure("FAILED at last", at))
        .await
        .unwrap();
    assert_eq!(
        o,
        DepFailureOutcome {
            retrying: 0,
            gave_up: 1,
            next_retry: None
        }
    );
    let d = s.get_dep_device("rt", &all[0]).await.unwrap().unwrap();
    assert_eq!(d.assign_status, AssignStatus::Failed);
    assert_eq!((d.assign_attempts, d.retry_after), (4, None));
    assert_eq!(d.assign_detail.as_deref(), Some("FAILED at last"));
    // Failed for good: never due again, however late.
    assert!(
        !s.dep_devices_to_assign("rt", i64::MAX, 10)
            .await
            .unwrap()
            .contains(&all[0])
    );
    let c = s.count_dep_devices("rt").await.unwrap();
    assert_eq!(c.get(AssignStatus::Failed), 3);

    // The cap: a long first delay waits no more than the longest.
    let mut capped = failure("x", 0);
    capped.retry = DepRetryPolicy {
        first_delay_ms: 10_000,
        max_delay_ms: 5_000,
        max_attempts: 9,
    };
    assert_eq!(
        capped.retry.delay(1),
        10_000,
        "the longest is at least the first"
    );
    let o = s
        .record_dep_assign_failure("rt", &all[1..2], &capped)
        .await
        .unwrap();
    assert_eq!(o.next_retry, Some(10_000));

    // Throttling is not a failed try: the count stays. Success resets it.
    s.set_dep_assignment(
        "rt",
        &all[2..3],
        &DepAssignment {
            status: AssignStatus::Throttled,
            detail: Some("THROTTLED".into()),
            profile_uuid: Some("PROFILE-1".into()),
            retry_after: Some(50_000),
            now: 9_000,
        },
    )
    .await
    .unwrap();
    let d = s.get_dep_device("rt", &all[2]).await.unwrap().unwrap();
    assert_eq!(
        (d.assign_status, d.assign_attempts),
        (AssignStatus::Throttled, 1)
    );
    assert_eq!(s.dep_next_assign_retry("rt").await.unwrap(), Some(10_000));
    s.set_dep_assignment(
        "rt",
        &all[1..3],
        &assignment(AssignStatus::Assigned, 60_000),
    )
    .await
    .unwrap();
    for serial in &all[1..3] {
        let d = s.get_dep_device("rt", serial).await.unwrap().unwrap();
        assert_eq!(
            (d.assign_status, d.assign_attempts, d.retry_after),
            (AssignStatus::Assigned, 0, None)
        );
    }
    // NOT_ACCESSIBLE is final.
    s.set_dep_assignment(
        "rt",
        &all[3..4],
        &assignment(AssignStatus::NotAccessible, 60_000),
    )
    .await
    .unwrap();
    assert!(
        s.dep_devices_to_assign("rt", i64::MAX, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.dep_next_assign_retry("rt").await.unwrap(), None);

    // An administrator's request starts over; so does a device coming back.
    s.set_dep_assignment("rt", &all[..1], &assignment(AssignStatus::Pending, 61_000))
        .await
        .unwrap();
    let d = s.get_dep_device("rt", &all[0]).await.unwrap().unwrap();
    assert_eq!(
        (d.assign_status, d.assign_attempts),
        (AssignStatus::Pending, 0)
    );
    s.record_dep_assign_failure("rt", &all[..1], &failure("FAILED", 62_000))
        .await
        .unwrap();
    s.upsert_dep_devices("rt", &[deleted(&all[0])], 63_000)
        .await
        .unwrap();
    assert_eq!(
        s.dep_next_assign_retry("rt").await.unwrap(),
        None,
        "deleted devices wait for nothing"
    );
    s.upsert_dep_devices("rt", &[record(&all[0], Some("added"))], 64_000)
        .await
        .unwrap();
    let d = s.get_dep_device("rt", &all[0]).await.unwrap().unwrap();
    assert_eq!(
        (
            d.assign_status,
            d.assign_attempts,
            d.retry_after,
            d.assign_detail
        ),
        (AssignStatus::Pending, 0, None, None)
    );

    // Unknown links, bad names, too many serial numbers; unknown serial
    // numbers are left out.
    assert!(is_unknown_link(
        &s.record_dep_assign_failure("nope", &all, &failure("x", 1))
            .await,
        "nope"
    ));
    assert!(is_unknown_link(
        &s.dep_next_assign_retry("nope").await,
        "nope"
    ));
    assert!(is_invalid_name(&s.dep_next_assign_retry("a b").await));
    assert!(is_invalid_name(
        &s.record_dep_assign_failure("a/b", &all, &failure("x", 1))
            .await
    ));
    let many = serials("M", MAX_DEP_BATCH + 1);
    assert!(matches!(
        s.record_dep_assign_failure("rt", &many, &failure("x", 1))
            .await,
        Err(Error::BatchTooLarge { .. })
    ));
    let o = s
        .record_dep_assign_failure("rt", &["NOT-MINE".to_owned()], &failure("x", 1))
        .await
        .unwrap();
    assert_eq!(o, DepFailureOutcome::default());
}

pub async fn dep_profile_requeue(s: &dyn Store) {
    s.put_dep_link(&new_link("pq", "t", 1)).await.unwrap();
    s.put_dep_link(&new_link("pq2", "t", 1)).await.unwrap();
    let all = serials("Q-", 6);
    put_devices(s, "pq", &all, 10).await;
    put_devices(s, "pq2", &all[..2], 10).await;
    let set = |status, uuid: Option<&str>| DepAssignment {
        status,
        detail: None,
        profile_uuid: uuid.map(str::to_owned),
        retry_after: None,
        now: 20,
    };
    // Assigned with the old profile, the new one, none recorded; a failed
    // one, a not-accessible one and a deleted one.
    s.set_dep_assignment("pq", &all[..2], &set(AssignStatus::Assigned, Some("OLD")))
        .await
        .unwrap();
    s.set_dep_assignment("pq", &all[2..3], &set(AssignStatus::Assigned, Some("NEW")))
        .await
        .unwrap();
    s.set_dep_assignment("pq", &all[3..4], &set(AssignStatus::Assigned, None))
        .await
        .unwrap();
    s.set_dep_assignment(
        "pq",
        &all[4..5],
        &set(AssignStatus::NotAccessible, Some("OLD")),
    )
    .await
    .unwrap();
    s.set_dep_assignment("pq", &all[5..6], &set(AssignStatus::Assigned, Some("OLD")))
        .await
        .unwrap();
    s.upsert_dep_devices("pq", &[deleted(&all[5])], 30)
        .await
        .unwrap();
    s.set_dep_assignment("pq2", &all[..2], &set(AssignStatus::Assigned, Some("OLD")))
        .await
        .unwrap();

    assert_eq!(s.requeue_dep_assignments("pq", "NEW", 40).await.unwrap(), 3);
    let status = async |link: &str, serial: &String| {
        let d = s.get_dep_device(link, serial).await.unwrap().unwrap();
        (d.assign_status, d.assign_at)
    };
    assert_eq!(
        status("pq", &all[0]).await,
        (AssignStatus::Pending, Some(40))
    );
    assert_eq!(
        status("pq", &all[1]).await,
        (AssignStatus::Pending, Some(40))
    );
    assert_eq!(
        status("pq", &all[2]).await,
        (AssignStatus::Assigned, Some(20))
    );
    assert_eq!(
        status("pq", &all[3]).await,
        (AssignStatus::Pending, Some(40))
    );
    assert_eq!(
        status("pq", &all[4]).await,
        (AssignStatus::NotAccessible, Some(20))
    );
    assert_eq!(
        status("pq", &all[5]).await.0,
        AssignStatus::Assigned,
        "deleted: left alone"
    );
    assert_eq!(
        status("pq2", &all[0]).await.0,
        AssignStatus::Assigned,
        "another link"
    );
    let d = s.get_dep_device("pq", &all[0]).await.unwrap().unwrap();
    assert_eq!(
        d.assign_detail.as_deref(),
        Some("the enrollment profile changed")
    );
    assert_eq!(
        s.dep_devices_to_assign("pq", 40, 10).await.unwrap(),
        [all[0].clone(), all[1].clone(), all[3].clone()]
    );
    // Nothing more to do the second time.
    assert_eq!(s.requeue_dep_assignments("pq", "NEW", 50).await.unwrap(), 0);
    assert!(is_unknown_link(
        &s.requeue_dep_assignments("nope", "NEW", 1).await,
        "nope"
    ));
    assert!(is_invalid_name(
        &s.requeue_dep_assignments("", "NEW", 1).await
    ));
}

pub async fn dep_device_listing(s: &dyn Store) {
    s.put_dep_link(&new_link("l1", "t", 1)).await.unwrap();
    s.put_dep_link(&new_link("l2", "t", 1)).await.unwrap();
    s.put_dep_link(&new_link("l3", "t", 1)).await.unwrap();
    // Not in insertion order; l2 has more than a page's maximum.
    let l1: Vec<String> = (0..250)
        .map(|i| format!("Q{:04}", (i * 7919) % 250))
        .collect();
    let l2: Vec<String> = (0..1_100)
        .map(|i| format!("P{:04}", (i * 7919) % 1_100))
        .collect();
    put_devices(s, "l1", &l1, 10).await;
    put_devices(s, "l2", &l2, 10).await;
    // Some deleted, some assigned.
    let gone: Vec<_> = l1
        .iter()
        .filter(|x| x.ends_with('7'))
        .map(|x| deleted(x))
        .collect();
    s.upsert_dep_devices("l1", &gone, 20).await.unwrap();
    let done: Vec<String> = l1.iter().filter(|x| x.ends_with('3')).cloned().collect();
    s.set_dep_assignment("l1", &done, &assignment(AssignStatus::Assigned, 30))
        .await
        .unwrap();

    let collect = |q: DepDeviceQuery| async move {
        let mut q = q;
        let mut got = Vec::new();
        let mut pages = 0;
        loop {
            let page = s.list_dep_devices(&q).await.unwrap();
            pages += 1;
            assert!(page.items.len() <= q.limit.clamp(1, MAX_PAGE) as usize);
            got.extend(page.items.iter().map(|d| {
                (
                    d.link.clone(),
                    d.serial_number.clone(),
                    d.deleted,
                    d.assign_status,
                )
            }));
            match page.next {
                Some(next) => {
                    let last = page.items.last().unwrap();
                    assert_eq!(next, (last.link.clone(), last.serial_number.clone()));
                    q.after = Some(next);
                }
                None => break,
            }
            assert!(pages < 2_000, "pagination does not end");
        }
        (got, pages)
    };

    let mut want: Vec<(String, String)> = l1
        .iter()
        .map(|x| ("l1".to_owned(), x.clone()))
        .chain(l2.iter().map(|x| ("l2".to_owned(), x.clone())))
        .collect();
    want.sort();
    let keys = |g: &[(String, String, bool, AssignStatus)]| -> Vec<(String, String)> {
        g.iter()
            .map(|(l, x, _, _)| (l.clone(), x.clone()))
            .collect()
    };

    // Everything, deleted included, across links.
    let (got, pages) = collect(DepDeviceQuery {
        limit: 97,
        include_deleted: true,
        ..Default::default()
    })
    .await;
    assert_eq!(keys(&got), want);
    assert_eq!(pages, want.len().div_ceil(97));
    // Without deleted ones (the default).
    let (got, _) = collect(DepDeviceQuery {
        limit: 64,
        ..Default::default()
    })
    .await;
    assert!(got.iter().all(|(_, _, d, _)| !d));
    assert_eq!(got.len(), want.len() - 25);
    // One link; one state.
    let (got, _) = collect(DepDeviceQuery {
        link: Some("l1".into()),
        limit: 30,
        include_deleted: true,
        ..Default::default()
    })
    .await;
    assert_eq!(got.len(), 250);
    assert!(got.iter().all(|(l, _, _, _)| l == "l1"));
    let (got, _) = collect(DepDeviceQuery {
        link: Some("l1".into()),
        limit: 7,
        assign_status: Some(AssignStatus::Assigned),
        include_deleted: false,
        ..Default::default()
    })
    .await;
    let mut assigned: Vec<String> = done.clone();
    assigned.sort();
    assert_eq!(
        got.iter().map(|(_, x, _, _)| x.clone()).collect::<Vec<_>>(),
        assigned
    );
    assert!(
        got.iter()
            .all(|(_, _, _, st)| *st == AssignStatus::Assigned)
    );
    let (got, _) = collect(DepDeviceQuery {
        assign_status: Some(AssignStatus::Pending),
        limit: 1_000,
        ..Default::default()
    })
    .await;
    assert_eq!(got.len(), 250 - 25 - 25 + 1_100);
    // A link with no devices: an empty page.
    let page = s
        .list_dep_devices(&DepDeviceQuery {
            link: Some("l3".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!((page.items.len(), page.next), (0, None));

    // Limits are clamped to 1..=MAX_PAGE.
    let page = s
        .list_dep_devices(&DepDeviceQuery {
            limit: 0,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].serial_number, "Q0000");
    assert!(page.next.is_some());
    let page = s
        .list_dep_devices(&DepDeviceQuery {
            link: Some("l2".into()),
            limit: 5_000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.items.len(), MAX_PAGE as usize);
    assert_eq!(
        page.next,
        Some(("l2".to_owned(), format!("P{:04}", MAX_PAGE - 1)))
    );
    // An exact last page says there is no next one.
    let page = s
        .list_dep_devices(&DepDeviceQuery {
            link: Some("l2".into()),
            after: Some(("l2".into(), "P1094".into())),
            limit: 5,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.items.len(), 5);
    assert_eq!(page.next, None);
    // A cursor of another link or past the end.
    let page = s
        .list_dep_devices(&DepDeviceQuery {
            link: Some("l1".into()),
            after: Some(("l2".into(), String::new())),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(page.items.is_empty());
    let page = s
        .list_dep_devices(&DepDeviceQuery {
            link: Some("l2".into()),
            after: Some(("l1".into(), "Q0100".into())),
            limit: 3,
            ..Default::default()
        })
        .await
        .unwrap();
    let got: Vec<&str> = page
        .items
        .iter()
        .map(|d| d.serial_number.as_str())
        .collect();
    assert_eq!(got, ["P0000", "P0001", "P0002"]);
    let page = s
        .list_dep_devices(&DepDeviceQuery {
            after: Some(("l1".into(), "Q0248".into())),
            limit: 2,
            ..Default::default()
        })
        .await
        .unwrap();
    let got: Vec<&str> = page
        .items
        .iter()
        .map(|d| d.serial_number.as_str())
        .collect();
    assert_eq!(got, ["Q0249", "P0000"]);
}

/// Pages through a link while other pages of devices are stored: every
/// device stored before the listing began shows exactly once, in order.
pub async fn dep_listing_under_concurrent_inserts(s: &dyn Store) {
    s.put_dep_link(&new_link("live", "t", 1)).await.unwrap();
    let before: Vec<String> = (0..600).map(|i| format!("D{:05}", i * 10)).collect();
    put_devices(s, "live", &before, 10).await;

    let writer = async {
        // New serial numbers land between, before and after the existing
        // ones, while the reader goes.
        for round in 0..30 {
            let page: Vec<_> = (0..20)
                .map(|k| {
                    record(
                        &format!("D{:05}", (k * 300 + round * 7) % 6_000 + 1),
                        Some("added"),
                    )
                })
                .collect();
            s.upsert_dep_devices("live", &page, 100 + round as i64)
                .await
                .unwrap();
            tokio::task::yield_now().await;
        }
    };
    let reader = async {
        let mut q = DepDeviceQuery {
            link: Some("live".into()),
            limit: 25,
            ..Default::default()
        };
        let mut seen = Vec::new();
        loop {
            let page = s.list_dep_devices(&q).await.unwrap();
            seen.extend(page.items.into_iter().map(|d| d.serial_number));
            match page.next {
                Some((l, x)) => q.after = Some((l, x)),
                None => break,
            }
            tokio::task::yield_now().await;
        }
        seen
    };
    let ((), seen) = tokio::join!(writer, reader);
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "in order, no repeats");
    let seen: HashSet<&String> = seen.iter().collect();
    for x in &before {
        assert!(seen.contains(x), "{x} skipped");
    }
    // Once the writer is done, the listing has them all.
    let total = s.count_dep_devices("live").await.unwrap().total();
    assert!(total > 600);
}

pub async fn dep_events_and_prune(s: &dyn Store) {
    s.put_dep_link(&new_link("hist", "t", 1)).await.unwrap();
    s.put_dep_link(&new_link("hist2", "t", 1)).await.unwrap();
    for (i, op) in ["added", "modified", "modified", "deleted", "added"]
        .iter()
        .enumerate()
    {
        let rec = if *op == "deleted" {
            deleted("H-1")
        } else {
            record("H-1", Some(op))
        };
        s.upsert_dep_devices("hist", &[rec], 1_000 * (i as i64 + 1))
            .await
            .unwrap();
    }
    s.upsert_dep_devices("hist2", &[record("H-2", Some("added"))], 1_500)
        .await
        .unwrap();
    let ev = s.dep_device_events("hist", "H-1", 100).await.unwrap();
    let got: Vec<(&str, i64)> = ev.iter().map(|e| (e.op_type.as_str(), e.at)).collect();
    assert_eq!(
        got,
        [
            ("added", 5_000),
            ("deleted", 4_000),
            ("modified", 3_000),
            ("modified", 2_000),
            ("added", 1_000)
        ]
    );
    // Limits are clamped to at least one.
    assert_eq!(
        s.dep_device_events("hist", "H-1", 2).await.unwrap().len(),
        2
    );
    let one = s.dep_device_events("hist", "H-1", 0).await.unwrap();
    assert_eq!((one.len(), one[0].at), (1, 5_000));
    assert_eq!(
        s.dep_device_events("hist", "H-1", u32::MAX)
            .await
            .unwrap()
            .len(),
        5
    );

    // Pruning keeps what is not older than the bound, on every link.
    assert_eq!(s.prune_dep_events(3_000).await.unwrap(), 3);
    let got: Vec<i64> = s
        .dep_device_events("hist", "H-1", 100)
        .await
        .unwrap()
        .iter()
        .map(|e| e.at)
        .collect();
    assert_eq!(got, [5_000, 4_000, 3_000]);
    assert!(
        s.dep_device_events("hist2", "H-2", 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.prune_dep_events(3_000).await.unwrap(), 0);
    // The devices stay.
    assert!(s.get_dep_device("hist2", "H-2").await.unwrap().is_some());
    assert_eq!(s.prune_dep_events(i64::MAX).await.unwrap(), 3);
}

pub async fn dep_delete_cascades(s: &dyn Store) {
    s.put_dep_link(&new_link("gone", "t", 1)).await.unwrap();
    s.put_dep_link(&new_link("stays", "t", 1)).await.unwrap();
    let xs = serials("G", 1_500);
    let recs: Vec<_> = xs[..1_000]
        .iter()
        .map(|x| record(x, Some("added")))
        .collect();
    s.upsert_dep_devices("gone", &recs, 10).await.unwrap();
    put_devices(s, "gone", &xs[1_000..], 11).await;
    s.upsert_dep_devices("stays", &[record("G00001", Some("added"))], 12)
        .await
        .unwrap();
    assert_eq!(s.count_dep_devices("gone").await.unwrap().total(), 1_500);

    assert!(s.delete_dep_link("gone").await.unwrap());
    assert!(s.get_dep_device("gone", "G00001").await.unwrap().is_none());
    let found = s.find_dep_device("G00001").await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].link, "stays");
    assert_eq!(
        s.dep_device_events("stays", "G00001", 5)
            .await
            .unwrap()
            .len(),
        1
    );
    let all = s
        .list_dep_devices(&DepDeviceQuery {
            include_deleted: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.items.len(), 1);
    // Its history went too: nothing of it is left to prune except the
    // other link's entry.
    assert_eq!(s.prune_dep_events(i64::MAX).await.unwrap(), 1);

    // The name can be used again, from scratch.
    assert!(s.put_dep_link(&new_link("gone", "t2", 20)).await.unwrap());
    let c = s.count_dep_devices("gone").await.unwrap();
    assert_eq!((c.total(), c.deleted), (0, 0));
    let l = s.get_dep_link("gone").await.unwrap().unwrap();
    assert_eq!((l.created_at, l.cursor), (20, None));
}
