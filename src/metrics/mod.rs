//! The metrics of SPEC §7 / issue 7: what is counted, under which names, and the snapshot both exporters
//! read (Prometheus text in `prometheus.rs`, OTLP `http/protobuf` in `otlp.rs`).
//!
//! One [`Metrics`] per application state (tests run several apps in one process, each with its own
//! counts). Request facts arrive as one [`RequestRecord`] per request from the server's access-log layer;
//! gauges (workers, queue, memory) are read from their owners when a snapshot is taken, so they are
//! never stale. Nothing here knows HTTP routing or the dialects.

pub mod otlp;
pub mod prometheus;
pub mod registry;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::memory_budget::MemoryBudget;
use crate::workers::Workers;

use registry::{Counter, Family, Histogram, Kind, LabeledCounter, SECONDS_BUCKETS};

/// What one request contributes to the metrics.
#[derive(Clone, Debug, Default)]
pub struct RequestRecord {
    /// `imgproxy` or `misskey`.
    pub dialect: &'static str,
    /// The HTTP status sent.
    pub status: u16,
    /// The failure's kind (`Failure::kind`), when it failed.
    pub error_kind: Option<&'static str>,
    /// Whole request.
    pub total: Duration,
    /// Downloading the source (zero when there was no download).
    pub download: Option<Duration>,
    /// Running the pipeline (zero when it did not run).
    pub processing: Option<Duration>,
    /// Source bytes received.
    pub source_bytes: u64,
}

/// Every instrument of the application.
#[derive(Debug)]
pub struct Metrics {
    start: SystemTime,
    requests: LabeledCounter,
    errors: LabeledCounter,
    request_duration: Histogram,
    download_duration: Histogram,
    processing_duration: Histogram,
    in_progress: AtomicI64,
    source_bytes: Counter,
    response_bytes: Counter,
    workers: Arc<Workers>,
    budget: Arc<MemoryBudget>,
}

/// Counts one image request in progress until dropped.
#[derive(Debug)]
pub struct InProgress(Arc<Metrics>);

