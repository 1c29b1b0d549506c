//! AdminService (REST, OData v4): requests and answers, without I/O.
//!
//! ConfigMgr's administration service (`https://<provider>/AdminService`)
//! publishes two routes:
//!
//! - `/AdminService/wmi/<Class>`: the SMS Provider's WMI classes as OData
//!   entity sets, translated to WQL by the service: queries with
//!   `$filter`, `$select`, `$orderby`, `$top` and `$skip`, instances by key
//!   (`SMS_R_System(16777219)`, `SMS_Collection('PS100042')`), create
//!   (`POST`), update (`PATCH`/`PUT`), delete, static methods
//!   (`POST …/wmi/SMS_Site.ImportMachineEntry`) and instance methods
//!   (`POST …/wmi/SMS_Collection('PS100042')/AdminService.AddMembershipRule`);
//! - `/AdminService/v1.0/<EntitySet>` (`Device`, `Collections`, …): the
//!   versioned route, for the few things only it offers.
//!
//! [`AdminService`] builds each request as an `http::Request<Vec<u8>>` and
//! reads each answer from an `http::Response<&[u8]>`: collection pages
//! ([`AdminService::parse_page`]), single entities
//! ([`AdminService::parse_entity`]), method results
//! ([`AdminService::parse_method_result`]) and empty answers
//! ([`AdminService::parse_empty`]); an error status becomes
//! [`Error::Wmi`] with the OData error and the WMI code ([`WmiError`]).
//! [`Pager`] follows `@odata.nextLink` from page to page, refusing links
//! that leave the service (another scheme, host, port or path), so that
//! the client's credentials go nowhere else.
//!
//! What it does not do: send anything, authenticate (the client layer does
//! NTLM/Negotiate), retry, or read `$metadata`.
//!
//! ```
//! use sccm_wmi::odata::{AdminService, Filter, Query};
//!
//! let service = AdminService::new("https://cm01.contoso.com/AdminService")?;
//! let query = Query::wmi("SMS_R_System")
//!     .filter(Filter::eq("Name", "MAC-0001"))
//!     .select(["ResourceId", "Name"])
//!     .top(50);
//! let request = service.query(&query)?;
//! assert_eq!(
//!     request.uri(),
//!     "https://cm01.contoso.com/AdminService/wmi/SMS_R_System?$filter=Name%20eq%20'MAC-0001'&$select=ResourceId,Name&$top=50"
//! );
//! # Ok::<(), sccm_wmi::Error>(())
//! ```

mod error;
mod filter;
mod from_wql;
mod pager;
mod response;

#[cfg(test)]
mod tests;

use core::fmt::Write as _;

pub use error::{WBEM_E_ACCESS_DENIED, WBEM_E_NOT_FOUND, WmiError, wbem_lookup};
pub use filter::{Filter, FilterValue, MAX_FILTER_DEPTH, MAX_FILTER_LEN};
pub use pager::Pager;
pub use response::{Page, class_from_context, etag};

use crate::wql::check_identifier;
use crate::{Error, Instance, Result, Value};

/// Size, depth and count limits for reading answers.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Limits {
    /// The longest answer body read, in bytes. Default 64 MiB.
    pub max_body_len: usize,
    /// The deepest JSON nesting (objects and arrays). Default 32.
    pub max_depth: usize,
    /// The most entities in one page. Default 100 000 (AdminService
    /// pages at 1 000 by default).
    pub max_items_per_page: usize,
    /// The most properties in one object. Default 4 096.
    pub max_properties: usize,
    /// The most elements in one array. Default 100 000.
    pub max_array_len: usize,
    /// The longest string, in bytes. Default 4 MiB.
    pub max_string_len: usize,
    /// The most pages a [`Pager`] follows. Default 10 000.
    pub max_pages: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_len: 64 * 1024 * 1024,
            max_depth: 32,
            max_items_per_page: 100_000,
            max_properties: 4096,
            max_array_len: 100_000,
            max_string_len: 4 * 1024 * 1024,
            max_pages: 10_000,
        }
    }
}

