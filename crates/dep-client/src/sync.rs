//! The device-sync state machine: fetch every device, then sync changes,
//! page by page, with the cursor persisted after every page — without I/O.
//!
//! Apple's protocol ("Get a List of Devices", "Sync the List of Devices"):
//! `POST /server/devices` pages through every device assigned to the
//! server until `more_to_follow` is false; from then on `POST
//! /devices/sync` with the last cursor returns what was added, modified or
//! deleted since, and is repeated on a schedule. The service answers `400`
//! with `EXHAUSTED_CURSOR` when a fetch cursor has already returned
//! everything (the machine switches to sync), and `INVALID_CURSOR` or
//! `EXPIRED_CURSOR` when a cursor is unknown or too old (the machine drops
//! it and fetches again from the start).
//!
//! The machine follows the sans-I/O pattern: the caller
//! [polls for a request](SyncMachine::poll_request), sends it through a
//! [`Session`](crate::Session), [hands the result
//! back](SyncMachine::handle_response), and [drains the
//! events](SyncMachine::poll_event) — devices, then the cursor to persist.
//! The next request is only given out once the events are drained, so a
//! cursor is always persisted before a request uses it, and at most one
//! page of devices is held at a time. Time is an input: `now` (a monotonic
//! [`Instant`]) for the back-off after failures (exponential, capped,
//! honouring `Retry-After`) and the sync schedule, and the wall clock
//! (`SystemTime`) of each answer, against which a `Retry-After` given as an
//! HTTP date is measured when the answer has no `Date` header. Schedules
//! never overflow: a wait too long for the clock is cut to the longest it
//! can represent.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use dep_client::{CursorState, DevicePage, Phase, SyncConfig, SyncEvent, SyncMachine, SyncRequest};
//!
//! let now = Instant::now();
//! let mut sync = SyncMachine::new(SyncConfig::default(), CursorState::default(), now);
//! let Some(SyncRequest::Fetch(fetch)) = sync.poll_request(now) else { unreachable!() };
//! assert_eq!(fetch.cursor, None);
//! // ... the client sends it; the service answers with the last page:
//! let page = DevicePage { cursor: "c1".into(), more_to_follow: false, ..Default::default() };
//! sync.handle_response(now, std::time::SystemTime::now(), Ok(page));
//! assert!(matches!(sync.poll_event(), Some(SyncEvent::FetchComplete)));
//! let Some(SyncEvent::Cursor(state)) = sync.poll_event() else { unreachable!() };
//! assert_eq!((state.cursor.as_deref(), state.phase), (Some("c1"), Phase::Sync));
//! // Now the syncs, from the persisted cursor:
//! let Some(SyncRequest::Sync(s)) = sync.poll_request(now) else { unreachable!() };
//! assert_eq!(s.cursor, "c1");
//! ```

use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime};

use crate::api::{DEFAULT_LIMIT, Endpoint, FetchDevices, SyncDevices};
use crate::error::{Error, Result};
use crate::model::{Device, DevicePage, OpType};
use crate::response::ErrorCode;
use crate::session::Config;

/// Pages in a row that bring no devices and no new cursor while claiming
/// more to follow, before the pass is abandoned.
const MAX_STALLS: u32 = 3;

/// Which listing the machine is in.
#[derive(
    Clone, Copy, Debug, Default, Eq, Hash, PartialEq, serde::Deserialize, serde::Serialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Paging through every device (`POST /server/devices`).
    #[default]
    Fetch,
    /// Following changes (`POST /devices/sync`).
    Sync,
}

/// What to persist between runs: the cursor and whether the full fetch is
/// done. `Default` starts with a full fetch.
#[derive(Clone, Debug, Default, Eq, Hash, PartialEq, serde::Deserialize, serde::Serialize)]
pub struct CursorState {
    /// The last cursor the service returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// The listing it belongs to.
    #[serde(default)]
    pub phase: Phase,
}

