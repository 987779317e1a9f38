//! The access-log and metrics layer (SPEC §7): one JSON line and one metrics record per dialect request,
//! written in one place from the [`AccessRecord`] the dialect handler attaches to its response, plus the
//! HTTP method and the body size seen here. Also serves `/metrics` (Prometheus text).
//!
//! Streamed bodies (Misskey media) have no size yet when the line is written; their bytes are counted
//! into `response_bytes_total` (and `source_bytes_total`, being the source's own) as they pass.

use std::time::Instant;

use axum::body::{Body, HttpBody};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Response, StatusCode};
use axum::middleware::Next;
use futures_util::StreamExt;

use crate::metrics::otlp::Exporter;
use crate::metrics::{prometheus, RequestRecord};

use super::deliver::Timings;
use super::AppState;

/// What a dialect handler knows about its request, for the log line and the metrics.
#[derive(Clone, Debug, Default)]
pub struct AccessRecord {
    /// `imgproxy` or `misskey`.
    pub dialect: &'static str,
    /// The `X-Request-ID` sent back.
    pub request_id: String,
    /// The path to log, when the request's own path (never with its query string) would say too much:
    /// imgproxy's without its signature.
    pub path: Option<String>,
    /// The dialect's mode, when it has one (Misskey's `static`, `emoji`, …).
    pub mode: String,
    /// The source's host ("" when unknown).
    pub source_host: String,
    /// `Failure::kind` and its message, when the request failed.
    pub error: Option<(&'static str, String)>,
    /// Where the time went, and the source bytes received.
    pub timings: Timings,
    /// Served from the result cache.
    pub cache_hit: bool,
    /// The body is streamed from the source (count its bytes as they pass).
    pub stream: bool,
}

/// Logs and counts every response that carries an [`AccessRecord`].
pub async fn layer(State(state): State<AppState>, request: Request, next: Next) -> Response<Body> {
    let started = Instant::now();
    let method = request.method().clone();
    let request_path = request.uri().path().to_string();
    let mut response = next.run(request).await;
    let Some(record) = response.extensions_mut().remove::<AccessRecord>() else { return response };
    let exact = response.body().size_hint().exact();
    let line = Line {
        method: method.as_str(),
        path: record.path.as_deref().unwrap_or(&request_path),
        status: response.status().as_u16(),
        bytes_out: exact.or_else(|| content_length(&response)).unwrap_or(0),
        total: started.elapsed(),
    };
    let t = record.timings;
    state.metrics.record(&RequestRecord {
        dialect: record.dialect,
        status: line.status,
        error_kind: record.error.as_ref().map(|(kind, _)| *kind),
        total: line.total,
        download: (!t.download.is_zero()).then_some(t.download),
        processing: (!t.processing.is_zero()).then_some(t.processing),
        source_bytes: t.source_bytes,
    });
    log(&record, &line);
    match exact {
        Some(n) => state.metrics.add_response_bytes(n),
        None => response = count_stream(&state, response, record.stream),
    }
    response
}

/// What the layer itself knows about the exchange.
struct Line<'a> {
    method: &'a str,
    path: &'a str,
    status: u16,
    bytes_out: u64,
    total: std::time::Duration,
}

/// The one JSON access-log line (SPEC §7).
fn log(record: &AccessRecord, line: &Line) {
    let t = record.timings;
    let (error_kind, error) = record.error.clone().unwrap_or_default();
    tracing::info!(
        target: "request",
        request_id = %record.request_id,
        dialect = record.dialect,
        method = line.method,
        path = line.path,
        mode = %record.mode,
        status = line.status,
        source_host = %record.source_host,
        bytes_in = t.source_bytes,
        bytes_out = line.bytes_out,
        cache_hit = record.cache_hit,
        error_kind,
        error = %crate::telemetry::redact_urls(&error),
        queue_ms = t.queue.as_secs_f64() * 1000.0,
        download_ms = t.download.as_secs_f64() * 1000.0,
        processing_ms = t.processing.as_secs_f64() * 1000.0,
        duration_ms = line.total.as_secs_f64() * 1000.0,
    );
}

fn content_length(response: &Response<Body>) -> Option<u64> {
    response.headers().get(header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

/// Wraps a streamed body so its bytes are counted as they are sent.
fn count_stream(state: &AppState, response: Response<Body>, from_source: bool) -> Response<Body> {
    let metrics = state.metrics.clone();
    let (parts, body) = response.into_parts();
    let counted = body.into_data_stream().map(move |chunk| {
        if let Ok(bytes) = &chunk {
            metrics.add_response_bytes(bytes.len() as u64);
            if from_source {
                metrics.add_source_bytes(bytes.len() as u64);
            }
        }
        chunk
    });
    Response::from_parts(parts, Body::from_stream(counted))
}

/// `GET /metrics`: the Prometheus text of this application's metrics.
pub async fn metrics(State(state): State<AppState>) -> Response<Body> {
    let namespace = &state.config.observability.prometheus_namespace;
    let text = prometheus::render(&state.metrics.snapshot(), namespace);
    let mut response = Response::new(Body::from(text));
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(prometheus::CONTENT_TYPE));
    response
}

/// The router of the `IMGPROXY_PROMETHEUS_BIND` listener: `/metrics` only, as imgproxy's.
pub fn metrics_router(state: AppState) -> axum::Router {
    axum::Router::new().route("/metrics", axum::routing::get(metrics)).with_state(state)
}

/// Starts the `IMGPROXY_PROMETHEUS_BIND` listener and the periodic OTLP push, as configured; returns the
/// exporter for a last push at shutdown. A Prometheus address that cannot be bound stops start-up.
pub async fn start_exporters(state: &AppState) -> std::io::Result<Option<Exporter>> {
    if let Some(bind) = state.config.observability.prometheus_bind {
        let listener = tokio::net::TcpListener::bind(bind).await?;
        tracing::info!(address = %listener.local_addr()?, "serving Prometheus metrics on /metrics");
        let app = metrics_router(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
    }
    let exporter = Exporter::new(state.metrics.clone(), &state.config.observability);
    if let Some(exporter) = exporter.clone() {
        tracing::info!(url = %state.config.observability.otlp_metrics_url, "pushing OTLP metrics");
        tokio::spawn(exporter.run_periodic());
    }
    Ok(exporter)
}
