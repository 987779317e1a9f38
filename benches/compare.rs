//! Ours vs libvips in the same run, same inputs, same settings, one thread each: prints median times, the
//! throughput ratio (libvips time / our time; above 1 means we are faster) and output sizes.
//!
//! `cargo bench --bench compare` (uses `.venv/bin/python` with pyvips when present, else `python3`;
//! `scripts/bench` sets the venv up). Not a test: no timing is asserted anywhere.

mod workloads;

use std::process::Command;
use std::time::{Duration, Instant};

use lambda_media_proxy::pipeline;

const ITERATIONS: usize = 15;

fn main() {
    let python = python();
    println!("| workload | ours ms | libvips ms | ratio | ours bytes | libvips bytes |");
    println!("|---|---:|---:|---:|---:|---:|");
    for w in workloads::WORKLOADS {
        let path = workloads::corpus().join(w.file);
        let input = std::fs::read(&path).expect("corpus file");
        let plan = workloads::plan(w);
        let (ours_ms, ours_bytes) = time_ours(&plan, &input);
        match time_libvips(&python, w, path.to_str().unwrap_or_default()) {
            Some((vips_ms, vips_bytes)) => println!(
                "| {} | {ours_ms:.1} | {vips_ms:.1} | {:.2}x | {ours_bytes} | {vips_bytes} |",
                w.name,
                vips_ms / ours_ms
            ),
            None => println!("| {} | {ours_ms:.1} | n/a | n/a | {ours_bytes} | n/a |", w.name),
        }
    }
}

/// Median wall time of our pipeline after one warm-up run, and the output size.
fn time_ours(plan: &lambda_media_proxy::plan::Plan, input: &[u8]) -> (f64, usize) {
    let deadline = || Instant::now() + Duration::from_secs(60);
    let bytes = pipeline::run(plan, input, deadline()).expect("pipeline").bytes.len();
    let mut times: Vec<f64> = (0..ITERATIONS)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(pipeline::run(plan, input, deadline()).expect("pipeline"));
            start.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], bytes)
}

/// Runs `scripts/bench_libvips.py` single-threaded and reads its JSON line.
fn time_libvips(python: &str, w: &workloads::Workload, file: &str) -> Option<(f64, usize)> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/bench_libvips.py");
    let format = match w.format.extension() {
        "jpg" => "jpeg",
        other => other,
    };
    let output = Command::new(python)
        .arg(script)
        .args(["--file", file, "--format", format])
        .args(["--width", &w.width.to_string(), "--quality", &w.quality.to_string()])
        .args(["--blur", &w.blur.to_string(), "--iterations", &ITERATIONS.to_string()])
        .env("VIPS_CONCURRENCY", "1")
        .output()
        .ok()?;
    if !output.status.success() {
        eprintln!("libvips: {}", String::from_utf8_lossy(&output.stderr).trim());
        return None;
    }
    let line = String::from_utf8_lossy(&output.stdout);
    Some((json_number(&line, "median_ms")?, json_number(&line, "bytes")? as usize))
}

/// Reads `"key": number` from a flat JSON line (the script's output is fixed; no JSON crate needed).
fn json_number(line: &str, key: &str) -> Option<f64> {
    let start = line.find(&format!("\"{key}\":"))? + key.len() + 3;
    let rest = line[start..].trim_start();
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    rest[..end].trim().parse().ok()
}

fn python() -> String {
    if let Some(p) = std::env::var_os("BENCH_PYTHON") {
        return p.to_string_lossy().into_owned();
    }
    let venv = concat!(env!("CARGO_MANIFEST_DIR"), "/.venv/bin/python");
    if std::path::Path::new(venv).exists() {
        venv.to_string()
    } else {
        "python3".to_string()
    }
}
