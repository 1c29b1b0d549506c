//! A rough timing of the hot path: decoding an MDM `TokenUpdate` check-in
//! shaped XML plist (about 2.5 KB: ten keys, a 32-byte and a ~1.5 KB
//! `<data>`). Ignored by default; run it in release mode:
//!
//! ```text
//! cargo test -p pippin-plist --release --test speed -- --ignored --nocapture
//! ```
//!
//! The criterion benches are the real measurement; this is a smoke check.

use std::time::Instant;

use pippin_plist::{Dictionary, Value};

/// A `TokenUpdate`-shaped document, laid out as a device sends it.
fn token_update() -> Vec<u8> {
    let mut d = Dictionary::new();
    d.insert("AwaitingConfiguration", false);
    d.insert("MessageType", "TokenUpdate");
    d.insert("PushMagic", "5E1B6F33-4CB3-4B36-9A3C-6D1A0E52F7A4");
    d.insert(
        "Token",
        Value::Data((0..32u8).map(|i| i.wrapping_mul(37)).collect()),
    );
    d.insert(
        "Topic",
        "com.apple.mgmt.External.0f3c5b2e-8d0a-4a55-b8f1-2f1f9e0c7d11",
    );
    d.insert("UDID", "0000A0B1-001C2D3E4F5A6B7C");
    d.insert(
        "UnlockToken",
        Value::Data(
            (0..1100u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
                .collect(),
        ),
    );
    d.insert("EnrollmentID", "7D1E45A0-64C1-4CC5-9D1E-0C6A2B3E4F50");
    d.insert("UserShortName", "jappleseed");
    d.insert("NotOnConsole", false);
    pippin_plist::to_xml_vec(&Value::Dictionary(d))
}

const ITERS: u32 = 200_000;

/// Runs `f` `ITERS` times after a warm-up and prints the time per run.
fn time(what: &str, mut f: impl FnMut()) {
    for _ in 0..ITERS / 10 {
        f();
    }
    let t = Instant::now();
    for _ in 0..ITERS {
        f();
    }
    println!("{what}: {:?} per run", t.elapsed() / ITERS);
}

#[test]
#[ignore = "timing; run in release mode with --ignored --nocapture"]
fn xml_parse() {
    let doc = token_update();
    time(
        &format!("XML TokenUpdate decode ({} bytes)", doc.len()),
        || {
            std::hint::black_box(pippin_plist::from_bytes(std::hint::black_box(&doc)).unwrap());
        },
    );
}

#[test]
#[ignore = "timing; run in release mode with --ignored --nocapture"]
fn binary_parse() {
    let doc = token_update();
    let bin = pippin_plist::to_binary_vec(&pippin_plist::from_bytes(&doc).unwrap()).unwrap();
    time(
        &format!("binary TokenUpdate decode ({} bytes)", bin.len()),
        || {
            std::hint::black_box(pippin_plist::from_bytes(std::hint::black_box(&bin)).unwrap());
        },
    );
}

#[test]
#[ignore = "timing; run in release mode with --ignored --nocapture"]
fn xml_encode() {
    let v = pippin_plist::from_bytes(&token_update()).unwrap();
    let mut out = Vec::with_capacity(4096);
    time("XML TokenUpdate encode", || {
        out.clear();
        pippin_plist::to_xml(std::hint::black_box(&v), &mut out);
        std::hint::black_box(&out);
    });
}
