//! Entry points for the fuzz targets in `fuzz/` (issue 8): each takes arbitrary bytes, drives one
//! parser of untrusted input with fixed, small limits, and checks the invariants that must hold for
//! every input. A panic (or a sanitizer report) anywhere below is a finding.
//!
//! Kept in the library, not in `fuzz/`, so the entry points compile with the crate (and clippy) and
//! the same functions replay regression inputs in ordinary tests (`tests/hostile_inputs.rs`). It knows
//! only the public parse/probe/run functions of the dialects and the pipeline; no I/O, no server.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::imgproxy::{self, RequestContext};
use crate::misskey;
use crate::pipeline;
use crate::plan::{Limits, Plan};

/// A fixed key/salt pair ("test" hex-encoded), so signed-mode parsing is reachable.
const KEY_HEX: &str = "74657374";
const SALT_HEX: &str = "73616c74";

/// Small limits so the pipeline target spends its time in parsers, not in resizing photos: 4 MP, at
/// most 4 frames of 1 MP each, results at most 1024 px.
pub const FUZZ_LIMITS: Limits = Limits {
    max_src_resolution: 4_000_000,
    max_src_file_size: 0,
    max_animation_frames: 4,
    max_animation_frame_resolution: 1_000_000,
    max_result_dimension: 1024,
};

struct Configs {
    unsigned: Config,
    signed: Config,
}

fn configs() -> &'static Configs {
    static CONFIGS: OnceLock<Configs> = OnceLock::new();
    CONFIGS.get_or_init(|| {
        let unsigned = Config::from_vars(Vec::<(String, String)>::new()).unwrap_or_else(|e| panic!("config: {e}"));
        let vars = [("IMGPROXY_KEY", KEY_HEX), ("IMGPROXY_SALT", SALT_HEX)];
        let signed = Config::from_vars(vars).unwrap_or_else(|e| panic!("signed config: {e}"));
        Configs { unsigned, signed }
    })
}

/// imgproxy URL parsing and the signature check: the bytes are a request path. Unsigned mode parses
/// it as given; signed mode must refuse it unless its signature is right, and must accept the same
/// path re-signed with the real key exactly when unsigned mode accepted it.
pub fn imgproxy_url(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let cfgs = configs();
    let ctx = RequestContext { accept: "image/webp,image/avif", now_unix: 1_700_000_000 };
    let unsigned = imgproxy::parse_request(&cfgs.unsigned.imgproxy, text, &ctx);
    let _ = imgproxy::parse_request(&cfgs.signed.imgproxy, text, &ctx);
    let Some(tail) = text.strip_prefix('/').and_then(|rest| rest.split_once('/')).map(|(_, tail)| tail) else {
        return;
    };
    let Some(pair) = cfgs.signed.imgproxy.signing.first() else { return };
    let signed_path = format!("/{tail}");
    let signature = imgproxy::sign_path(pair, &signed_path, cfgs.signed.imgproxy.signature_size);
    let resigned = imgproxy::parse_request(&cfgs.signed.imgproxy, &format!("/{signature}{signed_path}"), &ctx);
    // Same options, right signature: the outcome must not depend on signing. Except that a plain
    // source with a collapsed scheme (`http:/host`) is repaired before verifying, as imgproxy does, so
    // its signature is over the repaired form; those paths are skipped (found by this target).
    if !collapsed_plain_scheme(&signed_path) {
        assert_eq!(unsigned.is_ok(), resigned.is_ok(), "signed and unsigned disagree on {text:?}");
    }
}

/// Whether the part after `/plain/` holds a `scheme:/` not followed by a second `/`.
fn collapsed_plain_scheme(path: &str) -> bool {
    path.split_once("/plain/").is_some_and(|(_, tail)| tail.replace("://", "").contains(":/"))
}

/// Misskey path + query parsing and plan compilation: the bytes are `path?query`.
pub fn misskey_query(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (path, query) = match text.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (text, None),
    };
    let _ = misskey::is_misskey_path(path, query);
    if let Ok(request) = misskey::parse_request(path, query) {
        assert!(matches!(request.url.scheme(), "http" | "https"), "non-HTTP scheme accepted: {text:?}");
        let plan = misskey::compile(&configs().unsigned, &request);
        assert_eq!(plan.source.to_string(), request.url.to_string());
    }
}

/// The header probe: never panics, and what it accepts is consistent with the limits check.
pub fn probe(data: &[u8]) {
    if let Ok(probe) = pipeline::probe(data) {
        let _ = pipeline::check_limits(&probe, &FUZZ_LIMITS);
    }
}

/// The whole pipeline with small limits: the first byte picks the output format and resize, the rest is
/// the source image (every decoder is reached through its magic number). An accepted result must be
/// within the limits.
pub fn pipeline_run(data: &[u8]) {
    let Some((&selector, image)) = data.split_first() else { return };
    let plan = pipeline_plan(selector);
    let deadline = Instant::now() + Duration::from_secs(5);
    if let Ok(out) = pipeline::run(&plan, image, deadline) {
        let passthrough = out.bytes.len() == image.len() && out.bytes == image;
        if !passthrough {
            assert!(out.width <= 1024 && out.height <= 1024, "result {}x{} over the limit", out.width, out.height);
        }
    }
}

