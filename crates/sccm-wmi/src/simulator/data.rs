//! The simulated site's WMI repository: a few real-shaped instances, plus
//! any number of synthetic `SMS_R_System` records made on demand (so a
//! 100,000-device site costs the simulator nothing until it is read).

use std::collections::BTreeMap;

use crate::{Instance, Value};

/// The first ResourceID ConfigMgr gives a discovered system.
pub(crate) const FIRST_RESOURCE_ID: i64 = 16_777_216;

/// The simulated site's data.
#[derive(Debug)]
pub(crate) struct Repository {
    pub(crate) site_code: String,
    /// Synthetic SMS_R_System records: ResourceIDs FIRST_RESOURCE_ID ..
    /// FIRST_RESOURCE_ID + synthetic.
    pub(crate) synthetic: usize,
    /// Stored instances per class (upper-cased class name), in key order.
    pub(crate) classes: BTreeMap<String, Vec<Instance>>,
    /// The next ResourceID for an imported machine.
    pub(crate) next_resource_id: i64,
    /// The next collection number (`<site>000nn`, hexadecimal).
    pub(crate) next_collection: u32,
}

/// The key properties of the classes the simulator knows.
pub(crate) fn key_of(class: &str) -> Option<&'static str> {
    Some(match class.to_ascii_uppercase().as_str() {
        "SMS_R_SYSTEM" => "ResourceId",
        "SMS_COLLECTION" => "CollectionID",
        "SMS_SITE" => "SiteCode",
        "SMS_PROVIDERLOCATION" => "Machine",
        "SMS_ADMIN" => "AdminID",
        "SMS_FULLCOLLECTIONMEMBERSHIP" => "ResourceID",
        "SMS_G_SYSTEM_OPERATING_SYSTEM" | "SMS_G_SYSTEM_COMPUTER_SYSTEM" => "ResourceID",
        _ => return None,
    })
}

impl Repository {
    pub(crate) fn new(site_code: &str, server: &str, synthetic: usize) -> Self {
        let mut r = Self {
            site_code: site_code.to_owned(),
            synthetic,
            classes: BTreeMap::new(),
            next_resource_id: FIRST_RESOURCE_ID + synthetic as i64 + 1,
            next_collection: 0x10,
        };
        let namespace = format!("\\\\{server}\\root\\sms\\site_{site_code}");
        r.insert(
            Instance::new("SMS_Site")
                .with("BuildNumber", 9128)
                .with("ReportingSiteCode", "")
                .with("ServerName", server)
                .with("SiteCode", site_code)
                .with("SiteName", "Primary Site")
                .with("Status", 1)
                .with("Type", 2)
                .with("Version", "5.00.9128.1000"),
        );
        r.insert(
            Instance::new("SMS_ProviderLocation")
                .with("Machine", server)
                .with("NamespacePath", namespace)
                .with("ProviderForLocalSite", true)
                .with("SiteCode", site_code),
        );
        r.insert(
            Instance::new("SMS_Admin")
                .with("AdminID", 16777217)
                .with("AdminSid", "S-1-5-21-1004336348-1177238915-682003330-1105")
                .with("DisplayName", "ConfigMgr bridge")
                .with("LogonName", "CONTOSO\\svc_bridge")
                .with("RoleNames", vec!["Full Administrator"]),
        );
        for (id, name, limit, kind) in [
            ("SMS00001", "All Systems", "", 2),
            ("SMS00004", "All Users", "", 1),
        ] {
            r.insert(
                Instance::new("SMS_Collection")
                    .with("CollectionID", id)
                    .with("CollectionType", kind)
                    .with("Comment", format!("{name} (built in)"))
                    .with("LimitToCollectionID", limit)
                    .with("MemberCount", if kind == 2 { synthetic as i64 } else { 0 })
                    .with("Name", name)
                    .with("RefreshType", 2),
            );
        }
        r
    }

    pub(crate) fn insert(&mut self, instance: Instance) {
        self.classes
            .entry(instance.class.to_ascii_uppercase())
            .or_default()
            .push(instance);
    }

    /// How many instances `class` has.
    pub(crate) fn count(&self, class: &str) -> usize {
        let stored = self
            .classes
            .get(&class.to_ascii_uppercase())
            .map_or(0, Vec::len);
        if class.eq_ignore_ascii_case("SMS_R_System") {
            self.synthetic + stored
        } else {
            stored
        }
    }

