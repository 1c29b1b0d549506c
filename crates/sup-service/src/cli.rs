//! Command-line flags of the `sup-service` executable. Each also reads a
//! `PIPPIN_SUP_*` environment variable.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::config::{CmProxy, FileConfig, Overrides, Settings, SupSection};

/// Flags of `sup-service`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// TOML configuration file (sections `[sup]` and `[log]`).
    #[arg(long, env = "PIPPIN_SUP_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// HTTPS address and port ConfigMgr downloads the catalog from
    /// [default: 0.0.0.0:8763].
    #[arg(long, env = "PIPPIN_SUP_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Host name ConfigMgr reaches this service by, used in the catalog URL
    /// and the TLS certificate made on first start [default: the host name].
    #[arg(long, env = "PIPPIN_SUP_PUBLIC_HOST", value_name = "HOST")]
    pub public_host: Option<String>,
    /// Folder for state, caches, keys and the published catalog (created
    /// if missing) [default: ./sup-data].
    #[arg(long, env = "PIPPIN_SUP_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Seconds between checks of Apple's catalogs, at least 60 [default: 3600].
    #[arg(long, env = "PIPPIN_SUP_INTERVAL", value_name = "SECONDS")]
    pub interval: Option<u64>,
    /// Name of the published catalog, served as /catalogs/NAME.cab
    /// [default: pippin-apple].
    #[arg(long, env = "PIPPIN_SUP_CATALOG_NAME", value_name = "NAME")]
    pub catalog_name: Option<String>,
    /// An Apple catalog to publish, as URL or OS=URL; repeat for several.
    /// Replaces the configured list [default: Apple's catalogs for macOS
    /// 26, 15 and 14].
    #[arg(
        long = "catalog",
        env = "PIPPIN_SUP_CATALOGS",
        value_delimiter = ',',
        value_name = "URL"
    )]
    pub catalogs: Vec<String>,
    /// Do not download distribution files (titles and descriptions then
    /// come from the catalog alone).
    #[arg(long, env = "PIPPIN_SUP_NO_DISTRIBUTIONS")]
    pub no_distributions: bool,
    /// More CA certificates (PEM) to trust for catalog downloads (a mirror
    /// with a private certificate).
    #[arg(long, env = "PIPPIN_SUP_CATALOG_CA_FILE", value_name = "PEM")]
    pub catalog_ca_file: Option<PathBuf>,
    /// Catalog signing certificate, PEM (with --sign-key) [default: a
    /// self-signed one made on first start in the data folder].
    #[arg(long, env = "PIPPIN_SUP_SIGN_CERT", value_name = "PEM")]
    pub sign_cert: Option<PathBuf>,
    /// Private key of --sign-cert (RSA), PEM.
    #[arg(long, env = "PIPPIN_SUP_SIGN_KEY", value_name = "PEM")]
    pub sign_key: Option<PathBuf>,
    /// TLS certificate chain of the HTTPS listener, PEM (with --tls-key)
    /// [default: issued by a CA made in the data folder].
    #[arg(long, env = "PIPPIN_SUP_TLS_CERT", value_name = "PEM")]
    pub tls_cert: Option<PathBuf>,
    /// Private key of --tls-cert, PEM.
    #[arg(long, env = "PIPPIN_SUP_TLS_KEY", value_name = "PEM")]
    pub tls_key: Option<PathBuf>,
    /// cm-proxy's base URL, to report publications to its admin API
    /// (with --cm-proxy-token-file) [default: no reports].
    #[arg(long, env = "PIPPIN_SUP_CM_PROXY_URL", value_name = "URL")]
    pub cm_proxy_url: Option<String>,
    /// File holding cm-proxy's admin API token.
    #[arg(long, env = "PIPPIN_SUP_CM_PROXY_TOKEN_FILE", value_name = "FILE")]
    pub cm_proxy_token_file: Option<PathBuf>,
    /// CA certificate(s) cm-proxy's certificate must chain to (its ca.pem)
    /// [default: the system's].
    #[arg(long, env = "PIPPIN_SUP_CM_PROXY_CA_FILE", value_name = "PEM")]
    pub cm_proxy_ca_file: Option<PathBuf>,
    /// Log directory [default: ./logs].
    #[arg(long, env = "PIPPIN_SUP_LOG_DIR", value_name = "DIR")]
    pub log_dir: Option<PathBuf>,
    /// Log filter in RUST_LOG syntax [default: info].
    #[arg(long, env = "PIPPIN_SUP_LOG_LEVEL", value_name = "FILTER")]
    pub log_level: Option<String>,
    /// Rotate the log file at this size in bytes [default: 1048576; 204800..4194304].
    #[arg(long, env = "PIPPIN_SUP_LOG_MAX_BYTES", value_name = "BYTES")]
    pub log_max_bytes: Option<u64>,
    /// Log files to keep, the live one included [default: 10; 1..20].
    #[arg(long, env = "PIPPIN_SUP_LOG_MAX_FILES", value_name = "N")]
    pub log_max_files: Option<u32>,
    /// Do not copy log lines to standard error.
    #[arg(long, env = "PIPPIN_SUP_LOG_QUIET")]
    pub log_quiet: bool,
}

