use super::*;
use crate::response::{ApiError, RetryAfter};
use proptest::prelude::*;

/// The wall clock of the scripted answers: 2026-01-01T00:00:00Z.
fn wall0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600)
}

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
    m.handle_response(t0, wall0(), Ok(page("c1", &["A", "B"], true)));
    assert!(m.poll_request(t0).is_none(), "events first");
    let ev = drain(&mut m);
    assert!(
        matches!(&ev[0], SyncEvent::Devices { phase: Phase::Fetch, devices } if devices.len() == 2)
    );
    assert!(matches!(&ev[1], SyncEvent::Cursor(s) if s == &CursorState::resume("c1")));
    assert_eq!(m.poll_request(t0).unwrap().cursor(), Some("c1"));
    m.handle_response(t0, wall0(), Ok(page("c2", &["C"], false)));
    let ev = drain(&mut m);
    assert!(matches!(ev[1], SyncEvent::FetchComplete));
    assert!(matches!(&ev[2], SyncEvent::Cursor(s) if s == &CursorState::synced("c2")));
    let r = m.poll_request(t0).unwrap();
    assert_eq!(r, SyncRequest::Sync(SyncDevices::new("c2", 2)));
    m.handle_response(t0, wall0(), Ok(page("c3", &[], false)));
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
    m.handle_response(
        t0,
        wall0(),
        Err(api(400, Some(ErrorCode::ExhaustedCursor), None)),
    );
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
    m.handle_response(
        t0,
        wall0(),
        Err(api(400, Some(ErrorCode::ExpiredCursor), None)),
    );
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
    m.handle_response(
        t0,
        wall0(),
        Err(api(400, Some(ErrorCode::InvalidCursor), None)),
    );
    assert!(matches!(drain(&mut m)[..], [SyncEvent::Failed { .. }]));
}

#[test]
fn retries_honour_retry_after_and_give_up() {
    let t0 = Instant::now();
    let mut m = SyncMachine::new(config(), CursorState::default(), t0);
    m.poll_request(t0).unwrap();
    m.handle_response(
        t0,
        wall0(),
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
    m.handle_response(t1, wall0(), Err(api(503, None, None)));
    let ev = drain(&mut m);
    assert!(
        matches!(&ev[0], SyncEvent::Retrying { attempt: 2, delay, .. } if *delay == Duration::from_secs(2))
    );
    // A huge Retry-After is capped.
    let t2 = t1 + Duration::from_secs(2);
    m.poll_request(t2).unwrap();
    m.handle_response(
        t2,
        wall0(),
        Err(api(429, None, Some(Duration::from_secs(1_000_000)))),
    );
    let ev = drain(&mut m);
    assert!(
        matches!(&ev[0], SyncEvent::Retrying { attempt: 3, delay, .. } if *delay == Duration::from_secs(3600))
    );
    let t3 = t2 + Duration::from_secs(3600);
    m.poll_request(t3).unwrap();
    m.handle_response(t3, wall0(), Err(Error::Timeout(Duration::from_secs(30))));
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
    m.handle_response(
        t0,
        wall0(),
        Err(api(403, Some(ErrorCode::TermsNotSigned), None)),
    );
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
        m.handle_response(t0, wall0(), Ok(page("c", &[], true)));
        failed |= drain(&mut m)
            .iter()
            .any(|e| matches!(e, SyncEvent::Failed { .. }));
    }
    assert!(failed);
    let mut m = SyncMachine::new(config(), CursorState::default(), t0);
    let mut n = 0;
    while let Some(_r) = m.poll_request(t0) {
        n += 1;
        m.handle_response(t0, wall0(), Ok(page(&format!("c{n}"), &["X"], true)));
        drain(&mut m);
    }
    assert_eq!(n, 50);
}

