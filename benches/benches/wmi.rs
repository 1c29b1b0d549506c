//! SMS Provider client benchmarks, no I/O: what reading a site's devices
//! costs per row. One AdminService page of 1,000 `SMS_R_System` rows (the
//! provider's page size), one WinRM `Pull` answer of 100 instances, the
//! NTLM sealing WinRM over HTTP puts around each message, and a WQL query
//! parsed.
//!
//! `cargo bench -p pippin-benches --bench wmi`; the end-to-end walk of
//! 100,000 devices over loopback is `benches/wmi-walk.sh`. Figures are in
//! benches/README.md.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sccm_wmi::Instance;
use sccm_wmi::ntlm::{NegotiateFlags, Session, winrm};
use sccm_wmi::odata::AdminService;
use sccm_wmi::wsman::{MessageId, WsMan, server};
use serde_json::json;

fn system(i: usize) -> Instance {
    Instance::new("SMS_R_System")
        .with("Active", 1)
        .with("Client", 1)
        .with("Decommissioned", 0)
        .with("IPAddresses", vec![format!("10.0.{}.{}", i / 250, i % 250)])
        .with(
            "MACAddresses",
            vec![format!("A4:83:E7:00:{:02X}:{:02X}", i / 256, i % 256)],
        )
        .with("Name", format!("MAC-{i:06}"))
        .with("NetbiosName", format!("MAC-{i:06}"))
        .with("Obsolete", 0)
        .with("OperatingSystemNameandVersion", "macOS 15.1")
        .with("ResourceDomainORWorkgroup", "CONTOSO")
        .with("ResourceId", 16_777_216 + i as i64)
        .with("SMBIOSGUID", format!("{i:08X}-0000-4000-8000-{i:012X}"))
}

/// An AdminService page of `n` systems, as the provider writes it.
fn odata_page(n: usize) -> Vec<u8> {
    let rows: Vec<_> = (0..n)
        .map(|i| {
            let id = 16_777_216 + i as i64;
            let mut o = system(i).to_json();
            let m = o.as_object_mut().expect("an object");
            m.insert("@odata.etag".into(), json!(format!("W/\"{id}\"")));
            m.insert("__CLASS".into(), json!("SMS_R_System"));
            m.insert(
                "__RELPATH".into(),
                json!(format!("SMS_R_System.ResourceId={id}")),
            );
            m.insert("__LAZYPROPERTIES".into(), json!(["ObjectGUID"]));
            o
        })
        .collect();
    serde_json::to_vec(&json!({
        "@odata.context": "https://cm01.contoso.com/AdminService/wmi/$metadata#SMS_R_System",
        "value": rows,
        "@odata.nextLink": "https://cm01.contoso.com/AdminService/wmi/SMS_R_System?$skiptoken=1000",
    }))
    .expect("JSON")
}

fn bench(c: &mut Criterion) {
    let service = AdminService::new("https://cm01.contoso.com/AdminService").expect("a URL");
    let page = odata_page(1000);
    let mut g = c.benchmark_group("adminservice");
    g.throughput(Throughput::Elements(1000));
    g.bench_function("parse a page of 1,000 SMS_R_System", |b| {
        b.iter(|| {
            let r = http::Response::new(black_box(page.as_slice()));
            let p = service.parse_page(&r).expect("a page");
            assert_eq!(p.items.len(), 1000);
            p
        });
    });
    g.finish();

    let ws = WsMan::for_site("http://cm01.contoso.com:5985/wsman", "PS1").expect("a URL");
    let id = MessageId::from_bytes([7; 16]);
    let pull = ws
        .pull(
            &ws.resource_uri("SMS_R_System").expect("a class"),
            "uuid:00000000-0000-4000-8000-000000000001",
            100,
            &id,
        )
        .expect("a request");
    let request = server::parse_request(pull.body(), &Default::default()).expect("a request");
    let items: Vec<Instance> = (0..100).map(system).collect();
    let answer = server::pull_response(
        &request,
        &id,
        Some("uuid:00000000-0000-4000-8000-000000000001"),
        &items,
        false,
    )
    .expect("an answer")
    .into_body();
    let mut g = c.benchmark_group("wsman");
    g.throughput(Throughput::Elements(100));
    g.bench_function("parse a Pull answer of 100 SMS_R_System", |b| {
        b.iter(|| {
            let r = http::Response::new(black_box(answer.as_slice()));
            let batch = ws.parse_pull(&r).expect("a batch");
            let items: Vec<Instance> = batch.items().map(|i| i.expect("an instance")).collect();
            assert_eq!(items.len(), 100);
            items
        });
    });
    g.finish();

    let flags = NegotiateFlags::CLIENT;
    let mut g = c.benchmark_group("ntlm");
    g.throughput(Throughput::Bytes(answer.len() as u64));
    g.bench_function(
        "seal and unseal a 100-instance Pull answer (WinRM framing)",
        |b| {
            let mut server = Session::for_acceptor([9; 16], flags);
            let mut client = Session::for_initiator([9; 16], flags);
            b.iter(|| {
                let (content_type, body) = winrm::encrypt(&mut server, black_box(&answer));
                let plain = winrm::decrypt(&mut client, &content_type, &body).expect("unsealed");
                assert_eq!(plain.len(), answer.len());
            });
        },
    );
    g.finish();

    let query = "SELECT SMS_R_System.ResourceId, SMS_R_System.Name FROM SMS_R_System \
                 WHERE SMS_R_System.OperatingSystemNameandVersion LIKE 'macOS%' \
                 AND SMS_R_System.Client = 1 AND SMS_R_System.Name NOT IN ('MAC-000001', 'MAC-000002')";
    c.bench_function("wql: parse a collection query", |b| {
        b.iter(|| sccm_wmi::wql::parse(black_box(query)).expect("a query"));
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
