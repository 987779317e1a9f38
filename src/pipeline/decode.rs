//! Decode: source bytes → one [`Raster`] (8-bit RGB or RGBA, stored orientation), shrinking on load.
//!
//! Shrink-on-load is where we beat a naive decoder, as libvips' `thumbnail` does: JPEG is decoded by
//! libjpeg-turbo with DCT scaling (1/8, 1/4, 1/2) and WebP by libwebp's scaled decode, never below the
//! size the geometry needs ([`super::geometry::Layout::shrink_hint`]); PNG is decoded row by row and
//! box-shrunk as the rows arrive (`png_stream.rs`). The rare formats (GIF, BMP, ICO, TIFF, interlaced
//! PNG) go through the `image` crate with `image::Limits` bound to the probed size, so a header
//! that lies cannot make it allocate more. Animated sources yield their first frame (SPEC §2
//! "Animation": a later step will keep more). Only one full-size buffer is alive at a time.
//! The request's deadline is a parameter: the AVIF decoder runs in a forked child (`isolated.rs`) that
//! is killed when it passes. This module knows nothing of geometry beyond the hint, nor of output formats.

use std::io::Cursor;
use std::time::Instant;

use libwebp_sys as webp;
use turbojpeg::{Colorspace, Decompressor, PixelFormat, ScalingFactor};

use crate::plan::ImageFormat;

use super::geometry::Rect;
use super::probe::SourceInfo;
use super::raster::Raster;
use super::resize::SourceBox;
use super::PipelineError;

/// Decodes `input`, possibly smaller by up to `shrink_hint` on each axis. A decoder that runs isolated
/// (AVIF) is killed at `deadline` ([`PipelineError::Timeout`]); the others run to the end, and the
/// pipeline checks the deadline between its steps.
pub fn decode(input: &[u8], info: &SourceInfo, shrink_hint: f64, deadline: Instant) -> Result<Raster, PipelineError> {
    match info.probe.format {
        ImageFormat::Jpeg => decode_jpeg(input, info, shrink_hint).map(|r| whole_pixels_only(r, info)),
        ImageFormat::Webp if info.probe.frames > 1 => decode_webp_first_frame(input),
        ImageFormat::Webp => decode_webp(input, info, shrink_hint),
        ImageFormat::Png => super::png_stream::decode(input, info, shrink_hint),
        ImageFormat::Gif => decode_gif_first_frame(input, info),
        ImageFormat::Bmp => decode_with_image(input, info, image::ImageFormat::Bmp),
        ImageFormat::Ico => decode_with_image(input, info, image::ImageFormat::Ico),
        ImageFormat::Tiff => decode_with_image(input, info, image::ImageFormat::Tiff),
        ImageFormat::Avif => super::avif_decode::decode(input, info, deadline),
        f @ (ImageFormat::Heic | ImageFormat::Svg) => {
            Err(PipelineError::Unsupported(format!("no {f} decoder in this build")))
        }
    }
}

/// Bytes of pixels decoding this (still) source for `shrink_hint` holds at its peak, counted as RGBA
/// (the memory budget's unit, issue 7): a JPEG at its DCT scale ([`jpeg_shrink`]), a WebP at its
/// scaled size from 2× on, a PNG as `png_stream` really holds it (box-shrunk rows unless interlaced
/// or small), anything else at full size.
pub fn held_bytes(info: &SourceInfo, shrink_hint: f64) -> u64 {
    let rgba = |w: u64, h: u64| w.saturating_mul(h).saturating_mul(4);
    let (w, h) = (u64::from(info.probe.width), u64::from(info.probe.height));
    match info.probe.format {
        ImageFormat::Jpeg => {
            let s = jpeg_shrink(shrink_hint) as u64;
            rgba(w.div_ceil(s), h.div_ceil(s))
        }
        ImageFormat::Webp if shrink_hint >= 2.0 => {
            let scaled = |side: u64| (side as f64 / shrink_hint).ceil() as u64;
            rgba(scaled(w), scaled(h))
        }
        ImageFormat::Png => super::png_stream::held_bytes(info, shrink_hint),
        _ => rgba(w, h),
    }
}