#[test]
fn stray_results_ignored() {
    let t0 = Instant::now();
    let mut m = SyncMachine::new(config(), CursorState::default(), t0);
    m.handle_response(t0, wall0(), Ok(page("zzz", &["A"], false)));
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

#[test]
fn retry_after_dates_are_measured_on_the_wall_clock() {
    let at = |secs: u64| wall0() + Duration::from_secs(secs);
    let dated = |at: SystemTime, server_now: Option<SystemTime>| {
        Err(Error::Api(ApiError {
            status: 503,
            code: None,
            message: None,
            retry_after: Some(RetryAfter::At { at, server_now }),
        }))
    };
    let retry_delay = |m: &mut SyncMachine| match &drain(m)[..] {
        [SyncEvent::Retrying { delay, .. }] => *delay,
        other => panic!("{other:?}"),
    };
    let t0 = Instant::now();
    let mut m = SyncMachine::new(config(), CursorState::default(), t0);
    // No Date header: 40 s after the wall clock of the answer.
    m.poll_request(t0).unwrap();
    m.handle_response(t0, wall0(), dated(at(40), None));
    assert_eq!(retry_delay(&mut m), Duration::from_secs(40));
    assert_eq!(m.poll_timeout(), Some(t0 + Duration::from_secs(40)));
    // The same date seen 30 s later on the wall clock: 10 s.
    let t1 = t0 + Duration::from_secs(40);
    m.poll_request(t1).unwrap();
    m.handle_response(t1, at(30), dated(at(40), None));
    assert_eq!(retry_delay(&mut m), Duration::from_secs(10));
    // With a Date header the server's clock decides, not ours.
    let t2 = t1 + Duration::from_secs(10);
    m.poll_request(t2).unwrap();
    m.handle_response(t2, at(1000), dated(at(40), Some(at(15))));
    assert_eq!(retry_delay(&mut m), Duration::from_secs(25));
    // A date already past leaves the back-off (1 s at the first try)...
    let mut m = SyncMachine::new(config(), CursorState::default(), t0);
    m.poll_request(t0).unwrap();
    m.handle_response(t0, at(100), dated(at(40), None));
    assert_eq!(retry_delay(&mut m), Duration::from_secs(1));
    // ... and one beyond max_retry_after is cut to it.
    let t1 = t0 + Duration::from_secs(1);
    m.poll_request(t1).unwrap();
    m.handle_response(t1, wall0(), dated(at(86_400), None));
    assert_eq!(retry_delay(&mut m), Duration::from_secs(3600));
}

#[test]
fn huge_intervals_do_not_overflow() {
    let t0 = Instant::now();
    let mut c = config();
    c.interval(Duration::MAX)
        .retry_delays(Duration::MAX, Duration::MAX)
        .max_retry_after(Duration::MAX);
    let mut m = SyncMachine::new(c.clone(), CursorState::synced("c0"), t0);
    m.poll_request(t0).unwrap();
    m.handle_response(t0, wall0(), Ok(page("c1", &[], false)));
    let ev = drain(&mut m);
    let Some(SyncEvent::CaughtUp { next_sync }) = ev.last() else {
        panic!("{ev:?}")
    };
    assert!(*next_sync > t0 + Duration::from_secs(100 * 365 * 86_400));
    assert_eq!(m.poll_timeout(), Some(*next_sync));
    assert!(m.poll_request(t0).is_none());
    // A retry with an enormous Retry-After, and a failed pass.
    let mut m = SyncMachine::new(c, CursorState::default(), t0);
    m.poll_request(t0).unwrap();
    m.handle_response(t0, wall0(), Err(api(429, None, Some(Duration::MAX))));
    assert!(matches!(drain(&mut m)[..], [SyncEvent::Retrying { .. }]));
    assert!(m.poll_timeout().unwrap() > t0);
    m.sync_now(t0);
    m.poll_request(t0).unwrap();
    m.handle_response(
        t0,
        wall0(),
        Err(api(403, Some(ErrorCode::AccessDenied), None)),
    );
    assert!(matches!(drain(&mut m)[..], [SyncEvent::Failed { .. }]));
    assert!(m.poll_timeout().unwrap() > t0);
    assert_eq!(later(t0, Duration::ZERO), t0);
    assert_eq!(
        later(t0, Duration::from_secs(5)),
        t0 + Duration::from_secs(5)
    );
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
    /// `429` with `Retry-After` in seconds.
    Throttled(u8),
    /// `503` with `Retry-After` as an HTTP date this many seconds ahead of
    /// the wall clock, with or without a `Date` header.
    Unavailable {
        secs: u16,
        date_header: bool,
    },
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
        1 => (0u16..5000, any::<bool>()).prop_map(|(secs, date_header)| Answer::Unavailable { secs, date_header }),
        1 => Just(Answer::ServerError),
        1 => Just(Answer::Timeout),
        1 => Just(Answer::Refused),
    ]
}

