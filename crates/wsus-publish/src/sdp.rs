//! WSUS Software Distribution Packages (SDPs) and the
//! `SystemsManagementCatalog` that carries them.
//!
//! An SDP is the XML document through which WSUS local publishing (and
//! ConfigMgr's third-party software update catalogs) learns about one update:
//! its identity ([`Properties`]), its title and description per language
//! ([`LocalizedProperties`]), its classification ([`UpdateSpecificData`]),
//! where it applies (`IsInstallable`, `IsInstalled`: [`Rule`]), how it
//! installs ([`InstallableItem`]) and what it replaces
//! (`SupersededPackages`). The namespaces are those of WSUS 3.0's
//! `CorporatePublishing` schemas (`SoftwareDistributionPackage.xsd`,
//! `BaseApplicabilityRules.xsd`, `LogicalApplicabilityRules.xsd`,
//! `Installers/CommandLineInstallation.xsd`) and of ConfigMgr's
//! `SystemsManagementCatalog.xsd`.
//!
//! Apple updates are published **metadata only**: Macs are not WSUS
//! clients. The applicability rules therefore query a WMI namespace that
//! no Windows machine has ([`PIPPIN_NAMESPACE`]); its classes stand for what
//! managed Macs report over MDM (`OSUpdateStatus`, `AvailableOSUpdates`,
//! `InstalledApplicationList`), for Pippin to evaluate, and a Windows agent
//! never sees an Apple update as applicable. The install data names the
//! Apple product key, from which an MDM `ScheduleOSUpdate` installs the
//! update on a Mac. See [`Rule`] for the classes queried. The update type
//! (a software update, not a driver) is carried by that installer data, as
//! in vendors' packages: a driver's item would hold
//! `drv:WindowsDriverMetaData` instead; no attribute of `sdp:Properties`
//! repeats it.
//!
//! Building a package from an Apple product is [`crate::publish`]'s job;
//! this module writes what it is given, bounded and escaped:
//!
//! ```
//! use wsus_publish::sdp::{Catalog, SoftwareDistributionPackage, UpdateClassification};
//! use time::macros::datetime;
//!
//! let mut sdp = SoftwareDistributionPackage::new("041-12345", datetime!(2024-05-13 17:00 UTC));
//! sdp.properties.product_name = "Safari".into();
//! sdp.localized.title = "Safari 17.5".into();
//! sdp.localized.description = "Safari 17.5 for macOS Ventura".into();
//! sdp.update_data.classification = UpdateClassification::SecurityUpdates;
//!
//! let mut catalog = Catalog::new();
//! catalog.push(sdp);
//! let xml = catalog.to_xml();
//! let text = std::str::from_utf8(&xml).unwrap();
//! assert!(text.contains("<sdp:Title>Safari 17.5</sdp:Title>"));
//! assert!(text.contains(r#"UpdateClassification="Security Updates""#));
//! ```

use std::fmt::Write as _;

use time::OffsetDateTime;
use uuid::Uuid;

/// Namespace of `SoftwareDistributionPackage.xsd` (prefix `sdp`).
pub const NS_SDP: &str =
    "http://schemas.microsoft.com/wsus/2005/04/CorporatePublishing/SoftwareDistributionPackage.xsd";
/// Namespace of `SystemsManagementCatalog.xsd` (prefix `smc`).
pub const NS_SMC: &str =
    "http://schemas.microsoft.com/sms/2005/04/CorporatePublishing/SystemsManagementCatalog.xsd";
/// Namespace of `BaseApplicabilityRules.xsd` (prefix `bar`).
pub const NS_BAR: &str =
    "http://schemas.microsoft.com/wsus/2005/04/CorporatePublishing/BaseApplicabilityRules.xsd";
/// Namespace of `LogicalApplicabilityRules.xsd` (prefix `lar`).
pub const NS_LAR: &str =
    "http://schemas.microsoft.com/wsus/2005/04/CorporatePublishing/LogicalApplicabilityRules.xsd";
/// Namespace of `BaseTypes.xsd` (prefix `bt`).
pub const NS_BT: &str =
    "http://schemas.microsoft.com/wsus/2005/04/CorporatePublishing/BaseTypes.xsd";
