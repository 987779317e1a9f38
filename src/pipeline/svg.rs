//! SVG → [`Raster`] with resvg: SVG is never served raw (SPEC §2 "SVG", §3), it is rasterised at the size
//! the geometry needs. Scripts are never run (resvg has no script engine), and external references are
//! refused: a `href` to a file or URL resolves to nothing, so an SVG cannot read the server's disk.
//! Text is not rendered in this build (no font database). Knows nothing of the plan beyond the scale.

use resvg::usvg;

use super::raster::Raster;
use super::PipelineError;

/// Renders the whole SVG at `scale` × its nominal size, keeping at most `max_pixels` (0 = no cap).
pub fn rasterise(input: &[u8], scale: f64, max_pixels: u64) -> Result<Raster, PipelineError> {
    let options = usvg::Options {
        image_href_resolver: usvg::ImageHrefResolver {
            resolve_data: usvg::ImageHrefResolver::default_data_resolver(),
            resolve_string: Box::new(|_, _| None),
        },
        ..usvg::Options::default()
    };
    let tree = usvg::Tree::from_data(input, &options).map_err(|e| PipelineError::Corrupt(format!("SVG: {e}")))?;
    let (w, h) = (f64::from(tree.size().width()), f64::from(tree.size().height()));
    let mut scale = if scale.is_finite() && scale > 0.0 { scale } else { 1.0 };
    if max_pixels > 0 && w * h * scale * scale > max_pixels as f64 {
        // Bound the canvas: the resize step upsamples the rest, memory stays within the limit.
        scale = (max_pixels as f64 / (w * h)).sqrt();
    }
    let (pw, ph) = (((w * scale).ceil() as u32).max(1), ((h * scale).ceil() as u32).max(1));
    let mut pixmap = resvg::tiny_skia::Pixmap::new(pw, ph)
        .ok_or_else(|| PipelineError::ResolutionTooBig(format!("SVG {pw}x{ph}")))?;
    let (sx, sy) = (pw as f32 / w as f32, ph as f32 / h as f32);
    resvg::render(&tree, resvg::tiny_skia::Transform::from_scale(sx, sy), &mut pixmap.as_mut());
    Ok(Raster { width: pw, height: ph, alpha: true, data: unpremultiply(pixmap.take()) })
}

/// tiny-skia stores premultiplied RGBA; the rest of the pipeline works on straight alpha.
fn unpremultiply(mut data: Vec<u8>) -> Vec<u8> {
    for px in data.chunks_exact_mut(4) {
        let a = u32::from(px[3]);
        if a != 0 && a != 255 {
            for c in &mut px[..3] {
                *c = ((u32::from(*c) * 255 + a / 2) / a).min(255) as u8;
            }
        }
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_at_the_scaled_size_with_alpha() {
        let svg = br#"<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20"><rect width="20" height="20" fill="red"/></svg>"#;
        let r = rasterise(svg, 2.0, 0).unwrap();
        assert_eq!((r.width, r.height, r.alpha), (80, 40, true));
        assert_eq!(&r.data[..4], &[255, 0, 0, 255], "left half is red");
        assert_eq!(r.data[r.data.len() - 1], 0, "right half is transparent");
    }

    #[test]
    fn pixel_cap_bounds_the_canvas() {
        let svg = br#"<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100"/>"#;
        let r = rasterise(svg, 100.0, 10_000).unwrap();
        assert!(u64::from(r.width) * u64::from(r.height) <= 10_201, "{}x{}", r.width, r.height);
    }

    #[test]
    fn file_references_are_not_loaded() {
        let svg = br#"<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="10" height="10"><image width="10" height="10" xlink:href="/etc/passwd"/><script>alert(1)</script></svg>"#;
        let r = rasterise(svg, 1.0, 0).unwrap();
        assert!(r.data.chunks_exact(4).all(|p| p[3] == 0), "nothing drawn");
    }

    #[test]
    fn garbage_is_corrupt() {
        assert!(matches!(rasterise(b"<svg", 1.0, 0), Err(PipelineError::Corrupt(_))));
    }
}
