//! The conformance suite on SQLite (in memory and in a WAL file), and what
//! only a file database shows: persistence across reopening, migrations.

#![cfg(feature = "sqlite")]

mod suite;

use std::sync::Arc;

use apple_mdm_protocol::report::Status;
use pippin_store::{EntryState, Error, SqliteStore, Store};

/// The latest migration's version, and how many migrations there are.
const SCHEMA_VERSION: i64 = 7;
const MIGRATIONS: i64 = 7;

macro_rules! on_memory_and_file {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $name() {
                    let store = pippin_store::SqliteStore::open_in_memory().unwrap();
                    super::suite::$name(&store).await;
                }
            )*
        }
        mod file {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let dir = test_support::tempdir();
                    let store = pippin_store::SqliteStore::open(&dir.path().join("pippin.db")).unwrap();
                    super::suite::$name(&store).await;
                }
            )*
        }
    };
}

for_each_conformance_test!(on_memory_and_file);

#[test]
fn queue_matches_reference_model() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    suite::run_queue_model(&rt, 256, || {
        Arc::new(SqliteStore::open_in_memory().unwrap()) as Arc<dyn Store>
    });
}

#[test]
fn licenses_match_reference_model() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    suite::run_license_model(&rt, 128, || {
        Arc::new(SqliteStore::open_in_memory().unwrap()) as Arc<dyn Store>
    });
}

#[test]
fn licenses_match_reference_model_on_a_shared_file() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = test_support::tempdir();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("lic.db")).unwrap());
    suite::run_license_model(&rt, 24, || Arc::clone(&store));
}

#[test]
fn queue_matches_reference_model_on_a_shared_file() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = test_support::tempdir();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("model.db")).unwrap());
    suite::run_queue_model(&rt, 32, || Arc::clone(&store));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_survives_reopening() {
    let dir = test_support::tempdir();
    let path = dir.path().join("nested").join("dir").join("pippin.db");
    {
        let s = SqliteStore::open(&path).unwrap();
        let d = suite::enroll(&s, "P-1", 1).await;
        s.enqueue(std::slice::from_ref(&d), suite::command("p-a", 0, 2))
            .await
            .unwrap();
        s.enqueue(std::slice::from_ref(&d), suite::command("p-b", 0, 3))
            .await
            .unwrap();
        let out = s
            .handle_report(&d, Status::Idle, None, None, 4)
            .await
            .unwrap();
        assert_eq!(out.next.unwrap().uuid, "p-a");
        s.set_bootstrap_token(&d, Some(b"bt".to_vec()))
            .await
            .unwrap();
        s.put_inventory(
            &d,
            pippin_store::InventoryKind::SecurityInfo,
            &serde_json::json!({"FDE_Enabled": true}),
            5,
        )
        .await
        .unwrap();
    }
    let s = SqliteStore::open(&path).unwrap();
    let d = suite::device("P-1");
    let e = s.get_enrollment(&d).await.unwrap().unwrap();
    assert!(e.enrolled);
    assert_eq!(e.push_token, Some(b"P-1".to_vec()));
    assert_eq!(
        s.get_bootstrap_token(&d).await.unwrap(),
        Some(b"bt".to_vec())
    );
    let a = s.get_command("p-a").await.unwrap().unwrap();
    assert_eq!(a.targets[0].state, EntryState::Sent);
    assert_eq!(a.targets[0].deliveries, 1);
    assert_eq!(s.queue_depth(&d).await.unwrap(), 2);
    // The unanswered command is handed out again, then the queue goes on.
    let out = s
        .handle_report(&d, Status::Idle, None, None, 6)
        .await
        .unwrap();
    assert_eq!(out.next.unwrap().uuid, "p-a");
    let out = s
        .handle_report(&d, Status::Acknowledged, Some("p-a"), None, 7)
        .await
        .unwrap();
    assert_eq!(out.completed.unwrap().deliveries, 2);
    assert_eq!(out.next.unwrap().uuid, "p-b");
    assert_eq!(s.get_inventory(&d).await.unwrap().kinds.len(), 1);
}

