//! Apps and Books API answers: the first byte picks the endpoint (low
//! nibble) and the HTTP status (high nibble), the rest is the body. The
//! answer goes through `Api::handle_response` as a client's would (typed
//! parsing, error numbers in any status, the `mdmInfo` check), pages on
//! into the page walker and statuses into the event tracker. Nothing may
//! panic.
#![no_main]

use std::sync::Arc;
use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use vpp_client::{
    Api, AssetsPage, AssignmentsPage, Associate, Config, ContentToken, Endpoint, EventConfig,
    EventTracker, GetAssets, GetAssignments, GetClientConfig, GetEventStatus, GetServiceConfig,
    LookupMetadata, PageWalker, SetClientConfig, WalkConfig,
};

const STATUSES: [u16; 8] = [200, 400, 401, 403, 405, 429, 500, 503];

/// The base64 of `{"token":"t","expDate":"2099-01-01T00:00:00+0000","orgName":"F"}`.
const TOKEN: &str =
    "eyJ0b2tlbiI6InQiLCJleHBEYXRlIjoiMjA5OS0wMS0wMVQwMDowMDowMCswMDAwIiwib3JnTmFtZSI6IkYifQ==";

fn api() -> Api {
    let mut c = Config::default();
    c.mdm_id("fuzz-mdm");
    // Infallible for this token and the default configuration.
    Api::new(
        ContentToken::parse(TOKEN.as_bytes()).expect("token"),
        Arc::new(c),
    )
    .expect("api")
}

fn run<E: Endpoint>(endpoint: &E, response: &http::Response<&[u8]>) -> Option<E::Output> {
    match api().handle_response(endpoint, response) {
        Ok(v) => Some(v),
        Err(e) => {
            let _ = (
                e.to_string(),
                e.is_retryable(),
                e.api().map(|a| a.is_token_problem()),
            );
            None
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let status = STATUSES[usize::from(selector >> 5) % STATUSES.len()];
    let mut b = http::Response::builder().status(status);
    if selector & 0x10 != 0 {
        b = b.header("retry-after", "30");
    }
    let Ok(response) = b.body(body) else { return };
    let now = Instant::now();
    match selector & 0x0f {
        0 => {
            if let Some(page) = run(&GetAssets::default(), &response) {
                let mut w = PageWalker::<AssetsPage>::new(WalkConfig::default());
                let _ = w.poll_request(now);
                w.handle_response(now, Ok(page));
                while w.poll_event().is_some() {}
            }
        }
        1 => {
            let mut w = PageWalker::<AssignmentsPage>::new(WalkConfig::default());
            let _ = w.poll_request(now);
            let result = api().handle_response(&GetAssignments::default(), &response);
            w.handle_response(now, result);
            while w.poll_event().is_some() {}
            let _ = w.poll_request(now);
        }
        2 => {
            let _ = run(&GetClientConfig, &response);
        }
        3 => {
            let _ = run(&SetClientConfig::default(), &response);
        }
        4 => {
            if let Some(c) = run(&GetServiceConfig, &response) {
                let _ = (c.limits(), c.content_metadata_lookup());
            }
        }
        5 => {
            let _ = run(&Associate::default(), &response);
        }
        6 => {
            let mut t = EventTracker::new("e", EventConfig::default(), now);
            let later = t.poll_timeout().unwrap_or(now);
            let _ = t.poll_action(later);
            let result = api().handle_response(&GetEventStatus::default(), &response);
            if let Ok(s) = &result {
                let _ = s.failed_serial_numbers().count();
            }
            t.handle_status(later, result);
            let _ = t.outcome();
        }
        _ => {
            let lookup = LookupMetadata::new(
                "https://lookup.example/wa/lookup",
                vec!["1".into(), "2".into()],
            );
            let _ = run(&lookup, &response);
        }
    }
});
