//! Ours vs libvips (pyvips) vs sharp in the same run, same inputs, same settings: median time with one
//! thread, images/s with both cores (two threads for us, two single-threaded processes for libvips),
//! peak RSS of each engine's own process, output sizes, and luma SSIM of our output against libvips'
//! (first frame). libvips runs twice: through its `thumbnail` (what sharp and most users run) and the
//! way imgproxy drives it (JPEG shrink-on-load by the largest factor that covers the target, then
//! Lanczos3 `resize`, animations frame by frame). Every engine runs each workload in its own process:
//! ours is this binary again with `BENCH_OURS_CHILD` set. Prints the markdown table of
//! `docs/BENCHMARKS.md`.
//!
//! `cargo bench --bench compare` (uses `.venv/bin/python` with pyvips when present, else `python3`;
//! sharp when `BENCH_NODE_PATH` names a `node_modules` holding it; `scripts/bench` sets both up).
//! Not a test: no timing is asserted anywhere.

mod workloads;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use lambda_media_proxy::pipeline::{self, quality};

const ITERATIONS: usize = 15;

/// Set in the environment of the child process that runs our pipeline (the workload's index).
const CHILD_VAR: &str = "BENCH_OURS_CHILD";

/// One tool's result on one workload.
struct Timing {
    median_ms: f64,
    bytes: usize,
    /// Peak resident set of the whole process (`VmHWM`), in MB.
    peak_mb: Option<f64>,
}

