use super::*;
use crate::response::{ApiError, RetryAfter};
use proptest::prelude::*;

fn page(cursor: &str, serials: &[&str], more: bool) -> DevicePage {
    DevicePage {
        devices: serials
            .iter()
            .map(|s| Device {
                serial_number: (*s).to_owned(),
                ..Device::default()
            })
            .collect(),
        cursor: cursor.to_owned(),
        more_to_follow: more,
        ..DevicePage::default()
    }
}

fn api(status: u16, code: Option<ErrorCode>, retry_after: Option<Duration>) -> Error {
    Error::Api(ApiError {
        status,
        code,
        message: None,
        retry_after: retry_after.map(RetryAfter::Delay),
    })
}

fn drain(m: &mut SyncMachine) -> Vec<SyncEvent> {
    std::iter::from_fn(|| m.poll_event()).collect()
}

fn config() -> SyncConfig {
    let mut c = SyncConfig::default();
    c.limit(2)
        .interval(Duration::from_secs(600))
        .retry_delays(Duration::from_secs(1), Duration::from_secs(8))
        .max_attempts(4)
        .max_pages(50);
    c
}

#[test]
fn fetch_then_sync() {
    let t0 = Instant::now();
    let mut m = SyncMachine::new(config(), CursorState::default(), t0);
    let r = m.poll_request(t0).unwrap();
    assert_eq!(r, SyncRequest::Fetch(FetchDevices::new(None, 2)));
    assert!(m.poll_request(t0).is_none(), "one request at a time");
    m.handle_response(t0, Ok(page("c1", &["A", "B"], true)));
    assert!(m.poll_request(t0).is_none(), "events first");
    let ev = drain(&mut m);
    assert!(
        matches!(&ev[0], SyncEvent::Devices { phase: Phase::Fetch, devices } if devices.len() == 2)
    );
    assert!(matches!(&ev[1], SyncEvent::Cursor(s) if s == &CursorState::resume("c1")));
    assert_eq!(m.poll_request(t0).unwrap().cursor(), Some("c1"));
    m.handle_response(t0, Ok(page("c2", &["C"], false)));
    let ev = drain(&mut m);
    assert!(matches!(ev[1], SyncEvent::FetchComplete));
    assert!(matches!(&ev[2], SyncEvent::Cursor(s) if s == &CursorState::synced("c2")));
    let r = m.poll_request(t0).unwrap();
    assert_eq!(r, SyncRequest::Sync(SyncDevices::new("c2", 2)));
    m.handle_response(t0, Ok(page("c3", &[], false)));
    let ev = drain(&mut m);
    assert!(matches!(&ev[0], SyncEvent::Cursor(_)));
    let SyncEvent::CaughtUp { next_sync } = ev[1] else {
        panic!("{ev:?}")
    };
    assert_eq!(next_sync, t0 + Duration::from_secs(600));
    assert!(m.poll_request(t0).is_none());
    assert_eq!(m.poll_timeout(), Some(next_sync));
    assert_eq!(
        m.poll_request(next_sync).unwrap(),
        SyncRequest::Sync(SyncDevices::new("c3", 2))
    );
    assert_eq!(m.stats().devices, 3);
    assert_eq!(m.stats().passes, 1);
}

#[test]
fn exhausted_cursor_switches_to_sync() {
    let t0 = Instant::now();
    let mut m = SyncMachine::new(config(), CursorState::resume("old"), t0);
    m.poll_request(t0).unwrap();
    m.handle_response(t0, Err(api(400, Some(ErrorCode::ExhaustedCursor), None)));
    let ev = drain(&mut m);
    assert!(matches!(ev[0], SyncEvent::FetchComplete));
    assert!(matches!(&ev[1], SyncEvent::Cursor(s) if s == &CursorState::synced("old")));
    assert_eq!(
        m.poll_request(t0).unwrap(),
        SyncRequest::Sync(SyncDevices::new("old", 2))
    );
}

#[test]
fn expired_cursor_refetches_from_scratch() {
    let t0 = Instant::now();
    let mut m = SyncMachine::new(config(), CursorState::synced("old"), t0);
    m.poll_request(t0).unwrap();
    m.handle_response(t0, Err(api(400, Some(ErrorCode::ExpiredCursor), None)));
    let ev = drain(&mut m);
    assert!(matches!(
        &ev[0],
        SyncEvent::CursorReset {
            code: ErrorCode::ExpiredCursor
        }
    ));
    assert!(matches!(&ev[1], SyncEvent::Cursor(s) if s == &CursorState::default()));
    assert_eq!(m.poll_request(t0).unwrap().cursor(), None);
    // A fresh fetch that is refused again cannot reset again.
    m.handle_response(t0, Err(api(400, Some(ErrorCode::InvalidCursor), None)));
    assert!(matches!(drain(&mut m)[..], [SyncEvent::Failed { .. }]));
}

