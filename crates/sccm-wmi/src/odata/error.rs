//! AdminService error answers and the WMI error codes inside them.
//!
//! AdminService answers a failed request with a 4xx or 5xx status and an
//! OData error body (OData JSON Format v4.0, 21 "Error Response"):
//!
//! ```json
//! {"error": {"code": "404", "message": "…", "details": [{"code": "…", "message": "…"}],
//!            "innererror": {"message": "…", "type": "…", "stacktrace": "…"}}}
//! ```
//!
//! What the provider actually puts there (from public reports of
//! AdminService answers and from scripts that read them): `code` is often the
//! HTTP status as a string (`"404"`), sometimes a name (`"NotFound"`,
//! `"BadRequest"`, `"InternalServerError"`) and may be a JSON number; the
//! `message` carries the WMI failure as text, such as `"Access denied  WMI
//! QUERY: "` for a caller without WMI rights, or the `HRESULT` of the SMS
//! Provider (`0x80041002`, or its decimal forms `2147749890` and
//! `-2147217406`) or its symbolic name (`WBEM_E_NOT_FOUND`); `details` and
//! `innererror` are present only sometimes. Where the service passes on a
//! .NET `System.Management.ManagementException`, the message is WMI's
//! short text for the code (`"Generic failure "`, `"Not found "`,
//! `"Invalid query "`), possibly only in `innererror.message`.
//! [`WmiError::from_body`] reads all of these and looks for a WMI code in
//! the code, the message, the details and the inner error, in that order,
//! first as a number or `WBEM_E_*` name, then as one of those texts.

use core::fmt;

/// A WMI error reported through AdminService: the HTTP status, the OData
/// error's code and message, and the WMI error code when one could be
/// recognised in them.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct WmiError {
    /// The HTTP status of the answer.
    pub status: u16,
    /// The OData error code (`error.code`), as text; empty if absent.
    pub code: String,
    /// The OData error message (`error.message`); empty if absent.
    pub message: String,
    /// The messages of `error.details` and `error.innererror`, in order.
    pub details: Vec<String>,
    /// The WMI (`WBEM_E_*`) or other `HRESULT` found in the error, if any.
    pub wmi_code: Option<u32>,
}

/// The longest message text kept from an error body, in bytes.
const MAX_MESSAGE_LEN: usize = 4096;
/// The most `details` entries kept.
const MAX_DETAILS: usize = 16;

impl WmiError {
    /// An error with no WMI code.
    pub fn new(status: u16, code: impl Into<String>, message: impl Into<String>) -> Self {
        let mut e = Self {
            status,
            code: code.into(),
            message: message.into(),
            details: Vec::new(),
            wmi_code: None,
        };
        e.wmi_code = e.find_wmi_code();
        e
    }

    /// Reads an OData error body (`{"error": {...}}`) answered with
    /// `status`. Returns `None` if the body is not one.
    pub fn from_body(status: u16, body: &[u8]) -> Option<Self> {
        let v: serde_json::Value = serde_json::from_slice(body).ok()?;
        let err = v.get("error")?.as_object()?;
        let text = |v: Option<&serde_json::Value>| -> String {
            let s = match v {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(serde_json::Value::Number(n)) => n.to_string(),
                _ => String::new(),
            };
            truncate(s)
        };
        let mut e = Self {
            status,
            code: text(err.get("code")),
            message: text(err.get("message")),
            details: Vec::new(),
            wmi_code: None,
        };
        if let Some(list) = err.get("details").and_then(|d| d.as_array()) {
            for d in list.iter().take(MAX_DETAILS) {
                let m = text(d.get("message"));
                let c = text(d.get("code"));
                match (c.is_empty(), m.is_empty()) {
                    (_, true) if !c.is_empty() => e.details.push(c),
                    (true, false) => e.details.push(m),
                    (false, false) => e.details.push(format!("{c}: {m}")),
                    _ => {}
                }
            }
        }
        // `innererror` nests further `internalexception`s; keep the first
        // two levels' messages and types.
        let mut inner = err.get("innererror");
        for _ in 0..2 {
            let Some(i) = inner.and_then(|i| i.as_object()) else {
                break;
            };
            for key in ["message", "type"] {
                let m = text(i.get(key));
                if !m.is_empty() {
                    e.details.push(m);
                }
            }
            inner = i.get("internalexception");
        }
        e.wmi_code = e.find_wmi_code();
        Some(e)
    }

