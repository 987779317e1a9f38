//! ICC colour profiles: find the source's embedded profile and convert pixels to sRGB with `moxcms`.
//!
//! As imgproxy (`IMGPROXY_STRIP_COLOR_PROFILE`, default true): a source with an RGB profile is converted
//! to sRGB and the profile dropped, so every browser shows the colours libvips would. With
//! `strip_color_profile` false and an output that can carry the profile (JPEG, PNG), the pixels are left
//! as they are and the profile is embedded instead (`metadata.rs`). Profiles come from JPEG `APP2
//! ICC_PROFILE` segments (reassembled in sequence order), PNG `iCCP` (through the `image` crate, which
//! inflates it) and WebP `ICCP`. Why `moxcms`: pure Rust, already compiled as a dependency of `image`
//! (zero extra build time), fast 8-bit LUT transforms; `qcms` would be a second colour engine. A
//! profile that does not parse, or is not RGB (grey, CMYK), leaves the pixels untouched rather than
//! failing the request, as libvips falls back when a profile is unusable. Knows nothing of the plan.

use std::io::Cursor;

use moxcms::{ColorProfile, DataColorSpace, Layout, RenderingIntent, TransformOptions};

use crate::plan::ImageFormat;

use super::probe::SourceInfo;
use super::raster::Raster;

/// The most APP2 segments a JPEG profile may span (each is ≤ 64 KB; the sequence number is one byte).
const MAX_JPEG_CHUNKS: usize = 255;

/// The embedded ICC profile of the source, if any.
pub fn embedded(input: &[u8], info: &SourceInfo) -> Option<Vec<u8>> {
    match info.probe.format {
        ImageFormat::Jpeg => jpeg_profile(input),
        ImageFormat::Png => {
            let mut d = image::codecs::png::PngDecoder::new(Cursor::new(input)).ok()?;
            image::ImageDecoder::icc_profile(&mut d).ok().flatten()
        }
        ImageFormat::Webp => riff_chunk(input, b"ICCP").map(<[u8]>::to_vec),
        _ => None,
    }
}

/// True when `icc` is an RGB profile we can convert from.
pub fn is_rgb(icc: &[u8]) -> bool {
    ColorProfile::new_from_slice(icc).is_ok_and(|p| p.color_space == DataColorSpace::Rgb)
}

/// `img` converted from the `icc` profile to sRGB (relative colorimetric, libvips' default intent);
/// unchanged when the profile is unusable.
pub fn to_srgb(img: Raster, icc: &[u8]) -> Raster {
    let Ok(src) = ColorProfile::new_from_slice(icc) else { return img };
    if src.color_space != DataColorSpace::Rgb {
        return img;
    }
    let layout = if img.alpha { Layout::Rgba } else { Layout::Rgb };
    let options = TransformOptions { rendering_intent: RenderingIntent::RelativeColorimetric, ..Default::default() };
    let Ok(t) = src.create_transform_8bit(layout, &ColorProfile::new_srgb(), layout, options) else { return img };
    let mut out = vec![0u8; img.data.len()];
    match t.transform(&img.data, &mut out) {
        Ok(()) => Raster { data: out, ..img },
        Err(_) => img,
    }
}

/// Reassembles `APP2 "ICC_PROFILE\0" seq count payload` segments, stopping at the scan data.
fn jpeg_profile(input: &[u8]) -> Option<Vec<u8>> {
    const TAG: &[u8] = b"ICC_PROFILE\0";
    let mut chunks: Vec<(u8, &[u8])> = Vec::new();
    let mut at = 2;
    while chunks.len() < MAX_JPEG_CHUNKS {
        let (marker, len) = match input.get(at..at + 4)? {
            [0xFF, m, hi, lo] => (*m, usize::from(u16::from_be_bytes([*hi, *lo]))),
            _ => return None,
        };
        if marker == 0xDA || marker == 0xD9 || len < 2 {
            break;
        }
        let body = input.get(at + 4..at + 2 + len)?;
        if marker == 0xE2 && body.starts_with(TAG) {
            if let (Some(seq), Some(data)) = (body.get(TAG.len()), body.get(TAG.len() + 2..)) {
                chunks.push((*seq, data));
            }
        }
        at += 2 + len;
    }
    if chunks.is_empty() {
        return None;
    }
    chunks.sort_by_key(|(seq, _)| *seq);
    Some(chunks.into_iter().flat_map(|(_, d)| d.iter().copied()).collect())
}

/// The payload of the first top-level RIFF chunk named `id` (chunks are padded to even sizes).
fn riff_chunk<'a>(input: &'a [u8], id: &[u8; 4]) -> Option<&'a [u8]> {
    let mut at = 12;
    for _ in 0..64 {
        let size = usize::try_from(u32::from_le_bytes(input.get(at + 4..at + 8)?.try_into().ok()?)).ok()?;
        let data = input.get(at + 8..(at + 8).checked_add(size)?)?;
        if input.get(at..at + 4)? == id {
            return Some(data);
        }
        at = at.checked_add(8 + size + (size & 1))?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::probe;
    use crate::pipeline::test_util::corpus;

    pub(crate) fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{}/tests/fixtures/icc/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn profiles_are_found_in_every_container() {
        let rows: &[(&str, Vec<u8>, bool)] = &[
            ("png iCCP", fixture("p3-patches.png"), true),
            ("jpeg APP2", fixture("p3-patches.jpg"), true),
            ("webp ICCP", fixture("p3-patches.webp"), true),
            ("jpeg split over many APP2 segments", corpus("formats/icc_profile_big.jpg"), true),
            ("jpeg without a profile", corpus("formats/hopper_orientation_6.jpg"), false),
            ("png without a profile", corpus("formats/i_trns.png"), false),
        ];
        let p3 = embedded(&rows[0].1, &probe::inspect(&rows[0].1).unwrap()).unwrap();
        for (name, bytes, has) in rows {
            let icc = embedded(bytes, &probe::inspect(bytes).unwrap());
            assert_eq!(icc.is_some(), *has, "{name}");
            if let Some(icc) = icc {
                assert!(ColorProfile::new_from_slice(&icc).is_ok(), "{name}: parses");
                if bytes.len() < 2000 {
                    // The three fixtures carry the same Display P3 profile.
                    assert!(icc == p3, "{name}: the same profile as the PNG");
                }
            }
        }
    }

    #[test]
    fn non_rgb_or_broken_profiles_leave_pixels_alone() {
        let img = Raster { width: 1, height: 1, alpha: false, data: vec![10, 200, 30] };
        assert_eq!(to_srgb(img.clone(), b"not a profile"), img);
        let gray = ColorProfile::new_gray_with_gamma(2.2).encode().unwrap();
        assert!(!is_rgb(&gray));
        assert_eq!(to_srgb(img.clone(), &gray), img);
    }
}
