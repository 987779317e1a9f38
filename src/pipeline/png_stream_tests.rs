//! Row-streaming PNG decode and box shrink: PNGs generated here with the `png` crate (every colour type
//! and bit depth), a hand-built Adam7 file, and corpus PNGs, checked against the `image` crate's whole
//! decode as an independent oracle and against a floating-point box average written out here.

use png::{BitDepth, ColorType};

use super::*;
use crate::pipeline::probe::inspect;
use crate::pipeline::probe::SourceInfo;
use crate::pipeline::quality::{ssim, Pair};
use crate::pipeline::resize::{crop_resize, SourceBox};
use crate::pipeline::test_util::corpus;
use crate::plan::{ImageFormat, OutputRules, Processing, Rgb};

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

fn decode_bytes(input: &[u8], k: usize) -> Result<Raster, PipelineError> {
    let info = inspect(input)?;
    decode_boxed(input, &info, k)
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
        let ours = decode_bytes(&png, 1).unwrap_or_else(|e| panic!("{name}: {e}"));
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
            (Indexed, _) => {
                noise(key_len, 9).iter().enumerate().map(|(i, a)| if i % 2 == 0 { 0 } else { *a }).collect()
            }
            (_, Sixteen) => data[..key_len].to_vec(),
            _ => data[..key_len].iter().flat_map(|b| [0, *b]).collect(),
        };
        s.trns = Some(&key);
        let png = encode(w, h, &s, &data);
        let ours = decode_bytes(&png, 1).unwrap_or_else(|e| panic!("{name}: {e}"));
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
    // (name, width, height, k, spec)
    let rows = vec![
        ("k divides both sides, rgba", 12, 8, 4, spec(Rgba, Eight)),
        ("partial right and bottom blocks, rgba", 13, 7, 3, spec(Rgba, Eight)),
        ("partial blocks, rgb", 13, 11, 2, spec(Rgb, Eight)),
        ("16-bit grey+alpha", 9, 9, 2, spec(GrayscaleAlpha, Sixteen)),
        ("palette, one block per image", 5, 5, 5, spec(Indexed, Four)),
        ("single row", 9, 1, 2, spec(Rgb, Eight)),
    ];
    for (name, w, h, k, s) in rows {
        let png = encode(w, h, &s, &noise(row_bytes(w, &s) * h as usize, 5));
        let ours = decode_bytes(&png, k as usize).unwrap_or_else(|e| panic!("{name}: {e}"));
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
        let ours = decode_bytes(&png, 2).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!((ours.width, ours.height, ours.alpha), (1, 1, true), "{name}");
        assert_eq!(ours.data, want, "{name}");
    }
}

#[test]
fn a_partial_last_block_averages_only_its_own_pixels() {
    // 3×1 RGB shrunk by 2: the second output pixel is the third source pixel alone.
    let png = tiny(3, ColorType::Rgb, &[10, 20, 30, 30, 40, 50, 200, 100, 0]);
    let ours = decode_bytes(&png, 2).unwrap();
    assert_eq!((ours.width, ours.height, ours.alpha), (2, 1, false));
    assert_eq!(ours.data, vec![20, 30, 40, 200, 100, 0]);
}

#[test]
fn shrink_factor_is_half_the_hint_at_least_two_and_capped() {
    let rows = [(0.5, 1), (1.0, 1), (1.99, 1), (2.0, 2), (3.7, 2), (5.12, 2), (6.0, 3), (8.0, 4), (1000.0, MAX_BOX)];
    for (hint, want) in rows {
        assert_eq!(png_shrink(hint), want, "hint {hint}");
    }
}

