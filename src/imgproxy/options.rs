//! The option table: one entry per logical imgproxy option with all its names, each parsing its
//! arguments into the typed [`RawOptions`] (SPEC §2 "Options"; imgproxy 3.x
//! `options/processing_options.go`).
//!
//! Options apply in order and later ones override earlier ones field by field, as imgproxy's option
//! keys do. Values that fall back to configuration stay `Option`s here; `compile.rs` fills them in.
//! This module knows nothing of presets, allow-lists or signatures (`segments.rs`), nor of the plan.

use super::args::{self, invalid, ArgResult, GravityUse};
use crate::plan::{Crop, Extend, Gravity, ImageFormat, Padding, ResizeType, Rgb, Trim};

/// Everything the URL (and its presets) said, before configuration defaults are applied.
#[derive(Clone, Debug, PartialEq)]
pub struct RawOptions {
    /// `rt`.
    pub resize_type: ResizeType,
    /// `w`.
    pub width: u32,
    /// `h`.
    pub height: u32,
    /// `mw`.
    pub min_width: u32,
    /// `mh`.
    pub min_height: u32,
    /// `z` (first argument).
    pub zoom_x: f64,
    /// `z` (second argument, or the first).
    pub zoom_y: f64,
    /// `dpr`.
    pub dpr: f64,
    /// `el`.
    pub enlarge: bool,
    /// `ex`.
    pub extend: Extend,
    /// `exar`.
    pub extend_aspect_ratio: Extend,
    /// `g`.
    pub gravity: Gravity,
    /// `c`; `None` until written.
    pub crop: Option<Crop>,
    /// `t`; `None` when no threshold is set.
    pub trim: Option<Trim>,
    /// `pd`.
    pub padding: Padding,
    /// `ar`; `None` = `IMGPROXY_AUTO_ROTATE`.
    pub auto_rotate: Option<bool>,
    /// `rot`, normalised into 0..360.
    pub rotate: u16,
    /// `fl` (first argument).
    pub flip_horizontal: bool,
    /// `fl` (second argument).
    pub flip_vertical: bool,
    /// `bg`.
    pub background: Option<Rgb>,
    /// `bl`; 0 = none.
    pub blur: f32,
    /// `sh`; 0 = none.
    pub sharpen: f32,
    /// `pix`; 0 = none.
    pub pixelate: u32,
    /// `wm` opacity; 0 = no watermark.
    pub watermark_opacity: f64,
    /// `wm` position `re`.
    pub watermark_replicate: bool,
    /// `wm` position and offsets.
    pub watermark_gravity: Gravity,
    /// `wm` scale; 0 = the watermark's own size.
    pub watermark_scale: f64,
    /// `sm`; `None` = `IMGPROXY_STRIP_METADATA`.
    pub strip_metadata: Option<bool>,
    /// `kcr`; `None` = `IMGPROXY_KEEP_COPYRIGHT`.
    pub keep_copyright: Option<bool>,
    /// `scp`; `None` = `IMGPROXY_STRIP_COLOR_PROFILE`.
    pub strip_color_profile: Option<bool>,
    /// `eth`: accepted for compatibility; we never use embedded thumbnails, so it has no effect.
    pub enforce_thumbnail: bool,
    /// `q`; 0 = unset.
    pub quality: u8,
    /// `fq` pairs in the order written.
    pub format_quality: Vec<(ImageFormat, u8)>,
    /// `mb`; 0 = no limit.
    pub max_bytes: u64,
    /// `f` / `ext`.
    pub format: Option<ImageFormat>,
    /// `skp`, accumulated.
    pub skip_processing: Vec<ImageFormat>,
    /// `raw`.
    pub raw: bool,
    /// `cb`.
    pub cachebuster: Option<String>,
    /// `exp` as written; checked against the clock in `compile.rs`.
    pub expires: Option<i64>,
    /// `fn`, decoded.
    pub filename: Option<String>,
    /// `att`; `None` = `IMGPROXY_RETURN_ATTACHMENT`.
    pub return_attachment: Option<bool>,
    /// `msr`, in pixels.
    pub max_src_resolution: Option<u64>,
    /// `msfs`, in bytes.
    pub max_src_file_size: Option<u64>,
    /// `maf`.
    pub max_animation_frames: Option<u32>,
    /// `mafr`, in pixels.
    pub max_animation_frame_resolution: Option<u64>,
    /// `mrd`.
    pub max_result_dimension: Option<u32>,
    /// Presets applied, in order (for logs and tests).
    pub used_presets: Vec<String>,
}

