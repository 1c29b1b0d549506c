use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::*;
use crate::error::ApiError;
use crate::model::Asset;

fn asset(id: u32) -> Asset {
    Asset {
        adam_id: id.to_string(),
        ..Asset::default()
    }
}

/// A listing as the service keeps it: items, page size, a version that
/// changes with every write.
#[derive(Clone, Debug)]
struct Listing {
    items: Vec<u32>,
    page_size: usize,
    version: u32,
}

impl Listing {
    fn total_pages(&self) -> usize {
        self.items.len().div_ceil(self.page_size).max(1)
    }

    fn page(&self, index: u32) -> Result<AssetsPage, Error> {
        let i = index as usize;
        if i >= self.total_pages() {
            return Err(Error::Api(ApiError::new(
                400,
                Some(codes::PAGE_INDEX_OUT_OF_RANGE),
                Some("bad page index"),
                None,
            )));
        }
        let items = self
            .items
            .iter()
            .skip(i * self.page_size)
            .take(self.page_size);
        Ok(AssetsPage {
            assets: items.map(|&n| asset(n)).collect(),
            current_page_index: i64::from(index),
            next_page_index: (i + 1 < self.total_pages()).then(|| i as i64 + 1),
            total_pages: Some(self.total_pages() as i64),
            version_id: Some(format!("v{}", self.version)),
            ..AssetsPage::default()
        })
    }
}

fn throttled() -> Error {
    Error::Api(ApiError::new(
        429,
        Some(codes::TOO_MANY_REQUESTS),
        None,
        None,
    ))
}

/// How a test walk ended: the finished generation's items and version
/// (or the error), restarts, virtual time, and the listing at the end.
type Ran = (
    Result<(Vec<u32>, Option<String>), String>,
    u32,
    Duration,
    Listing,
);

/// Runs a walker against `listing`; `before_request(n, listing)` may
/// change the listing or return an error to answer instead. Returns the
/// finished generation's items, restarts, and the virtual time taken.
fn run(
    mut listing: Listing,
    config: WalkConfig,
    mut before_request: impl FnMut(usize, &mut Listing) -> Option<Error>,
) -> Ran {
    let start = Instant::now();
    let mut now = start;
    let mut w = PageWalker::<AssetsPage>::new(config);
    let mut by_generation: std::collections::BTreeMap<u32, Vec<u32>> = Default::default();
    let mut restarts = 0;
    let mut requests = 0;
    let mut expected_next = 0u32;
    for _ in 0..10_000 {
        while let Some(ev) = w.poll_event() {
            match ev {
                WalkEvent::Page {
                    generation, items, ..
                } => by_generation
                    .entry(generation)
                    .or_default()
                    .extend(items.iter().map(|a| a.adam_id.parse::<u32>().unwrap())),
                WalkEvent::Restarted { generation, .. } => {
                    restarts += 1;
                    expected_next = 0;
                    assert!(!by_generation.contains_key(&generation));
                }
                WalkEvent::Retrying { delay, .. } => assert!(delay >= Duration::from_secs(1)),
                WalkEvent::Done {
                    generation,
                    version_id,
                    items,
                    ..
                } => {
                    let got = by_generation.remove(&generation).unwrap_or_default();
                    assert_eq!(got.len() as u64, items);
                    return (Ok((got, version_id)), restarts, now - start, listing);
                }
                WalkEvent::Failed { error } => {
                    return (Err(error.to_string()), restarts, now - start, listing);
                }
            }
        }
        if let Some(page) = w.poll_request(now) {
            // Pages are asked for in order, from 0 after a restart.
            assert!(
                page == expected_next || page == expected_next.saturating_sub(1),
                "asked {page}, expected {expected_next}"
            );
            let answer = match before_request(requests, &mut listing) {
                Some(e) => Err(e),
                None => listing.page(page),
            };
            if answer.is_ok() {
                expected_next = page + 1;
            }
            requests += 1;
            w.handle_response(now, answer);
        } else if let Some(at) = w.poll_timeout() {
            assert!(at > now);
            now = at;
        } else {
            panic!("walker stalled");
        }
    }
    panic!("walk did not end");
}

fn listing(n: u32, page_size: usize) -> Listing {
    Listing {
        items: (0..n).collect(),
        page_size,
        version: 0,
    }
}

#[test]
fn reads_every_page_once() {
    let (r, restarts, _, _) = run(listing(25, 10), WalkConfig::default(), |_, _| None);
    let (items, version) = r.unwrap();
    assert_eq!(items, (0..25).collect::<Vec<_>>());
    assert_eq!(version.as_deref(), Some("v0"));
    assert_eq!(restarts, 0);
    // An empty listing is one page.
    let (r, _, _, _) = run(listing(0, 10), WalkConfig::default(), |_, _| None);
    assert!(r.unwrap().0.is_empty());
}

#[test]
fn restarts_when_the_version_changes() {
    // A purchase lands while page 1 is being read.
    let (r, restarts, _, l) = run(listing(25, 10), WalkConfig::default(), |n, l| {
        if n == 1 {
            l.items.push(100);
            l.version += 1;
        }
        None
    });
    let (items, version) = r.unwrap();
    assert_eq!(restarts, 1);
    assert_eq!(items, l.items);
    assert_eq!(version.as_deref(), Some("v1"));
}

