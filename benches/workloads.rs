//! The benchmark workloads, shared by `pipeline.rs` (criterion) and `compare.rs` (ours vs libvips).
//! Each names a corpus image and the same settings on both sides (see `scripts/bench_libvips.py`).
#![allow(dead_code)]

use std::path::PathBuf;

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
        name: "animated GIF 42 frames -> 128px WebP q75",
        file: "formats/iss634.gif",
        format: ImageFormat::Webp,
        width: 128,
        quality: 75,
        blur: 0.0,
        pages: 42,
    },
];

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
