//! The imgproxy dialect: turns a request path into a [`Plan`]; no I/O, no pixels.
//!
//! The signature is checked before any option is parsed (as imgproxy `handlers/processing/handler.go`).
//! Options are gathered as typed raw values (later wins, presets expanded) and then compiled into a plan
//! with defaults from [`ImgproxyConfig`]. The clock and the `Accept` header are arguments, so every
//! function here is pure.
//!
//! Files: `signature.rs` (HMAC), `segments.rs` (option segments, presets, allow-lists), `options.rs`
//! (the option table), `args.rs` (argument grammar), `source_url.rs` (plain/base64 sources),
//! `compile.rs` (raw options + config → plan).

mod args;
mod compile;
pub mod error;
mod options;
mod segments;
pub mod signature;
mod source_url;

pub use error::ParseError;
pub use signature::sign_path;

use crate::config::ImgproxyConfig;
use crate::plan::{Plan, ResponsePolicy};

/// Paths longer than this are refused before any work (SPEC §6 "over-long URLs give 404"); real
/// imgproxy URLs are a few hundred bytes, and 16 KiB leaves room for long signed plain URLs.
pub const MAX_PATH_LEN: usize = 16 * 1024;

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
    if path.len() > MAX_PATH_LEN {
        return Err(ParseError::Malformed(format!("path longer than {MAX_PATH_LEN} bytes")));
    }
    let (signature, signed) = split_signature(path)?;
    signature::verify(&config.signing, config.signature_size, signature, &signed)?;
    let segments: Vec<&str> = signed.get(1..).unwrap_or_default().split('/').collect();
    if segments.first().is_some_and(|first| is_basic_url_format(first)) {
        // imgproxy 3 refuses the 1.x/2.x "basic" format the same way.
        return Err(ParseError::Malformed("the deprecated basic URL format is not supported".into()));
    }
    let (raw, source_segments) = segments::parse_options(config, &segments)?;
    let source = source_url::parse_source(source_segments)?;
    compile::compile(config, raw, source, ctx)
}

/// The response policy used before a plan exists (errors) and as the base every plan refines.
pub fn base_policy(config: &ImgproxyConfig) -> ResponsePolicy {
    compile::base_policy(config)
}

/// Splits `/{signature}/{rest}` into the signature and the signed part (`/{rest}`, leading `/` kept).
/// A collapsed `plain/http:/` is repaired first, as imgproxy `fixPath` does before verifying, so a
/// proxy that merges slashes does not break signed URLs.
fn split_signature(path: &str) -> Result<(&str, String), ParseError> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err(ParseError::Malformed("path must start with /".into()));
    };
    match rest.split_once('/') {
        Some((signature, after)) if !after.is_empty() => Ok((signature, fix_plain_scheme(&format!("/{after}")))),
        _ => Err(ParseError::Malformed("expected /{signature}/{options}/{source}".into())),
    }
}

/// `…/plain/http:/host…` → `…/plain/http://host…` (and `local:/p` → `local:///p`).
fn fix_plain_scheme(signed: &str) -> String {
    match signed.find("/plain/").and_then(|at| signed.split_at_checked(at + "/plain/".len())) {
        Some((head, tail)) => format!("{head}{}", source_url::fix_collapsed_scheme(tail)),
        None => signed.to_string(),
    }
}

/// The first segment of an imgproxy 1.x/2.x basic URL is a resizing type.
fn is_basic_url_format(first: &str) -> bool {
    matches!(first, "fit" | "fill" | "fill-down" | "force" | "auto")
}

#[cfg(test)]
mod tests;
