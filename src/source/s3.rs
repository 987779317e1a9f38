//! S3 sources (`s3://bucket/key[?versionId]`, SPEC §2 "Sources") through aws-sdk-s3.
//!
//! Owns the S3 client (built lazily on first use, because the standard credential and region chains are
//! async), the ranged header probe that lets the caller refuse a pixel bomb before the full download, the
//! size cap, conditional GETs (`If-None-Match` / `If-Modified-Since` → [`FetchOutcome::NotModified`]) and
//! the mapping of S3 answers to [`SourceError`]: missing object 404, access denied 403, S3 5xx 502,
//! timeout 504. The same client builder serves the result cache (`result_store.rs`). Knows nothing of
//! dialects or pixels: the probe is a closure handed in by the caller. Never logs credentials.

use std::time::Duration;

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::get_object::{GetObjectError, GetObjectOutput};
use aws_sdk_s3::primitives::DateTimeFormat;
use aws_sdk_s3::Client;
use bytes::{Bytes, BytesMut};
use tokio::sync::OnceCell;

use super::{Conditional, FetchOutcome, Fetched, SourceError};
use crate::config::SourceConfig;

/// Bytes fetched first: enough for the header of every format we probe in the common case; when the
/// header lies further in, the probe is inconclusive and the full download decides instead.
pub const PROBE_BYTES: u64 = 64 * 1024;

/// How to reach S3: endpoint override, region and credentials, copied from the configuration.
#[derive(Clone, Debug)]
pub struct S3Settings {
    endpoint: Option<String>,
    region: Option<String>,
    credentials: Option<crate::config::S3Credentials>,
}

impl S3Settings {
    /// The S3 part of the source configuration.
    pub fn from_config(config: &SourceConfig) -> S3Settings {
        S3Settings {
            endpoint: config.s3_endpoint.clone(),
            region: config.s3_region.clone(),
            credentials: config.s3_credentials.clone(),
        }
    }
}

/// An S3 client built on first use and then shared.
pub struct LazyClient {
    settings: S3Settings,
    cell: OnceCell<Client>,
}

impl LazyClient {
    /// Remembers the settings; nothing is resolved until [`LazyClient::get`].
    pub fn new(settings: S3Settings) -> LazyClient {
        LazyClient { settings, cell: OnceCell::new() }
    }

    /// The client, building it once. Explicit region and credentials are set before loading so the
    /// default chains (which may query instance metadata) are consulted only for what is missing.
    pub async fn get(&self) -> &Client {
        self.cell.get_or_init(|| build_client(&self.settings)).await
    }
}

async fn build_client(settings: &S3Settings) -> Client {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = &settings.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(c) = &settings.credentials {
        let creds = Credentials::new(&c.access_key_id, &c.secret_access_key, c.session_token.clone(), None, "env");
        loader = loader.credentials_provider(creds);
    }
    let shared = loader.load().await;
    let mut builder = aws_sdk_s3::config::Builder::from(&shared);
    if let Some(endpoint) = &settings.endpoint {
        // S3-compatible stores (MinIO, R2, s3s) want path-style addressing, as imgproxy's default.
        builder = builder.endpoint_url(endpoint).force_path_style(true);
    }
    Client::from_conf(builder.build())
}

/// Fetches objects for `s3://` sources.
pub struct S3Fetcher {
    client: LazyClient,
    timeout: Duration,
}

/// One object to fetch.
pub struct ObjectRef<'a> {
    /// Bucket.
    pub bucket: &'a str,
    /// Key.
    pub key: &'a str,
    /// Version, when the URL names one.
    pub version_id: Option<&'a str>,
}

impl S3Fetcher {
    /// A fetcher with the configured endpoint, region, credentials and download timeout.
    pub fn new(config: &SourceConfig) -> S3Fetcher {
        S3Fetcher { client: LazyClient::new(S3Settings::from_config(config)), timeout: config.download_timeout }
    }

    /// Downloads the object within the download timeout and `max_bytes` (0 = unlimited). The first
    /// [`PROBE_BYTES`] come from a ranged GET and go through `probe`; the rest is fetched only if it passes.
    pub async fn fetch<E: From<SourceError>>(
        &self,
        object: &ObjectRef<'_>,
        max_bytes: u64,
        conditional: &Conditional,
        probe: impl FnOnce(&[u8]) -> Result<(), E>,
    ) -> Result<FetchOutcome, E> {
        let work = self.fetch_within(object, max_bytes, conditional, probe);
        tokio::time::timeout(self.timeout, work).await.unwrap_or(Err(SourceError::Timeout.into()))
    }

    async fn fetch_within<E: From<SourceError>>(
        &self,
        object: &ObjectRef<'_>,
        max_bytes: u64,
        conditional: &Conditional,
        probe: impl FnOnce(&[u8]) -> Result<(), E>,
    ) -> Result<FetchOutcome, E> {
        let range = format!("bytes=0-{}", PROBE_BYTES - 1);
        let head = match self.get(object, Some(range), conditional).await? {
            Answer::NotModified => return Ok(FetchOutcome::NotModified),
            Answer::Object(output) => output,
        };
        let total = total_size(&head);
        if max_bytes > 0 && total.is_some_and(|t| t > max_bytes) {
            return Err(SourceError::TooLarge { limit: max_bytes }.into());
        }
        let mut fetched = metadata(&head);
        let first = read_capped(*head, max_bytes).await?;
        if total.is_none_or(|t| t <= first.len() as u64) {
            fetched.bytes = first;
            return Ok(FetchOutcome::Fetched(fetched));
        }
        probe(&first)?;
        // Pin the full GET to the version the probe saw, so both halves describe the same bytes.
        let pinned = Conditional { if_match: fetched.etag.clone(), ..Conditional::default() };
        let full = match self.get(object, None, &pinned).await? {
            Answer::Object(output) => output,
            Answer::NotModified => return Err(SourceError::UpstreamStatus(304).into()),
        };
        fetched.bytes = read_capped(*full, max_bytes).await?;
        Ok(FetchOutcome::Fetched(fetched))
    }

