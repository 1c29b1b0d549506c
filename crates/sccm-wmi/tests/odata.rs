//! AdminService requests and answers: exact URLs and bodies, fixtures,
//! next-link checks, limits, and Python's `urllib.parse`/`json` as
//! independent readers of what we send.

use sccm_wmi::classes::{
    CollectionRule, CollectionType, ImportMachineEntry, ImportMachineEntryResult, SmsCollection,
    SmsCollectionRuleDirect, SmsRSystem,
};
use sccm_wmi::odata::{
    AdminService, Filter, FilterValue, Key, Limits, Order, Query, UpdateMode, WmiError, etag,
};
use sccm_wmi::{Error, Instance, Value};

const BASE: &str = "https://cm01.contoso.test/AdminService";

fn service() -> AdminService {
    AdminService::new(BASE).unwrap()
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/odata/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(path).unwrap()
}

fn response(status: u16, body: &[u8]) -> http::Response<&[u8]> {
    http::Response::builder().status(status).body(body).unwrap()
}

/// `METHOD path?query` of a request, and its body as text.
fn line(r: &http::Request<Vec<u8>>) -> (String, String) {
    let pq = r.uri().path_and_query().unwrap().as_str();
    (
        format!("{} {pq}", r.method()),
        String::from_utf8(r.body().clone()).unwrap(),
    )
}

#[test]
fn base_urls() {
    assert!(AdminService::new("https://cm01.contoso.test/AdminService/").is_ok());
    assert!(
        AdminService::new(
            "https://cmg.contoso.test/CCM_Proxy_ServerAuth/72057594037927941/AdminService"
        )
        .is_ok()
    );
    assert!(AdminService::new("http://127.0.0.1:8443/AdminService").is_ok());
    for bad in [
        "http://cm01.contoso.test/AdminService",
        "https://cm01.contoso.test",
        "https://cm01.contoso.test/AdminService?x=1",
        "https://user@cm01.contoso.test/AdminService",
        "https://cm01.contoso.test/Admin%53ervice",
    ] {
        assert!(AdminService::new(bad).is_err(), "{bad}");
    }
}

#[test]
fn query_requests() {
    let s = service();
    let q = Query::wmi("SMS_R_System")
        .filter(Filter::eq("Name", "O'Brien's Mac & co #1"))
        .filter(Filter::startswith("NetbiosName", "MAC").or(Filter::gt("ResourceId", 16777216)))
        .select(["ResourceId", "Name"])
        .order_by("Name", Order::Asc)
        .order_by("ResourceId", Order::Desc)
        .top(100)
        .skip(200);
    let r = s.query(&q).unwrap();
    assert_eq!(
        line(&r).0,
        "GET /AdminService/wmi/SMS_R_System?$filter=Name%20eq%20'O''Brien''s%20Mac%20%26%20co%20%231'%20and%20(startswith(NetbiosName,'MAC')%20or%20ResourceId%20gt%2016777216)&$select=ResourceId,Name&$orderby=Name%20asc,ResourceId%20desc&$top=100&$skip=200"
    );
    assert_eq!(r.headers()["accept"], "application/json");
    assert!(r.headers().get("content-type").is_none());
    assert!(r.body().is_empty());

    let r = s.query(&Query::v1("Device").top(5)).unwrap();
    assert_eq!(line(&r).0, "GET /AdminService/v1.0/Device?$top=5");

    let when = sccm_wmi::classes::DateTime::parse("20231004123456.000000+000").unwrap();
    let r = s
        .query(
            &Query::wmi("SMS_R_System").filter(
                Filter::ge("LastLogonTimestamp", when)
                    .and(Filter::eq("Client", FilterValue::Null))
                    .and(!Filter::contains("Name", "100%")),
            ),
        )
        .unwrap();
    assert_eq!(
        line(&r).0,
        "GET /AdminService/wmi/SMS_R_System?$filter=LastLogonTimestamp%20ge%202023-10-04T12:34:56Z%20and%20Client%20eq%20null%20and%20not%20contains(Name,'100%25')"
    );

    // Names are checked, never pasted.
    for bad in [
        Query::wmi("SMS_R_System?$top=1"),
        Query::wmi("SMS_R_System").select(["Name,Secret"]),
        Query::wmi("SMS_R_System").order_by("Name desc", Order::Asc),
        Query::wmi("SMS_R_System").filter(Filter::eq("Name eq 'a' or Name", "b")),
    ] {
        assert!(matches!(s.query(&bad), Err(Error::InvalidRequest { .. })));
    }
}

