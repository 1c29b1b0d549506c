//! The simulated DEP service's state and request handling, without I/O:
//! one request in, one response out, under the server's lock.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hmac::{KeyInit, Mac};
use serde_json::{Map, Value, json};

use super::verify::{self, Refusal};
use super::{AssignFailure, AssignRecord, ErrorStyle, RequestRecord, SimStats, SimulatorConfig};
use crate::session::{RETRY_AFTER_SINCE_VERSION, THROTTLED_SINCE_VERSION};
use crate::timestamp::format_timestamp;

/// Characters of generated serial numbers (Apple's serials avoid vowels).
const SERIAL_ALPHABET: &[u8] = b"0123456789CDFGHJKLMNPQRTVWXY";
/// Most requests kept in the log.
const MAX_LOG: usize = 10_000;
/// Most nonces remembered.
const MAX_NONCES: usize = 10_000;
/// Most profiles kept.
const MAX_PROFILES: usize = 10_000;
/// Most serial numbers in one request.
const MAX_SERIALS: usize = 1000;
/// Where generated devices' assignment dates start: 2024-01-01T00:00:00Z.
const ASSIGNED_BASE: u64 = 1_704_067_200;

const MODELS: [(&str, &str, &str, &str); 5] = [
    (
        "MacBook Air",
        "Mac",
        "OSX",
        "MBA 13.6 MIDNIGHT/M2/8C CPU/8GB/256GB",
    ),
    (
        "MacBook Pro",
        "Mac",
        "OSX",
        "MBP 14.2 SPACE GRAY/M3 PRO/18GB/512GB",
    ),
    ("iPhone 15", "iPhone", "iOS", "IPHONE 15 BLACK 128GB"),
    (
        "iPad Air",
        "iPad",
        "iPadOS",
        "IPAD AIR WI-FI 64GB SPACE GRAY",
    ),
    ("Apple TV 4K", "AppleTV", "tvOS", "APPLE TV 4K WI-FI 64GB"),
];
const COLORS: [&str; 4] = ["SPACE GRAY", "SILVER", "MIDNIGHT", "STARLIGHT"];

/// One response: status, extra headers, body.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) body: Vec<u8>,
}

impl Answer {
    fn json(status: u16, value: &Value) -> Self {
        Self {
            status,
            headers: vec![("content-type", "application/json;charset=UTF8".to_owned())],
            body: serde_json::to_vec(value).unwrap_or_default(),
        }
    }
}

/// What the dispatcher needs of a request.
pub(crate) struct Incoming<'a> {
    pub(crate) method: &'a str,
    pub(crate) path_and_query: &'a str,
    pub(crate) scheme: &'static str,
    pub(crate) host: &'a str,
    pub(crate) authorization: Option<&'a str>,
    pub(crate) content_type: Option<&'a str>,
    pub(crate) session: Option<&'a str>,
    pub(crate) protocol_version: Option<&'a str>,
    pub(crate) user_agent: Option<&'a str>,
    pub(crate) body: &'a [u8],
}

#[derive(Clone, Debug)]
pub(crate) struct SimDevice {
    id: u64,
    serial: String,
    model: &'static str,
    family: &'static str,
    os: &'static str,
    description: &'static str,
    color: &'static str,
    assigned_date: String,
    profile_uuid: Option<String>,
    profile_status: &'static str,
    profile_assign_time: Option<String>,
    asset_tag: Option<String>,
    locked: bool,
}

impl SimDevice {
    fn to_json(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("serial_number".into(), json!(self.serial));
        m.insert("model".into(), json!(self.model));
        m.insert("description".into(), json!(self.description));
        m.insert("color".into(), json!(self.color));
        m.insert("device_family".into(), json!(self.family));
        m.insert("os".into(), json!(self.os));
        m.insert("profile_status".into(), json!(self.profile_status));
        if let Some(p) = &self.profile_uuid {
            m.insert("profile_uuid".into(), json!(p));
        }
        if let Some(t) = &self.profile_assign_time {
            m.insert("profile_assign_time".into(), json!(t));
        }
        if let Some(t) = &self.asset_tag {
            m.insert("asset_tag".into(), json!(t));
        }
        m.insert("device_assigned_date".into(), json!(self.assigned_date));
        m.insert("device_assigned_by".into(), json!("dep-admin@example.com"));
        m
    }
}

struct Event {
    seq: u64,
    op: &'static str,
    date: String,
    device: SimDevice,
}

struct SessionEntry {
    created: Instant,
    expired: bool,
}

#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum CursorKind {
    Fetching = 0,
    Fetched = 1,
    Sync = 2,
}

#[derive(Clone, Copy, Debug)]
struct Cursor {
    kind: CursorKind,
    /// Fetch: the last device ID returned.
    last_id: u64,
    /// Fetch: the last device ID of the snapshot.
    snapshot_id: u64,
    /// The last event included.
    seq: u64,
    /// When issued, in milliseconds since the simulator started.
    issued_ms: u64,
    /// The cursor generation (bumped by `expire_cursors`).
    epoch: u32,
}

enum CursorError {
    Invalid,
    Expired,
}

