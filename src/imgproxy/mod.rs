//! The imgproxy dialect: turns a request path into a [`Plan`]; no I/O, no pixels.
//!
//! The signature is checked before any option is parsed (as imgproxy `handlers/processing/handler.go`).
//! Options are gathered as typed raw values (later wins, presets expanded) and then compiled into a plan
//! with defaults from [`ImgproxyConfig`]. The clock and the `Accept` header are arguments, so every
//! function here is pure.

pub mod error;

pub use error::ParseError;

use crate::config::ImgproxyConfig;
use crate::plan::{Plan, ResponsePolicy};

/// What the request contributes besides its path: parsers stay pure by taking these as values.
#[derive(Clone, Copy, Debug, Default)]
pub struct RequestContext<'a> {
    /// The `Accept` header, or "" when absent.
    pub accept: &'a str,
    /// Current unix time in seconds, for `expires`.
    pub now_unix: i64,
}

/// Turns `path` (everything after `IMGPROXY_PATH_PREFIX`, starting with `/`, no query string) into a plan.
pub fn parse_request(config: &ImgproxyConfig, path: &str, ctx: &RequestContext<'_>) -> Result<Plan, ParseError> {
    let _ = (config, path, ctx);
    todo!("imgproxy helper")
}

/// The response policy used before a plan exists (errors) and as the base every plan refines.
pub fn base_policy(config: &ImgproxyConfig) -> ResponsePolicy {
    let _ = config;
    todo!("imgproxy helper")
}
