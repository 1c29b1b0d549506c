//! `pippin`: every Pippin component in one process. `pippin serve` with no
//! configuration at all runs a complete single-host service on embedded
//! defaults; see `pippin serve --help`.

use clap::{Parser, Subcommand};
use cm_proxy::cli::ServeArgs;

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
    /// Every option can also be set in the TOML file given with --config and
    /// with a PIPPIN_* environment variable; a flag beats the environment,
    /// which beats the file, which beats the default.
    Serve(ServeArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            let settings = args.settings("./pippin-data")?;
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            rt.block_on(cm_proxy::run_main("pippin", settings))
        }
    }
}
