//! Following an asynchronous job (associate, disassociate, revoke) to its
//! end, without I/O.
//!
//! A management request answers at once with an `eventId`; the work
//! happens later. Apple's guidance: a notification may report progress
//! (best effort, possibly repeated or lost), so ask `status?eventId=` too —
//! not more often than every 30 seconds while it is `PENDING`, and send
//! the request again if it is still pending after ten minutes.
//! [`EventTracker`] keeps that schedule; a notification about the event
//! makes it ask at once.

use std::time::{Duration, Instant};

use crate::error::{Error, codes};
use crate::model::{EventState, EventStatus};

/// The polling schedule. `Default` plus chainable setters.
#[derive(Clone, Debug)]
pub struct EventConfig {
    /// The first status query, after submitting (unless a notification
    /// comes first).
    pub first_poll: Duration,
    /// Between status queries while `PENDING` (Apple: at least 30 s).
    pub poll_interval: Duration,
    /// Pending this long: send the request again (Apple: 10 minutes).
    pub resubmit_after: Duration,
    /// Times the request is sent again before giving up.
    pub max_resubmits: u32,
    /// Failed status queries in a row before giving up.
    pub max_poll_failures: u32,
}

impl Default for EventConfig {
    fn default() -> Self {
        Self {
            first_poll: Duration::from_secs(5),
            poll_interval: Duration::from_secs(30),
            resubmit_after: Duration::from_secs(600),
            max_resubmits: 2,
            max_poll_failures: 10,
        }
    }
}

impl EventConfig {
    /// Sets [`first_poll`](Self::first_poll) and
    /// [`poll_interval`](Self::poll_interval).
    pub fn polling(&mut self, first: Duration, interval: Duration) -> &mut Self {
        self.first_poll = first;
        self.poll_interval = interval;
        self
    }
    /// Sets [`resubmit_after`](Self::resubmit_after) and
    /// [`max_resubmits`](Self::max_resubmits).
    pub fn resubmit(&mut self, after: Duration, max: u32) -> &mut Self {
        self.resubmit_after = after;
        self.max_resubmits = max;
        self
    }
}

/// What to do next for the event.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum EventAction {
    /// Ask `status?eventId=` for this id.
    Poll(String),
    /// Send the original request again; hand the new event id to
    /// [`EventTracker::resubmitted`].
    Resubmit,
}

/// How the job ended.
#[derive(Debug)]
pub enum EventOutcome {
    /// `COMPLETE` or `FAILED` (a partial failure lists what failed).
    Finished(EventStatus),
    /// The tracker gave up: still pending after every resubmission, or
    /// the status could not be read.
    GaveUp(Error),
}

/// Follows one event id.
///
/// ```
/// use std::time::{Duration, Instant};
/// use vpp_client::{EventAction, EventConfig, EventOutcome, EventTracker};
///
/// let t0 = Instant::now();
/// let mut tracker = EventTracker::new("ev-1", EventConfig::default(), t0);
/// assert_eq!(tracker.poll_action(t0), None);                       // too early
/// let t1 = tracker.poll_timeout().unwrap();
/// assert_eq!(tracker.poll_action(t1), Some(EventAction::Poll("ev-1".into())));
/// let done = serde_json::from_str(r#"{"eventStatus":"COMPLETE","eventType":"ASSOCIATE","numCompleted":2,"numRequested":2}"#).unwrap();
/// tracker.handle_status(t1, Ok(done));
/// assert!(matches!(tracker.outcome(), Some(EventOutcome::Finished(s)) if s.num_completed == 2));
/// ```
#[derive(Debug)]
pub struct EventTracker {
    config: EventConfig,
    event_id: String,
    submitted: Instant,
    next: Instant,
    in_flight: bool,
    waiting_resubmit: bool,
    resubmits: u32,
    poll_failures: u32,
    outcome: Option<EventOutcome>,
    finished: bool,
}

impl EventTracker {
    /// Follows `event_id`, submitted at `now`.
    pub fn new(event_id: impl Into<String>, config: EventConfig, now: Instant) -> Self {
        let next = now.checked_add(config.first_poll).unwrap_or(now);
        Self {
            config,
            event_id: event_id.into(),
            submitted: now,
            next,
            in_flight: false,
            waiting_resubmit: false,
            resubmits: 0,
            poll_failures: 0,
            outcome: None,
            finished: false,
        }
    }

