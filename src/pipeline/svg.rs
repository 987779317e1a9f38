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
    if has_absurd_number(input) {
        return Err(PipelineError::Corrupt(format!("SVG: a number of {MAX_NUMBER_DIGITS}+ digits")));
    }
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
    Ok(Raster { width: pw, height: ph, alpha: true, data: straight(pixmap.take()) })
}

/// Numbers of this many integer digits or more (after the exponent) are refused before parsing: usvg
/// flattens an arc into a number of curves that grows with radius ÷ tolerance, so one radius of 10^100
/// allocates gigabytes while parsing (found by the `pipeline` fuzz target, issue 8). No real drawing
/// needs 10^24 user units; below that an arc stays within a few thousand curves.
const MAX_NUMBER_DIGITS: i64 = 24;

/// Whether any decimal number in the document (attributes, styles, text alike) reaches
/// [`MAX_NUMBER_DIGITS`] integer digits, leading zeros aside. Digits glued to a word (`#f8e45c`, `id8e45`)
/// are not numbers, and base64 payloads (`base64,` up to the closing quote) are skipped: both would read
/// as huge exponents.
fn has_absurd_number(input: &[u8]) -> bool {
    let mut i = 0;
    while let Some(&b) = input.get(i) {
        if input[i..].starts_with(b"base64,") {
            i += input[i..].iter().position(|c| matches!(c, b'"' | b'\'' | b')' | b'<')).unwrap_or(input.len() - i);
            continue;
        }
        let glued = i > 0 && input.get(i - 1).is_some_and(|p| p.is_ascii_alphanumeric() || matches!(p, b'_' | b'#'));
        if !b.is_ascii_digit() || glued {
            i += 1;
            continue;
        }
        let (digits, next) = number_digits(input, i);
        if digits >= MAX_NUMBER_DIGITS {
            return true;
        }
        i = next;
    }
    false
}

/// Integer digits (leading zeros aside, exponent applied) of the number starting at `start`, and where
/// it ends.
fn number_digits(input: &[u8], start: usize) -> (i64, usize) {
    let mut bytes = input.iter().copied().enumerate().skip(start).peekable();
    let mut digits: i64 = 0;
    while let Some((_, d)) = bytes.next_if(|(_, d)| d.is_ascii_digit()) {
        if digits > 0 || d != b'0' {
            digits += 1;
        }
    }
    if bytes.next_if(|(_, c)| *c == b'.').is_some() {
        while bytes.next_if(|(_, d)| d.is_ascii_digit()).is_some() {}
    }
    if bytes.next_if(|(_, e)| e.eq_ignore_ascii_case(&b'e')).is_some() {
        let negative = bytes.next_if(|(_, s)| *s == b'-' || *s == b'+').is_some_and(|(_, s)| s == b'-');
        let mut exponent: i64 = 0;
        while let Some((_, d)) = bytes.next_if(|(_, d)| d.is_ascii_digit()) {
            exponent = (exponent * 10 + i64::from(d - b'0')).min(1_000_000);
        }
        digits += if negative { -exponent } else { exponent };
    }
    (digits, bytes.peek().map_or(input.len(), |(at, _)| *at))
}

/// tiny-skia stores premultiplied RGBA; the rest of the pipeline works on straight alpha.
fn straight(mut data: Vec<u8>) -> Vec<u8> {
    super::raster::unpremultiply(&mut data);
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

    /// The `pipeline` fuzz target's out-of-memory input (issue 8) was an arc radius of 62 followed by
    /// 113 nines; usvg's arc flattening allocated 3.7 GB for it.
    #[test]
    fn absurd_numbers_are_refused_before_parsing() {
        let huge_arc = format!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><path d="M0 0a620.64 62{} 0 0 0-14.5 2.4" stroke="red"/></svg>"#,
            "9".repeat(113)
        );
        assert!(matches!(rasterise(huge_arc.as_bytes(), 1.0, 0), Err(PipelineError::Corrupt(_))));
        let rows: &[(&str, &[u8], bool)] = &[
            ("ordinary numbers", b"M0 0a620.64 620.64 0 0 0-14.5 2.4 1e3 0.000000000000000000000000001", false),
            ("23 digits", b"r=12345678901234567890123", false),
            ("24 digits", b"r=123456789012345678901234", true),
            ("leading zeros do not count", b"000000000000000000000000000000001", false),
            ("large exponent", b"r=6.2e30", true),
            ("negative exponent", b"r=1e-300", false),
            ("css units are not exponents", b"font-size:12em;width:3ex", false),
            ("exponent overflow is capped", b"1e99999999999999999999999999999", true),
            ("hex colours are not numbers", b"style='fill:#f8e45c;stroke:#8e4512'", false),
            ("digits glued to a word are not numbers", b"id='path8e45' class='_9e99'", false),
            ("base64 payloads are skipped", b"href='data:image/png;base64,AA+1e99/x' r='1'", false),
            ("numbers after a payload still count", b"href='data:;base64,AA' r='1e30'", true),
            ("a sign before the number", b"d='M0 0 l+1e30 0'", true),
        ];
        for (name, text, want) in rows {
            assert_eq!(has_absurd_number(text), *want, "{name}");
        }
    }

    #[test]
    fn real_drawings_are_not_mistaken_for_absurd_numbers() {
        // Hex colours such as `#f8e45c` once read as 8 × 10^45 and refused this drawing.
        let dune = crate::pipeline::test_util::corpus("formats/gnome-dune.svg");
        assert!(!has_absurd_number(&dune));
        assert!(rasterise(&dune, 0.25, 0).is_ok());
    }

    #[test]
    fn garbage_is_corrupt() {
        assert!(matches!(rasterise(b"<svg", 1.0, 0), Err(PipelineError::Corrupt(_))));
    }
}
