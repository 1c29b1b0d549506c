//! Cabinet reading (`wsus_publish::cab::Cabinet`) and Authenticode
//! verification (`wsus_publish::authenticode::verify_cab`): never panic,
//! stay within the limits, and whatever reads back is written again by
//! `CabBuilder` into a cabinet that reads back the same.
//!
//! The input is the cabinet itself, read under tight limits (1 MiB
//! uncompressed, 64 files, 4 folders, 64 blocks) so that every run is
//! quick. The seed corpus in `fuzz/corpus/cab_reader/` holds small
//! cabinets from `CabBuilder`: MSZIP and stored, several files with an
//! empty one, two blocks behind the Authenticode header reserve, and a
//! signed one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsus_publish::cab::{CabBuilder, Cabinet, Limits};

fuzz_target!(|data: &[u8]| {
    let _ = wsus_publish::authenticode::verify_cab(data);

    let mut limits = Limits::default();
    limits
        .max_total_size(1 << 20)
        .max_files(64)
        .max_folders(4)
        .max_blocks(64);
    let Ok(cab) = Cabinet::parse_with(data, &limits) else {
        return;
    };
    let _ = cab.verify();
    for i in 0..cab.files().len() {
        let _ = cab.extract(i);
    }
    let Ok(files) = cab.extract_all() else {
        return;
    };
    let total: usize = files.iter().map(|(_, d)| d.len()).sum();
    assert!(total <= 1 << 20, "extract_all went past max_total_size");

    // Roundtrip: what was read, written again, reads back the same (names
    // or times the writer refuses are skipped).
    let mut b = CabBuilder::new();
    for (entry, bytes) in &files {
        let Some(modified) = entry.modified().to_datetime() else {
            return;
        };
        if b.add_file(entry.name(), bytes.as_slice(), modified).is_err() {
            return;
        }
    }
    let again = b.build().expect("writing what was read");
    let reread = Cabinet::parse(&again).expect("reading what was written");
    let back = reread.extract_all().expect("extracting what was written");
    assert_eq!(back.len(), files.len());
    for ((e1, d1), (e2, d2)) in files.iter().zip(&back) {
        assert_eq!(e1.name(), e2.name());
        assert_eq!(e1.modified(), e2.modified());
        assert_eq!(d1, d2);
    }
});
