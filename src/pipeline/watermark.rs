//! Watermark (`watermark|wm:{opacity}:{position}:{x}:{y}:{scale}`): overlays the configured image.
//!
//! As imgproxy `processing/watermark.go`: the watermark is decoded at its own size, or fitted (enlarging
//! allowed) into `scale` × the result's width and height; it is placed by a compass gravity with
//! offsets (pixels × dpr, or fractions below 1), or with `re` tiled over the whole image with one tile
//! centred; it is composited *over* the image at
//! `opacity` (already multiplied by `IMGPROXY_WATERMARK_OPACITY`). It runs after flattening, so the
//! image may be RGB or RGBA. Deliberate difference: a gravity position is clamped inside the image
//! (imgproxy lets offsets push the mark partly outside), and `re` takes no spacing offsets (the plan's
//! `Replicate` carries none). The bytes come from the plan; this module
//! never sees where they were configured.

use std::time::Instant;

use crate::plan::{Limits, Watermark, WatermarkPosition};

use super::geometry;
use super::raster::Raster;
use super::{decode, probe, resize, svg, PipelineError};

/// Composites the watermark `bytes` over `img` as `opts` says; `dpr` scales pixel offsets. The mark's
/// decode is bounded by the request's `deadline` (an AVIF mark decodes in a child killed then).
pub fn apply(
    img: Raster,
    bytes: &[u8],
    opts: &Watermark,
    dpr: f64,
    limits: &Limits,
    deadline: Instant,
) -> Result<Raster, PipelineError> {
    let opacity = opts.opacity.clamp(0.0, 1.0);
    if opacity <= 0.0 || img.width == 0 || img.height == 0 {
        return Ok(img);
    }
    let mark = prepare(bytes, opts, (img.width, img.height), limits, deadline)?;
    let alpha = (opacity * 256.0).round() as u32;
    Ok(match opts.position {
        WatermarkPosition::Replicate => {
            let (x0, y0) = (centred_origin(img.width, mark.width), centred_origin(img.height, mark.height));
            blend(img, &mark, alpha, |x, y| Some(((x + x0) % mark.width, (y + y0) % mark.height)))
        }
        WatermarkPosition::Gravity(g) => {
            let (left, top) = geometry::position(img.width, img.height, mark.width, mark.height, &g, dpr);
            let inside = |x: u32, y: u32| {
                let (wx, wy) = (x.checked_sub(left)?, y.checked_sub(top)?);
                (wx < mark.width && wy < mark.height).then_some((wx, wy))
            };
            blend(img, &mark, alpha, inside)
        }
    })
}

/// Decodes the watermark (RGBA) and brings it to size.
fn prepare(
    bytes: &[u8],
    opts: &Watermark,
    result: (u32, u32),
    limits: &Limits,
    deadline: Instant,
) -> Result<Raster, PipelineError> {
    let info = probe::inspect(bytes)?;
    probe::check_limits(&info.probe, limits)?;
    let decoded = match info.probe.format {
        crate::plan::ImageFormat::Svg => svg::rasterise(bytes, 1.0, limits.max_src_resolution)?,
        _ => decode::decode(bytes, &info, 1.0, deadline)?,
    };
    let mut mark = decoded.with_alpha().into_owned();
    if opts.scale > 0.0 {
        let box_w = (f64::from(result.0) * opts.scale).round_ties_even().max(1.0);
        let box_h = (f64::from(result.1) * opts.scale).round_ties_even().max(1.0);
        let f = (box_w / f64::from(mark.width)).min(box_h / f64::from(mark.height));
        let w = (f64::from(mark.width) * f).round().clamp(1.0, box_w) as u32;
        let h = (f64::from(mark.height) * f).round().clamp(1.0, box_h) as u32;
        let whole = resize::SourceBox { x: 0.0, y: 0.0, width: f64::from(mark.width), height: f64::from(mark.height) };
        mark = resize::crop_resize(mark, whole, w, h)?;
    }
    Ok(mark)
}

/// Where tiling starts so that one tile sits in the middle (libvips `replicate` centred).
/// Returns the shift `s` such that image pixel `x` shows tile pixel `(x + s) % tile`.
fn centred_origin(side: u32, tile: u32) -> u32 {
    let (side, tile) = (i64::from(side), i64::from(tile.max(1)));
    let left = (side - tile).div_euclid(2);
    (-left).rem_euclid(tile) as u32
}