/// Throttling and failures switched on from outside.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Throttle {
    pub(crate) too_many: u32,
    pub(crate) too_many_after: u64,
    pub(crate) unavailable: u32,
    pub(crate) unavailable_after: u64,
    pub(crate) assign_max: Option<usize>,
    pub(crate) assign_after: u64,
    pub(crate) assign_failures: u32,
    pub(crate) assign_failure: AssignFailure,
}

/// Most assignment requests kept in the assignment log.
const MAX_ASSIGN_LOG: usize = 1000;

pub(crate) struct State {
    pub(crate) config: SimulatorConfig,
    /// Which MDM server of the simulator this is (named in its session
    /// tokens).
    index: usize,
    started: Instant,
    devices: BTreeMap<u64, SimDevice>,
    by_serial: HashMap<String, u64>,
    next_id: u64,
    generated: u64,
    events: VecDeque<Event>,
    next_seq: u64,
    sessions: HashMap<String, SessionEntry>,
    session_order: VecDeque<String>,
    session_epoch: u32,
    session_counter: u64,
    cursor_epoch: u32,
    nonces: HashSet<(String, String)>,
    nonce_order: VecDeque<(String, String)>,
    profiles: BTreeMap<String, Value>,
    profile_counter: u64,
    pub(crate) terms_signed: bool,
    pub(crate) throttle: Throttle,
    pub(crate) error_style: ErrorStyle,
    pub(crate) rotate_every: Option<u32>,
    answered: u64,
    pub(crate) stats: SimStats,
    log: VecDeque<RequestRecord>,
    assign_log: VecDeque<AssignRecord>,
    mac_key: [u8; 16],
}