/// Where the region `r` of the source (stored orientation, `info`'s size) lies on the raster that
/// [`decode`] made of it for `shrink_hint`, `decoded` in size: the one place that knows how each
/// decoder's shrink maps source pixels onto decoded ones. A DCT-scaled JPEG or a scaled WebP is
/// rescaled by decoded / source size, as libvips rescales after its shrink-on-load (the JPEG's partial
/// edge pixels were cut by `whole_pixels_only`); each pixel of a box-shrunk PNG stands for a whole k×k
/// block, so its raster covers ⌈w/k⌉·k source pixels (`png_stream::covered`). Anything decoded at full
/// size maps one to one.
pub fn region_on_decoded(r: Rect, info: &SourceInfo, shrink_hint: f64, decoded: (u32, u32)) -> SourceBox {
    let from = match info.probe.format {
        ImageFormat::Png => super::png_stream::covered(info, shrink_hint, decoded),
        _ => (info.probe.width, info.probe.height),
    };
    SourceBox::rescaled(r, from, decoded)
}

/// libjpeg's scaled size rounds up (2725 px at 1/2 is 1363 px, the last one half a source pixel wide);
/// libvips' `jpegload` keeps only the whole pixels (1362), and imgproxy resizes from there. Resizing from
/// the same size is what keeps fine detail in the same phase as imgproxy's output (`sharp_2725x2225.jpg`
/// at 800 px: SSIM 0.948 → ≥ 0.99 against libvips); the cut is at most one row and column.
fn whole_pixels_only(mut r: Raster, info: &SourceInfo) -> Raster {
    let (full_w, full_h) = (info.probe.width, info.probe.height);
    let shrink = (f64::from(full_w) / f64::from(r.width.max(1))).round().max(1.0) as u32;
    if shrink > 1 && r.width == full_w.div_ceil(shrink) && r.height == full_h.div_ceil(shrink) {
        r.truncate((full_w / shrink).max(1), (full_h / shrink).max(1));
    }
    r
}

/// The JPEG DCT scale: the smallest of 1/8, 1/4, 1/2, 1 whose decoded size still covers the need,
/// as libvips' `thumbnail` shrink-on-load.
pub fn jpeg_shrink(shrink_hint: f64) -> usize {
    [8, 4, 2].into_iter().find(|s| shrink_hint >= *s as f64).unwrap_or(1)
}

fn tj_err(e: turbojpeg::Error) -> PipelineError {
    PipelineError::Corrupt(e.to_string())
}

fn decode_jpeg(input: &[u8], info: &SourceInfo, shrink_hint: f64) -> Result<Raster, PipelineError> {
    let shrink = jpeg_shrink(shrink_hint);
    // Baseline files at 1/4 and 1/8 go through our own scaled decoder, where it measures faster than
    // libjpeg-turbo (at 1/2 slower: docs/BENCHMARKS.md, "Own baseline decoder").
    // Anything it does not take (or finds corrupt) is `None` and falls through to libjpeg-turbo.
    if matches!(shrink, 4 | 8) && !info.progressive {
        if let Some(raster) = super::jpeg_scaled::decode(input, info.probe.width, info.probe.height, shrink) {
            return Ok(raster);
        }
    }
    if shrink == 8 {
        // A 1/8 decode of a progressive file needs only its DC scans (exact; see jpeg_dc.rs). Any failure
        // on the rewritten stream falls back to the original, so the fast path never loses an image.
        if let Some(raster) = super::jpeg_dc::dc_only_stream(input).and_then(|dc| decode_jpeg_at(&dc, info, 8).ok()) {
            return Ok(raster);
        }
    }
    decode_jpeg_at(input, info, shrink)
}

