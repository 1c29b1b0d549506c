//! Configuration: the `[netboot]` TOML section (the same in
//! `netboot-server`'s file and in `pippin serve`'s), command-line flags and
//! `PIPPIN_NETBOOT_*` environment variables. A flag beats the environment,
//! which beats the file, which beats the default.
//!
//! ```toml
//! [netboot]
//! images = "/srv/netboot"          # folder of .nbi images
//! server_ip = "192.168.56.1"       # what clients are told to reach
//! server_name = "netboot1"
//! priority = 32768
//! rescan_interval_secs = 10
//!
//! [netboot.bsdp]
//! listen = "0.0.0.0:67"
//!
//! [netboot.tftp]
//! listen = "0.0.0.0:69"
//! max_transfers = 10000
//! max_window_bytes = 65536
//!
//! [netboot.http]
//! listen = "0.0.0.0:80"
//! path = "/nbi"
//! ```

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// The `[netboot]` section.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetbootSection {
    /// Run the NetBoot service inside `pippin serve` (default false; the
    /// `netboot-server` executable always runs it).
    pub enabled: Option<bool>,
    /// The folder of `.nbi` images, served by TFTP and HTTP.
    pub images: Option<PathBuf>,
    /// The IPv4 address clients are told to reach (BSDP server
    /// identifier, TFTP server, host in root paths) [default: the address
    /// of the interface holding the default route].
    pub server_ip: Option<Ipv4Addr>,
    /// The server name in replies (`sname`) [default: the host name].
    pub server_name: Option<String>,
    /// BSDP server priority, 0..65535; clients prefer higher [default 32768].
    pub priority: Option<u16>,
    /// Seconds between checks of the image folder for changes [default 10].
    pub rescan_interval_secs: Option<u64>,
    /// BSDP.
    #[serde(default)]
    pub bsdp: BsdpSection,
    /// TFTP.
    #[serde(default)]
    pub tftp: TftpSection,
    /// HTTP.
    #[serde(default)]
    pub http: HttpSection,
}

/// `[netboot.bsdp]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BsdpSection {
    /// Answer BSDP (default true).
    pub enabled: Option<bool>,
    /// Address and port [default `0.0.0.0:67`].
    pub listen: Option<SocketAddrV4>,
    /// Answer clients that ask for a reply port of 1024 or above (probes
    /// such as `bsdp-list` run without root); Macs use 68 or a port below
    /// 1024 [default false].
    pub allow_unprivileged_reply_port: Option<bool>,
}

/// `[netboot.tftp]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TftpSection {
    /// Serve TFTP (default true).
    pub enabled: Option<bool>,
    /// Address and port [default `0.0.0.0:69`].
    pub listen: Option<SocketAddr>,
    /// Most transfers at once [default 10000].
    pub max_transfers: Option<usize>,
    /// Largest `blksize × windowsize` granted, bytes [default 64 KiB, which
    /// a client's default receive buffer holds; raise it for clients with
    /// larger buffers and fast links].
    pub max_window_bytes: Option<usize>,
    /// Accept uploads into this folder (never the image folder) [default:
    /// uploads refused].
    pub write_dir: Option<PathBuf>,
}

/// `[netboot.http]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSection {
    /// Serve disk images over HTTP (default true).
    pub enabled: Option<bool>,
    /// Address and port [default `0.0.0.0:80`].
    pub listen: Option<SocketAddr>,
    /// URL path under which the `.nbi` folders appear [default `/nbi`].
    pub path: Option<String>,
    /// Most connections at once [default 1024].
    pub max_connections: Option<usize>,
}

/// The `netboot-server` executable's file: `[log]` and `[netboot]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Log files.
    #[serde(default)]
    pub log: pippin_service::LogSection,
    /// The service.
    #[serde(default)]
    pub netboot: NetbootSection,
}

impl FileConfig {
    /// Reads `path`; errors name the line and column.
    pub fn load(path: &Path) -> pippin_service::Result<Self> {
        pippin_service::load_toml(path)
    }
}

