//! Filters: `blur`, `sharpen` and `pixelate`, applied after the fill crop (SPEC §2 order).
//!
//! Blur is a true gaussian with imgproxy's sigma (libvips `gaussblur`), done by `libblur`; alpha images
//! are premultiplied around it so transparent pixels keep their colour out of the edges. Sharpen
//! approximates libvips' `sharpen` defaults (imgproxy passes only sigma): an unsharp mask on luminance
//! that ignores tiny differences and limits how far a pixel may brighten or darken. Pixelate averages
//! square blocks, as libvips' shrink-then-zoom does. This module knows nothing of codecs or geometry.

use libblur::{
    gaussian_blur, BlurImage, BlurImageMut, ConvolutionMode, EdgeMode, EdgeMode2D, FastBlurChannels,
    GaussianBlurParams, ThreadingPolicy,
};

use super::raster::Raster;
use super::PipelineError;

/// Gaussian blur with standard deviation `sigma` (≤0 is a no-op).
pub fn blur(mut img: Raster, sigma: f32) -> Result<Raster, PipelineError> {
    if sigma.is_nan() || sigma <= 0.0 || img.width == 0 || img.height == 0 {
        return Ok(img);
    }
    let channels = if img.alpha { FastBlurChannels::Channels4 } else { FastBlurChannels::Channels3 };
    if img.alpha {
        premultiply(&mut img.data);
    }
    let data = gaussian(&img.data, img.width, img.height, channels, sigma)?;
    let mut out = Raster { data, ..img };
    if out.alpha {
        super::raster::unpremultiply(&mut out.data);
    }
    Ok(out)
}

fn gaussian(src: &[u8], w: u32, h: u32, channels: FastBlurChannels, sigma: f32) -> Result<Vec<u8>, PipelineError> {
    let sigma = f64::from(sigma.min(1000.0));
    // ±3σ holds 99.7% of the kernel; the cap keeps absurd sigmas from costing more than they show.
    let radius = (3.0 * sigma).ceil().clamp(1.0, 2048.0) as u32;
    let params = GaussianBlurParams::new(2 * radius + 1, sigma);
    let from = BlurImage::borrow(src, w, h, channels);
    let mut out = vec![0u8; src.len()];
    let mut to = BlurImageMut::borrow(&mut out, w, h, channels);
    let edges = EdgeMode2D::new(EdgeMode::Clamp);
    gaussian_blur(&from, &mut to, params, edges, ThreadingPolicy::Single, ConvolutionMode::FixedPoint)
        .map_err(|e| PipelineError::Corrupt(format!("blur: {e}")))?;
    Ok(out)
}

fn premultiply(rgba: &mut [u8]) {
    for p in rgba.chunks_exact_mut(4) {
        let a = u32::from(p[3]);
        for c in &mut p[..3] {
            *c = ((u32::from(*c) * a + 127) / 255) as u8;
        }
    }
}

/// libvips `sharpen` defaults in 8-bit units: differences under x1 are left alone, the rest gain ×m2,
/// brightening is capped at y2 and darkening at y3 (L* 2, 10, 20 scaled to 0–255).
const SHARPEN_FLAT: i32 = 5;
const SHARPEN_SLOPE: i32 = 3;
const SHARPEN_MAX_UP: i32 = 26;
const SHARPEN_MAX_DOWN: i32 = 51;

/// Unsharp mask on luminance with gaussian `sigma` (≤0 is a no-op).
pub fn sharpen(mut img: Raster, sigma: f32) -> Result<Raster, PipelineError> {
    if sigma.is_nan() || sigma <= 0.0 || img.width == 0 || img.height == 0 {
        return Ok(img);
    }
    let c = img.channels();
    let luma: Vec<u8> = img.data.chunks_exact(c).map(|p| luma(p[0], p[1], p[2])).collect();
    let blurred = gaussian(&luma, img.width, img.height, FastBlurChannels::Plane, sigma)?;
    for ((p, &y), &b) in img.data.chunks_exact_mut(c).zip(&luma).zip(&blurred) {
        let delta = sharpen_delta(i32::from(y) - i32::from(b));
        for v in &mut p[..3] {
            *v = (i32::from(*v) + delta).clamp(0, 255) as u8;
        }
    }
    Ok(img)
}

fn sharpen_delta(d: i32) -> i32 {
    let gain = (d.abs() - SHARPEN_FLAT).max(0) * SHARPEN_SLOPE;
    if d > 0 {
        gain.min(SHARPEN_MAX_UP)
    } else {
        -gain.min(SHARPEN_MAX_DOWN)
    }
}