/// A PNG chunk: length, type, data, CRC over type and data.
fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32fast::hash(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// An Adam7-interlaced 8-bit RGB PNG, written by hand (the `png` crate's encoder does not interlace).
fn adam7_rgb(width: u32, height: u32, rgb: &[u8]) -> Vec<u8> {
    use std::io::Write;
    // (x0, y0, dx, dy) of the seven passes.
    const PASSES: [(u32, u32, u32, u32); 7] =
        [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)];
    let mut raw = Vec::new();
    for (x0, y0, dx, dy) in PASSES {
        if x0 >= width || y0 >= height {
            continue; // an empty pass has no rows at all, not even filter bytes
        }
        for y in (y0..height).step_by(dy as usize) {
            raw.push(0); // filter: none
            for x in (x0..width).step_by(dx as usize) {
                let at = ((y * width + x) * 3) as usize;
                raw.extend_from_slice(&rgb[at..at + 3]);
            }
        }
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(&raw).expect("deflate");
    let mut out = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 1]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &z.finish().expect("deflate"));
    chunk(&mut out, b"IEND", &[]);
    out
}

#[test]
fn interlaced_files_fall_back_to_the_whole_decode() {
    let (w, h) = (11, 9);
    let png = adam7_rgb(w, h, &noise((w * h * 3) as usize, 11));
    let oracle = oracle(&png);
    for k in [1, 3] {
        let ours = decode_bytes(&png, k).unwrap();
        // The fallback ignores the box: the resize step does all of the shrinking.
        assert_eq!(max_diff(&ours, &oracle), 0, "k {k}");
    }
}

/// A small PNG with a palette, tRNS and several IDAT chunks' worth of rows.
fn small_png() -> Vec<u8> {
    let s = Spec { trns: Some(&[0, 128, 255]), ..spec(ColorType::Indexed, BitDepth::Four) };
    encode(17, 9, &s, &noise(row_bytes(17, &s) * 9, 13))
}

#[test]
fn every_prefix_of_a_png_is_an_error_or_the_whole_image() {
    let png = small_png();
    let info = inspect(&png).unwrap();
    for k in [1, 3] {
        let whole = decode_boxed(&png, &info, k).unwrap();
        for len in 0..png.len() {
            // Cut after the last IDAT, the pixels are all there; anything shorter must be refused.
            if let Ok(r) = decode_boxed(&png[..len], &info, k) {
                assert_eq!(r, whole, "prefix {len} of {} decoded to something else", png.len());
            }
        }
    }
}

/// The chunk type each byte of a PNG belongs to (the signature counts as "sig").
fn chunk_of_each_byte(png: &[u8]) -> Vec<[u8; 4]> {
    let mut kinds = vec![*b"sig "; 8];
    let mut at = 8;
    while at + 8 <= png.len() {
        let len = u32::from_be_bytes([png[at], png[at + 1], png[at + 2], png[at + 3]]) as usize;
        let kind = [png[at + 4], png[at + 5], png[at + 6], png[at + 7]];
        kinds.extend(std::iter::repeat_n(kind, len + 12));
        at += len + 12;
    }
    kinds
}

#[test]
fn flipped_bytes_in_critical_chunks_are_refused_and_others_never_panic() {
    let png = small_png();
    let info = inspect(&png).unwrap();
    let kinds = chunk_of_each_byte(&png);
    for (at, kind) in kinds.iter().enumerate().skip(8) {
        let mut bad = png.clone();
        bad[at] ^= 0x5A;
        let result = decode_boxed(&bad, &info, 2);
        match (kind, result) {
            // Pixels, palette and header are checked (CRC, zlib's Adler-32, the probe's size).
            (b"IHDR" | b"PLTE" | b"IDAT", r) => assert!(r.is_err(), "flip at {at} in {kind:?} accepted"),
            // A damaged tRNS is skipped like any ancillary chunk; IEND comes after the pixels.
            (_, Ok(r)) => assert_eq!((r.width, r.height), (9, 5), "flip at {at}"),
            (_, Err(_)) => {}
        }
    }
}

#[test]
fn apng_yields_its_default_image() {
    let png = corpus("formats/iss634.apng");
    let ours = decode_bytes(&png, 1).unwrap();
    assert_eq!(max_diff(&ours, &oracle(&png)), 0);
}

