//! A simulated Mac or iPhone that enrolls in an MDM server and answers its
//! commands the way a real device does, one or thousands at a time.
//!
//! ```text
//! cargo run --release -p pippin-examples --example mdm-device-sim -- \
//!     --server https://127.0.0.1:8760 --ca DATA_DIR/ca.pem --devices 50 --rounds 3
//! ```
//!
//! Each device downloads the enrollment profile (`GET /mdm/enroll`), reads
//! its SCEP and MDM payloads, generates an RSA key, obtains its identity
//! certificate by SCEP (`GetCACaps`, `GetCACert`, `PKIOperation`), then,
//! with that certificate as TLS client identity, sends `Authenticate` and
//! `TokenUpdate` to the check-in URL. Each round is then one `Idle` session
//! at the server URL: every command the server answers with is carried out
//! and reported, until the server answers with an empty body. See `--help`
//! for what each command gets.

#[path = "sim/device.rs"]
mod device;
#[path = "sim/enroll.rs"]
mod enroll;
#[path = "sim/http.rs"]
mod http;
#[path = "sim/profile.rs"]
mod profile;
#[path = "sim/state.rs"]
mod state;
#[path = "sim/stats.rs"]
mod stats;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use apple_mdm_protocol::{CommandReport, Status};
use clap::Parser;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::device::{After, Platform, Rand};
use crate::enroll::{Enrolled, Env, Failed, KindExt as _, MdmClient};
use crate::stats::{Series, Stats, rate};

/// At most this many commands in one round.
const MAX_COMMANDS_PER_ROUND: u32 = 1000;

/// At most this many fresh `Idle` sessions in one round after a `NotNow`
/// or a restart.
const MAX_RESUMES_PER_ROUND: u32 = 10;

/// Run simulated Macs or iPhones against an MDM server: each enrolls
/// (enrollment profile, SCEP, Authenticate, TokenUpdate) and then polls the
/// server URL for commands and answers them, as a real device does.
///
/// Commands and what they get:
///
///   DeviceInformation         Acknowledged, with the queries asked for
///                             (serial number, model, OS, capacity, MACs,
///                             IMEI and carrier on iOS, ...)
///   SecurityInfo              Acknowledged: FileVault, SIP, firewall and
///                             secure boot on macOS; passcode on iOS
///   InstalledApplicationList  Acknowledged: a few apps with versions
///   ManagedApplicationList    Acknowledged: none
///   ProfileList               Acknowledged: the enrollment profile and any
///                             profile installed since
///   CertificateList           Acknowledged: the identity certificate and
///                             the SCEP CA
///   InstallProfile            Acknowledged (Error if the payload is not a
///                             profile); it then shows in ProfileList
///   RemoveProfile             Acknowledged; the profile goes from ProfileList
///   AvailableOSUpdates        Acknowledged: none
///   ScheduleOSUpdateScan,
///   DeviceConfigured          Acknowledged
///   RestartDevice             Acknowledged; the device comes back with Idle
///   DeviceLock, EraseDevice,
///   ShutDownDevice            Acknowledged; the device then stops
///   anything else             Error (MCMDMErrorDomain 12021, Unknown command)
///   a malformed command       CommandFormatError
///
/// With --not-now-rate a command is answered NotNow with that probability.
/// As a real device, it carries out any further command the server sends on
/// the same connection; when NotNow was the last status it sent, it comes
/// back with a fresh Idle after --not-now-delay-ms (at most 10 times a
/// round).
///
/// Output: progress on stderr, then a summary on stdout (text, or JSON with
/// --json): devices enrolled, check-ins, commands answered by status,
/// command round trips per second, and latency percentiles of each kind of
/// request. Exit status 0 when every device did its work, 1 when any
/// failed (the summary names the first error of each kind), 2 for bad
/// arguments or setup.
///
/// Build with --release: RSA key generation is slow in debug builds.
#[derive(Debug, Parser)]
#[command(version, about, verbatim_doc_comment)]
struct Args {
    /// The server's base URL; the enrollment profile is fetched from
    /// {URL}/mdm/enroll and names every other URL.
    #[arg(long, value_name = "URL", env = "PIPPIN_SIM_SERVER")]
    server: String,

    /// The CA certificate(s) (PEM) that the server's TLS certificate chains
    /// to, such as the server's <data-dir>/ca.pem. Needed for https URLs.
    #[arg(long, value_name = "PEM", env = "PIPPIN_SIM_CA")]
    ca: Option<PathBuf>,

