use std::io::Cursor;

use gif::DisposalMethod;
use image::AnimationDecoder;

use super::*;
use crate::pipeline::test_util::corpus;

/// One generated frame: where it sits, how it is disposed, and which palette index is transparent.
struct Spec {
    left: u16,
    top: u16,
    width: u16,
    height: u16,
    dispose: DisposalMethod,
    transparent: Option<u8>,
    /// Varies the index pattern (and picks a local palette when odd).
    seed: u8,
    /// Palette entries (a power of two, 2..=256: LZW minimum code sizes 2..=8); 4 uses `GLOBAL`/`LOCAL`.
    colours: usize,
    interlaced: bool,
    /// Rows of the generated pattern reordered as an interlaced frame's data would place them, so a
    /// plain frame shows what the interlaced twin of the same `Spec` shows.
    placed_as_interlaced: bool,
}

const GLOBAL: [u8; 12] = [255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 0];
const LOCAL: [u8; 12] = [10, 20, 30, 200, 100, 50, 0, 128, 255, 90, 90, 90];

/// A GIF of `specs` on a `w × h` screen, written by the `gif` crate.
fn gif_of(w: u16, h: u16, specs: &[Spec]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = gif::Encoder::new(&mut out, w, h, &GLOBAL).unwrap();
        for s in specs {
            let indices: Vec<u8> = (0..usize::from(s.width) * usize::from(s.height))
                .map(|i| {
                    let (x, y) = (i % usize::from(s.width), i / usize::from(s.width));
                    ((x * 3 + y * 5 + (x * y) / 7 + usize::from(s.seed)) % s.colours) as u8
                })
                .collect();
            let indices =
                if s.placed_as_interlaced { placed_as_interlaced(&indices, s.width, s.height) } else { indices };
            let palette = match (s.colours, s.seed % 2) {
                (4, 0) => None,
                (4, _) => Some(LOCAL.to_vec()),
                (n, _) => Some((0..n * 3).map(|i| (i * 37 + usize::from(s.seed)) as u8).collect()),
            };
            let frame = gif::Frame {
                left: s.left,
                top: s.top,
                width: s.width,
                height: s.height,
                dispose: s.dispose,
                transparent: s.transparent,
                delay: u16::from(s.seed) + 2,
                palette,
                interlaced: s.interlaced,
                buffer: indices.into(),
                ..gif::Frame::default()
            };
            enc.write_frame(&frame).unwrap();
        }
    }
    out
}

fn ours(bytes: &[u8]) -> Vec<(Raster, u32)> {
    let mut frames = GifFrames::new(bytes, 64 << 20).unwrap();
    std::iter::from_fn(|| frames.next_frame().unwrap()).collect()
}

/// The `image` crate's compositing of the same file: the reference.
fn reference(bytes: &[u8]) -> Vec<(Vec<u8>, u32)> {
    let decoder = image::codecs::gif::GifDecoder::new(Cursor::new(bytes)).unwrap();
    decoder
        .into_frames()
        .map(|f| {
            let f = f.unwrap();
            let (num, den) = f.delay().numer_denom_ms();
            (f.into_buffer().into_raw(), num / den)
        })
        .collect()
}

fn assert_same_as_reference(name: &str, bytes: &[u8]) {
    let (ours, want) = (ours(bytes), reference(bytes));
    assert_eq!(ours.len(), want.len(), "{name}: frame count");
    for (i, ((raster, delay), (pixels, want_delay))) in ours.iter().zip(&want).enumerate() {
        assert_eq!(delay, want_delay, "{name}: frame {i} delay");
        let rgba = raster.with_alpha();
        let differ = rgba.data.iter().zip(pixels).filter(|(a, b)| a != b).count();
        assert_eq!(rgba.data.len(), pixels.len(), "{name}: frame {i} size");
        assert_eq!(differ, 0, "{name}: frame {i} differs from the image crate in {differ} bytes");
    }
}

fn spec(left: u16, top: u16, size: (u16, u16), dispose: DisposalMethod, transparent: Option<u8>, seed: u8) -> Spec {
    let (width, height) = size;
    Spec {
        left,
        top,
        width,
        height,
        dispose,
        transparent,
        seed,
        colours: 4,
        interlaced: false,
        placed_as_interlaced: false,
    }
}

/// `indices` (rows in the order an interlaced frame stores them) moved to the rows they are shown on.
fn placed_as_interlaced(indices: &[u8], width: u16, height: u16) -> Vec<u8> {
    let (w, h) = (usize::from(width), usize::from(height));
    let order: Vec<usize> = [(0, 8), (4, 8), (2, 4), (1, 2)].iter().flat_map(|&(a, s)| (a..h).step_by(s)).collect();
    let mut out = vec![0u8; w * h];
    for (k, &row) in order.iter().enumerate() {
        out[row * w..(row + 1) * w].copy_from_slice(&indices[k * w..(k + 1) * w]);
    }
    out
}

