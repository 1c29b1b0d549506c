//! Talking to the Apps and Books service over HTTPS (feature `client`).
//!
//! [`VppClient`] is a thin loop around the core: it asks an [`Endpoint`]
//! for its request, sends it through a pooled HTTPS client (rustls, TLS
//! 1.2+), paces requests under Apple's per-token rate (15 a second by
//! default), and hands the answer back to [`Api`]. The walkers and the
//! event tracker are driven the same way, sleeping for their back-off.
//!
//! One client serves one content token; share it as `Arc<VppClient>`.
//!
//! ```no_run
//! # async fn demo() -> vpp_client::Result<()> {
//! use vpp_client::client::{VppClient, VppClientConfig};
//! use vpp_client::{AssetFilter, ContentToken, WalkEvent};
//!
//! let token = ContentToken::parse(&std::fs::read("site.vpptoken").unwrap())?;
//! let client = VppClient::new(token, VppClientConfig::default())?;
//! let summary = client
//!     .walk_assets(AssetFilter::default(), |event| {
//!         if let WalkEvent::Page { items, .. } = event {
//!             for a in items {
//!                 println!("{} {:?} free", a.adam_id, a.available_count);
//!             }
//!         }
//!     })
//!     .await?;
//! println!("{} assets", summary.items);
//! # Ok(()) }
//! ```

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use pippin_http_client::RetryAfter;
use pippin_http_client::client::{HttpsClient, HttpsConfig};

use crate::api::{
    Api, AssetFilter, AssignmentFilter, Associate, Config, Disassociate, Endpoint, GetAssets,
    GetAssignments, GetClientConfig, GetEventStatus, GetServiceConfig, Revoke, SetClientConfig,
    describe,
};
use crate::error::{Error, Result};
use crate::event::{EventAction, EventConfig, EventOutcome, EventTracker};
use crate::metadata::{AppMetadata, LookupMetadata, MAX_IDS_PER_LOOKUP};
use crate::model::{
    Asset, Assignment, ClientConfig, ClientConfigRequest, EventResponse, EventStatus,
    ManageAssetsRequest, RevokeAssetsRequest, ServiceConfig,
};
use crate::token::ContentToken;
use crate::walk::{Page, PageWalker, WalkConfig, WalkEvent};

/// How the client works. `Default` plus chainable setters.
#[derive(Clone, Debug)]
pub struct VppClientConfig {
    /// Request building and checking (base URL, our `mdmInfo.id`, body
    /// limit).
    pub api: Config,
    /// Trust anchors and timeouts.
    pub https: HttpsConfig,
    /// Requests per second at most (Apple: 15 per token); 0: no pacing.
    pub max_requests_per_second: u32,
    /// Tries of a single call ([`VppClient::call_retrying`]) and their
    /// back-off; also the walks' retry policy.
    pub walk: WalkConfig,
    /// The event polling schedule.
    pub event: EventConfig,
}

impl Default for VppClientConfig {
    fn default() -> Self {
        Self {
            api: Config::default(),
            https: HttpsConfig::default(),
            max_requests_per_second: 15,
            walk: WalkConfig::default(),
            event: EventConfig::default(),
        }
    }
}

impl VppClientConfig {
    /// Sets the [`base URL`](Config::base_url).
    pub fn base_url(&mut self, url: impl Into<String>) -> &mut Self {
        self.api.base_url(url);
        self
    }

    /// Adds trust anchors (PEM) for a test server.
    pub fn extra_ca_pem(&mut self, pem: impl Into<String>) -> &mut Self {
        self.https.extra_ca_pem(pem);
        self
    }

    /// Sets [`max_requests_per_second`](Self::max_requests_per_second).
    pub fn max_requests_per_second(&mut self, n: u32) -> &mut Self {
        self.max_requests_per_second = n;
        self
    }
}

/// How a walk ended.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct WalkSummary {
    /// The generation whose records stand.
    pub generation: u32,
    /// The first page's `versionId`.
    pub version_id: Option<String>,
    /// Pages of that generation.
    pub pages: u32,
    /// Records of that generation.
    pub items: u64,
    /// Times the walk started again.
    pub restarts: u32,
}

/// An Apps and Books client for one content token. Use inside a tokio
/// runtime.
#[derive(Debug)]
pub struct VppClient {
    api: Api,
    http: HttpsClient,
    config: VppClientConfig,
    pace: Mutex<Instant>,
}

impl VppClient {
    /// A client for `token`. Checks the base URL and builds the TLS
    /// setup; connects on first use.
    pub fn new(token: ContentToken, config: VppClientConfig) -> Result<Self> {
        let api = Api::new(token, Arc::new(config.api.clone()))?;
        let mut https = config.https.clone();
        https.max_body_len(config.api.max_body_len);
        let http = HttpsClient::new(&https)?;
        Ok(Self {
            api,
            http,
            config,
            pace: Mutex::new(Instant::now()),
        })
    }

