//! The service's configuration: a TOML file, every key overridable by a
//! command-line flag and a `PIPPIN_*` environment variable (flag > env >
//! file > default). With no file at all the defaults run a complete
//! single-host service.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The configuration file (`cm-proxy.toml` / `pippin.toml`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Where keys, certificates, the SQLite database and logs live.
    pub data_dir: Option<PathBuf>,
    /// Address of the HTTPS listener (default `0.0.0.0:8760`).
    pub listen: Option<SocketAddr>,
    /// The URL devices reach the service at (default `https://<hostname>:8760`).
    pub public_url: Option<String>,
    /// The bootstrap administrator token (default: generated and kept in
    /// `<data_dir>/admin-token`).
    pub admin_token: Option<String>,
    /// The APNs push topic (`com.apple.mgmt.External.<uuid>`) of the push certificate.
    pub topic: Option<String>,
    /// Accept a verified `Mdm-Signature` header as device identity when the
    /// TLS connection carries no client certificate (behind a TLS-terminating proxy).
    pub trust_mdm_signature: Option<bool>,
    /// Largest device request body, bytes (default 16 MiB).
    pub max_body_bytes: Option<usize>,
    /// Require TLS 1.3 (default: TLS 1.2 and 1.3).
    pub tls13_only: Option<bool>,
    /// The database.
    #[serde(default)]
    pub database: DatabaseConfig,
    /// SCEP.
    #[serde(default)]
    pub scep: ScepSection,
    /// Log files.
    #[serde(default)]
    pub log: LogSection,
    /// The enrollment profile.
    #[serde(default)]
    pub profile: ProfileSection,
    /// The APNs push certificate and endpoint.
    #[serde(default)]
    pub apns: ApnsSection,
    /// Secrets at rest.
    #[serde(default)]
    pub secrets: SecretsSection,
    /// Automated Device Enrollment.
    #[serde(default)]
    pub dep: DepConfig,
    /// Apps and Books (volume-purchased apps).
    #[serde(default)]
    pub vpp: VppConfig,
    /// `[netboot]`: the NetBoot service that `pippin serve` runs alongside
    /// (checked by the `netboot-server` crate); `cm-proxy` alone ignores it
    /// with a warning.
    pub netboot: Option<toml::Table>,
    /// `[sup]`: the software update point that `pippin serve` runs
    /// alongside (checked by the `sup-service` crate); `cm-proxy` alone
    /// ignores it with a warning.
    pub sup: Option<toml::Table>,
}

/// `[database]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite:PATH` or `postgres://user:pass@host:port/db` (default
    /// `sqlite:<data_dir>/pippin.db`).
    pub url: Option<String>,
    /// PostgreSQL connection pool size (default 16).
    pub pool_size: Option<usize>,
    /// PostgreSQL schema for the tables (created if missing; default the
    /// database's default schema).
    pub schema: Option<String>,
}

/// `[scep]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScepSection {
    /// The shared challenge password (default: generated and kept in
    /// `<data_dir>/scep-challenge`).
    pub challenge: Option<String>,
    /// Validity of issued device identities in days (default 365).
    pub validity_days: Option<u32>,
}

/// `[log]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    /// Directory of the log files (default `<data_dir>/logs`).
    pub dir: Option<PathBuf>,
    /// Size at which a log file is rotated, bytes (default 1 MiB, clamped 200 KiB..4 MiB).
    pub max_bytes: Option<u64>,
    /// Files kept, the live one included (default 10, clamped 1..20).
    pub max_files: Option<u32>,
    /// Filter, `RUST_LOG` syntax (default `info`).
    pub level: Option<String>,
}

/// `[profile]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileSection {
    /// Organisation shown on the device.
    pub organization: Option<String>,
    /// `PayloadIdentifier` of the profile.
    pub identifier: Option<String>,
    /// Sign the profile with the server certificate (default true).
    pub sign: Option<bool>,
}

