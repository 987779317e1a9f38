//! The pure half of `compare.rs`: reading the engines' JSON lines, scoring an output against its engine's
//! lossless reference, and formatting the three markdown tables of `docs/BENCHMARKS.md` (one core, two
//! cores and memory, bytes and quality). No processes, files or clocks here, so it is unit-tested
//! (`tests/bench_report.rs` includes this file; bench targets run without the test harness).
#![allow(dead_code)]

use lambda_media_proxy::pipeline::quality;

/// The engines in table order: ours, libvips' `thumbnail`, libvips driven as imgproxy drives it, sharp.
pub const ENGINES: [&str; 4] = ["ours", "libvips thumbnail", "libvips as imgproxy", "sharp"];
/// Index of libvips' `thumbnail` in [`ENGINES`] (the "libvips" of the bytes column).
pub const THUMBNAIL: usize = 1;
/// Index of libvips driven as imgproxy in [`ENGINES`].
pub const AS_IMGPROXY: usize = 2;

/// One engine process' result on one workload, as its JSON line reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct Timing {
    /// Median wall time of one image, ms.
    pub median_ms: f64,
    /// Median CPU time of the whole process (every thread) per image, ms.
    pub cpu_ms: Option<f64>,
    /// Output size.
    pub bytes: usize,
    /// Peak resident set of the whole process (`VmHWM`), MB.
    pub peak_mb: Option<f64>,
    /// The CPUs the process was allowed to run on (`Cpus_allowed_list`), e.g. "1" when pinned.
    pub cpus: Option<String>,
}

/// Reads an engine's JSON line; `None` when a required key (`median_ms`, `bytes`) is missing.
pub fn parse_timing(line: &str) -> Option<Timing> {
    Some(Timing {
        median_ms: json_number(line, "median_ms")?,
        cpu_ms: json_number(line, "median_cpu_ms"),
        bytes: json_number(line, "bytes")? as usize,
        peak_mb: json_number(line, "peak_rss_kb").map(|kb| kb / 1024.0),
        cpus: json_string(line, "cpus"),
    })
}

/// The text after `"key":` and any spaces in a flat JSON line.
fn json_value<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let pattern = format!("\"{key}\":");
    let start = line.find(&pattern)? + pattern.len();
    line.get(start..).map(str::trim_start)
}

/// Reads `"key": number` from a flat JSON line (the scripts' output is fixed; no JSON crate needed);
/// `null` and anything unparsable is `None`.
pub fn json_number(line: &str, key: &str) -> Option<f64> {
    let rest = json_value(line, key)?;
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    rest[..end].trim().parse().ok()
}

/// Reads `"key": "text"` (no escapes) from a flat JSON line.
pub fn json_string(line: &str, key: &str) -> Option<String> {
    let rest = json_value(line, key)?.strip_prefix('"')?;
    Some(rest[..rest.find('"')?].to_string())
}

/// How far an engine's lossy output is from its own lossless output of the same geometry: what the
/// encoder lost (issue 3: "SSIM within 0.005" of libvips).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Score {
    /// Luma SSIM, 8×8 windows (`pipeline::quality::ssim`).
    pub ssim: f64,
    /// PSNR over RGB, dB (`f64::INFINITY` when identical).
    pub psnr: f64,
}

/// Scores two RGB images of equal size; `None` (with a note on stderr) when the sizes differ.
pub fn score(lossy: &image::RgbImage, reference: &image::RgbImage) -> Option<Score> {
    if lossy.dimensions() != reference.dimensions() {
        eprintln!("score: sizes differ {:?} vs {:?}", lossy.dimensions(), reference.dimensions());
        return None;
    }
    let (width, height) = lossy.dimensions();
    let pair = quality::Pair { width: width as usize, height: height as usize, channels: 3, a: lossy, b: reference };
    Some(Score { ssim: quality::ssim(pair)?, psnr: quality::psnr(pair)? })
}

/// Images/s of two processes at once: from their wall time, and from their CPU time (what they would
/// reach if nothing else ran on their cores; far above the wall figure means the machine was shared).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    /// Σ 1000 / median wall ms.
    pub wall: f64,
    /// Σ 1000 / median CPU ms, when every process reported CPU time.
    pub cpu: Option<f64>,
}

