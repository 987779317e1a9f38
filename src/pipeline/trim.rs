//! Trim: finds and cuts away a uniform border (`trim|t:{threshold}:{color}:{equal_hor}:{equal_ver}`).
//!
//! As imgproxy (libvips `find_trim`), a pixel belongs to the border when every colour channel is within
//! `threshold` of the border colour; the colour is the one given, else the top-left pixel. Alpha is
//! composited onto that colour first, so a transparent margin is trimmed too. `equal_hor`/`equal_ver`
//! trim both opposite sides by the smaller of the two amounts. An image that is all border is left
//! whole, as imgproxy does. Trimming runs on the full-size decoded image in stored orientation, before
//! the size calculation (SPEC §2 order). Deliberate difference: libvips median-filters first to ignore
//! single-pixel noise; we do not. This module knows nothing of geometry beyond a [`Rect`].

use crate::plan::{Rgb, Trim};

use super::geometry::Rect;
use super::raster::Raster;

/// The rectangle to keep, or `None` when nothing is trimmed (no border, or the image is all border).
pub fn find(img: &Raster, t: &Trim) -> Option<Rect> {
    let bg = t.color.or_else(|| top_left(img))?;
    let c = img.channels();
    let stride = img.stride().max(1);
    let (mut left, mut right, mut top, mut bottom) = (u32::MAX, 0u32, u32::MAX, 0u32);
    for (y, row) in (0u32..).zip(img.data.chunks_exact(stride)) {
        let differs = |px: &[u8]| differs(px, bg, t.threshold);
        let Some(first) = row.chunks_exact(c).position(differs) else { continue };
        let last = row.chunks_exact(c).rposition(differs).unwrap_or(first);
        left = left.min(first as u32);
        right = right.max(last as u32);
        top = top.min(y);
        bottom = y;
    }
    if top == u32::MAX {
        return None;
    }
    let (mut l, mut r) = (left, img.width - 1 - right);
    let (mut tp, mut b) = (top, img.height - 1 - bottom);
    if t.equal_hor {
        (l, r) = (l.min(r), l.min(r));
    }
    if t.equal_ver {
        (tp, b) = (tp.min(b), tp.min(b));
    }
    if l == 0 && r == 0 && tp == 0 && b == 0 {
        return None;
    }
    Some(Rect { x: l, y: tp, width: img.width - l - r, height: img.height - tp - b })
}

/// `img` with its border cut away (unchanged when [`find`] finds nothing to trim).
pub fn apply(img: Raster, t: &Trim) -> Raster {
    match find(&img, t) {
        Some(r) => img.crop(r),
        None => img,
    }
}

fn top_left(img: &Raster) -> Option<Rgb> {
    let px = img.data.get(..3)?;
    Some(Rgb { r: px[0], g: px[1], b: px[2] })
}

/// True when the pixel, composited onto `bg`, is further than `threshold` from it in some channel.
fn differs(px: &[u8], bg: Rgb, threshold: f64) -> bool {
    let alpha = px.get(3).copied().map_or(255, u32::from);
    let channel = |v: u8, b: u8| {
        let flat = (u32::from(v) * alpha + u32::from(b) * (255 - alpha) + 127) / 255;
        f64::from(flat.abs_diff(u32::from(b))) > threshold
    };
    match px {
        [r, g, b, ..] => channel(*r, bg.r) || channel(*g, bg.g) || channel(*b, bg.b),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `w`×`h` image of `border` with a `inner` rectangle at `r`.
    fn framed(w: u32, h: u32, border: [u8; 3], inner: [u8; 3], r: Rect) -> Raster {
        let inside = |x: u32, y: u32| x >= r.x && x < r.x + r.width && y >= r.y && y < r.y + r.height;
        let data = (0..h).flat_map(|y| (0..w).flat_map(move |x| if inside(x, y) { inner } else { border })).collect();
        Raster { width: w, height: h, alpha: false, data }
    }

    fn trim(threshold: f64, color: Option<Rgb>, equal_hor: bool, equal_ver: bool) -> Trim {
        Trim { threshold, color, equal_hor, equal_ver }
    }

    const WHITE: [u8; 3] = [255, 255, 255];
    const DARK: [u8; 3] = [20, 30, 40];

    #[test]
    fn finds_the_content_box() {
        let inner = Rect { x: 3, y: 2, width: 10, height: 5 };
        let rows: &[(&str, Trim, Option<Rect>)] = &[
            ("default colour is the top-left pixel", trim(10.0, None, false, false), Some(inner)),
            (
                "equal_hor trims both sides by the smaller amount",
                trim(10.0, None, true, false),
                Some(Rect { x: 3, y: 2, width: 14, height: 5 }),
            ),
            (
                "equal_ver trims top and bottom by the smaller amount",
                trim(10.0, None, false, true),
                Some(Rect { x: 3, y: 2, width: 10, height: 6 }),
            ),
            (
                "a colour that is not the border trims nothing",
                trim(10.0, Some(Rgb { r: 0, g: 0, b: 0 }), false, false),
                None,
            ),
            ("a threshold above the contrast sees all border", trim(250.0, None, false, false), None),
        ];
        // 20×10: left 3, right 7, top 2, bottom 3.
        let img = framed(20, 10, WHITE, DARK, inner);
        for (name, t, want) in rows {
            assert_eq!(find(&img, t), *want, "{name}");
        }
    }

    #[test]
    fn threshold_decides_what_counts_as_border() {
        let near_white = [250, 250, 250];
        let img = framed(8, 8, WHITE, near_white, Rect { x: 2, y: 2, width: 4, height: 4 });
        assert_eq!(find(&img, &trim(10.0, None, false, false)), None, "within threshold: all border");
        assert_eq!(find(&img, &trim(4.0, None, false, false)), Some(Rect { x: 2, y: 2, width: 4, height: 4 }));
    }

    #[test]
    fn transparent_margin_is_trimmed_against_the_colour() {
        let mut data = Vec::new();
        for y in 0..6u32 {
            for x in 0..6u32 {
                let solid = (1..5).contains(&x) && (2..4).contains(&y);
                data.extend_from_slice(&if solid { [200, 0, 0, 255] } else { [0, 0, 0, 0] });
            }
        }
        let img = Raster { width: 6, height: 6, alpha: true, data };
        let white = Some(Rgb { r: 255, g: 255, b: 255 });
        let cut = apply(img, &trim(10.0, white, false, false));
        assert_eq!((cut.width, cut.height), (4, 2));
        assert!(cut.data.chunks_exact(4).all(|p| p == [200, 0, 0, 255]));
    }

    #[test]
    fn uniform_image_is_left_whole() {
        let img = framed(5, 5, WHITE, WHITE, Rect { x: 0, y: 0, width: 0, height: 0 });
        assert_eq!(apply(img.clone(), &trim(10.0, None, false, false)), img);
    }
}
