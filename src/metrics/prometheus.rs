//! Prometheus text exposition format 0.0.4 for a metrics snapshot: `# HELP`, `# TYPE`, one line per
//! point; histograms as cumulative `_bucket{le=…}` lines plus `_sum` and `_count`. Names get the
//! `IMGPROXY_PROMETHEUS_NAMESPACE` prefix, as imgproxy's do.

use std::fmt::Write;

use super::registry::{Family, Kind, Point, Value};

/// The `Content-Type` of [`render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Renders `families`, each name prefixed with `namespace_` when `namespace` is not empty.
pub fn render(families: &[Family], namespace: &str) -> String {
    let mut out = String::new();
    for family in families {
        let name = if namespace.is_empty() { family.name.to_string() } else { format!("{namespace}_{}", family.name) };
        let kind = match family.kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        };
        let _ = writeln!(out, "# HELP {name} {}", family.help);
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for point in &family.points {
            render_point(&mut out, &name, point);
        }
    }
    out
}

fn render_point(out: &mut String, name: &str, point: &Point) {
    match &point.value {
        Value::Number(v) => {
            let _ = writeln!(out, "{name}{} {}", labels(&point.labels, None), number(*v));
        }
        Value::Histogram { bounds, counts, sum, count } => {
            let mut cumulative = 0u64;
            for (i, n) in counts.iter().enumerate() {
                cumulative += n;
                let le = bounds.get(i).map(|b| number(*b)).unwrap_or_else(|| "+Inf".to_string());
                let _ = writeln!(out, "{name}_bucket{} {cumulative}", labels(&point.labels, Some(&le)));
            }
            let _ = writeln!(out, "{name}_sum{} {}", labels(&point.labels, None), number(*sum));
            let _ = writeln!(out, "{name}_count{} {count}", labels(&point.labels, None));
        }
    }
}

/// `{a="x",le="0.5"}`, or nothing without labels.
fn labels(pairs: &[(&'static str, String)], le: Option<&str>) -> String {
    let mut parts: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
    if let Some(le) = le {
        parts.push(format!("le=\"{le}\""));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

/// Label values escape `\`, `"` and newlines (the exposition format's rule).
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Integers without a fraction, others as Rust prints them (both valid Go `ParseFloat` input).
fn number(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_gauges_and_cumulative_buckets() {
        let requests = Family {
            name: "requests_total",
            help: "Requests.",
            unit: "1",
            kind: Kind::Counter,
            points: vec![Point { labels: vec![("status", "200".into())], value: Value::Number(3.0) }],
        };
        let gauge = Family::single("workers_utilization", "Busy.", "1", Kind::Gauge, 0.25);
        let histogram = Family {
            name: "d_seconds",
            help: "D.",
            unit: "s",
            kind: Kind::Histogram,
            points: vec![Point {
                labels: vec![],
                value: Value::Histogram { bounds: vec![0.5, 1.0], counts: vec![1, 0, 2], sum: 7.5, count: 3 },
            }],
        };
        let expected = "# HELP ns_requests_total Requests.\n# TYPE ns_requests_total counter\n\
            ns_requests_total{status=\"200\"} 3\n\
            # HELP ns_workers_utilization Busy.\n# TYPE ns_workers_utilization gauge\nns_workers_utilization 0.25\n\
            # HELP ns_d_seconds D.\n# TYPE ns_d_seconds histogram\n\
            ns_d_seconds_bucket{le=\"0.5\"} 1\nns_d_seconds_bucket{le=\"1\"} 1\nns_d_seconds_bucket{le=\"+Inf\"} 3\n\
            ns_d_seconds_sum 7.5\nns_d_seconds_count 3\n";
        assert_eq!(render(&[requests, gauge, histogram], "ns"), expected);
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(labels(&[("k", "a\"b\\c\nd".into())], None), "{k=\"a\\\"b\\\\c\\nd\"}");
    }
}