/// `[dep]`: Automated Device Enrollment (Apple Business Manager).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DepConfig {
    /// Apple's DEP API (or a stand-in).
    pub base_url: String,
    /// Extra CA certificates (PEM path) trusted for `base_url`.
    pub ca: Option<PathBuf>,
    /// `post` (Apple) or `put` (Apple's own simulator) for profile
    /// assignment.
    pub assign_method: String,
    /// The `X-Server-Protocol-Version` announced to Apple: 10 by default,
    /// the first with `THROTTLED` answers and their `retry_after_seconds`.
    pub protocol_version: u32,
    /// Seconds between sync passes per server token (10 to 604800).
    pub sync_interval_secs: u64,
    /// Assign the enrollment profile to new devices automatically (devices
    /// an administrator asks for are assigned either way).
    pub auto_assign: bool,
    /// Seconds before a failed profile assignment is tried again, doubling
    /// with each failed try.
    pub assign_retry_secs: u64,
    /// The longest wait between tries of a failed assignment, seconds.
    pub assign_retry_max_secs: u64,
    /// Failed tries before a device's assignment is given up (it stays
    /// `failed`, with the last error).
    pub assign_max_attempts: u32,
    /// Serve the enrollment profile at the DEP enrollment URL only to
    /// serial numbers a server token lists.
    pub require_known_serial: bool,
    /// Apple's device CA chain (PEM): when set, a MachineInfo signer must
    /// chain to one of these certificates; without it the signature must
    /// verify, but its signer is not anchored.
    pub machine_info_ca: Option<PathBuf>,
    /// Warn this many days before a server token expires (and flag the link
    /// as `token_expiring_soon`).
    pub token_warning_days: u64,
    /// Days of device `op_type` history kept.
    pub history_days: u64,
    /// The enrollment profile Apple shows in Setup Assistant.
    pub profile: DepProfileConfig,
}

impl Default for DepConfig {
    fn default() -> Self {
        Self {
            base_url: "https://mdmenrollment.apple.com".to_owned(),
            ca: None,
            assign_method: "post".to_owned(),
            protocol_version: dep_client::DEFAULT_PROTOCOL_VERSION,
            sync_interval_secs: 30 * 60,
            auto_assign: true,
            assign_retry_secs: 60,
            assign_retry_max_secs: 3600,
            assign_max_attempts: 5,
            require_known_serial: true,
            machine_info_ca: None,
            token_warning_days: 30,
            history_days: 365,
            profile: DepProfileConfig::default(),
        }
    }
}

/// `[vpp]`: Apps and Books for Organizations (volume-purchased apps).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VppConfig {
    /// Apple's Apps and Books API (or a stand-in).
    pub base_url: String,
    /// Extra CA certificates (PEM path) trusted for `base_url`.
    pub ca: Option<PathBuf>,
    /// Seconds between full asset walks per content token (60 to 604800);
    /// notifications keep counts current in between.
    pub sync_interval_secs: u64,
    /// Seconds between passes over the license assignments (1 to 300).
    pub work_interval_secs: u64,
    /// Seconds between status queries of a pending job (Apple asks for at
    /// least 30).
    pub event_poll_secs: u64,
    /// Seconds before a failed request is tried again, doubling with each
    /// failure (up to an hour).
    pub retry_secs: u64,
    /// Requests per second per token at most (Apple allows 15).
    pub max_requests_per_second: u32,
    /// Ask Apple to post notifications to `<public_url>/mdm/vpp/notify/<token>`
    /// (job results, license count changes). Without them, polling alone
    /// keeps things current.
    pub notifications: bool,
    /// `ManagementFlags` of installs, unless a request says otherwise (1:
    /// remove the app with the MDM profile; 4: no backup of its data; 5:
    /// both).
    pub management_flags: u64,
    /// Warn this many days before a content token expires.
    pub token_warning_days: u64,
    /// The storefront country of metadata lookups [default: the token's].
    pub country: Option<String>,
}

impl Default for VppConfig {
    fn default() -> Self {
        Self {
            base_url: vpp_client::DEFAULT_BASE_URL.to_owned(),
            ca: None,
            sync_interval_secs: 6 * 3600,
            work_interval_secs: 5,
            event_poll_secs: 30,
            retry_secs: 60,
            max_requests_per_second: 15,
            notifications: true,
            management_flags: 1,
            token_warning_days: 30,
            country: None,
        }
    }
}

/// `[dep.profile]`: the DEP enrollment profile (Apple's `Profile`).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DepProfileConfig {
    /// `profile_name`, shown in Setup Assistant.
    pub name: String,
    /// `is_supervised`.
    pub is_supervised: bool,
    /// `is_mandatory`: the user cannot skip enrollment.
    pub is_mandatory: bool,
    /// `is_mdm_removable`.
    pub is_mdm_removable: bool,
    /// `await_device_configured`: Setup Assistant waits for
    /// `DeviceConfigured`.
    pub await_device_configured: bool,
    /// `allow_pairing` (iOS).
    pub allow_pairing: bool,
    /// `department`.
    pub department: Option<String>,
    /// `support_phone_number`.
    pub support_phone_number: Option<String>,
    /// `support_email_address`.
    pub support_email_address: Option<String>,
    /// `org_magic`.
    pub org_magic: Option<String>,
    /// `language` (ISO 639-1).
    pub language: Option<String>,
    /// `region` (ISO 3166-1).
    pub region: Option<String>,
    /// `skip_setup_items` (`Location`, `Privacy`, `Siri`, ...).
    pub skip_setup_items: Vec<String>,
}

