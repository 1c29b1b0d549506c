//! Push outcomes (the token they went to, APNs's Unregistered time, batches),
//! the topics of enrolled devices, and commands queued in batches.

use apple_mdm_protocol::EnrollmentId;
use apple_mdm_protocol::queue::QueueError;
use apple_mdm_protocol::report::Status;
use pippin_store::{Error, MAX_PUSH_BATCH, PushRecord, PushResult, Store, TopicCount};

use super::{TOPIC, auth_record, command, device, enroll, enroll_user, token_record};

fn gone(at: i64, unregistered_at: Option<i64>) -> PushResult {
    PushResult {
        at,
        status: "failed".into(),
        reason: Some("Unregistered (410)".into()),
        http_status: Some(410),
        apns_id: Some("922D9F1F-B82E-B337-EDC9-DB4FC8527676".into()),
        unregistered_at,
        token_invalid: true,
    }
}

async fn invalid(s: &dyn Store, id: &EnrollmentId) -> bool {
    s.get_enrollment(id).await.unwrap().unwrap().token_invalid
}

/// A TokenUpdate that lands between reading the push target and storing
/// APNs's answer keeps its fresh token: only the token pushed is marked.
pub async fn push_results_mark_only_the_token_pushed(s: &dyn Store) {
    let a = enroll(s, "PR-A", 10).await; // token b"PR-A", updated at 11
    // The push to b"PR-A" is under way when the device sends a new token.
    s.token_update(&a, &token_record(b"fresh-token", 20))
        .await
        .unwrap();
    s.mark_push_result(&a, b"PR-A", &gone(30, None))
        .await
        .unwrap();
    let e = s.get_enrollment(&a).await.unwrap().unwrap();
    assert!(!e.token_invalid, "the fresh token was marked invalid");
    assert_eq!(e.push_token.as_deref(), Some(&b"fresh-token"[..]));
    // The outcome itself is recorded, in full.
    let last = e.last_push.unwrap();
    assert_eq!(last.http_status, Some(410));
    assert_eq!(
        last.apns_id.as_deref(),
        Some("922D9F1F-B82E-B337-EDC9-DB4FC8527676")
    );
    assert!(!last.token_invalid);
    assert_eq!(
        s.push_targets(std::slice::from_ref(&a))
            .await
            .unwrap()
            .len(),
        1
    );

    // The same answer for the token it has now marks it.
    s.mark_push_result(&a, b"fresh-token", &gone(40, None))
        .await
        .unwrap();
    assert!(invalid(s, &a).await);
    assert!(
        s.push_targets(std::slice::from_ref(&a))
            .await
            .unwrap()
            .is_empty()
    );
}

/// APNs's Unregistered time: a token updated after it is not invalid, even
/// when the device sent the same token again; one updated before it is.
pub async fn push_results_keep_tokens_updated_after_unregistered(s: &dyn Store) {
    let a = enroll(s, "PU-A", 1_000).await; // updated at 1,001
    s.mark_push_result(&a, b"PU-A", &gone(5_000, Some(900)))
        .await
        .unwrap();
    let e = s.get_enrollment(&a).await.unwrap().unwrap();
    assert!(!e.token_invalid, "updated after APNs's Unregistered time");
    assert_eq!(e.last_push.unwrap().unregistered_at, Some(900));

    s.mark_push_result(&a, b"PU-A", &gone(6_000, Some(1_001)))
        .await
        .unwrap();
    assert!(invalid(s, &a).await, "updated at the Unregistered time");
    // A new TokenUpdate (even with the same token) clears the mark.
    s.token_update(&a, &token_record(b"PU-A", 7_000))
        .await
        .unwrap();
    assert!(!invalid(s, &a).await);

    let b = enroll(s, "PU-B", 1_000).await;
    s.mark_push_result(&b, b"PU-B", &gone(5_000, Some(4_000)))
        .await
        .unwrap();
    assert!(invalid(s, &b).await);
}

