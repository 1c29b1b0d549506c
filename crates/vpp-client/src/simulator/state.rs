//! The simulator's state and rules, without I/O: locations, tokens,
//! assets, assignments, events, and what each request does to them.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant, SystemTime};

use pippin_http_client::{Offset, format_timestamp};
use serde_json::{Value, json};

use crate::error::codes;
use crate::model::{AssetRef, MdmInfo, PricingParam};

/// Apple's limits (service/config), as the simulator enforces them.
pub(crate) const MAX_ASSETS: usize = 25;
pub(crate) const MAX_SERIALS: usize = 1000;
pub(crate) const MAX_USERS: usize = 1000;
pub(crate) const MAX_REVOKE: usize = 100;
/// `totalCount` of an unlimited (free) asset.
pub const UNLIMITED: i64 = 2_147_483_647;

/// An answer: status, JSON body, `Retry-After`.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: Value,
    pub(crate) retry_after: Option<u64>,
}

impl Reply {
    pub(crate) fn ok(body: Value) -> Self {
        Self {
            status: 200,
            body,
            retry_after: None,
        }
    }

    pub(crate) fn error(status: u16, number: i64, message: &str) -> Self {
        Self {
            status,
            body: json!({ "errorNumber": number, "errorMessage": message }),
            retry_after: None,
        }
    }
}

/// A notification to deliver.
#[derive(Clone, Debug)]
pub(crate) struct Outgoing {
    pub(crate) url: String,
    pub(crate) secret: String,
    pub(crate) body: Value,
}

/// Who holds a license.
#[derive(Clone, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub(crate) enum Holder {
    Serial(String),
    User(String),
}

impl Holder {
    fn json(&self, o: &mut serde_json::Map<String, Value>) {
        match self {
            Self::Serial(s) => o.insert("serialNumber".into(), json!(s)),
            Self::User(u) => o.insert("clientUserId".into(), json!(u)),
        };
    }
}

/// An asset the location owns.
#[derive(Clone, Debug)]
pub(crate) struct AssetRec {
    pub(crate) product_type: String,
    pub(crate) total: i64,
    pub(crate) retired: i64,
    pub(crate) device_assignable: bool,
    pub(crate) revocable: bool,
    pub(crate) unlimited: bool,
    pub(crate) platforms: Vec<String>,
}

/// Catalogue data the lookup endpoint serves.
#[derive(Clone, Debug)]
pub(crate) struct CatalogItem {
    pub(crate) name: String,
    pub(crate) bundle_id: String,
    pub(crate) version: String,
    pub(crate) families: Vec<String>,
    pub(crate) custom: bool,
}

type AssetKey = (String, String);

#[derive(Debug)]
struct Task {
    asset: AssetKey,
    holder: Holder,
}

#[derive(Debug)]
pub(crate) struct Event {
    kind: &'static str,
    location: usize,
    tasks: VecDeque<Task>,
    requested: i64,
    completed: i64,
    /// errorNumber → (message, assets, holders)
    failures: BTreeMap<i64, (String, BTreeSet<AssetKey>, BTreeSet<Holder>)>,
    not_before: Instant,
}

/// One location (library) of an organisation.
#[derive(Debug)]
pub(crate) struct Location {
    pub(crate) u_id: String,
    pub(crate) name: String,
    pub(crate) country: String,
    pub(crate) mdm_info: Option<MdmInfo>,
    pub(crate) notification_url: Option<String>,
    pub(crate) notification_secret: Option<String>,
    pub(crate) notification_types: Vec<String>,
    pub(crate) assets: BTreeMap<AssetKey, AssetRec>,
    /// (asset, holder) → the version it last changed at.
    pub(crate) assignments: BTreeMap<(AssetKey, Holder), u64>,
    /// Counts of assignments per asset.
    pub(crate) assigned: HashMap<AssetKey, i64>,
    pub(crate) version: u64,
    /// Versions ever issued, so `sinceVersionId` can be checked.
    issued: BTreeSet<u64>,
    /// The listing last built, for paging without rebuilding.
    cache: Option<(String, u64, Vec<Value>)>,
}

impl Location {
    fn new(u_id: String, name: String) -> Self {
        let mut issued = BTreeSet::new();
        issued.insert(1);
        Self {
            u_id,
            name,
            country: "US".to_owned(),
            mdm_info: None,
            notification_url: None,
            notification_secret: None,
            notification_types: Vec::new(),
            assets: BTreeMap::new(),
            assignments: BTreeMap::new(),
            assigned: HashMap::new(),
            version: 1,
            issued,
            cache: None,
        }
    }

    pub(crate) fn cache_reset(&mut self) {
        self.issued.insert(self.version);
        self.cache = None;
    }

    fn bump(&mut self) {
        self.version += 1;
        self.issued.insert(self.version);
        self.cache = None;
    }

    fn available(&self, key: &AssetKey) -> i64 {
        let Some(a) = self.assets.get(key) else {
            return 0;
        };
        if a.unlimited {
            return UNLIMITED;
        }
        a.total - self.assigned.get(key).copied().unwrap_or(0)
    }

    fn notify(&self, kind: &str, notification: Value, id: u64) -> Option<Outgoing> {
        let url = self.notification_url.clone()?;
        let secret = self.notification_secret.clone()?;
        if kind != "TEST_NOTIFICATION" && !self.notification_types.iter().any(|t| t == kind) {
            return None;
        }
        Some(Outgoing {
            url,
            secret,
            body: json!({
                "notification": notification,
                "notificationId": format!("{:08x}-0000-4000-8000-{:012x}", id >> 16, id & 0xffff_ffff_ffff),
                "notificationType": kind,
                "uId": self.u_id,
            }),
        })
    }
}