/// Namespace of `Installers/CommandLineInstallation.xsd` (prefix `cmd`).
pub const NS_CMD: &str = "http://schemas.microsoft.com/wsus/2005/04/CorporatePublishing/Installers/CommandLineInstallation.xsd";
/// Namespace of XML Schema instances (prefix `xsi`).
pub const NS_XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// The WMI namespace that Pippin's applicability rules query. Its classes
/// stand for MDM inventory; no Windows machine has it.
pub const PIPPIN_NAMESPACE: &str = r"root\Pippin";

/// Longest title WSUS accepts, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest description WSUS accepts, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 1500;
/// Longest URL WSUS accepts in `MoreInfoUrl` and `SupportUrl`, in
/// characters.
pub const MAX_URL_CHARS: usize = 2048;

/// The namespace from which PackageIDs and InstallableItem IDs are derived
/// (RFC 9562 name-based, SHA-1): the same Apple product key always gives
/// the same GUID, on every server, so a rebuilt catalog updates WSUS's
/// revision of an update instead of adding a second update.
pub const PACKAGE_ID_NAMESPACE: Uuid = Uuid::from_u128(0x5b8f_0c4e_9a31_4e55_a1c2_7d9e_6f30_b214);

/// The PackageID of the SDP for Apple product `product_key`.
///
/// ```
/// let a = wsus_publish::sdp::package_id("041-12345");
/// assert_eq!(a, wsus_publish::sdp::package_id("041-12345"));
/// assert_ne!(a, wsus_publish::sdp::package_id("041-12346"));
/// assert_eq!(a.get_version_num(), 5);
/// ```
pub fn package_id(product_key: &str) -> Uuid {
    Uuid::new_v5(
        &PACKAGE_ID_NAMESPACE,
        format!("apple-product:{product_key}").as_bytes(),
    )
}

/// The ID of the one InstallableItem of the SDP for `product_key`.
pub fn installable_item_id(product_key: &str) -> Uuid {
    Uuid::new_v5(
        &PACKAGE_ID_NAMESPACE,
        format!("apple-product-item:{product_key}").as_bytes(),
    )
}

/// One Software Distribution Package (`sdp:SoftwareDistributionPackage`,
/// or `smc:SoftwareDistributionPackage` inside a catalog).
#[derive(Clone, Debug, PartialEq)]
pub struct SoftwareDistributionPackage {
    /// The Apple product key this package was made from (not written: the
    /// PackageID is derived from it).
    pub product_key: String,
    /// `sdp:Properties`.
    pub properties: Properties,
    /// `sdp:LocalizedProperties` (one language: Apple's English
    /// distribution).
    pub localized: LocalizedProperties,
    /// `sdp:UpdateSpecificData`.
    pub update_data: UpdateSpecificData,
    /// `sdp:IsInstallable` of the package: where the update can apply at
    /// all.
    pub is_installable: Rule,
    /// `sdp:InstallableItem`.
    pub item: InstallableItem,
    /// `sdp:SupersededPackages`: PackageIDs this update replaces.
    pub superseded: Vec<Uuid>,
}

impl SoftwareDistributionPackage {
    /// A published package for `product_key`, created at `creation_date`,
    /// with vendor "Apple", the classification "Updates", no title yet,
    /// applicable to managed Macs, and a metadata-only installable item.
    pub fn new(product_key: &str, creation_date: OffsetDateTime) -> Self {
        Self {
            product_key: product_key.to_owned(),
            properties: Properties {
                package_id: package_id(product_key),
                creation_date,
                vendor_name: "Apple".to_owned(),
                product_name: "macOS".to_owned(),
                publication_state: PublicationState::Published,
                more_info_url: None,
                support_url: None,
            },
            localized: LocalizedProperties {
                language: "en".to_owned(),
                title: String::new(),
                description: String::new(),
            },
            update_data: UpdateSpecificData {
                classification: UpdateClassification::Updates,
                msrc_severity: None,
                kb_article_id: None,
            },
            is_installable: Rule::is_mac(),
            item: InstallableItem {
                id: installable_item_id(product_key),
                is_installable: Rule::available_update(product_key),
                is_installed: Rule::installed_update(product_key),
                install: InstallProperties::default(),
                installer: InstallerData::ScheduleOsUpdate {
                    product_key: product_key.to_owned(),
                },
                origin_files: Vec::new(),
            },
            superseded: Vec::new(),
        }
    }