    /// The core (token, configuration).
    pub fn api(&self) -> &Api {
        &self.api
    }

    /// Waits for this request's slot under the rate limit.
    async fn paced(&self) {
        let n = self.config.max_requests_per_second;
        if n == 0 {
            return;
        }
        let step = Duration::from_secs(1) / n;
        let slot = {
            // A panic while holding this lock cannot leave it inconsistent
            // (one assignment), so a poisoned lock is taken over.
            let mut next = self
                .pace
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let now = Instant::now();
            let slot = (*next).max(now);
            *next = slot + step;
            slot
        };
        tokio::time::sleep_until(tokio::time::Instant::from_std(slot)).await;
    }

    /// One exchange: sends `endpoint`'s request and reads the answer. A
    /// `Retry-After` date is turned into a delay on our clock here, so the
    /// core never needs one.
    pub async fn call<E: Endpoint>(&self, endpoint: &E) -> Result<E::Output> {
        let request = self.api.request(endpoint)?;
        self.paced().await;
        let response = self.http.send(request).await?;
        let (parts, body) = response.into_parts();
        let borrowed = http::Response::from_parts(parts, &body[..]);
        self.api
            .handle_response(endpoint, &borrowed)
            .map_err(resolve_retry_after)
    }

    /// [`call`](Self::call), tried again on throttling, server errors and
    /// transport failures with the walk configuration's back-off.
    pub async fn call_retrying<E: Endpoint>(&self, endpoint: &E) -> Result<E::Output> {
        let mut attempt = 0u32;
        loop {
            match self.call(endpoint).await {
                Err(e) if e.is_retryable() && attempt + 1 < self.config.walk.max_attempts => {
                    attempt += 1;
                    let backoff = self.config.walk.delay(attempt);
                    let asked = e.api().and_then(|a| a.retry_after).and_then(|r| r.delay());
                    let wait = asked
                        .map_or(backoff, |d| d.max(backoff))
                        .min(Duration::from_secs(3600));
                    tokio::time::sleep(wait).await;
                }
                other => return other,
            }
        }
    }

    /// `GET client/config`.
    pub async fn client_config(&self) -> Result<ClientConfig> {
        self.call_retrying(&GetClientConfig).await
    }

    /// `POST client/config`.
    pub async fn set_client_config(&self, request: ClientConfigRequest) -> Result<ClientConfig> {
        self.call_retrying(&SetClientConfig(request)).await
    }

    /// Claims the token for this server: reads the client configuration,
    /// refuses with [`Error::MdmConflict`] if another server (another
    /// `mdmInfo.id`) manages it unless `take_over`, then sets `request`
    /// (our `mdmInfo`, notification URL and secret). Returns the
    /// configuration as the service now has it.
    pub async fn claim(
        &self,
        request: ClientConfigRequest,
        take_over: bool,
    ) -> Result<ClientConfig> {
        let current = self.client_config().await?;
        if let (Some(theirs), Some(ours)) = (&current.mdm_info, &request.mdm_info)
            && !theirs.id.is_empty()
            && theirs.id != ours.id
            && !take_over
        {
            return Err(Error::MdmConflict {
                ours: ours.id.clone(),
                theirs: describe(theirs),
            });
        }
        self.set_client_config(request).await
    }

    /// `GET service/config`.
    pub async fn service_config(&self) -> Result<ServiceConfig> {
        self.call_retrying(&GetServiceConfig).await
    }

    /// Walks every page `make(page_index)` asks for, handing each event but
    /// the last to `sink`. Returns the summary of the finished walk, or
    /// the error it failed with.
    pub async fn walk<E, P>(
        &self,
        make: impl Fn(u32) -> E,
        mut sink: impl FnMut(WalkEvent<P::Item>),
    ) -> Result<WalkSummary>
    where
        E: Endpoint<Output = P>,
        P: Page,
    {
        let mut walker = PageWalker::<P>::new(self.config.walk.clone());
        let mut restarts = 0;
        loop {
            match self.next_walk_event(&mut walker, &make).await {
                WalkEvent::Done {
                    generation,
                    version_id,
                    pages,
                    items,
                } => {
                    return Ok(WalkSummary {
                        generation,
                        version_id,
                        pages,
                        items,
                        restarts,
                    });
                }
                WalkEvent::Failed { error } => return Err(error),
                e @ WalkEvent::Restarted { .. } => {
                    restarts += 1;
                    sink(e);
                }
                e => sink(e),
            }
        }
    }

