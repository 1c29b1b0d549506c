//! A client for Configuration Manager's SMS Provider, the WMI namespace
//! `root\sms\site_<code>` through which Pippin reads and writes ConfigMgr's
//! data: discovery records, inventory, collections and their membership.
//!
//! What it does:
//!
//! - builds AdminService (REST, OData v4) requests and reads their answers
//!   ([`odata`]): queries with `$filter`, `$select`, `$orderby`, `$top` and
//!   paging through `@odata.nextLink`, get by key, create, update, delete,
//!   static and instance method calls, WMI errors with their code;
//! - builds WMI-over-WS-Management (WinRM) SOAP envelopes and reads the
//!   answers ([`wsman`]): Enumerate with a WQL filter, Pull, Get, Put,
//!   Create, Delete and Invoke, and SOAP faults with their `MSFT_WmiError`
//!   detail;
//! - builds WQL queries with escaped values and checked identifiers, and
//!   parses WQL so that injected text is refused ([`wql`]);
//! - authenticates with NTLMv2 (signing and sealing, SPNEGO, WinRM message
//!   encryption) ([`ntlm`]), and, in the client, with Kerberos through the
//!   system's GSS-API library where a ticket is available;
//! - reads the classes the bridge needs into types ([`classes`]), keeping
//!   unknown properties ([`Instance`]).
//!
//! What it does not do: the core has no I/O, no clock and no randomness —
//! time, nonces and message IDs are inputs. It does not cache, retry or
//! decide what to write into ConfigMgr; the bridge in `cm-proxy` does.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod error;
mod value;

pub mod classes;
pub mod ntlm;
pub mod odata;
pub mod wql;
pub mod wsman;

#[cfg(feature = "client")]
pub mod client;
#[cfg(feature = "simulator")]
pub mod simulator;

pub use error::{Error, Result};
pub use value::{Instance, Value};
