//! Animated sources kept animated (SPEC §2 "Animation", §3 emoji/avatar): decode every frame of an
//! animated GIF, APNG or WebP as full-canvas RGBA, run the per-frame steps on each, and write one
//! animated WebP that loops as the plan says (Misskey: forever).
//!
//! The frame count is capped before decoding: at most `max_animation_frames` frames are ever decoded
//! (the probe already refused sources whose kept frames exceed the resolution limit). WebP frames come
//! from libwebp's animation decoder, GIF frames from `gif_frames.rs` (one reused canvas), APNG from the
//! `image` crate, all under an allocation cap, and are handed on one at a time; the result is written
//! by libwebp's animation encoder at the plan's quality with libvips' `webpsave` settings. Knows nothing of URLs.

use std::io::Cursor;

use image::AnimationDecoder;
use libwebp_sys as webp;

use crate::plan::{ImageFormat, OutputRules};

use super::gif_frames::GifFrames;
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

/// How long a frame of `ms` is shown: Chromium and Firefox play a delay of 10 ms or less (GIF 0 or 1
/// centisecond, common in the wild) at 100 ms, and libvips writes such frames as 100 ms too; keeping 0
/// or 10 would make the converted animation run up to ten times faster than its source in a browser.
pub fn displayed_delay_ms(ms: u32) -> u32 {
    if ms <= 10 {
        100
    } else {
        ms
    }
}

/// Whether this source can be decoded frame by frame here.
pub fn decodable(format: ImageFormat) -> bool {
    matches!(format, ImageFormat::Gif | ImageFormat::Webp | ImageFormat::Png)
}

/// Decodes at most `max_frames` frames and keeps them all (tests and probes; the pipeline streams
/// them through [`for_each_frame`]).
#[cfg(test)]
pub fn decode_frames(input: &[u8], info: &SourceInfo, max_frames: u32) -> Result<Vec<Frame>, PipelineError> {
    let mut out = Vec::new();
    for_each_frame(input, info, max_frames, &mut |frame| {
        out.push(frame);
        Ok(())
    })?;
    Ok(out)
}

/// Decodes at most `max_frames` frames and hands each to `each` as soon as it is composited, so
/// that only one full-size frame is alive at a time (issue 3 "Memory"). Errors from `each` stop
/// the decoding and are returned.
pub fn for_each_frame(
    input: &[u8],
    info: &SourceInfo,
    max_frames: u32,
    each: &mut dyn FnMut(Frame) -> Result<(), PipelineError>,
) -> Result<(), PipelineError> {
    let max = max_frames.max(1) as usize;
    let count = match info.probe.format {
        ImageFormat::Webp => webp_frames(input, max, each)?,
        ImageFormat::Gif => gif_frames(input, info, max, each)?,
        ImageFormat::Png => {
            let mut decoder = image::codecs::png::PngDecoder::new(Cursor::new(input)).map_err(corrupt)?;
            image::ImageDecoder::set_limits(&mut decoder, limits(info)).map_err(corrupt)?;
            image_frames(decoder.apng().map_err(corrupt)?.into_frames(), max, each)?
        }
        other => return Err(PipelineError::Unsupported(format!("animated {other}"))),
    };
    if count == 0 {
        return Err(PipelineError::Corrupt("animation without frames".into()));
    }
    Ok(())
}

