//! What the simulator measures: counters, latency samples and their
//! percentiles, and the failures it saw, merged over every device.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

/// The latency series the summary reports, in display order.
#[derive(Clone, Copy, Debug, Eq, Ord, PartialEq, PartialOrd)]
pub(crate) enum Series {
    /// From the profile request to the accepted `TokenUpdate`.
    Enrollment,
    /// Generating the device key and the signed SCEP request.
    KeyGeneration,
    /// `GET /mdm/enroll`.
    Profile,
    /// Each SCEP HTTP request (`GetCACaps`, `GetCACert`, `PKIOperation`).
    Scep,
    /// Each check-in (`Authenticate`, `TokenUpdate`).
    CheckIn,
    /// `Idle` report → the server's first answer.
    Idle,
    /// A command's answer → the server's next answer: one command round trip.
    Report,
}

impl Series {
    pub(crate) const ALL: [Self; 7] = [
        Self::Enrollment,
        Self::KeyGeneration,
        Self::Profile,
        Self::Scep,
        Self::CheckIn,
        Self::Idle,
        Self::Report,
    ];

    /// The label in the text summary.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Enrollment => "enrollment (total)",
            Self::KeyGeneration => "key + SCEP request",
            Self::Profile => "profile download",
            Self::Scep => "SCEP request",
            Self::CheckIn => "check-in",
            Self::Idle => "Idle",
            Self::Report => "command round trip",
        }
    }

    /// The key in the JSON summary.
    pub(crate) fn key(self) -> &'static str {
        match self {
            Self::Enrollment => "enrollment",
            Self::KeyGeneration => "key_generation",
            Self::Profile => "profile",
            Self::Scep => "scep",
            Self::CheckIn => "checkin",
            Self::Idle => "idle",
            Self::Report => "command_round_trip",
        }
    }
}

/// Latency samples in microseconds.
#[derive(Clone, Debug, Default)]
pub(crate) struct Samples(Vec<u64>);