    /// Drives `walker` until it has an event: asks for its pages (built by
    /// `make`) and waits out its back-off. A caller that must do async work
    /// with each page (store it) loops over this, holding one page at a
    /// time; after `Done` or `Failed` the walk is over.
    pub async fn next_walk_event<E, P>(
        &self,
        walker: &mut PageWalker<P>,
        make: impl Fn(u32) -> E,
    ) -> WalkEvent<P::Item>
    where
        E: Endpoint<Output = P>,
        P: Page,
    {
        loop {
            if let Some(event) = walker.poll_event() {
                return event;
            }
            if let Some(page) = walker.poll_request(Instant::now()) {
                let result = self.call(&make(page)).await;
                walker.handle_response(Instant::now(), result);
            } else if let Some(at) = walker.poll_timeout() {
                tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
            } else {
                // Not reachable: a walker with nothing to do has ended and
                // handed out its last event.
                return WalkEvent::Failed {
                    error: Error::InvalidRequest("the walk has ended".to_owned()),
                };
            }
        }
    }

    /// Walks `GET assets` with `filter`.
    pub async fn walk_assets(
        &self,
        filter: AssetFilter,
        sink: impl FnMut(WalkEvent<Asset>),
    ) -> Result<WalkSummary> {
        self.walk(
            |page_index| GetAssets {
                filter: filter.clone(),
                page_index,
            },
            sink,
        )
        .await
    }

    /// Walks `GET assignments` with `filter`.
    pub async fn walk_assignments(
        &self,
        filter: AssignmentFilter,
        sink: impl FnMut(WalkEvent<Assignment>),
    ) -> Result<WalkSummary> {
        self.walk(
            |page_index| GetAssignments {
                filter: filter.clone(),
                page_index,
            },
            sink,
        )
        .await
    }

    /// `POST assets/associate` (one request: at most the service's limits
    /// of assets and serial numbers).
    pub async fn associate(&self, request: ManageAssetsRequest) -> Result<EventResponse> {
        self.call_retrying(&Associate(request)).await
    }

    /// `POST assets/disassociate`.
    pub async fn disassociate(&self, request: ManageAssetsRequest) -> Result<EventResponse> {
        self.call_retrying(&Disassociate(request)).await
    }

    /// `POST assets/revoke`.
    pub async fn revoke(&self, request: RevokeAssetsRequest) -> Result<EventResponse> {
        self.call_retrying(&Revoke(request)).await
    }

    /// `GET status?eventId=`.
    pub async fn event_status(&self, event_id: &str) -> Result<EventStatus> {
        self.call(&GetEventStatus {
            event_id: event_id.to_owned(),
        })
        .await
    }

    /// Follows `event_id` to its end on the configured schedule; when it
    /// stays pending too long, `resubmit` sends the request again.
    pub async fn wait_event<F, Fut>(&self, event_id: &str, resubmit: F) -> EventOutcome
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<EventResponse>>,
    {
        let mut tracker = EventTracker::new(event_id, self.config.event.clone(), Instant::now());
        loop {
            if let Some(outcome) = tracker.take_outcome() {
                return outcome;
            }
            match tracker.poll_action(Instant::now()) {
                Some(EventAction::Poll(id)) => {
                    let r = self.event_status(&id).await;
                    tracker.handle_status(Instant::now(), r);
                }
                Some(EventAction::Resubmit) => match resubmit().await {
                    Ok(e) => tracker.resubmitted(Instant::now(), e.event_id),
                    Err(e) => tracker.resubmit_failed(e),
                },
                None => match tracker.poll_timeout() {
                    Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
                    None => {
                        if tracker.is_finished() && tracker.outcome().is_none() {
                            return EventOutcome::GaveUp(Error::InvalidRequest(
                                "the event's outcome was already taken".to_owned(),
                            ));
                        }
                    }
                },
            }
        }
    }

    /// Looks up `ids` (any number: asked in groups of 20) at `url` (the
    /// service configuration's `contentMetadataLookup`).
    pub async fn lookup_metadata(
        &self,
        url: &str,
        ids: &[String],
        platform: &str,
        country: &str,
    ) -> Result<Vec<AppMetadata>> {
        let mut out = Vec::new();
        for chunk in ids.chunks(MAX_IDS_PER_LOOKUP) {
            let mut lookup = LookupMetadata::new(url, chunk.to_vec());
            lookup.platform = platform.to_owned();
            lookup.country = country.to_ascii_lowercase();
            out.extend(self.call_retrying(&lookup).await?.items);
        }
        Ok(out)
    }
}

/// A `Retry-After` date with no `Date` header becomes a delay measured on
/// our clock.
fn resolve_retry_after(mut e: Error) -> Error {
    if let Error::Api(api) = &mut e
        && let Some(
            r @ RetryAfter::At {
                server_now: None, ..
            },
        ) = api.retry_after
    {
        api.retry_after = Some(RetryAfter::Delay(r.delay_from(SystemTime::now())));
    }
    e
}