/// The resolved settings of the service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// The folder of `.nbi` images.
    pub images: PathBuf,
    /// What clients are told to reach; `None` until [`Settings::resolve_server_ip`].
    pub server_ip: Option<Ipv4Addr>,
    /// `sname` in replies.
    pub server_name: String,
    /// BSDP server priority.
    pub priority: u16,
    /// How often the image folder is checked for changes.
    pub rescan_interval: Duration,
    /// BSDP listener, `None` when disabled.
    pub bsdp_listen: Option<SocketAddrV4>,
    /// Answer BSDP clients asking for a reply port ≥ 1024.
    pub bsdp_allow_unprivileged_reply_port: bool,
    /// TFTP listener, `None` when disabled.
    pub tftp_listen: Option<SocketAddr>,
    /// Most TFTP transfers at once.
    pub tftp_max_transfers: usize,
    /// Largest TFTP window in bytes.
    pub tftp_max_window_bytes: usize,
    /// Upload folder; `None` refuses uploads.
    pub tftp_write_dir: Option<PathBuf>,
    /// HTTP listener, `None` when disabled.
    pub http_listen: Option<SocketAddr>,
    /// URL path of the image folder (`/nbi`).
    pub http_path: String,
    /// Most HTTP connections at once.
    pub http_max_connections: usize,
}

/// Values given on the command line or in the environment, applied over
/// the file by [`Settings::apply_overrides`].
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// See [`Settings::images`].
    pub images: Option<PathBuf>,
    /// See [`Settings::server_ip`].
    pub server_ip: Option<Ipv4Addr>,
    /// See [`Settings::server_name`].
    pub server_name: Option<String>,
    /// See [`Settings::priority`].
    pub priority: Option<u16>,
    /// Seconds; see [`Settings::rescan_interval`].
    pub rescan_interval_secs: Option<u64>,
    /// See [`Settings::bsdp_listen`].
    pub bsdp_listen: Option<SocketAddrV4>,
    /// See [`Settings::tftp_listen`].
    pub tftp_listen: Option<SocketAddr>,
    /// See [`Settings::http_listen`].
    pub http_listen: Option<SocketAddr>,
    /// See [`Settings::tftp_max_transfers`].
    pub tftp_max_transfers: Option<usize>,
    /// See [`Settings::tftp_max_window_bytes`].
    pub tftp_max_window_bytes: Option<usize>,
    /// See [`Settings::tftp_write_dir`].
    pub tftp_write_dir: Option<PathBuf>,
    /// See [`Settings::http_path`].
    pub http_path: Option<String>,
    /// See [`Settings::http_max_connections`].
    pub http_max_connections: Option<usize>,
    /// See [`Settings::bsdp_allow_unprivileged_reply_port`].
    pub bsdp_allow_unprivileged_reply_port: bool,
    /// Turn BSDP off.
    pub no_bsdp: bool,
    /// Turn TFTP off.
    pub no_tftp: bool,
    /// Turn HTTP off.
    pub no_http: bool,
}

/// A configuration that cannot run.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// An HTTP path that is not `/` followed by safe characters.
    #[error(
        "netboot http path {0:?} must start with '/' and hold only letters, digits and - _ . /"
    )]
    HttpPath(String),
    /// The upload folder is the image folder or inside it.
    #[error("the TFTP upload folder must not be the image folder or inside it")]
    WriteDirInImages,
    /// Nothing to run.
    #[error("BSDP, TFTP and HTTP are all disabled")]
    NothingEnabled,
    /// No address for clients could be found.
    #[error("no IPv4 address to announce to clients was found; set --server-ip")]
    NoServerIp,
    /// A limit of zero.
    #[error("{0} must be at least 1")]
    Zero(&'static str),
}

impl Settings {
    /// Default BSDP port.
    pub const BSDP_PORT: u16 = 67;
    /// Default TFTP port.
    pub const TFTP_PORT: u16 = 69;
    /// Default HTTP port.
    pub const HTTP_PORT: u16 = 80;

