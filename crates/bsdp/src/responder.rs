//! The BSDP server logic, sans I/O: one datagram in, at most one reply out.
//!
//! [`Responder::handle`] takes the bytes of a datagram received on the
//! server port, where it came from and the current time, and returns the
//! reply to send and its destination, or nothing. It answers:
//!
//! - `INFORM[LIST]` with `ACK[LIST]`: the server priority, the default
//!   image and (BSDP 1.1) the list of images this client may boot — enabled,
//!   built for its architecture, allowed for its model
//!   (`EnabledSystemIdentifiers`/`DisabledSystemIdentifiers`) and its MAC
//!   address (`EnabledMACAddresses`/`DisabledMACAddresses`), matching its
//!   attribute filter list if it sent one, and not `FilterOnly` if it did
//!   not. The list goes into as many option-43 instances as it needs, each
//!   at most 255 bytes with whole sub-options (RFC 3396), and images are
//!   left off the end rather than exceed the client's maximum message size
//!   (sub-option 12 or option 57; 576-byte datagrams when it names none);
//! - `INFORM[SELECT]` naming this server with `ACK[SELECT]`: the booter's
//!   TFTP path in `file`, the TFTP server in `siaddr`, the root path in
//!   option 17 (`http://IP/...` or `nfs:IP:/export:folder/image.dmg`, IP
//!   literals) and a machine name (sub-option 130); or with `ACK[FAILED]`
//!   when the image is unknown or not allowed for this client.
//!
//! It drops, counting why: anything malformed, other DHCP messages,
//! INFORMs without `ciaddr` or without the Apple vendor class, reply ports
//! of 1024 and up (unless [`ReplyPolicy::allow_unprivileged_reply_port`]),
//! SELECTs for another server, and LISTs for which no image qualifies.
//! Replies go to `ciaddr` on the reply port (68 by default), or through
//! the relay (`giaddr:67`) when the request was relayed; they are padded
//! to the 300-byte BOOTP minimum.

use std::collections::HashMap;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::bsdp::{
    BootImage, BsdpMessageType, BsdpOptions, ImageId, SERVER_VENDOR_CLASS, VERSION_1_0, VendorClass,
};
use crate::catalog::{Catalog, CatalogImage};
use crate::codec::Decode;
use crate::dhcp::{
    BOOTP_MIN_LEN, CLIENT_PORT, DHCP_MIN_MESSAGE_LEN, IP_UDP_HEADER_LEN, MessageType, Op, Packet,
    SERVER_PORT, code,
};
use crate::image_info::ImageType;

/// What a server says about itself and how it builds paths.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct ResponderConfig {
    /// The server's address: option 54, sub-option 3 of the SELECTs it
    /// answers, and the host in root paths and `siaddr`.
    pub server_ip: Ipv4Addr,
    /// Written to `sname` (at most 63 bytes; empty for none).
    pub server_name: String,
    /// Server priority (sub-option 4); clients prefer higher. Default
    /// 32768, Apple's base priority.
    pub server_priority: u16,
    /// The TFTP server for booters (`siaddr`), when not `server_ip`. An
    /// image's `LoadBalanceServer` overrides it.
    pub tftp_server: Option<Ipv4Addr>,
    /// TFTP path under which `.nbi` folders are served: the booter (in
    /// `file`) is `<prefix>/<folder>/<arch>/<BootFile>`, or
    /// `<folder>/<arch>/<BootFile>` with the default empty prefix — a name
    /// relative to a TFTP root that is the images directory itself, so
    /// `NetInstall.nbi/i386/booter` is the file
    /// `<images>/NetInstall.nbi/i386/booter`.
    pub tftp_prefix: String,
    /// HTTP port of the image server (default 80, left out of URLs).
    pub http_port: u16,
    /// HTTP path under which `.nbi` folders are served: a relative
    /// `RootPath` becomes `http://<IP>[:port]<path>/<folder>/<RootPath>`.
    /// Default empty: the images directory is the document root, so
    /// `http://<IP>/NetInstall.nbi/NetInstall.dmg` is the file
    /// `<images>/NetInstall.nbi/NetInstall.dmg`. Folder and root path are
    /// percent-encoded in the URL (spaces and the like), not in `file`.
    pub http_path: String,
    /// NFS export holding the `.nbi` folders (the images directory as the
    /// NFS server exports it): a relative `RootPath` of an NFS image becomes
    /// `nfs:<IP>:<export>:<folder>/<RootPath>`. Default `/nbi`.
    pub nfs_export: String,
    /// Machine names (sub-option 130) are this followed by the client's
    /// MAC address in hex. Default `NetBoot-`.
    pub machine_name_prefix: String,
    /// What to answer.
    pub policy: ReplyPolicy,
}

