//! Geometry: source size + [`Processing`] → a [`Layout`], in pure arithmetic, without pixels.
//!
//! Everything here works in *oriented* coordinates (after EXIF orientation and `rotate`), as imgproxy's
//! `processing/prepare.go` does; the steps map the pre-resize crop back to the stored orientation
//! themselves (`orient.rs`), which is why crop-before-rotate equals rotate-then-crop. The semantics
//! (resize types, `dpr`, `enlarge`, `min-width`, zoom, gravity offsets, crop, extend, padding, and the
//! Go rounding helpers) follow imgproxy v3's `prepare.go`, `calc_position.go`, `crop.go`, `extend.go`
//! and `padding.go`. This module must not know about decoders, pixel formats or encoders.

use crate::plan::{Gravity, GravityKind, Processing, ResizeType};

use super::PipelineError;

/// A safety cap on the result's pixel count, so an `enlarge`d request cannot allocate gigabytes
/// (imgproxy leans on libvips streaming instead; we hold whole images in memory).
const MAX_RESULT_PIXELS: u64 = 100_000_000;

/// An axis-aligned rectangle in pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rect {
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

/// Placing the image on a larger canvas (extend, extend-to-aspect-ratio and padding, composed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Embed {
    /// Canvas width.
    pub width: u32,
    /// Canvas height.
    pub height: u32,
    /// Where the image's left edge goes.
    pub x: u32,
    /// Where the image's top edge goes.
    pub y: u32,
}

/// What the pixel steps must do, all in oriented coordinates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Layout {
    /// The region of the oriented source that is resized (the whole source when there is no crop).
    pub crop: Rect,
    /// The size `crop` is resized to.
    pub scaled_width: u32,
    /// The size `crop` is resized to.
    pub scaled_height: u32,
    /// The fill crop cut from the scaled image by gravity, if any.
    pub result_crop: Option<Rect>,
    /// The canvas the image is finally placed on, if any.
    pub embed: Option<Embed>,
    /// Result width.
    pub width: u32,
    /// Result height.
    pub height: u32,
    /// The effective device pixel ratio (imgproxy's `dprScale`, lowered when enlarging is not allowed).
    pub dpr_scale: f64,
}

impl Layout {
    /// The shrink-on-load hint: how many source pixels per result pixel on the tighter axis, so a
    /// decoder may load up to this much smaller (JPEG DCT scaling, WebP scaled decode) without ever
    /// having to upscale afterwards.
    pub fn shrink_hint(&self) -> f64 {
        let w = f64::from(self.crop.width) / f64::from(self.scaled_width.max(1));
        let h = f64::from(self.crop.height) / f64::from(self.scaled_height.max(1));
        w.min(h).max(1.0)
    }

    /// True when the resize step has nothing to do.
    pub fn is_identity_resize(&self) -> bool {
        self.scaled_width == self.crop.width && self.scaled_height == self.crop.height
    }
}

/// Computes the layout for an oriented source of `src_width`×`src_height`.
///
/// `vector` sources may be enlarged freely (SPEC §2 "SVG"). `max_result_dimension` (0 = unlimited)
/// scales the whole result (image, extend, padding) down until its longer side fits, as imgproxy's
/// `limitScale` does, rather than failing.
pub fn compute(
    src_width: u32,
    src_height: u32,
    p: &Processing,
    vector: bool,
    max_result_dimension: u32,
) -> Result<Layout, PipelineError> {
    if src_width == 0 || src_height == 0 {
        return Err(PipelineError::Corrupt("image has a zero dimension".into()));
    }
    let crop = pre_crop(src_width, src_height, p);
    let mut scale = calc_scale(crop.width, crop.height, p, vector);
    let mut sizes = calc_sizes(crop.width, crop.height, &scale, p);
    if let Some(limited) = limit_scale(crop.width, crop.height, &scale, &sizes, p, max_result_dimension) {
        sizes = calc_sizes(crop.width, crop.height, &limited, p);
        scale = limited;
    }
    let result_crop = crop_rect(
        sizes.scaled_width,
        sizes.scaled_height,
        sizes.result_crop_width,
        sizes.result_crop_height,
        &p.gravity,
        scale.dpr,
    );
    let (out_w, out_h) = result_crop.map_or((sizes.scaled_width, sizes.scaled_height), |r| (r.width, r.height));
    let embed = canvas(out_w, out_h, &sizes, p, scale.dpr);
    let (width, height) = embed.map_or((out_w, out_h), |e| (e.width, e.height));
    check_result(width, height)?;
    Ok(Layout {
        crop,
        scaled_width: sizes.scaled_width,
        scaled_height: sizes.scaled_height,
        result_crop,
        embed,
        width,
        height,
        dpr_scale: scale.dpr,
    })
}

