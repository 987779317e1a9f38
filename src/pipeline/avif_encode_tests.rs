use super::*;
use crate::pipeline::avif_decode;
use crate::pipeline::probe;
use crate::pipeline::quality::{psnr, Pair};
use crate::pipeline::test_util::{corpus, later};

use rav1d::include::dav1d::headers::{DAV1D_PIXEL_LAYOUT_I420, DAV1D_PIXEL_LAYOUT_I444};

/// A corpus photo scaled to `width` px wide (by the `image` crate), as RGB, or RGBA with a left-to-right
/// alpha ramp.
fn photo(width: u32, alpha: bool) -> Raster {
    let img = image::load_from_memory(&corpus("photos/mate-Dune.jpg")).expect("corpus jpeg decodes");
    let small = img.thumbnail(width, width).to_rgb8();
    let (w, h) = small.dimensions();
    let mut data = Vec::new();
    for (x, _, p) in small.enumerate_pixels() {
        data.extend(p.0);
        if alpha {
            data.push((x * 255 / (w - 1)) as u8);
        }
    }
    Raster { width: w, height: h, alpha, data }
}

fn flat(w: u32, h: u32, rgb: [u8; 3]) -> Raster {
    Raster { width: w, height: h, alpha: false, data: rgb.repeat((w * h) as usize) }
}

fn decode(bytes: &[u8]) -> Raster {
    let info = probe::inspect(bytes).expect("our AVIF probes");
    avif_decode::decode(bytes, &info, later()).expect("our AVIF decodes")
}

fn pair<'a>(a: &'a Raster, b: &'a Raster) -> Pair<'a> {
    Pair { width: a.width as usize, height: a.height as usize, channels: a.channels(), a: &a.data, b: &b.data }
}

#[test]
fn the_quantiser_never_rises_with_quality_and_spans_the_range() {
    let q: Vec<u8> = (1..=100).map(base_q_index).collect();
    assert!(q.windows(2).all(|w| w[0] >= w[1]), "{q:?}");
    assert_eq!((base_q_index(1), base_q_index(50), base_q_index(100)), (255, 148, 0));
    assert_eq!(base_q_index(0), base_q_index(1), "0 is clamped, never index 148 by accident");
}

#[test]
fn the_file_carries_libvips_quantiser_and_chroma_layout() {
    // rav1e takes libvips' index as its quantiser and lowers a key frame's index by a little (its key
    // frame boost and psychovisual scale: 0 to 22 steps, measured over the whole range).
    let src = photo(96, false);
    let mut previous = u8::MAX;
    for quality in [20, 50, 75, 89, 90, 100] {
        let bytes = encode(&src, quality, 9).unwrap();
        let info = probe::inspect(&bytes).unwrap();
        let (q, layout) = avif_decode::coding_facts(&bytes, &info).unwrap();
        let want_layout = if quality < 90 { DAV1D_PIXEL_LAYOUT_I420 } else { DAV1D_PIXEL_LAYOUT_I444 };
        assert_eq!(layout, want_layout, "Q {quality}");
        let want = base_q_index(quality);
        // Index 0 is lossless in AV1; rav1e never writes it (1 is its finest lossy index).
        assert!(q <= want.max(1) && q + 24 >= want, "Q {quality}: index {q}, libvips {want}");
        assert!(q <= previous, "Q {quality}: index {q} rose with quality");
        previous = q;
    }
}

#[test]
fn known_colours_convert_as_bt601_full_range() {
    let reference = |[r, g, b]: [u8; 3]| {
        let (r, g, b) = (f64::from(r), f64::from(g), f64::from(b));
        let y = 0.299 * r + 0.587 * g + 0.114 * b;
        [y, (b - y) / 1.772 + 128.0, (r - y) / 1.402 + 128.0].map(|v| v.round().clamp(0.0, 255.0) as u8)
    };
    for rgb in [[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255], [128, 128, 128], [12, 200, 77]] {
        let [r, g, b] = rgb;
        let px = |c: u8| u32::from(c);
        let (cb, cr) = chroma([px(r), px(g), px(b)], 1);
        let got = [luma(r, g, b), cb, cr];
        let want = reference(rgb);
        assert!(got.iter().zip(want).all(|(g, w)| g.abs_diff(w) <= 1), "{rgb:?}: {got:?} vs {want:?}");
    }
}

#[test]
fn subsampled_chroma_is_the_mean_of_each_block_edges_included() {
    // 3×3: red column, blue column, green column; the right blocks hold one column, the bottom ones one row.
    let mut data = Vec::new();
    for _ in 0..3 {
        data.extend([255, 0, 0, 0, 0, 255, 0, 255, 0]);
    }
    let yuv = Yuv::from_rgb(&Raster { width: 3, height: 3, alpha: false, data }, true);
    assert_eq!((yuv.y.len(), yuv.u.len(), yuv.v.len()), (9, 4, 4));
    let mean_red_blue = chroma([255 * 2, 0, 255 * 2], 4);
    let green = chroma([0, 255, 0], 1);
    assert_eq!((yuv.u[0], yuv.v[0]), mean_red_blue, "top-left block: red and blue averaged");
    assert_eq!((yuv.u[1], yuv.v[1]), green, "top-right block: the green column alone");
    assert_eq!((yuv.u[3], yuv.v[3]), green, "bottom-right corner: one green pixel");
    let full = Yuv::from_rgb(&flat(3, 3, [10, 20, 30]), false);
    assert_eq!(full.u.len(), 9, "4:4:4 keeps a chroma sample per pixel");
}

#[test]
fn photos_come_back_close_at_libvips_default_quality() {
    for alpha in [false, true] {
        let src = photo(160, alpha);
        let out = decode(&encode(&src, 50, 9).unwrap());
        assert_eq!((out.width, out.height, out.alpha), (src.width, src.height, alpha));
        let db = psnr(pair(&src, &out)).unwrap();
        assert!(db > 25.0, "alpha {alpha}: {db:.1} dB");
    }
    let src = photo(160, false);
    let (coarse, fine) = (decode(&encode(&src, 20, 9).unwrap()), decode(&encode(&src, 90, 9).unwrap()));
    let (low, high) = (psnr(pair(&src, &coarse)).unwrap(), psnr(pair(&src, &fine)).unwrap());
    assert!(high > low + 3.0, "Q 90 ({high:.1} dB) is clearly better than Q 20 ({low:.1} dB)");
}

#[test]
fn tiny_and_odd_sizes_keep_their_size_and_colour() {
    for (w, h) in [(1, 1), (2, 1), (3, 5), (17, 9)] {
        let src = flat(w, h, [200, 60, 30]);
        let out = decode(&encode(&src, 50, 9).unwrap());
        assert_eq!((out.width, out.height), (w, h));
        let worst = src.data.iter().zip(&out.data).map(|(a, b)| a.abs_diff(*b)).max();
        assert!(worst.is_some_and(|d| d <= 4), "{w}×{h}: off by {worst:?}");
    }
}

#[test]
fn a_short_raster_is_an_error_not_a_panic() {
    let short = Raster { width: 10, height: 10, alpha: false, data: vec![0; 20] };
    assert!(matches!(encode(&short, 50, 9), Err(PipelineError::CannotEncode(_))));
}
