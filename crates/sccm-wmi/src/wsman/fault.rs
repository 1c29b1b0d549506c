//! SOAP 1.2 faults from the WS-Management service, with WinRM's
//! `WSManFault` detail and WMI's `MSFT_WmiError` detail.

use std::fmt;

use super::ns;
use super::xml::Element;

/// A SOAP 1.2 fault from the WS-Management service (DSP0226 §14, SOAP 1.2
/// Part 1 §5.4), with the details WinRM adds.
///
/// WinRM answers a refused request with HTTP 500 and an envelope whose body
/// is `s:Fault`:
///
/// ```xml
/// <s:Fault>
///   <s:Code><s:Value>s:Sender</s:Value>
///     <s:Subcode><s:Value>w:InvalidSelectors</s:Value></s:Subcode></s:Code>
///   <s:Reason><s:Text xml:lang="en-US">…</s:Text></s:Reason>
///   <s:Detail>
///     <f:WSManFault Code="2150858843" Machine="…"><f:Message>…</f:Message></f:WSManFault>
///   </s:Detail>
/// </s:Fault>
/// ```
///
/// The WMI plugin's faults may carry an `MSFT_WmiError` instance in
/// `s:Detail` instead of (or besides) `WSManFault`; it becomes
/// [`wmi_error`](Self::wmi_error).
///
/// Codes and subcodes are written with this crate's prefixes whatever
/// prefix the service used: `s` (SOAP envelope), `w` (DMTF WS-Management),
/// `wsen` (WS-Enumeration), `wsa` (WS-Addressing), `wxf` (WS-Transfer),
/// `p` (Microsoft's WS-Management extensions); a prefix bound to another
/// namespace is kept as sent.
#[derive(Clone, Debug, Default, PartialEq, Eq, thiserror::Error)]
pub struct WsManFault {
    /// The SOAP fault code, such as `s:Sender` or `s:Receiver`.
    pub code: String,
    /// The first subcode, such as `w:InvalidSelectors`,
    /// `wsen:CannotProcessFilter` or `w:InternalError`.
    pub subcode: Option<String>,
    /// The first `s:Reason/s:Text`, as sent (WinRM ends it with a space).
    pub reason: String,
    /// `w:FaultDetail`, a URI such as
    /// `http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/InvalidValue`.
    pub fault_detail: Option<String>,
    /// WinRM's `WSManFault` detail, when present.
    pub wsman: Option<WsManFaultDetail>,
    /// WMI's `MSFT_WmiError` detail, when present.
    pub wmi_error: Option<WmiErrorDetail>,
}

/// The `f:WSManFault` element WinRM puts in `s:Detail`
/// (namespace `http://schemas.microsoft.com/wbem/wsman/1/wsmanfault`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WsManFaultDetail {
    /// The `Code` attribute: a Windows error number, such as 2150858778
    /// (0x8033801A, "the data source could not process the filter").
    pub code: Option<u32>,
    /// The `Machine` attribute: the computer that reported it.
    pub machine: Option<String>,
    /// The message: `f:Message` text, or, when WinRM nests a provider's
    /// fault in it (`f:ProviderFault`), the innermost message text.
    pub message: Option<String>,
    /// The `provider` attribute of a nested `f:ProviderFault`, such as
    /// `WMI Provider`.
    pub provider: Option<String>,
}

/// The `MSFT_WmiError` instance (a `CIM_Error`) of a WMI-plugin fault,
/// as typed fields; properties absent or `xsi:nil` are `None`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WmiErrorDetail {
    /// `CIMStatusCode`: the DMTF status (6 = not found, 27 = quota …).
    pub cim_status_code: Option<u32>,
    /// `CIMStatusCodeDescription`.
    pub cim_status_code_description: Option<String>,
    /// `error_Code`: the WMI or Windows error code, such as 0x80041010
    /// (`WBEM_E_INVALID_CLASS`).
    pub error_code: Option<u32>,
    /// `error_Category`.
    pub error_category: Option<u32>,
    /// `error_Type`, such as `HRESULT`.
    pub error_type: Option<String>,
    /// `error_WindowsErrorMessage`.
    pub error_windows_message: Option<String>,
    /// `Message`.
    pub message: Option<String>,
    /// `MessageID`, such as `HRESULT 0x803381a5`.
    pub message_id: Option<String>,
    /// `ErrorType`.
    pub error_type_code: Option<u32>,
    /// `PerceivedSeverity`.
    pub perceived_severity: Option<u32>,
    /// `ProbableCause`.
    pub probable_cause: Option<u32>,
    /// `OwningEntity`.
    pub owning_entity: Option<String>,
}

impl WsManFault {
    /// A fault with a code, an optional subcode and a reason; the details
    /// are added with [`with_wsman`](Self::with_wsman) and
    /// [`with_wmi_error`](Self::with_wmi_error). Codes use this crate's
    /// prefixes (see the type's documentation).
    pub fn new(code: &str, subcode: Option<&str>, reason: &str) -> Self {
        Self {
            code: code.to_owned(),
            subcode: subcode.map(str::to_owned),
            reason: reason.to_owned(),
            ..Self::default()
        }
    }

    /// Adds WinRM's `WSManFault` detail.
    pub fn with_wsman(mut self, code: u32, machine: &str, message: &str) -> Self {
        self.wsman = Some(WsManFaultDetail {
            code: Some(code),
            machine: Some(machine.to_owned()),
            message: Some(message.to_owned()),
            provider: None,
        });
        self
    }

    /// Adds the `MSFT_WmiError` detail.
    pub fn with_wmi_error(mut self, detail: WmiErrorDetail) -> Self {
        self.wmi_error = Some(detail);
        self
    }

