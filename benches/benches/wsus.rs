//! WSUS catalog publishing benchmarks, no I/O: a 5,000-product Apple
//! software-update catalog on its way to a signed WSUS catalog cabinet,
//! stage by stage and whole.
//!
//! The catalog (plain XML and gzip) and one English distribution file per
//! product are made once at start by `crates/wsus-publish/tests/gen_sucatalog.py`
//! (Python from `PIPPIN_PYTHON`, else `python3`); the signing certificate
//! (RSA-2048, self-signed) by `openssl req`. Everything is read into memory
//! before timing starts.
//!
//! `cargo bench -p pippin-benches --bench wsus`; the end-to-end run of the
//! example binary beside a reposado-style Python parse of the same files is
//! `benches/sucatalog.sh`. Figures are in benches/README.md.

use std::collections::HashMap;
use std::hint::black_box;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use criterion::measurement::Measurement;
use criterion::{
    BenchmarkGroup, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use time::{OffsetDateTime, PrimitiveDateTime};
use wsus_publish::authenticode::{Signer, sign_cab};
use wsus_publish::cab::CabBuilder;
use wsus_publish::catalog::{Catalog, merge};
use wsus_publish::distribution::Distribution;
use wsus_publish::publish::{Ledger, PublishOptions, UpdateFacts, build};

/// Products in the generated catalog.
const PRODUCTS: usize = 5_000;
/// The name of the XML inside the cabinet.
const INNER_NAME: &str = "SystemsManagementCatalog.xml";

/// The generated inputs, in memory.
struct Inputs {
    catalog_xml: Vec<u8>,
    catalog_gzip: Vec<u8>,
    /// `<product key>.English.dist` contents by product key.
    dists: HashMap<String, Vec<u8>>,
    cert_pem: Vec<u8>,
    key_pem: Vec<u8>,
}

fn inputs() -> Inputs {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let generator = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../crates/wsus-publish/tests/gen_sucatalog.py"
    );
    let python = std::env::var("PIPPIN_PYTHON").unwrap_or_else(|_| "python3".into());
    let products = PRODUCTS.to_string();
    let xml = dir.path().join("catalog.sucatalog");
    let gz = dir.path().join("catalog.sucatalog.gz");
    let dist_dir = dir.path().join("dists");
    run(Command::new(&python).arg(generator).args([
        "--products",
        &products,
        "--seed",
        "1",
        "--out",
        path(&xml),
        "--dist-dir",
        path(&dist_dir),
    ]));
    run(Command::new(&python).arg(generator).args([
        "--products",
        &products,
        "--seed",
        "1",
        "--gzip",
        "--out",
        path(&gz),
    ]));
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    run(Command::new("openssl").args([
        "req",
        "-x509",
        "-nodes",
        "-newkey",
        "rsa:2048",
        "-days",
        "2",
        "-subj",
        "/CN=Pippin bench publisher",
        "-addext",
        "extendedKeyUsage=codeSigning",
        "-addext",
        "keyUsage=digitalSignature",
        "-keyout",
        path(&key),
        "-out",
        path(&cert),
    ]));
    let mut dists = HashMap::new();
    for entry in std::fs::read_dir(&dist_dir).expect("the distribution folder") {
        let entry = entry.expect("a folder entry");
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(key) = name.strip_suffix(".English.dist") {
            dists.insert(
                key.to_owned(),
                std::fs::read(entry.path()).expect("a distribution file"),
            );
        }
    }
    Inputs {
        catalog_xml: std::fs::read(&xml).expect("the catalog"),
        catalog_gzip: std::fs::read(&gz).expect("the gzip catalog"),
        dists,
        cert_pem: std::fs::read(&cert).expect("the certificate"),
        key_pem: std::fs::read(&key).expect("the key"),
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temporary path")
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A fixed clock, so that every iteration publishes the same catalog.
fn now() -> OffsetDateTime {
    // 2025-06-15T16:26:40Z, a valid timestamp.
    OffsetDateTime::from_unix_timestamp(1_750_004_800).expect("a valid timestamp")
}

fn modified(now: OffsetDateTime) -> PrimitiveDateTime {
    PrimitiveDateTime::new(now.date(), now.time())
}

/// The facts of every product of `catalog`, each with its distribution
/// parsed from `dists`.
fn facts(catalog: Catalog, dists: &HashMap<String, Vec<u8>>) -> Vec<UpdateFacts> {
    let merged = merge([("catalog", catalog)]);
    merged
        .products
        .values()
        .map(|m| {
            let dist = dists
                .get(&m.product.key)
                .and_then(|d| Distribution::parse(d).ok());
            UpdateFacts::from_product(&m.product, dist.as_ref())
        })
        .collect()
}

fn cab(xml: &[u8], now: OffsetDateTime) -> Vec<u8> {
    let mut b = CabBuilder::new();
    b.authenticode_reserve();
    b.add_file(INNER_NAME, xml, modified(now)).expect("a file");
    b.build().expect("a cabinet")
}

/// The whole pipeline: catalog bytes (and the distributions' bytes) to a
/// signed cabinet.
fn signed_cab(catalog: &[u8], dists: &HashMap<String, Vec<u8>>, signer: &Signer) -> Vec<u8> {
    let now = now();
    let catalog = Catalog::parse(catalog).expect("a catalog");
    let facts = facts(catalog, dists);
    let publication = build(&facts, &Ledger::default(), &PublishOptions::default(), now);
    let xml = publication.catalog.to_xml();
    sign_cab(&cab(&xml, now), signer).expect("a signature")
}

/// Ten samples of whole iterations (a pipeline run takes about half a
/// second), so that the bench stays within a couple of minutes.
fn quick<M: Measurement>(g: &mut BenchmarkGroup<'_, M>) {
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(6));
}

fn wsus(c: &mut Criterion) {
    let inputs = inputs();
    let n = PRODUCTS as u64;
    let now = now();
    let signer = Signer::from_pem(&inputs.cert_pem, &inputs.key_pem).expect("a signer");

    let mut g = c.benchmark_group("wsus/catalog-parse");
    quick(&mut g);
    g.throughput(Throughput::Elements(n));
    g.bench_function("xml", |b| {
        b.iter(|| Catalog::parse(black_box(&inputs.catalog_xml)).expect("a catalog"));
    });
    g.bench_function("gzip", |b| {
        b.iter(|| Catalog::parse(black_box(&inputs.catalog_gzip)).expect("a catalog"));
    });
    g.finish();

    let dist_bytes: Vec<&[u8]> = inputs.dists.values().map(Vec::as_slice).collect();
    let mut g = c.benchmark_group("wsus/distribution-parse");
    quick(&mut g);
    g.throughput(Throughput::Elements(dist_bytes.len() as u64));
    g.bench_function("all", |b| {
        b.iter(|| {
            for d in &dist_bytes {
                black_box(Distribution::parse(black_box(d)).expect("a distribution"));
            }
        });
    });
    g.finish();

    let catalog = Catalog::parse(&inputs.catalog_xml).expect("a catalog");
    let facts = facts(catalog, &inputs.dists);
    let publication = build(&facts, &Ledger::default(), &PublishOptions::default(), now);
    let xml = publication.catalog.to_xml();
    let unsigned = cab(&xml, now);

    let mut g = c.benchmark_group("wsus/publish");
    quick(&mut g);
    g.throughput(Throughput::Elements(facts.len() as u64));
    g.bench_function("build", |b| {
        b.iter(|| {
            build(
                black_box(&facts),
                &Ledger::default(),
                &PublishOptions::default(),
                now,
            )
        });
    });
    g.bench_function("to_xml", |b| {
        b.iter(|| black_box(&publication.catalog).to_xml());
    });
    g.finish();

    let mut g = c.benchmark_group("wsus/cab");
    quick(&mut g);
    g.throughput(Throughput::Bytes(xml.len() as u64));
    g.bench_function("mszip", |b| b.iter(|| cab(black_box(&xml), now)));
    g.finish();

    let mut g = c.benchmark_group("wsus/sign");
    quick(&mut g);
    g.throughput(Throughput::Bytes(unsigned.len() as u64));
    g.bench_function("rsa2048-sha256", |b| {
        b.iter(|| sign_cab(black_box(&unsigned), &signer).expect("a signature"));
    });
    g.finish();

    let mut g = c.benchmark_group("wsus/pipeline");
    quick(&mut g);
    g.throughput(Throughput::Elements(n));
    g.bench_function("xml-to-signed-cab", |b| {
        b.iter(|| signed_cab(black_box(&inputs.catalog_xml), &inputs.dists, &signer));
    });
    g.bench_function("gzip-to-signed-cab", |b| {
        b.iter(|| signed_cab(black_box(&inputs.catalog_gzip), &inputs.dists, &signer));
    });
    g.finish();

    eprintln!(
        "wsus: catalog {} bytes (gzip {}), {} distributions ({} bytes), catalog XML {} bytes, cabinet {} bytes, signed {} bytes, {} packages",
        inputs.catalog_xml.len(),
        inputs.catalog_gzip.len(),
        inputs.dists.len(),
        inputs.dists.values().map(Vec::len).sum::<usize>(),
        xml.len(),
        unsigned.len(),
        signed_cab(&inputs.catalog_xml, &inputs.dists, &signer).len(),
        publication.summary.published,
    );
}

criterion_group!(benches, wsus);
criterion_main!(benches);
