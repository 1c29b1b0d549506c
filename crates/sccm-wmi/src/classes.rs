//! Typed views of the SMS Provider classes the bridge uses.
//!
//! Each type reads an [`Instance`] with `from_instance`, whichever path it
//! came by: AdminService's JSON (typed numbers and booleans, ISO 8601
//! date-times) or WS-Management's XML (every scalar as text, DMTF
//! date-times, a one-element array possibly as a bare value). The source
//! instance is kept in `instance`, so properties these types do not name
//! (and any a newer ConfigMgr adds) are still there. The types the bridge
//! writes (collections, membership rules, `ImportMachineEntry`'s
//! parameters) have `to_instance`, which gives exactly the properties to
//! send.
//!
//! Property names and types follow the ConfigMgr SDK's class reference
//! (`SMS_R_System`, `SMS_Collection`, … "Server WMI Class"). Key
//! properties are required; the rest are optional, since a `$select` or a
//! WQL property list may leave them out.
//!
//! ```
//! use sccm_wmi::Instance;
//! use sccm_wmi::classes::SmsRSystem;
//!
//! // As WS-Management gives it: text everywhere.
//! let i = Instance::new("SMS_R_System")
//!     .with("ResourceId", "16777219")
//!     .with("Name", "MAC-0001")
//!     .with("Client", "1")
//!     .with("MACAddresses", "00:11:22:33:44:55");
//! let s = SmsRSystem::from_instance(&i)?;
//! assert_eq!(s.resource_id, 16777219);
//! assert_eq!(s.client, Some(true));
//! assert_eq!(s.mac_addresses, ["00:11:22:33:44:55"]);
//! # Ok::<(), sccm_wmi::Error>(())
//! ```

mod datetime;

pub use datetime::{DateTime, DateTimeError};

use crate::{Error, Instance, Result, Value};

/// A class with a typed view.
pub trait WmiClass: Sized {
    /// The WMI class name.
    const CLASS: &'static str;

    /// Reads an instance of [`CLASS`](Self::CLASS) (or of unnamed class).
    fn from_instance(instance: &Instance) -> Result<Self>;
}

fn invalid(class: &str, what: impl core::fmt::Display) -> Error {
    Error::InvalidResponse {
        what: format!("{class}: {what}"),
    }
}

fn check_class(instance: &Instance, class: &str) -> Result<()> {
    if instance.class.is_empty() || instance.class.eq_ignore_ascii_case(class) {
        Ok(())
    } else {
        Err(invalid(
            class,
            format_args!("got an instance of {}", instance.class),
        ))
    }
}

/// The property as text: a string, or a number or boolean written out.
fn text(i: &Instance, name: &str) -> Option<String> {
    match i.get(name)? {
        Value::String(s) => Some(s.clone()),
        Value::Int(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn required_text(i: &Instance, class: &str, name: &str) -> Result<String> {
    text(i, name).ok_or_else(|| invalid(class, format_args!("{name} is missing")))
}

fn int(i: &Instance, class: &str, name: &str) -> Result<Option<i64>> {
    match i.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .map(Some)
            .ok_or_else(|| invalid(class, format_args!("{name} is not an integer"))),
    }
}

fn required_int(i: &Instance, class: &str, name: &str) -> Result<i64> {
    int(i, class, name)?.ok_or_else(|| invalid(class, format_args!("{name} is missing")))
}

/// A boolean, or a WMI `uint32` flag (0 or not).
fn flag(i: &Instance, class: &str, name: &str) -> Result<Option<bool>> {
    match i.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_bool()
            .or_else(|| v.as_i64().map(|n| n != 0))
            .map(Some)
            .ok_or_else(|| invalid(class, format_args!("{name} is not a boolean"))),
    }
}

/// An array of text; a bare scalar is a one-element array (WS-Management
/// writes a one-element array as a single element).
fn texts(i: &Instance, class: &str, name: &str) -> Result<Vec<String>> {
    let scalar = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Int(n) => Some(n.to_string()),
        _ => None,
    };
    match i.get(name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .filter(|v| !v.is_null())
            .map(|v| {
                scalar(v)
                    .ok_or_else(|| invalid(class, format_args!("{name} holds a non-text value")))
            })
            .collect(),
        Some(v) => scalar(v)
            .map(|s| vec![s])
            .ok_or_else(|| invalid(class, format_args!("{name} is not text"))),
    }
}