impl CursorState {
    /// Continue a fetch from `cursor`. If that fetch had finished, the
    /// service says `EXHAUSTED_CURSOR` and the machine switches to sync,
    /// so this is also right for a cursor whose phase is not known.
    pub fn resume(cursor: impl Into<String>) -> Self {
        Self {
            cursor: Some(cursor.into()),
            phase: Phase::Fetch,
        }
    }

    /// Sync from `cursor` (the full fetch is done).
    pub fn synced(cursor: impl Into<String>) -> Self {
        Self {
            cursor: Some(cursor.into()),
            phase: Phase::Sync,
        }
    }
}

/// How the machine pages, retries and schedules. `Default` plus chainable
/// setters.
#[derive(Clone, Debug)]
pub struct SyncConfig {
    /// Devices per page, `1..=1000`: 1000 by default.
    pub limit: u32,
    /// Time between sync passes once caught up: 30 minutes by default.
    pub interval: Duration,
    /// The first retry delay: 1 s by default, doubling per attempt.
    pub retry_base: Duration,
    /// The longest retry delay: 5 minutes by default.
    pub retry_max: Duration,
    /// Tries of one request before the pass fails: 8 by default.
    pub max_attempts: u32,
    /// The longest `Retry-After` honoured: 1 hour by default.
    pub max_retry_after: Duration,
    /// Pages in one pass before it fails as runaway: 10,000 by default
    /// (ten million devices at the largest limit).
    pub max_pages: u32,
    /// Cursor resets (`INVALID_CURSOR`, `EXPIRED_CURSOR`) in one pass
    /// before it fails: 2 by default.
    pub max_resets: u32,
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            limit: DEFAULT_LIMIT,
            interval: Duration::from_secs(30 * 60),
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(5 * 60),
            max_attempts: 8,
            max_retry_after: Duration::from_secs(3600),
            max_pages: 10_000,
            max_resets: 2,
        }
    }
}

impl SyncConfig {
    /// Sets [`limit`](Self::limit) (clamped to `1..=1000`).
    pub fn limit(&mut self, n: u32) -> &mut Self {
        self.limit = n.clamp(1, crate::api::MAX_LIMIT);
        self
    }

    /// Sets [`interval`](Self::interval).
    pub fn interval(&mut self, d: Duration) -> &mut Self {
        self.interval = d;
        self
    }

    /// Sets [`retry_base`](Self::retry_base) and [`retry_max`](Self::retry_max).
    pub fn retry_delays(&mut self, base: Duration, max: Duration) -> &mut Self {
        self.retry_base = base;
        self.retry_max = max.max(base);
        self
    }

    /// Sets [`max_attempts`](Self::max_attempts) (at least 1).
    pub fn max_attempts(&mut self, n: u32) -> &mut Self {
        self.max_attempts = n.max(1);
        self
    }

    /// Sets [`max_retry_after`](Self::max_retry_after).
    pub fn max_retry_after(&mut self, d: Duration) -> &mut Self {
        self.max_retry_after = d;
        self
    }

    /// Sets [`max_pages`](Self::max_pages) (at least 1).
    pub fn max_pages(&mut self, n: u32) -> &mut Self {
        self.max_pages = n.max(1);
        self
    }

    /// Sets [`max_resets`](Self::max_resets).
    pub fn max_resets(&mut self, n: u32) -> &mut Self {
        self.max_resets = n;
        self
    }

    /// The delay before try `attempt` (1 for the first retry).
    pub fn retry_delay(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.retry_base
            .checked_mul(factor)
            .unwrap_or(self.retry_max)
            .min(self.retry_max)
    }
}

/// The request the machine wants sent: a fetch or a sync page.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum SyncRequest {
    /// `POST /server/devices`.
    Fetch(FetchDevices),
    /// `POST /devices/sync`.
    Sync(SyncDevices),
}

impl SyncRequest {
    /// The cursor the request continues from.
    pub fn cursor(&self) -> Option<&str> {
        match self {
            Self::Fetch(f) => f.cursor.as_deref(),
            Self::Sync(s) => Some(&s.cursor),
        }
    }