#[test]
fn retries_honour_retry_after_and_give_up() {
    let t0 = Instant::now();
    let mut m = SyncMachine::new(config(), CursorState::default(), t0);
    m.poll_request(t0).unwrap();
    m.handle_response(
        t0,
        Err(api(
            429,
            Some(ErrorCode::TooManyRequests),
            Some(Duration::from_secs(5)),
        )),
    );
    let ev = drain(&mut m);
    let SyncEvent::Retrying {
        attempt: 1, delay, ..
    } = &ev[0]
    else {
        panic!("{ev:?}")
    };
    assert_eq!(*delay, Duration::from_secs(5));
    assert!(m.poll_request(t0 + Duration::from_secs(4)).is_none());
    let t1 = t0 + Duration::from_secs(5);
    m.poll_request(t1).unwrap();
    m.handle_response(t1, Err(api(503, None, None)));
    let ev = drain(&mut m);
    assert!(
        matches!(&ev[0], SyncEvent::Retrying { attempt: 2, delay, .. } if *delay == Duration::from_secs(2))
    );
    // A huge Retry-After is capped.
    let t2 = t1 + Duration::from_secs(2);
    m.poll_request(t2).unwrap();
    m.handle_response(
        t2,
        Err(api(429, None, Some(Duration::from_secs(1_000_000)))),
    );
    let ev = drain(&mut m);
    assert!(
        matches!(&ev[0], SyncEvent::Retrying { attempt: 3, delay, .. } if *delay == Duration::from_secs(3600))
    );
    let t3 = t2 + Duration::from_secs(3600);
    m.poll_request(t3).unwrap();
    m.handle_response(t3, Err(Error::Timeout(Duration::from_secs(30))));
    let ev = drain(&mut m);
    let SyncEvent::Failed {
        next_attempt,
        error,
    } = &ev[0]
    else {
        panic!("{ev:?}")
    };
    assert!(matches!(error, Error::Timeout(_)));
    assert_eq!(*next_attempt, t3 + Duration::from_secs(600));
    assert_eq!(m.stats().failures, 1);
}

#[test]
fn refusals_fail_at_once() {
    let t0 = Instant::now();
    let mut m = SyncMachine::new(config(), CursorState::default(), t0);
    m.poll_request(t0).unwrap();
    m.handle_response(t0, Err(api(403, Some(ErrorCode::TermsNotSigned), None)));
    let ev = drain(&mut m);
    assert!(
        matches!(&ev[..], [SyncEvent::Failed { error, .. }] if error.to_string().contains("T_C_NOT_SIGNED"))
    );
    // sync_now brings the next pass forward.
    m.sync_now(t0);
    assert!(m.poll_request(t0).is_some());
}

#[test]
fn stalls_and_runaways_end() {
    let t0 = Instant::now();
    let mut m = SyncMachine::new(config(), CursorState::resume("c"), t0);
    let mut failed = false;
    for _ in 0..10 {
        if m.poll_request(t0).is_none() {
            break;
        }
        m.handle_response(t0, Ok(page("c", &[], true)));
        failed |= drain(&mut m)
            .iter()
            .any(|e| matches!(e, SyncEvent::Failed { .. }));
    }
    assert!(failed);
    let mut m = SyncMachine::new(config(), CursorState::default(), t0);
    let mut n = 0;
    while let Some(_r) = m.poll_request(t0) {
        n += 1;
        m.handle_response(t0, Ok(page(&format!("c{n}"), &["X"], true)));
        drain(&mut m);
    }
    assert_eq!(n, 50);
}

#[test]
fn stray_results_ignored() {
    let t0 = Instant::now();
    let mut m = SyncMachine::new(config(), CursorState::default(), t0);
    m.handle_response(t0, Ok(page("zzz", &["A"], false)));
    assert!(m.poll_event().is_none());
    assert_eq!(m.cursor(), &CursorState::default());
    // A sync state without a cursor is a fresh fetch.
    let m = SyncMachine::new(
        config(),
        CursorState {
            cursor: None,
            phase: Phase::Sync,
        },
        t0,
    );
    assert_eq!(m.cursor(), &CursorState::default());
}

