//! The simulated AdminService: the `wmi` route (classes, keys, methods) and
//! a little of `v1.0`.

use bytes::Bytes;
use http::{Method, Response, StatusCode};
use http_body_util::Full;
use serde_json::{Map, Value as Json, json};

use super::data::key_of;
use super::{Shared, filter, methods};
use crate::{Instance, Value};

pub(super) fn handle(shared: &Shared, req: &http::Request<Bytes>) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    let rest = &path["/AdminService/".len()..];
    let query = req.uri().query().unwrap_or("");
    let params = parse_query(query);
    let base = format!(
        "{}://{}/AdminService",
        if shared.config.tls { "https" } else { "http" },
        req.headers()
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or(&shared.config.server_name)
    );
    let (route, rest) = rest.split_once('/').unwrap_or((rest, ""));
    let rest = percent_decode(rest);
    match route.to_ascii_lowercase().as_str() {
        "wmi" => wmi(shared, req.method(), &rest, &params, req.body(), &base),
        "v1.0" => v1(shared, req.method(), &rest, &base),
        _ => error(
            StatusCode::NOT_FOUND,
            "NotFound",
            "No route matches the request.",
        ),
    }
}

fn wmi(
    shared: &Shared,
    method: &Method,
    rest: &str,
    params: &[(String, String)],
    body: &[u8],
    base: &str,
) -> Response<Full<Bytes>> {
    // `Class`, `Class(key)`, `Class.Method`, `Class(key)/AdminService.Method`
    let (target, instance_method) = match rest.split_once("/AdminService.") {
        Some((t, m)) => (t, Some(m)),
        None => (rest, None),
    };
    let (class_part, key) = match target.find('(') {
        Some(open) if target.ends_with(')') => {
            (&target[..open], Some(&target[open + 1..target.len() - 1]))
        }
        Some(_) => return error(StatusCode::BAD_REQUEST, "BadRequest", "Malformed key."),
        None => (target, None),
    };
    let (class, static_name) = match class_part.split_once('.') {
        Some((c, m)) => (c, Some(m)),
        None => (class_part, None),
    };
    if !is_identifier(class) {
        return error(StatusCode::BAD_REQUEST, "BadRequest", "Invalid class name.");
    }
    let key = match key.map(parse_key) {
        Some(Ok(k)) => Some(k),
        Some(Err(())) => return error(StatusCode::BAD_REQUEST, "BadRequest", "Malformed key."),
        None => None,
    };
    let mut repo = shared.repo.lock().unwrap_or_else(|e| e.into_inner());
    if key_of(class).is_none() {
        return error(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("Invalid class {class} (WBEM_E_INVALID_CLASS 0x80041010)"),
        );
    }
    let context = |suffix: &str| format!("{base}/wmi/$metadata#{class}{suffix}");
    match (method, key, static_name, instance_method) {
        (&Method::GET, None, None, None) => {
            let filter = match param(params, "$filter").map(filter::parse) {
                Some(Ok(f)) => Some(f),
                Some(Err(e)) => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "BadRequest",
                        &format!("The query specified in the URI is not valid. {e}"),
                    );
                }
                None => None,
            };
            let select: Option<Vec<&str>> =
                param(params, "$select").map(|s| s.split(',').map(str::trim).collect());
            let top: Option<usize> = param(params, "$top").and_then(|t| t.parse().ok());
            let start: usize = param(params, "$skiptoken")
                .and_then(|t| t.parse().ok())
                .unwrap_or(0);
            let page = shared.config.page_size;
            let total = repo.count(class);
            let mut rows = Vec::new();
            let mut i = start;
            let mut next = None;
            let mut emitted_before = param(params, "$skipcount")
                .and_then(|t| t.parse::<usize>().ok())
                .unwrap_or(0);
            while i < total {
                if top.is_some_and(|t| emitted_before >= t) {
                    break;
                }
                if rows.len() == page {
                    next = Some(i);
                    break;
                }
                if let Some(inst) = repo.nth(class, i)
                    && filter.as_ref().is_none_or(|f| f.matches(&inst))
                {
                    rows.push(render(shared, &inst, select.as_deref(), false));
                    emitted_before += 1;
                }
                i += 1;
            }
            let mut out = Map::new();
            out.insert("@odata.context".into(), context("").into());
            out.insert("value".into(), Json::Array(rows));
            if let Some(n) = next {
                let mut link =
                    format!("{base}/wmi/{class}?$skiptoken={n}&$skipcount={emitted_before}");
                for (k, v) in params {
                    if k != "$skiptoken" && k != "$skipcount" {
                        link.push_str(&format!("&{k}={}", percent_encode(v)));
                    }
                }
                out.insert("@odata.nextLink".into(), link.into());
            }
            ok(StatusCode::OK, &Json::Object(out))
        }
        (&Method::GET, Some(key), None, None) => match repo.find(class, &key) {
            // The provider answers a lookup by key with a one-element array.
            Some(inst) => ok(
                StatusCode::OK,
                &json!({"@odata.context": context(""), "value": [render(shared, &inst, None, true)]}),
            ),
            None => not_found(class),
        },
        (&Method::POST, None, None, None) => {
            let Some(inst) = body_instance(class, body) else {
                return error(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    "The request body is not a valid entity.",
                );
            };
            match methods::create(&mut repo, inst) {
                Ok(stored) => ok(
                    StatusCode::CREATED,
                    &with_context(render(shared, &stored, None, true), context("/$entity")),
                ),
                Err(f) if f.code == methods::NOT_SUPPORTED => error(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    &format!(
                        "{class} instances cannot be created here (WBEM_E_NOT_SUPPORTED 0x8004100C)"
                    ),
                ),
                Err(f) => wmi_error(f.code, &f.message),
            }
        }
        (&Method::PATCH | &Method::PUT, Some(key), None, None) => {
            let Some(existing) = repo.find(class, &key) else {
                return not_found(class);
            };
            let Some(mut changes) = body_instance(class, body) else {
                return error(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    "The request body is not a valid entity.",
                );
            };
            let key_name = key_of(class).unwrap_or("");
            changes.properties.shift_remove(key_name);
            changes.properties.insert(
                key_name.to_owned(),
                existing.get(key_name).cloned().unwrap_or(Value::Null),
            );
            changes.class = existing.class.clone();
            if !repo.replace(changes) {
                return wmi_error(
                    0x8004_100C,
                    "Not supported: this instance cannot be changed",
                );
            }
            let updated = repo.find(class, &key).unwrap_or(existing);
            ok(
                StatusCode::OK,
                &with_context(render(shared, &updated, None, true), context("/$entity")),
            )
        }
        (&Method::DELETE, Some(key), None, None) => {
            if repo.remove(class, &key) {
                let mut r = Response::new(Full::new(Bytes::new()));
                *r.status_mut() = StatusCode::NO_CONTENT;
                r
            } else {
                not_found(class)
            }
        }
        (&Method::POST, None, Some(m), None) => match body_instance("", body) {
            Some(args) => method_result(
                methods::call_static(&mut repo, class, m, &args),
                class,
                m,
                base,
            ),
            None => error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "The parameters are not valid JSON.",
            ),
        },
        (&Method::POST, Some(key), None, Some(m)) => match body_instance("", body) {
            Some(args) => method_result(
                methods::call(&mut repo, class, &key, m, &args),
                class,
                m,
                base,
            ),
            None => error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "The parameters are not valid JSON.",
            ),
        },
        _ => error(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "The method is not allowed here.",
        ),
    }
}

