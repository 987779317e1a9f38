//! Encode: a [`Raster`] → bytes in the negotiated format, at the plan's quality.
//!
//! JPEG through libjpeg-turbo with 4:2:0 chroma subsampling and optimised Huffman tables (imgproxy calls libvips
//! `jpegsave` with `optimize_coding` on, as sharp does; libvips' own default is off), progressive when asked. PNG
//! through the `image` crate at its fast level. Lossy WebP through libwebp at `method` 4, libvips' default
//! effort. AVIF through `avif_encode` (rav1e at the plan's speed, quantiser and chroma as libvips). GIF through
//! the `image` crate (first frame). No encoder writes metadata, which is how `strip_metadata` holds for now.
//! `max_bytes` lowers the quality as SPEC §2 "Quality" says. This module knows nothing of geometry or the source.

use libwebp_sys as webp;
use turbojpeg::{Compressor, PixelFormat, Subsamp};

use crate::plan::{ImageFormat, OutputRules};

use super::raster::Raster;
use super::PipelineError;

/// Encodes `img` as `format`, re-encoding at lower quality while the result exceeds `rules.max_bytes`.
pub fn encode(img: &Raster, format: ImageFormat, rules: &OutputRules) -> Result<Vec<u8>, PipelineError> {
    let mut quality = rules.quality_for(format).clamp(1, 100);
    let mut bytes = encode_once(img, format, quality, rules)?;
    let lossy = matches!(format, ImageFormat::Jpeg | ImageFormat::Webp | ImageFormat::Avif);
    let limit = rules.max_bytes;
    while lossy && limit > 0 && bytes.len() as u64 > limit && quality > 10 {
        // imgproxy `saveImageToFitBytes`: shrink the quality faster the further off we are.
        let ratio = bytes.len() as f64 / limit as f64;
        let factor = if ratio > 3.0 {
            0.25
        } else if ratio > 1.5 {
            0.5
        } else {
            0.75
        };
        quality = ((f64::from(quality) * factor) as u8).max(1);
        bytes = encode_once(img, format, quality, rules)?;
    }
    Ok(bytes)
}

fn encode_once(img: &Raster, format: ImageFormat, quality: u8, rules: &OutputRules) -> Result<Vec<u8>, PipelineError> {
    match format {
        ImageFormat::Jpeg => jpeg(img, quality, rules.jpeg_progressive),
        ImageFormat::Png => png(img),
        ImageFormat::Webp => webp_lossy(img, quality),
        ImageFormat::Avif => super::avif_encode::encode(img, quality, rules.avif_speed),
        ImageFormat::Gif => gif(img),
        other => Err(PipelineError::CannotEncode(other.to_string())),
    }
}

fn cannot(format: &str, e: impl std::fmt::Display) -> PipelineError {
    PipelineError::CannotEncode(format!("{format}: {e}"))
}

fn jpeg(img: &Raster, quality: u8, progressive: bool) -> Result<Vec<u8>, PipelineError> {
    let err = |e| cannot("jpeg", e);
    let mut c = Compressor::new().map_err(err)?;
    c.set_quality(i32::from(quality)).map_err(err)?;
    c.set_subsamp(Subsamp::Sub2x2).map_err(err)?;
    c.set_optimize(true).map_err(err)?;
    c.set_progressive(progressive).map_err(err)?;
    let format = if img.alpha { PixelFormat::RGBA } else { PixelFormat::RGB };
    let image = turbojpeg::Image {
        pixels: img.data.as_slice(),
        width: img.width as usize,
        pitch: img.stride(),
        height: img.height as usize,
        format,
    };
    c.compress_to_vec(image).map_err(err)
}

fn color_type(img: &Raster) -> image::ExtendedColorType {
    if img.alpha {
        image::ExtendedColorType::Rgba8
    } else {
        image::ExtendedColorType::Rgb8
    }
}

fn png(img: &Raster) -> Result<Vec<u8>, PipelineError> {
    use image::codecs::png::{CompressionType, FilterType, PngEncoder};
    use image::ImageEncoder;
    let mut out = Vec::new();
    let enc = PngEncoder::new_with_quality(&mut out, CompressionType::Fast, FilterType::Adaptive);
    enc.write_image(&img.data, img.width, img.height, color_type(img)).map_err(|e| cannot("png", e))?;
    Ok(out)
}

fn gif(img: &Raster) -> Result<Vec<u8>, PipelineError> {
    let rgba = img.with_alpha();
    let mut out = Vec::new();
    {
        // Speed 10 is the `gif` crate's fast NeuQuant setting, fine for thumbnails.
        let mut enc = image::codecs::gif::GifEncoder::new_with_speed(&mut out, 10);
        enc.encode(&rgba.data, img.width, img.height, image::ExtendedColorType::Rgba8).map_err(|e| cannot("gif", e))?;
    }
    Ok(out)
}

/// libwebp hands us the output in pieces; `custom_ptr` is the `Vec` they go to.
unsafe extern "C" fn append_to_vec(data: *const u8, size: usize, pic: *const webp::WebPPicture) -> std::ffi::c_int {
    // SAFETY: `webp_lossy` sets `custom_ptr` to a live `Vec<u8>` for the duration of `WebPEncode`, and
    // libwebp passes `size` readable bytes at `data`.
    unsafe {
        let out = &mut *((*pic).custom_ptr as *mut Vec<u8>);
        if size > 0 {
            out.extend_from_slice(std::slice::from_raw_parts(data, size));
        }
    }
    1
}