#[tokio::test]
async fn migrations_are_idempotent() {
    let dir = test_support::tempdir();
    let path = dir.path().join("pippin.db");
    let s = SqliteStore::open(&path).unwrap();
    assert_eq!(s.schema_version().await.unwrap(), SCHEMA_VERSION);
    suite::enroll(&s, "M-1", 1).await;
    drop(s);
    for _ in 0..3 {
        let s = SqliteStore::open(&path).unwrap();
        assert_eq!(s.schema_version().await.unwrap(), SCHEMA_VERSION);
        assert_eq!(s.count_enrollments(false).await.unwrap(), 1);
    }
    let conn = rusqlite::Connection::open(&path).unwrap();
    let rows: i64 = conn
        .query_row("SELECT count(*) FROM schema_migrations", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, MIGRATIONS);
    let (version, name): (i64, String) = conn
        .query_row(
            "SELECT version, name FROM schema_migrations ORDER BY version DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        (version, name.as_str()),
        (SCHEMA_VERSION, "sup_publications")
    );
}

#[tokio::test]
async fn a_newer_schema_is_refused() {
    let dir = test_support::tempdir();
    let path = dir.path().join("pippin.db");
    drop(SqliteStore::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute(
        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 0)",
        [],
    )
    .unwrap();
    drop(conn);
    assert!(matches!(
        SqliteStore::open(&path),
        Err(Error::SchemaTooNew {
            found: 999,
            known: SCHEMA_VERSION
        })
    ));
}

#[tokio::test]
async fn an_unopenable_path_is_an_error() {
    let dir = test_support::tempdir();
    let file = dir.path().join("plain-file");
    std::fs::write(&file, b"x").unwrap();
    // A directory cannot be created below a file.
    assert!(matches!(
        SqliteStore::open(&file.join("db.sqlite")),
        Err(Error::Io { .. })
    ));
    // A file that is not a database.
    std::fs::write(&file, b"this is not an SQLite database, it is plain text").unwrap();
    assert!(SqliteStore::open(&file).is_err());
}

/// Devices reporting at the same time, each on its own queue: every command
/// is handed out to its own device once, and completed once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_devices_on_one_writer() {
    let dir = test_support::tempdir();
    let s: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("c.db")).unwrap());
    let mut tasks = Vec::new();
    for dev in 0..8 {
        let s = Arc::clone(&s);
        tasks.push(tokio::spawn(async move {
            let name = format!("CC-{dev}");
            let id = suite::enroll(&*s, &name, 1).await;
            for c in 0..20 {
                s.enqueue(
                    std::slice::from_ref(&id),
                    suite::command(&format!("{name}-{c}"), 0, c),
                )
                .await
                .unwrap();
            }
            let mut done = Vec::new();
            let mut next = s
                .handle_report(&id, Status::Idle, None, None, 100)
                .await
                .unwrap()
                .next;
            while let Some(cmd) = next {
                let out = s
                    .handle_report(&id, Status::Acknowledged, Some(&cmd.uuid), None, 101)
                    .await
                    .unwrap();
                done.push(out.completed.unwrap().uuid);
                next = out.next;
            }
            let want: Vec<String> = (0..20).map(|c| format!("{name}-{c}")).collect();
            assert_eq!(done, want);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(s.queue_depth_total().await.unwrap(), 0);
}

/// A database from before the DEP migrations is upgraded in place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_2_database_gains_the_dep_tables() {
    let dir = test_support::tempdir();
    let path = dir.path().join("pippin.db");
    {
        let s = SqliteStore::open(&path).unwrap();
        suite::enroll(&s, "OLD-1", 1).await;
    }
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "DROP TABLE dep_device_events; DROP TABLE dep_devices; DROP TABLE dep_links;
         DELETE FROM schema_migrations WHERE version IN (3, 5);",
    )
    .unwrap();
    drop(conn);
    let s = SqliteStore::open(&path).unwrap();
    assert_eq!(s.schema_version().await.unwrap(), SCHEMA_VERSION);
    assert_eq!(s.count_enrollments(false).await.unwrap(), 1);
    assert!(
        s.put_dep_link(&suite::new_link("up", "t", 5))
            .await
            .unwrap()
    );
    let o = s
        .upsert_dep_devices("up", &[suite::record("UP-1", Some("added"))], 6)
        .await
        .unwrap();
    assert_eq!(o.pending, ["UP-1"]);
    let d = s.get_dep_device("up", "UP-1").await.unwrap().unwrap();
    assert_eq!(d.assign_attempts, 0);
}
