//! End-to-end tests of the dialect: a path and a real [`Config`] in, a [`Plan`] or a [`ParseError`] out.
//!
//! Option rows state only what an option changes: each expected plan is the no-option plan with that
//! edit applied, and the whole plan is compared, so an option that touches a second field fails.

use super::*;
use crate::config::Config;
use crate::plan::{
    CacheRule, Crop, Dialect, Extend, Gravity, GravityKind, ImageFormat, Limits, OutputRules, Padding, Processing,
    ResizeType, Rgb, SourceRef, Trim, Watermark, WatermarkPosition,
};

const NOW: i64 = 1_700_000_000;
const SRC: &str = "plain/http://example.com/images/a.jpg";

fn config(vars: &[(&str, &str)]) -> ImgproxyConfig {
    Config::from_vars(vars.iter().copied()).unwrap().imgproxy
}

fn ctx(accept: &str) -> RequestContext<'_> {
    RequestContext { accept, now_unix: NOW }
}

/// `/unsafe/{opts}/{SRC}`, or `/unsafe/{SRC}` with no options.
fn parse_opts(cfg: &ImgproxyConfig, opts: &str) -> Result<Plan, ParseError> {
    let path = if opts.is_empty() { format!("/unsafe/{SRC}") } else { format!("/unsafe/{opts}/{SRC}") };
    parse_request(cfg, &path, &ctx(""))
}

fn source() -> SourceRef {
    SourceRef::Http(url::Url::parse("http://example.com/images/a.jpg").unwrap())
}

/// Short names for error rows: the variant, and the option/payload it carries.
fn kind(e: &ParseError) -> (&'static str, String) {
    match e {
        ParseError::SignatureMismatch => ("signature", String::new()),
        ParseError::Malformed(_) => ("malformed", String::new()),
        ParseError::UnknownOption(n) => ("unknown", n.clone()),
        ParseError::InvalidArgument { option, .. } => ("invalid", option.clone()),
        ParseError::ForbiddenOption(n) => ("forbidden", n.clone()),
        ParseError::UnknownPreset(n) => ("preset", n.clone()),
        ParseError::SecurityOptionNotAllowed(n) => ("security", n.clone()),
        ParseError::Expired => ("expired", String::new()),
        ParseError::BadSourceEncoding(_) => ("encoding", String::new()),
        ParseError::UnsupportedScheme(s) => ("scheme", s.clone()),
        ParseError::UnknownFormat(f) => ("format", f.clone()),
    }
}

fn assert_rejects(cfg: &ImgproxyConfig, rows: &[(&str, &str, (&str, &str))]) {
    for (name, opts, (variant, detail)) in rows {
        let got = parse_opts(cfg, opts);
        let got = got.as_ref().map_err(kind);
        assert_eq!(got.err(), Some((*variant, detail.to_string())), "{name}: {opts}");
    }
}

#[test]
fn no_options_gives_imgproxy_defaults() {
    let plan = parse_opts(&config(&[]), "").unwrap();
    let expected = Plan {
        source: source(),
        process: Processing::default(),
        output: OutputRules::default(),
        limits: Limits::default(),
        response: ResponsePolicy::default(),
    };
    assert_eq!(plan, expected);
}

type Edit = fn(&mut Plan);

fn gravity(kind: GravityKind, x: f64, y: f64) -> Gravity {
    Gravity { kind, x, y }
}