fn main() {
    if let Ok(index) = std::env::var(CHILD_VAR) {
        return ours_child(&index);
    }
    let python = python();
    let tmp = std::env::temp_dir().join(format!("bench-compare-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("temp dir");
    println!("{}", HEADER.join(" | ").trim());
    println!("|---|{}", "---:|".repeat(HEADER.len() - 1));
    for (index, w) in workloads::WORKLOADS.iter().enumerate() {
        println!("{}", row(index, w, &python, &tmp));
    }
    let _ = std::fs::remove_dir_all(&tmp);
}

/// The table's columns; "as imgproxy" is libvips driven with imgproxy's own shrink-on-load rule and
/// Lanczos3 resize instead of libvips' `thumbnail`.
const HEADER: &[&str] = &[
    "| workload",
    "ours ms",
    "libvips thumbnail ms",
    "libvips as imgproxy ms",
    "sharp ms",
    "ours/libvips thumbnail",
    "ours/libvips as imgproxy",
    "ours img/s 2 cores",
    "libvips img/s 2 cores",
    "ours peak MB",
    "libvips peak MB",
    "libvips as imgproxy peak MB",
    "sharp peak MB",
    "ours bytes",
    "libvips bytes",
    "sharp bytes",
    "SSIM vs libvips thumbnail",
    "SSIM vs libvips as imgproxy |",
];

/// Runs every engine on workload `w` and formats its table row.
fn row(index: usize, w: &workloads::Workload, python: &str, tmp: &Path) -> String {
    let path = workloads::input_path(w);
    let input = std::fs::read(&path).expect("input file");
    let plan = workloads::plan(w);
    let ours_out = tmp.join("ours.out");
    let ours = ours_in_child(index, &ours_out).expect("our pipeline in a child process");
    let ours_2 = ours_two_threads(&plan, &input);
    let (thumb_out, imgproxy_out) =
        (tmp.join(format!("thumb.{}", w.format.extension())), tmp.join(format!("imgproxy.{}", w.format.extension())));
    let thumb = run_tool(&python_cmd(python, "thumbnail"), w, &path, Some(&thumb_out));
    let imgproxy = run_tool(&python_cmd(python, "imgproxy"), w, &path, Some(&imgproxy_out));
    let vips_2 = two_processes(python, w, &path);
    let sharp = sharp_cmd().and_then(|c| run_tool(&c, w, &path, None));
    let ssim = |t: &Option<Timing>, theirs: &Path| t.as_ref().and_then(|_| ssim_vs(python, &ours_out, theirs, tmp));
    let (ssim_thumb, ssim_imgproxy) = (ssim(&thumb, &thumb_out), ssim(&imgproxy, &imgproxy_out));
    let ms = |t: &Option<Timing>| t.as_ref().map_or("n/a".into(), |t| format!("{:.1}", t.median_ms));
    let mb = |t: &Option<Timing>| t.as_ref().and_then(|t| t.peak_mb).map_or("n/a".into(), |m| format!("{m:.0}"));
    let bytes = |t: &Option<Timing>| t.as_ref().map_or("n/a".into(), |t| t.bytes.to_string());
    let ratio =
        |t: &Option<Timing>| t.as_ref().map_or("n/a".into(), |v| format!("{:.2}x", v.median_ms / ours.median_ms));
    let score = |s: Option<f64>| s.map_or("n/a".into(), |s| format!("{s:.4}"));
    let cells = [
        w.name.to_string(),
        format!("{:.1}", ours.median_ms),
        ms(&thumb),
        ms(&imgproxy),
        ms(&sharp),
        ratio(&thumb),
        ratio(&imgproxy),
        format!("{ours_2:.1}"),
        vips_2.map_or("n/a".into(), |v| format!("{v:.1}")),
        ours.peak_mb.map_or("n/a".into(), |m| format!("{m:.0}")),
        mb(&thumb),
        mb(&imgproxy),
        mb(&sharp),
        ours.bytes.to_string(),
        bytes(&thumb),
        bytes(&sharp),
        score(ssim_thumb),
        score(ssim_imgproxy),
    ];
    format!("| {} |", cells.join(" | "))
}

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(120)
}

/// Runs our pipeline on workload `index` in a fresh child process (this bench binary again), so that
/// its peak RSS is the workload's alone, as for the libvips and sharp processes.
fn ours_in_child(index: usize, save: &Path) -> Option<Timing> {
    let exe = std::env::current_exe().ok()?;
    let output = Command::new(exe).env(CHILD_VAR, index.to_string()).env("BENCH_SAVE", save).output().ok()?;
    parse(output)
}

/// The child side: median wall time of our pipeline after one warm-up run, output saved to
/// `$BENCH_SAVE`, printed as the tools' JSON line.
fn ours_child(index: &str) {
    let w = index.parse::<usize>().ok().and_then(|i| workloads::WORKLOADS.get(i)).expect("workload index");
    let input = std::fs::read(workloads::input_path(w)).expect("input file");
    let plan = workloads::plan(w);
    let out = pipeline::run(&plan, &input, deadline()).expect("pipeline").bytes;
    if let Some(save) = std::env::var_os("BENCH_SAVE") {
        std::fs::write(save, &out).expect("save output");
    }
    let mut times: Vec<f64> = (0..ITERATIONS)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(pipeline::run(&plan, &input, deadline()).expect("pipeline"));
            start.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    let peak = peak_rss_kb().map_or("null".into(), |k| k.to_string());
    println!("{{\"median_ms\": {}, \"bytes\": {}, \"peak_rss_kb\": {peak}}}", times[times.len() / 2], out.len());
}

/// This process' peak resident set (`VmHWM` in `/proc/self/status`), in kB; Linux only.
fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Images per second with one image per core: two threads, each running the workload in a loop.
fn ours_two_threads(plan: &lambda_media_proxy::plan::Plan, input: &[u8]) -> f64 {
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                for _ in 0..ITERATIONS {
                    std::hint::black_box(pipeline::run(plan, input, deadline()).expect("pipeline"));
                }
            });
        }
    });
    (2 * ITERATIONS) as f64 / start.elapsed().as_secs_f64()
}

/// The tool's arguments for workload `w` (same on the libvips and sharp side).
fn tool_args(w: &workloads::Workload, file: &Path) -> Vec<String> {
    let format = match w.format.extension() {
        "jpg" => "jpeg",
        other => other,
    };
    // imgproxy passes AVIF effort 9 - IMGPROXY_AVIF_SPEED (default 8 → effort 1); ours runs rav1e at 8 + 1.
    let effort = if format == "avif" { 1 } else { 4 };
    [
        ("--file", file.display().to_string()),
        ("--format", format.to_string()),
        ("--width", w.width.to_string()),
        ("--quality", w.quality.to_string()),
        ("--blur", w.blur.to_string()),
        ("--pages", if w.pages > 1 { "-1".into() } else { "1".into() }),
        ("--effort", effort.to_string()),
        ("--iterations", ITERATIONS.to_string()),
    ]
    .into_iter()
    .flat_map(|(k, v)| [k.to_string(), v])
    .collect()
}

