//! Counters and gauges rendered in the Prometheus text exposition format
//! (version 0.0.4), for each service's `/metrics`.
//!
//! Register a series once (at start-up, or the first time a label value is
//! seen) and keep its handle: updating a [`Counter`] or [`Gauge`] is a single
//! atomic operation, with no lock. Registration and [`Metrics::render`] take
//! the registry's lock briefly.
//!
//! ```
//! use pippin_service::Metrics;
//!
//! let metrics = Metrics::new();
//! let checkins = metrics.counter(
//!     "pippin_mdm_checkins_total",
//!     "MDM check-in messages received.",
//!     &[("message_type", "TokenUpdate")],
//! )?;
//! let depth = metrics.gauge("pippin_command_queue_depth", "Commands waiting for devices.", &[])?;
//! checkins.inc();
//! depth.set(3.0);
//! let expected = [
//!     "# HELP pippin_command_queue_depth Commands waiting for devices.",
//!     "# TYPE pippin_command_queue_depth gauge",
//!     "pippin_command_queue_depth 3",
//!     "# HELP pippin_mdm_checkins_total MDM check-in messages received.",
//!     "# TYPE pippin_mdm_checkins_total counter",
//!     "pippin_mdm_checkins_total{message_type=\"TokenUpdate\"} 1",
//!     "",
//! ];
//! assert_eq!(metrics.render(), expected.join("\n"));
//! # Ok::<(), pippin_service::Error>(())
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::error::{Error, Result};

/// A registry of metric families; cheap to clone (clones share it).
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    families: Arc<Mutex<BTreeMap<String, Family>>>,
}

#[derive(Debug)]
struct Family {
    help: String,
    kind: Kind,
    /// Keyed by the label pairs, sorted by label name.
    series: BTreeMap<Vec<(String, String)>, Arc<AtomicU64>>,
}

#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum Kind {
    Counter,
    Gauge,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
        }
    }
}

/// A monotonically increasing count.
#[derive(Clone, Debug)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.add(1);
    }

    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// The current count.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down (a queue depth, a lag in seconds).
#[derive(Clone, Debug)]
pub struct Gauge(Arc<AtomicU64>);

impl Gauge {
    /// Sets the value.
    pub fn set(&self, v: f64) {
        self.0.store(v.to_bits(), Ordering::Relaxed);
    }

    /// Adds `d` (which may be negative).
    pub fn add(&self, d: f64) {
        // Infallible: the closure always returns `Some`.
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + d).to_bits())
            });
    }

    /// Adds one.
    pub fn inc(&self) {
        self.add(1.0);
    }

    /// Subtracts one.
    pub fn dec(&self) {
        self.add(-1.0);
    }

    /// The current value.
    pub fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
}

impl Metrics {
    /// The `Content-Type` of [`Metrics::render`]'s output.
    pub const CONTENT_TYPE: &'static str = "text/plain; version=0.0.4; charset=utf-8";

    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The counter `name` with `labels`, registered on first use (starting at
    /// 0); later calls with the same name and labels (in any order) return a
    /// handle on the same value.
    ///
    /// Fails if the name or a label name is not valid in Prometheus, a label
    /// name repeats, or `name` is already a gauge.
    pub fn counter(&self, name: &str, help: &str, labels: &[(&str, &str)]) -> Result<Counter> {
        self.register(Kind::Counter, name, help, labels, 0)
            .map(Counter)
    }

    /// The gauge `name` with `labels`, registered on first use (starting at
    /// 0); see [`Metrics::counter`].
    pub fn gauge(&self, name: &str, help: &str, labels: &[(&str, &str)]) -> Result<Gauge> {
        self.register(Kind::Gauge, name, help, labels, 0f64.to_bits())
            .map(Gauge)
    }

    fn register(
        &self,
        kind: Kind,
        name: &str,
        help: &str,
        labels: &[(&str, &str)],
        initial: u64,
    ) -> Result<Arc<AtomicU64>> {
        if !valid_metric_name(name) {
            return Err(Error::InvalidName {
                name: name.to_owned(),
                reason: "a metric name must match [a-zA-Z_:][a-zA-Z0-9_:]*",
            });
        }
        let mut key: Vec<(String, String)> = Vec::with_capacity(labels.len());
        for (label, value) in labels {
            if !valid_label_name(label) {
                return Err(Error::InvalidName {
                    name: (*label).to_owned(),
                    reason: "a label name must match [a-zA-Z_][a-zA-Z0-9_]* and not start with __",
                });
            }
            key.push(((*label).to_owned(), (*value).to_owned()));
        }
        key.sort();
        if key.windows(2).any(|w| w[0].0 == w[1].0) {
            return Err(Error::Metric {
                name: name.to_owned(),
                reason: "a label name is given twice",
            });
        }
        let mut families = self.families.lock().unwrap_or_else(PoisonError::into_inner);
        let family = families.entry(name.to_owned()).or_insert_with(|| Family {
            help: help.to_owned(),
            kind,
            series: BTreeMap::new(),
        });
        if family.kind != kind {
            return Err(Error::Metric {
                name: name.to_owned(),
                reason: match family.kind {
                    Kind::Counter => "already registered as a counter",
                    Kind::Gauge => "already registered as a gauge",
                },
            });
        }
        Ok(family
            .series
            .entry(key)
            .or_insert_with(|| Arc::new(AtomicU64::new(initial)))
            .clone())
    }

    /// Every registered series in the text exposition format: families in
    /// name order, each with its `# HELP` and `# TYPE` lines, then its series
    /// in label order.
    pub fn render(&self) -> String {
        let families = self.families.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out = String::new();
        for (name, family) in families.iter() {
            out.push_str("# HELP ");
            out.push_str(name);
            out.push(' ');
            escape_into(&mut out, &family.help, false);
            out.push('\n');
            // Writing to a String cannot fail.
            let _ = writeln!(out, "# TYPE {name} {}", family.kind.name());
            for (labels, value) in &family.series {
                out.push_str(name);
                if !labels.is_empty() {
                    out.push('{');
                    for (i, (label, v)) in labels.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        out.push_str(label);
                        out.push_str("=\"");
                        escape_into(&mut out, v, true);
                        out.push('"');
                    }
                    out.push('}');
                }
                out.push(' ');
                let bits = value.load(Ordering::Relaxed);
                match family.kind {
                    Kind::Counter => {
                        let _ = write!(out, "{bits}");
                    }
                    Kind::Gauge => push_float(&mut out, f64::from_bits(bits)),
                }
                out.push('\n');
            }
        }
        out
    }
}

