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
                    ((i % usize::from(s.width)) * 3 + (i / usize::from(s.width)) * 5 + usize::from(s.seed)) as u8 % 4
                })
                .collect();
            let frame = gif::Frame {
                left: s.left,
                top: s.top,
                width: s.width,
                height: s.height,
                dispose: s.dispose,
                transparent: s.transparent,
                delay: u16::from(s.seed) + 2,
                palette: (s.seed % 2 == 1).then(|| LOCAL.to_vec()),
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
    Spec { left, top, width: size.0, height: size.1, dispose, transparent, seed }
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
fn opaque_canvases_come_out_as_rgb_and_transparent_ones_as_rgba() {
    use DisposalMethod::{Background, Keep};
    let bytes = gif_of(
        8,
        8,
        &[
            spec(0, 0, (8, 8), Keep, None, 0),
            spec(2, 2, (4, 4), Background, None, 1),
            spec(0, 0, (2, 2), Keep, None, 2),
        ],
    );
    let alpha: Vec<bool> = ours(&bytes).iter().map(|(r, _)| r.alpha).collect();
    assert_eq!(alpha, [false, false, true], "the cleared rectangle makes the third canvas transparent");
}

#[test]
fn frames_entirely_off_the_screen_draw_nothing() {
    use DisposalMethod::{Background, Keep, Previous};
    let bytes = gif_of(
        8,
        8,
        &[
            spec(0, 0, (8, 8), Keep, None, 0),
            spec(20, 30, (4, 4), Background, None, 1),
            spec(20, 30, (4, 4), Previous, None, 1),
        ],
    );
    let frames = ours(&bytes);
    assert_eq!(frames.len(), 3);
    assert!(frames.iter().all(|(r, _)| r.data == frames[0].0.data), "off-screen frames leave the canvas alone");
}

#[test]
fn broken_or_oversized_gifs_are_errors_not_panics() {
    let good = gif_of(16, 12, &[spec(0, 0, (16, 12), DisposalMethod::Keep, None, 0)]);
    for cut in 0..good.len() {
        let drained = GifFrames::new(&good[..cut], 1 << 20).and_then(|mut f| {
            while f.next_frame()?.is_some() {}
            Ok(())
        });
        if cut < 13 {
            assert!(matches!(drained, Err(PipelineError::Corrupt(_))), "header cut at {cut}: {drained:?}");
        }
    }
    let mut frames = GifFrames::new(&good, 100).unwrap();
    assert!(matches!(frames.next_frame(), Err(PipelineError::Corrupt(_))), "192 indices over a cap of 100");
}
