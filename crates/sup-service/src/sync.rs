//! One synchronisation cycle, and the schedule that repeats it.
//!
//! A cycle:
//!
//! 1. checks each configured Apple catalog with a conditional request;
//!    a new copy replaces the cached one only if it parses, and a catalog
//!    that fails to download or parse is used from the cache (its last good
//!    copy), so one bad answer from Apple never empties the catalog;
//! 2. merges the catalogs (a product listed by several appears once);
//! 3. reads each product's English distribution file, from the cache or
//!    downloaded (several at a time; Apple never changes one in place);
//! 4. builds the WSUS catalog ([`wsus_publish::publish::build`]); if its XML
//!    is what is already served, stops there;
//! 5. packs it into a cabinet, signs it, checks the signature, writes it
//!    (atomically, beside the unsigned XML) and serves it;
//! 6. reports the publication to cm-proxy (again at the next cycle if
//!    cm-proxy could not be reached).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use bytes::Bytes;
use serde_json::json;
use tokio::sync::{Mutex, Semaphore};
use tracing::{debug, info, warn};
use wsus_publish::catalog::{Catalog, CatalogLimits, Product};
use wsus_publish::client::CatalogClient;
use wsus_publish::distribution::Distribution;
use wsus_publish::fetch::{Fetched, Validators};
use wsus_publish::publish::{self, PublishOptions, UpdateFacts};

use crate::config::{CatalogSource, Settings};
use crate::http::{Served, Shared};
use crate::report::Reporter;
use crate::signing::SigningIdentity;
use crate::state::{DataDir, PublishedInfo, SourceState, State, sha256_hex};

/// Largest distribution file accepted (real ones are a few tens of KiB).
const MAX_DISTRIBUTION_BYTES: usize = 4 * 1024 * 1024;

/// What one cycle did.
#[derive(Clone, Debug)]
pub struct CycleReport {
    /// Whether a new catalog was signed and is now served.
    pub changed: bool,
    /// Counts of the catalog built.
    pub summary: publish::Summary,
    /// Catalogs that could not be checked this time (their cached copy
    /// was used, if any).
    pub failed_sources: usize,
    /// The catalog served after the cycle.
    pub published: Option<PublishedInfo>,
}

/// Runs cycles.
pub struct Syncer {
    settings: Arc<Settings>,
    data: DataDir,
    client: CatalogClient,
    signing: SigningIdentity,
    reporter: Option<Reporter>,
    shared: Arc<Shared>,
    state: Mutex<State>,
    metrics: SyncMetrics,
}

struct SyncMetrics {
    cycles: pippin_service::Counter,
    failures: pippin_service::Counter,
    publications: pippin_service::Counter,
    products: pippin_service::Gauge,
    last_success: pippin_service::Gauge,
}

impl std::fmt::Debug for Syncer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Syncer")
            .field("catalogs", &self.settings.catalogs.len())
            .field("signing", &self.signing)
            .finish_non_exhaustive()
    }
}

