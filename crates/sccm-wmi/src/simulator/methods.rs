//! What the simulated provider does, whichever protocol asked: creating
//! instances and running the methods the bridge calls. AdminService and
//! WinRM only differ in how they write the outcome.

use super::data::{self, Repository};
use crate::{Instance, Value};

/// WBEM_E_NOT_FOUND.
pub(crate) const NOT_FOUND: u32 = 0x8004_1002;
/// WBEM_E_INVALID_PARAMETER.
pub(crate) const INVALID_PARAMETER: u32 = 0x8004_1008;
/// WBEM_E_NOT_SUPPORTED.
pub(crate) const NOT_SUPPORTED: u32 = 0x8004_100C;
/// WBEM_E_INVALID_CLASS.
pub(crate) const INVALID_CLASS: u32 = 0x8004_1010;
/// WBEM_E_INVALID_QUERY.
pub(crate) const INVALID_QUERY: u32 = 0x8004_1017;
/// WBEM_E_INVALID_METHOD.
pub(crate) const INVALID_METHOD: u32 = 0x8004_1055;

/// Why a call failed: a WMI status and its description.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) code: u32,
    pub(crate) message: String,
}

fn fail(code: u32, message: impl Into<String>) -> Failure {
    Failure {
        code,
        message: message.into(),
    }
}

/// Creates an instance; only `SMS_Collection` may be created, and gets its
/// `CollectionID`. Returns the instance as stored.
pub(crate) fn create(repo: &mut Repository, mut inst: Instance) -> Result<Instance, Failure> {
    if data::key_of(&inst.class).is_none() {
        return Err(fail(INVALID_CLASS, format!("Invalid class {}", inst.class)));
    }
    if !inst.class.eq_ignore_ascii_case("SMS_Collection") {
        return Err(fail(
            NOT_SUPPORTED,
            format!("{} instances cannot be created here", inst.class),
        ));
    }
    if inst.get_str("Name").is_none_or(str::is_empty) {
        return Err(fail(
            INVALID_PARAMETER,
            "Invalid parameter: Name is required",
        ));
    }
    inst.class = "SMS_Collection".to_owned();
    // Site code and five hexadecimal digits, as ConfigMgr numbers them.
    let id = format!("{}{:05X}", repo.site_code, repo.next_collection);
    repo.next_collection += 1;
    inst.properties.insert("CollectionID".into(), id.into());
    inst.properties
        .entry("CollectionType".into())
        .or_insert(Value::Int(2));
    inst.properties
        .entry("MemberCount".into())
        .or_insert(Value::Int(0));
    inst.properties
        .entry("CollectionRules".into())
        .or_insert(Value::Array(Vec::new()));
    repo.insert(inst.clone());
    Ok(inst)
}

/// Runs the static method `class.method`; the out parameters.
pub(crate) fn call_static(
    repo: &mut Repository,
    class: &str,
    method: &str,
    args: &Instance,
) -> Result<Instance, Failure> {
    if !(class.eq_ignore_ascii_case("SMS_Site")
        && method.eq_ignore_ascii_case("ImportMachineEntry"))
    {
        return Err(fail(INVALID_METHOD, format!("No method {class}.{method}")));
    }
    let Some(name) = args.get_str("NetbiosName").filter(|n| !n.is_empty()) else {
        return Err(fail(INVALID_PARAMETER, "Invalid parameter: NetbiosName"));
    };
    let overwrite = args.get_bool("OverwriteExistingRecord").unwrap_or(false);
    let existing = repo.find_by_name("SMS_R_System", name);
    let (exists, id) = match existing {
        Some(s) if !overwrite => (true, s.get_i64("ResourceId").unwrap_or(0)),
        _ => {
            let id = repo.next_resource_id;
            repo.next_resource_id += 1;
            let mut sys = Instance::new("SMS_R_System")
                .with("Active", Value::Null)
                .with("Client", Value::Null)
                .with("Decommissioned", 0)
                .with("Name", name)
                .with("NetbiosName", name)
                .with("Obsolete", 0)
                .with("ResourceId", id);
            if let Some(mac) = args.get_str("MACAddress") {
                sys.properties
                    .insert("MACAddresses".into(), vec![mac.to_owned()].into());
            }
            if let Some(guid) = args.get_str("SMBIOSGUID") {
                sys.properties.insert("SMBIOSGUID".into(), guid.into());
            }
            repo.insert(sys);
            (false, id)
        }
    };
    Ok(Instance::new("")
        .with("MachineExists", exists)
        .with("ResourceID", id)
        .with("ReturnValue", 0))
}

