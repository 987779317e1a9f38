//! Row-streaming PNG decode and box shrink: PNGs generated here with the `png` crate (every colour type
//! and bit depth), a hand-built Adam7 file, and corpus PNGs, checked against the `image` crate's whole
//! decode as an independent oracle and against a floating-point box average written out here.

use png::{BitDepth, ColorType};

use super::*;
use crate::pipeline::probe::inspect;
use crate::pipeline::quality::{ssim, Pair};
use crate::pipeline::resize::{crop_resize, SourceBox};
use crate::pipeline::test_util::corpus;
use crate::plan::Rgb;

/// Deterministic bytes covering every bit pattern (a 32-bit LCG's high byte).
fn noise(len: usize, seed: u32) -> Vec<u8> {
    let mut s = seed;
    (0..len)
        .map(|_| {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (s >> 24) as u8
        })
        .collect()
}

/// A PNG in one colour type and depth, from raw packed rows.
struct Spec<'a> {
    color: ColorType,
    depth: BitDepth,
    palette: Option<Vec<u8>>,
    trns: Option<&'a [u8]>,
}

fn encode(width: u32, height: u32, spec: &Spec, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut e = png::Encoder::new(&mut out, width, height);
    e.set_color(spec.color);
    e.set_depth(spec.depth);
    if let Some(p) = &spec.palette {
        e.set_palette(p.clone());
    }
    if let Some(t) = spec.trns {
        e.set_trns(t.to_vec());
    }
    let mut w = e.write_header().expect("header");
    w.write_image_data(data).expect("data");
    w.finish().expect("finish");
    out
}

/// Packed row bytes for `width` pixels.
fn row_bytes(width: u32, spec: &Spec) -> usize {
    let samples = match spec.color {
        ColorType::Grayscale | ColorType::Indexed => 1,
        ColorType::GrayscaleAlpha => 2,
        ColorType::Rgb => 3,
        ColorType::Rgba => 4,
    };
    (width as usize * samples * spec.depth as usize).div_ceil(8)
}

fn decode_bytes(input: &[u8], hint: f64) -> Result<Raster, PipelineError> {
    let info = inspect(input)?;
    decode(input, &info, hint)
}

/// The `image` crate's whole decode, as RGBA.
fn oracle(input: &[u8]) -> image::RgbaImage {
    image::load_from_memory_with_format(input, image::ImageFormat::Png).expect("oracle decodes").into_rgba8()
}

fn max_diff(ours: &Raster, oracle: &image::RgbaImage) -> u8 {
    assert_eq!((ours.width, ours.height), oracle.dimensions(), "size");
    let ours = ours.with_alpha();
    ours.data.iter().zip(oracle.as_raw()).map(|(a, b)| a.abs_diff(*b)).max().unwrap_or(0)
}

fn spec(color: ColorType, depth: BitDepth) -> Spec<'static> {
    let palette = (color == ColorType::Indexed).then(|| noise(3 << depth as usize, 7));
    Spec { color, depth, palette, trns: None }
}

#[test]
fn every_colour_type_and_depth_decodes_like_the_image_crate() {
    use BitDepth::*;
    use ColorType::*;
    let (w, h) = (13, 7);
    // (name, spec, has alpha); tRNS rows take their transparent colour from the first pixel below.
    let rows = vec![
        ("grey 1-bit", spec(Grayscale, One), false),
        ("grey 2-bit", spec(Grayscale, Two), false),
        ("grey 4-bit", spec(Grayscale, Four), false),
        ("grey 8-bit", spec(Grayscale, Eight), false),
        ("grey 16-bit", spec(Grayscale, Sixteen), false),
        ("grey+alpha 8-bit", spec(GrayscaleAlpha, Eight), true),
        ("grey+alpha 16-bit", spec(GrayscaleAlpha, Sixteen), true),
        ("rgb 8-bit", spec(Rgb, Eight), false),
        ("rgb 16-bit", spec(Rgb, Sixteen), false),
        ("rgba 8-bit", spec(Rgba, Eight), true),
        ("rgba 16-bit", spec(Rgba, Sixteen), true),
        ("palette 1-bit", spec(Indexed, One), false),
        ("palette 2-bit", spec(Indexed, Two), false),
        ("palette 4-bit", spec(Indexed, Four), false),
        ("palette 8-bit", spec(Indexed, Eight), false),
    ];
    for (name, s, alpha) in rows {
        let data = noise(row_bytes(w, &s) * h as usize, 1);
        let png = encode(w, h, &s, &data);
        let ours = decode_bytes(&png, 1.0).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(ours.alpha, alpha, "{name}: alpha");
        // 16-bit samples are rounded to 8 bits; the oracle may round the other way on a tie.
        let tolerance = if s.depth == Sixteen { 1 } else { 0 };
        assert!(max_diff(&ours, &oracle(&png)) <= tolerance, "{name}: pixels differ from the oracle");
    }
}

