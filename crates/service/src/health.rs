//! What a service answers at `/healthz`: the worst status of its parts.
//!
//! ```
//! use pippin_service::{Health, HealthStatus};
//!
//! let health = Health::new();
//! health.set("store", HealthStatus::Ok, "sqlite");
//! health.set("apns", HealthStatus::Degraded, "push certificate expires in 5 days");
//! let report = health.report();
//! assert_eq!(report.status, HealthStatus::Degraded);
//! assert_eq!(report.http_status(), 200);
//! assert_eq!(
//!     report.to_json(),
//!     r#"{"status":"degraded","checks":{"apns":{"status":"degraded","detail":"push certificate expires in 5 days"},"store":{"status":"ok","detail":"sqlite"}}}"#
//! );
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

/// The state of a part of a service, from best to worst.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub enum HealthStatus {
    /// Working.
    Ok,
    /// Working, but something needs attention.
    Degraded,
    /// Not working.
    Down,
}

impl HealthStatus {
    /// `ok`, `degraded` or `down`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Degraded => "degraded",
            Self::Down => "down",
        }
    }
}

/// The parts of a service and their states; cheap to clone (clones share).
#[derive(Clone, Debug, Default)]
pub struct Health {
    checks: Arc<Mutex<BTreeMap<String, (HealthStatus, String)>>>,
}

/// A snapshot of a [`Health`].
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct HealthReport {
    /// The worst status of any part ([`HealthStatus::Ok`] when there are none).
    pub status: HealthStatus,
    /// Each part's name, status and detail, in name order.
    pub checks: Vec<(String, HealthStatus, String)>,
}

impl Health {
    /// A service with no parts yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the state of `part`, replacing what was recorded before.
    pub fn set(&self, part: &str, status: HealthStatus, detail: impl Into<String>) {
        self.checks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(part.to_owned(), (status, detail.into()));
    }

    /// The current state of every part.
    pub fn report(&self) -> HealthReport {
        let checks: Vec<(String, HealthStatus, String)> = self
            .checks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(k, (s, d))| (k.clone(), *s, d.clone()))
            .collect();
        let status = checks.iter().map(|c| c.1).max().unwrap_or(HealthStatus::Ok);
        HealthReport { status, checks }
    }
}

impl HealthReport {
    /// The HTTP status to answer with: 503 when down, else 200.
    pub fn http_status(&self) -> u16 {
        match self.status {
            HealthStatus::Down => 503,
            HealthStatus::Ok | HealthStatus::Degraded => 200,
        }
    }

    /// The report as a JSON object:
    /// `{"status":…,"checks":{"<part>":{"status":…,"detail":…},…}}`.
    pub fn to_json(&self) -> String {
        // Built by hand so that the key order is fixed whatever features
        // serde_json is compiled with.
        let mut out = format!(r#"{{"status":"{}","checks":{{"#, self.status.as_str());
        for (i, (name, status, detail)) in self.checks.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&json_string(name));
            out.push_str(r#":{"status":""#);
            out.push_str(status.as_str());
            out.push_str(r#"","detail":"#);
            out.push_str(&json_string(detail));
            out.push('}');
        }
        out.push_str("}}");
        out
    }
}

fn json_string(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worst_status_wins() {
        let h = Health::new();
        assert_eq!(h.report().status, HealthStatus::Ok);
        assert_eq!(h.report().to_json(), r#"{"status":"ok","checks":{}}"#);
        h.set("a", HealthStatus::Ok, "");
        h.set("b", HealthStatus::Down, "connection \"refused\"");
        let r = h.report();
        assert_eq!(r.status, HealthStatus::Down);
        assert_eq!(r.http_status(), 503);
        let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(v["checks"]["b"]["detail"], "connection \"refused\"");
        h.set("b", HealthStatus::Ok, "back");
        assert_eq!(h.report().http_status(), 200);
    }
}
