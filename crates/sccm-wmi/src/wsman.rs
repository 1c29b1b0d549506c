//! WMI over WS-Management (WinRM): SOAP envelopes and answers.
//!
//! The SMS Provider's WMI namespace `root\sms\site_<code>` is reachable
//! through Windows Remote Management at `http://<provider>:5985/wsman` (or
//! `https://…:5986/wsman`). WinRM's WMI plugin maps each WMI class to the
//! resource URI `http://schemas.microsoft.com/wbem/wsman/1/wmi/<namespace>/<Class>`
//! and each WMI operation to a WS-Management one (DMTF DSP0226, with the
//! CIM binding of DSP0227 and Microsoft's extensions, MS-WSMV):
//!
//! | WMI | WS-Management | here |
//! |---|---|---|
//! | `ExecQuery` (WQL) | WS-Enumeration `Enumerate` on `…/*` with a WQL `wsman:Filter`, then `Pull`, `Release` | [`WsMan::enumerate_wql`], [`WsMan::pull`], [`WsMan::release`], [`Enumeration`] |
//! | `CreateInstanceEnum` | `Enumerate` on `…/<Class>` | [`WsMan::enumerate`] |
//! | `GetObject` | WS-Transfer `Get` with a `wsman:SelectorSet` of the keys | [`WsMan::get`] |
//! | `PutInstance` (update) | WS-Transfer `Put` | [`WsMan::put`] |
//! | `PutInstance` (create) | WS-Transfer `Create` | [`WsMan::create`] |
//! | `DeleteInstance` | WS-Transfer `Delete` | [`WsMan::delete`] |
//! | `ExecMethod` | custom action `…/<Class>/<Method>`, body `<Method>_INPUT` | [`WsMan::invoke`] |
//!
//! What it does: builds each request as an `http::Request<Vec<u8>>` (a
//! SOAP 1.2 envelope, `POST`, `application/soap+xml;charset=UTF-8`); reads
//! each answer into [`Instance`]s, an [`EnumerationBatch`] whose items are
//! read one at a time, a [`ResourceCreated`], or a [`WsManFault`] with
//! WinRM's and WMI's error details; drives an enumeration from `Enumerate`
//! to `EndOfSequence` ([`Enumeration`]); and, for a simulated provider,
//! reads requests and writes answers the way WinRM does ([`server`]).
//!
//! What it does not do: no I/O, no clock, no randomness — the
//! `MessageID` of every request is an input ([`MessageId`]). It does not
//! authenticate or encrypt (see [`crate::ntlm`]); it does not check that an
//! answer's `RelatesTo` names the request (over HTTP the answer is the one
//! to the request just sent). WS-Man carries every scalar as text: answers
//! give [`Value::String`] for numbers, booleans and
//! date-times alike, and requests write [`Value::Int`],
//! [`Value::Bool`] and [`Value::Real`]
//! as their text.
//!
//! ```
//! use sccm_wmi::wsman::{MessageId, WsMan};
//!
//! let ws = WsMan::for_site("http://provider.contoso.com:5985/wsman", "PS1")?;
//! let id = MessageId::from_bytes([7; 16]);
//! let request = ws.get("SMS_Collection", &[("CollectionID", "PS100042")], &id)?;
//! assert_eq!(request.method(), "POST");
//! let answer = br#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"
//!   xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing">
//!   <s:Header><a:Action>http://schemas.xmlsoap.org/ws/2004/09/transfer/GetResponse</a:Action></s:Header>
//!   <s:Body><p:SMS_Collection xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wmi/root/sms/site_PS1/SMS_Collection">
//!     <p:CollectionID>PS100042</p:CollectionID><p:Name>Macs</p:Name></p:SMS_Collection></s:Body></s:Envelope>"#;
//! let response = http::Response::builder().status(200).body(&answer[..]).unwrap();
//! let collection = ws.parse_get(&response)?;
//! assert_eq!(collection.class, "SMS_Collection");
//! assert_eq!(collection.get_str("Name"), Some("Macs"));
//! # Ok::<(), sccm_wmi::Error>(())
//! ```

use std::fmt::Write as _;
use std::time::Duration;

use crate::{Error, Instance, Result, Value};

mod enumeration;
mod fault;
mod response;
pub mod server;
mod xml;

#[cfg(test)]
mod tests;

pub use enumeration::Enumeration;
pub use fault::{WmiErrorDetail, WsManFault, WsManFaultDetail};
pub use response::{EnumerationBatch, Items, ResourceCreated};

use xml::XmlOut;