#[test]
fn raw_filters_are_checked() {
    let s = service();
    let f = Filter::raw("startswith(Name,'MAC') and Client eq 1").unwrap();
    let r = s.query(&Query::wmi("SMS_R_System").filter(f)).unwrap();
    assert_eq!(
        line(&r).0,
        "GET /AdminService/wmi/SMS_R_System?$filter=startswith(Name,'MAC')%20and%20Client%20eq%201"
    );
    // A raw filter combined with another is grouped.
    let r = s
        .query(
            &Query::wmi("SMS_R_System")
                .filter(Filter::raw("A eq 1 or B eq 2").unwrap())
                .filter(Filter::eq("C", 3)),
        )
        .unwrap();
    assert_eq!(
        line(&r).0,
        "GET /AdminService/wmi/SMS_R_System?$filter=(A%20eq%201%20or%20B%20eq%202)%20and%20C%20eq%203"
    );
    for bad in [
        "Name eq 'x'&$select=Password",
        "Name eq 'x'#",
        "Name eq 'x'' or 1 eq 1",
        "Name eq 'x') or (1 eq 1",
        "1 eq 1; DROP",
    ] {
        assert!(Filter::raw(bad).is_err(), "{bad}");
    }
}

#[test]
fn get_by_key() {
    let s = service();
    let r = s.get("SMS_R_System", &Key::from(16777219)).unwrap();
    assert_eq!(line(&r).0, "GET /AdminService/wmi/SMS_R_System(16777219)");
    let r = s.get("SMS_Collection", &Key::from("PS100042")).unwrap();
    assert_eq!(
        line(&r).0,
        "GET /AdminService/wmi/SMS_Collection('PS100042')"
    );
    let r = s
        .get("SMS_Collection", &Key::from("it's/a #test?"))
        .unwrap();
    assert_eq!(
        line(&r).0,
        "GET /AdminService/wmi/SMS_Collection('it''s%2Fa%20%23test%3F')"
    );
    let r = s
        .get(
            "SMS_FullCollectionMembership",
            &Key::composite([
                ("CollectionID", sccm_wmi::odata::KeyValue::from("SMS00001")),
                ("ResourceID", 16777219.into()),
            ]),
        )
        .unwrap();
    assert_eq!(
        line(&r).0,
        "GET /AdminService/wmi/SMS_FullCollectionMembership(CollectionID='SMS00001',ResourceID=16777219)"
    );
    let r = s.get_v1("Device", &Key::from(16777219)).unwrap();
    assert_eq!(line(&r).0, "GET /AdminService/v1.0/Device(16777219)");
    assert!(s.get("SMS_Collection(1)", &Key::from(1)).is_err());
    assert!(s.get("X", &Key::Composite(vec![])).is_err());
    assert!(s.get("X", &Key::composite([("a b", 1)])).is_err());
}