/// A content token the simulator knows.
#[derive(Debug)]
pub(crate) struct TokenRec {
    pub(crate) location: usize,
    pub(crate) expiry: SystemTime,
    pub(crate) revoked: bool,
}

/// Quirks and rates, settable by tests.
#[derive(Clone, Debug)]
pub(crate) struct Behaviour {
    pub(crate) page_size: usize,
    pub(crate) max_requests_per_second: u32,
    pub(crate) errors_with_200: bool,
    pub(crate) duplicate_notifications: bool,
    pub(crate) event_latency: Duration,
    pub(crate) event_batch: usize,
    pub(crate) allow_http_notification_urls: bool,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            page_size: 500,
            max_requests_per_second: 15,
            errors_with_200: false,
            duplicate_notifications: false,
            event_latency: Duration::from_millis(50),
            event_batch: 100,
            allow_http_notification_urls: false,
        }
    }
}

/// A change scheduled to happen when the request counter reaches a value
/// (data changing under a walk).
#[derive(Debug)]
pub(crate) enum Scheduled {
    Purchase {
        location: usize,
        adam_id: String,
        delta: i64,
    },
}

/// Everything the simulator holds.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) behaviour: Behaviour,
    pub(crate) locations: Vec<Location>,
    pub(crate) tokens: HashMap<String, TokenRec>,
    pub(crate) catalog: HashMap<String, CatalogItem>,
    pub(crate) events: HashMap<String, Event>,
    pub(crate) requests: u64,
    pub(crate) scheduled: Vec<(u64, Scheduled)>,
    /// Injected answers: throttle (9646) and unavailable (9729).
    pub(crate) throttle_next: u32,
    pub(crate) unavailable_next: Vec<u64>,
    /// Request times per token, for the rate limit.
    rate: HashMap<String, VecDeque<Instant>>,
    next_id: u64,
    /// Requests seen: (method, path and query).
    pub(crate) log: Vec<(String, String)>,
    /// `http://host:port` of the simulator, for the absolute URLs of the
    /// service configuration.
    pub(crate) origin: String,
}

/// A request, as the HTTP layer hands it over.
#[derive(Debug)]
pub(crate) struct Request<'a> {
    pub(crate) method: &'a str,
    pub(crate) path: &'a str,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) authorization: Option<&'a str>,
    pub(crate) cookie: Option<&'a str>,
    pub(crate) content_type: Option<&'a str>,
    pub(crate) body: &'a [u8],
}

