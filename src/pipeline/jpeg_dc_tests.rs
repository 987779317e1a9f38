//! DC-only stream tests: the parser's refusals, and the quality proof (SSIM/PSNR of the DC-only 1/8
//! decode against libjpeg-turbo's full 1/8 decode) on the corpus' progressive photo and on progressive
//! rewrites (lossless, libjpeg-turbo's standard script) of corpus baseline photos.

use super::*;
use crate::pipeline::decode::decode_jpeg_at;
use crate::pipeline::probe::inspect;
use crate::pipeline::quality::{psnr, ssim, Pair};
use crate::pipeline::raster::Raster;
use crate::pipeline::test_util::{corpus, later};

/// A corpus JPEG rewritten as progressive without re-quantising (jpegtran -progressive).
fn progressive(path: &str) -> Vec<u8> {
    let mut transform = turbojpeg::Transform::op(turbojpeg::TransformOp::None);
    transform.progressive = true;
    let mut t = turbojpeg::Transformer::new().expect("transformer");
    t.transform_to_vec(&transform, &corpus(path)).expect("lossless progressive rewrite")
}

/// Index of the length field of the first segment with `marker` (walking segments, not searching bytes).
fn segment_body(data: &[u8], marker: u8) -> Option<usize> {
    let mut pos = 2;
    loop {
        let (m, body) = next_marker(data, pos)?;
        if m == marker {
            return Some(body);
        }
        pos = segment_end(data, body)?;
        if m == SOS {
            pos = scan_end(data, pos)?;
        }
    }
}

/// `data` with byte `offset` (relative to the first `marker` segment's length field) set to `value`.
fn patched(data: &[u8], marker: u8, offset: usize, value: u8) -> Vec<u8> {
    let mut out = data.to_vec();
    let body = segment_body(data, marker).expect("marker present");
    out[body + offset] = value;
    out
}

#[test]
fn streams_that_are_not_clean_progressive_jpegs_are_refused() {
    let prog = progressive("photos/mate-LadyBird.jpg");
    let one_sos = 2 + 1; // SOS body: length (2), component count (1), then the component specs
    let rows: Vec<(&str, Vec<u8>)> = vec![
        ("empty input", Vec::new()),
        ("a PNG", corpus("formats/i_trns.png")),
        ("a baseline JPEG", corpus("photos/mate-LadyBird.jpg")),
        ("progressive, truncated halfway", prog[..prog.len() / 2].to_vec()),
        ("progressive without its EOI", prog[..prog.len() - 2].to_vec()),
        ("12-bit progressive frame", patched(&prog, SOF2, 2, 12)),
        ("a quantisation table of unknown precision", patched(&prog, 0xDB, 2, 0x20)),
        (
            "a DC scan whose spectral end is not 0",
            patched(&prog, SOS, one_sos + 2 * usize::from(prog[segment_body(&prog, SOS).unwrap() + 2]) + 1, 5),
        ),
        ("a scan naming a component the frame lacks", patched(&prog, SOS, one_sos, 0x77)),
    ];
    for (name, input) in rows {
        assert_eq!(dc_only_stream(&input), None, "{name}");
    }
}

#[test]
fn progressive_streams_keep_every_dc_scan_and_replace_ac_scans_with_one_empty_scan_each() {
    let prog = progressive("photos/mate-Storm.jpg");
    let dc = dc_only_stream(&prog).unwrap();
    assert!(dc.starts_with(&[0xFF, SOI]) && dc.ends_with(&[0xFF, EOI]));
    let mut spectra = Vec::new();
    let mut pos = 2;
    while let Some((m, body)) = next_marker(&dc, pos) {
        let end = segment_end(&dc, body).unwrap_or(dc.len());
        if m == SOS {
            let count = usize::from(dc[body + 2]);
            spectra.push((count, dc[body + 3 + 2 * count], dc[body + 4 + 2 * count]));
        }
        pos = if m == SOS { scan_end(&dc, end).unwrap() } else { end };
    }
    // libjpeg's standard script for YCbCr: one interleaved DC first scan and one DC refinement scan, then
    // our three single-component empty scans of coefficient 1.
    assert_eq!(spectra, [(3, 0, 0), (3, 0, 0), (1, 1, 1), (1, 1, 1), (1, 1, 1)]);
    assert!(dc.len() * 4 < prog.len(), "DC stream {} of {} bytes", dc.len(), prog.len());
}

