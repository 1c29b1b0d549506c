//! Apple's Boot Service Discovery Protocol (BSDP) for a NetBoot server.
//!
//! A Mac that boots from the network asks for boot images with BSDP, a
//! DHCP extension: `DHCPINFORM` messages with the vendor class
//! `AAPLBSDPC/<arch>/<model>` and BSDP sub-options in option 43. The
//! server lists the images the Mac may boot (`ACK[LIST]`); when the Mac
//! selects one (`INFORM[SELECT]`), the server tells it where the booter is
//! (TFTP) and where the disk image is (HTTP or NFS) in an `ACK[SELECT]`.
//!
//! What it does:
//!
//! - [`dhcp`]: the DHCP/BOOTP message codec — every header field, the
//!   magic cookie, options with option overload (52) and long options
//!   split and joined per RFC 3396; decoding from a borrowed slice with
//!   bounded work, encoding into a caller's buffer ([`Decode`]/[`Encode`]);
//!   malformed input is a [`DecodeError`] with its byte offset;
//! - [`bsdp`]: option 60 (`AAPLBSDPC/i386/MacBookPro11,2`), the BSDP
//!   sub-options 1–12 and 128–130 typed ([`BsdpOptions`]), image ids
//!   ([`ImageId`]: install flag, kind, index);
//! - [`responder`]: the server logic ([`Responder`]), with no I/O and the
//!   time as an input: filters by architecture, model, MAC address and
//!   attribute filters, the client's maximum message size, SELECTs for
//!   this server only, relayed requests, counters for metrics;
//! - [`image_info`] and [`catalog`]: `NBImageInfo.plist` (XML or binary,
//!   through `pippin-plist` with limits) and the [`Catalog`] of images;
//!   with the `fs` feature, [`Catalog::scan`] reads `.nbi` folders from a
//!   directory, skipping bad ones with a reason, and a fingerprint tells
//!   when to rescan;
//! - [`exchange`]: the client's messages (`INFORM[LIST]`/`[SELECT]`) and
//!   reading ACKs, for probes and tests;
//! - with the `server` feature, `server::BsdpServer`: a tokio UDP socket
//!   (`SO_REUSEADDR`, `SO_BROADCAST`) around the responder, and a handle
//!   to swap the catalogue and read the counters;
//! - with the `client` feature, `client::BsdpClient`: sends an INFORM and
//!   waits, within a time limit, for the matching ACK.
//!
//! What it does not do: it assigns no addresses (BSDP clients already have
//! one; DISCOVER/REQUEST are dropped), serves no files (TFTP and HTTP are
//! other crates' work), allocates no shadow files or AFP logins for
//! diskless clients (sub-options 128/129 are decoded but never sent), and
//! answers the old NetBoot 1.0 BOOTP clients not at all. The core (default
//! features) has no sockets, files or clock.
//!
//! ```
//! use std::net::{Ipv4Addr, SocketAddr};
//! use std::sync::Arc;
//! use std::time::Instant;
//! use bsdp::{Ack, BsdpMessageType, Catalog, InformRequest, ImageInfo, Responder,
//!            ResponderConfig, CatalogImage, Encode};
//!
//! let info = ImageInfo::parse(br#"<?xml version="1.0" encoding="UTF-8"?>
//! <plist version="1.0"><dict>
//!   <key>Index</key><integer>1001</integer>
//!   <key>Name</key><string>NetInstall 10.13.6</string>
//!   <key>Type</key><string>HTTP</string>
//!   <key>BootFile</key><string>booter</string>
//!   <key>RootPath</key><string>NetInstall.dmg</string>
//!   <key>IsInstall</key><true/>
//!   <key>IsDefault</key><true/>
//! </dict></plist>"#)?;
//! let (catalog, skipped) = Catalog::new(vec![CatalogImage { info, dir_name: "NetInstall.nbi".into() }]);
//! assert!(skipped.is_empty());
//!
//! let server = Ipv4Addr::new(192, 168, 56, 1);
//! let mut responder = Responder::new(Arc::new(ResponderConfig::new(server)), Arc::new(catalog));
//!
//! // A MacBook Pro at 192.168.56.20 asks for the list...
//! let mac = [0xa8, 0x20, 0x66, 0x12, 0x34, 0x56];
//! let client = InformRequest::new(mac, Ipv4Addr::new(192, 168, 56, 20), "i386", "MacBookPro11,2");
//! let from: SocketAddr = "192.168.56.20:68".parse()?;
//! let reply = responder.handle(&client.list()?.to_vec()?, from, Instant::now()).unwrap();
//! assert_eq!(reply.destination.to_string(), "192.168.56.20:68");
//! let ack = Ack::decode(&reply.bytes)?;
//! assert_eq!(ack.message_type, BsdpMessageType::List);
//! assert_eq!(ack.images[0].name, "NetInstall 10.13.6");
//! assert!(ack.images[0].id.is_install());
//!
//! // ...and selects the first image.
//! let select = client.select(server, ack.images[0].id)?;
//! let reply = responder.handle(&select.to_vec()?, from, Instant::now()).unwrap();
//! let ack = Ack::decode(&reply.bytes)?;
//! assert_eq!(ack.message_type, BsdpMessageType::Select);
//! assert_eq!(ack.boot_file.as_deref(), Some("NetInstall.nbi/i386/booter"));
//! assert_eq!(ack.tftp_server, server);
//! assert_eq!(ack.root_path.as_deref(), Some("http://192.168.56.1/NetInstall.nbi/NetInstall.dmg"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod bsdp;
pub mod catalog;
#[cfg(feature = "client")]
pub mod client;
mod codec;
pub mod dhcp;
mod error;
pub mod exchange;
pub mod image_info;
pub mod responder;
#[cfg(feature = "server")]
pub mod server;

pub use crate::bsdp::{BootImage, BsdpMessageType, BsdpOptions, ImageId, ImageKind, VendorClass};
pub use crate::catalog::{Catalog, CatalogImage, SkipReason, Skipped};
#[cfg(feature = "fs")]
pub use crate::catalog::{Fingerprint, Scan};
pub use crate::codec::{Decode, Encode};
pub use crate::dhcp::{MessageType, Op, Options, Packet};
pub use crate::error::{DecodeError, DecodeErrorKind, EncodeError, Error, ImageInfoError, Result};
pub use crate::exchange::{Ack, InformRequest};
pub use crate::image_info::{ImageInfo, ImageType};
pub use crate::responder::{
    Counters, DropReason, Outcome, Reply, ReplyPolicy, Responder, ResponderConfig, Stats,
};
