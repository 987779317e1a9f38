//! Animated sources kept animated (SPEC §2 "Animation", §3 emoji/avatar): decode every frame of an
//! animated GIF, APNG or WebP as full-canvas RGBA, run the per-frame steps on each, and write one
//! animated WebP that loops as the plan says (Misskey: forever).
//!
//! The frame count is capped before decoding: at most `max_animation_frames` frames are ever decoded
//! (the probe already refused sources whose kept frames exceed the resolution limit). WebP frames come
//! from libwebp's animation decoder, GIF and APNG from the `image` crate under an allocation cap; the
//! result is written by libwebp's animation encoder at the plan's quality. Knows nothing of URLs.

use std::io::Cursor;

use image::AnimationDecoder;
use libwebp_sys as webp;

use crate::plan::{ImageFormat, OutputRules};

use super::probe::SourceInfo;
use super::raster::Raster;
use super::PipelineError;

/// One decoded frame: the composited canvas and how long it shows.
#[derive(Clone, Debug)]
pub struct Frame {
    /// Full-canvas RGBA.
    pub raster: Raster,
    /// Display time in milliseconds.
    pub delay_ms: u32,
}

/// Browsers show frames shorter than this at 100 ms; libwebp needs a positive duration anyway.
const MIN_DELAY_MS: u32 = 10;

/// Whether this source can be decoded frame by frame here.
pub fn decodable(format: ImageFormat) -> bool {
    matches!(format, ImageFormat::Gif | ImageFormat::Webp | ImageFormat::Png)
}

/// Decodes at most `max_frames` frames.
pub fn decode_frames(input: &[u8], info: &SourceInfo, max_frames: u32) -> Result<Vec<Frame>, PipelineError> {
    let max = max_frames.max(1) as usize;
    match info.probe.format {
        ImageFormat::Webp => webp_frames(input, max),
        ImageFormat::Gif => {
            let mut decoder = image::codecs::gif::GifDecoder::new(Cursor::new(input)).map_err(corrupt)?;
            image::ImageDecoder::set_limits(&mut decoder, limits(info)).map_err(corrupt)?;
            collect(decoder.into_frames(), max)
        }
        ImageFormat::Png => {
            let mut decoder = image::codecs::png::PngDecoder::new(Cursor::new(input)).map_err(corrupt)?;
            image::ImageDecoder::set_limits(&mut decoder, limits(info)).map_err(corrupt)?;
            collect(decoder.apng().map_err(corrupt)?.into_frames(), max)
        }
        other => Err(PipelineError::Unsupported(format!("animated {other}"))),
    }
}

fn corrupt(e: impl std::fmt::Display) -> PipelineError {
    PipelineError::Corrupt(e.to_string())
}

/// Allocation cap for one canvas plus the decoder's own frame buffers.
fn limits(info: &SourceInfo) -> image::Limits {
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(u64::from(info.probe.width) * u64::from(info.probe.height) * 16 + (16 << 20));
    limits
}

fn collect(frames: image::Frames<'_>, max: usize) -> Result<Vec<Frame>, PipelineError> {
    let mut out = Vec::new();
    for frame in frames.take(max) {
        let frame = frame.map_err(corrupt)?;
        let (num, den) = frame.delay().numer_denom_ms();
        let delay_ms = num.checked_div(den).unwrap_or(0);
        let buffer = frame.into_buffer();
        let (width, height) = buffer.dimensions();
        let raster = Raster { width, height, alpha: true, data: buffer.into_raw() };
        out.push(Frame { raster, delay_ms: delay_ms.max(MIN_DELAY_MS) });
    }
    if out.is_empty() {
        return Err(PipelineError::Corrupt("animation without frames".into()));
    }
    Ok(out)
}

/// Frames of an animated WebP, composited by libwebp's animation decoder.
fn webp_frames(input: &[u8], max: usize) -> Result<Vec<Frame>, PipelineError> {
    let data = webp::WebPData { bytes: input.as_ptr(), size: input.len() };
    // SAFETY: a zeroed options struct is what the init call expects to fill in.
    let mut opts: webp::WebPAnimDecoderOptions = unsafe { std::mem::zeroed() };
    // SAFETY: `opts` is a valid out-parameter.
    if unsafe { webp::WebPAnimDecoderOptionsInit(&mut opts) } == 0 {
        return Err(corrupt("WebP animation decoder init"));
    }
    opts.color_mode = webp::WEBP_CSP_MODE::MODE_RGBA;
    // SAFETY: `data` borrows `input`, which outlives the decoder (deleted below on every path).
    let dec = unsafe { webp::WebPAnimDecoderNew(&data, &opts) };
    if dec.is_null() {
        return Err(corrupt("bad WebP animation"));
    }
    let result = webp_read_frames(dec, max);
    // SAFETY: `dec` came from WebPAnimDecoderNew and is not used afterwards.
    unsafe { webp::WebPAnimDecoderDelete(dec) };
    result
}

