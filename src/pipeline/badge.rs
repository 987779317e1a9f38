//! Misskey badge (SPEC §3): a 96×96 monochrome alpha mask for push-notification badges, as media-proxy
//! builds it with sharp — contain in 96×96 on black, greyscale, normalise, 1.75× contrast around mid-grey,
//! flatten on black — refused (404) when the mask is nearly uniform (histogram entropy below 0.1 bit).
//! The result is black with the mask as its alpha. Works on a [`Raster`] already fitted inside 96×96.

use super::raster::Raster;
use super::PipelineError;

/// The badge side.
pub const SIDE: u32 = 96;

/// Below this entropy (bits) the mask is treated as empty, as media-proxy does.
const MIN_ENTROPY: f64 = 0.1;

/// Builds the badge from `img` (at most 96×96, as the geometry step fits it).
pub fn apply_badge(img: &Raster) -> Result<Raster, PipelineError> {
    let grey = contain_grey(img);
    let mask = contrast(normalise(grey));
    if entropy(&mask) < MIN_ENTROPY {
        return Err(PipelineError::NearlyUniform);
    }
    let data = mask.iter().flat_map(|&m| [0, 0, 0, m]).collect();
    Ok(Raster { width: SIDE, height: SIDE, alpha: true, data })
}

/// Luma (Rec. 601) of `img` flattened on black, centred on a 96×96 black canvas.
fn contain_grey(img: &Raster) -> Vec<u8> {
    let mut out = vec![0u8; (SIDE * SIDE) as usize];
    let (w, h) = (img.width.min(SIDE), img.height.min(SIDE));
    let (x0, y0) = ((SIDE - w) / 2, (SIDE - h) / 2);
    let c = img.channels();
    for (y, row) in img.data.chunks_exact(img.stride().max(1)).take(h as usize).enumerate() {
        for (x, px) in row.chunks_exact(c).take(w as usize).enumerate() {
            let a = if img.alpha { u32::from(px[3]) } else { 255 };
            let luma = (299 * u32::from(px[0]) + 587 * u32::from(px[1]) + 114 * u32::from(px[2])) / 1000;
            if let Some(dst) = out.get_mut((y0 as usize + y) * SIDE as usize + x0 as usize + x) {
                *dst = (luma * a / 255) as u8;
            }
        }
    }
    out
}

/// Stretches the 1st..99th percentile to the full range, as sharp's `normalise`.
fn normalise(grey: Vec<u8>) -> Vec<u8> {
    let mut hist = [0usize; 256];
    grey.iter().for_each(|&v| hist[usize::from(v)] += 1);
    let percentile = |p: usize| {
        let target = grey.len() * p / 100;
        let mut seen = 0;
        hist.iter().position(|&n| {
            seen += n;
            seen > target
        })
    };
    let (lo, hi) = (percentile(1).unwrap_or(0), percentile(99).unwrap_or(255));
    if hi <= lo {
        return grey;
    }
    let span = (hi - lo) as f64;
    grey.into_iter().map(|v| ((f64::from(v) - lo as f64) * 255.0 / span).round().clamp(0.0, 255.0) as u8).collect()
}

/// `linear(1.75, 128 - 128 × 1.75)`: more contrast around mid-grey.
fn contrast(grey: Vec<u8>) -> Vec<u8> {
    grey.into_iter().map(|v| (1.75 * f64::from(v) - 96.0).round().clamp(0.0, 255.0) as u8).collect()
}

/// Shannon entropy of the 256-bin histogram, in bits (libvips `hist_entropy`).
fn entropy(grey: &[u8]) -> f64 {
    let mut hist = [0usize; 256];
    grey.iter().for_each(|&v| hist[usize::from(v)] += 1);
    let n = grey.len().max(1) as f64;
    hist.iter().filter(|&&c| c > 0).map(|&c| c as f64 / n).map(|p| -p * p.log2()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raster(w: u32, h: u32, f: impl Fn(u32, u32) -> [u8; 4]) -> Raster {
        let f = &f;
        let data = (0..h).flat_map(|y| (0..w).flat_map(move |x| f(x, y))).collect();
        Raster { width: w, height: h, alpha: true, data }
    }

    #[test]
    fn a_shape_becomes_an_alpha_mask() {
        let img = raster(96, 96, |x, _| if x < 48 { [255, 255, 255, 255] } else { [0, 0, 0, 255] });
        let badge = apply_badge(&img).unwrap();
        assert_eq!((badge.width, badge.height, badge.alpha), (96, 96, true));
        let alpha = |x: usize, y: usize| badge.data[(y * 96 + x) * 4 + 3];
        assert_eq!((alpha(10, 10), alpha(80, 10)), (255, 0));
        assert!(badge.data.chunks_exact(4).all(|p| p[..3] == [0, 0, 0]));
    }

    #[test]
    fn uniform_images_are_refused() {
        for (name, px) in [("white", [255, 255, 255, 255]), ("grey", [128, 128, 128, 255]), ("clear", [9, 9, 9, 0])] {
            assert_eq!(apply_badge(&raster(96, 96, |_, _| px)), Err(PipelineError::NearlyUniform), "{name}");
        }
    }

    #[test]
    fn small_images_are_centred_on_black() {
        let img = raster(32, 32, |_, _| [255, 255, 255, 255]);
        let badge = apply_badge(&img).unwrap();
        let alpha = |x: usize, y: usize| badge.data[(y * 96 + x) * 4 + 3];
        assert_eq!((alpha(48, 48), alpha(2, 2)), (255, 0));
    }
}