/// Every option's grammar: the option string and the plan fields it sets.
const OPTION_ROWS: &[(&str, &str, Edit)] = &[
    ("resize, all arguments", "rs:fill:300:200:1:1:so", |p| {
        p.process.resize_type = ResizeType::Fill;
        (p.process.width, p.process.height, p.process.enlarge) = (300, 200, true);
        p.process.extend = Extend { enabled: true, gravity: Some(gravity(GravityKind::South, 0.0, 0.0)) };
    }),
    ("resize, type only", "resize:force", |p| p.process.resize_type = ResizeType::Force),
    ("resize, empty type keeps it", "rs::100", |p| p.process.width = 100),
    ("size", "s:10:20:t", |p| (p.process.width, p.process.height, p.process.enlarge) = (10, 20, true)),
    ("size, long name, width only", "size:10", |p| p.process.width = 10),
    ("size with extend gravity offsets", "s:1:2:0:1:we:3:4", |p| {
        (p.process.width, p.process.height) = (1, 2);
        p.process.extend = Extend { enabled: true, gravity: Some(gravity(GravityKind::West, 3.0, 4.0)) };
    }),
    ("resizing_type fill-down", "rt:fill-down", |p| p.process.resize_type = ResizeType::FillDown),
    ("resizing_type auto", "resizing_type:auto", |p| p.process.resize_type = ResizeType::Auto),
    ("resizing_type fit", "rt:fill/rt:fit", |_| {}),
    ("width", "w:300", |p| p.process.width = 300),
    ("width, long", "width:5", |p| p.process.width = 5),
    ("height", "h:7", |p| p.process.height = 7),
    ("height, long", "height:8", |p| p.process.height = 8),
    ("min-width", "mw:3", |p| p.process.min_width = 3),
    ("min-width, long", "min-width:4", |p| p.process.min_width = 4),
    ("min-height", "mh:2", |p| p.process.min_height = 2),
    ("min-height, long", "min-height:9", |p| p.process.min_height = 9),
    ("zoom, one argument", "z:2", |p| (p.process.zoom_x, p.process.zoom_y) = (2.0, 2.0)),
    ("zoom, two arguments", "zoom:1.5:0.5", |p| (p.process.zoom_x, p.process.zoom_y) = (1.5, 0.5)),
    ("dpr", "dpr:2", |p| p.process.dpr = 2.0),
    ("enlarge", "el:1", |p| p.process.enlarge = true),
    ("enlarge, long", "enlarge:true", |p| p.process.enlarge = true),
    ("invalid boolean reads as false", "el:1/el:yes", |_| {}),
    ("extend", "ex:1", |p| p.process.extend.enabled = true),
    ("extend with gravity", "extend:1:noea:5:6", |p| {
        p.process.extend = Extend { enabled: true, gravity: Some(gravity(GravityKind::NorthEast, 5.0, 6.0)) };
    }),
    ("extend with focus point", "ex:1:fp:0.5:0.25", |p| {
        p.process.extend = Extend { enabled: true, gravity: Some(gravity(GravityKind::FocusPoint, 0.5, 0.25)) };
    }),
    ("extend_aspect_ratio", "exar:1", |p| p.process.extend_aspect_ratio.enabled = true),
    ("extend_ar with gravity", "extend_ar:1:so", |p| {
        p.process.extend_aspect_ratio = Extend { enabled: true, gravity: Some(gravity(GravityKind::South, 0.0, 0.0)) };
    }),
    ("extend_aspect_ratio, long", "extend_aspect_ratio:t", |p| p.process.extend_aspect_ratio.enabled = true),
    ("gravity smart", "g:sm", |p| p.process.gravity.kind = GravityKind::Smart),
    ("gravity focus point", "g:fp:0.3:0.7", |p| p.process.gravity = gravity(GravityKind::FocusPoint, 0.3, 0.7)),
    ("gravity with offsets", "gravity:nowe:10:20", |p| p.process.gravity = gravity(GravityKind::NorthWest, 10.0, 20.0)),
    ("gravity fractional offset", "g:so:0.5", |p| p.process.gravity = gravity(GravityKind::South, 0.5, 0.0)),
    ("crop", "c:100:50", |p| p.process.crop = Some(Crop { width: 100.0, height: 50.0, gravity: None })),
    ("crop, fractions and gravity", "crop:0.5:0.5:ea", |p| {
        p.process.crop = Some(Crop { width: 0.5, height: 0.5, gravity: Some(gravity(GravityKind::East, 0.0, 0.0)) });
    }),
    ("crop, width only", "c:100", |p| p.process.crop = Some(Crop { width: 100.0, height: 0.0, gravity: None })),
    ("crop 0:0 is no crop", "c:0:0", |_| {}),
    ("trim", "t:10", |p| {
        p.process.trim = Some(Trim { threshold: 10.0, color: None, equal_hor: false, equal_ver: false });
    }),
    ("trim, all arguments", "trim:5:ff00ff:1:1", |p| {
        let color = Some(Rgb { r: 255, g: 0, b: 255 });
        p.process.trim = Some(Trim { threshold: 5.0, color, equal_hor: true, equal_ver: true });
    }),
    ("trim, empty threshold turns it off", "t:10/t:", |_| {}),
    ("padding, one value", "pd:10", |p| p.process.padding = Padding { top: 10, right: 10, bottom: 10, left: 10 }),
    ("padding, two values", "pd:10:20", |p| p.process.padding = Padding { top: 10, right: 20, bottom: 10, left: 20 }),
    ("padding, three values", "pd:1:2:3", |p| p.process.padding = Padding { top: 1, right: 2, bottom: 3, left: 2 }),
    ("padding, four values", "padding:1:2:3:4", |p| {
        p.process.padding = Padding { top: 1, right: 2, bottom: 3, left: 4 }
    }),
    ("auto_rotate off", "ar:0", |p| p.process.auto_rotate = false),
    ("auto_rotate, long", "auto_rotate:false", |p| p.process.auto_rotate = false),
    ("rotate", "rot:90", |p| p.process.rotate = 90),
    ("rotate negative", "rotate:-90", |p| p.process.rotate = 270),
    ("rotate full turn", "rot:360", |_| {}),
    ("rotate beyond a turn", "rot:450", |p| p.process.rotate = 90),
    ("flip horizontal", "fl:1", |p| p.process.flip_horizontal = true),
    ("flip vertical", "flip:0:1", |p| p.process.flip_vertical = true),
    ("flip both", "fl:t:t", |p| (p.process.flip_horizontal, p.process.flip_vertical) = (true, true)),
    ("background rgb", "bg:255:0:10", |p| p.process.background = Some(Rgb { r: 255, g: 0, b: 10 })),
    ("background hex", "background:ff8000", |p| p.process.background = Some(Rgb { r: 255, g: 128, b: 0 })),
    ("background short hex", "bg:fff", |p| p.process.background = Some(Rgb { r: 255, g: 255, b: 255 })),
    ("background cleared", "bg:255:0:0/bg:", |_| {}),
    ("blur", "bl:2.5", |p| p.process.blur = 2.5),
    ("blur, long", "blur:1", |p| p.process.blur = 1.0),
    ("sharpen", "sh:0.75", |p| p.process.sharpen = 0.75),
    ("sharpen, long", "sharpen:1.5", |p| p.process.sharpen = 1.5),
    ("pixelate", "pix:8", |p| p.process.pixelate = 8),
    ("pixelate, long", "pixelate:4", |p| p.process.pixelate = 4),
    ("watermark, opacity only", "wm:0.5", |p| {
        let position = WatermarkPosition::Gravity(Gravity::default());
        p.process.watermark = Some(Watermark { opacity: 0.5, position, scale: 0.0 });
    }),
    ("watermark, all arguments", "wm:1:soea:10:5:0.2", |p| {
        let position = WatermarkPosition::Gravity(gravity(GravityKind::SouthEast, 10.0, 5.0));
        p.process.watermark = Some(Watermark { opacity: 1.0, position, scale: 0.2 });
    }),
    ("watermark replicate", "watermark:0.3:re", |p| {
        p.process.watermark = Some(Watermark { opacity: 0.3, position: WatermarkPosition::Replicate, scale: 0.0 });
    }),
    ("watermark opacity 0 is none", "wm:0", |_| {}),
    ("strip_metadata", "sm:0", |p| p.process.strip_metadata = false),
    ("strip_metadata, long", "strip_metadata:false", |p| p.process.strip_metadata = false),
    ("keep_copyright", "kcr:f", |p| p.process.keep_copyright = false),
    ("keep_copyright, long", "keep_copyright:0", |p| p.process.keep_copyright = false),
    ("strip_color_profile", "scp:0", |p| p.process.strip_color_profile = false),
    ("strip_color_profile, long", "strip_color_profile:False", |p| p.process.strip_color_profile = false),
    ("enforce_thumbnail is accepted and changes nothing", "eth:1", |_| {}),
    ("quality", "q:50", |p| p.output.quality = 50),
    ("quality, long", "quality:100", |p| p.output.quality = 100),
    ("quality 0 is unset", "q:0", |_| {}),
    ("format_quality", "fq:webp:50:jpeg:70", |p| {
        p.output.format_quality.extend([(ImageFormat::Webp, 50), (ImageFormat::Jpeg, 70)]);
    }),
    ("format_quality 0 is no override", "format_quality:avif:0", |_| {}),
    ("max_bytes", "mb:1000", |p| p.output.max_bytes = 1000),
    ("max_bytes, long", "max_bytes:5", |p| p.output.max_bytes = 5),
    ("format", "f:png", |p| p.output.format = Some(ImageFormat::Png)),
    ("format, long", "format:webp", |p| p.output.format = Some(ImageFormat::Webp)),
    ("format, ext alias", "ext:avif", |p| p.output.format = Some(ImageFormat::Avif)),
    ("format jpeg spelling", "f:jpeg", |p| p.output.format = Some(ImageFormat::Jpeg)),
    ("skip_processing", "skp:gif:svg", |p| p.output.skip_processing = vec![ImageFormat::Gif, ImageFormat::Svg]),
    ("skip_processing accumulates", "skp:gif/skip_processing:png", |p| {
        p.output.skip_processing = vec![ImageFormat::Gif, ImageFormat::Png];
    }),
    ("raw", "raw:1", |p| p.output.raw = true),
    ("raw off", "raw:0", |_| {}),
    ("cachebuster", "cb:abc", |p| p.response.cachebuster = Some("abc".into())),
    ("cachebuster, long", "cachebuster:v2", |p| p.response.cachebuster = Some("v2".into())),
    ("expires in the future", "exp:1800000000", |p| p.response.expires_at = Some(1_800_000_000)),
    ("expires now is still valid", "expires:1700000000", |p| p.response.expires_at = Some(NOW)),
    ("expires 0 is never", "exp:0", |_| {}),
    ("expires negative is never", "exp:-5", |_| {}),
    ("filename", "fn:my%20photo", |p| p.response.filename = Some("my photo".into())),
    ("filename base64", "filename:aGVsbG8:1", |p| p.response.filename = Some("hello".into())),
    ("filename not encoded", "fn:aGVsbG8:0", |p| p.response.filename = Some("aGVsbG8".into())),
    ("filename invalid encoded flag reads false", "fn:abc:yes", |p| p.response.filename = Some("abc".into())),
    ("return_attachment", "att:1", |p| p.response.attachment = true),
    ("return_attachment, long", "return_attachment:true", |p| p.response.attachment = true),
    ("%3A reads as a colon", "w%3A300", |p| p.process.width = 300),
    ("%3a lower case too", "rs%3afill%3A10%3A20", |p| {
        (p.process.resize_type, p.process.width, p.process.height) = (ResizeType::Fill, 10, 20);
    }),
    ("later options override earlier", "w:100/w:200", |p| p.process.width = 200),
    ("meta options override field by field", "w:100/s::50", |p| (p.process.width, p.process.height) = (100, 50)),
    ("gravity offsets persist as imgproxy", "g:no:4:5/g:so", |p| {
        p.process.gravity = gravity(GravityKind::South, 4.0, 5.0);
    }),
];