/// imgproxy `limitScale`: when the result (with extend, extend-to-aspect-ratio and padding) would be
/// larger than `max_dim` on a side, every scale, dpr included, shrinks by `max_dim / longer side`,
/// never below one pixel of the source.
fn limit_scale(width: u32, height: u32, s: &Scale, sizes: &Sizes, p: &Processing, max_dim: u32) -> Option<Scale> {
    if max_dim == 0 {
        return None;
    }
    let mut out_w = min_non_zero(sizes.scaled_width, sizes.result_crop_width);
    let mut out_h = min_non_zero(sizes.scaled_height, sizes.result_crop_height);
    if p.extend.enabled {
        (out_w, out_h) = (out_w.max(sizes.target_width), out_h.max(sizes.target_height));
    } else if p.extend_aspect_ratio.enabled {
        (out_w, out_h) = (out_w.max(sizes.extend_ar_width), out_h.max(sizes.extend_ar_height));
    }
    let pad = |v: u32| clamp_u32(scale_even(i64::from(v), s.dpr) as f64);
    out_w = out_w.saturating_add(pad(p.padding.left)).saturating_add(pad(p.padding.right));
    out_h = out_h.saturating_add(pad(p.padding.top)).saturating_add(pad(p.padding.bottom));
    if out_w <= max_dim && out_h <= max_dim {
        return None;
    }
    let down = f64::from(max_dim) / f64::from(out_w.max(out_h));
    Some(Scale {
        w: (s.w * down).max(1.0 / f64::from(width.max(1))),
        h: (s.h * down).max(1.0 / f64::from(height.max(1))),
        dpr: s.dpr * down,
    })
}

fn check_result(width: u32, height: u32) -> Result<(), PipelineError> {
    if u64::from(width) * u64::from(height) > MAX_RESULT_PIXELS {
        return Err(PipelineError::ResultTooBig(format!("{width}x{height}")));
    }
    Ok(())
}

/// The `crop` option (before resize): sizes ≥1 are pixels, <1 fractions, 0 the full side; placed by its
/// own gravity or the plan's, without `dpr` (as imgproxy `crop.go`: "we crop before scaling").
fn pre_crop(src_w: u32, src_h: u32, p: &Processing) -> Rect {
    let full = Rect { x: 0, y: 0, width: src_w, height: src_h };
    let Some(c) = p.crop else { return full };
    let gravity = c.gravity.unwrap_or(p.gravity);
    let cw = crop_size(src_w, c.width);
    let ch = crop_size(src_h, c.height);
    crop_rect(src_w, src_h, cw, ch, &gravity, 1.0).unwrap_or(full)
}

/// imgproxy's `calcCropSize`.
fn crop_size(orig: u32, crop: f64) -> u32 {
    if crop.is_nan() || crop <= 0.0 {
        0
    } else if crop >= 1.0 {
        clamp_u32(crop.trunc())
    } else {
        scale_int(orig, crop).max(1)
    }
}

