//! The dialect-neutral description of one request's work.
//!
//! Both URL dialects (imgproxy paths, Misskey queries) compile to a [`Plan`]; after that nothing in the
//! program looks at a URL, an option string or an environment variable again. A plan is plain data: it
//! says *what* to do (which source, which geometry, which output rules, which limits, which response
//! headers), never *how*. This module imports nothing of ours (DESIGN.md "The shape in one picture").

use std::fmt;

/// Everything one request asks for, settled before any I/O.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Where the source bytes come from.
    pub source: SourceRef,
    /// What to do to the pixels, in imgproxy's vocabulary (the richer of the two dialects).
    pub process: Processing,
    /// How to choose and tune the output format.
    pub output: OutputRules,
    /// Limits checked before the expensive work (probe, download, frames).
    pub limits: Limits,
    /// Cache, disposition and CORS policy for the response.
    pub response: ResponsePolicy,
}

/// A source location. The scheme decides which fetcher handles it (`src/source/`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SourceRef {
    /// `http://` or `https://`.
    Http(url::Url),
    /// `s3://bucket/key[?versionId]`.
    S3 {
        /// Bucket name.
        bucket: String,
        /// Object key, percent-decoded.
        key: String,
        /// Optional object version.
        version_id: Option<String>,
    },
    /// `local:///path`, relative to the configured filesystem root; percent-decoded, not yet checked.
    Local(String),
}

impl fmt::Display for SourceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceRef::Http(url) => write!(f, "{url}"),
            SourceRef::S3 { bucket, key, version_id: Some(v) } => write!(f, "s3://{bucket}/{key}?{v}"),
            SourceRef::S3 { bucket, key, version_id: None } => write!(f, "s3://{bucket}/{key}"),
            SourceRef::Local(path) => write!(f, "local://{path}"),
        }
    }
}

impl SourceRef {
    /// The last path segment of the source, used as the default download file name stem.
    pub fn file_stem(&self) -> String {
        let path = match self {
            SourceRef::Http(url) => url.path().to_string(),
            SourceRef::S3 { key, .. } => key.clone(),
            SourceRef::Local(path) => path.clone(),
        };
        let last = path.rsplit('/').next().unwrap_or("");
        let last = percent_decode_lossy(last);
        let stem = match last.rfind('.') {
            Some(0) | None => last.as_str(),
            Some(dot) => &last[..dot],
        };
        if stem.is_empty() {
            "image".to_string()
        } else {
            stem.to_string()
        }
    }

    /// The host name for logs; `None` for local files.
    pub fn host(&self) -> Option<String> {
        match self {
            SourceRef::Http(url) => url.host_str().map(str::to_string),
            SourceRef::S3 { bucket, .. } => Some(format!("s3:{bucket}")),
            SourceRef::Local(_) => None,
        }
    }
}

fn percent_decode_lossy(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// Image formats we can recognise; `can_encode` tells which we can write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ImageFormat {
    /// JPEG / JFIF.
    Jpeg,
    /// PNG (and APNG).
    Png,
    /// WebP, lossy or lossless, still or animated.
    Webp,
    /// AVIF (AV1 in HEIF).
    Avif,
    /// GIF, still or animated.
    Gif,
    /// Windows bitmap.
    Bmp,
    /// Windows icon.
    Ico,
    /// TIFF.
    Tiff,
    /// SVG; always rasterised, never served raw (SPEC §2 "SVG").
    Svg,
    /// HEIC/HEIF (recognised so it can be refused cleanly).
    Heic,
}

impl ImageFormat {
    /// Every format, for tables and tests.
    pub const ALL: [ImageFormat; 10] = [
        ImageFormat::Jpeg,
        ImageFormat::Png,
        ImageFormat::Webp,
        ImageFormat::Avif,
        ImageFormat::Gif,
        ImageFormat::Bmp,
        ImageFormat::Ico,
        ImageFormat::Tiff,
        ImageFormat::Svg,
        ImageFormat::Heic,
    ];

