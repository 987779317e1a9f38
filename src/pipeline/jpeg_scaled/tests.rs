//! The scaled decoder against libjpeg-turbo's scaled decode of the same file (PSNR and SSIM), on corpus
//! photos of every sampling we accept and on files written here by libjpeg-turbo (every sampling, with
//! and without restart markers, odd sizes), plus scope and corrupt-input rows.

use std::time::Instant;

use super::decode;
use crate::pipeline::decode::decode_jpeg_at;
use crate::pipeline::probe::inspect;
use crate::pipeline::quality::{psnr, ssim, Pair};
use crate::pipeline::raster::Raster;
use crate::pipeline::test_util::{self, corpus};
use turbojpeg::raw;

/// libjpeg-turbo's decode of `input` at 1/`shrink`: the reference.
fn reference(input: &[u8], shrink: usize) -> Raster {
    let info = inspect(input).expect("probe");
    decode_jpeg_at(input, &info, shrink).expect("libjpeg-turbo decodes")
}

fn ours(input: &[u8], shrink: usize) -> Option<Raster> {
    let info = inspect(input).ok()?;
    decode(input, info.probe.width, info.probe.height, shrink)
}

/// Asserts that our decode exists, has libjpeg-turbo's size, and is within PSNR 40 dB / SSIM 0.995.
fn assert_close(name: &str, input: &[u8], shrink: usize) -> (f64, f64) {
    let got = ours(input, shrink).unwrap_or_else(|| panic!("{name} 1/{shrink}: not decoded"));
    let want = reference(input, shrink);
    assert_eq!((got.width, got.height), (want.width, want.height), "{name} 1/{shrink}: size");
    let pair =
        Pair { width: got.width as usize, height: got.height as usize, channels: 3, a: &got.data, b: &want.data };
    let (p, s) = (psnr(pair).expect("same size"), ssim(pair).expect("same size"));
    assert!(p >= 40.0 && s >= 0.995, "{name} 1/{shrink}: PSNR {p:.2} dB, SSIM {s:.5}");
    (p, s)
}

#[test]
fn corpus_photos_match_libjpeg_turbo() {
    let rows = [
        ("4:2:0 12 MP photo", "photos/eleph12mp.jpg", 4),
        ("4:4:4 9 MP photo", "photos/lake9mp.jpg", 8),
        ("4:2:2 photo", "photos/mate-Dune.jpg", 2),
        ("4:2:2 photo at 1/4", "photos/mate-Storm.jpg", 4),
        ("greyscale", "photos/plasma-Grey-gray.jpg", 4),
        ("4:4:4 with ICC profile", "photos/plasma-Path-icc.jpg", 2),
        ("4:2:0 odd size 2725x2225", "photos/sharp_2725x2225.jpg", 8),
        ("4:2:0 small", "formats/hopper_orientation_2.jpg", 2),
        ("4:2:0 broken EXIF", "edge/broken_exif_dpi.jpg", 4),
    ];
    for (name, file, shrink) in rows {
        let (p, s) = assert_close(name, &corpus(file), shrink);
        println!("{name} 1/{shrink}: PSNR {p:.2} dB, SSIM {s:.5}");
    }
}

/// A smooth field with edges and texture, so both low and high frequencies are present.
fn synthetic(width: usize, height: usize) -> Vec<u8> {
    let mut seed = 0x2545_F491_u32;
    let mut out = Vec::with_capacity(width * height * 3);
    for y in 0..height {
        for x in 0..width {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let noise = (seed >> 27) as usize;
            let edge = if (x / 5 + y / 7) % 2 == 0 { 60 } else { 0 };
            out.push(((x * 255 / width.max(1)) / 2 + edge + noise) as u8);
            out.push(((y * 255 / height.max(1)) / 2 + noise * 2) as u8);
            out.push((128 + edge - noise) as u8);
        }
    }
    out
}

