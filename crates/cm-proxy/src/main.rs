//! `cm-proxy`: the MDM service on its own. See `cm-proxy --help`.

use clap::Parser;
use cm_proxy::cli::ServeArgs;

/// Pippin's MDM service: enrollment profile, SCEP, check-in and command
/// endpoints, and the admin API, on one HTTPS listener.
///
/// Every option can also be set in the TOML file given with --config and
/// with a PIPPIN_* environment variable; a flag beats the environment, which
/// beats the file, which beats the default.
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
struct Args {
    #[command(flatten)]
    serve: ServeArgs,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let settings = args.serve.settings("./pippin-data")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(cm_proxy::run_main("cm-proxy", settings))
}