impl Default for RawOptions {
    /// imgproxy's defaults for everything the URL may leave out.
    fn default() -> Self {
        RawOptions {
            resize_type: ResizeType::Fit,
            width: 0,
            height: 0,
            min_width: 0,
            min_height: 0,
            zoom_x: 1.0,
            zoom_y: 1.0,
            dpr: 1.0,
            enlarge: false,
            extend: Extend::default(),
            extend_aspect_ratio: Extend::default(),
            gravity: Gravity::default(),
            crop: None,
            trim: None,
            padding: Padding::default(),
            auto_rotate: None,
            rotate: 0,
            flip_horizontal: false,
            flip_vertical: false,
            background: None,
            blur: 0.0,
            sharpen: 0.0,
            pixelate: 0,
            watermark_opacity: 0.0,
            watermark_replicate: false,
            watermark_gravity: Gravity::default(),
            watermark_scale: 0.0,
            strip_metadata: None,
            keep_copyright: None,
            strip_color_profile: None,
            enforce_thumbnail: false,
            quality: 0,
            format_quality: Vec::new(),
            max_bytes: 0,
            format: None,
            skip_processing: Vec::new(),
            raw: false,
            cachebuster: None,
            expires: None,
            filename: None,
            return_attachment: None,
            max_src_resolution: None,
            max_src_file_size: None,
            max_animation_frames: None,
            max_animation_frame_resolution: None,
            max_result_dimension: None,
            used_presets: Vec::new(),
        }
    }
}

/// Parses one option's arguments into the raw options.
pub type ApplyFn = fn(&mut RawOptions, &[&str]) -> ArgResult<()>;

/// What kind of option an entry is; decides which gate `segments.rs` applies before parsing.
#[derive(Clone, Copy)]
pub enum OptionKind {
    /// An ordinary processing option.
    Plain(ApplyFn),
    /// Needs `IMGPROXY_ALLOW_SECURITY_OPTIONS`.
    Security(ApplyFn),
    /// `preset`: expanded by `segments.rs`, which knows the configured presets.
    Preset,
}

/// One logical option: its names (canonical long name first) and how it parses.
pub struct OptionDef {
    /// Every name the option answers to; `names[0]` is the canonical one.
    pub names: &'static [&'static str],
    /// Parser and gate.
    pub kind: OptionKind,
}

use OptionKind::{Plain, Security};

