//! PNG decode row by row, with shrink-on-load: the full-size image is never held.
//!
//! Issue 3 asks that a request never hold more than one full-size decoded frame, and libvips streams
//! PNG rows through its pipeline; the `image` crate decodes the whole frame first (a 5120×2880 RGBA
//! PNG is 59 MB before resize copies it). Here the `png` crate hands us one row at a time, expanded to
//! 8-bit RGB or RGBA (palette, tRNS, grey, 1–16 bits), and when the geometry's shrink hint is ≥ 2 each
//! k×k block is box-averaged into a `u32` row accumulator as rows arrive, so only the reduced image
//! (⌈w/k⌉ × ⌈h/k⌉) is ever allocated. This is libvips' `shrink` (integer box average) before its
//! `reduce` (Lanczos3): our resize step then does the remaining factor, exactly as it does after a
//! JPEG DCT-scaled decode (`Raster` size = decoded size, the crop is rescaled onto it). Like libvips,
//! the box takes about half of the factor and Lanczos3 the rest ([`png_shrink`]); k ≤ hint never goes
//! below the size the geometry needs ([`super::geometry::Layout::shrink_hint`] is the tighter axis'
//! ratio, as for `jpeg_shrink`). Alpha is averaged premultiplied (colour × alpha
//! summed, divided by the summed alpha), so transparent pixels do not bleed their colour, as libvips.
//! Interlaced (Adam7) files arrive pass by pass, scattered over the image, and go through the whole
//! decode instead. The header was checked against the resolution limit by the probe; the decoder's own
//! header must agree with it before any buffer is sized. Knows nothing of geometry beyond the hint, nor
//! of output formats; APNG yields its default image (animation is `animation.rs`' business).

use std::io::Cursor;

use png::{BitDepth, ColorType, Decoder, Transformations};

use super::png_box::BoxShrink;
use super::probe::SourceInfo;
use super::raster::Raster;
use super::PipelineError;

/// The largest box side: the premultiplied colour sum of one box, k² × 255 × 255, must fit a `u32`
/// (256² × 255² = 4 261 478 400 < 2³²). Beyond it the resize step does the rest.
pub const MAX_BOX: usize = 256;

/// How much of the shrink the Lanczos3 resize keeps: libvips' `resize` default "reducing gap" of 2
/// (its box `shrink` takes ⌊factor / 2⌋, `reduce` the rest). A box doing all of it aliases fine
/// texture: on `sharp_paper_2048x1536.png` → 409 px, k = 5 scores SSIM 0.960 against a whole Lanczos3
/// resize, k = 2 scores 0.9997 (`box_factor_ssim_probe`).
const REDUCING_GAP: f64 = 2.0;

/// The box side for a shrink hint: ⌊hint / 2⌋ but at least 2 once the hint is 2 (box 2 then Lanczos
/// by < 2 still scores SSIM ≥ 0.998 against a whole Lanczos3 resize, and holds a quarter of the
/// pixels); 1 below 2, so the reduced image always covers the target.
pub fn png_shrink(shrink_hint: f64) -> usize {
    if shrink_hint >= 2.0 {
        ((shrink_hint / REDUCING_GAP).floor() as usize).clamp(2, MAX_BOX)
    } else {
        1
    }
}

/// Frames up to this size (16 MiB of RGBA, about 4 MP) are decoded whole and left to Lanczos3 alone:
/// holding them is cheap, and the SIMD resize beats the scalar box there. Measured on the benchmark's
/// 3 MP PNG → 400 px WebP (`png_bench_probe`, warm, CPU time): 53 ms whole, 65 ms box-shrunk.
/// Above it the frame's memory dominates: 5120×2880 → 800 px peaks at 37 MiB instead of 97 MiB.
pub const WHOLE_FRAME_BYTES: u64 = 16 << 20;

/// The box side used for this source and hint: 1 (whole frame) up to [`WHOLE_FRAME_BYTES`], else
/// [`png_shrink`].
pub fn box_side(info: &SourceInfo, shrink_hint: f64) -> usize {
    let frame = u64::from(info.probe.width) * u64::from(info.probe.height) * 4;
    if frame <= WHOLE_FRAME_BYTES {
        1
    } else {
        png_shrink(shrink_hint)
    }
}

/// Bytes the decoder's own row buffers may hold: a few rows of at most 16-bit RGBA (8 bytes a pixel),
/// the current and previous raw rows among them; also the bound its `png::Limits` allows beyond
/// metadata chunks.
fn decoder_rows(width: u32) -> u64 {
    u64::from(width) * 8 * 4
}