impl ResponderConfig {
    /// Defaults for a server at `server_ip`.
    pub fn new(server_ip: Ipv4Addr) -> Self {
        Self {
            server_ip,
            server_name: String::new(),
            server_priority: 0x8000,
            tftp_server: None,
            tftp_prefix: String::new(),
            http_port: 80,
            http_path: String::new(),
            nfs_export: "/nbi".to_owned(),
            machine_name_prefix: "NetBoot-".to_owned(),
            policy: ReplyPolicy::default(),
        }
    }

    /// Sets [`ResponderConfig::server_name`].
    pub fn server_name(&mut self, name: impl Into<String>) -> &mut Self {
        self.server_name = name.into();
        self
    }

    /// Sets [`ResponderConfig::server_priority`].
    pub fn server_priority(&mut self, priority: u16) -> &mut Self {
        self.server_priority = priority;
        self
    }

    /// Sets [`ResponderConfig::tftp_server`].
    pub fn tftp_server(&mut self, ip: Ipv4Addr) -> &mut Self {
        self.tftp_server = Some(ip);
        self
    }

    /// Sets [`ResponderConfig::http_port`] and [`ResponderConfig::http_path`]
    /// (`""` or `"/"` for the document root, `"/nbi"` for a subfolder).
    pub fn http(&mut self, port: u16, path: impl Into<String>) -> &mut Self {
        self.http_port = port;
        self.http_path = path.into();
        self
    }

    /// Sets [`ResponderConfig::tftp_prefix`] (`""` for booter paths relative
    /// to a TFTP root that is the images directory).
    pub fn tftp_prefix(&mut self, prefix: impl Into<String>) -> &mut Self {
        self.tftp_prefix = prefix.into();
        self
    }

    /// Sets [`ResponderConfig::nfs_export`].
    pub fn nfs_export(&mut self, export: impl Into<String>) -> &mut Self {
        self.nfs_export = export.into();
        self
    }

    /// The TFTP path (`file`) of the booter `boot_file` for `arch` in the
    /// `.nbi` folder `dir_name`: `[<prefix>/]<dir_name>/<arch>/<boot_file>`.
    pub fn booter_path(&self, dir_name: &str, arch: &str, boot_file: &str) -> String {
        let prefix = self.tftp_prefix.trim_end_matches('/');
        if prefix.is_empty() {
            format!("{dir_name}/{arch}/{boot_file}")
        } else {
            format!("{prefix}/{dir_name}/{arch}/{boot_file}")
        }
    }

    /// The HTTP base URL of the `.nbi` folders on the server at `ip`.
    pub fn http_base_url(&self, ip: Ipv4Addr) -> String {
        let path = self.http_path.trim_end_matches('/');
        if self.http_port == 80 {
            format!("http://{ip}{path}")
        } else {
            format!("http://{ip}:{}{path}", self.http_port)
        }
    }
}

/// Which requests are answered.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct ReplyPolicy {
    /// Answer requests relayed by a DHCP relay agent (default true).
    pub answer_relayed: bool,
    /// Accept a reply port of 1024 or more (default false: Apple's server
    /// requires a privileged port; tests on loopback may allow it).
    pub allow_unprivileged_reply_port: bool,
    /// How long a client's SELECT is remembered: its choice is sent back as
    /// the selected image in later `ACK[LIST]`s. Default one day.
    pub binding_ttl: Duration,
    /// Lower the advertised priority by the number of clients bound within
    /// `binding_ttl`, as Apple's server does, so that busy servers are
    /// chosen less (default false).
    pub priority_by_load: bool,
}