impl Syncer {
    /// A syncer over `data`, serving through `shared`. Loads the catalog
    /// already published, if any, so that it is served at once.
    pub fn new(
        settings: Arc<Settings>,
        data: DataDir,
        signing: SigningIdentity,
        reporter: Option<Reporter>,
        shared: Arc<Shared>,
    ) -> anyhow::Result<Self> {
        let extra_ca = match &settings.catalog_ca_file {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?,
            ),
            None => None,
        };
        let client = CatalogClient::new(extra_ca.as_deref(), settings.max_catalog_bytes)?;
        let state = data.load_state();
        if let Some(published) = &state.published {
            match std::fs::read(data.cab_path(&settings.catalog_name)) {
                Ok(cab) if sha256_hex(&cab) == published.cab_sha256 => {
                    let built_at = SystemTime::UNIX_EPOCH
                        + Duration::from_secs(u64::try_from(published.published_at).unwrap_or(0));
                    shared.set_current(Served {
                        cab: Bytes::from(cab),
                        sha256: published.cab_sha256.clone(),
                        built_at,
                    });
                    shared
                        .health
                        .set("catalog", pippin_service::HealthStatus::Ok, "published");
                }
                _ => warn!(
                    "the published catalog is missing or differs from the state file; it is rebuilt at the first cycle"
                ),
            }
        }
        let m = &shared.metrics;
        let metrics = SyncMetrics {
            cycles: m.counter("pippin_sup_cycles_total", "Synchronisation cycles run", &[])?,
            failures: m.counter(
                "pippin_sup_cycle_failures_total",
                "Cycles that published nothing because of an error",
                &[],
            )?,
            publications: m.counter(
                "pippin_sup_publications_total",
                "Signed catalogs published",
                &[],
            )?,
            products: m.gauge(
                "pippin_sup_products",
                "Products in Apple's catalogs at the last cycle",
                &[],
            )?,
            last_success: m.gauge(
                "pippin_sup_last_success_timestamp_seconds",
                "When a cycle last succeeded",
                &[],
            )?,
        };
        Ok(Self {
            settings,
            data,
            client,
            signing,
            reporter,
            shared,
            state: Mutex::new(state),
            metrics,
        })
    }

    /// Runs cycles until `shutdown` resolves: one now, then one per
    /// interval (after a failed cycle, again within ten minutes).
    pub async fn run(self: Arc<Self>, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let wait = match self.cycle().await {
                Ok(_) => self.settings.interval,
                Err(e) => {
                    warn!(
                        error = format!("{e:#}"),
                        "catalog cycle failed; the last good catalog stays published"
                    );
                    self.settings.interval.min(Duration::from_secs(600))
                }
            };
            tokio::select! {
                () = &mut shutdown => break,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Runs one cycle.
    pub async fn cycle(&self) -> anyhow::Result<CycleReport> {
        self.metrics.cycles.inc();
        let result = self.cycle_inner().await;
        match &result {
            Ok(report) => {
                let now = SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap_or_default();
                self.metrics.last_success.set(now.as_secs_f64());
                self.metrics.products.set(report.summary.products as f64);
                self.shared.health.set(
                    "sync",
                    pippin_service::HealthStatus::Ok,
                    "last cycle succeeded",
                );
            }
            Err(e) => {
                self.metrics.failures.inc();
                self.shared.health.set(
                    "sync",
                    pippin_service::HealthStatus::Degraded,
                    format!("last cycle failed: {e}"),
                );
            }
        }
        result
    }

    async fn cycle_inner(&self) -> anyhow::Result<CycleReport> {
        let started = std::time::Instant::now();
        let mut state = self.state.lock().await;
        let now = time::OffsetDateTime::now_utc();

        // 1. The catalogs.
        let mut catalogs = Vec::new();
        let mut failed_sources = 0;
        for source in &self.settings.catalogs {
            let previous = state.sources.get(&source.url).cloned().unwrap_or_default();
            let (catalog, source_state) = self
                .check_source(source, previous, now.unix_timestamp())
                .await;
            if source_state.last_error.is_some() {
                failed_sources += 1;
            }
            state.sources.insert(source.url.clone(), source_state);
            if let Some(c) = catalog {
                catalogs.push((source.os.clone(), c));
            }
        }
        if catalogs.is_empty() {
            self.data.save_state(&state)?;
            anyhow::bail!("no Apple catalog could be read (see the earlier warnings)");
        }

        // 2. Merged.
        let merged = wsus_publish::catalog::merge(catalogs);
        let products: Vec<Product> = merged.products.into_values().map(|m| m.product).collect();

        // 3. Distributions: downloaded into the cache here, read from it
        // one at a time below, so that memory holds one at a time.
        let fetch_distributions = self.settings.fetch_distributions;
        if fetch_distributions {
            self.fetch_distributions(&products).await;
        }

        // 4. The WSUS catalog.
        let options = PublishOptions {
            expired_retention: self.settings.expired_retention,
            ..PublishOptions::default()
        };
        let ledger = state.ledger.clone();
        let data = self.data.clone();
        let built = tokio::task::spawn_blocking(move || {
            let facts: Vec<UpdateFacts> = products
                .iter()
                .map(|p| {
                    let dist = fetch_distributions
                        .then(|| p.preferred_distribution("English"))
                        .flatten()
                        .and_then(|(_, url)| data.cached_distribution(url))
                        .and_then(|bytes| Distribution::parse(&bytes).ok());
                    UpdateFacts::from_product(p, dist.as_ref())
                })
                .collect();
            let publication = publish::build(&facts, &ledger, &options, now);
            let xml = publication.catalog.to_xml();
            (publication, xml)
        })
        .await?;
        let (publication, xml) = built;
        let xml_sha256 = sha256_hex(&xml);
        let summary = publication.summary;
        state.ledger = publication.ledger;
        let name = self.settings.catalog_name.clone();
        let unchanged = state
            .published
            .as_ref()
            .is_some_and(|p| p.xml_sha256 == xml_sha256 && self.data.cab_path(&name).exists());

        let mut changed = false;
        if !unchanged {
            // 5. Cabinet, signature, files.
            let signer = self.signing.signer.clone();
            let inner_name = format!("{name}.xml");
            let xml_for_cab = xml.clone();
            let signed = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<u8>> {
                let mut builder = wsus_publish::cab::CabBuilder::new();
                builder.authenticode_reserve();
                builder
                    .add_file(
                        &inner_name,
                        xml_for_cab,
                        time::PrimitiveDateTime::new(now.date(), now.time()),
                    )
                    .context("packing the catalog")?;
                let cab = builder.build().context("packing the catalog")?;
                let signed = wsus_publish::authenticode::sign_cab(&cab, &signer)
                    .context("signing the catalog")?;
                wsus_publish::authenticode::verify_cab(&signed)
                    .context("checking the signature just made")?;
                Ok(signed)
            })
            .await??;
            let cab_sha256 = sha256_hex(&signed);
            self.data.publish(&self.data.xml_path(&name), &xml)?;
            self.data.publish(&self.data.cab_path(&name), &signed)?;
            let built_at = SystemTime::now();
            let published = PublishedInfo {
                published_at: time::OffsetDateTime::from(built_at).unix_timestamp(),
                xml_sha256,
                cab_sha256: cab_sha256.clone(),
                products: summary.products,
                packages_published: summary.published,
                superseded: summary.superseding,
                expired: summary.expired,
                reported: false,
            };
            state.published = Some(published);
            self.shared.set_current(Served {
                cab: Bytes::from(signed),
                sha256: cab_sha256,
                built_at,
            });
            self.shared
                .health
                .set("catalog", pippin_service::HealthStatus::Ok, "published");
            self.metrics.publications.inc();
            changed = true;
            info!(
                products = summary.products,
                packages = summary.published,
                superseding = summary.superseding,
                expired = summary.expired,
                without_distribution = summary.without_distribution,
                seconds = started.elapsed().as_secs_f64(),
                url = %self.settings.catalog_url(),
                "published a new signed catalog"
            );
        } else {
            info!(
                products = summary.products,
                "Apple's catalogs are unchanged; the served catalog stays"
            );
        }
        self.data.save_state(&state)?;

        // 6. Report.
        if let (Some(reporter), Some(published)) = (&self.reporter, state.published.clone())
            && !published.reported
        {
            let detail = json!({
                "signer": self.signing.subject,
                "sources": self.settings.catalogs.iter().map(|s| {
                    let st = state.sources.get(&s.url).cloned().unwrap_or_default();
                    json!({"os": s.os, "url": s.url, "etag": st.etag, "products": st.products, "error": st.last_error})
                }).collect::<Vec<_>>(),
                "without_distribution": summary.without_distribution,
            });
            match reporter
                .report(&self.settings.catalog_url(), &published, detail)
                .await
            {
                Ok(id) => {
                    info!(id, "publication reported to cm-proxy");
                    if let Some(p) = state.published.as_mut() {
                        p.reported = true;
                    }
                    self.data.save_state(&state)?;
                }
                Err(e) => warn!(
                    error = format!("{e:#}"),
                    "cannot report the publication to cm-proxy; trying again at the next cycle"
                ),
            }
        }
        Ok(CycleReport {
            changed,
            summary,
            failed_sources,
            published: state.published.clone(),
        })
    }

    /// Checks one catalog: its parsed content (new or cached) and its new
    /// state.
    async fn check_source(
        &self,
        source: &CatalogSource,
        previous: SourceState,
        now: i64,
    ) -> (Option<Catalog>, SourceState) {
        let mut next = SourceState {
            checked_at: Some(now),
            last_error: None,
            ..previous.clone()
        };
        let cached = || -> Option<Catalog> {
            let body = self.data.cached_catalog(&source.url)?;
            parse_catalog(&body, self.settings.max_catalog_bytes).ok()
        };
        let validators = if self.data.has_catalog(&source.url) {
            previous.validators()
        } else {
            Validators::default()
        };
        let fetched = self.client.fetch(&source.url, &validators).await;
        match fetched {
            Ok(Fetched::NotModified) => {
                debug!(os = %source.os, "catalog not modified");
                let catalog = cached();
                if catalog.is_none() {
                    next.last_error =
                        Some("not modified, but the cached copy is unreadable".to_owned());
                    next.etag = None;
                    next.last_modified = None;
                }
                (catalog, next)
            }
            Ok(Fetched::Modified { body, validators }) => {
                let limit = self.settings.max_catalog_bytes;
                let parsed = tokio::task::spawn_blocking(move || {
                    let catalog = parse_catalog(&body, limit);
                    (body, catalog)
                })
                .await;
                match parsed {
                    Ok((body, Ok(catalog))) => {
                        if let Err(e) = self.data.cache_catalog(&source.url, &body) {
                            warn!(error = %e, "cannot cache the catalog");
                        }
                        info!(os = %source.os, products = catalog.products.len(), warnings = catalog.warnings.len(), bytes = body.len(), "catalog downloaded");
                        next.etag = validators.etag;
                        next.last_modified = validators.last_modified;
                        next.fetched_at = Some(now);
                        next.products = catalog.products.len();
                        (Some(catalog), next)
                    }
                    Ok((_, Err(e))) => {
                        warn!(os = %source.os, url = %source.url, error = %e, "the downloaded catalog does not parse; using the last good copy");
                        next.last_error = Some(format!("does not parse: {e}"));
                        (cached(), next)
                    }
                    Err(e) => {
                        next.last_error = Some(format!("parser failed: {e}"));
                        (cached(), next)
                    }
                }
            }
            Err(e) => {
                warn!(os = %source.os, url = %source.url, error = %e, "cannot download the catalog; using the last good copy");
                next.last_error = Some(e.to_string());
                (cached(), next)
            }
        }
    }

    /// Downloads the English distribution files that are not in the cache
    /// yet, several at a time; a file is cached only if it parses.
    async fn fetch_distributions(&self, products: &[Product]) {
        let mut missing: Vec<&str> = products
            .iter()
            .filter_map(|p| p.preferred_distribution("English").map(|(_, url)| url))
            .filter(|url| !self.data.has_distribution(url))
            .collect();
        missing.sort_unstable();
        missing.dedup();
        if missing.is_empty() {
            return;
        }
        info!(count = missing.len(), "downloading distribution files");
        let semaphore = Semaphore::new(self.settings.distribution_concurrency);
        let downloads = missing.into_iter().map(|url| {
            let semaphore = &semaphore;
            async move {
                let _permit = semaphore.acquire().await.ok();
                let problem = match self.client.fetch(url, &Validators::default()).await {
                    Ok(Fetched::Modified { body, .. }) if body.len() <= MAX_DISTRIBUTION_BYTES => {
                        match Distribution::parse(&body) {
                            Ok(_) => match self.data.cache_distribution(url, &body) {
                                Ok(()) => return true,
                                Err(e) => format!("cannot cache it: {e:#}"),
                            },
                            Err(e) => format!("does not parse: {e}"),
                        }
                    }
                    Ok(Fetched::Modified { body, .. }) => {
                        format!("{} bytes, too large", body.len())
                    }
                    Ok(Fetched::NotModified) => "304 to an unconditional request".to_owned(),
                    Err(e) => e.to_string(),
                };
                debug!(%url, %problem, "distribution file not read");
                false
            }
        });
        let results = futures_util::future::join_all(downloads).await;
        let failed = results.iter().filter(|ok| !**ok).count();
        if failed > 0 {
            warn!(
                failed,
                "distribution files could not be read; those products are published with what the catalog says (tried again at the next cycle)"
            );
        }
    }
}

fn parse_catalog(
    body: &[u8],
    max_bytes: usize,
) -> Result<Catalog, wsus_publish::catalog::CatalogError> {
    let mut limits = CatalogLimits::default();
    limits.max_input_len(max_bytes.min(limits.max_input_len.max(max_bytes)));
    Catalog::parse_with(body, &limits)
}
