//! From Apple products to a WSUS catalog: what each product is called, how
//! it is classified, which products supersede which, and which updates are
//! withdrawn because Apple no longer lists them.
//!
//! The input is one [`UpdateFacts`] per product (from its catalog entry and,
//! when available, its distribution file: [`UpdateFacts::from_product`]) and
//! the [`Ledger`] of what was published before; the output is the catalog to
//! sign and the new ledger ([`build`]). Everything is a pure function of its
//! inputs, so an unchanged Apple catalog gives a byte-identical WSUS
//! catalog and nothing is re-signed or re-imported.
//!
//! ```
//! use time::macros::datetime;
//! use wsus_publish::publish::{Ledger, PublishOptions, UpdateFacts, build};
//!
//! let mut older = UpdateFacts::new("041-00001", datetime!(2024-03-07 18:00 UTC));
//! older.title = "Safari".into();
//! older.version = Some("17.4".into());
//! let mut newer = UpdateFacts::new("041-00002", datetime!(2024-05-13 17:00 UTC));
//! newer.title = "Safari".into();
//! newer.version = Some("17.5".into());
//!
//! let now = datetime!(2024-05-14 0:00 UTC);
//! let out = build(&[older, newer], &Ledger::default(), &PublishOptions::default(), now);
//! assert_eq!(out.summary.published, 2);
//! assert_eq!(out.summary.superseding, 1);
//! let safari_17_5 = &out.catalog.packages[0];
//! assert_eq!(safari_17_5.localized.title, "Safari 17.5");
//! assert_eq!(safari_17_5.superseded, [wsus_publish::sdp::package_id("041-00001")]);
//! ```

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use time::OffsetDateTime;

use crate::catalog::Product;
use crate::distribution::Distribution;
use crate::sdp::{
    self, MAX_DESCRIPTION_CHARS, MsrcSeverity, OriginFile, PublicationState, Rule,
    SoftwareDistributionPackage, UpdateClassification,
};

/// Most older packages one package lists as superseded: WSUS follows
/// chains, so the nearest ones suffice, and the XML stays bounded.
pub const MAX_SUPERSEDED: usize = 32;

/// What Pippin knows about one Apple product, whatever it was read from.
#[derive(Clone, Debug, PartialEq)]
pub struct UpdateFacts {
    /// Apple's product key (`041-12345`, `012-34567`).
    pub product_key: String,
    /// When Apple posted it.
    pub post_date: OffsetDateTime,
    /// Its name without version ("Safari", "macOS Sonoma 14.5 Update" has
    /// the version in its name and keeps it).
    pub title: String,
    /// Its version, when known.
    pub version: Option<String>,
    /// What it is, plain text.
    pub description: String,
    /// What it requires of the macOS version: (operator, version) with
    /// the operators of [`Rule::os_version`] (`>=`, `<`, ...).
    pub os_checks: Vec<(String, String)>,
    /// Package receipts (identifier, version) that show it installed.
    pub receipts: Vec<(String, String)>,
    /// Apple's packages that carry it.
    pub files: Vec<OriginFile>,
    /// Whether it is a whole macOS installer (`InstallAssistant`).
    pub installer: bool,
    /// Whether its distribution file was read.
    pub has_distribution: bool,
}

impl UpdateFacts {
    /// Facts with only the key and date known; the title defaults to the
    /// key.
    pub fn new(product_key: &str, post_date: OffsetDateTime) -> Self {
        Self {
            product_key: product_key.to_owned(),
            post_date,
            title: product_key.to_owned(),
            version: None,
            description: String::new(),
            os_checks: Vec::new(),
            receipts: Vec::new(),
            files: Vec::new(),
            installer: false,
            has_distribution: false,
        }
    }

