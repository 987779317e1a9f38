//! ICC colour profiles: find the source's embedded profile and convert pixels to sRGB with `moxcms`.
//!
//! As imgproxy (`IMGPROXY_STRIP_COLOR_PROFILE`, default true): a source with an RGB profile is converted
//! to sRGB and the profile dropped, so every browser shows the colours libvips would. With
//! `strip_color_profile` false and an output that can carry the profile (JPEG, PNG), the pixels are left
//! as they are and the profile is embedded instead (`metadata.rs`). Grey profiles (`kTRC`) are always
//! converted (their pixels are stored as RGB here, which a grey profile cannot describe), and so are
//! CMYK/YCCK JPEGs with a CMYK profile: libjpeg-turbo hands us the stored inks, Adobe-inverted when the
//! file has an APP14 marker (Photoshop's convention, which libvips also undoes), and [`cmyk_to_rgb`] goes
//! through the profile to sRGB at decode time; without a profile it falls back to the naive formula
//! (libvips would use its built-in CMYK profile there). A CMYK profile is never embedded in RGB output.
//! Profiles come from JPEG `APP2 ICC_PROFILE` segments (reassembled in sequence order), PNG `iCCP`
//! (through the `image` crate, which inflates it), WebP `ICCP` and AVIF `colr` (an ICC `prof`, or an `nclx`
//! colour description with other primaries than sRGB's, such as Display P3 or BT.2020, which
//! [`from_nclx`] turns into the equivalent profile; HDR transfers, PQ and HLG, would need tone mapping and
//! are left as they are). Why `moxcms`: pure
//! Rust, already compiled as a dependency of `image` (zero extra build time), fast 8-bit LUT transforms;
//! `qcms` would be a second colour engine. A profile that does not parse, or is of another colour space,
//! leaves the pixels untouched rather than failing the request, as libvips falls back when a profile is
//! unusable. Knows nothing of the plan.

use std::io::Cursor;
use std::sync::Arc;

use moxcms::{ColorProfile, DataColorSpace, Layout, RenderingIntent, Transform8BitExecutor, TransformOptions};

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
        ImageFormat::Avif => {
            let items = super::avif_container::parse(input).ok()?;
            items.icc.map(<[u8]>::to_vec).or_else(|| items.nclx.and_then(|n| from_nclx(n.primaries, n.transfer)))
        }
        _ => None,
    }
}

/// The ICC profile equivalent to an `nclx` colour description (ITU-T H.273 code points), when its
/// primaries are not sRGB's (1 = BT.709, 2 = unspecified: nothing to convert) and its transfer is an SDR
/// curve; unspecified transfer is taken as sRGB's (13), as browsers do. None for PQ (16) and HLG (18).
pub fn from_nclx(primaries: u16, transfer: u16) -> Option<Vec<u8>> {
    const PQ: u16 = 16;
    const HLG: u16 = 18;
    if matches!(primaries, 1 | 2) || matches!(transfer, PQ | HLG) {
        return None;
    }
    let transfer = if transfer == 2 { 13 } else { transfer };
    let cicp = moxcms::CicpProfile {
        color_primaries: moxcms::CicpColorPrimaries::try_from(u8::try_from(primaries).ok()?).ok()?,
        transfer_characteristics: moxcms::TransferCharacteristics::try_from(u8::try_from(transfer).ok()?).ok()?,
        matrix_coefficients: moxcms::MatrixCoefficients::Identity,
        full_range: true,
    };
    let profile = ColorProfile::new_from_cicp(cicp);
    // new_from_cicp leaves the basic profile (no primaries or curves) when a code point is reserved.
    if profile.red_trc.is_none() || profile.cicp.is_none() {
        return None;
    }
    profile.encode().ok()
}

/// True when `icc` is an RGB profile we can convert from.
pub fn is_rgb(icc: &[u8]) -> bool {
    ColorProfile::new_from_slice(icc).is_ok_and(|p| p.color_space == DataColorSpace::Rgb)
}

/// True when `icc` is a profile [`to_srgb`] converts from: RGB or grey.
pub fn is_convertible(icc: &[u8]) -> bool {
    ColorProfile::new_from_slice(icc).is_ok_and(|p| matches!(p.color_space, DataColorSpace::Rgb | DataColorSpace::Gray))
}

/// An 8-bit transform from `src` to sRGB, relative colorimetric (libvips' default intent). A LUT profile
/// without that intent's table (A2B1) uses its A2B0, as the ICC spec and lcms (libvips) do; moxcms does
/// not fall back by itself.
fn transform(src: &ColorProfile, from: Layout, to: Layout) -> Option<Arc<Transform8BitExecutor>> {
    let srgb = ColorProfile::new_srgb();
    let with = |rendering_intent| TransformOptions { rendering_intent, ..Default::default() };
    src.create_transform_8bit(from, &srgb, to, with(RenderingIntent::RelativeColorimetric))
        .or_else(|_| src.create_transform_8bit(from, &srgb, to, with(RenderingIntent::Perceptual)))
        .ok()
}