/// Every imgproxy OSS 3.x processing option. Pro-only names (`page`, `adjust`, `watermark_text`, …)
/// are deliberately absent, so they are refused as unknown, as OSS imgproxy does.
pub const OPTIONS: &[OptionDef] = &[
    OptionDef { names: &["resize", "rs"], kind: Plain(apply_resize) },
    OptionDef { names: &["size", "s"], kind: Plain(apply_size) },
    OptionDef { names: &["resizing_type", "rt"], kind: Plain(apply_resizing_type) },
    OptionDef { names: &["width", "w"], kind: Plain(|o, a| set(&mut o.width, args::non_negative(args::single(a)?))) },
    OptionDef { names: &["height", "h"], kind: Plain(|o, a| set(&mut o.height, args::non_negative(args::single(a)?))) },
    OptionDef {
        names: &["min-width", "mw"],
        kind: Plain(|o, a| set(&mut o.min_width, args::non_negative(args::single(a)?))),
    },
    OptionDef {
        names: &["min-height", "mh"],
        kind: Plain(|o, a| set(&mut o.min_height, args::non_negative(args::single(a)?))),
    },
    OptionDef { names: &["zoom", "z"], kind: Plain(apply_zoom) },
    OptionDef { names: &["dpr"], kind: Plain(|o, a| set(&mut o.dpr, args::positive_float(args::single(a)?))) },
    OptionDef {
        names: &["enlarge", "el"],
        kind: Plain(|o, a| set(&mut o.enlarge, Ok(args::parse_bool(args::single(a)?)))),
    },
    OptionDef { names: &["extend", "ex"], kind: Plain(|o, a| apply_extend(&mut o.extend, a)) },
    OptionDef {
        names: &["extend_aspect_ratio", "extend_ar", "exar"],
        kind: Plain(|o, a| apply_extend(&mut o.extend_aspect_ratio, a)),
    },
    OptionDef { names: &["gravity", "g"], kind: Plain(apply_gravity) },
    OptionDef { names: &["crop", "c"], kind: Plain(apply_crop) },
    OptionDef { names: &["trim", "t"], kind: Plain(apply_trim) },
    OptionDef { names: &["padding", "pd"], kind: Plain(apply_padding) },
    OptionDef { names: &["auto_rotate", "ar"], kind: Plain(|o, a| set_flag(&mut o.auto_rotate, a)) },
    OptionDef { names: &["rotate", "rot"], kind: Plain(apply_rotate) },
    OptionDef { names: &["flip", "fl"], kind: Plain(apply_flip) },
    OptionDef { names: &["background", "bg"], kind: Plain(apply_background) },
    OptionDef { names: &["blur", "bl"], kind: Plain(|o, a| set(&mut o.blur, sigma(a))) },
    OptionDef { names: &["sharpen", "sh"], kind: Plain(|o, a| set(&mut o.sharpen, sigma(a))) },
    OptionDef {
        names: &["pixelate", "pix"],
        kind: Plain(|o, a| set(&mut o.pixelate, args::non_negative(args::single(a)?))),
    },
    OptionDef { names: &["watermark", "wm"], kind: Plain(apply_watermark) },
    OptionDef { names: &["strip_metadata", "sm"], kind: Plain(|o, a| set_flag(&mut o.strip_metadata, a)) },
    OptionDef { names: &["keep_copyright", "kcr"], kind: Plain(|o, a| set_flag(&mut o.keep_copyright, a)) },
    OptionDef { names: &["strip_color_profile", "scp"], kind: Plain(|o, a| set_flag(&mut o.strip_color_profile, a)) },
    OptionDef {
        names: &["enforce_thumbnail", "eth"],
        kind: Plain(|o, a| set(&mut o.enforce_thumbnail, Ok(args::parse_bool(args::single(a)?)))),
    },
    OptionDef { names: &["quality", "q"], kind: Plain(|o, a| set(&mut o.quality, args::quality(args::single(a)?))) },
    OptionDef { names: &["format_quality", "fq"], kind: Plain(apply_format_quality) },
    OptionDef {
        names: &["max_bytes", "mb"],
        kind: Plain(|o, a| set(&mut o.max_bytes, args::non_negative(args::single(a)?))),
    },
    OptionDef {
        names: &["format", "f", "ext"],
        kind: Plain(|o, a| set(&mut o.format, args::format(args::single(a)?).map(Some))),
    },
    OptionDef { names: &["skip_processing", "skp"], kind: Plain(apply_skip_processing) },
    OptionDef { names: &["raw"], kind: Plain(|o, a| set(&mut o.raw, Ok(args::parse_bool(args::single(a)?)))) },
    OptionDef {
        names: &["cachebuster", "cb"],
        kind: Plain(|o, a| set(&mut o.cachebuster, Ok(Some(args::single(a)?.to_string()).filter(|s| !s.is_empty())))),
    },
    OptionDef {
        names: &["expires", "exp"],
        kind: Plain(|o, a| set(&mut o.expires, args::integer(args::single(a)?).map(Some))),
    },
    OptionDef { names: &["filename", "fn"], kind: Plain(apply_filename) },
    OptionDef { names: &["return_attachment", "att"], kind: Plain(|o, a| set_flag(&mut o.return_attachment, a)) },
    OptionDef { names: &["preset", "pr"], kind: OptionKind::Preset },
    OptionDef {
        names: &["max_src_resolution", "msr"],
        kind: Security(|o, a| set(&mut o.max_src_resolution, args::megapixels(args::single(a)?).map(Some))),
    },
    OptionDef {
        names: &["max_src_file_size", "msfs"],
        kind: Security(|o, a| set(&mut o.max_src_file_size, args::non_negative(args::single(a)?).map(Some))),
    },
    OptionDef {
        names: &["max_animation_frames", "maf"],
        kind: Security(|o, a| set(&mut o.max_animation_frames, args::positive_int(args::single(a)?).map(Some))),
    },
    OptionDef {
        names: &["max_animation_frame_resolution", "mafr"],
        kind: Security(|o, a| set(&mut o.max_animation_frame_resolution, args::megapixels(args::single(a)?).map(Some))),
    },
    OptionDef {
        names: &["max_result_dimension", "mrd"],
        kind: Security(|o, a| set(&mut o.max_result_dimension, args::non_negative(args::single(a)?).map(Some))),
    },
];