/// Which route of the service.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum Route {
    /// `/AdminService/wmi/`: WMI classes.
    Wmi,
    /// `/AdminService/v1.0/`: the versioned entity sets.
    V1,
}

impl Route {
    fn prefix(self) -> &'static str {
        match self {
            Self::Wmi => "wmi",
            Self::V1 => "v1.0",
        }
    }
}

/// One part of a key.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub enum KeyValue {
    /// An integer key (`ResourceId`), written bare.
    Int(i64),
    /// A string key (`CollectionID`), written in `'` with `'` doubled.
    String(String),
}

/// An entity's key: `(16777219)`, `('PS100042')`, or
/// `(Key1=1,Key2='x')` for a class with several key properties.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub enum Key {
    /// A single key value.
    Single(KeyValue),
    /// Named key values, for classes with a composite key.
    Composite(Vec<(String, KeyValue)>),
}

impl Key {
    /// A composite key from `(property, value)` pairs.
    pub fn composite<I, N, V>(parts: I) -> Self
    where
        I: IntoIterator<Item = (N, V)>,
        N: Into<String>,
        V: Into<KeyValue>,
    {
        Self::Composite(
            parts
                .into_iter()
                .map(|(n, v)| (n.into(), v.into()))
                .collect(),
        )
    }

    /// Appends `(…)`, percent-encoded for a path segment.
    fn write(&self, out: &mut String) -> Result<()> {
        out.push('(');
        match self {
            Self::Single(v) => write_key_value(out, v),
            Self::Composite(parts) => {
                if parts.is_empty() {
                    return Err(invalid("an empty composite key"));
                }
                for (i, (name, v)) in parts.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    check_name(name)?;
                    out.push_str(name);
                    out.push('=');
                    write_key_value(out, v);
                }
            }
        }
        out.push(')');
        Ok(())
    }
}

fn write_key_value(out: &mut String, v: &KeyValue) {
    match v {
        KeyValue::Int(i) => {
            let _ = write!(out, "{i}");
        }
        KeyValue::String(s) => {
            let mut lit = String::with_capacity(s.len() + 2);
            lit.push('\'');
            for c in s.chars() {
                if c == '\'' {
                    lit.push('\'');
                }
                lit.push(c);
            }
            lit.push('\'');
            percent_encode(out, &lit, PATH_SAFE);
        }
    }
}

impl From<i64> for KeyValue {
    fn from(i: i64) -> Self {
        Self::Int(i)
    }
}

impl From<i32> for KeyValue {
    fn from(i: i32) -> Self {
        Self::Int(i.into())
    }
}

impl From<u32> for KeyValue {
    fn from(i: u32) -> Self {
        Self::Int(i.into())
    }
}

impl From<&str> for KeyValue {
    fn from(s: &str) -> Self {
        Self::String(s.to_owned())
    }
}

impl From<String> for KeyValue {
    fn from(s: String) -> Self {
        Self::String(s)
    }
}

impl<T: Into<KeyValue>> From<T> for Key {
    fn from(v: T) -> Self {
        Self::Single(v.into())
    }
}

/// `$orderby` direction.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum Order {
    /// `asc`.
    Asc,
    /// `desc`.
    Desc,
}

/// A query of an entity set: `GET /AdminService/wmi/<Class>?…`.
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    route: Route,
    entity_set: String,
    filter: Option<Filter>,
    select: Vec<String>,
    order_by: Vec<(String, Order)>,
    top: Option<u32>,
    skip: Option<u32>,
}

impl Query {
    /// All instances of the WMI class `class`.
    pub fn wmi(class: impl Into<String>) -> Self {
        Self::new(Route::Wmi, class.into())
    }

    /// The entity set `entity_set` of the `v1.0` route (`Device`,
    /// `Collections`, …).
    pub fn v1(entity_set: impl Into<String>) -> Self {
        Self::new(Route::V1, entity_set.into())
    }

    fn new(route: Route, entity_set: String) -> Self {
        Self {
            route,
            entity_set,
            filter: None,
            select: Vec::new(),
            order_by: Vec::new(),
            top: None,
            skip: None,
        }
    }

