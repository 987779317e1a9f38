//! End-to-end tests of [`run`] for the issue-3 features (trim, smart gravity, animated GIF out, ICC,
//! watermark): generated images in, bytes out, checked with the `image`/`gif` crates as independent
//! decoders.

use std::time::Instant;

use super::test_util::{decoded, plan, png_of, run_ok};
use super::*;
use crate::plan::{Crop, Gravity, GravityKind, OutputRules, Processing, ResizeType, Trim};

/// 100×80 white with a red 60×40 block at (10, 30): borders left 10, right 30, top 30, bottom 10.
fn bordered() -> Vec<u8> {
    png_of(&image::RgbaImage::from_fn(100, 80, |x, y| {
        if (10..70).contains(&x) && (30..70).contains(&y) {
            image::Rgba([255, 0, 0, 255])
        } else {
            image::Rgba([255, 255, 255, 255])
        }
    }))
}

fn trimmed(threshold: f64, equal_hor: bool, equal_ver: bool) -> Option<Trim> {
    Some(Trim { threshold, color: None, equal_hor, equal_ver })
}

#[test]
fn trim_cuts_the_border_before_sizing() {
    let rows: &[(&str, Processing, (u32, u32))] = &[
        (
            "trim alone keeps the content",
            Processing { trim: trimmed(10.0, false, false), ..Processing::default() },
            (60, 40),
        ),
        (
            "size is computed on the trimmed image",
            Processing { trim: trimmed(10.0, false, false), width: 30, ..Processing::default() },
            (30, 20),
        ),
        (
            "equal_hor trims 10 from both sides",
            Processing { trim: trimmed(10.0, true, false), ..Processing::default() },
            (80, 40),
        ),
        (
            "equal_ver trims 10 from top and bottom",
            Processing { trim: trimmed(10.0, false, true), ..Processing::default() },
            (60, 60),
        ),
        ("no trim keeps the border", Processing::default(), (100, 80)),
    ];
    let input = bordered();
    for (name, process, want) in rows {
        let out = run_ok(&plan(process.clone(), OutputRules::default()), &input);
        let img = decoded(&out);
        assert_eq!((img.width(), img.height()), *want, "{name}");
        let trims = process.trim.is_some_and(|t| !t.equal_hor && !t.equal_ver);
        if trims {
            let red = img.pixels().filter(|p| p[0] > 200 && p[1] < 60).count();
            assert!(red * 10 >= (want.0 * want.1) as usize * 9, "{name}: mostly red, {red} px");
        }
    }
}

/// 300×100 flat grey with a black/white checkerboard in x ∈ [220, 300).
fn detail_on_the_right() -> Vec<u8> {
    png_of(&image::RgbaImage::from_fn(300, 100, |x, y| {
        if x >= 220 && (x / 8 + y / 8) % 2 == 0 {
            image::Rgba([0, 0, 0, 255])
        } else if x >= 220 {
            image::Rgba([255, 255, 255, 255])
        } else {
            image::Rgba([128, 128, 128, 255])
        }
    }))
}

/// How many pixels are far from the flat grey: the detail kept.
fn detail(img: &image::RgbaImage) -> usize {
    img.pixels().filter(|p| p[0].abs_diff(128) > 60).count()
}

#[test]
fn smart_gravity_keeps_the_detailed_side() {
    let smart = Gravity { kind: GravityKind::Smart, x: 0.0, y: 0.0 };
    let fill = Processing { resize_type: ResizeType::Fill, width: 50, height: 50, ..Processing::default() };
    let crop = Crop { width: 100.0, height: 100.0, gravity: Some(smart) };
    let rows: &[(&str, Processing, bool)] = &[
        ("fill with g:sm crops to the detail", Processing { gravity: smart, ..fill.clone() }, true),
        ("fill with the default centre gravity misses it", fill.clone(), false),
        ("c:100:100:sm takes the detailed square", Processing { crop: Some(crop), ..Processing::default() }, true),
        (
            "c:100:100 at the centre misses it",
            Processing { crop: Some(Crop { gravity: None, ..crop }), ..Processing::default() },
            false,
        ),
    ];
    let input = detail_on_the_right();
    for (name, process, detailed) in rows {
        let img = decoded(&run_ok(&plan(process.clone(), OutputRules::default()), &input));
        let share = detail(&img) * 100 / (img.width() * img.height()) as usize;
        assert_eq!(share > 50, *detailed, "{name}: {share}% detail");
    }
}

