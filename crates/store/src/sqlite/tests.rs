//! Checks that need the connection itself: the planner uses the indexes the
//! queue's hot path depends on.

use rusqlite::types::Value;

use crate::DepDeviceQuery;

use super::*;

/// Runs `f` on the writer connection, from a plain thread.
fn on_writer<T: Send + 'static>(
    store: &SqliteStore,
    f: impl FnOnce(&mut Connection) -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    store
        .inner
        .writer
        .send(Box::new(move |c| tx.send(f(c)).unwrap()))
        .unwrap();
    rx.recv().unwrap()
}

fn plan(store: &SqliteStore, sql: &str) -> String {
    let sql = format!("EXPLAIN QUERY PLAN {sql}");
    on_writer(store, move |conn| {
        let mut stmt = conn.prepare(&sql).unwrap();
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<std::result::Result<Vec<_>, _>>()
            .unwrap();
        rows.join("\n")
    })
}

#[test]
fn next_command_is_read_in_index_order() {
    let store = SqliteStore::open_in_memory().unwrap();
    let p = plan(
        &store,
        "SELECT q.seq, c.uuid, c.request_type, c.body
         FROM queue q JOIN commands c ON c.pk = q.command
         WHERE q.enrollment = 1 AND q.state IN ('queued', 'sent')
         ORDER BY q.priority DESC, q.queued_at, q.seq
         LIMIT 1",
    );
    assert!(p.contains("USING INDEX queue_next"), "{p}");
    assert!(!p.contains("TEMP B-TREE"), "{p}");
}

#[test]
fn report_and_idle_lookups_use_indexes() {
    let store = SqliteStore::open_in_memory().unwrap();
    let p = plan(
        &store,
        "SELECT q.seq FROM commands c JOIN queue q ON q.command = c.pk
         WHERE c.uuid = 'x' AND q.enrollment = 1
           AND q.state IN ('queued', 'sent', 'not_now')",
    );
    assert!(!p.contains("SCAN"), "{p}");
    let p = plan(
        &store,
        "UPDATE queue SET state = 'queued' WHERE state = 'not_now' AND enrollment = 1",
    );
    assert!(p.contains("queue_state"), "{p}");
    let p = plan(
        &store,
        "SELECT pk FROM enrollments WHERE (device, user_key) > ('a', '') ORDER BY device, user_key",
    );
    assert!(!p.contains("TEMP B-TREE"), "{p}");
}

#[test]
fn file_database_runs_in_wal_mode_with_readers() {
    let dir = test_support::tempdir();
    let path = dir.path().join("sub").join("pippin.db");
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.path(), Some(path.as_path()));
    let (mode, sync, fk) = on_writer(&store, |conn| {
        let q = |p: &str| conn.query_row(p, [], |r| r.get::<_, Value>(0));
        (
            q("PRAGMA journal_mode").unwrap(),
            q("PRAGMA synchronous").unwrap(),
            q("PRAGMA foreign_keys").unwrap(),
        )
    });

    assert_eq!(mode, Value::Text("wal".into()));
    assert_eq!(sync, Value::Integer(1), "NORMAL");
    assert_eq!(fk, Value::Integer(1));
    assert_eq!(store.inner.readers.len(), SqliteConfig::default().readers);
}

#[tokio::test]
async fn a_panicking_change_is_an_error_and_the_writer_goes_on() {
    let store = SqliteStore::open_in_memory().unwrap();
    let r: Result<()> = store.write(|_| panic!("boom")).await;
    assert!(matches!(r, Err(Error::Worker(_))), "{r:?}");
    store.health().await.unwrap();
    assert_eq!(store.count_enrollments(false).await.unwrap(), 0);
}