impl Rate {
    /// The combined rate of processes that ran at the same time.
    pub fn of(timings: &[Timing]) -> Rate {
        let wall = timings.iter().map(|t| 1000.0 / t.median_ms).sum();
        let cpu = timings.iter().map(|t| t.cpu_ms.map(|c| 1000.0 / c)).sum();
        Rate { wall, cpu }
    }
}

/// "wall (CPU)" images/s.
fn rate_cell(r: Option<Rate>) -> String {
    match r {
        None => NA.into(),
        Some(Rate { wall, cpu: Some(cpu) }) => format!("{wall:.1} ({cpu:.1})"),
        Some(Rate { wall, .. }) => format!("{wall:.1}"),
    }
}

/// Everything measured for one engine on one workload.
#[derive(Clone, Debug, Default)]
pub struct EngineResult {
    /// Single-threaded, pinned to one core.
    pub one_core: Option<Timing>,
    /// Images/s of two processes at once, each pinned to its own core.
    pub two_cores: Option<Rate>,
    /// Lossy output against this engine's own lossless output.
    pub quality: Option<Score>,
}

/// One workload's row in every table.
#[derive(Clone, Debug, Default)]
pub struct Row {
    /// Workload name.
    pub name: String,
    /// Results in [`ENGINES`] order.
    pub engines: [EngineResult; 4],
    /// libvips `thumbnail` single-threaded but not pinned (its write-behind thread gets the other core).
    pub thumbnail_unpinned: Option<Timing>,
    /// SSIM of our lossy output against libvips' `thumbnail` and as-imgproxy lossy outputs.
    pub cross_ssim: [Option<f64>; 2],
}

const NA: &str = "n/a";

/// "wall (CPU)" in ms.
fn ms_cell(t: Option<&Timing>) -> String {
    match t {
        None => NA.into(),
        Some(Timing { median_ms, cpu_ms: Some(cpu), .. }) => format!("{median_ms:.1} ({cpu:.1})"),
        Some(t) => format!("{:.1}", t.median_ms),
    }
}

/// `numerator / denominator` as "1.23x".
fn ratio_cell(numerator: Option<f64>, denominator: Option<f64>) -> String {
    match (numerator, denominator) {
        (Some(n), Some(d)) if d > 0.0 => format!("{:.2}x", n / d),
        _ => NA.into(),
    }
}

fn opt_cell(v: Option<f64>, digits: usize) -> String {
    v.map_or(NA.into(), |v| format!("{v:.digits$}"))
}

/// "SSIM / PSNR dB".
fn score_cell(s: Option<Score>) -> String {
    s.map_or(NA.into(), |s| format!("{:.4} / {:.1}", s.ssim, s.psnr))
}

/// Signed difference of our SSIM and engine `other`'s (issue 3: within 0.005).
fn delta_cell(row: &Row, other: usize) -> String {
    let ours = row.engines[0].quality.map(|s| s.ssim);
    match (ours, row.engines.get(other).and_then(|e| e.quality)) {
        // Rounds to 4 places first, so a difference below 0.00005 reads 0.0000 and not "-0.0000".
        (Some(o), Some(t)) => {
            let d = ((o - t.ssim) * 1e4).round() / 1e4;
            if d == 0.0 {
                "0.0000".into()
            } else {
                format!("{d:+.4}")
            }
        }
        _ => NA.into(),
    }
}

/// A markdown table: header, right-aligned numeric columns, rows.
fn table(header: &[String], rows: impl Iterator<Item = Vec<String>>) -> String {
    let mut out = format!("| {} |\n|---|{}\n", header.join(" | "), "---:|".repeat(header.len().saturating_sub(1)));
    for cells in rows {
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    out
}

fn engine_header(suffix: &str) -> impl Iterator<Item = String> + '_ {
    ENGINES.iter().map(move |e| format!("{e} {suffix}"))
}

/// Their pinned time over ours, wall (CPU): above 1 means ours is faster.
fn speedup_cell(ours: Option<&Timing>, theirs: Option<&Timing>) -> String {
    let wall = ratio_cell(theirs.map(|t| t.median_ms), ours.map(|t| t.median_ms));
    with_cpu(wall, ratio_cell(theirs.and_then(|t| t.cpu_ms), ours.and_then(|t| t.cpu_ms)))
}