#[test]
fn writes() {
    let s = service();
    let new = SmsCollection::new("All Managed Macs", CollectionType::Device, "SMS00001");
    let r = s.create(&new.to_instance()).unwrap();
    assert_eq!(
        line(&r),
        (
            "POST /AdminService/wmi/SMS_Collection".into(),
            r#"{"Name":"All Managed Macs","CollectionType":2,"LimitToCollectionID":"SMS00001"}"#
                .into()
        )
    );
    assert_eq!(r.headers()["content-type"], "application/json");

    let changes = Instance::new("SMS_Collection").with("Comment", "Macs \"managed\" by Pippin\n");
    let r = s
        .update(
            "SMS_Collection",
            &"PS100042".into(),
            &changes,
            UpdateMode::Patch,
            Some("PS100042"),
        )
        .unwrap();
    assert_eq!(
        line(&r),
        (
            "PATCH /AdminService/wmi/SMS_Collection('PS100042')".into(),
            r#"{"Comment":"Macs \"managed\" by Pippin\n"}"#.into()
        )
    );
    assert_eq!(r.headers()["if-match"], "PS100042");
    let r = s
        .update(
            "SMS_Collection",
            &"PS100042".into(),
            &changes,
            UpdateMode::Put,
            None,
        )
        .unwrap();
    assert_eq!(r.method(), http::Method::PUT);
    assert!(r.headers().get("if-match").is_none());
    assert!(
        s.update(
            "SMS_Collection",
            &"PS100042".into(),
            &changes,
            UpdateMode::Put,
            Some("a\r\nX: y")
        )
        .is_err()
    );

    let r = s
        .delete("SMS_Collection", &"PS100042".into(), Some("W/\"1\""))
        .unwrap();
    assert_eq!(
        line(&r),
        (
            "DELETE /AdminService/wmi/SMS_Collection('PS100042')".into(),
            String::new()
        )
    );
    assert_eq!(r.headers()["if-match"], "W/\"1\"");
}

#[test]
fn methods() {
    let s = service();
    let params = ImportMachineEntry {
        netbios_name: "MAC-0004".into(),
        smbios_guid: Some("5D2F8C1A-0000-4E6B-9A77-000000000004".into()),
        mac_address: Some("00:11:22:33:44:77".into()),
        overwrite_existing_record: false,
    };
    let r = s
        .invoke_static(
            "SMS_Site",
            ImportMachineEntry::METHOD,
            &params.to_instance(),
        )
        .unwrap();
    assert_eq!(
        line(&r),
        (
            "POST /AdminService/wmi/SMS_Site.ImportMachineEntry".into(),
            r#"{"NetbiosName":"MAC-0004","SMBIOSGUID":"5D2F8C1A-0000-4E6B-9A77-000000000004","MACAddress":"00:11:22:33:44:77","OverwriteExistingRecord":false}"#.into()
        )
    );

    let rule = CollectionRule::Direct(SmsCollectionRuleDirect::system(16777219, "MAC-0001"));
    let r = s
        .invoke(
            "SMS_Collection",
            &"PS100042".into(),
            "AddMembershipRule",
            &rule.to_params(),
        )
        .unwrap();
    assert_eq!(
        line(&r),
        (
            "POST /AdminService/wmi/SMS_Collection('PS100042')/AdminService.AddMembershipRule".into(),
            r##"{"collectionRule":{"@odata.type":"#AdminService.SMS_CollectionRuleDirect","ResourceClassName":"SMS_R_System","RuleName":"MAC-0001","ResourceID":16777219}}"##.into()
        )
    );
    let r = s
        .invoke(
            "SMS_Collection",
            &"PS100042".into(),
            "AddMembershipRules",
            &CollectionRule::list_params(&[rule.clone(), rule.clone()]),
        )
        .unwrap();
    assert!(line(&r).1.starts_with(
        r##"{"collectionRules":[{"@odata.type":"#AdminService.SMS_CollectionRuleDirect","##
    ));
    let r = s
        .invoke(
            "SMS_Collection",
            &"PS100042".into(),
            "DeleteMembershipRule",
            &rule.to_params(),
        )
        .unwrap();
    assert_eq!(
        line(&r).0,
        "POST /AdminService/wmi/SMS_Collection('PS100042')/AdminService.DeleteMembershipRule"
    );
    let r = s
        .invoke(
            "SMS_Collection",
            &"PS100042".into(),
            "RequestRefresh",
            &Instance::default().with("IncludeSubcollections", false),
        )
        .unwrap();
    assert_eq!(
        line(&r),
        (
            "POST /AdminService/wmi/SMS_Collection('PS100042')/AdminService.RequestRefresh".into(),
            r#"{"IncludeSubcollections":false}"#.into()
        )
    );
    let r = s
        .invoke_v1(
            "Device",
            Some(&16777219.into()),
            "RunScript",
            &Instance::default(),
        )
        .unwrap();
    assert_eq!(
        line(&r),
        (
            "POST /AdminService/v1.0/Device(16777219)/AdminService.RunScript".into(),
            "{}".into()
        )
    );
    assert!(
        s.invoke_static("SMS_Site", "Import/../x", &Instance::default())
            .is_err()
    );
    assert!(
        s.invoke_static("SMS_Site", "X", &Instance::default().with("f", f64::NAN))
            .is_err()
    );
}

