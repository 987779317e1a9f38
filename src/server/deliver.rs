//! The request flow shared by the dialects once there is a plan, with every delivery feature of SPEC §2
//! (the Misskey route reuses its pipeline step, [`process`]): admission, fetch, the pipeline on the blocking
//! pool under the request deadline, and on top of that the result cache
//! (`RESULT_BUCKET`), validators and 304s (`IMGPROXY_USE_ETAG`, `IMGPROXY_USE_LAST_MODIFIED`, conditional
//! upstream requests), S3's header probe before the full download, and the fallback image.
//!
//! Order, cheapest first: refuse disallowed sources; serve a stored result (no source request, no
//! pipeline); take a worker slot; fetch conditionally (an upstream 304 is our 304, nothing downloaded);
//! compare validators (a match is a 304 without processing); run the pipeline; store the result. A source
//! failure is answered with the fallback image when one is configured. Dialect-neutral: it sees a plan.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use bytes::Bytes;

use crate::memory_budget;
use crate::pipeline::{self, Output, Probe};
use crate::plan::{ImageFormat, Plan, ResponsePolicy};
use crate::response::Failure;
use crate::source::{Conditional, FetchOutcome, Fetched};

use super::conditional::{self, ClientValidators, Validators};
use super::passthrough::{self, Opening, Streamed};
use super::AppState;

/// Where a request's time went, for the access log.
#[derive(Clone, Copy, Debug, Default)]
pub struct Timings {
    /// Time waiting for a worker slot.
    pub queue: Duration,
    /// Time downloading the source.
    pub download: Duration,
    /// Time in the pipeline.
    pub processing: Duration,
    /// Source bytes received (0 for a cache hit or a 304).
    pub source_bytes: u64,
}

/// Counters of the delivery paths taken (for metrics and for tests that must tell a 304 made without
/// processing from one made after it).
#[derive(Debug, Default)]
pub struct DeliveryStats {
    /// Pipeline runs (fallbacks included).
    pub pipeline_runs: AtomicU64,
    /// Results served from `RESULT_BUCKET`.
    pub cache_hits: AtomicU64,
    /// 304 answers.
    pub not_modified: AtomicU64,
}

impl DeliveryStats {
    /// Pipeline runs so far.
    pub fn pipeline_runs(&self) -> u64 {
        self.pipeline_runs.load(Ordering::Relaxed)
    }
}

/// What the request gets.
pub enum Delivery {
    /// An image to send.
    Image(Box<Image>),
    /// 304 with these validators.
    NotModified(Validators),
    /// The source's own bytes, streamed as they arrive (streaming Lambda, `passthrough.rs`), with the
    /// validators to send.
    Stream(Box<Streamed>, Validators),
}

/// A rendered-to-be image and how to send it.
pub struct Image {
    /// The result.
    pub output: Output,
    /// What the source said (for passthrough and debug headers).
    pub fetched: Fetched,
    /// `ETag` / `Last-Modified` to send.
    pub validators: Validators,
    /// 200, or the fallback's status.
    pub status: StatusCode,
    /// The policy to render with (the fallback's TTL differs).
    pub policy: ResponsePolicy,
    /// Served from the result cache.
    pub cache_hit: bool,
}

/// The outcome and where the time went.
pub struct Delivered {
    /// The delivery or the failure.
    pub result: Result<Delivery, Failure>,
    /// Timings for the access log.
    pub timings: Timings,
}

/// Runs `plan` within `IMGPROXY_TIMEOUT` (503 when it passes).
pub async fn deliver(state: &AppState, plan: Plan, client: &ClientValidators, started: Instant) -> Delivered {
    let deadline = started + state.config.server.timeout;
    let mut timings = Timings::default();
    let work = run(state, plan, client, deadline, &mut timings);
    let result = match tokio::time::timeout_at(deadline.into(), work).await {
        Ok(result) => result,
        Err(_) => Err(Failure::Timeout),
    };
    let stats = &state.delivery_stats;
    match &result {
        Ok(Delivery::NotModified(_)) => stats.not_modified.fetch_add(1, Ordering::Relaxed),
        Ok(Delivery::Image(image)) if image.cache_hit => stats.cache_hits.fetch_add(1, Ordering::Relaxed),
        _ => 0,
    };
    Delivered { result, timings }
}