#[test]
fn dep_queries_use_their_indexes() {
    let store = SqliteStore::open_in_memory().unwrap();
    // Due devices: the partial index, in its order.
    let literal = |sql: String| {
        sql.replace("?1", "'l'")
            .replace("?2", "5")
            .replace("?3", "10")
    };
    let p = plan(
        &store,
        &literal(crate::dep::to_assign_sql('?', "deleted = 0")),
    );
    assert!(p.contains("dep_devices_todo"), "{p}");
    assert!(!p.contains("TEMP B-TREE"), "{p}");
    // The next retry time: the state index, by state and link.
    let p = plan(
        &store,
        &literal(crate::dep::next_retry_sql('?', "deleted = 0")),
    );
    assert!(
        p.contains("dep_devices_status (assign_status=? AND link=?)"),
        "{p}"
    );
    // Assigned devices to re-queue: the state index, by link.
    let p = plan(
        &store,
        &literal(crate::dep::requeue_sql('?', "deleted = 0")),
    );
    assert!(
        p.contains("dep_devices_status (assign_status=? AND link=?)"),
        "{p}"
    );
    // Counts: from the covering index only.
    let p = plan(&store, &crate::dep::count_sql('?').replace("?1", "'l'"));
    assert!(p.contains("COVERING INDEX dep_devices_status"), "{p}");
    assert!(p.contains("link=?"), "{p}");
    // Listing pages: from the cursor on, in index order.
    let after = Some(("l".to_owned(), "S".to_owned()));
    for (q, want) in [
        (
            DepDeviceQuery::default(),
            "SCAN dep_devices USING INDEX sqlite_autoindex_dep_devices_1",
        ),
        (
            DepDeviceQuery {
                link: Some("l".into()),
                after: after.clone(),
                ..Default::default()
            },
            "(link=? AND serial_number>?)",
        ),
        (
            DepDeviceQuery {
                after: after.clone(),
                include_deleted: true,
                ..Default::default()
            },
            "((link,serial_number)>(?,?))",
        ),
        (
            DepDeviceQuery {
                link: Some("l".into()),
                after: after.clone(),
                assign_status: Some(crate::AssignStatus::Failed),
                ..Default::default()
            },
            "dep_devices_status (assign_status=? AND link=? AND serial_number>?)",
        ),
        (
            DepDeviceQuery {
                after: after.clone(),
                assign_status: Some(crate::AssignStatus::Failed),
                ..Default::default()
            },
            "dep_devices_status (assign_status=? AND (link,serial_number)>(?,?))",
        ),
    ] {
        let (mut sql, params) = crate::dep::list_sql(&q, '?').unwrap();
        // Literal values in place of the placeholders.
        for i in (1..=params.len()).rev() {
            sql = sql.replace(&format!("?{i}"), "'x'");
        }
        let p = plan(&store, &sql);
        assert!(p.contains(want), "{q:?}\n{p}");
        assert!(!p.contains("TEMP B-TREE"), "{q:?}\n{p}");
    }
    // A serial number on any link; a device's history; pruning.
    let p = plan(
        &store,
        "SELECT link FROM dep_devices WHERE serial_number = 'S' ORDER BY link",
    );
    assert!(p.contains("dep_devices_serial"), "{p}");
    let p = plan(
        &store,
        "SELECT id FROM dep_device_events WHERE link = 'l' AND serial_number = 'S'
         ORDER BY id DESC LIMIT 5",
    );
    assert!(p.contains("dep_device_events_device"), "{p}");
    assert!(!p.contains("TEMP B-TREE"), "{p}");
    let p = plan(&store, "DELETE FROM dep_device_events WHERE at < 5");
    assert!(p.contains("dep_device_events_at"), "{p}");
}

