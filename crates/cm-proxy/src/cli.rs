//! Command-line flags shared by `cm-proxy` and `pippin serve`.

use std::path::PathBuf;

use crate::config::{FileConfig, Settings};

/// Pippin's MDM service: enrollment profile, SCEP, check-in and command
/// endpoints, and the admin API, on one HTTPS listener.
///
/// Every option can also be set in the TOML file given with --config and
/// with a PIPPIN_* environment variable; a flag beats the environment, which
/// beats the file, which beats the default.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// TOML configuration file.
    #[arg(long, env = "PIPPIN_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Directory for keys, certificates, the SQLite database and logs.
    #[arg(long, env = "PIPPIN_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Address and port of the HTTPS listener [default: 0.0.0.0:8760].
    #[arg(long, env = "PIPPIN_LISTEN", value_name = "ADDR")]
    listen: Option<std::net::SocketAddr>,
    /// URL devices use to reach this service [default: `https://HOSTNAME:PORT`].
    #[arg(long, env = "PIPPIN_PUBLIC_URL", value_name = "URL")]
    public_url: Option<String>,
    /// Bootstrap administrator token for the admin API [default: generated,
    /// kept in `DATA_DIR/admin-token`].
    #[arg(
        long,
        env = "PIPPIN_ADMIN_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    admin_token: Option<String>,
    /// Database: sqlite:PATH or postgres://user:pass@host/db [default:
    /// `sqlite:DATA_DIR/pippin.db`].
    #[arg(
        long,
        env = "PIPPIN_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    database_url: Option<String>,
    /// APNs push topic of the MDM push certificate (`com.apple.mgmt.External.UUID`).
    #[arg(long, env = "PIPPIN_TOPIC", value_name = "TOPIC")]
    topic: Option<String>,
    /// Accept a verified Mdm-Signature header as device identity (when a
    /// TLS-terminating proxy sits in front and no client certificate arrives).
    #[arg(long, env = "PIPPIN_TRUST_MDM_SIGNATURE")]
    trust_mdm_signature: bool,
    /// SCEP challenge password [default: generated, kept in `DATA_DIR/scep-challenge`].
    #[arg(
        long,
        env = "PIPPIN_SCEP_CHALLENGE",
        value_name = "SECRET",
        hide_env_values = true
    )]
    scep_challenge: Option<String>,
    /// Log directory [default: `DATA_DIR/logs`].
    #[arg(long, env = "PIPPIN_LOG_DIR", value_name = "DIR")]
    log_dir: Option<PathBuf>,
    /// Log filter in RUST_LOG syntax [default: info].
    #[arg(long, env = "PIPPIN_LOG_LEVEL", value_name = "FILTER")]
    log_level: Option<String>,
    /// Rotate the log file at this size in bytes [default: 1048576; 204800..4194304].
    #[arg(long, env = "PIPPIN_LOG_MAX_BYTES", value_name = "BYTES")]
    log_max_bytes: Option<u64>,
    /// Log files to keep, the live one included [default: 10; 1..20].
    #[arg(long, env = "PIPPIN_LOG_MAX_FILES", value_name = "N")]
    log_max_files: Option<u32>,
    /// PostgreSQL connection pool size [default: 16].
    #[arg(long, env = "PIPPIN_DATABASE_POOL_SIZE", value_name = "N")]
    database_pool_size: Option<usize>,
    /// PostgreSQL schema for the tables, created if missing [default: the
    /// database's default].
    #[arg(long, env = "PIPPIN_DATABASE_SCHEMA", value_name = "NAME")]
    database_schema: Option<String>,
    /// Largest request body accepted from a device, bytes [default: 16777216].
    #[arg(long, env = "PIPPIN_MAX_BODY_BYTES", value_name = "BYTES")]
    max_body_bytes: Option<usize>,
    /// Require TLS 1.3 [default: TLS 1.2 and 1.3].
    #[arg(long, env = "PIPPIN_TLS13_ONLY")]
    tls13_only: bool,
    /// Validity of issued device identity certificates in days [default: 365].
    #[arg(long, env = "PIPPIN_SCEP_VALIDITY_DAYS", value_name = "DAYS")]
    scep_validity_days: Option<u32>,
    /// Organisation name shown in the enrollment profile.
    #[arg(long, env = "PIPPIN_PROFILE_ORGANIZATION", value_name = "NAME")]
    profile_organization: Option<String>,
    /// PayloadIdentifier of the enrollment profile [default: com.github.pippin.enroll].
    #[arg(long, env = "PIPPIN_PROFILE_IDENTIFIER", value_name = "ID")]
    profile_identifier: Option<String>,
    /// Serve the enrollment profile unsigned [default: signed with the server certificate].
    #[arg(long, env = "PIPPIN_PROFILE_UNSIGNED")]
    profile_unsigned: bool,
    /// MDM push certificate, PEM; with --apns-key, pushes go to APNs and
    /// the certificate's topic is the push topic [default: pushes are only
    /// recorded].
    #[arg(long, env = "PIPPIN_APNS_CERT", value_name = "PEM")]
    apns_cert: Option<PathBuf>,
    /// The push certificate's RSA private key, PEM, unencrypted.
    #[arg(long, env = "PIPPIN_APNS_KEY", value_name = "PEM")]
    apns_key: Option<PathBuf>,
    /// The push certificate and its key in one PKCS #12 file (instead of
    /// --apns-cert and --apns-key).
    #[arg(long, env = "PIPPIN_APNS_P12", value_name = "FILE")]
    apns_p12: Option<PathBuf>,
    /// The PKCS #12 file's password [default: none].
    #[arg(
        long,
        env = "PIPPIN_APNS_P12_PASSWORD",
        value_name = "PASSWORD",
        hide_env_values = true
    )]
    apns_p12_password: Option<pippin_service::Secret<String>>,
    /// APNs endpoint: production, sandbox or an `https://HOST:PORT` URL
    /// [default: production].
    #[arg(long, env = "PIPPIN_APNS_ENDPOINT", value_name = "ENDPOINT")]
    apns_endpoint: Option<String>,
    /// Extra CA certificates, PEM, trusted for the APNs endpoint (a
    /// private or test endpoint).
    #[arg(long, env = "PIPPIN_APNS_CA", value_name = "PEM")]
    apns_ca: Option<PathBuf>,
    /// Master key file encrypting stored secrets (created if missing)
    /// [default: DATA_DIR/master.key]. Keep it apart from backups of the
    /// data directory and database.
    #[arg(long, env = "PIPPIN_MASTER_KEY_FILE", value_name = "FILE")]
    master_key_file: Option<PathBuf>,
    /// Apple's DEP API base URL [default: `https://mdmenrollment.apple.com`].
    #[arg(long, env = "PIPPIN_DEP_BASE_URL", value_name = "URL")]
    dep_base_url: Option<String>,
    /// Extra CA certificates, PEM, trusted for the DEP API (a stand-in).
    #[arg(long, env = "PIPPIN_DEP_CA", value_name = "PEM")]
    dep_ca: Option<PathBuf>,
    /// Seconds between DEP sync passes [default: 1800].
    #[arg(long, env = "PIPPIN_DEP_SYNC_INTERVAL", value_name = "SECONDS")]
    dep_sync_interval: Option<u64>,
    /// Do not assign the DEP enrollment profile to new devices.
    #[arg(long, env = "PIPPIN_DEP_NO_AUTO_ASSIGN")]
    dep_no_auto_assign: bool,
    /// X-Server-Protocol-Version announced to Apple's DEP API [default: 10].
    #[arg(long, env = "PIPPIN_DEP_PROTOCOL_VERSION", value_name = "N")]
    dep_protocol_version: Option<u32>,
    /// Apple's device CA chain, PEM: DEP MachineInfo signers must chain to
    /// it [default: the signature must verify, its signer is not anchored].
    #[arg(long, env = "PIPPIN_DEP_MACHINE_INFO_CA", value_name = "PEM")]
    dep_machine_info_ca: Option<PathBuf>,
    /// Apple's Apps and Books API base URL [default:
    /// `https://vpp.itunes.apple.com/mdm/v2`].
    #[arg(long, env = "PIPPIN_VPP_BASE_URL", value_name = "URL")]
    vpp_base_url: Option<String>,
    /// Extra CA certificates, PEM, trusted for the Apps and Books API (a
    /// stand-in).
    #[arg(long, env = "PIPPIN_VPP_CA", value_name = "PEM")]
    vpp_ca: Option<PathBuf>,
    /// Seconds between full Apps and Books asset walks [default: 21600].
    #[arg(long, env = "PIPPIN_VPP_SYNC_INTERVAL", value_name = "SECONDS")]
    vpp_sync_interval: Option<u64>,
    /// Seconds between passes over license assignments [default: 5].
    #[arg(long, env = "PIPPIN_VPP_WORK_INTERVAL", value_name = "SECONDS")]
    vpp_work_interval: Option<u64>,
    /// Seconds between status queries of a pending Apps and Books job
    /// [default: 30, as Apple asks].
    #[arg(long, env = "PIPPIN_VPP_EVENT_POLL", value_name = "SECONDS")]
    vpp_event_poll: Option<u64>,
    /// Requests per second per content token at most [default: 15].
    #[arg(long, env = "PIPPIN_VPP_MAX_REQUESTS_PER_SECOND", value_name = "N")]
    vpp_max_requests_per_second: Option<u32>,
    /// Do not ask Apple to post Apps and Books notifications (poll only;
    /// for servers Apple cannot reach).
    #[arg(long, env = "PIPPIN_VPP_NO_NOTIFICATIONS")]
    vpp_no_notifications: bool,
    /// ManagementFlags of VPP installs: 0, 1 (remove with the MDM
    /// profile), 4 (no backup of app data) or 5 [default: 1].
    #[arg(long, env = "PIPPIN_VPP_MANAGEMENT_FLAGS", value_name = "N",
          value_parser = ["0", "1", "4", "5"])]
    vpp_management_flags: Option<String>,
    /// Do not copy log lines to standard error.
    #[arg(long, env = "PIPPIN_LOG_QUIET")]
    log_quiet: bool,
}

