//! The in-memory image every step passes along: 8-bit RGB or RGBA, rows packed without padding.
//!
//! Two layouts only, because every encoder we use takes them and every decoder can produce them; it
//! keeps the steps free of format cases. The canvas operations that are plain copies (crop, embed on a
//! background, flatten alpha) live here too. Nothing here knows about codecs or the plan.

use crate::plan::Rgb;

/// Decoded pixels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Raster {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// RGBA when true, RGB otherwise.
    pub alpha: bool,
    /// `width × height × channels` bytes.
    pub data: Vec<u8>,
}

impl Raster {
    /// Bytes per pixel (3 or 4).
    pub fn channels(&self) -> usize {
        if self.alpha {
            4
        } else {
            3
        }
    }

    /// Bytes per row.
    pub fn stride(&self) -> usize {
        self.width as usize * self.channels()
    }

    /// A copy of the rectangle `r`, clipped to the image.
    pub fn crop(&self, r: super::geometry::Rect) -> Raster {
        let x = r.x.min(self.width);
        let y = r.y.min(self.height);
        let w = r.width.min(self.width - x);
        let h = r.height.min(self.height - y);
        let c = self.channels();
        let mut data = Vec::with_capacity(w as usize * h as usize * c);
        for row in self.data.chunks_exact(self.stride().max(1)).skip(y as usize).take(h as usize) {
            let start = x as usize * c;
            data.extend_from_slice(row.get(start..start + w as usize * c).unwrap_or(&[]));
        }
        Raster { width: w, height: h, alpha: self.alpha, data }
    }

    /// Keeps the top-left `width`×`height` (no larger than the image), in place: no second buffer.
    pub fn truncate(&mut self, width: u32, height: u32) {
        let (width, height) = (width.min(self.width), height.min(self.height));
        let (old, new) = (self.stride(), width as usize * self.channels());
        if new < old {
            for row in 1..height as usize {
                self.data.copy_within(row * old..row * old + new, row * new);
            }
        }
        self.data.truncate(new * height as usize);
        (self.width, self.height) = (width, height);
    }

    /// Places the image at (`x`, `y`) on a transparent `width`×`height` canvas, as imgproxy's embed
    /// (extend, padding) does: the new area is transparent until flattening paints the background.
    pub fn embed(&self, width: u32, height: u32, x: u32, y: u32) -> Raster {
        let src = self.with_alpha();
        let mut data = vec![0u8; width as usize * height as usize * 4];
        let dst_stride = width as usize * 4;
        let copy_w = src.width.min(width.saturating_sub(x)) as usize * 4;
        for (row_index, row) in src.data.chunks_exact(src.stride().max(1)).enumerate() {
            let dy = y as usize + row_index;
            if dy >= height as usize {
                break;
            }
            let at = dy * dst_stride + x as usize * 4;
            if let (Some(dst), Some(line)) = (data.get_mut(at..at + copy_w), row.get(..copy_w)) {
                dst.copy_from_slice(line);
            }
        }
        Raster { width, height, alpha: true, data }
    }

    /// The same image with an opaque alpha channel added when it has none.
    pub fn with_alpha(&self) -> std::borrow::Cow<'_, Raster> {
        if self.alpha {
            return std::borrow::Cow::Borrowed(self);
        }
        let data = self.data.chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect();
        std::borrow::Cow::Owned(Raster { width: self.width, height: self.height, alpha: true, data })
    }

    /// Composites RGBA over an opaque `bg`, returning RGB; RGB images are returned unchanged.
    pub fn flatten(self, bg: Rgb) -> Raster {
        if !self.alpha {
            return self;
        }
        let blend = |c: u8, b: u8, a: u8| {
            let (c, b, a) = (u32::from(c), u32::from(b), u32::from(a));
            ((c * a + b * (255 - a) + 127) / 255) as u8
        };
        let data = self
            .data
            .chunks_exact(4)
            .flat_map(|p| [blend(p[0], bg.r, p[3]), blend(p[1], bg.g, p[3]), blend(p[2], bg.b, p[3])])
            .collect();
        Raster { width: self.width, height: self.height, alpha: false, data }
    }
}

/// Straight alpha from premultiplied RGBA in place (colour × 255 ÷ alpha, rounded; fully transparent
/// pixels keep their zeros): for sources that store premultiplied pixels (tiny-skia's SVG raster, AVIF with
/// a `prem` reference) and filters that work premultiplied, since the rest of the pipeline is straight.
pub fn unpremultiply(rgba: &mut [u8]) {
    for px in rgba.chunks_exact_mut(4) {
        let a = u32::from(px[3]);
        if a != 0 && a != 255 {
            for c in &mut px[..3] {
                *c = ((u32::from(*c) * 255 + a / 2) / a).min(255) as u8;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::geometry::Rect;

    fn rgba(w: u32, h: u32, px: [u8; 4]) -> Raster {
        Raster { width: w, height: h, alpha: true, data: px.repeat((w * h) as usize) }
    }

    #[test]
    fn crop_clips_to_the_image() {
        let r = Raster { width: 3, height: 1, alpha: false, data: vec![1, 1, 1, 2, 2, 2, 3, 3, 3] };
        let c = r.crop(Rect { x: 1, y: 0, width: 9, height: 9 });
        assert_eq!((c.width, c.height, c.data), (2, 1, vec![2, 2, 2, 3, 3, 3]));
    }

    #[test]
    fn truncate_keeps_the_top_left_rows_and_columns() {
        let mut r = Raster { width: 3, height: 2, alpha: false, data: (1..=18).collect() };
        r.truncate(2, 1);
        assert_eq!((r.width, r.height, r.data), (2, 1, vec![1, 2, 3, 4, 5, 6]));
        let mut r = Raster { width: 2, height: 2, alpha: false, data: (1..=12).collect() };
        r.truncate(5, 5);
        assert_eq!((r.width, r.height, r.data.len()), (2, 2, 12));
    }

    #[test]
    fn embed_leaves_the_border_transparent() {
        let e = rgba(1, 1, [9, 9, 9, 255]).embed(3, 2, 1, 1);
        assert_eq!((e.width, e.height), (3, 2));
        let alphas: Vec<u8> = e.data.chunks_exact(4).map(|p| p[3]).collect();
        assert_eq!(alphas, vec![0, 0, 0, 0, 255, 0]);
    }

    #[test]
    fn unpremultiply_restores_straight_colour() {
        let mut px = vec![64, 32, 0, 128, 10, 20, 30, 0, 200, 100, 50, 255, 255, 255, 255, 128];
        unpremultiply(&mut px);
        assert_eq!(px, vec![128, 64, 0, 128, 10, 20, 30, 0, 200, 100, 50, 255, 255, 255, 255, 128]);
    }

    #[test]
    fn flatten_blends_on_the_background() {
        let white = Rgb { r: 255, g: 255, b: 255 };
        let f = rgba(1, 1, [0, 0, 0, 0]).flatten(white);
        assert_eq!(f.data, vec![255, 255, 255]);
        let f = rgba(1, 1, [0, 0, 0, 255]).flatten(white);
        assert_eq!(f.data, vec![0, 0, 0]);
        let f = rgba(1, 1, [0, 0, 0, 128]).flatten(white);
        assert_eq!(f.data, vec![127, 127, 127]);
    }
}
