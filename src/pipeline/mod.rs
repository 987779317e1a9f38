//! The image pipeline: probe → decode (with shrink-on-load) → transform → encode.
//!
//! Synchronous CPU code only; its one way in is [`run`], called on the bounded worker pool. The work is
//! the list [`STEPS`], in SPEC §2's order (imgproxy `mainPipeline()`), sharing one [`Ctx`], with a
//! deadline check between steps. Geometry is pure arithmetic in `geometry.rs`; orientation is one
//! transform in `orient.rs`, applied after the resize on the small image. The pipeline never sees a
//! URL, a header or an environment variable: everything comes from the [`Plan`].

mod animated_gif;
mod animation;
mod avif_container;
mod avif_decode;
mod avif_encode;
mod avif_yuv;
mod badge;
mod decode;
mod encode;
pub mod error;
mod exif_out;
mod filters;
pub mod geometry;
mod gif_blocks;
mod gif_frames;
mod gif_lzw;
mod icc;
mod isolated;
mod jpeg_dc;
mod jpeg_scaled;
mod metadata;
mod negotiate;
mod orient;
mod png_box;
mod png_stream;
mod probe;
pub mod quality;
mod raster;
mod refit;
mod resize;
mod smart;
mod svg;
mod trim;
mod watermark;

pub use error::PipelineError;
pub use refit::refit;

use std::time::Instant;

use crate::plan::{GravityKind, ImageFormat, Plan, Rgb};

use geometry::Layout;
use orient::Orient;
use probe::SourceInfo;
use raster::Raster;

/// What the header probe learned, before any pixel is decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Probe {
    /// Format from magic numbers.
    pub format: ImageFormat,
    /// Width as stored (before EXIF rotation).
    pub width: u32,
    /// Height as stored (before EXIF rotation).
    pub height: u32,
    /// Number of frames (1 for still images).
    pub frames: u32,
}

/// A finished image.
#[derive(Clone, Debug)]
pub struct Output {
    /// Encoded bytes.
    pub bytes: Vec<u8>,
    /// Their format.
    pub format: ImageFormat,
    /// Result width.
    pub width: u32,
    /// Result height.
    pub height: u32,
    /// What the source was.
    pub source: Probe,
}

/// Reads format, size and frame count from the header only.
pub fn probe(input: &[u8]) -> Result<Probe, PipelineError> {
    probe::inspect(input).map(|i| i.probe)
}

/// What the header probe learned: the [`Probe`], and the storage details that decide how much memory
/// a decode holds (a PNG's interlacing), for the memory budget (issue 7).
#[derive(Clone, Debug)]
pub struct SourceHeader(SourceInfo);

impl SourceHeader {
    /// Reads the header only, as [`probe`].
    pub fn read(input: &[u8]) -> Result<SourceHeader, PipelineError> {
        probe::inspect(input).map(SourceHeader)
    }

    /// A header known only by its [`Probe`]: storage details unknown, so a PNG counts as decoded whole.
    pub fn from_probe(probe: Probe) -> SourceHeader {
        let mut info = SourceInfo::new(probe.format, probe.width, probe.height);
        info.probe.frames = probe.frames;
        info.interlaced = true;
        SourceHeader(info)
    }

    /// Format, size and frames.
    pub fn probe(&self) -> Probe {
        self.0.probe
    }

    /// Bytes of pixels the decode step holds at its peak, counted as RGBA, when the geometry asks for
    /// `shrink_hint` (shrink-on-load as the decoders really do it: JPEG DCT scaling, WebP scaled
    /// decode, PNG rows box-shrunk as they stream unless interlaced or small).
    pub fn decoded_bytes(&self, shrink_hint: f64) -> u64 {
        decode::held_bytes(&self.0, shrink_hint)
    }
}

/// Refuses a probed source beyond `limits` (SPEC §6), for callers that probe a header before downloading
/// the rest (S3's ranged GET); [`run`] checks the same again.
pub fn check_limits(probe: &Probe, limits: &crate::plan::Limits) -> Result<(), PipelineError> {
    probe::check_limits(probe, limits)
}

