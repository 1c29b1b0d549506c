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
        Ok(s)
    }
}
