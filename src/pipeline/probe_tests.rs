//! Probe tests: the corpus manifest (`/work/shared/corpus/README.md`, as libvips reads the files) and
//! hand-built hostile headers.

use super::*;
use crate::pipeline::test_util::corpus;
use crate::plan::ImageFormat as F;

/// (file, format, width, height, frames) from the corpus manifest. Deliberate differences from the
/// libvips column: APNG reports its `acTL` frame count (libvips' pngload ignores APNG), and BMP/ICO,
/// which this libvips build cannot load, are checked against their headers (`hopper.ico` holds one
/// 16×16 entry).
#[test]
fn corpus_files_probe_as_the_manifest_says() {
    let rows: &[(&str, F, u32, u32, u32)] = &[
        ("edge/broken_exif_dpi.jpg", F::Jpeg, 100, 100, 1),
        ("formats/chi.gif", F::Gif, 320, 240, 31),
        ("formats/exif-orientation.avif", F::Avif, 512, 512, 1),
        ("formats/flower2.webp", F::Webp, 300, 225, 1),
        ("formats/gnome-dune.svg", F::Svg, 4096, 4096, 1),
        ("formats/gnome-licorice-4096.webp", F::Webp, 4096, 4096, 1),
        ("formats/hopper.avif", F::Avif, 128, 128, 1),
        ("formats/hopper.bmp", F::Bmp, 128, 128, 1),
        ("formats/hopper.ico", F::Ico, 16, 16, 1),
        ("formats/hopper.tif", F::Tiff, 128, 128, 1),
        ("formats/hopper_orientation_6.jpg", F::Jpeg, 128, 128, 1),
        ("formats/hopper_orientation_6.webp", F::Webp, 128, 128, 1),
        ("formats/i_trns.png", F::Png, 64, 64, 1),
        ("formats/icc_profile_big.jpg", F::Jpeg, 425, 250, 1),
        ("formats/iss634.apng", F::Png, 245, 245, 41),
        ("formats/iss634.gif", F::Gif, 245, 245, 42),
        ("formats/iss634.webp", F::Webp, 245, 245, 42),
        ("formats/pil_sample_cmyk.jpg", F::Jpeg, 100, 100, 1),
        ("formats/plasma-IceCold-rgba-5120.png", F::Png, 5120, 2880, 1),
        ("formats/ukui-city.png", F::Png, 3640, 2400, 1),
        ("photos/eleph12mp.jpg", F::Jpeg, 4000, 3000, 1),
        ("photos/plasma-Grey-gray.jpg", F::Jpeg, 2560, 1600, 1),
        ("photos/sharp_paper_2048x1536.png", F::Png, 2048, 1536, 1),
        ("photos/volna_prog444q85.jpg", F::Jpeg, 5120, 2880, 1),
        ("photos/tiled-50mp.jpg", F::Jpeg, 9000, 5625, 1),
    ];
    for &(file, format, width, height, frames) in rows {
        let p = probe_of(&corpus(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(p, Probe { format, width, height, frames }, "{file}");
    }
}

fn probe_of(input: &[u8]) -> Result<Probe, PipelineError> {
    inspect(input).map(|i| i.probe)
}

#[test]
fn header_details_are_noted() {
    assert!(inspect(&corpus("photos/volna_prog444q85.jpg")).unwrap().progressive);
    assert!(!inspect(&corpus("photos/eleph12mp.jpg")).unwrap().progressive);
    assert!(inspect(&corpus("formats/pil_sample_cmyk.jpg")).unwrap().adobe);
    assert!(inspect(&corpus("formats/i_trns.png")).unwrap().has_alpha);
    assert!(inspect(&corpus("formats/iss634.webp")).unwrap().has_alpha);
    assert!(!inspect(&corpus("formats/flower2.webp")).unwrap().has_alpha);
}

fn png_header(width: u32, height: u32) -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    v.extend_from_slice(&width.to_be_bytes());
    v.extend_from_slice(&height.to_be_bytes());
    v.extend_from_slice(&[8, 6, 0, 0, 0, 0, 0, 0, 0]);
    v
}

/// The PNG interlace method (IHDR byte 12, file byte 28) is noted: an Adam7 file decodes whole, and the
/// memory budget must count it so (`png_stream::held_bytes`).
#[test]
fn png_interlace_method_is_noted() {
    let with_method = |m: u8| {
        let mut v = png_header(6000, 4000);
        v[28] = m;
        v
    };
    let rows: [(&str, Vec<u8>, bool); 5] = [
        ("corpus PNG, method 0", corpus("formats/plasma-IceCold-rgba-5120.png"), false),
        ("method 0", with_method(0), false),
        ("method 1: Adam7", with_method(1), true),
        ("header cut before the method: unknown counts as interlaced", png_header(6000, 4000)[..28].to_vec(), true),
        ("a JPEG is never interlaced in this sense", corpus("photos/volna_prog444q85.jpg"), false),
    ];
    for (name, bytes, want) in rows {
        assert_eq!(inspect(&bytes).map(|i| i.interlaced), Ok(want), "{name}");
    }
}

#[test]
fn huge_png_header_probes_and_is_refused_by_the_limit() {
    let p = probe_of(&png_header(30_000, 30_000)).unwrap();
    assert_eq!((p.width, p.height), (30_000, 30_000));
    let limits = Limits::default();
    assert!(matches!(check_limits(&p, &limits), Err(PipelineError::ResolutionTooBig(_))));
    let unlimited = Limits { max_src_resolution: 0, ..Limits::default() };
    assert!(check_limits(&p, &unlimited).is_ok());
}

/// An icon directory entry (`w`, `h` as stored, 0 = 256) pointing at `data` right after the directory.
fn icon_with(w: u8, h: u8, data: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, 1, 0, 1, 0, w, h, 0, 0, 1, 0, 32, 0];
    v.extend_from_slice(&(data.len() as u32).to_le_bytes());
    v.extend_from_slice(&22u32.to_le_bytes());
    v.extend_from_slice(data);
    v
}

