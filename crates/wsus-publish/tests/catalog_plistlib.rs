//! Catalogs (and distribution files) written by Python's `plistlib` through
//! `tests/gen_sucatalog.py`, read back and checked against the manifest the
//! generator writes beside them.

use std::path::Path;
use std::time::Instant;

use serde_json::Value as Json;
use wsus_publish::catalog::{Action, Catalog, merge};

const GENERATOR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/gen_sucatalog.py");

fn peers_ready(test: &str) -> bool {
    test_support::require_python(test, &["plistlib", "gzip", "json", "hashlib"])
}

/// Runs the generator with `args` (plus `--out` and `--manifest` in `dir`,
/// named after `name`); returns the catalog's bytes and the manifest.
fn generate(dir: &Path, name: &str, args: &[&str]) -> (Vec<u8>, Json) {
    let out = dir.join(format!("{name}.sucatalog"));
    let manifest = dir.join(format!("{name}.json"));
    let py = test_support::python();
    let out_s = out.to_string_lossy().into_owned();
    let manifest_s = manifest.to_string_lossy().into_owned();
    let mut cmd = vec![
        py.as_str(),
        GENERATOR,
        "--out",
        &out_s,
        "--manifest",
        &manifest_s,
    ];
    cmd.extend_from_slice(args);
    test_support::run_ok(&cmd, b"");
    let catalog = std::fs::read(&out).unwrap();
    let manifest = serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    (catalog, manifest)
}

fn products(manifest: &Json) -> &[Json] {
    manifest["products"].as_array().unwrap()
}

fn is_broken(p: &Json) -> bool {
    !p["broken"].is_null()
}