/// XML namespaces of WS-Management and the specifications it builds on.
pub mod ns {
    /// SOAP 1.2 envelope (prefix `s`).
    pub const SOAP: &str = "http://www.w3.org/2003/05/soap-envelope";
    /// WS-Addressing, August 2004 (prefix `wsa`; WinRM writes `a`).
    pub const ADDRESSING: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing";
    /// WS-Enumeration, September 2004 (prefix `wsen`; WinRM writes `n`).
    pub const ENUMERATION: &str = "http://schemas.xmlsoap.org/ws/2004/09/enumeration";
    /// WS-Transfer, September 2004 (prefix `wxf`; WinRM writes `x`).
    pub const TRANSFER: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer";
    /// DMTF WS-Management 1.x (prefix `w` or `wsman`).
    pub const WSMAN: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd";
    /// Microsoft's WS-Management extensions, MS-WSMV (prefix `p`).
    pub const MS_WSMAN: &str = "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd";
    /// WinRM's fault detail (prefix `f`).
    pub const WSMAN_FAULT: &str = "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault";
    /// XML Schema instance (prefix `xsi`).
    pub const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
    /// The WS-CIM common types: `cim:Datetime`, `cim:Interval`, `cim:Date`.
    pub const CIM: &str = "http://schemas.dmtf.org/wbem/wscim/1/common";
    /// The CIM binding of DSP0227 (prefix `b`).
    pub const CIM_BINDING: &str = "http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd";
    /// The base of WMI resource URIs: `<base>/<namespace>/<Class>`.
    pub const WMI_BASE: &str = "http://schemas.microsoft.com/wbem/wsman/1/wmi";
    /// The WQL filter dialect.
    pub const WQL_DIALECT: &str = "http://schemas.microsoft.com/wbem/wsman/1/WQL";
    /// The anonymous WS-Addressing endpoint (every `ReplyTo`).
    pub const ANONYMOUS: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous";
    /// The namespace of `MSFT_WmiError` in WMI-plugin faults.
    pub const MSFT_WMI_ERROR: &str =
        "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/MSFT_WmiError";

    /// This crate's prefix for a namespace, used to write fault codes in
    /// one form whatever prefix the service chose.
    pub(crate) fn canonical_prefix(ns: &str) -> Option<&'static str> {
        Some(match ns {
            SOAP => "s",
            WSMAN => "w",
            ENUMERATION => "wsen",
            ADDRESSING => "wsa",
            TRANSFER => "wxf",
            MS_WSMAN => "p",
            _ => return None,
        })
    }

    /// The namespace for one of this crate's canonical prefixes.
    pub(crate) fn for_prefix(prefix: &str) -> Option<&'static str> {
        Some(match prefix {
            "s" => SOAP,
            "w" | "wsman" => WSMAN,
            "wsen" | "n" => ENUMERATION,
            "wsa" | "a" => ADDRESSING,
            "wxf" | "x" => TRANSFER,
            "p" => MS_WSMAN,
            _ => return None,
        })
    }
}

/// The `wsa:Action` URIs of WS-Transfer, WS-Enumeration and faults.
pub mod action {
    /// WS-Transfer Get.
    pub const GET: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get";
    /// WS-Transfer Get, answered.
    pub const GET_RESPONSE: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/GetResponse";
    /// WS-Transfer Put.
    pub const PUT: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Put";
    /// WS-Transfer Put, answered.
    pub const PUT_RESPONSE: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/PutResponse";
    /// WS-Transfer Create.
    pub const CREATE: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create";
    /// WS-Transfer Create, answered.
    pub const CREATE_RESPONSE: &str =
        "http://schemas.xmlsoap.org/ws/2004/09/transfer/CreateResponse";
    /// WS-Transfer Delete.
    pub const DELETE: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete";
    /// WS-Transfer Delete, answered.
    pub const DELETE_RESPONSE: &str =
        "http://schemas.xmlsoap.org/ws/2004/09/transfer/DeleteResponse";
    /// WS-Enumeration Enumerate.
    pub const ENUMERATE: &str = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate";
    /// WS-Enumeration Enumerate, answered.
    pub const ENUMERATE_RESPONSE: &str =
        "http://schemas.xmlsoap.org/ws/2004/09/enumeration/EnumerateResponse";
    /// WS-Enumeration Pull.
    pub const PULL: &str = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Pull";
    /// WS-Enumeration Pull, answered.
    pub const PULL_RESPONSE: &str =
        "http://schemas.xmlsoap.org/ws/2004/09/enumeration/PullResponse";
    /// WS-Enumeration Release.
    pub const RELEASE: &str = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Release";
    /// WS-Enumeration Release, answered.
    pub const RELEASE_RESPONSE: &str =
        "http://schemas.xmlsoap.org/ws/2004/09/enumeration/ReleaseResponse";
    /// A WS-Management fault.
    pub const WSMAN_FAULT: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault";
    /// A WS-Addressing fault.
    pub const ADDRESSING_FAULT: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing/fault";
    /// A WS-Enumeration fault.
    pub const ENUMERATION_FAULT: &str = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/fault";
    /// A WS-Transfer fault.
    pub const TRANSFER_FAULT: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/fault";
}

