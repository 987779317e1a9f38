//! Walks the option segments of a path: splits `name:arg:arg…`, expands presets (the `default` preset
//! first), and applies the gates imgproxy applies before an option is parsed —
//! `IMGPROXY_ALLOWED_PROCESSING_OPTIONS`, `IMGPROXY_ONLY_PRESETS` and
//! `IMGPROXY_ALLOW_SECURITY_OPTIONS` (SPEC §2 "Option grammar").
//!
//! Options are read until the first segment without `:`; what follows is the source, returned
//! untouched for `source_url.rs`. The argument grammar itself lives in `options.rs`.

use super::args::ArgError;
use super::options::{lookup, OptionKind, RawOptions};
use super::ParseError;
use crate::config::ImgproxyConfig;

/// Parses the option segments (after the signature) and returns the raw options and the segments
/// that make up the source.
pub fn parse_options<'s, 'p>(
    config: &ImgproxyConfig,
    segments: &'s [&'p str],
) -> Result<(RawOptions, &'s [&'p str]), ParseError> {
    let mut walker = Walker { config, options: RawOptions::default(), stack: Vec::new() };
    // As imgproxy `defaultProcessingOptions`: the `default` preset applies first, so the URL overrides it.
    if config.presets.contains_key("default") {
        walker.apply_presets(&["default"])?;
    }
    if config.only_presets {
        return walker.presets_only(segments);
    }
    let split = segments.iter().position(|s| !normalise(s).contains(':')).unwrap_or(segments.len());
    let (options, source) = segments.split_at_checked(split).unwrap_or((segments, &[]));
    for segment in options {
        walker.apply_segment(segment, Origin::Url)?;
    }
    Ok((walker.options, source))
}

/// `%3A` in the options part reads as `:` (SPEC §2), for clients that escape every colon.
fn normalise(segment: &str) -> String {
    segment.replace("%3A", ":").replace("%3a", ":")
}

/// Where an option was written: the allow-list applies to the URL only; presets are trusted config.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Origin {
    Url,
    Preset,
}

struct Walker<'c> {
    config: &'c ImgproxyConfig,
    options: RawOptions,
    /// Presets being expanded, innermost last, to cut recursion as imgproxy does.
    stack: Vec<String>,
}

impl Walker<'_> {
    fn apply_segment(&mut self, segment: &str, origin: Origin) -> Result<(), ParseError> {
        let segment = normalise(segment);
        let mut parts = segment.split(':');
        let name = parts.next().unwrap_or_default();
        let args: Vec<&str> = parts.collect();
        self.apply(name, &args, origin)
    }

    fn apply(&mut self, name: &str, args: &[&str], origin: Origin) -> Result<(), ParseError> {
        // As imgproxy `applyURLOptions`: the allow-list is checked before the name is even looked up.
        if origin == Origin::Url && !self.allowed(name) {
            return Err(ParseError::ForbiddenOption(name.to_string()));
        }
        let def = lookup(name).ok_or_else(|| ParseError::UnknownOption(name.to_string()))?;
        let parse = match def.kind {
            OptionKind::Preset => return self.apply_presets(args),
            OptionKind::Security(_) if !self.config.allow_security_options => {
                return Err(ParseError::SecurityOptionNotAllowed(name.to_string()))
            }
            OptionKind::Plain(parse) | OptionKind::Security(parse) => parse,
        };
        parse(&mut self.options, args).map_err(|e| match e {
            ArgError::Invalid(reason) => ParseError::InvalidArgument { option: name.to_string(), reason },
            ArgError::UnknownFormat(format) => ParseError::UnknownFormat(format),
        })
    }

    /// An empty list allows everything; otherwise any of the option's names (long or short) may
    /// appear in it, so `IMGPROXY_ALLOWED_PROCESSING_OPTIONS=resize` also admits `rs`.
    fn allowed(&self, name: &str) -> bool {
        let list = &self.config.allowed_processing_options;
        if list.is_empty() {
            return true;
        }
        match lookup(name) {
            Some(def) => def.names.iter().any(|n| list.iter().any(|allowed| allowed == n)),
            None => list.iter().any(|allowed| allowed == name),
        }
    }

    fn apply_presets(&mut self, names: &[&str]) -> Result<(), ParseError> {
        let config = self.config;
        for &name in names {
            let body = config.presets.get(name).ok_or_else(|| ParseError::UnknownPreset(name.to_string()))?;
            if self.stack.iter().any(|used| used == name) {
                tracing::warn!(preset = name, "recursive preset usage ignored");
                continue;
            }
            self.stack.push(name.to_string());
            self.options.used_presets.push(name.to_string());
            for segment in body.split('/').filter(|s| !s.is_empty()) {
                if !normalise(segment).contains(':') {
                    let reason = format!("preset `{name}` has a segment without arguments: `{segment}`");
                    return Err(ParseError::InvalidArgument { option: "preset".into(), reason });
                }
                self.apply_segment(segment, Origin::Preset)?;
            }
            self.stack.pop();
        }
        Ok(())
    }

    /// `IMGPROXY_ONLY_PRESETS`: the first segment is a `:`-separated list of preset names and the
    /// rest is the source (as imgproxy `parsePathPresets`). An option name there is forbidden.
    fn presets_only<'s, 'p>(mut self, segments: &'s [&'p str]) -> Result<(RawOptions, &'s [&'p str]), ParseError> {
        let Some((first, source)) = segments.split_first() else {
            return Err(ParseError::Malformed("missing presets".into()));
        };
        let first = normalise(first);
        let names: Vec<&str> = first.split(':').collect();
        if let Some(option) = names.iter().find(|n| !self.config.presets.contains_key(**n) && lookup(n).is_some()) {
            return Err(ParseError::ForbiddenOption(option.to_string()));
        }
        self.apply_presets(&names)?;
        Ok((self.options, source))
    }
}
