//! Queries: commands that ask a device to report about itself.

use pippin_plist::Dictionary;

use super::RequestType;
use super::wire::{no_param_command, open};
use crate::error::Result;
use crate::fields::DictBuilder;

/// `DeviceInformation`: Apple, "This command allows the server to query for
/// specific device information" (`mdm/commands/information.device.yaml`).
///
/// The device answers with a `QueryResponses` dictionary holding a value for
/// each query it knows and is allowed to answer; it leaves out the others.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeviceInformation {
    /// `Queries` (required): the names of the values wanted (`UDID`,
    /// `SerialNumber`, ...). See [`DeviceInformation::COMMON_QUERIES`].
    pub queries: Vec<String>,
    /// `DeviceAttestationNonce` (iOS 16, macOS 14): a freshness code of up to
    /// 32 bytes to be put in the attestation; only meaningful when `queries`
    /// holds `DevicePropertiesAttestation`.
    pub device_attestation_nonce: Option<Vec<u8>>,
    /// Keys this crate does not know, kept so that nothing is lost.
    pub extra: Dictionary,
}

impl DeviceInformation {
    /// Queries that both iOS/iPadOS and macOS answer, for a routine inventory.
    ///
    /// `BatteryLevel` needs macOS 13.3, `ModelNumber` iOS 16.4 / macOS 13.3,
    /// `SoftwareUpdateDeviceID` iOS 15 / macOS 12, and `IsActivationLockEnabled`
    /// is deprecated from iOS 16 / macOS 13 (`SecurityInfo` reports the same
    /// thing there); a device skips a query it does not know.
    pub const COMMON_QUERIES: &'static [&'static str] = &[
        "UDID",
        "DeviceName",
        "OSVersion",
        "BuildVersion",
        "SupplementalOSVersionExtra",
        "SupplementalBuildVersion",
        "ModelName",
        "Model",
        "ModelNumber",
        "ProductName",
        "SerialNumber",
        "DeviceCapacity",
        "AvailableDeviceCapacity",
        "BatteryLevel",
        "WiFiMAC",
        "BluetoothMAC",
        "IsSupervised",
        "IsActivationLockEnabled",
        "AwaitingConfiguration",
        "SoftwareUpdateDeviceID",
        "OrganizationInfo",
        "MDMOptions",
        "iTunesStoreAccountIsActive",
    ];

    /// Queries only macOS answers, added to [`Self::COMMON_QUERIES`] by
    /// [`Self::macos`]. Note that the Ethernet query is the singular
    /// `EthernetMAC` (the primary interface).
    pub const MACOS_QUERIES: &'static [&'static str] = &[
        "EthernetMAC",
        "ProvisioningUDID",
        "IsAppleSilicon",
        "HasBattery",
        "IsActivationLockSupported",
        "HostName",
        "LocalHostName",
        "SystemIntegrityProtectionEnabled",
        "OSUpdateSettings",
        "ActiveManagedUsers",
        "AutoSetupAdminAccounts",
        "SupportsLOMDevice",
        "PINRequiredForDeviceLock",
        "PINRequiredForEraseDevice",
        "EACSPreflight",
        "SupportsiOSAppInstalls",
    ];

    /// Queries only iOS/iPadOS answers, added to [`Self::COMMON_QUERIES`] by
    /// [`Self::ios`]. The cellular ones (`IMEI`, `MEID`, `ICCID`, carrier
    /// names, `PhoneNumber`) are deprecated from iOS 16 and answered only by
    /// older versions.
    pub const IOS_QUERIES: &'static [&'static str] = &[
        "IMEI",
        "MEID",
        "ICCID",
        "ModemFirmwareVersion",
        "CellularTechnology",
        "PhoneNumber",
        "CurrentCarrierNetwork",
        "SubscriberCarrierNetwork",
        "ServiceSubscriptions",
        "IsRoaming",
        "DataRoamingEnabled",
        "VoiceRoamingEnabled",
        "PersonalHotspotEnabled",
        "IsNetworkTethered",
        "IsMultiUser",
        "IsDeviceLocatorServiceEnabled",
        "IsDoNotDisturbInEffect",
        "IsCloudBackupEnabled",
        "LastCloudBackupDate",
        "IsMDMLostModeEnabled",
        "EASDeviceIdentifier",
        "DiagnosticSubmissionEnabled",
        "AppAnalyticsEnabled",
        "TimeZone",
    ];

    /// A query for the given names.
    pub fn new<I, S>(queries: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            queries: queries.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }

    /// The routine inventory query: [`Self::COMMON_QUERIES`].
    pub fn standard() -> Self {
        Self::new(Self::COMMON_QUERIES.iter().copied())
    }

    /// The routine inventory query for a Mac: the common queries and
    /// [`Self::MACOS_QUERIES`].
    pub fn macos() -> Self {
        Self::new(
            Self::COMMON_QUERIES
                .iter()
                .chain(Self::MACOS_QUERIES)
                .copied(),
        )
    }

    /// The routine inventory query for an iPhone or iPad: the common queries
    /// and [`Self::IOS_QUERIES`].
    pub fn ios() -> Self {
        Self::new(
            Self::COMMON_QUERIES
                .iter()
                .chain(Self::IOS_QUERIES)
                .copied(),
        )
    }
}

impl RequestType for DeviceInformation {
    const REQUEST_TYPE: &'static str = "DeviceInformation";

