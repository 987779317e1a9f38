//! The memory budget (issue 7, SPEC §6 "never memory beyond the configured budget"): how many bytes of
//! decoded pixels may be in flight at once, and the admission rule that keeps the process under it.
//!
//! After the header probe and before any pixel is decoded, a request reserves its [`estimate`] (w×h×4
//! after shrink-on-load, × frames kept, plus the resized and encoded output). A reservation that does
//! not fit the remaining budget waits for others to finish, bounded by the request deadline; one larger
//! than the whole budget is refused at once. Either refusal is a 503, never an OOM kill. The reservation
//! is released when the pipeline run ends (not when the request gives up: the blocking work goes on).
//!
//! This module knows sizes and the host's memory limits (`/sys/fs/cgroup`, `/proc/meminfo`); it does not
//! know HTTP, metrics export or the pipeline's internals beyond the public geometry and what a decoder
//! holds ([`SourceHeader::decoded_bytes`]: shrink-on-load as each decoder really does it).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tokio::sync::Notify;

use crate::config::ObservabilityConfig;
use crate::pipeline::{geometry, Probe, SourceHeader};
use crate::plan::{ImageFormat, Plan};

/// Why a reservation was refused (both answered with 503).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BudgetError {
    /// The image alone needs more than the whole budget.
    #[error("image needs {need} bytes of memory, more than the budget of {budget}")]
    TooLarge {
        /// The estimate.
        need: u64,
        /// The whole budget.
        budget: u64,
    },
    /// The budget stayed full until the request deadline.
    #[error("memory budget busy until the deadline")]
    Busy,
}

/// Bytes reserved now and the most ever reserved at once.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Reserved now.
    pub reserved: u64,
    /// High-water mark since start.
    pub high_water: u64,
}

/// The budget shared by every request.
#[derive(Debug)]
pub struct MemoryBudget {
    total: u64,
    usage: Mutex<Usage>,
    released: Notify,
}

/// Bytes held for one pipeline run; given back on drop.
#[derive(Debug)]
pub struct Reservation {
    budget: Arc<MemoryBudget>,
    bytes: u64,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut usage = self.budget.lock();
        usage.reserved = usage.reserved.saturating_sub(self.bytes);
        drop(usage);
        self.budget.released.notify_waiters();
    }
}

impl Reservation {
    /// The bytes held.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl MemoryBudget {
    /// A budget of `total` bytes (at least 1).
    pub fn new(total: u64) -> Arc<MemoryBudget> {
        Arc::new(MemoryBudget { total: total.max(1), usage: Mutex::new(Usage::default()), released: Notify::new() })
    }

    /// The whole budget.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Reserved now and the high-water mark (the `pipeline_buffer_bytes` gauges).
    pub fn usage(&self) -> Usage {
        *self.lock()
    }

    /// Reserves `bytes` if they fit now.
    pub fn try_reserve(self: &Arc<Self>, bytes: u64) -> Result<Option<Reservation>, BudgetError> {
        if bytes > self.total {
            return Err(BudgetError::TooLarge { need: bytes, budget: self.total });
        }
        let mut usage = self.lock();
        if usage.reserved.saturating_add(bytes) > self.total {
            return Ok(None);
        }
        usage.reserved += bytes;
        usage.high_water = usage.high_water.max(usage.reserved);
        Ok(Some(Reservation { budget: self.clone(), bytes }))
    }

    /// Reserves `bytes`, waiting for releases until `deadline`.
    pub async fn reserve(self: &Arc<Self>, bytes: u64, deadline: Instant) -> Result<Reservation, BudgetError> {
        loop {
            // Register for the wake-up before checking, so a release between the two is not missed.
            let released = self.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            if let Some(reservation) = self.try_reserve(bytes)? {
                return Ok(reservation);
            }
            if tokio::time::timeout_at(deadline.into(), released).await.is_err() {
                return Err(BudgetError::Busy);
            }
        }
    }

    /// A poisoned lock only means another thread panicked mid-update of two integers; the numbers are
    /// still the best we have.
    fn lock(&self) -> MutexGuard<'_, Usage> {
        self.usage.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The budget when `MEMORY_BUDGET_BYTES` is not set: 3/4 of the Lambda function's memory, else of the
/// cgroup limit, else half the physical memory (the rest is code, source and output buffers, the
/// runtime and headroom), and 1 GiB when none can be read.
pub fn default_budget(config: &ObservabilityConfig) -> u64 {
    if let Some(bytes) = config.memory_budget_bytes {
        return bytes;
    }
    let limit = config
        .lambda_memory_mb
        .map(|mb| mb.saturating_mul(1 << 20))
        .or_else(|| std::fs::read_to_string("/sys/fs/cgroup/memory.max").ok().and_then(|s| parse_cgroup_max(&s)));
    match limit {
        Some(limit) => limit / 4 * 3,
        None => physical_memory().map(|m| m / 2).unwrap_or(1 << 30),
    }
}

/// `memory.max` holds a byte count or `max` (no limit).
fn parse_cgroup_max(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

fn physical_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    parse_meminfo_total(&meminfo)
}

/// `MemTotal:       24576000 kB` → bytes.
fn parse_meminfo_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kb.checked_mul(1024)
}

