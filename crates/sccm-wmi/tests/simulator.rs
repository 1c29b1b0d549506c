//! The clients against the simulated provider, authenticated by the
//! simulator's built-in NTLM acceptor: AdminService and WinRM (sealed over
//! HTTP) from end to end on loopback. (The same paths are checked against
//! an independent NTLM implementation in `client_e2e.rs`.)
#![cfg(feature = "simulator")]

use std::sync::Arc;
use std::sync::atomic::Ordering;

use sccm_wmi::client::{AdminServiceClient, Auth, ClientConfig, Sealing, WsManClient};
use sccm_wmi::ntlm::Credentials;
use sccm_wmi::odata::{Filter, Key, Query};
use sccm_wmi::simulator::{NtlmAccounts, SimAuth, SimConfig, Simulator};
use sccm_wmi::{Error, Instance, Value};

const ACCOUNT: &str = "CONTOSO\\svc_bridge";
const PASSWORD: &str = "Br1dge!pass";

async fn simulator(systems: usize) -> Simulator {
    let accounts =
        NtlmAccounts::new("CM01", "CONTOSO").with(Credentials::parse(ACCOUNT, PASSWORD).unwrap());
    let mut config = SimConfig::default();
    config
        .synthetic_systems(systems)
        .auth(SimAuth::Negotiate(Arc::new(accounts)));
    Simulator::start(config).await.unwrap()
}

fn ntlm(password: &str) -> ClientConfig {
    let mut c = ClientConfig::default();
    c.auth(Auth::Negotiate(
        Credentials::parse(ACCOUNT, password).unwrap(),
    ));
    c
}

#[tokio::test]
async fn winrm_sealed_over_http_with_ntlm() {
    let sim = simulator(50).await;
    let mut ws = WsManClient::new(&sim.wsman_url(), "PS1", ntlm(PASSWORD)).unwrap();
    assert_eq!(ws.sealing(), Sealing::WinRm);

    let found = ws
        .query_all("SELECT Name, ResourceId FROM SMS_R_System WHERE Name LIKE 'MAC-00004%'")
        .await
        .unwrap();
    let names: Vec<_> = found
        .iter()
        .map(|i| i.get_str("Name").unwrap().to_owned())
        .collect();
    assert_eq!(
        names,
        (40..50).map(|i| format!("MAC-{i:06}")).collect::<Vec<_>>()
    );
    assert_eq!(found[0].get_i64("ResourceId"), Some(16_777_216 + 40));
    assert!(
        found[0].get("MACAddresses").is_none(),
        "only the selected properties"
    );

    let site = ws.get("SMS_Site", &[("SiteCode", "PS1")]).await.unwrap();
    assert_eq!(site.get_str("ServerName"), Some("cm01.contoso.com"));

    let out = ws
        .invoke(
            "SMS_Site",
            "ImportMachineEntry",
            &[],
            &Instance::new("")
                .with("NetbiosName", "MAC-NEW-1")
                .with("MACAddress", "00:11:22:33:44:55")
                .with("OverwriteExistingRecord", false),
        )
        .await
        .unwrap();
    assert_eq!(out.get_i64("ReturnValue"), Some(0));
    let id = out.get_i64("ResourceID").unwrap();
    assert_eq!(id, 16_777_216 + 51);

    let created = ws
        .create(
            "SMS_Collection",
            &Instance::new("SMS_Collection")
                .with("Name", "Macs")
                .with("LimitToCollectionID", "SMS00001"),
        )
        .await
        .unwrap();
    let cid = created.selector("CollectionID").unwrap().to_owned();
    let rule = Instance::new("SMS_CollectionRuleDirect")
        .with("ResourceClassName", "SMS_R_System")
        .with("ResourceID", id)
        .with("RuleName", "MAC-NEW-1");
    let out = ws
        .invoke(
            "SMS_Collection",
            "AddMembershipRule",
            &[("CollectionID", &cid)],
            &Instance::new("").with("collectionRule", Value::Object(Box::new(rule))),
        )
        .await
        .unwrap();
    assert_eq!(out.get_i64("ReturnValue"), Some(0));
    let coll = ws
        .get("SMS_Collection", &[("CollectionID", &cid)])
        .await
        .unwrap();
    assert_eq!(coll.get_i64("MemberCount"), Some(1));

    match ws
        .get("SMS_Collection", &[("CollectionID", "PS199999")])
        .await
    {
        Err(Error::Fault(f)) => {
            let wmi = f.wmi_error.as_ref().expect("an MSFT_WmiError detail");
            assert_eq!(wmi.error_code, Some(0x8004_1002));
        }
        other => panic!("expected a fault, got {other:?}"),
    }
    match ws.query_all("SELECT * FROM SMS_R_System WHERE").await {
        Err(Error::Wql(_) | Error::Fault(_)) => {}
        other => panic!("expected a refusal, got {other:?}"),
    }
    ws.delete("SMS_Collection", &[("CollectionID", &cid)])
        .await
        .unwrap();

    let stats = sim.stats();
    assert_eq!(
        stats.authenticated.load(Ordering::Relaxed),
        1,
        "one handshake for the connection"
    );
    assert!(stats.sealed_messages.load(Ordering::Relaxed) >= 8);
    assert_eq!(stats.open_enumerations.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn winrm_enumeration_released_early() {
    let sim = simulator(5_000).await;
    let mut ws = WsManClient::new(&sim.wsman_url(), "PS1", ntlm(PASSWORD)).unwrap();
    ws.wsman().set_max_elements(100);
    let mut rows = ws.enumerate("SMS_R_System").unwrap();
    let first = rows.next_batch(&mut ws).await.unwrap().unwrap();
    assert!(!first.is_empty() && first.len() <= 100);
    assert_eq!(sim.stats().open_enumerations.load(Ordering::Relaxed), 1);
    rows.release(&mut ws).await.unwrap();
    assert_eq!(sim.stats().open_enumerations.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn adminservice_with_ntlm_and_wrong_password() {
    let sim = simulator(2_500).await;
    let mut cm = AdminServiceClient::new(&sim.adminservice_url(), ntlm(PASSWORD)).unwrap();
    let mut rows = cm
        .query(&Query::wmi("SMS_R_System").filter(Filter::ge("ResourceId", 16_777_216 + 100)))
        .unwrap();
    let mut n = 0;
    while let Some(page) = rows.next_page(&mut cm).await.unwrap() {
        assert!(page.len() <= 1000);
        n += page.len();
    }
    assert_eq!(n, 2_400);
    assert_eq!(rows.pages(), 3);
    let one = cm
        .get("SMS_R_System", &Key::from(16_777_219i64))
        .await
        .unwrap();
    assert_eq!(one.get_str("Name"), Some("MAC-000003"));
    assert_eq!(sim.stats().authenticated.load(Ordering::Relaxed), 1);

    let mut wrong = AdminServiceClient::new(&sim.adminservice_url(), ntlm("wrong")).unwrap();
    match wrong.get("SMS_R_System", &Key::from(16_777_219i64)).await {
        Err(Error::AuthenticationFailed { user, .. }) => assert_eq!(user, ACCOUNT),
        other => panic!("expected a refusal, got {other:?}"),
    }
}