    /// The facts of `product`, with its distribution file when it was
    /// downloaded and read.
    pub fn from_product(product: &Product, distribution: Option<&Distribution>) -> Self {
        let mut facts = Self::new(&product.key, product.post_date);
        if let Some(info) = &product.extended_meta_info {
            facts.installer = !info.install_assistant_package_identifiers.is_empty();
            if facts.installer {
                facts.title = "macOS installer".to_owned();
            }
            facts.version.clone_from(&info.product_version);
        }
        facts.files = product
            .packages
            .iter()
            .filter_map(|p| {
                let sha1 = p.digest?;
                let file_name = p
                    .url
                    .rsplit('/')
                    .next()
                    .filter(|n| !n.is_empty())?
                    .to_owned();
                Some(OriginFile {
                    file_name,
                    origin_uri: p.url.clone(),
                    size: p.size,
                    sha1,
                    modified: product.post_date,
                })
            })
            .collect();
        if let Some(dist) = distribution {
            facts.has_distribution = true;
            if let Some(title) = dist.title().filter(|t| !t.trim().is_empty()) {
                facts.title = title.trim().to_owned();
            }
            if let Some(version) = dist.version().filter(|v| !v.trim().is_empty()) {
                facts.version = Some(version.trim().to_owned());
            }
            facts.description = dist
                .description_text(MAX_DESCRIPTION_CHARS)
                .unwrap_or_default();
            for c in dist.os_version_constraints() {
                let check = (
                    c.op.as_str().replace("==", "=").replace("!=", "<>"),
                    c.version,
                );
                if !facts.os_checks.contains(&check) {
                    facts.os_checks.push(check);
                }
            }
            facts.receipts = dist
                .pkg_refs
                .iter()
                .filter_map(|r| Some((r.id.clone(), r.version.clone()?)))
                .collect();
        }
        facts
    }

    /// Title and version as WSUS shows them: "Safari 17.5"; a title that
    /// already names its version is left alone.
    pub fn display_title(&self) -> String {
        match &self.version {
            Some(v) if !self.title.contains(v.as_str()) => format!("{} {v}", self.title),
            _ => self.title.clone(),
        }
    }
}

/// Choices of the publisher.
#[derive(Clone, Debug)]
pub struct PublishOptions {
    /// `MoreInfoUrl` of every package.
    pub more_info_url: Option<String>,
    /// `SupportUrl` of every package.
    pub support_url: Option<String>,
    /// `MsrcSeverity` given to security updates (Apple rates none).
    pub security_severity: Option<MsrcSeverity>,
    /// How long a product Apple no longer lists stays in the catalog as
    /// expired.
    pub expired_retention: Duration,
}

impl Default for PublishOptions {
    fn default() -> Self {
        Self {
            more_info_url: Some("https://support.apple.com/en-us/100100".to_owned()),
            support_url: Some("https://support.apple.com/".to_owned()),
            security_severity: None,
            expired_retention: Duration::from_secs(180 * 86_400),
        }
    }
}

/// What was published, kept between runs: enough to withdraw an update
/// after Apple stops listing it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize, serde::Serialize))]
pub struct Ledger {
    /// By product key.
    pub products: BTreeMap<String, LedgerEntry>,
}

/// One product in the [`Ledger`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize, serde::Serialize))]
pub struct LedgerEntry {
    /// The title published.
    pub title: String,
    /// The product category.
    pub product_name: String,
    /// The classification.
    pub classification: String,
    /// Apple's PostDate (Unix seconds).
    pub post_date: i64,
    /// When it was first published (Unix seconds).
    pub first_published: i64,
    /// When Apple last listed it (Unix seconds).
    pub last_seen: i64,
    /// Since when Apple no longer lists it (Unix seconds).
    pub expired_since: Option<i64>,
}

/// The result of [`build`].
#[derive(Clone, Debug)]
pub struct Publication {
    /// The catalog to write and sign.
    pub catalog: sdp::Catalog,
    /// Counts, for logs and reports.
    pub summary: Summary,
    /// The ledger to keep for the next run.
    pub ledger: Ledger,
}

/// Counts of a [`Publication`].
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub struct Summary {
    /// Products Apple lists.
    pub products: usize,
    /// Packages in the catalog, expired ones included.
    pub published: usize,
    /// Packages that supersede at least one other.
    pub superseding: usize,
    /// Packages superseded by a newer one.
    pub superseded: usize,
    /// Packages published as expired.
    pub expired: usize,
    /// Products published without their distribution file.
    pub without_distribution: usize,
}