/// [`estimate`] for source bytes: probed here (a header read, no pixels). An unreadable header or one
/// beyond the plan's limits reserves nothing: the pipeline refuses it with its own 4xx
/// before decoding anything (SPEC §6), which a 503 from the budget must not mask.
pub fn estimate_input(plan: &Plan, input: &[u8]) -> u64 {
    match SourceHeader::read(input) {
        Ok(header) if crate::pipeline::check_limits(&header.probe(), &plan.limits).is_ok() => estimate(plan, &header),
        _ => 0,
    }
}

/// Bytes of pixels a pipeline run of `plan` on a source with this `header` holds at its peak: the decoded
/// image (after shrink-on-load; an animation's canvases) plus the resized frames, plus one encode buffer of
/// the result's size.
/// An EXIF orientation (JPEG and WebP with `auto_rotate`, unknown before decoding) or an AVIF `irot` may
/// swap the axes the layout is computed on, so then both are tried and the larger estimate kept.
pub fn estimate(plan: &Plan, header: &SourceHeader) -> u64 {
    let probe = &header.probe();
    let (w, h) = (probe.width, probe.height);
    let p = &plan.process;
    let turned = p.rotate % 180 == 90;
    let (ow, oh) = if turned { (h, w) } else { (w, h) };
    let stored = estimate_oriented(plan, header, ow, oh);
    // AVIF's `irot` turns it whatever `auto_rotate` says (pipeline::avif_decode::orientation).
    let exif = (p.auto_rotate && matches!(probe.format, ImageFormat::Jpeg | ImageFormat::Webp))
        || probe.format == ImageFormat::Avif;
    if exif {
        stored.max(estimate_oriented(plan, header, oh, ow))
    } else {
        stored
    }
}

fn over_limit(plan: &Plan, w: u32, h: u32) -> bool {
    let max = plan.limits.max_src_resolution;
    max > 0 && u64::from(w) * u64::from(h) > max
}

fn estimate_oriented(plan: &Plan, header: &SourceHeader, w: u32, h: u32) -> u64 {
    let probe = &header.probe();
    let vector = probe.format == ImageFormat::Svg && plan.process.vector_enlarge;
    let Ok(layout) = geometry::compute(w, h, &plan.process, vector, plan.limits.max_result_dimension) else {
        // The pipeline computes the same layout before rasterising an SVG and fails there; a raster source
        // may still be decoded first (trim), so it counts in full.
        return if probe.format == ImageFormat::Svg { 0 } else { rgba(w, h) };
    };
    let decoded = match probe.format {
        // SVG is rasterised straight at the scaled size; beyond the resolution limit the rasteriser refuses
        // it (422) before allocating, so such a run holds nothing.
        ImageFormat::Svg if over_limit(plan, layout.scaled_width, layout.scaled_height) => return 0,
        ImageFormat::Svg => rgba(layout.scaled_width, layout.scaled_height),
        // Trim decodes at full size: the border must be found before the size is known.
        _ if plan.process.trim.is_some() => rgba(w, h),
        // AVIF has no shrink-on-load, and the AV1 picture (at most three 16-bit planes) is alive while it
        // is converted to RGBA (pipeline::avif_decode).
        ImageFormat::Avif => rgba(w, h).saturating_add(u64::from(w).saturating_mul(u64::from(h)).saturating_mul(6)),
        // Shrink-on-load as the decoder does it (the stored size: the box or DCT scale is the same
        // whichever way the layout is turned).
        _ => header.decoded_bytes(layout.shrink_hint()),
    };
    let result = rgba(layout.width, layout.height).max(rgba(layout.scaled_width, layout.scaled_height));
    let frames = u64::from(frames_kept(plan, probe));
    if frames > 1 {
        // Animations stream (`animation::for_each_frame`): one compositing canvas, the frame handed on and
        // a "previous" disposal copy at full size, but every resized frame is kept until the encoder runs.
        decoded.saturating_mul(3).saturating_add(frames.saturating_mul(result)).saturating_add(result)
    } else {
        decoded.saturating_add(result).saturating_add(result)
    }
}

