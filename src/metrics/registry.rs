//! The instruments (counters, labelled counters, histograms) and the point-in-time [`Family`] snapshot
//! that both exporters render. In-house rather than the OpenTelemetry SDK: a dozen fixed instruments need
//! a few atomics, and the SDK's dependency tree would double the build time of this module's users.
//!
//! Knows nothing of HTTP, Prometheus text or protobuf.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Seconds buckets for the duration histograms: 5 ms to 30 s, the range of an image request.
pub const SECONDS_BUCKETS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// A monotonically increasing count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// The count so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Counters keyed by label values (a handful of distinct keys: statuses, dialects, error kinds).
#[derive(Debug)]
pub struct LabeledCounter {
    names: &'static [&'static str],
    values: Mutex<BTreeMap<Vec<String>, u64>>,
}

impl LabeledCounter {
    /// Counters labelled by `names`, in this order.
    pub fn new(names: &'static [&'static str]) -> LabeledCounter {
        LabeledCounter { names, values: Mutex::new(BTreeMap::new()) }
    }

    /// Adds one to the counter for `values` (one per label name).
    pub fn inc(&self, values: &[&str]) {
        let key = values.iter().map(|v| v.to_string()).collect();
        *self.lock().entry(key).or_insert(0) += 1;
    }

    /// Every labelled count, as points.
    pub fn points(&self) -> Vec<Point> {
        let values = self.lock();
        let label = |key: &Vec<String>| self.names.iter().copied().zip(key.iter().cloned()).collect();
        values.iter().map(|(key, n)| Point { labels: label(key), value: Value::Number(*n as f64) }).collect()
    }

    /// A poisoned lock only means a panic elsewhere mid-increment; the map is still usable.
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<Vec<String>, u64>> {
        self.values.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A histogram with fixed upper bounds; observations above the last go to the overflow bucket.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    state: Mutex<HistogramState>,
}

#[derive(Debug, Default, Clone)]
struct HistogramState {
    counts: Vec<u64>,
    sum: f64,
}

impl Histogram {
    /// A histogram over `bounds` (ascending).
    pub fn new(bounds: &'static [f64]) -> Histogram {
        let state = HistogramState { counts: vec![0; bounds.len() + 1], sum: 0.0 };
        Histogram { bounds, state: Mutex::new(state) }
    }

    /// Records one observation.
    pub fn observe(&self, value: f64) {
        let bucket = self.bounds.iter().position(|b| value <= *b).unwrap_or(self.bounds.len());
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = state.counts.get_mut(bucket) {
            *count += 1;
        }
        state.sum += value;
    }

    /// The histogram as one point.
    pub fn point(&self) -> Point {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let count = state.counts.iter().sum();
        let value = Value::Histogram { bounds: self.bounds.to_vec(), counts: state.counts, sum: state.sum, count };
        Point { labels: Vec::new(), value }
    }
}

/// What kind of instrument a family is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Monotonic cumulative sum.
    Counter,
    /// A value now.
    Gauge,
    /// Bucketed observations.
    Histogram,
}

/// One labelled value.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    /// Label names and values.
    pub labels: Vec<(&'static str, String)>,
    /// The value.
    pub value: Value,
}

/// A number or a histogram.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Counter or gauge value.
    Number(f64),
    /// Per-bucket (not cumulative) counts, one more than `bounds` (the overflow bucket last).
    Histogram {
        /// Upper bounds.
        bounds: Vec<f64>,
        /// Count in each bucket.
        counts: Vec<u64>,
        /// Sum of observations.
        sum: f64,
        /// Number of observations.
        count: u64,
    },
}

/// A metric with its points, as exporters see it.
#[derive(Clone, Debug, PartialEq)]
pub struct Family {
    /// Base name (no namespace), e.g. `requests_total`.
    pub name: &'static str,
    /// One-line description.
    pub help: &'static str,
    /// UCUM unit for OTLP (`s`, `By`, `1`, `{request}`).
    pub unit: &'static str,
    /// Instrument kind.
    pub kind: Kind,
    /// The points.
    pub points: Vec<Point>,
}

impl Family {
    /// A family of one unlabelled number.
    pub fn single(name: &'static str, help: &'static str, unit: &'static str, kind: Kind, value: f64) -> Family {
        Family { name, help, unit, kind, points: vec![Point { labels: Vec::new(), value: Value::Number(value) }] }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_by_upper_bound_inclusive() {
        static BOUNDS: &[f64] = &[1.0, 2.0];
        let h = Histogram::new(BOUNDS);
        for v in [0.5, 1.0, 1.5, 3.0, 9.0] {
            h.observe(v);
        }
        let expected = Value::Histogram { bounds: vec![1.0, 2.0], counts: vec![2, 1, 2], sum: 15.0, count: 5 };
        assert_eq!(h.point().value, expected);
    }

    #[test]
    fn labelled_counter_keeps_one_count_per_label_set() {
        let c = LabeledCounter::new(&["status", "dialect"]);
        c.inc(&["200", "imgproxy"]);
        c.inc(&["404", "imgproxy"]);
        c.inc(&["200", "imgproxy"]);
        let points = c.points();
        assert_eq!(points.len(), 2);
        let labels = vec![("status", "200".to_string()), ("dialect", "imgproxy".to_string())];
        assert_eq!(points[0], Point { labels, value: Value::Number(2.0) });
    }
}
