//! Apple's Apps and Books for Organizations API (volume purchasing, "VPP")
//! for an MDM server: content tokens, license counts, license assignment,
//! notifications and app metadata.
//!
//! What it does:
//!
//! - reads the content token an administrator downloads from Apple
//!   Business Manager ([`ContentToken`]): the whole file is the
//!   credential; its expiry is reported;
//! - builds every request of the v2 API and reads every answer
//!   ([`Api`], [`Endpoint`]): client configuration (claiming the token
//!   for this server with `mdmInfo`, notification URL and secret), service
//!   configuration (limits, URLs), assets and assignments with their
//!   filters and paging, associate / disassociate / revoke, event status;
//!   error answers become [`Error::Api`] with Apple's error number whatever
//!   the HTTP status, and a token another MDM server took over becomes
//!   [`Error::MdmConflict`];
//! - walks paged listings to their end ([`PageWalker`]), starting again
//!   when `versionId` changes under it, with back-off on throttling;
//! - follows asynchronous jobs to their end ([`EventTracker`]) on Apple's
//!   polling schedule, hurried by notifications;
//! - reads the notifications Apple posts ([`Notification`]) and checks
//!   their bearer secret ([`authorized`]);
//! - looks up app metadata by Adam ID ([`LookupMetadata`]);
//! - with the `client` feature, `client::VppClient` sends all of this over
//!   HTTPS; with `simulator`, `simulator::Simulator` is a loopback server
//!   that behaves like Apple's service, quirks included.
//!
//! What it does not do: the core has no I/O, no clock and no randomness —
//! `now` is an input. It does not store tokens, assets or assignments, and
//! it does not install apps (the MDM service queues `InstallApplication`
//! once a license is associated). User-based licensing (inviting users)
//! is not covered; associating licenses with client user ids is.
//!
//! ```
//! use std::sync::Arc;
//! use vpp_client::{Api, Config, ContentToken, GetAssets, AssetFilter};
//! # use base64::Engine as _;
//! # let file = base64::engine::general_purpose::STANDARD.encode(r#"{"token":"t","expDate":"2030-01-01T00:00:00+0000","orgName":"Example"}"#);
//! let token = ContentToken::parse(file.as_bytes())?;
//! let api = Api::new(token, Arc::new(Config::default()))?;
//! let call = GetAssets { filter: AssetFilter::default(), page_index: 0 };
//! let request = api.request(&call)?;
//! // ... a client sends it and hands back the answer:
//! let answer = http::Response::builder().status(200).body(&br#"{"assets":[{"adamId":"361309726",
//!     "pricingParam":"STDQ","assignedCount":3,"availableCount":7,"totalCount":10,"deviceAssignable":true}],
//!     "currentPageIndex":0,"size":1,"totalPages":1,"versionId":"v1"}"#[..]).unwrap();
//! let page = api.handle_response(&call, &answer)?;
//! assert_eq!(page.assets[0].available_count, Some(7));
//! # Ok::<(), vpp_client::Error>(())
//! ```

#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod api;
mod error;
mod event;
mod metadata;
mod model;
mod notification;
mod token;
mod walk;

#[cfg(feature = "client")]
pub mod client;
#[cfg(feature = "simulator")]
pub mod simulator;

pub use api::{
    Api, AssetFilter, AssignmentFilter, Associate, Config, DEFAULT_BASE_URL, DEFAULT_MAX_BODY_LEN,
    Disassociate, Endpoint, GetAssets, GetAssignments, GetClientConfig, GetEventStatus,
    GetServiceConfig, Revoke, SetClientConfig, describe,
};
pub use error::{ApiError, Error, Result, codes};
pub use event::{EventAction, EventConfig, EventOutcome, EventTracker};
pub use metadata::{AppMetadata, LookupMetadata, MAX_IDS_PER_LOOKUP, MetadataPage};
pub use model::{
    Asset, AssetRef, AssetsPage, Assignment, AssignmentsPage, ClientConfig, ClientConfigRequest,
    Envelope, ErrorCodeEntry, ErrorInfo, ErrorResponse, EventResponse, EventState, EventStatus,
    Limits, ManageAssetsRequest, MdmInfo, PricingParam, RevokeAssetsRequest, ServiceConfig,
    notification_types,
};
pub use notification::{
    AssetCount, AssetManagement, MAX_NOTIFICATION_LEN, Notification, NotificationBody, authorized,
};
pub use token::{ContentToken, MAX_TOKEN_FILE_LEN};
pub use walk::{Page, PageWalker, RestartReason, WalkConfig, WalkEvent};
