//! The Misskey dialect's HTTP handler (SPEC §3): query → plan → open the source → sniff the first bytes →
//! stream browser-safe audio/video through (with the client's `Range` forwarded), or buffer the image and
//! run the pipeline; `fallback` turns any failure into the placeholder. One access-log line per request.
//!
//! Admission is the shared one (allowed sources, literal-address guard, a worker slot, the request
//! deadline, as `deliver.rs`); the worker slot is released before a stream starts, since passing bytes
//! through is not CPU work. Streams are bounded by `MEDIA_PROXY_MAX_SIZE`, not by the request deadline.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, HeaderMap, Response};
use bytes::{Bytes, BytesMut};

use crate::misskey::{self, media, MisskeyError, MisskeyRequest, Mode};
use crate::pipeline::{self, Output, PipelineError};
use crate::plan::{ImageFormat, Plan, ResponsePolicy};
use crate::response::{self, Failure, RequestFacts, StreamHead};
use crate::source::http::Opened;
use crate::source::{Fetched, SourceError};

use super::deliver::{self, Timings};
use super::observe::AccessRecord;
use super::passthrough::{self, Opening, Streamed};
use super::payload_limit::{self, Delivery as PayloadDelivery};
use super::request_id::request_id;
use super::{now_unix, AppState};

/// What a request produced.
enum Served {
    /// A converted or passed-through image, labelled for the Lambda payload cap.
    Image(Output, PayloadDelivery),
    /// Audio/video streamed from the source.
    Stream(StreamHead, Body),
    /// An original image streamed from the source (streaming Lambda, `passthrough.rs`).
    Original(Box<Streamed>),
}

/// Handles one Misskey URL. `path` has the path prefix removed and starts with `/`.
pub async fn handle(state: &AppState, path: &str, query: Option<&str>, headers: &HeaderMap) -> Response<Body> {
    let started = Instant::now();
    let _in_progress = state.metrics.in_progress();
    let facts = RequestFacts { request_id: request_id(headers), now_unix: now_unix(), ..RequestFacts::default() };
    let mut timings = Timings::default();
    let base = misskey::base_policy(&state.config);
    let request = match misskey::parse_request(path, query) {
        Ok(request) => request,
        Err(e) => return finish(&base, Err(e.into()), false, &facts, None, timings),
    };
    let user_agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("");
    if state.config.misskey.reject_recursive && user_agent.to_ascii_lowercase().contains("misskey/") {
        let failure = MisskeyError::Recursive.into();
        return finish(&base, Err(failure), request.fallback, &facts, Some(&request), timings);
    }
    let plan = misskey::compile(&state.config, &request);
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok()).map(str::to_string);
    let deadline = started + state.config.server.timeout;
    let mut policy = plan.response.clone();
    let work = serve(state, &request, plan, range, deadline, &mut policy, &mut timings);
    let result = match tokio::time::timeout_at(deadline.into(), work).await {
        Ok(result) => result,
        Err(_) => Err(Failure::Timeout),
    };
    finish(&policy, result, request.fallback, &facts, Some(&request), timings)
}

/// Renders the outcome (the placeholder on failure with `fallback`) and logs it.
fn finish(
    policy: &ResponsePolicy,
    result: Result<Served, Failure>,
    fallback: bool,
    facts: &RequestFacts,
    request: Option<&MisskeyRequest>,
    timings: Timings,
) -> Response<Body> {
    let stream = matches!(result, Ok(Served::Stream(..)));
    let (mut response, failure) = match result {
        Ok(Served::Image(output, delivery)) => {
            let mut response = response::render_image(policy, output, &Fetched::default(), facts);
            payload_limit::mark(&mut response, delivery);
            (response, None)
        }
        Ok(Served::Stream(head, body)) => {
            let mut response = response::render_stream(policy, &head, body, facts);
            // Oversized media on buffered Lambda: a 302 to the source itself (SPEC §5 rule 2).
            let source_url = request.map(|r| r.url.to_string());
            payload_limit::mark(&mut response, PayloadDelivery::PassThrough { source_url });
            (response, None)
        }
        Ok(Served::Original(mut streamed)) => {
            // Misskey's caching is its own, as for a buffered image: upstream headers are not passed on.
            streamed.meta = Fetched::default();
            (passthrough::render(*streamed, policy, facts, request.map(|r| r.url.to_string())), None)
        }
        Err(f) if fallback => {
            (response::render_placeholder(policy, misskey::placeholder::placeholder_png(), facts), Some(f))
        }
        Err(f) => (response::render_failure(policy, &f, facts), Some(f)),
    };
    log_request(request, facts, &mut response, failure.as_ref(), timings, stream);
    response
}

