//! Metadata written into the encoded result: the kept ICC profile and the kept EXIF.
//!
//! Encoders write bare pixels (that is how `strip_metadata` holds by default); this module splices the
//! few blocks imgproxy keeps into the encoded bytes afterwards: an ICC profile when
//! `strip_color_profile` is off (JPEG `APP2 ICC_PROFILE` segments, PNG `iCCP`), and EXIF (`APP1`) in
//! JPEG when metadata is kept or copyright is kept (`exif.rs` decides what goes in). Other outputs get
//! no metadata: a deliberate, documented difference (WebP and AVIF would need a container rewrite).
//! Knows nothing of pixels or the plan.

/// A JPEG segment body is at most 65533 bytes; an ICC chunk also carries a 14-byte header.
const MAX_SEGMENT: usize = 65533;
const ICC_TAG: &[u8] = b"ICC_PROFILE\0";

/// `jpeg` with an `APP1` EXIF segment (`exif` is the TIFF payload) and the ICC profile as `APP2`
/// segments inserted after `SOI` and the `JFIF` `APP0`, if present. Unchanged when it is not a JPEG.
pub fn embed_jpeg(jpeg: Vec<u8>, icc: Option<&[u8]>, exif: Option<&[u8]>) -> Vec<u8> {
    if !jpeg.starts_with(&[0xFF, 0xD8]) {
        return jpeg;
    }
    let mut at = 2;
    if let Some([0xFF, 0xE0, hi, lo]) = jpeg.get(2..6) {
        at = (2 + 2 + usize::from(u16::from_be_bytes([*hi, *lo]))).min(jpeg.len());
    }
    let mut segments = Vec::new();
    if let Some(tiff) = exif.filter(|t| t.len() + 6 <= MAX_SEGMENT) {
        push_segment(&mut segments, 0xE1, &[b"Exif\0\0", tiff]);
    }
    if let Some(icc) = icc {
        let chunks: Vec<&[u8]> = icc.chunks(MAX_SEGMENT - ICC_TAG.len() - 2).collect();
        let count = u8::try_from(chunks.len()).unwrap_or(u8::MAX);
        for (seq, chunk) in (1..=count).zip(&chunks) {
            push_segment(&mut segments, 0xE2, &[ICC_TAG, &[seq, count], chunk]);
        }
    }
    let mut out = Vec::with_capacity(jpeg.len() + segments.len());
    out.extend_from_slice(jpeg.get(..at).unwrap_or(&[]));
    out.extend_from_slice(&segments);
    out.extend_from_slice(jpeg.get(at..).unwrap_or(&[]));
    out
}

fn push_segment(out: &mut Vec<u8>, marker: u8, parts: &[&[u8]]) {
    let len: usize = parts.iter().map(|p| p.len()).sum::<usize>() + 2;
    out.extend_from_slice(&[0xFF, marker]);
    out.extend_from_slice(&u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes());
    for p in parts {
        out.extend_from_slice(p);
    }
}

/// `png` with an `iCCP` chunk after `IHDR`. Unchanged when it is not a PNG.
pub fn embed_png_icc(png: Vec<u8>, icc: &[u8]) -> Vec<u8> {
    // Signature (8) + IHDR chunk (4 length + 4 type + 13 data + 4 CRC).
    const AFTER_IHDR: usize = 33;
    if png.get(12..16) != Some(b"IHDR".as_slice()) || png.len() < AFTER_IHDR {
        return png;
    }
    let mut data = b"icc\0\0".to_vec();
    data.extend_from_slice(&zlib_stored(icc));
    let mut out = Vec::with_capacity(png.len() + data.len() + 12);
    out.extend_from_slice(png.get(..AFTER_IHDR).unwrap_or(&[]));
    out.extend_from_slice(&u32::try_from(data.len()).unwrap_or(u32::MAX).to_be_bytes());
    let typed: Vec<u8> = b"iCCP".iter().chain(&data).copied().collect();
    out.extend_from_slice(&typed);
    out.extend_from_slice(&crc32(&typed).to_be_bytes());
    out.extend_from_slice(png.get(AFTER_IHDR..).unwrap_or(&[]));
    out
}

/// A zlib stream of stored (uncompressed) deflate blocks: valid everywhere, no compressor needed,
/// and profiles are a few KB.
fn zlib_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = if data.is_empty() { vec![&[]] } else { data.chunks(0xFFFF).collect() };
    for (i, block) in blocks.iter().enumerate() {
        let len = u16::try_from(block.len()).unwrap_or(u16::MAX);
        out.push(u8::from(i + 1 == blocks.len()));
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for byte in data {
        a = (a + u32::from(*byte)) % 65521;
        b = (b + a) % 65521;
    }
    out.extend_from_slice(&((b << 16) | a).to_be_bytes());
    out
}

/// CRC-32 (IEEE), as PNG chunks use.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for byte in data {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn tiny(format: image::ImageFormat) -> Vec<u8> {
        let img = image::RgbImage::from_pixel(4, 3, image::Rgb([10, 20, 30]));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, format).unwrap();
        out.into_inner()
    }

    fn profile(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn icc_round_trips_through_both_containers() {
        for len in [10, 3000, 70_000, 200_000] {
            let icc = profile(len);
            let png = embed_png_icc(tiny(image::ImageFormat::Png), &icc);
            let mut d = image::codecs::png::PngDecoder::new(Cursor::new(&png)).unwrap();
            assert_eq!(image::ImageDecoder::icc_profile(&mut d).unwrap(), Some(icc.clone()), "png {len}");
            assert!(image::load_from_memory(&png).is_ok(), "png {len} still decodes");
            let jpeg = embed_jpeg(tiny(image::ImageFormat::Jpeg), Some(&icc), None);
            let mut d = image::codecs::jpeg::JpegDecoder::new(Cursor::new(&jpeg)).unwrap();
            assert_eq!(image::ImageDecoder::icc_profile(&mut d).unwrap(), Some(icc.clone()), "jpeg {len}");
            assert!(image::load_from_memory(&jpeg).is_ok(), "jpeg {len} still decodes");
        }
    }

    #[test]
    fn exif_goes_into_app1() {
        let tiff = b"II*\0\x08\0\0\0\0\0\0\0\0\0".to_vec();
        let jpeg = embed_jpeg(tiny(image::ImageFormat::Jpeg), None, Some(&tiff));
        let at = jpeg.windows(6).position(|w| w == b"Exif\0\0").unwrap();
        assert_eq!(&jpeg[at - 4..at - 2], &[0xFF, 0xE1]);
        assert_eq!(&jpeg[at + 6..at + 6 + tiff.len()], tiff.as_slice());
        assert!(image::load_from_memory(&jpeg).is_ok());
    }

    #[test]
    fn other_bytes_are_left_alone() {
        assert_eq!(embed_jpeg(b"GIF89a".to_vec(), Some(b"x"), None), b"GIF89a");
        assert_eq!(embed_png_icc(b"GIF89a".to_vec(), b"x"), b"GIF89a");
    }
}