    /// How many devices to run at once, each with its own identity and its
    /// own kept-alive connection.
    #[arg(long, value_name = "N", default_value_t = 1, env = "PIPPIN_SIM_DEVICES",
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    devices: u32,

    /// The kind of device.
    #[arg(long, value_enum, default_value_t = Platform::Macos, env = "PIPPIN_SIM_PLATFORM")]
    platform: Platform,

    /// Idle sessions per device after enrolling; a round lasts until the
    /// server answers with an empty body (at most 1,000 commands). 0: enroll
    /// only.
    #[arg(long, value_name = "R", default_value_t = 1, env = "PIPPIN_SIM_ROUNDS")]
    rounds: u32,

    /// Pause between one device's rounds, in milliseconds.
    #[arg(
        long,
        value_name = "MS",
        default_value_t = 0,
        env = "PIPPIN_SIM_INTERVAL_MS"
    )]
    interval_ms: u64,

    /// The probability (0 to 1) that a device is busy when a command comes
    /// and answers NotNow.
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = probability,
          env = "PIPPIN_SIM_NOT_NOW_RATE")]
    not_now_rate: f64,

    /// How long a device whose last answer was NotNow waits before its
    /// fresh Idle, in milliseconds.
    #[arg(
        long,
        value_name = "MS",
        default_value_t = 100,
        env = "PIPPIN_SIM_NOT_NOW_DELAY_MS"
    )]
    not_now_delay_ms: u64,

    /// How many devices enroll at the same time (key generation is CPU
    /// heavy and runs on a thread pool). Default: the number of CPUs.
    #[arg(long, value_name = "N", env = "PIPPIN_SIM_CONCURRENCY",
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    concurrency: Option<u32>,

    /// Keep each device's identity, key and state in DIR
    /// (device-NNNNN.json), so that the next run with the same DIR reuses
    /// the enrollments instead of enrolling again. A reused device first
    /// sends TokenUpdate; if the server no longer knows it, it enrolls
    /// again. An erased device keeps its UDID and serial number, as a real
    /// one does, and enrolls again as the same device on the next run.
    #[arg(long, value_name = "DIR", env = "PIPPIN_SIM_STATE_DIR")]
    state_dir: Option<PathBuf>,

    /// Print the summary as JSON.
    #[arg(long, env = "PIPPIN_SIM_JSON")]
    json: bool,

    /// No progress lines on stderr.
    #[arg(long, short)]
    quiet: bool,

    /// Send no Mdm-Signature header, even when the profile's SignMessage
    /// asks for one (the TLS client certificate still identifies the
    /// device).
    #[arg(long, env = "PIPPIN_SIM_NO_MDM_SIGNATURE")]
    no_mdm_signature: bool,
}

