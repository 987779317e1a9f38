//! [`decide`] on real corpus headers: stream exactly when the pipeline would pass the bytes through and
//! the header alone proves it.

use super::*;
use crate::pipeline::test_util::corpus;
use crate::plan::{Limits, OutputRules};

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

/// Name, rules, corpus file, bytes of its head read, whether it streams.
type Row = (&'static str, OutputRules, &'static str, usize, bool);

#[test]
fn streams_only_what_the_header_proves_is_passed_through() {
    use ImageFormat::*;
    let dune = "photos/mate-Dune.jpg";
    #[rustfmt::skip]
    let rows: [Row; 10] = [
        ("raw JPEG streams", raw(), dune, PROBE_LEN, true),
        ("raw PNG streams", raw(), "formats/ukui-city.png", 4096, true),
        ("raw BMP streams", raw(), "formats/hopper.bmp", 4096, true),
        ("an APNG whose acTL was read streams", raw(), "formats/iss634.apng", PROBE_LEN, true),
        ("skip_processing of the source format streams", skip(&[Jpeg], None), dune, PROBE_LEN, true),
        ("skip_processing with that format asked streams", skip(&[Jpeg], Some(Jpeg)), dune, PROBE_LEN, true),
        ("skip_processing of another format is processed", skip(&[Png], None), dune, PROBE_LEN, false),
        ("skip_processing but another format asked is processed", skip(&[Jpeg], Some(Webp)), dune, PROBE_LEN, false),
        ("no pass-through rule is processed", OutputRules::default(), dune, PROBE_LEN, false),
        ("a GIF's frame count is at its end: buffered", raw(), "formats/iss634.gif", 4096, false),
    ];
    for (name, rules, file, len, streams) in rows {
        let decided =
            decide(&plan(rules, Limits::default()), &head(file, len)).unwrap_or_else(|e| panic!("{name}: {e}"));
        // What the head proved must be what the whole file says (size and frame count alike).
        let whole = pipeline::probe(&corpus(file)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(decided, streams.then_some(whole), "{name}");
    }
}

#[test]
fn inconclusive_headers_are_buffered_not_guessed() {
    let rows = [
        ("SVG is always rasterised", head("formats/gnome-dune.svg", 4096)),
        ("a JPEG cut before its frame header", head("photos/mate-Dune.jpg", 20)),
        ("not an image at all", b"%PDF-1.7 not an image".to_vec()),
        ("nothing read yet", Vec::new()),
        ("an APNG cut before its first IDAT (frame count unknown)", head("formats/iss634.apng", 40)),
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