/// Decodes a JPEG with libjpeg-turbo at DCT scale 1/`shrink`.
pub(super) fn decode_jpeg_at(input: &[u8], info: &SourceInfo, shrink: usize) -> Result<Raster, PipelineError> {
    let mut d = Decompressor::new().map_err(tj_err)?;
    let header = d.read_header(input).map_err(tj_err)?;
    if header.width != info.probe.width as usize || header.height != info.probe.height as usize {
        return Err(PipelineError::Corrupt("JPEG frame header disagrees with itself".into()));
    }
    // Progressive files can carry thousands of scans to burn CPU; libjpeg-turbo's advice is to cap them.
    d.set_scan_limit(1000).map_err(tj_err)?;
    let factor = ScalingFactor::new(1, shrink);
    if !header.is_lossless {
        d.set_scaling_factor(factor).map_err(tj_err)?;
    }
    let scaled = header.scaled(d.scaling_factor());
    let cmyk = matches!(header.colorspace, Colorspace::CMYK | Colorspace::YCCK);
    let format = if cmyk { PixelFormat::CMYK } else { PixelFormat::RGB };
    let (w, h) = (scaled.width, scaled.height);
    let mut pixels = vec![0u8; w * h * format.size()];
    let image =
        turbojpeg::Image { pixels: pixels.as_mut_slice(), width: w, pitch: w * format.size(), height: h, format };
    d.decompress(input, image).map_err(tj_err)?;
    if cmyk {
        pixels = super::icc::cmyk_to_rgb(input, &pixels, info.adobe);
    }
    let (width, height) = (u32::try_from(w).map_err(|_| overflow())?, u32::try_from(h).map_err(|_| overflow())?);
    Ok(Raster { width, height, alpha: false, data: pixels })
}

fn overflow() -> PipelineError {
    PipelineError::Corrupt("size out of range".into())
}

fn webp_err(what: &str) -> PipelineError {
    PipelineError::Corrupt(format!("WebP: {what}"))
}

fn decode_webp(input: &[u8], info: &SourceInfo, shrink_hint: f64) -> Result<Raster, PipelineError> {
    let mut config = webp::WebPDecoderConfig::new().map_err(|_| webp_err("decoder init"))?;
    // SAFETY: `input` outlives the call and `config.input` is a valid out-parameter.
    let status = unsafe { webp::WebPGetFeatures(input.as_ptr(), input.len(), &mut config.input) };
    if status != webp::VP8StatusCode::VP8_STATUS_OK {
        return Err(webp_err("bad header"));
    }
    if config.input.has_animation != 0 {
        // An animation with a single frame still needs the animation decoder.
        return decode_webp_first_frame(input);
    }
    let alpha = config.input.has_alpha != 0 || info.has_alpha;
    let (mut w, mut h) = (config.input.width, config.input.height);
    if shrink_hint >= 2.0 {
        // libwebp rescales while decoding; keep at least the size the geometry needs.
        let (sw, sh) = ((f64::from(w) / shrink_hint).ceil(), (f64::from(h) / shrink_hint).ceil());
        (w, h) = ((sw as i32).max(1), (sh as i32).max(1));
        config.options.use_scaling = 1;
        config.options.scaled_width = w;
        config.options.scaled_height = h;
    }
    let channels = if alpha { 4 } else { 3 };
    let (uw, uh) = (usize::try_from(w).map_err(|_| overflow())?, usize::try_from(h).map_err(|_| overflow())?);
    let mut pixels = vec![0u8; uw * uh * channels];
    config.output.colorspace = if alpha { webp::WEBP_CSP_MODE::MODE_RGBA } else { webp::WEBP_CSP_MODE::MODE_RGB };
    config.output.is_external_memory = 1;
    config.output.u.RGBA = webp::WebPRGBABuffer {
        rgba: pixels.as_mut_ptr(),
        stride: i32::try_from(uw * channels).map_err(|_| overflow())?,
        size: pixels.len(),
    };
    // SAFETY: the output buffer is `pixels`, sized for the (scaled) dimensions and stride set above;
    // libwebp writes only inside it and keeps no pointer after returning.
    let status = unsafe { webp::WebPDecode(input.as_ptr(), input.len(), &mut config) };
    if status != webp::VP8StatusCode::VP8_STATUS_OK {
        return Err(webp_err(&format!("{status:?}")));
    }
    Ok(Raster { width: w as u32, height: h as u32, alpha, data: pixels })
}

