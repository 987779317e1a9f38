//! lambda-media-proxy: an image and media proxy that speaks imgproxy's URL dialect and Misskey's
//! media-proxy dialect, runs as a plain HTTP server or an AWS Lambda function, and turns every request
//! into one dialect-neutral [`plan::Plan`] before touching the network or pixels.
//!
//! Data flows one way (DESIGN.md): `server` → dialect (`imgproxy`) → `plan` → `source` → `pipeline`
//! → `response`.

pub mod config;
pub mod configured_image;
pub mod fallback;
#[doc(hidden)]
pub mod fuzzing;
pub mod imgproxy;
pub mod memory_budget;
pub mod metrics;
pub mod misskey;
pub mod pipeline;
pub mod plan;
pub mod response;
pub mod result_store;
pub mod server;
pub mod source;
pub mod telemetry;
pub mod watermark_source;
pub mod workers;

/// Image work allocates and frees multi-megabyte buffers per request. glibc's malloc serves those with
/// fresh `mmap`s, so every request page-faults its buffers in again and returns them to the kernel; mimalloc
/// keeps freed segments for reuse (and still returns idle memory to the OS), which is both faster and
/// flatter in RSS under load. Declared in the library so the binary, tests and benchmarks all measure the
/// same allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
