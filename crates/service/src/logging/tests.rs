use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::Path;

use flate2::read::GzDecoder;
use tracing_subscriber::fmt::MakeWriter;

use super::*;

fn gunzip(path: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    GzDecoder::new(File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap()
}

/// A 30-byte line: `line NN ` + padding + newline.
fn line(n: usize) -> String {
    let s = format!("line {n:02} {}\n", "x".repeat(21));
    assert_eq!(s.len(), 30);
    s
}

fn lines(range: std::ops::Range<usize>) -> String {
    range.map(line).collect()
}

fn dir_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn rotation_sequence_shifts_archives_and_deletes_the_oldest() {
    let dir = test_support::tempdir();
    // 100 bytes hold three 30-byte lines; the fourth would pass the limit.
    // Four files in all: the live log and three archives.
    let log = RotatingFile::open_unclamped(dir.path(), "cm-proxy", 100, 4).unwrap();
    for n in 0..4 {
        (&log).write_all(line(n).as_bytes()).unwrap();
    }
    log.sync().unwrap();
    assert_eq!(text(gunzip(&log.archive_path(1))), lines(0..3));
    assert_eq!(text(fs::read(log.path()).unwrap()), lines(3..4));

    for n in 4..20 {
        (&log).write_all(line(n).as_bytes()).unwrap();
    }
    log.sync().unwrap();
    // Files of lines 0-2, 3-5, 6-8, 9-11, 12-14, 15-17 and the live 18-19;
    // only the newest three archives remain.
    assert_eq!(text(fs::read(log.path()).unwrap()), lines(18..20));
    assert_eq!(text(gunzip(&log.archive_path(1))), lines(15..18));
    assert_eq!(text(gunzip(&log.archive_path(2))), lines(12..15));
    assert_eq!(text(gunzip(&log.archive_path(3))), lines(9..12));
    assert_eq!(
        dir_names(dir.path()),
        [
            "cm-proxy.1.log.gz",
            "cm-proxy.2.log.gz",
            "cm-proxy.3.log.gz",
            "cm-proxy.log"
        ]
    );
}

#[test]
fn a_record_straddling_the_limit_goes_whole_into_the_next_file() {
    let dir = test_support::tempdir();
    let log = RotatingFile::open_unclamped(dir.path(), "app", 100, 5).unwrap();
    (&log).write_all(&[b'a'; 69]).unwrap();
    (&log).write_all(b"\n").unwrap(); // 70 bytes so far
    (&log).write_all(line(1).as_bytes()).unwrap(); // exactly 100: stays
    (&log).write_all(b"b\n").unwrap(); // 102 would pass: rotates first
    log.sync().unwrap();
    let first = text(gunzip(&log.archive_path(1)));
    assert_eq!(first.len(), 100);
    assert!(first.ends_with(&line(1)));
    assert_eq!(text(fs::read(log.path()).unwrap()), "b\n");
}

#[test]
fn a_record_larger_than_the_limit_is_written_whole_and_alone() {
    let dir = test_support::tempdir();
    let log = RotatingFile::open_unclamped(dir.path(), "app", 100, 5).unwrap();
    (&log).write_all(b"small\n").unwrap();
    let big = format!("{}\n", "B".repeat(249));
    (&log).write_all(big.as_bytes()).unwrap();
    (&log).write_all(b"after\n").unwrap();
    log.sync().unwrap();
    assert_eq!(text(gunzip(&log.archive_path(2))), "small\n");
    assert_eq!(text(gunzip(&log.archive_path(1))), big);
    assert_eq!(text(fs::read(log.path()).unwrap()), "after\n");
}

#[test]
fn one_file_means_no_archives() {
    let dir = test_support::tempdir();
    let log = RotatingFile::open_unclamped(dir.path(), "app", 100, 1).unwrap();
    for n in 0..10 {
        (&log).write_all(line(n).as_bytes()).unwrap();
    }
    log.sync().unwrap();
    assert_eq!(text(fs::read(log.path()).unwrap()), lines(9..10));
    assert_eq!(dir_names(dir.path()), ["app.log"]);
}

#[test]
fn limits_are_clamped() {
    let dir = test_support::tempdir();
    let small = RotatingFile::open(dir.path(), "a", 1, 0).unwrap();
    assert_eq!(small.max_bytes(), 200 * 1024);
    assert_eq!(small.max_files(), 1);
    let big = RotatingFile::open(dir.path(), "b", u64::MAX, 1000).unwrap();
    assert_eq!(big.max_bytes(), 4 * 1024 * 1024);
    assert_eq!(big.max_files(), 20);
    let fine = RotatingFile::open(dir.path(), "c", 300_000, 7).unwrap();
    assert_eq!((fine.max_bytes(), fine.max_files()), (300_000, 7));

    let mut config = LogConfig::new(dir.path(), "d");
    assert_eq!(config.effective_max_bytes(), 1024 * 1024);
    assert_eq!(config.effective_max_files(), 10);
    config.max_bytes = 10;
    config.max_files = 50;
    assert_eq!(config.effective_max_bytes(), 204_800);
    assert_eq!(config.effective_max_files(), 20);
}

#[test]
fn rotates_at_the_smallest_real_limit() {
    let dir = test_support::tempdir();
    let log = RotatingFile::open(dir.path(), "netboot-server", 0, 3).unwrap();
    let limit = log.max_bytes() as usize;
    assert_eq!(limit, 204_800);
    // 100-byte lines: 2048 fit exactly; 2100 lines make one rotation.
    let mut all = String::new();
    for n in 0..2100 {
        let l = format!("{n:06} {}\n", "y".repeat(92));
        assert_eq!(l.len(), 100);
        (&log).write_all(l.as_bytes()).unwrap();
        all.push_str(&l);
    }
    log.sync().unwrap();
    let archived = text(gunzip(&log.archive_path(1)));
    assert_eq!(archived.len(), limit);
    let live = text(fs::read(log.path()).unwrap());
    assert_eq!(format!("{archived}{live}"), all);
    assert!(!log.archive_path(2).exists());
}

#[test]
fn reopening_appends_and_honours_a_lower_count() {
    let dir = test_support::tempdir();
    {
        let log = RotatingFile::open_unclamped(dir.path(), "app", 60, 6).unwrap();
        for n in 0..11 {
            (&log).write_all(line(n).as_bytes()).unwrap();
        }
        log.sync().unwrap();
        // Five archives of two lines, and line 10 live.
        assert!(log.archive_path(5).exists());
    }
    let log = RotatingFile::open_unclamped(dir.path(), "app", 60, 3).unwrap();
    assert_eq!(
        dir_names(dir.path()),
        ["app.1.log.gz", "app.2.log.gz", "app.log"]
    );
    // The existing 30 bytes count towards the limit.
    (&log).write_all(line(11).as_bytes()).unwrap();
    (&log).write_all(line(12).as_bytes()).unwrap();
    log.sync().unwrap();
    assert_eq!(text(gunzip(&log.archive_path(1))), lines(10..12));
    assert_eq!(text(gunzip(&log.archive_path(2))), lines(8..10));
    assert_eq!(text(fs::read(log.path()).unwrap()), lines(12..13));
}

#[test]
fn a_file_left_mid_rotation_is_archived_on_open() {
    let dir = test_support::tempdir();
    fs::write(dir.path().join("app.log.rotating"), lines(0..2)).unwrap();
    fs::write(dir.path().join("app.1.log.gz.tmp"), b"half").unwrap();
    let log = RotatingFile::open_unclamped(dir.path(), "app", 100, 3).unwrap();
    assert_eq!(text(gunzip(&log.archive_path(1))), lines(0..2));
    assert_eq!(dir_names(dir.path()), ["app.1.log.gz", "app.log"]);
}

#[test]
fn other_executables_files_are_left_alone() {
    let dir = test_support::tempdir();
    for name in [
        "app.x.log.gz",
        "app-2.5.log.gz",
        "app.5.log",
        "other.9.log.gz",
    ] {
        fs::write(dir.path().join(name), b"keep").unwrap();
    }
    let log = RotatingFile::open_unclamped(dir.path(), "app", 100, 2).unwrap();
    drop(log);
    assert_eq!(
        dir_names(dir.path()),
        [
            "app-2.5.log.gz",
            "app.5.log",
            "app.log",
            "app.x.log.gz",
            "other.9.log.gz"
        ]
    );
}

#[test]
fn bad_executable_names_are_rejected() {
    let dir = test_support::tempdir();
    for name in ["", "a/b", "..", "a\\b", "a\nb"] {
        assert!(matches!(
            RotatingFile::open(dir.path(), name, 0, 0),
            Err(Error::InvalidName { .. })
        ));
    }
}

#[test]
fn a_failed_compression_loses_nothing() {
    let dir = test_support::tempdir();
    let log = RotatingFile::open_unclamped(dir.path(), "app", 60, 5).unwrap();
    // A directory where the temporary archive goes makes compression fail.
    let blocker = dir.path().join("app.1.log.gz.tmp");
    fs::create_dir(&blocker).unwrap();
    fs::write(blocker.join("x"), b"x").unwrap();
    for n in 0..3 {
        (&log).write_all(line(n).as_bytes()).unwrap();
    }
    assert!(log.sync().is_err(), "the compression failure is reported");
    let pending = dir.path().join("app.log.rotating");
    assert_eq!(text(fs::read(&pending).unwrap()), lines(0..2));
    // The next rotation cannot archive the waiting file either, so the live
    // file grows instead of replacing it.
    for n in 3..6 {
        (&log).write_all(line(n).as_bytes()).unwrap();
    }
    log.sync().unwrap();
    assert_eq!(text(fs::read(&pending).unwrap()), lines(0..2));
    assert_eq!(text(fs::read(log.path()).unwrap()), lines(2..6));
    // Once compression works again, everything is archived in order.
    fs::remove_dir_all(&blocker).unwrap();
    for n in 6..8 {
        (&log).write_all(line(n).as_bytes()).unwrap();
    }
    log.sync().unwrap();
    assert!(!pending.exists());
    assert_eq!(text(gunzip(&log.archive_path(2))), lines(0..2));
    assert_eq!(text(gunzip(&log.archive_path(1))), lines(2..6));
    assert_eq!(text(fs::read(log.path()).unwrap()), lines(6..8));
}

#[test]
fn record_writer_holds_partial_lines_until_complete() {
    let dir = test_support::tempdir();
    let log = RotatingFile::open_unclamped(dir.path(), "app", 1000, 2).unwrap();
    let mut w = log.make_writer();
    w.write_all(b"first ha").unwrap();
    assert_eq!(fs::read(log.path()).unwrap(), b"");
    w.write_all(b"lf\nsecond").unwrap();
    assert_eq!(fs::read(log.path()).unwrap(), b"first half\n");
    drop(w);
    assert_eq!(fs::read(log.path()).unwrap(), b"first half\nsecond");
}

#[test]
fn eight_threads_lose_and_mangle_nothing() {
    const THREADS: usize = 8;
    const LINES: usize = 400;
    let dir = test_support::tempdir();
    // Small files and no deletion, so every line can be found afterwards.
    let log = RotatingFile::open_unclamped(dir.path(), "app", 4096, 10_000).unwrap();
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let log = &log;
            s.spawn(move || {
                for i in 0..LINES {
                    let body = format!("thread {t} line {i:04} {}\n", "z".repeat(t * 7 + i % 13));
                    let (a, b) = body.split_at(body.len() / 2);
                    // Through a per-event handle, in two pieces (as a
                    // formatter might), or directly as one record.
                    if i % 2 == 0 {
                        let mut w = log.make_writer();
                        w.write_all(a.as_bytes()).unwrap();
                        w.write_all(b.as_bytes()).unwrap();
                    } else {
                        (&*log).write_all(body.as_bytes()).unwrap();
                    }
                }
            });
        }
    });
    log.sync().unwrap();

    let mut contents = vec![fs::read(log.path()).unwrap()];
    let mut n = 1;
    while log.archive_path(n).exists() {
        contents.push(gunzip(&log.archive_path(n)));
        n += 1;
    }
    assert!(n > 20, "expected many rotations, got {}", n - 1);
    let mut seen: HashMap<String, usize> = HashMap::new();
    for file in contents {
        assert!(file.len() <= 4096);
        assert!(file.is_empty() || file.ends_with(b"\n"));
        for l in text(file).lines() {
            *seen.entry(l.to_owned()).or_default() += 1;
        }
    }
    assert_eq!(seen.len(), THREADS * LINES);
    for t in 0..THREADS {
        for i in 0..LINES {
            let expected = format!("thread {t} line {i:04} {}", "z".repeat(t * 7 + i % 13));
            assert_eq!(seen.get(&expected), Some(&1), "{expected}");
        }
    }
}

