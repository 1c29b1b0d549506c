//! WS-Management envelopes checked against independent implementations:
//!
//! - `wsl` (Debian package `wsl`, shell tools that write WS-Man envelopes
//!   and send them with curl): each tool is run against a loopback capture
//!   server, and the envelope it sends is compared with ours for the same
//!   operation, as parsed trees (Python's `xml.etree`), ignoring
//!   `MessageID`, header order, white space and prefixes; the captured
//!   envelopes are also read by our `server::parse_request`;
//! - pywinrm: its WS-Man header builder makes the header for the same
//!   action, resource URI, message ID and selectors, and the two headers
//!   are compared element by element;
//! - `xmllint` and Python's `xml.etree` read every envelope we write.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sccm_wmi::wsman::{Limits, MessageId, WsMan, server};
use sccm_wmi::{Instance, Value};
use serde_json::json;

const SITE_NS: &str = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/sms/site_PS1";
const QUERY: &str =
    "SELECT ResourceID,Name,SMSUniqueIdentifier FROM SMS_R_System WHERE Name LIKE 'MAC-%'";

fn id(n: u8) -> MessageId {
    MessageId::from_bytes([n; 16])
}

// ---------------------------------------------------------------------
// A loopback HTTP server that records each POST body and answers it
// ---------------------------------------------------------------------

type Answer = dyn Fn(&[u8]) -> (u16, Vec<u8>) + Send + Sync;

struct Capture {
    port: u16,
    bodies: Arc<Mutex<Vec<Vec<u8>>>>,
}

fn capture(answer: Box<Answer>) -> Capture {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let seen = bodies.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            if let Some(body) = serve(stream, &*answer) {
                seen.lock().unwrap().push(body);
            }
        }
    });
    Capture { port, bodies }
}

fn serve(stream: TcpStream, answer: &Answer) -> Option<Vec<u8>> {
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .ok()?;
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut writer = stream;
    let mut length = 0usize;
    let mut expect_continue = false;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse().ok()?;
        }
        if lower.starts_with("expect:") && lower.contains("100-continue") {
            expect_continue = true;
        }
    }
    if expect_continue {
        writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").ok()?;
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let (status, out) = answer(&body);
    let head = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/soap+xml;charset=UTF-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        out.len()
    );
    writer.write_all(head.as_bytes()).ok()?;
    writer.write_all(&out).ok()?;
    Some(body)
}

/// Answers like the WMI plugin, with our service side: two systems per
/// batch, the second batch the last.
fn simulated_provider() -> Box<Answer> {
    Box::new(|body| {
        let req = match server::parse_request(body, &Limits::default()) {
            Ok(r) => r,
            Err(f) => {
                let r = server::fault_response(None, &id(200), &f).unwrap();
                return (500, r.into_body());
            }
        };
        let sys = |n: i64| {
            Instance::new("SMS_R_System")
                .with("Name", format!("MAC-{n}"))
                .with("ResourceId", n)
        };
        let resp = match req.operation {
            server::Operation::Enumerate => server::enumerate_response(
                &req,
                &id(201),
                Some("uuid:CTX-1"),
                &[sys(1), sys(2)],
                false,
            ),
            server::Operation::Pull => server::pull_response(&req, &id(202), None, &[sys(3)], true),
            server::Operation::Get => server::get_response(
                &req,
                &id(203),
                &Instance::new("SMS_Collection")
                    .with("CollectionID", "PS100042")
                    .with("Name", "Macs"),
            ),
            server::Operation::Put => {
                server::put_response(&req, &id(204), req.input.as_ref().unwrap())
            }
            server::Operation::Invoke => {
                server::invoke_response(&req, &id(205), &Instance::new("").with("ReturnValue", 0))
            }
            server::Operation::Create => {
                server::create_response(&req, &id(206), &[("CollectionID", "PS100043")])
            }
            server::Operation::Delete => server::delete_response(&req, &id(207)),
            server::Operation::Release => server::release_response(&req, &id(208)),
        }
        .unwrap();
        (resp.status().as_u16(), resp.into_body())
    })
}

