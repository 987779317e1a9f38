//! CMYK and grey profiles against libvips: fixtures from `scripts/icc_cmyk_grey_fixtures.py`, each with
//! libvips' sRGB rendering beside it (`NAME.libvips.png`), run through the whole pipeline.

use super::*;
use crate::pipeline::probe;
use crate::pipeline::test_util::{corpus, decoded, plan, run_ok};
use crate::plan::{OutputRules, Processing};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/icc/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Mean absolute difference over the RGB samples of two same-size images.
fn mean_diff(a: &image::RgbImage, b: &image::RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let sum: u64 = a.as_raw().iter().zip(b.as_raw()).map(|(x, y)| u64::from(x.abs_diff(*y))).sum();
    sum as f64 / a.as_raw().len() as f64
}

/// The pipeline's full-size PNG (or JPEG with `keep`: strip_color_profile off) of a fixture.
fn through_pipeline(input: &[u8], format: ImageFormat, keep: bool) -> (image::RgbImage, Option<Vec<u8>>) {
    let process = Processing { strip_color_profile: !keep, ..Processing::default() };
    let out = run_ok(&plan(process, OutputRules { format: Some(format), ..OutputRules::default() }), input);
    let embedded = embedded(&out.bytes, &probe::inspect(&out.bytes).expect("probe"));
    (image::DynamicImage::ImageRgba8(decoded(&out)).into_rgb8(), embedded)
}

#[test]
fn cmyk_and_grey_profiles_render_as_libvips() {
    // (fixture, output, keep the profile, most mean difference from libvips, least from a naive render)
    let rows: &[(&str, ImageFormat, bool, f64)] = &[
        ("cmyk-patches", ImageFormat::Png, false, 3.0),
        ("cmyk-patches", ImageFormat::Jpeg, true, 4.0),
        ("grey-g18", ImageFormat::Png, false, 2.0),
        ("grey-g18", ImageFormat::Jpeg, true, 3.0),
    ];
    for (name, format, keep, most) in rows {
        let input = fixture(&format!("{name}.jpg"));
        let reference = image::load_from_memory(&fixture(&format!("{name}.libvips.png"))).expect("png").into_rgb8();
        let (ours, kept) = through_pipeline(&input, *format, *keep);
        let diff = mean_diff(&ours, &reference);
        assert!(diff <= *most, "{name} → {format:?} keep={keep}: mean difference {diff:.2} from libvips");
        assert!(kept.is_none(), "{name} → {format:?} keep={keep}: no CMYK/grey profile in RGB output");
    }
}

#[test]
fn the_profiles_matter() {
    // Without their profiles the same pixels are far from libvips' rendering: the tests above can fail.
    let cmyk = fixture("cmyk-patches.jpg");
    let info = probe::inspect(&cmyk).expect("probe");
    let mut d = turbojpeg::Decompressor::new().expect("tj");
    let header = d.read_header(&cmyk).expect("header");
    let mut inks = vec![0u8; header.width * header.height * 4];
    let image = turbojpeg::Image {
        pixels: inks.as_mut_slice(),
        width: header.width,
        pitch: header.width * 4,
        height: header.height,
        format: turbojpeg::PixelFormat::CMYK,
    };
    d.decompress(&cmyk, image).expect("decodes");
    assert!(info.adobe, "libjpeg wrote an Adobe (inverted) CMYK file");
    let naive = image::RgbImage::from_raw(64, 48, naive_cmyk_to_rgb(&inks, info.adobe)).expect("size");
    let managed = image::RgbImage::from_raw(64, 48, cmyk_to_rgb(&cmyk, &inks, info.adobe)).expect("size");
    let reference = image::load_from_memory(&fixture("cmyk-patches.libvips.png")).expect("png").into_rgb8();
    assert!(mean_diff(&naive, &reference) > 15.0, "naive CMYK is off: {:.1}", mean_diff(&naive, &reference));
    assert!(mean_diff(&managed, &reference) <= 3.0, "managed CMYK: {:.1}", mean_diff(&managed, &reference));
    let grey = fixture("grey-g18.jpg");
    let plain = image::load_from_memory(&grey).expect("jpeg").into_rgb8();
    let reference = image::load_from_memory(&fixture("grey-g18.libvips.png")).expect("png").into_rgb8();
    assert!(mean_diff(&plain, &reference) > 10.0, "grey without its profile: {:.1}", mean_diff(&plain, &reference));
}

#[test]
fn cmyk_without_a_profile_stays_naive() {
    let input = corpus("formats/pil_sample_cmyk.jpg");
    assert!(embedded(&input, &probe::inspect(&input).expect("probe")).is_none());
    let (img, kept) = through_pipeline(&input, ImageFormat::Png, false);
    assert_eq!((img.dimensions(), kept), ((100, 100), None));
}