async fn run(
    state: &AppState,
    plan: Plan,
    client: &ClientValidators,
    deadline: Instant,
    timings: &mut Timings,
) -> Result<Delivery, Failure> {
    state.sources.check_allowed(&plan.source)?;
    let digest = conditional::options_digest(&plan, &state.config.imgproxy.etag_buster);
    if let Some(hit) = cache_lookup(state, &plan, client).await {
        return Ok(hit);
    }
    let queued = Instant::now();
    let _slot = state.workers.acquire().await?;
    timings.queue = queued.elapsed();

    let downloading = Instant::now();
    let outcome = match fetch_or_stream(state, &plan, &digest, client).await {
        Ok(Fetch::Stream(streamed)) => return Ok(stream_delivery(state, &digest, client, streamed)),
        Ok(Fetch::Outcome(outcome)) => Ok(outcome),
        Err(failure) => Err(failure),
    };
    let fetched = match outcome {
        Ok(FetchOutcome::Fetched(fetched)) => fetched,
        Ok(FetchOutcome::NotModified) => return Ok(Delivery::NotModified(upstream_validators(client))),
        Err(failure) if state.fallback.is_configured() && matches!(failure, Failure::Source(_)) => {
            return fallback(state, plan, failure, deadline).await;
        }
        Err(failure) => return Err(failure),
    };
    timings.download = downloading.elapsed();
    timings.source_bytes = fetched.bytes.len() as u64;

    let validators = validators(state, &digest, &fetched);
    if is_not_modified(client, &validators) {
        return Ok(Delivery::NotModified(validators));
    }
    let processing = Instant::now();
    let output = process(state, &plan, fetched.bytes.clone(), deadline).await?;
    timings.processing = processing.elapsed();
    cache_store(state, &plan, &output, &fetched, &validators).await;
    let policy = plan.response;
    let image = Image { output, fetched, validators, status: StatusCode::OK, policy, cache_hit: false };
    Ok(Delivery::Image(Box::new(image)))
}

/// The conditional fetch: validators go upstream only when their feature is on; S3 probes the header
/// before the full download, refusing a pixel bomb early (an inconclusive probe leaves it to the pipeline).
async fn fetch(
    state: &AppState,
    plan: &Plan,
    digest: &str,
    client: &ClientValidators,
) -> Result<FetchOutcome, Failure> {
    let config = &state.config.imgproxy;
    let conditional = Conditional {
        if_none_match: config.use_etag.then(|| conditional::upstream_etag(digest, client)).flatten(),
        if_modified_since: client.if_modified_since.clone().filter(|_| config.use_last_modified),
        if_match: None,
    };
    let limits = plan.limits;
    let probe = move |head: &[u8]| match pipeline::probe(head) {
        Ok(p) => pipeline::check_limits(&p, &limits).map_err(Failure::from),
        Err(_) => Ok(()),
    };
    state.sources.fetch_conditional(&plan.source, plan.limits.max_src_file_size, &conditional, probe).await
}

/// A fetch, or a source to stream.
enum Fetch {
    Outcome(FetchOutcome),
    Stream(Box<Streamed>),
}

/// On the streaming front door a pass-through candidate is opened and its header read, then streamed or
/// buffered (`passthrough.rs`; no conditional upstream request there); everything else is [`fetch`]ed.
async fn fetch_or_stream(
    state: &AppState,
    plan: &Plan,
    digest: &str,
    client: &ClientValidators,
) -> Result<Fetch, Failure> {
    let Some(url) = passthrough::candidate(state, plan) else {
        return fetch(state, plan, digest, client).await.map(Fetch::Outcome);
    };
    match passthrough::open(state, plan, url).await? {
        Opening::Stream(streamed) => Ok(Fetch::Stream(streamed)),
        Opening::Buffered(fetched) => Ok(Fetch::Outcome(FetchOutcome::Fetched(fetched))),
    }
}