    /// Writes this package as a standalone SDP document
    /// (`sdp:SoftwareDistributionPackage` root with every namespace
    /// declared), as WSUS's publishing API and SCUP import it.
    pub fn to_xml(&self) -> Vec<u8> {
        let mut out = String::with_capacity(4096);
        out.push_str(r#"<?xml version="1.0" encoding="utf-8"?>"#);
        out.push('\n');
        out.push_str("<sdp:SoftwareDistributionPackage");
        write_namespaces(&mut out, false);
        out.push_str(r#" SchemaVersion="1.2">"#);
        out.push('\n');
        self.write_body(&mut out, 1);
        out.push_str("</sdp:SoftwareDistributionPackage>\n");
        out.into_bytes()
    }

    fn write_body(&self, out: &mut String, depth: usize) {
        let p = &self.properties;
        indent(out, depth);
        let _ = write!(
            out,
            r#"<sdp:Properties PackageID="{}" CreationDate="{}" VendorName="{}" PublicationState="{}" CanSourceBeRequired="false">"#,
            p.package_id,
            xml_datetime(p.creation_date),
            Attr(&p.vendor_name),
            p.publication_state.as_str(),
        );
        out.push('\n');
        if let Some(url) = &p.more_info_url {
            element(
                out,
                depth + 1,
                "sdp:MoreInfoUrl",
                &truncate_chars(url, MAX_URL_CHARS),
            );
        }
        if let Some(url) = &p.support_url {
            element(
                out,
                depth + 1,
                "sdp:SupportUrl",
                &truncate_chars(url, MAX_URL_CHARS),
            );
        }
        element(out, depth + 1, "sdp:ProductName", &p.product_name);
        indent(out, depth);
        out.push_str("</sdp:Properties>\n");

        let l = &self.localized;
        indent(out, depth);
        out.push_str("<sdp:LocalizedProperties>\n");
        element(out, depth + 1, "sdp:Language", &l.language);
        element(
            out,
            depth + 1,
            "sdp:Title",
            &truncate_chars(&l.title, MAX_TITLE_CHARS),
        );
        if !l.description.is_empty() {
            element(
                out,
                depth + 1,
                "sdp:Description",
                &truncate_chars(&l.description, MAX_DESCRIPTION_CHARS),
            );
        }
        indent(out, depth);
        out.push_str("</sdp:LocalizedProperties>\n");

        let u = &self.update_data;
        indent(out, depth);
        out.push_str("<sdp:UpdateSpecificData");
        if let Some(severity) = u.msrc_severity {
            let _ = write!(out, r#" MsrcSeverity="{}""#, severity.as_str());
        }
        let _ = write!(
            out,
            r#" UpdateClassification="{}""#,
            u.classification.as_str()
        );
        match &u.kb_article_id {
            Some(kb) => {
                out.push_str(">\n");
                element(out, depth + 1, "sdp:KBArticleID", kb);
                indent(out, depth);
                out.push_str("</sdp:UpdateSpecificData>\n");
            }
            None => out.push_str(" />\n"),
        }

        indent(out, depth);
        out.push_str("<sdp:IsInstallable>\n");
        self.is_installable.write(out, depth + 1);
        indent(out, depth);
        out.push_str("</sdp:IsInstallable>\n");

        if !self.superseded.is_empty() {
            indent(out, depth);
            out.push_str("<sdp:SupersededPackages>\n");
            for id in &self.superseded {
                indent(out, depth + 1);
                let _ = writeln!(out, "<sdp:PackageID>{id}</sdp:PackageID>");
            }
            indent(out, depth);
            out.push_str("</sdp:SupersededPackages>\n");
        }

        self.item.write(out, depth);
    }
}

/// `sdp:Properties`: the package's identity.
#[derive(Clone, Debug, PartialEq)]
pub struct Properties {
    /// `PackageID`: see [`package_id`].
    pub package_id: Uuid,
    /// `CreationDate`: when the package (this revision) was made; the
    /// product's PostDate, so that an unchanged product gives an unchanged
    /// package.
    pub creation_date: OffsetDateTime,
    /// `VendorName`: the vendor category ConfigMgr shows ("Apple").
    pub vendor_name: String,
    /// `sdp:ProductName`: the product category under the vendor ("macOS",
    /// "Safari", ...).
    pub product_name: String,
    /// `PublicationState`.
    pub publication_state: PublicationState,
    /// `sdp:MoreInfoUrl`.
    pub more_info_url: Option<String>,
    /// `sdp:SupportUrl`.
    pub support_url: Option<String>,
}

/// `PublicationState`: whether WSUS offers the update or has withdrawn it.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum PublicationState {
    /// The update is offered.
    Published,
    /// The update is withdrawn (Apple no longer lists the product).
    Expired,
}

impl PublicationState {
    /// The schema's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Published => "Published",
            Self::Expired => "Expired",
        }
    }
}