/// A wall-clock cell with its CPU-time twin in brackets, or alone when there is no CPU figure.
fn with_cpu(wall: String, cpu: String) -> String {
    if cpu == NA {
        wall
    } else {
        format!("{wall} ({cpu})")
    }
}

/// Single-threaded, every engine pinned to the same core: wall (CPU) ms, the unpinned libvips figure for
/// transparency, and the speed-ups (pinned), wall (CPU).
pub fn one_core_table(rows: &[Row]) -> String {
    let header: Vec<String> = std::iter::once("workload".to_string())
        .chain(engine_header("ms (CPU)"))
        .chain(["libvips thumbnail unpinned ms (CPU)".to_string()])
        .chain(ENGINES[1..].iter().map(|e| format!("speed-up vs {e} (CPU)")))
        .collect();
    let cells = rows.iter().map(|r| {
        let ours = r.engines[0].one_core.as_ref();
        std::iter::once(r.name.clone())
            .chain(r.engines.iter().map(|e| ms_cell(e.one_core.as_ref())))
            .chain([ms_cell(r.thumbnail_unpinned.as_ref())])
            .chain(r.engines[1..].iter().map(|e| speedup_cell(ours, e.one_core.as_ref())))
            .collect()
    });
    table(&header, cells)
}

/// Two processes per engine, each pinned to its own core: images/s, ours against libvips' `thumbnail`,
/// and each engine's peak RSS (single-threaded run).
pub fn two_core_table(rows: &[Row]) -> String {
    let header: Vec<String> = std::iter::once("workload".to_string())
        .chain(engine_header("img/s 2 cores (from CPU)"))
        .chain(["ours/libvips thumbnail 2 cores (from CPU)".to_string()])
        .chain(engine_header("peak MB"))
        .collect();
    let cells = rows.iter().map(|r| {
        let (ours, theirs) = (r.engines[0].two_cores, r.engines[THUMBNAIL].two_cores);
        // A rate, not a time: ours over theirs, so above 1 again means ours is faster.
        let wall = ratio_cell(ours.map(|r| r.wall), theirs.map(|r| r.wall));
        let ratio = with_cpu(wall, ratio_cell(ours.and_then(|r| r.cpu), theirs.and_then(|r| r.cpu)));
        std::iter::once(r.name.clone())
            .chain(r.engines.iter().map(|e| rate_cell(e.two_cores)))
            .chain([ratio])
            .chain(r.engines.iter().map(|e| opt_cell(e.one_core.as_ref().and_then(|t| t.peak_mb), 0)))
            .collect()
    });
    table(&header, cells)
}