#[test]
fn vpp_queries_use_their_indexes() {
    use crate::vpp;
    use crate::{VppAssetQuery, VppAssignState, VppAssignmentQuery};

    let store = SqliteStore::open_in_memory().unwrap();
    // Literal values in place of the placeholders ?1..?n (the highest
    // first, so that ?1 does not eat ?10).
    let literal = |sql: &str, n: usize| {
        let mut sql = sql.to_owned();
        for i in (1..=n).rev() {
            sql = sql.replace(&format!("?{i}"), "'x'");
        }
        sql
    };
    let check = |sql: &str, want: &[&str]| {
        let p = plan(&store, sql);
        for w in want {
            assert!(p.contains(w), "{sql}\n{p}\nwanted {w}");
        }
        p
    };
    // The work in one state: in the due index's order, no sort.
    let p = check(
        &literal(&vpp::due_sql('?'), 4),
        &["USING INDEX vpp_assignments_due (token=? AND state=?)"],
    );
    assert!(!p.contains("TEMP B-TREE"), "{p}");
    // Counts per state: from the same index only.
    check(
        &literal(&vpp::count_sql('?'), 1),
        &["COVERING INDEX vpp_assignments_due (token=?)"],
    );
    // The requested licenses of an asset, alone and within the asset's
    // columns: the partial index, by the whole key.
    let requested = "COVERING INDEX vpp_assignments_requested \
                     (token=? AND adam_id=? AND pricing_param=? AND state=?)";
    check(
        &literal(
            &format!(
                "SELECT count(*) FROM vpp_assignments
                 WHERE token = ?1 AND adam_id = ?2 AND pricing_param = ?3 AND {}",
                vpp::REQUESTED
            ),
            3,
        ),
        &[requested],
    );
    check(
        &literal(
            &format!(
                "SELECT {} FROM vpp_assets x
                 WHERE x.token = ?1 AND x.adam_id = ?2 AND x.pricing_param = ?3",
                vpp::ASSET_COLUMNS
            ),
            3,
        ),
        &[
            "(token=? AND adam_id=? AND pricing_param=?)",
            "CORRELATED SCALAR SUBQUERY",
            requested,
        ],
    );
    // Assets without metadata: the partial index.
    check(
        "SELECT DISTINCT adam_id FROM vpp_assets
         WHERE token = 't' AND metadata_at IS NULL ORDER BY adam_id LIMIT 5",
        &["vpp_assets_no_metadata (token=?)"],
    );
    // A job's and a command's assignments: their partial indexes.
    for (col, index) in [
        ("event_id", "vpp_assignments_event (event_id=?)"),
        ("command_uuid", "vpp_assignments_command (command_uuid=?)"),
    ] {
        check(
            &format!(
                "SELECT {} FROM vpp_assignments WHERE {col} = 'e'
                 ORDER BY token, adam_id, pricing_param, serial_number",
                vpp::ASSIGNMENT_COLUMNS
            ),
            &[index],
        );
    }
    // Changes to assignments and assets go by key.
    let by_key = "(token=? AND adam_id=? AND pricing_param=? AND serial_number=?)";
    check(
        &literal(&vpp::removal_sql('?', "serial_number = ?4"), 6),
        &[by_key],
    );
    check(
        &literal(&vpp::set_sql('?', "serial_number = ?4"), 11),
        &[by_key],
    );
    check(
        &literal(&vpp::adjust_sql('?', "max"), 5),
        &["(token=? AND adam_id=? AND pricing_param=?)"],
    );
    // The end of a walk: the token's assets, and each one's assignments
    // by key (the cascade).
    check(
        "DELETE FROM vpp_assets WHERE token = 't' AND generation <> 5",
        &[
            "vpp_assets USING INDEX sqlite_autoindex_vpp_assets_1 (token=?)",
            "sqlite_autoindex_vpp_assignments_1 (token=? AND adam_id=? AND pricing_param=?)",
        ],
    );
    check(
        "DELETE FROM vpp_notifications WHERE received_at < 5",
        &["vpp_notifications_at (received_at<?)"],
    );
    // Listing pages: from the cursor on, in index order.
    let after = Some((
        "t".to_owned(),
        "a".to_owned(),
        "p".to_owned(),
        "s".to_owned(),
    ));
    let pk = "sqlite_autoindex_vpp_assignments_1";
    for (q, want) in [
        (
            VppAssignmentQuery::default(),
            "SCAN vpp_assignments USING INDEX",
        ),
        (
            VppAssignmentQuery {
                token: Some("t".into()),
                after: after.clone(),
                ..Default::default()
            },
            "(token=? AND (adam_id,pricing_param,serial_number)>(?,?,?))",
        ),
        (
            VppAssignmentQuery {
                token: Some("t".into()),
                adam_id: Some("a".into()),
                after: after.clone(),
                ..Default::default()
            },
            "(token=? AND adam_id=? AND (pricing_param,serial_number)>(?,?))",
        ),
        (
            VppAssignmentQuery {
                after: after.clone(),
                ..Default::default()
            },
            "((token,adam_id,pricing_param,serial_number)>(?,?,?,?))",
        ),
        (
            VppAssignmentQuery {
                token: Some("t".into()),
                state: Some(VppAssignState::Failed),
                after: after.clone(),
                ..Default::default()
            },
            "(token=? AND (adam_id,pricing_param,serial_number)>(?,?,?))",
        ),
    ] {
        let l = vpp::assignments_listing(&q, '?').unwrap();
        let p = check(&literal(&l.sql, l.params.len() + 1), &[pk, want]);
        assert!(!p.contains("TEMP B-TREE"), "{q:?}\n{p}");
    }
    // A device's assignments: its index (and a sort of its few rows).
    let q = VppAssignmentQuery {
        serial_number: Some("s".into()),
        after,
        ..Default::default()
    };
    let l = vpp::assignments_listing(&q, '?').unwrap();
    check(
        &literal(&l.sql, l.params.len() + 1),
        &["vpp_assignments_serial (serial_number=?)"],
    );
    let after = Some(("t".to_owned(), "a".to_owned(), "p".to_owned()));
    for (q, want) in [
        (
            VppAssetQuery {
                token: Some("t".into()),
                after: after.clone(),
                limit: 5,
            },
            "(token=? AND (adam_id,pricing_param)>(?,?))",
        ),
        (
            VppAssetQuery {
                token: None,
                after: after.clone(),
                limit: 5,
            },
            "((token,adam_id,pricing_param)>(?,?,?))",
        ),
    ] {
        let l = vpp::assets_listing(&q, '?').unwrap();
        let p = check(
            &literal(&l.sql, l.params.len() + 1),
            &["sqlite_autoindex_vpp_assets_1", want, requested],
        );
        assert!(!p.contains("TEMP B-TREE"), "{q:?}\n{p}");
    }
}

