//! `sucatalog-list`: one JSON line per product of Apple software-update
//! catalogs. See `--help`.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Parser;
use wsus_publish::catalog::{Catalog, MergedCatalog};
use wsus_publish::distribution::Distribution;
use wsus_publish::publish::UpdateFacts;

/// Lists the products of Apple software-update catalogs (.sucatalog, plain
/// or gzip), one JSON object per line: `product_key`, `title`, `version`,
/// `post_date`, `packages`, `size` (bytes, all packages), and `catalogs`
/// (how many of the given catalogs list it). Title and version come from
/// the product's English distribution file when --dist-dir holds it
/// (`<key>.English.dist`), else from the catalog (`null` when it has
/// none). Products the catalog holds but that cannot be read are reported
/// on standard error, one line each, and skipped.
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
struct Args {
    /// A catalog file; repeat to merge several (a product listed by more
    /// than one appears once).
    #[arg(long = "catalog", required = true, value_name = "FILE")]
    catalogs: Vec<PathBuf>,
    /// Folder of distribution files named `<product key>.English.dist`.
    #[arg(long, value_name = "DIR")]
    dist_dir: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let merged = read_catalogs(&args.catalogs)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for merged_product in merged.products.values() {
        let product = &merged_product.product;
        let dist = args
            .dist_dir
            .as_deref()
            .and_then(|d| read_distribution(d, &product.key));
        let facts = UpdateFacts::from_product(product, dist.as_ref());
        let title = (facts.title != product.key).then_some(facts.title.as_str());
        let post_date = product
            .post_date
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let line = serde_json::json!({
            "product_key": product.key,
            "title": title,
            "version": facts.version,
            "post_date": post_date,
            "packages": product.packages.len(),
            "size": product.total_size(),
            "catalogs": merged_product.listed_in.len(),
        });
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    Ok(())
}

/// Reads and merges `paths`, reporting skipped products on standard error.
fn read_catalogs(paths: &[PathBuf]) -> anyhow::Result<MergedCatalog> {
    let mut catalogs = Vec::new();
    for path in paths {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let catalog =
            Catalog::parse(&bytes).with_context(|| format!("parsing {}", path.display()))?;
        for w in &catalog.warnings {
            eprintln!("{}: {w}", path.display());
        }
        catalogs.push((path.display().to_string(), catalog));
    }
    Ok(wsus_publish::catalog::merge(catalogs))
}

/// The English distribution of `key` in `dir`, if there and readable.
fn read_distribution(dir: &Path, key: &str) -> Option<Distribution> {
    let bytes = std::fs::read(dir.join(format!("{key}.English.dist"))).ok()?;
    match Distribution::parse(&bytes) {
        Ok(d) => Some(d),
        Err(e) => {
            eprintln!("{key}.English.dist: {e}");
            None
        }
    }
}
