//! The service: binding the listeners, running them, rescanning the
//! image folder, health and metrics.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::http::{self, HttpStats};
use anyhow::Context as _;
use bytes::Bytes;
use pippin_service::{Health, HealthStatus, Metrics};
use tokio::sync::watch;

pub use crate::config::{FileConfig, NetbootSection, Overrides, Settings};

/// A bound service, ready to [`Running::run`].
pub struct Running {
    settings: Settings,
    server_ip: std::net::Ipv4Addr,
    bsdp: Option<bsdp::server::BsdpServer>,
    bsdp_handle: Option<bsdp::server::ServerHandle>,
    tftp: Option<tftp::server::Server>,
    tftp_stats: Option<Arc<tftp::server::ServerStats>>,
    tftp_addr: Option<SocketAddr>,
    http: Option<(tokio::net::TcpListener, Arc<http::HttpContext>)>,
    http_addr: Option<SocketAddr>,
    images: usize,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("server_ip", &self.server_ip)
            .field("bsdp", &self.bsdp_addr())
            .field("tftp", &self.tftp_addr)
            .field("http", &self.http_addr)
            .finish_non_exhaustive()
    }
}

/// State the listeners and the scrapers share.
struct Shared {
    health: Health,
    metrics: Metrics,
    http_stats: Arc<HttpStats>,
    bsdp: Mutex<Option<bsdp::server::ServerHandle>>,
    tftp: Mutex<Option<Arc<tftp::server::ServerStats>>>,
    images: Mutex<usize>,
}

/// The entry point.
#[derive(Debug)]
pub struct Netboot;