    /// The event id being followed.
    pub fn event_id(&self) -> &str {
        &self.event_id
    }

    /// What to do now, if anything.
    pub fn poll_action(&mut self, now: Instant) -> Option<EventAction> {
        if self.finished || self.in_flight || self.waiting_resubmit || now < self.next {
            return None;
        }
        if now.saturating_duration_since(self.submitted) >= self.config.resubmit_after {
            if self.resubmits >= self.config.max_resubmits {
                self.finish(EventOutcome::GaveUp(Error::InvalidResponse {
                    what: "event status",
                    detail: format!(
                        "event {} still pending after {} submissions",
                        self.event_id,
                        self.resubmits + 1
                    ),
                }));
                return None;
            }
            self.waiting_resubmit = true;
            return Some(EventAction::Resubmit);
        }
        self.in_flight = true;
        Some(EventAction::Poll(self.event_id.clone()))
    }

    /// When to call [`poll_action`](Self::poll_action) again.
    pub fn poll_timeout(&self) -> Option<Instant> {
        (!self.finished && !self.in_flight && !self.waiting_resubmit).then_some(self.next)
    }

    /// The request was sent again and answered `event_id`.
    pub fn resubmitted(&mut self, now: Instant, event_id: impl Into<String>) {
        self.event_id = event_id.into();
        self.resubmits += 1;
        self.waiting_resubmit = false;
        self.submitted = now;
        self.next = now.checked_add(self.config.first_poll).unwrap_or(now);
    }

    /// Sending the request again failed.
    pub fn resubmit_failed(&mut self, error: Error) {
        self.waiting_resubmit = false;
        self.finish(EventOutcome::GaveUp(error));
    }

    /// A notification said something about `event_id`: ask now rather
    /// than at the next scheduled time.
    pub fn notified(&mut self, now: Instant, event_id: &str) {
        if event_id == self.event_id && !self.in_flight {
            self.next = self.next.min(now);
        }
    }

    /// Hands over the answer to a [`Poll`](EventAction::Poll).
    pub fn handle_status(&mut self, now: Instant, result: Result<EventStatus, Error>) {
        if !self.in_flight {
            return;
        }
        self.in_flight = false;
        let interval = self.config.poll_interval;
        match result {
            Ok(status) => {
                self.poll_failures = 0;
                match status.event_status {
                    EventState::Complete | EventState::Failed => {
                        self.finish(EventOutcome::Finished(status));
                    }
                    EventState::Pending | EventState::Unknown => {
                        self.next = now.checked_add(interval).unwrap_or(now);
                    }
                }
            }
            // The service no longer knows the event (or never did).
            Err(e) if e.api().is_some_and(|a| a.is(codes::EVENT_NOT_FOUND)) => {
                self.finish(EventOutcome::GaveUp(e));
            }
            Err(e) if !e.is_retryable() => self.finish(EventOutcome::GaveUp(e)),
            Err(e) => {
                self.poll_failures += 1;
                if self.poll_failures >= self.config.max_poll_failures {
                    self.finish(EventOutcome::GaveUp(e));
                } else {
                    let wait = e
                        .api()
                        .and_then(|a| a.retry_after)
                        .and_then(|r| r.delay())
                        .map_or(interval, |d| d.max(interval));
                    self.next = now.checked_add(wait).unwrap_or(now);
                }
            }
        }
    }

    fn finish(&mut self, outcome: EventOutcome) {
        self.outcome = Some(outcome);
        self.finished = true;
    }

    /// Whether it has ended (its outcome may have been taken).
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// How it ended, once it has.
    pub fn outcome(&self) -> Option<&EventOutcome> {
        self.outcome.as_ref()
    }

