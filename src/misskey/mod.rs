//! The Misskey media-proxy dialect: a query (`/image.webp?url=…&emoji=1`) → a [`Plan`] (SPEC §3).
//!
//! Owns the routing rule, form-style query parsing, media-proxy's mode precedence and geometry, the
//! download name and the Misskey response policy (immutable caching, CORS, CSP). No I/O and no pixels:
//! what the source turns out to be (image, audio/video, other) is decided by the handler from the bytes,
//! with [`media::sniff`] and `pipeline::probe`. Must not know HTTP headers beyond the policy it returns.

pub mod error;
pub mod media;
mod name;
pub mod placeholder;
mod query;

pub use error::MisskeyError;
pub use name::{correct_filename, download_name};
pub use query::Flags;

use crate::config::Config;
use crate::plan::{
    CacheRule, Dialect, ImageFormat, Limits, OutputRules, Plan, Processing, ResizeType, ResponsePolicy, SourceRef,
};

/// media-proxy's WebP quality for every converted image.
pub const WEBP_QUALITY: u8 = 77;

/// What a request asks for, after media-proxy's precedence (SPEC §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `emoji`: height ≤ 128; `animated` unless `static` was given too.
    Emoji {
        /// Keep every frame.
        animated: bool,
    },
    /// `avatar`: height ≤ 320; `animated` unless `static` was given too.
    Avatar {
        /// Keep every frame.
        animated: bool,
    },
    /// `static`: fit inside 498×422, first frame.
    Static,
    /// `preview`: fit inside 200×200, first frame.
    Preview,
    /// `badge`: 96×96 PNG alpha mask.
    Badge,
    /// No flag: pass the source through (SVG is rasterised to WebP inside 2048×2048).
    Original,
}

impl Mode {
    /// Precedence as media-proxy: emoji > avatar > static > preview > badge > none.
    pub fn from_flags(f: &Flags) -> Mode {
        match f {
            Flags { emoji: true, still, .. } => Mode::Emoji { animated: !still },
            Flags { avatar: true, still, .. } => Mode::Avatar { animated: !still },
            Flags { still: true, .. } => Mode::Static,
            Flags { preview: true, .. } => Mode::Preview,
            Flags { badge: true, .. } => Mode::Badge,
            _ => Mode::Original,
        }
    }

    /// Whether the mode converts the image (a non-image source is then 404, not 403).
    pub fn converts(self) -> bool {
        self != Mode::Original
    }
}

/// One parsed Misskey request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MisskeyRequest {
    /// The source.
    pub url: url::Url,
    /// The mode after precedence.
    pub mode: Mode,
    /// `fallback`: any error becomes the placeholder image.
    pub fallback: bool,
}

/// The routing rule (README "Use with Misskey"): the last path segment is a file name (contains a
/// `.`) and the query has a `url` key, or the path is that single segment alone (path-only form).
pub fn is_misskey_path(path: &str, query: Option<&str>) -> bool {
    let trimmed = path.trim_start_matches('/');
    let last = trimmed.rsplit('/').next().unwrap_or("");
    if !last.contains('.') {
        return false;
    }
    query.is_some_and(query::has_url_key) || !trimmed.contains('/')
}

/// Parses the path and query. Without `url`, a single path segment is `https://{segment}` (media-proxy's
/// `/:url*` route); the segment is percent-decoded.
pub fn parse_request(path: &str, query: Option<&str>) -> Result<MisskeyRequest, MisskeyError> {
    let parsed = query::parse_query(query.unwrap_or(""))?;
    let text = match parsed.url {
        Some(url) => url,
        None => {
            let segment = path.trim_start_matches('/');
            if segment.is_empty() || segment.contains('/') {
                return Err(MisskeyError::MissingUrl);
            }
            let decoded = percent_encoding::percent_decode_str(segment).decode_utf8_lossy();
            format!("https://{decoded}")
        }
    };
    let url = url::Url::parse(&text).map_err(|_| MisskeyError::BadUrl)?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(MisskeyError::BadUrl);
    }
    Ok(MisskeyRequest { url, mode: Mode::from_flags(&parsed.flags), fallback: parsed.flags.fallback })
}

/// The response policy every Misskey response starts from, errors included (SPEC §3 "Headers").
pub fn base_policy(config: &Config) -> ResponsePolicy {
    let m = &config.misskey;
    ResponsePolicy {
        dialect: Dialect::Misskey,
        cache: CacheRule::Immutable,
        error_max_age: Some(300),
        allow_origin: Some(m.allow_origin.clone()),
        allow_methods: Some("GET, OPTIONS".into()),
        allow_headers: Some("*".into()),
        csp_override: Some(m.content_security_policy.clone()),
        ..ResponsePolicy::default()
    }
}

/// Compiles the request into a plan: media-proxy's geometry for the mode, WebP at quality 77, never
/// enlarged, animation looping forever, EXIF orientation applied in every mode.
pub fn compile(config: &Config, request: &MisskeyRequest) -> Plan {
    let (width, height, animated) = match request.mode {
        Mode::Emoji { animated } => (0, 128, animated),
        Mode::Avatar { animated } => (0, 320, animated),
        Mode::Static => (498, 422, false),
        Mode::Preview => (200, 200, false),
        Mode::Badge => (96, 96, false),
        Mode::Original => (2048, 2048, false),
    };
    let badge = request.mode == Mode::Badge;
    // media-proxy's badge is `contain` without `withoutEnlargement`: small sources grow to 96×96.
    let process = Processing {
        resize_type: ResizeType::Fit,
        width,
        height,
        badge,
        enlarge: badge,
        vector_enlarge: false,
        ..Processing::default()
    };
    let output = OutputRules {
        format: Some(if badge { ImageFormat::Png } else { ImageFormat::Webp }),
        preferred_formats: vec![ImageFormat::Webp],
        format_quality: vec![(ImageFormat::Webp, WEBP_QUALITY)],
        default_quality: WEBP_QUALITY,
        quality: WEBP_QUALITY,
        // SVG is never raw: the pipeline rasterises it whatever `raw` says (SPEC §3).
        raw: request.mode == Mode::Original,
        keep_animation: animated,
        loop_count: Some(0),
        ..OutputRules::default()
    };
    let limits = Limits {
        max_src_resolution: config.imgproxy.max_src_resolution,
        max_src_file_size: config.misskey.max_size,
        max_animation_frames: if animated { config.misskey.max_animation_frames } else { 1 },
        max_animation_frame_resolution: config.imgproxy.max_animation_frame_resolution,
        max_result_dimension: 0,
    };
    let response = base_policy(config);
    Plan { source: SourceRef::Http(request.url.clone()), process, output, limits, response }
}

#[cfg(test)]
mod tests;
