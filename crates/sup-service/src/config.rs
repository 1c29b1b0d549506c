//! Configuration: the `[sup]` TOML section, command-line flags and
//! `PIPPIN_SUP_*` environment variables. A flag beats the environment,
//! which beats the file, which beats the default.
//!
//! ```toml
//! [sup]
//! listen = "0.0.0.0:8763"            # HTTPS for ConfigMgr
//! public_host = "sup.example.com"   # name in the URL and the TLS certificate
//! data_dir = "/var/lib/pippin/sup"
//! interval_secs = 3600
//! catalog_name = "pippin-apple"     # served as /catalogs/pippin-apple.cab
//!
//! [[sup.catalogs]]
//! os = "15"
//! url = "https://swscan.apple.com/content/catalogs/others/index-15-14-13-12-10.16-10.15-10.14-10.13-10.12-10.11-10.10-10.9-mountainlion-lion-snowleopard-leopard.merged-1.sucatalog.gz"
//!
//! [sup.signing]                      # default: a certificate made on first start
//! cert = "/etc/pippin/wsus-signing.pem"
//! key = "/etc/pippin/wsus-signing.key"
//!
//! [sup.cm_proxy]                     # report publications (optional)
//! url = "https://cm.example.com:8760"
//! token_file = "/etc/pippin/sup-token"
//! ca_file = "/var/lib/pippin/ca.pem"
//! ```

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// The default HTTPS port.
pub const DEFAULT_PORT: u16 = 8763;

/// Apple's catalogs for the macOS versions in support, newest first. Each
/// merged catalog lists every product for that version and the versions
/// before it.
pub const DEFAULT_CATALOGS: &[(&str, &str)] = &[
    (
        "26",
        "https://swscan.apple.com/content/catalogs/others/index-26-15-14-13-12-10.16-10.15-10.14-10.13-10.12-10.11-10.10-10.9-mountainlion-lion-snowleopard-leopard.merged-1.sucatalog.gz",
    ),
    (
        "15",
        "https://swscan.apple.com/content/catalogs/others/index-15-14-13-12-10.16-10.15-10.14-10.13-10.12-10.11-10.10-10.9-mountainlion-lion-snowleopard-leopard.merged-1.sucatalog.gz",
    ),
    (
        "14",
        "https://swscan.apple.com/content/catalogs/others/index-14-13-12-10.16-10.15-10.14-10.13-10.12-10.11-10.10-10.9-mountainlion-lion-snowleopard-leopard.merged-1.sucatalog.gz",
    ),
];

/// The executable's file: `[log]` and `[sup]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Log files.
    #[serde(default)]
    pub log: pippin_service::LogSection,
    /// The service.
    #[serde(default)]
    pub sup: SupSection,
}

impl FileConfig {
    /// Reads `path`; errors name the line and column.
    pub fn load(path: &Path) -> pippin_service::Result<Self> {
        pippin_service::load_toml(path)
    }
}

/// `[sup]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupSection {
    /// Run the software update point inside `pippin serve` (default false;
    /// the `sup-service` executable always runs it).
    pub enabled: Option<bool>,
    /// HTTPS address and port [default `0.0.0.0:8763`].
    pub listen: Option<SocketAddr>,
    /// Host name ConfigMgr reaches the service by: in the catalog URL and
    /// the TLS certificate [default: the host name].
    pub public_host: Option<String>,
    /// State, caches, keys and the published catalog [default `./sup-data`].
    pub data_dir: Option<PathBuf>,
    /// Seconds between catalog checks [default 3600, at least 60].
    pub interval_secs: Option<u64>,
    /// Name of the published catalog: `/catalogs/<name>.cab` [default
    /// `pippin-apple`].
    pub catalog_name: Option<String>,
    /// Download each product's distribution file for its title, version,
    /// description and checks [default true].
    pub fetch_distributions: Option<bool>,
    /// Distribution files downloaded at once [default 8].
    pub distribution_concurrency: Option<usize>,
    /// Largest catalog accepted, bytes [default 256 MiB].
    pub max_catalog_bytes: Option<usize>,
    /// Days an update Apple no longer lists stays in the catalog as
    /// expired, so that WSUS withdraws it [default 180].
    pub expired_retention_days: Option<u64>,
    /// More CA certificates (PEM) to trust for catalog downloads, for a
    /// mirror with a private certificate.
    pub catalog_ca_file: Option<PathBuf>,
    /// Apple's catalogs to publish [default: macOS 26, 15 and 14].
    pub catalogs: Option<Vec<CatalogSource>>,
    /// TLS certificate of the HTTPS listener [default: issued by a CA made
    /// in the data directory].
    #[serde(default)]
    pub tls: TlsSection,
    /// The catalog signing certificate.
    #[serde(default)]
    pub signing: SigningSection,
    /// Where publications are reported.
    #[serde(default)]
    pub cm_proxy: CmProxySection,
}

