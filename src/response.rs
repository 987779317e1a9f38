//! Turns a result or a failure into an HTTP response: status, body and every header, for both dialects.
//!
//! This is the one place that knows HTTP status codes for errors (the exhaustive match in
//! [`Failure::status`], SPEC §2 error table) and the one place that writes cache, disposition, CORS and CSP
//! headers (DESIGN.md §6). Dialects only describe policy in [`ResponsePolicy`]. Clients get a short fixed
//! message; the cause goes to the log.

use axum::body::Body;
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::{Response, StatusCode};

use crate::imgproxy::ParseError;
use crate::memory_budget::BudgetError;
use crate::misskey::MisskeyError;
use crate::pipeline::{Output, PipelineError};
use crate::plan::{CacheRule, ImageFormat, ResponsePolicy};
use crate::source::{Fetched, SourceError};
use crate::workers::QueueFull;

/// Why a request did not produce an image: one variant per boundary.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The URL could not be parsed or was refused.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The source could not be fetched.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The pixels could not be produced.
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    /// 429: no worker slot and the queue is full.
    #[error(transparent)]
    QueueFull(#[from] QueueFull),
    /// 503: `IMGPROXY_TIMEOUT` passed.
    #[error("request timed out")]
    Timeout,
    /// 500: a bug (a worker panicked); logged with its cause.
    #[error("internal error: {0}")]
    Internal(String),
    /// A Misskey request refused by media-proxy's rules (400/403/404).
    #[error(transparent)]
    Misskey(#[from] MisskeyError),
    /// 503: the image does not fit the memory budget (issue 7), at all or before the deadline.
    #[error(transparent)]
    MemoryBudget(#[from] BudgetError),
}

impl Failure {
    /// The status for this failure (SPEC §2 "Errors").
    pub fn status(&self) -> StatusCode {
        match self {
            Failure::Parse(e) => match e {
                ParseError::SignatureMismatch | ParseError::SecurityOptionNotAllowed(_) => StatusCode::FORBIDDEN,
                _ => StatusCode::NOT_FOUND,
            },
            Failure::Source(e) => match e {
                SourceError::UpstreamStatus(code) if (400..500).contains(code) => {
                    StatusCode::from_u16(*code).unwrap_or(StatusCode::NOT_FOUND)
                }
                SourceError::UpstreamStatus(code) if *code >= 500 => StatusCode::BAD_GATEWAY,
                // A 3xx that was not followed (or any other odd answer) means there is no image here.
                SourceError::UpstreamStatus(_) => StatusCode::NOT_FOUND,
                SourceError::Timeout => StatusCode::GATEWAY_TIMEOUT,
                SourceError::TooLarge { .. } => StatusCode::UNPROCESSABLE_ENTITY,
                SourceError::NotAllowed(_)
                | SourceError::BlockedAddress(_)
                | SourceError::SchemeDisabled(_)
                | SourceError::Connect(_)
                | SourceError::TooManyRedirects
                | SourceError::NotFound
                | SourceError::Read(_) => StatusCode::NOT_FOUND,
            },
            Failure::Pipeline(PipelineError::Timeout) | Failure::Timeout => StatusCode::SERVICE_UNAVAILABLE,
            Failure::Pipeline(PipelineError::NearlyUniform) => StatusCode::NOT_FOUND,
            Failure::Pipeline(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Failure::QueueFull(_) => StatusCode::TOO_MANY_REQUESTS,
            Failure::MemoryBudget(_) => StatusCode::SERVICE_UNAVAILABLE,
            Failure::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Failure::Misskey(e) => match e {
                MisskeyError::MissingUrl | MisskeyError::RepeatedUrl | MisskeyError::BadUrl => StatusCode::BAD_REQUEST,
                MisskeyError::Recursive | MisskeyError::RejectedType => StatusCode::FORBIDDEN,
                MisskeyError::NotConvertible => StatusCode::NOT_FOUND,
            },
        }
    }

    /// A one-line message safe to show clients: no addresses, paths or internal causes.
    pub fn public_message(&self) -> String {
        match self {
            Failure::Parse(e) => e.to_string(),
            Failure::Source(SourceError::BlockedAddress(_)) => "Source address is not allowed".into(),
            Failure::Source(SourceError::Connect(_)) => "Can't connect to the source".into(),
            Failure::Source(SourceError::Read(_)) => "Can't read the source".into(),
            Failure::Source(e) => capitalise(&e.to_string()),
            Failure::Pipeline(PipelineError::Corrupt(_)) => "Can't decode the source image".into(),
            Failure::Pipeline(e) => capitalise(&e.to_string()),
            Failure::QueueFull(_) => "Too many requests".into(),
            Failure::Timeout => "Request timed out".into(),
            Failure::Internal(_) => "Internal error".into(),
            Failure::Misskey(e) => capitalise(&e.to_string()),
            Failure::MemoryBudget(_) => "Not enough memory to process the image now".into(),
        }
    }

    /// A short machine label for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Failure::Parse(ParseError::SignatureMismatch) => "signature",
            Failure::Parse(_) => "parse",
            Failure::Source(SourceError::BlockedAddress(_) | SourceError::NotAllowed(_)) => "source_refused",
            Failure::Source(SourceError::Timeout) => "download_timeout",
            Failure::Source(_) => "source",
            Failure::Pipeline(_) => "pipeline",
            Failure::QueueFull(_) => "queue_full",
            Failure::Timeout => "timeout",
            Failure::Internal(_) => "internal",
            Failure::Misskey(_) => "misskey",
            Failure::MemoryBudget(_) => "memory_budget",
        }
    }
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Facts about the request that headers depend on but the plan does not hold.
#[derive(Clone, Debug, Default)]
pub struct RequestFacts {
    /// `X-Request-ID` to echo.
    pub request_id: String,
    /// Unix time now, for `expires` capping.
    pub now_unix: i64,
    /// Emit `X-Origin-*`/`X-Result-*` headers.
    pub debug_headers: bool,
    /// The download name stem when the plan sets none (from the source path).
    pub source_stem: String,
}

/// Renders a processed image.
pub fn render_image(
    policy: &ResponsePolicy,
    output: Output,
    fetched: &Fetched,
    facts: &RequestFacts,
) -> Response<Body> {
    let mut headers = HeaderMap::new();
    put(&mut headers, header::CONTENT_TYPE, output.format.mime());
    put(&mut headers, header::CACHE_CONTROL, &cache_control(policy, fetched, facts.now_unix));
    let disposition = match &policy.download_name {
        Some(name) => misskey_disposition(name, output.format.extension()),
        None => content_disposition(policy, &facts.source_stem, output.format),
    };
    put(&mut headers, header::CONTENT_DISPOSITION, &disposition);
    if facts.debug_headers {
        debug_headers(&mut headers, &output, fetched);
    }
    common_headers(&mut headers, policy, facts);
    let mut response = Response::new(Body::from(output.bytes));
    *response.headers_mut() = headers;
    response
}

/// Renders `304 Not Modified`: no body, the validators and the cache headers a 200 would carry
/// (RFC 9110 §15.4.5), so caches refresh their copy.
pub fn render_not_modified(
    policy: &ResponsePolicy,
    etag: Option<&str>,
    last_modified: Option<&str>,
    facts: &RequestFacts,
) -> Response<Body> {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::NOT_MODIFIED;
    let headers = response.headers_mut();
    put(headers, header::CACHE_CONTROL, &cache_control(policy, &Fetched::default(), facts.now_unix));
    set_validators(headers, etag, last_modified);
    common_headers(headers, policy, facts);
    response
}

/// Adds `ETag` and `Last-Modified` when present (SPEC §2 "HTTP caching").
pub fn set_validators(headers: &mut HeaderMap, etag: Option<&str>, last_modified: Option<&str>) {
    if let Some(etag) = etag {
        put(headers, header::ETAG, etag);
    }
    if let Some(last_modified) = last_modified {
        put(headers, header::LAST_MODIFIED, last_modified);
    }
}

/// Renders a failure as a one-line `text/plain` body with the policy's error caching.
pub fn render_failure(policy: &ResponsePolicy, failure: &Failure, facts: &RequestFacts) -> Response<Body> {
    let mut headers = HeaderMap::new();
    put(&mut headers, header::CONTENT_TYPE, "text/plain; charset=utf-8");
    let cache = match policy.error_max_age {
        Some(age) => format!("max-age={age}"),
        None => "no-cache".to_string(),
    };
    put(&mut headers, header::CACHE_CONTROL, &cache);
    common_headers(&mut headers, policy, facts);
    let mut response = Response::new(Body::from(format!("{}\n", failure.public_message())));
    *response.status_mut() = failure.status();
    *response.headers_mut() = headers;
    response
}

fn common_headers(headers: &mut HeaderMap, policy: &ResponsePolicy, facts: &RequestFacts) {
    let csp = policy.csp_override.as_deref().unwrap_or(policy.content_security_policy);
    put(headers, header::CONTENT_SECURITY_POLICY, csp);
    if let Some(origin) = &policy.allow_origin {
        put(headers, header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    }
    if let Some(methods) = &policy.allow_methods {
        put(headers, header::ACCESS_CONTROL_ALLOW_METHODS, methods);
    }
    if let Some(allowed) = &policy.allow_headers {
        put(headers, header::ACCESS_CONTROL_ALLOW_HEADERS, allowed);
    }
    if policy.vary_accept {
        put(headers, header::VARY, "Accept");
    }
    put(headers, HeaderName::from_static("x-request-id"), &facts.request_id);
}

/// `Cache-Control` for a success (SPEC §2 "Responses"): passthrough when asked and available, else the
/// policy's TTL, capped by `expires`.
fn cache_control(policy: &ResponsePolicy, fetched: &Fetched, now_unix: i64) -> String {
    if policy.cache_control_passthrough {
        if let Some(value) = &fetched.cache_control {
            return value.clone();
        }
        // As imgproxy: a source `Expires` becomes the max-age left until it.
        if let Some(at) = fetched.expires.as_deref().and_then(expires_unix) {
            let left = at - now_unix;
            return if left > 0 { format!("max-age={left}, public") } else { "no-cache".to_string() };
        }
    }
    let ttl = match policy.cache {
        CacheRule::Immutable => return "max-age=31536000, immutable".to_string(),
        CacheRule::Ttl(ttl) => i64::from(ttl),
    };
    let ttl = match policy.expires_at {
        Some(at) => ttl.min((at - now_unix).max(0)),
        None => ttl,
    };
    if ttl <= 0 {
        "no-cache".to_string()
    } else {
        format!("max-age={ttl}, public")
    }
}

/// An `Expires` header as unix seconds; an unparsable one (`0`, `-1`) is already expired, as RFC 9111
/// §5.3 says.
fn expires_unix(value: &str) -> Option<i64> {
    use aws_sdk_s3::primitives::{DateTime, DateTimeFormat};
    Some(DateTime::from_str(value.trim(), DateTimeFormat::HttpDate).map(|t| t.secs()).unwrap_or(0))
}

/// `inline|attachment; filename="{stem}.{ext}"` with the stem from `filename` or the source path.
fn content_disposition(policy: &ResponsePolicy, source_stem: &str, format: ImageFormat) -> String {
    let stem = policy.filename.as_deref().unwrap_or(source_stem);
    let kind = if policy.attachment { "attachment" } else { "inline" };
    let name = format!("{stem}.{}", format.extension());
    format!("{kind}; filename=\"{}\"", sanitise_filename(&name))
}

/// Escapes `"` and `\` and drops control and non-ASCII characters, so the header is always valid.
fn sanitise_filename(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_ascii() && !c.is_ascii_control() => out.push(c),
            _ => out.push('_'),
        }
    }
    out
}

/// What an upstream said about a streamed body (Misskey audio/video pass-through, SPEC §3).
#[derive(Clone, Debug, Default)]
pub struct StreamHead {
    /// 200 or 206, as upstream answered.
    pub status: u16,
    /// The sniffed type.
    pub mime: &'static str,
    /// The extension for the download name.
    pub ext: &'static str,
    /// Upstream `Content-Length`.
    pub content_length: Option<u64>,
    /// Upstream `Content-Range` (206 only).
    pub content_range: Option<String>,
    /// Upstream `Accept-Ranges`.
    pub accept_ranges: Option<String>,
}

/// Renders a streamed pass-through body: the upstream status and range headers, the policy's caching.
pub fn render_stream(policy: &ResponsePolicy, head: &StreamHead, body: Body, facts: &RequestFacts) -> Response<Body> {
    let mut headers = HeaderMap::new();
    put(&mut headers, header::CONTENT_TYPE, head.mime);
    put(&mut headers, header::CACHE_CONTROL, &cache_control(policy, &Fetched::default(), facts.now_unix));
    let name = policy.download_name.as_deref().unwrap_or("unnamed");
    put(&mut headers, header::CONTENT_DISPOSITION, &misskey_disposition(name, head.ext));
    if let Some(len) = head.content_length {
        put(&mut headers, header::CONTENT_LENGTH, &len.to_string());
    }
    if let Some(range) = &head.content_range {
        put(&mut headers, header::CONTENT_RANGE, range);
    }
    if let Some(ranges) = &head.accept_ranges {
        put(&mut headers, header::ACCEPT_RANGES, ranges);
    }
    common_headers(&mut headers, policy, facts);
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::from_u16(head.status).unwrap_or(StatusCode::OK);
    *response.headers_mut() = headers;
    response
}

/// Renders the built-in placeholder for `fallback` (SPEC §3): 200, PNG, the error caching (`max-age=300`).
pub fn render_placeholder(policy: &ResponsePolicy, png: &'static [u8], facts: &RequestFacts) -> Response<Body> {
    let mut headers = HeaderMap::new();
    put(&mut headers, header::CONTENT_TYPE, ImageFormat::Png.mime());
    let age = policy.error_max_age.unwrap_or(300);
    put(&mut headers, header::CACHE_CONTROL, &format!("max-age={age}"));
    put(&mut headers, header::CONTENT_DISPOSITION, "inline; filename=\"dummy.png\"");
    common_headers(&mut headers, policy, facts);
    let mut response = Response::new(Body::from(png));
    *response.headers_mut() = headers;
    response
}

/// A CORS preflight answer (204) with the policy's CORS headers.
pub fn render_preflight(policy: &ResponsePolicy) -> Response<Body> {
    let mut headers = HeaderMap::new();
    if let Some(origin) = &policy.allow_origin {
        put(&mut headers, header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    }
    if let Some(methods) = &policy.allow_methods {
        put(&mut headers, header::ACCESS_CONTROL_ALLOW_METHODS, methods);
    }
    if let Some(allowed) = &policy.allow_headers {
        put(&mut headers, header::ACCESS_CONTROL_ALLOW_HEADERS, allowed);
    }
    put(&mut headers, header::ACCESS_CONTROL_MAX_AGE, "86400");
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    *response.headers_mut() = headers;
    response
}

/// media-proxy's `Content-Disposition`: `inline`, the name with its extension corrected, characters
/// unsafe in a quoted string replaced by `_`, and RFC 5987 `filename*` when the name is not ASCII.
pub fn misskey_disposition(name: &str, ext: &str) -> String {
    let full = crate::misskey::correct_filename(name, ext);
    let ascii: String =
        full.chars().map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' { c } else { '_' }).collect();
    if full.is_ascii() && ascii == full {
        return format!("inline; filename=\"{ascii}\"");
    }
    let encoded = percent_encoding::utf8_percent_encode(&full, RFC5987_UNSAFE);
    format!("inline; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// RFC 5987 `attr-char` is ALPHA / DIGIT / "!#$&+-.^_`|~"; everything else is escaped.
const RFC5987_UNSAFE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

fn debug_headers(headers: &mut HeaderMap, output: &Output, fetched: &Fetched) {
    let pairs = [
        ("x-origin-content-length", fetched.bytes.len().to_string()),
        ("x-origin-width", output.source.width.to_string()),
        ("x-origin-height", output.source.height.to_string()),
        ("x-result-width", output.width.to_string()),
        ("x-result-height", output.height.to_string()),
    ];
    for (name, value) in pairs {
        put(headers, HeaderName::from_static(name), &value);
    }
}

/// The timing debug header (`IMGPROXY_ENABLE_DEBUG_HEADERS`): the standard `Server-Timing`, in
/// milliseconds, which browsers' developer tools show beside the request.
pub fn timing_headers(
    headers: &mut HeaderMap,
    queue: std::time::Duration,
    download: std::time::Duration,
    processing: std::time::Duration,
    total: std::time::Duration,
) {
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    let value = format!(
        "queue;dur={:.1}, download;dur={:.1}, processing;dur={:.1}, total;dur={:.1}",
        ms(queue),
        ms(download),
        ms(processing),
        ms(total)
    );
    put(headers, HeaderName::from_static("server-timing"), &value);
}

fn put(headers: &mut HeaderMap, name: HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fetched() -> Fetched {
        Fetched::default()
    }

    #[test]
    fn statuses_follow_the_spec_table() {
        let rows: Vec<(Failure, u16)> = vec![
            (ParseError::SignatureMismatch.into(), 403),
            (ParseError::SecurityOptionNotAllowed("msr".into()).into(), 403),
            (ParseError::UnknownOption("x".into()).into(), 404),
            (ParseError::Expired.into(), 404),
            (SourceError::BlockedAddress("127.0.0.1".into()).into(), 404),
            (SourceError::TooManyRedirects.into(), 404),
            (SourceError::UpstreamStatus(410).into(), 410),
            (SourceError::UpstreamStatus(503).into(), 502),
            (SourceError::UpstreamStatus(304).into(), 404),
            (SourceError::Timeout.into(), 504),
            (SourceError::TooLarge { limit: 1 }.into(), 422),
            (PipelineError::UnknownFormat.into(), 422),
            (PipelineError::ResolutionTooBig("x".into()).into(), 422),
            (PipelineError::Timeout.into(), 503),
            (Failure::Timeout, 503),
            (QueueFull.into(), 429),
            (BudgetError::TooLarge { need: 2, budget: 1 }.into(), 503),
            (BudgetError::Busy.into(), 503),
        ];
        for (failure, status) in rows {
            assert_eq!(failure.status().as_u16(), status, "{failure:?}");
        }
    }

    #[test]
    fn blocked_address_is_not_echoed_to_clients() {
        let failure: Failure = SourceError::BlockedAddress("10.1.2.3".into()).into();
        assert!(!failure.public_message().contains("10.1.2.3"));
    }

    #[test]
    fn cache_control_ttl_zero_and_expires_cap() {
        let mut policy = ResponsePolicy { cache: CacheRule::Ttl(3600), ..ResponsePolicy::default() };
        assert_eq!(cache_control(&policy, &fetched(), 0), "max-age=3600, public");
        policy.expires_at = Some(100);
        assert_eq!(cache_control(&policy, &fetched(), 40), "max-age=60, public");
        policy.cache = CacheRule::Ttl(0);
        assert_eq!(cache_control(&policy, &fetched(), 40), "no-cache");
        policy.cache_control_passthrough = true;
        let f = Fetched { cache_control: Some("max-age=5".into()), ..fetched() };
        assert_eq!(cache_control(&policy, &f, 40), "max-age=5");
    }

    #[test]
    fn passthrough_converts_source_expires_to_max_age() {
        let policy = ResponsePolicy { cache_control_passthrough: true, ..ResponsePolicy::default() };
        let now = 1_445_412_480; // Wed, 21 Oct 2015 07:28:00 GMT
        let rows = [
            ("an hour ahead", "Wed, 21 Oct 2015 08:28:00 GMT", "max-age=3600, public"),
            ("in the past", "Wed, 21 Oct 2015 06:28:00 GMT", "no-cache"),
            ("unparsable is expired", "0", "no-cache"),
        ];
        for (name, expires, want) in rows {
            let f = Fetched { expires: Some(expires.into()), ..fetched() };
            assert_eq!(cache_control(&policy, &f, now), want, "{name}");
        }
        let both = Fetched { cache_control: Some("max-age=9".into()), expires: Some("0".into()), ..fetched() };
        assert_eq!(cache_control(&policy, &both, now), "max-age=9", "Cache-Control wins over Expires");
    }

    #[test]
    fn misskey_disposition_rows() {
        let rows = [
            ("converted name gets the extension", "photo.png", "webp", "inline; filename=\"photo.png.webp\""),
            ("right extension kept", "clip.mp4", "mp4", "inline; filename=\"clip.mp4\""),
            ("quotes replaced", "a\"b.png", "png", "inline; filename=\"a_b.png\"; filename*=UTF-8''a%22b.png"),
            ("non-ascii gets filename*", "猫.png", "png", "inline; filename=\"_.png\"; filename*=UTF-8''%E7%8C%AB.png"),
            ("control characters replaced", "a\nb", "gif", "inline; filename=\"a_b.gif\"; filename*=UTF-8''a%0Ab.gif"),
        ];
        for (name, input, ext, want) in rows {
            assert_eq!(misskey_disposition(input, ext), want, "{name}");
        }
    }

    #[test]
    fn misskey_statuses() {
        let rows: Vec<(Failure, u16)> = vec![
            (MisskeyError::MissingUrl.into(), 400),
            (MisskeyError::RepeatedUrl.into(), 400),
            (MisskeyError::RejectedType.into(), 403),
            (MisskeyError::Recursive.into(), 403),
            (MisskeyError::NotConvertible.into(), 404),
            (PipelineError::NearlyUniform.into(), 404),
        ];
        for (failure, status) in rows {
            assert_eq!(failure.status().as_u16(), status, "{failure:?}");
        }
    }

    #[test]
    fn disposition_uses_filename_and_result_extension() {
        let mut policy = ResponsePolicy::default();
        assert_eq!(content_disposition(&policy, "photo", ImageFormat::Webp), "inline; filename=\"photo.webp\"");
        policy.filename = Some("my \"best\"".into());
        policy.attachment = true;
        assert_eq!(
            content_disposition(&policy, "photo", ImageFormat::Jpeg),
            "attachment; filename=\"my \\\"best\\\".jpg\""
        );
    }
}