/// The catalog for `facts` (one per product Apple lists now), given what
/// was published before (`previous`), at `now`.
pub fn build(
    facts: &[UpdateFacts],
    previous: &Ledger,
    options: &PublishOptions,
    now: OffsetDateTime,
) -> Publication {
    let now_secs = now.unix_timestamp();
    let mut summary = Summary {
        products: facts.len(),
        ..Summary::default()
    };
    let mut ledger = Ledger::default();

    // Newest first, then by key: the order of the catalog.
    let mut seen = std::collections::HashSet::new();
    let mut order: Vec<&UpdateFacts> = facts
        .iter()
        .filter(|f| seen.insert(f.product_key.as_str()))
        .collect();
    order.sort_by(|a, b| {
        b.post_date
            .cmp(&a.post_date)
            .then_with(|| a.product_key.cmp(&b.product_key))
    });

    let supersedes = supersedence(&order);
    let mut packages = Vec::with_capacity(order.len());
    for f in &order {
        let (classification, product_name) = classify(f);
        let mut sdp = SoftwareDistributionPackage::new(&f.product_key, f.post_date);
        sdp.properties.product_name = product_name.to_owned();
        sdp.properties
            .more_info_url
            .clone_from(&options.more_info_url);
        sdp.properties.support_url.clone_from(&options.support_url);
        sdp.localized.title = f.display_title();
        sdp.localized.description = if f.description.is_empty() {
            format!("{} (Apple product {}).", f.display_title(), f.product_key)
        } else {
            f.description.clone()
        };
        sdp.update_data.classification = classification;
        sdp.update_data.kb_article_id = Some(f.product_key.clone());
        if classification == UpdateClassification::SecurityUpdates {
            sdp.update_data.msrc_severity = options.security_severity;
        }
        let mut installable = Vec::new();
        let checks: Vec<(&str, &str)> = f
            .os_checks
            .iter()
            .map(|(op, v)| (op.as_str(), v.as_str()))
            .collect();
        if let Some(range) = Rule::os_version(&checks) {
            installable.push(range);
        }
        installable.push(Rule::available_update(&f.product_key));
        sdp.item.is_installable = Rule::all(installable);
        let mut installed = vec![Rule::installed_update(&f.product_key)];
        if !f.receipts.is_empty() {
            installed.push(Rule::all(
                f.receipts
                    .iter()
                    .map(|(id, v)| Rule::package_receipt(id, v))
                    .collect(),
            ));
        }
        sdp.item.is_installed = if installed.len() == 1 {
            installed.remove(0)
        } else {
            Rule::Or(installed)
        };
        if f.installer {
            sdp.item.install.impact = sdp::Impact::RequiresExclusiveHandling;
            sdp.item.install.reboot = sdp::RebootBehavior::AlwaysRequiresReboot;
        }
        sdp.item.origin_files = f.files.clone();
        if let Some(older) = supersedes.get(f.product_key.as_str()) {
            sdp.superseded = older.iter().map(|k| sdp::package_id(k)).collect();
            summary.superseding += 1;
        }
        if !f.has_distribution {
            summary.without_distribution += 1;
        }
        let first_published = previous
            .products
            .get(&f.product_key)
            .map_or(now_secs, |e| e.first_published);
        ledger.products.insert(
            f.product_key.clone(),
            LedgerEntry {
                title: sdp.localized.title.clone(),
                product_name: product_name.to_owned(),
                classification: classification.as_str().to_owned(),
                post_date: f.post_date.unix_timestamp(),
                first_published,
                last_seen: now_secs,
                expired_since: None,
            },
        );
        packages.push(sdp);
    }
    summary.superseded = supersedes
        .values()
        .flatten()
        .collect::<std::collections::HashSet<_>>()
        .len();

    // Products Apple no longer lists: withdrawn, then forgotten after the
    // retention period.
    let retention = i64::try_from(options.expired_retention.as_secs()).unwrap_or(i64::MAX);
    for (key, entry) in &previous.products {
        if ledger.products.contains_key(key) {
            continue;
        }
        let since = entry.expired_since.unwrap_or(now_secs);
        if now_secs.saturating_sub(since) > retention {
            continue;
        }
        let when = OffsetDateTime::from_unix_timestamp(since).unwrap_or(now);
        let mut sdp = SoftwareDistributionPackage::new(key, when);
        sdp.properties.publication_state = PublicationState::Expired;
        sdp.properties.product_name.clone_from(&entry.product_name);
        sdp.properties
            .more_info_url
            .clone_from(&options.more_info_url);
        sdp.properties.support_url.clone_from(&options.support_url);
        sdp.localized.title.clone_from(&entry.title);
        sdp.localized.description = format!(
            "{} (Apple product {key}), no longer offered by Apple.",
            entry.title
        );
        sdp.update_data.classification = UpdateClassification::from_name(&entry.classification)
            .unwrap_or(UpdateClassification::Updates);
        sdp.update_data.kb_article_id = Some(key.clone());
        packages.push(sdp);
        summary.expired += 1;
        ledger.products.insert(
            key.clone(),
            LedgerEntry {
                expired_since: Some(since),
                ..entry.clone()
            },
        );
    }
    summary.published = packages.len();
    Publication {
        catalog: sdp::Catalog { packages },
        summary,
        ledger,
    }
}

