//! Error bodies Apple defines for MDM servers to send devices
//! (`device-management`, `mdm/errors/*.yaml`).
//!
//! Each is a JSON or XML-plist document in a **403** response, with a
//! `Content-Type` saying which. The one a check-in server uses most is
//! [`AppleError::UnrecognizedDevice`]: it tells a device the server does not
//! know it, and the device unenrolls (Apple recommends it over a bare 401 on
//! iOS 17, macOS 14 and later).

use pippin_plist::{Dictionary, Value};

/// One of Apple's MDM error codes with its details.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum AppleError {
    /// `com.apple.unrecognized.device`: the server does not recognise the
    /// device; it unenrolls.
    UnrecognizedDevice,
    /// `com.apple.softwareupdate.required`: during Setup Assistant
    /// enrollment, the device must update first.
    SoftwareUpdateRequired {
        /// `details.OSVersion`: the version to update to (`"17.1"`).
        os_version: String,
        /// `details.BuildVersion`: a specific build, for seeding.
        build_version: Option<String>,
        /// `details.RequireBetaProgram`.
        require_beta_program: Option<bool>,
    },
    /// `com.apple.watch.pairing.token.missing`: an Apple Watch must fetch a
    /// pairing token first.
    WatchPairingTokenMissing {
        /// `details.security-token`: a random UUID string.
        security_token: String,
    },
    /// `com.apple.well-known.failed`: account-driven enrollment discovery refused.
    WellKnownFailed,
}

/// An [`AppleError`] with its optional texts.
#[derive(Clone, Debug, PartialEq)]
pub struct ErrorBody {
    /// The code and details.
    pub error: AppleError,
    /// `description`: for the device's logs only.
    pub description: Option<String>,
    /// `message`: may be shown to the user.
    pub message: Option<String>,
}

/// The status code of every Apple MDM error body.
pub const ERROR_STATUS: u16 = 403;

impl AppleError {
    /// The `code` string.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnrecognizedDevice => "com.apple.unrecognized.device",
            Self::SoftwareUpdateRequired { .. } => "com.apple.softwareupdate.required",
            Self::WatchPairingTokenMissing { .. } => "com.apple.watch.pairing.token.missing",
            Self::WellKnownFailed => "com.apple.well-known.failed",
        }
    }
}

impl ErrorBody {
    /// A body with no texts.
    pub fn new(error: AppleError) -> Self {
        Self {
            error,
            description: None,
            message: None,
        }
    }

    /// Adds the log-only description.
    pub fn with_description(mut self, d: impl Into<String>) -> Self {
        self.description = Some(d.into());
        self
    }

    /// Adds the user-visible message.
    pub fn with_message(mut self, m: impl Into<String>) -> Self {
        self.message = Some(m.into());
        self
    }

    fn details(&self) -> Option<Dictionary> {
        let mut d = Dictionary::new();
        match &self.error {
            AppleError::SoftwareUpdateRequired {
                os_version,
                build_version,
                require_beta_program,
            } => {
                d.insert("OSVersion", os_version.as_str());
                if let Some(b) = build_version {
                    d.insert("BuildVersion", b.as_str());
                }
                if let Some(r) = require_beta_program {
                    d.insert("RequireBetaProgram", *r);
                }
            }
            AppleError::WatchPairingTokenMissing { security_token } => {
                d.insert("security-token", security_token.as_str());
            }
            AppleError::UnrecognizedDevice | AppleError::WellKnownFailed => return None,
        }
        Some(d)
    }

    /// The body as a plist dictionary.
    pub fn to_dictionary(&self) -> Dictionary {
        let mut d = Dictionary::new();
        d.insert("code", self.error.code());
        if let Some(s) = &self.description {
            d.insert("description", s.as_str());
        }
        if let Some(s) = &self.message {
            d.insert("message", s.as_str());
        }
        if let Some(details) = self.details() {
            d.insert("details", details);
        }
        d
    }

    /// The body as an XML plist; send with `Content-Type: application/xml`.
    pub fn to_xml(&self) -> Vec<u8> {
        pippin_plist::to_xml_vec(&Value::Dictionary(self.to_dictionary()))
    }

    /// The body as JSON; send with `Content-Type: application/json`.
    pub fn to_json(&self) -> String {
        let mut out = String::from("{");
        let mut first = true;
        for (k, v) in self.to_dictionary().iter() {
            if !first {
                out.push(',');
            }
            first = false;
            json_string(&mut out, k);
            out.push(':');
            match v {
                Value::String(s) => json_string(&mut out, s),
                Value::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
                Value::Dictionary(inner) => {
                    out.push('{');
                    for (i, (k2, v2)) in inner.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        json_string(&mut out, k2);
                        out.push(':');
                        match v2 {
                            Value::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
                            Value::String(s) => json_string(&mut out, s),
                            // Details hold only strings and booleans.
                            _ => out.push_str("null"),
                        }
                    }
                    out.push('}');
                }
                // The top level holds only strings and the details dictionary.
                _ => out.push_str("null"),
            }
        }
        out.push('}');
        out
    }
}

fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unrecognized_device_json_and_plist() {
        let b =
            ErrorBody::new(AppleError::UnrecognizedDevice).with_description("no \"such\" device");
        assert_eq!(
            b.to_json(),
            r#"{"code":"com.apple.unrecognized.device","description":"no \"such\" device"}"#
        );
        let v = pippin_plist::from_bytes(&b.to_xml()).unwrap();
        assert_eq!(
            v.get("code").and_then(Value::as_str),
            Some("com.apple.unrecognized.device")
        );
    }

    #[test]
    fn software_update_required_details() {
        let b = ErrorBody::new(AppleError::SoftwareUpdateRequired {
            os_version: "17.1".into(),
            build_version: Some("21B74".into()),
            require_beta_program: None,
        });
        let json: serde_json::Value = serde_json::from_str(&b.to_json()).unwrap();
        assert_eq!(json["code"], "com.apple.softwareupdate.required");
        assert_eq!(json["details"]["OSVersion"], "17.1");
        assert_eq!(json["details"]["BuildVersion"], "21B74");
        let w = ErrorBody::new(AppleError::WatchPairingTokenMissing {
            security_token: "A-B".into(),
        });
        let json: serde_json::Value = serde_json::from_str(&w.to_json()).unwrap();
        assert_eq!(json["details"]["security-token"], "A-B");
    }
}
