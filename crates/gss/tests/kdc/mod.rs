//! A throwaway MIT KDC on a loopback port for the Kerberos tests, and the
//! child-process runner for scenarios that need `KRB5_CONFIG` set.
//!
//! The GSS-API library reads its realm settings from `KRB5_CONFIG`, and
//! changing the environment of a multi-threaded test process is unsound,
//! so each scenario runs in a child: this same test binary, re-executed
//! with `--exact <scenario> --ignored` and the environment set, bounded by
//! a timeout.

#![allow(dead_code)]

use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) const REALM: &str = "PIPPIN.TEST";
pub(crate) const USER: &str = "svc_bridge";
pub(crate) const PASSWORD: &str = "Bridge-Pa55word";
pub(crate) const SERVICE: &str = "HTTP/localhost";

/// The environment variable that tells a scenario where its KDC's files
/// are; a scenario run without it (by hand, with `--ignored`) skips.
pub(crate) const SCENARIO_DIR_ENV: &str = "PIPPIN_GSS_TEST_DIR";

/// How long one scenario child may run.
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the KDC may take to listen.
const KDC_START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long one setup command may run.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// PATH with the sbin directories, where Debian puts the KDC tools.
fn path_env() -> String {
    let path = std::env::var("PATH").unwrap_or_default();
    format!("/usr/sbin:/sbin:/usr/bin:/bin:{path}")
}

/// Checks that the MIT KDC and client tools are installed; see
/// `test_support::require_peer`.
pub(crate) fn require_kdc_tools(test: &str) -> bool {
    test_support::require_peer(
        test,
        &[
            "sh",
            "-c",
            "PATH=/usr/sbin:/sbin:$PATH; command -v krb5kdc && command -v kdb5_util \
             && command -v kadmin.local && command -v kinit && command -v klist",
        ],
    )
}

/// A running KDC for `PIPPIN.TEST` with `svc_bridge` (a password) and
/// `HTTP/localhost` (in `http.keytab`), killed when dropped.
pub(crate) struct Kdc {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) port: u16,
    child: Child,
}

/// Runs a setup command to completion within [`COMMAND_TIMEOUT`], with the
/// KDC's configuration in its environment; panics with its output if it
/// fails.
fn run_tool(dir: &Path, args: &[&str], stdin: &[u8]) -> String {
    use std::io::Write;
    let out = dir.join("tool.out");
    let err = dir.join("tool.err");
    let mut child = Command::new(args[0])
        .args(&args[1..])
        .env("PATH", path_env())
        .env("KRB5_CONFIG", dir.join("krb5.conf"))
        .env("KRB5_KDC_PROFILE", dir.join("kdc.conf"))
        .stdin(Stdio::piped())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {args:?}: {e}"));
    if let Some(mut input) = child.stdin.take() {
        let _ = input.write_all(stdin);
    }
    let status = wait_bounded(&mut child, COMMAND_TIMEOUT)
        .unwrap_or_else(|| panic!("{args:?} did not finish in {COMMAND_TIMEOUT:?}"));
    let stdout = std::fs::read_to_string(&out).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err).unwrap_or_default();
    assert!(
        status.success(),
        "{args:?} failed ({status}):\n{stdout}\n{stderr}"
    );
    stdout
}