/// `img` converted from the `icc` profile (RGB or grey) to sRGB; unchanged when the profile is unusable.
pub fn to_srgb(img: Raster, icc: &[u8]) -> Raster {
    let Ok(src) = ColorProfile::new_from_slice(icc) else { return img };
    match src.color_space {
        DataColorSpace::Rgb => rgb_to_srgb(img, &src),
        DataColorSpace::Gray => grey_to_srgb(img, &src),
        _ => img,
    }
}

fn rgb_to_srgb(img: Raster, src: &ColorProfile) -> Raster {
    let layout = if img.alpha { Layout::Rgba } else { Layout::Rgb };
    let Some(t) = transform(src, layout, layout) else { return img };
    let mut out = vec![0u8; img.data.len()];
    match t.transform(&img.data, &mut out) {
        Ok(()) => Raster { data: out, ..img },
        Err(_) => img,
    }
}

/// A grey image (stored as RGB(A) with equal channels) through its grey profile: the 256 grey levels are
/// transformed once into a table, then every pixel is a lookup on its first channel.
fn grey_to_srgb(mut img: Raster, src: &ColorProfile) -> Raster {
    let Some(t) = transform(src, Layout::Gray, Layout::Rgb) else { return img };
    let levels: Vec<u8> = (0..=255).collect();
    let mut table = vec![0u8; 256 * 3];
    if t.transform(&levels, &mut table).is_err() {
        return img;
    }
    let channels = img.channels();
    for px in img.data.chunks_exact_mut(channels) {
        let at = usize::from(px[0]) * 3;
        if let (Some(rgb), Some(dst)) = (table.get(at..at + 3), px.get_mut(..3)) {
            dst.copy_from_slice(rgb);
        }
    }
    img
}

/// CMYK samples as libjpeg-turbo decodes them (4 bytes a pixel) → RGB: through the JPEG's embedded CMYK
/// profile when it has one, else naively. `adobe_inverted`: the file has an Adobe APP14 marker, so the
/// samples are stored inverted (255 = no ink), as Photoshop writes them; ICC CMYK has 0 = no ink.
pub fn cmyk_to_rgb(input: &[u8], cmyk: &[u8], adobe_inverted: bool) -> Vec<u8> {
    let profile = jpeg_profile(input).and_then(|p| ColorProfile::new_from_slice(&p).ok());
    if let Some(src) = profile.filter(|p| p.color_space == DataColorSpace::Cmyk) {
        if let Some(t) = transform(&src, Layout::Rgba, Layout::Rgb) {
            let inks: Vec<u8> = if adobe_inverted { cmyk.iter().map(|v| !v).collect() } else { cmyk.to_vec() };
            let mut out = vec![0u8; cmyk.len() / 4 * 3];
            if t.transform(&inks, &mut out).is_ok() {
                return out;
            }
        }
    }
    naive_cmyk_to_rgb(cmyk, adobe_inverted)
}

/// CMYK → RGB without colour management: each channel is (1 − ink) × (1 − black).
fn naive_cmyk_to_rgb(cmyk: &[u8], adobe_inverted: bool) -> Vec<u8> {
    let mul = |a: u8, b: u8| ((u32::from(a) * u32::from(b) + 127) / 255) as u8;
    cmyk.chunks_exact(4)
        .flat_map(|p| {
            let (c, m, y, k) = if adobe_inverted { (p[0], p[1], p[2], p[3]) } else { (!p[0], !p[1], !p[2], !p[3]) };
            [mul(c, k), mul(m, k), mul(y, k)]
        })
        .collect()
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
    fn unusable_profiles_leave_pixels_alone_and_grey_ones_convert() {
        let img = Raster { width: 1, height: 1, alpha: false, data: vec![10, 200, 30] };
        assert_eq!(to_srgb(img.clone(), b"not a profile"), img);
        let cmyk = jpeg_profile(&fixture("cmyk-patches.jpg")).expect("the CMYK fixture has a profile");
        assert!(!is_convertible(&cmyk), "a CMYK profile is applied while decoding, not here");
        assert_eq!(to_srgb(img.clone(), &cmyk), img);
        // A linear grey profile: level 128 is 50 % light, which sRGB encodes as 188.
        let linear = ColorProfile::new_gray_with_gamma(1.0).encode().unwrap();
        assert!(!is_rgb(&linear) && is_convertible(&linear));
        let grey = Raster { width: 1, height: 1, alpha: true, data: vec![128, 128, 128, 77] };
        let got = to_srgb(grey, &linear).data;
        assert!(got[..3].iter().all(|v| v.abs_diff(188) <= 1) && got[3] == 77, "{got:?}");
    }
}

#[cfg(test)]
#[path = "icc_cmyk_tests.rs"]
mod cmyk_tests;