/// Runs `method` on the instance of `class` with `key`; the out parameters.
pub(crate) fn call(
    repo: &mut Repository,
    class: &str,
    key: &Value,
    method: &str,
    args: &Instance,
) -> Result<Instance, Failure> {
    if !class.eq_ignore_ascii_case("SMS_Collection") {
        return Err(fail(INVALID_METHOD, format!("No method {class}.{method}")));
    }
    let Some(mut coll) = repo.find(class, key) else {
        return Err(fail(
            NOT_FOUND,
            format!("Not found: no {class} with that key"),
        ));
    };
    let mut rules: Vec<Value> = coll
        .get("CollectionRules")
        .and_then(Value::as_array)
        .map(<[Value]>::to_vec)
        .unwrap_or_default();
    let mut out = Instance::new("");
    let m = method.to_ascii_lowercase();
    match m.as_str() {
        "addmembershiprule" | "addmembershiprules" => {
            let new: Vec<Instance> = if m == "addmembershiprule" {
                args.get("collectionRule")
                    .and_then(Value::as_object)
                    .cloned()
                    .into_iter()
                    .collect()
            } else {
                args.get("collectionRules")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_object).cloned().collect())
                    .unwrap_or_default()
            };
            if new.is_empty() {
                return Err(fail(INVALID_PARAMETER, "Invalid parameter: collectionRule"));
            }
            let mut query_ids = Vec::new();
            for mut rule in new {
                if rule.class.eq_ignore_ascii_case("SMS_CollectionRuleDirect") {
                    rule.class = "SMS_CollectionRuleDirect".to_owned();
                    if rule.get_i64("ResourceID").is_none() {
                        return Err(fail(INVALID_PARAMETER, "Invalid parameter: ResourceID"));
                    }
                } else if rule.class.eq_ignore_ascii_case("SMS_CollectionRuleQuery") {
                    rule.class = "SMS_CollectionRuleQuery".to_owned();
                    let Some(q) = rule.get_str("QueryExpression") else {
                        return Err(fail(
                            INVALID_PARAMETER,
                            "Invalid parameter: QueryExpression",
                        ));
                    };
                    if crate::wql::parse(q).is_err() {
                        return Err(fail(INVALID_QUERY, "Invalid query"));
                    }
                    let id = rules.len() as i64 + 1;
                    rule.properties.insert("QueryID".into(), id.into());
                    query_ids.push(id);
                } else {
                    return Err(fail(
                        INVALID_PARAMETER,
                        format!("Invalid parameter: a rule of class {:?}", rule.class),
                    ));
                }
                rules.push(rule.into());
            }
            if m == "addmembershiprule"
                && let Some(q) = query_ids.first()
            {
                out.properties.insert("QueryID".into(), (*q).into());
            }
        }
        "deletemembershiprule" => {
            let Some(rule) = args.get("collectionRule").and_then(Value::as_object) else {
                return Err(fail(INVALID_PARAMETER, "Invalid parameter: collectionRule"));
            };
            let before = rules.len();
            rules.retain(|r| {
                let Some(r) = r.as_object() else { return true };
                !(r.class.eq_ignore_ascii_case(&rule.class)
                    && if rule.class.eq_ignore_ascii_case("SMS_CollectionRuleDirect") {
                        r.get_i64("ResourceID") == rule.get_i64("ResourceID")
                    } else {
                        r.get_i64("QueryID") == rule.get_i64("QueryID")
                    })
            });
            if rules.len() == before {
                return Err(fail(NOT_FOUND, "Not found: no such rule"));
            }
        }
        "requestrefresh" => {}
        _ => return Err(fail(INVALID_METHOD, format!("No method {class}.{method}"))),
    }
    let direct = rules
        .iter()
        .filter_map(Value::as_object)
        .filter(|r| r.class == "SMS_CollectionRuleDirect")
        .count();
    coll.properties
        .insert("CollectionRules".into(), Value::Array(rules));
    coll.properties
        .insert("MemberCount".into(), (direct as i64).into());
    repo.replace(coll);
    out.properties.insert("ReturnValue".into(), 0.into());
    Ok(out)
}