/// imgproxy's `cropImage` decision: `None` when the crop keeps the whole image.
fn crop_rect(img_w: u32, img_h: u32, cw: u32, ch: u32, gravity: &Gravity, dpr: f64) -> Option<Rect> {
    if cw == 0 && ch == 0 {
        return None;
    }
    let cw = min_non_zero(cw, img_w);
    let ch = min_non_zero(ch, img_h);
    if cw >= img_w && ch >= img_h {
        return None;
    }
    let (x, y) = position(img_w, img_h, cw, ch, gravity, dpr);
    Some(Rect { x, y, width: cw, height: ch })
}

/// Where an `inner` box goes inside an `outer` one, as imgproxy `calcPosition` (no overflow):
/// compass offsets ≥1 are pixels × `dpr`, smaller ones fractions of the outer size; a focus point is a
/// fraction of the outer size that the inner box is centred on. Smart gravity falls back to the centre.
pub fn position(outer_w: u32, outer_h: u32, inner_w: u32, inner_h: u32, g: &Gravity, dpr: f64) -> (u32, u32) {
    let (ow, oh, iw, ih) = (i64::from(outer_w), i64::from(outer_h), i64::from(inner_w), i64::from(inner_h));
    let (left, top) = if g.kind == GravityKind::FocusPoint {
        (scale_even(ow, g.x) - iw / 2, scale_even(oh, g.y) - ih / 2)
    } else {
        compass_position(ow, oh, iw, ih, g, dpr)
    };
    let clamp = |v: i64, max: i64| v.min(max).max(0);
    (clamp_u32(clamp(left, ow - iw) as f64), clamp_u32(clamp(top, oh - ih) as f64))
}

fn compass_position(ow: i64, oh: i64, iw: i64, ih: i64, g: &Gravity, dpr: f64) -> (i64, i64) {
    let off = |v: f64, side: i64| if v.abs() >= 1.0 { round_even(v * dpr) } else { scale_even(side, v) };
    let (off_x, off_y) = (off(g.x, ow), off(g.y, oh));
    use GravityKind::*;
    let left = match g.kind {
        East | NorthEast | SouthEast => ow - iw - off_x,
        West | NorthWest | SouthWest => off_x,
        _ => shrink_even(ow - iw + 1, 2.0) + off_x,
    };
    let top = match g.kind {
        North | NorthEast | NorthWest => off_y,
        South | SouthEast | SouthWest => oh - ih - off_y,
        _ => shrink_even(oh - ih + 1, 2.0) + off_y,
    };
    (left, top)
}

/// Scale factors and the effective dpr, as imgproxy `calcScale`.
struct Scale {
    w: f64,
    h: f64,
    dpr: f64,
}

fn calc_scale(width: u32, height: u32, p: &Processing, vector: bool) -> Scale {
    let (src_w, src_h) = (f64::from(width), f64::from(height));
    let (mut wshrink, mut hshrink) = fit_shrinks(src_w, src_h, p);
    wshrink /= positive_or_one(p.zoom_x);
    hshrink /= positive_or_one(p.zoom_y);
    let mut dpr = positive_or_one(p.dpr);
    if !p.enlarge && !vector {
        // Without `enlarge` neither the size nor the dpr may upscale (SPEC §2).
        let min_shrink = wshrink.min(hshrink);
        if min_shrink < 1.0 {
            wshrink /= min_shrink;
            hshrink /= min_shrink;
            if !p.extend.enabled {
                dpr /= min_shrink;
            }
        }
        dpr = dpr.min(wshrink.min(hshrink));
    }
    if p.min_width > 0 {
        let min_shrink = src_w / f64::from(p.min_width);
        if min_shrink < wshrink {
            hshrink /= wshrink / min_shrink;
            wshrink = min_shrink;
        }
    }
    if p.min_height > 0 {
        let min_shrink = src_h / f64::from(p.min_height);
        if min_shrink < hshrink {
            wshrink /= hshrink / min_shrink;
            hshrink = min_shrink;
        }
    }
    wshrink = (wshrink / dpr).min(src_w);
    hshrink = (hshrink / dpr).min(src_h);
    Scale { w: 1.0 / wshrink, h: 1.0 / hshrink, dpr }
}

