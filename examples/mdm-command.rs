//! Prints the property list a device receives for one MDM command.
//!
//! ```text
//! cargo run --example mdm-command -- REQUEST_TYPE [KEY=VALUE ...] [KEY:=JSON ...] [--uuid UUID] [--binary]
//! ```
//!
//! `KEY=VALUE` sets a string; `KEY:=JSON` sets any JSON value, converted to a
//! plist value (numbers without a fraction become integers; a base64 string
//! is accepted wherever Apple's schema says data). Known request types are
//! checked key by key: a key of the wrong type is one line on stderr and exit
//! code 2. Unknown request types are sent as given.

use std::io::Write;
use std::process::ExitCode;

use apple_mdm_protocol::command::{Command, CommandBody};
use apple_mdm_protocol::json::json_to_plist;
use clap::Parser;
use pippin_plist::{Dictionary, Value};

/// Print the property list (XML by default) that a device receives for one
/// MDM command.
///
/// Examples:
///
///   mdm-command DeviceInformation Queries:='["UDID","SerialNumber","OSVersion"]'
///
///   mdm-command DeviceLock PIN=123456 Message='Return to IT, ext. 4000'
///
///   mdm-command EraseDevice PIN=123456 ObliterationBehavior=DoNotObliterate
///
///   mdm-command EraseDevice PreserveDataPlan:=true DisallowProximitySetup:=true
///
///   mdm-command InstallApplication iTunesStoreID:=409201541 Options:='{"PurchaseMethod":1}'
///
///   mdm-command InstallProfile Payload="$(base64 < profile.mobileconfig)"
///
///   mdm-command ScheduleOSUpdate Updates:='[{"ProductVersion":"14.4.1","InstallAction":"Default"}]'
///
///   mdm-command SecurityInfo --uuid 0001-SecurityInfo --binary > cmd.plist
///
/// Exit status: 0 when the command was printed; 2 for bad arguments, including
/// a key of the wrong type for a known request type (one line on stderr); 1
/// when the output could not be written.
#[derive(Parser)]
#[command(version, about, verbatim_doc_comment)]
struct Args {
    /// The command's `RequestType`, as Apple spells it (`DeviceInformation`,
    /// `DeviceLock`, `InstallApplication`, ...). Known types (see `--list`) are
    /// checked; any other is sent as given.
    #[arg(value_name = "REQUEST_TYPE", required_unless_present = "list")]
    request_type: Option<String>,

    /// The command's keys. `KEY=VALUE` sets the string VALUE;
    /// `KEY:=JSON` sets a JSON value: `true`, `3`, `1.5`, `"text"`,
    /// `["a","b"]`, `{"K":1}`. JSON has no bytes: give data keys
    /// (`Payload`, `UnlockToken`, ...) as a base64 string. `null` is refused.
    #[arg(value_name = "KEY=VALUE|KEY:=JSON")]
    params: Vec<String>,

    /// The `CommandUUID`; a random version-4 UUID when not given.
    #[arg(long, value_name = "UUID")]
    uuid: Option<String>,

    /// Write a binary property list (`bplist00`) instead of XML.
    #[arg(long)]
    binary: bool,

    /// List the request types whose keys are checked, and exit.
    #[arg(long)]
    list: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.list {
        for rt in CommandBody::KNOWN_REQUEST_TYPES {
            println!("{rt}");
        }
        return ExitCode::SUCCESS;
    }
    let cmd = match build(&args) {
        Ok(cmd) => cmd,
        Err(e) => {
            eprintln!("mdm-command: {e}");
            return ExitCode::from(2);
        }
    };
    match write(&cmd, args.binary) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mdm-command: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The command the arguments describe; errors are about the arguments.
fn build(args: &Args) -> Result<Command, String> {
    let request_type = args
        .request_type
        .as_deref()
        .ok_or("a REQUEST_TYPE is required")?;
    let mut params = Dictionary::new();
    for arg in &args.params {
        let (key, value) = parse_param(arg)?;
        if params.contains_key(&key) {
            return Err(format!("{key} is given twice"));
        }
        params.insert(key, value);
    }
    let body = CommandBody::from_params(request_type, params)
        .map_err(|e| format!("{request_type}: {e}"))?;
    let uuid = args
        .uuid
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    Ok(Command::new(uuid, body))
}

/// `KEY=VALUE` (a string) or `KEY:=JSON`.
fn parse_param(arg: &str) -> Result<(String, Value), String> {
    let Some((key, value)) = arg.split_once('=') else {
        return Err(format!("{arg:?}: expected KEY=VALUE or KEY:=JSON"));
    };
    let (key, json) = match key.strip_suffix(':') {
        Some(key) => (key, true),
        None => (key, false),
    };
    if key.is_empty() {
        return Err(format!("{arg:?}: the key is empty"));
    }
    if !json {
        return Ok((key.to_owned(), Value::String(value.to_owned())));
    }
    let parsed: serde_json::Value =
        serde_json::from_str(value).map_err(|e| format!("{key}: not valid JSON: {e}"))?;
    // Converted inside a one-key object so that errors name the key's path.
    let wrapped = serde_json::json!({ key: parsed });
    let Value::Dictionary(mut converted) = json_to_plist(&wrapped).map_err(|e| e.to_string())?
    else {
        return Err(format!("{key}: not converted to a dictionary"));
    };
    let value = converted
        .remove(key)
        .ok_or_else(|| format!("{key}: lost in conversion"))?;
    Ok((key.to_owned(), value))
}

fn write(cmd: &Command, binary: bool) -> anyhow::Result<()> {
    let bytes = if binary {
        cmd.to_binary()?
    } else {
        cmd.to_xml()
    };
    let mut out = std::io::stdout().lock();
    out.write_all(&bytes)?;
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params() {
        assert_eq!(
            parse_param("PIN=123456").unwrap(),
            ("PIN".to_owned(), Value::from("123456"))
        );
        assert_eq!(
            parse_param("Message=a=b").unwrap(),
            ("Message".to_owned(), Value::from("a=b"))
        );
        assert_eq!(
            parse_param("PreserveDataPlan:=true").unwrap(),
            ("PreserveDataPlan".to_owned(), Value::Boolean(true))
        );
        assert!(parse_param("novalue").is_err());
        assert!(parse_param("=x").is_err());
        assert!(parse_param("K:=nul").is_err());
        assert!(parse_param("K:=null").is_err());
    }

    #[test]
    fn known_types_are_checked() {
        let args = Args::parse_from(["mdm-command", "DeviceLock", "PIN:=123456"]);
        let err = build(&args).unwrap_err();
        assert!(err.contains("PIN"), "{err}");

        let args = Args::parse_from([
            "mdm-command",
            "DeviceInformation",
            "Queries:=[\"UDID\"]",
            "--uuid",
            "u-1",
        ]);
        let cmd = build(&args).unwrap();
        assert_eq!(cmd.command_uuid, "u-1");
        assert_eq!(cmd.request_type(), "DeviceInformation");

        let args = Args::parse_from(["mdm-command", "SomethingNew", "A=b"]);
        assert!(matches!(build(&args).unwrap().body, CommandBody::Raw(_)));
    }
}