fn datetime(i: &Instance, class: &str, name: &str) -> Result<Option<DateTime>> {
    match i.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => DateTime::from_value(v)
            .map(Some)
            .ok_or_else(|| invalid(class, format_args!("{name} is not a date-time"))),
    }
}

fn datetimes(i: &Instance, class: &str, name: &str) -> Result<Vec<DateTime>> {
    texts(i, class, name)?
        .iter()
        .map(|s| {
            DateTime::parse(s).map_err(|_| invalid(class, format_args!("{name} holds a non-date")))
        })
        .collect()
}

/// A site (`SMS_Site`): one per site in the hierarchy.
#[derive(Clone, Debug, PartialEq)]
pub struct SmsSite {
    /// `SiteCode` (key), such as `PS1`.
    pub site_code: String,
    /// `SiteName`.
    pub site_name: Option<String>,
    /// `Version`, such as `5.00.9122.1000`.
    pub version: Option<String>,
    /// `BuildNumber`, such as `9122`.
    pub build_number: Option<i64>,
    /// `ServerName`: the site server.
    pub server_name: Option<String>,
    /// `Type`: 1 secondary, 2 primary, 4 central administration site.
    pub site_type: Option<i64>,
    /// `ReportingSiteCode`: the parent site, empty at the top.
    pub reporting_site_code: Option<String>,
    /// The instance read.
    pub instance: Instance,
}

impl WmiClass for SmsSite {
    const CLASS: &'static str = "SMS_Site";

    fn from_instance(i: &Instance) -> Result<Self> {
        let c = Self::CLASS;
        check_class(i, c)?;
        Ok(Self {
            site_code: required_text(i, c, "SiteCode")?,
            site_name: text(i, "SiteName"),
            version: text(i, "Version"),
            build_number: int(i, c, "BuildNumber")?,
            server_name: text(i, "ServerName"),
            site_type: int(i, c, "Type")?,
            reporting_site_code: text(i, "ReportingSiteCode"),
            instance: i.clone(),
        })
    }
}

impl SmsSite {
    /// Reads an instance (see [`WmiClass::from_instance`]).
    pub fn from_instance(i: &Instance) -> Result<Self> {
        <Self as WmiClass>::from_instance(i)
    }
}

/// Where a site's SMS Provider is (`SMS_ProviderLocation`, in `root\sms`).
#[derive(Clone, Debug, PartialEq)]
pub struct SmsProviderLocation {
    /// `Machine`: the provider's host.
    pub machine: String,
    /// `SiteCode`.
    pub site_code: String,
    /// `NamespacePath`, such as `\\CM01\root\sms\site_PS1`.
    pub namespace_path: String,
    /// `ProviderForLocalSite`.
    pub provider_for_local_site: Option<bool>,
    /// The instance read.
    pub instance: Instance,
}

impl WmiClass for SmsProviderLocation {
    const CLASS: &'static str = "SMS_ProviderLocation";

    fn from_instance(i: &Instance) -> Result<Self> {
        let c = Self::CLASS;
        check_class(i, c)?;
        Ok(Self {
            machine: required_text(i, c, "Machine")?,
            site_code: required_text(i, c, "SiteCode")?,
            namespace_path: required_text(i, c, "NamespacePath")?,
            provider_for_local_site: flag(i, c, "ProviderForLocalSite")?,
            instance: i.clone(),
        })
    }
}

impl SmsProviderLocation {
    /// Reads an instance (see [`WmiClass::from_instance`]).
    pub fn from_instance(i: &Instance) -> Result<Self> {
        <Self as WmiClass>::from_instance(i)
    }
}