/// Whether [`run`] returns a `source`-format input unchanged under `rules` (imgproxy `raw`,
/// `skip_processing`), for callers that stream such sources instead of buffering them.
pub fn passes_through(source: ImageFormat, rules: &crate::plan::OutputRules) -> bool {
    negotiate::passes_through(source, rules)
}

/// Runs the whole pipeline for `plan` on the source bytes, checking `deadline` between steps.
pub fn run(plan: &Plan, input: &[u8], deadline: Instant) -> Result<Output, PipelineError> {
    let info = probe::inspect(input)?;
    let source = info.probe;
    // Limits before any pixel is decoded, pass-through included: a bomb is not served raw either.
    probe::check_limits(&source, &plan.limits)?;
    if negotiate::passes_through(source.format, &plan.output) {
        let (width, height) = (source.width, source.height);
        return Ok(Output { bytes: input.to_vec(), format: source.format, width, height, source });
    }
    if source.format == ImageFormat::Heic {
        return Err(PipelineError::Unsupported("HEIC".into()));
    }
    let mut ctx = Ctx::new(plan, input, info, deadline);
    for (name, step) in STEPS {
        if Instant::now() >= deadline {
            return Err(PipelineError::Timeout);
        }
        if *name == "decode" && keeps_animation(&ctx) {
            run_animated(&mut ctx, deadline)?;
            break;
        }
        step(&mut ctx)?;
        tracing::trace!(step = name, "pipeline step done");
    }
    let img = ctx.raster.as_ref().ok_or_else(|| PipelineError::Corrupt("no image".into()))?;
    let (width, height) = (img.width, img.height);
    Ok(Output { bytes: ctx.bytes, format: ctx.format, width, height, source })
}

/// Animated output: an animated source, more than one frame allowed, and WebP or GIF chosen.
fn keeps_animation(ctx: &Ctx) -> bool {
    let src = &ctx.info.probe;
    matches!(ctx.format, ImageFormat::Webp | ImageFormat::Gif)
        && animation::decodable(src.format)
        && negotiate::is_animated(src, ctx.plan.limits.max_animation_frames, &ctx.plan.output)
}

/// Decodes every kept frame, runs the per-frame steps (crop/resize … flatten) on each, and writes
/// one animated WebP or GIF, playing as often as the plan says or else as the source did.
fn run_animated(ctx: &mut Ctx, deadline: Instant) -> Result<(), PipelineError> {
    let per_frame = STEPS.iter().skip_while(|(n, _)| *n != "crop_and_resize").take_while(|(n, _)| *n != "encode");
    let per_frame: Vec<&(&str, Step)> = per_frame.collect();
    let (input, max) = (ctx.input, ctx.plan.limits.max_animation_frames);
    let info = ctx.info.clone();
    let mut out = Vec::new();
    // Frames are processed as they are decoded: one full-size frame alive at a time (issue 3 "Memory").
    animation::for_each_frame(input, &info, max, &mut |frame| {
        if Instant::now() >= deadline {
            return Err(PipelineError::Timeout);
        }
        ctx.raster = Some(frame.raster);
        for (_, step) in &per_frame {
            step(ctx)?;
        }
        out.push(animation::Frame { raster: ctx.take_raster()?, delay_ms: frame.delay_ms });
        Ok(())
    })?;
    let loops = ctx.plan.output.loop_count.unwrap_or_else(|| animated_gif::source_loops(ctx.input, &ctx.info));
    ctx.bytes = if ctx.format == ImageFormat::Gif {
        animated_gif::encode(&out, loops)?
    } else {
        let rules = crate::plan::OutputRules { loop_count: Some(loops), ..ctx.plan.output.clone() };
        animation::encode_webp(&out, &rules)?
    };
    ctx.raster = out.pop().map(|f| f.raster);
    Ok(())
}