/// Luma SSIM of two rasters of the same size, both flattened on mid grey so transparent pixels compare.
fn ssim_flat(a: Raster, b: Raster) -> f64 {
    assert_eq!((a.width, a.height), (b.width, b.height), "size");
    let grey = Rgb { r: 128, g: 128, b: 128 };
    let (a, b) = (a.flatten(grey), b.flatten(grey));
    let pair = Pair { width: a.width as usize, height: a.height as usize, channels: 3, a: &a.data, b: &b.data };
    ssim(pair).expect("same size")
}

/// Resizes a decoded raster of `info`'s source to `tw`×`th` as the pipeline's crop-and-resize step does:
/// the whole source, mapped onto the decoded pixels through [`covered`].
fn resized(r: Raster, info: &SourceInfo, hint: f64, (tw, th): (u32, u32)) -> Raster {
    let (w, h) = (info.probe.width, info.probe.height);
    let from = covered(info, hint, (r.width, r.height));
    let whole = crate::pipeline::geometry::Rect { x: 0, y: 0, width: w, height: h };
    let region = SourceBox::rescaled(whole, from, (r.width, r.height));
    crop_resize(r, region, tw, th).unwrap()
}

#[test]
fn corpus_pngs_streamed_and_shrunk_match_the_whole_decode_resized() {
    // (file, target width): the target height keeps the aspect ratio.
    let rows = [
        ("photos/sharp_paper_2048x1536.png", 400),
        ("formats/ukui-city.png", 500),
        ("formats/plasma-IceCold-rgba-5120.png", 800),
        ("formats/i_trns.png", 20),
        ("formats/iss634.apng", 100),
    ];
    for (file, tw) in rows {
        let png = corpus(file);
        let info = inspect(&png).unwrap();
        let (w, h) = (info.probe.width, info.probe.height);
        let th = ((f64::from(h) * f64::from(tw) / f64::from(w)).round() as u32).max(1);
        let hint = (f64::from(w) / f64::from(tw)).min(f64::from(h) / f64::from(th));
        let streamed = decode(&png, &info, hint).unwrap();
        let k = box_side(&info, hint) as u32;
        assert_eq!((streamed.width, streamed.height), (w.div_ceil(k), h.div_ceil(k)), "{file}: decoded size");
        assert!(streamed.width >= tw && streamed.height >= th, "{file}: never below the target");
        let reference = crate::pipeline::decode::decode_with_image(&png, &info, image::ImageFormat::Png).unwrap();
        let s = ssim_flat(resized(streamed, &info, hint, (tw, th)), resized(reference, &info, hint, (tw, th)));
        assert!(s >= 0.99, "{file}: SSIM {s}");
    }
}

#[test]
fn the_pipeline_resizes_a_streamed_png_to_the_exact_size() {
    use crate::pipeline::test_util::{decoded, plan, run_ok};
    // 3640×2400 RGBA: above WHOLE_FRAME_BYTES, so box-shrunk.
    let png = corpus("formats/ukui-city.png");
    let rows = [
        ("fit 400 (box 4, 910x600 decoded)", Processing { width: 400, ..Processing::default() }, (400, 264)),
        ("fill 300x300 (crop on the shrunk image)", Processing { width: 300, height: 300, ..fill() }, (300, 300)),
        ("fit 1820 (box 2 exactly)", Processing { width: 1820, ..Processing::default() }, (1820, 1200)),
    ];
    for (name, process, size) in rows {
        let out =
            run_ok(&plan(process, OutputRules { format: Some(ImageFormat::Png), ..OutputRules::default() }), &png);
        assert_eq!((out.width, out.height), size, "{name}");
        // The image is the city, not a blank: the crop landed on the decoded pixels.
        let img = decoded(&out);
        let luma = |p: &image::Rgba<u8>| u32::from(p.0[0]) + u32::from(p.0[1]) + u32::from(p.0[2]);
        let (lo, hi) = img.pixels().fold((u32::MAX, 0), |(lo, hi), p| (lo.min(luma(p)), hi.max(luma(p))));
        assert!(hi - lo > 300, "{name}: contrast {lo}..{hi}");
    }
}