#[test]
fn every_option_sets_its_fields() {
    let cfg = config(&[]);
    let baseline = parse_opts(&cfg, "").unwrap();
    for (name, opts, edit) in OPTION_ROWS {
        let mut expected = baseline.clone();
        edit(&mut expected);
        assert_eq!(parse_opts(&cfg, opts), Ok(expected), "{name}: {opts}");
    }
}

#[test]
fn bad_arguments_are_rejected() {
    assert_rejects(
        &config(&[]),
        &[
            ("negative width", "w:-1", ("invalid", "w")),
            ("non-numeric width", "w:abc", ("invalid", "w")),
            ("width arity", "w:1:2", ("invalid", "w")),
            ("empty width", "width:", ("invalid", "width")),
            ("width overflow", "w:4294967296", ("invalid", "w")),
            ("unknown resizing type", "rt:crop", ("invalid", "rt")),
            ("resize arity", "rs:fit:1:2:1:1:so:1:2:3", ("invalid", "rs")),
            ("size arity", "s:1:2:1:1:so:1:2:3", ("invalid", "s")),
            ("zero zoom", "z:0", ("invalid", "z")),
            ("zoom arity", "zoom:1:2:3", ("invalid", "zoom")),
            ("zero dpr", "dpr:0", ("invalid", "dpr")),
            ("negative dpr", "dpr:-1", ("invalid", "dpr")),
            ("infinite dpr", "dpr:inf", ("invalid", "dpr")),
            ("focus point outside", "g:fp:2:0", ("invalid", "g")),
            ("unknown gravity", "g:xx", ("invalid", "g")),
            ("smart gravity offsets", "g:sm:1", ("invalid", "g")),
            ("smart extend", "ex:1:sm", ("invalid", "ex")),
            ("extend arity", "ex:1:no:1:2:3", ("invalid", "ex")),
            ("negative crop", "c:-1", ("invalid", "c")),
            ("crop bad gravity", "c:1:1:zz", ("invalid", "c")),
            ("bad trim threshold", "t:abc", ("invalid", "t")),
            ("bad trim colour", "t:1:zzz", ("invalid", "t")),
            ("padding arity", "pd:1:2:3:4:5", ("invalid", "pd")),
            ("negative padding", "pd:-1", ("invalid", "pd")),
            ("rotate not a right angle", "rot:45", ("invalid", "rot")),
            ("rotate not a number", "rotate:x", ("invalid", "rotate")),
            ("flip arity", "fl:1:1:1", ("invalid", "fl")),
            ("background channel range", "bg:256:0:0", ("invalid", "bg")),
            ("background arity", "bg:1:2", ("invalid", "bg")),
            ("background bad hex", "bg:ggg", ("invalid", "bg")),
            ("negative blur", "bl:-1", ("invalid", "bl")),
            ("blur beyond f32", "blur:1e300", ("invalid", "blur")),
            ("infinite sharpen", "sh:inf", ("invalid", "sh")),
            ("fractional pixelate", "pix:1.5", ("invalid", "pix")),
            ("watermark opacity range", "wm:2", ("invalid", "wm")),
            ("watermark smart position", "wm:0.5:sm", ("invalid", "wm")),
            ("watermark needs opacity", "wm:", ("invalid", "wm")),
            ("quality range", "q:101", ("invalid", "q")),
            ("negative quality", "q:-1", ("invalid", "q")),
            ("format_quality unpaired", "fq:webp", ("invalid", "fq")),
            ("format_quality unknown format", "fq:xyz:50", ("invalid", "fq")),
            ("format_quality range", "fq:webp:101", ("invalid", "fq")),
            ("negative max_bytes", "mb:-5", ("invalid", "mb")),
            ("unknown format", "f:xyz", ("format", "xyz")),
            ("unknown ext", "ext:bmpx", ("format", "bmpx")),
            ("format arity", "f:png:jpg", ("invalid", "f")),
            ("unknown skip format", "skp:xyz", ("invalid", "skp")),
            ("expires not a number", "exp:soon", ("invalid", "exp")),
            ("filename bad base64", "fn:!!!:1", ("invalid", "fn")),
            ("filename arity", "fn:a:b:c", ("invalid", "fn")),
            ("cachebuster arity", "cb:a:b", ("invalid", "cb")),
            ("raw arity", "raw:1:1", ("invalid", "raw")),
            ("expired", "exp:1699999999", ("expired", "")),
        ],
    );
}