    /// Parses an extension or imgproxy format name (`jpg`, `jpeg`, `webp`, `tif`, …), case-insensitively.
    pub fn from_extension(ext: &str) -> Option<ImageFormat> {
        Some(match ext.to_ascii_lowercase().as_str() {
            "jpg" | "jpeg" | "jfif" => ImageFormat::Jpeg,
            "png" | "apng" => ImageFormat::Png,
            "webp" => ImageFormat::Webp,
            "avif" => ImageFormat::Avif,
            "gif" => ImageFormat::Gif,
            "bmp" => ImageFormat::Bmp,
            "ico" => ImageFormat::Ico,
            "tif" | "tiff" => ImageFormat::Tiff,
            "svg" => ImageFormat::Svg,
            "heic" | "heif" => ImageFormat::Heic,
            _ => return None,
        })
    }

    /// The canonical file extension.
    pub fn extension(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "jpg",
            ImageFormat::Png => "png",
            ImageFormat::Webp => "webp",
            ImageFormat::Avif => "avif",
            ImageFormat::Gif => "gif",
            ImageFormat::Bmp => "bmp",
            ImageFormat::Ico => "ico",
            ImageFormat::Tiff => "tiff",
            ImageFormat::Svg => "svg",
            ImageFormat::Heic => "heic",
        }
    }

    /// The MIME type sent as `Content-Type`.
    pub fn mime(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "image/jpeg",
            ImageFormat::Png => "image/png",
            ImageFormat::Webp => "image/webp",
            ImageFormat::Avif => "image/avif",
            ImageFormat::Gif => "image/gif",
            ImageFormat::Bmp => "image/bmp",
            ImageFormat::Ico => "image/x-icon",
            ImageFormat::Tiff => "image/tiff",
            ImageFormat::Svg => "image/svg+xml",
            ImageFormat::Heic => "image/heif",
        }
    }

    /// Whether the encoder can write an alpha channel.
    pub fn supports_alpha(self) -> bool {
        !matches!(self, ImageFormat::Jpeg | ImageFormat::Bmp)
    }

    /// Whether the format can hold several frames that we can write.
    pub fn supports_animation(self) -> bool {
        matches!(self, ImageFormat::Gif | ImageFormat::Webp)
    }

    /// Whether we have an encoder for it.
    pub fn can_encode(self) -> bool {
        matches!(self, ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::Webp | ImageFormat::Avif | ImageFormat::Gif)
    }
}

impl fmt::Display for ImageFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.extension())
    }
}

/// imgproxy's resizing types (`rt`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ResizeType {
    /// Fit inside the box, keeping the aspect ratio.
    #[default]
    Fit,
    /// Fill the box, cropping the overflow by gravity.
    Fill,
    /// Like fill, but never upscales: the box shrinks to keep the aspect ratio.
    FillDown,
    /// Stretch to the exact box.
    Force,
    /// Fill when source and box share an orientation, fit otherwise.
    Auto,
}

/// Where a crop, extend or watermark is anchored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GravityKind {
    /// Centre (`ce`).
    #[default]
    Center,
    /// Top edge (`no`).
    North,
    /// Bottom edge (`so`).
    South,
    /// Right edge (`ea`).
    East,
    /// Left edge (`we`).
    West,
    /// Top-right (`noea`).
    NorthEast,
    /// Top-left (`nowe`).
    NorthWest,
    /// Bottom-right (`soea`).
    SouthEast,
    /// Bottom-left (`sowe`).
    SouthWest,
    /// Focus point (`fp:x:y`), coordinates in `x`/`y` as fractions 0..=1.
    FocusPoint,
    /// Smart (`sm`): the most detailed region.
    Smart,
}

/// A gravity with its offsets. For compass gravities `x`/`y` are offsets (≥1 pixels, <1 fractions of
/// the result); for [`GravityKind::FocusPoint`] they are the point as fractions of the source.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Gravity {
    /// The anchor.
    pub kind: GravityKind,
    /// Horizontal offset or focus x.
    pub x: f64,
    /// Vertical offset or focus y.
    pub y: f64,
}

/// An 8-bit RGB colour.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Rgb {
    /// Red.
    pub r: u8,
    /// Green.
    pub g: u8,
    /// Blue.
    pub b: u8,
}

/// `crop`: a region cut before resizing. Sizes ≥1 are pixels, <1 fractions, 0 the full side.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Crop {
    /// Width (pixels, fraction, or 0 for full).
    pub width: f64,
    /// Height (pixels, fraction, or 0 for full).
    pub height: f64,
    /// Anchor; `None` uses the plan's gravity.
    pub gravity: Option<Gravity>,
}

