//! Box shrink of streamed rows: each k×k block of the source becomes one pixel, the mean of its pixels.
//!
//! This is libvips' `shrink` (the integer box average its `resize` runs before the Lanczos `reduce`),
//! fed one row at a time so a row decoder never needs the full-size image: rows are summed into a `u32`
//! accumulator of one output row, which is divided out after every k-th row. Blocks on the right and
//! bottom edges that k does not fill average only the pixels they have (⌈w/k⌉ × ⌈h/k⌉ output, like
//! libjpeg's scaled sizes). RGBA is averaged premultiplied: Σ(colour × alpha) / Σ alpha, the exact
//! un-premultiplied mean, so a transparent pixel's colour never bleeds into its block (libvips
//! premultiplies before shrinking too). Knows nothing of PNG or of the geometry; `k` ≤
//! [`super::png_stream::MAX_BOX`] keeps every sum inside a `u32`.

use super::raster::Raster;
use super::PipelineError;

/// An output-row accumulator for a k×k box shrink of a `width`×`height` image.
pub struct BoxShrink {
    width: usize,
    height: usize,
    k: usize,
    alpha: bool,
    /// Per output pixel: Σ colour (or Σ colour × alpha) per channel, then Σ alpha for RGBA.
    acc: Vec<u32>,
    /// Source rows summed into `acc` since it was last emitted.
    rows_in_block: usize,
    /// Source rows seen so far.
    rows_seen: usize,
    out: Raster,
}

impl BoxShrink {
    /// An empty accumulator; `k` is clamped to 1..=[`super::png_stream::MAX_BOX`].
    pub fn new(width: u32, height: u32, k: usize, alpha: bool) -> BoxShrink {
        let k = k.clamp(1, super::png_stream::MAX_BOX);
        let channels = if alpha { 4 } else { 3 };
        let (out_w, out_h) = (width.div_ceil(k as u32), height.div_ceil(k as u32));
        let data = Vec::with_capacity(out_w as usize * out_h as usize * channels);
        BoxShrink {
            width: width as usize,
            height: height as usize,
            k,
            alpha,
            acc: vec![0; out_w as usize * channels],
            rows_in_block: 0,
            rows_seen: 0,
            out: Raster { width: out_w, height: out_h, alpha, data },
        }
    }

    /// Adds one source row of 8-bit RGB or RGBA (as `alpha` said), emitting an output row when a
    /// block is complete or the image ends.
    pub fn push(&mut self, row: &[u8]) -> Result<(), PipelineError> {
        let channels = self.out.channels();
        if row.len() != self.width * channels || self.rows_seen >= self.height {
            return Err(PipelineError::Corrupt("row does not fit the image".into()));
        }
        if self.alpha {
            for (block, acc) in row.chunks(self.k * 4).zip(self.acc.chunks_exact_mut(4)) {
                add_premultiplied(block, acc);
            }
        } else {
            for (block, acc) in row.chunks(self.k * 3).zip(self.acc.chunks_exact_mut(3)) {
                for p in block.chunks_exact(3) {
                    acc[0] += u32::from(p[0]);
                    acc[1] += u32::from(p[1]);
                    acc[2] += u32::from(p[2]);
                }
            }
        }
        self.rows_in_block += 1;
        self.rows_seen += 1;
        if self.rows_in_block == self.k || self.rows_seen == self.height {
            self.emit();
        }
        Ok(())
    }

    /// Divides the accumulated block sums out into one output row and clears them.
    fn emit(&mut self) {
        let channels = self.out.channels();
        for (x, acc) in self.acc.chunks_exact_mut(channels).enumerate() {
            // The last block of a row holds only the columns that are left.
            let cols = self.k.min(self.width - x * self.k);
            let n = (cols * self.rows_in_block) as u64;
            if self.alpha {
                let sum_a = u64::from(acc[3]);
                let colour = |c: u32| (u64::from(c) + sum_a / 2).checked_div(sum_a).unwrap_or(0) as u8;
                let a = ((sum_a + n / 2) / n) as u8;
                self.out.data.extend_from_slice(&[colour(acc[0]), colour(acc[1]), colour(acc[2]), a]);
            } else {
                let mean = |c: u32| ((u64::from(c) + n / 2) / n) as u8;
                self.out.data.extend_from_slice(&[mean(acc[0]), mean(acc[1]), mean(acc[2])]);
            }
            acc.fill(0);
        }
        self.rows_in_block = 0;
    }

    /// The shrunk image, once every source row has been pushed.
    pub fn finish(self) -> Result<Raster, PipelineError> {
        if self.rows_seen != self.height {
            return Err(PipelineError::Corrupt("image ended before its last row".into()));
        }
        Ok(self.out)
    }
}

/// Adds a run of RGBA pixels to one block's sums, colour weighted by alpha.
fn add_premultiplied(block: &[u8], acc: &mut [u32]) {
    let (mut r, mut g, mut b, mut a) = (0u32, 0u32, 0u32, 0u32);
    for p in block.chunks_exact(4) {
        let alpha = u32::from(p[3]);
        r += u32::from(p[0]) * alpha;
        g += u32::from(p[1]) * alpha;
        b += u32::from(p[2]) * alpha;
        a += alpha;
    }
    if let [ar, ag, ab, aa] = acc {
        *ar += r;
        *ag += g;
        *ab += b;
        *aa += a;
    }
}