impl Default for ReplyPolicy {
    fn default() -> Self {
        Self {
            answer_relayed: true,
            allow_unprivileged_reply_port: false,
            binding_ttl: Duration::from_secs(24 * 3600),
            priority_by_load: false,
        }
    }
}

/// A reply to send.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Reply {
    /// The datagram.
    pub bytes: Vec<u8>,
    /// Where to send it, from the server port.
    pub destination: SocketAddrV4,
    /// `ACK[LIST]`, `ACK[SELECT]` or `ACK[FAILED]`.
    pub kind: BsdpMessageType,
    /// Where the request came from (for logs).
    pub requester: SocketAddr,
}

/// Why a datagram was not answered.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum DropReason {
    /// Not a well-formed DHCP message, or its BSDP options are malformed.
    Malformed,
    /// A BOOTREPLY, or a DHCP message other than INFORM.
    NotInform,
    /// No `AAPLBSDPC/<arch>/<model>` vendor class, or no BSDP options.
    NotBsdp,
    /// INFORM with `ciaddr` 0.0.0.0.
    NoClientAddress,
    /// A reply port of 1024 or more.
    UnprivilegedReplyPort,
    /// A BSDP message type other than LIST or SELECT.
    BadMessageType,
    /// A SELECT without a server identifier.
    NoServerIdentifier,
    /// A SELECT for another server.
    OtherServer,
    /// A LIST for which no image qualifies.
    NoImages,
    /// Relayed, and the policy says not to answer relayed requests.
    Relayed,
    /// The reply could not be built within the client's size limit.
    ReplyTooLarge,
}

impl DropReason {
    /// Every reason, in a fixed order (for metrics).
    pub const ALL: [Self; 11] = [
        Self::Malformed,
        Self::NotInform,
        Self::NotBsdp,
        Self::NoClientAddress,
        Self::UnprivilegedReplyPort,
        Self::BadMessageType,
        Self::NoServerIdentifier,
        Self::OtherServer,
        Self::NoImages,
        Self::Relayed,
        Self::ReplyTooLarge,
    ];

    /// A short label, for metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::NotInform => "not_inform",
            Self::NotBsdp => "not_bsdp",
            Self::NoClientAddress => "no_client_address",
            Self::UnprivilegedReplyPort => "unprivileged_reply_port",
            Self::BadMessageType => "bad_message_type",
            Self::NoServerIdentifier => "no_server_identifier",
            Self::OtherServer => "other_server",
            Self::NoImages => "no_images",
            Self::Relayed => "relayed",
            Self::ReplyTooLarge => "reply_too_large",
        }
    }

    fn slot(self) -> usize {
        Self::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What became of a datagram.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Outcome {
    /// Send this.
    Reply(Reply),
    /// Nothing to send, for this reason.
    Drop(DropReason),
}

impl Outcome {
    /// The reply, if any.
    pub fn reply(self) -> Option<Reply> {
        match self {
            Self::Reply(r) => Some(r),
            Self::Drop(_) => None,
        }
    }
}

/// Counters a service can export as metrics; shared between the
/// responder and whoever reads them.
#[derive(Debug, Default)]
pub struct Counters {
    requests: AtomicU64,
    list: AtomicU64,
    select: AtomicU64,
    failed: AtomicU64,
    dropped: [AtomicU64; DropReason::ALL.len()],
}

/// A copy of the [`Counters`] at one moment.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct Stats {
    /// Datagrams handled.
    pub requests: u64,
    /// `ACK[LIST]`s sent.
    pub list_answered: u64,
    /// `ACK[SELECT]`s sent.
    pub select_answered: u64,
    /// `ACK[FAILED]`s sent.
    pub failed_answered: u64,
    /// Datagrams dropped, per reason (every reason, in [`DropReason::ALL`] order).
    pub dropped: Vec<(DropReason, u64)>,
}