/// Waits for `child` at most `limit`; kills it and returns `None` past that.
pub(crate) fn wait_bounded(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A loopback port free for both TCP and UDP.
fn free_port() -> u16 {
    for _ in 0..50 {
        let tcp = TcpListener::bind("127.0.0.1:0").expect("binding a loopback port");
        let port = tcp.local_addr().unwrap().port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no loopback port free for both TCP and UDP");
}

/// Writes `krb5.conf` (clients) and `kdc.conf` (the KDC and its tools) in
/// `d` for a KDC on `port`.
fn write_configs(d: &Path, port: u16) {
    let p = |n: &str| d.join(n).to_string_lossy().into_owned();
    std::fs::write(
        d.join("krb5.conf"),
        format!(
            "[libdefaults]\n\
             \tdefault_realm = {REALM}\n\
             \tdns_lookup_realm = false\n\
             \tdns_lookup_kdc = false\n\
             \tdns_canonicalize_hostname = false\n\
             \trdns = false\n\
             \tudp_preference_limit = 1\n\
             \tdefault_ccache_name = FILE:{}\n\
             \tdefault_keytab_name = FILE:{}\n\
             [realms]\n\
             \t{REALM} = {{\n\t\tkdc = 127.0.0.1:{port}\n\t}}\n\
             [domain_realm]\n\
             \tlocalhost = {REALM}\n",
            p("no-default-ccache"),
            p("no-default.keytab"),
        ),
    )
    .unwrap();
    std::fs::write(
        d.join("kdc.conf"),
        format!(
            "[kdcdefaults]\n\
             \tkdc_listen = 127.0.0.1:{port}\n\
             \tkdc_tcp_listen = 127.0.0.1:{port}\n\
             [realms]\n\
             \t{REALM} = {{\n\
             \t\tdatabase_name = {}\n\
             \t\tkey_stash_file = {}\n\
             \t\tacl_file = {}\n\
             \t\tsupported_enctypes = aes256-cts-hmac-sha1-96:normal\n\
             \t\tmax_life = 1h\n\
             \t}}\n\
             [logging]\n\
             \tkdc = FILE:{}\n",
            p("principal"),
            p("stash"),
            p("kadm5.acl"),
            p("kdc.log"),
        ),
    )
    .unwrap();
}

/// Starts `krb5kdc` with the configuration in `d` and waits until it
/// listens on `port`; `None` if it exits first (the port was taken).
fn launch(d: &Path, port: u16) -> Option<Child> {
    let log = std::fs::File::create(d.join("krb5kdc.out")).unwrap();
    let mut child = Command::new("krb5kdc")
        .args(["-n", "-r", REALM])
        .env("PATH", path_env())
        .env("KRB5_CONFIG", d.join("krb5.conf"))
        .env("KRB5_KDC_PROFILE", d.join("kdc.conf"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("starting krb5kdc");
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            eprintln!(
                "krb5kdc exited ({status}): {}",
                std::fs::read_to_string(d.join("krb5kdc.out")).unwrap_or_default()
            );
            return None;
        }
        if start.elapsed() > KDC_START_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("krb5kdc did not listen on 127.0.0.1:{port} in {KDC_START_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(child)
}

impl Kdc {
    /// Creates the realm database, the principals and the keytabs, and
    /// starts `krb5kdc` on a free loopback port.
    pub(crate) fn start() -> Self {
        let dir = test_support::tempdir();
        let d = dir.path();
        let p = |n: &str| d.join(n).to_string_lossy().into_owned();
        write_configs(d, free_port());
        std::fs::write(d.join("kadm5.acl"), "").unwrap();
        run_tool(
            d,
            &[
                "kdb5_util",
                "create",
                "-s",
                "-r",
                REALM,
                "-P",
                "master-Pa55word",
            ],
            b"",
        );
        let kadmin = |q: &str| run_tool(d, &["kadmin.local", "-r", REALM, "-q", q], b"");
        kadmin(&format!("addprinc -pw {PASSWORD} {USER}"));
        kadmin(&format!("addprinc -randkey {SERVICE}"));
        kadmin("addprinc -randkey HTTP/elsewhere");
        // The first keytab's key is replaced by the second export: it is
        // a stale keytab for the wrong-key tests.
        kadmin(&format!("ktadd -k {} {SERVICE}", p("stale.keytab")));
        kadmin(&format!("ktadd -k {} {SERVICE}", p("http.keytab")));
        kadmin(&format!(
            "ktadd -k {} HTTP/elsewhere",
            p("elsewhere.keytab")
        ));
        // The user's current key, for a client keytab.
        kadmin(&format!(
            "ktadd -norandkey -k {} {USER}",
            p("client.keytab")
        ));
        // The port was free a moment ago; if something took it since, the
        // KDC exits and another port is tried.
        for _ in 0..5 {
            let port = free_port();
            write_configs(d, port);
            if let Some(child) = launch(d, port) {
                return Self { dir, port, child };
            }
        }
        panic!("krb5kdc could not start on a free loopback port");
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `kinit` with the password into the FILE cache `ccache`.
    pub(crate) fn kinit(&self) {
        let cache = format!("FILE:{}", self.path("ccache").display());
        run_tool(
            self.dir.path(),
            &["kinit", "-c", &cache, &format!("{USER}@{REALM}")],
            format!("{PASSWORD}\n").as_bytes(),
        );
    }

    /// `klist` of the FILE cache `ccache`.
    pub(crate) fn klist(&self) -> String {
        let cache = format!("FILE:{}", self.path("ccache").display());
        run_tool(self.dir.path(), &["klist", "-c", &cache], b"")
    }

    /// Runs the ignored test `scenario` of this test binary in a child
    /// process with the KDC's environment (plus `extra`), and panics with
    /// its output unless it passed and reached its end.
    pub(crate) fn run_scenario(&self, scenario: &str, extra: &[(&str, &str)]) {
        run_scenario_in(self.dir.path(), scenario, extra);
    }
}

impl Drop for Kdc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs scenario `scenario` in a child process with `dir` as its test
/// directory and the Kerberos environment pointing into it.
pub(crate) fn run_scenario_in(dir: &Path, scenario: &str, extra: &[(&str, &str)]) {
    let exe = std::env::current_exe().expect("the test binary's path");
    let out_path = dir.join(format!("{scenario}.out"));
    let out = std::fs::File::create(&out_path).unwrap();
    let mut cmd = Command::new(exe);
    cmd.args([
        scenario,
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(SCENARIO_DIR_ENV, dir)
    .env("KRB5_CONFIG", dir.join("krb5.conf"))
    .env(
        "KRB5CCNAME",
        format!("FILE:{}", dir.join("no-default-ccache").display()),
    )
    .env(
        "KRB5_KTNAME",
        format!("FILE:{}", dir.join("no-default.keytab").display()),
    )
    .env("KRB5RCACHEDIR", dir)
    .env("KRB5_TRACE", dir.join(format!("{scenario}.trace")))
    .env("PATH", path_env())
    .stdin(Stdio::null())
    .stdout(out.try_clone().unwrap())
    .stderr(out);
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("re-running the test binary");
    let status = wait_bounded(&mut child, SCENARIO_TIMEOUT);
    let output = std::fs::read_to_string(&out_path).unwrap_or_default();
    let trace = std::fs::read_to_string(dir.join(format!("{scenario}.trace"))).unwrap_or_default();
    let done = dir.join(format!("{scenario}.done")).exists();
    assert!(
        matches!(status, Some(s) if s.success()) && done && output.contains("1 passed"),
        "scenario {scenario} failed (status {status:?}, reached its end: {done}):\n{output}\n\
         --- library trace ---\n{trace}"
    );
    eprintln!("scenario {scenario} passed");
}

/// In a scenario: the test directory, or `None` (with a notice) when the
/// scenario was started by hand rather than by its parent test.
pub(crate) fn scenario_dir(name: &str) -> Option<PathBuf> {
    match std::env::var_os(SCENARIO_DIR_ENV) {
        Some(d) => Some(PathBuf::from(d)),
        None => {
            eprintln!("{name}: runs only as a child of its parent test; nothing to do");
            None
        }
    }
}

/// In a scenario: records that it ran to its end.
pub(crate) fn scenario_done(dir: &Path, name: &str) {
    std::fs::write(dir.join(format!("{name}.done")), b"done").unwrap();
}