    /// Adds a `$filter`; a second one is combined with `and`.
    pub fn filter(mut self, filter: Filter) -> Self {
        self.filter = Some(match self.filter.take() {
            Some(f) => f.and(filter),
            None => filter,
        });
        self
    }

    /// Adds properties to `$select`.
    pub fn select<I, S>(mut self, properties: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.select.extend(properties.into_iter().map(Into::into));
        self
    }

    /// Adds a `$orderby` key.
    pub fn order_by(mut self, property: impl Into<String>, order: Order) -> Self {
        self.order_by.push((property.into(), order));
        self
    }

    /// `$top`: at most `n` entities.
    pub fn top(mut self, n: u32) -> Self {
        self.top = Some(n);
        self
    }

    /// `$skip`: leave out the first `n`.
    pub fn skip(mut self, n: u32) -> Self {
        self.skip = Some(n);
        self
    }

    /// The route.
    pub fn route(&self) -> Route {
        self.route
    }

    /// The path and query below the service's base, such as
    /// `wmi/SMS_R_System?$filter=Name%20eq%20'x'`.
    pub fn target(&self) -> Result<String> {
        check_name(&self.entity_set)?;
        let mut out = format!("{}/{}", self.route.prefix(), self.entity_set);
        let mut sep = '?';
        let mut option = |out: &mut String, name: &str| {
            out.push(sep);
            sep = '&';
            out.push_str(name);
            out.push('=');
        };
        if let Some(f) = &self.filter {
            let text = f.text()?;
            option(&mut out, "$filter");
            percent_encode(&mut out, text, QUERY_SAFE);
        }
        if !self.select.is_empty() {
            option(&mut out, "$select");
            for (i, p) in self.select.iter().enumerate() {
                check_name(p)?;
                if i > 0 {
                    out.push(',');
                }
                out.push_str(p);
            }
        }
        if !self.order_by.is_empty() {
            option(&mut out, "$orderby");
            for (i, (p, o)) in self.order_by.iter().enumerate() {
                check_name(p)?;
                if i > 0 {
                    out.push(',');
                }
                out.push_str(p);
                out.push_str(match o {
                    Order::Asc => "%20asc",
                    Order::Desc => "%20desc",
                });
            }
        }
        if let Some(n) = self.top {
            option(&mut out, "$top");
            let _ = write!(out, "{n}");
        }
        if let Some(n) = self.skip {
            option(&mut out, "$skip");
            let _ = write!(out, "{n}");
        }
        Ok(out)
    }
}

/// How [`AdminService::update`] writes.
#[derive(Clone, Copy, Debug, Default, Eq, Hash, PartialEq)]
pub enum UpdateMode {
    /// `PATCH`: only the properties sent change.
    #[default]
    Patch,
    /// `PUT`: the instance is replaced.
    Put,
}

/// The client core for one AdminService: builds requests and reads
/// answers. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AdminService {
    /// `https://host[:port]/…/AdminService`, without trailing `/`.
    base: String,
    /// The base's scheme, lower case.
    scheme: String,
    /// The base's host, lower case.
    host: String,
    /// The base's port, explicit or the scheme's default.
    port: u16,
    /// The base's path (`/AdminService`).
    path: String,
    user_agent: String,
    limits: Limits,
}

fn invalid(what: impl Into<String>) -> Error {
    Error::InvalidRequest { what: what.into() }
}

fn check_name(name: &str) -> Result<()> {
    check_identifier(name).map_err(|_| invalid(format!("`{name}` is not a WMI name")))
}