impl Default for DepProfileConfig {
    fn default() -> Self {
        Self {
            name: "Device Management".to_owned(),
            is_supervised: true,
            is_mandatory: true,
            is_mdm_removable: false,
            await_device_configured: false,
            allow_pairing: true,
            department: None,
            support_phone_number: None,
            support_email_address: None,
            org_magic: None,
            language: None,
            region: None,
            skip_setup_items: Vec::new(),
        }
    }
}

/// `[secrets]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretsSection {
    /// The master key that encrypts stored secrets (created if missing;
    /// default `<data_dir>/master.key`). Keep it apart from the data
    /// directory and database backups.
    pub master_key_file: Option<PathBuf>,
}

/// `[apns]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApnsSection {
    /// The MDM push certificate, PEM (with `key`, pushes go to APNs;
    /// without, they are only recorded).
    pub cert: Option<PathBuf>,
    /// The push certificate's RSA private key, PEM, unencrypted.
    pub key: Option<PathBuf>,
    /// Or both in a PKCS #12 file (as exported from Keychain Access).
    pub p12: Option<PathBuf>,
    /// The PKCS #12 file's password (prefer `PIPPIN_APNS_P12_PASSWORD`).
    pub p12_password: Option<pippin_service::Secret<String>>,
    /// `production`, `sandbox` or an `https://host:port` URL (default
    /// `production`).
    pub endpoint: Option<String>,
    /// Extra CA certificates, PEM, trusted for the endpoint's server
    /// certificate (a private or test endpoint).
    pub ca: Option<PathBuf>,
}

impl FileConfig {
    /// Reads a configuration file; unknown keys are errors naming the line.
    pub fn load(path: &Path) -> crate::Result<Self> {
        Ok(pippin_service::load_toml(path)?)
    }
}

/// The effective settings after defaults, file, environment and flags.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Data directory.
    pub data_dir: PathBuf,
    /// Listener.
    pub listen: SocketAddr,
    /// Public URL, no trailing slash.
    pub public_url: String,
    /// Admin token, if given (else generated).
    pub admin_token: Option<String>,
    /// Push topic, if given (else a placeholder is generated).
    pub topic: Option<String>,
    /// See [`FileConfig::trust_mdm_signature`].
    pub trust_mdm_signature: bool,
    /// See [`FileConfig::max_body_bytes`].
    pub max_body_bytes: usize,
    /// See [`FileConfig::tls13_only`].
    pub tls13_only: bool,
    /// Database URL, if given.
    pub database_url: Option<String>,
    /// PostgreSQL pool size.
    pub pool_size: usize,
    /// PostgreSQL schema.
    pub database_schema: Option<String>,
    /// SCEP challenge, if given.
    pub scep_challenge: Option<String>,
    /// Identity validity in days.
    pub scep_validity_days: u32,
    /// Log directory.
    pub log_dir: Option<PathBuf>,
    /// Log rotation size.
    pub log_max_bytes: Option<u64>,
    /// Log file count.
    pub log_max_files: Option<u32>,
    /// Log filter.
    pub log_level: String,
    /// Write logs to stderr too.
    pub log_stderr: bool,
    /// Profile organisation.
    pub organization: Option<String>,
    /// Profile identifier.
    pub profile_identifier: Option<String>,
    /// Sign the profile.
    pub sign_profile: bool,
    /// APNs push certificate, PEM path.
    pub apns_cert: Option<PathBuf>,
    /// APNs push certificate key, PEM path.
    pub apns_key: Option<PathBuf>,
    /// APNs push certificate and key in a PKCS #12 file.
    pub apns_p12: Option<PathBuf>,
    /// The PKCS #12 file's password.
    pub apns_p12_password: Option<pippin_service::Secret<String>>,
    /// APNs endpoint: `production`, `sandbox` or a URL.
    pub apns_endpoint: String,
    /// Extra CA certificates for the APNs endpoint, PEM path.
    pub apns_ca: Option<PathBuf>,
    /// The master key file for secrets at rest (default
    /// `<data_dir>/master.key`).
    pub master_key_file: Option<PathBuf>,
    /// Automated Device Enrollment.
    pub dep: DepConfig,
    /// Apps and Books.
    pub vpp: VppConfig,
    /// The file's `[netboot]` section, unchecked (see [`FileConfig::netboot`]).
    pub netboot: Option<toml::Table>,
    /// The file's `[sup]` section, unchecked (see [`FileConfig::sup`]).
    pub sup: Option<toml::Table>,
}

