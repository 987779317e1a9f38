//! Animated GIF frames composited into one reused canvas (SPEC §2 "Animation"), for `animation.rs`.
//!
//! `gif_blocks.rs` walks the container and `gif_lzw.rs` decodes each frame's LZW data to palette
//! indices (our own, about 3× the `gif` crate's speed: issue 3's animated GIF → WebP workload); this
//! module draws them onto a single RGBA canvas with the frame's transparency and then applies the
//! frame's disposal before the next one (none/keep: leave it; background: clear the frame's rectangle
//! to transparent, as browsers and libvips do rather than painting the background colour; previous:
//! put back what was under the rectangle). That is the `image` crate's compositing, without its
//! full-canvas RGBA buffer and per-pixel blend per frame: one index buffer, one canvas and one saved
//! rectangle serve every frame. Interlaced frames are drawn from the index buffer in stream order, row
//! by row to their place, so they need no deinterlacing copy. A frame whose data ends early shows
//! the pixels it holds over what was there (as browsers do). Frames are handed out one at a time, so
//! a request never holds more than one full-size frame; a canvas with no transparent pixel is handed
//! out as RGB. Knows nothing of the plan or of encoders.

use super::gif_blocks::{Blocks, Disposal, FrameHeader};
use super::gif_lzw::{Lzw, SLACK};
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
    /// Put the saved rectangle back; the flag is whether the canvas was opaque before.
    Restore(Rect, bool),
}

/// Decodes the frames of a GIF one by one onto one canvas.
pub struct GifFrames<'a> {
    blocks: Blocks<'a>,
    lzw: Lzw,
    /// The current frame's LZW sub-blocks joined, reused.
    data: Vec<u8>,
    width: usize,
    height: usize,
    /// RGBA, `width × height × 4`; starts transparent, as in browsers and the `image` crate.
    canvas: Vec<u8>,
    /// Whether every canvas pixel is known to be opaque (drawing never makes one transparent, so
    /// once true it stays true until a disposal clears or restores).
    opaque: bool,
    /// The rectangle under a frame disposed to "previous", saved before it was drawn.
    saved: Vec<u8>,
    /// The current frame's palette indices in stream order, reused (plus the LZW decoder's slack).
    indices: Vec<u8>,
    pending: Pending,
    /// Largest index buffer one frame may need, in bytes.
    frame_cap: u64,
}