/// The state the steps share (imgproxy's pipeline context).
pub struct Ctx<'a> {
    plan: &'a Plan,
    input: &'a [u8],
    info: SourceInfo,
    /// The request's deadline: checked between steps, and handed to the decoders, whose isolated
    /// child (AVIF, isolated.rs) is killed when it passes.
    deadline: Instant,
    orient: Orient,
    layout: Option<Layout>,
    format: ImageFormat,
    raster: Option<Raster>,
    bytes: Vec<u8>,
    /// The source's RGB or grey ICC profile, if it has one (CMYK ones are applied while decoding).
    icc: Option<Vec<u8>>,
}

impl<'a> Ctx<'a> {
    fn new(plan: &'a Plan, input: &'a [u8], info: SourceInfo, deadline: Instant) -> Ctx<'a> {
        let format = info.probe.format;
        let icc = icc::embedded(input, &info).filter(|p| icc::is_convertible(p));
        let orient = Orient::IDENTITY;
        Ctx { plan, input, info, deadline, orient, layout: None, format, raster: None, bytes: Vec::new(), icc }
    }

    fn layout(&self) -> Result<Layout, PipelineError> {
        self.layout.ok_or_else(|| missing("layout"))
    }

    fn take_raster(&mut self) -> Result<Raster, PipelineError> {
        self.raster.take().ok_or_else(|| missing("pixels"))
    }
}

/// A step ran out of order: a bug, reported as an error rather than a panic.
fn missing(what: &str) -> PipelineError {
    PipelineError::Corrupt(format!("internal: {what} not ready"))
}

/// One pipeline step.
pub type Step = fn(&mut Ctx) -> Result<(), PipelineError>;

/// The steps, in SPEC §2's processing order. The output format is chosen first because trimming an
/// animation is skipped (as imgproxy) and only the format says whether the result animates.
pub const STEPS: &[(&str, Step)] = &[
    ("output_format", step_output_format),
    ("trim", step_trim),
    ("size", step_size),
    ("decode", step_decode),
    ("crop_and_resize", step_crop_and_resize),
    ("colour_profile", step_colour_profile),
    ("rotate_and_flip", step_rotate_and_flip),
    ("fill_crop", step_fill_crop),
    ("filters", step_filters),
    ("badge", step_badge),
    ("extend_and_padding", step_extend_and_padding),
    ("flatten", step_flatten),
    ("watermark", step_watermark),
    ("encode", step_encode),
    ("metadata", step_metadata),
];

/// Orientation (EXIF when `auto_rotate`, then `rotate`, `flip`) and the layout on the oriented size.
fn step_size(ctx: &mut Ctx) -> Result<(), PipelineError> {
    let p = &ctx.plan.process;
    let src = ctx.info.probe;
    let exif = match src.format {
        ImageFormat::Jpeg | ImageFormat::Webp if p.auto_rotate => orient::exif_orientation(ctx.input, &ctx.info),
        _ => 1,
    };
    // AVIF `irot`/`imir` are part of the image (HEIF essential properties), applied whatever `auto_rotate`.
    let stored = if src.format == ImageFormat::Avif { avif_decode::orientation(ctx.input) } else { Orient::IDENTITY };
    let request = Orient::for_request(exif, p.auto_rotate, p.rotate, p.flip_horizontal, p.flip_vertical);
    ctx.orient = stored.then(request);
    let (w, h) = ctx.orient.apply_size(src.width, src.height);
    let vector = src.format == ImageFormat::Svg && p.vector_enlarge;
    ctx.layout = Some(geometry::compute(w, h, p, vector, ctx.plan.limits.max_result_dimension)?);
    Ok(())
}

/// Chooses the output format before decoding, as imgproxy does, from the header's alpha flag.
fn step_output_format(ctx: &mut Ctx) -> Result<(), PipelineError> {
    let rules = &ctx.plan.output;
    let animated = negotiate::is_animated(&ctx.info.probe, ctx.plan.limits.max_animation_frames, rules);
    let alpha = negotiate::expects_alpha(ctx.info.has_alpha, &ctx.plan.process);
    ctx.format = negotiate::choose(ctx.info.probe.format, rules, alpha, animated)?;
    Ok(())
}

