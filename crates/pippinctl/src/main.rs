//! `pippinctl`: the admin command line. Everything it does goes through the
//! service's admin API (`/api/v1`), except making keys and requests, which
//! happens locally.

use clap::Parser as _;

fn main() -> std::process::ExitCode {
    let cli = pippinctl::Cli::parse();
    match pippinctl::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pippinctl: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
