//! Apps: install (App Store / Apps and Books, or by manifest) and remove.

use std::ops::BitOr;

use pippin_plist::Dictionary;

use super::RequestType;
use super::wire::{open, opt_enum, opt_nested, string_array, string_enum};
use crate::error::{Error, Result};
use crate::fields::DictBuilder;

/// `InstallApplication`: Apple, "This command allows the server to install an
/// application on a device. If the app is already being managed, this command
/// will update the app" (`mdm/commands/application.install.yaml`).
///
/// Exactly one source is given in practice: `iTunesStoreID` (an App Store app,
/// usually licensed through Apps and Books with
/// [`PurchaseMethod::VolumePurchase`]), `Identifier` (a bundle identifier,
/// iOS 7 and later) or `ManifestURL` (an in-house app). Decoding requires at
/// least one of them. The constructors [`InstallApplication::vpp`],
/// [`InstallApplication::by_identifier`] and [`InstallApplication::by_manifest`]
/// start from each.
#[derive(Clone, Debug, PartialEq)]
pub struct InstallApplication {
    /// `iTunesStoreID` (integer): the App Store identifier (Apple's "adam ID").
    pub itunes_store_id: Option<u64>,
    /// `Identifier`: the app's bundle identifier (for a watchOS app, the
    /// watch app's own bundle identifier).
    pub identifier: Option<String>,
    /// `ManifestURL`: an `https:` URL of the app manifest plist.
    pub manifest_url: Option<String>,
    /// `Options`: installation options (the purchase method).
    pub options: Option<InstallApplicationOptions>,
    /// `ManagementFlags` (integer bit mask; macOS from 11).
    pub management_flags: Option<ManagementFlags>,
    /// `Configuration`: the app's initial managed configuration; any keys the
    /// app defines.
    pub configuration: Option<Dictionary>,
    /// `Attributes` (iOS, tvOS): the app's initial attributes.
    pub attributes: Option<ApplicationAttributes>,
    /// `ChangeManagementState` (iOS 9, macOS 11): `Managed` to take over an
    /// app the user already installed.
    pub change_management_state: Option<ChangeManagementState>,
    /// `InstallAsManaged` (macOS 11): install as a managed app. Default
    /// `false`.
    pub install_as_managed: Option<bool>,
    /// `iOSApp` (macOS 11): the app is an iPhone/iPad app to run on a Mac with
    /// Apple silicon. Default `false`.
    pub ios_app: Option<bool>,
    /// Keys this crate does not know, kept so that nothing is lost.
    pub extra: Dictionary,
}

impl InstallApplication {
    /// An App Store app licensed through Apps and Books (VPP): `iTunesStoreID`
    /// with `Options.PurchaseMethod = 1`.
    pub fn vpp(itunes_store_id: u64) -> Self {
        Self {
            itunes_store_id: Some(itunes_store_id),
            options: Some(InstallApplicationOptions {
                purchase_method: Some(PurchaseMethod::VolumePurchase),
                extra: Dictionary::new(),
            }),
            ..Self::empty()
        }
    }

    /// An app named by its bundle identifier (`Identifier`).
    pub fn by_identifier(identifier: impl Into<String>) -> Self {
        Self {
            identifier: Some(identifier.into()),
            ..Self::empty()
        }
    }

    /// An in-house app described by the manifest at `manifest_url`
    /// (`ManifestURL`).
    pub fn by_manifest(manifest_url: impl Into<String>) -> Self {
        Self {
            manifest_url: Some(manifest_url.into()),
            ..Self::empty()
        }
    }

    fn empty() -> Self {
        Self {
            itunes_store_id: None,
            identifier: None,
            manifest_url: None,
            options: None,
            management_flags: None,
            configuration: None,
            attributes: None,
            change_management_state: None,
            install_as_managed: None,
            ios_app: None,
            extra: Dictionary::new(),
        }
    }
}

impl RequestType for InstallApplication {
    const REQUEST_TYPE: &'static str = "InstallApplication";

    fn to_params(&self) -> Dictionary {
        DictBuilder::new()
            .opt("iTunesStoreID", self.itunes_store_id)
            .opt("Identifier", self.identifier.as_deref())
            .opt("ManifestURL", self.manifest_url.as_deref())
            .opt("Options", self.options.as_ref().map(|o| o.to_dict()))
            .opt("ManagementFlags", self.management_flags.map(|m| m.0))
            .opt("Configuration", self.configuration.clone())
            .opt("Attributes", self.attributes.as_ref().map(|a| a.to_dict()))
            .opt(
                "ChangeManagementState",
                self.change_management_state.clone(),
            )
            .opt("InstallAsManaged", self.install_as_managed)
            .opt("iOSApp", self.ios_app)
            .extra(&self.extra)
            .build()
    }

