//! Probes and tests of the animated WebP encoder (`animation.rs`) against a real decoder and libvips.

use super::*;
use crate::pipeline::probe;
use crate::pipeline::resize::{crop_resize, SourceBox};
use crate::pipeline::test_util::corpus;
use crate::plan::Rgb;

const WHITE: Rgb = Rgb { r: 255, g: 255, b: 255 };

/// The source's frames resized to `width` as the pipeline does (whole frame, Lanczos3).
fn resized_frames(bytes: &[u8], width: u32) -> Vec<Frame> {
    let info = probe::inspect(bytes).unwrap();
    let (w, h) = (info.probe.width, info.probe.height);
    let whole = SourceBox { x: 0.0, y: 0.0, width: f64::from(w), height: f64::from(h) };
    let th = ((f64::from(width) * f64::from(h) / f64::from(w)).round() as u32).max(1);
    decode_frames(bytes, &info, 1000)
        .unwrap()
        .into_iter()
        .map(|f| Frame { raster: crop_resize(f.raster, whole, width, th).unwrap(), delay_ms: f.delay_ms })
        .collect()
}

/// `GIF_PROBE_FILE=/path/to.gif` (default: the corpus' iss634.gif) → `GIF_PROBE_OUT` (default
/// /tmp/gifbytes): `<stem>.frames.rgba` (our 128 px frames, RGBA, one after another), `<stem>.frames.json`
/// (size and delays, for `scripts/webp_anim_compare.py`), `<stem>.ours.webp` (what the pipeline writes).
#[test]
#[ignore]
fn dump_frames_for_libvips_comparison() {
    let path = std::env::var("GIF_PROBE_FILE").ok();
    let bytes = path.as_ref().map_or_else(|| corpus("formats/iss634.gif"), |p| std::fs::read(p).unwrap());
    let stem = path.as_deref().and_then(|p| std::path::Path::new(p).file_stem()?.to_str()).unwrap_or("iss634");
    let dir = std::env::var("GIF_PROBE_OUT").unwrap_or_else(|_| "/tmp/gifbytes".into());
    std::fs::create_dir_all(&dir).unwrap();
    let frames = resized_frames(&bytes, 128);
    let first = &frames[0].raster;
    let raw: Vec<u8> = frames.iter().flat_map(|f| f.raster.with_alpha().into_owned().data).collect();
    std::fs::write(format!("{dir}/{stem}.frames.rgba"), raw).unwrap();
    let delays: Vec<String> = frames.iter().map(|f| f.delay_ms.to_string()).collect();
    let meta = format!(
        "{{\"width\": {}, \"height\": {}, \"frames\": {}, \"delays\": [{}]}}",
        first.width,
        first.height,
        frames.len(),
        delays.join(", ")
    );
    std::fs::write(format!("{dir}/{stem}.frames.json"), meta).unwrap();
    let rules = OutputRules { quality: 75, loop_count: Some(0), ..OutputRules::default() };
    let ours = encode_webp(&frames, &rules).unwrap();
    std::fs::write(format!("{dir}/{stem}.ours.webp"), &ours).unwrap();
    let mut plan = crate::pipeline::test_util::plan(
        crate::plan::Processing { width: 128, ..Default::default() },
        OutputRules { format: Some(ImageFormat::Webp), quality: 75, ..OutputRules::default() },
    );
    plan.limits.max_animation_frames = 1000;
    let pipeline = crate::pipeline::test_util::run_ok(&plan, &bytes);
    std::fs::write(format!("{dir}/{stem}.pipeline.webp"), &pipeline.bytes).unwrap();
    println!(
        "{stem}: {} frames, encode_webp {} bytes, pipeline {} bytes",
        frames.len(),
        ours.len(),
        pipeline.bytes.len()
    );
    println!("  ours against our frames: {}", summary(&frame_scores(&decode_webp(&ours), &frames)));
    if let Ok(theirs) = std::fs::read(format!("{dir}/{stem}.libvips.webp")) {
        let scores = frame_scores(&decode_webp(&theirs), &frames);
        println!("  libvips ({} bytes, same frames, previous script run): {}", theirs.len(), summary(&scores));
    }
}