impl Drop for InProgress {
    fn drop(&mut self) {
        self.0.in_progress.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    /// Instruments reading worker and memory gauges from `workers` and `budget`.
    pub fn new(workers: Arc<Workers>, budget: Arc<MemoryBudget>) -> Arc<Metrics> {
        Arc::new(Metrics {
            start: SystemTime::now(),
            requests: LabeledCounter::new(&["status", "dialect"]),
            errors: LabeledCounter::new(&["kind"]),
            request_duration: Histogram::new(SECONDS_BUCKETS),
            download_duration: Histogram::new(SECONDS_BUCKETS),
            processing_duration: Histogram::new(SECONDS_BUCKETS),
            in_progress: AtomicI64::new(0),
            source_bytes: Counter::default(),
            response_bytes: Counter::default(),
            workers,
            budget,
        })
    }

    /// When counting started (the OTLP cumulative start time).
    pub fn start_time(&self) -> SystemTime {
        self.start
    }

    /// Marks an image request in progress (`images_in_progress`) until the guard drops.
    pub fn in_progress(self: &Arc<Self>) -> InProgress {
        self.in_progress.fetch_add(1, Ordering::Relaxed);
        InProgress(self.clone())
    }

    /// Records a finished request.
    pub fn record(&self, r: &RequestRecord) {
        self.requests.inc(&[&r.status.to_string(), r.dialect]);
        if let Some(kind) = r.error_kind {
            self.errors.inc(&[kind]);
        }
        self.request_duration.observe(r.total.as_secs_f64());
        if let Some(d) = r.download {
            self.download_duration.observe(d.as_secs_f64());
        }
        if let Some(d) = r.processing {
            self.processing_duration.observe(d.as_secs_f64());
        }
        self.source_bytes.add(r.source_bytes);
    }

    /// Counts body bytes sent (streamed bodies count as they go).
    pub fn add_response_bytes(&self, n: u64) {
        self.response_bytes.add(n);
    }

    /// Counts source bytes passed through a stream (they never reach [`RequestRecord`]).
    pub fn add_source_bytes(&self, n: u64) {
        self.source_bytes.add(n);
    }

    /// Every metric now.
    pub fn snapshot(&self) -> Vec<Family> {
        let usage = self.budget.usage();
        let utilization = self.workers.busy() as f64 / self.workers.size().max(1) as f64;
        let mut requests = self.requests.points();
        requests.sort_by(|a, b| a.labels.cmp(&b.labels));
        vec![
            family("requests_total", "Requests answered, by status and dialect.", "{request}", Kind::Counter, requests),
            family("errors_total", "Failed requests, by kind.", "{request}", Kind::Counter, self.errors.points()),
            histogram("request_duration_seconds", "Whole request time.", &self.request_duration),
            histogram("download_duration_seconds", "Source download time.", &self.download_duration),
            histogram("processing_duration_seconds", "Pipeline time.", &self.processing_duration),
            gauge("images_in_progress", "Image requests being served now.", "{request}", self.images_in_progress()),
            gauge("workers_utilization", "Busy worker slots / all slots (0-1).", "1", utilization),
            counter_f(
                "workers_busy_seconds_total",
                "Worker slot-seconds used by finished jobs.",
                "s",
                self.workers.busy_seconds(),
            ),
            gauge("workers", "Worker slots (IMGPROXY_WORKERS).", "1", self.workers.size() as f64),
            gauge("queue_length", "Requests waiting for a worker slot.", "{request}", self.workers.queued() as f64),
            gauge("process_memory_bytes", "Resident set size of the process.", "By", process_rss_bytes() as f64),
            gauge(
                "pipeline_buffer_bytes",
                "Bytes of decoded images in flight (reserved).",
                "By",
                usage.reserved as f64,
            ),
            gauge(
                "pipeline_buffer_bytes_max",
                "High-water mark of pipeline_buffer_bytes.",
                "By",
                usage.high_water as f64,
            ),
            gauge("memory_budget_bytes", "The memory budget for decoded images.", "By", self.budget.total() as f64),
            counter("source_bytes_total", "Source bytes received.", "By", self.source_bytes.get()),
            counter("response_bytes_total", "Response body bytes sent.", "By", self.response_bytes.get()),
        ]
    }

    fn images_in_progress(&self) -> f64 {
        self.in_progress.load(Ordering::Relaxed).max(0) as f64
    }
}

fn family(
    name: &'static str,
    help: &'static str,
    unit: &'static str,
    kind: Kind,
    points: Vec<registry::Point>,
) -> Family {
    Family { name, help, unit, kind, points }
}

fn histogram(name: &'static str, help: &'static str, h: &Histogram) -> Family {
    Family { name, help, unit: "s", kind: Kind::Histogram, points: vec![h.point()] }
}

fn gauge(name: &'static str, help: &'static str, unit: &'static str, value: f64) -> Family {
    Family::single(name, help, unit, Kind::Gauge, value)
}

fn counter(name: &'static str, help: &'static str, unit: &'static str, value: u64) -> Family {
    counter_f(name, help, unit, value as f64)
}

fn counter_f(name: &'static str, help: &'static str, unit: &'static str, value: f64) -> Family {
    Family::single(name, help, unit, Kind::Counter, value)
}

/// Resident set size from `/proc/self/status` (`VmRSS`, in kB there); 0 where there is no procfs.
pub fn process_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status").ok().and_then(|s| parse_vm_rss(&s)).unwrap_or(0)
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse::<u64>().ok()?.checked_mul(1024)
}

#[cfg(test)]
mod tests {
    use super::*;
    use registry::Value;

    fn value(families: &[Family], name: &str) -> Value {
        families.iter().find(|f| f.name == name).map(|f| f.points[0].value.clone()).expect(name)
    }

    #[test]
    fn records_requests_and_reads_gauges_from_their_owners() {
        let workers = Arc::new(Workers::new(4, 0));
        let budget = MemoryBudget::new(1000);
        let metrics = Metrics::new(workers, budget.clone());
        let _held = budget.try_reserve(300).unwrap();
        let guard = metrics.in_progress();
        let ok = RequestRecord {
            dialect: "imgproxy",
            status: 200,
            total: Duration::from_millis(20),
            download: Some(Duration::from_millis(3)),
            processing: Some(Duration::from_millis(7)),
            source_bytes: 500,
            ..RequestRecord::default()
        };
        metrics.record(&ok);
        metrics.record(&RequestRecord { status: 404, error_kind: Some("source"), ..ok.clone() });
        let s = metrics.snapshot();
        assert_eq!(value(&s, "images_in_progress"), Value::Number(1.0));
        assert_eq!(value(&s, "pipeline_buffer_bytes"), Value::Number(300.0));
        assert_eq!(value(&s, "source_bytes_total"), Value::Number(1000.0));
        assert_eq!(value(&s, "errors_total"), Value::Number(1.0));
        assert!(matches!(value(&s, "request_duration_seconds"), Value::Histogram { count: 2, .. }));
        assert!(matches!(value(&s, "process_memory_bytes"), Value::Number(n) if n > 0.0));
        drop(guard);
        assert_eq!(value(&metrics.snapshot(), "images_in_progress"), Value::Number(0.0));
    }

    #[test]
    fn vm_rss_is_read_in_bytes() {
        assert_eq!(parse_vm_rss("Name: x\nVmRSS:\t  2048 kB\n"), Some(2_097_152));
        assert_eq!(parse_vm_rss("Name: x\n"), None);
    }
}
