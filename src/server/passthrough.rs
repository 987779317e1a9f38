//! Streamed pass-through (issue 6, SPEC §5 rule 3): on Lambda's streaming front door, a source that is
//! served as it is — imgproxy `raw` or `skip_processing`, Misskey's original image — goes from the source
//! body to the response stream chunk by chunk, so a 20 MB original never sits whole in the function's
//! memory and its first bytes leave before the origin has sent its last.
//!
//! Only the header is read first (at most [`PROBE_LEN`] bytes), to prove from the bytes that the pipeline
//! would pass them through unchanged and that they are within SPEC §6's limits: the answer is then exactly
//! the buffered one, minus the wait. Formats whose header does not tell the whole story (GIF and WebP
//! frame counts lie at the end; SVG is always rasterised) and inconclusive headers are read to the end and
//! handed back for the normal pipeline. Knows nothing of dialects or of Lambda: the routes ask, the
//! payload layer (`payload_limit.rs`) sees a body of unknown length with the upstream `Content-Length`.

use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderName, HeaderValue, Response};
use bytes::{Bytes, BytesMut};
use url::Url;

use crate::pipeline::{self, Output, Probe};
use crate::plan::{ImageFormat, Plan, ResponsePolicy, SourceRef};
use crate::response::{self, Failure, RequestFacts};
use crate::source::http::Opened;
use crate::source::{Fetched, SourceError};

use super::payload_limit::{self, Delivery};
use super::AppState;

/// The most header read before deciding: JPEG dimensions follow the EXIF/ICC segments, which rarely
/// pass 64 KiB; a header not understood by then is buffered and processed as usual.
pub const PROBE_LEN: usize = 64 * 1024;

/// Formats whose header alone gives everything the limits check needs (size and frame count).
const STREAMABLE: [ImageFormat; 3] = [ImageFormat::Jpeg, ImageFormat::Png, ImageFormat::Bmp];

/// A source answer to stream: what its header proved, its upstream headers, and the body still to come.
pub struct Streamed {
    /// The probed header (format, size, frames).
    pub probe: Probe,
    /// Upstream caching and naming headers; `bytes` is empty.
    pub meta: Fetched,
    /// Upstream `Content-Length`, when it announced one.
    pub content_length: Option<u64>,
    /// The header bytes already read, then the rest of the source as it arrives.
    pub body: Body,
}

/// What opening a candidate source gave.
pub enum Opening {
    /// Passed through: stream it.
    Stream(Box<Streamed>),
    /// Not provably passed through: the whole source, for the pipeline.
    Buffered(Fetched),
}

/// The `http(s)` source of `plan` when this front door streams and the plan may pass its source through.
pub fn candidate<'a>(state: &AppState, plan: &'a Plan) -> Option<&'a Url> {
    let passes = plan.output.raw || !plan.output.skip_processing.is_empty();
    match &plan.source {
        SourceRef::Http(url) if state.stream_pass_through && passes => Some(url),
        _ => None,
    }
}

/// Whether `head` proves the pipeline would pass the source through untouched: `Ok(Some)` to stream,
/// `Ok(None)` to buffer, `Err` for a source over SPEC §6's limits (refused, as the pipeline would).
pub fn decide(plan: &Plan, head: &[u8]) -> Result<Option<Probe>, Failure> {
    let Some(probe) = complete_probe(head) else { return Ok(None) };
    if !STREAMABLE.contains(&probe.format) || !pipeline::passes_through(probe.format, &plan.output) {
        return Ok(None);
    }
    pipeline::check_limits(&probe, &plan.limits)?;
    Ok(Some(probe))
}

/// The probe of `head` once it has seen everything the limits depend on: a PNG's frame count (`acTL`)
/// may follow `IHDR` anywhere before the first `IDAT`, so a PNG head must reach that chunk.
fn complete_probe(head: &[u8]) -> Option<Probe> {
    let probe = pipeline::probe(head).ok()?;
    (probe.format != ImageFormat::Png || png_reaches_idat(head)).then_some(probe)
}