/// Checks every product of `catalog` against `manifest`.
fn check_against_manifest(catalog: &Catalog, manifest: &Json) {
    let all = products(manifest);
    let good: Vec<_> = all.iter().filter(|p| !is_broken(p)).collect();
    let broken: Vec<_> = all.iter().filter(|p| is_broken(p)).collect();
    assert!(!broken.is_empty());
    assert_eq!(catalog.products.len(), good.len());
    assert_eq!(catalog.version, Some(2));
    assert!(catalog.index_date.is_some());

    for p in &good {
        let key = p["key"].as_str().unwrap();
        let product = &catalog.products[key];
        assert_eq!(product.key, key);
        let languages: Vec<_> = p["languages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap())
            .collect();
        assert_eq!(
            product
                .distributions
                .keys()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            languages,
            "{key}"
        );
        assert_eq!(product.preferred_distribution("en").unwrap().0, "English");
        let packages = p["packages"].as_array().unwrap();
        assert_eq!(product.packages.len(), packages.len(), "{key}");
        for (mine, theirs) in product.packages.iter().zip(packages) {
            assert_eq!(mine.url, theirs["url"].as_str().unwrap());
            assert_eq!(mine.size, theirs["size"].as_u64().unwrap());
            assert_eq!(mine.digest_hex().as_deref(), theirs["digest"].as_str());
            if mine.size > 1_000_000_000 {
                assert!(mine.integrity_data_url.is_some() && mine.integrity_data_size.is_some());
            }
        }
        assert_eq!(
            product.server_metadata_url.as_deref(),
            p["server_metadata_url"].as_str(),
            "{key}"
        );
        assert_eq!(
            product
                .extended_meta_info
                .as_ref()
                .and_then(|e| e.product_version.as_deref()),
            p["product_version"].as_str(),
            "{key}"
        );
    }

    let skipped: Vec<_> = catalog
        .warnings
        .iter()
        .filter(|w| w.action == Action::SkippedProduct)
        .map(|w| w.product.as_str())
        .collect();
    let expected: Vec<_> = broken.iter().map(|p| p["key"].as_str().unwrap()).collect();
    assert_eq!(skipped, expected);
    // Nothing else in a generated catalog is off.
    assert_eq!(catalog.warnings.len(), broken.len());
}

#[test]
fn reads_plistlib_catalogs_plain_and_gzip() {
    if !peers_ready("reads_plistlib_catalogs_plain_and_gzip") {
        return;
    }
    let dir = test_support::tempdir();
    let (xml, manifest) = generate(dir.path(), "plain", &["--products", "3000", "--seed", "7"]);
    let (gz, manifest_gz) = generate(
        dir.path(),
        "gz",
        &["--products", "3000", "--seed", "7", "--gzip"],
    );
    assert_eq!(manifest, manifest_gz);
    assert_eq!(&gz[..2], b"\x1f\x8b");
    assert!(gz.len() < xml.len() / 4);

    let plain = Catalog::parse(&xml).unwrap();
    check_against_manifest(&plain, &manifest);
    let zipped = Catalog::parse(&gz).unwrap();
    assert_eq!(plain, zipped);

    // Some products have each optional part.
    let any = |f: &dyn Fn(&wsus_publish::catalog::Product) -> bool| plain.products.values().any(f);
    assert!(any(&|p| p.state.as_deref() == Some("ramped")));
    assert!(any(&|p| p.deferred_su_enablement_date.is_some()));
    assert!(any(&|p| !p.extra.is_empty()));
    assert!(any(&|p| p
        .extended_meta_info
        .as_ref()
        .is_some_and(|e| e.auto_update == Some(true))));
    assert!(any(&|p| p.extended_meta_info.as_ref().is_some_and(|e| e
        .install_assistant_package_identifiers
        .contains_key("SharedSupport"))));
}

#[test]
fn merges_overlapping_catalogs() {
    if !peers_ready("merges_overlapping_catalogs") {
        return;
    }
    let dir = test_support::tempdir();
    // Products 0..2000 and 1500..3500: 500 in both, described differently.
    let (a, ma) = generate(dir.path(), "a", &["--products", "2000", "--seed", "1"]);
    let (b, mb) = generate(
        dir.path(),
        "b",
        &[
            "--products",
            "2000",
            "--seed",
            "2",
            "--first",
            "1500",
            "--gzip",
        ],
    );
    let a = Catalog::parse(&a).unwrap();
    let b = Catalog::parse(&b).unwrap();
    check_against_manifest(&a, &ma);
    check_against_manifest(&b, &mb);

    let merged = merge([
        ("index-a.sucatalog", a.clone()),
        ("index-b.sucatalog", b.clone()),
    ]);
    let mut keys: Vec<&str> = products(&ma)
        .iter()
        .chain(products(&mb))
        .filter(|p| !is_broken(p))
        .map(|p| p["key"].as_str().unwrap())
        .collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(merged.products.len(), keys.len());
    assert_eq!(merged.warnings.len(), a.warnings.len() + b.warnings.len());

    let mut in_both = 0;
    for (key, m) in &merged.products {
        match (a.products.get(key), b.products.get(key)) {
            (Some(pa), Some(pb)) => {
                in_both += 1;
                assert_eq!(m.listed_in, [0, 1]);
                assert_eq!(
                    merged.sources_of(m).collect::<Vec<_>>(),
                    ["index-a.sucatalog", "index-b.sucatalog"]
                );
                for lang in pa.distributions.keys().chain(pb.distributions.keys()) {
                    assert!(m.product.distributions.contains_key(lang), "{key} {lang}");
                }
                for pkg in pa.packages.iter().chain(&pb.packages) {
                    assert!(m.product.packages.iter().any(|p| p.url == pkg.url));
                }
                assert_eq!(m.product.post_date, pa.post_date.max(pb.post_date));
            }
            (Some(p), None) => {
                assert_eq!(m.listed_in, [0]);
                assert_eq!(&m.product, p);
            }
            (None, Some(p)) => {
                assert_eq!(m.listed_in, [1]);
                assert_eq!(&m.product, p);
            }
            (None, None) => panic!("{key} came from nowhere"),
        }
    }
    assert!(in_both > 490, "{in_both}");
}

/// Parse time of a 5,000-product catalog (about 12 MB of XML). Run with
/// `cargo test --release -p wsus-publish --test catalog_plistlib -- --nocapture`
/// for the figure.
#[test]
fn parses_5000_products_quickly() {
    if !peers_ready("parses_5000_products_quickly") {
        return;
    }
    let dir = test_support::tempdir();
    let (xml, manifest) = generate(dir.path(), "big", &["--products", "5000", "--seed", "1"]);
    let (gz, _) = generate(
        dir.path(),
        "big-gz",
        &["--products", "5000", "--seed", "1", "--gzip"],
    );
    let best = |data: &[u8]| {
        (0..3)
            .map(|_| {
                let start = Instant::now();
                let c = Catalog::parse(data).unwrap();
                let t = start.elapsed();
                assert!(c.products.len() > 4900);
                t
            })
            .min()
            .unwrap()
    };
    let t_xml = best(&xml);
    let t_gz = best(&gz);
    eprintln!(
        "5,000 products: {} bytes of XML parsed in {t_xml:?}; {} bytes of gzip in {t_gz:?} ({})",
        xml.len(),
        gz.len(),
        if cfg!(debug_assertions) {
            "debug build"
        } else {
            "release build"
        }
    );
    check_against_manifest(&Catalog::parse(&xml).unwrap(), &manifest);
    if !cfg!(debug_assertions) {
        assert!(t_gz.as_secs_f64() < 2.0, "{t_gz:?}");
    }
}

/// The generator's distribution files, read against its manifest.
#[test]
fn reads_generated_distributions() {
    use wsus_publish::distribution::{CompareOp, Distribution, VersionSubject};

    if !peers_ready("reads_generated_distributions") {
        return;
    }
    let dir = test_support::tempdir();
    let dists = dir.path().join("dists");
    let dists_s = dists.to_string_lossy().into_owned();
    let (xml, manifest) = generate(
        dir.path(),
        "with-dists",
        &["--products", "1500", "--seed", "3", "--dist-dir", &dists_s],
    );
    let catalog = Catalog::parse(&xml).unwrap();
    let (mut scripted, mut allowed, mut unconstrained, mut quoted, mut with_aux) = (0, 0, 0, 0, 0);
    for p in products(&manifest) {
        let key = p["key"].as_str().unwrap();
        let data = std::fs::read(dists.join(format!("{key}.English.dist"))).unwrap();
        let d = Distribution::parse(&data).unwrap_or_else(|e| panic!("{key}: {e}"));
        assert_eq!(d.title(), p["title"].as_str(), "{key}");
        assert_eq!(d.version(), p["version"].as_str(), "{key}");
        if d.title().unwrap().contains('"') {
            quoted += 1;
        }
        assert_eq!(
            d.server_comment(),
            Some(format!("Generated product {key}").as_str())
        );
        let sentence = p["sentence"].as_str().unwrap();
        assert!(d.description_html().unwrap().contains(sentence), "{key}");
        let text = d.description_text(2000).unwrap();
        assert!(
            text.starts_with(&format!(
                "{sentence} It's recommended for all users & doesn't need a restart on \"supported\" Macs."
            )),
            "{key}: {text}"
        );
        assert!(!text.contains('<') && !text.contains("  ") && !text.contains("Lucida"));
        let short = d.description_text(40).unwrap();
        assert!(
            short.chars().count() <= 40 && short.ends_with('…'),
            "{short}"
        );

        let refs = p["pkg_refs"].as_array().unwrap();
        assert_eq!(d.pkg_refs.len(), refs.len(), "{key}");
        assert_eq!(d.choices[0].pkg_refs.len(), refs.len());
        for (mine, theirs) in d.pkg_refs.iter().zip(refs) {
            assert_eq!(mine.id, theirs["id"].as_str().unwrap());
            assert_eq!(mine.version.as_deref(), theirs["version"].as_str());
            assert_eq!(mine.install_kbytes, theirs["install_kbytes"].as_u64());
            assert_eq!(mine.location.as_deref(), theirs["name"].as_str());
        }
        if let Some(product) = catalog.products.get(key) {
            assert_eq!(product.packages.len(), d.pkg_refs.len());
            if product.extended_meta_info.is_some() {
                with_aux += 1;
                let aux = d.auxinfo.as_ref().expect("auxinfo");
                assert_eq!(
                    aux.get("macOSProductVersion").and_then(|v| v.as_str()),
                    p["version"].as_str()
                );
            }
        }

        let constraints: Vec<_> = d
            .os_version_constraints()
            .into_iter()
            .map(|c| (c.subject, c.op, c.version))
            .collect();
        match (p["os_min"].as_str(), p["os_before"].as_str()) {
            (Some(min), Some(before)) => {
                assert_eq!(
                    constraints,
                    [
                        (VersionSubject::RunningSystem, CompareOp::Ge, min.to_owned()),
                        (
                            VersionSubject::RunningSystem,
                            CompareOp::Lt,
                            before.to_owned()
                        ),
                    ],
                    "{key}"
                );
                match p["os_style"].as_str() {
                    Some("script") => {
                        scripted += 1;
                        assert_eq!(
                            d.installation_check_script.as_deref(),
                            Some("InstallationCheck()")
                        );
                        assert!(d.allowed_os_versions.is_empty());
                    }
                    _ => {
                        allowed += 1;
                        assert_eq!(d.allowed_os_versions.len(), 1);
                    }
                }
            }
            _ => {
                unconstrained += 1;
                assert!(constraints.is_empty(), "{key}: {constraints:?}");
            }
        }
    }
    assert!(
        scripted > 100 && allowed > 100 && unconstrained > 100 && quoted > 100 && with_aux > 100,
        "{scripted} {allowed} {unconstrained} {quoted} {with_aux}"
    );
}
