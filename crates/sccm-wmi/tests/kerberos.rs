//! Kerberos from end to end: a throwaway MIT KDC on loopback, a ticket
//! from `kinit`, the simulated provider accepting tickets for
//! `HTTP/localhost` from its keytab (through the system's GSS-API), and
//! our client authenticating to AdminService and to WinRM, whose messages
//! Kerberos seals over plain HTTP. pywinrm, an independent WinRM client,
//! talks Kerberos to the same simulator.
//!
//! The GSS-API library reads `KRB5_CONFIG` from the environment, so each
//! scenario runs in a child process with it set (see `kdc`).
#![cfg(feature = "simulator")]

#[path = "../../gss/tests/kdc/mod.rs"]
mod kdc;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use kdc::Kdc;
use sccm_wmi::Error;
use sccm_wmi::Instance;
use sccm_wmi::client::{AdminServiceClient, Auth, ClientConfig, Sealing, WsManClient};
use sccm_wmi::ntlm::Credentials;
use sccm_wmi::odata::{Filter, Key, Query};
use sccm_wmi::simulator::{
    KerberosKeytab, NegotiateAcceptors, NtlmAccounts, SimAuth, SimConfig, Simulator,
};

const NTLM_ACCOUNT: &str = "CONTOSO\\svc_bridge";
const NTLM_PASSWORD: &str = "Br1dge!pass";

async fn simulator(dir: &Path, systems: usize) -> Simulator {
    let acceptors = NegotiateAcceptors::new()
        .kerberos(KerberosKeytab::new(&dir.join("http.keytab")).expect("the GSS-API library"))
        .ntlm(
            NtlmAccounts::new("CM01", "CONTOSO")
                .with(Credentials::parse(NTLM_ACCOUNT, NTLM_PASSWORD).unwrap()),
        );
    let mut config = SimConfig::default();
    config
        .synthetic_systems(systems)
        .auth(SimAuth::Negotiate(Arc::new(acceptors)));
    Simulator::start(config).await.unwrap()
}

fn kerberos(ccache: String) -> ClientConfig {
    let mut c = ClientConfig::default();
    c.auth(Auth::Kerberos {
        ccache: Some(ccache),
    });
    c
}

#[test]
fn kdc_kerberos_to_adminservice_and_winrm() {
    if !kdc::require_kdc_tools("kdc_kerberos_to_adminservice_and_winrm") {
        return;
    }
    let kdc = Kdc::start();
    kdc.kinit();
    kdc.run_scenario("scenario_our_client", &[]);
    let tickets = kdc.klist();
    assert!(
        tickets.contains(&format!("HTTP/localhost@{}", kdc::REALM)),
        "our client asked for the provider's ticket:\n{tickets}"
    );
}

#[test]
fn kdc_pywinrm_kerberos_to_the_simulator() {
    let test = "kdc_pywinrm_kerberos_to_the_simulator";
    if !kdc::require_kdc_tools(test) || !test_support::require_python(test, &["winrm", "kerberos"])
    {
        return;
    }
    let kdc = Kdc::start();
    kdc.kinit();
    kdc.run_scenario(
        "scenario_pywinrm",
        &[("PIPPIN_TEST_PYTHON", &test_support::python())],
    );
}

