//! Issue 7 end to end: Prometheus counters after real requests, OTLP pushes decoded by the official
//! protobuf types at a real receiver on 127.0.0.1 (HTTP server: periodic; Lambda: before each invocation
//! returns), the JSON access log of the real binary (fields present, no signature or secrets), the memory
//! budget under concurrent large images, and the debug headers.

mod common;
mod lambda;

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use common::{corpus, corpus_bytes, decode, get, origin, sign, start_app_state};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point, Metric};
use prost::Message;
use tokio::io::AsyncReadExt;

const KEY: &str = "943b421c9eb07c830af81030552c86009268de4e532ba2ee2eab8247c6da0881";
const SALT: &str = "520f986b998545b4785e0defbc4f3c1203f22de2374a3d53cb7a7fe9fea309c5";

fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let root = corpus().to_string_lossy().to_string();
    let mut all = vec![("IMGPROXY_LOCAL_FILESYSTEM_ROOT".to_string(), root)];
    all.extend(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    all
}

/// The value of the Prometheus sample `series` (`name` or `name{labels}`); panics when absent.
fn sample(text: &str, series: &str) -> f64 {
    let line = text.lines().find(|l| l.strip_prefix(series).is_some_and(|rest| rest.starts_with(' ')));
    let line = line.unwrap_or_else(|| panic!("no sample {series} in:\n{text}"));
    line.rsplit(' ').next().and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("bad sample line {line}"))
}

#[tokio::test]
async fn prometheus_counts_exactly_what_was_served() {
    let origin = origin::start().await;
    let settings = [
        ("METRICS_ON_MAIN_ROUTER", "true"),
        ("IMGPROXY_ALLOW_LOOPBACK_SOURCE_ADDRESSES", "true"),
        ("IMGPROXY_PROMETHEUS_NAMESPACE", "mp"),
    ];
    let (app, _state) = start_app_state(&vars(&settings)).await;
    let flower = corpus_bytes("photos/mate-FreshFlower.jpg").len() as f64;
    let misskey = format!("/proxy/a.webp?url={}&static=1", origin.url("/corpus/photos/mate-FreshFlower.jpg"));
    let requests = [
        ("/_/rs:fit:50:0/plain/local:///photos/mate-FreshFlower.jpg@png", StatusCode::OK),
        ("/_/rs:fit:60:0/plain/local:///photos/mate-FreshFlower.jpg@png", StatusCode::OK),
        ("/_/bogus:1/plain/local:///photos/mate-FreshFlower.jpg", StatusCode::NOT_FOUND),
        ("/_/plain/local:///photos/does-not-exist.jpg", StatusCode::NOT_FOUND),
        (misskey.as_str(), StatusCode::OK),
    ];
    let mut body_bytes = 0.0;
    for (path, status) in requests {
        let reply = get(app, path, &[]).await;
        assert_eq!(reply.status, status, "{path}: {:?}", reply.body);
        body_bytes += reply.body.len() as f64;
    }
    let scrape = get(app, "/metrics", &[]).await;
    assert_eq!(scrape.status, StatusCode::OK);
    assert!(scrape.header("content-type").starts_with("text/plain; version=0.0.4"));
    let text = String::from_utf8(scrape.body.to_vec()).unwrap();
    #[rustfmt::skip]
    let expected = [
        ("mp_requests_total{status=\"200\",dialect=\"imgproxy\"}", 2.0),
        ("mp_requests_total{status=\"404\",dialect=\"imgproxy\"}", 2.0),
        ("mp_requests_total{status=\"200\",dialect=\"misskey\"}", 1.0),
        ("mp_errors_total{kind=\"parse\"}", 1.0),
        ("mp_errors_total{kind=\"source\"}", 1.0),
        ("mp_request_duration_seconds_count", 5.0),
        ("mp_request_duration_seconds_bucket{le=\"+Inf\"}", 5.0),
        ("mp_download_duration_seconds_count", 3.0),
        ("mp_processing_duration_seconds_count", 3.0),
        ("mp_source_bytes_total", 3.0 * flower),
        ("mp_response_bytes_total", body_bytes),
        ("mp_images_in_progress", 0.0),
        ("mp_queue_length", 0.0),
        ("mp_workers_utilization", 0.0),
        ("mp_pipeline_buffer_bytes", 0.0),
    ];
    for (series, value) in expected {
        assert_eq!(sample(&text, series), value, "{series}");
    }
    assert!(sample(&text, "mp_pipeline_buffer_bytes_max") > 0.0, "a reservation was held");
    assert!(sample(&text, "mp_process_memory_bytes") > 1e6);
    let busy = sample(&text, "mp_workers_busy_seconds_total");
    assert!(busy > 0.0 && busy <= sample(&text, "mp_request_duration_seconds_sum"), "slot time {busy} s");
    // The scrape itself is not a request of either dialect.
    let again = String::from_utf8(get(app, "/metrics", &[]).await.body.to_vec()).unwrap();
    assert_eq!(sample(&again, "mp_request_duration_seconds_count"), 5.0);
}