/// A discovered system (`SMS_R_System`): a device's discovery record.
#[derive(Clone, Debug, PartialEq)]
pub struct SmsRSystem {
    /// `ResourceId` (key).
    pub resource_id: i64,
    /// `Name`.
    pub name: Option<String>,
    /// `NetbiosName`.
    pub netbios_name: Option<String>,
    /// `SMSUniqueIdentifier`: the client's `GUID:…`.
    pub sms_unique_identifier: Option<String>,
    /// `SMBIOSGUID`.
    pub smbios_guid: Option<String>,
    /// `MACAddresses`.
    pub mac_addresses: Vec<String>,
    /// `IPAddresses`.
    pub ip_addresses: Vec<String>,
    /// `Client` (a `uint32` flag): the ConfigMgr client is installed.
    pub client: Option<bool>,
    /// `Active` (a `uint32` flag).
    pub active: Option<bool>,
    /// `Obsolete` (a `uint32` flag): superseded by a newer record.
    pub obsolete: Option<bool>,
    /// `Decommissioned` (a `uint32` flag).
    pub decommissioned: Option<bool>,
    /// `ResourceDomainORWorkgroup`.
    pub resource_domain_or_workgroup: Option<String>,
    /// `OperatingSystemNameandVersion`.
    pub operating_system_name_and_version: Option<String>,
    /// `LastLogonUserName`.
    pub last_logon_user_name: Option<String>,
    /// `AgentName`: the discovery agents that found the system.
    pub agent_name: Vec<String>,
    /// `AgentTime`: when each agent of `agent_name` last found it.
    pub agent_time: Vec<DateTime>,
    /// The instance read.
    pub instance: Instance,
}

impl WmiClass for SmsRSystem {
    const CLASS: &'static str = "SMS_R_System";

    fn from_instance(i: &Instance) -> Result<Self> {
        let c = Self::CLASS;
        check_class(i, c)?;
        Ok(Self {
            resource_id: required_int(i, c, "ResourceId")?,
            name: text(i, "Name"),
            netbios_name: text(i, "NetbiosName"),
            sms_unique_identifier: text(i, "SMSUniqueIdentifier"),
            smbios_guid: text(i, "SMBIOSGUID"),
            mac_addresses: texts(i, c, "MACAddresses")?,
            ip_addresses: texts(i, c, "IPAddresses")?,
            client: flag(i, c, "Client")?,
            active: flag(i, c, "Active")?,
            obsolete: flag(i, c, "Obsolete")?,
            decommissioned: flag(i, c, "Decommissioned")?,
            resource_domain_or_workgroup: text(i, "ResourceDomainORWorkgroup"),
            operating_system_name_and_version: text(i, "OperatingSystemNameandVersion"),
            last_logon_user_name: text(i, "LastLogonUserName"),
            agent_name: texts(i, c, "AgentName")?,
            agent_time: datetimes(i, c, "AgentTime")?,
            instance: i.clone(),
        })
    }
}

impl SmsRSystem {
    /// Reads an instance (see [`WmiClass::from_instance`]).
    pub fn from_instance(i: &Instance) -> Result<Self> {
        <Self as WmiClass>::from_instance(i)
    }
}

/// `SMS_Collection.CollectionType`.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum CollectionType {
    /// 0: other.
    Other,
    /// 1: a user collection.
    User,
    /// 2: a device collection.
    Device,
    /// Another value.
    Unknown(i64),
}

impl CollectionType {
    /// The value.
    pub fn as_i64(self) -> i64 {
        match self {
            Self::Other => 0,
            Self::User => 1,
            Self::Device => 2,
            Self::Unknown(n) => n,
        }
    }

    /// The type for `n`.
    pub fn from_i64(n: i64) -> Self {
        match n {
            0 => Self::Other,
            1 => Self::User,
            2 => Self::Device,
            n => Self::Unknown(n),
        }
    }
}

/// A membership rule in `SMS_Collection.CollectionRules`.
#[derive(Clone, Debug, PartialEq)]
pub enum CollectionRule {
    /// `SMS_CollectionRuleDirect`.
    Direct(SmsCollectionRuleDirect),
    /// `SMS_CollectionRuleQuery`.
    Query(SmsCollectionRuleQuery),
    /// Another rule (`SMS_CollectionRuleIncludeCollection`,
    /// `SMS_CollectionRuleExcludeCollection`, …), as read.
    Other(Instance),
}