/// `trim`: decodes at full size (no shrink-on-load: the border is measured on real pixels), cuts the
/// border, and from then on the trimmed image *is* the source, so the size calculation sees its size.
fn step_trim(ctx: &mut Ctx) -> Result<(), PipelineError> {
    let Some(t) = ctx.plan.process.trim else { return Ok(()) };
    if keeps_animation(ctx) {
        return Ok(());
    }
    let img = if ctx.info.probe.format == ImageFormat::Svg {
        svg::rasterise(ctx.input, 1.0, ctx.plan.limits.max_src_resolution)?
    } else {
        decode::decode(ctx.input, &ctx.info, 1.0, ctx.deadline)?
    };
    let img = trim::apply(img, &t);
    (ctx.info.probe.width, ctx.info.probe.height) = (img.width, img.height);
    ctx.raster = Some(img);
    Ok(())
}

fn step_decode(ctx: &mut Ctx) -> Result<(), PipelineError> {
    if ctx.raster.is_some() {
        // Already decoded (and trimmed) by `step_trim`.
        return Ok(());
    }
    if ctx.info.probe.format == ImageFormat::Svg {
        // Rasterised at the size the resize step needs, bounded by the resolution limit.
        let layout = ctx.layout()?;
        let sx = f64::from(layout.scaled_width) / f64::from(layout.crop.width.max(1));
        let sy = f64::from(layout.scaled_height) / f64::from(layout.crop.height.max(1));
        let scale = sx.max(sy);
        ctx.raster = Some(svg::rasterise(ctx.input, scale, ctx.plan.limits.max_src_resolution)?);
        return Ok(());
    }
    let hint = ctx.layout()?.shrink_hint();
    ctx.raster = Some(decode::decode(ctx.input, &ctx.info, hint, ctx.deadline)?);
    Ok(())
}

/// Crop and resize in one pass, in the stored orientation: the layout's crop is mapped back through
/// the orientation, and onto the (possibly shrunk-on-load) decoded pixels by the decoder's own rule
/// ([`decode::region_on_decoded`]).
fn step_crop_and_resize(ctx: &mut Ctx) -> Result<(), PipelineError> {
    let layout = ctx.layout()?;
    let src = ctx.info.probe;
    let img = ctx.take_raster()?;
    let stored = ctx.orient.rect_to_stored(layout.crop, src.width, src.height);
    let mut region = decode::region_on_decoded(stored, &ctx.info, layout.shrink_hint(), (img.width, img.height));
    let p = &ctx.plan.process;
    let smart = p.crop.and_then(|c| c.gravity).unwrap_or(p.gravity).kind == GravityKind::Smart;
    if smart && p.crop.is_some() && (stored.width < src.width || stored.height < src.height) {
        // `c:w:h:sm`: the window moves to the detail; placed on the decoded pixels, stored orientation.
        let (w, h) = (region.width.round() as u32, region.height.round() as u32);
        let (x, y) = smart::best_window(&img, w, h);
        (region.x, region.y) = (f64::from(x), f64::from(y));
        (region.width, region.height) =
            (region.width.min(f64::from(img.width - x)), region.height.min(f64::from(img.height - y)));
    }
    let (w, h) = ctx.orient.apply_size(layout.scaled_width, layout.scaled_height);
    ctx.raster = Some(resize::crop_resize(img, region, w, h)?);
    Ok(())
}

/// The profile is kept (and embedded after encoding) when `strip_color_profile` is off and the output
/// can carry it, as imgproxy, and it is an RGB one (a grey profile cannot describe our RGB pixels).
fn keeps_profile(ctx: &Ctx) -> bool {
    !ctx.plan.process.strip_color_profile
        && matches!(ctx.format, ImageFormat::Jpeg | ImageFormat::Png)
        && ctx.icc.as_deref().is_some_and(icc::is_rgb)
}