#[tokio::test]
async fn metrics_are_not_on_the_main_router_unless_asked() {
    let (app, _state) = start_app_state(&vars(&[])).await;
    assert_eq!(get(app, "/metrics", &[]).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn debug_headers_describe_source_result_and_timing() {
    let (app, _state) = start_app_state(&vars(&[("IMGPROXY_ENABLE_DEBUG_HEADERS", "true")])).await;
    let source = corpus_bytes("photos/mate-FreshFlower.jpg");
    let original = decode(&source);
    let reply = get(app, "/_/rs:fit:120:0/plain/local:///photos/mate-FreshFlower.jpg@png", &[]).await;
    assert_eq!(reply.status, StatusCode::OK);
    let result = decode(&reply.body);
    assert_eq!(reply.header("x-origin-content-length"), source.len().to_string());
    assert_eq!(reply.header("x-origin-width"), original.width().to_string());
    assert_eq!(reply.header("x-origin-height"), original.height().to_string());
    assert_eq!(reply.header("x-result-width"), result.width().to_string());
    assert_eq!(reply.header("x-result-height"), result.height().to_string());
    let timing = reply.header("server-timing");
    for name in ["queue", "download", "processing", "total"] {
        assert!(timing.contains(&format!("{name};dur=")), "{name} missing from Server-Timing: {timing}");
    }
    let (plain, _state) = start_app_state(&vars(&[])).await;
    let reply = get(plain, "/_/rs:fit:120:0/plain/local:///photos/mate-FreshFlower.jpg@png", &[]).await;
    assert_eq!((reply.header("x-origin-width"), reply.header("server-timing")), ("", ""), "off by default");
}

/// A 2048×1536 PNG decodes at full size whatever the resize: 12.6 MB of RGBA per request.
const BIG_PNG: &str = "/_/rs:fit:100:0/plain/local:///photos/sharp_paper_2048x1536.png@png";
const BIG_DECODED: f64 = 2048.0 * 1536.0 * 4.0;

#[tokio::test]
async fn memory_budget_serialises_concurrent_large_images() {
    // Room for one decoded image, not two; four workers would otherwise decode four at once.
    let settings = [("MEMORY_BUDGET_BYTES", "20000000"), ("IMGPROXY_WORKERS", "4"), ("METRICS_ON_MAIN_ROUTER", "1")];
    let (app, state) = start_app_state(&vars(&settings)).await;
    let replies = futures_util::future::join_all((0..4).map(|_| get(app, BIG_PNG, &[]))).await;
    for reply in &replies {
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
        assert_eq!(decode(&reply.body).width(), 100);
    }
    let usage = state.memory_budget.usage();
    assert_eq!(usage.reserved, 0, "every reservation was released");
    let text = String::from_utf8(get(app, "/metrics", &[]).await.body.to_vec()).unwrap();
    let high_water = sample(&text, "pipeline_buffer_bytes_max");
    assert_eq!(high_water, usage.high_water as f64);
    assert!(high_water <= 20_000_000.0, "high-water mark {high_water} is over the budget");
    assert!(high_water >= BIG_DECODED, "the decoded size was reserved: {high_water}");
    assert!(high_water < 2.0 * BIG_DECODED, "two images were in flight at once: {high_water}");
    assert_eq!(sample(&text, "processing_duration_seconds_count"), 4.0);
}

#[tokio::test]
async fn an_image_larger_than_the_whole_budget_is_refused_with_503() {
    let origin = origin::start().await;
    let settings = [
        ("MEMORY_BUDGET_BYTES", "5000000"),
        ("METRICS_ON_MAIN_ROUTER", "true"),
        ("IMGPROXY_ALLOW_LOOPBACK_SOURCE_ADDRESSES", "true"),
    ];
    let (app, state) = start_app_state(&vars(&settings)).await;
    let reply = get(app, BIG_PNG, &[]).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.body, "Not enough memory to process the image now\n");
    // A pixel bomb keeps its own 422 (SPEC §6): the resolution limit is checked before the budget.
    let bomb = get(app, &format!("/_/plain/{}", origin.url("/bomb.png")), &[]).await;
    assert_eq!(bomb.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", bomb.body);
    // A small image still fits.
    let small = get(app, "/_/rs:fit:50:0/plain/local:///photos/mate-FreshFlower.jpg@png", &[]).await;
    assert_eq!(small.status, StatusCode::OK);
    let text = String::from_utf8(get(app, "/metrics", &[]).await.body.to_vec()).unwrap();
    assert_eq!(sample(&text, "errors_total{kind=\"memory_budget\"}"), 1.0);
    assert_eq!(sample(&text, "requests_total{status=\"503\",dialect=\"imgproxy\"}"), 1.0);
    assert!(state.memory_budget.usage().high_water <= 5_000_000);
    assert_eq!(state.delivery_stats.pipeline_runs(), 2, "the bomb and the small image only: the refused one never ran");
}

/// A 5120×2880 RGBA PNG is 59 MB as a frame, but a non-interlaced one streams its rows through a box
/// shrink (1707×960 for an 800 px result), so a 20 MB budget serves it: it was counted whole, and
/// refused, while the probe did not read the interlace method. Its Adam7 twin (the same file with IHDR
/// interlace method 1, CRC fixed) would be decoded whole and still counts whole: refused with 503
/// before any pixel is decoded.
#[tokio::test]
async fn memory_budget_counts_a_streamed_png_shrunk_and_its_interlaced_twin_whole() {
    let dir = std::env::temp_dir().join(format!("lmp-observability-png-budget-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let png = corpus_bytes("formats/plasma-IceCold-rgba-5120.png");
    let mut twin = png.clone();
    twin[28] = 1;
    let crc = crc32fast::hash(&twin[12..29]).to_be_bytes();
    twin[29..33].copy_from_slice(&crc);
    std::fs::write(dir.join("streamed.png"), &png).unwrap();
    std::fs::write(dir.join("adam7.png"), &twin).unwrap();
    let settings: Vec<(String, String)> = [
        ("IMGPROXY_LOCAL_FILESYSTEM_ROOT", dir.to_string_lossy().as_ref()),
        ("MEMORY_BUDGET_BYTES", "20000000"),
        ("METRICS_ON_MAIN_ROUTER", "1"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let (app, state) = start_app_state(&settings).await;
    let streamed = get(app, "/_/rs:fit:800:0/plain/local:///streamed.png@png", &[]).await;
    let adam7 = get(app, "/_/rs:fit:800:0/plain/local:///adam7.png@png", &[]).await;
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(streamed.status, StatusCode::OK, "{:?}", streamed.body);
    assert_eq!(decode(&streamed.body).width(), 800);
    let high_water = state.memory_budget.usage().high_water;
    assert!(high_water >= 1707 * 960 * 4, "the box-shrunk raster was reserved: {high_water}");
    assert!(high_water <= 20_000_000, "high-water mark {high_water} is over the budget");
    assert_eq!(adam7.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", adam7.body);
    assert_eq!(state.delivery_stats.pipeline_runs(), 1, "the interlaced twin never ran");
}

/// A real OTLP/HTTP receiver: decodes every POST to `/v1/metrics` with the official types.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<(HeaderMap, ExportMetricsServiceRequest)>>>,
}

impl Receiver {
    async fn start() -> (SocketAddr, Receiver) {
        let receiver = Receiver::default();
        let app = Router::new().route("/v1/metrics", post(accept)).with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (addr, receiver)
    }

    fn exports(&self) -> Vec<(HeaderMap, ExportMetricsServiceRequest)> {
        self.got.lock().unwrap().clone()
    }

    /// Waits until an export satisfies `ready`, returning it.
    async fn wait_for(
        &self,
        ready: impl Fn(&ExportMetricsServiceRequest) -> bool,
    ) -> (HeaderMap, ExportMetricsServiceRequest) {
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(found) = self.exports().into_iter().rev().find(|(_, r)| ready(r)) {
                return found;
            }
            assert!(Instant::now() < until, "no matching export; the last: {:?}", self.exports().last());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn accept(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    match ExportMetricsServiceRequest::decode(body.as_ref()) {
        Ok(request) => {
            r.got.lock().unwrap().push((headers, request));
            StatusCode::OK
        }
        Err(_) => StatusCode::BAD_REQUEST,
    }
}

fn metric<'a>(request: &'a ExportMetricsServiceRequest, name: &str) -> Option<&'a Metric> {
    request.resource_metrics.iter().flat_map(|rm| &rm.scope_metrics).flat_map(|sm| &sm.metrics).find(|m| m.name == name)
}

/// The sum of a counter or gauge's points whose attributes include `labels`.
fn otlp_value(request: &ExportMetricsServiceRequest, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let points = match &metric(request, name)?.data {
        Some(Data::Sum(sum)) => &sum.data_points,
        Some(Data::Gauge(gauge)) => &gauge.data_points,
        _ => return None,
    };
    let has = |p: &opentelemetry_proto::tonic::metrics::v1::NumberDataPoint, (k, v): &(&str, &str)| {
        let want = Some(any_value::Value::StringValue(v.to_string()));
        p.attributes.iter().any(|a| a.key == *k && a.value.as_ref().map(|x| x.value.clone()) == Some(want.clone()))
    };
    let matching = points.iter().filter(|p| labels.iter().all(|l| has(p, l)));
    Some(
        matching
            .filter_map(|p| match p.value {
                Some(number_data_point::Value::AsDouble(v)) => Some(v),
                _ => None,
            })
            .sum(),
    )
}

fn service_name(request: &ExportMetricsServiceRequest) -> String {
    let attributes = request.resource_metrics.first().and_then(|rm| rm.resource.as_ref()).map(|r| &r.attributes);
    let service = attributes.and_then(|a| a.iter().find(|kv| kv.key == "service.name"));
    match service.and_then(|kv| kv.value.as_ref()).and_then(|v| v.value.clone()) {
        Some(any_value::Value::StringValue(s)) => s,
        other => panic!("no service.name: {other:?}"),
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The binary as an HTTP server with both exporters on, plus what it printed.
struct Server {
    child: tokio::process::Child,
    main: SocketAddr,
    prometheus: SocketAddr,
}

impl Server {
    async fn start(vars: &[(&str, String)]) -> Server {
        let (main, prometheus) = (free_port(), free_port());
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_lambda-media-proxy"));
        command
            .env_clear()
            .env("IMGPROXY_BIND", format!("127.0.0.1:{main}"))
            .env("IMGPROXY_PROMETHEUS_BIND", format!("127.0.0.1:{prometheus}"))
            .env("IMGPROXY_KEY", KEY)
            .env("IMGPROXY_SALT", SALT)
            .env("IMGPROXY_LOCAL_FILESYSTEM_ROOT", corpus())
            .env("IMGPROXY_ALLOW_LOOPBACK_SOURCE_ADDRESSES", "true")
            .envs(vars.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let child = command.spawn().expect("starting the binary");
        let server =
            Server { child, main: ([127, 0, 0, 1], main).into(), prometheus: ([127, 0, 0, 1], prometheus).into() };
        let until = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(server.prometheus).await.is_err() {
            assert!(Instant::now() < until, "the server did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        server
    }

    async fn stop(mut self) -> String {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
        let mut logs = String::new();
        if let Some(mut out) = self.child.stdout.take() {
            let _ = out.read_to_string(&mut logs).await;
        }
        logs
    }
}

#[tokio::test]
async fn http_server_pushes_otlp_serves_prometheus_bind_and_logs_without_secrets() {
    let (receiver_addr, receiver) = Receiver::start().await;
    let otlp = [
        ("IMGPROXY_OPEN_TELEMETRY_ENABLE", "true".to_string()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{receiver_addr}")),
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=k%201".to_string()),
        ("OTEL_METRIC_EXPORT_INTERVAL", "200".to_string()),
        ("OTEL_SERVICE_NAME", "obs-test".to_string()),
    ];
    let server = Server::start(&otlp).await;
    let ok_path = sign(KEY, SALT, "/rs:fit:40:0/plain/local:///photos/mate-FreshFlower.jpg@png");
    // A closed loopback port: the connection error quotes the URL, token and all; the plain source URL in
    // the path carries the token too (escaped, as imgproxy expects).
    let closed = free_port();
    let failing_path =
        sign(KEY, SALT, &format!("/rs:fit:40:0/plain/http://127.0.0.1:{closed}/img.png%3Ftoken=s3cr3t-token"));
    assert_eq!(get(server.main, &ok_path, &[]).await.status, StatusCode::OK);
    assert_eq!(get(server.main, &failing_path, &[("x-request-id", "obs-req-2")]).await.status, StatusCode::NOT_FOUND);

    // Prometheus on its own listener only, as imgproxy.
    let scrape = get(server.prometheus, "/metrics", &[]).await;
    let text = String::from_utf8(scrape.body.to_vec()).unwrap();
    assert_eq!(sample(&text, "requests_total{status=\"200\",dialect=\"imgproxy\"}"), 1.0);
    assert_eq!(sample(&text, "requests_total{status=\"404\",dialect=\"imgproxy\"}"), 1.0);
    // On the main listener `/metrics` is just another imgproxy path (a 404 with a bad signature).
    assert_eq!(get(server.main, "/metrics", &[]).await.status, StatusCode::NOT_FOUND);

    // A periodic push carries the three requests, with the configured headers and service name.
    let three = |r: &ExportMetricsServiceRequest| otlp_value(r, "requests_total", &[]) == Some(3.0);
    let (headers, export) = receiver.wait_for(three).await;
    assert_eq!(headers.get("content-type").unwrap(), "application/x-protobuf");
    assert_eq!(headers.get("x-api-key").unwrap(), "k 1");
    assert_eq!(service_name(&export), "obs-test");
    assert_eq!(otlp_value(&export, "requests_total", &[("status", "404"), ("dialect", "imgproxy")]), Some(2.0));
    assert_eq!(otlp_value(&export, "errors_total", &[("kind", "parse")]), Some(1.0));
    assert_eq!(otlp_value(&export, "errors_total", &[("kind", "source")]), Some(1.0));
    assert_eq!(
        otlp_value(&export, "source_bytes_total", &[]),
        Some(corpus_bytes("photos/mate-FreshFlower.jpg").len() as f64)
    );
    for name in
        ["workers_utilization", "queue_length", "images_in_progress", "process_memory_bytes", "pipeline_buffer_bytes"]
    {
        assert!(otlp_value(&export, name, &[]).is_some(), "{name} missing from the export");
    }
    let Some(Data::Histogram(h)) = &metric(&export, "request_duration_seconds").and_then(|m| m.data.clone()) else {
        panic!("request_duration_seconds is not a histogram");
    };
    assert_eq!(h.data_points[0].count, 3);

    let logs = server.stop().await;
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["target"] == "request")
        .collect();
    assert_eq!(lines.len(), 3, "one access line per request:\n{logs}");
    let ok = &lines[0];
    for field in ["method", "path", "status", "source_host", "bytes_in", "bytes_out", "request_id", "cache_hit"] {
        assert!(!ok[field].is_null(), "{field} missing from {ok}");
    }
    for field in ["download_ms", "processing_ms", "duration_ms", "queue_ms"] {
        assert!(ok[field].as_f64().is_some(), "{field} missing from {ok}");
    }
    assert_eq!(ok["method"], "GET");
    assert_eq!(ok["path"], "/rs:fit:40:0/plain/local:///photos/mate-FreshFlower.jpg@png");
    assert_eq!(ok["bytes_in"], corpus_bytes("photos/mate-FreshFlower.jpg").len());
    assert!(ok["bytes_out"].as_u64().unwrap() > 0);
    let failed = &lines[1];
    assert_eq!((failed["status"].as_u64(), failed["request_id"].as_str()), (Some(404), Some("obs-req-2")));
    assert_eq!(failed["source_host"], "127.0.0.1");
    assert_eq!(failed["path"], format!("/rs:fit:40:0/plain/http://127.0.0.1:{closed}/img.png?[redacted]"));
    assert!(failed["error"].as_str().unwrap().contains("?[redacted]"), "{failed}");
    let signature = ok_path.trim_start_matches('/').split('/').next().unwrap();
    for secret in [signature, KEY, SALT, "s3cr3t-token"] {
        assert!(!logs.contains(secret), "the log shows `{secret}`:\n{logs}");
    }
}

/// JSON lines of `logs` with the given `target`.
fn log_lines(logs: &str, target: &str) -> usize {
    let parsed = logs.lines().filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok());
    parsed.filter(|v| v["target"] == target).count()
}

#[tokio::test]
async fn log_level_comes_from_imgproxy_log_level_and_rust_log_wins() {
    let path = sign(KEY, SALT, "/rs:fit:20:0/plain/local:///photos/mate-FreshFlower.jpg@png");
    let rows = [
        ("info by default: access and start-up lines", vec![], 1, 1),
        ("IMGPROXY_LOG_LEVEL=warn silences both", vec![("IMGPROXY_LOG_LEVEL", "warn".to_string())], 0, 0),
        (
            "RUST_LOG wins: access lines only",
            vec![("IMGPROXY_LOG_LEVEL", "error".to_string()), ("RUST_LOG", "warn,request=info".to_string())],
            1,
            0,
        ),
    ];
    for (name, vars, access, listening) in rows {
        let server = Server::start(&vars).await;
        assert_eq!(get(server.main, &path, &[]).await.status, StatusCode::OK, "{name}");
        let logs = server.stop().await;
        assert_eq!(log_lines(&logs, "request"), access, "{name}:\n{logs}");
        assert_eq!(log_lines(&logs, "lambda_media_proxy::server::http"), listening, "{name}:\n{logs}");
    }
}

#[tokio::test]
async fn lambda_pushes_metrics_before_each_invocation_returns() {
    let (receiver_addr, receiver) = Receiver::start().await;
    let emulator = lambda::Emulator::start().await;
    let endpoint = format!("http://{receiver_addr}/v1/metrics");
    let vars = [("IMGPROXY_OPEN_TELEMETRY_ENABLE", "true"), ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", endpoint.as_str())];
    let mut function = lambda::spawn_function(emulator.addr, &vars);
    let first = emulator.invoke("aws-obs-1", &lambda::event("function-url-v2.json")).await.json();
    assert_eq!(first["statusCode"], 200, "{first}");
    // No waiting: the push happened before the response was posted.
    let exports = receiver.exports();
    assert_eq!(exports.len(), 1, "one push per invocation");
    assert_eq!(otlp_value(&exports[0].1, "requests_total", &[("status", "200")]), Some(1.0));
    let second = emulator.invoke("aws-obs-2", &lambda::event("function-url-v2.json")).await.json();
    assert_eq!(second["statusCode"], 200);
    let exports = receiver.exports();
    assert_eq!(exports.len(), 2);
    assert_eq!(otlp_value(&exports[1].1, "requests_total", &[("status", "200")]), Some(2.0), "cumulative");
    assert_eq!(service_name(&exports[1].1), "lambda-media-proxy");
    function.stop().await;
}