/// Compresses RGB with libjpeg-turbo at quality 90, `samp` (a `TJSAMP_*`) and a restart marker every
/// `restart_blocks` MCUs (0: none). The safe wrapper has no restart setter, hence the raw API.
fn write_jpeg(rgb: &[u8], width: usize, height: usize, samp: i32, restart_blocks: i32) -> Vec<u8> {
    let (w, h) = (width as i32, height as i32);
    // SAFETY: tj3 calls on a handle we create and destroy here; `rgb` holds width × height × 3 bytes
    // (pitch 0 = packed); the output buffer is allocated by libjpeg-turbo, copied, then freed with tj3Free.
    unsafe {
        let handle = raw::tj3Init(raw::TJINIT_TJINIT_COMPRESS as i32);
        assert!(!handle.is_null());
        for (param, value) in [
            (raw::TJPARAM_TJPARAM_QUALITY, 90),
            (raw::TJPARAM_TJPARAM_SUBSAMP, samp),
            (raw::TJPARAM_TJPARAM_RESTARTBLOCKS, restart_blocks),
        ] {
            assert_eq!(raw::tj3Set(handle, param as i32, value), 0);
        }
        let (mut buf, mut size) = (std::ptr::null_mut(), 0);
        let rc = raw::tj3Compress8(handle, rgb.as_ptr(), w, 0, h, raw::TJPF_TJPF_RGB, &mut buf, &mut size);
        assert_eq!(rc, 0, "tj3Compress8");
        let out = std::slice::from_raw_parts(buf, size as usize).to_vec();
        raw::tj3Free(buf.cast());
        raw::tj3Destroy(handle);
        out
    }
}

#[test]
fn generated_files_of_every_sampling_size_and_restart_interval_match() {
    let samplings =
        [("4:4:4", raw::TJSAMP_TJSAMP_444), ("4:2:0", raw::TJSAMP_TJSAMP_420), ("grey", raw::TJSAMP_TJSAMP_GRAY)];
    let sizes = [(17, 9), (1, 1), (64, 48), (33, 65), (250, 131)];
    for (sname, samp) in samplings {
        for (w, h) in sizes {
            let rgb = synthetic(w, h);
            for restart in [0, 1, 3] {
                let file = write_jpeg(&rgb, w, h, samp, restart);
                for shrink in [2, 4, 8] {
                    assert_close(&format!("{sname} {w}x{h} restart {restart}"), &file, shrink);
                }
            }
        }
    }
}

/// `full` reduced by box means over `shrink × shrink` pixels (partial boxes at the right and bottom
/// edges average what they cover): what a scaled decode ideally produces.
fn box_down(full: &Raster, shrink: usize) -> Raster {
    let (w, h) = (full.width as usize, full.height as usize);
    let (ow, oh) = (w.div_ceil(shrink), h.div_ceil(shrink));
    let mut data = Vec::with_capacity(ow * oh * 3);
    for oy in 0..oh {
        for ox in 0..ow {
            let (mut sum, mut n) = ([0usize; 3], 0);
            for y in oy * shrink..((oy + 1) * shrink).min(h) {
                for x in ox * shrink..((ox + 1) * shrink).min(w) {
                    let at = (y * w + x) * 3;
                    (0..3).for_each(|c| sum[c] += usize::from(full.data[at + c]));
                    n += 1;
                }
            }
            data.extend(sum.map(|s| ((s + n / 2) / n) as u8));
        }
    }
    Raster { width: ow as u32, height: oh as u32, alpha: false, data }
}

fn rgb_psnr(a: &Raster, b: &Raster) -> f64 {
    let pair = Pair { width: a.width as usize, height: a.height as usize, channels: 3, a: &a.data, b: &b.data };
    psnr(pair).expect("same size")
}

/// 4:2:2 and 4:4:0: libjpeg-turbo's scaled decode keeps chroma IDCTs square, so it decodes chroma at
/// half the needed resolution on one axis and interpolates; ours decodes chroma at the output size.
/// On this synthetic image (per-pixel chroma noise, the worst case) the two differ in chroma (PSNR
/// ~28 dB) while luma is the same (SSIM ≥ 0.995). Against the ideal (libjpeg-turbo's full-size decode,
/// box-reduced), ours must be at least as close as libjpeg-turbo's own scaled decode.
#[test]
fn generated_422_and_440_are_luma_exact_and_at_least_as_close_to_the_ideal() {
    for (sname, samp) in [("4:2:2", raw::TJSAMP_TJSAMP_422), ("4:4:0", raw::TJSAMP_TJSAMP_440)] {
        for (w, h) in [(17, 9), (64, 48), (250, 131)] {
            for restart in [0, 2] {
                let file = write_jpeg(&synthetic(w, h), w, h, samp, restart);
                let full = reference(&file, 1);
                for shrink in [2, 4, 8] {
                    let name = format!("{sname} {w}x{h} restart {restart} 1/{shrink}");
                    let (got, theirs) = (ours(&file, shrink).expect("decoded"), reference(&file, shrink));
                    let pair = Pair {
                        width: got.width as usize,
                        height: got.height as usize,
                        channels: 3,
                        a: &got.data,
                        b: &theirs.data,
                    };
                    assert!(ssim(pair).expect("same size") >= 0.995, "{name}: luma SSIM");
                    let ideal = box_down(&full, shrink);
                    let (p_ours, p_theirs) = (rgb_psnr(&got, &ideal), rgb_psnr(&theirs, &ideal));
                    assert!(p_ours + 0.5 >= p_theirs, "{name}: ours {p_ours:.2} dB, libjpeg-turbo {p_theirs:.2} dB");
                }
            }
        }
    }
}

