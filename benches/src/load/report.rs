//! What a run measured: a thread-safe [`Recorder`] fed by the workers, the per-phase
//! [`PhaseStats`] it yields, and the [`Report`] printed as a table or written as JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

/// Highest latency the histogram tracks exactly, in microseconds (one hour); longer values are clamped.
const MAX_LATENCY_US: u64 = 3_600_000_000;

/// How one request ended, as far as the report cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `ErrorCode` 0: `messages` messages accepted, and the per-message `Result`s that were not 0.
    Ok {
        /// Messages accepted.
        messages: u64,
        /// Non-zero per-message `Result` codes (current edition), one entry per message.
        failed: Vec<u32>,
    },
    /// A non-zero API-level `ErrorCode`.
    Api(u32),
    /// No usable answer: connection, timeout, HTTP status or a body that is not an envelope.
    Transport(String),
}

impl Outcome {
    /// The keys this outcome adds to the error counts (none for a clean success).
    fn error_keys(&self) -> Vec<String> {
        match self {
            Outcome::Ok { failed, .. } => failed.iter().map(|c| format!("{c} (message)")).collect(),
            Outcome::Api(code) => vec![code.to_string()],
            Outcome::Transport(what) => vec![format!("transport: {what}")],
        }
    }
}

/// Collects outcomes and latencies from concurrent workers, over one or more measurement windows
/// (a `--max` run alternates slices of the target and of the baseline).
#[derive(Debug)]
pub struct Recorder {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    latency_us: Histogram<u64>,
    requests: u64,
    ok_requests: u64,
    messages: u64,
    errors: BTreeMap<String, u64>,
    last_completion: Option<Instant>,
    measured: Duration,
}

impl Recorder {
    /// An empty recorder.
    pub fn new() -> Recorder {
        Recorder {
            inner: Mutex::new(Inner {
                latency_us: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
                    .expect("static histogram bounds are valid"),
                requests: 0,
                ok_requests: 0,
                messages: 0,
                errors: BTreeMap::new(),
                last_completion: None,
                measured: Duration::ZERO,
            }),
        }
    }

    /// Records a request that completed at `done` with `outcome`, `latency` after it was due.
    pub fn record(&self, latency: Duration, done: Instant, outcome: &Outcome) {
        let us = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .clamp(1, MAX_LATENCY_US);
        let mut inner = self.inner.lock().expect("recorder lock is never poisoned");
        inner
            .latency_us
            .record(us)
            .expect("value is clamped into the histogram bounds");
        inner.requests += 1;
        if let Outcome::Ok { messages, .. } = outcome {
            inner.ok_requests += 1;
            inner.messages += messages;
        }
        for key in outcome.error_keys() {
            *inner.errors.entry(key).or_default() += 1;
        }
        inner.last_completion = Some(inner.last_completion.map_or(done, |t| t.max(done)));
    }

    /// Closes a measurement window opened at `start` and planned to end at `end`: it counts until
    /// the last completion recorded in it, or until `end` when that is later (a window in which
    /// nothing completed still has its planned length).
    pub fn close_window(&self, start: Instant, end: Instant) {
        let mut inner = self.inner.lock().expect("recorder lock is never poisoned");
        let until = match inner.last_completion {
            Some(t) if t > end => t,
            _ => end,
        };
        inner.measured += until.saturating_duration_since(start);
    }

    /// The statistics of the closed windows, rates per second of their total length.
    pub fn stats(&self) -> PhaseStats {
        let inner = self.inner.lock().expect("recorder lock is never poisoned");
        let elapsed = inner.measured.as_secs_f64();
        let per_sec = |n: u64| {
            if elapsed > 0.0 {
                n as f64 / elapsed
            } else {
                0.0
            }
        };
        let ms = |q: f64| inner.latency_us.value_at_quantile(q) as f64 / 1000.0;
        PhaseStats {
            requests: inner.requests,
            ok_requests: inner.ok_requests,
            messages: inner.messages,
            elapsed_secs: round(elapsed, 3),
            achieved_rps: round(per_sec(inner.ok_requests), 2),
            messages_per_sec: round(per_sec(inner.messages), 1),
            latency_ms: LatencyMs {
                p50: round(ms(0.50), 3),
                p90: round(ms(0.90), 3),
                p99: round(ms(0.99), 3),
                max: round(inner.latency_us.max() as f64 / 1000.0, 3),
            },
            errors: inner.errors.clone(),
        }
    }
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::new()
    }
}