impl Settings {
    /// Defaults for everything, given the data directory.
    pub fn defaults(data_dir: PathBuf) -> Self {
        Self {
            data_dir,
            listen: SocketAddr::from(([0, 0, 0, 0], 8760)),
            public_url: format!("https://{}:8760", hostname()),
            admin_token: None,
            topic: None,
            trust_mdm_signature: false,
            max_body_bytes: 16 * 1024 * 1024,
            tls13_only: false,
            database_url: None,
            pool_size: 16,
            database_schema: None,
            scep_challenge: None,
            scep_validity_days: 365,
            log_dir: None,
            log_max_bytes: None,
            log_max_files: None,
            log_level: "info".to_owned(),
            log_stderr: true,
            organization: None,
            profile_identifier: None,
            sign_profile: true,
            apns_cert: None,
            apns_key: None,
            apns_p12: None,
            apns_p12_password: None,
            apns_endpoint: "production".to_owned(),
            apns_ca: None,
            master_key_file: None,
            dep: DepConfig::default(),
            vpp: VppConfig::default(),
            netboot: None,
            sup: None,
        }
    }

    /// Applies a configuration file over the defaults.
    pub fn apply_file(&mut self, f: FileConfig) {
        if let Some(v) = f.data_dir {
            self.data_dir = v;
        }
        if let Some(v) = f.listen {
            self.listen = v;
            if f.public_url.is_none() {
                self.public_url = format!("https://{}:{}", hostname(), v.port());
            }
        }
        if let Some(v) = f.public_url {
            self.public_url = v;
        }
        self.admin_token = f.admin_token.or(self.admin_token.take());
        self.topic = f.topic.or(self.topic.take());
        if let Some(v) = f.trust_mdm_signature {
            self.trust_mdm_signature = v;
        }
        if let Some(v) = f.max_body_bytes {
            self.max_body_bytes = v;
        }
        if let Some(v) = f.tls13_only {
            self.tls13_only = v;
        }
        self.database_url = f.database.url.or(self.database_url.take());
        self.database_schema = f.database.schema.or(self.database_schema.take());
        if let Some(v) = f.database.pool_size {
            self.pool_size = v;
        }
        self.scep_challenge = f.scep.challenge.or(self.scep_challenge.take());
        if let Some(v) = f.scep.validity_days {
            self.scep_validity_days = v;
        }
        self.log_dir = f.log.dir.or(self.log_dir.take());
        self.log_max_bytes = f.log.max_bytes.or(self.log_max_bytes);
        self.log_max_files = f.log.max_files.or(self.log_max_files);
        if let Some(v) = f.log.level {
            self.log_level = v;
        }
        self.organization = f.profile.organization.or(self.organization.take());
        self.profile_identifier = f.profile.identifier.or(self.profile_identifier.take());
        if let Some(v) = f.profile.sign {
            self.sign_profile = v;
        }
        self.apns_cert = f.apns.cert.or(self.apns_cert.take());
        self.apns_key = f.apns.key.or(self.apns_key.take());
        self.apns_p12 = f.apns.p12.or(self.apns_p12.take());
        self.apns_p12_password = f.apns.p12_password.or(self.apns_p12_password.take());
        if let Some(v) = f.apns.endpoint {
            self.apns_endpoint = v;
        }
        self.apns_ca = f.apns.ca.or(self.apns_ca.take());
        self.master_key_file = f.secrets.master_key_file.or(self.master_key_file.take());
        self.dep = f.dep;
        self.vpp = f.vpp;
        self.netboot = f.netboot;
        self.sup = f.sup;
    }

    /// The master key file in use.
    pub fn master_key_path(&self) -> PathBuf {
        self.master_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("master.key"))
    }

    /// The APNs URL [`apns_endpoint`](Self::apns_endpoint) names.
    pub fn apns_url(&self) -> &str {
        match self.apns_endpoint.as_str() {
            "production" => apns::client::PRODUCTION,
            "sandbox" | "development" => apns::client::SANDBOX,
            url => url,
        }
    }

    /// The host part of the public URL.
    pub fn public_host(&self) -> String {
        let rest = self
            .public_url
            .split_once("://")
            .map_or(self.public_url.as_str(), |(_, r)| r);
        let authority = rest.split('/').next().unwrap_or(rest);
        if let Some(v6) = authority.strip_prefix('[') {
            return v6.split(']').next().unwrap_or(v6).to_owned();
        }
        authority.split(':').next().unwrap_or(authority).to_owned()
    }
}