/// The table entry answering to `name`, if any.
pub fn lookup(name: &str) -> Option<&'static OptionDef> {
    OPTIONS.iter().find(|def| def.names.contains(&name))
}

fn set<T>(field: &mut T, value: ArgResult<T>) -> ArgResult<()> {
    *field = value?;
    Ok(())
}

fn set_flag(field: &mut Option<bool>, a: &[&str]) -> ArgResult<()> {
    *field = Some(args::parse_bool(args::single(a)?));
    Ok(())
}

/// Blur and sharpen sigma. imgproxy 3.x accepts 0 (off), which lets a URL undo a preset's blur.
fn sigma(a: &[&str]) -> ArgResult<f32> {
    let s = args::non_negative_float(args::single(a)?)? as f32;
    // A value beyond f32 would reach the pipeline as infinity.
    if !s.is_finite() {
        return invalid("sigma is too large");
    }
    Ok(s)
}

fn resize_type(s: &str) -> ArgResult<ResizeType> {
    Ok(match s {
        "fit" => ResizeType::Fit,
        "fill" => ResizeType::Fill,
        "fill-down" => ResizeType::FillDown,
        "force" => ResizeType::Force,
        "auto" => ResizeType::Auto,
        _ => return invalid(format!("`{s}` is not a resizing type")),
    })
}

fn apply_resizing_type(o: &mut RawOptions, a: &[&str]) -> ArgResult<()> {
    o.resize_type = resize_type(args::single(a)?)?;
    Ok(())
}

/// `rs:type:w:h:enlarge:extend[:gravity…]`; empty arguments keep earlier values.
fn apply_resize(o: &mut RawOptions, a: &[&str]) -> ArgResult<()> {
    args::max_args(a, 8)?;
    if !args::first(a).is_empty() {
        o.resize_type = resize_type(args::first(a))?;
    }
    match a.get(1..) {
        Some(rest) if !rest.is_empty() => apply_size(o, rest),
        _ => Ok(()),
    }
}

/// `s:w:h:enlarge:extend[:gravity…]`; empty arguments keep earlier values.
fn apply_size(o: &mut RawOptions, a: &[&str]) -> ArgResult<()> {
    args::max_args(a, 7)?;
    let present = |i: usize| a.get(i).copied().filter(|s| !s.is_empty());
    if let Some(w) = present(0) {
        o.width = args::non_negative(w)?;
    }
    if let Some(h) = present(1) {
        o.height = args::non_negative(h)?;
    }
    if let Some(e) = present(2) {
        o.enlarge = args::parse_bool(e);
    }
    match (present(3), a.get(3..)) {
        (Some(_), Some(extend)) => apply_extend(&mut o.extend, extend),
        _ => Ok(()),
    }
}

fn apply_zoom(o: &mut RawOptions, a: &[&str]) -> ArgResult<()> {
    args::max_args(a, 2)?;
    let x = args::positive_float(args::first(a))?;
    let y = match a.get(1) {
        Some(y) => args::positive_float(y)?,
        None => x,
    };
    (o.zoom_x, o.zoom_y) = (x, y);
    Ok(())
}