/// A method's out parameters as AdminService writes them.
fn method_result(
    out: Result<Instance, methods::Failure>,
    class: &str,
    method: &str,
    base: &str,
) -> Response<Full<Bytes>> {
    match out {
        Ok(out) => {
            let mut m = Map::new();
            m.insert(
                "@odata.context".into(),
                format!("{base}/wmi/$metadata#AdminService.{class}_{method}_Result").into(),
            );
            for (k, v) in &out.properties {
                m.insert(k.clone(), value_json(v));
            }
            ok(StatusCode::OK, &Json::Object(m))
        }
        Err(f) if f.code == methods::INVALID_METHOD => error(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("No method {class}.{method}."),
        ),
        Err(f) if f.code == methods::NOT_FOUND && f.message.starts_with("Not found: no SMS_") => {
            not_found(class)
        }
        Err(f) => wmi_error(f.code, &f.message),
    }
}

fn v1(shared: &Shared, method: &Method, rest: &str, base: &str) -> Response<Full<Bytes>> {
    if method != Method::GET || !rest.eq_ignore_ascii_case("Device") {
        return error(
            StatusCode::NOT_FOUND,
            "NotFound",
            "No route matches the request.",
        );
    }
    let repo = shared.repo.lock().unwrap_or_else(|e| e.into_inner());
    let n = repo.count("SMS_R_System").min(shared.config.page_size);
    let value: Vec<Json> = (0..n)
        .filter_map(|i| repo.nth("SMS_R_System", i))
        .map(|s| {
            json!({
                "MachineId": s.get_i64("ResourceId"),
                "Name": s.get_str("Name"),
                "ClientVersion": Json::Null,
                "Domain": s.get_str("ResourceDomainORWorkgroup"),
            })
        })
        .collect();
    ok(
        StatusCode::OK,
        &json!({"@odata.context": format!("{base}/v1.0/$metadata#Device"), "value": value}),
    )
}