/// One Apple catalog.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CatalogSource {
    /// The macOS version it is for (a label in logs and reports).
    pub os: String,
    /// Its URL (`https://`; `http://` only to a loopback host).
    pub url: String,
}

/// `[sup.tls]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    /// Certificate chain, PEM.
    pub cert: Option<PathBuf>,
    /// Private key, PEM.
    pub key: Option<PathBuf>,
}

/// `[sup.signing]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningSection {
    /// Signing certificate (then any intermediates), PEM.
    pub cert: Option<PathBuf>,
    /// Its private key (RSA), PEM.
    pub key: Option<PathBuf>,
}

/// `[sup.cm_proxy]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CmProxySection {
    /// Base URL of cm-proxy's HTTPS listener.
    pub url: Option<String>,
    /// File holding the admin API bearer token.
    pub token_file: Option<PathBuf>,
    /// CA certificate(s) that cm-proxy's certificate must lead to (its
    /// site CA, `ca.pem` in its data directory) [default: the system's].
    pub ca_file: Option<PathBuf>,
}

/// The resolved settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// HTTPS listener.
    pub listen: SocketAddr,
    /// Host name in the catalog URL and the TLS certificate.
    pub public_host: String,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Time between catalog checks.
    pub interval: Duration,
    /// Catalog name.
    pub catalog_name: String,
    /// Download distribution files.
    pub fetch_distributions: bool,
    /// Distribution downloads at once.
    pub distribution_concurrency: usize,
    /// Largest catalog, bytes.
    pub max_catalog_bytes: usize,
    /// How long expired updates stay listed.
    pub expired_retention: Duration,
    /// Extra CAs for downloads.
    pub catalog_ca_file: Option<PathBuf>,
    /// The catalogs.
    pub catalogs: Vec<CatalogSource>,
    /// TLS certificate and key files, or `None` for the data directory's.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Signing certificate and key files, or `None` for the generated one.
    pub signing: Option<(PathBuf, PathBuf)>,
    /// cm-proxy URL, token file and CA file, or `None`: no reports.
    pub cm_proxy: Option<CmProxy>,
}

/// Where publications are reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CmProxy {
    /// Base URL.
    pub url: String,
    /// Bearer token file.
    pub token_file: PathBuf,
    /// Trust anchors.
    pub ca_file: Option<PathBuf>,
}

/// A configuration that cannot run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A catalog name with characters a URL path cannot carry plainly.
    #[error("catalog_name {0:?} must be 1 to 64 letters, digits, '-', '_' or '.'")]
    CatalogName(String),
    /// No catalogs.
    #[error("no Apple catalogs are configured")]
    NoCatalogs,
    /// A catalog URL that is not https.
    #[error("catalog URL {0:?} must be https:// (http:// only to a loopback host)")]
    CatalogUrl(String),
    /// An interval below a minute.
    #[error("interval_secs must be at least 60 (Apple's catalogs change a few times a day)")]
    Interval,
    /// A limit of zero.
    #[error("{0} must be at least 1")]
    Zero(&'static str),
    /// Half of a pair.
    #[error("{0}: give both the certificate and the key")]
    HalfPair(&'static str),
    /// cm-proxy URL without token, or the reverse.
    #[error("cm_proxy: give both url and token_file")]
    CmProxy,
    /// A bad cm-proxy URL.
    #[error("cm_proxy url {0:?} must be https://")]
    CmProxyUrl(String),
}

/// Values from flags and the environment.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// See [`Settings::listen`].
    pub listen: Option<SocketAddr>,
    /// See [`Settings::public_host`].
    pub public_host: Option<String>,
    /// See [`Settings::data_dir`].
    pub data_dir: Option<PathBuf>,
    /// Seconds; see [`Settings::interval`].
    pub interval_secs: Option<u64>,
    /// See [`Settings::catalog_name`].
    pub catalog_name: Option<String>,
    /// Replaces the configured catalogs: `URL` or `OS=URL`.
    pub catalogs: Vec<String>,
    /// Turns distribution downloads off.
    pub no_distributions: bool,
    /// Signing certificate.
    pub sign_cert: Option<PathBuf>,
    /// Signing key.
    pub sign_key: Option<PathBuf>,
    /// TLS certificate.
    pub tls_cert: Option<PathBuf>,
    /// TLS key.
    pub tls_key: Option<PathBuf>,
    /// cm-proxy URL.
    pub cm_proxy_url: Option<String>,
    /// cm-proxy token file.
    pub cm_proxy_token_file: Option<PathBuf>,
    /// cm-proxy CA file.
    pub cm_proxy_ca_file: Option<PathBuf>,
    /// Extra CA file for downloads.
    pub catalog_ca_file: Option<PathBuf>,
}

