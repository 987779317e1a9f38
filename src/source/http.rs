//! `http://` and `https://` sources: one reqwest client (rustls, no proxy) whose every connection is
//! checked by the address guard (SPEC §4).
//!
//! Names are resolved by our own resolver, which refuses the whole lookup when any address is refused,
//! so reqwest connects only to checked addresses and DNS cannot change its answer between check and
//! connect. Literal IP hosts skip resolvers, so they are checked before the first request (by
//! `Sources::check_allowed`) and in the redirect policy, which also counts hops and refuses non-HTTP
//! targets. Bodies are streamed with a byte cap and one deadline covers connect, headers and body.
//! Knows nothing of dialects or pixels; hands back raw bytes (never decompressed) and header values.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::redirect::{Attempt, Policy};
use url::Url;

use super::guard::{AddrClass, Guard};
use super::{Conditional, FetchOutcome, Fetched, SourceError};
use crate::config::SourceConfig;

/// A fixed name → addresses table that replaces DNS (tests use it to give names to 127.0.0.x).
pub type HostMap = HashMap<String, Vec<IpAddr>>;

/// Fetches HTTP(S) sources.
#[derive(Clone, Debug)]
pub struct HttpFetcher {
    client: reqwest::Client,
    timeout: Duration,
}

impl HttpFetcher {
    /// Builds the client once; `hosts` replaces DNS when given (the guard still applies to it).
    pub fn new(config: &SourceConfig, guard: Arc<Guard>, hosts: Option<HostMap>) -> Result<HttpFetcher, String> {
        let mut headers = HeaderMap::new();
        // We count raw bytes against the size limit, so the body must arrive as stored (SPEC §4).
        headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("identity"));
        let resolver = GuardedResolver { guard: guard.clone(), hosts: hosts.map(Arc::new) };
        let client = reqwest::Client::builder()
            .no_proxy()
            .user_agent(config.user_agent.as_str())
            .default_headers(headers)
            .dns_resolver(Arc::new(resolver))
            .redirect(redirect_policy(guard, config.max_redirects))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {}", chain(&e)))?;
        Ok(HttpFetcher { client, timeout: config.download_timeout })
    }

    /// Downloads `url` whole, within the download timeout and `max_bytes` (0 = unlimited).
    pub async fn fetch(&self, url: &Url, max_bytes: u64) -> Result<Fetched, SourceError> {
        match self.fetch_conditional(url, max_bytes, &Conditional::default()).await? {
            FetchOutcome::Fetched(fetched) => Ok(fetched),
            FetchOutcome::NotModified => Err(SourceError::UpstreamStatus(304)),
        }
    }

    /// As [`HttpFetcher::fetch`], sending the validators in `conditional`; a 304 is
    /// [`FetchOutcome::NotModified`], not an error.
    pub async fn fetch_conditional(
        &self,
        url: &Url,
        max_bytes: u64,
        conditional: &Conditional,
    ) -> Result<FetchOutcome, SourceError> {
        // One deadline for connect + headers + body, as imgproxy's IMGPROXY_DOWNLOAD_TIMEOUT.
        let work = self.fetch_within(url, max_bytes, conditional);
        tokio::time::timeout(self.timeout, work).await.unwrap_or(Err(SourceError::Timeout))
    }

    async fn fetch_within(&self, url: &Url, max_bytes: u64, cond: &Conditional) -> Result<FetchOutcome, SourceError> {
        let mut request = self.client.get(url.clone());
        if let Some(etag) = &cond.if_none_match {
            request = request.header(header::IF_NONE_MATCH, etag);
        }
        if let Some(since) = &cond.if_modified_since {
            request = request.header(header::IF_MODIFIED_SINCE, since);
        }
        let response = request.send().await.map_err(map_error)?;
        let status = response.status();
        let conditional = cond.if_none_match.is_some() || cond.if_modified_since.is_some();
        if status == reqwest::StatusCode::NOT_MODIFIED && conditional {
            return Ok(FetchOutcome::NotModified);
        }
        if !status.is_success() {
            return Err(status_error(&response));
        }
        // Refuse at once when the server announces too much: no body byte is read.
        let announced = response.content_length();
        if max_bytes > 0 && announced.is_some_and(|len| len > max_bytes) {
            return Err(SourceError::TooLarge { limit: max_bytes });
        }
        let mut fetched = metadata(response.headers());
        fetched.bytes = read_capped(response, announced, max_bytes).await?.freeze();
        Ok(FetchOutcome::Fetched(fetched))
    }
}

/// An upstream answer whose body is read as it arrives: the Misskey dialect sniffs the first bytes, then
/// either buffers the rest (images) or streams it to the client (audio/video pass-through, SPEC §3).
#[derive(Debug)]
pub struct Opened {
    /// 200 or 206.
    pub status: u16,
    /// Caching and naming headers (body empty).
    pub meta: Fetched,
    /// Upstream `Content-Length`.
    pub content_length: Option<u64>,
    /// Upstream `Content-Range`.
    pub content_range: Option<String>,
    /// Upstream `Accept-Ranges`.
    pub accept_ranges: Option<String>,
    response: reqwest::Response,
}

