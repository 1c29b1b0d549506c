//! Calls a WMI method of ConfigMgr's SMS Provider, through the AdminService
//! or WinRM, and prints its out parameters as one JSON object.
//!
//! ```text
//! cargo run --example wmi-invoke -- --adminservice https://cm01.contoso.com/AdminService \
//!     --user 'CONTOSO\svc_bridge' --pin PIN --class SMS_Site --method ImportMachineEntry \
//!     --args '{"NetbiosName":"MAC-LAB-1","MACAddress":"00:11:22:33:44:55","OverwriteExistingRecord":false}'
//! ```

#[path = "wmi/connect.rs"]
mod connect;

use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Parser;
use sccm_wmi::odata::{Key, KeyValue};
use sccm_wmi::{Instance, Value};

use connect::{Connection, Provider, describe};

/// Call a method of a class of ConfigMgr's SMS Provider: a static method
/// (no --key), such as SMS_Site.ImportMachineEntry, or an instance method
/// on the instance with --key, such as SMS_Collection('PS100042')
/// .AddMembershipRule. Prints the out parameters (ReturnValue, …) as one
/// JSON object.
///
/// --args is a JSON object of input parameters. Embedded objects name
/// their class as the AdminService does:
///   {"collectionRule": {"@odata.type": "#AdminService.SMS_CollectionRuleDirect",
///                       "ResourceClassName": "SMS_R_System", "ResourceID": 16777220,
///                       "RuleName": "MAC-0002"}}
/// and are sent the same way through WinRM (as xsi:type).
///
/// --key: an integer (16777219) is sent as a number, anything else
/// (PS100042) as a string; wrap a key in single quotes ('12345') to send
/// digits as a string. Through WinRM the key becomes the selector named
/// by --key-name (CollectionID, ResourceId, …), which is then required.
///
/// Connection and credentials as for wmi-query: --user DOMAIN\user with
/// the password in $PIPPIN_WMI_PASSWORD (prefer it to --password), --basic,
/// or a bearer token from --bearer or $PIPPIN_WMI_BEARER.
///
/// Exit status: 0 when the provider ran the method (whatever its
/// ReturnValue says); 1 when the call failed (one line on standard error;
/// WMI errors show their code and meaning); 2 for bad arguments.
#[derive(Parser)]
#[command(version, about, verbatim_doc_comment)]
struct Args {
    #[command(flatten)]
    connection: Connection,
    /// The class, such as SMS_Site or SMS_Collection.
    #[arg(long, value_name = "NAME")]
    class: String,
    /// The method, such as ImportMachineEntry or AddMembershipRule.
    #[arg(long, value_name = "NAME")]
    method: String,
    /// The instance's key, for an instance method (omit it for a static
    /// method).
    #[arg(long, value_name = "KEY")]
    key: Option<String>,
    /// WinRM: the key property that --key is the value of.
    #[arg(long, value_name = "NAME", requires = "key")]
    key_name: Option<String>,
    /// The input parameters, a JSON object.
    #[arg(long, value_name = "JSON", default_value = "{}")]
    args: String,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.connection.wsman.is_some() && args.key.is_some() && args.key_name.is_none() {
        eprintln!(
            "wmi-invoke: through WinRM the key is a selector: name its property with \
             --key-name (CollectionID for SMS_Collection, ResourceId for SMS_R_System, …)"
        );
        return ExitCode::from(2);
    }
    let params = match parse_args(&args.args) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("wmi-invoke: --args: {e:#}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("wmi-invoke: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args, params)) {
        Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("wmi-invoke: {}", describe(&e));
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args, params: Instance) -> anyhow::Result<serde_json::Value> {
    let result = match args.connection.connect()? {
        Provider::Admin(mut client) => match &args.key {
            None => {
                client
                    .invoke_static(&args.class, &args.method, &params)
                    .await?
            }
            Some(key) => {
                let key = Key::Single(key_value(key));
                client
                    .invoke(&args.class, &key, &args.method, &params)
                    .await?
            }
        },
        Provider::WsMan(mut client) => {
            let value = args.key.as_deref().map(|k| match key_value(k) {
                KeyValue::Int(i) => i.to_string(),
                KeyValue::String(s) => s,
            });
            let selectors: Vec<(&str, &str)> = match (&args.key_name, &value) {
                (Some(name), Some(v)) => vec![(name.as_str(), v.as_str())],
                _ => Vec::new(),
            };
            client
                .invoke(&args.class, &args.method, &selectors, &params)
                .await?
        }
    };
    let mut out = result.to_json();
    // The out parameters are not an instance of the class: no `__CLASS`,
    // and no OData annotations.
    if let serde_json::Value::Object(map) = &mut out {
        map.retain(|k, _| k != "__CLASS" && !k.starts_with('@'));
    }
    Ok(out)
}

