//! Output format negotiation, exactly as SPEC §2 "Output format" (imgproxy `determineOutputFormat`).
//!
//! An explicit format wins unless an `enforce_*` flag replaces it; otherwise AVIF (never for an animated
//! result), then WebP, then the source format when preferred, then the first preferred format that
//! can hold the alpha and animation the result needs. SVG sources are always rasterised (PNG unless a
//! format is chosen), never passed through. Pure decisions on plain data: no pixels, no I/O.

use crate::plan::{ImageFormat, OutputRules, Processing};

use super::{PipelineError, Probe};

/// The source bytes go out untouched: `raw`, or a `skip_processing` source format that is not being
/// converted to another format. Never for SVG (SPEC §2 "SVG").
pub fn passes_through(source: ImageFormat, rules: &OutputRules) -> bool {
    if source == ImageFormat::Svg {
        return false;
    }
    rules.raw || (rules.skip_processing.contains(&source) && rules.format.is_none_or(|f| f == source))
}

/// Whether the result will be animated: an animated source, more than one frame allowed, and the plan
/// keeps animation.
pub fn is_animated(source: &Probe, max_animation_frames: u32, rules: &OutputRules) -> bool {
    source.frames > 1 && max_animation_frames > 1 && rules.keep_animation
}

/// Whether the result may need an alpha channel, as imgproxy's `expectTransparency`: no background to
/// flatten on, and a source with alpha or a canvas (extend, padding) that adds transparent pixels.
pub fn expects_alpha(source_alpha: bool, p: &Processing) -> bool {
    p.background.is_none() && (source_alpha || p.extend.enabled || !p.padding.is_zero())
}

/// Chooses the output format.
pub fn choose(
    source: ImageFormat,
    rules: &OutputRules,
    alpha: bool,
    animated: bool,
) -> Result<ImageFormat, PipelineError> {
    let chosen = match rules.format {
        Some(ImageFormat::Svg) => return Err(PipelineError::CannotEncode("svg".into())),
        Some(_) if rules.enforce_avif && !animated => ImageFormat::Avif,
        Some(_) if rules.enforce_webp => ImageFormat::Webp,
        Some(f) => f,
        None => automatic(source, rules, alpha, animated),
    };
    if !chosen.can_encode() {
        return Err(PipelineError::CannotEncode(chosen.to_string()));
    }
    Ok(chosen)
}

fn automatic(source: ImageFormat, rules: &OutputRules, alpha: bool, animated: bool) -> ImageFormat {
    if (rules.auto_avif || rules.enforce_avif) && !animated {
        return ImageFormat::Avif;
    }
    if rules.auto_webp || rules.enforce_webp {
        return ImageFormat::Webp;
    }
    if source == ImageFormat::Svg {
        return ImageFormat::Png;
    }
    if rules.preferred_formats.contains(&source) && source.can_encode() {
        return source;
    }
    let fits =
        |f: &&ImageFormat| f.can_encode() && (!alpha || f.supports_alpha()) && (!animated || f.supports_animation());
    let fallback = if alpha { ImageFormat::Png } else { ImageFormat::Jpeg };
    rules
        .preferred_formats
        .iter()
        .find(fits)
        .or_else(|| rules.preferred_formats.iter().find(|f| f.can_encode()))
        .copied()
        .unwrap_or(fallback)
}

