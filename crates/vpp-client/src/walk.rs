//! Walking a paged listing (`GET assets`, `GET assignments`) to its end,
//! without I/O.
//!
//! Apple's pages are numbered from 0; a page names the next one in
//! `nextPageIndex` and the last page has none. While a walk is under way
//! the data may change: `versionId` then differs from the first page's
//! (and `totalPages` may change, or a page index fall out of range, 9650).
//! A walk that saw such a change is not a consistent picture, so
//! [`PageWalker`] starts it again from page 0 and tells the caller, who
//! throws away what it gathered in that attempt (each attempt has its own
//! [`generation`](WalkEvent::Page::generation)). Throttling (9646, 429),
//! server errors and transport failures are retried with capped
//! exponential back-off, honouring `Retry-After`.
//!
//! Feed it like the other state machines of this project:
//! [`poll_request`](PageWalker::poll_request) for the page to fetch,
//! [`handle_response`](PageWalker::handle_response) with its answer,
//! [`poll_event`](PageWalker::poll_event) for what happened, and
//! [`poll_timeout`](PageWalker::poll_timeout) for when to come back.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::error::{Error, codes};
use crate::model::{Asset, AssetsPage, Assignment, AssignmentsPage};

/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// A page of a listing.
pub trait Page {
    /// What it lists.
    type Item;
    /// `currentPageIndex`.
    fn current_page_index(&self) -> i64;
    /// `nextPageIndex`.
    fn next_page_index(&self) -> Option<i64>;
    /// `versionId`.
    fn version_id(&self) -> Option<&str>;
    /// The records, taken out.
    fn take_items(&mut self) -> Vec<Self::Item>;
}

impl Page for AssetsPage {
    type Item = Asset;
    fn current_page_index(&self) -> i64 {
        self.current_page_index
    }
    fn next_page_index(&self) -> Option<i64> {
        self.next_page_index
    }
    fn version_id(&self) -> Option<&str> {
        self.version_id.as_deref()
    }
    fn take_items(&mut self) -> Vec<Asset> {
        let mut items = std::mem::take(&mut self.assets);
        items.append(&mut self.unlimited_assets);
        items
    }
}

impl Page for AssignmentsPage {
    type Item = Assignment;
    fn current_page_index(&self) -> i64 {
        self.current_page_index
    }
    fn next_page_index(&self) -> Option<i64> {
        self.next_page_index
    }
    fn version_id(&self) -> Option<&str> {
        self.version_id.as_deref()
    }
    fn take_items(&mut self) -> Vec<Assignment> {
        std::mem::take(&mut self.assignments)
    }
}

/// Limits of a walk. `Default` plus chainable setters.
#[derive(Clone, Debug)]
pub struct WalkConfig {
    /// Times a walk starts again after the data changed under it before
    /// it gives up (the data is changing faster than it can be read).
    pub max_restarts: u32,
    /// Pages in one attempt, at most (a guard against a service that never
    /// ends a listing).
    pub max_pages: u32,
    /// Tries of one page before the walk fails.
    pub max_attempts: u32,
    /// The first back-off.
    pub base_delay: Duration,
    /// The longest back-off.
    pub max_delay: Duration,
}

impl Default for WalkConfig {
    fn default() -> Self {
        Self {
            max_restarts: 5,
            max_pages: 100_000,
            max_attempts: 8,
            base_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(300),
        }
    }
}

impl WalkConfig {
    /// Sets [`max_restarts`](Self::max_restarts).
    pub fn max_restarts(&mut self, n: u32) -> &mut Self {
        self.max_restarts = n;
        self
    }
    /// Sets [`max_attempts`](Self::max_attempts).
    pub fn max_attempts(&mut self, n: u32) -> &mut Self {
        self.max_attempts = n;
        self
    }
    /// Sets [`base_delay`](Self::base_delay) and
    /// [`max_delay`](Self::max_delay).
    pub fn delays(&mut self, base: Duration, max: Duration) -> &mut Self {
        self.base_delay = base;
        self.max_delay = max;
        self
    }
    /// Sets [`max_pages`](Self::max_pages).
    pub fn max_pages(&mut self, n: u32) -> &mut Self {
        self.max_pages = n;
        self
    }