    /// The `i`-th instance of `class`, in key order.
    pub(crate) fn nth(&self, class: &str, i: usize) -> Option<Instance> {
        if class.eq_ignore_ascii_case("SMS_R_System") {
            if i < self.synthetic {
                return Some(synthetic_system(i));
            }
            return self
                .classes
                .get("SMS_R_SYSTEM")
                .and_then(|v| v.get(i - self.synthetic))
                .cloned();
        }
        self.classes
            .get(&class.to_ascii_uppercase())
            .and_then(|v| v.get(i))
            .cloned()
    }

    /// The instance of `class` whose key property equals `key`.
    pub(crate) fn find(&self, class: &str, key: &Value) -> Option<Instance> {
        let key_name = key_of(class)?;
        if class.eq_ignore_ascii_case("SMS_R_System")
            && let Some(id) = key.as_i64()
            && id >= FIRST_RESOURCE_ID
            && ((id - FIRST_RESOURCE_ID) as usize) < self.synthetic
        {
            return Some(synthetic_system((id - FIRST_RESOURCE_ID) as usize));
        }
        self.classes
            .get(&class.to_ascii_uppercase())?
            .iter()
            .find(|i| i.get(key_name).is_some_and(|v| same(v, key)))
            .cloned()
    }

    /// The first instance of `class` whose `Name` is `name` (any case).
    pub(crate) fn find_by_name(&self, class: &str, name: &str) -> Option<Instance> {
        if class.eq_ignore_ascii_case("SMS_R_System")
            && let Some(i) = name
                .strip_prefix("MAC-")
                .filter(|d| d.len() == 6)
                .and_then(|d| d.parse::<usize>().ok())
            && i < self.synthetic
        {
            return Some(synthetic_system(i));
        }
        self.classes
            .get(&class.to_ascii_uppercase())?
            .iter()
            .find(|i| {
                i.get_str("Name")
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
            })
            .cloned()
    }

    /// Replaces the stored instance with the same key; false if none.
    pub(crate) fn replace(&mut self, instance: Instance) -> bool {
        let Some(key_name) = key_of(&instance.class) else {
            return false;
        };
        let Some(key) = instance.get(key_name).cloned() else {
            return false;
        };
        let Some(list) = self.classes.get_mut(&instance.class.to_ascii_uppercase()) else {
            return false;
        };
        match list
            .iter_mut()
            .find(|i| i.get(key_name).is_some_and(|v| same(v, &key)))
        {
            Some(slot) => {
                for (k, v) in instance.properties {
                    slot.properties.insert(k, v);
                }
                true
            }
            None => false,
        }
    }

    /// Removes the stored instance of `class` with `key`.
    pub(crate) fn remove(&mut self, class: &str, key: &Value) -> bool {
        let Some(key_name) = key_of(class) else {
            return false;
        };
        let Some(list) = self.classes.get_mut(&class.to_ascii_uppercase()) else {
            return false;
        };
        let before = list.len();
        list.retain(|i| !i.get(key_name).is_some_and(|v| same(v, key)));
        list.len() != before
    }
}

/// Whether two values are equal the way WMI compares a key: numbers by
/// value, text without regard to case.
pub(crate) fn same(a: &Value, b: &Value) -> bool {
    match (a.as_i64(), b.as_i64()) {
        (Some(x), Some(y)) => x == y,
        _ => match (a.as_str(), b.as_str()) {
            (Some(x), Some(y)) => x.eq_ignore_ascii_case(y),
            _ => a == b,
        },
    }
}

/// The `i`-th synthetic system: a Mac with a predictable name, serial and
/// MAC address.
pub(crate) fn synthetic_system(i: usize) -> Instance {
    let id = FIRST_RESOURCE_ID + i as i64;
    let mac = format!(
        "A4:83:E7:{:02X}:{:02X}:{:02X}",
        (i >> 16) & 0xff,
        (i >> 8) & 0xff,
        i & 0xff
    );
    Instance::new("SMS_R_System")
        .with("Active", 1)
        .with("Client", 1)
        .with("Decommissioned", 0)
        .with(
            "IPAddresses",
            vec![format!(
                "10.{}.{}.{}",
                (i >> 16) & 0xff,
                (i >> 8) & 0xff,
                i & 0xff
            )],
        )
        .with("MACAddresses", vec![mac])
        .with("Name", format!("MAC-{i:06}"))
        .with("NetbiosName", format!("MAC-{i:06}"))
        .with("Obsolete", 0)
        .with("OperatingSystemNameandVersion", "macOS 15.1")
        .with("ResourceDomainORWorkgroup", "CONTOSO")
        .with("ResourceId", id)
        .with("SMBIOSGUID", format!("{:08X}-0000-4000-8000-{:012X}", i, i))
        .with(
            "SMSUniqueIdentifier",
            format!("GUID:{:08X}-0000-4000-8000-{:012X}", id, i),
        )
}
