//! Animated GIF output (`f:gif` / `@gif` on an animated source), and the source's loop count.
//!
//! Each frame is a full-canvas RGBA raster from `animation.rs`; the `gif` crate quantises it to a
//! 256-colour palette with NeuQuant (`color_quant`, MIT; not libimagequant, which is GPL), alpha 0
//! becoming the transparent index, as GIF has 1-bit transparency. Frames are disposed to the background
//! so a transparent pixel never shows the previous frame. Delays are GIF centiseconds (rounded, at
//! least 1). Loop counts use one convention everywhere here: 0 = forever, n = play n times (libvips'
//! `loop`); GIF stores "forever" as NETSCAPE 0 and "once" as no NETSCAPE block. Knows nothing of the plan.

use crate::plan::ImageFormat;

use super::animation::Frame;
use super::gif_blocks::Blocks;
use super::probe::SourceInfo;
use super::PipelineError;

/// NeuQuant sampling factor (1 best … 30 fastest); 10 is the `gif` crate's documented default trade-off.
const QUANT_SPEED: i32 = 10;

/// Writes `frames` (all the same size) as one animated GIF playing `loops` times (0 = forever).
pub fn encode(frames: &[Frame], loops: u16) -> Result<Vec<u8>, PipelineError> {
    let first = frames.first().ok_or_else(|| cannot("no frames"))?;
    let (w, h) = (first.raster.width, first.raster.height);
    let side = |v: u32| u16::try_from(v).map_err(|_| cannot("wider or taller than 65535"));
    let (gw, gh) = (side(w)?, side(h)?);
    let mut out = Vec::new();
    {
        let mut enc = gif::Encoder::new(&mut out, gw, gh, &[]).map_err(cannot)?;
        let repeat = match loops {
            0 => Some(gif::Repeat::Infinite),
            1 => None,
            n => Some(gif::Repeat::Finite(n)),
        };
        if let Some(r) = repeat {
            enc.set_repeat(r).map_err(cannot)?;
        }
        for f in frames {
            if (f.raster.width, f.raster.height) != (w, h) {
                return Err(cannot("frames differ in size"));
            }
            let mut rgba = f.raster.with_alpha().into_owned().data;
            if rgba.len() != usize::from(gw) * usize::from(gh) * 4 {
                return Err(cannot("frame buffer size"));
            }
            let mut frame = gif::Frame::from_rgba_speed(gw, gh, &mut rgba, QUANT_SPEED);
            frame.delay = u16::try_from(f.delay_ms.div_ceil(10).max(1)).unwrap_or(u16::MAX);
            frame.dispose = gif::DisposalMethod::Background;
            enc.write_frame(&frame).map_err(cannot)?;
        }
    }
    Ok(out)
}

fn cannot(e: impl std::fmt::Display) -> PipelineError {
    PipelineError::CannotEncode(format!("animated gif: {e}"))
}

/// How many times the source animation plays (0 = forever): GIF NETSCAPE2.0/ANIMEXTS1.0 block
/// (absent = once), WebP `ANIM` chunk, APNG `acTL` `num_plays`. Unreadable or still sources count as
/// forever.
pub fn source_loops(input: &[u8], info: &SourceInfo) -> u16 {
    match info.probe.format {
        ImageFormat::Gif => gif_loops(input),
        ImageFormat::Webp => riff_chunk(input, b"ANIM").and_then(|d| d.get(4..6)).map_or(0, le16),
        ImageFormat::Png => png_chunk(input, b"acTL")
            .and_then(|d| d.get(4..8))
            .map_or(0, |b| u16::try_from(u32::from_be_bytes([b[0], b[1], b[2], b[3]])).unwrap_or(0)),
        _ => 0,
    }
}

/// The GIF's loop block before its first image, as the `gif` crate and browsers read it.
fn gif_loops(input: &[u8]) -> u16 {
    let Ok(mut blocks) = Blocks::new(input) else { return 0 };
    // Only the blocks before the first image matter; a broken frame does not change them.
    let _ = blocks.next_frame();
    blocks.loops().unwrap_or(1)
}

fn le16(b: &[u8]) -> u16 {
    match b {
        [lo, hi, ..] => u16::from_le_bytes([*lo, *hi]),
        _ => 0,
    }
}

fn u32_at(b: &[u8], at: usize, big_endian: bool) -> Option<usize> {
    let v: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
    let n = if big_endian { u32::from_be_bytes(v) } else { u32::from_le_bytes(v) };
    usize::try_from(n).ok()
}