/// `extend` / `extend_aspect_ratio`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Extend {
    /// Whether to extend at all.
    pub enabled: bool,
    /// Where the image sits inside the extended canvas (default centre).
    pub gravity: Option<Gravity>,
}

/// `trim`: remove a uniform border.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Trim {
    /// Colour distance threshold.
    pub threshold: f64,
    /// Border colour; `None` takes the top-left pixel.
    pub color: Option<Rgb>,
    /// Trim left and right equally.
    pub equal_hor: bool,
    /// Trim top and bottom equally.
    pub equal_ver: bool,
}

/// `padding` in CSS order, in pixels before `dpr` scaling.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Padding {
    /// Top.
    pub top: u32,
    /// Right.
    pub right: u32,
    /// Bottom.
    pub bottom: u32,
    /// Left.
    pub left: u32,
}

impl Padding {
    /// True when no side is padded.
    pub fn is_zero(&self) -> bool {
        self.top == 0 && self.right == 0 && self.bottom == 0 && self.left == 0
    }
}

/// Where a watermark goes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum WatermarkPosition {
    /// At a gravity with offsets.
    Gravity(Gravity),
    /// Tiled over the whole image (`re`).
    Replicate,
}

/// `watermark`: overlay the configured watermark image.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Watermark {
    /// 0..=1, multiplied by the configured opacity.
    pub opacity: f64,
    /// Placement.
    pub position: WatermarkPosition,
    /// Scale relative to the result width; 0 keeps the watermark's own size.
    pub scale: f64,
}

/// What to do to the pixels. Defaults are imgproxy's.
#[derive(Clone, Debug, PartialEq)]
pub struct Processing {
    /// Resizing type.
    pub resize_type: ResizeType,
    /// Target width; 0 = derived from the aspect ratio.
    pub width: u32,
    /// Target height; 0 = derived from the aspect ratio.
    pub height: u32,
    /// Lower bound on the result width.
    pub min_width: u32,
    /// Lower bound on the result height.
    pub min_height: u32,
    /// Horizontal zoom factor (1 = none).
    pub zoom_x: f64,
    /// Vertical zoom factor (1 = none).
    pub zoom_y: f64,
    /// Device pixel ratio: multiplies sizes, paddings and offsets.
    pub dpr: f64,
    /// Allow upscaling raster sources.
    pub enlarge: bool,
    /// Extend the canvas to the requested size.
    pub extend: Extend,
    /// Extend the canvas to the requested aspect ratio.
    pub extend_aspect_ratio: Extend,
    /// Gravity for fill crops.
    pub gravity: Gravity,
    /// Crop before resize.
    pub crop: Option<Crop>,
    /// Trim borders first.
    pub trim: Option<Trim>,
    /// Padding added last.
    pub padding: Padding,
    /// Apply the EXIF orientation.
    pub auto_rotate: bool,
    /// Extra rotation, a multiple of 90 in 0..360.
    pub rotate: u16,
    /// Mirror horizontally.
    pub flip_horizontal: bool,
    /// Mirror vertically.
    pub flip_vertical: bool,
    /// Background for flattening alpha and for extend/padding; `None` = white when needed.
    pub background: Option<Rgb>,
    /// Gaussian blur sigma; 0 = none.
    pub blur: f32,
    /// Sharpen sigma; 0 = none.
    pub sharpen: f32,
    /// Pixelate block size; 0 = none.
    pub pixelate: u32,
    /// Watermark overlay.
    pub watermark: Option<Watermark>,
    /// Drop metadata from the result.
    pub strip_metadata: bool,
    /// Keep copyright fields when stripping.
    pub keep_copyright: bool,
    /// Convert to sRGB and drop the ICC profile.
    pub strip_color_profile: bool,
    /// Misskey badge: a 96×96 monochrome alpha mask.
    pub badge: bool,
    /// SVG may be enlarged past its nominal size (imgproxy: yes; media-proxy: no, `withoutEnlargement`).
    pub vector_enlarge: bool,
    /// The configured watermark image (`IMGPROXY_WATERMARK_DATA/PATH/URL`), encoded; attached by the
    /// request flow when `watermark` asks for it. `None`: nothing to overlay, as imgproxy without one.
    pub watermark_image: Option<bytes::Bytes>,
}