/// The first frame of an animated WebP, composited on its canvas by libwebp's animation decoder.
fn decode_webp_first_frame(input: &[u8]) -> Result<Raster, PipelineError> {
    let data = webp::WebPData { bytes: input.as_ptr(), size: input.len() };
    let mut opts: webp::WebPAnimDecoderOptions = unsafe { std::mem::zeroed() };
    // SAFETY: `opts` is a plain C struct that the init call fills in.
    if unsafe { webp::WebPAnimDecoderOptionsInit(&mut opts) } == 0 {
        return Err(webp_err("animation decoder init"));
    }
    opts.color_mode = webp::WEBP_CSP_MODE::MODE_RGBA;
    // SAFETY: `data` borrows `input`, which outlives the decoder (deleted below on every path).
    let dec = unsafe { webp::WebPAnimDecoderNew(&data, &opts) };
    if dec.is_null() {
        return Err(webp_err("bad animation"));
    }
    let result = first_anim_frame(dec);
    // SAFETY: `dec` came from WebPAnimDecoderNew and is not used afterwards.
    unsafe { webp::WebPAnimDecoderDelete(dec) };
    result
}

fn first_anim_frame(dec: *mut webp::WebPAnimDecoder) -> Result<Raster, PipelineError> {
    let mut info = webp::WebPAnimInfo::default();
    let mut buf: *mut u8 = std::ptr::null_mut();
    let mut timestamp = 0;
    // SAFETY: `dec` is live; `info`, `buf` and `timestamp` are valid out-parameters.
    let ok = unsafe {
        webp::WebPAnimDecoderGetInfo(dec, &mut info) != 0
            && webp::WebPAnimDecoderGetNext(dec, &mut buf, &mut timestamp) != 0
    };
    if !ok || buf.is_null() {
        return Err(webp_err("bad first frame"));
    }
    let len = info.canvas_width as usize * info.canvas_height as usize * 4;
    // SAFETY: libwebp documents `buf` as canvas_width × canvas_height × 4 bytes, owned by `dec`;
    // we copy it out before the decoder is deleted.
    let data = unsafe { std::slice::from_raw_parts(buf, len) }.to_vec();
    Ok(Raster { width: info.canvas_width, height: info.canvas_height, alpha: true, data })
}

/// How much memory the `image` crate may allocate: the probed size at 16 bits × 4 channels, plus slack.
fn alloc_budget(info: &SourceInfo) -> u64 {
    u64::from(info.probe.width) * u64::from(info.probe.height) * 8 + (16 << 20)
}

/// A GIF as a still (one frame, or the first of an animation), through our own GIF reader: the same
/// compositing, damage rules (a cut frame shows what it holds) and frame cap as animations.
fn decode_gif_first_frame(input: &[u8], info: &SourceInfo) -> Result<Raster, PipelineError> {
    let mut frames = super::gif_frames::GifFrames::new(input, alloc_budget(info))?;
    let (raster, _) = frames.next_frame()?.ok_or_else(|| PipelineError::Corrupt("GIF without frames".into()))?;
    Ok(raster)
}

pub(super) fn decode_with_image(
    input: &[u8],
    info: &SourceInfo,
    format: image::ImageFormat,
) -> Result<Raster, PipelineError> {
    let mut reader = image::ImageReader::with_format(Cursor::new(input), format);
    let mut limits = image::Limits::default();
    if format != image::ImageFormat::Ico {
        // ICO directory sizes are hints (PNG entries carry their own); the allocation cap still holds.
        limits.max_image_width = Some(info.probe.width);
        limits.max_image_height = Some(info.probe.height);
    }
    limits.max_alloc = Some(alloc_budget(info));
    reader.limits(limits);
    let img = reader.decode().map_err(|e| match e {
        image::ImageError::Limits(l) => PipelineError::ResolutionTooBig(l.to_string()),
        image::ImageError::Unsupported(u) => PipelineError::Unsupported(u.to_string()),
        other => PipelineError::Corrupt(other.to_string()),
    })?;
    Ok(from_dynamic(img))
}

fn from_dynamic(img: image::DynamicImage) -> Raster {
    let (width, height) = (img.width(), img.height());
    match img {
        image::DynamicImage::ImageRgb8(b) => Raster { width, height, alpha: false, data: b.into_raw() },
        image::DynamicImage::ImageRgba8(b) => Raster { width, height, alpha: true, data: b.into_raw() },
        other if other.color().has_alpha() => {
            Raster { width, height, alpha: true, data: other.into_rgba8().into_raw() }
        }
        other => Raster { width, height, alpha: false, data: other.into_rgb8().into_raw() },
    }
}

#[cfg(test)]
#[path = "decode_tests.rs"]
mod tests;