fn webp_read_frames(dec: *mut webp::WebPAnimDecoder, max: usize) -> Result<Vec<Frame>, PipelineError> {
    let mut info = webp::WebPAnimInfo::default();
    // SAFETY: `dec` is live and `info` is a valid out-parameter.
    if unsafe { webp::WebPAnimDecoderGetInfo(dec, &mut info) } == 0 {
        return Err(corrupt("bad WebP animation header"));
    }
    let len = info.canvas_width as usize * info.canvas_height as usize * 4;
    let (mut out, mut previous) = (Vec::new(), 0i32);
    // SAFETY: `dec` is live; the decoder reports whether another frame follows.
    while out.len() < max && unsafe { webp::WebPAnimDecoderHasMoreFrames(dec) } != 0 {
        let (mut buf, mut timestamp): (*mut u8, i32) = (std::ptr::null_mut(), 0);
        // SAFETY: `buf` and `timestamp` are valid out-parameters.
        if unsafe { webp::WebPAnimDecoderGetNext(dec, &mut buf, &mut timestamp) } == 0 || buf.is_null() {
            return Err(corrupt("bad WebP frame"));
        }
        // SAFETY: libwebp documents `buf` as canvas_width × canvas_height × 4 bytes owned by `dec`
        // until the next call; we copy it out at once.
        let data = unsafe { std::slice::from_raw_parts(buf, len) }.to_vec();
        let raster = Raster { width: info.canvas_width, height: info.canvas_height, alpha: true, data };
        let delay_ms = u32::try_from(timestamp.saturating_sub(previous)).unwrap_or(0).max(MIN_DELAY_MS);
        previous = timestamp;
        out.push(Frame { raster, delay_ms });
    }
    if out.is_empty() {
        return Err(corrupt("WebP animation without frames"));
    }
    Ok(out)
}

/// Writes `frames` (all the same size) as one animated WebP.
pub fn encode_webp(frames: &[Frame], rules: &OutputRules) -> Result<Vec<u8>, PipelineError> {
    let first = frames.first().ok_or_else(|| cannot("no frames"))?;
    let (w, h) = (first.raster.width, first.raster.height);
    if frames.iter().any(|f| f.raster.width != w || f.raster.height != h) {
        return Err(cannot("frames differ in size"));
    }
    let (cw, ch) =
        (i32::try_from(w).map_err(|_| cannot("too wide"))?, i32::try_from(h).map_err(|_| cannot("too tall"))?);
    // SAFETY: a zeroed options struct is what the init call expects to fill in.
    let mut opts: webp::WebPAnimEncoderOptions = unsafe { std::mem::zeroed() };
    // SAFETY: `opts` is a valid out-parameter; the ABI version is the one the bindings were made for.
    if unsafe { webp::WebPAnimEncoderOptionsInitInternal(&mut opts, webp::WEBP_MUX_ABI_VERSION as i32) } == 0 {
        return Err(cannot("options"));
    }
    opts.anim_params.loop_count = i32::from(rules.loop_count.unwrap_or(0));
    // SAFETY: `opts` is initialised; the encoder is deleted below on every path.
    let enc = unsafe { webp::WebPAnimEncoderNewInternal(cw, ch, &opts, webp::WEBP_MUX_ABI_VERSION as i32) };
    if enc.is_null() {
        return Err(cannot("encoder"));
    }
    let result = add_frames(enc, frames, rules.quality_for(ImageFormat::Webp));
    // SAFETY: `enc` came from WebPAnimEncoderNew and is not used afterwards.
    unsafe { webp::WebPAnimEncoderDelete(enc) };
    result
}

fn cannot(what: &str) -> PipelineError {
    PipelineError::CannotEncode(format!("animated webp: {what}"))
}