/// Many outcomes in one transaction: each as one call would store it;
/// unknown enrollments are left out; bounded.
pub async fn push_results_in_batches(s: &dyn Store) {
    let a = enroll(s, "PB-A", 1).await;
    let b = enroll(s, "PB-B", 1).await;
    let c = enroll(s, "PB-C", 1).await;
    let u = enroll_user(s, "PB-A", "U", 2).await;
    let delivered = |at| PushResult {
        at,
        status: "delivered".into(),
        http_status: Some(200),
        apns_id: Some(format!("ID-{at}")),
        ..PushResult::default()
    };
    let records = vec![
        PushRecord {
            id: a.clone(),
            token: b"PB-A".to_vec(),
            result: delivered(10),
        },
        PushRecord {
            id: b.clone(),
            token: b"PB-B".to_vec(),
            result: gone(11, None),
        },
        PushRecord {
            id: c.clone(),
            token: b"stale".to_vec(),
            result: gone(12, None),
        },
        PushRecord {
            id: device("PB-NONE"),
            token: b"x".to_vec(),
            result: delivered(13),
        },
        PushRecord {
            id: u.clone(),
            token: b"PB-A:U".to_vec(),
            result: delivered(14),
        },
        // A second outcome for the same enrollment: the last one counts.
        PushRecord {
            id: a.clone(),
            token: b"PB-A".to_vec(),
            result: delivered(15),
        },
    ];
    let stored = s.mark_push_results(&records).await.unwrap();
    assert!(
        stored == 4 || stored == 5,
        "{stored} (four enrollments, one of them twice)"
    );
    let ea = s.get_enrollment(&a).await.unwrap().unwrap();
    assert_eq!(ea.last_push.as_ref().unwrap().at, 15);
    assert_eq!(ea.last_push.unwrap().apns_id.as_deref(), Some("ID-15"));
    assert!(invalid(s, &b).await);
    assert!(!invalid(s, &c).await, "a stale token is not marked");
    assert_eq!(
        s.get_enrollment(&c)
            .await
            .unwrap()
            .unwrap()
            .last_push
            .unwrap()
            .at,
        12
    );
    assert_eq!(
        s.get_enrollment(&u)
            .await
            .unwrap()
            .unwrap()
            .last_push
            .unwrap()
            .http_status,
        Some(200)
    );
    assert_eq!(s.mark_push_results(&[]).await.unwrap(), 0);
    let too_many = vec![records[0].clone(); MAX_PUSH_BATCH + 1];
    assert!(matches!(
        s.mark_push_results(&too_many).await,
        Err(Error::BatchTooLarge { .. })
    ));
    assert!(matches!(
        s.mark_push_result(&device("PB-NONE"), b"x", &delivered(1))
            .await,
        Err(Error::UnknownEnrollment(_))
    ));
}

/// The topics enrolled enrollments use, with counts; devices not enrolled
/// (checked out, or never past Authenticate) do not count.
pub async fn enrolled_topics_are_counted(s: &dyn Store) {
    assert!(s.enrolled_topics().await.unwrap().is_empty());
    enroll(s, "TC-A", 1).await;
    enroll(s, "TC-B", 1).await;
    enroll_user(s, "TC-A", "U", 2).await;
    let old = "com.apple.mgmt.External.old";
    s.authenticate(&auth_record("TC-C", 1)).await.unwrap();
    let mut rec = token_record(b"TC-C", 2);
    rec.topic = old.into();
    s.token_update(&device("TC-C"), &rec).await.unwrap();
    // Checked out, and only authenticated: not counted.
    let d = enroll(s, "TC-D", 1).await;
    s.check_out(&d, 5).await.unwrap();
    s.authenticate(&auth_record("TC-E", 1)).await.unwrap();
    assert_eq!(
        s.enrolled_topics().await.unwrap(),
        vec![
            TopicCount {
                topic: TOPIC.into(),
                enrollments: 3
            },
            TopicCount {
                topic: old.into(),
                enrollments: 1
            },
        ]
    );
}

/// A command queued in batches: later batches join the same command, with
/// its priority and queue time; repeats and ids queued already are left
/// out; an unknown id changes nothing.
pub async fn commands_are_queued_in_batches(s: &dyn Store) {
    let ids: Vec<EnrollmentId> = enroll_many(s, "QB", 6).await;
    s.enqueue(&ids[..2], command("bulk", 5, 100)).await.unwrap();
    assert_eq!(
        s.enqueue_more("bulk", &[ids[2].clone(), ids[3].clone(), ids[2].clone()])
            .await
            .unwrap(),
        2
    );
    // Already queued for ids[0]: left out.
    assert_eq!(
        s.enqueue_more("bulk", &[ids[0].clone(), ids[4].clone()])
            .await
            .unwrap(),
        1
    );
    // All or nothing.
    assert!(matches!(
        s.enqueue_more("bulk", &[ids[5].clone(), device("QB-NONE")])
            .await,
        Err(Error::UnknownEnrollment(_))
    ));
    assert!(matches!(
        s.enqueue_more("nope", &[ids[5].clone()]).await,
        Err(Error::Queue(QueueError::UnknownCommand(_)))
    ));
    let too_many = vec![ids[5].clone(); MAX_PUSH_BATCH + 1];
    assert!(matches!(
        s.enqueue_more("bulk", &too_many).await,
        Err(Error::BatchTooLarge { .. })
    ));
    let rec = s.get_command("bulk").await.unwrap().unwrap();
    assert_eq!(rec.targets.len(), 5);
    assert!(!rec.targets.iter().any(|t| t.id == ids[5]));
    // Queued like the first batch: ids[3] gets it before a later command
    // of the same priority.
    s.enqueue(std::slice::from_ref(&ids[3]), command("later", 5, 200))
        .await
        .unwrap();
    let out = s
        .handle_report(&ids[3], Status::Idle, None, None, 300)
        .await
        .unwrap();
    assert_eq!(out.next.unwrap().uuid, "bulk");
    assert_eq!(s.queue_depth(&ids[4]).await.unwrap(), 1);
}

async fn enroll_many(s: &dyn Store, prefix: &str, n: usize) -> Vec<EnrollmentId> {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        ids.push(enroll(s, &format!("{prefix}-{i}"), 1).await);
    }
    ids
}