/// The per-axis shrink the resizing type asks for, before zoom, enlarge and dpr.
fn fit_shrinks(src_w: f64, src_h: f64, p: &Processing) -> (f64, f64) {
    let dst_w = if p.width == 0 { src_w } else { f64::from(p.width) };
    let dst_h = if p.height == 0 { src_h } else { f64::from(p.height) };
    let mut wshrink = if dst_w == src_w { 1.0 } else { src_w / dst_w };
    let mut hshrink = if dst_h == src_h { 1.0 } else { src_h / dst_h };
    if wshrink == 1.0 && hshrink == 1.0 {
        return (1.0, 1.0);
    }
    let rt = match p.resize_type {
        // `auto`: fill when source and box share an orientation, fit otherwise.
        ResizeType::Auto if (src_w >= src_h) == (dst_w >= dst_h) => ResizeType::Fill,
        ResizeType::Auto => ResizeType::Fit,
        rt => rt,
    };
    if p.width == 0 && rt != ResizeType::Force {
        wshrink = hshrink;
    } else if p.height == 0 && rt != ResizeType::Force {
        hshrink = wshrink;
    } else if rt == ResizeType::Fit {
        wshrink = wshrink.max(hshrink);
        hshrink = wshrink;
    } else if rt == ResizeType::Fill || rt == ResizeType::FillDown {
        wshrink = wshrink.min(hshrink);
        hshrink = wshrink;
    }
    (wshrink, hshrink)
}

/// imgproxy's `calcSizes`: target, scaled, result-crop and extend-aspect-ratio sizes.
struct Sizes {
    target_width: u32,
    target_height: u32,
    scaled_width: u32,
    scaled_height: u32,
    result_crop_width: u32,
    result_crop_height: u32,
    extend_ar_width: u32,
    extend_ar_height: u32,
}

fn calc_sizes(width: u32, height: u32, s: &Scale, p: &Processing) -> Sizes {
    let target_width = scale_int(p.width, s.dpr * positive_or_one(p.zoom_x));
    let target_height = scale_int(p.height, s.dpr * positive_or_one(p.zoom_y));
    let scaled_width = scale_int(width, s.w).max(1);
    let scaled_height = scale_int(height, s.h).max(1);
    let (mut rcw, mut rch) = (target_width, target_height);
    if p.resize_type == ResizeType::FillDown && !p.enlarge {
        // fill-down never upscales: the box shrinks to the scaled size, keeping its aspect ratio.
        let diff_w = f64::from(target_width) / f64::from(scaled_width);
        let diff_h = f64::from(target_height) / f64::from(scaled_height);
        if diff_w > diff_h && diff_w > 1.0 {
            rch = scale_int(scaled_width, f64::from(target_height) / f64::from(target_width));
            rcw = scaled_width;
        } else if diff_h > diff_w && diff_h > 1.0 {
            rcw = scale_int(scaled_height, f64::from(target_width) / f64::from(target_height));
            rch = scaled_height;
        }
    }
    let (mut eaw, mut eah) = (0, 0);
    if p.extend_aspect_ratio.enabled && target_width > 0 && target_height > 0 {
        let out_w = min_non_zero(scaled_width, rcw);
        let out_h = min_non_zero(scaled_height, rch);
        let diff_w = f64::from(target_width) / f64::from(out_w);
        let diff_h = f64::from(target_height) / f64::from(out_h);
        if diff_h > diff_w {
            (eaw, eah) = (out_w, scale_int(out_w, f64::from(target_height) / f64::from(target_width)));
        } else if diff_w > diff_h {
            (eaw, eah) = (scale_int(out_h, f64::from(target_width) / f64::from(target_height)), out_h);
        }
    }
    Sizes {
        target_width,
        target_height,
        scaled_width,
        scaled_height,
        result_crop_width: rcw,
        result_crop_height: rch,
        extend_ar_width: eaw,
        extend_ar_height: eah,
    }
}