fn add_frames(enc: *mut webp::WebPAnimEncoder, frames: &[Frame], quality: u8) -> Result<Vec<u8>, PipelineError> {
    let mut config = webp::WebPConfig::new_with_preset(webp::WebPPreset::WEBP_PRESET_DEFAULT, f32::from(quality))
        .map_err(|_| cannot("config"))?;
    config.method = 4;
    let mut timestamp = 0i32;
    for frame in frames {
        add_frame(enc, &frame.raster, timestamp, &config)?;
        timestamp = timestamp.saturating_add(i32::try_from(frame.delay_ms).unwrap_or(i32::MAX));
    }
    let mut data = webp::WebPData::default();
    // SAFETY: a NULL frame marks the end at `timestamp`; `data` receives memory that we free below.
    let ok = unsafe {
        webp::WebPAnimEncoderAdd(enc, std::ptr::null_mut(), timestamp, std::ptr::null()) != 0
            && webp::WebPAnimEncoderAssemble(enc, &mut data) != 0
    };
    if !ok || data.bytes.is_null() {
        return Err(cannot("assemble"));
    }
    // SAFETY: libwebp filled `data` with `size` bytes that we copy and then free with WebPDataClear.
    let bytes = unsafe { std::slice::from_raw_parts(data.bytes, data.size) }.to_vec();
    // SAFETY: `data` was allocated by libwebp and is not used afterwards.
    unsafe { webp::WebPDataClear(&mut data) };
    Ok(bytes)
}

fn add_frame(
    enc: *mut webp::WebPAnimEncoder,
    img: &Raster,
    timestamp: i32,
    config: &webp::WebPConfig,
) -> Result<(), PipelineError> {
    let rgba = img.with_alpha();
    let mut pic = webp::WebPPicture::new().map_err(|_| cannot("picture"))?;
    pic.width = i32::try_from(rgba.width).map_err(|_| cannot("too wide"))?;
    pic.height = i32::try_from(rgba.height).map_err(|_| cannot("too tall"))?;
    pic.use_argb = 1;
    let stride = i32::try_from(rgba.stride()).map_err(|_| cannot("too wide"))?;
    // SAFETY: `pic` is initialised; the import copies width × height × 4 bytes at `stride` from `rgba`,
    // the encoder copies what it keeps, and the picture's memory is freed before returning.
    let ok = unsafe {
        let imported = webp::WebPPictureImportRGBA(&mut pic, rgba.data.as_ptr(), stride) != 0;
        let added = imported && webp::WebPAnimEncoderAdd(enc, &mut pic, timestamp, config) != 0;
        webp::WebPPictureFree(&mut pic);
        added
    };
    if !ok {
        return Err(cannot("frame"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::probe;
    use crate::pipeline::test_util::corpus;

    #[test]
    fn corpus_animations_decode_every_frame_up_to_the_cap() {
        for (name, file, all) in [
            ("gif", "formats/iss634.gif", 42),
            ("webp", "formats/iss634.webp", 42),
            ("apng, whose acTL says 41", "formats/iss634.apng", 41),
        ] {
            let bytes = corpus(file);
            let info = probe::inspect(&bytes).unwrap();
            let frames = decode_frames(&bytes, &info, 1000).unwrap();
            assert_eq!(frames.len(), all, "{name}");
            assert!(frames.iter().all(|f| (f.raster.width, f.raster.height) == (245, 245)), "{name}");
            assert_eq!(decode_frames(&bytes, &info, 5).unwrap().len(), 5, "{name} capped");
        }
    }

    #[test]
    fn encoded_animation_has_every_frame_and_loops_forever() {
        let frames: Vec<Frame> = (0..3u8)
            .map(|i| Frame {
                raster: Raster { width: 8, height: 6, alpha: true, data: [i * 80, 0, 0, 255].repeat(48) },
                delay_ms: 50,
            })
            .collect();
        let rules = OutputRules { loop_count: Some(0), ..OutputRules::default() };
        let bytes = encode_webp(&frames, &rules).unwrap();
        let info = probe::inspect(&bytes).unwrap();
        assert_eq!((info.probe.width, info.probe.height, info.probe.frames), (8, 6, 3));
        let anim = bytes.windows(4).position(|w| w == b"ANIM").unwrap();
        let loops = u16::from_le_bytes([bytes[anim + 12], bytes[anim + 13]]);
        assert_eq!(loops, 0, "0 = loop forever");
    }
}