impl Settings {
    /// The defaults.
    pub fn defaults() -> Self {
        Self {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), DEFAULT_PORT),
            public_host: host_name(),
            data_dir: PathBuf::from("./sup-data"),
            interval: Duration::from_secs(3600),
            catalog_name: "pippin-apple".to_owned(),
            fetch_distributions: true,
            distribution_concurrency: 8,
            max_catalog_bytes: wsus_publish::client::DEFAULT_MAX_CATALOG_BYTES,
            expired_retention: Duration::from_secs(180 * 86_400),
            catalog_ca_file: None,
            catalogs: DEFAULT_CATALOGS
                .iter()
                .map(|(os, url)| CatalogSource {
                    os: (*os).to_owned(),
                    url: (*url).to_owned(),
                })
                .collect(),
            tls: None,
            signing: None,
            cm_proxy: None,
        }
    }

    /// Settings from the defaults, `file` and `overrides`, checked.
    pub fn resolve(file: &SupSection, o: &Overrides) -> Result<Self, ConfigError> {
        let mut s = Self::defaults();
        let pick = |a: &Option<PathBuf>, b: &Option<PathBuf>| a.clone().or_else(|| b.clone());
        if let Some(v) = o.listen.or(file.listen) {
            s.listen = v;
        }
        if let Some(v) = o.public_host.clone().or_else(|| file.public_host.clone()) {
            s.public_host = v;
        }
        if let Some(v) = pick(&o.data_dir, &file.data_dir) {
            s.data_dir = v;
        }
        if let Some(v) = o.interval_secs.or(file.interval_secs) {
            s.interval = Duration::from_secs(v);
        }
        if let Some(v) = o.catalog_name.clone().or_else(|| file.catalog_name.clone()) {
            s.catalog_name = v;
        }
        if let Some(v) = file.fetch_distributions {
            s.fetch_distributions = v;
        }
        if o.no_distributions {
            s.fetch_distributions = false;
        }
        if let Some(v) = file.distribution_concurrency {
            s.distribution_concurrency = v;
        }
        if let Some(v) = file.max_catalog_bytes {
            s.max_catalog_bytes = v;
        }
        if let Some(days) = file.expired_retention_days {
            s.expired_retention = Duration::from_secs(days.saturating_mul(86_400));
        }
        s.catalog_ca_file = pick(&o.catalog_ca_file, &file.catalog_ca_file);
        if !o.catalogs.is_empty() {
            s.catalogs = o
                .catalogs
                .iter()
                .enumerate()
                .map(|(i, spec)| match spec.split_once('=') {
                    Some((os, url)) if !os.contains('/') => CatalogSource {
                        os: os.to_owned(),
                        url: url.to_owned(),
                    },
                    _ => CatalogSource {
                        os: format!("catalog-{}", i + 1),
                        url: spec.clone(),
                    },
                })
                .collect();
        } else if let Some(list) = &file.catalogs {
            s.catalogs = list.clone();
        }
        s.tls = pair(
            "tls",
            pick(&o.tls_cert, &file.tls.cert),
            pick(&o.tls_key, &file.tls.key),
        )?;
        s.signing = pair(
            "signing",
            pick(&o.sign_cert, &file.signing.cert),
            pick(&o.sign_key, &file.signing.key),
        )?;
        let url = o.cm_proxy_url.clone().or_else(|| file.cm_proxy.url.clone());
        let token = pick(&o.cm_proxy_token_file, &file.cm_proxy.token_file);
        s.cm_proxy = match (url, token) {
            (Some(url), Some(token_file)) => Some(CmProxy {
                url,
                token_file,
                ca_file: pick(&o.cm_proxy_ca_file, &file.cm_proxy.ca_file),
            }),
            (None, None) => None,
            _ => return Err(ConfigError::CmProxy),
        };
        s.validate()?;
        Ok(s)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let name = &self.catalog_name;
        if name.is_empty()
            || name.len() > 64
            || name.starts_with('.')
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err(ConfigError::CatalogName(name.clone()));
        }
        if self.catalogs.is_empty() {
            return Err(ConfigError::NoCatalogs);
        }
        for c in &self.catalogs {
            if wsus_publish::fetch::conditional_get(&c.url, &Default::default()).is_err() {
                return Err(ConfigError::CatalogUrl(c.url.clone()));
            }
        }
        if self.interval < Duration::from_secs(60) {
            return Err(ConfigError::Interval);
        }
        if self.distribution_concurrency == 0 {
            return Err(ConfigError::Zero("distribution_concurrency"));
        }
        if self.max_catalog_bytes == 0 {
            return Err(ConfigError::Zero("max_catalog_bytes"));
        }
        if let Some(c) = &self.cm_proxy
            && pippin_http_client::check_base_url(&c.url).is_err()
        {
            return Err(ConfigError::CmProxyUrl(c.url.clone()));
        }
        Ok(())
    }

    /// The URL ConfigMgr subscribes to.
    pub fn catalog_url(&self) -> String {
        let host = if self.public_host.contains(':') {
            format!("[{}]", self.public_host)
        } else {
            self.public_host.clone()
        };
        format!(
            "https://{host}:{}/catalogs/{}.cab",
            self.listen.port(),
            self.catalog_name
        )
    }
}