/// Bounds on what is read from the network. Every answer (and, on the
/// service side, every request) is refused with [`Error::TooLarge`] (or a
/// fault) when it passes one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Bytes in one envelope (default 1 MiB; WinRM keeps its answers under
    /// the `MaxEnvelopeSize` asked for, 512,000 bytes by default).
    pub max_envelope_bytes: usize,
    /// Element nesting depth (default 32).
    pub max_depth: usize,
    /// Items in one `wsman:Items` batch (default 10,000).
    pub max_items: usize,
    /// Child elements of one element, which bounds the properties of an
    /// instance including repeated array elements (default 4,096).
    pub max_children: usize,
    /// Attributes on one element (default 64).
    pub max_attributes: usize,
    /// Namespace bindings in scope (default 256).
    pub max_namespace_bindings: usize,
    /// Text bytes in one element (default 512 KiB).
    pub max_text_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_envelope_bytes: 1 << 20,
            max_depth: 32,
            max_items: 10_000,
            max_children: 4_096,
            max_attributes: 64,
            max_namespace_bindings: 256,
            max_text_bytes: 512 * 1024,
        }
    }
}

/// A WS-Addressing `MessageID`: `uuid:` and a UUID, as WinRM writes them.
///
/// The caller supplies the 16 random bytes (this crate has no randomness);
/// [`from_bytes`](Self::from_bytes) marks them as a version-4 UUID.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MessageId(String);

impl MessageId {
    /// `uuid:XXXXXXXX-XXXX-4XXX-YXXX-XXXXXXXXXXXX` from 16 random bytes
    /// (version and variant bits set as RFC 9562 asks), upper-case like
    /// WinRM's.
    pub fn from_bytes(mut bytes: [u8; 16]) -> Self {
        bytes[6] = (bytes[6] & 0x0F) | 0x40;
        bytes[8] = (bytes[8] & 0x3F) | 0x80;
        let mut s = String::with_capacity(41);
        s.push_str("uuid:");
        for (i, b) in bytes.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                s.push('-');
            }
            let _ = write!(s, "{b:02X}");
        }
        Self(s)
    }

    /// Reads `uuid:` followed by a UUID in its 8-4-4-4-12 hexadecimal form
    /// (either case).
    pub fn parse(s: &str) -> Result<Self> {
        let bad = || Error::InvalidRequest {
            what: format!(
                "a MessageID must be `uuid:` and a UUID, not {:?}",
                xml::truncate(s, 60)
            ),
        };
        let uuid = s.strip_prefix("uuid:").ok_or_else(bad)?;
        let ok = uuid.len() == 36
            && uuid.char_indices().all(|(i, c)| match i {
                8 | 13 | 18 | 23 => c == '-',
                _ => c.is_ascii_hexdigit(),
            });
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(bad())
        }
    }

    /// The text, `uuid:…`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for MessageId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The WS-Management side of the SMS Provider: the endpoint, the WMI
/// namespace and the header values every request carries; it builds the
/// requests and reads the answers.
///
/// Defaults: `MaxEnvelopeSize` 512,000 bytes, `OperationTimeout` 60 s
/// (`PT60S`), `Locale` and `DataLocale` `en-US` (both sent with
/// `s:mustUnderstand="false"`, as WinRM's own client does), batches of
/// 100 items (`wsman:MaxElements` on `Enumerate`, `wsen:MaxElements` on
/// `Pull`), and the default [`Limits`].
#[derive(Clone, Debug)]
pub struct WsMan {
    endpoint: String,
    uri: http::Uri,
    namespace: String,
    max_envelope_size: u32,
    operation_timeout: Duration,
    locale: String,
    data_locale: String,
    max_elements: u32,
    limits: Limits,
}

