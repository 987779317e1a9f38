//! Sources: fetch the bytes a [`SourceRef`] names, within limits, refusing what must be refused.
//!
//! `http.rs` (reqwest + rustls, SSRF checks at connect time and on every redirect hop, size-capped
//! streaming), `local.rs` (files under a root, no escapes), `guard.rs` (address classification),
//! `allowed.rs` (`IMGPROXY_ALLOWED_SOURCES`), `s3.rs` (`s3://`, aws-sdk-s3, ranged header probe).
//! Knows nothing of dialects or pixels: the S3 header probe is a closure handed in by the caller.

pub mod allowed;
pub mod error;
pub mod guard;
pub mod http;
pub mod local;
pub mod s3;

pub use error::SourceError;

use std::sync::Arc;

use bytes::Bytes;

use self::allowed::AllowedSources;
use self::guard::Guard;
use self::http::{HostMap, HttpFetcher};
use self::local::LocalRoot;
use self::s3::{ObjectRef, S3Fetcher};

use crate::config::SourceConfig;
use crate::plan::SourceRef;

/// The bytes of a source and what its server said about them.
#[derive(Clone, Debug, Default)]
pub struct Fetched {
    /// The whole body, at most the size limit.
    pub bytes: Bytes,
    /// Upstream `Content-Type` (informational only: types are sniffed from bytes).
    pub content_type: Option<String>,
    /// Upstream `ETag`.
    pub etag: Option<String>,
    /// Upstream `Last-Modified`.
    pub last_modified: Option<String>,
    /// Upstream `Cache-Control`.
    pub cache_control: Option<String>,
    /// Upstream `Expires`.
    pub expires: Option<String>,
    /// Upstream `Content-Disposition`.
    pub content_disposition: Option<String>,
}

/// Validators sent upstream so an unchanged source is not downloaded again (SPEC §2 "HTTP caching").
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Conditional {
    /// `If-None-Match`: a source ETag the client's cached copy was made from.
    pub if_none_match: Option<String>,
    /// `If-Modified-Since`, as the client sent it.
    pub if_modified_since: Option<String>,
    /// `If-Match`: pins a second request to the version the first one saw.
    pub if_match: Option<String>,
}

/// The answer to a conditional fetch.
#[derive(Clone, Debug)]
pub enum FetchOutcome {
    /// The source, downloaded.
    Fetched(Fetched),
    /// The source said 304: it has not changed since the validators; nothing was downloaded.
    NotModified,
}

/// Every configured fetcher, built once at start-up and shared.
pub struct Sources {
    allowed: AllowedSources,
    guard: Arc<Guard>,
    http: HttpFetcher,
    local: Option<LocalRoot>,
    s3: Option<S3Fetcher>,
}

impl Sources {
    /// Builds the fetchers; fails only on a setting that cannot work (reported at start-up).
    pub fn new(config: &SourceConfig) -> Result<Sources, String> {
        Sources::build(config, None)
    }

    /// As [`Sources::new`], but names resolve through the fixed `hosts` table instead of DNS, so tests
    /// can point names at 127.0.0.x. The address guard still checks every address the table returns.
    pub fn with_test_resolver(config: &SourceConfig, hosts: HostMap) -> Result<Sources, String> {
        Sources::build(config, Some(hosts))
    }

    fn build(config: &SourceConfig, hosts: Option<HostMap>) -> Result<Sources, String> {
        let guard = Arc::new(Guard::new(config));
        let local = config.local_root.as_deref().map(LocalRoot::new).transpose()?;
        Ok(Sources {
            allowed: AllowedSources::new(&config.allowed_sources),
            http: HttpFetcher::new(config, guard.clone(), hosts)?,
            guard,
            local,
            s3: config.use_s3.then(|| S3Fetcher::new(config)),
        })
    }

    /// Refuses a source before any I/O: allowed-sources list, enabled schemes, literal addresses.
    pub fn check_allowed(&self, source: &SourceRef) -> Result<(), SourceError> {
        let shown = source.to_string();
        if !self.allowed.allows(&shown) {
            return Err(SourceError::NotAllowed(shown));
        }
        match source {
            SourceRef::Http(url) => self.check_http(url),
            SourceRef::S3 { .. } if self.s3.is_none() => Err(SourceError::SchemeDisabled("s3".into())),
            SourceRef::S3 { .. } => Ok(()),
            SourceRef::Local(_) if self.local.is_none() => Err(SourceError::SchemeDisabled("local".into())),
            SourceRef::Local(_) => Ok(()),
        }
    }

    /// Scheme and literal-IP checks for an HTTP(S) URL; named hosts are checked when resolved.
    fn check_http(&self, url: &url::Url) -> Result<(), SourceError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(SourceError::SchemeDisabled(url.scheme().to_string()));
        }
        if url.host().is_none() {
            return Err(SourceError::Connect(format!("{url} has no host")));
        }
        match http::literal_ip(url) {
            Some(ip) => self
                .guard
                .check(ip)
                .map_err(|class| SourceError::BlockedAddress(http::Blocked { addr: ip, class }.to_string())),
            None => Ok(()),
        }
    }

    /// The HTTP fetcher, for dialects that read bodies incrementally (Misskey streaming). Callers must
    /// pass the source through [`Sources::check_allowed`] first.
    pub fn http(&self) -> &HttpFetcher {
        &self.http
    }

    /// Fetches the whole source, aborting past `max_bytes` (0 = unlimited).
    pub async fn fetch(&self, source: &SourceRef, max_bytes: u64) -> Result<Fetched, SourceError> {
        let unconditional = Conditional::default();
        match self.fetch_conditional(source, max_bytes, &unconditional, |_| Ok::<(), SourceError>(())).await? {
            FetchOutcome::Fetched(fetched) => Ok(fetched),
            // Only a validator can produce a 304, and none was sent.
            FetchOutcome::NotModified => Err(SourceError::UpstreamStatus(304)),
        }
    }

    /// Fetches the source, sending `conditional` upstream where the scheme supports it (HTTP, S3), and
    /// running `probe` on the first bytes before the rest is downloaded where it can (S3's ranged GET).
    pub async fn fetch_conditional<E: From<SourceError>>(
        &self,
        source: &SourceRef,
        max_bytes: u64,
        conditional: &Conditional,
        probe: impl FnOnce(&[u8]) -> Result<(), E>,
    ) -> Result<FetchOutcome, E> {
        // Checked again here so no caller can reach the network with a source that was never checked.
        self.check_allowed(source)?;
        let fetched = match (source, &self.local, &self.s3) {
            (SourceRef::Http(url), _, _) => {
                return Ok(self.http.fetch_conditional(url, max_bytes, conditional).await?)
            }
            (SourceRef::Local(path), Some(local), _) => local.fetch(path, max_bytes).await?,
            (SourceRef::S3 { bucket, key, version_id }, _, Some(s3)) => {
                let object = ObjectRef { bucket, key, version_id: version_id.as_deref() };
                return s3.fetch(&object, max_bytes, conditional, probe).await;
            }
            (SourceRef::Local(_), None, _) => return Err(SourceError::SchemeDisabled("local".into()).into()),
            (SourceRef::S3 { .. }, _, None) => return Err(SourceError::SchemeDisabled("s3".into()).into()),
        };
        Ok(FetchOutcome::Fetched(fetched))
    }
}