#[test]
fn unknown_and_pro_only_options_are_unknown() {
    let names = [
        "page",
        "pages",
        "resizing_algorithm",
        "adjust",
        "brightness",
        "contrast",
        "saturation",
        "watermark_text",
        "wmt",
        "style",
        "objects_position",
        "crop_aspect_ratio",
        "unsharp_masking",
        "video_thumbnail_second",
        "nope",
        "W",
    ];
    let opts: Vec<String> = names.iter().map(|n| format!("{n}:1")).collect();
    let rows: Vec<(&str, &str, (&str, &str))> =
        names.iter().zip(&opts).map(|(n, o)| (*n, o.as_str(), ("unknown", *n))).collect();
    assert_rejects(&config(&[]), &rows);
}

#[test]
fn security_options_need_allowance() {
    let options = [
        ("msr:1", "msr"),
        ("max_src_resolution:1", "max_src_resolution"),
        ("msfs:10", "msfs"),
        ("max_src_file_size:10", "max_src_file_size"),
        ("maf:2", "maf"),
        ("max_animation_frames:2", "max_animation_frames"),
        ("mafr:1", "mafr"),
        ("max_animation_frame_resolution:1", "max_animation_frame_resolution"),
        ("mrd:100", "mrd"),
        ("max_result_dimension:100", "max_result_dimension"),
    ];
    let rows: Vec<(&str, &str, (&str, &str))> = options.iter().map(|(o, n)| (*n, *o, ("security", *n))).collect();
    assert_rejects(&config(&[]), &rows);

    let allowed = config(&[("IMGPROXY_ALLOW_SECURITY_OPTIONS", "true")]);
    let plan = parse_opts(&allowed, "msr:2/msfs:1000/maf:10/mafr:0.5/mrd:4000").unwrap();
    let expected = Limits {
        max_src_resolution: 2_000_000,
        max_src_file_size: 1000,
        max_animation_frames: 10,
        max_animation_frame_resolution: 500_000,
        max_result_dimension: 4000,
    };
    assert_eq!(plan.limits, expected);
    assert_rejects(
        &allowed,
        &[("zero frames", "maf:0", ("invalid", "maf")), ("negative size", "msfs:-1", ("invalid", "msfs"))],
    );
}