impl WsMan {
    /// For the WinRM endpoint `endpoint` (an `http` or `https` URL such as
    /// `https://provider.contoso.com:5986/wsman`) and the WMI namespace
    /// `namespace` (`root/sms/site_PS1` or `root\sms\site_PS1`).
    pub fn new(endpoint: &str, namespace: &str) -> Result<Self> {
        let uri: http::Uri = endpoint.parse().map_err(|_| Error::InvalidRequest {
            what: format!("the WinRM endpoint {endpoint:?} is not a URL"),
        })?;
        match uri.scheme_str() {
            Some("http" | "https") if uri.host().is_some_and(|h| !h.is_empty()) => {}
            _ => {
                return Err(Error::InvalidRequest {
                    what: format!("the WinRM endpoint {endpoint:?} is not an http(s) URL"),
                });
            }
        }
        xml::check_xml_text(endpoint, "the endpoint")?;
        let namespace = normalize_namespace(namespace)?;
        Ok(Self {
            endpoint: endpoint.to_owned(),
            uri,
            namespace,
            max_envelope_size: 512_000,
            operation_timeout: Duration::from_secs(60),
            locale: "en-US".into(),
            data_locale: "en-US".into(),
            max_elements: 100,
            limits: Limits::default(),
        })
    }

    /// For the site `site_code` (three letters or digits, such as `PS1`):
    /// the namespace `root/sms/site_<code>`.
    pub fn for_site(endpoint: &str, site_code: &str) -> Result<Self> {
        if site_code.len() != 3 || !site_code.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(Error::InvalidRequest {
                what: format!("{site_code:?} is not a ConfigMgr site code"),
            });
        }
        Self::new(endpoint, &format!("root/sms/site_{site_code}"))
    }

    /// Sets `wsman:MaxEnvelopeSize` (bytes; at least 8,192).
    pub fn set_max_envelope_size(&mut self, bytes: u32) -> &mut Self {
        self.max_envelope_size = bytes.max(8192);
        self
    }

    /// Sets `wsman:OperationTimeout` (whole milliseconds are sent).
    pub fn set_operation_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.operation_timeout = timeout;
        self
    }

    /// Sets `wsman:Locale` and `p:DataLocale` (an RFC 5646 tag such as
    /// `de-DE`; anything else is ignored).
    pub fn set_locale(&mut self, locale: &str, data_locale: &str) -> &mut Self {
        let ok = |s: &str| {
            !s.is_empty()
                && s.len() <= 35
                && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        };
        if ok(locale) {
            self.locale = locale.to_owned();
        }
        if ok(data_locale) {
            self.data_locale = data_locale.to_owned();
        }
        self
    }

    /// Sets how many items one batch asks for (at least 1).
    pub fn set_max_elements(&mut self, n: u32) -> &mut Self {
        self.max_elements = n.max(1);
        self
    }

    /// Sets the limits answers are read within.
    pub fn set_limits(&mut self, limits: Limits) -> &mut Self {
        self.limits = limits;
        self
    }

    /// The endpoint URL.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The WMI namespace, with `/` separators (`root/sms/site_PS1`).
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The number of items a batch asks for.
    pub fn max_elements(&self) -> u32 {
        self.max_elements
    }

    /// The limits answers are read within.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The resource URI of `class` in this namespace.
    pub fn resource_uri(&self, class: &str) -> Result<String> {
        check_identifier(class, "class name")?;
        Ok(format!("{}/{}/{class}", ns::WMI_BASE, self.namespace))
    }

    /// The resource URI WQL enumerations use: the namespace and `*`.
    pub fn wql_resource_uri(&self) -> String {
        format!("{}/{}/*", ns::WMI_BASE, self.namespace)
    }

    // -----------------------------------------------------------------
    // Requests
    // -----------------------------------------------------------------

    /// `Enumerate` every instance of `class` (WMI `CreateInstanceEnum`),
    /// optimized: the first batch comes back in the answer.
    pub fn enumerate(&self, class: &str, id: &MessageId) -> Result<http::Request<Vec<u8>>> {
        let uri = self.resource_uri(class)?;
        Ok(self.enumerate_at(&uri, None, id))
    }

    /// `Enumerate` the answer to a WQL query (WMI `ExecQuery`), on the
    /// namespace's `*` resource with a `wsman:Filter` in the WQL dialect,
    /// optimized. The query is sent as given, escaped; build it with
    /// [`crate::wql`] to keep values from changing its meaning.
    pub fn enumerate_wql(&self, query: &str, id: &MessageId) -> Result<http::Request<Vec<u8>>> {
        xml::check_xml_text(query, "the WQL query")?;
        if query.trim().is_empty() {
            return Err(Error::InvalidRequest {
                what: "an empty WQL query".into(),
            });
        }
        Ok(self.enumerate_at(&self.wql_resource_uri(), Some(query), id))
    }

    pub(crate) fn enumerate_at(
        &self,
        resource_uri: &str,
        wql: Option<&str>,
        id: &MessageId,
    ) -> http::Request<Vec<u8>> {
        let max = self.max_elements.to_string();
        self.envelope(action::ENUMERATE, resource_uri, &[], id, |w| {
            w.open("n:Enumerate", &[]);
            w.empty("w:OptimizeEnumeration", &[]);
            w.leaf("w:MaxElements", &[], &max);
            if let Some(q) = wql {
                w.leaf("w:Filter", &[("Dialect", ns::WQL_DIALECT)], q);
            }
            w.close("n:Enumerate");
            Ok(())
        })
        .expect("the body writer above does not fail") // local invariant
    }

    /// `Pull` the next batch of at most `max_elements` items of the
    /// enumeration `context` on `resource_uri` (the one the `Enumerate`
    /// used: [`resource_uri`](Self::resource_uri) or
    /// [`wql_resource_uri`](Self::wql_resource_uri)).
    pub fn pull(
        &self,
        resource_uri: &str,
        context: &str,
        max_elements: u32,
        id: &MessageId,
    ) -> Result<http::Request<Vec<u8>>> {
        self.check_resource_uri(resource_uri)?;
        xml::check_xml_text(context, "the enumeration context")?;
        let max = max_elements.max(1).to_string();
        self.envelope(action::PULL, resource_uri, &[], id, |w| {
            w.open("n:Pull", &[]);
            w.leaf("n:EnumerationContext", &[], context);
            w.leaf("n:MaxElements", &[], &max);
            w.close("n:Pull");
            Ok(())
        })
    }

    /// `Release` the enumeration `context` on `resource_uri` before its
    /// end, so the service frees it.
    pub fn release(
        &self,
        resource_uri: &str,
        context: &str,
        id: &MessageId,
    ) -> Result<http::Request<Vec<u8>>> {
        self.check_resource_uri(resource_uri)?;
        xml::check_xml_text(context, "the enumeration context")?;
        self.envelope(action::RELEASE, resource_uri, &[], id, |w| {
            w.open("n:Release", &[]);
            w.leaf("n:EnumerationContext", &[], context);
            w.close("n:Release");
            Ok(())
        })
    }

    /// `Get` the instance of `class` whose keys are `selectors`
    /// (name, value).
    pub fn get(
        &self,
        class: &str,
        selectors: &[(&str, &str)],
        id: &MessageId,
    ) -> Result<http::Request<Vec<u8>>> {
        let uri = self.resource_uri(class)?;
        check_selectors(selectors, false)?;
        self.envelope(action::GET, &uri, selectors, id, |_| Ok(()))
    }

    /// `Put` (update) the instance of `class` whose keys are `selectors`
    /// with the properties of `instance` (its class must be `class` or
    /// empty).
    pub fn put(
        &self,
        class: &str,
        selectors: &[(&str, &str)],
        instance: &Instance,
        id: &MessageId,
    ) -> Result<http::Request<Vec<u8>>> {
        let uri = self.resource_uri(class)?;
        check_selectors(selectors, false)?;
        check_instance_class(class, instance)?;
        let ns_base = self.namespace_uri();
        self.envelope(action::PUT, &uri, selectors, id, |w| {
            write_instance(w, &ns_base, class, instance, None)
        })
    }

    /// `Create` an instance of `class` with the properties of `instance`.
    pub fn create(
        &self,
        class: &str,
        instance: &Instance,
        id: &MessageId,
    ) -> Result<http::Request<Vec<u8>>> {
        let uri = self.resource_uri(class)?;
        check_instance_class(class, instance)?;
        let ns_base = self.namespace_uri();
        self.envelope(action::CREATE, &uri, &[], id, |w| {
            write_instance(w, &ns_base, class, instance, None)
        })
    }

    /// `Delete` the instance of `class` whose keys are `selectors`.
    pub fn delete(
        &self,
        class: &str,
        selectors: &[(&str, &str)],
        id: &MessageId,
    ) -> Result<http::Request<Vec<u8>>> {
        let uri = self.resource_uri(class)?;
        check_selectors(selectors, false)?;
        self.envelope(action::DELETE, &uri, selectors, id, |_| Ok(()))
    }

    /// Invoke `method` of `class`: on the instance whose keys are
    /// `selectors`, or the static method when `selectors` is empty. The
    /// properties of `input` are the input parameters (its class is not
    /// sent); embedded objects among them, such as the
    /// `SMS_CollectionRuleDirect` of `AddMembershipRule`, are written with
    /// `xsi:type="…:<Class>_Type"` in their class's namespace, as WinRM
    /// reads them.
    pub fn invoke(
        &self,
        class: &str,
        method: &str,
        selectors: &[(&str, &str)],
        input: &Instance,
        id: &MessageId,
    ) -> Result<http::Request<Vec<u8>>> {
        let uri = self.resource_uri(class)?;
        check_identifier(method, "method name")?;
        check_selectors(selectors, true)?;
        let action = format!("{uri}/{method}");
        let ns_base = self.namespace_uri();
        let element = format!("{method}_INPUT");
        self.envelope(&action, &uri, selectors, id, |w| {
            write_properties_element(w, &ns_base, &uri, &element, input, None)
        })
    }

    /// `<base>/<namespace>`, which a class name completes.
    fn namespace_uri(&self) -> String {
        format!("{}/{}", ns::WMI_BASE, self.namespace)
    }

    fn check_resource_uri(&self, uri: &str) -> Result<()> {
        let base = self.namespace_uri();
        let rest = uri.strip_prefix(&base).and_then(|r| r.strip_prefix('/'));
        match rest {
            Some("*") => Ok(()),
            Some(class) => check_identifier(class, "class name"),
            None => Err(Error::InvalidRequest {
                what: format!("{uri:?} is not a resource URI of {base}"),
            }),
        }
    }

    /// Timeout as `xs:duration`, `PT<seconds>.<millis>S` (or `PT<s>S`).
    fn timeout_text(&self) -> String {
        let ms = self.operation_timeout.as_millis().min(u128::from(u32::MAX));
        if ms % 1000 == 0 {
            format!("PT{}S", ms / 1000)
        } else {
            format!("PT{}.{:03}S", ms / 1000, ms % 1000)
        }
    }

    /// An envelope with the common header, the selectors, and a body the
    /// closure writes.
    fn envelope(
        &self,
        action: &str,
        resource_uri: &str,
        selectors: &[(&str, &str)],
        id: &MessageId,
        body: impl FnOnce(&mut XmlOut) -> Result<()>,
    ) -> Result<http::Request<Vec<u8>>> {
        let mut w = XmlOut::new();
        w.open(
            "s:Envelope",
            &[
                ("xmlns:s", ns::SOAP),
                ("xmlns:a", ns::ADDRESSING),
                ("xmlns:n", ns::ENUMERATION),
                ("xmlns:w", ns::WSMAN),
                ("xmlns:p", ns::MS_WSMAN),
                ("xmlns:xsi", ns::XSI),
            ],
        );
        w.open("s:Header", &[]);
        w.leaf("a:To", &[], &self.endpoint);
        w.leaf(
            "w:ResourceURI",
            &[("s:mustUnderstand", "true")],
            resource_uri,
        );
        w.open("a:ReplyTo", &[]);
        w.leaf("a:Address", &[("s:mustUnderstand", "true")], ns::ANONYMOUS);
        w.close("a:ReplyTo");
        w.leaf("a:Action", &[("s:mustUnderstand", "true")], action);
        w.leaf(
            "w:MaxEnvelopeSize",
            &[("s:mustUnderstand", "true")],
            &self.max_envelope_size.to_string(),
        );
        w.leaf("a:MessageID", &[], id.as_str());
        w.empty(
            "w:Locale",
            &[("xml:lang", &self.locale), ("s:mustUnderstand", "false")],
        );
        w.empty(
            "p:DataLocale",
            &[
                ("xml:lang", &self.data_locale),
                ("s:mustUnderstand", "false"),
            ],
        );
        if !selectors.is_empty() {
            write_selector_set(&mut w, selectors);
        }
        w.leaf("w:OperationTimeout", &[], &self.timeout_text());
        w.close("s:Header");
        w.open("s:Body", &[]);
        body(&mut w)?;
        w.close("s:Body");
        w.close("s:Envelope");
        let bytes = w.finish();
        http::Request::builder()
            .method(http::Method::POST)
            .uri(self.uri.clone())
            .header(
                http::header::CONTENT_TYPE,
                "application/soap+xml;charset=UTF-8",
            )
            .body(bytes)
            .map_err(|e| Error::InvalidRequest {
                what: format!("building the HTTP request: {e}"),
            })
    }

    // -----------------------------------------------------------------
    // Answers
    // -----------------------------------------------------------------

    /// Reads the answer to [`enumerate`](Self::enumerate) or
    /// [`enumerate_wql`](Self::enumerate_wql): the context, whether the
    /// sequence ended, and the first batch, read item by item.
    pub fn parse_enumerate<'a>(
        &self,
        response: &http::Response<&'a [u8]>,
    ) -> Result<EnumerationBatch<'a>> {
        response::parse_batch(response, &self.limits, response::BatchKind::Enumerate)
    }

    /// Reads the answer to [`pull`](Self::pull).
    pub fn parse_pull<'a>(
        &self,
        response: &http::Response<&'a [u8]>,
    ) -> Result<EnumerationBatch<'a>> {
        response::parse_batch(response, &self.limits, response::BatchKind::Pull)
    }

    /// Reads the answer to [`release`](Self::release).
    pub fn parse_release(&self, response: &http::Response<&[u8]>) -> Result<()> {
        response::parse_empty(response, &self.limits, action::RELEASE_RESPONSE)
    }

    /// Reads the answer to [`get`](Self::get): the instance.
    pub fn parse_get(&self, response: &http::Response<&[u8]>) -> Result<Instance> {
        response::parse_instance(response, &self.limits, action::GET_RESPONSE)?.ok_or_else(|| {
            Error::InvalidResponse {
                what: "a GetResponse without an instance".into(),
            }
        })
    }

    /// Reads the answer to [`put`](Self::put): the instance as stored, when
    /// the service sends it back (WinRM does).
    pub fn parse_put(&self, response: &http::Response<&[u8]>) -> Result<Option<Instance>> {
        response::parse_instance(response, &self.limits, action::PUT_RESPONSE)
    }

    /// Reads the answer to [`create`](Self::create): the new instance's
    /// endpoint reference, with its keys.
    pub fn parse_create(&self, response: &http::Response<&[u8]>) -> Result<ResourceCreated> {
        response::parse_create(response, &self.limits)
    }

    /// Reads the answer to [`delete`](Self::delete).
    pub fn parse_delete(&self, response: &http::Response<&[u8]>) -> Result<()> {
        response::parse_empty(response, &self.limits, action::DELETE_RESPONSE)
    }

    /// Reads the answer to [`invoke`](Self::invoke) of `method` on `class`:
    /// the `<Method>_OUTPUT` element as an instance of that name, with
    /// `ReturnValue` and the output parameters.
    pub fn parse_invoke(
        &self,
        class: &str,
        method: &str,
        response: &http::Response<&[u8]>,
    ) -> Result<Instance> {
        let uri = self.resource_uri(class)?;
        check_identifier(method, "method name")?;
        let expected = format!("{uri}/{method}Response");
        let out =
            response::parse_instance(response, &self.limits, &expected)?.ok_or_else(|| {
                Error::InvalidResponse {
                    what: format!("no {method}_OUTPUT in the answer"),
                }
            })?;
        if !out.class.eq_ignore_ascii_case(&format!("{method}_OUTPUT")) {
            return Err(Error::InvalidResponse {
                what: format!("expected {method}_OUTPUT, got {}", out.class),
            });
        }
        Ok(out)
    }
}