    fn to_params(&self) -> Dictionary {
        DictBuilder::new()
            .opt_strings("Queries", Some(&self.queries))
            .opt_data(
                "DeviceAttestationNonce",
                self.device_attestation_nonce.as_ref(),
            )
            .extra(&self.extra)
            .build()
    }

    fn from_params(params: Dictionary) -> Result<Self> {
        let mut f = open(params, "", &["DeviceAttestationNonce"])?;
        let queries = f.opt_strings("Queries")?;
        Ok(Self {
            queries: f.require("Queries", queries)?,
            device_attestation_nonce: f.opt_data("DeviceAttestationNonce")?,
            extra: f.rest(),
        })
    }
}

no_param_command! {
    /// `SecurityInfo`: Apple, "This command queries the device for
    /// security-related information" (`mdm/commands/information.security.yaml`).
    ///
    /// Passcode, FileVault, Secure Boot, firewall and management status; it
    /// needs the Security Query right.
    pub struct SecurityInfo = "SecurityInfo";
}

/// `InstalledApplicationList`: Apple, "This command allows the server to query
/// for installed 3rd party applications"
/// (`mdm/commands/application.installed.list.yaml`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InstalledApplicationList {
    /// `Identifiers` (iOS 7, macOS 10.15): report only these bundle
    /// identifiers.
    pub identifiers: Option<Vec<String>>,
    /// `ManagedAppsOnly` (iOS 7, macOS 10.15): report only managed apps
    /// (excluding those managed declaratively). Default `false`.
    pub managed_apps_only: Option<bool>,
    /// `Items` (iOS 14, tvOS 14): report only these keys of each app
    /// (`Identifier` always comes back), such as `Name`, `ShortVersion`,
    /// `BundleSize`.
    pub items: Option<Vec<String>>,
    /// Keys this crate does not know, kept so that nothing is lost.
    pub extra: Dictionary,
}

impl RequestType for InstalledApplicationList {
    const REQUEST_TYPE: &'static str = "InstalledApplicationList";

    fn to_params(&self) -> Dictionary {
        DictBuilder::new()
            .opt_strings("Identifiers", self.identifiers.as_ref())
            .opt("ManagedAppsOnly", self.managed_apps_only)
            .opt_strings("Items", self.items.as_ref())
            .extra(&self.extra)
            .build()
    }

    fn from_params(params: Dictionary) -> Result<Self> {
        let mut f = open(params, "", &[])?;
        Ok(Self {
            identifiers: f.opt_strings("Identifiers")?,
            managed_apps_only: f.opt_bool("ManagedAppsOnly")?,
            items: f.opt_strings("Items")?,
            extra: f.rest(),
        })
    }
}

/// `ManagedApplicationList`: Apple, "This command allows the server to query
/// the status of managed apps" (`mdm/commands/application.managed.list.yaml`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ManagedApplicationList {
    /// `Identifiers`: report only these bundle identifiers (all managed apps
    /// when absent).
    pub identifiers: Option<Vec<String>>,
    /// Keys this crate does not know, kept so that nothing is lost.
    pub extra: Dictionary,
}

impl RequestType for ManagedApplicationList {
    const REQUEST_TYPE: &'static str = "ManagedApplicationList";

    fn to_params(&self) -> Dictionary {
        DictBuilder::new()
            .opt_strings("Identifiers", self.identifiers.as_ref())
            .extra(&self.extra)
            .build()
    }

    fn from_params(params: Dictionary) -> Result<Self> {
        let mut f = open(params, "", &[])?;
        Ok(Self {
            identifiers: f.opt_strings("Identifiers")?,
            extra: f.rest(),
        })
    }
}

/// `ProfileList`: Apple, "This command allows the MDM server to query for the
/// profiles installed on the device" (`mdm/commands/profile.list.yaml`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProfileList {
    /// `ManagedOnly` (iOS 13, macOS 10.15): report only profiles MDM
    /// installed. Default `false`; User Enrollment always behaves as `true`.
    pub managed_only: Option<bool>,
    /// Keys this crate does not know, kept so that nothing is lost.
    pub extra: Dictionary,
}

impl RequestType for ProfileList {
    const REQUEST_TYPE: &'static str = "ProfileList";

    fn to_params(&self) -> Dictionary {
        DictBuilder::new()
            .opt("ManagedOnly", self.managed_only)
            .extra(&self.extra)
            .build()
    }

    fn from_params(params: Dictionary) -> Result<Self> {
        let mut f = open(params, "", &[])?;
        Ok(Self {
            managed_only: f.opt_bool("ManagedOnly")?,
            extra: f.rest(),
        })
    }
}

/// `CertificateList`: Apple, "This command allows the server to retrieve the
/// list of installed certificates on the device"
/// (`mdm/commands/certificate.list.yaml`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CertificateList {
    /// `ManagedOnly` (iOS 13, macOS 10.15): report only certificates MDM
    /// installed or that share a profile with the MDM payload. Default
    /// `false`.
    pub managed_only: Option<bool>,
    /// Keys this crate does not know, kept so that nothing is lost.
    pub extra: Dictionary,
}

impl RequestType for CertificateList {
    const REQUEST_TYPE: &'static str = "CertificateList";

    fn to_params(&self) -> Dictionary {
        DictBuilder::new()
            .opt("ManagedOnly", self.managed_only)
            .extra(&self.extra)
            .build()
    }

    fn from_params(params: Dictionary) -> Result<Self> {
        let mut f = open(params, "", &[])?;
        Ok(Self {
            managed_only: f.opt_bool("ManagedOnly")?,
            extra: f.rest(),
        })
    }
}