/// Source-over compositing of `mark` at `opacity/256`, pixel by pixel, where `at` maps an image pixel to
/// a watermark pixel (or none).
fn blend(mut img: Raster, mark: &Raster, opacity: u32, at: impl Fn(u32, u32) -> Option<(u32, u32)>) -> Raster {
    let (c, w) = (img.channels(), img.width);
    for (i, px) in img.data.chunks_exact_mut(c).enumerate() {
        let (x, y) = ((i % w as usize) as u32, (i / w as usize) as u32);
        let Some((mx, my)) = at(x, y) else { continue };
        let m = (my as usize * mark.width as usize + mx as usize) * 4;
        let Some(&[r, g, b, a]) = mark.data.get(m..m + 4) else { continue };
        let wa = u32::from(a) * opacity / 256; // 0..=255
        if wa == 0 {
            continue;
        }
        let ia = px.get(3).map_or(255, |a| u32::from(*a));
        let out_a = wa + ia * (255 - wa) / 255;
        for (dst, src) in px.iter_mut().zip([r, g, b]) {
            let mixed = (u32::from(src) * wa * 255 + u32::from(*dst) * ia * (255 - wa)) / (out_a.max(1) * 255);
            *dst = mixed.min(255) as u8;
        }
        if let Some(a) = px.get_mut(3) {
            *a = out_a.min(255) as u8;
        }
    }
    img
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::test_util::later;
    use crate::plan::{Gravity, GravityKind};

    /// A `w`×`h` PNG watermark of one colour.
    fn mark_png(w: u32, h: u32, px: [u8; 4]) -> Vec<u8> {
        let img = image::RgbaImage::from_pixel(w, h, image::Rgba(px));
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    }

    fn grey(w: u32, h: u32) -> Raster {
        Raster { width: w, height: h, alpha: false, data: vec![100; (w * h * 3) as usize] }
    }

    fn at(img: &Raster, x: u32, y: u32) -> [u8; 3] {
        let i = ((y * img.width + x) * 3) as usize;
        [img.data[i], img.data[i + 1], img.data[i + 2]]
    }

    fn wm(opacity: f64, position: WatermarkPosition, scale: f64) -> Watermark {
        Watermark { opacity, position, scale }
    }

    fn gravity(kind: GravityKind, x: f64, y: f64) -> WatermarkPosition {
        WatermarkPosition::Gravity(Gravity { kind, x, y })
    }

    #[test]
    fn placement_opacity_and_scale() {
        let red = mark_png(10, 10, [255, 0, 0, 255]);
        let limits = Limits::default();
        // (name, options, pixel that is marked, pixel that is not, expected red at the marked one)
        type Row = (&'static str, Watermark, (u32, u32), (u32, u32), u8);
        let rows: &[Row] = &[
            ("centre, full opacity", wm(1.0, gravity(GravityKind::Center, 0.0, 0.0), 0.0), (50, 30), (5, 5), 255),
            ("south-east corner", wm(1.0, gravity(GravityKind::SouthEast, 0.0, 0.0), 0.0), (95, 55), (85, 45), 255),
            (
                "north-west with 5 px offsets",
                wm(1.0, gravity(GravityKind::NorthWest, 5.0, 5.0), 0.0),
                (6, 6),
                (2, 2),
                255,
            ),
            ("half opacity mixes", wm(0.5, gravity(GravityKind::Center, 0.0, 0.0), 0.0), (50, 30), (5, 5), 178),
            (
                "scale 0.5 fits a 30x30 box",
                wm(1.0, gravity(GravityKind::Center, 0.0, 0.0), 0.5),
                (37, 17),
                (30, 10),
                255,
            ),
        ];
        for (name, opts, marked, clear, red_level) in rows {
            let out = apply(grey(100, 60), &red, opts, 1.0, &limits, later()).unwrap();
            let m = at(&out, marked.0, marked.1);
            assert!(m[0].abs_diff(*red_level) <= 2 && m[1] < 101, "{name}: marked pixel {m:?}");
            assert_eq!(at(&out, clear.0, clear.1), [100, 100, 100], "{name}: clear pixel");
        }
    }

    #[test]
    fn replicate_tiles_the_whole_image() {
        // A 4×4 mark, half transparent by rows: tiles cover the image in a regular pattern.
        let mut data = Vec::new();
        for y in 0..4 {
            for _ in 0..4 {
                data.extend_from_slice(&if y < 2 { [0, 0, 255, 255] } else { [0, 0, 0, 0] });
            }
        }
        let mut out = std::io::Cursor::new(Vec::new());
        image::RgbaImage::from_raw(4, 4, data).unwrap().write_to(&mut out, image::ImageFormat::Png).unwrap();
        let img = apply(
            grey(16, 16),
            &out.into_inner(),
            &wm(1.0, WatermarkPosition::Replicate, 0.0),
            1.0,
            &Limits::default(),
            later(),
        )
        .unwrap();
        let blue_rows: Vec<bool> = (0..16).map(|y| at(&img, 7, y)[2] == 255).collect();
        let blue = blue_rows.iter().filter(|b| **b).count();
        assert_eq!(blue, 8, "half the rows are marked: {blue_rows:?}");
        for x in 0..16 {
            assert_eq!(at(&img, x, 0)[2], at(&img, 7, 0)[2], "every column of a row is the same");
        }
        assert!((0..12).all(|y| blue_rows[y] == blue_rows[y + 4]), "period 4: {blue_rows:?}");
        // One tile is centred: rows 6..8 are the top (blue) half of the tile placed at 6..10.
        assert!(blue_rows[6] && blue_rows[7] && !blue_rows[8] && !blue_rows[9], "{blue_rows:?}");
    }

    #[test]
    fn transparent_image_gains_the_mark_over_it() {
        let red = mark_png(2, 2, [255, 0, 0, 255]);
        let clear = Raster { width: 2, height: 2, alpha: true, data: vec![0; 16] };
        let out =
            apply(clear, &red, &wm(1.0, gravity(GravityKind::Center, 0.0, 0.0), 0.0), 1.0, &Limits::default(), later())
                .unwrap();
        assert!(out.data.chunks_exact(4).all(|p| p == [255, 0, 0, 255]), "{:?}", out.data);
    }

    #[test]
    fn broken_watermark_is_an_error() {
        let r =
            apply(grey(4, 4), b"nope", &wm(1.0, WatermarkPosition::Replicate, 0.0), 1.0, &Limits::default(), later());
        assert!(r.is_err());
    }
}
