//! The process-wide logger: one test per process, since it can be installed
//! only once.

use std::io::Read;

use pippin_service::{Error, LogConfig, init_logging};

#[test]
fn installs_once_rotates_and_finishes_compression_on_drop() {
    let dir = test_support::tempdir();
    let mut config = LogConfig::new(dir.path().join("logs"), "sup-service");
    config.max_bytes = 0; // clamped to 200 KiB
    config.max_files = 3;
    config.filter = "debug".to_owned();
    let guard = init_logging(config.clone()).unwrap();
    assert_eq!(guard.file().max_bytes(), 204_800);

    // A second logger is refused.
    assert!(matches!(init_logging(config), Err(Error::LogInit(_))));

    let padding = "p".repeat(200);
    for n in 0..1500 {
        tracing::debug!(n, padding = %padding, "catalog product synced");
    }
    let archives = [guard.file().archive_path(2), guard.file().archive_path(1)];
    let live = guard.file().path();
    drop(guard);

    // About 430 kB in all: two rotations, finished by the guard's drop.
    let mut archived = String::new();
    for archive in &archives {
        let mut text = String::new();
        flate2::read::GzDecoder::new(std::fs::File::open(archive).unwrap())
            .read_to_string(&mut text)
            .unwrap();
        assert!(text.len() <= 204_800 && text.len() > 204_800 - 400);
        archived.push_str(&text);
    }
    let live = std::fs::read_to_string(live).unwrap();
    let all: Vec<&str> = archived.lines().chain(live.lines()).collect();
    assert_eq!(all.len(), 1500);
    for (n, line) in all.iter().enumerate() {
        assert!(
            line.ends_with(&format!(
                " DEBUG init_logging: catalog product synced n={n} padding={padding}"
            )),
            "{line}"
        );
    }
}