#[test]
fn disposal_and_transparency_match_the_image_crate() {
    use DisposalMethod::{Any, Background, Keep, Previous};
    let rows: Vec<(&str, Vec<Spec>)> = vec![
        (
            "keep: later frames draw over earlier ones",
            vec![
                spec(0, 0, (16, 12), Keep, None, 0),
                spec(4, 3, (6, 5), Keep, None, 1),
                spec(8, 2, (8, 8), Keep, None, 2),
            ],
        ),
        (
            "transparent index shows the frame below",
            vec![
                spec(0, 0, (16, 12), Keep, None, 0),
                spec(0, 0, (16, 12), Keep, Some(1), 2),
                spec(2, 2, (10, 8), Any, Some(3), 3),
            ],
        ),
        (
            "background clears only the frame's rectangle",
            vec![
                spec(0, 0, (16, 12), Keep, None, 0),
                spec(3, 2, (7, 6), Background, None, 1),
                spec(5, 5, (4, 4), Keep, Some(0), 2),
            ],
        ),
        (
            "previous restores what was under the frame",
            vec![
                spec(0, 0, (16, 12), Keep, Some(2), 0),
                spec(2, 1, (9, 9), Previous, None, 1),
                spec(6, 4, (6, 6), Previous, Some(0), 2),
                spec(0, 0, (16, 12), Keep, Some(1), 3),
            ],
        ),
        (
            "first frame disposed to previous leaves the transparent canvas",
            vec![spec(1, 1, (8, 8), Previous, None, 0), spec(4, 4, (8, 8), Keep, Some(0), 1)],
        ),
        (
            "frames hanging over the screen edge are clipped",
            vec![
                spec(10, 8, (10, 10), Background, None, 0),
                spec(12, 0, (8, 20), Previous, Some(1), 1),
                spec(0, 0, (4, 4), Keep, None, 2),
            ],
        ),
    ];
    for (name, specs) in rows {
        assert_same_as_reference(name, &gif_of(16, 12, &specs));
    }
}

#[test]
fn corpus_gifs_match_the_image_crate() {
    for file in ["formats/iss634.gif", "formats/chi.gif"] {
        assert_same_as_reference(file, &corpus(file));
    }
}

#[test]
fn every_palette_size_frame_shape_and_interlacing_match_the_image_crate() {
    use DisposalMethod::{Background, Keep, Previous};
    let shapes: [(u16, u16); 6] = [(1, 1), (1, 9), (9, 1), (13, 9), (64, 48), (200, 3)];
    for colours in [2, 4, 8, 16, 32, 64, 128, 256] {
        for (w, h) in shapes {
            let specs = |interlaced: bool, placed_as_interlaced: bool| {
                let frame = |left, top, size, dispose, transparent, seed| Spec {
                    colours,
                    interlaced,
                    placed_as_interlaced,
                    ..spec(left, top, size, dispose, transparent, seed)
                };
                [
                    frame(0, 0, (w, h), Keep, None, 0),
                    frame(w / 3, h / 3, (w - w / 3, h - h / 3), Previous, Some(1), 1),
                    frame(0, h / 2, (w, h - h / 2), Background, Some(0), 2),
                    frame(0, 0, (w, h), Keep, Some((colours - 1) as u8), 3),
                ]
            };
            let name = format!("{colours} colours, {w}x{h}");
            assert_same_as_reference(&name, &gif_of(w, h, &specs(false, false)));
            // Interlaced: the same pixels as a plain GIF whose rows were placed where the passes put
            // them (the `gif` crate 0.14 itself reports some small interlaced frames as truncated).
            let plain = gif_of(w, h, &specs(false, true));
            assert_same_as_reference(&format!("{name}, rows placed"), &plain);
            let interlaced = ours(&gif_of(w, h, &specs(true, false)));
            let want = ours(&plain);
            assert_eq!(interlaced.len(), want.len(), "{name}, interlaced");
            for (i, (a, b)) in interlaced.iter().zip(&want).enumerate() {
                assert!(a.0.data == b.0.data && a.1 == b.1, "{name}, interlaced: frame {i}");
            }
        }
    }
}

/// Every frame, or the first error; a runaway frame count would fail the test rather than hang it.
fn drain(bytes: &[u8], cap: u64) -> Result<Vec<(Raster, u32)>, PipelineError> {
    let mut frames = GifFrames::new(bytes, cap)?;
    let mut out = Vec::new();
    while let Some(frame) = frames.next_frame()? {
        out.push(frame);
        assert!(out.len() < 10_000, "runaway frame count");
    }
    Ok(out)
}