/// `ex:enabled[:gravity[:x[:y]]]` (also `exar`).
fn apply_extend(extend: &mut Extend, a: &[&str]) -> ArgResult<()> {
    args::max_args(a, 4)?;
    extend.enabled = args::parse_bool(args::first(a));
    if let Some(gravity) = a.get(1..).filter(|g| !g.is_empty()) {
        let current = extend.gravity.unwrap_or_default();
        extend.gravity = Some(args::gravity(current, gravity, GravityUse::Extend)?);
    }
    Ok(())
}

fn apply_gravity(o: &mut RawOptions, a: &[&str]) -> ArgResult<()> {
    o.gravity = args::gravity(o.gravity, a, GravityUse::Crop)?;
    Ok(())
}

/// `c:w[:h[:gravity…]]`: sizes ≥ 1 are pixels, < 1 fractions, 0 the full side (SPEC §2).
fn apply_crop(o: &mut RawOptions, a: &[&str]) -> ArgResult<()> {
    let mut crop = o.crop.unwrap_or(Crop { width: 0.0, height: 0.0, gravity: None });
    crop.width = args::non_negative_float(args::first(a))?;
    if let Some(h) = a.get(1) {
        crop.height = args::non_negative_float(h)?;
    }
    if let Some(gravity) = a.get(2..).filter(|g| !g.is_empty()) {
        let current = crop.gravity.unwrap_or_default();
        crop.gravity = Some(args::gravity(current, gravity, GravityUse::Crop)?);
    }
    o.crop = Some(crop);
    Ok(())
}

/// `t:threshold[:color[:equal_hor[:equal_ver]]]`; an empty threshold turns trimming off.
fn apply_trim(o: &mut RawOptions, a: &[&str]) -> ArgResult<()> {
    args::max_args(a, 4)?;
    let threshold = args::first(a);
    if threshold.is_empty() {
        o.trim = None;
        return Ok(());
    }
    let mut trim = o.trim.unwrap_or(Trim { threshold: 0.0, color: None, equal_hor: false, equal_ver: false });
    trim.threshold = args::float(threshold)?;
    trim.color = match a.get(1).filter(|c| !c.is_empty()) {
        Some(c) => Some(args::hex_color(c)?),
        None => None,
    };
    if let Some(h) = a.get(2).filter(|s| !s.is_empty()) {
        trim.equal_hor = args::parse_bool(h);
    }
    if let Some(v) = a.get(3).filter(|s| !s.is_empty()) {
        trim.equal_ver = args::parse_bool(v);
    }
    o.trim = Some(trim);
    Ok(())
}

/// `pd:top[:right[:bottom[:left]]]` in CSS order: a missing right copies top, bottom copies top,
/// left copies right (as imgproxy `applyPaddingOption`).
fn apply_padding(o: &mut RawOptions, a: &[&str]) -> ArgResult<()> {
    args::max_args(a, 4)?;
    let side = |i: usize| a.get(i).copied().filter(|s| !s.is_empty()).map(args::non_negative::<u32>).transpose();
    let mut p = o.padding;
    if let Some(top) = side(0)? {
        p.top = top;
    }
    p.right = side(1)?.unwrap_or(p.top);
    p.bottom = side(2)?.unwrap_or(p.top);
    p.left = side(3)?.unwrap_or(p.right);
    o.padding = p;
    Ok(())
}

/// `rot:angle`: multiples of 90 only (imgproxy refuses others), normalised so -90 is 270.
fn apply_rotate(o: &mut RawOptions, a: &[&str]) -> ArgResult<()> {
    let angle = args::integer(args::single(a)?)?;
    if angle % 90 != 0 {
        return invalid("rotation angle must be a multiple of 90");
    }
    o.rotate = u16::try_from(angle.rem_euclid(360)).unwrap_or_default();
    Ok(())
}

