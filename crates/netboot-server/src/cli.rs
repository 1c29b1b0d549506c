//! Command-line flags: those of the `netboot-server` executable
//! ([`ServeArgs`]) and the `--netboot-*` ones of `pippin serve`
//! ([`PippinArgs`]). Both read the same `PIPPIN_NETBOOT_*` variables.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;

use crate::config::{FileConfig, NetbootSection, Overrides, Settings};

/// Pippin's NetBoot service: BSDP (UDP 67), TFTP (UDP 69) and HTTP (TCP 80)
/// from one folder of `.nbi` images.
///
/// Every option can also be set in the TOML file given with --config
/// (section `[netboot]`, see the README) and with a PIPPIN_* environment
/// variable; a flag beats the environment, which beats the file, which
/// beats the default. Ports below 1024 need root or CAP_NET_BIND_SERVICE.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// TOML configuration file (sections `[netboot]` and `[log]`).
    #[arg(long, env = "PIPPIN_NETBOOT_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Folder of `.nbi` images (created if missing) [default: ./netboot-images].
    #[arg(long, env = "PIPPIN_NETBOOT_IMAGES", value_name = "DIR")]
    pub images: Option<PathBuf>,
    /// IPv4 address announced to clients: BSDP server identifier, TFTP
    /// server and host of HTTP root paths [default: the listeners' address
    /// if they are bound to one, else the address of the default route].
    #[arg(long, env = "PIPPIN_NETBOOT_SERVER_IP", value_name = "IP")]
    pub server_ip: Option<Ipv4Addr>,
    /// Server name in BSDP replies [default: the host name].
    #[arg(long, env = "PIPPIN_NETBOOT_SERVER_NAME", value_name = "NAME")]
    pub server_name: Option<String>,
    /// BSDP server priority, 0..65535; clients prefer higher [default: 32768].
    #[arg(long, env = "PIPPIN_NETBOOT_PRIORITY", value_name = "N")]
    pub priority: Option<u16>,
    /// Seconds between checks of the image folder for changes [default: 10].
    #[arg(long, env = "PIPPIN_NETBOOT_RESCAN_INTERVAL", value_name = "SECONDS")]
    pub rescan_interval: Option<u64>,
    /// BSDP address and port [default: 0.0.0.0:67].
    #[arg(long, env = "PIPPIN_NETBOOT_BSDP_LISTEN", value_name = "ADDR")]
    pub bsdp_listen: Option<SocketAddrV4>,
    /// TFTP address and port [default: 0.0.0.0:69].
    #[arg(long, env = "PIPPIN_NETBOOT_TFTP_LISTEN", value_name = "ADDR")]
    pub tftp_listen: Option<SocketAddr>,
    /// HTTP address and port [default: 0.0.0.0:80].
    #[arg(long, env = "PIPPIN_NETBOOT_HTTP_LISTEN", value_name = "ADDR")]
    pub http_listen: Option<SocketAddr>,
    /// URL path under which the `.nbi` folders are served [default: /nbi].
    #[arg(long, env = "PIPPIN_NETBOOT_HTTP_PATH", value_name = "PATH")]
    pub http_path: Option<String>,
    /// Most TFTP transfers at once [default: 10000].
    #[arg(long, env = "PIPPIN_NETBOOT_TFTP_MAX_TRANSFERS", value_name = "N")]
    pub tftp_max_transfers: Option<usize>,
    /// Largest TFTP blksize × windowsize granted, bytes [default: 65536,
    /// which a client's default receive buffer holds].
    #[arg(
        long,
        env = "PIPPIN_NETBOOT_TFTP_MAX_WINDOW_BYTES",
        value_name = "BYTES"
    )]
    pub tftp_max_window_bytes: Option<usize>,
    /// Accept TFTP uploads into this folder (not the image folder)
    /// [default: uploads refused].
    #[arg(long, env = "PIPPIN_NETBOOT_TFTP_WRITE_DIR", value_name = "DIR")]
    pub tftp_write_dir: Option<PathBuf>,
    /// Most HTTP connections at once [default: 1024].
    #[arg(long, env = "PIPPIN_NETBOOT_HTTP_MAX_CONNECTIONS", value_name = "N")]
    pub http_max_connections: Option<usize>,
    /// Answer BSDP clients that ask for a reply port of 1024 or above
    /// (probes such as bsdp-list run without root); Macs use 68.
    #[arg(long, env = "PIPPIN_NETBOOT_BSDP_ALLOW_UNPRIVILEGED_REPLY_PORT")]
    pub bsdp_allow_unprivileged_reply_port: bool,
    /// Do not answer BSDP (another server does).
    #[arg(long, env = "PIPPIN_NETBOOT_NO_BSDP")]
    pub no_bsdp: bool,
    /// Do not serve TFTP.
    #[arg(long, env = "PIPPIN_NETBOOT_NO_TFTP")]
    pub no_tftp: bool,
    /// Do not serve HTTP (images then need NFS from elsewhere).
    #[arg(long, env = "PIPPIN_NETBOOT_NO_HTTP")]
    pub no_http: bool,
    /// Log directory [default: ./logs].
    #[arg(long, env = "PIPPIN_NETBOOT_LOG_DIR", value_name = "DIR")]
    pub log_dir: Option<PathBuf>,
    /// Log filter in RUST_LOG syntax [default: info].
    #[arg(long, env = "PIPPIN_NETBOOT_LOG_LEVEL", value_name = "FILTER")]
    pub log_level: Option<String>,
    /// Rotate the log file at this size in bytes [default: 1048576; 204800..4194304].
    #[arg(long, env = "PIPPIN_NETBOOT_LOG_MAX_BYTES", value_name = "BYTES")]
    pub log_max_bytes: Option<u64>,
    /// Log files to keep, the live one included [default: 10; 1..20].
    #[arg(long, env = "PIPPIN_NETBOOT_LOG_MAX_FILES", value_name = "N")]
    pub log_max_files: Option<u32>,
    /// Do not copy log lines to standard error.
    #[arg(long, env = "PIPPIN_NETBOOT_LOG_QUIET")]
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
        let mut s = Settings::defaults(PathBuf::from("./netboot-images"));
        s.apply_section(&file.netboot);
        s.apply_overrides(&self.overrides());
        let flags = pippin_service::LogSection {
            dir: self.log_dir.clone(),
            max_bytes: self.log_max_bytes,
            max_files: self.log_max_files,
            level: self.log_level.clone(),
        };
        let log = file.log.config(&flags, "netboot-server", !self.log_quiet);
        Ok((s, log))
    }

    fn overrides(&self) -> Overrides {
        Overrides {
            images: self.images.clone(),
            server_ip: self.server_ip,
            server_name: self.server_name.clone(),
            priority: self.priority,
            rescan_interval_secs: self.rescan_interval,
            bsdp_listen: self.bsdp_listen,
            tftp_listen: self.tftp_listen,
            http_listen: self.http_listen,
            tftp_max_transfers: self.tftp_max_transfers,
            tftp_max_window_bytes: self.tftp_max_window_bytes,
            tftp_write_dir: self.tftp_write_dir.clone(),
            http_path: self.http_path.clone(),
            http_max_connections: self.http_max_connections,
            bsdp_allow_unprivileged_reply_port: self.bsdp_allow_unprivileged_reply_port,
            no_bsdp: self.no_bsdp,
            no_tftp: self.no_tftp,
            no_http: self.no_http,
        }
    }
}