/// Found by `tests/hostile_inputs.rs` (issue 8): the directory's one-byte size said 256×256 while
/// the embedded PNG claimed 30000², so the bomb passed the limit check and was served raw.
#[test]
fn icon_size_comes_from_the_embedded_image_not_the_directory() {
    let rows: &[(&str, Vec<u8>, (u32, u32))] = &[
        ("png bomb behind a 256² entry", icon_with(0, 0, &png_header(30_000, 30_000)), (30_000, 30_000)),
        ("png bomb behind a 1² entry", icon_with(1, 1, &png_header(40_000, 2)), (40_000, 2)),
        ("dib height counts the mask", icon_with(16, 16, &[40, 0, 0, 0, 16, 0, 0, 0, 32, 0, 0, 0]), (16, 16)),
        ("dib bomb", icon_with(16, 16, &[40, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0]), (65_536, 65_536)),
        ("entry past the end keeps the directory size", icon_with(8, 4, &[]), (8, 4)),
    ];
    for (name, icon, want) in rows {
        let p = probe_of(icon).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!((p.width, p.height), *want, "{name}");
    }
    let bomb = probe_of(&rows[0].1).unwrap();
    assert!(matches!(check_limits(&bomb, &Limits::default()), Err(PipelineError::ResolutionTooBig(_))));
}

#[test]
fn gif_bomb_frame_outside_the_screen_counts_for_the_limit() {
    let p = probe_of(&corpus("edge/decompression_bomb.gif")).unwrap();
    assert!(u64::from(p.width) * u64::from(p.height) > 1_000_000_000, "{p:?}");
    assert!(check_limits(&p, &Limits::default()).is_err());
}

#[test]
fn frames_count_only_up_to_the_animation_limit() {
    let p = Probe { format: F::Gif, width: 1000, height: 1000, frames: 100 };
    let mut limits = Limits { max_src_resolution: 10_000_000, ..Limits::default() };
    assert!(check_limits(&p, &limits).is_ok(), "one frame decoded");
    limits.max_animation_frames = 20;
    assert!(check_limits(&p, &limits).is_err(), "20 frames decoded");
    limits.max_animation_frame_resolution = 1_000_000;
    assert!(check_limits(&p, &limits).is_ok(), "per-frame limit replaces the total");
    limits.max_animation_frame_resolution = 999_999;
    assert!(check_limits(&p, &limits).is_err());
}

