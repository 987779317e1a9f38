//! Runs the unit tests of `benches/report.rs`, the pure half of the ours-vs-libvips benchmark (JSON
//! lines, lossless-reference scores, tables): bench targets run without the test harness, so the file is
//! included here.

#[path = "../benches/report.rs"]
mod report;
