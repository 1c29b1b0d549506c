//! Configuration profiles: install and remove.

use pippin_plist::{Dictionary, Value};

use super::RequestType;
use super::wire::open;
use crate::error::Result;
use crate::fields::DictBuilder;

/// `InstallProfile`: Apple, "This command allows the host to install a
/// configuration profile" (`mdm/commands/profile.install.yaml`).
///
/// The profile may be signed, and may be encrypted to any identity
/// certificate the device holds. Needs the Profile Installation and Removal
/// right.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InstallProfile {
    /// `Payload` (required, data): the profile, as the bytes of a
    /// `.mobileconfig` file (plist, or CMS-signed plist).
    pub payload: Vec<u8>,
    /// Keys this crate does not know, kept so that nothing is lost.
    pub extra: Dictionary,
}

impl InstallProfile {
    /// A command installing the profile `payload`.
    pub fn new(payload: impl Into<Vec<u8>>) -> Self {
        Self {
            payload: payload.into(),
            extra: Dictionary::new(),
        }
    }
}

impl RequestType for InstallProfile {
    const REQUEST_TYPE: &'static str = "InstallProfile";

    fn to_params(&self) -> Dictionary {
        DictBuilder::new()
            .set("Payload", Value::Data(self.payload.clone()))
            .extra(&self.extra)
            .build()
    }

    fn from_params(params: Dictionary) -> Result<Self> {
        let mut f = open(params, "", &["Payload"])?;
        Ok(Self {
            payload: f.data("Payload")?,
            extra: f.rest(),
        })
    }
}

/// `RemoveProfile`: Apple, "This command allows the server to remove a
/// profile" (`mdm/commands/profile.remove.yaml`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RemoveProfile {
    /// `Identifier` (required): the `PayloadIdentifier` of the profile.
    pub identifier: String,
    /// Keys this crate does not know, kept so that nothing is lost.
    pub extra: Dictionary,
}

impl RemoveProfile {
    /// A command removing the profile with `PayloadIdentifier` `identifier`.
    pub fn new(identifier: impl Into<String>) -> Self {
        Self {
            identifier: identifier.into(),
            extra: Dictionary::new(),
        }
    }
}

impl RequestType for RemoveProfile {
    const REQUEST_TYPE: &'static str = "RemoveProfile";

    fn to_params(&self) -> Dictionary {
        DictBuilder::new()
            .set("Identifier", self.identifier.as_str())
            .extra(&self.extra)
            .build()
    }

    fn from_params(params: Dictionary) -> Result<Self> {
        let mut f = open(params, "", &[])?;
        Ok(Self {
            identifier: f.string("Identifier")?,
            extra: f.rest(),
        })
    }
}
