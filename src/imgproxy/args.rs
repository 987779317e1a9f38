//! Argument grammar shared by the option table: booleans, numbers, colours, gravities, formats.
//!
//! Each parser follows imgproxy 3.x (`options/parse.go`): booleans as Go's `strconv.ParseBool` with
//! anything else read as false, integers as `strconv.Atoi`, floats finite only. These functions know
//! nothing of option names; the caller attaches the name to the error.

use crate::plan::{Gravity, GravityKind, ImageFormat, Rgb};

/// Why an option's arguments were refused; the option name is attached by the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArgError {
    /// Wrong arity, bad number, out of range.
    Invalid(String),
    /// A format name we do not know (`f:xyz`, `ext:xyz`).
    UnknownFormat(String),
}

/// Result of one argument parser.
pub type ArgResult<T> = Result<T, ArgError>;

/// Shorthand for an [`ArgError::Invalid`].
pub fn invalid<T>(reason: impl Into<String>) -> ArgResult<T> {
    Err(ArgError::Invalid(reason.into()))
}

/// Refuses more than `max` arguments (imgproxy `ensureMaxArgs`).
pub fn max_args(args: &[&str], max: usize) -> ArgResult<()> {
    if args.len() > max {
        return invalid(format!("expected at most {max} arguments, got {}", args.len()));
    }
    Ok(())
}

/// The first argument; every option has one because its segment contains `:`.
pub fn first<'a>(args: &[&'a str]) -> &'a str {
    args.first().copied().unwrap_or_default()
}

/// A single-argument option's value.
pub fn single<'a>(args: &[&'a str]) -> ArgResult<&'a str> {
    max_args(args, 1)?;
    Ok(first(args))
}

/// Go's `strconv.ParseBool`; anything else reads as false (imgproxy logs and carries on).
pub fn parse_bool(s: &str) -> bool {
    matches!(s, "1" | "t" | "T" | "TRUE" | "true" | "True")
}

/// A non-negative integer that fits `T` (imgproxy `parsePositiveInt`).
pub fn non_negative<T: TryFrom<i64>>(s: &str) -> ArgResult<T> {
    match s.parse::<i64>() {
        Ok(n) if n >= 0 => T::try_from(n).or_else(|_| invalid(format!("`{s}` is too large"))),
        _ => invalid(format!("`{s}` is not a non-negative integer")),
    }
}

/// A strictly positive integer that fits `T` (imgproxy `parsePositiveNonZeroInt`).
pub fn positive_int<T: TryFrom<i64>>(s: &str) -> ArgResult<T> {
    match s.parse::<i64>() {
        Ok(n) if n > 0 => T::try_from(n).or_else(|_| invalid(format!("`{s}` is too large"))),
        _ => invalid(format!("`{s}` is not a positive integer")),
    }
}

/// Any integer (imgproxy `parseInt`).
pub fn integer(s: &str) -> ArgResult<i64> {
    s.parse().or_else(|_| invalid(format!("`{s}` is not an integer")))
}

/// A finite float. Go's `ParseFloat` accepts `inf`/`NaN`, but no size or offset means anything then.
pub fn float(s: &str) -> ArgResult<f64> {
    match s.parse::<f64>() {
        Ok(f) if f.is_finite() => Ok(f),
        _ => invalid(format!("`{s}` is not a number")),
    }
}

/// A finite float ≥ 0 (imgproxy `parsePositiveFloat`).
pub fn non_negative_float(s: &str) -> ArgResult<f64> {
    match float(s) {
        Ok(f) if f >= 0.0 => Ok(f),
        _ => invalid(format!("`{s}` is not a non-negative number")),
    }
}

/// A finite float > 0 (imgproxy `parsePositiveNonZeroFloat`).
pub fn positive_float(s: &str) -> ArgResult<f64> {
    match float(s) {
        Ok(f) if f > 0.0 => Ok(f),
        _ => invalid(format!("`{s}` is not a positive number")),
    }
}