impl AdminService {
    /// The service at `base_url`: `https://<provider>[:port]/AdminService`
    /// (or a path ending in `/AdminService`, as through a cloud management
    /// gateway); plain `http://` only on loopback (test servers).
    pub fn new(base_url: &str) -> Result<Self> {
        let bad = || invalid(format!("`{base_url}` is not an AdminService base URL"));
        let base = pippin_http_client::check_base_url(base_url).map_err(|_| bad())?;
        let uri: http::Uri = base.parse().map_err(|_| bad())?;
        let scheme = uri.scheme_str().ok_or_else(bad)?.to_ascii_lowercase();
        let authority = uri.authority().ok_or_else(bad)?;
        let host = authority.host().to_ascii_lowercase();
        let port = authority
            .port_u16()
            .unwrap_or(if scheme == "https" { 443 } else { 80 });
        let path = uri.path().to_owned();
        let last = path.rsplit('/').next().unwrap_or_default();
        if !last.eq_ignore_ascii_case("AdminService") || path.contains('%') {
            return Err(bad());
        }
        Ok(Self {
            base,
            scheme,
            host,
            port,
            path,
            user_agent: concat!("pippin-sccm/", env!("CARGO_PKG_VERSION")).to_owned(),
            limits: Limits::default(),
        })
    }