/// `sdp:LocalizedProperties`: title and description in one language.
#[derive(Clone, Debug, PartialEq)]
pub struct LocalizedProperties {
    /// `sdp:Language` (`en`).
    pub language: String,
    /// `sdp:Title`, cut to [`MAX_TITLE_CHARS`] when written.
    pub title: String,
    /// `sdp:Description` (plain text), cut to [`MAX_DESCRIPTION_CHARS`]
    /// when written.
    pub description: String,
}

/// `sdp:UpdateSpecificData`.
#[derive(Clone, Debug, PartialEq)]
pub struct UpdateSpecificData {
    /// `UpdateClassification`.
    pub classification: UpdateClassification,
    /// `MsrcSeverity`, when known (Apple publishes no severity, so only
    /// when configured).
    pub msrc_severity: Option<MsrcSeverity>,
    /// `sdp:KBArticleID`: the Apple product key, which admins search by.
    pub kb_article_id: Option<String>,
}

/// `UpdateClassification` values of the SDP schema.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum UpdateClassification {
    /// "Critical Updates".
    CriticalUpdates,
    /// "Definition Updates": data files such as XProtect's and MRT's.
    DefinitionUpdates,
    /// "Feature Packs": whole macOS installers.
    FeaturePacks,
    /// "Security Updates".
    SecurityUpdates,
    /// "Service Packs".
    ServicePacks,
    /// "Tools".
    Tools,
    /// "Update Rollups".
    UpdateRollups,
    /// "Updates".
    Updates,
}

impl UpdateClassification {
    /// The schema's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CriticalUpdates => "Critical Updates",
            Self::DefinitionUpdates => "Definition Updates",
            Self::FeaturePacks => "Feature Packs",
            Self::SecurityUpdates => "Security Updates",
            Self::ServicePacks => "Service Packs",
            Self::Tools => "Tools",
            Self::UpdateRollups => "Update Rollups",
            Self::Updates => "Updates",
        }
    }

    /// Reads the schema's spelling.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "Critical Updates" => Self::CriticalUpdates,
            "Definition Updates" => Self::DefinitionUpdates,
            "Feature Packs" => Self::FeaturePacks,
            "Security Updates" => Self::SecurityUpdates,
            "Service Packs" => Self::ServicePacks,
            "Tools" => Self::Tools,
            "Update Rollups" => Self::UpdateRollups,
            "Updates" => Self::Updates,
            _ => return None,
        })
    }
}

/// `MsrcSeverity` values.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum MsrcSeverity {
    /// "Critical".
    Critical,
    /// "Important".
    Important,
    /// "Moderate".
    Moderate,
    /// "Low".
    Low,
}

impl MsrcSeverity {
    /// The schema's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Critical => "Critical",
            Self::Important => "Important",
            Self::Moderate => "Moderate",
            Self::Low => "Low",
        }
    }

    /// Reads the schema's spelling.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "Critical" => Self::Critical,
            "Important" => Self::Important,
            "Moderate" => Self::Moderate,
            "Low" => Self::Low,
            _ => return None,
        })
    }
}