fn three_frames() -> Vec<u8> {
    use DisposalMethod::{Background, Keep, Previous};
    gif_of(
        16,
        12,
        &[
            spec(0, 0, (16, 12), Keep, None, 0),
            spec(2, 2, (9, 7), Previous, Some(1), 1),
            spec(0, 0, (16, 12), Background, Some(2), 2),
        ],
    )
}

#[test]
fn every_truncation_keeps_the_frames_before_the_cut() {
    let good = three_frames();
    let full = ours(&good);
    // Header (13 bytes) and the 4-colour global table (12): without them there is nothing to show.
    let header = 13 + 12;
    for cut in 0..good.len() {
        match drain(&good[..cut], 1 << 20) {
            Err(PipelineError::Corrupt(_)) => assert!(cut < header, "cut at {cut}: only a cut header is an error"),
            Err(e) => panic!("cut at {cut}: {e:?}"),
            Ok(frames) => {
                assert!(cut >= header, "cut at {cut} inside the header decoded");
                assert!(frames.len() <= full.len(), "cut at {cut}");
                let whole = frames.len().saturating_sub(1);
                for (i, ((got, _), (want, _))) in frames.iter().zip(&full).take(whole).enumerate() {
                    assert!(got.data == want.data, "cut at {cut}: frame {i} before the cut changed");
                }
            }
        }
    }
    assert_eq!(drain(&good[..good.len() - 1], 1 << 20).unwrap().len(), 3, "no trailer: every frame");
}

#[test]
fn a_frame_cut_short_shows_what_its_data_holds() {
    let good = gif_of(16, 12, &[spec(0, 0, (16, 12), DisposalMethod::Keep, None, 0)]);
    let want = ours(&good)[0].0.with_alpha().into_owned();
    // Cut in the middle of the image data: the pixels decoded so far are drawn, the rest stay transparent.
    let cut = good.len() - (good.len() - 13 - 12) / 2;
    let frames = drain(&good[..cut], 1 << 20).unwrap();
    assert_eq!(frames.len(), 1);
    let got = frames[0].0.with_alpha().into_owned();
    let drawn = got.data.chunks_exact(4).take_while(|px| px[3] == 255).count();
    assert!(drawn > 0 && drawn < 16 * 12, "{drawn} pixels drawn");
    assert_eq!(got.data[..drawn * 4], want.data[..drawn * 4], "the drawn part is the frame's start");
    assert!(got.data[drawn * 4..].iter().all(|&b| b == 0), "the rest is untouched transparent canvas");
}

/// A small deterministic generator (xorshift64*) for the damage rows.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1) as u64) as usize
    }
}

#[test]
fn random_damage_is_an_error_or_frames_never_a_panic() {
    let good = three_frames();
    let mut rng = Rng(0x6a09_e667);
    let (mut ok, mut errors) = (0, 0);
    for round in 0..4000 {
        let mut bytes = good.clone();
        for _ in 0..1 + rng.below(3) {
            // The logical screen's size (bytes 6..10) is left alone: the probe bounds the canvas
            // before a frame is decoded, and a flipped bit there could ask for gigabytes here.
            let at = match rng.below(bytes.len() - 4) {
                i if i >= 6 => i + 4,
                i => i,
            };
            bytes[at] = if round % 2 == 0 { bytes[at] ^ (1 << rng.below(8)) } else { rng.below(256) as u8 };
        }
        match drain(&bytes, 1 << 16) {
            Ok(frames) => {
                ok += 1;
                assert!(frames.iter().all(|(r, _)| (r.width, r.height) == (16, 12)), "round {round}");
            }
            Err(PipelineError::Corrupt(_)) => errors += 1,
            Err(e) => panic!("round {round}: {e:?}"),
        }
    }
    assert!(ok > 1000 && errors > 10, "{ok} decoded, {errors} refused: the damage reached both paths");
}

#[test]
fn frames_over_the_allocation_cap_are_refused_before_allocating() {
    let good = gif_of(16, 12, &[spec(0, 0, (16, 12), DisposalMethod::Keep, None, 0)]);
    let mut frames = GifFrames::new(&good, 100).unwrap();
    assert!(matches!(frames.next_frame(), Err(PipelineError::Corrupt(_))), "192 indices over a cap of 100");
    let bomb = corpus("edge/decompression_bomb.gif");
    let mut frames = GifFrames::new(&bomb, 64 << 20).unwrap();
    assert!(matches!(frames.next_frame(), Err(PipelineError::Corrupt(_))), "a 65535×1321 frame");
}

/// The file named by `GIF_PROBE_FILE`, else the 42-frame corpus GIF.
fn probe_input() -> Vec<u8> {
    match std::env::var("GIF_PROBE_FILE") {
        Ok(path) => std::fs::read(path).unwrap(),
        Err(_) => corpus("formats/iss634.gif"),
    }
}

