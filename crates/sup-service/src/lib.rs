//! Pippin's software update point for Macs ("OS X Software Update
//! Point"): it downloads Apple's software-update catalogs on a schedule,
//! turns them into a WSUS third-party catalog of metadata-only updates
//! (vendor "Apple"), signs it, and serves it over HTTPS at a stable URL
//! that ConfigMgr's *Third-party software update catalogs* subscribes to.
//! Apple's updates then appear under Software Updates in the console; each
//! carries its Apple product key, from which the ConfigMgr bridge in
//! cm-proxy (planned) makes the MDM `ScheduleOSUpdate` for a deployment.
//!
//! | part | what |
//! |---|---|
//! | [`sync`] | the cycle: conditional downloads, cache, merge, build, sign, publish, report |
//! | [`http`] | HTTPS: `/catalogs/<name>.cab`, `/catalogs/<name>.cer`, `/healthz`, `/metrics` |
//! | [`state`] | the data directory: state, caches, the published catalog |
//! | [`signing`] | the catalog signing identity (given, or made on first start, key sealed) |
//! | [`report`] | publications reported to cm-proxy's admin API |
//! | [`config`], [`cli`] | the `[sup]` section, flags and `PIPPIN_SUP_*` variables |
//!
//! A catalog that fails to download or parse never replaces the last good
//! one: the cached copy is used, and the served catalog stays until a new
//! one is signed.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod cli;
pub mod config;
pub mod http;
pub mod report;
pub mod signing;
pub mod state;
pub mod sync;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use anyhow::Context as _;
use bytes::Bytes;
use tokio::net::TcpListener;

use crate::config::Settings;
use crate::http::Shared;
use crate::state::DataDir;
use crate::sync::Syncer;

/// A bound service, ready to run.
#[derive(Debug)]
pub struct Running {
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    shared: Arc<Shared>,
    syncer: Arc<Syncer>,
    settings: Arc<Settings>,
    local_addr: SocketAddr,
    ca_pem: Option<String>,
}

impl Running {
    /// Opens the data directory, loads (or makes) the TLS and signing
    /// identities, loads the catalog already published, and binds the
    /// listener.
    pub async fn bind(settings: Settings) -> anyhow::Result<Self> {
        let settings = Arc::new(settings);
        let data = DataDir::open(&settings.data_dir)?;
        let now = SystemTime::now();
        let (tls, ca_pem) = match &settings.tls {
            Some((cert, key)) => {
                let cert = std::fs::read_to_string(cert)
                    .with_context(|| format!("reading {}", cert.display()))?;
                let key = std::fs::read_to_string(key)
                    .with_context(|| format!("reading {}", key.display()))?;
                (tls_config(&cert, &key)?, None)
            }
            None => {
                let pki = pippin_service::load_or_create_pki(
                    &data.root().join("pki"),
                    &settings.public_host,
                    &[],
                    now,
                )?;
                (
                    tls_config(&pki.server_chain_pem(), pki.server.key_pem.expose())?,
                    Some(pki.ca.cert_pem.clone()),
                )
            }
        };
        let signing = signing::load_or_create(
            settings.signing.as_ref(),
            data.root(),
            &format!("Pippin software updates ({})", settings.public_host),
            now,
        )?;
        if signing.created {
            tracing::warn!(subject = %signing.subject, "made a new catalog signing certificate; approve it in ConfigMgr when subscribing (download it from /catalogs/<name>.cer)");
        }
        let reporter = settings
            .cm_proxy
            .as_ref()
            .map(report::Reporter::new)
            .transpose()?;
        let metrics = pippin_service::Metrics::new();
        let downloads = metrics.counter(
            "pippin_sup_catalog_downloads_total",
            "Signed catalogs served",
            &[],
        )?;
        let health = pippin_service::Health::new();
        health.set(
            "catalog",
            pippin_service::HealthStatus::Down,
            "no catalog published yet",
        );
        let shared = Arc::new(Shared {
            catalog_name: settings.catalog_name.clone(),
            current: RwLock::new(None),
            signing_cert: Bytes::from(signing.cert_der.clone()),
            health,
            metrics,
            downloads,
        });
        let syncer = Arc::new(Syncer::new(
            settings.clone(),
            data,
            signing,
            reporter,
            shared.clone(),
        )?);
        let listener = TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("binding {}", settings.listen))?;
        let local_addr = listener.local_addr()?;
        Ok(Self {
            listener,
            tls,
            shared,
            syncer,
            settings,
            local_addr,
            ca_pem,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The CA that issued the TLS certificate when it was made here.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// The cycle runner (for `--once` and tests).
    pub fn syncer(&self) -> Arc<Syncer> {
        self.syncer.clone()
    }

    /// Lines for the console at start.
    pub fn banner(&self) -> Vec<String> {
        let mut url = self.settings.catalog_url();
        if self.settings.listen.port() == 0 {
            url = url.replacen(":0/", &format!(":{}/", self.local_addr.port()), 1);
        }
        vec![
            format!("sup-service: HTTPS on {}", self.local_addr),
            format!("catalog for ConfigMgr: {url}"),
            format!(
                "Apple catalogs: {}, checked every {} s",
                self.settings.catalogs.len(),
                self.settings.interval.as_secs()
            ),
        ]
    }

    /// Serves and synchronises until `shutdown` resolves.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let sync = {
            let mut rx = stop_rx.clone();
            let syncer = self.syncer.clone();
            tokio::spawn(async move {
                syncer
                    .run(async move {
                        let _ = rx.wait_for(|s| *s).await;
                    })
                    .await;
            })
        };
        let router = http::router(self.shared.clone());
        let serve = {
            let mut rx = stop_rx;
            tokio::spawn(http::serve(self.listener, self.tls, router, async move {
                let _ = rx.wait_for(|s| *s).await;
            }))
        };
        shutdown.await;
        let _ = stop_tx.send(true);
        let _ = serve.await;
        let _ = sync.await;
        Ok(())
    }
}

fn tls_config(chain: &str, key: &str) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    Ok(pippin_service::server_config(
        chain,
        key,
        pippin_service::tls::ClientAuth::None,
        pippin_service::MinTlsVersion::Tls12,
    )?)
}