impl<'a> GifFrames<'a> {
    /// Reads the header. `frame_cap` bounds one frame's index buffer (a frame may claim up to
    /// 65535×65535 pixels whatever the canvas size).
    pub fn new(input: &'a [u8], frame_cap: u64) -> Result<GifFrames<'a>, PipelineError> {
        let blocks = Blocks::new(input)?;
        let (width, height) = (usize::from(blocks.screen().width), usize::from(blocks.screen().height));
        Ok(GifFrames {
            blocks,
            lzw: Lzw::default(),
            data: Vec::new(),
            width,
            height,
            canvas: vec![0u8; width * height * 4],
            opaque: false,
            saved: Vec::new(),
            indices: Vec::new(),
            pending: Pending::Nothing,
            frame_cap,
        })
    }

    /// The next composited frame as a full-canvas RGBA copy and its delay in milliseconds, or `None`
    /// after the last frame.
    pub fn next_frame(&mut self) -> Result<Option<(Raster, u32)>, PipelineError> {
        self.dispose_previous();
        let Some(frame) = self.blocks.next_frame()? else {
            return Ok(None);
        };
        let (fw, fh) = (usize::from(frame.width), usize::from(frame.height));
        if (fw as u64) * (fh as u64) > self.frame_cap {
            return Err(corrupt("GIF frame larger than the allocation cap"));
        }
        self.blocks.read_data(&mut self.data);
        // Only grows: the bytes a smaller frame does not decode are never read.
        if self.indices.len() < fw * fh + SLACK {
            self.indices.resize(fw * fh + SLACK, 0);
        }
        let decoded = self.lzw.decode(frame.min_code_size, &self.data, &mut self.indices, fw * fh).map_err(corrupt)?;
        let rect = self.clip(usize::from(frame.left), usize::from(frame.top), fw, fh);
        self.pending = match frame.disposal {
            Disposal::Background => Pending::Clear(rect),
            Disposal::Previous => {
                self.saved = self.copy_out(rect);
                Pending::Restore(rect, self.opaque)
            }
            Disposal::Keep => Pending::Nothing,
        };
        self.draw(rect, &frame, decoded);
        Ok(Some((self.snapshot(), u32::from(frame.delay_cs) * 10)))
    }

    /// A copy of the canvas: RGB when every pixel is opaque (most animations once their first frame
    /// is drawn), so that the resize skips premultiplying and works on three channels, else RGBA.
    fn snapshot(&mut self) -> Raster {
        let (width, height) = (self.width as u32, self.height as u32);
        self.opaque = self.opaque || self.canvas.chunks_exact(4).all(|px| px[3] == 255);
        if self.opaque {
            let mut data = vec![0u8; self.width * self.height * 3];
            for (rgb, px) in data.chunks_exact_mut(3).zip(self.canvas.chunks_exact(4)) {
                rgb.copy_from_slice(&px[..3]);
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

    /// Draws the opaque pixels among the first `decoded` indices (stream order) of `frame` onto the
    /// canvas inside `rect`.
    fn draw(&mut self, rect: Rect, frame: &FrameHeader<'_>, decoded: usize) {
        let (fw, fh) = (usize::from(frame.width), usize::from(frame.height));
        if rect.width == 0 || rect.height == 0 {
            return;
        }
        let lut = palette_lut(frame.palette, frame.transparent);
        // `clip` only ever cuts a frame on the right and at the bottom, so row `k` of the data
        // starts at the rectangle's left edge.
        let (top, stride) = (usize::from(frame.top), self.width * 4);
        for (k, row) in stream_rows(fh, frame.interlaced).enumerate() {
            let (src_start, y) = (k * fw, top + row);
            if src_start >= decoded {
                break;
            }
            if y < rect.y || y >= rect.y + rect.height {
                continue;
            }
            let count = (decoded - src_start).min(fw).min(rect.width);
            let dst_start = y * stride + rect.x * 4;
            let (Some(src), Some(dst)) =
                (self.indices.get(src_start..src_start + count), self.canvas.get_mut(dst_start..dst_start + count * 4))
            else {
                continue;
            };
            draw_row(src, dst, &lut);
        }
    }

    /// Applies the last frame's disposal to the canvas.
    fn dispose_previous(&mut self) {
        match std::mem::replace(&mut self.pending, Pending::Nothing) {
            Pending::Nothing => {}
            Pending::Clear(rect) => {
                self.rows_mut(rect).for_each(|row| row.fill(0));
                self.opaque = self.opaque && (rect.width == 0 || rect.height == 0);
            }
            Pending::Restore(rect, was_opaque) => {
                let saved = std::mem::take(&mut self.saved);
                for (row, old) in self.rows_mut(rect).zip(saved.chunks_exact((rect.width * 4).max(1))) {
                    row.copy_from_slice(old);
                }
                self.saved = saved;
                self.opaque = was_opaque;
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

/// The frame's rows in the order its data stores them: top to bottom, or GIF's four interlace
/// passes (every 8th row from 0, every 8th from 4, every 4th from 2, every 2nd from 1).
fn stream_rows(height: usize, interlaced: bool) -> impl Iterator<Item = usize> {
    let passes: &[(usize, usize)] = if interlaced { &[(0, 8), (4, 8), (2, 4), (1, 2)] } else { &[(0, 1)] };
    passes.iter().flat_map(move |&(first, step)| (first..height).step_by(step))
}

/// Paints one row: each index's colour, except where it is transparent (alpha 0 in `lut`).
#[inline]
fn draw_row(src: &[u8], dst: &mut [u8], lut: &[[u8; 4]; 256]) {
    for (&index, px) in src.iter().zip(dst.chunks_exact_mut(4)) {
        let colour = lut[usize::from(index)];
        if colour[3] != 0 {
            px.copy_from_slice(&colour);
        }
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