/// Bytes a decode of this source holds at its peak, for the memory budget: a streamed, box-shrunk
/// decode ([`box_side`] ≥ 2, not interlaced) holds the shrunk raster, a `u32` sum per source column
/// and channel, one expanded row and the decoder's rows, never the full frame; anything else its full RGBA frame (up to
/// [`WHOLE_FRAME_BYTES`] and Adam7 files are decoded whole, and an animated PNG's frames are
/// composited at full size by `animation.rs`).
pub fn held_bytes(info: &SourceInfo, shrink_hint: f64) -> u64 {
    let (w, h) = (u64::from(info.probe.width), u64::from(info.probe.height));
    let k = box_side(info, shrink_hint) as u64;
    if k < 2 || info.interlaced || info.probe.frames > 1 {
        return w.saturating_mul(h).saturating_mul(4);
    }
    let (out_w, out_h) = (w.div_ceil(k), h.div_ceil(k));
    let raster = out_w.saturating_mul(out_h).saturating_mul(4);
    let accumulator = super::png_box::column_bytes(info.probe.width, true);
    let expanded = w * 4;
    raster.saturating_add(accumulator).saturating_add(expanded).saturating_add(decoder_rows(info.probe.width))
}

/// The source extent a decoded raster of `decoded` size stands for, for mapping the crop onto it: each
/// pixel of a box-shrunk raster is exactly k source pixels (the edge ones hold fewer), so the source is
/// ⌈w/k⌉·k wide; scaling by decoded / source size instead would shift the far edge by up to half a
/// decoded pixel (SSIM 0.960 instead of 0.998 against a whole Lanczos3 resize on a 2048-px texture
/// shrunk by 5). Anything not box-shrunk (full size, the interlaced fallback) stands for the source.
pub fn covered(info: &SourceInfo, shrink_hint: f64, decoded: (u32, u32)) -> (u32, u32) {
    let (w, h) = (info.probe.width, info.probe.height);
    let k = box_side(info, shrink_hint) as u32;
    if k >= 2 && decoded == (w.div_ceil(k), h.div_ceil(k)) {
        (decoded.0.saturating_mul(k), decoded.1.saturating_mul(k))
    } else {
        (w, h)
    }
}

/// Decodes `input`, box-shrunk by [`box_side`] while the rows stream in.
pub fn decode(input: &[u8], info: &SourceInfo, shrink_hint: f64) -> Result<Raster, PipelineError> {
    decode_boxed(input, info, box_side(info, shrink_hint))
}

/// Decodes `input` with every `k`×`k` block averaged into one pixel (k = 1: full size).
pub fn decode_boxed(input: &[u8], info: &SourceInfo, k: usize) -> Result<Raster, PipelineError> {
    let mut reader = open(input, info)?;
    if reader.info().interlaced {
        // Adam7 passes each cover the whole image; streaming them would need the full frame anyway.
        return super::decode::decode_with_image(input, info, image::ImageFormat::Png);
    }
    let layout = Layout::of(reader.output_color_type())?;
    let (width, height) = (info.probe.width, info.probe.height);
    let mut sink = Sink::new(width, height, k, layout.alpha());
    let mut scratch = vec![0u8; width as usize * layout.out_channels()];
    while let Some(row) = reader.next_row().map_err(png_err)? {
        sink.push(layout.expand(row.data(), &mut scratch)?)?;
    }
    sink.finish()
}

/// A reader past the header, set to expand everything to 8 or 16-bit grey/RGB with or without alpha.
fn open<'a>(input: &'a [u8], info: &SourceInfo) -> Result<png::Reader<Cursor<&'a [u8]>>, PipelineError> {
    let (width, height) = (info.probe.width, info.probe.height);
    // The decoder's own buffers are a few rows (16-bit RGBA at most 8 bytes a pixel) plus metadata chunks.
    let limits = png::Limits { bytes: (16 << 20) + usize::try_from(decoder_rows(width)).unwrap_or(usize::MAX) };
    let mut decoder = Decoder::new_with_limits(Cursor::new(input), limits);
    // The ICC profile is read from the raw bytes by `icc.rs`; text is never used.
    decoder.set_ignore_text_chunk(true);
    decoder.set_ignore_iccp_chunk(true);
    decoder.set_transformations(Transformations::EXPAND);
    let header = decoder.read_header_info().map_err(png_err)?;
    if (header.width, header.height) != (width, height) {
        return Err(PipelineError::Corrupt("PNG header disagrees with the probe".into()));
    }
    decoder.read_info().map_err(png_err)
}