#[test]
fn subscriber_writes_readable_lines() {
    let dir = test_support::tempdir();
    let mut config = LogConfig::new(dir.path(), "pippin");
    config.filter = "info,pippin_service::noisy=warn".to_owned();
    let (dispatch, guard) = build_subscriber(&config).unwrap();
    tracing::dispatcher::with_default(&dispatch, || {
        tracing::info!(udid = "0000-1111", kind = 3, "device checked in");
        tracing::debug!("not kept");
        tracing::info!(target: "pippin_service::noisy", "not kept either");
        tracing::warn!(target: "pippin_service::noisy", "kept");
    });
    drop(guard);
    let log = text(fs::read(dir.path().join("pippin.log")).unwrap());
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 2, "{log}");
    // 2025-01-31T09:15:02.123456Z  INFO pippin_service::logging::tests: device checked in udid="0000-1111" kind=3
    let (ts, rest) = lines[0].split_once(' ').unwrap();
    assert_eq!(ts.len(), 27, "{ts}");
    assert!(ts.ends_with('Z') && ts.as_bytes()[10] == b'T' && ts.as_bytes()[19] == b'.');
    assert!(
        time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339).is_ok()
    );
    assert_eq!(
        rest,
        " INFO pippin_service::logging::tests: device checked in udid=\"0000-1111\" kind=3"
    );
    assert!(
        lines[1].ends_with(" WARN pippin_service::noisy: kept"),
        "{}",
        lines[1]
    );
}

