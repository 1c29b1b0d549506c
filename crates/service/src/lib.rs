//! What every deployed Pippin component shares: cm-proxy, mdm-proxy,
//! sup-service, netboot-server and the all-in-one `pippin` build on this
//! crate for the plumbing around their protocols.
//!
//! - [`logging`]: each executable writes `<exe_name>.log`, rotated into gzip
//!   archives `<exe_name>.1.log.gz`, ... at a size limit, with a file count
//!   limit ([`init_logging`], [`RotatingFile`]).
//! - [`pki`]: the self-generated site CA and its server and client
//!   certificates ([`load_or_create_pki`], [`generate_ca`],
//!   [`issue_server_cert`], [`issue_client_cert`]).
//! - [`tls`]: rustls configurations on the *ring* provider, TLS 1.2 minimum,
//!   ALPN `h2`/`http/1.1`, client certificates, and certificate pinning for
//!   links between components ([`server_config`], [`client_config`]).
//! - [`token`]: constant-time comparison, token text, and [`Secret`], which
//!   never prints.
//! - [`config`]: TOML files ([`load_toml`]), and the convention for flags and
//!   environment variables described [below](#configuration).
//! - [`health`] and [`metrics`]: `/healthz` and Prometheus `/metrics`
//!   ([`Health`], [`Metrics`]).
//!
//! The most used items are re-exported at the crate root.
//!
//! It does **not** open sockets or run an HTTP server: the components do,
//! with the configurations made here. It reads and writes files (logs, keys,
//! certificates, configs) and spawns a thread to compress logs; it needs no
//! async runtime.
//!
//! # Configuration
//!
//! Each component reads one TOML file whose keys are grouped in sections
//! (`[server]`, `[log]`, ...). The structs live in the binary crate and carry
//! `#[serde(deny_unknown_fields)]`, so a misspelt key stops the start with
//! `file:line:column: unknown field ...` instead of being ignored. Every key
//! is also
//!
//! - a flag `--<section>-<key>` (underscores become dashes), and
//! - an environment variable `PIPPIN_<SECTION>_<KEY>` (upper case),
//!
//! declared together with clap's `env` attribute on an `Option` field.
//! Precedence is **flag > environment > file > default**: clap already
//! prefers the flag to the variable and yields `None` when neither is given;
//! a `Some` then overrides the file's value, and the file's missing keys take
//! their serde defaults. No merge helper is needed: one `if let` per key
//! keeps the override explicit, and the compiler checks it.
//!
//! ```
//! use std::path::PathBuf;
//!
//! use clap::Parser;
//! use serde::Deserialize;
//!
//! /// The file. Every key has a default, so no file at all also works.
//! #[derive(Debug, Default, Deserialize)]
//! #[serde(deny_unknown_fields, default)]
//! struct Config {
//!     server: Server,
//!     log: Log,
//! }
//!
//! #[derive(Debug, Deserialize)]
//! #[serde(deny_unknown_fields, default)]
//! struct Server {
//!     public_host: String,
//!     port: u16,
//! }
//!
//! impl Default for Server {
//!     fn default() -> Self {
//!         Self { public_host: "localhost".into(), port: 8760 }
//!     }
//! }
//!
//! #[derive(Debug, Default, Deserialize)]
//! #[serde(deny_unknown_fields, default)]
//! struct Log {
//!     max_bytes: Option<u64>,
//!     filter: Option<String>,
//! }
//!
//! /// The command line: the file's keys again, each with its variable.
//! #[derive(Debug, Parser)]
//! struct Cli {
//!     /// The TOML file to read.
//!     #[arg(long, env = "PIPPIN_CONFIG")]
//!     config: Option<PathBuf>,
//!     /// [server] public_host
//!     #[arg(long, env = "PIPPIN_SERVER_PUBLIC_HOST")]
//!     server_public_host: Option<String>,
//!     /// [server] port
//!     #[arg(long, env = "PIPPIN_SERVER_PORT")]
//!     server_port: Option<u16>,
//!     /// [log] filter
//!     #[arg(long, env = "PIPPIN_LOG_FILTER")]
//!     log_filter: Option<String>,
//! }
//!
//! fn settings(cli: Cli) -> pippin_service::Result<Config> {
//!     let mut config: Config = match &cli.config {
//!         Some(path) => pippin_service::load_toml(path)?,
//!         None => Config::default(),
//!     };
//!     if let Some(v) = cli.server_public_host {
//!         config.server.public_host = v;
//!     }
//!     if let Some(v) = cli.server_port {
//!         config.server.port = v;
//!     }
//!     if let Some(v) = cli.log_filter {
//!         config.log.filter = Some(v);
//!     }
//!     Ok(config)
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let file = dir.path().join("cm-proxy.toml");
//! std::fs::write(&file, "[server]\npublic_host = \"mdm.example.test\"\nport = 8443\n")?;
//!
//! // The file overrides the defaults, a flag overrides the file.
//! let cli = Cli::try_parse_from([
//!     "cm-proxy",
//!     "--config",
//!     file.to_str().unwrap(),
//!     "--server-port",
//!     "9443",
//! ])?;
//! let config = settings(cli)?;
//! assert_eq!(config.server.public_host, "mdm.example.test");
//! assert_eq!(config.server.port, 9443);
//! assert_eq!(config.log.filter, None);
//!
//! // A misspelt key is refused, with its position.
//! std::fs::write(&file, "[server]\nport = 8443\npublic_hots = \"x\"\n")?;
//! let cli = Cli::try_parse_from(["cm-proxy", "--config", file.to_str().unwrap()])?;
//! let err = settings(cli).unwrap_err().to_string();
//! assert!(err.contains("cm-proxy.toml:3:1: unknown field `public_hots`"), "{err}");
//! # Ok(())
//! # }
//! ```
//!
//! # Limitations
//!
//! - Private keys written by [`load_or_create_pki`] are **not encrypted at
//!   rest**: they are PKCS#8 PEM files readable only by their owner (mode
//!   0600 on Unix; other platforms get the directory's defaults).
//!   Encryption at rest is to be applied by the caller's secret store.
//! - [`Secret`] keeps values out of logs; it does not wipe memory on drop.
//! - Log files are created with the process's umask.
//! - A pinned [`client_config`] checks the pin **and** the ordinary chain and
//!   name validation against its roots; it cannot trust a self-signed
//!   certificate by pin alone.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod config;
mod error;
pub mod health;
pub mod logging;
pub mod metrics;
pub mod pki;
pub mod sealed;
pub mod tls;
pub mod token;

pub use config::{load_toml, parse_toml};
pub use error::{Error, Result};
pub use health::{Health, HealthReport, HealthStatus};
pub use logging::{
    LogConfig, LogGuard, LogSection, RecordWriter, RotatingFile, build_subscriber, init_logging,
};
pub use metrics::{Counter, Gauge, Metrics};
pub use pki::{
    CA_VALIDITY, CaMaterial, IssuedCert, LEAF_VALIDITY, Pki, RENEW_BEFORE, generate_ca,
    issue_client_cert, issue_server_cert, load_or_create_pki, write_file_atomic,
};
pub use sealed::{OpenError, SecretBox};
pub use tls::{
    ALPN_PROTOCOLS, ClientAuth, MinTlsVersion, cert_sha256, certs_from_pem, client_config,
    pem_to_ders, provider, server_config,
};
pub use token::{Secret, constant_time_eq, generate_token, random_bytes, random_token};

/// rustls, re-exported so that callers use the same version as the
/// configurations made here.
pub use rustls;