impl Stats {
    /// Drops for one reason.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped
            .iter()
            .find(|(r, _)| *r == reason)
            .map_or(0, |(_, n)| *n)
    }
}

impl Counters {
    /// The current values.
    pub fn snapshot(&self) -> Stats {
        Stats {
            requests: self.requests.load(Ordering::Relaxed),
            list_answered: self.list.load(Ordering::Relaxed),
            select_answered: self.select.load(Ordering::Relaxed),
            failed_answered: self.failed.load(Ordering::Relaxed),
            dropped: DropReason::ALL
                .iter()
                .map(|r| (*r, self.dropped[r.slot()].load(Ordering::Relaxed)))
                .collect(),
        }
    }

    fn count(&self, outcome: &Outcome) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let c = match outcome {
            Outcome::Reply(r) => match r.kind {
                BsdpMessageType::List => &self.list,
                BsdpMessageType::Select => &self.select,
                _ => &self.failed,
            },
            Outcome::Drop(d) => &self.dropped[d.slot()],
        };
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// The most clients remembered at once.
const MAX_BINDINGS: usize = 65_536;

/// The BSDP server logic. See the [module docs](self).
#[derive(Debug)]
pub struct Responder {
    config: Arc<ResponderConfig>,
    catalog: Arc<Catalog>,
    counters: Arc<Counters>,
    bindings: HashMap<[u8; 6], (ImageId, Instant)>,
}

/// What the request says about the client.
struct Client {
    mac: Option<[u8; 6]>,
    vendor: VendorClass,
    filter: Option<Vec<u16>>,
}

impl Responder {
    /// A responder with `config`, offering `catalog`.
    pub fn new(config: Arc<ResponderConfig>, catalog: Arc<Catalog>) -> Self {
        Self {
            config,
            catalog,
            counters: Arc::new(Counters::default()),
            bindings: HashMap::new(),
        }
    }

    /// Offers another catalogue from now on (after a rescan).
    pub fn set_catalog(&mut self, catalog: Arc<Catalog>) {
        self.catalog = catalog;
    }

    /// The catalogue on offer.
    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    /// The configuration.
    pub fn config(&self) -> &Arc<ResponderConfig> {
        &self.config
    }

    /// The counters, to read from elsewhere.
    pub fn counters(&self) -> Arc<Counters> {
        Arc::clone(&self.counters)
    }

    /// Handles one datagram; the reply to send, if any.
    pub fn handle(&mut self, datagram: &[u8], source: SocketAddr, now: Instant) -> Option<Reply> {
        self.handle_outcome(datagram, source, now).reply()
    }

    /// Like [`Responder::handle`], saying why nothing is sent.
    pub fn handle_outcome(&mut self, datagram: &[u8], source: SocketAddr, now: Instant) -> Outcome {
        let outcome = match self.respond(datagram, source, now) {
            Ok(r) => Outcome::Reply(r),
            Err(d) => Outcome::Drop(d),
        };
        self.counters.count(&outcome);
        outcome
    }