#[test]
fn path_shapes() {
    let cfg = config(&[]);
    let parse = |path: &str| parse_request(&cfg, path, &ctx("")).map_err(|e| kind(&e).0);
    let long = format!("/unsafe/plain/http://x.com/{}", "a".repeat(MAX_PATH_LEN));
    let rows: [(&str, &str, &str); 9] = [
        ("empty", "", "malformed"),
        ("no leading slash", "unsafe/plain/http://x.com/a.png", "malformed"),
        ("root", "/", "malformed"),
        ("signature only", "/unsafe", "malformed"),
        ("signature and slash", "/unsafe/", "malformed"),
        ("options but no source", "/unsafe/w:10", "malformed"),
        ("basic URL format", "/unsafe/fill/300/400/sm/0/aHR0cDovL3guY29tL2EucG5n.png", "malformed"),
        ("over-long", long.as_str(), "malformed"),
        ("unknown extension", "/unsafe/plain/http://x.com/a.png@xyz", "format"),
    ];
    for (name, path, variant) in rows {
        assert_eq!(parse(path).err(), Some(variant), "{name}");
    }
}

#[test]
fn sources_and_extensions() {
    let cfg = config(&[]);
    let plan = |path: &str| parse_request(&cfg, path, &ctx("")).unwrap();
    let http = |s: &str| SourceRef::Http(url::Url::parse(s).unwrap());

    let p = plan("/unsafe/w:10/aHR0cDovL2V4YW1w/bGUuY29tL2ltYWdl/cy9jdXJpb3NpdHku/anBn.png");
    assert_eq!((p.source, p.process.width), (http("http://example.com/images/curiosity.jpg"), 10));
    assert_eq!(p.output.format, Some(ImageFormat::Png));

    // The URL extension wins over `f:`, wherever `f:` is written.
    assert_eq!(plan("/unsafe/f:png/plain/http://x.com/a.jpg@webp").output.format, Some(ImageFormat::Webp));
    // With `raw` the extension is ignored, as imgproxy: not even an unknown one is an error.
    let p = plan("/unsafe/raw:1/f:png/plain/http://x.com/a.jpg@xyz");
    assert_eq!((p.output.format, p.output.raw), (Some(ImageFormat::Png), true));

    let p = plan("/unsafe/plain/s3://bucket/dir/a%2520b.png%3FvId1");
    let s3 = SourceRef::S3 { bucket: "bucket".into(), key: "dir/a b.png".into(), version_id: Some("vId1".into()) };
    assert_eq!(p.source, s3);
    assert_eq!(plan("/unsafe/plain/local:///img/a.png").source, SourceRef::Local("/img/a.png".into()));

    let scheme = parse_request(&cfg, "/unsafe/plain/ftp://x.com/a.png", &ctx("")).map_err(|e| kind(&e));
    assert_eq!(scheme.err(), Some(("scheme", "ftp".to_string())));
    let bad = parse_request(&cfg, "/unsafe/w:1/!!!", &ctx("")).map_err(|e| kind(&e).0);
    assert_eq!(bad.err(), Some("encoding"));
}