/// AVIF cannot be smaller than 16 pixels on a side; imgproxy then saves PNG (with alpha) or JPEG.
pub fn fit_to_size(format: ImageFormat, width: u32, height: u32, alpha: bool) -> ImageFormat {
    match format {
        ImageFormat::Avif if width < 16 || height < 16 => {
            if alpha {
                ImageFormat::Png
            } else {
                ImageFormat::Jpeg
            }
        }
        f => f,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ImageFormat::*;

    fn rules(f: impl Fn(&mut OutputRules)) -> OutputRules {
        let mut r = OutputRules::default();
        f(&mut r);
        r
    }

    /// (name, source, rules, alpha, animated, expected)
    type Row = (&'static str, ImageFormat, OutputRules, bool, bool, Result<ImageFormat, PipelineError>);

    #[test]
    fn format_choice_follows_the_spec() {
        let rows: Vec<Row> = vec![
            ("source kept when preferred", Jpeg, rules(|_| {}), false, false, Ok(Jpeg)),
            ("png source kept", Png, rules(|_| {}), true, false, Ok(Png)),
            ("webp source not preferred, opaque → jpeg", Webp, rules(|_| {}), false, false, Ok(Jpeg)),
            ("webp source not preferred, alpha → png", Webp, rules(|_| {}), true, false, Ok(Png)),
            (
                "bmp source cannot be written → jpeg",
                Bmp,
                rules(|r| r.preferred_formats.push(Bmp)),
                false,
                false,
                Ok(Jpeg),
            ),
            ("explicit wins", Jpeg, rules(|r| r.format = Some(Webp)), false, false, Ok(Webp)),
            (
                "explicit wins over auto",
                Jpeg,
                rules(|r| {
                    r.format = Some(Png);
                    r.auto_webp = true;
                    r.auto_avif = true;
                }),
                false,
                false,
                Ok(Png),
            ),
            (
                "enforce webp replaces explicit",
                Jpeg,
                rules(|r| {
                    r.format = Some(Png);
                    r.enforce_webp = true;
                }),
                false,
                false,
                Ok(Webp),
            ),
            (
                "enforce avif replaces explicit",
                Jpeg,
                rules(|r| {
                    r.format = Some(Png);
                    r.enforce_avif = true;
                }),
                false,
                false,
                Ok(Avif),
            ),
            (
                "enforce avif skipped when animated",
                Gif,
                rules(|r| {
                    r.format = Some(Gif);
                    r.enforce_avif = true;
                }),
                true,
                true,
                Ok(Gif),
            ),
            (
                "auto avif first",
                Jpeg,
                rules(|r| {
                    r.auto_avif = true;
                    r.auto_webp = true;
                }),
                false,
                false,
                Ok(Avif),
            ),
            (
                "auto avif never for animation",
                Gif,
                rules(|r| {
                    r.auto_avif = true;
                    r.auto_webp = true;
                }),
                true,
                true,
                Ok(Webp),
            ),
            ("auto webp", Jpeg, rules(|r| r.auto_webp = true), false, false, Ok(Webp)),
            ("animated needs an animating format", Webp, rules(|_| {}), true, true, Ok(Gif)),
            ("svg rasterises to png", Svg, rules(|_| {}), true, false, Ok(Png)),
            ("svg with explicit jpeg", Svg, rules(|r| r.format = Some(Jpeg)), true, false, Ok(Jpeg)),
            (
                "svg output refused",
                Png,
                rules(|r| r.format = Some(Svg)),
                true,
                false,
                Err(PipelineError::CannotEncode("svg".into())),
            ),
            (
                "tiff output refused",
                Png,
                rules(|r| r.format = Some(Tiff)),
                true,
                false,
                Err(PipelineError::CannotEncode("tiff".into())),
            ),
            ("preferred order decides", Webp, rules(|r| r.preferred_formats = vec![Gif, Png]), false, false, Ok(Gif)),
            ("empty preferred falls back", Webp, rules(|r| r.preferred_formats.clear()), true, false, Ok(Png)),
        ];
        for (name, source, rules, alpha, animated, want) in rows {
            assert_eq!(choose(source, &rules, alpha, animated), want, "{name}");
        }
    }

    #[test]
    fn pass_through_needs_skip_or_raw_and_never_svg() {
        let skip = rules(|r| r.skip_processing = vec![Gif, Svg]);
        assert!(passes_through(Gif, &skip));
        assert!(!passes_through(Jpeg, &skip));
        assert!(!passes_through(Svg, &skip));
        let converting = rules(|r| {
            r.skip_processing = vec![Gif];
            r.format = Some(Png);
        });
        assert!(!passes_through(Gif, &converting));
        let same = rules(|r| {
            r.skip_processing = vec![Gif];
            r.format = Some(Gif);
        });
        assert!(passes_through(Gif, &same));
        let raw = rules(|r| r.raw = true);
        assert!(passes_through(Jpeg, &raw));
        assert!(!passes_through(Svg, &raw));
    }

    #[test]
    fn alpha_is_expected_from_source_or_canvas_unless_flattened() {
        let mut p = Processing::default();
        assert!(!expects_alpha(false, &p));
        assert!(expects_alpha(true, &p));
        p.padding.top = 1;
        assert!(expects_alpha(false, &p));
        p.background = Some(crate::plan::Rgb { r: 0, g: 0, b: 0 });
        assert!(!expects_alpha(true, &p));
    }

    #[test]
    fn tiny_avif_falls_back() {
        assert_eq!(fit_to_size(Avif, 15, 100, true), Png);
        assert_eq!(fit_to_size(Avif, 100, 15, false), Jpeg);
        assert_eq!(fit_to_size(Avif, 16, 16, false), Avif);
        assert_eq!(fit_to_size(Jpeg, 1, 1, false), Jpeg);
    }

    #[test]
    fn animation_needs_frames_a_limit_and_the_plan() {
        let p = Probe { format: Gif, width: 1, height: 1, frames: 5 };
        let r = OutputRules::default();
        assert!(!is_animated(&p, 1, &r));
        assert!(is_animated(&p, 2, &r));
        assert!(!is_animated(&Probe { frames: 1, ..p }, 2, &r));
        assert!(!is_animated(&p, 2, &OutputRules { keep_animation: false, ..r }));
    }
}