/// A quality 0..=100 (0 = unset, as imgproxy 3.x `q`).
pub fn quality(s: &str) -> ArgResult<u8> {
    match s.parse::<u8>() {
        Ok(q) if q <= 100 => Ok(q),
        _ => invalid(format!("`{s}` is not a quality in 0..=100")),
    }
}

/// Megapixels as imgproxy's security options take them, stored as pixels.
pub fn megapixels(s: &str) -> ArgResult<u64> {
    let mp = non_negative_float(s)?;
    // `as` saturates: an absurd value becomes "no practical limit", never a wrap-around.
    Ok((mp * 1_000_000.0).round() as u64)
}

/// `RRGGBB` or `RGB` hex (imgproxy `vips/color.RGBFromHex`), no `#`.
pub fn hex_color(s: &str) -> ArgResult<Rgb> {
    let digits: Option<Vec<u8>> = s.chars().map(|c| c.to_digit(16).and_then(|d| u8::try_from(d).ok())).collect();
    match digits.as_deref() {
        Some(&[r, g, b]) => Ok(Rgb { r: r * 17, g: g * 17, b: b * 17 }),
        Some(&[r1, r2, g1, g2, b1, b2]) => Ok(Rgb { r: r1 << 4 | r2, g: g1 << 4 | g2, b: b1 << 4 | b2 }),
        _ => invalid(format!("`{s}` is not a hex colour")),
    }
}

/// An output format name (`jpg`, `webp`, …).
pub fn format(s: &str) -> ArgResult<ImageFormat> {
    ImageFormat::from_extension(s).ok_or_else(|| ArgError::UnknownFormat(s.to_string()))
}

/// The compass gravities every gravity-taking option accepts.
pub fn compass(s: &str) -> Option<GravityKind> {
    Some(match s {
        "ce" => GravityKind::Center,
        "no" => GravityKind::North,
        "so" => GravityKind::South,
        "ea" => GravityKind::East,
        "we" => GravityKind::West,
        "noea" => GravityKind::NorthEast,
        "nowe" => GravityKind::NorthWest,
        "soea" => GravityKind::SouthEast,
        "sowe" => GravityKind::SouthWest,
        _ => return None,
    })
}

/// Which gravity types an option accepts (imgproxy `cropGravityTypes`, `extendGravityTypes`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GravityUse {
    /// `gravity` and `crop`: compass, `fp`, `sm`.
    Crop,
    /// `extend` and `extend_aspect_ratio`: compass and `fp`, no `sm`.
    Extend,
}

/// `type[:x[:y]]`, starting from `current` so offsets not written keep their earlier value, as
/// imgproxy (whose option keys persist until overwritten). `sm` takes no offsets and clears them;
/// `fp` needs both coordinates, each within 0..=1.
pub fn gravity(current: Gravity, args: &[&str], usage: GravityUse) -> ArgResult<Gravity> {
    let name = first(args);
    let kind = match name {
        "sm" if usage == GravityUse::Crop => GravityKind::Smart,
        "fp" => GravityKind::FocusPoint,
        _ => compass(name).ok_or_else(|| ArgError::Invalid(format!("`{name}` is not a gravity here")))?,
    };
    let mut out = Gravity { kind, ..current };
    match kind {
        GravityKind::Smart if args.len() > 1 => return invalid("smart gravity takes no offsets"),
        GravityKind::Smart => return Ok(Gravity { kind, x: 0.0, y: 0.0 }),
        GravityKind::FocusPoint if args.len() != 3 => return invalid("focus point needs x and y"),
        _ => max_args(args, 3)?,
    }
    if let Some(x) = args.get(1) {
        out.x = offset(kind, x)?;
    }
    if let Some(y) = args.get(2) {
        out.y = offset(kind, y)?;
    }
    Ok(out)
}