// ---------------------------------------------------------------------
// Running wsl
// ---------------------------------------------------------------------

fn wsl_available(test: &str) -> bool {
    test_support::require_peer(test, &["test", "-x", "/usr/bin/wslenum"])
        && test_support::require_peer(test, &["curl", "--version"])
        && test_support::require_peer(test, &["xmllint", "--version"])
        && test_support::require_python(test, &["xml.etree.ElementTree", "json"])
}

/// Runs `/usr/bin/<tool> args…` against the capture server on `port`, in a
/// scratch home and directory; gives the bodies it posted.
fn run_wsl(tool: &str, args: &[&str], capture: &Capture, files: &[(&str, &str)]) -> Vec<Vec<u8>> {
    let dir = test_support::tempdir();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    // wsl calls `uuidgen` for its MessageIDs; util-linux may be absent.
    let uuidgen = bin.join("uuidgen");
    std::fs::write(&uuidgen, "#!/bin/sh\ncat /proc/sys/kernel/random/uuid\n").unwrap();
    std::fs::set_permissions(
        &uuidgen,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let before = capture.bodies.lock().unwrap().len();
    let mut child = Command::new(format!("/usr/bin/{tool}"))
        .args(args)
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .env("PATH", path)
        .env("WSENDPOINT", format!("127.0.0.1:{}", capture.port))
        .env("WSUSER", "CONTOSO\\svc_bridge")
        .env("WSPASS", "x")
        .env("WSNOSSL", "true")
        .env("KEEPHISTORY", "0")
        .env("OUTLEVEL", "0")
        .env("OUTPREFIX", dir.path())
        .env("WSMAXENVELOPESIZE", "512000")
        .env("WSOPERATIONTIMEOUT", "60")
        .env("WSENUMOPTIMIZE", "1")
        .env("WSENUMMAXELEM", "100")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if start.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            panic!("{tool} did not finish");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let bodies = capture.bodies.lock().unwrap()[before..].to_vec();
    assert!(
        !bodies.is_empty(),
        "{tool} sent nothing: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    bodies
}

// ---------------------------------------------------------------------
// Comparing envelopes as trees, with Python's xml.etree
// ---------------------------------------------------------------------

const CANON: &str = r#"
import sys, json, re, xml.etree.ElementTree as ET
S = '{http://www.w3.org/2003/05/soap-envelope}'
def canon(e):
    return [e.tag, sorted(e.attrib.items()), (e.text or '').strip(), [canon(c) for c in e]]
out = []
for doc in json.load(sys.stdin):
    root = ET.fromstring(doc.encode('utf-8'))
    assert root.tag == S + 'Envelope', root.tag
    kids = [c.tag for c in root]
    assert kids in ([S + 'Header', S + 'Body'], [S + 'Body']), kids
    header = {c.tag: canon(c) for c in root.find(S + 'Header') or []}
    out.append({'header': header, 'body': [canon(c) for c in root.find(S + 'Body')]})
json.dump(out, sys.stdout)
"#;

fn canonical(envelopes: &[&[u8]]) -> Vec<serde_json::Value> {
    let docs: Vec<String> = envelopes
        .iter()
        .map(|e| String::from_utf8(e.to_vec()).unwrap())
        .collect();
    let out = test_support::python_ok(CANON, serde_json::to_string(&docs).unwrap().as_bytes());
    serde_json::from_slice(&out).unwrap()
}

const A: &str = "{http://schemas.xmlsoap.org/ws/2004/08/addressing}";
const W: &str = "{http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd}";

fn header_text(c: &serde_json::Value, tag: &str) -> String {
    c["header"][tag][2]
        .as_str()
        .unwrap_or("<absent>")
        .to_owned()
}

fn duration(text: &str) -> f64 {
    text.strip_prefix("PT")
        .and_then(|t| t.strip_suffix('S'))
        .and_then(|t| t.parse().ok())
        .unwrap_or(f64::NAN)
}

/// The same operation: Action, ResourceURI, SelectorSet, MaxEnvelopeSize,
/// OperationTimeout (as durations) and the whole body.
fn assert_same_operation(theirs: &[u8], ours: &[u8]) {
    let c = canonical(&[theirs, ours]);
    let (t, o) = (&c[0], &c[1]);
    for tag in [
        format!("{A}Action"),
        format!("{W}ResourceURI"),
        format!("{W}MaxEnvelopeSize"),
    ] {
        assert_eq!(header_text(t, &tag), header_text(o, &tag), "{tag}");
    }
    let sel = format!("{W}SelectorSet");
    assert_eq!(t["header"][&sel], o["header"][&sel], "SelectorSet");
    let timeout = format!("{W}OperationTimeout");
    assert_eq!(
        duration(&header_text(t, &timeout)),
        duration(&header_text(o, &timeout))
    );
    assert_eq!(
        t["body"], o["body"],
        "body\n theirs {}\n ours   {}",
        t["body"], o["body"]
    );
}

/// What the service side reads from both must agree, but for the
/// message ID, `To`, timeout and locale.
fn assert_same_request(theirs: &[u8], ours: &[u8]) -> server::Request {
    let t = server::parse_request(theirs, &Limits::default())
        .unwrap_or_else(|f| panic!("{f}: {}", String::from_utf8_lossy(theirs)));
    let o = server::parse_request(ours, &Limits::default()).unwrap();
    assert_eq!(t.operation, o.operation);
    assert_eq!(t.action, o.action);
    assert_eq!(t.resource_uri, o.resource_uri);
    assert_eq!(t.namespace, o.namespace);
    assert_eq!(t.class, o.class);
    assert_eq!(t.selectors, o.selectors);
    assert_eq!(t.filter, o.filter);
    assert_eq!(t.context, o.context);
    assert_eq!(t.max_elements, o.max_elements);
    assert_eq!(t.optimize, o.optimize);
    assert_eq!(t.method, o.method);
    assert_eq!(t.input, o.input);
    assert_eq!(t.max_envelope_size, o.max_envelope_size);
    t
}

fn ws(port: u16) -> WsMan {
    WsMan::for_site(&format!("http://127.0.0.1:{port}/wsman"), "PS1").unwrap()
}

// ---------------------------------------------------------------------
// wsl
// ---------------------------------------------------------------------

#[test]
fn wsl_enumerate_wql_then_pull() {
    if !wsl_available("wsl_enumerate_wql_then_pull") {
        return;
    }
    let cap = capture(simulated_provider());
    let uri = format!("{SITE_NS}/*");
    let sent = run_wsl(
        "wslenum",
        &[
            &uri,
            "-dialect",
            "http://schemas.microsoft.com/wbem/wsman/1/WQL",
            "-filter",
            QUERY,
        ],
        &cap,
        &[],
    );
    assert_eq!(sent.len(), 2, "an Enumerate and one Pull");
    let w = ws(cap.port);
    let ours = w.enumerate_wql(QUERY, &id(1)).unwrap();
    assert_same_operation(&sent[0], ours.body());
    let req = assert_same_request(&sent[0], ours.body());
    assert_eq!(req.filter.unwrap().text, QUERY);

    let ours = w
        .pull(&w.wql_resource_uri(), "uuid:CTX-1", 100, &id(2))
        .unwrap();
    assert_same_operation(&sent[1], ours.body());
    let req = assert_same_request(&sent[1], ours.body());
    assert_eq!(req.context.as_deref(), Some("uuid:CTX-1"));
}

#[test]
fn wsl_enumerate_class() {
    if !wsl_available("wsl_enumerate_class") {
        return;
    }
    let cap = capture(simulated_provider());
    let uri = format!("{SITE_NS}/SMS_R_System");
    let sent = run_wsl("wslenum", &[&uri], &cap, &[]);
    let ours = ws(cap.port).enumerate("SMS_R_System", &id(1)).unwrap();
    assert_same_operation(&sent[0], ours.body());
    assert_same_request(&sent[0], ours.body());
}

#[test]
fn wsl_get() {
    if !wsl_available("wsl_get") {
        return;
    }
    let cap = capture(simulated_provider());
    let uri = format!("{SITE_NS}/SMS_Collection");
    let sent = run_wsl("wslget", &[&uri, "CollectionID=PS100042"], &cap, &[]);
    assert_eq!(sent.len(), 1);
    let ours = ws(cap.port)
        .get("SMS_Collection", &[("CollectionID", "PS100042")], &id(1))
        .unwrap();
    assert_same_operation(&sent[0], ours.body());
    let req = assert_same_request(&sent[0], ours.body());
    assert_eq!(
        req.selectors,
        vec![("CollectionID".to_owned(), "PS100042".to_owned())]
    );
}

#[test]
fn wsl_invoke() {
    if !wsl_available("wsl_invoke") {
        return;
    }
    let cap = capture(simulated_provider());
    let uri = format!("{SITE_NS}/SMS_Collection");
    // The instance's endpoint reference, in the line-per-element form
    // wslinvoke reads with -inst.
    let epr = format!(
        "<wsa:ReferenceParameters>\n<wsman:ResourceURI>{uri}</wsman:ResourceURI>\n<wsman:SelectorSet>\n<wsman:Selector Name=\"CollectionID\">PS100042</wsman:Selector>\n</wsman:SelectorSet>\n</wsa:ReferenceParameters>\n"
    );
    let sent = run_wsl(
        "wslinvoke",
        &[
            &uri,
            "RequestRefresh",
            "-inst",
            "epr.xml",
            "IncludeSubcollections=true",
        ],
        &cap,
        &[("epr.xml", &epr)],
    );
    assert_eq!(sent.len(), 1);
    let input = Instance::new("").with("IncludeSubcollections", true);
    let ours = ws(cap.port)
        .invoke(
            "SMS_Collection",
            "RequestRefresh",
            &[("CollectionID", "PS100042")],
            &input,
            &id(1),
        )
        .unwrap();
    assert_same_operation(&sent[0], ours.body());
    let req = assert_same_request(&sent[0], ours.body());
    assert_eq!(req.method.as_deref(), Some("RequestRefresh"));
    assert_eq!(
        req.input.unwrap().get_bool("IncludeSubcollections"),
        Some(true)
    );
}

#[test]
fn wsl_put() {
    if !wsl_available("wsl_put") {
        return;
    }
    // wslput first enumerates objects and their references, then puts
    // the first one back with the changed properties. Its reading of the
    // answer is line by line, so the answer is written in that form: the
    // class element without attributes and `wsman:` selectors.
    let uri = format!("{SITE_NS}/SMS_Collection");
    let enum_answer = format!(
        r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:n="http://schemas.xmlsoap.org/ws/2004/09/enumeration" xmlns:wsman="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:p="{uri}"><s:Header><a:Action>http://schemas.xmlsoap.org/ws/2004/09/enumeration/EnumerateResponse</a:Action></s:Header><s:Body><n:EnumerateResponse><wsman:Items><wsman:Item><p:SMS_Collection><p:CollectionID>PS100042</p:CollectionID><p:Comment>old</p:Comment><p:Name>Macs</p:Name></p:SMS_Collection><a:EndpointReference><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address><a:ReferenceParameters><wsman:ResourceURI>{uri}</wsman:ResourceURI><wsman:SelectorSet><wsman:Selector Name="CollectionID">PS100042</wsman:Selector></wsman:SelectorSet></a:ReferenceParameters></a:EndpointReference></wsman:Item></wsman:Items><wsman:EndOfSequence/></n:EnumerateResponse></s:Body></s:Envelope>"#
    );
    let provider = simulated_provider();
    let cap = capture(Box::new(move |body| {
        let req = server::parse_request(body, &Limits::default());
        if req.is_ok_and(|r| r.operation == server::Operation::Enumerate) {
            (200, enum_answer.clone().into_bytes())
        } else {
            provider(body)
        }
    }));
    let sent = run_wsl("wslput", &[&uri, "Comment=Pippin & co <Macs>"], &cap, &[]);
    assert!(sent.len() >= 2, "an Enumerate and the Put");
    let changed = Instance::new("SMS_Collection")
        .with("CollectionID", "PS100042")
        .with("Comment", "Pippin & co <Macs>")
        .with("Name", "Macs");
    let ours = ws(cap.port)
        .put(
            "SMS_Collection",
            &[("CollectionID", "PS100042")],
            &changed,
            &id(1),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    // wsl writes the value raw; `&` and `<` make its envelope ill-formed
    // (its own xmllint pass then leaves it empty), so the comparison uses
    // a value wsl can carry.
    // (curl retries the Put after the fault answering it.)
    assert!(
        sent[1..]
            .iter()
            .all(|b| server::parse_request(b, &Limits::default()).is_err()),
        "wsl does not escape values"
    );
    let sent = run_wsl("wslput", &[&uri, "Comment=Pippin Macs"], &cap, &[]);
    assert_eq!(sent.len(), 2, "an Enumerate and the Put");
    let changed = changed.with("Comment", "Pippin Macs");
    let ours2 = ws(cap.port)
        .put(
            "SMS_Collection",
            &[("CollectionID", "PS100042")],
            &changed,
            &id(2),
        )
        .unwrap();
    assert_same_operation(&sent[1], ours2.body());
    let req = assert_same_request(&sent[1], ours2.body());
    assert_eq!(req.input.unwrap().get_str("Comment"), Some("Pippin Macs"));
    // Ours with the markup characters is well-formed and reads back.
    let req = server::parse_request(ours.body(), &Limits::default()).unwrap();
    assert_eq!(
        req.input.unwrap().get_str("Comment"),
        Some("Pippin & co <Macs>")
    );
}

// ---------------------------------------------------------------------
// pywinrm
// ---------------------------------------------------------------------

const PYWINRM: &str = r#"
import sys, json, uuid, xmltodict
import xml.etree.ElementTree as ET
from winrm.protocol import Protocol
S = '{http://www.w3.org/2003/05/soap-envelope}'
def canon(e):
    attrs = sorted((k.split('}')[-1], v) for k, v in e.attrib.items())
    return [e.tag, attrs, (e.text or '').strip(), [canon(c) for c in e]]
def header(doc):
    root = ET.fromstring(doc)
    return {c.tag: canon(c) for c in root.find(S + 'Header')}
p = Protocol('http://windows-host:5985/wsman', transport='plaintext', username='u', password='p')
out = []
for case in json.load(sys.stdin):
    mid = case['message_id'][len('uuid:'):]
    env = p.build_wsman_header(action=case['action'], resource_uri=case['resource_uri'], message_id=mid)
    if case['selectors']:
        env['env:Header']['w:SelectorSet'] = {'w:Selector': [{'@Name': n, '#text': v} for n, v in case['selectors']]}
    env['env:Body'] = {}
    theirs = header(xmltodict.unparse({'env:Envelope': env}).encode())
    ours = header(case['ours'].encode())
    out.append({'theirs': theirs, 'ours': ours})
json.dump(out, sys.stdout)
"#;

#[test]
fn pywinrm_headers_match() {
    if !test_support::require_python("pywinrm_headers_match", &["winrm", "xmltodict"]) {
        return;
    }
    // pywinrm's defaults: MaxEnvelopeSize 153600, OperationTimeout PT20S.
    let mut w = WsMan::for_site("http://windows-host:5985/wsman", "PS1").unwrap();
    w.set_max_envelope_size(153_600)
        .set_operation_timeout(Duration::from_secs(20));
    let coll = Instance::new("SMS_Collection").with("Name", "Macs");
    let requests = [
        w.get("SMS_Collection", &[("CollectionID", "PS100042")], &id(1))
            .unwrap(),
        w.delete("SMS_Collection", &[("CollectionID", "PS100042")], &id(2))
            .unwrap(),
        w.put(
            "SMS_Collection",
            &[("CollectionID", "PS100042")],
            &coll,
            &id(3),
        )
        .unwrap(),
        w.create("SMS_Collection", &coll, &id(4)).unwrap(),
        w.enumerate_wql(QUERY, &id(5)).unwrap(),
        w.pull(&w.wql_resource_uri(), "uuid:CTX", 50, &id(6))
            .unwrap(),
        w.invoke(
            "SMS_Collection",
            "AddMembershipRule",
            &[("CollectionID", "PS100042"), ("Other", "x y")],
            &Instance::new(""),
            &id(7),
        )
        .unwrap(),
    ];
    let cases: Vec<_> = requests
        .iter()
        .map(|r| {
            let p = server::parse_request(r.body(), &Limits::default()).unwrap();
            json!({
                "action": p.action,
                "resource_uri": p.resource_uri,
                "message_id": p.message_id,
                "selectors": p.selectors,
                "ours": String::from_utf8(r.body().clone()).unwrap(),
            })
        })
        .collect();
    let out = test_support::python_ok(PYWINRM, serde_json::to_string(&cases).unwrap().as_bytes());
    let out: Vec<serde_json::Value> = serde_json::from_slice(&out).unwrap();
    for (case, got) in cases.iter().zip(&out) {
        let theirs = got["theirs"].as_object().unwrap();
        let ours = got["ours"].as_object().unwrap();
        let mut t_tags: Vec<_> = theirs.keys().collect();
        let mut o_tags: Vec<_> = ours.keys().collect();
        t_tags.sort();
        o_tags.sort();
        assert_eq!(t_tags, o_tags, "header elements for {}", case["action"]);
        for (tag, value) in theirs {
            assert_eq!(value, &ours[tag], "{tag} for {}", case["action"]);
        }
    }
}

// ---------------------------------------------------------------------
// Every envelope we write, read by xmllint and xml.etree
// ---------------------------------------------------------------------

fn every_envelope() -> Vec<(String, Vec<u8>)> {
    let w = WsMan::for_site("https://provider.contoso.com:5986/wsman", "PS1").unwrap();
    let nasty = "a<b>&\"c'd]]>\r\n\te";
    let rule = Instance::new("SMS_CollectionRuleDirect")
        .with("ResourceClassName", "SMS_R_System")
        .with("ResourceID", 16777220)
        .with("RuleName", nasty);
    let coll = Instance::new("SMS_Collection")
        .with("CollectionID", "PS100042")
        .with("Name", nasty)
        .with("Nothing", Value::Null)
        .with("Flags", vec![1, 2, 3])
        .with(
            "Rules",
            vec![Value::from(rule.clone()), Value::from(rule.clone())],
        )
        .with("Ratio", 0.25)
        .with("Active", true);
    let mut out: Vec<(String, Vec<u8>)> = vec![
        (
            "enumerate".into(),
            w.enumerate("SMS_R_System", &id(1)).unwrap().into_body(),
        ),
        (
            "enumerate_wql".into(),
            w.enumerate_wql(&format!("{QUERY} AND Name <> '{nasty}'"), &id(2))
                .unwrap()
                .into_body(),
        ),
        (
            "pull".into(),
            w.pull(&w.wql_resource_uri(), nasty, 10, &id(3))
                .unwrap()
                .into_body(),
        ),
        (
            "release".into(),
            w.release(&w.wql_resource_uri(), nasty, &id(4))
                .unwrap()
                .into_body(),
        ),
        (
            "get".into(),
            w.get(
                "SMS_Collection",
                &[("CollectionID", nasty), ("B", "2")],
                &id(5),
            )
            .unwrap()
            .into_body(),
        ),
        (
            "put".into(),
            w.put(
                "SMS_Collection",
                &[("CollectionID", "PS100042")],
                &coll,
                &id(6),
            )
            .unwrap()
            .into_body(),
        ),
        (
            "create".into(),
            w.create("SMS_Collection", &coll, &id(7))
                .unwrap()
                .into_body(),
        ),
        (
            "delete".into(),
            w.delete("SMS_Collection", &[("CollectionID", nasty)], &id(8))
                .unwrap()
                .into_body(),
        ),
        (
            "invoke".into(),
            w.invoke(
                "SMS_Collection",
                "AddMembershipRule",
                &[("CollectionID", "PS100042")],
                &Instance::new("")
                    .with("collectionRule", rule.clone())
                    .with("Note", nasty),
                &id(9),
            )
            .unwrap()
            .into_body(),
        ),
        (
            "invoke_static".into(),
            w.invoke(
                "SMS_Collection",
                "ImportMembershipRules",
                &[],
                &Instance::new(""),
                &id(10),
            )
            .unwrap()
            .into_body(),
        ),
    ];
    let reqs: Vec<server::Request> = out
        .iter()
        .map(|(_, b)| server::parse_request(b, &Limits::default()).unwrap())
        .collect();
    let get = &reqs[4];
    let answers = vec![
        (
            "enumerate_response",
            server::enumerate_response(
                &reqs[1],
                &id(20),
                Some(nasty),
                std::slice::from_ref(&coll),
                false,
            ),
        ),
        (
            "pull_response",
            server::pull_response(&reqs[2], &id(21), None, &[coll.clone(), coll.clone()], true),
        ),
        (
            "release_response",
            server::release_response(&reqs[3], &id(22)),
        ),
        ("get_response", server::get_response(get, &id(23), &coll)),
        (
            "put_response",
            server::put_response(&reqs[5], &id(24), &coll),
        ),
        (
            "create_response",
            server::create_response(&reqs[6], &id(25), &[("CollectionID", nasty)]),
        ),
        (
            "delete_response",
            server::delete_response(&reqs[7], &id(26)),
        ),
        (
            "invoke_response",
            server::invoke_response(
                &reqs[8],
                &id(27),
                &Instance::new("").with("ReturnValue", 0).with("Out", nasty),
            ),
        ),
        (
            "fault_filter",
            server::fault_response(
                Some(&get.message_id),
                &id(28),
                &server::cannot_process_filter(nasty),
            ),
        ),
        (
            "fault_wmi",
            server::fault_response(
                Some(&get.message_id),
                &id(29),
                &server::wmi_fault(0x80041002, 6, nasty),
            ),
        ),
        (
            "fault_selectors",
            server::fault_response(None, &id(30), &server::invalid_selectors()),
        ),
    ];
    for (name, r) in answers {
        out.push((name.into(), r.unwrap().into_body()));
    }
    out
}

#[test]
fn xmllint_reads_every_envelope() {
    if !test_support::require_peer("xmllint_reads_every_envelope", &["xmllint", "--version"]) {
        return;
    }
    for (name, body) in every_envelope() {
        let out = test_support::run(&["xmllint", "--noout", "-"], &body);
        assert!(
            out.status.success(),
            "{name}: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&body)
        );
    }
}

#[test]
fn python_etree_reads_every_envelope() {
    if !test_support::require_python(
        "python_etree_reads_every_envelope",
        &["xml.etree.ElementTree"],
    ) {
        return;
    }
    let all = every_envelope();
    let bodies: Vec<&[u8]> = all.iter().map(|(_, b)| b.as_slice()).collect();
    let c = canonical(&bodies);
    assert_eq!(c.len(), all.len());
    // Namespaces as WS-Management has them, whatever the prefixes.
    let put = &c[5];
    assert_eq!(
        put["header"][format!("{A}Action")][2],
        "http://schemas.xmlsoap.org/ws/2004/09/transfer/Put"
    );
    let body = &put["body"][0];
    assert_eq!(
        body[0],
        format!("{{{SITE_NS}/SMS_Collection}}SMS_Collection")
    );
    // The embedded rule: its element in the parent's namespace, its type
    // and properties in its own class's.
    let rules: Vec<_> = body[3]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e[0] == format!("{{{SITE_NS}/SMS_Collection}}Rules"))
        .collect();
    assert_eq!(rules.len(), 2);
    assert_eq!(
        rules[0][3][0][0],
        format!("{{{SITE_NS}/SMS_CollectionRuleDirect}}ResourceClassName")
    );
    let attrs = rules[0][1].as_array().unwrap();
    assert!(attrs.iter().any(|a| {
        a[0] == "{http://www.w3.org/2001/XMLSchema-instance}type"
            && a[1]
                .as_str()
                .unwrap()
                .ends_with(":SMS_CollectionRuleDirect_Type")
    }));
    // Text survives: the nasty value, \r included.
    let name = body[3]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e[0] == format!("{{{SITE_NS}/SMS_Collection}}Name"))
        .unwrap();
    assert_eq!(name[2], "a<b>&\"c'd]]>\r\n\te");
}