/// The payload of the first top-level RIFF chunk named `id` (chunks are padded to even sizes).
fn riff_chunk<'a>(input: &'a [u8], id: &[u8; 4]) -> Option<&'a [u8]> {
    let mut at = 12;
    for _ in 0..64 {
        let size = u32_at(input, at + 4, false)?;
        let data = input.get(at + 8..(at + 8).checked_add(size)?)?;
        if input.get(at..at + 4)? == id {
            return Some(data);
        }
        at = at.checked_add(8 + size + (size & 1))?;
    }
    None
}

/// The payload of the first PNG chunk named `id` before the image data.
fn png_chunk<'a>(input: &'a [u8], id: &[u8; 4]) -> Option<&'a [u8]> {
    let mut at = 8;
    for _ in 0..1024 {
        let size = u32_at(input, at, true)?;
        let kind = input.get(at + 4..at + 8)?;
        if kind == id {
            return input.get(at + 8..(at + 8).checked_add(size)?);
        }
        if kind == b"IDAT" {
            return None;
        }
        at = at.checked_add(12 + size)?;
    }
    None
}

/// The frames as the `gif` crate decodes them back: (count, delays in centiseconds, loops, size).
#[cfg(test)]
pub(crate) fn inspect(bytes: &[u8]) -> (usize, Vec<u16>, gif::Repeat, (u16, u16)) {
    let mut d = gif::DecodeOptions::new().read_info(bytes).expect("gif decodes");
    let size = (d.width(), d.height());
    let mut delays = Vec::new();
    while let Some(f) = d.read_next_frame().expect("frame decodes") {
        delays.push(f.delay);
    }
    (delays.len(), delays, d.repeat(), size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::probe;
    use crate::pipeline::raster::Raster;
    use crate::pipeline::test_util::corpus;

    fn frames(n: u8, delay_ms: u32) -> Vec<Frame> {
        (0..n)
            .map(|i| Frame {
                raster: Raster { width: 6, height: 4, alpha: true, data: [i * 60, 255 - i * 60, 0, 255].repeat(24) },
                delay_ms,
            })
            .collect()
    }

    #[test]
    fn frames_delays_and_loops_survive_a_round_trip() {
        let rows: &[(&str, u8, u32, u16, u16, gif::Repeat)] = &[
            ("forever", 3, 50, 0, 5, gif::Repeat::Infinite),
            ("three plays", 2, 100, 3, 10, gif::Repeat::Finite(3)),
            ("once writes no NETSCAPE block", 4, 40, 1, 4, gif::Repeat::Finite(0)),
            ("a 1 ms delay rounds up to 1 cs", 2, 1, 0, 1, gif::Repeat::Infinite),
        ];
        for (name, n, delay, loops, want_cs, want_repeat) in rows {
            let bytes = encode(&frames(*n, *delay), *loops).unwrap();
            let (count, delays, repeat, size) = inspect(&bytes);
            assert_eq!(count, usize::from(*n), "{name}");
            assert!(delays.iter().all(|d| d == want_cs), "{name}: {delays:?}");
            assert_eq!(repeat, *want_repeat, "{name}");
            assert_eq!(size, (6, 4), "{name}");
        }
    }

    #[test]
    fn source_loop_counts_are_read_from_each_container() {
        for (file, want) in [("formats/iss634.gif", 0), ("formats/iss634.webp", 0), ("formats/iss634.apng", 0)] {
            let bytes = corpus(file);
            let info = probe::inspect(&bytes).unwrap();
            assert_eq!(source_loops(&bytes, &info), want, "{file}");
        }
        let once = encode(&frames(2, 50), 1).unwrap();
        let info = probe::inspect(&once).unwrap();
        assert_eq!(source_loops(&once, &info), 1, "GIF without NETSCAPE plays once");
        let thrice = encode(&frames(2, 50), 3).unwrap();
        assert_eq!(source_loops(&thrice, &probe::inspect(&thrice).unwrap()), 3);
    }

    #[test]
    fn frames_of_different_sizes_are_refused() {
        let mut f = frames(2, 50);
        f[1].raster = Raster { width: 2, height: 2, alpha: true, data: vec![0; 16] };
        assert!(matches!(encode(&f, 0), Err(PipelineError::CannotEncode(_))));
    }
}