/// An event as the reference model predicts it (devices by count).
#[derive(Clone, Debug, Eq, PartialEq)]
enum Expected {
    Devices(usize),
    Cursor(CursorState),
    FetchComplete,
    Reset(ErrorCode),
    Retrying { attempt: u32, delay: Duration },
    CaughtUp,
    Failed,
}

impl Expected {
    fn of(e: &SyncEvent) -> Self {
        match e {
            SyncEvent::Devices { devices, .. } => Self::Devices(devices.len()),
            SyncEvent::Cursor(s) => Self::Cursor(s.clone()),
            SyncEvent::FetchComplete => Self::FetchComplete,
            SyncEvent::CursorReset { code } => Self::Reset(code.clone()),
            SyncEvent::Retrying { attempt, delay, .. } => Self::Retrying {
                attempt: *attempt,
                delay: *delay,
            },
            SyncEvent::CaughtUp { .. } => Self::CaughtUp,
            SyncEvent::Failed { .. } => Self::Failed,
        }
    }
}

/// The sync protocol as Apple documents it, written out plainly: what the
/// machine must do with each answer, which events it reports, and when its
/// next request is due.
struct Model {
    cfg: SyncConfig,
    state: CursorState,
    attempt: u32,
    pages: u32,
    resets: u32,
    stalls: u32,
}

impl Model {
    fn new(cfg: SyncConfig) -> Self {
        Self {
            cfg,
            state: CursorState::default(),
            attempt: 0,
            pages: 0,
            resets: 0,
            stalls: 0,
        }
    }

