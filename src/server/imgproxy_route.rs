//! The imgproxy dialect's HTTP handler: path → plan → deliver → response, and one access-log line.

use std::time::Instant;

use axum::body::Body;
use axum::http::{header, HeaderMap, Response};

use crate::imgproxy::{self, RequestContext};
use crate::plan::{ResponsePolicy, SourceRef};
use crate::response::{self, Failure, RequestFacts};

use super::conditional::ClientValidators;
use super::deliver::{deliver, Delivery, Timings};
use super::observe::AccessRecord;
use super::payload_limit::{self, Delivery as PayloadDelivery};
use super::request_id::request_id;
use super::{now_unix, AppState};

/// Handles one imgproxy URL. `path` has the path prefix removed and starts with `/`.
pub async fn handle(state: &AppState, path: &str, headers: &HeaderMap) -> Response<Body> {
    let started = Instant::now();
    let _in_progress = state.metrics.in_progress();
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
            let mut response = response::render_failure(&policy, &failure, &facts);
            log_request(path, &facts, None, &mut response, Some(&failure), Timings::default(), false);
            return response;
        }
    };
    facts.source_stem = plan.source.file_stem();
    let policy = plan.response.clone();
    let host = plan.source.host();
    let source = plan.source.clone();
    let client = ClientValidators::from_headers(headers);
    let executed = deliver(state, plan, &client, started).await;
    let cache_hit = matches!(&executed.result, Ok(Delivery::Image(image)) if image.cache_hit);
    let (mut response, failure) = match executed.result {
        Ok(delivery) => (render_delivery(delivery, &policy, &facts, &source), None),
        Err(failure) => (response::render_failure(&policy, &failure, &facts), Some(failure)),
    };
    if facts.debug_headers {
        let t = &executed.timings;
        let total = started.elapsed();
        response::timing_headers(response.headers_mut(), t.queue, t.download, t.processing, total);
    }
    log_request(path, &facts, host.as_deref(), &mut response, failure.as_ref(), executed.timings, cache_hit);
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

/// Attaches the access-log facts (SPEC §7) for `observe::layer`, which writes the one JSON line: no
/// signature, no query string, no secrets.
fn log_request(
    path: &str,
    facts: &RequestFacts,
    source_host: Option<&str>,
    response: &mut Response<Body>,
    failure: Option<&Failure>,
    timings: Timings,
    cache_hit: bool,
) {
    let unsigned = path.trim_start_matches('/').split_once('/').map(|(_, rest)| rest).unwrap_or("");
    response.extensions_mut().insert(AccessRecord {
        dialect: "imgproxy",
        request_id: facts.request_id.clone(),
        path: Some(crate::telemetry::redact_path(&format!("/{unsigned}"))),
        source_host: source_host.unwrap_or("").to_string(),
        error: failure.map(|f| (f.kind(), f.to_string())),
        timings,
        cache_hit,
        ..AccessRecord::default()
    });
}