/// Escapes per the text format: in HELP text `\` and newline; in label
/// values also `"`.
fn escape_into(out: &mut String, s: &str, quote: bool) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quote => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

fn push_float(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v == f64::INFINITY {
        out.push_str("+Inf");
    } else if v == f64::NEG_INFINITY {
        out.push_str("-Inf");
    } else {
        let _ = write!(out, "{v}");
    }
}

fn valid_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_' || b == b':')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

fn valid_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    !name.starts_with("__")
        && matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_exact_exposition_text() {
        let m = Metrics::new();
        let ok = m
            .counter(
                "http_requests_total",
                "HTTP requests served.",
                &[("route", "/mdm/connect"), ("code", "200")],
            )
            .unwrap();
        let err = m
            .counter(
                "http_requests_total",
                "HTTP requests served.",
                &[("code", "500"), ("route", "/mdm/connect")],
            )
            .unwrap();
        ok.add(41);
        ok.inc();
        err.inc();
        let lag = m
            .gauge(
                "dep_sync_lag_seconds",
                "Seconds since the last DEP sync.",
                &[],
            )
            .unwrap();
        lag.set(12.5);
        lag.add(-0.25);
        let q = m
            .gauge("queue_depth", "Queued commands.", &[("kind", "mdm")])
            .unwrap();
        q.inc();
        q.inc();
        q.dec();
        m.gauge("weird", "Odd values.", &[("v", "nan")])
            .unwrap()
            .set(f64::NAN);
        m.gauge("weird", "Odd values.", &[("v", "pinf")])
            .unwrap()
            .set(f64::INFINITY);
        m.gauge("weird", "Odd values.", &[("v", "minf")])
            .unwrap()
            .set(f64::NEG_INFINITY);
        assert_eq!(
            m.render(),
            "# HELP dep_sync_lag_seconds Seconds since the last DEP sync.\n\
             # TYPE dep_sync_lag_seconds gauge\n\
             dep_sync_lag_seconds 12.25\n\
             # HELP http_requests_total HTTP requests served.\n\
             # TYPE http_requests_total counter\n\
             http_requests_total{code=\"200\",route=\"/mdm/connect\"} 42\n\
             http_requests_total{code=\"500\",route=\"/mdm/connect\"} 1\n\
             # HELP queue_depth Queued commands.\n\
             # TYPE queue_depth gauge\n\
             queue_depth{kind=\"mdm\"} 1\n\
             # HELP weird Odd values.\n\
             # TYPE weird gauge\n\
             weird{v=\"minf\"} -Inf\n\
             weird{v=\"nan\"} NaN\n\
             weird{v=\"pinf\"} +Inf\n"
        );
    }

    #[test]
    fn escapes_label_values_and_help() {
        let m = Metrics::new();
        m.counter(
            "escapes_total",
            "Help with a \\ backslash,\na newline and \"quotes\".",
            &[("path", "C:\\Temp\\\"x\"\nnext")],
        )
        .unwrap()
        .inc();
        assert_eq!(
            m.render(),
            "# HELP escapes_total Help with a \\\\ backslash,\\na newline and \"quotes\".\n\
             # TYPE escapes_total counter\n\
             escapes_total{path=\"C:\\\\Temp\\\\\\\"x\\\"\\nnext\"} 1\n"
        );
    }

    #[test]
    fn handles_share_values() {
        let m = Metrics::new();
        let a = m.counter("c_total", "c", &[("x", "1")]).unwrap();
        let b = m.counter("c_total", "c", &[("x", "1")]).unwrap();
        a.inc();
        b.add(2);
        assert_eq!(a.get(), 3);
        let clone = m.clone();
        assert!(clone.render().contains("c_total{x=\"1\"} 3\n"));
    }

    #[test]
    fn rejects_bad_names_and_conflicts() {
        let m = Metrics::new();
        for bad in ["", "1abc", "a-b", "a b", "é"] {
            assert!(m.counter(bad, "h", &[]).is_err(), "{bad}");
        }
        for bad in ["", "__reserved", "a:b", "0x"] {
            assert!(m.counter("ok", "h", &[(bad, "v")]).is_err(), "{bad}");
        }
        assert!(m.counter("ok", "h", &[("a", "1"), ("a", "2")]).is_err());
        assert!(m.counter("ns:ok_total", "h", &[("_a", "1")]).is_ok());
        m.counter("both", "h", &[]).unwrap();
        assert!(matches!(
            m.gauge("both", "h", &[]),
            Err(Error::Metric { .. })
        ));
    }

    #[test]
    fn counts_from_many_threads() {
        let m = Metrics::new();
        let c = m.counter("n_total", "n", &[]).unwrap();
        let g = m.gauge("g", "g", &[]).unwrap();
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..10_000 {
                        c.inc();
                        g.inc();
                    }
                });
            }
        });
        assert_eq!(c.get(), 80_000);
        assert_eq!(g.get(), 80_000.0);
    }
}
