//! AVIF through the whole pipeline: AVIF in (our encoder's files and the corpus), AVIF out (`f:avif`,
//! `Accept`-driven), results checked with the `image` crate as an independent decoder where it can.

use crate::pipeline::avif_container::tests::{build, bx, single_color, Spec};
use crate::pipeline::quality::{psnr, Pair};
use crate::pipeline::test_util::{corpus, decoded, plan, png_of, run_ok};
use crate::pipeline::{avif_container, Output};
use crate::plan::{ImageFormat, OutputRules, Processing};

/// A 400×300 picture: gradients, and a red 40×40 block in the top-left corner.
fn source(alpha: bool) -> image::RgbaImage {
    image::RgbaImage::from_fn(400, 300, |x, y| {
        let a = if alpha { (x * 255 / 399) as u8 } else { 255 };
        if x < 40 && y < 40 {
            image::Rgba([230, 20, 20, a])
        } else {
            image::Rgba([(x * 255 / 400) as u8, (y * 255 / 300) as u8, 128, a])
        }
    })
}

fn jpeg_rules(format: ImageFormat) -> OutputRules {
    OutputRules { format: Some(format), ..OutputRules::default() }
}

/// An AVIF of `img`, made by our pipeline (`f:avif`): the output side of the round trip.
fn to_avif(img: &image::RgbaImage) -> Output {
    run_ok(&plan(Processing::default(), jpeg_rules(ImageFormat::Avif)), &png_of(img))
}

/// PSNR of a pipeline result against `img` resized to the same size by the `image` crate.
fn psnr_vs(out: &image::RgbaImage, img: &image::RgbaImage) -> f64 {
    let want = image::imageops::resize(img, out.width(), out.height(), image::imageops::FilterType::Triangle);
    let (w, h) = (out.width() as usize, out.height() as usize);
    psnr(Pair { width: w, height: h, channels: 4, a: out.as_raw(), b: want.as_raw() }).expect("same size")
}

#[test]
fn avif_in_becomes_a_200px_jpeg() {
    let img = source(false);
    let avif = to_avif(&img);
    assert_eq!((avif.format, avif.width, avif.height), (ImageFormat::Avif, 400, 300));
    let p = plan(Processing { width: 200, ..Processing::default() }, jpeg_rules(ImageFormat::Jpeg));
    let out = run_ok(&p, &avif.bytes);
    assert_eq!((out.format, out.source.format), (ImageFormat::Jpeg, ImageFormat::Avif));
    let got = decoded(&out);
    assert_eq!((got.width(), got.height()), (200, 150));
    let db = psnr_vs(&got, &img);
    assert!(db >= 28.0, "AVIF → 200 px JPEG vs the source resized: {db:.1} dB");
    let corner = got.get_pixel(5, 5);
    assert!(corner[0] > 180 && corner[1] < 80, "the red block stays top-left: {corner:?}");
}

#[test]
fn corpus_avif_becomes_a_thumbnail() {
    let p = plan(Processing { width: 64, ..Processing::default() }, jpeg_rules(ImageFormat::Png));
    for name in ["formats/hopper.avif", "formats/exif-orientation.avif"] {
        let out = run_ok(&p, &corpus(name));
        let got = decoded(&out);
        assert_eq!(got.width(), 64, "{name}");
        let spread = got.pixels().map(|px| px[1]).max().unwrap_or(0) - got.pixels().map(|px| px[1]).min().unwrap_or(0);
        assert!(spread > 50, "{name}: a picture, not a flat fill (green spread {spread})");
    }
}

#[test]
fn avif_alpha_survives_and_picks_an_alpha_format() {
    let img = source(true);
    let avif = to_avif(&img);
    assert!(avif_container::has_alpha(&avif.bytes), "our encoder wrote an alpha item");
    // No explicit format: the probe's alpha flag makes the automatic choice PNG, as imgproxy.
    let out = run_ok(&plan(Processing { width: 100, ..Processing::default() }, OutputRules::default()), &avif.bytes);
    assert_eq!(out.format, ImageFormat::Png);
    let got = decoded(&out);
    let (left, right) = (got.get_pixel(2, 40)[3], got.get_pixel(97, 40)[3]);
    assert!(left < 20 && right > 235, "alpha ramp kept: left {left}, right {right}");
}