// ---------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------

/// Checks a WMI identifier (class, property, method or selector name):
/// ASCII letters, digits and `_`, not starting with a digit, 1 to 256
/// characters. Such a name needs no escaping anywhere in an envelope.
pub fn check_identifier(name: &str, what: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 256
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit();
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidRequest {
            what: format!("{:?} is not a valid WMI {what}", xml::truncate(name, 80)),
        })
    }
}

fn normalize_namespace(namespace: &str) -> Result<String> {
    let parts: Vec<&str> = namespace.split(['/', '\\']).collect();
    if parts.is_empty() || parts.len() > 16 {
        return Err(Error::InvalidRequest {
            what: format!("{namespace:?} is not a WMI namespace"),
        });
    }
    for p in &parts {
        check_identifier(p, "namespace segment")?;
    }
    Ok(parts.join("/"))
}

fn check_selectors(selectors: &[(&str, &str)], may_be_empty: bool) -> Result<()> {
    if selectors.is_empty() && !may_be_empty {
        return Err(Error::InvalidRequest {
            what: "an instance is named by at least one key (selector)".into(),
        });
    }
    for (name, value) in selectors {
        check_identifier(name, "selector name")?;
        xml::check_xml_text(value, "a selector value")?;
    }
    Ok(())
}

fn check_instance_class(class: &str, instance: &Instance) -> Result<()> {
    if instance.class.is_empty() || instance.class.eq_ignore_ascii_case(class) {
        Ok(())
    } else {
        Err(Error::InvalidRequest {
            what: format!("an instance of {} sent as {class}", instance.class),
        })
    }
}