    /// Its phase.
    pub fn phase(&self) -> Phase {
        match self {
            Self::Fetch(_) => Phase::Fetch,
            Self::Sync(_) => Phase::Sync,
        }
    }
}

impl Endpoint for SyncRequest {
    type Output = DevicePage;
    fn name(&self) -> &'static str {
        match self {
            Self::Fetch(f) => f.name(),
            Self::Sync(s) => s.name(),
        }
    }
    fn method(&self, config: &Config) -> http::Method {
        match self {
            Self::Fetch(f) => f.method(config),
            Self::Sync(s) => s.method(config),
        }
    }
    fn path(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Self::Fetch(f) => f.path(),
            Self::Sync(s) => s.path(),
        }
    }
    fn body(&self) -> Result<Option<Vec<u8>>> {
        match self {
            Self::Fetch(f) => f.body(),
            Self::Sync(s) => s.body(),
        }
    }
    fn parse(&self, body: &[u8]) -> Result<DevicePage> {
        match self {
            Self::Fetch(f) => f.parse(body),
            Self::Sync(s) => s.parse(body),
        }
    }
}

/// What the machine reports.
#[derive(Debug)]
pub enum SyncEvent {
    /// A page's devices, in the service's order. In the sync phase each
    /// carries its `op_type`; fetched devices have none (they are all
    /// "present").
    Devices {
        /// The phase they came from.
        phase: Phase,
        /// The devices.
        devices: Vec<Device>,
    },
    /// Persist this before anything else: the next request continues from
    /// it. Comes after every page (after its [`Devices`](Self::Devices)),
    /// after a phase switch and after a reset.
    Cursor(CursorState),
    /// The full fetch is done: every device assigned to the server has
    /// been reported since the last [`CursorReset`](Self::CursorReset) (or
    /// since the start). A caller reconciling its inventory can drop the
    /// devices it has not heard of since then.
    FetchComplete,
    /// The service rejected the cursor; the machine starts a full fetch
    /// from scratch.
    CursorReset {
        /// Why (`INVALID_CURSOR`, `EXPIRED_CURSOR`, ...).
        code: ErrorCode,
    },
    /// A request failed in a way worth retrying; it is tried again after
    /// `delay`.
    Retrying {
        /// Which retry this is (1 for the first).
        attempt: u32,
        /// The wait before it.
        delay: Duration,
        /// What failed.
        error: Error,
    },
    /// The pass is done: everything up to now has been reported. The next
    /// pass starts at `next_sync`.
    CaughtUp {
        /// When the next sync is due.
        next_sync: Instant,
    },
    /// The pass failed (a refusal, too many failed tries, or a runaway
    /// listing). The cursor is kept; the next pass starts at
    /// `next_attempt`.
    Failed {
        /// Why.
        error: Error,
        /// When the machine tries again.
        next_attempt: Instant,
    },
}

/// Counters since the machine was made.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub struct SyncStats {
    /// Requests given out.
    pub requests: u64,
    /// Pages received.
    pub pages: u64,
    /// Devices received.
    pub devices: u64,
    /// Of those, `op_type` `added`.
    pub added: u64,
    /// `modified`.
    pub modified: u64,
    /// `deleted`.
    pub deleted: u64,
    /// Retries scheduled.
    pub retries: u64,
    /// Cursor resets.
    pub resets: u64,
    /// Failed passes.
    pub failures: u64,
    /// Completed passes.
    pub passes: u64,
}

/// The fetch-then-sync state machine for one server token.
#[derive(Debug)]
pub struct SyncMachine {
    config: SyncConfig,
    state: CursorState,
    /// When the next request may go out; `None` while one is in flight.
    due: Option<Instant>,
    attempt: u32,
    pass_pages: u32,
    pass_resets: u32,
    stalls: u32,
    events: VecDeque<SyncEvent>,
    stats: SyncStats,
}