impl ServeArgs {
    /// Settings and the log from defaults, the file, the environment and
    /// the flags.
    pub fn settings(&self) -> anyhow::Result<(Settings, pippin_service::LogConfig)> {
        let file = match &self.config {
            Some(p) => FileConfig::load(p)?,
            None => FileConfig::default(),
        };
        let overrides = Overrides {
            listen: self.listen,
            public_host: self.public_host.clone(),
            data_dir: self.data_dir.clone(),
            interval_secs: self.interval,
            catalog_name: self.catalog_name.clone(),
            catalogs: self.catalogs.clone(),
            no_distributions: self.no_distributions,
            sign_cert: self.sign_cert.clone(),
            sign_key: self.sign_key.clone(),
            tls_cert: self.tls_cert.clone(),
            tls_key: self.tls_key.clone(),
            cm_proxy_url: self.cm_proxy_url.clone(),
            cm_proxy_token_file: self.cm_proxy_token_file.clone(),
            cm_proxy_ca_file: self.cm_proxy_ca_file.clone(),
            catalog_ca_file: self.catalog_ca_file.clone(),
        };
        let settings = Settings::resolve(&file.sup, &overrides)?;
        let flags = pippin_service::LogSection {
            dir: self.log_dir.clone(),
            max_bytes: self.log_max_bytes,
            max_files: self.log_max_files,
            level: self.log_level.clone(),
        };
        let log = file.log.config(&flags, "sup-service", !self.log_quiet);
        Ok((settings, log))
    }
}

/// The software-update flags of `pippin serve`; the rest of the `[sup]`
/// section is set in its configuration file.
#[derive(Debug, clap::Args)]
pub struct PippinSupArgs {
    /// Run the software update point too: Apple's catalogs as a signed WSUS
    /// catalog on --sup-listen, data in DATA_DIR/sup [default: off, or
    /// `[sup] enabled` in the file].
    #[arg(long, env = "PIPPIN_SUP_ENABLED")]
    pub sup: bool,
    /// HTTPS address and port of the catalog [default: 0.0.0.0:8763].
    #[arg(long, env = "PIPPIN_SUP_LISTEN", value_name = "ADDR")]
    pub sup_listen: Option<SocketAddr>,
    /// An Apple catalog to publish, as URL or OS=URL; repeat for several
    /// [default: Apple's catalogs for macOS 26, 15 and 14].
    #[arg(
        long = "sup-catalog",
        env = "PIPPIN_SUP_CATALOGS",
        value_delimiter = ',',
        value_name = "URL"
    )]
    pub sup_catalogs: Vec<String>,
}

impl PippinSupArgs {
    /// The settings when the service is enabled (by flag or by `section`),
    /// else `None`. Beside `pippin serve` it keeps its data in
    /// `data_dir/sup`, serves with the site's server certificate
    /// (`data_dir/server.pem`, issued by `data_dir/ca.pem`) for
    /// `public_host`, and reports to the MDM service at `public_url` with
    /// the admin token in `data_dir/admin-token` when the token is kept in
    /// that file (`token_in_file`: the MDM service makes it on first start,
    /// before this service starts) or the file exists.
    pub fn settings(
        &self,
        section: Option<&SupSection>,
        data_dir: &Path,
        public_url: &str,
        token_in_file: bool,
    ) -> anyhow::Result<Option<Settings>> {
        let enabled = self.sup || section.and_then(|s| s.enabled).unwrap_or(false);
        if !enabled {
            return Ok(None);
        }
        let default = SupSection::default();
        let section = section.unwrap_or(&default);
        let host = public_url.parse::<http::Uri>().ok().and_then(|u| {
            u.host()
                .map(|h| h.trim_start_matches('[').trim_end_matches(']').to_owned())
        });
        let server_cert = data_dir.join(pippin_service::Pki::SERVER_CERT);
        let server_key = data_dir.join(pippin_service::Pki::SERVER_KEY);
        let overrides = Overrides {
            listen: self.sup_listen,
            public_host: section.public_host.clone().or(host),
            data_dir: Some(
                section
                    .data_dir
                    .clone()
                    .unwrap_or_else(|| data_dir.join("sup")),
            ),
            catalogs: self.sup_catalogs.clone(),
            tls_cert: section.tls.cert.clone().or(Some(server_cert)),
            tls_key: section.tls.key.clone().or(Some(server_key)),
            ..Overrides::default()
        };
        let mut settings = Settings::resolve(section, &overrides)?;
        let token = data_dir.join("admin-token");
        if settings.cm_proxy.is_none() && (token_in_file || token.exists()) {
            settings.cm_proxy = Some(CmProxy {
                url: public_url.trim_end_matches('/').to_owned(),
                token_file: token,
                ca_file: Some(data_dir.join(pippin_service::Pki::CA_CERT)),
            });
        }
        Ok(Some(settings))
    }
}
