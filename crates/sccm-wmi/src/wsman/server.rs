//! The service side of WMI over WS-Management, for a simulated SMS
//! Provider: reading request envelopes into a [`Request`] and writing
//! answers the way WinRM does (`RelatesTo` the request's `MessageID`, the
//! `…Response` actions, `wsman:Items` in optimized enumerations, faults
//! with `WSManFault` and `MSFT_WmiError` details).
//!
//! No I/O: the simulator's HTTP server hands the body of each `POST` to
//! [`parse_request`] and sends back what a builder returns. A request that
//! cannot be read gives the [`WsManFault`] WinRM would answer, ready for
//! [`fault_response`].
//!
//! ```
//! use sccm_wmi::wsman::{MessageId, WsMan, server};
//! use sccm_wmi::Instance;
//!
//! let ws = WsMan::for_site("http://127.0.0.1:5985/wsman", "PS1")?;
//! let request = ws.get("SMS_Collection", &[("CollectionID", "PS100042")], &MessageId::from_bytes([3; 16]))?;
//! let parsed = server::parse_request(request.body(), &Default::default()).unwrap();
//! assert_eq!(parsed.operation, server::Operation::Get);
//! assert_eq!(parsed.class.as_deref(), Some("SMS_Collection"));
//! let found = Instance::new("SMS_Collection").with("CollectionID", "PS100042").with("Name", "Macs");
//! let answer = server::get_response(&parsed, &MessageId::from_bytes([4; 16]), &found)?;
//! let (parts, body) = answer.into_parts();
//! let back = ws.parse_get(&http::Response::from_parts(parts, body.as_slice()))?;
//! assert_eq!(back.get_str("Name"), Some("Macs"));
//! # Ok::<(), sccm_wmi::Error>(())
//! ```

use super::fault::{WmiErrorDetail, WsManFault};
use super::response::{item_instance, selectors_of};
use super::xml::{Cursor, Element, ParseError, XmlOut, truncate};
use super::{Limits, MessageId, action, check_identifier, ns, write_instance};
use crate::{Error, Instance, Result};

/// The WS-Management operation a request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// WS-Transfer `Get`.
    Get,
    /// WS-Transfer `Put`.
    Put,
    /// WS-Transfer `Create`.
    Create,
    /// WS-Transfer `Delete`.
    Delete,
    /// WS-Enumeration `Enumerate`.
    Enumerate,
    /// WS-Enumeration `Pull`.
    Pull,
    /// WS-Enumeration `Release`.
    Release,
    /// A method call: the action is the resource URI and `/<Method>`.
    Invoke,
}

/// An enumeration filter (`wsman:Filter`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filter {
    /// The `Dialect` attribute (WQL: [`ns::WQL_DIALECT`]); empty if absent.
    pub dialect: String,
    /// The filter text, such as a WQL query.
    pub text: String,
}

/// A request envelope, read.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    /// The operation.
    pub operation: Operation,
    /// `wsa:Action`, as sent.
    pub action: String,
    /// `wsa:MessageID`, as sent (the answer's `RelatesTo`).
    pub message_id: String,
    /// `wsa:To`, if sent.
    pub to: Option<String>,
    /// `wsman:ResourceURI`.
    pub resource_uri: String,
    /// The WMI namespace a WMI resource URI names, with `/` separators
    /// (`root/sms/site_PS1`); `None` for other resource URIs.
    pub namespace: Option<String>,
    /// The class a WMI resource URI names; `None` for `…/*` or other URIs.
    pub class: Option<String>,
    /// `wsman:SelectorSet`: the keys, name and value, in order.
    pub selectors: Vec<(String, String)>,
    /// `wsman:Filter` of an `Enumerate`.
    pub filter: Option<Filter>,
    /// `wsen:EnumerationContext` of a `Pull` or `Release`.
    pub context: Option<String>,
    /// `wsman:MaxElements` (Enumerate) or `wsen:MaxElements` (Pull).
    pub max_elements: Option<u32>,
    /// Whether an `Enumerate` asked for `wsman:OptimizeEnumeration`.
    pub optimize: bool,
    /// The method of an [`Operation::Invoke`].
    pub method: Option<String>,
    /// The body instance: the instance of a `Put` or `Create` (its class is
    /// the element name), or the input parameters of an `Invoke` (class
    /// `<Method>_INPUT`).
    pub input: Option<Instance>,
    /// `wsman:MaxEnvelopeSize`, if sent.
    pub max_envelope_size: Option<u32>,
    /// `wsman:OperationTimeout`, as sent (`PT60S`).
    pub operation_timeout: Option<String>,
    /// `wsman:Locale`'s `xml:lang`, if sent.
    pub locale: Option<String>,
}

