//! lambda-media-proxy: an image and media proxy that speaks imgproxy's URL dialect and Misskey's
//! media-proxy dialect, runs as a plain HTTP server or an AWS Lambda function, and turns every request
//! into one dialect-neutral [`plan::Plan`] before touching the network or pixels.
//!
//! Data flows one way (DESIGN.md): `server` → dialect (`imgproxy`) → `plan` → `source` → `pipeline`
//! → `response`.

pub mod config;
pub mod imgproxy;
pub mod pipeline;
pub mod plan;
pub mod response;
pub mod server;
pub mod source;
pub mod telemetry;
pub mod workers;
