//! `pippin`: every Pippin component in one process. `pippin serve` with no
//! configuration at all runs a complete single-host service on embedded
//! defaults; see `pippin serve --help`.

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use cm_proxy::cli::ServeArgs;
use netboot_server::NetbootSection;
use netboot_server::cli::PippinArgs;
use sup_service::config::SupSection;

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
    /// With --sup (or `[sup] enabled = true`) it also publishes Apple's
    /// software updates as a signed WSUS catalog for ConfigMgr on
    /// --sup-listen (0.0.0.0:8763), with data in DATA_DIR/sup, and reports
    /// each publication to itself.
    ///
    /// Every option can also be set in the TOML file given with --config and
    /// with a PIPPIN_* environment variable; a flag beats the environment,
    /// which beats the file, which beats the default.
    Serve {
        #[command(flatten)]
        serve: ServeArgs,
        #[command(flatten)]
        netboot: PippinArgs,
        #[command(flatten)]
        sup: sup_service::cli::PippinSupArgs,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve {
            serve,
            netboot,
            sup,
        } => {
            let mut settings = serve.settings("./pippin-data")?;
            let section: Option<NetbootSection> = settings
                .netboot
                .take()
                .map(|t| toml::Value::Table(t).try_into())
                .transpose()
                .context("the [netboot] section")?;
            let netboot = netboot.settings(section.as_ref(), &settings.data_dir);
            let sup_section: Option<SupSection> = settings
                .sup
                .take()
                .map(|t| toml::Value::Table(t).try_into())
                .transpose()
                .context("the [sup] section")?;
            let sup = sup.settings(
                sup_section.as_ref(),
                &settings.data_dir,
                &settings.public_url,
                settings.admin_token.is_none(),
            )?;
            let companion = (netboot.is_some() || sup.is_some()).then_some(move || async move {
                let netboot = async move {
                    let Some(s) = netboot else { return Ok(()) };
                    let running = netboot_server::Netboot::bind(s).await?;
                    for line in running.banner() {
                        println!("{line}");
                    }
                    running.run(cm_proxy::shutdown_signal()).await
                };
                let sup = async move {
                    let Some(s) = sup else { return Ok(()) };
                    let running = sup_service::Running::bind(s).await?;
                    for line in running.banner() {
                        println!("{line}");
                    }
                    running.run(cm_proxy::shutdown_signal()).await
                };
                tokio::try_join!(netboot, sup).map(|_| ())
            });
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            rt.block_on(cm_proxy::run_main_with("pippin", settings, companion))
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    #[test]
    fn command_line_is_consistent() {
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from([
            "pippin",
            "serve",
            "--sup",
            "--sup-listen",
            "127.0.0.1:9443",
            "--netboot",
        ])
        .unwrap();
        let Command::Serve { sup, netboot, .. } = cli.command;
        assert!(sup.sup && netboot.netboot);
        assert_eq!(sup.sup_listen, Some("127.0.0.1:9443".parse().unwrap()));
    }
}
