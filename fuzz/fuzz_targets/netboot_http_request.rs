//! What the NetBoot image server reads from an HTTP request before it
//! touches a file: the URL path (mapped into a `.nbi` folder) and the
//! `Range` header. Whatever the bytes, the path stays inside the folder
//! and the ranges inside the file.
#![no_main]

use std::path::Component;

use libfuzzer_sys::fuzz_target;
use netboot_server::range::{self, Ranges};

fuzz_target!(|data: &[u8]| {
    // First byte: the file length's scale; then the path and the header,
    // split at the first newline.
    let Some((&scale, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let (path, header) = text.split_once('\n').unwrap_or((&text, ""));
    if let Ok(rel) = netboot_server::urlpath::relative_path("/nbi", path) {
        assert!(rel.components().count() >= 2);
        assert!(rel.components().all(|c| matches!(c, Component::Normal(_))));
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .to_ascii_lowercase();
        assert!(first.ends_with(".nbi"));
    }
    let len = u64::from(scale) * 977;
    match range::parse(Some(header), len) {
        Ranges::Partial(rs) => {
            assert!(!rs.is_empty() && rs.len() <= range::MAX_RANGES);
            for r in &rs {
                assert!(r.start < r.end && r.end <= len);
            }
            for w in rs.windows(2) {
                assert!(w[0].end < w[1].start);
            }
        }
        Ranges::Full | Ranges::Unsatisfiable => {}
    }
});
