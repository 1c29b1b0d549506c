//! The simulated WinRM endpoint: WS-Management over the WMI plugin.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::Ordering;

use http::StatusCode;

use super::{Shared, data, methods};
use crate::wql::{Condition, Projection};
use crate::wsman::server::{self, Operation, Request};
use crate::wsman::{Limits, MessageId, WsManFault};
use crate::{Instance, Value};

/// The most enumerations open at once (WinRM keeps a quota too); past
/// it, an `Enumerate` gets a fault rather than growing the table.
const MAX_OPEN_ENUMERATIONS: usize = 1024;

/// The most items one `Pull` or optimized `Enumerate` returns, whatever
/// `MaxElements` asks (WinRM bounds its answers by `MaxEnvelopeSize`).
const MAX_BATCH: usize = 1000;

/// Open enumerations, by context.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) enumerations: Mutex<HashMap<String, Cursor>>,
}

/// Where an enumeration stands.
#[derive(Debug)]
pub(crate) struct Cursor {
    class: String,
    condition: Option<Condition>,
    projection: Projection,
    next: usize,
}

const BOUNDARY: &str = "--Encrypted Boundary";

/// The signature and sealed bytes of a `multipart/encrypted` WinRM body
/// (MS-WSMV 2.2.9.1.1).
pub(super) fn split_encrypted(body: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let marker = b"Content-Type: application/octet-stream\r\n";
    let at = find(body, marker)? + marker.len();
    let rest = &body[at..];
    let len = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
    let signature = rest.get(4..4 + len)?.to_vec();
    let tail = &rest[4 + len..];
    let end = find(tail, format!("{BOUNDARY}--").as_bytes())?;
    Some((signature, tail[..end].to_vec()))
}

/// A `multipart/encrypted` body and its Content-Type.
pub(super) fn join_encrypted(
    signature: &[u8],
    sealed: &[u8],
    plain_len: usize,
) -> (String, Vec<u8>) {
    let mut body = format!(
        "{BOUNDARY}\r\n\tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length={plain_len}\r\n{BOUNDARY}\r\n\tContent-Type: application/octet-stream\r\n"
    )
    .into_bytes();
    body.extend_from_slice(&(signature.len() as u32).to_le_bytes());
    body.extend_from_slice(signature);
    body.extend_from_slice(sealed);
    body.extend_from_slice(format!("{BOUNDARY}--\r\n").as_bytes());
    (
        "multipart/encrypted;protocol=\"application/HTTP-SPNEGO-session-encrypted\";boundary=\"Encrypted Boundary\"".to_owned(),
        body,
    )
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Answers one WS-Management request envelope.
pub(super) fn handle(shared: &Shared, body: &[u8]) -> (StatusCode, Vec<u8>) {
    let id = message_id();
    let request = match server::parse_request(body, &Limits::default()) {
        Ok(r) => r,
        Err(fault) => return written(server::fault_response(None, &id, &fault)),
    };
    let answer = match answer(shared, &request, &id) {
        Ok(r) => r,
        Err(fault) => server::fault_response(Some(&request.message_id), &id, &fault),
    };
    written(answer)
}

fn written(r: crate::Result<http::Response<Vec<u8>>>) -> (StatusCode, Vec<u8>) {
    match r {
        Ok(r) => (r.status(), r.into_body()),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, Vec::new()),
    }
}

fn message_id() -> MessageId {
    let mut bytes = [0u8; 16];
    // A failing CSPRNG only makes message IDs less unique here.
    let _ = getrandom::fill(&mut bytes);
    MessageId::from_bytes(bytes)
}

type Answer = Result<crate::Result<http::Response<Vec<u8>>>, Box<WsManFault>>;

/// CIM status codes (DSP0004) that go with WMI errors in `MSFT_WmiError`.
fn cim_status(wmi: u32) -> u32 {
    match wmi {
        methods::NOT_FOUND => 6,
        methods::INVALID_PARAMETER => 4,
        methods::NOT_SUPPORTED => 7,
        methods::INVALID_CLASS => 5,
        methods::INVALID_QUERY => 15,
        methods::INVALID_METHOD => 17,
        INVALID_NAMESPACE => 3,
        _ => 1,
    }
}

/// WBEM_E_INVALID_NAMESPACE.
const INVALID_NAMESPACE: u32 = 0x8004_100E;

fn wmi(code: u32, message: &str) -> Box<WsManFault> {
    Box::new(server::wmi_fault(code, cim_status(code), message))
}

fn failure(f: methods::Failure) -> Box<WsManFault> {
    wmi(f.code, &f.message)
}