fn probability(s: &str) -> Result<f64, String> {
    let p: f64 = s.parse().map_err(|e| format!("{e}"))?;
    if (0.0..=1.0).contains(&p) {
        Ok(p)
    } else {
        Err("must be between 0 and 1".into())
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mdm-device-sim: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("mdm-device-sim: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Live counts for the progress lines.
#[derive(Default)]
struct Progress {
    enrolled: AtomicU64,
    failed: AtomicU64,
    enrolling: AtomicU64,
    rounds: AtomicU64,
    commands: AtomicU64,
}

/// The settings of the command phase.
struct Plan {
    rounds: u32,
    interval: Duration,
    not_now_rate: f64,
    not_now_delay: Duration,
}

/// One device between the phases.
struct Live {
    index: usize,
    enrolled: Enrolled,
    client: MdmClient,
}

async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let server = args.server.trim_end_matches('/').to_owned();
    if !(server.starts_with("https://") || server.starts_with("http://")) {
        bail!("--server must be an http or https URL");
    }
    let roots_pem = match &args.ca {
        Some(p) => {
            let pem =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            if pippin_service::pem_to_ders(&pem)
                .map(|c| c.is_empty())
                .unwrap_or(true)
            {
                bail!("{}: no certificate", p.display());
            }
            Some(pem)
        }
        None if server.starts_with("https://") => {
            bail!("--ca is needed for an https server (the server's ca.pem)")
        }
        None => None,
    };
    if let Some(dir) = &args.state_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let env = Arc::new(Env {
        server: server.clone(),
        roots_pem,
        platform: args.platform,
        no_signature: args.no_mdm_signature,
    });
    let devices = usize::try_from(args.devices)?;
    let concurrency = match args.concurrency {
        Some(n) => usize::try_from(n)?,
        None => std::thread::available_parallelism().map_or(1, usize::from),
    };
    let progress = Arc::new(Progress::default());
    let started = Instant::now();
    let mut total = Stats::default();

    // Phase 1: enrollment.
    let ticker = (!args.quiet).then(|| {
        let p = progress.clone();
        tokio::spawn(async move {
            let mut last = String::new();
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let line = enrolling_line(&p, devices);
                if line != last {
                    eprintln!("[{:>7.1} s] {line}", started.elapsed().as_secs_f64());
                    last = line;
                }
            }
        })
    });
    let limit = Arc::new(Semaphore::new(concurrency));
    let mut tasks = JoinSet::new();
    for index in 1..=devices {
        let env = env.clone();
        let limit = limit.clone();
        let progress = progress.clone();
        let state_dir = args.state_dir.clone();
        tasks.spawn(async move {
            let mut stats = Stats::default();
            let permit = limit.acquire_owned().await;
            progress.enrolling.fetch_add(1, Ordering::Relaxed);
            let outcome = bring_up(&env, index, state_dir.as_deref(), &mut stats).await;
            drop(permit);
            progress.enrolling.fetch_sub(1, Ordering::Relaxed);
            let live = match outcome {
                Ok((enrolled, client)) => {
                    progress.enrolled.fetch_add(1, Ordering::Relaxed);
                    Some(Live {
                        index,
                        enrolled,
                        client,
                    })
                }
                Err(f) => {
                    progress.failed.fetch_add(1, Ordering::Relaxed);
                    stats.fail(f.kind, index, &f.error);
                    None
                }
            };
            (stats, live)
        });
    }
    let mut live = Vec::with_capacity(devices);
    while let Some(joined) = tasks.join_next().await {
        let (stats, device) = joined.context("a device task failed")?;
        total.merge(&stats);
        live.extend(device);
    }
    let enroll_elapsed = started.elapsed();
    if let Some(t) = ticker {
        t.abort();
    }
    if !args.quiet {
        eprintln!(
            "[{:>7.1} s] {}",
            started.elapsed().as_secs_f64(),
            enrolling_line(&progress, devices)
        );
    }

    // Phase 2: the rounds.
    let plan = Arc::new(Plan {
        rounds: args.rounds,
        interval: Duration::from_millis(args.interval_ms),
        not_now_rate: args.not_now_rate,
        not_now_delay: Duration::from_millis(args.not_now_delay_ms),
    });
    let live_count = live.len();
    let expected_rounds = u64::from(args.rounds) * live_count as u64;
    let phase2 = Instant::now();
    let ticker = (!args.quiet && args.rounds > 0 && live_count > 0).then(|| {
        let p = progress.clone();
        tokio::spawn(async move {
            let mut last = String::new();
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let line = rounds_line(&p, expected_rounds);
                if line != last {
                    eprintln!("[{:>7.1} s] {line}", started.elapsed().as_secs_f64());
                    last = line;
                }
            }
        })
    });
    let mut tasks = JoinSet::new();
    for mut dev in live {
        let plan = plan.clone();
        let progress = progress.clone();
        let state_dir = args.state_dir.clone();
        tasks.spawn(async move {
            let mut stats = Stats::default();
            let outcome = rounds(&plan, &mut dev, &mut stats, &progress).await;
            dev.client.drain_counters(&mut stats);
            let gone = match outcome {
                Ok(gone) => gone,
                Err(f) => {
                    stats.fail(f.kind, dev.index, &f.error);
                    None
                }
            };
            if let Some(reason) = gone {
                Stats::count(&mut stats.gone, reason);
            }
            if let Some(dir) = &state_dir {
                let saved = if gone == Some("erased") {
                    state::save_erased(dir, dev.index, &dev.enrolled.device.hw)
                } else {
                    state::save(dir, dev.index, &dev.enrolled)
                };
                if let Err(e) = saved {
                    stats.fail("state file", dev.index, &e);
                }
            }
            stats
        });
    }
    while let Some(joined) = tasks.join_next().await {
        total.merge(&joined.context("a device task failed")?);
    }
    let rounds_elapsed = phase2.elapsed();
    if let Some(t) = ticker {
        t.abort();
        eprintln!(
            "[{:>7.1} s] {}",
            started.elapsed().as_secs_f64(),
            rounds_line(&progress, expected_rounds)
        );
    }

    let report = Report {
        args: &args,
        server: &server,
        devices,
        total: &total,
        elapsed: started.elapsed(),
        enroll_elapsed,
        rounds_elapsed,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report.json())?);
    } else {
        print!("{}", report.text());
    }
    Ok(if total.failed_devices() > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn enrolling_line(p: &Progress, devices: usize) -> String {
    format!(
        "enrolled {}/{devices}, failed {}, enrolling {}",
        p.enrolled.load(Ordering::Relaxed),
        p.failed.load(Ordering::Relaxed),
        p.enrolling.load(Ordering::Relaxed),
    )
}

fn rounds_line(p: &Progress, expected: u64) -> String {
    format!(
        "rounds {}/{expected}, commands answered {}",
        p.rounds.load(Ordering::Relaxed),
        p.commands.load(Ordering::Relaxed),
    )
}

/// Gets device `index` enrolled: from its state file when there is one and
/// the server still knows it, otherwise by enrolling (as the same device
/// when the file names one).
async fn bring_up(
    env: &Env,
    index: usize,
    state_dir: Option<&std::path::Path>,
    stats: &mut Stats,
) -> Result<(Enrolled, MdmClient), Failed> {
    let Some(dir) = state_dir else {
        return enroll::enroll(env, index, None, stats).await;
    };
    let loaded = state::load(dir, index).kind("state file")?;
    let platform = match &loaded {
        Some(state::Loaded::Enrolled(e)) => Some(e.device.hw.platform),
        Some(state::Loaded::Erased(hw)) => Some(hw.platform),
        None => None,
    };
    if platform.is_some_and(|p| p != env.platform) {
        return Err(Failed {
            kind: "state file",
            error: anyhow::anyhow!(
                "{} holds a device of another platform than --platform",
                state::path(dir, index).display()
            ),
        });
    }
    let hw = match loaded {
        None => None,
        Some(state::Loaded::Erased(hw)) => Some(*hw),
        Some(state::Loaded::Enrolled(saved)) => match resume(env, &saved, stats).await {
            Ok(client) => {
                stats.reused += 1;
                return Ok((*saved, client));
            }
            Err(e) => {
                eprintln!(
                    "device {index:05}: the saved enrollment no longer works ({e:#}); enrolling again"
                );
                stats.reenrolled += 1;
                Some(saved.device.hw)
            }
        },
    };
    let (enrolled, client) = enroll::enroll(env, index, hw, stats).await?;
    state::save(dir, index, &enrolled).kind("state file")?;
    Ok((enrolled, client))
}

/// Picks up a saved enrollment: a `TokenUpdate` with the saved identity.
async fn resume(env: &Env, e: &Enrolled, stats: &mut Stats) -> anyhow::Result<MdmClient> {
    let mut client = MdmClient::new(env, e)?;
    let update = e.push.token_update(&e.device.hw, &e.mdm.topic)?;
    let sent = client.check_in(&e.mdm.check_in_url, &update, stats).await;
    client.drain_counters(stats);
    sent?;
    Ok(client)
}

/// How a session ended.
enum SessionEnd {
    /// The server answered with an empty body.
    Done,
    /// The round's command budget ran out.
    Budget,
    /// The device ended it (`NotNow`, restart) and will come back.
    Resume,
    /// The device went away.
    Gone(&'static str),
}

/// A device's rounds; `Some(reason)` when the device went away.
async fn rounds(
    plan: &Plan,
    dev: &mut Live,
    stats: &mut Stats,
    progress: &Progress,
) -> Result<Option<&'static str>, Failed> {
    let mut rng = Rand::new();
    for round in 0..plan.rounds {
        if round > 0 && !plan.interval.is_zero() {
            tokio::time::sleep(plan.interval).await;
        }
        let mut budget = MAX_COMMANDS_PER_ROUND;
        let mut resumes = 0;
        let gone = loop {
            stats.sessions += 1;
            match session(plan, dev, &mut budget, &mut rng, stats, progress).await? {
                SessionEnd::Done => break None,
                SessionEnd::Budget => {
                    stats.truncated_rounds += 1;
                    break None;
                }
                SessionEnd::Resume if resumes < MAX_RESUMES_PER_ROUND => {
                    resumes += 1;
                    stats.resumed_sessions += 1;
                    tokio::time::sleep(plan.not_now_delay).await;
                }
                SessionEnd::Resume => break None,
                SessionEnd::Gone(reason) => break Some(reason),
            }
        };
        stats.rounds += 1;
        progress.rounds.fetch_add(1, Ordering::Relaxed);
        if gone.is_some() {
            return Ok(gone);
        }
    }
    Ok(None)
}

/// One `Idle` session: report `Idle`, then answer each command the server
/// sends until it sends none.
///
/// After a `NotNow` the device goes on with whatever the server sends on
/// the same connection; when `NotNow` was the last status it sent, it
/// comes back later with a fresh `Idle` by itself (Apple, "Handling
/// NotNow status responses"); otherwise it waits to be woken (the next
/// round).
async fn session(
    plan: &Plan,
    dev: &mut Live,
    budget: &mut u32,
    rng: &mut Rand,
    stats: &mut Stats,
    progress: &Progress,
) -> Result<SessionEnd, Failed> {
    const KIND: &str = "command session";
    let url = dev.enrolled.mdm.server_url.clone();
    let mut body = CommandReport::idle(dev.enrolled.device.hw.identity()).to_xml();
    let mut series = Series::Idle;
    let mut last_not_now = false;
    loop {
        let reply = dev.client.report(&url, body).await.kind(KIND)?;
        stats.record(series, reply.elapsed);
        if reply.body.is_empty() {
            return Ok(if last_not_now {
                SessionEnd::Resume
            } else {
                SessionEnd::Done
            });
        }
        if last_not_now {
            stats.commands_after_not_now += 1;
        }
        if *budget == 0 {
            return Ok(SessionEnd::Budget);
        }
        *budget -= 1;
        let busy = rng.chance(plan.not_now_rate);
        let answer = dev.enrolled.device.answer(&reply.body, busy).kind(KIND)?;
        *stats
            .request_types
            .entry(answer.request_type.clone())
            .or_default() += 1;
        Stats::count(&mut stats.answered, answer.report.status.as_str());
        progress.commands.fetch_add(1, Ordering::Relaxed);
        last_not_now = answer.report.status == Status::NotNow;
        body = answer.report.to_xml();
        series = Series::Report;
        let end = match answer.after {
            After::Continue => continue,
            After::Reconnect => SessionEnd::Resume,
            After::Gone(reason) => SessionEnd::Gone(reason),
        };
        // The device restarts or goes away: what comes back is not acted on.
        let reply = dev.client.report(&url, body).await.kind(KIND)?;
        stats.record(Series::Report, reply.elapsed);
        return Ok(end);
    }
}

/// The end-of-run summary.
struct Report<'a> {
    args: &'a Args,
    server: &'a str,
    devices: usize,
    total: &'a Stats,
    elapsed: Duration,
    enroll_elapsed: Duration,
    rounds_elapsed: Duration,
}