    /// The events and the wait before the next request.
    fn step(
        &mut self,
        answer: &Answer,
        page_cursor: &str,
        wall_offset: Duration,
    ) -> (Vec<Expected>, Duration) {
        let mut ev = Vec::new();
        let wait = match answer {
            Answer::Page { devices, more, .. } => {
                let devices = usize::from(*devices);
                self.attempt = 0;
                self.pages += 1;
                let progress = devices > 0 || self.state.cursor.as_deref() != Some(page_cursor);
                self.stalls = if progress || !more {
                    0
                } else {
                    self.stalls + 1
                };
                if devices > 0 {
                    ev.push(Expected::Devices(devices));
                }
                self.state.cursor = Some(page_cursor.to_owned());
                // The last fetch page switches to sync.
                let fetch_done = self.state.phase == Phase::Fetch && !more;
                if fetch_done {
                    self.state.phase = Phase::Sync;
                    ev.push(Expected::FetchComplete);
                }
                ev.push(Expected::Cursor(self.state.clone()));
                if self.stalls >= MAX_STALLS
                    || ((*more || fetch_done) && self.pages >= self.cfg.max_pages)
                {
                    self.fail(&mut ev)
                } else if *more || fetch_done {
                    Duration::ZERO
                } else {
                    self.end_pass();
                    ev.push(Expected::CaughtUp);
                    self.cfg.interval
                }
            }
            // EXHAUSTED_CURSOR: the fetch had finished; sync from its cursor.
            Answer::Exhausted
                if self.state.phase == Phase::Fetch && self.state.cursor.is_some() =>
            {
                self.attempt = 0;
                self.state.phase = Phase::Sync;
                ev.push(Expected::FetchComplete);
                ev.push(Expected::Cursor(self.state.clone()));
                Duration::ZERO
            }
            // INVALID_CURSOR, EXPIRED_CURSOR: drop it, fetch from scratch.
            Answer::Invalid | Answer::Expired
                if self.state.cursor.is_some() && self.resets < self.cfg.max_resets =>
            {
                self.attempt = 0;
                self.resets += 1;
                self.state = CursorState::default();
                ev.push(Expected::Reset(if matches!(answer, Answer::Invalid) {
                    ErrorCode::InvalidCursor
                } else {
                    ErrorCode::ExpiredCursor
                }));
                ev.push(Expected::Cursor(self.state.clone()));
                Duration::ZERO
            }
            Answer::Throttled(_)
            | Answer::Unavailable { .. }
            | Answer::ServerError
            | Answer::Timeout => {
                self.attempt += 1;
                if self.attempt >= self.cfg.max_attempts {
                    self.fail(&mut ev)
                } else {
                    // At least what the service asked, never more than the cap;
                    // at least the back-off.
                    let asked = match answer {
                        Answer::Throttled(s) => Duration::from_secs(u64::from(*s)),
                        Answer::Unavailable {
                            secs,
                            date_header: true,
                        } => Duration::from_secs(u64::from(*secs)),
                        Answer::Unavailable {
                            secs,
                            date_header: false,
                        } => Duration::from_secs(u64::from(*secs)).saturating_sub(wall_offset),
                        _ => Duration::ZERO,
                    };
                    let backoff = self.cfg.retry_base * 2u32.pow(self.attempt - 1);
                    let delay = backoff
                        .min(self.cfg.retry_max)
                        .max(asked.min(self.cfg.max_retry_after));
                    ev.push(Expected::Retrying {
                        attempt: self.attempt,
                        delay,
                    });
                    delay
                }
            }
            Answer::Exhausted | Answer::Invalid | Answer::Expired | Answer::Refused => {
                self.fail(&mut ev)
            }
        };
        (ev, wait)
    }

    fn fail(&mut self, ev: &mut Vec<Expected>) -> Duration {
        self.end_pass();
        ev.push(Expected::Failed);
        self.cfg.interval
    }

    fn end_pass(&mut self) {
        self.attempt = 0;
        self.pages = 0;
        self.resets = 0;
        self.stalls = 0;
    }
}