impl CollectionRule {
    /// Reads a rule by its class.
    pub fn from_instance(i: &Instance) -> Result<Self> {
        if i.class.eq_ignore_ascii_case(SmsCollectionRuleDirect::CLASS) {
            SmsCollectionRuleDirect::from_instance(i).map(Self::Direct)
        } else if i.class.eq_ignore_ascii_case(SmsCollectionRuleQuery::CLASS) {
            SmsCollectionRuleQuery::from_instance(i).map(Self::Query)
        } else {
            Ok(Self::Other(i.clone()))
        }
    }

    /// The rule as an embedded object to send.
    pub fn to_instance(&self) -> Instance {
        match self {
            Self::Direct(r) => r.to_instance(),
            Self::Query(r) => r.to_instance(),
            Self::Other(i) => i.clone(),
        }
    }

    /// The parameters of `SMS_Collection.AddMembershipRule` and
    /// `DeleteMembershipRule`: `{"collectionRule": <rule>}`.
    pub fn to_params(&self) -> Instance {
        Instance::new("__PARAMETERS").with("collectionRule", self.to_instance())
    }

    /// The parameters of `SMS_Collection.AddMembershipRules`:
    /// `{"collectionRules": [<rule>, …]}`.
    pub fn list_params(rules: &[Self]) -> Instance {
        let list: Vec<Value> = rules.iter().map(|r| r.to_instance().into()).collect();
        Instance::new("__PARAMETERS").with("collectionRules", Value::Array(list))
    }
}

/// A collection (`SMS_Collection`).
#[derive(Clone, Debug, PartialEq)]
pub struct SmsCollection {
    /// `CollectionID` (key), such as `PS100042`; empty in one not yet
    /// created.
    pub collection_id: String,
    /// `Name`.
    pub name: String,
    /// `Comment`.
    pub comment: Option<String>,
    /// `CollectionType`.
    pub collection_type: CollectionType,
    /// `LimitToCollectionID`: the collection limiting membership.
    pub limit_to_collection_id: Option<String>,
    /// `MemberCount`.
    pub member_count: Option<i64>,
    /// `RefreshType`: 1 manual, 2 periodic, 4 incremental, 6 both.
    pub refresh_type: Option<i64>,
    /// `MemberClassName`: the class listing members
    /// (`SMS_CM_RES_COLL_<id>`).
    pub member_class_name: Option<String>,
    /// `CollectionRules` (a lazy property: only in answers that read the
    /// collection by key).
    pub collection_rules: Vec<CollectionRule>,
    /// The instance read (empty for one built here).
    pub instance: Instance,
}

impl WmiClass for SmsCollection {
    const CLASS: &'static str = "SMS_Collection";

    fn from_instance(i: &Instance) -> Result<Self> {
        let c = Self::CLASS;
        check_class(i, c)?;
        let collection_rules = match i.get("CollectionRules") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| match v {
                    Value::Object(o) => CollectionRule::from_instance(o),
                    _ => Err(invalid(c, "CollectionRules holds a non-object")),
                })
                .collect::<Result<_>>()?,
            Some(Value::Object(o)) => vec![CollectionRule::from_instance(o)?],
            Some(_) => return Err(invalid(c, "CollectionRules is not a list of rules")),
        };
        Ok(Self {
            collection_id: required_text(i, c, "CollectionID")?,
            name: text(i, "Name").unwrap_or_default(),
            comment: text(i, "Comment"),
            collection_type: CollectionType::from_i64(int(i, c, "CollectionType")?.unwrap_or(0)),
            limit_to_collection_id: text(i, "LimitToCollectionID"),
            member_count: int(i, c, "MemberCount")?,
            refresh_type: int(i, c, "RefreshType")?,
            member_class_name: text(i, "MemberClassName"),
            collection_rules,
            instance: i.clone(),
        })
    }
}

impl SmsCollection {
    /// Reads an instance (see [`WmiClass::from_instance`]).
    pub fn from_instance(i: &Instance) -> Result<Self> {
        <Self as WmiClass>::from_instance(i)
    }

