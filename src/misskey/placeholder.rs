//! The `fallback` placeholder (SPEC §3): a 256×256 PNG drawn once at first use — a light grey square
//! with a darker frame and diagonal, so a broken image is visibly a placeholder. No input involved.

use std::sync::OnceLock;

/// The placeholder side, as media-proxy's `dummy.png`.
pub const SIDE: u32 = 256;

/// The PNG bytes, built on first use and shared.
pub fn placeholder_png() -> &'static [u8] {
    static PNG: OnceLock<Vec<u8>> = OnceLock::new();
    PNG.get_or_init(draw)
}

fn draw() -> Vec<u8> {
    use image::ImageEncoder;
    let mut data = Vec::with_capacity((SIDE * SIDE * 3) as usize);
    for y in 0..SIDE {
        for x in 0..SIDE {
            let edge = x < 8 || y < 8 || x >= SIDE - 8 || y >= SIDE - 8;
            let diagonal = x.abs_diff(y) < 4 || (x + y).abs_diff(SIDE - 1) < 4;
            let v = if edge || diagonal { 0x9e } else { 0xe0 };
            data.extend_from_slice(&[v, v, v]);
        }
    }
    let mut out = Vec::new();
    let encoder = image::codecs::png::PngEncoder::new(&mut out);
    // Encoding a fixed in-memory RGB buffer of the stated size cannot fail; an empty body would only
    // mean a broken placeholder, never a panic.
    if encoder.write_image(&data, SIDE, SIDE, image::ExtendedColorType::Rgb8).is_err() {
        out.clear();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholder_is_a_256_png() {
        let img = image::load_from_memory(placeholder_png()).unwrap();
        assert_eq!((img.width(), img.height()), (256, 256));
        assert_eq!(image::guess_format(placeholder_png()).unwrap(), image::ImageFormat::Png);
    }
}
