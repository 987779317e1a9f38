//! Animated GIF frames composited into one reused canvas (SPEC §2 "Animation"), for `animation.rs`.
//!
//! The `gif` crate decodes each frame's LZW data to palette indices; this module draws them onto a
//! single RGBA canvas with the frame's transparency and then applies the frame's disposal before the
//! next one (none/keep: leave it; background: clear the frame's rectangle to transparent, as browsers
//! and libvips do rather than painting the background colour; previous: put back what was under the
//! rectangle). That is the `image` crate's compositing, without its full-canvas RGBA buffer and
//! per-pixel blend per frame: one index buffer, one canvas and one saved rectangle serve every frame.
//! Frames are handed out one at a time, so a request never holds more than one full-size frame; a
//! frame with no transparent pixel is handed out as RGB.
//! Knows nothing of the plan or of encoders.

use gif::{ColorOutput, DecodeOptions, DisposalMethod, MemoryLimit};

use super::raster::Raster;
use super::PipelineError;

/// A frame's rectangle clipped to the canvas, in canvas pixels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Rect {
    x: usize,
    y: usize,
    width: usize,
    height: usize,
}

/// What the previous frame asked to be done to its rectangle before the next frame is drawn.
#[derive(Clone, Copy, Debug)]
enum Pending {
    Nothing,
    Clear(Rect),
    Restore(Rect),
}

/// Decodes the frames of a GIF one by one onto one canvas.
pub struct GifFrames<'a> {
    decoder: gif::Decoder<&'a [u8]>,
    width: usize,
    height: usize,
    /// RGBA, `width × height × 4`; starts transparent, as in browsers and the `image` crate.
    canvas: Vec<u8>,
    /// The rectangle under a frame disposed to "previous", saved before it was drawn.
    saved: Vec<u8>,
    /// The current frame's palette indices, reused.
    indices: Vec<u8>,
    pending: Pending,
    /// Largest index buffer one frame may need, in bytes.
    frame_cap: u64,
}