/// Converts an ICC-tagged source to sRGB. Run on the resized image: imgproxy imports the profile
/// before processing, and on gamma-encoded 8-bit pixels resizing first differs by rounding only, at a
/// fraction of the cost; everything after (background, watermark) is then sRGB, as there.
fn step_colour_profile(ctx: &mut Ctx) -> Result<(), PipelineError> {
    if keeps_profile(ctx) {
        return Ok(());
    }
    if let Some(profile) = &ctx.icc {
        let img = ctx.raster.take().ok_or_else(|| missing("pixels"))?;
        ctx.raster = Some(icc::to_srgb(img, profile));
    }
    Ok(())
}

fn step_rotate_and_flip(ctx: &mut Ctx) -> Result<(), PipelineError> {
    let img = ctx.take_raster()?;
    ctx.raster = Some(ctx.orient.apply(img));
    Ok(())
}

fn step_fill_crop(ctx: &mut Ctx) -> Result<(), PipelineError> {
    if let Some(mut r) = ctx.layout()?.result_crop {
        let img = ctx.take_raster()?;
        if ctx.plan.process.gravity.kind == GravityKind::Smart {
            (r.x, r.y) = smart::best_window(&img, r.width, r.height);
        }
        ctx.raster = Some(img.crop(r));
    }
    Ok(())
}

fn step_filters(ctx: &mut Ctx) -> Result<(), PipelineError> {
    let p = &ctx.plan.process;
    let mut img = ctx.take_raster()?;
    img = filters::blur(img, p.blur)?;
    img = filters::sharpen(img, p.sharpen)?;
    img = filters::pixelate(img, p.pixelate);
    ctx.raster = Some(img);
    Ok(())
}

/// Misskey badge: the 96×96 alpha mask (SPEC §3).
fn step_badge(ctx: &mut Ctx) -> Result<(), PipelineError> {
    if ctx.plan.process.badge {
        let img = ctx.take_raster()?;
        ctx.raster = Some(badge::apply_badge(&img)?);
    }
    Ok(())
}

fn step_extend_and_padding(ctx: &mut Ctx) -> Result<(), PipelineError> {
    if let Some(e) = ctx.layout()?.embed {
        let img = ctx.take_raster()?;
        ctx.raster = Some(img.embed(e.width, e.height, e.x, e.y));
    }
    Ok(())
}

/// Flattens onto `background` when one is set or the output format has no alpha (default white).
fn step_flatten(ctx: &mut Ctx) -> Result<(), PipelineError> {
    let bg = ctx.plan.process.background;
    if bg.is_some() || !ctx.format.supports_alpha() {
        let img = ctx.take_raster()?;
        ctx.raster = Some(img.flatten(bg.unwrap_or(Rgb { r: 255, g: 255, b: 255 })));
    }
    Ok(())
}

/// `watermark`: overlays the configured image, when the request asks and one was attached.
fn step_watermark(ctx: &mut Ctx) -> Result<(), PipelineError> {
    let p = &ctx.plan.process;
    let (Some(opts), Some(bytes)) = (p.watermark, p.watermark_image.as_deref()) else { return Ok(()) };
    let dpr = ctx.layout()?.dpr_scale;
    let img = ctx.take_raster()?;
    ctx.raster = Some(watermark::apply(img, bytes, &opts, dpr, &ctx.plan.limits, ctx.deadline)?);
    Ok(())
}

fn step_encode(ctx: &mut Ctx) -> Result<(), PipelineError> {
    let img = ctx.raster.as_ref().ok_or_else(|| missing("pixels"))?;
    ctx.format = negotiate::fit_to_size(ctx.format, img.width, img.height, img.alpha);
    if !ctx.format.supports_alpha() && img.alpha {
        // The tiny-AVIF fallback may pick JPEG after the flatten step ran.
        let bg = ctx.plan.process.background.unwrap_or(Rgb { r: 255, g: 255, b: 255 });
        let flat = ctx.take_raster()?.flatten(bg);
        ctx.raster = Some(flat);
    }
    let img = ctx.raster.as_ref().ok_or_else(|| missing("pixels"))?;
    ctx.bytes = encode::encode(img, ctx.format, &ctx.plan.output)?;
    Ok(())
}