#[test]
fn avif_out_decodes_back_through_avif_in() {
    let img = source(false);
    let rows: &[(&str, OutputRules)] = &[
        ("f:avif", jpeg_rules(ImageFormat::Avif)),
        ("Accept: image/avif", OutputRules { auto_avif: true, ..OutputRules::default() }),
    ];
    for (name, rules) in rows {
        let p = plan(Processing { width: 160, ..Processing::default() }, rules.clone());
        let avif = run_ok(&p, &png_of(&img));
        assert_eq!(avif.format, ImageFormat::Avif, "{name}");
        let back = run_ok(&plan(Processing::default(), jpeg_rules(ImageFormat::Png)), &avif.bytes);
        let got = decoded(&back);
        assert_eq!((got.width(), got.height()), (160, 120), "{name}");
        let db = psnr_vs(&got, &img);
        assert!(db >= 28.0, "{name}: {db:.1} dB");
    }
}

#[test]
fn irot_turns_the_output() {
    // The pipeline's own AVIF, re-wrapped with `irot` 1 (90° anticlockwise): 400×300 shows as 300×400 and
    // the red (blue-less) top-left block moves to the bottom-left; the top-left is the old top-right.
    let avif = to_avif(&source(false));
    let color = single_color(&avif.bytes);
    let turned = build(&Spec { props: vec![bx(b"irot", &[1])], ..Spec::still(&color, (400, 300)) });
    let out = run_ok(&plan(Processing::default(), jpeg_rules(ImageFormat::Png)), &turned);
    let got = decoded(&out);
    assert_eq!((got.width(), got.height()), (300, 400));
    let (bl, tl) = (got.get_pixel(10, 390), got.get_pixel(10, 10));
    assert!(bl[0] > 180 && bl[2] < 80 && tl[2] > 100, "red block bottom-left: {bl:?}, top-left {tl:?}");
}

/// sRGB-encoded value (0–255) → linear light, and back: the sRGB curve, which Display P3 shares.
fn srgb_to_linear(v: f64) -> f64 {
    let v = v / 255.0;
    if v <= 0.04045 {
        v / 12.92
    } else {
        ((v + 0.055) / 1.055).powf(2.4)
    }
}

fn linear_to_srgb(v: f64) -> f64 {
    let v = v.clamp(0.0, 1.0);
    255.0 * if v <= 0.003_130_8 { v * 12.92 } else { 1.055 * v.powf(1.0 / 2.4) - 0.055 }
}

/// Display P3 (D65) → sRGB by hand: decode the curve, the P3→sRGB matrix (both D65, from the two sets of
/// primaries), encode the curve. An oracle independent of moxcms.
fn p3_to_srgb(rgb: [u8; 3]) -> [f64; 3] {
    const M: [[f64; 3]; 3] =
        [[1.224_940, -0.224_940, 0.0], [-0.042_057, 1.042_057, 0.0], [-0.019_638, -0.078_636, 1.098_274]];
    let lin = rgb.map(|c| srgb_to_linear(f64::from(c)));
    M.map(|row| linear_to_srgb(row[0] * lin[0] + row[1] * lin[1] + row[2] * lin[2]))
}

#[test]
fn nclx_display_p3_is_converted_to_srgb_and_hdr_is_left_alone() {
    let colour = [200u8, 120, 60];
    let flat = image::RgbaImage::from_pixel(64, 48, image::Rgba([colour[0], colour[1], colour[2], 255]));
    let rules = OutputRules { quality: 100, ..jpeg_rules(ImageFormat::Avif) };
    let obus = single_color(&run_ok(&plan(Processing::default(), rules), &png_of(&flat)).bytes);
    // nclx: primaries, transfer, matrix (BT.601, what our encoder writes), full range.
    let nclx = |primaries: u16, transfer: u16| {
        let mut body = b"nclx".to_vec();
        for v in [primaries, transfer, 6] {
            body.extend(v.to_be_bytes());
        }
        body.push(0x80);
        bx(b"colr", &body)
    };
    let p3 = p3_to_srgb(colour);
    let same = colour.map(f64::from);
    let rows: &[(&str, u16, u16, [f64; 3])] = &[
        ("Display P3 (12, sRGB curve)", 12, 13, p3),
        ("Display P3, transfer unspecified", 12, 2, p3),
        ("BT.709 primaries: already sRGB's", 1, 13, same),
        ("BT.2020 with PQ: HDR, not tone-mapped, left as is", 9, 16, same),
    ];
    assert!(p3.iter().zip(same).any(|(a, b)| (a - b).abs() > 10.0), "the test colour moves under P3: {p3:?}");
    for (name, primaries, transfer, want) in rows {
        let file = build(&Spec { props: vec![nclx(*primaries, *transfer)], ..Spec::still(&obus, (64, 48)) });
        let got = decoded(&run_ok(&plan(Processing::default(), jpeg_rules(ImageFormat::Png)), &file));
        let px = got.get_pixel(32, 24);
        let off = (0..3).map(|i| (f64::from(px[i]) - want[i]).abs()).fold(0.0, f64::max);
        assert!(off <= 3.0, "{name}: got {px:?}, want {want:?}");
    }
}