#[test]
fn pages() {
    let s = service();
    let body = fixture("adminservice-SMS_R_System-page1.json");
    let page = s.parse_page(&response(200, &body)).unwrap();
    assert_eq!(page.items.len(), 2);
    assert_eq!(
        page.next_link.as_deref(),
        Some("https://cm01.contoso.test/AdminService/wmi/SMS_R_System?$skiptoken=2")
    );
    let a = &page.items[0];
    assert_eq!(a.class, "SMS_R_System");
    assert_eq!(etag(a), Some("16777219"));
    assert_eq!(
        a.get_str("__RELPATH"),
        Some("SMS_R_System.ResourceId=16777219")
    );
    assert_eq!(a.get("__LAZYPROPERTIES"), Some(&Value::Array(vec![])));
    assert_eq!(a.get("SerialNumber"), Some(&Value::Null));
    let sys = SmsRSystem::from_instance(a).unwrap();
    assert_eq!(sys.resource_id, 16777219);
    assert_eq!(sys.ip_addresses, ["10.0.0.21", "fe80::1"]);
    assert_eq!(sys.agent_time[1].to_dmtf(), "20231003080000.000000+000");
    let b = &page.items[1];
    assert_eq!(b.get("Weight"), Some(&Value::Real(1.5)));
    assert_eq!(b.get_str("Huge"), Some("18446744073709551615"));
    let sys = SmsRSystem::from_instance(b).unwrap();
    assert_eq!((sys.client, sys.active), (None, Some(false)));
    assert!(sys.mac_addresses.is_empty());

    // A page without `value`, or not an object, is refused.
    for bad in [
        &b"{}"[..],
        b"[]",
        b"{\"value\":{}}",
        b"{\"value\":[1]}",
        b"{\"value\":[]} x",
    ] {
        assert!(matches!(
            s.parse_page(&response(200, bad)),
            Err(Error::InvalidResponse { .. })
        ));
    }
}

#[test]
fn pager_follows_next_links() {
    let s = service();
    let mut pager = s
        .pager(&Query::wmi("SMS_R_System").select(["ResourceId", "Name"]))
        .unwrap();
    let r = pager.next_request().unwrap();
    assert_eq!(
        line(&r).0,
        "GET /AdminService/wmi/SMS_R_System?$select=ResourceId,Name"
    );
    assert!(pager.next_request().is_none());
    let p1 = fixture("adminservice-SMS_R_System-page1.json");
    assert_eq!(pager.handle_response(&response(200, &p1)).unwrap().len(), 2);
    let r = pager.next_request().unwrap();
    assert_eq!(
        r.uri(),
        "https://cm01.contoso.test/AdminService/wmi/SMS_R_System?$skiptoken=2"
    );
    let p2 = fixture("adminservice-SMS_R_System-page2.json");
    let items = pager.handle_response(&response(200, &p2)).unwrap();
    assert_eq!(items[0].get_i64("ResourceId"), Some(16777221));
    assert!(pager.is_done());
    assert!(pager.next_request().is_none());
    assert_eq!(pager.pages(), 2);
    assert!(pager.handle_response(&response(200, &p2)).is_err());
}