    /// The subcode's local name (`InvalidSelectors` for
    /// `w:InvalidSelectors`), or the code's when there is no subcode.
    pub fn subcode_name(&self) -> &str {
        let s = self.subcode.as_deref().unwrap_or(&self.code);
        s.rsplit_once(':').map_or(s, |(_, l)| l)
    }

    /// The most specific error code: WMI's `error_Code` when present, else
    /// WinRM's `WSManFault` code.
    pub fn error_code(&self) -> Option<u32> {
        self.wmi_error
            .as_ref()
            .and_then(|w| w.error_code)
            .or_else(|| self.wsman.as_ref().and_then(|w| w.code))
    }

    /// The most specific message: WMI's `Message`, else WinRM's
    /// `WSManFault` message, else the reason.
    pub fn message(&self) -> &str {
        self.wmi_error
            .as_ref()
            .and_then(|w| w.message.as_deref())
            .or_else(|| self.wsman.as_ref().and_then(|w| w.message.as_deref()))
            .unwrap_or(&self.reason)
            .trim()
    }

    /// Reads `s:Fault`.
    pub(crate) fn from_element(fault: &Element) -> Self {
        let mut out = Self::default();
        if let Some(code) = fault.child(ns::SOAP, "Code") {
            if let Some(v) = code.child(ns::SOAP, "Value") {
                out.code = v.qname_text();
            }
            out.subcode = code
                .child(ns::SOAP, "Subcode")
                .and_then(|s| s.child(ns::SOAP, "Value"))
                .map(Element::qname_text);
        }
        out.reason = fault
            .child(ns::SOAP, "Reason")
            .and_then(|r| r.child(ns::SOAP, "Text"))
            .map(|t| t.text.clone())
            .unwrap_or_default();
        if let Some(detail) = fault.child(ns::SOAP, "Detail") {
            out.fault_detail = detail
                .child(ns::WSMAN, "FaultDetail")
                .map(|d| d.trimmed().to_owned());
            out.wsman = detail
                .child(ns::WSMAN_FAULT, "WSManFault")
                .map(WsManFaultDetail::from_element);
            out.wmi_error = detail
                .children
                .iter()
                .find(|c| c.local == "MSFT_WmiError")
                .map(WmiErrorDetail::from_element);
        }
        out
    }
}

impl WsManFaultDetail {
    fn from_element(e: &Element) -> Self {
        let mut out = Self {
            code: e.attr("", "Code").and_then(parse_u32),
            machine: e.attr("", "Machine").map(str::to_owned),
            message: None,
            provider: None,
        };
        if let Some(message) = e.child(ns::WSMAN_FAULT, "Message") {
            if let Some(pf) = message.child(ns::WSMAN_FAULT, "ProviderFault") {
                out.provider = pf.attr("", "provider").map(str::to_owned);
                // The provider's own fault holds the useful text.
                let inner = pf
                    .child(ns::WSMAN_FAULT, "WSManFault")
                    .and_then(|f| f.child(ns::WSMAN_FAULT, "Message"))
                    .map(|m| m.text.trim().to_owned())
                    .filter(|m| !m.is_empty())
                    .or_else(|| Some(pf.text.trim().to_owned()).filter(|m| !m.is_empty()));
                out.message = inner;
            } else {
                out.message = Some(message.text.trim().to_owned());
            }
        }
        out
    }
}

impl WmiErrorDetail {
    fn from_element(e: &Element) -> Self {
        let text = |name: &str| {
            e.children
                .iter()
                .find(|c| c.local == name)
                .filter(|c| !c.is_nil())
                .map(|c| c.text.clone())
        };
        let num = |name: &str| text(name).as_deref().and_then(parse_u32);
        Self {
            cim_status_code: num("CIMStatusCode"),
            cim_status_code_description: text("CIMStatusCodeDescription"),
            error_code: num("error_Code"),
            error_category: num("error_Category"),
            error_type: text("error_Type"),
            error_windows_message: text("error_WindowsErrorMessage"),
            message: text("Message"),
            message_id: text("MessageID"),
            error_type_code: num("ErrorType"),
            perceived_severity: num("PerceivedSeverity"),
            probable_cause: num("ProbableCause"),
            owning_entity: text("OwningEntity"),
        }
    }
}

/// A decimal (or `0x` hexadecimal) unsigned 32-bit number; WMI writes
/// `error_Code` in decimal, some services in hexadecimal.
fn parse_u32(s: &str) -> Option<u32> {
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

impl fmt::Display for WsManFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WS-Management fault {}", self.code)?;
        if let Some(sub) = &self.subcode {
            write!(f, "/{sub}")?;
        }
        let reason = self.reason.trim();
        if !reason.is_empty() {
            write!(f, ": {reason}")?;
        }
        if let Some(w) = &self.wsman
            && let Some(code) = w.code
        {
            write!(f, " (WinRM error {code:#010X}")?;
            if let Some(m) = w
                .message
                .as_deref()
                .map(str::trim)
                .filter(|m| !m.is_empty())
                && m != reason
            {
                write!(f, ": {m}")?;
            }
            write!(f, ")")?;
        }
        if let Some(w) = &self.wmi_error {
            write!(f, " (WMI")?;
            if let Some(code) = w.error_code {
                write!(f, " error {code:#010X}")?;
            }
            if let Some(cim) = w.cim_status_code {
                write!(f, ", CIM status {cim}")?;
            }
            if let Some(m) = w
                .message
                .as_deref()
                .map(str::trim)
                .filter(|m| !m.is_empty())
                && m != reason
            {
                write!(f, ": {m}")?;
            }
            write!(f, ")")?;
        }
        Ok(())
    }
}
