//! End-to-end tests of [`run`]: real corpus files and synthetic images in, bytes out, checked with the
//! `image` crate as an independent decoder (AVIF by its `ftyp`/`ispe` boxes: the `image` crate has no
//! AVIF decoder here, and ours would not be independent). Big photos are decoded only a few times to keep the suite fast.

use std::time::Instant;

use super::test_util::{corpus, decoded, later, plan, png_of, run_ok};
use super::*;
use crate::plan::{Crop, Extend, Gravity, GravityKind, OutputRules, Processing, ResizeType};

fn sized(rt: ResizeType, width: u32, height: u32) -> Processing {
    Processing { resize_type: rt, width, height, ..Processing::default() }
}

/// Left half red, right half blue.
fn red_blue(width: u32, height: u32) -> Vec<u8> {
    png_of(&image::RgbaImage::from_fn(width, height, |x, _| {
        if x < width / 2 {
            image::Rgba([255, 0, 0, 255])
        } else {
            image::Rgba([0, 0, 255, 255])
        }
    }))
}

/// (name, processing, expected size) on `photos/eleph12mp.jpg` (4000×3000).
#[test]
fn resize_types_on_a_12_megapixel_photo() {
    let input = corpus("photos/eleph12mp.jpg");
    let rows = vec![
        ("fit 400x0", sized(ResizeType::Fit, 400, 0), (400, 300)),
        ("fill 200x200", sized(ResizeType::Fill, 200, 200), (200, 200)),
        ("force 300x100", sized(ResizeType::Force, 300, 100), (300, 100)),
        ("auto portrait box fits", sized(ResizeType::Auto, 300, 400), (300, 225)),
        ("enlarge off", sized(ResizeType::Fit, 5000, 0), (4000, 3000)),
        ("enlarge on", Processing { enlarge: true, ..sized(ResizeType::Fit, 4400, 0) }, (4400, 3300)),
        ("dpr 2", Processing { dpr: 2.0, ..sized(ResizeType::Fit, 400, 0) }, (800, 600)),
    ];
    for (name, process, (w, h)) in rows {
        let out = run_ok(&plan(process, OutputRules::default()), &input);
        assert_eq!(out.format, ImageFormat::Jpeg, "{name}");
        assert_eq!((out.width, out.height), (w, h), "{name}");
        let img = image::load_from_memory(&out.bytes).expect("decodes");
        assert_eq!((img.width(), img.height()), (w, h), "{name}");
        assert_eq!(out.source, Probe { format: ImageFormat::Jpeg, width: 4000, height: 3000, frames: 1 });
    }
}

#[test]
fn crop_with_gravity_east_is_blue() {
    let input = red_blue(200, 100);
    let east = Gravity { kind: GravityKind::East, x: 0.0, y: 0.0 };
    let cropped =
        Processing { crop: Some(Crop { width: 80.0, height: 100.0, gravity: Some(east) }), ..Processing::default() };
    let filled = Processing { gravity: east, ..sized(ResizeType::Fill, 40, 50) };
    for (name, process, size) in [("crop", cropped, (80, 100)), ("fill crop", filled, (40, 50))] {
        let out = run_ok(&plan(process, OutputRules::default()), &input);
        assert_eq!((out.format, out.width, out.height), (ImageFormat::Png, size.0, size.1), "{name}");
        let img = decoded(&out);
        assert!(img.pixels().all(|p| p[2] > 250 && p[0] < 5), "{name}: all blue");
    }
}

#[test]
fn blur_reduces_edge_contrast_end_to_end() {
    let input = red_blue(100, 20);
    let sharp = decoded(&run_ok(&plan(Processing::default(), OutputRules::default()), &input));
    let blurred =
        decoded(&run_ok(&plan(Processing { blur: 4.0, ..Processing::default() }, OutputRules::default()), &input));
    let contrast = |img: &image::RgbaImage| i32::from(img.get_pixel(49, 10)[0]) - i32::from(img.get_pixel(50, 10)[0]);
    assert_eq!(contrast(&sharp), 255);
    assert!(contrast(&blurred) < 100, "{}", contrast(&blurred));
}