#[test]
fn signed_urls() {
    let cfg = config(&[("IMGPROXY_KEY", "736563726574"), ("IMGPROXY_SALT", "68656C6C6F")]);
    let pair = cfg.signing.first().unwrap().clone();
    let signed_path = "/rs:fill:300:400:0/g:sm/plain/http://example.com/a.jpg@png";
    let sig = sign_path(&pair, signed_path, 32);
    let parse = |path: &str| parse_request(&cfg, path, &ctx("")).map_err(|e| kind(&e).0);

    let plan = parse(&format!("/{sig}{signed_path}")).unwrap();
    assert_eq!((plan.process.resize_type, plan.process.gravity.kind), (ResizeType::Fill, GravityKind::Smart));
    assert_eq!(
        parse(&format!("/{sig}/rs:fill:300:401:0/g:sm/plain/http://example.com/a.jpg@png")).err(),
        Some("signature")
    );
    assert_eq!(parse(&format!("/unsafe{signed_path}")).err(), Some("signature"));
    // The signature is checked before any option is parsed: a forged URL never learns which option is bad.
    assert_eq!(parse(&format!("/{sig}/page:2/plain/http://example.com/a.jpg")).err(), Some("signature"));
    assert_eq!(parse(&format!("/{sig}/msr:99/plain/http://example.com/a.jpg")).err(), Some("signature"));
    // A proxy that collapsed `//` in the source does not break the signature (imgproxy `fixPath`).
    let collapsed = format!("/{sig}/rs:fill:300:400:0/g:sm/plain/http:/example.com/a.jpg@png");
    assert_eq!(parse(&collapsed).map(|p| p.source), Ok(source_of("http://example.com/a.jpg")));
}

fn source_of(url: &str) -> SourceRef {
    SourceRef::Http(url::Url::parse(url).unwrap())
}

#[test]
fn truncated_signatures_and_several_pairs() {
    let cfg = config(&[("IMGPROXY_KEY", "aa,bb"), ("IMGPROXY_SALT", "cc,dd"), ("IMGPROXY_SIGNATURE_SIZE", "8")]);
    let path = "/w:10/plain/http://example.com/a.jpg";
    for pair in &cfg.signing {
        let sig = sign_path(pair, path, 8);
        assert_eq!(sig.len(), 11, "8 bytes are 11 base64 characters");
        assert!(parse_request(&cfg, &format!("/{sig}{path}"), &ctx("")).is_ok());
        let full = sign_path(pair, path, 32);
        assert_eq!(parse_request(&cfg, &format!("/{full}{path}"), &ctx("")), Err(ParseError::SignatureMismatch));
    }
}