    /// The symbolic name of [`wmi_code`](Self::wmi_code), such as
    /// `WBEM_E_NOT_FOUND`, when it is one of the common WMI codes.
    pub fn wmi_name(&self) -> Option<&'static str> {
        self.wmi_code.and_then(wbem_lookup).map(|(n, _)| n)
    }

    /// A description of [`wmi_code`](Self::wmi_code), when it is one of
    /// the common WMI codes.
    pub fn wmi_description(&self) -> Option<&'static str> {
        self.wmi_code.and_then(wbem_lookup).map(|(_, d)| d)
    }

    /// Whether the object was not there: HTTP 404 without another WMI code,
    /// or `WBEM_E_NOT_FOUND` (`0x80041002`).
    pub fn is_not_found(&self) -> bool {
        match self.wmi_code {
            Some(c) => c == WBEM_E_NOT_FOUND,
            None => self.status == 404,
        }
    }

    /// Whether the caller lacks the rights: HTTP 403, or
    /// `WBEM_E_ACCESS_DENIED` (`0x80041003`, also recognised from
    /// AdminService's "Access denied  WMI QUERY: " message, which it
    /// sends with a 404).
    pub fn is_access_denied(&self) -> bool {
        self.status == 403 || self.wmi_code == Some(WBEM_E_ACCESS_DENIED)
    }

    fn find_wmi_code(&self) -> Option<u32> {
        core::iter::once(self.code.as_str())
            .chain(core::iter::once(self.message.as_str()))
            .chain(self.details.iter().map(String::as_str))
            .find_map(find_hresult)
            .or_else(|| {
                core::iter::once(self.message.as_str())
                    .chain(self.details.iter().map(String::as_str))
                    .find_map(find_status_text)
            })
    }
}

fn truncate(mut s: String) -> String {
    if s.len() > MAX_MESSAGE_LEN {
        let mut end = MAX_MESSAGE_LEN;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

impl fmt::Display for WmiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AdminService answered HTTP {}", self.status)?;
        if !self.code.is_empty() && self.code != self.status.to_string() {
            write!(f, " ({})", self.code)?;
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message.trim_end())?;
        }
        if let Some(c) = self.wmi_code {
            write!(f, " [0x{c:08X}")?;
            if let Some((name, desc)) = wbem_lookup(c) {
                write!(f, " {name}: {desc}")?;
            }
            f.write_str("]")?;
        }
        Ok(())
    }
}

impl std::error::Error for WmiError {}

/// `WBEM_E_NOT_FOUND`.
pub const WBEM_E_NOT_FOUND: u32 = 0x8004_1002;
/// `WBEM_E_ACCESS_DENIED`.
pub const WBEM_E_ACCESS_DENIED: u32 = 0x8004_1003;