impl ServeArgs {
    /// Settings from defaults, the file, then these flags.
    pub fn settings(&self, default_data_dir: &str) -> crate::Result<Settings> {
        let mut s = Settings::defaults(PathBuf::from(default_data_dir));
        if let Some(p) = &self.config {
            s.apply_file(FileConfig::load(p)?);
        }
        if let Some(v) = &self.data_dir {
            s.data_dir = v.clone();
        }
        if let Some(v) = self.listen {
            s.listen = v;
            if self.public_url.is_none() {
                s.public_url = format!("https://{}:{}", crate::config::hostname(), v.port());
            }
        }
        if let Some(v) = &self.public_url {
            s.public_url = v.clone();
        }
        s.admin_token = self.admin_token.clone().or(s.admin_token);
        s.database_url = self.database_url.clone().or(s.database_url);
        s.topic = self.topic.clone().or(s.topic);
        s.trust_mdm_signature |= self.trust_mdm_signature;
        s.scep_challenge = self.scep_challenge.clone().or(s.scep_challenge);
        s.log_dir = self.log_dir.clone().or(s.log_dir);
        if let Some(v) = &self.log_level {
            s.log_level = v.clone();
        }
        s.log_max_bytes = self.log_max_bytes.or(s.log_max_bytes);
        s.log_max_files = self.log_max_files.or(s.log_max_files);
        if let Some(v) = self.database_pool_size {
            s.pool_size = v;
        }
        s.database_schema = self.database_schema.clone().or(s.database_schema);
        if let Some(v) = self.max_body_bytes {
            s.max_body_bytes = v;
        }
        s.tls13_only |= self.tls13_only;
        if let Some(v) = self.scep_validity_days {
            s.scep_validity_days = v;
        }
        s.organization = self.profile_organization.clone().or(s.organization);
        s.profile_identifier = self.profile_identifier.clone().or(s.profile_identifier);
        if self.profile_unsigned {
            s.sign_profile = false;
        }
        s.apns_cert = self.apns_cert.clone().or(s.apns_cert);
        s.apns_key = self.apns_key.clone().or(s.apns_key);
        s.apns_p12 = self.apns_p12.clone().or(s.apns_p12);
        s.apns_p12_password = self.apns_p12_password.clone().or(s.apns_p12_password);
        if let Some(v) = &self.apns_endpoint {
            s.apns_endpoint = v.clone();
        }
        s.apns_ca = self.apns_ca.clone().or(s.apns_ca);
        s.master_key_file = self.master_key_file.clone().or(s.master_key_file);
        if let Some(v) = &self.dep_base_url {
            s.dep.base_url = v.clone();
        }
        s.dep.ca = self.dep_ca.clone().or(s.dep.ca.take());
        if let Some(v) = self.dep_sync_interval {
            s.dep.sync_interval_secs = v;
        }
        if self.dep_no_auto_assign {
            s.dep.auto_assign = false;
        }
        if let Some(v) = self.dep_protocol_version {
            s.dep.protocol_version = v;
        }
        s.dep.machine_info_ca = self
            .dep_machine_info_ca
            .clone()
            .or(s.dep.machine_info_ca.take());
        if let Some(v) = &self.vpp_base_url {
            s.vpp.base_url = v.clone();
        }
        s.vpp.ca = self.vpp_ca.clone().or(s.vpp.ca.take());
        if let Some(v) = self.vpp_sync_interval {
            s.vpp.sync_interval_secs = v;
        }
        if let Some(v) = self.vpp_work_interval {
            s.vpp.work_interval_secs = v;
        }
        if let Some(v) = self.vpp_event_poll {
            s.vpp.event_poll_secs = v;
        }
        if let Some(v) = self.vpp_max_requests_per_second {
            s.vpp.max_requests_per_second = v;
        }
        if self.vpp_no_notifications {
            s.vpp.notifications = false;
        }
        if let Some(v) = self
            .vpp_management_flags
            .as_deref()
            .and_then(|v| v.parse().ok())
        {
            s.vpp.management_flags = v;
        }
        if self.log_quiet {
            s.log_stderr = false;
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeArgs,
    }

    #[test]
    fn dep_flags_beat_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "[dep]\nprotocol_version = 8\nmachine_info_ca = \"file.pem\"\n",
        )
        .unwrap();
        let config = file.to_string_lossy().into_owned();
        let from_file = Cli::try_parse_from(["x", "--config", &config])
            .unwrap()
            .serve
            .settings("d")
            .unwrap();
        assert_eq!(from_file.dep.protocol_version, 8);
        assert_eq!(
            from_file.dep.machine_info_ca,
            Some(PathBuf::from("file.pem"))
        );
        let flags = Cli::try_parse_from([
            "x",
            "--config",
            &config,
            "--dep-protocol-version",
            "10",
            "--dep-machine-info-ca",
            "flag.pem",
        ])
        .unwrap()
        .serve
        .settings("d")
        .unwrap();
        assert_eq!(flags.dep.protocol_version, 10);
        assert_eq!(flags.dep.machine_info_ca, Some(PathBuf::from("flag.pem")));
        assert!(Cli::try_parse_from(["x", "--dep-protocol-version", "ten"]).is_err());
    }
}
