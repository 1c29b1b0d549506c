//! Queries ConfigMgr's SMS Provider, through the AdminService or WinRM, and
//! prints one JSON line per instance as the pages arrive.
//!
//! ```text
//! cargo run --example wmi-query -- --adminservice https://cm01.contoso.com/AdminService \
//!     --user 'CONTOSO\svc_bridge' --pin PIN --class SMS_R_System --select Name,ResourceId
//! cargo run --example wmi-query -- --wsman http://cm01.contoso.com:5985/wsman --site PS1 \
//!     --user 'CONTOSO\svc_bridge' --wql "SELECT Name FROM SMS_R_System WHERE Client = 1"
//! ```

#[path = "wmi/connect.rs"]
mod connect;

use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Parser;
use sccm_wmi::Instance;
use sccm_wmi::odata::{Filter, Query};
use sccm_wmi::wql::{self, Select};
use serde_json::json;

use connect::{Connection, Provider, describe};

/// Read instances from ConfigMgr's SMS Provider (WMI namespace
/// root\sms\site_<code>) through the AdminService (REST, OData) or WMI over
/// WS-Management (WinRM), page by page, so memory holds one page however
/// many rows there are.
///
/// What to read: --class NAME, optionally with --filter (an OData $filter,
/// AdminService only), --select and --top; or --wql "SELECT …". Through the
/// AdminService, WQL becomes the equivalent OData query (comparisons,
/// LIKE 'x%' / '%x' / '%x%', IS NULL, IN lists, AND/OR/NOT; joins and
/// other patterns are refused: run those through WinRM). Through WinRM,
/// --class with --select becomes the WQL query "SELECT a, b FROM NAME".
///
/// Prints one JSON object per instance: its properties (OData annotations
/// such as @odata.etag left out) and "__CLASS". At the end, one JSON
/// summary line on standard error: rows, pages (AdminService) or batches
/// (WinRM), seconds.
///
/// Credentials: --user DOMAIN\user signs in with Windows Negotiate
/// (NTLMv2; over plain-http WinRM every message is sealed), or with HTTP
/// Basic when --basic is given. The password is read from
/// $PIPPIN_WMI_PASSWORD (prefer it to --password, which shows in `ps`). A
/// bearer token comes from --bearer or $PIPPIN_WMI_BEARER.
///
/// Exit status: 0 when every row was read; 1 when the query failed (one
/// line on standard error; WMI errors show their code and meaning); 2 for
/// bad arguments.
#[derive(Parser)]
#[command(version, about, verbatim_doc_comment)]
struct Args {
    #[command(flatten)]
    connection: Connection,
    /// The WMI class to read, such as SMS_R_System or SMS_Collection.
    #[arg(
        long,
        value_name = "NAME",
        conflicts_with = "wql",
        required_unless_present = "wql"
    )]
    class: Option<String>,
    /// An OData $filter, such as "startswith(Name,'MAC-')" or "Client eq 1"
    /// (AdminService only; use --wql with --wsman).
    #[arg(long, value_name = "ODATA", requires = "class")]
    filter: Option<String>,
    /// Only these properties, comma-separated.
    #[arg(long, value_name = "A,B", requires = "class", value_delimiter = ',')]
    select: Vec<String>,
    /// At most N rows.
    #[arg(long, value_name = "N")]
    top: Option<u32>,
    /// A WQL query, such as
    /// "SELECT Name FROM SMS_R_System WHERE Name LIKE 'MAC-%'" (translated
    /// to OData for the AdminService).
    #[arg(long, value_name = "SELECT …")]
    wql: Option<String>,
    /// WinRM: instances asked for per Pull.
    #[arg(long, value_name = "N")]
    batch: Option<u32>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(message) = check(&args) {
        eprintln!("wmi-query: {message}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("wmi-query: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that stopped early (`| head`) is not a failure.
        Err(e) if broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("wmi-query: {}", describe(&e));
            ExitCode::FAILURE
        }
    }
}