/// An applicability rule: the logical rules of
/// `LogicalApplicabilityRules.xsd` (`lar:And`, `lar:Or`, `lar:Not`,
/// `lar:True`, `lar:False`) over `bar:Processor` and `bar:WmiQuery` from
/// `BaseApplicabilityRules.xsd`.
///
/// A package's own `IsInstallable` ([`Rule::is_mac`]) first says that the
/// processor is none of Windows' architectures (x86, ARM, IA-64, x64,
/// ARM64), so that a Windows agent finds every Apple update not applicable
/// without ever querying WMI; a Mac has none of them.
///
/// The queries Pippin writes go to [`PIPPIN_NAMESPACE`] and its classes:
///
/// | class | properties | from MDM |
/// |---|---|---|
/// | `Pippin_OperatingSystem` | `Platform` (`macOS`), `ProductVersion`, `BuildVersion`, `VersionKey` | `DeviceInformation` |
/// | `Pippin_AvailableOSUpdate` | `ProductKey`, `Version` | `AvailableOSUpdates` |
/// | `Pippin_InstalledOSUpdate` | `ProductKey` | `OSUpdateStatus` and install history |
/// | `Pippin_PackageReceipt` | `PackageIdentifier`, `Version` | installed package receipts |
///
/// `VersionKey` is `major × 1,000,000 + minor × 1,000 + patch`, so that a
/// WQL integer comparison orders versions the way macOS does (string
/// comparison would put 10.9 after 10.15); see [`version_key`].
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Rule {
    /// `lar:And`: every child holds.
    And(Vec<Self>),
    /// `lar:Or`: some child holds.
    Or(Vec<Self>),
    /// `lar:Not`: the child does not hold.
    Not(Box<Self>),
    /// `lar:True`.
    True,
    /// `lar:False`.
    False,
    /// `bar:Processor`: the processor architecture is `architecture`
    /// (`PROCESSOR_ARCHITECTURE_*`: 0 x86, 5 ARM, 6 IA-64, 9 x64, 12 ARM64).
    Processor {
        /// `Architecture`.
        architecture: u16,
    },
    /// `bar:WmiQuery`: the query returns at least one instance.
    WmiQuery {
        /// `Namespace`.
        namespace: String,
        /// `WqlQuery`.
        wql: String,
    },
}

impl Rule {
    /// Windows' processor architectures (`PROCESSOR_ARCHITECTURE_*`).
    pub const WINDOWS_ARCHITECTURES: [u16; 5] = [0, 5, 6, 9, 12];

    /// The device is a Mac that Pippin manages: no Windows processor
    /// architecture, and Pippin's record of a macOS device.
    pub fn is_mac() -> Self {
        let mut rules: Vec<Self> = Self::WINDOWS_ARCHITECTURES
            .iter()
            .map(|&architecture| Self::Not(Box::new(Self::Processor { architecture })))
            .collect();
        rules.push(Self::pippin(
            "SELECT * FROM Pippin_OperatingSystem WHERE Platform = 'macOS'",
        ));
        Self::And(rules)
    }

    /// The Mac reports product `product_key` among its available updates.
    pub fn available_update(product_key: &str) -> Self {
        Self::pippin(&format!(
            "SELECT * FROM Pippin_AvailableOSUpdate WHERE ProductKey = '{}'",
            wql_escape(product_key)
        ))
    }

    /// The Mac has installed product `product_key`.
    pub fn installed_update(product_key: &str) -> Self {
        Self::pippin(&format!(
            "SELECT * FROM Pippin_InstalledOSUpdate WHERE ProductKey = '{}'",
            wql_escape(product_key)
        ))
    }

    /// The Mac has a receipt for package `identifier` at `version`.
    pub fn package_receipt(identifier: &str, version: &str) -> Self {
        Self::pippin(&format!(
            "SELECT * FROM Pippin_PackageReceipt WHERE PackageIdentifier = '{}' AND Version = '{}'",
            wql_escape(identifier),
            wql_escape(version)
        ))
    }

    /// The Mac runs macOS `min` or later (`min` inclusive) and, when
    /// `before` is given, earlier than `before`. `None` when neither bound
    /// reads as a version.
    pub fn os_version_range(min: Option<&str>, before: Option<&str>) -> Option<Self> {
        let mut checks = Vec::new();
        if let Some(min) = min {
            checks.push((">=", min));
        }
        if let Some(before) = before {
            checks.push(("<", before));
        }
        Self::os_version(&checks)
    }

    /// The Mac's macOS version passes every check `(operator, version)`,
    /// operators being `<`, `<=`, `=`, `<>`, `>=` and `>` (WQL's). Checks
    /// whose version or operator does not read are left out; `None` when
    /// none is left.
    pub fn os_version(checks: &[(&str, &str)]) -> Option<Self> {
        let conditions: Vec<String> = checks
            .iter()
            .filter(|(op, _)| matches!(*op, "<" | "<=" | "=" | "<>" | ">=" | ">"))
            .filter_map(|(op, v)| Some(format!("VersionKey {op} {}", version_key(v)?)))
            .collect();
        if conditions.is_empty() {
            return None;
        }
        Some(Self::pippin(&format!(
            "SELECT * FROM Pippin_OperatingSystem WHERE Platform = 'macOS' AND {}",
            conditions.join(" AND ")
        )))
    }

