//! MDM protocol benchmarks: decoding check-ins and reports (XML and binary),
//! encoding a command, and verifying an `Mdm-Signature`.
//!
//! `cargo bench -p pippin-benches --bench mdm`; figures and the Python
//! `plistlib` comparison are in benches/README.md.

use std::hint::black_box;

use apple_mdm_protocol::command::{Command, DeviceInformation, DeviceLock};
use apple_mdm_protocol::results::{CommandResult, DeviceInformationResult};
use apple_mdm_protocol::signature::{SigningIdentity, verify_mdm_signature};
use apple_mdm_protocol::{Message, decode_message};
use base64::Engine;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../crates/apple-mdm-protocol/tests/fixtures/"
);

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}{name}")).expect("fixture present")
}

fn decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode");
    for name in [
        "checkin-tokenupdate-device.xml",
        "checkin-tokenupdate-device.binary.plist",
        "report-deviceinformation-large.xml",
        "report-deviceinformation-large.binary.plist",
    ] {
        let bytes = fixture(name);
        g.throughput(Throughput::Elements(1));
        g.bench_function(name, |b| {
            b.iter(|| decode_message(black_box(&bytes)).expect("decodes"))
        });
    }
    // The large report all the way to the typed inventory.
    let bytes = fixture("report-deviceinformation-large.xml");
    g.bench_function("report-deviceinformation-large.xml+typed", |b| {
        b.iter(|| {
            let Message::Report(r) = decode_message(black_box(&bytes)).expect("decodes") else {
                unreachable!("fixture is a report")
            };
            DeviceInformationResult::from_payload(r.payload).expect("typed")
        })
    });
    g.finish();
}

fn encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("encode");
    g.throughput(Throughput::Elements(1));
    let info = Command::new(
        "5D6E7F80-4444-4555-8666-777788889999",
        DeviceInformation::standard(),
    );
    g.bench_function("command DeviceInformation (standard queries) to XML", |b| {
        b.iter(|| black_box(&info).to_xml())
    });
    let lock = Command::new(
        "0C9A4E2B-1111-4222-8333-444455556666",
        DeviceLock {
            pin: Some("123456".into()),
            message: Some("This Mac is locked. Call IT.".into()),
            phone_number: Some("+44 20 0000 0000".into()),
            ..DeviceLock::default()
        },
    );
    g.bench_function("command DeviceLock to XML", |b| {
        b.iter(|| black_box(&lock).to_xml())
    });
    g.finish();
}

fn signature(c: &mut Criterion) {
    let mut g = c.benchmark_group("mdm-signature");
    g.throughput(Throughput::Elements(1));
    let body = fixture("checkin-tokenupdate-device.xml");
    for (label, cert, key) in [
        ("rsa2048-sha256", "sig-rsa-cert.pem", "sig-rsa-key.pem"),
        ("p256-sha256", "sig-p256-cert.pem", "sig-p256-key.pem"),
    ] {
        let id = SigningIdentity::from_pem(&fixture(cert), &fixture(key)).expect("identity");
        let der = id.sign_detached(&body).expect("signs");
        let header = base64::engine::general_purpose::STANDARD.encode(der);
        g.bench_function(format!("verify {label} over TokenUpdate"), |b| {
            b.iter(|| verify_mdm_signature(black_box(&header), black_box(&body)).expect("verifies"))
        });
    }
    g.finish();
}

criterion_group!(benches, decode, encode, signature);
criterion_main!(benches);