fn png_err(e: png::DecodingError) -> PipelineError {
    match e {
        png::DecodingError::LimitsExceeded => PipelineError::ResolutionTooBig("PNG decoder limits".into()),
        other => PipelineError::Corrupt(format!("PNG: {other}")),
    }
}

/// The decoder's expanded row format: samples per pixel (grey, grey+alpha, RGB, RGBA) and bytes per
/// sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Layout {
    samples: usize,
    wide: bool,
}

impl Layout {
    fn of((color, depth): (ColorType, BitDepth)) -> Result<Layout, PipelineError> {
        let samples = match color {
            ColorType::Grayscale => 1,
            ColorType::GrayscaleAlpha => 2,
            ColorType::Rgb => 3,
            ColorType::Rgba => 4,
            // EXPAND turns palettes into RGB(A); anything else is a decoder we do not know.
            ColorType::Indexed => return Err(PipelineError::Corrupt("PNG palette not expanded".into())),
        };
        match depth {
            BitDepth::Eight => Ok(Layout { samples, wide: false }),
            BitDepth::Sixteen => Ok(Layout { samples, wide: true }),
            other => Err(PipelineError::Corrupt(format!("PNG {other:?}-bit samples not expanded"))),
        }
    }

    fn alpha(self) -> bool {
        self.samples % 2 == 0
    }

    fn out_channels(self) -> usize {
        if self.alpha() {
            4
        } else {
            3
        }
    }

    /// One decoded row as 8-bit RGB(A): borrowed when it already is, else converted into `scratch`.
    fn expand<'a>(self, row: &'a [u8], scratch: &'a mut [u8]) -> Result<&'a [u8], PipelineError> {
        let bytes = self.samples * if self.wide { 2 } else { 1 };
        let pixels = scratch.len() / self.out_channels();
        if row.len() != pixels * bytes {
            return Err(PipelineError::Corrupt("PNG row of the wrong length".into()));
        }
        if !self.wide && self.samples >= 3 {
            return Ok(row);
        }
        let wide = self.wide;
        let sample =
            |p: &[u8], i: usize| if wide { narrow(u16::from_be_bytes([p[2 * i], p[2 * i + 1]])) } else { p[i] };
        for (p, o) in row.chunks_exact(bytes).zip(scratch.chunks_exact_mut(self.out_channels())) {
            match self.samples {
                1 => o.fill(sample(p, 0)),
                2 => {
                    let g = sample(p, 0);
                    o.copy_from_slice(&[g, g, g, sample(p, 1)]);
                }
                3 => o.copy_from_slice(&[sample(p, 0), sample(p, 1), sample(p, 2)]),
                _ => o.copy_from_slice(&[sample(p, 0), sample(p, 1), sample(p, 2), sample(p, 3)]),
            }
        }
        Ok(scratch)
    }
}

/// 16 → 8 bits, rounded to nearest (v × 255 / 65535), as the `image` crate converts.
fn narrow(v: u16) -> u8 {
    ((u32::from(v) * 255 + 32767) / 65535) as u8
}

/// Where rows go: straight into the full image (k = 1) or through the box accumulator.
enum Sink {
    Whole { raster: Raster, len: usize },
    Shrink(BoxShrink),
}

impl Sink {
    fn new(width: u32, height: u32, k: usize, alpha: bool) -> Sink {
        if k >= 2 {
            return Sink::Shrink(BoxShrink::new(width, height, k, alpha));
        }
        let channels = if alpha { 4 } else { 3 };
        let len = width as usize * height as usize * channels;
        let raster = Raster { width, height, alpha, data: Vec::with_capacity(len) };
        Sink::Whole { raster, len }
    }

    fn push(&mut self, row: &[u8]) -> Result<(), PipelineError> {
        match self {
            Sink::Whole { raster, len } if raster.data.len() + row.len() <= *len => {
                raster.data.extend_from_slice(row);
                Ok(())
            }
            Sink::Whole { .. } => Err(PipelineError::Corrupt("PNG has more rows than its header".into())),
            Sink::Shrink(b) => b.push(row),
        }
    }

    fn finish(self) -> Result<Raster, PipelineError> {
        match self {
            Sink::Whole { raster, len } if raster.data.len() == len => Ok(raster),
            Sink::Whole { .. } => Err(PipelineError::Corrupt("PNG ended before its last row".into())),
            Sink::Shrink(b) => b.finish(),
        }
    }
}

#[cfg(test)]
#[path = "png_stream_tests.rs"]
mod tests;