const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

/// Reads a request envelope. A request that is not well-formed, misses a
/// required header, names an unknown action or carries a header marked
/// `mustUnderstand` that WinRM would not understand gives the fault WinRM
/// would answer.
pub fn parse_request(
    body: &[u8],
    limits: &Limits,
) -> std::result::Result<Request, Box<WsManFault>> {
    let mut cursor = Cursor::new(body, limits).map_err(parse_fault)?;
    let header = super::response::enter_body(&mut cursor).map_err(parse_fault)?;
    let body_element = match cursor.next_child().map_err(parse_fault)? {
        Some(first) => {
            let e = cursor.read_element(first).map_err(parse_fault)?;
            super::response::leave_body(&mut cursor).map_err(parse_fault)?;
            Some(e)
        }
        None => {
            super::response::leave_envelope(&mut cursor).map_err(parse_fault)?;
            None
        }
    };
    read_request(&header, body_element.as_ref())
}

fn parse_fault(e: ParseError) -> Box<WsManFault> {
    Box::new(match e {
        ParseError::Malformed(what) => schema_fault(&what),
        ParseError::TooLarge { what, limit } => WsManFault::new(
            "s:Sender",
            Some("w:EncodingLimit"),
            &format!("The request is too large: {what} exceeds {limit}. "),
        )
        .with_wsman(2150858801, "localhost", "The request exceeds a size limit."),
    })
}

/// A schema-validation fault (`w:SchemaValidationError`).
pub fn schema_fault(what: &str) -> WsManFault {
    WsManFault::new(
        "s:Sender",
        Some("w:SchemaValidationError"),
        &format!(
            "The SOAP XML in the message does not match the corresponding XML schema definition: {}. ",
            truncate(what, 200)
        ),
    )
    .with_wsman(2150858817, "localhost", "The request is not valid.")
}

fn header_required(name: &str) -> WsManFault {
    WsManFault::new(
        "s:Sender",
        Some("wsa:MessageInformationHeaderRequired"),
        &format!("A required header property is missing: {name}. "),
    )
}