    /// A collection to create: name, type and limiting collection.
    pub fn new(
        name: impl Into<String>,
        collection_type: CollectionType,
        limit_to: impl Into<String>,
    ) -> Self {
        Self {
            collection_id: String::new(),
            name: name.into(),
            comment: None,
            collection_type,
            limit_to_collection_id: Some(limit_to.into()),
            member_count: None,
            refresh_type: None,
            member_class_name: None,
            collection_rules: Vec::new(),
            instance: Instance::default(),
        }
    }

    /// The writable properties, for creating the collection: `Name`,
    /// `Comment` (when set), `CollectionType`, `LimitToCollectionID` and
    /// `RefreshType` (when set). Rules are added afterwards with
    /// `AddMembershipRule(s)`.
    pub fn to_instance(&self) -> Instance {
        let mut i = Instance::new(Self::CLASS).with("Name", self.name.as_str());
        if let Some(c) = &self.comment {
            i = i.with("Comment", c.as_str());
        }
        i = i.with("CollectionType", self.collection_type.as_i64());
        if let Some(l) = &self.limit_to_collection_id {
            i = i.with("LimitToCollectionID", l.as_str());
        }
        if let Some(r) = self.refresh_type {
            i = i.with("RefreshType", r);
        }
        i
    }
}

/// A rule that adds one resource to a collection
/// (`SMS_CollectionRuleDirect`).
#[derive(Clone, Debug, PartialEq)]
pub struct SmsCollectionRuleDirect {
    /// `ResourceClassName`: `SMS_R_System` or `SMS_R_User`.
    pub resource_class_name: String,
    /// `ResourceID`.
    pub resource_id: i64,
    /// `RuleName`.
    pub rule_name: String,
}

impl WmiClass for SmsCollectionRuleDirect {
    const CLASS: &'static str = "SMS_CollectionRuleDirect";

    fn from_instance(i: &Instance) -> Result<Self> {
        let c = Self::CLASS;
        check_class(i, c)?;
        Ok(Self {
            resource_class_name: text(i, "ResourceClassName").unwrap_or_default(),
            resource_id: required_int(i, c, "ResourceID")?,
            rule_name: text(i, "RuleName").unwrap_or_default(),
        })
    }
}

impl SmsCollectionRuleDirect {
    /// Reads an instance (see [`WmiClass::from_instance`]).
    pub fn from_instance(i: &Instance) -> Result<Self> {
        <Self as WmiClass>::from_instance(i)
    }

    /// A rule for the system `resource_id`.
    pub fn system(resource_id: i64, rule_name: impl Into<String>) -> Self {
        Self {
            resource_class_name: "SMS_R_System".into(),
            resource_id,
            rule_name: rule_name.into(),
        }
    }

    /// The embedded object to send.
    pub fn to_instance(&self) -> Instance {
        Instance::new(Self::CLASS)
            .with("ResourceClassName", self.resource_class_name.as_str())
            .with("RuleName", self.rule_name.as_str())
            .with("ResourceID", self.resource_id)
    }
}

/// A rule whose WQL query selects the members (`SMS_CollectionRuleQuery`).
#[derive(Clone, Debug, PartialEq)]
pub struct SmsCollectionRuleQuery {
    /// `QueryExpression`: the WQL.
    pub query_expression: String,
    /// `RuleName`.
    pub rule_name: String,
    /// `QueryID`: set by the provider once added.
    pub query_id: Option<i64>,
}

impl WmiClass for SmsCollectionRuleQuery {
    const CLASS: &'static str = "SMS_CollectionRuleQuery";

    fn from_instance(i: &Instance) -> Result<Self> {
        let c = Self::CLASS;
        check_class(i, c)?;
        Ok(Self {
            query_expression: required_text(i, c, "QueryExpression")?,
            rule_name: text(i, "RuleName").unwrap_or_default(),
            query_id: int(i, c, "QueryID")?,
        })
    }
}

impl SmsCollectionRuleQuery {
    /// Reads an instance (see [`WmiClass::from_instance`]).
    pub fn from_instance(i: &Instance) -> Result<Self> {
        <Self as WmiClass>::from_instance(i)
    }