/// Every frame of an animated WebP, as libwebp's animation decoder composites it.
fn decode_webp(bytes: &[u8]) -> Vec<Frame> {
    let info = probe::inspect(bytes).unwrap();
    decode_frames(bytes, &info, 10_000).unwrap()
}

/// Luma SSIM and RGB PSNR of each decoded frame against its reference frame, both on white.
fn frame_scores(decoded: &[Frame], reference: &[Frame]) -> Vec<(f64, f64)> {
    assert_eq!(decoded.len(), reference.len(), "frame count");
    decoded
        .iter()
        .zip(reference)
        .map(|(d, r)| {
            // On white, as the bench and a browser on a white page see a frame.
            let on_white = |f: &Frame| f.raster.with_alpha().into_owned().flatten(WHITE).data;
            let (a, b) = (on_white(d), on_white(r));
            let (width, height) = (r.raster.width as usize, r.raster.height as usize);
            let pair = crate::pipeline::quality::Pair { width, height, channels: 3, a: &a, b: &b };
            (crate::pipeline::quality::ssim(pair).unwrap(), crate::pipeline::quality::psnr(pair).unwrap())
        })
        .collect()
}

fn summary(scores: &[(f64, f64)]) -> String {
    let n = scores.len() as f64;
    let mean_ssim = scores.iter().map(|s| s.0).sum::<f64>() / n;
    let min_ssim = scores.iter().map(|s| s.0).fold(f64::INFINITY, f64::min);
    let mean_psnr = scores.iter().map(|s| s.1.min(99.0)).sum::<f64>() / n;
    format!("SSIM first {:.4} mean {mean_ssim:.4} min {min_ssim:.4}, PSNR mean {mean_psnr:.2} dB", scores[0].0)
}

/// `SCORE_LOSSY=a.webp SCORE_REF=b.webp`: every frame of `a` against the same frame of `b` (e.g. libvips'
/// lossy output against its own lossless one, `scripts/bench_libvips.py --lossless 1 --save`).
#[test]
#[ignore]
fn score_webp_pair() {
    let (Ok(lossy), Ok(reference)) = (std::env::var("SCORE_LOSSY"), std::env::var("SCORE_REF")) else {
        panic!("set SCORE_LOSSY and SCORE_REF");
    };
    let (a, b) = (std::fs::read(&lossy).unwrap(), std::fs::read(&reference).unwrap());
    println!("{lossy} ({} bytes): {}", a.len(), summary(&frame_scores(&decode_webp(&a), &decode_webp(&b))));
}

/// What libwebp's demuxer says of an animated WebP: canvas size, loop count and frame count.
fn libwebp_info(bytes: &[u8]) -> webp::WebPAnimInfo {
    let data = webp::WebPData { bytes: bytes.as_ptr(), size: bytes.len() };
    // SAFETY: a zeroed options struct is what the init call fills in; `data` outlives the decoder,
    // which is deleted before returning; `info` is a valid out-parameter.
    unsafe {
        let mut opts: webp::WebPAnimDecoderOptions = std::mem::zeroed();
        assert_ne!(webp::WebPAnimDecoderOptionsInit(&mut opts), 0);
        let dec = webp::WebPAnimDecoderNew(&data, &opts);
        assert!(!dec.is_null(), "libwebp's demuxer reads the file");
        let mut info = webp::WebPAnimInfo::default();
        let ok = webp::WebPAnimDecoderGetInfo(dec, &mut info);
        webp::WebPAnimDecoderDelete(dec);
        assert_ne!(ok, 0);
        info
    }
}