/// (name, bytes, expected error kind)
type BadRow = (&'static str, Vec<u8>, fn(&PipelineError) -> bool);

#[test]
fn bad_headers_are_errors_not_panics() {
    let sof_16bit = [0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x0B, 16, 0, 8, 0, 8, 1, 1, 0x11, 0];
    // 12-bit JPEGs are extended-sequential (SOF1) files from medical and camera pipelines.
    let sof_12bit = [0xFF, 0xD8, 0xFF, 0xC1, 0x00, 0x0B, 12, 0, 8, 0, 8, 1, 1, 0x11, 0];
    let heic = [&[0, 0, 0, 16][..], b"ftypheic", &[0, 0, 0, 0]].concat();
    let mut gif_no_frames = b"GIF89a\x0a\0\x0a\0\0\0\0".to_vec();
    gif_no_frames.push(0x3B);
    let mut gif_long = b"GIF89a\x01\0\x01\0\0\0\0".to_vec();
    for _ in 0..200_000 {
        gif_long.extend_from_slice(&[0x21, 0xFE, 0x00]); // empty comment extensions
    }
    let rows: Vec<BadRow> = vec![
        ("zero bytes", vec![], |e| *e == PipelineError::UnknownFormat),
        ("text", b"hello world".to_vec(), |e| *e == PipelineError::UnknownFormat),
        ("jpeg magic only", vec![0xFF, 0xD8, 0xFF], |e| matches!(e, PipelineError::Corrupt(_))),
        ("jpeg 16-bit", sof_16bit.to_vec(), |e| matches!(e, PipelineError::Unsupported(_))),
        ("jpeg 12-bit", sof_12bit.to_vec(), |e| matches!(e, PipelineError::Unsupported(_))),
        ("jpeg scan before frame", vec![0xFF, 0xD8, 0xFF, 0xDA, 0, 2], |e| matches!(e, PipelineError::Corrupt(_))),
        ("png truncated ihdr", png_header(1, 1)[..18].to_vec(), |e| matches!(e, PipelineError::Corrupt(_))),
        ("png zero width", png_header(0, 5), |e| matches!(e, PipelineError::Corrupt(_))),
        ("gif without frames", gif_no_frames, |e| matches!(e, PipelineError::Corrupt(_))),
        ("gif endless extensions", gif_long, |e| matches!(e, PipelineError::Corrupt(_))),
        ("webp truncated", b"RIFF\0\0\0\0WEBPVP8 ".to_vec(), |e| matches!(e, PipelineError::Corrupt(_))),
        ("heic has no ispe", heic, |e| matches!(e, PipelineError::Corrupt(_))),
        ("bmp truncated", b"BM\0\0".to_vec(), |e| matches!(e, PipelineError::Corrupt(_))),
        ("tiff bad ifd", b"II*\0\xff\xff\xff\x7f".to_vec(), |e| matches!(e, PipelineError::Corrupt(_))),
    ];
    for (name, bytes, ok) in rows {
        let err = probe_of(&bytes).expect_err(name);
        assert!(ok(&err), "{name}: {err:?}");
    }
}

#[test]
fn truncated_corpus_prefixes_never_panic() {
    for file in ["photos/mate-FreshFlower.jpg", "formats/iss634.gif", "formats/iss634.webp", "formats/hopper.avif"] {
        let data = corpus(file);
        for len in (0..data.len().min(4096)).step_by(7) {
            let _ = probe_of(&data[..len]);
        }
    }
}

#[test]
fn svg_size_comes_from_attributes_or_view_box() {
    let rows: &[(&str, (u32, u32))] = &[
        (r#"<svg xmlns="http://www.w3.org/2000/svg" width="120px" height="80"></svg>"#, (120, 80)),
        (r#"<?xml version="1.0"?><svg viewBox="0 0 64 32"/>"#, (64, 32)),
        (r#"<svg width="50%" viewBox="0,0,10,20"/>"#, (10, 20)),
        ("\u{feff}  <svg>", (300, 150)),
    ];
    for (text, size) in rows {
        let p = probe_of(text.as_bytes()).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!((p.format, p.width, p.height), (F::Svg, size.0, size.1), "{text}");
    }
    assert_eq!(probe_of(b"<html><svg/></html>"), Err(PipelineError::UnknownFormat));
}
