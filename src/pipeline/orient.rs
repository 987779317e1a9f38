//! Orientation: the EXIF orientation tag, `rotate` and `flip`, as one transform of the dihedral group.
//!
//! imgproxy applies the EXIF rotation, then the EXIF mirror, then `rot`, then `fl`
//! (`processing/rotate_and_flip.go`). We fold all of them into one [`Orient`] so pixels are moved once,
//! after the resize (on the small image), and so the pre-resize crop, which geometry computes in oriented
//! coordinates, can be mapped back to the stored orientation exactly: that is what makes crop before
//! rotation equal to rotate-then-crop (SPEC §2). The EXIF reader is kamadak-exif on the APP1 (JPEG) or
//! `EXIF` chunk (WebP) payload; broken EXIF means "no orientation", never an error.
//! This module knows nothing of decoders' internals or output formats.

use super::geometry::Rect;
use super::probe::{exif_payload, SourceInfo};
use super::raster::Raster;

/// A transform from stored pixels to displayed pixels: optionally transpose (swap x and y), then mirror
/// x, then mirror y, each in the coordinates of the image after the previous step.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Orient {
    /// Swap the axes first.
    pub transpose: bool,
    /// Then mirror horizontally.
    pub flip_x: bool,
    /// Then mirror vertically.
    pub flip_y: bool,
}

impl Orient {
    /// No change.
    pub const IDENTITY: Orient = Orient { transpose: false, flip_x: false, flip_y: false };
    const ROT90: Orient = Orient { transpose: true, flip_x: true, flip_y: false };
    const ROT180: Orient = Orient { transpose: false, flip_x: true, flip_y: true };
    const ROT270: Orient = Orient { transpose: true, flip_x: false, flip_y: true };
    const FLIP_X: Orient = Orient { transpose: false, flip_x: true, flip_y: false };
    const FLIP_Y: Orient = Orient { transpose: false, flip_x: false, flip_y: true };

    /// The transform that displays a stored image with EXIF `orientation` (1–8; anything else is 1).
    pub fn from_exif(orientation: u32) -> Orient {
        match orientation {
            2 => Orient::FLIP_X,
            3 => Orient::ROT180,
            4 => Orient::FLIP_Y,
            5 => Orient::ROT90.then(Orient::FLIP_X),
            6 => Orient::ROT90,
            7 => Orient::ROT270.then(Orient::FLIP_X),
            8 => Orient::ROT270,
            _ => Orient::IDENTITY,
        }
    }

    /// A clockwise rotation by `degrees` (multiples of 90; others are treated modulo 360, rounded down).
    pub fn rotation(degrees: u16) -> Orient {
        match (degrees % 360) / 90 {
            1 => Orient::ROT90,
            2 => Orient::ROT180,
            3 => Orient::ROT270,
            _ => Orient::IDENTITY,
        }
    }

    /// The whole chain for one request: EXIF (when `auto_rotate`), then `rotate`, then `flip`.
    pub fn for_request(exif: u32, auto_rotate: bool, rotate: u16, flip_h: bool, flip_v: bool) -> Orient {
        let base = if auto_rotate { Orient::from_exif(exif) } else { Orient::IDENTITY };
        let mut o = base.then(Orient::rotation(rotate));
        if flip_h {
            o = o.then(Orient::FLIP_X);
        }
        if flip_v {
            o = o.then(Orient::FLIP_Y);
        }
        o
    }

    /// `self` followed by `next`.
    pub fn then(self, next: Orient) -> Orient {
        // Transposing after a mirror turns an x-mirror into a y-mirror and vice versa.
        let (fx, fy) = if next.transpose { (self.flip_y, self.flip_x) } else { (self.flip_x, self.flip_y) };
        Orient { transpose: self.transpose ^ next.transpose, flip_x: fx ^ next.flip_x, flip_y: fy ^ next.flip_y }
    }

    /// The displayed size of a stored `width`×`height` image.
    pub fn apply_size(self, width: u32, height: u32) -> (u32, u32) {
        if self.transpose {
            (height, width)
        } else {
            (width, height)
        }
    }

    /// Maps a rectangle given in displayed coordinates back to stored coordinates, for a stored image
    /// of `width`×`height`.
    pub fn rect_to_stored(self, r: Rect, width: u32, height: u32) -> Rect {
        let (dw, dh) = self.apply_size(width, height);
        // Undo the mirrors in displayed space, then undo the transpose.
        let x = if self.flip_x { dw.saturating_sub(r.x + r.width) } else { r.x };
        let y = if self.flip_y { dh.saturating_sub(r.y + r.height) } else { r.y };
        if self.transpose {
            Rect { x: y, y: x, width: r.height, height: r.width }
        } else {
            Rect { x, y, width: r.width, height: r.height }
        }
    }

