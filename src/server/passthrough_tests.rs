//! [`decide`] on real corpus headers: stream exactly when the pipeline would pass the bytes through and
//! the header alone proves it.

use super::*;
use crate::plan::{Limits, OutputRules};

fn corpus(path: &str) -> Vec<u8> {
    let full = format!("{}/../shared/corpus/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

fn plan(output: OutputRules, limits: Limits) -> Plan {
    let url = Url::parse("http://127.0.0.1/a").unwrap_or_else(|e| panic!("{e}"));
    Plan { source: SourceRef::Http(url), process: Default::default(), output, limits, response: Default::default() }
}

fn raw() -> OutputRules {
    OutputRules { raw: true, ..OutputRules::default() }
}

fn skip(formats: &[ImageFormat], format: Option<ImageFormat>) -> OutputRules {
    OutputRules { skip_processing: formats.to_vec(), format, ..OutputRules::default() }
}

/// The first `len` bytes of a corpus file (the whole file when shorter).
fn head(path: &str, len: usize) -> Vec<u8> {
    let mut bytes = corpus(path);
    bytes.truncate(len);
    bytes
}

/// Name, rules, header bytes, expected (format, width, height) when streamed.
type Row = (&'static str, OutputRules, Vec<u8>, Option<(ImageFormat, u32, u32)>);

#[test]
fn streams_only_what_the_header_proves_is_passed_through() {
    use ImageFormat::*;
    let jpeg = head("photos/mate-Dune.jpg", PROBE_LEN);
    #[rustfmt::skip]
    let rows: [Row; 9] = [
        ("raw JPEG streams", raw(), jpeg.clone(), Some((Jpeg, 1680, 1050))),
        ("raw PNG streams", raw(), head("formats/ukui-city.png", 4096), Some((Png, 0, 0))),
        ("raw BMP streams", raw(), head("formats/hopper.bmp", 4096), Some((Bmp, 128, 128))),
        ("skip_processing of the source format streams", skip(&[Jpeg], None), jpeg.clone(), Some((Jpeg, 1680, 1050))),
        ("skip_processing with that format asked streams", skip(&[Jpeg], Some(Jpeg)), jpeg.clone(), Some((Jpeg, 1680, 1050))),
        ("skip_processing of another format is processed", skip(&[Png], None), jpeg.clone(), None),
        ("skip_processing but another format asked is processed", skip(&[Jpeg], Some(Webp)), jpeg.clone(), None),
        ("no pass-through rule is processed", OutputRules::default(), jpeg, None),
        ("a GIF's frame count is at its end: buffered", raw(), head("formats/iss634.gif", 4096), None),
    ];
    for (name, rules, bytes, expected) in rows {
        let decided = decide(&plan(rules, Limits::default()), &bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let got = decided.map(|p| (p.format, p.width, p.height));
        match (got, expected) {
            // PNG sizes are checked against the full file's probe rather than written down twice.
            (Some((Png, w, h)), Some((Png, 0, 0))) => {
                let full = pipeline::probe(&corpus("formats/ukui-city.png")).unwrap_or_else(|e| panic!("{e}"));
                assert_eq!((w, h), (full.width, full.height), "{name}");
            }
            (got, expected) => assert_eq!(got, expected, "{name}"),
        }
    }
}

#[test]
fn inconclusive_headers_are_buffered_not_guessed() {
    let rows = [
        ("SVG is always rasterised", head("formats/gnome-dune.svg", 4096)),
        ("a JPEG cut before its frame header", head("photos/mate-Dune.jpg", 20)),
        ("not an image at all", b"%PDF-1.7 not an image".to_vec()),
        ("nothing read yet", Vec::new()),
    ];
    for (name, bytes) in rows {
        let decided = decide(&plan(raw(), Limits::default()), &bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(decided, None, "{name}");
    }
}

#[test]
fn a_source_over_the_limits_is_refused_before_streaming() {
    let limits = Limits { max_src_resolution: 1000, ..Limits::default() };
    let refused = decide(&plan(raw(), limits), &head("photos/mate-Dune.jpg", PROBE_LEN));
    assert!(
        matches!(refused, Err(Failure::Pipeline(pipeline::PipelineError::ResolutionTooBig(_)))),
        "{:?}",
        refused.err()
    );
}