fn answer(shared: &Shared, req: &Request, id: &MessageId) -> Answer {
    // Contexts are answered whatever the resource URI; everything else
    // must name the site's namespace.
    if !matches!(req.operation, Operation::Pull | Operation::Release) {
        let expected = format!("root/sms/site_{}", shared.config.site_code);
        match &req.namespace {
            Some(ns) if ns.eq_ignore_ascii_case(&expected) => {}
            Some(ns) => return Err(wmi(INVALID_NAMESPACE, &format!("Invalid namespace {ns}"))),
            None => {
                return Err(Box::new(server::schema_fault(
                    "the resource URI is not a WMI resource URI",
                )));
            }
        }
    }
    match req.operation {
        Operation::Enumerate => enumerate(shared, req, id),
        Operation::Pull => pull(shared, req, id),
        Operation::Release => {
            let context = req.context.as_deref().unwrap_or("");
            let mut open = shared
                .winrm
                .enumerations
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if open.remove(context).is_none() {
                return Err(Box::new(server::invalid_enumeration_context()));
            }
            shared
                .stats
                .open_enumerations
                .store(open.len() as u64, Ordering::Relaxed);
            Ok(server::release_response(req, id))
        }
        Operation::Get => {
            let (class, key) = target(req)?;
            let repo = shared.repo.lock().unwrap_or_else(|e| e.into_inner());
            match repo.find(&class, &key) {
                Some(found) => Ok(server::get_response(req, id, &found)),
                None => Err(wmi(methods::NOT_FOUND, "Not found")),
            }
        }
        Operation::Put => {
            let (class, key) = target(req)?;
            let key_name = data::key_of(&class).unwrap_or_default();
            let mut changes = req
                .input
                .clone()
                .ok_or_else(|| Box::new(server::schema_fault("a Put carries no instance")))?;
            let mut repo = shared.repo.lock().unwrap_or_else(|e| e.into_inner());
            let Some(existing) = repo.find(&class, &key) else {
                return Err(wmi(methods::NOT_FOUND, "Not found"));
            };
            changes.class = existing.class.clone();
            changes.properties.shift_remove(key_name);
            let key_value = existing.get(key_name).cloned().unwrap_or(Value::Null);
            changes.properties.insert(key_name.to_owned(), key_value);
            if !repo.replace(changes) {
                return Err(wmi(
                    methods::NOT_SUPPORTED,
                    "Not supported: this instance cannot be changed",
                ));
            }
            let updated = repo.find(&class, &key).unwrap_or(existing);
            Ok(server::put_response(req, id, &updated))
        }
        Operation::Create => {
            let class = req
                .class
                .clone()
                .ok_or_else(|| Box::new(server::schema_fault("Create needs a class")))?;
            let mut inst = req
                .input
                .clone()
                .ok_or_else(|| Box::new(server::schema_fault("a Create carries no instance")))?;
            inst.class = class.clone();
            let mut repo = shared.repo.lock().unwrap_or_else(|e| e.into_inner());
            let stored = methods::create(&mut repo, inst).map_err(failure)?;
            let key_name = data::key_of(&class).unwrap_or_default();
            let key = stored.get_str(key_name).unwrap_or_default().to_owned();
            Ok(server::create_response(
                req,
                id,
                &[(key_name, key.as_str())],
            ))
        }
        Operation::Delete => {
            let (class, key) = target(req)?;
            let mut repo = shared.repo.lock().unwrap_or_else(|e| e.into_inner());
            if repo.remove(&class, &key) {
                Ok(server::delete_response(req, id))
            } else {
                Err(wmi(methods::NOT_FOUND, "Not found"))
            }
        }
        Operation::Invoke => {
            let class = req
                .class
                .clone()
                .ok_or_else(|| Box::new(server::schema_fault("a method call needs a class")))?;
            let method = req.method.clone().unwrap_or_default();
            let args = req.input.clone().unwrap_or_else(|| Instance::new(""));
            let mut repo = shared.repo.lock().unwrap_or_else(|e| e.into_inner());
            let out = if req.selectors.is_empty() {
                methods::call_static(&mut repo, &class, &method, &args)
            } else {
                let (_, key) = target(req)?;
                methods::call(&mut repo, &class, &key, &method, &args)
            }
            .map_err(failure)?;
            let mut out = out;
            out.class = format!("{method}_OUTPUT");
            Ok(server::invoke_response(req, id, &out))
        }
    }
}

/// The class and key an instance operation names: exactly the class's key
/// property as the one selector (numbers for numeric keys).
fn target(req: &Request) -> Result<(String, Value), Box<WsManFault>> {
    let class = req
        .class
        .clone()
        .ok_or_else(|| Box::new(server::invalid_selectors()))?;
    let Some(key_name) = data::key_of(&class) else {
        return Err(wmi(
            methods::INVALID_CLASS,
            &format!("Invalid class {class}"),
        ));
    };
    match req.selectors.as_slice() {
        [(name, value)] if name.eq_ignore_ascii_case(key_name) => {
            let key = match value.parse::<i64>() {
                Ok(n)
                    if key_name.eq_ignore_ascii_case("ResourceId")
                        || key_name.eq_ignore_ascii_case("ResourceID")
                        || key_name.eq_ignore_ascii_case("AdminID") =>
                {
                    Value::Int(n)
                }
                _ => Value::String(value.clone()),
            };
            Ok((class, key))
        }
        _ => Err(Box::new(server::invalid_selectors())),
    }
}