fn round(v: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (v * f).round() / f
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LatencyMs {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

/// The measurements of one phase (the target, or the bare baseline).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PhaseStats {
    /// Requests that completed (any outcome).
    pub requests: u64,
    /// Requests answered with `ErrorCode` 0.
    pub ok_requests: u64,
    /// Messages accepted.
    pub messages: u64,
    /// Length of the measurement window, in seconds.
    pub elapsed_secs: f64,
    /// Requests answered with `ErrorCode` 0, per second of the window.
    pub achieved_rps: f64,
    /// Messages accepted per second of the window.
    pub messages_per_sec: f64,
    /// Latency percentiles (open loop: from each request's scheduled time).
    pub latency_ms: LatencyMs,
    /// Every error by count: API `ErrorCode`s (`"60007"`), per-message results (`"80001 (message)"`)
    /// and transport failures (`"transport: timeout"`). Empty when nothing failed.
    pub errors: BTreeMap<String, u64>,
}

impl PhaseStats {
    /// Total count of errors of every kind.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// How the load was applied.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Open loop at a fixed rate.
    Rate,
    /// Closed loop with a fixed number of connections, as fast as the target answers.
    Max,
}

/// The whole run: settings, the target's figures and, with `--max`, the baseline's.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Open or closed loop.
    pub mode: Mode,
    /// API edition of the batches.
    pub edition: String,
    /// What was driven, e.g. `in-process reference server (SQLite)` or the target URL.
    pub target: String,
    /// Messages per request.
    pub batch: usize,
    /// Groups the load rotated over.
    pub groups: usize,
    /// Requested duration, in seconds.
    pub duration_secs: f64,
    /// Requests per second scheduled (rate mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// Concurrent connections (max mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connections: Option<usize>,
    /// The target's figures.
    #[serde(flatten)]
    pub stats: PhaseStats,
    /// The bare baseline's `achieved_rps` (max mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline_rps: Option<f64>,
    /// `achieved_rps / baseline_rps` (max mode): the headline of a ceiling run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio_to_baseline: Option<f64>,
    /// The baseline's full figures (max mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<PhaseStats>,
}

impl Report {
    /// Adds the baseline phase and the ratio of the target to it.
    pub fn with_baseline(mut self, baseline: PhaseStats) -> Report {
        self.baseline_rps = Some(baseline.achieved_rps);
        self.ratio_to_baseline = (baseline.achieved_rps > 0.0)
            .then(|| round(self.stats.achieved_rps / baseline.achieved_rps, 3));
        self.baseline = Some(baseline);
        self
    }

    /// Errors of every kind, in the target and the baseline.
    pub fn error_count(&self) -> u64 {
        self.stats.error_count() + self.baseline.as_ref().map_or(0, PhaseStats::error_count)
    }

