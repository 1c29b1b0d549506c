//! APNs response parsing: the first byte picks a status, the next an
//! `apns-id` length, the rest is split between header and body. Parsing and
//! the verdict must never panic. The body is also read as the debug data of
//! a GOAWAY frame (APNs puts the same `{"reason": …}` JSON there).
#![no_main]

use libfuzzer_sys::fuzz_target;

const STATUSES: [u16; 10] = [200, 400, 403, 404, 405, 410, 413, 429, 500, 503];

fuzz_target!(|data: &[u8]| {
    let Some((&status, rest)) = data.split_first() else {
        return;
    };
    let (id, body) = match rest.split_first() {
        Some((&n, tail)) => tail.split_at(usize::from(n).min(tail.len())),
        None => (&[][..], rest),
    };
    let mut builder =
        http::Response::builder().status(STATUSES[usize::from(status) % STATUSES.len()]);
    if let Ok(value) = http::HeaderValue::from_bytes(id) {
        builder = builder.header("apns-id", value);
    }
    let Ok(response) = builder.body(body) else {
        return;
    };
    let parsed = apns::PushResponse::from_http(&response);
    let _ = parsed.verdict(u32::from(status), &apns::RetryPolicy::default());
    if let Some(reason) = &parsed.reason {
        assert_eq!(&apns::Reason::parse(reason.as_str()), reason);
    }
    let goaway = apns::goaway_reason(body);
    assert_eq!(goaway, parsed.reason, "the same JSON gives the same reason");
    let _ = apns::goaway_verdict(goaway.as_ref(), u32::from(status), &apns::RetryPolicy::default());
});
