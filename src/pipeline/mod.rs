//! The image pipeline: probe → decode (with shrink-on-load) → transform → encode.
//!
//! Synchronous CPU code only; its one way in is [`run`], called on the bounded worker pool. Steps run in
//! SPEC §2's order with a deadline check between them. Geometry is pure arithmetic in `geometry.rs`.

pub mod error;

pub use error::PipelineError;

use std::time::Instant;

use crate::plan::{ImageFormat, Plan};

/// What the header probe learned, before any pixel is decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Probe {
    /// Format from magic numbers.
    pub format: ImageFormat,
    /// Width as stored (before EXIF rotation).
    pub width: u32,
    /// Height as stored (before EXIF rotation).
    pub height: u32,
    /// Number of frames (1 for still images).
    pub frames: u32,
}

/// A finished image.
#[derive(Clone, Debug)]
pub struct Output {
    /// Encoded bytes.
    pub bytes: Vec<u8>,
    /// Their format.
    pub format: ImageFormat,
    /// Result width.
    pub width: u32,
    /// Result height.
    pub height: u32,
    /// What the source was.
    pub source: Probe,
}

/// Reads format, size and frame count from the header only.
pub fn probe(input: &[u8]) -> Result<Probe, PipelineError> {
    let _ = input;
    todo!("pipeline helper")
}

/// Runs the whole pipeline for `plan` on the source bytes, checking `deadline` between steps.
pub fn run(plan: &Plan, input: &[u8], deadline: Instant) -> Result<Output, PipelineError> {
    let _ = (plan, input, deadline);
    todo!("pipeline helper")
}
