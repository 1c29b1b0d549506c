//! AdminService answers: every reader (page, entity, method result, empty,
//! OData error) on arbitrary bytes under several statuses never panics;
//! limits hold on what is returned; a page's next link, if the pager
//! accepts it, stays on the service.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sccm_wmi::odata::{AdminService, Limits, Query, WmiError};
use sccm_wmi::{Instance, Value};

fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(o) => 1 + instance_depth(o),
        _ => 0,
    }
}

fn instance_depth(i: &Instance) -> usize {
    i.properties.values().map(depth).max().unwrap_or(0)
}

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_depth: 16,
        max_items_per_page: 64,
        ..Limits::default()
    };
    let service = AdminService::new("https://cm01.contoso.test/AdminService")
        .expect("a valid base URL")
        .with_limits(limits.clone());
    let status = match data.first() {
        Some(b) if b % 4 == 0 => 404,
        Some(b) if b % 4 == 1 => 500,
        Some(b) if b % 4 == 2 => 201,
        _ => 200,
    };
    let response = http::Response::builder()
        .status(status)
        .body(data)
        .expect("a valid status");
    if let Ok(page) = service.parse_page(&response) {
        assert!(page.items.len() <= limits.max_items_per_page);
        for item in &page.items {
            assert!(instance_depth(item) < limits.max_depth);
            assert!(item.properties.len() <= limits.max_properties);
        }
        if let Some(link) = &page.next_link {
            if let Ok(url) = service.check_next_link(link) {
                assert!(url.starts_with("https://cm01.contoso.test/"));
            }
        }
    }
    let _ = service.parse_entity(&response);
    let _ = service.parse_method_result(&response);
    let _ = service.parse_empty(&response);
    if let Some(e) = WmiError::from_body(status, data) {
        let _ = e.to_string();
        let _ = (e.wmi_name(), e.is_not_found(), e.is_access_denied());
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = service.check_next_link(text);
        let _ = sccm_wmi::odata::Filter::raw(text);
        let _ = sccm_wmi::classes::DateTime::parse(text);
    }
    // A pager fed the bytes as its first answer.
    let mut pager = service
        .pager(&Query::wmi("SMS_R_System"))
        .expect("a valid query");
    let _ = pager.next_request();
    let _ = pager.handle_response(&response);
});