/// Whether the chunk walk from the PNG signature reaches an `IDAT` header inside `head`.
fn png_reaches_idat(head: &[u8]) -> bool {
    let mut pos = 8usize;
    while let Some(chunk) = head.get(pos..pos.saturating_add(8)) {
        let (len, kind) = chunk.split_at(4);
        if kind == b"IDAT" {
            return true;
        }
        let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
        pos = pos.saturating_add(12).saturating_add(len);
    }
    false
}

/// Opens `url` (SSRF-checked on every hop, as any fetch) and streams or buffers it.
pub async fn open(state: &AppState, plan: &Plan, url: &Url) -> Result<Opening, Failure> {
    let opened = state.sources.http().open(url, &[]).await?;
    continue_opened(plan, opened, Bytes::new(), state.config.source.download_timeout).await
}

/// Continues a source already opened with `head` read (the Misskey route sniffs 64 bytes first): reads
/// up to [`PROBE_LEN`] within `timeout`, then streams the rest or reads it all.
pub async fn continue_opened(
    plan: &Plan,
    mut opened: Opened,
    head: Bytes,
    timeout: Duration,
) -> Result<Opening, Failure> {
    let max = plan.limits.max_src_file_size;
    if let Some(announced) = opened.content_length.filter(|&n| max > 0 && n > max) {
        tracing::info!(announced, max, "source larger than IMGPROXY_MAX_SRC_FILE_SIZE");
        return Err(SourceError::TooLarge { limit: max }.into());
    }
    let read = read_head(&mut opened, head, max);
    let head = tokio::time::timeout(timeout, read).await.unwrap_or(Err(SourceError::Timeout))?;
    let Some(probe) = decide(plan, &head)? else {
        let rest = tokio::time::timeout(timeout, opened.read_rest(head, max));
        let bytes = rest.await.unwrap_or(Err(SourceError::Timeout))?;
        return Ok(Opening::Buffered(bytes));
    };
    let (meta, content_length) = (opened.meta.clone(), opened.content_length);
    let body = Body::from_stream(opened.into_capped_stream(head, max));
    Ok(Opening::Stream(Box::new(Streamed { probe, meta, content_length, body })))
}

/// Reads until the header probes (or [`PROBE_LEN`], or the end), so small headers cost one chunk.
async fn read_head(opened: &mut Opened, head: Bytes, max: u64) -> Result<Bytes, SourceError> {
    let mut head = BytesMut::from(head.as_ref());
    while head.len() < PROBE_LEN && complete_probe(&head).is_none() && opened.read_more(&mut head, max).await? {}
    Ok(head.freeze())
}

/// Renders a streamed source with the headers a buffered pass-through would get (type, caching,
/// disposition, debug sizes), the upstream `Content-Length`, and the payload label: the source URL, so
/// an oversized stream on a buffered front door is redirected there instead (SPEC §5).
pub fn render(
    streamed: Streamed,
    policy: &ResponsePolicy,
    facts: &RequestFacts,
    source_url: Option<String>,
) -> Response<Body> {
    let Streamed { probe, meta, content_length, body } = streamed;
    let (width, height) = (probe.width, probe.height);
    let shell = Output { bytes: Vec::new(), format: probe.format, width, height, source: probe };
    let mut response = response::render_image(policy, shell, &meta, facts);
    let length = content_length.and_then(|n| HeaderValue::from_str(&n.to_string()).ok());
    let headers = response.headers_mut();
    let origin_length = HeaderName::from_static("x-origin-content-length");
    match length {
        Some(length) if facts.debug_headers => {
            headers.insert(header::CONTENT_LENGTH, length.clone());
            headers.insert(origin_length, length);
        }
        Some(length) => _ = headers.insert(header::CONTENT_LENGTH, length),
        // Not known before the end: no debug size rather than a wrong one.
        None => _ = headers.remove(origin_length),
    }
    *response.body_mut() = body;
    payload_limit::mark(&mut response, Delivery::PassThrough { source_url });
    response
}

#[cfg(test)]
#[path = "passthrough_tests.rs"]
mod tests;
