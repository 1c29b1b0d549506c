//! Unit tests of the WS-Management module.

use proptest::prelude::*;

use super::server::{self, Operation};
use super::*;

const SITE_NS: &str = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/sms/site_PS1";

fn ws() -> WsMan {
    WsMan::for_site("http://provider.contoso.com:5985/wsman", "PS1").unwrap()
}

fn id(n: u8) -> MessageId {
    MessageId::from_bytes([n; 16])
}

fn answer(status: u16, body: &[u8]) -> http::Response<&[u8]> {
    http::Response::builder().status(status).body(body).unwrap()
}

fn parse(req: &http::Request<Vec<u8>>) -> server::Request {
    server::parse_request(req.body(), &Limits::default()).unwrap()
}

fn body_of(resp: &http::Response<Vec<u8>>) -> http::Response<&[u8]> {
    answer(resp.status().as_u16(), resp.body())
}

const FAULT_FILTER: &[u8] = include_bytes!(
    "../../tests/fixtures/wsman/winrm-enumerate-fault-cannotprocessfilter.response.xml"
);
const FAULT_WMI: &[u8] = include_bytes!(
    "../../tests/fixtures/wsman/winrm-get-fault-msft_wmierror-notfound.response.xml"
);
const ENUMERATE: &[u8] =
    include_bytes!("../../tests/fixtures/wsman/winrm-enumerate-wql-sms_r_system.response.xml");
const PULL_END: &[u8] =
    include_bytes!("../../tests/fixtures/wsman/winrm-pull-end-sms_r_system.response.xml");
const GET: &[u8] =
    include_bytes!("../../tests/fixtures/wsman/winrm-get-sms_collection.response.xml");
const CREATE: &[u8] =
    include_bytes!("../../tests/fixtures/wsman/winrm-create-sms_collection.response.xml");
const INVOKE: &[u8] =
    include_bytes!("../../tests/fixtures/wsman/winrm-invoke-addmembershiprule.response.xml");

// ---------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------

#[test]
fn message_ids() {
    let m = MessageId::from_bytes([0xFF; 16]);
    assert_eq!(m.as_str(), "uuid:FFFFFFFF-FFFF-4FFF-BFFF-FFFFFFFFFFFF");
    assert_eq!(MessageId::parse(m.as_str()).unwrap(), m);
    assert!(MessageId::parse("c9cfc911-51a1-4612-8469-7e6d7059575f").is_err());
    assert!(MessageId::parse("uuid:c9cfc911-51a1-4612-8469-7e6d7059575").is_err());
    assert!(MessageId::parse("uuid:c9cfc911-51a1-4612-8469-7e6d7059575f<").is_err());
    assert!(MessageId::parse("uuid:c9cfc911-51a1-4612-8469-7e6d7059575f").is_ok());
}

#[test]
fn config_is_checked() {
    assert!(WsMan::new("ftp://x/wsman", "root/sms/site_PS1").is_err());
    assert!(WsMan::new("not a url", "root/sms/site_PS1").is_err());
    assert!(WsMan::new("http://x:5985/wsman", "root/sms/site PS1").is_err());
    assert!(WsMan::new("http://x:5985/wsman", "root//sms").is_err());
    assert!(WsMan::for_site("http://x:5985/wsman", "PS1<").is_err());
    assert!(WsMan::for_site("http://x:5985/wsman", "PS12").is_err());
    let w = WsMan::new("https://x:5986/wsman", r"root\sms\site_ABC").unwrap();
    assert_eq!(w.namespace(), "root/sms/site_ABC");
    assert_eq!(
        w.resource_uri("SMS_R_System").unwrap(),
        "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/sms/site_ABC/SMS_R_System"
    );
}

#[test]
fn the_http_request() {
    let r = ws().enumerate("SMS_R_System", &id(1)).unwrap();
    assert_eq!(r.method(), http::Method::POST);
    assert_eq!(r.uri(), "http://provider.contoso.com:5985/wsman");
    assert_eq!(
        r.headers()[http::header::CONTENT_TYPE],
        "application/soap+xml;charset=UTF-8"
    );
}