/// `fl:horizontal[:vertical]`.
fn apply_flip(o: &mut RawOptions, a: &[&str]) -> ArgResult<()> {
    args::max_args(a, 2)?;
    if !args::first(a).is_empty() {
        o.flip_horizontal = args::parse_bool(args::first(a));
    }
    if let Some(v) = a.get(1).filter(|s| !s.is_empty()) {
        o.flip_vertical = args::parse_bool(v);
    }
    Ok(())
}

/// `bg:R:G:B` or `bg:hex`; `bg:` (empty) removes the background.
fn apply_background(o: &mut RawOptions, a: &[&str]) -> ArgResult<()> {
    o.background = match a {
        [""] => None,
        [hex] => Some(args::hex_color(hex)?),
        [r, g, b] => Some(Rgb { r: channel(r)?, g: channel(g)?, b: channel(b)? }),
        _ => return invalid("expected R:G:B or a hex colour"),
    };
    Ok(())
}

fn channel(s: &str) -> ArgResult<u8> {
    s.parse().or_else(|_| invalid(format!("`{s}` is not a colour channel in 0..=255")))
}

/// `wm:opacity[:position[:x[:y[:scale]]]]`; position is a compass gravity or `re` (replicate).
fn apply_watermark(o: &mut RawOptions, a: &[&str]) -> ArgResult<()> {
    // OSS imgproxy accepts up to 7 arguments and ignores the last two (Pro-only); so do we.
    args::max_args(a, 7)?;
    let opacity = args::float(args::first(a))?;
    if !(0.0..=1.0).contains(&opacity) {
        return invalid(format!("opacity `{opacity}` is outside 0..=1"));
    }
    o.watermark_opacity = opacity;
    let present = |i: usize| a.get(i).copied().filter(|s| !s.is_empty());
    if let Some(position) = present(1) {
        o.watermark_replicate = position == "re";
        if !o.watermark_replicate {
            let kind = args::compass(position)
                .ok_or_else(|| args::ArgError::Invalid(format!("`{position}` is not a watermark position")))?;
            o.watermark_gravity.kind = kind;
        }
    }
    if let Some(x) = present(2) {
        o.watermark_gravity.x = args::float(x)?;
    }
    if let Some(y) = present(3) {
        o.watermark_gravity.y = args::float(y)?;
    }
    if let Some(scale) = present(4) {
        o.watermark_scale = args::non_negative_float(scale)?;
    }
    Ok(())
}

/// `fq:fmt:q[:fmt:q…]`; a quality of 0 means "no override" and is dropped.
fn apply_format_quality(o: &mut RawOptions, a: &[&str]) -> ArgResult<()> {
    if a.len() % 2 != 0 {
        return invalid("expected format:quality pairs");
    }
    for pair in a.chunks_exact(2) {
        let (name, q) = (args::first(pair), pair.get(1).copied().unwrap_or_default());
        let format = args::format(name).or_else(|_| invalid(format!("`{name}` is not a format")))?;
        let q = args::quality(q)?;
        if q > 0 {
            o.format_quality.push((format, q));
        }
    }
    Ok(())
}

fn apply_skip_processing(o: &mut RawOptions, a: &[&str]) -> ArgResult<()> {
    for name in a {
        let format = args::format(name).or_else(|_| invalid(format!("`{name}` is not a format")))?;
        o.skip_processing.push(format);
    }
    Ok(())
}

/// `fn:name[:encoded]`: with a true second argument the name is base64url (as imgproxy); otherwise
/// percent-escapes are decoded so `my%20photo` names `my photo`.
fn apply_filename(o: &mut RawOptions, a: &[&str]) -> ArgResult<()> {
    use base64::Engine;
    args::max_args(a, 2)?;
    let raw = args::first(a);
    let name = if a.get(1).is_some_and(|e| args::parse_bool(e)) {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(raw.trim_end_matches('='))
            .or_else(|e| invalid(format!("bad base64 ({e})")))?;
        String::from_utf8(bytes).or_else(|_| invalid("filename is not UTF-8"))?
    } else {
        percent_encoding::percent_decode_str(raw).decode_utf8_lossy().into_owned()
    };
    o.filename = Some(name).filter(|n| !n.is_empty());
    Ok(())
}