fn offset(kind: GravityKind, s: &str) -> ArgResult<f64> {
    let v = float(s)?;
    if kind == GravityKind::FocusPoint && !(0.0..=1.0).contains(&v) {
        return invalid(format!("focus point coordinate `{s}` is outside 0..=1"));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_follow_go_parse_bool() {
        for t in ["1", "t", "T", "TRUE", "true", "True"] {
            assert!(parse_bool(t), "{t}");
        }
        for f in ["0", "f", "false", "yes", "on", "", "tRUE", "2"] {
            assert!(!parse_bool(f), "{f}");
        }
    }

    #[test]
    fn numbers() {
        assert_eq!(non_negative::<u32>("42"), Ok(42));
        assert_eq!(non_negative::<u32>("+7"), Ok(7));
        assert!(non_negative::<u32>("-1").is_err());
        assert!(non_negative::<u32>("4294967296").is_err());
        assert!(non_negative::<u32>("1.5").is_err());
        assert!(non_negative::<u32>("").is_err());
        assert_eq!(positive_int::<u32>("1"), Ok(1));
        assert!(positive_int::<u32>("0").is_err());
        assert_eq!(integer("-90"), Ok(-90));
        assert_eq!(float("-0.5"), Ok(-0.5));
        assert!(float("inf").is_err());
        assert!(float("NaN").is_err());
        assert!(non_negative_float("-0.1").is_err());
        assert!(positive_float("0").is_err());
        assert_eq!(quality("0"), Ok(0));
        assert_eq!(quality("100"), Ok(100));
        assert!(quality("101").is_err());
        assert_eq!(megapixels("0.5"), Ok(500_000));
    }

    #[test]
    fn hex_colours() {
        assert_eq!(hex_color("ff8000"), Ok(Rgb { r: 255, g: 128, b: 0 }));
        assert_eq!(hex_color("F0A"), Ok(Rgb { r: 255, g: 0, b: 170 }));
        for bad in ["", "#fff", "ffff", "gggggg", "fff0000"] {
            assert!(hex_color(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn gravities() {
        let start = Gravity::default();
        let g = |args: &[&str], usage| gravity(start, args, usage);
        let rows: [(&str, &[&str], GravityUse, Option<Gravity>); 10] = [
            ("compass", &["noea"], GravityUse::Crop, Some(Gravity { kind: GravityKind::NorthEast, x: 0.0, y: 0.0 })),
            (
                "offsets",
                &["so", "10", "0.5"],
                GravityUse::Crop,
                Some(Gravity { kind: GravityKind::South, x: 10.0, y: 0.5 }),
            ),
            (
                "negative offsets",
                &["we", "-3"],
                GravityUse::Crop,
                Some(Gravity { kind: GravityKind::West, x: -3.0, y: 0.0 }),
            ),
            (
                "focus point",
                &["fp", "0.25", "1"],
                GravityUse::Extend,
                Some(Gravity { kind: GravityKind::FocusPoint, x: 0.25, y: 1.0 }),
            ),
            ("smart", &["sm"], GravityUse::Crop, Some(Gravity { kind: GravityKind::Smart, x: 0.0, y: 0.0 })),
            ("smart not for extend", &["sm"], GravityUse::Extend, None),
            ("smart with offsets", &["sm", "1"], GravityUse::Crop, None),
            ("focus point needs both", &["fp", "0.5"], GravityUse::Crop, None),
            ("focus point outside", &["fp", "1.5", "0"], GravityUse::Crop, None),
            ("too many offsets", &["ce", "1", "2", "3"], GravityUse::Crop, None),
        ];
        for (name, args, usage, expected) in rows {
            assert_eq!(g(args, usage).ok(), expected, "{name}");
        }
        assert!(g(&["middle"], GravityUse::Crop).is_err());
    }

    #[test]
    fn gravity_keeps_unwritten_offsets() {
        let before = Gravity { kind: GravityKind::North, x: 4.0, y: 5.0 };
        assert_eq!(
            gravity(before, &["so"], GravityUse::Crop),
            Ok(Gravity { kind: GravityKind::South, x: 4.0, y: 5.0 })
        );
        assert_eq!(
            gravity(before, &["so", "1"], GravityUse::Crop),
            Ok(Gravity { kind: GravityKind::South, x: 1.0, y: 5.0 })
        );
    }
}
