//! `cm-proxy`: Pippin's MDM service.
//!
//! One HTTPS listener (port 8760 by default) serves:
//!
//! * `GET /mdm/enroll` — the enrollment profile (CMS-signed with the server
//!   certificate; SCEP payload, MDM payload, the server CA as a root);
//! * `GET|POST /scep` — SCEP (RFC 8894) issuing device identity certificates;
//! * `PUT /mdm/checkin`, `PUT /mdm/connect` — check-ins and command reports
//!   (either on either path), device identity by TLS client certificate or a
//!   verified `Mdm-Signature`;
//! * `/api/v1/…` — the admin API (bearer token), see [`api`];
//! * `GET /healthz`, `GET /metrics` (Prometheus), `GET /ca.pem`.
//!
//! [`bootstrap::build`] turns [`config::Settings`] into a running state;
//! [`bind`] binds and [`Bound::serve`] serves until shut down. The binary in `main.rs` only
//! parses flags and calls these.

pub mod api;
pub mod bootstrap;
pub mod bulk;
pub mod cli;
pub mod config;
pub mod dep;
mod error;
pub mod http;
pub mod mdm;
pub mod push;
pub mod pushcert;
pub mod state;
pub mod vpp;

use std::future::Future;
use std::net::SocketAddr;

pub use error::{Error, Result};

/// A service bound to its address and ready to serve.
pub struct Bound {
    listener: tokio::net::TcpListener,
    built: bootstrap::Built,
}

impl Bound {
    /// The address it listens on (useful with port 0).
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.listener
            .local_addr()
            .map_err(|e| Error::Config(format!("listener address: {e}")))
    }

    /// The state shared by the handlers.
    pub fn app(&self) -> &std::sync::Arc<state::App> {
        &self.built.app
    }

    /// What to tell the operator.
    pub fn notes(&self) -> &bootstrap::StartupNotes {
        &self.built.notes
    }

    /// Serves until `shutdown` resolves.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let app = self.built.app.clone();
        let retries = tokio::spawn(api::retry_pushes(app.clone(), stopped.clone()));
        dep::DepService::start(&app, stopped.clone()).await;
        vpp::VppService::start(&app, stopped).await;
        let router = http::router(app.clone());
        http::serve(self.listener, self.built.tls, router, shutdown).await;
        let _ = stop.send(true);
        let _ = retries.await;
        app.dep.join().await;
        app.vpp.join().await;
    }
}

/// Builds the service from `settings` and binds its listener.
pub async fn bind(settings: &config::Settings) -> Result<Bound> {
    let built = bootstrap::build(settings).await?;
    bind_built(settings.listen, built).await
}

/// Binds an already built service.
pub async fn bind_built(addr: SocketAddr, built: bootstrap::Built) -> Result<Bound> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Listen { addr, source })?;
    Ok(Bound { listener, built })
}

/// What the binaries run: logging, build, bind, print where things are,
/// serve until Ctrl-C or SIGTERM.
pub async fn run_main(exe_name: &str, settings: config::Settings) -> anyhow::Result<()> {
    if settings.netboot.is_some() {
        eprintln!(
            "{exe_name}: the [netboot] section is read by `pippin serve` only; run netboot-server for NetBoot"
        );
    }
    if settings.sup.is_some() {
        eprintln!(
            "{exe_name}: the [sup] section is read by `pippin serve` only; run sup-service for macOS updates"
        );
    }
    run_main_with(
        exe_name,
        settings,
        None::<fn() -> std::future::Ready<anyhow::Result<()>>>,
    )
    .await
}

/// [`run_main`] with a companion service started once logging is set up
/// and the listener is bound (`pippin serve` runs NetBoot this way). The
/// companion must stop on [`shutdown_signal`]; if it fails, the whole
/// process stops with its error.
pub async fn run_main_with<F, Fut>(
    exe_name: &str,
    settings: config::Settings,
    companion: Option<F>,
) -> anyhow::Result<()>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
{
    std::fs::create_dir_all(&settings.data_dir)?;
    let mut log = pippin_service::LogConfig::new(
        settings
            .log_dir
            .clone()
            .unwrap_or_else(|| settings.data_dir.join("logs")),
        exe_name,
    );
    if let Some(v) = settings.log_max_bytes {
        log.max_bytes = v;
    }
    if let Some(v) = settings.log_max_files {
        log.max_files = v;
    }
    log.filter = settings.log_level.clone();
    log.also_stderr = settings.log_stderr;
    let _guard = pippin_service::init_logging(log)?;
    let bound = bind(&settings).await?;
    let addr = bound.local_addr()?;
    let n = bound.notes().clone();
    // The token goes to the operator's terminal, never to the log file.
    let token_hint = if n.admin_token_source == "configuration" {
        "(as configured)".to_owned()
    } else {
        format!(
            "{} (kept in {})",
            bound.app().admin_token.expose(),
            n.admin_token_source.trim_start_matches("file ")
        )
    };
    println!("{exe_name} listening on https://{addr}");
    println!("  enrollment profile: {}", n.enroll_url);
    println!(
        "  CA certificate clients must trust: {}",
        n.ca_file.display()
    );
    println!("  admin token: {token_hint}");
    println!(
        "  try: curl --cacert {} -H \"Authorization: Bearer $TOKEN\" {}/api/v1/devices",
        n.ca_file.display(),
        bound.app().config.public_url
    );
    println!("  database: {}", n.database);
    println!("  pushes: {}", n.push);
    if let Some(w) = &n.topic_warning {
        println!("  {w}");
    }
    if n.topic_is_placeholder {
        println!(
            "  push topic: {} (placeholder: install an APNs certificate to wake real devices)",
            n.topic
        );
    } else {
        println!("  push topic: {}", n.topic);
    }
    tracing::info!(%addr, "listening");
    let serve = bound.serve(shutdown_signal());
    tokio::pin!(serve);
    match companion.map(|start| tokio::spawn(start())) {
        None => serve.await,
        Some(mut task) => {
            tokio::select! {
                () = &mut serve => {
                    // The companion saw the same signal; give it time to stop.
                    let _ = tokio::time::timeout(std::time::Duration::from_secs(15), task).await;
                }
                r = &mut task => match r {
                    Ok(Ok(())) => serve.await,
                    Ok(Err(e)) => return Err(e),
                    Err(e) => return Err(anyhow::anyhow!("companion service failed: {e}")),
                },
            }
        }
    }
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