    async fn get(
        &self,
        object: &ObjectRef<'_>,
        range: Option<String>,
        cond: &Conditional,
    ) -> Result<Answer, SourceError> {
        let client = self.client.get().await;
        let request = client
            .get_object()
            .bucket(object.bucket)
            .key(object.key)
            .set_version_id(object.version_id.map(str::to_string))
            .set_range(range)
            .set_if_none_match(cond.if_none_match.clone())
            .set_if_match(cond.if_match.clone())
            .set_if_modified_since(cond.if_modified_since.as_deref().and_then(parse_http_date));
        match request.send().await {
            Ok(output) => Ok(Answer::Object(Box::new(output))),
            Err(e) if status_of(&e) == Some(304) => Ok(Answer::NotModified),
            Err(e) => Err(map_error(&e)),
        }
    }
}

enum Answer {
    Object(Box<GetObjectOutput>),
    NotModified,
}

/// The object's full size: from `Content-Range` (`bytes 0-65535/1234567`) for a ranged answer.
fn total_size(output: &GetObjectOutput) -> Option<u64> {
    match output.content_range() {
        Some(range) => range.rsplit('/').next().and_then(|t| t.parse().ok()),
        None => output.content_length().and_then(|l| u64::try_from(l).ok()),
    }
}

fn metadata(output: &GetObjectOutput) -> Fetched {
    Fetched {
        bytes: Bytes::new(),
        content_type: output.content_type().map(str::to_string),
        etag: output.e_tag().map(str::to_string),
        last_modified: output.last_modified().and_then(|t| t.fmt(DateTimeFormat::HttpDate).ok()),
        cache_control: output.cache_control().map(str::to_string),
        expires: output.expires_string().map(str::to_string),
        content_disposition: output.content_disposition().map(str::to_string),
    }
}

/// Streams the body, failing as soon as the count passes `max_bytes`.
async fn read_capped(output: GetObjectOutput, max_bytes: u64) -> Result<Bytes, SourceError> {
    let mut body = output.body;
    let mut out = BytesMut::new();
    while let Some(chunk) = body.try_next().await.map_err(|e| SourceError::Read(e.to_string()))? {
        let total = (out.len() as u64).saturating_add(chunk.len() as u64);
        if max_bytes > 0 && total > max_bytes {
            return Err(SourceError::TooLarge { limit: max_bytes });
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out.freeze())
}

fn parse_http_date(value: &str) -> Option<aws_sdk_s3::primitives::DateTime> {
    aws_sdk_s3::primitives::DateTime::from_str(value.trim(), DateTimeFormat::HttpDate).ok()
}

type GetError = SdkError<GetObjectError, HttpResponse>;

fn status_of(e: &GetError) -> Option<u16> {
    match e {
        SdkError::ServiceError(service) => Some(service.raw().status().as_u16()),
        SdkError::ResponseError(response) => Some(response.raw().status().as_u16()),
        _ => None,
    }
}

/// S3 answers to source errors (SPEC §2 table): the clear cause goes to the log, never a credential.
fn map_error(e: &GetError) -> SourceError {
    match e {
        SdkError::TimeoutError(_) => SourceError::Timeout,
        SdkError::DispatchFailure(d) if d.is_timeout() => SourceError::Timeout,
        SdkError::DispatchFailure(_) => SourceError::Connect("can't reach S3".into()),
        SdkError::ServiceError(service) => {
            let err = service.err();
            if matches!(err, GetObjectError::NoSuchKey(_)) {
                return SourceError::NotFound;
            }
            from_status(service.raw().status().as_u16(), err.code())
        }
        SdkError::ResponseError(r) => from_status(r.raw().status().as_u16(), None),
        _ => SourceError::Read(format!("S3 request failed: {}", aws_sdk_s3::error::DisplayErrorContext(e))),
    }
}

/// Status-based mapping for S3 errors that are not modelled (`AccessDenied`, `NoSuchBucket`, 5xx).
fn from_status(status: u16, code: Option<&str>) -> SourceError {
    match (status, code) {
        (404, _) | (_, Some("NoSuchKey" | "NoSuchBucket" | "NoSuchVersion")) => SourceError::NotFound,
        (400..=499, _) => SourceError::UpstreamStatus(status),
        (500..=599, _) => SourceError::UpstreamStatus(502),
        _ => SourceError::UpstreamStatus(status),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_answers_map_to_the_spec_statuses() {
        let rows = [
            ("missing key by status", 404, None, SourceError::NotFound),
            ("missing bucket by code", 400, Some("NoSuchBucket"), SourceError::NotFound),
            ("bad version id by code", 400, Some("NoSuchVersion"), SourceError::NotFound),
            ("access denied keeps 403", 403, Some("AccessDenied"), SourceError::UpstreamStatus(403)),
            ("signature mismatch keeps 403", 403, Some("SignatureDoesNotMatch"), SourceError::UpstreamStatus(403)),
            ("server error is a bad gateway", 503, Some("SlowDown"), SourceError::UpstreamStatus(502)),
        ];
        for (name, status, code, want) in rows {
            assert_eq!(from_status(status, code), want, "{name}");
        }
    }

    #[test]
    fn http_dates_parse_and_garbage_does_not() {
        assert!(parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").is_some());
        assert!(parse_http_date("yesterday").is_none());
    }
}
