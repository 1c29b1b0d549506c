//! `pippin`: every Pippin component in one process. `pippin serve` with no
//! configuration at all runs a complete single-host service on embedded
//! defaults; see `pippin serve --help`.

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use cm_proxy::cli::ServeArgs;
use netboot_server::NetbootSection;
use netboot_server::cli::PippinArgs;

/// Pippin: Apple device management for Configuration Manager sites.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run every component in one process.
    ///
    /// With no configuration it creates ./pippin-data (or --data-dir) with a
    /// server CA and certificate, a SCEP CA and challenge, an admin token and
    /// a SQLite database, and listens on 0.0.0.0:8760. It prints where the
    /// enrollment profile is and where the admin token is kept; clients must
    /// trust `DATA_DIR/ca.pem`.
    ///
    /// With --netboot (or `[netboot] enabled = true` in the file) it also
    /// answers BSDP on UDP 67, serves booters over TFTP on UDP 69 and disk
    /// images over HTTP on TCP 80 from DATA_DIR/netboot (or
    /// --netboot-images); ports below 1024 need root or
    /// CAP_NET_BIND_SERVICE.
    ///
    /// Every option can also be set in the TOML file given with --config and
    /// with a PIPPIN_* environment variable; a flag beats the environment,
    /// which beats the file, which beats the default.
    Serve {
        #[command(flatten)]
        serve: ServeArgs,
        #[command(flatten)]
        netboot: PippinArgs,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { serve, netboot } => {
            let mut settings = serve.settings("./pippin-data")?;
            let section: Option<NetbootSection> = settings
                .netboot
                .take()
                .map(|t| toml::Value::Table(t).try_into())
                .transpose()
                .context("the [netboot] section")?;
            let netboot = netboot.settings(section.as_ref(), &settings.data_dir);
            let companion = netboot.map(|s| {
                move || async move {
                    let running = netboot_server::Netboot::bind(s).await?;
                    for line in running.banner() {
                        println!("{line}");
                    }
                    running.run(cm_proxy::shutdown_signal()).await
                }
            });
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            rt.block_on(cm_proxy::run_main_with("pippin", settings, companion))
        }
    }
}