#[test]
fn every_output_format_decodes_to_the_right_size() {
    let input = corpus("formats/flower2.webp");
    for format in [ImageFormat::Jpeg, ImageFormat::Png, ImageFormat::Webp, ImageFormat::Gif, ImageFormat::Avif] {
        let rules = OutputRules { format: Some(format), ..OutputRules::default() };
        let out = run_ok(&plan(sized(ResizeType::Fit, 120, 0), rules), &input);
        assert_eq!((out.format, out.width, out.height), (format, 120, 90), "{format}");
        let p = probe(&out.bytes).unwrap();
        assert_eq!((p.format, p.width, p.height), (format, 120, 90), "{format} header");
        if format != ImageFormat::Avif {
            decoded(&out);
        }
    }
}

#[test]
fn transparent_png_to_jpeg_is_flattened_on_white() {
    let clear = png_of(&image::RgbaImage::from_pixel(32, 32, image::Rgba([0, 0, 0, 0])));
    let rules = OutputRules { format: Some(ImageFormat::Jpeg), ..OutputRules::default() };
    let img = decoded(&run_ok(&plan(Processing::default(), rules.clone()), &clear));
    assert!(img.pixels().all(|p| p[0] > 250 && p[1] > 250 && p[2] > 250));
    let red_bg = Processing { background: Some(crate::plan::Rgb { r: 255, g: 0, b: 0 }), ..Processing::default() };
    let img = decoded(&run_ok(&plan(red_bg, rules), &clear));
    assert!(img.pixels().all(|p| p[0] > 240 && p[1] < 15 && p[2] < 15));
}

#[test]
fn extend_adds_transparent_canvas_to_png() {
    let input = red_blue(20, 10);
    let process = Processing { extend: Extend { enabled: true, gravity: None }, ..sized(ResizeType::Fit, 40, 40) };
    let out = run_ok(&plan(process, OutputRules::default()), &input);
    let img = decoded(&out);
    assert_eq!((img.width(), img.height()), (40, 40));
    assert_eq!(img.get_pixel(0, 0)[3], 0, "corner is transparent");
    assert_eq!(img.get_pixel(20, 20)[3], 255, "image is opaque");
}

#[test]
fn broken_inputs_are_errors_not_panics() {
    let p = plan(sized(ResizeType::Fit, 50, 0), OutputRules::default());
    assert!(matches!(run(&p, &corpus("edge/truncated_jpeg.jpg"), later()), Err(PipelineError::Corrupt(_))));
    assert_eq!(run(&p, &[], later()).unwrap_err(), PipelineError::UnknownFormat);
    assert!(run(&p, &corpus("edge/decompression_bomb.gif"), later()).is_err());
    let avif = corpus("formats/hopper.avif");
    assert!(matches!(run(&p, &avif[..avif.len() / 2], later()), Err(PipelineError::Corrupt(_))));
}

#[test]
fn huge_png_header_is_refused_before_decoding() {
    let mut header = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    header.extend_from_slice(&30_000u32.to_be_bytes());
    header.extend_from_slice(&30_000u32.to_be_bytes());
    header.extend_from_slice(&[8, 6, 0, 0, 0, 0, 0, 0, 0]);
    let p = plan(Processing::default(), OutputRules::default());
    assert!(matches!(run(&p, &header, later()), Err(PipelineError::ResolutionTooBig(_))));
}

#[test]
fn a_passed_deadline_times_out() {
    let p = plan(Processing::default(), OutputRules::default());
    let past = Instant::now();
    assert_eq!(run(&p, &red_blue(4, 4), past).unwrap_err(), PipelineError::Timeout);
}

#[test]
fn skip_processing_returns_the_source_untouched() {
    let input = corpus("formats/chi.gif");
    let rules = OutputRules { skip_processing: vec![ImageFormat::Gif], ..OutputRules::default() };
    let out = run_ok(&plan(sized(ResizeType::Fit, 10, 10), rules), &input);
    assert_eq!(out.bytes, input);
    assert_eq!((out.format, out.width, out.height), (ImageFormat::Gif, 320, 240));
}

/// Mean absolute RGB difference between two same-sized images.
fn mean_diff(a: &image::RgbaImage, b: &image::RgbaImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let sum: u64 =
        a.pixels().zip(b.pixels()).map(|(p, q)| (0..3).map(|i| u64::from(p[i].abs_diff(q[i]))).sum::<u64>()).sum();
    sum as f64 / (f64::from(a.width()) * f64::from(a.height()) * 3.0)
}