fn luma(r: u8, g: u8, b: u8) -> u8 {
    ((u32::from(r) * 299 + u32::from(g) * 587 + u32::from(b) * 114 + 500) / 1000) as u8
}

/// Replaces each `size`×`size` block with its average (≤1 is a no-op).
pub fn pixelate(mut img: Raster, size: u32) -> Raster {
    if size <= 1 {
        return img;
    }
    let (w, h, c) = (img.width as usize, img.height as usize, img.channels());
    let size = size as usize;
    for by in (0..h).step_by(size) {
        for bx in (0..w).step_by(size) {
            let (bw, bh) = (size.min(w - bx), size.min(h - by));
            let rows = || (by..by + bh).map(|y| (y * w + bx) * c..(y * w + bx + bw) * c);
            let mut sum = [0u64; 4];
            for r in rows() {
                for p in img.data.get(r).unwrap_or(&[]).chunks_exact(c) {
                    sum.iter_mut().zip(p).for_each(|(s, v)| *s += u64::from(*v));
                }
            }
            let n = (bw * bh) as u64;
            let avg: Vec<u8> = sum.iter().take(c).map(|s| ((s + n / 2) / n) as u8).collect();
            for r in rows() {
                for p in img.data.get_mut(r).unwrap_or(&mut []).chunks_exact_mut(c) {
                    p.copy_from_slice(&avg);
                }
            }
        }
    }
    img
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hard black/white vertical edge in the middle.
    fn edge(alpha: bool) -> Raster {
        let (w, h) = (40u32, 8u32);
        let c = if alpha { 4 } else { 3 };
        let data = (0..w * h)
            .flat_map(|i| {
                let v = if i % w < w / 2 { 0 } else { 255 };
                [v, v, v, 255].into_iter().take(c)
            })
            .collect();
        Raster { width: w, height: h, alpha, data }
    }

    /// Difference between the two pixels either side of the edge on the first row.
    fn edge_contrast(r: &Raster) -> i32 {
        let c = r.channels();
        let at = |x: usize| i32::from(r.data[x * c]);
        at(20) - at(19)
    }

    #[test]
    fn blur_reduces_edge_contrast() {
        for alpha in [false, true] {
            let before = edge(alpha);
            assert_eq!(edge_contrast(&before), 255);
            let after = blur(before, 3.0).unwrap();
            let c = edge_contrast(&after);
            assert!(c > 0 && c < 100, "alpha {alpha}: contrast {c}");
        }
        let small = edge_contrast(&blur(edge(false), 0.5).unwrap());
        let large = edge_contrast(&blur(edge(false), 5.0).unwrap());
        assert!(large < small, "{large} < {small}");
    }

    #[test]
    fn zero_sigma_is_a_no_op() {
        assert_eq!(blur(edge(false), 0.0).unwrap(), edge(false));
        assert_eq!(sharpen(edge(false), 0.0).unwrap(), edge(false));
    }

    #[test]
    fn sharpen_raises_contrast_around_a_soft_edge() {
        // Mid-grey levels so the overshoot is not clipped at 0 or 255.
        let data = (0..40 * 8).flat_map(|i| if i % 40 < 20 { [64; 3] } else { [192; 3] }).collect();
        let soft = blur(Raster { width: 40, height: 8, alpha: false, data }, 1.0).unwrap();
        let sharp = sharpen(soft.clone(), 2.0).unwrap();
        let spread = |r: &Raster| i32::from(r.data[21 * 3]) - i32::from(r.data[18 * 3]);
        assert!(spread(&sharp) > spread(&soft), "{} > {}", spread(&sharp), spread(&soft));
        // Flat areas are left alone.
        assert_eq!(sharp.data[..3], soft.data[..3]);
    }

    #[test]
    fn sharpen_limits_follow_libvips_defaults() {
        let rows = [(0, 0), (5, 0), (-5, 0), (6, 3), (-6, -3), (100, 26), (-100, -51)];
        for (d, want) in rows {
            assert_eq!(sharpen_delta(d), want, "d {d}");
        }
    }

    #[test]
    fn pixelate_averages_blocks() {
        let img = Raster { width: 3, height: 1, alpha: false, data: vec![0, 0, 0, 100, 100, 100, 7, 7, 7] };
        let p = pixelate(img, 2);
        assert_eq!(p.data, vec![50, 50, 50, 50, 50, 50, 7, 7, 7]);
    }
}