/// Frames decoded and kept at once: all of them (up to the limit) when the animation is kept.
fn frames_kept(plan: &Plan, probe: &Probe) -> u32 {
    if probe.frames > 1 && plan.limits.max_animation_frames > 1 {
        probe.frames.min(plan.limits.max_animation_frames)
    } else {
        1
    }
}

fn rgba(w: u32, h: u32) -> u64 {
    u64::from(w).saturating_mul(u64::from(h)).saturating_mul(4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Limits, OutputRules, Processing, ResponsePolicy, SourceRef};
    use std::time::Duration;

    fn plan(width: u32, height: u32, max_frames: u32) -> Plan {
        let process = Processing { width, height, auto_rotate: false, ..Processing::default() };
        let limits = Limits { max_animation_frames: max_frames, ..Limits::default() };
        let (source, output, response) =
            (SourceRef::Local("/t".into()), OutputRules::default(), ResponsePolicy::default());
        Plan { source, process, output, limits, response }
    }

    /// A header known by its probe only (a PNG's storage unknown: counted whole).
    fn probe(format: ImageFormat, width: u32, height: u32, frames: u32) -> SourceHeader {
        SourceHeader::from_probe(Probe { format, width, height, frames })
    }

    #[test]
    fn estimate_follows_shrink_on_load_and_frames() {
        #[rustfmt::skip]
        let rows = [
            ("PNG full size, no resize: decoded + result + encode", plan(0, 0, 1), probe(ImageFormat::Png, 100, 50, 1), 3 * 20_000),
            ("JPEG 8x smaller loads at 1/8", plan(100, 0, 1), probe(ImageFormat::Jpeg, 800, 400, 1), 20_000 + 2 * 20_000),
            ("JPEG 3x smaller loads at 1/2", plan(100, 0, 1), probe(ImageFormat::Jpeg, 300, 150, 1), 150 * 75 * 4 + 2 * 20_000),
            ("PNG 8x smaller still decodes in full", plan(100, 0, 1), probe(ImageFormat::Png, 800, 400, 1), 1_280_000 + 2 * 20_000),
            ("animation kept: canvases + every resized frame", plan(0, 0, 10), probe(ImageFormat::Gif, 100, 50, 4), 3 * 20_000 + 4 * 20_000 + 20_000),
            ("animation capped by the frame limit", plan(0, 0, 2), probe(ImageFormat::Gif, 100, 50, 4), 3 * 20_000 + 2 * 20_000 + 20_000),
            ("animation of 100 frames, 10x smaller", plan(10, 0, 1000), probe(ImageFormat::Gif, 100, 50, 100), 3 * 20_000 + 100 * 200 + 200),
            ("first frame only", plan(0, 0, 1), probe(ImageFormat::Gif, 100, 50, 4), 3 * 20_000),
            ("zero size: the decoded size", plan(0, 0, 1), probe(ImageFormat::Png, 0, 50, 1), 0),
        ];
        let mut exif = plan(100, 0, 1);
        exif.process.auto_rotate = true;
        let jpeg = probe(ImageFormat::Jpeg, 800, 400, 1);
        // Turned by EXIF, 400x800 → 100x200 loads at 1/4: 200x100 decoded, 100x200 out.
        assert_eq!(estimate(&exif, &jpeg), 3 * 80_000, "EXIF may turn a JPEG: the larger layout");
        assert_eq!(estimate(&exif, &probe(ImageFormat::Png, 800, 400, 1)), 1_280_000 + 2 * 20_000, "PNG: no EXIF");
        // AVIF decodes in full, its AV1 planes (≤ 6 bytes a pixel) beside the RGBA; `irot` may turn it, so
        // the turned layout (100x200 out) counts.
        let avif = probe(ImageFormat::Avif, 800, 400, 1);
        assert_eq!(estimate(&plan(100, 0, 1), &avif), 1_280_000 + 1_920_000 + 2 * 80_000, "AVIF in full");
        let mut trimmed = plan(100, 0, 1);
        trimmed.process.trim =
            Some(crate::plan::Trim { threshold: 10.0, color: None, equal_hor: false, equal_ver: false });
        assert_eq!(estimate(&trimmed, &jpeg), 1_280_000 + 2 * 20_000, "trim decodes the JPEG at full size");
        let mut svg = plan(0, 0, 1);
        svg.limits.max_src_resolution = 1_000_000;
        assert_eq!(estimate(&svg, &probe(ImageFormat::Svg, 100, 50, 1)), 3 * 20_000, "SVG at its nominal size");
        assert_eq!(estimate(&svg, &probe(ImageFormat::Svg, 100_000, 100_000, 1)), 0, "SVG the rasteriser refuses");
        for (name, plan, probe, expected) in rows {
            assert_eq!(estimate(&plan, &probe), expected, "{name}");
        }
    }

    /// A non-interlaced PNG above the pipeline's whole-frame threshold streams its rows through a box
    /// shrink, so it counts at that size and a budget too tight for its full frame (which it used to be
    /// counted at) admits it; its Adam7 twin (the same header, interlace method 1) decodes whole and
    /// still counts whole, and is refused by the same budget.
    #[test]
    fn a_streamed_png_counts_its_box_shrunk_size_and_its_interlaced_twin_the_whole_frame() {
        let png = crate::pipeline::test_util::corpus("formats/plasma-IceCold-rgba-5120.png");
        let mut twin = png.clone();
        twin[28] = 1; // IHDR interlace method: Adam7
        let ihdr_crc = crc32fast::hash(&twin[12..29]).to_be_bytes();
        twin[29..33].copy_from_slice(&ihdr_crc);
        let fit_800 = plan(800, 0, 1);
        let (frame, result) = (5120 * 2880 * 4, 800 * 450 * 4);
        let (streamed, interlaced) = (estimate_input(&fit_800, &png), estimate_input(&fit_800, &twin));
        assert_eq!(interlaced, frame + 2 * result, "Adam7: the whole frame, as every PNG used to count");
        // 5120 / 800 = 6.4: boxes of 3 → a 1707×960 raster, plus a few rows.
        assert!(streamed >= 1707 * 960 * 4 + 2 * result && streamed < frame / 4, "streamed: {streamed}");
        let budget = MemoryBudget::new(20_000_000);
        let admitted = budget.try_reserve(streamed).unwrap();
        assert!(admitted.is_some(), "the streamed PNG fits 20 MB");
        drop(admitted);
        assert_eq!(
            budget.try_reserve(interlaced).unwrap_err(),
            BudgetError::TooLarge { need: interlaced, budget: 20_000_000 }
        );
    }

    #[test]
    fn reservations_fit_the_budget_and_release_on_drop() {
        let budget = MemoryBudget::new(100);
        let a = budget.try_reserve(60).unwrap().expect("fits");
        assert!(budget.try_reserve(60).unwrap().is_none(), "does not fit beside the first");
        assert_eq!(budget.try_reserve(101).unwrap_err(), BudgetError::TooLarge { need: 101, budget: 100 });
        let b = budget.try_reserve(40).unwrap().expect("fits exactly");
        assert_eq!(budget.usage(), Usage { reserved: 100, high_water: 100 });
        drop((a, b));
        assert_eq!(budget.usage(), Usage { reserved: 0, high_water: 100 });
    }

    #[tokio::test]
    async fn a_waiter_gets_in_when_memory_is_released_or_gives_up_at_the_deadline() {
        let budget = MemoryBudget::new(100);
        let held = budget.try_reserve(80).unwrap().expect("fits");
        let soon = Instant::now() + Duration::from_millis(30);
        assert_eq!(budget.reserve(50, soon).await.unwrap_err(), BudgetError::Busy);
        let waiter = {
            let budget = budget.clone();
            tokio::spawn(
                async move { budget.reserve(50, Instant::now() + Duration::from_secs(5)).await.map(|r| r.bytes()) },
            )
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "must wait while 80 of 100 are held");
        drop(held);
        assert_eq!(waiter.await.unwrap(), Ok(50));
        assert_eq!(budget.usage(), Usage { reserved: 0, high_water: 80 });
    }

    #[test]
    fn default_budget_prefers_explicit_then_lambda_then_limits() {
        let explicit =
            ObservabilityConfig { memory_budget_bytes: Some(5), lambda_memory_mb: Some(1), ..Default::default() };
        assert_eq!(default_budget(&explicit), 5);
        let lambda = ObservabilityConfig { lambda_memory_mb: Some(1024), ..Default::default() };
        assert_eq!(default_budget(&lambda), 768 << 20);
        assert!(default_budget(&ObservabilityConfig::default()) > 0);
        assert_eq!(parse_cgroup_max("max\n"), None);
        assert_eq!(parse_cgroup_max("2147483648\n"), Some(2_147_483_648));
        assert_eq!(parse_meminfo_total("MemTotal:    1000 kB\nMemFree: 1 kB\n"), Some(1_024_000));
        assert_eq!(parse_meminfo_total("nothing"), None);
    }
}