fn read_request(
    header: &Element,
    body: Option<&Element>,
) -> std::result::Result<Request, Box<WsManFault>> {
    for h in &header.children {
        let must = matches!(
            h.attr(ns::SOAP, "mustUnderstand").map(str::trim),
            Some("true" | "1")
        );
        if must && !understood(h) {
            return Err(Box::new(WsManFault::new(
                "s:MustUnderstand",
                None,
                &format!("The header {} is not understood. ", truncate(&h.local, 80)),
            )));
        }
    }
    let text = |ns: &str, local: &str| header.child(ns, local).map(|e| e.trimmed().to_owned());
    let action_uri =
        text(ns::ADDRESSING, "Action").ok_or_else(|| Box::new(header_required("Action")))?;
    let message_id =
        text(ns::ADDRESSING, "MessageID").ok_or_else(|| Box::new(header_required("MessageID")))?;
    let resource_uri = text(ns::WSMAN, "ResourceURI").ok_or_else(|| {
        Box::new(WsManFault::new(
            "s:Sender",
            Some("wsa:DestinationUnreachable"),
            "The WS-Management service cannot process the request because the ResourceURI is missing. ",
        )
        .with_wsman(2150858752, "localhost", "The resource URI is missing."))
    })?;
    let (namespace, class) = split_wmi_uri(&resource_uri);
    let mut request = Request {
        operation: Operation::Get,
        action: action_uri.clone(),
        message_id,
        to: text(ns::ADDRESSING, "To"),
        resource_uri: resource_uri.clone(),
        namespace,
        class,
        selectors: header
            .child(ns::WSMAN, "SelectorSet")
            .map(selectors_of)
            .unwrap_or_default(),
        filter: None,
        context: None,
        max_elements: None,
        optimize: false,
        method: None,
        input: None,
        max_envelope_size: text(ns::WSMAN, "MaxEnvelopeSize").and_then(|s| s.parse().ok()),
        operation_timeout: text(ns::WSMAN, "OperationTimeout"),
        locale: header
            .child(ns::WSMAN, "Locale")
            .and_then(|l| l.attr(XML_NS, "lang"))
            .map(str::to_owned),
    };
    request.operation = match action_uri.as_str() {
        action::GET => Operation::Get,
        action::PUT => Operation::Put,
        action::CREATE => Operation::Create,
        action::DELETE => Operation::Delete,
        action::ENUMERATE => Operation::Enumerate,
        action::PULL => Operation::Pull,
        action::RELEASE => Operation::Release,
        other => {
            let method = other
                .strip_prefix(resource_uri.as_str())
                .and_then(|m| m.strip_prefix('/'))
                .filter(|m| check_identifier(m, "method name").is_ok());
            match method {
                Some(m) => {
                    request.method = Some(m.to_owned());
                    Operation::Invoke
                }
                None => {
                    return Err(Box::new(
                        WsManFault::new(
                            "s:Sender",
                            Some("wsa:ActionNotSupported"),
                            &format!(
                                "The action {} is not supported by the service. ",
                                truncate(other, 200)
                            ),
                        )
                        .with_wsman(
                            2150858754,
                            "localhost",
                            "The action is not supported.",
                        ),
                    ));
                }
            }
        }
    };
    let body_named = |ns: &str, local: &str| -> std::result::Result<&Element, Box<WsManFault>> {
        body.filter(|b| b.is(ns, local))
            .ok_or_else(|| Box::new(schema_fault(&format!("the body is not {local}"))))
    };
    match request.operation {
        Operation::Get | Operation::Delete => {}
        Operation::Enumerate => {
            let e = body_named(ns::ENUMERATION, "Enumerate")?;
            for c in &e.children {
                match (c.ns.as_str(), c.local.as_str()) {
                    (ns::WSMAN, "OptimizeEnumeration") => request.optimize = true,
                    (ns::WSMAN, "MaxElements") => request.max_elements = Some(parse_count(c)?),
                    (ns::WSMAN | ns::ENUMERATION, "Filter") => {
                        request.filter = Some(Filter {
                            dialect: c.attr("", "Dialect").unwrap_or_default().to_owned(),
                            text: c.text.trim().to_owned(),
                        });
                    }
                    _ => {}
                }
            }
        }
        Operation::Pull | Operation::Release => {
            let local = if request.operation == Operation::Pull {
                "Pull"
            } else {
                "Release"
            };
            let e = body_named(ns::ENUMERATION, local)?;
            request.context = e
                .child(ns::ENUMERATION, "EnumerationContext")
                .map(|c| c.trimmed().to_owned());
            if request.context.is_none() {
                return Err(Box::new(schema_fault("no EnumerationContext")));
            }
            if let Some(m) = e.child(ns::ENUMERATION, "MaxElements") {
                request.max_elements = Some(parse_count(m)?);
            }
        }
        Operation::Put | Operation::Create => {
            let e = body.ok_or_else(|| Box::new(schema_fault("the body holds no instance")))?;
            request.input = Some(item_instance(e));
        }
        Operation::Invoke => {
            let method = request.method.clone().unwrap_or_default();
            let expected = format!("{method}_INPUT");
            match body {
                Some(e) if e.local.eq_ignore_ascii_case(&expected) => {
                    let mut input = item_instance(e);
                    input.class = e.local.clone();
                    request.input = Some(input);
                }
                Some(e) => {
                    return Err(Box::new(schema_fault(&format!(
                        "the body is {}, not {expected}",
                        truncate(&e.local, 80)
                    ))));
                }
                None => request.input = Some(Instance::new(expected)),
            }
        }
    }
    Ok(request)
}

fn parse_count(e: &Element) -> std::result::Result<u32, Box<WsManFault>> {
    e.trimmed()
        .parse::<u32>()
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| Box::new(schema_fault("MaxElements is not a positive integer")))
}

fn understood(h: &Element) -> bool {
    match h.ns.as_str() {
        ns::ADDRESSING => matches!(
            h.local.as_str(),
            "To" | "Action" | "MessageID" | "ReplyTo" | "FaultTo"
        ),
        ns::WSMAN => matches!(
            h.local.as_str(),
            "ResourceURI"
                | "SelectorSet"
                | "MaxEnvelopeSize"
                | "OperationTimeout"
                | "Locale"
                | "OptionSet"
        ),
        ns::MS_WSMAN => matches!(
            h.local.as_str(),
            "DataLocale" | "SessionId" | "OperationID" | "SequenceId"
        ),
        _ => false,
    }
}