/// The plan for [`pipeline_run`], parsed from an imgproxy URL like a real request: bits 0–2 pick the
/// output format, bits 3–4 the resize type, bit 5 keeps animation. AVIF output is left out: encoding
/// is not a parser of untrusted bytes and would slow every run down tenfold.
pub fn pipeline_plan(selector: u8) -> Plan {
    const FORMATS: [&str; 8] = ["", "@jpg", "@png", "@webp", "@gif", "@webp", "@png", "@jpg"];
    const RESIZES: [&str; 4] = ["fit", "fill", "fill-down", "force"];
    let format = FORMATS.get(usize::from(selector & 7)).copied().unwrap_or_default();
    let resize = RESIZES.get(usize::from((selector >> 3) & 3)).copied().unwrap_or("fit");
    let path = format!("/_/rs:{resize}:64:48/plain/http://fuzz.invalid/source{format}");
    let ctx = RequestContext { accept: "", now_unix: 0 };
    let mut plan = imgproxy::parse_request(&configs().unsigned.imgproxy, &path, &ctx)
        .unwrap_or_else(|e| panic!("fixed fuzz plan {path}: {e}"));
    plan.output.keep_animation = selector & 0x20 != 0;
    plan.limits = FUZZ_LIMITS;
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Inputs the fuzz targets found or that exercise their invariants, replayed on every test run.
    #[test]
    fn regression_inputs_replay_without_panicking() {
        // imgproxy_url, run 1: a collapsed `http:/` after `/plain/` is repaired before the signature
        // check, so the harness' signed-vs-unsigned invariant was wrong for it (harness fix).
        let collapsed = b"/insecure/plain/http:/in/http:///example.\0\0\0\0\0\0\0\0\0\0\0\0\0\0ws\0\0\0\0\0\0\0\0\0\0\0\0\0\0com/a.jpg";
        type Row<'a> = (&'a str, fn(&[u8]), &'a [u8]);
        let rows: &[Row] = &[
            ("collapsed plain scheme", imgproxy_url, collapsed),
            ("signed plain url", imgproxy_url, b"/x/rs:fit:10:10/plain/http://example.com/a.png@webp"),
            ("base64 source", imgproxy_url, b"/x/w:10/aHR0cDovL2V4YW1wbGUuY29tL2EucG5n.png"),
            ("empty", imgproxy_url, b""),
            ("misskey query", misskey_query, b"/proxy/a.webp?url=http%3A%2F%2Fexample.com%2Fa.png&emoji=1"),
            ("misskey path form", misskey_query, b"/example.com%2Fa.png"),
            ("probe empty", probe, b""),
            ("pipeline selector only", pipeline_run, b"\x03"),
        ];
        for (name, target, input) in rows {
            let outcome = std::panic::catch_unwind(|| target(input));
            assert!(outcome.is_ok(), "{name} panicked");
        }
    }

    #[test]
    fn collapsed_plain_scheme_is_recognised() {
        let rows = [
            ("collapsed http", "/rs:fit:1:1/plain/http:/example.com/a.png", true),
            ("collapsed local", "/plain/local:/a.png", true),
            ("intact http", "/plain/http://example.com/a.png", false),
            ("base64 source", "/w:1/aHR0cDovL2E.png", false),
            ("intact then collapsed", "/plain/http://a/http:/b", true),
        ];
        for (name, path, want) in rows {
            assert_eq!(collapsed_plain_scheme(path), want, "{name}");
        }
    }

    #[test]
    fn pipeline_plans_cover_every_selector_with_the_fuzz_limits() {
        for selector in 0..=u8::MAX {
            let plan = pipeline_plan(selector);
            assert_eq!(plan.limits, FUZZ_LIMITS);
            assert_eq!(plan.output.keep_animation, selector & 0x20 != 0);
        }
    }

    /// The ICO finding (a PNG bomb behind a small icon directory entry) through the pipeline target.
    #[test]
    fn icon_wrapping_a_png_bomb_is_refused_by_the_pipeline() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        png.extend_from_slice(&30_000u32.to_be_bytes());
        png.extend_from_slice(&30_000u32.to_be_bytes());
        png.extend_from_slice(&[8, 6, 0, 0, 0, 0, 0, 0, 0]);
        let mut icon = vec![0, 0, 1, 0, 1, 0, 1, 1, 0, 0, 1, 0, 32, 0];
        icon.extend_from_slice(&(png.len() as u32).to_le_bytes());
        icon.extend_from_slice(&22u32.to_le_bytes());
        icon.extend_from_slice(&png);
        let plan = pipeline_plan(0x40); // raw-ish: source format kept when allowed
        let got = pipeline::run(&plan, &icon, Instant::now() + Duration::from_secs(5));
        assert!(matches!(got, Err(pipeline::PipelineError::ResolutionTooBig(_))), "{got:?}");
    }
}
