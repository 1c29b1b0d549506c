//! `netboot-server`: BSDP, TFTP and HTTP for Macs that boot from the
//! network, from one folder of `.nbi` images. See `netboot-server --help`.

use clap::Parser;
use netboot_server::Netboot;
use netboot_server::cli::ServeArgs;

/// Pippin's NetBoot service: BSDP (UDP 67), TFTP (UDP 69) and HTTP (TCP 80)
/// for Macs that boot from the network, from one folder of `.nbi` images.
///
/// The booter is handed out as `Name.nbi/<arch>/<BootFile>` over TFTP and
/// the disk image as `http://SERVER_IP[:port]/nbi/Name.nbi/<RootPath>`.
/// Every option can also be set in the TOML file given with --config
/// (section `[netboot]`) and with a PIPPIN_NETBOOT_* environment variable;
/// a flag beats the environment, which beats the file, which beats the
/// default. Ports below 1024 need root or CAP_NET_BIND_SERVICE.
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
struct Cli {
    #[command(flatten)]
    serve: ServeArgs,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let (settings, log) = cli.serve.settings()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let _guard = pippin_service::init_logging(log)?;
        let running = Netboot::bind(settings).await.map_err(|e| {
            let denied = e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::PermissionDenied)
            });
            if denied {
                e.context("ports below 1024 need root or CAP_NET_BIND_SERVICE (or choose other ports with --bsdp-listen, --tftp-listen, --http-listen)")
            } else {
                e
            }
        })?;
        for line in running.banner() {
            println!("{line}");
        }
        tracing::info!(?running, "netboot: serving");
        running.run(shutdown_signal()).await?;
        tracing::info!("netboot: stopped");
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