/// `…/wmi/root/sms/site_PS1/SMS_R_System` → (`root/sms/site_PS1`,
/// `SMS_R_System`); `…/*` gives no class.
fn split_wmi_uri(uri: &str) -> (Option<String>, Option<String>) {
    let Some(rest) = uri
        .strip_prefix(ns::WMI_BASE)
        .and_then(|r| r.strip_prefix('/'))
    else {
        return (None, None);
    };
    let rest = rest.split('?').next().unwrap_or_default();
    let Some((namespace, last)) = rest.rsplit_once('/') else {
        return (None, None);
    };
    let class =
        (last != "*" && check_identifier(last, "class name").is_ok()).then(|| last.to_owned());
    (Some(namespace.to_owned()), class)
}

// ---------------------------------------------------------------------
// Answers
// ---------------------------------------------------------------------

/// The namespace URI items of `request` belong to: the resource URI
/// without its last segment.
fn namespace_base(request: &Request) -> String {
    let uri = request.resource_uri.split('?').next().unwrap_or_default();
    match uri.rsplit_once('/') {
        Some((base, _)) => base.to_owned(),
        None => uri.to_owned(),
    }
}

fn start_envelope(w: &mut XmlOut, action_uri: &str, id: &MessageId, relates_to: Option<&str>) {
    w.open(
        "s:Envelope",
        &[
            ("xml:lang", "en-US"),
            ("xmlns:s", ns::SOAP),
            ("xmlns:a", ns::ADDRESSING),
            ("xmlns:n", ns::ENUMERATION),
            ("xmlns:x", ns::TRANSFER),
            ("xmlns:w", ns::WSMAN),
            ("xmlns:p", ns::MS_WSMAN),
            ("xmlns:b", ns::CIM_BINDING),
        ],
    );
    w.open("s:Header", &[]);
    w.leaf("a:To", &[], ns::ANONYMOUS);
    w.leaf("a:Action", &[], action_uri);
    w.leaf("a:MessageID", &[], id.as_str());
    if let Some(r) = relates_to {
        w.leaf("a:RelatesTo", &[], r);
    }
    w.close("s:Header");
    w.open("s:Body", &[]);
}

fn finish(mut w: XmlOut, status: u16) -> Result<http::Response<Vec<u8>>> {
    w.close("s:Body");
    w.close("s:Envelope");
    http::Response::builder()
        .status(status)
        .header(
            http::header::CONTENT_TYPE,
            "application/soap+xml;charset=UTF-8",
        )
        .body(w.finish())
        .map_err(|e| Error::InvalidRequest {
            what: format!("building the HTTP answer: {e}"),
        })
}

fn check_text(s: &str, what: &str) -> Result<()> {
    super::xml::check_xml_text(s, what)
}

fn write_items(w: &mut XmlOut, base: &str, items: &[Instance]) -> Result<()> {
    for item in items {
        write_instance(w, base, &item.class, item, None)?;
    }
    Ok(())
}

/// The answer to an `Enumerate`: the context (none when the sequence ends
/// here), and — when the request asked for an optimized enumeration — the
/// first batch in `wsman:Items` and `wsman:EndOfSequence` when it is the
/// last. Items are written in their class's namespace under the request's
/// namespace; each needs a class.
pub fn enumerate_response(
    request: &Request,
    id: &MessageId,
    context: Option<&str>,
    items: &[Instance],
    end_of_sequence: bool,
) -> Result<http::Response<Vec<u8>>> {
    let mut w = XmlOut::new();
    start_envelope(
        &mut w,
        action::ENUMERATE_RESPONSE,
        id,
        Some(&request.message_id),
    );
    w.open("n:EnumerateResponse", &[]);
    if let Some(c) = context {
        check_text(c, "the context")?;
        w.leaf("n:EnumerationContext", &[], c);
    }
    if request.optimize {
        w.open("w:Items", &[]);
        write_items(&mut w, &namespace_base(request), items)?;
        w.close("w:Items");
        if end_of_sequence {
            w.empty("w:EndOfSequence", &[]);
        }
    }
    w.close("n:EnumerateResponse");
    finish(w, 200)
}