impl Default for Processing {
    fn default() -> Self {
        Processing {
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
            auto_rotate: true,
            rotate: 0,
            flip_horizontal: false,
            flip_vertical: false,
            background: None,
            blur: 0.0,
            sharpen: 0.0,
            pixelate: 0,
            watermark: None,
            strip_metadata: true,
            keep_copyright: true,
            strip_color_profile: true,
            badge: false,
            vector_enlarge: true,
            watermark_image: None,
        }
    }
}

/// How the output format and its quality are chosen (SPEC §2 "Output format", "Quality").
#[derive(Clone, Debug, PartialEq)]
pub struct OutputRules {
    /// Explicit format: the URL extension, else `f:`. Only `enforce_*` replaces it.
    pub format: Option<ImageFormat>,
    /// `IMGPROXY_AUTO_AVIF` is on and `Accept` mentions `image/avif`.
    pub auto_avif: bool,
    /// `IMGPROXY_AUTO_WEBP` is on and `Accept` mentions `image/webp`.
    pub auto_webp: bool,
    /// `IMGPROXY_ENFORCE_AVIF` is on and `Accept` mentions `image/avif`.
    pub enforce_avif: bool,
    /// `IMGPROXY_ENFORCE_WEBP` is on and `Accept` mentions `image/webp`.
    pub enforce_webp: bool,
    /// `IMGPROXY_PREFERRED_FORMATS`, in order.
    pub preferred_formats: Vec<ImageFormat>,
    /// Source formats served without processing (`skp`, `IMGPROXY_SKIP_PROCESSING_FORMATS`).
    pub skip_processing: Vec<ImageFormat>,
    /// `raw`: stream the source as it is.
    pub raw: bool,
    /// `q`: overrides everything; 0 = unset.
    pub quality: u8,
    /// Per-format quality (`fq` merged over `IMGPROXY_FORMAT_QUALITY`).
    pub format_quality: Vec<(ImageFormat, u8)>,
    /// `IMGPROXY_QUALITY`.
    pub default_quality: u8,
    /// `max_bytes`: lower the quality until the result fits; 0 = no limit.
    pub max_bytes: u64,
    /// Progressive JPEG output.
    pub jpeg_progressive: bool,
    /// AVIF encoder speed on rav1e's scale (0 slowest … 10 fastest); imgproxy's `IMGPROXY_AVIF_SPEED` + 1.
    pub avif_speed: u8,
    /// Write animated output when the source is animated and the format can.
    pub keep_animation: bool,
    /// Loop count for animated output; `None` keeps the source's.
    pub loop_count: Option<u16>,
}

impl Default for OutputRules {
    fn default() -> Self {
        OutputRules {
            format: None,
            auto_avif: false,
            auto_webp: false,
            enforce_avif: false,
            enforce_webp: false,
            preferred_formats: vec![ImageFormat::Jpeg, ImageFormat::Png, ImageFormat::Gif],
            skip_processing: Vec::new(),
            raw: false,
            quality: 0,
            format_quality: vec![(ImageFormat::Webp, 79), (ImageFormat::Avif, 63)],
            default_quality: 80,
            max_bytes: 0,
            jpeg_progressive: false,
            avif_speed: 9,
            keep_animation: true,
            loop_count: None,
        }
    }
}

impl OutputRules {
    /// The quality for `format`: `q` > per-format quality > default (SPEC §2 "Quality").
    pub fn quality_for(&self, format: ImageFormat) -> u8 {
        if self.quality > 0 {
            return self.quality;
        }
        self.format_quality.iter().rev().find(|(f, _)| *f == format).map(|(_, q)| *q).unwrap_or(self.default_quality)
    }
}

/// Limits enforced before the expensive work (SPEC §6).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limits {
    /// Maximum source pixels (width × height × frames); 0 = unlimited.
    pub max_src_resolution: u64,
    /// Maximum source bytes, counted while downloading; 0 = unlimited.
    pub max_src_file_size: u64,
    /// Maximum frames kept from an animated source (1 = first frame only).
    pub max_animation_frames: u32,
    /// Maximum pixels of one animation frame; 0 = use `max_src_resolution` for the whole.
    pub max_animation_frame_resolution: u64,
    /// Maximum result width or height; 0 = unlimited.
    pub max_result_dimension: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_src_resolution: 50_000_000,
            max_src_file_size: 0,
            max_animation_frames: 1,
            max_animation_frame_resolution: 0,
            max_result_dimension: 0,
        }
    }
}