fn publication(n: i64) -> NewPublication {
    NewPublication {
        at: n,
        reporter: "sup-service".into(),
        catalog_url: format!("https://sup.example.org/{n}/wsus.cab"),
        catalog_sha256: "ab".repeat(32),
        published_at: n,
        products: 1,
        packages_published: 2,
        superseded: 3,
        expired: 4,
        detail: serde_json::json!({"n": n}),
    }
}

fn publication_ids(store: &SqliteStore) -> Vec<i64> {
    on_writer(store, |c| {
        let mut stmt = c
            .prepare("SELECT id FROM sup_publications ORDER BY id")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<Vec<i64>>>()
            .unwrap()
    })
}

#[test]
fn publications_beyond_the_cap_are_pruned_oldest_first() {
    let store = SqliteStore::open_in_memory().unwrap();
    // With a cap of 3: nothing is deleted up to 3 rows, then the oldest go.
    let record = |n: i64, keep: u32| {
        on_writer(&store, move |c| {
            ops::record_publication(c, &publication(n), keep).unwrap()
        })
    };
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(record(n, 3));
    }
    assert_eq!(publication_ids(&store), ids);
    ids.push(record(3, 3));
    ids.push(record(4, 3));
    assert_eq!(publication_ids(&store), ids[2..]);
    // Ids left unused (a deleted row, a rolled-back insert) change nothing:
    // the latest `keep` rows stay, whatever their ids.
    let gone = ids[3];
    on_writer(&store, move |c| {
        c.execute("DELETE FROM sup_publications WHERE id = ?1", [gone])
            .unwrap()
    });
    let newest = record(5, 3);
    assert_eq!(publication_ids(&store), vec![ids[2], ids[4], newest]);
    // A cap of 0 is taken as 1.
    let only = record(6, 0);
    assert_eq!(publication_ids(&store), vec![only]);
}

#[tokio::test]
async fn publications_are_capped_at_max_publications() {
    let store = SqliteStore::open_in_memory().unwrap();
    let cap = i64::from(MAX_PUBLICATIONS);
    // MAX_PUBLICATIONS rows already stored, in one statement.
    on_writer(&store, move |c| {
        c.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
             INSERT INTO sup_publications (at, reporter, catalog_url, catalog_sha256,
                 published_at, products, packages_published, superseded, expired, detail)
             SELECT i, 'r', 'https://u', '', i, 0, 0, 0, 0, '{}' FROM n",
            [cap],
        )
        .unwrap()
    });
    let ids = publication_ids(&store);
    assert_eq!(ids.len(), MAX_PUBLICATIONS as usize);
    let id = store.record_publication(&publication(1)).await.unwrap();
    let after = publication_ids(&store);
    assert_eq!(after.len(), MAX_PUBLICATIONS as usize);
    assert_eq!(after[0], ids[1], "the oldest is gone");
    assert_eq!(after.last(), Some(&id));
    assert_eq!(store.latest_publication().await.unwrap().unwrap().id, id);
}

#[test]
fn publication_queries_use_the_primary_key() {
    let store = SqliteStore::open_in_memory().unwrap();
    // Pages, the latest, and the pruning: along the rowid, never sorted.
    for (sql, want) in [
        (
            "SELECT id FROM sup_publications WHERE id > 5 ORDER BY id LIMIT 10",
            "USING INTEGER PRIMARY KEY (rowid>?)",
        ),
        (
            "SELECT id FROM sup_publications ORDER BY id DESC LIMIT 1",
            "SCAN sup_publications",
        ),
        (
            "DELETE FROM sup_publications WHERE id < (
                 SELECT id FROM sup_publications ORDER BY id DESC LIMIT 1 OFFSET 9999)",
            "USING INTEGER PRIMARY KEY (rowid<?)",
        ),
    ] {
        let p = plan(&store, sql);
        assert!(p.contains(want), "{sql}\n{p}");
        assert!(!p.contains("TEMP B-TREE"), "{sql}\n{p}");
    }
}
