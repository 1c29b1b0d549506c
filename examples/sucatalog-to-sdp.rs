//! `sucatalog-to-sdp`: Apple software-update catalogs to a signed WSUS
//! catalog cabinet. See `--help`.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Parser;
use wsus_publish::authenticode::{Signer, sign_cab, verify_cab};
use wsus_publish::cab::CabBuilder;
use wsus_publish::catalog::Catalog;
use wsus_publish::distribution::Distribution;
use wsus_publish::publish::{Ledger, PublishOptions, UpdateFacts, build};

/// Turns Apple software-update catalogs (.sucatalog, plain or gzip) into a
/// WSUS third-party catalog: one Software Distribution Package per product
/// (metadata only, vendor "Apple"), in a SystemsManagementCatalog XML
/// packed into a cabinet and, with --sign-cert and --sign-key, signed with
/// Authenticode as ConfigMgr's third-party catalogs require.
///
/// Prints a summary as one JSON object: products read, packages written,
/// superseding and superseded packages, products without a distribution
/// file, and the cabinet's SHA-256.
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
struct Args {
    /// A catalog file; repeat to merge several.
    #[arg(long = "catalog", required = true, value_name = "FILE")]
    catalogs: Vec<PathBuf>,
    /// Where to write the cabinet.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Signing certificate (then any intermediates), PEM.
    #[arg(long, value_name = "PEM", requires = "sign_key")]
    sign_cert: Option<PathBuf>,
    /// Its RSA private key, PEM (PKCS#8 or PKCS#1).
    #[arg(long, value_name = "PEM", requires = "sign_cert")]
    sign_key: Option<PathBuf>,
    /// Also write the catalog XML here.
    #[arg(long, value_name = "FILE")]
    xml_out: Option<PathBuf>,
    /// Folder of distribution files named `<product key>.English.dist`,
    /// for titles, versions, descriptions and OS checks.
    #[arg(long, value_name = "DIR")]
    dist_dir: Option<PathBuf>,
    /// Name of the XML file inside the cabinet [default: the cabinet's
    /// name with .xml].
    #[arg(long, value_name = "NAME")]
    inner_name: Option<String>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let started = std::time::Instant::now();
    let mut catalogs = Vec::new();
    for path in &args.catalogs {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let catalog =
            Catalog::parse(&bytes).with_context(|| format!("parsing {}", path.display()))?;
        for w in &catalog.warnings {
            eprintln!("{}: {w}", path.display());
        }
        catalogs.push((path.display().to_string(), catalog));
    }
    let merged = wsus_publish::catalog::merge(catalogs);
    let facts: Vec<UpdateFacts> = merged
        .products
        .values()
        .map(|m| {
            let p = &m.product;
            let dist = args
                .dist_dir
                .as_deref()
                .and_then(|d| distribution(d, &p.key));
            UpdateFacts::from_product(p, dist.as_ref())
        })
        .collect();
    let now = time::OffsetDateTime::now_utc();
    let publication = build(&facts, &Ledger::default(), &PublishOptions::default(), now);
    let xml = publication.catalog.to_xml();
    if let Some(path) = &args.xml_out {
        std::fs::write(path, &xml).with_context(|| format!("writing {}", path.display()))?;
    }
    let inner = match &args.inner_name {
        Some(n) => n.clone(),
        None => {
            let stem = args
                .out
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("catalog");
            format!("{stem}.xml")
        }
    };
    let mut builder = CabBuilder::new();
    if args.sign_cert.is_some() {
        builder.authenticode_reserve();
    }
    builder.add_file(
        &inner,
        xml.as_slice(),
        time::PrimitiveDateTime::new(now.date(), now.time()),
    )?;
    let mut cab = builder.build()?;
    let mut signer_subject = None;
    if let (Some(cert), Some(key)) = (&args.sign_cert, &args.sign_key) {
        let cert_pem =
            std::fs::read_to_string(cert).with_context(|| format!("reading {}", cert.display()))?;
        let key_pem =
            std::fs::read_to_string(key).with_context(|| format!("reading {}", key.display()))?;
        let signer = Signer::from_pem(cert_pem.as_bytes(), key_pem.as_bytes())?;
        cab = sign_cab(&cab, &signer)?;
        let verified = verify_cab(&cab)?;
        signer_subject = Some(format!("{verified:?}"));
    } else {
        eprintln!(
            "warning: the cabinet is not signed (give --sign-cert and --sign-key); ConfigMgr refuses unsigned catalogs"
        );
    }
    std::fs::write(&args.out, &cab).with_context(|| format!("writing {}", args.out.display()))?;
    let s = publication.summary;
    let summary = serde_json::json!({
        "products": s.products,
        "packages_written": s.published,
        "superseding": s.superseding,
        "superseded": s.superseded,
        "without_distribution": s.without_distribution,
        "xml_bytes": xml.len(),
        "cab_bytes": cab.len(),
        "cab_sha256": hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&cab)),
        "signed": signer_subject.is_some(),
        "seconds": started.elapsed().as_secs_f64(),
    });
    println!("{summary}");
    Ok(())
}

fn distribution(dir: &Path, key: &str) -> Option<Distribution> {
    let bytes = std::fs::read(dir.join(format!("{key}.English.dist"))).ok()?;
    Distribution::parse(&bytes).ok()
}
