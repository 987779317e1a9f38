//! Compiles parsed options, configuration and the request context into a [`Plan`] (SPEC §2), the
//! one place where URL values meet configuration defaults.
//!
//! Pure: the clock and the `Accept` header arrive in [`RequestContext`]. After this nothing in the
//! program reads an option string or an `IMGPROXY_*` value for this request again.

use super::options::RawOptions;
use super::source_url::DecodedSource;
use super::{ParseError, RequestContext};
use crate::config::ImgproxyConfig;
use crate::plan::{
    CacheRule, Crop, Dialect, ImageFormat, Limits, OutputRules, Plan, Processing, ResponsePolicy, Watermark,
    WatermarkPosition,
};

/// The response policy every imgproxy response starts from, errors included.
pub fn base_policy(config: &ImgproxyConfig) -> ResponsePolicy {
    ResponsePolicy {
        dialect: Dialect::Imgproxy,
        cache: CacheRule::Ttl(config.ttl),
        error_max_age: None,
        expires_at: None,
        cache_control_passthrough: config.cache_control_passthrough,
        filename: None,
        attachment: false,
        cachebuster: None,
        allow_origin: config.allow_origin.clone(),
        content_security_policy: "script-src 'none'",
        // SPEC §2: `Vary: Accept` whenever the response could depend on it.
        vary_accept: config.auto_webp || config.auto_avif || config.enforce_webp || config.enforce_avif,
        ..ResponsePolicy::default()
    }
}

/// Builds the plan; refuses an expired `exp` and an unknown URL extension.
pub fn compile(
    config: &ImgproxyConfig,
    raw: RawOptions,
    source: DecodedSource,
    ctx: &RequestContext<'_>,
) -> Result<Plan, ParseError> {
    // As imgproxy `applyExpiresOption`: 0 or negative means "never"; a past time is dead.
    let expires_at = raw.expires.filter(|&t| t > 0);
    if expires_at.is_some_and(|t| t < ctx.now_unix) {
        return Err(ParseError::Expired);
    }
    // The URL extension wins over `f:`, except with `raw`, where imgproxy ignores it.
    let url_format = match source.extension.as_deref() {
        Some(ext) if !raw.raw => {
            Some(ImageFormat::from_extension(ext).ok_or_else(|| ParseError::UnknownFormat(ext.to_string()))?)
        }
        _ => None,
    };
    Ok(Plan {
        source: source.source,
        process: processing(config, &raw),
        output: output(config, &raw, url_format.or(raw.format), ctx),
        limits: limits(config, &raw),
        response: response(config, &raw, expires_at),
    })
}

fn processing(config: &ImgproxyConfig, raw: &RawOptions) -> Processing {
    Processing {
        resize_type: raw.resize_type,
        width: raw.width,
        height: raw.height,
        min_width: raw.min_width,
        min_height: raw.min_height,
        zoom_x: raw.zoom_x,
        zoom_y: raw.zoom_y,
        dpr: raw.dpr,
        enlarge: raw.enlarge,
        extend: raw.extend,
        extend_aspect_ratio: raw.extend_aspect_ratio,
        gravity: raw.gravity,
        // `c:0:0` crops nothing; saying so here spares the pipeline a no-op step.
        crop: raw.crop.filter(|c: &Crop| c.width > 0.0 || c.height > 0.0),
        trim: raw.trim,
        padding: raw.padding,
        auto_rotate: raw.auto_rotate.unwrap_or(config.auto_rotate),
        rotate: raw.rotate,
        flip_horizontal: raw.flip_horizontal,
        flip_vertical: raw.flip_vertical,
        background: raw.background,
        blur: raw.blur,
        sharpen: raw.sharpen,
        pixelate: raw.pixelate,
        watermark: watermark(raw, config.watermark_opacity),
        strip_metadata: raw.strip_metadata.unwrap_or(config.strip_metadata),
        keep_copyright: raw.keep_copyright.unwrap_or(config.keep_copyright),
        strip_color_profile: raw.strip_color_profile.unwrap_or(config.strip_color_profile),
        badge: false,
        vector_enlarge: true,
        watermark_image: None,
    }
}

/// Opacity 0 (the default) means no watermark, as imgproxy; the option's opacity is multiplied by
/// `IMGPROXY_WATERMARK_OPACITY` (imgproxy `applyWatermark`).
fn watermark(raw: &RawOptions, base_opacity: f64) -> Option<Watermark> {
    if raw.watermark_opacity <= 0.0 {
        return None;
    }
    let position = if raw.watermark_replicate {
        WatermarkPosition::Replicate
    } else {
        WatermarkPosition::Gravity(raw.watermark_gravity)
    };
    Some(Watermark { opacity: raw.watermark_opacity * base_opacity, position, scale: raw.watermark_scale })
}

fn output(
    config: &ImgproxyConfig,
    raw: &RawOptions,
    format: Option<ImageFormat>,
    ctx: &RequestContext<'_>,
) -> OutputRules {
    // Substring tests, as imgproxy: `*/*` and `image/*` do not count (SPEC §2 "Output format").
    let accepts_webp = ctx.accept.contains("image/webp");
    let accepts_avif = ctx.accept.contains("image/avif");
    let mut skip_processing = config.skip_processing_formats.clone();
    skip_processing.extend(raw.skip_processing.iter().copied());
    let mut format_quality = config.format_quality.clone();
    format_quality.extend(raw.format_quality.iter().copied());
    OutputRules {
        format,
        // As imgproxy `defaultProcessingOptions`: an enforce flag implies the preference too.
        auto_avif: (config.auto_avif || config.enforce_avif) && accepts_avif,
        auto_webp: (config.auto_webp || config.enforce_webp) && accepts_webp,
        enforce_avif: config.enforce_avif && accepts_avif,
        enforce_webp: config.enforce_webp && accepts_webp,
        preferred_formats: config.preferred_formats.clone(),
        skip_processing,
        raw: raw.raw,
        quality: raw.quality,
        format_quality,
        default_quality: config.quality,
        max_bytes: raw.max_bytes,
        jpeg_progressive: config.jpeg_progressive,
        // imgproxy's speed is 0–9 (libvips effort 9 − speed; 9 fastest), rav1e's 0–10 (10 fastest): shifted by
        // one so both scales end at the fastest. rav1e 9 matches libvips' default effort 1 in time (BENCHMARKS.md).
        avif_speed: (config.avif_speed + 1).min(10),
        keep_animation: true,
        loop_count: None,
    }
}

/// Configuration limits, replaced by the security options when the URL set them (they only parse
/// when `IMGPROXY_ALLOW_SECURITY_OPTIONS` is on).
fn limits(config: &ImgproxyConfig, raw: &RawOptions) -> Limits {
    Limits {
        max_src_resolution: raw.max_src_resolution.unwrap_or(config.max_src_resolution),
        max_src_file_size: raw.max_src_file_size.unwrap_or(config.max_src_file_size),
        max_animation_frames: raw.max_animation_frames.unwrap_or(config.max_animation_frames),
        max_animation_frame_resolution: raw
            .max_animation_frame_resolution
            .unwrap_or(config.max_animation_frame_resolution),
        max_result_dimension: raw.max_result_dimension.unwrap_or(config.max_result_dimension),
    }
}

fn response(config: &ImgproxyConfig, raw: &RawOptions, expires_at: Option<i64>) -> ResponsePolicy {
    ResponsePolicy {
        expires_at,
        filename: raw.filename.clone(),
        attachment: raw.return_attachment.unwrap_or(config.return_attachment),
        cachebuster: raw.cachebuster.clone(),
        ..base_policy(config)
    }
}