/// Classification and product category of an update, from its name.
pub fn classify(f: &UpdateFacts) -> (UpdateClassification, &'static str) {
    let t = f.title.to_ascii_lowercase();
    let has = |s: &str| t.contains(s);
    if f.installer || t.starts_with("install macos") || t.starts_with("install os x") {
        (UpdateClassification::FeaturePacks, "macOS")
    } else if has("xprotect")
        || has("mrt")
        || has("gatekeeper")
        || has("configdata")
        || has("config data")
        || has("compatibility notification")
        || has("incompatible kernel extension")
    {
        (
            UpdateClassification::DefinitionUpdates,
            "macOS Configuration Data",
        )
    } else if has("security update") || has("security response") || has("background security") {
        (UpdateClassification::SecurityUpdates, "macOS")
    } else if t.starts_with("safari") {
        (UpdateClassification::Updates, "Safari")
    } else if has("command line tools") || has("xcode") {
        (UpdateClassification::Tools, "Xcode")
    } else if t.starts_with("macos") || t.starts_with("os x") || t.starts_with("mac os x") {
        (UpdateClassification::Updates, "macOS")
    } else if has("printer") || has("print ") || has("scanner") {
        (UpdateClassification::Updates, "Printers and Scanners")
    } else {
        (UpdateClassification::Updates, "Apple Software")
    }
}

/// For each product that replaces others, the keys it replaces, nearest
/// first: products of one family (same title less its numbers, same macOS
/// range) ordered by version, then by date.
fn supersedence<'a>(products: &[&'a UpdateFacts]) -> HashMap<&'a str, Vec<&'a str>> {
    // Each member with its version, worked out once.
    let mut families: HashMap<FamilyKey<'_>, Vec<(Vec<u64>, &UpdateFacts)>> = HashMap::new();
    for f in products {
        if f.title == f.product_key {
            continue; // nothing known to compare by
        }
        let key = (family_name(&f.title), f.os_checks.as_slice());
        families.entry(key).or_default().push((version_of(f), f));
    }
    let mut out = HashMap::new();
    for members in families.values_mut() {
        if members.len() < 2 {
            continue;
        }
        // Newest first.
        members.sort_by(|(va, a), (vb, b)| {
            compare_versions(vb, va)
                .then_with(|| b.post_date.cmp(&a.post_date))
                .then_with(|| a.product_key.cmp(&b.product_key))
        });
        for (i, (newer_version, newer)) in members.iter().enumerate() {
            let older: Vec<&str> = members[i + 1..]
                .iter()
                .filter(|(older_version, o)| {
                    compare_versions(newer_version, older_version) == Ordering::Greater
                        || (newer_version == older_version && newer.post_date > o.post_date)
                })
                .take(MAX_SUPERSEDED)
                .map(|(_, o)| o.product_key.as_str())
                .collect();
            if !older.is_empty() {
                out.insert(newer.product_key.as_str(), older);
            }
        }
    }
    out
}

/// A family of products: its name and its macOS version checks.
type FamilyKey<'a> = (String, &'a [(String, String)]);

/// The title with its numbers (versions, dates such as 2024-002) and
/// punctuation removed, lowercase: "Security Update 2024-002 Ventura" and
/// "Security Update 2024-003 Ventura" are one family.
fn family_name(title: &str) -> String {
    title
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')' || c == ',')
        .filter(|w| !w.is_empty() && !w.chars().any(|c| c.is_ascii_digit()))
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The numbers that order a product: its version, else those in its title.
fn version_of(f: &UpdateFacts) -> Vec<u64> {
    let source = f.version.as_deref().unwrap_or(&f.title);
    let mut numbers = numbers_in(source);
    if f.version.is_some() {
        // "Security Update 2024-002" carries its order in the title.
        let from_title = numbers_in(&f.title);
        if !from_title.is_empty() && numbers.is_empty() {
            numbers = from_title;
        }
    }
    numbers
}

fn numbers_in(s: &str) -> Vec<u64> {
    s.split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty())
        .take(8)
        .map(|p| p.parse().unwrap_or(u64::MAX))
        .collect()
}

/// Compares versions part by part, a missing part counting as zero.
fn compare_versions(a: &[u64], b: &[u64]) -> Ordering {
    for i in 0..a.len().max(b.len()) {
        let (x, y) = (
            a.get(i).copied().unwrap_or(0),
            b.get(i).copied().unwrap_or(0),
        );
        match x.cmp(&y) {
            Ordering::Equal => {}
            other => return other,
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests;
