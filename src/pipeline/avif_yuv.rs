//! YUV → 8-bit RGB(A) for decoded AV1 planes, with the colour matrix and range of the source.
//!
//! Integer lookup tables per source sample value (at most 4096 entries at 12 bits) make every bit depth,
//! range and matrix the same inner loop: three table reads, two adds and a shift per channel. The
//! coefficients are ITU-T H.273's (Kr, Kb per matrix code point), BT.601 when the code point is
//! unspecified or one we do not implement, as libavif. Chroma is upsampled by sample replication, as
//! libyuv's default I420/I422 → RGB paths used by libavif. This module knows nothing of AV1 or containers.

use super::PipelineError;

/// Fixed-point fraction bits of the lookup tables.
const SHIFT: u32 = 12;

/// One plane of samples: 8-bit (`hbd` false) or 16-bit little-endian words (`hbd` true).
#[derive(Clone, Copy, Debug)]
pub struct Plane<'a> {
    /// The samples, `stride` bytes per row.
    pub data: &'a [u8],
    /// Bytes per row.
    pub stride: usize,
    /// Samples are 16-bit.
    pub hbd: bool,
}

impl<'a> Plane<'a> {
    fn row(&self, y: usize) -> &'a [u8] {
        let start = y.saturating_mul(self.stride);
        self.data.get(start..).unwrap_or(&[])
    }
}

/// The sample at `x` of a row (0 when out of range, which a well-formed plane never is).
fn sample(row: &[u8], x: usize, hbd: bool) -> usize {
    if hbd {
        let i = x * 2;
        match (row.get(i), row.get(i + 1)) {
            (Some(lo), Some(hi)) => usize::from(u16::from_le_bytes([*lo, *hi])),
            _ => 0,
        }
    } else {
        row.get(x).map_or(0, |v| usize::from(*v))
    }
}

/// How the samples encode colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Encoding {
    /// Bits per sample (8, 10, 12).
    pub depth: u32,
    /// Full range rather than limited ("studio") range.
    pub full_range: bool,
    /// H.273 matrix coefficients code point.
    pub matrix: u16,
}

/// The chroma subsampling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chroma {
    /// No chroma planes (4:0:0).
    Mono,
    /// Half width and height (4:2:0).
    Half,
    /// Half width (4:2:2).
    HalfWidth,
    /// Full (4:4:4).
    Full,
}

/// (Kr, Kb) for the matrix code point; `None` for identity (GBR stored as YUV planes).
fn coefficients(matrix: u16) -> Option<(f64, f64)> {
    match matrix {
        0 => None,
        1 => Some((0.2126, 0.0722)),
        4 => Some((0.30, 0.11)),
        7 => Some((0.212, 0.087)),
        9 | 10 => Some((0.2627, 0.0593)),
        // 2 unspecified, 5/6 BT.601, and anything else: libavif's default.
        _ => Some((0.299, 0.114)),
    }
}

/// Value tables for one encoding: luma to 8-bit×2^SHIFT, and each chroma's contribution.
struct Tables {
    mask: usize,
    y: Vec<i32>,
    r_v: Vec<i32>,
    g_v: Vec<i32>,
    g_u: Vec<i32>,
    b_u: Vec<i32>,
    identity: bool,
}

impl Tables {
    fn new(e: Encoding) -> Result<Tables, PipelineError> {
        if !(8..=12).contains(&e.depth) {
            return Err(PipelineError::Unsupported(format!("AVIF with {}-bit samples", e.depth)));
        }
        let n = 1usize << e.depth;
        let scale = f64::from(1u32 << (e.depth - 8));
        let max = (n - 1) as f64;
        let (y0, yr, cr) = if e.full_range { (0.0, max, max) } else { (16.0 * scale, 219.0 * scale, 224.0 * scale) };
        let c0 = (n / 2) as f64;
        let one = 255.0 * f64::from(1u32 << SHIFT);
        let fix = |v: f64| (v * one).round() as i32;
        let luma = |s: usize| fix((s as f64 - y0) / yr);
        let chroma = |s: usize| (s as f64 - c0) / cr;
        let (kr, kb) = coefficients(e.matrix).unwrap_or((0.0, 0.0));
        let kg = 1.0 - kr - kb;
        let build = |k: f64| (0..n).map(|s| fix(k * chroma(s))).collect::<Vec<i32>>();
        Ok(Tables {
            mask: n - 1,
            y: (0..n).map(luma).collect(),
            r_v: build(2.0 * (1.0 - kr)),
            g_v: build(2.0 * (1.0 - kr) * kr / kg.max(1e-6)),
            g_u: build(2.0 * (1.0 - kb) * kb / kg.max(1e-6)),
            b_u: build(2.0 * (1.0 - kb)),
            identity: coefficients(e.matrix).is_none(),
        })
    }

