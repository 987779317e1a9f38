//! Why a Misskey request was refused before or around the pipeline. `response.rs` maps each variant to a
//! status; media-proxy's statuses are the contract (SPEC §3).

/// A refused Misskey request.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum MisskeyError {
    /// 400: no `url` parameter and no path-only form.
    #[error("url parameter is missing")]
    MissingUrl,
    /// 400: `url` given more than once (media-proxy gets an array and refuses it).
    #[error("url parameter is repeated")]
    RepeatedUrl,
    /// 400: `url` is not an absolute http(s) URL.
    #[error("url parameter is not a valid http(s) URL")]
    BadUrl,
    /// 403: the request comes from a Misskey server (`MEDIA_PROXY_REJECT_RECURSIVE`).
    #[error("recursive proxy request refused")]
    Recursive,
    /// 403: the source is neither an image nor browser-safe audio/video.
    #[error("rejected type")]
    RejectedType,
    /// 404: a conversion flag on a source that is not a convertible image.
    #[error("unexpected type for conversion")]
    NotConvertible,
}
