//! Ours vs libvips (pyvips, as imgproxy drives it) vs sharp in the same run, same inputs, same settings:
//! median time with one thread, images/s with both cores (two threads for us, two single-threaded
//! processes for libvips), output sizes, and luma SSIM of our output against libvips' (first frame).
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

/// One tool's result on one workload.
struct Timing {
    median_ms: f64,
    bytes: usize,
}

fn main() {
    let python = python();
    let tmp = std::env::temp_dir().join(format!("bench-compare-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("temp dir");
    println!("| workload | ours ms | libvips ms | sharp ms | ours/libvips | ours img/s 2 cores | libvips img/s 2 cores | ours bytes | libvips bytes | sharp bytes | SSIM ours vs libvips |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for w in workloads::WORKLOADS {
        let path = workloads::corpus().join(w.file);
        let input = std::fs::read(&path).expect("corpus file");
        let plan = workloads::plan(w);
        let ours = time_ours(&plan, &input, &tmp.join("ours.out"));
        let ours_2 = ours_two_threads(&plan, &input);
        let vips_out = tmp.join(format!("libvips.{}", w.format.extension()));
        let vips = run_tool(&python_cmd(&python), w, &path, Some(&vips_out));
        let vips_2 = two_processes(&python, w, &path);
        let sharp = sharp_cmd().and_then(|c| run_tool(&c, w, &path, None));
        let ssim = vips.as_ref().and_then(|_| ssim_vs(&python, &tmp.join("ours.out"), &vips_out, &tmp));
        let cell = |t: &Option<Timing>| t.as_ref().map_or("n/a".into(), |t| format!("{:.1}", t.median_ms));
        let bytes = |t: &Option<Timing>| t.as_ref().map_or("n/a".into(), |t| t.bytes.to_string());
        let ratio = vips.as_ref().map_or("n/a".into(), |v| format!("{:.2}x", v.median_ms / ours.median_ms));
        println!(
            "| {} | {:.1} | {} | {} | {ratio} | {ours_2:.1} | {} | {} | {} | {} | {} |",
            w.name,
            ours.median_ms,
            cell(&vips),
            cell(&sharp),
            vips_2.map_or("n/a".into(), |v| format!("{v:.1}")),
            ours.bytes,
            bytes(&vips),
            bytes(&sharp),
            ssim.map_or("n/a".into(), |s| format!("{s:.4}")),
        );
    }
    let _ = std::fs::remove_dir_all(&tmp);
}

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(120)
}

/// Median wall time of our pipeline after one warm-up run; the output is saved to `save`.
fn time_ours(plan: &lambda_media_proxy::plan::Plan, input: &[u8], save: &Path) -> Timing {
    let out = pipeline::run(plan, input, deadline()).expect("pipeline").bytes;
    std::fs::write(save, &out).expect("save output");
    let mut times: Vec<f64> = (0..ITERATIONS)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(pipeline::run(plan, input, deadline()).expect("pipeline"));
            start.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    Timing { median_ms: times[times.len() / 2], bytes: out.len() }
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
    Some(Timing { median_ms: json_number(&line, "median_ms")?, bytes: json_number(&line, "bytes")? as usize })
}

/// libvips images/s with one image per core: two single-threaded processes at once.
fn two_processes(python: &str, w: &workloads::Workload, file: &Path) -> Option<f64> {
    let children: Vec<_> = (0..2)
        .map(|_| command(&python_cmd(python), w, file).stdout(std::process::Stdio::piped()).spawn())
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

fn python_cmd(python: &str) -> Vec<String> {
    vec![python.to_string(), concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/bench_libvips.py").to_string()]
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