    fn respond(
        &mut self,
        datagram: &[u8],
        source: SocketAddr,
        now: Instant,
    ) -> Result<Reply, DropReason> {
        let req = Packet::decode(datagram).map_err(|_| DropReason::Malformed)?;
        if req.op != Op::Request || req.message_type() != Some(MessageType::Inform) {
            return Err(DropReason::NotInform);
        }
        let vendor = req
            .vendor_class()
            .and_then(|v| VendorClass::decode(v).ok())
            .ok_or(DropReason::NotBsdp)?;
        let vs = req
            .options
            .get(code::VENDOR_SPECIFIC)
            .ok_or(DropReason::NotBsdp)?;
        let bsdp = BsdpOptions::decode(vs).map_err(|_| DropReason::Malformed)?;
        let reply_port = bsdp.reply_port.unwrap_or(CLIENT_PORT);
        if reply_port >= 1024 && !self.config.policy.allow_unprivileged_reply_port {
            return Err(DropReason::UnprivilegedReplyPort);
        }
        if req.ciaddr.is_unspecified() {
            return Err(DropReason::NoClientAddress);
        }
        let relayed = !req.giaddr.is_unspecified();
        if relayed && !self.config.policy.answer_relayed {
            return Err(DropReason::Relayed);
        }
        let destination = if relayed {
            SocketAddrV4::new(req.giaddr, SERVER_PORT)
        } else {
            SocketAddrV4::new(req.ciaddr, reply_port)
        };
        let client = Client {
            mac: req.mac_address(),
            vendor,
            filter: bsdp.attributes_filter_list.clone(),
        };
        self.expire(now);
        let (kind, bytes) = match bsdp.message_type {
            Some(BsdpMessageType::List) => {
                let limit = reply_limit(&req, &bsdp);
                (
                    BsdpMessageType::List,
                    self.ack_list(&req, &bsdp, &client, limit, now)?,
                )
            }
            Some(BsdpMessageType::Select) => self.ack_select(&req, &bsdp, &client, now)?,
            _ => return Err(DropReason::BadMessageType),
        };
        Ok(Reply {
            bytes,
            destination,
            kind,
            requester: source,
        })
    }

    fn expire(&mut self, now: Instant) {
        let ttl = self.config.policy.binding_ttl;
        if self.bindings.len() >= MAX_BINDINGS {
            self.bindings
                .retain(|_, (_, t)| now.saturating_duration_since(*t) < ttl);
            if self.bindings.len() >= MAX_BINDINGS {
                self.bindings.clear();
            }
        }
    }

    fn bound(&self, mac: Option<[u8; 6]>, now: Instant) -> Option<ImageId> {
        let (id, t) = self.bindings.get(&mac?)?;
        (now.saturating_duration_since(*t) < self.config.policy.binding_ttl).then_some(*id)
    }

    fn priority(&self, now: Instant) -> u16 {
        let base = self.config.server_priority;
        if !self.config.policy.priority_by_load {
            return base;
        }
        // Bindings past their time are pruned lazily; count the live ones.
        let ttl = self.config.policy.binding_ttl;
        let live = self
            .bindings
            .values()
            .filter(|(_, t)| now.saturating_duration_since(*t) < ttl)
            .count();
        base.saturating_sub(u16::try_from(live).unwrap_or(u16::MAX))
    }

    /// Images this client may boot (architecture, model, MAC), ignoring
    /// attribute filters.
    fn allowed<'c>(&'c self, client: &'c Client) -> impl Iterator<Item = &'c CatalogImage> + 'c {
        self.catalog
            .images()
            .iter()
            .filter(move |i| allowed(i, client))
    }

