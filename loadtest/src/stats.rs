//! Latency recording: an HDR histogram overall plus one per second for the timeline; error counts by code.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use parking_lot::Mutex;
use serde::Serialize;

/// Highest latency recorded exactly (µs); longer ones are clamped.
pub const MAX_TRACKED_US: u64 = 120_000_000;

fn histogram() -> Histogram<u64> {
    // 3 significant digits, 1 µs to 120 s; the bounds are constants, so this cannot fail.
    Histogram::new_with_bounds(1, MAX_TRACKED_US, 3).unwrap_or_else(|_| Histogram::new(3).expect("histogram"))
}

/// Percentiles of one latency, in milliseconds.
#[derive(Serialize, Debug, Clone, Default, PartialEq)]
pub struct Summary {
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

/// One second of the timeline.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Second {
    pub t: u64,
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

struct Inner {
    all: Histogram<u64>,
    per_second: Vec<Histogram<u64>>,
}

/// Records one latency (e.g. start → incoming).
pub struct Recorder {
    start: Instant,
    inner: Mutex<Inner>,
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn summary_of(h: &Histogram<u64>) -> Summary {
    if h.is_empty() {
        return Summary::default();
    }
    Summary {
        count: h.len(),
        p50_ms: ms(h.value_at_quantile(0.50)),
        p90_ms: ms(h.value_at_quantile(0.90)),
        p99_ms: ms(h.value_at_quantile(0.99)),
        p999_ms: ms(h.value_at_quantile(0.999)),
        max_ms: ms(h.max()),
        mean_ms: h.mean() / 1000.0,
    }
}

impl Recorder {
    pub fn new(start: Instant) -> Self {
        Self {
            start,
            inner: Mutex::new(Inner {
                all: histogram(),
                per_second: Vec::new(),
            }),
        }
    }

    /// Records `d`, observed now.
    pub fn record(&self, d: Duration) {
        let us = (d.as_micros() as u64).clamp(1, MAX_TRACKED_US);
        let sec = self.start.elapsed().as_secs() as usize;
        let mut inner = self.inner.lock();
        inner.all.saturating_record(us);
        while inner.per_second.len() <= sec {
            inner.per_second.push(histogram());
        }
        inner.per_second[sec].saturating_record(us);
    }

    pub fn summary(&self) -> Summary {
        summary_of(&self.inner.lock().all)
    }

    /// p50/p99 of each second that saw samples.
    pub fn timeline(&self) -> Vec<Second> {
        let inner = self.inner.lock();
        inner
            .per_second
            .iter()
            .enumerate()
            .filter(|(_, h)| !h.is_empty())
            .map(|(t, h)| Second {
                t: t as u64,
                count: h.len(),
                p50_ms: ms(h.value_at_quantile(0.5)),
                p99_ms: ms(h.value_at_quantile(0.99)),
            })
            .collect()
    }

    /// (quantile, ms) points of the distribution, from the median to the max.
    pub fn distribution(&self) -> Vec<(f64, f64)> {
        let inner = self.inner.lock();
        if inner.all.is_empty() {
            return Vec::new();
        }
        [0.0, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9995, 0.9999, 1.0]
            .iter()
            .map(|&q| (q, ms(inner.all.value_at_quantile(q))))
            .collect()
    }
}

/// Counts errors by code.
#[derive(Default)]
pub struct Errors {
    by_code: Mutex<BTreeMap<String, u64>>,
}

impl Errors {
    pub fn add(&self, code: &str) {
        *self.by_code.lock().entry(code.to_owned()).or_default() += 1;
    }

    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.by_code.lock().clone()
    }

    pub fn total(&self) -> u64 {
        self.by_code.lock().values().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_timeline() {
        let r = Recorder::new(Instant::now());
        for i in 1..=1000u64 {
            r.record(Duration::from_micros(i * 10));
        }
        let s = r.summary();
        assert_eq!(s.count, 1000);
        assert!((s.p50_ms - 5.0).abs() < 0.05, "{s:?}");
        assert!((s.p99_ms - 9.9).abs() < 0.05, "{s:?}");
        assert!((s.max_ms - 10.0).abs() < 0.05);
        let t = r.timeline();
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].count, 1000);
        // The distribution runs from the fastest sample to the slowest, through the summary's percentiles.
        let d = r.distribution();
        let at = |q: f64| d.iter().find(|p| p.0 == q).unwrap().1;
        assert!((at(0.0) - 0.01).abs() < 0.001, "{d:?}");
        assert_eq!(at(0.5), s.p50_ms);
        assert_eq!(at(0.99), s.p99_ms);
        assert_eq!(at(1.0), s.max_ms);
        assert!(d.windows(2).all(|w| w[0].1 <= w[1].1));
        assert!(Recorder::new(Instant::now()).distribution().is_empty());
    }

    #[test]
    fn errors_count_by_code() {
        let e = Errors::default();
        e.add("busy");
        e.add("busy");
        e.add("rate_limited");
        assert_eq!(e.total(), 3);
        assert_eq!(e.snapshot()["busy"], 2);
    }
}