    fn from_params(params: Dictionary) -> Result<Self> {
        let mut f = open(params, "", &[])?;
        let cmd = Self {
            itunes_store_id: f.opt_u64("iTunesStoreID")?,
            identifier: f.opt_string("Identifier")?,
            manifest_url: f.opt_string("ManifestURL")?,
            options: opt_nested(&mut f, "", "Options", InstallApplicationOptions::from_dict)?,
            management_flags: f.opt_u64("ManagementFlags")?.map(ManagementFlags),
            configuration: f.opt_dict("Configuration")?,
            attributes: opt_nested(&mut f, "", "Attributes", ApplicationAttributes::from_dict)?,
            change_management_state: opt_enum(&mut f, "ChangeManagementState")?,
            install_as_managed: f.opt_bool("InstallAsManaged")?,
            ios_app: f.opt_bool("iOSApp")?,
            extra: f.rest(),
        };
        if cmd.itunes_store_id.is_none() && cmd.identifier.is_none() && cmd.manifest_url.is_none() {
            return Err(Error::missing("iTunesStoreID, Identifier or ManifestURL"));
        }
        Ok(cmd)
    }
}

/// `InstallApplicationCommand.Command.Options`: Apple, "A dictionary that
/// contains the app installation options"
/// (`mdm/commands/application.install.yaml`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InstallApplicationOptions {
    /// `PurchaseMethod` (integer): how the app was obtained. Default `0`.
    pub purchase_method: Option<PurchaseMethod>,
    /// Keys this crate does not know, kept so that nothing is lost.
    pub extra: Dictionary,
}

impl InstallApplicationOptions {
    fn to_dict(&self) -> Dictionary {
        DictBuilder::new()
            .opt(
                "PurchaseMethod",
                self.purchase_method.map(PurchaseMethod::code),
            )
            .extra(&self.extra)
            .build()
    }

    fn from_dict(d: Dictionary, path: &str) -> Result<Self> {
        let mut f = open(d, path, &[])?;
        Ok(Self {
            purchase_method: f.opt_i64("PurchaseMethod")?.map(PurchaseMethod::from),
            extra: f.rest(),
        })
    }
}

/// `Options.PurchaseMethod`: the app's purchase type.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum PurchaseMethod {
    /// `0`: a free app, or a legacy Volume Purchase Program redemption code
    /// (iOS only).
    Free,
    /// `1`: an Apps and Books (Volume Purchase Program) license assigned to the
    /// device or user. Also how first-party apps are installed without an App
    /// Store sign-in, and how apps reach a User Enrollment.
    VolumePurchase,
    /// A value this crate does not know, kept as sent.
    Other(i64),
}

impl PurchaseMethod {
    /// The integer sent in the property list.
    pub fn code(self) -> i64 {
        match self {
            Self::Free => 0,
            Self::VolumePurchase => 1,
            Self::Other(n) => n,
        }
    }
}

impl From<i64> for PurchaseMethod {
    fn from(n: i64) -> Self {
        match n {
            0 => Self::Free,
            1 => Self::VolumePurchase,
            other => Self::Other(other),
        }
    }
}

/// `ManagementFlags`: a bit mask; Apple lists the values 1, 4 and 5.
#[derive(Clone, Copy, Debug, Default, Eq, Hash, PartialEq)]
pub struct ManagementFlags(pub u64);

impl ManagementFlags {
    /// `1`: remove the app when the MDM profile is removed (with
    /// `InstallAsManaged` on macOS).
    pub const REMOVE_WITH_MDM_PROFILE: Self = Self(1);
    /// `4`: prevent backup of the app's data.
    pub const PREVENT_BACKUP: Self = Self(4);

    /// Whether every bit of `other` is set.
    pub fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }
}