    /// The back-off before try `attempt` (1 = the first retry).
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(20);
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }
}

/// Why a walk started again.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum RestartReason {
    /// A page's `versionId` differs from the first page's.
    VersionChanged {
        /// The first page's.
        first: String,
        /// This page's.
        now: String,
    },
    /// The page asked for no longer exists (9650: the listing shrank).
    PageOutOfRange,
    /// A page answered for another index than asked, or named a next page
    /// that is not the following one.
    OutOfSequence {
        /// Asked for.
        asked: u32,
        /// Answered, and its `nextPageIndex`.
        got: (i64, Option<i64>),
    },
}

/// What a walk tells its caller.
#[derive(Debug)]
pub enum WalkEvent<T> {
    /// A page of records. Records of an attempt that is later abandoned
    /// ([`Restarted`](Self::Restarted)) must be discarded: keep what each
    /// generation gave and use only the finished one's.
    Page {
        /// The attempt (0, 1, ...).
        generation: u32,
        /// The page's index.
        page_index: u32,
        /// Its records.
        items: Vec<T>,
    },
    /// The walk starts again from page 0, as a new generation.
    Restarted {
        /// The new attempt.
        generation: u32,
        /// Why.
        reason: RestartReason,
    },
    /// A page failed and will be asked for again after `delay`.
    Retrying {
        /// The page.
        page_index: u32,
        /// The try that failed (1 = the first).
        attempt: u32,
        /// The wait.
        delay: Duration,
        /// What went wrong.
        error: Error,
    },
    /// Every page of `generation` was read and they agree.
    Done {
        /// The attempt whose records stand.
        generation: u32,
        /// The first page's `versionId` (for `sinceVersionId` next time).
        version_id: Option<String>,
        /// Pages read in this generation.
        pages: u32,
        /// Records read in this generation.
        items: u64,
    },
    /// The walk gave up.
    Failed {
        /// The last error.
        error: Error,
    },
}

#[derive(Debug)]
enum State {
    /// Ask for `page` (at `at`, or now).
    Ready { page: u32, at: Option<Instant> },
    /// Asked for `page`.
    Waiting { page: u32 },
    /// Finished (done or failed).
    Finished,
}

/// Walks a paged listing from page 0 to its end.
///
/// ```
/// use std::time::Instant;
/// use vpp_client::{AssetsPage, PageWalker, WalkConfig, WalkEvent};
///
/// let mut walker = PageWalker::<AssetsPage>::new(WalkConfig::default());
/// let now = Instant::now();
/// assert_eq!(walker.poll_request(now), Some(0));
/// let page: AssetsPage = serde_json::from_str(r#"{"assets":[{"adamId":"1","pricingParam":"STDQ"}],
///     "currentPageIndex":0,"totalPages":1,"versionId":"v1"}"#).unwrap();
/// walker.handle_response(now, Ok(page));
/// assert!(matches!(walker.poll_event(), Some(WalkEvent::Page { items, .. }) if items.len() == 1));
/// assert!(matches!(walker.poll_event(), Some(WalkEvent::Done { version_id: Some(v), .. }) if v == "v1"));
/// assert!(walker.is_finished());
/// ```
#[derive(Debug)]
pub struct PageWalker<P: Page> {
    config: WalkConfig,
    state: State,
    generation: u32,
    restarts: u32,
    attempts: u32,
    first_version: Option<String>,
    pages: u32,
    items: u64,
    events: VecDeque<WalkEvent<P::Item>>,
}

impl<P: Page> PageWalker<P> {
    /// A walk that starts at page 0.
    pub fn new(config: WalkConfig) -> Self {
        Self {
            config,
            state: State::Ready { page: 0, at: None },
            generation: 0,
            restarts: 0,
            attempts: 0,
            first_version: None,
            pages: 0,
            items: 0,
            events: VecDeque::new(),
        }
    }

    /// The page to ask for now, if one is due.
    pub fn poll_request(&mut self, now: Instant) -> Option<u32> {
        match self.state {
            State::Ready { page, at } if at.is_none_or(|t| t <= now) => {
                self.state = State::Waiting { page };
                Some(page)
            }
            _ => None,
        }
    }