/// This machine's host name (`HOSTNAME`, `/etc/hostname`, else `localhost`).
pub fn hostname() -> String {
    if let Ok(h) = std::env::var("HOSTNAME")
        && !h.trim().is_empty()
    {
        return h.trim().to_owned();
    }
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_overrides_defaults_and_unknown_keys_fail() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(
            &p,
            "listen = \"127.0.0.1:9000\"\n[database]\nurl = \"postgres://x@localhost/db\"\n[log]\nlevel = \"debug\"\n",
        )
        .unwrap();
        let mut s = Settings::defaults(PathBuf::from("d"));
        s.apply_file(FileConfig::load(&p).unwrap());
        assert_eq!(s.listen, "127.0.0.1:9000".parse().unwrap());
        assert!(s.public_url.ends_with(":9000"));
        assert_eq!(s.database_url.as_deref(), Some("postgres://x@localhost/db"));
        assert_eq!(s.log_level, "debug");
        assert_eq!(s.apns_url(), apns::client::PRODUCTION);

        std::fs::write(
            &p,
            "[apns]\ncert = \"push.pem\"\nkey = \"push.key\"\nendpoint = \"sandbox\"\n",
        )
        .unwrap();
        s.apply_file(FileConfig::load(&p).unwrap());
        assert_eq!(s.apns_cert, Some(PathBuf::from("push.pem")));
        assert_eq!(s.apns_key, Some(PathBuf::from("push.key")));
        assert_eq!(s.apns_url(), apns::client::SANDBOX);

        std::fs::write(&p, "listen = \"127.0.0.1:9000\"\nlisten_typo = 1\n").unwrap();
        let e = FileConfig::load(&p).unwrap_err().to_string();
        assert!(e.contains("listen_typo"), "{e}");
    }

    #[test]
    fn dep_section() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        let mut s = Settings::defaults(PathBuf::from("d"));
        assert_eq!(s.dep.protocol_version, dep_client::DEFAULT_PROTOCOL_VERSION);
        assert_eq!(s.dep.protocol_version, 10);
        assert_eq!(s.dep.machine_info_ca, None);
        assert_eq!(
            (
                s.dep.assign_retry_secs,
                s.dep.assign_retry_max_secs,
                s.dep.assign_max_attempts
            ),
            (60, 3600, 5)
        );
        std::fs::write(
            &p,
            "[dep]\nprotocol_version = 9\nmachine_info_ca = \"/etc/pippin/apple-device-ca.pem\"\n\
             assign_retry_secs = 5\nassign_retry_max_secs = 50\nassign_max_attempts = 2\n\
             auto_assign = false\n[dep.profile]\nname = \"Staff\"\n",
        )
        .unwrap();
        s.apply_file(FileConfig::load(&p).unwrap());
        assert_eq!(s.dep.protocol_version, 9);
        assert_eq!(
            s.dep.machine_info_ca.as_deref(),
            Some(Path::new("/etc/pippin/apple-device-ca.pem"))
        );
        assert_eq!(
            (
                s.dep.assign_retry_secs,
                s.dep.assign_retry_max_secs,
                s.dep.assign_max_attempts
            ),
            (5, 50, 2)
        );
        assert!(!s.dep.auto_assign);
        assert_eq!(s.dep.profile.name, "Staff");
        // Keys left out keep their defaults.
        assert_eq!(s.dep.sync_interval_secs, 1800);
        std::fs::write(&p, "[dep]\nprotocol_versoin = 9\n").unwrap();
        let e = FileConfig::load(&p).unwrap_err().to_string();
        assert!(e.contains("protocol_versoin"), "{e}");
    }

    #[test]
    fn public_host() {
        let mut s = Settings::defaults(PathBuf::from("d"));
        s.public_url = "https://mdm.example.com:8760/x".into();
        assert_eq!(s.public_host(), "mdm.example.com");
        s.public_url = "https://[::1]:8760".into();
        assert_eq!(s.public_host(), "::1");
        s.public_url = "https://10.0.0.5".into();
        assert_eq!(s.public_host(), "10.0.0.5");
    }
}