    fn pippin(wql: &str) -> Self {
        Self::WmiQuery {
            namespace: PIPPIN_NAMESPACE.to_owned(),
            wql: wql.to_owned(),
        }
    }

    /// `And` of `rules`, flattened: one rule stands alone, none is `True`.
    pub fn all(mut rules: Vec<Self>) -> Self {
        match rules.len() {
            0 => Self::True,
            1 => rules.remove(0),
            _ => Self::And(rules),
        }
    }

    fn write(&self, out: &mut String, depth: usize) {
        indent(out, depth);
        match self {
            Self::And(children) | Self::Or(children) => {
                let name = if matches!(self, Self::And(_)) {
                    "lar:And"
                } else {
                    "lar:Or"
                };
                let _ = writeln!(out, "<{name}>");
                for child in children {
                    child.write(out, depth + 1);
                }
                indent(out, depth);
                let _ = writeln!(out, "</{name}>");
            }
            Self::Not(child) => {
                out.push_str("<lar:Not>\n");
                child.write(out, depth + 1);
                indent(out, depth);
                out.push_str("</lar:Not>\n");
            }
            Self::True => out.push_str("<lar:True />\n"),
            Self::False => out.push_str("<lar:False />\n"),
            Self::Processor { architecture } => {
                let _ = writeln!(out, r#"<bar:Processor Architecture="{architecture}" />"#);
            }
            Self::WmiQuery { namespace, wql } => {
                let _ = writeln!(
                    out,
                    r#"<bar:WmiQuery Namespace="{}" WqlQuery="{}" />"#,
                    Attr(namespace),
                    Attr(wql)
                );
            }
        }
    }
}

/// The integer that orders macOS versions: `major × 1,000,000 + minor ×
/// 1,000 + patch` (missing parts are zero). `None` for anything that is not
/// one to three dot-separated numbers, each below 1,000.
///
/// ```
/// use wsus_publish::sdp::version_key;
/// assert_eq!(version_key("10.15.7"), Some(10_015_007));
/// assert_eq!(version_key("14"), Some(14_000_000));
/// assert!(version_key("10.9").unwrap() < version_key("10.15").unwrap());
/// assert_eq!(version_key("14.x"), None);
/// ```
pub fn version_key(version: &str) -> Option<u64> {
    let mut key = 0u64;
    for (i, part) in version.trim().split('.').enumerate() {
        if i == 3 || part.is_empty() || part.len() > 3 || !part.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let n: u64 = part.parse().ok()?;
        key += n * [1_000_000, 1_000, 1][i];
    }
    Some(key)
}

/// `sdp:InstallableItem`: the one way this update installs.
#[derive(Clone, Debug, PartialEq)]
pub struct InstallableItem {
    /// `ID`: see [`installable_item_id`].
    pub id: Uuid,
    /// `sdp:ApplicabilityRules/sdp:IsInstallable`.
    pub is_installable: Rule,
    /// `sdp:ApplicabilityRules/sdp:IsInstalled`.
    pub is_installed: Rule,
    /// `sdp:InstallProperties`.
    pub install: InstallProperties,
    /// The installer data.
    pub installer: InstallerData,
    /// `sdp:OriginFile`s: Apple's packages (metadata only: ConfigMgr never
    /// downloads them, Macs do).
    pub origin_files: Vec<OriginFile>,
}

impl InstallableItem {
    fn write(&self, out: &mut String, depth: usize) {
        indent(out, depth);
        let _ = writeln!(out, r#"<sdp:InstallableItem ID="{}">"#, self.id);
        indent(out, depth + 1);
        out.push_str("<sdp:ApplicabilityRules>\n");
        indent(out, depth + 2);
        out.push_str("<sdp:IsInstalled>\n");
        self.is_installed.write(out, depth + 3);
        indent(out, depth + 2);
        out.push_str("</sdp:IsInstalled>\n");
        indent(out, depth + 2);
        out.push_str("<sdp:IsInstallable>\n");
        self.is_installable.write(out, depth + 3);
        indent(out, depth + 2);
        out.push_str("</sdp:IsInstallable>\n");
        indent(out, depth + 1);
        out.push_str("</sdp:ApplicabilityRules>\n");

        let i = &self.install;
        indent(out, depth + 1);
        let _ = writeln!(
            out,
            r#"<sdp:InstallProperties CanRequestUserInput="{}" Impact="{}" RebootBehavior="{}" RequiresNetworkConnectivity="{}" />"#,
            i.can_request_user_input,
            i.impact.as_str(),
            i.reboot.as_str(),
            i.requires_network,
        );
        self.installer.write(out, depth + 1);
        for file in &self.origin_files {
            file.write(out, depth + 1);
        }
        indent(out, depth);
        out.push_str("</sdp:InstallableItem>\n");
    }
}

/// `sdp:InstallProperties`.
#[derive(Clone, Debug, PartialEq)]
pub struct InstallProperties {
    /// `CanRequestUserInput`.
    pub can_request_user_input: bool,
    /// `Impact`.
    pub impact: Impact,
    /// `RebootBehavior`.
    pub reboot: RebootBehavior,
    /// `RequiresNetworkConnectivity`: Macs download from Apple.
    pub requires_network: bool,
}

impl Default for InstallProperties {
    fn default() -> Self {
        Self {
            can_request_user_input: false,
            impact: Impact::Normal,
            reboot: RebootBehavior::CanRequestReboot,
            requires_network: true,
        }
    }
}

/// `Impact` of installing.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Impact {
    /// "Minor".
    Minor,
    /// "Normal".
    Normal,
    /// "RequiresExclusiveHandling".
    RequiresExclusiveHandling,
}

impl Impact {
    /// The schema's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Minor => "Minor",
            Self::Normal => "Normal",
            Self::RequiresExclusiveHandling => "RequiresExclusiveHandling",
        }
    }
}