/// A stream, or a 304 when the client's validators match the upstream ones (an ETag needs the upstream's:
/// a body hash cannot be known before the body has passed).
fn stream_delivery(state: &AppState, digest: &str, client: &ClientValidators, streamed: Box<Streamed>) -> Delivery {
    let mut validators = validators(state, digest, &streamed.meta);
    if streamed.meta.etag.is_none() {
        validators.etag = None;
    }
    if is_not_modified(client, &validators) {
        return Delivery::NotModified(validators);
    }
    Delivery::Stream(streamed, validators)
}

fn validators(state: &AppState, digest: &str, fetched: &Fetched) -> Validators {
    let config = &state.config.imgproxy;
    Validators {
        etag: config.use_etag.then(|| conditional::etag_for(digest, fetched)),
        last_modified: fetched.last_modified.clone().filter(|_| config.use_last_modified),
    }
}

/// After an upstream 304 the client's copy is current: echo the tag it holds (ours, by construction).
fn upstream_validators(client: &ClientValidators) -> Validators {
    let etag = client.if_none_match.iter().find(|t| t.contains(".s")).cloned();
    Validators { etag, last_modified: None }
}

fn is_not_modified(client: &ClientValidators, v: &Validators) -> bool {
    v.etag.as_deref().is_some_and(|etag| conditional::etag_matches(client, etag))
        || v.last_modified.as_deref().is_some_and(|lm| conditional::unmodified_since(client, lm))
}

/// Runs the pipeline on the blocking pool (never on the async threads), counting the run. The decoded
/// size estimated from the header is reserved from the memory budget first (waiting until the deadline
/// at most), and held until the run ends, even if the request gives up before (issue 7).
pub async fn process(state: &AppState, plan: &Plan, bytes: Bytes, deadline: Instant) -> Result<Output, Failure> {
    let plan = match state.watermark.attach(plan, &state.sources).await {
        Some(with_watermark) => with_watermark,
        None => plan.clone(),
    };
    let need = memory_budget::estimate_input(&plan, &bytes);
    let reservation = state.memory_budget.reserve(need, deadline).await?;
    state.delivery_stats.pipeline_runs.fetch_add(1, Ordering::Relaxed);
    tokio::task::spawn_blocking(move || {
        let _held = reservation;
        pipeline::run(&plan, &bytes, deadline)
    })
    .await
    .map_err(|e| Failure::Internal(format!("pipeline worker failed: {e}")))?
    .map_err(Failure::from)
}

/// The source failed and a fallback image is configured: process it with the request's options.
async fn fallback(state: &AppState, plan: Plan, failure: Failure, deadline: Instant) -> Result<Delivery, Failure> {
    let Some(bytes) = state.fallback.bytes(&state.sources).await else {
        return Err(failure);
    };
    tracing::info!(error = %failure, "source failed; serving the fallback image");
    let output = process(state, &plan, bytes.clone(), deadline).await?;
    let image = Image {
        output,
        fetched: Fetched { bytes, ..Fetched::default() },
        validators: Validators::default(),
        status: state.fallback.status(failure.status()),
        policy: state.fallback.policy(&plan.response),
        cache_hit: false,
    };
    Ok(Delivery::Image(Box::new(image)))
}

// Metadata names of stored results (S3 user metadata, lower-case).
const META_FORMAT: &str = "result-format";
const META_WIDTH: &str = "result-width";
const META_HEIGHT: &str = "result-height";
const META_SOURCE: &str = "source-probe";
const META_ETAG: &str = "etag";
const META_LAST_MODIFIED: &str = "last-modified";
const META_CACHE_CONTROL: &str = "source-cache-control";
const META_EXPIRES: &str = "source-expires";

/// How long a result-cache read may take before it counts as a miss: a healthy S3 answers in tens of
/// milliseconds, so a second means the endpoint is down or stalled.
const CACHE_READ_BUDGET: std::time::Duration = std::time::Duration::from_secs(1);