/// Runs a tool script single-threaded and reads its JSON line.
fn run_tool(cmd: &[String], w: &workloads::Workload, file: &Path, save: Option<&Path>) -> Option<Timing> {
    let mut c = command(cmd, w, file);
    if let Some(save) = save {
        c.args(["--save", &save.display().to_string()]);
    }
    parse(c.output().ok()?)
}

fn command(cmd: &[String], w: &workloads::Workload, file: &Path) -> Command {
    let mut c = Command::new(&cmd[0]);
    c.args(&cmd[1..]).args(tool_args(w, file));
    c.env("VIPS_CONCURRENCY", "1").env("SHARP_CONCURRENCY", "1");
    c
}

fn parse(output: Output) -> Option<Timing> {
    if !output.status.success() {
        eprintln!("tool: {}", String::from_utf8_lossy(&output.stderr).trim());
        return None;
    }
    let line = String::from_utf8_lossy(&output.stdout);
    Some(Timing {
        median_ms: json_number(&line, "median_ms")?,
        bytes: json_number(&line, "bytes")? as usize,
        peak_mb: json_number(&line, "peak_rss_kb").map(|kb| kb / 1024.0),
    })
}

/// libvips images/s with one image per core: two single-threaded processes at once.
fn two_processes(python: &str, w: &workloads::Workload, file: &Path) -> Option<f64> {
    let children: Vec<_> = (0..2)
        .map(|_| command(&python_cmd(python, "thumbnail"), w, file).stdout(std::process::Stdio::piped()).spawn())
        .collect::<Result<_, _>>()
        .ok()?;
    let mut rate = 0.0;
    for child in children {
        rate += 1000.0 / parse(child.wait_with_output().ok()?)?.median_ms;
    }
    Some(rate)
}

/// Luma SSIM of two encoded images (first frame), both converted to PNG by pyvips.
fn ssim_vs(python: &str, ours: &Path, theirs: &Path, tmp: &Path) -> Option<f64> {
    let script = "import sys, pyvips\n\
                  for src, dst in zip(sys.argv[1::2], sys.argv[2::2]):\n\
                  \x20   im = pyvips.Image.new_from_file(src)\n\
                  \x20   im = im.flatten(background=255) if im.hasalpha() else im\n\
                  \x20   im.write_to_file(dst)\n";
    let (a, b) = (tmp.join("a.png"), tmp.join("b.png"));
    let status = Command::new(python).args(["-c", script]).arg(ours).arg(&a).arg(theirs).arg(&b).status().ok()?;
    if !status.success() {
        return None;
    }
    let (a, b) = (image::open(a).ok()?.into_rgb8(), image::open(b).ok()?.into_rgb8());
    if a.dimensions() != b.dimensions() {
        eprintln!("SSIM: sizes differ {:?} vs {:?}", a.dimensions(), b.dimensions());
        return None;
    }
    let (w, h) = a.dimensions();
    quality::ssim(quality::Pair { width: w as usize, height: h as usize, channels: 3, a: a.as_raw(), b: b.as_raw() })
}

/// Reads `"key": number` from a flat JSON line (the scripts' output is fixed; no JSON crate needed).
fn json_number(line: &str, key: &str) -> Option<f64> {
    let start = line.find(&format!("\"{key}\":"))? + key.len() + 3;
    let rest = line[start..].trim_start();
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    rest[..end].trim().parse().ok()
}

/// `bench_libvips.py` in `mode`: `thumbnail` (libvips' own thumbnail) or `imgproxy` (imgproxy's rule).
fn python_cmd(python: &str, mode: &str) -> Vec<String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/bench_libvips.py");
    vec![python.to_string(), script.to_string(), "--mode".to_string(), mode.to_string()]
}

/// `node scripts/bench_sharp.js` when `BENCH_NODE_PATH` (a `node_modules` folder) holds sharp.
fn sharp_cmd() -> Option<Vec<String>> {
    let modules = PathBuf::from(std::env::var_os("BENCH_NODE_PATH")?);
    if !modules.join("sharp").exists() {
        return None;
    }
    std::env::set_var("NODE_PATH", &modules);
    Some(vec!["node".into(), concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/bench_sharp.js").into()])
}

fn python() -> String {
    if let Some(p) = std::env::var_os("BENCH_PYTHON") {
        return p.to_string_lossy().into_owned();
    }
    let venv = concat!(env!("CARGO_MANIFEST_DIR"), "/.venv/bin/python");
    if Path::new(venv).exists() {
        venv.to_string()
    } else {
        "python3".to_string()
    }
}