/// `RebootBehavior` of installing.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum RebootBehavior {
    /// "NeverReboots".
    NeverReboots,
    /// "AlwaysRequiresReboot".
    AlwaysRequiresReboot,
    /// "CanRequestReboot".
    CanRequestReboot,
}

impl RebootBehavior {
    /// The schema's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NeverReboots => "NeverReboots",
            Self::AlwaysRequiresReboot => "AlwaysRequiresReboot",
            Self::CanRequestReboot => "CanRequestReboot",
        }
    }
}

/// The installer data of an item.
#[derive(Clone, Debug, PartialEq)]
pub enum InstallerData {
    /// Installed by an MDM `ScheduleOSUpdate` for Apple product
    /// `product_key`, written as `cmd:CommandLineInstallerData` (the
    /// schema's installer for anything that is not MSI or MSP) with program
    /// `ScheduleOSUpdate` and the product key as its argument; Pippin, not a
    /// Windows agent, runs it.
    ScheduleOsUpdate {
        /// The Apple product key.
        product_key: String,
    },
}

impl InstallerData {
    fn write(&self, out: &mut String, depth: usize) {
        match self {
            Self::ScheduleOsUpdate { product_key } => {
                indent(out, depth);
                let _ = writeln!(
                    out,
                    r#"<cmd:CommandLineInstallerData Program="ScheduleOSUpdate" Arguments="ProductKey={}" DefaultResult="Failed" RebootByDefault="false">"#,
                    Attr(product_key)
                );
                indent(out, depth + 1);
                out.push_str(r#"<cmd:ReturnCode Code="0" Result="Succeeded" Reboot="false" />"#);
                out.push('\n');
                indent(out, depth);
                out.push_str("</cmd:CommandLineInstallerData>\n");
            }
        }
    }
}

/// `sdp:OriginFile`: one of Apple's packages.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct OriginFile {
    /// `FileName`: the last segment of the URL.
    pub file_name: String,
    /// `OriginUri`.
    pub origin_uri: String,
    /// `Size`, in bytes.
    pub size: u64,
    /// `Digest`: the SHA-1 of the file, 20 bytes (written in base64).
    pub sha1: [u8; 20],
    /// `Modified`.
    pub modified: OffsetDateTime,
}