/// An instance as AdminService shows it: `@odata.etag`, WMI's system
/// properties, then the properties (lazy ones only when asked for by key).
fn render(shared: &Shared, inst: &Instance, select: Option<&[&str]>, full: bool) -> Json {
    let mut m = Map::new();
    let key_name = key_of(&inst.class).unwrap_or("");
    let key = inst.get(key_name).cloned().unwrap_or(Value::Null);
    let relpath = match &key {
        Value::Int(i) => format!("{}.{key_name}={i}", inst.class),
        other => format!(
            "{}.{key_name}=\"{}\"",
            inst.class,
            other.as_str().unwrap_or("")
        ),
    };
    let lazy: &[&str] = if inst.class == "SMS_Collection" {
        &["CollectionRules", "RefreshSchedule"]
    } else {
        &[]
    };
    let etag = {
        use sha2::Digest as _;
        let h = sha2::Sha256::digest(inst.to_json().to_string().as_bytes());
        format!(
            "W/\"{}\"",
            h[..8]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        )
    };
    m.insert("@odata.etag".into(), etag.into());
    if select.is_none() {
        m.insert("__GENUS".into(), 2.into());
        m.insert("__CLASS".into(), inst.class.clone().into());
        m.insert("__RELPATH".into(), relpath.clone().into());
        m.insert("__SERVER".into(), shared.config.server_name.clone().into());
        m.insert(
            "__NAMESPACE".into(),
            format!("root\\sms\\site_{}", shared.config.site_code).into(),
        );
        m.insert(
            "__PATH".into(),
            format!(
                "\\\\{}\\root\\sms\\site_{}:{relpath}",
                shared.config.server_name, shared.config.site_code
            )
            .into(),
        );
        m.insert(
            "__LAZYPROPERTIES".into(),
            lazy.iter().map(|s| Json::from(*s)).collect(),
        );
    }
    for (k, v) in &inst.properties {
        if let Some(sel) = select
            && !sel.iter().any(|s| s.eq_ignore_ascii_case(k))
        {
            continue;
        }
        let is_lazy = lazy.iter().any(|l| l.eq_ignore_ascii_case(k));
        let json = if is_lazy && !full {
            Json::Null
        } else {
            value_json(v)
        };
        m.insert(k.clone(), json);
    }
    Json::Object(m)
}