impl<'a> GifFrames<'a> {
    /// Reads the header. `frame_cap` bounds one frame's index buffer (a frame may claim up to
    /// 65535×65535 pixels whatever the canvas size).
    pub fn new(input: &'a [u8], frame_cap: u64) -> Result<GifFrames<'a>, PipelineError> {
        let mut options = DecodeOptions::new();
        options.set_color_output(ColorOutput::Indexed);
        if let Some(cap) = std::num::NonZeroU64::new(frame_cap) {
            options.set_memory_limit(MemoryLimit::Bytes(cap));
        }
        let decoder = options.read_info(input).map_err(corrupt)?;
        let (width, height) = (usize::from(decoder.width()), usize::from(decoder.height()));
        let canvas = vec![0u8; width * height * 4];
        let (saved, indices, pending) = (Vec::new(), Vec::new(), Pending::Nothing);
        Ok(GifFrames { decoder, width, height, canvas, saved, indices, pending, frame_cap })
    }

    /// The next composited frame as a full-canvas RGBA copy and its delay in milliseconds, or `None`
    /// after the last frame.
    pub fn next_frame(&mut self) -> Result<Option<(Raster, u32)>, PipelineError> {
        self.dispose_previous();
        let Some(frame) = self.decoder.next_frame_info().map_err(corrupt)? else {
            return Ok(None);
        };
        let (left, top) = (usize::from(frame.left), usize::from(frame.top));
        let (fw, fh) = (usize::from(frame.width), usize::from(frame.height));
        let (dispose, transparent, delay) = (frame.dispose, frame.transparent, u32::from(frame.delay) * 10);
        if (fw as u64) * (fh as u64) > self.frame_cap {
            return Err(corrupt("GIF frame larger than the allocation cap"));
        }
        let lut = palette_lut(self.decoder.palette().map_err(corrupt)?, transparent);
        self.indices.resize(fw * fh, 0);
        self.decoder.read_into_buffer(&mut self.indices).map_err(corrupt)?;
        let rect = self.clip(left, top, fw, fh);
        self.pending = match dispose {
            DisposalMethod::Background => Pending::Clear(rect),
            DisposalMethod::Previous => {
                self.saved = self.copy_out(rect);
                Pending::Restore(rect)
            }
            DisposalMethod::Keep | DisposalMethod::Any => Pending::Nothing,
        };
        self.draw(rect, left, top, fw, &lut);
        Ok(Some((self.snapshot(), delay)))
    }

    /// A copy of the canvas: RGB when every pixel is opaque (most animations once their first frame
    /// is drawn), so that the resize skips premultiplying and works on three channels, else RGBA.
    fn snapshot(&self) -> Raster {
        let (width, height) = (self.width as u32, self.height as u32);
        if self.canvas.chunks_exact(4).all(|px| px[3] == 255) {
            let mut data = Vec::with_capacity(self.width * self.height * 3);
            for px in self.canvas.chunks_exact(4) {
                data.extend_from_slice(&px[..3]);
            }
            return Raster { width, height, alpha: false, data };
        }
        Raster { width, height, alpha: true, data: self.canvas.clone() }
    }

    /// The part of a `fw × fh` frame at (`left`, `top`) that lies on the canvas.
    fn clip(&self, left: usize, top: usize, fw: usize, fh: usize) -> Rect {
        let (x, y) = (left.min(self.width), top.min(self.height));
        Rect { x, y, width: fw.min(self.width - x), height: fh.min(self.height - y) }
    }

    /// Draws the opaque pixels of the current frame's indices onto the canvas inside `rect`.
    fn draw(&mut self, rect: Rect, left: usize, top: usize, fw: usize, lut: &[[u8; 4]; 256]) {
        if rect.width == 0 || rect.height == 0 {
            return;
        }
        let stride = self.width * 4;
        for row in 0..rect.height {
            let src_start = (rect.y + row - top) * fw + (rect.x - left);
            let dst_start = (rect.y + row) * stride + rect.x * 4;
            let (Some(src), Some(dst)) = (
                self.indices.get(src_start..src_start + rect.width),
                self.canvas.get_mut(dst_start..dst_start + rect.width * 4),
            ) else {
                continue;
            };
            for (&index, px) in src.iter().zip(dst.chunks_exact_mut(4)) {
                let colour = lut[usize::from(index)];
                if colour[3] != 0 {
                    px.copy_from_slice(&colour);
                }
            }
        }
    }

    /// Applies the last frame's disposal to the canvas.
    fn dispose_previous(&mut self) {
        match std::mem::replace(&mut self.pending, Pending::Nothing) {
            Pending::Nothing => {}
            Pending::Clear(rect) => self.rows_mut(rect).for_each(|row| row.fill(0)),
            Pending::Restore(rect) => {
                let saved = std::mem::take(&mut self.saved);
                for (row, old) in self.rows_mut(rect).zip(saved.chunks_exact((rect.width * 4).max(1))) {
                    row.copy_from_slice(old);
                }
                self.saved = saved;
            }
        }
    }

    /// A copy of the canvas inside `rect`, rows packed.
    fn copy_out(&mut self, rect: Rect) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.saved);
        out.clear();
        for row in self.rows_mut(rect) {
            out.extend_from_slice(row);
        }
        out
    }

    /// The canvas rows inside `rect` (which `clip` keeps on the canvas).
    fn rows_mut(&mut self, rect: Rect) -> impl Iterator<Item = &mut [u8]> {
        let stride = self.width * 4;
        let span = rect.x * 4..(rect.x + rect.width) * 4;
        self.canvas
            .chunks_exact_mut(stride.max(1))
            .skip(rect.y)
            .take(rect.height)
            .filter_map(move |row| row.get_mut(span.clone()))
    }
}

/// RGBA for each of the 256 indices; the transparent index and indices past the palette's end are
/// alpha 0, which `draw` leaves undrawn (the `gif` crate's RGBA output leaves those pixels zero too).
fn palette_lut(palette: &[u8], transparent: Option<u8>) -> [[u8; 4]; 256] {
    let mut lut = [[0u8; 4]; 256];
    for (entry, rgb) in lut.iter_mut().zip(palette.chunks_exact(3)) {
        *entry = [rgb[0], rgb[1], rgb[2], 255];
    }
    if let Some(t) = transparent {
        lut[usize::from(t)] = [0; 4];
    }
    lut
}

fn corrupt(e: impl std::fmt::Display) -> PipelineError {
    PipelineError::Corrupt(format!("gif: {e}"))
}

#[cfg(test)]
#[path = "gif_frames_tests.rs"]
mod tests;
