//! Ours vs libvips (pyvips) vs sharp in the same run, same inputs, same settings. For every engine and
//! workload: median wall and CPU time of one image with the process pinned to one core (the same core for
//! every engine, so a helper thread such as libvips' write-behind cannot borrow the other core),
//! images/s of two processes pinned to one core each, peak RSS, output bytes, and the SSIM / PSNR of the
//! lossy output against the same engine's lossless output of the same geometry (what its encoder lost;
//! first frame of animations), plus the cross SSIM of our output against libvips'. libvips' `thumbnail`
//! also runs unpinned, for transparency. libvips runs twice: through its `thumbnail` (what sharp and most
//! users run) and the way imgproxy drives it (JPEG shrink-on-load by the largest factor that covers the
//! target, then Lanczos3 `resize`, animations frame by frame). Every engine runs each workload in its own
//! process, pinned with `taskset`: ours is this binary again with `BENCH_OURS_CHILD` set. Prints the
//! markdown tables of `docs/BENCHMARKS.md` on stdout, progress on stderr.
//!
//! `cargo bench --bench compare` (uses `.venv/bin/python` with pyvips when present, else `python3`;
//! sharp when `BENCH_NODE_PATH` names a `node_modules` holding it; `scripts/bench` sets both up).
//! Not a test: no timing is asserted anywhere. The pure half (JSON lines, scores, tables) is `report.rs`.

mod report;
mod workloads;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use lambda_media_proxy::pipeline;
use lambda_media_proxy::plan::ImageFormat;
use report::{EngineResult, Rate, Row, Score, Timing, ENGINES};

const ITERATIONS: usize = 15;

/// The core every single-threaded run is pinned to; the two-core runs use cores 0 and 1.
const ONE_CORE: usize = 1;
const TWO_CORES: [usize; 2] = [0, 1];

/// Set in the environment of the child process that runs our pipeline (the workload's index).
const CHILD_VAR: &str = "BENCH_OURS_CHILD";

fn main() {
    if let Ok(index) = std::env::var(CHILD_VAR) {
        return ours_child(&index);
    }
    let python = python();
    let tmp = std::env::temp_dir().join(format!("bench-compare-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("temp dir");
    // `BENCH_ONLY=<text>` runs only the workloads whose name contains it.
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let rows: Vec<Row> = workloads::WORKLOADS
        .iter()
        .enumerate()
        .filter(|(_, w)| w.name.contains(only.as_str()))
        .map(|(index, w)| row(&Job { index, w, input: workloads::input_path(w), python: &python, tmp: &tmp }))
        .collect();
    println!("### One core (every engine pinned to core {ONE_CORE}): median ms wall (CPU)\n");
    println!("{}", report::one_core_table(&rows));
    println!("### Two cores (two processes per engine, one pinned to each core) and peak RSS\n");
    println!("{}", report::two_core_table(&rows));
    println!("### Bytes and quality (lossy output against the same engine's lossless output)\n");
    println!("{}", report::quality_table(&rows));
    let _ = std::fs::remove_dir_all(&tmp);
}

/// One workload to run through every engine.
struct Job<'a> {
    index: usize,
    w: &'a workloads::Workload,
    input: PathBuf,
    python: &'a str,
    tmp: &'a Path,
}

impl Job<'_> {
    /// Where engine `engine` saves its lossy (`reference = false`) or lossless output.
    fn out(&self, engine: usize, reference: bool) -> PathBuf {
        let ext = if reference { "ref" } else { self.w.format.extension() };
        self.tmp.join(format!("{}.{ext}", ENGINES[engine].replace(' ', "-")))
    }
}

/// Runs every engine on the job's workload: pinned single-threaded, unpinned libvips `thumbnail`, two
/// cores, then the lossless references and the scores.
fn row(job: &Job) -> Row {
    let mut row = Row { name: job.w.name.to_string(), ..Row::default() };
    for (engine, result) in row.engines.iter_mut().enumerate() {
        let save = job.out(engine, false);
        result.one_core = invocation(job, engine, Mode::Timed(Some(&save))).and_then(|c| run_one(c, Some(ONE_CORE)));
    }
    row.thumbnail_unpinned = invocation(job, report::THUMBNAIL, Mode::Timed(None)).and_then(|c| run_one(c, None));
    for (engine, result) in row.engines.iter_mut().enumerate() {
        result.two_cores = run_two(|| invocation(job, engine, Mode::Timed(None)));
    }
    let scores = scores(job, &row.engines);
    for (result, score) in row.engines.iter_mut().zip(scores.own) {
        result.quality = score;
    }
    row.cross_ssim = scores.cross;
    eprintln!("{}", progress(&row));
    row
}