    /// How it ended, taken out.
    pub fn take_outcome(&mut self) -> Option<EventOutcome> {
        self.outcome.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ApiError;

    fn status(s: &str) -> EventStatus {
        serde_json::from_str(&format!(
            r#"{{"eventStatus":"{s}","eventType":"ASSOCIATE","numCompleted":1,"numRequested":2}}"#
        ))
        .unwrap()
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn polls_on_schedule_until_complete() {
        let t0 = Instant::now();
        let mut t = EventTracker::new("e1", EventConfig::default(), t0);
        assert_eq!(t.poll_timeout(), Some(t0 + secs(5)));
        assert_eq!(t.poll_action(t0 + secs(4)), None);
        assert_eq!(
            t.poll_action(t0 + secs(5)),
            Some(EventAction::Poll("e1".into()))
        );
        // One at a time.
        assert_eq!(t.poll_action(t0 + secs(50)), None);
        assert_eq!(t.poll_timeout(), None);
        t.handle_status(t0 + secs(6), Ok(status("PENDING")));
        assert_eq!(t.poll_timeout(), Some(t0 + secs(36)));
        assert_eq!(t.poll_action(t0 + secs(35)), None);
        assert!(t.poll_action(t0 + secs(36)).is_some());
        t.handle_status(t0 + secs(37), Ok(status("FAILED")));
        let Some(EventOutcome::Finished(s)) = t.take_outcome() else {
            panic!("finished expected")
        };
        assert_eq!(s.event_status, EventState::Failed);
        assert_eq!(t.poll_action(t0 + secs(100)), None);
    }

    #[test]
    fn notifications_hurry_the_next_poll() {
        let t0 = Instant::now();
        let mut t = EventTracker::new("e1", EventConfig::default(), t0);
        t.notified(t0 + secs(1), "someone-else");
        assert_eq!(t.poll_action(t0 + secs(1)), None);
        t.notified(t0 + secs(1), "e1");
        assert!(t.poll_action(t0 + secs(1)).is_some());
    }

    #[test]
    fn resubmits_when_pending_too_long_then_gives_up() {
        let t0 = Instant::now();
        let mut c = EventConfig::default();
        c.polling(secs(30), secs(30)).resubmit(secs(600), 1);
        let mut t = EventTracker::new("e1", c, t0);
        let mut now = t0;
        let mut resubmitted = false;
        for _ in 0..100 {
            now = t.poll_timeout().unwrap_or(now + secs(1));
            match t.poll_action(now) {
                Some(EventAction::Poll(_)) => t.handle_status(now, Ok(status("PENDING"))),
                Some(EventAction::Resubmit) => {
                    assert!(!resubmitted, "resubmitted twice with max_resubmits 1");
                    assert!(now >= t0 + secs(600));
                    resubmitted = true;
                    t.resubmitted(now, "e2");
                    assert_eq!(t.event_id(), "e2");
                }
                None => {}
            }
            if t.outcome().is_some() {
                break;
            }
        }
        assert!(resubmitted);
        assert!(
            matches!(t.outcome(), Some(EventOutcome::GaveUp(e)) if e.to_string().contains("e2"))
        );
        assert!(now >= t0 + secs(1200));
    }

    #[test]
    fn errors() {
        let t0 = Instant::now();
        let api = |status, n| Error::Api(ApiError::new(status, Some(n), None, None));
        // Unknown event: give up at once.
        let mut t = EventTracker::new("e1", EventConfig::default(), t0);
        t.poll_action(t0 + secs(5)).unwrap();
        t.handle_status(t0 + secs(5), Err(api(400, codes::EVENT_NOT_FOUND)));
        assert!(matches!(t.outcome(), Some(EventOutcome::GaveUp(_))));
        // Throttled: wait, then ask again, up to the limit.
        let c = EventConfig {
            max_poll_failures: 3,
            ..EventConfig::default()
        };
        let mut t = EventTracker::new("e1", c, t0);
        let mut now = t0;
        for i in 0..3 {
            now = t.poll_timeout().unwrap();
            assert!(t.poll_action(now).is_some(), "poll {i}");
            t.handle_status(now, Err(api(429, codes::TOO_MANY_REQUESTS)));
        }
        assert!(matches!(t.outcome(), Some(EventOutcome::GaveUp(e)) if e.is_retryable()));
        assert!(now >= t0 + secs(65));
        // A refused token: give up.
        let mut t = EventTracker::new("e1", EventConfig::default(), t0);
        t.poll_action(t0 + secs(5)).unwrap();
        t.handle_status(t0 + secs(5), Err(api(401, codes::TOKEN_REVOKED)));
        assert!(matches!(t.outcome(), Some(EventOutcome::GaveUp(_))));
    }
}