#[test]
fn transparency_chunks_become_alpha_like_the_image_crate() {
    use BitDepth::*;
    use ColorType::*;
    let (w, h) = (13, 7);
    let rows: Vec<(&str, Spec, usize)> = vec![
        // (name, spec without tRNS, palette: tRNS entries; grey/RGB: data bytes of the transparent colour)
        ("palette 8-bit, full tRNS", spec(Indexed, Eight), 256),
        ("palette 4-bit, short tRNS", spec(Indexed, Four), 11),
        ("grey 8-bit tRNS", spec(Grayscale, Eight), 1),
        ("grey 16-bit tRNS", spec(Grayscale, Sixteen), 2),
        ("rgb 8-bit tRNS", spec(Rgb, Eight), 3),
        ("rgb 16-bit tRNS", spec(Rgb, Sixteen), 6),
    ];
    for (name, mut s, key_len) in rows {
        let data = noise(row_bytes(w, &s) * h as usize, 3);
        // Grey/RGB tRNS is one 16-bit value per sample: the first pixel's, so some pixel is transparent.
        let key: Vec<u8> = match (s.color, s.depth) {
            // Every other palette entry fully transparent, the rest partly; entries past the end opaque.
            (Indexed, _) => noise(key_len, 9).iter().enumerate().map(|(i, a)| if i % 2 == 0 { 0 } else { *a }).collect(),
            (_, Sixteen) => data[..key_len].to_vec(),
            _ => data[..key_len].iter().flat_map(|b| [0, *b]).collect(),
        };
        s.trns = Some(&key);
        let png = encode(w, h, &s, &data);
        let ours = decode_bytes(&png, 1.0).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(ours.alpha, "{name}: tRNS gives alpha");
        let tolerance = if s.depth == Sixteen { 1 } else { 0 };
        assert!(max_diff(&ours, &oracle(&png)) <= tolerance, "{name}: pixels differ from the oracle");
        assert!(ours.data.chunks_exact(4).any(|p| p[3] == 0), "{name}: some pixel is transparent");
    }
}

/// The box average written out in floating point: premultiplied mean, un-premultiplied, rounded.
fn reference_shrink(full: &image::RgbaImage, k: u32) -> Vec<[f64; 4]> {
    let (w, h) = full.dimensions();
    let mut out = Vec::new();
    for by in (0..h).step_by(k as usize) {
        for bx in (0..w).step_by(k as usize) {
            let (mut sum, mut n) = ([0.0f64; 4], 0.0);
            for y in by..(by + k).min(h) {
                for x in bx..(bx + k).min(w) {
                    let p = full.get_pixel(x, y).0.map(f64::from);
                    (0..3).for_each(|i| sum[i] += p[i] * p[3]);
                    sum[3] += p[3];
                    n += 1.0;
                }
            }
            let colour = |c: f64| if sum[3] == 0.0 { 0.0 } else { c / sum[3] };
            out.push([colour(sum[0]), colour(sum[1]), colour(sum[2]), sum[3] / n]);
        }
    }
    out
}

