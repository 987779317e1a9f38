//! Smart gravity (`g:sm`, `c:…:sm`): where a crop window of a given size keeps the most detail.
//!
//! imgproxy hands this to libvips `smartcrop` (`interesting=attention`). We use a cheaper heuristic in
//! the same spirit as its `entropy` mode: edge energy (the luma gradient, |∂x| + |∂y|) summed over
//! cells of a coarse grid, then the window position with the highest sum, found with a summed-area
//! table. Ties (a flat image) go to the position nearest the centre, so a featureless image crops like
//! `ce`. Cost: one pass over the pixels plus a sweep over at most 256×256 cells. This module knows
//! nothing of the plan or of orientation: it answers for the raster it is given.

use super::raster::Raster;

/// The grid is at most this many cells on its longer side: enough resolution to place a crop
/// within ~0.4 % of the image, small enough that the sweep is negligible.
const MAX_CELLS: u32 = 256;

/// The top-left corner of the `width`×`height` window of `img` with the most edge energy.
pub fn best_window(img: &Raster, width: u32, height: u32) -> (u32, u32) {
    let (w, h) = (width.min(img.width), height.min(img.height));
    if w == img.width && h == img.height {
        return (0, 0);
    }
    let cell = img.width.max(img.height).div_ceil(MAX_CELLS).max(1);
    let grid = Grid::of(img, cell);
    let (win_w, win_h) = ((w / cell).max(1).min(grid.cols), (h / cell).max(1).min(grid.rows));
    let (max_x, max_y) = (img.width - w, img.height - h);
    let centre = (f64::from(max_x) / 2.0, f64::from(max_y) / 2.0);
    let mut best: Option<(u64, f64, u32, u32)> = None;
    for cy in 0..=grid.rows - win_h {
        for cx in 0..=grid.cols - win_w {
            let score = grid.sum(cx, cy, win_w, win_h);
            let (x, y) = ((cx * cell).min(max_x), (cy * cell).min(max_y));
            let dist = (f64::from(x) - centre.0).abs() + (f64::from(y) - centre.1).abs();
            let better = match best {
                None => true,
                Some((s, d, _, _)) => score > s || (score == s && dist < d),
            };
            if better {
                best = Some((score, dist, x, y));
            }
        }
    }
    best.map_or((max_x / 2, max_y / 2), |(_, _, x, y)| (x, y))
}

/// Edge energy per cell, as a summed-area table (`table[(r+1)*(cols+1) + c+1]` = sum above-left).
struct Grid {
    cols: u32,
    rows: u32,
    table: Vec<u64>,
}

impl Grid {
    fn of(img: &Raster, cell: u32) -> Grid {
        let (cols, rows) = (img.width.div_ceil(cell), img.height.div_ceil(cell));
        let mut energy = vec![0u64; cols as usize * rows as usize];
        let c = img.channels();
        let stride = img.stride().max(1);
        let luma = |px: &[u8]| match px {
            [r, g, b, ..] => (u32::from(*r) * 2 + u32::from(*g) * 5 + u32::from(*b)) / 8,
            _ => 0,
        };
        let mut prev: Option<&[u8]> = None;
        for (y, row) in (0u32..).zip(img.data.chunks_exact(stride)) {
            let base = (y / cell) as usize * cols as usize;
            let mut left = None;
            for (x, px) in (0u32..).zip(row.chunks_exact(c)) {
                let l = luma(px);
                let dx = left.map_or(0, |v: u32| v.abs_diff(l));
                let dy = prev.and_then(|p| p.get(x as usize * c..)).map_or(0, |p| luma(p).abs_diff(l));
                left = Some(l);
                if let Some(e) = energy.get_mut(base + (x / cell) as usize) {
                    *e += u64::from(dx + dy);
                }
            }
            prev = Some(row);
        }
        Grid { cols, rows, table: summed(&energy, cols as usize, rows as usize) }
    }

    fn at(&self, col: u32, row: u32) -> u64 {
        let i = row as usize * (self.cols as usize + 1) + col as usize;
        self.table.get(i).copied().unwrap_or(0)
    }

    fn sum(&self, cx: u32, cy: u32, w: u32, h: u32) -> u64 {
        let (x1, y1) = (cx + w, cy + h);
        (self.at(x1, y1) + self.at(cx, cy)).saturating_sub(self.at(cx, y1) + self.at(x1, cy))
    }
}

fn summed(values: &[u64], cols: usize, rows: usize) -> Vec<u64> {
    let mut table = vec![0u64; (cols + 1) * (rows + 1)];
    for r in 0..rows {
        let mut run = 0u64;
        for c in 0..cols {
            run += values.get(r * cols + c).copied().unwrap_or(0);
            let above = table.get(r * (cols + 1) + c + 1).copied().unwrap_or(0);
            if let Some(t) = table.get_mut((r + 1) * (cols + 1) + c + 1) {
                *t = above + run;
            }
        }
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A flat grey image with a checkerboard in `busy` (x0, y0, x1, y1).
    fn with_detail(w: u32, h: u32, busy: (u32, u32, u32, u32)) -> Raster {
        let px = |x: u32, y: u32| {
            let inside = x >= busy.0 && x < busy.2 && y >= busy.1 && y < busy.3;
            if inside && (x / 2 + y / 2) % 2 == 0 {
                [0, 0, 0]
            } else if inside {
                [255, 255, 255]
            } else {
                [128, 128, 128]
            }
        };
        let data = (0..h).flat_map(|y| (0..w).flat_map(move |x| px(x, y))).collect();
        Raster { width: w, height: h, alpha: false, data }
    }

    #[test]
    fn window_goes_to_the_detail() {
        type Row = (&'static str, (u32, u32), (u32, u32, u32, u32), (u32, u32), (u32, u32));
        let rows: &[Row] = &[
            ("detail on the right, narrow window", (300, 100), (220, 0, 300, 100), (100, 100), (200, 0)),
            ("detail on the left", (300, 100), (0, 0, 60, 100), (100, 100), (0, 0)),
            ("detail at the bottom, short window", (100, 300), (0, 250, 100, 300), (100, 100), (0, 200)),
            ("detail in the middle of a wide image", (600, 100), (280, 0, 320, 100), (100, 100), (250, 0)),
        ];
        for (name, (w, h), busy, (cw, ch), want) in rows {
            let img = with_detail(*w, *h, *busy);
            let (x, y) = best_window(&img, *cw, *ch);
            // The detail must be fully inside the window; the exact pixel may move by a grid cell.
            assert!(x <= busy.0 && x + cw >= busy.2.min(*w), "{name}: x={x}");
            assert!(y <= busy.1 && y + ch >= busy.3.min(*h), "{name}: y={y}");
            let near = |a: u32, b: u32| a.abs_diff(b) <= 4;
            assert!(near(x, want.0) && near(y, want.1), "{name}: got ({x},{y}), want {want:?}");
        }
    }

    #[test]
    fn flat_image_crops_at_the_centre() {
        let img = with_detail(300, 100, (0, 0, 0, 0));
        assert_eq!(best_window(&img, 100, 100), (100, 0));
    }

    #[test]
    fn window_as_big_as_the_image_stays_put() {
        let img = with_detail(50, 40, (0, 0, 10, 10));
        assert_eq!(best_window(&img, 50, 40), (0, 0));
        assert_eq!(best_window(&img, 90, 90), (0, 0), "oversized window is clamped");
    }
}