#[test]
fn animated_source_to_gif_keeps_frames_delays_and_loop() {
    let rows: &[(&str, &str, u32, usize)] = &[
        ("gif to gif, capped at 5 frames", "formats/iss634.gif", 5, 5),
        ("webp to gif", "formats/iss634.webp", 4, 4),
        ("apng to gif", "formats/iss634.apng", 3, 3),
        ("one frame allowed: a still gif", "formats/iss634.gif", 1, 1),
    ];
    for (name, file, max_frames, want_frames) in rows {
        let input = super::test_util::corpus(file);
        let output = OutputRules { format: Some(ImageFormat::Gif), ..OutputRules::default() };
        let mut p = plan(Processing { width: 100, ..Processing::default() }, output);
        p.limits.max_animation_frames = *max_frames;
        let out = run_ok(&p, &input);
        assert_eq!(out.format, ImageFormat::Gif, "{name}");
        let (count, delays, repeat, size) = animated_gif::inspect(&out.bytes);
        assert_eq!((count, size), (*want_frames, (100, 100)), "{name}");
        if *want_frames > 1 {
            // The source's own delays (GIF centiseconds, or WebP/APNG milliseconds / 10) and loop.
            let info = probe::inspect(&input).unwrap();
            let source = animation::decode_frames(&input, &info, *max_frames).unwrap();
            let want: Vec<u16> = source.iter().map(|f| f.delay_ms.div_ceil(10) as u16).collect();
            assert_eq!(delays, want, "{name}");
            assert_eq!(repeat, gif::Repeat::Infinite, "{name}: the source loops forever");
        }
    }
}

fn icc_fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/icc/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// (x, y, [r, g, b]) rows of libvips' sRGB conversion (`scripts/icc_fixture.py`).
fn libvips_reference() -> Vec<(u32, u32, [u8; 3])> {
    let text = String::from_utf8(icc_fixture("p3-patches.libvips-srgb.txt")).unwrap();
    let rows = text.lines().filter(|l| !l.starts_with('#'));
    let nums = |l: &str| l.split_whitespace().map(|n| n.parse::<u32>().unwrap()).collect::<Vec<_>>();
    rows.map(nums).map(|n| (n[0], n[1], [n[2] as u8, n[3] as u8, n[4] as u8])).collect()
}

#[test]
fn icc_sources_are_converted_to_srgb_like_libvips() {
    let reference = libvips_reference();
    assert_eq!(reference.len(), 8);
    // Lossless PNG in/out is exact; the JPEG source was saved at q95 4:4:4, so allow its loss too.
    let rows: &[(&str, &str, ImageFormat, u8)] = &[
        ("png to png", "p3-patches.png", ImageFormat::Png, 2),
        ("webp lossless to png", "p3-patches.webp", ImageFormat::Png, 2),
        ("jpeg to png", "p3-patches.jpg", ImageFormat::Png, 6),
    ];
    for (name, file, format, tolerance) in rows {
        let input = icc_fixture(file);
        let output = OutputRules { format: Some(*format), ..OutputRules::default() };
        let img = decoded(&run_ok(&plan(Processing::default(), output), &input));
        let mut moved = 0;
        for (x, y, want) in &reference {
            let got = img.get_pixel(*x, *y);
            let raw = image::load_from_memory(&input).unwrap().to_rgb8().get_pixel(*x, *y).0;
            for c in 0..3 {
                assert!(got[c].abs_diff(want[c]) <= *tolerance, "{name} at ({x},{y}): got {got:?}, libvips {want:?}");
            }
            moved += usize::from(raw != *want);
        }
        assert!(moved >= 4, "{name}: the reference differs from the raw P3 values, so the test can fail");
    }
}