fn pair(
    what: &'static str,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
) -> Result<Option<(PathBuf, PathBuf)>, ConfigError> {
    match (cert, key) {
        (Some(c), Some(k)) => Ok(Some((c, k))),
        (None, None) => Ok(None),
        _ => Err(ConfigError::HalfPair(what)),
    }
}

fn host_name() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .unwrap_or_default();
    let name = name.trim();
    if name.is_empty() {
        "localhost".to_owned()
    } else {
        name.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> FileConfig {
        pippin_service::parse_toml(text, Path::new("t.toml")).unwrap()
    }

    #[test]
    fn defaults_run() {
        let s = Settings::resolve(&SupSection::default(), &Overrides::default()).unwrap();
        assert_eq!(s.listen.port(), 8763);
        assert_eq!(s.catalogs.len(), 3);
        assert_eq!(s.interval, Duration::from_secs(3600));
        assert!(s.fetch_distributions);
        assert!(s.cm_proxy.is_none());
        assert!(s.catalog_url().ends_with(":8763/catalogs/pippin-apple.cab"));
    }

    #[test]
    fn file_then_flags() {
        let file = parse(
            r#"
            [sup]
            listen = "127.0.0.1:9443"
            public_host = "sup.example.test"
            interval_secs = 600
            catalog_name = "apple"
            fetch_distributions = false
            [[sup.catalogs]]
            os = "15"
            url = "https://mirror.example.test/15.sucatalog"
            [sup.cm_proxy]
            url = "https://cm.example.test:8760"
            token_file = "/etc/pippin/token"
            "#,
        );
        let s = Settings::resolve(&file.sup, &Overrides::default()).unwrap();
        assert_eq!(
            s.catalog_url(),
            "https://sup.example.test:9443/catalogs/apple.cab"
        );
        assert_eq!(
            s.catalogs,
            [CatalogSource {
                os: "15".into(),
                url: "https://mirror.example.test/15.sucatalog".into()
            }]
        );
        assert!(!s.fetch_distributions);
        assert_eq!(
            s.cm_proxy.as_ref().unwrap().token_file,
            PathBuf::from("/etc/pippin/token")
        );

        let o = Overrides {
            interval_secs: Some(120),
            catalogs: vec![
                "14=http://127.0.0.1:1/a".into(),
                "http://127.0.0.1:1/b".into(),
            ],
            ..Overrides::default()
        };
        let s = Settings::resolve(&file.sup, &o).unwrap();
        assert_eq!(s.interval, Duration::from_secs(120));
        assert_eq!(s.catalogs[0].os, "14");
        assert_eq!(
            s.catalogs[1],
            CatalogSource {
                os: "catalog-2".into(),
                url: "http://127.0.0.1:1/b".into()
            }
        );
    }

    #[test]
    fn refusals() {
        let bad = |text: &str| {
            let f = parse(text);
            Settings::resolve(&f.sup, &Overrides::default())
                .unwrap_err()
                .to_string()
        };
        assert!(bad("[sup]\ncatalog_name = \"../x\"").contains("catalog_name"));
        assert!(bad("[sup]\ninterval_secs = 5").contains("interval_secs"));
        assert!(bad("[sup]\ncatalogs = []").contains("no Apple catalogs"));
        assert!(
            bad("[[sup.catalogs]]\nos = \"x\"\nurl = \"http://apple.com/x\"").contains("https")
        );
        assert!(bad("[sup.signing]\ncert = \"a.pem\"").contains("both"));
        assert!(bad("[sup.cm_proxy]\nurl = \"https://cm:8760\"").contains("token_file"));
        assert!(
            bad("[sup.cm_proxy]\nurl = \"http://cm:8760\"\ntoken_file = \"t\"").contains("https")
        );
        assert!(
            pippin_service::parse_toml::<FileConfig>("[sup]\nbogus = 1", Path::new("t.toml"))
                .is_err()
        );
    }
}