#[test]
fn next_links_stay_on_the_service() {
    let s = service();
    for ok in [
        "https://cm01.contoso.test/AdminService/wmi/SMS_R_System?$skiptoken=2",
        "https://CM01.contoso.test:443/adminservice/wmi/SMS_R_System?$skip=5",
        "/AdminService/wmi/SMS_R_System?$skip=5",
    ] {
        assert!(s.check_next_link(ok).is_ok(), "{ok}");
    }
    for bad in [
        "https://evil.test/AdminService/wmi/SMS_R_System",
        "http://cm01.contoso.test/AdminService/wmi/SMS_R_System",
        "https://cm01.contoso.test:8443/AdminService/wmi/SMS_R_System",
        "https://cm01.contoso.test/Other/wmi/SMS_R_System",
        "https://cm01.contoso.test/AdminServiceX/wmi",
        "https://cm01.contoso.test/AdminService",
        "https://cm01.contoso.test/AdminService/../Other",
        "https://cm01.contoso.test/AdminService/%2e%2e/Other",
        "https://cm01.contoso.test/AdminService/wmi%2F..%2F..%2Fx",
        "https://user@cm01.contoso.test/AdminService/wmi/X",
        "https://cm01.contoso.test.evil.test/AdminService/wmi/X",
        "//evil.test/AdminService/wmi/X",
        "wmi/SMS_R_System?$skip=5",
        "https://cm01.contoso.test/AdminService/wmi/X#frag",
        "",
    ] {
        assert!(
            matches!(s.check_next_link(bad), Err(Error::InvalidResponse { .. })),
            "{bad}"
        );
    }
    // Through the pager: a foreign link ends the run with an error.
    let mut pager = s.pager(&Query::wmi("SMS_R_System")).unwrap();
    pager.next_request().unwrap();
    let body =
        br#"{"value":[],"@odata.nextLink":"https://evil.test/AdminService/wmi/SMS_R_System"}"#;
    assert!(matches!(
        pager.handle_response(&response(200, body)),
        Err(Error::InvalidResponse { .. })
    ));
    assert!(pager.is_done());
    assert!(pager.next_request().is_none());
}

#[test]
fn pager_page_bound() {
    let s = service().with_limits(Limits {
        max_pages: 3,
        ..Limits::default()
    });
    let mut pager = s.pager(&Query::wmi("SMS_R_System")).unwrap();
    let body = br#"{"value":[{"ResourceId":1}],"@odata.nextLink":"/AdminService/wmi/SMS_R_System?$skip=1"}"#;
    for _ in 0..2 {
        pager.next_request().unwrap();
        pager.handle_response(&response(200, body)).unwrap();
    }
    pager.next_request().unwrap();
    assert!(matches!(
        pager.handle_response(&response(200, body)),
        Err(Error::TooLarge {
            what: "pages",
            limit: 3
        })
    ));
}

#[test]
fn entities_and_method_results() {
    let s = service();
    let body = fixture("adminservice-SMS_Collection-created.json");
    let c = s.parse_entity(&response(201, &body)).unwrap();
    assert_eq!(c.class, "SMS_Collection");
    assert_eq!(etag(&c), Some("PS100042"));
    let c = SmsCollection::from_instance(&c).unwrap();
    assert_eq!(c.collection_id, "PS100042");
    assert_eq!(
        c.member_class_name.as_deref(),
        Some("SMS_CM_RES_COLL_PS100042")
    );

    let body = fixture("adminservice-SMS_Collection-by-key.json");
    let c = SmsCollection::from_instance(&s.parse_entity(&response(200, &body)).unwrap()).unwrap();
    assert_eq!(c.collection_rules.len(), 2);
    assert_eq!(
        c.collection_rules[0],
        CollectionRule::Direct(SmsCollectionRuleDirect::system(16777219, "MAC-0001"))
    );
    let CollectionRule::Query(q) = &c.collection_rules[1] else {
        panic!("a query rule");
    };
    assert_eq!(q.query().unwrap().joins.len(), 1);

    let empty = br#"{"@odata.context":"https://cm01.contoso.test/AdminService/wmi/$metadata#SMS_Collection","value":[]}"#;
    match s.parse_entity(&response(200, empty)) {
        Err(Error::Wmi(e)) => assert!(e.is_not_found()),
        other => panic!("{other:?}"),
    }
    let two = br#"{"value":[{"A":1},{"A":2}]}"#;
    assert!(s.parse_entity(&response(200, two)).is_err());
    let bare = br#"{"ResourceId":1,"Name":"x"}"#;
    assert_eq!(
        s.parse_entity(&response(200, bare))
            .unwrap()
            .get_i64("ResourceId"),
        Some(1)
    );

    let body = fixture("adminservice-SMS_Site.ImportMachineEntry-result.json");
    let out = s.parse_method_result(&response(200, &body)).unwrap();
    assert_eq!(out.class, "__PARAMETERS");
    let r = ImportMachineEntryResult::from_instance(&out).unwrap();
    assert_eq!(
        (r.return_value, r.resource_id, r.machine_exists),
        (0, Some(16777222), Some(false))
    );
    assert_eq!(
        s.parse_method_result(&response(204, b"")).unwrap(),
        Instance::default()
    );
    let wrapped = br#"{"@odata.context":"x","value":{"ReturnValue":0,"QueryID":7}}"#;
    assert_eq!(
        s.parse_method_result(&response(200, wrapped))
            .unwrap()
            .get_i64("QueryID"),
        Some(7)
    );
    let primitive = br#"{"@odata.context":"x#Edm.Int32","value":0}"#;
    assert_eq!(
        s.parse_method_result(&response(200, primitive))
            .unwrap()
            .get_i64("value"),
        Some(0)
    );
    assert!(s.parse_empty(&response(204, b"")).is_ok());
}

