//! The Lambda payload cap (SPEC §5): no response may fail because its body is too big for Lambda.
//!
//! A buffered Lambda response is base64 inside a 6 MB JSON envelope, so a raw body over ~4.5 MiB cannot be
//! returned at all. This layer sits between the router and the Lambda front door and, for a successful
//! response whose body is over [`PayloadLimit::max_bytes`]: re-encodes a processed single-frame lossy image
//! at lower quality (rule 1); else stores the body in the result bucket and answers `302` to a presigned URL
//! (rule 2); pass-through media get a `302` to their HTTP source instead. In streaming mode the limit is
//! the streaming cap and bodies of unknown length are streamed untouched (rule 3).
//!
//! Routes say what a body is with a [`Delivery`] response extension ([`mark`]); the bucket is behind the
//! small [`ResultStore`] trait so this file knows nothing of S3. It knows nothing of dialects either.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, HttpBody};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Response, StatusCode};
use axum::middleware::Next;
use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::config::LambdaConfig;
use crate::pipeline::{self, Output};
use crate::plan::{ImageFormat, SourceRef};

/// Default raw-body limit for buffered responses: the 6 MiB envelope less 64 KiB for the JSON and headers,
/// times 3/4 for base64 (4,669,440 bytes).
pub const BUFFERED_LIMIT: u64 = (6 * 1024 * 1024 - 64 * 1024) / 4 * 3;

/// Default limit for streamed responses: Lambda's documented 20 MiB response-streaming cap.
pub const STREAMING_LIMIT: u64 = 20 * 1024 * 1024;

/// How long a presigned result URL stays valid.
pub const PRESIGN_TTL: Duration = Duration::from_secs(3600);

/// What [`ResultStore`] calls return; errors are messages for the log.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, String>> + Send + 'a>>;

/// The result bucket as this layer needs it (the lead connects `result_store.rs` to it).
pub trait ResultStore: Send + Sync {
    /// Stores `bytes` under `key` with its `Content-Type`.
    fn put<'a>(&'a self, key: &'a str, bytes: Bytes, content_type: &'a str) -> StoreFuture<'a, ()>;
    /// A URL that serves `key` without credentials for `ttl`.
    fn presigned_get<'a>(&'a self, key: &'a str, ttl: Duration) -> StoreFuture<'a, String>;
}

/// What a successful body is, attached by the route that made it (see [`mark`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// A result we produced; `refit` when lowering its quality is acceptable (lossy, single frame).
    Processed {
        /// Re-encoding at lower quality is allowed.
        refit: bool,
    },
    /// The source's own bytes, served as they are.
    PassThrough {
        /// The public `http(s)` source URL to redirect to; `None` for `local://`, `s3://`.
        source_url: Option<String>,
    },
}

impl Delivery {
    /// Classifies a pipeline result: passed through when the bytes are the source's own.
    pub fn for_output(output: &Output, source_bytes: &[u8], source: &SourceRef) -> Delivery {
        if output.bytes.len() == source_bytes.len() && output.bytes == source_bytes {
            let source_url = match source {
                SourceRef::Http(url) => Some(url.to_string()),
                _ => None,
            };
            return Delivery::PassThrough { source_url };
        }
        Delivery::Processed { refit: matches!(output.format, ImageFormat::Jpeg | ImageFormat::Webp) }
    }
}

/// Attaches `delivery` to `response` for the payload layer.
pub fn mark(response: &mut Response<Body>, delivery: Delivery) {
    response.extensions_mut().insert(delivery);
}

/// The cap in force and where oversized results go.
#[derive(Clone)]
pub struct PayloadLimit {
    /// Bodies above this many bytes are handled by the rules.
    pub max_bytes: u64,
    /// Streaming mode: bodies of unknown length are streamed, not collected.
    pub streaming: bool,
    /// The result bucket, when configured.
    pub store: Option<Arc<dyn ResultStore>>,
    /// Validity of presigned URLs.
    pub presign_ttl: Duration,
}

impl PayloadLimit {
    /// The limit for a front door: `LAMBDA_MAX_RESPONSE_BYTES`, else the mode's default.
    pub fn new(config: &LambdaConfig, streaming: bool, store: Option<Arc<dyn ResultStore>>) -> PayloadLimit {
        let default = if streaming { STREAMING_LIMIT } else { BUFFERED_LIMIT };
        let max_bytes = config.max_response_bytes.unwrap_or(default);
        PayloadLimit { max_bytes, streaming, store, presign_ttl: PRESIGN_TTL }
    }
}

/// The layer, for `axum::middleware::from_fn_with_state(limit, payload_limit::layer)`.
pub async fn layer(State(limit): State<PayloadLimit>, request: Request, next: Next) -> Response<Body> {
    enforce(&limit, next.run(request).await).await
}

/// Applies the cap to one response (SPEC §5).
pub async fn enforce(limit: &PayloadLimit, response: Response<Body>) -> Response<Body> {
    if !response.status().is_success() {
        return response;
    }
    if let Some(url) = oversized_pass_through(limit, &response) {
        // Known too big from its announced length: redirect before a byte of the stream is read.
        let (parts, _) = response.into_parts();
        let cache = parts.headers.get(header::CACHE_CONTROL).cloned();
        return redirect(parts, &url, cache);
    }
    match HttpBody::size_hint(response.body()).exact() {
        Some(n) if n <= limit.max_bytes => return response,
        None if limit.streaming => return response,
        _ => {}
    }
    let (parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(e) => return internal(&format!("reading the response body: {e}")),
    };
    if bytes.len() as u64 <= limit.max_bytes {
        return Response::from_parts(parts, Body::from(bytes));
    }
    let delivery = parts.extensions.get::<Delivery>().cloned().unwrap_or(Delivery::Processed { refit: false });
    tracing::info!(target: "lambda", bytes = bytes.len(), limit = limit.max_bytes, ?delivery, "over the payload cap");
    match delivery {
        Delivery::PassThrough { source_url: Some(url) } => {
            let cache = parts.headers.get(header::CACHE_CONTROL).cloned();
            redirect(parts, &url, cache)
        }
        Delivery::Processed { refit: true } => match refit(&bytes, limit.max_bytes, false).await {
            Some(output) => refitted(parts, output),
            None => store_or_shrink(limit, parts, bytes, true).await,
        },
        _ => store_or_shrink(limit, parts, bytes, false).await,
    }
}