/// The MDM server a session token names: `sim<epoch>-<server>-<hex>`.
pub(crate) fn server_of_token(token: &str) -> Option<usize> {
    let (_, rest) = token.strip_prefix("sim")?.split_once('-')?;
    rest.split_once('-')?.0.parse().ok()
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

impl State {
    pub(crate) fn new(config: SimulatorConfig, index: usize) -> Self {
        let seed = config.seed;
        let mut mac_key = [0u8; 16];
        mac_key[..8].copy_from_slice(&splitmix(seed ^ 0x5eed).to_be_bytes());
        mac_key[8..].copy_from_slice(&splitmix(seed ^ 0xc0de).to_be_bytes());
        let mut s = Self {
            error_style: config.error_style,
            rotate_every: config.rotate_session_every,
            config,
            index,
            started: Instant::now(),
            devices: BTreeMap::new(),
            by_serial: HashMap::new(),
            next_id: 1,
            generated: 0,
            events: VecDeque::new(),
            next_seq: 1,
            sessions: HashMap::new(),
            session_order: VecDeque::new(),
            session_epoch: 1,
            session_counter: 0,
            cursor_epoch: 1,
            nonces: HashSet::new(),
            nonce_order: VecDeque::new(),
            profiles: BTreeMap::new(),
            profile_counter: 0,
            terms_signed: true,
            throttle: Throttle::default(),
            answered: 0,
            stats: SimStats::default(),
            log: VecDeque::new(),
            assign_log: VecDeque::new(),
            mac_key,
        };
        let n = s.config.devices.min(s.config.max_devices);
        for _ in 0..n {
            s.insert_generated();
        }
        s
    }

    /// Generates the next device deterministically from the seed and its
    /// index and stores it (no event: the initial population).
    fn insert_generated(&mut self) -> String {
        let i = self.generated;
        self.generated += 1;
        let h = splitmix(self.config.seed ^ i.wrapping_mul(0x2545_f491_4f6c_dd1d));
        let mut serial = String::with_capacity(12);
        let mut x = h;
        let n = SERIAL_ALPHABET.len() as u64;
        for _ in 0..4 {
            serial.push(char::from(SERIAL_ALPHABET[(x % n) as usize]));
            x /= n;
        }
        let mut digits = [0u8; 8];
        let mut y = i;
        for d in digits.iter_mut().rev() {
            *d = SERIAL_ALPHABET[(y % n) as usize];
            y /= n;
        }
        serial.extend(digits.iter().map(|d| char::from(*d)));
        let (model, family, os, description) = MODELS[(h >> 40) as usize % MODELS.len()];
        let id = self.next_id;
        self.next_id += 1;
        let device = SimDevice {
            id,
            serial: serial.clone(),
            model,
            family,
            os,
            description,
            color: COLORS[(h >> 50) as usize % COLORS.len()],
            assigned_date: format_timestamp(UNIX_EPOCH + Duration::from_secs(ASSIGNED_BASE + i)),
            profile_uuid: None,
            profile_status: "empty",
            profile_assign_time: None,
            asset_tag: None,
            locked: false,
        };
        self.by_serial.insert(serial.clone(), id);
        self.devices.insert(id, device);
        serial
    }

    fn record_event(&mut self, op: &'static str, device: SimDevice, wall: SystemTime) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.events.push_back(Event {
            seq,
            op,
            date: format_timestamp(wall),
            device,
        });
        while self.events.len() > self.config.max_events.max(1) {
            self.events.pop_front();
        }
    }

    fn first_seq(&self) -> u64 {
        self.events.front().map_or(self.next_seq, |e| e.seq)
    }

    // ----- controls -----

    pub(crate) fn add_devices(&mut self, n: usize, wall: SystemTime) -> Vec<String> {
        let room = self.config.max_devices.saturating_sub(self.devices.len());
        let mut out = Vec::new();
        for _ in 0..n.min(room) {
            let serial = self.insert_generated();
            if let Some(d) = self
                .by_serial
                .get(&serial)
                .and_then(|id| self.devices.get(id))
            {
                let mut d = d.clone();
                d.assigned_date = format_timestamp(wall);
                if let Some(stored) = self.devices.get_mut(&d.id) {
                    stored.assigned_date = d.assigned_date.clone();
                }
                self.record_event("added", d, wall);
            }
            out.push(serial);
        }
        out
    }

    pub(crate) fn modify_device(
        &mut self,
        serial: &str,
        asset_tag: &str,
        wall: SystemTime,
    ) -> bool {
        let Some(d) = self
            .by_serial
            .get(serial)
            .and_then(|id| self.devices.get_mut(id))
        else {
            return false;
        };
        d.asset_tag = Some(asset_tag.to_owned());
        let d = d.clone();
        self.record_event("modified", d, wall);
        true
    }

    pub(crate) fn delete_device(&mut self, serial: &str, wall: SystemTime) -> bool {
        let Some(id) = self.by_serial.remove(serial) else {
            return false;
        };
        match self.devices.remove(&id) {
            Some(d) => {
                self.record_event("deleted", d, wall);
                true
            }
            None => false,
        }
    }

    pub(crate) fn device_json(&self, serial: &str) -> Option<Value> {
        let d = self.devices.get(self.by_serial.get(serial)?)?;
        Some(Value::Object(d.to_json()))
    }

    pub(crate) fn serials(&self) -> Vec<String> {
        self.devices.values().map(|d| d.serial.clone()).collect()
    }

    pub(crate) fn device_count(&self) -> usize {
        self.devices.len()
    }

    pub(crate) fn profile(&self, uuid: &str) -> Option<Value> {
        self.profiles.get(uuid).cloned()
    }

    pub(crate) fn restart(&mut self) {
        self.session_epoch += 1;
        self.sessions.clear();
        self.session_order.clear();
    }

    pub(crate) fn expire_sessions(&mut self) {
        for s in self.sessions.values_mut() {
            s.expired = true;
        }
    }

    pub(crate) fn expire_cursors(&mut self) {
        self.cursor_epoch += 1;
    }

    pub(crate) fn requests(&self) -> Vec<RequestRecord> {
        self.log.iter().cloned().collect()
    }

    pub(crate) fn assignments(&self) -> Vec<AssignRecord> {
        self.assign_log.iter().cloned().collect()
    }

    // ----- requests -----

    fn error(&self, status: u16, code: &str) -> Answer {
        let (ct, body) = match self.error_style {
            ErrorStyle::Bare => ("text/plain;charset=UTF8", code.as_bytes().to_vec()),
            ErrorStyle::Quoted => (
                "application/json;charset=UTF8",
                format!("\"{code}\"").into_bytes(),
            ),
            ErrorStyle::Json => (
                "application/json;charset=UTF8",
                serde_json::to_vec(&json!({"code": code, "message": code_message(code)}))
                    .unwrap_or_default(),
            ),
        };
        Answer {
            status,
            headers: vec![("content-type", ct.to_owned())],
            body,
        }
    }

    /// Handles one request.
    pub(crate) fn dispatch(
        &mut self,
        req: &Incoming<'_>,
        now: Instant,
        wall: SystemTime,
    ) -> Answer {
        self.stats.requests += 1;
        let path = req
            .path_and_query
            .split_once('?')
            .map_or(req.path_and_query, |(p, _)| p);
        let answer = if path == "/session" {
            self.session(req, now)
        } else {
            self.api(req, path, now, wall)
        };
        match answer.status {
            401 => self.stats.unauthorized += 1,
            403 => self.stats.forbidden += 1,
            429 => self.stats.throttled += 1,
            _ => {}
        }
        if self.log.len() >= MAX_LOG {
            self.log.pop_front();
        }
        self.log.push_back(RequestRecord {
            method: req.method.to_owned(),
            path: req.path_and_query.to_owned(),
            status: answer.status,
            content_type: req.content_type.map(str::to_owned),
            protocol_version: req.protocol_version.map(str::to_owned),
            user_agent: req.user_agent.map(str::to_owned),
            session: req.session.map(str::to_owned),
        });
        answer
    }

    fn session(&mut self, req: &Incoming<'_>, now: Instant) -> Answer {
        if req.method != "GET" {
            return self.error(405, "METHOD_NOT_ALLOWED");
        }
        // Apple's service (and its depsim) refuse a sign-in without a
        // Content-Type.
        if self.config.require_content_type && req.content_type.is_none() {
            return self.error(400, "BAD_REQUEST");
        }
        let Some(auth) = req.authorization else {
            return self.error(401, "UNAUTHORIZED");
        };
        let params = match verify::parse_header(auth) {
            Ok(p) => p,
            Err(r) => return self.refusal(r),
        };
        if let Err(r) = self.check_oauth(req, &params) {
            return self.refusal(r);
        }
        if !self.terms_signed {
            return self.error(403, "T_C_NOT_SIGNED");
        }
        let token = self.new_session(now);
        Answer::json(200, &json!({ "auth_session_token": token }))
    }

    fn refusal(&self, r: Refusal) -> Answer {
        match r {
            Refusal::BadRequest(_) => self.error(400, "BAD_REQUEST"),
            Refusal::Unauthorized(_) => self.error(401, "UNAUTHORIZED"),
        }
    }

    fn check_oauth(
        &mut self,
        req: &Incoming<'_>,
        params: &[(String, String)],
    ) -> Result<(), Refusal> {
        let get = |n: &str| params.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        for required in [
            "oauth_consumer_key",
            "oauth_token",
            "oauth_signature_method",
            "oauth_signature",
            "oauth_timestamp",
            "oauth_nonce",
        ] {
            if get(required).is_none() {
                return Err(Refusal::BadRequest(
                    "missing required authorization parameter",
                ));
            }
        }
        if get("oauth_signature_method") != Some("HMAC-SHA1") {
            return Err(Refusal::BadRequest("unsupported signature method"));
        }
        if get("oauth_version").is_some_and(|v| v != "1.0") {
            return Err(Refusal::BadRequest("unsupported OAuth version"));
        }
        let creds = &self.config.credentials;
        if get("oauth_consumer_key") != Some(creds.consumer_key.as_str()) {
            return Err(Refusal::Unauthorized("invalid consumer key"));
        }
        if get("oauth_token") != Some(creds.access_token.as_str()) {
            return Err(Refusal::Unauthorized("invalid token"));
        }
        let ts: u64 = get("oauth_timestamp")
            .and_then(|t| t.parse().ok())
            .ok_or(Refusal::BadRequest("bad timestamp"))?;
        if let Some(window) = self.config.timestamp_window {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            if now.abs_diff(ts) > window.as_secs() {
                return Err(Refusal::Unauthorized("stale timestamp"));
            }
        }
        verify::check_signature(
            req.method,
            req.scheme,
            req.host,
            req.path_and_query,
            params,
            &creds.consumer_secret,
            &creds.access_secret,
        )?;
        let key = (
            ts.to_string(),
            get("oauth_nonce").unwrap_or_default().to_owned(),
        );
        if !self.nonces.insert(key.clone()) {
            return Err(Refusal::Unauthorized("nonce already used"));
        }
        self.nonce_order.push_back(key);
        while self.nonce_order.len() > MAX_NONCES {
            if let Some(old) = self.nonce_order.pop_front() {
                self.nonces.remove(&old);
            }
        }
        Ok(())
    }

    fn new_session(&mut self, now: Instant) -> String {
        self.session_counter += 1;
        self.stats.sessions += 1;
        let token = format!(
            "sim{}-{}-{:016x}{:08x}",
            self.session_epoch,
            self.index,
            splitmix(self.config.seed ^ self.session_counter.rotate_left(17)),
            self.session_counter
        );
        self.sessions.insert(
            token.clone(),
            SessionEntry {
                created: now,
                expired: false,
            },
        );
        self.session_order.push_back(token.clone());
        while self.session_order.len() > self.config.max_sessions.max(1) {
            if let Some(old) = self.session_order.pop_front() {
                self.sessions.remove(&old);
            }
        }
        token
    }

    /// `Ok`: the session is good. `Err`: the refusal to send.
    fn check_session(&mut self, token: Option<&str>, now: Instant) -> Result<(), Answer> {
        let Some(token) = token else {
            return Err(self.error(401, "UNAUTHORIZED"));
        };
        match self.sessions.get(token) {
            Some(s) if !s.expired && now.duration_since(s.created) < self.config.session_ttl => {
                Ok(())
            }
            Some(_) => {
                self.sessions.remove(token);
                Err(self.error(401, "UNAUTHORIZED"))
            }
            None => {
                let epoch = token
                    .strip_prefix("sim")
                    .and_then(|t| t.split_once('-'))
                    .and_then(|(e, _)| e.parse::<u32>().ok());
                match epoch {
                    // Issued before a restart: Apple answers 403 FORBIDDEN.
                    Some(e) if e < self.session_epoch => Err(self.error(403, "FORBIDDEN")),
                    _ => Err(self.error(401, "UNAUTHORIZED")),
                }
            }
        }
    }

    fn api(&mut self, req: &Incoming<'_>, path: &str, now: Instant, wall: SystemTime) -> Answer {
        if let Err(refused) = self.check_session(req.session, now) {
            return refused;
        }
        if !self.terms_signed {
            return self.error(403, "T_C_NOT_SIGNED");
        }
        if self.throttle.too_many > 0 {
            self.throttle.too_many -= 1;
            let mut a = self.error(429, "TOO_MANY_REQUESTS");
            a.headers
                .push(("retry-after", self.throttle.too_many_after.to_string()));
            return a;
        }
        if self.throttle.unavailable > 0 {
            self.throttle.unavailable -= 1;
            let mut a = self.error(503, "SERVICE_UNAVAILABLE");
            let at = wall + Duration::from_secs(self.throttle.unavailable_after);
            a.headers.push(("retry-after", httpdate::fmt_http_date(at)));
            a.headers.push(("date", httpdate::fmt_http_date(wall)));
            return a;
        }
        let body = req.body;
        // A missing or unreadable X-Server-Protocol-Version is the oldest.
        let version = req
            .protocol_version
            .and_then(|v| v.trim().parse::<u32>().ok())
            .unwrap_or(1);
        let mut answer = match (req.method, path) {
            ("GET", "/account") => self.account(),
            ("POST", "/server/devices") => self.fetch(body, now, wall),
            ("POST", "/devices/sync") => self.sync(body, now, wall),
            ("POST", "/devices") => self.details(body),
            ("POST", "/devices/disown") => self.disown(body, wall),
            ("POST", "/profile") => self.define_profile(body, version, wall),
            ("GET", "/profile") => self.get_profile(req.path_and_query),
            ("PUT", "/profile/devices") => self.assign("PUT", body, version, wall),
            ("POST", "/profile/devices") if !self.config.assign_put_only => {
                self.assign("POST", body, version, wall)
            }
            ("DELETE", "/profile/devices") => self.remove_profile(body, wall),
            ("POST", "/device/activationlock") => self.activation_lock(body),
            (
                _,
                "/account"
                | "/server/devices"
                | "/devices/sync"
                | "/devices"
                | "/devices/disown"
                | "/profile"
                | "/profile/devices"
                | "/device/activationlock",
            ) => self.error(405, "METHOD_NOT_ALLOWED"),
            _ => self.error(404, "NOT_FOUND"),
        };
        if answer.status == 200
            && let Some(n) = self.rotate_every
        {
            self.answered += 1;
            if n > 0 && self.answered.is_multiple_of(u64::from(n)) {
                // Issue a new session token in the response and retire the
                // old one, so a client that ignores the header fails.
                if let Some(old) = req.session {
                    self.sessions.remove(old);
                }
                let token = self.new_session(now);
                self.stats.rotations += 1;
                answer.headers.push(("x-adm-auth-session", token));
            }
        }
        answer
    }

    fn body_object(&self, body: &[u8]) -> Result<Map<String, Value>, Answer> {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(m)) => Ok(m),
            _ => Err(self.error(400, "MALFORMED_REQUEST_BODY")),
        }
    }

    fn body_serials(&self, body: &Map<String, Value>) -> Result<Vec<String>, Answer> {
        let Some(list) = body.get("devices") else {
            return Err(self.error(400, "DEVICE_ID_REQUIRED"));
        };
        let Some(list) = list.as_array() else {
            return Err(self.error(400, "MALFORMED_REQUEST_BODY"));
        };
        if list.is_empty() {
            return Err(self.error(400, "DEVICE_ID_REQUIRED"));
        }
        if list.len() > MAX_SERIALS {
            return Err(self.error(400, "MALFORMED_REQUEST_BODY"));
        }
        list.iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| self.error(400, "MALFORMED_REQUEST_BODY"))
    }

    fn account(&self) -> Answer {
        let urls: Vec<Value> = [
            ("/session", vec!["GET"], None),
            ("/account", vec!["GET"], None),
            ("/server/devices", vec!["POST"], Some(self.config.max_limit)),
            ("/devices/sync", vec!["POST"], Some(self.config.max_limit)),
            ("/devices", vec!["POST"], None),
            ("/devices/disown", vec!["POST"], None),
            ("/profile", vec!["POST", "GET"], None),
            ("/profile/devices", vec!["PUT", "POST", "DELETE"], None),
            ("/device/activationlock", vec!["POST"], None),
        ]
        .into_iter()
        .map(|(uri, methods, limit)| {
            let mut o = json!({"uri": uri, "http_method": methods});
            if let Some(max) = limit {
                o["limit"] = json!({"default": self.config.default_limit, "maximum": max});
            }
            o
        })
        .collect();
        Answer::json(
            200,
            &json!({
                "server_name": "Pippin DEP simulator",
                "server_uuid": format!("{:016X}{:016X}", splitmix(self.config.seed), splitmix(!self.config.seed)),
                "admin_id": "dep-admin@example.com",
                "facilitator_id": "dep-admin@example.com",
                "org_name": "Example Organisation",
                "org_email": "it@example.com",
                "org_phone": "+1 555 0100",
                "org_address": "1 Example Street, Example City",
                "org_id": "1234567",
                "org_id_hash": hex(&splitmix(self.config.seed ^ 7).to_be_bytes()),
                "org_type": "org",
                "org_version": "v2",
                "urls": urls,
            }),
        )
    }

    fn limit(&self, body: &Map<String, Value>) -> Result<usize, Answer> {
        match body.get("limit") {
            None | Some(Value::Null) => Ok(self.config.default_limit as usize),
            Some(v) => {
                let n = v
                    .as_i64()
                    .ok_or_else(|| self.error(400, "MALFORMED_REQUEST_BODY"))?;
                Ok(n.clamp(1, i64::from(self.config.max_limit)) as usize)
            }
        }
    }

    fn now_ms(&self, now: Instant) -> u64 {
        u64::try_from(now.duration_since(self.started).as_millis()).unwrap_or(u64::MAX)
    }

    fn encode_cursor(&self, c: &Cursor) -> String {
        let mut raw = Vec::with_capacity(45);
        raw.push(c.kind as u8);
        raw.extend_from_slice(&c.last_id.to_be_bytes());
        raw.extend_from_slice(&c.snapshot_id.to_be_bytes());
        raw.extend_from_slice(&c.seq.to_be_bytes());
        raw.extend_from_slice(&c.issued_ms.to_be_bytes());
        raw.extend_from_slice(&c.epoch.to_be_bytes());
        let tag = self.cursor_tag(&raw);
        raw.extend_from_slice(&tag);
        hex(&raw)
    }

    fn cursor_tag(&self, raw: &[u8]) -> [u8; 8] {
        let mut mac = <hmac::Hmac<sha1::Sha1> as KeyInit>::new_from_slice(&self.mac_key)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(raw);
        let full = mac.finalize().into_bytes();
        let mut tag = [0u8; 8];
        tag.copy_from_slice(&full[..8]);
        tag
    }

    fn decode_cursor(&self, s: &str, now: Instant) -> Result<Cursor, CursorError> {
        let raw = unhex(s).ok_or(CursorError::Invalid)?;
        if raw.len() != 45 || self.cursor_tag(&raw[..37]) != raw[37..] {
            return Err(CursorError::Invalid);
        }
        let u64_at = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&raw[i..i + 8]);
            u64::from_be_bytes(b)
        };
        let kind = match raw[0] {
            0 => CursorKind::Fetching,
            1 => CursorKind::Fetched,
            2 => CursorKind::Sync,
            _ => return Err(CursorError::Invalid),
        };
        let mut e = [0u8; 4];
        e.copy_from_slice(&raw[33..37]);
        let c = Cursor {
            kind,
            last_id: u64_at(1),
            snapshot_id: u64_at(9),
            seq: u64_at(17),
            issued_ms: u64_at(25),
            epoch: u32::from_be_bytes(e),
        };
        let age = Duration::from_millis(self.now_ms(now).saturating_sub(c.issued_ms));
        if c.epoch != self.cursor_epoch || age > self.config.cursor_ttl {
            return Err(CursorError::Expired);
        }
        Ok(c)
    }

    fn cursor_error(&self, e: CursorError) -> Answer {
        match e {
            CursorError::Invalid => self.error(400, "INVALID_CURSOR"),
            CursorError::Expired => self.error(400, "EXPIRED_CURSOR"),
        }
    }

    fn fetch(&mut self, body: &[u8], now: Instant, wall: SystemTime) -> Answer {
        let body = match self.body_object(body) {
            Ok(b) => b,
            Err(a) => return a,
        };
        let limit = match self.limit(&body) {
            Ok(l) => l,
            Err(a) => return a,
        };
        let start = match body.get("cursor").and_then(Value::as_str) {
            None => Cursor {
                kind: CursorKind::Fetching,
                last_id: 0,
                snapshot_id: self.next_id - 1,
                seq: self.next_seq - 1,
                issued_ms: 0,
                epoch: self.cursor_epoch,
            },
            Some(s) => match self.decode_cursor(s, now) {
                Ok(c) if c.kind == CursorKind::Fetching => c,
                Ok(_) => return self.error(400, "EXHAUSTED_CURSOR"),
                Err(e) => return self.cursor_error(e),
            },
        };
        let mut devices = Vec::with_capacity(limit.min(1000));
        let mut last = start.last_id;
        for (id, d) in self.after(start.last_id, start.snapshot_id) {
            if devices.len() == limit {
                break;
            }
            devices.push(Value::Object(d.to_json()));
            last = *id;
        }
        let more = self.after(last, start.snapshot_id).next().is_some();
        let cursor = Cursor {
            kind: if more {
                CursorKind::Fetching
            } else {
                CursorKind::Fetched
            },
            last_id: last,
            issued_ms: self.now_ms(now),
            ..start
        };
        Answer::json(
            200,
            &json!({
                "devices": devices,
                "cursor": self.encode_cursor(&cursor),
                "more_to_follow": more,
                "fetched_until": format_timestamp(wall),
            }),
        )
    }

    /// The devices with IDs in `(after, upto]`.
    fn after(&self, after: u64, upto: u64) -> impl Iterator<Item = (&u64, &SimDevice)> {
        // `BTreeMap::range` panics on a reversed range.
        let range = if after < upto {
            (after + 1)..upto.saturating_add(1)
        } else {
            0..0
        };
        self.devices.range(range)
    }

    fn sync(&mut self, body: &[u8], now: Instant, wall: SystemTime) -> Answer {
        let body = match self.body_object(body) {
            Ok(b) => b,
            Err(a) => return a,
        };
        let limit = match self.limit(&body) {
            Ok(l) => l,
            Err(a) => return a,
        };
        let Some(cursor) = body.get("cursor").and_then(Value::as_str) else {
            return self.error(400, "CURSOR_REQUIRED");
        };
        let start = match self.decode_cursor(cursor, now) {
            Ok(c) => c,
            Err(e) => return self.cursor_error(e),
        };
        if start.seq + 1 < self.first_seq() {
            // The events after this cursor are gone.
            return self.error(400, "EXPIRED_CURSOR");
        }
        let first = self.first_seq();
        let skip = usize::try_from(start.seq + 1 - first).unwrap_or(usize::MAX);
        let mut devices = Vec::new();
        let mut last = start.seq;
        for e in self.events.iter().skip(skip).take(limit) {
            let mut d = e.device.to_json();
            d.insert("op_type".into(), json!(e.op));
            d.insert("op_date".into(), json!(e.date));
            devices.push(Value::Object(d));
            last = e.seq;
        }
        let more = last + 1 < self.next_seq;
        let next = Cursor {
            kind: CursorKind::Sync,
            last_id: 0,
            snapshot_id: 0,
            seq: last,
            issued_ms: self.now_ms(now),
            epoch: self.cursor_epoch,
        };
        Answer::json(
            200,
            &json!({
                "devices": devices,
                "cursor": self.encode_cursor(&next),
                "more_to_follow": more,
                "fetched_until": format_timestamp(wall),
            }),
        )
    }

    fn details(&mut self, body: &[u8]) -> Answer {
        let serials = match self.body_object(body).and_then(|b| self.body_serials(&b)) {
            Ok(s) => s,
            Err(a) => return a,
        };
        let mut out = Map::new();
        for s in serials {
            let v = match self.by_serial.get(&s).and_then(|id| self.devices.get(id)) {
                Some(d) => {
                    let mut m = d.to_json();
                    m.insert("response_status".into(), json!("SUCCESS"));
                    m
                }
                None => {
                    let mut m = Map::new();
                    m.insert("serial_number".into(), json!(s));
                    m.insert("response_status".into(), json!("NOT_ACCESSIBLE"));
                    m
                }
            };
            out.insert(s, Value::Object(v));
        }
        Answer::json(200, &json!({ "devices": out }))
    }

    fn disown(&mut self, body: &[u8], wall: SystemTime) -> Answer {
        let serials = match self.body_object(body).and_then(|b| self.body_serials(&b)) {
            Ok(s) => s,
            Err(a) => return a,
        };
        let mut out = Map::new();
        for s in serials {
            let status = if self.delete_device(&s, wall) {
                "SUCCESS"
            } else {
                "NOT_ACCESSIBLE"
            };
            out.insert(s, json!(status));
        }
        Answer::json(200, &json!({ "devices": out }))
    }

    fn define_profile(&mut self, body: &[u8], version: u32, wall: SystemTime) -> Answer {
        let mut profile = match self.body_object(body) {
            Ok(b) => b,
            Err(a) => return a,
        };
        let text = |k: &str| profile.get(k).and_then(Value::as_str).unwrap_or_default();
        if text("profile_name").trim().is_empty() {
            return self.error(400, "CONFIG_NAME_REQUIRED");
        }
        if text("url").trim().is_empty() {
            return self.error(400, "CONFIG_URL_REQUIRED");
        }
        let supervised = profile.get("is_supervised").and_then(Value::as_bool) == Some(true);
        if profile.get("is_mdm_removable").and_then(Value::as_bool) == Some(false) && !supervised {
            return self.error(400, "FLAGS_INVALID");
        }
        let devices = match profile.remove("devices") {
            None => Vec::new(),
            Some(Value::Array(list)) if list.len() <= MAX_SERIALS => {
                match list
                    .into_iter()
                    .map(|v| v.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()
                {
                    Some(l) => l,
                    None => return self.error(400, "MALFORMED_REQUEST_BODY"),
                }
            }
            Some(_) => return self.error(400, "MALFORMED_REQUEST_BODY"),
        };
        if self.profiles.len() >= MAX_PROFILES {
            return self.error(400, "MALFORMED_REQUEST_BODY");
        }
        self.profile_counter += 1;
        let uuid = format!(
            "{:016X}{:016X}",
            splitmix(self.config.seed ^ 0x9f0f),
            splitmix(self.profile_counter)
        );
        profile.insert("profile_uuid".into(), json!(uuid));
        self.profiles.insert(uuid.clone(), Value::Object(profile));
        let (results, _) = self.assign_to(&uuid, devices, version, false, wall);
        Answer::json(200, &json!({"profile_uuid": uuid, "devices": results}))
    }

    fn get_profile(&self, path_and_query: &str) -> Answer {
        let uuid = path_and_query
            .split_once('?')
            .map(|(_, q)| q)
            .unwrap_or_default()
            .split('&')
            .find_map(|kv| kv.strip_prefix("profile_uuid="));
        let Some(uuid) = uuid.filter(|u| !u.is_empty()) else {
            return self.error(400, "PROFILE_UUID_REQUIRED");
        };
        match self.profiles.get(uuid) {
            Some(p) => Answer::json(200, p),
            None => self.error(400, "PROFILE_NOT_FOUND"),
        }
    }

    /// Assigns `uuid` to `serials` for a client announcing protocol
    /// `version` (or fails every device the server has, when `failing`):
    /// the per-device results and whether any was throttled.
    ///
    /// Apple ("Assign a Profile") throttles per device only for clients
    /// announcing version 9 or later; an older client gets `FAILED` ("try
    /// again later", the only such answer it knows) for the devices the
    /// service would have throttled.
    fn assign_to(
        &mut self,
        uuid: &str,
        serials: Vec<String>,
        version: u32,
        failing: bool,
        wall: SystemTime,
    ) -> (Map<String, Value>, bool) {
        let mut out = Map::new();
        let mut throttled = false;
        let mut done = 0usize;
        for s in serials {
            let Some(id) = self.by_serial.get(&s).copied() else {
                out.insert(s, json!("NOT_ACCESSIBLE"));
                continue;
            };
            if failing {
                out.insert(s, json!("FAILED"));
                continue;
            }
            if self.throttle.assign_max.is_some_and(|max| done >= max) {
                if version >= THROTTLED_SINCE_VERSION {
                    throttled = true;
                    out.insert(s, json!("THROTTLED"));
                } else {
                    out.insert(s, json!("FAILED"));
                }
                continue;
            }
            done += 1;
            if let Some(d) = self.devices.get_mut(&id) {
                d.profile_uuid = Some(uuid.to_owned());
                d.profile_status = "assigned";
                d.profile_assign_time = Some(format_timestamp(wall));
                let d = d.clone();
                self.record_event("modified", d, wall);
            }
            out.insert(s, json!("SUCCESS"));
        }
        (out, throttled)
    }

    fn assign(&mut self, method: &str, body: &[u8], version: u32, wall: SystemTime) -> Answer {
        let body = match self.body_object(body) {
            Ok(b) => b,
            Err(a) => return a,
        };
        let Some(uuid) = body
            .get("profile_uuid")
            .and_then(Value::as_str)
            .filter(|u| !u.is_empty())
            .map(str::to_owned)
        else {
            return self.error(400, "PROFILE_UUID_REQUIRED");
        };
        if !self.profiles.contains_key(&uuid) {
            return self.error(400, "PROFILE_NOT_FOUND");
        }
        let serials = match self.body_serials(&body) {
            Ok(s) => s,
            Err(a) => return a,
        };
        if self.assign_log.len() >= MAX_ASSIGN_LOG {
            self.assign_log.pop_front();
        }
        let failure = (self.throttle.assign_failures > 0).then_some(self.throttle.assign_failure);
        if failure.is_some() {
            self.throttle.assign_failures -= 1;
        }
        let server_error = failure == Some(AssignFailure::ServerError);
        self.assign_log.push_back(AssignRecord {
            method: method.to_owned(),
            profile_uuid: uuid.clone(),
            serials: serials.clone(),
            protocol_version: version,
            status: if server_error { 500 } else { 200 },
        });
        if server_error {
            return self.error(500, "INTERNAL_SERVER_ERROR");
        }
        let failing = failure == Some(AssignFailure::DevicesFailed);
        let (results, throttled) = self.assign_to(&uuid, serials, version, failing, wall);
        let mut answer = json!({"profile_uuid": uuid, "devices": results});
        if throttled && version >= RETRY_AFTER_SINCE_VERSION {
            answer["retry_after_seconds"] = json!(self.throttle.assign_after);
        }
        Answer::json(200, &answer)
    }

    fn remove_profile(&mut self, body: &[u8], wall: SystemTime) -> Answer {
        let serials = match self.body_object(body).and_then(|b| self.body_serials(&b)) {
            Ok(s) => s,
            Err(a) => return a,
        };
        let mut out = Map::new();
        for s in serials {
            let Some(d) = self
                .by_serial
                .get(&s)
                .copied()
                .and_then(|id| self.devices.get_mut(&id))
            else {
                out.insert(s, json!("NOT_ACCESSIBLE"));
                continue;
            };
            d.profile_uuid = None;
            d.profile_status = "removed";
            let d = d.clone();
            self.record_event("modified", d, wall);
            out.insert(s, json!("SUCCESS"));
        }
        Answer::json(200, &json!({ "devices": out }))
    }

    fn activation_lock(&mut self, body: &[u8]) -> Answer {
        let body = match self.body_object(body) {
            Ok(b) => b,
            Err(a) => return a,
        };
        let Some(serial) = body
            .get("device")
            .and_then(Value::as_str)
            .map(str::to_owned)
        else {
            return self.error(400, "DEVICE_ID_REQUIRED");
        };
        if let Some(k) = body.get("escrow_key") {
            let ok = k
                .as_str()
                .is_some_and(|k| k.len() == 64 && k.bytes().all(|b| b.is_ascii_hexdigit()));
            if !ok {
                return self.error(400, "MALFORMED_REQUEST_BODY");
            }
        }
        let status = match self
            .by_serial
            .get(&serial)
            .copied()
            .and_then(|id| self.devices.get_mut(&id))
        {
            None => "NOT_ACCESSIBLE",
            Some(d) if d.locked => "DEVICE_ALREADY_LOCKED",
            Some(d) => {
                d.locked = true;
                "SUCCESS"
            }
        };
        Answer::json(
            200,
            &json!({"serial_number": serial, "response_status": status}),
        )
    }
}

fn code_message(code: &str) -> &'static str {
    match code {
        "UNAUTHORIZED" => "The auth session token is missing, invalid or expired",
        "FORBIDDEN" => "The auth session token is no longer valid",
        "T_C_NOT_SIGNED" => "The latest terms and conditions have not been accepted",
        "INVALID_CURSOR" => "The cursor is invalid",
        "EXPIRED_CURSOR" => "The cursor has expired",
        "EXHAUSTED_CURSOR" => "The cursor had returned all devices in previous calls",
        "TOO_MANY_REQUESTS" => "Too many requests",
        _ => "Request failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_tokens_name_their_server() {
        let mut s = State::new(SimulatorConfig::default(), 7);
        let token = s.new_session(Instant::now());
        assert!(token.starts_with("sim1-7-"), "{token}");
        assert_eq!(server_of_token(&token), Some(7));
        s.restart();
        assert!(s.new_session(Instant::now()).starts_with("sim2-7-"));
        for bad in [
            "",
            "sim",
            "sim1-",
            "sim1-x-00",
            "other1-2-00",
            "sim1-99999999999999999999999-0",
        ] {
            assert_eq!(server_of_token(bad), None, "{bad}");
        }
    }
}