impl BitOr for ManagementFlags {
    type Output = Self;

    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

string_enum! {
    /// `ChangeManagementState`: Apple's only value is `Managed`.
    pub enum ChangeManagementState {
        /// `Managed`: take over management of an app the user installed
        /// (with `InstallAsManaged` on macOS).
        Managed = "Managed",
    }
}

/// `InstallApplicationCommand.Command.Attributes`, also the `Attributes` of
/// the `ApplicationAttributes` setting: Apple, "A dictionary that contains the
/// initial attributes of the app" (`mdm/commands/application.install.yaml`,
/// `mdm/commands/settings.yaml`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ApplicationAttributes {
    /// `VPNUUID`: the per-app VPN to route the app through.
    pub vpn_uuid: Option<String>,
    /// `ContentFilterUUID` (iOS 16): the content filter for the app.
    pub content_filter_uuid: Option<String>,
    /// `DNSProxyUUID` (iOS 16): the DNS proxy for the app.
    pub dns_proxy_uuid: Option<String>,
    /// `RelayUUID` (iOS 17): the relay for the app.
    pub relay_uuid: Option<String>,
    /// `AssociatedDomains` (iOS 13): associated domains to add to the app.
    pub associated_domains: Option<Vec<String>>,
    /// `AssociatedDomainsEnableDirectDownloads` (iOS 14): verify associated
    /// domains directly rather than through Apple. Default `false`.
    pub associated_domains_enable_direct_downloads: Option<bool>,
    /// `Removable` (iOS 14, tvOS 14): `false` stops the user deleting the
    /// managed app. Default `true`.
    pub removable: Option<bool>,
    /// `TapToPayScreenLock` (iOS 16.4): require unlocking after each Tap to
    /// Pay transaction. Default `false`.
    pub tap_to_pay_screen_lock: Option<bool>,
    /// `CellularSliceUUID` (iOS 17): `DNN:name` or `AppCategory:category`.
    pub cellular_slice_uuid: Option<String>,
    /// `Hideable` (iOS 18.1): `false` stops the user hiding the app. Default
    /// `true`.
    pub hideable: Option<bool>,
    /// `Lockable` (iOS 18.1): `false` stops the user locking (and so hiding)
    /// the app. Default `true`.
    pub lockable: Option<bool>,
    /// Keys this crate does not know, kept so that nothing is lost.
    pub extra: Dictionary,
}

impl ApplicationAttributes {
    pub(crate) fn to_dict(&self) -> Dictionary {
        DictBuilder::new()
            .opt("VPNUUID", self.vpn_uuid.as_deref())
            .opt("ContentFilterUUID", self.content_filter_uuid.as_deref())
            .opt("DNSProxyUUID", self.dns_proxy_uuid.as_deref())
            .opt("RelayUUID", self.relay_uuid.as_deref())
            .opt(
                "AssociatedDomains",
                self.associated_domains.as_deref().map(string_array),
            )
            .opt(
                "AssociatedDomainsEnableDirectDownloads",
                self.associated_domains_enable_direct_downloads,
            )
            .opt("Removable", self.removable)
            .opt("TapToPayScreenLock", self.tap_to_pay_screen_lock)
            .opt("CellularSliceUUID", self.cellular_slice_uuid.as_deref())
            .opt("Hideable", self.hideable)
            .opt("Lockable", self.lockable)
            .extra(&self.extra)
            .build()
    }

    pub(crate) fn from_dict(d: Dictionary, path: &str) -> Result<Self> {
        let mut f = open(d, path, &[])?;
        Ok(Self {
            vpn_uuid: f.opt_string("VPNUUID")?,
            content_filter_uuid: f.opt_string("ContentFilterUUID")?,
            dns_proxy_uuid: f.opt_string("DNSProxyUUID")?,
            relay_uuid: f.opt_string("RelayUUID")?,
            associated_domains: f.opt_strings("AssociatedDomains")?,
            associated_domains_enable_direct_downloads: f
                .opt_bool("AssociatedDomainsEnableDirectDownloads")?,
            removable: f.opt_bool("Removable")?,
            tap_to_pay_screen_lock: f.opt_bool("TapToPayScreenLock")?,
            cellular_slice_uuid: f.opt_string("CellularSliceUUID")?,
            hideable: f.opt_bool("Hideable")?,
            lockable: f.opt_bool("Lockable")?,
            extra: f.rest(),
        })
    }
}

/// `RemoveApplication`: Apple, "This command allows a server to remove a
/// managed app" (`mdm/commands/application.remove.yaml`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RemoveApplication {
    /// `Identifier` (required): the managed app's bundle identifier.
    pub identifier: String,
    /// Keys this crate does not know, kept so that nothing is lost.
    pub extra: Dictionary,
}

impl RemoveApplication {
    /// A command removing the managed app `identifier`.
    pub fn new(identifier: impl Into<String>) -> Self {
        Self {
            identifier: identifier.into(),
            extra: Dictionary::new(),
        }
    }
}

impl RequestType for RemoveApplication {
    const REQUEST_TYPE: &'static str = "RemoveApplication";

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