#[test]
fn bad_filters_are_reported() {
    let dir = test_support::tempdir();
    let mut config = LogConfig::new(dir.path(), "pippin");
    config.filter = "info,[[".to_owned();
    assert!(matches!(
        build_subscriber(&config),
        Err(Error::LogFilter { .. })
    ));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(16))]

    /// Whatever the record sizes and limit: reading the archives oldest
    /// first, then the live file, gives back exactly what was written; no
    /// file passes the limit unless it holds a single record; none is empty.
    #[test]
    fn rotation_keeps_the_stream_whole(
        max_bytes in 50u64..400,
        sizes in proptest::collection::vec(1usize..200, 1..40),
    ) {
        let dir = test_support::tempdir();
        let log = RotatingFile::open_unclamped(dir.path(), "p", max_bytes, 10_000).unwrap();
        let mut written = Vec::new();
        let mut records = Vec::new();
        for (i, size) in sizes.iter().enumerate() {
            let mut record = vec![b'a' + (i % 26) as u8; *size];
            *record.last_mut().unwrap() = b'\n';
            (&log).write_all(&record).unwrap();
            written.extend_from_slice(&record);
            records.push(record);
        }
        log.sync().unwrap();
        let mut files = Vec::new();
        let mut n = 1;
        while log.archive_path(n).exists() {
            files.push(gunzip(&log.archive_path(n)));
            n += 1;
        }
        files.reverse();
        files.push(fs::read(log.path()).unwrap());
        proptest::prop_assert_eq!(files.concat(), written);
        for (i, f) in files.iter().enumerate() {
            if i + 1 < files.len() {
                proptest::prop_assert!(!f.is_empty());
            }
            let single = records.iter().any(|r| r == f);
            proptest::prop_assert!(f.len() as u64 <= max_bytes || single);
        }
    }
}

#[test]
fn log_section_layers_flags_over_file_over_defaults() {
    let none = LogSection::default();
    let c = none.config(&none, "sup-service", true);
    assert_eq!(c, {
        let mut d = LogConfig::new("./logs", "sup-service");
        d.also_stderr = true;
        d
    });
    let file = LogSection {
        dir: Some("/var/log/pippin".into()),
        max_bytes: Some(300_000),
        max_files: Some(3),
        level: Some("debug".into()),
    };
    let flags = LogSection {
        max_files: Some(5),
        level: Some("warn".into()),
        ..LogSection::default()
    };
    let c = file.config(&flags, "netboot-server", false);
    assert_eq!(c.dir, PathBuf::from("/var/log/pippin"));
    assert_eq!(
        (c.max_bytes, c.max_files, c.filter.as_str(), c.also_stderr),
        (300_000, 5, "warn", false)
    );
    assert_eq!(c.exe_name, "netboot-server");
}