/// Which URL dialect produced the plan: decides error rendering and the header set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Dialect {
    /// imgproxy-compatible paths.
    #[default]
    Imgproxy,
    /// Misskey media-proxy queries.
    Misskey,
}

impl Dialect {
    /// A short name for logs and metrics labels.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Imgproxy => "imgproxy",
            Dialect::Misskey => "misskey",
        }
    }
}

/// How long a successful response may be cached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheRule {
    /// `Cache-Control: max-age={ttl}, public` (`no-cache` when 0), imgproxy style.
    Ttl(u32),
    /// `Cache-Control: max-age=31536000, immutable`, Misskey style.
    Immutable,
}

/// Response headers policy, rendered by `response.rs` for both dialects (DESIGN.md §6).
#[derive(Clone, Debug, PartialEq)]
pub struct ResponsePolicy {
    /// The dialect, for error bodies and labels.
    pub dialect: Dialect,
    /// Cache lifetime on success.
    pub cache: CacheRule,
    /// `Cache-Control: max-age=N` on errors; `None` sends `no-cache`.
    pub error_max_age: Option<u32>,
    /// `exp`: unix time after which the URL is dead; caps max-age.
    pub expires_at: Option<i64>,
    /// Forward the source's `Cache-Control`/`Expires`.
    pub cache_control_passthrough: bool,
    /// `filename`: the download name stem (or full name).
    pub filename: Option<String>,
    /// `return_attachment`: `Content-Disposition: attachment`.
    pub attachment: bool,
    /// `cachebuster`, folded into ETags.
    pub cachebuster: Option<String>,
    /// `Access-Control-Allow-Origin` value, if CORS is on.
    pub allow_origin: Option<String>,
    /// `Content-Security-Policy` value.
    pub content_security_policy: &'static str,
    /// Send `Vary: Accept` (an auto/enforce format flag is on).
    pub vary_accept: bool,
    /// `Access-Control-Allow-Methods` on every response (Misskey sends it always, SPEC §3).
    pub allow_methods: Option<String>,
    /// `Access-Control-Allow-Headers` on every response (Misskey, SPEC §3).
    pub allow_headers: Option<String>,
    /// A configured `Content-Security-Policy` that replaces `content_security_policy`.
    pub csp_override: Option<String>,
    /// Misskey: the download name as found (url path or upstream header), before the extension is
    /// corrected to the output type; when set, `Content-Disposition` follows media-proxy's rules.
    pub download_name: Option<String>,
}

impl Default for ResponsePolicy {
    fn default() -> Self {
        ResponsePolicy {
            dialect: Dialect::Imgproxy,
            cache: CacheRule::Ttl(31_536_000),
            error_max_age: None,
            expires_at: None,
            cache_control_passthrough: false,
            filename: None,
            attachment: false,
            cachebuster: None,
            allow_origin: None,
            content_security_policy: "script-src 'none'",
            vary_accept: false,
            allow_methods: None,
            allow_headers: None,
            csp_override: None,
            download_name: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_stem_takes_last_segment_without_extension() {
        let src = SourceRef::Http(url::Url::parse("http://x/a/b/photo%20one.jpg?x=1").unwrap());
        assert_eq!(src.file_stem(), "photo one");
        let src = SourceRef::Http(url::Url::parse("http://x/").unwrap());
        assert_eq!(src.file_stem(), "image");
        let src = SourceRef::Local("/dir/.hidden".into());
        assert_eq!(src.file_stem(), ".hidden");
    }

    #[test]
    fn quality_precedence_is_q_then_format_then_default() {
        let mut rules = OutputRules::default();
        assert_eq!(rules.quality_for(ImageFormat::Jpeg), 80);
        assert_eq!(rules.quality_for(ImageFormat::Webp), 79);
        rules.format_quality.push((ImageFormat::Webp, 50));
        assert_eq!(rules.quality_for(ImageFormat::Webp), 50);
        rules.quality = 33;
        assert_eq!(rules.quality_for(ImageFormat::Webp), 33);
    }

    #[test]
    fn extensions_round_trip() {
        for f in ImageFormat::ALL {
            assert_eq!(ImageFormat::from_extension(f.extension()), Some(f));
        }
        assert_eq!(ImageFormat::from_extension("JPEG"), Some(ImageFormat::Jpeg));
        assert_eq!(ImageFormat::from_extension("xyz"), None);
    }
}
