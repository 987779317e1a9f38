//! OTLP metrics export over `http/protobuf` (SPEC §7, `IMGPROXY_OPEN_TELEMETRY_ENABLE`): a snapshot encoded
//! as an `ExportMetricsServiceRequest` and POSTed to the collector's `/v1/metrics`, every
//! `OTEL_METRIC_EXPORT_INTERVAL` (HTTP server) or after every invocation (Lambda, see `server/lambda.rs`).
//!
//! The protobuf is written by hand with the wire format's three encodings we need (varint, 64-bit,
//! length-delimited): the schema is small and stable, and it spares the binary prost, the OpenTelemetry
//! SDK and a gRPC stack. Field numbers are those of `opentelemetry/proto/metrics/v1/metrics.proto`; the
//! tests decode our bytes with the official generated types (`opentelemetry-proto`). Counters are
//! cumulative monotonic sums, gauges gauges, histograms explicit-bucket histograms (cumulative).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::ObservabilityConfig;

use super::registry::{Family, Kind, Point, Value};
use super::Metrics;

/// `AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE`.
const CUMULATIVE: u64 = 2;

/// Encodes `families` as an `ExportMetricsServiceRequest` for `service_name`.
pub fn encode(families: &[Family], service_name: &str, start: SystemTime, now: SystemTime) -> Vec<u8> {
    let times = Times { start: unix_nanos(start), now: unix_nanos(now) };
    let mut resource = Vec::new();
    put_message(&mut resource, 1, &key_value("service.name", service_name));
    let mut scope = Vec::new();
    put_bytes(&mut scope, 1, env!("CARGO_PKG_NAME").as_bytes());
    put_bytes(&mut scope, 2, env!("CARGO_PKG_VERSION").as_bytes());
    let mut scope_metrics = Vec::new();
    put_message(&mut scope_metrics, 1, &scope);
    for family in families {
        put_message(&mut scope_metrics, 2, &metric(family, times));
    }
    let mut resource_metrics = Vec::new();
    put_message(&mut resource_metrics, 1, &resource);
    put_message(&mut resource_metrics, 2, &scope_metrics);
    let mut request = Vec::new();
    put_message(&mut request, 1, &resource_metrics);
    request
}

#[derive(Clone, Copy)]
struct Times {
    start: u64,
    now: u64,
}

/// `Metric { name = 1; description = 2; unit = 3; gauge = 5 | sum = 7 | histogram = 9 }`.
fn metric(family: &Family, times: Times) -> Vec<u8> {
    let mut out = Vec::new();
    put_bytes(&mut out, 1, family.name.as_bytes());
    put_bytes(&mut out, 2, family.help.as_bytes());
    put_bytes(&mut out, 3, family.unit.as_bytes());
    let mut data = Vec::new();
    for point in &family.points {
        put_message(&mut data, 1, &data_point(point, times));
    }
    match family.kind {
        Kind::Gauge => put_message(&mut out, 5, &data),
        Kind::Counter => {
            put_varint_field(&mut data, 2, CUMULATIVE);
            put_varint_field(&mut data, 3, 1); // is_monotonic
            put_message(&mut out, 7, &data);
        }
        Kind::Histogram => {
            put_varint_field(&mut data, 2, CUMULATIVE);
            put_message(&mut out, 9, &data);
        }
    }
    out
}

/// `NumberDataPoint` (attributes = 7, as_double = 4) or `HistogramDataPoint` (attributes = 9, count = 4,
/// sum = 5, packed bucket_counts = 6, packed explicit_bounds = 7); times 2 and 3 in both.
fn data_point(point: &Point, times: Times) -> Vec<u8> {
    let mut out = Vec::new();
    put_fixed64(&mut out, 2, times.start);
    put_fixed64(&mut out, 3, times.now);
    match &point.value {
        Value::Number(v) => {
            put_fixed64(&mut out, 4, v.to_bits());
            for (k, v) in &point.labels {
                put_message(&mut out, 7, &key_value(k, v));
            }
        }
        Value::Histogram { bounds, counts, sum, count } => {
            put_fixed64(&mut out, 4, *count);
            put_fixed64(&mut out, 5, sum.to_bits());
            let packed_counts: Vec<u8> = counts.iter().flat_map(|c| c.to_le_bytes()).collect();
            put_bytes(&mut out, 6, &packed_counts);
            let packed_bounds: Vec<u8> = bounds.iter().flat_map(|b| b.to_bits().to_le_bytes()).collect();
            put_bytes(&mut out, 7, &packed_bounds);
            for (k, v) in &point.labels {
                put_message(&mut out, 9, &key_value(k, v));
            }
        }
    }
    out
}