fn webp_lossy(img: &Raster, quality: u8) -> Result<Vec<u8>, PipelineError> {
    let err = |what: &str| cannot("webp", what);
    let mut config = webp::WebPConfig::new_with_preset(webp::WebPPreset::WEBP_PRESET_DEFAULT, f32::from(quality))
        .map_err(|_| err("config"))?;
    config.method = 4; // libvips' default effort; `method` dominates WebP cost
    let mut pic = webp::WebPPicture::new().map_err(|_| err("picture"))?;
    pic.width = i32::try_from(img.width).map_err(|_| err("too wide"))?;
    pic.height = i32::try_from(img.height).map_err(|_| err("too tall"))?;
    let stride = i32::try_from(img.stride()).map_err(|_| err("too wide"))?;
    let mut out: Vec<u8> = Vec::new();
    // SAFETY: `pic` is initialised; the import copies from `img.data` (width × height × channels bytes at
    // `stride`), `out` outlives `WebPEncode`, and the picture's own memory is freed before returning.
    let ok = unsafe {
        let imported = if img.alpha {
            webp::WebPPictureImportRGBA(&mut pic, img.data.as_ptr(), stride)
        } else {
            webp::WebPPictureImportRGB(&mut pic, img.data.as_ptr(), stride)
        };
        pic.writer = Some(append_to_vec);
        pic.custom_ptr = (&mut out as *mut Vec<u8>).cast();
        let ok = imported != 0 && webp::WebPEncode(&config, &mut pic) != 0;
        webp::WebPPictureFree(&mut pic);
        ok
    };
    if !ok {
        return Err(err("encoder failed"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(w: u32, h: u32, alpha: bool) -> Raster {
        let data = (0..w * h)
            .flat_map(|i| {
                let (x, y) = ((i % w) as u8, (i / w) as u8);
                [x.wrapping_mul(3), y.wrapping_mul(5), 128, 200].into_iter().take(if alpha { 4 } else { 3 })
            })
            .collect();
        Raster { width: w, height: h, alpha, data }
    }

    /// Every decodable output reads back at the right size with the `image` crate.
    #[test]
    fn outputs_decode_to_the_right_size() {
        let rules = OutputRules::default();
        for (format, alpha) in [
            (ImageFormat::Jpeg, false),
            (ImageFormat::Png, false),
            (ImageFormat::Png, true),
            (ImageFormat::Webp, false),
            (ImageFormat::Webp, true),
            (ImageFormat::Gif, true),
        ] {
            let bytes = encode(&gradient(40, 30, alpha), format, &rules).unwrap();
            let back = image::load_from_memory(&bytes).unwrap_or_else(|e| panic!("{format}: {e}"));
            assert_eq!((back.width(), back.height()), (40, 30), "{format}");
            assert_eq!(back.color().has_alpha(), alpha, "{format} alpha");
        }
    }

    #[test]
    fn progressive_jpeg_has_a_progressive_frame() {
        let rules = OutputRules { jpeg_progressive: true, ..OutputRules::default() };
        let bytes = encode(&gradient(16, 16, false), ImageFormat::Jpeg, &rules).unwrap();
        let info = crate::pipeline::probe::inspect(&bytes).unwrap();
        assert!(info.progressive);
    }

    #[test]
    fn quality_changes_the_jpeg_size() {
        let img = gradient(64, 64, false);
        let low = encode(&img, ImageFormat::Jpeg, &OutputRules { quality: 10, ..OutputRules::default() }).unwrap();
        let high = encode(&img, ImageFormat::Jpeg, &OutputRules { quality: 95, ..OutputRules::default() }).unwrap();
        assert!(low.len() < high.len(), "{} < {}", low.len(), high.len());
    }

    #[test]
    fn max_bytes_lowers_the_quality() {
        let img = gradient(64, 64, false);
        let free = encode(&img, ImageFormat::Jpeg, &OutputRules::default()).unwrap();
        let limit = free.len() as u64 * 2 / 3;
        let capped =
            encode(&img, ImageFormat::Jpeg, &OutputRules { max_bytes: limit, ..OutputRules::default() }).unwrap();
        assert!((capped.len() as u64) < free.len() as u64, "{} < {}", capped.len(), free.len());
    }

    #[test]
    fn avif_has_ftyp_and_ispe_boxes() {
        let bytes = encode(&gradient(40, 30, true), ImageFormat::Avif, &OutputRules::default()).unwrap();
        let p = crate::pipeline::probe(&bytes).unwrap();
        assert_eq!((p.format, p.width, p.height), (ImageFormat::Avif, 40, 30));
    }

    #[test]
    fn formats_without_an_encoder_are_refused() {
        for f in [ImageFormat::Bmp, ImageFormat::Tiff, ImageFormat::Svg, ImageFormat::Heic, ImageFormat::Ico] {
            let r = encode(&gradient(4, 4, false), f, &OutputRules::default());
            assert!(matches!(r, Err(PipelineError::CannotEncode(_))), "{f}");
        }
    }
}