/// The answer to a `Pull`: the context (none at the end), the items in
/// `wsen:Items`, and `wsen:EndOfSequence` when this batch is the last.
pub fn pull_response(
    request: &Request,
    id: &MessageId,
    context: Option<&str>,
    items: &[Instance],
    end_of_sequence: bool,
) -> Result<http::Response<Vec<u8>>> {
    let mut w = XmlOut::new();
    start_envelope(&mut w, action::PULL_RESPONSE, id, Some(&request.message_id));
    w.open("n:PullResponse", &[]);
    if let Some(c) = context {
        check_text(c, "the context")?;
        w.leaf("n:EnumerationContext", &[], c);
    }
    w.open("n:Items", &[]);
    write_items(&mut w, &namespace_base(request), items)?;
    w.close("n:Items");
    if end_of_sequence {
        w.empty("n:EndOfSequence", &[]);
    }
    w.close("n:PullResponse");
    finish(w, 200)
}

/// The answer to a `Release`.
pub fn release_response(request: &Request, id: &MessageId) -> Result<http::Response<Vec<u8>>> {
    let mut w = XmlOut::new();
    start_envelope(
        &mut w,
        action::RELEASE_RESPONSE,
        id,
        Some(&request.message_id),
    );
    finish(w, 200)
}

/// The answer to a `Get`: the instance.
pub fn get_response(
    request: &Request,
    id: &MessageId,
    instance: &Instance,
) -> Result<http::Response<Vec<u8>>> {
    instance_answer(request, id, action::GET_RESPONSE, instance)
}

/// The answer to a `Put`: the instance as stored.
pub fn put_response(
    request: &Request,
    id: &MessageId,
    instance: &Instance,
) -> Result<http::Response<Vec<u8>>> {
    instance_answer(request, id, action::PUT_RESPONSE, instance)
}

fn instance_answer(
    request: &Request,
    id: &MessageId,
    action_uri: &str,
    instance: &Instance,
) -> Result<http::Response<Vec<u8>>> {
    let class = if instance.class.is_empty() {
        request.class.clone().unwrap_or_default()
    } else {
        instance.class.clone()
    };
    let mut w = XmlOut::new();
    start_envelope(&mut w, action_uri, id, Some(&request.message_id));
    let type_name = format!("p:{class}_Type");
    write_instance(
        &mut w,
        &namespace_base(request),
        &class,
        instance,
        Some(&[("xmlns:cim", ns::CIM), ("xsi:type", &type_name)]),
    )?;
    finish(w, 200)
}

/// The answer to a `Create`: the new instance's endpoint reference, with
/// its keys `selectors`.
pub fn create_response(
    request: &Request,
    id: &MessageId,
    selectors: &[(&str, &str)],
) -> Result<http::Response<Vec<u8>>> {
    let mut w = XmlOut::new();
    start_envelope(
        &mut w,
        action::CREATE_RESPONSE,
        id,
        Some(&request.message_id),
    );
    check_text(&request.resource_uri, "the resource URI")?;
    w.open("x:ResourceCreated", &[]);
    w.leaf("a:Address", &[], ns::ANONYMOUS);
    w.open("a:ReferenceParameters", &[]);
    w.leaf("w:ResourceURI", &[], &request.resource_uri);
    w.open("w:SelectorSet", &[]);
    for (name, value) in selectors {
        check_identifier(name, "selector name")?;
        check_text(value, "a selector value")?;
        w.leaf("w:Selector", &[("Name", name)], value);
    }
    w.close("w:SelectorSet");
    w.close("a:ReferenceParameters");
    w.close("x:ResourceCreated");
    finish(w, 200)
}

/// The answer to a `Delete`.
pub fn delete_response(request: &Request, id: &MessageId) -> Result<http::Response<Vec<u8>>> {
    let mut w = XmlOut::new();
    start_envelope(
        &mut w,
        action::DELETE_RESPONSE,
        id,
        Some(&request.message_id),
    );
    finish(w, 200)
}