#[test]
fn exif_orientations_2_to_8_come_out_upright() {
    let upright = image::load_from_memory(&corpus("formats/hopper.tif")).unwrap().into_rgba8();
    let rules = OutputRules { format: Some(ImageFormat::Png), ..OutputRules::default() };
    for n in 2..=8 {
        let input = corpus(&format!("formats/hopper_orientation_{n}.jpg"));
        let fixed = decoded(&run_ok(&plan(Processing::default(), rules.clone()), &input));
        let raw =
            decoded(&run_ok(&plan(Processing { auto_rotate: false, ..Processing::default() }, rules.clone()), &input));
        let (good, bad) = (mean_diff(&fixed, &upright), mean_diff(&raw, &upright));
        assert!(good < 10.0 && good * 3.0 < bad, "orientation {n}: upright diff {good}, unrotated diff {bad}");
    }
    let webp = corpus("formats/hopper_orientation_6.webp");
    let fixed = decoded(&run_ok(&plan(Processing::default(), rules), &webp));
    assert!(mean_diff(&fixed, &upright) < 10.0);
}

#[test]
fn crop_before_rotation_equals_rotate_then_crop() {
    let rules = OutputRules { format: Some(ImageFormat::Png), ..OutputRules::default() };
    let nw = Gravity { kind: GravityKind::NorthWest, x: 0.0, y: 0.0 };
    let crop =
        Processing { crop: Some(Crop { width: 64.0, height: 48.0, gravity: Some(nw) }), ..Processing::default() };
    let upright = decoded(&run_ok(&plan(crop.clone(), rules.clone()), &corpus("formats/hopper.tif")));
    for n in [3, 5, 6, 8] {
        let input = corpus(&format!("formats/hopper_orientation_{n}.jpg"));
        let out = decoded(&run_ok(&plan(crop.clone(), rules.clone()), &input));
        let d = mean_diff(&out, &upright);
        assert!(d < 10.0, "orientation {n}: diff {d}");
    }
    let rot = Processing { rotate: 90, ..crop };
    let out = run_ok(&plan(rot, rules), &corpus("formats/hopper.tif"));
    assert_eq!((out.width, out.height), (64, 48), "crop applies to the rotated image");
}

#[test]
fn odd_corpus_sources_process() {
    let rules = OutputRules::default();
    let files = [
        ("edge/broken_exif_dpi.jpg", 64),
        ("formats/pil_sample_cmyk.jpg", 64),
        ("formats/iss634.apng", 64),
        ("formats/hopper.ico", 16), // a 16×16 icon is not enlarged
        ("formats/hopper.bmp", 64),
    ];
    for (file, width) in files {
        let out = run_ok(&plan(sized(ResizeType::Fit, 64, 0), rules.clone()), &corpus(file));
        assert_eq!(out.width, width, "{file}");
        decoded(&out);
    }
}

/// Timing check for the hot path (`cargo test --release -- --ignored --nocapture hot_path`).
#[test]
#[ignore]
fn hot_path_12mp_jpeg_to_800px() {
    let input = corpus("photos/eleph12mp.jpg");
    let p = plan(sized(ResizeType::Fit, 800, 0), OutputRules::default());
    run_ok(&p, &input);
    let n = 10;
    let start = Instant::now();
    for _ in 0..n {
        run_ok(&p, &input);
    }
    println!("12 MP JPEG -> 800 px JPEG q80: {:?} per image", start.elapsed() / n);
}

/// AVIF encoder speed against size, not a check: `cargo test --release --lib avif_speed_probe -- --ignored
/// --nocapture`.
#[test]
#[ignore = "timing only"]
fn avif_speed_probe() {
    let input = corpus("photos/eleph12mp.jpg");
    for speed in [8u8, 9, 10] {
        let output =
            OutputRules { format: Some(ImageFormat::Avif), quality: 50, avif_speed: speed, ..OutputRules::default() };
        let p = plan(sized(ResizeType::Fit, 800, 0), output);
        let _ = run(&p, &input, later());
        let start = Instant::now();
        let out = run(&p, &input, later()).unwrap();
        let took = start.elapsed().as_secs_f64() * 3.0;
        for _ in 0..2 {
            run(&p, &input, later()).unwrap();
        }
        let avg = (start.elapsed().as_secs_f64()) / 3.0;
        println!("speed {speed}: {:.1} ms avg of 3, {} bytes ({took:.3})", avg * 1000.0, out.bytes.len());
    }
}