/// One scripted answer of the simulated service.
#[derive(Clone, Debug)]
enum Answer {
    Page {
        devices: u8,
        more: bool,
        same_cursor: bool,
    },
    Exhausted,
    Invalid,
    Expired,
    Throttled(u8),
    ServerError,
    Timeout,
    Refused,
}

fn answer() -> impl Strategy<Value = Answer> {
    prop_oneof![
        6 => (0u8..4, any::<bool>(), prop::bool::weighted(0.1)).prop_map(|(devices, more, same_cursor)| Answer::Page { devices, more, same_cursor }),
        1 => Just(Answer::Exhausted),
        1 => Just(Answer::Invalid),
        1 => Just(Answer::Expired),
        1 => (0u8..30).prop_map(Answer::Throttled),
        1 => Just(Answer::ServerError),
        1 => Just(Answer::Timeout),
        1 => Just(Answer::Refused),
    ]
}

proptest! {
    /// Over any sequence of answers: every request continues from the last
    /// cursor given out to persist; every device received is reported once,
    /// in order; a pass always ends (caught up or failed) within a bound.
    #[test]
    fn invariants(answers in proptest::collection::vec(answer(), 1..200)) {
        let cfg = config();
        let bound = u64::from(cfg.max_pages + 2 * cfg.max_resets + 4 + MAX_STALLS)
            * u64::from(cfg.max_attempts);
        let mut now = Instant::now();
        let mut m = SyncMachine::new(cfg, CursorState::default(), now);
        let mut persisted = CursorState::default();
        let mut next_serial = 0u32;
        let mut sent: Vec<String> = Vec::new();
        let mut reported: Vec<String> = Vec::new();
        let mut requests_in_pass = 0u64;
        let mut cursor_seq = 0u32;
        for a in answers {
            let req = match m.poll_request(now) {
                Some(r) => r,
                None => {
                    prop_assert!(m.poll_event().is_none());
                    let t = m.poll_timeout().expect("the machine always has a next time");
                    prop_assert!(t > now);
                    now = t;
                    m.poll_request(now).expect("due now")
                }
            };
            requests_in_pass += 1;
            prop_assert!(requests_in_pass <= bound, "a pass ran past {bound} requests");
            // The request continues from what was last persisted.
            prop_assert_eq!(req.cursor(), persisted.cursor.as_deref());
            prop_assert_eq!(req.phase(), persisted.phase);
            let result = match a {
                Answer::Page { devices, more, same_cursor } => {
                    let serials: Vec<String> = (0..devices)
                        .map(|_| { next_serial += 1; format!("S{next_serial}") })
                        .collect();
                    sent.extend(serials.iter().cloned());
                    let cursor = match (same_cursor, req.cursor()) {
                        (true, Some(c)) => c.to_owned(),
                        _ => { cursor_seq += 1; format!("k{cursor_seq}") }
                    };
                    let refs: Vec<&str> = serials.iter().map(String::as_str).collect();
                    Ok(page(&cursor, &refs, more))
                }
                Answer::Exhausted => Err(api(400, Some(ErrorCode::ExhaustedCursor), None)),
                Answer::Invalid => Err(api(400, Some(ErrorCode::InvalidCursor), None)),
                Answer::Expired => Err(api(400, Some(ErrorCode::ExpiredCursor), None)),
                Answer::Throttled(s) => Err(api(429, None, Some(Duration::from_secs(u64::from(s))))),
                Answer::ServerError => Err(api(500, None, None)),
                Answer::Timeout => Err(Error::Timeout(Duration::from_secs(1))),
                Answer::Refused => Err(api(403, Some(ErrorCode::AccessDenied), None)),
            };
            m.handle_response(now, result);
            prop_assert!(m.poll_request(now).is_none() || m.poll_event().is_none());
            while let Some(ev) = m.poll_event() {
                match ev {
                    SyncEvent::Devices { devices, .. } => {
                        reported.extend(devices.into_iter().map(|d| d.serial_number));
                    }
                    SyncEvent::Cursor(s) => persisted = s,
                    SyncEvent::CaughtUp { .. } | SyncEvent::Failed { .. } => requests_in_pass = 0,
                    _ => {}
                }
            }
            prop_assert_eq!(&persisted, m.cursor());
        }
        prop_assert_eq!(reported, sent);
    }
}