/// One line per workload on stderr while the bench runs.
fn progress(row: &Row) -> String {
    let part = |(name, e): (&&str, &EngineResult)| {
        let t = e.one_core.as_ref();
        format!(
            "{name}: {:.1} ms (cpu {:.1}, cpus {}), {:.1} img/s on 2 cores, ssim {:.4}",
            t.map_or(f64::NAN, |t| t.median_ms),
            t.and_then(|t| t.cpu_ms).unwrap_or(f64::NAN),
            t.and_then(|t| t.cpus.clone()).unwrap_or_default(),
            e.two_cores.map_or(f64::NAN, |r| r.wall),
            e.quality.map_or(f64::NAN, |s| s.ssim),
        )
    };
    let engines: Vec<String> = ENGINES.iter().zip(&row.engines).map(part).collect();
    format!("{}\n  {}", row.name, engines.join("\n  "))
}

/// What an engine process is asked to do.
#[derive(Clone, Copy)]
enum Mode<'a> {
    /// Warm-up plus [`ITERATIONS`] timed runs; the lossy output saved to the path when given.
    Timed(Option<&'a Path>),
    /// One lossless encode of the same geometry (lossless WebP for WebP, else PNG), saved to the path.
    Lossless(&'a Path),
}

/// The command that runs `engine` on the job in `mode` (not yet pinned); `None` when the engine is not
/// available (sharp without `BENCH_NODE_PATH`).
fn invocation(job: &Job, engine: usize, mode: Mode) -> Option<Command> {
    let argv = match engine {
        0 => vec![std::env::current_exe().ok()?.display().to_string()],
        1 => python_cmd(job.python, "thumbnail"),
        2 => python_cmd(job.python, "imgproxy"),
        _ => sharp_cmd()?,
    };
    let mut c = Command::new(argv.first()?);
    c.args(&argv[1..]).env("VIPS_CONCURRENCY", "1").env("SHARP_CONCURRENCY", "1");
    let (iterations, lossless, save) = match mode {
        Mode::Timed(save) => (ITERATIONS, false, save),
        Mode::Lossless(save) => (1, true, Some(save)),
    };
    if engine == 0 {
        // Our lossless reference is made in this process (`ours_reference`), never by the child.
        c.env(CHILD_VAR, job.index.to_string());
        if let Some(save) = save {
            c.env("BENCH_SAVE", save);
        }
        return (!lossless).then_some(c);
    }
    c.args(tool_args(job.w, &job.input, iterations, lossless));
    if let Some(save) = save {
        c.arg("--save").arg(save);
    }
    Some(c)
}

/// `command` run under `taskset -c core` when a core is given: the process and every thread it starts
/// stay on that core.
fn pinned(command: Command, core: Option<usize>) -> Command {
    let Some(core) = core else { return command };
    let mut c = Command::new("taskset");
    c.args(["-c", &core.to_string()]).arg(command.get_program()).args(command.get_args());
    for (key, value) in command.get_envs() {
        if let Some(value) = value {
            c.env(key, value);
        }
    }
    c
}

/// Runs one engine process (pinned to `core` when given) and reads its JSON line.
fn run_one(command: Command, core: Option<usize>) -> Option<Timing> {
    let timing = parse(pinned(command, core).output().ok()?)?;
    check_pinned(&timing, core);
    Some(timing)
}

/// Warns when a process that should have been pinned reports other CPUs (`Cpus_allowed_list`).
fn check_pinned(timing: &Timing, core: Option<usize>) {
    if let Some(core) = core {
        if timing.cpus.as_deref() != Some(core.to_string().as_str()) {
            eprintln!("warning: asked for core {core}, the process reports cpus {:?}", timing.cpus);
        }
    }
}

/// Images/s with one image per core: two processes of the same engine at once, one pinned to each
/// core, summing 1000 / median of each (wall, and CPU).
fn run_two(make: impl Fn() -> Option<Command>) -> Option<Rate> {
    let children: Vec<_> = TWO_CORES
        .iter()
        .map(|&core| {
            let mut c = pinned(make()?, Some(core));
            c.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().ok().map(|child| (core, child))
        })
        .collect::<Option<_>>()?;
    let mut timings = Vec::with_capacity(TWO_CORES.len());
    for (core, child) in children {
        let timing = parse(child.wait_with_output().ok()?)?;
        check_pinned(&timing, Some(core));
        timings.push(timing);
    }
    Some(Rate::of(&timings))
}

fn parse(output: Output) -> Option<Timing> {
    if !output.status.success() {
        eprintln!("engine failed: {}", String::from_utf8_lossy(&output.stderr).trim());
        return None;
    }
    report::parse_timing(&String::from_utf8_lossy(&output.stdout))
}

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(120)
}

