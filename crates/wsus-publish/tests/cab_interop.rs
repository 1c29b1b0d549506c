//! Cabinets checked against independent implementations: what we write is
//! extracted by `cabextract` (libmspack) and `gcab` (GNOME's libgcab), and
//! what `gcab` writes is read by us.

use std::path::Path;

use time::macros::datetime;
use wsus_publish::cab::{CabBuilder, Cabinet, Compression};

const WHEN: time::PrimitiveDateTime = datetime!(2025-06-30 12:34:56);

/// Deterministic pseudo-random bytes (xorshift64*), incompressible.
fn noise(len: usize, mut state: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// About 5 MB of catalog-like XML.
fn xml(len: usize) -> Vec<u8> {
    let mut out = b"<?xml version=\"1.0\"?>\n<SystemsManagementCatalog>\n".to_vec();
    let mut i = 0u64;
    while out.len() < len {
        out.extend_from_slice(
            format!(
                "  <sdp:SoftwareDistributionPackage PackageId=\"{:08x}-0000-4000-8000-{:012x}\"><sdp:Title>Update {i}</sdp:Title></sdp:SoftwareDistributionPackage>\n",
                i * 2_654_435_761 % 0xffff_ffff,
                i
            )
            .as_bytes(),
        );
        i += 1;
    }
    out.truncate(len);
    out
}

fn sample_files() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("readme.txt", b"A small text file.\r\n".to_vec()),
        ("empty.dat", Vec::new()),
        ("spans-blocks.bin", noise(40_000, 1)),
        ("sub\\nested.txt", b"in a directory".repeat(100)),
        ("catalog.xml", xml(5_000_000)),
        ("random.bin", noise(5_000_000, 7)),
        // Highly repetitive blocks: their Huffman trees are the kind some
        // deflate encoders write in a form libmspack rejects.
        ("repetitive.xml", b"<c/>".repeat(9000)),
        ("zeros.bin", vec![0; 70_000]),
        ("tail.txt", b"last".to_vec()),
    ]
}

fn our_cab(files: &[(&'static str, Vec<u8>)], compression: Compression) -> Vec<u8> {
    let mut b = CabBuilder::new();
    b.compression(compression);
    for (name, data) in files {
        b.add_file(name, data.as_slice(), WHEN).unwrap();
    }
    b.build().unwrap()
}

fn on_disk(dir: &Path, name: &str) -> Vec<u8> {
    let path = dir.join(name.replace('\\', "/"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{} not extracted: {e}", path.display()))
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn cabextract_extracts_and_tests_our_cabinets() {
    if !test_support::require_peer(
        "cabextract_extracts_and_tests_our_cabinets",
        &["cabextract", "--version"],
    ) {
        return;
    }
    let files = sample_files();
    for compression in [Compression::default(), Compression::None] {
        let dir = test_support::tempdir();
        let cab = dir.path().join("ours.cab");
        std::fs::write(&cab, our_cab(&files, compression)).unwrap();

        let out = test_support::run_ok(&["cabextract", "-t", path(&cab)], b"");
        let report = String::from_utf8_lossy(&out);
        for (name, _) in &files {
            // "  <name>  OK  <md5>" for each file whose data checks out.
            let line = format!("  {}  OK ", name.replace('\\', "/"));
            assert!(
                report.contains(&line),
                "cabextract -t: no `{line}` in\n{report}"
            );
        }
        assert!(report.contains("All done, no errors."), "{report}");

        let x = dir.path().join("x");
        test_support::run_ok(&["cabextract", "-q", "-d", path(&x), path(&cab)], b"");
        for (name, data) in &files {
            assert!(on_disk(&x, name) == *data, "cabextract: {name} differs");
        }
    }

    // cabextract does check the checksums: a wrong one fails the test run.
    let dir = test_support::tempdir();
    let mut cab = our_cab(&files[..1], Compression::default());
    let first_block = u32::from_le_bytes(cab[36..40].try_into().unwrap()) as usize;
    cab[first_block] ^= 1;
    let bad = dir.path().join("bad.cab");
    std::fs::write(&bad, cab).unwrap();
    let out = test_support::run(&["cabextract", "-t", path(&bad)], b"");
    assert!(
        !out.status.success(),
        "cabextract -t accepted a wrong checksum"
    );
}

#[test]
fn gcab_extracts_our_cabinets() {
    if !test_support::require_peer("gcab_extracts_our_cabinets", &["gcab", "--version"]) {
        return;
    }
    let files = sample_files();
    let dir = test_support::tempdir();
    let cab = dir.path().join("ours.cab");
    std::fs::write(&cab, our_cab(&files, Compression::default())).unwrap();
    let listing = test_support::run_ok(&["gcab", "-t", path(&cab)], b"");
    assert_eq!(
        String::from_utf8_lossy(&listing).lines().count(),
        files.len()
    );
    let x = dir.path().join("x");
    std::fs::create_dir(&x).unwrap();
    test_support::run_ok(&["gcab", "-x", "-C", path(&x), path(&cab)], b"");
    for (name, data) in &files {
        assert!(on_disk(&x, name) == *data, "gcab: {name} differs");
    }
}

#[test]
fn we_read_gcab_cabinets() {
    if !test_support::require_peer("we_read_gcab_cabinets", &["gcab", "--version"]) {
        return;
    }
    let files = [
        ("one.txt", b"first".to_vec()),
        ("empty", Vec::new()),
        ("catalog.xml", xml(3_000_000)),
        ("noise.bin", noise(100_000, 3)),
    ];
    let dir = test_support::tempdir();
    for (name, data) in &files {
        std::fs::write(dir.path().join(name), data).unwrap();
    }
    for (flag, label) in [(Some("-z"), "compressed"), (None, "stored")] {
        let mut cmd = vec!["gcab", "-c"];
        cmd.extend(flag);
        let out_name = format!("{label}.cab");
        cmd.push(&out_name);
        cmd.extend(files.iter().map(|(n, _)| *n));
        let out = test_support::run_in(&cmd, b"", Some(dir.path()));
        assert!(
            out.status.success(),
            "gcab -c: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let bytes = std::fs::read(dir.path().join(&out_name)).unwrap();
        let cab = Cabinet::parse(&bytes).unwrap();
        cab.verify().unwrap();
        let got = cab.extract_all().unwrap();
        assert_eq!(got.len(), files.len(), "{label}");
        for ((entry, data), (name, want)) in got.iter().zip(&files) {
            assert_eq!(entry.name(), *name, "{label}");
            assert!(data == want, "{label}: {name} differs");
        }
    }
}