#[test]
fn presets() {
    let cfg = config(&[(
        "IMGPROXY_PRESETS",
        "default=q:70/w:50,thumb=rs:fill:100:100/q:50,blurry=bl:2,loop=pr:loop/w:7,nested=pr:thumb/h:33,\
         bad=w:abc,broken=w,secure=msr:1",
    )]);
    let plan = |opts: &str| parse_opts(&cfg, opts).unwrap();
    let p = plan("");
    assert_eq!((p.output.quality, p.process.width), (70, 50), "default preset applies to every request");
    let p = plan("pr:thumb");
    assert_eq!(
        (p.process.resize_type, p.process.width, p.process.height, p.output.quality),
        (ResizeType::Fill, 100, 100, 50)
    );
    assert_eq!(plan("q:90/pr:thumb").output.quality, 50, "a preset overrides options before it");
    assert_eq!(plan("pr:thumb/q:90").output.quality, 90, "options after a preset override it");
    assert_eq!(plan("q:90").output.quality, 90, "the URL overrides the default preset");
    let p = plan("preset:thumb:blurry");
    assert_eq!((p.process.width, p.process.blur), (100, 2.0));
    let p = plan("pr:nested");
    assert_eq!((p.process.width, p.process.height), (100, 33));
    assert_eq!(plan("pr:loop").process.width, 7, "recursion is cut, not followed forever");
    assert_rejects(
        &cfg,
        &[
            ("unknown preset", "pr:missing", ("preset", "missing")),
            ("one unknown among known", "pr:thumb:missing", ("preset", "missing")),
            ("bad argument inside a preset", "pr:bad", ("invalid", "w")),
            ("segment without arguments", "pr:broken", ("invalid", "preset")),
            ("security option inside a preset", "pr:secure", ("security", "msr")),
        ],
    );
}

#[test]
fn only_presets() {
    let cfg =
        config(&[("IMGPROXY_ONLY_PRESETS", "true"), ("IMGPROXY_PRESETS", "default=q:70,thumb=w:100,blurry=bl:2")]);
    let parse = |path: &str| parse_request(&cfg, path, &ctx("")).map_err(|e| kind(&e));
    let p = parse("/unsafe/thumb:blurry/plain/http://x.com/a.jpg@png").unwrap();
    assert_eq!((p.process.width, p.process.blur, p.output.quality), (100, 2.0, 70));
    assert_eq!(p.output.format, Some(ImageFormat::Png));
    assert_eq!(parse("/unsafe/w:100/plain/http://x.com/a.jpg").err(), Some(("forbidden", "w".into())));
    assert_eq!(parse("/unsafe/thumb:rs:fit/plain/http://x.com/a.jpg").err(), Some(("forbidden", "rs".into())));
    assert_eq!(parse("/unsafe/nope/plain/http://x.com/a.jpg").err(), Some(("preset", "nope".into())));
    assert_eq!(parse("/unsafe/thumb/aHR0cDovL3guY29tL2EucG5n").map(|p| p.process.width), Ok(100));
}

#[test]
fn allowed_processing_options() {
    let cfg =
        config(&[("IMGPROXY_ALLOWED_PROCESSING_OPTIONS", "resize,q,preset"), ("IMGPROXY_PRESETS", "soft=bl:1/w:3")]);
    for allowed in ["rs:fit:10", "resize:fit:10", "q:50", "quality:50", "pr:soft", "preset:soft"] {
        assert!(parse_opts(&cfg, allowed).is_ok(), "{allowed}");
    }
    let p = parse_opts(&cfg, "pr:soft").unwrap();
    assert_eq!((p.process.blur, p.process.width), (1.0, 3), "options inside presets are trusted");
    assert_rejects(
        &cfg,
        &[
            ("not listed", "w:10", ("forbidden", "w")),
            ("not listed, long name", "width:10", ("forbidden", "width")),
            ("unknown and not listed", "nope:1", ("forbidden", "nope")),
        ],
    );
    let by_short_name = config(&[("IMGPROXY_ALLOWED_PROCESSING_OPTIONS", "w")]);
    assert!(parse_opts(&by_short_name, "width:10").is_ok(), "a short name in the list admits the long one");
}

#[test]
fn accept_header_drives_format_flags() {
    // (name, config flags, Accept, expected auto_avif, auto_webp, enforce_avif, enforce_webp, Vary)
    type Row<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str, [bool; 4], bool);
    let rows: [Row; 9] = [
        ("no flags", &[], "image/avif,image/webp", [false; 4], false),
        ("auto webp accepted", &[("IMGPROXY_AUTO_WEBP", "1")], "image/webp,*/*", [false, true, false, false], true),
        ("auto webp, */* does not count", &[("IMGPROXY_AUTO_WEBP", "1")], "*/*", [false; 4], true),
        ("auto webp, image/* does not count", &[("IMGPROXY_AUTO_WEBP", "1")], "image/*", [false; 4], true),
        ("auto avif accepted", &[("IMGPROXY_AUTO_AVIF", "1")], "image/avif", [true, false, false, false], true),
        (
            "both auto, both accepted",
            &[("IMGPROXY_AUTO_AVIF", "1"), ("IMGPROXY_AUTO_WEBP", "1")],
            "image/avif,image/webp",
            [true, true, false, false],
            true,
        ),
        (
            "enforce webp implies auto",
            &[("IMGPROXY_ENFORCE_WEBP", "1")],
            "image/webp",
            [false, true, false, true],
            true,
        ),
        (
            "enforce avif implies auto",
            &[("IMGPROXY_ENFORCE_AVIF", "1")],
            "image/avif",
            [true, false, true, false],
            true,
        ),
        ("enforce avif, not accepted", &[("IMGPROXY_ENFORCE_AVIF", "1")], "", [false; 4], true),
    ];
    for (name, vars, accept, flags, vary) in rows {
        let cfg = config(vars);
        let plan = parse_request(&cfg, &format!("/unsafe/{SRC}"), &ctx(accept)).unwrap();
        let o = &plan.output;
        assert_eq!([o.auto_avif, o.auto_webp, o.enforce_avif, o.enforce_webp], flags, "{name}");
        assert_eq!(plan.response.vary_accept, vary, "{name}");
        assert_eq!(base_policy(&cfg).vary_accept, vary, "{name}: errors vary too");
    }
}