    fn ack_list(
        &self,
        req: &Packet,
        bsdp: &BsdpOptions,
        client: &Client,
        limit: usize,
        now: Instant,
    ) -> Result<Vec<u8>, DropReason> {
        let listed: Vec<&CatalogImage> = self
            .allowed(client)
            .filter(|i| filter_matches(i, client.filter.as_deref()))
            .collect();
        let default = listed
            .iter()
            .find(|i| i.info.is_default)
            .or(listed.first())
            .copied()
            .ok_or(DropReason::NoImages)?;
        let selected = self
            .bound(client.mac, now)
            .filter(|id| listed.iter().any(|i| i.id() == *id));
        let with_list = bsdp.version != Some(VERSION_1_0);
        let build = |n: usize| -> Option<Vec<u8>> {
            let mut o = BsdpOptions {
                message_type: Some(BsdpMessageType::List),
                server_priority: Some(self.priority(now)),
                default_boot_image: Some(default.id()),
                selected_boot_image: selected,
                ..BsdpOptions::default()
            };
            if with_list {
                // The default image always, then the others in index order
                // up to n of them.
                let mut others = listed.iter().filter(|i| i.id() != default.id()).take(n);
                let mut images = Vec::with_capacity(n + 1);
                let mut default_done = false;
                let mut next_other = others.next();
                while let Some(o) = next_other {
                    if !default_done && default.info.index < o.info.index {
                        images.push(boot_image(default));
                        default_done = true;
                    }
                    images.push(boot_image(o));
                    next_other = others.next();
                }
                if !default_done {
                    images.push(boot_image(default));
                }
                o.boot_image_list = Some(images);
            }
            let p = self.base_reply(req, &o, None).ok()?;
            let bytes = p.to_vec_padded(BOOTP_MIN_LEN).ok()?;
            (bytes.len() <= limit).then_some(bytes)
        };
        let others = listed.len() - 1;
        if let Some(all) = build(others) {
            return Ok(all);
        }
        // The largest number of other images that fits: fitting is monotone
        // in n, so bisect.
        let (mut lo, mut hi) = (0usize, others);
        let mut best = build(0).ok_or(DropReason::ReplyTooLarge)?;
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            match build(mid) {
                Some(b) => {
                    best = b;
                    lo = mid;
                }
                None => hi = mid - 1,
            }
        }
        Ok(best)
    }

    fn ack_select(
        &mut self,
        req: &Packet,
        bsdp: &BsdpOptions,
        client: &Client,
        now: Instant,
    ) -> Result<(BsdpMessageType, Vec<u8>), DropReason> {
        let server = bsdp
            .server_identifier
            .ok_or(DropReason::NoServerIdentifier)?;
        if server != self.config.server_ip {
            if let Some(mac) = client.mac {
                self.bindings.remove(&mac);
            }
            return Err(DropReason::OtherServer);
        }
        let image = match bsdp.selected_boot_image {
            Some(id) => self.catalog.get(id).filter(|i| allowed(i, client)),
            None => {
                let mut allowed = self.allowed(client);
                let first = allowed.next();
                self.allowed(client).find(|i| i.info.is_default).or(first)
            }
        };
        let Some(image) = image.cloned() else {
            return Ok((BsdpMessageType::Failed, self.failed(req)?));
        };
        let Some(bytes) = self.select_reply(req, client, &image) else {
            return Ok((BsdpMessageType::Failed, self.failed(req)?));
        };
        if let Some(mac) = client.mac {
            self.bindings.insert(mac, (image.id(), now));
        }
        Ok((BsdpMessageType::Select, bytes))
    }

    fn select_reply(&self, req: &Packet, client: &Client, image: &CatalogImage) -> Option<Vec<u8>> {
        let cfg = &self.config;
        let host = image.info.load_balance_server.unwrap_or(cfg.server_ip);
        let o = BsdpOptions {
            message_type: Some(BsdpMessageType::Select),
            selected_boot_image: Some(image.id()),
            machine_name: Some(machine_name(&cfg.machine_name_prefix, client.mac).into_bytes()),
            ..BsdpOptions::default()
        };
        let root = match image.info.image_type {
            ImageType::BootFileOnly => None,
            ImageType::Http => image.info.root_path.as_deref().map(|r| {
                if r.starts_with("http://") || r.starts_with("https://") {
                    r.to_owned()
                } else {
                    format!(
                        "{}/{}/{}",
                        cfg.http_base_url(host),
                        escape_path(&image.dir_name),
                        escape_path(r)
                    )
                }
            }),
            ImageType::Nfs => image.info.root_path.as_deref().map(|r| {
                if r.starts_with("nfs:") {
                    r.to_owned()
                } else {
                    format!("nfs:{host}:{}:{}/{r}", cfg.nfs_export, image.dir_name)
                }
            }),
        };
        let mut p = self.base_reply(req, &o, root.as_deref()).ok()?;
        let booter = cfg.booter_path(&image.dir_name, &client.vendor.arch, &image.info.boot_file);
        p.set_file(&booter).ok()?;
        p.siaddr = match image.info.load_balance_server {
            Some(lb) => {
                p.sname = [0; 64];
                lb
            }
            None => cfg.tftp_server.unwrap_or(cfg.server_ip),
        };
        p.to_vec_padded(BOOTP_MIN_LEN).ok()
    }

    fn failed(&self, req: &Packet) -> Result<Vec<u8>, DropReason> {
        let o = BsdpOptions {
            message_type: Some(BsdpMessageType::Failed),
            ..BsdpOptions::default()
        };
        let mut p = self
            .base_reply(req, &o, None)
            .map_err(|_| DropReason::ReplyTooLarge)?;
        p.sname = [0; 64];
        p.to_vec_padded(BOOTP_MIN_LEN)
            .map_err(|_| DropReason::ReplyTooLarge)
    }

    /// An ACK echoing the request's ids, with options 53, 54, 60, the root
    /// path if any, and the BSDP options.
    fn base_reply(
        &self,
        req: &Packet,
        o: &BsdpOptions,
        root_path: Option<&str>,
    ) -> Result<Packet, crate::error::EncodeError> {
        let mut p = Packet::new(Op::Reply);
        p.htype = req.htype;
        p.hlen = req.hlen;
        p.xid = req.xid;
        p.flags = req.flags;
        p.ciaddr = req.ciaddr;
        p.giaddr = req.giaddr;
        p.chaddr = req.chaddr;
        p.siaddr = self.config.server_ip;
        // A name that does not fit is left out rather than failing replies.
        let _ = p.set_sname(&self.config.server_name);
        p.options
            .set(code::MESSAGE_TYPE, [u8::from(MessageType::Ack)]);
        p.options
            .set(code::SERVER_IDENTIFIER, self.config.server_ip.octets());
        p.options.set(code::VENDOR_CLASS, SERVER_VENDOR_CLASS);
        if let Some(r) = root_path {
            p.options.set(code::ROOT_PATH, r.as_bytes());
        }
        for instance in o.encode_instances()? {
            p.options.push(code::VENDOR_SPECIFIC, instance);
        }
        Ok(p)
    }
}