/// Output bytes, each engine's SSIM / PSNR against its own lossless output, our SSIM difference to
/// libvips', and the cross SSIM of our output against libvips'.
pub fn quality_table(rows: &[Row]) -> String {
    let header: Vec<String> = std::iter::once("workload".to_string())
        .chain(engine_header("bytes"))
        .chain(["ours/libvips thumbnail bytes".to_string()])
        .chain(engine_header("SSIM / PSNR vs own lossless"))
        .chain(["ΔSSIM ours − libvips thumbnail".to_string(), "ΔSSIM ours − libvips as imgproxy".to_string()])
        .chain([
            "cross SSIM ours vs libvips thumbnail".to_string(),
            "cross SSIM ours vs libvips as imgproxy".to_string(),
        ])
        .collect();
    let cells = rows.iter().map(|r| {
        let bytes = |i: usize| r.engines[i].one_core.as_ref().map(|t| t.bytes as f64);
        std::iter::once(r.name.clone())
            .chain((0..ENGINES.len()).map(|i| opt_cell(bytes(i), 0)))
            .chain([ratio_cell(bytes(0), bytes(THUMBNAIL))])
            .chain(r.engines.iter().map(|e| score_cell(e.quality)))
            .chain([delta_cell(r, THUMBNAIL), delta_cell(r, AS_IMGPROXY)])
            .chain(r.cross_ssim.iter().map(|&s| opt_cell(s, 4)))
            .collect()
    });
    table(&header, cells)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PYTHON_LINE: &str = "{\"median_ms\": 70.25, \"median_cpu_ms\": 101.5, \"min_ms\": 69.0, \"bytes\": 136142, \
                               \"width\": 800, \"libvips\": \"8.18.7\", \"peak_rss_kb\": 98304, \"cpus\": \"1\"}";
    const NODE_LINE: &str =
        "{\"median_ms\":59.3,\"median_cpu_ms\":60.1,\"bytes\":132005,\"peak_rss_kb\":null,\"cpus\":\"0-1\"}";

    #[test]
    fn json_lines_of_each_engine_parse() {
        let cases: &[(&str, &str, Timing)] = &[
            (
                "python: spaces after colons, every field",
                PYTHON_LINE,
                Timing {
                    median_ms: 70.25,
                    cpu_ms: Some(101.5),
                    bytes: 136142,
                    peak_mb: Some(96.0),
                    cpus: Some("1".into()),
                },
            ),
            (
                "node: no spaces, null peak",
                NODE_LINE,
                Timing { median_ms: 59.3, cpu_ms: Some(60.1), bytes: 132005, peak_mb: None, cpus: Some("0-1".into()) },
            ),
            (
                "older line without CPU time or affinity",
                "{\"median_ms\": 5, \"bytes\": 7}",
                Timing { median_ms: 5.0, cpu_ms: None, bytes: 7, peak_mb: None, cpus: None },
            ),
        ];
        for (name, line, want) in cases {
            assert_eq!(parse_timing(line).as_ref(), Some(want), "{name}");
        }
    }

    #[test]
    fn lines_missing_required_keys_are_refused() {
        for (name, line) in [
            ("no median", "{\"bytes\": 7}"),
            ("no bytes", "{\"median_ms\": 5}"),
            ("error text", "Traceback (most recent call last):"),
            ("empty", ""),
            ("number is text", "{\"median_ms\": \"fast\", \"bytes\": 7}"),
        ] {
            assert_eq!(parse_timing(line), None, "{name}");
        }
    }

    #[test]
    fn a_key_that_is_a_suffix_of_another_is_not_confused() {
        // "min_ms" must not be read as "ms", nor "median_cpu_ms" as "median_ms".
        assert_eq!(json_number(PYTHON_LINE, "ms"), None);
        assert_eq!(json_number("{\"median_cpu_ms\": 3, \"median_ms\": 4}", "median_ms"), Some(4.0));
        assert_eq!(json_string(PYTHON_LINE, "libvips").as_deref(), Some("8.18.7"));
        assert_eq!(json_string(PYTHON_LINE, "bytes"), None, "a number is not a string");
    }

    fn texture(w: u32, h: u32, amp: u8) -> image::RgbImage {
        image::RgbImage::from_fn(w, h, |x, y| {
            let v = ((x * 7 + y * 3) % 200) as u8 + if (x + y) % 2 == 0 { amp } else { 0 };
            image::Rgb([v, v / 2, 255 - v])
        })
    }

    #[test]
    fn scores_rank_the_damage_and_refuse_other_sizes() {
        let reference = texture(40, 30, 0);
        let same = score(&reference, &reference).expect("same size");
        assert_eq!((same.ssim, same.psnr), (1.0, f64::INFINITY));
        let (light, heavy) = (score(&texture(40, 30, 4), &reference), score(&texture(40, 30, 40), &reference));
        let (light, heavy) = (light.expect("light"), heavy.expect("heavy"));
        assert!(light.ssim < 1.0 && heavy.ssim < light.ssim, "{light:?} {heavy:?}");
        assert!(heavy.psnr < light.psnr, "{light:?} {heavy:?}");
        assert_eq!(score(&texture(40, 31, 0), &reference), None);
    }

    fn timing(ms: f64, bytes: usize) -> Timing {
        Timing { median_ms: ms, cpu_ms: Some(ms * 1.5), bytes, peak_mb: Some(30.0), cpus: Some("1".into()) }
    }

    fn row() -> Row {
        let mut r = Row { name: "w".into(), ..Row::default() };
        let ms = [50.0, 75.0, 100.0, 60.0];
        for (i, e) in r.engines.iter_mut().enumerate() {
            e.one_core = Some(timing(ms[i], 1000 + i * 100));
            e.two_cores = Some(Rate { wall: 2000.0 / ms[i], cpu: Some(2000.0 / ms[i] * 1.5) });
            e.quality = Some(Score { ssim: 0.99 - i as f64 * 0.001, psnr: 40.0 });
        }
        r.engines[3] = EngineResult::default(); // sharp missing: every sharp cell is n/a
        r
    }

    /// The cells of the data line (the third) of a one-row table.
    fn cells(table: &str) -> Vec<String> {
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3, "{table}");
        let count = |l: &str| l.matches('|').count();
        assert!(count(lines[0]) == count(lines[1]) && count(lines[1]) == count(lines[2]), "{table}");
        lines[2].trim_matches(['|', ' ']).split(" | ").map(str::to_string).collect()
    }

    #[test]
    fn one_core_cells_show_wall_cpu_and_pinned_ratios() {
        let c = cells(&one_core_table(&[row()]));
        assert_eq!(&c[1..5], ["50.0 (75.0)", "75.0 (112.5)", "100.0 (150.0)", "n/a"]);
        assert_eq!(c[5], "n/a", "no unpinned run recorded");
        assert_eq!(&c[6..], ["1.50x (1.50x)", "2.00x (2.00x)", "n/a"]);
    }

    #[test]
    fn speed_ups_without_cpu_time_show_wall_only() {
        let ours = timing(50.0, 1);
        let theirs = Timing { cpu_ms: None, ..timing(80.0, 1) };
        assert_eq!(speedup_cell(Some(&ours), Some(&theirs)), "1.60x");
        let slower = Timing { cpu_ms: Some(60.0), ..timing(40.0, 1) };
        assert_eq!(speedup_cell(Some(&ours), Some(&slower)), "0.80x (0.80x)");
        assert_eq!(speedup_cell(None, Some(&slower)), "n/a");
    }

    #[test]
    fn rates_sum_the_processes_and_need_every_cpu_time() {
        let (a, b) = (timing(50.0, 1), timing(100.0, 1));
        assert_eq!(Rate::of(&[a.clone(), b.clone()]), Rate { wall: 30.0, cpu: Some(20.0) });
        let no_cpu = Timing { cpu_ms: None, ..b };
        assert_eq!(Rate::of(&[a, no_cpu]), Rate { wall: 30.0, cpu: None });
        assert_eq!(rate_cell(Some(Rate { wall: 30.0, cpu: None })), "30.0");
    }

    #[test]
    fn two_core_ratio_reads_ours_over_theirs() {
        let c = cells(&two_core_table(&[row()]));
        assert_eq!(&c[1..5], ["40.0 (60.0)", "26.7 (40.0)", "20.0 (30.0)", "n/a"]);
        assert_eq!(c[5], "1.50x (1.50x)");
        assert_eq!(&c[6..], ["30", "30", "30", "n/a"]);
    }

    #[test]
    fn quality_cells_show_bytes_scores_and_signed_deltas() {
        let c = cells(&quality_table(&[row()]));
        assert_eq!(&c[1..6], ["1000", "1100", "1200", "n/a", "0.91x"]);
        assert_eq!(&c[6..10], ["0.9900 / 40.0", "0.9890 / 40.0", "0.9880 / 40.0", "n/a"]);
        assert_eq!(&c[10..12], ["+0.0010", "+0.0020"]);
        let mut worse = row();
        worse.engines[0].quality = Some(Score { ssim: 0.98895, psnr: 40.0 });
        let c = cells(&quality_table(&[worse]));
        assert_eq!(&c[10..12], ["0.0000", "+0.0010"], "a difference that rounds to zero has no sign");
        let mut worse = row();
        worse.engines[0].quality = Some(Score { ssim: 0.9800, psnr: 40.0 });
        assert_eq!(&cells(&quality_table(&[worse]))[10..12], ["-0.0090", "-0.0080"]);
        assert_eq!(&c[12..], ["n/a", "n/a"]);
    }
}