impl Opened {
    /// The next piece of the body; `None` at the end.
    pub async fn chunk(&mut self) -> Result<Option<bytes::Bytes>, SourceError> {
        self.response.chunk().await.map_err(map_error)
    }

    /// Appends the next piece of the body to `buf`, refusing to go past `max` bytes in all (0 = no
    /// limit); `false` at the end of the body.
    pub async fn read_more(&mut self, buf: &mut BytesMut, max: u64) -> Result<bool, SourceError> {
        let Some(chunk) = self.chunk().await? else { return Ok(false) };
        push_capped(buf, &chunk, max)?;
        Ok(true)
    }

    /// `head` (already read) and the rest of the body, at most `max` bytes in all, with the upstream headers.
    pub async fn read_rest(mut self, head: Bytes, max: u64) -> Result<Fetched, SourceError> {
        let mut body = BytesMut::from(head.as_ref());
        while self.read_more(&mut body, max).await? {}
        Ok(Fetched { bytes: body.freeze(), ..self.meta })
    }

    /// `head`, then the rest as it arrives; past `max` bytes (0 = no limit) the stream ends in an error,
    /// which aborts a response rather than truncating it silently.
    pub fn into_capped_stream(
        self,
        head: Bytes,
        max: u64,
    ) -> impl futures_util::Stream<Item = Result<Bytes, SourceError>> + Send {
        use futures_util::StreamExt;
        let mut seen = 0u64;
        let first = futures_util::stream::iter((!head.is_empty()).then_some(Ok(head)));
        first.chain(self.into_stream()).map(move |chunk| {
            let chunk = chunk?;
            seen = seen.saturating_add(chunk.len() as u64);
            if max > 0 && seen > max {
                return Err(SourceError::TooLarge { limit: max });
            }
            Ok(chunk)
        })
    }

    /// The rest of the body as a stream, for responses that are passed through unbuffered.
    pub fn into_stream(self) -> impl futures_util::Stream<Item = Result<bytes::Bytes, SourceError>> + Send {
        futures_util::stream::unfold(self.response, |mut response| async move {
            match response.chunk().await {
                Ok(Some(chunk)) => Some((Ok(chunk), response)),
                Ok(None) => None,
                Err(e) => Some((Err(map_error(e)), response)),
            }
        })
    }
}

impl HttpFetcher {
    /// Sends the request and waits for the answer's head within the download timeout; the body is left
    /// unread. `extra` headers (a `Range`, a dialect's `User-Agent`) replace the client defaults. Every hop
    /// is address-checked exactly as in [`HttpFetcher::fetch`].
    pub async fn open(&self, url: &Url, extra: &[(header::HeaderName, String)]) -> Result<Opened, SourceError> {
        let mut request = self.client.get(url.clone());
        for (name, value) in extra {
            let value = HeaderValue::from_str(value).map_err(|e| SourceError::Connect(e.to_string()))?;
            request = request.header(name.clone(), value);
        }
        let response = match tokio::time::timeout(self.timeout, request.send()).await {
            Ok(sent) => sent.map_err(map_error)?,
            Err(_) => return Err(SourceError::Timeout),
        };
        let status = response.status();
        if !status.is_success() {
            return Err(status_error(&response));
        }
        let get = |name| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        Ok(Opened {
            status: status.as_u16(),
            meta: metadata(response.headers()),
            content_length: response.content_length(),
            content_range: get(header::CONTENT_RANGE),
            accept_ranges: get(header::ACCEPT_RANGES),
            response,
        })
    }
}

/// A non-2xx answer. A 3xx here is a redirect the client would not follow: reqwest hands back
/// redirects to non-HTTP targets (`file:`, `ftp:`) unfollowed, and those are a refused scheme.
fn status_error(response: &reqwest::Response) -> SourceError {
    let status = response.status();
    let target = response.headers().get(header::LOCATION).and_then(|v| v.to_str().ok());
    let scheme = target.and_then(|loc| response.url().join(loc).ok()).map(|url| url.scheme().to_string());
    match scheme {
        Some(scheme) if status.is_redirection() && scheme != "http" && scheme != "https" => {
            SourceError::SchemeDisabled(scheme)
        }
        _ => SourceError::UpstreamStatus(status.as_u16()),
    }
}

/// Streams the body, failing as soon as the count passes `max_bytes`. Dropping the response then
/// closes the connection, so the rest of the body is never downloaded.
async fn read_capped(
    mut response: reqwest::Response,
    announced: Option<u64>,
    max_bytes: u64,
) -> Result<BytesMut, SourceError> {
    // Trust Content-Length only as a capacity hint, and never beyond the cap or 16 MiB.
    let ceiling = if max_bytes == 0 { 16 << 20 } else { max_bytes.min(16 << 20) };
    let capacity = usize::try_from(announced.unwrap_or(0).min(ceiling)).unwrap_or(0);
    let mut body = BytesMut::with_capacity(capacity);
    while let Some(chunk) = response.chunk().await.map_err(map_error)? {
        push_capped(&mut body, &chunk, max_bytes)?;
    }
    Ok(body)
}

