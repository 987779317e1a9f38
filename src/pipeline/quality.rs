//! Image similarity measures (SSIM on luma, PSNR) for the quality proofs: the DC-only JPEG decode
//! against a full decode, our thumbnails against libvips' (`tests/libvips_parity.rs`), and the
//! benchmark's output comparison (issue 3: "SSIM within 0.005 of libvips").
//!
//! Not used on the request path. Inputs are interleaved 8-bit RGB or RGBA rows without padding (our
//! `Raster` layout); alpha is ignored. It knows nothing of codecs or of the pipeline.

/// SSIM constants for 8-bit samples (Wang et al. 2004: K1 = 0.01, K2 = 0.03, L = 255).
const C1: f64 = (0.01 * 255.0) * (0.01 * 255.0);
const C2: f64 = (0.03 * 255.0) * (0.03 * 255.0);
/// Window side and step: 8×8 windows every 4 pixels, a common discrete SSIM.
const WINDOW: usize = 8;
const STEP: usize = 4;

/// Two images of the same size and layout.
#[derive(Clone, Copy, Debug)]
pub struct Pair<'a> {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Bytes per pixel of both buffers: 3 (RGB) or 4 (RGBA).
    pub channels: usize,
    /// First image.
    pub a: &'a [u8],
    /// Second image.
    pub b: &'a [u8],
}

impl Pair<'_> {
    /// Whether both buffers hold exactly `width × height × channels` bytes of RGB(A).
    fn valid(&self) -> bool {
        let len = self.width.checked_mul(self.height).and_then(|n| n.checked_mul(self.channels));
        matches!(self.channels, 3 | 4) && len == Some(self.a.len()) && len == Some(self.b.len())
    }
}

/// BT.601 luma of interleaved RGB(A).
fn luma(data: &[u8], channels: usize) -> Vec<f64> {
    data.chunks_exact(channels)
        .map(|p| 0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2]))
        .collect()
}

/// Mean SSIM of the luma of both images over 8×8 windows (step 4); 1.0 means identical. `None` when the
/// buffers do not match the declared size; images smaller than a window are compared as one window.
pub fn ssim(pair: Pair) -> Option<f64> {
    if !pair.valid() || pair.width == 0 || pair.height == 0 {
        return None;
    }
    let (ya, yb) = (luma(pair.a, pair.channels), luma(pair.b, pair.channels));
    let (wx, wy) = (WINDOW.min(pair.width), WINDOW.min(pair.height));
    let mut total = 0.0;
    let mut count = 0usize;
    for y in (0..=pair.height - wy).step_by(STEP) {
        for x in (0..=pair.width - wx).step_by(STEP) {
            total += window_ssim(&ya, &yb, pair.width, (x, y), (wx, wy));
            count += 1;
        }
    }
    Some(total / count as f64)
}

/// SSIM of one window whose top-left corner is `at` and size `size`.
fn window_ssim(a: &[f64], b: &[f64], stride: usize, at: (usize, usize), size: (usize, usize)) -> f64 {
    let (mut sa, mut sb, mut saa, mut sbb, mut sab) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for row in at.1..at.1 + size.1 {
        let start = row * stride + at.0;
        for (&p, &q) in a[start..start + size.0].iter().zip(&b[start..start + size.0]) {
            sa += p;
            sb += q;
            saa += p * p;
            sbb += q * q;
            sab += p * q;
        }
    }
    let n = (size.0 * size.1) as f64;
    let (ma, mb) = (sa / n, sb / n);
    let (va, vb, cov) = (saa / n - ma * ma, sbb / n - mb * mb, sab / n - ma * mb);
    ((2.0 * ma * mb + C1) * (2.0 * cov + C2)) / ((ma * ma + mb * mb + C1) * (va + vb + C2))
}

/// PSNR in dB over the RGB samples (alpha ignored); `f64::INFINITY` for identical images, `None` when the
/// buffers do not match the declared size.
pub fn psnr(pair: Pair) -> Option<f64> {
    if !pair.valid() {
        return None;
    }
    let (mut sum, mut n) = (0u64, 0u64);
    for (p, q) in pair.a.chunks_exact(pair.channels).zip(pair.b.chunks_exact(pair.channels)) {
        for i in 0..3 {
            let d = u64::from(p[i].abs_diff(q[i]));
            sum += d * d;
            n += 1;
        }
    }
    if sum == 0 {
        return Some(f64::INFINITY);
    }
    let mse = sum as f64 / n.max(1) as f64;
    Some(10.0 * (255.0 * 255.0 / mse).log10())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair<'a>(w: usize, h: usize, a: &'a [u8], b: &'a [u8]) -> Pair<'a> {
        Pair { width: w, height: h, channels: 3, a, b }
    }

    /// A deterministic textured image (a diagonal ramp with a checker), so SSIM has structure to see.
    fn texture(w: usize, h: usize) -> Vec<u8> {
        (0..w * h)
            .flat_map(|i| {
                let (x, y) = (i % w, i / w);
                let v = ((x * 7 + y * 3) % 200 + if (x / 4 + y / 4) % 2 == 0 { 40 } else { 0 }) as u8;
                [v, v / 2, 255 - v]
            })
            .collect()
    }

    #[test]
    fn identical_images_score_one_and_infinite_psnr() {
        let img = texture(32, 24);
        let p = pair(32, 24, &img, &img);
        assert!((ssim(p).unwrap() - 1.0).abs() < 1e-12);
        assert_eq!(psnr(p), Some(f64::INFINITY));
    }

    #[test]
    fn scores_fall_as_the_damage_grows() {
        let img = texture(32, 24);
        let noisy = |amp: u8| -> Vec<u8> {
            img.iter()
                .enumerate()
                .map(|(i, &v)| if i % 2 == 0 { v.saturating_add(amp) } else { v.saturating_sub(amp) })
                .collect()
        };
        let (light, heavy) = (noisy(3), noisy(40));
        let (s_light, s_heavy) = (ssim(pair(32, 24, &img, &light)).unwrap(), ssim(pair(32, 24, &img, &heavy)).unwrap());
        let (p_light, p_heavy) = (psnr(pair(32, 24, &img, &light)).unwrap(), psnr(pair(32, 24, &img, &heavy)).unwrap());
        assert!(s_light < 1.0 && s_heavy < s_light, "ssim {s_light} {s_heavy}");
        assert!(p_heavy < p_light && p_light < 60.0, "psnr {p_light} {p_heavy}");
    }

    #[test]
    fn mismatched_or_empty_buffers_are_refused() {
        let img = texture(8, 8);
        let rows: [(&str, Pair); 4] = [
            ("short second buffer", pair(8, 8, &img, &img[..10])),
            ("size larger than the data", pair(9, 8, &img, &img)),
            ("two channels", Pair { channels: 2, ..pair(8, 8, &img, &img) }),
            ("zero width", pair(0, 8, &[], &[])),
        ];
        for (name, p) in rows {
            assert_eq!(ssim(p), None, "{name}");
        }
        assert_eq!(psnr(pair(9, 8, &img, &img)), None);
    }

    #[test]
    fn images_smaller_than_a_window_are_one_window() {
        let img = texture(5, 3);
        assert!((ssim(pair(5, 3, &img, &img)).unwrap() - 1.0).abs() < 1e-12);
    }
}