impl Report<'_> {
    fn text(&self) -> String {
        let t = self.total;
        let mut o = String::new();
        let _ = writeln!(
            o,
            "mdm-device-sim: {} {} device(s) against {}, {} round(s) each",
            self.devices,
            self.args.platform.name(),
            self.server,
            self.args.rounds
        );
        let _ = writeln!(
            o,
            "enrollment:  {} enrolled, {} reused from the state directory ({} enrolled again), {} failed, in {:.2} s ({:.1} enrollments/s)",
            t.enrolled,
            t.reused,
            t.reenrolled,
            t.failed_devices(),
            self.enroll_elapsed.as_secs_f64(),
            rate(t.enrolled, self.enroll_elapsed)
        );
        let _ = writeln!(o, "check-ins:   {}", counts(&t.checkins));
        if self.args.rounds > 0 {
            let _ = writeln!(
                o,
                "rounds:      {} in {:.2} s: {} Idle sessions ({} resumed after NotNow or restart, {} rounds cut at {MAX_COMMANDS_PER_ROUND} commands)",
                t.rounds,
                self.rounds_elapsed.as_secs_f64(),
                t.sessions,
                t.resumed_sessions,
                t.truncated_rounds
            );
            let answered: u64 = t.answered.values().sum();
            let _ = writeln!(
                o,
                "commands:    {answered} answered: {}",
                counts(&t.answered)
            );
            if !t.request_types.is_empty() {
                let _ = writeln!(
                    o,
                    "             by type: {}",
                    t.request_types
                        .iter()
                        .map(|(k, v)| format!("{k} {v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            let trips = t.round_trips() as u64;
            let _ = writeln!(
                o,
                "round trips: {trips} command round trips in {:.2} s = {:.1}/s",
                self.rounds_elapsed.as_secs_f64(),
                rate(trips, self.rounds_elapsed)
            );
        }
        if !t.gone.is_empty() {
            let _ = writeln!(o, "gone:        {}", counts(&t.gone));
        }
        let _ = writeln!(
            o,
            "HTTP:        {} requests on {} connections ({:.1} per connection), {} retried after a connection error",
            t.http_requests,
            t.connections,
            ratio(t.http_requests, t.connections),
            t.http_retries
        );
        if t.signatures > 0 {
            let _ = writeln!(
                o,
                "signing:     {} Mdm-Signature headers (the profile sets SignMessage); each costs this simulator an RSA signature, about 2 ms of CPU: use --no-mdm-signature to measure the server",
                t.signatures
            );
        }
        o.push_str(&t.latency_table());
        if t.answered.contains_key("NotNow") {
            let _ = writeln!(
                o,
                "NotNow:      the server sent another command on the same connection {} time(s)",
                t.commands_after_not_now
            );
        }
        if t.failures.is_empty() {
            let _ = writeln!(o, "failures:    none");
        } else {
            let _ = writeln!(o, "failures:    {} device(s)", t.failed_devices());
            for (kind, f) in &t.failures {
                let _ = writeln!(
                    o,
                    "  {kind} ({} device(s)); first, device {:05}: {}",
                    f.count, f.device, f.first
                );
            }
        }
        let _ = writeln!(o, "total time:  {:.2} s", self.elapsed.as_secs_f64());
        o
    }

    fn json(&self) -> serde_json::Value {
        let t = self.total;
        let trips = t.round_trips() as u64;
        let failures: Vec<_> = t
            .failures
            .iter()
            .map(|(kind, f)| {
                serde_json::json!({
                    "kind": kind,
                    "devices": f.count,
                    "first_device": f.device,
                    "first_error": f.first,
                })
            })
            .collect();
        serde_json::json!({
            "server": self.server,
            "platform": self.args.platform,
            "devices": self.devices,
            "rounds_per_device": self.args.rounds,
            "enrolled": t.enrolled,
            "reused": t.reused,
            "reenrolled": t.reenrolled,
            "failed": t.failed_devices(),
            "enroll_seconds": self.enroll_elapsed.as_secs_f64(),
            "enrollments_per_second": rate(t.enrolled, self.enroll_elapsed),
            "checkins": t.checkins,
            "rounds": t.rounds,
            "sessions": t.sessions,
            "resumed_sessions": t.resumed_sessions,
            "truncated_rounds": t.truncated_rounds,
            "commands": t.answered,
            "request_types": t.request_types,
            "command_round_trips": trips,
            "rounds_seconds": self.rounds_elapsed.as_secs_f64(),
            "command_round_trips_per_second": rate(trips, self.rounds_elapsed),
            "gone": t.gone,
            "commands_after_not_now": t.commands_after_not_now,
            "http": {
                "requests": t.http_requests,
                "connections": t.connections,
                "retries": t.http_retries,
                "mdm_signatures": t.signatures,
            },
            "latency_ms": t.latency_json(),
            "failures": failures,
            "total_seconds": self.elapsed.as_secs_f64(),
        })
    }
}

fn counts(m: &std::collections::BTreeMap<&'static str, u64>) -> String {
    if m.is_empty() {
        return "none".into();
    }
    m.iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn ratio(a: u64, b: u64) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments() {
        let a = Args::try_parse_from([
            "sim",
            "--server",
            "https://127.0.0.1:8760",
            "--ca",
            "ca.pem",
            "--devices",
            "50",
            "--platform",
            "ios",
            "--rounds",
            "3",
            "--not-now-rate",
            "0.25",
        ])
        .unwrap();
        assert_eq!(a.devices, 50);
        assert_eq!(a.platform, Platform::Ios);
        assert_eq!(a.rounds, 3);
        assert_eq!(a.not_now_rate, 0.25);
        assert!(Args::try_parse_from(["sim", "--server", "x", "--not-now-rate", "1.5"]).is_err());
        assert!(Args::try_parse_from(["sim", "--server", "x", "--devices", "0"]).is_err());
        assert!(
            Args::try_parse_from(["sim"]).is_err()
                || std::env::var_os("PIPPIN_SIM_SERVER").is_some()
        );
    }

    #[test]
    fn count_lines() {
        let mut m = std::collections::BTreeMap::new();
        assert_eq!(counts(&m), "none");
        m.insert("NotNow", 2);
        m.insert("Acknowledged", 5);
        assert_eq!(counts(&m), "Acknowledged 5, NotNow 2");
        assert_eq!(ratio(10, 4), 2.5);
        assert_eq!(ratio(1, 0), 0.0);
    }
}
