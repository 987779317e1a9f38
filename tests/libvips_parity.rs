//! Parity with libvips (the engine inside imgproxy): the same resize-only thumbnails made by pyvips
//! driven as imgproxy drives it and by our pipeline must have equal dimensions and a luma SSIM ≥ 0.995
//! (issue 3 asks ≥ 0.97 for "Compare with libvips output for a sample"; every case scores ≥ 0.999, so the
//! bar sits where a real regression in resampling or shrink-on-load would show). Sources are corpus JPEGs (baseline, and a progressive one that
//! takes our DC-only path) and PNGs with alpha; both sides write PNG so no lossy encoder is compared.
//!
//! Needs pyvips in the repository's `.venv` (`scripts/test` installs it). Without it the test prints why
//! and returns: it cannot compare against a libvips that is not there.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use lambda_media_proxy::pipeline::{self, quality};
use lambda_media_proxy::plan::{
    ImageFormat, Limits, OutputRules, Plan, Processing, ResizeType, ResponsePolicy, SourceRef,
};

/// libvips' side, driven the way imgproxy drives it: JPEGs shrink on load by the largest DCT factor that
/// still covers the target (imgproxy's rule, and ours; libvips' own `thumbnail` keeps a 2× margin and so
/// decodes at a larger scale), then libvips' Lanczos3 to the scaled size, then for fill a centre crop
/// whose offset rounds up (`(excess + 1) / 2`), as imgproxy's gravity does.
const SCRIPT: &str = r#"
import sys, pyvips
out_dir = sys.argv[1]
for i, case in enumerate(sys.argv[2:]):
    path, w, h, mode = case.split("|")
    w, h = int(w), int(h)
    src = pyvips.Image.new_from_file(path)
    scales = [w / src.width] + ([h / src.height] if h else [])
    scale = max(scales) if mode == "fill" else min(scales)
    tw, th = round(src.width * scale), round(src.height * scale)
    if src.get("vips-loader").startswith("jpegload"):
        shrink = next((s for s in (8, 4, 2) if 1 / scale >= s), 1)
        src = pyvips.Image.jpegload(path, shrink=shrink)
    img = src.thumbnail_image(tw, height=th, size="force")
    if mode == "fill":
        img = img.crop((img.width - w + 1) // 2, (img.height - h + 1) // 2, w, h)
    img.write_to_file(f"{out_dir}/{i}.png")
"#;

/// One comparison: corpus file, box, resize type.
struct Case {
    file: &'static str,
    width: u32,
    height: u32,
    fill: bool,
}

const CASES: &[Case] = &[
    Case { file: "photos/mate-Storm.jpg", width: 400, height: 0, fill: false },
    Case { file: "photos/mate-LadyBird.jpg", width: 300, height: 300, fill: true },
    Case { file: "photos/volna_prog444q85.jpg", width: 400, height: 0, fill: false },
    // Scored 0.94–0.96 against libvips' `thumbnail`, which decodes this one at full size (its 2× margin)
    // where imgproxy and we take the 1/2 DCT scale; driven as imgproxy, it must match like the others.
    Case { file: "photos/sharp_2725x2225.jpg", width: 800, height: 0, fill: false },
    Case { file: "photos/sharp_paper_2048x1536.png", width: 400, height: 0, fill: false },
    Case { file: "formats/ukui-city.png", width: 300, height: 300, fill: true },
];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn corpus(file: &str) -> PathBuf {
    repo().join("../shared/corpus").join(file)
}

/// The venv's python when it can import pyvips; the reason otherwise.
fn pyvips_python() -> Result<PathBuf, String> {
    let python = repo().join(".venv/bin/python");
    if !python.exists() {
        return Err(format!("{} is missing (scripts/test creates it)", python.display()));
    }
    let probe = Command::new(&python).args(["-c", "import pyvips"]).output().map_err(|e| e.to_string())?;
    if !probe.status.success() {
        return Err(format!("pyvips does not import: {}", String::from_utf8_lossy(&probe.stderr).trim()));
    }
    Ok(python)
}

/// Runs the pyvips script on every case, writing `{index}.png` into `dir`.
fn libvips_thumbnails(python: &Path, dir: &Path) {
    let cases = CASES.iter().map(|c| {
        let mode = if c.fill { "fill" } else { "fit" };
        format!("{}|{}|{}|{mode}", corpus(c.file).display(), c.width, c.height)
    });
    let out = Command::new(python).args(["-c", SCRIPT]).arg(dir).args(cases).output().expect("python runs");
    assert!(out.status.success(), "pyvips failed: {}", String::from_utf8_lossy(&out.stderr));
}

fn our_thumbnail(c: &Case) -> pipeline::Output {
    let resize_type = if c.fill { ResizeType::Fill } else { ResizeType::Fit };
    let plan = Plan {
        source: SourceRef::Local(c.file.to_string()),
        process: Processing { resize_type, width: c.width, height: c.height, ..Processing::default() },
        output: OutputRules { format: Some(ImageFormat::Png), ..OutputRules::default() },
        limits: Limits::default(),
        response: ResponsePolicy::default(),
    };
    let input = std::fs::read(corpus(c.file)).expect("corpus file");
    pipeline::run(&plan, &input, Instant::now() + Duration::from_secs(60)).expect("our pipeline")
}

/// RGBA pixels composited on white, so colours under transparent pixels (which encoders may keep or
/// zero) do not count.
fn on_white(img: image::RgbaImage) -> Vec<u8> {
    img.pixels()
        .flat_map(|p| {
            let a = u32::from(p[3]);
            let mix = |c: u8| ((u32::from(c) * a + 255 * (255 - a) + 127) / 255) as u8;
            [mix(p[0]), mix(p[1]), mix(p[2])]
        })
        .collect()
}

#[test]
fn resize_only_thumbnails_match_libvips() {
    let python = match pyvips_python() {
        Ok(p) => p,
        Err(reason) => {
            println!("skipped: no libvips to compare with: {reason}");
            return;
        }
    };
    let dir = std::env::temp_dir().join(format!("libvips-parity-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    libvips_thumbnails(&python, &dir);
    let mut scores = Vec::new();
    for (i, c) in CASES.iter().enumerate() {
        let theirs = image::open(dir.join(format!("{i}.png"))).expect("libvips PNG").into_rgba8();
        let ours = our_thumbnail(c);
        let ours = image::load_from_memory(&ours.bytes).expect("our PNG").into_rgba8();
        assert_eq!(ours.dimensions(), theirs.dimensions(), "{}: dimensions", c.file);
        let (a, b) = (on_white(ours.clone()), on_white(theirs));
        let (w, h) = ours.dimensions();
        let pair = quality::Pair { width: w as usize, height: h as usize, channels: 3, a: &a, b: &b };
        let ssim = quality::ssim(pair).expect("same size");
        println!("{} {}x{}: SSIM {ssim:.4} vs libvips", c.file, w, h);
        scores.push((c.file, ssim));
    }
    let _ = std::fs::remove_dir_all(&dir);
    for (file, ssim) in scores {
        assert!(ssim >= 0.995, "{file}: SSIM {ssim} < 0.995");
    }
}