/// The common WMI error codes (`WBEMSTATUS`, `wbemcli.h`): code, name and
/// what it means.
const WBEM_ERRORS: &[(u32, &str, &str)] = &[
    (0x8004_1001, "WBEM_E_FAILED", "the call failed"),
    (0x8004_1002, "WBEM_E_NOT_FOUND", "the object was not found"),
    (
        0x8004_1003,
        "WBEM_E_ACCESS_DENIED",
        "the caller lacks the permission",
    ),
    (
        0x8004_1004,
        "WBEM_E_PROVIDER_FAILURE",
        "the provider failed",
    ),
    (
        0x8004_1005,
        "WBEM_E_TYPE_MISMATCH",
        "a value has the wrong type",
    ),
    (
        0x8004_1006,
        "WBEM_E_OUT_OF_MEMORY",
        "not enough memory for the operation",
    ),
    (
        0x8004_1007,
        "WBEM_E_INVALID_CONTEXT",
        "the context object is not valid",
    ),
    (
        0x8004_1008,
        "WBEM_E_INVALID_PARAMETER",
        "a parameter is not valid",
    ),
    (
        0x8004_1009,
        "WBEM_E_NOT_AVAILABLE",
        "the resource is not available",
    ),
    (
        0x8004_100A,
        "WBEM_E_CRITICAL_ERROR",
        "an internal, critical error occurred",
    ),
    (
        0x8004_100C,
        "WBEM_E_NOT_SUPPORTED",
        "the operation is not supported",
    ),
    (
        0x8004_100E,
        "WBEM_E_INVALID_NAMESPACE",
        "the namespace was not found",
    ),
    (
        0x8004_100F,
        "WBEM_E_INVALID_OBJECT",
        "the instance is not valid",
    ),
    (
        0x8004_1010,
        "WBEM_E_INVALID_CLASS",
        "the class is not valid",
    ),
    (
        0x8004_1011,
        "WBEM_E_PROVIDER_NOT_FOUND",
        "the provider is not registered",
    ),
    (
        0x8004_1013,
        "WBEM_E_PROVIDER_LOAD_FAILURE",
        "the provider could not be loaded",
    ),
    (
        0x8004_1014,
        "WBEM_E_INITIALIZATION_FAILURE",
        "a component failed to initialise",
    ),
    (
        0x8004_1015,
        "WBEM_E_TRANSPORT_FAILURE",
        "a network error occurred",
    ),
    (
        0x8004_1016,
        "WBEM_E_INVALID_OPERATION",
        "the operation is not valid",
    ),
    (
        0x8004_1017,
        "WBEM_E_INVALID_QUERY",
        "the query is not valid",
    ),
    (
        0x8004_1018,
        "WBEM_E_INVALID_QUERY_TYPE",
        "the query language is not supported",
    ),
    (
        0x8004_1019,
        "WBEM_E_ALREADY_EXISTS",
        "the object already exists",
    ),
    (
        0x8004_101D,
        "WBEM_E_UNEXPECTED",
        "an unexpected sequence of calls",
    ),
    (
        0x8004_101E,
        "WBEM_E_ILLEGAL_OPERATION",
        "the operation is not allowed",
    ),
    (
        0x8004_1021,
        "WBEM_E_INVALID_SYNTAX",
        "the query's syntax is not valid",
    ),
    (0x8004_1023, "WBEM_E_READ_ONLY", "the property is read-only"),
    (
        0x8004_1024,
        "WBEM_E_PROVIDER_NOT_CAPABLE",
        "the provider cannot do this",
    ),
    (
        0x8004_1028,
        "WBEM_E_ILLEGAL_NULL",
        "a required value is null",
    ),
    (
        0x8004_102B,
        "WBEM_E_VALUE_OUT_OF_RANGE",
        "a value is out of range",
    ),
    (
        0x8004_102E,
        "WBEM_E_INVALID_METHOD",
        "the method is not valid",
    ),
    (
        0x8004_102F,
        "WBEM_E_INVALID_METHOD_PARAMETERS",
        "the method's parameters are not valid",
    ),
    (
        0x8004_1031,
        "WBEM_E_INVALID_PROPERTY",
        "the property is not valid",
    ),
    (
        0x8004_1032,
        "WBEM_E_CALL_CANCELLED",
        "the call was cancelled",
    ),
    (0x8004_1033, "WBEM_E_SHUTTING_DOWN", "WMI is shutting down"),
];

/// The name and description of a common WMI error code.
///
/// ```
/// assert_eq!(
///     sccm_wmi::odata::wbem_lookup(0x80041002).map(|(n, _)| n),
///     Some("WBEM_E_NOT_FOUND")
/// );
/// ```
pub fn wbem_lookup(code: u32) -> Option<(&'static str, &'static str)> {
    WBEM_ERRORS
        .iter()
        .find(|(c, _, _)| *c == code)
        .map(|&(_, n, d)| (n, d))
}

/// The texts `System.Management` gives WMI's codes
/// (`ManagementException.Message`, which AdminService passes on), longest
/// first where one starts another.
const STATUS_TEXTS: &[(&str, u32)] = &[
    ("Generic failure", 0x8004_1001),
    ("Not found", 0x8004_1002),
    ("Access denied", 0x8004_1003),
    ("Provider failure", 0x8004_1004),
    ("Type mismatch", 0x8004_1005),
    ("Invalid parameter", 0x8004_1008),
    ("Not supported", 0x8004_100C),
    ("Invalid namespace", 0x8004_100E),
    ("Invalid object", 0x8004_100F),
    ("Invalid class", 0x8004_1010),
    ("Provider load failure", 0x8004_1013),
    ("Invalid query type", 0x8004_1018),
    ("Invalid query", 0x8004_1017),
    ("Already exists", 0x8004_1019),
    ("Invalid syntax", 0x8004_1021),
    ("Invalid method Parameter(s)", 0x8004_102F),
    ("Invalid method", 0x8004_102E),
];