impl Request<'_> {
    fn q(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What handling a request produced.
pub(crate) struct Handled {
    pub(crate) reply: Reply,
    pub(crate) notifications: Vec<Outgoing>,
    /// A client configuration waiting for its test notification:
    /// (location, new settings).
    pub(crate) pending_config: Option<(usize, PendingConfig)>,
}

/// Client configuration settings to apply once the test notification
/// went through.
#[derive(Clone, Debug)]
pub(crate) struct PendingConfig {
    pub(crate) mdm_info: Option<Option<MdmInfo>>,
    pub(crate) url: Option<String>,
    pub(crate) secret: Option<String>,
    pub(crate) types: Option<Vec<String>>,
}

impl From<Reply> for Handled {
    fn from(reply: Reply) -> Self {
        Self {
            reply,
            notifications: Vec::new(),
            pending_config: None,
        }
    }
}

fn version_id(v: u64) -> String {
    format!(
        "{:08x}-514c-11eb-bb63-{:012x}",
        v.wrapping_mul(2_654_435_761) & 0xffff_ffff,
        v
    )
}

fn parse_version_id(s: &str) -> Option<u64> {
    u64::from_str_radix(s.rsplit('-').next()?, 16).ok()
}

impl State {
    pub(crate) fn new_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Adds a location; returns its index.
    pub(crate) fn add_location(&mut self, name: &str) -> usize {
        let id = self.new_id();
        self.locations
            .push(Location::new(format!("20490250{:08}", id), name.to_owned()));
        self.locations.len() - 1
    }

    fn common(&self, loc: &Location, token: &TokenRec) -> serde_json::Map<String, Value> {
        let mut m = serde_json::Map::new();
        m.insert(
            "tokenExpirationDate".into(),
            json!(format_timestamp(token.expiry, Offset::Numeric)),
        );
        m.insert("uId".into(), json!(loc.u_id));
        if let Some(info) = &loc.mdm_info {
            m.insert("mdmInfo".into(), json!(info));
        }
        m
    }

    fn with_common(&self, loc: usize, token: &str, body: Value) -> Value {
        let mut m = match body {
            Value::Object(m) => m,
            _ => serde_json::Map::new(),
        };
        if let Some(t) = self.tokens.get(token) {
            m.extend(self.common(&self.locations[loc], t));
        }
        Value::Object(m)
    }

    /// Applies scheduled changes that are due; returns notifications.
    fn run_scheduled(&mut self) -> Vec<Outgoing> {
        let now = self.requests;
        let (due, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.scheduled)
            .into_iter()
            .partition(|(at, _)| *at <= now);
        self.scheduled = rest;
        let mut out = Vec::new();
        for (_, s) in due {
            match s {
                Scheduled::Purchase {
                    location,
                    adam_id,
                    delta,
                } => out.extend(self.purchase(location, &adam_id, delta)),
            }
        }
        out
    }

    /// Licenses bought (or refunded, `delta < 0`): counts change, the
    /// version moves, `ASSET_COUNT` goes out.
    pub(crate) fn purchase(
        &mut self,
        location: usize,
        adam_id: &str,
        delta: i64,
    ) -> Option<Outgoing> {
        let id = self.new_id();
        let loc = self.locations.get_mut(location)?;
        let key = (adam_id.to_owned(), "STDQ".to_owned());
        let a = loc.assets.entry(key).or_insert_with(|| AssetRec {
            product_type: "App".to_owned(),
            total: 0,
            retired: 0,
            device_assignable: true,
            revocable: true,
            unlimited: false,
            platforms: vec!["iOS".to_owned()],
        });
        a.total = (a.total + delta).max(0);
        loc.bump();
        loc.notify(
            "ASSET_COUNT",
            json!({ "adamId": adam_id, "countDelta": delta, "pricingParam": "STDQ" }),
            id,
        )
    }

    /// Authenticates: the token's location, or the error Apple answers.
    fn authenticate(&self, r: &Request<'_>, now: SystemTime) -> Result<(usize, String), Reply> {
        let Some(value) = r.authorization else {
            return Err(Reply::error(
                401,
                codes::BAD_AUTHORIZATION,
                "Authorization header missing. Use the format 'Bearer {sToken}'.",
            ));
        };
        let Some(token) = value.strip_prefix("Bearer ") else {
            return Err(Reply::error(
                401,
                codes::BAD_AUTHORIZATION,
                "Authorization header is malformed. Use the format 'Bearer {sToken}'.",
            ));
        };
        let token = token.trim();
        let Some(rec) = self.tokens.get(token) else {
            return Err(Reply::error(
                401,
                codes::INVALID_TOKEN,
                "Invalid authentication token.",
            ));
        };
        if rec.revoked {
            return Err(Reply::error(
                401,
                codes::TOKEN_REVOKED,
                "The server has revoked the sToken.",
            ));
        }
        if rec.expiry <= now {
            return Err(Reply::error(
                401,
                codes::TOKEN_EXPIRED,
                "The sToken has expired. Generate a new one.",
            ));
        }
        Ok((rec.location, token.to_owned()))
    }

    /// The sliding one-second window of requests for `token`.
    fn rate_limited(&mut self, token: &str, now: Instant) -> bool {
        let limit = self.behaviour.max_requests_per_second;
        if limit == 0 {
            return false;
        }
        let q = self.rate.entry(token.to_owned()).or_default();
        while q
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
        {
            q.pop_front();
        }
        if q.len() >= limit as usize {
            return true;
        }
        q.push_back(now);
        false
    }

    /// Handles one request.
    pub(crate) fn handle(
        &mut self,
        r: &Request<'_>,
        now: Instant,
        wall: SystemTime,
        lookup_path: &str,
    ) -> Handled {
        self.requests += 1;
        self.log.push((
            r.method.to_owned(),
            if r.query.is_empty() {
                r.path.to_owned()
            } else {
                format!(
                    "{}?{}",
                    r.path,
                    r.query
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join("&")
                )
            },
        ));
        let mut scheduled = self.run_scheduled();
        let mut h = self.route(r, now, wall, lookup_path);
        h.notifications.append(&mut scheduled);
        if self.behaviour.errors_with_200 && h.reply.status >= 400 && h.reply.status != 429 {
            h.reply.status = 200;
        }
        h
    }

    fn route(
        &mut self,
        r: &Request<'_>,
        now: Instant,
        wall: SystemTime,
        lookup_path: &str,
    ) -> Handled {
        if r.path == lookup_path {
            return self.lookup(r).into();
        }
        let Some(path) = r.path.strip_prefix("/mdm/v2/") else {
            return Reply::error(404, codes::INVALID_ARGUMENT, "Not found.").into();
        };
        let allowed: &[&str] = match path {
            "service/config" | "assets" | "assignments" | "status" => &["GET"],
            "client/config" => &["GET", "POST"],
            "assets/associate" | "assets/disassociate" | "assets/revoke" => &["POST"],
            _ => return Reply::error(404, codes::INVALID_ARGUMENT, "Not found.").into(),
        };
        if !allowed.contains(&r.method) {
            return Reply::error(
                405,
                codes::METHOD_NOT_ALLOWED,
                "This request contains an unsupported HTTP method for the requested endpoint.",
            )
            .into();
        }
        if path == "service/config" {
            return self.service_config(lookup_path).into();
        }
        if self.throttle_next > 0 {
            self.throttle_next -= 1;
            return Reply::error(
                429,
                codes::TOO_MANY_REQUESTS,
                "There have been too many recent calls. Please try again later.",
            )
            .into();
        }
        if !self.unavailable_next.is_empty() {
            let retry = self.unavailable_next.remove(0);
            let mut reply = Reply::error(
                503,
                codes::SERVICE_UNAVAILABLE,
                "The service is temporarily unavailable.",
            );
            reply.retry_after = Some(retry);
            return reply.into();
        }
        let (loc, token) = match self.authenticate(r, wall) {
            Ok(v) => v,
            Err(reply) => return reply.into(),
        };
        if self.rate_limited(&token, now) {
            return Reply::error(
                429,
                codes::TOO_MANY_REQUESTS,
                "There have been too many recent calls. Please try again later.",
            )
            .into();
        }
        if r.method == "POST"
            && !r
                .content_type
                .is_some_and(|c| c.starts_with("application/json"))
        {
            return Reply::error(
                415,
                codes::UNSUPPORTED_CONTENT_TYPE,
                "The request contains an unsupported content type.",
            )
            .into();
        }
        let body: Value = if r.method == "POST" {
            match serde_json::from_slice(r.body) {
                Ok(v @ Value::Object(_)) => v,
                _ => {
                    return Reply::error(
                        400,
                        codes::INVALID_ARGUMENT,
                        "The request body is not a JSON object.",
                    )
                    .into();
                }
            }
        } else {
            Value::Null
        };
        let reply = match (r.method, path) {
            ("GET", "client/config") => Ok(self.client_config_json(loc)),
            ("POST", "client/config") => return self.set_client_config(loc, &token, &body),
            ("GET", "assets") => self.assets(loc, r),
            ("GET", "assignments") => self.assignments(loc, r),
            ("POST", "assets/associate") => return self.manage(loc, &token, &body, true, now),
            ("POST", "assets/disassociate") => return self.manage(loc, &token, &body, false, now),
            ("POST", "assets/revoke") => return self.revoke(loc, &token, &body, now),
            ("GET", "status") => self.status(loc, r, now),
            _ => Err(Reply::error(
                405,
                codes::METHOD_NOT_ALLOWED,
                "Unsupported method.",
            )),
        };
        match reply {
            Ok(body) => Reply::ok(self.with_common(loc, &token, body)).into(),
            Err(e) => e.into(),
        }
    }

    fn service_config(&self, lookup_path: &str) -> Reply {
        let base = format!("{}/mdm/v2", self.origin);
        let lookup = format!("{}{lookup_path}", self.origin);
        Reply::ok(json!({
            "errorCodes": [
                {"errorNumber": 9601, "errorMessage": "Login required."},
                {"errorNumber": 9621, "errorMessage": "The sToken has expired."},
                {"errorNumber": 9625, "errorMessage": "The server has revoked the sToken."},
                {"errorNumber": 9646, "errorMessage": "There have been too many recent calls."},
                {"errorNumber": 9709, "errorMessage": "There aren't enough assets available."}
            ],
            "limits": {
                "maxAssets": MAX_ASSETS, "maxClientUserIds": MAX_USERS, "maxSerialNumbers": MAX_SERIALS,
                "maxRevokeClientUserIds": MAX_REVOKE, "maxRevokeSerialNumbers": MAX_REVOKE,
                "maxRequestPerSecond": self.behaviour.max_requests_per_second,
                "maxNotificationLength": 512, "maxMdmNameLength": 100, "maxMdmMetadataLength": 255,
                "maxMdmIdLength": 100, "maxUsers": 100
            },
            "notificationTypes": ["ASSET_COUNT", "ASSET_MANAGEMENT", "USER_MANAGEMENT", "USER_ASSOCIATED"],
            "urls": {
                "associateAssets": format!("{base}/assets/associate"),
                "clientConfig": format!("{base}/client/config"),
                "contentMetadataLookup": lookup,
                "disassociateAssets": format!("{base}/assets/disassociate"),
                "eventStatus": format!("{base}/status"),
                "getAssets": format!("{base}/assets"),
                "getAssignments": format!("{base}/assignments"),
                "revokeAssets": format!("{base}/assets/revoke")
            }
        }))
    }

    pub(crate) fn client_config_json(&self, loc: usize) -> Value {
        let l = &self.locations[loc];
        let mut v = json!({
            "countryISO2ACode": l.country,
            "defaultPlatform": "enterprisestore",
            "locationName": l.name,
            "subscribedNotificationTypes": l.notification_types,
            "websiteURL": "https://business.apple.com",
        });
        if let Some(u) = &l.notification_url {
            v["notificationUrl"] = json!(u);
        }
        if let Some(s) = &l.notification_secret {
            v["notificationAuthToken"] = json!(s);
        }
        v
    }

    fn set_client_config(&mut self, loc: usize, token: &str, body: &Value) -> Handled {
        let bad = |n, m: &str| Handled::from(Reply::error(400, n, m));
        let mut pending = PendingConfig {
            mdm_info: None,
            url: None,
            secret: None,
            types: None,
        };
        if let Some(info) = body.get("mdmInfo") {
            let s = |k| info.get(k).and_then(Value::as_str).map(str::to_owned);
            match (s("id"), s("metadata"), s("name")) {
                (Some(id), Some(metadata), Some(name)) => {
                    if id.len() > 100 {
                        return bad(9724, "The mdmInfo id is too long.");
                    }
                    if name.len() > 100 {
                        return bad(9725, "The mdmInfo name is too long.");
                    }
                    if metadata.len() > 255 {
                        return bad(9713, "The mdmInfo metadata is too long.");
                    }
                    pending.mdm_info = Some(Some(MdmInfo { id, metadata, name }));
                }
                _ => return bad(9723, "mdmInfo needs id, metadata and name."),
            }
        }
        let url = body.get("notificationUrl").and_then(Value::as_str);
        let secret = body.get("notificationAuthToken").and_then(Value::as_str);
        if url.is_some() != secret.is_some() {
            return bad(
                9710,
                "The notification URL and authentication token go together.",
            );
        }
        if let (Some(url), Some(secret)) = (url, secret) {
            if url.len() > 512 || secret.len() > 512 {
                return bad(9711, "The notification URL or token is too long.");
            }
            let https = url.starts_with("https://");
            let loopback_http = self.behaviour.allow_http_notification_urls
                && url.starts_with("http://")
                && url
                    .trim_start_matches("http://")
                    .split(['/', ':'])
                    .next()
                    .is_some_and(pippin_http_client::is_loopback_host);
            if !(https || loopback_http) || url.contains('?') {
                return bad(
                    9712,
                    "The notification URL must be an HTTPS URL with a host and a path.",
                );
            }
            pending.url = Some(url.to_owned());
            pending.secret = Some(secret.to_owned());
        }
        if let Some(types) = body.get("notificationTypes") {
            let Some(list) = types.as_array() else {
                return bad(codes::INVALID_ARGUMENT, "notificationTypes must be a list.");
            };
            let known = [
                "ASSET_MANAGEMENT",
                "ASSET_COUNT",
                "USER_MANAGEMENT",
                "USER_ASSOCIATED",
                "SUBSCRIPTION_MANAGEMENT",
                "SUBSCRIPTION_COUNT",
                "UNLIMITED_ASSET",
                "TEST_NOTIFICATION",
            ];
            let mut out = Vec::new();
            for t in list {
                match t.as_str() {
                    Some(s) if known.contains(&s) => out.push(s.to_owned()),
                    _ => return bad(codes::INVALID_ARGUMENT, "Unknown notification type."),
                }
            }
            pending.types = Some(out);
        }
        if let (Some(url), Some(secret)) = (&pending.url, &pending.secret) {
            // The settings apply once the test notification is delivered.
            let id = self.new_id();
            let u_id = self.locations[loc].u_id.clone();
            let test = Outgoing {
                url: url.clone(),
                secret: secret.clone(),
                body: json!({
                    "notification": {},
                    "notificationId": format!("{:08x}-0000-4000-8000-{id:012x}", id & 0xffff_ffff),
                    "notificationType": "TEST_NOTIFICATION",
                    "uId": u_id,
                }),
            };
            let _ = token;
            return Handled {
                reply: Reply::ok(Value::Null),
                notifications: vec![test],
                pending_config: Some((loc, pending)),
            };
        }
        self.apply_config(loc, &pending);
        Reply::ok(self.with_common(loc, token, self.client_config_json(loc))).into()
    }

    pub(crate) fn apply_config(&mut self, loc: usize, p: &PendingConfig) {
        let l = &mut self.locations[loc];
        if let Some(info) = &p.mdm_info {
            l.mdm_info.clone_from(info);
        }
        if p.url.is_some() {
            l.notification_url.clone_from(&p.url);
            l.notification_secret.clone_from(&p.secret);
        }
        if let Some(t) = &p.types {
            l.notification_types.clone_from(t);
        }
    }

    pub(crate) fn finish_config(&mut self, token: &str, loc: usize) -> Value {
        self.with_common(loc, token, self.client_config_json(loc))
    }

    fn page_of(
        &mut self,
        loc: usize,
        key: String,
        build: impl FnOnce(&Location) -> Vec<Value>,
        page: i64,
    ) -> Result<(Value, i64, i64, u64), Reply> {
        let size = self.behaviour.page_size.max(1);
        let l = &mut self.locations[loc];
        let fresh = match &l.cache {
            Some((k, v, _)) => *k != key || *v != l.version,
            None => true,
        };
        if fresh {
            let items = build(l);
            l.cache = Some((key, l.version, items));
        }
        let Some((_, version, items)) = &l.cache else {
            return Err(Reply::error(500, codes::INTERNAL_ERROR, "Internal error."));
        };
        let total_pages = items.len().div_ceil(size).max(1) as i64;
        if page < 0 || page >= total_pages {
            return Err(Reply::error(
                400,
                codes::PAGE_INDEX_OUT_OF_RANGE,
                "The page index is out of range.",
            ));
        }
        let start = page as usize * size;
        let slice: Vec<Value> = items.iter().skip(start).take(size).cloned().collect();
        Ok((Value::Array(slice), total_pages, page, *version))
    }

    fn paged(
        &mut self,
        loc: usize,
        r: &Request<'_>,
        field: &str,
        key: String,
        build: impl FnOnce(&Location) -> Vec<Value>,
    ) -> Result<Value, Reply> {
        let page = match r.q("pageIndex") {
            None => 0,
            Some(p) => p.parse::<i64>().map_err(|_| {
                Reply::error(
                    400,
                    codes::PAGE_INDEX_OUT_OF_RANGE,
                    "The page index is invalid.",
                )
            })?,
        };
        let (items, total_pages, page, version) = self.page_of(loc, key, build, page)?;
        let size = items.as_array().map_or(0, Vec::len);
        let mut v = json!({
            field: items,
            "currentPageIndex": page,
            "size": size,
            "totalPages": total_pages,
            "versionId": version_id(version),
        });
        if page + 1 < total_pages {
            v["nextPageIndex"] = json!(page + 1);
        }
        Ok(v)
    }

    fn assets(&mut self, loc: usize, r: &Request<'_>) -> Result<Value, Reply> {
        let boolean = |name: &str| -> Result<Option<bool>, Reply> {
            match r.q(name) {
                None => Ok(None),
                Some("true") => Ok(Some(true)),
                Some("false") => Ok(Some(false)),
                Some(_) => Err(Reply::error(
                    400,
                    codes::INVALID_ARGUMENT,
                    "Invalid boolean argument.",
                )),
            }
        };
        let number = |name: &str| -> Result<Option<i64>, Reply> {
            r.q(name)
                .map(|v| {
                    v.parse::<i64>().map_err(|_| {
                        Reply::error(400, codes::INVALID_ARGUMENT, "Invalid number argument.")
                    })
                })
                .transpose()
        };
        let adam = r.q("adamId").map(str::to_owned);
        let pricing = r.q("pricingParam").map(str::to_owned);
        let product = r.q("productType").map(str::to_owned);
        let revocable = boolean("revocable")?;
        let device = boolean("deviceAssignable")?;
        let unlimited = boolean("unlimited")?;
        let (max_av, min_av) = (number("maxAvailableCount")?, number("minAvailableCount")?);
        let (max_as, min_as) = (number("maxAssignedCount")?, number("minAssignedCount")?);
        let key = format!(
            "assets|{:?}",
            r.query
                .iter()
                .filter(|(k, _)| k != "pageIndex")
                .collect::<Vec<_>>()
        );
        let mut unlimited_assets = Vec::new();
        let mut page = self.paged(loc, r, "assets", key, |l| {
            let mut out = Vec::new();
            for ((id, pp), a) in &l.assets {
                let assigned = l
                    .assigned
                    .get(&(id.clone(), pp.clone()))
                    .copied()
                    .unwrap_or(0);
                let available = l.available(&(id.clone(), pp.clone()));
                let keep = adam.as_ref().is_none_or(|x| x == id)
                    && pricing.as_ref().is_none_or(|x| x == pp)
                    && product.as_ref().is_none_or(|x| *x == a.product_type)
                    && revocable.is_none_or(|x| x == a.revocable)
                    && device.is_none_or(|x| x == a.device_assignable)
                    && max_av.is_none_or(|x| available <= x)
                    && min_av.is_none_or(|x| available >= x)
                    && max_as.is_none_or(|x| assigned <= x)
                    && min_as.is_none_or(|x| assigned >= x)
                    && !(a.unlimited && unlimited == Some(false));
                if !keep {
                    continue;
                }
                let mut v = json!({
                    "adamId": id, "pricingParam": pp, "productType": a.product_type,
                    "assignedCount": assigned, "deviceAssignable": a.device_assignable,
                    "revocable": a.revocable, "supportedPlatforms": a.platforms,
                });
                if a.unlimited && unlimited == Some(true) {
                    unlimited_assets.push(v);
                    continue;
                }
                v["availableCount"] = json!(available);
                v["retiredCount"] = json!(a.retired);
                v["totalCount"] = json!(if a.unlimited { UNLIMITED } else { a.total });
                out.push(v);
            }
            out
        })?;
        if !unlimited_assets.is_empty() && page["currentPageIndex"] == 0 {
            page["unlimitedAssets"] = Value::Array(unlimited_assets);
        }
        Ok(page)
    }

    fn assignments(&mut self, loc: usize, r: &Request<'_>) -> Result<Value, Reply> {
        let since = match r.q("sinceVersionId") {
            None => None,
            Some(s) => {
                let l = &self.locations[loc];
                match parse_version_id(s).filter(|v| l.issued.contains(v) && version_id(*v) == s) {
                    Some(v) => Some(v),
                    None => {
                        return Err(Reply::error(
                            400,
                            codes::INVALID_VERSION_ID,
                            "Invalid version ID.",
                        ));
                    }
                }
            }
        };
        let adam = r.q("adamId").map(str::to_owned);
        let user = r.q("clientUserId").map(str::to_owned);
        let serial = r.q("serialNumber").map(str::to_owned);
        let pricing = r.q("pricingParam").map(str::to_owned);
        let key = format!(
            "assignments|{:?}",
            r.query
                .iter()
                .filter(|(k, _)| k != "pageIndex")
                .collect::<Vec<_>>()
        );
        self.paged(loc, r, "assignments", key, |l| {
            l.assignments
                .iter()
                .filter(|(((id, pp), holder), changed)| {
                    adam.as_ref().is_none_or(|x| x == id)
                        && pricing.as_ref().is_none_or(|x| x == pp)
                        && since.is_none_or(|s| **changed > s)
                        && match holder {
                            Holder::Serial(s) => {
                                user.is_none() && serial.as_ref().is_none_or(|x| x == s)
                            }
                            Holder::User(u) => {
                                serial.is_none() && user.as_ref().is_none_or(|x| x == u)
                            }
                        }
                })
                .map(|(((id, pp), holder), _)| {
                    let mut o = serde_json::Map::new();
                    o.insert("adamId".into(), json!(id));
                    o.insert("pricingParam".into(), json!(pp));
                    holder.json(&mut o);
                    Value::Object(o)
                })
                .collect()
        })
    }

    fn manage(
        &mut self,
        loc: usize,
        token: &str,
        body: &Value,
        associate: bool,
        now: Instant,
    ) -> Handled {
        let bad = |n, m: &str| Handled::from(Reply::error(400, n, m));
        let Some(assets) = body
            .get("assets")
            .and_then(Value::as_array)
            .filter(|a| !a.is_empty())
        else {
            return bad(codes::NO_ASSETS, "The request must contain assets.");
        };
        let strings = |k: &str| -> Option<Vec<String>> {
            body.get(k).and_then(Value::as_array).map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
        };
        let serials = strings("serialNumbers").unwrap_or_default();
        let users = strings("clientUserIds").unwrap_or_default();
        if serials.is_empty() && users.is_empty() {
            return bad(
                codes::NO_TARGETS,
                "The request must contain clientUserIds or serialNumbers.",
            );
        }
        if assets.len() > MAX_ASSETS {
            return bad(codes::TOO_MANY_ASSETS, "Too many assets in the request.");
        }
        if users.len() > MAX_USERS {
            return bad(
                codes::TOO_MANY_CLIENT_USER_IDS,
                "Too many clientUserIds in the request.",
            );
        }
        if serials.len() > MAX_SERIALS {
            return bad(
                codes::TOO_MANY_SERIAL_NUMBERS,
                "Too many serialNumbers in the request.",
            );
        }
        let mut keys = Vec::new();
        for a in assets {
            let Some(id) = a.get("adamId").and_then(Value::as_str) else {
                return bad(codes::INVALID_ARGUMENT, "Each asset needs an adamId.");
            };
            // Apple's examples leave pricingParam out at times: STDQ.
            let pp = a
                .get("pricingParam")
                .and_then(Value::as_str)
                .unwrap_or("STDQ");
            let key = (id.to_owned(), pp.to_owned());
            if keys.contains(&key) {
                return bad(
                    codes::DUPLICATE_ASSETS,
                    "The request contains duplicate assets.",
                );
            }
            keys.push(key);
        }
        if BTreeSet::from_iter(&users).len() != users.len() {
            return bad(
                codes::DUPLICATE_CLIENT_USER_IDS,
                "The request contains duplicate clientUserIds.",
            );
        }
        if BTreeSet::from_iter(&serials).len() != serials.len() {
            return bad(
                codes::DUPLICATE_SERIAL_NUMBERS,
                "The request contains duplicate serialNumbers.",
            );
        }
        let l = &self.locations[loc];
        for k in &keys {
            match l.assets.get(k) {
                None => {
                    return bad(
                        codes::INVALID_ARGUMENT,
                        "The asset is not in this location.",
                    );
                }
                Some(a) if !serials.is_empty() && !a.device_assignable => {
                    return bad(
                        codes::NOT_DEVICE_ASSIGNABLE,
                        "The asset cannot be assigned to a device.",
                    );
                }
                Some(_) => {}
            }
        }
        let mut tasks = VecDeque::new();
        for k in &keys {
            for s in &serials {
                tasks.push_back(Task {
                    asset: k.clone(),
                    holder: Holder::Serial(s.clone()),
                });
            }
            for u in &users {
                tasks.push_back(Task {
                    asset: k.clone(),
                    holder: Holder::User(u.clone()),
                });
            }
        }
        let kind = if associate {
            "ASSOCIATE"
        } else {
            "DISASSOCIATE"
        };
        self.start_event(loc, token, kind, tasks, now)
    }

    fn revoke(&mut self, loc: usize, token: &str, body: &Value, now: Instant) -> Handled {
        let strings = |k: &str| -> Vec<String> {
            body.get(k)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        let (serials, users) = (strings("serialNumbers"), strings("clientUserIds"));
        if serials.is_empty() && users.is_empty() {
            return Reply::error(
                400,
                codes::NO_TARGETS,
                "The request must contain clientUserIds or serialNumbers.",
            )
            .into();
        }
        if serials.len() > MAX_REVOKE || users.len() > MAX_REVOKE {
            return Reply::error(
                400,
                codes::TOO_MANY_SERIAL_NUMBERS,
                "Too many targets to revoke.",
            )
            .into();
        }
        let holders: BTreeSet<Holder> = serials
            .into_iter()
            .map(Holder::Serial)
            .chain(users.into_iter().map(Holder::User))
            .collect();
        let l = &self.locations[loc];
        let tasks = l
            .assignments
            .keys()
            .filter(|(k, h)| holders.contains(h) && l.assets.get(k).is_some_and(|a| a.revocable))
            .map(|(k, h)| Task {
                asset: k.clone(),
                holder: h.clone(),
            })
            .collect();
        self.start_event(loc, token, "REVOKE", tasks, now)
    }

    fn start_event(
        &mut self,
        loc: usize,
        token: &str,
        kind: &'static str,
        tasks: VecDeque<Task>,
        now: Instant,
    ) -> Handled {
        let n = self.new_id();
        let event_id = format!(
            "{:08x}-3d9c-4fde-948d-{n:012x}",
            n.wrapping_mul(2_246_822_519) & 0xffff_ffff
        );
        let requested = tasks.len() as i64;
        self.events.insert(
            event_id.clone(),
            Event {
                kind,
                location: loc,
                tasks,
                requested,
                completed: 0,
                failures: BTreeMap::new(),
                not_before: now + self.behaviour.event_latency,
            },
        );
        Reply::ok(self.with_common(loc, token, json!({ "eventId": event_id }))).into()
    }

    /// Works on pending events: up to `event_batch` tasks each, once
    /// their latency has passed. Returns the notifications.
    pub(crate) fn process_events(&mut self, now: Instant) -> Vec<Outgoing> {
        let mut out = Vec::new();
        let batch = self.behaviour.event_batch.max(1);
        let ids: Vec<String> = self
            .events
            .iter()
            .filter(|(_, e)| !e.tasks.is_empty() && e.not_before <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in ids {
            let nid = self.new_id();
            let Some(ev) = self.events.get_mut(&id) else {
                continue;
            };
            let l = &mut self.locations[ev.location];
            let mut ok: Vec<(AssetKey, Holder)> = Vec::new();
            let mut bad: BTreeMap<i64, Vec<(AssetKey, Holder)>> = BTreeMap::new();
            let mut changed = false;
            for _ in 0..batch {
                let Some(t) = ev.tasks.pop_front() else { break };
                let entry = (t.asset.clone(), t.holder.clone());
                match ev.kind {
                    "ASSOCIATE" => {
                        if l.assignments.contains_key(&entry) {
                            ok.push(entry);
                        } else if l.available(&t.asset) > 0 {
                            l.version += 1;
                            l.issued.insert(l.version);
                            l.assignments.insert(entry.clone(), l.version);
                            *l.assigned.entry(t.asset.clone()).or_default() += 1;
                            changed = true;
                            ok.push(entry);
                        } else {
                            bad.entry(codes::NOT_ENOUGH_LICENSES)
                                .or_default()
                                .push(entry);
                        }
                    }
                    _ => {
                        // Disassociating a license that is not held is
                        // answered as done.
                        if l.assignments.remove(&entry).is_some() {
                            l.version += 1;
                            l.issued.insert(l.version);
                            *l.assigned.entry(t.asset.clone()).or_default() -= 1;
                            changed = true;
                        }
                        ok.push(entry);
                    }
                }
            }
            if changed {
                l.cache = None;
            }
            ev.completed += ok.len() as i64;
            let assignments_json = |list: &[(AssetKey, Holder)]| -> Value {
                Value::Array(
                    list.iter()
                        .map(|((id, pp), h)| {
                            let mut o = serde_json::Map::new();
                            o.insert("adamId".into(), json!(id));
                            o.insert("pricingParam".into(), json!(pp));
                            h.json(&mut o);
                            Value::Object(o)
                        })
                        .collect(),
                )
            };
            // Each notification has an id of its own (the step's id, numbered).
            let mut seq = nid << 16;
            for chunk in ok.chunks(100) {
                seq += 1;
                out.extend(l.notify("ASSET_MANAGEMENT", json!({
                    "assignments": assignments_json(chunk), "eventId": id, "result": "SUCCESS", "type": ev.kind,
                }), seq));
            }
            for (number, list) in bad {
                let message = "There aren't enough assets available to complete this association.";
                let f = ev
                    .failures
                    .entry(number)
                    .or_insert_with(|| (message.to_owned(), BTreeSet::new(), BTreeSet::new()));
                for (k, h) in &list {
                    f.1.insert(k.clone());
                    f.2.insert(h.clone());
                }
                for chunk in list.chunks(100) {
                    seq += 1;
                    out.extend(l.notify(
                        "ASSET_MANAGEMENT",
                        json!({
                            "assignments": assignments_json(chunk),
                            "error": {"errorMessage": message, "errorNumber": number},
                            "eventId": id, "result": "FAILURE", "type": ev.kind,
                        }),
                        seq,
                    ));
                }
            }
        }
        if self.behaviour.duplicate_notifications {
            let copies = out.clone();
            out.extend(copies);
        }
        out
    }

    fn status(&mut self, loc: usize, r: &Request<'_>, now: Instant) -> Result<Value, Reply> {
        let _ = now;
        let id = r.q("eventId").unwrap_or("");
        let Some(ev) = self.events.get(id).filter(|e| e.location == loc) else {
            return Err(Reply::error(
                400,
                codes::EVENT_NOT_FOUND,
                "Event not found.",
            ));
        };
        let state = if !ev.tasks.is_empty() {
            "PENDING"
        } else if ev.failures.is_empty() {
            "COMPLETE"
        } else {
            "FAILED"
        };
        let mut v = json!({
            "eventStatus": state,
            "eventType": ev.kind,
            "numCompleted": ev.completed,
            "numRequested": ev.requested,
        });
        if !ev.failures.is_empty() {
            let failures: Vec<Value> = ev
                .failures
                .iter()
                .map(|(n, (message, assets, holders))| {
                    let serials: Vec<&str> = holders.iter().filter_map(|h| match h { Holder::Serial(s) => Some(s.as_str()), Holder::User(_) => None }).collect();
                    let users: Vec<&str> = holders.iter().filter_map(|h| match h { Holder::User(u) => Some(u.as_str()), Holder::Serial(_) => None }).collect();
                    let mut info = json!({
                        "assets": assets.iter().map(|(id, pp)| json!(AssetRef { adam_id: id.clone(), pricing_param: PricingParam(pp.clone()) })).collect::<Vec<_>>(),
                    });
                    if !serials.is_empty() {
                        info["serialNumbers"] = json!(serials);
                    }
                    if !users.is_empty() {
                        info["clientUserIds"] = json!(users);
                    }
                    json!({ "errorInfo": info, "errorMessage": message, "errorNumber": n })
                })
                .collect();
            v["failures"] = Value::Array(failures);
        }
        Ok(v)
    }

    fn lookup(&self, r: &Request<'_>) -> Reply {
        if r.q("p") != Some("mdm-lockup") || r.q("version") != Some("2") {
            return Reply::ok(json!({ "results": {}, "version": 2, "isAuthenticated": false }));
        }
        let cookie_ok = r.cookie.is_some_and(|c| {
            c.split(';').any(|p| {
                p.trim()
                    .strip_prefix("itvt=")
                    .is_some_and(|t| self.tokens.contains_key(t))
            })
        });
        let mut results = serde_json::Map::new();
        for id in r.q("id").unwrap_or("").split(',') {
            let Some(item) = self.catalog.get(id) else {
                continue;
            };
            if item.custom && !cookie_ok {
                continue;
            }
            results.insert(id.to_owned(), json!({
                "id": id,
                "name": item.name,
                "bundleId": item.bundle_id,
                "kind": "iosSoftware",
                "deviceFamilies": item.families,
                "isB2BCustomApp": item.custom,
                "artwork": {"url": format!("https://is1-ssl.mzstatic.com/image/thumb/{id}/AppIcon/{{w}}x{{h}}{{c}}.{{f}}"), "width": 1024, "height": 1024},
                "offers": [{"type": "get", "price": 0, "version": {"display": item.version, "externalId": 1}}],
            }));
        }
        Reply::ok(json!({ "results": results, "version": 2, "isAuthenticated": false }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_ids_roundtrip() {
        for v in [1u64, 2, 77, 1 << 40] {
            assert_eq!(parse_version_id(&version_id(v)), Some(v));
        }
        assert_eq!(parse_version_id("nonsense-zz"), None);
    }
}