/// The NetBoot flags of `pippin serve`; the rest of the `[netboot]`
/// section is set in its configuration file.
#[derive(Debug, clap::Args)]
pub struct PippinArgs {
    /// Run the NetBoot service too (BSDP, TFTP and HTTP from
    /// --netboot-images) [default: off, or `[netboot] enabled` in the file].
    #[arg(long, env = "PIPPIN_NETBOOT_ENABLED")]
    pub netboot: bool,
    /// Folder of `.nbi` images [default: DATA_DIR/netboot].
    #[arg(long, env = "PIPPIN_NETBOOT_IMAGES", value_name = "DIR")]
    pub netboot_images: Option<PathBuf>,
    /// IPv4 address announced to NetBoot clients [default: the address of
    /// the default route].
    #[arg(long, env = "PIPPIN_NETBOOT_SERVER_IP", value_name = "IP")]
    pub netboot_server_ip: Option<Ipv4Addr>,
    /// BSDP address and port [default: 0.0.0.0:67].
    #[arg(long, env = "PIPPIN_NETBOOT_BSDP_LISTEN", value_name = "ADDR")]
    pub netboot_bsdp_listen: Option<SocketAddrV4>,
    /// TFTP address and port [default: 0.0.0.0:69].
    #[arg(long, env = "PIPPIN_NETBOOT_TFTP_LISTEN", value_name = "ADDR")]
    pub netboot_tftp_listen: Option<SocketAddr>,
    /// HTTP address and port of the image server [default: 0.0.0.0:80].
    #[arg(long, env = "PIPPIN_NETBOOT_HTTP_LISTEN", value_name = "ADDR")]
    pub netboot_http_listen: Option<SocketAddr>,
}