#[test]
fn box_shrink_matches_a_floating_point_box_average() {
    use BitDepth::*;
    use ColorType::*;
    // (name, width, height, hint, spec)
    let rows = vec![
        ("k divides both sides, rgba", 12, 8, 4.0, spec(Rgba, Eight)),
        ("partial right and bottom blocks, rgba", 13, 7, 3.0, spec(Rgba, Eight)),
        ("fractional hint rounds down, rgb", 13, 11, 2.7, spec(Rgb, Eight)),
        ("16-bit grey+alpha", 9, 9, 2.0, spec(GrayscaleAlpha, Sixteen)),
        ("palette, one block per image", 5, 5, 5.0, spec(Indexed, Four)),
        ("single row", 9, 1, 2.0, spec(Rgb, Eight)),
    ];
    for (name, w, h, hint, s) in rows {
        let png = encode(w, h, &s, &noise(row_bytes(w, &s) * h as usize, 5));
        let k = png_shrink(hint) as u32;
        let ours = decode_bytes(&png, hint).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!((ours.width, ours.height), (w.div_ceil(k), h.div_ceil(k)), "{name}: size");
        let want = reference_shrink(&oracle(&png), k);
        let ours = ours.with_alpha();
        for (i, (got, want)) in ours.data.chunks_exact(4).zip(&want).enumerate() {
            // 16-bit sources are rounded to 8 bits per pixel before averaging, the reference after.
            let tolerance = if s.depth == Sixteen { 1.0 } else { 0.5 };
            let ok = got.iter().zip(want).all(|(g, w)| (f64::from(*g) - w).abs() <= tolerance + 1e-9);
            assert!(ok, "{name}: pixel {i} is {got:?}, want {want:?}");
        }
    }
}

/// An 8-bit RGB or RGBA PNG `width` pixels wide from its pixels, rows top to bottom.
fn tiny(width: u32, color: ColorType, px: &[u8]) -> Vec<u8> {
    let channels = if color == ColorType::Rgba { 4 } else { 3 };
    let height = (px.len() / channels) as u32 / width;
    encode(width, height, &Spec { color, depth: BitDepth::Eight, palette: None, trns: None }, px)
}

#[test]
fn alpha_is_averaged_premultiplied() {
    const CLEAR_RED: [u8; 4] = [255, 0, 0, 0];
    const BLUE: [u8; 4] = [0, 0, 255, 255];
    const HALF_GREEN: [u8; 4] = [0, 255, 0, 128];
    // (name, 2×2 block row by row, the one pixel it shrinks to)
    let rows = [
        ("transparent red beside opaque blue stays blue", [CLEAR_RED, BLUE, CLEAR_RED, BLUE], [0, 0, 255, 128]),
        ("all transparent is transparent black", [CLEAR_RED; 4], [0, 0, 0, 0]),
        ("colour weighted by alpha", [HALF_GREEN, BLUE, HALF_GREEN, BLUE], [0, 85, 170, 192]),
        ("opaque is a plain mean", [BLUE, BLUE, [100, 0, 0, 255], [0, 0, 0, 255]], [25, 0, 128, 255]),
    ];
    for (name, block, want) in rows {
        let png = tiny(2, ColorType::Rgba, &block.concat());
        let ours = decode_bytes(&png, 2.0).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!((ours.width, ours.height, ours.alpha), (1, 1, true), "{name}");
        assert_eq!(ours.data, want, "{name}");
    }
}

#[test]
fn a_partial_last_block_averages_only_its_own_pixels() {
    // 3×1 RGB shrunk by 2: the second output pixel is the third source pixel alone.
    let png = tiny(3, ColorType::Rgb, &[10, 20, 30, 30, 40, 50, 200, 100, 0]);
    let ours = decode_bytes(&png, 2.0).unwrap();
    assert_eq!((ours.width, ours.height, ours.alpha), (2, 1, false));
    assert_eq!(ours.data, vec![20, 30, 40, 200, 100, 0]);
}

#[test]
fn shrink_factor_is_the_whole_part_of_the_hint_capped() {
    let rows = [(0.5, 1), (1.0, 1), (1.99, 1), (2.0, 2), (3.7, 3), (8.0, 8), (1000.0, MAX_BOX)];
    for (hint, want) in rows {
        assert_eq!(png_shrink(hint), want, "hint {hint}");
    }
}
