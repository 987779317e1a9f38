//! Decoder tests on the corpus, checked against the `image` crate as an independent decoder.

use super::*;
use crate::pipeline::probe::inspect;
use crate::pipeline::test_util::{corpus, later};

fn decode_file(path: &str, hint: f64) -> Result<Raster, PipelineError> {
    let input = corpus(path);
    let info = inspect(&input)?;
    decode(&input, &info, hint, later())
}

/// Mean absolute difference per RGB sample between our raster and the `image` crate's decode.
fn mean_diff_to_oracle(ours: &Raster, path: &str) -> f64 {
    let oracle = image::load_from_memory(&corpus(path)).expect("oracle decodes").into_rgba8();
    assert_eq!((oracle.width(), oracle.height()), (ours.width, ours.height), "{path}: size");
    let ours = ours.with_alpha();
    let sum: u64 = ours
        .data
        .chunks_exact(4)
        .zip(oracle.as_raw().chunks_exact(4))
        .map(|(a, b)| (0..3).map(|i| u64::from(a[i].abs_diff(b[i]))).sum::<u64>())
        .sum();
    sum as f64 / (f64::from(ours.width) * f64::from(ours.height) * 3.0)
}

#[test]
fn jpeg_shrink_picks_the_largest_factor_that_covers_the_need() {
    let rows = [(1.0, 1), (1.9, 1), (2.0, 2), (3.99, 2), (4.0, 4), (7.5, 4), (8.0, 8), (40.0, 8)];
    for (hint, want) in rows {
        assert_eq!(jpeg_shrink(hint), want, "hint {hint}");
    }
}

#[test]
fn jpeg_decodes_with_dct_scaling() {
    let r = decode_file("photos/eleph12mp.jpg", 10.0).unwrap();
    assert_eq!((r.width, r.height, r.alpha), (500, 375, false));
    assert_eq!(r.data.len(), 500 * 375 * 3);
}

#[test]
fn scaled_jpeg_keeps_whole_pixels_only_as_libvips() {
    // 2725×2225: libjpeg gives ceil(/k); libvips (and so imgproxy) resizes from floor(/k).
    for (hint, want) in [(2.0, (1362, 1112)), (4.0, (681, 556)), (8.0, (340, 278)), (1.0, (2725, 2225))] {
        let r = decode_file("photos/sharp_2725x2225.jpg", hint).unwrap();
        assert_eq!((r.width, r.height), want, "hint {hint}");
        assert_eq!(r.data.len(), want.0 as usize * want.1 as usize * 3, "hint {hint}");
    }
}

#[test]
fn jpeg_full_size_matches_the_oracle() {
    let r = decode_file("photos/mate-FreshFlower.jpg", 1.0).unwrap();
    assert_eq!((r.width, r.height), (1600, 1203));
    let d = mean_diff_to_oracle(&r, "photos/mate-FreshFlower.jpg");
    assert!(d < 2.0, "mean diff {d}");
}

#[test]
fn grayscale_jpeg_becomes_neutral_rgb() {
    let r = decode_file("photos/plasma-Grey-gray.jpg", 8.0).unwrap();
    assert_eq!((r.width, r.height), (320, 200));
    assert!(r.data.chunks_exact(3).all(|p| p[0] == p[1] && p[1] == p[2]));
}

#[test]
fn cmyk_jpeg_becomes_rgb_like_the_oracle() {
    let r = decode_file("formats/pil_sample_cmyk.jpg", 1.0).unwrap();
    assert_eq!((r.width, r.height, r.alpha), (100, 100, false));
    let d = mean_diff_to_oracle(&r, "formats/pil_sample_cmyk.jpg");
    assert!(d < 8.0, "mean diff {d}");
}

#[test]
fn webp_decodes_like_the_oracle_and_scales_on_load() {
    let r = decode_file("formats/flower2.webp", 1.0).unwrap();
    assert_eq!((r.width, r.height, r.alpha), (300, 225, false));
    let d = mean_diff_to_oracle(&r, "formats/flower2.webp");
    assert!(d < 2.0, "mean diff {d}");
    let r = decode_file("formats/gnome-licorice-4096.webp", 8.0).unwrap();
    assert_eq!((r.width, r.height), (512, 512));
}

#[test]
fn animated_sources_yield_their_first_frame() {
    for path in ["formats/iss634.webp", "formats/iss634.gif", "formats/chi.gif"] {
        let r = decode_file(path, 1.0).unwrap_or_else(|e| panic!("{path}: {e}"));
        // Never loses a see-through pixel (our GIF reader hands out an opaque frame as RGB; the oracle
        // always gives RGBA), and the alpha plane is the oracle's.
        let oracle = image::load_from_memory(&corpus(path)).expect("oracle decodes").into_rgba8();
        let see_through = oracle.pixels().any(|p| p[3] < 255);
        assert!(r.alpha || !see_through, "{path}");
        if r.alpha {
            let ours = r.data.chunks_exact(4).map(|p| p[3]);
            assert!(ours.eq(oracle.pixels().map(|p| p[3])), "{path}: alpha plane");
        }
        let d = mean_diff_to_oracle(&r, path);
        assert!(d < 3.0, "{path}: mean diff {d}");
    }
}