#[test]
fn out_of_scope_files_are_left_to_libjpeg_turbo() {
    let rgb = synthetic(40, 24);
    let rows: [(&str, Vec<u8>); 4] = [
        ("progressive", corpus("photos/volna_prog444q85.jpg")),
        ("CMYK", corpus("formats/pil_sample_cmyk.jpg")),
        ("4:1:1 sampling", write_jpeg(&rgb, 40, 24, raw::TJSAMP_TJSAMP_411, 0)),
        ("not a JPEG", corpus("formats/hopper.bmp")),
    ];
    for (name, file) in rows {
        assert!(decode(&file, 40, 24, 4).is_none() && ours(&file, 4).is_none(), "{name}");
    }
    let small = corpus("formats/hopper_orientation_2.jpg");
    assert!(decode(&small, 128, 128, 1).is_none(), "scale 1 is libjpeg-turbo's");
    assert!(decode(&small, 127, 128, 2).is_none(), "a size that disagrees with the probe");
}

#[test]
fn every_truncation_is_refused_without_panicking() {
    let file = corpus("formats/hopper_orientation_2.jpg");
    for len in 0..file.len() {
        let got = decode(file.get(..len).unwrap_or_default(), 128, 128, 4);
        // The last few bytes are EOI and padding bits; losing any real data must be noticed.
        if len + 8 < file.len() {
            assert!(got.is_none(), "prefix of {len} bytes decoded");
        }
    }
}

#[test]
fn random_byte_flips_never_panic() {
    let file = corpus("formats/hopper_orientation_2.jpg");
    let mut seed = 0x9E37_79B9_u32;
    let mut decoded = 0;
    for _ in 0..3000 {
        let mut bad = file.clone();
        for _ in 0..3 {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let at = (seed >> 8) as usize % bad.len();
            if let Some(b) = bad.get_mut(at) {
                *b ^= 1 << (seed & 7);
            }
        }
        decoded += usize::from(decode(&bad, 128, 128, 2).is_some());
    }
    // Most flips land in entropy data, which still decodes (to wrong pixels) or is refused.
    println!("{decoded} of 3000 damaged files decoded");
}

#[test]
fn decode_jpeg_uses_the_scaled_decoder_for_baseline_files() {
    let file = corpus("photos/mate-Storm.jpg");
    let info = inspect(&file).expect("probe");
    let via_pipeline =
        crate::pipeline::decode::decode(&file, &info, 4.0, crate::pipeline::test_util::later()).expect("decodes");
    assert_eq!(Some(via_pipeline), ours(&file, 4));
}

/// Timing, not a check: `cargo test --release --lib jpeg_scaled_timing -- --ignored --nocapture`.
#[test]
#[ignore = "timing only"]
fn jpeg_scaled_timing() {
    let file = corpus("photos/eleph12mp.jpg");
    for shrink in [2, 4, 8] {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..15 {
            a.push(cpu_ms(&|| drop(ours(&file, shrink).expect("decodes"))));
            b.push(cpu_ms(&|| drop(reference(&file, shrink))));
        }
        let (a, b) = (test_util::median(a), test_util::median(b));
        println!("eleph12mp 1/{shrink} (cpu): ours {a:.1} ms, libjpeg-turbo {b:.1} ms, ratio {:.2}x", b / a);
    }
}

/// `input` with a DAC (arithmetic conditioning) segment after SOI: libjpeg-turbo reads and ignores it
/// for a Huffman file, our parser refuses it, so the pipeline takes today's libjpeg-turbo path on
/// otherwise identical data.
fn libjpeg_turbo_only(input: &[u8]) -> Vec<u8> {
    let mut out = vec![0xFF, 0xD8, 0xFF, 0xCC, 0x00, 0x04, 0x00, 0x00];
    out.extend_from_slice(input.get(2..).unwrap_or_default());
    out
}