fn broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Refuses combinations that the chosen endpoint cannot do.
fn check(args: &Args) -> Result<(), String> {
    let wsman = args.connection.wsman.is_some();
    if wsman && args.filter.is_some() {
        return Err(
            "--filter is an OData $filter, which only the AdminService takes; \
                    through WinRM use --wql \"SELECT … FROM CLASS WHERE …\""
                .to_owned(),
        );
    }
    if !wsman && args.batch.is_some() {
        return Err("--batch is for WinRM (--wsman)".to_owned());
    }
    Ok(())
}

/// What was read, for the summary.
struct Tally {
    rows: u64,
    pages: u64,
}

async fn run(args: Args) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut provider = args.connection.connect()?;
    let limit = args.top.map(u64::from);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut tally = Tally { rows: 0, pages: 0 };
    let unit = match &mut provider {
        Provider::Admin(client) => {
            let (class, mut query) = match &args.wql {
                Some(text) => {
                    let parsed = wql::parse(text).context("--wql")?;
                    let query = Query::from_wql(&parsed).context("--wql")?;
                    (parsed.class, query)
                }
                None => {
                    let class = args.class.clone().context("--class is required")?;
                    let query = Query::wmi(class.as_str());
                    (class, query)
                }
            };
            if let Some(f) = &args.filter {
                query = query.filter(Filter::raw(f)?);
            }
            if !args.select.is_empty() {
                query = query.select(args.select.iter().map(String::as_str));
            }
            if let Some(n) = args.top {
                query = query.top(n);
            }
            let mut rows = client.query(&query)?;
            while let Some(page) = rows.next_page(client).await? {
                tally.pages += 1;
                if print_page(&mut out, page, &class, limit, &mut tally)? {
                    break;
                }
            }
            "pages"
        }
        Provider::WsMan(client) => {
            if let Some(n) = args.batch {
                client.wsman().set_max_elements(n.max(1));
            }
            let (mut rows, class) = match (&args.wql, &args.class) {
                (Some(text), _) => {
                    let parsed = wql::parse(text).context("--wql")?;
                    (client.query(text)?, parsed.class)
                }
                (None, Some(class)) if !args.select.is_empty() => {
                    let q = Select::new(class.as_str())
                        .properties(args.select.iter().map(String::as_str))
                        .build()
                        .context("--class/--select")?;
                    (client.query(&q.to_string())?, class.clone())
                }
                (None, Some(class)) => (client.enumerate(class)?, class.clone()),
                (None, None) => bail!("give --class or --wql"),
            };
            let mut stopped_early = false;
            while let Some(batch) = rows.next_batch(client).await? {
                tally.pages += 1;
                if print_page(&mut out, batch, &class, limit, &mut tally)? {
                    stopped_early = true;
                    break;
                }
            }
            if stopped_early {
                rows.release(client).await?;
            }
            "batches"
        }
    };
    out.flush().context("writing the output")?;
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "{}",
        json!({
            "summary": true,
            "rows": tally.rows,
            unit: tally.pages,
            "seconds": (seconds * 1000.0).round() / 1000.0,
        })
    );
    Ok(())
}

/// Prints a page's rows; true once `limit` rows have been printed.
fn print_page(
    out: &mut impl Write,
    page: Vec<Instance>,
    class: &str,
    limit: Option<u64>,
    tally: &mut Tally,
) -> anyhow::Result<bool> {
    for instance in page {
        if limit.is_some_and(|n| tally.rows >= n) {
            break;
        }
        writeln!(out, "{}", row(instance, class)).context("writing the output")?;
        tally.rows += 1;
    }
    out.flush().context("writing the output")?;
    Ok(limit.is_some_and(|n| tally.rows >= n))
}

/// An instance as printed: its properties without OData annotations, and
/// `__CLASS` (the queried class when the provider did not name one).
fn row(mut instance: Instance, class: &str) -> serde_json::Value {
    instance.properties.retain(|k, _| !k.starts_with('@'));
    if instance.class.is_empty() {
        class.clone_into(&mut instance.class);
    }
    instance.to_json()
}
