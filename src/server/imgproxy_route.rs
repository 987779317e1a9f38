//! The imgproxy dialect's HTTP handler: path → plan → deliver → response, and one access-log line.

use std::time::Instant;

use axum::body::Body;
use axum::http::{header, HeaderMap, Response};

use crate::imgproxy::{self, RequestContext};
use crate::plan::{ResponsePolicy, SourceRef};
use crate::response::{self, Failure, RequestFacts};

use super::conditional::ClientValidators;
use super::deliver::{deliver, Delivery, Timings};
use super::payload_limit::{self, Delivery as PayloadDelivery};
use super::request_id::request_id;
use super::{now_unix, AppState};

/// Handles one imgproxy URL. `path` has the path prefix removed and starts with `/`.
pub async fn handle(state: &AppState, path: &str, headers: &HeaderMap) -> Response<Body> {
    let started = Instant::now();
    let config = &state.config;
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mut facts = RequestFacts {
        request_id: request_id(headers),
        now_unix: now_unix(),
        debug_headers: config.server.enable_debug_headers,
        source_stem: String::new(),
    };
    let context = RequestContext { accept, now_unix: facts.now_unix };
    let plan = match imgproxy::parse_request(&config.imgproxy, path, &context) {
        Ok(plan) => plan,
        Err(e) => {
            let failure = Failure::from(e);
            let policy = imgproxy::base_policy(&config.imgproxy);
            let response = response::render_failure(&policy, &failure, &facts);
            log_request(path, &facts, None, &response, Some(&failure), Timings::default(), started);
            return response;
        }
    };
    facts.source_stem = plan.source.file_stem();
    let policy = plan.response.clone();
    let host = plan.source.host();
    let source = plan.source.clone();
    let client = ClientValidators::from_headers(headers);
    let executed = deliver(state, plan, &client, started).await;
    let (response, failure) = match executed.result {
        Ok(delivery) => (render_delivery(delivery, &policy, &facts, &source), None),
        Err(failure) => (response::render_failure(&policy, &failure, &facts), Some(failure)),
    };
    log_request(path, &facts, host.as_deref(), &response, failure.as_ref(), executed.timings, started);
    response
}

/// An image (with its status and validators) or a 304.
fn render_delivery(
    delivery: Delivery,
    policy: &ResponsePolicy,
    facts: &RequestFacts,
    source: &SourceRef,
) -> Response<Body> {
    match delivery {
        Delivery::Image(image) => {
            let v = &image.validators;
            // For the Lambda payload cap (SPEC §5): a processed result, or the source's own bytes.
            let payload = PayloadDelivery::for_output(&image.output, &image.fetched.bytes, source);
            let mut response = response::render_image(&image.policy, image.output, &image.fetched, facts);
            payload_limit::mark(&mut response, payload);
            *response.status_mut() = image.status;
            response::set_validators(response.headers_mut(), v.etag.as_deref(), v.last_modified.as_deref());
            response
        }
        Delivery::Stream(streamed, v) => {
            let url = match source {
                SourceRef::Http(url) => Some(url.to_string()),
                _ => None,
            };
            let mut response = super::passthrough::render(*streamed, policy, facts, url);
            response::set_validators(response.headers_mut(), v.etag.as_deref(), v.last_modified.as_deref());
            response
        }
        Delivery::NotModified(v) => {
            response::render_not_modified(policy, v.etag.as_deref(), v.last_modified.as_deref(), facts)
        }
    }
}

/// One JSON line per request (SPEC §7): no signature, no query string, no secrets.
fn log_request(
    path: &str,
    facts: &RequestFacts,
    source_host: Option<&str>,
    response: &Response<Body>,
    failure: Option<&Failure>,
    timings: Timings,
    started: Instant,
) {
    let unsigned = path.trim_start_matches('/').split_once('/').map(|(_, rest)| rest).unwrap_or("");
    let bytes_out = response.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).unwrap_or("");
    tracing::info!(
        target: "request",
        request_id = %facts.request_id,
        dialect = "imgproxy",
        path = %format_args!("/{unsigned}"),
        status = response.status().as_u16(),
        source_host = source_host.unwrap_or(""),
        bytes_out,
        error_kind = failure.map(Failure::kind).unwrap_or(""),
        error = %failure.map(|f| f.to_string()).unwrap_or_default(),
        queue_ms = timings.queue.as_secs_f64() * 1000.0,
        download_ms = timings.download.as_secs_f64() * 1000.0,
        processing_ms = timings.processing.as_secs_f64() * 1000.0,
        duration_ms = started.elapsed().as_secs_f64() * 1000.0,
    );
}
