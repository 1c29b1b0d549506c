//! Pippin's NetBoot service: Macs that boot from the network find their
//! images with BSDP, download the booter over TFTP and the disk image over
//! HTTP — all three served here from one folder of `.nbi` images.
//!
//! | Part | Default listener | Serves |
//! |------|------------------|--------|
//! | BSDP ([`bsdp`]) | UDP `0.0.0.0:67` | the image list and selections |
//! | TFTP ([`tftp`]) | UDP `0.0.0.0:69` | `<Name>.nbi/<arch>/<BootFile>` from the image folder |
//! | HTTP ([`http`]) | TCP `0.0.0.0:80` | `<path>/<Name>.nbi/<file>` with byte ranges; `/healthz`, `/metrics` |
//!
//! The paths line up by construction: the BSDP responder hands out the
//! booter as `<Name>.nbi/<arch>/<BootFile>` (TFTP serves the image folder,
//! and takes a leading `/` as its root too) and a relative `RootPath` as
//! `http://<server-ip>[:port]<path>/<Name>.nbi/<RootPath>` (the HTTP side
//! maps `<path>` to the image folder). The image folder is checked for
//! changes every few seconds and the catalogue replaced when it changes;
//! images that fail to load are skipped with a logged reason.
//!
//! Run it with the `netboot-server` executable or inside `pippin serve`
//! (`[netboot] enabled = true`). [`Netboot::bind`] binds every enabled
//! listener (so a taken port fails the start) and [`Running::run`] serves
//! until shut down.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

#[cfg(feature = "service")]
pub mod cli;
#[cfg(feature = "service")]
pub mod config;
#[cfg(feature = "service")]
pub mod http;
pub mod range;
pub mod urlpath;

#[cfg(feature = "service")]
mod service;
#[cfg(feature = "service")]
pub use service::*;