fn fill() -> crate::plan::Processing {
    crate::plan::Processing { resize_type: crate::plan::ResizeType::Fill, ..crate::plan::Processing::default() }
}

/// SSIM of box k then Lanczos3 against Lanczos3 alone, for every k up to the hint, on corpus PNGs (the
/// evidence for [`REDUCING_GAP`]): `cargo test --release --lib png_stream::tests::box_factor_ssim_probe
/// -- --ignored --nocapture`
#[test]
#[ignore]
fn box_factor_ssim_probe() {
    let files = std::env::var("PNG_PROBE_FILES").unwrap_or_else(|_| {
        "photos/sharp_paper_2048x1536.png,formats/ukui-city.png,formats/plasma-IceCold-rgba-5120.png".into()
    });
    for file in files.split(',') {
        let png = corpus(file);
        let info = inspect(&png).unwrap();
        let (w, h) = (info.probe.width, info.probe.height);
        let reference = crate::pipeline::decode::decode_with_image(&png, &info, image::ImageFormat::Png).unwrap();
        for tw in [w / 2 - 30, w * 10 / 25, w / 3 + 50, w / 3 - 30, w / 5, w / 8, w / 12] {
            let th = ((f64::from(h) * f64::from(tw) / f64::from(w)).round() as u32).max(1);
            let want = resized(reference.clone(), &info, 1.0, (tw, th));
            let hint = f64::from(w) / f64::from(tw);
            let mut line = format!("{file} {tw} hint {hint:.2}:");
            for k in 2..=(hint.floor() as usize) {
                // A hint of 2k asks `covered` for box k.
                let boxed = decode_boxed(&png, &info, k).unwrap();
                let s = ssim_flat(resized(boxed, &info, 2.0 * k as f64, (tw, th)), want.clone());
                line += &format!(" k{k}={s:.4}");
            }
            eprintln!("{line}");
        }
    }
}

/// Peak RSS of this process so far (`VmHWM`), in MiB.
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.trim().strip_suffix("kB"));
    kb.and_then(|v| v.trim().parse::<f64>().ok()).unwrap_or(0.0) / 1024.0
}

/// CPU time of this process so far (user + system, `/proc/self/stat`, 100 ticks a second), in ms:
/// unlike wall time, barely moved by other processes competing for the cores.
fn cpu_ms() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<f64> = after_name.split_whitespace().filter_map(|f| f.parse().ok()).collect();
    // utime and stime are fields 14 and 15 of the line, 11 and 12 after the state letter.
    fields.get(10..12).map_or(0.0, |t| (t[0] + t[1]) * 10.0)
}

/// One PNG → `width` px WebP q75 conversion: through [`crate::pipeline::run`] (`pipeline`), or the same
/// resize and encode after the streamed decode (`stream`) or after the `image` crate's whole decode
/// (`whole`, what the pipeline did before this module).
fn convert(png: &[u8], width: u32, mode: &str) -> (u32, u32, usize) {
    let rules = OutputRules { format: Some(ImageFormat::Webp), quality: 75, ..OutputRules::default() };
    if mode == "pipeline" {
        let plan = crate::pipeline::test_util::plan(Processing { width, ..Processing::default() }, rules);
        let out = crate::pipeline::test_util::run_ok(&plan, png);
        return (out.width, out.height, out.bytes.len());
    }
    let info = inspect(png).unwrap();
    let (w, h) = (info.probe.width, info.probe.height);
    let th = (f64::from(h) * f64::from(width) / f64::from(w)).round() as u32;
    let hint = (f64::from(w) / f64::from(width)).min(f64::from(h) / f64::from(th));
    if mode == "decode" {
        let img = decode(png, &info, hint).unwrap();
        return (img.width, img.height, img.data.len());
    }
    let img = match mode {
        "whole" => crate::pipeline::decode::decode_with_image(png, &info, image::ImageFormat::Png).unwrap(),
        _ => decode(png, &info, hint).unwrap(),
    };
    let small = resized(img, &info, hint, (width, th));
    let bytes = crate::pipeline::encode::encode(&small, ImageFormat::Webp, &rules).unwrap();
    (small.width, small.height, bytes.len())
}