/// Splices the kept profile and the kept EXIF (`strip_metadata`, `keep_copyright`) into the encoded
/// bytes. Runs after `max_bytes` fitting, so a few hundred bytes of metadata may exceed it, as imgproxy.
fn step_metadata(ctx: &mut Ctx) -> Result<(), PipelineError> {
    let icc = ctx.icc.as_deref().filter(|_| keeps_profile(ctx));
    let exif = match ctx.info.probe.format {
        ImageFormat::Jpeg | ImageFormat::Webp => probe::exif_payload(ctx.input, &ctx.info),
        _ => None,
    };
    let exif = exif_out::for_output(exif, &ctx.plan.process);
    let bytes = std::mem::take(&mut ctx.bytes);
    ctx.bytes = match (ctx.format, icc) {
        (ImageFormat::Jpeg, _) if icc.is_some() || exif.is_some() => metadata::embed_jpeg(bytes, icc, exif.as_deref()),
        (ImageFormat::Png, Some(icc)) => metadata::embed_png_icc(bytes, icc),
        _ => bytes,
    };
    Ok(())
}

#[cfg(test)]
pub(crate) mod test_util {
    /// Milliseconds taken by each of `runs` calls of `f`, sorted (timing probes only, never assertions).
    pub(crate) fn times_ms(runs: usize, mut f: impl FnMut()) -> Vec<f64> {
        let mut times: Vec<f64> = (0..runs)
            .map(|_| {
                let start = std::time::Instant::now();
                f();
                start.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        times.sort_by(f64::total_cmp);
        times
    }

    /// The middle value of `times` (any order).
    pub(crate) fn median(mut times: Vec<f64>) -> f64 {
        times.sort_by(f64::total_cmp);
        times.get(times.len() / 2).copied().unwrap_or(f64::NAN)
    }

    /// Reads a corpus file in place (`$CORPUS_DIR`, else `../shared/corpus` beside the checkout; never copied
    /// into the repository). Looked up when the test runs, not compiled in, so a build cache reused from a
    /// checkout at another path still finds the corpus.
    pub(crate) fn corpus(path: &str) -> Vec<u8> {
        let dir = std::env::var("CORPUS_DIR").unwrap_or_else(|_| {
            let root = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").into());
            format!("{root}/../shared/corpus")
        });
        let full = format!("{dir}/{path}");
        std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
    }

    use super::{run, Output, Plan};
    use crate::plan::{Limits, OutputRules, Processing, ResponsePolicy, SourceRef};
    use std::time::{Duration, Instant};

    /// A plan for a local test source with default limits and response policy.
    pub(crate) fn plan(process: Processing, output: OutputRules) -> Plan {
        let source = SourceRef::Local("/test".into());
        Plan { source, process, output, limits: Limits::default(), response: ResponsePolicy::default() }
    }

    /// A deadline no test reaches.
    pub(crate) fn later() -> Instant {
        Instant::now() + Duration::from_secs(60)
    }

    /// Runs the pipeline, failing the test on an error.
    pub(crate) fn run_ok(p: &Plan, input: &[u8]) -> Output {
        run(p, input, later()).unwrap_or_else(|e| panic!("run failed: {e}"))
    }

    /// Decodes a result with the `image` crate, checking the reported size is the real one.
    pub(crate) fn decoded(out: &Output) -> image::RgbaImage {
        let img = image::load_from_memory(&out.bytes).expect("result decodes");
        assert_eq!((img.width(), img.height()), (out.width, out.height), "reported size is the real size");
        img.into_rgba8()
    }

    /// Encodes a generated image as PNG, to feed the pipeline.
    pub(crate) fn png_of(img: &image::RgbaImage) -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).expect("png");
        out.into_inner()
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
#[path = "feature_tests.rs"]
mod feature_tests;