/// `KeyValue { key = 1; value = 2: AnyValue { string_value = 1 } }`.
fn key_value(key: &str, value: &str) -> Vec<u8> {
    let mut any = Vec::new();
    put_bytes(&mut any, 1, value.as_bytes());
    let mut out = Vec::new();
    put_bytes(&mut out, 1, key.as_bytes());
    put_message(&mut out, 2, &any);
    out
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_tag(out: &mut Vec<u8>, field: u32, wire_type: u8) {
    put_varint(out, (u64::from(field) << 3) | u64::from(wire_type));
}

fn put_varint_field(out: &mut Vec<u8>, field: u32, v: u64) {
    put_tag(out, field, 0);
    put_varint(out, v);
}

fn put_fixed64(out: &mut Vec<u8>, field: u32, v: u64) {
    put_tag(out, field, 1);
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_tag(out, field, 2);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn put_message(out: &mut Vec<u8>, field: u32, message: &[u8]) {
    put_bytes(out, field, message);
}

fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

/// Pushes snapshots of one [`Metrics`] to the configured collector.
#[derive(Clone, Debug)]
pub struct Exporter {
    metrics: Arc<Metrics>,
    client: reqwest::Client,
    url: String,
    headers: Vec<(String, String)>,
    service_name: String,
    interval: Duration,
}

impl Exporter {
    /// An exporter for `metrics` with the `OTEL_*` settings; `None` when OTLP is not enabled.
    pub fn new(metrics: Arc<Metrics>, config: &ObservabilityConfig) -> Option<Exporter> {
        if !config.otlp_enabled {
            return None;
        }
        let client = reqwest::Client::builder().timeout(config.export_timeout).build().ok()?;
        Some(Exporter {
            metrics,
            client,
            url: config.otlp_metrics_url.clone(),
            headers: config.otlp_headers.clone(),
            service_name: config.service_name.clone(),
            interval: config.export_interval,
        })
    }

    /// Sends one snapshot now. A failure is logged, never fatal: metrics must not take the proxy down.
    pub async fn export(&self) {
        let body = encode(&self.metrics.snapshot(), &self.service_name, self.metrics.start_time(), SystemTime::now());
        let mut request = self.client.post(&self.url).header("content-type", "application/x-protobuf").body(body);
        for (name, value) in &self.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        match request.send().await {
            Ok(response) if response.status().is_success() => {}
            Ok(response) => {
                tracing::warn!(target: "metrics", status = response.status().as_u16(), "OTLP export refused")
            }
            Err(e) => tracing::warn!(target: "metrics", error = %e, "OTLP export failed"),
        }
    }

    /// Exports every interval, forever (spawn it); the first export is one interval after start.
    pub async fn run_periodic(self) {
        let mut ticker = tokio::time::interval(self.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            self.export().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_tags_follow_the_wire_format() {
        let rows: &[(&str, u64, &[u8])] = &[
            ("one byte", 1, &[1]),
            ("two bytes", 300, &[0xac, 0x02]),
            ("max", u64::MAX, &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1]),
        ];
        for (name, value, expected) in rows {
            let mut out = Vec::new();
            put_varint(&mut out, *value);
            assert_eq!(out, *expected, "{name}");
        }
        let mut out = Vec::new();
        put_bytes(&mut out, 1, b"ab");
        assert_eq!(out, [0x0a, 2, b'a', b'b']);
        let mut out = Vec::new();
        put_fixed64(&mut out, 4, 1);
        assert_eq!(out, [0x21, 1, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn official_decoder_reads_our_request() {
        use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
        use opentelemetry_proto::tonic::common::v1::any_value;
        use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point};
        use prost::Message;

        let counter = Family {
            name: "requests_total",
            help: "R.",
            unit: "{request}",
            kind: Kind::Counter,
            points: vec![Point { labels: vec![("status", "200".into())], value: Value::Number(3.0) }],
        };
        let histogram = Family {
            name: "d_seconds",
            help: "D.",
            unit: "s",
            kind: Kind::Histogram,
            points: vec![Point {
                labels: vec![],
                value: Value::Histogram { bounds: vec![0.5], counts: vec![1, 2], sum: 4.0, count: 3 },
            }],
        };
        let start = UNIX_EPOCH + Duration::from_secs(10);
        let bytes = encode(&[counter, histogram], "svc", start, start + Duration::from_secs(1));
        let request = ExportMetricsServiceRequest::decode(bytes.as_slice()).expect("valid protobuf");
        let rm = &request.resource_metrics[0];
        let service = &rm.resource.as_ref().unwrap().attributes[0];
        assert_eq!(service.key, "service.name");
        assert_eq!(service.value.as_ref().unwrap().value, Some(any_value::Value::StringValue("svc".into())));
        let metrics = &rm.scope_metrics[0].metrics;
        assert_eq!(metrics[0].name, "requests_total");
        let Some(Data::Sum(sum)) = &metrics[0].data else { panic!("counter is not a sum") };
        assert!(sum.is_monotonic);
        assert_eq!(sum.aggregation_temporality, 2);
        let point = &sum.data_points[0];
        assert_eq!(point.value, Some(number_data_point::Value::AsDouble(3.0)));
        assert_eq!((point.start_time_unix_nano, point.time_unix_nano), (10_000_000_000, 11_000_000_000));
        assert_eq!(point.attributes[0].key, "status");
        let Some(Data::Histogram(h)) = &metrics[1].data else { panic!("not a histogram") };
        let p = &h.data_points[0];
        assert_eq!((p.count, p.sum, &p.bucket_counts, &p.explicit_bounds), (3, Some(4.0), &vec![1, 2], &vec![0.5]));
    }
}