    /// The human-readable table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let load = match (self.mode, self.rate, self.connections) {
            (Mode::Rate, Some(r), _) => format!("open loop at {r} requests/s"),
            (_, _, Some(c)) => format!("closed loop, {c} connections"),
            _ => "load".to_owned(),
        };
        let _ = writeln!(
            out,
            "tim-load: {load}, {} edition ({} messages/request), {} s, {} groups",
            self.edition, self.batch, self.duration_secs, self.groups
        );
        let _ = writeln!(out, "target: {}", self.target);
        let _ = writeln!(
            out,
            "{:<10} {:>9} {:>10} {:>11} {:>8} {:>8} {:>8} {:>9} {:>7}",
            "", "requests", "req/s", "msgs/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors"
        );
        let mut rows = vec![("target", &self.stats)];
        if let Some(b) = &self.baseline {
            rows.push(("baseline", b));
        }
        for (name, s) in &rows {
            let l = s.latency_ms;
            let _ = writeln!(
                out,
                "{name:<10} {:>9} {:>10.1} {:>11.1} {:>8.2} {:>8.2} {:>8.2} {:>9.2} {:>7}",
                s.requests,
                s.achieved_rps,
                s.messages_per_sec,
                l.p50,
                l.p90,
                l.p99,
                l.max,
                s.error_count()
            );
        }
        if let Some(ratio) = self.ratio_to_baseline {
            let _ = writeln!(out, "ratio target/baseline: {ratio:.3}");
        }
        for (name, s) in rows {
            for (key, n) in &s.errors {
                let _ = writeln!(out, "error ({name}): {key}: {n}");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(messages: u64) -> Outcome {
        Outcome::Ok {
            messages,
            failed: Vec::new(),
        }
    }

    #[test]
    fn counts_every_kind_of_error_by_key() {
        let start = Instant::now();
        let r = Recorder::new();
        let done = start + Duration::from_secs(2);
        let ms = Duration::from_millis;
        r.record(ms(1), done, &ok(20));
        r.record(ms(1), done, &Outcome::Api(60007));
        r.record(ms(1), done, &Outcome::Api(60007));
        r.record(
            ms(1),
            done,
            &Outcome::Ok {
                messages: 5,
                failed: vec![80001, 80001],
            },
        );
        r.record(ms(1), done, &Outcome::Transport("timeout".into()));
        r.close_window(start, start + Duration::from_secs(1));
        let s = r.stats();
        assert_eq!((s.requests, s.ok_requests, s.messages), (5, 2, 25));
        let expected: BTreeMap<String, u64> = [
            ("60007".to_owned(), 2),
            ("80001 (message)".to_owned(), 2),
            ("transport: timeout".to_owned(), 1),
        ]
        .into();
        assert_eq!(s.errors, expected);
        assert_eq!(s.error_count(), 5);
        // Two successful requests over a window that lasted until the last completion.
        assert_eq!(s.elapsed_secs, 2.0);
        assert_eq!(s.achieved_rps, 1.0);
        assert_eq!(s.messages_per_sec, 12.5);
    }

    #[test]
    fn windows_add_up() {
        let t0 = Instant::now();
        let r = Recorder::new();
        let s = Duration::from_secs;
        r.record(s(0), t0 + s(1), &ok(20));
        r.close_window(t0, t0 + s(2));
        // A later window whose last answer came after its planned end.
        r.record(s(0), t0 + s(13), &ok(20));
        r.close_window(t0 + s(10), t0 + s(12));
        let stats = r.stats();
        assert_eq!(stats.elapsed_secs, 5.0);
        assert_eq!(stats.achieved_rps, 0.4);
        assert_eq!(stats.messages_per_sec, 8.0);
    }

    #[test]
    fn percentiles_come_from_the_histogram() {
        let start = Instant::now();
        let r = Recorder::new();
        for i in 1..=100u64 {
            r.record(Duration::from_millis(i), start, &ok(1));
        }
        r.close_window(start, start + Duration::from_secs(1));
        let s = r.stats();
        assert_eq!(s.elapsed_secs, 1.0);
        let l = s.latency_ms;
        // Three significant digits: 50 ms is recorded as a bucket within 0.1% of it.
        assert!((l.p50 - 50.0).abs() < 0.1, "{l:?}");
        assert!((l.p90 - 90.0).abs() < 0.1, "{l:?}");
        assert!((l.p99 - 99.0).abs() < 0.1, "{l:?}");
        assert!((l.max - 100.0).abs() < 0.1, "{l:?}");
    }

    fn report(mode: Mode) -> Report {
        let start = Instant::now();
        let r = Recorder::new();
        r.record(
            Duration::from_millis(3),
            start + Duration::from_secs(1),
            &ok(20),
        );
        r.close_window(start, start);
        Report {
            mode,
            edition: "seed".into(),
            target: "in-process reference server (memory)".into(),
            batch: 20,
            groups: 256,
            duration_secs: 1.0,
            rate: (mode == Mode::Rate).then_some(100.0),
            connections: (mode == Mode::Max).then_some(4),
            stats: r.stats(),
            baseline_rps: None,
            ratio_to_baseline: None,
            baseline: None,
        }
    }

    #[test]
    fn json_report_has_the_documented_fields() {
        let v = serde_json::to_value(report(Mode::Rate)).unwrap();
        for key in ["achieved_rps", "messages_per_sec", "latency_ms", "errors"] {
            assert!(v.get(key).is_some(), "{key} missing in {v}");
        }
        for key in ["p50", "p90", "p99", "max"] {
            assert!(v["latency_ms"][key].is_number(), "{key} missing in {v}");
        }
        assert_eq!(v["errors"], serde_json::json!({}));
        assert_eq!(v["mode"], "rate");
        assert!(v.get("baseline_rps").is_none());
        assert!(v.get("ratio_to_baseline").is_none());
    }

    #[test]
    fn max_report_carries_the_baseline_and_the_ratio() {
        let mut baseline = report(Mode::Max).stats;
        baseline.achieved_rps = 4.0;
        let r = report(Mode::Max).with_baseline(baseline);
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["achieved_rps"], 1.0);
        assert_eq!(v["baseline_rps"], 4.0);
        assert_eq!(v["ratio_to_baseline"], 0.25);
        assert_eq!(v["baseline"]["achieved_rps"], 4.0);
        let table = r.table();
        assert!(table.contains("ratio target/baseline: 0.250"), "{table}");
        assert!(table.contains("closed loop, 4 connections"), "{table}");
    }
}