/// Admission, open, sniff, then stream or process. `policy` gets the download name once it is known.
async fn serve(
    state: &AppState,
    request: &MisskeyRequest,
    plan: Plan,
    range: Option<String>,
    deadline: Instant,
    policy: &mut ResponsePolicy,
    timings: &mut Timings,
) -> Result<Served, Failure> {
    state.sources.check_allowed(&plan.source)?;
    let queued = Instant::now();
    let slot = state.workers.acquire().await?;
    timings.queue = queued.elapsed();
    let downloading = Instant::now();
    let http = state.sources.http();
    let mut opened = http.open(&request.url, &upstream_headers(state, None)).await?;
    let max = plan.limits.max_src_file_size;
    let download = state.config.source.download_timeout;
    let head = read_prefix(&mut opened, media::SNIFF_LEN, max, download).await?;
    let name = misskey::download_name(&request.url, opened.meta.content_disposition.as_deref());
    policy.download_name = Some(name);
    if let Some(kind) = media::sniff(&head) {
        if request.mode.converts() {
            return Err(MisskeyError::NotConvertible.into());
        }
        if !kind.browser_safe {
            return Err(MisskeyError::RejectedType.into());
        }
        drop(slot);
        return stream_media(state, request, opened, head, kind, range, max).await;
    }
    let bytes = if passthrough::candidate(state, &plan).is_some() {
        match passthrough::continue_opened(&plan, opened, head, download).await? {
            Opening::Stream(streamed) => return Ok(Served::Original(streamed)),
            Opening::Buffered(fetched) => fetched.bytes,
        }
    } else {
        read_rest(opened, head, max, download).await?
    };
    (timings.download, timings.source_bytes) = (downloading.elapsed(), bytes.len() as u64);
    check_image_type(&bytes, request.mode)?;
    let (source, source_bytes) = (plan.source.clone(), bytes.clone());
    let processing = Instant::now();
    let output = deliver::process(state, &plan, bytes, deadline).await?;
    timings.processing = processing.elapsed();
    let delivery = PayloadDelivery::for_output(&output, &source_bytes, &source);
    Ok(Served::Image(output, delivery))
}

/// Refuses what media-proxy refuses before converting: not an image → 403 for pass-through, 404 for a
/// conversion flag; HEIC is not browser-safe, so it is not passed through either.
fn check_image_type(bytes: &[u8], mode: Mode) -> Result<(), Failure> {
    let refused = if mode.converts() { MisskeyError::NotConvertible } else { MisskeyError::RejectedType };
    match pipeline::probe(bytes) {
        Err(PipelineError::UnknownFormat) => Err(refused.into()),
        Ok(p) if p.format == ImageFormat::Heic && !mode.converts() => Err(refused.into()),
        _ => Ok(()),
    }
}

/// The dialect's `User-Agent` and an optional `Range`, sent upstream.
fn upstream_headers(state: &AppState, range: Option<&str>) -> Vec<(header::HeaderName, String)> {
    let mut extra = Vec::new();
    if let Some(ua) = &state.config.misskey.user_agent {
        extra.push((header::USER_AGENT, ua.clone()));
    }
    if let Some(range) = range {
        extra.push((header::RANGE, range.to_string()));
    }
    extra
}

/// Streams audio/video. With a client `Range`, the source is asked again with that `Range` (the first
/// answer was only needed for its magic number) and a 206 is passed back as is.
async fn stream_media(
    state: &AppState,
    request: &MisskeyRequest,
    opened: Opened,
    head: Bytes,
    kind: media::MediaType,
    range: Option<String>,
    max: u64,
) -> Result<Served, Failure> {
    let (opened, prefix) = match range {
        Some(range) => {
            drop(opened);
            let extra = upstream_headers(state, Some(&range));
            (state.sources.http().open(&request.url, &extra).await?, Bytes::new())
        }
        None => (opened, head),
    };
    let stream_head = StreamHead {
        status: opened.status,
        mime: kind.mime,
        ext: kind.ext,
        content_length: opened.content_length,
        content_range: opened.content_range.clone(),
        accept_ranges: opened.accept_ranges.clone(),
    };
    let body = opened.into_capped_stream(prefix, max);
    Ok(Served::Stream(stream_head, Body::from_stream(body)))
}

/// Reads until `want` bytes (or the end), within `timeout` and `max`.
async fn read_prefix(opened: &mut Opened, want: usize, max: u64, timeout: Duration) -> Result<Bytes, Failure> {
    let read = async {
        let mut head = BytesMut::new();
        while head.len() < want && opened.read_more(&mut head, max).await? {}
        Ok::<_, SourceError>(head.freeze())
    };
    Ok(tokio::time::timeout(timeout, read).await.unwrap_or(Err(SourceError::Timeout))?)
}

/// Reads the rest of an image body after `head`, within `timeout` and `max` (counted as received: the
/// client never asks for or undoes a compression, so these are the bytes the pipeline will see).
async fn read_rest(opened: Opened, head: Bytes, max: u64, timeout: Duration) -> Result<Bytes, Failure> {
    let read = opened.read_rest(head, max);
    Ok(tokio::time::timeout(timeout, read).await.unwrap_or(Err(SourceError::Timeout))?.bytes)
}

/// Attaches the access-log facts (SPEC §7) for `observe::layer`: the source host, never the query string
/// (the source URL, and whatever tokens it carries, lives there).
fn log_request(
    request: Option<&MisskeyRequest>,
    facts: &RequestFacts,
    response: &mut Response<Body>,
    failure: Option<&Failure>,
    timings: Timings,
    stream: bool,
) {
    response.extensions_mut().insert(AccessRecord {
        dialect: "misskey",
        request_id: facts.request_id.clone(),
        path: None,
        mode: request.map(|r| format!("{:?}", r.mode)).unwrap_or_default(),
        source_host: request.and_then(|r| r.url.host_str()).unwrap_or("").to_string(),
        error: failure.map(|f| (f.kind(), f.to_string())),
        timings,
        cache_hit: false,
        stream,
    });
}

/// CORS preflight for Misskey paths (SPEC §3: OPTIONS answered).
pub fn preflight(state: &AppState) -> Response<Body> {
    response::render_preflight(&misskey::base_policy(&state.config))
}