    /// The defaults, serving `images`.
    pub fn defaults(images: PathBuf) -> Self {
        Self {
            images,
            server_ip: None,
            server_name: host_name(),
            priority: 0x8000,
            rescan_interval: Duration::from_secs(10),
            bsdp_listen: Some(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, Self::BSDP_PORT)),
            bsdp_allow_unprivileged_reply_port: false,
            tftp_listen: Some(SocketAddr::new(
                IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                Self::TFTP_PORT,
            )),
            tftp_max_transfers: 10_000,
            tftp_max_window_bytes: tftp::Limits::default().max_window_bytes,
            tftp_write_dir: None,
            http_listen: Some(SocketAddr::new(
                IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                Self::HTTP_PORT,
            )),
            http_path: "/nbi".to_owned(),
            http_max_connections: 1024,
        }
    }

    /// Applies the keys present in `section`.
    pub fn apply_section(&mut self, s: &NetbootSection) {
        set(&mut self.images, s.images.clone());
        if s.server_ip.is_some() {
            self.server_ip = s.server_ip;
        }
        set(&mut self.server_name, s.server_name.clone());
        set(&mut self.priority, s.priority);
        set(
            &mut self.rescan_interval,
            s.rescan_interval_secs.map(Duration::from_secs),
        );
        if let Some(a) = s.bsdp.listen {
            self.bsdp_listen = Some(a);
        }
        set(
            &mut self.bsdp_allow_unprivileged_reply_port,
            s.bsdp.allow_unprivileged_reply_port,
        );
        if s.bsdp.enabled == Some(false) {
            self.bsdp_listen = None;
        }
        if let Some(a) = s.tftp.listen {
            self.tftp_listen = Some(a);
        }
        if s.tftp.enabled == Some(false) {
            self.tftp_listen = None;
        }
        set(&mut self.tftp_max_transfers, s.tftp.max_transfers);
        set(&mut self.tftp_max_window_bytes, s.tftp.max_window_bytes);
        if s.tftp.write_dir.is_some() {
            self.tftp_write_dir = s.tftp.write_dir.clone();
        }
        if let Some(a) = s.http.listen {
            self.http_listen = Some(a);
        }
        if s.http.enabled == Some(false) {
            self.http_listen = None;
        }
        set(&mut self.http_path, s.http.path.clone());
        set(&mut self.http_max_connections, s.http.max_connections);
    }

    /// Applies flags and environment variables.
    pub fn apply_overrides(&mut self, o: &Overrides) {
        set(&mut self.images, o.images.clone());
        if o.server_ip.is_some() {
            self.server_ip = o.server_ip;
        }
        set(&mut self.server_name, o.server_name.clone());
        set(&mut self.priority, o.priority);
        set(
            &mut self.rescan_interval,
            o.rescan_interval_secs.map(Duration::from_secs),
        );
        if o.bsdp_listen.is_some() {
            self.bsdp_listen = o.bsdp_listen;
        }
        if o.tftp_listen.is_some() {
            self.tftp_listen = o.tftp_listen;
        }
        if o.http_listen.is_some() {
            self.http_listen = o.http_listen;
        }
        set(&mut self.tftp_max_transfers, o.tftp_max_transfers);
        set(&mut self.tftp_max_window_bytes, o.tftp_max_window_bytes);
        if o.tftp_write_dir.is_some() {
            self.tftp_write_dir = o.tftp_write_dir.clone();
        }
        set(&mut self.http_path, o.http_path.clone());
        set(&mut self.http_max_connections, o.http_max_connections);
        self.bsdp_allow_unprivileged_reply_port |= o.bsdp_allow_unprivileged_reply_port;
        if o.no_bsdp {
            self.bsdp_listen = None;
        }
        if o.no_tftp {
            self.tftp_listen = None;
        }
        if o.no_http {
            self.http_listen = None;
        }
    }

    /// Checks the settings and fills in the server address when none was
    /// given: the address of the interface holding the default route, or
    /// the listeners' address when they are bound to one.
    pub fn resolve_server_ip(&mut self) -> Result<Ipv4Addr, ConfigError> {
        self.validate()?;
        if let Some(ip) = self.server_ip {
            return Ok(ip);
        }
        let bound = [
            self.bsdp_listen.map(|a| IpAddr::V4(*a.ip())),
            self.tftp_listen.map(|a| a.ip()),
            self.http_listen.map(|a| a.ip()),
        ];
        let specific = bound.into_iter().flatten().find_map(|ip| match ip {
            IpAddr::V4(v4) if !v4.is_unspecified() => Some(v4),
            _ => None,
        });
        let ip = specific
            .or_else(default_route_ipv4)
            .ok_or(ConfigError::NoServerIp)?;
        self.server_ip = Some(ip);
        Ok(ip)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.bsdp_listen.is_none() && self.tftp_listen.is_none() && self.http_listen.is_none() {
            return Err(ConfigError::NothingEnabled);
        }
        let p = &self.http_path;
        if !p.starts_with('/')
            || p.contains("//")
            || p.split('/').any(|c| c == "." || c == "..")
            || !p
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b))
        {
            return Err(ConfigError::HttpPath(p.clone()));
        }
        if let Some(w) = &self.tftp_write_dir {
            let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
            if canon(w).starts_with(canon(&self.images)) {
                return Err(ConfigError::WriteDirInImages);
            }
        }
        if self.tftp_max_transfers == 0 {
            return Err(ConfigError::Zero("tftp max_transfers"));
        }
        if self.tftp_max_window_bytes == 0 {
            return Err(ConfigError::Zero("tftp max_window_bytes"));
        }
        if self.http_max_connections == 0 {
            return Err(ConfigError::Zero("http max_connections"));
        }
        Ok(())
    }
}