proptest! {
    /// Over any sequence of answers the machine does what the reference
    /// model says: the same events in the same order (phase switches on
    /// EXHAUSTED_CURSOR and on the last fetch page, cursor cleared and a
    /// fetch from scratch on INVALID_CURSOR / EXPIRED_CURSOR, retries with
    /// their attempt numbers and delays), the next request due exactly when
    /// the model says (never before a `Retry-After`, in seconds or as a
    /// date, with or without a `Date` header), and each request continuing
    /// from the last cursor given out to persist. Every device received is
    /// reported once, in order; tries of one request and requests of one
    /// pass are bounded.
    #[test]
    fn follows_the_reference_model(answers in proptest::collection::vec(answer(), 1..200)) {
        let cfg = config();
        let bound = u64::from(cfg.max_pages + 2 * cfg.max_resets + 4 + MAX_STALLS)
            * u64::from(cfg.max_attempts);
        let t0 = Instant::now();
        let mut now = t0;
        // The wall clock runs with `now`, from wall0().
        let wall_of = |now: Instant| wall0() + now.duration_since(t0);
        let mut m = SyncMachine::new(cfg.clone(), CursorState::default(), now);
        let mut model = Model::new(cfg.clone());
        let mut persisted = CursorState::default();
        let mut next_serial = 0u32;
        let mut sent: Vec<String> = Vec::new();
        let mut reported: Vec<String> = Vec::new();
        let mut requests_in_pass = 0u64;
        let mut retries_in_a_row = 0u32;
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
            // The request continues from what was last persisted, which is
            // what the model holds.
            prop_assert_eq!(req.cursor(), persisted.cursor.as_deref());
            prop_assert_eq!(req.phase(), persisted.phase);
            prop_assert_eq!(&persisted, &model.state);
            // The answer's wall clock is a little ahead of ours, so that a
            // date without a Date header is measured from it.
            let wall_offset = Duration::from_secs(u64::from(cursor_seq % 7));
            let wall = wall_of(now) + wall_offset;
            let mut page_cursor = String::new();
            let result = match &a {
                Answer::Page { devices, more, same_cursor } => {
                    let serials: Vec<String> = (0..*devices)
                        .map(|_| { next_serial += 1; format!("S{next_serial}") })
                        .collect();
                    sent.extend(serials.iter().cloned());
                    page_cursor = match (same_cursor, req.cursor()) {
                        (true, Some(c)) => c.to_owned(),
                        _ => { cursor_seq += 1; format!("k{cursor_seq}") }
                    };
                    let refs: Vec<&str> = serials.iter().map(String::as_str).collect();
                    Ok(page(&page_cursor, &refs, *more))
                }
                Answer::Exhausted => Err(api(400, Some(ErrorCode::ExhaustedCursor), None)),
                Answer::Invalid => Err(api(400, Some(ErrorCode::InvalidCursor), None)),
                Answer::Expired => Err(api(400, Some(ErrorCode::ExpiredCursor), None)),
                Answer::Throttled(s) => Err(api(429, None, Some(Duration::from_secs(u64::from(*s))))),
                Answer::Unavailable { secs, date_header } => {
                    let at = wall_of(now) + Duration::from_secs(u64::from(*secs));
                    Err(Error::Api(ApiError {
                        status: 503,
                        code: None,
                        message: None,
                        retry_after: Some(RetryAfter::At {
                            at,
                            server_now: date_header.then(|| wall_of(now)),
                        }),
                    }))
                }
                Answer::ServerError => Err(api(500, None, None)),
                Answer::Timeout => Err(Error::Timeout(Duration::from_secs(1))),
                Answer::Refused => Err(api(403, Some(ErrorCode::AccessDenied), None)),
            };
            m.handle_response(now, wall, result);
            let (expected, wait) = model.step(&a, &page_cursor, wall_offset);
            prop_assert!(m.poll_request(now).is_none() || m.poll_event().is_none());
            let mut got = Vec::new();
            while let Some(ev) = m.poll_event() {
                got.push(Expected::of(&ev));
                match ev {
                    SyncEvent::Devices { devices, .. } => {
                        reported.extend(devices.into_iter().map(|d| d.serial_number));
                    }
                    SyncEvent::Cursor(s) => persisted = s,
                    SyncEvent::CaughtUp { next_sync } => {
                        prop_assert_eq!(next_sync, now + cfg.interval);
                        requests_in_pass = 0;
                    }
                    SyncEvent::Failed { next_attempt, .. } => {
                        prop_assert_eq!(next_attempt, now + cfg.interval);
                        requests_in_pass = 0;
                    }
                    _ => {}
                }
            }
            prop_assert_eq!(&got, &expected, "answer {:?}", a);
            prop_assert_eq!(m.poll_timeout(), Some(now + wait));
            if got.iter().any(|e| matches!(e, Expected::Retrying { .. })) {
                retries_in_a_row += 1;
                prop_assert!(retries_in_a_row < cfg.max_attempts);
            } else {
                retries_in_a_row = 0;
            }
            prop_assert_eq!(&persisted, m.cursor());
        }
        prop_assert_eq!(reported, sent);
    }
}