/// Peak RSS of one large PNG → 800 px WebP, one mode per process (`PNG_PROBE_MODE` = pipeline, stream
/// or whole; `PNG_PROBE_FILE` = a PNG path, default the corpus' 5120×2880 RGBA PNG):
/// `PNG_PROBE_MODE=whole cargo test --release --lib png_stream::tests::peak_rss_probe -- --ignored --nocapture`
#[test]
#[ignore]
fn peak_rss_probe() {
    let mode = std::env::var("PNG_PROBE_MODE").unwrap_or_else(|_| "pipeline".into());
    let png = match std::env::var("PNG_PROBE_FILE") {
        Ok(path) => std::fs::read(path).unwrap(),
        Err(_) => corpus("formats/plasma-IceCold-rgba-5120.png"),
    };
    let before = peak_rss_mib();
    let start = std::time::Instant::now();
    let (w, h, bytes) = convert(&png, 800, &mode);
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    eprintln!(
        "mode {mode}: {w}x{h}, {bytes} bytes, {ms:.1} ms, peak RSS {before:.1} MiB before, {:.1} MiB after",
        peak_rss_mib()
    );
}

/// The benchmark's "3MP PNG alpha -> 400px WebP q75" timed three ways in one process, median of 15
/// after a warm-up, then libvips on the same workload right after (`scripts/bench_libvips.py`, one
/// thread, when the checkout's `.venv` has pyvips) and the SSIM of our output against libvips':
/// `cargo test --release --lib png_stream::tests::png_bench_probe -- --ignored --nocapture`
#[test]
#[ignore]
fn png_bench_probe() {
    let file = "photos/sharp_paper_2048x1536.png";
    let png = corpus(file);
    for mode in ["pipeline", "stream", "whole", "pipeline", "stream", "whole"] {
        let out = convert(&png, 400, mode);
        let times = crate::pipeline::test_util::times_ms(15, || {
            std::hint::black_box(convert(&png, 400, mode));
        });
        let cpu = cpu_ms();
        for _ in 0..30 {
            std::hint::black_box(convert(&png, 400, mode));
        }
        let cpu = (cpu_ms() - cpu) / 30.0;
        eprintln!("{mode}: median {:.1} ms, min {:.1} ms, CPU {cpu:.1} ms, {out:?}", times[7], times[0]);
    }
    let root = env!("CARGO_MANIFEST_DIR");
    let dir = std::env::temp_dir().join(format!("png_bench_probe_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (ours, theirs) = (dir.join("ours.webp"), dir.join("libvips.webp"));
    let rules = OutputRules { format: Some(ImageFormat::Webp), quality: 75, ..OutputRules::default() };
    let plan = crate::pipeline::test_util::plan(Processing { width: 400, ..Processing::default() }, rules);
    std::fs::write(&ours, crate::pipeline::test_util::run_ok(&plan, &png).bytes).unwrap();
    // libvips' CPU time per image: a run of 31 iterations less a run of 1 (start-up and warm-up cancel).
    let libvips = |iterations: &str| {
        let out = std::process::Command::new("/usr/bin/time")
            .args(["-f", "cpu %U %S", &format!("{root}/.venv/bin/python")])
            .env("VIPS_CONCURRENCY", "1")
            .args([&format!("{root}/scripts/bench_libvips.py"), "--file", &format!("{root}/../shared/corpus/{file}")])
            .args(["--format", "webp", "--width", "400", "--quality", "75", "--iterations", iterations, "--save"])
            .arg(&theirs)
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
        eprint!("libvips x{iterations}: {text}");
        let line = text.lines().find_map(|l| l.strip_prefix("cpu "))?.to_owned();
        let t: Vec<f64> = line.split_whitespace().filter_map(|v| v.parse().ok()).collect();
        out.status.success().then(|| t.iter().sum::<f64>() * 1000.0)
    };
    let status = match (libvips("1"), libvips("31")) {
        (Some(one), Some(many)) => {
            eprintln!("libvips CPU per image: {:.1} ms", (many - one) / 30.0);
            Ok(())
        }
        _ => Err(()),
    };
    if status.is_ok() {
        let flat = |p: &std::path::Path| {
            let img = image::open(p).unwrap().into_rgba8();
            let (width, height) = img.dimensions();
            Raster { width, height, alpha: true, data: img.into_raw() }.flatten(Rgb { r: 255, g: 255, b: 255 })
        };
        let (a, b) = (flat(&ours), flat(&theirs));
        let pair = Pair { width: a.width as usize, height: a.height as usize, channels: 3, a: &a.data, b: &b.data };
        eprintln!("SSIM ours vs libvips (on white): {:?}", ssim(pair));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// What the memory budget counts for a PNG (`held_bytes`) covers what the streamed decode really
/// holds, and stays far below the full frame that a budget used to count; an interlaced twin (decoded
/// whole) counts its whole frame.
#[test]
fn held_bytes_cover_the_streamed_decode_far_below_the_frame() {
    let png = corpus("formats/plasma-IceCold-rgba-5120.png");
    let info = inspect(&png).unwrap();
    let frame = 5120 * 2880 * 4;
    for hint in [2.0, 6.4] {
        let k = box_side(&info, hint) as u32;
        let r = decode(&png, &info, hint).unwrap();
        assert_eq!((r.width, r.height), (5120_u32.div_ceil(k), 2880_u32.div_ceil(k)), "hint {hint}: box {k}");
        let held = held_bytes(&info, hint);
        assert!(r.data.len() as u64 <= held, "hint {hint}: raster {} > counted {held}", r.data.len());
        assert!(held < frame / 3, "hint {hint}: {held} counted, the frame is {frame}");
    }
    let twin = SourceInfo { interlaced: true, ..info.clone() };
    assert_eq!(held_bytes(&twin, 6.4), frame, "Adam7: decoded whole");
    let small = inspect(&corpus("photos/sharp_paper_2048x1536.png")).unwrap();
    assert_eq!(held_bytes(&small, 6.4), 2048 * 1536 * 4, "under the threshold: decoded whole");
}

/// The box loop alone (rows pushed into `BoxShrink`, no PNG decode) on 5120×2880 RGBA and RGB at
/// k = 2 and 3, then the whole streamed decode of the corpus' 5120×2880 RGBA PNG for an 800 px result;
/// median ms of 7 (timing, not a check):
/// `cargo test --release --lib png_stream::tests::box_loop_probe -- --ignored --nocapture`
#[test]
#[ignore]
fn box_loop_probe() {
    use crate::pipeline::png_box::BoxShrink;
    use crate::pipeline::test_util::{median, times_ms};
    let (w, h) = (5120_u32, 2880_u32);
    for alpha in [true, false] {
        let row = noise(w as usize * if alpha { 4 } else { 3 }, 7);
        for k in [2, 3] {
            let ms = median(times_ms(7, || {
                let mut b = BoxShrink::new(w, h, k, alpha);
                for _ in 0..h {
                    b.push(&row).unwrap();
                }
                std::hint::black_box(b.finish().unwrap());
            }));
            eprintln!("box loop {w}x{h} alpha {alpha} k {k}: {ms:.1} ms");
        }
    }
    let png = corpus("formats/plasma-IceCold-rgba-5120.png");
    let info = inspect(&png).unwrap();
    let ms = median(times_ms(7, || drop(std::hint::black_box(decode(&png, &info, 6.4).unwrap()))));
    eprintln!("streamed decode of the 5120x2880 RGBA PNG, box {}: {ms:.1} ms", box_side(&info, 6.4));
}