fn enumerate(shared: &Shared, req: &Request, id: &MessageId) -> Answer {
    let (class, condition, projection) = match &req.filter {
        Some(filter) => {
            if !filter.dialect.is_empty()
                && !filter
                    .dialect
                    .eq_ignore_ascii_case(crate::wsman::ns::WQL_DIALECT)
            {
                return Err(Box::new(server::cannot_process_filter(
                    "Only WQL filters are supported.",
                )));
            }
            let query = crate::wql::parse(&filter.text).map_err(|e| {
                Box::new(server::cannot_process_filter(&format!(
                    "Invalid query: {e}"
                )))
            })?;
            if !query.joins.is_empty() {
                return Err(wmi(methods::NOT_SUPPORTED, "Joins are not supported here"));
            }
            (query.class, query.condition, query.projection)
        }
        None => (
            req.class.clone().ok_or_else(|| {
                Box::new(server::cannot_process_filter(
                    "Enumerating `*` needs a WQL filter.",
                ))
            })?,
            None,
            Projection::All,
        ),
    };
    if data::key_of(&class).is_none() {
        return Err(wmi(
            methods::INVALID_CLASS,
            &format!("Invalid class {class}"),
        ));
    }
    let mut cursor = Cursor {
        class,
        condition,
        projection,
        next: 0,
    };
    // Without OptimizeEnumeration the answer carries only the context.
    let (items, done) = if req.optimize {
        let max = req.max_elements.unwrap_or(1) as usize;
        batch(shared, &mut cursor, max)?
    } else {
        (Vec::new(), false)
    };
    let mut open = shared
        .winrm
        .enumerations
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if done {
        return Ok(server::enumerate_response(req, id, None, &items, true));
    }
    if open.len() >= MAX_OPEN_ENUMERATIONS {
        return Err(wmi(
            0x8004_1006,
            "Out of memory: too many open enumerations",
        ));
    }
    let context = format!("uuid:{}", &message_id().as_str()[5..]);
    open.insert(context.clone(), cursor);
    shared
        .stats
        .open_enumerations
        .store(open.len() as u64, Ordering::Relaxed);
    Ok(server::enumerate_response(
        req,
        id,
        Some(&context),
        &items,
        false,
    ))
}

fn pull(shared: &Shared, req: &Request, id: &MessageId) -> Answer {
    let context = req.context.clone().unwrap_or_default();
    let mut cursor = {
        let mut open = shared
            .winrm
            .enumerations
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        open.remove(&context)
            .ok_or_else(|| Box::new(server::invalid_enumeration_context()))?
    };
    let max = req.max_elements.unwrap_or(1) as usize;
    let result = batch(shared, &mut cursor, max);
    let mut open = shared
        .winrm
        .enumerations
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let (items, done) = match result {
        Ok(r) => r,
        Err(e) => {
            shared
                .stats
                .open_enumerations
                .store(open.len() as u64, Ordering::Relaxed);
            return Err(e);
        }
    };
    if done {
        shared
            .stats
            .open_enumerations
            .store(open.len() as u64, Ordering::Relaxed);
        return Ok(server::pull_response(req, id, None, &items, true));
    }
    open.insert(context.clone(), cursor);
    shared
        .stats
        .open_enumerations
        .store(open.len() as u64, Ordering::Relaxed);
    Ok(server::pull_response(
        req,
        id,
        Some(&context),
        &items,
        false,
    ))
}

/// Up to `max` matching instances from where the cursor stands, and
/// whether the enumeration is over.
fn batch(
    shared: &Shared,
    cursor: &mut Cursor,
    max: usize,
) -> Result<(Vec<Instance>, bool), Box<WsManFault>> {
    let max = max.clamp(1, MAX_BATCH);
    let repo = shared.repo.lock().unwrap_or_else(|e| e.into_inner());
    let total = repo.count(&cursor.class);
    let mut items = Vec::new();
    while cursor.next < total && items.len() < max {
        let i = cursor.next;
        cursor.next += 1;
        let Some(inst) = repo.nth(&cursor.class, i) else {
            continue;
        };
        let keep = match &cursor.condition {
            Some(c) => super::wql_eval::matches(c, &inst)
                .map_err(|e| Box::new(server::cannot_process_filter(&e)))?,
            None => true,
        };
        if keep {
            items.push(project(inst, &cursor.projection));
        }
    }
    Ok((items, cursor.next >= total))
}

fn project(inst: Instance, projection: &Projection) -> Instance {
    match projection {
        Projection::All => inst,
        Projection::Properties(props) => {
            let mut out = Instance::new(inst.class.clone());
            for p in props {
                if let Some(v) = inst.get(&p.name) {
                    out.properties.insert(p.name.clone(), v.clone());
                }
            }
            out
        }
    }
}