/// A bit-writer case: name, `(value, bit count)` puts, expected bytes.
type BitRow = (&'static str, &'static [(u32, u32)], &'static [u8]);

#[test]
fn quantisation_tables_lose_only_their_first_ac_entry() {
    let mut eight = vec![0, 0x43, 0x00];
    eight.extend(1..=64u8);
    let mut sixteen = vec![0, 0x83, 0x11];
    sixteen.extend((1..=128u8).rev());
    // Name, DQT segment, (index, value) of the bytes that must change.
    type DqtRow = (&'static str, Vec<u8>, Vec<(usize, u8)>);
    let rows: [DqtRow; 2] = [
        ("8-bit table: byte 1 of the table", eight, vec![(3 + 1, 0)]),
        ("16-bit table: bytes 2 and 3", sixteen, vec![(3 + 2, 0), (3 + 3, 0)]),
    ];
    for (name, segment, zeroed) in rows {
        let mut want = segment.clone();
        for (at, v) in zeroed {
            want[at] = v;
        }
        assert_eq!(without_smoothing(&segment), Some(want), "{name}");
        assert_eq!(without_smoothing(&segment[..segment.len() - 1]), None, "{name}, cut short");
    }
}

#[test]
fn bit_writer_stuffs_ff_and_pads_with_ones() {
    let rows: [BitRow; 4] = [
        ("nothing", &[], &[]),
        ("one bit, padded with ones", &[(0, 1)], &[0x7F]),
        ("0xFF is followed by a stuffed zero", &[(0xFF, 8)], &[0xFF, 0x00]),
        ("bits across bytes", &[(0b1010, 4), (0xF0F, 12)], &[0xAF, 0x0F]),
    ];
    for (name, puts, want) in rows {
        let mut w = BitWriter::default();
        for &(v, n) in puts {
            w.put(v, n);
        }
        let mut out = Vec::new();
        w.finish(&mut out);
        assert_eq!(out, want, "{name}");
    }
}

/// Full 1/8 decode and DC-only 1/8 decode of `input`.
fn both_decodes(input: &[u8]) -> (Raster, Raster) {
    let info = inspect(input).unwrap();
    let full = decode_jpeg_at(input, &info, 8).unwrap();
    let dc = decode_jpeg_at(&dc_only_stream(input).expect("DC stream"), &info, 8).unwrap();
    (full, dc)
}

#[test]
fn dc_only_decode_matches_the_full_eighth_scale_decode() {
    let rows: Vec<(&str, Vec<u8>)> = vec![
        ("corpus progressive 4:4:4, 15 MP", corpus("photos/volna_prog444q85.jpg")),
        ("12 MP photo made progressive", progressive("photos/eleph12mp.jpg")),
        ("4 MP photo made progressive", progressive("photos/mate-LadyBird.jpg")),
        ("grayscale made progressive", progressive("photos/plasma-Grey-gray.jpg")),
        ("CMYK made progressive", progressive("formats/pil_sample_cmyk.jpg")),
    ];
    for (name, input) in rows {
        let (full, dc) = both_decodes(&input);
        assert_eq!((dc.width, dc.height, dc.alpha), (full.width, full.height, full.alpha), "{name}");
        let pair =
            Pair { width: full.width as usize, height: full.height as usize, channels: 3, a: &full.data, b: &dc.data };
        let (s, p) = (ssim(pair).unwrap(), psnr(pair).unwrap());
        println!("{name}: {}x{} SSIM {s:.6} PSNR {p:.1} dB", full.width, full.height);
        assert!(s >= 0.99, "{name}: SSIM {s}");
        assert!(p >= 36.0, "{name}: PSNR {p}");
    }
}

#[test]
fn the_pipeline_decode_takes_the_dc_path_only_at_eighth_scale() {
    let input = corpus("photos/volna_prog444q85.jpg");
    let info = inspect(&input).unwrap();
    let dc = decode_jpeg_at(&dc_only_stream(&input).unwrap(), &info, 8).unwrap();
    let via_decode = crate::pipeline::decode::decode(&input, &info, 9.0, later()).unwrap();
    assert_eq!(via_decode, dc, "a 1/8 decode of a progressive file is the DC-only decode");
    let quarter = crate::pipeline::decode::decode(&input, &info, 4.0, later()).unwrap();
    assert_eq!((quarter.width, quarter.height), (1280, 720), "1/4 still decodes the AC scans");
}

#[test]
fn damaged_streams_never_panic_and_any_rewrite_still_decodes_or_errs() {
    let prog = progressive("photos/mate-FreshFlower.jpg");
    let info = inspect(&prog).unwrap();
    let mut seed = 0x9E37_79B9_u32;
    let mut next = move || {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        seed
    };
    let header_end = segment_body(&prog, SOS).unwrap() + 64;
    for round in 0..300 {
        let mut damaged = prog.clone();
        for _ in 0..1 + round % 4 {
            // Mostly the marker-dense head of the file, sometimes anywhere.
            let span = if round % 3 == 0 { damaged.len() } else { header_end };
            let at = next() as usize % span;
            damaged[at] = (next() >> 24) as u8;
        }
        if let Some(dc) = dc_only_stream(&damaged) {
            // The decoder may refuse the rewrite; the pipeline then falls back. It must not crash.
            let _ = decode_jpeg_at(&dc, &info, 8);
        }
    }
}

/// Timing, not a check: `cargo test --release --lib jpeg_dc_timing -- --ignored --nocapture`.
#[test]
#[ignore = "timing only"]
fn jpeg_dc_timing() {
    let input = corpus("photos/volna_prog444q85.jpg");
    let info = inspect(&input).unwrap();
    let median = |f: &dyn Fn()| crate::pipeline::test_util::median(crate::pipeline::test_util::times_ms(7, f));
    let full = median(&|| drop(decode_jpeg_at(&input, &info, 8).unwrap()));
    let rewrite = median(&|| drop(dc_only_stream(&input).unwrap()));
    let dc = median(&|| drop(crate::pipeline::decode::decode(&input, &info, 8.0, later()).unwrap()));
    println!("15 MP progressive at 1/8: full decode {full:.1} ms, DC-only {dc:.1} ms (rewrite {rewrite:.1} ms)");
}