#[test]
fn restarts_when_the_listing_shrinks() {
    // Page 2 disappears (9650) before it is read.
    let (r, restarts, _, l) = run(listing(25, 10), WalkConfig::default(), |n, l| {
        if n == 2 {
            l.items.truncate(15);
            // Same version on purpose: the out-of-range answer alone restarts.
        }
        None
    });
    assert_eq!(restarts, 1);
    assert_eq!(r.unwrap().0, l.items);
}

#[test]
fn gives_up_when_data_keeps_changing() {
    let mut c = WalkConfig::default();
    c.max_restarts(3);
    let (r, restarts, _, _) = run(listing(30, 10), c, |n, l| {
        if n % 2 == 1 {
            l.version += 1;
        }
        None
    });
    assert_eq!(restarts, 3);
    assert!(r.unwrap_err().contains("changed during 4 walks"));
}

#[test]
fn backs_off_on_throttling_and_honours_retry_after() {
    let (r, _, took, _) = run(listing(5, 10), WalkConfig::default(), |n, _| {
        (n < 3).then(throttled)
    });
    assert_eq!(r.unwrap().0.len(), 5);
    // 2 + 4 + 8 seconds of back-off.
    assert_eq!(took, Duration::from_secs(14));

    let (r, _, took, _) = run(listing(5, 10), WalkConfig::default(), |n, _| {
        (n == 0).then(|| {
            Error::Api(ApiError::new(
                503,
                Some(codes::SERVICE_UNAVAILABLE),
                None,
                pippin_http_client::RetryAfter::parse("120", None),
            ))
        })
    });
    assert!(r.is_ok());
    assert_eq!(took, Duration::from_secs(120));
}

#[test]
fn hard_errors_end_the_walk() {
    let (r, _, _, _) = run(listing(5, 10), WalkConfig::default(), |_, _| {
        Some(Error::Api(ApiError::new(
            401,
            Some(codes::TOKEN_REVOKED),
            None,
            None,
        )))
    });
    assert!(r.unwrap_err().contains("9625"));
    let mut c = WalkConfig::default();
    c.max_attempts(3);
    let (r, _, _, _) = run(listing(5, 10), c, |_, _| Some(throttled()));
    assert!(r.unwrap_err().contains("9646"));
}

#[test]
fn out_of_sequence_pages_restart() {
    let mut w = PageWalker::<AssetsPage>::new(WalkConfig::default());
    let now = Instant::now();
    assert_eq!(w.poll_request(now), Some(0));
    let mut p = listing(25, 10).page(0).unwrap();
    p.next_page_index = Some(5);
    w.handle_response(now, Ok(p));
    assert!(matches!(
        w.poll_event(),
        Some(WalkEvent::Restarted {
            generation: 1,
            reason: RestartReason::OutOfSequence {
                asked: 0,
                got: (0, Some(5))
            }
        })
    ));
    assert_eq!(w.poll_request(now), Some(0));
    // An answer nobody asked for is ignored.
    let mut idle = PageWalker::<AssetsPage>::new(WalkConfig::default());
    idle.handle_response(now, Ok(AssetsPage::default()));
    assert!(idle.poll_event().is_none());
}

#[test]
fn endless_listings_are_cut_off() {
    let mut c = WalkConfig::default();
    c.max_pages(4);
    let (r, _, _, _) = run(listing(100, 10), c, |_, _| None);
    assert!(r.unwrap_err().contains("past 4 pages"));
}

proptest! {
    /// Whatever writes and throttling happen during the walk, a finished
    /// walk's records are exactly the listing as it stood at the version
    /// the walk reports, and the walk finishes once writes stop.
    #[test]
    fn finished_walks_are_consistent(
        n in 0u32..60,
        page_size in 1usize..12,
        events in proptest::collection::vec((0u8..6, 0u32..1000), 0..12),
    ) {
        let mut snapshots = std::collections::HashMap::new();
        let base = listing(n, page_size);
        snapshots.insert(0u32, base.items.clone());
        let events2 = events.clone();
        let mut c = WalkConfig::default();
        c.max_restarts(20).max_attempts(20);
        let (r, restarts, _, _) = run(base, c, |i, l| {
            let (kind, x) = events2.get(i).copied()?;
            match kind {
                0 => { l.items.push(10_000 + x); l.version += 1; }
                1 if !l.items.is_empty() => { let k = x as usize % l.items.len(); l.items.remove(k); l.version += 1; }
                2 => return Some(throttled()),
                _ => {}
            }
            snapshots.insert(l.version, l.items.clone());
            None
        });
        let (items, version) = r.map_err(TestCaseError::fail)?;
        let v: u32 = version.unwrap().trim_start_matches('v').parse().unwrap();
        prop_assert_eq!(&items, &snapshots[&v]);
        prop_assert!(restarts <= events.len() as u32);
    }
}