impl SyncMachine {
    /// A machine starting from `state` (persisted earlier, or
    /// `CursorState::default()` for a first full fetch), its first
    /// request due at `now`.
    pub fn new(config: SyncConfig, state: CursorState, now: Instant) -> Self {
        let mut config = config;
        config.limit = config.limit.clamp(1, crate::api::MAX_LIMIT);
        config.max_attempts = config.max_attempts.max(1);
        config.max_pages = config.max_pages.max(1);
        let state = match state {
            CursorState {
                cursor: None,
                phase: Phase::Sync,
            } => CursorState::default(),
            s => s,
        };
        Self {
            config,
            state,
            due: Some(now),
            attempt: 0,
            pass_pages: 0,
            pass_resets: 0,
            stalls: 0,
            events: VecDeque::new(),
            stats: SyncStats::default(),
        }
    }

    /// The cursor state as of the last event given out.
    pub fn cursor(&self) -> &CursorState {
        &self.state
    }

    /// The configuration.
    pub fn config(&self) -> &SyncConfig {
        &self.config
    }

    /// The counters.
    pub fn stats(&self) -> &SyncStats {
        &self.stats
    }

    /// Whether a request is out and its result not yet handed back.
    pub fn in_flight(&self) -> bool {
        self.due.is_none()
    }

    /// The next request, if one is due at `now`, no request is in flight
    /// and every event has been drained.
    pub fn poll_request(&mut self, now: Instant) -> Option<SyncRequest> {
        if !self.events.is_empty() {
            return None;
        }
        let due = self.due?;
        if due > now {
            return None;
        }
        let request = match (&self.state.phase, &self.state.cursor) {
            (Phase::Sync, Some(c)) => {
                SyncRequest::Sync(SyncDevices::new(c.clone(), self.config.limit))
            }
            (_, cursor) => SyncRequest::Fetch(FetchDevices::new(cursor.clone(), self.config.limit)),
        };
        self.due = None;
        self.stats.requests += 1;
        Some(request)
    }