impl OriginFile {
    fn write(&self, out: &mut String, depth: usize) {
        indent(out, depth);
        let _ = writeln!(
            out,
            r#"<sdp:OriginFile Digest="{}" FileName="{}" Size="{}" Modified="{}" OriginUri="{}" />"#,
            base64_encode(&self.sha1),
            Attr(&self.file_name),
            self.size,
            xml_datetime(self.modified),
            Attr(&self.origin_uri),
        );
    }
}

/// A `smc:SystemsManagementCatalog`: the document ConfigMgr's third-party
/// catalog subscription reads from the signed cabinet.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Catalog {
    /// The packages, in the order written.
    pub packages: Vec<SoftwareDistributionPackage>,
}

impl Catalog {
    /// An empty catalog.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a package.
    pub fn push(&mut self, package: SoftwareDistributionPackage) {
        self.packages.push(package);
    }

    /// Writes the catalog (UTF-8 XML). Output is a pure function of the
    /// packages, so an unchanged input gives byte-identical output.
    pub fn to_xml(&self) -> Vec<u8> {
        let mut out = String::with_capacity(256 + self.packages.len() * 3072);
        out.push_str(r#"<?xml version="1.0" encoding="utf-8"?>"#);
        out.push('\n');
        out.push_str("<smc:SystemsManagementCatalog");
        write_namespaces(&mut out, true);
        out.push_str(">\n");
        for package in &self.packages {
            out.push_str("  <smc:SoftwareDistributionPackage SchemaVersion=\"1.2\">\n");
            package.write_body(&mut out, 2);
            out.push_str("  </smc:SoftwareDistributionPackage>\n");
        }
        out.push_str("</smc:SystemsManagementCatalog>\n");
        out.into_bytes()
    }
}

fn write_namespaces(out: &mut String, with_smc: bool) {
    for (prefix, ns) in [
        ("bar", NS_BAR),
        ("bt", NS_BT),
        ("cmd", NS_CMD),
        ("lar", NS_LAR),
        ("sdp", NS_SDP),
        ("xsi", NS_XSI),
    ] {
        let _ = write!(out, r#" xmlns:{prefix}="{ns}""#);
    }
    if with_smc {
        let _ = write!(out, r#" xmlns:smc="{NS_SMC}""#);
    }
}

fn indent(out: &mut String, depth: usize) {
    for _ in 0..depth {
        out.push_str("  ");
    }
}

fn element(out: &mut String, depth: usize, name: &str, text: &str) {
    indent(out, depth);
    let _ = writeln!(out, "<{name}>{}</{name}>", Text(text));
}

/// `xs:dateTime` in UTC with a `Z`, to the second.
fn xml_datetime(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// `s` cut to at most `max` characters; a cut text ends in "…".
pub fn truncate_chars(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match s.char_indices().nth(max) {
        None => std::borrow::Cow::Borrowed(s),
        Some(_) => {
            let keep = s
                .char_indices()
                .nth(max.saturating_sub(1))
                .map_or(s.len(), |(i, _)| i);
            let mut cut = s[..keep].trim_end().to_owned();
            cut.push('…');
            std::borrow::Cow::Owned(cut)
        }
    }
}

/// A WQL string literal's content: `\` and `'` escaped.
fn wql_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c == '\\' || c == '\'' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Whether XML 1.0 allows `c` in a document (its `Char` production).
fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Element text, escaped; characters XML cannot carry are dropped.
struct Text<'a>(&'a str);

impl std::fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        escape(f, self.0, false)
    }
}

/// Attribute text, escaped (quotes and whitespace too, so that the value
/// reads back exactly).
struct Attr<'a>(&'a str);

impl std::fmt::Display for Attr<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        escape(f, self.0, true)
    }
}

fn escape(f: &mut std::fmt::Formatter<'_>, s: &str, attr: bool) -> std::fmt::Result {
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let replacement = match c {
            '<' => "&lt;",
            '>' => "&gt;",
            '&' => "&amp;",
            '"' if attr => "&quot;",
            '\t' if attr => "&#9;",
            '\n' if attr => "&#10;",
            '\r' => "&#13;",
            c if !xml_char(c) => "",
            _ => continue,
        };
        f.write_str(&s[start..i])?;
        f.write_str(replacement)?;
        start = i + c.len_utf8();
    }
    f.write_str(&s[start..])
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests;
