//! Resize: crop a region of the decoded image and scale it to the layout's size in one pass.
//!
//! `fast_image_resize` with Lanczos3, the kernel libvips' `thumbnail` uses; alpha is premultiplied
//! before and divided out after (the crate's `mul_div_alpha`), so transparent pixels do not bleed
//! their colour into edges. The crop is a sub-pixel source box, which is how a crop computed on the
//! full-size source still lands exactly after shrink-on-load. A `Resizer` (its scratch buffers) is kept
//! per worker thread. This module knows nothing of the plan or of orientation.

use std::cell::RefCell;

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, MulDiv, PixelType, ResizeAlg, ResizeOptions, Resizer};

use super::geometry::Rect;
use super::raster::Raster;
use super::PipelineError;

thread_local! {
    static RESIZER: RefCell<Resizer> = RefCell::new(Resizer::new());
}

/// A source region in (possibly fractional) pixels of the decoded image.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SourceBox {
    /// Left edge.
    pub x: f64,
    /// Top edge.
    pub y: f64,
    /// Width.
    pub width: f64,
    /// Height.
    pub height: f64,
}

impl SourceBox {
    /// `r` given on an image of `from` size, rescaled onto an image of `to` size, and clamped to it:
    /// `300 × (38/225)` is not exactly 38 in floating point, and a box a hair outside the image is refused
    /// by the resizer.
    pub fn rescaled(r: Rect, from: (u32, u32), to: (u32, u32)) -> SourceBox {
        let sx = f64::from(to.0) / f64::from(from.0.max(1));
        let sy = f64::from(to.1) / f64::from(from.1.max(1));
        let (x, y) = ((f64::from(r.x) * sx).min(f64::from(to.0)), (f64::from(r.y) * sy).min(f64::from(to.1)));
        SourceBox {
            x,
            y,
            width: (f64::from(r.width) * sx).min(f64::from(to.0) - x),
            height: (f64::from(r.height) * sy).min(f64::from(to.1) - y),
        }
    }

    /// The box as whole pixels, when it is one.
    fn as_rect(&self) -> Option<Rect> {
        let whole = |v: f64| (v.fract() == 0.0 && v >= 0.0).then_some(v as u32);
        Some(Rect { x: whole(self.x)?, y: whole(self.y)?, width: whole(self.width)?, height: whole(self.height)? })
    }
}

/// Cuts `region` out of `src` and scales it to `width`×`height`. Plain copies are used when no
/// scaling is needed.
pub fn crop_resize(src: Raster, region: SourceBox, width: u32, height: u32) -> Result<Raster, PipelineError> {
    if let Some(r) = region.as_rect().filter(|r| r.width == width && r.height == height) {
        if r == (Rect { x: 0, y: 0, width: src.width, height: src.height }) {
            return Ok(src);
        }
        return Ok(src.crop(r));
    }
    let mut src = src;
    let pixel_type = if src.alpha { PixelType::U8x4 } else { PixelType::U8x3 };
    let mul_div = MulDiv::default();
    if src.alpha {
        // Premultiply in place: we own the decoded buffer, so no second full-size copy is made (the
        // resizer's own `use_alpha` would allocate one: 59 MB for a 5120x2880 RGBA PNG).
        let mut view = Image::from_slice_u8(src.width, src.height, &mut src.data, pixel_type).map_err(internal)?;
        mul_div.multiply_alpha_inplace(&mut view).map_err(internal)?;
    }
    let from = ImageRef::new(src.width, src.height, &src.data, pixel_type).map_err(internal)?;
    let mut to = Image::new(width, height, pixel_type);
    let options = ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3))
        .crop(region.x, region.y, region.width, region.height)
        .use_alpha(false);
    RESIZER.with(|r| r.borrow_mut().resize(&from, &mut to, &options)).map_err(internal)?;
    drop(src);
    if pixel_type == PixelType::U8x4 {
        mul_div.divide_alpha_inplace(&mut to).map_err(internal)?;
    }
    Ok(Raster { width, height, alpha: pixel_type == PixelType::U8x4, data: to.into_vec() })
}

fn internal(e: impl std::fmt::Display) -> PipelineError {
    PipelineError::Corrupt(format!("resize: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rescaled_box_never_leaves_the_image() {
        // flower2.webp is 300x225; fit 50 decodes it at 50x38 (libwebp scaled decode, ceil).
        for (to_w, to_h) in [(50, 38), (51, 39), (7, 5), (299, 224)] {
            let b = SourceBox::rescaled(Rect { x: 0, y: 0, width: 300, height: 225 }, (300, 225), (to_w, to_h));
            assert!(b.x + b.width <= f64::from(to_w) && b.y + b.height <= f64::from(to_h), "{to_w}x{to_h}: {b:?}");
        }
        let b = SourceBox::rescaled(Rect { x: 100, y: 75, width: 200, height: 150 }, (300, 225), (50, 38));
        assert!(b.x + b.width <= 50.0 && b.y + b.height <= 38.0, "{b:?}");
    }

    fn split(w: u32, h: u32) -> Raster {
        // Left half red, right half blue.
        let data = (0..w * h).flat_map(|i| if i % w < w / 2 { [255, 0, 0] } else { [0, 0, 255] }).collect();
        Raster { width: w, height: h, alpha: false, data }
    }

    #[test]
    fn downscale_keeps_the_halves_apart() {
        let full = SourceBox { x: 0.0, y: 0.0, width: 100.0, height: 50.0 };
        let r = crop_resize(split(100, 50), full, 20, 10).unwrap();
        assert_eq!((r.width, r.height, r.data.len()), (20, 10, 600));
        let first = &r.data[..3];
        let last = &r.data[57..60];
        assert!(first[0] > 200 && first[2] < 50, "{first:?}");
        assert!(last[2] > 200 && last[0] < 50, "{last:?}");
    }

    #[test]
    fn crop_box_selects_the_region() {
        let right = SourceBox { x: 60.0, y: 0.0, width: 40.0, height: 50.0 };
        let r = crop_resize(split(100, 50), right, 8, 10).unwrap();
        assert!(r.data.chunks_exact(3).all(|p| p[2] > 250 && p[0] < 5));
    }

    #[test]
    fn whole_pixel_box_at_the_same_size_is_a_copy() {
        let src = split(10, 4);
        let same = SourceBox { x: 0.0, y: 0.0, width: 10.0, height: 4.0 };
        assert_eq!(crop_resize(src.clone(), same, 10, 4).unwrap(), src);
        let right = SourceBox { x: 5.0, y: 0.0, width: 5.0, height: 4.0 };
        assert_eq!(crop_resize(src.clone(), right, 5, 4).unwrap(), src.crop(Rect { x: 5, y: 0, width: 5, height: 4 }));
    }

    #[test]
    fn transparent_pixels_do_not_bleed_colour() {
        // Opaque white next to fully transparent black: premultiplied resizing keeps the edge white.
        let data = (0..8).flat_map(|i| if i % 4 < 2 { [255, 255, 255, 255] } else { [0, 0, 0, 0] }).collect();
        let src = Raster { width: 4, height: 2, alpha: true, data };
        let all = SourceBox { x: 0.0, y: 0.0, width: 4.0, height: 2.0 };
        let r = crop_resize(src, all, 2, 1).unwrap();
        let px = &r.data[..4];
        assert!(px[3] > 0 && px[0] > 250, "{px:?}");
    }
}