    fn get(t: &[i32], mask: usize, s: usize) -> i32 {
        t.get(s & mask).copied().unwrap_or(0)
    }

    /// One pixel from its three samples.
    fn rgb(&self, y: usize, u: Option<usize>, v: Option<usize>) -> [u8; 3] {
        let m = self.mask;
        let to8 = |x: i32| ((x + (1 << (SHIFT - 1))) >> SHIFT).clamp(0, 255) as u8;
        let yy = Self::get(&self.y, m, y);
        match (u, v) {
            (Some(u), Some(v)) if self.identity => {
                [to8(Self::get(&self.y, m, v)), to8(yy), to8(Self::get(&self.y, m, u))]
            }
            (Some(u), Some(v)) => {
                let r = yy + Self::get(&self.r_v, m, v);
                let g = yy - Self::get(&self.g_u, m, u) - Self::get(&self.g_v, m, v);
                let b = yy + Self::get(&self.b_u, m, u);
                [to8(r), to8(g), to8(b)]
            }
            _ => [to8(yy); 3],
        }
    }
}

/// Converts `width`×`height` pixels of `y`/`u`/`v` into `out` (3 or 4 bytes per pixel; with 4 the alpha
/// byte is set to opaque, for [`fill_alpha`] to overwrite).
#[allow(clippy::too_many_arguments)]
pub fn to_rgb(
    planes: [Option<Plane>; 3],
    chroma: Chroma,
    enc: Encoding,
    width: usize,
    height: usize,
    out: &mut [u8],
    channels: usize,
) -> Result<(), PipelineError> {
    let t = Tables::new(enc)?;
    let [Some(yp), up, vp] = planes else { return Err(PipelineError::Corrupt("AVIF: no luma plane".into())) };
    let (sx, sy) = match chroma {
        Chroma::Half => (1, 1),
        Chroma::HalfWidth => (1, 0),
        Chroma::Full | Chroma::Mono => (0, 0),
    };
    let uv = match (chroma, up, vp) {
        (Chroma::Mono, _, _) => None,
        (_, Some(u), Some(v)) => Some((u, v)),
        _ => return Err(PipelineError::Corrupt("AVIF: missing chroma planes".into())),
    };
    for (y, row_out) in out.chunks_exact_mut(width * channels).take(height).enumerate() {
        let yrow = yp.row(y);
        let crow = uv.map(|(u, v)| (u.row(y >> sy), v.row(y >> sy)));
        for (x, px) in row_out.chunks_exact_mut(channels).enumerate() {
            let luma = sample(yrow, x, yp.hbd);
            let (u, v) = match (crow, uv) {
                (Some((ur, vr)), Some((u, _))) => (Some(sample(ur, x >> sx, u.hbd)), Some(sample(vr, x >> sx, u.hbd))),
                _ => (None, None),
            };
            let rgb = t.rgb(luma, u, v);
            if let Some(dst) = px.get_mut(..3) {
                dst.copy_from_slice(&rgb);
            }
            if let Some(a) = px.get_mut(3) {
                *a = 255;
            }
        }
    }
    Ok(())
}