    /// When the next request is due, if the machine is waiting for time
    /// to pass (not for a response, and with no events to drain).
    pub fn poll_timeout(&self) -> Option<Instant> {
        if !self.events.is_empty() {
            return None;
        }
        self.due
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<SyncEvent> {
        self.events.pop_front()
    }

    /// Makes the next request due at `now` (a sync on demand) unless one
    /// is in flight.
    pub fn sync_now(&mut self, now: Instant) {
        if let Some(due) = self.due {
            self.due = Some(due.min(now));
            self.attempt = 0;
        }
    }

    /// Hands back the result of the request from
    /// [`poll_request`](Self::poll_request), received at `now`, when the
    /// wall clock said `wall`. A result with no request in flight is
    /// ignored.
    ///
    /// `wall` only matters for a `Retry-After` HTTP date on an answer
    /// without a `Date` header: the wait is measured from it.
    pub fn handle_response(&mut self, now: Instant, wall: SystemTime, result: Result<DevicePage>) {
        if self.due.is_some() {
            return;
        }
        match result {
            Ok(page) => self.on_page(now, page),
            Err(e) => self.on_error(now, wall, e),
        }
    }

    fn on_page(&mut self, now: Instant, page: DevicePage) {
        if page.cursor.is_empty() {
            // The wall clock only measures Retry-After dates, which this
            // error has none of.
            return self.on_error(
                now,
                SystemTime::UNIX_EPOCH,
                Error::invalid("device list", "the answer has an empty cursor"),
            );
        }
        let phase = self.state.phase;
        self.attempt = 0;
        self.pass_pages += 1;
        self.stats.pages += 1;
        let progress =
            !page.devices.is_empty() || self.state.cursor.as_deref() != Some(&page.cursor);
        self.stalls = if progress || !page.more_to_follow {
            0
        } else {
            self.stalls + 1
        };
        self.stats.devices += page.devices.len() as u64;
        for d in &page.devices {
            match d.op_type {
                Some(OpType::Added) => self.stats.added += 1,
                Some(OpType::Modified) => self.stats.modified += 1,
                Some(OpType::Deleted) => self.stats.deleted += 1,
                _ => {}
            }
        }
        if !page.devices.is_empty() {
            self.events.push_back(SyncEvent::Devices {
                phase,
                devices: page.devices,
            });
        }
        self.state.cursor = Some(page.cursor);
        let fetch_done = phase == Phase::Fetch && !page.more_to_follow;
        if fetch_done {
            self.state.phase = Phase::Sync;
            self.events.push_back(SyncEvent::FetchComplete);
        }
        self.events.push_back(SyncEvent::Cursor(self.state.clone()));
        if self.stalls >= MAX_STALLS {
            return self.fail(
                now,
                Error::invalid(
                    "device list",
                    "the service keeps saying more_to_follow without moving on",
                ),
            );
        }
        if page.more_to_follow || fetch_done {
            if self.pass_pages >= self.config.max_pages {
                return self.fail(
                    now,
                    Error::invalid(
                        "device list",
                        format!("still more to follow after {} pages", self.pass_pages),
                    ),
                );
            }
            self.due = Some(now);
        } else {
            let next = later(now, self.config.interval);
            self.end_pass();
            self.stats.passes += 1;
            self.events
                .push_back(SyncEvent::CaughtUp { next_sync: next });
            self.due = Some(next);
        }
    }

    fn on_error(&mut self, now: Instant, wall: SystemTime, error: Error) {
        let code = error.api().and_then(|a| a.code.clone());
        let phase = self.state.phase;
        match code {
            Some(ErrorCode::ExhaustedCursor) if phase == Phase::Fetch => {
                if self.state.cursor.is_none() {
                    return self.fail(now, error);
                }
                self.attempt = 0;
                self.state.phase = Phase::Sync;
                self.events.push_back(SyncEvent::FetchComplete);
                self.events.push_back(SyncEvent::Cursor(self.state.clone()));
                self.due = Some(now);
            }
            Some(
                code @ (ErrorCode::InvalidCursor
                | ErrorCode::ExpiredCursor
                | ErrorCode::CursorRequired),
            ) => {
                if self.state.cursor.is_none() || self.pass_resets >= self.config.max_resets {
                    return self.fail(now, error);
                }
                self.attempt = 0;
                self.pass_resets += 1;
                self.stats.resets += 1;
                self.state = CursorState::default();
                self.events.push_back(SyncEvent::CursorReset { code });
                self.events.push_back(SyncEvent::Cursor(self.state.clone()));
                self.due = Some(now);
            }
            _ if error.is_retryable() => {
                self.attempt += 1;
                if self.attempt >= self.config.max_attempts {
                    return self.fail(now, error);
                }
                let asked = error
                    .api()
                    .and_then(|a| a.retry_after)
                    .map(|r| r.delay_from(wall).min(self.config.max_retry_after))
                    .unwrap_or_default();
                let delay = self.config.retry_delay(self.attempt).max(asked);
                self.stats.retries += 1;
                self.events.push_back(SyncEvent::Retrying {
                    attempt: self.attempt,
                    delay,
                    error,
                });
                self.due = Some(later(now, delay));
            }
            _ => self.fail(now, error),
        }
    }

    fn fail(&mut self, now: Instant, error: Error) {
        let next = later(now, self.config.interval);
        self.stats.failures += 1;
        self.end_pass();
        self.events.push_back(SyncEvent::Failed {
            error,
            next_attempt: next,
        });
        self.due = Some(next);
    }

    fn end_pass(&mut self) {
        self.attempt = 0;
        self.pass_pages = 0;
        self.pass_resets = 0;
        self.stalls = 0;
    }
}

/// `now + wait`, or the latest instant the clock can represent short of
/// that when the sum overflows (a configured interval of centuries).
fn later(now: Instant, wait: Duration) -> Instant {
    if let Some(t) = now.checked_add(wait) {
        return t;
    }
    // Halving converges: `now + 0` always exists. At most 64 halvings of a
    // Duration's seconds plus 30 of its nanoseconds.
    let mut step = wait;
    let mut t = now;
    while !step.is_zero() {
        step /= 2;
        if let Some(next) = t.checked_add(step) {
            t = next;
        }
    }
    t
}

#[cfg(test)]
mod tests;