impl Netboot {
    /// Resolves the server address, reads the image folder and binds every
    /// enabled listener. Call inside a tokio runtime.
    pub async fn bind(mut settings: Settings) -> anyhow::Result<Running> {
        let server_ip = settings.resolve_server_ip()?;
        std::fs::create_dir_all(&settings.images).with_context(|| {
            format!(
                "cannot create the image folder {}",
                settings.images.display()
            )
        })?;
        let root = std::fs::canonicalize(&settings.images)
            .with_context(|| format!("image folder {}", settings.images.display()))?;
        settings.images.clone_from(&root);
        let scan = bsdp::server::scan_and_log(&root)
            .with_context(|| format!("reading the image folder {}", root.display()))?;
        let images = scan.catalog.len();
        let health = Health::new();
        let shared = Arc::new(Shared {
            health: health.clone(),
            metrics: Metrics::new(),
            http_stats: Arc::new(HttpStats::default()),
            bsdp: Mutex::new(None),
            tftp: Mutex::new(None),
            images: Mutex::new(images),
        });
        set_image_health(&health, images, scan.skipped.len());

        let (mut http_part, mut http_addr) = (None, None);
        if let Some(addr) = settings.http_listen {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen for HTTP on tcp {addr}"))?;
            let a = listener.local_addr()?;
            let status_shared = Arc::clone(&shared);
            let ctx = http::HttpContext {
                root: root.clone(),
                prefix: settings.http_path.trim_end_matches('/').to_owned(),
                stats: Arc::clone(&shared.http_stats),
                status: Arc::new(move |path: &str| status_page(&status_shared, path)),
            };
            http_part = Some((listener, Arc::new(ctx)));
            http_addr = Some(a);
            health.set("http", HealthStatus::Ok, format!("tcp {a}"));
        }
        // The port actually bound (the configured one may be 0).
        let http_port = http_addr.map_or(Settings::HTTP_PORT, |a: SocketAddr| a.port());
        let (mut bsdp_server, mut bsdp_handle) = (None, None);
        if let Some(addr) = settings.bsdp_listen {
            let mut rc = bsdp::ResponderConfig::new(server_ip);
            rc.server_name(settings.server_name.clone())
                .server_priority(settings.priority)
                .http(http_port, settings.http_path.clone());
            // Booters are served from the image folder's root.
            rc.tftp_prefix(String::new());
            rc.policy.allow_unprivileged_reply_port = settings.bsdp_allow_unprivileged_reply_port;
            if settings.http_listen.is_none() {
                tracing::warn!(
                    "netboot: HTTP is disabled; HTTP images point at a server that does not answer"
                );
            }
            let server = bsdp::server::BsdpServer::bind(addr, rc, scan.catalog)
                .with_context(|| format!("cannot listen for BSDP on udp {addr}"))?;
            bsdp_handle = Some(server.handle());
            bsdp_server = Some(server);
            health.set("bsdp", HealthStatus::Ok, format!("udp {addr}"));
        }
        *lock(&shared.bsdp) = bsdp_handle.clone();

        let (mut tftp_server, mut tftp_addr, mut tftp_stats) = (None, None, None);
        if let Some(addr) = settings.tftp_listen {
            let mut tc = tftp::server::ServerConfig::new(root.clone());
            tc.listen(addr)
                .strip_leading_slash(true)
                .max_transfers(settings.tftp_max_transfers)
                .max_window_bytes(settings.tftp_max_window_bytes);
            if let Some(w) = &settings.tftp_write_dir {
                std::fs::create_dir_all(w)
                    .with_context(|| format!("cannot create the upload folder {}", w.display()))?;
                tc.write_dir(w.clone());
            }
            let server = tftp::server::Server::bind(tc)
                .await
                .with_context(|| format!("cannot listen for TFTP on udp {addr}"))?;
            let a = server.local_addr()?;
            tftp_stats = Some(server.stats());
            tftp_addr = Some(a);
            tftp_server = Some(server);
            health.set("tftp", HealthStatus::Ok, format!("udp {a}"));
        }
        lock(&shared.tftp).clone_from(&tftp_stats);

        Ok(Running {
            settings,
            server_ip,
            bsdp: bsdp_server,
            bsdp_handle,
            tftp: tftp_server,
            tftp_stats,
            tftp_addr,
            http: http_part,
            http_addr,
            images,
            shared,
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn set_image_health(health: &Health, images: usize, skipped: usize) {
    let (status, detail) = match (images, skipped) {
        (0, 0) => (HealthStatus::Degraded, "no images".to_owned()),
        (0, s) => (
            HealthStatus::Degraded,
            format!("no usable images, {s} skipped"),
        ),
        (n, 0) => (HealthStatus::Ok, format!("{n} images")),
        (n, s) => (HealthStatus::Degraded, format!("{n} images, {s} skipped")),
    };
    health.set("images", status, detail);
}

impl Running {
    /// The address clients are told to reach.
    pub fn server_ip(&self) -> std::net::Ipv4Addr {
        self.server_ip
    }

    /// The BSDP listener's address, when enabled.
    pub fn bsdp_addr(&self) -> Option<SocketAddr> {
        self.bsdp_handle
            .as_ref()
            .map(bsdp::server::ServerHandle::local_addr)
    }

    /// The TFTP listener's address, when enabled.
    pub fn tftp_addr(&self) -> Option<SocketAddr> {
        self.tftp_addr
    }

    /// The HTTP listener's address, when enabled.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// Images in the catalogue at start.
    pub fn images(&self) -> usize {
        self.images
    }

    /// The image folder, canonical.
    pub fn image_folder(&self) -> &Path {
        &self.settings.images
    }

    /// The TFTP counters, when enabled.
    pub fn tftp_stats(&self) -> Option<Arc<tftp::server::ServerStats>> {
        self.tftp_stats.clone()
    }

    /// The BSDP counters, when enabled.
    pub fn bsdp_stats(&self) -> Option<bsdp::Stats> {
        self.bsdp_handle
            .as_ref()
            .map(bsdp::server::ServerHandle::stats)
    }

    /// Lines for an operator's terminal: what listens where.
    pub fn banner(&self) -> Vec<String> {
        let mut lines = vec![format!(
            "netboot: {} images in {}, announced as {}",
            self.images,
            self.settings.images.display(),
            self.server_ip
        )];
        if let Some(a) = self.bsdp_addr() {
            lines.push(format!("  BSDP on udp {a}"));
        }
        if let Some(a) = self.tftp_addr {
            lines.push(format!("  TFTP on udp {a} (booters)"));
        }
        if let Some(a) = self.http_addr {
            lines.push(format!(
                "  HTTP on tcp {a} (images under {}/, health at /healthz, metrics at /metrics)",
                self.settings.http_path.trim_end_matches('/')
            ));
        }
        lines
    }

    /// Serves until `shutdown` completes, rescanning the image folder.
    /// Fails if a listener fails for good.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut tasks = tokio::task::JoinSet::new();
        if let Some(server) = self.bsdp {
            let mut rx = stop_rx.clone();
            tasks.spawn(async move {
                server
                    .run_until(async move { http::stopped(&mut rx).await })
                    .await
                    .context("BSDP listener failed")
            });
        }
        if let Some(server) = self.tftp {
            let mut rx = stop_rx.clone();
            tasks.spawn(async move {
                server
                    .run(async move { http::stopped(&mut rx).await })
                    .await
                    .context("TFTP listener failed")
            });
        }
        if let Some((listener, ctx)) = self.http {
            let rx = stop_rx.clone();
            let max = self.settings.http_max_connections;
            tasks.spawn(async move {
                http::serve(listener, ctx, max, rx).await;
                Ok(())
            });
        }
        {
            let rx = stop_rx.clone();
            let root = self.settings.images.clone();
            let every = self.settings.rescan_interval;
            let shared = Arc::clone(&self.shared);
            tasks.spawn(async move {
                rescan_loop(root, every, shared, rx).await;
                Ok(())
            });
        }
        tokio::pin!(shutdown);
        let result = tokio::select! {
            () = &mut shutdown => Ok(()),
            r = tasks.join_next() => match r {
                Some(Ok(Err(e))) => Err(e),
                Some(Err(e)) => Err(anyhow::anyhow!("netboot task ended: {e}")),
                _ => Ok(()),
            },
        };
        let _ = stop_tx.send(true);
        let drain = async { while tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(Duration::from_secs(10), drain)
            .await
            .is_err()
        {
            tracing::warn!("netboot: listeners did not stop within 10 s");
        }
        result
    }
}

/// Checks the image folder every `every` and swaps the catalogue when
/// something changed.
async fn rescan_loop(
    root: PathBuf,
    every: Duration,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let mut last = bsdp::Fingerprint::of(&root).ok();
    let every = every.max(Duration::from_secs(1));
    loop {
        tokio::select! {
            () = http::stopped(&mut stop) => return,
            () = tokio::time::sleep(every) => {}
        }
        let root2 = root.clone();
        let now = tokio::task::spawn_blocking(move || bsdp::Fingerprint::of(&root2))
            .await
            .ok()
            .and_then(Result::ok);
        if now.is_none() || now == last {
            continue;
        }
        let root2 = root.clone();
        let scan = tokio::task::spawn_blocking(move || bsdp::server::scan_and_log(&root2)).await;
        match scan {
            Ok(Ok(scan)) => {
                let n = scan.catalog.len();
                set_image_health(&shared.health, n, scan.skipped.len());
                *lock(&shared.images) = n;
                if let Some(h) = lock(&shared.bsdp).as_ref() {
                    h.set_catalog(scan.catalog);
                }
                tracing::info!(
                    images = n,
                    "netboot: image folder changed, catalogue replaced"
                );
                last = now;
            }
            Ok(Err(e)) => {
                tracing::warn!(folder = %root.display(), error = %e, "netboot: rescan failed, keeping the catalogue");
            }
            Err(e) => tracing::warn!(error = %e, "netboot: rescan task failed"),
        }
    }
}

/// `/healthz` and `/metrics`.
fn status_page(shared: &Shared, path: &str) -> Option<hyper::Response<http::Body>> {
    use ::http::header::CONTENT_TYPE;
    match path {
        "/healthz" => {
            let status = shared.health.report().http_status();
            let mut r =
                hyper::Response::new(http::full(Bytes::from(shared.health.report().to_json())));
            *r.status_mut() = ::http::StatusCode::from_u16(status)
                .unwrap_or(::http::StatusCode::INTERNAL_SERVER_ERROR);
            r.headers_mut().insert(
                CONTENT_TYPE,
                ::http::HeaderValue::from_static("application/json"),
            );
            Some(r)
        }
        "/metrics" => {
            update_metrics(shared);
            let mut r = hyper::Response::new(http::full(Bytes::from(shared.metrics.render())));
            r.headers_mut().insert(
                CONTENT_TYPE,
                ::http::HeaderValue::from_static(Metrics::CONTENT_TYPE),
            );
            Some(r)
        }
        _ => None,
    }
}

/// Brings the registry's counters up to the listeners' own.
fn update_metrics(shared: &Shared) {
    let m = &shared.metrics;
    let sync = |name: &str, help: &str, labels: &[(&str, &str)], value: u64| {
        if let Ok(c) = m.counter(name, help, labels) {
            let have = c.get();
            if value > have {
                c.add(value - have);
            }
        }
    };
    let gauge = |name: &str, help: &str, value: u64| {
        if let Ok(g) = m.gauge(name, help, &[]) {
            #[allow(clippy::cast_precision_loss)]
            g.set(value as f64);
        }
    };
    gauge(
        "pippin_netboot_images",
        "NetBoot images in the catalogue",
        *lock(&shared.images) as u64,
    );
    if let Some(h) = lock(&shared.bsdp).as_ref() {
        let s = h.stats();
        let help = "BSDP datagrams by outcome";
        sync(
            "pippin_bsdp_requests_total",
            "BSDP datagrams received",
            &[],
            s.requests,
        );
        sync(
            "pippin_bsdp_replies_total",
            help,
            &[("kind", "list")],
            s.list_answered,
        );
        sync(
            "pippin_bsdp_replies_total",
            help,
            &[("kind", "select")],
            s.select_answered,
        );
        sync(
            "pippin_bsdp_replies_total",
            help,
            &[("kind", "failed")],
            s.failed_answered,
        );
        for (reason, n) in &s.dropped {
            sync(
                "pippin_bsdp_dropped_total",
                "BSDP datagrams dropped, by reason",
                &[("reason", reason.as_str())],
                *n,
            );
        }
    }
    if let Some(t) = lock(&shared.tftp).as_ref() {
        let s = t.snapshot();
        let help = "TFTP transfers by outcome";
        sync(
            "pippin_tftp_transfers_total",
            help,
            &[("outcome", "started")],
            s.transfers_started,
        );
        sync(
            "pippin_tftp_transfers_total",
            help,
            &[("outcome", "finished")],
            s.transfers_finished,
        );
        sync(
            "pippin_tftp_transfers_total",
            help,
            &[("outcome", "failed")],
            s.transfers_failed,
        );
        sync(
            "pippin_tftp_transfers_total",
            help,
            &[("outcome", "option_probe")],
            s.option_probes,
        );
        sync(
            "pippin_tftp_requests_refused_total",
            "TFTP requests refused",
            &[],
            s.requests_refused,
        );
        sync(
            "pippin_tftp_bytes_sent_total",
            "TFTP data bytes sent",
            &[],
            s.bytes_sent,
        );
        sync(
            "pippin_tftp_wrong_tid_total",
            "TFTP packets from a wrong transfer ID",
            &[],
            s.wrong_tid_packets,
        );
        gauge(
            "pippin_tftp_active_transfers",
            "TFTP transfers running",
            s.active,
        );
    }
    let h = &shared.http_stats;
    let help = "HTTP image responses by status";
    let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    sync(
        "pippin_netboot_http_responses_total",
        help,
        &[("status", "200")],
        get(&h.full),
    );
    sync(
        "pippin_netboot_http_responses_total",
        help,
        &[("status", "206")],
        get(&h.partial),
    );
    sync(
        "pippin_netboot_http_responses_total",
        help,
        &[("status", "304")],
        get(&h.not_modified),
    );
    sync(
        "pippin_netboot_http_responses_total",
        help,
        &[("status", "error")],
        get(&h.errors),
    );
    sync(
        "pippin_netboot_http_bytes_total",
        "HTTP image body bytes sent",
        &[],
        get(&h.bytes),
    );
    sync(
        "pippin_netboot_http_refused_connections_total",
        "HTTP connections refused at the limit",
        &[],
        get(&h.refused_connections),
    );
}