/// Timing probe, interleaved in one process: LZW alone (ours against the `gif` crate's), and frames
/// decoded and composited (ours against the `image` crate's). `GIF_PROBE_FILE` picks the input.
#[test]
#[ignore]
fn lzw_and_frames_timing() {
    use crate::pipeline::gif_blocks::Blocks;
    use crate::pipeline::gif_lzw::Lzw;
    let bytes = probe_input();
    let gif_crate_lzw = || {
        let mut o = gif::DecodeOptions::new();
        o.set_color_output(gif::ColorOutput::Indexed);
        let mut d = o.read_info(bytes.as_slice()).unwrap();
        while let Some(f) = d.read_next_frame().unwrap() {
            std::hint::black_box(f);
        }
    };
    let (mut lzw, mut data, mut out) = (Lzw::default(), Vec::new(), Vec::new());
    let mut our_lzw = || {
        let mut blocks = Blocks::new(&bytes).unwrap();
        while let Some(f) = blocks.next_frame().unwrap() {
            blocks.read_data(&mut data);
            let n = usize::from(f.width) * usize::from(f.height);
            out.resize(n + crate::pipeline::gif_lzw::SLACK, 0);
            std::hint::black_box(lzw.decode(f.min_code_size, &data, &mut out, n).unwrap());
        }
    };
    let image_crate = || {
        let decoder = image::codecs::gif::GifDecoder::new(Cursor::new(&bytes)).unwrap();
        std::hint::black_box(decoder.into_frames().collect_frames().unwrap());
    };
    let our_frames = || {
        std::hint::black_box(drain(&bytes, 64 << 20).unwrap());
    };
    let mut times = [(); 4].map(|_| Vec::new());
    for _ in 0..15 {
        times[0].extend(crate::pipeline::test_util::times_ms(1, gif_crate_lzw));
        times[1].extend(crate::pipeline::test_util::times_ms(1, &mut our_lzw));
        times[2].extend(crate::pipeline::test_util::times_ms(1, image_crate));
        times[3].extend(crate::pipeline::test_util::times_ms(1, our_frames));
    }
    let [a, b, c, d] = times.map(crate::pipeline::test_util::median);
    println!(
        "LZW: gif crate {a:.2} ms, ours {b:.2} ms ({:.2}x); frames composited: image crate {c:.2} ms, ours {d:.2} ms ({:.2}x)",
        a / b,
        c / d
    );
}

/// `GIF_PROBE_OUT=out.webp` (and `GIF_PROBE_FILE`): writes our 128 px WebP q75 of the GIF, every
/// frame kept, to compare with libvips' (`scripts/bench_libvips.py ... --save`).
#[test]
#[ignore]
fn write_webp_for_inspection() {
    use crate::plan::{ImageFormat, OutputRules, Processing};
    let bytes = probe_input();
    let mut plan = crate::pipeline::test_util::plan(
        Processing { width: 128, ..Default::default() },
        OutputRules { format: Some(ImageFormat::Webp), quality: 75, ..OutputRules::default() },
    );
    plan.limits.max_animation_frames = 1000;
    let out = crate::pipeline::test_util::run_ok(&plan, &bytes);
    let path = std::env::var("GIF_PROBE_OUT").unwrap_or_else(|_| "/tmp/gif_probe.webp".into());
    std::fs::write(&path, &out.bytes).unwrap();
    println!("{path}: {} bytes", out.bytes.len());
}

/// `GIF_PROBE_OUT=dir`: writes each frame of the GIF resized to 128 px wide, as the pipeline's resize
/// makes it, as raw RGB/RGBA (`frame-N.raw`), to feed another encoder when comparing output bytes.
#[test]
#[ignore]
fn dump_resized_frames() {
    use crate::pipeline::resize::{crop_resize, SourceBox};
    let bytes = probe_input();
    let info = crate::pipeline::probe::inspect(&bytes).unwrap();
    let (w, h) = (info.probe.width, info.probe.height);
    let whole = SourceBox { x: 0.0, y: 0.0, width: f64::from(w), height: f64::from(h) };
    let dir = std::env::var("GIF_PROBE_OUT").unwrap_or_else(|_| "/tmp".into());
    let frames = crate::pipeline::animation::decode_frames(&bytes, &info, 1000).unwrap();
    for (i, f) in frames.into_iter().enumerate() {
        let small = crop_resize(f.raster, whole, 128, (128 * h / w.max(1)).max(1)).unwrap();
        let kind = if small.alpha { "rgba" } else { "rgb" };
        std::fs::write(format!("{dir}/frame-{i}-{kind}-{}.raw", f.delay_ms), &small.data).unwrap();
    }
}