/// A value as AdminService writes it: embedded objects carry `@odata.type`.
fn value_json(v: &Value) -> Json {
    match v {
        Value::Object(o) => {
            let mut m = Map::new();
            m.insert(
                "@odata.type".into(),
                format!("#AdminService.{}", o.class).into(),
            );
            for (k, v) in &o.properties {
                m.insert(k.clone(), value_json(v));
            }
            Json::Object(m)
        }
        Value::Array(a) => a.iter().map(value_json).collect(),
        other => other.to_json(),
    }
}

fn with_context(mut entity: Json, context: String) -> Json {
    if let Json::Object(m) = &mut entity {
        let mut out = Map::new();
        out.insert("@odata.context".into(), context.into());
        out.append(m);
        return Json::Object(out);
    }
    entity
}

/// A JSON body as an instance of `class`; `@odata.type` annotations become
/// embedded objects' classes.
fn body_instance(class: &str, body: &[u8]) -> Option<Instance> {
    let json: Json = serde_json::from_slice(body).ok()?;
    match json_value(&json, 0)? {
        Value::Object(mut o) => {
            if o.class.is_empty() {
                o.class = class.to_owned();
            }
            Some(*o)
        }
        _ => None,
    }
}

fn json_value(j: &Json, depth: usize) -> Option<Value> {
    if depth > 16 {
        return None;
    }
    Some(match j {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => n
            .as_i64()
            .map(Value::Int)
            .or_else(|| n.as_f64().map(Value::Real))?,
        Json::String(s) => Value::String(s.clone()),
        Json::Array(a) => Value::Array(
            a.iter()
                .map(|v| json_value(v, depth + 1))
                .collect::<Option<_>>()?,
        ),
        Json::Object(m) => {
            let mut o = Instance::default();
            for (k, v) in m {
                if k == "@odata.type" {
                    o.class = v
                        .as_str()?
                        .trim_start_matches('#')
                        .trim_start_matches("AdminService.")
                        .to_owned();
                } else if !k.starts_with('@') {
                    o.properties.insert(k.clone(), json_value(v, depth + 1)?);
                }
            }
            Value::Object(Box::new(o))
        }
    })
}

fn ok(status: StatusCode, body: &Json) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(
            "application/json; odata.metadata=minimal; odata.streaming=true",
        ),
    );
    r.headers_mut()
        .insert("OData-Version", http::HeaderValue::from_static("4.0"));
    r
}

/// An OData error document.
fn error(status: StatusCode, code: &str, message: &str) -> Response<Full<Bytes>> {
    ok(
        status,
        &json!({"error": {"code": code, "message": message, "details": []}}),
    )
}

/// A WMI failure as AdminService reports it: 500 with the WMI code in the
/// message.
fn wmi_error(code: u32, message: &str) -> Response<Full<Bytes>> {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "500",
        &format!("{message} (0x{code:08X})"),
    )
}

fn not_found(class: &str) -> Response<Full<Bytes>> {
    error(
        StatusCode::NOT_FOUND,
        "404",
        &format!("The {class} instance was not found (WBEM_E_NOT_FOUND 0x80041002)"),
    )
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn parse_key(text: &str) -> Result<Value, ()> {
    let text = text.trim();
    let text = match text.split_once('=') {
        Some((_, v)) if !text.starts_with('\'') => v.trim(),
        _ => text,
    };
    if let Some(inner) = text.strip_prefix('\'').and_then(|t| t.strip_suffix('\'')) {
        if inner.replace("''", "").contains('\'') {
            return Err(());
        }
        return Ok(Value::String(inner.replace("''", "'")));
    }
    text.parse::<i64>().map(Value::Int).map_err(|_| ())
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && s.len() <= 256
}

fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~,()".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