    /// Replaces the limits for reading answers.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Replaces the `User-Agent`.
    pub fn with_user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// The base URL, without trailing `/`.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    fn build(
        &self,
        method: http::Method,
        target: &str,
        body: Option<Vec<u8>>,
        etag: Option<&str>,
    ) -> Result<http::Request<Vec<u8>>> {
        let url = format!("{}/{target}", self.base);
        let mut b = http::Request::builder()
            .method(method)
            .uri(url.as_str())
            .header(http::header::ACCEPT, "application/json")
            .header(http::header::USER_AGENT, self.user_agent.as_str());
        if body.is_some() {
            b = b.header(http::header::CONTENT_TYPE, "application/json");
        }
        if let Some(tag) = etag {
            let v = http::HeaderValue::from_str(tag)
                .map_err(|_| invalid("the ETag is not a valid header value"))?;
            b = b.header(http::header::IF_MATCH, v);
        }
        b.body(body.unwrap_or_default())
            .map_err(|e| invalid(format!("cannot build a request for `{url}`: {e}")))
    }

    /// `GET` of a query.
    pub fn query(&self, query: &Query) -> Result<http::Request<Vec<u8>>> {
        self.build(http::Method::GET, &query.target()?, None, None)
    }

    fn entity_target(route: Route, class: &str, key: &Key) -> Result<String> {
        check_name(class)?;
        let mut t = format!("{}/{class}", route.prefix());
        key.write(&mut t)?;
        Ok(t)
    }

    /// `GET /wmi/<class>(<key>)`: one instance, with its lazy properties
    /// (AdminService reads an instance by key in full).
    pub fn get(&self, class: &str, key: &Key) -> Result<http::Request<Vec<u8>>> {
        let t = Self::entity_target(Route::Wmi, class, key)?;
        self.build(http::Method::GET, &t, None, None)
    }

    /// `GET /v1.0/<entity_set>(<key>)`.
    pub fn get_v1(&self, entity_set: &str, key: &Key) -> Result<http::Request<Vec<u8>>> {
        let t = Self::entity_target(Route::V1, entity_set, key)?;
        self.build(http::Method::GET, &t, None, None)
    }

    /// `POST /wmi/<class>` with the instance's properties as the JSON body
    /// (the class is `instance.class`). The answer (201, the created
    /// instance) is read with [`parse_entity`](Self::parse_entity).
    pub fn create(&self, instance: &Instance) -> Result<http::Request<Vec<u8>>> {
        check_name(&instance.class)?;
        let body = json_body(instance)?;
        let t = format!("wmi/{}", instance.class);
        self.build(http::Method::POST, &t, Some(body), None)
    }

    /// `PATCH` (or `PUT`) `/wmi/<class>(<key>)` with `changes`' properties;
    /// `If-Match: <etag>` when `etag` is given (an instance's
    /// `@odata.etag`, see [`etag`]).
    pub fn update(
        &self,
        class: &str,
        key: &Key,
        changes: &Instance,
        mode: UpdateMode,
        etag: Option<&str>,
    ) -> Result<http::Request<Vec<u8>>> {
        let t = Self::entity_target(Route::Wmi, class, key)?;
        let method = match mode {
            UpdateMode::Patch => http::Method::PATCH,
            UpdateMode::Put => http::Method::PUT,
        };
        self.build(method, &t, Some(json_body(changes)?), etag)
    }

    /// `DELETE /wmi/<class>(<key>)`, with `If-Match` when `etag` is given.
    pub fn delete(
        &self,
        class: &str,
        key: &Key,
        etag: Option<&str>,
    ) -> Result<http::Request<Vec<u8>>> {
        let t = Self::entity_target(Route::Wmi, class, key)?;
        self.build(http::Method::DELETE, &t, None, etag)
    }

    /// A static method: `POST /wmi/<class>.<method>` with the input
    /// parameters (`params`' properties) as the JSON body. The answer is
    /// read with [`parse_method_result`](Self::parse_method_result).
    pub fn invoke_static(
        &self,
        class: &str,
        method: &str,
        params: &Instance,
    ) -> Result<http::Request<Vec<u8>>> {
        check_name(class)?;
        check_name(method)?;
        let t = format!("wmi/{class}.{method}");
        self.build(http::Method::POST, &t, Some(json_body(params)?), None)
    }

    /// An instance method: `POST /wmi/<class>(<key>)/AdminService.<method>`
    /// with the input parameters as the JSON body.
    pub fn invoke(
        &self,
        class: &str,
        key: &Key,
        method: &str,
        params: &Instance,
    ) -> Result<http::Request<Vec<u8>>> {
        check_name(method)?;
        let mut t = Self::entity_target(Route::Wmi, class, key)?;
        let _ = write!(t, "/AdminService.{method}");
        self.build(http::Method::POST, &t, Some(json_body(params)?), None)
    }

    /// An action on the `v1.0` route: `POST
    /// /v1.0/<entity_set>[(<key>)]/AdminService.<action>`.
    pub fn invoke_v1(
        &self,
        entity_set: &str,
        key: Option<&Key>,
        action: &str,
        params: &Instance,
    ) -> Result<http::Request<Vec<u8>>> {
        check_name(entity_set)?;
        check_name(action)?;
        let mut t = format!("v1.0/{entity_set}");
        if let Some(k) = key {
            k.write(&mut t)?;
        }
        let _ = write!(t, "/AdminService.{action}");
        self.build(http::Method::POST, &t, Some(json_body(params)?), None)
    }

    /// Checks an `@odata.nextLink` (absolute, or an absolute path): the
    /// same scheme, host and port as the base, a path under the base's
    /// path with no `.`/`..` segments, no user info and no fragment.
    /// Returns the link to request.
    pub fn check_next_link(&self, link: &str) -> Result<String> {
        let refuse = |why: &str| Error::InvalidResponse {
            what: format!("refusing @odata.nextLink ({why})"),
        };
        if link.len() > 16 * 1024 || link.contains('#') {
            return Err(refuse("too long or has a fragment"));
        }
        let uri: http::Uri = link.parse().map_err(|_| refuse("not a URL"))?;
        let path = uri.path();
        if uri.scheme().is_some() || uri.authority().is_some() {
            let scheme = uri.scheme_str().unwrap_or_default().to_ascii_lowercase();
            let Some(authority) = uri.authority() else {
                return Err(refuse("no host"));
            };
            if authority.as_str().contains('@') {
                return Err(refuse("user info"));
            }
            let port = authority
                .port_u16()
                .unwrap_or(if scheme == "https" { 443 } else { 80 });
            if scheme != self.scheme
                || !authority.host().eq_ignore_ascii_case(&self.host)
                || port != self.port
            {
                return Err(refuse("another origin"));
            }
        } else if !link.starts_with('/') {
            return Err(refuse("a relative reference"));
        }
        let base = self.path.as_str();
        let under = path.len() > base.len() + 1
            && path.is_char_boundary(base.len())
            && path[..base.len()].eq_ignore_ascii_case(base)
            && path.as_bytes()[base.len()] == b'/';
        if !under {
            return Err(refuse("outside the service's path"));
        }
        for seg in path.split('/') {
            let decoded = seg.replace("%2e", ".").replace("%2E", ".");
            if decoded == "." || decoded == ".." || seg.contains("%2f") || seg.contains("%2F") {
                return Err(refuse("a dot segment"));
            }
        }
        let pq = uri.path_and_query().map_or(path, |p| p.as_str());
        Ok(format!("{}://{}{pq}", self.scheme, host_port(&self.base)))
    }

    /// A `GET` of a checked next link (see
    /// [`check_next_link`](Self::check_next_link)).
    pub fn next_page(&self, link: &str) -> Result<http::Request<Vec<u8>>> {
        let url = self.check_next_link(link)?;
        http::Request::builder()
            .method(http::Method::GET)
            .uri(url.as_str())
            .header(http::header::ACCEPT, "application/json")
            .header(http::header::USER_AGENT, self.user_agent.as_str())
            .body(Vec::new())
            .map_err(|e| invalid(format!("cannot build a request for `{url}`: {e}")))
    }

    /// A [`Pager`] that runs `query` to its last page.
    pub fn pager(&self, query: &Query) -> Result<Pager> {
        Pager::new(self.clone(), query)
    }
}

