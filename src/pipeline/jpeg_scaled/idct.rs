//! Scaled inverse DCT as weights: what one dequantised coefficient adds to each scaled output sample.
//!
//! An 8×8 block decoded at 1/2, 1/4 or 1/8 gives 4×4, 2×2 or 1×1 samples, each the mean of the full
//! IDCT over its 2×2, 4×4 or 8×8 pixel box (the same outputs libjpeg's reduced IDCTs compute; e.g. the
//! 2×2 case uses only frequencies 0, 1, 3, 5, 7, because the even ones average to zero over a half
//! block). Box means of a linear transform are linear in the coefficients, so output sample `i` is
//! Σₖ coefₖ · qₖ · wₖ[i]: we fold the quantiser in and tabulate `wₖ` per zig-zag index, as `f32`.
//! Chroma blocks of subsampled images cover twice the pixels, so they get the next larger output (as
//! libjpeg-turbo does), and every plane comes out at the same scaled size with no upsampling.
//! Nothing here reads the bit stream.

/// Natural (row-major) position of each zig-zag index (JPEG Figure A.6).
const ZIGZAG: [usize; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21,
    28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54,
    47, 55, 62, 63,
];

/// `m[i][u]`: the mean over output sample `i`'s box (of `8 / n` pixels) of the 1-D IDCT basis `u`,
/// including the DCT's normalisation (√(1/8) for u = 0, 1/2 otherwise).
fn basis(n: usize) -> [[f64; 8]; 8] {
    let mut m = [[0.0; 8]; 8];
    let span = 8 / n.clamp(1, 8);
    for (i, row) in m.iter_mut().enumerate().take(n) {
        for (u, cell) in row.iter_mut().enumerate() {
            let alpha = if u == 0 { (1.0f64 / 8.0).sqrt() } else { 0.5 };
            let sum: f64 = (i * span..(i + 1) * span)
                .map(|x| ((2 * x + 1) as f64 * u as f64 * std::f64::consts::PI / 16.0).cos())
                .sum();
            *cell = alpha * sum / span as f64;
        }
    }
    m
}

/// The weights of an `nx × ny` output (`N = nx · ny`, row-major) for quantisation table `q` (zig-zag).
pub fn weights<const N: usize>(q: &[u16; 64], nx: usize, ny: usize) -> Box<[[f32; N]; 64]> {
    let (mx, my) = (basis(nx), basis(ny));
    let mut w = Box::new([[0.0f32; N]; 64]);
    for ((wk, &pos), &qk) in w.iter_mut().zip(&ZIGZAG).zip(q) {
        let (v, u) = (pos / 8, pos % 8);
        for (s, out) in wk.iter_mut().enumerate() {
            let (i, j) = (s / nx.max(1), s % nx.max(1));
            *out = (f64::from(qk) * my[i.min(7)][v] * mx[j.min(7)][u]) as f32;
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A block with only a DC coefficient is flat at DC/8 (plus the level shift) at every scale.
    #[test]
    fn dc_weight_is_one_eighth_at_every_scale() {
        let q = [1u16; 64];
        let w1 = weights::<1>(&q, 1, 1);
        let w4 = weights::<4>(&q, 2, 2);
        let w64 = weights::<64>(&q, 8, 8);
        assert_eq!(w1[0], [0.125]);
        assert!(w4[0].iter().all(|&x| x == 0.125));
        assert!(w64[0].iter().all(|&x| x == 0.125));
    }

    /// Box means: every AC basis averages to zero over the whole block, and the even horizontal
    /// frequencies average to zero over each half (why libjpeg's 2×2 IDCT skips them).
    #[test]
    fn box_means_cancel_where_they_must() {
        let m1 = basis(1);
        assert!(m1[0][1..].iter().all(|x| x.abs() < 1e-12));
        let m2 = basis(2);
        for u in [2, 4, 6] {
            assert!(m2[0][u].abs() < 1e-12 && m2[1][u].abs() < 1e-12, "u = {u}");
        }
        assert!(m2[0][1] > 0.0 && m2[1][1] < 0.0, "the first AC basis falls across the block");
    }

    /// The 8×8 weights are the plain IDCT: coefficient (0,1) alone gives a horizontal cosine.
    #[test]
    fn full_size_weights_are_the_idct() {
        let w = weights::<64>(&[1; 64], 8, 8);
        let expect = |x: usize| 0.5 * (1.0f64 / 8.0).sqrt() * ((2 * x + 1) as f64 * std::f64::consts::PI / 16.0).cos();
        for x in 0..8 {
            let got = f64::from(w[1][x]);
            assert!((got - expect(x)).abs() < 1e-6, "x = {x}: {got}");
        }
    }
}