#[test]
fn rare_formats_decode_through_the_image_crate() {
    for (path, alpha) in [("formats/hopper.bmp", false), ("formats/hopper.tif", false), ("formats/i_trns.png", true)] {
        let r = decode_file(path, 1.0).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(r.alpha, alpha, "{path}");
        assert_eq!(r.data.len(), r.width as usize * r.height as usize * r.channels());
    }
    let ico = decode_file("formats/hopper.ico", 1.0).unwrap();
    assert_eq!((ico.width, ico.height), (16, 16));
    let trns = decode_file("formats/i_trns.png", 1.0).unwrap();
    assert!(trns.data.chunks_exact(4).any(|p| p[3] == 0), "tRNS makes some pixels transparent");
}

#[test]
fn broken_inputs_are_errors() {
    assert!(matches!(decode_file("edge/truncated_jpeg.jpg", 1.0), Err(PipelineError::Corrupt(_))));
    let mut avif = corpus("formats/hopper.avif");
    avif.truncate(avif.len() - 100);
    let info = inspect(&avif).unwrap();
    assert!(matches!(decode(&avif, &info, 1.0, later()), Err(PipelineError::Corrupt(_))));
    let mut webp = corpus("formats/flower2.webp");
    webp.truncate(webp.len() / 2);
    let info = inspect(&webp).unwrap();
    assert!(decode(&webp, &info, 1.0, later()).is_err());
    let mut png = corpus("formats/i_trns.png");
    png.truncate(png.len() - 40);
    let info = inspect(&png).unwrap();
    assert!(decode(&png, &info, 1.0, later()).is_err());
}

/// The deadline is the caller's: an isolated decoder (AVIF, in a forked child) given one that has
/// passed times out (503) without starting, while the in-process decoders run to the end (the pipeline
/// checks the deadline between its steps).
#[test]
fn the_deadline_parameter_bounds_the_isolated_decoder_only() {
    let rows = [
        ("AVIF, isolated: out of time", "formats/hopper.avif", Some(PipelineError::Timeout)),
        ("JPEG, in process: decodes", "photos/mate-FreshFlower.jpg", None),
        ("PNG, in process: decodes", "formats/i_trns.png", None),
    ];
    for (name, path, want) in rows {
        let input = corpus(path);
        let info = inspect(&input).unwrap();
        let passed = decode(&input, &info, 1.0, std::time::Instant::now());
        assert_eq!(passed.as_ref().err(), want.as_ref(), "{name}");
        assert!(decode(&input, &info, 1.0, later()).is_ok(), "{name}: decodes with time left");
    }
}

/// The crop maps onto the decoded raster by each decoder's own rule: rescaled after a JPEG's DCT
/// scaling (libvips), whole k×k blocks after a PNG's box shrink, one to one at full size.
#[test]
fn region_on_decoded_follows_each_decoders_shrink() {
    use crate::pipeline::geometry::Rect;
    use crate::pipeline::resize::SourceBox;
    let info = |format, w, h| crate::pipeline::probe::SourceInfo::new(format, w, h);
    let rect = |x, y, width, height| Rect { x, y, width, height };
    let sbox = |x, y, width, height| SourceBox { x, y, width, height };
    // 5120×2880 RGBA is above png_stream's whole-frame threshold; hint 6.4 boxes by 3 → 1707×960.
    let (png_big, png_small) = (info(ImageFormat::Png, 5120, 2880), info(ImageFormat::Png, 100, 50));
    let jpeg = info(ImageFormat::Jpeg, 2725, 2225);
    #[rustfmt::skip]
    let rows = [
        ("JPEG at 1/2 (whole pixels kept): rescaled by decoded / source", &jpeg, 2.0, (1362, 1112),
            rect(0, 0, 2725, 2225), sbox(0.0, 0.0, 1362.0, 1112.0)),
        ("PNG boxed by 3: each decoded pixel is 3×3 source pixels", &png_big, 6.4, (1707, 960),
            rect(3, 6, 3000, 2874), sbox(1.0, 2.0, 1000.0, 958.0)),
        ("PNG boxed, but decoded at full size (trim): one to one", &png_big, 6.4, (5120, 2880),
            rect(10, 20, 100, 50), sbox(10.0, 20.0, 100.0, 50.0)),
        ("PNG under the threshold, decoded whole: one to one", &png_small, 6.4, (100, 50),
            rect(10, 20, 30, 30), sbox(10.0, 20.0, 30.0, 30.0)),
    ];
    for (name, info, hint, decoded, r, want) in rows {
        let got = region_on_decoded(r, info, hint, decoded);
        let off = [got.x - want.x, got.y - want.y, got.width - want.width, got.height - want.height];
        assert!(off.iter().all(|d| d.abs() < 1e-9), "{name}: {got:?}, want {want:?}");
    }
}