#[test]
fn strip_color_profile_off_keeps_and_embeds_the_profile() {
    let input = icc_fixture("p3-patches.png");
    let info = probe::inspect(&input).unwrap();
    let source_icc = icc::embedded(&input, &info).unwrap();
    for format in [ImageFormat::Png, ImageFormat::Jpeg] {
        let process = Processing { strip_color_profile: false, ..Processing::default() };
        let output = OutputRules { format: Some(format), quality: 100, ..OutputRules::default() };
        let out = run_ok(&plan(process, output), &input);
        let out_info = probe::inspect(&out.bytes).unwrap();
        assert_eq!(icc::embedded(&out.bytes, &out_info).as_ref(), Some(&source_icc), "{format}: profile kept");
        let raw = image::load_from_memory(&input).unwrap().to_rgb8();
        let img = decoded(&out);
        let (x, y) = (56, 8); // a patch libvips moves from (200,120,40) to (213,115,0)
        assert!(img.get_pixel(x, y)[2].abs_diff(raw.get_pixel(x, y)[2]) <= 4, "{format}: pixels not converted");
    }
    let stripped = run_ok(&plan(Processing::default(), OutputRules::default()), &input);
    assert_eq!(icc::embedded(&stripped.bytes, &probe::inspect(&stripped.bytes).unwrap()), None, "default drops it");
}

#[test]
fn watermark_is_overlaid_only_when_attached() {
    use crate::plan::{Watermark, WatermarkPosition};
    let mark = png_of(&image::RgbaImage::from_pixel(8, 8, image::Rgba([255, 0, 0, 255])));
    let source = png_of(&image::RgbaImage::from_pixel(200, 100, image::Rgba([0, 0, 255, 255])));
    let se = Gravity { kind: GravityKind::SouthEast, x: 0.0, y: 0.0 };
    let wm = Some(Watermark { opacity: 1.0, position: WatermarkPosition::Gravity(se), scale: 0.0 });
    let image = Some(bytes::Bytes::from(mark));
    let rows: &[(&str, Processing, bool)] = &[
        (
            "attached and asked: the corner is red",
            Processing { watermark: wm, watermark_image: image.clone(), ..Processing::default() },
            true,
        ),
        ("asked but none configured: untouched", Processing { watermark: wm, ..Processing::default() }, false),
        (
            "configured but not asked: untouched",
            Processing { watermark_image: image.clone(), ..Processing::default() },
            false,
        ),
    ];
    for (name, process, marked) in rows {
        let img = decoded(&run_ok(&plan(process.clone(), OutputRules::default()), &source));
        let corner = img.get_pixel(196, 96);
        assert_eq!(corner[0] > 200 && corner[2] < 50, *marked, "{name}: {corner:?}");
        assert_eq!(img.get_pixel(100, 50)[2], 255, "{name}: the middle stays blue");
    }
}