/// The answer to an `Invoke`: `<p:<Method>_OUTPUT>` in the resource's
/// namespace with the properties of `output` (`ReturnValue` and the output
/// parameters), under the action `<resource URI>/<Method>Response`.
pub fn invoke_response(
    request: &Request,
    id: &MessageId,
    output: &Instance,
) -> Result<http::Response<Vec<u8>>> {
    let method = request
        .method
        .as_deref()
        .ok_or_else(|| Error::InvalidRequest {
            what: "the request is not a method call".into(),
        })?;
    check_text(&request.resource_uri, "the resource URI")?;
    let action_uri = format!("{}/{method}Response", request.resource_uri);
    let mut w = XmlOut::new();
    start_envelope(&mut w, &action_uri, id, Some(&request.message_id));
    let element = format!("{method}_OUTPUT");
    super::write_properties_element(
        &mut w,
        &namespace_base(request),
        &request.resource_uri,
        &element,
        output,
        None,
    )?;
    finish(w, 200)
}

/// A fault answer (HTTP 500), `RelatesTo` the request's `MessageID` when
/// known. The action follows the subcode's namespace (enumeration,
/// addressing, transfer, else WS-Management).
pub fn fault_response(
    relates_to: Option<&str>,
    id: &MessageId,
    fault: &WsManFault,
) -> Result<http::Response<Vec<u8>>> {
    let sub_prefix = fault
        .subcode
        .as_deref()
        .and_then(|s| s.split_once(':'))
        .map(|(p, _)| p);
    let action_uri = match sub_prefix.and_then(ns::for_prefix) {
        Some(ns::ENUMERATION) => action::ENUMERATION_FAULT,
        Some(ns::ADDRESSING) => action::ADDRESSING_FAULT,
        Some(ns::TRANSFER) => action::TRANSFER_FAULT,
        _ => action::WSMAN_FAULT,
    };
    for s in [&fault.code, &fault.reason] {
        check_text(s, "the fault")?;
    }
    let mut w = XmlOut::new();
    start_envelope(&mut w, action_uri, id, relates_to);
    w.open("s:Fault", &[]);
    w.open("s:Code", &[]);
    w.leaf("s:Value", &[], &written_qname(&fault.code));
    if let Some(sub) = &fault.subcode {
        check_text(sub, "the fault")?;
        w.open("s:Subcode", &[]);
        w.leaf("s:Value", &[], &written_qname(sub));
        w.close("s:Subcode");
    }
    w.close("s:Code");
    w.open("s:Reason", &[]);
    w.leaf("s:Text", &[("xml:lang", "en-US")], &fault.reason);
    w.close("s:Reason");
    if fault.fault_detail.is_some() || fault.wsman.is_some() || fault.wmi_error.is_some() {
        w.open("s:Detail", &[]);
        if let Some(d) = &fault.fault_detail {
            check_text(d, "the fault")?;
            w.leaf("w:FaultDetail", &[], d);
        }
        if let Some(f) = &fault.wsman {
            let code = f.code.map(|c| c.to_string());
            let mut attrs: Vec<(&str, &str)> = Vec::new();
            if let Some(c) = &code {
                attrs.push(("Code", c));
            }
            if let Some(m) = &f.machine {
                check_text(m, "the fault")?;
                attrs.push(("Machine", m));
            }
            attrs.push(("xmlns:f", ns::WSMAN_FAULT));
            w.open("f:WSManFault", &attrs);
            if let Some(m) = &f.message {
                check_text(m, "the fault")?;
                w.leaf("f:Message", &[], m);
            }
            w.close("f:WSManFault");
        }
        if let Some(e) = &fault.wmi_error {
            write_wmi_error(&mut w, e)?;
        }
        w.close("s:Detail");
    }
    w.close("s:Fault");
    finish(w, 500)
}

/// The code as written in our answers' prefixes (`wsen` → `n`, `wsa` →
/// `a`, `wxf` → `x`).
fn written_qname(q: &str) -> String {
    match q.split_once(':') {
        Some(("wsen", l)) => format!("n:{l}"),
        Some(("wsa", l)) => format!("a:{l}"),
        Some(("wxf", l)) => format!("x:{l}"),
        Some(("wsman", l)) => format!("w:{l}"),
        _ => q.to_owned(),
    }
}