// ---------------------------------------------------------------------
// Writing instances
// ---------------------------------------------------------------------

fn write_selector_set(w: &mut XmlOut, selectors: &[(&str, &str)]) {
    w.open("w:SelectorSet", &[]);
    for (name, value) in selectors {
        w.leaf("w:Selector", &[("Name", name)], value);
    }
    w.close("w:SelectorSet");
}

/// Writes `instance` as the element `<p:<class>>` in the namespace of its
/// class (`<ns_base>/<class>`), the body of `Put` and `Create` and an item
/// of a simulated enumeration.
pub(crate) fn write_instance(
    w: &mut XmlOut,
    ns_base: &str,
    class: &str,
    instance: &Instance,
    extra_attrs: Option<&[(&str, &str)]>,
) -> Result<()> {
    check_identifier(class, "class name")?;
    let uri = format!("{ns_base}/{class}");
    write_properties_element(w, ns_base, &uri, class, instance, extra_attrs)
}

/// `<p:<element> xmlns:p="<uri>" xmlns:xsi=…>` with one child per property.
pub(crate) fn write_properties_element(
    w: &mut XmlOut,
    ns_base: &str,
    uri: &str,
    element: &str,
    instance: &Instance,
    extra_attrs: Option<&[(&str, &str)]>,
) -> Result<()> {
    let name = format!("p:{element}");
    let mut attrs: Vec<(&str, &str)> = vec![("xmlns:p", uri), ("xmlns:xsi", ns::XSI)];
    if let Some(extra) = extra_attrs {
        attrs.extend_from_slice(extra);
    }
    w.open(&name, &attrs);
    let mut next_prefix = 1;
    write_properties(w, ns_base, "p", instance, &mut next_prefix, 1)?;
    w.close(&name);
    Ok(())
}

