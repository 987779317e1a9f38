//! Refit: a finished, encoded image → the same picture in fewer bytes, for the Lambda payload cap
//! (SPEC §5 rule 1: "re-encoded smaller, lower quality, then smaller dimensions").
//!
//! The payload-cap layer sees only the encoded result, not the plan, so this decodes the result again and
//! re-encodes it with the `max_bytes` quality search imgproxy uses (`encode::encode`), then, only when the
//! caller allows it, halves towards the limit in size. Only single-frame lossy results (JPEG, WebP) are
//! refitted: a lossless or animated result would change in kind, so the caller stores or redirects those
//! instead. Knows nothing of HTTP or Lambda.

use std::time::Instant;

use crate::plan::{ImageFormat, OutputRules};

use super::resize::{self, SourceBox};
use super::{decode, encode, isolated, probe, Output, PipelineError};

/// Rounds of downscaling before giving up (each takes at least 10 % off each side).
const MAX_DOWNSCALES: usize = 8;

/// Re-encodes `input` (a result this pipeline produced) to at most `max_bytes`, lowering the quality and,
/// when `allow_downscale`, the dimensions. Errors when the image cannot be refitted or still does not fit.
pub fn refit(input: &[u8], max_bytes: u64, allow_downscale: bool) -> Result<Output, PipelineError> {
    let info = probe::inspect(input)?;
    let source = info.probe;
    if source.frames > 1 {
        return Err(PipelineError::Unsupported("an animated result cannot be refitted".into()));
    }
    if !matches!(source.format, ImageFormat::Jpeg | ImageFormat::Webp) {
        return Err(PipelineError::Unsupported(format!("a {} result cannot be refitted", source.format)));
    }
    let rules = OutputRules { max_bytes, ..OutputRules::default() };
    // Outside any request (the payload cap acts on a finished result): the default decode budget.
    let mut raster = decode::decode(input, &info, 1.0, Instant::now() + isolated::DEFAULT_BUDGET)?;
    let mut bytes = encode::encode(&raster, source.format, &rules)?;
    let mut rounds = 0;
    while allow_downscale && bytes.len() as u64 > max_bytes && rounds < MAX_DOWNSCALES {
        // Bytes scale roughly with area, so aim at the limit's share of the area, a little under.
        let share = (max_bytes as f64 / bytes.len() as f64).sqrt() * 0.9;
        let scale = share.clamp(0.25, 0.9);
        let width = ((f64::from(raster.width) * scale) as u32).max(1);
        let height = ((f64::from(raster.height) * scale) as u32).max(1);
        let whole = SourceBox { x: 0.0, y: 0.0, width: f64::from(raster.width), height: f64::from(raster.height) };
        raster = resize::crop_resize(raster, whole, width, height)?;
        bytes = encode::encode(&raster, source.format, &rules)?;
        rounds += 1;
    }
    if bytes.len() as u64 > max_bytes {
        return Err(PipelineError::ResultTooBig(format!("{} bytes after refitting", bytes.len())));
    }
    Ok(Output { bytes, format: source.format, width: raster.width, height: raster.height, source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::test_util::corpus;

    fn dims(bytes: &[u8]) -> (u32, u32) {
        let p = crate::pipeline::probe(bytes).unwrap();
        (p.width, p.height)
    }

    #[test]
    fn lower_quality_fits_a_jpeg_without_changing_its_size() {
        let input = corpus("photos/mate-Dune.jpg");
        let limit = input.len() as u64 / 3;
        let out = refit(&input, limit, false).unwrap();
        assert!(out.bytes.len() as u64 <= limit, "{} > {limit}", out.bytes.len());
        assert_eq!(dims(&out.bytes), (1680, 1050));
        assert_eq!(out.format, ImageFormat::Jpeg);
    }

    #[test]
    fn downscaling_only_when_allowed() {
        let input = corpus("formats/flower2.webp");
        let limit = 1500;
        assert!(matches!(refit(&input, limit, false), Err(PipelineError::ResultTooBig(_))));
        let out = refit(&input, limit, true).unwrap();
        assert!(out.bytes.len() as u64 <= limit);
        let (w, h) = dims(&out.bytes);
        assert!(w < 300 && h < 225, "{w}x{h}");
        assert_eq!((out.width, out.height), (w, h));
    }

    #[test]
    fn lossless_and_animated_results_are_refused() {
        for file in ["formats/i_trns.png", "formats/iss634.webp"] {
            let input = corpus(file);
            assert!(matches!(refit(&input, 100, true), Err(PipelineError::Unsupported(_))), "{file}");
        }
    }
}