/// The largest reply datagram (DHCP message, without IP and UDP headers)
/// this client accepts: the smaller of sub-option 12 and option 57 when
/// given, never below the 576-byte minimum every client must accept.
fn reply_limit(req: &Packet, bsdp: &BsdpOptions) -> usize {
    let sizes = [bsdp.max_message_size, req.max_message_size()];
    let named = sizes.iter().flatten().min().copied();
    match named {
        Some(m) => usize::from(m)
            .saturating_sub(IP_UDP_HEADER_LEN)
            .max(DHCP_MIN_MESSAGE_LEN),
        None => DHCP_MIN_MESSAGE_LEN,
    }
}

fn boot_image(i: &CatalogImage) -> BootImage {
    BootImage {
        id: i.id(),
        name: i.info.name.clone(),
    }
}

/// Enabled, for the client's architecture, model and MAC address.
fn allowed(image: &CatalogImage, client: &Client) -> bool {
    let info = &image.info;
    if !info.is_enabled {
        return false;
    }
    if !info.architectures.is_empty() && !info.architectures.contains(&client.vendor.arch) {
        return false;
    }
    let model = &client.vendor.model;
    if info.disabled_system_identifiers.iter().any(|m| m == model) {
        return false;
    }
    if !info.enabled_system_identifiers.is_empty()
        && !info.enabled_system_identifiers.iter().any(|m| m == model)
    {
        return false;
    }
    match client.mac {
        Some(mac) => {
            if info.disabled_mac_addresses.contains(&mac) {
                return false;
            }
            info.enabled_mac_addresses.is_empty() || info.enabled_mac_addresses.contains(&mac)
        }
        None => info.enabled_mac_addresses.is_empty(),
    }
}

/// With a filter list, the image's attributes must be in it; without one,
/// `FilterOnly` images are left out.
fn filter_matches(image: &CatalogImage, filter: Option<&[u16]>) -> bool {
    match filter {
        Some(list) => list.contains(&image.id().attributes()),
        None => !image.info.filter_only,
    }
}

fn machine_name(prefix: &str, mac: Option<[u8; 6]>) -> String {
    let mut s = prefix.to_owned();
    match mac {
        Some(m) => {
            for b in m {
                s.push_str(&format!("{b:02X}"));
            }
        }
        None => s.push_str("unknown"),
    }
    s
}

/// Percent-escapes what is not unreserved (RFC 3986) or `/`.
fn escape_path(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests;