/// The `host[:port]` of a checked base URL.
fn host_port(base: &str) -> &str {
    let rest = base.split_once("://").map_or(base, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest)
}

/// Characters left as they are in a query option's value: RFC 3986
/// unreserved characters, and the OData punctuation `'(),:$*!@/`. Everything
/// else (space, `&`, `=`, `+`, `#`, `%`, `;`, `"`, non-ASCII, …) is
/// percent-encoded as UTF-8.
const QUERY_SAFE: &[u8] = b"-._~'(),:$*!@/";
/// Characters left as they are in a key inside a path segment: unreserved,
/// and `'(),=:$*!@`. `/`, `?`, `#` and `%` are encoded.
const PATH_SAFE: &[u8] = b"-._~'(),=:$*!@";

/// Appends `text` percent-encoded, leaving ASCII letters, digits and
/// `safe` as they are.
fn percent_encode(out: &mut String, text: &str, safe: &[u8]) {
    for &b in text.as_bytes() {
        if b.is_ascii_alphanumeric() || safe.contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

/// The JSON body for an instance's properties: an object in property order;
/// embedded objects with a class carry `"@odata.type":
/// "#AdminService.<class>"` first.
pub fn json_body(instance: &Instance) -> Result<Vec<u8>> {
    let mut out = String::new();
    write_object(&mut out, instance, false, 0)?;
    Ok(out.into_bytes())
}

const MAX_WRITE_DEPTH: usize = 32;

fn write_object(out: &mut String, i: &Instance, typed: bool, depth: usize) -> Result<()> {
    if depth > MAX_WRITE_DEPTH {
        return Err(invalid("the body is nested too deeply"));
    }
    out.push('{');
    let mut first = true;
    if typed && !i.class.is_empty() {
        check_name(&i.class)?;
        let _ = write!(out, "\"@odata.type\":\"#AdminService.{}\"", i.class);
        first = false;
    }
    for (k, v) in &i.properties {
        if !first {
            out.push(',');
        }
        first = false;
        write_json_string(out, k);
        out.push(':');
        write_value(out, v, depth + 1)?;
    }
    out.push('}');
    Ok(())
}

fn write_value(out: &mut String, v: &Value, depth: usize) -> Result<()> {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Real(f) => {
            if !f.is_finite() {
                return Err(invalid("a non-finite number cannot be sent"));
            }
            let n = serde_json::Number::from_f64(*f)
                .ok_or_else(|| invalid("a non-finite number cannot be sent"))?;
            let _ = write!(out, "{n}");
        }
        Value::String(s) => write_json_string(out, s),
        Value::Array(a) => {
            if depth > MAX_WRITE_DEPTH {
                return Err(invalid("the body is nested too deeply"));
            }
            out.push('[');
            for (i, e) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, e, depth + 1)?;
            }
            out.push(']');
        }
        Value::Object(o) => write_object(out, o, true, depth)?,
    }
    Ok(())
}

fn write_json_string(out: &mut String, s: &str) {
    // serde_json escapes `"`, `\` and control characters; writing a `str`
    // into a `String` cannot fail.
    out.push_str(&serde_json::to_string(s).unwrap_or_default());
}