/// A WMI code from a message that starts with one of [`STATUS_TEXTS`]
/// (any case), followed by the end or a space.
fn find_status_text(text: &str) -> Option<u32> {
    let t = text.trim_start().as_bytes();
    STATUS_TEXTS.iter().find_map(|&(phrase, code)| {
        let p = phrase.as_bytes();
        let starts = t.len() >= p.len() && t[..p.len()].eq_ignore_ascii_case(p);
        let ends = t
            .get(p.len())
            .is_none_or(|b| b.is_ascii_whitespace() || *b == b'.');
        (starts && ends).then_some(code)
    })
}

/// Finds an `HRESULT` in `text`: `0x8xxxxxxx` (any case), a `WBEM_E_*`
/// name from the table, or the decimal forms of a `0x8004xxxx` code
/// (unsigned `2147749890`, signed `-2147217406`).
fn find_hresult(text: &str) -> Option<u32> {
    let bytes = text.as_bytes();
    // Hexadecimal.
    let mut i = 0;
    while i + 10 <= bytes.len() {
        if bytes[i] == b'0'
            && (bytes[i + 1] | 0x20) == b'x'
            && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric())
        {
            let digits = &bytes[i + 2..i + 10];
            let after = bytes.get(i + 10);
            if digits.iter().all(u8::is_ascii_hexdigit) && !after.is_some_and(u8::is_ascii_hexdigit)
            {
                let digits = core::str::from_utf8(digits).unwrap_or_default();
                if let Ok(v) = u32::from_str_radix(digits, 16)
                    && v & 0x8000_0000 != 0
                {
                    return Some(v);
                }
            }
        }
        i += 1;
    }
    // A symbolic name.
    if let Some(&(c, _, _)) = WBEM_ERRORS.iter().find(|(_, n, _)| {
        text.match_indices(n).any(|(at, _)| {
            !bytes
                .get(at + n.len())
                .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
        })
    }) {
        return Some(c);
    }
    // Decimal: a run of digits, optionally signed, that is a WMI code.
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric()) {
            let start = if i > 0 && bytes[i - 1] == b'-' {
                i - 1
            } else {
                i
            };
            let mut end = i;
            while end < bytes.len() && bytes[end].is_ascii_digit() {
                end += 1;
            }
            if end - i == 10
                && !bytes.get(end).is_some_and(u8::is_ascii_alphanumeric)
                && let Ok(v) = text[start..end].parse::<i64>()
            {
                // The low 32 bits, whether written signed or not.
                let c = v as u32;
                if (v == i64::from(c) || v == i64::from(c as i32)) && c >> 16 == 0x8004 {
                    return Some(c);
                }
            }
            i = end;
        } else {
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_codes_in_text() {
        assert_eq!(find_hresult("Error 0x80041002 x"), Some(0x8004_1002));
        assert_eq!(find_hresult("HRESULT=0X8004100e"), Some(0x8004_100E));
        assert_eq!(find_hresult("code -2147217406."), Some(0x8004_1002));
        assert_eq!(find_hresult("2147749897"), Some(0x8004_1009));
        assert_eq!(
            find_hresult("failed: WBEM_E_INVALID_QUERY"),
            Some(0x8004_1017)
        );
        assert_eq!(find_hresult("0x80070005"), Some(0x8007_0005));
        assert_eq!(find_hresult("0x12345678 or 0x8004100"), None);
        assert_eq!(find_hresult("resource 16777219"), None);
        assert_eq!(find_hresult("WBEM_E_NOT_FOUNDX"), None);
        assert_eq!(
            find_status_text("Access denied  WMI QUERY: "),
            Some(0x8004_1003)
        );
        assert_eq!(find_status_text("Invalid query "), Some(0x8004_1017));
        assert_eq!(find_status_text("Invalid query type"), Some(0x8004_1018));
        assert_eq!(find_status_text("Not foundation"), None);
    }
}