fn set<T>(slot: &mut T, v: Option<T>) {
    if let Some(v) = v {
        *slot = v;
    }
}

/// The IPv4 address the system would send from to reach the Internet: a
/// UDP socket "connected" to a documentation address (nothing is sent).
pub fn default_route_ipv4() -> Option<Ipv4Addr> {
    let s = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
    s.connect((Ipv4Addr::new(192, 0, 2, 1), 9)).ok()?;
    match s.local_addr().ok()?.ip() {
        IpAddr::V4(v4) if !v4.is_unspecified() => Some(v4),
        _ => None,
    }
}

fn host_name() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .unwrap_or_default();
    let name = name.trim();
    // `sname` holds 63 bytes.
    let mut end = name.len().min(63);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> FileConfig {
        pippin_service::parse_toml(text, Path::new("t.toml")).unwrap()
    }

    #[test]
    fn file_then_overrides() {
        let f = parse(
            "[netboot]\nimages = \"/srv/nb\"\nserver_ip = \"10.0.0.5\"\npriority = 40000\n\
             [netboot.tftp]\nlisten = \"127.0.0.1:6969\"\nmax_window_bytes = 65536\n\
             [netboot.http]\nenabled = false\n",
        );
        let mut s = Settings::defaults("x".into());
        s.apply_section(&f.netboot);
        assert_eq!(s.images, PathBuf::from("/srv/nb"));
        assert_eq!(s.server_ip, Some(Ipv4Addr::new(10, 0, 0, 5)));
        assert_eq!(s.priority, 40000);
        assert_eq!(s.tftp_listen, Some("127.0.0.1:6969".parse().unwrap()));
        assert_eq!(s.tftp_max_window_bytes, 65536);
        assert_eq!(s.http_listen, None);
        assert_eq!(
            s.bsdp_listen,
            Some(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 67))
        );
        s.apply_overrides(&Overrides {
            priority: Some(1),
            http_listen: Some("127.0.0.1:8080".parse().unwrap()),
            no_bsdp: true,
            ..Overrides::default()
        });
        assert_eq!(s.priority, 1);
        assert_eq!(s.http_listen, Some("127.0.0.1:8080".parse().unwrap()));
        assert_eq!(s.bsdp_listen, None);
        assert_eq!(s.resolve_server_ip().unwrap(), Ipv4Addr::new(10, 0, 0, 5));
    }

    #[test]
    fn unknown_keys_name_their_place() {
        let e = pippin_service::parse_toml::<FileConfig>(
            "[netboot]\nimages = \"/x\"\n[netboot.tftp]\nblocksize = 4\n",
            Path::new("t.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("t.toml:4"), "{e}");
        assert!(e.contains("blocksize"), "{e}");
    }

    #[test]
    fn bad_settings_are_refused() {
        let mut s = Settings::defaults("/srv/nb".into());
        s.http_path = "nbi".into();
        assert!(matches!(
            s.resolve_server_ip(),
            Err(ConfigError::HttpPath(_))
        ));
        s.http_path = "/a/../b".into();
        assert!(matches!(
            s.resolve_server_ip(),
            Err(ConfigError::HttpPath(_))
        ));
        s.http_path = "/nbi".into();
        s.tftp_write_dir = Some("/srv/nb/uploads".into());
        assert!(matches!(
            s.resolve_server_ip(),
            Err(ConfigError::WriteDirInImages)
        ));
        s.tftp_write_dir = None;
        s.bsdp_listen = None;
        s.tftp_listen = None;
        s.http_listen = None;
        assert!(matches!(
            s.resolve_server_ip(),
            Err(ConfigError::NothingEnabled)
        ));
    }

    #[test]
    fn a_bound_listener_address_is_announced() {
        let mut s = Settings::defaults("/srv/nb".into());
        s.bsdp_listen = None;
        s.tftp_listen = Some("127.0.0.1:6969".parse().unwrap());
        assert_eq!(s.resolve_server_ip().unwrap(), Ipv4Addr::LOCALHOST);
    }
}
