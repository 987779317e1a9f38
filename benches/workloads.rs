//! The benchmark workloads, shared by `pipeline.rs` (criterion) and `compare.rs` (ours vs libvips).
//! Each names a corpus image (or [`GIF_50`], generated at bench time) and the same settings on both
//! sides (see `scripts/bench_libvips.py`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use lambda_media_proxy::plan::{ImageFormat, Limits, OutputRules, Plan, Processing, ResponsePolicy, SourceRef};

/// One thing to time.
pub struct Workload {
    /// Short name for tables.
    pub name: &'static str,
    /// Path under the corpus.
    pub file: &'static str,
    /// Output format.
    pub format: ImageFormat,
    /// Target width (fit).
    pub width: u32,
    /// Output quality.
    pub quality: u8,
    /// Gaussian blur sigma (0 = none).
    pub blur: f32,
    /// Frames to keep (1 = first frame; more for animated output).
    pub pages: u32,
}

/// The workloads of the foundation issue and the pipeline issue.
pub const WORKLOADS: &[Workload] = &[
    Workload {
        name: "12MP JPEG -> 800px JPEG q80",
        file: "photos/eleph12mp.jpg",
        format: ImageFormat::Jpeg,
        width: 800,
        quality: 80,
        blur: 0.0,
        pages: 1,
    },
    Workload {
        name: "12MP JPEG -> 800px WebP q75",
        file: "photos/eleph12mp.jpg",
        format: ImageFormat::Webp,
        width: 800,
        quality: 75,
        blur: 0.0,
        pages: 1,
    },
    Workload {
        name: "15MP progressive JPEG -> 800px JPEG q80",
        file: "photos/volna_prog444q85.jpg",
        format: ImageFormat::Jpeg,
        width: 800,
        quality: 80,
        blur: 0.0,
        pages: 1,
    },
    Workload {
        name: "3MP PNG alpha -> 400px WebP q75",
        file: "photos/sharp_paper_2048x1536.png",
        format: ImageFormat::Webp,
        width: 400,
        quality: 75,
        blur: 0.0,
        pages: 1,
    },
    Workload {
        name: "12MP JPEG -> 800px JPEG q80 blur 5",
        file: "photos/eleph12mp.jpg",
        format: ImageFormat::Jpeg,
        width: 800,
        quality: 80,
        blur: 5.0,
        pages: 1,
    },
    Workload {
        name: "12MP JPEG -> 800px AVIF q50",
        file: "photos/eleph12mp.jpg",
        format: ImageFormat::Avif,
        width: 800,
        quality: 50,
        blur: 0.0,
        pages: 1,
    },
    Workload {
        name: "15MP progressive JPEG -> 400px JPEG q80 (DC-only)",
        file: "photos/volna_prog444q85.jpg",
        format: ImageFormat::Jpeg,
        width: 400,
        quality: 80,
        blur: 0.0,
        pages: 1,
    },
    Workload {
        name: "animated GIF 50 frames 400x300 (generated) -> 128px WebP q75",
        file: GIF_50,
        format: ImageFormat::Webp,
        width: 128,
        quality: 75,
        blur: 0.0,
        pages: 50,
    },
    Workload {
        name: "animated GIF 42 frames -> 128px WebP q75",
        file: "formats/iss634.gif",
        format: ImageFormat::Webp,
        width: 128,
        quality: 75,
        blur: 0.0,
        pages: 42,
    },
];

/// The "animated GIF 50 frames" input: not in the corpus, so [`input_path`] makes it.
pub const GIF_50: &str = "generated:pan-zoom-50.gif";

/// Where workload `w`'s input is: in the corpus, or generated once into `.cache/bench-inputs`.
pub fn input_path(w: &Workload) -> PathBuf {
    match w.file.strip_prefix("generated:") {
        None => corpus().join(w.file),
        Some(name) => {
            let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".cache/bench-inputs");
            let path = dir.join(name);
            if !path.exists() {
                std::fs::create_dir_all(&dir).expect("cache dir");
                let tmp = dir.join(format!("{name}.{}.tmp", std::process::id()));
                std::fs::write(&tmp, pan_zoom_gif(&corpus().join("photos/lake9mp.jpg"), 50)).expect("write gif");
                std::fs::rename(&tmp, &path).expect("rename gif");
            }
            path
        }
    }
}

/// A deterministic `frames`-frame 400×300 GIF that pans and zooms across a photo (every pixel changes
/// from frame to frame, the hard case for GIF decoders and WebP's frame differencing), quantised per
/// frame by the `gif` crate's NeuQuant, 40 ms a frame, looping forever.
pub fn pan_zoom_gif(photo: &Path, frames: u32) -> Vec<u8> {
    let (w, h) = (400u32, 300u32);
    let photo = image::open(photo).expect("photo").into_rgba8();
    let base = image::imageops::resize(&photo, 1200, 675, image::imageops::FilterType::Triangle);
    let mut out = Vec::new();
    let mut enc = gif::Encoder::new(&mut out, w as u16, h as u16, &[]).expect("gif encoder");
    enc.set_repeat(gif::Repeat::Infinite).expect("repeat");
    for i in 0..frames {
        let t = f64::from(i) / f64::from(frames.max(2) - 1);
        // The window grows from 480×360 to 720×540 while moving from the left to the right edge.
        let (cw, ch) = ((480.0 + 240.0 * t) as u32, (360.0 + 180.0 * t) as u32);
        let (x, y) = (((1200 - cw) as f64 * t) as u32, ((675 - ch) as f64 * (1.0 - t) * 0.5) as u32);
        let crop = image::imageops::crop_imm(&base, x, y, cw, ch).to_image();
        let mut rgba = image::imageops::resize(&crop, w, h, image::imageops::FilterType::Triangle).into_raw();
        let mut frame = gif::Frame::from_rgba_speed(w as u16, h as u16, &mut rgba, 10);
        frame.delay = 4;
        enc.write_frame(&frame).expect("gif frame");
    }
    drop(enc);
    out
}

/// `../shared/corpus` beside the repository (or `$CORPUS_DIR`).
pub fn corpus() -> PathBuf {
    std::env::var_os("CORPUS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"))
}

/// The plan a `rs:fit:{width}:0/q:{quality}/bl:{blur}/f:{format}` URL compiles to.
pub fn plan(w: &Workload) -> Plan {
    Plan {
        source: SourceRef::Local(w.file.to_string()),
        process: Processing { width: w.width, blur: w.blur, ..Processing::default() },
        output: OutputRules { format: Some(w.format), quality: w.quality, ..OutputRules::default() },
        limits: Limits { max_animation_frames: w.pages, ..Limits::default() },
        response: ResponsePolicy::default(),
    }
}
