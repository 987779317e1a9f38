use ravif::{BitDepth, ColorModel, MatrixCoefficients, PixelRange};

use super::*;
use crate::pipeline::avif_container::tests::{build, build_grid, bx, single_color, Spec};
use crate::pipeline::probe;
use crate::pipeline::quality::{psnr, Pair};
use crate::pipeline::test_util::{corpus, later};

/// A smooth test picture with some edges: diagonal gradients and a dark square; alpha a horizontal ramp.
fn picture(w: u32, h: u32, alpha: bool) -> Raster {
    let mut data = Vec::new();
    for y in 0..h {
        for x in 0..w {
            let inside = (w / 4..w / 2).contains(&x) && (h / 4..h / 2).contains(&y);
            let (r, g, b) = if inside { (20, 30, 40) } else { (x * 255 / w, y * 255 / h, (x + y) * 127 / (w + h)) };
            data.extend([r as u8, g as u8, b as u8]);
            if alpha {
                data.push((x * 255 / w.max(2).saturating_sub(1)).min(255) as u8);
            }
        }
    }
    Raster { width: w, height: h, alpha, data }
}

fn encoder(depth: BitDepth, model: ColorModel) -> ravif::Encoder<'static> {
    ravif::Encoder::new()
        .with_quality(95.0)
        .with_alpha_quality(95.0)
        .with_speed(10)
        .with_num_threads(Some(1))
        .with_bit_depth(depth)
        .with_internal_color_model(model)
}

/// `img` (RGB or RGBA) as AVIF by `ravif`, in encodings our own encoder (`avif_encode.rs`) does not write:
/// 10-bit, 4:4:4 at any quality, the RGB (identity) matrix.
fn avif_of(img: &Raster, depth: BitDepth, model: ColorModel) -> Vec<u8> {
    let (enc, w, h) = (encoder(depth, model), img.width as usize, img.height as usize);
    let encoded = if img.alpha {
        let px: Vec<ravif::RGBA8> =
            img.data.chunks_exact(4).map(|p| ravif::RGBA8::new(p[0], p[1], p[2], p[3])).collect();
        enc.encode_rgba(ravif::Img::new(&px[..], w, h))
    } else {
        let px: Vec<ravif::RGB8> = img.data.chunks_exact(3).map(|p| ravif::RGB8::new(p[0], p[1], p[2])).collect();
        enc.encode_rgb(ravif::Img::new(&px[..], w, h))
    };
    encoded.expect("ravif encodes").avif_file
}

fn decode_bytes(bytes: &[u8]) -> Result<Raster, PipelineError> {
    decode(bytes, &probe::inspect(bytes)?, later())
}

fn pair<'a>(a: &'a Raster, b: &'a Raster) -> Pair<'a> {
    Pair { width: a.width as usize, height: a.height as usize, channels: a.channels(), a: &a.data, b: &b.data }
}