/// GIF frames from `gif_frames.rs`' one-canvas compositor.
fn gif_frames(
    input: &[u8],
    info: &SourceInfo,
    max: usize,
    each: &mut dyn FnMut(Frame) -> Result<(), PipelineError>,
) -> Result<usize, PipelineError> {
    let cap = limits(info).max_alloc.unwrap_or(u64::MAX);
    let mut frames = GifFrames::new(input, cap)?;
    let mut count = 0;
    while count < max {
        let Some((raster, delay_ms)) = frames.next_frame()? else { break };
        each(Frame { raster, delay_ms: displayed_delay_ms(delay_ms) })?;
        count += 1;
    }
    Ok(count)
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

fn image_frames(
    frames: image::Frames<'_>,
    max: usize,
    each: &mut dyn FnMut(Frame) -> Result<(), PipelineError>,
) -> Result<usize, PipelineError> {
    let mut count = 0;
    for frame in frames.take(max) {
        let frame = frame.map_err(corrupt)?;
        let (num, den) = frame.delay().numer_denom_ms();
        let delay_ms = num.checked_div(den).unwrap_or(0);
        let buffer = frame.into_buffer();
        let (width, height) = buffer.dimensions();
        let raster = Raster { width, height, alpha: true, data: buffer.into_raw() };
        each(Frame { raster, delay_ms: displayed_delay_ms(delay_ms) })?;
        count += 1;
    }
    Ok(count)
}

/// Frames of an animated WebP, composited by libwebp's animation decoder.
fn webp_frames(
    input: &[u8],
    max: usize,
    each: &mut dyn FnMut(Frame) -> Result<(), PipelineError>,
) -> Result<usize, PipelineError> {
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
    let result = webp_read_frames(dec, max, each);
    // SAFETY: `dec` came from WebPAnimDecoderNew and is not used afterwards.
    unsafe { webp::WebPAnimDecoderDelete(dec) };
    result
}

fn webp_read_frames(
    dec: *mut webp::WebPAnimDecoder,
    max: usize,
    each: &mut dyn FnMut(Frame) -> Result<(), PipelineError>,
) -> Result<usize, PipelineError> {
    let mut info = webp::WebPAnimInfo::default();
    // SAFETY: `dec` is live and `info` is a valid out-parameter.
    if unsafe { webp::WebPAnimDecoderGetInfo(dec, &mut info) } == 0 {
        return Err(corrupt("bad WebP animation header"));
    }
    let len = info.canvas_width as usize * info.canvas_height as usize * 4;
    let (mut count, mut previous) = (0, 0i32);
    // SAFETY: `dec` is live; the decoder reports whether another frame follows.
    while count < max && unsafe { webp::WebPAnimDecoderHasMoreFrames(dec) } != 0 {
        let (mut buf, mut timestamp): (*mut u8, i32) = (std::ptr::null_mut(), 0);
        // SAFETY: `buf` and `timestamp` are valid out-parameters.
        if unsafe { webp::WebPAnimDecoderGetNext(dec, &mut buf, &mut timestamp) } == 0 || buf.is_null() {
            return Err(corrupt("bad WebP frame"));
        }
        // SAFETY: libwebp documents `buf` as canvas_width × canvas_height × 4 bytes owned by `dec`
        // until the next call; we copy it out at once.
        let data = unsafe { std::slice::from_raw_parts(buf, len) }.to_vec();
        let raster = Raster { width: info.canvas_width, height: info.canvas_height, alpha: true, data };
        let delay_ms = displayed_delay_ms(u32::try_from(timestamp.saturating_sub(previous)).unwrap_or(0));
        previous = timestamp;
        each(Frame { raster, delay_ms })?;
        count += 1;
    }
    Ok(count)
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
    // libvips' `webpsave` defaults, spelled out: no key frames (kmin INT_MAX-1, kmax INT_MAX), no
    // `min_size` search, no lossy/lossless `mixed` choice. libwebp's own defaults are the same today.
    (opts.kmin, opts.kmax, opts.minimize_size, opts.allow_mixed) = (i32::MAX - 1, i32::MAX, 0, 0);
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
    // libvips' default `effort` 4 is libwebp `method` 4 (imgproxy does not change it).
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
    let mut pic = webp::WebPPicture::new().map_err(|_| cannot("picture"))?;
    pic.width = i32::try_from(img.width).map_err(|_| cannot("too wide"))?;
    pic.height = i32::try_from(img.height).map_err(|_| cannot("too tall"))?;
    // As libvips' `webpsave` (lossy, no `smart_subsample`): the frame is imported as YUV 4:2:0 and
    // `WebPAnimEncoderAdd` turns it back into ARGB for its frame diffing. That round trip smooths the
    // chroma (much of a GIF's dithering noise), so the changed rectangles shrink and each frame compresses better:
    // importing ARGB as we did cost +19 % bytes on iss634.gif at 128 px q75 for +1 dB RGB PSNR and no
    // luma SSIM (scripts/webp_anim_compare.py; with this, our bytes equal libvips' on the same frames).
    pic.use_argb = 0;
    let stride = i32::try_from(img.stride()).map_err(|_| cannot("too wide"))?;
    if img.data.len() < img.stride() * img.height as usize {
        return Err(cannot("frame buffer size"));
    }
    // SAFETY: `pic` is initialised; the import copies width × height pixels at `stride` from `img`
    // (RGB or RGBA as it says, length checked above), the encoder copies what it keeps, and the
    // picture's memory is freed before returning.
    let ok = unsafe {
        let imported = if img.alpha {
            webp::WebPPictureImportRGBA(&mut pic, img.data.as_ptr(), stride)
        } else {
            webp::WebPPictureImportRGB(&mut pic, img.data.as_ptr(), stride)
        } != 0;
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

    /// Frames of 10 ms or less play at 100 ms in browsers: iss634.gif's first frame says 0 cs, and its
    /// conversion must not run faster than the GIF does in a browser. Raw delays read by the `gif` crate.
    #[test]
    fn tiny_gif_delays_become_what_browsers_show() {
        for (ms, want) in [(0, 100), (10, 100), (20, 20), (70, 70)] {
            assert_eq!(displayed_delay_ms(ms), want, "{ms} ms");
        }
        let bytes = corpus("formats/iss634.gif");
        let mut raw = Vec::new();
        let mut decoder = gif::DecodeOptions::new().read_info(bytes.as_slice()).unwrap();
        while let Some(frame) = decoder.read_next_frame().unwrap() {
            raw.push(u32::from(frame.delay) * 10);
        }
        assert!(raw.iter().any(|&d| d <= 10) && raw.iter().any(|&d| d > 10), "the file has both kinds: {raw:?}");
        let info = probe::inspect(&bytes).unwrap();
        let got: Vec<u32> = decode_frames(&bytes, &info, 1000).unwrap().iter().map(|f| f.delay_ms).collect();
        let want: Vec<u32> = raw.iter().map(|&d| if d <= 10 { 100 } else { d }).collect();
        assert_eq!(got, want);
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

#[cfg(test)]
mod timing_probe {
    use super::*;
    use crate::pipeline::probe;
    use crate::pipeline::resize::{crop_resize, SourceBox};
    use crate::pipeline::test_util::corpus;

    fn median(mut f: impl FnMut()) -> f64 {
        f();
        crate::pipeline::test_util::median(crate::pipeline::test_util::times_ms(11, f))
    }

    #[test]
    #[ignore]
    fn gif_phase_split() {
        // `GIF_PROBE_FILE=/path/to.gif` splits another file (e.g. the bench's generated 50-frame GIF).
        let bytes = match std::env::var("GIF_PROBE_FILE") {
            Ok(path) => std::fs::read(path).unwrap(),
            Err(_) => corpus("formats/iss634.gif"),
        };
        let info = probe::inspect(&bytes).unwrap();
        let (w, h) = (info.probe.width, info.probe.height);
        let lzw = median(|| {
            let mut o = gif::DecodeOptions::new();
            o.set_color_output(gif::ColorOutput::Indexed);
            let mut d = o.read_info(bytes.as_slice()).unwrap();
            while let Some(f) = d.read_next_frame().unwrap() {
                std::hint::black_box(f);
            }
        });
        let image_crate = median(|| {
            let decoder = image::codecs::gif::GifDecoder::new(Cursor::new(&bytes)).unwrap();
            std::hint::black_box(decoder.into_frames().collect_frames().unwrap());
        });
        let decode = median(|| {
            std::hint::black_box(decode_frames(&bytes, &info, 1000).unwrap());
        });
        let frames = decode_frames(&bytes, &info, 1000).unwrap();
        let whole = SourceBox { x: 0.0, y: 0.0, width: f64::from(w), height: f64::from(h) };
        let (tw, th) = (128, (128 * h / w.max(1)).max(1));
        let resize = median(|| {
            for f in &frames {
                std::hint::black_box(crop_resize(f.raster.clone(), whole, tw, th).unwrap());
            }
        });
        let small: Vec<Frame> = frames
            .iter()
            .map(|f| Frame { raster: crop_resize(f.raster.clone(), whole, tw, th).unwrap(), delay_ms: f.delay_ms })
            .collect();
        let rules = OutputRules { quality: 75, ..OutputRules::default() };
        let encode = median(|| {
            std::hint::black_box(encode_webp(&small, &rules).unwrap());
        });
        let size = encode_webp(&small, &rules).unwrap().len();
        let whole = median(|| {
            let mut plan = crate::pipeline::test_util::plan(
                crate::plan::Processing { width: 128, ..Default::default() },
                OutputRules { format: Some(ImageFormat::Webp), quality: 75, ..OutputRules::default() },
            );
            plan.limits.max_animation_frames = 1000;
            std::hint::black_box(crate::pipeline::test_util::run_ok(&plan, &bytes));
        });
        println!(
            "lzw only {lzw:.1} ms; decode+composite: image crate {image_crate:.1} ms, ours {decode:.1} ms; \
             resize {resize:.1} ms; encode {encode:.1} ms ({size} bytes); whole pipeline {whole:.1} ms"
        );
    }
}

#[cfg(test)]
#[path = "animation_tests.rs"]
mod encoder_tests;