#[test]
fn premultiplied_colour_is_divided_by_its_alpha() {
    // Colour (200, 100, 50) at alpha 128, stored premultiplied: (100, 50, 25).
    let stored = image::RgbaImage::from_pixel(48, 32, image::Rgba([100, 50, 25, 128]));
    let rules = OutputRules { quality: 100, ..jpeg_rules(ImageFormat::Avif) };
    let ours = run_ok(&plan(Processing::default(), rules), &png_of(&stored)).bytes;
    let parsed = avif_container::parse(&ours).expect("parses");
    let (avif_container::Av1Image::Single(color), Some(avif_container::Av1Image::Single(alpha))) =
        (&parsed.color, &parsed.alpha)
    else {
        panic!("our encoder writes one colour and one alpha item");
    };
    for (prem, want) in [(true, [200.0, 100.0, 50.0]), (false, [100.0, 50.0, 25.0])] {
        let file = build(&Spec { alpha: Some(alpha), prem, ..Spec::still(color, (48, 32)) });
        let got = decoded(&run_ok(&plan(Processing::default(), jpeg_rules(ImageFormat::Png)), &file));
        let px = got.get_pixel(24, 16);
        let off = (0..3).map(|i| (f64::from(px[i]) - want[i]).abs()).fold(0.0, f64::max);
        assert!(off <= 4.0 && px[3].abs_diff(128) <= 2, "prem {prem}: got {px:?}, want {want:?}");
    }
}

/// AVIF input speed and the cost of the decoder's process isolation (isolated.rs), not a check:
/// `AVIF_PROBE=photo.avif cargo test --release --lib avif_input_speed_probe -- --ignored --nocapture`
/// prints median times (default: a corpus file) of the decode in-process and isolated (runs
/// interleaved, so load affects both alike) and of AVIF → 800 px JPEG (isolated, as served).
#[test]
#[ignore]
fn avif_input_speed_probe() {
    let input = match std::env::var("AVIF_PROBE") {
        Ok(path) => std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}")),
        Err(_) => corpus("formats/exif-orientation.avif"),
    };
    let info = crate::pipeline::probe::inspect(&input).expect("probe");
    let time = |f: &dyn Fn()| {
        let t = std::time::Instant::now();
        f();
        t.elapsed().as_secs_f64() * 1000.0
    };
    let median = crate::pipeline::test_util::median;
    let in_process = || drop(crate::pipeline::avif_decode::decode_in_process(&input, &info).expect("decodes"));
    let isolated = || {
        drop(crate::pipeline::avif_decode::decode(&input, &info, crate::pipeline::test_util::later()).expect("decodes"))
    };
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..9 {
        a.push(time(&in_process));
        b.push(time(&isolated));
    }
    let (a, b) = (median(a), median(b));
    let p = plan(Processing { width: 800, ..Processing::default() }, jpeg_rules(ImageFormat::Jpeg));
    let thumb = median((0..9).map(|_| time(&|| drop(run_ok(&p, &input)))).collect());
    println!(
        "{}x{}: decode in-process {a:.1} ms, isolated {b:.1} ms (+{:.1} ms, {:.2}x); \
         → 800 px JPEG {thumb:.1} ms isolated (medians of 9)",
        info.probe.width,
        info.probe.height,
        b - a,
        b / a
    );
}