#[test]
fn config_defaults_and_url_overrides() {
    let cfg = config(&[
        ("IMGPROXY_STRIP_METADATA", "false"),
        ("IMGPROXY_KEEP_COPYRIGHT", "false"),
        ("IMGPROXY_STRIP_COLOR_PROFILE", "false"),
        ("IMGPROXY_AUTO_ROTATE", "false"),
        ("IMGPROXY_RETURN_ATTACHMENT", "true"),
        ("IMGPROXY_SKIP_PROCESSING_FORMATS", "gif"),
        ("IMGPROXY_FORMAT_QUALITY", "jpeg=60"),
        ("IMGPROXY_QUALITY", "75"),
        ("IMGPROXY_JPEG_PROGRESSIVE", "true"),
        ("IMGPROXY_AVIF_SPEED", "5"),
        ("IMGPROXY_PREFERRED_FORMATS", "webp,png"),
        ("IMGPROXY_MAX_SRC_RESOLUTION", "10"),
        ("IMGPROXY_MAX_SRC_FILE_SIZE", "1000"),
        ("IMGPROXY_MAX_ANIMATION_FRAMES", "5"),
    ]);
    let p = parse_opts(&cfg, "").unwrap();
    let pr = &p.process;
    assert_eq!([pr.strip_metadata, pr.keep_copyright, pr.strip_color_profile, pr.auto_rotate], [false; 4]);
    assert!(p.response.attachment);
    assert_eq!(p.output.skip_processing, vec![ImageFormat::Gif]);
    assert_eq!((p.output.quality_for(ImageFormat::Jpeg), p.output.quality_for(ImageFormat::Png)), (60, 75));
    assert_eq!((p.output.jpeg_progressive, p.output.avif_speed), (true, 6));
    assert_eq!(p.output.preferred_formats, vec![ImageFormat::Webp, ImageFormat::Png]);
    let limits = (p.limits.max_src_resolution, p.limits.max_src_file_size, p.limits.max_animation_frames);
    assert_eq!(limits, (10_000_000, 1000, 5));

    let p = parse_opts(&cfg, "sm:1/kcr:1/scp:1/ar:1/att:0/skp:png/fq:jpeg:70").unwrap();
    let pr = &p.process;
    assert_eq!([pr.strip_metadata, pr.keep_copyright, pr.strip_color_profile, pr.auto_rotate], [true; 4]);
    assert!(!p.response.attachment);
    assert_eq!(p.output.skip_processing, vec![ImageFormat::Gif, ImageFormat::Png]);
    assert_eq!(p.output.quality_for(ImageFormat::Jpeg), 70, "fq pairs come after the config's and win");
}

#[test]
fn base_policy_from_config() {
    let cfg = config(&[
        ("IMGPROXY_TTL", "60"),
        ("IMGPROXY_CACHE_CONTROL_PASSTHROUGH", "true"),
        ("IMGPROXY_ALLOW_ORIGIN", "*"),
    ]);
    let expected = ResponsePolicy {
        dialect: Dialect::Imgproxy,
        cache: CacheRule::Ttl(60),
        error_max_age: None,
        expires_at: None,
        cache_control_passthrough: true,
        filename: None,
        attachment: false,
        cachebuster: None,
        allow_origin: Some("*".into()),
        content_security_policy: "script-src 'none'",
        vary_accept: false,
        ..ResponsePolicy::default()
    };
    assert_eq!(base_policy(&cfg), expected);
    let plan = parse_opts(&cfg, "fn:photo/cb:1/exp:1800000000/att:1").unwrap();
    let refined = ResponsePolicy {
        filename: Some("photo".into()),
        cachebuster: Some("1".into()),
        expires_at: Some(1_800_000_000),
        attachment: true,
        ..expected
    };
    assert_eq!(plan.response, refined);
}
