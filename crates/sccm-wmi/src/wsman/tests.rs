//! Unit tests of the WS-Management module.

use super::*;

fn ws() -> WsMan {
    WsMan::for_site("http://provider.contoso.com:5985/wsman", "PS1").unwrap()
}

fn id(n: u8) -> MessageId {
    MessageId::from_bytes([n; 16])
}

#[test]
fn dump() {
    let w = ws();
    let rule = Instance::new("SMS_CollectionRuleDirect")
        .with("ResourceClassName", "SMS_R_System")
        .with("ResourceID", 16777220)
        .with("RuleName", "MAC-01 <&>\"'\r\n\t]]>");
    let input = Instance::new("").with("collectionRule", rule);
    let r = w
        .invoke(
            "SMS_Collection",
            "AddMembershipRule",
            &[("CollectionID", "PS100042")],
            &input,
            &id(1),
        )
        .unwrap();
    println!("{}", String::from_utf8_lossy(r.body()));
    let r = w
        .enumerate_wql("SELECT * FROM SMS_R_System WHERE Name LIKE 'MAC-%'", &id(2))
        .unwrap();
    println!("{}", String::from_utf8_lossy(r.body()));
}