fn thumbnail_plan() -> crate::plan::Plan {
    use crate::plan::{OutputRules, Processing};
    crate::pipeline::test_util::plan(Processing { width: 800, ..Processing::default() }, OutputRules::default())
}

/// The benchmark workload (12 MP → 800 px JPEG q80) through the whole pipeline: our decoder's
/// thumbnail against the one made from libjpeg-turbo's decode of the same data.
#[test]
fn final_800px_thumbnail_matches_the_libjpeg_turbo_path() {
    use crate::pipeline::test_util::{decoded, run_ok};
    let file = corpus("photos/eleph12mp.jpg");
    let today = libjpeg_turbo_only(&file);
    assert!(ours(&file, 4).is_some() && ours(&today, 4).is_none(), "the DAC copy takes the fallback");
    let p = thumbnail_plan();
    let (a, b) = (run_ok(&p, &file), run_ok(&p, &today));
    assert_eq!((a.width, a.height), (b.width, b.height));
    let (da, db) = (decoded(&a), decoded(&b));
    let pair = Pair { width: a.width as usize, height: a.height as usize, channels: 4, a: da.as_raw(), b: db.as_raw() };
    let s = ssim(pair).expect("same size");
    let bytes = a.bytes.len() as f64 / b.bytes.len() as f64;
    println!("800 px thumbnail: SSIM {s:.5} against the libjpeg-turbo path, bytes {bytes:.4}x");
    assert!(s >= 0.99 && (0.98..=1.02).contains(&bytes), "SSIM {s:.5}, bytes ratio {bytes:.4}");
}

/// This thread's CPU time in ms (Linux `schedstat`), so timings stay meaningful when other processes
/// share the cores; `None` elsewhere.
fn thread_cpu_ms() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    Some(stat.split_whitespace().next()?.parse::<f64>().ok()? / 1e6)
}

/// The CPU time of one call of `f` (wall time where the thread's CPU time cannot be read).
fn cpu_ms(f: &dyn Fn()) -> f64 {
    let (t, c) = (Instant::now(), thread_cpu_ms());
    f();
    match (c, thread_cpu_ms()) {
        (Some(a), Some(b)) => b - a,
        _ => t.elapsed().as_secs_f64() * 1000.0,
    }
}

/// Timing, not a check: the whole pipeline on the benchmark workload, our decoder against today's
/// libjpeg-turbo path on the same data, interleaved in one process (`cargo test --release --lib
/// pipeline_800px_timing -- --ignored --nocapture`). Prints wall-clock medians and minima, and CPU-time
/// medians of this thread (the figure to trust on a loaded machine).
#[test]
#[ignore = "timing only"]
fn pipeline_800px_timing() {
    use crate::pipeline::test_util::run_ok;
    let file = corpus("photos/eleph12mp.jpg");
    let today = libjpeg_turbo_only(&file);
    let p = thumbnail_plan();
    let (mut wall, mut cpu) = ([Vec::new(), Vec::new()], [Vec::new(), Vec::new()]);
    for _ in 0..21 {
        for (i, input) in [&file, &today].into_iter().enumerate() {
            let (t, c) = (Instant::now(), thread_cpu_ms());
            run_ok(&p, input);
            wall[i].push(t.elapsed().as_secs_f64() * 1000.0);
            if let (Some(a), Some(b)) = (c, thread_cpu_ms()) {
                cpu[i].push(b - a);
            }
        }
    }
    let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    let (wmin, wmed) = (wall.each_ref().map(|v| min(v)), wall.map(test_util::median));
    println!("12 MP -> 800 px JPEG q80 wall: ours {:.1} ms (min {:.1}), libjpeg-turbo path {:.1} ms (min {:.1}), ratio {:.3}x", wmed[0], wmin[0], wmed[1], wmin[1], wmed[1] / wmed[0]);
    if cpu.iter().all(|v| !v.is_empty()) {
        let c = cpu.map(test_util::median);
        println!(
            "12 MP -> 800 px JPEG q80 cpu: ours {:.1} ms, libjpeg-turbo path {:.1} ms, ratio {:.3}x",
            c[0],
            c[1],
            c[1] / c[0]
        );
    }
}