    /// A rule for `query`, written in canonical WQL.
    pub fn new(rule_name: impl Into<String>, query: &crate::wql::Query) -> Self {
        Self {
            query_expression: query.to_string(),
            rule_name: rule_name.into(),
            query_id: None,
        }
    }

    /// Parses [`query_expression`](Self::query_expression) with
    /// [`wql::parse`](crate::wql::parse), refusing what is outside the
    /// subset.
    pub fn query(&self) -> core::result::Result<crate::wql::Query, crate::wql::WqlError> {
        crate::wql::parse(&self.query_expression)
    }

    /// The embedded object to send (`QueryID` only when set).
    pub fn to_instance(&self) -> Instance {
        let mut i = Instance::new(Self::CLASS)
            .with("QueryExpression", self.query_expression.as_str())
            .with("RuleName", self.rule_name.as_str());
        if let Some(id) = self.query_id {
            i = i.with("QueryID", id);
        }
        i
    }
}

/// One member of one collection (`SMS_FullCollectionMembership`).
#[derive(Clone, Debug, PartialEq)]
pub struct SmsFullCollectionMembership {
    /// `CollectionID` (key).
    pub collection_id: String,
    /// `ResourceID` (key).
    pub resource_id: i64,
    /// `Name`.
    pub name: Option<String>,
    /// `IsDirect`: a direct rule put it there.
    pub is_direct: Option<bool>,
    /// `IsClient`.
    pub is_client: Option<bool>,
    /// The instance read.
    pub instance: Instance,
}

impl WmiClass for SmsFullCollectionMembership {
    const CLASS: &'static str = "SMS_FullCollectionMembership";

    fn from_instance(i: &Instance) -> Result<Self> {
        let c = Self::CLASS;
        check_class(i, c)?;
        Ok(Self {
            collection_id: required_text(i, c, "CollectionID")?,
            resource_id: required_int(i, c, "ResourceID")?,
            name: text(i, "Name"),
            is_direct: flag(i, c, "IsDirect")?,
            is_client: flag(i, c, "IsClient")?,
            instance: i.clone(),
        })
    }
}

impl SmsFullCollectionMembership {
    /// Reads an instance (see [`WmiClass::from_instance`]).
    pub fn from_instance(i: &Instance) -> Result<Self> {
        <Self as WmiClass>::from_instance(i)
    }
}

/// An administrative user (`SMS_Admin`).
#[derive(Clone, Debug, PartialEq)]
pub struct SmsAdmin {
    /// `AdminID` (key).
    pub admin_id: i64,
    /// `LogonName`, `DOMAIN\user`.
    pub logon_name: String,
    /// `DisplayName`.
    pub display_name: Option<String>,
    /// `AdminSid`.
    pub admin_sid: Option<String>,
    /// `RoleNames`: the security roles.
    pub role_names: Vec<String>,
    /// `CollectionNames`: the collections in scope.
    pub collection_names: Vec<String>,
    /// The instance read.
    pub instance: Instance,
}

impl WmiClass for SmsAdmin {
    const CLASS: &'static str = "SMS_Admin";

    fn from_instance(i: &Instance) -> Result<Self> {
        let c = Self::CLASS;
        check_class(i, c)?;
        Ok(Self {
            admin_id: required_int(i, c, "AdminID")?,
            logon_name: required_text(i, c, "LogonName")?,
            display_name: text(i, "DisplayName"),
            admin_sid: text(i, "AdminSid"),
            role_names: texts(i, c, "RoleNames")?,
            collection_names: texts(i, c, "CollectionNames")?,
            instance: i.clone(),
        })
    }
}

impl SmsAdmin {
    /// Reads an instance (see [`WmiClass::from_instance`]).
    pub fn from_instance(i: &Instance) -> Result<Self> {
        <Self as WmiClass>::from_instance(i)
    }
}