#[test]
fn exif_copyright_and_metadata_follow_strip_metadata_and_keep_copyright() {
    // A JPEG source carrying EXIF Copyright, Artist and Orientation 6 (the hopper photo's APP1 is
    // replaced by ours, built with the `exif` writer so this test does not trust our own TIFF code).
    let mut tiff = Vec::new();
    let mut w = exif::experimental::Writer::new();
    let fields = [
        exif::Field {
            tag: exif::Tag::Artist,
            ifd_num: exif::In::PRIMARY,
            value: exif::Value::Ascii(vec![b"Jane".to_vec()]),
        },
        exif::Field {
            tag: exif::Tag::Copyright,
            ifd_num: exif::In::PRIMARY,
            value: exif::Value::Ascii(vec![b"(c) Jane Doe".to_vec()]),
        },
        exif::Field { tag: exif::Tag::Orientation, ifd_num: exif::In::PRIMARY, value: exif::Value::Short(vec![6]) },
    ];
    for f in &fields {
        w.push_field(f);
    }
    w.write(&mut std::io::Cursor::new(&mut tiff), false).unwrap();
    let plain = png_of(&image::RgbaImage::from_pixel(40, 20, image::Rgba([90, 120, 150, 255])));
    let jpeg_plan =
        plan(Processing::default(), OutputRules { format: Some(ImageFormat::Jpeg), ..OutputRules::default() });
    let source = metadata::embed_jpeg(run_ok(&jpeg_plan, &plain).bytes, None, Some(&tiff));
    let read = |bytes: &[u8], tag: exif::Tag| {
        let info = probe::inspect(bytes).unwrap();
        let payload = probe::exif_payload(bytes, &info)?;
        let exif = exif::Reader::new().read_raw(payload.to_vec()).ok()?;
        Some(exif.get_field(tag, exif::In::PRIMARY)?.display_value().to_string())
    };
    type Row = (&'static str, bool, bool, Option<&'static str>, Option<&'static str>);
    let rows: &[Row] = &[
        ("default: copyright kept, the rest stripped", true, true, Some("\"(c) Jane Doe\""), None),
        ("kcr:0 strips everything", true, false, None, None),
        (
            "sm:0 keeps everything, orientation reset",
            false,
            false,
            Some("\"(c) Jane Doe\""),
            Some("row 0 at top and column 0 at left"),
        ),
    ];
    for (name, strip_metadata, keep_copyright, copyright, orientation) in rows {
        let process =
            Processing { strip_metadata: *strip_metadata, keep_copyright: *keep_copyright, ..Processing::default() };
        let out = run_ok(&plan(process, OutputRules::default()), &source);
        assert_eq!((out.width, out.height), (20, 40), "{name}: rotated by the source's orientation 6");
        assert_eq!(read(&out.bytes, exif::Tag::Copyright).as_deref(), *copyright, "{name}");
        assert_eq!(read(&out.bytes, exif::Tag::Orientation).as_deref(), *orientation, "{name}");
        decoded(&out);
    }
}

/// Prints what each feature costs on real inputs (`cargo test --release --lib timings -- --ignored
/// --nocapture`); asserts only that every run succeeds.
#[test]
#[ignore]
fn timings() {
    let time = |name: &str, p: &Plan, input: &[u8]| {
        run_ok(p, input);
        let start = Instant::now();
        for _ in 0..5 {
            run_ok(p, input);
        }
        println!("{name}: {:.1} ms", start.elapsed().as_secs_f64() * 1000.0 / 5.0);
    };
    let photo = super::test_util::corpus("photos/eleph12mp.jpg");
    let fit = Processing { width: 800, ..Processing::default() };
    time("12 MP JPEG fit 800 (baseline)", &plan(fit.clone(), OutputRules::default()), &photo);
    let trim = Processing { trim: trimmed(10.0, false, false), ..fit.clone() };
    time("12 MP JPEG trim + fit 800", &plan(trim, OutputRules::default()), &photo);
    let smart = Gravity { kind: GravityKind::Smart, x: 0.0, y: 0.0 };
    let fill = Processing { resize_type: ResizeType::Fill, width: 400, height: 800, ..Processing::default() };
    time("12 MP JPEG fill 400x800 centre", &plan(fill.clone(), OutputRules::default()), &photo);
    time("12 MP JPEG fill 400x800 g:sm", &plan(Processing { gravity: smart, ..fill }, OutputRules::default()), &photo);
    let icc = super::test_util::corpus("photos/plasma-Path-icc.jpg");
    time("2560x1600 ICC JPEG fit 800 (converted)", &plan(fit.clone(), OutputRules::default()), &icc);
    let keep = Processing { strip_color_profile: false, ..fit.clone() };
    time("2560x1600 ICC JPEG fit 800 (scp:0, kept)", &plan(keep, OutputRules::default()), &icc);
    let gif = super::test_util::corpus("formats/iss634.gif");
    for format in [ImageFormat::Gif, ImageFormat::Webp] {
        let mut p = plan(
            Processing { width: 128, ..Processing::default() },
            OutputRules { format: Some(format), ..OutputRules::default() },
        );
        p.limits.max_animation_frames = 50;
        time(&format!("42-frame GIF → 128 px animated {format}"), &p, &gif);
    }
}