/// Appends `chunk` unless the body would then exceed `max` bytes (0 = no limit).
fn push_capped(body: &mut BytesMut, chunk: &[u8], max: u64) -> Result<(), SourceError> {
    let total = (body.len() as u64).saturating_add(chunk.len() as u64);
    if max > 0 && total > max {
        return Err(SourceError::TooLarge { limit: max });
    }
    body.extend_from_slice(chunk);
    Ok(())
}

/// Copies the caching and naming headers the response layer may pass on.
fn metadata(headers: &HeaderMap) -> Fetched {
    let get = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    Fetched {
        bytes: bytes::Bytes::new(),
        content_type: get(header::CONTENT_TYPE),
        etag: get(header::ETAG),
        last_modified: get(header::LAST_MODIFIED),
        cache_control: get(header::CACHE_CONTROL),
        expires: get(header::EXPIRES),
        content_disposition: get(header::CONTENT_DISPOSITION),
    }
}

/// The IP address of a URL whose host is a literal (these never reach a resolver).
pub fn literal_ip(url: &Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        url::Host::Domain(_) => None,
    }
}

/// A refused address, carried through reqwest's error chain so it maps to `BlockedAddress`.
#[derive(Debug)]
pub struct Blocked {
    /// The address that was refused.
    pub addr: IpAddr,
    /// Its class.
    pub class: AddrClass,
}

impl fmt::Display for Blocked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} is a {} address", self.addr, self.class)
    }
}

impl std::error::Error for Blocked {}

/// The redirect limit was passed.
#[derive(Debug, thiserror::Error)]
#[error("too many redirects")]
struct RedirectLimit;

/// A redirect to something other than http(s).
#[derive(Debug, thiserror::Error)]
#[error("redirect to a {0}: URL")]
struct RedirectScheme(String);

/// A name missing from the fixed host table (tests never fall back to real DNS).
#[derive(Debug, thiserror::Error)]
#[error("{0} is not in the fixed host table")]
struct UnknownHost(String);

/// Resolves with tokio (or the fixed table) and refuses the lookup if any address is refused.
struct GuardedResolver {
    guard: Arc<Guard>,
    hosts: Option<Arc<HostMap>>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = self.guard.clone();
        let hosts = self.hosts.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = match hosts {
                Some(map) => {
                    let ips = map.get(&host).ok_or_else(|| UnknownHost(host.clone()))?;
                    ips.iter().map(|ip| SocketAddr::new(*ip, 0)).collect()
                }
                None => tokio::net::lookup_host((host.as_str(), 0)).await?.collect(),
            };
            // Refuse if any answer is refused: a name that mixes public and private answers is an
            // attack, and reqwest would otherwise be free to pick the private one.
            for addr in &addrs {
                guard.check(addr.ip()).map_err(|class| Blocked { addr: addr.ip(), class })?;
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// Follows at most `max` redirects, only to http(s), and checks literal-IP targets before
/// connecting (named targets are checked by the resolver).
fn redirect_policy(guard: Arc<Guard>, max: usize) -> Policy {
    Policy::custom(move |attempt: Attempt| {
        // `previous` holds every URL fetched so far, so its length is the number of this redirect.
        if attempt.previous().len() > max {
            return attempt.error(RedirectLimit);
        }
        let scheme = attempt.url().scheme().to_string();
        if scheme != "http" && scheme != "https" {
            return attempt.error(RedirectScheme(scheme));
        }
        if let Some(ip) = literal_ip(attempt.url()) {
            if let Err(class) = guard.check(ip) {
                return attempt.error(Blocked { addr: ip, class });
            }
        }
        attempt.follow()
    })
}

/// Maps a reqwest error by the first cause we recognise in its source chain.
fn map_error(e: reqwest::Error) -> SourceError {
    if let Some(blocked) = find_cause::<Blocked>(&e) {
        return SourceError::BlockedAddress(blocked.to_string());
    }
    if find_cause::<RedirectLimit>(&e).is_some() {
        return SourceError::TooManyRedirects;
    }
    if let Some(RedirectScheme(scheme)) = find_cause::<RedirectScheme>(&e) {
        return SourceError::SchemeDisabled(scheme.clone());
    }
    if e.is_timeout() {
        return SourceError::Timeout;
    }
    if e.is_body() || e.is_decode() {
        return SourceError::Read(chain(&e));
    }
    SourceError::Connect(chain(&e))
}

fn find_cause<'a, T: std::error::Error + 'static>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a T> {
    let mut current = Some(e);
    while let Some(err) = current {
        if let Some(found) = err.downcast_ref::<T>() {
            return Some(found);
        }
        current = err.source();
    }
    None
}

/// The error and its causes on one line, for logs (reqwest's own message omits the cause).
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut current = e.source();
    while let Some(cause) = current {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        current = cause.source();
    }
    out
}