/// A 48×40 animation of a 12×12 opaque square moving over a transparent canvas, in colours that need
/// chroma (red, then green, then blue), each frame shown 40 ms + 10 ms × index.
fn moving_square(frames: u32) -> Vec<Frame> {
    (0..frames)
        .map(|i| {
            let mut data = vec![0u8; 48 * 40 * 4];
            for (n, px) in data.chunks_exact_mut(4).enumerate() {
                let (x, y) = (n as u32 % 48, n as u32 / 48);
                if (4 * i..4 * i + 12).contains(&x) && (10..22).contains(&y) {
                    let mut rgb = [40u8; 3];
                    rgb[(i % 3) as usize] = 220;
                    px.copy_from_slice(&[rgb[0], rgb[1], rgb[2], 255]);
                }
            }
            Frame { raster: Raster { width: 48, height: 40, alpha: true, data }, delay_ms: 40 + 10 * i }
        })
        .collect()
}

/// What a viewer gets back: libwebp's demuxer finds every frame with its delay, the loop count, the
/// canvas, the transparency exactly (alpha is coded losslessly at libvips' `alpha_q` 100, including
/// the sub-frames' blending over the previous frame), and each frame close to its source on white.
#[test]
fn libwebps_demuxer_reads_back_every_frame_delay_loop_and_alpha() {
    let corpus_frames = resized_frames(&corpus("formats/iss634.gif"), 128);
    for (name, frames, loops, min_ssim) in
        [("moving square", moving_square(8), 3u16, 0.97), ("iss634.gif at 128 px", corpus_frames, 0, 0.95)]
    {
        let rules = OutputRules { quality: 75, loop_count: Some(loops), ..OutputRules::default() };
        let bytes = encode_webp(&frames, &rules).unwrap();
        let info = libwebp_info(&bytes);
        let first = &frames[0].raster;
        assert_eq!((info.canvas_width, info.canvas_height), (first.width, first.height), "{name}");
        assert_eq!((info.frame_count as usize, info.loop_count), (frames.len(), u32::from(loops)), "{name}");
        let decoded = decode_webp(&bytes);
        let delays = |f: &[Frame]| f.iter().map(|f| f.delay_ms).collect::<Vec<_>>();
        assert_eq!(delays(&decoded), delays(&frames), "{name}");
        for (i, (d, s)) in decoded.iter().zip(&frames).enumerate() {
            let alpha = |r: &Raster| r.with_alpha().data.chunks_exact(4).map(|p| p[3]).collect::<Vec<_>>();
            assert!(alpha(&d.raster) == alpha(&s.raster), "{name}: frame {i} alpha");
        }
        for (i, (ssim, psnr)) in frame_scores(&decoded, &frames).into_iter().enumerate() {
            assert!(ssim >= min_ssim && psnr >= 27.0, "{name}: frame {i} SSIM {ssim:.4} PSNR {psnr:.2}");
        }
    }
}

/// Issue 3 asks for output bytes within ±10 % of libvips at the same settings. libvips 8.18.7
/// (pyvips-binary) `webpsave` Q 75 effort 4 writes 53 212 bytes for iss634.gif's frames at 128 px
/// (`scripts/webp_anim_compare.py` re-measures it from the frames the ignored probe above dumps; its
/// own resize, as imgproxy drives it, gives 53 214). Importing the frames as ARGB instead of YUV, as
/// libvips does, wrote 63 372 (+19 %).
#[test]
fn iss634_to_128px_webp_costs_what_libvips_spends() {
    const LIBVIPS_BYTES: f64 = 53_212.0;
    let mut plan = crate::pipeline::test_util::plan(
        crate::plan::Processing { width: 128, ..Default::default() },
        OutputRules { format: Some(ImageFormat::Webp), quality: 75, ..OutputRules::default() },
    );
    plan.limits.max_animation_frames = 1000;
    let out = crate::pipeline::test_util::run_ok(&plan, &corpus("formats/iss634.gif"));
    assert_eq!(libwebp_info(&out.bytes).frame_count, 42);
    let ratio = out.bytes.len() as f64 / LIBVIPS_BYTES;
    assert!((0.9..=1.1).contains(&ratio), "{} bytes = {ratio:.3} × libvips", out.bytes.len());
}
