//! Box shrink of streamed rows: each k×k block of the source becomes one pixel, the mean of its pixels.
//!
//! This is libvips' `shrink` (the integer box average its `resize` runs before the Lanczos `reduce`),
//! fed one row at a time so a row decoder never needs the full-size image. Each row is added into a
//! `u32` sum per source column and channel (a straight element-wise add that the compiler vectorises);
//! after every k-th row the k columns of each block are summed and divided out into one output row.
//! Blocks on the right and bottom edges that k does not fill average only the pixels they have
//! (⌈w/k⌉ × ⌈h/k⌉ output, like libjpeg's scaled sizes). RGBA is averaged premultiplied:
//! Σ(colour × alpha) / Σ alpha, the exact un-premultiplied mean, so a transparent pixel's colour never
//! bleeds into its block (libvips premultiplies before shrinking too). Knows nothing of PNG or of the
//! geometry; `k` ≤ [`super::png_stream::MAX_BOX`] keeps every sum inside a `u32` (a column holds at
//! most k × 255², a block k² × 255²).

use super::raster::Raster;
use super::PipelineError;

/// An accumulator for a k×k box shrink of a `width`×`height` image.
pub struct BoxShrink {
    height: usize,
    k: usize,
    alpha: bool,
    /// Per source column and channel: Σ colour (or Σ colour × alpha, and Σ alpha, for RGBA) over the
    /// rows of the current block.
    columns: Vec<u32>,
    /// Source rows summed into `columns` since the last output row.
    rows_in_block: usize,
    /// Source rows seen so far.
    rows_seen: usize,
    out: Raster,
}

/// Bytes of column sums a `width`-pixel accumulator holds (for the memory budget's count).
pub fn column_bytes(width: u32, alpha: bool) -> u64 {
    u64::from(width) * if alpha { 4 } else { 3 } * 4
}

impl BoxShrink {
    /// An empty accumulator; `k` is clamped to 1..=[`super::png_stream::MAX_BOX`].
    pub fn new(width: u32, height: u32, k: usize, alpha: bool) -> BoxShrink {
        let k = k.clamp(1, super::png_stream::MAX_BOX);
        let channels = if alpha { 4 } else { 3 };
        let (out_w, out_h) = (width.div_ceil(k as u32), height.div_ceil(k as u32));
        let data = Vec::with_capacity(out_w as usize * out_h as usize * channels);
        BoxShrink {
            height: height as usize,
            k,
            alpha,
            columns: vec![0; width as usize * channels],
            rows_in_block: 0,
            rows_seen: 0,
            out: Raster { width: out_w, height: out_h, alpha, data },
        }
    }

    /// Adds one source row of 8-bit RGB or RGBA (as `alpha` said), emitting an output row when a
    /// block is complete or the image ends.
    pub fn push(&mut self, row: &[u8]) -> Result<(), PipelineError> {
        if row.len() != self.columns.len() || self.rows_seen >= self.height {
            return Err(PipelineError::Corrupt("row does not fit the image".into()));
        }
        if self.alpha {
            add_premultiplied(row, &mut self.columns);
        } else {
            for (sum, &v) in self.columns.iter_mut().zip(row) {
                *sum += u32::from(v);
            }
        }
        self.rows_in_block += 1;
        self.rows_seen += 1;
        if self.rows_in_block == self.k || self.rows_seen == self.height {
            self.emit();
        }
        Ok(())
    }

    /// Sums each block's columns, divides them out into one output row, and clears the sums.
    fn emit(&mut self) {
        let (k, rows) = (self.k, self.rows_in_block);
        if self.alpha {
            emit_blocks::<4>(&self.columns, k, rows, &mut self.out.data);
        } else {
            emit_blocks::<3>(&self.columns, k, rows, &mut self.out.data);
        }
        self.columns.fill(0);
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

/// Adds a row of RGBA pixels to the column sums, colour weighted by alpha: [r·a, g·a, b·a, a] per
/// pixel, four lanes at a time.
fn add_premultiplied(row: &[u8], columns: &mut [u32]) {
    for (sum, p) in columns.chunks_exact_mut(4).zip(row.chunks_exact(4)) {
        // Fixed-size views (the chunks are exactly 4 long): no bounds checks, so the loop vectorises.
        let (Ok(sum), Ok(&[r, g, b, a])) = (<&mut [u32; 4]>::try_from(sum), <&[u8; 4]>::try_from(p)) else {
            continue;
        };
        let a = u32::from(a);
        sum[0] += u32::from(r) * a;
        sum[1] += u32::from(g) * a;
        sum[2] += u32::from(b) * a;
        sum[3] += a;
    }
}

/// One output row from the column sums of `rows` source rows: each run of `k` columns (fewer at the
/// right edge) is summed per channel and divided out, premultiplied colour by the summed alpha when
/// there are 4 channels. Every block sum fits a `u32` (k² × 255² with k ≤ 256); the rounding is in
/// `u64`.
fn emit_blocks<const C: usize>(columns: &[u32], k: usize, rows: usize, out: &mut Vec<u8>) {
    for block in columns.chunks(k * C) {
        let mut sum = [0u32; C];
        for px in block.chunks_exact(C) {
            for (s, v) in sum.iter_mut().zip(px) {
                *s += v;
            }
        }
        let n = (block.len() / C * rows) as u64;
        let mean = |c: u32, of: u64| ((u64::from(c) + of / 2).checked_div(of).unwrap_or(0)) as u8;
        if let [r, g, b, a] = sum[..] {
            let sum_a = u64::from(a);
            out.extend_from_slice(&[mean(r, sum_a), mean(g, sum_a), mean(b, sum_a), mean(a, n)]);
        } else if let [r, g, b] = sum[..] {
            out.extend_from_slice(&[mean(r, n), mean(g, n), mean(b, n)]);
        }
    }
}