/// Composes extend, extend-to-aspect-ratio and padding into one canvas placement.
fn canvas(img_w: u32, img_h: u32, sizes: &Sizes, p: &Processing, dpr: f64) -> Option<Embed> {
    let mut embed: Option<Embed> = None;
    let mut cur = (img_w, img_h);
    let mut place = |next: Option<Embed>, cur: &mut (u32, u32)| {
        if let Some(n) = next {
            let (x0, y0) = embed.map_or((0, 0), |e| (e.x, e.y));
            embed = Some(Embed { width: n.width, height: n.height, x: x0 + n.x, y: y0 + n.y });
            *cur = (n.width, n.height);
        }
    };
    if p.extend.enabled {
        let g = p.extend.gravity.unwrap_or_default();
        let next = extend_to(cur.0, cur.1, sizes.target_width, sizes.target_height, &g, dpr);
        place(next, &mut cur);
    }
    if p.extend_aspect_ratio.enabled && sizes.extend_ar_width > 0 && sizes.extend_ar_height > 0 {
        let g = p.extend_aspect_ratio.gravity.unwrap_or_default();
        let next = extend_to(cur.0, cur.1, sizes.extend_ar_width, sizes.extend_ar_height, &g, dpr);
        place(next, &mut cur);
    }
    if !p.padding.is_zero() {
        let pad = |v: u32| clamp_u32(round_even(f64::from(v) * dpr) as f64);
        let (top, right, bottom, left) =
            (pad(p.padding.top), pad(p.padding.right), pad(p.padding.bottom), pad(p.padding.left));
        let next = Embed { width: cur.0 + left + right, height: cur.1 + top + bottom, x: left, y: top };
        place(Some(next), &mut cur);
    }
    embed
}

/// imgproxy `extendImage`: grow the canvas to `w`×`h` (0 keeps a side), never shrinking it.
fn extend_to(img_w: u32, img_h: u32, w: u32, h: u32, g: &Gravity, dpr: f64) -> Option<Embed> {
    if w <= img_w && h <= img_h {
        return None;
    }
    let width = w.max(img_w);
    let height = h.max(img_h);
    let (x, y) = position(width, height, img_w, img_h, g, dpr);
    Some(Embed { width, height, x, y })
}

fn positive_or_one(v: f64) -> f64 {
    if v > 0.0 && v.is_finite() {
        v
    } else {
        1.0
    }
}

fn min_non_zero(a: u32, b: u32) -> u32 {
    match (a, b) {
        (0, b) => b,
        (a, 0) => a,
        (a, b) => a.min(b),
    }
}

fn clamp_u32(v: f64) -> u32 {
    // `as` saturates and maps NaN to 0, so this cannot panic on hostile values.
    v as u32
}

/// imgproxy `imath.Scale`: round half away from zero, 0 stays 0.
fn scale_int(a: u32, scale: f64) -> u32 {
    if a == 0 {
        return 0;
    }
    clamp_u32((f64::from(a) * scale).round())
}

/// imgproxy `imath.ScaleToEven` (Go's `math.RoundToEven`).
fn scale_even(a: i64, scale: f64) -> i64 {
    if a == 0 {
        return 0;
    }
    round_even(a as f64 * scale)
}

/// imgproxy `imath.ShrinkToEven`.
fn shrink_even(a: i64, shrink: f64) -> i64 {
    if a == 0 {
        return 0;
    }
    round_even(a as f64 / shrink)
}

/// Go's `math.RoundToEven`, clamped far outside any image size so later sums cannot overflow.
fn round_even(v: f64) -> i64 {
    const LIMIT: f64 = (1u64 << 40) as f64;
    v.round_ties_even().clamp(-LIMIT, LIMIT) as i64
}

#[cfg(test)]
#[path = "geometry_tests.rs"]
mod tests;