/// The deepest embedded-object nesting a request may carry.
const MAX_WRITE_DEPTH: usize = 16;

fn write_properties(
    w: &mut XmlOut,
    ns_base: &str,
    prefix: &str,
    instance: &Instance,
    next_prefix: &mut u32,
    depth: usize,
) -> Result<()> {
    if depth > MAX_WRITE_DEPTH {
        return Err(Error::InvalidRequest {
            what: format!("embedded objects nested deeper than {MAX_WRITE_DEPTH}"),
        });
    }
    for (name, value) in &instance.properties {
        check_identifier(name, "property name")?;
        let element = format!("{prefix}:{name}");
        match value {
            Value::Array(items) => {
                for item in items {
                    if matches!(item, Value::Array(_)) {
                        return Err(Error::InvalidRequest {
                            what: format!("the property {name} is an array of arrays"),
                        });
                    }
                    write_value(w, ns_base, &element, item, next_prefix, depth)?;
                }
            }
            v => write_value(w, ns_base, &element, v, next_prefix, depth)?,
        }
    }
    Ok(())
}

fn write_value(
    w: &mut XmlOut,
    ns_base: &str,
    element: &str,
    value: &Value,
    next_prefix: &mut u32,
    depth: usize,
) -> Result<()> {
    match value {
        Value::Null => w.empty(element, &[("xsi:nil", "true")]),
        Value::Bool(b) => w.leaf(element, &[], if *b { "true" } else { "false" }),
        Value::Int(i) => w.leaf(element, &[], &i.to_string()),
        Value::Real(f) => w.leaf(element, &[], &real_text(*f)),
        Value::String(s) => {
            xml::check_xml_text(s, "a property value")?;
            w.leaf(element, &[], s);
        }
        Value::Array(_) => {
            return Err(Error::InvalidRequest {
                what: format!("{element} is an array inside an array"),
            });
        }
        Value::Object(obj) => {
            check_identifier(&obj.class, "embedded object's class name")?;
            let prefix = format!("p{next_prefix}");
            *next_prefix += 1;
            let xmlns = format!("xmlns:{prefix}");
            let uri = format!("{ns_base}/{}", obj.class);
            let ty = format!("{prefix}:{}_Type", obj.class);
            w.open(element, &[(&xmlns, &uri), ("xsi:type", &ty)]);
            write_properties(w, ns_base, &prefix, obj, next_prefix, depth + 1)?;
            w.close(element);
        }
    }
    Ok(())
}

/// A real as `xs:double` text: `INF`, `-INF`, `NaN`, or the shortest
/// decimal that reads back to the same value.
pub(crate) fn real_text(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "INF".into() } else { "-INF".into() }
    } else {
        format!("{f:?}")
    }
}
