//! `CertificateList`: the certificates installed on a device.
//!
//! Source: Apple, `mdm/commands/certificate.list.yaml` in
//! <https://github.com/apple/device-management> (`responsekeys`), and the
//! `CertificateListResponse` page of Apple's Device Management documentation
//! (<https://developer.apple.com/documentation/devicemanagement/certificatelistresponse>).

use pippin_plist::Dictionary;

use super::CommandResult;
use super::codec::Structure;
use crate::error::Result;

structure! {
    /// The response to a `CertificateList` command: `CertificateListResponse`.
    #[derive(Clone, Debug, Default, PartialEq)]
    pub struct CertificateListResult {
        /// `CertificateList` (required): one entry per certificate.
        certificates: Vec<CertificateInfo> = "CertificateList",
    }
}

impl CommandResult for CertificateListResult {
    const REQUEST_TYPE: &'static str = "CertificateList";

    fn from_payload(payload: Dictionary) -> Result<Self> {
        Self::decode(payload, "")
    }

    fn to_payload(&self) -> Dictionary {
        self.encode()
    }
}

structure! {
    /// `CertificateListResponse.CertificateListItem`.
    ///
    /// Apple's schema marks all three keys required; `CommonName` is optional
    /// here because a certificate need not have one.
    #[derive(Clone, Debug, Default, PartialEq)]
    pub struct CertificateInfo {
        /// `CommonName`: the certificate's common name.
        common_name: Option<String> = "CommonName",
        /// `Data` (required): the certificate, DER-encoded X.509.
        data: Vec<u8> = "Data",
        /// `IsIdentity` (required): the device holds the private key.
        is_identity: bool = "IsIdentity",
    }
}