impl PippinArgs {
    /// The settings when the service is enabled (by flag or by `section`),
    /// else `None`. `data_dir` holds the default image folder.
    pub fn settings(
        &self,
        section: Option<&NetbootSection>,
        data_dir: &std::path::Path,
    ) -> Option<Settings> {
        let enabled = self.netboot || section.and_then(|s| s.enabled).unwrap_or(false);
        if !enabled {
            return None;
        }
        let mut s = Settings::defaults(data_dir.join("netboot"));
        if let Some(section) = section {
            s.apply_section(section);
        }
        s.apply_overrides(&Overrides {
            images: self.netboot_images.clone(),
            server_ip: self.netboot_server_ip,
            bsdp_listen: self.netboot_bsdp_listen,
            tftp_listen: self.netboot_tftp_listen,
            http_listen: self.netboot_http_listen,
            ..Overrides::default()
        });
        Some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    #[derive(clap::Parser)]
    struct Standalone {
        #[command(flatten)]
        args: ServeArgs,
    }

    #[derive(clap::Parser)]
    struct Pippin {
        #[command(flatten)]
        args: PippinArgs,
    }

    #[test]
    fn flags_beat_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("n.toml");
        std::fs::write(
            &file,
            "[log]\nlevel = \"debug\"\n[netboot]\nimages = \"/srv/a\"\nserver_ip = \"10.1.1.1\"\n[netboot.bsdp]\nlisten = \"0.0.0.0:1067\"\n",
        )
        .unwrap();
        let f = file.to_string_lossy().into_owned();
        let (s, log) = Standalone::try_parse_from(["x", "--config", &f])
            .unwrap()
            .args
            .settings()
            .unwrap();
        assert_eq!(s.images, PathBuf::from("/srv/a"));
        assert_eq!(s.bsdp_listen, Some("0.0.0.0:1067".parse().unwrap()));
        assert_eq!(log.filter, "debug");
        let (s, _) = Standalone::try_parse_from([
            "x",
            "--config",
            &f,
            "--images",
            "/srv/b",
            "--bsdp-listen",
            "127.0.0.1:2067",
            "--no-http",
        ])
        .unwrap()
        .args
        .settings()
        .unwrap();
        assert_eq!(s.images, PathBuf::from("/srv/b"));
        assert_eq!(s.bsdp_listen, Some("127.0.0.1:2067".parse().unwrap()));
        assert_eq!(s.http_listen, None);
        assert_eq!(s.server_ip, Some(Ipv4Addr::new(10, 1, 1, 1)));
        assert!(Standalone::try_parse_from(["x", "--bsdp-listen", "[::1]:67"]).is_err());
    }

    #[test]
    fn pippin_runs_it_only_when_enabled() {
        let off = Pippin::try_parse_from(["x"]).unwrap().args;
        assert!(off.settings(None, "/d".as_ref()).is_none());
        let section = NetbootSection {
            enabled: Some(true),
            ..NetbootSection::default()
        };
        let s = off.settings(Some(&section), "/d".as_ref()).unwrap();
        assert_eq!(s.images, PathBuf::from("/d/netboot"));
        let on =
            Pippin::try_parse_from(["x", "--netboot", "--netboot-tftp-listen", "127.0.0.1:6969"])
                .unwrap()
                .args;
        let s = on.settings(None, "/d".as_ref()).unwrap();
        assert_eq!(s.tftp_listen, Some("127.0.0.1:6969".parse().unwrap()));
    }
}