#[test]
fn our_encodes_decode_back_close_to_the_source() {
    type Row = (&'static str, (u32, u32), bool, BitDepth, ColorModel);
    let rows: &[Row] = &[
        ("8-bit RGB, odd size", (37, 23), false, BitDepth::Eight, ColorModel::YCbCr),
        ("10-bit RGB", (64, 48), false, BitDepth::Ten, ColorModel::YCbCr),
        ("8-bit RGBA, odd size", (33, 17), true, BitDepth::Eight, ColorModel::YCbCr),
        ("10-bit RGBA", (40, 30), true, BitDepth::Ten, ColorModel::YCbCr),
        ("identity matrix (GBR planes)", (32, 32), false, BitDepth::Eight, ColorModel::RGB),
    ];
    for (name, (w, h), alpha, depth, model) in rows {
        let src = picture(*w, *h, *alpha);
        let got = decode_bytes(&avif_of(&src, *depth, *model)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!((got.width, got.height, got.alpha), (*w, *h, *alpha), "{name}: size and layout");
        let db = psnr(pair(&src, &got)).expect("same size");
        assert!(db >= 35.0, "{name}: PSNR {db:.1} dB");
        if *alpha {
            let worst = src.data.chunks_exact(4).zip(got.data.chunks_exact(4)).map(|(a, b)| a[3].abs_diff(b[3])).max();
            assert!(worst.is_some_and(|d| d <= 6), "{name}: alpha off by {worst:?}");
        }
    }
}

/// Limited-range BT.709 planes written straight into the AV1 stream, so the decoder's matrix and range
/// handling are checked against H.273's forward equations, not against another converter.
#[test]
fn limited_range_bt709_planes_decode_to_their_colours() {
    let colours: [[u8; 3]; 4] = [[255, 0, 0], [0, 200, 0], [30, 60, 220], [128, 128, 128]];
    let yuv = |[r, g, b]: [u8; 3]| {
        let (r, g, b) = (f64::from(r) / 255.0, f64::from(g) / 255.0, f64::from(b) / 255.0);
        let y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
        let (cb, cr) = ((b - y) / 1.8556, (r - y) / 1.5748);
        [16.0 + 219.0 * y, 128.0 + 224.0 * cb, 128.0 + 224.0 * cr].map(|v| v.round() as u8)
    };
    let (w, h) = (32usize, 32usize);
    let colour_at = |i: usize| colours[(i % w) / 16 + 2 * ((i / w) / 16)];
    let planes = (0..w * h).map(|i| yuv(colour_at(i)));
    let enc = encoder(BitDepth::Eight, ColorModel::YCbCr);
    let file = enc
        .encode_raw_planes_8_bit(w, h, planes, None::<[u8; 0]>, PixelRange::Limited, MatrixCoefficients::BT709)
        .expect("encodes")
        .avif_file;
    let got = decode_bytes(&file).expect("decodes");
    for (quadrant, want) in colours.iter().enumerate() {
        let (x, y) = (8 + 16 * (quadrant % 2), 8 + 16 * (quadrant / 2));
        let at = (y * w + x) * 3;
        let px = &got.data[at..at + 3];
        let close = px.iter().zip(want).all(|(a, b)| a.abs_diff(*b) <= 4);
        assert!(close, "quadrant {quadrant}: got {px:?}, want {want:?}");
    }
}

#[test]
fn corpus_avifs_match_an_independent_decode_of_the_same_picture() {
    // hopper.avif and hopper.tif are the same picture; the TIFF goes through the `image` crate.
    let ours = decode_bytes(&corpus("formats/hopper.avif")).expect("decodes");
    let tif = image::load_from_memory(&corpus("formats/hopper.tif")).expect("tiff").into_rgb8();
    let reference = Raster { width: tif.width(), height: tif.height(), alpha: false, data: tif.into_raw() };
    assert_eq!((ours.width, ours.height, ours.alpha), (128, 128, false));
    let db = psnr(pair(&reference, &ours)).expect("same size");
    assert!(db >= 30.0, "hopper.avif vs hopper.tif: {db:.1} dB");
    let big = decode_bytes(&corpus("formats/exif-orientation.avif")).expect("decodes");
    assert_eq!((big.width, big.height), (512, 512));
}

#[test]
fn broken_files_are_errors_not_panics() {
    let file = avif_of(&picture(24, 16, true), BitDepth::Eight, ColorModel::YCbCr);
    for len in [0, 12, 40, file.len() / 2, file.len() - 30, file.len() - 1] {
        let cut = &file[..len];
        let result = probe::inspect(cut).and_then(|info| decode(cut, &info, later()));
        assert!(result.is_err(), "cut at {len} of {} decodes", file.len());
    }
    // Damage inside the AV1 payloads (the last bytes of the file) must not panic; it may still decode.
    for back in [1, 5, 20, 60, 120] {
        let mut bad = file.clone();
        let at = bad.len().saturating_sub(back);
        bad[at] ^= 0x5A;
        let _ = decode_bytes(&bad);
    }
}

#[test]
fn a_bitstream_larger_than_its_ispe_is_refused() {
    // The probe (and the resolution limit) sees `ispe`; the AV1 frame may not be bigger.
    let file = avif_of(&picture(64, 48, false), BitDepth::Eight, ColorModel::YCbCr);
    let color = single_color(&file);
    let lying = build(&Spec::still(&color, (8, 8)));
    assert!(decode_bytes(&lying).is_err());
    let honest = build(&Spec::still(&color, (64, 48)));
    assert_eq!(decode_bytes(&honest).map(|r| (r.width, r.height)).ok(), Some((64, 48)));
}

#[test]
fn irot_and_imir_become_the_orientation() {
    // (properties, where the stored top-left pixel is shown: as Orient maps a corner of a 4×2 image)
    let rows: &[(&str, Vec<Vec<u8>>, Orient)] = &[
        ("none", vec![], Orient::IDENTITY),
        ("irot 1 = 90° anticlockwise", vec![bx(b"irot", &[1])], Orient::rotation(270)),
        ("irot 3 = 90° clockwise", vec![bx(b"irot", &[3])], Orient::rotation(90)),
        ("imir 0 swaps left and right", vec![bx(b"imir", &[0])], Orient::from_exif(2)),
        ("imir 1 swaps top and bottom", vec![bx(b"imir", &[1])], Orient::from_exif(4)),
        (
            "irot 1 then imir 0",
            vec![bx(b"irot", &[1]), bx(b"imir", &[0])],
            Orient::rotation(270).then(Orient::from_exif(2)),
        ),
    ];
    for (name, props, want) in rows {
        let file = build(&Spec { props: props.clone(), ..Spec::still(&[0; 8], (4, 2)) });
        assert_eq!(orientation(&file), *want, "{name}");
    }
}

/// Mean and worst absolute difference over every channel of two same-layout rasters.
fn differences(a: &Raster, b: &Raster) -> (f64, u8) {
    let d: Vec<u8> = a.data.iter().zip(&b.data).map(|(x, y)| x.abs_diff(*y)).collect();
    (d.iter().map(|v| f64::from(*v)).sum::<f64>() / d.len().max(1) as f64, d.iter().copied().max().unwrap_or(0))
}

#[test]
fn libaom_files_match_libvips_decode() {
    // Written by libaom through libvips (scripts/avif_fixtures.py), with libvips' own decode beside them.
    let rows: &[(&str, bool)] = &[("12bit-420", false), ("10bit-444", false), ("8bit-420-alpha", true)];
    let dir = format!("{}/tests/fixtures/avif", env!("CARGO_MANIFEST_DIR"));
    for (name, alpha) in rows {
        let bytes = std::fs::read(format!("{dir}/{name}.avif")).expect("fixture");
        let ours = decode_bytes(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let png = image::open(format!("{dir}/{name}.libvips.png")).expect("reference");
        let data = if *alpha { png.into_rgba8().into_raw() } else { png.into_rgb8().into_raw() };
        let reference = Raster { width: 48, height: 32, alpha: *alpha, data };
        assert_eq!((ours.width, ours.height, ours.alpha), (48, 32, *alpha), "{name}");
        let (mean, worst) = differences(&ours, &reference);
        assert!(mean <= 0.5 && worst <= 3, "{name}: mean {mean:.2}, worst {worst}");
    }
}

#[test]
fn grid_tiles_are_put_together() {
    // A 70×50 picture cut into 2×2 tiles of 40×32 (the last column and row cropped, as HEIF allows),
    // each tile encoded on its own; the grid decodes back to the whole picture.
    let whole = picture(80, 64, false);
    let tile_at = |tx: u32, ty: u32| {
        whole.crop(crate::pipeline::geometry::Rect { x: tx * 40, y: ty * 32, width: 40, height: 32 })
    };
    let tiles: Vec<Vec<u8>> = [(0, 0), (1, 0), (0, 1), (1, 1)]
        .iter()
        .map(|(x, y)| single_color(&avif_of(&tile_at(*x, *y), BitDepth::Eight, ColorModel::YCbCr)))
        .collect();
    let got = decode_bytes(&build_grid(&tiles, 2, (70, 50))).expect("grid decodes");
    assert_eq!((got.width, got.height), (70, 50));
    let want = whole.crop(crate::pipeline::geometry::Rect { x: 0, y: 0, width: 70, height: 50 });
    let db = psnr(pair(&want, &got)).expect("same size");
    assert!(db >= 35.0, "grid vs the whole picture: {db:.1} dB");
    // Tiles that leave a gap (2×2 of 40×32 cannot cover 90×50) or a wholly outside column are refused.
    for size in [(90, 50), (30, 50)] {
        assert!(decode_bytes(&build_grid(&tiles, 2, size)).is_err(), "{size:?}");
    }
}

/// The corpus' hopper.avif with the one-byte change (found by fuzzing, `fuzz/`, pipeline target) that
/// makes rav1d 1.1.0 panic inside `dav1d_send_data` (`rav1d_submit_frame::on_error` unwraps a missing
/// frame header). The panic cannot unwind through rav1d's `extern "C"` API, so it aborts its process.
fn rav1d_abort_file() -> Vec<u8> {
    let mut bytes = corpus("formats/hopper.avif");
    assert_eq!(bytes.get(2943), Some(&b'5'), "the corpus file this reproducer patches");
    bytes[2943] = b'0';
    bytes
}

/// The abort now kills only the forked decoder (isolated.rs): a clean 422-class error, and this process
/// (the test binary) lives on to decode the next, valid file.
#[test]
fn rav1d_abort_reproducer_is_a_clean_error() {
    let got = decode_bytes(&rav1d_abort_file());
    assert_eq!(got, Err(PipelineError::Corrupt("AVIF decoder failed on this file".into())));
    let next = decode_bytes(&corpus("formats/hopper.avif")).expect("still alive: the next file decodes");
    assert_eq!((next.width, next.height), (128, 128));
}

/// The isolated decode returns exactly what the same decode in-process does.
#[test]
fn isolated_decode_equals_the_in_process_decode() {
    let rows: [(&str, Vec<u8>); 4] = [
        ("corpus hopper", corpus("formats/hopper.avif")),
        ("corpus 512² with irot", corpus("formats/exif-orientation.avif")),
        ("10-bit RGBA", avif_of(&picture(40, 30, true), BitDepth::Ten, ColorModel::YCbCr)),
        ("8-bit RGB odd size", avif_of(&picture(37, 23, false), BitDepth::Eight, ColorModel::YCbCr)),
    ];
    for (name, bytes) in rows {
        let info = probe::inspect(&bytes).expect("probes");
        let isolated = decode(&bytes, &info, later()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let in_process = decode_in_process(&bytes, &info).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(isolated == in_process, "{name}: isolated and in-process decodes differ");
    }
}

/// The isolated decode's errors keep their meaning (the child's error crosses the pipe).
#[test]
fn decoder_errors_cross_the_isolation_unchanged() {
    // An AV1 frame bigger than its `ispe`: rav1d refuses it with an error code (no panic).
    let file = avif_of(&picture(64, 48, false), BitDepth::Eight, ColorModel::YCbCr);
    let lying = build(&Spec::still(&single_color(&file), (8, 8)));
    let info = probe::inspect(&lying).expect("probes");
    let in_process = decode_in_process(&lying, &info);
    assert!(matches!(in_process, Err(PipelineError::Corrupt(ref m)) if m.starts_with("AVIF")), "{in_process:?}");
    assert_eq!(decode(&lying, &info, later()), in_process);
}
