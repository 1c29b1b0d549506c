//! `sup-service`: Apple software updates as a signed WSUS catalog for
//! ConfigMgr. See `sup-service --help`.

use clap::Parser;
use sup_service::Running;
use sup_service::cli::ServeArgs;

/// Pippin's software update point for Macs: downloads Apple's software
/// update catalogs on a schedule and serves them as a signed third-party
/// WSUS catalog over HTTPS, for ConfigMgr's "Third-party software update
/// catalogs" to subscribe to (updates appear under the vendor "Apple").
///
/// Every option can also be set in the TOML file given with --config
/// (section `[sup]`) and with a PIPPIN_SUP_* environment variable; a flag
/// beats the environment, which beats the file, which beats the default.
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
struct Cli {
    #[command(flatten)]
    serve: ServeArgs,
    /// Run one cycle (download, build, sign, publish, report), print its
    /// outcome as JSON and exit, without serving; for cron jobs and checks.
    #[arg(long)]
    once: bool,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let (settings, log) = cli.serve.settings()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let _guard = pippin_service::init_logging(log)?;
        let running = Running::bind(settings).await?;
        if cli.once {
            let report = running.syncer().cycle().await?;
            let out = serde_json::json!({
                "changed": report.changed,
                "products": report.summary.products,
                "packages_published": report.summary.published,
                "superseding": report.summary.superseding,
                "superseded": report.summary.superseded,
                "expired": report.summary.expired,
                "without_distribution": report.summary.without_distribution,
                "failed_sources": report.failed_sources,
                "catalog_sha256": report.published.as_ref().map(|p| p.cab_sha256.clone()),
            });
            println!("{out}");
            return Ok(());
        }
        for line in running.banner() {
            println!("{line}");
        }
        tracing::info!("sup-service: serving");
        running.run(shutdown_signal()).await?;
        tracing::info!("sup-service: stopped");
        Ok(())
    })
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
