//! Why a source could not be fetched. `response.rs` maps each variant to a status (SPEC §2 table).

/// A failed fetch.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SourceError {
    /// 404: the URL does not match `IMGPROXY_ALLOWED_SOURCES`.
    #[error("source is not allowed: {0}")]
    NotAllowed(String),
    /// 404: the host resolves to (or is) an address class that is refused (SPEC §4 "SSRF").
    #[error("source address is not allowed: {0}")]
    BlockedAddress(String),
    /// 404: a scheme this deployment does not serve (e.g. `s3://` without `IMGPROXY_USE_S3`).
    #[error("source scheme is not enabled: {0}")]
    SchemeDisabled(String),
    /// 404: the connection could not be made (DNS failure, refused, TLS).
    #[error("can't connect to source: {0}")]
    Connect(String),
    /// 404: more redirects than `IMGPROXY_MAX_REDIRECTS`.
    #[error("too many redirects")]
    TooManyRedirects,
    /// Same 4xx as the source; 502 for a source 5xx.
    #[error("source answered {0}")]
    UpstreamStatus(u16),
    /// 404: a local file or S3 object that does not exist.
    #[error("source not found")]
    NotFound,
    /// 504: the download did not finish within `IMGPROXY_DOWNLOAD_TIMEOUT`.
    #[error("source download timed out")]
    Timeout,
    /// 422: more bytes than the size limit; the download was aborted at the limit.
    #[error("source is larger than {limit} bytes")]
    TooLarge {
        /// The limit that was hit.
        limit: u64,
    },
    /// 404: the body broke off or the file could not be read.
    #[error("can't read source: {0}")]
    Read(String),
}