/// The source URL of a pass-through response whose `Content-Length` (a streamed body's only size) is over
/// the cap: streamed sources are redirected to by their announced size, never collected.
fn oversized_pass_through(limit: &PayloadLimit, response: &Response<Body>) -> Option<String> {
    let Some(Delivery::PassThrough { source_url: Some(url) }) = response.extensions().get::<Delivery>() else {
        return None;
    };
    let length = response.headers().get(header::CONTENT_LENGTH)?.to_str().ok()?.parse::<u64>().ok()?;
    (length > limit.max_bytes).then(|| url.clone())
}

/// Rule 2 (result bucket), else — with no bucket — rule 1 with smaller dimensions as the last resort.
async fn store_or_shrink(
    limit: &PayloadLimit,
    parts: axum::http::response::Parts,
    bytes: Bytes,
    refittable: bool,
) -> Response<Body> {
    if let Some(store) = &limit.store {
        return match store_and_presign(store.as_ref(), &parts, bytes, limit.presign_ttl).await {
            Ok(url) => {
                let age = limit.presign_ttl.as_secs().saturating_sub(60).max(1);
                let cache = HeaderValue::from_str(&format!("max-age={age}, public")).ok();
                redirect(parts, &url, cache)
            }
            Err(e) => internal(&format!("storing an oversized result: {e}")),
        };
    }
    if refittable {
        if let Some(output) = refit(&bytes, limit.max_bytes, true).await {
            return refitted(parts, output);
        }
    }
    internal("the result is over the Lambda payload cap and no RESULT_BUCKET is configured")
}

/// Puts the body under a content-addressed key (identical results share one object) and presigns it.
async fn store_and_presign(
    store: &dyn ResultStore,
    parts: &axum::http::response::Parts,
    bytes: Bytes,
    ttl: Duration,
) -> Result<String, String> {
    let key = format!("results/{}", hex::encode(Sha256::digest(&bytes)));
    let content_type = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    store.put(&key, bytes, content_type.unwrap_or("application/octet-stream")).await?;
    store.presigned_get(&key, ttl).await
}

/// Re-encodes on the blocking pool (pipeline code is synchronous CPU work).
async fn refit(bytes: &Bytes, max_bytes: u64, allow_downscale: bool) -> Option<Output> {
    let input = bytes.clone();
    let task = tokio::task::spawn_blocking(move || pipeline::refit(&input, max_bytes, allow_downscale));
    match task.await {
        Ok(Ok(output)) => Some(output),
        Ok(Err(e)) => {
            tracing::info!(target: "lambda", error = %e, allow_downscale, "result not refitted");
            None
        }
        Err(e) => {
            tracing::error!(target: "lambda", error = %e, "refit worker failed");
            None
        }
    }
}

/// The original headers with the smaller body (and corrected debug sizes).
fn refitted(mut parts: axum::http::response::Parts, output: Output) -> Response<Body> {
    parts.headers.remove(header::CONTENT_LENGTH);
    for (name, value) in [("x-result-width", output.width), ("x-result-height", output.height)] {
        if parts.headers.contains_key(name) {
            parts.headers.insert(name, HeaderValue::from(value));
        }
    }
    Response::from_parts(parts, Body::from(output.bytes))
}

/// `302` to `location`, keeping the request id, CORS, CSP and `Vary` headers of the original answer.
fn redirect(mut parts: axum::http::response::Parts, location: &str, cache: Option<HeaderValue>) -> Response<Body> {
    let Ok(location) = HeaderValue::from_str(location) else {
        return internal("the redirect target is not a valid header value");
    };
    for name in [header::CONTENT_TYPE, header::CONTENT_LENGTH, header::CONTENT_DISPOSITION, header::CACHE_CONTROL] {
        parts.headers.remove(name);
    }
    parts.status = StatusCode::FOUND;
    parts.headers.insert(header::LOCATION, location);
    if let Some(cache) = cache {
        parts.headers.insert(header::CACHE_CONTROL, cache);
    }
    Response::from_parts(parts, Body::empty())
}

fn internal(cause: &str) -> Response<Body> {
    tracing::error!(target: "lambda", cause, "payload cap");
    let mut response = Response::new(Body::from("Internal error\n"));
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
#[path = "payload_limit_tests.rs"]
mod tests;

/// The configured result bucket (`RESULT_BUCKET`, `src/result_store.rs`) as the store for oversized results.
impl ResultStore for crate::result_store::ResultStore {
    fn put<'a>(&'a self, key: &'a str, bytes: Bytes, content_type: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            crate::result_store::ResultStore::put(self, key, bytes, content_type).await.map_err(|e| e.to_string())
        })
    }

    fn presigned_get<'a>(&'a self, key: &'a str, ttl: Duration) -> StoreFuture<'a, String> {
        Box::pin(async move {
            crate::result_store::ResultStore::presigned_get(self, key, ttl).await.map_err(|e| e.to_string())
        })
    }
}
