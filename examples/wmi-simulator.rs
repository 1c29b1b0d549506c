//! Runs the simulated ConfigMgr SMS Provider (AdminService and WinRM on one
//! loopback port) until killed, for trying `wmi-query` and `wmi-invoke`.
//!
//! ```text
//! cargo run --example wmi-simulator -- --tls --systems 1000 --ntlm 'CONTOSO\svc_bridge:Br1dge!pass'
//! ```

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use anyhow::{Context, bail};
use clap::Parser;
use sccm_wmi::client::fingerprint;
use sccm_wmi::ntlm::Credentials;
use sccm_wmi::simulator::{
    KerberosKeytab, NegotiateAcceptors, NtlmAccounts, SimAuth, SimConfig, Simulator,
};
use serde_json::json;

/// Serve a simulated ConfigMgr SMS Provider on a loopback address until
/// killed (SIGTERM or Ctrl-C): the AdminService (REST, OData) under
/// /AdminService and WMI over WS-Management (WinRM) at /wsman, on one
/// port, plain HTTP or, with --tls, HTTPS with a certificate issued by
/// "SMS Issuing" that clients trust by pinning it.
///
/// SMS_R_System holds --systems synthetic Macs (made on demand, so a large
/// site costs no memory); SMS_Site, SMS_Collection and the methods the
/// bridge calls (SMS_Site.ImportMachineEntry,
/// SMS_Collection.AddMembershipRule, …) answer as the provider does.
///
/// Prints one JSON line: `adminservice` and `wsman` (the URLs), `site`, and
/// with --tls `pin` (the SHA-256 of the certificate, for --pin). On exit,
/// one JSON line of counters on standard error.
///
/// Authentication: anyone by default; or one of --basic USER:PASSWORD,
/// --bearer TOKEN, or --ntlm 'DOMAIN\user:password' (Windows Negotiate and
/// NTLM, NTLMv2; repeat it for more accounts). These are test accounts:
/// they show in `ps`.
#[derive(Parser)]
#[command(version, about, verbatim_doc_comment)]
struct Args {
    /// Where to listen (a loopback address; port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Serve HTTPS with an "SMS Issuing" certificate.
    #[arg(long)]
    tls: bool,
    /// Synthetic Macs in SMS_R_System.
    #[arg(long, value_name = "N", default_value_t = 10)]
    systems: usize,
    /// AdminService rows per page before @odata.nextLink.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    page_size: usize,
    /// The site code.
    #[arg(long, value_name = "CODE", default_value = "PS1")]
    site: String,
    /// Accept HTTP Basic with this account only.
    #[arg(long, value_name = "USER:PASSWORD", conflicts_with_all = ["bearer", "ntlm"])]
    basic: Option<String>,
    /// Accept this bearer token only.
    #[arg(long, value_name = "TOKEN", conflicts_with = "ntlm")]
    bearer: Option<String>,
    /// Accept Negotiate/NTLM with this account (repeatable).
    #[arg(long, value_name = "DOMAIN\\USER:PASSWORD")]
    ntlm: Vec<String>,
    /// Accept Kerberos tickets (inside Negotiate) for the service keys in
    /// this keytab (`HTTP/<host>@REALM`), through the system's GSS-API
    /// library; with --ntlm too, both are accepted, as Windows does.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["basic", "bearer"])]
    kerberos_keytab: Option<std::path::PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("wmi-simulator: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wmi-simulator: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The authentication the flags ask for.
fn auth(args: &Args) -> anyhow::Result<SimAuth> {
    if let Some(basic) = &args.basic {
        let Some((user, password)) = basic.split_once(':') else {
            bail!("--basic takes USER:PASSWORD");
        };
        return Ok(SimAuth::Basic {
            user: user.to_owned(),
            password: password.to_owned(),
        });
    }
    if let Some(token) = &args.bearer {
        if token.is_empty() {
            bail!("--bearer takes a token");
        }
        return Ok(SimAuth::Bearer(token.clone()));
    }
    if args.ntlm.is_empty() && args.kerberos_keytab.is_none() {
        return Ok(SimAuth::Anonymous);
    }
    let mut domain = None;
    let mut credentials = Vec::new();
    for account in &args.ntlm {
        let Some((user, password)) = account.split_once(':') else {
            bail!("--ntlm takes DOMAIN\\USER:PASSWORD");
        };
        if domain.is_none() {
            domain = user.split_once('\\').map(|(d, _)| d.to_ascii_uppercase());
        }
        credentials
            .push(Credentials::parse(user, password).with_context(|| format!("--ntlm {user}"))?);
    }
    let mut accounts = NtlmAccounts::new("CM01", domain.as_deref().unwrap_or("CONTOSO"));
    for c in credentials {
        accounts = accounts.with(c);
    }
    let mut negotiate = NegotiateAcceptors::new();
    if !args.ntlm.is_empty() {
        negotiate = negotiate.ntlm(accounts);
    }
    if let Some(keytab) = &args.kerberos_keytab {
        let keytab = KerberosKeytab::new(keytab).context("--kerberos-keytab")?;
        negotiate = negotiate.kerberos(keytab);
    }
    Ok(SimAuth::Negotiate(Arc::new(negotiate)))
}

async fn run(args: Args) -> anyhow::Result<()> {
    if !args.listen.ip().is_loopback() {
        bail!("--listen: a loopback address (the simulator is for tests)");
    }
    let mut config = SimConfig::default();
    config
        .site_code(&args.site)
        .synthetic_systems(args.systems)
        .page_size(args.page_size)
        .tls(args.tls)
        .auth(auth(&args)?);
    let sim = Simulator::start_on(args.listen, config)
        .await
        .context("starting the simulator")?;
    let mut line = json!({
        "adminservice": sim.adminservice_url(),
        "wsman": sim.wsman_url(),
        "site": args.site,
    });
    if let Some(der) = sim.certificate_der() {
        line["pin"] = hex::encode(fingerprint(der)).into();
    }
    println!("{line}");
    stopped().await?;
    let stats = sim.stats();
    eprintln!(
        "{}",
        json!({
            "connections": stats.connections.load(Ordering::Relaxed),
            "requests": stats.requests.load(Ordering::Relaxed),
            "authenticated": stats.authenticated.load(Ordering::Relaxed),
            "refused": stats.refused.load(Ordering::Relaxed),
            "sealed_messages": stats.sealed_messages.load(Ordering::Relaxed),
        })
    );
    Ok(())
}

/// Returns on SIGTERM or Ctrl-C.
async fn stopped() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
        tokio::select! {
            _ = term.recv() => {}
            r = tokio::signal::ctrl_c() => r.context("listening for Ctrl-C")?,
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c()
        .await
        .context("listening for Ctrl-C")?;
    Ok(())
}