/// A key as typed: an integer, a string, or digits in single quotes to be
/// sent as a string.
fn key_value(text: &str) -> KeyValue {
    if let Some(inner) = text
        .strip_prefix('\'')
        .and_then(|t| t.strip_suffix('\''))
        .filter(|_| text.len() >= 2)
    {
        return KeyValue::String(inner.to_owned());
    }
    match text.parse::<i64>() {
        Ok(i) => KeyValue::Int(i),
        Err(_) => KeyValue::String(text.to_owned()),
    }
}

/// The deepest nesting of objects and arrays accepted in --args.
const MAX_DEPTH: usize = 16;

/// --args as the method's input parameters.
fn parse_args(text: &str) -> anyhow::Result<Instance> {
    let json: serde_json::Value = serde_json::from_str(text).context("not JSON")?;
    let serde_json::Value::Object(map) = json else {
        bail!("not a JSON object");
    };
    let mut params = instance(&map, 0)?;
    // The parameters' own class is never sent.
    params.class.clear();
    Ok(params)
}

/// A JSON object as an instance; its class from `"@odata.type":
/// "#AdminService.<Class>"` (or `"__CLASS"`).
fn instance(
    map: &serde_json::Map<String, serde_json::Value>,
    depth: usize,
) -> anyhow::Result<Instance> {
    if depth > MAX_DEPTH {
        bail!("nested deeper than {MAX_DEPTH} levels");
    }
    let mut out = Instance::default();
    for (name, v) in map {
        if name == "@odata.type" {
            let Some(t) = v.as_str() else {
                bail!("\"@odata.type\" is not a string");
            };
            let t = t.strip_prefix('#').unwrap_or(t);
            t.rsplit('.').next().unwrap_or(t).clone_into(&mut out.class);
            continue;
        }
        if name.starts_with('@') {
            continue;
        }
        if name == "__CLASS" {
            if let Some(c) = v.as_str()
                && out.class.is_empty()
            {
                c.clone_into(&mut out.class);
            }
            continue;
        }
        let value = value(v, depth + 1).with_context(|| format!("{name:?}"))?;
        out.properties.insert(name.clone(), value);
    }
    Ok(out)
}

fn value(v: &serde_json::Value, depth: usize) -> anyhow::Result<Value> {
    Ok(match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => Value::Int(i),
            // A uint64 above i64::MAX travels as text, as WMI reads it.
            (None, Some(u), _) => Value::String(u.to_string()),
            (None, None, Some(f)) => Value::Real(f),
            _ => bail!("a number out of range"),
        },
        serde_json::Value::String(s) => Value::String(s.clone()),
        serde_json::Value::Array(a) => {
            if depth > MAX_DEPTH {
                bail!("nested deeper than {MAX_DEPTH} levels");
            }
            Value::Array(
                a.iter()
                    .map(|e| value(e, depth + 1))
                    .collect::<anyhow::Result<_>>()?,
            )
        }
        serde_json::Value::Object(o) => {
            let embedded = instance(o, depth)?;
            if embedded.class.is_empty() {
                bail!(
                    "an embedded object needs its class: \
                     \"@odata.type\": \"#AdminService.<Class>\""
                );
            }
            Value::Object(Box::new(embedded))
        }
    })
}