    /// Moves the pixels; a no-op for the identity.
    pub fn apply(self, src: Raster) -> Raster {
        if self == Orient::IDENTITY || src.width == 0 || src.height == 0 {
            return src;
        }
        let (w, h) = (src.width as usize, src.height as usize);
        let c = src.channels();
        let (dw, dh) = self.apply_size(src.width, src.height);
        let mut data = vec![0u8; src.data.len()];
        for (sy, row) in src.data.chunks_exact(w * c).take(h).enumerate() {
            for (sx, px) in row.chunks_exact(c).enumerate() {
                let (mut x, mut y) = if self.transpose { (sy, sx) } else { (sx, sy) };
                if self.flip_x {
                    x = dw as usize - 1 - x;
                }
                if self.flip_y {
                    y = dh as usize - 1 - y;
                }
                let at = (y * dw as usize + x) * c;
                if let Some(dst) = data.get_mut(at..at + c) {
                    dst.copy_from_slice(px);
                }
            }
        }
        Raster { width: dw, height: dh, alpha: src.alpha, data }
    }
}

/// The EXIF orientation (1–8) of a JPEG or WebP source; 1 when absent or unreadable.
pub fn exif_orientation(input: &[u8], info: &SourceInfo) -> u32 {
    let Some(payload) = exif_payload(input, info) else { return 1 };
    let Ok(exif) = exif::Reader::new().read_raw(payload.to_vec()) else { return 1 };
    exif.get_field(exif::Tag::Orientation, exif::In::PRIMARY)
        .and_then(|f| f.value.get_uint(0))
        .filter(|o| (1..=8).contains(o))
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 3×2 RGB image whose red channel numbers the pixels 0..6 row by row.
    fn numbered() -> Raster {
        let data = (0u8..6).flat_map(|i| [i, 0, 0]).collect();
        Raster { width: 3, height: 2, alpha: false, data }
    }

    fn reds(r: &Raster) -> Vec<u8> {
        r.data.chunks_exact(3).map(|p| p[0]).collect()
    }

    /// The stored 3×2 image  `0 1 2 / 3 4 5`  displayed under each EXIF orientation (EXIF 2.32 §4.6.4).
    #[test]
    fn every_exif_orientation_moves_pixels_as_the_standard_says() {
        let rows: [(u32, (u32, u32), [u8; 6]); 8] = [
            (1, (3, 2), [0, 1, 2, 3, 4, 5]),
            (2, (3, 2), [2, 1, 0, 5, 4, 3]),
            (3, (3, 2), [5, 4, 3, 2, 1, 0]),
            (4, (3, 2), [3, 4, 5, 0, 1, 2]),
            (5, (2, 3), [0, 3, 1, 4, 2, 5]),
            (6, (2, 3), [3, 0, 4, 1, 5, 2]),
            (7, (2, 3), [5, 2, 4, 1, 3, 0]),
            (8, (2, 3), [2, 5, 1, 4, 0, 3]),
        ];
        for (o, size, want) in rows {
            let out = Orient::from_exif(o).apply(numbered());
            assert_eq!((out.width, out.height), size, "orientation {o}: size");
            assert_eq!(reds(&out), want, "orientation {o}: pixels");
        }
    }

    #[test]
    fn rotations_compose_like_angles() {
        assert_eq!(Orient::ROT90.then(Orient::ROT90), Orient::ROT180);
        assert_eq!(Orient::ROT90.then(Orient::ROT180), Orient::ROT270);
        assert_eq!(Orient::ROT270.then(Orient::ROT90), Orient::IDENTITY);
        assert_eq!(Orient::FLIP_X.then(Orient::FLIP_X), Orient::IDENTITY);
        assert_eq!(Orient::rotation(450), Orient::ROT90);
        assert_eq!(Orient::for_request(6, false, 0, false, false), Orient::IDENTITY);
        assert_eq!(Orient::for_request(6, true, 270, false, false), Orient::IDENTITY);
        assert_eq!(Orient::for_request(1, true, 180, true, true), Orient::IDENTITY);
    }

    /// Cropping the stored image at the mapped rectangle and then orienting must equal orienting and
    /// then cropping at the displayed rectangle, for every transform.
    #[test]
    fn crop_before_orient_equals_orient_then_crop() {
        let (w, h) = (5u32, 4u32);
        let data = (0..w * h).flat_map(|i| [i as u8, 0, 0]).collect();
        let src = Raster { width: w, height: h, alpha: false, data };
        for exif in 1..=8 {
            for rot in [0u16, 90, 180, 270] {
                let o = Orient::for_request(exif, true, rot, rot == 90, false);
                let shown = o.apply(src.clone());
                let r = Rect { x: 1, y: 0, width: 2, height: 3 };
                let want = shown.crop(r);
                let first = src.crop(o.rect_to_stored(r, w, h));
                assert_eq!(reds(&o.apply(first)), reds(&want), "exif {exif} rot {rot}");
            }
        }
    }

    #[test]
    fn broken_exif_reads_as_upright() {
        let input = crate::pipeline::test_util::corpus("edge/broken_exif_dpi.jpg");
        let info = crate::pipeline::probe::inspect(&input).expect("probe");
        assert_eq!(exif_orientation(&input, &info), 1);
    }

    #[test]
    fn corpus_orientation_tags_are_read() {
        for n in 2..=8 {
            let input = crate::pipeline::test_util::corpus(&format!("formats/hopper_orientation_{n}.jpg"));
            let info = crate::pipeline::probe::inspect(&input).expect("probe");
            assert_eq!(exif_orientation(&input, &info), n);
        }
        let input = crate::pipeline::test_util::corpus("formats/hopper_orientation_6.webp");
        let info = crate::pipeline::probe::inspect(&input).expect("probe");
        assert_eq!(exif_orientation(&input, &info), 6);
    }
}