/// A stored result for this plan, answered as a 304 or an image; any store error is logged as a miss.
async fn cache_lookup(state: &AppState, plan: &Plan, client: &ClientValidators) -> Option<Delivery> {
    let store = state.result_store.as_ref()?;
    // Bounded: a cache endpoint that is down or stalled (the SDK retries with backoff) must cost a
    // request at most this, not its whole deadline (issue 8, tests/faults.rs).
    let stored = match tokio::time::timeout(CACHE_READ_BUDGET, store.get(&store.cache_key(plan))).await {
        Ok(Ok(stored)) => stored?,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "result cache read failed; processing instead");
            return None;
        }
        Err(_) => {
            tracing::warn!(
                budget_ms = CACHE_READ_BUDGET.as_millis() as u64,
                "result cache read timed out; processing instead"
            );
            return None;
        }
    };
    let meta = |name: &str| stored.metadata.get(name).cloned();
    // The format is kept in metadata too: some S3-compatible stores do not keep `Content-Type`.
    let by_meta = meta(META_FORMAT).and_then(|ext| ImageFormat::from_extension(&ext));
    let format = stored.content_type.as_deref().and_then(format_from_mime).or(by_meta)?;
    let validators = Validators { etag: meta(META_ETAG), last_modified: meta(META_LAST_MODIFIED) };
    if is_not_modified(client, &validators) {
        return Some(Delivery::NotModified(validators));
    }
    let number = |name: &str| meta(name).and_then(|v| v.parse::<u32>().ok()).unwrap_or(0);
    let source =
        meta(META_SOURCE).and_then(|v| parse_probe(&v)).unwrap_or(Probe { format, width: 0, height: 0, frames: 1 });
    let output =
        Output { bytes: stored.bytes.to_vec(), format, width: number(META_WIDTH), height: number(META_HEIGHT), source };
    let fetched =
        Fetched { cache_control: meta(META_CACHE_CONTROL), expires: meta(META_EXPIRES), ..Fetched::default() };
    let policy = plan.response.clone();
    let image = Image { output, fetched, validators, status: StatusCode::OK, policy, cache_hit: true };
    Some(Delivery::Image(Box::new(image)))
}

/// Stores a fresh result with what a later hit needs to answer the same headers.
async fn cache_store(state: &AppState, plan: &Plan, output: &Output, fetched: &Fetched, v: &Validators) {
    let Some(store) = state.result_store.as_ref() else { return };
    let s = output.source;
    let mut meta = HashMap::from([
        (META_FORMAT.to_string(), output.format.extension().to_string()),
        (META_WIDTH.to_string(), output.width.to_string()),
        (META_HEIGHT.to_string(), output.height.to_string()),
        (META_SOURCE.to_string(), format!("{}:{}:{}:{}", s.format.extension(), s.width, s.height, s.frames)),
    ]);
    let optional = [
        (META_ETAG, &v.etag),
        (META_LAST_MODIFIED, &v.last_modified),
        (META_CACHE_CONTROL, &fetched.cache_control),
        (META_EXPIRES, &fetched.expires),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            meta.insert(name.to_string(), value.clone());
        }
    }
    let bytes = Bytes::from(output.bytes.clone());
    let key = store.cache_key(plan);
    let put = store.put_with_metadata(&key, bytes, output.format.mime(), meta);
    // The write gets the download timeout: the image is ready, a stalled cache must not withhold it.
    match tokio::time::timeout(state.config.source.download_timeout, put).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "result cache write failed"),
        Err(_) => tracing::warn!("result cache write timed out"),
    }
}

fn format_from_mime(mime: &str) -> Option<ImageFormat> {
    ImageFormat::ALL.into_iter().find(|f| f.mime() == mime)
}

fn parse_probe(value: &str) -> Option<Probe> {
    let mut parts = value.split(':');
    let format = ImageFormat::from_extension(parts.next()?)?;
    let mut next = || parts.next().and_then(|p| p.parse::<u32>().ok());
    Some(Probe { format, width: next()?, height: next()?, frames: next()? })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_metadata_round_trips() {
        for f in ImageFormat::ALL {
            assert_eq!(format_from_mime(f.mime()), Some(f));
        }
        assert_eq!(format_from_mime("text/plain"), None);
        let p = Probe { format: ImageFormat::Png, width: 10, height: 20, frames: 3 };
        assert_eq!(parse_probe("png:10:20:3"), Some(p));
        assert_eq!(parse_probe("png:10:x:3"), None);
        assert_eq!(parse_probe("nope:1:1:1"), None);
    }
}