fn wmi_error(status: u16, name: &str) -> WmiError {
    let body = fixture(name);
    match service().parse_empty(&response(status, &body)) {
        Err(Error::Wmi(e)) => e,
        other => panic!("{other:?}"),
    }
}

#[test]
fn errors() {
    let e = wmi_error(404, "adminservice-error-access-denied.json");
    assert_eq!((e.status, e.code.as_str()), (404, "404"));
    assert!(e.is_access_denied());
    assert!(!e.is_not_found());
    assert_eq!(e.wmi_name(), Some("WBEM_E_ACCESS_DENIED"));

    let e = wmi_error(404, "adminservice-error-not-found.json");
    assert_eq!(e.wmi_code, Some(0x8004_1002));
    assert!(e.is_not_found());
    assert_eq!(
        e.to_string(),
        "AdminService answered HTTP 404 (NotFound): No instance of SMS_Collection with key PS1FFFFF: 0x80041002 [0x80041002 WBEM_E_NOT_FOUND: the object was not found]"
    );

    let e = wmi_error(500, "adminservice-error-generic-failure.json");
    assert_eq!(e.code, "InternalServerError");
    assert_eq!(
        e.details,
        [
            "WmiError: ExecMethod SMS_Collection.AddMembershipRule failed",
            "Generic failure ",
            "System.Management.ManagementException"
        ]
    );
    assert_eq!(e.wmi_name(), Some("WBEM_E_FAILED"));

    let e = wmi_error(400, "adminservice-error-invalid-parameter.json");
    assert_eq!(e.code, "400");
    assert_eq!(e.wmi_name(), Some("WBEM_E_INVALID_PARAMETER"));
    assert!(e.wmi_description().is_some());

    // Not an OData error: the status and the start of the body.
    match service().parse_page(&response(503, b"<html>Service Unavailable</html>")) {
        Err(Error::Http { status: 503, body }) => assert!(body.contains("Unavailable")),
        other => panic!("{other:?}"),
    }
    match service().parse_page(&response(401, b"")) {
        Err(Error::Http { status: 401, .. }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn limits() {
    let small = Limits {
        max_body_len: 200,
        max_depth: 4,
        max_items_per_page: 2,
        max_properties: 3,
        max_array_len: 3,
        max_string_len: 10,
        max_pages: 10,
    };
    let s = service().with_limits(small);
    let cases: [(&[u8], &str); 6] = [
        (br#"{"value":[{},{},{}]}"#, "entities per page"),
        (br#"{"value":[{"a":{"b":{"c":{"d":1}}}}]}"#, "JSON depth"),
        (br#"{"value":[{"a":1,"b":2,"c":3,"d":4}]}"#, "properties"),
        (br#"{"value":[{"a":[1,2,3,4]}]}"#, "array elements"),
        (br#"{"value":[{"a":"01234567890"}]}"#, "string"),
        (&[b' '; 201], "answer body"),
    ];
    for (body, what) in cases {
        match s.parse_page(&response(200, body)) {
            Err(Error::TooLarge { what: w, .. }) => assert_eq!(w, what),
            other => panic!("{what}: {other:?}"),
        }
    }
    // Deep nesting with the default limits: an error, not a stack overflow.
    let deep = format!("{{\"value\":[{}{}]}}", "[".repeat(5000), "]".repeat(5000));
    assert!(
        service()
            .parse_page(&response(200, deep.as_bytes()))
            .is_err()
    );
}

/// Our query strings, decoded by Python's `urllib.parse.parse_qs`, are the
/// OData expressions we meant, for values full of URL syntax.
#[test]
fn python_decodes_query_strings() {
    if !test_support::require_python("python_decodes_query_strings", &["urllib.parse", "json"]) {
        return;
    }
    let nasty = [
        "O'Brien",
        "a&b=c",
        "#hash",
        "100% sure",
        "plus+sign",
        "semi;colon",
        "two  spaces",
        "ünïcødé 日本 🍎",
        "quote\"double",
        "back\\slash",
        "''",
        "$filter=x",
        "?/:@!$'()*,",
    ];
    let s = service();
    let mut expected = Vec::new();
    let mut urls = Vec::new();
    for v in nasty {
        let f = Filter::eq("Name", v).or(Filter::contains("Comment", v));
        expected.push(serde_json::json!({
            "$filter": f.to_string(),
            "$select": "Name,Comment",
        }));
        let r = s.query(
            &Query::wmi("SMS_Collection")
                .filter(f)
                .select(["Name", "Comment"]),
        );
        urls.push(r.unwrap().uri().to_string());
    }
    let code = r#"
import json, sys, urllib.parse
out = []
for url in json.load(sys.stdin):
    u = urllib.parse.urlsplit(url)
    assert u.path == "/AdminService/wmi/SMS_Collection", u.path
    q = urllib.parse.parse_qs(u.query, keep_blank_values=True, strict_parsing=True)
    out.append({k: v[0] for k, v in q.items() if len(v) == 1})
print(json.dumps(out))
"#;
    let stdout = test_support::python_ok(code, serde_json::to_string(&urls).unwrap().as_bytes());
    let got: Vec<serde_json::Value> = serde_json::from_slice(&stdout).unwrap();
    assert_eq!(got, expected);
    // And the expression quotes as OData says: `'` doubled inside `'…'`.
    assert_eq!(
        expected[0]["$filter"],
        "Name eq 'O''Brien' or contains(Comment,'O''Brien')"
    );
}

/// Our JSON bodies, read by Python's `json`, have the structure we meant.
#[test]
fn python_reads_json_bodies() {
    if !test_support::require_python("python_reads_json_bodies", &["json"]) {
        return;
    }
    let s = service();
    let rule = CollectionRule::Direct(SmsCollectionRuleDirect::system(
        16777219,
        "Ruleé \"1\"\n\u{1}",
    ));
    let r = s
        .invoke(
            "SMS_Collection",
            &"PS100042".into(),
            "AddMembershipRule",
            &rule.to_params(),
        )
        .unwrap();
    let params = Instance::default()
        .with("Text", "tab\t, nul \u{0}, emoji 🍎, </script>")
        .with("Real", 0.1)
        .with("Big", i64::MIN)
        .with(
            "List",
            vec![Value::Null, Value::Bool(true), Value::from("x")],
        );
    let r2 = s.invoke_static("SMS_Site", "X", &params).unwrap();
    let bodies = [r.body().clone(), r2.body().clone()];
    let code = r#"
import json, sys
out = []
for body in json.load(sys.stdin):
    out.append(json.loads(bytes(body).decode("utf-8")))
print(json.dumps(out))
"#;
    let stdout = test_support::python_ok(code, serde_json::to_string(&bodies).unwrap().as_bytes());
    let got: serde_json::Value = serde_json::from_slice(&stdout).unwrap();
    assert_eq!(
        got,
        serde_json::json!([
            {"collectionRule": {
                "@odata.type": "#AdminService.SMS_CollectionRuleDirect",
                "ResourceClassName": "SMS_R_System",
                "RuleName": "Ruleé \"1\"\n\u{1}",
                "ResourceID": 16777219
            }},
            {"Text": "tab\t, nul \u{0}, emoji 🍎, </script>", "Real": 0.1, "Big": i64::MIN,
             "List": [null, true, "x"]}
        ])
    );
}
