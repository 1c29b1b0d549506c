use super::*;

#[test]
fn percent_encoding() {
    let mut out = String::new();
    percent_encode(&mut out, "a b&c=d+e#f%g'h(i)é", QUERY_SAFE);
    assert_eq!(out, "a%20b%26c%3Dd%2Be%23f%25g'h(i)%C3%A9");
    let mut out = String::new();
    percent_encode(&mut out, "'a/b?c'", PATH_SAFE);
    assert_eq!(out, "'a%2Fb%3Fc'");
}

#[test]
fn host_and_port() {
    assert_eq!(host_port("https://cm01:8443/AdminService"), "cm01:8443");
    assert_eq!(host_port("https://cm01/x/AdminService"), "cm01");
    let s = AdminService::new("https://CM01.contoso.test:443/AdminService").unwrap();
    assert_eq!(
        s.check_next_link("https://cm01.contoso.test/AdminService/wmi/X?$skip=1")
            .unwrap(),
        "https://CM01.contoso.test:443/AdminService/wmi/X?$skip=1"
    );
}

#[test]
fn json_bodies_keep_order_and_type_embedded_objects() {
    let i = Instance::new("Ignored")
        .with("z", 1)
        .with("a", Instance::new("SMS_X").with("k", Value::Null))
        .with("m", Instance::default().with("k", 1.25));
    assert_eq!(
        String::from_utf8(json_body(&i).unwrap()).unwrap(),
        r##"{"z":1,"a":{"@odata.type":"#AdminService.SMS_X","k":null},"m":{"k":1.25}}"##
    );
    assert!(json_body(&Instance::default().with("x", Instance::new("bad class"))).is_err());
}