#[test]
#[ignore = "runs as a child of kdc_kerberos_to_adminservice_and_winrm"]
fn scenario_our_client() {
    let name = "scenario_our_client";
    let Some(dir) = kdc::scenario_dir(name) else {
        return;
    };
    let ccache = format!("FILE:{}", dir.join("ccache").display());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let sim = simulator(&dir, 2_500).await;
        let port = sim.addr().port();

        // AdminService, every page on one Kerberos-authenticated connection.
        let url = format!("http://localhost:{port}/AdminService");
        let mut cm = AdminServiceClient::new(&url, kerberos(ccache.clone())).unwrap();
        let rows = cm
            .query_all(
                &Query::wmi("SMS_R_System").filter(Filter::ge("ResourceId", 16_777_216 + 500)),
            )
            .await
            .unwrap();
        assert_eq!(rows.len(), 2_000);
        let one = cm
            .get("SMS_R_System", &Key::from(16_777_219i64))
            .await
            .unwrap();
        assert_eq!(one.get_str("Name"), Some("MAC-000003"));
        assert_eq!(sim.stats().authenticated.load(Ordering::Relaxed), 1);

        // WinRM over plain HTTP: Kerberos seals every message.
        let wsman = format!("http://localhost:{port}/wsman");
        let mut ws = WsManClient::new(&wsman, "PS1", kerberos(ccache.clone())).unwrap();
        assert_eq!(ws.sealing(), Sealing::WinRm);
        let found = ws
            .query_all("SELECT Name FROM SMS_R_System WHERE Name LIKE 'MAC-00001_'")
            .await
            .unwrap();
        assert_eq!(found.len(), 10);
        let out = ws
            .invoke(
                "SMS_Site",
                "ImportMachineEntry",
                &[],
                &Instance::new("")
                    .with("NetbiosName", "MAC-KRB-1")
                    .with("MACAddress", "00:11:22:33:44:66"),
            )
            .await
            .unwrap();
        assert_eq!(out.get_i64("ReturnValue"), Some(0));
        let sealed = sim.stats().sealed_messages.load(Ordering::Relaxed);
        assert!(sealed >= 2, "{sealed} sealed messages");
        assert_eq!(sim.stats().authenticated.load(Ordering::Relaxed), 2);

        // The same simulator still takes NTLM through Negotiate.
        let mut ntlm = ClientConfig::default();
        ntlm.auth(Auth::Negotiate(
            Credentials::parse(NTLM_ACCOUNT, NTLM_PASSWORD).unwrap(),
        ));
        let mut ws2 = WsManClient::new(&wsman, "PS1", ntlm).unwrap();
        ws2.get("SMS_Site", &[("SiteCode", "PS1")]).await.unwrap();
        assert_eq!(sim.stats().authenticated.load(Ordering::Relaxed), 3);

        // No ticket: a clear refusal, before anything is sent.
        let missing = format!("FILE:{}", dir.join("no-such-ccache").display());
        let requests = sim.stats().requests.load(Ordering::Relaxed);
        let mut none = AdminServiceClient::new(&url, kerberos(missing)).unwrap();
        match none.get("SMS_Site", &Key::from("PS1")).await {
            Err(Error::AuthenticationFailed { detail, .. }) => {
                assert!(detail.contains("kinit"), "{detail}");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert_eq!(sim.stats().requests.load(Ordering::Relaxed), requests);
    });
    kdc::scenario_done(&dir, name);
}

#[test]
#[ignore = "runs as a child of kdc_pywinrm_kerberos_to_the_simulator"]
fn scenario_pywinrm() {
    let name = "scenario_pywinrm";
    let Some(dir) = kdc::scenario_dir(name) else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let sim = rt.block_on(simulator(&dir, 30));
    let url = format!("http://localhost:{}/wsman", sim.addr().port());
    let python = std::env::var("PIPPIN_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    // pywinrm's Kerberos transport with message encryption: an Enumerate
    // with OptimizeEnumeration and one Pull, counting the instances.
    let script = r#"
import sys, uuid, xml.etree.ElementTree as ET
import winrm.protocol
url = sys.argv[1]
ns = {"s": "http://www.w3.org/2003/05/soap-envelope", "n": "http://schemas.xmlsoap.org/ws/2004/09/enumeration",
      "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"}
res = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/sms/site_PS1/SMS_R_System"
def env(action, body):
    return ('<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
            'xmlns:n="http://schemas.xmlsoap.org/ws/2004/09/enumeration" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd">'
            '<s:Header><a:To>%s</a:To><w:ResourceURI s:mustUnderstand="true">%s</w:ResourceURI>'
            '<a:ReplyTo><a:Address s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>'
            '<a:Action s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/09/enumeration/%s</a:Action>'
            '<a:MessageID>uuid:%s</a:MessageID></s:Header><s:Body>%s</s:Body></s:Envelope>' % (url, res, action, uuid.uuid4(), body))
p = winrm.protocol.Protocol(url, transport="kerberos", message_encryption="always")
root = ET.fromstring(p.send_message(env("Enumerate", "<n:Enumerate><w:OptimizeEnumeration/><w:MaxElements>20</w:MaxElements></n:Enumerate>")))
count = len(list(root.find("s:Body/n:EnumerateResponse/w:Items", ns)))
ctx = root.find("s:Body/n:EnumerateResponse/n:EnumerationContext", ns).text
root = ET.fromstring(p.send_message(env("Pull", "<n:Pull><n:EnumerationContext>%s</n:EnumerationContext><n:MaxElements>20</n:MaxElements></n:Pull>" % ctx)))
count += len(list(root.find("s:Body/n:PullResponse/n:Items", ns)))
assert root.find("s:Body/n:PullResponse/n:EndOfSequence", ns) is not None
print("instances", count)
"#;
    let out = std::process::Command::new(&python)
        .arg("-c")
        .arg(script)
        .arg(&url)
        .env(
            "KRB5CCNAME",
            format!("FILE:{}", dir.join("ccache").display()),
        )
        .output()
        .expect("running python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "pywinrm failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.trim(), "instances 30");
    let stats = sim.stats();
    assert_eq!(stats.authenticated.load(Ordering::Relaxed), 1);
    assert_eq!(
        stats.sealed_messages.load(Ordering::Relaxed),
        2,
        "pywinrm sealed both requests"
    );
    drop(sim);
    drop(rt);
    kdc::scenario_done(&dir, name);
}