fn write_wmi_error(w: &mut XmlOut, e: &WmiErrorDetail) -> Result<()> {
    w.open(
        "p:MSFT_WmiError",
        &[
            ("b:IsCIM_Error", "true"),
            ("xmlns:cim", ns::CIM),
            ("xmlns:p", ns::MSFT_WMI_ERROR),
            ("xmlns:xsi", ns::XSI),
            ("xsi:type", "p:MSFT_WmiError_Type"),
        ],
    );
    let num = |w: &mut XmlOut, name: &str, v: Option<u32>, ty: &str| {
        let el = format!("p:{name}");
        match v {
            Some(n) => w.leaf(&el, &[("xsi:type", ty)], &n.to_string()),
            None => w.empty(&el, &[("xsi:nil", "true"), ("xsi:type", ty)]),
        }
    };
    let uint = "cim:cimUnsignedInt";
    let ushort = "cim:cimUnsignedShort";
    num(w, "CIMStatusCode", e.cim_status_code, uint);
    let text_fields: [(&str, &Option<String>); 1] =
        [("CIMStatusCodeDescription", &e.cim_status_code_description)];
    write_texts(w, &text_fields)?;
    num(w, "ErrorType", e.error_type_code, ushort);
    write_texts(
        w,
        &[
            ("Message", &e.message),
            ("MessageID", &e.message_id),
            ("OwningEntity", &e.owning_entity),
        ],
    )?;
    num(w, "PerceivedSeverity", e.perceived_severity, ushort);
    num(w, "ProbableCause", e.probable_cause, ushort);
    num(w, "error_Category", e.error_category, uint);
    num(w, "error_Code", e.error_code, uint);
    write_texts(
        w,
        &[
            ("error_Type", &e.error_type),
            ("error_WindowsErrorMessage", &e.error_windows_message),
        ],
    )?;
    w.close("p:MSFT_WmiError");
    Ok(())
}

fn write_texts(w: &mut XmlOut, fields: &[(&str, &Option<String>)]) -> Result<()> {
    for (name, value) in fields {
        let el = format!("p:{name}");
        match value {
            Some(s) => {
                check_text(s, "the fault")?;
                w.leaf(&el, &[("xsi:type", "cim:cimString")], s);
            }
            None => w.empty(&el, &[("xsi:nil", "true"), ("xsi:type", "cim:cimString")]),
        }
    }
    Ok(())
}

/// The fault WinRM's WMI plugin answers when a WQL filter cannot be run
/// (`wsen:CannotProcessFilter`, WinRM error 2150858778), with `message`
/// as the provider's explanation.
pub fn cannot_process_filter(message: &str) -> WsManFault {
    WsManFault::new(
        "s:Sender",
        Some("wsen:CannotProcessFilter"),
        "The data source could not process the filter. The filter might be missing or it might be invalid. Change the filter and try the request again.  ",
    )
    .with_wsman(2150858778, "localhost", message)
}

/// The fault for selectors that name no instance or the wrong keys
/// (`w:InvalidSelectors`, WinRM error 2150858843).
pub fn invalid_selectors() -> WsManFault {
    WsManFault::new(
        "s:Sender",
        Some("w:InvalidSelectors"),
        "The WS-Management service cannot process the request because the request contained invalid selectors for the resource. ",
    )
    .with_wsman(
        2150858843,
        "localhost",
        "The WS-Management service cannot process the request because the request contained invalid selectors for the resource.",
    )
}

/// The fault for an unknown or expired enumeration context
/// (`wsen:InvalidEnumerationContext`).
pub fn invalid_enumeration_context() -> WsManFault {
    WsManFault::new(
        "s:Receiver",
        Some("wsen:InvalidEnumerationContext"),
        "The enumeration context supplied in the message is not valid. ",
    )
}

/// A fault carrying a WMI error, the way the WMI plugin reports a provider
/// failure: `s:Receiver`/`w:InternalError` with `MSFT_WmiError` (WMI
/// error `error_code`, such as 0x80041002 for "not found", and its CIM
/// status).
pub fn wmi_fault(error_code: u32, cim_status: u32, message: &str) -> WsManFault {
    WsManFault::new("s:Receiver", Some("w:InternalError"), message).with_wmi_error(WmiErrorDetail {
        cim_status_code: Some(cim_status),
        error_code: Some(error_code),
        error_category: Some(0),
        error_type: Some("HRESULT".into()),
        error_windows_message: Some(message.to_owned()),
        message: Some(message.to_owned()),
        message_id: Some(format!("HRESULT {error_code:#010x}")),
        error_type_code: Some(0),
        perceived_severity: Some(0),
        probable_cause: Some(0),
        ..WmiErrorDetail::default()
    })
}
