//! Why an imgproxy path could not become a plan. `response.rs` maps each variant to a status.

/// A path that cannot be turned into a [`crate::plan::Plan`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    /// 403: the signature does not match any key/salt pair.
    #[error("invalid signature")]
    SignatureMismatch,
    /// 404: the path has too few segments or is otherwise not an imgproxy URL.
    #[error("malformed path: {0}")]
    Malformed(String),
    /// 404: an option name that imgproxy OSS does not have (Pro-only options included).
    #[error("unknown option: {0}")]
    UnknownOption(String),
    /// 404: a known option with a bad or out-of-range argument.
    #[error("invalid {option} arguments: {reason}")]
    InvalidArgument {
        /// The option name as written.
        option: String,
        /// What is wrong.
        reason: String,
    },
    /// 404: the option is not in `IMGPROXY_ALLOWED_PROCESSING_OPTIONS`, or only presets are allowed.
    #[error("forbidden option: {0}")]
    ForbiddenOption(String),
    /// 404: `preset` names a preset that does not exist.
    #[error("unknown preset: {0}")]
    UnknownPreset(String),
    /// 403: a security option used without `IMGPROXY_ALLOW_SECURITY_OPTIONS`.
    #[error("security processing options are not allowed: {0}")]
    SecurityOptionNotAllowed(String),
    /// 404: the `expires` time has passed.
    #[error("expired URL")]
    Expired,
    /// 404: bad base64, bad percent-escape, or a source URL that does not parse.
    #[error("invalid source URL encoding: {0}")]
    BadSourceEncoding(String),
    /// 404: a scheme other than http, https, s3 and local.
    #[error("unsupported source scheme: {0}")]
    UnsupportedScheme(String),
    /// 404: the requested output extension is not a format we know.
    #[error("unknown output format: {0}")]
    UnknownFormat(String),
}