impl Samples {
    pub(crate) fn push(&mut self, d: Duration) {
        self.0
            .push(u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    }

    pub(crate) fn extend(&mut self, other: &Self) {
        self.0.extend_from_slice(&other.0);
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// p50, p90, p99 and the maximum, or `None` without samples.
    pub(crate) fn percentiles(&self) -> Option<Percentiles> {
        let mut sorted = self.0.clone();
        sorted.sort_unstable();
        Some(Percentiles {
            p50: nearest_rank(&sorted, 50.0)?,
            p90: nearest_rank(&sorted, 90.0)?,
            p99: nearest_rank(&sorted, 99.0)?,
            max: *sorted.last()?,
        })
    }
}

/// Percentiles in microseconds.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) struct Percentiles {
    pub(crate) p50: u64,
    pub(crate) p90: u64,
    pub(crate) p99: u64,
    pub(crate) max: u64,
}

/// The nearest-rank percentile `p` (0 < p <= 100) of `sorted`: the
/// smallest sample such that at least `p` percent of the samples are less
/// than or equal to it.
pub(crate) fn nearest_rank(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() || !(p > 0.0 && p <= 100.0) {
        return None;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

/// Milliseconds with one decimal, from microseconds.
pub(crate) fn ms(us: u64) -> String {
    format!("{}.{}", us / 1000, (us % 1000) / 100)
}

/// One failure kind: how many devices hit it and the first error seen.
#[derive(Clone, Debug)]
pub(crate) struct Failure {
    pub(crate) count: u64,
    pub(crate) device: usize,
    pub(crate) first: String,
}

/// Everything one device (or, merged, the whole run) counted.
#[derive(Clone, Debug, Default)]
pub(crate) struct Stats {
    pub(crate) series: BTreeMap<Series, Samples>,
    /// Check-ins accepted, by message type.
    pub(crate) checkins: BTreeMap<&'static str, u64>,
    /// Commands answered, by the status sent.
    pub(crate) answered: BTreeMap<&'static str, u64>,
    /// Commands received, by request type.
    pub(crate) request_types: BTreeMap<String, u64>,
    pub(crate) sessions: u64,
    pub(crate) resumed_sessions: u64,
    pub(crate) rounds: u64,
    pub(crate) truncated_rounds: u64,
    /// Commands the server sent in answer to a `NotNow`, on the same connection.
    pub(crate) commands_after_not_now: u64,
    pub(crate) http_requests: u64,
    pub(crate) http_retries: u64,
    pub(crate) connections: u64,
    /// `Mdm-Signature` headers made.
    pub(crate) signatures: u64,
    pub(crate) enrolled: u64,
    pub(crate) reused: u64,
    pub(crate) reenrolled: u64,
    /// Devices that went away (locked, erased, shut down), by reason.
    pub(crate) gone: BTreeMap<&'static str, u64>,
    /// Failed devices, by failure kind.
    pub(crate) failures: BTreeMap<&'static str, Failure>,
}

impl Stats {
    pub(crate) fn record(&mut self, s: Series, d: Duration) {
        self.series.entry(s).or_default().push(d);
    }

    pub(crate) fn count(map: &mut BTreeMap<&'static str, u64>, key: &'static str) {
        *map.entry(key).or_default() += 1;
    }

    pub(crate) fn fail(&mut self, kind: &'static str, device: usize, error: &anyhow::Error) {
        let f = self.failures.entry(kind).or_insert_with(|| Failure {
            count: 0,
            device,
            first: format!("{error:#}"),
        });
        f.count += 1;
    }

    pub(crate) fn failed_devices(&self) -> u64 {
        self.failures.values().map(|f| f.count).sum()
    }

    /// Command round trips: commands answered and the server's reply read.
    pub(crate) fn round_trips(&self) -> usize {
        self.series.get(&Series::Report).map_or(0, Samples::len)
    }

    pub(crate) fn merge(&mut self, o: &Self) {
        for (k, v) in &o.series {
            self.series.entry(*k).or_default().extend(v);
        }
        for (k, v) in &o.checkins {
            *self.checkins.entry(k).or_default() += v;
        }
        for (k, v) in &o.answered {
            *self.answered.entry(k).or_default() += v;
        }
        for (k, v) in &o.request_types {
            *self.request_types.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &o.gone {
            *self.gone.entry(k).or_default() += v;
        }
        for (k, f) in &o.failures {
            match self.failures.get_mut(k) {
                Some(mine) => {
                    mine.count += f.count;
                    if f.device < mine.device {
                        mine.device = f.device;
                        mine.first.clone_from(&f.first);
                    }
                }
                None => {
                    self.failures.insert(k, f.clone());
                }
            }
        }
        self.sessions += o.sessions;
        self.resumed_sessions += o.resumed_sessions;
        self.rounds += o.rounds;
        self.truncated_rounds += o.truncated_rounds;
        self.commands_after_not_now += o.commands_after_not_now;
        self.http_requests += o.http_requests;
        self.http_retries += o.http_retries;
        self.connections += o.connections;
        self.signatures += o.signatures;
        self.enrolled += o.enrolled;
        self.reused += o.reused;
        self.reenrolled += o.reenrolled;
    }

    /// The latency table of the text summary.
    pub(crate) fn latency_table(&self) -> String {
        let mut out = String::new();
        if self.series.values().all(|s| s.0.is_empty()) {
            return out;
        }
        let _ = writeln!(
            out,
            "latency (ms)           {:>7} {:>9} {:>9} {:>9} {:>9}",
            "count", "p50", "p90", "p99", "max"
        );
        for s in Series::ALL {
            let Some(samples) = self.series.get(&s) else {
                continue;
            };
            let Some(p) = samples.percentiles() else {
                continue;
            };
            let _ = writeln!(
                out,
                "  {:<20} {:>7} {:>9} {:>9} {:>9} {:>9}",
                s.label(),
                samples.len(),
                ms(p.p50),
                ms(p.p90),
                ms(p.p99),
                ms(p.max)
            );
        }
        out
    }

    /// The latencies as JSON: `{key: {count, p50_ms, p90_ms, p99_ms, max_ms}}`.
    pub(crate) fn latency_json(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        for s in Series::ALL {
            let Some(samples) = self.series.get(&s) else {
                continue;
            };
            let Some(p) = samples.percentiles() else {
                continue;
            };
            #[allow(clippy::cast_precision_loss)]
            let f = |us: u64| us as f64 / 1000.0;
            m.insert(
                s.key().to_owned(),
                serde_json::json!({
                    "count": samples.len(),
                    "p50_ms": f(p.p50),
                    "p90_ms": f(p.p90),
                    "p99_ms": f(p.p99),
                    "max_ms": f(p.max),
                }),
            );
        }
        serde_json::Value::Object(m)
    }
}

/// `n` per second over `elapsed`, or 0 for an empty interval.
pub(crate) fn rate(n: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    #[allow(clippy::cast_precision_loss)]
    if secs > 0.0 { n as f64 / secs } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(nearest_rank(&v, 50.0), Some(50));
        assert_eq!(nearest_rank(&v, 90.0), Some(90));
        assert_eq!(nearest_rank(&v, 99.0), Some(99));
        assert_eq!(nearest_rank(&v, 100.0), Some(100));
        assert_eq!(nearest_rank(&v, 0.5), Some(1));
        assert_eq!(nearest_rank(&[7], 50.0), Some(7));
        assert_eq!(nearest_rank(&[7], 99.0), Some(7));
        assert_eq!(nearest_rank(&[1, 2], 50.0), Some(1));
        assert_eq!(nearest_rank(&[1, 2], 51.0), Some(2));
        assert_eq!(nearest_rank(&[], 50.0), None);
        assert_eq!(nearest_rank(&v, 0.0), None);
        assert_eq!(nearest_rank(&v, 101.0), None);
        assert_eq!(nearest_rank(&v, f64::NAN), None);
    }

    #[test]
    fn samples_sort_before_ranking() {
        let mut s = Samples::default();
        for ms in [30, 10, 20, 50, 40, 60, 70, 80, 90, 100] {
            s.push(Duration::from_millis(ms));
        }
        let p = s.percentiles().unwrap();
        assert_eq!(p.p50, 50_000);
        assert_eq!(p.p90, 90_000);
        assert_eq!(p.p99, 100_000);
        assert_eq!(p.max, 100_000);
        assert!(Samples::default().percentiles().is_none());
    }

    #[test]
    fn millisecond_formatting() {
        assert_eq!(ms(0), "0.0");
        assert_eq!(ms(1_234), "1.2");
        assert_eq!(ms(12_999), "12.9");
        assert_eq!(ms(1_000_000), "1000.0");
    }

    #[test]
    fn merge_keeps_the_first_device_error_per_kind() {
        let mut a = Stats::default();
        a.fail("SCEP", 7, &anyhow::anyhow!("seventh"));
        a.record(Series::Idle, Duration::from_millis(3));
        let mut b = Stats::default();
        b.fail("SCEP", 2, &anyhow::anyhow!("second"));
        b.fail("check-in", 3, &anyhow::anyhow!("third"));
        b.record(Series::Idle, Duration::from_millis(5));
        b.http_requests = 4;
        a.merge(&b);
        assert_eq!(a.failures["SCEP"].count, 2);
        assert_eq!(a.failures["SCEP"].first, "second");
        assert_eq!(a.failures["check-in"].count, 1);
        assert_eq!(a.failed_devices(), 3);
        assert_eq!(a.series[&Series::Idle].len(), 2);
        assert_eq!(a.http_requests, 4);
    }

    #[test]
    fn rates() {
        assert_eq!(rate(10, Duration::from_secs(2)), 5.0);
        assert_eq!(rate(10, Duration::ZERO), 0.0);
    }
}