/// The child side: median wall and CPU time of our pipeline after one warm-up run, output saved to
/// `$BENCH_SAVE`, printed as the tools' JSON line.
fn ours_child(index: &str) {
    let w = index.parse::<usize>().ok().and_then(|i| workloads::WORKLOADS.get(i)).expect("workload index");
    let input = std::fs::read(workloads::input_path(w)).expect("input file");
    let plan = workloads::plan(w);
    let out = pipeline::run(&plan, &input, deadline()).expect("pipeline").bytes;
    if let Some(save) = std::env::var_os("BENCH_SAVE") {
        std::fs::write(save, &out).expect("save output");
    }
    let (mut wall, mut cpu) = (Vec::with_capacity(ITERATIONS), Vec::with_capacity(ITERATIONS));
    for _ in 0..ITERATIONS {
        let (start, start_cpu) = (Instant::now(), cpu_ms());
        std::hint::black_box(pipeline::run(&plan, &input, deadline()).expect("pipeline"));
        wall.push(start.elapsed().as_secs_f64() * 1000.0);
        cpu.push(cpu_ms() - start_cpu);
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| status.lines().find_map(|l| l.strip_prefix(name)).map(str::trim);
    let peak = field("VmHWM:").and_then(|v| v.split_whitespace().next()).unwrap_or("null");
    let cpus = field("Cpus_allowed_list:").unwrap_or("");
    println!(
        "{{\"median_ms\": {}, \"median_cpu_ms\": {}, \"bytes\": {}, \"peak_rss_kb\": {peak}, \"cpus\": \"{cpus}\"}}",
        median(&mut wall),
        median(&mut cpu),
        out.len()
    );
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// CPU time of this whole process (every thread) so far, ms (`CLOCK_PROCESS_CPUTIME_ID`, what Python's
/// `time.process_time` reads).
fn cpu_ms() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec into `ts`, a valid, exclusively borrowed local.
    if unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) } != 0 {
        return f64::NAN;
    }
    ts.tv_sec as f64 * 1000.0 + ts.tv_nsec as f64 / 1e6
}

/// Our lossless reference: the same plan with PNG output (animations: PNG has no animated output here,
/// so the pipeline renders the first frame, which is what is compared).
fn ours_reference(job: &Job, save: &Path) -> Option<()> {
    let mut plan = workloads::plan(job.w);
    plan.output.format = Some(ImageFormat::Png);
    let input = std::fs::read(&job.input).ok()?;
    std::fs::write(save, pipeline::run(&plan, &input, deadline()).ok()?.bytes).ok()
}

/// Each engine's score against its own lossless output, and the cross SSIM of ours against libvips'.
struct Scores {
    own: [Option<Score>; 4],
    cross: [Option<f64>; 2],
}

/// Makes the lossless references, has pyvips decode every output and reference to PNG (first frame,
/// flattened on white), and scores them.
fn scores(job: &Job, results: &[EngineResult; 4]) -> Scores {
    let mut own = [None; 4];
    for (engine, result) in results.iter().enumerate() {
        let (lossy, reference) = (job.out(engine, false), job.out(engine, true));
        let made = if engine == 0 {
            ours_reference(job, &reference)
        } else {
            invocation(job, engine, Mode::Lossless(&reference)).and_then(|c| run_one(c, None)).map(|_| ())
        };
        if result.one_core.is_some() && made.is_some() {
            own[engine] = decoded(job, &[&lossy, &reference]).and_then(|d| report::score(&d[0], &d[1]));
        }
    }
    let cross = [report::THUMBNAIL, report::AS_IMGPROXY].map(|engine| {
        let pair = [job.out(0, false), job.out(engine, false)];
        let d = decoded(job, &[&pair[0], &pair[1]])?;
        report::score(&d[0], &d[1]).map(|s| s.ssim)
    });
    Scores { own, cross }
}

/// The first frame of each file as RGB, decoded by pyvips and composited on white (so every engine's
/// output is read by the same decoder).
fn decoded(job: &Job, files: &[&Path]) -> Option<Vec<image::RgbImage>> {
    let script = "import sys, pyvips\n\
                  for src, dst in zip(sys.argv[1::2], sys.argv[2::2]):\n\
                  \x20   im = pyvips.Image.new_from_file(src)\n\
                  \x20   im = im.flatten(background=255) if im.hasalpha() else im\n\
                  \x20   im.write_to_file(dst)\n";
    let pngs: Vec<PathBuf> = (0..files.len()).map(|i| job.tmp.join(format!("decoded-{i}.png"))).collect();
    let mut c = Command::new(job.python);
    c.args(["-c", script]);
    for (src, dst) in files.iter().zip(&pngs) {
        c.arg(src).arg(dst);
    }
    if !c.status().ok()?.success() {
        return None;
    }
    pngs.iter().map(|p| image::open(p).ok().map(|i| i.into_rgb8())).collect()
}

/// The tool's arguments for workload `w` (same on the libvips and sharp side).
fn tool_args(w: &workloads::Workload, file: &Path, iterations: usize, lossless: bool) -> Vec<String> {
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
        ("--iterations", iterations.to_string()),
        ("--lossless", u8::from(lossless).to_string()),
    ]
    .into_iter()
    .flat_map(|(k, v)| [k.to_string(), v])
    .collect()
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