/// Writes the alpha plane `a` (its own depth and range) into byte 3 of every RGBA pixel of `out`.
pub fn fill_alpha(a: Plane, enc: Encoding, width: usize, height: usize, out: &mut [u8]) -> Result<(), PipelineError> {
    let t = Tables::new(Encoding { matrix: 1, ..enc })?;
    for (y, row_out) in out.chunks_exact_mut(width * 4).take(height).enumerate() {
        let arow = a.row(y);
        for (x, px) in row_out.chunks_exact_mut(4).enumerate() {
            if let Some(dst) = px.get_mut(3) {
                *dst = t.rgb(sample(arow, x, a.hbd), None, None)[0];
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert(samples: [u16; 3], enc: Encoding) -> [u8; 3] {
        let bytes = |s: u16| if enc.depth > 8 { s.to_le_bytes().to_vec() } else { vec![s as u8] };
        let (y, u, v) = (bytes(samples[0]), bytes(samples[1]), bytes(samples[2]));
        let hbd = enc.depth > 8;
        let planes = [&y, &u, &v].map(|d| Some(Plane { data: d.as_slice(), stride: d.len(), hbd }));
        let mut out = [0u8; 3];
        to_rgb(planes, Chroma::Full, enc, 1, 1, &mut out, 3).unwrap();
        out
    }

    #[test]
    fn known_colours_convert_as_h273_says() {
        let e = |depth, full_range, matrix| Encoding { depth, full_range, matrix };
        // (name, samples, encoding, expected RGB): values worked out from the H.273 equations by hand.
        let rows: &[(&str, [u16; 3], Encoding, [u8; 3])] = &[
            ("limited 8-bit black", [16, 128, 128], e(8, false, 1), [0, 0, 0]),
            ("limited 8-bit white", [235, 128, 128], e(8, false, 1), [255, 255, 255]),
            ("full 8-bit mid grey", [128, 128, 128], e(8, true, 6), [128, 128, 128]),
            ("full BT.601 red", [76, 85, 255], e(8, true, 6), [254, 0, 0]),
            ("limited BT.709 red", [63, 102, 240], e(8, false, 1), [255, 0, 0]),
            ("full 10-bit white", [1023, 512, 512], e(10, true, 1), [255, 255, 255]),
            ("limited 12-bit black", [256, 2048, 2048], e(12, false, 9), [0, 0, 0]),
            ("identity matrix is GBR", [200, 50, 100], e(8, true, 0), [100, 200, 50]),
            ("unspecified matrix is BT.601", [76, 85, 255], e(8, true, 2), [254, 0, 0]),
        ];
        for (name, samples, enc, want) in rows {
            let got = convert(*samples, *enc);
            let close = got.iter().zip(want).all(|(g, w)| g.abs_diff(*w) <= 1);
            assert!(close, "{name}: got {got:?}, want {want:?}");
        }
    }

    #[test]
    fn subsampled_and_mono_planes_are_upsampled_by_replication() {
        // A 3×2 image: Y ramps; 4:2:0 chroma is 2×1, so columns 0–1 share chroma 0 and column 2 chroma 1.
        let y = [100u8, 110, 120, 130, 140, 150];
        let (u, v) = ([128u8, 100], [128u8, 200]);
        let enc = Encoding { depth: 8, full_range: true, matrix: 6 };
        fn plane(data: &[u8], stride: usize) -> Option<Plane<'_>> {
            Some(Plane { data, stride, hbd: false })
        }
        let mut out = [0u8; 18];
        to_rgb([plane(&y, 3), plane(&u, 2), plane(&v, 2)], Chroma::Half, enc, 3, 2, &mut out, 3).unwrap();
        let grey = |px: &[u8]| px[0] == px[1] && px[1] == px[2];
        assert!(grey(&out[0..3]) && grey(&out[3..6]) && grey(&out[9..12]), "neutral chroma is grey: {out:?}");
        assert!(out[6] > out[8] && out[15] > out[17], "column 2 takes the second (red) chroma: {out:?}");
        let mut mono = [0u8; 24];
        to_rgb([plane(&y, 3), None, None], Chroma::Mono, enc, 3, 2, &mut mono, 4).unwrap();
        let want: Vec<u8> = y.iter().flat_map(|v| [*v, *v, *v, 255]).collect();
        assert_eq!(mono.to_vec(), want, "4:0:0 is grey, opaque");
    }

    #[test]
    fn depths_outside_8_to_12_are_refused() {
        let enc = Encoding { depth: 16, full_range: true, matrix: 1 };
        assert!(matches!(Tables::new(enc), Err(PipelineError::Unsupported(_))));
    }
}
