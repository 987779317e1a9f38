//! Why the pixels could not be produced. `response.rs` maps each variant to a status.

/// A failed pipeline run.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PipelineError {
    /// 422: the bytes are not an image format we recognise.
    #[error("unknown image format")]
    UnknownFormat,
    /// 422: a recognised format we cannot decode (e.g. HEIC, 12-bit JPEG).
    #[error("unsupported image: {0}")]
    Unsupported(String),
    /// 422: the decoder failed (truncated, corrupt).
    #[error("can't decode image: {0}")]
    Corrupt(String),
    /// 422: width × height (× frames) exceeds `max_src_resolution`, or a frame limit.
    #[error("source image resolution is too big: {0}")]
    ResolutionTooBig(String),
    /// 422: the result would exceed `max_result_dimension`.
    #[error("result image is too big: {0}")]
    ResultTooBig(String),
    /// 422: the chosen output format cannot be written.
    #[error("can't save as {0}")]
    CannotEncode(String),
    /// 503: the request deadline passed between steps.
    #[error("processing timed out")]
    Timeout,
    /// 404: a Misskey badge source is nearly uniform, so the mask would be empty (as media-proxy).
    #[error("image is too uniform for a badge")]
    NearlyUniform,
}
