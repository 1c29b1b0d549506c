//! Apple software updates into WSUS, so that ConfigMgr's Software Update
//! Point can deploy them to Macs under the vendor "Apple".
//!
//! What it does:
//!
//! - reads Apple's software-update catalogs (`.sucatalog`, XML property
//!   lists, plain or gzip) into products with their packages and
//!   distributions ([`catalog`]);
//! - reads a product's distribution file (XML) for its title, version,
//!   description, package references and the checks that decide where it
//!   installs ([`distribution`]);
//! - names, classifies and orders products, finds which supersede which
//!   and withdraws those Apple no longer lists ([`publish`]);
//! - turns products into WSUS Software Distribution Packages and writes a
//!   `SystemsManagementCatalog` that holds them ([`sdp`]);
//! - builds the conditional requests that download catalogs and reads
//!   their answers ([`fetch`]);
//! - packages the catalog into a cabinet file ([`cab`]) and signs it with
//!   Authenticode ([`authenticode`]), the form ConfigMgr's third-party
//!   software update catalogs subscribe to.
//!
//! What it does not do: the core has no I/O and no clock — catalogs and
//! distributions come in as bytes, the time of publication is an input, and
//! the signed cabinet goes out as bytes. Downloading catalogs (with
//! `ETag` and `If-Modified-Since`) is behind the `client` feature.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod error;

pub mod authenticode;
pub mod cab;
pub mod catalog;
pub mod distribution;
pub mod fetch;
pub mod publish;
pub mod sdp;

#[cfg(feature = "client")]
pub mod client;

pub use error::{Error, Result};