#[test]
fn header_fields() {
    let mut w = ws();
    w.set_operation_timeout(Duration::from_millis(20_500))
        .set_max_envelope_size(153_600)
        .set_locale("de-DE", "fr-FR");
    let r = w
        .get("SMS_Collection", &[("CollectionID", "PS100042")], &id(9))
        .unwrap();
    let p = parse(&r);
    assert_eq!(p.operation, Operation::Get);
    assert_eq!(p.action, action::GET);
    assert_eq!(p.message_id, id(9).as_str());
    assert_eq!(
        p.to.as_deref(),
        Some("http://provider.contoso.com:5985/wsman")
    );
    assert_eq!(p.resource_uri, format!("{SITE_NS}/SMS_Collection"));
    assert_eq!(p.namespace.as_deref(), Some("root/sms/site_PS1"));
    assert_eq!(p.class.as_deref(), Some("SMS_Collection"));
    assert_eq!(
        p.selectors,
        vec![("CollectionID".into(), "PS100042".into())]
    );
    assert_eq!(p.max_envelope_size, Some(153_600));
    assert_eq!(p.operation_timeout.as_deref(), Some("PT20.500S"));
    assert_eq!(p.locale.as_deref(), Some("de-DE"));
    let text = String::from_utf8(r.into_body()).unwrap();
    assert!(text.contains(r#"<p:DataLocale xml:lang="fr-FR" s:mustUnderstand="false"/>"#));
    assert!(
        text.contains(r#"<w:MaxEnvelopeSize s:mustUnderstand="true">153600</w:MaxEnvelopeSize>"#)
    );
}

#[test]
fn every_operation_reads_back_on_the_service_side() {
    let w = ws();
    let p = parse(&w.enumerate("SMS_R_System", &id(1)).unwrap());
    assert_eq!(p.operation, Operation::Enumerate);
    assert!(p.optimize);
    assert_eq!(p.max_elements, Some(100));
    assert_eq!(p.filter, None);

    let q = "SELECT ResourceID,Name FROM SMS_R_System WHERE Name LIKE 'MAC-%'";
    let p = parse(&w.enumerate_wql(q, &id(2)).unwrap());
    assert_eq!(p.resource_uri, format!("{SITE_NS}/*"));
    assert_eq!(p.class, None);
    let f = p.filter.unwrap();
    assert_eq!(f.dialect, ns::WQL_DIALECT);
    assert_eq!(f.text, q);

    let p = parse(
        &w.pull(&w.wql_resource_uri(), "uuid:CTX-1", 25, &id(3))
            .unwrap(),
    );
    assert_eq!(p.operation, Operation::Pull);
    assert_eq!(p.context.as_deref(), Some("uuid:CTX-1"));
    assert_eq!(p.max_elements, Some(25));

    let p = parse(
        &w.release(&w.wql_resource_uri(), "uuid:CTX-1", &id(4))
            .unwrap(),
    );
    assert_eq!(p.operation, Operation::Release);
    assert_eq!(p.context.as_deref(), Some("uuid:CTX-1"));

    let inst = Instance::new("SMS_Collection")
        .with("Name", "Macs")
        .with("CollectionType", 2);
    let p = parse(
        &w.put(
            "SMS_Collection",
            &[("CollectionID", "PS100042")],
            &inst,
            &id(5),
        )
        .unwrap(),
    );
    assert_eq!(p.operation, Operation::Put);
    let got = p.input.unwrap();
    assert_eq!(got.class, "SMS_Collection");
    assert_eq!(got.get_str("CollectionType"), Some("2"));

    let p = parse(&w.create("SMS_Collection", &inst, &id(6)).unwrap());
    assert_eq!(p.operation, Operation::Create);
    assert!(p.selectors.is_empty());
    assert_eq!(p.input.unwrap().get_str("Name"), Some("Macs"));

    let p = parse(
        &w.delete("SMS_Collection", &[("CollectionID", "PS100042")], &id(7))
            .unwrap(),
    );
    assert_eq!(p.operation, Operation::Delete);
    assert_eq!(p.selectors.len(), 1);

    let rule = Instance::new("SMS_CollectionRuleDirect")
        .with("ResourceClassName", "SMS_R_System")
        .with("ResourceID", 16777220)
        .with("RuleName", "MAC-01");
    let input = Instance::new("").with("collectionRule", rule.clone());
    let r = w
        .invoke(
            "SMS_Collection",
            "AddMembershipRule",
            &[("CollectionID", "PS100042")],
            &input,
            &id(8),
        )
        .unwrap();
    let text = std::str::from_utf8(r.body()).unwrap();
    assert!(text.contains(&format!(
        r#"<p:AddMembershipRule_INPUT xmlns:p="{SITE_NS}/SMS_Collection""#
    )));
    assert!(text.contains(&format!(
        r#"<p:collectionRule xmlns:p1="{SITE_NS}/SMS_CollectionRuleDirect" xsi:type="p1:SMS_CollectionRuleDirect_Type"><p1:ResourceClassName>"#
    )));
    let p = parse(&r);
    assert_eq!(p.operation, Operation::Invoke);
    assert_eq!(
        p.action,
        format!("{SITE_NS}/SMS_Collection/AddMembershipRule")
    );
    assert_eq!(p.method.as_deref(), Some("AddMembershipRule"));
    let input = p.input.unwrap();
    assert_eq!(input.class, "AddMembershipRule_INPUT");
    let got = input.get("collectionRule").unwrap().as_object().unwrap();
    assert_eq!(got.class, "SMS_CollectionRuleDirect");
    assert_eq!(got.get_i64("ResourceID"), Some(16777220));

    // A static method: no selectors.
    let p = parse(
        &w.invoke(
            "SMS_Collection",
            "ImportMembershipRules",
            &[],
            &Instance::new(""),
            &id(10),
        )
        .unwrap(),
    );
    assert!(p.selectors.is_empty());
    assert_eq!(p.input.unwrap().properties.len(), 0);
}

#[test]
fn names_are_checked_and_values_escaped() {
    let w = ws();
    for bad in ["SMS<x", "SMS\"x", "x]]>", "", "1abc", "a b", "a/b", "Ä"] {
        assert!(w.enumerate(bad, &id(1)).is_err(), "{bad:?}");
        assert!(w.get(bad, &[("K", "v")], &id(1)).is_err(), "{bad:?}");
        assert!(
            w.get("SMS_Collection", &[(bad, "v")], &id(1)).is_err(),
            "{bad:?}"
        );
        assert!(
            w.invoke("SMS_Collection", bad, &[], &Instance::new(""), &id(1))
                .is_err(),
            "{bad:?}"
        );
        let i = Instance::new("SMS_Collection").with(bad, "v");
        assert!(w.create("SMS_Collection", &i, &id(1)).is_err(), "{bad:?}");
        let o = Instance::new(bad).with("A", "v");
        let i = Instance::new("").with("rule", o);
        assert!(
            w.invoke("SMS_Collection", "M", &[], &i, &id(1)).is_err(),
            "{bad:?}"
        );
    }
    assert!(w.get("SMS_Collection", &[], &id(1)).is_err());
    assert!(
        w.create("SMS_Collection", &Instance::new("SMS_Package"), &id(1))
            .is_err()
    );
    assert!(w.pull("http://evil/*", "c", 1, &id(1)).is_err());

    // Values that look like markup stay values.
    let evil =
        r#"PS1"/></w:SelectorSet><w:Selector Name="x">y</w:Selector><![CDATA[ ]]> &amp; &#0; '"#;
    let r = w
        .get("SMS_Collection", &[("CollectionID", evil)], &id(2))
        .unwrap();
    let p = parse(&r);
    assert_eq!(p.selectors, vec![("CollectionID".into(), evil.into())]);
    let q = "SELECT * FROM SMS_R_System WHERE Name = '</w:Filter></n:Enumerate>]]>\r\n\t'";
    let p = parse(&w.enumerate_wql(q, &id(3)).unwrap());
    assert_eq!(p.filter.unwrap().text, q.trim());
    // Whitespace inside selector values survives attribute and text
    // normalisation.
    let v = "a\r\nb\tc";
    let p = parse(
        &w.get("SMS_Collection", &[("CollectionID", v)], &id(4))
            .unwrap(),
    );
    assert_eq!(p.selectors[0].1, v);
    // Characters XML cannot carry are refused, not dropped.
    assert!(
        w.get("SMS_Collection", &[("CollectionID", "a\u{0}b")], &id(5))
            .is_err()
    );
    assert!(w.enumerate_wql("SELECT \u{1b}", &id(5)).is_err());
    let i = Instance::new("SMS_Collection").with("Name", "\u{FFFE}");
    assert!(w.create("SMS_Collection", &i, &id(5)).is_err());
    assert!(w.enumerate_wql("  ", &id(5)).is_err());
}

#[test]
fn values_are_written_by_type() {
    let i = Instance::new("SMS_Collection")
        .with("A", Value::Null)
        .with("B", true)
        .with("C", -5)
        .with("D", 1.5)
        .with("E", f64::INFINITY)
        .with("F", vec!["x", "y"])
        .with("G", Value::Array(vec![Value::Array(vec![])]));
    assert!(ws().create("SMS_Collection", &i, &id(1)).is_err());
    let i = Instance {
        properties: i.properties.into_iter().take(6).collect(),
        ..i
    };
    let r = ws().create("SMS_Collection", &i, &id(1)).unwrap();
    let text = std::str::from_utf8(r.body()).unwrap();
    assert!(text.contains(r#"<p:A xsi:nil="true"/><p:B>true</p:B><p:C>-5</p:C><p:D>1.5</p:D><p:E>INF</p:E><p:F>x</p:F><p:F>y</p:F>"#), "{text}");
}

// ---------------------------------------------------------------------
// Answers
// ---------------------------------------------------------------------

#[test]
fn fault_with_provider_fault() {
    let err = ws()
        .parse_enumerate(&answer(500, FAULT_FILTER))
        .unwrap_err();
    let Error::Fault(f) = err else {
        panic!("{err:?}")
    };
    assert_eq!(f.code, "s:Sender");
    assert_eq!(f.subcode.as_deref(), Some("wsen:CannotProcessFilter"));
    assert_eq!(f.subcode_name(), "CannotProcessFilter");
    assert!(
        f.reason
            .starts_with("The data source could not process the filter.")
    );
    let d = f.wsman.as_ref().unwrap();
    assert_eq!(d.code, Some(2150858778));
    assert_eq!(d.machine.as_deref(), Some("cm01.contoso.com"));
    assert_eq!(d.provider.as_deref(), Some("WMI Provider"));
    assert_eq!(
        d.message.as_deref(),
        Some("The specified class does not exist in the given namespace.")
    );
    assert_eq!(f.error_code(), Some(0x8033801A));
    assert!(f.wmi_error.is_none());
    let shown = f.to_string();
    assert!(
        shown.starts_with("WS-Management fault s:Sender/wsen:CannotProcessFilter: The data source"),
        "{shown}"
    );
    assert!(
        shown.contains("(WinRM error 0x8033801A: The specified class does not exist"),
        "{shown}"
    );
    // The same fault with HTTP 200 is still a fault.
    assert!(matches!(
        ws().parse_enumerate(&answer(200, FAULT_FILTER)),
        Err(Error::Fault(_))
    ));
}

#[test]
fn fault_with_msft_wmierror() {
    let Err(Error::Fault(f)) = ws().parse_get(&answer(500, FAULT_WMI)) else {
        panic!()
    };
    assert_eq!(f.subcode.as_deref(), Some("w:InvalidSelectors"));
    assert!(f.wsman.is_none());
    let e = f.wmi_error.as_ref().unwrap();
    assert_eq!(e.cim_status_code, Some(6));
    assert_eq!(e.error_code, Some(0x80041002));
    assert_eq!(e.error_category, Some(13));
    assert_eq!(e.error_type.as_deref(), Some("HRESULT"));
    assert_eq!(e.message.as_deref(), Some("Not found "));
    assert_eq!(e.message_id.as_deref(), Some("HRESULT 0x80041002"));
    assert_eq!(e.cim_status_code_description, None);
    assert_eq!(e.owning_entity, None);
    assert_eq!(f.message(), "Not found");
    assert_eq!(f.error_code(), Some(0x80041002));
    let shown = f.to_string();
    assert!(
        shown.contains("(WMI error 0x80041002, CIM status 6: Not found)"),
        "{shown}"
    );
}

#[test]
fn faults_written_by_the_service_read_back() {
    let w = ws();
    let req = parse(
        &w.get("SMS_Collection", &[("CollectionID", "X")], &id(1))
            .unwrap(),
    );
    for fault in [
        server::invalid_selectors(),
        server::cannot_process_filter("The specified class does not exist."),
        server::invalid_enumeration_context(),
        server::wmi_fault(0x80041002, 6, "Not found"),
        WsManFault::new(
            "s:Receiver",
            Some("wxf:InvalidRepresentation"),
            "bad <x> & \"y\"",
        )
        .with_wsman(1, "m&m", "msg <1>"),
    ] {
        let resp = server::fault_response(Some(&req.message_id), &id(2), &fault).unwrap();
        assert_eq!(resp.status(), 500);
        let Err(Error::Fault(got)) = w.parse_get(&body_of(&resp)) else {
            panic!()
        };
        assert_eq!(*got, fault);
    }
}

#[test]
fn http_errors_without_a_fault() {
    let err = ws().parse_get(&answer(401, b"")).unwrap_err();
    assert!(matches!(err, Error::Http { status: 401, .. }), "{err:?}");
    let err = ws()
        .parse_get(&answer(415, b"<html>no</html>"))
        .unwrap_err();
    assert!(matches!(err, Error::Http { status: 415, .. }), "{err:?}");
    let err = ws()
        .parse_get(&answer(200, b"<html>no</html>"))
        .unwrap_err();
    assert!(matches!(err, Error::InvalidResponse { .. }), "{err:?}");
}

#[test]
fn enumerate_batch_with_arrays_nil_and_datetimes() {
    let batch = ws().parse_enumerate(&answer(200, ENUMERATE)).unwrap();
    assert_eq!(
        batch.context.as_deref(),
        Some("uuid:7C1D4E2A-9B3F-4C5D-8E6F-0A1B2C3D4E5F")
    );
    assert!(!batch.end_of_sequence);
    assert_eq!(batch.len(), 2);
    let items: Vec<Instance> = batch.items().collect::<Result<_>>().unwrap();
    assert_eq!(items.len(), 2);
    let a = &items[0];
    assert_eq!(a.class, "SMS_R_System");
    assert_eq!(a.get_i64("ResourceId"), Some(16777220));
    assert_eq!(
        a.get("AgentName").unwrap().as_array().unwrap(),
        &[
            Value::from("Heartbeat Discovery"),
            Value::from("MDM Discovery")
        ]
    );
    assert_eq!(
        a.get("AgentTime").unwrap().as_array().unwrap(),
        &[
            Value::from("2024-03-01T09:15:00Z"),
            Value::from("2024-03-02T10:20:30.5Z")
        ]
    );
    assert!(a.get("IPAddresses").unwrap().is_null());
    let b = &items[1];
    assert_eq!(b.get_str("Name"), Some("MAC-02 & co"));
    assert_eq!(b.get_str("AgentName"), Some("MDM Discovery"));
    assert_eq!(b.get("IPAddresses").unwrap().as_array().unwrap().len(), 2);
    // The property order is the provider's.
    let names: Vec<&str> = a.properties.keys().map(String::as_str).collect();
    assert_eq!(names[..3], ["Active", "AgentName", "AgentTime"]);
    // Reading the items again gives them again.
    assert_eq!(batch.items().count(), 2);
}

#[test]
fn pull_batch_end_of_sequence() {
    let batch = ws().parse_pull(&answer(200, PULL_END)).unwrap();
    assert!(batch.end_of_sequence);
    assert_eq!(batch.context, None);
    let items: Vec<_> = batch.items().collect::<Result<_>>().unwrap();
    assert_eq!(items[0].get_str("Name"), Some("MAC-03"));
    // An Enumerate answer is not a Pull answer.
    assert!(ws().parse_pull(&answer(200, ENUMERATE)).is_err());
}

#[test]
fn get_with_embedded_objects_and_references() {
    let c = ws().parse_get(&answer(200, GET)).unwrap();
    assert_eq!(c.class, "SMS_Collection");
    assert_eq!(c.get_str("Comment"), Some(""));
    assert_eq!(c.get_str("LastChangeTime"), Some("2024-03-04T08:00:00Z"));
    assert!(c.get("RefreshSchedule").unwrap().is_null());
    let rules = c.get("CollectionRules").unwrap().as_array().unwrap();
    let direct = rules[0].as_object().unwrap();
    assert_eq!(direct.class, "SMS_CollectionRuleDirect");
    assert_eq!(direct.get_i64("ResourceID"), Some(16777220));
    let query = rules[1].as_object().unwrap();
    assert_eq!(query.class, "SMS_CollectionRuleQuery");
    assert_eq!(
        query.get_str("QueryExpression"),
        Some(r#"select * from SMS_R_System where Name like "MAC-%""#)
    );
    assert_eq!(c.get_str("Owner"), Some(r#"SMS_Admin.AdminID="16777217""#));
    // The wrong action is refused.
    assert!(ws().parse_put(&answer(200, GET)).is_err());
}

#[test]
fn create_invoke_delete_release() {
    let created = ws().parse_create(&answer(200, CREATE)).unwrap();
    assert_eq!(created.resource_uri, format!("{SITE_NS}/SMS_Collection"));
    assert_eq!(created.selector("collectionid"), Some("PS100043"));
    assert_eq!(created.address, ns::ANONYMOUS);

    let out = ws()
        .parse_invoke("SMS_Collection", "AddMembershipRule", &answer(200, INVOKE))
        .unwrap();
    assert_eq!(out.class, "AddMembershipRule_OUTPUT");
    assert_eq!(out.get_i64("ReturnValue"), Some(0));
    assert!(
        ws().parse_invoke(
            "SMS_Collection",
            "DeleteMembershipRule",
            &answer(200, INVOKE)
        )
        .is_err()
    );

    let w = ws();
    let req = parse(
        &w.delete("SMS_Collection", &[("CollectionID", "PS100043")], &id(1))
            .unwrap(),
    );
    let resp = server::delete_response(&req, &id(2)).unwrap();
    w.parse_delete(&body_of(&resp)).unwrap();
    assert!(w.parse_release(&body_of(&resp)).is_err());
}

#[test]
fn service_answers_read_back() {
    let w = ws();
    let rule = Instance::new("SMS_CollectionRuleDirect").with("ResourceID", "1");
    let coll = Instance::new("SMS_Collection")
        .with("CollectionID", "PS100042")
        .with("Name", "Macs & <Friends>")
        .with("Rules", vec![Value::from(rule.clone()), Value::from(rule)])
        .with("Nothing", Value::Null);

    let req = parse(
        &w.get("SMS_Collection", &[("CollectionID", "PS100042")], &id(1))
            .unwrap(),
    );
    let got = w
        .parse_get(&body_of(
            &server::get_response(&req, &id(2), &coll).unwrap(),
        ))
        .unwrap();
    assert_eq!(got, coll_as_strings(&coll));

    let req = parse(
        &w.put(
            "SMS_Collection",
            &[("CollectionID", "PS100042")],
            &coll,
            &id(3),
        )
        .unwrap(),
    );
    assert_eq!(req.input.as_ref().unwrap(), &coll_as_strings(&coll));
    let got = w
        .parse_put(&body_of(
            &server::put_response(&req, &id(4), &coll).unwrap(),
        ))
        .unwrap();
    assert_eq!(got.unwrap(), coll_as_strings(&coll));

    let req = parse(&w.create("SMS_Collection", &coll, &id(5)).unwrap());
    let resp = server::create_response(&req, &id(6), &[("CollectionID", "PS100043")]).unwrap();
    assert_eq!(
        w.parse_create(&body_of(&resp))
            .unwrap()
            .selector("CollectionID"),
        Some("PS100043")
    );

    let req = parse(
        &w.invoke(
            "SMS_Collection",
            "AddMembershipRule",
            &[("CollectionID", "X")],
            &Instance::new(""),
            &id(7),
        )
        .unwrap(),
    );
    let out = Instance::new("").with("ReturnValue", 0).with("QueryID", 5);
    let resp = server::invoke_response(&req, &id(8), &out).unwrap();
    let text = std::str::from_utf8(resp.body()).unwrap();
    assert!(text.contains(&format!("<a:RelatesTo>{}</a:RelatesTo>", id(7))));
    let got = w
        .parse_invoke("SMS_Collection", "AddMembershipRule", &body_of(&resp))
        .unwrap();
    assert_eq!(got.get_i64("QueryID"), Some(5));

    let req = parse(
        &w.enumerate_wql("SELECT * FROM SMS_Collection", &id(9))
            .unwrap(),
    );
    let resp = server::enumerate_response(
        &req,
        &id(10),
        Some("ctx"),
        std::slice::from_ref(&coll),
        false,
    )
    .unwrap();
    let batch = w.parse_enumerate(&body_of(&resp)).unwrap();
    assert_eq!(batch.context.as_deref(), Some("ctx"));
    assert_eq!(
        batch.items().next().unwrap().unwrap(),
        coll_as_strings(&coll)
    );
    let req = parse(&w.pull(&w.wql_resource_uri(), "ctx", 10, &id(11)).unwrap());
    let resp =
        server::pull_response(&req, &id(12), None, &[coll.clone(), coll.clone()], true).unwrap();
    let batch = w.parse_pull(&body_of(&resp)).unwrap();
    assert!(batch.end_of_sequence);
    assert_eq!(batch.len(), 2);
}

/// What a round trip through XML gives: scalars as text.
fn coll_as_strings(i: &Instance) -> Instance {
    Instance {
        class: i.class.clone(),
        properties: i
            .properties
            .iter()
            .map(|(k, v)| (k.clone(), stringify(v)))
            .collect(),
    }
}

fn stringify(v: &Value) -> Value {
    match v {
        Value::Null => Value::Null,
        Value::Bool(b) => Value::String(b.to_string()),
        Value::Int(i) => Value::String(i.to_string()),
        Value::Real(f) => Value::String(real_text(*f)),
        Value::String(s) => Value::String(s.clone()),
        Value::Array(a) => Value::Array(a.iter().map(stringify).collect()),
        Value::Object(o) => Value::Object(Box::new(coll_as_strings(o))),
    }
}

// ---------------------------------------------------------------------
// Service-side refusals
// ---------------------------------------------------------------------

#[test]
fn bad_requests_give_faults() {
    let w = ws();
    let good = String::from_utf8(
        w.get("SMS_Collection", &[("CollectionID", "X")], &id(1))
            .unwrap()
            .into_body(),
    )
    .unwrap();
    let lim = Limits::default();
    let f = server::parse_request(
        good.replace("transfer/Get", "transfer/Steal").as_bytes(),
        &lim,
    )
    .unwrap_err();
    assert_eq!(f.subcode.as_deref(), Some("wsa:ActionNotSupported"));
    let f = server::parse_request(good.replace("a:MessageID", "a:MessageId").as_bytes(), &lim)
        .unwrap_err();
    assert_eq!(
        f.subcode.as_deref(),
        Some("wsa:MessageInformationHeaderRequired")
    );
    let f = server::parse_request(
        good.replace(
            "<w:OperationTimeout>",
            r#"<w:Unknown s:mustUnderstand="true"/><w:OperationTimeout>"#,
        )
        .as_bytes(),
        &lim,
    )
    .unwrap_err();
    assert_eq!(f.code, "s:MustUnderstand");
    let f = server::parse_request(&good.as_bytes()[..good.len() - 3], &lim).unwrap_err();
    assert_eq!(f.subcode.as_deref(), Some("w:SchemaValidationError"));
    let f = server::parse_request(b"", &lim).unwrap_err();
    assert_eq!(f.subcode.as_deref(), Some("w:SchemaValidationError"));
    // wsl's MessageID has no `uuid:` prefix; the service takes it as sent.
    let p = server::parse_request(
        good.replace(id(1).as_str(), "c9cfc911-51a1").as_bytes(),
        &lim,
    )
    .unwrap();
    assert_eq!(p.message_id, "c9cfc911-51a1");
}

// ---------------------------------------------------------------------
// Limits and hostile input
// ---------------------------------------------------------------------

#[test]
fn limits_are_enforced() {
    let mut w = ws();
    let small = Limits {
        max_envelope_bytes: 100,
        ..Limits::default()
    };
    w.set_limits(small);
    assert!(matches!(
        w.parse_enumerate(&answer(200, ENUMERATE)),
        Err(Error::TooLarge {
            what: "envelope bytes",
            limit: 100
        })
    ));
    w.set_limits(Limits {
        max_items: 1,
        ..Limits::default()
    });
    assert!(matches!(
        w.parse_enumerate(&answer(200, ENUMERATE)),
        Err(Error::TooLarge {
            what: "items in one batch",
            ..
        })
    ));
    w.set_limits(Limits {
        max_children: 5,
        ..Limits::default()
    });
    assert!(matches!(
        w.parse_enumerate(&answer(200, ENUMERATE)),
        Err(Error::TooLarge {
            what: "child elements",
            ..
        })
    ));
    w.set_limits(Limits {
        max_depth: 5,
        ..Limits::default()
    });
    assert!(matches!(
        w.parse_get(&answer(200, GET)),
        Err(Error::TooLarge {
            what: "element depth",
            ..
        })
    ));
    w.set_limits(Limits {
        max_text_bytes: 10,
        ..Limits::default()
    });
    assert!(matches!(
        w.parse_get(&answer(200, GET)),
        Err(Error::TooLarge { .. })
    ));

    let deep = format!(
        r#"<s:Envelope xmlns:s="{}"><s:Body>{}{}</s:Body></s:Envelope>"#,
        ns::SOAP,
        "<x>".repeat(10_000),
        "</x>".repeat(10_000)
    );
    assert!(matches!(
        ws().parse_get(&answer(200, deep.as_bytes())),
        Err(Error::TooLarge { .. })
    ));
}

#[test]
fn hostile_xml_is_refused() {
    let w = ws();
    let cases: &[&[u8]] = &[
        b"",
        b"<",
        b"\xff\xfe<x/>",
        b"<!DOCTYPE x [<!ENTITY a \"aaaa\">]><s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Body>&a;</s:Body></s:Envelope>",
        b"<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Body><p:X>&undefined;</p:X></s:Body></s:Envelope>",
        b"<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Body/></s:Envelope><s:Envelope/>",
        b"<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Body></s:Envelope>",
        b"<Envelope><Body/></Envelope>",
        b"<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Body><q:X/></s:Body></s:Envelope>",
        b"<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Body><X>&#0;</X></s:Body></s:Envelope>",
    ];
    for c in cases {
        assert!(
            w.parse_get(&answer(200, c)).is_err(),
            "{}",
            String::from_utf8_lossy(c)
        );
        assert!(w.parse_enumerate(&answer(200, c)).is_err());
        assert!(server::parse_request(c, &Limits::default()).is_err());
    }
}

// ---------------------------------------------------------------------
// The enumeration state machine
// ---------------------------------------------------------------------

/// A scripted service: `total` items of `SMS_R_System`, `per_batch` at a
/// time; the first batch comes with the Enumerate answer.
struct FakeService {
    total: usize,
    sent: usize,
    per_batch: usize,
    released: bool,
}

impl FakeService {
    fn answer(&mut self, request: &http::Request<Vec<u8>>) -> http::Response<Vec<u8>> {
        let req = parse(request);
        let mk = |n: usize| {
            Instance::new("SMS_R_System")
                .with("ResourceId", n as i64)
                .with("Name", format!("MAC-{n}"))
        };
        match req.operation {
            Operation::Enumerate | Operation::Pull => {
                if req.operation == Operation::Pull {
                    assert_eq!(req.context.as_deref(), Some("ctx-1"));
                }
                let n = self.per_batch.min(self.total - self.sent);
                let items: Vec<_> = (self.sent..self.sent + n).map(mk).collect();
                self.sent += n;
                let end = self.sent == self.total;
                let ctx = (!end).then_some("ctx-1");
                if req.operation == Operation::Enumerate {
                    server::enumerate_response(&req, &id(200), ctx, &items, end).unwrap()
                } else {
                    server::pull_response(&req, &id(200), ctx, &items, end).unwrap()
                }
            }
            Operation::Release => {
                assert_eq!(req.context.as_deref(), Some("ctx-1"));
                self.released = true;
                server::release_response(&req, &id(200)).unwrap()
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn enumeration_runs_to_the_end() {
    let w = ws();
    let mut svc = FakeService {
        total: 250,
        sent: 0,
        per_batch: 100,
        released: false,
    };
    let mut e = Enumeration::class(&w, "SMS_R_System").unwrap();
    let mut seen = Vec::new();
    let mut n = 0u8;
    while let Some(req) = e.next_request(&w, &id(n)).unwrap() {
        n += 1;
        // Asking twice without an answer is refused.
        assert!(e.next_request(&w, &id(n)).is_err());
        let resp = svc.answer(&req);
        let batch = e.handle_response(&w, &body_of(&resp)).unwrap();
        for item in batch.items() {
            seen.push(item.unwrap().get_i64("ResourceId").unwrap());
        }
    }
    assert_eq!(n, 3);
    assert_eq!(seen, (0..250).collect::<Vec<i64>>());
    assert!(e.is_done());
    assert!(!svc.released);
    // Stopping after the end sends nothing.
    e.stop();
    assert!(e.next_request(&w, &id(99)).unwrap().is_none());
}

#[test]
fn enumeration_released_when_stopped_early() {
    let w = ws();
    let mut svc = FakeService {
        total: 1000,
        sent: 0,
        per_batch: 10,
        released: false,
    };
    let mut e = Enumeration::wql(&w, "SELECT * FROM SMS_R_System").unwrap();
    let req = e.next_request(&w, &id(1)).unwrap().unwrap();
    let resp = svc.answer(&req);
    let batch = e.handle_response(&w, &body_of(&resp)).unwrap();
    assert_eq!(batch.len(), 10);
    assert_eq!(e.context(), Some("ctx-1"));
    e.stop();
    let req = e.next_request(&w, &id(2)).unwrap().unwrap();
    assert_eq!(parse(&req).operation, Operation::Release);
    let resp = svc.answer(&req);
    let batch = e.handle_response(&w, &body_of(&resp)).unwrap();
    assert!(batch.is_empty());
    assert!(svc.released);
    assert!(e.next_request(&w, &id(3)).unwrap().is_none());
    assert!(e.is_done());
    // Stopping before anything was sent sends nothing.
    let mut e = Enumeration::class(&w, "SMS_R_System").unwrap();
    e.stop();
    assert!(e.next_request(&w, &id(4)).unwrap().is_none());
}

#[test]
fn enumeration_without_end_or_context_fails() {
    let w = ws();
    let mut e = Enumeration::class(&w, "SMS_R_System").unwrap();
    let req = parse(&e.next_request(&w, &id(1)).unwrap().unwrap());
    let resp = server::enumerate_response(&req, &id(2), None, &[], false).unwrap();
    let err = e.handle_response(&w, &body_of(&resp)).unwrap_err();
    assert!(matches!(err, Error::InvalidResponse { .. }), "{err:?}");
    assert!(e.is_done());
    assert!(e.next_request(&w, &id(3)).unwrap().is_none());
}

#[test]
fn enumeration_gives_up_on_endless_empty_batches_and_releases() {
    let w = ws();
    let mut e = Enumeration::class(&w, "SMS_R_System").unwrap();
    e.set_max_empty_batches(2);
    let mut errors = 0;
    for n in 0..10u8 {
        let Some(r) = e.next_request(&w, &id(n)).unwrap() else {
            break;
        };
        let req = parse(&r);
        let resp = match req.operation {
            Operation::Enumerate => {
                server::enumerate_response(&req, &id(100), Some("c"), &[], false)
            }
            Operation::Pull => server::pull_response(&req, &id(100), Some("c"), &[], false),
            Operation::Release => server::release_response(&req, &id(100)),
            _ => unreachable!(),
        }
        .unwrap();
        if e.handle_response(&w, &body_of(&resp)).is_err() {
            errors += 1;
            assert_eq!(e.context(), Some("c"));
        }
    }
    assert_eq!(errors, 1);
    assert!(e.is_done());
}

#[test]
fn enumeration_fault_ends_it() {
    let w = ws();
    let mut e = Enumeration::wql(&w, "SELECT * FROM SMS_Nothing").unwrap();
    let _ = e.next_request(&w, &id(1)).unwrap().unwrap();
    let err = e
        .handle_response(&w, &answer(500, FAULT_FILTER))
        .unwrap_err();
    assert!(matches!(err, Error::Fault(_)));
    assert!(e.is_done());
    // An answer nobody asked for is refused.
    assert!(e.handle_response(&w, &answer(500, FAULT_FILTER)).is_err());
}

// ---------------------------------------------------------------------
// Round trip
// ---------------------------------------------------------------------

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        any::<f64>().prop_map(Value::Real),
        // Any text XML 1.0 can carry, white space and markup included.
        "[\\PC\t\r\n <>&'\"\\]]{0,24}".prop_map(Value::String),
    ]
}

fn ident() -> impl Strategy<Value = String> {
    "[A-Za-z_][A-Za-z0-9_]{0,12}"
}

fn object(depth: u32) -> BoxedStrategy<Instance> {
    let value = if depth == 0 {
        scalar().boxed()
    } else {
        prop_oneof![
            4 => scalar(),
            1 => object(depth - 1).prop_map(Value::from),
        ]
        .boxed()
    };
    // Arrays of two or more (one element reads back as a scalar, none as
    // nothing: XML cannot tell them apart).
    let property = prop_oneof![
        4 => value.clone(),
        1 => prop::collection::vec(value, 2..4).prop_map(Value::Array),
    ];
    (ident(), prop::collection::vec((ident(), property), 0..6))
        .prop_map(|(class, props)| {
            let mut i = Instance::new(class);
            for (k, v) in props {
                i.properties.insert(k, v);
            }
            i
        })
        .boxed()
}

proptest! {
    #[test]
    fn put_body_round_trips(instance in object(2)) {
        let w = ws();
        let class = instance.class.clone();
        let r = w.put(&class, &[("Key", "1")], &instance, &id(1)).unwrap();
        let p = server::parse_request(r.body(), &Limits::default()).unwrap();
        let expected = Instance { class: class.clone(), ..coll_as_strings(&instance) };
        prop_assert_eq!(p.input.unwrap(), expected);
    }

    #[test]
    fn parsers_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let w = ws();
        let r = answer(200, &bytes);
        let _ = w.parse_get(&r);
        let _ = w.parse_enumerate(&r).map(|b| b.items().count());
        let _ = server::parse_request(&bytes, &Limits::default());
    }
}