/// A row of a hardware-inventory view (`SMS_G_System_<GROUP>`, such as
/// `SMS_G_System_COMPUTER_SYSTEM` or `SMS_G_System_OPERATING_SYSTEM`).
///
/// Every such class has `ResourceID`, `GroupID`, `RevisionID` and
/// `TimeStamp`; the rest depends on the group and is read from
/// [`instance`](Self::instance).
#[derive(Clone, Debug, PartialEq)]
pub struct InventoryView {
    /// The class (`SMS_G_System_…`; empty if the answer did not say).
    pub class: String,
    /// `ResourceID` (key).
    pub resource_id: i64,
    /// `GroupID` (key): the row within the resource.
    pub group_id: Option<i64>,
    /// `RevisionID`.
    pub revision_id: Option<i64>,
    /// `TimeStamp`: when the inventory was taken.
    pub timestamp: Option<DateTime>,
    /// The instance read.
    pub instance: Instance,
}

/// The prefix of inventory view classes.
pub const INVENTORY_PREFIX: &str = "SMS_G_System_";

impl InventoryView {
    /// Reads an instance of an `SMS_G_System_*` class (or of unnamed
    /// class).
    pub fn from_instance(i: &Instance) -> Result<Self> {
        let is_view = i.class.len() > INVENTORY_PREFIX.len()
            && i.class.is_char_boundary(INVENTORY_PREFIX.len())
            && i.class[..INVENTORY_PREFIX.len()].eq_ignore_ascii_case(INVENTORY_PREFIX);
        let c = if i.class.is_empty() {
            "SMS_G_System_*"
        } else if is_view {
            i.class.as_str()
        } else {
            return Err(invalid(
                "SMS_G_System_*",
                format_args!("got an instance of {}", i.class),
            ));
        };
        Ok(Self {
            class: i.class.clone(),
            resource_id: required_int(i, c, "ResourceID")?,
            group_id: int(i, c, "GroupID")?,
            revision_id: int(i, c, "RevisionID")?,
            timestamp: datetime(i, c, "TimeStamp")?,
            instance: i.clone(),
        })
    }

    /// A property of the row (see [`Instance::get`]).
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.instance.get(name)
    }
}

/// The parameters of `SMS_Site.ImportMachineEntry`, which creates a
/// system record for a device that has not been discovered.
#[derive(Clone, Debug, PartialEq)]
pub struct ImportMachineEntry {
    /// `NetbiosName` (required).
    pub netbios_name: String,
    /// `SMBIOSGUID`.
    pub smbios_guid: Option<String>,
    /// `MACAddress` (`00:11:22:33:44:55`).
    pub mac_address: Option<String>,
    /// `OverwriteExistingRecord`.
    pub overwrite_existing_record: bool,
}

impl ImportMachineEntry {
    /// The method's name.
    pub const METHOD: &'static str = "ImportMachineEntry";

    /// The input parameters to send; absent values are left out.
    pub fn to_instance(&self) -> Instance {
        let mut i = Instance::new("__PARAMETERS").with("NetbiosName", self.netbios_name.as_str());
        if let Some(g) = &self.smbios_guid {
            i = i.with("SMBIOSGUID", g.as_str());
        }
        if let Some(m) = &self.mac_address {
            i = i.with("MACAddress", m.as_str());
        }
        i.with("OverwriteExistingRecord", self.overwrite_existing_record)
    }
}

/// What `ImportMachineEntry` answers.
#[derive(Clone, Debug, PartialEq)]
pub struct ImportMachineEntryResult {
    /// `ReturnValue`: 0 on success.
    pub return_value: i64,
    /// `ResourceID` of the new (or existing) record.
    pub resource_id: Option<i64>,
    /// `MachineExists`: a record was already there.
    pub machine_exists: Option<bool>,
}

impl ImportMachineEntryResult {
    /// Reads the method's out parameters.
    pub fn from_instance(i: &Instance) -> Result<Self> {
        let c = "ImportMachineEntry";
        Ok(Self {
            return_value: int(i, c, "ReturnValue")?.unwrap_or(0),
            resource_id: int(i, c, "ResourceID")?,
            machine_exists: flag(i, c, "MachineExists")?,
        })
    }
}

#[cfg(test)]
mod tests;