    /// When to call [`poll_request`](Self::poll_request) again, if it
    /// returned nothing because of a back-off.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Ready { at, .. } => at,
            _ => None,
        }
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<WalkEvent<P::Item>> {
        self.events.pop_front()
    }

    /// Whether the walk has ended (its last events may still be queued).
    pub fn is_finished(&self) -> bool {
        matches!(self.state, State::Finished)
    }

    /// Whether a page was asked for and not yet answered.
    pub fn in_flight(&self) -> bool {
        matches!(self.state, State::Waiting { .. })
    }

    /// Hands over the answer to the page last asked for.
    pub fn handle_response(&mut self, now: Instant, result: Result<P, Error>) {
        let State::Waiting { page } = self.state else {
            return;
        };
        match result {
            Ok(p) => self.handle_page(page, p),
            Err(e)
                if e.api()
                    .is_some_and(|a| a.is(codes::PAGE_INDEX_OUT_OF_RANGE))
                    && page > 0 =>
            {
                self.restart(RestartReason::PageOutOfRange);
            }
            Err(error) => self.handle_error(now, page, error),
        }
    }

    fn handle_page(&mut self, page: u32, mut p: P) {
        let (current, next) = (p.current_page_index(), p.next_page_index());
        if current != i64::from(page) || next.is_some_and(|n| n != current + 1) {
            self.restart(RestartReason::OutOfSequence {
                asked: page,
                got: (current, next),
            });
            return;
        }
        let version = p.version_id().map(str::to_owned);
        if page == 0 {
            self.first_version = version;
        } else if let (Some(first), Some(now)) = (&self.first_version, &version)
            && first != now
        {
            let reason = RestartReason::VersionChanged {
                first: first.clone(),
                now: now.clone(),
            };
            self.restart(reason);
            return;
        }
        self.attempts = 0;
        let items = p.take_items();
        self.pages += 1;
        self.items += items.len() as u64;
        self.events.push_back(WalkEvent::Page {
            generation: self.generation,
            page_index: page,
            items,
        });
        match next {
            None => {
                self.events.push_back(WalkEvent::Done {
                    generation: self.generation,
                    version_id: self.first_version.clone(),
                    pages: self.pages,
                    items: self.items,
                });
                self.state = State::Finished;
            }
            Some(_) if self.pages >= self.config.max_pages => {
                self.fail(Error::InvalidResponse {
                    what: "page",
                    detail: format!("the listing goes on past {} pages", self.config.max_pages),
                });
            }
            Some(_) => {
                self.state = State::Ready {
                    page: page + 1,
                    at: None,
                };
            }
        }
    }

    fn handle_error(&mut self, now: Instant, page: u32, error: Error) {
        if !error.is_retryable() {
            self.fail(error);
            return;
        }
        self.attempts += 1;
        if self.attempts >= self.config.max_attempts {
            self.fail(error);
            return;
        }
        let backoff = self.config.delay(self.attempts);
        // Retry-After is honoured (up to an hour) when it asks for longer
        // than the back-off.
        let asked = error
            .api()
            .and_then(|a| a.retry_after)
            .and_then(|r| r.delay());
        let delay = asked
            .map_or(backoff, |d| d.max(backoff))
            .min(MAX_RETRY_AFTER.max(backoff));
        self.events.push_back(WalkEvent::Retrying {
            page_index: page,
            attempt: self.attempts,
            delay,
            error,
        });
        self.state = State::Ready {
            page,
            at: Some(now.checked_add(delay).unwrap_or(now)),
        };
    }

    fn restart(&mut self, reason: RestartReason) {
        self.restarts += 1;
        if self.restarts > self.config.max_restarts {
            self.fail(Error::InvalidResponse {
                what: "listing",
                detail: format!(
                    "the data changed during {} walks in a row ({reason:?}); try again later",
                    self.restarts
                ),
            });
            return;
        }
        self.generation += 1;
        self.attempts = 0;
        self.pages = 0;
        self.items = 0;
        self.first_version = None;
        self.events.push_back(WalkEvent::Restarted {
            generation: self.generation,
            reason,
        });
        self.state = State::Ready { page: 0, at: None };
    }

    fn fail(&mut self, error: Error) {
        self.events.push_back(WalkEvent::Failed { error });
        self.state = State::Finished;
    }
}

#[cfg(test)]
mod tests;
